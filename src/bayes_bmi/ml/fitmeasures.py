"""Fit measures with lavaan's definitions (``fitMeasures``), computed from moments.

All functions are pure. ``n`` is the number of observations (lavaan's ``likelihood =
"normal"`` uses ``N``, not ``N - 1``). The ML discrepancy is
``F = log|Sigma| + tr(S Sigma^-1) - log|S| - p + (ybar - mu)' Sigma^-1 (ybar - mu)`` and the
test statistic is ``chisq = N * F`` (lavaan's ``fmin`` is ``F / 2``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from bayes_bmi.data import MissingPatterns, SampleStats
from bayes_bmi.ml.fiml import fiml_loglik

__all__ = [
    "baseline_sigma",
    "count_moments",
    "fiml_fit_measures",
    "fit_measures",
    "loglik",
    "ml_discrepancy",
    "rmsea_ci",
]

LOG_2PI = math.log(2.0 * math.pi)


def ml_discrepancy(
    cov: np.ndarray, mean: np.ndarray, sigma: np.ndarray, mu: np.ndarray, meanstructure: bool
) -> float:
    """ML discrepancy ``F`` between sample moments and implied moments.

    Returns ``inf`` when ``sigma`` is not positive definite.
    """
    try:
        chol = np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        return math.inf
    p = cov.shape[0]
    logdet_sigma = 2.0 * np.log(np.diag(chol)).sum()
    _, logdet_s = np.linalg.slogdet(cov)
    inv = np.linalg.inv(sigma)
    f = logdet_sigma + np.trace(cov @ inv) - logdet_s - p
    if meanstructure:
        d = mean - mu
        f += d @ inv @ d
    return float(f)


def loglik(n: int, cov: np.ndarray, mean: np.ndarray, sigma: np.ndarray, mu: np.ndarray) -> float:
    """Multivariate-normal log-likelihood of the data from its sufficient statistics.

    ``cov`` is the ML (divisor ``n``) sample covariance; the result equals the sum of the
    casewise log-densities.
    """
    p = cov.shape[0]
    sign, logdet = np.linalg.slogdet(sigma)
    if sign <= 0:
        return -math.inf
    inv = np.linalg.inv(sigma)
    d = mean - mu
    return float(-0.5 * n * (p * LOG_2PI + logdet + np.trace(cov @ inv) + d @ inv @ d))


def count_moments(p: int, nx: int, meanstructure: bool) -> int:
    """Number of sample moments that the model has to reproduce (lavaan's ``ndat``).

    The moments of fixed exogenous covariates (``nx`` of them) are not counted.
    """
    ndat = p * (p + 1) // 2 - nx * (nx + 1) // 2
    if meanstructure:
        ndat += p - nx
    return ndat


def baseline_sigma(cov: np.ndarray, x_idx: np.ndarray) -> np.ndarray:
    """Implied covariance of the independence (baseline) model.

    Variances free (estimated at the sample variances); the block of fixed exogenous
    covariates keeps its sample covariances.
    """
    out = np.diag(np.diag(cov))
    if x_idx.size:
        out[np.ix_(x_idx, x_idx)] = cov[np.ix_(x_idx, x_idx)]
    return out


#: Doublings of the upper bound of the noncentrality search before giving up (2**60 * chisq).
MAX_DOUBLINGS = 60


def rmsea_ci(chisq: float, df: int, n: int, level: float = 0.90) -> tuple[float, float]:
    """Confidence interval of the RMSEA from the noncentral chi-square distribution.

    Returns NaN bounds when ``chisq`` is not finite (an implied covariance matrix that is not
    positive definite) or when a bound cannot be bracketed within :data:`MAX_DOUBLINGS`
    doublings; the search never runs unbounded.
    """
    if df < 1:  # lavaan: both bounds 0 for a saturated model
        return (0.0, 0.0)
    if not (math.isfinite(chisq) and chisq >= 0 and n > 0):
        return (math.nan, math.nan)
    lo_q, hi_q = (1 + level) / 2, (1 - level) / 2

    def solve(q: float) -> float:
        if stats.chi2.cdf(chisq, df) < q:
            return 0.0

        def g(lam: float) -> float:
            return float(stats.ncx2.cdf(chisq, df, lam)) - q

        upper = max(chisq, 1.0)
        for _ in range(MAX_DOUBLINGS):
            value = g(upper)
            if not math.isfinite(value):
                return math.nan
            if value <= 0:
                break
            upper *= 2.0
        else:
            return math.nan
        try:
            return optimize.brentq(g, 1e-12, upper, xtol=1e-12, rtol=1e-12, maxiter=500)
        except (ValueError, RuntimeError):  # no sign change or no convergence
            return math.nan

    lam_lo, lam_hi = solve(lo_q), solve(hi_q)
    return (math.sqrt(lam_lo / (n * df)), math.sqrt(lam_hi / (n * df)))


def _srmr(
    cov: np.ndarray, mean: np.ndarray, sigma: np.ndarray, mu: np.ndarray, meanstructure: bool
) -> float:
    """Bentler's SRMR: residuals scaled by the sample standard deviations."""
    sd = np.sqrt(np.diag(cov))
    resid = (cov - sigma) / np.outer(sd, sd)
    tri = np.tril_indices_from(resid)
    sq = list(resid[tri] ** 2)
    if meanstructure:
        sq += list(((mean - mu) / sd) ** 2)
    return float(np.sqrt(np.mean(sq)))


def fit_measures(
    stats_: SampleStats,
    sigma: np.ndarray,
    mu: np.ndarray,
    npar: int,
    meanstructure: bool,
    x_idx: np.ndarray,
) -> dict[str, float]:
    """Lavaan's main fit measures for an ML fit.

    Parameters
    ----------
    stats_ : SampleStats
    sigma, mu : numpy.ndarray
        Implied moments at the ML estimates.
    npar : int
        Number of free parameters (equality-constrained parameters counted once).
    meanstructure : bool
    x_idx : numpy.ndarray
        Indices of fixed exogenous covariates among the observed variables.

    Returns
    -------
    dict
        Keys named as lavaan's ``fitMeasures`` with dots replaced by underscores
        (``rmsea_ci_lower``, ``baseline_chisq``, ...).
    """
    n, p = stats_.n, stats_.p
    s, ybar = stats_.cov, stats_.mean
    nx = int(x_idx.size)
    mu_eff = mu if meanstructure else ybar
    f = ml_discrepancy(s, ybar, sigma, mu_eff, meanstructure)
    if not math.isfinite(f):
        raise ValueError(
            "the implied covariance matrix is not positive definite: no fit measures "
            "(the ML fit checks this first and says why)"
        )
    chisq = n * f
    ndat = count_moments(p, nx, meanstructure)
    df = ndat - npar
    sig_b = baseline_sigma(s, x_idx)
    chisq_b = n * ml_discrepancy(s, ybar, sig_b, ybar, meanstructure)
    npar_b = (p - nx) * (2 if meanstructure else 1)
    df_b = ndat - npar_b

    logl = loglik(n, s, ybar, sigma, mu_eff)
    logl_h1 = loglik(n, s, ybar, s, ybar)
    if nx:
        # lavaan (fixed.x): the log-likelihood is that of the other variables given the fixed
        # covariates, i.e. the joint one minus the covariates' own, at their sample moments
        sxx, mx = s[np.ix_(x_idx, x_idx)], ybar[x_idx]
        logl_x = loglik(n, sxx, mx, sxx, mx)
        logl -= logl_x
        logl_h1 -= logl_x
    return {
        "npar": npar,
        "ntotal": n,
        "fmin": f / 2.0,
        "chisq": chisq,
        "df": df,
        **_comparative(chisq, df, chisq_b, df_b, n),
        "logl": logl,
        "unrestricted_logl": logl_h1,
        "aic": -2.0 * logl + 2.0 * npar,
        "bic": -2.0 * logl + npar * math.log(n),
        "bic2": -2.0 * logl + npar * math.log((n + 2.0) / 24.0),
        **_rmsea(chisq, df, n),
        "srmr": _srmr(s, ybar, sigma, mu_eff, meanstructure),
    }


def fiml_fit_measures(
    patterns: MissingPatterns,
    sigma: np.ndarray,
    mu: np.ndarray,
    sigma_h1: np.ndarray,
    mu_h1: np.ndarray,
    npar: int,
    x_idx: np.ndarray,
) -> dict[str, float]:
    """Lavaan's main fit measures for a full-information ML fit (``missing = "ml"``).

    The test statistic compares the model's log-likelihood with that of the unrestricted
    (H1) model fitted by EM, ``chisq = 2 (logl_h1 - logl)``; the baseline is the independence
    model fitted by FIML (each variable's observed mean and ML variance; fixed exogenous
    covariates keep their covariances). SRMR is Bentler's on the EM moments, means included,
    as lavaan computes it for missing data. The means are always modelled.

    Parameters
    ----------
    patterns : MissingPatterns
    sigma, mu : numpy.ndarray
        Implied moments at the ML estimates.
    sigma_h1, mu_h1 : numpy.ndarray
        The EM estimates of the unrestricted moments.
    npar : int
        Number of free parameters.
    x_idx : numpy.ndarray
        Indices of fixed exogenous covariates (observed in every case used).

    Returns
    -------
    dict
        The keys of :func:`fit_measures`.
    """
    n, p, nx = patterns.n, patterns.p, int(x_idx.size)
    logl = fiml_loglik(patterns, sigma, mu)
    logl_h1 = fiml_loglik(patterns, sigma_h1, mu_h1)
    mu_b = np.nanmean(patterns.values, axis=0)
    sigma_b = baseline_sigma(np.diag(np.nanvar(patterns.values, axis=0)), x_idx)
    if nx:
        sigma_b[np.ix_(x_idx, x_idx)] = sigma_h1[np.ix_(x_idx, x_idx)]
    logl_b = fiml_loglik(patterns, sigma_b, mu_b)
    chisq = max(2.0 * (logl_h1 - logl), 0.0)
    chisq_b = 2.0 * (logl_h1 - logl_b)
    ndat = count_moments(p, nx, True)
    df = ndat - npar
    df_b = ndat - 2 * (p - nx)
    if nx:
        # as lavaan (fixed.x): log-likelihoods conditional on the covariates
        sxx, mx = sigma_h1[np.ix_(x_idx, x_idx)], mu_h1[x_idx]
        logl_x = loglik(n, sxx, mx, sxx, mx)
        logl -= logl_x
        logl_h1 -= logl_x
    out = {"npar": npar, "ntotal": n, "fmin": chisq / (2.0 * n), "chisq": chisq, "df": df}
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
    out.update(_rmsea(chisq, df, n))
    out["srmr"] = _srmr(sigma_h1, mu_h1, sigma, mu, True)
    return out


def _comparative(chisq: float, df: int, chisq_b: float, df_b: int, n: int) -> dict[str, float]:
    """The test's p-value, the baseline test and the incremental indices (CFI, TLI, ...)."""
    t1 = max(chisq - df, 0.0)
    t2 = max(chisq - df, chisq_b - df_b, 0.0)
    cfi = 1.0 if t1 == 0 and t2 == 0 else 1.0 - t1 / t2
    if df > 0 and df_b > 0:
        tli = (chisq_b / df_b - chisq / df) / (chisq_b / df_b - 1.0)
        nfi = (chisq_b - chisq) / chisq_b
        rfi = (chisq_b / df_b - chisq / df) / (chisq_b / df_b)
        ifi = (chisq_b - chisq) / (chisq_b - df)
    else:
        tli = nfi = rfi = ifi = math.nan if df < 0 else 1.0
    return {
        "pvalue": float(stats.chi2.sf(chisq, df)) if df > 0 else math.nan,
        "baseline_chisq": chisq_b,
        "baseline_df": df_b,
        "baseline_pvalue": float(stats.chi2.sf(chisq_b, df_b)) if df_b > 0 else math.nan,
        "cfi": cfi,
        "tli": tli,
        "nnfi": tli,
        "rfi": rfi,
        "nfi": nfi,
        "ifi": ifi,
        "rni": 1.0 - (chisq - df) / (chisq_b - df_b) if chisq_b != df_b else math.nan,
    }


def _rmsea(chisq: float, df: int, n: int) -> dict[str, float]:
    """RMSEA, its 90% interval and the p-value of close fit (RMSEA <= 0.05)."""
    if df > 0:
        rmsea = math.sqrt(max(chisq - df, 0.0) / (df * n))
        lo, hi = rmsea_ci(chisq, df, n)
        pclose = float(stats.ncx2.sf(chisq, df, n * df * 0.05**2))
    else:
        rmsea, pclose = (0.0 if df == 0 else math.nan), math.nan
        lo, hi = (0.0, 0.0) if df == 0 else (math.nan, math.nan)
    return {"rmsea": rmsea, "rmsea_ci_lower": lo, "rmsea_ci_upper": hi, "rmsea_pvalue": pclose}
