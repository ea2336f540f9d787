"""Casewise marginal log-likelihood of a cumulative-probit (ordinal) SEM, for LOO and WAIC.

The sampler augments each case's latent variables, but LOO must score the prediction of a
new case's answers, so each case's likelihood is the *marginal* one, the latent variables
integrated out (the conditional ``p(y_i | eta_i, theta)`` is the likelihood of another
predictive task, and PSIS fails on it: one case's ``eta_i`` is informed by that case only)::

    p(y_i | theta) = int prod_j P(y_ij | eta) N(eta; E eta, Cov eta) d eta
                   = P(tau_lo < y*_i <= tau_hi),   y*_i ~ N(mu*, Sigma*)

(the second line: the rectangle probability of the latent responses over the thresholds'
box). Missing cells are left out (the product runs over the observed items).

What blavaan does (``R/blav_model_loglik.R``, ``get_ll_ord``): for each case and draw, the
rectangle probability of the ``p`` latent responses by ``mnormt::sadmvn`` (Genz's adaptive
integration, with ``abseps = 1e-2``, an *absolute* tolerance), or, with more than 20 ordered
items, by ``tmvnsim`` (GHK importance sampling, ``llnsamp = 100`` samples), in R, one case at
a time: its cost grows with the number of items.

What we do: integrate over the latent variables instead (their dimension ``q``, the number
of latent variables with items, is at most ``m``, much smaller than ``p``), where the items
are independent and each contributes one difference of normal CDFs. In whitened coordinates
``eta_r = E eta_r + C v`` (``C C' = Cov(eta_r)``, ``v ~ N(0, I_q)``, ``eta_r`` the latent
variables with loadings) the integrand of case ``i`` is ``exp(f(v))`` with
``f(v) = sum_j log P(y_ij | mu_j + a_j' v) - |v|^2 / 2`` (up to ``-q/2 log 2 pi``), which is
concave (probit likelihoods are log-concave). Per case and draw:

1. Newton's method (with step halving) finds the mode ``v*`` of ``f``; ``R R' = -f''(v*)``;
2. the integral is taken on the Laplace approximation's scale, ``v = v* + R^-T z``::

       log p(y_i | theta) = log sum_k w_k exp(f(v_k) + |z_k|^2 / 2) - sum log diag R

   with standard-normal nodes ``z_k`` and weights ``w_k``: the tensor Gauss-Hermite rule for
   ``q <= 3`` (adaptive Gauss-Hermite quadrature, :data:`GH_POINTS` nodes per dimension) and,
   for larger ``q``, randomised quasi-Monte Carlo importance sampling with the Laplace
   proposal: :data:`IS_POINTS` nodes, half a scrambled Sobol' set mapped to normals and half
   their mirror images (antithetic pairs cancel the odd, skewness terms), equal weights.
   Each case keeps its nodes for every draw (the log-likelihood is then a smooth function
   of the parameters, which PSIS needs), and the cases cycle over :data:`QMC_SETS`
   independently shifted copies of the Sobol' set, so that the cases' integration errors
   do not add up in ``elpd`` (with one set for all cases they did: a shared bias of up to
   0.02 per case).

Accuracy (``tests/test_ordinal_loglik.py``): one factor, equal to adaptive 1-D quadrature
(``scipy.integrate.quad``) within 1e-6 (measured 1e-13); one and two factors with few items,
equal to ``scipy.stats.multivariate_normal.cdf`` rectangle probabilities within 1e-5 (3e-6
measured, scipy at ``abseps = releps = 1e-10``; at scipy's default tolerances the differences
of up to 1.4e-4 are scipy's). On a 14-factor model (13 latent variables with items, 46 items,
n = 632), against 65,536 nodes per case: the Laplace approximation alone is off by -0.027 per
case on average (-17 in the sum over the cases); 64 nodes (the default) by 0.001 on average
with a case-to-case SD of 0.025 (sum within 0.6), 128 nodes by SD 0.017 (sum within 0.2),
256 by SD 0.012. Cost there: about 0.2 ms per case and draw with 64 nodes (two threads on a
busy two-core machine), i.e. about two minutes for 1,000 draws.

Everything runs compiled (numba, threads over cases and draws); numpy only prepares each
draw's loadings, means and thresholds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr
from numba import njit, prange
from xarray.backends import BackendArray
from xarray.core import indexing

from bayes_bmi.bayes.ordinal import OrdinalData
from bayes_bmi.bayes.ordinal_kernel import _log_diff_ndtr
from bayes_bmi.lavaan.representation import Representation, fill_matrices

__all__ = [
    "GH_POINTS",
    "IS_POINTS",
    "IS_SCALE",
    "QMC_SETS",
    "OrdinalCasewiseLoglik",
    "Quadrature",
    "ordinal_casewise_loglik",
    "ordinal_loglik_variable",
    "quadrature",
]

#: Gauss-Hermite nodes per dimension by the number of integrated latent variables.
GH_POINTS = {1: 32, 2: 12, 3: 7}
#: Quasi-Monte Carlo points for four or more latent variables (a power of two).
IS_POINTS = 64
#: Scale of the importance-sampling proposal relative to the Laplace approximation's.
IS_SCALE = 1.0
#: Independently randomised node sets, cycled over the cases.
QMC_SETS = 256

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
INV_SQRT2 = 1.0 / math.sqrt(2.0)
_OPTS = {"nogil": True, "cache": True, "error_model": "numpy"}


@dataclass(frozen=True)
class Quadrature:
    """Standard-normal nodes and log-weights of the integration rule.

    Attributes
    ----------
    nodes : numpy.ndarray, shape (R, K, q)
        ``R`` sets of ``K`` nodes; case ``i`` uses set ``i % R`` (one set for Gauss-Hermite).
    log_weights : numpy.ndarray, shape (K,)
        Summing (as weights) to 1.
    scale : float
        Scale of the rule relative to the Laplace approximation (1 for Gauss-Hermite).
    kind : str
        ``"gauss-hermite"``, ``"qmc"`` or ``"laplace"`` (one node at 0).
    """

    nodes: np.ndarray
    log_weights: np.ndarray
    scale: float
    kind: str


def quadrature(
    q: int,
    points: int | None = None,
    *,
    seed: int = 20260,
    scale: float = IS_SCALE,
    sets: int = QMC_SETS,
) -> Quadrature:
    """The rule for ``q`` latent variables (module docstring).

    Parameters
    ----------
    q : int
        Number of integrated latent variables.
    points : int, optional
        Gauss-Hermite nodes per dimension (``q <= 3``; default :data:`GH_POINTS`) or
        quasi-Monte Carlo points (default :data:`IS_POINTS`; half a power of two of Sobol'
        points and their antithetic mirror images). ``0``: the Laplace approximation.
    seed : int
        Randomisation of the Sobol' points (fixed: the same nodes for every fit).
    scale : float
        Scale of the quasi-Monte Carlo proposal relative to the Laplace approximation's.
    sets : int
        Independently randomised node sets (random shifts modulo 1 of one scrambled Sobol'
        set), cycled over the cases: their errors do not add up across cases.
    """
    if q <= 0 or points == 0:
        return Quadrature(np.zeros((1, 1, max(q, 0))), np.zeros(1), 1.0, "laplace")
    if q <= 3:
        k = int(points or GH_POINTS[q])
        x, w = np.polynomial.hermite_e.hermegauss(k)
        grids = np.meshgrid(*([x] * q), indexing="ij")
        wgrid = np.meshgrid(*([np.log(w / w.sum())] * q), indexing="ij")
        nodes = np.stack([g.ravel() for g in grids], axis=1)[None]
        return Quadrature(nodes, np.sum([g.ravel() for g in wgrid], axis=0), 1.0, "gauss-hermite")
    from scipy.special import ndtri
    from scipy.stats import qmc

    k = int(points or IS_POINTS)
    m = max(int(math.ceil(math.log2(max(k, 2) / 2))), 0)
    u = qmc.Sobol(d=q, scramble=True, seed=seed).random_base2(m)
    shift = np.random.default_rng([seed, 1]).random((sets, 1, q))
    shift[0] = 0.0
    half = ndtri(np.clip((u[None] + shift) % 1.0, 1e-12, 1.0 - 1e-12))
    nodes = np.concatenate([half, -half], axis=1)  # antithetic pairs: odd terms cancel
    return Quadrature(nodes, np.full(nodes.shape[1], -math.log(nodes.shape[1])), scale, "qmc")


# ------------------------------------------------------------------------------ compiled part
@njit(**_OPTS)
def _item_terms(lo, hi, lo_inf, hi_inf, x):
    """``log P``, its first and second derivatives in ``x`` of ``P = Phi(hi-x) - Phi(lo-x)``."""
    a, b = lo - x, hi - x
    lp = _log_diff_ndtr(a, b, lo_inf, hi_inf)
    ra = 0.0 if lo_inf else math.exp(-0.5 * a * a - HALF_LOG_2PI - lp)
    rb = 0.0 if hi_inf else math.exp(-0.5 * b * b - HALF_LOG_2PI - lp)
    r = ra - rb
    h = (0.0 if lo_inf else a * ra) - (0.0 if hi_inf else b * rb) - r * r
    return lp, r, h


@njit(**_OPTS)
def _f_grad_hess(v, a, lo, hi, lo_inf, hi_inf, nobs, grad, hess, derivs):
    """``f(v)``; with ``derivs`` also ``grad`` and ``-hess`` (the positive definite one)."""
    q = v.size
    f = 0.0
    for k in range(q):
        f -= 0.5 * v[k] * v[k]
        if derivs:
            grad[k] = -v[k]
            for l2 in range(q):
                hess[k, l2] = 1.0 if k == l2 else 0.0
    for j in range(nobs):
        x = 0.0
        for k in range(q):
            x += a[j, k] * v[k]
        lp, r, h = _item_terms(lo[j], hi[j], lo_inf[j], hi_inf[j], x)
        f += lp
        if derivs:
            for k in range(q):
                grad[k] += r * a[j, k]
                for l2 in range(k + 1):
                    hess[k, l2] -= h * a[j, k] * a[j, l2]
    if derivs:
        for k in range(q):
            for l2 in range(k):
                hess[l2, k] = hess[k, l2]
    return f


@njit(**_OPTS)
def _cholesky(m, out):
    """Lower Cholesky factor of the positive definite ``m`` into ``out``."""
    q = m.shape[0]
    for k in range(q):
        for l2 in range(k + 1):
            s = m[k, l2]
            for t in range(l2):
                s -= out[k, t] * out[l2, t]
            if k == l2:
                out[k, k] = math.sqrt(max(s, 1e-300))
            else:
                out[k, l2] = s / out[l2, l2]
        for l2 in range(k + 1, q):
            out[k, l2] = 0.0


@njit(**_OPTS)
def _chol_solve(lo, b, out):
    """``out = (L L')^-1 b``."""
    q = b.size
    for k in range(q):
        s = b[k]
        for t in range(k):
            s -= lo[k, t] * out[t]
        out[k] = s / lo[k, k]
    for k in range(q - 1, -1, -1):
        s = out[k]
        for t in range(k + 1, q):
            s -= lo[t, k] * out[t]
        out[k] = s / lo[k, k]


@njit(**_OPTS)
def _mode(a, lo, hi, lo_inf, hi_inf, nobs, v, chol):
    """Newton's method for the mode of the concave ``f``; leaves ``chol(-f''(v*))``.

    Stops when the Newton decrement ``g' H^-1 g`` (twice the distance to the maximum of the
    local quadratic) is below 1e-12; steps are halved until ``f`` does not decrease.
    """
    q = v.size
    grad = np.empty(q)
    hess = np.empty((q, q))
    step = np.empty(q)
    trial = np.empty(q)
    v[:] = 0.0
    f = _f_grad_hess(v, a, lo, hi, lo_inf, hi_inf, nobs, grad, hess, True)
    for _ in range(50):
        _cholesky(hess, chol)
        _chol_solve(chol, grad, step)
        dec = 0.0
        for k in range(q):
            dec += grad[k] * step[k]
        if dec < 1e-12:
            return
        t = 1.0
        for _ in range(30):
            for k in range(q):
                trial[k] = v[k] + t * step[k]
            ft = _f_grad_hess(trial, a, lo, hi, lo_inf, hi_inf, nobs, grad, hess, False)
            if ft >= f:
                break
            t *= 0.5
        if ft < f:  # no ascent along the Newton direction: at the mode up to rounding
            return
        v[:] = trial
        f = _f_grad_hess(v, a, lo, hi, lo_inf, hi_inf, nobs, grad, hess, True)
    _cholesky(hess, chol)


@njit(**_OPTS)
def _log_prob_sum(x, lo, hi, lo_inf, hi_inf, nobs):
    """``sum_j log P(y_j | x_j)``, multiplying probabilities (one log per ~200 items).

    ``P`` from ``erfc`` on the side of zero where it is accurate; below 1e-290 (underflow
    near) :func:`_log_diff_ndtr` on the log scale.
    """
    total, prod = 0.0, 1.0
    for j in range(nobs):
        a = (lo[j] - x[j]) * INV_SQRT2
        b = (hi[j] - x[j]) * INV_SQRT2
        if lo_inf[j]:
            pr = 0.5 * math.erfc(-b)
        elif hi_inf[j]:
            pr = 0.5 * math.erfc(a)
        elif b <= 0.0:
            pr = 0.5 * (math.erfc(-b) - math.erfc(-a))
        elif a >= 0.0:
            pr = 0.5 * (math.erfc(a) - math.erfc(b))
        else:
            pr = 0.5 * (math.erf(b) - math.erf(a))
        if pr < 1e-290:
            total += _log_diff_ndtr(lo[j] - x[j], hi[j] - x[j], lo_inf[j], hi_inf[j])
            continue
        prod *= pr
        if prod < 1e-250:
            total += math.log(prod)
            prod = 1.0
    return total + math.log(prod)


@njit(**_OPTS)
def _case(codes, starts, tau, mu, a_all, nodes, log_w, scale):
    """``log p(y_i | theta)`` of one case at one draw (module docstring)."""
    p, q = a_all.shape
    a = np.empty((p, q))
    lo, hi = np.empty(p), np.empty(p)
    lo_inf = np.zeros(p, dtype=np.bool_)
    hi_inf = np.zeros(p, dtype=np.bool_)
    nobs = 0
    for j in range(p):
        c = codes[j]
        if c < 0:
            continue
        kj = starts[j + 1] - starts[j]
        lo_inf[nobs] = c == 0
        hi_inf[nobs] = c == kj
        lo[nobs] = 0.0 if c == 0 else tau[starts[j] + c - 1] - mu[j]
        hi[nobs] = 0.0 if c == kj else tau[starts[j] + c] - mu[j]
        a[nobs] = a_all[j]
        nobs += 1
    if q == 0:
        total = 0.0
        for j in range(nobs):
            total += _log_diff_ndtr(lo[j], hi[j], lo_inf[j], hi_inf[j])
        return total
    v = np.empty(q)
    chol = np.empty((q, q))
    _mode(a, lo, hi, lo_inf, hi_inf, nobs, v, chol)
    log_det = 0.0
    for k in range(q):
        log_det += math.log(chol[k, k])
    log_det -= q * math.log(scale)
    # the nodes on the Laplace scale: v = v* + scale * R^-T z (back substitution)
    nk = nodes.shape[0]
    lw = np.empty(nk)
    w = np.empty(q)
    x = np.empty(nobs)
    for s in range(nk):
        z2 = 0.0
        for k in range(q - 1, -1, -1):
            acc = scale * nodes[s, k]
            z2 += nodes[s, k] * nodes[s, k]
            for t in range(k + 1, q):
                acc -= chol[t, k] * w[t]
            w[k] = acc / chol[k, k]
        vv = 0.0
        for k in range(q):
            w[k] += v[k]
            vv += w[k] * w[k]
        for j in range(nobs):
            acc = 0.0
            for k in range(q):
                acc += a[j, k] * w[k]
            x[j] = acc
        f = _log_prob_sum(x, lo, hi, lo_inf, hi_inf, nobs) - 0.5 * vv
        lw[s] = f + 0.5 * z2 + log_w[s]
    top = lw.max()
    acc = 0.0
    for s in range(nk):
        acc += math.exp(lw[s] - top)
    return top + math.log(acc) - log_det


@njit(parallel=True, **_OPTS)
def _loglik(codes, case_ids, starts, tau, mu, a, nodes, log_w, scale, out):
    """Fill ``out`` (draws x cases) with :func:`_case` of every case and draw."""
    nd, n = out.shape
    nsets = nodes.shape[0]
    for t in prange(nd * n):
        d = t // n
        i = t - d * n
        z = nodes[case_ids[i] % nsets]
        out[d, i] = _case(codes[i], starts, tau[d], mu[d], a[d], z, log_w, scale)


# ------------------------------------------------------------------------------ numpy part
def _draw_inputs(rep: Representation, rows: np.ndarray, tau: np.ndarray, items: np.ndarray,
                 starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Per draw: standardised thresholds, item means and whitened loadings (flattened draws).

    ``y*_j = mu_j + a_j' v + s_j e_j`` with ``s_j`` the residual sd; every quantity is
    divided by ``s_j`` so that the kernel sees unit residuals.
    """
    mats = fill_matrices(rep, rows.reshape(-1, rows.shape[-1]))
    lam = mats.lambda_[:, items]
    loaded = np.flatnonzero(np.any(lam != 0.0, axis=(0, 1)))
    mean_eta = mats.eta_mean()
    cov_eta = mats.eta_cov()[:, loaded[:, None], loaded]
    val, vec = np.linalg.eigh(0.5 * (cov_eta + np.swapaxes(cov_eta, -1, -2)))
    root = vec * np.sqrt(np.maximum(val, 0.0))[:, None, :]
    sd = np.sqrt(np.diagonal(mats.theta, axis1=-2, axis2=-1)[:, items])
    mu = (mats.nu[:, items] + np.einsum("dpm,dm->dp", lam, mean_eta)) / sd
    a = np.einsum("dpr,drq->dpq", lam[:, :, loaded], root) / sd[..., None]
    item_of = np.repeat(np.arange(items.size), np.diff(starts))
    tau_std = tau.reshape(-1, tau.shape[-1]) / sd[:, item_of]
    return (np.ascontiguousarray(tau_std), np.ascontiguousarray(mu), np.ascontiguousarray(a))


def ordinal_casewise_loglik(
    rep: Representation,
    rows: np.ndarray,
    tau: np.ndarray,
    odata: OrdinalData,
    *,
    points: int | None = None,
    cases: slice | np.ndarray | None = None,
    rule: Quadrature | None = None,
) -> np.ndarray:
    """Marginal log-likelihood of every case at every draw (module docstring).

    Parameters
    ----------
    rep : Representation
        The model in the parameterisation the rows are in (the theta parameterisation of
        :func:`~bayes_bmi.bayes.ordinal_sampling.fit_bayes_ordinal`).
    rows : numpy.ndarray, shape (..., nrow)
        Parameter-table rows of each draw.
    tau : numpy.ndarray, shape (..., nthr)
        Thresholds of each draw, item by item (the posterior's ``thresholds``, ``x|t1``...).
    odata : OrdinalData
        The coded items (``-1``: missing, skipped).
    points : int, optional
        See :func:`quadrature`.
    cases : slice or array of int, optional
        Only these cases.
    rule : Quadrature, optional
        Instead of :func:`quadrature` (its ``q`` must be the number of latent variables with
        loadings).

    Returns
    -------
    numpy.ndarray, shape (..., n)
    """
    lead = rows.shape[:-1]
    items = np.array([list(rep.ov_names).index(v) for v in odata.names])
    starts = np.concatenate([[0], np.cumsum(odata.n_thresholds)]).astype(np.int64)
    case_ids = np.arange(odata.n, dtype=np.int64)
    if cases is not None:
        case_ids = case_ids[cases]
    codes = np.ascontiguousarray(odata.codes[case_ids])
    tau_std, mu, a = _draw_inputs(rep, rows, tau, items, starts)
    rule = rule or quadrature(a.shape[-1], points)
    out = np.empty((mu.shape[0], codes.shape[0]))
    if out.size:
        _loglik(codes.astype(np.int64), case_ids, starts, tau_std, mu, a, rule.nodes,
                rule.log_weights, rule.scale, out)  # fmt: skip
    return out.reshape(*lead, codes.shape[0])


class OrdinalCasewiseLoglik(BackendArray):
    """:func:`ordinal_casewise_loglik` (chain, draw, case), computed when it is read.

    As :class:`bayes_bmi.bayes.posterior.CasewiseLoglik`: only the draws and cases asked for
    are computed. A read of the whole array is kept (LOO then WAIC read it twice; it is the
    costly part: see :mod:`bayes_bmi.bayes.ordinal_loglik`).
    """

    def __init__(self, rep: Representation, rows: np.ndarray, tau: np.ndarray,
                 odata: OrdinalData):  # fmt: skip
        self.rep, self.rows, self.tau, self.odata = rep, rows, tau, odata
        self.shape = (*rows.shape[:-1], odata.n)
        self.dtype = np.dtype(np.float64)
        self._full: np.ndarray | None = None

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._raw
        )

    def _raw(self, key: tuple) -> np.ndarray:
        slices = tuple(slice(k, k + 1) if isinstance(k, int | np.integer) else k for k in key)
        drop = tuple(i for i, k in enumerate(key) if isinstance(k, int | np.integer))
        whole = all(s == slice(None) or s == slice(0, n, 1) for s, n in
                    zip(slices, self.shape, strict=True))  # fmt: skip
        if self._full is not None:
            out = self._full[slices]
        else:
            out = ordinal_casewise_loglik(
                self.rep, self.rows[slices[:-1]], self.tau[slices[:-1]], self.odata,
                cases=slices[-1],
            )  # fmt: skip
            if whole:
                self._full = out
        return out.squeeze(axis=drop) if drop else out


def ordinal_loglik_variable(
    rep: Representation, rows: np.ndarray, tau: np.ndarray, odata: OrdinalData
) -> xr.Variable:
    """A lazily computed ``(chain, draw, case)`` variable of the marginal log-likelihood."""
    lazy = indexing.LazilyIndexedArray(OrdinalCasewiseLoglik(rep, rows, tau, odata))
    return xr.Variable(("chain", "draw", "case"), lazy)
