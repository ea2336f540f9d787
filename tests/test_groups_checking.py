"""Checks of multi-group Bayesian fits: discrepancy, casewise log-likelihood, PPP, LOO, WAIC,
hypotheses per group, and ``compare`` with groups."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.bayes.groups import GroupCasewiseLoglik
from bayes_bmi.checking.groups_check import (
    group_discrepancy,
    group_moment_draws,
    group_n_moments,
)
from bayes_bmi.lavaan.model import specify
from bayes_bmi.lavaan.partable import ModelOptions
from bayes_bmi.ml.groups import fit_ml_groups, split_groups
from conftest import DATA, MODELS

HS = DATA / "HolzingerSwineford1939.csv"
HS_MISSING = DATA / "missing" / "HolzingerSwineford1939_mcar10.csv"
REF = DATA / "groups"
HS3 = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
QUICK = {"chains": 2, "draws": 200, "tune": 200, "seed": 5, "progress": False}

CASES = [
    ("hs_mg_configural", HS, (), "listwise"),
    ("hs_mg_metric", HS, ("loadings",), "listwise"),
    ("hs_mg_scalar", HS, ("loadings", "intercepts"), "listwise"),
    ("hs_mg_fiml_scalar", HS_MISSING, ("loadings", "intercepts"), "fiml"),
]


def _ml(data, equal, missing):
    df = pd.read_csv(data)
    model = specify(HS3, options=ModelOptions(ngroups=2, group_equal=equal))
    return df, model, fit_ml_groups(model, df, "school", missing=missing)


@pytest.mark.parametrize(("name", "data", "equal", "missing"), CASES)
def test_discrepancy_at_the_ml_estimate_is_lavaans_chisq(name, data, equal, missing):
    ref = json.loads((REF / f"{name}_fit.json").read_text())
    _, model, ml = _ml(data, equal, missing)
    result = SimpleNamespace(model=model, ml=ml, missing=missing, stats=ml.stats)
    moments = group_moment_draws(result, ml.values[None, None, :])
    t = group_discrepancy(result, moments)
    assert t.shape == (1, 1)
    assert t[0, 0] == pytest.approx(ref["fit_measures"]["chisq"], rel=1e-6)
    # per group too: lavaan's chisq.group
    for g, (sigma, mu) in enumerate(moments):
        one = SimpleNamespace(
            model=model,
            ml=SimpleNamespace(
                group_stats=(ml.group_stats[g],),
                group_patterns=(ml.group_patterns[g],) if missing == "fiml" else None,
            ),
            missing=missing,
        )
        part = group_discrepancy(one, [(sigma, mu)])
        assert part[0, 0] == pytest.approx(ref["chisq_group"][g], rel=1e-6)
    # p*: 2 groups x (9 * 10 / 2 + 9) moments; df = p* - npar as lavaan's
    assert group_n_moments(result) - ref["fit_measures"]["npar"] == ref["fit_measures"]["df"]


@pytest.mark.parametrize(("name", "data", "equal", "missing"), [CASES[0], CASES[3]])
def test_casewise_loglik_sums_to_lavaans_logl(name, data, equal, missing):
    ref = json.loads((REF / f"{name}_fit.json").read_text())
    df, model, ml = _ml(data, equal, missing)
    grouped = split_groups(df, "school")
    names = list(model.ov_names)
    ys = [f[names].to_numpy(dtype=float) for f in grouped.frames]
    if missing == "listwise":
        ys = [y[~np.isnan(y).any(axis=1)] for y in ys]
    rows = np.broadcast_to(ml.values, (2, 3, ml.values.size))
    ll = GroupCasewiseLoglik(model, rows, ys)._raw((slice(None),) * 3)
    assert ll.shape == (2, 3, sum(y.shape[0] for y in ys))
    assert ll[0, 0].sum() == pytest.approx(ref["fit_measures"]["logl"], rel=1e-7)
    assert np.allclose(ll[1, 2], ll[0, 0])


# configural HS with speed ~ visual in place of their covariance (the same fit: lavaan's
# configural chisq) and a group-specific label and a := parameter for the hypotheses
CONFIGURAL = HS3 + "\nspeed ~ c(b1, b2)*visual\nd := b1 - b2\n"


@pytest.fixture(scope="module")
def configural_fit():
    import bayes_bmi as bb

    return bb.sem(CONFIGURAL, HS, group="school", **QUICK)


def test_check_of_a_multigroup_fit(configural_fit):
    fit = configural_fit
    check = fit.check()
    crit = check.criteria
    assert np.isfinite(crit["elpd_loo"]) and np.isfinite(crit["elpd_waic"])
    # LOO on every case of both groups
    assert check.loo.n_data_points == 301
    assert 0.0 <= check.ppp.ppp <= 1.0
    assert check.ppp.n_moments == 108
    assert check.ppp.t_obs.shape == (2, 200)
    # the discrepancy exceeds lavaan's minimum at the ML estimate in every draw
    assert np.all(check.ppp.t_obs > 115.85)
    means = check.index_means()
    assert 0.0 < means["BRMSEA"] < 0.3
    assert set(check.residuals["group_label"]) == {"Pasteur", "Grant-White"}
    assert len(check.residuals) == 2 * 36
    # the effective number of parameters is near the 60 free ones
    assert 45 < crit["p_loo"] < 75


def test_saturated_means_are_refused_with_groups(configural_fit):
    from bayes_bmi.errors import OptionError

    with pytest.raises(OptionError, match="saturated"):
        configural_fit.check(means="saturated")


HYPOTHESES = """
[[hypothesis]]
id = "L2"
parameter = "visual=~x2"
direction = "positive"
wording = "x2 loads on visual."

[[hypothesis]]
id = "B1"
parameter = "b1"
direction = "positive"
wording = "visual raises speed in group 1."

[[hypothesis]]
id = "D"
parameter = "d"
direction = "nonzero"
wording = "the groups' paths differ."
"""


def test_hypotheses_per_group(configural_fit, tmp_path):
    from bayes_bmi.checking.hypotheses import HYPOTHESIS_COLUMNS, HypothesisError

    path = tmp_path / "h.toml"
    path.write_text(HYPOTHESES)
    table = configural_fit.hypotheses(path)
    assert list(table.columns[:3]) == ["id", "group", "group_label"]
    assert set(HYPOTHESIS_COLUMNS) <= set(table.columns)
    assert list(zip(table["id"], table["group"], strict=True)) == [
        ("L2", 1), ("L2", 2), ("B1", 1), ("D", 0),
    ]  # fmt: skip
    assert list(table["group_label"]) == ["Pasteur", "Grant-White", "Pasteur", ""]
    summary = configural_fit.summary()
    for _, row in table.iterrows():
        if row["id"] == "L2":
            want = summary[(summary["lhs"] == "visual") & (summary["rhs"] == "x2")
                           & (summary["group"] == row["group"])]  # fmt: skip
        else:
            want = summary[summary["label"] == {"B1": "b1", "D": "d"}[row["id"]]]
        assert row["post_median"] == pytest.approx(float(want["median"].iloc[0]))
    # each group's ML estimate beside its own verdict
    ml = configural_fit.result.ml.estimates
    ml_x2 = ml[(ml["lhs"] == "visual") & (ml["rhs"] == "x2") & (ml["op"] == "=~")]
    assert list(table["ml_est"][:2]) == pytest.approx(list(ml_x2["est"]))
    assert table["ml_est"].iloc[0] != pytest.approx(table["ml_est"].iloc[1])
    assert table["bayes_verdict"].iloc[1] == "supported"  # x2 in Grant-White: 0.74 (se 0.14)
    path.write_text(HYPOTHESES.replace('"b1"', '"b3"'))
    with pytest.raises(HypothesisError, match="b3"):
        configural_fit.hypotheses(path)


METRIC_BY_LABELS = """
visual =~ x1 + c(a2, a2)*x2 + c(a3, a3)*x3
textual =~ x4 + c(a5, a5)*x5 + c(a6, a6)*x6
speed =~ x7 + c(a8, a8)*x8 + c(a9, a9)*x9
"""


def test_compare_configural_and_metric_by_group():
    import bayes_bmi as bb

    comp = bb.comparison(
        {"configural": HS3, "metric": HS3},
        HS,
        group="school",
        group_equal={"metric": "loadings"},
        baseline=False,
        **QUICK,
    )
    t = comp.table.set_index("model")
    assert np.isfinite(t["elpd_loo"]).all() and t["ppp"].between(0, 1).all()
    # the ML columns are the multi-group fits': lavaan's chisq
    for name in ("configural", "metric"):
        ref = json.loads((REF / f"hs_mg_{name}_fit.json").read_text())["fit_measures"]
        assert t.loc[name, "ml_chisq"] == pytest.approx(ref["chisq"], rel=1e-6)
        assert t.loc[name, "ml_df"] == ref["df"]
    assert comp.means == "model"
    assert {"group", "group_label"} <= set(comp.residuals().columns)
    assert comp.results["metric"].model.options.group_equal == ("loadings",)


def test_compare_group_cli(tmp_path):
    from typer.testing import CliRunner

    from bayes_bmi.cli.main import app

    metric = tmp_path / "metric.lav"
    metric.write_text(METRIC_BY_LABELS)
    out = tmp_path / "out"
    args = [
        "compare", str(MODELS / "hs_cfa.lav"), str(metric),
        "--data", str(HS), "--out", str(out), "--group", "school", "--no-baseline",
        "--draws", "100", "--tune", "100", "--chains", "2", "--seed", "2",
    ]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "2 groups by 'school'" in res.output
    table = pd.read_csv(out / "comparison.csv")
    assert set(table["model"]) == {"hs_cfa", "metric"}
    summary = json.loads((out / "comparison_summary.json").read_text())
    assert summary["group_labels"] == ["Pasteur", "Grant-White"]
    assert summary["n_obs"] == 301
    assert summary["per_model"]["metric"]["n_moments"] == 108
    for g in (1, 2):
        assert (out / f"residuals_metric_g{g}.png").is_file()
    resid = pd.read_csv(out / "residual_correlations.csv")
    assert set(resid["group_label"]) == {"Pasteur", "Grant-White"}


def test_incremental_indices_with_the_independence_model_by_group(configural_fit):
    ref = json.loads((REF / "hs_mg_configural_fit.json").read_text())["fit_measures"]
    check = configural_fit.check(baseline=True)
    means = check.index_means()
    # the Bayesian analogues sit near lavaan's multi-group CFI, TLI and RMSEA (sqrt(G) scaled)
    assert means["BCFI"] == pytest.approx(ref["cfi"], abs=0.03)
    assert means["BTLI"] == pytest.approx(ref["tli"], abs=0.05)
    assert means["BRMSEA"] == pytest.approx(ref["rmsea"], abs=0.02)
