"""Literature element counts: hand-made tables, the bundled framework table, bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from bayes_bmi.measurement.literature import (
    LiteratureError,
    element_frequencies,
)
from bayes_bmi.plots.measurement import plot_element_frequencies

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "literature" / "bm_elements.csv"


def small_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "author": ["A", "B", "C", "D"],
            "year": [2001, 2002, 2003, 2004],
            "source": ["J1", "J2", "J3", "J4"],
            "zeta": [1, 1, 1, 0],
            "alpha": [1, 0, 1, 0],
            "beta": [1, 1, 0, 0],
            "gamma": [0, 0, 0, 1],
        }
    )


def test_counts_shares_order_and_threshold() -> None:
    out = element_frequencies(small_table(), threshold=0.5)
    assert list(out.columns) == ["element", "count", "share", "selected"]
    # zeta 3; alpha and beta tie at 2 and are ordered by name; gamma 1
    assert out["element"].tolist() == ["zeta", "alpha", "beta", "gamma"]
    assert out["count"].tolist() == [3, 2, 2, 1]
    assert out["share"].tolist() == [0.75, 0.5, 0.5, 0.25]
    # a share equal to the threshold is selected
    assert out["selected"].tolist() == [True, True, True, False]
    strict = element_frequencies(small_table(), threshold=0.51)
    assert strict["selected"].tolist() == [True, False, False, False]


def test_accepts_bool_float_and_text_codes() -> None:
    t = small_table().astype({"alpha": float})
    t["beta"] = [True, True, False, False]
    t["gamma"] = ["0", "0", " 0", "1"]
    out = element_frequencies(t).set_index("element")
    assert out.loc["alpha", "count"] == 2
    assert out.loc["beta", "count"] == 2
    assert out.loc["gamma", "count"] == 1


def test_bundled_framework_table() -> None:
    raw = pd.read_csv(BUNDLED)
    assert raw.shape[0] == 13
    assert raw[["author", "year", "source"]].notna().all().all()
    assert raw["year"].between(2000, 2016).all()
    out = element_frequencies(raw)
    assert len(out) == 12
    # counted independently of the function: column sums of the element columns
    elements = raw.drop(columns=["author", "year", "source"])
    assert set(elements.stack().unique()) <= {0, 1}
    expected = elements.sum()
    for element, count in zip(out["element"], out["count"], strict=True):
        assert count == expected[element]
    # the Osterwalder & Pigneur canvas codes its nine blocks
    canvas = raw[raw["author"] == "Osterwalder & Pigneur"].iloc[0]
    assert int(canvas[elements.columns].sum()) == 9


@pytest.mark.parametrize(
    ("row", "column", "value", "shown"),
    [(3, "alpha", 2, "2"), (1, "beta", "yes", "'yes'"), (4, "gamma", None, "empty")],
)
def test_bad_cell_names_row_and_column(row: int, column: str, value: object, shown: str) -> None:
    t = small_table().astype(object)
    t.loc[row - 1, column] = value
    with pytest.raises(LiteratureError) as info:
        element_frequencies(t)
    msg = str(info.value)
    assert f"row {row}" in msg
    assert f"'{column}'" in msg
    assert shown in msg


def test_other_errors() -> None:
    with pytest.raises(LiteratureError, match="threshold"):
        element_frequencies(small_table(), threshold=1.5)
    with pytest.raises(LiteratureError, match="no element columns"):
        element_frequencies(small_table()[["author", "year", "source"]])
    with pytest.raises(LiteratureError, match="no studies"):
        element_frequencies(small_table().iloc[:0])


def test_plot_returns_figure_with_one_bar_per_element() -> None:
    out = element_frequencies(small_table())
    fig = plot_element_frequencies(out, threshold=0.5)
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].patches) == 4
