"""Model checking: discrepancy, PPP, fit indices, WAIC and residuals against hand computation.

Everything but the last test works on fixed or fake draws (no sampling). The last one fits
Political Democracy by NUTS and checks the PPP against blavaan's (0.508).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from numpy.testing import assert_allclose
from scipy import stats

from bayes_bmi.bayes.posterior import hdi
from bayes_bmi.checking.ppc import (
    PPPCheck,
    bayes_fit_indices,
    check_model,
    correlation,
    exogenous_indices,
    lr_chisq,
    ppp_value,
    replicate_moments,
    residual_table,
    resolve_means,
    saturated_means,
    summarise_indices,
    waic,
)
from bayes_bmi.lavaan.model import read_model, specify
from bayes_bmi.ml.fitmeasures import loglik, ml_discrepancy
from bayes_bmi.plots.checking import plot_ppp, plot_residual_correlations

ROOT = Path(__file__).resolve().parents[1]
REF = Path(__file__).resolve().parent / "data" / "checking"


def random_spd(rng: np.random.Generator, p: int, size: int | None = None) -> np.ndarray:
    shape = (p, p) if size is None else (size, p, p)
    a = rng.normal(size=shape)
    return a @ np.swapaxes(a, -1, -2) / p + np.eye(p)


# --------------------------------------------------------------------------- discrepancy


def test_lr_chisq_matches_ml_discrepancy_per_draw() -> None:
    rng = np.random.default_rng(1)
    p, n = 5, 120
    s = random_spd(rng, p)
    ybar = rng.normal(size=p)
    sigma = random_spd(rng, p, size=7).reshape(7, p, p)
    mu = rng.normal(size=(7, p))
    got = lr_chisq(n, s, ybar, sigma, mu)
    want = [n * ml_discrepancy(s, ybar, sigma[k], mu[k], True) for k in range(7)]
    assert_allclose(got, want, rtol=1e-10)
    # saturated means: the covariance part only
    got_cov = lr_chisq(n, s, None, sigma)
    want_cov = [n * ml_discrepancy(s, ybar, sigma[k], ybar, False) for k in range(7)]
    assert_allclose(got_cov, want_cov, rtol=1e-10)
    # leading (chain, draw) axes are kept; a non-positive-definite sigma gives inf
    bad = sigma.copy()
    bad[3] = -np.eye(p)
    out = lr_chisq(n, s, ybar, bad.reshape(1, 7, p, p), mu.reshape(1, 7, p))
    assert out.shape == (1, 7)
    assert np.isinf(out[0, 3]) and np.isfinite(np.delete(out[0], 3)).all()


def test_lr_chisq_is_minus_twice_the_log_likelihood_ratio() -> None:
    rng = np.random.default_rng(2)
    p, n = 4, 60
    y = rng.normal(size=(n, p)) @ np.linalg.cholesky(random_spd(rng, p)).T + 1.5
    ybar = y.mean(axis=0)
    s = (y - ybar).T @ (y - ybar) / n
    sigma, mu = random_spd(rng, p), rng.normal(size=p)
    ll_model = stats.multivariate_normal(mu, sigma).logpdf(y).sum()
    ll_sat = stats.multivariate_normal(ybar, s).logpdf(y).sum()
    assert_allclose(lr_chisq(n, s, ybar, sigma, mu), -2 * (ll_model - ll_sat), rtol=1e-10)
    assert_allclose(loglik(n, s, ybar, sigma, mu), ll_model, rtol=1e-10)


def test_replicated_discrepancy_under_the_true_model_is_chi_square() -> None:
    # with theta fixed at the truth, T(y_rep; theta) is asymptotically chi-square with p* df
    rng = np.random.default_rng(3)
    p, n, draws = 4, 400, 3000
    sigma = np.broadcast_to(random_spd(rng, p), (draws, p, p))
    mu = np.broadcast_to(rng.normal(size=p), (draws, p))
    cov_rep, mean_rep = replicate_moments(n, sigma, mu, np.random.default_rng(4))
    t = lr_chisq(n, cov_rep, mean_rep, sigma, mu)
    pstar = p * (p + 1) // 2 + p
    assert abs(t.mean() - pstar) < 4 * math.sqrt(2 * pstar / draws) + 0.15
    assert abs(t.var() / (2 * pstar) - 1) < 0.15
    # E[S_rep] = (n - 1) / n Sigma
    assert_allclose(cov_rep.mean(axis=0), sigma[0] * (n - 1) / n, atol=0.03)
    # the same seed gives the same replications
    again, _ = replicate_moments(n, sigma[:5], mu[:5], np.random.default_rng(4))
    assert_allclose(again, cov_rep[:5])


def test_replication_keeps_fixed_covariates() -> None:
    rng = np.random.default_rng(5)
    p, n, draws = 4, 50, 400
    sigma = np.broadcast_to(random_spd(rng, p), (draws, p, p))
    mu = np.broadcast_to(rng.normal(size=p), (draws, p))
    x_idx = np.array([1, 3])
    x = rng.normal(size=(n, 2))
    cov_rep, mean_rep = replicate_moments(n, sigma, mu, rng, x_idx=x_idx, x_data=x)
    sxx = np.cov(x.T, bias=True)
    assert_allclose(cov_rep[:, 1:4:2, 1:4:2], np.broadcast_to(sxx, (draws, 2, 2)), atol=1e-12)
    assert_allclose(mean_rep[:, x_idx], np.broadcast_to(x.mean(0), (draws, 2)), atol=1e-12)
    # the regression of y on x is the implied one: Cov(y, x) S_xx^-1 = Sigma_yx Sigma_xx^-1
    s = sigma[0]
    gain = s[np.ix_([0, 2], x_idx)] @ np.linalg.inv(s[np.ix_(x_idx, x_idx)])
    est = cov_rep[:, [0, 2]][:, :, x_idx].mean(0) @ np.linalg.inv(sxx)
    assert_allclose(est, gain, atol=0.05)


def test_ppp_value() -> None:
    t_obs = np.array([[10.0, 20.0, 30.0, np.inf]])
    t_rep = np.array([[15.0, 20.0, 25.0, 50.0]])
    assert ppp_value(t_obs, t_rep) == pytest.approx(2 / 3)  # ties count, inf is left out
    assert math.isnan(ppp_value(np.array([np.nan]), np.array([1.0])))


# --------------------------------------------------------------------------- fit indices


def test_fit_indices_by_hand() -> None:
    chisq = np.array([[120.0, 80.0, 40.0]])
    null = np.array([[900.0, 950.0, 1000.0]])
    p, pstar, n, p_d, p_d0 = 9, 45, 301, 24.0, 9.5
    got = bayes_fit_indices(chisq, p_d, pstar, p, n, null, p_d0)
    df, df0 = pstar - p_d, pstar - p_d0
    for k, t in enumerate(chisq[0]):
        t0 = null[0, k]
        nonc = max(t - pstar, 0.0)
        gamma = p / (p + 2 * nonc / n)
        want = {
            "BRMSEA": math.sqrt(nonc / (df * n)),
            "BGammaHat": gamma,
            "adjBGammaHat": 1 - (pstar / df) * (1 - gamma),
            "BMc": math.exp(-nonc / (2 * n)),
            "BCFI": 1 - nonc / (t0 - pstar),
            "BTLI": ((t0 - p_d0) / df0 - (t - p_d) / df) / ((t0 - p_d0) / df0 - 1),
            "BNFI": ((t0 - p_d0) - (t - p_d)) / (t0 - p_d0),
        }
        for name, value in want.items():
            assert got[name].shape == (1, 3)
            assert got[name][0, k] == pytest.approx(value, rel=1e-12), name
    # the third draw fits better than the saturated model: noncentrality 0, perfect fit
    assert got["BRMSEA"][0, 2] == 0.0 and got["BGammaHat"][0, 2] == 1.0
    assert got["BCFI"][0, 2] == 1.0


def test_fit_indices_edge_cases() -> None:
    chisq = np.array([50.0, 60.0])
    out = bayes_fit_indices(chisq, p_d=50.0, n_moments=45, nvar=9, n=100)
    assert set(out) == {"BRMSEA", "BGammaHat", "adjBGammaHat", "BMc"}
    assert np.isnan(out["BRMSEA"]).all() and np.isnan(out["adjBGammaHat"]).all()
    with pytest.raises(ValueError, match="same chains and draws"):
        bayes_fit_indices(chisq, 20.0, 45, 9, 100, np.ones(3), 9.0)
    with pytest.raises(ValueError, match="p_d_null"):
        bayes_fit_indices(chisq, 20.0, 45, 9, 100, np.ones(2))


def test_summarise_indices() -> None:
    rng = np.random.default_rng(6)
    x = rng.gamma(3.0, size=(4, 500))
    out = summarise_indices({"A": x, "B": np.full(3, np.nan)}, ci_prob=0.9)
    assert list(out.columns) == ["index", "mean", "median", "sd", "lower", "upper", "ci_prob"]
    row = out.iloc[0]
    assert row["mean"] == pytest.approx(x.mean())
    assert row["median"] == pytest.approx(np.median(x))
    assert row["sd"] == pytest.approx(x.std(ddof=1))
    assert (row["lower"], row["upper"]) == pytest.approx(hdi(x, 0.9))
    assert out.iloc[1, 1:6].isna().all()


# --------------------------------------------------------------------------- WAIC


def test_waic_by_hand() -> None:
    rng = np.random.default_rng(7)
    ll = rng.normal(-1.0, 0.3, size=(2, 50, 6))  # chain, draw, case
    flat = ll.reshape(100, 6)
    lppd, pw, elpd_i = 0.0, 0.0, []
    for i in range(6):
        col = flat[:, i]
        li = math.log(sum(math.exp(v) for v in col) / len(col))
        vi = sum((v - col.mean()) ** 2 for v in col) / (len(col) - 1)
        lppd += li
        pw += vi
        elpd_i.append(li - vi)
    elpd_i = np.array(elpd_i)
    se = math.sqrt(6 * elpd_i.var(ddof=1))
    got = waic(ll)
    assert got["lppd"] == pytest.approx(lppd, rel=1e-12)
    assert got["p_waic"] == pytest.approx(pw, rel=1e-12)
    assert got["elpd_waic"] == pytest.approx(lppd - pw, rel=1e-12)
    assert got["waic"] == pytest.approx(-2 * (lppd - pw), rel=1e-12)
    assert got["se_elpd_waic"] == pytest.approx(se, rel=1e-12)
    assert got["se_waic"] == pytest.approx(2 * se, rel=1e-12)
    assert got["n_p_waic_high"] == 0


# --------------------------------------------------------------------------- residuals


def test_residual_table_by_hand() -> None:
    names = ["a", "b", "c"]
    obs = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.1], [0.2, 0.1, 1.0]])
    implied = np.broadcast_to(np.eye(3), (2, 200, 3, 3)).copy()
    implied[..., 1, 0] = implied[..., 0, 1] = np.linspace(0.3, 0.5, 400).reshape(2, 200)
    implied[..., 2, 0] = implied[..., 0, 2] = 0.2
    implied[..., 2, 1] = implied[..., 1, 2] = 0.05
    rep = implied.copy()
    rep[..., 1, 0] += 0.01  # replicated residual never as large as the observed one
    tab = residual_table(names, obs, implied, rep, ci_prob=0.95)
    assert list(tab[["var1", "var2"]].itertuples(index=False, name=None)) == [
        ("a", "b"),
        ("b", "c"),
        ("a", "c"),
    ]
    ab = tab.iloc[0]
    assert ab["residual"] == pytest.approx(0.1)
    assert ab["implied"] == pytest.approx(0.4)
    assert ab["lower"] == pytest.approx(np.quantile(0.5 - np.linspace(0.3, 0.5, 400), 0.025))
    assert ab["excludes_zero"]
    assert ab["ppp"] == pytest.approx(np.mean(0.01 >= np.abs(0.5 - np.linspace(0.3, 0.5, 400))))
    assert tab.iloc[2]["residual"] == pytest.approx(0.0) and not tab.iloc[2]["excludes_zero"]
    assert tab.iloc[2]["ppp"] == 1.0


def test_correlation() -> None:
    cov = np.array([[4.0, 2.0], [2.0, 9.0]])
    assert_allclose(correlation(cov), [[1.0, 1 / 3], [1 / 3, 1.0]])


# --------------------------------------------------------------------------- means


def test_resolve_means() -> None:
    hs = read_model(ROOT / "models" / "hs_cfa.lav")
    assert saturated_means(hs) and resolve_means(hs) == "saturated"
    assert resolve_means(hs, "model") == "model"
    base = "f =~ x1 + x2 + x3\n"
    user_means = specify(base + "x1 ~ 1\nx2 ~ 1\nx3 ~ 1\n")
    assert saturated_means(user_means) and resolve_means(user_means) == "model"
    equal = specify(base + "x1 ~ a*1\nx2 ~ a*1\nx3 ~ 1\n")
    assert not saturated_means(equal)
    latent_mean = specify(base + "f ~ 1\nx1 ~ 0*1\n")
    assert not saturated_means(latent_mean)
    with pytest.raises(ValueError, match="Must be one of"):
        resolve_means(hs, "both")
    reg = read_model(ROOT / "models" / "poldem_sem.lav")
    assert exogenous_indices(reg).size == 0
    assert resolve_means(reg) == "saturated"


# --------------------------------------------------------------------------- figures


def test_figures() -> None:
    rng = np.random.default_rng(8)
    t_obs = rng.normal(100, 5, size=(2, 100))
    t_rep = rng.normal(60, 10, size=(2, 100))
    fig = plot_ppp(PPPCheck(t_obs, t_rep, ppp_value(t_obs, t_rep), 54))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    names = ["a", "b", "c"]
    obs = correlation(random_spd(rng, 3))
    tab = residual_table(names, obs, np.broadcast_to(np.eye(3), (1, 50, 3, 3)))
    fig = plot_residual_correlations(tab, names)
    assert isinstance(fig, Figure) and len(fig.axes) == 2  # heatmap and colour bar


# --------------------------------------------------------------------------- a fitted model


def test_political_democracy_ppp_agrees_with_blavaan(poldem_data: pd.DataFrame) -> None:
    from bayes_bmi.bayes.sampling import SamplerConfig, fit_bayes

    ref = json.loads((REF / "blavaan_poldem_sem_mlstart.json").read_text())["fit_measures"]
    model = read_model(ROOT / "models" / "poldem_sem.lav")
    config = SamplerConfig(draws=1000, tune=1000, chains=4, seed=11, progress=False)
    res = fit_bayes(model, poldem_data, config=config)
    assert res.converged, res.diagnostics["problems"]
    check = check_model(res, seed=3)
    assert check.means == "saturated"
    assert check.ppp.n_moments == 66 and check.ppp.n_invalid == 0
    # blavaan: 0.508 from 3000 draws; the PPP's Monte Carlo SD is below 0.03 with 4000 draws
    assert 0.1 < check.ppp.ppp < 0.6
    assert abs(check.ppp.ppp - ref["ppp"]) < 0.1
    crit = check.criteria
    assert crit["looic"] == pytest.approx(ref["looic"], abs=3.0)
    assert crit["waic"] == pytest.approx(ref["waic"], abs=3.0)
    assert crit["p_loo"] == pytest.approx(ref["p_loo"], abs=1.5)
    assert set(check.indices) == {"BRMSEA", "BGammaHat", "adjBGammaHat", "BMc"}
