"""Marginal casewise log-likelihood of ordinal models: integrals, LOO, `compare --ordinal`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from typer.testing import CliRunner

from bayes_bmi.bayes.ordinal import OrdinalData, theta_model
from bayes_bmi.bayes.ordinal_loglik import (
    OrdinalCasewiseLoglik,
    ordinal_casewise_loglik,
    quadrature,
)
from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig, bayesian_model
from bayes_bmi.lavaan.model import specify
from bayes_bmi.lavaan.representation import fill_matrices, implied_moments

ORD = Path(__file__).parent / "data" / "ordinal"
MODELS = Path(__file__).parents[1] / "models"
ONE = "g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9\n"


def _model(text: str, values: dict[tuple[str, str, str], float]):
    """The theta-parameterised model and its rows with ``values`` set (others as fixed)."""
    sp = specify(text)
    m = theta_model(bayesian_model(sp), list(sp.ov_names))
    pt = m.partable
    rows = np.nan_to_num(pt["ustart"].to_numpy(dtype=float))
    for (lhs, op, rhs), v in values.items():
        rows[((pt["lhs"] == lhs) & (pt["op"] == op) & (pt["rhs"] == rhs)).to_numpy()] = v
    return m, rows


def _simulate(m, rows, thresholds, n, seed, missing=0.0):
    rng = np.random.default_rng(seed)
    sigma, mu = implied_moments(fill_matrices(m.representation, rows))
    y = rng.multivariate_normal(mu, sigma, size=n)
    codes = np.stack([np.searchsorted(t, y[:, j]) for j, t in enumerate(thresholds)], axis=1)
    codes[rng.random(codes.shape) < missing] = -1
    codes[codes.min(axis=1) < 0, 0] = 0  # every case keeps an observed item
    cats = tuple(np.arange(t.size + 1) for t in thresholds)
    return OrdinalData(tuple(m.ov_names), cats, codes.astype(np.int64), np.arange(n)), sigma, mu


def _box(code: np.ndarray, thresholds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    obs = np.flatnonzero(code >= 0)
    lo = np.array([-np.inf if code[j] == 0 else thresholds[j][code[j] - 1] for j in obs])
    hi = np.array(
        [np.inf if code[j] == thresholds[j].size else thresholds[j][code[j]] for j in obs]
    )
    return obs, lo, hi


def _mvn_rectangles(odata, sigma, mu, thresholds, eps=1e-10) -> np.ndarray:
    """log P(lo < y* <= hi) by scipy (Genz's method), observed items only."""
    out = []
    for code in odata.codes:
        obs, lo, hi = _box(code, thresholds)
        mvn = stats.multivariate_normal(
            mu[obs], sigma[np.ix_(obs, obs)], abseps=eps, releps=eps, maxpts=10**7
        )
        out.append(np.log(mvn.cdf(hi, lower_limit=lo)))
    return np.array(out)


THR_ONE = [np.array([-1.0, 0.0, 1.2]), np.array([-0.5, 0.5]), np.array([-2.0, -1.0, 0.3, 1.5]),
           np.array([0.2])]  # fmt: skip
ONE_VALUES = {("f", "=~", "x2"): 0.8, ("f", "=~", "x3"): 1.5, ("f", "=~", "x4"): -0.5,
              ("f", "~~", "f"): 1.3, ("f", "~1", ""): 0.4}  # fmt: skip


def test_one_factor_equals_adaptive_1d_quadrature():
    m, rows = _model("f =~ x1 + x2 + x3 + x4", ONE_VALUES)
    odata, _, _ = _simulate(m, rows, THR_ONE, 60, 1, missing=0.15)
    tau = np.concatenate(THR_ONE)
    got = ordinal_casewise_loglik(m.representation, rows[None], tau[None], odata)[0]
    lam = np.array([1.0, 0.8, 1.5, -0.5])

    def integrand(eta, code):
        val = stats.norm.pdf(eta, 0.4, np.sqrt(1.3))
        obs, lo, hi = _box(code, THR_ONE)
        x = lam[obs] * eta
        return val * np.prod(stats.norm.cdf(hi - x) - stats.norm.cdf(lo - x))

    want = [
        np.log(integrate.quad(integrand, -np.inf, np.inf, args=(c,), epsabs=0, epsrel=1e-12)[0])
        for c in odata.codes
    ]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert np.all((odata.codes < 0).sum(axis=1) < 4)


@pytest.mark.slow
def test_two_factors_equal_multivariate_normal_rectangles():
    """Against scipy's Genz integration of the latent responses' box (log scale, 1e-5).

    Two correlated factors and a cross-loading. scipy's error bound is 1e-10 here (at its
    default 1e-5, or at 1e-7, the two differ by up to 5e-5, scipy's error; with 1e-10 they
    agree within 3e-6), which costs scipy ~10 s per case: 3 cases (one factor is checked
    against 1-D quadrature above, to 1e-6).
    """
    text = "f =~ x1 + x2 + x3\ng =~ x4 + x5 + x6 + x3"  # x3 loads on both factors
    values = {("f", "=~", "x2"): 0.8, ("f", "=~", "x3"): 1.5, ("g", "=~", "x5"): 0.5,
              ("g", "=~", "x6"): 1.1, ("g", "=~", "x3"): -0.4, ("f", "~~", "f"): 1.3,
              ("g", "~~", "g"): 0.7, ("f", "~~", "g"): 0.5, ("g", "~1", ""): 0.3}  # fmt: skip
    thr = [*THR_ONE[:3], np.array([0.2]), np.array([-0.3, 0.9]), np.array([-1.0, 0.0, 1.0])]
    m2, rows2 = _model(text, values)
    odata2, sigma2, mu2 = _simulate(m2, rows2, thr, 3, 3, missing=0.1)
    tau2 = np.concatenate(thr)[None]
    got2 = ordinal_casewise_loglik(m2.representation, rows2[None], tau2, odata2)
    np.testing.assert_allclose(got2[0], _mvn_rectangles(odata2, sigma2, mu2, thr), atol=1e-5)


def test_many_factors_by_quasi_monte_carlo():
    """Four factors (quasi-Monte Carlo): close to scipy's rectangles and to 16k points."""
    text = "\n".join(f"f{k} =~ x{3 * k + 1} + x{3 * k + 2} + x{3 * k + 3}" for k in range(4))
    values = {(f"f{k}", "~~", f"f{k}"): 1.0 + 0.2 * k for k in range(4)}
    values.update({(f"f{k}", "~~", f"f{k + 1}"): 0.4 for k in range(3)})
    values.update({(f"f{k}", "=~", f"x{3 * k + 2}"): 0.7 for k in range(4)})
    m, rows = _model(text, values)
    thr = [np.array([-1.0, 0.0, 1.0])] * 12
    odata, sigma, mu = _simulate(m, rows, thr, 15, 4)
    tau = np.concatenate(thr)[None]
    rep = m.representation
    got = ordinal_casewise_loglik(rep, rows[None], tau, odata)[0]
    fine = ordinal_casewise_loglik(rep, rows[None], tau, odata, rule=quadrature(4, 2**14, sets=1))
    want = _mvn_rectangles(odata, sigma, mu, thr, eps=1e-5)
    np.testing.assert_allclose(fine[0], want, atol=2e-3)
    np.testing.assert_allclose(got, want, atol=3e-2)
    assert abs(np.mean(got - want)) < 1e-2


def test_draws_cases_and_the_lazy_array():
    m, rows = _model("f =~ x1 + x2 + x3 + x4", ONE_VALUES)
    odata, _, _ = _simulate(m, rows, THR_ONE, 12, 5)
    tau = np.concatenate(THR_ONE)
    rows3 = np.stack([rows] * 3)
    rows3[1, 1] = 0.3  # another loading in the second draw
    rows3 = np.stack([rows3, rows3])  # (chain, draw, nrow)
    tau3 = np.broadcast_to(tau, (2, 3, tau.size))
    full = ordinal_casewise_loglik(m.representation, rows3, tau3, odata)
    assert full.shape == (2, 3, 12)
    assert not np.allclose(full[:, 0], full[:, 1])
    part = ordinal_casewise_loglik(m.representation, rows3, tau3, odata, cases=slice(3, 7))
    np.testing.assert_allclose(part, full[..., 3:7])
    lazy = OrdinalCasewiseLoglik(m.representation, rows3, tau3, odata)
    import xarray as xr
    from xarray.core import indexing

    var = xr.Variable(("chain", "draw", "case"), indexing.LazilyIndexedArray(lazy))
    np.testing.assert_allclose(var[1, 2, 4].values, full[1, 2, 4])
    np.testing.assert_allclose(var[:, ::2].values, full[:, ::2])
    assert lazy._full is None
    np.testing.assert_allclose(var.values, full)
    assert lazy._full is not None  # a whole read is kept


@pytest.fixture(scope="module")
def hs_fits():
    from bayes_bmi.bayes.ordinal_sampling import fit_bayes_ordinal

    data = pd.read_csv(ORD / "HolzingerSwineford1939_ordinal5.csv")
    cache = CompileCache()
    config = SamplerConfig(draws=250, tune=300, chains=2, seed=11, progress=False)
    three = fit_bayes_ordinal(specify((MODELS / "hs_cfa.lav").read_text()), data,
                              config=config, cache=cache)  # fmt: skip
    one = fit_bayes_ordinal(specify(ONE), data, config=config, cache=cache)
    return data, {"three": three, "one": one}


@pytest.mark.slow
def test_loo_prefers_three_factors_on_ordinal_hs(hs_fits):
    import arviz as az

    from bayes_bmi.checking.compare import compare_ordinal_models

    data, fits = hs_fits
    ll = fits["three"].idata["log_likelihood"]["y"]
    assert ll.shape == (2, 250, fits["three"].ordinal.n)
    loo = az.loo(fits["three"].idata, pointwise=True)  # arviz reads the group directly
    assert np.isfinite(float(loo.elpd))
    comp = compare_ordinal_models(
        {"three": fits["three"].model, "one": fits["one"].model}, data, fitted=fits, ppp_draws=50
    )
    t = comp.table
    assert list(t["model"]) == ["three", "one"]
    assert t.loc[1, "elpd_diff"] < -4.0 * t.loc[1, "se_diff"]
    for name in ("three", "one"):
        k = np.asarray(comp.checks[name].loo.pareto_k.values)
        assert np.mean(k < 0.7) > 0.95
        assert comp.checks[name].criteria["loo_draws"] == 500
    assert t.set_index("model").loc["three", "ppp"] > t.set_index("model").loc["one", "ppp"]
    assert t["missing"].eq("observed cells").all() and t["bcfi"].isna().all()
    assert set(comp.ordinal) == {"three", "one"}


@pytest.mark.slow
def test_cli_compare_ordinal(tmp_path):
    from bayes_bmi.cli.main import app

    one = tmp_path / "one.lav"
    one.write_text(ONE)
    out = tmp_path / "out"
    args = ["compare", str(MODELS / "hs_cfa.lav"), str(one), "--data",
            str(ORD / "HolzingerSwineford1939_ordinal5.csv"), "--out", str(out), "--ordinal",
            "all", "--draws", "60", "--tune", "100", "--chains", "2"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "comparison.csv")
    assert list(table["model"]) == ["hs_cfa", "one"]
    pairs = pd.read_csv(out / "item_pairs.csv")
    assert set(pairs["model"]) == {"hs_cfa", "one"} and len(pairs) == 72
    summary = json.loads((out / "comparison_summary.json").read_text())
    assert summary["ordinal"] == "all"
    assert summary["per_model"]["hs_cfa"]["criteria"]["loo_draws"] == 120
    assert "PPP" in res.output
