"""Multi-group ML and measurement invariance against lavaan 0.6-14 (tests/data/groups/).

Every ``*_fit.json`` there is one lavaan fit (``scripts/reference_lavaan_groups.R``): the call
gives group, group.equal, group.partial, missing and std.lv; we fit the same and compare the
parameter table row by row (est, se, std.all within 1e-3) and the fit measures (1e-3 relative).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_bmi as bb
from bayes_bmi.errors import BayesBmiError, OptionError
from bayes_bmi.lavaan.model import specify
from bayes_bmi.lavaan.partable import ModelOptions, ModelSpecError
from bayes_bmi.ml.fit import fit_ml
from bayes_bmi.ml.groups import fit_ml_groups, split_groups
from bayes_bmi.ml.invariance import invariance_table
from conftest import ROOT

GROUPS = ROOT / "tests" / "data" / "groups"
HS = ROOT / "tests" / "data" / "HolzingerSwineford1939.csv"
HS3 = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
REFERENCES = sorted(p.name.removesuffix("_fit.json") for p in GROUPS.glob("*_fit.json"))
FIT_KEYS = (
    "npar chisq df pvalue cfi tli rmsea rmsea.ci.lower rmsea.ci.upper rmsea.pvalue srmr aic bic "
    "bic2 logl unrestricted.logl baseline.chisq baseline.df"
).split()


def _quoted(call: str, arg: str) -> tuple[str, ...]:
    inside = call.split(f"{arg} = c(")[1].split(")")[0]
    return tuple(re.findall(r'"([^"]+)"', inside))


def _fit_reference(name: str):
    ref = json.loads((GROUPS / f"{name}_fit.json").read_text())
    call = ref["call"]
    options = ModelOptions(
        ngroups=len(ref["group_labels"]),
        group_equal=_quoted(call, "group.equal"),
        group_partial=_quoted(call, "group.partial"),
        std_lv="std.lv = TRUE" in call,
    )
    model = specify(ref["model"], options=options)
    missing = "fiml" if 'missing = "ml"' in call else "listwise"
    data = pd.read_csv(ROOT / ref["data"])
    return ref, fit_ml_groups(model, data, ref["group"], missing=missing)


@pytest.fixture(scope="module", params=REFERENCES)
def fitted(request):
    ref, result = _fit_reference(request.param)
    params = pd.read_csv(GROUPS / f"{request.param}_params.csv", keep_default_na=False)
    return ref, result, params


def test_references_cover_the_brief() -> None:
    assert len(REFERENCES) >= 13
    for name in ("hs_mg_configural", "hs_mg_metric", "hs_mg_scalar"):
        ours = json.loads((GROUPS / f"{name}_fit.json").read_text())["fit_measures"]
        shared = json.loads((GROUPS / "hs_mg_invariance.json").read_text())[name[6:]]
        assert ours["chisq"] == pytest.approx(shared["chisq"], rel=1e-9)


def test_parameter_table_rows_and_labels(fitted) -> None:
    ref, result, params = fitted
    table = result.table()
    assert list(zip(table["lhs"], table["op"], table["rhs"], table["group"], strict=True)) == list(
        zip(params["lhs"], params["op"], params["rhs"], params["group"], strict=True)
    )
    assert list(table["label"].fillna("")) == list(params["label"])
    assert result.group_labels == tuple(ref["group_labels"])
    assert [st.n for st in result.group_stats] == ref["nobs"]


@pytest.mark.parametrize(("ours", "theirs"), [("est", "est"), ("se", "se"), ("std_all", "std.all")])
def test_estimates_equal_lavaan(fitted, ours: str, theirs: str) -> None:
    _, result, params = fitted
    assert result.converged
    got = result.table()[ours].to_numpy(dtype=float)
    want = pd.to_numeric(params[theirs], errors="coerce").to_numpy(dtype=float)
    # lavaan prints se 0 for fixed rows where we have NaN
    if ours == "se":
        got = np.where(np.isnan(got), 0.0, got)
    np.testing.assert_allclose(
        got, np.nan_to_num(want, nan=0.0) if ours == "se" else want, atol=1e-3, rtol=0
    )


def test_fit_measures_equal_lavaan(fitted) -> None:
    ref, result, _ = fitted
    fm = ref["fit_measures"]
    for key in FIT_KEYS:
        assert result.fit[key.replace(".", "_")] == pytest.approx(fm[key], rel=1e-3, abs=1e-6), key
    chisq_group = [result.fit[f"chisq_group_{g}"] for g in range(1, len(ref["group_labels"]) + 1)]
    np.testing.assert_allclose(chisq_group, ref["chisq_group"], rtol=1e-3)


def _anova(name: str) -> list[dict]:
    return json.loads((GROUPS / name).read_text())


def test_invariance_equals_lavaan_anova() -> None:
    table = bb.invariance(
        HS3, HS, group="school", levels=["configural", "metric", "scalar", "strict", "means"]
    )
    ref = _anova("hs_mg_levels_anova.json")
    assert list(table["level"]) == ["configural", "metric", "scalar", "strict", "means"]
    np.testing.assert_allclose(table["chisq"], [r["Chisq"] for r in ref], rtol=1e-6)
    np.testing.assert_array_equal(table["df"], [r["Df"] for r in ref])
    np.testing.assert_allclose(table["aic"], [r["AIC"] for r in ref], rtol=1e-6)
    assert math.isnan(table["chisq_diff"].iat[0])
    np.testing.assert_allclose(
        table["chisq_diff"][1:], [r["Chisq_diff"] for r in ref[1:]], rtol=1e-4
    )
    np.testing.assert_array_equal(table["df_diff"][1:], [r["Df_diff"] for r in ref[1:]])
    np.testing.assert_allclose(table["pvalue_diff"][1:], [r["Pr"] for r in ref[1:]], rtol=1e-3)
    shared = json.loads((GROUPS / "hs_mg_invariance.json").read_text())
    for level in ("configural", "metric", "scalar"):
        row = table.set_index("level").loc[level]
        for key in ("cfi", "rmsea", "srmr", "tli", "bic"):
            assert row[key] == pytest.approx(shared[level][key], rel=1e-4), (level, key)


def test_invariance_with_fiml_equals_lavaan() -> None:
    data = pd.read_csv(ROOT / "tests" / "data" / "missing" / "HolzingerSwineford1939_mcar10.csv")
    table, fits = invariance_table(
        HS3, data, "school", levels=["configural", "scalar"], missing="fiml"
    )
    ref = _anova("hs_mg_fiml_anova.json")
    assert all(f.missing == "fiml" for f in fits)
    np.testing.assert_allclose(table["chisq"], [r["Chisq"] for r in ref], rtol=1e-4)
    assert table["chisq_diff"].iat[1] == pytest.approx(ref[1]["Chisq_diff"], rel=1e-3)
    assert table["pvalue_diff"].iat[1] == pytest.approx(ref[1]["Pr"], rel=1e-3)


def test_three_groups_numbered_by_first_appearance() -> None:
    data = pd.read_csv(GROUPS / "sim3_groups.csv")
    assert split_groups(data, "grp").labels == ("b", "a", "c")
    model = json.loads((GROUPS / "sim3_equal_fit.json").read_text())["model"]
    fit = bb.sem(
        model,
        data,
        method="ml",
        group="grp",
        group_equal=["loadings", "intercepts", "residuals", "regressions"],
        group_partial=["f2~f1"],
    )
    table = fit.estimates()
    paths = table[(table["lhs"] == "f2") & (table["op"] == "~") & (table["rhs"] == "f1")]
    assert list(paths["group_label"]) == ["b", "a", "c"]
    # the simulated f2 ~ f1 path is 0.2, 0.5, 0.8 in b, a, c
    assert list(np.argsort(paths["est"].to_numpy())) == [0, 1, 2]
    assert fit.nobs == 470


def test_c_modifiers_in_the_table() -> None:
    text = "f =~ x1 + c(a1, a2)*x2 + c(NA, 0.5)*x3\nx1 ~~ c(0.4, NA)*x1"
    pt = specify(text, options=ModelOptions(ngroups=2)).partable
    row = pt.set_index(["lhs", "op", "rhs", "group"])
    assert row.loc[("f", "=~", "x2", 1), "label"] == "a1"
    assert row.loc[("f", "=~", "x2", 2), "label"] == "a2"
    assert row.loc[("f", "=~", "x3", 1), "free"] > 0
    assert row.loc[("f", "=~", "x3", 2), "free"] == 0
    assert row.loc[("f", "=~", "x3", 2), "ustart"] == 0.5
    assert row.loc[("x1", "~~", "x1", 1), "free"] == 0
    assert row.loc[("x1", "~~", "x1", 2), "free"] > 0
    with pytest.raises(ModelSpecError, match="gives 2 values but the data have 3 group"):
        specify(text, options=ModelOptions(ngroups=3))
    with pytest.raises(ModelSpecError, match="gives 2 values but the data have 1 group"):
        specify(text)


def test_a_shared_label_is_equal_across_groups() -> None:
    pt = specify("f =~ x1 + a*x2 + x3", options=ModelOptions(ngroups=2)).partable
    x2 = pt[(pt["rhs"] == "x2") & (pt["op"] == "=~")]
    assert x2["free"].nunique() == 1 and list(x2["group"]) == [1, 2]


def test_single_group_tables_are_unchanged() -> None:
    pt = specify(HS3).partable
    assert set(pt["group"]) == {1} and set(pt["block"]) == {1}
    assert not pt["label"].astype(bool).any()


def test_bad_group_options() -> None:
    # the Bayesian multi-group model exists (tests/test_bayes_groups.py); these do not yet
    with pytest.raises(OptionError, match="not available yet"):
        bb.sem(HS3, HS, method="bayes", group="school", factor_scores=True)
    with pytest.raises(OptionError, match="not available yet"):
        bb.sem(HS3, HS, method="bayes", group="school", ordered=True)
    with pytest.raises(OptionError, match="did you mean 'school'"):
        bb.sem(HS3, HS, method="ml", group="School")
    with pytest.raises(OptionError, match="unknown 'intercept'.*did you mean 'intercepts'"):
        bb.sem(HS3, HS, method="ml", group="school", group_equal=["intercept"])
    with pytest.raises(OptionError, match="need group="):
        bb.sem(HS3, HS, method="ml", group_equal="loadings")
    with pytest.raises(OptionError, match="levels: unknown level 'scalr'"):
        bb.invariance(HS3, HS, group="school", levels="configural,scalr")
    multi = specify(HS3, options=ModelOptions(ngroups=2))
    with pytest.raises(OptionError, match="fit_ml_groups"):
        fit_ml(multi, pd.read_csv(HS))
    three = pd.read_csv(HS).assign(grp=lambda d: np.arange(len(d)) % 3)
    with pytest.raises(BayesBmiError, match="specified for 2 group"):
        fit_ml_groups(multi, three, "grp")


def test_cli_invariance_writes_the_table(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bayes_bmi.cli.main import app

    model = tmp_path / "hs.lav"
    model.write_text(HS3)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["invariance", str(model), str(HS), "--group", "school", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "invariance.csv")
    assert list(table["level"]) == ["configural", "metric", "scalar"]
    assert table["chisq_diff"].iat[1] == pytest.approx(8.19220030443354, rel=1e-4)
    res = CliRunner().invoke(
        app,
        [
            "ml",
            str(model),
            str(HS),
            "--group",
            "school",
            "--group-equal",
            "loadings",
            "--out",
            str(tmp_path / "ml"),
        ],
    )
    assert res.exit_code == 0, res.output
    est = pd.read_csv(tmp_path / "ml" / "estimates.csv")
    assert {"group", "group_label"} <= set(est.columns) and set(est["group"]) == {1, 2}
    assert json.loads((tmp_path / "ml" / "fit.json").read_text())["chisq"] == pytest.approx(
        124.043544179993, rel=1e-6
    )
