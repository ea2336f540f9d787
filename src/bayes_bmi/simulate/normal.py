"""Multivariate-normal data from any model's implied moments.

Pure: no I/O, no global random state; the seed is explicit. Knows nothing of any particular
study: give it a :class:`~bayes_bmi.lavaan.model.Model` and one value per parameter-table row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_bmi.lavaan.model import Model
from bayes_bmi.lavaan.representation import fill_matrices, implied_moments

__all__ = ["Seed", "simulate_normal"]

#: What :func:`numpy.random.default_rng` accepts as a seed.
Seed = int | np.random.SeedSequence | np.random.Generator


def simulate_normal(model: Model, values: Sequence[float], n: int, seed: Seed) -> pd.DataFrame:
    """Draw multivariate-normal data from a model's implied moments.

    Parameters
    ----------
    model : Model
        Any specified model.
    values : sequence of float
        One value per parameter-table row (free and fixed; ``:=`` rows are ignored), e.g.
        :attr:`bayes_bmi.ml.fit.MLResult.values`.
    n : int
        Number of rows to draw.
    seed : int, numpy.random.SeedSequence or numpy.random.Generator
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    pandas.DataFrame
        ``n`` rows, one column per observed variable in model order.

    Raises
    ------
    ValueError
        If ``values`` has the wrong length or non-finite entries, or the implied covariance
        matrix is not positive definite.

    Notes
    -----
    Draws are ``mu + Z L'`` with ``L`` the Cholesky factor of the implied ``Sigma`` and ``Z``
    standard normal, so a seed gives the same data on every platform up to rounding.
    """
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    vals = np.asarray(values, dtype=float)
    pt = model.partable
    if vals.shape != (len(pt),):
        raise ValueError(
            f"values must hold one number per parameter-table row ({len(pt)}), got shape "
            f"{vals.shape}"
        )
    used = (pt["op"] != ":=").to_numpy()
    if not np.all(np.isfinite(vals[used])):
        bad = np.flatnonzero(used & ~np.isfinite(vals))[0]
        raise ValueError(
            f"value of row {bad + 1} ({pt['lhs'].iat[bad]} {pt['op'].iat[bad]} "
            f"{pt['rhs'].iat[bad]}) is not finite"
        )
    sigma, mu = implied_moments(fill_matrices(model.representation, vals))
    try:
        chol = np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            "the implied covariance matrix is not positive definite at these values"
        ) from exc
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(model.ov_names)))
    return pd.DataFrame(mu + z @ chol.T, columns=list(model.ov_names))
