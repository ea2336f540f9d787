"""The ML fit reproduces lavaan 0.6-14 on its reference models (tests/data/README.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.lavaan.model import read_model
from bayes_bmi.ml.fit import fit_ml
from conftest import MODELS, close_to, lavaan_fit_keys, lavaan_key, load_reference

CASES = {
    "hs_cfa": ("hs_cfa.lav", "hs_data"),
    "poldem_sem": ("poldem_sem.lav", "poldem_data"),
    "poldem_indirect_ml": ("poldem_indirect.lav", "poldem_data"),
}

FIT_KEYS = lavaan_fit_keys(
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
    "npar",
    "fmin",
    "nfi",
    "rfi",
    "ifi",
    "rni",
)


def _key(row: pd.Series) -> tuple[str, str, str]:
    return lavaan_key(row["lhs"], row["op"], row["rhs"])


def assert_close(ours: float, ref: float, what: str, tol: float = 1e-3) -> None:
    """Absolute tolerance, relative for values above 1 in magnitude."""
    assert close_to(ours, ref, tol), f"{what}: ours {ours!r}, lavaan {ref!r}"


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    name = request.param
    model_file, data_fixture = CASES[name]
    data = request.getfixturevalue(data_fixture)
    result = fit_ml(read_model(MODELS / model_file), data)
    params, fit = load_reference(name)
    return name, result, params, fit


def test_converged(case):
    name, result, _, _ = case
    assert result.converged, result.warnings
    assert result.warnings == ()


def test_same_rows(case):
    _, result, params, _ = case
    ours = {_key(r) for _, r in result.estimates.iterrows()}
    ref = {_key(r) for _, r in params.iterrows()}
    assert ours == ref


@pytest.mark.parametrize(
    "column,ref_column",
    [("est", "est"), ("se", "se"), ("std_all", "std.all"), ("std_lv", "std.lv")],
)
def test_estimates_match_lavaan(case, column, ref_column):
    _, result, params, _ = case
    ours = {_key(r): r for _, r in result.estimates.iterrows()}
    for _, ref in params.iterrows():
        row = ours[_key(ref)]
        value = row[column]
        if column == "se" and row["free"] == 0 and row["op"] != ":=":
            assert np.isnan(value)
            value = 0.0
        assert_close(float(value), float(ref[ref_column]), f"{_key(ref)} {column}")


def test_z_p_ci_match_lavaan(case):
    _, result, params, _ = case
    ours = {_key(r): r for _, r in result.estimates.iterrows()}
    for _, ref in params.iterrows():
        row = ours[_key(ref)]
        if np.isnan(ref["z"]):
            continue
        assert_close(row["z"], ref["z"], f"{_key(ref)} z", tol=2e-3)
        assert_close(row["pvalue"], ref["pvalue"], f"{_key(ref)} pvalue")
        assert_close(row["ci_lower"], ref["ci.lower"], f"{_key(ref)} ci.lower")
        assert_close(row["ci_upper"], ref["ci.upper"], f"{_key(ref)} ci.upper")


def test_fit_measures_match_lavaan(case):
    _, result, _, fit = case
    ref = fit["fit_measures_all"]
    for ours_key, ref_key in FIT_KEYS.items():
        ours, theirs = float(result.fit[ours_key]), float(ref[ref_key])
        if theirs == 0.0:
            assert abs(ours) < 1e-6, f"{ours_key}: ours {ours}, lavaan 0"
        else:
            assert abs(ours - theirs) <= 1e-3 * abs(theirs), f"{ours_key}: {ours} vs {theirs}"
