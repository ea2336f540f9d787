"""The compiled kernel's full-information likelihood against the numpy FIML reference.

The kernel's pattern path (``npat > 0``) must give the log posterior of
:func:`bayes_bmi.ml.fiml.fiml_loglik` (checked against lavaan in ``test_ml_fiml.py``) plus the
same prior terms as the complete-data path, and a gradient equal to central differences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.bayes.inputs import model_data
from bayes_bmi.bayes.kernel_data import pack
from bayes_bmi.bayes.parameters import param_spec, rows_from_z, z_from_rows
from bayes_bmi.bayes.sampling import bayesian_model
from bayes_bmi.lavaan.model import specify
from bayes_bmi.lavaan.representation import fill_matrices, implied_moments
from bayes_bmi.lavaan.start import start_values
from bayes_bmi.ml.fiml import fiml_loglik
from bayes_bmi.ml.fit import model_patterns, model_stats
from conftest import kernel_logp_grad

DATA = Path(__file__).parent / "data"
MISSING = DATA / "missing"

HS = """
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
"""
# a structural model with an observed (fixed.x) covariate, a residual covariance and :=
SEM = """
f1 =~ y1 + y2 + y3 + y4
f2 =~ y5 + y6 + y7 + y8
f1 ~ a*x
f2 ~ b*f1 + c*x
y1 ~~ y5
ind := a*b
"""


def _at(kd, z):
    grad = np.zeros(z.size)
    value = kernel_logp_grad(z, kd.ints, kd.floats, grad)
    return value, grad


def _mvn_suffstat(n, mean, cov, sigma, mu):
    p = mean.size
    _, logdet = np.linalg.slogdet(sigma)
    d = mean - mu
    inv = np.linalg.inv(sigma)
    return -0.5 * n * (p * np.log(2 * np.pi) + logdet + np.trace(inv @ cov) + d @ inv @ d)


def _setup(text, data):
    model = bayesian_model(specify(text))
    pat = model_patterns(model, data)
    stats = model_stats(model, data[list(model.ov_names)].dropna())
    spec = param_spec(model)
    complete = pack(model, spec, model_data(model, spec, stats))
    fiml = pack(model, spec, model_data(model, spec, stats, patterns=pat))
    z0 = z_from_rows(spec, start_values(model.partable, model.representation, stats))
    base = model_data(model, spec, stats).values["fixed_values"]
    return model, spec, pat, stats, complete, fiml, z0, base


def _moments(model, spec, base, z):
    rows = rows_from_z(spec, z[None, None, :], base)[0, 0]
    return implied_moments(fill_matrices(model.representation, rows))


CASES = [
    ("hs_mcar10", HS, MISSING / "HolzingerSwineford1939_mcar10.csv"),
    ("hs_mar15", HS, MISSING / "hs_mar15.csv"),
    ("sem_mar", SEM, MISSING / "sem_mar.csv"),
]


@pytest.mark.parametrize("name,text,path", CASES, ids=[c[0] for c in CASES])
def test_pattern_likelihood_equals_the_numpy_fiml_reference(name, text, path):
    data = pd.read_csv(path)
    model, spec, pat, stats, complete, fiml, z0, base = _setup(text, data)
    assert pat.npatterns > 5
    rng = np.random.default_rng(1)
    for _ in range(4):
        z = z0 + rng.normal(0.0, 0.2, z0.size)
        sigma, mu = _moments(model, spec, base, z)
        got, _ = _at(fiml, z)
        ref_complete, _ = _at(complete, z)
        # the prior terms are the same on both paths: remove the complete-data likelihood
        prior = ref_complete - _mvn_suffstat(stats.n, stats.mean, stats.cov, sigma, mu)
        want = fiml_loglik(pat, sigma, mu) + prior
        assert got == pytest.approx(want, rel=1e-9, abs=1e-7)


@pytest.mark.parametrize("name,text,path", CASES, ids=[c[0] for c in CASES])
def test_pattern_gradient_equals_central_differences(name, text, path):
    data = pd.read_csv(path)
    *_, fiml, z0, _ = _setup(text, data)
    z = z0 + np.random.default_rng(2).normal(0.0, 0.1, z0.size)
    _, grad = _at(fiml, z)
    h = 1e-6
    fd = np.empty(z.size)
    for k in range(z.size):
        up, down = z.copy(), z.copy()
        up[k] += h
        down[k] -= h
        fd[k] = (_at(fiml, up)[0] - _at(fiml, down)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-4)


def test_one_complete_pattern_equals_the_complete_data_path():
    data = pd.read_csv(DATA / "HolzingerSwineford1939.csv")
    model, spec, pat, stats, complete, fiml, z0, _ = _setup(HS, data)
    assert pat.npatterns == 1
    z = z0 + np.random.default_rng(3).normal(0.0, 0.2, z0.size)
    (a, ga), (b, gb) = _at(fiml, z), _at(complete, z)
    assert a == pytest.approx(b, rel=1e-10)
    np.testing.assert_allclose(ga, gb, rtol=1e-8, atol=1e-8 * np.abs(gb).max())


def test_pattern_path_is_minus_infinity_where_sigma_is_not_positive_definite():
    data = pd.read_csv(MISSING / "HolzingerSwineford1939_mcar10.csv")
    model, spec, pat, stats, complete, fiml, z0, _ = _setup(HS, data)
    z = z0.copy()
    # a correlation-free CFA: a huge loading with tiny residual variances stays PD, so make
    # the factor variance transform overflow instead
    k = [i for i, n in enumerate(spec.names) if n.startswith("visual~~visual")][0]
    z[k] = 400.0
    value, _ = _at(fiml, z)
    assert value == -np.inf
