"""The ML fit reproduces lavaan 0.6-14 on 14 more models (tests/data/lavaan_extra/README.md).

The model text and lavaan's call are read from each ``<name>_fit.json`` written by
``scripts/reference_lavaan.R``, so the reference data and this test cannot drift apart.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.lavaan.model import specify
from bayes_bmi.lavaan.partable import ModelOptions
from bayes_bmi.ml.fit import MLResult, fit_ml
from conftest import close_to, lavaan_fit_keys, lavaan_key

ROOT = Path(__file__).resolve().parents[1]
REF = Path(__file__).resolve().parent / "data" / "lavaan_extra"

NAMES = (
    "hs_cfa_stdlv",
    "hs_cross_loading",
    "hs_equality",
    "hs_fixed_loadings",
    "hs_latent_mean",
    "hs_mimic",
    "poldem_mediation",
    "poldem_two_outcomes",
    "hs_second_order",
    "hs_single_indicator",
    "hs_two_factor_rescov",
    "poldem_sem_stdlv",
    "hs_structural",
    "hs_orthogonal",
)

# ours -> lavaan's fitMeasures name
FIT_KEYS = lavaan_fit_keys(
    "npar",
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
    "logl",
    "unrestricted_logl",
)

ESTIMATE_COLUMNS = [("est", "est"), ("se", "se"), ("std_all", "std.all"), ("std_lv", "std.lv")]

# Known disagreements with lavaan 0.6-14: none. (With fixed.x = TRUE lavaan's log-likelihoods
# are conditional on the exogenous covariates, `loglik - loglik.x`; bayes-bmi does the same.)
XFAIL_FIT: dict[tuple[str, str], str] = {}
XFAIL_ESTIMATES: dict[tuple[str, str], str] = {}


@cache
def _reference(name: str) -> tuple[dict, pd.DataFrame]:
    doc = json.loads((REF / f"{name}_fit.json").read_text())
    params = pd.read_csv(REF / f"{name}_params.csv", keep_default_na=False, na_values=["NA"])
    return doc, params


@cache
def _data(path: str) -> pd.DataFrame:
    return pd.read_csv(ROOT / path)


@cache
def _fitted(name: str) -> MLResult:
    doc, _ = _reference(name)
    model = specify(doc["model"], filename=name, options=ModelOptions(std_lv=doc["std_lv"]))
    # lavaan's sem() default; hs_mimic has a missing grade, which would otherwise select FIML
    return fit_ml(model, _data(doc["data"]), missing="listwise")


def _cases(xfails: dict[tuple[str, str], str], keys) -> list:
    out = []
    for name in NAMES:
        for key in keys:
            reason = xfails.get((name, key))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(name, key, marks=marks, id=f"{name}-{key}"))
    return out


def _fit_cases() -> list:
    """(model, measure) pairs; measures lavaan reports as NA (df = 0 p-values) are left out."""
    return [
        case
        for case in _cases(XFAIL_FIT, FIT_KEYS)
        if _reference(case.values[0])[0]["fit_measures"][FIT_KEYS[case.values[1]]] is not None
    ]


def test_reference_set_complete():
    on_disk = {p.name.removesuffix("_fit.json") for p in REF.glob("*_fit.json")}
    assert on_disk == set(NAMES)
    for name in NAMES:
        doc, _ = _reference(name)
        assert doc["name"] == name
        assert doc["meta"]["lavaan"] == "0.6.14"
        assert doc["call"].startswith("sem(model, data = ")
        assert ("std.lv = TRUE" in doc["call"]) == doc["std_lv"]


@pytest.mark.parametrize("name", NAMES)
def test_converged_and_same_rows(name):
    result = _fitted(name)
    assert result.converged, result.warnings
    assert result.warnings == ()
    _, params = _reference(name)
    ours = [lavaan_key(r.lhs, r.op, r.rhs) for r in result.estimates.itertuples()]
    ref = [lavaan_key(r.lhs, r.op, r.rhs) for r in params.itertuples()]
    assert len(ours) == len(set(ours))
    assert set(ours) == set(ref)


@pytest.mark.parametrize("name,column", _cases(XFAIL_ESTIMATES, [c for c, _ in ESTIMATE_COLUMNS]))
def test_estimates_match_lavaan(name, column):
    ref_column = dict(ESTIMATE_COLUMNS)[column]
    result = _fitted(name)
    _, params = _reference(name)
    ours = {lavaan_key(r["lhs"], r["op"], r["rhs"]): r for _, r in result.estimates.iterrows()}
    bad = []
    for _, ref in params.iterrows():
        key = lavaan_key(ref["lhs"], ref["op"], ref["rhs"])
        row = ours[key]
        value = float(row[column])
        if column == "se" and row["free"] == 0 and row["op"] != ":=":
            assert np.isnan(value), f"{key}: fixed row with se {value}"
            value = 0.0
        if not close_to(value, float(ref[ref_column])):
            bad.append(f"{key}: ours {value!r}, lavaan {ref[ref_column]!r}")
    assert not bad, f"{name} {column}:\n" + "\n".join(bad)


@pytest.mark.parametrize("name,measure", _fit_cases())
def test_fit_measure_matches_lavaan(name, measure):
    doc, _ = _reference(name)
    theirs = float(doc["fit_measures"][FIT_KEYS[measure]])
    ours = float(_fitted(name).fit[measure])
    # relative 1e-3; lavaan's zeros (a saturated model's chisq, srmr) are only numerically zero
    assert abs(ours - theirs) <= max(1e-3 * abs(theirs), 1e-6), f"ours {ours}, lavaan {theirs}"
