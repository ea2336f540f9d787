"""Missing cells for simulation studies: missing completely at random, or at random (MAR).

Pure: the data are not changed in place and the seed is explicit. Under MAR a cell's chance of
being missing depends only on values that are always observed (Rubin's definition), here a
logistic function of one observed column, so full-information ML stays consistent while
listwise deletion selects cases on that column and biases what correlates with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_bmi.simulate.normal import Seed

__all__ = ["make_mar", "make_mcar"]


def make_mcar(data: pd.DataFrame, columns: Sequence[str], rate: float, seed: Seed) -> pd.DataFrame:
    """Blank each cell of ``columns`` independently with probability ``rate``.

    Parameters
    ----------
    data : pandas.DataFrame
    columns : sequence of str
    rate : float
        In ``[0, 1)``.
    seed : int, numpy.random.SeedSequence or numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        A copy with NaN in the blanked cells.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must lie in [0, 1), got {rate}")
    rng = np.random.default_rng(seed)
    out = data.copy()
    cols = list(columns)
    mask = rng.random((len(out), len(cols))) < rate
    out[cols] = out[cols].mask(mask)
    return out


def make_mar(
    data: pd.DataFrame,
    columns: Sequence[str],
    cause: str,
    rate: float,
    seed: Seed,
    strength: float = 1.5,
) -> pd.DataFrame:
    """Blank cells of ``columns`` with a probability that rises with the observed ``cause``.

    Each cell of ``columns`` is missing with probability ``logistic(a + strength * z)``, where
    ``z`` is ``cause`` standardized and ``a`` is chosen (by bisection) so that the expected
    share of missing cells in ``columns`` is ``rate``. ``cause`` itself stays complete.

    Parameters
    ----------
    data : pandas.DataFrame
    columns : sequence of str
        The columns that lose cells (``cause`` must not be one of them).
    cause : str
        The always-observed column the missingness depends on.
    rate : float
        Expected share of missing cells in ``columns``, in ``[0, 1)``.
    seed : int, numpy.random.SeedSequence or numpy.random.Generator
    strength : float
        Log-odds per standard deviation of ``cause``; 0 gives MCAR.

    Returns
    -------
    pandas.DataFrame
        A copy with NaN in the blanked cells.
    """
    cols = list(columns)
    if cause in cols:
        raise ValueError(f"the cause of missingness {cause!r} must stay observed")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must lie in [0, 1), got {rate}")
    x = data[cause].to_numpy(dtype=float)
    if np.isnan(x).any():
        raise ValueError(f"the cause of missingness {cause!r} has missing values")
    z = (x - x.mean()) / (x.std() or 1.0)
    lo, hi = -50.0, 50.0
    for _ in range(200):  # mean probability is increasing in a
        a = 0.5 * (lo + hi)
        if np.mean(1.0 / (1.0 + np.exp(-(a + strength * z)))) < rate:
            lo = a
        else:
            hi = a
    prob = 1.0 / (1.0 + np.exp(-(0.5 * (lo + hi) + strength * z)))
    rng = np.random.default_rng(seed)
    mask = rng.random((len(data), len(cols))) < prob[:, None]
    out = data.copy()
    out[cols] = out[cols].mask(mask)
    return out
