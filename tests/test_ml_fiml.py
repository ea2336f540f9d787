"""Full-information ML with missing cells reproduces lavaan 0.6-14 (tests/data/missing/README.md).

Reference fits: the shared MCAR Holzinger-Swineford and bfi sets, and two MAR sets made by
``scripts/reference_lavaan_missing.R`` (one with a fixed covariate, dropped rows and ``:=``).
The pattern likelihood, its gradient and information and the EM estimates are also checked
against scipy and finite differences.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

import bayes_bmi as bb
from bayes_bmi.cli.main import app
from bayes_bmi.data import DataError, MissingPatterns, missing_patterns, sample_stats
from bayes_bmi.errors import OptionError
from bayes_bmi.lavaan.model import read_model, specify
from bayes_bmi.lavaan.partable import ModelOptions
from bayes_bmi.ml.fiml import (
    casewise_loglik,
    em_saturated,
    fiml_information,
    fiml_loglik,
    fiml_moment_gradient,
)
from bayes_bmi.ml.fit import MLResult, fit_ml, with_means
from conftest import DATA, MODELS, close_to, lavaan_fit_keys, lavaan_key

MISSING = DATA / "missing"
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"

# name -> (model file, or None for the model text in the reference JSON; data file; missing=)
CASES = {
    "hs_cfa_fiml_mcar10": ("hs_cfa.lav", "HolzingerSwineford1939_mcar10.csv", None),
    "hs_cfa_listwise_mcar10": ("hs_cfa.lav", "HolzingerSwineford1939_mcar10.csv", "listwise"),
    "bfi_cfa_fiml": ("bfi_cfa.lav", "bfi.csv", "fiml"),
    "bfi_cfa_listwise": ("bfi_cfa.lav", "bfi.csv", "listwise"),
    "hs_cfa_fiml_mar15": ("hs_cfa.lav", "hs_mar15.csv", None),
    "hs_cfa_listwise_mar15": ("hs_cfa.lav", "hs_mar15.csv", "listwise"),
    "sem_fiml_mar": (None, "sem_mar.csv", None),
}

FIT_KEYS = lavaan_fit_keys(
    "npar",
    "fmin",
    "chisq",
    "df",
    "pvalue",
    "baseline_chisq",
    "baseline_df",
    "cfi",
    "tli",
    "rmsea",
    "rmsea_ci_lower",
    "rmsea_ci_upper",
    "rmsea_pvalue",
    "srmr",
    "aic",
    "bic",
    "bic2",
    "logl",
    "unrestricted_logl",
)


@cache
def _reference(name: str) -> tuple[dict, pd.DataFrame]:
    doc = json.loads((MISSING / f"{name}_fit.json").read_text())
    params = pd.read_csv(MISSING / f"{name}_params.csv", keep_default_na=False, na_values=["NA"])
    return doc, params


def _measures(doc: dict) -> dict:
    return doc.get("fit_measures", doc)


@cache
def _data(file: str) -> pd.DataFrame:
    return pd.read_csv(MISSING / file)


@cache
def _fitted(name: str) -> MLResult:
    model_file, data_file, missing = CASES[name]
    if model_file is None:
        model = specify(_reference(name)[0]["model"], filename=name)
    else:
        model = read_model(MODELS / model_file)
    return fit_ml(model, _data(data_file), missing=missing)


@pytest.mark.parametrize("name", list(CASES))
def test_converged_same_rows_and_method(name):
    result = _fitted(name)
    assert result.converged, result.warnings
    assert result.warnings == ()
    assert result.missing == ("listwise" if "listwise" in name else "fiml")
    _, params = _reference(name)
    ours = [lavaan_key(r.lhs, r.op, r.rhs) for r in result.estimates.itertuples()]
    ref = [lavaan_key(r.lhs, r.op, r.rhs) for r in params.itertuples()]
    assert sorted(ours) == sorted(ref)
    assert int(result.fit["ntotal"]) == int(
        _measures(_reference(name)[0]).get("ntotal", result.stats.n)
    )


@pytest.mark.parametrize(
    "column,ref_column", [("est", "est"), ("se", "se"), ("std_all", "std.all")]
)
@pytest.mark.parametrize("name", list(CASES))
def test_estimates_match_lavaan(name, column, ref_column):
    result = _fitted(name)
    _, params = _reference(name)
    ours = {lavaan_key(r["lhs"], r["op"], r["rhs"]): r for _, r in result.estimates.iterrows()}
    bad = []
    for _, ref in params.iterrows():
        row = ours[lavaan_key(ref["lhs"], ref["op"], ref["rhs"])]
        value = float(row[column])
        if column == "se" and row["free"] == 0 and row["op"] != ":=":
            assert np.isnan(value)
            value = 0.0
        if not close_to(value, float(ref[ref_column])):
            bad.append(
                f"{ref['lhs']} {ref['op']} {ref['rhs']}: ours {value!r}, lavaan {ref[ref_column]!r}"
            )
    assert not bad, f"{name} {column}:\n" + "\n".join(bad)


@pytest.mark.parametrize("name", list(CASES))
def test_fit_measures_match_lavaan(name):
    theirs = _measures(_reference(name)[0])
    ours = _fitted(name).fit
    bad = []
    for key, ref_key in FIT_KEYS.items():
        if ref_key not in theirs or theirs[ref_key] is None:
            continue
        ref = float(theirs[ref_key])
        # relative 1e-3; lavaan's p-values of 0 and zeros are only numerically zero
        if abs(ours[key] - ref) > max(1e-3 * abs(ref), 1e-6):
            bad.append(f"{key}: ours {ours[key]!r}, lavaan {ref!r}")
    assert not bad, f"{name}:\n" + "\n".join(bad)


def test_fiml_models_the_means_and_drops_rows_missing_a_covariate():
    result = _fitted("sem_fiml_mar")
    assert result.model.representation.meanstructure
    # y intercepts, the mean of x (fixed at its sample value), the latent means
    assert (result.estimates["op"] == "~1").sum() == 8 + 1 + 2
    pat = result.patterns
    assert pat.n_dropped == 6 and pat.n_empty == 0 and pat.n == 494
    assert any("6 row(s) missing a fixed exogenous covariate" in note for note in result.notes)


# ------------------------------------------------------------------------ pattern statistics
@pytest.fixture(scope="module")
def mar() -> pd.DataFrame:
    return _data("hs_mar15.csv")


@pytest.fixture(scope="module")
def patterns(mar) -> MissingPatterns:
    return missing_patterns(mar, [f"x{i}" for i in range(1, 10)])


def test_pattern_statistics_are_those_of_each_patterns_cases(mar, patterns):
    x = mar[list(patterns.names)].to_numpy(dtype=float)
    assert patterns.n == len(mar) and patterns.npatterns == len({tuple(r) for r in ~np.isnan(x)})
    assert patterns.observed[0].all()  # the complete cases first
    assert patterns.n_missing == int(np.isnan(x).sum())
    np.testing.assert_array_equal(
        ~np.isnan(patterns.values), patterns.observed[patterns.case_pattern]
    )
    for k, obs in enumerate(patterns.index):
        y = x[patterns.case_pattern == k][:, obs]
        assert not np.isnan(y).any() and y.shape[0] == patterns.counts[k]
        np.testing.assert_allclose(patterns.mean[k, obs], y.mean(axis=0))
        np.testing.assert_allclose(
            patterns.cov[k][np.ix_(obs, obs)], np.cov(y.T, bias=True).reshape(obs.size, -1)
        )
        assert not patterns.mean[k, ~patterns.observed[k]].any()
    cover = patterns.coverage()
    np.testing.assert_allclose(np.diag(cover), (~np.isnan(x)).mean(axis=0))


def test_loglik_is_the_sum_of_scipy_casewise_densities(patterns):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(9, 9))
    sigma = a @ a.T / 9 + np.eye(9)
    mu = rng.normal(size=9) + 4.0
    ref = [
        stats.multivariate_normal(mu[o], sigma[np.ix_(o, o)]).logpdf(row[o])
        for row in patterns.values
        for o in [np.flatnonzero(~np.isnan(row))]
    ]
    case = casewise_loglik(patterns, sigma, mu)
    np.testing.assert_allclose(case, ref, rtol=1e-10)
    assert fiml_loglik(patterns, sigma, mu) == pytest.approx(np.sum(ref), rel=1e-12)
    assert fiml_loglik(patterns, -sigma, mu) == -np.inf


def test_moment_gradient_matches_finite_differences(patterns):
    rng = np.random.default_rng(4)
    a = rng.normal(size=(9, 9))
    sigma = a @ a.T / 9 + np.eye(9)
    mu = rng.normal(size=9) + 4.0
    g_sigma, g_mu = fiml_moment_gradient(patterns, sigma, mu)
    h = 1e-6
    for i, j in [(0, 0), (2, 5), (8, 3)]:
        e = np.zeros((9, 9))
        e[i, j] = e[j, i] = h
        num = (fiml_loglik(patterns, sigma + e, mu) - fiml_loglik(patterns, sigma - e, mu)) / (
            2 * h
        )
        assert np.tensordot(g_sigma, e / h) == pytest.approx(num, rel=1e-6)
    for i in (0, 4):
        e = np.zeros(9)
        e[i] = h
        num = (fiml_loglik(patterns, sigma, mu + e) - fiml_loglik(patterns, sigma, mu - e)) / (
            2 * h
        )
        assert g_mu[i] == pytest.approx(num, rel=1e-6)


def test_observed_information_is_the_hessian_of_the_loglik():
    """SEs come from the observed information: compare it with a numerical Hessian."""
    result = _fitted("hs_cfa_fiml_mar15")
    model, pat, fm = result.model, result.patterns, result.model.free
    from bayes_bmi.lavaan.representation import fill_matrices, implied_moments

    base = result.values

    def loglik(x):
        return fiml_loglik(
            pat, *implied_moments(fill_matrices(model.representation, fm.expand(x, base)))
        )

    # a spread of loadings, variances, covariances and intercepts (the whole matrix is slow)
    x, h = result.x, 1e-4
    pick = np.unique(np.linspace(0, fm.nparam - 1, 9).astype(int))
    step = np.eye(fm.nparam) * h
    hess = np.zeros((pick.size, pick.size))
    for a, i in enumerate(pick):
        for b, j in enumerate(pick[a:], start=a):
            ei, ej = step[i], step[j]
            hess[a, b] = hess[b, a] = (
                loglik(x + ei + ej)
                - loglik(x + ei - ej)
                - loglik(x - ei + ej)
                + loglik(x - ei - ej)
            ) / (4 * h * h)
    info = np.linalg.inv(result.vcov)[np.ix_(pick, pick)]
    np.testing.assert_allclose(info, -hess, rtol=2e-3, atol=1e-2)


def test_expected_information_on_complete_data_is_n_times_the_listwise_one(hs_data):
    names = [f"x{i}" for i in range(1, 10)]
    pat = missing_patterns(hs_data, names)
    assert pat.npatterns == 1
    rng = np.random.default_rng(5)
    dsigma = rng.normal(size=(4, 9, 9))
    dsigma = dsigma + dsigma.transpose(0, 2, 1)
    dmu = rng.normal(size=(4, 9))
    sigma, mu = pat.cov[0] + np.eye(9), pat.mean[0]
    inv = np.linalg.inv(sigma)
    m = inv @ dsigma
    ref = 0.5 * np.einsum("kab,lba->kl", m, m) + dmu @ inv @ dmu.T
    info = fiml_information(pat, sigma, mu, dsigma, dmu, observed=False)
    np.testing.assert_allclose(info, pat.n * ref, rtol=1e-10)


def test_em_reaches_the_saturated_maximum(patterns, hs_data):
    mu, sigma, _, converged = em_saturated(patterns)
    assert converged
    g_sigma, g_mu = fiml_moment_gradient(patterns, sigma, mu)
    assert np.abs(g_mu).max() < 1e-5 and np.abs(g_sigma).max() < 1e-5
    complete = missing_patterns(hs_data, list(patterns.names))
    st = sample_stats(hs_data, list(patterns.names))
    mu_c, sigma_c, iterations, _ = em_saturated(complete)
    np.testing.assert_allclose(mu_c, st.mean)
    np.testing.assert_allclose(sigma_c, st.cov)
    assert iterations <= 2


def test_fiml_on_complete_data_is_ml_with_means(hs_data):
    model = specify(HS)
    fiml = fit_ml(model, hs_data, missing="fiml")
    listwise = fit_ml(specify(HS, options=ModelOptions(meanstructure=True)), hs_data)
    assert listwise.missing == "listwise" and fiml.missing == "fiml"
    np.testing.assert_allclose(fiml.values, listwise.values, atol=1e-6)
    for key in ("chisq", "df", "cfi", "tli", "rmsea", "srmr", "logl", "unrestricted_logl", "bic"):
        assert fiml.fit[key] == pytest.approx(listwise.fit[key], rel=1e-6, abs=1e-9), key


# ------------------------------------------------------------------------ defaults and errors
def test_default_is_listwise_without_missing_cells_and_fiml_with_them(hs_data, mar):
    model = read_model(MODELS / "hs_cfa.lav")
    complete = fit_ml(model, hs_data)
    assert complete.missing == "listwise" and complete.model is model
    assert not (complete.estimates["op"] == "~1").any()
    assert complete.patterns is None and complete.notes == ()
    assert _fitted("hs_cfa_fiml_mar15").model is not model
    assert with_means(model).representation.meanstructure
    assert with_means(with_means(model)) is not model


def test_empty_rows_are_dropped_with_a_note(mar):
    rows = pd.DataFrame(np.nan, index=[1000, 1001], columns=mar.columns)
    padded = pd.concat([mar, rows])
    model = read_model(MODELS / "hs_cfa.lav")
    result = fit_ml(model, padded)
    assert result.patterns.n_empty == 2 and result.stats.n == len(mar)
    assert any("2 row(s) with every model variable missing were dropped" in n for n in result.notes)
    np.testing.assert_allclose(result.values, _fitted("hs_cfa_fiml_mar15").values, atol=1e-8)
    assert result.fit["chisq"] == pytest.approx(_fitted("hs_cfa_fiml_mar15").fit["chisq"])


def test_all_missing_column_is_a_data_error(mar):
    df = mar.copy()
    df["x5"] = np.nan
    with pytest.raises(DataError, match=r"no observed value.*x5"):
        fit_ml(read_model(MODELS / "hs_cfa.lav"), df)


def test_bad_missing_options(hs_data):
    model = read_model(MODELS / "hs_cfa.lav")
    with pytest.raises(OptionError, match="Must be one of: fiml, listwise"):
        fit_ml(model, hs_data, missing="ml")
    st = sample_stats(hs_data, model.ov_names)
    with pytest.raises(OptionError, match="raw data"):
        fit_ml(model, st, missing="fiml")
    with pytest.raises(OptionError, match="PyMC sampler has no full-information"):
        bb.sem(model, hs_data, missing="fiml", sampler="pymc")
    with pytest.raises(OptionError, match="Must be one of"):
        bb.sem(model, hs_data, method="ml", missing="pairwise")


def test_api_and_cli_choose_and_report_the_method(tmp_path):
    data = MISSING / "hs_mar15.csv"
    fiml = bb.cfa(MODELS / "hs_cfa.lav", data, method="ml")
    assert fiml.missing == "fiml" and fiml.nobs == 301 and fiml.notes
    listwise = bb.cfa(MODELS / "hs_cfa.lav", data, method="ml", missing="listwise")
    assert listwise.missing == "listwise" and listwise.nobs == 132
    runner = CliRunner()
    out = tmp_path / "fiml"
    res = runner.invoke(app, ["ml", str(MODELS / "hs_cfa.lav"), str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "note: full-information ML: 301 cases in 86 missingness pattern(s)" in res.output
    fit = json.loads((out / "fit.json").read_text())
    assert fit["missing"] == "fiml" and fit["ntotal"] == 301
    assert fit["chisq"] == pytest.approx(fiml.fit_measures()["chisq"])
    est = pd.read_csv(out / "estimates.csv")
    assert (est["op"] == "~1").sum() == 12
    res = runner.invoke(
        app,
        ["ml", str(MODELS / "hs_cfa.lav"), str(data), "--out", str(out), "--missing", "listwise"],
    )
    assert res.exit_code == 0 and json.loads((out / "fit.json").read_text())["ntotal"] == 132
    res = runner.invoke(
        app,
        [
            "ml",
            str(MODELS / "hs_cfa.lav"),
            str(data),
            "--out",
            str(tmp_path / "x"),
            "--missing",
            "ml",
        ],
    )
    assert res.exit_code == 2 and "Must be one of: fiml, listwise" in res.output
    assert not (tmp_path / "x").exists()
