"""Rank statistics, their uniformity test, interval coverage and ECDF bands (pure numpy/scipy).

Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari and Gelman 2018): when the
truth of each simulation is drawn from the prior and the data from the truth, the rank of the
true value among ``L`` (roughly independent) posterior draws is uniform on ``0, 1, ..., L``
for a correct posterior. A histogram that is U-shaped, peaked, or tilted shows posteriors
that are too narrow, too wide, or biased.

Every function here takes plain arrays or the tidy rank table (columns ``sim, parameter,
rank, ndraws, pit``); none runs a sampler, so each is tested on synthetic ranks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "NOMINAL",
    "UNIFORMITY_COLUMNS",
    "bin_of",
    "bin_probabilities",
    "coverage",
    "ecdf_difference",
    "rank_bins",
    "rank_of",
    "thin_indices",
    "uniformity",
]

#: Central interval probabilities whose coverage is reported.
NOMINAL = (0.5, 0.8, 0.95)
UNIFORMITY_COLUMNS = (
    "parameter",
    "n_sims",
    "ndraws",
    "bins",
    "chisq",
    "df",
    "pvalue",
    "threshold",
    "passed",
)


def thin_indices(total: int, ndraws: int) -> np.ndarray:
    """``ndraws`` evenly spaced indices into ``total`` pooled draws (every one if fewer).

    Talts et al. (2018) thin to about the effective sample size so that the kept draws are
    roughly independent; autocorrelated draws make even a correct posterior's ranks bunch.
    """
    if total < 1 or ndraws < 1:
        raise ValueError("total and ndraws must be at least 1")
    if ndraws >= total:
        return np.arange(total)
    step = total / ndraws
    return np.floor(np.arange(ndraws) * step + step / 2).astype(int)


def rank_of(draws: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rank of each true value among its draws: how many draws lie below it.

    Parameters
    ----------
    draws : numpy.ndarray, shape (ndraws, nparam)
    truth : numpy.ndarray, shape (nparam,)

    Returns
    -------
    numpy.ndarray of int, shape (nparam,)
        Values in ``0, ..., ndraws``.
    """
    draws = np.asarray(draws, dtype=float)
    return (draws < np.asarray(truth, dtype=float)[None, :]).sum(axis=0).astype(int)


def rank_bins(ndraws: int, n_sims: int, max_bins: int = 20) -> int:
    """Number of histogram bins for ranks on ``0..ndraws`` over ``n_sims`` simulations.

    The largest divisor of ``ndraws + 1`` (so that every bin holds the same number of rank
    values and the test is exact) that is at most ``max_bins`` and leaves about ten expected
    simulations per bin (at least 2 bins).
    """
    cap = max(2, min(max_bins, n_sims // 10))
    divisors = [b for b in range(2, cap + 1) if (ndraws + 1) % b == 0]
    return max(divisors) if divisors else min(cap, ndraws + 1)


def bin_probabilities(ndraws: int, bins: int) -> np.ndarray:
    """Probability of each bin for a uniform rank on ``0..ndraws`` (see :func:`bin_of`)."""
    counts = np.bincount(bin_of(np.arange(ndraws + 1), ndraws, bins), minlength=bins)
    return counts / (ndraws + 1)


def bin_of(rank: np.ndarray, ndraws: np.ndarray | int, bins: int) -> np.ndarray:
    """Bin of a rank ``r`` among ``L`` draws: ``floor(r * bins / (L + 1))``."""
    r = np.asarray(rank, dtype=int)
    return np.minimum(r * bins // (np.asarray(ndraws, dtype=int) + 1), bins - 1)


def uniformity(
    ranks: pd.DataFrame, *, bins: int | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """Pearson chi-square test of uniform ranks, one per parameter, Bonferroni-corrected.

    Parameters
    ----------
    ranks : pandas.DataFrame
        Columns ``parameter, rank, ndraws`` (one row per simulation and parameter).
    bins : int, optional
        Histogram bins; by default :func:`rank_bins` of the most common ``ndraws``. A rank
        ``r`` of ``L`` draws falls in bin ``floor(r * bins / (L + 1))``. The expected count of
        a bin is the sum over simulations of its probability under a uniform rank on
        ``0..L``: equal bins when every ``L + 1`` is a multiple of ``bins`` (the plain test),
        and still exact when the ranks were taken among different numbers of draws.
    alpha : float
        Family-wise level. The multiple-testing rule: a parameter passes when its p-value
        exceeds ``alpha / m`` (Bonferroni over the ``m`` parameters tested), so that a
        calibrated model fails any parameter with probability at most ``alpha``.

    Returns
    -------
    pandas.DataFrame
        :data:`UNIFORMITY_COLUMNS`: ``chisq`` on ``df = bins - 1`` degrees of freedom, its
        ``pvalue``, the per-parameter ``threshold`` (``alpha / m``) and ``passed``;
        ``ndraws`` is the median number of draws the ranks were taken among.
    """
    params = list(dict.fromkeys(ranks["parameter"]))
    if bins is None:
        ndraws_mode = int(ranks["ndraws"].mode().iat[0])
        per_param = len(ranks) // max(len(params), 1)
        bins = rank_bins(ndraws_mode, per_param)
    if bins < 2:
        raise ValueError("the uniformity test needs at least 2 bins")
    threshold = alpha / max(len(params), 1)
    rows = []
    for name in params:
        sub = ranks[ranks["parameter"] == name]
        r = sub["rank"].to_numpy(dtype=int)
        ndraws = sub["ndraws"].to_numpy(dtype=int)
        counts = np.bincount(bin_of(r, ndraws, bins), minlength=bins)
        sizes, times = np.unique(ndraws, return_counts=True)
        pairs = zip(sizes, times, strict=True)
        expected = sum(t * bin_probabilities(int(size), bins) for size, t in pairs)
        chisq, pvalue = stats.chisquare(counts, f_exp=expected)
        rows.append(
            {
                "parameter": name,
                "n_sims": int(len(r)),
                "ndraws": int(np.median(ndraws)),
                "bins": int(bins),
                "chisq": float(chisq),
                "df": int(bins - 1),
                "pvalue": float(pvalue),
                "threshold": float(threshold),
                "passed": bool(pvalue > threshold),
            }
        )
    return pd.DataFrame(rows, columns=list(UNIFORMITY_COLUMNS))


def coverage(ranks: pd.DataFrame, nominal: Sequence[float] = NOMINAL) -> pd.DataFrame:
    """Coverage of central posterior intervals, per parameter and nominal probability.

    The truth lies inside the central ``q`` interval of the posterior draws when the share
    of draws below it (``pit``, from every draw, not only the thinned ones) lies in
    ``[(1 - q) / 2, (1 + q) / 2]``.

    Parameters
    ----------
    ranks : pandas.DataFrame
        Columns ``parameter`` and ``pit`` (one row per simulation and parameter).
    nominal : sequence of float
        Interval probabilities.

    Returns
    -------
    pandas.DataFrame
        Columns ``parameter, nominal, coverage, mc_se, n_sims``; ``mc_se`` is the binomial
        Monte Carlo standard error of a calibrated coverage, ``sqrt(q (1 - q) / n_sims)``.
    """
    rows = []
    for name in dict.fromkeys(ranks["parameter"]):
        pit = ranks.loc[ranks["parameter"] == name, "pit"].to_numpy(dtype=float)
        for q in nominal:
            lo, hi = (1.0 - q) / 2.0, (1.0 + q) / 2.0
            inside = (pit >= lo) & (pit <= hi)
            rows.append(
                {
                    "parameter": name,
                    "nominal": float(q),
                    "coverage": float(inside.mean()),
                    "mc_se": float(np.sqrt(q * (1.0 - q) / len(pit))),
                    "n_sims": int(len(pit)),
                }
            )
    return pd.DataFrame(rows, columns=["parameter", "nominal", "coverage", "mc_se", "n_sims"])


def ecdf_difference(
    ranks: np.ndarray, ndraws: np.ndarray | int, *, grid: int = 101, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray, float]:
    """ECDF of the scaled ranks minus the uniform CDF, with a simultaneous band.

    Parameters
    ----------
    ranks : numpy.ndarray
        Ranks of one parameter over simulations.
    ndraws : int or numpy.ndarray
        Draws each rank was taken among.
    grid : int
        Points in ``[0, 1]`` at which the difference is evaluated.
    alpha : float
        The band holds the whole difference curve with probability at least ``1 - alpha``
        under uniformity (Dvoretzky-Kiefer-Wolfowitz: ``sqrt(log(2 / alpha) / (2 S))`` for
        ``S`` simulations; conservative, the simpler cousin of Säilynoja et al. 2022's band).

    Returns
    -------
    x, diff : numpy.ndarray
        Grid and ECDF minus ``x``.
    band : float
        Half-width of the band around zero.
    """
    r = np.asarray(ranks, dtype=float)
    u = (r + 0.5) / (np.asarray(ndraws, dtype=float) + 1.0)  # midpoints of the rank cells
    x = np.linspace(0.0, 1.0, grid)
    ecdf = np.searchsorted(np.sort(u), x, side="right") / len(u)
    band = float(np.sqrt(np.log(2.0 / alpha) / (2.0 * len(u))))
    return x, ecdf - x, band
