"""Maximum-likelihood fit: the frequentist cross-check and the sampler's start point.

Stages, as in lavaan: sample statistics -> start values -> optimisation of the ML
discrepancy (Fisher scoring with a backtracking line search, analytic gradient) -> standard
errors from the expected information -> defined parameters (delta method) -> standardized
solutions -> fit measures. With missing cells (``missing="fiml"``, lavaan's ``missing = "ml"``)
the same stages run on the likelihood summed over missingness patterns (:mod:`bayes_bmi.ml.fiml`):
EM estimates of the unrestricted moments give the start values and the H1 log-likelihood,
Fisher scoring uses the expected information of the incomplete data, and standard errors come
from the observed information. :func:`without_means` reads the fit of a model without means off
the fit of the same model with saturated means (the Bayesian engine's twin), so the two need
one optimisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats as sps

from bayes_bmi.data import DataError, MissingPatterns, SampleStats, missing_patterns, sample_stats
from bayes_bmi.errors import OptionError
from bayes_bmi.lavaan.model import Model, specify
from bayes_bmi.lavaan.partable import ModelSpecError, row_key
from bayes_bmi.lavaan.representation import (
    FreeMap,
    fill_matrices,
    free_map,
    implied_derivatives,
    implied_moments,
)
from bayes_bmi.lavaan.standardized import defined_values, standardize
from bayes_bmi.lavaan.start import start_values
from bayes_bmi.ml.fiml import (
    complete_information,
    em_saturated,
    fiml_information,
    fiml_loglik,
    fiml_moment_gradient,
)
from bayes_bmi.ml.fitmeasures import count_moments, fiml_fit_measures, fit_measures, ml_discrepancy

if TYPE_CHECKING:
    from bayes_bmi.ml.ordinal.polychoric import OrdinalStats

# FreeMap and free_map live in bayes_bmi.lavaan.representation; named here for old imports
__all__ = [
    "ESTIMATE_COLUMNS",
    "MISSING",
    "FreeMap",
    "MLResult",
    "fit_ml",
    "free_map",
    "model_patterns",
    "model_stats",
    "resolve_missing",
    "with_means",
    "without_means",
]

#: Missing-data methods of :func:`fit_ml` (lavaan's ``missing = "ml"`` and ``"listwise"``).
MISSING = ("fiml", "listwise")

ESTIMATE_COLUMNS = (
    "lhs",
    "op",
    "rhs",
    "label",
    "est",
    "se",
    "z",
    "pvalue",
    "ci_lower",
    "ci_upper",
    "std_lv",
    "std_all",
)


@dataclass(frozen=True, eq=False)
class MLResult:
    """Result of :func:`fit_ml`.

    Attributes
    ----------
    model : Model
    stats : SampleStats
    estimates : pandas.DataFrame
        The parameter table with ``est, se, z, pvalue, ci_lower, ci_upper, std_lv, std_all``.
    fit : dict
        Fit measures (see :func:`bayes_bmi.ml.fitmeasures.fit_measures`).
    x : numpy.ndarray
        Free-parameter vector at the optimum.
    vcov : numpy.ndarray
        Covariance matrix of ``x`` (NaN when the information matrix is singular).
    converged : bool
    iterations : int
    warnings : tuple of str
        Plain-language problems: non-convergence, negative variances, non-positive-definite
        matrices, a singular information matrix.
    missing : str
        ``"listwise"`` or ``"fiml"`` (:data:`MISSING`).
    patterns : MissingPatterns or None
        The missingness patterns of a FIML fit (``stats`` then holds the EM estimates of the
        unrestricted means and covariances, and ``stats.n`` the cases used).
    notes : tuple of str
        What was done to the data (patterns, missing cells, dropped rows).
    estimator : str
        ``"ML"``, or ``"WLSMV"`` for ordered items (:func:`bayes_bmi.ml.ordinal.fit_wlsmv`;
        ``stats`` then holds the polychoric correlations as ``cov`` and zero means).
    ordinal : OrdinalStats or None
        The :class:`~bayes_bmi.ml.ordinal.polychoric.OrdinalStats` of a WLSMV fit (thresholds,
        polychoric correlations, their asymptotic covariance); ``None`` otherwise.
    group : str or None
        The grouping column of a multi-group fit (:func:`bayes_bmi.ml.groups.fit_ml_groups`;
        ``stats`` and ``patterns`` are then group 1's); ``None`` for a single group.
    group_labels : tuple of str
        The groups' labels, group ``g`` (the table's ``group``) is ``group_labels[g - 1]``.
    group_stats : tuple of SampleStats
        Each group's sample statistics (EM moments under FIML).
    group_patterns : tuple of MissingPatterns
        Each group's missingness patterns (FIML only).
    """

    model: Model
    stats: SampleStats
    estimates: pd.DataFrame
    fit: dict[str, float]
    x: np.ndarray
    vcov: np.ndarray
    converged: bool
    iterations: int
    warnings: tuple[str, ...] = field(default_factory=tuple)
    missing: str = "listwise"
    patterns: MissingPatterns | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    estimator: str = "ML"
    ordinal: OrdinalStats | None = None
    group: str | None = None
    group_labels: tuple[str, ...] = ()
    group_stats: tuple[SampleStats, ...] = ()
    group_patterns: tuple[MissingPatterns, ...] = ()

    @property
    def n_cases(self) -> int:
        """Cases fitted: ``stats.n``, or with groups the total over groups."""
        if self.group_stats:
            return int(sum(st.n for st in self.group_stats))
        return int(self.stats.n)

    def table(self) -> pd.DataFrame:
        """The estimates with lavaan's ``parameterEstimates`` columns (underscored).

        A multi-group fit adds ``group`` (1-based, 0 for ``:=`` rows, as lavaan) after
        ``rhs``, and ``group_label`` (the group's value in the data).
        """
        if self.group is None:
            return self.estimates[list(ESTIMATE_COLUMNS)].copy()
        cols = [*ESTIMATE_COLUMNS[:3], "group", *ESTIMATE_COLUMNS[3:]]
        out = self.estimates[cols].copy()
        labels = {g: lab for g, lab in enumerate(self.group_labels, start=1)}
        out.insert(4, "group_label", [labels.get(g, "") for g in out["group"]])
        return out

    @property
    def values(self) -> np.ndarray:
        """Per-row parameter values (free and fixed) at the estimates."""
        return self.estimates["est"].to_numpy(dtype=float)


def model_stats(model: Model, data: pd.DataFrame, source: str = "data") -> SampleStats:
    """Sample statistics of the model's observed variables, with model-aware errors."""
    pt = model.partable
    regression = pt["op"] == "~"
    in_regression = set(pt.loc[regression, "lhs"]) | set(pt.loc[regression, "rhs"])
    explain = {
        v: "is used in a regression but is neither a latent variable (defined with =~, so it "
        "has no indicators) nor a column of the data; define it or check its spelling"
        for v in model.ov_names
        if v in in_regression
    }
    return sample_stats(data, model.ov_names, source, explain=explain)


def model_patterns(model: Model, data: pd.DataFrame, source: str = "data") -> MissingPatterns:
    """Missingness patterns of the model's observed variables, with model-aware errors.

    Cases missing a fixed exogenous covariate are dropped, as lavaan does under
    ``missing = "ml"`` with ``fixed.x = TRUE``.
    """
    pt = model.partable
    regression = pt["op"] == "~"
    in_regression = set(pt.loc[regression, "lhs"]) | set(pt.loc[regression, "rhs"])
    explain = {
        v: "is used in a regression but is neither a latent variable (defined with =~, so it "
        "has no indicators) nor a column of the data; define it or check its spelling"
        for v in model.ov_names
        if v in in_regression
    }
    xs = [model.ov_names[i] for i in _x_indices(model)]
    return missing_patterns(data, model.ov_names, source, explain=explain, complete=xs)


def with_means(model: Model) -> Model:
    """The model with its mean structure (lavaan's ``meanstructure = TRUE``, as FIML needs).

    Returned as it is when it already models the means; otherwise respecified with free
    intercepts of the observed variables and latent means fixed at 0.
    """
    if model.representation.meanstructure:
        return model
    return specify(
        model.text,
        filename=model.filename,
        options=replace(model.options, meanstructure=True),
    )


def _objective(
    model: Model, fm: FreeMap, base: np.ndarray, st: SampleStats, x: np.ndarray
) -> float:
    values = fm.expand(x, base)
    with np.errstate(over="ignore", invalid="ignore"):  # a wild step: F is inf, said below
        sigma, mu = implied_moments(fill_matrices(model.representation, values))
        f = ml_discrepancy(st.cov, st.mean, sigma, mu, model.representation.meanstructure)
    return f if math.isfinite(f) else math.inf


def _gradient_information(
    model: Model, fm: FreeMap, base: np.ndarray, st: SampleStats, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of ``F`` and the expected information per observation."""
    rep = model.representation
    values = fm.expand(x, base)
    mats = fill_matrices(rep, values)
    sigma, mu = implied_moments(mats)
    dsigma, dmu = implied_derivatives(rep, mats, fm.entries, fm.nparam)
    inv = np.linalg.inv(sigma)
    d = st.mean - mu
    outer = st.cov + np.outer(d, d) if rep.meanstructure else st.cov
    wgrad = inv - inv @ outer @ inv
    # BLAS products (the same sums as einsum "ab,kab->k", "ab,kbc->kac", "kab,lba->kl"; the
    # plain einsum loops took most of a large model's fit time)
    k = dsigma.shape[0]
    grad = dsigma.reshape(k, -1) @ wgrad.ravel()
    m = np.matmul(inv, dsigma)
    info = 0.5 * (m.reshape(k, -1) @ m.transpose(0, 2, 1).reshape(k, -1).T)
    if rep.meanstructure:
        grad -= 2.0 * dmu @ (inv @ d)
        info += dmu @ inv @ dmu.T
    return grad, info


def _check_identified(model: Model, st: SampleStats) -> None:
    x_idx = _x_indices(model)
    ndat = count_moments(st.p, x_idx.size, model.representation.meanstructure)
    if model.nparam > ndat:
        raise ModelSpecError(
            f"{model.filename or '<model>'}: the model has {model.nparam} free parameters but "
            f"the data give only {ndat} sample moments (df = {ndat - model.nparam}); fix or "
            "equate parameters, or add indicators"
        )


def _not_positive_definite(model: Model) -> str:
    """Why the ML fit cannot start: the implied covariance matrix is not positive definite."""
    pt = model.partable
    where = model.filename or "<model>"
    tail = (
        "the model-implied covariance matrix is not positive definite, so the model cannot be "
        "fitted"
    )
    negative = (
        (pt["op"] == "~~") & (pt["lhs"] == pt["rhs"]) & (pt["free"] == 0) & (pt["ustart"] < 0)
    ).to_numpy()
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        return (
            f"{where}:{pt['line'].iat[i]}: the variance {pt['lhs'].iat[i]} ~~ {pt['rhs'].iat[i]} "
            f"is fixed at {pt['ustart'].iat[i]:g}, but a variance cannot be negative: {tail}"
        )
    return f"{where}: at the start values {tail}; check the fixed values and start() modifiers"


def _x_indices(model: Model) -> np.ndarray:
    pt = model.partable
    xs = set(pt.loc[(pt["exo"] == 1) & (pt["op"] == "~~"), "lhs"])
    return np.array([i for i, v in enumerate(model.ov_names) if v in xs], dtype=int)


def _improper(model: Model, values: np.ndarray) -> list[str]:
    rep = model.representation
    pt = model.partable
    out = []
    for i in np.flatnonzero((pt["op"] == "~~").to_numpy() & (pt["lhs"] == pt["rhs"]).to_numpy()):
        if values[i] < 0:
            out.append(
                f"negative variance: {pt['lhs'].iat[i]} ~~ {pt['rhs'].iat[i]} = "
                f"{values[i]:.4g} (a Heywood case; the solution is improper)"
            )
    mats = fill_matrices(rep, values)
    nlv = len(rep.lv_names)
    if nlv:
        psi = mats.eta_cov()[:nlv, :nlv]
        if np.linalg.eigvalsh(psi).min() <= 0:
            out.append("the covariance matrix of the latent variables is not positive definite")
    theta = mats.theta
    used = np.diag(theta) != 0
    if used.any() and np.linalg.eigvalsh(theta[np.ix_(used, used)]).min() < 0:
        out.append("the residual covariance matrix (theta) is not positive definite")
    return out


def fit_ml(
    model: Model,
    data: pd.DataFrame | SampleStats | MissingPatterns,
    *,
    source: str = "data",
    missing: str | None = None,
    max_iter: int = 500,
    tol: float = 1e-10,
) -> MLResult:
    """Fit a model by maximum likelihood, as lavaan's ``sem()`` does with its defaults.

    Parameters
    ----------
    model : Model
    data : pandas.DataFrame, SampleStats or MissingPatterns
        Raw data, or its sample statistics (listwise) or missingness patterns (FIML).
    source : str
        Name of the data, for messages.
    missing : {"fiml", "listwise"} or None
        ``"listwise"`` (lavaan's default ``missing = "listwise"``) keeps the complete cases;
        ``"fiml"`` (lavaan's ``missing = "ml"``) uses every observed cell by full-information
        ML, with the means modelled (:func:`with_means`). ``None`` (default) is ``"fiml"`` when
        the model's variables have missing cells and ``"listwise"`` otherwise.
    max_iter : int
        Fisher-scoring iterations before giving up.
    tol : float
        Convergence when the largest absolute gradient element of ``F`` is below ``tol`` or
        ``F`` stops decreasing.

    Returns
    -------
    MLResult

    Raises
    ------
    ModelSpecError
        When the model has more free parameters than sample moments.
    DataError
        When the data lack a model variable or hold non-numeric cells.
    OptionError
        When ``missing`` is not one of the choices, or does not fit the kind of ``data``.
    """
    if model.blocks:
        raise OptionError(
            f"{model.filename or '<model>'} has {model.ngroups} groups: fit it with "
            "bayes_bmi.ml.groups.fit_ml_groups(model, data, group=...)"
        )
    if resolve_missing(model, data, missing, source) == "fiml":
        return _fit_fiml(model, data, source, max_iter, tol)
    st = data if isinstance(data, SampleStats) else model_stats(model, data, source)
    if st.names != model.ov_names:
        raise DataError(f"{source}: sample statistics are not in the model's variable order")
    _check_identified(model, st)
    rep = model.representation
    pt = model.partable
    fm = model.free
    start = start_values(pt, rep, st, std_lv=model.options.std_lv)
    base = start.copy()
    x = fm.compress(start)

    def objective(x: np.ndarray) -> float:
        return _objective(model, fm, base, st, x)

    def grad_info(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _gradient_information(model, fm, base, st, x)

    x, converged, it, warn = _optimise(objective, grad_info, x, max_iter, tol, model)
    _, info = _gradient_information(model, fm, base, st, x)
    vcov, singular = _inverse_information(info, st.n)
    warn += singular
    est, values, improper = _estimate_table(model, base, x, vcov)
    sigma, mu = implied_moments(fill_matrices(rep, values))
    fit = fit_measures(st, sigma, mu, fm.nparam, rep.meanstructure, _x_indices(model))
    return MLResult(
        model=model,
        stats=st,
        estimates=est,
        fit=fit,
        x=x,
        vcov=vcov,
        converged=converged,
        iterations=it,
        warnings=tuple(warn + improper),
    )


def resolve_missing(
    model: Model,
    data: pd.DataFrame | SampleStats | MissingPatterns,
    missing: str | None,
    source: str = "data",
) -> str:
    """``"fiml"`` or ``"listwise"``: the missing-data method :func:`fit_ml` uses.

    ``None`` picks ``"fiml"`` when the model's variables have missing cells in a DataFrame
    (or the data are :class:`~bayes_bmi.data.MissingPatterns`) and ``"listwise"`` otherwise.

    Raises
    ------
    OptionError
        An unknown method, or one that the kind of ``data`` cannot give.
    """
    if missing is not None and missing not in MISSING:
        raise OptionError(f"unknown missing {missing!r}. Must be one of: {', '.join(MISSING)}")
    if isinstance(data, SampleStats):
        if missing == "fiml":
            raise OptionError("missing='fiml' needs the raw data or its missingness patterns")
        return "listwise"
    if isinstance(data, MissingPatterns):
        if missing == "listwise":
            raise OptionError("missing='listwise' needs the raw data or its sample statistics")
        return "fiml"
    if missing is not None:
        return missing
    names = [v for v in model.ov_names if v in data.columns]
    return "fiml" if bool(data[names].isna().to_numpy().any()) else "listwise"


def _optimise(
    objective: Callable[[np.ndarray], float],
    grad_info: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    x: np.ndarray,
    max_iter: int,
    tol: float,
    model: Model,
) -> tuple[np.ndarray, bool, int, list[str]]:
    """Fisher scoring with a backtracking line search on a discrepancy ``F``.

    ``grad_info(x)`` gives the gradient of ``F`` and the expected information per observation
    (half the expected Hessian of ``F``). Returns the optimum, whether it converged, the
    iterations and the warnings. A start where ``F`` is not finite even after the fallback
    raises :class:`ModelSpecError` naming ``model``.
    """
    f = objective(x)
    if not math.isfinite(f):
        # fall back to lavaan's simple starts: residual variances half the observed variance
        x = np.where(np.isfinite(x), x, 0.0)
        f = objective(x)
    if not math.isfinite(f):
        raise ModelSpecError(_not_positive_definite(model))
    converged = False
    it = 0
    warn: list[str] = []
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is reported after the loop
        grad, info = grad_info(x)
        if np.max(np.abs(grad), initial=0.0) < tol:
            converged = True
            break
        try:
            step = -np.linalg.solve(2.0 * info, grad)
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(2.0 * info, grad, rcond=None)[0]
        if not np.all(np.isfinite(step)) or grad @ step >= 0:
            step = -grad
        t = 1.0
        slope = grad @ step
        while True:
            x_new = x + t * step
            f_new = objective(x_new)
            if math.isfinite(f_new) and f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
            if t < 1e-10:
                break
        if t < 1e-10:
            # no further decrease possible: converged if the gradient is small in relative terms
            converged = bool(np.max(np.abs(grad)) < 1e-6)
            break
        improvement = f - f_new
        x, f = x_new, f_new
        if 0 <= improvement < 1e-15 * max(1.0, abs(f)):
            grad, info = grad_info(x)
            converged = bool(np.max(np.abs(grad)) < 1e-6)
            break
    else:
        grad, info = grad_info(x)
    if not converged:
        warn.append(
            f"the optimizer did not converge after {it} iterations "
            f"(largest gradient {np.max(np.abs(grad)):.3g}); estimates are not trustworthy. "
            "Try other start values (start() modifiers) or a simpler model"
        )
    return x, converged, it, warn


def _inverse_information(info: np.ndarray, n: int) -> tuple[np.ndarray, list[str]]:
    """``inv(info) / n``, or NaN and a warning when ``info`` is singular."""
    vcov = np.full(info.shape, np.nan)
    try:
        evals = np.linalg.eigvalsh(info)
        if evals.min() <= 1e-10 * max(evals.max(), 1.0):
            raise np.linalg.LinAlgError("singular")
        vcov = np.linalg.inv(info) / n
    except np.linalg.LinAlgError:
        return vcov, [
            "the information matrix is singular: the model may not be identified; "
            "standard errors could not be computed"
        ]
    return vcov, []


def _estimate_table(
    model: Model, base: np.ndarray, x: np.ndarray, vcov: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """The estimates table (``est, se, z, ...``), per-row values, improper-solution warnings."""
    pt, rep, fm = model.partable, model.representation, model.free
    values = defined_values(pt, fm.expand(x, base))
    se = np.full(len(pt), np.nan)
    se[fm.rows] = np.sqrt(np.clip(np.diag(vcov)[fm.k], 0.0, None))
    def_rows = np.flatnonzero(pt["op"].to_numpy() == ":=")
    if def_rows.size:
        jac = _defined_jacobian(pt, fm, base, x, def_rows)
        cov_def = jac @ vcov @ jac.T
        se[def_rows] = np.sqrt(np.clip(np.diag(cov_def), 0.0, None))
    warn = _improper(model, values)
    for i in def_rows[~np.isfinite(values[def_rows])]:
        warn.append(
            f"defined parameter {pt['lhs'].iat[i]} := {pt['rhs'].iat[i]} is {values[i]:g} at "
            "the estimates (a division by zero or an overflow); it cannot be interpreted"
        )

    std_lv, std_all = standardize(pt, rep, values)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = values / se
    zcrit = sps.norm.ppf(0.975)
    est = pt.copy()
    est["est"] = values
    est["se"] = se
    est["z"] = z
    est["pvalue"] = 2.0 * sps.norm.sf(np.abs(z))
    est["ci_lower"] = np.where(np.isnan(se), values, values - zcrit * se)
    est["ci_upper"] = np.where(np.isnan(se), values, values + zcrit * se)
    est["std_lv"] = std_lv
    est["std_all"] = std_all
    return est, values, warn


def _fit_fiml(
    model: Model,
    data: pd.DataFrame | MissingPatterns,
    source: str,
    max_iter: int,
    tol: float,
) -> MLResult:
    """Full-information ML: the stages of :func:`fit_ml` on the pattern likelihood.

    The start values come from the EM estimates of the unrestricted moments; the optimiser is
    Fisher scoring with the expected information of the incomplete data; standard errors come
    from the observed information (the Hessian of the log-likelihood), lavaan's default for
    ``missing = "ml"``.
    """
    model = with_means(model)
    pat = data if isinstance(data, MissingPatterns) else model_patterns(model, data, source)
    if pat.names != model.ov_names:
        raise DataError(f"{source}: missingness patterns are not in the model's variable order")
    mu_h1, sigma_h1, em_iter, em_ok = em_saturated(pat)
    st = SampleStats(
        names=pat.names, n=pat.n, mean=mu_h1, cov=sigma_h1, n_dropped=pat.n_empty + pat.n_dropped
    )
    _check_identified(model, st)
    rep, pt, fm = model.representation, model.partable, model.free
    start = start_values(pt, rep, st, std_lv=model.options.std_lv)
    base = start.copy()
    scale = -2.0 / pat.n  # F = -2 logl / n, on the scale of the listwise discrepancy

    def objective(x: np.ndarray) -> float:
        sigma, mu = implied_moments(fill_matrices(rep, fm.expand(x, base)))
        return scale * fiml_loglik(pat, sigma, mu)

    def grad_info(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # the complete-data information as the metric: one pattern's cost, not all of them
        # (the optimum is the same; convergence is linear at the rate of the missing
        # information, a few more steps when few cells are missing)
        mats = fill_matrices(rep, fm.expand(x, base))
        sigma, mu = implied_moments(mats)
        dsigma, dmu = implied_derivatives(rep, mats, fm.entries, fm.nparam)
        g_sigma, g_mu = fiml_moment_gradient(pat, sigma, mu)
        grad = np.einsum("ab,kab->k", g_sigma, dsigma) + dmu @ g_mu
        return scale * grad, complete_information(pat.n, sigma, dsigma, dmu) / pat.n

    x, converged, it, warn = _optimise(
        objective, grad_info, fm.compress(start), max_iter, tol, model
    )
    try:
        info = _fiml_gradient_information(model, pat, base, x, observed=True)[1]
    except np.linalg.LinAlgError:
        info = np.full((fm.nparam, fm.nparam), np.nan)
    vcov, singular = _inverse_information(info / pat.n, pat.n)
    warn += singular
    est, values, improper = _estimate_table(model, base, x, vcov)
    sigma, mu = implied_moments(fill_matrices(rep, values))
    fit = fiml_fit_measures(pat, sigma, mu, sigma_h1, mu_h1, fm.nparam, _x_indices(model))
    if not em_ok:
        warn.append(
            f"the EM estimates of the unrestricted model did not converge in {em_iter} "
            "iterations: chisq and the fit indices are approximate"
        )
    return MLResult(
        model=model,
        stats=st,
        estimates=est,
        fit=fit,
        x=x,
        vcov=vcov,
        converged=converged,
        iterations=it,
        warnings=tuple(warn + improper + _coverage_warnings(pat)),
        missing="fiml",
        patterns=pat,
        notes=_fiml_notes(pat),
    )


def _fiml_gradient_information(
    model: Model, pat: MissingPatterns, base: np.ndarray, x: np.ndarray, *, observed: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of the FIML log-likelihood and its expected or observed information.

    The information is that of the whole sample (not per case) with respect to the free
    parameters: ``Delta' I_m Delta`` for the information ``I_m`` of the moments and their
    Jacobian ``Delta``; the observed one adds the curvature of the implied moments,
    ``-sum_j (dl/dm_j) d2 m_j``, from central differences of the analytic Jacobian.
    """
    rep, fm = model.representation, model.free
    k = fm.nparam
    mats = fill_matrices(rep, fm.expand(x, base))
    sigma, mu = implied_moments(mats)
    dsigma, dmu = implied_derivatives(rep, mats, fm.entries, k)
    g_sigma, g_mu = fiml_moment_gradient(pat, sigma, mu)
    grad = np.einsum("ab,kab->k", g_sigma, dsigma) + dmu @ g_mu
    info = fiml_information(pat, sigma, mu, dsigma, dmu, observed=observed)
    if observed:
        for j in range(k):
            h = 1e-5 * max(1.0, abs(x[j]))
            diff = []
            for sign in (1.0, -1.0):
                xj = x.copy()
                xj[j] += sign * h
                mj = fill_matrices(rep, fm.expand(xj, base))
                ds, dm = implied_derivatives(rep, mj, fm.entries, k)
                diff.append(np.einsum("ab,kab->k", g_sigma, ds) + dm @ g_mu)
            info[:, j] -= (diff[0] - diff[1]) / (2.0 * h)
        info = 0.5 * (info + info.T)
    return grad, info


def _coverage_warnings(pat: MissingPatterns) -> list[str]:
    """Pairs of variables never observed together: their covariance is not identified."""
    cover = pat.coverage()
    pairs = [
        f"{pat.names[a]} and {pat.names[b]}"
        for a in range(pat.p)
        for b in range(a + 1, pat.p)
        if cover[a, b] == 0
    ]
    if not pairs:
        return []
    return [
        f"no case answered both {', '.join(pairs[:5])}{' ...' if len(pairs) > 5 else ''}: "
        "their covariance rests on the model alone, and the unrestricted model is not identified"
    ]


def _fiml_notes(pat: MissingPatterns) -> tuple[str, ...]:
    cells = pat.n * pat.p
    notes = [
        f"full-information ML: {pat.n} cases in {pat.npatterns} missingness pattern(s), "
        f"{pat.n_missing} of {cells} cells missing ({100.0 * pat.n_missing / cells:.1f}%)"
    ]
    if pat.n_empty:
        notes.append(f"{pat.n_empty} row(s) with every model variable missing were dropped")
    if pat.n_dropped:
        notes.append(
            f"{pat.n_dropped} row(s) missing a fixed exogenous covariate were dropped "
            "(as lavaan does with fixed.x = TRUE)"
        )
    return tuple(notes)


def _defined_jacobian(
    pt: pd.DataFrame, fm: FreeMap, base: np.ndarray, x: np.ndarray, def_rows: np.ndarray
) -> np.ndarray:
    """Central-difference Jacobian of the ``:=`` parameters with respect to the free vector."""
    jac = np.zeros((def_rows.size, fm.nparam))
    # the := expressions read labelled rows only: the other columns are exactly zero
    labelled = (pt["label"].to_numpy(dtype=object) != "") & (pt["op"].to_numpy() != ":=")
    for j in np.unique(fm.k[labelled[fm.rows]]):
        h = 1e-6 * max(1.0, abs(x[j]))
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        vp = defined_values(pt, fm.expand(xp, base))[def_rows]
        vm = defined_values(pt, fm.expand(xm, base))[def_rows]
        jac[:, j] = (vp - vm) / (2 * h)
    return jac


def without_means(result: MLResult, model: Model) -> MLResult:
    """The ML fit of ``model`` read off ``result``, the fit of the same model with its means.

    The Bayesian engine always models the means (:func:`bayes_bmi.bayes.sampling.bayesian_model`
    adds a free intercept per observed variable and latent means of 0). Such a mean structure
    is saturated: with complete data its ML estimates are the sample means, every other
    estimate is that of the model without means, and the expected information is block
    diagonal between the intercepts and the rest. So estimates, standard errors and
    standardized values carry over row by row; the fit measures are computed for ``model``
    (lavaan's ``cfa()``/``sem()`` without means: fewer parameters and moments, so other AIC,
    BIC and SRMR).

    Parameters
    ----------
    result : MLResult
        Fit of ``model`` with its means modelled, or of ``model`` itself (then returned).
    model : Model
        The model as written, without a mean structure.

    Returns
    -------
    MLResult

    Raises
    ------
    ValueError
        When ``result`` is not the fit of ``model`` plus saturated means.
    """
    if result.model is model:
        return result
    pt, full = model.partable, result.model.partable
    index = {
        row_key(*key): i
        for i, key in enumerate(zip(full["lhs"], full["op"], full["rhs"], strict=True))
    }
    keys = [row_key(*key) for key in zip(pt["lhs"], pt["op"], pt["rhs"], strict=True)]
    extra = np.setdiff1d(np.arange(len(full)), [index.get(k, -1) for k in keys])
    added_means = (full["op"].to_numpy()[extra] == "~1") & (full["user"].to_numpy()[extra] == 0)
    if any(k not in index for k in keys) or (
        extra.size and (model.representation.meanstructure or not added_means.all())
    ):
        raise ValueError(
            f"the ML fit of {result.model.filename or '<model>'} is not that of "
            f"{model.filename or '<model>'} with saturated means"
        )
    if not extra.size:  # the same table: the fit of ``model`` itself
        return result
    rows = np.array([index[k] for k in keys], dtype=int)
    est = pt.copy()
    for col in ESTIMATE_COLUMNS[4:]:
        est[col] = result.estimates[col].to_numpy()[rows]
    values = est["est"].to_numpy(dtype=float)
    fm = model.free
    k_full = full["free"].to_numpy()[rows][fm.first_rows()] - 1
    sigma, mu = implied_moments(fill_matrices(model.representation, values))
    st = result.stats
    return MLResult(
        model=model,
        stats=st,
        estimates=est,
        fit=fit_measures(st, sigma, mu, fm.nparam, False, _x_indices(model)),
        x=fm.compress(values),
        vcov=result.vcov[np.ix_(k_full, k_full)],
        converged=result.converged,
        iterations=result.iterations,
        warnings=result.warnings,
    )
