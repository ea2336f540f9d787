"""Run a calibration's simulations on Dask, write each as it finishes, resume a stopped run.

:func:`calibrate` sends one task per simulation to a ``dask.distributed`` cluster: a
``LocalCluster`` of single-threaded worker processes by default, or an existing cluster when
given its scheduler's address (or a ``Client``). Each worker process keeps one
:class:`~bayes_bmi.bayes.sampling.CompileCache` (:func:`worker_cache`), so the compiled kernel
is loaded from the on-disk cache once per worker and reused by every fit it runs. The Dask
machinery is :mod:`bayes_bmi.calibration.tasks`, shared with power analysis and prior
sensitivity.

The client writes each simulation's record to ``out/sims/sim_NNNNN.json`` (atomically) as soon
as it arrives, so an interrupted run loses only the fits in flight: a rerun with the same
settings and the same ``out`` skips every simulation already written. ``out/calibration.json``
holds the settings' fingerprint; a rerun with other settings into the same folder is refused
rather than mixing simulations of two designs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from bayes_bmi.bayes.priors import Prior
from bayes_bmi.bayes.sampling import SamplerConfig
from bayes_bmi.calibration.ranks import NOMINAL, coverage, uniformity
from bayes_bmi.calibration.simulation import (
    CalibrationError,
    CalibrationSettings,
    calibration_model,
    run_simulation,
)
from bayes_bmi.calibration.tasks import (
    check_design,
    print_progress,
    run_tasks,
    worker_cache,
)
from bayes_bmi.calibration.tasks import read_records as read_json_records
from bayes_bmi.io import atomic_write_csv, atomic_write_json
from bayes_bmi.lavaan.model import Model

__all__ = [
    "CALIBRATION_CONFIG",
    "CalibrationResult",
    "calibrate",
    "rank_table",
    "read_records",
    "worker_cache",
]

#: The sampler's settings for calibration fits: 2 chains x 1000 draws (2000 pooled draws,
#: thinned to each parameter's ESS, at most 99, for the ranks), one core per fit (the
#: parallelism is across fits).
CALIBRATION_CONFIG = SamplerConfig(draws=1000, tune=500, chains=2, cores=1, progress=False)
SIMS = "sims"
SIM_COLUMNS = (
    "sim",
    "failed",
    "attempts",
    "max_r_hat",
    "min_ess_bulk",
    "divergences",
    "converged",
    "draws",
    "seconds",
)


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """Result of :func:`calibrate`.

    Attributes
    ----------
    ranks : pandas.DataFrame
        One row per simulation and free parameter: ``sim, parameter, rank, ndraws, pit,
        truth, ess`` (``ndraws``: the draws the rank is taken among, thinned to the ESS).
    uniformity : pandas.DataFrame
        :func:`~bayes_bmi.calibration.ranks.uniformity` of the ranks (Bonferroni over the
        parameters at family-wise level 0.05).
    coverage : pandas.DataFrame
        :func:`~bayes_bmi.calibration.ranks.coverage` of the central 50/80/95% intervals.
    sims : pandas.DataFrame
        One row per simulation: ``failed`` (empty, or the sampler's message when every fit
        attempt failed: such simulations have no ranks), ``attempts``, its sampler
        diagnostics and seconds.
    settings : CalibrationSettings
    fitted : int
        Simulations fitted by this call (the others were read from ``out``).
    seconds : float
        Wall time of this call.
    workers : int
        Dask workers that ran the fits (0 when nothing was left to fit).
    """

    ranks: pd.DataFrame
    uniformity: pd.DataFrame
    coverage: pd.DataFrame
    sims: pd.DataFrame
    settings: CalibrationSettings
    fitted: int
    seconds: float
    workers: int


def _task(model: Model, settings: CalibrationSettings, sim: int) -> list[dict]:
    """One Dask task: simulation ``sim``, fitted with the worker's compile cache."""
    cache = worker_cache()
    record = run_simulation(model, settings, sim, cache)
    record["compilations"] = cache.compilations  # 1 per worker process when reused
    record["worker_pid"] = os.getpid()
    return [record]


def _sim_path(out: Path, sim: int) -> Path:
    return out / SIMS / f"sim_{sim:05d}.json"


def read_records(out: Path, fingerprint: str) -> dict[int, dict]:
    """The simulations already written under ``out/sims`` with this fingerprint, by number."""
    return read_json_records(out / SIMS, "sim_*.json", fingerprint, lambda r: int(r["sim"]))


def _check_folder(out: Path, model: Model, settings: CalibrationSettings) -> None:
    """Refuse an output folder holding a calibration of other settings; record ours."""
    check_design(
        out / "calibration.json",
        settings.fingerprint(model),
        {
            "model": model.text,
            "n": settings.n,
            "ndraws": settings.ndraws,
            "seed": settings.seed,
            "sampler": {
                k: getattr(settings.config, k)
                for k in ("draws", "tune", "chains", "target_accept", "adaptation")
            },
            "priors": {k: str(v) for k, v in (settings.priors or {}).items()},
            "truth": dict(settings.truth) if settings.truth else None,
            "extend": settings.extend,
        },
        CalibrationError,
        "calibration",
        " (model, n, ndraws, seed, sampler or priors)",
    )


def rank_table(records: Mapping[int, dict]) -> pd.DataFrame:
    """The tidy rank table of a set of simulation records (sorted).

    Every fitted simulation is in it, converged or not (an unconverged fit was rerun longer
    first, :class:`CalibrationSettings`); only simulations whose sampler never started
    (``failed``) have no ranks.
    """
    frames = [
        pd.DataFrame(
            {
                "sim": rec["sim"],
                "parameter": rec["parameters"],
                "rank": rec["rank"],
                "ndraws": rec["ndraws"],
                "pit": rec["pit"],
                "truth": rec["truth"],
                "ess": rec["ess"],
            }
        )
        for _, rec in sorted(records.items())
        if "failed" not in rec
    ]
    if not frames:
        return pd.DataFrame(columns=["sim", "parameter", "rank", "ndraws", "pit", "truth", "ess"])
    return pd.concat(frames, ignore_index=True)


def calibrate(
    model: Model,
    n: int,
    sims: int,
    *,
    truth: Mapping[str, float] | None = None,
    config: SamplerConfig | None = None,
    ndraws: int = 99,
    priors: Mapping[str, Prior] | None = None,
    client: Any = None,
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    seed: int = 1,
    extend: int = 1,
    progress: bool | Callable[[int, int, float], None] = True,
) -> CalibrationResult:
    """Simulation-based calibration of a model's posterior, its fits run on Dask.

    Parameters
    ----------
    model : Model
    n : int
        Cases per simulated data set.
    sims : int
        Simulations (0 to ``sims - 1``; a rerun with more extends a run).
    truth : mapping, optional
        One true value per free parameter (by name), shared by every simulation, instead of
        draws from the priors (coverage at that point; ranks are uniform only under prior
        draws).
    config : SamplerConfig, optional
        Sampler settings (default :data:`CALIBRATION_CONFIG`); the seed is each simulation's.
    ndraws : int
        Posterior draws the ranks are taken among (thinned evenly from all draws).
    priors : mapping, optional
        Default priors per kind, for drawing the truth and for fitting.
    client : None, str or distributed.Client
        ``None``: a ``LocalCluster`` of ``workers`` single-threaded processes (closed at the
        end); a scheduler address such as ``"tcp://10.0.0.1:8786"``; or a ``Client`` to use
        as it is (left open).
    workers : int, optional
        Workers of the local cluster (default: the number of CPUs).
    out : path, optional
        Folder for ``sims/sim_NNNNN.json`` (one per simulation, written as it finishes, so
        a rerun resumes), ``ranks.csv``, ``uniformity.csv``, ``coverage.csv``, ``sims.csv``
        and ``calibration.json``. Without it nothing is written and nothing resumes.
    seed : int
        Seed of the calibration.
    extend : int
        Longer reruns (2, 4, ... times the draws and warm-up) of a fit with a convergence
        warning; the last fit is ranked either way, so no simulation leaves the ranks for
        being hard to sample (:class:`CalibrationSettings`).
    progress : bool or callable
        Print a counter to stderr, or call ``progress(done, total, seconds)``.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    CalibrationError
        Bad settings, a model with fixed covariates, a truth that does not fit the model, or
        an ``out`` holding a calibration of other settings.
    """
    t0 = time.perf_counter()
    if sims < 1:
        raise CalibrationError(f"sims must be at least 1, got {sims}")
    model = calibration_model(model)
    config = replace(config or CALIBRATION_CONFIG, progress=False)
    settings = CalibrationSettings(
        n=n,
        ndraws=ndraws,
        config=config,
        seed=seed,
        priors=dict(priors) if priors else None,
        truth=dict(truth) if truth else None,
        extend=extend,
    )
    fingerprint = settings.fingerprint(model)
    folder = Path(out) if out is not None else None
    records: dict[int, dict] = {}
    if folder is not None:
        _check_folder(folder, model, settings)
        records = {k: v for k, v in read_records(folder, fingerprint).items() if k < sims}
    todo = [s for s in range(sims) if s not in records]
    report = print_progress() if progress is True else progress or None
    nworkers = 0
    if todo:
        nworkers = _run(model, settings, todo, records, folder, client, workers, report, t0)
    return _finish(records, settings, folder, len(todo), time.perf_counter() - t0, nworkers)


def _run(
    model: Model,
    settings: CalibrationSettings,
    todo: list[int],
    records: dict[int, dict],
    folder: Path | None,
    client: Any,
    workers: int | None,
    report: Callable[[int, int, float], None] | None,
    t0: float,
) -> int:
    """Submit one task per simulation; store (and write) each record as it arrives."""
    token = settings.fingerprint(model)[:16]  # same design and sim: same key, same result

    def store(record: dict) -> None:
        records[record["sim"]] = record
        if folder is not None:
            atomic_write_json(_sim_path(folder, record["sim"]), record)

    return run_tasks(
        _task,
        [model, settings],
        todo,
        key=lambda s: f"calibrate-{token}-{s}",
        on_record=store,
        client=client,
        workers=workers,
        report=report,
        done=len(records),
        t0=t0,
    )


def _finish(
    records: dict[int, dict],
    settings: CalibrationSettings,
    folder: Path | None,
    fitted: int,
    seconds: float,
    nworkers: int,
) -> CalibrationResult:
    """The tables of every record; written into ``folder`` (atomically) when given."""
    ranks = rank_table(records)
    sims_df = pd.DataFrame(
        [{k: rec.get(k) for k in SIM_COLUMNS} for _, rec in sorted(records.items())],
        columns=list(SIM_COLUMNS),
    )
    result = CalibrationResult(
        ranks=ranks,
        uniformity=uniformity(ranks) if ranks["sim"].nunique() >= 2 else uniformity_empty(),
        coverage=coverage(ranks, NOMINAL),
        sims=sims_df,
        settings=settings,
        fitted=fitted,
        seconds=seconds,
        workers=nworkers,
    )
    if folder is not None:
        atomic_write_csv(folder / "ranks.csv", result.ranks)
        atomic_write_csv(folder / "uniformity.csv", result.uniformity)
        atomic_write_csv(folder / "coverage.csv", result.coverage)
        atomic_write_csv(folder / "sims.csv", result.sims)
    return result


def uniformity_empty() -> pd.DataFrame:
    """An empty uniformity table (fewer than two simulations: nothing to test)."""
    from bayes_bmi.calibration.ranks import UNIFORMITY_COLUMNS

    return pd.DataFrame(columns=list(UNIFORMITY_COLUMNS))
