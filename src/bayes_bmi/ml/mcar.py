"""Little's (1988) test of data missing completely at random (MCAR).

Under MCAR every missingness pattern's cases are a random sample of the same multivariate
normal population, so each pattern's mean on its observed variables should lie near the
population mean. With ``mu, Sigma`` the ML (EM) estimates of the unrestricted moments
(:func:`bayes_bmi.ml.fiml.em_saturated`) and ``ybar_k`` the mean of the ``n_k`` cases of
pattern ``k`` on its observed variables ``O_k``::

    d2 = sum_k n_k (ybar_k - mu_O)' Sigma_OO^-1 (ybar_k - mu_O),   df = sum_k |O_k| - p,

and ``d2`` is asymptotically chi-square with ``df`` degrees of freedom under MCAR. A small
p-value says that the patterns differ in their means, so the data are not MCAR (they may still
be missing at random, where full-information ML stays unbiased; no test can tell MAR from
missing not at random). This is the statistic of R's ``naniar::mcar_test`` and
``BaylorEdPsych::LittleMCAR``.

Little, R. J. A. (1988). A test of missing completely at random for multivariate data with
missing values. *Journal of the American Statistical Association*, 83(404), 1198-1202.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from bayes_bmi.data import MissingPatterns
from bayes_bmi.ml.fiml import em_saturated

__all__ = ["MCARTest", "little_mcar"]


@dataclass(frozen=True)
class MCARTest:
    """Result of :func:`little_mcar`.

    Attributes
    ----------
    statistic : float
        Little's ``d2``.
    df : int
        ``sum_k |O_k| - p``; 0 when every case is complete (no test).
    pvalue : float
        Upper tail of the chi-square distribution; NaN when ``df == 0``.
    npatterns : int
        Number of missingness patterns.
    n : int
        Number of cases used (rows with every variable missing are left out).
    em_converged : bool
        Whether the EM estimates of the moments converged.
    singletons : int
        Patterns with a single case. When they are many, the chi-square approximation is
        rough and the test has little power.
    """

    statistic: float
    df: int
    pvalue: float
    npatterns: int
    n: int
    em_converged: bool = True
    singletons: int = 0

    @property
    def tested(self) -> bool:
        """Whether there is a test (some case has a missing cell)."""
        return self.df > 0

    def describe(self, alpha: float = 0.05) -> str:
        """One sentence: the statistic and what it says at level ``alpha``."""
        if not self.tested:
            return "Little's MCAR test: no missing cells, nothing to test"
        verdict = (
            "the patterns differ in their means: the data are not missing completely at random"
            if self.pvalue < alpha
            else "no evidence against missing completely at random"
        )
        caveat = ""
        if 2 * self.singletons > self.npatterns:
            caveat = (
                f"; {self.singletons} of the {self.npatterns} patterns hold a single case, so "
                "the chi-square approximation is rough"
                + ("" if self.pvalue < alpha else " and the test has little power")
            )
        return (
            f"Little's MCAR test: chi-square = {self.statistic:.2f}, df = {self.df}, "
            f"p = {self.pvalue:.3g} ({self.npatterns} patterns, n = {self.n}): {verdict}" + caveat
        )

    def to_dict(self) -> dict[str, float | int | bool]:
        """The fields as a JSON-ready mapping."""
        return {
            "statistic": self.statistic,
            "df": self.df,
            "pvalue": self.pvalue,
            "npatterns": self.npatterns,
            "n": self.n,
            "em_converged": self.em_converged,
            "singletons": self.singletons,
        }


def little_mcar(patterns: MissingPatterns) -> MCARTest:
    """Little's chi-square test of missing completely at random.

    Parameters
    ----------
    patterns : MissingPatterns
        The cases grouped by missingness pattern (:func:`bayes_bmi.data.missing_patterns`).

    Returns
    -------
    MCARTest
        With complete data ``df = 0``, ``statistic = 0`` and a NaN p-value.
    """
    p = patterns.p
    df = int(patterns.observed.sum()) - p
    if df <= 0:
        return MCARTest(0.0, 0, math.nan, patterns.npatterns, patterns.n)
    mu, sigma, _, converged = em_saturated(patterns)
    d2 = 0.0
    for k, obs in enumerate(patterns.index):
        d = patterns.mean[k, obs] - mu[obs]
        d2 += float(patterns.counts[k]) * float(d @ np.linalg.solve(sigma[np.ix_(obs, obs)], d))
    return MCARTest(
        statistic=d2,
        df=df,
        pvalue=float(stats.chi2.sf(d2, df)),
        npatterns=patterns.npatterns,
        n=patterns.n,
        em_converged=bool(converged),
        singletons=int((patterns.counts == 1).sum()),
    )
