"""Little's MCAR test (:mod:`bayes_bmi.ml.mcar`) against R, and its behaviour on known data.

The reference (``tests/data/missing/little_mcar_reference.csv``) is Little's statistic computed
in R from lavaan's EM moments by ``scripts/reference_little_mcar.R``; its airquality row equals
what naniar documents for ``mcar_test(airquality)`` (35.1, df 14, p 0.00142, 4 patterns).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.data import missing_patterns
from bayes_bmi.ml.mcar import MCARTest, little_mcar
from conftest import DATA

MISSING = DATA / "missing"
REFERENCE = pd.read_csv(MISSING / "little_mcar_reference.csv")


@pytest.mark.parametrize("row", REFERENCE.to_dict("records"), ids=list(REFERENCE["data"]))
def test_little_mcar_equals_r(row: dict) -> None:
    data = pd.read_csv(MISSING / row["file"])
    test = little_mcar(missing_patterns(data, row["vars"].split()))
    assert test.df == row["df"]
    assert test.npatterns == row["npatterns"]
    assert test.n == row["n"]
    assert test.em_converged
    assert test.statistic == pytest.approx(row["statistic"], rel=1e-6)
    assert test.pvalue == pytest.approx(row["pvalue"], rel=1e-6)


def test_airquality_matches_naniar_documentation() -> None:
    data = pd.read_csv(MISSING / "airquality.csv")
    test = little_mcar(missing_patterns(data, list(data.columns)))
    assert (round(test.statistic, 1), test.df, round(test.pvalue, 5), test.npatterns) == (
        35.1,
        14,
        0.00142,
        4,
    )


def test_complete_data_has_no_test() -> None:
    data = pd.read_csv(DATA / "HolzingerSwineford1939.csv")
    test = little_mcar(missing_patterns(data, [f"x{i}" for i in range(1, 10)]))
    assert test == MCARTest(0.0, 0, test.pvalue, 1, 301)
    assert math.isnan(test.pvalue)
    assert not test.tested
    assert "nothing to test" in test.describe()


def _simulated(seed: int, mar: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, p = 800, 6
    corr = 0.5 * np.ones((p, p)) + 0.5 * np.eye(p)
    y = rng.multivariate_normal(np.zeros(p), corr, size=n)
    if mar:  # cells of y2..y6 missing more often when y1 is high
        prob = 1.0 / (1.0 + np.exp(-(-2.0 + 1.5 * y[:, [0]])))
        hole = rng.random((n, p - 1)) < prob
    else:
        hole = rng.random((n, p - 1)) < 0.15
    y[:, 1:][hole] = np.nan
    return pd.DataFrame(y, columns=[f"y{i}" for i in range(1, p + 1)])


def test_mcar_data_are_not_rejected_and_mar_data_are() -> None:
    names = [f"y{i}" for i in range(1, 7)]
    mcar = little_mcar(missing_patterns(_simulated(0, mar=False), names))
    mar = little_mcar(missing_patterns(_simulated(0, mar=True), names))
    assert mcar.pvalue > 0.05, mcar
    assert mar.pvalue < 1e-6, mar
    assert "not missing completely at random" in mar.describe()
    assert "no evidence against" in mcar.describe()


def test_mcar_rejection_rate_is_near_the_level() -> None:
    names = [f"y{i}" for i in range(1, 7)]
    pvalues = [little_mcar(missing_patterns(_simulated(s, False), names)).pvalue for s in range(40)]
    assert np.mean(np.array(pvalues) < 0.05) <= 0.15
    assert 0.3 < np.median(pvalues) < 0.7


def test_shipped_mar_data_are_rejected() -> None:
    data = pd.read_csv(MISSING / "hs_mar15.csv")
    test = little_mcar(missing_patterns(data, [f"x{i}" for i in range(1, 10)]))
    assert test.pvalue < 0.001
    assert set(test.to_dict()) == {
        "statistic",
        "df",
        "pvalue",
        "npatterns",
        "n",
        "em_converged",
        "singletons",
    }
    assert test.singletons == 59  # of 86 patterns
    assert test.describe().endswith(
        "59 of the 86 patterns hold a single case, so the chi-square approximation is rough"
    )


def test_many_single_case_patterns_are_flagged() -> None:
    data = pd.read_csv(MISSING / "HolzingerSwineford1939_mcar10.csv")
    test = little_mcar(missing_patterns(data, [f"x{i}" for i in range(1, 10)]))
    assert (test.singletons, test.npatterns) == (28, 51)
    assert test.describe().endswith("rough and the test has little power")
    few = little_mcar(missing_patterns(_simulated(0, mar=False), [f"y{i}" for i in range(1, 7)]))
    assert 2 * few.singletons < few.npatterns and "single case" not in few.describe()
