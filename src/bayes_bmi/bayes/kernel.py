"""The log posterior density and its gradient in ``z``, hand-derived, compiled once (numba).

One compiled program serves every model, data set, seed and prior (blavaan's idea): the
model's structure is data. :func:`logp_grad` takes the unconstrained vector ``z``, one integer
buffer and one float buffer (built by :func:`bayes_bmi.bayes.kernel_data.pack`) and returns
the log posterior density (log-likelihood plus log-prior plus the transforms' log-Jacobians)
while writing its gradient into ``grad``. It computes exactly what the PyMC model of
:mod:`bayes_bmi.bayes.builder` computes (``rows_pt -> matrices_pt -> implied_moments_pt ->
mvn_suffstat_loglik_pt + prior_logp_pt``) and returns ``-inf`` where that model does (an
implied covariance matrix that is not positive definite, a uniform prior's bounds).

Layout of the integer buffer: a header of :data:`HEADER` numbers ``nparam, nrow, p, m,
has_beta, nfree, ncorr, ncell, fiml``, then ``transform codes (nparam), prior family (nparam),
free_rows, free_k (nfree), corr_rows, corr_k, corr_var_lhs, corr_var_rhs (ncorr)``, the
matrix cells ``table row, matrix code, row, col`` (``ncell`` x 4) and, with missing cells
(header ``fiml`` = 1), the number of incomplete patterns ``npat`` and per incomplete pattern
``nobs, rank`` and the variables' indices, observed ones first (``p``). The float buffer
holds ``n, base (nrow), ybar (p), chol(S) (p*p), constant lambda (p*m), prior a, b, c,
on_var`` (``nparam`` each) and, with missing cells, ``N, observed cells, centre c (p)``, the
centred data's pairwise totals ``W0 = sum y y'``, ``S1[i, j] = sum y_i``, counts (``p*p``
each, over cases observing both ``i`` and ``j``), sums (``p``) and per incomplete pattern its
count, centred mean (``p``) and covariance factor ``D`` (``cov_O = D D'``), stored
transposed (``rank * nobs``, columns in pattern order).

Multiple groups: the integer buffer starts with :data:`GROUP_MARK` and the number of groups
``G``, then per group :data:`GROUP_RECORD` numbers ``start and length of its integer buffer,
start and length of its float buffer, start of its linear terms in the integer and in the
float buffer, their count``. Each group's buffers are a single-group pair as above (its own
matrix cells, statistics or missingness patterns; ``nparam`` and the priors those of the shared
``z``), so every group reads the same ``z``; the log-likelihoods add up and the prior (read
from group 1's buffers) is counted once. A linear term ``(row, k)`` with coefficient ``c``
adds ``c z[k]`` to a real-valued row of that group after the free values are filled (the
deviations of approximate invariance, :mod:`bayes_bmi.bayes.groups`). A single-group buffer
runs the same loop once, with no linear terms: its arithmetic is unchanged.

The gradient of the marginal log-likelihood ``l`` with ``d = ybar - mu`` and
``W = Sigma^-1 (S + d d') Sigma^-1 - Sigma^-1`` (never formed: only ``W G`` and the cells
of Theta are needed)::

    dl/dSigma = n/2 W,   dl/dmu = n Sigma^-1 d,
    Sigma = G Psi G' + Theta,  G = Lambda (I - B)^-1,  mu = nu + G alpha,

pushed through the matrices (an off-diagonal cell of a symmetric matrix counts twice: it
fills both triangles), the rows (a covariance ``r sqrt(v1 v2)`` feeds its variances) and the
transforms (``exp(2 z)`` variances, ``tanh(z)`` correlations).

With missing cells (full information; the likelihood summed over missingness patterns) the
same push-through starts from ``dl/dSigma`` and ``dl/dmu`` of the pattern likelihood, which by
Fisher's identity equal the complete-data ones with the data's moments replaced by their
conditional expectations: ``dl/dSigma = 1/2 (P T P - N P)`` and ``dl/dmu = P s``, with
``P = Sigma^-1``, ``s`` the sum over cases of ``E[y - mu | observed]`` and ``T`` the sum of
``E[(y - mu)(y - mu)' | observed]``. For a pattern with observed block ``O`` and missing block
``M``, ``R = -P_MM^-1 P_MO`` regresses the missing on the observed deviations and
``P_MM^-1`` is their conditional covariance, so no block of ``Sigma`` is factorised per
pattern: ``log|Sigma_OO| = log|Sigma| + log|P_MM|`` and
``tr(Sigma_OO^-1 B) = tr(P_OO B) - tr(P_MM R B R')`` for ``B = cov_O + d d'``. The observed
blocks of all cases together cost ``p^2`` (from pairwise data totals), each incomplete
pattern ``|M|^2 |O| + |M| |O| rank(cov_O)``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic, register_jitable

__all__ = [
    "EXPAND_SIGNATURE",
    "GROUP_MARK",
    "GROUP_RECORD",
    "HEADER",
    "LOGP_SIGNATURE",
    "MAT_CODES",
    "expand_callback",
    "logp_callback",
    "logp_grad",
]

HEADER = 9
GROUP_MARK = -1
GROUP_RECORD = 7
MAT_CODES = {"lambda": 0, "theta": 1, "psi": 2, "beta": 3, "nu": 4, "alpha": 5}

LOG_2PI = math.log(2.0 * math.pi)
LOG_2 = math.log(2.0)
HALF_LOG_2_OVER_PI = 0.5 * math.log(2.0 / math.pi)
U_EPS = 1e-12

# the entry point releases the GIL; helpers are compiled into it (no wrappers of their own).
# "reassoc" and "contract" let LLVM vectorise the sums; no "nnan"/"ninf": -inf and NaN are
# meaningful here.
_FAST = {"reassoc", "contract", "nsz", "arcp"}
_OPTS = {"nogil": True, "fastmath": _FAST, "error_model": "numpy"}
_jitable = register_jitable(fastmath=_FAST, error_model="numpy")


@_jitable
def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (BLAS)."""
    return np.dot(a, b)


@_jitable
def _tm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a.T @ b`` (BLAS)."""
    return np.dot(np.ascontiguousarray(a.T), b)


@_jitable
def _mv(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``a @ x``."""
    n, k = a.shape
    out = np.zeros(n)
    for i in range(n):
        s = 0.0
        for t in range(k):
            s += a[i, t] * x[t]
        out[i] = s
    return out


@_jitable
def _tv(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``a.T @ x``."""
    k, n = a.shape
    out = np.zeros(n)
    for t in range(k):
        xt = x[t]
        for i in range(n):
            out[i] += a[t, i] * xt
    return out


@_jitable
def _cholesky(a: np.ndarray) -> tuple[np.ndarray, bool]:
    """Lower Cholesky factor of ``a``; False when ``a`` is not positive definite."""
    p = a.shape[0]
    lo = np.zeros((p, p))
    for j in range(p):
        s = a[j, j]
        for k in range(j):
            s -= lo[j, k] * lo[j, k]
        if not s > 0.0:
            return lo, False
        d = math.sqrt(s)
        lo[j, j] = d
        for i in range(j + 1, p):
            t = a[i, j]
            for k in range(j):
                t -= lo[i, k] * lo[j, k]
            lo[i, j] = t / d
    return lo, True


@_jitable
def _lower_inverse(lo: np.ndarray) -> np.ndarray:
    """Inverse of a lower-triangular matrix, by rows (lower triangular)."""
    p = lo.shape[0]
    inv = np.zeros((p, p))
    for i in range(p):
        # row i of inv: (e_i - sum_{k<i} lo[i, k] inv[k, :]) / lo[i, i]
        for k in range(i):
            x = lo[i, k]
            for j in range(k + 1):
                inv[i, j] -= x * inv[k, j]
        d = 1.0 / lo[i, i]
        for j in range(i):
            inv[i, j] *= d
        inv[i, i] = d
    return inv


@_jitable
def _inverse(a: np.ndarray) -> tuple[np.ndarray, bool]:
    """Inverse of a small square matrix by Gauss-Jordan with partial pivoting."""
    m = a.shape[0]
    w = a.copy()
    inv = np.zeros((m, m))
    for j in range(m):
        inv[j, j] = 1.0
    for j in range(m):
        piv = j
        for i in range(j + 1, m):
            if abs(w[i, j]) > abs(w[piv, j]):
                piv = i
        if not abs(w[piv, j]) > 0.0:
            return inv, False
        if piv != j:
            for k in range(m):
                w[j, k], w[piv, k] = w[piv, k], w[j, k]
                inv[j, k], inv[piv, k] = inv[piv, k], inv[j, k]
        d = 1.0 / w[j, j]
        for k in range(m):
            w[j, k] *= d
            inv[j, k] *= d
        for i in range(m):
            f = w[i, j]
            if i != j and f != 0.0:
                for k in range(m):
                    w[i, k] -= f * w[j, k]
                    inv[i, k] -= f * inv[j, k]
    return inv, True


@_jitable
def _rows(z, ints, floats, off):
    """Per-row values (twin of ``rows_from_z``) and the natural values of ``z``."""
    nparam, nrow = ints[0], ints[1]
    nfree, ncorr = ints[5], ints[6]
    codes = ints[HEADER : HEADER + nparam]
    nat = np.empty(nparam)
    for k in range(nparam):
        if codes[k] == 1:
            nat[k] = math.exp(2.0 * z[k])
        elif codes[k] == 2:
            nat[k] = math.tanh(z[k])
        else:
            nat[k] = z[k]
    rows = floats[1 : 1 + nrow].copy()
    o = off[0]
    for j in range(nfree):
        rows[ints[o + j]] = nat[ints[o + nfree + j]]
    o = off[1]
    for j in range(ncorr):
        vl, vr = rows[ints[o + 2 * ncorr + j]], rows[ints[o + 3 * ncorr + j]]
        rows[ints[o + j]] = nat[ints[o + ncorr + j]] * math.sqrt(vl * vr)
    return rows, nat


@_jitable
def _matrices(rows, ints, floats, off):
    """The LISREL matrices from per-row values (twin of ``matrices_pt``)."""
    nrow, p, m, ncell = ints[1], ints[2], ints[3], ints[7]
    o_lam = 1 + nrow + p + p * p
    lam = np.empty((p, m))
    for i in range(p):
        for j in range(m):
            lam[i, j] = floats[o_lam + i * m + j]
    theta = np.zeros((p, p))
    psi = np.zeros((m, m))
    beta = np.zeros((m, m))
    nu = np.zeros(p)
    alpha = np.zeros(m)
    o = off[2]
    for j in range(ncell):
        q = o + 4 * j
        t, mat, r, c = ints[q], ints[q + 1], ints[q + 2], ints[q + 3]
        v = rows[t]
        if mat == 0:
            lam[r, c] = v
        elif mat == 1:
            theta[r, c] = v
            theta[c, r] = v
        elif mat == 2:
            psi[r, c] = v
            psi[c, r] = v
        elif mat == 3:
            beta[r, c] = v
        elif mat == 4:
            nu[r] = v
        else:
            alpha[r] = v
    return lam, theta, psi, beta, nu, alpha


@_jitable
def _moments(lam, theta, psi, a_inv, nu, alpha):
    """``G = Lambda A^-1``, ``Sigma = G Psi G' + Theta`` and ``mu = nu + G alpha``."""
    g = _mm(lam, a_inv)
    sigma = _mm(_mm(g, psi), np.ascontiguousarray(g.T))
    p = g.shape[0]
    for i in range(p):
        for j in range(i + 1):
            s = 0.5 * (sigma[i, j] + sigma[j, i]) + theta[i, j]
            sigma[i, j] = s
            sigma[j, i] = s
    mu = nu + _mv(g, alpha)
    return g, sigma, mu


@_jitable
def _loglik_parts(n, ybar, floats, o_chol, sigma, mu, g):
    """Log-likelihood and what its gradient needs; ``ok`` False when Sigma is not PD.

    With ``Sigma = L L'``, ``K = Sigma^-1 C`` and ``a = Sigma^-1 d``, ``dl/dSigma`` is
    ``n/2 (K K' + a a' - Sigma^-1)``. Only ``dl/dSigma G`` (p x m) and the cells of Theta are
    needed, so ``dl/dSigma`` itself (p x p x p) is never formed. Returns ``ll``,
    ``dl/dSigma G``, ``dl/dmu = n a``, ``L^-T`` and ``K`` (for the Theta cells) and ``ok``.
    """
    p = sigma.shape[0]
    lo, ok = _cholesky(sigma)
    if not ok:
        return -np.inf, g, mu, lo, lo, mu, False
    linv = _lower_inverse(lo)
    linv_t = np.ascontiguousarray(linv.T)
    s_chol = np.empty((p, p))
    for i in range(p):
        for j in range(p):
            s_chol[i, j] = floats[o_chol + i * p + j]
    mm = _mm(linv, s_chol)  # L^-1 C
    v = _mv(linv, ybar - mu)  # L^-1 d
    logdet, trace, quad = 0.0, 0.0, 0.0
    for i in range(p):
        logdet += math.log(lo[i, i])
        quad += v[i] * v[i]
        for j in range(i + 1):
            trace += mm[i, j] * mm[i, j]
    ll = -0.5 * n * (p * LOG_2PI + 2.0 * logdet + trace + quad)
    k = _mm(linv_t, mm)  # Sigma^-1 C
    a = _mv(linv_t, v)  # Sigma^-1 d
    kkg = _mm(k, _tm(k, g))
    sinv_g = _mm(linv_t, _mm(linv, g))
    ag = _tv(g, a)
    half_n = 0.5 * n
    gsg = np.empty_like(g)
    for i in range(p):
        for j in range(g.shape[1]):
            gsg[i, j] = half_n * (kkg[i, j] + a[i] * ag[j] - sinv_g[i, j])
    return ll, gsg, n * a, linv_t, k, a, True


@_jitable
def _gs_cell(r, c, k, a, linv_t, half_n):
    """One cell of ``dl/dSigma = n/2 (K K' + a a' - Sigma^-1)``."""
    s = a[r] * a[c]
    for j in range(k.shape[1]):
        s += k[r, j] * k[c, j] - linv_t[r, j] * linv_t[c, j]
    return half_n * s


@_jitable
def _chol_flat(a, n, lo):
    """Lower Cholesky factor of the ``n x n`` row-major ``a`` into ``lo``; False if not PD."""
    for j in range(n):
        s = a[j * n + j]
        for k in range(j):
            s -= lo[j * n + k] * lo[j * n + k]
        if not s > 0.0:
            return False
        d = math.sqrt(s)
        lo[j * n + j] = d
        for i in range(j + 1, n):
            t = a[i * n + j]
            for k in range(j):
                t -= lo[i * n + k] * lo[j * n + k]
            lo[i * n + j] = t / d
    return True


@_jitable
def _inv_from_chol_flat(lo, n, out):
    """``(L L')^-1`` into ``out``; returns ``log|L L'|``.

    ``lo`` is the row-major Cholesky factor ``L`` (``n x n``); it is overwritten by ``L^-1``.
    """
    logdet = 0.0
    for i in range(n):
        logdet += 2.0 * math.log(lo[i * n + i])
    # L^-1 in place, row by row (rows above i are already inverted)
    for i in range(n):
        d = 1.0 / lo[i * n + i]
        for j in range(i):
            t = 0.0
            for k in range(j, i):
                t -= lo[i * n + k] * lo[k * n + j]
            out[j] = t * d  # row i of L^-1, kept in ``out`` until written back
        for j in range(i):
            lo[i * n + j] = out[j]
        lo[i * n + i] = d
    for a in range(n):
        for c in range(a + 1):
            v = 0.0
            for t in range(a, n):
                v += lo[t * n + a] * lo[t * n + c]
            out[a * n + c] = v
            out[c * n + a] = v
    return logdet


@_jitable
def _fiml_parts(ints, floats, off, sigma, mu):
    """Pattern log-likelihood, ``dl/dSigma`` (symmetric) and ``dl/dmu``; ``ok`` False if not PD.

    See the module docstring. The observed blocks enter through data totals computed once
    (pairwise cross-products, sums and counts of the centred data), so their cost is ``p^2``
    whatever the number of patterns; each incomplete pattern adds the terms of its missing
    block from a low-rank factor ``D`` of its covariance matrix (``cov_O = D D'``), in
    ``|M|^2 |O| + |M| |O| rank`` operations.
    """
    p = sigma.shape[0]
    lo, ok = _cholesky(sigma)
    if not ok:
        return -np.inf, sigma, mu, False
    linv = _lower_inverse(lo)
    prec = _tm(linv, linv)  # Sigma^-1
    logdet = 0.0
    for i in range(p):
        logdet += 2.0 * math.log(lo[i, i])
    oi, of = off[3], off[4]
    npat = ints[oi]
    n_total, cells = floats[of], floats[of + 1]
    o_c = of + 2
    o_w0 = o_c + p
    o_s1 = o_w0 + p * p
    o_np = o_s1 + p * p
    o_s0 = o_np + p * p
    # observed blocks of every case: T_OO = sum (y_O - mu_O)(y_O - mu_O)' (centred data)
    dmu = np.empty(p)
    for i in range(p):
        dmu[i] = mu[i] - floats[o_c + i]
    t_mat = np.empty((p, p))
    quad = 0.0
    for i in range(p):
        for j in range(p):
            v = (
                floats[o_w0 + i * p + j]
                - dmu[j] * floats[o_s1 + i * p + j]
                - dmu[i] * floats[o_s1 + j * p + i]
                + dmu[i] * dmu[j] * floats[o_np + i * p + j]
            )
            t_mat[i, j] = v
            quad += prec[i, j] * v
    s_vec = np.empty(p)
    for i in range(p):
        s_vec[i] = floats[o_s0 + i] - floats[o_np + i * p + i] * dmu[i]
    ll = -0.5 * (cells * LOG_2PI + n_total * logdet + quad)
    # missing blocks of each incomplete pattern (Fisher's identity); scratch buffers are
    # allocated once per call, flat, row-major (an allocation per pattern would cost more
    # than the arithmetic of a pattern with one missing item)
    e = np.empty(p)
    pmm = np.empty(p * p)
    lm = np.empty(p * p)
    q = np.empty(p * p)
    prow = np.empty(p)
    pw = np.empty(p * (p + 1))  # P_MO [e, D]
    rd = np.empty(p * p)
    re = np.empty(p)
    tmp = np.empty(p)
    qi = oi + 1
    qf = o_s0 + p
    for _ in range(npat):
        no, rank = ints[qi], ints[qi + 1]
        order = ints[qi + 2 : qi + 2 + p]
        qi += 2 + p
        nm = p - no
        nk = floats[qf]
        mk = qf + 1
        dfac = mk + p
        qf = dfac + no * rank
        for a in range(no):
            e[a] = floats[mk + order[a]] - dmu[order[a]]
        for a in range(nm):
            for c in range(nm):
                pmm[a * nm + c] = prec[order[no + a], order[no + c]]
        if not _chol_flat(pmm, nm, lm):
            return -np.inf, sigma, mu, False
        logdet_m = _inv_from_chol_flat(lm, nm, q)  # q = P_MM^-1, the conditional covariance
        # R = -P_MM^-1 P_MO gives E[y_M - mu_M | y_O] = R (y_O - mu_O); R is never formed:
        # re = R e and rd = R D (D stored transposed, rank x |O|) come from P_MO e and P_MO D,
        # then -P_MM^-1 (|M| |O| (1 + rank) + |M|^2 (1 + rank) operations)
        for a in range(nm):
            ia = order[no + a]
            for c in range(no):
                prow[c] = prec[ia, order[c]]
            acc = 0.0
            for c in range(no):
                acc += prow[c] * e[c]
            pw[a * (rank + 1)] = acc
            for j in range(rank):
                base = dfac + j * no
                acc = 0.0
                for c in range(no):
                    acc += prow[c] * floats[base + c]
                pw[a * (rank + 1) + 1 + j] = acc
        for a in range(nm):
            acc = 0.0
            for t in range(nm):
                acc -= q[a * nm + t] * pw[t * (rank + 1)]
            re[a] = acc
            for j in range(rank):
                acc = 0.0
                for t in range(nm):
                    acc -= q[a * nm + t] * pw[t * (rank + 1) + 1 + j]
                rd[a * rank + j] = acc
        tr_m = 0.0
        for a in range(nm):
            ia = order[no + a]
            s_vec[ia] += nk * re[a]
            for c in range(nm):
                rbr = re[a] * re[c]
                for j in range(rank):
                    rbr += rd[a * rank + j] * rd[c * rank + j]
                t_mat[ia, order[no + c]] += nk * (rbr + q[a * nm + c])
                tr_m += pmm[a * nm + c] * rbr
            # (cov_O + e e') R' column a: e re_a + D (R D)'_a
            for c in range(no):
                tmp[c] = e[c] * re[a]
            for j in range(rank):
                w = rd[a * rank + j]
                base = dfac + j * no
                for c in range(no):
                    tmp[c] += w * floats[base + c]
            for c in range(no):
                ic = order[c]
                v = nk * tmp[c]
                t_mat[ic, ia] += v
                t_mat[ia, ic] += v
        ll -= 0.5 * nk * (logdet_m - tr_m)
    ptp = _mm(_mm(prec, t_mat), prec)
    gmat = np.empty((p, p))
    for i in range(p):
        for j in range(p):
            gmat[i, j] = 0.5 * (ptp[i, j] - n_total * prec[i, j])
    return ll, gmat, _mv(prec, s_vec), True


@_jitable
def _loglik_grad_rows(rows, ints, floats, off, grows):
    """Marginal log-likelihood at ``rows``; adds its gradient in the rows to ``grows``."""
    nrow, p, m, ncell = ints[1], ints[2], ints[3], ints[7]
    n = floats[0]
    has_beta = ints[4] == 1
    lam, theta, psi, beta, nu, alpha = _matrices(rows, ints, floats, off)
    ia = -beta
    for j in range(m):
        ia[j, j] += 1.0
    a_inv = ia  # the identity when the model has no beta cells, as in the PyMC model
    if has_beta:
        a_inv, ok = _inverse(ia)
        if not ok:
            return -np.inf
    g, sigma, mu = _moments(lam, theta, psi, a_inv, nu, alpha)
    missing = ints[8] > 0
    if missing:
        ll, gmat, gmu, ok = _fiml_parts(ints, floats, off, sigma, mu)
        if not ok or not math.isfinite(ll):
            return -np.inf
        gsg = _mm(gmat, g)
        linv_t, k, a = gmat, gmat, gmu  # unused on this path
    else:
        gmat = sigma  # unused on this path
        ybar = floats[1 + nrow : 1 + nrow + p]
        ll, gsg, gmu, linv_t, k, a, ok = _loglik_parts(n, ybar, floats, 1 + nrow + p, sigma, mu, g)
        if not ok or not math.isfinite(ll):
            return -np.inf
    dpsi = _tm(g, gsg)
    dg = _mm(gsg, psi)
    for i in range(p):
        for j in range(m):
            dg[i, j] = 2.0 * dg[i, j] + gmu[i] * alpha[j]
    dalpha = _tv(g, gmu)
    if has_beta:
        dlam = _mm(dg, np.ascontiguousarray(a_inv.T))
        dbeta = _tm(a_inv, _tm(lam, dlam))
    else:
        dlam, dbeta = dg, beta
    o = off[2]
    for j in range(ncell):
        q = o + 4 * j
        t, mat, r, c = ints[q], ints[q + 1], ints[q + 2], ints[q + 3]
        if mat == 0:
            grows[t] += dlam[r, c]
        elif mat == 1:
            cell = gmat[r, c] if missing else _gs_cell(r, c, k, a, linv_t, 0.5 * n)
            grows[t] += cell if r == c else 2.0 * cell
        elif mat == 2:
            grows[t] += dpsi[r, c] if r == c else 2.0 * dpsi[r, c]
        elif mat == 3:
            grows[t] += dbeta[r, c]
        elif mat == 4:
            grows[t] += gmu[r]
        else:
            grows[t] += dalpha[r]
    return ll


@_jitable
def _rows_grad_to_z(z, nat, rows, grows, ints, off, grad):
    """Push the gradient in the rows through the covariances and the transforms."""
    nparam, nfree, ncorr = ints[0], ints[5], ints[6]
    codes = ints[HEADER : HEADER + nparam]
    gnat = np.zeros(nparam)
    o = off[1]
    for j in range(ncorr):
        row, k = ints[o + j], ints[o + ncorr + j]
        il, ir = ints[o + 2 * ncorr + j], ints[o + 3 * ncorr + j]
        vl, vr = rows[il], rows[ir]
        root = math.sqrt(vl * vr)
        gr = grows[row]
        gnat[k] += gr * root
        if root > 0.0:
            grows[il] += gr * nat[k] * 0.5 * vr / root
            grows[ir] += gr * nat[k] * 0.5 * vl / root
    o = off[0]
    for j in range(nfree):
        gnat[ints[o + nfree + j]] += grows[ints[o + j]]
    for k in range(nparam):
        if codes[k] == 1:
            grad[k] += gnat[k] * 2.0 * nat[k]
        elif codes[k] == 2:
            grad[k] += gnat[k] * (1.0 - nat[k] * nat[k])
        else:
            grad[k] += gnat[k]


@_jitable
def _log1m_tanh2(z: float) -> float:
    """``log(1 - tanh(z)**2)``, stable for large ``|z|``."""
    az = abs(z)
    return 2.0 * (LOG_2 - az - math.log1p(math.exp(-2.0 * az)))


@_jitable
def _family(fam, a, b, c, x_real, x_pos, u, r_safe):
    """Log density of one prior family and its derivative in the family's argument."""
    if fam == 0:  # normal
        t = (x_real - a) / b
        return -0.5 * t * t - math.log(b) - 0.5 * LOG_2PI, -t / b
    if fam == 1:  # student_t(df a, loc b, scale c)
        t = (x_real - b) / c
        val = (
            math.lgamma(0.5 * (a + 1.0))
            - math.lgamma(0.5 * a)
            - 0.5 * math.log(a * math.pi)
            - math.log(c)
            - 0.5 * (a + 1.0) * math.log1p(t * t / a)
        )
        return val, -(a + 1.0) * (x_real - b) / (a * c * c + (x_real - b) ** 2)
    if fam == 2:  # cauchy
        t = (x_real - a) / b
        return -math.log(math.pi * b) - math.log1p(t * t), -2.0 * t / (b * (1.0 + t * t))
    if fam == 3:  # gamma(shape a, rate b)
        val = a * math.log(b) - math.lgamma(a) + (a - 1.0) * math.log(x_pos) - b * x_pos
        return val, (a - 1.0) / x_pos - b
    if fam == 4:  # lognormal
        lx = math.log(x_pos)
        t = (lx - a) / b
        val = -lx - math.log(b) - 0.5 * LOG_2PI - 0.5 * t * t
        return val, -1.0 / x_pos - t / (b * x_pos)
    if fam == 5:  # halfnormal
        t = x_pos / a
        return HALF_LOG_2_OVER_PI - math.log(a) - 0.5 * t * t, -t / a
    if fam == 6:  # exponential
        return math.log(a) - a * x_pos, -a
    if fam == 7:  # beta on (r + 1) / 2
        val = (
            math.lgamma(a + b)
            - math.lgamma(a)
            - math.lgamma(b)
            + (a - 1.0) * math.log(u)
            + (b - 1.0) * math.log1p(-u)
        )
        return val, (a - 1.0) / u - (b - 1.0) / (1.0 - u)
    if fam == 8:  # uniform on r
        if a < r_safe < b:
            return -math.log(b - a), 0.0
        return -np.inf, 0.0
    return 0.0, 0.0


@_jitable
def _prior_one(z, code, fam, a, b, c, on_var):
    """Log-prior plus log-Jacobian of one element of ``z``, and its derivative.

    Twin of ``prior_logp_pt``: the family sees safe values where the transform does not apply.
    """
    x_real, dx_real = (z, 1.0) if code == 0 else (0.0, 0.0)
    x_pos, dx_pos = 1.0, 0.0
    u, du, r_safe = 0.5, 0.0, 0.0
    jac, djac = 0.0, 0.0
    if code == 1:
        sd = math.exp(z)
        if on_var > 0.5:
            x_pos, dx_pos = sd * sd, 2.0 * sd * sd
            jac, djac = LOG_2 + 2.0 * z, 2.0
        else:
            x_pos, dx_pos = sd, sd
            jac, djac = z, 1.0
    elif code == 2:
        r = math.tanh(z)
        r_safe = r
        u = 0.5 * (r + 1.0)
        if u < U_EPS:
            u = U_EPS
        elif u > 1.0 - U_EPS:
            u = 1.0 - U_EPS
        else:
            du = 0.5 * (1.0 - r * r)
        jac = _log1m_tanh2(z) - (0.0 if fam == 8 else LOG_2)
        djac = -2.0 * r
    val, dval = _family(fam, a, b, c, x_real, x_pos, u, r_safe)
    if fam <= 2:
        dval *= dx_real
    elif fam <= 6:
        dval *= dx_pos
    elif fam == 7:
        dval *= du
    return val + jac, dval + djac


@_jitable
def _prior(z, ints, floats, grad):
    """Sum of the log-priors and log-Jacobians; adds their gradient to ``grad``."""
    nparam, nrow, p, m = ints[0], ints[1], ints[2], ints[3]
    codes = ints[HEADER : HEADER + nparam]
    fams = ints[HEADER + nparam : HEADER + 2 * nparam]
    o = 1 + nrow + p + p * p + p * m
    total = 0.0
    for k in range(nparam):
        val, dval = _prior_one(
            z[k],
            codes[k],
            fams[k],
            floats[o + k],
            floats[o + nparam + k],
            floats[o + 2 * nparam + k],
            floats[o + 3 * nparam + k],
        )
        total += val
        grad[k] += dval
    return total


@_jitable
def _offsets(ints):
    """Start of: free rows, correlation rows, matrix cells, pattern ints, pattern floats."""
    nparam, nrow, p, m = ints[0], ints[1], ints[2], ints[3]
    nfree, ncorr, ncell = ints[5], ints[6], ints[7]
    o_free = HEADER + 2 * nparam
    o_corr = o_free + 2 * nfree
    o_cell = o_corr + 4 * ncorr
    o_pat = o_cell + 4 * ncell
    o_patf = 1 + nrow + p + p * p + p * m + 4 * nparam
    return np.array([o_free, o_corr, o_cell, o_pat, o_patf])


@_jitable
def _group_buffers(ints, floats, g):
    """Group ``g``'s integer and float buffers and its linear terms (start, start, count).

    A single-group buffer is its own group 0 with no linear terms.
    """
    if ints[0] != GROUP_MARK:
        return ints, floats, 0, 0, 0
    h = 2 + GROUP_RECORD * g
    io, il, fo, fl = ints[h], ints[h + 1], ints[h + 2], ints[h + 3]
    return ints[io : io + il], floats[fo : fo + fl], ints[h + 4], ints[h + 5], ints[h + 6]


@_jitable
def _logp_grad(z: np.ndarray, ints: np.ndarray, floats: np.ndarray, grad: np.ndarray) -> float:
    """Log posterior density at ``z``; its gradient is written into ``grad``.

    Returns ``-inf`` (``grad`` then undefined) where the PyMC model's log density is
    ``-inf``: an implied covariance matrix that is not positive definite, a singular
    ``I - B``, a correlation outside a uniform prior's bounds. With groups (see the module
    docstring) the log-likelihoods of the groups add up; the prior is counted once.
    """
    for k in range(grad.size):
        grad[k] = 0.0
    ngroup = ints[1] if ints[0] == GROUP_MARK else 1
    total = 0.0
    for g in range(ngroup):
        gi, gf, lio, lfo, nlin = _group_buffers(ints, floats, g)
        off = _offsets(gi)
        rows, nat = _rows(z, gi, gf, off)
        for j in range(nlin):  # rows that add ``coef * z[k]`` (approximate invariance)
            rows[ints[lio + 2 * j]] += floats[lfo + j] * z[ints[lio + 2 * j + 1]]
        grows = np.zeros(rows.size)
        ll = _loglik_grad_rows(rows, gi, gf, off, grows)
        if not math.isfinite(ll):
            return -np.inf
        for j in range(nlin):  # real-valued rows only: no transform, no covariance feeds them
            grad[ints[lio + 2 * j + 1]] += floats[lfo + j] * grows[ints[lio + 2 * j]]
        _rows_grad_to_z(z, nat, rows, grows, gi, off, grad)
        total += ll
    gi, gf, _, _, _ = _group_buffers(ints, floats, 0)
    lp = _prior(z, gi, gf, grad)
    total = total + lp
    if not math.isfinite(total):
        return -np.inf
    return total


# the kernel callable from Python (tests, benchmarks); nutpie uses the C callback below, which
# compiles ``_logp_grad`` into itself (one compilation, not a dispatcher linked in)
logp_grad = njit(**_OPTS)(_logp_grad)


# --- C callbacks for nutpie (compiled by bayes_bmi.bayes.compiled, cached on disk) ---
# nutpie calls ``logp(dim, x, grad, logp, user_data)`` from its own threads, without the GIL;
# ``user_data`` points at four int64: the address and length of the integer buffer, then of
# the float buffer. A return code > 0 is a recoverable error (a divergence) for nutpie.

LOGP_SIGNATURE = types.int64(
    types.uint64,
    types.CPointer(types.double),
    types.CPointer(types.double),
    types.CPointer(types.double),
    types.voidptr,
)
EXPAND_SIGNATURE = types.int64(
    types.uint64,
    types.uint64,
    types.CPointer(types.double),
    types.CPointer(types.double),
    types.voidptr,
)


@intrinsic
def _as_pointer(typingctx, address):
    """An integer address as a ``void*``."""

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


def logp_callback(dim, x_ptr, grad_ptr, logp_ptr, user_data):  # pragma: no cover - compiled
    """C callback: the log density at ``x`` into ``*logp_ptr``, its gradient into ``grad``."""
    header = carray(user_data, (4,), np.int64)
    ints = carray(_as_pointer(header[0]), (header[1],), np.int64)
    floats = carray(_as_pointer(header[2]), (header[3],), np.float64)
    x = carray(x_ptr, (dim,))
    grad = carray(grad_ptr, (dim,))
    out = carray(logp_ptr, (1,))
    value = _logp_grad(x, ints, floats, grad)
    out[0] = value
    if not math.isfinite(value):
        return 4
    return 0


def expand_callback(dim, expanded, x_ptr, out_ptr, user_data):  # pragma: no cover - compiled
    """C callback: the stored draw is ``z`` itself."""
    x = carray(x_ptr, (dim,))
    out = carray(out_ptr, (expanded,))
    for i in range(dim):
        out[i] = x[i]
    return 0
