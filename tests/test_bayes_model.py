"""The Bayesian model's pieces against independent references (no sampling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

from bayes_bmi.bayes.builder import build_pymc_model, model_data
from bayes_bmi.bayes.likelihood import mvn_suffstat_loglik_pt, prior_logp_pt
from bayes_bmi.bayes.parameters import param_spec, rows_from_z, z_from_rows
from bayes_bmi.bayes.posterior import align_signs, casewise_loglik, hdi
from bayes_bmi.bayes.priors import Prior, PriorError, parse_prior, prior_logpdf
from bayes_bmi.bayes.sampling import bayesian_model
from bayes_bmi.lavaan.model import read_model, specify
from bayes_bmi.lavaan.partable import ModelOptions
from bayes_bmi.ml.fit import fit_ml
from conftest import DATA, MODELS


@pytest.fixture(scope="module")
def poldem():
    model = bayesian_model(read_model(MODELS / "poldem_indirect.lav"))
    ml = fit_ml(model, pd.read_csv(DATA / "PoliticalDemocracy.csv"))
    spec = param_spec(model)
    data = model_data(model, spec, ml.stats)
    return model, ml, spec, data


def test_one_free_variable_one_element_per_free_parameter(poldem):
    model, _, spec, data = poldem
    pm_model = build_pymc_model(model, spec, data)
    assert [v.name for v in pm_model.free_RVs] == ["z"]
    nfree = int(model.partable["free"].max())
    assert pm_model.initial_point()["z"].shape == (nfree,)
    assert spec.size == nfree
    assert list(pm_model.coords["param"])[:2] == ["ind60=~x2", "ind60=~x3"]
    assert {"a", "b", "c"} <= set(pm_model.coords["param"])


def test_shared_label_is_one_parameter():
    model = bayesian_model(specify("f =~ x1 + a*x2 + a*x3 + x4"))
    spec = param_spec(model)
    assert spec.names.count("a") == 1
    assert spec.size == int(model.partable["free"].max())


def test_rows_roundtrip_at_ml(poldem):
    _, ml, spec, data = poldem
    z0 = z_from_rows(spec, ml.values)
    rows = rows_from_z(spec, z0, data.values["fixed_values"])
    free = ml.estimates["op"].to_numpy() != ":="
    np.testing.assert_allclose(rows[free], ml.values[free], rtol=1e-12, atol=1e-12)


def test_model_logp_is_loglik_plus_prior_and_gradient_is_exact(poldem):
    model, ml, spec, data = poldem
    pm_model = build_pymc_model(model, spec, data)
    logp = pm_model.compile_logp()
    dlogp = pm_model.compile_dlogp()
    rng = np.random.default_rng(5)
    z0 = z_from_rows(spec, ml.values)
    # at the ML point the likelihood part equals lavaan-style logl from sufficient statistics
    expr = pm_model.replace_rvs_by_values([pm_model.potentials[0]])[0]
    pot = pytensor.function(pm_model.value_vars, expr)
    assert float(pot(z0)) == pytest.approx(ml.fit["logl"], rel=1e-10)
    for _ in range(3):
        z = z0 + rng.normal(0, 0.1, z0.size)
        g = dlogp({"z": z})
        h = 1e-6
        num = np.array(
            [(logp({"z": z + e}) - logp({"z": z - e})) / (2 * h) for e in np.eye(z.size) * h]
        )
        np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_suffstat_loglik_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    p, n = 5, 40
    a = rng.normal(size=(p, p))
    sigma = a @ a.T + p * np.eye(p)
    mu = rng.normal(size=p)
    y = rng.multivariate_normal(mu, sigma, size=n) + rng.normal(0, 0.5, size=p)
    ybar = y.mean(0)
    s = (y - ybar).T @ (y - ybar) / n
    f = pytensor.function(
        [],
        mvn_suffstat_loglik_pt(
            pt.constant(float(n)),
            pt.constant(ybar),
            pt.constant(np.linalg.cholesky(s)),
            pt.constant(sigma),
            pt.constant(mu),
        ),
    )
    ref = stats.multivariate_normal(mu, sigma).logpdf(y).sum()
    assert float(f()) == pytest.approx(ref, rel=1e-10)
    np.testing.assert_allclose(
        casewise_loglik(y, sigma[None], mu[None])[0], stats.multivariate_normal(mu, sigma).logpdf(y)
    )


PRIORS = [
    ("normal(0.5, 2)", "real", [-1.0, 0.3, 2.0]),
    ("student_t(4, 0, 2)", "real", [-1.0, 0.3, 2.0]),
    ("cauchy(0, 2.5)", "real", [-1.0, 0.3, 2.0]),
    ("gamma(1, 0.5)[sd]", "var", [-0.5, 0.1, 1.0]),
    ("gamma(2, 3)[var]", "var", [-0.5, 0.1, 1.0]),
    ("lognormal(0, 1)", "var", [-0.5, 0.1, 1.0]),
    ("halfnormal(2)[var]", "var", [-0.5, 0.1, 1.0]),
    ("exponential(1.5)", "var", [-0.5, 0.1, 1.0]),
    ("beta(2, 3)", "corr", [-1.0, 0.2, 1.5]),
    ("uniform(-0.9, 0.9)", "corr", [-1.0, 0.2, 1.2]),
]


@pytest.mark.parametrize("text,transform,zs", PRIORS)
def test_prior_logp_equals_scipy_plus_jacobian(text, transform, zs):
    prior = parse_prior(text)
    code = {"real": 0, "var": 1, "corr": 2}[transform]
    z = np.array(zs)
    a, b, c = prior.padded()
    k = z.size
    out = pytensor.function(
        [],
        prior_logp_pt(
            pt.constant(z),
            np.full(k, code),
            pt.constant(np.full(k, float(prior.code))),
            pt.constant(np.full(k, a)),
            pt.constant(np.full(k, b)),
            pt.constant(np.full(k, c)),
            pt.constant(np.full(k, float(prior.on == "var"))),
        ),
    )()
    if transform == "real":
        ref = prior_logpdf(prior, z)
    elif transform == "var":
        sd = np.exp(z)
        x = sd**2 if prior.on == "var" else sd
        # d x / d z: sd -> sd ; var -> 2 sd^2
        ref = prior_logpdf(prior, x) + np.log(2 * sd**2 if prior.on == "var" else sd)
    else:
        r = np.tanh(z)
        if prior.family == "beta":
            ref = prior_logpdf(prior, (r + 1) / 2) + np.log((1 - r**2) / 2)
        else:
            ref = prior_logpdf(prior, r) + np.log(1 - r**2)
    np.testing.assert_allclose(out, ref, rtol=1e-10)


@pytest.mark.parametrize(
    "text", ["normal(0)", "gamma(1, -1)", "wishart(3)", "normal(0, 1)[sd]", "normal 0 1"]
)
def test_bad_prior_strings(text):
    with pytest.raises(PriorError):
        parse_prior(text)


def test_prior_modifier_errors_name_the_line(tmp_path):
    path = tmp_path / "m.lav"
    path.write_text('visual =~ x1 + x2 + x3\nx1 ~~ prior("normal(0, 1)")*x1\n')
    model = bayesian_model(read_model(path))
    with pytest.raises(PriorError, match=r"m\.lav:2.*theta"):
        param_spec(model)
    path.write_text('visual =~ x1 + prior("nromal(0, 1)")*x2 + x3\n')
    with pytest.raises(PriorError, match=r"m\.lav:1.*nromal"):
        param_spec(bayesian_model(read_model(path)))


def test_prior_modifier_overrides_one_parameter():
    model = bayesian_model(specify('f =~ x1 + prior("normal(1, 0.5)")*x2 + x3'))
    spec = param_spec(model)
    assert spec.priors[spec.names.index("f=~x2")] == Prior("normal", (1.0, 0.5))
    assert spec.priors[spec.names.index("f=~x3")] == Prior("normal", (0.0, 10.0))


def test_align_signs_reflects_factor():
    model = specify(
        "f =~ x1 + x2 + x3\ng =~ x4 + x5 + x6\nf ~~ g\ny ~ f", options=ModelOptions(std_lv=True)
    )
    pt_ = model.partable
    rng = np.random.default_rng(1)
    rows = np.tile(np.nan_to_num(pt_["ustart"].to_numpy(), nan=0.5), (10, 1))
    rows[:, :] = np.where(
        np.isnan(pt_["ustart"].to_numpy()), rng.uniform(0.2, 1, size=rows.shape), rows
    )
    flip = np.arange(10) % 2 == 0
    f_rows = np.flatnonzero(
        ((pt_["op"] == "=~") & (pt_["lhs"] == "f"))
        | ((pt_["op"] == "~") & (pt_["rhs"] == "f"))
        | (
            (pt_["op"] == "~~")
            & (pt_["lhs"] != pt_["rhs"])
            & ((pt_["lhs"] == "f") | (pt_["rhs"] == "f"))
        )
    )
    reflected = rows.copy()
    reflected[np.ix_(flip, f_rows)] *= -1
    aligned = align_signs(pt_, model.representation, reflected)
    np.testing.assert_allclose(aligned, rows)


def test_hdi_of_normal_draws():
    x = stats.norm(1, 2).rvs(size=200_000, random_state=0)
    lo, hi = hdi(x, 0.95)
    assert lo == pytest.approx(1 - 1.96 * 2, abs=0.05)
    assert hi == pytest.approx(1 + 1.96 * 2, abs=0.05)
