"""Reliability of ordered items: ordinal alpha and HTMT from polychoric correlations, CR and
AVE from the WLSMV standardized loadings (issue 12), against lavaan's numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.lavaan.model import specify
from bayes_bmi.measurement.reliability import ReliabilityError, reliability_report

ORD = Path(__file__).parent / "data" / "ordinal"
HS = """
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
"""
ITEMS = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}


@pytest.fixture(scope="module")
def report():
    data = pd.read_csv(ORD / "HolzingerSwineford1939_ordinal5.csv")
    return reliability_report(specify(HS), data, ordered=True)


def test_ordinal_alpha_is_alpha_of_lavaans_polychoric_correlations(report):
    poly = pd.read_csv(ORD / "hs_cfa_ordinal_wlsmv_polychoric.csv", index_col=0)
    ctab = report.constructs.set_index("construct")
    for construct, items in ITEMS.items():
        r = poly.loc[items, items].to_numpy(dtype=float)
        k = len(items)
        want = k / (k - 1) * (1.0 - np.trace(r) / r.sum())
        assert ctab.loc[construct, "alpha"] == pytest.approx(want, abs=1e-6)
    assert report.fit["covariance"] == "polychoric"
    assert report.fit["estimator"] == "WLSMV"


def test_cr_and_ave_from_lavaans_wlsmv_standardized_loadings(report):
    ref = pd.read_csv(ORD / "hs_cfa_ordinal_wlsmv_params.csv")
    ref = ref[ref["op"] == "=~"]
    ctab = report.constructs.set_index("construct")
    for construct in ITEMS:
        lam = ref.loc[ref["lhs"] == construct, "std.all"].to_numpy(dtype=float)
        cr = lam.sum() ** 2 / (lam.sum() ** 2 + (1.0 - lam**2).sum())
        assert ctab.loc[construct, "cr"] == pytest.approx(cr, abs=1e-3)
        assert ctab.loc[construct, "ave"] == pytest.approx(np.mean(lam**2), abs=1e-3)


def test_ordinal_reliability_refuses_fiml():
    data = pd.read_csv(ORD / "HolzingerSwineford1939_ordinal5.csv")
    with pytest.raises(ReliabilityError, match="complete rows"):
        reliability_report(specify(HS), data, ordered=True, missing="fiml")


def test_reliability_command_with_ordinal(tmp_path):
    from typer.testing import CliRunner

    from bayes_bmi.cli import app

    model = tmp_path / "hs.lav"
    model.write_text(HS)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        [
            "reliability",
            str(model),
            str(ORD / "HolzingerSwineford1939_ordinal5.csv"),
            "--out",
            str(out),
            "--ordinal",
            "all",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "CFA by WLSMV on 301 complete rows" in res.output
    assert "ordinal alpha" in res.output
    table = pd.read_csv(out / "reliability_constructs.csv")
    assert set(table["construct"]) == set(ITEMS)
