"""PyTensor twins of the implied moments, the marginal likelihood and the prior densities.

These build symbolic graphs for the PyMC model; each has a numpy reference elsewhere
(:func:`bayes_bmi.lavaan.representation.implied_moments`, :func:`bayes_bmi.ml.fitmeasures.loglik`,
:func:`bayes_bmi.bayes.priors.prior_logpdf`) and the tests check that they agree.

The likelihood is the multivariate normal of the data with the latent variables integrated
out, written with the sufficient statistics ``n``, the sample mean ``ybar`` and the Cholesky
factor ``C`` of the ML sample covariance ``S = C C'``::

    log L = -n/2 [p log(2 pi) + log|Sigma| + tr(Sigma^-1 S) + (ybar - mu)' Sigma^-1 (ybar - mu)]

so its cost does not grow with ``n``.
"""

from __future__ import annotations

import math

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from bayes_bmi.bayes.priors import FAMILIES
from bayes_bmi.lavaan.representation import MATRIX_NAMES, SYMMETRIC, Representation

__all__ = [
    "implied_moments_pt",
    "matrices_pt",
    "mvn_suffstat_loglik_pt",
    "prior_logp_pt",
    "rows_pt",
]

LOG_2PI = math.log(2.0 * math.pi)
LOG_2 = math.log(2.0)


def rows_pt(
    z: TensorVariable,
    base: TensorVariable,
    transform_codes: np.ndarray,
    free_rows: np.ndarray,
    free_k: np.ndarray,
    corr_rows: np.ndarray,
    corr_k: np.ndarray,
    corr_var_lhs: np.ndarray,
    corr_var_rhs: np.ndarray,
) -> TensorVariable:
    """Per-row parameter values from the unconstrained vector (twin of ``rows_from_z``)."""
    is_var = transform_codes == 1
    is_corr = transform_codes == 2
    nat = z
    if is_var.any():
        nat = pt.set_subtensor(nat[np.flatnonzero(is_var)], pt.exp(2.0 * z[np.flatnonzero(is_var)]))
    if is_corr.any():
        idx = np.flatnonzero(is_corr)
        nat = pt.set_subtensor(nat[idx], pt.tanh(z[idx]))
    rows = base
    if free_rows.size:
        rows = pt.set_subtensor(rows[free_rows], nat[free_k])
    if corr_rows.size:
        cov = nat[corr_k] * pt.sqrt(rows[corr_var_lhs] * rows[corr_var_rhs])
        rows = pt.set_subtensor(rows[corr_rows], cov)
    return rows


def matrices_pt(rep: Representation, rows: TensorVariable) -> dict[str, TensorVariable]:
    """The LISREL matrices from per-row values, one scatter per matrix.

    Returns a dict with ``lambda, theta, psi, beta, nu, alpha`` and ``a_inv`` (``None`` when
    the model has no ``beta`` entries, i.e. ``(I - B)^-1 = I``).
    """
    mats: dict[str, TensorVariable] = {}
    mat_arr = np.asarray(rep.mat, dtype=object)
    has_beta = False
    for name in MATRIX_NAMES:
        shape = rep.shape(name)
        idx = np.flatnonzero(mat_arr == name)
        if name == "lambda":
            out = pt.as_tensor_variable(rep.lambda_constant())
        else:
            out = pt.zeros(shape)
        if idx.size:
            r, c = rep.row[idx], rep.col[idx]
            vals = rows[idx]
            if name in ("nu", "alpha"):
                out = pt.set_subtensor(out[r], vals)
            elif name in SYMMETRIC:
                # mirror only the off-diagonal cells: a duplicated index would double the
                # gradient of a variance
                off = np.flatnonzero(r != c)
                out = pt.set_subtensor(
                    out[np.concatenate([r, c[off]]), np.concatenate([c, r[off]])],
                    pt.concatenate([vals, vals[off]]),
                )
            else:
                out = pt.set_subtensor(out[r, c], vals)
            has_beta = has_beta or name == "beta"
        mats[name] = out
    mats["a_inv"] = pt.linalg.inv(pt.eye(rep.m) - mats["beta"]) if has_beta else None
    return mats


def implied_moments_pt(
    rep: Representation, rows: TensorVariable
) -> tuple[TensorVariable, TensorVariable]:
    """Implied covariance and mean from per-row values (twin of ``implied_moments``)."""
    mats = matrices_pt(rep, rows)
    g = mats["lambda"] if mats["a_inv"] is None else mats["lambda"] @ mats["a_inv"]
    sigma = g @ mats["psi"] @ g.T + mats["theta"]
    sigma = 0.5 * (sigma + sigma.T)
    mu = mats["nu"] + g @ mats["alpha"]
    return sigma, mu


def mvn_suffstat_loglik_pt(
    n: TensorVariable,
    ybar: TensorVariable,
    s_chol: TensorVariable,
    sigma: TensorVariable,
    mu: TensorVariable,
) -> TensorVariable:
    """Multivariate-normal log-likelihood from sufficient statistics (``-inf`` if not PD)."""
    p = sigma.shape[0]
    chol = pt.linalg.cholesky(sigma)
    logdet = 2.0 * pt.sum(pt.log(pt.diag(chol)))
    m = pt.linalg.solve_triangular(chol, s_chol, lower=True)
    v = pt.linalg.solve_triangular(chol, ybar - mu, lower=True)
    ll = -0.5 * n * (p * LOG_2PI + logdet + pt.sum(m**2) + pt.sum(v**2))
    return pt.switch(pt.isnan(ll), -np.inf, ll)


def _log1m_tanh2(z: TensorVariable) -> TensorVariable:
    """``log(1 - tanh(z)**2)``, stable for large ``|z|``."""
    az = pt.abs(z)
    return 2.0 * (LOG_2 - az - pt.log1p(pt.exp(-2.0 * az)))


def prior_logp_pt(
    z: TensorVariable,
    transform_codes: np.ndarray,
    family: TensorVariable,
    a: TensorVariable,
    b: TensorVariable,
    c: TensorVariable,
    on_var: TensorVariable,
) -> TensorVariable:
    """Prior log density of every parameter on its natural scale plus the log-Jacobian.

    The family of each parameter is data (an integer code), so a prior can change without
    recompiling: every family's density is evaluated with safe inputs and the right one is
    selected.
    """
    code = pt.as_tensor_variable(transform_codes.astype("int64"))
    is_var = pt.eq(code, 1)
    is_corr = pt.eq(code, 2)
    sd = pt.exp(z)
    r = pt.tanh(z)
    log1m_r2 = _log1m_tanh2(z)
    fam = family

    def pick(f: str, value, safe):
        return pt.switch(pt.eq(fam, FAMILIES[f][0]), value, safe)

    # natural-scale values seen by each kind of family, made safe elsewhere
    x_real = pt.switch(pt.eq(code, 0), z, 0.0)
    x_pos = pt.switch(is_var, pt.switch(pt.gt(on_var, 0.5), sd**2, sd), 1.0)
    u = pt.switch(is_corr, pt.clip(0.5 * (r + 1.0), 1e-12, 1.0 - 1e-12), 0.5)
    r_safe = pt.switch(is_corr, r, 0.0)

    terms = {}
    na, nb = pick("normal", a, 0.0), pick("normal", b, 1.0)
    terms["normal"] = -0.5 * ((x_real - na) / nb) ** 2 - pt.log(nb) - 0.5 * LOG_2PI
    ta, tb, tc = pick("student_t", a, 1.0), pick("student_t", b, 0.0), pick("student_t", c, 1.0)
    terms["student_t"] = (
        pt.gammaln(0.5 * (ta + 1.0))
        - pt.gammaln(0.5 * ta)
        - 0.5 * pt.log(ta * math.pi)
        - pt.log(tc)
        - 0.5 * (ta + 1.0) * pt.log1p(((x_real - tb) / tc) ** 2 / ta)
    )
    ca, cb = pick("cauchy", a, 0.0), pick("cauchy", b, 1.0)
    terms["cauchy"] = -pt.log(math.pi * cb) - pt.log1p(((x_real - ca) / cb) ** 2)
    ga, gb = pick("gamma", a, 1.0), pick("gamma", b, 1.0)
    terms["gamma"] = ga * pt.log(gb) - pt.gammaln(ga) + (ga - 1.0) * pt.log(x_pos) - gb * x_pos
    la, lb = pick("lognormal", a, 0.0), pick("lognormal", b, 1.0)
    terms["lognormal"] = (
        -pt.log(x_pos) - pt.log(lb) - 0.5 * LOG_2PI - 0.5 * ((pt.log(x_pos) - la) / lb) ** 2
    )
    ha = pick("halfnormal", a, 1.0)
    terms["halfnormal"] = 0.5 * math.log(2.0 / math.pi) - pt.log(ha) - 0.5 * (x_pos / ha) ** 2
    ea = pick("exponential", a, 1.0)
    terms["exponential"] = pt.log(ea) - ea * x_pos
    ba, bb = pick("beta", a, 1.0), pick("beta", b, 1.0)
    terms["beta"] = (
        pt.gammaln(ba + bb)
        - pt.gammaln(ba)
        - pt.gammaln(bb)
        + (ba - 1.0) * pt.log(u)
        + (bb - 1.0) * pt.log1p(-u)
    )
    ua, ub = pick("uniform", a, -1.0), pick("uniform", b, 1.0)
    inside = pt.and_(pt.gt(r_safe, ua), pt.lt(r_safe, ub))
    terms["uniform"] = pt.switch(inside, -pt.log(ub - ua), -np.inf)

    logp = pt.zeros_like(z)
    for f, term in terms.items():
        logp = pt.switch(pt.eq(fam, FAMILIES[f][0]), term, logp)

    # log |d natural / d z|
    jac_var = pt.switch(pt.gt(on_var, 0.5), LOG_2 + 2.0 * z, z)
    jac_corr = pt.switch(pt.eq(fam, FAMILIES["uniform"][0]), log1m_r2, log1m_r2 - LOG_2)
    jac = pt.switch(is_var, jac_var, pt.switch(is_corr, jac_corr, 0.0))
    return logp + jac
