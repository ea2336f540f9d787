"""Stage 1 of the measurement work: how often earlier studies used each candidate element.

The input is a coding table with one row per study, identifying columns (``author, year,
source``) and one 0/1 column per candidate element (1 = the study's framework contains the
element). :func:`element_frequencies` counts and ranks the elements (pure: reading the CSV
belongs to the caller); :func:`bayes_bmi.plots.measurement.plot_element_frequencies` draws
them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_bmi.errors import BayesBmiError

__all__ = ["LiteratureError", "element_frequencies"]

FREQUENCY_COLUMNS = ("element", "count", "share", "selected")


class LiteratureError(BayesBmiError):
    """A literature coding table that cannot be counted; the message says where."""


def _check_cell(value: object) -> float | None:
    """Return 0.0 or 1.0 for a valid 0/1 cell, ``None`` otherwise."""
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, str):
        value = value.strip()
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number in (0.0, 1.0) else None


def element_frequencies(
    table: pd.DataFrame,
    *,
    id_columns: Sequence[str] = ("author", "year", "source"),
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Count how many studies use each candidate element.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per study; the columns in ``id_columns`` identify it (those present are left
        out of the count) and every other column is a candidate element coded 0 or 1.
    id_columns : sequence of str
        Columns that identify a study rather than code an element.
    threshold : float
        An element is ``selected`` when its share of studies is at least this (0 to 1).

    Returns
    -------
    pandas.DataFrame
        Columns ``element, count, share, selected``, sorted by count (descending), then by
        element name.

    Raises
    ------
    LiteratureError
        When the threshold is outside [0, 1], there are no studies or no element columns, or a
        cell is not 0 or 1 (the message names its 1-based data row and its column).
    """
    if not 0.0 <= threshold <= 1.0:
        raise LiteratureError(f"threshold must be between 0 and 1, got {threshold}")
    if table.shape[0] == 0:
        raise LiteratureError("the literature table has no studies (no data rows)")
    ids = {str(c) for c in id_columns}
    elements = [str(c) for c in table.columns if str(c) not in ids]
    if not elements:
        raise LiteratureError(
            "the literature table has no element columns besides "
            f"{', '.join(sorted(ids))}; add one 0/1 column per candidate element"
        )
    duplicated = sorted({e for e in elements if elements.count(e) > 1})
    if duplicated:
        raise LiteratureError(f"duplicated element column(s): {', '.join(duplicated)}")
    counts = []
    for pos, column in enumerate(table.columns):
        if str(column) in ids:
            continue
        values = table.iloc[:, pos].tolist()
        coded = []
        for row, value in enumerate(values, start=1):
            cell = _check_cell(value)
            if cell is None:
                shown = "an empty cell" if pd.isna(value) else repr(value)
                raise LiteratureError(
                    f"row {row}, column '{column}': {shown} is not 0 or 1 "
                    "(code 1 when the study uses the element, 0 when it does not)"
                )
            coded.append(cell)
        counts.append(int(sum(coded)))
    n_studies = table.shape[0]
    out = pd.DataFrame({"element": elements, "count": counts})
    out["share"] = out["count"] / n_studies
    out["selected"] = out["share"] >= threshold
    out = out.sort_values(["count", "element"], ascending=[False, True], kind="mergesort")
    return out.reset_index(drop=True)[list(FREQUENCY_COLUMNS)]
