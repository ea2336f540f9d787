"""Multi-group ML (lavaan's ``group =``): one block of the model per group, fitted jointly.

The stages are those of :func:`bayes_bmi.ml.fit.fit_ml`, run per group and summed: sample
statistics (or missingness patterns) per group, start values per group, the discrepancy
``F = sum_g (n_g / N) F_g`` (lavaan's ``lav_model_objective`` with groups), Fisher scoring on
the free vector that every group shares (equal parameters hold one entry), standard errors
from the summed expected information (observed under FIML), standardized values per group,
and the fit measures of lavaan with groups: chisq and baseline chisq summed over groups,
RMSEA times ``sqrt(G)``, SRMR averaged with weights ``n_g / N``.

Each group is fitted through a single-group view of the model (:func:`group_views`), a
:class:`~bayes_bmi.lavaan.model.Model` of that group's rows whose free map indexes the full
free vector: the single-group functions run on it unchanged. The Bayesian multi-group model
can reuse :func:`split_groups` and :func:`group_views` the same way.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats as sps

from bayes_bmi.data import DataError, MissingPatterns, SampleStats
from bayes_bmi.errors import OptionError
from bayes_bmi.lavaan.model import Model
from bayes_bmi.lavaan.partable import ModelSpecError
from bayes_bmi.lavaan.representation import (
    FreeMap,
    fill_matrices,
    implied_derivatives,
    implied_moments,
)
from bayes_bmi.lavaan.start import start_values
from bayes_bmi.ml.fiml import complete_information, em_saturated, fiml_loglik, fiml_moment_gradient
from bayes_bmi.ml.fit import (
    MLResult,
    _defined_jacobian,
    _estimate_table,
    _fiml_gradient_information,
    _gradient_information,
    _inverse_information,
    _objective,
    _optimise,
    _x_indices,
    model_patterns,
    model_stats,
    resolve_missing,
)
from bayes_bmi.ml.fitmeasures import count_moments, fiml_fit_measures, fit_measures, rmsea_ci

__all__ = ["GroupedData", "combine_fit_measures", "fit_ml_groups", "group_views", "split_groups"]


@dataclass(frozen=True, eq=False)
class GroupedData:
    """The data split by a grouping column, groups in order of first appearance (lavaan).

    Attributes
    ----------
    column : str
        The grouping column.
    labels : tuple of str
        Group labels; group ``g`` (1-based, the table's ``group``) is ``labels[g - 1]``.
    frames : tuple of pandas.DataFrame
        The rows of each group.
    n_unlabelled : int
        Rows whose group is missing (dropped).
    """

    column: str
    labels: tuple[str, ...]
    frames: tuple[pd.DataFrame, ...]
    n_unlabelled: int = 0


def split_groups(data: pd.DataFrame, column: str, source: str = "data") -> GroupedData:
    """Split ``data`` by ``column``, the groups numbered in order of first appearance.

    Raises
    ------
    OptionError
        When ``column`` is not a column of the data (with the closest names), or it holds a
        single group.
    """
    if column not in data.columns:
        close = difflib.get_close_matches(column, [str(c) for c in data.columns], n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise OptionError(
            f"group: {column!r} is not a column of {source}{hint}; columns: "
            f"{', '.join(map(str, data.columns[:20]))}"
        )
    col = data[column]
    keep = col.notna().to_numpy()
    values = col[keep].astype(str)
    labels = tuple(pd.unique(values))
    if len(labels) < 2:
        raise OptionError(
            f"group: column {column!r} of {source} has {len(labels)} group(s); a multi-group "
            "model needs at least 2 (leave group out for a single-group fit)"
        )
    kept = data.loc[keep]
    frames = tuple(kept.loc[(values == lab).to_numpy()] for lab in labels)
    return GroupedData(column, labels, frames, int((~keep).sum()))


def group_views(model: Model) -> tuple[Model, ...]:
    """One single-group :class:`Model` per group of a multi-group model.

    A view holds the group's rows (``GroupBlock.partable``) and its representation; its free
    map fills those rows from the model's full free vector, so the single-group ML functions
    (objective, gradient, information, estimates table) work on it unchanged.
    """
    if not model.blocks:
        raise ModelSpecError(f"{model.filename or '<model>'}: the model has a single group")
    return tuple(
        replace(model, partable=b.partable, representation=b.representation, free=b.free, blocks=())
        for b in model.blocks
    )


def _check_sizes(model: Model, counts: list[int], grouped: GroupedData, source: str) -> None:
    p = len(model.ov_names)
    for lab, n in zip(grouped.labels, counts, strict=True):
        if n <= p:
            raise DataError(
                f"{source}: group {lab!r} of column {grouped.column!r} has {n} usable case(s) "
                f"but the model has {p} observed variables; each group needs more cases than "
                "variables (merge small groups or drop them)"
            )


def _check_identified(model: Model, views: tuple[Model, ...]) -> None:
    ndat = sum(
        count_moments(len(v.ov_names), _x_indices(v).size, v.representation.meanstructure)
        for v in views
    )
    if model.nparam > ndat:
        raise ModelSpecError(
            f"{model.filename or '<model>'}: the model has {model.nparam} free parameters but "
            f"the groups give only {ndat} sample moments (df = {ndat - model.nparam}); fix or "
            "equate parameters across groups (group_equal)"
        )


def fit_ml_groups(
    model: Model,
    data: pd.DataFrame,
    group: str,
    *,
    source: str = "data",
    missing: str | None = None,
    max_iter: int = 500,
    tol: float = 1e-10,
) -> MLResult:
    """Fit a multi-group model by ML, as lavaan's ``sem(..., group = )``.

    Parameters
    ----------
    model : Model
        Specified with ``ModelOptions(ngroups=G, ...)``, ``G`` the number of groups in
        ``data[group]``.
    data : pandas.DataFrame
    group : str
        The grouping column; groups are numbered in order of first appearance.
    source : str
    missing : {"fiml", "listwise"} or None
        As :func:`bayes_bmi.ml.fit.fit_ml`, per group.
    max_iter, tol : see :func:`bayes_bmi.ml.fit.fit_ml`

    Returns
    -------
    MLResult
        ``estimates`` has a ``group`` column; ``stats`` is group 1's; ``group_labels``,
        ``group_stats`` (and ``group_patterns`` under FIML) hold every group's; ``fit`` adds
        ``chisq_group_<g>``, each group's share of chisq.
    """
    if group in model.ov_names:
        raise OptionError(
            f"group: {group!r} is a variable of the model; the grouping column must be another "
            "column of the data"
        )
    grouped = split_groups(data, group, source)
    if model.ngroups != len(grouped.labels):
        raise ModelSpecError(
            f"{model.filename or '<model>'}: the model was specified for {model.ngroups} "
            f"group(s) but column {group!r} has {len(grouped.labels)}"
        )
    views = group_views(model)
    method = resolve_missing(views[0], data, missing, source)
    if method == "fiml":
        return _fit_fiml_groups(model, views, grouped, source, max_iter, tol)
    stats = [
        model_stats(v, f, f"{source} (group {lab!r} of column {grouped.column!r})")
        for v, f, lab in zip(views, grouped.frames, grouped.labels, strict=True)
    ]
    _check_sizes(model, [s.n for s in stats], grouped, source)
    _check_identified(model, views)
    n_total = sum(s.n for s in stats)
    w = [s.n / n_total for s in stats]
    base = _start(model, views, stats)
    bases = [base[b.rows] for b in model.blocks]

    def objective(x: np.ndarray) -> float:
        return sum(
            wg * _objective(v, v.free, bg, st, x)
            for wg, v, bg, st in zip(w, views, bases, stats, strict=True)
        )

    local = [_local(v) for v in views]

    def grad_info(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grad = np.zeros(model.nparam)
        info = np.zeros((model.nparam, model.nparam))
        for wg, (v, used), bg, st in zip(w, local, bases, stats, strict=True):
            g, i = _gradient_information(v, v.free, bg, st, x[used])
            grad[used] += wg * g
            info[np.ix_(used, used)] += wg * i
        return grad, info

    x, converged, it, warn = _optimise(
        objective, grad_info, model.free.compress(base), max_iter, tol, model
    )
    vcov, singular = _inverse_information(grad_info(x)[1], n_total)
    est, improper = _group_estimates(model, views, bases, base, x, vcov)
    parts = []
    for v, bg, st in zip(views, bases, stats, strict=True):
        sigma, mu = implied_moments(fill_matrices(v.representation, v.free.expand(x, bg)))
        parts.append(fit_measures(st, sigma, mu, 0, v.representation.meanstructure, _x_indices(v)))
    fit = combine_fit_measures(parts, [s.n for s in stats], model.nparam)
    return MLResult(
        model=model,
        stats=stats[0],
        estimates=est,
        fit=fit,
        x=x,
        vcov=vcov,
        converged=converged,
        iterations=it,
        warnings=tuple(warn + singular + improper),
        notes=_notes(grouped, [s.n for s in stats]),
        group=group,
        group_labels=grouped.labels,
        group_stats=tuple(stats),
    )


def _local(view: Model) -> tuple[Model, np.ndarray]:
    """A group's view with its free map on the parameters it uses, and their indices.

    The derivatives of a group's moments then cost ``k_g^2`` (its own parameters) rather
    than ``k^2`` (every group's): about a quarter with two groups of the same model.
    """
    fm = view.free
    used = np.unique(fm.k)
    remap = np.full(fm.nparam, -1, dtype=int)
    remap[used] = np.arange(used.size)
    entries = (remap[np.asarray(fm.entries[0], dtype=int)], *fm.entries[1:])
    free = FreeMap(rows=fm.rows, k=remap[fm.k], nparam=int(used.size), entries=entries)
    return replace(view, free=free), used


def _start(model: Model, views: tuple[Model, ...], stats: list[SampleStats]) -> np.ndarray:
    """Per-row start values of the full table: each group's, the first group's where shared."""
    base = np.full(len(model.partable), np.nan)
    for b, v, st in zip(model.blocks, views, stats, strict=True):
        base[b.rows] = start_values(v.partable, v.representation, st, std_lv=model.options.std_lv)
    return model.free.expand(model.free.compress(base), base)


def _group_estimates(
    model: Model,
    views: tuple[Model, ...],
    bases: list[np.ndarray],
    base: np.ndarray,
    x: np.ndarray,
    vcov: np.ndarray,
) -> tuple[pd.DataFrame, list[str]]:
    """The estimates table of every group (std values per group) plus the ``:=`` rows."""
    pt = model.partable
    est = pt.copy()
    cols = ["est", "se", "z", "pvalue", "ci_lower", "ci_upper", "std_lv", "std_all"]
    for c in cols:
        est[c] = np.nan
    warn: list[str] = []
    for b, v, bg in zip(model.blocks, views, bases, strict=True):
        table, _, improper = _estimate_table(v, bg, x, vcov)
        for c in cols:
            est.loc[est.index[b.rows], c] = table[c].to_numpy()
        lab = f"group {b.group}: "
        warn += [lab + w for w in improper]
    def_rows = np.flatnonzero(pt["op"].to_numpy() == ":=")
    if def_rows.size:
        from bayes_bmi.lavaan.standardized import defined_values

        values = defined_values(pt, model.free.expand(x, base))
        jac = _defined_jacobian(pt, model.free, base, x, def_rows)
        se = np.sqrt(np.clip(np.diag(jac @ vcov @ jac.T), 0.0, None))
        z = values[def_rows] / se
        zcrit = sps.norm.ppf(0.975)
        est.loc[est.index[def_rows], "est"] = values[def_rows]
        est.loc[est.index[def_rows], "se"] = se
        est.loc[est.index[def_rows], "z"] = z
        est.loc[est.index[def_rows], "pvalue"] = 2.0 * sps.norm.sf(np.abs(z))
        est.loc[est.index[def_rows], "ci_lower"] = values[def_rows] - zcrit * se
        est.loc[est.index[def_rows], "ci_upper"] = values[def_rows] + zcrit * se
        for c in ("std_lv", "std_all"):
            est.loc[est.index[def_rows], c] = defined_values(pt, est[c].to_numpy())[def_rows]
    return est, warn


def combine_fit_measures(
    parts: list[dict[str, float]], counts: list[int], npar: int
) -> dict[str, float]:
    """Fit measures of a multi-group fit from each group's (computed with ``npar=0``).

    chisq, its baseline and the log-likelihoods add up over groups, the degrees of freedom are
    the summed moments minus ``npar``, RMSEA (and its interval) is the single-group formula on
    the total ``N`` times ``sqrt(G)`` (lavaan), SRMR is the groups' SRMR weighted by
    ``n_g / N``.
    """
    n = int(sum(counts))
    g = len(parts)
    chisq = float(sum(p["chisq"] for p in parts))
    ndat = int(sum(p["df"] for p in parts))
    df = ndat - npar
    chisq_b = float(sum(p["baseline_chisq"] for p in parts))
    df_b = int(sum(p["baseline_df"] for p in parts))
    logl = float(sum(p["logl"] for p in parts))
    logl_h1 = float(sum(p["unrestricted_logl"] for p in parts))
    from bayes_bmi.ml.fitmeasures import _comparative

    out: dict[str, float] = {"npar": npar, "ntotal": n, "fmin": chisq / (2.0 * n)}
    out.update({"chisq": chisq, "df": df})
    out.update(_comparative(chisq, df, chisq_b, df_b, n))
    out.update(
        {
            "logl": logl,
            "unrestricted_logl": logl_h1,
            "aic": -2.0 * logl + 2.0 * npar,
            "bic": -2.0 * logl + npar * math.log(n),
            "bic2": -2.0 * logl + npar * math.log((n + 2.0) / 24.0),
        }
    )
    if df > 0:
        scale = math.sqrt(g)
        lo, hi = rmsea_ci(chisq, df, n)
        out["rmsea"] = math.sqrt(max(chisq - df, 0.0) / (df * n)) * scale
        out["rmsea_ci_lower"], out["rmsea_ci_upper"] = lo * scale, hi * scale
        out["rmsea_pvalue"] = float(sps.ncx2.sf(chisq, df, n * df * 0.05**2 / g))
    else:
        out["rmsea"] = 0.0 if df == 0 else math.nan
        out["rmsea_ci_lower"] = out["rmsea_ci_upper"] = out["rmsea"]
        out["rmsea_pvalue"] = math.nan
    out["srmr"] = float(sum(c * p["srmr"] for c, p in zip(counts, parts, strict=True)) / n)
    for i, p in enumerate(parts, start=1):
        out[f"chisq_group_{i}"] = float(p["chisq"])
    return out


def _notes(grouped: GroupedData, counts: list[int]) -> tuple[str, ...]:
    sizes = ", ".join(f"{lab} {n}" for lab, n in zip(grouped.labels, counts, strict=True))
    notes = [f"{len(counts)} groups by {grouped.column!r} (cases: {sizes})"]
    if grouped.n_unlabelled:
        notes.append(f"{grouped.n_unlabelled} row(s) with a missing {grouped.column!r} dropped")
    return tuple(notes)


def _fit_fiml_groups(
    model: Model,
    views: tuple[Model, ...],
    grouped: GroupedData,
    source: str,
    max_iter: int,
    tol: float,
) -> MLResult:
    """Full-information ML per group (patterns per group), summed as the listwise fit."""
    if not model.representation.meanstructure:  # pragma: no cover - groups model the means
        raise OptionError("missing='fiml' with groups needs the means modelled")
    pats: list[MissingPatterns] = [
        model_patterns(v, f, f"{source} (group {lab!r} of column {grouped.column!r})")
        for v, f, lab in zip(views, grouped.frames, grouped.labels, strict=True)
    ]
    _check_sizes(model, [p.n for p in pats], grouped, source)
    _check_identified(model, views)
    h1 = [em_saturated(p) for p in pats]
    stats = [
        SampleStats(names=p.names, n=p.n, mean=m, cov=s, n_dropped=p.n_empty + p.n_dropped)
        for p, (m, s, _, _) in zip(pats, h1, strict=True)
    ]
    n_total = sum(p.n for p in pats)
    base = _start(model, views, stats)
    bases = [base[b.rows] for b in model.blocks]
    scale = -2.0 / n_total

    def objective(x: np.ndarray) -> float:
        total = 0.0
        for v, bg, pat in zip(views, bases, pats, strict=True):
            sigma, mu = implied_moments(fill_matrices(v.representation, v.free.expand(x, bg)))
            total += fiml_loglik(pat, sigma, mu)
        return scale * total

    local = [_local(v) for v in views]

    def grad_info(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grad = np.zeros(model.nparam)
        info = np.zeros((model.nparam, model.nparam))
        for (v, used), bg, pat in zip(local, bases, pats, strict=True):
            rep, fm = v.representation, v.free
            mats = fill_matrices(rep, fm.expand(x[used], bg))
            sigma, mu = implied_moments(mats)
            dsigma, dmu = implied_derivatives(rep, mats, fm.entries, fm.nparam)
            g_sigma, g_mu = fiml_moment_gradient(pat, sigma, mu)
            grad[used] += np.einsum("ab,kab->k", g_sigma, dsigma) + dmu @ g_mu
            info[np.ix_(used, used)] += complete_information(pat.n, sigma, dsigma, dmu)
        return scale * grad, info / n_total

    x, converged, it, warn = _optimise(
        objective, grad_info, model.free.compress(base), max_iter, tol, model
    )
    try:
        info = np.zeros((model.nparam, model.nparam))
        for (v, used), bg, pat in zip(local, bases, pats, strict=True):
            part = _fiml_gradient_information(v, pat, bg, x[used], observed=True)[1]
            info[np.ix_(used, used)] += part
    except np.linalg.LinAlgError:
        info = np.full((model.nparam, model.nparam), np.nan)
    vcov, singular = _inverse_information(np.asarray(info) / n_total, n_total)
    est, improper = _group_estimates(model, views, bases, base, x, vcov)
    parts = []
    for v, bg, pat, (mu_h1, sigma_h1, _, _) in zip(views, bases, pats, h1, strict=True):
        sigma, mu = implied_moments(fill_matrices(v.representation, v.free.expand(x, bg)))
        parts.append(fiml_fit_measures(pat, sigma, mu, sigma_h1, mu_h1, 0, _x_indices(v)))
    fit = combine_fit_measures(parts, [p.n for p in pats], model.nparam)
    if not all(ok for _, _, _, ok in h1):
        warn.append("the EM estimates of the unrestricted model did not converge in a group")
    return MLResult(
        model=model,
        stats=stats[0],
        estimates=est,
        fit=fit,
        x=x,
        vcov=vcov,
        converged=converged,
        iterations=it,
        warnings=tuple(warn + singular + improper),
        missing="fiml",
        patterns=pats[0],
        notes=_notes(grouped, [p.n for p in pats]),
        group=grouped.column,
        group_labels=grouped.labels,
        group_stats=tuple(stats),
        group_patterns=tuple(pats),
    )
