"""Figures of a power analysis and a prior sensitivity analysis (rendering only).

Each function takes a tidy table of :mod:`bayes_bmi.calibration` and returns a
:class:`matplotlib.figure.Figure` not attached to pyplot; turn it into bytes with
:func:`bayes_bmi.plots.render.png_bytes`.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from bayes_bmi.plots.calibration import _grid

__all__ = ["plot_power_curves"]


def plot_power_curves(table: pd.DataFrame, target: float | None = 0.8) -> Figure:
    """One panel per hypothesis: P(supported) against n, Bayesian and ML, with 2 MC SEs.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`bayes_bmi.calibration.power.power_table` (``id, parameter, n, p_supported,
        mcse_supported, ml_p_supported, ml_mcse_supported``).
    target : float, optional
        Power drawn as a dashed line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ids = list(dict.fromkeys(table["id"]))
    fig, axes = _grid(len(ids), width=2.8, height=2.2)
    series = (
        ("p_supported", "mcse_supported", "#2471a3", "Bayes"),
        ("ml_p_supported", "ml_mcse_supported", "#ca6f1e", "ML"),
    )
    for ax, hid in zip(axes, ids, strict=False):
        sub = table[table["id"] == hid].sort_values("n")
        for p, se, color, label in series:
            ax.errorbar(
                sub["n"],
                sub[p],
                yerr=2 * sub[se],
                color=color,
                marker="o",
                ms=3,
                lw=1.2,
                capsize=2,
                label=label,
            )
        if target is not None:
            ax.axhline(target, color="#7f8c8d", lw=0.8, ls="--")
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(f"{hid} ({sub['parameter'].iat[0]})", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7, loc="lower right")
    sims = int(table["sims"].min()) if len(table) else 0
    fig.suptitle(
        f"Power: P(verdict 'supported') by sample size ({sims} simulations per n or more; "
        "bars: 2 Monte Carlo SEs; dashed: target)",
        fontsize=10,
    )
    fig.supxlabel("n", fontsize=9)
    return fig
