"""Do the key drivers differ between kinds of firms? Invariance and drivers by group.

Two parts, each usable alone:

* :func:`group_invariance` - measurement invariance by group (configural, metric, scalar) of
  the model's measurement part by ML (:func:`bayes_bmi.ml.invariance.invariance_table`) and
  the level that holds by the Delta-CFI rule (:func:`invariance_verdict`);
* :func:`group_path_draws` - per-group posterior draws of the driver paths as a tidy table
  (``group, driver, path, draw, estimate, std_all``). It fits the configural model: with
  independent priors per group, the configural multi-group posterior factorises into the
  per-group posteriors, so each group's rows are fitted alone (single-group
  :func:`~bayes_bmi.bayes.sampling.fit_bayes`). A joint multi-group sampler can replace this
  one function; :func:`drivers_by_group` and :func:`group_rank_probabilities` consume only
  the tidy table.

Differences are taken draw by draw against the reference group (the first group, groups in
order of first appearance in the data, as lavaan numbers them). The per-group posteriors are
independent, so pairing the ``i``-th draws of two groups samples the posterior of the
difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayes_bmi.errors import OptionError
from bayes_bmi.study.drivers import rank_probabilities
from bayes_bmi.study.hypotheses import hdi, parameter_draws

if TYPE_CHECKING:
    from bayes_bmi.bayes.sampling import BayesResult, CompileCache, SamplerConfig
    from bayes_bmi.lavaan.model import Model

__all__ = [
    "DELTA_CFI",
    "DRAW_COLUMNS",
    "GROUP_DRIVER_COLUMNS",
    "check_group_column",
    "drivers_by_group",
    "group_invariance",
    "group_path_draws",
    "group_rank_probabilities",
    "invariance_verdict",
    "ml_group_paths",
    "tidy_path_draws",
]

#: A level of invariance holds when CFI drops by at most this much from the level before
#: (Cheung and Rensvold 2002).
DELTA_CFI = 0.01
#: Columns of the tidy per-group draws.
DRAW_COLUMNS = ("group", "driver", "path", "draw", "estimate", "std_all")
#: Columns of the drivers-by-group table.
GROUP_DRIVER_COLUMNS = (
    "driver",
    "path",
    "group",
    "n",
    "std_median",
    "std_hdi_lower",
    "std_hdi_upper",
    "raw_median",
    "reference",
    "diff_median",
    "diff_hdi_lower",
    "diff_hdi_upper",
    "p_larger",
    "p_rank_1",
    "expected_rank",
    "ml_std_all",
    "ml_est",
    "ml_se",
)


# ------------------------------------------------------------------------ checks, inputs
def check_group_column(data: pd.DataFrame, column: str, items: Sequence[str], source: str) -> None:
    """Refuse a group column the data lack, a model variable, or one with fewer than 2 groups.

    Raises
    ------
    OptionError
        One line naming the column.
    """
    if column not in data.columns:
        raise OptionError(f"--group {column}: no column {column!r} in {source}")
    if column in items:
        raise OptionError(
            f"--group {column}: {column!r} is an item of the model; group by another column"
        )
    labels = data[column].dropna().astype(str).unique()
    if len(labels) < 2:
        raise OptionError(
            f"--group {column}: column {column!r} of {source} holds {len(labels)} group(s); "
            "comparing groups needs at least 2"
        )


def _labels(data: pd.DataFrame, column: str) -> list[str]:
    """Group labels in order of first appearance (lavaan's numbering)."""
    return list(pd.unique(data[column].dropna().astype(str)))


# --------------------------------------------------------------------------- invariance
def invariance_verdict(table: pd.DataFrame, delta_cfi: float = DELTA_CFI) -> tuple[str, str]:
    """The highest level that holds by Delta-CFI, and one sentence saying so with the LRTs.

    A level holds when its CFI is at most ``delta_cfi`` below the previous level's and the
    previous level holds (configural is the baseline). The likelihood-ratio test of each level
    against the one before is reported beside it; with large samples and Likert answers it
    rejects small, practically irrelevant differences, so the Delta-CFI rule decides.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`~bayes_bmi.ml.invariance.invariance_table`'s, configural first.

    Returns
    -------
    (str, str)
        The level and the sentence.
    """
    levels = table["level"].tolist()
    cfi = table["cfi"].to_numpy(dtype=float)
    held = levels[0]
    parts = []
    broken = False
    for i in range(1, len(levels)):
        drop = cfi[i - 1] - cfi[i]
        ok = bool(drop <= delta_cfi)
        p = float(table["pvalue_diff"].iloc[i])
        parts.append(
            f"{levels[i]}: Delta-CFI = {-drop:+.4f}, LRT chi2({table['df_diff'].iloc[i]:.0f}) = "
            f"{table['chisq_diff'].iloc[i]:.1f}, p = {p:.3f}"
            + ("" if p >= 0.05 else " (rejected by the LRT at .05)")
        )
        if ok and not broken:
            held = levels[i]
        broken = broken or not ok
    sentence = (
        f"Rule: a level holds when CFI drops by at most {delta_cfi:g} from the level before "
        "(Cheung and Rensvold 2002); the likelihood-ratio test (LRT) against the level before "
        "is shown beside it. "
        + "; ".join(parts)
        + f". By this rule **{held}** invariance holds"
        + (
            ": group means and paths can be compared."
            if held in ("scalar", "strict")
            else ": compare paths only with care (the items may not measure the same thing)."
        )
    )
    return held, sentence


def group_invariance(
    model: Model,
    data: pd.DataFrame,
    column: str,
    *,
    source: str = "data",
    missing: str | None = None,
    levels: Sequence[str] = ("configural", "metric", "scalar"),
) -> pd.DataFrame:
    """ML invariance table of the model's measurement part (its CFA) across groups.

    The CFA (the ``=~`` statements, labels dropped) rather than the whole model: in a
    multi-group model a label is shared by every group (lavaan), so the labelled structural
    paths would be held equal across groups at every level.

    Returns
    -------
    pandas.DataFrame
        :data:`~bayes_bmi.ml.invariance.INVARIANCE_COLUMNS`.
    """
    from bayes_bmi.ml.invariance import invariance_table
    from bayes_bmi.study.structure import measurement_syntax

    table, _ = invariance_table(
        measurement_syntax(model),
        data,
        column,
        levels=levels,
        filename=f"{model.filename or '<model>'} (measurement part)",
        source=source,
        missing=missing,
    )
    return table


def ml_group_paths(fits: Mapping[str, BayesResult], path_params: Mapping[str, str]) -> pd.DataFrame:
    """``group, driver, ml_est, ml_se, ml_std_all`` of each driver path, by group.

    From each group's ML cross-check (``fit.ml``): single-group ML fits of each group's rows,
    i.e. the configural multi-group ML fit (nothing equal across groups).
    """
    driver_of = {p: d for d, p in path_params.items()}
    frames = []
    for label, fit in fits.items():
        est = fit.ml.estimates
        rows = est[est["label"].isin(set(driver_of))]
        frames.append(
            pd.DataFrame(
                {
                    "group": label,
                    "driver": [driver_of[p] for p in rows["label"]],
                    "ml_est": rows["est"].to_numpy(dtype=float),
                    "ml_se": rows["se"].to_numpy(dtype=float),
                    "ml_std_all": rows["std_all"].to_numpy(dtype=float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- per-group posteriors
def tidy_path_draws(
    fits: Mapping[str, BayesResult], path_params: Mapping[str, str]
) -> pd.DataFrame:
    """Per-group draws of the driver paths (chains pooled) as a tidy table.

    Parameters
    ----------
    fits : mapping of str to BayesResult
        Group label -> its fit.
    path_params : mapping of str to str
        Driver -> the label of its path.

    Returns
    -------
    pandas.DataFrame
        :data:`DRAW_COLUMNS`: one row per group, driver and draw; ``estimate`` raw,
        ``std_all`` standardized within the group.
    """
    names = list(path_params.values())
    frames = []
    for label, fit in fits.items():
        raw = parameter_draws(fit, names)
        std = parameter_draws(fit, names, var="std_all")
        n = raw.shape[0]
        for j, (driver, path) in enumerate(path_params.items()):
            frames.append(
                pd.DataFrame(
                    {
                        "group": label,
                        "driver": driver,
                        "path": path,
                        "draw": np.arange(n),
                        "estimate": raw[:, j],
                        "std_all": std[:, j],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)[list(DRAW_COLUMNS)]


def group_path_draws(
    model: Model,
    data: pd.DataFrame,
    column: str,
    path_params: Mapping[str, str],
    *,
    config: SamplerConfig,
    cache: CompileCache | None = None,
    source: str = "data",
    missing: str | None = None,
) -> tuple[pd.DataFrame, dict[str, BayesResult]]:
    """Sample the configural model per group; the driver paths' draws as a tidy table.

    The configural multi-group model with independent priors per group has a posterior that
    factorises into the groups' posteriors, so each group is fitted alone (the same sampler
    settings and seed). This is the one function a joint multi-group fit replaces.

    Returns
    -------
    draws : pandas.DataFrame
        :func:`tidy_path_draws`'s table.
    fits : dict of str to BayesResult
        Group label -> its fit (for diagnostics).
    """
    from bayes_bmi.bayes.sampling import fit_bayes

    fits = {}
    for label in _labels(data, column):
        rows = data.loc[data[column].astype(str) == label]
        where = f"{source} (group {label!r} of column {column!r})"
        fits[label] = fit_bayes(
            model, rows, config=config, cache=cache, source=where, missing=missing
        )
    return tidy_path_draws(fits, path_params), fits


# ------------------------------------------------------------------------- the tables
def _wide(draws: pd.DataFrame, group: str, var: str, drivers: Sequence[str]) -> np.ndarray:
    """``n_draws x len(drivers)`` draws of one group."""
    sub = draws[draws["group"] == group]
    wide = sub.pivot(index="draw", columns="driver", values=var)
    return wide[list(drivers)].to_numpy(dtype=float)


def group_rank_probabilities(draws: pd.DataFrame, drivers: Sequence[str]) -> pd.DataFrame:
    """Each group's rank probabilities of the drivers (standardized paths; 1 = largest).

    Returns
    -------
    pandas.DataFrame
        ``group, driver, rank, probability``; within a group, each driver's probabilities
        sum to 1 (:func:`~bayes_bmi.study.drivers.rank_probabilities` on the group's draws).
    """
    frames = []
    for group in pd.unique(draws["group"]):
        rp = rank_probabilities(_wide(draws, group, "std_all", drivers), list(drivers))
        long = rp.stack().rename("probability").reset_index()
        long.insert(0, "group", group)
        frames.append(long)
    return pd.concat(frames, ignore_index=True)


def drivers_by_group(
    draws: pd.DataFrame,
    drivers: Sequence[str],
    *,
    ml: pd.DataFrame | None = None,
    n: Mapping[str, int] | None = None,
    ci_prob: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-group posterior of each driver path, its difference from the reference group, ranks.

    Parameters
    ----------
    draws : pandas.DataFrame
        :data:`DRAW_COLUMNS` (:func:`group_path_draws`); groups in order of appearance, the
        first the reference. Every group must have the same number of draws.
    drivers : sequence of str
        The drivers to tabulate (and rank among), in order.
    ml : pandas.DataFrame, optional
        :func:`ml_group_paths`'s table (``ml_*`` columns NaN without it).
    n : mapping of str to int, optional
        Cases per group.
    ci_prob : float

    Returns
    -------
    table : pandas.DataFrame
        :data:`GROUP_DRIVER_COLUMNS`, one row per driver and group. ``diff_*`` is the group's
        standardized path minus the reference group's, draw by draw (0 draws-wide and NaN
        HDI for the reference itself); ``p_larger`` = P(path larger in this group than in the
        reference); ``p_rank_1``, ``expected_rank`` from :func:`group_rank_probabilities`.
    ranks : pandas.DataFrame
        :func:`group_rank_probabilities`'s table.
    """
    groups = list(pd.unique(draws["group"]))
    if len(groups) < 2:
        raise ValueError("drivers_by_group needs draws of at least two groups")
    sizes = {g: int((draws["group"] == g).sum()) for g in groups}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"every group needs the same number of draws, got {sizes}")
    ref = groups[0]
    ranks = group_rank_probabilities(draws, drivers)
    rank_of = ranks.assign(weighted=ranks["rank"] * ranks["probability"])
    expected = rank_of.groupby(["group", "driver"])["weighted"].sum()
    first = ranks[ranks["rank"] == 1].set_index(["group", "driver"])["probability"]
    std = {g: _wide(draws, g, "std_all", drivers) for g in groups}
    raw = {g: _wide(draws, g, "estimate", drivers) for g in groups}
    path_of = draws.drop_duplicates("driver").set_index("driver")["path"]
    ml_at = ml.set_index(["group", "driver"]) if ml is not None else None
    rows = []
    for j, driver in enumerate(drivers):
        for g in groups:
            x = std[g][:, j]
            lo, hi = hdi(x, ci_prob)
            diff = x - std[ref][:, j]
            d_lo, d_hi = hdi(diff, ci_prob) if g != ref else (np.nan, np.nan)
            ml_row = ml_at.loc[(g, driver)] if ml_at is not None else None
            rows.append(
                {
                    "driver": driver,
                    "path": path_of[driver],
                    "group": g,
                    "n": (n or {}).get(g, np.nan),
                    "std_median": float(np.median(x)),
                    "std_hdi_lower": lo,
                    "std_hdi_upper": hi,
                    "raw_median": float(np.median(raw[g][:, j])),
                    "reference": ref,
                    "diff_median": float(np.median(diff)) if g != ref else np.nan,
                    "diff_hdi_lower": d_lo,
                    "diff_hdi_upper": d_hi,
                    "p_larger": float(np.mean(diff > 0)) if g != ref else np.nan,
                    "p_rank_1": float(first[(g, driver)]),
                    "expected_rank": float(expected[(g, driver)]),
                    "ml_std_all": float(ml_row["ml_std_all"]) if ml_row is not None else np.nan,
                    "ml_est": float(ml_row["ml_est"]) if ml_row is not None else np.nan,
                    "ml_se": float(ml_row["ml_se"]) if ml_row is not None else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=list(GROUP_DRIVER_COLUMNS)), ranks
