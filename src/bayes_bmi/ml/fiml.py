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
    "fiml_information",
    "fiml_loglik",
    "fiml_moment_gradient",
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
