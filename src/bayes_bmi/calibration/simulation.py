"""One simulation of a calibration: a truth, a data set from it, a fit, the ranks of the truth.

:func:`run_simulation` is what a Dask task runs (one call per simulation, on any worker): it
depends only on its arguments (the model, the :class:`CalibrationSettings` and the simulation's
number), so the same simulation gives the same record on any worker, in any order, and on a
rerun. The truth is drawn from the same priors the fit uses (:func:`draw_truth`), restricted,
as the sampler's posterior is, to values whose implied covariance matrix is positive definite.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from bayes_bmi.bayes.parameters import ParamSpec, param_spec, rows_from_z
from bayes_bmi.bayes.posterior import align_signs, defined_draws
from bayes_bmi.bayes.priors import FAMILIES, Prior, sample_prior
from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig, bayesian_model, fit_bayes
from bayes_bmi.calibration.ranks import rank_of, thin_indices
from bayes_bmi.errors import BayesBmiError
from bayes_bmi.lavaan.model import Model
from bayes_bmi.lavaan.representation import fill_matrices, implied_moments
from bayes_bmi.simulate.normal import simulate_normal

__all__ = [
    "CalibrationError",
    "CalibrationSettings",
    "calibration_model",
    "draw_truth",
    "fit_attempts",
    "run_simulation",
    "truth_rows",
]

#: Prior draws tried per simulation before giving up on a positive definite covariance.
MAX_PRIOR_TRIES = 1000


class CalibrationError(BayesBmiError):
    """A calibration that cannot run as asked (model, truth, settings or output folder)."""


@dataclass(frozen=True)
class CalibrationSettings:
    """Everything a simulation depends on besides its number.

    Attributes
    ----------
    n : int
        Cases per simulated data set.
    ndraws : int
        Most posterior draws a rank is taken among (``L``): the pooled draws of every chain,
        thinned evenly to each parameter's effective sample size, at most this many
        (:func:`thinned_sizes`).
    config : SamplerConfig
        The sampler's settings; its seed is replaced by each simulation's own.
    seed : int
        Seed of the whole calibration: simulation ``i`` uses ``SeedSequence([seed, i])``.
    priors : dict, optional
        Default priors per kind (as for :func:`~bayes_bmi.bayes.sampling.fit_bayes`), used to
        draw the truth and to fit.
    truth : dict, optional
        A fixed true value per free parameter (by name) instead of prior draws: every
        simulation then shares one truth, the coverage is frequentist coverage at that point,
        and the ranks need not be uniform (they are only under prior draws).
    extend : int
        Longer reruns of a fit with a convergence warning (R-hat, ESS, divergences, E-BFMI):
        rerun ``j`` has ``2**j`` times the draws and warm-up steps and a fresh seed; the last
        fit is ranked whether or not it converged, so every simulation stays in the ranks
        (dropping unconverged fits would condition the ranks on the truth being easy to
        sample, and bias them).
    """

    n: int
    ndraws: int = 99
    config: SamplerConfig = field(default_factory=SamplerConfig)
    seed: int = 1
    priors: Mapping[str, Prior] | None = None
    truth: Mapping[str, float] | None = None
    extend: int = 1

    def __post_init__(self) -> None:
        if self.extend < 0:
            raise CalibrationError(f"extend must be at least 0, got {self.extend}")
        if self.n < 2:
            raise CalibrationError(f"n must be at least 2, got {self.n}")
        if self.ndraws < 1:
            raise CalibrationError(f"ndraws must be at least 1, got {self.ndraws}")
        total = self.config.draws * self.config.chains
        if self.ndraws > total:
            raise CalibrationError(
                f"ndraws ({self.ndraws}) exceeds the draws sampled ({self.config.chains} "
                f"chains x {self.config.draws})"
            )

    def fingerprint(self, model: Model) -> str:
        """SHA-256 of the model and every setting that changes a simulation's result."""
        cfg = asdict(self.config)
        for k in ("progress", "cores", "disk_cache", "seed"):  # do not change the draws
            cfg.pop(k)
        doc = {
            "model": model.text,
            "options": repr(model.options),
            "n": self.n,
            "ndraws": self.ndraws,
            "seed": self.seed,
            "config": cfg,
            "priors": {k: str(v) for k, v in sorted((self.priors or {}).items())},
            "truth": dict(sorted((self.truth or {}).items())),
            "extend": self.extend,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def calibration_model(model: Model) -> Model:
    """The model as the sampler fits it (with its mean structure); refuses fixed covariates.

    Raises
    ------
    CalibrationError
        When the model has fixed exogenous covariates (``fixed.x``): their values come from
        the data, so no prior can draw them.
    """
    model = bayesian_model(model)
    if (model.partable["exo"].to_numpy() == 1).any():
        raise CalibrationError(
            "calibration needs every parameter drawn from its prior: the model has fixed "
            "exogenous covariates (fixed.x); make them latent or free their (co)variances"
        )
    return model


def _base(model: Model) -> np.ndarray:
    """Per-row fixed values (NaN for free and ``:=`` rows)."""
    pt = model.partable
    base = pt["ustart"].to_numpy(dtype=float).copy()
    base[(pt["free"].to_numpy() > 0) | (pt["op"].to_numpy() == ":=")] = np.nan
    return base


def _prior_z(spec: ParamSpec, rng: np.random.Generator) -> np.ndarray:
    """One draw of ``z`` from the priors (as ``fit_bayes`` draws its ``prior`` group)."""
    return prior_z_draws(spec, rng, 1)[0]


def prior_z_draws(spec: ParamSpec, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` draws of ``z`` from the priors, shape ``(size, spec.size)``.

    Parameter by parameter, ``size`` values from its prior on its own scale, carried to the
    kernel's unconstrained ``z`` (log sd, atanh of a correlation). With ``size=1`` the random
    stream is that of one draw per parameter in order, so :func:`_prior_z` is this with one row.
    """
    z = np.empty((size, spec.size))
    for k, prior in enumerate(spec.priors):
        x = np.asarray(sample_prior(prior, size, rng), dtype=float).reshape(size)
        tr = spec.transforms[k]
        if tr == "var":
            sd = np.sqrt(x) if prior.on == "var" else x
            z[:, k] = np.log(np.maximum(sd, 1e-300))
        elif tr == "corr":
            r = 2.0 * x - 1.0 if FAMILIES[prior.family][2] == "unit" else x
            z[:, k] = np.arctanh(np.clip(r, -1 + 1e-12, 1 - 1e-12))
        else:
            z[:, k] = x
    return z


def _positive_definite(model: Model, rows: np.ndarray) -> bool:
    sigma, _ = implied_moments(fill_matrices(model.representation, rows))
    return bool(np.all(np.isfinite(sigma))) and np.linalg.eigvalsh(sigma)[0] > 1e-10


def draw_truth(model: Model, spec: ParamSpec, rng: np.random.Generator) -> np.ndarray:
    """Per-row true values drawn from the priors, redrawn until Sigma is positive definite.

    The sampler's log density is ``-inf`` where the implied covariance matrix is not positive
    definite, so its effective prior is the prior restricted to that region: rejection draws
    from exactly that distribution.

    Raises
    ------
    CalibrationError
        When :data:`MAX_PRIOR_TRIES` draws all fail.
    """
    base = _base(model)
    for _ in range(MAX_PRIOR_TRIES):
        rows = rows_from_z(spec, _prior_z(spec, rng), base)
        if _positive_definite(model, rows):
            return rows
    raise CalibrationError(
        f"{MAX_PRIOR_TRIES} draws from the priors gave no positive definite implied "
        "covariance matrix: the priors are too wide for this model"
    )


def truth_rows(model: Model, spec: ParamSpec, truth: Mapping[str, float]) -> np.ndarray:
    """Per-row values from a true value per free parameter name.

    Raises
    ------
    CalibrationError
        For unknown or missing names, or a truth whose implied Sigma is not positive definite.
    """
    unknown = sorted(set(truth) - set(spec.names))
    missing = [name for name in spec.names if name not in truth]
    if unknown or missing:
        raise CalibrationError(
            "the truth must give one value per free parameter"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    rows = _base(model)
    value = np.array([float(truth[name]) for name in spec.names])
    rows[spec.free_rows] = value[spec.free_k]
    if spec.corr_rows.size:
        rows[spec.corr_rows] = value[spec.corr_k]  # a covariance's truth is the covariance
    if not _positive_definite(model, rows):
        raise CalibrationError("the truth's implied covariance matrix is not positive definite")
    return rows


def _theta(spec: ParamSpec, rows: np.ndarray) -> np.ndarray:
    """The free parameters' values (``theta``, as in the posterior) from per-row values."""
    out = np.empty((*rows.shape[:-1], spec.size))
    out[..., spec.free_k] = rows[..., spec.free_rows]
    if spec.corr_k.size:
        out[..., spec.corr_k] = rows[..., spec.corr_rows]
    return out


def run_simulation(
    model: Model, settings: CalibrationSettings, sim: int, cache: CompileCache | None = None
) -> dict:
    """Draw a truth, simulate ``settings.n`` cases, fit, and rank the truth among the draws.

    Parameters
    ----------
    model : Model
        As returned by :func:`calibration_model`.
    settings : CalibrationSettings
    sim : int
        The simulation's number (0-based); with ``settings.seed`` it fixes every random draw.
    cache : CompileCache, optional
        The compiled sampler shared by the fits of one process (a Dask worker keeps one).

    Returns
    -------
    dict
        JSON-ready record: ``sim``, ``parameters``, ``truth``, ``rank``, ``pit`` (share of
        every posterior draw below the truth), ``ess`` (the smaller of bulk and tail ESS) and
        ``ndraws`` (draws the rank is taken among: :func:`thinned_sizes`), per parameter;
        ``max_r_hat``, ``min_ess_bulk``, ``divergences``, ``converged`` (of the fit ranked),
        ``draws`` (its draws per chain: more when it was extended), ``seconds``, ``attempts``
        (sampler runs), ``fingerprint``; the ``:=`` parameters are ranked after the free
        ones. A simulation whose every fit attempt failed (:data:`MAX_ATTEMPTS`) gives
        ``sim``, ``failed`` (the sampler's message), ``attempts``, ``seconds`` and
        ``fingerprint`` only.
    """
    t0 = time.perf_counter()
    spec = param_spec(model, dict(settings.priors) if settings.priors else None)
    seq = np.random.SeedSequence([settings.seed, sim])
    truth_seq, data_seq, sampler_seq = seq.spawn(3)
    if settings.truth is None:
        rows = draw_truth(model, spec, np.random.default_rng(truth_seq))
    else:
        rows = truth_rows(model, spec, settings.truth)
    data = simulate_normal(model, np.nan_to_num(rows), settings.n, np.random.default_rng(data_seq))
    fit, attempts = fit_attempts(
        model, data, settings, sampler_seq, cache, f"simulation {sim}", settings.extend,
        settings.ndraws,
    )  # fmt: skip
    if isinstance(fit, str):
        return {
            "sim": int(sim),
            "failed": fit,
            "attempts": attempts,
            "seconds": time.perf_counter() - t0,
            "fingerprint": settings.fingerprint(model),
        }
    if model.options.std_lv:  # the posterior's signs are aligned: align the truth's the same way
        rows = align_signs(model.partable, model.representation, rows[None, :])[0]
    names, truth, chains, ess = _ranked(fit, model, spec, rows)
    pooled = chains.reshape(-1, truth.size)
    kept = thinned_sizes(ess, settings.ndraws, len(pooled))
    rank = [
        int(rank_of(pooled[thin_indices(len(pooled), size), k][:, None], truth[k : k + 1])[0])
        for k, size in enumerate(kept)
    ]
    diag = fit.diagnostics
    return {
        "sim": int(sim),
        "parameters": names,
        "truth": truth.tolist(),
        "rank": rank,
        "pit": (pooled < truth[None, :]).mean(axis=0).tolist(),
        "ess": ess.tolist(),
        "ndraws": kept.tolist(),
        "max_r_hat": float(diag.get("max_r_hat", np.nan)),
        "min_ess_bulk": float(diag.get("min_ess_bulk", np.nan)),
        "divergences": int(diag.get("divergences", 0)),
        "converged": bool(fit.converged),
        "draws": int(chains.shape[1]),
        "attempts": attempts,
        "seconds": time.perf_counter() - t0,
        "fingerprint": settings.fingerprint(model),
    }


def _ranked(fit: Any, model: Model, spec: ParamSpec, rows: np.ndarray) -> tuple:
    """Names, truths, draws (chain, draw, param) and ESS of the free and ``:=`` parameters.

    A ``:=`` parameter (an indirect effect, say) is a function of the free ones, so its rank
    is uniform too when the posterior is right: it is ranked like them, its ESS the smaller
    of bulk and tail ESS of its draws.
    """
    post = fit.idata["posterior"]
    chains = post["theta"].transpose("chain", "draw", "param").values
    truth = _theta(spec, rows)
    names = list(spec.names)
    ess = _ess(fit.summary, model, spec)
    defined = post["defined"].transpose("chain", "draw", "def_param").values
    if defined.shape[-1]:
        summary = fit.summary[fit.summary["op"] == ":="].set_index("lhs")
        def_names = [str(v) for v in post["def_param"].values]
        truth = np.concatenate([truth, defined_draws(model.partable, rows[None, :])[0]])
        chains = np.concatenate([chains, defined], axis=-1)
        names += def_names
        d_ess = np.minimum(summary["ess_bulk"], summary["ess_tail"]).reindex(def_names)
        ess = np.concatenate([ess, d_ess.to_numpy(dtype=float)])
    return names, truth, chains, ess


#: Sampler runs tried per simulation (each with a fresh seed, so fresh jittered starts)
#: before the simulation is recorded as failed.
MAX_ATTEMPTS = 3


def fit_attempts(
    model: Model,
    data: Any,
    settings: Any,
    seq: np.random.SeedSequence,
    cache: CompileCache | None,
    source: str,
    extend: int = 0,
    min_ess: float = 100.0,
) -> tuple[Any, int]:
    """The fit, or the sampler's last error message when every attempt failed; sampler runs.

    ``settings`` needs ``config`` (a :class:`SamplerConfig`) and ``priors`` (as
    :class:`CalibrationSettings` and the power analysis's settings have); each attempt's
    sampler seed is drawn from ``seq``; ``source`` names the data in messages.

    A data set drawn from vague priors can be nearly unidentified (a factor whose marker is
    almost pure noise); when the ML start leaves nutpie no finite initial point, a new seed
    jitters the starts differently. A simulation that still fails is recorded as failed:
    dropping it conditions the ranks on a successful fit, so the number is reported.

    With ``extend > 0``, an unsettled fit (:func:`unsettled`: R-hat above the config's limit,
    divergences, or an ESS below ``min_ess``) is rerun up to ``extend`` times, rerun ``j`` with
    ``2**j`` times the draws and warm-up steps (fresh seed), until one is settled; the last
    fit is returned either way (a rerun that fails to start keeps the fit before).
    The count returned is every sampler run, extensions included.
    """
    message = ""
    children = seq.spawn(MAX_ATTEMPTS + extend)
    priors = dict(settings.priors) if settings.priors else None
    for attempt, child in enumerate(children[:MAX_ATTEMPTS], start=1):
        config = _replace_seed(settings.config, _seed_of(child))
        try:
            fit = fit_bayes(
                model, data, config=config, priors=priors, cache=cache, source=source,
                missing="listwise",
            )  # fmt: skip
        except RuntimeError as exc:  # nutpie: "All initialization points failed", ...
            message = str(exc).splitlines()[0]
            continue
        runs = attempt
        for j, grandchild in enumerate(children[MAX_ATTEMPTS:], start=1):
            if not unsettled(fit, settings.config.rhat_max, min_ess):
                break
            base = settings.config
            longer = replace(
                _replace_seed(base, _seed_of(grandchild)),
                draws=base.draws * 2**j,
                tune=base.tune * 2**j,
            )
            runs += 1
            try:
                fit = fit_bayes(
                    model, data, config=longer, priors=priors, cache=cache, source=source,
                    missing="listwise",
                )  # fmt: skip
            except RuntimeError:
                break
        return fit, runs
    return message, MAX_ATTEMPTS


def unsettled(fit: Any, rhat_max: float, min_ess: float) -> bool:
    """Whether a fit's chains disagree, diverged, or give fewer than ``min_ess`` effective draws.

    Unlike ``fit.converged`` this ignores the sampler's ESS target (400 by default): ranks
    are taken among at most ``ndraws`` draws thinned to the ESS, so an ESS above that suffices.
    """
    diag = fit.diagnostics
    ess = min(diag.get("min_ess_bulk", np.nan), diag.get("min_ess_tail", np.nan))
    rhat = diag.get("max_r_hat", np.nan)  # NaN with one chain: nothing to compare
    return not (
        (np.isnan(rhat) or rhat <= rhat_max) and diag.get("divergences", 0) == 0 and ess >= min_ess
    )


def _seed_of(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1)[0] % 2**31)


#: Fewest draws a rank is taken among, however small the effective sample size.
MIN_RANK_DRAWS = 10


def thinned_sizes(ess: np.ndarray, ndraws: int, total: int) -> np.ndarray:
    """Draws each parameter's rank is taken among: its ESS, at most ``ndraws``.

    Talts et al. (2018) thin to about the effective sample size so that the kept draws are
    roughly independent (autocorrelated draws bunch the ranks even of a correct posterior);
    at least :data:`MIN_RANK_DRAWS`, and at most the draws there are.
    """
    size = np.floor(np.nan_to_num(np.asarray(ess, dtype=float), nan=MIN_RANK_DRAWS))
    return np.clip(size, MIN_RANK_DRAWS, ndraws).astype(int).clip(1, total)


def _ess(summary, model: Model, spec: ParamSpec) -> np.ndarray:
    """Each free parameter's effective sample size: the smaller of bulk and tail ESS."""
    table = summary.set_index(summary["lhs"] + summary["op"] + summary["rhs"])
    ess = np.minimum(table["ess_bulk"], table["ess_tail"])
    return np.array([float(ess.get(_row_key(model, spec, k), np.nan)) for k in range(spec.size)])


def _row_key(model: Model, spec: ParamSpec, k: int) -> str:
    """``lhs op rhs`` of the first row of free parameter ``k`` (the summary's row name)."""
    pt = model.partable
    i = int(spec.free.rows[np.flatnonzero(spec.free.k == k)[0]])
    return f"{pt['lhs'].iat[i]}{pt['op'].iat[i]}{pt['rhs'].iat[i]}"


def _replace_seed(config: SamplerConfig, seed: int) -> SamplerConfig:
    return replace(config, seed=seed, progress=False)
