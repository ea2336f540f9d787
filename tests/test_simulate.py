"""Synthetic data: the generator, the shipped truth and data, and recovery of the truth by ML."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.io import atomic_write_json
from bayes_bmi.lavaan.model import read_model, specify
from bayes_bmi.lavaan.partable import ModelOptions
from bayes_bmi.lavaan.representation import fill_matrices, implied_moments
from bayes_bmi.lavaan.standardized import standardize
from bayes_bmi.ml.fit import fit_ml
from bayes_bmi.simulate.normal import simulate_normal
from bayes_bmi.study.survey import (
    SHIPPED_N,
    SHIPPED_SEED,
    SurveyTruth,
    default_truth,
    discretize,
    simulate_responses,
    simulate_survey,
    truth_model,
    truth_values,
)

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
DATA = ROOT / "data"
DESCRIPTORS = ["firm_id", "city", "industry", "size_class", "age_years"]
CITIES = {
    "Harbin",
    "Daqing",
    "Qiqihar",
    "Mudanjiang",
    "Jiamusi",
    "Jixi",
    "Suihua",
    "Heihe",
    "Hegang",
    "Shuangyashan",
    "Qitaihe",
    "Yichun",
    "Daxing'anling",
}
STRONG = ("TI", "EM", "MD")


@pytest.fixture(scope="session")
def truth() -> SurveyTruth:
    return default_truth()


@pytest.fixture(scope="session")
def thesis_model():
    return read_model(MODELS / "bmi_drivers.lav")


@pytest.fixture(scope="session")
def shipped() -> pd.DataFrame:
    return pd.read_csv(DATA / "bmi_survey.csv", keep_default_na=False)


def std_paths(result) -> dict[str, float]:
    """std_all of the labelled structural paths g_* and b."""
    e = result.estimates
    rows = e[(e["op"] == "~") & (e["label"] != "")]
    return dict(zip(rows["label"], rows["std_all"], strict=True))


def truth_paths(truth: SurveyTruth) -> dict[str, float]:
    return {**{f"g_{d}": truth.paths[d] for d in truth.drivers}, "b": truth.b}


# ------------------------------------------------------------------------------------------
# the survey generator
# ------------------------------------------------------------------------------------------


def test_same_seed_same_data_other_seed_other_data(truth):
    a = simulate_survey(truth, 200, 11)
    b = simulate_survey(truth, 200, 11)
    c = simulate_survey(truth, 200, 12)
    pd.testing.assert_frame_equal(a, b)
    items = list(truth.items)
    assert (a[items].to_numpy() != c[items].to_numpy()).mean() > 0.3
    assert (a["city"] != c["city"]).any()


def test_columns_types_and_ranges(truth):
    df = simulate_survey(truth, 500, 3)
    assert list(df.columns) == DESCRIPTORS + list(truth.items)
    assert len(truth.items) == 46
    items = df[list(truth.items)]
    assert all(dt == np.int64 for dt in items.dtypes)
    assert items.min().min() == 1 and items.max().max() == 5
    assert df["firm_id"].is_unique and df["firm_id"].iat[0] == "HLJ0001"
    assert set(df["city"]) <= CITIES
    assert df["city"].value_counts().index[0] == "Harbin"
    assert set(df["size_class"]) == {"micro", "small", "medium"}
    assert df["age_years"].between(1, 40).all()
    # older firms are larger
    med = df.groupby("size_class")["age_years"].median()
    assert med["micro"] < med["small"] < med["medium"]


def test_survey_is_the_discretised_responses(truth):
    responses = simulate_responses(truth, 300, 5)
    survey = simulate_survey(truth, 300, 5)
    expected = discretize(responses, truth.thresholds)
    pd.testing.assert_frame_equal(survey[list(truth.items)], expected)


def test_category_proportions_match_the_thresholds(truth):
    """Answer shares converge to Phi(tau_k) - Phi(tau_{k-1}); binomial SE per share."""
    n = 20_000
    df = simulate_survey(truth, n, 99)
    probs = truth.category_probabilities()
    worst = 0.0
    for item in truth.items:
        share = df[item].value_counts(normalize=True).reindex(range(1, 6), fill_value=0)
        p = np.array(probs[item])
        z = np.abs(share.to_numpy() - p) / np.sqrt(p * (1 - p) / n)
        worst = max(worst, z.max())
    assert worst < 4.5  # 230 shares: P(max |z| > 4.5) < 230 * 7e-6
    # agreement-leaning: the mean answer is above the scale midpoint for most items
    assert (df[list(truth.items)].mean() > 3).mean() > 0.8


# ------------------------------------------------------------------------------------------
# the truth
# ------------------------------------------------------------------------------------------


def test_truth_json_round_trip(truth, tmp_path):
    again = SurveyTruth.from_json(truth.to_json())
    assert again == truth
    assert again.to_json() == truth.to_json()
    atomic_write_json(tmp_path / "t.json", truth.to_dict())
    assert (tmp_path / "t.json").read_text(encoding="utf-8") == truth.to_json()
    changed = dataclasses.replace(truth, b=0.3)
    assert SurveyTruth.from_json(changed.to_json()).b == 0.3


def test_truth_is_immutable_and_validated(truth):
    with pytest.raises(dataclasses.FrozenInstanceError):
        truth.b = 0.1  # type: ignore[misc]
    with pytest.raises(TypeError):
        truth.paths["TI"] = 0.9  # type: ignore[index]
    with pytest.raises(ValueError, match="R\\^2"):
        dataclasses.replace(truth, paths={**truth.paths, "TI": 0.9, "EM": 0.8})
    corr = [list(r) for r in truth.driver_corr]
    corr[0][1] = corr[1][0] = 0.99
    corr[0][4] = corr[4][0] = -0.9
    with pytest.raises(ValueError, match="positive definite"):
        dataclasses.replace(truth, driver_corr=corr)
    with pytest.raises(ValueError, match="increasing"):
        dataclasses.replace(truth, thresholds={**truth.thresholds, "TI1": (0.5, 0.1, 1.0, 2.0)})
    with pytest.raises(ValueError, match="unknown key"):
        SurveyTruth.from_dict({**truth.to_dict(), "gamma": 1})


def test_default_truth_design(truth):
    loadings = [v for items in truth.loadings.values() for v in items.values()]
    assert 0.55 <= min(loadings) and max(loadings) <= 0.90
    off = truth.corr_matrix[np.triu_indices(len(truth.drivers), 1)]
    assert 0.2 <= off.min() and off.max() <= 0.45
    assert truth.paths["CP"] == 0.0
    assert 0 < truth.r2_bmi < 1
    # skewed: every item's top two categories are more likely than its bottom two
    for p in truth.category_probabilities().values():
        assert p[3] + p[4] > p[0] + p[1]


def test_truth_values_standardized_metric(truth, thesis_model):
    """Every latent variable and every latent response has variance 1; std_all = the truth."""
    for model in (thesis_model, read_model(MODELS / "bmi_drivers.lav", ModelOptions(std_lv=True))):
        values = truth_values(truth, model)
        mats = fill_matrices(model.representation, values)
        sigma, mu = implied_moments(mats)
        np.testing.assert_allclose(np.diag(sigma), 1.0, atol=1e-12)
        np.testing.assert_allclose(np.diag(mats.eta_cov()), 1.0, atol=1e-12)
        np.testing.assert_allclose(mu, 0.0)
        _, std_all = standardize(model.partable, model.representation, values)
        model_rows = (model.partable["op"] != ":=").to_numpy()
        np.testing.assert_allclose(std_all[model_rows], values[model_rows], atol=1e-12)
        labels = dict(zip(model.partable["label"], values, strict=True))
        assert labels["ind_TI"] == pytest.approx(truth.paths["TI"] * truth.b)


def test_truth_model_is_the_thesis_model(truth, thesis_model):
    def rows(m):
        pt = m.partable
        return set(zip(pt["lhs"], pt["op"], pt["rhs"], pt["label"], pt["free"], strict=True))

    assert rows(truth_model(truth)) == rows(thesis_model)


def test_truth_values_refuses_rows_it_does_not_define(truth):
    with pytest.raises(ValueError, match="FP ~ TI"):
        truth_values(truth, read_model(MODELS / "bmi_drivers_direct.lav"))


# ------------------------------------------------------------------------------------------
# simulate_normal on any model
# ------------------------------------------------------------------------------------------


def test_simulate_normal_moments_approach_implied_moments():
    """Sample moments within sampling error: var(s_ij) = (s_ii s_jj + s_ij^2) / n."""
    model = specify(
        "f1 =~ x1 + x2 + x3\nf2 =~ x4 + x5 + x6\nf2 ~ f1\nx1 ~ 2*1\nx4 ~ 1",
        options=ModelOptions(meanstructure=True),
    )
    pt = model.partable
    values = np.where(pt["free"] > 0, 0.0, pt["ustart"].fillna(0.0).to_numpy())
    for i, (lhs, op, rhs) in enumerate(zip(pt["lhs"], pt["op"], pt["rhs"], strict=True)):
        if op == "=~":
            values[i] = 1.0 if rhs in ("x1", "x4") else 0.8
        elif op == "~":
            values[i] = 0.6
        elif op == "~~":
            values[i] = 0.5 if lhs.startswith("x") else 1.2
        elif op == "~1" and lhs == "x4":
            values[i] = -1.0
        elif op == "~1" and lhs.startswith("x") and lhs != "x1":
            values[i] = 3.0
    sigma, mu = implied_moments(fill_matrices(model.representation, values))
    n = 50_000
    x = simulate_normal(model, values, n, 2026).to_numpy()
    assert list(simulate_normal(model, values, 3, 1).columns) == list(model.ov_names)
    z_mean = (x.mean(0) - mu) / np.sqrt(np.diag(sigma) / n)
    s = np.cov(x, rowvar=False, bias=True)
    se = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / n)
    z_cov = (s - sigma) / se
    # 6 means and 21 distinct covariances: P(max |z| > 4) < 27 * 6.3e-5
    assert np.abs(z_mean).max() < 4
    assert np.abs(z_cov).max() < 4
    np.testing.assert_allclose(mu, [2, 3, 3, -1, 3, 3])
    pd.testing.assert_frame_equal(
        simulate_normal(model, values, 10, 5), simulate_normal(model, values, 10, 5)
    )


def test_simulate_normal_rejects_bad_values(thesis_model, truth):
    values = truth_values(truth, thesis_model)
    with pytest.raises(ValueError, match="one number per parameter-table row"):
        simulate_normal(thesis_model, values[:-1], 10, 1)
    bad = values.copy()
    bad[thesis_model.partable.index[thesis_model.partable["lhs"] == "TI1"][0]] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        simulate_normal(thesis_model, bad, 10, 1)
    neg = values.copy()
    neg[((thesis_model.partable["lhs"] == "TI1") & (thesis_model.partable["op"] == "~~"))] = -1
    with pytest.raises(ValueError, match="positive definite"):
        simulate_normal(thesis_model, neg, 10, 1)


# ------------------------------------------------------------------------------------------
# recovery of the truth by ML
# ------------------------------------------------------------------------------------------


def test_ml_recovers_the_truth_from_continuous_responses(truth, thesis_model):
    """n = 5000 latent responses: std_all of g_* and b within 0.06 of the truth.

    Over 40 replications at n = 5000 the empirical SD of these std_all estimates was
    0.010-0.016 (largest for g_CP), so 0.06 is at least 3.7 SDs for every path; ML is
    consistent and the model is correct, so the estimates are centred on the truth (the 40
    replications' means were within 0.004 of it).
    """
    result = fit_ml(thesis_model, simulate_responses(truth, 5000, SHIPPED_SEED))
    assert result.converged and not result.warnings
    est = std_paths(result)
    for label, value in truth_paths(truth).items():
        assert est[label] == pytest.approx(value, abs=0.06), label
    assert result.fit["rmsea"] < 0.02


def test_ml_on_likert_items_keeps_strong_above_null(truth, thesis_model):
    """Cutting into 5 categories biases ML slightly, but strong drivers stay above the null one."""
    result = fit_ml(thesis_model, simulate_survey(truth, 5000, SHIPPED_SEED))
    assert result.converged and not result.warnings
    est = std_paths(result)
    assert abs(est["g_CP"]) < 0.06
    for d in STRONG:
        assert est[f"g_{d}"] > est["g_CP"] + 0.15, d
    assert est["b"] == pytest.approx(truth.b, abs=0.08)


# ------------------------------------------------------------------------------------------
# the shipped files
# ------------------------------------------------------------------------------------------


def test_shipped_truth_is_the_default_truth(truth):
    shipped = SurveyTruth.from_json((DATA / "ground_truth.json").read_text(encoding="utf-8"))
    assert shipped == truth


def test_shipped_survey_equals_a_fresh_regeneration(truth, shipped):
    fresh = simulate_survey(truth, SHIPPED_N, SHIPPED_SEED)
    assert len(shipped) == SHIPPED_N == 632
    pd.testing.assert_frame_equal(shipped, fresh)


def test_script_regenerates_the_shipped_files(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "generate_survey", ROOT / "scripts" / "generate_survey.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out, tru = tmp_path / "survey.csv", tmp_path / "truth.json"
    assert script.main(["--out", str(out), "--truth", str(tru)]) == 0
    assert out.read_bytes() == (DATA / "bmi_survey.csv").read_bytes()
    assert json.loads(tru.read_text()) == json.loads((DATA / "ground_truth.json").read_text())
    assert script.main(["--path", "XX=1", "--out", str(out), "--truth", str(tru)]) == 2


@pytest.mark.parametrize("name", ["bmi_drivers", "bmi_drivers_direct", "bmi_drivers_dimensions"])
def test_models_fit_the_shipped_survey(name, shipped, truth):
    result = fit_ml(read_model(MODELS / f"{name}.lav"), shipped)
    assert result.converged, name
    assert not result.warnings, result.warnings
    assert result.fit["cfi"] > 0.95 and result.fit["rmsea"] < 0.05
    if name == "bmi_drivers":
        est = std_paths(result)
        for d in STRONG:
            assert est[f"g_{d}"] > est["g_CP"] + 0.15, d


def test_codebook_covers_every_item(truth):
    codebook = pd.read_csv(DATA / "codebook.csv", keep_default_na=False)
    assert list(codebook.columns) == [
        "item",
        "construct",
        "construct_name",
        "wording_en",
        "wording_zh",
    ]
    assert list(codebook["item"]) == list(truth.items)
    owner = {i: c for c, items in truth.loadings.items() for i in items}
    assert list(codebook["construct"]) == [owner[i] for i in codebook["item"]]
    assert (codebook["wording_en"].str.len() > 20).all()
    assert codebook["wording_zh"].str.contains(r"[\u4e00-\u9fff]").all()


def test_hypotheses_name_parameters_of_the_model(thesis_model):
    with open(MODELS / "bmi_drivers.hypotheses.toml", "rb") as fh:
        hyps = tomllib.load(fh)["hypothesis"]
    ids = [h["id"] for h in hyps]
    assert ids == [f"H{i}" for i in range(1, 10)] + [f"H10{c}" for c in "abcdefgh"]
    labels = set(thesis_model.partable["label"])
    for h in hyps:
        assert set(h) == {"id", "parameter", "direction", "wording"}
        assert h["parameter"] in labels
        assert h["direction"] in {"positive", "negative", "nonzero"}
