"""Command line: output files, printed tables and clean failures."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from bayes_bmi.cli.main import app
from conftest import DATA, MODELS, load_reference

RUNNER = CliRunner()


def test_ml_writes_estimates_and_fit(tmp_path):
    out = tmp_path / "hs"
    res = RUNNER.invoke(
        app,
        [
            "ml",
            str(MODELS / "hs_cfa.lav"),
            str(DATA / "HolzingerSwineford1939.csv"),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    est = pd.read_csv(out / "estimates.csv", keep_default_na=False, na_values=[""])
    assert list(est.columns) == [
        "lhs",
        "op",
        "rhs",
        "label",
        "est",
        "se",
        "z",
        "pvalue",
        "ci_lower",
        "ci_upper",
        "std_lv",
        "std_all",
    ]
    fit = json.loads((out / "fit.json").read_text())
    for key in [
        "chisq",
        "df",
        "pvalue",
        "cfi",
        "tli",
        "rmsea",
        "rmsea_ci_lower",
        "rmsea_ci_upper",
        "srmr",
        "aic",
        "bic",
        "logl",
        "npar",
    ]:
        assert key in fit
    _, ref = load_reference("hs_cfa")
    assert fit["chisq"] == pytest.approx(ref["fit_measures"]["chisq"], rel=1e-4)
    # the fixed marker loadings have an empty se
    marker = est[(est["op"] == "=~") & (est["rhs"] == "x1")]
    assert marker["se"].isna().all()
    assert "visual" in res.output and "CFI" in res.output


def test_ml_defined_parameters_rows(tmp_path):
    out = tmp_path / "pd"
    res = RUNNER.invoke(
        app,
        [
            "ml",
            str(MODELS / "poldem_indirect.lav"),
            str(DATA / "PoliticalDemocracy.csv"),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    est = pd.read_csv(out / "estimates.csv", keep_default_na=False, na_values=[""])
    ind = est[est["lhs"] == "ind"].iloc[0]
    ref, _ = load_reference("poldem_indirect_ml")
    ref_ind = ref[ref["lhs"] == "ind"].iloc[0]
    assert ind["op"] == ":=" and ind["est"] == pytest.approx(ref_ind["est"], abs=1e-3)
    assert ind["se"] == pytest.approx(ref_ind["se"], abs=1e-3)


def test_ml_std_lv_option(tmp_path):
    out = tmp_path / "std"
    res = RUNNER.invoke(
        app,
        [
            "ml",
            str(MODELS / "hs_cfa.lav"),
            str(DATA / "HolzingerSwineford1939.csv"),
            "--out",
            str(out),
            "--std-lv",
        ],
    )
    assert res.exit_code == 0, res.output
    est = pd.read_csv(out / "estimates.csv", keep_default_na=False, na_values=[""])
    var = est[(est["op"] == "~~") & (est["lhs"] == "visual") & (est["rhs"] == "visual")]
    assert var["est"].iloc[0] == 1.0 and var["se"].isna().all()
    load = est[(est["op"] == "=~") & (est["rhs"] == "x1")]
    assert load["se"].notna().all()


def test_parse_prints_table():
    res = RUNNER.invoke(app, ["parse", str(MODELS / "poldem_indirect.lav")])
    assert res.exit_code == 0, res.output
    assert "dem65" in res.output and ":=" in res.output and "free" in res.output


@pytest.mark.parametrize(
    "model_text,data_name,fragment",
    [
        ("visual =~ x1 + + x2", "HolzingerSwineford1939.csv", "bad.lav:1:"),
        ("visual =~ x1 + x2 + xx3", "HolzingerSwineford1939.csv", "'xx3'"),
        ("f =~ x1 + x2\nind := a*b", "HolzingerSwineford1939.csv", "'a'"),
        ("f =~ x1 + x2\nf ~~ x1\nx1 ~~ x2\nf =~ NA*x1", "HolzingerSwineford1939.csv", "df"),
        ("visual =~ x1 + x2 + x3\nvisual ~ ses", "HolzingerSwineford1939.csv", "'ses'"),
    ],
)
def test_ml_bad_input_fails_cleanly(tmp_path, model_text, data_name, fragment):
    model = tmp_path / "bad.lav"
    model.write_text(model_text)
    out = tmp_path / "out"
    res = RUNNER.invoke(app, ["ml", str(model), str(DATA / data_name), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "error:" in res.output and fragment in res.output
    assert "Traceback" not in res.output
    assert not out.exists() or not any(out.iterdir())


def test_ml_missing_files(tmp_path):
    res = RUNNER.invoke(
        app,
        [
            "ml",
            str(tmp_path / "none.lav"),
            str(DATA / "PoliticalDemocracy.csv"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2 and "no such model file" in res.output
    res = RUNNER.invoke(
        app,
        [
            "ml",
            str(MODELS / "hs_cfa.lav"),
            str(tmp_path / "none.csv"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2 and "no such data file" in res.output


def test_ml_non_numeric_column(tmp_path):
    df = pd.read_csv(DATA / "HolzingerSwineford1939.csv")
    df["x2"] = df["x2"].astype(object)
    df.loc[4, "x2"] = "n/a?"
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    res = RUNNER.invoke(
        app, ["ml", str(MODELS / "hs_cfa.lav"), str(path), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2
    assert "'x2'" in res.output and "row 5" in res.output


def test_simulate_command(tmp_path):
    out, truth = tmp_path / "s.csv", tmp_path / "t.json"
    res = RUNNER.invoke(
        app,
        [
            "simulate",
            "--out",
            str(out),
            "--truth-out",
            str(truth),
            "--n",
            "50",
            "--seed",
            "4",
            "--path",
            "GP=0.4",
            "--path",
            "TI=0",
        ],
    )
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert len(df) == 50 and df["TI1"].between(1, 5).all()
    t = json.loads(truth.read_text())
    assert t["paths"]["GP"] == 0.4 and t["paths"]["TI"] == 0.0
    bad = RUNNER.invoke(app, ["simulate", "--out", str(tmp_path / "x.csv"), "--path", "XX=1"])
    assert bad.exit_code == 2 and "unknown driver 'XX'" in bad.output
    assert not (tmp_path / "x.csv").exists()
