"""Parameter table -> LISREL matrices, and the model-implied moments.

Every parameter-table row is mapped to one cell of one matrix (``mat, row, col``), as
lavaan's LISREL representation does:

* ``lambda`` (p x m) factor loadings, ``theta`` (p x p) residual covariances of the
  observed variables, ``psi`` (m x m) (residual) covariances of the latent variables,
  ``beta`` (m x m) regressions among latent variables, ``nu`` (p) observed intercepts and
  ``alpha`` (m) latent intercepts.

Rows of ordered items that no LISREL matrix holds are tagged too, and :func:`fill_matrices`
skips them: thresholds ``x | t2`` as ``tau`` (row: the item, col: the threshold's index) and
scales ``x ~*~ x`` as ``delta`` (:mod:`bayes_bmi.ml.ordinal` reads them).

Observed variables that take part in regressions (or covary with a variable that does)
are carried as "dummy" latent variables with a unit loading and no residual, so that a
regression of one observed variable on another lives in ``beta`` and its (residual)
variance in ``psi``. The implied moments are

``Sigma = Lambda (I - B)^-1 Psi (I - B)^-T Lambda' + Theta`` and
``mu = nu + Lambda (I - B)^-1 alpha``.

:func:`implied_moments` is the one numpy implementation shared by the ML fit and used as
the reference for the PyMC twin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_bmi.lavaan.partable import ModelSpecError, partable_names

__all__ = [
    "FreeMap",
    "Matrices",
    "Representation",
    "fill_matrices",
    "free_map",
    "implied_derivatives",
    "implied_moments",
    "represent",
]

MATRIX_NAMES = ("lambda", "theta", "psi", "beta", "nu", "alpha")
SYMMETRIC = ("theta", "psi")


@dataclass(frozen=True)
class Representation:
    """Where each parameter-table row lives in the LISREL matrices.

    Attributes
    ----------
    ov_names : tuple of str
        Observed variables, the row order of ``lambda`` and of the implied moments.
    eta_names : tuple of str
        Latent variables followed by dummy latent variables (observed variables in
        regressions).
    dummy : tuple of str
        Observed variables carried as dummy latent variables.
    lv_names : tuple of str
        The genuine latent variables (a prefix of ``eta_names``).
    meanstructure : bool
        Whether means are modelled.
    mat : tuple of str
        Per parameter-table row: the matrix name, or ``""`` for ``:=`` rows.
    row, col : numpy.ndarray
        Per parameter-table row: the cell (0-based); -1 for ``:=`` rows.
    """

    ov_names: tuple[str, ...]
    eta_names: tuple[str, ...]
    dummy: tuple[str, ...]
    lv_names: tuple[str, ...]
    meanstructure: bool
    mat: tuple[str, ...]
    row: np.ndarray
    col: np.ndarray

    @property
    def p(self) -> int:
        """Number of observed variables."""
        return len(self.ov_names)

    @property
    def m(self) -> int:
        """Number of latent variables, dummies included."""
        return len(self.eta_names)

    def shape(self, mat: str) -> tuple[int, ...]:
        """Shape of one of the matrices."""
        p, m = self.p, self.m
        return {
            "lambda": (p, m),
            "theta": (p, p),
            "psi": (m, m),
            "beta": (m, m),
            "nu": (p,),
            "alpha": (m,),
        }[mat]

    def lambda_constant(self) -> np.ndarray:
        """Constant part of ``lambda``: the unit loadings of the dummy latent variables."""
        lam = np.zeros((self.p, self.m))
        for name in self.dummy:
            lam[self.ov_names.index(name), self.eta_names.index(name)] = 1.0
        return lam


@dataclass(frozen=True)
class Matrices:
    """The LISREL matrices at one parameter value."""

    lambda_: np.ndarray
    theta: np.ndarray
    psi: np.ndarray
    beta: np.ndarray
    nu: np.ndarray
    alpha: np.ndarray

    def a_inv(self) -> np.ndarray:
        """``(I - B)^-1`` (batched over leading dimensions)."""
        m = self.beta.shape[-1]
        return np.linalg.inv(np.eye(m) - self.beta)

    def eta_cov(self) -> np.ndarray:
        """Model-implied covariance matrix of the latent variables (dummies included)."""
        a = self.a_inv()
        return a @ self.psi @ np.swapaxes(a, -1, -2)

    def eta_mean(self) -> np.ndarray:
        """Model-implied means of the latent variables."""
        return np.einsum("...ij,...j->...i", self.a_inv(), self.alpha)


def represent(pt: pd.DataFrame, *, meanstructure: bool) -> Representation:
    """Map a parameter table to matrix cells.

    Parameters
    ----------
    pt : pandas.DataFrame
        Output of :func:`bayes_bmi.lavaan.partable.build_partable`.
    meanstructure : bool
        Whether the means are modelled (``ModelOptions.meanstructure``, resolved).

    Returns
    -------
    Representation
    """
    names = partable_names(pt)
    lv = list(names.lv)
    ov = list(names.ov)
    model = pt[pt["op"] != ":="]
    eqs = set(model.loc[model["op"] == "~", "lhs"]) | set(model.loc[model["op"] == "~", "rhs"])
    dummy = {v for v in ov if v in eqs}
    in_eta = set(lv) | dummy
    cov_rows = model[model["op"] == "~~"]
    changed = True
    while changed:
        changed = False
        for a, b in zip(cov_rows["lhs"], cov_rows["rhs"], strict=True):
            for u, w in ((a, b), (b, a)):
                if u in in_eta and w not in in_eta:
                    dummy.add(w)
                    in_eta.add(w)
                    changed = True
    dummy_t = tuple(v for v in ov if v in dummy)
    eta = tuple(lv) + dummy_t
    oi = {v: i for i, v in enumerate(ov)}
    ei = {v: i for i, v in enumerate(eta)}

    mats, rows, cols = [], [], []
    for lhs, op, rhs in zip(pt["lhs"], pt["op"], pt["rhs"], strict=True):
        if op == ":=":
            mats.append("")
            rows.append(-1)
            cols.append(-1)
        elif op == "=~":
            if rhs in ei:
                mats.append("beta")
                rows.append(ei[rhs])
            else:
                mats.append("lambda")
                rows.append(oi[rhs])
            cols.append(ei[lhs])
        elif op == "~":
            if lhs not in ei or rhs not in ei:  # pragma: no cover - guarded by dummy rule
                raise ModelSpecError(f"cannot represent regression {lhs} ~ {rhs}")
            mats.append("beta")
            rows.append(ei[lhs])
            cols.append(ei[rhs])
        elif op == "~~":
            if lhs in ei:
                mats.append("psi")
                rows.append(ei[lhs])
                cols.append(ei[rhs])
            else:
                mats.append("theta")
                rows.append(oi[lhs])
                cols.append(oi[rhs])
        elif op == "|":  # thresholds of ordered items: no LISREL matrix (``tau``, item, index)
            mats.append("tau")
            rows.append(oi[lhs])
            cols.append(int(rhs[1:]) - 1)
        elif op == "~*~":  # scale of an ordered item's latent response (``delta``)
            mats.append("delta")
            rows.append(oi[lhs])
            cols.append(0)
        elif op == "~1":
            if lhs in ei:
                mats.append("alpha")
                rows.append(ei[lhs])
            else:
                mats.append("nu")
                rows.append(oi[lhs])
            cols.append(0)
        else:  # pragma: no cover - the table builder refuses other operators
            raise ModelSpecError(f"operator {op!r} has no matrix representation")
    return Representation(
        ov_names=tuple(ov),
        eta_names=eta,
        dummy=dummy_t,
        lv_names=tuple(lv),
        meanstructure=bool(meanstructure),
        mat=tuple(mats),
        row=np.asarray(rows, dtype=int),
        col=np.asarray(cols, dtype=int),
    )


@dataclass(frozen=True, eq=False)
class FreeMap:
    """How the free-parameter vector fills the parameter table (one map for ML and Bayes).

    Attributes
    ----------
    rows : numpy.ndarray
        Parameter-table rows that are free.
    k : numpy.ndarray
        For each of ``rows``, its 0-based index in the free vector (rows sharing a label
        share an index: an equality constraint).
    nparam : int
        Length of the free vector.
    entries : tuple of numpy.ndarray
        ``(k, mat, row, col)`` of each free row, for :func:`implied_derivatives`.
    """

    rows: np.ndarray
    k: np.ndarray
    nparam: int
    entries: tuple[np.ndarray, ...]

    def expand(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Per-row values: ``base`` with the free rows set from ``x``."""
        values = base.copy()
        values[self.rows] = x[self.k]
        return values

    def compress(self, values: np.ndarray) -> np.ndarray:
        """Free vector from per-row values (the first row of each free index)."""
        x = np.empty(self.nparam)
        x[self.k[::-1]] = values[self.rows[::-1]]
        return x

    def first_rows(self) -> np.ndarray:
        """For each free parameter, the first parameter-table row that holds it."""
        first = np.empty(self.nparam, dtype=int)
        first[self.k[::-1]] = self.rows[::-1]
        return first


def free_map(pt: pd.DataFrame, rep: Representation) -> FreeMap:
    """Build the :class:`FreeMap` of a parameter table (``Model.free`` holds it)."""
    free = pt["free"].to_numpy()
    rows = np.flatnonzero(free > 0)
    k = free[rows] - 1
    mat = np.asarray(rep.mat, dtype=object)[rows].astype(str)
    return FreeMap(
        rows=rows,
        k=k,
        nparam=int(free.max()) if rows.size else 0,
        entries=(k, mat, rep.row[rows], rep.col[rows]),
    )


def fill_matrices(rep: Representation, values: np.ndarray) -> Matrices:
    """Fill the matrices from one value per parameter-table row.

    Parameters
    ----------
    rep : Representation
    values : numpy.ndarray, shape (nrow,) or (..., nrow)
        One value per parameter-table row (``:=`` rows are ignored); leading dimensions (for
        example chain and draw) give batches of matrices.

    Returns
    -------
    Matrices
        Arrays of shape ``(..., rows, cols)``.
    """
    values = np.asarray(values, dtype=float)
    lead = values.shape[:-1]
    out = {name: np.zeros((*lead, *rep.shape(name))) for name in MATRIX_NAMES}
    out["lambda"] += rep.lambda_constant()
    mat = np.asarray(rep.mat)
    for name in MATRIX_NAMES:
        idx = np.flatnonzero(mat == name)
        if idx.size == 0:
            continue
        r, c, v = rep.row[idx], rep.col[idx], values[..., idx]
        if name in ("nu", "alpha"):
            out[name][..., r] = v
        else:
            out[name][..., r, c] = v
            if name in SYMMETRIC:
                out[name][..., c, r] = v
    return Matrices(
        lambda_=out["lambda"],
        theta=out["theta"],
        psi=out["psi"],
        beta=out["beta"],
        nu=out["nu"],
        alpha=out["alpha"],
    )


def implied_moments(mats: Matrices) -> tuple[np.ndarray, np.ndarray]:
    """Model-implied covariance matrix and mean vector of the observed variables.

    Parameters
    ----------
    mats : Matrices
        One set of matrices, or a batch (leading dimensions).

    Returns
    -------
    sigma : numpy.ndarray
        ``Lambda (I-B)^-1 Psi (I-B)^-T Lambda' + Theta``.
    mu : numpy.ndarray
        ``nu + Lambda (I-B)^-1 alpha``.
    """
    a = mats.a_inv()
    g = mats.lambda_ @ a
    sigma = g @ mats.psi @ np.swapaxes(g, -1, -2) + mats.theta
    sigma = 0.5 * (sigma + np.swapaxes(sigma, -1, -2))
    mu = mats.nu + np.einsum("...ij,...j->...i", g, mats.alpha)
    return sigma, mu


def implied_derivatives(
    rep: Representation, mats: Matrices, entries: tuple[np.ndarray, ...], nparam: int
) -> tuple[np.ndarray, np.ndarray]:
    """Jacobian of the implied moments with respect to the free parameters.

    Parameters
    ----------
    rep : Representation
    mats : Matrices
        Matrices at the current parameter value.
    entries : tuple of arrays ``(k, mat, row, col)``
        For every free parameter-table row: its free-parameter index ``k`` (0-based), matrix
        name, row and column. Rows sharing ``k`` (equality constraints) add up.
    nparam : int
        Number of free parameters.

    Returns
    -------
    dsigma : numpy.ndarray, shape (nparam, p, p)
    dmu : numpy.ndarray, shape (nparam, p)
    """
    k_all, mat_all, r_all, c_all = entries
    p = rep.p
    a = mats.a_inv()
    g = mats.lambda_ @ a  # p x m
    veta = a @ mats.psi @ a.T
    h = mats.lambda_ @ veta  # p x m
    ealpha = a @ mats.alpha
    dsigma = np.zeros((nparam, p, p))
    dmu = np.zeros((nparam, p))
    eye = np.eye(p)
    for name in MATRIX_NAMES:
        sel = mat_all == name
        if not np.any(sel):
            continue
        k, r, c = k_all[sel], r_all[sel], c_all[sel]
        if name == "lambda":
            # d Sigma = e_r h_c' + h_c e_r' ; d mu = e_r * ealpha_c
            half = eye[r][:, :, None] * h[:, c].T[:, None, :]
            np.add.at(dsigma, k, half + half.transpose(0, 2, 1))
            np.add.at(dmu, k, eye[r] * ealpha[c][:, None])
        elif name == "beta":
            half = g[:, r].T[:, :, None] * h[:, c].T[:, None, :]
            np.add.at(dsigma, k, half + half.transpose(0, 2, 1))
            np.add.at(dmu, k, g[:, r].T * ealpha[c][:, None])
        elif name == "psi":
            half = g[:, r].T[:, :, None] * g[:, c].T[:, None, :]
            offdiag = (r != c)[:, None, None]
            np.add.at(dsigma, k, half + np.where(offdiag, half.transpose(0, 2, 1), 0.0))
        elif name == "theta":
            d = np.zeros((k.size, p, p))
            d[np.arange(k.size), r, c] = 1.0
            d[np.arange(k.size), c, r] = 1.0
            np.add.at(dsigma, k, d)
        elif name == "nu":
            np.add.at(dmu, k, eye[r])
        elif name == "alpha":
            np.add.at(dmu, k, g[:, r].T)
    return dsigma, dmu
