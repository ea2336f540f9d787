"""Figures built on synthetic inputs: the expected artists are there and the figures render."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse, FancyArrowPatch, Rectangle

from bayes_bmi.plots.study import (
    dominance_heatmap,
    forest_plot,
    indirect_posteriors,
    path_diagram,
    rank_plot,
)
from bayes_bmi.study.drivers import driver_effects

DRIVERS = ["TI", "MD", "CP", "EM", "OL"]


def _analysis(with_total: bool = True):
    rng = np.random.default_rng(0)
    x = rng.normal([0.35, 0.25, 0.0, 0.3, 0.15], 0.04, size=(2000, 5))
    return driver_effects(x, DRIVERS, x * 0.5 if with_total else None)


def _renders(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    assert type(fig.canvas).__name__ == "FigureCanvasBase"  # not attached to pyplot
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue()[:4] == b"\x89PNG"


@pytest.mark.parametrize(("with_total", "n_axes"), [(True, 2), (False, 1)])
def test_forest_plot(with_total, n_axes):
    table, _ = _analysis(with_total)
    fig = forest_plot(table, rope=(-0.1, 0.1))
    _renders(fig)
    assert len(fig.axes) == n_axes
    for ax in fig.axes:
        # ROPE band, one HDI segment per driver, one median marker per driver
        assert any(isinstance(p, Rectangle) for p in ax.patches)
        segs = [c for c in ax.collections if isinstance(c, LineCollection)]
        assert len(segs) == 1 and len(segs[0].get_segments()) == len(DRIVERS)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == ["CP", "OL", "MD", "EM", "TI"]  # sorted by the effect on BMI
    assert "ROPE [-0.1, 0.1]" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_rank_plot():
    _, dom = _analysis()
    fig = rank_plot(dom.rank_probs)
    _renders(fig)
    ax = fig.axes[0]
    k = len(DRIVERS)
    assert len(ax.patches) == k * k
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [str(r) for r in range(1, 6)]
    # best expected rank on top (the last tick of a horizontal bar chart)
    assert ax.get_yticklabels()[-1].get_text() == "TI"


def test_dominance_heatmap():
    _, dom = _analysis()
    fig = dominance_heatmap(dom.pairwise)
    _renders(fig)
    ax = fig.axes[0]
    k = len(DRIVERS)
    assert len(ax.images) == 1
    assert len(ax.texts) == k * (k - 1)
    assert len(fig.axes) == 2  # the colour bar
    assert f"{dom.pairwise.at['TI', 'MD']:.2f}" in [t.get_text() for t in ax.texts]


def test_indirect_posteriors():
    rng = np.random.default_rng(1)
    draws = {
        f"ind_{d}": rng.normal(m, 0.02, 1000) for d, m in zip("ABC", [0.1, 0.0, 0.2], strict=True)
    }
    draws["ind_D"] = np.full(10, 0.05)  # degenerate: drawn as a vertical line
    fig = indirect_posteriors(draws)
    _renders(fig)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert [lab for lab in labels if lab.startswith("ind_")] == list(draws)
    assert any(isinstance(p, Rectangle) for p in ax.patches)  # ROPE
    assert not indirect_posteriors(draws, rope=None).axes[0].patches


def _summary(direct: bool) -> pd.DataFrame:
    rows = [("TI", "=~", "TI1", 1.0, 0.5, 1.5), ("BMI", "=~", "VP", 1.0, 0.5, 1.5)]
    rows += [("FP", "=~", "FP1", 1.0, 0.5, 1.5)]
    rows += [
        ("BMI", "~", d, s, s - 0.08, s + 0.08)
        for d, s in zip(DRIVERS, [0.37, 0.3, 0, 0.2, 0.1], strict=True)
    ]
    rows += [("FP", "~", "BMI", 0.48, 0.4, 0.56)]
    if direct:
        rows += [("FP", "~", "TI", 0.05, -0.03, 0.13)]
    return pd.DataFrame(rows, columns=["lhs", "op", "rhs", "std_all", "hdi_lower", "hdi_upper"])


@pytest.mark.parametrize("direct", [False, True])
def test_path_diagram(direct):
    summary = _summary(direct)
    fig = path_diagram(SimpleNamespace(summary=summary))
    _renders(fig)
    ax = fig.axes[0]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    n_paths = int((summary["op"] == "~").sum())
    assert len(arrows) == n_paths
    # latent variables as ellipses, observed predictors (MD, CP, EM, OL) as boxes
    assert sum(isinstance(p, Ellipse) for p in ax.patches) == 3
    assert sum(type(p) is Rectangle for p in ax.patches) == 4
    texts = [t.get_text() for t in ax.texts]
    assert {"TI", "BMI", "FP", "0.37", "0.48"} <= set(texts)
    # dashed arrows for HDIs that include 0 (CP, and the direct TI path)
    dashed = [a for a in arrows if a.get_linestyle() not in ("-", "solid")]
    assert len(dashed) == (2 if direct else 1)
    # layout: drivers left of BMI, BMI left of FP
    pos = {
        t.get_text(): t.get_position()[0] for t in ax.texts if t.get_text() in ("TI", "BMI", "FP")
    }
    assert pos["TI"] < pos["BMI"] < pos["FP"]


def test_path_diagram_accepts_a_summary_and_needs_paths():
    fig = path_diagram(_summary(False))
    assert len([p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]) == 6
    with pytest.raises(ValueError, match="no regressions"):
        path_diagram(_summary(False).query("op != '~'"))
