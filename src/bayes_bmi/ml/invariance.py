"""Measurement invariance: a sequence of nested multi-group ML fits and their LR tests.

Each level adds equality constraints across groups (lavaan's ``group.equal``) to the one
before: configural (none), metric (``loadings``), scalar (``+ intercepts``), strict
(``+ residuals``), and then any ``group.equal`` kind by name (``lv.variances``, ``means``, ...).
The likelihood-ratio test of a level against the one before is lavaan's ``anova()`` /
``lavTestLRT()`` for ML: the difference of the chi-squares, on the difference of the degrees of
freedom.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import replace

import pandas as pd
from scipy import stats as sps

from bayes_bmi.errors import OptionError
from bayes_bmi.lavaan.model import specify
from bayes_bmi.lavaan.partable import GROUP_EQUAL, ModelOptions
from bayes_bmi.ml.fit import MLResult
from bayes_bmi.ml.groups import fit_ml_groups, split_groups

__all__ = ["LEVELS", "INVARIANCE_COLUMNS", "invariance_table", "level_constraints"]

#: Named invariance levels and their ``group.equal`` (a level also keeps the levels before).
LEVELS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "metric": ("loadings",),
    "scalar": ("loadings", "intercepts"),
    "strict": ("loadings", "intercepts", "residuals"),
}

INVARIANCE_COLUMNS = (
    "level",
    "group_equal",
    "npar",
    "chisq",
    "df",
    "pvalue",
    "cfi",
    "tli",
    "rmsea",
    "srmr",
    "aic",
    "bic",
    "chisq_diff",
    "df_diff",
    "pvalue_diff",
)


def level_constraints(levels: Sequence[str]) -> list[tuple[str, ...]]:
    """The cumulative ``group_equal`` of each level (a level name or a ``group.equal`` kind).

    Raises
    ------
    OptionError
        An unknown level (with the closest name), or none at all.
    """
    if isinstance(levels, str):
        levels = [levels]
    if not levels:
        raise OptionError("levels: give at least one level, e.g. configural,metric,scalar")
    choices = [*LEVELS, *GROUP_EQUAL]
    out: list[tuple[str, ...]] = []
    current: list[str] = []
    for level in levels:
        if level not in choices:
            close = difflib.get_close_matches(str(level), choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(
                f"levels: unknown level {level!r}{hint}. Must be among: {', '.join(choices)}"
            )
        for kind in LEVELS.get(level, (level,)):
            if kind not in current:
                current.append(kind)
        out.append(tuple(current))
    return out


def invariance_table(
    text: str,
    data: pd.DataFrame,
    group: str,
    *,
    levels: Sequence[str] = ("configural", "metric", "scalar"),
    options: ModelOptions | None = None,
    filename: str | None = None,
    source: str = "data",
    missing: str | None = None,
) -> tuple[pd.DataFrame, list[MLResult]]:
    """Fit the model at each invariance level and test each against the one before.

    Parameters
    ----------
    text : str
        The model in lavaan syntax.
    data : pandas.DataFrame
    group : str
        The grouping column.
    levels : sequence of str
        Level names (:data:`LEVELS`) or ``group.equal`` kinds, each adding its constraints to
        those before.
    options : ModelOptions, optional
        Other table options (``std_lv``, ``group_partial``); ``ngroups`` and ``group_equal``
        are set per level.
    filename, source : str, optional
        For messages.
    missing : {"fiml", "listwise"} or None
        As :func:`bayes_bmi.ml.groups.fit_ml_groups`.

    Returns
    -------
    table : pandas.DataFrame
        One row per level, columns :data:`INVARIANCE_COLUMNS`; the ``*_diff`` columns are
        NaN in the first row.
    fits : list of MLResult
    """
    constraints = level_constraints(levels)
    ngroups = len(split_groups(data, group, source).labels)
    base = options or ModelOptions()
    rows, fits = [], []
    prev: MLResult | None = None
    for level, equal in zip(levels, constraints, strict=True):
        opts = replace(base, ngroups=ngroups, group_equal=equal)
        model = specify(text, filename=filename, options=opts)
        fit = fit_ml_groups(model, data, group, source=source, missing=missing)
        f = fit.fit
        row = {"level": level, "group_equal": ",".join(equal)}
        row.update({k: f[k] for k in INVARIANCE_COLUMNS[2:12]})
        if prev is None:
            row.update(chisq_diff=math.nan, df_diff=math.nan, pvalue_diff=math.nan)
        else:
            diff = f["chisq"] - prev.fit["chisq"]
            ddf = f["df"] - prev.fit["df"]
            p = float(sps.chi2.sf(diff, ddf)) if ddf > 0 else math.nan
            row.update(chisq_diff=diff, df_diff=ddf, pvalue_diff=p)
        rows.append(row)
        fits.append(fit)
        prev = fit
    return pd.DataFrame(rows, columns=list(INVARIANCE_COLUMNS)), fits
