"""Ordered-categorical data: categories, thresholds, polychoric correlations and their NACOV.

The two-step estimator of lavaan (Muthen 1984; lavaan's ``muthen1984``) for items without
covariates:

1. per item, thresholds by univariate probit ML: ``tau_k = Phi^-1(P(y <= k))``;
2. per pair of items, the polychoric correlation by bivariate-normal ML given those
   thresholds (:func:`polychoric`);
3. the asymptotic covariance matrix ``Gamma`` of ``sqrt(n)`` times the statistics
   ``(thresholds, polychorics)`` by the two-step sandwich built from the casewise scores
   (:func:`ordinal_stats`): ``Gamma = n B^-1 (S'S) B^-T`` with ``S`` the scores (thresholds of
   the univariate likelihoods, correlations of the bivariate ones) and ``B`` lower
   block-triangular: the threshold blocks of ``S'S`` per item, ``diag`` of the correlation
   scores' squares, and their cross-products with the bivariate threshold scores below.

Bivariate-normal probabilities come from Owen's T function (:func:`bvn_cdf`), accurate to
machine precision and vectorised over whole tables. Everything is numpy/scipy; nothing here
knows about models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from bayes_bmi.data import complete_cases
from bayes_bmi.errors import DataError

__all__ = [
    "MAX_CATEGORIES",
    "OrdinalData",
    "OrdinalStats",
    "bvn_cdf",
    "bvn_pdf",
    "ordinal_data",
    "ordinal_stats",
    "pair_index",
    "polychoric",
    "thresholds",
]

#: More distinct values than this and an item is not treated as ordered categories.
MAX_CATEGORIES = 15


@dataclass(frozen=True, eq=False)
class OrdinalData:
    """Ordered items coded ``0 .. K-1`` (complete cases).

    Attributes
    ----------
    names : tuple of str
        The items, in model order.
    codes : numpy.ndarray of int, shape (n, p)
        Category index of every answer (0 = the lowest value observed).
    levels : tuple of tuple of int
        Per item, the sorted distinct values the codes stand for.
    n_dropped : int
        Rows dropped for a missing answer (listwise deletion).
    """

    names: tuple[str, ...]
    codes: np.ndarray
    levels: tuple[tuple[int, ...], ...]
    n_dropped: int = 0

    @property
    def n(self) -> int:
        """Number of cases."""
        return int(self.codes.shape[0])

    @property
    def ncat(self) -> np.ndarray:
        """Number of categories per item."""
        return np.array([len(lv) for lv in self.levels], dtype=int)


def ordinal_data(data: pd.DataFrame, names: Sequence[str], source: str = "data") -> OrdinalData:
    """Code ordered items as category indices, after listwise deletion.

    Categories are the sorted distinct integer values of each item (as lavaan's ``ordered``
    takes the levels present in the data).

    Raises
    ------
    DataError
        A missing column or non-numeric cell (:func:`~bayes_bmi.data.complete_cases`), a
        non-integer value, an item with a single category or with more than
        :data:`MAX_CATEGORIES`.
    """
    complete = complete_cases(data, list(names), source)
    if complete.shape[0] < 2:
        raise DataError(f"{source}: fewer than 2 complete cases on the ordered items")
    x = complete.to_numpy(dtype=float)
    codes = np.empty(x.shape, dtype=np.int64)
    levels = []
    for j, name in enumerate(names):
        col = x[:, j]
        bad = col[col != np.round(col)]
        if bad.size:
            raise DataError(
                f"{source}: ordered item '{name}' holds non-integer values (e.g. {bad[0]:g}); "
                "ordered categories must be coded as integers (1, 2, 3, ...): recode the item, "
                "or leave it out of the ordered items to treat it as continuous"
            )
        values, codes[:, j] = np.unique(col.astype(np.int64), return_inverse=True)
        if values.size < 2:
            raise DataError(
                f"{source}: ordered item '{name}' has a single category ({values[0]}) in the "
                f"{x.shape[0]} complete cases: it carries no information; drop it from the model"
            )
        if values.size > MAX_CATEGORIES:
            raise DataError(
                f"{source}: ordered item '{name}' has {values.size} distinct values (more than "
                f"{MAX_CATEGORIES}): it is not an ordered-categorical item; leave it out of the "
                "ordered items to treat it as continuous"
            )
        levels.append(tuple(int(v) for v in values))
    return OrdinalData(
        names=tuple(names),
        codes=codes,
        levels=tuple(levels),
        n_dropped=int(data.shape[0] - complete.shape[0]),
    )


# --------------------------------------------------------------------- bivariate normal
def bvn_cdf(h: np.ndarray, k: np.ndarray, rho: np.ndarray | float) -> np.ndarray:
    """``P(X <= h, Y <= k)`` for standard bivariate normal ``X, Y`` with correlation ``rho``.

    Owen's (1956) identity, ``Phi2 = (Phi(h) + Phi(k)) / 2 - T(h, a_h) - T(k, a_k) - beta``
    with Owen's T function (:func:`scipy.special.owens_t`), exact to machine precision;
    infinite bounds and ``h = k = 0`` are handled. Broadcasts; ``|rho| < 1``.
    """
    h, k, rho = np.broadcast_arrays(
        np.asarray(h, dtype=float), np.asarray(k, dtype=float), np.asarray(rho, dtype=float)
    )
    out = np.zeros(h.shape)
    fin = np.isfinite(h) & np.isfinite(k)
    out = np.where(np.isposinf(h) & ~np.isneginf(k), sps.norm.cdf(k), out)
    out = np.where(np.isposinf(k) & ~np.isneginf(h), sps.norm.cdf(h), out)
    hh, kk, rr = h[fin], k[fin], rho[fin]
    r = np.sqrt((1.0 - rr) * (1.0 + rr))
    with np.errstate(divide="ignore", invalid="ignore"):
        ah = (kk - rr * hh) / (hh * r)
        ak = (hh - rr * kk) / (kk * r)
    # h = 0 (or k = 0): a = +-inf with the sign of the numerator, T(0, +-inf) = +-1/4
    ah = np.where(hh == 0, np.copysign(np.inf, kk - rr * hh), ah)
    ak = np.where(kk == 0, np.copysign(np.inf, hh - rr * kk), ak)
    beta = np.where((hh * kk < 0) | ((hh * kk == 0) & (hh + kk < 0)), 0.5, 0.0)
    val = (
        0.5 * (special.ndtr(hh) + special.ndtr(kk))
        - special.owens_t(hh, ah)
        - special.owens_t(kk, ak)
        - beta
    )
    both0 = (hh == 0) & (kk == 0)
    val = np.where(both0, 0.25 + np.arcsin(rr) / (2.0 * np.pi), val)
    out[fin] = np.clip(val, 0.0, 1.0)
    return out


def bvn_pdf(h: np.ndarray, k: np.ndarray, rho: np.ndarray | float) -> np.ndarray:
    """Standard bivariate normal density; 0 where a bound is infinite."""
    h, k, rho = np.broadcast_arrays(
        np.asarray(h, dtype=float), np.asarray(k, dtype=float), np.asarray(rho, dtype=float)
    )
    r2 = (1.0 - rho) * (1.0 + rho)
    with np.errstate(invalid="ignore", over="ignore"):
        q = (h * h - 2.0 * rho * h * k + k * k) / r2
        out = np.exp(-0.5 * q) / (2.0 * np.pi * np.sqrt(r2))
    return np.where(np.isfinite(h) & np.isfinite(k), out, 0.0)


# ---------------------------------------------------------------------------- estimates
def thresholds(codes: np.ndarray, ncat: int) -> np.ndarray:
    """Univariate probit ML thresholds of one item: ``Phi^-1`` of the cumulative proportions.

    Parameters
    ----------
    codes : numpy.ndarray of int
        Category indices ``0 .. ncat-1``.
    ncat : int
        Number of categories.

    Returns
    -------
    numpy.ndarray, shape (ncat - 1,)
    """
    counts = np.bincount(codes, minlength=ncat)
    return sps.norm.ppf(np.cumsum(counts)[:-1] / codes.size)


def pair_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``(i, j)``, ``i > j``, in lavaan's order (column-wise lower triangle)."""
    i, j = [], []
    for b in range(p - 1):
        for a in range(b + 1, p):
            i.append(a)
            j.append(b)
    return np.array(i, dtype=int), np.array(j, dtype=int)


def _extended(th: Sequence[np.ndarray], kmax: int) -> np.ndarray:
    """Thresholds with -inf in front and +inf padding: shape (p, kmax + 1)."""
    ext = np.full((len(th), kmax + 1), np.inf)
    ext[:, 0] = -np.inf
    for i, t in enumerate(th):
        ext[i, 1 : t.size + 1] = t
    return ext


def _cell_probs(e1: np.ndarray, e2: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cell probabilities of the pairs' tables and their derivative in ``rho``.

    ``e1, e2``: extended thresholds per pair, shape (npair, kmax + 1); returns ``P`` and
    ``dP/drho``, shape (npair, kmax, kmax).
    """
    r = rho[:, None, None]
    grid = bvn_cdf(e1[:, :, None], e2[:, None, :], r)
    dens = bvn_pdf(e1[:, :, None], e2[:, None, :], r)

    def cells(g: np.ndarray) -> np.ndarray:
        return g[:, 1:, 1:] - g[:, :-1, 1:] - g[:, 1:, :-1] + g[:, :-1, :-1]

    return np.clip(cells(grid), 0.0, None), cells(dens)


def _tables(data: OrdinalData, i: np.ndarray, j: np.ndarray, kmax: int) -> np.ndarray:
    """Cross tables of the pairs ``(i, j)``: shape (npair, kmax, kmax)."""
    c = data.codes
    flat = c[:, i] * kmax + c[:, j]  # (n, npair)
    out = np.zeros((i.size, kmax * kmax))
    for q in range(i.size):
        out[q] = np.bincount(flat[:, q], minlength=kmax * kmax)
    return out.reshape(i.size, kmax, kmax)


def polychoric(
    tables: np.ndarray,
    e1: np.ndarray,
    e2: np.ndarray,
    *,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Polychoric correlations by bivariate-normal ML given the thresholds (vectorised).

    Fisher scoring on every pair at once, with step halving where the log-likelihood would
    fall, inside ``(-0.999, 0.999)`` (lavaan's bounds). A 2 x 2 table with one empty cell gets
    0.5 added to it and its diagonal partner, taken from the two others (margins kept, as
    lavaan's ``zero.add`` default).

    Parameters
    ----------
    tables : numpy.ndarray, shape (npair, kmax, kmax)
        Counts of each pair's cross table (padded with zeros).
    e1, e2 : numpy.ndarray, shape (npair, kmax + 1)
        The extended thresholds of the pair's first and second item (``-inf, tau..., +inf``,
        padded with ``+inf``).

    Returns
    -------
    rho : numpy.ndarray, shape (npair,)
    converged : numpy.ndarray of bool
    """
    tables = _zero_add(tables, e1, e2)
    n = tables.sum(axis=(1, 2))
    obs = tables > 0

    def loglik(rho: np.ndarray) -> np.ndarray:
        prob, _ = _cell_probs(e1, e2, rho)
        with np.errstate(divide="ignore"):
            return np.where(obs, tables * np.log(np.where(obs, prob, 1.0)), 0.0).sum(axis=(1, 2))

    rho = np.zeros(tables.shape[0])
    ll = loglik(rho)
    done = np.zeros(rho.size, dtype=bool)
    for _ in range(max_iter):
        prob, dprob = _cell_probs(e1, e2, rho)
        safe = np.where(prob > 0, prob, 1.0)
        grad = np.where(obs, tables * dprob / safe, 0.0).sum(axis=(1, 2))
        info = n * np.where(prob > 0, dprob**2 / safe, 0.0).sum(axis=(1, 2))
        done |= np.abs(grad) < tol * n
        if done.all():
            break
        step = np.where(done, 0.0, grad / np.maximum(info, 1e-300))
        t = np.ones(rho.size)
        for _half in range(30):
            new = np.clip(rho + t * step, -0.999, 0.999)
            ll_new = loglik(new)
            worse = (ll_new < ll - 1e-12 * np.abs(ll)) & ~done
            if not worse.any():
                break
            t = np.where(worse, 0.5 * t, t)
        stalled = np.abs(new - rho) < 1e-15
        rho, ll = new, ll_new
        done |= stalled
    return rho, done


def _zero_add(tables: np.ndarray, e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
    """The ``zero.add = c(0.5, 0)`` of lavaan, margins kept: 2 x 2 tables only."""
    out = tables.copy()
    binary1 = np.isfinite(e1).sum(axis=1) == 1  # one threshold: two categories
    binary2 = np.isfinite(e2).sum(axis=1) == 1
    for q in np.flatnonzero(binary1 & binary2):
        t = out[q, :2, :2]
        zero = t == 0
        if zero.sum() == 1:
            sign = 1.0 if zero[0, 0] or zero[1, 1] else -1.0
            t += sign * 0.5 * np.array([[1.0, -1.0], [-1.0, 1.0]])
    return out


# -------------------------------------------------------------------------- statistics
@dataclass(frozen=True, eq=False)
class OrdinalStats:
    """Sample statistics of ordered items (lavaan's ``sampstat`` for a categorical model).

    Attributes
    ----------
    names : tuple of str
        The items.
    n : int
        Cases.
    th : numpy.ndarray
        All thresholds, item by item (``th_item`` says whose).
    th_item : numpy.ndarray of int
        Item index of each threshold.
    cor : numpy.ndarray, shape (p, p)
        Polychoric correlation matrix.
    gamma : numpy.ndarray
        ``NACOV``: the asymptotic covariance matrix of ``sqrt(n)`` times the statistics vector
        :attr:`vector` (thresholds, then the correlations in :func:`pair_index` order).
    n_dropped : int
        Rows dropped (listwise).
    converged : bool
        Whether every polychoric correlation converged.
    """

    names: tuple[str, ...]
    n: int
    th: np.ndarray
    th_item: np.ndarray
    cor: np.ndarray
    gamma: np.ndarray
    n_dropped: int = 0
    converged: bool = True

    @property
    def p(self) -> int:
        """Number of items."""
        return len(self.names)

    @property
    def vector(self) -> np.ndarray:
        """The statistics: thresholds, then the polychorics below the diagonal (lavaan order)."""
        i, j = pair_index(self.p)
        return np.concatenate([self.th, self.cor[i, j]])


def ordinal_stats(data: OrdinalData) -> OrdinalStats:
    """Thresholds, polychoric correlations and their ``NACOV`` (``Gamma``), as lavaan's WLSMV.

    Parameters
    ----------
    data : OrdinalData

    Returns
    -------
    OrdinalStats
    """
    p, n = len(data.names), data.n
    ncat = data.ncat
    kmax = int(ncat.max())
    th = [thresholds(data.codes[:, a], int(ncat[a])) for a in range(p)]
    ext = _extended(th, kmax)
    i, j = pair_index(p)
    tables = _tables(data, i, j, kmax)
    rho, ok = polychoric(tables, ext[i], ext[j])
    cor = np.eye(p)
    cor[i, j] = cor[j, i] = rho
    gamma = _nacov(data, th, ext, i, j, rho)
    return OrdinalStats(
        names=data.names,
        n=n,
        th=np.concatenate(th),
        th_item=np.repeat(np.arange(p), ncat - 1),
        cor=cor,
        gamma=gamma,
        n_dropped=data.n_dropped,
        converged=bool(ok.all()),
    )


def _univariate_scores(data: OrdinalData, ext: np.ndarray) -> np.ndarray:
    """Casewise scores of the univariate probit likelihoods in the thresholds: (n, nth)."""
    cols = []
    for a, k in enumerate(data.ncat):
        c = data.codes[:, a]
        up, lo = ext[a, c + 1], ext[a, c]
        prob = special.ndtr(up) - special.ndtr(lo)
        sc = np.zeros((c.size, k - 1))
        rows = np.arange(c.size)
        top = c < k - 1  # the upper bound is threshold c
        sc[rows[top], c[top]] = sps.norm.pdf(up[top]) / prob[top]
        bottom = c > 0  # the lower bound is threshold c - 1
        sc[rows[bottom], c[bottom] - 1] = -sps.norm.pdf(lo[bottom]) / prob[bottom]
        cols.append(sc)
    return np.hstack(cols)


def _bivariate_cell_scores(
    e1: np.ndarray, e2: np.ndarray, rho: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell of each pair's table: the scores in ``rho`` and in each item's thresholds.

    Returns ``s_rho`` (npair, kmax, kmax) and the threshold scores ``s1`` (npair, kmax, kmax,
    kmax - 1) of the first item and ``s2`` of the second (last axis: the threshold).
    """
    npair, kp1 = e1.shape
    kmax = kp1 - 1
    prob, dprob = _cell_probs(e1, e2, rho)
    safe = np.where(prob > 0, prob, np.nan)
    s_rho = dprob / safe
    r = np.sqrt((1.0 - rho) * (1.0 + rho))[:, None, None]
    rr = rho[:, None, None]

    def d_first(ea: np.ndarray, eb: np.ndarray) -> np.ndarray:
        # d Phi2(x, y) / dx at x = ea[g] for every column bound y = eb[h]: phi(x) Phi((y-rx)/R)
        x = ea[:, :, None]
        y = eb[:, None, :]
        with np.errstate(invalid="ignore"):
            z = np.where(np.isfinite(x), (y - rr * x) / r, 0.0)
        val = np.where(np.isfinite(x), sps.norm.pdf(x) * special.ndtr(z), 0.0)
        return val[:, :, 1:] - val[:, :, :-1]  # (npair, kmax+1 bounds, kmax cells)

    g1 = d_first(e1, e2)  # item 1 bound g, item 2 cell b
    g2 = d_first(e2, e1)  # item 2 bound g, item 1 cell a
    s1 = np.zeros((npair, kmax, kmax, kmax - 1))
    s2 = np.zeros((npair, kmax, kmax, kmax - 1))
    for t in range(kmax - 1):  # threshold t is bound t + 1: upper of cell t, lower of t + 1
        s1[:, t, :, t] += g1[:, t + 1, :]
        s1[:, t + 1, :, t] -= g1[:, t + 1, :]
        s2[:, :, t, t] += g2[:, t + 1, :]
        s2[:, :, t + 1, t] -= g2[:, t + 1, :]
    return s_rho, s1 / safe[..., None], s2 / safe[..., None]


def _nacov(
    data: OrdinalData,
    th: list[np.ndarray],
    ext: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    rho: np.ndarray,
) -> np.ndarray:
    """``Gamma = n B^-1 (S'S) B^-T`` of Muthen's two-step estimator (lavaan's ``WLS.W * n``)."""
    n = data.n
    kmax = ext.shape[1] - 1
    start = np.concatenate([[0], np.cumsum([t.size for t in th])])
    nth = int(start[-1])
    npair = i.size
    sc_th = _univariate_scores(data, ext)
    s_rho, s1, s2 = _bivariate_cell_scores(ext[i], ext[j], rho)
    c = data.codes
    pairs = np.arange(npair)
    sc_rho = s_rho[pairs[None, :], c[:, i], c[:, j]]  # (n, npair)
    scores = np.hstack([sc_th, sc_rho])
    inner = scores.T @ scores
    # B: per-item threshold blocks of S'S, the squared correlation scores, and below them the
    # cross-products of the correlation score with the bivariate threshold scores
    a11_inv = np.zeros((nth, nth))
    for a in range(len(th)):
        blk = slice(start[a], start[a + 1])
        a11_inv[blk, blk] = np.linalg.inv(inner[blk, blk])
    a22 = np.einsum("ij,ij->j", sc_rho, sc_rho)
    tables = _tables(data, i, j, kmax)
    weighted = np.nan_to_num(tables * s_rho)
    a21 = np.zeros((npair, nth))
    for q in range(npair):
        k1, k2 = th[i[q]].size, th[j[q]].size
        a21[q, start[i[q]] : start[i[q]] + k1] = np.einsum(
            "ab,abt->t", weighted[q], np.nan_to_num(s1[q])
        )[:k1]
        a21[q, start[j[q]] : start[j[q]] + k2] = np.einsum(
            "ab,abt->t", weighted[q], np.nan_to_num(s2[q])
        )[:k2]
    b_inv = np.zeros((nth + npair, nth + npair))
    b_inv[:nth, :nth] = a11_inv
    b_inv[nth:, nth:] = np.diag(1.0 / a22)
    b_inv[nth:, :nth] = -(a21 / a22[:, None]) @ a11_inv
    return n * (b_inv @ inner @ b_inv.T)
