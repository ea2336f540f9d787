"""Reliability and validity: hand computations, psych, lavaan and semTools reference values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from numpy.testing import assert_allclose

from bayes_bmi.data import DataError
from bayes_bmi.lavaan.model import specify
from bayes_bmi.measurement.reliability import (
    ReliabilityError,
    ReliabilityReport,
    ave,
    composite_reliability,
    cronbach_alpha,
    fornell_larcker,
    htmt,
    item_statistics,
    reliability_report,
)
from bayes_bmi.plots.measurement import plot_htmt

REF = Path(__file__).resolve().parent / "data" / "measurement"
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
CONSTRUCTS = {
    "visual": ["x1", "x2", "x3"],
    "textual": ["x4", "x5", "x6"],
    "speed": ["x7", "x8", "x9"],
}


@pytest.fixture(scope="module")
def report(hs_data: pd.DataFrame) -> ReliabilityReport:
    return reliability_report(specify(HS_MODEL), hs_data)


@pytest.fixture(scope="module")
def report2(hs_data: pd.DataFrame) -> ReliabilityReport:
    return reliability_report(specify(HS_MODEL + "g =~ visual + textual + speed\n"), hs_data)


def ref_square(name: str) -> pd.DataFrame:
    df = pd.read_csv(REF / name).set_index("construct")
    df.columns = list(df.index)
    return df


# --------------------------------------------------------------------------- alpha


def test_alpha_by_hand_two_items() -> None:
    # x1 = 1, 2, 3 (var 1); x2 = 2, 3, 5 (var 7/3); total 3, 5, 8 (var 19/3)
    # alpha = 2 * (1 - (1 + 7/3) / (19/3)) = 18/19
    data = pd.DataFrame({"a": [1, 2, 3], "b": [2, 3, 5]})
    assert cronbach_alpha(data) == pytest.approx(18 / 19, abs=1e-15)


def test_alpha_variance_form_equals_covariance_form() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 1)) + rng.standard_normal((40, 5))
    cov = np.cov(x, rowvar=False)
    k = cov.shape[0]
    mean_cov = (cov.sum() - np.trace(cov)) / (k * (k - 1))
    covariance_form = k**2 * mean_cov / cov.sum()
    assert cronbach_alpha(pd.DataFrame(x)) == pytest.approx(covariance_form, abs=1e-12)


def test_alpha_and_item_statistics_match_psych(hs_data: pd.DataFrame) -> None:
    ref = pd.read_csv(REF / "hs_alpha.csv").set_index("construct")["alpha"]
    ref_items = pd.read_csv(REF / "hs_alpha_items.csv").set_index("item")
    for construct, items in CONSTRUCTS.items():
        assert cronbach_alpha(hs_data[items]) == pytest.approx(ref[construct], abs=1e-12)
        stats = item_statistics(hs_data[items]).set_index("item")
        assert_allclose(
            stats["alpha_if_deleted"], ref_items.loc[items, "alpha_if_deleted"], atol=1e-12
        )
        assert_allclose(
            stats["item_total_corrected"], ref_items.loc[items, "item_total_corrected"], atol=1e-12
        )


def test_alpha_if_deleted_with_two_items_is_nan() -> None:
    stats = item_statistics(pd.DataFrame({"a": [1, 2, 3], "b": [2, 3, 5]}))
    assert stats["alpha_if_deleted"].isna().all()
    assert_allclose(stats["item_total_corrected"], np.corrcoef([1, 2, 3], [2, 3, 5])[0, 1])


def test_alpha_bad_input_named() -> None:
    with pytest.raises(DataError, match="column 'b' is not numeric: row 2 holds 'x'"):
        cronbach_alpha(pd.DataFrame({"a": [1, 2, 3], "b": [2, "x", 5]}))
    with pytest.raises(ReliabilityError, match="fewer than 2 complete rows"):
        cronbach_alpha(pd.DataFrame({"a": [1.0, np.nan], "b": [2.0, 3.0]}))


# --------------------------------------------------------------------------- CR and AVE


def test_cr_and_ave_by_hand() -> None:
    lam = [0.7, 0.8, 0.9]
    # (2.4)^2 / ((2.4)^2 + 0.51 + 0.36 + 0.19) = 5.76 / 6.82
    assert composite_reliability(lam) == pytest.approx(5.76 / 6.82, abs=1e-15)
    assert ave(lam) == pytest.approx(1.94 / 3, abs=1e-15)
    assert isinstance(composite_reliability(lam), float)


def test_cr_and_ave_per_draw() -> None:
    draws = np.random.default_rng(0).uniform(0.3, 0.95, size=(50, 4))
    cr = composite_reliability(draws)
    av = ave(draws)
    assert cr.shape == av.shape == (50,)
    assert_allclose(cr, [composite_reliability(d) for d in draws], atol=1e-15)
    assert_allclose(av, [ave(d) for d in draws], atol=1e-15)
    assert_allclose(composite_reliability(pd.DataFrame(draws)), cr)
    with pytest.raises(ReliabilityError, match="2-D array"):
        composite_reliability(np.ones((2, 2, 2)))
    with pytest.raises(ReliabilityError, match="at least one item"):
        ave([])


def test_cr_ave_match_lavaan_and_semtools(report: ReliabilityReport) -> None:
    ref = pd.read_csv(REF / "hs_cr_ave.csv").set_index("construct")
    ours = report.constructs.set_index("construct")
    names = list(CONSTRUCTS)
    # our ML standardized loadings vs lavaan's: agreement to ~1e-6
    assert_allclose(ours.loc[names, "cr"], ref.loc[names, "cr_std"], atol=1e-6)
    assert_allclose(ours.loc[names, "cr"], ref.loc[names, "cr_comprelsem"], atol=1e-6)
    assert_allclose(ours.loc[names, "ave"], ref.loc[names, "ave_std"], atol=1e-6)
    assert_allclose(ours.loc[names, "ave"], ref.loc[names, "ave_semtools_z"], atol=1e-6)
    assert_allclose(
        ours.loc[names, "alpha"], pd.read_csv(REF / "hs_alpha.csv")["alpha"], atol=1e-12
    )


def test_flags(report: ReliabilityReport) -> None:
    c = report.constructs.set_index("construct")
    assert c.loc["textual", ["alpha_ok", "cr_ok", "ave_ok"]].tolist() == [True, True, True]
    assert c.loc["visual", ["alpha_ok", "cr_ok", "ave_ok"]].tolist() == [False, False, False]
    assert (c["kind"] == "first_order").all()
    assert report.thresholds == {"alpha_min": 0.7, "cr_min": 0.7, "ave_min": 0.5, "htmt_max": 0.85}
    assert report.fit["n"] == 301 and report.fit["converged"]


# --------------------------------------------------------------------------- validity


def test_latent_correlations_and_fornell_larcker_match_lavaan(report: ReliabilityReport) -> None:
    ref = ref_square("hs_cor_lv.csv")
    ours = report.latent_correlations.set_index("construct")
    assert_allclose(ours.loc[ref.index, ref.columns], ref, atol=1e-6)
    fl = report.fornell_larcker.set_index("construct")
    sqrt_ave = np.sqrt(pd.read_csv(REF / "hs_cr_ave.csv").set_index("construct")["ave_std"])
    for c in CONSTRUCTS:
        assert fl.loc[c, c] == pytest.approx(sqrt_ave[c], abs=1e-6)
    assert fl.loc["visual", "speed"] == pytest.approx(ref.loc["visual", "speed"], abs=1e-6)
    assert fl["passes"].all()


def test_fornell_larcker_by_hand() -> None:
    corr = pd.DataFrame([[1, 0.8], [0.8, 1]], index=["a", "b"], columns=["a", "b"])
    fl = fornell_larcker({"a": 0.81, "b": 0.49}, corr).set_index("construct")
    assert fl.loc["a", "a"] == pytest.approx(0.9) and fl.loc["b", "b"] == pytest.approx(0.7)
    assert fl["passes"].tolist() == [True, False]
    assert fl["max_abs_corr"].tolist() == [0.8, 0.8]
    with pytest.raises(ReliabilityError, match="no latent correlations for: c"):
        fornell_larcker({"a": 0.5, "c": 0.5}, corr)


def test_htmt_matches_semtools(hs_data: pd.DataFrame, report: ReliabilityReport) -> None:
    for name, geometric in (("hs_htmt.csv", False), ("hs_htmt2.csv", True)):
        ref = ref_square(name)
        ours = htmt(hs_data, CONSTRUCTS, geometric=geometric).set_index("construct")
        assert_allclose(ours.loc[ref.index, ref.columns], ref, atol=1e-12)
    from_report = report.htmt.set_index("construct")
    assert_allclose(from_report, ref_square("hs_htmt.csv").loc[from_report.index], atol=1e-12)
    assert report.pairs["htmt_ok"].all()


def test_htmt_by_hand() -> None:
    # items a1, a2 (r = 0.6), b1, b2 (r = 0.4); every a-b correlation 0.3 in the population;
    # with data built to have exactly these correlations HTMT = 0.3 / sqrt(0.6 * 0.4)
    r = np.array([[1, 0.6, 0.3, 0.3], [0.6, 1, 0.3, 0.3], [0.3, 0.3, 1, 0.4], [0.3, 0.3, 0.4, 1]])
    z = np.random.default_rng(1).standard_normal((60, 4))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T)).T)
    data = pd.DataFrame(z @ np.linalg.cholesky(r).T, columns=["a1", "a2", "b1", "b2"])
    out = htmt(data, {"a": ["a1", "a2"], "b": ["b1", "b2"]}).set_index("construct")
    assert out.loc["a", "b"] == pytest.approx(0.3 / np.sqrt(0.24), abs=1e-12)
    single = htmt(data, {"a": ["a1", "a2"], "b": ["b1"]}).set_index("construct")
    assert np.isnan(single.loc["a", "b"])


# --------------------------------------------------------------------------- second order


def test_second_order_factor(report2: ReliabilityReport) -> None:
    ref = pd.read_csv(REF / "hs_second_order_cr_ave.csv").iloc[0]
    ref_l = pd.read_csv(REF / "hs_second_order_loadings.csv")
    c = report2.constructs.set_index("construct")
    assert c.loc["g", "kind"] == "higher_order"
    assert np.isnan(c.loc["g", "alpha"]) and pd.isna(c.loc["g", "alpha_ok"])
    assert c.loc["g", "cr"] == pytest.approx(ref["cr"], abs=1e-5)
    assert c.loc["g", "ave"] == pytest.approx(ref["ave"], abs=1e-5)
    items = report2.items[report2.items["construct"] == "g"]
    assert_allclose(items["std_loading"], ref_l["std_loading"], atol=1e-5)
    assert items["alpha_if_deleted"].isna().all()
    assert "g" not in report2.htmt["construct"].tolist()
    assert "g" not in report2.fornell_larcker["construct"].tolist()
    assert "g" in report2.latent_correlations["construct"].tolist()
    # first-order constructs are unchanged by the (just-identified) second-order structure
    assert_allclose(
        c.loc[list(CONSTRUCTS), "alpha"], pd.read_csv(REF / "hs_alpha.csv")["alpha"], atol=1e-12
    )


def test_report_bad_data(hs_data: pd.DataFrame) -> None:
    bad = hs_data.astype({"x5": object})
    bad.loc[9, "x5"] = "?"
    with pytest.raises(DataError, match="'x5'.*row 10"):
        reliability_report(specify(HS_MODEL), bad)


def test_plot_htmt(report: ReliabilityReport) -> None:
    fig = plot_htmt(report.htmt)
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].texts) == 3


def test_single_factor_model(hs_data: pd.DataFrame) -> None:
    rep = reliability_report(specify("visual =~ x1 + x2 + x3\n"), hs_data)
    assert rep.constructs["construct"].tolist() == ["visual"]
    assert rep.pairs.empty
    assert pd.isna(rep.fornell_larcker["passes"].iloc[0])
    assert rep.htmt.shape == (1, 2)


def test_model_without_measurement_part(poldem_data: pd.DataFrame) -> None:
    with pytest.raises(ReliabilityError, match="no latent variable with indicators"):
        reliability_report(specify("y1 ~ x1 + x2\n"), poldem_data)
