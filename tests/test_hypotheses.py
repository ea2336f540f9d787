"""Hypothesis reading, posterior summaries with closed forms, decision rule, hypothesis table.

Everything runs on synthetic draws (no sampling): normal posteriors and priors for which pd,
the ROPE share, the HDI and the Savage-Dickey Bayes factor have closed forms.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from numpy.testing import assert_allclose
from scipy import stats as sps

from bayes_bmi.study.hypotheses import (
    DEFAULT_RULE,
    HYPOTHESIS_COLUMNS,
    DecisionRule,
    Hypothesis,
    HypothesisError,
    assess_hypothesis,
    check_hypotheses,
    hdi,
    hypothesis_table,
    parameter_draws,
    parameter_rows,
    probability_of_direction,
    read_hypotheses,
    rope_share,
    savage_dickey,
    savage_dickey_bf10,
)

ROOT = Path(__file__).resolve().parents[1]
N = 20_000


def _normal(mean: float, sd: float, seed: int, n: int = N) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, n)


# ---------------------------------------------------------------------------- reading


def test_read_shipped_hypotheses():
    hyps = read_hypotheses(ROOT / "models" / "bmi_drivers.hypotheses.toml")
    assert [h.id for h in hyps][:3] == ["H1", "H2", "H3"]
    assert len(hyps) == 17
    assert hyps[2] == Hypothesis("H3", "g_CP", "positive", hyps[2].wording)
    assert {h.direction for h in hyps} == {"positive"}
    assert hyps[-1].parameter == "ind_RS"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "h.toml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = '[[hypothesis]]\nid = "H1"\nparameter = "g_TI"\ndirection = "positive"\nwording = "w"\n'


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (
            GOOD + '[[hypothesis]]\nid = "H2"\nparameter = "g_MD"\ndirection = "positive"\n',
            ["hypothesis 2 (id 'H2')", "missing key(s) wording"],
        ),
        (
            GOOD.replace('"positive"', '"postive"'),
            ["hypothesis 1 (id 'H1')", "unknown direction 'postive'", "Must be one of"],
        ),
        (GOOD + GOOD, ["hypothesis 2 (id 'H1')", "duplicate id 'H1' (also entry 1)"]),
        (GOOD.replace("wording", "wordng"), ["missing key(s) wording"]),
        (GOOD + 'rope = "x"\n', ["unknown key(s) rope"]),
        (GOOD.replace('"g_TI"', "3"), ["parameter must be non-empty string(s)"]),
        ('[[hypothesis]\nid = "H1"', ["not valid TOML"]),
        ('title = "none"\n', ["no [[hypothesis]] tables"]),
    ],
)
def test_read_errors_name_file_and_entry(tmp_path, body, fragments):
    path = _write(tmp_path, body)
    with pytest.raises(HypothesisError) as err:
        read_hypotheses(path)
    msg = str(err.value)
    assert str(path) in msg
    for frag in fragments:
        assert frag in msg


def test_read_missing_file(tmp_path):
    with pytest.raises(HypothesisError, match="no such hypothesis file"):
        read_hypotheses(tmp_path / "nope.toml")


def test_hypothesis_validates_direction():
    with pytest.raises(HypothesisError, match="Must be one of: positive, negative, nonzero"):
        Hypothesis("H1", "g_TI", "up", "w")


def test_check_hypotheses_lists_unknown_with_close_matches():
    hyps = [
        Hypothesis("H1", "g_Ti", "positive", "w"),
        Hypothesis("H2", "g_MD", "positive", "w"),
        Hypothesis("H9", "zzz", "positive", "w"),
    ]
    with pytest.raises(HypothesisError) as err:
        check_hypotheses(hyps, ["g_TI", "g_MD", "b", "ind_TI"])
    msg = str(err.value)
    assert "2 hypothesis parameter(s) not in the model" in msg
    assert "H1: 'g_Ti' (did you mean g_TI" in msg
    assert "H9: 'zzz'" in msg and "H2" not in msg
    check_hypotheses(hyps[1:2], ["g_MD"])  # no error


# ---------------------------------------------------------------------------- pd, ROPE, HDI


@pytest.mark.parametrize(("mean", "sd"), [(0.3, 0.2), (-0.1, 0.1), (0.0, 1.0), (2.0, 1.0)])
def test_probability_of_direction_closed_form(mean, sd):
    x = _normal(mean, sd, seed=1)
    p_pos = sps.norm.cdf(mean / sd)
    tol = 4 * math.sqrt(0.25 / N)
    assert probability_of_direction(x, "positive") == pytest.approx(p_pos, abs=tol)
    assert probability_of_direction(x, "negative") == pytest.approx(1 - p_pos, abs=tol)
    assert probability_of_direction(x) == pytest.approx(max(p_pos, 1 - p_pos), abs=tol)


def test_probability_of_direction_exact_and_ties():
    x = np.array([-1.0, 0.0, 1.0, 2.0])
    assert probability_of_direction(x, "positive") == 0.625
    assert probability_of_direction(x, "negative") == 0.375
    assert probability_of_direction(x, "nonzero") == 0.625
    assert probability_of_direction(x.reshape(2, 2), "positive") == 0.625
    with pytest.raises(ValueError, match="Must be one of"):
        probability_of_direction(x, "up")


@pytest.mark.parametrize(("mean", "sd"), [(0.0, 0.05), (0.1, 0.1), (0.4, 0.1)])
def test_rope_share_closed_form(mean, sd):
    x = _normal(mean, sd, seed=2)
    expected = sps.norm.cdf((0.1 - mean) / sd) - sps.norm.cdf((-0.1 - mean) / sd)
    assert rope_share(x, -0.1, 0.1) == pytest.approx(expected, abs=4 * math.sqrt(0.25 / N))


def test_rope_share_exact_and_bounds():
    assert rope_share(np.array([-0.2, -0.1, 0.0, 0.1, 0.3]), -0.1, 0.1) == 0.6
    with pytest.raises(ValueError, match="low < high"):
        rope_share(np.zeros(3), 0.1, -0.1)


def test_hdi_normal_and_skewed():
    lo, hi = hdi(_normal(1.0, 2.0, seed=3), 0.95)
    assert_allclose([lo, hi], [1 - 1.96 * 2, 1 + 1.96 * 2], atol=0.12)
    # exponential: the shortest 95% interval starts at 0 and ends at -log(0.05)
    lo, hi = hdi(np.random.default_rng(4).exponential(1.0, N), 0.95)
    assert lo == pytest.approx(0.0, abs=0.01)
    assert hi == pytest.approx(-math.log(0.05), abs=0.1)


# ---------------------------------------------------------------------------- Savage-Dickey


@pytest.mark.parametrize(
    ("s0", "m", "s1"),
    [(10.0, 0.5, 1.0), (10.0, 1.0, 1.0), (1.0, 0.0, 0.5), (10.0, 0.2, 0.1), (2.5, -0.15, 0.1)],
)
def test_savage_dickey_matches_normal_closed_form(s0, m, s1):
    prior = _normal(0.0, s0, seed=5)
    post = _normal(m, s1, seed=6)
    exact = sps.norm.pdf(0, 0, s0) / sps.norm.pdf(0, m, s1)
    sd = savage_dickey(post, prior)
    assert sd.method == "kde" and sd.note == ""
    # KDE error at n = 20000: smoothing bias < 1%, sampling error about 2-4% per density
    assert sd.bf10 == pytest.approx(exact, rel=0.12)
    assert sd.prior_density == pytest.approx(sps.norm.pdf(0, 0, s0), rel=0.06)
    assert savage_dickey_bf10(post, prior) == sd.bf10


def test_savage_dickey_far_tail_uses_normal_approximation():
    prior = _normal(0.0, 10.0, seed=7)
    post = _normal(1.0, 0.1, seed=8)  # 0 lies 10 SD away: no draw near it
    sd = savage_dickey(post, prior)
    exact = sps.norm.pdf(0, 0, 10) / sps.norm.pdf(0, 1.0, 0.1)
    assert sd.method == "normal"
    assert "normal approximation" in sd.note
    assert math.log(sd.bf10) == pytest.approx(math.log(exact), abs=1.5)


def test_savage_dickey_degenerate_inputs():
    assert math.isnan(savage_dickey_bf10(_normal(0, 1, 1), np.ones(50)))
    assert math.isnan(savage_dickey_bf10(np.array([0.1]), _normal(0, 1, 1)))


# ---------------------------------------------------------------------------- decision rule


def _hyp(direction: str = "positive", parameter: str = "g_TI") -> Hypothesis:
    return Hypothesis("H", parameter, direction, "w")


@pytest.mark.parametrize(
    ("mean", "sd", "direction", "verdict", "reason"),
    [
        (0.30, 0.05, "positive", "supported", "excludes 0"),
        (0.00, 0.02, "positive", "not supported", "practically null"),
        (-0.30, 0.05, "positive", "not supported", "opposite side"),
        (0.10, 0.06, "positive", "inconclusive", "includes 0"),
        (-0.30, 0.05, "negative", "supported", "excludes 0"),
        (0.30, 0.05, "negative", "not supported", "opposite side"),
        (-0.30, 0.05, "nonzero", "supported", "excludes 0"),
        (0.00, 0.02, "nonzero", "not supported", "practically null"),
        (-0.08, 0.06, "nonzero", "inconclusive", "includes 0"),
    ],
)
def test_verdicts_on_constructed_posteriors(mean, sd, direction, verdict, reason):
    x = _normal(mean, sd, seed=9, n=4000)
    row = assess_hypothesis(_hyp(direction), x, x, _normal(0, 10, 10, 4000))
    assert row["bayes_verdict"] == verdict
    assert reason in row["bayes_reason"]
    assert row["expected_sign"] == {"positive": "+", "negative": "-", "nonzero": "+/-"}[direction]


def test_verdict_thresholds_are_inclusive_where_stated():
    rule = DecisionRule()
    assert rule.bayes_verdict(0.975, (0.01, 0.5), 0.0, "positive")[0] == "supported"
    assert rule.bayes_verdict(0.974, (0.01, 0.5), 0.0, "positive")[0] == "inconclusive"
    assert rule.bayes_verdict(0.99, (-0.01, 0.5), 0.0, "positive")[0] == "inconclusive"
    assert rule.bayes_verdict(0.5, (-0.1, 0.1), 0.95, "positive")[0] == "not supported"
    assert rule.bayes_verdict(0.5, (-0.1, 0.1), 0.949, "positive")[0] == "inconclusive"
    assert rule.bayes_verdict(0.024, (-0.5, -0.1), 0.0, "positive")[0] == "not supported"
    # supported wins over practically null: a small but credibly positive effect
    assert rule.bayes_verdict(0.999, (0.02, 0.06), 1.0, "positive")[0] == "supported"


def test_ml_verdict_and_agreement():
    rule = DEFAULT_RULE
    assert rule.ml_verdict(0.2, 0.01, "positive") == "supported"
    assert rule.ml_verdict(-0.2, 0.01, "positive") == "not supported"
    assert rule.ml_verdict(0.2, 0.2, "positive") == "not supported"
    assert rule.ml_verdict(-0.2, 0.01, "nonzero") == "supported"
    assert rule.ml_verdict(-0.2, 0.01, "negative") == "supported"
    assert rule.ml_verdict(0.2, math.nan, "positive") == "unavailable"
    x = _normal(0.1, 0.06, seed=11, n=4000)  # Bayes inconclusive
    row = assess_hypothesis(_hyp(), x, x, ml=(0.1, 0.06, 0.096))
    assert (row["bayes_verdict"], row["ml_verdict"], row["agree"]) == (
        "inconclusive",
        "not supported",
        True,
    )
    row = assess_hypothesis(_hyp(), x, x, ml=(0.1, 0.04, 0.01))
    assert row["agree"] is False
    row = assess_hypothesis(_hyp(), x, x)
    assert row["ml_verdict"] == "unavailable" and row["agree"] is pd.NA


def test_rule_text_follows_its_numbers():
    text = DecisionRule(rope=(-0.2, 0.2), pd_min=0.99, alpha=0.01).describe()
    assert "ROPE [-0.2, 0.2]" in text
    assert "at least 0.99" in text
    assert "below 0.01" in text
    assert "'inconclusive'" in DEFAULT_RULE.describe()


@pytest.mark.parametrize(
    "kwargs",
    [{"ci_prob": 1.0}, {"pd_min": 0.4}, {"rope": (0.1, -0.1)}, {"alpha": 0.0}, {"rope_max": 0}],
)
def test_rule_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        DecisionRule(**kwargs)


def test_defined_parameters_get_no_bayes_factor():
    x = _normal(0.2, 0.05, seed=12, n=2000)
    row = assess_hypothesis(_hyp(parameter="ind_TI"), x, x, x * 10, defined=True)
    assert math.isnan(row["bf10"])
    assert "defined" in row["bf10_note"] and "unbounded" in row["bf10_note"]
    row = assess_hypothesis(_hyp(), x, x)
    assert math.isnan(row["bf10"]) and "no prior draws" in row["bf10_note"]


# ---------------------------------------------------------------------------- table wrapper


def _fake_result(seed: int = 0, n: int = 2000) -> SimpleNamespace:
    """A stand-in for BayesResult: summary, idata (posterior, prior) and ML estimates."""
    rng = np.random.default_rng(seed)
    rows = [
        ("BMI", "~", "TI", "g_TI", 0.30, 0.04),
        ("BMI", "~", "CP", "g_CP", 0.00, 0.02),
        ("FP", "~", "BMI", "b", 0.50, 0.05),
        ("BMI", "~~", "BMI", "", 0.60, 0.05),
    ]
    post = np.column_stack([rng.normal(m, s, n) for *_, m, s in rows])
    post = np.column_stack([post, post[:, 0] * post[:, 2]])  # ind_TI := g_TI*b
    std = post * 0.9
    prior = np.column_stack([rng.normal(0, 10, n) for _ in range(4)])
    prior = np.column_stack([prior, prior[:, 0] * prior[:, 2]])
    summary = pd.DataFrame(
        [(lhs, op, rhs, lab) for lhs, op, rhs, lab, *_ in rows]
        + [("ind_TI", ":=", "g_TI*b", "ind_TI")],
        columns=["lhs", "op", "rhs", "label"],
    )
    names = ["BMI~TI", "BMI~CP", "FP~BMI", "BMI~~BMI", "ind_TI"]

    def ds(values: np.ndarray, chains: int) -> xr.DataArray:
        arr = values.reshape(chains, -1, values.shape[1])
        return xr.DataArray(arr, dims=("chain", "draw", "row"), coords={"row": names})

    idata = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"estimate": ds(post, 2), "std_all": ds(std, 2)}),
            "prior": xr.Dataset({"estimate": ds(prior, 1)}),
        }
    )
    ml = pd.DataFrame(
        {
            "lhs": ["BMI", "BMI", "FP", "BMI", "TI", "ind_TI"],
            "op": ["~", "~", "~", "~~", "~~", ":="],
            "rhs": ["TI", "CP", "BMI", "BMI", "TI", "g_TI*b"],
            "est": [0.29, 0.01, 0.5, 0.6, 1.0, 0.145],
            "se": [0.04, 0.02, 0.05, 0.05, 0.1, 0.025],
            "pvalue": [1e-10, 0.6, 1e-20, 1e-9, 1e-9, 1e-8],
        }
    )
    return SimpleNamespace(summary=summary, idata=idata, ml=SimpleNamespace(estimates=ml))


def test_parameter_rows_and_draws():
    res = _fake_result()
    rows = parameter_rows(res.summary)
    assert rows["g_TI"] == rows["BMI~TI"] == 0
    assert rows["ind_TI"] == 4 and rows["BMI~~BMI"] == 3
    x = parameter_draws(res, ["g_TI", "FP~BMI"], var="std_all")
    assert x.shape == (2000, 2)
    with pytest.raises(HypothesisError, match="did you mean g_TI"):
        parameter_draws(res, ["g_TII"])


def test_hypothesis_table_on_synthetic_fit():
    res = _fake_result()
    hyps = [
        Hypothesis("H1", "g_TI", "positive", "TI helps"),
        Hypothesis("H3", "BMI~CP", "positive", "CP helps"),
        Hypothesis("H9", "b", "positive", "BMI pays"),
        Hypothesis("H10a", "ind_TI", "positive", "mediated"),
    ]
    tab = hypothesis_table(hyps, res)
    assert tuple(tab.columns) == HYPOTHESIS_COLUMNS
    assert tab["id"].tolist() == ["H1", "H3", "H9", "H10a"]
    assert tab["bayes_verdict"].tolist() == [
        "supported",
        "not supported",
        "supported",
        "supported",
    ]
    assert tab["ml_verdict"].tolist() == ["supported", "not supported", "supported", "supported"]
    assert tab["agree"].all()
    assert tab.at[0, "ml_est"] == 0.29 and tab.at[3, "ml_pvalue"] == 1e-8
    assert tab.at[0, "std_median"] == pytest.approx(0.9 * tab.at[0, "post_median"])
    assert math.isnan(tab.at[3, "bf10"]) and "defined" in tab.at[3, "bf10_note"]
    # CP: posterior N(0, 0.02) against prior N(0, 10): strong evidence for the null
    assert tab.at[1, "bf10"] < 0.1
    assert tab.at[0, "bf10"] > 100
    with pytest.raises(HypothesisError, match="H2: 'g_MD'"):
        hypothesis_table([Hypothesis("H2", "g_MD", "positive", "w")], res)
