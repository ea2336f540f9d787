"""Data loading, validation and sample statistics.

Reading files is the only I/O here (:func:`read_data`); everything else is pure. The checks of
a model's data (columns present, cells numeric, complete cases, variance) live here and only
here: :func:`select_model_data`, :func:`complete_cases`, :func:`sample_stats`, and for
full-information ML with missing cells :func:`missing_patterns` (:class:`MissingPatterns`).
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
    "MissingPatterns",
    "SampleStats",
    "complete_cases",
    "missing_patterns",
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


@dataclass(frozen=True, eq=False)
class MissingPatterns:
    """Sufficient statistics of incomplete normal data, one set per missingness pattern.

    A missingness pattern is the set of variables a case answered. Under multivariate normality
    the log-likelihood of all cases is a sum over patterns, and each pattern's term needs only
    its count, mean vector and ML covariance matrix on its observed variables, so a likelihood
    built from these arrays costs per pattern, not per case (lavaan's ``missing = "ml"``).

    Every array has a fixed shape (patterns are padded to all ``p`` variables), so a vectorised
    kernel can use them as they are: with ``O = observed[k]``, the pattern's term of the
    log-likelihood at ``mu, Sigma`` is
    ``-n_k / 2 * (|O| log 2 pi + log|Sigma_OO| + tr(Sigma_OO^-1 (cov_OO + d d')))``,
    ``d = mean_O - mu_O``. Padding ``Sigma`` to ``Sigma_OO`` on the observed block and the
    identity elsewhere (``mean`` and ``cov`` are 0 off the observed block) gives the same value
    with full ``p x p`` algebra.

    Attributes
    ----------
    names : tuple of str
        Variable names, in the model's order.
    observed : numpy.ndarray of bool, shape (npatterns, p)
        Which variables each pattern observed (no pattern is all False).
    counts : numpy.ndarray of int, shape (npatterns,)
        Number of cases with each pattern.
    mean : numpy.ndarray, shape (npatterns, p)
        Mean of each pattern's cases on its observed variables; 0 elsewhere.
    cov : numpy.ndarray, shape (npatterns, p, p)
        ML covariance matrix (divisor ``counts[k]``; 0 for a single case) of each pattern's
        cases on its observed variables; 0 outside the observed block.
    index : tuple of numpy.ndarray
        The observed variables' indices of each pattern (``np.flatnonzero(observed[k])``).
    case_pattern : numpy.ndarray of int, shape (n,)
        The pattern of each case used, in data order (for casewise log-likelihoods).
    values : numpy.ndarray, shape (n, p)
        The cases used, NaN where missing.
    rows : numpy.ndarray
        Index labels of the cases used in the input DataFrame.
    n_empty : int
        Rows dropped because every variable was missing.
    n_dropped : int
        Rows dropped because a variable that must be observed was missing (lavaan drops cases
        with missing fixed exogenous covariates).
    """

    names: tuple[str, ...]
    observed: np.ndarray
    counts: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    index: tuple[np.ndarray, ...]
    case_pattern: np.ndarray
    values: np.ndarray
    rows: np.ndarray
    n_empty: int = 0
    n_dropped: int = 0

    @property
    def n(self) -> int:
        """Number of cases used."""
        return int(self.counts.sum())

    @property
    def p(self) -> int:
        """Number of variables."""
        return len(self.names)

    @property
    def npatterns(self) -> int:
        """Number of missingness patterns."""
        return int(self.counts.size)

    @property
    def n_missing(self) -> int:
        """Number of missing cells among the cases used."""
        return int(self.counts @ (~self.observed).sum(axis=1))

    def coverage(self) -> np.ndarray:
        """Proportion of cases that observed each pair of variables (lavaan's coverage)."""
        obs = self.observed.astype(float)
        return (obs.T * self.counts) @ obs / self.n


def missing_patterns(
    data: pd.DataFrame,
    names: Sequence[str],
    source: str = "data",
    *,
    explain: Mapping[str, str] | None = None,
    complete: Sequence[str] = (),
) -> MissingPatterns:
    """Group the cases by missingness pattern and compute each pattern's statistics.

    Parameters
    ----------
    data : pandas.DataFrame
    names : sequence of str
        Observed variables of the model, in the model's order.
    source : str
        Name of the data source, for messages.
    explain : mapping of str to str, optional
        See :func:`select_model_data`.
    complete : sequence of str
        Variables that must be observed: cases missing one are dropped (counted in
        ``n_dropped``), as lavaan does for fixed exogenous covariates.

    Returns
    -------
    MissingPatterns

    Raises
    ------
    DataError
        If a variable has no observed value or no variance among its observed values, or
        fewer than 2 cases remain.
    """
    x = select_model_data(data, names, source, explain=explain)
    keep = x.notna().any(axis=1).to_numpy()
    n_empty = int((~keep).sum())
    need = [v for v in complete if v in x.columns]
    if need:
        ok = x[need].notna().all(axis=1).to_numpy()
        n_dropped = int((keep & ~ok).sum())
        keep = keep & ok
    else:
        n_dropped = 0
    values = x.to_numpy(dtype=float)[keep]
    empty_cols = [v for i, v in enumerate(names) if np.isnan(values[:, i]).all()]
    if empty_cols:
        raise DataError(
            f"{source}: column(s) with no observed value (every cell missing): "
            f"{', '.join(empty_cols)}; drop them from the model or the data"
        )
    if values.shape[0] < 2:
        raise DataError(f"{source}: fewer than 2 cases with an observed model variable")
    _check_observed_variance(values, names, source)
    observed = ~np.isnan(values)
    patterns, case_pattern = np.unique(observed, axis=0, return_inverse=True)
    patterns = patterns[::-1]  # the complete pattern (all True) first
    case_pattern = patterns.shape[0] - 1 - case_pattern.reshape(-1)
    k, p = patterns.shape
    counts = np.bincount(case_pattern, minlength=k)
    mean = np.zeros((k, p))
    cov = np.zeros((k, p, p))
    index = tuple(np.flatnonzero(row) for row in patterns)
    for j, obs in enumerate(index):
        y = values[np.ix_(case_pattern == j, obs)]
        m = y.mean(axis=0)
        mean[j, obs] = m
        cov[j][np.ix_(obs, obs)] = (y - m).T @ (y - m) / y.shape[0]
    return MissingPatterns(
        names=tuple(names),
        observed=patterns,
        counts=counts,
        mean=mean,
        cov=cov,
        index=index,
        case_pattern=case_pattern,
        values=values,
        rows=np.asarray(x.index)[keep],
        n_empty=n_empty,
        n_dropped=n_dropped,
    )


def _check_observed_variance(values: np.ndarray, names: Sequence[str], source: str) -> None:
    sd = np.nanstd(values, axis=0)  # every column has an observed value here
    const = [names[i] for i in range(len(names)) if not sd[i] > 0]
    if const:
        raise DataError(f"{source}: variable(s) with zero variance: {', '.join(const)}")
