"""Model checks of a multi-group Bayesian fit: PPP, Bayesian fit indices, residuals, LOO, WAIC.

The single-group definitions of :mod:`bayes_bmi.checking.ppc`, summed over groups as lavaan
and blavaan do with ``group =``:

* **discrepancy** per draw ``s``: ``T(y; theta_s) = sum_g n_g F_ML(S_g, ybar_g; Sigma_gs,
  mu_gs)``, each group's likelihood-ratio chi-square against its own saturated model (lavaan's
  multi-group ``chisq``, the sum of ``chisq.group``; blavaan's ``2 (samplls[, 2] -
  samplls[, 1])`` with both log-likelihoods summed over groups). Under FIML each group's term
  is its full-information chi-square against its EM-fitted unrestricted moments;
* **PPP**: every group's data replicated from its implied moments with its own ``n_g`` (and,
  under FIML, its cases' missingness), ``T(y_rep; theta_s)`` summed over groups;
* **fit indices** (``devM``): ``p* = sum_g p*_g`` with the means modelled in every group
  (blavaan's ``BayesChiFit``: ``p = (nvar (nvar + 1) / 2 + nvar) * Ngr``, here less the fixed
  covariates' moments as in the single-group case), ``N`` the total number of cases and BRMSEA
  multiplied by ``sqrt(G)`` (blavaan, lavaan's multi-group RMSEA);
* **LOO / WAIC**: each case's log-density under its group's implied moments (the fit's lazy
  ``log_likelihood/y``, :class:`~bayes_bmi.bayes.groups.GroupCasewiseLoglik`);
* **residual correlations** per group (``group`` and ``group_label`` columns).

The means are always modelled with groups (``means = "model"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayes_bmi.bayes.posterior import implied_draws
from bayes_bmi.checking.ppc import (
    Baseline,
    ModelCheck,
    PPPCheck,
    _p_d,
    bayes_fit_indices,
    correlation,
    exogenous_indices,
    fiml_chisq,
    information_criteria,
    lr_chisq,
    ppp_draw_index,
    ppp_value,
    replicate_fiml,
    replicate_moments,
    residual_table,
    summarise_indices,
)
from bayes_bmi.ml.fiml import pattern_loglik
from bayes_bmi.ml.fitmeasures import count_moments

if TYPE_CHECKING:
    from bayes_bmi.bayes.sampling import BayesResult

__all__ = [
    "group_baseline",
    "group_discrepancy",
    "group_moment_draws",
    "group_n_moments",
    "check_groups",
]


def group_moment_draws(result: BayesResult, rows: np.ndarray | None = None) -> list[tuple]:
    """Each group's implied covariance (..., p, p) and mean (..., p) per draw.

    ``rows`` (per-row values, any leading axes) defaults to the posterior draws.
    """
    rows = result.draw_rows() if rows is None else rows
    return [implied_draws(b.representation, rows[..., b.rows]) for b in result.model.blocks]


def group_discrepancy(result: BayesResult, moments: list[tuple]) -> np.ndarray:
    """``T(y; theta_s)``: the groups' likelihood-ratio chi-squares summed, per draw."""
    ml = result.ml
    pats = ml.group_patterns if result.missing == "fiml" else (None,) * len(moments)
    total = 0.0
    for (sigma, mu), st, pat in zip(moments, ml.group_stats, pats, strict=True):
        if pat is not None:
            # st holds the group's EM estimates of the unrestricted moments
            total = total + fiml_chisq(pat, sigma, mu, float(pattern_loglik(pat, st.cov, st.mean)))
        else:
            total = total + lr_chisq(st.n, st.cov, st.mean, sigma, mu)
    return np.asarray(total)


def group_n_moments(result: BayesResult) -> int:
    """``p*``: the sample moments of every group, means included."""
    from bayes_bmi.ml.groups import group_views

    p = result.stats.p
    return sum(
        count_moments(p, exogenous_indices(v).size, meanstructure=True)
        for v in group_views(result.model)
    )


def _group_cases(result: BayesResult, g: int) -> np.ndarray:
    obs = result.idata["observed_data"]
    y = obs["y"].transpose("case", "variable").values
    return y[obs["group"].values == g]


def _group_ppp(
    result: BayesResult, moments: list[tuple], rng: np.random.Generator, ppp_draws: int | None
) -> tuple[PPPCheck, list[np.ndarray]]:
    """The PPP with every group replicated, and each group's replicated covariances."""
    from bayes_bmi.ml.groups import group_views

    ml = result.ml
    fiml = result.missing == "fiml"
    t_obs = group_discrepancy(result, moments)
    lead = t_obs.shape
    n_draws = int(np.prod(lead, dtype=int))
    idx = ppp_draw_index(n_draws, ppp_draws)
    t_rep = np.full(n_draws, np.nan)
    t_rep_idx = np.zeros(idx.size)
    covs = []
    views = group_views(result.model)
    for g, ((sigma, mu), st, v) in enumerate(
        zip(moments, ml.group_stats, views, strict=True), start=1
    ):
        p = sigma.shape[-1]
        sig_f, mu_f = sigma.reshape(-1, p, p)[idx], mu.reshape(-1, p)[idx]
        x_idx = exogenous_indices(v)
        x_data = _group_cases(result, g)[:, x_idx] if x_idx.size else None
        cov_rep = np.full((n_draws, p, p), np.nan)
        if fiml:
            reps = replicate_fiml(
                ml.group_patterns[g - 1], sig_f, mu_f, rng, x_idx=x_idx, x_data=x_data
            )
            t_rep_idx += reps.t_rep
            cov_rep[idx] = reps.cov_h1
        else:
            c_rep, m_rep = replicate_moments(st.n, sig_f, mu_f, rng, x_idx=x_idx, x_data=x_data)
            t_rep_idx += lr_chisq(st.n, c_rep, m_rep, sig_f, mu_f)
            cov_rep[idx] = c_rep
        covs.append(cov_rep.reshape(*lead, p, p))
    t_rep[idx] = t_rep_idx
    used = t_obs.ravel()[idx], t_rep_idx
    invalid = int(np.sum(~(np.isfinite(used[0]) & np.isfinite(used[1]))))
    ppp = PPPCheck(
        t_obs=t_obs,
        t_rep=t_rep.reshape(lead),
        ppp=ppp_value(*used),
        n_moments=group_n_moments(result),
        n_invalid=invalid,
        n_draws=int(idx.size),
        missing=result.missing,
    )
    return ppp, covs


def group_baseline(result: BayesResult, pd_source: str = "loo") -> Baseline:
    """Summarise a fitted multi-group independence model for :func:`check_groups`."""
    crit, _ = information_criteria(result, "model")
    return Baseline(
        chisq=group_discrepancy(result, group_moment_draws(result)),
        p_d=_p_d(crit, pd_source),
        missing=result.missing,
    )


def check_groups(
    result: BayesResult,
    baseline: BayesResult | Baseline | None = None,
    *,
    pd_source: str = "loo",
    seed: int = 0,
    ci_prob: float = 0.90,
    resid_prob: float = 0.95,
    ppp_draws: int | None = None,
) -> ModelCheck:
    """PPP, fit indices, residual correlations per group, LOO and WAIC of a multi-group fit.

    Parameters are those of :func:`bayes_bmi.checking.ppc.check_model` (the means are
    modelled); ``baseline`` is the independence model fitted to the same groups.

    Returns
    -------
    ModelCheck
        ``residuals`` has ``group`` and ``group_label`` columns.
    """
    from bayes_bmi.checking.ppc import FIML_PPP_DRAWS

    if result.group is None:
        raise ValueError("check_groups needs a multi-group fit")
    moments = group_moment_draws(result)
    crit, loo = information_criteria(result, "model")
    if ppp_draws is None and result.missing == "fiml":
        ppp_draws = FIML_PPP_DRAWS
    ppp, cov_rep = _group_ppp(result, moments, np.random.default_rng([seed, 20]), ppp_draws)
    if baseline is not None and not isinstance(baseline, Baseline):
        baseline = group_baseline(baseline, pd_source)
    if baseline is not None and baseline.missing != result.missing:
        raise ValueError(
            f"the baseline model was fitted with missing={baseline.missing!r} and the model "
            f"with {result.missing!r}: fit both with the same missing-data method"
        )
    stats = result.ml.group_stats
    indices = bayes_fit_indices(
        ppp.t_obs,
        _p_d(crit, pd_source),
        ppp.n_moments,
        result.stats.p,
        result.n_cases,
        None if baseline is None else baseline.chisq,
        None if baseline is None else baseline.p_d,
        ngroups=len(stats),
    )
    parts = []
    for g, ((sigma, _), st, rep) in enumerate(zip(moments, stats, cov_rep, strict=True), start=1):
        with np.errstate(invalid="ignore", divide="ignore"):
            table = residual_table(
                st.names, correlation(st.cov), correlation(sigma), correlation(rep), resid_prob
            )
        table.insert(0, "group", g)
        table.insert(1, "group_label", result.group_labels[g - 1])
        parts.append(table)
    return ModelCheck(
        means="model",
        pd_source=pd_source,
        ppp=ppp,
        criteria=crit,
        loo=loo,
        indices=indices,
        index_summary=summarise_indices(indices, ci_prob),
        residuals=pd.concat(parts, ignore_index=True),
        names=tuple(result.stats.names),
    )
