"""Drivers by group: the grouped survey's truth, the group tables, the stage and the CLI option."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig
from bayes_bmi.cli.main import app
from bayes_bmi.errors import OptionError
from bayes_bmi.lavaan.model import read_model
from bayes_bmi.ml.fit import fit_ml
from bayes_bmi.study.config import StudyConfig
from bayes_bmi.study.groups import (
    DRAW_COLUMNS,
    GROUP_DRIVER_COLUMNS,
    drivers_by_group,
    group_rank_probabilities,
    invariance_verdict,
)
from bayes_bmi.study.stages import read_inputs, step11_groups, truth_recovery
from bayes_bmi.study.survey import (
    GROUPS_N,
    GROUPS_SEED,
    SHIPPED_SEED,
    GroupDesign,
    SurveyTruth,
    default_truth,
    grouped_truth,
    read_truth,
    simulate_groups,
    simulate_responses,
    simulate_survey,
)
from conftest import ROOT

GROUPS_DATA = ROOT / "data/bmi_survey_groups.csv"
GROUPS_TRUTH = ROOT / "data/ground_truth_groups.json"


# ------------------------------------------------------------------------- generator
def test_grouped_truth_documents_the_group_paths():
    truth = grouped_truth()
    g = truth.groups
    assert g.column == "size" and dict(g.shares) == {"small": 0.6, "medium": 0.4}
    by_group = truth.path_by_group()
    assert {k: v["std"] for k, v in by_group.items()} == {"small": 0.10, "medium": 0.45}
    factor = 0.84 * 0.70 / 0.82  # VP1 loading x VP's loading on BMI / TI1 loading
    for v in by_group.values():
        assert v["raw"] == pytest.approx(v["std"] * factor)
    # only the group driver's path differs between the groups' truths
    small, medium = truth.group_truths().values()
    assert small.loadings == medium.loadings and small.thresholds == medium.thresholds
    assert {d for d in truth.drivers if small.paths[d] != medium.paths[d]} == {"TI"}
    assert SurveyTruth.from_json(truth.to_json()) == truth
    doc = json.loads(truth.to_json())["groups"]
    assert doc["path_by_group"]["medium"]["std"] == 0.45 and "invariant" in doc["model"]


def test_group_design_is_validated():
    with pytest.raises(ValueError, match="one value per group"):
        GroupDesign("size", {"small": 0.6, "medium": 0.4}, "TI", {"small": 0.1})
    with pytest.raises(ValueError, match="unknown driver"):
        grouped_truth(driver="XX")
    with pytest.raises(ValueError, match="R\\^2"):
        grouped_truth(paths={"small": 0.1, "medium": 0.9})


def test_shipped_group_files_equal_a_fresh_regeneration():
    truth = grouped_truth()
    assert read_truth(GROUPS_TRUTH) == truth
    assert json.loads(GROUPS_TRUTH.read_text()) == json.loads(truth.to_json())
    fresh = simulate_survey(truth, GROUPS_N, GROUPS_SEED)
    pd.testing.assert_frame_equal(pd.read_csv(GROUPS_DATA), fresh)
    assert "size_class" not in fresh and set(fresh["size"]) == {"small", "medium"}
    assert 0.55 < (fresh["size"] == "small").mean() < 0.65


def test_group_labels_come_from_their_own_stream():
    """The labels do not move the ungrouped survey's draws (shipped survey unchanged)."""
    shipped = pd.read_csv(ROOT / "data/bmi_survey.csv")
    pd.testing.assert_frame_equal(shipped, simulate_survey(default_truth(), 632, SHIPPED_SEED))
    labels = simulate_groups(grouped_truth().groups, 500, 7)
    assert list(labels) == list(simulate_groups(grouped_truth().groups, 500, 7))


def test_per_group_ml_recovers_the_group_truth():
    """n = 8000 latent responses (about 4800 small, 3200 medium): std paths within 0.06."""
    truth = grouped_truth()
    n, seed = 8000, 11
    responses = simulate_responses(truth, n, seed)
    labels = simulate_groups(truth.groups, n, seed)
    model = read_model(ROOT / "models/bmi_drivers.lav")
    for label, group_truth in truth.group_truths().items():
        est = fit_ml(model, responses[labels == label]).estimates
        std = dict(zip(est["label"], est["std_all"], strict=True))
        for d in truth.drivers:
            assert abs(std[f"g_{d}"] - group_truth.paths[d]) < 0.06, (label, d)


# ------------------------------------------------------------------------ the tables
def _draws(values: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    rows = []
    for g, by_driver in values.items():
        for d, x in by_driver.items():
            rows.append(
                pd.DataFrame(
                    {
                        "group": g,
                        "driver": d,
                        "path": f"g_{d}",
                        "draw": np.arange(x.size),
                        "estimate": 2 * x,
                        "std_all": x,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)[list(DRAW_COLUMNS)]


@pytest.fixture
def fake_draws():
    rng = np.random.default_rng(5)
    n = 400
    return _draws(
        {
            "small": {
                "A": rng.normal(0.1, 0.05, n),
                "B": rng.normal(0.3, 0.05, n),
                "C": rng.normal(0.2, 0.2, n),
            },
            "medium": {
                "A": rng.normal(0.5, 0.05, n),
                "B": rng.normal(0.3, 0.05, n),
                "C": rng.normal(0.2, 0.2, n),
            },
        }
    )


def test_rank_probabilities_sum_to_one_per_group(fake_draws):
    ranks = group_rank_probabilities(fake_draws, ["A", "B", "C"])
    per_driver = ranks.groupby(["group", "driver"])["probability"].sum()
    per_rank = ranks.groupby(["group", "rank"])["probability"].sum()
    np.testing.assert_allclose(per_driver, 1.0)
    np.testing.assert_allclose(per_rank, 1.0)
    first = ranks[ranks["rank"] == 1].set_index(["group", "driver"])["probability"]
    assert first[("medium", "A")] > 0.9 and first[("small", "A")] < 0.05


def test_difference_is_the_draws_difference(fake_draws):
    table, _ = drivers_by_group(fake_draws, ["A", "B", "C"], n={"small": 60, "medium": 40})
    assert list(table.columns) == list(GROUP_DRIVER_COLUMNS)
    assert (table["reference"] == "small").all()
    ref = table[table["group"] == "small"]
    assert ref[["diff_median", "p_larger", "diff_hdi_lower"]].isna().all().all()
    drivers = fake_draws["driver"]
    for d in "ABC":
        x = fake_draws[(fake_draws["group"] == "medium") & (drivers == d)]["std_all"].to_numpy()
        y = fake_draws[(fake_draws["group"] == "small") & (drivers == d)]["std_all"].to_numpy()
        row = table[(table["group"] == "medium") & (table["driver"] == d)].iloc[0]
        assert row["diff_median"] == pytest.approx(np.median(x - y))
        assert row["p_larger"] == pytest.approx(np.mean(x > y))
        assert row["diff_hdi_lower"] < row["diff_median"] < row["diff_hdi_upper"]
        assert row["raw_median"] == pytest.approx(2 * np.median(x))
    a = table.query("group == 'medium' and driver == 'A'").iloc[0]
    assert a["p_larger"] == 1.0 and a["diff_hdi_lower"] > 0.25
    assert np.isnan(table["ml_std_all"]).all()


def test_drivers_by_group_refuses_unequal_draws(fake_draws):
    short = fake_draws[~((fake_draws["group"] == "medium") & (fake_draws["draw"] > 10))]
    with pytest.raises(ValueError, match="same number of draws"):
        drivers_by_group(short, ["A", "B", "C"])


def test_invariance_verdict_uses_delta_cfi():
    table = pd.DataFrame(
        {
            "level": ["configural", "metric", "scalar"],
            "cfi": [0.980, 0.975, 0.950],
            "chisq_diff": [np.nan, 40.0, 120.0],
            "df_diff": [np.nan, 36, 32],
            "pvalue_diff": [np.nan, 0.30, 0.0001],
        }
    )
    level, sentence = invariance_verdict(table)
    assert level == "metric"
    assert "at most 0.01" in sentence and "**metric**" in sentence
    assert "rejected by the LRT" in sentence
    table["cfi"] = [0.980, 0.979, 0.978]
    assert invariance_verdict(table)[0] == "scalar"


def test_truth_recovery_leaves_out_the_group_driver():
    truth = grouped_truth()
    draws = {n: np.zeros(10) for n in ["g_TI", "g_MD", "ind_TI", "ind_MD", "b"]}
    table = truth_recovery(truth, draws)
    assert set(table["parameter"]) == {"g_MD", "ind_MD", "b"}


def test_report_sections_say_what_differs(fake_draws):
    from types import SimpleNamespace

    from bayes_bmi.report.document import Report
    from bayes_bmi.report.study import _groups, _invariance
    from bayes_bmi.study.stages import GroupComparison

    table, ranks = drivers_by_group(fake_draws, ["A", "B", "C"])
    table["true_diff"] = np.where(table["group"] == "small", np.nan, 0.4)
    inv = pd.DataFrame(
        {
            "level": ["configural", "metric"],
            "cfi": [0.98, 0.979],
            "chisq_diff": [np.nan, 3.0],
            "df_diff": [np.nan, 2],
            "pvalue_diff": [np.nan, 0.2],
        }
    )
    level, sentence = invariance_verdict(inv)
    grp = GroupComparison(
        column="size",
        n={"small": 60, "medium": 40},
        drivers=("A", "B", "C"),
        invariance=inv,
        invariance_level=level,
        invariance_sentence=sentence,
        draws=fake_draws,
        table=table,
        ranks=ranks,
        diagnostics={g: {"converged": True, "max_r_hat": 1.001} for g in ("small", "medium")},
        seconds=1.0,
    )
    rep = Report("t")
    r = SimpleNamespace(groups=grp)
    _invariance(rep, 1, r)
    _groups(rep, 2, r)
    text = rep.to_markdown()
    assert "1. Measurement invariance by size" in text and "**metric** invariance" in text
    assert "2. Drivers by size" in text and "configural model" in text
    assert "**A** matters more in medium firms" in text and "inside the HDI" in text
    assert "**B** matters more" not in text
    assert "figures/drivers_by_group.png" in text


def test_group_forest_plot_draws_every_driver(fake_draws):
    from bayes_bmi.plots.study import group_forest_plot

    table, _ = drivers_by_group(fake_draws, ["A", "B", "C"])
    fig = group_forest_plot(table)
    left, right = fig.axes[:2]
    assert [t.get_text() for t in left.get_yticklabels()] == ["A", "B", "C"]
    assert "small" in right.get_xlabel()


# ------------------------------------------------------------------- config and CLI
def test_command_line_carries_the_group():
    config = StudyConfig(data=Path("d.csv"), model=Path("m.lav"), hypotheses=Path("h.toml"))
    assert "--group" not in config.command_line("out")
    argv = dataclasses.replace(config, group="size").command_line("out")
    assert argv[argv.index("--group") + 1] == "size"
    with pytest.raises(OptionError, match="column name"):
        StudyConfig(data=Path("d.csv"), model=Path("m.lav"), hypotheses=Path("h.toml"), group="")


def test_unknown_group_column_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        ["study", "--data", str(GROUPS_DATA), "--group", "sizes", "--out", str(out)]
        + ["--no-compare", "--draws", "50", "--tune", "50", "--chains", "1"],
    )
    assert res.exit_code == 2, res.output
    errors = [line for line in res.output.splitlines() if "sizes" in line]
    assert len(errors) == 1 and "no column 'sizes'" in errors[0]
    assert not out.exists()


def test_group_column_must_not_be_an_item(tmp_path):
    config = StudyConfig(
        data=GROUPS_DATA,
        model=ROOT / "models/bmi_drivers.lav",
        hypotheses=ROOT / "models/bmi_drivers.hypotheses.toml",
        group="TI1",
    )
    with pytest.raises(OptionError, match="item of the model"):
        read_inputs(config)


# ------------------------------------------------------------------------ the stage
@pytest.mark.slow
def test_group_stage_recovers_the_documented_difference():
    """Shipped grouped survey, 2 x (300 + 300) draws per group: TI larger in medium firms."""
    config = StudyConfig(
        data=GROUPS_DATA,
        model=ROOT / "models/bmi_drivers.lav",
        hypotheses=ROOT / "models/bmi_drivers.hypotheses.toml",
        truth=GROUPS_TRUTH,
        sampler=SamplerConfig(draws=300, tune=300, chains=2, seed=2, progress=False),
        compare=False,
        group="size",
    )
    inputs = read_inputs(config)
    result = step11_groups(config, inputs, CompileCache(), invariance=False)
    assert dict(result.n) == {"small": 597, "medium": 403}
    assert set(result.draws["group"]) == {"small", "medium"}
    ti = result.table.query("driver == 'TI' and group == 'medium'").iloc[0]
    assert ti["reference"] == "small" and ti["true_diff"] == pytest.approx(0.35)
    assert ti["diff_hdi_lower"] <= 0.35 <= ti["diff_hdi_upper"]
    assert ti["p_larger"] > 0.95
    per_driver = result.ranks.groupby(["group", "driver"])["probability"].sum()
    np.testing.assert_allclose(per_driver, 1.0)
    ml = result.table.set_index(["group", "driver"])["ml_std_all"]
    assert np.isfinite(ml).all() and ml[("medium", "TI")] - ml[("small", "TI")] > 0.2
