"""The Bayesian fit with missing cells: the likelihood summed over missingness patterns.

Checked against full-information ML (which matches lavaan: ``test_ml_fiml.py``), against a
known simulated truth under MAR (where listwise deletion is biased), and on the bfi
questionnaire's real missing answers against lavaan's FIML estimates.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_bmi as bb
from bayes_bmi.bayes.sampling import CompileCache
from bayes_bmi.errors import OptionError
from bayes_bmi.simulate.missing import make_mar, make_mcar

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
MISSING = DATA / "missing"
HS = """
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
"""
FEW = {"draws": 300, "tune": 300, "chains": 2, "progress": False}


@pytest.fixture(scope="module")
def cache() -> CompileCache:
    return CompileCache()


@pytest.fixture(scope="module")
def hs_fit(cache):
    return bb.sem(HS, MISSING / "HolzingerSwineford1939_mcar10.csv", seed=5, cache=cache, **FEW)


def _recovery_script():
    spec = importlib.util.spec_from_file_location("recovery", ROOT / "scripts/recovery_missing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- simulated missingness
def test_make_mcar_and_make_mar_blank_the_share_asked_for():
    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.normal(size=(20_000, 4)), columns=list("abcd"))
    mcar = make_mcar(data, ["b", "c"], 0.2, seed=1)
    assert mcar["a"].notna().all() and mcar["d"].notna().all()
    assert mcar[["b", "c"]].isna().to_numpy().mean() == pytest.approx(0.2, abs=0.01)
    mar = make_mar(data, ["b", "c", "d"], "a", 0.3, seed=1, strength=2.0)
    assert mar["a"].notna().all()
    gone = mar[["b", "c", "d"]].isna()
    assert gone.to_numpy().mean() == pytest.approx(0.3, abs=0.01)
    # missing at random: the chance of a blank rises with the observed cause
    high = data["a"] > data["a"].median()
    assert gone[high].to_numpy().mean() > 2 * gone[~high].to_numpy().mean()
    assert data.notna().all().all()  # the input is not changed
    pd.testing.assert_frame_equal(
        mar, make_mar(data, ["b", "c", "d"], "a", 0.3, seed=1, strength=2.0)
    )
    with pytest.raises(ValueError, match="must stay observed"):
        make_mar(data, ["a", "b"], "a", 0.1, seed=1)
    with pytest.raises(ValueError, match="rate"):
        make_mcar(data, ["a"], 1.0, seed=1)


# ---------------------------------------------------------------- the fit
def test_fiml_is_the_default_with_missing_cells_and_uses_every_case(hs_fit):
    data = pd.read_csv(MISSING / "HolzingerSwineford1939_mcar10.csv")
    assert hs_fit.missing == "fiml"
    assert hs_fit.nobs == len(data)  # no case has every item missing
    assert hs_fit.ml.missing == "fiml"
    d = hs_fit.diagnostics
    assert d["missing"] == "fiml"
    assert d["n_patterns"] == hs_fit.result.patterns.npatterns > 10
    assert d["n_missing_cells"] == int(data[[f"x{i}" for i in range(1, 10)]].isna().sum().sum())
    y = hs_fit.idata["observed_data"]["y"].values
    assert y.shape == (len(data), 9)
    assert np.isnan(y).sum() == d["n_missing_cells"]


def test_posterior_medians_are_close_to_the_fiml_ml_estimates(hs_fit):
    """n = 301 and vague priors: posterior medians within 0.5 posterior SD of the ML optimum."""
    s = hs_fit.summary()
    ml = hs_fit.ml.estimates().set_index(["lhs", "op", "rhs"])["est"]
    est = np.array([ml[k] for k in zip(s["lhs"], s["op"], s["rhs"], strict=True)])
    dev = np.abs(s["median"].to_numpy() - est) / s["sd"].to_numpy()
    assert np.max(dev) < 0.5, s.assign(dev=dev).sort_values("dev").tail(3)


def test_casewise_loglik_uses_each_cases_observed_cells(hs_fit):
    """The casewise log-likelihoods of a draw sum to the FIML log-likelihood of that draw."""
    from bayes_bmi.bayes.posterior import implied_draws
    from bayes_bmi.ml.fiml import fiml_loglik

    ll = hs_fit.idata["log_likelihood"]["y"].isel(chain=0, draw=slice(0, 3)).values
    rows = hs_fit.result.draw_rows()[0, :3]
    sigma, mu = implied_draws(hs_fit.result.model.representation, rows)
    for j in range(3):
        assert ll[j].sum() == pytest.approx(fiml_loglik(hs_fit.result.patterns, sigma[j], mu[j]))
    assert np.isfinite(ll).all()


def test_listwise_when_asked_and_pymc_refuses_fiml(cache):
    path = MISSING / "HolzingerSwineford1939_mcar10.csv"
    fit = bb.sem(HS, path, missing="listwise", seed=1, cache=cache, **FEW)
    data = pd.read_csv(path)
    assert fit.missing == "listwise"
    assert fit.nobs == len(data[[f"x{i}" for i in range(1, 10)]].dropna())
    assert not np.isnan(fit.idata["observed_data"]["y"].values).any()
    with pytest.raises(OptionError, match="PyMC sampler"):
        bb.sem(HS, path, missing="fiml", sampler="pymc", **FEW)


def test_complete_data_give_the_same_posterior_either_way(cache):
    """With no missing cell, FIML is the complete-data likelihood (equal to 1e-10 at any point:
    ``test_kernel_fiml.py``); the chains differ (other start scales), the posteriors do not:
    medians within 0.4 posterior SD (Monte Carlo error of each median about 0.07 SD)."""
    path = DATA / "HolzingerSwineford1939.csv"
    a = bb.sem(HS, path, missing="fiml", seed=3, cache=cache, **FEW).summary()
    b = bb.sem(HS, path, missing="listwise", seed=3, cache=cache, **FEW).summary()
    assert list(a["rhs"]) == list(b["rhs"])
    dev = np.abs(a["median"] - b["median"]) / b["sd"]
    assert dev.max() < 0.4


def test_factor_scores_condition_on_observed_cells(cache):
    fit = bb.sem(
        HS,
        MISSING / "HolzingerSwineford1939_mcar10.csv",
        factor_scores=True,
        seed=2,
        cache=cache,
        draws=50,
        tune=200,
        chains=1,
        progress=False,
    )
    fs = fit.idata["posterior"]["factor_scores"].values
    assert fs.shape[2] == fit.nobs and np.isfinite(fs).all()


# ---------------------------------------------------------------- done-when checks (slow)
@pytest.mark.slow
def test_mar_recovery_fiml_covers_where_listwise_misses(cache):
    """n = 632, 15% of cells missing at random (on an observed item), three seeded data sets.

    FIML puts >= 90% of the free parameters (39 per data set, pooled) in their 95% HDI: with
    correct intervals the pooled share is about 95% +- 2%, while a single data set's share
    scatters (about 1 in 6 falls below 90% by chance). Listwise deletion, which keeps the
    cases with low values of the cause, covers at least 20 points less and misses most
    intercepts. ``scripts/recovery_missing.py`` repeats this over 20 data sets.
    """
    rec = _recovery_script()
    fiml, listwise = [], []
    for seed in (2026, 2027, 2028):
        data = rec.simulate(seed)
        assert data[rec.ITEMS].isna().to_numpy().mean() == pytest.approx(0.15, abs=0.01)
        # 2 x 1000 draws: HDIs of a few hundred effective draws, a third of the CLI default
        fiml.append(rec.recovery(data, "fiml", seed, cache, draws=1000, tune=500, chains=2))
        listwise.append(rec.recovery(data, "listwise", seed, cache, draws=1000, tune=500, chains=2))
    fiml, listwise = pd.concat(fiml), pd.concat(listwise)
    assert fiml["converged"].all()
    assert fiml["covered"].mean() >= 0.90
    assert listwise["covered"].mean() <= fiml["covered"].mean() - 0.2
    means = listwise["op"] == "~1"
    assert listwise.loc[means, "covered"].mean() < 0.5


@pytest.mark.slow
def test_bfi_five_factors_match_lavaan_fiml(cache):
    """bfi (2,800 people, 87 patterns): converged, loadings within 0.1 posterior SD of lavaan.

    The loadings are compared in the ``std_lv`` parameterisation (lavaan's ``std.lv``
    column of the same fit): under the marker parameterisation the loadings of A, scaled by
    the weak marker A1, have a skewed posterior whose median lies up to 0.23 SD from the
    mode (the ML estimate), on complete data as well.
    """
    fit = bb.sem(
        ROOT / "models/bfi_cfa.lav",
        ROOT / "data/bfi.csv",
        std_lv=True,
        seed=11,
        cache=cache,
        progress=False,
    )
    d = fit.diagnostics
    assert fit.missing == "fiml" and d["n_patterns"] == 87 and fit.nobs == 2800
    assert d["max_r_hat"] <= 1.01 and d["min_ess_bulk"] >= 400 and d["divergences"] == 0
    ref = pd.read_csv(MISSING / "bfi_cfa_fiml_params.csv")
    ref = ref[ref["op"] == "=~"].set_index(["lhs", "rhs"])["std.lv"]
    s = fit.summary()
    s = s[s["op"] == "=~"]
    want = np.array([ref[k] for k in zip(s["lhs"], s["rhs"], strict=True)])
    dev = np.abs(s["median"].to_numpy() - want) / s["sd"].to_numpy()
    assert len(dev) == 25 and dev.max() < 0.1, s.assign(dev=dev).sort_values("dev").tail(3)
