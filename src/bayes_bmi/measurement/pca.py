"""Stage 3 of the measurement work: principal component analysis of survey items.

Everything works on the Pearson correlation matrix of the complete rows (listwise deletion):

- :func:`kmo`: Kaiser-Meyer-Olkin measure of sampling adequacy, overall and per item;
- :func:`bartlett_sphericity`: Bartlett's test that the correlation matrix is the identity;
- :func:`pca`: eigenvalues, the Kaiser and parallel-analysis (Horn 1965, 95th percentile of
  random-data eigenvalues) counts, loadings ``eigenvector * sqrt(eigenvalue)`` rotated by
  varimax (Kaiser-normalised, as R's ``stats::varimax``) or promax (power 4, as R's
  ``stats::promax``), the item-to-component assignment and communalities;

Plain numpy/scipy; no estimator classes. The figures are in :mod:`bayes_bmi.plots.measurement`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from bayes_bmi.errors import BayesBmiError

__all__ = [
    "PCAError",
    "PCAResult",
    "bartlett_sphericity",
    "item_data",
    "kmo",
    "parallel_analysis",
    "pca",
    "promax",
    "varimax",
]

Rotation = Literal["varimax", "promax"]
ROTATIONS = ("varimax", "promax", None)


class PCAError(BayesBmiError):
    """Item data that cannot be analysed; the message says where and what to do."""


@dataclass(frozen=True, eq=False)
class PCAResult:
    """Result of :func:`pca`.

    Attributes
    ----------
    items : tuple of str
        The analysed items, in input order.
    n : int
        Complete rows used.
    n_dropped : int
        Rows removed by listwise deletion.
    eigenvalues : pandas.DataFrame
        One row per component: ``component`` (1-based), ``eigenvalue``, ``explained`` and
        ``cumulative`` (shares of total variance), ``parallel_mean`` and ``parallel_p95``
        (mean and 95th percentile of the eigenvalues of random normal data of the same size),
        ``kaiser`` (eigenvalue > 1), ``parallel`` (among the leading components whose
        eigenvalue exceeds ``parallel_p95``).
    n_kaiser : int
        Components with an eigenvalue above 1.
    n_parallel : int
        Leading components whose eigenvalue exceeds the random-data 95th percentile.
    n_components : int
        Components retained.
    rotation : str or None
        Rotation applied (None when not asked for or with a single component).
    loadings : pandas.DataFrame
        ``item``, one column per retained component (``pc1, pc2, ...``; pattern loadings
        after promax) and ``communality``. Components are ordered by the sum of their squared
        loadings and reflected so that their loadings sum to a positive number.
    assignment : pandas.DataFrame
        ``item, component`` (largest absolute loading), ``loading``, ``cross_component``,
        ``cross_loading`` (the next largest in absolute value; empty with one component),
        ``communality``.
    communalities : pandas.Series
        Share of each item's variance reproduced by the retained components, by item.
    rotated_variance : pandas.DataFrame
        ``component, ss_loadings, explained, cumulative`` after rotation (with promax the
        shares overlap because components correlate; ``cumulative`` is then a plain sum).
    phi : pandas.DataFrame or None
        Component correlations after promax (None otherwise).
    parallel_iter : int
        Random data sets drawn for parallel analysis.
    seed : int
        Seed of those draws.
    """

    items: tuple[str, ...]
    n: int
    n_dropped: int
    eigenvalues: pd.DataFrame
    n_kaiser: int
    n_parallel: int
    n_components: int
    rotation: str | None
    loadings: pd.DataFrame
    assignment: pd.DataFrame
    communalities: pd.Series
    rotated_variance: pd.DataFrame
    phi: pd.DataFrame | None
    parallel_iter: int
    seed: int


def item_data(data: pd.DataFrame, *, source: str = "data") -> tuple[pd.DataFrame, int]:
    """Check item data and apply listwise deletion.

    Parameters
    ----------
    data : pandas.DataFrame
        One column per item (select the items first), one row per respondent.
    source : str
        Name of the data, for messages.

    Returns
    -------
    complete : pandas.DataFrame
        The complete rows as floats.
    n_dropped : int
        Rows with a missing value, removed.

    Raises
    ------
    PCAError
        When there are fewer than 2 items, a cell is not numeric (1-based data row and column
        named), an item is constant, or there are not more complete rows than items.
    """
    if not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(np.asarray(data))
    names = [str(c) for c in data.columns]
    if len(names) < 2:
        raise PCAError(f"{source}: at least 2 items are needed, got {len(names)}")
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise PCAError(f"{source}: duplicated item column(s): {', '.join(dup)}")
    cols = {}
    for j, name in enumerate(names):
        col = data.iloc[:, j]
        if col.dtype == bool:
            col = col.astype(float)
        num = pd.to_numeric(col, errors="coerce")
        bad = num.isna() & col.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise PCAError(
                f"{source}: row {i + 1}, column '{name}': {col.iloc[i]!r} is not a number; "
                "recode it or leave the cell empty (missing)"
            )
        cols[name] = num.astype(float)
    frame = pd.DataFrame(cols)
    complete = frame.dropna()
    n, p = complete.shape
    if n <= p:
        raise PCAError(
            f"{source}: {n} complete row(s) (of {frame.shape[0]}) for {p} items; the "
            "correlation matrix needs more complete rows than items"
        )
    sd = complete.std(axis=0, ddof=1).to_numpy()
    const = [names[j] for j in range(p) if not sd[j] > 0]
    if const:
        raise PCAError(f"{source}: item(s) with zero variance: {', '.join(const)}")
    return complete.reset_index(drop=True), int(frame.shape[0] - n)


def _inverse(corr: np.ndarray, names: list[str], what: str) -> np.ndarray:
    w = np.linalg.eigvalsh(corr)
    if w[0] <= 1e-10 * w[-1]:
        raise PCAError(
            f"the correlation matrix of the items is singular (an item is a linear combination "
            f"of others, or duplicates one); {what} needs its inverse. Items: {', '.join(names)}"
        )
    return np.linalg.inv(corr)


def kmo(data: pd.DataFrame) -> tuple[float, pd.Series]:
    """Kaiser-Meyer-Olkin measure of sampling adequacy.

    ``KMO = sum r_ij^2 / (sum r_ij^2 + sum a_ij^2)`` over ``i != j``, with ``r`` the
    correlations and ``a`` the partial correlations (from the inverse correlation matrix);
    each item's MSA restricts the sums to its row.

    Parameters
    ----------
    data : pandas.DataFrame
        One column per item.

    Returns
    -------
    overall : float
    per_item : pandas.Series
        MSA per item, named ``msa``.

    Raises
    ------
    PCAError
        On bad data (see :func:`item_data`) or a singular correlation matrix.
    """
    x, _ = item_data(data)
    names = list(x.columns)
    r = np.corrcoef(x.to_numpy(), rowvar=False)
    inv = _inverse(r, names, "KMO")
    d = np.sqrt(np.diag(inv))
    partial = -inv / np.outer(d, d)
    off = ~np.eye(len(names), dtype=bool)
    r2 = np.where(off, r**2, 0.0)
    a2 = np.where(off, partial**2, 0.0)
    per_item = r2.sum(axis=1) / (r2.sum(axis=1) + a2.sum(axis=1))
    overall = r2.sum() / (r2.sum() + a2.sum())
    return float(overall), pd.Series(per_item, index=names, name="msa")


def bartlett_sphericity(data: pd.DataFrame) -> tuple[float, int, float]:
    """Bartlett's test of sphericity: whether the items are uncorrelated.

    ``chi2 = -(n - 1 - (2p + 5) / 6) ln |R|`` on ``p (p - 1) / 2`` degrees of freedom.

    Parameters
    ----------
    data : pandas.DataFrame
        One column per item.

    Returns
    -------
    chi2 : float
    df : int
    pvalue : float

    Raises
    ------
    PCAError
        On bad data (see :func:`item_data`) or a singular correlation matrix.
    """
    x, _ = item_data(data)
    n, p = x.shape
    r = np.corrcoef(x.to_numpy(), rowvar=False)
    _inverse(r, list(x.columns), "Bartlett's test")
    _, logdet = np.linalg.slogdet(r)
    chi2 = -(n - 1 - (2 * p + 5) / 6) * logdet
    df = p * (p - 1) // 2
    return float(chi2), df, float(sps.chi2.sf(chi2, df))


def varimax(
    loadings: np.ndarray, *, normalize: bool = True, tol: float = 1e-14, max_iter: int = 5000
) -> tuple[np.ndarray, np.ndarray]:
    """Varimax rotation, R's ``stats::varimax`` algorithm.

    Parameters
    ----------
    loadings : numpy.ndarray
        ``p x k`` loadings.
    normalize : bool
        Kaiser normalisation: rotate the rows scaled to unit length, then scale back.
    tol : float
        Stop when the criterion (sum of singular values) grows by less than this fraction.
        R's default is 1e-5, which stops early (loadings off by up to about 5e-4).
    max_iter : int

    Returns
    -------
    rotated : numpy.ndarray
        ``loadings @ rotmat``.
    rotmat : numpy.ndarray
        The orthogonal ``k x k`` rotation matrix.
    """
    x = np.array(loadings, dtype=float)
    p, k = x.shape
    if k < 2:
        return x, np.eye(k)
    if normalize:
        sc = np.sqrt((x**2).sum(axis=1))
        sc[sc == 0] = 1.0
        x = x / sc[:, None]
    rot = np.eye(k)
    d = 0.0
    for _ in range(max_iter):
        z = x @ rot
        b = x.T @ (z**3 - z * (z**2).sum(axis=0) / p)
        u, s, vt = np.linalg.svd(b)
        rot = u @ vt
        d_old, d = d, float(s.sum())
        if d < d_old * (1 + tol):
            break
    z = x @ rot
    if normalize:
        z = z * sc[:, None]
    return z, rot


def promax(loadings: np.ndarray, *, power: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Promax rotation, R's ``stats::promax`` algorithm.

    Varimax (Kaiser-normalised) first; the target is the varimax loadings raised to ``power``
    with their signs kept; the least-squares transformation to that target has its columns
    rescaled so that the component correlations have unit diagonal.

    Parameters
    ----------
    loadings : numpy.ndarray
        ``p x k`` loadings.
    power : int
        Promax exponent (R's ``m``; 4 by default).

    Returns
    -------
    pattern : numpy.ndarray
        Rotated (pattern) loadings, ``loadings @ rotmat``.
    rotmat : numpy.ndarray
        The ``k x k`` transformation.
    phi : numpy.ndarray
        Component correlations, ``inv(U' U)`` for the promax step ``U``.
    """
    x = np.asarray(loadings, dtype=float)
    k = x.shape[1]
    if k < 2:
        return x.copy(), np.eye(k), np.eye(k)
    v, rot = varimax(x)
    target = v * np.abs(v) ** (power - 1)
    u = np.linalg.lstsq(v, target, rcond=None)[0]
    d = np.diag(np.linalg.inv(u.T @ u))
    u = u @ np.diag(np.sqrt(d))
    phi = np.linalg.inv(u.T @ u)
    return v @ u, rot @ u, (phi + phi.T) / 2


def parallel_analysis(
    n: int, p: int, *, n_iter: int = 1000, seed: int = 0, percentile: float = 95.0
) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of correlation matrices of random normal data (Horn's parallel analysis).

    Parameters
    ----------
    n, p : int
        Rows and items of the observed data.
    n_iter : int
        Random data sets.
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    percentile : float
        Percentile reported next to the mean (R's ``quantile`` type 7).

    Returns
    -------
    mean : numpy.ndarray
        Mean of the ``k``-th largest random eigenvalue, ``k = 1..p``.
    upper : numpy.ndarray
        Its ``percentile``-th percentile.
    """
    if n_iter < 1:
        raise PCAError(f"parallel analysis needs at least 1 iteration, got {n_iter}")
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_iter, 2_000_000 // (n * p)))
    values = np.empty((n_iter, p))
    done = 0
    while done < n_iter:
        b = min(chunk, n_iter - done)
        z = rng.standard_normal((b, n, p))
        z -= z.mean(axis=1, keepdims=True)
        z /= np.sqrt((z**2).sum(axis=1, keepdims=True))
        corr = np.einsum("bni,bnj->bij", z, z)
        values[done : done + b] = np.linalg.eigvalsh(corr)[:, ::-1]
        done += b
    return values.mean(axis=0), np.percentile(values, percentile, axis=0)


def _orient(pattern: np.ndarray, phi: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Order columns by sum of squared loadings and make each column sum positive."""
    order = np.argsort(-(pattern**2).sum(axis=0), kind="stable")
    pattern = pattern[:, order]
    signs = np.where(pattern.sum(axis=0) < 0, -1.0, 1.0)
    pattern = pattern * signs
    if phi is not None:
        phi = phi[np.ix_(order, order)] * np.outer(signs, signs)
    return pattern, phi


def _rotate(
    unrotated: np.ndarray, rotation: Rotation | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rotated, oriented loadings and the component correlations (promax only)."""
    phi = None
    if rotation == "varimax":
        pattern, _ = varimax(unrotated)
    elif rotation == "promax":
        pattern, _, phi = promax(unrotated)
    else:
        pattern = unrotated
    return _orient(pattern, phi)


def _assignment(
    pattern: np.ndarray, items: list[str], names: list[str], communality: np.ndarray
) -> pd.DataFrame:
    """Each item's component (largest absolute loading) and its largest cross-loading."""
    p, k = pattern.shape
    order = np.argsort(-np.abs(pattern), axis=1, kind="stable")
    rows = np.arange(p)
    first = order[:, 0]
    return pd.DataFrame(
        {
            "item": items,
            "component": [names[j] for j in first],
            "loading": pattern[rows, first],
            "cross_component": [names[j] for j in order[:, 1]] if k > 1 else [""] * p,
            "cross_loading": pattern[rows, order[:, 1]] if k > 1 else np.full(p, np.nan),
            "communality": communality,
        }
    )


def pca(
    data: pd.DataFrame,
    n_components: int | None = None,
    *,
    rotation: Rotation | None = "varimax",
    retain: Literal["parallel", "kaiser"] = "parallel",
    parallel_iter: int = 1000,
    seed: int = 0,
    source: str = "data",
) -> PCAResult:
    """Principal component analysis of the items' correlation matrix.

    Parameters
    ----------
    data : pandas.DataFrame
        One column per item (select the items first); rows with a missing value are dropped.
    n_components : int, optional
        Components to retain; when omitted, the count of the ``retain`` criterion (at least 1).
    rotation : {"varimax", "promax", None}
        Rotation of the retained loadings (none with a single component).
    retain : {"parallel", "kaiser"}
        Criterion for the default number of components: parallel analysis (95th percentile)
        or eigenvalues above 1.
    parallel_iter : int
        Random data sets for parallel analysis.
    seed : int
        Seed for parallel analysis.
    source : str
        Name of the data, for messages.

    Returns
    -------
    PCAResult

    Raises
    ------
    PCAError
        On bad data (see :func:`item_data`), an unknown rotation or criterion, or an
        impossible number of components.
    """
    if rotation not in ROTATIONS:
        raise PCAError(f"unknown rotation {rotation!r}. Must be one of: varimax, promax, none")
    if retain not in ("parallel", "kaiser"):
        raise PCAError(f"unknown retention criterion {retain!r}. Must be one of: parallel, kaiser")
    x, n_dropped = item_data(data, source=source)
    n, p = x.shape
    items = [str(c) for c in x.columns]
    corr = np.corrcoef(x.to_numpy(), rowvar=False)
    evals, evecs = np.linalg.eigh(corr)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    rand_mean, rand_p95 = parallel_analysis(n, p, n_iter=parallel_iter, seed=seed)
    above = evals > rand_p95
    n_parallel = p if above.all() else int(np.argmin(above))
    n_kaiser = int((evals > 1).sum())
    if n_components is None:
        n_components = max(1, n_parallel if retain == "parallel" else n_kaiser)
    elif not 1 <= int(n_components) <= p:
        raise PCAError(f"n_components must be between 1 and {p} (the number of items)")
    k = int(n_components)
    eig = pd.DataFrame(
        {
            "component": np.arange(1, p + 1),
            "eigenvalue": evals,
            "explained": evals / p,
            "cumulative": np.cumsum(evals) / p,
            "parallel_mean": rand_mean,
            "parallel_p95": rand_p95,
            "kaiser": evals > 1,
            "parallel": np.arange(p) < n_parallel,
        }
    )
    unrotated = evecs[:, :k] * np.sqrt(np.clip(evals[:k], 0, None))
    communality = (unrotated**2).sum(axis=1)
    applied = rotation if k >= 2 else None
    pattern, phi = _rotate(unrotated, applied)
    names = [f"pc{j + 1}" for j in range(k)]
    loadings = pd.DataFrame(pattern, columns=names)
    loadings.insert(0, "item", items)
    loadings["communality"] = communality
    ss = (pattern**2).sum(axis=0)
    rotated_variance = pd.DataFrame(
        {
            "component": names,
            "ss_loadings": ss,
            "explained": ss / p,
            "cumulative": np.cumsum(ss) / p,
        }
    )
    assignment = _assignment(pattern, items, names, communality)
    return PCAResult(
        items=tuple(items),
        n=n,
        n_dropped=n_dropped,
        eigenvalues=eig,
        n_kaiser=n_kaiser,
        n_parallel=n_parallel,
        n_components=k,
        rotation=applied,
        loadings=loadings,
        assignment=assignment,
        communalities=pd.Series(communality, index=items, name="communality"),
        rotated_variance=rotated_variance,
        phi=None if phi is None else pd.DataFrame(phi, index=names, columns=names),
        parallel_iter=parallel_iter,
        seed=seed,
    )
