"""Data loading, validation and sample statistics.

Reading files is the only I/O here (:func:`read_data`, :func:`read_value_labels`); everything
else is pure. The checks of a model's data (columns present, cells numeric and finite,
complete cases, variance, a positive definite covariance matrix) live here and only here:
:func:`select_model_data`, :func:`complete_cases`, :func:`sample_stats`, and for
full-information ML with missing cells :func:`missing_patterns` (:class:`MissingPatterns`); so
do missing-value
codes (:func:`apply_missing_codes`, and :func:`missing_code_warnings` for codes that look like
answers).
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_bmi.errors import DataError, DataWarning, OptionError, decode_text, existing_file

__all__ = [
    "DATA_FORMATS",
    "DataError",
    "MissingPatterns",
    "SampleStats",
    "apply_missing_codes",
    "complete_cases",
    "missing_patterns",
    "missing_code_warnings",
    "read_data",
    "read_value_labels",
    "sample_stats",
    "select_model_data",
    "warn_missing_codes",
]

#: File types :func:`read_data` reads.
DATA_FORMATS = (".csv", ".txt", ".tsv", ".xlsx", ".xls", ".sav")
#: Cells larger than this in absolute value are refused: their squares would overflow.
MAX_ABS_VALUE = 1e100
_NA_VALUES = ["NA", ".", ""]
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")


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


# ------------------------------------------------------------------------------ reading
def read_data(
    path: str | Path,
    *,
    sheet: str | int | None = None,
    missing_codes: Iterable[float] = (),
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read a data file (CSV, TSV, XLSX or SPSS ``.sav``) into a DataFrame.

    CSV files may be UTF-8 (with or without a byte-order mark) or UTF-16 with a byte-order
    mark, separated by commas, semicolons or tabs (a semicolon file may use decimal commas).
    SPSS value labels are metadata (:func:`read_value_labels`): the cells keep their codes.

    Parameters
    ----------
    path : str or Path
    sheet : str or int, optional
        Worksheet of an Excel workbook: a name, or a number counted from 1 (default: the
        first sheet).
    missing_codes : iterable of float
        Values that mean "missing" (e.g. ``-9, 99``): they become NaN in every column.
    columns : sequence of str, optional
        Columns the caller needs; when the first sheet of a workbook lacks them, the error
        names the sheets (and the one that has them).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataError
        If the file is missing, unreadable, empty, of an unknown type, not UTF-8, or has a
        column name twice.
    """
    path = existing_file(path, "data", DataError)
    suffix = path.suffix.lower()
    if suffix not in DATA_FORMATS:
        raise DataError(
            f"{path}: unknown data format '{suffix}'. Must be one of: .csv, .tsv, .xlsx, .sav"
        )
    if sheet is not None and suffix not in (".xlsx", ".xls"):
        raise OptionError(f"--sheet {sheet}: {path} is not an Excel workbook (.xlsx)")
    try:
        if suffix in (".xlsx", ".xls"):
            df = _read_excel(path, sheet, columns)
        elif suffix == ".sav":
            df = pd.read_spss(path, convert_categoricals=False)
        else:
            df = _read_text_table(path, "\t" if suffix == ".tsv" else None)
    except DataError:
        raise
    except ImportError as exc:
        raise DataError(f"{path}: reading {suffix} files needs an extra package: {exc}") from exc
    except OSError as exc:
        raise DataError(f"{path}: could not be read ({exc.strerror or exc})") from None
    except Exception as exc:  # parser errors from pandas, openpyxl, pyreadstat carry the line
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{path}: could not be read as {suffix} data: {text}") from None
    if df.shape[1] == 0:
        raise DataError(f"{path}: the file has no columns")
    if df.shape[0] == 0:
        raise DataError(f"{path}: the file has no data rows")
    df = df.set_axis([str(c) for c in df.columns], axis=1)
    return apply_missing_codes(df, missing_codes)


def _separator(first_line: str) -> str:
    """The separator of a delimited text file, judged from its header line."""
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else ","


def _duplicates(names: Sequence[str], where: str) -> None:
    seen: dict[str, int] = {}
    dup: dict[str, list[int]] = {}
    for j, name in enumerate(names, start=1):
        key = str(name).strip()
        if not key:
            continue
        if key in seen:
            dup.setdefault(key, [seen[key]]).append(j)
        seen.setdefault(key, j)
    if dup:
        parts = [
            f"'{k}' (columns {', '.join(str(j) for j in js)})" for k, js in list(dup.items())[:5]
        ]
        raise DataError(
            f"{where}: column name(s) used more than once: {'; '.join(parts)}; give every column "
            "its own name"
        )


def _read_text_table(path: Path, sep: str | None) -> pd.DataFrame:
    """A delimited text file: decoded (UTF-8 or UTF-16), separator found, header checked."""
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: the file is empty")
    text = decode_text(raw, str(path), "data", DataError)
    first = text.lstrip("\n\r").splitlines()[0] if text.strip() else ""
    sep = sep or _separator(first)
    _duplicates(next(csv.reader([first], delimiter=sep)), str(path))
    df = pd.read_csv(io.StringIO(text), sep=sep, na_values=_NA_VALUES)
    if sep == ";":  # European spreadsheets: decimal commas come with semicolons
        for col in df.columns:
            values = df[col].dropna()
            if len(values) and values.map(lambda v: bool(_DECIMAL_COMMA.match(str(v)))).all():
                df[col] = pd.to_numeric(df[col].str.replace(",", ".", regex=False))
    return df


def _sheet_name(names: Sequence[str], sheet: str | int, path: Path) -> str:
    """The worksheet asked for: a name, or a number counted from 1."""
    if str(sheet) in names:
        return str(sheet)
    try:
        k = int(str(sheet))
    except ValueError:
        k = 0
    if 1 <= k <= len(names):
        return names[k - 1]
    raise OptionError(
        f"--sheet {sheet}: {path} has no such sheet; its sheets are: "
        + ", ".join(f"{i} '{n}'" for i, n in enumerate(names, start=1))
    )


def _read_excel(path: Path, sheet: str | int | None, columns: Sequence[str] | None) -> pd.DataFrame:
    """One worksheet of a workbook; a clear error when the columns are on another sheet."""
    with pd.ExcelFile(path) as book:
        names = [str(n) for n in book.sheet_names]
        chosen = names[0] if sheet is None else _sheet_name(names, sheet, path)
        header = book.parse(chosen, header=None, nrows=1)
        if header.shape[0]:
            _duplicates([str(v) for v in header.iloc[0] if pd.notna(v)], f"{path} [{chosen}]")
        df = book.parse(chosen, na_values=_NA_VALUES)
        wanted = [c for c in (columns or ()) if c not in {str(x) for x in df.columns}]
        if sheet is None and wanted and len(names) > 1:
            holders = [
                n
                for n in names[1:]
                if set(wanted) <= {str(x) for x in book.parse(n, nrows=0).columns}
            ]
            where = ""
            if holders:
                where = f" They are on sheet '{holders[0]}': pass --sheet '{holders[0]}'."
            raise DataError(
                f"{path}: the first sheet '{chosen}' lacks the column(s) "
                f"{', '.join(repr(c) for c in wanted[:10])}.{where} Sheets: "
                + ", ".join(f"{i} '{n}'" for i, n in enumerate(names, start=1))
            )
    return df


def read_value_labels(path: str | Path) -> dict[str, dict[float, str]]:
    """The value labels of an SPSS ``.sav`` file: column -> code -> label.

    :func:`read_data` keeps the codes as the data; the labels are metadata, e.g. for a
    codebook in a report. Other formats have none (an empty mapping).
    """
    path = existing_file(path, "data", DataError)
    if path.suffix.lower() != ".sav":
        return {}
    import pyreadstat

    try:
        _, meta = pyreadstat.read_sav(str(path), metadataonly=True)
    except Exception as exc:  # pyreadstat's own errors
        raise DataError(f"{path}: could not be read as .sav data: {exc}") from None
    labels = meta.variable_to_label
    return {
        str(col): {float(k): str(v) for k, v in meta.value_labels[name].items()}
        for col, name in labels.items()
    }


# ------------------------------------------------------------------- missing-value codes
def apply_missing_codes(df: pd.DataFrame, codes: Iterable[float]) -> pd.DataFrame:
    """``df`` with every cell equal to one of ``codes`` set missing (numbers, or their text).

    Raises
    ------
    OptionError
        When a code is not a finite number.
    """
    values = []
    for code in codes:
        try:
            value = float(code)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value) or isinstance(code, bool):
            raise OptionError(f"missing-value code {code!r}: must be a finite number")
        values.append(value)
    if not values:
        return df
    out = df.copy()
    for col in out.columns:
        num = pd.to_numeric(out[col], errors="coerce")
        mask = num.isin(values).to_numpy()
        if mask.any():
            out[col] = out[col].mask(mask)
    return out


def _looks_like_code(value: float) -> bool:
    """-1 to -9, or a number written with nines or eights only (9, -99, 888, ...)."""
    if value != round(value) or abs(value) > 1e9:
        return False
    digits = str(abs(int(value)))
    return (value < 0 and abs(value) <= 9) or (len(set(digits)) == 1 and digits[0] in "89")


def _suspects(col: pd.Series) -> tuple[dict[float, int], float, float] | None:
    """Code-like values far outside a column's other values: (value -> count, low, high)."""
    x = pd.to_numeric(col, errors="coerce").dropna().to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 3:
        return None
    values, counts = np.unique(x, return_counts=True)
    coded = np.array([_looks_like_code(v) for v in values])
    rest = values[~coded]
    if not coded.any() or rest.size == 0:
        return None
    lo, hi = float(rest.min()), float(rest.max())
    half = max((hi - lo) / 2.0, 0.5)
    far = coded & ((values > hi + half) | (values < lo - half) | ((values < 0) & (lo >= 0)))
    if not far.any():
        return None
    return {float(v): int(c) for v, c in zip(values[far], counts[far], strict=True)}, lo, hi


def missing_code_warnings(df: pd.DataFrame, columns: Sequence[str], source: str) -> list[str]:
    """One message per column that holds values which look like missing-value codes.

    A value is suspicious when it looks like a code (-1 to -9, or nines or eights only:
    9, 99, -999, 888, ...) and lies far outside the column's other values (more than half
    their range beyond them, or negative where the others are not), such as 99 among
    answers from 1 to 5 or -999 among test scores.

    Returns
    -------
    list of str
        ``"{source}: column 'x' holds -999 in 3 rows, far outside its other values (1 to 5):
        a missing-value code? ..."``.
    """
    out = []
    for name in dict.fromkeys(str(c) for c in columns):
        if name not in df.columns or isinstance(df[name], pd.DataFrame):
            continue
        found = _suspects(df[name])
        if found is None:
            continue
        counts, lo, hi = found
        held = " and ".join(f"{v:g} in {c} row{'s' if c > 1 else ''}" for v, c in counts.items())
        codes = ",".join(f"{v:g}" for v in counts)
        out.append(
            f"{source}: column '{name}' holds {held}, far outside its other values "
            f"({lo:g} to {hi:g}): a missing-value code? If so, pass --missing-codes {codes} "
            f"(missing_codes=[{codes.replace(',', ', ')}] in Python) to treat it as missing"
        )
    return out


def warn_missing_codes(df: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    """Issue :func:`missing_code_warnings` as :class:`~bayes_bmi.errors.DataWarning`."""
    for message in missing_code_warnings(df, columns, source):
        warnings.warn(message, DataWarning, stacklevel=2)


# --------------------------------------------------------------------------- checking
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
        if isinstance(col, pd.DataFrame):
            raise DataError(f"{source}: more than one column is named '{v}'; rename them")
        num = pd.to_numeric(col, errors="coerce")
        bad = num.isna() & col.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            held = col.iloc[i]
            hint = (
                " (a decimal comma? write decimals with a point, or save the file with ';' "
                "between columns)"
                if _DECIMAL_COMMA.match(str(held))
                else ""
            )
            raise DataError(
                f"{source}: column '{v}' is not numeric: row {i + 1} holds {held!r}{hint}; "
                "recode it as a number or mark it missing (empty or NA)"
            )
        num = num.astype(float)
        huge = ~np.isfinite(num) | (num.abs() > MAX_ABS_VALUE)
        huge &= num.notna()
        if huge.any():
            i = int(np.flatnonzero(huge.to_numpy())[0])
            raise DataError(
                f"{source}: column '{v}' row {i + 1} holds {num.iloc[i]:g}, "
                + (
                    "which is not a finite number"
                    if not math.isfinite(num.iloc[i])
                    else f"too large to compute with (|value| > {MAX_ABS_VALUE:g})"
                )
                + "; correct the cell or mark it missing (empty or NA)"
            )
        out[v] = num
    return pd.DataFrame(out, index=df.index)


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
    reason = _singular(cov, list(names), n)
    if reason:
        raise DataError(
            f"{source}: the sample covariance matrix is not positive definite ({reason}); "
            "the model cannot be fitted to these data: drop the redundant variable(s) or "
            "collect more cases"
        )
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


def _singular(cov: np.ndarray, names: list[str], n: int) -> str | None:
    """Why a covariance matrix is not positive definite, or None when it is.

    Eigenvalues of the correlation matrix below ``1e-10`` count as zero (rounding leaves exact
    copies a tiny positive eigenvalue).
    """
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    evals, evecs = np.linalg.eigh(corr)
    if evals.min() > 1e-10:
        return None
    p = len(names)
    if n <= p:
        return f"only {n} complete cases for {p} variables: need more cases than variables"
    copies = [
        f"'{names[j]}' duplicates '{names[i]}' (correlation {corr[i, j]:+.0f})"
        for i in range(p)
        for j in range(i + 1, p)
        if abs(corr[i, j]) > 1 - 1e-10
    ]
    if copies:
        return "; ".join(copies[:5])
    null = np.abs(evecs[:, 0])
    involved = [names[i] for i in np.flatnonzero(null > 1e-6)]
    return f"a linear combination among {', '.join(repr(v) for v in involved)}"
