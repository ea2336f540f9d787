"""Full-information ML with missing cells: the likelihood summed over missingness patterns.

All functions are pure numpy over :class:`~bayes_bmi.data.MissingPatterns`, so their cost
grows with the number of patterns, not of cases. For a pattern with ``n`` cases, observed
block ``O``, ``K = Sigma_OO^-1``, ``d = mean_O - mu_O`` and ``T = cov_OO + d d'``:

* log-likelihood ``l = -n/2 (|O| log 2 pi + log|Sigma_OO| + tr(K T))``;
* gradient ``dl/dmu_O = n K d`` and ``dl = tr(G dSigma)`` with ``G = n/2 (K T K - K)``;
* expected information (of ``-l``): ``n K`` for the means and ``n/2 (K x K)`` for ``vec Sigma``
  (Kronecker product);
* observed information (of ``-l``): means ``n K``, means-by-``vec Sigma``
  ``n ((K d)' x K)``, ``vec Sigma`` ``n/2 [(KTK x K) + (K x KTK) - (K x K)]``.

The saturated (H1) model is fitted by EM from the same pattern statistics
(:func:`em_saturated`), as lavaan's ``lav_mvnorm_missing_h1_estimate_moments`` does.
"""

from __future__ import annotations

import math

import numpy as np

from bayes_bmi.data import MissingPatterns

__all__ = [
    "casewise_loglik",
    "complete_information",
    "em_saturated",
    "em_saturated_batch",
    "fiml_information",
    "fiml_loglik",
    "fiml_moment_gradient",
    "pattern_loglik",
    "pattern_stats",
]

LOG_2PI = math.log(2.0 * math.pi)


def _pattern_terms(pat: MissingPatterns, sigma: np.ndarray, mu: np.ndarray):
    """Per pattern: ``(k, obs, n, K, d, T, logdet, R)`` with ``K = R' R``.

    Yields ``None`` (and stops) when a block of ``sigma`` is not positive definite.
    """
    for k, obs in enumerate(pat.index):
        s = sigma[np.ix_(obs, obs)]
        try:
            chol = np.linalg.cholesky(s)
        except np.linalg.LinAlgError:
            yield None
            return
        inv_chol = np.linalg.inv(chol)
        kinv = inv_chol.T @ inv_chol
        d = pat.mean[k, obs] - mu[obs]
        t = pat.cov[k][np.ix_(obs, obs)] + np.outer(d, d)
        logdet = 2.0 * np.log(np.diag(chol)).sum()
        yield k, obs, float(pat.counts[k]), kinv, d, t, logdet, inv_chol


def fiml_loglik(pat: MissingPatterns, sigma: np.ndarray, mu: np.ndarray) -> float:
    """Log-likelihood of the incomplete data at ``mu, Sigma`` (``-inf`` if not PD)."""
    total = 0.0
    for term in _pattern_terms(pat, sigma, mu):
        if term is None:
            return -math.inf
        _, obs, n, kinv, _, t, logdet, _ = term
        total -= 0.5 * n * (obs.size * LOG_2PI + logdet + np.sum(kinv * t))
    return float(total)


def fiml_moment_gradient(
    pat: MissingPatterns, sigma: np.ndarray, mu: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of the log-likelihood with respect to the moments.

    Returns
    -------
    g_sigma : numpy.ndarray, shape (p, p)
        Symmetric ``G`` with ``dl = tr(G dSigma)`` for a symmetric change ``dSigma``.
    g_mu : numpy.ndarray, shape (p,)
    """
    p = pat.p
    g_sigma = np.zeros((p, p))
    g_mu = np.zeros(p)
    for term in _pattern_terms(pat, sigma, mu):
        if term is None:
            raise np.linalg.LinAlgError("the implied covariance matrix is not positive definite")
        _, obs, n, kinv, d, t, _, _ = term
        g_sigma[np.ix_(obs, obs)] += 0.5 * n * (kinv @ t @ kinv - kinv)
        g_mu[obs] += n * (kinv @ d)
    return g_sigma, g_mu


def fiml_information(
    pat: MissingPatterns,
    sigma: np.ndarray,
    mu: np.ndarray,
    dsigma: np.ndarray,
    dmu: np.ndarray,
    *,
    observed: bool,
) -> np.ndarray:
    """Expected or observed information of parameters through the moments they imply.

    This is ``Delta' I_m Delta`` for the information ``I_m`` of the moments (see the module
    docstring) and the Jacobian ``Delta = (dsigma, dmu)``: the whole information for the
    expected kind; the observed one lacks the curvature of the moments themselves
    (``-sum_j (dl/dm_j) d2 m_j``), which the caller adds. With ``K = L L'``, ``A~ = L' A L``
    for each ``dSigma_O`` and ``T~ = L' T L``, a pattern adds
    ``n [tr(A~_i A~_j R) + (L' dmu_i)'(L' dmu_j)]`` with ``R = I/2`` (expected) or
    ``R = T~ - I/2`` (observed), plus for the observed kind the mixed terms
    ``n (L' dmu_i)' A~_j (L' d)`` and their transpose.

    Parameters
    ----------
    pat : MissingPatterns
    sigma, mu : numpy.ndarray
        The implied moments.
    dsigma : numpy.ndarray, shape (k, p, p)
    dmu : numpy.ndarray, shape (k, p)
        Their derivatives with respect to ``k`` parameters.
    observed : bool
        The observed information (Hessian of ``-l``, up to the curvature term) instead of
        the expected one.

    Returns
    -------
    numpy.ndarray, shape (k, k)
        Summed over patterns (not divided by ``n``).
    """
    k = dsigma.shape[0]
    info = np.zeros((k, k))
    for term in _pattern_terms(pat, sigma, mu):
        if term is None:
            raise np.linalg.LinAlgError("the implied covariance matrix is not positive definite")
        _, obs, n, _, d, t, _, lt = term  # K = lt' lt
        a = lt @ dsigma[:, obs][:, :, obs] @ lt.T  # A~ for every parameter
        m = dmu[:, obs] @ lt.T  # (L' dmu_i) as rows
        if observed:
            r = lt @ t @ lt.T - 0.5 * np.eye(obs.size)
            ar = a @ r
            mixed = np.einsum("ia,jab,b->ij", m, a, lt @ d)
            info += n * (a.reshape(k, -1) @ ar.transpose(0, 2, 1).reshape(k, -1).T)
            info += n * (mixed + mixed.T)
        else:
            flat = a.reshape(k, -1)
            info += 0.5 * n * (flat @ flat.T)
        info += n * (m @ m.T)
    return info


def complete_information(
    n: int, sigma: np.ndarray, dsigma: np.ndarray, dmu: np.ndarray
) -> np.ndarray:
    """Expected information of ``n`` complete cases at ``Sigma``, through the moments.

    ``n [1/2 tr(K dSigma_i K dSigma_j) + dmu_i' K dmu_j]`` with ``K = Sigma^-1``: the
    information the data would carry without missing cells. It bounds the incomplete data's
    from above and costs one pattern instead of all of them, so the optimiser of the FIML fit
    uses it as its metric (the optimum does not depend on the metric; the standard errors use
    the observed information of :func:`fiml_information`).
    """
    k = dsigma.shape[0]
    lt = np.linalg.inv(np.linalg.cholesky(sigma))  # K = lt' lt
    a = (lt @ dsigma @ lt.T).reshape(k, -1)
    m = dmu @ lt.T
    return n * (0.5 * (a @ a.T) + m @ m.T)


def em_saturated(
    pat: MissingPatterns, *, max_iter: int = 10_000, tol: float = 1e-9
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """ML estimates of the unrestricted mean vector and covariance matrix by EM.

    Starts, as lavaan, from the observed means and a diagonal of the observed variances; each
    step replaces the missing parts of each pattern's first and second moments by their
    conditional expectations given the observed ones, from the pattern statistics alone.

    Parameters
    ----------
    pat : MissingPatterns
    max_iter : int
    tol : float
        Stop when no element of ``mu`` or ``Sigma`` changes by more than ``tol``.

    Returns
    -------
    mu, sigma : numpy.ndarray
    iterations : int
    converged : bool
    """
    p, n = pat.p, pat.n
    y = pat.values
    mu = np.nanmean(y, axis=0)
    sigma = np.diag(np.nanmean((y - mu) ** 2, axis=0))
    # per pattern: sums of the observed values and of their cross-products
    sums = pat.mean * pat.counts[:, None]
    cross = (pat.cov + np.einsum("ka,kb->kab", pat.mean, pat.mean)) * pat.counts[:, None, None]
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is reported after the loop
        t1 = np.zeros(p)
        t2 = np.zeros((p, p))
        for k, obs in enumerate(pat.index):
            nk = pat.counts[k]
            mis = np.flatnonzero(~pat.observed[k])
            so, co = sums[k, obs], cross[k][np.ix_(obs, obs)]
            if mis.size == 0:
                t1 += so
                t2 += co
                continue
            b = np.linalg.solve(sigma[np.ix_(obs, obs)], sigma[np.ix_(obs, mis)]).T
            a = mu[mis] - b @ mu[obs]
            sm = nk * a + b @ so  # sum of the conditional means of the missing values
            cmo = np.outer(a, so) + b @ co  # sum of E[y_mis] y_obs'
            cmm = b @ co @ b.T + np.outer(b @ so, a) + np.outer(a, b @ so) + nk * np.outer(a, a)
            cmm += nk * (sigma[np.ix_(mis, mis)] - b @ sigma[np.ix_(obs, mis)])
            t1[obs] += so
            t1[mis] += sm
            t2[np.ix_(obs, obs)] += co
            t2[np.ix_(mis, obs)] += cmo
            t2[np.ix_(obs, mis)] += cmo.T
            t2[np.ix_(mis, mis)] += cmm
        mu_new = t1 / n
        sigma_new = t2 / n - np.outer(mu_new, mu_new)
        sigma_new = 0.5 * (sigma_new + sigma_new.T)
        delta = max(np.max(np.abs(mu_new - mu)), np.max(np.abs(sigma_new - sigma)))
        mu, sigma = mu_new, sigma_new
        if delta < tol:
            return mu, sigma, it, True
    return mu, sigma, it, False


def casewise_loglik(pat: MissingPatterns, sigma: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Log-density of each case's observed values at ``mu, Sigma`` (in ``pat.values`` order).

    Their sum is :func:`fiml_loglik`.
    """
    out = np.empty(pat.values.shape[0])
    for k, obs in enumerate(pat.index):
        cases = np.flatnonzero(pat.case_pattern == k)
        chol = np.linalg.cholesky(sigma[np.ix_(obs, obs)])
        z = np.linalg.solve(chol, (pat.values[np.ix_(cases, obs)] - mu[obs]).T)
        logdet = 2.0 * np.log(np.diag(chol)).sum()
        out[cases] = -0.5 * (obs.size * LOG_2PI + logdet + np.sum(z * z, axis=0))
    return out


def pattern_loglik(
    pat: MissingPatterns,
    sigma: np.ndarray,
    mu: np.ndarray,
    *,
    mean: np.ndarray | None = None,
    cov: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`fiml_loglik` for many moments (and data sets with the same patterns) at once.

    The loop runs over patterns only; within a pattern every leading index is one batched
    linear-algebra call, so the cost per draw is small when there are many draws.

    Parameters
    ----------
    pat : MissingPatterns
        The patterns (``observed``, ``counts``, ``index``); its statistics are the data
        unless ``mean`` and ``cov`` are given.
    sigma : numpy.ndarray, shape (..., p, p)
    mu : numpy.ndarray, shape (..., p)
    mean : numpy.ndarray, shape (..., npatterns, p), optional
        Per-pattern means of other data sets with the same patterns (0 off the observed
        block), e.g. replicated data masked as the observed data; default ``pat.mean``.
    cov : numpy.ndarray, shape (..., npatterns, p, p), optional
        Their per-pattern ML covariance matrices; default ``pat.cov``.

    Returns
    -------
    numpy.ndarray, shape (...)
        The leading axes of every argument, broadcast; ``-inf`` where ``sigma`` is not positive
        definite.
    """
    mean = pat.mean if mean is None else np.asarray(mean, dtype=float)
    cov = pat.cov if cov is None else np.asarray(cov, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    mu = np.asarray(mu, dtype=float)
    p = pat.p
    lead = np.broadcast_shapes(sigma.shape[:-2], mu.shape[:-1], mean.shape[:-2], cov.shape[:-3])
    sig = np.broadcast_to(sigma, (*lead, p, p)).reshape(-1, p, p)
    m = np.broadcast_to(mu, (*lead, p)).reshape(-1, p)
    pd_ok = _positive_definite(sig)
    # only positive-definite sigma are evaluated (their principal blocks are positive
    # definite too); the others get -inf
    sig = np.where(pd_ok[:, None, None], sig, np.eye(p))
    prec = np.linalg.inv(sig)
    _, logdet_full = np.linalg.slogdet(sig)
    total = np.zeros(sig.shape[0])
    for k, obs in enumerate(pat.index):
        # one pattern's statistics broadcast at a time (all at once could be large)
        no = obs.size
        pm = np.broadcast_to(mean[..., k, obs], (*lead, no)).reshape(-1, no)
        pc = np.broadcast_to(cov[..., k, obs[:, None], obs], (*lead, no, no)).reshape(-1, no, no)
        kinv, logdet = _observed_block_inverse(prec, logdet_full, obs, pat.observed[k])
        d = pm - m[:, obs]
        quad = np.einsum("sij,sij->s", kinv, pc) + np.einsum("si,sij,sj->s", d, kinv, d)
        total -= 0.5 * pat.counts[k] * (no * LOG_2PI + logdet + quad)
    total[~pd_ok] = -math.inf
    return total.reshape(lead)


def _observed_block_inverse(
    prec: np.ndarray, logdet: np.ndarray, obs: np.ndarray, observed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``Sigma_OO^-1`` and ``log|Sigma_OO|`` of a stack from ``P = Sigma^-1`` and ``log|Sigma|``.

    With ``M`` the missing block, ``Sigma_OO^-1 = P_OO - P_OM P_MM^-1 P_MO`` and
    ``log|Sigma_OO| = log|Sigma| + log|P_MM|`` (Schur complements): an ``|M| x |M|`` solve
    per pattern instead of an ``|O| x |O|`` one.
    """
    mis = np.flatnonzero(~observed)
    p_oo = prec[:, obs[:, None], obs]
    if mis.size == 0:
        return p_oo, logdet
    p_mm = prec[:, mis[:, None], mis]
    p_mo = prec[:, mis[:, None], obs]
    _, logdet_mm = np.linalg.slogdet(p_mm)
    return p_oo - p_mo.transpose(0, 2, 1) @ np.linalg.solve(p_mm, p_mo), logdet + logdet_mm


def _positive_definite(sig: np.ndarray) -> np.ndarray:
    """Whether each matrix of a stack (n, p, p) is positive definite (Cholesky succeeds)."""
    try:
        np.linalg.cholesky(sig)
        return np.ones(sig.shape[0], dtype=bool)
    except np.linalg.LinAlgError:
        return np.linalg.eigvalsh(0.5 * (sig + sig.transpose(0, 2, 1)))[:, 0] > 0


def pattern_stats(pat: MissingPatterns, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pattern means and ML covariances of data sets masked as ``pat``'s cases.

    Parameters
    ----------
    pat : MissingPatterns
        Gives each case's pattern (``case_pattern``) and observed variables.
    values : numpy.ndarray, shape (..., n, p)
        Data sets of ``pat.n`` rows in ``pat.values`` order; the cells that ``pat`` has missing
        are ignored (they may hold anything, e.g. simulated values).

    Returns
    -------
    mean : numpy.ndarray, shape (..., npatterns, p)
    cov : numpy.ndarray, shape (..., npatterns, p, p)
        0 off each pattern's observed block, as in :class:`~bayes_bmi.data.MissingPatterns`.
    """
    values = np.asarray(values, dtype=float)
    lead = values.shape[:-2]
    y = values.reshape(-1, *values.shape[-2:])
    r, p, npat = y.shape[0], pat.p, pat.npatterns
    mean = np.zeros((r, npat, p))
    cov = np.zeros((r, npat, p, p))
    for k, obs in enumerate(pat.index):
        yk = y[:, pat.case_pattern == k][:, :, obs]
        mk = yk.mean(axis=1)
        cen = yk - mk[:, None, :]
        mean[:, k, obs] = mk
        cov[:, k, obs[:, None], obs] = cen.transpose(0, 2, 1) @ cen / yk.shape[1]
    return mean.reshape(*lead, npat, p), cov.reshape(*lead, npat, p, p)


def em_saturated_batch(
    pat: MissingPatterns,
    mean: np.ndarray,
    cov: np.ndarray,
    *,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    max_iter: int = 10_000,
    tol: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`em_saturated` for several data sets with the same missingness patterns at once.

    The E- and M-steps are those of :func:`em_saturated`, batched over the data sets (one
    linear-algebra call per pattern and iteration for all of them); a data set stops being
    updated once no element of its ``mu`` or ``Sigma`` changes by more than ``tol``.

    Parameters
    ----------
    pat : MissingPatterns
        The patterns (``observed``, ``counts``, ``index``).
    mean : numpy.ndarray, shape (r, npatterns, p)
    cov : numpy.ndarray, shape (r, npatterns, p, p)
        Per-pattern statistics of each data set (:func:`pattern_stats`).
    start : (mu, sigma), optional
        Start values, shapes (r, p) and (r, p, p), e.g. the moments the data sets were
        simulated from (a warm start that saves most iterations). Default: as
        :func:`em_saturated`, the observed means and a diagonal of the observed variances.
    max_iter : int
    tol : float

    Returns
    -------
    mu : numpy.ndarray, shape (r, p)
    sigma : numpy.ndarray, shape (r, p, p)
    iterations : numpy.ndarray of int, shape (r,)
    converged : numpy.ndarray of bool, shape (r,)
    """
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    r, p, n = mean.shape[0], pat.p, pat.n
    counts = pat.counts.astype(float)
    sums = mean * counts[None, :, None]
    cross = (cov + mean[..., :, None] * mean[..., None, :]) * counts[None, :, None, None]
    if start is None:
        nobs = counts @ pat.observed  # observed cases per variable
        mu = sums.sum(axis=1) / nobs
        second = np.einsum("rkaa->ra", cross) / nobs
        sigma = np.zeros((r, p, p))
        sigma[:, np.arange(p), np.arange(p)] = second - mu**2
    else:
        mu = np.array(start[0], dtype=float, copy=True).reshape(r, p)
        sigma = np.array(start[1], dtype=float, copy=True).reshape(r, p, p)
    # the complete pattern(s) add the same sums at every iteration
    full = [k for k, obs in enumerate(pat.index) if obs.size == p]
    part = [k for k, obs in enumerate(pat.index) if obs.size < p]
    t1_fixed = sums[:, full].sum(axis=1)
    t2_fixed = cross[:, full].sum(axis=1)
    iterations = np.zeros(r, dtype=int)
    converged = np.zeros(r, dtype=bool)
    active = np.arange(r)
    for it in range(1, max_iter + 1):
        mu_a, sig_a = mu[active], sigma[active]
        prec = np.linalg.inv(sig_a)
        t1, t2 = t1_fixed[active].copy(), t2_fixed[active].copy()
        for k in part:
            _em_pattern_step(
                pat, k, counts[k], sums[active, k], cross[active, k], mu_a, prec, t1, t2
            )
        mu_new = t1 / n
        sig_new = t2 / n - mu_new[:, :, None] * mu_new[:, None, :]
        sig_new = 0.5 * (sig_new + sig_new.transpose(0, 2, 1))
        delta = np.maximum(
            np.abs(mu_new - mu_a).max(axis=1), np.abs(sig_new - sig_a).max(axis=(1, 2))
        )
        mu[active], sigma[active] = mu_new, sig_new
        iterations[active] = it
        done = delta < tol
        converged[active[done]] = True
        active = active[~done]
        if active.size == 0:
            break
    return mu, sigma, iterations, converged


def _em_pattern_step(
    pat: MissingPatterns,
    k: int,
    nk: float,
    sums: np.ndarray,
    cross: np.ndarray,
    mu: np.ndarray,
    prec: np.ndarray,
    t1: np.ndarray,
    t2: np.ndarray,
) -> None:
    """Add one incomplete pattern's expected sums to ``t1`` (r, p) and ``t2`` (r, p, p).

    From ``P = Sigma^-1``: the regression of the missing on the observed values is
    ``B = Sigma_MO Sigma_OO^-1 = -P_MM^-1 P_MO`` and their residual covariance
    ``Sigma_MM - B Sigma_OM = P_MM^-1`` (an ``|M| x |M|`` inverse per pattern).
    """
    obs = pat.index[k]
    mis = np.flatnonzero(~pat.observed[k])
    so = sums[:, obs]
    co = cross[:, obs[:, None], obs]
    resid = np.linalg.inv(prec[:, mis[:, None], mis])  # r, |M|, |M|
    b = -resid @ prec[:, mis[:, None], obs]  # r, |M|, |O|
    a = mu[:, mis] - np.einsum("rmo,ro->rm", b, mu[:, obs])
    bso = np.einsum("rmo,ro->rm", b, so)
    sm = nk * a + bso
    bco = b @ co
    cmo = a[:, :, None] * so[:, None, :] + bco
    cmm = bco @ b.transpose(0, 2, 1) + bso[:, :, None] * a[:, None, :]
    cmm += a[:, :, None] * bso[:, None, :] + nk * a[:, :, None] * a[:, None, :]
    cmm += nk * resid
    t1[:, obs] += so
    t1[:, mis] += sm
    t2[:, obs[:, None], obs] += co
    t2[:, mis[:, None], obs] += cmo
    t2[:, obs[:, None], mis] += cmo.transpose(0, 2, 1)
    t2[:, mis[:, None], mis] += cmm
