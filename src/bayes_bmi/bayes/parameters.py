"""The free-parameter vector of the Bayesian model and its transforms (pure numpy).

The sampler works on one unconstrained vector ``z`` with one element per free parameter
(rows sharing a label share an element). Each element has a transform:

* ``real`` (loadings, regressions, intercepts): the value is ``z``;
* ``var`` ((residual) variances): ``sd = exp(z)``, the value is ``sd**2``;
* ``corr`` ((residual) covariances): ``r = tanh(z)`` and the value is
  ``r * sqrt(var_lhs * var_rhs)``, the variances being those of the same draw (free or fixed).

A covariance shared by several rows through a label is sampled as a ``real`` covariance.
:class:`ParamSpec` is built from the model's :class:`~bayes_bmi.lavaan.representation.FreeMap`
(the map the ML fit uses) and keeps it as ``free``.
The prior is put on ``z``'s natural scale (sd or variance, ``(r + 1) / 2`` for ``beta``) and
the log-Jacobian of the transform is added (see :mod:`bayes_bmi.bayes.likelihood`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_bmi.bayes.priors import (
    DEFAULT_PRIORS,
    Prior,
    PriorError,
    check_prior_fits,
    parse_prior,
)
from bayes_bmi.data import SampleStats
from bayes_bmi.lavaan.model import Model
from bayes_bmi.lavaan.partable import row_name
from bayes_bmi.lavaan.representation import FreeMap
from bayes_bmi.lavaan.start import fixed_values

__all__ = ["ParamSpec", "param_spec", "rows_from_z", "z_from_rows", "natural_from_z"]

TRANSFORM_CODES = {"real": 0, "var": 1, "corr": 2}


@dataclass(frozen=True, eq=False)
class ParamSpec:
    """Everything the Bayesian engine needs to know about the free parameters.

    Attributes
    ----------
    names : tuple of str
        One name per free parameter: its label, or ``lhs op rhs`` without blanks.
    kinds : tuple of str
        Prior kind of each parameter (``nu, alpha, lambda, beta, theta, psi, rho``).
    transforms : tuple of str
        ``real``, ``var`` or ``corr``.
    priors : tuple of Prior
    free_rows, free_k : numpy.ndarray
        Parameter-table rows whose value is a ``real`` or ``var`` parameter, and which one.
    corr_rows, corr_k, corr_var_lhs, corr_var_rhs : numpy.ndarray
        Rows holding a ``corr`` covariance, its parameter, and the rows of the two variances.
    free : FreeMap
        The model's free-parameter map (``Model.free``): every free row and its parameter,
        whatever the transform; ``free_rows``/``free_k`` and ``corr_rows``/``corr_k`` split it.
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    transforms: tuple[str, ...]
    priors: tuple[Prior, ...]
    free_rows: np.ndarray
    free_k: np.ndarray
    corr_rows: np.ndarray
    corr_k: np.ndarray
    corr_var_lhs: np.ndarray
    corr_var_rhs: np.ndarray
    free: FreeMap

    @property
    def size(self) -> int:
        """Number of free parameters."""
        return self.free.nparam

    @property
    def transform_codes(self) -> np.ndarray:
        """Transforms as integer codes (``real`` 0, ``var`` 1, ``corr`` 2)."""
        return np.array([TRANSFORM_CODES[t] for t in self.transforms], dtype=int)

    def prior_arrays(self) -> dict[str, np.ndarray]:
        """The priors as data arrays: family code, three numbers, on-variance flag."""
        pad = np.array([p.padded() for p in self.priors], dtype=float).reshape(-1, 3)
        return {
            "prior_family": np.array([p.code for p in self.priors], dtype=float),
            "prior_a": pad[:, 0],
            "prior_b": pad[:, 1],
            "prior_c": pad[:, 2],
            "prior_on_var": np.array([p.on == "var" for p in self.priors], dtype=float),
        }

    def structure_key(self) -> tuple:
        """Hashable description of the structure (what a compiled model depends on)."""
        return (
            self.transforms,
            tuple(self.free_rows),
            tuple(self.free_k),
            tuple(self.corr_rows),
            tuple(self.corr_k),
            tuple(self.corr_var_lhs),
            tuple(self.corr_var_rhs),
        )


def _kind(pt: pd.DataFrame, i: int, lv: set[str]) -> str:
    lhs, op, rhs = pt["lhs"].iat[i], pt["op"].iat[i], pt["rhs"].iat[i]
    if op == "=~":
        return "lambda"
    if op == "~":
        return "beta"
    if op == "~1":
        return "alpha" if lhs in lv else "nu"
    if lhs == rhs:
        return "psi" if lhs in lv else "theta"
    return "rho"


def param_spec(model: Model, priors: dict[str, Prior] | None = None) -> ParamSpec:
    """Build the :class:`ParamSpec` of a model.

    Parameters
    ----------
    model : Model
    priors : dict, optional
        Default prior per kind, overriding :data:`DEFAULT_PRIORS` for the kinds given.

    Raises
    ------
    PriorError
        When a ``prior("...")`` modifier cannot be read or does not fit its parameter; the
        message names the model file and line.
    """
    defaults = {**DEFAULT_PRIORS, **(priors or {})}
    pt = model.partable
    fm = model.free
    lv = set(model.representation.lv_names)
    nparam = fm.nparam
    names: list[str] = [""] * nparam
    kinds: list[str] = [""] * nparam
    chosen: list[Prior | None] = [None] * nparam
    counts = np.bincount(fm.k, minlength=nparam)
    where_file = model.filename or "<model>"
    grouped = bool(model.blocks)
    group = pt["group"].to_numpy() if grouped else np.ones(len(pt), dtype=int)
    for i, k in zip(fm.rows, fm.k, strict=True):
        lhs, op, rhs, label = (
            pt["lhs"].iat[i],
            pt["op"].iat[i],
            pt["rhs"].iat[i],
            pt["label"].iat[i],
        )
        if not names[k]:
            names[k] = _param_name(label, row_name(lhs, op, rhs), int(group[i]), grouped)
            kind = _kind(pt, i, lv)
            if kind == "rho" and counts[k] > 1:
                kind = "beta"  # shared covariance: sampled as a real-valued parameter
            kinds[k] = kind
        text = pt["prior"].iat[i]
        if text:
            where = f"{where_file}:{pt['line'].iat[i]}"
            try:
                prior = parse_prior(text)
            except PriorError as exc:
                raise PriorError(f"{where}: {exc}") from None
            check_prior_fits(prior, kinds[k], f"{where}: {names[k]}")
            chosen[k] = prior
    final = tuple(p if p is not None else defaults[kinds[k]] for k, p in enumerate(chosen))
    for k, p in enumerate(final):
        check_prior_fits(p, kinds[k], f"default prior of {names[k]}")
    transforms = tuple(
        "var" if kd in ("theta", "psi") else "corr" if kd == "rho" else "real" for kd in kinds
    )
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise PriorError(f"{where_file}: parameter names are not unique: {dup}")

    # rows filled directly vs covariance rows
    var_row: dict[tuple[int, str], int] = {}  # (group, variable) -> its variance row
    for i in range(len(pt)):
        if pt["op"].iat[i] == "~~" and pt["lhs"].iat[i] == pt["rhs"].iat[i]:
            var_row[(int(group[i]), pt["lhs"].iat[i])] = i
    free_rows, free_k, corr_rows, corr_k, vl, vr = [], [], [], [], [], []
    for i, k in zip(fm.rows, fm.k, strict=True):
        if transforms[k] == "corr":
            corr_rows.append(i)
            corr_k.append(k)
            vl.append(var_row[(int(group[i]), pt["lhs"].iat[i])])
            vr.append(var_row[(int(group[i]), pt["rhs"].iat[i])])
        else:
            free_rows.append(i)
            free_k.append(k)
    as_int = lambda v: np.asarray(v, dtype=int)  # noqa: E731
    return ParamSpec(
        names=tuple(names),
        kinds=tuple(kinds),
        transforms=transforms,
        priors=final,
        free_rows=as_int(free_rows),
        free_k=as_int(free_k),
        corr_rows=as_int(corr_rows),
        corr_k=as_int(corr_k),
        corr_var_lhs=as_int(vl),
        corr_var_rhs=as_int(vr),
        free=fm,
    )


def _param_name(label: str, row: str, group: int, grouped: bool) -> str:
    """A parameter's name: its label, else ``lhs op rhs``; with groups ``.g<g>`` after group 1.

    With groups, lavaan's automatic labels of ``group_equal`` (``.p2.``) give way to the
    name of the parameter's first row (group 1's), which the later groups share.
    """
    if not grouped:
        return label or row
    if label and not (label.startswith(".p") and label.endswith(".")):
        return label
    return row if group <= 1 else f"{row}.g{group}"


def natural_from_z(spec: ParamSpec, z: np.ndarray) -> np.ndarray:
    """Transform ``z`` (``..., nparam``) to sd-free natural values: value, sd**2 or r."""
    codes = spec.transform_codes
    out = np.array(z, dtype=float, copy=True)
    out[..., codes == 1] = np.exp(2.0 * out[..., codes == 1])
    out[..., codes == 2] = np.tanh(out[..., codes == 2])
    return out


def rows_from_z(spec: ParamSpec, z: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Per-row parameter values for draws of ``z``.

    Parameters
    ----------
    spec : ParamSpec
    z : numpy.ndarray, shape (..., nparam)
    base : numpy.ndarray, shape (nrow,)
        Fixed values (see :func:`bayes_bmi.lavaan.start.fixed_values`); free rows are overwritten.

    Returns
    -------
    numpy.ndarray, shape (..., nrow)
    """
    nat = natural_from_z(spec, z)
    lead = nat.shape[:-1]
    rows = np.broadcast_to(base, (*lead, base.size)).copy()
    rows[..., spec.free_rows] = nat[..., spec.free_k]
    if spec.corr_rows.size:
        r = nat[..., spec.corr_k]
        rows[..., spec.corr_rows] = r * np.sqrt(
            rows[..., spec.corr_var_lhs] * rows[..., spec.corr_var_rhs]
        )
    return rows


def z_from_rows(spec: ParamSpec, rows: np.ndarray, clip_r: float = 0.95) -> np.ndarray:
    """Inverse of :func:`rows_from_z` for one point (used for start values).

    Variances that are not positive are set to a small positive value and correlations are
    clipped to ``[-clip_r, clip_r]``, so that an improper ML solution still gives a start.
    """
    z = np.zeros(spec.size)
    codes = spec.transform_codes
    z[spec.free_k] = rows[spec.free_rows]
    var_k = np.flatnonzero(codes == 1)
    for k in var_k:
        i = spec.free_rows[spec.free_k == k][0]
        z[k] = 0.5 * np.log(max(rows[i], 1e-4))
    for j, k in enumerate(spec.corr_k):
        vl, vr = rows[spec.corr_var_lhs[j]], rows[spec.corr_var_rhs[j]]
        denom = np.sqrt(max(vl, 1e-8) * max(vr, 1e-8))
        r = np.clip(rows[spec.corr_rows[j]] / denom, -clip_r, clip_r)
        z[k] = np.arctanh(r)
    return z


def base_values(model: Model, stats: SampleStats) -> np.ndarray:
    """Per-row fixed values (fixed.x rows from the data); free rows hold NaN."""
    return fixed_values(model.partable, model.representation, stats)
