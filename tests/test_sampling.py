"""NUTS fits: agreement with lavaan and blavaan, reuse, reproducibility, recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig, fit_bayes
from bayes_bmi.lavaan.model import read_model, specify
from bayes_bmi.ml.fit import fit_ml
from conftest import DATA, MODELS

BLAVAAN_HS = DATA / "blavaan_hs_cfa_params.csv"


@pytest.fixture(scope="module")
def cache():
    return CompileCache()


@pytest.fixture(scope="module")
def hs(cache):
    data = pd.read_csv(DATA / "HolzingerSwineford1939.csv")
    config = SamplerConfig(draws=500, tune=500, chains=4, seed=1, progress=False)
    return fit_bayes(read_model(MODELS / "hs_cfa.lav"), data, config=config, cache=cache)


def test_hs_converges(hs):
    d = hs.diagnostics
    assert d["divergences"] == 0
    assert d["max_r_hat"] <= 1.02
    assert (
        d["min_ess_bulk"] >= 200
    )  # 4 x 500 draws; the 4 x 1000 check is scripts/check_convergence.py


def test_hs_posterior_near_ml(hs):
    """Medians within 0.3 posterior SD of lavaan's ML estimates; SDs within 25% of the SEs.

    Where a parameter misses either criterion, blavaan 0.4.8's posterior with the same priors
    (tests/data/blavaan_hs_cfa_params.csv) must miss it in the same way: that makes the miss a
    property of the posterior, not of our sampler. Two parameters are in that case:
    speed=~x9 (right-skewed: blavaan's SD 0.255 against the SE 0.151) and visual~~speed
    (blavaan's median 0.244 against the ML 0.262, 0.34 SD).
    """
    ref = pd.read_csv(BLAVAAN_HS).set_index(["lhs", "op", "rhs"])
    s = hs.summary
    # loadings, regressions and covariances (not variances, not intercepts)
    s = s[s["op"].isin(["=~", "~", "~~"]) & ((s["op"] != "~~") | (s["lhs"] != s["rhs"]))]
    assert len(s) == 9
    misses = 0
    for _, r in s.iterrows():
        key = (r["lhs"], r["op"], r["rhs"])
        offdiag = True
        dev = abs(r["median"] - r["ml_est"]) / r["sd"]
        ratio = r["sd"] / r["ml_se"]
        b = ref.loc[key]
        if offdiag and dev >= 0.3:
            misses += 1
            b_dev = abs(b["q50"] - r["ml_est"]) / b["post_sd"]
            assert b_dev >= 0.25 and abs(dev - b_dev) < 0.1, (key, dev, b_dev)
        if abs(ratio - 1) >= 0.25:
            misses += 1
            b_ratio = b["post_sd"] / r["ml_se"]
            assert abs(b_ratio - 1) >= 0.2 and abs(ratio - b_ratio) < 0.15, (key, ratio, b_ratio)
    assert misses <= 2


def test_hs_posterior_matches_blavaan(hs):
    """Same priors, same posterior: means within 0.15 SD and SDs within 15% of blavaan's."""
    ref = pd.read_csv(BLAVAAN_HS)
    ours = hs.summary.set_index(["lhs", "op", "rhs"])
    for _, r in ref.iterrows():
        row = ours.loc[(r["lhs"], r["op"], r["rhs"])]
        assert abs(row["mean"] - r["post_mean"]) < 0.15 * r["post_sd"], (r["name"], row["mean"])
        assert abs(row["sd"] / r["post_sd"] - 1) < 0.15, (r["name"], row["sd"], r["post_sd"])


def test_hs_datatree_groups(hs):
    tree = hs.idata
    for group in ("posterior", "sample_stats", "log_likelihood", "prior", "observed_data"):
        assert group in tree.children
    assert tree["log_likelihood"]["y"].shape == (4, 500, 301)
    post = tree["posterior"]
    assert list(post["theta"].coords["param"].values[:2]) == ["visual=~x2", "visual=~x3"]
    # std.all of a loading per draw agrees with the ML std.all at the ML point on average
    std = hs.summary.set_index(["lhs", "op", "rhs"])["std_all"]
    ml_std = hs.ml.estimates.set_index(["lhs", "op", "rhs"])["std_all"]
    assert std.loc[("textual", "=~", "x5")] == pytest.approx(
        ml_std.loc[("textual", "=~", "x5")], abs=0.03
    )


def test_reuse_does_not_compile_again(hs, cache, monkeypatch):
    from bayes_bmi.bayes import compiled

    calls = []
    real = compiled.load_kernel

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(compiled, "load_kernel", counting)
    data = pd.read_csv(DATA / "HolzingerSwineford1939.csv").sample(frac=0.8, random_state=3)
    config = SamplerConfig(draws=100, tune=200, chains=2, seed=7, progress=False)
    again = fit_bayes(read_model(MODELS / "hs_cfa.lav"), data, config=config, cache=cache)
    assert calls == []
    assert again.diagnostics["compiled_model_reused"]
    assert again.stats.n == 241
    # the new data reached the compiled model: the intercepts follow the new sample means
    s = again.summary.set_index(["lhs", "op"])
    assert s.loc[("x1", "~1"), "mean"] == pytest.approx(data["x1"].mean(), abs=0.05)
    # same seed, same draws
    twin = fit_bayes(read_model(MODELS / "hs_cfa.lav"), data, config=config, cache=cache)
    np.testing.assert_array_equal(
        again.idata["posterior"]["z"].values, twin.idata["posterior"]["z"].values
    )
    assert calls == []


def test_poldem_indirect_interval_near_bootstrap(cache):
    data = pd.read_csv(DATA / "PoliticalDemocracy.csv")
    config = SamplerConfig(draws=1000, tune=500, chains=4, seed=2, progress=False)
    res = fit_bayes(read_model(MODELS / "poldem_indirect.lav"), data, config=config, cache=cache)
    assert res.diagnostics["divergences"] == 0
    assert res.diagnostics["max_r_hat"] <= 1.02
    ind = res.summary.set_index("lhs").loc["ind"]
    # lavaan's bootstrap percentile interval (1000 draws, seed 1234): [0.5421, 1.9308]
    assert abs(ind["hdi_lower"] - 0.5421) < 0.2
    assert abs(ind["hdi_upper"] - 1.9308) < 0.2


TRUE_SEM = """
f1 =~ 1*y1 + 0.8*y2 + 1.2*y3 + 0.9*y4
f2 =~ 1*y5 + 1.1*y6 + 0.7*y7 + 0.9*y8
f3 =~ 1*y9 + 0.8*y10 + 1.0*y11
f2 ~ 0.5*f1
f3 ~ 0.4*f1 + 0.3*f2
f1 ~~ 1.0*f1
f2 ~~ 0.6*f2
f3 ~~ 0.5*f3
y1 ~~ 0.5*y1
y2 ~~ 0.6*y2
y3 ~~ 0.4*y3
y4 ~~ 0.7*y4
y5 ~~ 0.5*y5
y6 ~~ 0.4*y6
y7 ~~ 0.8*y7
y8 ~~ 0.6*y8
y9 ~~ 0.5*y9
y10 ~~ 0.6*y10
y11 ~~ 0.4*y11
y1 ~~ 0.15*y5
"""
FIT_SEM = """
f1 =~ y1 + y2 + y3 + y4
f2 =~ y5 + y6 + y7 + y8
f3 =~ y9 + y10 + y11
f2 ~ f1
f3 ~ f1 + f2
y1 ~~ y5
"""


def test_parameter_recovery_n632():
    """Data simulated from a known SEM: the truth lies in the 95% HDI for >= 90% of parameters."""
    rng = np.random.default_rng(632)
    truth = specify(TRUE_SEM)
    values = truth.partable["ustart"].to_numpy(dtype=float)
    from bayes_bmi.lavaan.representation import fill_matrices, implied_moments

    sigma, _ = implied_moments(fill_matrices(truth.representation, values))
    mu = np.linspace(2.0, 4.0, sigma.shape[0])
    y = rng.multivariate_normal(mu, sigma, size=632)
    data = pd.DataFrame(y, columns=list(truth.ov_names))
    model = read_model_text(FIT_SEM)
    res = fit_bayes(
        model, data, config=SamplerConfig(draws=500, tune=500, chains=2, seed=4, progress=False)
    )
    true_rows = {
        (lhs, op, rhs): v
        for lhs, op, rhs, v in zip(
            truth.partable["lhs"], truth.partable["op"], truth.partable["rhs"], values, strict=True
        )
    }
    s = res.summary
    s = s[s["op"] != "~1"]
    inside = []
    for _, r in s.iterrows():
        t = true_rows[(r["lhs"], r["op"], r["rhs"])]
        inside.append(r["hdi_lower"] <= t <= r["hdi_upper"])
    assert len(inside) == 26
    assert np.mean(inside) >= 0.9, s.assign(inside=inside)
    assert res.diagnostics["divergences"] == 0


def read_model_text(text):
    return specify(text)


def test_pymc_sampler_option():
    data = pd.read_csv(DATA / "PoliticalDemocracy.csv")
    model = specify("ind60 =~ x1 + x2 + x3")
    res = fit_bayes(
        model,
        data,
        config=SamplerConfig(draws=200, tune=300, chains=2, seed=1, sampler="pymc", progress=False),
    )
    ml = fit_ml(model, data)
    lam = res.summary.set_index(["lhs", "op", "rhs"]).loc[("ind60", "=~", "x2")]
    ml_lam = ml.estimates.set_index(["lhs", "op", "rhs"]).loc[("ind60", "=~", "x2"), "est"]
    assert abs(lam["median"] - ml_lam) < 0.5 * lam["sd"] + 0.05
    assert res.diagnostics["sampler"] == "pymc"


def test_factor_scores_track_ml_regression_scores():
    """Posterior draws of the latent scores: their means follow lavaan-style regression scores."""
    data = pd.read_csv(DATA / "HolzingerSwineford1939.csv")
    model = read_model(MODELS / "hs_cfa.lav")
    res = fit_bayes(
        model,
        data,
        config=SamplerConfig(draws=100, tune=300, chains=2, seed=5, progress=False),
        factor_scores=True,
    )
    fs = res.idata["posterior"]["factor_scores"]
    assert fs.shape == (2, 100, 301, 3)
    mean_scores = fs.mean(("chain", "draw")).values
    # regression (Thomson) scores at the ML estimates
    from bayes_bmi.lavaan.representation import fill_matrices, implied_moments

    ml = res.ml
    mats = fill_matrices(res.model.representation, ml.values)
    sigma, mu = implied_moments(mats)
    y = data[list(res.model.ov_names)].to_numpy()
    c = mats.eta_cov() @ mats.lambda_.T
    ref = (y - mu) @ np.linalg.solve(sigma, c.T)
    for k in range(3):
        assert np.corrcoef(mean_scores[:, k], ref[:, k])[0, 1] > 0.98
