"""The compiled kernel against the PyMC model it replaces: same log density, same gradient."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.bayes import kernel, kernel_data
from bayes_bmi.bayes.builder import build_pymc_model
from bayes_bmi.bayes.inputs import model_data
from bayes_bmi.bayes.kernel_data import pack
from bayes_bmi.bayes.parameters import param_spec, z_from_rows
from bayes_bmi.bayes.priors import FAMILIES
from bayes_bmi.bayes.sampling import bayesian_model
from bayes_bmi.lavaan.model import read_model, specify
from bayes_bmi.lavaan.partable import ModelOptions
from bayes_bmi.lavaan.start import start_values
from bayes_bmi.ml.fit import model_stats
from conftest import DATA, MODELS, ROOT, kernel_callback, kernel_logp_grad

HS = DATA / "HolzingerSwineford1939.csv"
POLDEM = DATA / "PoliticalDemocracy.csv"
SURVEY = ROOT / "data" / "bmi_survey.csv"

MODEL_FILES = [
    ("hs_cfa.lav", HS),
    ("poldem_sem.lav", POLDEM),
    ("poldem_indirect.lav", POLDEM),
    ("bmi_drivers.lav", SURVEY),
    ("bmi_drivers_direct.lav", SURVEY),
    ("bmi_drivers_dimensions.lav", SURVEY),
]

# every prior family of bayes.priors, on the parameter kinds it fits
ALL_FAMILIES = """
visual =~ x1 + prior("normal(1, 0.5)")*x2 + prior("student_t(4, 0.5, 2)")*x3
textual =~ x4 + prior("cauchy(0, 2.5)")*x5 + x6
speed =~ x7 + x8 + x9
x1 ~~ prior("gamma(2, 3)[var]")*x1
x2 ~~ prior("lognormal(0, 1)")*x2
x3 ~~ prior("halfnormal(2)[var]")*x3
x4 ~~ prior("exponential(1.5)")*x4
x5 ~~ prior("gamma(1, 0.5)[sd]")*x5
x6 ~~ prior("lognormal(-0.5, 0.7)[var]")*x6
x7 ~~ prior("halfnormal(1.5)")*x7
x8 ~~ prior("exponential(0.5)[var]")*x8
visual ~~ prior("beta(2, 3)")*textual
visual ~~ prior("uniform(-0.95, 0.95)")*speed
x1 ~~ prior("uniform(-0.9, 0.8)")*x4
x2 ~~ prior("beta(1.5, 1.5)")*x5
x1 ~ 1
"""

EQUALITY = """
visual =~ x1 + a*x2 + a*x3
textual =~ x4 + b*x5 + b*x6
speed =~ x7 + x8 + x9
x1 ~~ c*x4
x2 ~~ c*x5
x7 ~~ v*x7
x8 ~~ v*x8
"""

# y5 is an observed covariate: with fixed.x its variance and mean are the sample's
FIXED_X = """
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem60 ~ ind60 + y5
"""


def _case(model, data_path):
    model = bayesian_model(model)
    stats = model_stats(model, pd.read_csv(data_path))
    spec = param_spec(model)
    mdata = model_data(model, spec, stats)
    z0 = z_from_rows(spec, start_values(model.partable, model.representation, stats))
    return model, spec, mdata, z0


def _pymc_functions(model, spec, mdata):
    """Log density and gradient of the PyMC model (fast to compile, slow to run: fine here)."""
    pm_model = build_pymc_model(model, spec, mdata)
    logp = pm_model.compile_logp(mode="FAST_COMPILE")
    dlogp = pm_model.compile_dlogp(mode="FAST_COMPILE")
    return lambda z: (float(logp({"z": z})), np.asarray(dlogp({"z": z})))


def _kernel_at(kd, z):
    grad = np.zeros(z.size)
    value = kernel_logp_grad(z, kd.ints, kd.floats, grad)
    return value, grad


def _check_equal(model, spec, mdata, z0, n_points=3, spread=0.3, seed=0):
    kd = pack(model, spec, mdata)
    ref = _pymc_functions(model, spec, mdata)
    rng = np.random.default_rng(seed)
    finite = 0
    for _ in range(n_points):
        z = z0 + rng.normal(0.0, spread, z0.size)
        want, want_grad = ref(z)
        got, grad = _kernel_at(kd, z)
        if not np.isfinite(want):
            assert got == want
            continue
        finite += 1
        assert got == pytest.approx(want, rel=1e-8)
        scale = np.abs(want_grad).max()
        np.testing.assert_allclose(grad, want_grad, rtol=1e-8, atol=1e-8 * scale)
    assert finite >= 1


@pytest.mark.parametrize("std_lv", [False, True], ids=["marker", "std_lv"])
@pytest.mark.parametrize("name,data_path", MODEL_FILES, ids=[m for m, _ in MODEL_FILES])
def test_kernel_equals_pymc_model(name, data_path, std_lv):
    model = read_model(MODELS / name, ModelOptions(std_lv=std_lv))
    _check_equal(*_case(model, data_path))


@pytest.mark.parametrize(
    "text,data_path",
    [(ALL_FAMILIES, HS), (EQUALITY, HS), (FIXED_X, POLDEM)],
    ids=["all_prior_families", "equality_labels", "fixed_x"],
)
def test_kernel_equals_pymc_model_special(text, data_path):
    model, spec, mdata, z0 = _case(specify(text), data_path)
    if text is ALL_FAMILIES:
        used = {p.family for p in spec.priors}
        assert used == set(FAMILIES)
    if text is FIXED_X:
        assert (model.partable["exo"] == 1).any()
    if text is EQUALITY:
        assert spec.size < int((model.partable["free"] > 0).sum())
    _check_equal(model, spec, mdata, z0, n_points=4)


def test_gradient_matches_finite_differences():
    model, spec, mdata, z0 = _case(read_model(MODELS / "poldem_indirect.lav"), POLDEM)
    kd = pack(model, spec, mdata)
    z = z0 + np.random.default_rng(3).normal(0.0, 0.1, z0.size)
    _, grad = _kernel_at(kd, z)
    h = 1e-6
    steps = np.eye(z.size) * h
    num = np.array([(_kernel_at(kd, z + e)[0] - _kernel_at(kd, z - e)[0]) / (2 * h) for e in steps])
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-4)


def test_not_positive_definite_and_outside_uniform_bounds_are_minus_infinity():
    # a fixed negative residual variance makes the implied covariance matrix indefinite
    model, spec, mdata, z0 = _case(specify("f =~ x1 + x2 + x3\nx1 ~~ -5*x1"), HS)
    kd = pack(model, spec, mdata)
    ref = _pymc_functions(model, spec, mdata)
    assert _kernel_at(kd, z0)[0] == -np.inf
    assert ref(z0)[0] == -np.inf
    # a residual correlation outside its uniform prior's bounds
    text = 'f =~ x1 + x2 + x3 + x4\nx1 ~~ prior("uniform(-0.2, 0.2)")*x2'
    model, spec, mdata, z0 = _case(specify(text), HS)
    kd = pack(model, spec, mdata)
    ref = _pymc_functions(model, spec, mdata)
    z = z0.copy()
    z[spec.names.index("x1~~x2")] = 1.0  # r = tanh(1) = 0.76
    assert _kernel_at(kd, z)[0] == -np.inf
    assert ref(z)[0] == -np.inf


def test_layout_constants_agree():
    assert kernel_data.HEADER == kernel.HEADER
    assert kernel_data.MAT_CODES == kernel.MAT_CODES


def test_c_callback_returns_the_kernel_value_and_error_codes():
    model, spec, mdata, z0 = _case(read_model(MODELS / "hs_cfa.lav"), HS)
    kd = pack(model, spec, mdata)
    code, value, grad = kernel_callback(z0, kd.ints, kd.floats)
    # the compiled callback (from the kernel cache) = the kernel's source run as plain Python
    want_grad = np.zeros(z0.size)
    want = kernel._logp_grad(np.ascontiguousarray(z0, dtype=float), kd.ints, kd.floats, want_grad)
    assert code == 0 and value == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-10)
    bad = z0.copy()
    bad[spec.names.index("x1~~x1")] = np.nan
    code, value, _ = kernel_callback(bad, kd.ints, kd.floats)
    assert code == 4 and not np.isfinite(value)  # recoverable for nutpie: a divergence
