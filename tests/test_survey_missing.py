"""Surveys with missing answers: the generator's MAR option and the study's missing-data stage."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.data import DataError
from bayes_bmi.errors import OptionError
from bayes_bmi.study.config import StudyConfig
from bayes_bmi.study.stages import _moment_stand_in, missing_answers
from bayes_bmi.study.survey import (
    MissingAnswers,
    SurveyTruth,
    default_truth,
    modified_truth,
    simulate_survey,
)
from conftest import ROOT


@pytest.fixture(scope="module")
def mar_truth() -> SurveyTruth:
    return modified_truth(default_truth(), missing=MissingAnswers(rate=0.15, anchor="TI1"))


@pytest.fixture(scope="module")
def mar_survey(mar_truth: SurveyTruth) -> pd.DataFrame:
    return simulate_survey(mar_truth, 632, 20261127)


def test_mar_survey_rate_anchor_and_answers(mar_truth, mar_survey) -> None:
    items = list(mar_truth.items)
    cells = mar_survey[items]
    assert cells.isna().to_numpy().mean() == pytest.approx(0.15, abs=0.01)
    assert cells["TI1"].notna().all()
    complete = simulate_survey(default_truth(), 632, 20261127)
    given = cells.notna()
    # the answers given are those of the complete survey; the descriptors are unchanged
    assert (cells[given].fillna(0) == complete[items][given].fillna(0)).all().all()
    pd.testing.assert_frame_equal(mar_survey.iloc[:, :5], complete.iloc[:, :5])
    # MAR: firms with a high anchor answer skip more questions
    skipped = cells.isna().sum(axis=1)
    high = cells["TI1"] >= cells["TI1"].median()
    assert skipped[high].mean() > 1.5 * skipped[~high].mean()


def test_truth_file_holds_the_mechanism(mar_truth, tmp_path: Path) -> None:
    d = mar_truth.to_dict()
    assert d["missing"]["mechanism"] == "MAR"
    assert (d["missing"]["rate"], d["missing"]["anchor"], d["missing"]["slope"]) == (
        0.15,
        "TI1",
        1.0,
    )
    back = SurveyTruth.from_json(mar_truth.to_json())
    assert back.missing == mar_truth.missing
    assert "missing" not in default_truth().to_dict()  # the shipped truth file is unchanged
    with pytest.raises(ValueError, match="not an item"):
        modified_truth(default_truth(), missing=MissingAnswers(0.1, anchor="nope"))
    with pytest.raises(ValueError, match=r"rate must lie in \(0, 0.5\)"):
        MissingAnswers(0.7, anchor="TI1")


def test_generator_script_writes_a_mar_copy(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "generate_survey", ROOT / "scripts" / "generate_survey.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out, tru = tmp_path / "s.csv", tmp_path / "t.json"
    argv = ["--n", "200", "--seed", "4", "--missing-rate", "0.1", "--missing-anchor", "MD1"]
    assert script.main([*argv, "--out", str(out), "--truth", str(tru)]) == 0
    data = pd.read_csv(out)
    truth = json.loads(tru.read_text())
    assert truth["missing"]["anchor"] == "MD1" and data["MD1"].notna().all()
    items = list(truth["thresholds"])
    assert data[items].isna().to_numpy().mean() == pytest.approx(0.1, abs=0.015)


def test_missing_answers_stage(mar_truth, mar_survey) -> None:
    items = list(mar_truth.items)
    md = missing_answers(mar_survey, items, "survey")
    assert md.method == "fiml" and md.has_missing
    assert md.missing_cells == int(mar_survey[items].isna().sum().sum())
    assert md.n_cells == 632 * len(items)
    assert md.by_item.set_index("item").loc["TI1", "missing"] == 0
    assert md.complete_rows == int(mar_survey[items].notna().all(axis=1).sum())
    assert md.mcar is not None and md.mcar.df > 0 and md.npatterns == md.mcar.npatterns
    assert md.n_used == 632
    assert "Method: full-information ML" in md.describe()
    lw = missing_answers(mar_survey, items, "survey", "listwise")
    assert lw.n_used == lw.complete_rows and "listwise deletion" in lw.describe()
    none = missing_answers(simulate_survey(default_truth(), 50, 1), items, "survey")
    assert not none.has_missing and none.mcar is None and none.method == "listwise"
    assert none.describe() == "No answer is missing: all 50 rows are complete."


def test_an_item_nobody_answered_is_a_clear_error(mar_survey) -> None:
    data = mar_survey.assign(TI2=np.nan)
    with pytest.raises(DataError, match=r"every cell missing\): TI2"):
        missing_answers(data, ["TI1", "TI2", "TI3"], "survey")


def test_moment_stand_in_has_exactly_the_moments() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 4))
    sigma = a @ a.T + 4 * np.eye(4)
    mu = np.array([1.0, -2.0, 0.5, 3.0])
    frame = _moment_stand_in(mu, sigma, 57, list("abcd"))
    assert frame.shape == (57, 4)
    np.testing.assert_allclose(frame.mean().to_numpy(), mu, atol=1e-12)
    np.testing.assert_allclose(np.cov(frame.to_numpy(), rowvar=False), sigma, rtol=1e-10)


def test_study_config_missing_option() -> None:
    config = StudyConfig(data=Path("d.csv"), model=Path("m.lav"), hypotheses=Path("h.toml"))
    assert "--missing" not in (config.command_line("out") or [])
    listwise = StudyConfig(
        data=Path("d.csv"), model=Path("m.lav"), hypotheses=Path("h.toml"), missing="listwise"
    )
    args = listwise.command_line("out") or []
    assert args[args.index("--missing") + 1] == "listwise"
    with pytest.raises(OptionError, match="unknown missing 'pairwise'"):
        StudyConfig(data=Path("d"), model=Path("m"), hypotheses=Path("h"), missing="pairwise")
