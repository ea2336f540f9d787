"""Fit a model by NUTS: ML start values, sampling, diagnostics, a DataTree of everything.

Stages of :func:`fit_bayes`:

1. the model with a mean structure (the Bayesian model always has one, as in blavaan);
2. the ML fit of the same model (start values and the frequentist cross-check); with missing
   cells, full-information ML, and the likelihood summed over missingness patterns;
3. the compiled model: for nutpie (the default) one numba kernel for every model
   (:mod:`bayes_bmi.bayes.kernel`, the structure is data), loaded from an on-disk cache
   (:mod:`bayes_bmi.bayes.compiled`) and fed one fit's buffers; for PyMC's NUTS the PyMC model
   (:mod:`bayes_bmi.bayes.builder`), compiled once per structure. A :class:`CompileCache`
   keeps either for later fits in the same process (new data, priors, seed);
4. every chain started at the ML solution plus a small jitter (half an ML standard error);
5. post-processing: per-row draws, sign alignment under ``std_lv``, ``:=`` parameters,
   ``std.all``, the casewise log-likelihood, prior draws (for Bayes factors);
6. diagnostics: R-hat, bulk/tail ESS, divergences, tree depth, E-BFMI, with a verdict.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata as md
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from bayes_bmi.bayes import groups as grp
from bayes_bmi.bayes.bsem import (
    CrossLoadings,
    bsem_pairs,
    bsem_priors,
    check_bsem_sd,
    with_bsem_rows,
)
from bayes_bmi.bayes.inputs import ModelData, model_data, structure_key
from bayes_bmi.bayes.parameters import ParamSpec, param_spec, rows_from_z, z_from_rows
from bayes_bmi.bayes.posterior import (
    align_signs,
    casewise_loglik_variable,
    defined_draws,
    factor_score_draws,
    prior_z,
    std_all_draws,
)
from bayes_bmi.bayes.posterior import theta_from_rows as _theta_from_rows
from bayes_bmi.bayes.priors import Prior
from bayes_bmi.data import MissingPatterns, SampleStats
from bayes_bmi.errors import OptionError
from bayes_bmi.lavaan.model import Model, specify
from bayes_bmi.ml.fit import MLResult, fit_ml, model_stats, resolve_missing
from bayes_bmi.ml.groups import fit_ml_groups, group_views, split_groups

if TYPE_CHECKING:
    from bayes_bmi.bayes.groups import Deviations
    from bayes_bmi.bayes.ordinal import OrdinalData

__all__ = [
    "BayesResult",
    "CompileCache",
    "SamplerConfig",
    "bayesian_model",
    "fit_bayes",
    "fit_bayes_groups",
    "SUMMARY_COLUMNS",
]

SUMMARY_COLUMNS = (
    "lhs",
    "op",
    "rhs",
    "label",
    "mean",
    "sd",
    "median",
    "std_all",
    "hdi_lower",
    "hdi_upper",
    "ess_bulk",
    "ess_tail",
    "r_hat",
    "ml_est",
    "ml_se",
)
SAMPLERS = ("nutpie", "pymc")
ADAPTATIONS = ("auto", "low_rank", "diag", "draw_diag")
LOW_RANK_MAX_PARAMS = 50  # HS (30), Political Democracy (42): low rank; 46-item model (179): diag


@dataclass(frozen=True)
class SamplerConfig:
    """Sampler settings.

    Attributes
    ----------
    draws, tune, chains : int
        Draws kept per chain, warm-up steps per chain, number of chains. 4 x (500 + 1500)
        gave a min bulk ESS of 1500-3000 over every parameter of the HS CFA, Political
        Democracy and the 46-item, 14-factor model (4 x (1000 + 1000): 1000-2000, the minimum at
        Political Democracy's x2~~x2 and the 46-item, 14-factor model's intercepts).
    seed : int
        Seed of the sampler and of the start-value jitter; the same seed gives the same draws.
    sampler : str
        ``"nutpie"`` (default) or ``"pymc"``.
    target_accept : float
        Target acceptance rate of NUTS's step-size adaptation (0.9: variances near zero, as
        in Political Democracy, need the smaller steps for a tail ESS above 400).
    adaptation : str
        nutpie's mass-matrix adaptation: ``"auto"`` (default: ``"low_rank"`` up to
        :data:`LOW_RANK_MAX_PARAMS` free parameters, ``"diag"`` above), ``"low_rank"``
        (learns the correlations between loadings and variances: three times the ESS per
        gradient of ``"diag"`` on the HS CFA, but its cost grows steeply with the number of
        parameters: 96 s against 10 s of sampling for the 46-item, 14-factor model's 179),
        ``"diag"`` or ``"draw_diag"``.
    cores : int
        Chains run in parallel.
    progress : bool
        Show a progress bar.
    jitter : float
        Start-value jitter in ML standard errors (on the unconstrained scale).
    rhat_max, ess_min : float
        Convergence thresholds.
    disk_cache : bool
        Keep the compiled kernel in the on-disk cache (:mod:`bayes_bmi.bayes.compiled`;
        ``BAYES_BMI_CACHE_DIR`` moves it); ``False`` compiles in this process only.
    """

    draws: int = 1500
    tune: int = 500
    chains: int = 4
    seed: int = 1
    sampler: str = "nutpie"
    target_accept: float = 0.9
    adaptation: str = "auto"
    cores: int = 2
    progress: bool = True
    jitter: float = 0.5
    rhat_max: float = 1.01
    ess_min: float = 400.0
    disk_cache: bool = True

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(
                f"unknown sampler {self.sampler!r}. Must be one of: {', '.join(SAMPLERS)}"
            )
        for name in ("draws", "tune", "chains", "cores"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.adaptation not in ADAPTATIONS:
            raise ValueError(
                f"unknown adaptation {self.adaptation!r}. Must be one of: {', '.join(ADAPTATIONS)}"
            )
        if not 0 < self.target_accept < 1:
            raise ValueError("target_accept must lie strictly between 0 and 1")


def adaptation(config: SamplerConfig, nparam: int) -> str:
    """The mass-matrix adaptation nutpie uses for a model with ``nparam`` parameters."""
    if config.adaptation != "auto":
        return config.adaptation
    return "low_rank" if nparam <= LOW_RANK_MAX_PARAMS else "diag"


class CompileCache:
    """Compiled samplers: the kernel (nutpie; one for every model) or one PyMC model per structure.

    An explicit object rather than module state: create it where a session of fits starts
    (a script, a CLI command comparing models) and pass it to every :func:`fit_bayes`.

    Attributes
    ----------
    compilations : int
        How many kernels or PyMC models were compiled or loaded (a reuse leaves it unchanged).
    """

    def __init__(self) -> None:
        self._store: dict[tuple, object] = {}
        self.compilations = 0

    def get(self, key: tuple):
        """The compiled object for ``key``, or ``None``."""
        return self._store.get(key)

    def put(self, key: tuple, value: object) -> None:
        """Store a compiled object."""
        self._store[key] = value
        self.compilations += 1


@dataclass(frozen=True, eq=False)
class BayesResult:
    """Result of :func:`fit_bayes`.

    Attributes
    ----------
    model : Model
        The model as fitted (with its mean structure).
    spec : ParamSpec
    stats : SampleStats
        The complete cases' statistics; with missing cells (``missing == "fiml"``) the EM
        estimates of the unrestricted means and covariances, ``n`` the cases used.
    ml : MLResult
        The ML fit of the same model (full-information ML with missing cells).
    idata : xarray.DataTree
        Groups ``posterior`` (``z``, ``theta``, ``defined``, ``std_all``), ``sample_stats``,
        ``log_likelihood`` (``y``: chain, draw, case; computed when read), ``prior``
        (``theta``, ``defined``),
        ``observed_data`` and ``constant_data``. An ordinal fit's groups differ: see
        :mod:`bayes_bmi.bayes.ordinal_sampling`.
    summary : pandas.DataFrame
        One row per free or defined parameter (:data:`SUMMARY_COLUMNS`, plus ``std_all``).
    diagnostics : dict
        Sampler, seed, versions, times, min ESS, max R-hat, divergences, verdict.
    patterns : MissingPatterns or None
        The missingness patterns of a FIML fit (group 1's with groups; all in
        ``ml.group_patterns``).
    ordinal : OrdinalData or None
        The coded items of an ordinal (cumulative-probit) fit.
    cross_loadings : CrossLoadings or None
        BSEM: the rows added with small-variance priors (see :mod:`bayes_bmi.bayes.bsem`).
    group : str or None
        The grouping column of a multi-group fit (:mod:`bayes_bmi.bayes.groups`); ``stats``
        is then group 1's (every group's in ``ml.group_stats``).
    group_labels : tuple of str
        Group ``g`` of the summary's ``group`` column is ``group_labels[g - 1]``.
    deviations : Deviations or None
        The group deviations of approximate invariance.
    """

    model: Model
    spec: ParamSpec
    stats: SampleStats
    ml: MLResult
    idata: xr.DataTree
    summary: pd.DataFrame
    diagnostics: dict = field(default_factory=dict)
    patterns: MissingPatterns | None = None
    ordinal: OrdinalData | None = None
    cross_loadings: CrossLoadings | None = None
    group: str | None = None
    group_labels: tuple[str, ...] = ()
    deviations: Deviations | None = None

    @property
    def missing(self) -> str:
        """``"fiml"`` (the likelihood summed over missingness patterns) or ``"listwise"``."""
        return "fiml" if self.patterns is not None else "listwise"

    @property
    def converged(self) -> bool:
        """Whether every convergence check passed."""
        return bool(self.diagnostics.get("converged", False))

    @property
    def n_cases(self) -> int:
        """Cases fitted: ``stats.n``, or with groups the total over groups."""
        return self.ml.n_cases if self.ml.group_stats else int(self.stats.n)

    def draw_rows(self, group: str = "posterior") -> np.ndarray:
        """Per-row parameter values of every draw, shape (chain, draw, nrow).

        Fixed rows hold their fixed values, ``:=`` rows their defined values; under
        ``std_lv`` the signs are aligned as in the stored posterior.
        """
        base = self.idata["constant_data"]["fixed_values"].values
        pt = self.model.partable
        if group == "prior":
            theta = self.idata["prior"]["theta"].values
            rows = np.broadcast_to(base, (*theta.shape[:-1], base.size)).copy()
            rows[..., self.spec.free_rows] = theta[..., self.spec.free_k]
            if self.spec.corr_k.size:
                rows[..., self.spec.corr_rows] = theta[..., self.spec.corr_k]
        elif self.group is not None:
            from bayes_bmi.bayes.groups import group_rows

            z = self.idata["posterior"]["z"].transpose("chain", "draw", ...).values
            rows = group_rows(self.model, self.spec, z, base, self.deviations)[0]
        else:
            z = self.idata["posterior"]["z"].transpose("chain", "draw", ...).values
            rows = rows_from_z(self.spec, z, base)
            if self.model.options.std_lv:
                rows = align_signs(pt, self.model.representation, rows)
        def_idx = np.flatnonzero(pt["op"].to_numpy() == ":=")
        if def_idx.size:
            rows[..., def_idx] = defined_draws(pt, rows)
        return rows


def bayesian_model(model: Model) -> Model:
    """The same model with a mean structure (re-specified if it had none)."""
    if model.representation.meanstructure:
        return model
    options = dataclasses.replace(model.options, meanstructure=True)
    return specify(model.text, filename=model.filename, options=options)


def _z_scale(spec: ParamSpec, ml: MLResult) -> np.ndarray:
    """Approximate posterior SD of each element of ``z`` from the ML standard errors."""
    est = ml.estimates
    scale = np.full(spec.size, 0.1)
    values = est["est"].to_numpy(dtype=float)
    se = est["se"].to_numpy(dtype=float)
    for k in range(spec.size):
        tr = spec.transforms[k]
        if tr == "corr":
            j = int(np.flatnonzero(spec.corr_k == k)[0])
            i = spec.corr_rows[j]
            vv = np.sqrt(abs(values[spec.corr_var_lhs[j]] * values[spec.corr_var_rhs[j]]))
            s = se[i] / vv if vv > 0 else np.nan
        else:
            i = spec.free_rows[spec.free_k == k][0]
            s = se[i]
            if tr == "var":
                s = s / (2.0 * abs(values[i])) if values[i] != 0 else np.nan
        if np.isfinite(s) and s > 0:
            scale[k] = min(s, 0.5)
    return scale


def derived_draws(model: Model, spec: ParamSpec, z: np.ndarray, base: np.ndarray) -> tuple:
    """Every per-draw quantity that follows from ``z`` (chain, draw, param).

    Returns ``rows`` (per-row values, signs aligned under ``std_lv``), ``theta``, ``defined``
    (the ``:=`` draws), ``def_idx``, ``sum_idx`` (the free rows, then the ``:=`` rows: the
    rows a summary shows), ``rows_full`` (``rows`` with the ``:=`` values) and ``std_all``
    (of the ``sum_idx`` rows).
    """
    pt, rep = model.partable, model.representation
    rows = rows_from_z(spec, z, base)
    if model.options.std_lv:
        rows = align_signs(pt, rep, rows)
    theta = _theta_from_rows(spec, rows)
    defined = defined_draws(pt, rows)
    def_idx = np.flatnonzero(pt["op"].to_numpy() == ":=")
    free_idx = np.flatnonzero(pt["free"].to_numpy() > 0)
    sum_idx = np.concatenate([free_idx, def_idx])
    rows_full = rows.copy()
    if def_idx.size:
        rows_full[..., def_idx] = defined
    std_all = std_all_draws(pt, rep, rows_full)[..., sum_idx]
    return rows, theta, defined, def_idx, sum_idx, rows_full, std_all


def _prior_group(spec: ParamSpec, model: Model, base: np.ndarray, n: int, seed: int) -> dict:
    """Draws from the prior of ``theta`` and of the ``:=`` parameters."""
    rows = rows_from_z(spec, prior_z(spec, n, seed), base)
    return {
        "rows": rows,
        "theta": _theta_from_rows(spec, rows),
        "defined": defined_draws(model.partable, rows),
    }


def _compiled(cache: CompileCache, config: SamplerConfig, model: Model, spec: ParamSpec, mdata):
    """The compiled sampler for this fit, from ``cache`` or built; and whether it was reused.

    nutpie: one compiled kernel serves every model (keyed by the cache setting only);
    PyMC: one compiled PyMC model per structure.
    """
    if config.sampler == "nutpie":
        key = ("nutpie-kernel", config.disk_cache)
    else:
        key = ("pymc", structure_key(model, spec))
    entry = cache.get(key)
    if entry is not None:
        return entry, True
    if config.sampler == "nutpie":
        from bayes_bmi.bayes.compiled import load_kernel

        entry = load_kernel(cache=config.disk_cache)
    else:
        from bayes_bmi.bayes.builder import build_pymc_model

        entry = build_pymc_model(model, spec, mdata)
    cache.put(key, entry)
    return entry, False


def _import_sampler(config: SamplerConfig) -> None:
    """Import the sampler's modules (timed apart: nutpie brings arviz, PyMC brings PyTensor)."""
    if config.sampler == "nutpie":
        import bayes_bmi.bayes.kernel_sampler  # noqa: F401
    else:
        import bayes_bmi.bayes.builder  # noqa: F401


def _sample_nutpie(
    kernel, model: Model, spec: ParamSpec, mdata: ModelData, config: SamplerConfig, init, kdata
) -> xr.DataTree:
    from bayes_bmi.bayes.kernel_data import pack
    from bayes_bmi.bayes.kernel_sampler import KernelModel, sample_kernel

    km = KernelModel(
        dims={"z": ("param",)},
        kernel=kernel,
        data=kdata if kdata is not None else pack(model, spec, mdata),
        names=spec.names,
        init=init,
    )
    return sample_kernel(
        km,
        draws=config.draws,
        tune=config.tune,
        chains=config.chains,
        cores=min(config.cores, config.chains),
        seed=config.seed,
        progress_bar=config.progress,
        target_accept=config.target_accept,
        adaptation=adaptation(config, spec.size),
        save_warmup=False,
    )


def _sample_pymc(pm_model, mdata: ModelData, config: SamplerConfig, starts) -> xr.DataTree:
    import pymc as pm

    with pm_model:
        pm.set_data({k: v for k, v in mdata.values.items()})
    tree = pm.sample(
        model=pm_model,
        draws=config.draws,
        tune=config.tune,
        chains=config.chains,
        cores=min(config.cores, config.chains),
        random_seed=config.seed,
        nuts_sampler="pymc",
        initvals=[
            {"z": starts[0] + config.jitter * starts[1] * rng.standard_normal(starts[0].size)}
            for rng in (np.random.default_rng([config.seed, c]) for c in range(config.chains))
        ],
        target_accept=config.target_accept,
        progressbar=config.progress,
        compute_convergence_checks=False,
        init="adapt_diag",  # our own jittered ML starts; no extra jitter
    )
    if tree["posterior"].sizes["draw"] < config.draws:
        # PyMC returns the draws so far after Ctrl-C: never hand on a partial posterior
        raise KeyboardInterrupt
    return tree


def _sample(
    compiled,
    model: Model,
    spec: ParamSpec,
    mdata: ModelData | None,
    config: SamplerConfig,
    starts,
    kdata=None,
) -> xr.DataTree:
    """Draws from nutpie on the kernel (``kdata``: buffers packed already) or from PyMC."""
    if config.sampler == "pymc":
        return _sample_pymc(compiled, mdata, config, starts)
    z0, scale = starts

    def init(seed: int) -> np.ndarray:
        # nutpie asks once per chain with a seed derived from the sampler's seed: the
        # jitter depends on that seed only, so the same seed gives the same starts
        rng = np.random.default_rng([config.seed, int(seed) % (2**32)])
        return z0 + config.jitter * scale * rng.standard_normal(z0.size)

    return _sample_nutpie(compiled, model, spec, mdata, config, init, kdata)


def _row_names(pt: pd.DataFrame, idx: np.ndarray) -> list[str]:
    names = []
    for i in idx:
        lhs, op, rhs = pt["lhs"].iat[i], pt["op"].iat[i], pt["rhs"].iat[i]
        names.append(f"{lhs}{op}" if op == "~1" else f"{lhs}{op}{rhs}" if op != ":=" else lhs)
    return names


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("bayes-bmi", "nutpie", "numba", "pymc", "pytensor", "arviz", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:  # pragma: no cover
            out[pkg] = "unknown"
    return out


def fit_bayes(
    model: Model,
    data: pd.DataFrame,
    *,
    config: SamplerConfig | None = None,
    priors: dict[str, Prior] | None = None,
    cache: CompileCache | None = None,
    factor_scores: bool = False,
    source: str = "data",
    missing: str | None = None,
    bsem_sd: float | None = None,
    bsem_residuals: bool = False,
    group: str | None = None,
    approx_invariance: tuple[str, ...] = (),
    approx_sd: float = 0.05,
) -> BayesResult:
    """Fit a model by NUTS with the latent variables integrated out.

    Parameters
    ----------
    model : Model
    data : pandas.DataFrame
        Raw data.
    config : SamplerConfig, optional
    priors : dict, optional
        Default prior per kind (``lambda``, ``beta``, ``theta``, ...) replacing blavaan's.
    cache : CompileCache, optional
        Reuse compiled samplers across fits of the same structure.
    factor_scores : bool
        Also draw the latent variables of every case (``posterior/factor_scores``).
    source : str
        Name of the data, for messages.
    missing : {"fiml", "listwise"} or None
        ``"fiml"``: every observed cell is used, the likelihood summed over missingness
        patterns (blavaan's default, ``missing = "ml"``), with start values from the
        full-information ML fit; ``"listwise"``: complete cases only. ``None`` (default):
        ``"fiml"`` when the model's variables have missing cells.
    bsem_sd : float, optional
        BSEM (:mod:`bayes_bmi.bayes.bsem`): every cross-loading among the first-order
        factors is added, free, with prior ``normal(0, bsem_sd)`` on the standardized scale
        (``result.cross_loadings`` lists them; the ML fit is that of the model as written).
    bsem_residuals : bool
        With ``bsem_sd``: also every residual correlation among their indicators, with a
        prior of mean 0 and standard deviation ``bsem_sd`` on the correlation.
    group : str, optional
        A grouping column: the multi-group model (:func:`bayes_bmi.bayes.groups.fit_bayes_groups`;
        ``model`` single-group or specified for the groups); ``factor_scores`` is not available.
    approx_invariance : tuple of str
        With ``group``: classes held approximately equal across groups
        (:mod:`bayes_bmi.bayes.groups`).
    approx_sd : float
        The prior sd of a group's deviation from the common value.

    Returns
    -------
    BayesResult

    Raises
    ------
    OptionError
        An unknown ``missing``, or ``"fiml"`` with the PyMC sampler (which has no pattern
        likelihood), or a ``bsem_sd`` that is not positive.
    """
    config = config or SamplerConfig()
    if group is not None or model.blocks:
        if group is None:
            raise OptionError("the model is specified for groups: give group= (the column)")
        if factor_scores:
            raise OptionError("factor_scores with groups is not available yet")
        if bsem_sd is not None or bsem_residuals:
            raise OptionError("BSEM (bsem_sd) with groups is not available yet: one group only")
        return fit_bayes_groups(
            model, data, group, config=config, priors=priors, cache=cache, source=source,
            missing=missing, approx_invariance=tuple(approx_invariance), approx_sd=approx_sd,
        )  # fmt: skip
    if approx_invariance:
        raise OptionError("approx_invariance needs group= (a grouping column)")
    model = bayesian_model(model)
    bsem_rows = _bsem_rows(model, bsem_sd, bsem_residuals)
    ml_model = with_bsem_rows(model, None, bsem_rows) if bsem_rows else model
    method = resolve_missing(ml_model, data, missing, source)
    if method == "fiml" and config.sampler == "pymc":
        raise OptionError(
            "the PyMC sampler has no full-information likelihood for missing cells: use the "
            "default sampler (nutpie) or missing='listwise'"
        )
    t0 = time.perf_counter()
    if method == "fiml":
        ml = fit_ml(ml_model, data, source=source, missing="fiml")
        stats, patterns = ml.stats, ml.patterns
    else:
        stats, patterns = model_stats(ml_model, data, source), None
        ml = fit_ml(ml_model, stats, source=source)
    ml_s = time.perf_counter() - t0
    cross = None
    if bsem_rows:  # the BSEM rows free, their priors scaled by the ML fit without them
        cross = bsem_priors(ml_model, ml.values, stats.cov, float(bsem_sd), *bsem_rows)
        model = with_bsem_rows(model, cross)
    spec = param_spec(model, priors)
    mdata = model_data(model, spec, stats, patterns)
    base = mdata.values["fixed_values"]
    pt = model.partable
    rep = model.representation

    # start values: the ML solution with a jitter of about half an ML standard error
    z0 = z_from_rows(spec, ml.values)
    scale = _z_scale(spec, ml) if ml.converged else np.full(spec.size, 0.2)

    cache = cache if cache is not None else CompileCache()
    t0 = time.perf_counter()
    _import_sampler(config)
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled, reused = _compiled(cache, config, model, spec, mdata)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    trace = _sample(compiled, model, spec, mdata, config, (z0, scale))
    sample_s = time.perf_counter() - t0

    # --- post-processing ---
    t0 = time.perf_counter()
    z = trace["posterior"]["z"].transpose("chain", "draw", ...).values
    rows, theta, defined, def_idx, sum_idx, rows_full, std_all = derived_draws(model, spec, z, base)
    if patterns is None:
        used = data[list(model.ov_names)].apply(pd.to_numeric, errors="coerce").dropna()
        y, case_index = used.to_numpy(dtype=float), used.index.to_numpy()
    else:
        y, case_index = patterns.values, np.asarray(patterns.rows)
    loglik = casewise_loglik_variable(rep, rows, y)  # computed when read

    names_def = list(pt["lhs"].to_numpy()[def_idx])
    names_sum = _row_names(pt, sum_idx)
    coords = {
        "chain": np.arange(z.shape[0]),
        "draw": np.arange(z.shape[1]),
        "param": list(spec.names),
        "def_param": names_def,
        "row": names_sum,
    }
    post = xr.Dataset(
        {
            "z": (("chain", "draw", "param"), z),
            "theta": (("chain", "draw", "param"), theta),
            "defined": (("chain", "draw", "def_param"), defined),
            "std_all": (("chain", "draw", "row"), std_all),
            "estimate": (("chain", "draw", "row"), rows_full[..., sum_idx]),
        },
        coords=coords,
    )
    if factor_scores:
        fs = factor_score_draws(rep, rows, y, np.random.default_rng([config.seed, 3]))
        post["factor_scores"] = xr.DataArray(
            fs,
            dims=("chain", "draw", "case", "latent"),
            coords={"case": case_index, "latent": list(rep.lv_names)},
        )
    prior = _prior_group(spec, model, base, z.shape[0] * z.shape[1], config.seed)
    prior_ds = xr.Dataset(
        {
            "theta": (("chain", "draw", "param"), prior["theta"]),
            "defined": (("chain", "draw", "def_param"), prior["defined"]),
            "estimate": (("chain", "draw", "row"), _prior_rows(prior, def_idx, sum_idx)),
        },
        coords={**coords, "chain": [0], "draw": np.arange(prior["theta"].shape[1])},
    )
    ll_ds = xr.Dataset(
        {"y": loglik},
        attrs={"computed_on_read": 1},  # recomputed from the draws; not written to files
        coords={
            "chain": coords["chain"],
            "draw": coords["draw"],
            "case": case_index,
        },
    )
    obs_ds = xr.Dataset(
        {"y": (("case", "variable"), y)},  # NaN where a cell is missing
        coords={"case": case_index, "variable": list(model.ov_names)},
    )
    const_ds = xr.Dataset(
        {
            "sample_mean": (("variable",), stats.mean),
            "sample_cov": (("variable", "variable2"), stats.cov),
            "n_obs": ((), stats.n),
            "fixed_values": (("table_row",), base),
        },
        coords={"variable": list(model.ov_names), "variable2": list(model.ov_names)},
    )
    groups = {
        "posterior": post,
        "sample_stats": trace["sample_stats"].to_dataset(),
        "log_likelihood": ll_ds,
        "prior": prior_ds,
        "observed_data": obs_ds,
        "constant_data": const_ds,
    }
    idata = xr.DataTree.from_dict(groups)
    post_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    summary, diag = _summarise(idata, pt, sum_idx, ml, config)
    summary_s = time.perf_counter() - t0
    diag.update(
        {
            "sampler": config.sampler,
            "seed": config.seed,
            "draws": config.draws,
            "tune": config.tune,
            "chains": config.chains,
            "target_accept": config.target_accept,
            "adaptation": adaptation(config, spec.size) if config.sampler == "nutpie" else "diag",
            "versions": _versions(),
            "compile_seconds": compile_s,
            "compiled_model_reused": reused,
            **_kernel_info(compiled, config),
            "sampling_seconds": sample_s,
            "postprocess_seconds": post_s,
            "ml_seconds": ml_s,
            "sampler_import_seconds": import_s,
            "summary_seconds": summary_s,
            "n_obs": stats.n,
            "n_dropped": stats.n_dropped,
            "missing": method,
            **(
                {
                    "n_patterns": patterns.npatterns,
                    "n_missing_cells": patterns.n_missing,
                }
                if patterns is not None
                else {}
            ),
            "ml_converged": ml.converged,
            "ml_warnings": list(ml.warnings),
        }
    )
    return BayesResult(
        model=model,
        spec=spec,
        stats=stats,
        ml=ml,
        idata=idata,
        summary=summary,
        diagnostics=diag,
        patterns=patterns,
        cross_loadings=cross,
    )


def _bsem_rows(model: Model, bsem_sd: float | None, residuals: bool) -> tuple | None:
    """The BSEM rows to add (:func:`~bayes_bmi.bayes.bsem.bsem_pairs`), ``None`` without BSEM."""
    if bsem_sd is None:
        if residuals:
            raise OptionError("bsem_residuals needs bsem_sd (the prior's standard deviation)")
        return None
    check_bsem_sd(bsem_sd)
    return bsem_pairs(model, residuals=residuals)


def fit_bayes_groups(
    model: Model,
    data: pd.DataFrame,
    group: str,
    *,
    config: SamplerConfig | None = None,
    priors: dict[str, Prior] | None = None,
    cache: CompileCache | None = None,
    source: str = "data",
    missing: str | None = None,
    approx_invariance: tuple[str, ...] = (),
    approx_sd: float = 0.05,
) -> BayesResult:
    """Fit a multi-group model by NUTS on the compiled kernel (see :mod:`bayes_bmi.bayes.groups`).

    Parameters
    ----------
    model : Model
        Single-group (it is specified for the groups of ``data[group]``) or already specified
        with ``ModelOptions(ngroups=G, group_equal=..., group_partial=...)``.
    data : pandas.DataFrame
    group : str
        The grouping column; groups numbered in order of first appearance (lavaan).
    config, priors, cache, source, missing
        As :func:`bayes_bmi.bayes.sampling.fit_bayes`; under FIML each group's likelihood is
        summed over its missingness patterns.
    approx_invariance : tuple of str
        Classes (:data:`bayes_bmi.bayes.groups.APPROX_CLASSES`) held approximately equal;
        they are added to ``group_equal`` and each group gets a deviation.
    approx_sd : float
        The prior sd of each group's deviation from the common value.

    Returns
    -------
    BayesResult
        ``summary`` has ``group`` (1-based; 0 for ``:=`` rows) and ``group_label`` columns;
        ``group``, ``group_labels`` and ``deviations`` are set.
    """
    config = config or SamplerConfig()
    if config.sampler != "nutpie":
        raise OptionError("groups need the default sampler (nutpie); the PyMC model has none")
    classes = tuple(approx_invariance)
    if classes:
        grp.check_approx(classes, approx_sd)
    grouped = split_groups(data, group, source)
    model = grp.as_group_model(model, len(grouped.labels), classes, source, group)
    return _fit_groups(
        model, data, grouped, config, priors, cache, source, missing, classes, approx_sd
    )


def _fit_groups(model, data, grouped, config, priors, cache, source, missing, classes, approx_sd):
    """The stages of :func:`fit_bayes_groups`, those of :func:`fit_bayes` run on every group.

    About 80 lines: the ML fit, the packed buffers, the start values, sampling and the
    DataTree follow one another as in :func:`fit_bayes`, and read best in one place.
    """
    method = resolve_missing(group_views(model)[0], data, missing, source)
    t0 = time.perf_counter()
    ml = fit_ml_groups(model, data, grouped.column, source=source, missing=method)
    ml_s = time.perf_counter() - t0
    spec = param_spec(model, priors)
    dev = grp.deviations(model, spec, classes, approx_sd) if classes else None
    spec_x = grp.extended_spec(spec, dev)
    pats = ml.group_patterns if method == "fiml" else None
    kdata, mdatas = grp.group_kernel_data(model, spec_x, ml.group_stats, pats, dev)
    base = np.zeros(len(model.partable))
    for b, mdg in zip(model.blocks, mdatas, strict=True):
        base[b.rows] = mdg.values["fixed_values"]
    z0 = np.concatenate([z_from_rows(spec, ml.values), np.zeros(spec_x.size - spec.size)])
    scale = _z_scale(spec, ml) if ml.converged else np.full(spec.size, 0.2)
    scale = np.concatenate([scale, np.full(spec_x.size - spec.size, 0.5)])
    cache = cache if cache is not None else CompileCache()
    t0 = time.perf_counter()
    _import_sampler(config)
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled, reused = _compiled(cache, config, model, spec_x, None)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    trace = _sample(compiled, model, spec_x, None, config, (z0, scale), kdata)
    sample_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    z = trace["posterior"]["z"].transpose("chain", "draw", ...).values
    idata, sum_idx = grp.idata_groups(
        model, spec, spec_x, dev, z, base, ml, grouped, pats, trace, config
    )
    post_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    names = list(idata["posterior"]["row"].values)  # with the group: x1~1.g2
    summary, diag = _summarise(idata, model.partable, sum_idx, ml, config, names)
    summary = grp.with_group_columns(summary, model.partable, sum_idx, grouped.labels)
    summary_s = time.perf_counter() - t0
    diag.update(
        {
            "sampler": config.sampler,
            "seed": config.seed,
            "draws": config.draws,
            "tune": config.tune,
            "chains": config.chains,
            "target_accept": config.target_accept,
            "adaptation": adaptation(config, spec_x.size),
            "versions": _versions(),
            "compile_seconds": compile_s,
            "compiled_model_reused": reused,
            **_kernel_info(compiled, config),
            "sampling_seconds": sample_s,
            "postprocess_seconds": post_s,
            "ml_seconds": ml_s,
            "sampler_import_seconds": import_s,
            "summary_seconds": summary_s,
            "n_obs": ml.n_cases,
            "n_obs_group": [int(st.n) for st in ml.group_stats],
            "group": grouped.column,
            "group_labels": list(grouped.labels),
            "missing": method,
            "ml_converged": ml.converged,
            "ml_warnings": list(ml.warnings),
            **({"approx_invariance": list(classes), "approx_sd": approx_sd} if dev else {}),
        }
    )
    return BayesResult(
        model=model,
        spec=spec_x,
        stats=ml.stats,
        ml=ml,
        idata=idata,
        summary=summary,
        diagnostics=diag,
        patterns=pats[0] if pats else None,
        group=grouped.column,
        group_labels=grouped.labels,
        deviations=dev,
    )


def _kernel_info(compiled, config: SamplerConfig) -> dict:
    """Where the compiled kernel came from (nutpie only)."""
    if config.sampler != "nutpie":
        return {}
    return {
        "kernel_cache": "off"
        if not config.disk_cache
        else "hit"
        if compiled.from_cache
        else "miss",
        "kernel_cache_dir": str(compiled.cache_dir) if compiled.cache_dir else None,
        "kernel_load_seconds": compiled.seconds,
    }


def _prior_rows(prior: dict, def_idx: np.ndarray, sum_idx: np.ndarray) -> np.ndarray:
    rows = prior["rows"].copy()
    if def_idx.size:
        rows[..., def_idx] = prior["defined"]
    return rows[..., sum_idx]


def _summarise(
    idata: xr.DataTree,
    pt: pd.DataFrame,
    sum_idx: np.ndarray,
    ml: MLResult,
    config: SamplerConfig,
    names: list[str] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Summary table (one row per free/defined parameter) and the convergence verdict.

    ``names`` name the rows in the verdict's messages (default ``lhs op rhs``).

    ``std_all`` is the posterior median of the completely standardized value (lavaan's
    ``std.all``), beside the raw ``median``.
    """
    import arviz_stats as az

    from bayes_bmi.lavaan.partable import row_name

    s = az.summary(idata, var_names=["estimate"], ci_prob=0.95, ci_kind="hdi", round_to="none")
    est = idata["posterior"]["estimate"].values
    std_all = idata["posterior"]["std_all"].values
    lo_col = next(c for c in s.columns if c.endswith("_lb"))
    hi_col = next(c for c in s.columns if c.endswith("_ub"))
    table = pd.DataFrame(
        {
            "lhs": pt["lhs"].to_numpy()[sum_idx],
            "op": pt["op"].to_numpy()[sum_idx],
            "rhs": pt["rhs"].to_numpy()[sum_idx],
            "label": pt["label"].to_numpy()[sum_idx],
            "mean": s["mean"].to_numpy(),
            "sd": s["sd"].to_numpy(),
            "median": np.median(est, axis=(0, 1)),
            "std_all": np.median(std_all, axis=(0, 1)),
            "hdi_lower": s[lo_col].to_numpy(),
            "hdi_upper": s[hi_col].to_numpy(),
            "ess_bulk": s["ess_bulk"].to_numpy(),
            "ess_tail": s["ess_tail"].to_numpy(),
            "r_hat": s["r_hat"].to_numpy(),
            "ml_est": ml.estimates["est"].to_numpy()[sum_idx],
            "ml_se": ml.estimates["se"].to_numpy()[sum_idx],
        }
    )
    ss = idata["sample_stats"]
    div = int(ss["diverging"].values.sum()) if "diverging" in ss else 0
    depth_name = "depth" if "depth" in ss else "tree_depth" if "tree_depth" in ss else None
    maxdepth = 0
    if "maxdepth_reached" in ss:
        maxdepth = int(ss["maxdepth_reached"].values.sum())
    elif "reached_max_treedepth" in ss:
        maxdepth = int(ss["reached_max_treedepth"].values.sum())
    bfmi = []
    if "energy" in ss:
        energy = ss["energy"].transpose("chain", "draw").values
        for e in energy:
            denom = np.var(e)
            bfmi.append(float(np.mean(np.diff(e) ** 2) / denom) if denom > 0 else float("nan"))
    rhat = table["r_hat"].to_numpy()
    ess_b = table["ess_bulk"].to_numpy()
    ess_t = table["ess_tail"].to_numpy()
    if names is None:
        names = [
            row_name(*row) for row in zip(table["lhs"], table["op"], table["rhs"], strict=True)
        ]
    bad_rhat = [n for n, v in zip(names, rhat, strict=True) if not v <= config.rhat_max]
    bad_ess = [
        n
        for n, b, t in zip(names, ess_b, ess_t, strict=True)
        if not (b >= config.ess_min and t >= config.ess_min)
    ]
    problems = []
    if bad_rhat:
        problems.append(
            f"R-hat above {config.rhat_max} for {len(bad_rhat)} parameter(s): "
            f"{', '.join(bad_rhat[:8])}{' ...' if len(bad_rhat) > 8 else ''}; chains disagree - "
            "run longer (more --tune and --draws) or check the model's identification"
        )
    if bad_ess:
        problems.append(
            f"effective sample size below {config.ess_min:.0f} for {len(bad_ess)} parameter(s): "
            f"{', '.join(bad_ess[:8])}{' ...' if len(bad_ess) > 8 else ''}; increase --draws"
        )
    if div:
        problems.append(
            f"{div} divergent transition(s): the posterior has regions NUTS cannot explore; "
            "raise --target-accept (e.g. 0.95) or use more informative priors"
        )
    if bfmi and min(bfmi) < 0.3:
        problems.append(f"low E-BFMI ({min(bfmi):.2f}): tuning was poor; increase --tune")
    diag = {
        "converged": not problems,
        "problems": problems,
        "min_ess_bulk": float(np.nanmin(ess_b)),
        "min_ess_tail": float(np.nanmin(ess_t)),
        # one chain has no R-hat (NaN), not a warning
        "max_r_hat": float(np.nanmax(rhat)) if np.isfinite(rhat).any() else float("nan"),
        "divergences": div,
        "max_treedepth_hits": maxdepth,
        "mean_tree_depth": float(ss[depth_name].values.mean()) if depth_name else None,
        "e_bfmi": bfmi,
    }
    return table, diag
