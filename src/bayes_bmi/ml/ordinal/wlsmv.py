"""lavaan's WLSMV for ordered items: DWLS estimates, robust standard errors, scaled-shifted test.

With every observed variable ordered (lavaan's ``ordered = TRUE``), in the delta
parameterisation:

* statistics ``s``: the thresholds and polychoric correlations, and ``Gamma`` their asymptotic
  covariance (:func:`~bayes_bmi.ml.ordinal.polychoric.ordinal_stats`);
* model: thresholds ``tau - mu`` and correlations, the off-diagonal of
  ``Sigma* = Lambda (I-B)^-1 Psi (I-B)^-T Lambda' + Theta``; an ordered item's residual
  variance is not free but ``1 - diag(...)`` of the rest, so ``diag(Sigma*) = 1``;
* DWLS: minimise ``F = (s - sigma)' W (s - sigma)`` with ``W = diag(1 / diag(Gamma))``
  (Gauss-Newton); ``chisq = (n - 1) F`` (lavaan's ``fmin`` is ``(n - 1) / n * F / 2``);
* ``se = "robust.sem"``: ``V = E^-1 (Delta' W Gamma W Delta) E^-1 / (n - 1)``,
  ``E = Delta' W Delta``, ``Delta`` the Jacobian of the model statistics;
* ``test = "scaled.shifted"``: with ``U = W - W Delta E^-1 Delta' W``,
  ``a = sqrt(df / tr((U Gamma)^2))``, ``chisq.scaled = a chisq + df - a tr(U Gamma)``;
  the baseline (independence) model the same way with only the thresholds free.

The fit measures are lavaan's ``fitMeasures`` names with ``_`` for ``.``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats as sps

from bayes_bmi.data import SampleStats
from bayes_bmi.errors import DataError, ModelSpecError, OptionError
from bayes_bmi.lavaan.model import Model, specify
from bayes_bmi.lavaan.representation import fill_matrices, implied_derivatives, implied_moments
from bayes_bmi.lavaan.start import start_values
from bayes_bmi.ml.fit import MLResult, _estimate_table, _optimise
from bayes_bmi.ml.fitmeasures import _comparative, _rmsea
from bayes_bmi.ml.ordinal.polychoric import (
    OrdinalData,
    OrdinalStats,
    ordinal_data,
    ordinal_stats,
    pair_index,
)

__all__ = ["fit_wlsmv", "ordinal_model", "resolve_ordered", "scaled_shifted", "wlsmv_fit_measures"]


def resolve_ordered(model: Model, ordered: bool | Sequence[str] | None) -> tuple[str, ...]:
    """The ordered items of ``model``: ``True`` means all its observed variables.

    Raises
    ------
    OptionError
        A name that is not an observed variable of the model, or a mix of ordered and
        continuous observed variables (not supported yet), or ordered items in regressions.
    """
    ov = model.ov_names
    if ordered is True:
        names = tuple(ov)
    elif not ordered:
        return ()
    else:
        names = tuple(dict.fromkeys(ordered))
        unknown = [v for v in names if v not in ov]
        if unknown:
            raise OptionError(
                f"ordered item(s) {', '.join(unknown)} are not observed variables of the model "
                f"({', '.join(ov)})"
            )
    rest = [v for v in ov if v not in names]
    if rest:
        raise OptionError(
            f"WLSMV with both ordered and continuous observed variables is not supported yet: "
            f"declare {', '.join(rest)} ordered too (--ordinal all), or fit by ML without "
            "--ordinal"
        )
    dummy = [v for v in model.representation.dummy if v in names]
    if dummy:
        raise OptionError(
            f"ordered item(s) {', '.join(dummy)} take part in regressions or covariances with "
            "latent variables; WLSMV supports ordered items only as indicators of latent "
            "variables so far"
        )
    return names


def ordinal_model(model: Model, data: OrdinalData) -> Model:
    """``model`` respecified with threshold rows for its ordered items (delta parameterisation).

    The number of thresholds of each item is its number of categories in ``data`` minus one.
    """
    ordered = tuple((v, int(k) - 1) for v, k in zip(data.names, data.ncat, strict=True))
    return specify(
        model.text, filename=model.filename, options=replace(model.options, ordered=ordered)
    )


def fit_wlsmv(
    model: Model,
    data: pd.DataFrame | OrdinalData,
    *,
    ordered: bool | Sequence[str] = True,
    source: str = "data",
    max_iter: int = 500,
    tol: float = 1e-10,
) -> MLResult:
    """Fit a model to ordered items by lavaan's WLSMV (``ordered = TRUE``, delta).

    Parameters
    ----------
    model : Model
        The model as written (thresholds are added here).
    data : pandas.DataFrame or OrdinalData
        Raw data (complete cases are used: listwise deletion, lavaan's default) or the items
        already coded.
    ordered : bool or sequence of str
        The ordered items: ``True`` (default) for every observed variable of the model.
    source : str
        Name of the data, for messages.
    max_iter, tol : int, float
        Gauss-Newton iterations and the gradient tolerance.

    Returns
    -------
    MLResult
        ``estimator == "WLSMV"``; ``estimates`` holds lavaan's rows (thresholds ``x | t1``,
        fixed intercepts, scales ``x ~*~ x``); ``ordinal`` the polychoric statistics; ``fit``
        the fit measures (:func:`wlsmv_fit_measures`).

    Raises
    ------
    OptionError
        ``ordered`` names a non-variable, or leaves some observed variables continuous.
    DataError
        Items that are not ordered categories (see
        :func:`~bayes_bmi.ml.ordinal.polychoric.ordinal_data`).
    ModelSpecError
        More free parameters than statistics.
    """
    names = resolve_ordered(model, ordered)
    if not names:
        raise OptionError("fit_wlsmv needs ordered items: ordered=True or a list of items")
    od = data if isinstance(data, OrdinalData) else ordinal_data(data, model.ov_names, source)
    if od.names != model.ov_names:
        raise DataError(f"{source}: the ordered items are not in the model's variable order")
    ost = ordinal_stats(od)
    spec = ordinal_model(model, od)
    pt, rep, fm = spec.partable, spec.representation, spec.free
    s = ost.vector
    w = 1.0 / np.diag(ost.gamma)
    ndat, npar = s.size, fm.nparam
    if npar > ndat:
        raise ModelSpecError(
            f"{model.filename or '<model>'}: the model has {npar} free parameters but the "
            f"data give only {ndat} thresholds and polychoric correlations"
        )
    st = SampleStats(
        names=ost.names, n=ost.n, mean=np.zeros(ost.p), cov=ost.cor, n_dropped=ost.n_dropped
    )
    base = start_values(pt, rep, st, std_lv=spec.options.std_lv)
    th_rows, th_pos = _threshold_rows(pt, ost)
    base[th_rows] = ost.th[th_pos]
    moments = _ModelStats(spec, ost, th_rows, th_pos)

    def objective(x: np.ndarray) -> float:
        r = s - moments.value(fm.expand(x, base))
        f = float(np.sum(w * r * r))
        return f if math.isfinite(f) else math.inf

    def grad_info(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = fm.expand(x, base)
        r = s - moments.value(values)
        jac = moments.jacobian(values)
        return -2.0 * jac.T @ (w * r), jac.T @ (w[:, None] * jac)

    x, converged, it, warn = _optimise(objective, grad_info, fm.compress(base), max_iter, tol, spec)
    base = _delta_residuals(spec, fm.expand(x, base))
    jac = moments.jacobian(base)
    vcov, e_inv = _robust_vcov(jac, w, ost.gamma, ost.n)
    est, values, improper = _estimate_table(spec, base, x, vcov)
    fit = wlsmv_fit_measures(s, moments.value(values), jac, e_inv, w, ost, npar)
    notes = [f"WLSMV: {ost.n} complete cases, {ost.p} ordered items, {ost.th.size} thresholds"]
    if ost.n_dropped:
        notes.append(f"{ost.n_dropped} row(s) with a missing answer were dropped (listwise)")
    if not ost.converged:
        warn.append("some polychoric correlations did not converge: estimates are approximate")
    return MLResult(
        model=spec,
        stats=st,
        estimates=est,
        fit=fit,
        x=x,
        vcov=vcov,
        converged=converged,
        iterations=it,
        warnings=tuple(warn + improper),
        notes=tuple(notes),
        estimator="WLSMV",
        ordinal=ost,
    )


def _threshold_rows(pt: pd.DataFrame, ost: OrdinalStats) -> tuple[np.ndarray, np.ndarray]:
    """Parameter-table rows of the thresholds and their positions in ``ost.th``."""
    start = np.concatenate([[0], np.cumsum(np.bincount(ost.th_item, minlength=ost.p))])
    item = {v: i for i, v in enumerate(ost.names)}
    rows = np.flatnonzero(pt["op"].to_numpy() == "|")
    pos = np.array(
        [start[item[pt["lhs"].iat[r]]] + int(pt["rhs"].iat[r][1:]) - 1 for r in rows], dtype=int
    )
    return rows, pos


class _ModelStats:
    """The model's thresholds and correlations, and their Jacobian in the free parameters."""

    def __init__(
        self, model: Model, ost: OrdinalStats, th_rows: np.ndarray, th_pos: np.ndarray
    ) -> None:
        self.model = model
        self.i, self.j = pair_index(ost.p)
        self.nth = ost.th.size
        self.th_item = ost.th_item
        self.th_rows = th_rows
        self.th_pos = th_pos
        fm = model.free
        free_k = dict(zip(fm.rows.tolist(), fm.k.tolist(), strict=True))
        self.th_k = np.array([free_k.get(int(r), -1) for r in th_rows], dtype=int)

    def value(self, values: np.ndarray) -> np.ndarray:
        sigma, mu = implied_moments(fill_matrices(self.model.representation, values))
        tau = np.empty(self.nth)
        tau[self.th_pos] = values[self.th_rows]
        return np.concatenate([tau - mu[self.th_item], sigma[self.i, self.j]])

    def jacobian(self, values: np.ndarray) -> np.ndarray:
        model = self.model
        fm = model.free
        mats = fill_matrices(model.representation, values)
        dsigma, dmu = implied_derivatives(model.representation, mats, fm.entries, fm.nparam)
        jac = np.zeros((self.nth + self.i.size, fm.nparam))
        jac[: self.nth] = -dmu[:, self.th_item].T
        free = self.th_k >= 0
        np.add.at(jac, (self.th_pos[free], self.th_k[free]), 1.0)
        jac[self.nth :] = dsigma[:, self.i, self.j].T
        return jac


def _delta_residuals(model: Model, values: np.ndarray) -> np.ndarray:
    """Set each ordered item's residual variance to 1 minus its explained variance."""
    pt, rep = model.partable, model.representation
    out = values.copy()
    sigma, _ = implied_moments(fill_matrices(rep, out))
    ordered = {v for v, _ in model.options.ordered}
    oi = {v: i for i, v in enumerate(rep.ov_names)}
    for r in np.flatnonzero((pt["op"] == "~~").to_numpy() & (pt["lhs"] == pt["rhs"]).to_numpy()):
        v = pt["lhs"].iat[r]
        if v in ordered and pt["free"].iat[r] == 0:
            out[r] = 1.0 - (sigma[oi[v], oi[v]] - out[r])
    return out


def _robust_vcov(
    jac: np.ndarray, w: np.ndarray, gamma: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``robust.sem`` sandwich (divisor ``n - 1``) and ``E^-1 = (Delta' W Delta)^-1``."""
    info = jac.T @ (w[:, None] * jac)
    try:
        e_inv = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        nan = np.full(info.shape, np.nan)
        return nan, nan
    wd = w[:, None] * jac
    return e_inv @ (wd.T @ gamma @ wd) @ e_inv / (n - 1), e_inv


def scaled_shifted(
    chisq: float, df: int, jac: np.ndarray, e_inv: np.ndarray, w: np.ndarray, gamma: np.ndarray
) -> dict[str, float]:
    """The scaled-shifted test (lavaan's ``scaled.shifted``, Asparouhov & Muthen 2010).

    Returns ``chisq_scaled``, ``df_scaled``, ``pvalue_scaled``, ``chisq_scaling_factor``
    (``1/a``) and ``chisq_shift_parameter`` (``b``), where ``chisq_scaled = a chisq + b``.
    """
    if df <= 0:
        return {
            "chisq_scaled": chisq,
            "df_scaled": df,
            "pvalue_scaled": math.nan,
            "chisq_scaling_factor": math.nan,
            "chisq_shift_parameter": math.nan,
        }
    wd = w[:, None] * jac
    u = np.diag(w) - wd @ e_inv @ wd.T
    ug = u @ gamma
    tr_ug = float(np.trace(ug))
    tr_ug2 = float(np.sum(ug * ug.T))
    a = math.sqrt(df / tr_ug2)
    b = df - a * tr_ug
    scaled = a * chisq + b
    return {
        "chisq_scaled": scaled,
        "df_scaled": df,
        "pvalue_scaled": float(sps.chi2.sf(scaled, df)),
        "chisq_scaling_factor": 1.0 / a,
        "chisq_shift_parameter": b,
    }


def wlsmv_fit_measures(
    s: np.ndarray,
    model_s: np.ndarray,
    jac: np.ndarray,
    e_inv: np.ndarray,
    w: np.ndarray,
    ost: OrdinalStats,
    npar: int,
) -> dict[str, float]:
    """The fit measures lavaan gives for a WLSMV fit (``_`` for ``.``).

    The standard test is ``n - 1`` times the DWLS discrepancy; the ``*_scaled`` measures use the
    scaled-shifted statistics of the model and of the baseline model (thresholds free,
    correlations 0). RMSEA uses ``n - 1`` (lavaan for estimators other than ML). SRMR is
    lavaan's for categorical data: the root mean square of the correlation residuals below
    and on the diagonal.
    """
    n, nth = ost.n, ost.th.size
    r = s - model_s
    chisq = (n - 1) * float(np.sum(w * r * r))  # lavaan: fmin = (n - 1) / n * F / 2
    df = s.size - npar
    out: dict[str, float] = {"npar": npar, "ntotal": n, "fmin": chisq / (2.0 * n)}
    out.update({"chisq": chisq, "df": df})
    test = scaled_shifted(chisq, df, jac, e_inv, w, ost.gamma)
    out.update(test)
    # baseline: thresholds fitted exactly, correlations 0
    chisq_b = (n - 1) * float(np.sum(w[nth:] * s[nth:] ** 2))
    df_b = s.size - nth
    jac_b = np.zeros((s.size, nth))
    jac_b[np.arange(nth), np.arange(nth)] = 1.0
    e_inv_b = np.diag(1.0 / w[:nth])
    test_b = scaled_shifted(chisq_b, df_b, jac_b, e_inv_b, w, ost.gamma)
    out.update(_comparative(chisq, df, chisq_b, df_b, n))
    scaled = _comparative(test["chisq_scaled"], df, test_b["chisq_scaled"], df_b, n)
    out["baseline_chisq_scaled"] = test_b["chisq_scaled"]
    out["baseline_df_scaled"] = df_b
    out["baseline_pvalue_scaled"] = test_b["pvalue_scaled"]
    out["baseline_chisq_scaling_factor"] = test_b["chisq_scaling_factor"]
    for key in ("cfi", "tli", "nnfi", "rfi", "nfi", "ifi", "rni"):
        out[f"{key}_scaled"] = scaled[key]
    out.update(_rmsea(chisq, df, n - 1))
    rm_scaled = _rmsea(test["chisq_scaled"], df, n - 1)
    out["rmsea_scaled"] = rm_scaled["rmsea"]
    out["rmsea_ci_lower_scaled"] = rm_scaled["rmsea_ci_lower"]
    out["rmsea_ci_upper_scaled"] = rm_scaled["rmsea_ci_upper"]
    out["rmsea_pvalue_scaled"] = rm_scaled["rmsea_pvalue"]
    resid = r[nth:]
    out["srmr"] = float(np.sqrt(np.sum(resid**2) / (resid.size + ost.p)))
    return out
