"""Stage 2 of the measurement work: expert screening of candidate elements.

Experts rate each candidate element on a Likert scale (1-5 by default). An element passes when
its mean rating is high enough and the experts agree on it (coefficient of variation small
enough). Overall agreement on the ranking of the elements is Kendall's coefficient of
concordance W, with the correction for tied ratings, tested by ``chi2 = m (n - 1) W`` on
``n - 1`` degrees of freedom (m experts, n elements).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from bayes_bmi.errors import BayesBmiError

__all__ = ["ExpertError", "expert_screening", "kendall_w"]

ID_NAMES = frozenset({"expert", "expert_id", "id", "rater", "respondent", "name"})
SCREENING_COLUMNS = ("element", "n", "mean", "sd", "cv", "median", "mean_rank", "passes")


class ExpertError(BayesBmiError):
    """Expert ratings that cannot be screened; the message says where."""


def kendall_w(ratings: np.ndarray) -> tuple[float, float, int, float]:
    """Kendall's coefficient of concordance with the correction for ties.

    Parameters
    ----------
    ratings : numpy.ndarray
        ``m x n`` array: m raters (rows) rate n objects (columns). Each rater's ratings are
        ranked across the objects, ties getting their average rank.

    Returns
    -------
    w : float
        ``12 S / (m^2 (n^3 - n) - m sum T)``, where ``S`` is the sum of squared deviations of
        the objects' rank sums from their mean and ``T = sum (t^3 - t)`` over each rater's
        groups of t tied ratings. NaN when every rater ties every object.
    chi2 : float
        ``m (n - 1) W`` (Friedman's statistic).
    df : int
        ``n - 1``.
    pvalue : float
        Upper tail of the chi-square distribution.
    """
    x = np.asarray(ratings, dtype=float)
    m, n = x.shape
    ranks = sps.rankdata(x, axis=1)
    rank_sums = ranks.sum(axis=0)
    s = float(((rank_sums - rank_sums.mean()) ** 2).sum())
    ties = 0.0
    for row in x:
        _, counts = np.unique(row, return_counts=True)
        ties += float((counts**3 - counts).sum())
    denominator = m**2 * (n**3 - n) - m * ties
    df = n - 1
    if denominator <= 0:
        return float("nan"), float("nan"), df, float("nan")
    w = 12.0 * s / denominator
    chi2 = m * (n - 1) * w
    return w, chi2, df, float(sps.chi2.sf(chi2, df))


def _split_id(
    ratings: pd.DataFrame, id_column: str | None
) -> tuple[pd.Series | None, pd.DataFrame]:
    if ratings.shape[1] == 0:
        raise ExpertError("the ratings table has no columns")
    if id_column is not None:
        if id_column not in ratings.columns:
            raise ExpertError(f"id column '{id_column}' is not in the ratings table")
        return ratings[id_column], ratings.drop(columns=[id_column])
    first = ratings.columns[0]
    col = ratings.iloc[:, 0]
    numeric = pd.to_numeric(col, errors="coerce")
    if str(first).strip().lower() in ID_NAMES or (col.notna().any() and numeric.isna().all()):
        return col, ratings.iloc[:, 1:]
    return None, ratings


def _validated(
    values: pd.DataFrame, ids: pd.Series | None, scale: tuple[float, float]
) -> np.ndarray:
    lo, hi = scale
    out = np.empty(values.shape, dtype=float)
    for j, column in enumerate(values.columns):
        col = values.iloc[:, j]
        for i, value in enumerate(col.tolist()):
            where = f"row {i + 1}" + (f" (expert {ids.iloc[i]})" if ids is not None else "")
            if pd.isna(value) or (isinstance(value, str) and not value.strip()):
                raise ExpertError(
                    f"{where}, column '{column}': the rating is empty; every expert must rate "
                    "every element (Kendall's W needs complete rankings)"
                )
            if isinstance(value, bool | np.bool_):
                raise ExpertError(f"{where}, column '{column}': {value!r} is not a rating")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ExpertError(
                    f"{where}, column '{column}': {value!r} is not a number"
                ) from None
            if not lo <= number <= hi:
                raise ExpertError(
                    f"{where}, column '{column}': rating {number:g} is outside the scale "
                    f"{lo:g}-{hi:g}"
                )
            out[i, j] = number
    return out


def expert_screening(
    ratings: pd.DataFrame,
    *,
    min_mean: float = 3.5,
    max_cv: float = 0.25,
    scale: tuple[float, float] = (1, 5),
    id_column: str | None = None,
) -> tuple[pd.DataFrame, dict[str, float | int]]:
    """Screen candidate elements by the experts' mean rating, dispersion and concordance.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Experts (rows) x elements (columns). The first column is taken as an expert id when
        ``id_column`` is not given and it is named ``expert``, ``expert_id``, ``id``,
        ``rater``, ``respondent`` or ``name``, or holds no numbers at all.
    min_mean : float
        An element passes when its mean rating is at least this ...
    max_cv : float
        ... and its coefficient of variation (SD / mean) is at most this.
    scale : tuple of float
        Lowest and highest possible rating.
    id_column : str, optional
        Name of the expert-id column, overriding the detection above.

    Returns
    -------
    screening : pandas.DataFrame
        One row per element, in input order: ``element, n, mean, sd`` (n - 1 divisor),
        ``cv, median, mean_rank`` (mean within-expert rank, ties averaged; higher = rated
        higher), ``passes``.
    summary : dict
        ``kendall_w, chi2, df, pvalue, n_experts, n_elements, n_passing, min_mean, max_cv``.

    Raises
    ------
    ExpertError
        On fewer than 2 experts or elements, an empty or non-numeric cell, or a rating outside
        the scale (the message names the 1-based data row and the column).
    """
    lo, hi = scale
    if not lo < hi:
        raise ExpertError(f"scale must be (lowest, highest) with lowest < highest, got {scale}")
    if not max_cv > 0:
        raise ExpertError(f"max_cv must be positive, got {max_cv}")
    ids, values = _split_id(ratings, id_column)
    m, n = values.shape
    if m < 2:
        raise ExpertError(f"at least 2 experts are needed, the table has {m}")
    if n < 2:
        raise ExpertError(f"at least 2 elements are needed, the table has {n}")
    x = _validated(values, ids, (lo, hi))
    mean = x.mean(axis=0)
    sd = x.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.where(mean != 0, sd / mean, np.nan)
    ranks = sps.rankdata(x, axis=1)
    out = pd.DataFrame(
        {
            "element": [str(c) for c in values.columns],
            "n": m,
            "mean": mean,
            "sd": sd,
            "cv": cv,
            "median": np.median(x, axis=0),
            "mean_rank": ranks.mean(axis=0),
        }
    )
    out["passes"] = (out["mean"] >= min_mean) & (out["cv"] <= max_cv)
    w, chi2, df, pvalue = kendall_w(x)
    summary: dict[str, float | int] = {
        "kendall_w": w,
        "chi2": chi2,
        "df": df,
        "pvalue": pvalue,
        "n_experts": m,
        "n_elements": n,
        "n_passing": int(out["passes"].sum()),
        "min_mean": float(min_mean),
        "max_cv": float(max_cv),
    }
    return out[list(SCREENING_COLUMNS)], summary
