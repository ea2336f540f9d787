"""Fit a cumulative-probit (ordinal) SEM by NUTS on the compiled ordinal kernel.

:func:`fit_bayes_ordinal` is :func:`bayes_bmi.bayes.sampling.fit_bayes` for ordered items
(see :mod:`bayes_bmi.bayes.ordinal_kernel` for the model and :mod:`bayes_bmi.bayes.ordinal`
for the data and the theta parameterisation). It returns the same :class:`BayesResult`:

* ``model`` is the model in the theta parameterisation (items' residual variances fixed to
  1, intercepts to 0), ``spec`` its parameters; ``ordinal`` the coded items;
* ``idata["posterior"]`` holds ``z`` (the model's parameters, unconstrained), ``theta``,
  ``thresholds`` (dim ``threshold``, named ``x1|t1``, ...), ``defined``, ``estimate`` and
  ``std_all`` (the model's rows, then the thresholds; ``std.all`` of an ordered item uses
  ``var(y*) = lambda' Psi_eta lambda + 1`` and a threshold's is ``tau / sd(y*)``) and, with
  ``factor_scores=True``, ``factor_scores`` (chain, draw, case, latent; float32). The
  standardised latent values ``u`` are sampled but not stored otherwise (``n * m`` numbers
  per draw);
* the summary has one row per threshold with op ``|`` (``x1 | t1``), as lavaan prints them;
* ``ml`` is the ML fit of the model as written with the items taken as numbers (its
  estimates are not on the latent-response scale); the summary's ``ml_est`` and ``ml_se``
  are lavaan's WLSMV estimates instead (:func:`bayes_bmi.ml.ordinal.wlsmv.fit_wlsmv`, delta
  parameterisation, complete cases) carried to the theta parameterisation
  (:func:`bayes_bmi.bayes.ordinal.theta_from_delta`: ``y*_theta = y*_delta /
  sqrt(theta_delta)``, each latent variable on its marker's scale; SEs times the same
  factors, which are taken as fixed), so that they compare with ``mean``; std.all needs no
  conversion (WLSMV's own ``std_all``). ``:=`` rows have no ``ml_se``; where WLSMV fails
  both columns are empty (``diagnostics["wlsmv"]`` says why);
* chains start at the WLSMV solution (jitter as for the continuous model) with each case's
  latent values at their regression factor scores (:func:`start_point`);
* ``log_likelihood/y`` (chain, draw, case) is each case's *marginal* log-likelihood, the
  latent variables integrated out (:mod:`bayes_bmi.bayes.ordinal_loglik`), computed when
  read (arviz's LOO and WAIC read it); there is no ``prior`` group yet.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats as sps

from bayes_bmi.bayes.inputs import model_data
from bayes_bmi.bayes.ordinal import (
    PRECONDITION_SHRINKAGE,
    OrdinalData,
    ThetaStart,
    from_sampler,
    latent_mode,
    marginal_order,
    ordered_names,
    ordinal_data,
    pack_ordinal,
    preconditioner,
    sampler_triples,
    tau_prior,
    theta_from_delta,
    theta_model,
    threshold_names,
    to_sampler,
    with_preconditioner,
)
from bayes_bmi.bayes.parameters import ParamSpec, param_spec, rows_from_z, z_from_rows
from bayes_bmi.bayes.posterior import defined_draws, implied_draws
from bayes_bmi.bayes.priors import Prior
from bayes_bmi.bayes.sampling import (
    BayesResult,
    CompileCache,
    SamplerConfig,
    _row_names,
    _summarise,
    _versions,
    adaptation,
    bayesian_model,
    derived_draws,
)
from bayes_bmi.data import SampleStats
from bayes_bmi.errors import BayesBmiError, OptionError
from bayes_bmi.lavaan.model import Model
from bayes_bmi.lavaan.representation import fill_matrices, implied_moments
from bayes_bmi.ml.fit import fit_ml, model_stats
from bayes_bmi.ml.ordinal.wlsmv import fit_wlsmv

__all__ = ["PILOT_MIN_TUNE", "fit_bayes_ordinal", "pilot_split", "start_point"]

#: Shortest warm-up (``tune``) that is split into a pilot and the run (:func:`pilot_split`).
PILOT_MIN_TUNE = 100
#: ``diagnostics["latent_values"]`` per :func:`~bayes_bmi.bayes.ordinal.latent_mode`
LATENT_VALUES = {
    0: "non-centred",
    2: "non-centred, higher-order factors integrated out",
}


def start_point(
    model: Model,
    spec: ParamSpec,
    odata: OrdinalData,
    base: np.ndarray,
    wlsmv: ThetaStart | None = None,
    marginal: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Start values of ``z`` (natural coordinates) and the scale of their jitter.

    With ``wlsmv`` (a WLSMV solution carried to the theta parameterisation): its parameters
    and thresholds, and each case's latent values at their regression factor scores
    (:func:`_start_latent`). Without: loadings and regressions 1 and 0 (free loadings 1),
    variances 1, correlations 0, each item's thresholds at the normal quantiles of its
    cumulative proportions times the sd of its latent response, the latent values at 0.
    """
    nthr = int(odata.n_thresholds.sum())
    m = model.representation.m
    if wlsmv is not None and wlsmv.thresholds.size == nthr:
        z = z_from_rows(spec, wlsmv.rows)
        rows = rows_from_z(spec, z, base)
        tau = wlsmv.thresholds
        w = _w_from_thresholds(tau, odata, _response_sd(model, rows))
        latent = _start_latent(model, rows, odata, tau, latent_mode(model, marginal))
        scale_u = 0.3
    else:
        kinds = np.array(spec.kinds)
        z = np.zeros(spec.size)
        z[kinds == "lambda"] = 1.0
        rows = rows_from_z(spec, z, base)
        sigma, _ = implied_moments(fill_matrices(model.representation, rows))
        sd = np.sqrt(np.diag(sigma))
        tau = []
        for j, k in enumerate(odata.n_thresholds):
            codes = odata.codes[:, j]
            counts = np.bincount(codes[codes >= 0], minlength=k + 1) + 0.5
            cum = np.cumsum(counts)[:-1] / counts.sum()
            tau.extend(sps.norm.ppf(cum) * sd[j])
        w = _w_from_thresholds(np.asarray(tau), odata, sd)
        latent = np.zeros(odata.n * m)
        scale_u = 1.0
    z_full = np.concatenate([z, w, latent])
    scale = np.concatenate(
        [np.full(spec.size, 0.1), np.full(nthr, 0.05), np.full(odata.n * m, scale_u)]
    )
    return z_full, scale


def _response_sd(model: Model, rows: np.ndarray) -> np.ndarray:
    """The model-implied sd of each item's latent response (the thresholds' scale)."""
    sigma, _ = implied_moments(fill_matrices(model.representation, rows))
    return np.sqrt(np.diag(sigma))


def _w_from_thresholds(tau: np.ndarray, odata: OrdinalData, sd: np.ndarray) -> np.ndarray:
    """Raw threshold values (first, then log increments of ``tau / sd``) of natural ones."""
    w, pos = [], 0
    for j, k in enumerate(odata.n_thresholds):
        t = tau[pos : pos + k] / sd[j]
        w.extend([t[0], *np.log(np.maximum(np.diff(t), 1e-3))])
        pos += k
    return np.asarray(w, dtype=float)


def _start_latent(
    model: Model, rows: np.ndarray, odata: OrdinalData, tau: np.ndarray, mode: int
) -> np.ndarray:
    """Each case's latent values at their regression factor scores (``n * m``, flattened).

    The latent responses are taken at their means within the observed category under the
    model's marginal normal distribution (0 where missing); the scores are
    ``Cov(eta) Lambda' Sigma^-1 y*`` and, non-centred, ``u = chol(Psi)^-1 ((I - B) eta -
    alpha)`` (:func:`~bayes_bmi.bayes.ordinal.latent_mode` 0) or ``u = C^-1 (eta - mu)[perm]``
    (mode 2, :func:`_marginal_factor`).
    """
    rep = model.representation
    mats = fill_matrices(rep, rows)
    sigma, _ = implied_moments(mats)
    sd = np.sqrt(np.diag(sigma))
    a = np.eye(rep.m) - mats.beta
    a_inv = np.linalg.inv(a)
    cov_eta = a_inv @ mats.psi @ a_inv.T
    ystar = np.zeros(odata.codes.shape)
    pos = 0
    for j, k in enumerate(odata.n_thresholds):
        cuts = np.concatenate([[-np.inf], tau[pos : pos + k] / sd[j], [np.inf]])
        pos += k
        c = odata.codes[:, j]
        obs = c >= 0
        lo, hi = cuts[c[obs]], cuts[c[obs] + 1]
        mass = np.maximum(sps.norm.cdf(hi) - sps.norm.cdf(lo), 1e-300)
        ystar[obs, j] = sd[j] * (sps.norm.pdf(lo) - sps.norm.pdf(hi)) / mass
    weights = cov_eta @ mats.lambda_.T @ np.linalg.inv(sigma)
    eta = ystar @ weights.T
    if mode == 2:
        perm, shift, chol = _marginal_factor(mats)
        return np.linalg.solve(chol, (eta[:, perm] - shift).T).T.ravel()
    lo = np.linalg.cholesky(mats.psi)
    u = np.linalg.solve(lo, (eta @ a.T - mats.alpha).T).T
    return u.ravel()


def _wlsmv_start(model: Model, tm: Model, data: pd.DataFrame, base: np.ndarray, source: str):
    """The WLSMV fit carried to the theta parameterisation, or ``None`` where it fails."""
    t0 = time.perf_counter()
    try:
        fit = fit_wlsmv(model, data, source=source)
    except (BayesBmiError, np.linalg.LinAlgError, ValueError) as exc:
        return None, {"wlsmv": f"failed: {exc}", "wlsmv_seconds": time.perf_counter() - t0}
    info = {"wlsmv": "converged" if fit.converged else "not converged"}
    info["wlsmv_seconds"] = time.perf_counter() - t0
    if not fit.converged:
        return None, info
    return theta_from_delta(tm, base, fit.estimates), info


def _sample(kernel, kd, names: list[str], stored: int, config: SamplerConfig, init):
    from bayes_bmi.bayes.kernel_sampler import sample_kernel

    km = _stored_model(kernel, kd, names, stored, init)
    return sample_kernel(
        km,
        draws=config.draws,
        tune=config.tune,
        chains=config.chains,
        cores=min(config.cores, config.chains),
        seed=config.seed,
        progress_bar=config.progress,
        target_accept=config.target_accept,
        adaptation=adaptation(config, kd.nparam),
        save_warmup=False,
    )


def _stored_model(kernel, kd, names: list[str], stored: int, init):
    """A :class:`~bayes_bmi.bayes.kernel_sampler.KernelModel` storing the first ``stored``."""
    from nutpie import _lib

    from bayes_bmi.bayes.kernel_sampler import KernelModel

    class StoredKernelModel(KernelModel):
        @property
        def shapes(self):
            return {"z": (stored,)}

        def _make_model(self, init_mean):
            ints, floats = self.data.ints, self.data.floats
            header = np.array([ints.ctypes.data, ints.size, floats.ctypes.data, floats.size])
            header = header.astype(np.int64)
            keep_alive = (header, ints, floats, self.kernel)
            n = self.data.nparam
            logp = _lib.LogpFunc(self.kernel.logp.address, header.ctypes.data, keep_alive)
            expand = _lib.ExpandFunc(
                n, stored, self.kernel.expand.address, header.ctypes.data, keep_alive
            )
            sizes = {"param": stored}
            variables = _lib.PyVariable.new_variables(
                ["z"], ["float64"], [(stored,)], sizes, self.dims
            )
            return _lib.PyMcModel(logp, expand, variables, n, sizes, self.coords, self.init, None)

    return StoredKernelModel(
        dims={"z": ("param",)}, kernel=kernel, data=kd, names=tuple(names), init=init
    )


def pilot_split(tune: int) -> tuple[int, int, int] | None:
    """The warm-up split of a preconditioned run: pilot tune and draws, then the run's tune.

    ``tune`` iterations in all (40%, 30%, 30%); ``None`` (no pilot) below
    :data:`PILOT_MIN_TUNE`.
    """
    if tune < PILOT_MIN_TUNE:
        return None
    t1 = round(0.4 * tune)
    d1 = round(0.3 * tune)
    return t1, d1, tune - t1 - d1


def _pilot(kernel, kd, k: int, config: SamplerConfig, split, init):
    """Run the pilot; the preconditioned buffers, the run's start values and what was done.

    The pilot samples ``z`` (diagonal mass matrix) for ``split[0]`` warm-up and ``split[1]``
    stored iterations; the model's ``k`` parameters' draws give the
    :class:`~bayes_bmi.bayes.ordinal.Preconditioner`, and each chain of the run starts where
    a chain of the pilot ended (in the new coordinates). Draws that give no covariance leave
    the buffers as they are (the run then continues the pilot's chains without it).
    """
    t0 = time.perf_counter()
    t1, d1, t2 = split
    names = [f"z[{i}]" for i in range(kd.nparam)]
    pilot_config = dataclasses.replace(config, tune=t1, draws=d1)
    zp = _sample(kernel, kd, names, kd.nparam, pilot_config, init)["posterior"]["z"]
    zp = zp.transpose("chain", "draw", ...).values
    try:
        pre = preconditioner(zp[..., :k])
    except (ValueError, np.linalg.LinAlgError) as exc:  # e.g. a parameter that never moved
        pre, what = None, f"none (the pilot's draws gave no covariance: {exc})"
    else:
        what = "dense on the model's parameters, from a pilot run"
    ends = zp[:, -1, :] if pre is None else pre.to_x(zp[:, -1, :])
    chain = itertools.count()

    def init_run(seed: int) -> np.ndarray:
        return ends[next(chain) % ends.shape[0]].copy()

    info = {
        "preconditioner": what,
        "pilot_tune": t1,
        "pilot_draws": d1,
        "run_tune": t2,
        "preconditioner_shrinkage": PRECONDITION_SHRINKAGE,
        "pilot_seconds": time.perf_counter() - t0,
    }
    return (kd if pre is None else with_preconditioner(kd, pre)), init_run, info


def _kernel(cache: CompileCache, config: SamplerConfig):
    key = ("nutpie-ordinal-kernel", config.disk_cache)
    entry = cache.get(key)
    if entry is not None:
        return entry, True
    from bayes_bmi.bayes.compiled import load_kernel

    entry = load_kernel(cache=config.disk_cache, kind="ordinal")
    cache.put(key, entry)
    return entry, False


def _thresholds_from_w(w: np.ndarray, odata: OrdinalData) -> np.ndarray:
    """Thresholds over their item's latent-response sd from their raw values (``..., nthr``)."""
    out = np.empty_like(w)
    pos = 0
    for k in odata.n_thresholds:
        block = w[..., pos : pos + k].copy()
        block[..., 1:] = np.exp(block[..., 1:])
        out[..., pos : pos + k] = np.cumsum(block, axis=-1)
        pos += k
    return out


def _marginal_factor(mats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mode 2's order, ``mu[perm]`` and ``C = chol(Cov(eta)[perm, perm])`` (the kernel's)."""
    a_inv = np.linalg.inv(np.eye(mats.beta.shape[-1]) - mats.beta)
    cov = a_inv @ mats.psi @ np.swapaxes(a_inv, -1, -2)
    mu = (a_inv @ mats.alpha[..., None])[..., 0]
    lam = mats.lambda_.reshape(-1, *mats.lambda_.shape[-2:])[0]  # the structure: draw-free
    perm = marginal_order(lam)
    return perm, mu[..., perm], np.linalg.cholesky(cov[..., perm, :][..., :, perm])


def _factor_scores(rep, rows: np.ndarray, u: np.ndarray, mode: int) -> np.ndarray:
    """The latent values per draw and case (float32) from the sampled ``u``.

    ``eta = (I - B)^-1 (alpha + chol(Psi) u)``; mode 2: ``eta[perm] = mu[perm] + C u``.
    """
    mats = fill_matrices(rep, rows)
    if mode == 2:
        perm, shift, chol = _marginal_factor(mats)
        eta = np.empty(u.shape)
        eta[..., perm] = shift[..., None, :] + np.einsum("...rc,...ic->...ir", chol, u)
        return eta.astype(np.float32)
    lo = np.linalg.cholesky(mats.psi)
    a_inv = np.linalg.inv(np.eye(rep.m) - mats.beta)
    zeta = mats.alpha[..., None, :] + np.einsum("...rc,...ic->...ir", lo, u)
    return np.einsum("...rc,...ic->...ir", a_inv, zeta).astype(np.float32)


def _config_check(config: SamplerConfig) -> None:
    if config.sampler != "nutpie":
        raise OptionError("ordered items need the default sampler (nutpie): sampler='nutpie'")


def fit_bayes_ordinal(
    model: Model,
    data: pd.DataFrame,
    ordered: bool | str | list[str] | tuple[str, ...] = True,
    *,
    config: SamplerConfig | None = None,
    priors: dict[str, Prior] | None = None,
    cache: CompileCache | None = None,
    factor_scores: bool = False,
    source: str = "data",
    marginal: bool = True,
    precondition: bool = True,
) -> BayesResult:
    """Fit a model whose observed variables are ordered categories (cumulative probit).

    Parameters
    ----------
    model : Model
    data : pandas.DataFrame
        Raw data; each ordered item's categories are its sorted distinct whole numbers.
        Missing cells are left out of the likelihood (cases with no observed item dropped).
    ordered : bool, str or list of str
        ``True`` (every observed variable) or the names; for now every observed variable
        must be ordered.
    config : SamplerConfig, optional
    priors : dict, optional
        Default prior per kind; ``"tau"`` (a normal prior) is the thresholds'.
    cache : CompileCache, optional
    factor_scores : bool
        Store the latent values of every case and draw (``posterior/factor_scores``).
    source : str
        Name of the data, for messages.
    marginal : bool
        Non-centred, with a higher-order factor (no item loads on it): sample
        ``eta[perm] = mu[perm] + C u`` with ``C`` the Cholesky factor of ``Cov(eta)``, the
        latent variables measured by items first, so that the higher-order factor's values are
        integrated out (:func:`~bayes_bmi.bayes.ordinal.latent_mode`; ``False``: ``eta_i =
        (I - B)^-1 (alpha + chol(Psi) u_i)``, also the form without such a factor).
    precondition : bool
        Spend the warm-up in two runs (:func:`pilot_split`): a pilot whose draws give the
        model's parameters' posterior covariance, then the run in coordinates where that
        covariance is the identity (:class:`~bayes_bmi.bayes.ordinal.Preconditioner`), so
        that the diagonal mass matrix acts on the parameters as a dense one. ``config.tune``
        counts both warm-ups and the pilot's draws; below :data:`PILOT_MIN_TUNE` there is no
        pilot.

    Returns
    -------
    BayesResult
        See the module docstring for what differs from the continuous model's.

    Raises
    ------
    OptionError
        Mixed items, unsupported structures, or the PyMC sampler.
    DataError
        Items that are not whole numbers, with one category or too many.
    """
    config = config or SamplerConfig()
    _config_check(config)
    model = bayesian_model(model)
    names = ordered_names(model, ordered)
    if not names:
        raise OptionError("ordered: no ordered item given")
    tm = theta_model(model, names)
    prior_tau = tau_prior(priors)
    spec = param_spec(tm, {k: v for k, v in (priors or {}).items() if k != "tau"})
    odata = ordinal_data(data, names, source)
    t0 = time.perf_counter()
    numeric = data.loc[odata.case_index, names].apply(pd.to_numeric, errors="coerce")
    stats_cc = model_stats(model, numeric, source)
    ml = fit_ml(model, stats_cc, source=source)
    ml_s = time.perf_counter() - t0
    stats = SampleStats(
        names=stats_cc.names,
        n=odata.n,
        mean=stats_cc.mean,
        cov=stats_cc.cov,
        n_dropped=len(data) - odata.n,
    )
    mdata = model_data(tm, spec, stats_cc)
    base = mdata.values["fixed_values"]
    kd = pack_ordinal(tm, spec, mdata, odata, prior_tau, marginal)
    mode = latent_mode(tm, marginal)
    nthr = int(odata.n_thresholds.sum())
    wl, wl_info = _wlsmv_start(model, tm, data.loc[odata.case_index], base, source)
    z0, scale = start_point(tm, spec, odata, base, wl, marginal)
    triples = sampler_triples(tm, spec, marginal)
    z0 = to_sampler(z0, triples)  # the sampler's coordinates: b * sd_p / sd_o

    cache = cache if cache is not None else CompileCache()
    t0 = time.perf_counter()
    kernel, reused = _kernel(cache, config)
    compile_s = time.perf_counter() - t0
    stored = kd.nparam if factor_scores else spec.size + nthr
    thr = threshold_names(odata)
    names_z = list(spec.names) + [f"{v}|{t}" for v, t in thr]
    if factor_scores:
        m = tm.representation.m
        names_z += [f"u[{i},{r}]" for i in range(odata.n) for r in range(m)]

    def init(seed: int) -> np.ndarray:
        rng = np.random.default_rng([config.seed, int(seed) % (2**32)])
        return z0 + config.jitter * scale * rng.standard_normal(z0.size)

    t0 = time.perf_counter()
    split = pilot_split(config.tune) if precondition else None
    pre_info: dict = {"preconditioner": "none"}
    if split is None:
        trace = _sample(kernel, kd, names_z, stored, config, init)
    else:
        kd_run, init, pre_info = _pilot(kernel, kd, spec.size, config, split, init)
        run_config = dataclasses.replace(config, tune=split[2])
        trace = _sample(kernel, kd_run, names_z, stored, run_config, init)
    sample_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    zs = from_sampler(trace["posterior"]["z"].transpose("chain", "draw", ...).values, triples)
    idata, sum_idx, pt_ext = _posterior(
        tm, spec, odata, base, zs, trace, (factor_scores, mode), stats
    )
    post_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary, diag = _summarise(idata, pt_ext, sum_idx, _ml_columns(tm, wl, len(pt_ext)), config)
    summary_s = time.perf_counter() - t0
    diag.update(
        {
            "sampler": "nutpie",
            "seed": config.seed,
            "draws": config.draws,
            "tune": config.tune,
            "chains": config.chains,
            "target_accept": config.target_accept,
            "adaptation": adaptation(config, kd.nparam),
            "versions": _versions(),
            "compile_seconds": compile_s,
            "compiled_model_reused": reused,
            "kernel_cache": "off"
            if not config.disk_cache
            else "hit"
            if kernel.from_cache
            else "miss",
            "kernel_cache_dir": str(kernel.cache_dir) if kernel.cache_dir else None,
            "kernel_load_seconds": kernel.seconds,
            "sampling_seconds": sample_s,
            **pre_info,
            "postprocess_seconds": post_s,
            "ml_seconds": ml_s,
            "summary_seconds": summary_s,
            "n_obs": odata.n,
            "n_dropped": len(data) - odata.n,
            "n_missing_cells": int((odata.codes < 0).sum()),
            "missing": "observed cells",
            "ordered": list(names),
            "parameterization": "theta",
            "latent_values": LATENT_VALUES[mode],
            "tau_prior": str(prior_tau),
            "n_latent_values": odata.n * tm.representation.m,
            **wl_info,
            "ml_columns": "WLSMV, carried to the theta parameterisation" if wl else "none",
            "ml_converged": ml.converged,
            "ml_warnings": list(ml.warnings),
        }
    )
    return BayesResult(
        model=tm, spec=spec, stats=stats, ml=ml, idata=idata, summary=summary,
        diagnostics=diag, ordinal=odata,
    )  # fmt: skip


def _ml_columns(tm: Model, wl: ThetaStart | None, nrow: int) -> SimpleNamespace:
    """The summary's ``ml_est``/``ml_se``: WLSMV in the theta parameterisation (or NaN).

    ``:=`` rows get their value from the converted rows and no SE (the conversion's scale
    factors differ per defined parameter).
    """
    est, se = np.full(nrow, np.nan), np.full(nrow, np.nan)
    if wl is not None:
        pt = tm.partable
        rows = wl.rows.copy()
        def_idx = np.flatnonzero(pt["op"].to_numpy() == ":=")
        if def_idx.size:
            rows[def_idx] = defined_draws(pt, rows[None])[0]
        est[: len(pt)] = rows
        se[: len(pt)] = wl.se
        est[len(pt) :] = wl.thresholds
        se[len(pt) :] = wl.thresholds_se
    return SimpleNamespace(estimates=pd.DataFrame({"est": est, "se": se}))


def _posterior(tm, spec, odata, base, zs, trace, latent, stats):
    """The DataTree of an ordinal fit; also the summarised rows and the extended table."""
    factor_scores, mode = latent
    pt, rep = tm.partable, tm.representation
    nthr = int(odata.n_thresholds.sum())
    z = zs[..., : spec.size]
    rows, theta, defined, def_idx, sum_idx, rows_full, std_all = derived_draws(tm, spec, z, base)
    sigma, _ = implied_draws(rep, rows)
    sd = np.sqrt(np.diagonal(sigma, axis1=-2, axis2=-1))
    item = np.repeat(np.arange(len(odata.names)), odata.n_thresholds)
    tau_std = _thresholds_from_w(zs[..., spec.size : spec.size + nthr], odata)
    tau = tau_std * sd[..., item]
    thr = threshold_names(odata)
    pt_thr = pd.DataFrame(
        {"lhs": [v for v, _ in thr], "op": "|", "rhs": [t for _, t in thr], "label": ""}
    )
    pt_ext = pd.concat([pt[["lhs", "op", "rhs", "label"]], pt_thr], ignore_index=True)
    sum_ext = np.concatenate([sum_idx, len(pt) + np.arange(nthr)])
    coords = {
        "chain": np.arange(z.shape[0]),
        "draw": np.arange(z.shape[1]),
        "param": list(spec.names),
        "def_param": list(pt["lhs"].to_numpy()[def_idx]),
        "threshold": [f"{v}|{t}" for v, t in thr],
        "row": _row_names(pt_ext, sum_ext),
    }
    cd = ("chain", "draw")
    post = xr.Dataset(
        {
            "z": ((*cd, "param"), z),
            "theta": ((*cd, "param"), theta),
            "thresholds": ((*cd, "threshold"), tau),
            "defined": ((*cd, "def_param"), defined),
            "std_all": ((*cd, "row"), np.concatenate([std_all, tau_std], axis=-1)),
            "estimate": ((*cd, "row"), np.concatenate([rows_full[..., sum_idx], tau], axis=-1)),
        },
        coords=coords,
    )
    if factor_scores:
        m = rep.m
        u = zs[..., spec.size + nthr :].reshape(*zs.shape[:2], odata.n, m)
        post["factor_scores"] = xr.DataArray(
            _factor_scores(rep, rows, u, mode),
            dims=(*cd, "case", "latent"),
            coords={"case": odata.case_index, "latent": list(rep.lv_names)},
        )
    y = np.where(
        odata.codes >= 0,
        np.stack(
            [c[np.maximum(odata.codes[:, j], 0)] for j, c in enumerate(odata.categories)], axis=1
        ),
        np.nan,
    )
    from bayes_bmi.bayes.ordinal_loglik import ordinal_loglik_variable  # numba: when fitting

    ll_ds = xr.Dataset(
        {"y": ordinal_loglik_variable(rep, rows, tau, odata)},  # computed when read
        attrs={"computed_on_read": 1},
        coords={"chain": coords["chain"], "draw": coords["draw"], "case": odata.case_index},
    )
    groups = {
        "posterior": post,
        "sample_stats": trace["sample_stats"].to_dataset(),
        "log_likelihood": ll_ds,
        "observed_data": xr.Dataset(
            {"y": (("case", "variable"), y)},
            coords={"case": odata.case_index, "variable": list(odata.names)},
        ),
        "constant_data": xr.Dataset(
            {"n_obs": ((), stats.n), "fixed_values": (("table_row",), base)},
        ),
    }
    return xr.DataTree.from_dict(groups), sum_ext, pt_ext
