"""Figures of model checking and comparison (rendering only).

Every function returns a :class:`matplotlib.figure.Figure` that is not attached to pyplot (no
global state); turn it into bytes with :func:`bayes_bmi.plots.render.png_bytes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from bayes_bmi.checking.compare import Comparison
    from bayes_bmi.checking.ppc import PPPCheck

__all__ = ["plot_comparison", "plot_ppp", "plot_residual_correlations"]


def plot_ppp(ppp: PPPCheck, title: str | None = None) -> Figure:
    """Observed against replicated discrepancy per draw, and the histogram of their difference.

    Points above the diagonal are draws where the replicated data fit worse than the observed
    data; the PPP is their share.

    Parameters
    ----------
    ppp : PPPCheck
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    t_obs = np.ravel(ppp.t_obs)
    t_rep = np.ravel(ppp.t_rep)
    ok = np.isfinite(t_obs) & np.isfinite(t_rep)
    t_obs, t_rep = t_obs[ok], t_rep[ok]
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    above = t_rep >= t_obs
    ax1.scatter(
        t_obs[~above], t_rep[~above], s=6, alpha=0.4, color="#c0392b", label="T_rep < T_obs"
    )
    ax1.scatter(t_obs[above], t_rep[above], s=6, alpha=0.4, color="#2471a3", label="T_rep >= T_obs")
    if t_obs.size:
        lo = float(min(t_obs.min(), t_rep.min()))
        hi = float(max(t_obs.max(), t_rep.max()))
        ax1.plot([lo, hi], [lo, hi], color="black", lw=1)
    ax1.set_xlabel("T(y; theta): observed data")
    ax1.set_ylabel("T(y_rep; theta): replicated data")
    ax1.legend(loc="upper left", fontsize=8)
    ax1.set_title("Likelihood-ratio discrepancy per draw")
    diff = t_rep - t_obs
    ax2.hist(diff, bins=50, color="#7f8c8d")
    ax2.axvline(0.0, color="black", lw=1)
    ax2.set_xlabel("T_rep - T_obs")
    ax2.set_ylabel("draws")
    ax2.set_title(f"PPP = {ppp.ppp:.3f} (share of draws right of 0)")
    fig.suptitle(title or "Posterior predictive check (chi-square discrepancy)")
    return fig


def plot_residual_correlations(
    residuals: pd.DataFrame, names: Sequence[str], title: str | None = None
) -> Figure:
    """Heatmap of the posterior mean residual correlations (lower triangle).

    Cells whose interval excludes zero are marked with an asterisk (values are printed when
    there are at most 16 variables).

    Parameters
    ----------
    residuals : pandas.DataFrame
        :func:`bayes_bmi.checking.ppc.residual_table`.
    names : sequence of str
        Variables in display order.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    p = len(names)
    pos = {v: i for i, v in enumerate(names)}
    mat = np.full((p, p), np.nan)
    star = np.zeros((p, p), dtype=bool)
    for v1, v2, r, flag in zip(
        residuals["var1"],
        residuals["var2"],
        residuals["residual"],
        residuals["excludes_zero"],
        strict=True,
    ):
        i, j = sorted((pos[v1], pos[v2]), reverse=True)
        mat[i, j] = r
        star[i, j] = bool(flag)
    vmax = max(0.1, float(np.nanmax(np.abs(mat)))) if np.isfinite(mat).any() else 0.1
    size = min(12.0, 2.5 + 0.45 * p)
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(np.ma.masked_invalid(mat), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.set_xticks(range(p), names, rotation=90, fontsize=8 if p > 20 else 9)
    ax.set_yticks(range(p), names, fontsize=8 if p > 20 else 9)
    if p <= 16:
        for i in range(p):
            for j in range(i):
                if np.isfinite(mat[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{mat[i, j]:.2f}{'*' if star[i, j] else ''}",
                        ha="center",
                        va="center",
                        fontsize=7,
                    )
    else:
        ii, jj = np.nonzero(star)
        ax.scatter(jj, ii, marker="*", s=12, color="black")
    fig.colorbar(im, ax=ax, shrink=0.8, label="observed - implied correlation")
    ax.set_title(title or "Residual correlations (posterior mean; * interval excludes 0)")
    return fig


def plot_comparison(comparison: Comparison, title: str | None = None) -> Figure:
    """ELPD (LOO) with standard errors, and the posterior of BRMSEA and BCFI, per model.

    Left: ``elpd_loo`` +- SE (black) and, for every model but the best, the difference to the
    best +- its SE, drawn from the best model's value (grey). Middle and right: posterior mean
    and 90% HPD interval of BRMSEA and BCFI with the usual cut-offs. Labels carry the PPP.

    Parameters
    ----------
    comparison : Comparison
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = comparison.table
    k = len(t)
    y = np.arange(k)[::-1].astype(float)
    labels = [f"{m}\nPPP {p:.2f}" for m, p in zip(t["model"], t["ppp"], strict=True)]
    panels = [("BRMSEA", (0.05, 0.08)), ("BCFI", (0.90, 0.95))]
    has_bcfi = any("BCFI" in c.indices for c in comparison.checks.values())
    if not has_bcfi:
        panels = panels[:1]
    fig = Figure(figsize=(4.2 + 3.2 * len(panels), 1.2 + 0.7 * k), layout="constrained")
    axes = fig.subplots(1, 1 + len(panels), sharey=True, squeeze=False)[0]
    ax = axes[0]
    ax.errorbar(
        t["elpd_loo"],
        y,
        xerr=t["se_elpd_loo"],
        fmt="o",
        color="black",
        capsize=3,
        label="elpd_loo +- SE",
    )
    best = float(t["elpd_loo"].iloc[0])
    others = t.index[1:]
    if len(others):
        ax.errorbar(
            best + t.loc[others, "elpd_diff"],
            y[1:] - 0.2,
            xerr=t.loc[others, "se_diff"],
            fmt="^",
            color="grey",
            capsize=3,
            label="difference to best +- SE",
        )
    ax.axvline(best, color="black", lw=0.8, ls=":")
    ax.set_yticks(y, labels)
    ax.set_xlabel("elpd (LOO); higher is better")
    fig.legend(loc="outside lower left", ncols=2, fontsize=8)
    for ax, (index, cuts) in zip(axes[1:], panels, strict=True):
        for yi, name in zip(y, t["model"], strict=True):
            s = comparison.checks[name].index_summary.set_index("index")
            if index not in s.index:
                continue
            row = s.loc[index]
            ax.errorbar(
                row["mean"],
                yi,
                xerr=[[row["mean"] - row["lower"]], [row["upper"] - row["mean"]]],
                fmt="o",
                color="#2471a3",
                capsize=3,
            )
        for c in cuts:
            ax.axvline(c, color="grey", lw=0.8, ls="--")
        ax.set_xlabel(f"{index} (mean, 90% HPD)")
    fig.suptitle(title or f"Model comparison (means: {comparison.means})")
    return fig
