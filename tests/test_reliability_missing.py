"""Reliability with missing answers: FIML CFA, alpha/item statistics/HTMT from the EM covariance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.data import missing_patterns
from bayes_bmi.errors import BayesBmiError
from bayes_bmi.lavaan.model import specify
from bayes_bmi.measurement.reliability import (
    composite_reliability,
    cronbach_alpha,
    item_statistics,
    reliability_report,
)
from bayes_bmi.ml.fiml import em_saturated
from conftest import DATA

HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
ITEMS = [f"x{i}" for i in range(1, 10)]
MCAR10 = DATA / "missing" / "HolzingerSwineford1939_mcar10.csv"


@pytest.fixture(scope="module")
def mcar() -> pd.DataFrame:
    return pd.read_csv(MCAR10)


def test_fiml_cr_and_ave_follow_lavaans_fiml_loadings(mcar: pd.DataFrame) -> None:
    rep = reliability_report(specify(HS_MODEL), mcar, missing="fiml")
    ref = pd.read_csv(DATA / "missing" / "hs_cfa_fiml_mcar10_params.csv")
    load = ref[ref["op"] == "=~"]
    for construct, row in rep.constructs.set_index("construct").iterrows():
        lam = load.loc[load["lhs"] == construct, "std.all"].to_numpy()
        assert row["cr"] == pytest.approx(composite_reliability(lam), rel=1e-3)
    assert rep.fit["missing"] == "fiml" and rep.fit["covariance"] == "em"
    assert (rep.fit["n"], rep.fit["n_patterns"], rep.fit["n_missing_cells"]) == (301, 51, 271)


def test_fiml_alpha_is_the_alpha_of_the_em_covariance(mcar: pd.DataFrame) -> None:
    rep = reliability_report(specify(HS_MODEL), mcar)  # default: FIML, cells are missing
    _, sigma, _, _ = em_saturated(missing_patterns(mcar, ITEMS))
    block = sigma[:3, :3]
    alpha = 1.5 * (1 - np.trace(block) / block.sum())
    assert rep.constructs.loc[0, "alpha"] == pytest.approx(alpha, rel=1e-8)
    # and it lies near the alpha of the complete data the cells were deleted from
    full = pd.read_csv(DATA / "HolzingerSwineford1939.csv")
    for k, construct in enumerate(["visual", "textual", "speed"]):
        whole = cronbach_alpha(full[ITEMS[3 * k : 3 * k + 3]])
        assert rep.constructs.loc[k, "alpha"] == pytest.approx(whole, abs=0.03), construct


def test_listwise_uses_complete_rows_only(mcar: pd.DataFrame) -> None:
    rep = reliability_report(specify(HS_MODEL), mcar, missing="listwise")
    complete = mcar[ITEMS].dropna()
    assert (rep.fit["n"], rep.fit["n_dropped"]) == (106, 195)
    assert rep.fit["covariance"] == "complete rows" and "n_patterns" not in rep.fit
    assert rep.constructs.loc[1, "alpha"] == pytest.approx(
        cronbach_alpha(complete[["x4", "x5", "x6"]]), rel=1e-12
    )
    stats = item_statistics(complete[["x4", "x5", "x6"]])
    got = rep.items[rep.items["construct"] == "textual"]
    np.testing.assert_allclose(got["item_total_corrected"], stats["item_total_corrected"])
    np.testing.assert_allclose(got["alpha_if_deleted"], stats["alpha_if_deleted"])


def test_fiml_on_complete_data_equals_listwise(hs_data: pd.DataFrame) -> None:
    fiml = reliability_report(specify(HS_MODEL), hs_data, missing="fiml")
    listwise = reliability_report(specify(HS_MODEL), hs_data)
    assert listwise.fit["missing"] == "listwise"
    for col in ("alpha", "cr", "ave"):
        np.testing.assert_allclose(fiml.constructs[col], listwise.constructs[col], rtol=1e-5)
    np.testing.assert_allclose(
        fiml.htmt.drop(columns="construct").to_numpy(),
        listwise.htmt.drop(columns="construct").to_numpy(),
        rtol=1e-8,
    )


def test_item_statistics_by_covariance_equal_the_data_formulas(hs_data: pd.DataFrame) -> None:
    x = hs_data[["x1", "x2", "x3"]].to_numpy()
    stats = item_statistics(hs_data[["x1", "x2", "x3"]])
    for j in range(3):
        rest = np.delete(x, j, axis=1)
        itc = np.corrcoef(x[:, j], rest.sum(axis=1))[0, 1]
        assert stats.loc[j, "item_total_corrected"] == pytest.approx(itc, rel=1e-12)


def test_listwise_with_too_few_complete_rows_is_an_error(mcar: pd.DataFrame) -> None:
    holes = mcar.copy()
    holes.loc[holes.index[:-1], "x1"] = np.nan
    holes.loc[holes.index[-1], "x2"] = np.nan
    with pytest.raises(BayesBmiError, match="fewer than 2 complete"):
        reliability_report(specify(HS_MODEL), holes, missing="listwise")
