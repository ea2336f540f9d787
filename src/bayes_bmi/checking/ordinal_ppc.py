"""Posterior predictive check of an ordinal (cumulative-probit) model: bivariate tables.

The continuous model's discrepancy (the likelihood-ratio chi-square against the unrestricted
normal model) has no meaning for ordered categories. Here the discrepancy of a data set ``y``
at a draw is Pearson's ``X^2`` over every pair of items' two-way table of categories, against
the probabilities the draw implies:

``D(y, draw) = sum over pairs (j, k), categories (a, b) of (O_jkab - E_jkab)^2 / E_jkab``

with ``O`` the counts among the cases answering both items and ``E = n_jk P(y_j = a,
y_k = b | draw)``. Under the model the latent responses are normal with the implied mean and
covariance, so each cell probability is a rectangle of a bivariate normal at the draw's
standardised thresholds and implied correlation (:func:`bayes_bmi.ml.ordinal.polychoric.
bvn_cdf`, exact). The replicated data of a draw are new cases from the model (new latent
variables and residuals) cut at the draw's thresholds, with each case's missing cells kept
missing. ``PPP = P(D(y_rep) >= D(y))`` over the draws: the same construction as the
continuous PPP (Gelman, Meng and Stern 1996), with a limited-information discrepancy of the
kind used for ordinal models (the bivariate margins, as in M2-type statistics), which also
points at the item pairs the model fits worst.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_bmi.bayes.posterior import implied_draws
from bayes_bmi.bayes.sampling import BayesResult
from bayes_bmi.errors import OptionError
from bayes_bmi.ml.ordinal.polychoric import bvn_cdf, pair_index

__all__ = ["OrdinalCheck", "ordinal_check"]


@dataclass(frozen=True, eq=False)
class OrdinalCheck:
    """Result of :func:`ordinal_check`.

    Attributes
    ----------
    ppp : float
        Posterior predictive p-value of the bivariate-table ``X^2``.
    draws : pandas.DataFrame
        Per draw used: ``chain, draw, observed, replicated`` discrepancies.
    pairs : pandas.DataFrame
        Per item pair: ``item_a, item_b, observed, replicated, ppp`` (posterior means of the
        pair's ``X^2`` and its own PPP), worst fitting first.
    """

    ppp: float
    draws: pd.DataFrame
    pairs: pd.DataFrame


def _pair_tables(codes: np.ndarray, i: np.ndarray, j: np.ndarray, kmax: int) -> np.ndarray:
    """Counts of every pair's two-way table (pairs x kmax x kmax), complete pairs only."""
    out = np.zeros((i.size, kmax, kmax))
    for q, (a, b) in enumerate(zip(i, j, strict=True)):
        both = (codes[:, a] >= 0) & (codes[:, b] >= 0)
        cells = codes[both, a] * kmax + codes[both, b]
        out[q] = np.bincount(cells, minlength=kmax * kmax).reshape(kmax, kmax)
    return out


def _cell_probabilities(
    tau: np.ndarray, sd: np.ndarray, mu: np.ndarray, corr: np.ndarray, i, j, ncat, kmax
) -> np.ndarray:
    """Implied probability of every cell of every pair's table (pairs x kmax x kmax)."""
    npair = i.size
    edges = np.full((len(ncat), kmax + 1), np.inf)
    edges[:, 0] = -np.inf
    start = 0
    for v, k in enumerate(ncat):
        edges[v, 1:k] = (tau[start : start + k - 1] - mu[v]) / sd[v]
        start += k - 1
    h = edges[i][:, :, None]  # pairs x (kmax+1) x 1
    k = edges[j][:, None, :]  # pairs x 1 x (kmax+1)
    rho = corr[i, j][:, None, None]
    f = bvn_cdf(np.broadcast_to(h, (npair, kmax + 1, kmax + 1)), k, rho)
    # corners where either bound is -inf are 0; bvn_cdf handles +inf
    f = np.where(np.isneginf(h) | np.isneginf(k), 0.0, f)
    prob = f[:, 1:, 1:] - f[:, :-1, 1:] - f[:, 1:, :-1] + f[:, :-1, :-1]
    return np.clip(prob, 0.0, 1.0)


def _x2(obs: np.ndarray, expected: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pearson ``X^2`` per pair over its valid cells."""
    e = np.maximum(expected, 1e-12)
    return np.where(valid, (obs - e) ** 2 / e, 0.0).sum(axis=(1, 2))


def ordinal_check(result: BayesResult, *, draws: int = 300, seed: int = 0) -> OrdinalCheck:
    """PPP of an ordinal fit from the bivariate tables of its items (module docstring).

    Parameters
    ----------
    result : BayesResult
        An ordinal fit (:func:`bayes_bmi.bayes.ordinal_sampling.fit_bayes_ordinal`).
    draws : int
        Evenly spaced posterior draws used (Monte Carlo SE of the PPP at most
        ``0.5 / sqrt(draws)``).
    seed : int
        Seed of the replicated data.

    Returns
    -------
    OrdinalCheck

    Raises
    ------
    OptionError
        When ``result`` is not an ordinal fit, or ``draws`` < 1.
    """
    odata = getattr(result, "ordinal", None)
    if odata is None:
        raise OptionError("ordinal_check needs an ordinal fit (ordered=...)")
    if draws < 1:
        raise OptionError(f"draws must be at least 1, got {draws}")
    rows = result.draw_rows()
    tau_all = result.idata["posterior"]["thresholds"].transpose("chain", "draw", ...).values
    nchain, ndraw = rows.shape[:2]
    flat_rows = rows.reshape(nchain * ndraw, -1)
    flat_tau = tau_all.reshape(nchain * ndraw, -1)
    use = np.unique(
        np.linspace(0, flat_rows.shape[0] - 1, min(draws, flat_rows.shape[0])).astype(int)
    )
    rep = result.model.representation
    names = list(odata.names)
    idx = [list(rep.ov_names).index(v) for v in names]
    codes = odata.codes
    n, p = codes.shape
    ncat = np.array([c.size for c in odata.categories])
    kmax = int(ncat.max())
    i, j = pair_index(p)
    valid = (np.arange(kmax)[None, :, None] < ncat[i][:, None, None]) & (
        np.arange(kmax)[None, None, :] < ncat[j][:, None, None]
    )
    observed_tables = _pair_tables(codes, i, j, kmax)
    n_pair = observed_tables.sum(axis=(1, 2))[:, None, None]
    missing = codes < 0
    rng = np.random.default_rng([seed, 41])
    d_obs = np.empty((use.size, i.size))
    d_rep = np.empty((use.size, i.size))
    for s, u in enumerate(use):
        sigma, mu = implied_draws(rep, flat_rows[u])
        sigma, mu = sigma[np.ix_(idx, idx)], mu[idx]
        sd = np.sqrt(np.diag(sigma))
        corr = sigma / np.outer(sd, sd)
        prob = _cell_probabilities(flat_tau[u], sd, mu, corr, i, j, ncat, kmax)
        expected = n_pair * prob
        d_obs[s] = _x2(observed_tables, expected, valid)
        ystar = mu + rng.standard_normal((n, p)) @ np.linalg.cholesky(sigma).T
        rep_codes = np.empty((n, p), dtype=np.int64)
        start = 0
        for v in range(p):
            cut = flat_tau[u, start : start + ncat[v] - 1]
            rep_codes[:, v] = np.searchsorted(cut, ystar[:, v])
            start += ncat[v] - 1
        rep_codes[missing] = -1
        d_rep[s] = _x2(_pair_tables(rep_codes, i, j, kmax), expected, valid)
    total_obs, total_rep = d_obs.sum(axis=1), d_rep.sum(axis=1)
    chain, draw = np.divmod(use, ndraw)
    table = pd.DataFrame(
        {"chain": chain, "draw": draw, "observed": total_obs, "replicated": total_rep}
    )
    pairs = pd.DataFrame(
        {
            "item_a": [names[a] for a in i],
            "item_b": [names[b] for b in j],
            "observed": d_obs.mean(axis=0),
            "replicated": d_rep.mean(axis=0),
            "ppp": (d_rep >= d_obs).mean(axis=0),
        }
    ).sort_values("ppp", kind="stable", ignore_index=True)
    return OrdinalCheck(ppp=float(np.mean(total_rep >= total_obs)), draws=table, pairs=pairs)
