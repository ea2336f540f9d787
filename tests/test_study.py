"""End-to-end study runs (few draws): files, report order, verdicts that follow the truth."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from typer.testing import CliRunner

from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig
from bayes_bmi.cli.main import app
from bayes_bmi.lavaan.model import read_model
from bayes_bmi.study.pipeline import StudyConfig, find_drivers, run_study
from bayes_bmi.study.survey import default_truth, simulate_survey
from conftest import ROOT

FEW = SamplerConfig(draws=150, tune=250, chains=2, seed=3, progress=False)


@pytest.fixture(scope="module")
def cache():
    return CompileCache()


def _config(out, data, truth=None):
    return StudyConfig(
        data=data,
        model=ROOT / "models/bmi_drivers.lav",
        hypotheses=ROOT / "models/bmi_drivers.hypotheses.toml",
        out=out,
        truth=truth,
        literature=ROOT / "data/literature/bm_elements.csv",
        experts=ROOT / "data/experts/ratings_example.csv",
        sampler=FEW,
        compare=False,
    )


@pytest.fixture(scope="module")
def shipped(tmp_path_factory, cache):
    out = tmp_path_factory.mktemp("study")
    res = run_study(
        _config(out, ROOT / "data/bmi_survey.csv", ROOT / "data/ground_truth.json"),
        log=lambda m: None,
        cache=cache,
    )
    return out, res


def test_find_drivers_from_structure():
    focal, drivers, path, total = find_drivers(read_model(ROOT / "models/bmi_drivers.lav"))
    assert focal == "BMI"
    assert drivers == ["TI", "MD", "CP", "EM", "OL", "NR", "GP", "RS"]
    assert path["TI"] == "g_TI" and total["TI"] == ["ind_TI"]
    focal, drivers, path, total = find_drivers(read_model(ROOT / "models/bmi_drivers_direct.lav"))
    assert sorted(total["GP"]) == ["d_GP", "ind_GP"]


def test_study_writes_everything(shipped):
    out, res = shipped
    for name in [
        "hypotheses.csv",
        "key_drivers.csv",
        "driver_dominance.csv",
        "report.md",
        "report.html",
        "posterior.nc",
        "truth_recovery.csv",
        "reliability_constructs.csv",
        "reliability_posterior.csv",
        "pca_eigenvalues.csv",
        "literature_frequencies.csv",
        "expert_screening.csv",
        "data_checks.csv",
        "item_descriptives.csv",
        "figures/path_diagram.png",
        "figures/driver_forest.png",
        "figures/traces.png",
        "figures/indirect_effects.png",
        "figures/ppp.png",
    ]:
        assert (out / name).is_file(), name
    assert not list(out.glob("**/.*.tmp"))
    hyp = pd.read_csv(out / "hypotheses.csv")
    assert list(hyp["id"])[:3] == ["H1", "H2", "H3"] and len(hyp) == 17
    for col in ["pd", "rope_share", "bf10", "bayes_verdict", "ml_pvalue", "ml_verdict", "agree"]:
        assert col in hyp.columns
    dom = pd.read_csv(out / "driver_dominance.csv")
    assert dom.shape == (8, 9)


def test_report_stages_in_order(shipped):
    out, _ = shipped
    text = (out / "report.md").read_text()
    heads = [line for line in text.splitlines() if line.startswith("## ")]
    marks = [
        "literature",
        "Expert screening",
        "principal components",
        "Reliability",
        "Bayesian structural",
        "Hypotheses",
        "Key drivers",
        "Recovery",
        "Recommendations",
    ]
    pos = [next(i for i, h in enumerate(heads) if m in h) for m in marks]
    assert pos == sorted(pos), heads
    assert "<table>" in (out / "report.html").read_text()


def test_shipped_truth_recovered(shipped):
    _, res = shipped
    rec = res["recovery"]
    assert len(rec) == 17
    # with few draws still most true standardized paths lie in their 95% HDI
    assert rec["recovered"].mean() >= 0.7
    cp = rec.set_index("parameter").loc["g_CP"]
    assert cp["true_is_zero"] and not cp["hdi_excludes_zero"]


def test_verdicts_follow_a_different_truth(tmp_path, cache):
    """Data from another truth (TI null, GP strong): verdicts and ranking follow it."""
    base = default_truth()
    paths = dict(base.paths)
    paths.update({"TI": 0.0, "GP": 0.45, "CP": 0.25, "MD": 0.05})
    truth = dataclasses.replace(base, paths=paths)
    data = simulate_survey(truth, 632, seed=11)
    path = tmp_path / "other.csv"
    data.to_csv(path, index=False)
    truth_path = tmp_path / "truth.json"
    truth_path.write_text(truth.to_json())
    res = run_study(_config(tmp_path / "out", path, truth_path), log=lambda m: None, cache=cache)
    hyp = res["hypotheses"].set_index("id")
    assert hyp.loc["H7", "bayes_verdict"] == "supported"  # GP
    assert hyp.loc["H1", "bayes_verdict"] != "supported"  # TI is null now
    kd = res["key_drivers"].set_index("driver")
    assert kd["p_largest"].idxmax() == "GP"
    report = (tmp_path / "out" / "report.md").read_text()
    assert "GP" in report.split("Recommendations")[-1]


def test_study_bad_data_writes_nothing(tmp_path):
    df = pd.read_csv(ROOT / "data/bmi_survey.csv")
    df.loc[9, "TI2"] = 7
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        [
            "study",
            "--data",
            str(bad),
            "--out",
            str(out),
            "--no-compare",
            "--draws",
            "50",
            "--tune",
            "50",
            "--chains",
            "1",
        ],
    )
    assert res.exit_code == 2, res.output
    assert "TI2" in res.output and "row 10" in res.output
    assert not out.exists()


def test_study_unknown_hypothesis_parameter(tmp_path):
    h = tmp_path / "h.toml"
    h.write_text(
        '[[hypothesis]]\nid = "H1"\nparameter = "g_XX"\ndirection = "positive"\nwording = "x"\n'
    )
    res = CliRunner().invoke(
        app,
        [
            "study",
            "--hypotheses",
            str(h),
            "--out",
            str(tmp_path / "o"),
            "--data",
            str(ROOT / "data/bmi_survey.csv"),
            "--no-compare",
        ],
    )
    assert res.exit_code == 2 and "g_XX" in res.output
    assert not (tmp_path / "o").exists()
