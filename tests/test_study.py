"""End-to-end study runs (few draws): files, report order, verdicts that follow the truth."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig
from bayes_bmi.cli.main import app
from bayes_bmi.lavaan.model import read_model
from bayes_bmi.report.document import format_number
from bayes_bmi.report.study import study_report, write_study
from bayes_bmi.study.pipeline import StudyConfig, StudyResults, run_study
from bayes_bmi.study.structure import find_drivers
from bayes_bmi.study.survey import default_truth, simulate_survey
from conftest import ROOT

FEW = SamplerConfig(draws=150, tune=250, chains=2, seed=3, progress=False)

#: Every file of a study with the literature, experts and truth stages but no comparison.
STUDY_FILES = frozenset(
    {
        "cfa_fit.json",
        "data_checks.csv",
        "diagnostics.json",
        "driver_dominance.csv",
        "driver_rank_probabilities.csv",
        "expert_screening.csv",
        "expert_screening_summary.json",
        "figures/driver_dominance.png",
        "figures/driver_forest.png",
        "figures/driver_ranks.png",
        "figures/expert_screening.png",
        "figures/htmt.png",
        "figures/indirect_effects.png",
        "figures/literature_frequencies.png",
        "figures/path_diagram.png",
        "figures/pca_loadings.png",
        "figures/pca_scree.png",
        "figures/ppp.png",
        "figures/residual_correlations.png",
        "figures/traces.png",
        "fit_indices.csv",
        "fornell_larcker.csv",
        "htmt.csv",
        "hypotheses.csv",
        "item_descriptives.csv",
        "key_drivers.csv",
        "literature_frequencies.csv",
        "ml_estimates.csv",
        "ml_fit.json",
        "pca_assignment.csv",
        "pca_eigenvalues.csv",
        "pca_loadings.csv",
        "posterior.nc",
        "posterior_summary.csv",
        "provenance.json",
        "reliability_constructs.csv",
        "reliability_items.csv",
        "reliability_posterior.csv",
        "report.html",
        "report.md",
        "residual_correlations.csv",
        "truth_recovery.csv",
    }
)
#: What comparing the alternative models adds (``make study`` writes both sets).
COMPARISON_FILES = frozenset({"model_comparison.csv", "figures/model_comparison.png"})


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def cache():
    return CompileCache()


def _config(data, truth=None, **changes):
    config = StudyConfig(
        data=data,
        model=ROOT / "models/bmi_drivers.lav",
        hypotheses=ROOT / "models/bmi_drivers.hypotheses.toml",
        truth=truth,
        literature=ROOT / "data/literature/bm_elements.csv",
        experts=ROOT / "data/experts/ratings_example.csv",
        sampler=FEW,
        compare=False,
    )
    return dataclasses.replace(config, **changes)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory, cache):
    """The shipped study, run from the repository with relative input paths (as `make study`)."""
    out = tmp_path_factory.mktemp("study")
    rel = {
        "data": Path("data/bmi_survey.csv"),
        "model": Path("models/bmi_drivers.lav"),
        "hypotheses": Path("models/bmi_drivers.hypotheses.toml"),
        "truth": Path("data/ground_truth.json"),
        "literature": Path("data/literature/bm_elements.csv"),
        "experts": Path("data/experts/ratings_example.csv"),
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        res = run_study(_config(**rel), log=lambda m: None, cache=cache)
        written = write_study(res, out)
    return out, res, written


def test_find_drivers_from_structure():
    focal, drivers, path, total = find_drivers(read_model(ROOT / "models/bmi_drivers.lav"))
    assert focal == "BMI"
    assert drivers == ["TI", "MD", "CP", "EM", "OL", "NR", "GP", "RS"]
    assert path["TI"] == "g_TI" and total["TI"] == ["ind_TI"]
    focal, drivers, path, total = find_drivers(read_model(ROOT / "models/bmi_drivers_direct.lav"))
    assert sorted(total["GP"]) == ["d_GP", "ind_GP"]


def test_study_writes_exactly_its_files(shipped):
    out, res, written = shipped
    assert isinstance(res, StudyResults)
    assert _files(out) == STUDY_FILES
    assert [p.relative_to(out).as_posix() for p in written] == sorted(STUDY_FILES)
    assert not list(out.glob("**/.*.tmp"))
    hyp = pd.read_csv(out / "hypotheses.csv")
    assert list(hyp["id"])[:3] == ["H1", "H2", "H3"] and len(hyp) == 17
    for col in ["pd", "rope_share", "bf10", "bayes_verdict", "ml_pvalue", "ml_verdict", "agree"]:
        assert col in hyp.columns
    assert pd.api.types.is_float_dtype(hyp["bf10"])  # the raw number stays in the CSV
    dom = pd.read_csv(out / "driver_dominance.csv")
    assert dom.shape == (8, 9)


def test_tables_are_the_stage_results(shipped):
    out, res, _ = shipped
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "hypotheses.csv")[["id", "parameter", "post_median"]],
        res.hypotheses.table[["id", "parameter", "post_median"]],
        check_exact=False,
        rtol=1e-9,
    )
    kd = pd.read_csv(out / "key_drivers.csv")
    assert list(kd["driver"]) == list(res.inputs.drivers)
    assert res.converged == bool(res.sem.result.diagnostics["converged"])


def test_report_stages_in_order(shipped):
    out, _, _ = shipped
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
        "Files",
    ]
    pos = [next(i for i, h in enumerate(heads) if m in h) for m in marks]
    assert pos == sorted(pos), heads
    assert [h.split(".")[0] for h in heads] == [f"## {i}" for i in range(1, len(heads) + 1)]
    assert "<table>" in (out / "report.html").read_text()


def test_report_prints_input_paths_as_given(shipped):
    out, res, _ = shipped
    text = (out / "report.md").read_text()
    assert "Data: `data/bmi_survey.csv` (632 rows)" in text
    assert "Model: `models/bmi_drivers.lav`" in text
    assert "simulated from `data/ground_truth.json`" in text
    assert str(ROOT) not in text
    absolute = dataclasses.replace(res.config, data=ROOT / "data/bmi_survey.csv")
    md = study_report(dataclasses.replace(res, config=absolute)).to_markdown()
    assert f"Data: `{ROOT / 'data/bmi_survey.csv'}`" in md


def test_report_prints_bayes_factors_readably(shipped):
    out, res, _ = shipped
    text = (out / "report.md").read_text()
    lines = text.splitlines()
    head = next(line for line in lines if line.startswith("| id |") and "bf10" in line)
    start = lines.index(head)
    rows = []
    for line in lines[start + 2 :]:  # the table ends at the first line that is not a row
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    col = [c.strip() for c in head.strip("|").split("|")].index("bf10")
    shown = {row[0]: row[col] for row in rows}
    table = res.hypotheses.table.set_index("id")
    assert len(shown) == len(table)
    for hid, cell in shown.items():
        assert cell == format_number(table.at[hid, "bf10"], 3), (hid, cell)
        assert len(cell) <= 9, cell  # never 106341657339552.312


def test_shipped_truth_recovered(shipped):
    _, res, _ = shipped
    rec = res.recovery.table
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
    res = run_study(_config(path, truth_path), log=lambda m: None, cache=cache)
    hyp = res.hypotheses.table.set_index("id")
    assert hyp.loc["H7", "bayes_verdict"] == "supported"  # GP
    assert hyp.loc["H1", "bayes_verdict"] != "supported"  # TI is null now
    kd = res.drivers.table.set_index("driver")
    assert kd["p_largest"].idxmax() == "GP"
    write_study(res, tmp_path / "out")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "GP" in report.split("Recommendations")[-1]


@pytest.mark.slow
def test_make_study_files(tmp_path, cache):
    """A study with the alternative models (as ``make study``) writes the comparison too."""
    config = _config(
        ROOT / "data/bmi_survey.csv",
        ROOT / "data/ground_truth.json",
        alternatives=(
            ROOT / "models/bmi_drivers_direct.lav",
            ROOT / "models/bmi_drivers_dimensions.lav",
        ),
        sampler=SamplerConfig(draws=60, tune=60, chains=2, seed=1, progress=False),
        compare=True,
    )
    write_study(run_study(config, log=lambda m: None, cache=cache), tmp_path)
    assert _files(tmp_path) == STUDY_FILES | COMPARISON_FILES


def test_run_study_script_uses_relative_paths(monkeypatch):
    spec = importlib.util.spec_from_file_location("run_study", ROOT / "scripts/run_study.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.chdir(ROOT)
    assert script.shipped("data/bmi_survey.csv") == Path("data/bmi_survey.csv")
    monkeypatch.chdir(ROOT / "models")
    assert script.shipped("data/bmi_survey.csv") == Path("../data/bmi_survey.csv")


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
