"""Power by simulation: how often each hypothesis is judged supported at each sample size.

For every sample size ``n`` and simulation ``sim``, :func:`run_power_simulation` draws a data
set of ``n`` cases from a known truth (a :class:`DataSimulator`), fits the model by NUTS
(short chains: the verdict needs the HDI and pd, not a precise tail) beside its ML fit, and
judges every hypothesis both ways with :func:`~bayes_bmi.checking.hypotheses.hypothesis_table`,
the same function and :class:`~bayes_bmi.checking.hypotheses.DecisionRule` a single analysis
uses. :func:`power` runs the ``len(ns) x sims`` fits as Dask tasks through
:mod:`bayes_bmi.calibration.tasks` (one JSON file per fit under ``out/sims``, resumed on a
rerun); :func:`power_table` and :func:`power_summary` are pure functions of the records.

The Monte Carlo standard error of a share ``p`` of ``sims`` simulations is
``sqrt(p (1 - p) / sims)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from bayes_bmi.bayes.parameters import param_spec
from bayes_bmi.bayes.priors import Prior
from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig, bayesian_model
from bayes_bmi.calibration.simulation import fit_attempts, truth_rows
from bayes_bmi.calibration.tasks import (
    check_design,
    print_progress,
    read_records,
    run_tasks,
    worker_cache,
)
from bayes_bmi.checking.hypotheses import (
    DEFAULT_RULE,
    ML_VERDICTS,
    VERDICTS,
    DecisionRule,
    Hypothesis,
    check_hypotheses,
    hypothesis_table,
)
from bayes_bmi.errors import BayesBmiError
from bayes_bmi.io import atomic_write_csv, atomic_write_json
from bayes_bmi.lavaan.model import Model
from bayes_bmi.lavaan.partable import row_name
from bayes_bmi.simulate.normal import simulate_normal

__all__ = [
    "POWER_COLUMNS",
    "POWER_CONFIG",
    "SUMMARY_COLUMNS",
    "DataSimulator",
    "NormalTruth",
    "PowerError",
    "PowerResult",
    "PowerSettings",
    "model_parameter_names",
    "power",
    "power_summary",
    "power_table",
    "run_power_simulation",
]

#: Sampler settings of a power fit: 4 chains x 500 draws after 500 warm-up steps, one core
#: (the parallelism is across fits). Enough for a 95% HDI and pd to two decimals.
POWER_CONFIG = SamplerConfig(draws=500, tune=500, chains=4, cores=1, progress=False)
SIMS = "sims"
_KEYS = {"supported": "supported", "not supported": "not_supported"}
_BAYES = {v: _KEYS.get(v, v) for v in VERDICTS}
_ML = {v: _KEYS.get(v, v) for v in ML_VERDICTS}
POWER_COLUMNS = (
    "id",
    "parameter",
    "n",
    "sims",
    "failed",
    *(f"p_{k}" for k in _BAYES.values()),
    *(f"mcse_{k}" for k in _BAYES.values()),
    *(f"ml_p_{k}" for k in _ML.values()),
    *(f"ml_mcse_{k}" for k in _ML.values()),
    "median_estimate",
    "unconverged",
)
SUMMARY_COLUMNS = ("id", "parameter", "target", "n_bayes", "n_ml", "bayes_note", "ml_note")
SIM_COLUMNS = ("n", "sim", "failed", "attempts", "max_r_hat", "divergences", "converged", "seconds")


class PowerError(BayesBmiError):
    """A power analysis that cannot run as asked (truth, sizes, settings or output folder)."""


class DataSimulator(Protocol):
    """What :func:`power` needs of a truth: data sets of any size, and an identity."""

    def simulate(self, n: int, seed: int) -> pd.DataFrame:
        """``n`` cases drawn from the truth with this seed (the same seed, the same data)."""
        ...

    def fingerprint(self) -> str:
        """A string that changes whenever the truth changes (for resuming)."""
        ...


@dataclass(frozen=True, eq=False)
class NormalTruth:
    """Multivariate normal data implied by a model at one true value per free parameter.

    Attributes
    ----------
    model : Model
        The generating model (its mean structure is added as the sampler adds it).
    values : mapping
        One value per free parameter name of ``bayesian_model(model)`` (loadings, paths,
        variances, covariances, intercepts), as :func:`~bayes_bmi.calibration.simulation.
        truth_rows` needs.
    """

    model: Model
    values: Mapping[str, float]

    def __post_init__(self) -> None:
        model = bayesian_model(self.model)
        try:
            rows = truth_rows(model, param_spec(model), self.values)
        except BayesBmiError as exc:
            raise PowerError(f"truth: {exc}") from None
        object.__setattr__(self, "_rows", np.nan_to_num(rows))
        object.__setattr__(self, "_fitted", model)

    def simulate(self, n: int, seed: int) -> pd.DataFrame:
        """``n`` cases from the implied normal distribution."""
        return simulate_normal(self._fitted, self._rows, n, np.random.default_rng(seed))

    def fingerprint(self) -> str:
        """The model text and the values."""
        return json.dumps([self.model.text, sorted(self.values.items())])


@dataclass(frozen=True)
class PowerSettings:
    """Everything a power simulation depends on besides its ``n`` and number.

    Attributes
    ----------
    ns : tuple of int
        Sample sizes.
    sims : int
        Simulations per sample size.
    config : SamplerConfig
        The sampler's settings (its seed is replaced by each simulation's own).
    seed : int
        Simulation ``sim`` at size ``n`` uses ``SeedSequence([seed, n, sim])``.
    rule : DecisionRule
        The verdict rule (the study's default).
    priors : dict, optional
        Default priors per kind for the fits.
    """

    ns: tuple[int, ...]
    sims: int
    config: SamplerConfig = field(default_factory=lambda: POWER_CONFIG)
    seed: int = 1
    rule: DecisionRule = DEFAULT_RULE
    priors: Mapping[str, Prior] | None = None

    def __post_init__(self) -> None:
        if not self.ns or any(int(n) < 2 for n in self.ns):
            raise PowerError(f"every n must be at least 2, got {list(self.ns)}")
        if len(set(self.ns)) != len(self.ns):
            raise PowerError(f"sample sizes repeat: {list(self.ns)}")
        if self.sims < 1:
            raise PowerError(f"sims must be at least 1, got {self.sims}")

    def fingerprint(self, model: Model, truth: DataSimulator, hyps: Sequence[Hypothesis]) -> str:
        """SHA-256 of what changes one simulation's record (not ``ns`` nor ``sims``).

        Sizes and simulations may be added on a rerun: each record depends only on its own
        ``(n, sim)`` and on this fingerprint.
        """
        cfg = asdict(self.config)
        for k in ("progress", "cores", "disk_cache", "seed"):
            cfg.pop(k)
        doc = {
            "model": model.text,
            "options": repr(model.options),
            "truth": truth.fingerprint(),
            "hypotheses": [asdict(h) for h in hyps],
            "seed": self.seed,
            "config": cfg,
            "rule": repr(self.rule),
            "priors": {k: str(v) for k, v in sorted((self.priors or {}).items())},
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, eq=False)
class PowerResult:
    """Result of :func:`power`.

    Attributes
    ----------
    table : pandas.DataFrame
        :func:`power_table`: per hypothesis and ``n``, the shares of each verdict.
    summary : pandas.DataFrame
        :func:`power_summary`: per hypothesis, the smallest ``n`` reaching ``target``.
    sims : pandas.DataFrame
        One row per fit: ``n, sim, failed, attempts``, diagnostics and seconds.
    settings : PowerSettings
    target : float
    fitted : int
        Fits run by this call (the others were read from ``out``).
    seconds : float
    workers : int
        Dask workers that ran the fits (0 when nothing was left to fit).
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    sims: pd.DataFrame
    settings: PowerSettings
    target: float
    fitted: int
    seconds: float
    workers: int


def model_parameter_names(model: Model) -> list[str]:
    """Names a hypothesis may use: free and ``:=`` rows' names, and their labels."""
    pt = model.partable
    keep = (pt["free"].to_numpy() > 0) | (pt["op"].to_numpy() == ":=")
    names = [
        row_name(str(a), str(o), str(b))
        for a, o, b in pt.loc[keep, ["lhs", "op", "rhs"]].to_numpy()
    ]
    labels = pt.loc[keep, "label"].fillna("").astype(str)
    return names + [x for x in labels if x]


def run_power_simulation(
    model: Model,
    settings: PowerSettings,
    truth: DataSimulator,
    hyps: Sequence[Hypothesis],
    n: int,
    sim: int,
    cache: CompileCache | None = None,
) -> dict:
    """Simulate ``n`` cases, fit, and judge every hypothesis (Bayes and ML).

    Returns
    -------
    dict
        JSON-ready: ``n``, ``sim``, ``ids``, ``bayes_verdict``, ``ml_verdict``,
        ``post_median``, ``pd`` (per hypothesis, in order), ``max_r_hat``, ``divergences``,
        ``converged``, ``attempts``, ``seconds``, ``fingerprint``; a fit whose every attempt
        failed gives ``n``, ``sim``, ``failed`` (the sampler's message), ``attempts``,
        ``seconds`` and ``fingerprint``.
    """
    t0 = time.perf_counter()
    data_seq, sampler_seq = np.random.SeedSequence([settings.seed, n, sim]).spawn(2)
    data = truth.simulate(int(n), int(data_seq.generate_state(1)[0]))
    fit, attempts = fit_attempts(
        model, data, settings, sampler_seq, cache, f"n = {n}, simulation {sim}"
    )
    head = {"n": int(n), "sim": int(sim), "attempts": attempts}
    tail = {
        "seconds": time.perf_counter() - t0,
        "fingerprint": settings.fingerprint(model, truth, hyps),
    }
    if isinstance(fit, str):
        return {**head, "failed": fit, **tail}
    table = hypothesis_table(hyps, fit, rule=settings.rule)
    diag = fit.diagnostics
    return {
        **head,
        "ids": table["id"].tolist(),
        "bayes_verdict": table["bayes_verdict"].tolist(),
        "ml_verdict": table["ml_verdict"].tolist(),
        "post_median": table["post_median"].astype(float).tolist(),
        "pd": table["pd"].astype(float).tolist(),
        "max_r_hat": float(diag.get("max_r_hat", np.nan)),
        "divergences": int(diag.get("divergences", 0)),
        "converged": bool(fit.converged),
        **tail,
    }


def _task(model, settings, truth, hyps, item: tuple[int, int]) -> list[dict]:
    """One Dask task: simulation ``item = (n, sim)`` with the worker's compile cache."""
    cache = worker_cache()
    record = run_power_simulation(model, settings, truth, hyps, *item, cache=cache)
    record["compilations"] = cache.compilations
    record["worker_pid"] = os.getpid()
    return [record]


def _sim_path(out: Path, n: int, sim: int) -> Path:
    return out / SIMS / f"n{n:07d}_sim{sim:05d}.json"


def _mcse(p: float, sims: int) -> float:
    return math.sqrt(p * (1.0 - p) / sims) if sims else math.nan


def power_table(records: Mapping[Any, dict], hyps: Sequence[Hypothesis]) -> pd.DataFrame:
    """Shares of each verdict per hypothesis and sample size, with Monte Carlo errors.

    Parameters
    ----------
    records : mapping
        Records of :func:`run_power_simulation` (any keys).
    hyps : sequence of Hypothesis
        Their order is the table's.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`POWER_COLUMNS`: ``sims`` fits that gave verdicts (``failed`` did not;
        they are left out of the shares), ``p_supported``, ``p_not_supported``,
        ``p_inconclusive`` (sum to 1) and ``ml_p_supported``, ``ml_p_not_supported``,
        ``ml_p_unavailable`` (sum to 1), each with ``mcse_*`` = ``sqrt(p (1 - p) / sims)``;
        ``median_estimate`` the median over simulations of the posterior median;
        ``unconverged`` fits with a convergence warning (their verdicts are counted).
    """
    rows = []
    for n in sorted({int(r["n"]) for r in records.values()}):
        recs = [r for r in records.values() if int(r["n"]) == n]
        ok = [r for r in recs if "failed" not in r]
        for h in hyps:
            row: dict[str, Any] = {"id": h.id, "parameter": h.parameter, "n": n}
            row["sims"], row["failed"] = len(ok), len(recs) - len(ok)
            idx = [r["ids"].index(h.id) for r in ok]
            bayes = [r["bayes_verdict"][i] for r, i in zip(ok, idx, strict=True)]
            ml = [r["ml_verdict"][i] for r, i in zip(ok, idx, strict=True)]
            for prefix, got, names in (("", bayes, _BAYES), ("ml_", ml, _ML)):
                for verdict, key in names.items():
                    p = sum(v == verdict for v in got) / len(ok) if ok else math.nan
                    row[f"{prefix}p_{key}"] = p
                    row[f"{prefix}mcse_{key}"] = _mcse(p, len(ok))
            meds = [r["post_median"][i] for r, i in zip(ok, idx, strict=True)]
            row["median_estimate"] = float(np.median(meds)) if meds else math.nan
            row["unconverged"] = sum(not r["converged"] for r in ok)
            rows.append(row)
    return pd.DataFrame(rows, columns=list(POWER_COLUMNS))


def power_summary(table: pd.DataFrame, target: float = 0.8) -> pd.DataFrame:
    """Per hypothesis, the smallest sample size at which P(supported) reaches ``target``.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`power_table`.
    target : float
        The power wanted, in (0, 1].

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS`: ``n_bayes`` (Bayesian verdict) and ``n_ml`` (ML
        verdict), NaN when no size of the table reaches the target; ``bayes_note`` and
        ``ml_note`` say ``"reached"`` or ``"not reached (n <= MAX)"``.
    """
    if not 0 < target <= 1:
        raise PowerError(f"target power must lie in (0, 1], got {target}")
    out = []
    for hid, rows in table.groupby("id", sort=False):
        rows = rows.sort_values("n")
        row: dict[str, Any] = {"id": hid, "parameter": rows["parameter"].iat[0], "target": target}
        for key, col in (("bayes", "p_supported"), ("ml", "ml_p_supported")):
            hit = rows.loc[rows[col] >= target, "n"]
            row[f"n_{key}"] = float(hit.iat[0]) if len(hit) else math.nan
            row[f"{key}_note"] = "reached" if len(hit) else f"not reached (n <= {rows['n'].max()})"
        out.append(row)
    return pd.DataFrame(out, columns=list(SUMMARY_COLUMNS))


def power(
    model: Model,
    truth: DataSimulator,
    hyps: Sequence[Hypothesis],
    ns: Sequence[int],
    sims: int,
    *,
    config: SamplerConfig | None = None,
    rule: DecisionRule = DEFAULT_RULE,
    priors: Mapping[str, Prior] | None = None,
    target: float = 0.8,
    client: Any = None,
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    seed: int = 1,
    progress: bool | Callable[[int, int, float], None] = True,
) -> PowerResult:
    """Power of every hypothesis at every sample size, by simulation, the fits run on Dask.

    Parameters
    ----------
    model : Model
        The model the hypotheses refer to (fitted to each simulated data set).
    truth : DataSimulator
        Draws the data (:class:`NormalTruth`, or a study's survey generator).
    hyps : sequence of Hypothesis
    ns : sequence of int
        Sample sizes.
    sims : int
        Simulations per sample size (a rerun with more, or more sizes, extends a run).
    config : SamplerConfig, optional
        Default :data:`POWER_CONFIG`.
    rule : DecisionRule
        The verdict rule (:data:`~bayes_bmi.checking.hypotheses.DEFAULT_RULE`).
    priors : mapping, optional
        Default priors per kind.
    target : float
        Power for :func:`power_summary`.
    client, workers
        As in :func:`~bayes_bmi.calibration.tasks.connect`.
    out : path, optional
        Folder for ``sims/nNNNNNNN_simNNNNN.json`` (one per fit, written as it finishes, so
        a rerun resumes), ``power.csv``, ``power_summary.csv``, ``sims.csv`` and
        ``power.json`` (the design). Without it nothing is written and nothing resumes.
    seed : int
    progress : bool or callable
        Print a counter to stderr, or call ``progress(done, total, seconds)``.

    Returns
    -------
    PowerResult

    Raises
    ------
    PowerError
        Bad settings, or an ``out`` holding a power analysis of other settings.
    HypothesisError
        A hypothesis names a parameter the model does not have.
    """
    t0 = time.perf_counter()
    model = bayesian_model(model)
    check_hypotheses(hyps, model_parameter_names(model))
    settings = PowerSettings(
        ns=tuple(int(n) for n in ns),
        sims=int(sims),
        config=replace(config or POWER_CONFIG, progress=False),
        seed=seed,
        rule=rule,
        priors=dict(priors) if priors else None,
    )
    power_summary(pd.DataFrame(columns=["id", "n"]), target)  # checks the target early
    fingerprint = settings.fingerprint(model, truth, hyps)
    folder = Path(out) if out is not None else None
    wanted = [(n, s) for n in settings.ns for s in range(settings.sims)]
    records: dict[Any, dict] = {}
    if folder is not None:
        _check_folder(folder, model, settings, hyps, fingerprint)
        old = read_records(folder / SIMS, "n*_sim*.json", fingerprint, _key)
        records = {k: v for k, v in old.items() if k in set(wanted)}
    todo = [item for item in wanted if item not in records]
    report = print_progress("power simulations") if progress is True else progress or None
    nworkers = 0
    if todo:

        def store(record: dict) -> None:
            records[_key(record)] = record
            if folder is not None:
                atomic_write_json(_sim_path(folder, record["n"], record["sim"]), record)

        nworkers = run_tasks(
            _task,
            [model, settings, truth, list(hyps)],
            todo,
            key=lambda item: f"power-{fingerprint[:16]}-{item[0]}-{item[1]}",
            on_record=store,
            client=client,
            workers=workers,
            report=report,
            done=len(records),
            t0=t0,
        )
    return _finish(records, hyps, settings, target, folder, len(todo), t0, nworkers)


def _key(record: Mapping[str, Any]) -> tuple[int, int]:
    return int(record["n"]), int(record["sim"])


def _check_folder(folder, model, settings, hyps, fingerprint) -> None:
    check_design(
        folder / "power.json",
        fingerprint,
        {
            "model": model.text,
            "hypotheses": [h.id for h in hyps],
            "seed": settings.seed,
            "sampler": {
                k: getattr(settings.config, k)
                for k in ("draws", "tune", "chains", "target_accept", "adaptation")
            },
            "rule": settings.rule.describe(),
        },
        PowerError,
        "power analysis",
        " (model, truth, hypotheses, seed, sampler, rule or priors)",
    )


def _finish(records, hyps, settings, target, folder, fitted, t0, nworkers) -> PowerResult:
    """The tables of every record; written into ``folder`` (atomically) when given."""
    table = power_table(records, hyps)
    sims_df = pd.DataFrame(
        [{k: rec.get(k) for k in SIM_COLUMNS} for _, rec in sorted(records.items())],
        columns=list(SIM_COLUMNS),
    )
    result = PowerResult(
        table=table,
        summary=power_summary(table, target),
        sims=sims_df,
        settings=settings,
        target=target,
        fitted=fitted,
        seconds=time.perf_counter() - t0,
        workers=nworkers,
    )
    if folder is not None:
        atomic_write_csv(folder / "power.csv", result.table)
        atomic_write_csv(folder / "power_summary.csv", result.summary)
        atomic_write_csv(folder / "sims.csv", result.sims)
    return result
