"""WLSMV for ordered items against lavaan 0.6-14 (``cfa(..., ordered = TRUE)``).

References in ``tests/data/ordinal/`` (README there): the ordinal Holzinger-Swineford CFA
(5 categories, n = 301) and the bfi five-factor CFA (25 six-point items, listwise n = 2436);
lavaan's parameter estimates and fit measures, and its sample statistics (thresholds,
polychoric correlations, the NACOV) from ``scripts/reference_lavaan_ordinal.R``.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

import bayes_bmi as bb
from bayes_bmi.cli.main import app
from bayes_bmi.errors import DataError, ModelSpecError, OptionError
from bayes_bmi.lavaan.model import read_model, specify
from bayes_bmi.lavaan.partable import ModelOptions
from bayes_bmi.ml.ordinal.polychoric import bvn_cdf, ordinal_data, ordinal_stats
from bayes_bmi.ml.ordinal.wlsmv import fit_wlsmv
from conftest import DATA, MODELS, lavaan_key

ORD = DATA / "ordinal"
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
HS_ITEMS = [f"x{i}" for i in range(1, 10)]
BFI_ITEMS = [f"{t}{i}" for t in "ACENO" for i in range(1, 6)]
CASES = {
    "hs_cfa_ordinal_wlsmv": ("HolzingerSwineford1939_ordinal5.csv", HS_ITEMS),
    "bfi_cfa_wlsmv": ("../missing/bfi.csv", BFI_ITEMS),
}
#: Fit measures compared with lavaan (all of these are in both reference files).
MEASURES = (
    "npar fmin chisq df pvalue chisq.scaled df.scaled pvalue.scaled chisq.scaling.factor "
    "baseline.chisq baseline.df baseline.chisq.scaled baseline.chisq.scaling.factor cfi tli "
    "cfi.scaled tli.scaled nfi ifi rni rmsea rmsea.ci.lower rmsea.ci.upper rmsea.pvalue "
    "rmsea.scaled rmsea.ci.lower.scaled rmsea.ci.upper.scaled srmr"
).split()


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(ORD / CASES[name][0])


def _model(name: str):
    return specify(HS_MODEL) if name.startswith("hs") else read_model(MODELS / "bfi_cfa.lav")


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    name = request.param
    return name, fit_wlsmv(_model(name), _data(name), source=name)


def _reference(name: str) -> tuple[pd.DataFrame, dict]:
    params = pd.read_csv(ORD / f"{name}_params.csv", keep_default_na=False, na_values=["NA"])
    fit = json.loads((ORD / f"{name}_fit.json").read_text())
    return params, fit.get("fit_measures_all", fit)


def _merged(name: str, result) -> pd.DataFrame:
    ref, _ = _reference(name)
    ours = result.estimates.copy()
    ours["key"] = [lavaan_key(*k) for k in zip(ours["lhs"], ours["op"], ours["rhs"], strict=True)]
    ref["key"] = [lavaan_key(*k) for k in zip(ref["lhs"], ref["op"], ref["rhs"], strict=True)]
    assert sorted(ours["key"]) == sorted(ref["key"]), "not lavaan's rows"
    return ref.merge(ours, on="key", suffixes=("_ref", ""))


# ------------------------------------------------------------------ sample statistics
def test_bivariate_normal_cdf_is_exact():
    rng = np.random.default_rng(7)
    h, k, r = rng.normal(size=12), rng.normal(size=12), rng.uniform(-0.97, 0.97, 12)
    h[0], k[1], h[2], k[2] = 0.0, 0.0, 0.0, 0.0
    ref = [
        stats.multivariate_normal(cov=[[1, c], [c, 1]], abseps=1e-12, releps=1e-12).cdf([a, b])
        for a, b, c in zip(h, k, r, strict=True)
    ]
    assert np.allclose(bvn_cdf(h, k, r), ref, atol=1e-9, rtol=0)
    assert bvn_cdf(np.inf, 0.3, 0.5) == pytest.approx(stats.norm.cdf(0.3))
    assert bvn_cdf(-np.inf, 0.3, 0.5) == 0.0


@pytest.mark.parametrize("name", list(CASES))
def test_thresholds_polychorics_and_nacov_equal_lavaan(name):
    st = ordinal_stats(ordinal_data(_data(name), CASES[name][1], name))
    th = pd.read_csv(ORD / f"{name}_thresholds.csv")
    assert list(th["item"]) == [CASES[name][1][i] for i in st.th_item]
    assert np.abs(st.th - th["th"].to_numpy()).max() < 1e-8
    pc = pd.read_csv(ORD / f"{name}_polychoric.csv", index_col=0)
    assert list(pc.columns) == list(st.names)
    assert np.abs(st.cor - pc.to_numpy()).max() < 1e-6  # lavaan's optimiser: ~2e-8
    gd = pd.read_csv(ORD / f"{name}_gamma_diag.csv")
    assert np.allclose(np.diag(st.gamma), gd["gamma"], rtol=1e-6, atol=0)
    assert np.allclose(1.0 / np.diag(st.gamma), gd["wls_v"], rtol=1e-6, atol=0)
    if name.startswith("hs"):
        gamma = pd.read_csv(ORD / f"{name}_gamma.csv", index_col=0).to_numpy()
        assert np.abs(st.gamma - gamma).max() < 1e-6 * np.abs(gamma).max()


def test_binary_items_with_an_empty_cell_equal_lavaan():
    # lavaan adds 0.5 to the empty cell of a 2 x 2 table (margins kept) before the polychoric
    df = pd.read_csv(ORD / "hs_binary4.csv")
    assert ((df["x1"] == 0) & (df["x4"] == 1)).sum() == 0
    st = ordinal_stats(ordinal_data(df, ["x1", "x2", "x3", "x4"]))
    pc = pd.read_csv(ORD / "hs_binary4_polychoric.csv", index_col=0).to_numpy()
    assert np.abs(st.cor - pc).max() < 1e-6
    gd = pd.read_csv(ORD / "hs_binary4_gamma_diag.csv")
    assert np.allclose(np.diag(st.gamma), gd["gamma"], rtol=1e-6, atol=0)


def test_parameter_table_has_lavaans_rows_in_its_order():
    ordered = tuple((v, 4) for v in HS_ITEMS)
    pt = specify(HS_MODEL, options=ModelOptions(ordered=ordered)).partable
    ref = pd.read_csv(ORD / "hs_cfa_ordinal_wlsmv_partable.csv", keep_default_na=False)
    ours = list(zip(pt["lhs"], pt["op"], pt["rhs"], pt["free"], strict=True))
    theirs = list(zip(ref["lhs"], ref["op"], ref["rhs"], ref["free"].astype(int), strict=True))
    assert ours == theirs
    # without ordered items the table is the continuous one
    plain = specify(HS_MODEL).partable
    assert not plain["op"].isin(["|", "~*~"]).any()
    assert not (plain["op"] == "~1").any()


# ---------------------------------------------------------------------- the estimates
def test_estimates_equal_lavaan(case):
    name, result = case
    assert result.converged and result.estimator == "WLSMV"
    m = _merged(name, result)
    assert np.abs(m["est_ref"] - m["est"]).max() < 1e-3
    assert np.abs(m["std.all"] - m["std_all"]).max() < 1e-3
    assert np.abs(m["std.lv"] - m["std_lv"]).max() < 1e-3
    free = m["free"] > 0
    # robust (sandwich) standard errors: relative, as SEs range over two orders of magnitude
    rel = np.abs(m.loc[free, "se"] / m.loc[free, "se_ref"] - 1.0)
    assert rel.max() < 1e-2
    assert np.allclose(m.loc[free, "z"], m.loc[free, "z_ref"], rtol=1e-2)
    # fixed rows: the residual variances are 1 - explained variance (delta parameterisation)
    resid = m[(m["op_ref"] == "~~") & (m["lhs_ref"] == m["rhs_ref"]) & ~free]
    assert len(resid) == len(CASES[name][1])
    assert np.abs(resid["est"] - resid["est_ref"]).max() < 1e-3


def test_fit_measures_equal_lavaan(case):
    name, result = case
    _, ref = _reference(name)
    fit = result.fit
    assert fit["chisq_scaled"] == pytest.approx(ref["chisq.scaled"], rel=1e-2)
    for key in MEASURES:
        ours, theirs = fit[key.replace(".", "_")], ref[key]
        assert math.isclose(ours, theirs, rel_tol=1e-4, abs_tol=1e-6), (key, ours, theirs)
    assert fit["pvalue_scaled"] == pytest.approx(ref["pvalue.scaled"], rel=1e-3, abs=1e-12)


def test_bfi_takes_seconds():
    import time

    t0 = time.perf_counter()
    fit_wlsmv(read_model(MODELS / "bfi_cfa.lav"), _data("bfi_cfa_wlsmv"))
    assert time.perf_counter() - t0 < 20  # ~1 s here; lavaan takes ~4 s


# -------------------------------------------------------------------------- bad input
def _hs() -> pd.DataFrame:
    return _data("hs_cfa_ordinal_wlsmv")


def test_one_category_is_an_error_naming_the_item():
    df = _hs().assign(x2=3)
    with pytest.raises(DataError, match=r"'x2' has a single category \(3\).*drop it"):
        fit_wlsmv(specify(HS_MODEL), df)


def test_more_than_15_categories_is_an_error():
    df = _hs()
    df["x4"] = np.arange(len(df)) % 20
    with pytest.raises(DataError, match=r"'x4' has 20 distinct values.*continuous"):
        fit_wlsmv(specify(HS_MODEL), df)


def test_non_integer_values_are_an_error():
    df = _hs().astype({"x5": float})
    df.loc[3, "x5"] = 2.5
    with pytest.raises(DataError, match=r"'x5' holds non-integer values \(e.g. 2.5\)"):
        fit_wlsmv(specify(HS_MODEL), df)


def test_categories_are_the_distinct_values():
    df = _hs()
    df["x1"] = df["x1"].map({1: 10, 2: 20, 3: 30, 4: 40, 5: 50})
    od = ordinal_data(df, HS_ITEMS)
    assert od.levels[0] == (10, 20, 30, 40, 50)
    assert (od.codes[:, 0] == _hs()["x1"].to_numpy() - 1).all()


def test_ordered_options_are_checked():
    model = specify(HS_MODEL)
    with pytest.raises(OptionError, match="not supported yet: declare x3, x4"):
        fit_wlsmv(model, _hs(), ordered=["x1", "x2"])
    with pytest.raises(OptionError, match=r"item\(s\) y9 are not observed variables"):
        fit_wlsmv(model, _hs(), ordered=["y9"])
    with pytest.raises(ModelSpecError, match="frees the residual variance"):
        fit_wlsmv(specify(HS_MODEL + "x1 ~~ x1\n"), _hs())


def test_missing_answers_are_dropped_listwise():
    df = _hs()[HS_ITEMS].astype(float)
    df.loc[[0, 5], "x3"] = np.nan
    result = fit_wlsmv(specify(HS_MODEL), df)
    assert result.stats.n == len(df) - 2
    assert any("2 row(s)" in note for note in result.notes)


# ------------------------------------------------------------------------ API and CLI
def test_api_sem_with_ordered():
    fitted = bb.sem(HS_MODEL, _hs(), method="ml", ordered=True)
    m = _merged("hs_cfa_ordinal_wlsmv", fitted.result)
    assert np.abs(m["est_ref"] - m["est"]).max() < 1e-3
    assert set(fitted.estimates()["op"]) >= {"|", "~*~"}
    # the Bayesian ordinal model exists now (tests/test_bayes_ordinal.py); it refuses mixed items
    with pytest.raises(OptionError, match="mixed"):
        bb.sem(HS_MODEL, _hs(), method="bayes", ordered=["x1"])
    with pytest.raises(OptionError, match="missing='fiml' with ordered"):
        bb.sem(HS_MODEL, _hs(), method="ml", ordered=True, missing="fiml")
    with pytest.raises(OptionError, match="ordered must be True or a list"):
        bb.sem(HS_MODEL, _hs(), method="ml", ordered="x1")


def test_cli_ml_ordinal(tmp_path):
    model = tmp_path / "hs.lav"
    model.write_text(HS_MODEL)
    out = tmp_path / "out"
    data = ORD / "HolzingerSwineford1939_ordinal5.csv"
    runner = CliRunner()
    res = runner.invoke(app, ["ml", str(model), str(data), "--out", str(out), "--ordinal", "all"])
    assert res.exit_code == 0, res.output
    assert "WLSMV estimates" in res.output and "scaled-shifted chisq = 84.89" in res.output
    est = pd.read_csv(out / "estimates.csv", keep_default_na=False, na_values=[""])
    th = est[est["op"] == "|"]
    assert len(th) == 36 and th["rhs"].iloc[0] == "t1"
    fit = json.loads((out / "fit.json").read_text())
    assert fit["estimator"] == "WLSMV"
    assert fit["chisq_scaled"] == pytest.approx(84.8916439264665, rel=1e-4)
    bad = runner.invoke(
        app, ["ml", str(model), str(data), "--out", str(tmp_path / "o2"), "--ordinal", "x1,x2"]
    )
    assert bad.exit_code != 0
    assert "not supported yet" in bad.output
