"""Data loading, validation and sample statistics.

Reading files is the only I/O here (:func:`read_data`); everything else is pure. The checks of
a model's data (columns present, cells numeric, complete cases, variance) live here and only
here: :func:`select_model_data`, :func:`complete_cases`, :func:`sample_stats`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_bmi.errors import DataError, existing_file

__all__ = [
    "DataError",
    "SampleStats",
    "complete_cases",
    "read_data",
    "sample_stats",
    "select_model_data",
]


@dataclass(frozen=True)
class SampleStats:
    """Sufficient statistics of complete multivariate-normal data.

    Attributes
    ----------
    names : tuple of str
        Variable names, in the model's order.
    n : int
        Number of complete cases.
    mean : numpy.ndarray
        Sample means.
    cov : numpy.ndarray
        Maximum-likelihood covariance matrix (divisor ``n``), as lavaan uses.
    n_dropped : int
        Cases removed by listwise deletion.
    """

    names: tuple[str, ...]
    n: int
    mean: np.ndarray
    cov: np.ndarray
    n_dropped: int = 0

    @property
    def p(self) -> int:
        """Number of variables."""
        return len(self.names)


def read_data(path: str | Path) -> pd.DataFrame:
    """Read a data file (CSV, TSV, XLSX or SPSS ``.sav``) into a DataFrame.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataError
        If the file is missing, empty or of an unknown type.
    """
    path = existing_file(path, "data", DataError)
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            df = pd.read_csv(path, na_values=["NA", ".", ""])
        elif suffix == ".tsv":
            df = pd.read_csv(path, sep="\t", na_values=["NA", ".", ""])
        elif suffix in (".xlsx", ".xls"):
            df = pd.read_excel(path)
        elif suffix == ".sav":
            df = pd.read_spss(path)
        else:
            raise DataError(
                f"{path}: unknown data format '{suffix}'. Must be one of: .csv, .tsv, .xlsx, .sav"
            )
    except DataError:
        raise
    except ImportError as exc:
        raise DataError(f"{path}: reading {suffix} files needs an extra package: {exc}") from exc
    except Exception as exc:  # parser errors from pandas carry the line
        raise DataError(f"{path}: could not be read: {exc}") from exc
    if df.shape[0] == 0:
        raise DataError(f"{path}: the file has no data rows")
    return df


def select_model_data(
    df: pd.DataFrame,
    names: Sequence[str],
    source: str = "data",
    *,
    explain: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Select the model's observed variables from a data frame and check them.

    Parameters
    ----------
    df : pandas.DataFrame
    names : sequence of str
        Observed variables of the model.
    source : str
        Name of the data source, for messages.
    explain : mapping of str to str, optional
        What the model knows about a variable, said instead of the list of columns when that
        variable is missing (e.g. "is used in a regression but is neither a latent variable
        ..."): the message is ``"{source}: '{name}' {explain[name]}"``.

    Returns
    -------
    pandas.DataFrame
        The selected columns as floats.

    Raises
    ------
    DataError
        If a variable is missing (close matches are listed) or a column is not numeric (the
        first offending row is named).
    """
    columns = [str(c) for c in df.columns]
    missing = [v for v in names if v not in columns]
    explained = [v for v in missing if v in (explain or {})]
    if explained:
        raise DataError(f"{source}: '{explained[0]}' {explain[explained[0]]}")
    if missing:
        parts = []
        for v in missing:
            close = difflib.get_close_matches(v, columns, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            parts.append(f"'{v}'{hint}")
        raise DataError(
            f"{source}: the model uses variable(s) not found in the data: {'; '.join(parts)}. "
            f"Columns available: {', '.join(columns[:30])}{' ...' if len(columns) > 30 else ''}"
        )
    out = {}
    for v in names:
        col = df[v]
        num = pd.to_numeric(col, errors="coerce")
        bad = num.isna() & col.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{source}: column '{v}' is not numeric: row {i + 1} holds {col.iloc[i]!r}; "
                "recode it as a number or mark it missing (empty or NA)"
            )
        out[v] = num.astype(float)
    return pd.DataFrame(out)


def complete_cases(
    data: pd.DataFrame,
    names: Sequence[str],
    source: str = "data",
    *,
    explain: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The checked columns (:func:`select_model_data`) of the complete cases (listwise deletion).

    The index of ``data`` is kept, so the cases can be traced back.
    """
    return select_model_data(data, names, source, explain=explain).dropna()


def sample_stats(
    data: pd.DataFrame,
    names: Sequence[str],
    source: str = "data",
    *,
    explain: Mapping[str, str] | None = None,
) -> SampleStats:
    """Sample statistics after listwise deletion (lavaan's default ``missing = "listwise"``).

    Parameters
    ----------
    data : pandas.DataFrame
    names : sequence of str
        Observed variables of the model, in the model's order.
    source : str
        Name of the data source, for messages.
    explain : mapping of str to str, optional
        See :func:`select_model_data`.

    Returns
    -------
    SampleStats
    """
    complete = complete_cases(data, names, source, explain=explain)
    n = complete.shape[0]
    p = len(names)
    if n < 2:
        raise DataError(f"{source}: fewer than 2 complete cases on the model's variables")
    x = complete.to_numpy(dtype=float)
    mean = x.mean(axis=0)
    cov = (x - mean).T @ (x - mean) / n
    sd = np.sqrt(np.diag(cov))
    const = [names[i] for i in range(p) if not sd[i] > 0]
    if const:
        raise DataError(f"{source}: variable(s) with zero variance: {', '.join(const)}")
    return SampleStats(
        names=tuple(names),
        n=n,
        mean=mean,
        cov=cov,
        n_dropped=int(data.shape[0] - n),
    )
