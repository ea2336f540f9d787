"""Power by simulation and prior sensitivity: pure tables, then tiny runs on Dask.

The tables (:func:`power_table`, :func:`power_summary`, :func:`verdict_stability`,
:func:`rank_stability`, :func:`log_prior_draws`) are checked on hand-made records; the runs
fit a two-factor model with short chains on an in-process Dask cluster (the compiled kernel
of this process is reused) and count the fits a resumed run makes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from bayes_bmi.bayes.parameters import param_spec
from bayes_bmi.bayes.priors import Prior
from bayes_bmi.bayes.sampling import SamplerConfig, bayesian_model
from bayes_bmi.calibration.power import (
    POWER_COLUMNS,
    NormalTruth,
    PowerError,
    power,
    power_summary,
    power_table,
)
from bayes_bmi.calibration.sensitivity import (
    SENSITIVITY_COLUMNS,
    log_prior_draws,
    rank_stability,
    sensitivity,
    verdict_stability,
)
from bayes_bmi.checking.hypotheses import Hypothesis
from bayes_bmi.checking.ranking import expected_ranks, rank_probabilities
from bayes_bmi.cli.main import app
from bayes_bmi.lavaan.model import specify
from bayes_bmi.study import hypotheses as study_hypotheses
from bayes_bmi.study.survey import read_truth
from conftest import ROOT

TWO_FACTOR = "f =~ y1 + y2 + y3\ng =~ y4 + y5 + y6\ng ~ b*f"
TINY = SamplerConfig(draws=150, tune=150, chains=2, cores=1, progress=False)
HYPS = [
    Hypothesis("Ha", "b", "positive", "f raises g"),
    Hypothesis("Hb", "g=~y5", "negative", "a loading is negative (false)"),
]


def _truth(b: float = 0.4) -> dict[str, float]:
    spec = param_spec(bayesian_model(specify(TWO_FACTOR)))
    values = dict.fromkeys(spec.names, 0.0)
    values.update({"f=~y2": 0.8, "f=~y3": 0.8, "g=~y5": 0.8, "g=~y6": 0.8, "b": b})
    values.update({"f~~f": 1.0, "g~~g": 1.0, **{f"y{i}~~y{i}": 0.5 for i in range(1, 7)}})
    return values


# ---------------------------------------------------------------------- pure tables
def _record(n, sim, bayes=(), ml=(), failed=False):
    if failed:
        return {"n": n, "sim": sim, "failed": "boom", "attempts": 3}
    return {
        "n": n,
        "sim": sim,
        "ids": ["Ha", "Hb"],
        "bayes_verdict": list(bayes),
        "ml_verdict": list(ml),
        "post_median": [0.1 * sim, -0.2],
        "pd": [0.9, 0.1],
        "converged": sim != 1,
    }


def test_power_table_shares_sum_to_one_with_their_mc_errors():
    recs = [
        _record(50, 0, ["supported", "not supported"], ["supported", "not supported"]),
        _record(50, 1, ["inconclusive", "not supported"], ["not supported", "unavailable"]),
        _record(50, 2, ["supported", "inconclusive"], ["supported", "not supported"]),
        _record(50, 3, failed=True),
        _record(100, 0, ["supported", "not supported"], ["supported", "not supported"]),
    ]
    t = power_table(dict(enumerate(recs)), HYPS)
    assert list(t.columns) == list(POWER_COLUMNS)
    assert t[["id", "n"]].values.tolist() == [["Ha", 50], ["Hb", 50], ["Ha", 100], ["Hb", 100]]
    bayes = t[["p_supported", "p_not_supported", "p_inconclusive"]].sum(axis=1)
    ml = t[["ml_p_supported", "ml_p_not_supported", "ml_p_unavailable"]].sum(axis=1)
    np.testing.assert_allclose(bayes, 1.0)
    np.testing.assert_allclose(ml, 1.0)
    ha50 = t.iloc[0]
    assert (ha50["sims"], ha50["failed"], ha50["unconverged"]) == (3, 1, 1)
    assert ha50["p_supported"] == pytest.approx(2 / 3)
    assert ha50["mcse_supported"] == pytest.approx(math.sqrt(2 / 3 * 1 / 3 / 3))
    assert t.iloc[1]["ml_p_unavailable"] == pytest.approx(1 / 3)
    assert ha50["median_estimate"] == pytest.approx(0.1)


def test_power_summary_finds_the_smallest_n_or_says_not_reached():
    t = pd.DataFrame(
        {
            "id": ["A"] * 3 + ["B"] * 3,
            "parameter": ["a"] * 3 + ["b"] * 3,
            "n": [100, 200, 400] * 2,
            "p_supported": [0.5, 0.85, 0.95, 0.1, 0.2, 0.3],
            "ml_p_supported": [0.8, 0.9, 1.0, 0.1, 0.79, 0.81],
        }
    )
    s = power_summary(t, 0.8).set_index("id")
    assert s.at["A", "n_bayes"] == 200 and s.at["A", "n_ml"] == 100
    assert math.isnan(s.at["B", "n_bayes"]) and s.at["B", "bayes_note"] == "not reached (n <= 400)"
    assert s.at["B", "n_ml"] == 400
    assert power_summary(t, 0.9).set_index("id").at["A", "n_bayes"] == 400
    with pytest.raises(PowerError, match="target"):
        power_summary(t, 1.5)


def test_verdict_stability_against_hand_made_verdicts():
    table = pd.DataFrame(
        {
            "id": ["H1", "H1", "H1", "H2", "H2", "H2"],
            "prior": ["default", "wide", "narrow"] * 2,
            "bayes_verdict": [
                "supported",
                "supported",
                "supported",
                "supported",
                "inconclusive",
                "supported",
            ],
        }
    )
    out = verdict_stability(table)
    assert out.groupby("id")["holds"].first().to_dict() == {"H1": True, "H2": False}
    assert out.loc[out["id"] == "H2", "verdicts"].iat[0] == "supported; inconclusive"
    assert len(out) == len(table)


def test_rank_stability_orders_within_each_prior():
    ranks = pd.DataFrame(
        {
            "prior": ["d", "d", "d", "w", "w", "w"],
            "parameter": ["a", "b", "c"] * 2,
            "expected_rank": [1.2, 1.9, 2.9, 2.1, 1.1, 2.8],
        }
    )
    out = rank_stability(ranks)
    assert out["rank"].tolist() == [1, 2, 3, 2, 1, 3]
    assert out.groupby("parameter")["rank_holds"].first().to_dict() == {
        "a": False,
        "b": False,
        "c": True,
    }


def test_expected_ranks_from_rank_probabilities():
    x = np.column_stack([np.full(100, 3.0), np.r_[np.full(50, 4.0), np.full(50, 1.0)]])
    exp = expected_ranks(rank_probabilities(x, ["a", "b"]))
    assert exp.to_dict() == {"a": 1.5, "b": 1.5}
    # the study's driver ranking is the same function, its index named for drivers
    from bayes_bmi.study.drivers import rank_probabilities as driver_ranks

    pd.testing.assert_frame_equal(
        driver_ranks(x, ["a", "b"]), rank_probabilities(x, ["a", "b"]).rename_axis("driver")
    )


def test_log_prior_draws_is_the_sum_of_scipy_densities_on_each_priors_scale():
    model = bayesian_model(specify("f =~ y1 + y2\ny1 ~~ y2"))
    spec = param_spec(model, {"theta": Prior("gamma", (2.0, 1.0), "var")})
    rng = np.random.default_rng(3)
    z = rng.normal(scale=0.3, size=(2, 5, spec.size))
    got = log_prior_draws(spec, z)
    want = np.zeros(z.shape[:-1])
    for k, (kind, prior) in enumerate(zip(spec.kinds, spec.priors, strict=True)):
        if kind == "theta":
            want += stats.gamma(2.0, scale=1.0).logpdf(np.exp(2 * z[..., k]))
        elif kind == "psi":
            want += stats.gamma(1.0, scale=2.0).logpdf(np.exp(z[..., k]))
        elif kind == "rho":
            want += stats.beta(1.0, 1.0).logpdf((np.tanh(z[..., k]) + 1) / 2)
        else:
            sd = 32.0 if kind == "nu" else 10.0
            want += stats.norm(0, sd).logpdf(z[..., k])
        assert prior.family in ("gamma", "beta", "normal")
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_study_and_engine_share_one_verdict_rule():
    from bayes_bmi.checking import hypotheses as engine

    assert study_hypotheses.DecisionRule is engine.DecisionRule
    assert study_hypotheses.hypothesis_table is engine.hypothesis_table


def test_a_normal_truth_must_name_every_free_parameter():
    model = specify(TWO_FACTOR)
    with pytest.raises(PowerError, match="missing"):
        NormalTruth(model, {"b": 0.3})
    data = NormalTruth(model, _truth()).simulate(500, 1)
    assert list(data.columns) == [f"y{i}" for i in range(1, 7)]
    assert data.equals(NormalTruth(model, _truth()).simulate(500, 1))


def test_the_survey_truth_simulates_the_items_of_the_study_model():
    from bayes_bmi.study.power import SurveyData

    sim = SurveyData.from_truth(read_truth(ROOT / "data" / "ground_truth.json"))
    data = sim.simulate(30, 5)
    model = specify((ROOT / "models" / "bmi_drivers.lav").read_text())
    assert set(model.ov_names) <= set(data.columns) and len(data) == 30
    assert data.equals(sim.simulate(30, 5)) and not data.equals(sim.simulate(30, 6))


# ---------------------------------------------------------------------- on Dask
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _sim_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "sims").glob("*.json"))}


def test_power_runs_writes_and_resumes_without_refitting(client, tmp_path):
    model = specify(TWO_FACTOR)
    truth = NormalTruth(model, _truth())
    out = tmp_path / "power"
    first = power(
        model, truth, HYPS, [30, 150], 2, config=TINY, client=client, out=out, progress=False
    )
    assert first.fitted == 4 and len(_sim_files(out)) == 4
    assert list(first.table.columns) == list(POWER_COLUMNS) and len(first.table) == 4
    probs = first.table[["p_supported", "p_not_supported", "p_inconclusive"]].sum(axis=1)
    np.testing.assert_allclose(probs, 1.0)
    for name in ("power.csv", "power_summary.csv", "sims.csv", "power.json"):
        assert (out / name).is_file()
    # an interrupted run: one fit's file lost; the rerun (with a third simulation) fits 2
    before = _sim_files(out)
    lost = "n0000150_sim00001.json"
    (out / "sims" / lost).unlink()
    second = power(
        model, truth, HYPS, [30, 150], 3, config=TINY, client=client, out=out, progress=False
    )
    after = _sim_files(out)
    assert second.fitted == 3  # n150/sim1 again, and sim 2 at both sizes
    assert len(after) == 6 and all(after[k] == v for k, v in before.items() if k != lost)
    old, new = json.loads(before[lost]), json.loads(after[lost])  # the same seeds, the same fit
    assert old["post_median"] == new["post_median"] and old["seconds"] != new["seconds"]
    assert second.table["sims"].tolist() == [3, 3, 3, 3]
    records = [json.loads(b) for b in after.values()]
    assert all(r["compilations"] == 1 for r in records)  # one worker, one compilation
    assert pd.read_csv(out / "power.csv").shape == second.table.shape
    with pytest.raises(PowerError, match="other settings"):
        power(model, truth, HYPS, [30], 1, config=TINY, client=client, out=out, seed=9)


def test_sensitivity_table_shape_and_resume(client, tmp_path):
    model = specify(TWO_FACTOR)
    data = NormalTruth(model, _truth()).simulate(120, 2)
    grid = {"default": {}, "tight": {"beta": Prior("normal", (0.0, 0.01))}}
    out = tmp_path / "sens"
    res = sensitivity(
        model,
        data,
        HYPS,
        grid=grid,
        config=TINY,
        rank=["f=~y2", "g=~y5"],
        client=client,
        out=out,
        progress=False,
    )
    t = res.table
    assert list(t.columns) == list(SENSITIVITY_COLUMNS) and len(t) == len(HYPS) * len(grid)
    assert set(t["prior"]) == set(grid)
    by = t.set_index(["id", "prior"])["bayes_verdict"]
    # a prior sd of 0.01 pins b at 0: Ha cannot stay supported under it
    assert by["Ha", "default"] == "supported" and by["Ha", "tight"] != "supported"
    assert not t.loc[t["id"] == "Ha", "holds"].any()
    assert by["Hb", "default"] == by["Hb", "tight"] and t.loc[t["id"] == "Hb", "holds"].all()
    assert len(res.ranks) == 4 and set(res.ranks["rank"]) == {1, 2}
    assert list(res.psense["parameter"]) == ["b", "g=~y5"]
    assert res.psense[["prior", "likelihood"]].ge(0).all().all()
    assert set(res.grid["prior_set"]) == set(grid) and res.grid["changed"].sum() == 1
    for name in ("sensitivity.csv", "ranks.csv", "psense.csv", "priors.csv"):
        assert (out / name).is_file()
    again = sensitivity(
        model,
        data,
        HYPS,
        grid=grid,
        config=TINY,
        rank=["f=~y2", "g=~y5"],
        client=client,
        out=out,
        progress=False,
    )
    assert again.fitted == 0 and again.table.equals(t)


def test_the_commands_run_and_write_their_files(client, tmp_path, monkeypatch):
    model_file = tmp_path / "m.lav"
    model_file.write_text(TWO_FACTOR)
    truth_file = tmp_path / "truth.json"
    truth_file.write_text(json.dumps(_truth()))
    hyp_file = tmp_path / "h.toml"
    hyp_file.write_text(
        '[[hypothesis]]\nid = "Ha"\nparameter = "b"\ndirection = "positive"\nwording = "w"\n'
    )
    address = client.scheduler.address
    runner = CliRunner()
    common = ["--draws", "100", "--tune", "100", "--chains", "2", "--scheduler", address]
    res = runner.invoke(
        app,
        [
            "power",
            str(model_file),
            "--truth",
            str(truth_file),
            "--hypotheses",
            str(hyp_file),
            "--n",
            "40,80",
            "--sims",
            "1",
            "--out",
            str(tmp_path / "p"),
            *common,
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p" / "power.png").stat().st_size > 1000
    assert (tmp_path / "p" / "provenance.json").is_file()
    data_file = tmp_path / "d.csv"
    NormalTruth(specify(TWO_FACTOR), _truth()).simulate(80, 1).to_csv(data_file, index=False)
    res = runner.invoke(
        app,
        [
            "sensitivity",
            str(model_file),
            str(data_file),
            "--hypotheses",
            str(hyp_file),
            "--out",
            str(tmp_path / "s"),
            "--no-psense",
            *common,
        ],
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "s" / "sensitivity.csv")
    assert len(table) == 4 and "holds" in table.columns
    assert "verdicts hold under every prior" in res.output
    bad = runner.invoke(
        app,
        ["power", str(model_file), "--truth", str(truth_file), "--hypotheses", str(hyp_file)]
        + ["--n", "40,x", "--out", str(tmp_path / "q")],
    )
    assert bad.exit_code != 0 and "--n" in bad.output
