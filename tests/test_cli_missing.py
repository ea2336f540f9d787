"""Missing answers on the command line: ``--missing fiml|listwise`` on fit, compare, reliability
and study, and what each says about the cases it used (issue 11).

Few draws throughout (``--draws 100 --tune 100 --chains 2``): these tests check the paths and
the reporting, not the posterior.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bayes_bmi.cli.main import app
from bayes_bmi.study.survey import MissingAnswers, default_truth, modified_truth, simulate_survey
from conftest import DATA, MODELS

RUNNER = CliRunner()
MCAR10 = DATA / "missing" / "HolzingerSwineford1939_mcar10.csv"
HS_LAV = MODELS / "hs_cfa.lav"
FEW = ["--draws", "100", "--tune", "100", "--chains", "2", "--seed", "3"]
#: Cases of the MCAR data: 301 rows, 106 complete, 51 patterns, 271 of 2709 cells missing.
FIML_LINE = (
    "cases used: 301 of 301 rows (full-information ML: 51 missingness patterns, "
    "271 of 2709 cells missing (10.0%))"
)
LISTWISE_LINE = "cases used: 106 of 301 rows (listwise: 195 rows with a missing value dropped)"


def _run(*args: str, codes: tuple[int, ...] = (0,)) -> str:
    res = RUNNER.invoke(app, [str(a) for a in args])
    output = res.output + (res.stderr if res.stderr not in res.output else "")
    assert res.exit_code in codes, output
    assert "Traceback" not in output
    return output


def _compare_has_missing() -> bool:
    from bayes_bmi.checking.compare import compare_models

    return "missing" in inspect.signature(compare_models).parameters


# ------------------------------------------------------------------------------------ fit
@pytest.mark.parametrize("method", ["fiml", "listwise"])
def test_fit_says_which_cases_it_used(tmp_path: Path, method: str) -> None:
    out = tmp_path / method
    text = _run(
        "fit",
        HS_LAV,
        MCAR10,
        "--out",
        out,
        "--missing",
        method,
        *FEW,
        "--no-progress",
        "--allow-unconverged",
    )
    diag = json.loads((out / "diagnostics.json").read_text())
    info = diag["missing_data"]
    assert diag["missing"] == info["method"] == method
    if method == "fiml":
        assert FIML_LINE in text
        assert "(n = 301; full-information ML: 51 missingness patterns, 271 missing cells;" in text
        assert info == {
            "method": "fiml",
            "n_rows": 301,
            "n_used": 301,
            "n_dropped": 0,
            "n_patterns": 51,
            "n_missing_cells": 271,
            "n_cells": 2709,
            "n_empty_rows": 0,
        }
        assert diag["n_patterns"] == 51
    else:
        assert LISTWISE_LINE in text
        assert "(n = 106; 195 rows with a missing value dropped (listwise);" in text
        assert info == {"method": "listwise", "n_rows": 301, "n_used": 106, "n_dropped": 195}
    assert diag["n_obs"] == info["n_used"]


def test_fit_on_complete_data_says_so(tmp_path: Path) -> None:
    text = _run(
        "fit",
        HS_LAV,
        DATA / "HolzingerSwineford1939.csv",
        "--out",
        tmp_path / "f",
        *FEW,
        "--no-progress",
        "--allow-unconverged",
    )
    assert "cases used: 301 of 301 rows (no missing cells)" in text


# ------------------------------------------------------------------------------------- ml
def test_ml_writes_its_cases(tmp_path: Path) -> None:
    _run("ml", HS_LAV, MCAR10, "--out", tmp_path / "m")
    fit = json.loads((tmp_path / "m" / "fit.json").read_text())
    assert fit["missing"] == "fiml"
    assert fit["missing_data"]["n_patterns"] == 51
    assert fit["missing_data"]["n_missing_cells"] == 271
    _run("ml", HS_LAV, MCAR10, "--out", tmp_path / "l", "--missing", "listwise")
    fit = json.loads((tmp_path / "l" / "fit.json").read_text())
    assert fit["missing_data"] == {
        "method": "listwise",
        "n_rows": 301,
        "n_used": 106,
        "n_dropped": 195,
    }


# ---------------------------------------------------------------------------- reliability
def test_reliability_fiml_uses_the_em_covariance(tmp_path: Path) -> None:
    text = _run("reliability", HS_LAV, MCAR10, "--out", tmp_path / "f", "--missing", "fiml")
    assert (
        "CFA by full-information ML on 301 cases (51 missingness patterns, 271 missing cells); "
        "alpha, item statistics and HTMT from the EM covariance matrix of the items"
    ) in text
    summary = json.loads((tmp_path / "f" / "reliability_summary.json").read_text())
    assert summary["fit"]["missing"] == "fiml" and summary["fit"]["covariance"] == "em"
    fiml = pd.read_csv(tmp_path / "f" / "reliability_constructs.csv").set_index("construct")

    text = _run("reliability", HS_LAV, MCAR10, "--out", tmp_path / "l", "--missing", "listwise")
    assert "CFA by ML on 106 complete rows; 195 row(s) with a missing value dropped" in text
    listwise = pd.read_csv(tmp_path / "l" / "reliability_constructs.csv").set_index("construct")
    full = pd.read_csv(tmp_path / "f" / "reliability_constructs.csv")
    assert not np.allclose(fiml["alpha"], listwise["alpha"])
    assert len(full) == 3

    # the default with missing cells is FIML
    default = _run("reliability", HS_LAV, MCAR10, "--out", tmp_path / "d")
    assert "CFA by full-information ML on 301 cases" in default


# -------------------------------------------------------------------------------- compare
ALT = "visual =~ x1 + x2 + x3 + x9\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"


@pytest.mark.slow
def test_compare_default_is_fiml_and_says_so(tmp_path: Path) -> None:
    alt = tmp_path / "alt.lav"
    alt.write_text(ALT)
    out = tmp_path / "c"
    text = _run("compare", HS_LAV, alt, "--data", MCAR10, "--out", out, "--no-baseline", *FEW)
    assert FIML_LINE in text
    summary = json.loads((out / "comparison_summary.json").read_text())
    assert summary["missing_data"]["method"] == "fiml"
    assert summary["missing_data"]["n_patterns"] == 51


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fiml", "listwise"])
def test_compare_missing_option(tmp_path: Path, method: str) -> None:
    if not _compare_has_missing():
        pytest.skip("compare_models has no missing= keyword yet (the checking layer's change)")
    alt = tmp_path / "alt.lav"
    alt.write_text(ALT)
    out = tmp_path / "c"
    text = _run(
        "compare",
        HS_LAV,
        alt,
        "--data",
        MCAR10,
        "--out",
        out,
        "--no-baseline",
        "--missing",
        method,
        *FEW,
    )
    assert (FIML_LINE if method == "fiml" else LISTWISE_LINE) in text
    summary = json.loads((out / "comparison_summary.json").read_text())
    assert summary["missing_data"]["method"] == method


# ---------------------------------------------------------------------------------- study
SMALL_MODEL = """\
TI =~ TI1 + TI2 + TI3 + TI4
MD =~ MD1 + MD2 + MD3 + MD4
VP =~ VP1 + VP2 + VP3
VC =~ VC1 + VC2 + VC3
BMI =~ VP + VC
FP =~ FP1 + FP2 + FP3 + FP4
BMI ~ g_TI*TI + g_MD*MD
FP ~ b*BMI
ind_TI := g_TI*b
ind_MD := g_MD*b
"""
SMALL_HYPOTHESES = """\
[[hypothesis]]
id = "H1"
parameter = "g_TI"
direction = "positive"
wording = "TI drives BMI."

[[hypothesis]]
id = "H2"
parameter = "b"
direction = "positive"
wording = "BMI drives FP."
"""


def small_study(folder: Path, rate: float, n: int = 400, seed: int = 5) -> tuple[Path, ...]:
    """A survey with MAR missing answers, a small driver model and its hypotheses."""
    truth = modified_truth(default_truth(), missing=MissingAnswers(rate=rate, anchor="TI1"))
    data = folder / "survey.csv"
    simulate_survey(truth, n, seed).to_csv(data, index=False)
    model = folder / "small.lav"
    model.write_text(SMALL_MODEL)
    hyps = folder / "small.hypotheses.toml"
    hyps.write_text(SMALL_HYPOTHESES)
    return data, model, hyps


@pytest.mark.slow
@pytest.mark.parametrize(("method", "rate"), [("fiml", 0.15), ("listwise", 0.02)])
def test_study_missing_option(tmp_path: Path, method: str, rate: float) -> None:
    data, model, hyps = small_study(tmp_path, rate)
    out = tmp_path / "results"
    text = _run(
        "study",
        "--data",
        data,
        "--model",
        model,
        "--hypotheses",
        hyps,
        "--out",
        out,
        "--no-compare",
        "--missing",
        method,
        *FEW,
        codes=(0, 1),  # 1: not converged with so few draws; everything is written all the same
    )
    assert "Method: " + ("full-information ML" if method == "fiml" else "listwise") in text
    info = json.loads((out / "missing_data.json").read_text())
    assert info["method"] == method
    assert info["little_mcar"]["df"] > 0
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["missing"] == method and diag["n_obs"] == info["n_used"]
    report = (out / "report.md").read_text()
    assert "Missing answers" in report and "Little's MCAR test" in report
    items = pd.read_csv(out / "missing_by_item.csv")
    assert items.loc[items["item"] == "TI1", "missing"].item() == 0  # the anchor
    assert items["missing"].sum() == info["missing_cells"]
    if method == "fiml":
        assert info["n_used"] == 400 and info["pca_basis"] == "em"
        assert "fitted to 400 cases (full-information likelihood over" in report
    else:
        assert info["n_used"] == info["complete_rows"] < 400
        assert f"fitted to {info['n_used']} cases" in report


# ------------------------------------------------------------------------- api.comparison
def test_comparison_checks_data_without_a_complete_row_by_fiml(monkeypatch) -> None:
    import bayes_bmi.checking.compare as compare_module
    from bayes_bmi import api
    from bayes_bmi.errors import BayesBmiError, OptionError

    full = pd.read_csv(DATA / "HolzingerSwineford1939.csv")[[f"x{i}" for i in range(1, 10)]]
    holes = full.copy()
    for i in range(len(holes)):  # one missing cell in every row: no complete row at all
        holes.iat[i, i % 9] = np.nan
    seen = {}
    monkeypatch.setattr(compare_module, "compare_models", lambda *a, **kw: seen.update(kw))
    api.comparison({"hs": HS_LAV}, holes)
    assert seen["missing"] == "fiml"  # the default with missing cells
    api.comparison({"hs": HS_LAV}, holes, missing="fiml")
    assert seen["missing"] == "fiml"
    with pytest.raises(BayesBmiError, match="fewer than 2 complete cases"):
        api.comparison({"hs": HS_LAV}, holes, missing="listwise")
    with pytest.raises(OptionError, match="unknown missing 'pairwise'"):
        api.comparison({"hs": HS_LAV}, holes, missing="pairwise")
