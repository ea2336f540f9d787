"""Calibration's priors and fits: the truths come from the kernel's own prior, every fit is ranked.

* The simulator's prior draws (``_prior_z``, one row of ``prior_z_draws``) follow, parameter
  by parameter, the density the sampler's kernel puts on ``z`` (its prior terms and the
  transforms' log-Jacobians): a Kolmogorov-Smirnov test of 4000 draws against the kernel's
  density integrated on a grid.
* Named prior sets and prior files (``--priors weak|FILE``).
* A fit with a convergence problem is rerun longer (2x draws) and ranked, not dropped.
* ``:=`` parameters are ranked beside the free ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from numba import njit
from scipy import stats

from bayes_bmi.bayes.kernel import _prior_one
from bayes_bmi.bayes.parameters import param_spec
from bayes_bmi.bayes.priors import DEFAULT_PRIORS, PriorError, parse_prior
from bayes_bmi.bayes.sampling import SamplerConfig
from bayes_bmi.calibration import simulation
from bayes_bmi.calibration.prior_sets import WEAKLY_INFORMATIVE, read_priors
from bayes_bmi.calibration.simulation import (
    CalibrationSettings,
    _prior_z,
    calibration_model,
    fit_attempts,
    prior_z_draws,
    run_simulation,
    unsettled,
)
from bayes_bmi.lavaan.model import specify

HS = """visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9"""
TINY = SamplerConfig(draws=100, tune=200, chains=2, cores=1, progress=False)


@njit(cache=False)
def _kernel_logprior(grid, code, fam, a, b, c, on_var):
    """The kernel's log prior (with the log-Jacobian) of one element of ``z`` on a grid."""
    out = np.empty(grid.size)
    for i in range(grid.size):
        out[i] = _prior_one(grid[i], code, fam, a, b, c, on_var)[0]
    return out


def _kernel_cdf_pvalues(priors, draw=prior_z_draws, seed=11, ndraw=1000) -> dict[str, float]:
    """KS p-value per parameter of ``draw``'s draws against the kernel's prior on ``z``."""
    spec = param_spec(calibration_model(specify(HS)), priors)
    rng = np.random.default_rng(seed)
    z = draw(spec, rng, ndraw)
    arr = spec.prior_arrays()
    codes = spec.transform_codes
    out = {}
    for k, name in enumerate(spec.names):
        lo, hi = z[:, k].min(), z[:, k].max()
        grid = np.linspace(lo - (hi - lo), hi + (hi - lo), 20001)
        args = [arr[f][k] for f in ("prior_a", "prior_b", "prior_c", "prior_on_var")]
        fam = int(arr["prior_family"][k])
        logp = _kernel_logprior(grid, int(codes[k]), fam, *args)
        cdf = np.cumsum(np.exp(logp - logp.max()))
        cdf /= cdf[-1]
        out[name] = stats.kstest(z[:, k], lambda x, g=grid, c=cdf: np.interp(x, g, c)).pvalue
    return out


@pytest.mark.parametrize("priors", [None, dict(WEAKLY_INFORMATIVE)], ids=["default", "weak"])
def test_prior_draws_follow_the_kernels_prior_on_z(priors):
    pvalues = _kernel_cdf_pvalues(priors, ndraw=4000)
    assert len(pvalues) == 30
    # Bonferroni over the 30 parameters at family-wise 0.01
    assert min(pvalues.values()) > 0.01 / 30, pvalues


def test_the_simulators_single_draw_is_a_row_of_the_tested_batch():
    spec = param_spec(calibration_model(specify(HS)), dict(WEAKLY_INFORMATIVE))
    one = _prior_z(spec, np.random.default_rng(5))
    np.testing.assert_array_equal(one, prior_z_draws(spec, np.random.default_rng(5), 1)[0])


def test_the_ks_check_catches_a_prior_drawn_on_the_wrong_scale():
    # a simulator that reads a variance prior's draw as a variance when it is on the sd
    def wrong(spec, rng, size):
        z = prior_z_draws(spec, rng, size)
        var = spec.transform_codes == 1
        z[:, var] = 0.5 * z[:, var]  # log(sqrt(sd)) instead of log(sd)
        return z

    pvalues = _kernel_cdf_pvalues(None, draw=wrong, ndraw=300)
    spec = param_spec(calibration_model(specify(HS)))
    var = [name for name, t in zip(spec.names, spec.transforms, strict=True) if t == "var"]
    assert len(var) == 12 and max(pvalues[name] for name in var) < 1e-6


def test_named_prior_sets_and_prior_files(tmp_path):
    assert read_priors("default") == {}
    assert read_priors("weak") == dict(WEAKLY_INFORMATIVE)
    assert set(WEAKLY_INFORMATIVE) == set(DEFAULT_PRIORS)
    toml = tmp_path / "p.toml"
    toml.write_text('lambda = "normal(1, 0.5)"\npsi = "gamma(2, 2)[sd]"\n')
    assert read_priors(toml) == {
        "lambda": parse_prior("normal(1, 0.5)"),
        "psi": parse_prior("gamma(2, 2)[sd]"),
    }
    js = tmp_path / "p.json"
    js.write_text('{"rho": "beta(5, 5)"}')
    assert read_priors(js) == {"rho": parse_prior("beta(5, 5)")}
    with pytest.raises(PriorError, match="neither a prior set"):
        read_priors("vague")
    bad = tmp_path / "bad.toml"
    bad.write_text('loading = "normal(0, 1)"\n')
    with pytest.raises(PriorError, match="unknown parameter kind"):
        read_priors(bad)
    bad.write_text('rho = "normal(0, 1)"\n')
    with pytest.raises(PriorError, match="does not fit"):
        read_priors(bad)


# ------------------------------------------------------------------- unsettled fits
@dataclass
class _Fit:
    diagnostics: dict
    converged: bool = False
    config: SamplerConfig = field(default_factory=SamplerConfig)


def _diag(rhat=1.0, div=0, ess=500.0):
    return {"max_r_hat": rhat, "divergences": div, "min_ess_bulk": ess, "min_ess_tail": ess}


def test_unsettled_means_rhat_divergences_or_too_few_effective_draws():
    assert not unsettled(_Fit(_diag()), 1.01, 100)
    assert unsettled(_Fit(_diag(rhat=1.02)), 1.01, 100)
    assert unsettled(_Fit(_diag(div=1)), 1.01, 100)
    assert unsettled(_Fit(_diag(ess=50)), 1.01, 100)
    assert not unsettled(_Fit(_diag(rhat=np.nan)), 1.01, 100)  # one chain


def test_an_unsettled_fit_is_rerun_longer_and_the_last_fit_returned(monkeypatch):
    calls = []

    def fake_fit(model, data, *, config, **kw):
        calls.append(config)
        return _Fit(_diag(rhat=1.2 if len(calls) == 1 else 1.0), config=config)

    monkeypatch.setattr(simulation, "fit_bayes", fake_fit)
    settings = CalibrationSettings(n=50, config=TINY)
    seq = np.random.SeedSequence(5)
    fit, runs = fit_attempts(None, None, settings, seq, None, "x", extend=2, min_ess=99)
    assert runs == 2 and len(calls) == 2
    assert (calls[1].draws, calls[1].tune) == (2 * TINY.draws, 2 * TINY.tune)
    assert calls[1].seed != calls[0].seed and fit.config is calls[1]

    calls.clear()  # without extension (power analysis): the first fit, however unsettled
    fit, runs = fit_attempts(None, None, settings, np.random.SeedSequence(5), None, "x")
    assert runs == 1 and len(calls) == 1 and fit.diagnostics["max_r_hat"] == 1.2
    assert calls[0].seed == calls[0].seed  # same first seed whatever the extension


def test_defined_parameters_are_ranked_and_unconverged_fits_kept():
    model = calibration_model(specify("f =~ y1 + y2 + y3\ng =~ y4 + y5 + y6\ng ~ a*f\nd := 2*a"))
    settings = CalibrationSettings(n=120, ndraws=50, config=TINY, seed=3)
    rec = run_simulation(model, settings, 0)
    assert rec["parameters"][-1] == "d"
    k = rec["parameters"].index("a")
    assert rec["truth"][-1] == pytest.approx(2 * rec["truth"][k])
    assert rec["pit"][-1] == pytest.approx(rec["pit"][k])  # a monotone function of a
    assert 0 <= rec["rank"][-1] <= rec["ndraws"][-1]
    assert rec["draws"] in (TINY.draws, 2 * TINY.draws) and "converged" in rec
