"""Prior sensitivity: refits under a documented grid of priors, and the verdicts that change.

:func:`sensitivity` refits the model to the same data once per prior set of a documented grid
(:data:`PRIOR_GRID`), one Dask task per prior set through :mod:`bayes_bmi.calibration.tasks`
(each fit written to ``out/fits/prior_NAME.json`` as it finishes, resumed on a rerun), and
judges every hypothesis with the same :func:`~bayes_bmi.checking.hypotheses.hypothesis_table`
as a single analysis. :func:`verdict_stability` marks, per hypothesis, whether the verdict is
the same under every prior of the grid.

The grid (blavaan's defaults, :data:`~bayes_bmi.bayes.priors.DEFAULT_PRIORS`, changed kind by
kind; every kind not named keeps its default):

===========  =====================================================================
``default``  blavaan's defaults: loadings and regressions ``normal(0, 10)``, residual
             and latent variances ``gamma(1, 0.5)[sd]``, correlations ``beta(1, 1)``
``wide``     loadings (``lambda``) and regressions (``beta``) ``normal(0, 20)`` (2x)
``narrow``   loadings and regressions ``normal(0, 5)`` (0.5x)
``variance`` residual and latent variances ``gamma(1, 0.5)[var]``: the same gamma on the
             variance instead of the standard deviation (more mass near 0)
===========  =====================================================================

Power-scaling sensitivity (Kallioinen et al. 2024, ``arviz_stats.psense_summary``) is computed
on the ``default`` fit when asked: the posterior is importance-reweighted (Pareto-smoothed) as
if the prior, or the likelihood, were raised to a power near 1, and the change of each
hypothesis's parameter is reported; it needs the log prior of every draw
(:func:`log_prior_draws`, the priors on the scale each is stated on) and the case-wise
log-likelihood (stored by the fit).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from bayes_bmi.bayes.parameters import ParamSpec, natural_from_z, param_spec
from bayes_bmi.bayes.priors import DEFAULT_PRIORS, FAMILIES, Prior, prior_logpdf
from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig, bayesian_model, fit_bayes
from bayes_bmi.calibration.power import model_parameter_names
from bayes_bmi.calibration.tasks import (
    check_design,
    print_progress,
    read_records,
    run_tasks,
    worker_cache,
)
from bayes_bmi.checking.hypotheses import (
    DEFAULT_RULE,
    DecisionRule,
    Hypothesis,
    check_hypotheses,
    hypothesis_table,
    parameter_draws,
)
from bayes_bmi.checking.ranking import expected_ranks, rank_probabilities
from bayes_bmi.errors import BayesBmiError
from bayes_bmi.io import atomic_write_csv, atomic_write_json
from bayes_bmi.lavaan.model import Model

__all__ = [
    "PRIOR_GRID",
    "SENSITIVITY_COLUMNS",
    "SENSITIVITY_CONFIG",
    "SensitivityError",
    "SensitivityResult",
    "SensitivitySettings",
    "grid_table",
    "log_prior_draws",
    "rank_stability",
    "sensitivity",
    "verdict_stability",
]


class SensitivityError(BayesBmiError):
    """A sensitivity analysis that cannot run as asked (grid, settings or output folder)."""


def _scaled(kinds: Sequence[str], factor: float) -> dict[str, Prior]:
    out = {}
    for kind in kinds:
        p = DEFAULT_PRIORS[kind]
        out[kind] = Prior(p.family, (p.params[0], p.params[1] * factor), p.on)
    return out


#: The prior sets refitted (see the module docstring); each maps a kind to its prior.
PRIOR_GRID: Mapping[str, Mapping[str, Prior]] = MappingProxyType(
    {
        "default": {},
        "wide": _scaled(("lambda", "beta"), 2.0),
        "narrow": _scaled(("lambda", "beta"), 0.5),
        "variance": {
            "theta": Prior("gamma", (1.0, 0.5), "var"),
            "psi": Prior("gamma", (1.0, 0.5), "var"),
        },
    }
)
#: Sampler settings of a sensitivity fit: 4 chains x 1000 draws, one core per fit.
SENSITIVITY_CONFIG = SamplerConfig(draws=1000, tune=500, chains=4, cores=1, progress=False)
FITS = "fits"
_KEPT = (
    "bayes_verdict",
    "post_median",
    "hdi_lower",
    "hdi_upper",
    "pd",
    "rope_share",
    "std_median",
    "ml_verdict",
)
SENSITIVITY_COLUMNS = ("id", "parameter", "prior", *_KEPT, "converged", "holds", "verdicts")


@dataclass(frozen=True)
class SensitivitySettings:
    """Everything a sensitivity fit depends on besides its prior set.

    Attributes
    ----------
    grid : tuple of (str, dict)
        Prior sets by name (:data:`PRIOR_GRID` by default).
    config : SamplerConfig
    seed : int
        Every prior set's fit uses this sampler seed (the same starts).
    rule : DecisionRule
    rank : tuple of str
        Parameters ranked by their standardized (std.all) posterior under each prior.
    psense : bool
        Power-scaling sensitivity on the ``default`` fit.
    missing : str, optional
        As in :func:`~bayes_bmi.bayes.sampling.fit_bayes`.
    """

    grid: tuple[tuple[str, Mapping[str, Prior]], ...]
    config: SamplerConfig = field(default_factory=lambda: SENSITIVITY_CONFIG)
    seed: int = 1
    rule: DecisionRule = DEFAULT_RULE
    rank: tuple[str, ...] = ()
    psense: bool = True
    missing: str | None = None

    def __post_init__(self) -> None:
        names = [name for name, _ in self.grid]
        if not names or len(set(names)) != len(names):
            raise SensitivityError(f"the prior grid needs unique names, got {names}")
        unknown = sorted({k for _, p in self.grid for k in p} - set(DEFAULT_PRIORS))
        if unknown:
            raise SensitivityError(
                f"unknown prior kind(s) {', '.join(unknown)}. Must be one of: "
                + ", ".join(DEFAULT_PRIORS)
            )
        if len(set(self.rank)) != len(self.rank):
            raise SensitivityError(f"ranked parameters repeat: {list(self.rank)}")

    def fingerprint(self, model: Model, data: pd.DataFrame, hyps: Sequence[Hypothesis]) -> str:
        """SHA-256 of the model, the data and the settings that change a fit's record.

        The grid's names are not in it: each record carries its own prior set and is reused
        only when that set is unchanged.
        """
        cfg = asdict(self.config)
        for k in ("progress", "cores", "disk_cache", "seed"):  # the seed is self.seed
            cfg.pop(k)
        doc = {
            "model": model.text,
            "options": repr(model.options),
            "data": hashlib.sha256(pd.util.hash_pandas_object(data).to_numpy()).hexdigest(),
            "hypotheses": [asdict(h) for h in hyps],
            "seed": self.seed,
            "config": cfg,
            "rule": repr(self.rule),
            "rank": list(self.rank),
            "psense": self.psense,
            "missing": self.missing,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class SensitivityResult:
    """Result of :func:`sensitivity`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per hypothesis and prior set, columns :data:`SENSITIVITY_COLUMNS`:
        the verdicts, posterior median and HDI of the parameter, ``holds`` (the verdict is
        the same under every prior of the grid) and ``verdicts`` (the distinct verdicts).
    ranks : pandas.DataFrame
        Per prior set and ranked parameter: ``std_median``, ``expected_rank`` (posterior
        mean rank by the standardized effect, 1 = largest), ``rank`` (its order) and
        ``rank_holds`` (the same rank under every prior). Empty without ranked parameters.
    psense : pandas.DataFrame
        Power-scaling sensitivity on the ``default`` fit: ``parameter, prior, likelihood,
        diagnosis`` (empty when not computed).
    grid : pandas.DataFrame
        :func:`grid_table`: the prior of every kind under every prior set.
    fitted : int
    seconds : float
    workers : int
    """

    table: pd.DataFrame
    ranks: pd.DataFrame
    psense: pd.DataFrame
    grid: pd.DataFrame
    fitted: int
    seconds: float
    workers: int


def grid_table(grid: Sequence[tuple[str, Mapping[str, Prior]]]) -> pd.DataFrame:
    """The prior of every kind under every prior set: ``prior_set, kind, prior, changed``."""
    rows = [
        {
            "prior_set": name,
            "kind": kind,
            "prior": str(priors.get(kind, default)),
            "changed": kind in priors,
        }
        for name, priors in grid
        for kind, default in DEFAULT_PRIORS.items()
    ]
    return pd.DataFrame(rows, columns=["prior_set", "kind", "prior", "changed"])


def log_prior_draws(spec: ParamSpec, z: np.ndarray) -> np.ndarray:
    """The joint log prior density of every draw of ``z`` (``..., nparam`` -> ``...``).

    Each prior is evaluated on the scale it is stated on: a variance's on its standard
    deviation (``[sd]``) or on the variance (``[var]``), a correlation's ``beta`` on
    ``(r + 1) / 2``, everything else on the value itself.
    """
    nat = natural_from_z(spec, np.asarray(z, dtype=float))
    total = np.zeros(nat.shape[:-1])
    for k, prior in enumerate(spec.priors):
        x = nat[..., k]
        tr = spec.transforms[k]
        if tr == "var" and prior.on == "sd":
            x = np.sqrt(x)
        elif tr == "corr" and FAMILIES[prior.family][2] == "unit":
            x = (x + 1.0) / 2.0
        total += prior_logpdf(prior, x)
    return total


def _psense(fit: Any, model: Model, priors: Mapping[str, Prior], names: Sequence[str]):
    """``psense_summary`` of the named parameters' draws, as records."""
    import xarray as xr
    from arviz_stats import psense_summary

    spec = param_spec(model, dict(priors) or None)
    z = fit.idata["posterior"]["z"].transpose("chain", "draw", "param").values
    draws = parameter_draws(fit, list(names)).reshape(z.shape[0], z.shape[1], len(names))
    dims = ("chain", "draw")
    post = xr.Dataset({f"p{i}": (dims, draws[..., i]) for i in range(len(names))})
    ll = fit.idata["log_likelihood"]["y"].transpose("chain", "draw", "case").values
    tree = xr.DataTree.from_dict(
        {
            "posterior": post,
            "log_prior": xr.Dataset({"lp": (dims, log_prior_draws(spec, z))}),
            "log_likelihood": xr.Dataset({"y": ((*dims, "case"), ll)}),
        }
    )
    table = psense_summary(tree, round_to=6)
    out = []
    for i, name in enumerate(names):
        row = table.loc[f"p{i}"]
        out.append(
            {
                "parameter": name,
                "prior": float(row["prior"]),
                "likelihood": float(row["likelihood"]),
                "diagnosis": str(row["diagnosis"]),
            }
        )
    return out


def run_prior_fit(
    model: Model,
    data: pd.DataFrame,
    settings: SensitivitySettings,
    hyps: Sequence[Hypothesis],
    name: str,
    cache: CompileCache | None = None,
) -> dict:
    """Fit under prior set ``name`` and judge every hypothesis; JSON-ready record."""
    t0 = time.perf_counter()
    priors = dict(settings.grid)[name]
    fit = fit_bayes(
        model,
        data,
        config=replace(settings.config, seed=settings.seed, progress=False),
        priors=dict(priors) or None,
        cache=cache,
        missing=settings.missing,
    )
    table = hypothesis_table(hyps, fit, rule=settings.rule)
    record: dict[str, Any] = {
        "prior_set": name,
        "priors": {k: str(v) for k, v in sorted(priors.items())},
        "hypotheses": json.loads(table[["id", "parameter", *_KEPT]].to_json(orient="records")),
        "converged": bool(fit.converged),
        "max_r_hat": float(fit.diagnostics.get("max_r_hat", np.nan)),
    }
    if settings.rank:
        x = parameter_draws(fit, list(settings.rank), var="std_all")
        exp = expected_ranks(rank_probabilities(x, settings.rank))
        record["ranks"] = [
            {
                "parameter": p,
                "std_median": float(np.median(x[:, i])),
                "expected_rank": float(exp[p]),
            }
            for i, p in enumerate(settings.rank)
        ]
    if settings.psense and name == "default":
        params = list(dict.fromkeys(h.parameter for h in hyps))
        record["psense"] = _psense(fit, bayesian_model(model), priors, params)
    record["seconds"] = time.perf_counter() - t0
    record["fingerprint"] = settings.fingerprint(model, data, hyps)
    return record


def _task(model, data, settings, hyps, name: str) -> list[dict]:
    cache = worker_cache()
    record = run_prior_fit(model, data, settings, hyps, name, cache)
    record["compilations"] = cache.compilations
    record["worker_pid"] = os.getpid()
    return [record]


def verdict_stability(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``holds`` and ``verdicts`` per hypothesis to a long table of verdicts by prior.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``id``, ``prior`` and ``bayes_verdict`` (one row per hypothesis and prior).

    Returns
    -------
    pandas.DataFrame
        A copy with ``holds`` (True when the hypothesis has one verdict under every prior)
        and ``verdicts`` (its distinct verdicts, in order of first appearance, ``"; "``-joined).
    """
    out = table.copy()
    distinct = out.groupby("id", sort=False)["bayes_verdict"].agg(lambda v: list(dict.fromkeys(v)))
    out["holds"] = out["id"].map(distinct.map(len)).eq(1)
    out["verdicts"] = out["id"].map(distinct.map("; ".join))
    return out


def rank_stability(ranks: pd.DataFrame) -> pd.DataFrame:
    """Add ``rank`` (order of ``expected_rank`` within each prior) and ``rank_holds``.

    Parameters
    ----------
    ranks : pandas.DataFrame
        Columns ``prior, parameter, expected_rank``.
    """
    out = ranks.copy()
    if out.empty:
        return out.assign(rank=pd.Series(dtype=int), rank_holds=pd.Series(dtype=bool))
    out["rank"] = out.groupby("prior")["expected_rank"].rank(method="min").astype(int)
    out["rank_holds"] = out.groupby("parameter")["rank"].transform("nunique").eq(1)
    return out


def sensitivity(
    model: Model,
    data: pd.DataFrame,
    hyps: Sequence[Hypothesis],
    *,
    grid: Mapping[str, Mapping[str, Prior]] = PRIOR_GRID,
    config: SamplerConfig | None = None,
    rule: DecisionRule = DEFAULT_RULE,
    rank: Sequence[str] = (),
    psense: bool = True,
    missing: str | None = None,
    client: Any = None,
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    seed: int = 1,
    progress: bool | Callable[[int, int, float], None] = True,
) -> SensitivityResult:
    """Verdicts of every hypothesis under a grid of priors, one fit per prior set on Dask.

    Parameters
    ----------
    model : Model
    data : pandas.DataFrame
    hyps : sequence of Hypothesis
    grid : mapping
        Prior set name -> {kind: Prior} replacing those defaults (:data:`PRIOR_GRID`).
    config : SamplerConfig, optional
        Default :data:`SENSITIVITY_CONFIG`.
    rule : DecisionRule
    rank : sequence of str
        Parameters to rank by standardized effect under each prior (e.g. the paths of several
        predictors to one outcome); none by default.
    psense : bool
        Power-scaling sensitivity of the hypotheses' parameters on the ``default`` fit (needs
        ``"default"`` in the grid).
    missing : str, optional
        As in :func:`~bayes_bmi.bayes.sampling.fit_bayes`.
    client, workers
        As in :func:`~bayes_bmi.calibration.tasks.connect`.
    out : path, optional
        Folder for ``fits/prior_NAME.json`` (written as each fit finishes: a rerun resumes),
        ``sensitivity.csv``, ``ranks.csv``, ``psense.csv``, ``priors.csv`` and
        ``sensitivity.json`` (the design).
    seed : int
        Sampler seed of every fit.
    progress : bool or callable

    Returns
    -------
    SensitivityResult
    """
    t0 = time.perf_counter()
    model = bayesian_model(model)
    names = model_parameter_names(model)
    check_hypotheses(hyps, names)
    check_hypotheses([Hypothesis(p, p, "nonzero", p) for p in rank], names)
    settings = SensitivitySettings(
        grid=tuple((k, dict(v)) for k, v in grid.items()),
        config=replace(config or SENSITIVITY_CONFIG, progress=False),
        seed=seed,
        rule=rule,
        rank=tuple(rank),
        psense=psense and "default" in grid,
        missing=missing,
    )
    fingerprint = settings.fingerprint(model, data, hyps)
    folder = Path(out) if out is not None else None
    records: dict[Any, dict] = {}
    if folder is not None:
        check_design(
            folder / "sensitivity.json",
            fingerprint,
            {"model": model.text, "hypotheses": [h.id for h in hyps], "seed": seed},
            SensitivityError,
            "sensitivity analysis",
            " (model, data, hypotheses, seed, sampler, rule or ranked parameters)",
        )
        old = read_records(folder / FITS, "prior_*.json", fingerprint, lambda r: r["prior_set"])
        wanted = {name: {k: str(v) for k, v in sorted(p.items())} for name, p in settings.grid}
        records = {k: r for k, r in old.items() if wanted.get(k) == r["priors"]}
    todo = [name for name, _ in settings.grid if name not in records]
    report = print_progress("prior sets") if progress is True else progress or None
    nworkers = 0
    if todo:

        def store(record: dict) -> None:
            records[record["prior_set"]] = record
            if folder is not None:
                atomic_write_json(folder / FITS / f"prior_{record['prior_set']}.json", record)

        nworkers = run_tasks(
            _task,
            [model, data, settings, list(hyps)],
            todo,
            key=lambda name: f"sensitivity-{fingerprint[:16]}-{name}",
            on_record=store,
            client=client,
            workers=workers,
            report=report,
            done=len(records),
            t0=t0,
        )
    return _finish(records, settings, folder, len(todo), time.perf_counter() - t0, nworkers)


def _finish(records, settings, folder, fitted, seconds, nworkers) -> SensitivityResult:
    order = [name for name, _ in settings.grid]
    long = [
        {**h, "prior": name, "converged": records[name]["converged"]}
        for name in order
        for h in records[name]["hypotheses"]
    ]
    table = verdict_stability(
        pd.DataFrame(
            long, columns=[c for c in SENSITIVITY_COLUMNS if c not in ("holds", "verdicts")]
        )
    )
    ranks = rank_stability(
        pd.DataFrame(
            [{"prior": n, **r} for n in order for r in records[n].get("ranks", [])],
            columns=["prior", "parameter", "std_median", "expected_rank"],
        )
    )
    ps = pd.DataFrame(
        records.get("default", {}).get("psense", []),
        columns=["parameter", "prior", "likelihood", "diagnosis"],
    )
    result = SensitivityResult(
        table=table[list(SENSITIVITY_COLUMNS)],
        ranks=ranks,
        psense=ps,
        grid=grid_table(settings.grid),
        fitted=fitted,
        seconds=seconds,
        workers=nworkers,
    )
    if folder is not None:
        atomic_write_csv(folder / "sensitivity.csv", result.table)
        atomic_write_csv(folder / "ranks.csv", result.ranks)
        atomic_write_csv(folder / "psense.csv", result.psense)
        atomic_write_csv(folder / "priors.csv", result.grid)
    return result
