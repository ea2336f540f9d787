"""Posterior ranks of effects: which parameter is largest, and how sure the posterior is.

Pure functions on a draws matrix (``n_draws x k``, one column per parameter). The study's
ranking of effects (:mod:`bayes_bmi.study`) and the prior sensitivity analysis
(:mod:`bayes_bmi.calibration.sensitivity`) both rank with :func:`rank_probabilities`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["draws_matrix", "expected_ranks", "rank_probabilities"]


def draws_matrix(draws: np.ndarray, names: Sequence[str], what: str = "parameter") -> np.ndarray:
    """``draws`` as a finite float ``n_draws x len(names)`` matrix, or a ``ValueError``.

    ``what`` names a column in the messages (``"parameter"``, or the caller's word).
    """
    x = np.asarray(draws, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(names):
        raise ValueError(
            f"draws must be a (n_draws, {len(names)}) matrix, one column per {what}; "
            f"got shape {x.shape}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names must be unique")
    if not np.all(np.isfinite(x)):
        raise ValueError("draws contain non-finite values")
    return x


def rank_probabilities(
    draws: np.ndarray,
    names: Sequence[str],
    *,
    absolute: bool = False,
    what: str = "parameter",
) -> pd.DataFrame:
    """Posterior probability of each column taking each rank.

    Parameters
    ----------
    draws : numpy.ndarray
        ``n_draws x k`` effects, one column per parameter.
    names : sequence of str
        The parameters, in column order.
    absolute : bool
        Rank by ``|effect|`` instead of the signed effect.
    what : str
        Name of the index (and of a column in messages).

    Returns
    -------
    pandas.DataFrame
        Index ``what``, columns ``1 .. k`` (name ``rank``; 1 = largest effect): the share of
        draws in which the parameter has that rank. Rows and columns each sum to 1.
    """
    x = draws_matrix(draws, names, what)
    x = np.abs(x) if absolute else x
    k = x.shape[1]
    order = np.argsort(-x, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, k + 1)[None, :], axis=1)
    probs = np.stack([np.mean(ranks == r, axis=0) for r in range(1, k + 1)], axis=1)
    return pd.DataFrame(
        probs,
        index=pd.Index(list(names), name=what),
        columns=pd.Index(range(1, k + 1), name="rank"),
    )


def expected_ranks(probs: pd.DataFrame) -> pd.Series:
    """Posterior expected rank of each row of :func:`rank_probabilities` (1 = largest)."""
    ranks = probs.columns.to_numpy(dtype=float)
    return pd.Series(probs.to_numpy() @ ranks, index=probs.index, name="expected_rank")
