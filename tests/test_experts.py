"""Expert screening and Kendall's W: hand-worked tables, scipy's Friedman test, R, bad input."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats as sps

from bayes_bmi.measurement.experts import (
    ExpertError,
    expert_screening,
    kendall_w,
)
from bayes_bmi.plots.measurement import plot_expert_screening

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "experts" / "ratings_example.csv"
REF = Path(__file__).resolve().parent / "data" / "measurement"


def test_kendall_w_by_hand_without_ties() -> None:
    # ranks of 4 objects by 3 raters; rank sums 4, 6, 8, 12; mean 7.5; S = 35
    # W = 12 * 35 / (3^2 * (4^3 - 4)) = 7/9; chi2 = 3 * 3 * W = 7
    x = np.array([[1, 2, 3, 4], [2, 1, 3, 4], [1, 3, 2, 4]])
    w, chi2, df, p = kendall_w(x)
    assert w == pytest.approx(7 / 9, abs=1e-15)
    assert chi2 == pytest.approx(7.0, abs=1e-12)
    assert df == 3
    assert p == pytest.approx(sps.chi2.sf(7.0, 3), rel=1e-12)


def test_kendall_w_by_hand_with_ties() -> None:
    # rater 1: 5 5 3 1 -> ranks 3.5 3.5 2 1 (one pair tied: T = 2^3 - 2 = 6)
    # rater 2: 4 4 4 2 -> ranks 3 3 3 1     (a triple: T = 3^3 - 3 = 24)
    # rater 3: 5 4 3 2 -> ranks 4 3 2 1
    # rank sums 10.5, 9.5, 7, 3; S = 33.5; W = 12 * 33.5 / (9 * 60 - 3 * 30) = 67/75
    x = np.array([[5, 5, 3, 1], [4, 4, 4, 2], [5, 4, 3, 2]])
    w, chi2, df, _ = kendall_w(x)
    assert w == pytest.approx(67 / 75, abs=1e-15)
    assert chi2 == pytest.approx(8.04, abs=1e-12)
    # scipy's Friedman test (tie-corrected) is m (n - 1) W: blocks = raters, groups = objects
    assert chi2 == pytest.approx(sps.friedmanchisquare(*x.T).statistic, rel=1e-12)
    # without the correction the value would be 12 * 33.5 / 540: the correction matters here
    assert abs(w - 402 / 540) > 0.1


@pytest.mark.parametrize("seed", range(5))
def test_kendall_w_matches_scipy_friedman(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 6, size=(rng.integers(3, 20), rng.integers(3, 12)))
    w, chi2, df, p = kendall_w(x)
    ref = sps.friedmanchisquare(*x.T)
    assert chi2 == pytest.approx(ref.statistic, rel=1e-10)
    assert p == pytest.approx(ref.pvalue, rel=1e-8)
    assert w == pytest.approx(ref.statistic / (x.shape[0] * (x.shape[1] - 1)), rel=1e-10)


def test_example_matches_r_friedman_test() -> None:
    ref = pd.read_csv(REF / "experts_example_friedman.csv").iloc[0]
    _, summary = expert_screening(pd.read_csv(EXAMPLE))
    assert summary["kendall_w"] == pytest.approx(ref["kendall_w"], rel=1e-10)
    assert summary["chi2"] == pytest.approx(ref["chisq"], rel=1e-10)
    assert summary["df"] == ref["df"]
    assert summary["pvalue"] == pytest.approx(ref["p_value"], rel=1e-8)
    assert summary["n_experts"] == 15
    assert summary["n_elements"] == 12


def test_per_element_statistics_and_passes() -> None:
    raw = pd.read_csv(EXAMPLE)
    table, summary = expert_screening(raw, min_mean=3.5, max_cv=0.25)
    assert list(table.columns) == [
        "element",
        "n",
        "mean",
        "sd",
        "cv",
        "median",
        "mean_rank",
        "passes",
    ]
    assert table["element"].tolist() == list(raw.columns[1:])
    for row in table.itertuples():
        values = raw[row.element].tolist()
        assert row.mean == pytest.approx(statistics.mean(values), rel=1e-12)
        assert row.sd == pytest.approx(statistics.stdev(values), rel=1e-12)
        assert row.cv == pytest.approx(statistics.stdev(values) / statistics.mean(values))
        assert row.median == statistics.median(values)
        assert row.passes == (row.mean >= 3.5 and row.cv <= 0.25)
    # mean ranks of all elements average to (n + 1) / 2
    assert table["mean_rank"].mean() == pytest.approx(6.5)
    assert summary["n_passing"] == int(table["passes"].sum())


def test_threshold_boundaries_are_inclusive() -> None:
    # element a: mean 3.5; element b: mean 4, sd 1 -> cv 0.25; element c: mean 3.0
    ratings = pd.DataFrame({"a": [3, 4, 3, 4], "b": [3, 5, 3, 5], "c": [3, 3, 3, 3]})
    table, _ = expert_screening(ratings)
    assert table["mean"].tolist() == [3.5, 4.0, 3.0]
    assert table["cv"].iloc[1] == pytest.approx(0.2886751345948129)
    table2, _ = expert_screening(ratings, max_cv=0.2886751345948129)
    assert table2["passes"].tolist() == [True, True, False]


def test_id_column_detection() -> None:
    values = pd.DataFrame({"a": [1, 2, 3], "b": [3, 4, 5], "c": [5, 4, 2]})
    named = values.assign(expert=[11, 12, 13])[["expert", "a", "b", "c"]]
    text = values.assign(who=["E1", "E2", "E3"])[["who", "a", "b", "c"]]
    for frame in (values, named, text):
        table, summary = expert_screening(frame)
        assert table["element"].tolist() == ["a", "b", "c"]
        assert summary["n_experts"] == 3
    table, _ = expert_screening(values.assign(code=[1, 2, 3]), id_column="code")
    assert table["element"].tolist() == ["a", "b", "c"]


def test_all_ties_gives_nan_w() -> None:
    _, summary = expert_screening(pd.DataFrame({"a": [4, 3], "b": [4, 3]}))
    assert np.isnan(summary["kendall_w"])


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("x", "'x' is not a number"),
        (6, "rating 6 is outside the scale 1-5"),
        (0, "rating 0 is outside the scale 1-5"),
        (None, "the rating is empty"),
    ],
)
def test_bad_cells_name_row_and_column(value: object, fragment: str) -> None:
    raw = pd.read_csv(EXAMPLE).astype(object)
    raw.loc[3, "channels"] = value
    with pytest.raises(ExpertError) as info:
        expert_screening(raw)
    msg = str(info.value)
    assert "row 4 (expert E04)" in msg
    assert "column 'channels'" in msg
    assert fragment in msg


def test_too_few_experts_or_elements_and_bad_options() -> None:
    with pytest.raises(ExpertError, match="at least 2 experts"):
        expert_screening(pd.DataFrame({"expert": ["E1"], "a": [3], "b": [4]}))
    with pytest.raises(ExpertError, match="at least 2 elements"):
        expert_screening(pd.DataFrame({"a": [3, 4, 5]}))
    with pytest.raises(ExpertError, match="scale"):
        expert_screening(pd.DataFrame({"a": [3, 4], "b": [1, 2]}), scale=(5, 1))
    with pytest.raises(ExpertError, match="id column"):
        expert_screening(pd.DataFrame({"a": [3, 4], "b": [1, 2]}), id_column="nope")


def test_seven_point_scale() -> None:
    table, _ = expert_screening(pd.DataFrame({"a": [7, 6], "b": [1, 2]}), scale=(1, 7))
    assert table["mean"].tolist() == [6.5, 1.5]


def test_example_file_is_regenerated_by_its_script() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_expert_example", ROOT / "scripts" / "make_expert_example.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pd.testing.assert_frame_equal(module.make_ratings(), pd.read_csv(EXAMPLE))


def test_plot() -> None:
    table, _ = expert_screening(pd.read_csv(EXAMPLE))
    fig = plot_expert_screening(table, min_mean=3.5)
    assert len(fig.axes[0].patches) == 12
    assert_allclose(sorted(p.get_width() + 1 for p in fig.axes[0].patches), sorted(table["mean"]))
