"""Figures of the key-driver and hypothesis analysis (rendering only).

Every function returns a :class:`matplotlib.figure.Figure` that is not attached to pyplot (no
global backend or state is touched); the caller saves it with ``fig.savefig``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse, FancyArrowPatch, Rectangle
from scipy import stats as sps

from bayes_bmi.study.hypotheses import DEFAULT_RULE, hdi, parameter_rows

__all__ = [
    "dominance_heatmap",
    "forest_plot",
    "group_forest_plot",
    "indirect_posteriors",
    "path_diagram",
    "rank_plot",
    "trace_plot",
]

_BLUE = "#2b6cb0"
_GREY = "#a0aec0"
_ROPE = "#e2e8f0"
_PANELS = (("bmi", "Standardized effect on BMI"), ("total", "Standardized total effect on FP"))


def forest_plot(
    table: pd.DataFrame,
    *,
    rope: tuple[float, float] = DEFAULT_RULE.rope,
    title: str | None = None,
) -> Figure:
    """Driver effects (posterior median and HDI) against the ROPE band.

    Parameters
    ----------
    table : pandas.DataFrame
        The key-driver table of :func:`bayes_bmi.study.drivers.key_drivers` (columns ``driver``,
        ``bmi_median``, ``bmi_hdi_lower``, ``bmi_hdi_upper`` and, when present and finite,
        the same with ``total_``). One panel per effect; drivers sorted by the BMI effect.
    rope : tuple of float
        Region of practical equivalence drawn as a grey band.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    df = table.sort_values("bmi_median", kind="mergesort")
    panels = [
        (p, lab)
        for p, lab in _PANELS
        if f"{p}_median" in df and np.isfinite(df[f"{p}_median"].to_numpy(dtype=float)).all()
    ]
    fig = Figure(figsize=(4.2 * len(panels) + 1.2, 0.42 * len(df) + 1.6), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    y = np.arange(len(df))
    for ax, (p, lab) in zip(axes, panels, strict=True):
        med = df[f"{p}_median"].to_numpy(dtype=float)
        lo = df[f"{p}_hdi_lower"].to_numpy(dtype=float)
        hi = df[f"{p}_hdi_upper"].to_numpy(dtype=float)
        ax.axvspan(*rope, color=_ROPE, zorder=0, label=f"ROPE [{rope[0]:g}, {rope[1]:g}]")
        ax.axvline(0, color="#4a5568", linewidth=0.8, zorder=1)
        colours = np.where((lo > 0) | (hi < 0), _BLUE, _GREY)
        ax.hlines(y, lo, hi, colors=list(colours), linewidth=2, zorder=2)
        ax.scatter(med, y, color=list(colours), zorder=3, s=28)
        ax.set_xlabel(lab + " (median, 95% HDI)")
        ax.set_yticks(y, df["driver"].tolist())
        ax.grid(axis="x", color="#edf2f7")
    axes[0].legend(loc="lower right", fontsize="small", frameon=False)
    fig.suptitle(title or "Key drivers of business model innovation")
    return fig


_GROUP_COLOURS = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c")


def group_forest_plot(table: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Each driver's path by group (median, 95% HDI) and its difference from the reference.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`bayes_bmi.study.groups.drivers_by_group`'s table (``driver, group,
        std_median, std_hdi_lower, std_hdi_upper, reference, diff_*``; ``true_std`` and
        ``true_diff`` drawn as crosses when present).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    drivers = list(pd.unique(table["driver"]))
    groups = list(pd.unique(table["group"]))
    ref = str(table["reference"].iloc[0])
    fig = Figure(figsize=(9.5, 0.5 * len(drivers) * max(1, len(groups) / 2) + 1.8))
    fig.set_layout_engine("constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(drivers))[::-1].astype(float)
    width = 0.6 / max(len(groups) - 1, 1)
    has_truth = "true_std" in table
    for k, g in enumerate(groups):
        sub = table[table["group"] == g].set_index("driver").loc[drivers]
        yy = y + 0.3 - k * width
        colour = _GROUP_COLOURS[k % len(_GROUP_COLOURS)]
        left.hlines(yy, sub["std_hdi_lower"], sub["std_hdi_upper"], colors=colour, linewidth=2)
        left.scatter(sub["std_median"], yy, color=colour, s=24, label=str(g), zorder=3)
        if has_truth:
            left.scatter(sub["true_std"], yy, marker="x", color="black", s=22, zorder=4)
        if g == ref:
            continue
        right.hlines(yy, sub["diff_hdi_lower"], sub["diff_hdi_upper"], colors=colour, linewidth=2)
        right.scatter(sub["diff_median"], yy, color=colour, s=24, zorder=3, label=f"{g} - {ref}")
        if has_truth:
            right.scatter(sub["true_diff"], yy, marker="x", color="black", s=22, zorder=4)
    for ax in (left, right):
        ax.axvline(0, color="#4a5568", linewidth=0.8)
        ax.grid(axis="x", color="#edf2f7")
        ax.legend(loc="lower right", fontsize="small", frameon=False)
    left.set_yticks(y, drivers)
    left.set_xlabel("Standardized path by group (median, 95% HDI)")
    right.set_xlabel(f"Difference from {ref} (median, 95% HDI)")
    if has_truth:
        left.set_title("x: true value", fontsize="small", loc="left")
    fig.suptitle(title or "Drivers by group")
    return fig


def rank_plot(rank_probs: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Posterior rank distribution of each driver as stacked bars.

    Parameters
    ----------
    rank_probs : pandas.DataFrame
        Driver x rank probabilities (``Dominance.rank_probs``); rank 1 = largest effect.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Drivers sorted by expected rank (best at the top); one bar segment per rank.
    """
    ranks = rank_probs.columns.to_numpy(dtype=float)
    expected = rank_probs.to_numpy(dtype=float) @ ranks
    df = rank_probs.iloc[np.argsort(-expected, kind="stable")]
    k = df.shape[1]
    fig = Figure(figsize=(7.5, 0.42 * len(df) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    cmap = _cmap("viridis")
    names = [str(d) for d in df.index]
    left = np.zeros(len(df))
    for j, r in enumerate(df.columns):
        width = df[r].to_numpy(dtype=float)
        ax.barh(names, width, left=left, color=cmap(j / max(k - 1, 1)), label=str(r))
        left += width
    ax.set_xlim(0, 1)
    ax.set_xlabel("posterior probability of each rank (1 = largest effect)")
    ax.legend(title="rank", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_title(title or "Posterior rank distribution of the drivers")
    return fig


def dominance_heatmap(matrix: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Heat map of ``P(row driver > column driver)``.

    Parameters
    ----------
    matrix : pandas.DataFrame
        ``Dominance.pairwise``: square, diagonal NaN.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One image, one annotation per off-diagonal cell and a colour bar.
    """
    m = matrix.to_numpy(dtype=float)
    k = m.shape[0]
    fig = Figure(figsize=(0.6 * k + 2.6, 0.55 * k + 1.6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(m), cmap=_cmap("RdBu_r"), vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if i != j and np.isfinite(m[i, j]):
                colour = "white" if abs(m[i, j] - 0.5) > 0.35 else "black"
                ax.text(
                    j, i, f"{m[i, j]:.2f}", ha="center", va="center", color=colour, fontsize="small"
                )
    ax.set_xticks(range(k), [str(c) for c in matrix.columns])
    ax.set_yticks(range(k), [str(r) for r in matrix.index])
    ax.set_xlabel("column driver")
    ax.set_ylabel("row driver")
    fig.colorbar(image, ax=ax, label="P(row effect > column effect)")
    ax.set_title(title or "Pairwise dominance")
    return fig


def indirect_posteriors(
    draws: Mapping[str, np.ndarray],
    *,
    rope: tuple[float, float] | None = DEFAULT_RULE.rope,
    ci_prob: float = 0.95,
    title: str | None = None,
) -> Figure:
    """Posterior densities of the indirect effects (or any set of scalar parameters).

    Parameters
    ----------
    draws : mapping
        Name -> draws (any shape; flattened), e.g. std.all draws of ``ind_TI`` ...
    rope : tuple of float, optional
        Draw the ROPE band (``None``: no band).
    ci_prob : float
        Probability of the HDI marked under each curve.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One labelled density line per entry (Gaussian KDE) with its HDI as a segment at the
        curve's base.
    """
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    if rope is not None:
        ax.axvspan(*rope, color=_ROPE, zorder=0, label="ROPE")
    ax.axvline(0, color="#4a5568", linewidth=0.8)
    cmap = _cmap("tab10")
    for j, (name, values) in enumerate(draws.items()):
        x = np.ravel(np.asarray(values, dtype=float))
        x = x[np.isfinite(x)]
        colour = cmap(j % 10)
        if x.size > 1 and np.ptp(x) > 0:
            grid = np.linspace(x.min(), x.max(), 256)
            pad = 0.1 * (grid[-1] - grid[0])
            grid = np.linspace(grid[0] - pad, grid[-1] + pad, 256)
            ax.plot(grid, sps.gaussian_kde(x)(grid), color=colour, label=name)
        else:
            ax.axvline(float(x[0]) if x.size else math.nan, color=colour, label=name)
        if x.size:
            lo, hi = hdi(x, ci_prob)
            ax.plot([lo, hi], [0, 0], color=colour, linewidth=4, solid_capstyle="butt")
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"effect (bars: {100 * ci_prob:g}% HDI)")
    ax.set_ylabel("posterior density")
    ax.legend(fontsize="small", frameon=False)
    ax.set_title(title or "Indirect effects through BMI")
    return fig


# --------------------------------------------------------------------------------------
# Path diagram
# --------------------------------------------------------------------------------------


def _layers(edges: list[tuple[str, str]]) -> dict[str, int]:
    """Column of each node: 0 for exogenous nodes, else 1 + the deepest predictor's."""
    nodes = list(dict.fromkeys([n for e in edges for n in (e[1], e[0])]))
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for lhs, rhs in edges:
        preds[lhs].append(rhs)
    depth = {n: 0 for n in nodes}
    for _ in range(len(nodes)):  # longest path by relaxation; a cycle stops at len(nodes)
        changed = False
        for n in nodes:
            d = max((depth[p] + 1 for p in preds[n]), default=0)
            if d != depth[n]:
                depth[n], changed = d, True
        if not changed:
            break
    return depth


def _grid(depth: Mapping[str, int], dx: float, dy: float) -> tuple[dict[str, np.ndarray], int, int]:
    """Node positions: one column per depth, each column centred; and the grid's size."""
    columns: dict[int, list[str]] = {}
    for n, d in depth.items():
        columns.setdefault(d, []).append(n)
    ncol = max(columns) + 1
    nrow = max(len(v) for v in columns.values())
    pos: dict[str, np.ndarray] = {}
    for d, names in columns.items():
        offset = (nrow - len(names)) / 2
        for i, n in enumerate(names):
            pos[n] = np.array([d * dx, -(offset + i) * dy])
    return pos, ncol, nrow


def _boundary(centre: np.ndarray, towards: np.ndarray, half: tuple[float, float]) -> np.ndarray:
    u = towards - centre
    norm = math.hypot(u[0] / half[0], u[1] / half[1])
    return centre + u / norm if norm > 0 else centre


def path_diagram(result: Any, *, title: str | None = None) -> Figure:
    """Structural paths drawn left to right, annotated with standardized estimates.

    Exogenous variables (the drivers) stand on the left, each further variable one column to
    the right of its deepest predictor (BMI in the middle, FP on the right). Latent
    variables are ellipses, observed ones boxes. Each arrow carries the posterior median of
    the path's std.all value; solid arrows have a 95% HDI excluding 0, dashed grey ones do
    not. Measurement paths and covariances are left out.

    Parameters
    ----------
    result : BayesResult or pandas.DataFrame
        A fit, or its ``summary`` (columns ``lhs``, ``op``, ``rhs``, ``std_all``,
        ``hdi_lower``, ``hdi_upper``).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One arrow patch per ``~`` row.
    """
    summary = result.summary if hasattr(result, "summary") else result
    reg = summary[summary["op"] == "~"]
    latent = set(summary.loc[summary["op"] == "=~", "lhs"])
    edges = [(str(a), str(b)) for a, b in zip(reg["lhs"], reg["rhs"], strict=True)]
    if not edges:
        raise ValueError("the model has no regressions ('~') to draw")
    depth = _layers(edges)
    dx, dy = 3.0, 1.0
    pos, ncol, nrow = _grid(depth, dx, dy)
    half = (0.55, 0.3)

    size = np.array([3.0 * ncol + 1.5, 0.62 * nrow + 1.4])
    fig = Figure(figsize=tuple(size), layout="constrained")
    inch = size / np.array([(ncol - 1) * dx + 2.0, (nrow - 1) * dy + 1.6])  # per data unit
    ax = fig.add_subplot()
    for n, (x, y) in pos.items():
        if n in latent:
            patch = Ellipse((x, y), 2 * half[0], 2 * half[1], facecolor="#ebf4ff", edgecolor=_BLUE)
        else:
            patch = Rectangle(
                (x - half[0], y - half[1]),
                2 * half[0],
                2 * half[1],
                facecolor="#f7fafc",
                edgecolor="#4a5568",
            )
        ax.add_patch(patch)
        ax.text(x, y, n, ha="center", va="center", fontsize="small", fontweight="bold")
    std = reg["std_all"].to_numpy(dtype=float)
    lo = reg["hdi_lower"].to_numpy(dtype=float)
    hi = reg["hdi_upper"].to_numpy(dtype=float)
    for (lhs, rhs), s, a, b in zip(edges, std, lo, hi, strict=True):
        p0, p1 = pos[rhs], pos[lhs]
        # a path that skips a column bows away from the middle row, around the nodes between
        skip = abs(depth[lhs] - depth[rhs]) > 1
        rad = 0.0
        if skip:
            rad = 0.3 * (1 if (p0[1] >= p1[1]) == (p1[0] < p0[0]) else -1)
        start, end = _boundary(p0, p1, half), _boundary(p1, p0, half)
        credible = a > 0 or b < 0
        ax.add_patch(
            FancyArrowPatch(
                tuple(start),
                tuple(end),
                arrowstyle="-|>",
                mutation_scale=10,
                connectionstyle=f"arc3,rad={rad}",
                color="#1a202c" if credible else _GREY,
                linestyle="-" if credible else "--",
                linewidth=1.0,
            )
        )
        v = end - start
        if skip:  # midpoint of arc3's quadratic Bezier, whose bow is set in display space
            vd = v * inch
            label_at = start + 0.5 * v + 0.5 * rad * np.array([vd[1], -vd[0]]) / inch
        else:
            label_at = start + 0.3 * v
        ax.text(
            *label_at,
            f"{s:.2f}",
            ha="center",
            va="center",
            fontsize="x-small",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
        )
    ax.set_xlim(-1.0, (ncol - 1) * dx + 1.0)
    ax.set_ylim(-(nrow - 1) * dy - 0.8, 0.8)
    ax.axis("off")
    ax.set_title(
        title or "Structural model: posterior median std.all (solid: 95% HDI excludes 0)",
        fontsize="medium",
    )
    return fig


def _cmap(name: str):
    from matplotlib import colormaps

    return colormaps[name]


def trace_plot(result: Any, names: Sequence[str], *, title: str | None = None) -> Figure:
    """Traces of up to six parameters, one panel each, one line per chain.

    Parameters
    ----------
    result : BayesResult
        A fit (its ``summary`` and the ``estimate`` draws of its posterior).
    names : sequence of str
        Parameter names (labels or ``lhs~rhs``); names the fit does not have are skipped.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    idx = parameter_rows(result.summary)
    names = [n for n in names if n in idx][:6]
    fig = Figure(figsize=(9, 1.6 * max(len(names), 1)))
    est = result.idata["posterior"]["estimate"].values
    for j, n in enumerate(names):
        ax = fig.add_subplot(len(names), 1, j + 1)
        for c in range(est.shape[0]):
            ax.plot(est[c, :, idx[n]], lw=0.4, alpha=0.8, label=f"chain {c + 1}")
        ax.set_ylabel(n, fontsize=8)
        if j == 0:
            ax.set_title(
                title or "Traces of the driver paths (each colour a chain; they should overlap)"
            )
    fig.tight_layout()
    return fig
