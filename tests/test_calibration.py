"""Simulation-based calibration: rank statistics, their tests, and the Dask runner.

The statistics (thinning, ranks, the chi-square test, coverage, the ECDF band) are checked on
synthetic ranks against scipy; the runner runs a tiny calibration of a one-factor model on a
``LocalCluster`` of two worker processes, then resumes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_bmi.bayes.parameters import param_spec
from bayes_bmi.bayes.sampling import SamplerConfig
from bayes_bmi.calibration.ranks import (
    bin_of,
    bin_probabilities,
    coverage,
    ecdf_difference,
    rank_bins,
    rank_of,
    thin_indices,
    uniformity,
)
from bayes_bmi.calibration.runner import calibrate, rank_table, read_records
from bayes_bmi.calibration.simulation import (
    CalibrationError,
    CalibrationSettings,
    calibration_model,
    draw_truth,
    thinned_sizes,
    truth_rows,
)
from bayes_bmi.errors import BayesBmiError
from bayes_bmi.lavaan.model import specify
from bayes_bmi.lavaan.representation import fill_matrices, implied_moments

ONE_FACTOR = "f =~ y1 + y2 + y3"
TINY = SamplerConfig(draws=100, tune=200, chains=2, cores=1, progress=False)


def _ranks(values: dict[str, np.ndarray], ndraws: int | np.ndarray = 99) -> pd.DataFrame:
    frames = []
    for name, r in values.items():
        nd = np.broadcast_to(ndraws, r.shape)
        frames.append(
            pd.DataFrame({"sim": np.arange(len(r)), "parameter": name, "rank": r, "ndraws": nd})
        )
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------- rank statistics
def test_thin_indices_are_evenly_spread_and_within_range():
    idx = thin_indices(2000, 99)
    assert len(idx) == 99 and idx.min() >= 0 and idx.max() < 2000
    assert np.all(np.diff(idx) >= 20) and np.all(np.diff(idx) <= 21)
    assert np.array_equal(thin_indices(5, 10), np.arange(5))


def test_rank_counts_the_draws_below_the_truth():
    draws = np.array([[0.1, 5.0], [0.2, 6.0], [0.3, 7.0]])
    assert rank_of(draws, np.array([0.25, 4.0])).tolist() == [2, 0]
    assert rank_of(draws, np.array([1.0, 8.0])).tolist() == [3, 3]


def test_thinned_sizes_follow_the_ess_within_bounds():
    sizes = thinned_sizes(np.array([3.0, 57.9, 500.0, np.nan]), 99, 2000)
    assert sizes.tolist() == [10, 57, 99, 10]


def test_rank_bins_divide_the_rank_values_when_they_can():
    assert rank_bins(99, 200) == 20  # 100 rank values, 20 bins of 5
    assert rank_bins(99, 50) == 5
    assert rank_bins(99, 6) == 2
    assert rank_bins(100, 200) == 20  # 101 is prime: unequal bins, exact expected counts


def test_bin_probabilities_are_exact():
    assert np.allclose(bin_probabilities(99, 20), 0.05)
    p = bin_probabilities(4, 2)  # ranks 0..4: bins {0, 1, 2} and {3, 4}
    assert np.allclose(p, [0.6, 0.4])
    assert bin_of(np.array([0, 2, 3, 4]), 4, 2).tolist() == [0, 0, 1, 1]


def test_uniformity_equals_scipy_chisquare_on_the_binned_ranks():
    rng = np.random.default_rng(0)
    r = rng.integers(0, 100, size=200)
    table = uniformity(_ranks({"a": r}), bins=20)
    counts = np.bincount(r // 5, minlength=20)
    ref = stats.chisquare(counts)
    row = table.iloc[0]
    assert row["bins"] == 20 and row["df"] == 19 and row["n_sims"] == 200
    assert row["chisq"] == pytest.approx(ref.statistic)
    assert row["pvalue"] == pytest.approx(ref.pvalue)


def test_uniformity_with_mixed_draw_counts_uses_exact_expected_counts():
    rng = np.random.default_rng(1)
    nd = np.where(np.arange(300) % 2 == 0, 20, 57)
    r = rng.integers(0, nd + 1)
    table = uniformity(_ranks({"a": r}, nd), bins=4)
    counts = np.bincount(np.minimum(r * 4 // (nd + 1), 3), minlength=4)
    expected = 150 * bin_probabilities(20, 4) + 150 * bin_probabilities(57, 4)
    ref = stats.chisquare(counts, f_exp=expected)
    assert table["chisq"].iat[0] == pytest.approx(ref.statistic)
    assert table["pvalue"].iat[0] == pytest.approx(ref.pvalue)


def test_uniformity_fails_too_narrow_posteriors_with_bonferroni():
    rng = np.random.default_rng(2)
    n = 200
    good = rng.integers(0, 100, size=n)
    # a posterior too narrow: the truth falls in the tails (U-shaped histogram)
    u = rng.uniform(size=n)
    narrow = np.where(u < 0.5, rng.integers(0, 15, size=n), rng.integers(85, 100, size=n))
    table = uniformity(_ranks({"good": good, "narrow": narrow}), alpha=0.05).set_index("parameter")
    assert table["threshold"].tolist() == [0.025, 0.025]  # 0.05 / 2 parameters
    assert bool(table.loc["good", "passed"]) and not bool(table.loc["narrow", "passed"])
    assert table.loc["narrow", "pvalue"] < 1e-10


def test_coverage_of_central_intervals_from_the_share_of_draws_below_the_truth():
    pit = np.array([0.01, 0.2, 0.3, 0.5, 0.7, 0.85, 0.97, 0.999])
    table = coverage(pd.DataFrame({"parameter": "a", "pit": pit}), (0.5, 0.8, 0.95))
    # 50%: [0.25, 0.75] holds 0.3, 0.5, 0.7; 80%: [0.1, 0.9] adds 0.2, 0.85; 95%: adds 0.97
    assert table["coverage"].tolist() == [3 / 8, 5 / 8, 6 / 8]
    assert table["mc_se"].iat[2] == pytest.approx(np.sqrt(0.95 * 0.05 / 8))


def test_coverage_is_nominal_for_uniform_and_low_for_overconfident_posteriors():
    rng = np.random.default_rng(3)
    calibrated = coverage(pd.DataFrame({"parameter": "a", "pit": rng.uniform(size=20000)}))
    assert np.allclose(calibrated["coverage"], calibrated["nominal"], atol=0.015)
    # posterior SD half the true one: the truth's PIT is Phi(2 z)
    pit = stats.norm.cdf(2 * rng.standard_normal(20000))
    narrow = coverage(pd.DataFrame({"parameter": "a", "pit": pit})).set_index("nominal")
    assert narrow.loc[0.95, "coverage"] == pytest.approx(2 * stats.norm.cdf(1.96 / 2) - 1, abs=0.02)


def test_ecdf_difference_and_its_band():
    r = np.arange(100)  # every rank once: the ECDF is the uniform CDF up to the cell width
    x, diff, band = ecdf_difference(r, 99, alpha=0.05)
    assert np.abs(diff).max() <= 0.011
    assert band == pytest.approx(np.sqrt(np.log(40) / 200))
    _, skewed, _ = ecdf_difference(np.zeros(100, dtype=int), 99)
    assert skewed.max() > 0.9


# ------------------------------------------------------------------- truths
def test_prior_truths_are_reproducible_and_positive_definite():
    model = calibration_model(specify("a =~ x1 + x2 + x3\nb =~ x4 + x5 + x6"))
    spec = param_spec(model)
    one = draw_truth(model, spec, np.random.default_rng(5))
    two = draw_truth(model, spec, np.random.default_rng(5))
    assert np.array_equal(one, two)
    for seed in range(20):
        rows = draw_truth(model, spec, np.random.default_rng(seed))
        sigma, _ = implied_moments(fill_matrices(model.representation, rows))
        assert np.linalg.eigvalsh(sigma)[0] > 0


def test_a_fixed_truth_must_name_every_free_parameter():
    model = calibration_model(specify(ONE_FACTOR))
    spec = param_spec(model)
    truth = dict.fromkeys(spec.names, 0.5)
    rows = truth_rows(model, spec, truth)
    assert rows[spec.free_rows].tolist() == [0.5] * len(spec.free_rows)
    with pytest.raises(CalibrationError, match="missing: f~~f.*") as err:
        truth_rows(model, spec, {k: v for k, v in truth.items() if k != "f~~f"} | {"z": 1.0})
    assert "unknown: z" in str(err.value)
    assert issubclass(CalibrationError, BayesBmiError)


def test_fixed_covariates_and_bad_settings_are_refused(tmp_path):
    with pytest.raises(CalibrationError, match="fixed exogenous"):
        calibration_model(specify("y ~ x1\nf =~ a + b + c"))
    with pytest.raises(CalibrationError, match="exceeds the draws"):
        CalibrationSettings(n=100, ndraws=500, config=TINY)
    with pytest.raises(CalibrationError, match="n must be"):
        CalibrationSettings(n=1)


def test_an_out_folder_of_other_settings_is_refused(tmp_path):
    model = specify(ONE_FACTOR)
    settings = CalibrationSettings(n=50, config=TINY)
    (tmp_path / "calibration.json").write_text(json.dumps({"fingerprint": "other"}))
    with pytest.raises(CalibrationError, match="other settings"):
        calibrate(model, 50, 2, config=TINY, out=tmp_path, progress=False)
    assert settings.fingerprint(calibration_model(model)) != CalibrationSettings(
        n=51, config=TINY
    ).fingerprint(calibration_model(model))


# ------------------------------------------------------------------- on Dask
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "sims").glob("sim_*.json"))}


def test_a_tiny_calibration_on_a_local_cluster_then_resumed(client, tmp_path):
    model = specify(ONE_FACTOR)
    out = tmp_path / "cal"
    first = calibrate(
        model, 100, 4, config=TINY, ndraws=99, client=client, out=out, seed=7, progress=False
    )
    assert first.fitted == 4 and first.workers == 2
    before = _files(out)
    assert sorted(before) == [f"sim_{i:05d}.json" for i in range(4)]

    calls = []
    res = calibrate(
        model,
        100,
        6,
        config=TINY,
        ndraws=99,
        client=client,
        out=out,
        seed=7,
        progress=lambda done, total, s: calls.append((done, total)),
    )
    after = _files(out)
    assert res.fitted == 2  # only the two new simulations were fitted
    assert len(after) == 6 and all(after[k] == v for k, v in before.items())
    assert calls[0] == (4, 6) and calls[-1] == (6, 6)

    records = read_records(out, res.settings.fingerprint(calibration_model(model)))
    assert sorted(records) == list(range(6))
    assert all(rec["compilations"] == 1 for rec in records.values())  # once per worker
    ok = [rec for rec in records.values() if "failed" not in rec]
    ranks = res.ranks
    assert list(ranks.columns[:4]) == ["sim", "parameter", "rank", "ndraws"]
    assert len(ranks) == 9 * len(ok) and ranks["rank"].between(0, ranks["ndraws"]).all()
    assert ranks["ndraws"].between(10, 99).all()
    assert set(res.uniformity["parameter"]) == set(param_spec(calibration_model(model)).names)
    assert set(res.coverage["nominal"]) == {0.5, 0.8, 0.95}
    for name in ("ranks.csv", "uniformity.csv", "coverage.csv", "sims.csv", "calibration.json"):
        assert (out / name).is_file()
    assert pd.read_csv(out / "ranks.csv").shape == ranks.shape
    assert rank_table(records).equals(ranks)


def test_the_same_simulation_gives_the_same_record_on_any_worker(client, tmp_path):
    model = specify(ONE_FACTOR)
    a = calibrate(model, 80, 2, config=TINY, client=client, seed=3, progress=False)
    b = calibrate(model, 80, 2, config=TINY, client=client, seed=3, progress=False)
    c = calibrate(model, 80, 2, config=TINY, client=client, seed=4, progress=False)
    assert a.ranks.equals(b.ranks)
    assert not a.ranks["truth"].equals(c.ranks["truth"])


def test_the_api_and_command_line_write_tables_and_figures(tmp_path):
    from typer.testing import CliRunner

    from bayes_bmi.cli.main import app

    model = tmp_path / "one.lav"
    model.write_text(ONE_FACTOR + "\n")
    out = tmp_path / "cli"
    args = ["calibrate", str(model), "--sims", "3", "--n", "60", "--workers", "1"]
    args += ["--draws", "100", "--tune", "150", "--out", str(out), "--priors", "weak"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "3 simulations (3 fitted now" in r.output and "uniformity of ranks" in r.output
    design = json.loads((out / "calibration.json").read_text())
    assert design["priors"]["lambda"] == "normal(0.8, 0.3)" and design["extend"] == 1
    for name in ("rank_histograms.png", "ecdf_difference.png", "provenance.json", "ranks.csv"):
        assert (out / name).is_file(), name
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "(0 fitted now" in again.output


def test_an_unknown_prior_set_is_a_friendly_error(tmp_path):
    from typer.testing import CliRunner

    from bayes_bmi.cli.main import app

    model = tmp_path / "one.lav"
    model.write_text(ONE_FACTOR + "\n")
    args = ["calibrate", str(model), "--out", str(tmp_path / "o"), "--priors", "vague"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code != 0 and "neither a prior set" in r.output
    assert "Traceback" not in r.output


def test_the_api_refuses_bad_counts():
    import bayes_bmi as bb
    from bayes_bmi.errors import OptionError

    with pytest.raises(OptionError, match="sims must be a positive integer"):
        bb.calibrate(ONE_FACTOR, sims=0)
    with pytest.raises(OptionError, match="unknown option 'drawz'"):
        bb.calibrate(ONE_FACTOR, sims=1, drawz=10)


def test_the_figures_draw_every_parameter():
    from bayes_bmi.plots.calibration import plot_ecdf_difference, plot_rank_histograms

    rng = np.random.default_rng(4)
    ranks = _ranks({n: rng.integers(0, 100, size=60) for n in ("a", "b", "c")})
    for fig in (plot_rank_histograms(ranks), plot_ecdf_difference(ranks)):
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert [ax.get_title() for ax in visible] == ["a", "b", "c"]
