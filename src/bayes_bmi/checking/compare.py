"""Compare alternative models of the same data: LOO, WAIC, PPP, Bayesian and ML fit indices.

Stages of :func:`compare_models`:

1. check that every model explains the same observed variables (LOO and WAIC compare
   predictions of the same data, case by case);
2. fit each model by NUTS, reusing one :class:`~bayes_bmi.bayes.sampling.CompileCache` (or take
   the fits the caller already has); the ML fit of the model as written (as ``bayes-bmi ml``
   and lavaan report it) is read off the ML fit inside each Bayesian fit
   (:func:`~bayes_bmi.ml.fit.without_means`): one ML optimisation per model;
3. fit the independence (baseline) model by NUTS with the same chains and draws;
4. check each model (:func:`bayes_bmi.checking.ppc.check_model`) with one treatment of the means
   for all of them;
5. rank the models by ``elpd_loo`` with :func:`arviz.compare` and assemble one table.

Missing cells: one missing-data method serves every model and the baseline (``missing``;
by default full-information ML when the models' variables have missing cells, as
:func:`~bayes_bmi.bayes.sampling.fit_bayes` decides). Under FIML every model is fitted to every
case with an observed cell, LOO and WAIC score each case on its observed cells, the PPP and the
fit indices use the FIML discrepancy (:mod:`bayes_bmi.checking.ppc`), the ML columns are the
FIML fit (the means modelled, as lavaan's ``missing = "ml"``), and the table's ``missing``
column says which method was used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayes_bmi.bayes.sampling import BayesResult, CompileCache, SamplerConfig, fit_bayes
from bayes_bmi.checking.ppc import (
    MEANS,
    Baseline,
    ModelCheck,
    baseline_from_result,
    check_model,
    resolve_means,
)
from bayes_bmi.errors import BayesBmiError
from bayes_bmi.lavaan.model import Model, specify
from bayes_bmi.ml.fit import MLResult, resolve_missing, without_means

if TYPE_CHECKING:
    from bayes_bmi.bayes.priors import Prior
    from bayes_bmi.checking.ordinal_ppc import OrdinalCheck

__all__ = [
    "COMPARISON_COLUMNS",
    "Comparison",
    "ComparisonError",
    "compare_models",
    "compare_ordinal_models",
    "comparison_table",
    "independence_model",
]

COMPARISON_COLUMNS = (
    "model",
    "rank",
    "elpd_loo",
    "se_elpd_loo",
    "elpd_diff",
    "se_diff",
    "weight",
    "p_loo",
    "looic",
    "se_looic",
    "n_pareto_k_high",
    "waic",
    "se_waic",
    "p_waic",
    "ppp",
    "brmsea",
    "bgammahat",
    "bcfi",
    "btli",
    "ml_chisq",
    "ml_df",
    "ml_pvalue",
    "ml_cfi",
    "ml_tli",
    "ml_rmsea",
    "ml_srmr",
    "ml_aic",
    "ml_bic",
    "missing",
    "converged",
    "max_r_hat",
    "min_ess_bulk",
    "divergences",
)


class ComparisonError(BayesBmiError):
    """Models that cannot be compared as asked (e.g. on different observed variables)."""


@dataclass(frozen=True, eq=False)
class Comparison:
    """Result of :func:`compare_models`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model, best first (:data:`COMPARISON_COLUMNS`).
    results : dict of str to BayesResult
    checks : dict of str to ModelCheck
    ml : dict of str to MLResult
        ML fits of the models as written.
    baseline : BayesResult or None
        The independence model's fit.
    means : str
        Treatment of the means shared by every model (see :mod:`bayes_bmi.checking.ppc`).
    missing : str
        Missing-data method of every fit: ``"listwise"`` or ``"fiml"``.
    warnings : tuple of str
        Plain-language problems: chains that disagree, unreliable LOO or WAIC.
    ordinal : dict of str to OrdinalCheck or None
        Ordinal models (:func:`compare_ordinal_models`): each model's bivariate-table PPP
        with its worst-fitting item pairs.
    """

    table: pd.DataFrame
    results: dict[str, BayesResult]
    checks: dict[str, ModelCheck]
    ml: dict[str, MLResult]
    baseline: BayesResult | None
    means: str
    warnings: tuple[str, ...] = field(default_factory=tuple)
    missing: str = "listwise"
    ordinal: dict[str, OrdinalCheck] | None = None

    def fit_indices(self) -> pd.DataFrame:
        """Posterior summaries of the fit indices of every model (tidy, ``model`` first)."""
        parts = [c.index_summary.assign(model=name) for name, c in self.checks.items()]
        out = pd.concat(parts, ignore_index=True)
        return out[["model", *[c for c in out.columns if c != "model"]]]

    def residuals(self) -> pd.DataFrame:
        """Residual correlations of every model (tidy, ``model`` first)."""
        parts = [c.residuals.assign(model=name) for name, c in self.checks.items()]
        out = pd.concat(parts, ignore_index=True)
        return out[["model", *[c for c in out.columns if c != "model"]]]


def independence_model(names: Sequence[str]) -> Model:
    """The independence (baseline) model: a variance and a mean per variable, nothing else.

    Parameters
    ----------
    names : sequence of str
        Observed variables.

    Returns
    -------
    Model
    """
    lines = [f"{v} ~~ {v}" for v in names] + [f"{v} ~ 1" for v in names]
    if len(names) > 1:
        # an explicit zero covariance (the model is unchanged): with every row free, the
        # compiled sampler drops the fixed-values data container and refuses new data
        lines.append(f"{names[0]} ~~ 0*{names[1]}")
    return specify("\n".join(lines) + "\n", filename="<independence model>")


def _check_same_variables(models: Mapping[str, Model]) -> None:
    if not models:
        raise ComparisonError("no models to compare")
    items = list(models.items())
    first_name, first = items[0]
    ref = set(first.ov_names)
    for name, m in items[1:]:
        cur = set(m.ov_names)
        if cur != ref:
            only_a = sorted(ref - cur)
            only_b = sorted(cur - ref)
            parts = []
            if only_a:
                parts.append(f"only in {first_name}: {', '.join(only_a)}")
            if only_b:
                parts.append(f"only in {name}: {', '.join(only_b)}")
            raise ComparisonError(
                f"models {first_name} and {name} explain different observed variables "
                f"({'; '.join(parts)}). LOO and WAIC compare predictions of the same data: "
                "give every model the same indicators"
            )


def _warnings(name: str, res: BayesResult, check: ModelCheck) -> list[str]:
    out = []
    if not res.converged:
        out += [f"{name}: {p}" for p in res.diagnostics.get("problems", [])]
    crit = check.criteria
    if crit["n_pareto_k_bad"]:
        out.append(
            f"{name}: {crit['n_pareto_k_bad']} case(s) with Pareto k above "
            f"{crit['pareto_k_threshold']:.2f} ({crit['n_pareto_k_high']} above 0.7); LOO is "
            "unreliable for them (influential cases, a misspecified model or too few draws)"
        )
    if crit["n_p_waic_high"]:
        out.append(f"{name}: {crit['n_p_waic_high']} case(s) with p_waic > 0.4; prefer LOO to WAIC")
    if check.ppp.n_invalid:
        out.append(
            f"{name}: {check.ppp.n_invalid} draw(s) with a non-positive-definite implied "
            "covariance were left out of the PPP"
        )
    return out


def compare_models(
    models: Mapping[str, Model],
    data: pd.DataFrame,
    *,
    config: SamplerConfig | None = None,
    cache: CompileCache | None = None,
    priors: Mapping[str, Prior] | None = None,
    baseline: bool = True,
    means: str = "auto",
    pd_source: str = "loo",
    seed: int | None = None,
    source: str = "data",
    fitted: Mapping[str, BayesResult] | None = None,
    missing: str | None = None,
    ppp_draws: int | None = None,
    ordered: bool | Sequence[str] | None = None,
    group: str | None = None,
) -> Comparison:
    """Fit and compare alternative models of the same data.

    Parameters
    ----------
    models : mapping of str to Model
        Named models; all must explain the same observed variables.
    data : pandas.DataFrame
        Raw data.
    config : SamplerConfig, optional
        Sampler settings of every fit (the baseline model's too).
    cache : CompileCache, optional
        Reused across the fits (and across calls when given).
    priors : mapping, optional
        Default priors per kind, passed to :func:`~bayes_bmi.bayes.sampling.fit_bayes`.
    baseline : bool
        Fit the independence model and report ``BCFI``, ``BTLI`` and ``BNFI``.
    means : str
        One of :data:`~bayes_bmi.checking.ppc.MEANS`. With ``"auto"`` the means are treated as
        saturated when they are so in every model, otherwise as modelled in all of them (always
        modelled under FIML).
    pd_source : str
        ``pD`` of the fit indices: ``"loo"`` or ``"waic"``.
    seed : int, optional
        Seed of the replicated data sets (default: the sampler's seed).
    source : str
        Name of the data, for messages.
    fitted : mapping of str to BayesResult, optional
        Bayesian fits already made of some of ``models`` (same names), on the same data with
        the same ``config``, ``priors`` and ``cache`` (e.g. a study's main model): reused, not
        fitted again; they must use the comparison's missing-data method.
    missing : {"fiml", "listwise"} or None
        Missing-data method of every fit (the baseline's too). ``None``: ``"fiml"`` when the
        models' variables have missing cells in ``data``, else ``"listwise"``.
    ppp_draws : int, optional
        Draws replicated for each PPP (:func:`~bayes_bmi.checking.ppc.check_model`).
    ordered : bool or sequence of str, optional
        Ordered items: the models are cumulative-probit models compared by
        :func:`compare_ordinal_models` (``baseline``, ``means`` and ``missing`` do not apply).
    group : str, optional
        The grouping column: every model is a multi-group model (specified for the groups of
        ``data[group]``, e.g. configural against metric) fitted with ``group=``, checked by
        :func:`~bayes_bmi.checking.groups_check.check_groups` (means modelled), the
        independence model fitted by group too.

    Returns
    -------
    Comparison

    Raises
    ------
    ComparisonError
        When there is no model, the models explain different variables, or a given fit used
        another missing-data method.
    """
    if ordered:
        return compare_ordinal_models(
            models, data, ordered=ordered, config=config, cache=cache, priors=priors,
            seed=seed, source=source, fitted=fitted, ppp_draws=ppp_draws,
        )  # fmt: skip
    if means not in MEANS:
        raise ValueError(f"unknown means {means!r}. Must be one of: {', '.join(MEANS)}")
    models = dict(models)
    _check_same_variables(models)
    config = config or SamplerConfig()
    cache = cache if cache is not None else CompileCache()
    seed = config.seed if seed is None else seed
    prior_dict = dict(priors) if priors is not None else None
    # one method for every model: the models share their variables, so the first one decides
    first = next(iter(models.values()))
    if group is not None:
        from bayes_bmi.ml.groups import group_views

        if means == "saturated":
            raise ComparisonError("means='saturated' is not available with groups")
        first = group_views(first)[0]
    method = resolve_missing(first, data, missing, source)
    if method == "fiml":
        resolve_means(first, means, fiml=True)  # before any fit

    fitted = dict(fitted or {})
    unknown = sorted(set(fitted) - set(models))
    if unknown:
        raise ComparisonError(f"fits given for models not compared: {', '.join(unknown)}")
    other = sorted(k for k, r in fitted.items() if r.missing != method)
    if other:
        raise ComparisonError(
            f"the fits given for {', '.join(other)} did not use missing={method!r}, the "
            "comparison's missing-data method: refit them or pass missing= to match"
        )
    results: dict[str, BayesResult] = {}
    ml: dict[str, MLResult] = {}
    for name, model in models.items():
        if name in fitted:
            results[name] = fitted[name]
        else:
            results[name] = fit_bayes(
                model,
                data,
                config=config,
                priors=prior_dict,
                cache=cache,
                source=source,
                missing=method,
                group=group,
            )
        # full-information ML always models the means (lavaan's missing = "ml"), as groups do
        res_ml = results[name].ml
        ml[name] = res_ml if method == "fiml" or group else without_means(res_ml, model)
    ns = {name: r.n_cases for name, r in results.items()}
    if len(set(ns.values())) > 1:
        raise ComparisonError(
            f"the models use different numbers of cases ({ns}); compare them on the same cases"
        )

    if group is not None:
        return _compare_groups(results, ml, data, config, prior_dict, cache, source, method,
                               group, baseline, pd_source, seed, ppp_draws)  # fmt: skip
    resolved = {resolve_means(r.model, means, fiml=method == "fiml") for r in results.values()}
    shared = "saturated" if resolved == {"saturated"} else "model"

    base_res: BayesResult | None = None
    base: Baseline | None = None
    names = next(iter(results.values())).stats.names
    if baseline and len(names) > 1:
        base_res = fit_bayes(
            independence_model(names),
            data,
            config=config,
            priors=prior_dict,
            cache=cache,
            source=source,
            missing=method,
        )
        base = baseline_from_result(base_res, shared, pd_source)

    checks = {
        name: check_model(
            res, base, means=shared, pd_source=pd_source, seed=seed, ppp_draws=ppp_draws
        )
        for name, res in results.items()
    }
    return _comparison(results, checks, ml, base_res, shared, method)


def compare_ordinal_models(
    models: Mapping[str, Model],
    data: pd.DataFrame,
    *,
    ordered: bool | Sequence[str] = True,
    config: SamplerConfig | None = None,
    cache: CompileCache | None = None,
    priors: Mapping[str, Prior] | None = None,
    seed: int | None = None,
    source: str = "data",
    fitted: Mapping[str, BayesResult] | None = None,
    ppp_draws: int | None = None,
    loo_draws: int | None = None,
) -> Comparison:
    """Fit ordinal (cumulative-probit) models of the same items and rank them by LOO.

    Each model is fitted by :func:`~bayes_bmi.bayes.ordinal_sampling.fit_bayes_ordinal` and
    checked by :func:`~bayes_bmi.checking.ordinal_loo.check_ordinal`: PSIS-LOO and WAIC from
    each case's marginal likelihood (on at most ``loo_draws`` draws), the PPP from the items'
    bivariate tables. The table's Bayesian fit indices and ML columns are empty (they rest on
    the continuous model's discrepancy and likelihood); ``missing`` is ``"observed cells"``
    (each case's observed items; cases with none are dropped).

    Parameters
    ----------
    models, data, config, cache, priors, seed, source, fitted
        As :func:`compare_models`.
    ordered : bool or sequence of str
        Ordered items (for now every observed variable).
    ppp_draws : int, optional
        Draws replicated for each PPP (default
        :data:`~bayes_bmi.checking.ordinal_loo.PPP_DRAWS`).
    loo_draws : int, optional
        At most this many draws for LOO and WAIC (default
        :data:`~bayes_bmi.checking.ordinal_loo.LOO_DRAWS`).

    Returns
    -------
    Comparison
        With ``ordinal`` (each model's :class:`~bayes_bmi.checking.ordinal_ppc.OrdinalCheck`)
        and no baseline.
    """
    from bayes_bmi.bayes.ordinal_sampling import fit_bayes_ordinal
    from bayes_bmi.checking.ordinal_loo import LOO_DRAWS, PPP_DRAWS, check_ordinal

    models = dict(models)
    _check_same_variables(models)
    config = config or SamplerConfig()
    cache = cache if cache is not None else CompileCache()
    seed = config.seed if seed is None else seed
    fitted = dict(fitted or {})
    unknown = sorted(set(fitted) - set(models))
    if unknown:
        raise ComparisonError(f"fits given for models not compared: {', '.join(unknown)}")
    results: dict[str, BayesResult] = {}
    for name, model in models.items():
        results[name] = fitted.get(name) or fit_bayes_ordinal(
            model, data, ordered if ordered is True else list(ordered), config=config,
            priors=dict(priors) if priors is not None else None, cache=cache, source=source,
        )  # fmt: skip
        if results[name].ordinal is None:
            raise ComparisonError(f"the fit given for {name} is not an ordinal fit")
    ns = {name: r.ordinal.n for name, r in results.items()}
    if len(set(ns.values())) > 1:
        raise ComparisonError(
            f"the models use different numbers of cases ({ns}); compare them on the same cases"
        )
    checks, ordinal = {}, {}
    for name, res in results.items():
        checks[name], ordinal[name] = check_ordinal(
            res, seed=seed, ppp_draws=ppp_draws or PPP_DRAWS, loo_draws=loo_draws or LOO_DRAWS
        )
    warnings: list[str] = []
    for name in results:
        warnings += _warnings(name, results[name], checks[name])
    nan_fit = dict.fromkeys(("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"),
                            np.nan)  # fmt: skip
    no_ml = {name: SimpleNamespace(fit=nan_fit) for name in results}
    table = comparison_table(results, checks, no_ml, _elpd(checks))
    table["missing"] = "observed cells"
    return Comparison(
        table=table, results=results, checks=checks, ml={}, baseline=None, means="model",
        warnings=tuple(warnings), missing="observed cells", ordinal=ordinal,
    )  # fmt: skip


def _compare_groups(
    results, ml, data, config, priors, cache, source, method, group, baseline, pd_source, seed,
    ppp_draws,
) -> Comparison:  # fmt: skip
    """The checks and table of :func:`compare_models` with ``group`` (fits made)."""
    from bayes_bmi.checking.groups_check import check_groups, group_baseline

    base_res: BayesResult | None = None
    base: Baseline | None = None
    names = next(iter(results.values())).stats.names
    if baseline and len(names) > 1:
        base_res = fit_bayes(
            independence_model(names), data, config=config, priors=priors, cache=cache,
            source=source, missing=method, group=group,
        )  # fmt: skip
        base = group_baseline(base_res, pd_source)
    checks = {
        name: check_groups(res, base, pd_source=pd_source, seed=seed, ppp_draws=ppp_draws)
        for name, res in results.items()
    }
    return _comparison(results, checks, ml, base_res, "model", method)


def _elpd(checks: Mapping[str, ModelCheck]) -> pd.DataFrame:
    """:func:`arviz.compare` of the models' LOO (a one-row stand-in for a single model)."""
    import arviz as az

    if len(checks) > 1:
        return az.compare({k: c.loo for k, c in checks.items()}, round_to="none")
    only = next(iter(checks))
    return pd.DataFrame(
        {"rank": [0], "elpd_diff": [0.0], "dse": [0.0], "weight": [1.0]}, index=[only]
    )


def comparison_table(
    results: Mapping[str, BayesResult],
    checks: Mapping[str, ModelCheck],
    ml: Mapping[str, MLResult],
    elpd: pd.DataFrame,
) -> pd.DataFrame:
    """Assemble the comparison table (one row per model, best first).

    Parameters
    ----------
    results, checks, ml : mappings keyed by model name
    elpd : pandas.DataFrame
        :func:`arviz.compare` output (index: model names; ``rank, elpd_diff, dse, weight``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COMPARISON_COLUMNS`. ``elpd_diff`` is the model's ``elpd_loo`` minus
        the best model's (0 or negative) and ``se_diff`` its standard error.
    """
    rows = []
    for name, check in checks.items():
        crit = check.criteria
        idx = check.index_means()
        fit = ml[name].fit
        diag = results[name].diagnostics
        rows.append(
            {
                "model": name,
                "rank": int(elpd.loc[name, "rank"]),
                "elpd_loo": crit["elpd_loo"],
                "se_elpd_loo": crit["se_elpd_loo"],
                "elpd_diff": -abs(float(elpd.loc[name, "elpd_diff"])),
                "se_diff": float(elpd.loc[name, "dse"]),
                "weight": float(elpd.loc[name, "weight"]),
                "p_loo": crit["p_loo"],
                "looic": crit["looic"],
                "se_looic": crit["se_looic"],
                "n_pareto_k_high": crit["n_pareto_k_high"],
                "waic": crit["waic"],
                "se_waic": crit["se_waic"],
                "p_waic": crit["p_waic"],
                "ppp": check.ppp.ppp,
                "brmsea": idx.get("BRMSEA", np.nan),
                "bgammahat": idx.get("BGammaHat", np.nan),
                "bcfi": idx.get("BCFI", np.nan),
                "btli": idx.get("BTLI", np.nan),
                "ml_chisq": fit["chisq"],
                "ml_df": fit["df"],
                "ml_pvalue": fit["pvalue"],
                "ml_cfi": fit["cfi"],
                "ml_tli": fit["tli"],
                "ml_rmsea": fit["rmsea"],
                "ml_srmr": fit["srmr"],
                "ml_aic": fit["aic"],
                "ml_bic": fit["bic"],
                "missing": results[name].missing,
                "converged": bool(results[name].converged),
                "max_r_hat": diag.get("max_r_hat", np.nan),
                "min_ess_bulk": diag.get("min_ess_bulk", np.nan),
                "divergences": diag.get("divergences", 0),
            }
        )
    table = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    return table.sort_values(["rank", "model"], kind="stable").reset_index(drop=True)


def _comparison(results, checks, ml, base_res, means: str, method: str) -> Comparison:
    """The :class:`Comparison` of checked fits, with each fit's and the baseline's warnings."""
    warnings: list[str] = []
    for name in results:
        warnings += _warnings(name, results[name], checks[name])
    if base_res is not None and not base_res.converged:
        warnings.append(
            "independence model: "
            + "; ".join(base_res.diagnostics.get("problems", ["did not converge"]))
        )
    return Comparison(
        table=comparison_table(results, checks, ml, _elpd(checks)),
        results=results,
        checks=checks,
        ml=ml,
        baseline=base_res,
        means=means,
        warnings=tuple(warnings),
        missing=method,
    )
