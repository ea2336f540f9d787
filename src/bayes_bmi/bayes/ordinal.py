"""Ordered-category (Likert) items: their data, the theta parameterisation and kernel buffers.

Numpy and pandas only (no numba): what :mod:`bayes_bmi.bayes.ordinal_sampling` needs before
it loads the compiled kernel of :mod:`bayes_bmi.bayes.ordinal_kernel`.

* :func:`ordinal_data`: each item's categories are its sorted distinct integer values, coded
  ``0..K`` (``K`` thresholds); an item with one category or more than :data:`MAX_CATEGORIES`
  is an error that says so; missing cells are coded ``-1`` (the likelihood skips them).
* :func:`theta_model`: the model in the theta parameterisation: the residual variance of every
  ordered item fixed to 1 and its intercept to 0 (the thresholds carry the location, the unit
  residual the scale), the rest as written.
* :func:`pack_ordinal`: the kernel's buffers (the continuous kernel's for the model part,
  then the categories, the data and the thresholds' priors).

Prior on the thresholds: ``normal(0, 1.5)`` on each threshold (blavaan's default ``tau``
prior), on the natural scale of the ordered thresholds, with the log-Jacobian of the ordered
transform (``tau_1 = w_1``, ``tau_c = tau_c-1 + exp(w_c)``) added; i.e. independent normals
restricted to increasing values. ``priors={"tau": Prior("normal", (m, s))}`` changes it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_bmi.bayes.inputs import ModelData
from bayes_bmi.bayes.kernel_data import KernelData, pack
from bayes_bmi.bayes.parameters import ParamSpec
from bayes_bmi.bayes.priors import Prior, PriorError
from bayes_bmi.data import DataError
from bayes_bmi.errors import OptionError
from bayes_bmi.lavaan.model import Model
from bayes_bmi.lavaan.representation import free_map, represent

__all__ = [
    "DEFAULT_TAU_PRIOR",
    "MAX_CATEGORIES",
    "OrdinalData",
    "ordered_names",
    "ordinal_data",
    "ThetaStart",
    "from_sampler",
    "itemless_latents",
    "latent_mode",
    "marginal_order",
    "pack_ordinal",
    "Preconditioner",
    "preconditioner",
    "rescaled_coefficients",
    "sampler_triples",
    "theta_model",
    "theta_from_delta",
    "threshold_names",
    "to_sampler",
    "with_preconditioner",
]

MAX_CATEGORIES = 15
DEFAULT_TAU_PRIOR = Prior("normal", (0.0, 1.5))
#: Shrinkage of the pilot's covariance toward its diagonal (:func:`preconditioner`).
PRECONDITION_SHRINKAGE = 0.1


@dataclass(frozen=True, eq=False)
class OrdinalData:
    """Ordered items coded ``0..K_j``.

    Attributes
    ----------
    names : tuple of str
        The items, in model order.
    categories : tuple of numpy.ndarray
        Each item's categories (its sorted distinct values).
    codes : numpy.ndarray of int64, shape (n, p)
        Category index per cell, ``-1`` where missing.
    case_index : numpy.ndarray
        The data's row labels of the cases used (those with at least one observed item).
    """

    names: tuple[str, ...]
    categories: tuple[np.ndarray, ...]
    codes: np.ndarray
    case_index: np.ndarray

    @property
    def n_thresholds(self) -> np.ndarray:
        """Number of thresholds of each item (categories - 1)."""
        return np.array([c.size - 1 for c in self.categories], dtype=np.int64)

    @property
    def n(self) -> int:
        """Number of cases."""
        return self.codes.shape[0]


def ordered_names(model: Model, ordered: bool | str | list[str] | tuple[str, ...]) -> list[str]:
    """The model's ordered items from ``True`` (all), a name or a list of names.

    Raises
    ------
    OptionError
        A name that is not an observed variable of the model, or none at all.
    """
    ov = list(model.ov_names)
    if ordered is True:
        return ov
    if ordered is False or ordered is None:
        return []
    names = [ordered] if isinstance(ordered, str) else list(ordered)
    unknown = [v for v in names if v not in ov]
    if unknown:
        raise OptionError(
            f"ordered: {', '.join(map(str, unknown))} not observed variable(s) of the model. "
            f"Must be among: {', '.join(ov)}"
        )
    return [v for v in ov if v in names]


def ordinal_data(df: pd.DataFrame, names: list[str] | tuple[str, ...], source: str) -> OrdinalData:
    """Code each item's values as category indices.

    Raises
    ------
    DataError
        A missing column, a value that is not a whole number, an item with a single category
        or more than :data:`MAX_CATEGORIES`, or no case with an observed item.
    """
    missing_cols = [v for v in names if v not in df.columns]
    if missing_cols:
        raise DataError(f"{source}: no column(s) {', '.join(missing_cols)} for the ordered items")
    values = df[list(names)].apply(pd.to_numeric, errors="coerce")
    for v in names:
        bad = df[v].notna() & values[v].isna()
        if bad.any():
            raise DataError(
                f"{source}: ordered item {v} has values that are not numbers "
                f"(e.g. {df[v][bad].iloc[0]!r})"
            )
    keep = values.notna().any(axis=1).to_numpy()
    values = values[keep]
    if values.empty:
        raise DataError(f"{source}: no case has an observed ordered item")
    x = values.to_numpy(dtype=float)
    codes = np.full(x.shape, -1, dtype=np.int64)
    cats = []
    for j, v in enumerate(names):
        col = x[:, j]
        obs = ~np.isnan(col)
        levels = np.unique(col[obs])
        if np.any(levels != np.round(levels)):
            raise DataError(
                f"{source}: ordered item {v} has values that are not whole numbers "
                f"(e.g. {levels[levels != np.round(levels)][0]:g}); categories must be integers"
            )
        if levels.size < 2:
            raise DataError(
                f"{source}: ordered item {v} has a single category ({levels[0]:g}); an item "
                "needs at least two observed categories"
            )
        if levels.size > MAX_CATEGORIES:
            raise DataError(
                f"{source}: ordered item {v} has {levels.size} categories (more than "
                f"{MAX_CATEGORIES}); treat it as continuous"
            )
        codes[obs, j] = np.searchsorted(levels, col[obs])
        cats.append(levels)
    return OrdinalData(tuple(names), tuple(cats), codes, values.index.to_numpy())


def threshold_names(odata: OrdinalData) -> list[tuple[str, str]]:
    """``(item, "t1")``, ``(item, "t2")``, ... for every threshold (lavaan's ``x1 | t1``)."""
    return [
        (v, f"t{c + 1}")
        for v, k in zip(odata.names, odata.n_thresholds, strict=True)
        for c in range(k)
    ]


def _check_structure(model: Model, ordered: list[str]) -> None:
    """Refuse what the kernel cannot fit (with the reason and what to do)."""
    ov = list(model.ov_names)
    rest = [v for v in ov if v not in ordered]
    if rest:
        raise OptionError(
            "the Bayesian ordinal model needs every observed variable ordered for now; "
            f"{', '.join(rest)} would be continuous (mixed models are not supported yet): "
            "use ordered=True"
        )
    rep = model.representation
    if rep.dummy:
        raise OptionError(
            "the Bayesian ordinal model supports ordered items as indicators of latent "
            f"variables only; {', '.join(rep.dummy)} appear(s) in the structural part"
        )
    pt = model.partable
    for lhs, op, rhs in zip(pt["lhs"], pt["op"], pt["rhs"], strict=True):
        if op == "~~" and lhs != rhs and lhs in ov and rhs in ov:
            raise OptionError(
                f"residual covariance {lhs} ~~ {rhs} between ordered items is not supported "
                "by the Bayesian ordinal model (the items are independent given the latent "
                "variables)"
            )


def theta_model(model: Model, ordered: list[str]) -> Model:
    """The model with the theta parameterisation's constraints on the ordered items.

    Each ordered item's residual variance is fixed to 1 and its intercept to 0; the other
    free parameters keep their order (their indices are renumbered). ``model`` must have a
    mean structure. The model's ``text`` is kept as written.

    Raises
    ------
    OptionError
        Mixed (ordered and continuous) items, ordered items in the structural part, or
        residual covariances between ordered items.
    """
    _check_structure(model, ordered)
    pt = model.partable.copy()
    ords = set(ordered)
    lhs, op, rhs = pt["lhs"].to_numpy(), pt["op"].to_numpy(), pt["rhs"].to_numpy()
    free = pt["free"].to_numpy().copy()
    ustart = pt["ustart"].to_numpy(dtype=float).copy()
    for i in range(len(pt)):
        if lhs[i] in ords and ((op[i] == "~~" and rhs[i] == lhs[i]) or op[i] == "~1"):
            free[i] = 0
            ustart[i] = 1.0 if op[i] == "~~" else 0.0
    old = free[free > 0]
    first: dict[int, int] = {}  # renumbered in order of appearance; shared labels stay shared
    for o in old:
        first.setdefault(int(o), len(first) + 1)
    free[free > 0] = [first[int(o)] for o in old]
    pt["free"] = free
    pt["ustart"] = ustart
    rep = represent(pt, meanstructure=True)
    return dataclasses.replace(model, partable=pt, representation=rep, free=free_map(pt, rep))


def _own_log_sd(model: Model, spec: ParamSpec, counts: np.ndarray) -> dict[str, int]:
    """Index in ``z`` of each latent variable's own log-sd (its free (residual) variance)."""
    pt = model.partable
    lhs, op, rhs = pt["lhs"].to_numpy(), pt["op"].to_numpy(), pt["rhs"].to_numpy()
    free = pt["free"].to_numpy()
    out = {}
    for f in model.representation.lv_names:
        var = np.flatnonzero((lhs == f) & (op == "~~") & (rhs == f))
        if var.size != 1 or free[var[0]] == 0:
            continue
        kp = free[var[0]] - 1
        if spec.transforms[kp] == "var" and counts[kp] == 1:
            out[f] = int(kp)
    return out


def sampler_triples(model: Model, spec: ParamSpec, marginal: bool = True) -> np.ndarray:
    """The rescaled coefficients of :func:`latent_mode`'s coordinates.

    Without the sds of higher-order factors when their values are integrated out (mode 2):
    their incoming and outgoing coefficients are then sampled as they are (a higher-order
    factor that the predictors explain well has a small, poorly determined residual sd, and
    coefficients scaled by it made a funnel toward a residual variance of 0 on a
    second-order model with eight predictors).
    """
    skip = itemless_latents(model) if latent_mode(model, marginal) == 2 else []
    return rescaled_coefficients(model, spec, skip)


def rescaled_coefficients(
    model: Model, spec: ParamSpec, skip: list[str] | tuple[str, ...] = ()
) -> np.ndarray:
    """``(coefficient, log-sd of the predictor, log-sd of the outcome)`` indices in ``z``.

    Every free loading and regression coefficient that is its own parameter is sampled on
    the scale of the residual sds it connects: ``b* = b * sd_pred / sd_out`` (see
    :mod:`bayes_bmi.bayes.ordinal_kernel`). ``sd_pred`` is the predictor's (a factor's or a
    latent regressor's) own sd parameter, ``sd_out`` the outcome's residual sd parameter
    (an ordered item's is fixed to 1); ``-1`` where the variable has no such parameter. Rows
    with neither are left out. Loadings come as ``f =~ y`` (predictor ``f``), regressions as
    ``y ~ x`` (predictor ``x``). The sds of the latent variables in ``skip`` are not used.
    """
    pt = model.partable
    lhs, op, rhs = pt["lhs"].to_numpy(), pt["op"].to_numpy(), pt["rhs"].to_numpy()
    free = pt["free"].to_numpy()
    counts = np.bincount(spec.free.k, minlength=spec.size)
    sd = {f: k for f, k in _own_log_sd(model, spec, counts).items() if f not in skip}
    out = []
    for i in range(len(pt)):
        if op[i] not in ("=~", "~") or free[i] == 0:
            continue
        k = free[i] - 1
        if counts[k] != 1 or spec.transforms[k] != "real":
            continue
        pred, outc = (lhs[i], rhs[i]) if op[i] == "=~" else (rhs[i], lhs[i])
        kp, ko = sd.get(pred, -1), sd.get(outc, -1)
        if kp >= 0 or ko >= 0:
            out.append((k, kp, ko))
    return np.asarray(out, dtype=np.int64).reshape(-1, 3)


def to_sampler(z: np.ndarray, triples: np.ndarray) -> np.ndarray:
    """Natural ``z`` (``..., nparam``) to the sampler's coordinates (``b * sd_p / sd_o``)."""
    out = np.array(z, dtype=float, copy=True)
    for k, kp, ko in triples:
        out[..., k] *= np.exp(_log_ratio(z, kp, ko))
    return out


def from_sampler(zs: np.ndarray, triples: np.ndarray) -> np.ndarray:
    """The sampler's coordinates back to natural ``z`` (inverse of :func:`to_sampler`)."""
    out = np.array(zs, dtype=float, copy=True)
    for k, kp, ko in triples:
        out[..., k] *= np.exp(-_log_ratio(zs, kp, ko))
    return out


def _log_ratio(z: np.ndarray, kp: int, ko: int) -> np.ndarray | float:
    """``log(sd_p / sd_o)`` (an index of -1: a fixed unit sd)."""
    return (z[..., kp] if kp >= 0 else 0.0) - (z[..., ko] if ko >= 0 else 0.0)


def tau_prior(priors: dict[str, Prior] | None) -> Prior:
    """The thresholds' prior (``priors["tau"]`` or :data:`DEFAULT_TAU_PRIOR`); normal only."""
    prior = (priors or {}).get("tau", DEFAULT_TAU_PRIOR)
    if prior.family != "normal":
        raise PriorError(f"the thresholds' prior must be normal(mean, sd), not {prior}")
    return prior


def itemless_latents(model: Model) -> list[str]:
    """Latent variables that no observed item loads on (higher-order factors)."""
    pt = model.partable
    ov = set(model.ov_names)
    measured = set(pt.loc[(pt["op"] == "=~") & pt["rhs"].isin(ov), "lhs"])
    return [f for f in model.representation.lv_names if f not in measured]


def latent_mode(model: Model, marginal: bool = True) -> int:
    """How the kernel samples the latent values (its flag).

    ``2``: non-centred through the Cholesky factor of
    ``Cov(eta)`` with the latent variables measured by items first, so that the values of
    higher-order factors, which no item sees, are integrated out (used when the model has such
    a factor and ``marginal``; see :func:`~bayes_bmi.bayes.ordinal_kernel._marginal_setup`).
    ``0``: non-centred, ``eta_i = (I - B)^-1 (alpha + chol(Psi) u_i)``. (``1``, centred,
    ``eta_i`` itself, was removed: it mixed worse on both models it was measured on.)
    """
    return 2 if marginal and itemless_latents(model) else 0


def marginal_order(lam: np.ndarray) -> np.ndarray:
    """The kernel's order of mode 2: columns of ``lam`` with a non-zero loading first."""
    has_items = (lam != 0.0).any(axis=0)
    return np.concatenate([np.flatnonzero(has_items), np.flatnonzero(~has_items)])


def pack_ordinal(
    model: Model,
    spec: ParamSpec,
    mdata: ModelData,
    odata: OrdinalData,
    prior: Prior,
    marginal: bool = True,
) -> KernelData:
    """The ordinal kernel's buffers (see :mod:`bayes_bmi.bayes.ordinal_kernel`).

    ``KernelData.nparam`` is the length of ``z``: the model's parameters, the thresholds and
    ``n * m`` standardised latent values ``u`` (the coordinates are :func:`latent_mode`'s).
    """
    if tuple(odata.names) != tuple(model.ov_names):
        raise ValueError("the ordinal data are not in the model's variable order")
    if "pattern_totals" in mdata.values:
        raise ValueError("the ordinal kernel takes no missingness patterns (it skips cells)")
    base = pack(model, spec, mdata)
    triples = sampler_triples(model, spec, marginal)
    k = odata.n_thresholds
    nthr = int(k.sum())
    start = np.concatenate([[0], np.cumsum(k)[:-1]]).astype(np.int64)
    ints = np.concatenate(
        [
            base.ints,
            np.array([odata.n, nthr], dtype=np.int64),
            k,
            start,
            np.array([latent_mode(model, marginal)], dtype=np.int64),
            odata.codes.ravel(),
            np.array([triples.shape[0]], dtype=np.int64),
            triples.ravel(),
            np.array([0], dtype=np.int64),  # no preconditioner (see with_preconditioner)
        ]
    ).astype(np.int64)
    mean, sd = prior.params
    floats = np.concatenate([base.floats, np.full(nthr, mean), np.full(nthr, sd)])
    m = model.representation.m
    return KernelData(ints=ints, floats=floats, nparam=spec.size + nthr + odata.n * m)


@dataclass(frozen=True, eq=False)
class Preconditioner:
    """A linear change of the sampler's coordinates for the model's parameters.

    ``z[:k] = shift + chol @ x[:k]`` (``k = shift.size``), the rest of ``z`` unchanged: with
    ``chol`` the Cholesky factor of the parameters' posterior covariance (from a pilot run),
    the parameters are uncorrelated with unit scale in ``x``, and the sampler's diagonal mass
    matrix acts on them as a dense one.

    Attributes
    ----------
    shift : numpy.ndarray
        ``(k,)``.
    chol : numpy.ndarray
        ``(k, k)``, lower triangular with a positive diagonal.
    """

    shift: np.ndarray
    chol: np.ndarray

    def to_z(self, x: np.ndarray) -> np.ndarray:
        """The kernel's ``z`` from the sampler's ``x`` (``..., nparam``)."""
        k = self.shift.size
        z = np.array(x, dtype=float, copy=True)
        z[..., :k] = self.shift + x[..., :k] @ self.chol.T
        return z

    def to_x(self, z: np.ndarray) -> np.ndarray:
        """The sampler's ``x`` from ``z`` (inverse of :meth:`to_z`)."""
        k = self.shift.size
        x = np.array(z, dtype=float, copy=True)
        x[..., :k] = np.linalg.solve(self.chol, (z[..., :k] - self.shift).T).T
        return x


def preconditioner(draws: np.ndarray, shrinkage: float = PRECONDITION_SHRINKAGE) -> Preconditioner:
    """The :class:`Preconditioner` of a pilot run's draws of the parameters (``..., k``).

    The covariance is shrunk toward its diagonal, ``(1 - s) S + s diag(S)``, which keeps it
    positive definite and damps the noise of correlations estimated from a few hundred
    autocorrelated draws.
    """
    flat = np.asarray(draws, dtype=float).reshape(-1, draws.shape[-1])
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError("shrinkage must lie in [0, 1]")
    if flat.shape[0] < 2 or not np.all(np.isfinite(flat)):
        raise ValueError("the pilot draws do not determine a covariance matrix")
    cov = np.atleast_2d(np.cov(flat.T))
    if np.any(np.diag(cov) <= 0):
        raise ValueError("the pilot draws do not determine a covariance matrix")
    cov = (1.0 - shrinkage) * cov + shrinkage * np.diag(np.diag(cov))
    return Preconditioner(shift=flat.mean(axis=0), chol=np.linalg.cholesky(cov))


def with_preconditioner(kd: KernelData, pre: Preconditioner) -> KernelData:
    """The kernel's buffers of :func:`pack_ordinal` with ``pre`` (its last integer and floats)."""
    if kd.ints[-1] != 0:
        raise ValueError("these buffers have a preconditioner already")
    k = pre.shift.size
    ints = kd.ints.copy()
    ints[-1] = k
    floats = np.concatenate([kd.floats, pre.shift, np.tril(pre.chol).ravel()])
    return KernelData(ints=ints, floats=floats, nparam=kd.nparam)


@dataclass(frozen=True, eq=False)
class ThetaStart:
    """A delta-parameterised (WLSMV) solution carried to the theta parameterisation.

    Attributes
    ----------
    rows : numpy.ndarray
        Value of every row of the theta model's table (fixed rows from ``base``; ``:=`` rows
        as computed from the others).
    se : numpy.ndarray
        Standard errors per row: the delta solution's times the row's scale factor (the
        factors taken as fixed: an approximation; NaN for fixed and ``:=`` rows).
    thresholds, thresholds_se : numpy.ndarray
        Thresholds in the theta parameterisation (``tau / sqrt(theta_delta)``), item by item.
    """

    rows: np.ndarray
    se: np.ndarray
    thresholds: np.ndarray
    thresholds_se: np.ndarray


def _variable_scales(tm: Model, resid: dict[str, float]) -> dict[str, float]:
    """``s_v`` with ``v_delta = s_v * v_theta`` for every variable.

    An item's ``s = sqrt(theta_delta)`` (its residual sd under delta, 1 under theta); a
    latent variable keeps its marker's fixed value: ``s_f = s_marker`` (a marker item's or a
    marker factor's scale); 1 without a marker (fixed variance).
    """
    pt = tm.partable
    lhs, op, rhs = pt["lhs"].to_numpy(), pt["op"].to_numpy(), pt["rhs"].to_numpy()
    free, ustart = pt["free"].to_numpy(), pt["ustart"].to_numpy(dtype=float)
    scale = {v: float(np.sqrt(max(resid.get(v, 1.0), 0.05))) for v in tm.ov_names}
    lvs = list(tm.representation.lv_names)
    marker = {}
    for i in range(len(pt)):
        if op[i] == "=~" and free[i] == 0 and ustart[i] != 0 and lhs[i] not in marker:
            marker[lhs[i]] = rhs[i]
    for _ in range(len(lvs) + 1):  # markers can be factors (second order): resolve in turns
        for f in lvs:
            if f not in scale and (marker.get(f) is None or marker[f] in scale):
                scale[f] = scale[marker[f]] if f in marker else 1.0
    return scale


def theta_from_delta(tm: Model, base: np.ndarray, estimates: pd.DataFrame) -> ThetaStart:
    """A WLSMV (delta) solution in the theta parameterisation of ``tm``.

    With ``v_delta = s_v v_theta`` (:func:`_variable_scales`) a coefficient of ``out`` on
    ``pred`` becomes ``b s_pred / s_out``, a covariance ``c / (s_a s_b)``, an intercept
    ``a / s``, a threshold ``tau / s_item``. ``estimates`` is lavaan's table of the WLSMV
    fit (``lhs, op, rhs, est, se``, with its ``|`` rows).
    """
    key = list(zip(estimates["lhs"], estimates["op"], estimates["rhs"], strict=True))
    est = dict(zip(key, estimates["est"].to_numpy(dtype=float), strict=True))
    ses = dict(zip(key, estimates["se"].to_numpy(dtype=float), strict=True))
    resid = {v: est.get((v, "~~", v), 1.0) for v in tm.ov_names}
    s = _variable_scales(tm, resid)
    pt = tm.partable
    rows = np.array(base, dtype=float, copy=True)
    se = np.full(len(pt), np.nan)
    for i, (a, o, b, f) in enumerate(zip(pt["lhs"], pt["op"], pt["rhs"], pt["free"], strict=True)):
        if f == 0 or (a, o, b) not in est:
            continue
        if o == "=~":
            factor = s[a] / s[b]
        elif o == "~":
            factor = s[b] / s[a]
        elif o == "~~":
            factor = 1.0 / (s[a] * s[b])
        elif o == "~1":
            factor = 1.0 / s[a]
        else:
            continue
        rows[i] = est[(a, o, b)] * factor
        se[i] = ses[(a, o, b)] * factor
    thr, thr_se = [], []
    for v in tm.ov_names:
        c = 1
        while (v, "|", f"t{c}") in est:
            thr.append(est[(v, "|", f"t{c}")] / s[v])
            thr_se.append(ses[(v, "|", f"t{c}")] / s[v])
            c += 1
    return ThetaStart(rows, se, np.asarray(thr), np.asarray(thr_se))
