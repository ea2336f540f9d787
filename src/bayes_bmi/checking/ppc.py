"""Model checking: posterior predictive p-value, Bayesian fit indices, residuals, LOO and WAIC.

Definitions follow blavaan 0.4 (``postpred()``, ``BayesChiFit()``, ``blavFitIndices()``,
``fitMeasures()``) and Garnier-Villarreal & Jorgensen (2020, *Psychological Methods* 25(4)):

* **discrepancy** per draw ``s``: the likelihood-ratio chi-square against the saturated model,
  ``T(y; theta_s) = -2 [logL(theta_s; y) - logL_sat(y)] = n F_ML(S, ybar; Sigma_s, mu_s)``;
* **PPP**: replicate ``y_rep ~ N(mu_s, Sigma_s)`` with ``n`` rows per draw (fixed exogenous
  covariates kept at their observed values, the rest drawn given them, as blavaan does);
  ``PPP = mean_s [T(y_rep; theta_s) >= T(y; theta_s)]``. Values near 0 flag misfit; about
  0.5 is what a correct model gives;
* **fit indices** (blavaan's default ``rescale = "devM"``): with ``p*`` sample moments and
  ``pD`` the effective number of parameters (``p_loo`` by default), ``df = p* - pD`` and the
  noncentrality ``nonc_s = max(T_s - p*, 0)``; then ``BRMSEA = sqrt(nonc / (df n))``,
  ``BGammaHat = p / (p + 2 nonc / n)``, ``adjBGammaHat = 1 - (p*/df)(1 - BGammaHat)``,
  ``BMc = exp(-nonc / (2 n))``; with the independence (baseline) model fitted by MCMC as well,
  draw ``s`` of both paired: ``BCFI = 1 - nonc / (T0 - p*)``,
  ``BTLI = ((T0 - pD0)/df0 - (T - pD)/df) / ((T0 - pD0)/df0 - 1)`` and
  ``BNFI = ((T0 - pD0) - (T - pD)) / (T0 - pD0)``;
* **residual correlations**: observed correlation minus the implied correlation of each draw;
  their posterior predictive p-value compares ``|r_rep - rho_s|`` with ``|r_obs - rho_s|``;
* **LOO** (PSIS, :func:`arviz.loo`) and **WAIC** (computed here: arviz 1.3 has none) from the
  casewise log-likelihood.

The means. blavaan fits a model without intercept statements to complete data *without* a mean
structure: the means are saturated (``mu = ybar``), ``p*`` counts covariances only and the
casewise log-likelihood uses ``ybar``. bayes-bmi always samples intercepts; with
``means="saturated"`` the checks replace ``mu_s`` by ``ybar`` (the posterior of ``Sigma`` is
the same up to a factor ``|Sigma|^(1/2)``), which reproduces blavaan's LOOIC, WAIC and
``p*``. ``means="model"`` uses the sampled ``mu_s`` and counts the means among the moments.
``"auto"`` (default) picks ``"saturated"`` when the mean structure is saturated and the user
wrote no intercept statements, as blavaan does.

Missing cells (a FIML fit: ``result.patterns`` set), as blavaan for ``missing = "ml"``:

* the discrepancy is the full-information likelihood-ratio chi-square
  ``T(y; theta_s) = 2 [logL_h1(y) - logL(theta_s; y)]``, both log-likelihoods summed over
  missingness patterns and ``logL_h1`` at the EM estimates of the unrestricted moments (lavaan's
  ``lav_mvnorm_missing_h1_estimate_moments``; ``result.stats``). At the ML estimate it is
  lavaan's FIML chi-square; with complete data it is ``n F_ML`` above;
* each replicated data set keeps the observed missingness (case ``i`` of ``y_rep`` is blanked
  where case ``i`` of ``y`` is missing), gets its own EM fit of the unrestricted model, and
  ``T(y_rep; theta_s) = 2 [logL_h1(y_rep) - logL(theta_s; y_rep)]`` (blavaan's ``postpred()``
  refits lavaan with ``optim.method = "none"`` for this). The EM is batched over replicates,
  warm-started at ``mu_s, Sigma_s`` (the moments ``y_rep`` was drawn from) and stopped at
  :data:`EM_TOL_REPLICATES`; the saturated log-likelihood is flat at its maximum, so this moves
  ``T_rep`` by less than 1e-4 (``tests/test_ppc_fiml.py``) against a Monte Carlo spread of
  ``sqrt(2 p*)``. One replicate costs about 12 ms for the bfi CFA (2,800 cases, 25 items, 87
  patterns), so at most :data:`FIML_PPP_DRAWS` evenly spaced draws are replicated (PPP's Monte
  Carlo SE at most 0.016); ``t_obs`` and the fit indices use every draw;
* the means are always modelled (lavaan sets ``meanstructure = TRUE`` for ``missing = "ml"``):
  ``means="auto"`` resolves to ``"model"``, ``p*`` counts the means, and ``"saturated"`` is
  refused (no ``ybar`` stands in for the means of incomplete data);
* the baseline model must be fitted by FIML to the same data; residual correlations start from
  the EM moments (of the observed and of each replicated data set).

Pure functions work on arrays; :func:`check_model` is the thin wrapper that takes a
:class:`~bayes_bmi.bayes.sampling.BayesResult`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logsumexp

from bayes_bmi.bayes.posterior import casewise_loglik, hdi, implied_draws
from bayes_bmi.errors import OptionError
from bayes_bmi.ml.fiml import em_saturated_batch, pattern_loglik, pattern_stats
from bayes_bmi.ml.fitmeasures import count_moments

if TYPE_CHECKING:
    from bayes_bmi.bayes.sampling import BayesResult
    from bayes_bmi.data import MissingPatterns
    from bayes_bmi.lavaan.model import Model

__all__ = [
    "EM_TOL_REPLICATES",
    "FIML_PPP_DRAWS",
    "INDEX_NAMES",
    "MEANS",
    "PD_SOURCES",
    "Baseline",
    "FimlReplicates",
    "ModelCheck",
    "PPPCheck",
    "baseline_from_result",
    "bayes_fit_indices",
    "check_model",
    "correlation",
    "exogenous_indices",
    "fiml_chisq",
    "information_criteria",
    "lr_chisq",
    "loglik_tree",
    "moment_draws",
    "ppp_draw_index",
    "ppp_value",
    "replicate_fiml",
    "replicate_moments",
    "residual_table",
    "resolve_means",
    "saturated_means",
    "simulate_data",
    "summarise_indices",
    "waic",
]

MEANS = ("auto", "model", "saturated")
PD_SOURCES = ("loo", "waic")
INDEX_NAMES = ("BRMSEA", "BGammaHat", "adjBGammaHat", "BMc", "BCFI", "BTLI", "BNFI")
PARETO_K_HIGH = 0.7
#: Posterior draws replicated for the PPP of incomplete data (each costs an EM fit), unless
#: ``check_model(ppp_draws=...)`` says otherwise; complete data replicate every draw.
FIML_PPP_DRAWS = 1000
#: EM tolerance (largest change of a moment) of the replicated incomplete data sets.
EM_TOL_REPLICATES = 1e-6


# ---------------------------------------------------------------------------------------------
# pure functions on arrays
# ---------------------------------------------------------------------------------------------


def lr_chisq(
    n: int,
    cov: np.ndarray,
    mean: np.ndarray | None,
    sigma: np.ndarray,
    mu: np.ndarray | None = None,
) -> np.ndarray:
    """Likelihood-ratio chi-square ``n * F_ML`` of sample moments against implied moments.

    ``F_ML = log|Sigma| + tr(S Sigma^-1) - log|S| - p + (ybar - mu)' Sigma^-1 (ybar - mu)``,
    which is ``-2 [logL(Sigma, mu) - logL_sat] / n`` for normal data.

    Parameters
    ----------
    n : int
        Number of cases.
    cov : numpy.ndarray, shape (..., p, p)
        Sample covariance matrices (divisor ``n``); broadcast against ``sigma``.
    mean : numpy.ndarray, shape (..., p), or None
        Sample means; ignored when ``mu`` is None.
    sigma : numpy.ndarray, shape (..., p, p)
        Implied covariance matrices.
    mu : numpy.ndarray, shape (..., p), optional
        Implied means. ``None`` leaves the mean term out (saturated means, ``mu = ybar``).

    Returns
    -------
    numpy.ndarray, shape (...)
        ``inf`` where ``sigma`` is not positive definite.
    """
    sigma = np.asarray(sigma, dtype=float)
    cov = np.asarray(cov, dtype=float)
    lead = np.broadcast_shapes(sigma.shape[:-2], cov.shape[:-2])
    p = sigma.shape[-1]
    sig = np.broadcast_to(sigma, (*lead, p, p)).reshape(-1, p, p)
    s = np.broadcast_to(cov, (*lead, p, p)).reshape(-1, p, p)
    sign_sig, logdet_sig = np.linalg.slogdet(sig)
    sign_s, logdet_s = np.linalg.slogdet(s)
    ok = sign_sig > 0
    out = np.full(sig.shape[0], np.inf)
    if ok.any():
        sol = np.linalg.solve(sig[ok], s[ok])
        f = logdet_sig[ok] + np.trace(sol, axis1=1, axis2=2) - logdet_s[ok] - p
        if mu is not None and mean is not None:
            d = np.broadcast_to(np.asarray(mean, float) - np.asarray(mu, float), (*lead, p))
            d = d.reshape(-1, p)[ok]
            f = f + np.einsum("ni,ni->n", d, np.linalg.solve(sig[ok], d[..., None])[..., 0])
        out[ok] = n * f
    out[sign_s <= 0] = np.nan
    return out.reshape(lead)


def exogenous_indices(model: Model) -> np.ndarray:
    """Positions (in ``model.ov_names``) of fixed exogenous covariates (``exo`` rows)."""
    pt = model.partable
    xs = set(pt.loc[(pt["exo"] == 1) & (pt["op"] == "~~"), "lhs"])
    return np.array([i for i, v in enumerate(model.ov_names) if v in xs], dtype=int)


def replicate_moments(
    n: int,
    sigma: np.ndarray,
    mu: np.ndarray,
    rng: np.random.Generator,
    *,
    x_idx: np.ndarray | None = None,
    x_data: np.ndarray | None = None,
    max_values: int = 4_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample moments of one replicated data set of ``n`` rows per draw.

    Parameters
    ----------
    n : int
        Rows per replicated data set.
    sigma : numpy.ndarray, shape (..., p, p)
    mu : numpy.ndarray, shape (..., p)
    rng : numpy.random.Generator
    x_idx : numpy.ndarray, optional
        Fixed exogenous covariates: kept at ``x_data`` and the other variables drawn from
        their conditional normal distribution given them (blavaan's ``postpred()``).
    x_data : numpy.ndarray, shape (n, len(x_idx)), optional
        Observed values of the fixed covariates.
    max_values : int
        Bound on the random numbers held at once (draws are processed in chunks).

    Returns
    -------
    cov_rep : numpy.ndarray, shape (..., p, p)
        Covariance matrices (divisor ``n``); NaN for draws whose ``sigma`` is not positive
        definite.
    mean_rep : numpy.ndarray, shape (..., p)
    """
    lead = sigma.shape[:-2]
    p = sigma.shape[-1]
    nd = int(np.prod(lead, dtype=int))
    cov_out = np.full((nd, p, p), np.nan)
    mean_out = np.full((nd, p), np.nan)
    chunk = max(1, int(max_values // max(1, n * p)))
    for idx, y in simulate_data(n, sigma, mu, rng, x_idx=x_idx, x_data=x_data, chunk=chunk):
        ybar = y.mean(axis=1)
        cen = y - ybar[:, None, :]
        cov_out[idx] = cen.transpose(0, 2, 1) @ cen / n
        mean_out[idx] = ybar
    return cov_out.reshape(*lead, p, p), mean_out.reshape(*lead, p)


def simulate_data(
    n: int,
    sigma: np.ndarray,
    mu: np.ndarray,
    rng: np.random.Generator,
    *,
    x_idx: np.ndarray | None = None,
    x_data: np.ndarray | None = None,
    chunk: int = 64,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Replicated data sets of ``n`` rows, one per draw, a chunk of draws at a time.

    Parameters
    ----------
    n : int
    sigma : numpy.ndarray, shape (..., p, p)
    mu : numpy.ndarray, shape (..., p)
    rng : numpy.random.Generator
    x_idx, x_data : optional
        Fixed exogenous covariates, as in :func:`replicate_moments`.
    chunk : int
        Draws simulated at once.

    Yields
    ------
    index : numpy.ndarray of int
        Positions (in the flattened draws) of the data sets; draws whose (conditional)
        covariance is not positive definite are skipped.
    y : numpy.ndarray, shape (len(index), n, p)
    """
    p = sigma.shape[-1]
    sig = sigma.reshape(-1, p, p)
    m = mu.reshape(-1, p)
    nd = sig.shape[0]
    x_idx = np.asarray([] if x_idx is None else x_idx, dtype=int)
    y_idx = np.setdiff1d(np.arange(p), x_idx)
    for start in range(0, nd, chunk):
        sl = slice(start, min(start + chunk, nd))
        s_c, m_c = sig[sl], m[sl]
        c = s_c.shape[0]
        if x_idx.size:
            if x_data is None or x_data.shape != (n, x_idx.size):
                raise ValueError("x_data must hold the n observed values of every x_idx column")
            sxx = s_c[:, x_idx][:, :, x_idx]
            syx = s_c[:, y_idx][:, :, x_idx]
            gain = np.linalg.solve(sxx, syx.transpose(0, 2, 1)).transpose(0, 2, 1)  # c, ny, nx
            csig = s_c[:, y_idx][:, :, y_idx] - gain @ syx.transpose(0, 2, 1)
            dev = x_data[None, :, :] - m_c[:, None, x_idx]  # c, n, nx
            cmu = m_c[:, None, y_idx] + dev @ gain.transpose(0, 2, 1)  # c, n, ny
        else:
            csig = s_c
            cmu = np.broadcast_to(m_c[:, None, :], (c, n, p))
        csig = 0.5 * (csig + csig.transpose(0, 2, 1))
        ok = np.linalg.eigvalsh(csig)[:, 0] > 0
        if not ok.any():
            continue
        chol = np.linalg.cholesky(csig[ok])
        z = rng.standard_normal((int(ok.sum()), n, csig.shape[-1]))
        yy = cmu[ok] + z @ chol.transpose(0, 2, 1)
        if x_idx.size:
            y = np.empty((yy.shape[0], n, p))
            y[:, :, y_idx] = yy
            y[:, :, x_idx] = x_data[None]
        else:
            y = yy
        yield np.arange(sl.start, sl.stop)[ok], y


def fiml_chisq(
    patterns: MissingPatterns, sigma: np.ndarray, mu: np.ndarray, loglik_h1: float
) -> np.ndarray:
    """Full-information likelihood-ratio chi-square ``2 [logL_h1(y) - logL(theta_s; y)]``.

    Parameters
    ----------
    patterns : MissingPatterns
        The incomplete data.
    sigma : numpy.ndarray, shape (..., p, p)
    mu : numpy.ndarray, shape (..., p)
        Implied moments of each draw.
    loglik_h1 : float
        Log-likelihood of the unrestricted model at its EM estimates
        (:func:`~bayes_bmi.ml.fiml.em_saturated`).

    Returns
    -------
    numpy.ndarray, shape (...)
        ``inf`` where ``sigma`` is not positive definite. With complete data (one pattern) it
        is :func:`lr_chisq` with the means modelled.
    """
    return 2.0 * (loglik_h1 - pattern_loglik(patterns, sigma, mu))


@dataclass(frozen=True, eq=False)
class FimlReplicates:
    """Replicated data sets masked as the observed data, and their discrepancies.

    Attributes
    ----------
    t_rep : numpy.ndarray, shape (r,)
        ``2 [logL_h1(y_rep) - logL(theta_s; y_rep)]``; NaN where no data set was drawn.
    mean_h1 : numpy.ndarray, shape (r, p)
    cov_h1 : numpy.ndarray, shape (r, p, p)
        EM estimates of the unrestricted moments of each replicated data set.
    iterations : numpy.ndarray of int, shape (r,)
        EM iterations of each data set.
    converged : numpy.ndarray of bool, shape (r,)
    """

    t_rep: np.ndarray
    mean_h1: np.ndarray
    cov_h1: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def replicate_fiml(
    patterns: MissingPatterns,
    sigma: np.ndarray,
    mu: np.ndarray,
    rng: np.random.Generator,
    *,
    x_idx: np.ndarray | None = None,
    x_data: np.ndarray | None = None,
    tol: float = EM_TOL_REPLICATES,
    max_values: int = 4_000_000,
) -> FimlReplicates:
    """Posterior predictive replicates of incomplete data and their FIML discrepancies.

    For each draw ``s``: draw ``n`` cases from ``N(mu_s, Sigma_s)`` (fixed covariates kept),
    blank the cells that are missing in the observed data (each case keeps its pattern), fit
    the unrestricted model to the masked data by EM (:func:`~bayes_bmi.ml.fiml.
    em_saturated_batch`, warm-started at ``mu_s, Sigma_s``) and return the likelihood-ratio
    chi-square of the draw on that data set, as blavaan's ``postpred()`` does for
    ``missing = "ml"``.

    Parameters
    ----------
    patterns : MissingPatterns
    sigma : numpy.ndarray, shape (r, p, p)
    mu : numpy.ndarray, shape (r, p)
    rng : numpy.random.Generator
    x_idx, x_data : optional
        Fixed exogenous covariates (observed in every case), as in :func:`replicate_moments`.
    tol : float
        EM tolerance (largest change of a moment).
    max_values : int
        Bound on the numbers held at once per chunk of draws.

    Returns
    -------
    FimlReplicates
    """
    r, p = sigma.shape[0], patterns.p
    n, npat = patterns.n, patterns.npatterns
    out_t = np.full(r, np.nan)
    out_mean = np.full((r, p), np.nan)
    out_cov = np.full((r, p, p), np.nan)
    out_it = np.zeros(r, dtype=int)
    out_ok = np.zeros(r, dtype=bool)
    chunk = max(1, int(max_values // max(1, n * p, npat * p * p)))
    sims = simulate_data(n, sigma, mu, rng, x_idx=x_idx, x_data=x_data, chunk=chunk)
    for idx, y in sims:
        mean, cov = pattern_stats(patterns, y)
        mu_h1, sig_h1, it, ok = em_saturated_batch(
            patterns, mean, cov, start=(mu[idx], sigma[idx]), tol=tol
        )
        l_h1 = pattern_loglik(patterns, sig_h1, mu_h1, mean=mean, cov=cov)
        l_s = pattern_loglik(patterns, sigma[idx], mu[idx], mean=mean, cov=cov)
        out_t[idx] = 2.0 * (l_h1 - l_s)
        out_mean[idx], out_cov[idx], out_it[idx], out_ok[idx] = mu_h1, sig_h1, it, ok
    return FimlReplicates(out_t, out_mean, out_cov, out_it, out_ok)


def ppp_draw_index(n_draws: int, max_draws: int | None) -> np.ndarray:
    """Evenly spaced positions of at most ``max_draws`` of ``n_draws`` (flattened) draws.

    ``None`` or a bound at least ``n_draws`` keeps every draw. Flattened over
    ``(chain, draw)``, the positions take about as many draws from each chain.
    """
    if max_draws is None or max_draws >= n_draws:
        return np.arange(n_draws)
    if max_draws < 1:
        raise ValueError(f"ppp_draws must be a positive number, not {max_draws}")
    return np.unique(np.round(np.linspace(0, n_draws - 1, max_draws)).astype(int))


def ppp_value(t_obs: np.ndarray, t_rep: np.ndarray) -> float:
    """Posterior predictive p-value ``mean(T_rep >= T_obs)`` over the valid draws.

    Draws where either discrepancy is not finite are left out.
    """
    t_obs = np.ravel(t_obs)
    t_rep = np.ravel(t_rep)
    ok = np.isfinite(t_obs) & np.isfinite(t_rep)
    if not ok.any():
        return math.nan
    return float(np.mean(t_rep[ok] >= t_obs[ok]))


def bayes_fit_indices(
    chisq: np.ndarray,
    p_d: float,
    n_moments: int,
    nvar: int,
    n: int,
    chisq_null: np.ndarray | None = None,
    p_d_null: float | None = None,
    ngroups: int = 1,
) -> dict[str, np.ndarray]:
    """Bayesian fit indices of Garnier-Villarreal & Jorgensen (2020), blavaan's ``devM``.

    Parameters
    ----------
    chisq : numpy.ndarray
        Discrepancy ``T(y; theta_s)`` per draw (:func:`lr_chisq`).
    p_d : float
        Effective number of parameters (``p_loo`` by default).
    n_moments : int
        Number of sample moments ``p*``.
    nvar : int
        Number of observed variables.
    n : int
        Number of cases.
    chisq_null, p_d_null : optional
        The same for the independence (baseline) model; draws are paired in order, so both
        arrays must have the same shape. Adds ``BCFI``, ``BTLI`` and ``BNFI``.
    ngroups : int
        Groups of a multi-group model (``chisq`` and ``n_moments`` summed over them, ``n``
        the total): BRMSEA is multiplied by ``sqrt(ngroups)``, as blavaan's ``BayesChiFit``.

    Returns
    -------
    dict of str to numpy.ndarray
        One array of the shape of ``chisq`` per index (:data:`INDEX_NAMES`). ``BRMSEA`` and
        ``adjBGammaHat`` are NaN when ``df = p* - pD`` is not positive.
    """
    chisq = np.asarray(chisq, dtype=float)
    df = n_moments - p_d
    nonc = np.maximum(chisq - n_moments, 0.0)
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        out["BRMSEA"] = (
            np.sqrt(nonc / (df * n)) * math.sqrt(ngroups) if df > 0 else np.full_like(chisq, np.nan)
        )
        gamma = nvar / (nvar + 2.0 * nonc / n)
        out["BGammaHat"] = gamma
        out["adjBGammaHat"] = (
            1.0 - (n_moments / df) * (1.0 - gamma) if df > 0 else np.full_like(chisq, np.nan)
        )
        out["BMc"] = np.exp(-0.5 * nonc / n)
        if chisq_null is not None:
            if p_d_null is None:
                raise ValueError("p_d_null is needed with chisq_null")
            chisq_null = np.asarray(chisq_null, dtype=float)
            if chisq_null.shape != chisq.shape:
                raise ValueError(
                    f"the baseline model has {chisq_null.size} draws and the model "
                    f"{chisq.size}: fit both with the same chains and draws"
                )
            df0 = n_moments - p_d_null
            nonc0 = chisq_null - n_moments
            out["BCFI"] = 1.0 - nonc / nonc0
            null_part = (chisq_null - p_d_null) / df0
            out["BTLI"] = (null_part - (chisq - p_d) / df) / (null_part - 1.0)
            out["BNFI"] = ((chisq_null - p_d_null) - (chisq - p_d)) / (chisq_null - p_d_null)
    return out


def summarise_indices(indices: Mapping[str, np.ndarray], ci_prob: float = 0.90) -> pd.DataFrame:
    """Posterior summary of each index: mean, median, SD and highest-density interval.

    Parameters
    ----------
    indices : mapping of str to numpy.ndarray
        Draws of each index.
    ci_prob : float
        Probability of the highest-posterior-density interval (blavaan's default 0.90).

    Returns
    -------
    pandas.DataFrame
        Columns ``index, mean, median, sd, lower, upper, ci_prob``.
    """
    rows = []
    for name, draws in indices.items():
        x = np.ravel(np.asarray(draws, dtype=float))
        x = x[np.isfinite(x)]
        if x.size == 0:
            rows.append((name, *[math.nan] * 5, ci_prob))
            continue
        lo, hi = hdi(x, ci_prob)
        sd = float(np.std(x, ddof=1)) if x.size > 1 else math.nan
        rows.append((name, float(x.mean()), float(np.median(x)), sd, lo, hi, ci_prob))
    return pd.DataFrame(
        rows, columns=["index", "mean", "median", "sd", "lower", "upper", "ci_prob"]
    )


def waic(log_lik: np.ndarray) -> dict[str, float]:
    """WAIC from a casewise log-likelihood, as R's ``loo::waic``.

    ``lppd_i = log mean_s exp(ll_si)``, ``p_waic_i = var_s(ll_si)`` (sample variance),
    ``elpd_waic = sum_i (lppd_i - p_waic_i)``, ``waic = -2 elpd_waic``, and the standard error
    ``sqrt(n var_i(elpd_waic_i))``.

    Parameters
    ----------
    log_lik : numpy.ndarray, shape (..., n)
        Log-likelihood of each case (last axis) under each draw (all leading axes).

    Returns
    -------
    dict
        ``elpd_waic, se_elpd_waic, p_waic, waic, se_waic, lppd, n_p_waic_high`` (cases with
        ``p_waic_i > 0.4``, where WAIC is unreliable).
    """
    ll = np.asarray(log_lik, dtype=float)
    n = ll.shape[-1]
    ll = ll.reshape(-1, n)
    s = ll.shape[0]
    lppd_i = logsumexp(ll, axis=0) - math.log(s)
    p_i = np.var(ll, axis=0, ddof=1)
    elpd_i = lppd_i - p_i
    se = float(math.sqrt(n * np.var(elpd_i, ddof=1))) if n > 1 else math.nan
    elpd = float(elpd_i.sum())
    return {
        "elpd_waic": elpd,
        "se_elpd_waic": se,
        "p_waic": float(p_i.sum()),
        "waic": -2.0 * elpd,
        "se_waic": 2.0 * se,
        "lppd": float(lppd_i.sum()),
        "n_p_waic_high": int(np.sum(p_i > 0.4)),
    }


def correlation(cov: np.ndarray) -> np.ndarray:
    """Correlation matrices of covariance matrices (any leading axes)."""
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    return cov / (sd[..., :, None] * sd[..., None, :])


def residual_table(
    names: Sequence[str],
    observed: np.ndarray,
    implied: np.ndarray,
    replicated: np.ndarray | None = None,
    ci_prob: float = 0.95,
) -> pd.DataFrame:
    """Residual correlations ``r_obs - rho_s`` of every pair, largest misfit first.

    Parameters
    ----------
    names : sequence of str
        Observed variables.
    observed : numpy.ndarray, shape (p, p)
        Observed correlation matrix.
    implied : numpy.ndarray, shape (..., p, p)
        Implied correlation matrix of each draw.
    replicated : numpy.ndarray, shape (..., p, p), optional
        Correlation matrix of each draw's replicated data; adds the posterior predictive
        p-value of each pair, ``mean_s |r_rep - rho_s| >= |r_obs - rho_s|``.
    ci_prob : float
        Probability of the equal-tailed interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``var1, var2, observed, implied, residual, sd, lower, upper, excludes_zero``
        (and ``ppp``), sorted by ``|residual|`` descending.
    """
    p = len(names)
    imp = np.asarray(implied).reshape(-1, p, p)
    resid = observed[None] - imp
    i_idx, j_idx = np.tril_indices(p, k=-1)
    r = resid[:, i_idx, j_idx]
    a = (1.0 - ci_prob) / 2.0
    lower, upper = np.quantile(r, [a, 1.0 - a], axis=0)
    table = pd.DataFrame(
        {
            "var1": [names[j] for j in j_idx],
            "var2": [names[i] for i in i_idx],
            "observed": observed[i_idx, j_idx],
            "implied": imp[:, i_idx, j_idx].mean(axis=0),
            "residual": r.mean(axis=0),
            "sd": r.std(axis=0, ddof=1) if r.shape[0] > 1 else np.nan,
            "lower": lower,
            "upper": upper,
            "excludes_zero": (lower > 0) | (upper < 0),
        }
    )
    if replicated is not None:
        rep = np.asarray(replicated).reshape(-1, p, p)[:, i_idx, j_idx]
        imp_ij = imp[:, i_idx, j_idx]
        ok = np.all(np.isfinite(rep), axis=1)
        rep_dev = np.abs(rep[ok] - imp_ij[ok])
        obs_dev = np.abs(r[ok])
        table["ppp"] = (rep_dev >= obs_dev).mean(axis=0) if ok.any() else np.nan
    order = np.argsort(-np.abs(table["residual"].to_numpy()), kind="stable")
    return table.iloc[order].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# wrappers on a fitted model
# ---------------------------------------------------------------------------------------------


def saturated_means(model: Model) -> bool:
    """Whether the model leaves the means of the observed variables unrestricted.

    True without a mean structure, or when every observed variable has its own free intercept
    (or a fixed exogenous one) and every latent mean is fixed: then ``mu_s`` can reproduce
    any ``ybar``.
    """
    rep = model.representation
    if not rep.meanstructure:
        return True
    pt = model.partable
    rows = pt[pt["op"] == "~1"]
    ov = set(model.ov_names)
    free = pt["free"].to_numpy()
    counts = pd.Series(free[free > 0]).value_counts()
    for _, row in rows.iterrows():
        if row["lhs"] in ov:
            if row["free"] > 0:
                if counts.get(row["free"], 0) != 1:
                    return False
            elif not row["exo"]:
                return False
        elif row["free"] > 0:
            return False
    return all(v in set(rows["lhs"]) for v in ov)


def resolve_means(model: Model, means: str = "auto", *, fiml: bool = False) -> str:
    """``"model"`` or ``"saturated"`` for a requested treatment of the means.

    ``"auto"`` gives ``"saturated"`` when :func:`saturated_means` holds and the user wrote no
    intercept statement (blavaan then fits no mean structure), otherwise ``"model"``. With
    incomplete data (``fiml=True``) the means are always modelled (lavaan and blavaan set
    ``meanstructure = TRUE`` for ``missing = "ml"``): ``"auto"`` gives ``"model"``.

    Raises
    ------
    OptionError
        ``"saturated"`` with ``fiml=True``: with missing cells no ``ybar`` stands in for the
        means (the EM means are not the means of each draw's likelihood).
    """
    if means not in MEANS:
        raise ValueError(f"unknown means {means!r}. Must be one of: {', '.join(MEANS)}")
    if fiml:
        if means == "saturated":
            raise OptionError(
                "means='saturated' needs complete data: with missing cells (FIML) the means "
                "are always modelled; use means='auto' or 'model', or missing='listwise'"
            )
        return "model"
    if means != "auto":
        return means
    pt = model.partable
    user_means = bool(((pt["op"] == "~1") & (pt["user"] == 1)).any())
    return "saturated" if saturated_means(model) and not user_means else "model"


def moment_draws(result: BayesResult) -> tuple[np.ndarray, np.ndarray]:
    """Implied covariance (chain, draw, p, p) and mean (chain, draw, p) of every draw."""
    return implied_draws(result.model.representation, result.draw_rows())


def loglik_tree(
    result: BayesResult,
    means: str = "model",
    sigma: np.ndarray | None = None,
) -> xr.DataTree:
    """A DataTree with ``posterior/theta`` and ``log_likelihood/y`` for :func:`arviz.loo`.

    Parameters
    ----------
    result : BayesResult
    means : str
        ``"model"`` uses the stored casewise log-likelihood; ``"saturated"`` recomputes it with
        ``mu = ybar`` from the implied covariance of each draw.
    sigma : numpy.ndarray, optional
        Implied covariances (:func:`moment_draws`), to avoid recomputing them.
    """
    idata = result.idata
    ll = idata["log_likelihood"]["y"].transpose("chain", "draw", "case")
    if means == "saturated":
        if sigma is None:
            sigma, _ = moment_draws(result)
        y = idata["observed_data"]["y"].transpose("case", "variable").values
        mu = np.broadcast_to(result.stats.mean, sigma.shape[:-1])
        ll = ll.copy(data=casewise_loglik(y, sigma, mu))
    elif means != "model":
        raise ValueError(f"means must be 'model' or 'saturated', not {means!r}")
    post = idata["posterior"].to_dataset()[["theta"]]
    return xr.DataTree.from_dict({"posterior": post, "log_likelihood": xr.Dataset({"y": ll})})


def information_criteria(
    result: BayesResult, means: str = "auto", sigma: np.ndarray | None = None
) -> tuple[dict[str, float], Any]:
    """PSIS-LOO (with Pareto-k diagnostics) and WAIC of a fitted model.

    Parameters
    ----------
    result : BayesResult
    means : str
        One of :data:`MEANS` (see the module notes).
    sigma : numpy.ndarray, optional
        Implied covariances of the draws, if already computed.

    Returns
    -------
    criteria : dict
        ``elpd_loo, se_elpd_loo, p_loo, looic, se_looic, pareto_k_max, n_pareto_k_high``
        (``k > 0.7``), ``pareto_k_threshold`` (arviz's sample-size-dependent threshold),
        ``n_pareto_k_bad`` (above it), and the keys of :func:`waic`.
    loo : arviz_stats ELPDData
        Pointwise LOO result, for :func:`arviz.compare`.
    """
    import arviz as az

    means = _resolve(result, means)
    tree = loglik_tree(result, means, sigma)
    with warnings.catch_warnings():
        # reported through n_pareto_k_high / n_pareto_k_bad instead of a warning per call
        warnings.filterwarnings("ignore", "Estimated shape parameter of Pareto", UserWarning)
        loo = az.loo(tree, pointwise=True)
    k = np.asarray(loo.pareto_k.values, dtype=float)
    crit = {
        "elpd_loo": float(loo.elpd),
        "se_elpd_loo": float(loo.se),
        "p_loo": float(loo.p),
        "looic": -2.0 * float(loo.elpd),
        "se_looic": 2.0 * float(loo.se),
        "pareto_k_max": float(np.nanmax(k)),
        "n_pareto_k_high": int(np.sum(k > PARETO_K_HIGH)),
        "pareto_k_threshold": float(loo.good_k),
        "n_pareto_k_bad": int(np.sum(k > loo.good_k)),
    }
    crit.update(waic(tree["log_likelihood"]["y"].values))
    return crit, loo


@dataclass(frozen=True, eq=False)
class PPPCheck:
    """Posterior predictive check with the likelihood-ratio chi-square.

    Attributes
    ----------
    t_obs, t_rep : numpy.ndarray, shape (chain, draw)
        Discrepancy of the observed and of the replicated data under each draw; ``t_rep`` is
        NaN for draws that were not replicated (see ``n_draws``).
    ppp : float
        ``mean(t_rep >= t_obs)`` over the replicated draws.
    n_moments : int
        Sample moments ``p*`` (the discrepancy's degrees of freedom before parameters).
    n_invalid : int
        Replicated draws left out (implied covariance not positive definite).
    n_draws : int
        Draws replicated for the PPP (every draw for complete data by default; at most
        :data:`FIML_PPP_DRAWS`, evenly spaced, with missing cells).
    missing : str
        ``"listwise"`` (the discrepancy from sample moments) or ``"fiml"`` (from the
        likelihood summed over missingness patterns against the EM-fitted unrestricted
        model, for the observed and for each replicated data set).
    """

    t_obs: np.ndarray
    t_rep: np.ndarray
    ppp: float
    n_moments: int
    n_invalid: int = 0
    n_draws: int = 0
    missing: str = "listwise"


@dataclass(frozen=True, eq=False)
class Baseline:
    """What the incremental indices need from the independence model.

    Attributes
    ----------
    chisq : numpy.ndarray, shape (chain, draw)
        Discrepancy ``T(y; theta0_s)`` per draw.
    p_d : float
        Its effective number of parameters.
    missing : str
        Its missing-data method (``"listwise"`` or ``"fiml"``), which must be the model's.
    """

    chisq: np.ndarray
    p_d: float
    missing: str = "listwise"


@dataclass(frozen=True, eq=False)
class ModelCheck:
    """All checks of one fitted model (:func:`check_model`).

    Attributes
    ----------
    means : str
        ``"model"`` or ``"saturated"``.
    pd_source : str
        Where ``pD`` came from (``"loo"`` or ``"waic"``).
    ppp : PPPCheck
    criteria : dict
        LOO and WAIC (:func:`information_criteria`).
    loo : arviz_stats ELPDData
    indices : dict of str to numpy.ndarray
        Draws of each fit index, shape (chain, draw).
    index_summary : pandas.DataFrame
        :func:`summarise_indices` of ``indices``.
    residuals : pandas.DataFrame
        :func:`residual_table`, largest misfit first.
    names : tuple of str
        Observed variables.
    """

    means: str
    pd_source: str
    ppp: PPPCheck
    criteria: dict[str, float]
    loo: Any
    indices: dict[str, np.ndarray]
    index_summary: pd.DataFrame
    residuals: pd.DataFrame
    names: tuple[str, ...]

    def index_means(self) -> dict[str, float]:
        """Posterior mean of each fit index."""
        s = self.index_summary
        return dict(zip(s["index"], s["mean"].astype(float), strict=True))


def _n_moments(result: BayesResult, means: str) -> int:
    return count_moments(
        result.stats.p, exogenous_indices(result.model).size, meanstructure=means == "model"
    )


def _discrepancy(result: BayesResult, means: str, sigma: np.ndarray, mu: np.ndarray) -> np.ndarray:
    st = result.stats
    if result.patterns is not None:
        # st holds the EM estimates of the unrestricted moments: logL_h1 is at them
        loglik_h1 = float(pattern_loglik(result.patterns, st.cov, st.mean))
        return fiml_chisq(result.patterns, sigma, mu, loglik_h1)
    if means == "saturated":
        return lr_chisq(st.n, st.cov, None, sigma)
    return lr_chisq(st.n, st.cov, st.mean, sigma, mu)


def _p_d(criteria: Mapping[str, float], source: str) -> float:
    if source not in PD_SOURCES:
        raise ValueError(f"unknown pD source {source!r}. Must be one of: {', '.join(PD_SOURCES)}")
    return float(criteria["p_loo" if source == "loo" else "p_waic"])


def _resolve(result: BayesResult, means: str) -> str:
    return resolve_means(result.model, means, fiml=result.patterns is not None)


def baseline_from_result(
    result: BayesResult, means: str = "auto", pd_source: str = "loo"
) -> Baseline:
    """Summarise a fitted independence model for :func:`check_model`.

    Parameters
    ----------
    result : BayesResult
        Fit of the independence model (variances and means only), with the missing-data
        method of the model it serves as baseline for (FIML: the same incomplete data).
    means : str
        Must resolve to the same treatment as the model it serves as baseline for.
    pd_source : str
        ``"loo"`` or ``"waic"``.
    """
    means = _resolve(result, means)
    sigma, mu = moment_draws(result)
    crit, _ = information_criteria(result, means, sigma)
    return Baseline(
        chisq=_discrepancy(result, means, sigma, mu),
        p_d=_p_d(crit, pd_source),
        missing=result.missing,
    )


def check_model(
    result: BayesResult,
    baseline: BayesResult | Baseline | None = None,
    *,
    means: str = "auto",
    pd_source: str = "loo",
    seed: int = 0,
    ci_prob: float = 0.90,
    resid_prob: float = 0.95,
    ppp_draws: int | None = None,
) -> ModelCheck:
    """Posterior predictive p-value, fit indices, residual correlations, LOO and WAIC.

    With missing cells (``result.patterns`` set, a FIML fit) every discrepancy is the
    full-information likelihood-ratio chi-square against the unrestricted model fitted by EM
    (:func:`fiml_chisq`; blavaan's for ``missing = "ml"``): of the observed data under every
    draw, and of a replicated data set with the observed missingness under each of
    ``ppp_draws`` draws (:func:`replicate_fiml`). The means are modelled (:func:`resolve_means`),
    ``p*`` counts them, and the residual correlations start from the EM moments (those of
    each replicated data set for their p-values).

    Parameters
    ----------
    result : BayesResult
    baseline : BayesResult or Baseline, optional
        The independence model fitted with as many chains and draws and the same
        missing-data method; adds ``BCFI``, ``BTLI`` and ``BNFI``.
    means : str
        One of :data:`MEANS`.
    pd_source : str
        ``pD`` of the fit indices: ``"loo"`` (blavaan's default) or ``"waic"``.
    seed : int
        Seed of the replicated data sets.
    ci_prob : float
        Probability of the HPD intervals of the fit indices (blavaan: 0.90).
    resid_prob : float
        Probability of the intervals of the residual correlations.
    ppp_draws : int, optional
        Draws replicated for the PPP (evenly spaced; the fit indices use every draw). Default:
        all of them for complete data, at most :data:`FIML_PPP_DRAWS` with missing cells.

    Returns
    -------
    ModelCheck
    """
    means = _resolve(result, means)
    st = result.stats
    sigma, mu = moment_draws(result)
    crit, loo = information_criteria(result, means, sigma)
    if ppp_draws is None and result.patterns is not None:
        ppp_draws = FIML_PPP_DRAWS
    ppp, cov_rep = _ppp(result, means, sigma, mu, np.random.default_rng([seed, 20]), ppp_draws)

    # fit indices
    if baseline is not None and not isinstance(baseline, Baseline):
        baseline = baseline_from_result(baseline, means, pd_source)
    if baseline is not None and baseline.missing != result.missing:
        raise ValueError(
            f"the baseline model was fitted with missing={baseline.missing!r} and the model "
            f"with {result.missing!r}: fit both with the same missing-data method"
        )
    indices = bayes_fit_indices(
        ppp.t_obs,
        _p_d(crit, pd_source),
        ppp.n_moments,
        st.p,
        st.n,
        None if baseline is None else baseline.chisq,
        None if baseline is None else baseline.p_d,
    )

    # residual correlations (under FIML st holds the EM moments)
    with np.errstate(invalid="ignore", divide="ignore"):
        residuals = residual_table(
            st.names, correlation(st.cov), correlation(sigma), correlation(cov_rep), resid_prob
        )
    return ModelCheck(
        means=means,
        pd_source=pd_source,
        ppp=ppp,
        criteria=crit,
        loo=loo,
        indices=indices,
        index_summary=summarise_indices(indices, ci_prob),
        residuals=residuals,
        names=tuple(st.names),
    )


def _ppp(
    result: BayesResult,
    means: str,
    sigma: np.ndarray,
    mu: np.ndarray,
    rng: np.random.Generator,
    ppp_draws: int | None,
) -> tuple[PPPCheck, np.ndarray]:
    """The PPP of :func:`check_model` and the replicated covariances (NaN where none).

    ``t_obs`` covers every draw; ``t_rep`` the draws :func:`ppp_draw_index` picks.
    """
    st, pat = result.stats, result.patterns
    lead, p = sigma.shape[:-2], st.p
    x_idx = exogenous_indices(result.model)
    x_data = None
    if x_idx.size:
        y = result.idata["observed_data"]["y"].transpose("case", "variable").values
        x_data = y[:, x_idx]  # fixed covariates are observed in every case used
    sig_f, mu_f = sigma.reshape(-1, p, p), mu.reshape(-1, p)
    idx = ppp_draw_index(sig_f.shape[0], ppp_draws)
    t_obs = _discrepancy(result, means, sigma, mu)
    t_rep = np.full(sig_f.shape[0], np.nan)
    cov_rep = np.full((sig_f.shape[0], p, p), np.nan)
    if pat is not None:
        reps = replicate_fiml(pat, sig_f[idx], mu_f[idx], rng, x_idx=x_idx, x_data=x_data)
        t_rep[idx], cov_rep[idx] = reps.t_rep, reps.cov_h1
    else:
        c_rep, m_rep = replicate_moments(
            st.n, sig_f[idx], mu_f[idx], rng, x_idx=x_idx, x_data=x_data
        )
        if means == "saturated":
            t_rep[idx] = lr_chisq(st.n, c_rep, None, sig_f[idx])
        else:
            t_rep[idx] = lr_chisq(st.n, c_rep, m_rep, sig_f[idx], mu_f[idx])
        cov_rep[idx] = c_rep
    t_rep = t_rep.reshape(lead)
    used = t_obs.ravel()[idx], t_rep.ravel()[idx]
    invalid = int(np.sum(~(np.isfinite(used[0]) & np.isfinite(used[1]))))
    ppp = PPPCheck(
        t_obs=t_obs,
        t_rep=t_rep,
        ppp=ppp_value(*used),
        n_moments=_n_moments(result, means),
        n_invalid=invalid,
        n_draws=int(idx.size),
        missing=result.missing,
    )
    return ppp, cov_rep.reshape(*lead, p, p)
