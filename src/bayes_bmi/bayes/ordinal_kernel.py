"""The log posterior of the cumulative-probit (ordinal) SEM and its gradient, compiled once.

The model (theta parameterisation; every observed variable an ordered item)::

    y*_ij = nu_j + lambda_j' eta_i + eps_ij,   eps_ij ~ N(0, 1)
    y_ij = c  <=>  tau_j,c-1 < y*_ij <= tau_jc      (tau_j0 = -inf, tau_jK = +inf)
    eta_i = (I - B)^-1 (alpha + L u_i),  L L' = Psi,  u_i ~ N(0, I)   (non-centred)

so ``P(y_ij = c | eta_i) = Phi(tau_jc - mu_ij) - Phi(tau_j,c-1 - mu_ij)`` with
``mu_ij = nu_j + lambda_j' eta_i``. The latent variables are augmented (sampled with the
parameters, ``n * m`` of them), the latent responses are not: given ``eta_i`` the items are
independent and each contributes one difference of normal CDFs, computed on the log scale
in the tails (:func:`_log_diff_ndtr`). The residual variances of the items are fixed to 1 and
their intercepts to 0 by the caller; the kernel reads ``nu`` and ``Lambda`` and ignores
``Theta``.

Thresholds are sampled on the scale of their item's latent response, through an ordered
transform: ``t_j1 = w_j1``, ``t_jc = t_j,c-1 + exp(w_jc)``, ``tau_jc = s_j t_jc`` with
``s_j = sqrt((Lambda Cov(eta) Lambda')_jj + 1)`` the latent response's model-implied sd. The
data pin down ``tau / s`` (the category proportions), not ``tau``: sampled as ``tau``, an
item's thresholds moved with its loading and its factor's variance along a curved ridge (on
the ordinal HS CFA ``speed =~ x9`` had correlations of -0.78 and 0.76 with ``x9|t1``,
``x9|t4`` and R-hat up to 1.018 after 4 x 1500 draws). Their prior is a normal density on
each threshold's natural value ``tau`` (blavaan's default ``normal(0, 1.5)``) plus the
log-Jacobians ``sum_{c >= 2} w_jc + K_j log s_j``, i.e. independent normals restricted to
ordered values whatever the coordinates.

Unconstrained vector ``z``: the model's parameters (as in :mod:`bayes_bmi.bayes.kernel`),
then the raw thresholds (``nthr``, item by item), then ``u`` (``n * m``, case by case).
Every free loading and regression coefficient (its own parameter) is sampled on the scale
of the residual sds it connects, ``b* = b * sd_p / sd_o``: ``sd_p`` the predictor's own sd
(``exp(z_k)`` of a factor's or latent regressor's (residual) variance), ``sd_o`` the
outcome's residual sd (1 for an ordered item). Given ``u``, the response means depend on
``b * sd_p`` and the outcome's standardised residual scale on ``b * sd_p / sd_o``, so ``b``
and the sds form curved ridges that NUTS crosses slowly (on the ordinal HS CFA ``speed =~
x9`` kept a bulk ESS below 400 and R-hat above 1.01 after 4 x 1500 draws; on the 14-factor
model with a second-order factor and eight correlated predictors the regression block did not
mix at all); ``b*`` and the log-sds are nearly independent. In these coordinates the
latent variables are, in effect, standardised (``L = diag(sd) chol(R)``): the sds are
left only in the fixed marker loadings. The priors stay on ``b``; the log-Jacobian
``log(sd_o / sd_p)`` per rescaled coefficient is added.

Buffers: the continuous kernel's buffers of the same model (without missing-data patterns;
its data summaries are not read), followed by the ordinal part. Integers: ``n, nthr``, per
item its number of thresholds ``K_j`` (``p``) and the start of its thresholds in the
threshold vector (``p``), a flag (0: non-centred, ``u_i``; 2: non-centred with the values
of higher-order factors integrated out, see :func:`_marginal_setup`; 1, centred, was removed
with its loop: it mixed worse and took 4 s of the compilation), then the data as
category codes ``0..K_j`` (``n * p``, case by case; ``-1`` for a missing cell, which is skipped: the
likelihood of the observed cells), then the number of rescaled coefficients and for each the
index in ``z`` of the coefficient, of the predictor's and of the outcome's log-sd (``-1``: a
fixed unit sd), then ``npre``, the number of preconditioned parameters (0: none). Floats:
each threshold's prior mean and sd (``nthr`` each), then with a preconditioner its shift
``m`` (``npre``) and lower-triangular ``L`` (``npre * npre``): the sampler's ``x`` gives
``z[:npre] = m + L x[:npre]`` (:func:`_logp_grad`). One compiled program serves every
ordinal model and data set.

Gradient: with ``D_ij = dl/dmu_ij``, ``zeta_i = alpha + L u_i`` and ``eta_i = A^-1 zeta_i``
(``A = I - B``)::

    dl/dnu_j = sum_i D_ij,   dl/dLambda_jk = sum_i D_ij eta_ik,
    dzeta_i = A^-T Lambda' D_i,   dl/dalpha = sum_i dzeta_i,   dl/dB = sum_i dzeta_i eta_i',
    dl/dL = lower(sum_i dzeta_i u_i'),   dl/du_i = L' dzeta_i,

and ``dl/dPsi`` from ``dl/dL`` by the Cholesky factor's reverse mode (:func:`_chol_backward`);
the thresholds' scales add ``dl/ds_j`` terms (:func:`_scales_grad`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import carray, njit

from bayes_bmi.bayes.kernel import (
    _OPTS,
    EXPAND_SIGNATURE,
    HEADER,
    LOG_2PI,
    LOGP_SIGNATURE,
    _as_pointer,
    _cholesky,
    _inverse,
    _jitable,
    _lower_inverse,
    _matrices,
    _offsets,
    _prior,
    _rows,
    _rows_grad_to_z,
)

__all__ = [
    "EXPAND_SIGNATURE",
    "LOGP_SIGNATURE",
    "expand_callback",
    "cell",
    "log_diff_ndtr",
    "logp_callback",
    "logp_grad",
]

INV_SQRT2 = 1.0 / math.sqrt(2.0)
HALF_LOG_2PI = 0.5 * LOG_2PI


@_jitable
def _log_ndtr(x: float) -> float:
    """``log Phi(x)``, accurate in both tails."""
    if x > 0.0:
        return math.log1p(-0.5 * math.erfc(x * INV_SQRT2))
    if x > -37.0:
        return math.log(0.5 * math.erfc(-x * INV_SQRT2))
    # asymptotic series of the Mills ratio (erfc underflows below about -38):
    # 1 - 1/x^2 + 3/x^4 - 15/x^6 + ... (the omitted terms below 1e-17 for x <= -37)
    x2 = 1.0 / (x * x)
    series = x2 * (1.0 - x2 * (3.0 - x2 * (15.0 - x2 * (105.0 - x2 * (945.0 - 10395.0 * x2)))))
    return -0.5 * x * x - math.log(-x) - HALF_LOG_2PI + math.log1p(-series)


@_jitable
def _log1mexp(d: float) -> float:
    """``log(1 - exp(d))`` for ``d <= 0``."""
    if d > -0.6931471805599453:
        return math.log(-math.expm1(d))
    return math.log1p(-math.exp(d))


@_jitable
def _log_diff_ndtr(a: float, b: float, lo_inf: bool, hi_inf: bool) -> float:
    """``log(Phi(b) - Phi(a))`` for ``a < b``; ``lo_inf``/``hi_inf``: ``a = -inf``/``b = inf``.

    Both tails are taken where they are accurate: below zero ``log Phi(b) + log(1 -
    Phi(a) / Phi(b))``, above zero the same on ``(-b, -a)``, across zero ``erf``.
    """
    if lo_inf and hi_inf:
        return 0.0
    if lo_inf:
        return _log_ndtr(b)
    if hi_inf:
        return _log_ndtr(-a)
    if b <= 0.0:
        lb = _log_ndtr(b)
        return lb + _log1mexp(_log_ndtr(a) - lb)
    if a >= 0.0:
        lb = _log_ndtr(-a)
        return lb + _log1mexp(_log_ndtr(-b) - lb)
    return math.log(0.5 * (math.erf(b * INV_SQRT2) - math.erf(a * INV_SQRT2)))


@_jitable
def _ord_offsets(ints, off):
    """Start of the ordinal integers and floats (after the continuous buffers)."""
    return off[3], off[4]


@_jitable
def _thresholds(z, ints, floats, oi, of, nparam, scale, grad):
    """Thresholds from their raw values; their log-prior (+ Jacobian) and its gradient.

    ``tau_jc = s_j * t_jc`` with ``t_j`` the ordered transform of the raw values and ``s_j``
    (``scale``) the sd of item ``j``'s latent response. Returns ``tau``, ``t``, the log-prior
    and its gradient in ``tau`` (to be completed by the likelihood's and pushed to the raw
    values and to ``s`` by :func:`_thresholds_grad`); the transform's own Jacobian terms go
    into ``grad`` here.
    """
    p, nthr = ints[2], ints[oi + 1]
    tau = np.empty(nthr)
    t = np.empty(nthr)
    lp = 0.0
    for j in range(p):
        kj, start = ints[oi + 2 + j], ints[oi + 2 + p + j]
        for c in range(kj):
            k = start + c
            w = z[nparam + k]
            if c == 0:
                t[k] = w
            else:
                t[k] = t[k - 1] + math.exp(w)
                lp += w  # log-Jacobian of the ordered transform
                grad[nparam + k] += 1.0
            tau[k] = scale[j] * t[k]
        lp += kj * math.log(scale[j])  # log-Jacobian of the scaling
    dtau = np.zeros(nthr)
    for k in range(nthr):
        mean, sd = floats[of + k], floats[of + nthr + k]
        r = (tau[k] - mean) / sd
        lp += -0.5 * r * r - math.log(sd) - HALF_LOG_2PI
        dtau[k] = -r / sd
    return tau, t, lp, dtau


@_jitable
def _thresholds_grad(z, ints, oi, nparam, scale, t, dtau, grad):
    """Push a gradient in the thresholds to their raw values (adds to ``grad``).

    Returns the gradient in the scales ``s_j`` (``sum_c dtau_jc t_jc + K_j / s_j``, the
    second term the scaling's log-Jacobian).
    """
    p = ints[2]
    dscale = np.zeros(p)
    for j in range(p):
        kj, start = ints[oi + 2 + j], ints[oi + 2 + p + j]
        acc = 0.0
        ds = kj / scale[j]
        for c in range(kj - 1, -1, -1):  # d t_c' / d w_c = exp(w_c) for every c' >= c
            k = start + c
            ds += dtau[k] * t[k]
            acc += dtau[k] * scale[j]
            grad[nparam + k] += acc if c == 0 else acc * (t[k] - t[k - 1])
        dscale[j] = ds
    return dscale


@_jitable
def _response_scales(lam, psi, beta, has_beta):
    """``s_j = sqrt((Lambda Cov(eta) Lambda')_jj + 1)``, ``Cov(eta)`` and ``(I - B)^-1``.

    The latent responses' sds under the theta parameterisation (unit residual variances).
    Returns ``ok = False`` for a singular ``I - B``.
    """
    p, m = lam.shape
    a_inv = np.eye(m)
    if has_beta:
        ia = -beta
        for j in range(m):
            ia[j, j] += 1.0
        a_inv, ok = _inverse(ia)
        if not ok:
            return np.ones(p), psi, a_inv, False
    cov = np.dot(np.dot(a_inv, psi), np.ascontiguousarray(a_inv.T))
    scale = np.empty(p)
    for j in range(p):
        s = 1.0
        for k in range(m):
            if lam[j, k] != 0.0:
                for r in range(m):
                    s += lam[j, k] * cov[k, r] * lam[j, r]
        scale[j] = math.sqrt(s)
    return scale, cov, a_inv, True


@_jitable
def _scales_grad(lam, cov, a_inv, scale, dscale, dlam, dbeta, has_beta):
    """Push ``dl/ds`` to ``Lambda`` (into ``dlam``), ``B`` (into ``dbeta``); returns ``dl/dPsi``.

    ``ds_j / dLambda_j = Cov(eta) lambda_j / s_j``; ``G = dl/dCov(eta) = sum_j dl/ds_j
    lambda_j lambda_j' / (2 s_j)``; with ``M = (I - B)^-1``: ``dl/dPsi = M' G M`` and
    ``dl/dB = 2 M' G Cov(eta)`` (``Cov(eta) = M Psi M'``).
    """
    p, m = lam.shape
    g = np.zeros((m, m))
    for j in range(p):
        f = dscale[j] / scale[j]
        for k in range(m):
            if lam[j, k] != 0.0:
                s = 0.0
                for r in range(m):
                    s += cov[k, r] * lam[j, r]
                dlam[j, k] += f * s
                for r in range(m):
                    g[k, r] += 0.5 * f * lam[j, k] * lam[j, r]
    mt = np.ascontiguousarray(a_inv.T)
    dpsi = np.dot(np.dot(mt, g), a_inv)
    if has_beta:
        db = np.dot(np.dot(mt, g), cov)
        for r in range(m):
            for c in range(m):
                dbeta[r, c] += 2.0 * db[r, c]
    return dpsi


@_jitable
def _chol_backward(lo, dlo):
    """Symmetric ``dl/dPsi`` from ``dl/dL`` for ``Psi = L L'`` (lower ``L``).

    ``S = L^-T Phi(L' dL) L^-1`` with ``Phi`` the lower triangle, diagonal halved; the
    symmetric gradient is ``(S + S') / 2`` (each cell of both triangles counted once).
    """
    m = lo.shape[0]
    prod = np.dot(np.ascontiguousarray(lo.T), dlo)
    phi = np.zeros((m, m))
    for i in range(m):
        for j in range(i):
            phi[i, j] = prod[i, j]
        phi[i, i] = 0.5 * prod[i, i]
    linv = _lower_inverse(lo)
    s = np.dot(np.dot(np.ascontiguousarray(linv.T), phi), linv)
    out = np.empty((m, m))
    for i in range(m):
        for j in range(m):
            out[i, j] = 0.5 * (s[i, j] + s[j, i])
    return out


@_jitable
def _loadings(lam):
    """Non-zero loadings as ``(item, factor)`` pairs (``Lambda`` is sparse)."""
    p, m = lam.shape
    count = 0
    for j in range(p):
        for k in range(m):
            if lam[j, k] != 0.0:
                count += 1
    pairs = np.empty((count, 2), dtype=np.int64)
    q = 0
    for j in range(p):
        for k in range(m):
            if lam[j, k] != 0.0:
                pairs[q, 0] = j
                pairs[q, 1] = k
                q += 1
    return pairs


# Cephes' rational approximations of erf and erfc (Moshier, Cephes 2.9, ndtr.c; as in
# scipy.special): erf(x) = x T(x^2) / U(x^2) for |x| < 1, erfc(x) = exp(-x^2) P(x) / Q(x) for
# 1 <= x < 8 and exp(-x^2) R(x) / S(x) above (U, Q, S with a leading 1). Relative error of
# erfc below 6e-14 up to x = 26.6 (Cephes); the cells use them where exp(-x^2) is shared
# with the normal density of the gradient.
_ERF_T = (
    9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
    7.00332514112805075473e3, 5.55923013010394962768e4,
)  # fmt: skip
_ERF_U = (
    3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
    2.26290000613890934246e4, 4.92673942608635921086e4,
)  # fmt: skip
_ERFC_P = (
    2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
    4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
    9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2,
)  # fmt: skip
_ERFC_Q = (
    1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
    9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
    1.65666309194161350182e3, 5.57535340817727675546e2,
)  # fmt: skip
_ERFC_R = (
    5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
    6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0,
)  # fmt: skip
_ERFC_S = (
    2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
    1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0,
)  # fmt: skip
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: Beyond this |bound| the cells fall back to :func:`_log_diff_ndtr` (``exp(-t^2/2)``
#: underflows near 38.6; its asymptotic series there is exact to double precision).
FAST_MAX = 37.0


@_jitable
def _polevl(x, coef):
    s = coef[0]
    for k in range(1, len(coef)):
        s = s * x + coef[k]
    return s


@_jitable
def _p1evl(x, coef):
    s = x + coef[0]
    for k in range(1, len(coef)):
        s = s * x + coef[k]
    return s


@_jitable
def _half_erf(t):
    """``0.5 * erf(|t| / sqrt 2)`` for ``|t| < sqrt 2`` (relative accuracy ~1e-16)."""
    x = abs(t) * INV_SQRT2
    z = x * x
    return 0.5 * x * _polevl(z, _ERF_T) / _p1evl(z, _ERF_U)


@_jitable
def _upper_tail(t, e):
    """``Q(|t|) = 1 - Phi(|t|)`` given ``e = exp(-t^2 / 2)``, with relative accuracy."""
    x = abs(t) * INV_SQRT2
    if x < 1.0:
        return 0.5 - _half_erf(t)
    if x < 8.0:
        return 0.5 * e * _polevl(x, _ERFC_P) / _p1evl(x, _ERFC_Q)
    return 0.5 * e * _polevl(x, _ERFC_R) / _p1evl(x, _ERFC_S)


@_jitable
def _cell_fast(a, b, lo_inf, hi_inf):
    """:func:`_cell` by the rational approximations: ``P`` itself, then one ``log``.

    ``P = Phi(b) - Phi(a)`` is formed from upper tails on the same side of zero (two tails of
    ``|a| < |b|`` or one minus a tail) or from two half-``erf`` across zero, so that no term
    cancels more than the cell's own width demands; ``exp(-t^2/2)`` serves both the tail and
    the density in the derivatives. Relative error of ``P`` below 1e-13 for cells wider than
    0.01 (tested against ``scipy.special.log_ndtr``).
    """
    ea = 0.0 if lo_inf else math.exp(-0.5 * a * a)
    eb = 0.0 if hi_inf else math.exp(-0.5 * b * b)
    if lo_inf:
        qb = _upper_tail(b, eb)
        if b <= 0.0:
            prob = qb
            lp = math.log(qb)
        else:
            prob = 1.0 - qb
            lp = math.log1p(-qb)
    elif hi_inf:
        qa = _upper_tail(a, ea)
        if a >= 0.0:
            prob = qa
            lp = math.log(qa)
        else:
            prob = 1.0 - qa
            lp = math.log1p(-qa)
    else:
        if a >= 0.0:
            prob = _upper_tail(a, ea) - _upper_tail(b, eb)
        elif b <= 0.0:
            prob = _upper_tail(b, eb) - _upper_tail(a, ea)
        else:
            ha = _half_erf(a) if a > -1.4142135623730951 else 0.5 - _upper_tail(a, ea)
            hb = _half_erf(b) if b < 1.4142135623730951 else 0.5 - _upper_tail(b, eb)
            prob = ha + hb
        lp = math.log(prob)
    inv = INV_SQRT_2PI / prob  # a division, not exp(-lp): P is at hand
    return lp, -ea * inv, eb * inv


@_jitable
def _cell(a, b, lo_inf, hi_inf):
    """Log-probability of one cell and its derivatives in the lower and upper bound.

    :func:`_cell_fast` where both finite bounds are within :data:`FAST_MAX`; beyond, the
    log-scale tails of :func:`_log_diff_ndtr`.
    """
    if (lo_inf or abs(a) < FAST_MAX) and (hi_inf or abs(b) < FAST_MAX):
        lp, da, db = _cell_fast(a, b, lo_inf, hi_inf)
        if math.isfinite(lp) and lp > -700.0:
            return lp, da, db
    lp = _log_diff_ndtr(a, b, lo_inf, hi_inf)
    da = 0.0 if lo_inf else -math.exp(-0.5 * a * a - HALF_LOG_2PI - lp)
    db = 0.0 if hi_inf else math.exp(-0.5 * b * b - HALF_LOG_2PI - lp)
    return lp, da, db


@_jitable
def _case_items(codes, eta, nu, lam, pairs, kvec, start, tau, mu, dmu, dtau, dnu):
    """One case's items given its latent values: their log probability (the return value).

    Fills ``mu`` (the latent responses' means) and ``dmu`` (the log probability's derivative
    in them) and adds the derivatives in the thresholds and intercepts to ``dtau``, ``dnu``.
    ``codes`` are the case's categories, ``-1`` where missing (skipped).
    """
    p = mu.size
    for j in range(p):
        mu[j] = nu[j]
        dmu[j] = 0.0
    for q in range(pairs.shape[0]):
        j, k = pairs[q, 0], pairs[q, 1]
        mu[j] += lam[j, k] * eta[k]
    ll = 0.0
    for j in range(p):
        c = codes[j]
        if c < 0:
            continue
        kj, sj = kvec[j], start[j]
        lo_inf, hi_inf = c == 0, c == kj
        a = -np.inf if lo_inf else tau[sj + c - 1] - mu[j]
        b = np.inf if hi_inf else tau[sj + c] - mu[j]
        lp, da, db = _cell(a, b, lo_inf, hi_inf)
        ll += lp
        if not lo_inf:
            dtau[sj + c - 1] += da
        if not hi_inf:
            dtau[sj + c] += db
        dmu[j] = -(da + db)
        dnu[j] += dmu[j]
    return ll


@_jitable
def _case_loop(z, ints, oi, mats, lo, a_inv, perm, tau, grad, gmats, dtau):
    """Log-likelihood and log-prior of ``u`` over cases; accumulates every gradient.

    ``mats`` = ``(lam, nu, alpha)``; ``gmats`` = ``(dlam, dnu, dalpha, dbeta, dlo)``, the
    gradient accumulators, added to in place. ``eta_i = a_inv zeta_i``, with ``a_inv`` used
    as a dense matrix when ``perm`` is empty and as the permutation ``eta[perm] = zeta``
    (mode 2; ``dbeta`` then not accumulated) otherwise. Its loops cost ``n * (p +
    nnz(Lambda) + m^2)`` plus one difference of normal CDFs per observed cell (about 80
    lines: the per-case work is kept in one loop so that nothing is allocated per case).
    """
    lam, nu, alpha = mats
    dlam, dnu, dalpha, dbeta, dlo = gmats
    p, m, nparam = ints[2], ints[3], ints[0]
    n, nthr = ints[oi], ints[oi + 1]
    kvec = ints[oi + 2 : oi + 2 + p]
    start = ints[oi + 2 + p : oi + 2 + 2 * p]
    oy = oi + 3 + 2 * p
    ou = nparam + nthr
    pairs = _loadings(lam)
    zeta = np.empty(m)
    eta = np.empty(m)
    mu = np.empty(p)
    dmu = np.empty(p)
    deta = np.empty(m)
    dzeta = np.empty(m)
    permuted = perm.size > 0
    has_beta = not permuted and a_inv.shape[0] > 0
    ll = 0.0
    for i in range(n):
        u = z[ou + i * m : ou + (i + 1) * m]
        for r in range(m):
            s = alpha[r]
            for c in range(r + 1):
                s += lo[r, c] * u[c]
            zeta[r] = s
        if permuted:
            for r in range(m):
                eta[perm[r]] = zeta[r]
        elif has_beta:
            for r in range(m):
                s = 0.0
                for c in range(m):
                    s += a_inv[r, c] * zeta[c]
                eta[r] = s
        else:
            for r in range(m):
                eta[r] = zeta[r]
        ll += _case_items(
            ints[oy + i * p : oy + (i + 1) * p],
            eta,
            nu,
            lam,
            pairs,
            kvec,
            start,
            tau,
            mu,
            dmu,
            dtau,
            dnu,
        )
        for r in range(m):
            deta[r] = 0.0
        for q in range(pairs.shape[0]):
            j, k = pairs[q, 0], pairs[q, 1]
            deta[k] += lam[j, k] * dmu[j]
            dlam[j, k] += dmu[j] * eta[k]
        if permuted:
            for r in range(m):
                dzeta[r] = deta[perm[r]]
        elif has_beta:
            for r in range(m):
                s = 0.0
                for c in range(m):
                    s += a_inv[c, r] * deta[c]
                dzeta[r] = s
            for r in range(m):
                for c in range(m):
                    dbeta[r, c] += dzeta[r] * eta[c]
        else:
            for r in range(m):
                dzeta[r] = deta[r]
        for r in range(m):
            dalpha[r] += dzeta[r]
            for c in range(r + 1):
                dlo[r, c] += dzeta[r] * u[c]
        for c in range(m):
            s = -u[c]  # the standard normal prior of u
            for r in range(c, m):
                s += lo[r, c] * dzeta[r]
            grad[ou + i * m + c] += s
            ll -= 0.5 * u[c] * u[c] + HALF_LOG_2PI
    return ll


@_jitable
def _marginal_order(lam):
    """Latent variables with items first, those without (higher-order factors) last."""
    p, m = lam.shape
    perm = np.empty(m, dtype=np.int64)
    q = 0
    for last in (False, True):
        for k in range(m):
            has_items = False
            for j in range(p):
                if lam[j, k] != 0.0:
                    has_items = True
            if has_items != last:
                perm[q] = k
                q += 1
    return perm


@_jitable
def _marginal_setup(lam, cov, a_inv, alpha):
    """Mode 2's ``perm``, ``mu = (I - B)^-1 alpha``, ``mu[perm]`` and ``C``.

    The case loop then runs with ``alpha := mu[perm]``, ``L := C`` (``C C' =
    Cov(eta)[perm, perm]``) and ``perm`` in place of ``(I - B)^-1``, so that ``eta[perm] =
    mu[perm] + C u``: ``perm`` puts the latent variables measured by items first
    (:func:`_marginal_order`), so their values depend on their own ``u`` only, and the values
    of a higher-order factor, which no item sees, are integrated out (its ``u`` keeps its prior
    alone). ``ok`` is ``False`` when ``Cov(eta)`` is not positive definite.
    """
    m = lam.shape[1]
    perm = _marginal_order(lam)
    mu = np.zeros(m)
    for r in range(m):
        for c in range(m):
            mu[r] += a_inv[r, c] * alpha[c]
    sig = np.empty((m, m))
    shift = np.empty(m)
    for r in range(m):
        shift[r] = mu[perm[r]]
        for c in range(m):
            sig[r, c] = cov[perm[r], perm[c]]
    chol, ok = _cholesky(sig)
    return perm, mu, shift, chol, ok


@_jitable
def _marginal_grad(perm, mu, chol, cov, a_inv, dalpha, dbeta, dlo, dpsi):
    """Turn the case loop's accumulators of mode 2 into gradients of ``Psi``, ``B``, ``alpha``.

    On entry ``dalpha`` holds ``dl/dmu[perm]`` and ``dlo`` holds ``dl/dC`` (``dbeta`` the loop's
    unused products); on exit ``dalpha``, ``dbeta`` the gradients and ``dlo`` zero, with
    ``dl/dPsi`` added to ``dpsi``. With ``G = dl/dCov(eta)`` (the Cholesky factor's reverse
    mode, permuted back) and ``M = (I - B)^-1``: ``dl/dPsi = M' G M``, ``dl/dalpha = M' dmu``,
    ``dl/dB = 2 M' G Cov + (M' dmu) mu'``.
    """
    m = mu.shape[0]
    gp = _chol_backward(chol, dlo)
    g = np.empty((m, m))
    dmu = np.empty(m)
    for r in range(m):
        dmu[perm[r]] = dalpha[r]
        for c in range(m):
            g[perm[r], perm[c]] = gp[r, c]
    # plain loops (m is small): each new np.dot signature would add to the compile time
    mg = np.zeros((m, m))  # M' G
    da = np.zeros(m)  # M' dmu
    for r in range(m):
        for k in range(m):
            da[r] += a_inv[k, r] * dmu[k]
            for c in range(m):
                mg[r, c] += a_inv[k, r] * g[k, c]
    for r in range(m):
        dalpha[r] = da[r]
        for c in range(m):
            psi_rc, b_rc = 0.0, 0.0
            for k in range(m):
                psi_rc += mg[r, k] * a_inv[k, c]
                b_rc += mg[r, k] * cov[k, c]
            dpsi[r, c] += psi_rc
            dbeta[r, c] = 2.0 * b_rc + da[r] * mu[c]
            dlo[r, c] = 0.0


@_jitable
def _preconditioner(ints, floats):
    """``(npre, opre)``: how many leading elements of ``z`` are preconditioned, and where.

    ``floats[opre : opre + npre]`` is the shift ``m`` and the next ``npre * npre`` the
    lower-triangular ``L`` (row by row) of :func:`_logp_grad`'s ``z[:npre] = m + L x[:npre]``.
    """
    off = _offsets(ints)
    oi, of = _ord_offsets(ints, off)
    p = ints[2]
    o_res = oi + 3 + 2 * p + ints[oi] * p
    return ints[o_res + 1 + 3 * ints[o_res]], of + 2 * ints[oi + 1]


@_jitable
def _precondition(x, floats, opre, npre):
    """``x`` with its first ``npre`` elements replaced by ``m + L x[:npre]`` (a copy)."""
    z = x.copy()
    for r in range(npre):
        s = floats[opre + r]
        row = opre + npre + r * npre
        for c in range(r + 1):
            s += floats[row + c] * x[c]
        z[r] = s
    return z


@_jitable
def _logp_grad(x: np.ndarray, ints: np.ndarray, floats: np.ndarray, grad: np.ndarray) -> float:
    """Log posterior density at ``x``; its gradient is written into ``grad``.

    Without a preconditioner (``npre = 0``, as packed) ``x`` is ``z``. With one, the model's
    parameters are ``z[:npre] = m + L x[:npre]`` (``m``, ``L`` from a pilot run's draws:
    :func:`bayes_bmi.bayes.ordinal.with_preconditioner`), so that a diagonal mass matrix in
    ``x`` acts as a dense one on the parameters; the gradient is ``L' dl/dz``. The
    log-Jacobian ``log |L|`` is a constant and left out.
    """
    npre, opre = _preconditioner(ints, floats)
    if npre == 0:
        return _logp_grad_rescaled(x, ints, floats, grad)
    total = _logp_grad_rescaled(_precondition(x, floats, opre, npre), ints, floats, grad)
    gz = grad[:npre].copy()
    for c in range(npre):
        s = 0.0
        for r in range(c, npre):
            s += floats[opre + npre + r * npre + c] * gz[r]
        grad[c] = s
    return total


@_jitable
def _logp_grad_rescaled(z, ints, floats, grad):
    """Log posterior density at ``z``; its gradient is written into ``grad``.

    ``z`` holds each rescaled coefficient as ``b* = b * sd_p / sd_o`` (see the module
    docstring); :func:`_logp_grad_natural` does the rest on ``b`` itself.
    """
    off = _offsets(ints)
    oi = off[3]
    p = ints[2]
    o_res = oi + 3 + 2 * p + ints[oi] * p
    nres = ints[o_res]
    if nres == 0:
        return _logp_grad_natural(z, ints, floats, grad)
    zz = z.copy()
    ratio = np.empty(nres)
    for q in range(nres):
        kb, kp, ko = ints[o_res + 1 + 3 * q], ints[o_res + 2 + 3 * q], ints[o_res + 3 + 3 * q]
        r = (z[kp] if kp >= 0 else 0.0) - (z[ko] if ko >= 0 else 0.0)  # log(sd_p / sd_o)
        ratio[q] = r
        zz[kb] = z[kb] * math.exp(-r)
    total = _logp_grad_natural(zz, ints, floats, grad)
    if not math.isfinite(total):
        return -np.inf
    for q in range(nres):
        kb, kp, ko = ints[o_res + 1 + 3 * q], ints[o_res + 2 + 3 * q], ints[o_res + 3 + 3 * q]
        g = grad[kb]
        grad[kb] = g * math.exp(-ratio[q])
        d = g * zz[kb] + 1.0  # b = b* sd_o / sd_p; log-Jacobian log(sd_o / sd_p)
        if kp >= 0:
            grad[kp] -= d
        if ko >= 0:
            grad[ko] += d
        total -= ratio[q]
    return total


@_jitable
def _logp_grad_natural(z, ints, floats, grad):
    """Log posterior density at ``z`` with the loadings themselves; gradient into ``grad``.

    Returns ``-inf`` where the density is zero or undefined: a latent covariance matrix that
    is not positive definite, a singular ``I - B``, a correlation outside a uniform prior's
    bounds, a threshold that overflows.
    """
    off = _offsets(ints)
    oi, of = _ord_offsets(ints, off)
    nparam, nrow, p, m, ncell = ints[0], ints[1], ints[2], ints[3], ints[7]
    has_beta = ints[4] == 1
    for k in range(grad.size):
        grad[k] = 0.0
    rows, nat = _rows(z, ints, floats, off)
    lam, theta, psi, beta, nu, alpha = _matrices(rows, ints, floats, off)
    scale, cov, a_inv, ok = _response_scales(lam, psi, beta, has_beta)
    if not ok:
        return -np.inf
    lo, ok = _cholesky(psi)
    if not ok:
        return -np.inf
    tau, t, lp_tau, dtau = _thresholds(z, ints, floats, oi, of, nparam, scale, grad)
    dlam = np.zeros((p, m))
    dnu = np.zeros(p)
    dalpha = np.zeros(m)
    dbeta = np.zeros((m, m))
    dlo = np.zeros((m, m))
    gmats = (dlam, dnu, dalpha, dbeta, dlo)
    mode = ints[oi + 2 + 2 * p]
    dpsi = np.zeros((m, m))
    # mode 2 runs the non-centred loop with other matrices (:func:`_marginal_setup`); one call
    # site, so that numba compiles the loop once
    perm, mu = np.zeros(0, dtype=np.int64), alpha
    loop_alpha, loop_lo = alpha, lo
    loop_inv = a_inv if has_beta else np.zeros((0, 0))
    if mode == 2:
        perm, mu, loop_alpha, loop_lo, ok = _marginal_setup(lam, cov, a_inv, alpha)
        if not ok:
            return -np.inf
    ll = _case_loop(
        z, ints, oi, (lam, nu, loop_alpha), loop_lo, loop_inv, perm, tau, grad, gmats, dtau
    )
    if mode == 2:
        _marginal_grad(perm, mu, loop_lo, cov, a_inv, dalpha, dbeta, dlo, dpsi)
    if not math.isfinite(ll):
        return -np.inf
    dscale = _thresholds_grad(z, ints, oi, nparam, scale, t, dtau, grad)
    if mode != 2:  # mode 2's dl/dPsi is in dpsi already (dlo is zero)
        dpsi += _chol_backward(lo, dlo)
    dpsi += _scales_grad(lam, cov, a_inv, scale, dscale, dlam, dbeta, has_beta)
    grows = np.zeros(nrow)
    o = off[2]
    for j in range(ncell):
        q = o + 4 * j
        t, mat, r, c = ints[q], ints[q + 1], ints[q + 2], ints[q + 3]
        if mat == 0:
            grows[t] += dlam[r, c]
        elif mat == 2:
            grows[t] += dpsi[r, c] if r == c else 2.0 * dpsi[r, c]
        elif mat == 3:
            grows[t] += dbeta[r, c]
        elif mat == 4:
            grows[t] += dnu[r]
        elif mat == 5:
            grows[t] += dalpha[r]
    _rows_grad_to_z(z, nat, rows, grows, ints, off, grad)
    total = ll + lp_tau + _prior(z, ints, floats, grad)
    if not math.isfinite(total):
        return -np.inf
    return total


# callable from Python (tests, benchmarks); nutpie uses the C callback below
logp_grad = njit(**_OPTS)(_logp_grad)
log_diff_ndtr = njit(**_OPTS)(_log_diff_ndtr)
cell = njit(**_OPTS)(_cell)


def logp_callback(dim, x_ptr, grad_ptr, logp_ptr, user_data):  # pragma: no cover - compiled
    """C callback: the log density at ``x`` into ``*logp_ptr``, its gradient into ``grad``.

    ``user_data`` points at four int64, as for :func:`bayes_bmi.bayes.kernel.logp_callback`.
    """
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
    """C callback: the stored draw is the first ``expanded`` elements of ``z`` (not ``x``).

    Storing the parameters and thresholds only (not ``u``) keeps the trace small; with
    factor scores ``expanded`` is the whole of ``z``.
    """
    header = carray(user_data, (4,), np.int64)
    ints = carray(_as_pointer(header[0]), (header[1],), np.int64)
    floats = carray(_as_pointer(header[2]), (header[3],), np.float64)
    x = carray(x_ptr, (dim,))
    out = carray(out_ptr, (expanded,))
    npre, opre = _preconditioner(ints, floats)
    z = _precondition(x, floats, opre, npre)  # the parameters, not the preconditioned x
    for i in range(expanded):
        out[i] = z[i]
    return 0


_ = HEADER  # the layout's header length (see bayes.kernel)
