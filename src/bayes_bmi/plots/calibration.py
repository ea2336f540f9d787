"""Figures of a simulation-based calibration (rendering only).

Every function takes the tidy rank table of :func:`bayes_bmi.calibration.runner.calibrate`
(columns ``parameter, rank, ndraws``) and returns a :class:`matplotlib.figure.Figure` not
attached to pyplot; turn it into bytes with :func:`bayes_bmi.plots.render.png_bytes`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from bayes_bmi.calibration.ranks import bin_of, ecdf_difference, rank_bins

__all__ = ["plot_ecdf_difference", "plot_rank_histograms"]


def _grid(nparam: int, width: float = 2.6, height: float = 2.0) -> tuple[Figure, np.ndarray]:
    ncol = min(6, max(1, nparam))
    nrow = math.ceil(nparam / ncol)
    fig = Figure(figsize=(width * ncol, height * nrow + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False).ravel())
    for ax in axes[nparam:]:
        ax.set_visible(False)
    return fig, axes


def plot_rank_histograms(ranks: pd.DataFrame, bins: int | None = None) -> Figure:
    """One rank histogram per parameter with the 99% band of a uniform histogram's bars.

    Parameters
    ----------
    ranks : pandas.DataFrame
        Columns ``parameter, rank, ndraws``.
    bins : int, optional
        As in :func:`bayes_bmi.calibration.ranks.uniformity` (by default the same choice).

    Returns
    -------
    matplotlib.figure.Figure
    """
    params = list(dict.fromkeys(ranks["parameter"]))
    n_sims = len(ranks) // max(len(params), 1)
    ndraws = int(ranks["ndraws"].mode().iat[0]) if len(ranks) else 1
    bins = bins or rank_bins(ndraws, n_sims)
    fig, axes = _grid(len(params))
    lo, hi = stats.binom.ppf([0.005, 0.995], n_sims, 1.0 / bins)
    for ax, name in zip(axes, params, strict=False):
        sub = ranks[ranks["parameter"] == name]
        r = sub["rank"].to_numpy(dtype=int)
        counts = np.bincount(bin_of(r, sub["ndraws"].to_numpy(), bins), minlength=bins)
        ax.axhspan(lo, hi, color="#d5dbdb", lw=0)
        ax.axhline(n_sims / bins, color="#7f8c8d", lw=0.8)
        ax.bar(np.arange(bins), counts, width=1.0, color="#2471a3", edgecolor="white", lw=0.3)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.tick_params(labelsize=7)
    fig.suptitle(
        f"Rank histograms: {n_sims} simulations, ranks among {ndraws} draws in {bins} bins "
        "(grey: 99% range of a bar under uniformity)",
        fontsize=10,
    )
    return fig


def plot_ecdf_difference(ranks: pd.DataFrame, alpha: float = 0.05) -> Figure:
    """ECDF of the scaled ranks minus the uniform CDF per parameter, with a simultaneous band.

    A calibrated posterior stays inside the band (probability ``1 - alpha`` for the whole
    curve); a curve above zero in the middle means posteriors too wide, an S-shape bias.

    Parameters
    ----------
    ranks : pandas.DataFrame
        Columns ``parameter, rank, ndraws``.
    alpha : float

    Returns
    -------
    matplotlib.figure.Figure
    """
    params = list(dict.fromkeys(ranks["parameter"]))
    fig, axes = _grid(len(params))
    band = 0.0
    for ax, name in zip(axes, params, strict=False):
        sub = ranks[ranks["parameter"] == name]
        x, diff, band = ecdf_difference(
            sub["rank"].to_numpy(), sub["ndraws"].to_numpy(), alpha=alpha
        )
        ax.fill_between(x, -band, band, color="#d5dbdb", lw=0)
        ax.axhline(0.0, color="#7f8c8d", lw=0.8)
        ax.step(x, diff, where="post", color="#2471a3", lw=1.2)
        top = max(2.0 * band, 1.1 * float(np.abs(diff).max()))
        ax.set_ylim(-top, top)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle(
        f"ECDF of the scaled ranks minus uniform (grey: {1 - alpha:.0%} simultaneous band)",
        fontsize=10,
    )
    return fig
