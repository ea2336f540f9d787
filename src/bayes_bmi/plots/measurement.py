"""Figures of the measurement stages: literature count, expert screening, PCA, HTMT.

Rendering only; every function returns a :class:`matplotlib.figure.Figure` that is not
attached to pyplot (no global state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from bayes_bmi.measurement.pca import PCAResult

__all__ = [
    "plot_element_frequencies",
    "plot_expert_screening",
    "plot_htmt",
    "plot_loadings",
    "plot_scree",
]


def plot_element_frequencies(
    frequencies: pd.DataFrame, *, threshold: float | None = None, title: str | None = None
) -> Figure:
    """Horizontal bar chart of the share of studies using each element.

    Parameters
    ----------
    frequencies : pandas.DataFrame
        The output of :func:`bayes_bmi.measurement.literature.element_frequencies`.
    threshold : float, optional
        Draw the selection threshold as a vertical line.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        A figure not attached to pyplot (no global state); save it with ``fig.savefig``.
    """
    df = frequencies.iloc[::-1]
    fig = Figure(figsize=(7.0, 0.35 * len(df) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    colours = np.where(df["selected"].to_numpy(dtype=bool), "#2b6cb0", "#a0aec0")
    ax.barh(df["element"], df["share"], color=colours)
    for y, (share, count) in enumerate(zip(df["share"], df["count"], strict=True)):
        ax.text(share + 0.01, y, str(count), va="center", fontsize=8)
    if threshold is not None:
        ax.axvline(threshold, color="#c53030", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("share of studies using the element")
    ax.set_title(title or "Elements in the literature")
    return fig


def plot_expert_screening(
    screening: pd.DataFrame,
    *,
    min_mean: float | None = None,
    scale: tuple[float, float] = (1, 5),
    title: str | None = None,
) -> Figure:
    """Mean rating (with +-1 SD) of each element, passing elements highlighted.

    Parameters
    ----------
    screening : pandas.DataFrame
        The first output of :func:`bayes_bmi.measurement.experts.expert_screening`.
    min_mean : float, optional
        Draw the mean threshold as a vertical line.
    scale : tuple of float
        The rating scale (sets the axis range).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        A figure not attached to pyplot; save it with ``fig.savefig``.
    """
    df = screening.sort_values("mean", kind="mergesort")
    fig = Figure(figsize=(7.0, 0.35 * len(df) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    colours = np.where(df["passes"].to_numpy(dtype=bool), "#2b6cb0", "#a0aec0")
    lo, hi = scale
    ax.barh(df["element"], df["mean"] - lo, left=lo, xerr=df["sd"], color=colours, ecolor="#4a5568")
    if min_mean is not None:
        ax.axvline(min_mean, color="#c53030", linestyle="--", linewidth=1)
    ax.set_xlim(lo, hi + 0.5)
    ax.set_xlabel("mean rating (bars: +-1 SD); blue = passes")
    ax.set_title(title or "Expert screening of the elements")
    return fig


def plot_scree(result: PCAResult, *, title: str | None = None) -> Figure:
    """Scree plot: observed eigenvalues, random-data 95th percentiles and the Kaiser line.

    Parameters
    ----------
    result : PCAResult
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        A figure not attached to pyplot; save it with ``fig.savefig``.
    """
    eig = result.eigenvalues
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(eig["component"], eig["eigenvalue"], "o-", color="#2b6cb0", label="observed")
    ax.plot(
        eig["component"],
        eig["parallel_p95"],
        "s--",
        color="#718096",
        markersize=4,
        label=f"random data, 95th percentile ({result.parallel_iter} sets)",
    )
    ax.axhline(1.0, color="#c53030", linestyle=":", linewidth=1, label="eigenvalue 1 (Kaiser)")
    ax.axvline(result.n_components + 0.5, color="#a0aec0", linewidth=0.8)
    ax.set_xticks(eig["component"])
    ax.set_xlabel("component")
    ax.set_ylabel("eigenvalue")
    ax.set_title(
        title
        or f"Scree plot (Kaiser: {result.n_kaiser}, parallel analysis: {result.n_parallel}, "
        f"retained: {result.n_components})"
    )
    ax.legend(frameon=False, fontsize=8)
    return fig


def plot_loadings(result: PCAResult, *, title: str | None = None) -> Figure:
    """Heat map of the (rotated) loadings, values printed in the cells.

    Parameters
    ----------
    result : PCAResult
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        A figure not attached to pyplot; save it with ``fig.savefig``.
    """
    names = [c for c in result.loadings.columns if c.startswith("pc")]
    values = result.loadings[names].to_numpy()
    p, k = values.shape
    fig = Figure(figsize=(1.1 * k + 2.5, 0.32 * p + 1.5), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for i in range(p):
        for j in range(k):
            ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(p), list(result.items))
    rot = result.rotation or "unrotated"
    ax.set_title(title or f"Loadings ({rot})")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def plot_htmt(
    htmt_matrix: pd.DataFrame, *, threshold: float = 0.85, title: str | None = None
) -> Figure:
    """Heat map of an HTMT matrix (lower triangle); values at or above ``threshold`` in bold.

    Parameters
    ----------
    htmt_matrix : pandas.DataFrame
        The output of :func:`bayes_bmi.measurement.reliability.htmt` (``construct`` + one
        column per construct).
    threshold : float
        HTMT limit.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        A figure not attached to pyplot; save it with ``fig.savefig``.
    """
    names = list(htmt_matrix["construct"])
    values = htmt_matrix[names].to_numpy(dtype=float)
    k = len(names)
    masked = np.where(np.tril(np.ones((k, k), dtype=bool), k=-1), values, np.nan)
    fig = Figure(figsize=(0.8 * k + 2.8, 0.7 * k + 1.6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(masked, cmap="Reds", vmin=0, vmax=1)
    for i in range(k):
        for j in range(i):
            v = values[i, j]
            if np.isnan(v):
                continue
            bad = v >= threshold
            ax.text(
                j,
                i,
                f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                fontweight="bold" if bad else "normal",
            )
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_title(title or f"HTMT (bold: at or above {threshold:g})")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig
