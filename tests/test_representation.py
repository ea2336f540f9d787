"""Implied moments: structure, positive definiteness and the normal log-likelihood."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from bayes_bmi.lavaan.model import read_model, specify
from bayes_bmi.lavaan.representation import fill_matrices, implied_derivatives, implied_moments
from bayes_bmi.ml.fit import free_map
from bayes_bmi.ml.fitmeasures import loglik, ml_discrepancy
from conftest import MODELS

MODEL_FILES = ["hs_cfa.lav", "poldem_sem.lav", "poldem_indirect.lav"]


def random_values(model, rng: np.random.Generator) -> np.ndarray:
    """Random admissible values: positive variances, covariances inside the correlation bounds."""
    pt = model.partable
    values = np.full(len(pt), np.nan)
    var = {}
    for i, (lhs, op, rhs) in enumerate(zip(pt["lhs"], pt["op"], pt["rhs"], strict=True)):
        if op == "~~" and lhs == rhs:
            var[lhs] = values[i] = rng.uniform(0.2, 3.0)
    for i, (lhs, op, rhs) in enumerate(zip(pt["lhs"], pt["op"], pt["rhs"], strict=True)):
        if op == "=~":
            values[i] = rng.normal(0.0, 1.0)
        elif op == "~":
            values[i] = rng.normal(0.0, 0.5)
        elif op == "~~" and lhs != rhs:
            values[i] = rng.uniform(-0.4, 0.4) * np.sqrt(var[lhs] * var[rhs])
        elif op == "~1":
            values[i] = rng.normal(0.0, 2.0)
    fixed = (pt["free"] == 0).to_numpy() & pt["ustart"].notna().to_numpy()
    values[fixed] = pt["ustart"].to_numpy()[fixed]
    return values


def _is_pd(a: np.ndarray) -> bool:
    return bool(np.all(np.linalg.eigvalsh(a) > 1e-10))


@pytest.mark.parametrize("model_file", MODEL_FILES)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1))
def test_implied_sigma_symmetric_positive_definite(model_file, seed):
    model = read_model(MODELS / model_file)
    mats = fill_matrices(model.representation, random_values(model, np.random.default_rng(seed)))
    assume(_is_pd(mats.psi) and _is_pd(mats.theta))
    sigma, mu = implied_moments(mats)
    np.testing.assert_array_equal(sigma, sigma.T)
    assert _is_pd(sigma)
    assert mu.shape == (model.representation.p,)


@pytest.mark.parametrize("model_file", MODEL_FILES)
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 60))
def test_loglik_equals_scipy(model_file, seed, n):
    rng = np.random.default_rng(seed)
    model = read_model(MODELS / model_file)
    mats = fill_matrices(model.representation, random_values(model, rng))
    assume(_is_pd(mats.psi) and _is_pd(mats.theta))
    sigma, mu = implied_moments(mats)
    y = rng.multivariate_normal(mu, sigma, size=n)
    mean = y.mean(axis=0)
    cov = (y - mean).T @ (y - mean) / n
    ours = loglik(n, cov, mean, sigma, mu)
    ref = stats.multivariate_normal(mean=mu, cov=sigma).logpdf(y).sum()
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-8)


def test_derivatives_match_finite_differences():
    model = specify(
        "f1 =~ x1 + a*x2 + x3\nf2 =~ x4 + a*x5 + x6\nf2 ~ f1\ny ~ f2 + z\nx1 ~~ x4\nx1 ~ 1\n"
    )
    rep = model.representation
    fm = free_map(model.partable, rep)
    rng = np.random.default_rng(3)
    base = random_values(model, rng)
    base[np.isnan(base)] = 0.5
    x = fm.compress(base)
    mats = fill_matrices(rep, fm.expand(x, base))
    dsigma, dmu = implied_derivatives(rep, mats, fm.entries, fm.nparam)
    for k in range(fm.nparam):
        h = 1e-6
        xp, xm = x.copy(), x.copy()
        xp[k] += h
        xm[k] -= h
        sp, mp = implied_moments(fill_matrices(rep, fm.expand(xp, base)))
        sm, mm = implied_moments(fill_matrices(rep, fm.expand(xm, base)))
        np.testing.assert_allclose(dsigma[k], (sp - sm) / (2 * h), atol=1e-6)
        np.testing.assert_allclose(dmu[k], (mp - mm) / (2 * h), atol=1e-6)


def test_discrepancy_zero_at_sample_moments():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    s = a @ a.T + np.eye(4)
    m = rng.normal(size=4)
    assert ml_discrepancy(s, m, s, m, True) == pytest.approx(0.0, abs=1e-12)
    assert ml_discrepancy(s, m, -s, m, True) == np.inf
