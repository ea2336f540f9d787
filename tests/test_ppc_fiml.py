"""Model checking with missing cells: the FIML discrepancy, its PPP and fit indices, compare.

The first block needs no sampling: the batched EM and pattern log-likelihood against
:mod:`bayes_bmi.ml.fiml`'s one-at-a-time versions, the FIML discrepancy at the ML estimate
against the ML (and lavaan's) chi-square, and the FIML path on complete data against the
complete-data path. The second block samples (few draws: the statements tested are far from
their thresholds).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import bayes_bmi as bb
from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig, fit_bayes
from bayes_bmi.checking.compare import compare_models, independence_model
from bayes_bmi.checking.ppc import (
    EM_TOL_REPLICATES,
    FIML_PPP_DRAWS,
    check_model,
    fiml_chisq,
    lr_chisq,
    ppp_draw_index,
    replicate_fiml,
    replicate_moments,
    resolve_means,
)
from bayes_bmi.data import missing_patterns
from bayes_bmi.errors import OptionError
from bayes_bmi.lavaan.model import read_model, specify
from bayes_bmi.lavaan.representation import fill_matrices, implied_moments
from bayes_bmi.ml.fiml import (
    em_saturated,
    em_saturated_batch,
    fiml_loglik,
    pattern_loglik,
    pattern_stats,
)
from bayes_bmi.ml.fit import fit_ml
from bayes_bmi.simulate.normal import simulate_normal

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
MISSING = DATA / "missing"
HS_MODEL = ROOT / "models" / "hs_cfa.lav"
HS_VARS = [f"x{i}" for i in range(1, 10)]
ONE_FACTOR = "g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9\n"
SEM = """
f1 =~ y1 + y2 + y3 + y4
f2 =~ y5 + y6 + y7 + y8
f1 ~ a*x
f2 ~ b*f1 + c*x
ind := a*b
"""
BFI = ROOT / "models" / "bfi_cfa.lav"
QUICK = SamplerConfig(draws=200, tune=200, chains=2, seed=3, progress=False)


@pytest.fixture(scope="module")
def cache() -> CompileCache:
    return CompileCache()


@pytest.fixture(scope="module")
def mcar10() -> pd.DataFrame:
    return pd.read_csv(MISSING / "HolzingerSwineford1939_mcar10.csv")


@pytest.fixture(scope="module")
def bfi_patterns():
    df = pd.read_csv(MISSING / "bfi.csv")
    return missing_patterns(df, list(read_model(BFI).ov_names))


def _ml_moments(ml):
    return implied_moments(fill_matrices(ml.model.representation, ml.values))


def _wishart_draws(rng, cov, mean, n, size):
    """Fake posterior draws of (Sigma, mu) around sample moments (no sampling needed)."""
    p = cov.shape[0]
    chol = np.linalg.cholesky(cov)
    z = rng.standard_normal((size, n, p)) @ chol.T
    sigma = z.transpose(0, 2, 1) @ z / n
    mu = mean + rng.standard_normal((size, p)) @ chol.T / np.sqrt(n)
    return sigma, mu


# ------------------------------------------------------------------------ batched FIML pieces


@pytest.mark.parametrize("which", ["mcar10", "bfi"])
def test_batched_em_and_loglik_match_the_single_versions(which, mcar10, bfi_patterns) -> None:
    pat = missing_patterns(mcar10, HS_VARS) if which == "mcar10" else bfi_patterns
    mu, sigma, it, ok = em_saturated(pat)
    assert ok
    # per-pattern statistics of the values reproduce the patterns' own
    mean, cov = pattern_stats(pat, np.nan_to_num(pat.values)[None])
    assert_allclose(mean[0], pat.mean, atol=1e-12)
    assert_allclose(cov[0], pat.cov, atol=1e-12)
    # the batched EM from the same start takes the same steps
    mu_b, sig_b, it_b, ok_b = em_saturated_batch(pat, mean, cov)
    assert ok_b.all() and it_b[0] == it
    assert_allclose(mu_b[0], mu, atol=1e-10)
    assert_allclose(sig_b[0], sigma, atol=1e-10)
    # pattern_loglik: many moments at once, -inf where Sigma is not positive definite
    bad = -np.eye(pat.p)
    stack = np.stack([sigma, sigma + 0.5 * np.eye(pat.p), bad])
    mus = np.stack([mu, mu + 0.1, mu])
    got = pattern_loglik(pat, stack, mus)
    assert_allclose(got[:2], [fiml_loglik(pat, stack[k], mus[k]) for k in range(2)], rtol=1e-12)
    assert got[2] == -np.inf


def test_warm_started_loose_em_gives_the_same_saturated_loglik(bfi_patterns) -> None:
    """The replicates' EM (warm start, tolerance EM_TOL_REPLICATES) against a cold, tight one.

    The saturated log-likelihood is flat at its maximum, so a change of 1e-6 in the moments
    moves it by far less than 1e-4, while one chi-square draw's Monte Carlo spread is about
    sqrt(2 df) = 23 for the bfi model: the choice cannot move the PPP.
    """
    pat = bfi_patterns
    mu, sigma, _, _ = em_saturated(pat)
    rng = np.random.default_rng(4)
    r = 6
    y = rng.standard_normal((r, pat.n, pat.p)) @ np.linalg.cholesky(sigma).T + mu
    mean, cov = pattern_stats(pat, y)
    start = (np.repeat(mu[None], r, 0), np.repeat(sigma[None], r, 0))
    warm = em_saturated_batch(pat, mean, cov, start=start, tol=EM_TOL_REPLICATES)
    cold = em_saturated_batch(pat, mean, cov, tol=1e-10)
    assert warm[3].all() and cold[3].all()
    assert warm[2].max() < cold[2].min()  # the warm start saves iterations
    l_warm = pattern_loglik(pat, warm[1], warm[0], mean=mean, cov=cov)
    l_cold = pattern_loglik(pat, cold[1], cold[0], mean=mean, cov=cov)
    assert_allclose(l_warm, l_cold, atol=1e-4, rtol=0)


def test_ppp_draw_index() -> None:
    assert_allclose(ppp_draw_index(10, None), np.arange(10))
    assert_allclose(ppp_draw_index(10, 50), np.arange(10))
    idx = ppp_draw_index(4000, 1000)
    assert idx.size == 1000 and idx[0] == 0 and idx[-1] == 3999
    assert np.all(np.diff(idx) > 0)
    # about as many from each of 4 chains of 1000 draws
    assert_allclose(np.bincount(idx // 1000), 250, atol=1)
    with pytest.raises(ValueError, match="positive"):
        ppp_draw_index(10, 0)


# ------------------------------------------------------------------ discrepancy and complete data


@pytest.mark.parametrize(
    ("text", "csv", "reference"),
    [
        (HS_MODEL, "HolzingerSwineford1939_mcar10.csv", "hs_cfa_fiml_mcar10_fit.json"),
        (HS_MODEL, "hs_mar15.csv", "hs_cfa_fiml_mar15_fit.json"),
        (SEM, "sem_mar.csv", "sem_fiml_mar_fit.json"),
    ],
    ids=["hs_mcar10", "hs_mar15", "sem_mar"],
)
def test_fiml_discrepancy_at_the_ml_estimate_is_the_ml_chisq(text, csv, reference) -> None:
    model = read_model(text) if isinstance(text, Path) else specify(text)
    ml = fit_ml(model, pd.read_csv(MISSING / csv), missing="fiml")
    sigma, mu = _ml_moments(ml)
    loglik_h1 = fiml_loglik(ml.patterns, ml.stats.cov, ml.stats.mean)
    got = fiml_chisq(ml.patterns, sigma, mu, loglik_h1)
    assert_allclose(got, ml.fit["chisq"], rtol=1e-10)
    ref = json.loads((MISSING / reference).read_text())
    ref = ref.get("fit_measures", ref)
    assert_allclose(got, ref["chisq"], rtol=1e-4)


def test_fiml_path_on_complete_data_is_the_complete_data_path(hs_data: pd.DataFrame) -> None:
    """One pattern: the FIML discrepancies of observed and replicated data are n F_ML."""
    pat = missing_patterns(hs_data, HS_VARS)
    assert pat.npatterns == 1
    mean, cov = pat.mean[0], pat.cov[0]
    sigma, mu = _wishart_draws(np.random.default_rng(7), cov, mean, pat.n, 40)
    loglik_h1 = fiml_loglik(pat, *em_saturated(pat)[1::-1])
    assert_allclose(
        fiml_chisq(pat, sigma, mu, loglik_h1), lr_chisq(pat.n, cov, mean, sigma, mu), atol=1e-8
    )
    # the same random numbers make the same replicated data sets
    reps = replicate_fiml(pat, sigma, mu, np.random.default_rng(8))
    c_rep, m_rep = replicate_moments(pat.n, sigma, mu, np.random.default_rng(8))
    assert_allclose(reps.t_rep, lr_chisq(pat.n, c_rep, m_rep, sigma, mu), atol=1e-7)
    assert_allclose(reps.cov_h1, c_rep, atol=1e-10)


def test_replicates_keep_the_missingness_and_fixed_covariates() -> None:
    df = pd.read_csv(MISSING / "sem_mar.csv")
    ml = fit_ml(specify(SEM), df, missing="fiml")
    pat = ml.patterns
    sigma, mu = _ml_moments(ml)
    x_idx = np.array([pat.names.index("x")])
    x_data = pat.values[:, x_idx]
    reps = replicate_fiml(
        pat, sigma[None].repeat(3, 0), mu[None].repeat(3, 0), np.random.default_rng(1),
        x_idx=x_idx, x_data=x_data,
    )  # fmt: skip
    assert reps.converged.all() and np.isfinite(reps.t_rep).all()
    # the EM moments of x are those of the observed covariate in every replicate
    assert_allclose(reps.mean_h1[:, x_idx[0]], x_data.mean(), atol=1e-10)
    assert_allclose(reps.cov_h1[:, x_idx[0], x_idx[0]], x_data.var(), atol=1e-8)


def test_means_are_modelled_under_fiml() -> None:
    model = read_model(HS_MODEL)
    assert resolve_means(model, "auto") == "saturated"
    assert resolve_means(model, "auto", fiml=True) == "model"
    assert resolve_means(model, "model", fiml=True) == "model"
    with pytest.raises(OptionError, match="saturated"):
        resolve_means(model, "saturated", fiml=True)


# ----------------------------------------------------------------------------- with sampling


def _mask(df: pd.DataFrame, prob: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    out = df.copy()
    drop = rng.random(df.shape) < prob
    drop[drop.all(axis=1)] = False  # keep every case
    out[drop] = np.nan
    return out


@pytest.fixture(scope="module")
def simulated(hs_data: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """HS-sized data from the three-factor model (HS's ML estimates), MCAR and MAR cells."""
    three = read_model(HS_MODEL)
    sim = simulate_normal(three, fit_ml(three, hs_data).values, 301, seed=41)[HS_VARS]
    rng = np.random.default_rng(42)
    mcar = _mask(sim, np.full(sim.shape, 0.10), rng)
    z1 = (sim["x1"] - sim["x1"].mean()) / sim["x1"].std()
    weight = np.exp(1.5 * z1.to_numpy())[:, None] * np.ones((1, 9))
    weight[:, 0] = 0.0  # x1 complete; the others missing more often when x1 is high
    mar = _mask(sim, 0.15 * weight / weight[:, 1:].mean(), rng)
    return {"complete": sim, "mcar": mcar, "mar": mar}


@pytest.mark.parametrize("kind", ["mcar", "mar"])
def test_ppp_of_a_correct_model_is_not_extreme(kind, simulated, cache) -> None:
    res = fit_bayes(read_model(HS_MODEL), simulated[kind], config=QUICK, cache=cache)
    assert res.missing == "fiml"
    check = check_model(res, seed=5)
    ppp = check.ppp
    assert ppp.missing == "fiml" and ppp.n_moments == 54  # 45 covariances and 9 means
    assert ppp.n_draws == 400 == np.isfinite(ppp.t_rep).sum() and ppp.n_invalid == 0
    assert 0.05 < ppp.ppp < 0.95
    # theta_s is not fitted to y_rep: T(y_rep; theta_s) centres on p* = 54 (chi-square)
    assert 44 < np.nanmean(ppp.t_rep) < 64
    # LOO and WAIC from each case's observed cells
    assert np.isfinite(check.criteria["elpd_loo"]) and np.isfinite(check.criteria["waic"])
    assert 20 < check.criteria["p_loo"] < 45
    assert np.isfinite(check.residuals["ppp"]).all()


def test_ppp_of_a_misspecified_model_is_small(mcar10, cache) -> None:
    res = fit_bayes(specify(ONE_FACTOR), mcar10, config=QUICK, cache=cache)
    check = check_model(res, seed=5, ppp_draws=100)
    assert check.ppp.n_draws == 100
    assert check.ppp.ppp < 0.05
    assert np.nanmean(check.ppp.t_obs) > 200  # lavaan's FIML chi-square: 300 on 27 df


@pytest.mark.slow
def test_fit_indices_with_mcar_cells_are_close_to_the_complete_data_ones(
    hs_data: pd.DataFrame, mcar10: pd.DataFrame, cache: CompileCache
) -> None:
    """HS and its MCAR10 thinning (lavaan: RMSEA .092/.085, CFI .931/.929, TLI .896/.894).

    Tolerance 0.03 on every index: the ML indices move by up to 0.007 between the two data sets
    (10% of the cells are gone), and the df-based indices (BRMSEA, adjBGammaHat, BTLI) also
    carry the Monte Carlo error of pD in ``df = p* - pD`` (about 24): 0.005 with 2,000 draws
    (three seeds: the largest difference was 0.015, adjBGammaHat). A discrepancy that ignored
    the missing cells or took the wrong saturated model misses by more (listwise RMSEA .106).
    The changes of BRMSEA and BCFI follow lavaan's changes of RMSEA and CFI within 0.01.
    """
    three = read_model(HS_MODEL)
    config = SamplerConfig(draws=1000, tune=300, chains=2, seed=3, progress=False)
    means = {}
    for kind, data in (("complete", hs_data[HS_VARS]), ("mcar", mcar10)):
        res = fit_bayes(three, data, config=config, cache=cache, missing="fiml")
        base = fit_bayes(
            independence_model(HS_VARS), data, config=config, cache=cache, missing="fiml"
        )
        means[kind] = check_model(res, base, seed=5, ppp_draws=100).index_means()
    for name in ("BRMSEA", "BGammaHat", "adjBGammaHat", "BMc", "BCFI", "BTLI", "BNFI"):
        assert abs(means["mcar"][name] - means["complete"][name]) < 0.03, name
    complete = json.loads((DATA / "hs_cfa_fit.json").read_text())["fit_measures"]
    mcar = json.loads((MISSING / "hs_cfa_fiml_mcar10_fit.json").read_text())["fit_measures"]
    for ours, theirs in (("BRMSEA", "rmsea"), ("BCFI", "cfi")):
        change = means["mcar"][ours] - means["complete"][ours]
        assert abs(change - (mcar[theirs] - complete[theirs])) < 0.01, ours


def test_baseline_must_share_the_missing_data_method(mcar10, cache) -> None:
    res = fit_bayes(read_model(HS_MODEL), mcar10, config=QUICK, cache=cache)
    base = fit_bayes(
        independence_model(HS_VARS),
        mcar10,
        config=QUICK,
        cache=cache,
        missing="listwise",
    )
    with pytest.raises(ValueError, match="missing-data method"):
        check_model(res, base, ppp_draws=20)


@pytest.mark.slow
def test_compare_with_missing_cells_end_to_end(mcar10, cache) -> None:
    models = {"three": HS_MODEL, "one": ONE_FACTOR}
    comp = bb.comparison(models, mcar10, draws=200, tune=200, chains=2, seed=3, cache=cache)
    assert comp.missing == "fiml" and comp.means == "model"
    assert comp.baseline is not None and comp.baseline.missing == "fiml"
    t = comp.table.set_index("model")
    assert (t["missing"] == "fiml").all()
    assert t.loc["three", "rank"] == 0
    assert t.loc["one", "ppp"] < 0.05  # (HS misfits the three-factor model too: ppp ~ 0)
    assert t.loc["three", "brmsea"] < t.loc["one", "brmsea"]
    assert t.loc["three", "bcfi"] > 0.85 > t.loc["one", "bcfi"]
    # the ML columns are lavaan's FIML fit of the model
    ref = json.loads((MISSING / "hs_cfa_fiml_mcar10_fit.json").read_text())["fit_measures"]
    assert_allclose(t.loc["three", "ml_chisq"], ref["chisq"], rtol=1e-4)
    for check in comp.checks.values():
        assert check.ppp.missing == "fiml"
        assert check.ppp.n_draws == 400  # all of them: fewer than FIML_PPP_DRAWS
    assert FIML_PPP_DRAWS >= 400
    # listwise on request: every fit on the 106 complete cases
    lw = bb.compare(
        {"three": HS_MODEL}, mcar10, missing="listwise", baseline=False, draws=200, tune=200,
        chains=2, seed=3, cache=cache,
    )  # fmt: skip
    assert (lw["missing"] == "listwise").all()


def test_compare_refuses_saturated_means_and_mixed_fits(mcar10, cache) -> None:
    models = {"three": read_model(HS_MODEL)}
    with pytest.raises(OptionError, match="saturated"):
        compare_models(models, mcar10, config=QUICK, cache=cache, means="saturated")
    with pytest.raises(OptionError, match="saturated"):
        bb.compare({"three": HS_MODEL}, mcar10, means="saturated", draws=50, tune=50)


def test_bayes_fit_check_with_missing_cells(mcar10, cache) -> None:
    fit = bb.sem(HS_MODEL, mcar10, draws=200, tune=200, chains=2, seed=3, cache=cache)
    assert fit.missing == "fiml"
    check = fit.check(baseline=True, ppp_draws=50)
    assert check.ppp.n_draws == 50 and check.ppp.missing == "fiml"
    assert np.isfinite(check.index_means()["BCFI"])
    with pytest.raises(OptionError, match="saturated"):
        fit.check(means="saturated")
    with pytest.raises(OptionError, match="ppp_draws"):
        fit.check(ppp_draws=0)
