"""Posterior predictive check of ordinal fits (bivariate-table X^2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayes_bmi as bb
from bayes_bmi.bayes.sampling import CompileCache
from bayes_bmi.checking.ordinal_ppc import _cell_probabilities, ordinal_check
from bayes_bmi.errors import OptionError
from bayes_bmi.ml.ordinal.polychoric import pair_index

ORD = Path(__file__).parent / "data" / "ordinal"
THREE = """
visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
"""
ONE = "g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9"


def test_cell_probabilities_are_bivariate_normal_rectangles():
    ncat = np.array([3, 4, 2])
    tau = np.array([-0.5, 0.7, -1.0, 0.0, 0.8, 0.3])
    mu = np.array([0.2, -0.1, 0.0])
    sd = np.array([1.5, 0.8, 1.1])
    corr = np.array([[1.0, 0.4, -0.3], [0.4, 1.0, 0.6], [-0.3, 0.6, 1.0]])
    i, j = pair_index(3)
    prob = _cell_probabilities(tau, sd, mu, corr, i, j, ncat, 4)
    assert prob.shape == (3, 4, 4)
    np.testing.assert_allclose(prob.sum(axis=(1, 2)), 1.0, atol=1e-12)
    # one inner cell against scipy's bivariate normal CDF on the raw scale
    q = int(np.flatnonzero(((i == 0) & (j == 1)) | ((i == 1) & (j == 0)))[0])
    cov = np.array([[sd[0] ** 2, 0.4 * sd[0] * sd[1]], [0.4 * sd[0] * sd[1], sd[1] ** 2]])
    mvn = stats.multivariate_normal(mean=mu[:2], cov=cov)
    lo, hi = np.array([tau[0], tau[2]]), np.array([tau[1], tau[3]])
    want = mvn.cdf(hi) - mvn.cdf([lo[0], hi[1]]) - mvn.cdf([hi[0], lo[1]]) + mvn.cdf(lo)
    assert prob[q, 1, 1] == pytest.approx(want, abs=1e-6)  # the middle cell of both items
    # cells beyond an item's categories have probability 0
    two = np.flatnonzero(i == 2)  # item 2 has 2 categories: rows 2 and 3 are empty
    assert prob[two, 2:, :].sum() == pytest.approx(0.0, abs=1e-14)
    assert prob[j == 0][:, :, 3].sum() == pytest.approx(0.0, abs=1e-14)  # item 0: 3 cats


def test_ordinal_check_refuses_a_continuous_fit():
    class Fake:
        ordinal = None

    with pytest.raises(OptionError, match="ordinal fit"):
        ordinal_check(Fake())


@pytest.mark.slow
def test_ppp_separates_the_right_model_from_a_wrong_one():
    """Ordinal HS (5 categories): three factors fit (PPP not small); one factor does not."""
    data = pd.read_csv(ORD / "HolzingerSwineford1939_ordinal5.csv")
    cache = CompileCache()
    opts = {"ordered": True, "draws": 300, "tune": 400, "chains": 2, "progress": False}
    good = bb.sem(THREE, data, seed=3, cache=cache, **opts)
    bad = bb.sem(ONE, data, seed=3, cache=cache, **opts)
    g = ordinal_check(good.result, draws=150)
    b = ordinal_check(bad.result, draws=150)
    assert g.ppp > 0.05
    assert b.ppp < 0.05
    assert len(g.pairs) == 36 and g.draws.shape[0] == 150
    # the one-factor model's worst pairs are across factors' items
    assert b.pairs["observed"].iloc[:5].mean() > g.pairs["observed"].iloc[:5].mean()
