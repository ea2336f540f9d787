"""Key-driver ranking, dominance and recommendations on constructed draws with known answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats as sps

from bayes_bmi.study.drivers import (
    DRIVER_COLUMNS,
    LEVERS,
    Dominance,
    Lever,
    Recommendations,
    driver_effects,
    driver_parameters,
    key_drivers,
    pairwise_dominance,
    rank_probabilities,
    recommendations,
    thesis_key_drivers,
)
from bayes_bmi.study.hypotheses import HypothesisError, hypothesis_table, read_hypotheses
from test_hypotheses import _fake_result  # tests/ is on sys.path (rootdir import mode)

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ["TI", "MD", "CP", "EM", "OL", "NR", "GP", "RS"]


def _draws(means, sds, n: int = 4000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(np.asarray(means, float), np.asarray(sds, float), size=(n, len(means)))


# ---------------------------------------------------------------------------- ranks


def test_rank_probabilities_separated_means_are_certain():
    x = _draws([0.1, 0.5, 0.3], [0.01, 0.01, 0.01])
    rp = rank_probabilities(x, ["A", "B", "C"])
    expected = pd.DataFrame(
        [[0, 0, 1], [1, 0, 0], [0, 1, 0]], index=["A", "B", "C"], columns=[1, 2, 3], dtype=float
    )
    assert_allclose(rp.to_numpy(), expected.to_numpy())
    assert rp.index.name == "driver" and rp.columns.name == "rank"


def test_rank_probabilities_exchangeable_drivers_are_uniform():
    x = _draws([0.2] * 4, [0.1] * 4, n=40_000, seed=1)
    rp = rank_probabilities(x, list("ABCD"))
    assert_allclose(rp.to_numpy(), 0.25, atol=0.015)
    assert_allclose(rp.sum(axis=0), 1.0)
    assert_allclose(rp.sum(axis=1), 1.0)


def test_rank_probabilities_two_normals_closed_form():
    x = _draws([0.3, 0.2], [0.1, 0.05], n=40_000, seed=2)
    rp = rank_probabilities(x, ["A", "B"])
    p = sps.norm.cdf(0.1 / math.hypot(0.1, 0.05))
    assert rp.at["A", 1] == pytest.approx(p, abs=0.01)
    assert rp.at["B", 1] == pytest.approx(1 - p, abs=0.01)


def test_absolute_ranking():
    x = _draws([-0.5, 0.2], [0.01, 0.01])
    assert rank_probabilities(x, ["neg", "pos"]).at["pos", 1] == 1.0
    assert rank_probabilities(x, ["neg", "pos"], absolute=True).at["neg", 1] == 1.0


def test_pairwise_antisymmetry_closed_form_and_ties():
    x = _draws([0.3, 0.2, 0.25, 0.0], [0.1, 0.05, 0.2, 0.1], n=40_000, seed=3)
    m = pairwise_dominance(x, list("ABCD")).to_numpy()
    off = ~np.eye(4, dtype=bool)
    assert_allclose((m + m.T)[off], 1.0)
    assert np.isnan(np.diag(m)).all()
    assert m[0, 1] == pytest.approx(sps.norm.cdf(0.1 / math.hypot(0.1, 0.05)), abs=0.01)
    tied = np.column_stack([x[:, 0], x[:, 0]])
    assert_allclose(pairwise_dominance(tied, ["A", "A2"]).to_numpy()[0, 1], 0.5)


def test_draws_matrix_is_validated():
    with pytest.raises(ValueError, match="one column per driver"):
        rank_probabilities(np.zeros((10, 3)), ["A", "B"])
    with pytest.raises(ValueError, match="unique"):
        pairwise_dominance(np.zeros((10, 2)), ["A", "A"])
    with pytest.raises(ValueError, match="non-finite"):
        rank_probabilities(np.full((10, 2), np.nan), ["A", "B"])


# ---------------------------------------------------------------------------- table


def test_driver_effects_table_and_dominance():
    means = [0.35, 0.25, 0.0, 0.3]
    x = _draws(means, [0.04] * 4, seed=4)
    t = x * 0.5
    table, dom = driver_effects(
        x, ["TI", "MD", "CP", "EM"], t, bmi_params=["g_TI", "g_MD", "g_CP", "g_EM"]
    )
    assert tuple(table.columns) == DRIVER_COLUMNS
    assert table["driver"].tolist() == ["TI", "MD", "CP", "EM"]
    assert_allclose(table["bmi_median"], means, atol=0.01)
    assert_allclose(table["total_median"], np.asarray(means) * 0.5, atol=0.01)
    assert (table["bmi_hdi_lower"] < table["bmi_median"]).all()
    assert table.set_index("driver").at["CP", "bmi_rope_share"] > 0.95
    assert isinstance(dom, Dominance) and dom.by == "bmi"
    assert dom.order[0] == "TI" and dom.order[-1] == "CP"
    er = dom.rank_probs.to_numpy() @ np.arange(1, 5)
    assert_allclose(table["expected_rank"], er)
    assert_allclose(table["p_largest"], dom.p_largest.to_numpy())
    assert table.set_index("driver").at["CP", "most_likely_rank"] == 4
    assert_allclose(dom.p_largest.sum(), 1.0)


def test_driver_effects_options():
    x = _draws([0.3, 0.2], [0.05, 0.05])
    t = _draws([0.0, 0.4], [0.05, 0.05], seed=9)
    _, dom = driver_effects(x, ["A", "B"], t, rank_by="total")
    assert dom.by == "total" and dom.p_largest["B"] > 0.99
    table, _ = driver_effects(x, ["A", "B"])
    assert table["total_median"].isna().all() and table["total_params"].eq("").all()
    with pytest.raises(ValueError, match="needs total_draws"):
        driver_effects(x, ["A", "B"], rank_by="total")
    with pytest.raises(ValueError, match="Must be one of: bmi, total"):
        driver_effects(x, ["A", "B"], rank_by="fp")
    with pytest.raises(ValueError, match="same draws"):
        driver_effects(x, ["A", "B"], t[:10])


def test_driver_parameters_by_convention():
    names = ["g_TI", "g_MD", "b", "ind_TI", "ind_MD"]
    bmi, total = driver_parameters(names, ["TI", "MD"])
    assert bmi == {"TI": "g_TI", "MD": "g_MD"}
    assert total == {"TI": ["ind_TI"], "MD": ["ind_MD"]}
    _, total = driver_parameters([*names, "d_TI", "d_MD"], ["TI", "MD"])
    assert total["TI"] == ["d_TI", "ind_TI"]
    with pytest.raises(HypothesisError, match="driver\\(s\\) RS"):
        driver_parameters(names, ["TI", "RS"])


def test_key_drivers_sums_total_effect_parts():
    res = _fake_result()
    # two "drivers": TI (g_TI; total = ind_TI) and CP (g_CP; total = b + ind_TI, only to
    # check that parts are summed)
    table, dom = key_drivers(
        res, ["TI", "CP"], {"TI": "g_TI", "CP": "BMI~CP"}, {"TI": ["ind_TI"], "CP": ["b", "ind_TI"]}
    )
    std = res.idata["posterior"]["std_all"].values.reshape(-1, 5)
    assert table.at[0, "total_median"] == pytest.approx(np.median(std[:, 4]))
    assert table.at[1, "total_median"] == pytest.approx(np.median(std[:, 2] + std[:, 4]))
    assert table.at[1, "total_params"] == "b+ind_TI"
    assert table.at[0, "bmi_median"] == pytest.approx(np.median(std[:, 0]))
    assert dom.p_largest["TI"] == 1.0
    with pytest.raises(HypothesisError, match="no BMI path"):
        key_drivers(res, ["TI", "XX"], {"TI": "g_TI"})
    with pytest.raises(HypothesisError, match="no total-effect parameters"):
        key_drivers(res, ["TI"], {"TI": "g_TI"}, {"TI": []})


# ---------------------------------------------------------------------------- recommendations


def _analysis(means, sds=None, seed: int = 5):
    sds = sds if sds is not None else [0.03] * len(means)
    x = _draws(means, sds, seed=seed)
    params = [f"g_{d}" for d in DRIVERS]
    total = [[f"ind_{d}"] for d in DRIVERS]
    return driver_effects(x, DRIVERS, x * 0.5, bmi_params=params, total_params=total)


TRUTH_A = [0.35, 0.25, 0.0, 0.30, 0.15, 0.12, 0.08, 0.10]
TRUTH_B = [0.05, 0.10, 0.0, 0.12, 0.15, 0.20, 0.30, 0.40]


def test_recommendations_follow_the_numbers():
    rec_a = recommendations(*_analysis(TRUTH_A))
    rec_b = recommendations(*_analysis(TRUTH_B))
    assert isinstance(rec_a, Recommendations)
    assert rec_a.firms[0].startswith("Prioritise TI (technological innovation capability)")
    assert rec_b.firms[0].startswith("Prioritise RS (financial and human resources)")
    assert rec_a.firms != rec_b.firms and rec_a.government != rec_b.government
    # uncertainty is stated with the posterior probability of being the largest
    table, dom = _analysis(TRUTH_A)
    assert f"with probability {dom.p_largest['TI']:.2f}" in rec_a.firms[0]
    # CP is practically null in both: named as external and low priority for policy
    assert any(s.startswith("CP (competitive pressure) shows no practically") for s in rec_a.firms)
    assert any("Low priority for policy: CP" in s for s in rec_a.government)
    text = rec_a.text()
    assert "### For firms" in text and "### For government" in text


def test_recommendations_on_policy_support():
    weak = recommendations(*_analysis(TRUTH_A[:6] + [0.0, 0.10]))
    strong = recommendations(*_analysis(TRUTH_B))
    assert weak.government[0].startswith("Direct policy support (GP) shows no practically")
    assert "Drivers that policy can shape indirectly beat it" in weak.government[0]
    assert strong.government[0].startswith("Direct policy support (GP) works")
    unsure = recommendations(*_analysis(TRUTH_A[:6] + [0.08, 0.10], [0.03] * 6 + [0.06, 0.03]))
    assert unsure.government[0].startswith("The effect of direct policy support (GP) is uncertain")


def test_recommendations_name_contenders_when_ranking_is_close():
    close = recommendations(*_analysis([0.30, 0.29] + TRUTH_A[2:], [0.05] * 8))
    assert "The ranking at the top is not settled" in close.firms[1]
    clear = recommendations(*_analysis([0.60, 0.20] + TRUTH_A[2:]))
    assert not any("not settled" in s for s in clear.firms)


def test_recommendations_use_hypothesis_verdicts_and_report_disagreement():
    table, dom = _analysis(TRUTH_A)
    hyp = pd.DataFrame(
        {
            "id": ["H1", "H7"],
            "parameter": ["g_TI", "g_GP"],
            "bayes_verdict": ["supported", "inconclusive"],
            "ml_verdict": ["supported", "supported"],
            "agree": pd.array([True, False], dtype="boolean"),
        }
    )
    rec = recommendations(table, dom, hyp)
    assert "H1 supported" in rec.firms[0]
    assert any("disagree on H7 (g_GP: Bayes inconclusive, ML supported)" in c for c in rec.caveats)
    assert rec.government[0].startswith("The effect of direct policy support (GP) is uncertain")


def test_recommendations_with_unknown_drivers_and_custom_levers():
    x = _draws([0.1, 0.4], [0.03, 0.03])
    table, dom = driver_effects(x, ["X1", "X2"])
    rec = recommendations(table, dom)
    assert rec.firms[0].startswith("Prioritise X2:")
    levers = {"X2": Lever("exports", "export marketing", "export credit")}
    rec = recommendations(table, dom, levers=levers)
    assert "Invest in export marketing" in rec.firms[0]
    assert any("through export credit" in s for s in rec.government)
    assert set(LEVERS) == set(DRIVERS)


# ---------------------------------------------------------------------------- real fit


@pytest.mark.slow
def test_thesis_model_end_to_end():
    from bayes_bmi.bayes.sampling import SamplerConfig, fit_bayes
    from bayes_bmi.lavaan.model import read_model

    model = read_model(ROOT / "models" / "bmi_drivers.lav")
    data = pd.read_csv(ROOT / "data" / "bmi_survey.csv")
    config = SamplerConfig(draws=200, tune=200, chains=2, seed=11, progress=False)
    res = fit_bayes(model, data, config=config)
    hyps = read_hypotheses(ROOT / "models" / "bmi_drivers.hypotheses.toml")
    htab = hypothesis_table(hyps, res)
    assert len(htab) == 17
    by_id = htab.set_index("id")
    assert by_id.at["H1", "bayes_verdict"] == "supported"
    assert by_id.at["H3", "bayes_verdict"] != "supported"  # false by construction
    assert by_id.loc[[h.id for h in hyps if h.parameter.startswith("ind_")], "bf10"].isna().all()
    table, dom = thesis_key_drivers(res, DRIVERS)
    assert table["total_params"].tolist() == [f"ind_{d}" for d in DRIVERS]
    assert dom.p_largest["CP"] < 0.05
    rec = recommendations(table, dom, htab)
    leader = dom.p_largest.idxmax()
    assert rec.firms[0].startswith(f"Prioritise {leader} ")


def test_recommendations_flag_negative_drivers_and_an_uncertain_leader():
    rec = recommendations(*_analysis(TRUTH_A[:2] + [-0.3] + TRUTH_A[3:]))
    assert any(s.startswith("CP (competitive pressure) has a credibly negative") for s in rec.firms)
    x = _draws([0.3, 0.05], [0.5, 0.01])  # A: most likely largest, but P(A > 0) is only ~0.73
    table, dom = driver_effects(x, ["A", "B"])
    rec = recommendations(table, dom)
    assert rec.firms[0].startswith("A is the most likely top driver")
    assert "its effect is uncertain" in rec.firms[0]
    _, dom_abs = driver_effects(x, ["A", "B"], absolute=True)
    assert "absolute effect on BMI" in recommendations(table, dom_abs).caveats[0]


def test_recommendations_word_uncertain_external_drivers_differently():
    means = TRUTH_A[:2] + [0.03] + TRUTH_A[3:5] + [0.05] + TRUTH_A[6:]
    sds = [0.03, 0.03, 0.08, 0.03, 0.03, 0.08, 0.03, 0.03]
    rec = recommendations(*_analysis(means, sds))
    assert any(
        s.startswith("Evidence is inconclusive for NR (network relationships; P(")
        for s in rec.firms
    )
    assert any(s.startswith("The role of CP (competitive pressure; P(") for s in rec.firms)
