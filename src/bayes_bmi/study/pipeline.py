"""The study: from survey data to hypothesis verdicts, key drivers and advice.

:func:`run_study` is the main job behind ``make study`` and ``bayes-bmi study``: a short list
of numbered stages (:mod:`bayes_bmi.study.stages`), each returning a frozen result. It
computes and writes nothing; :func:`bayes_bmi.report.study.write_study` renders the results
(tables, figures, the posterior, the report) and writes them, each file atomically, so a
failure leaves the results folder as it was::

    results = run_study(StudyConfig(data=..., model=..., hypotheses=...))
    write_study(results, Path("results"))

Nothing here is specific to the shipped data: drivers are found from the model's structure
(the exogenous latent variables that predict the construct with most predictors), and the
recommendations follow the posterior.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bayes_bmi.bayes.sampling import CompileCache
from bayes_bmi.study.config import StudyConfig
from bayes_bmi.study.stages import (
    BayesianSEM,
    Checking,
    DataChecks,
    ExpertScreening,
    GroupComparison,
    Hypotheses,
    Inputs,
    KeyDrivers,
    Literature,
    ModelComparison,
    OrdinalVerdicts,
    Reliability,
    TruthRecovery,
    read_inputs,
    step01_literature,
    step02_experts,
    step03_data_checks,
    step04_reliability,
    step05_bayesian_sem,
    step06_checking,
    step07_hypotheses,
    step07b_ordinal,
    step08_drivers,
    step09_comparison,
    step10_truth_recovery,
    step11_groups,
)

__all__ = ["StudyConfig", "StudyResults", "run_study"]


@dataclass(frozen=True, eq=False)
class StudyResults:
    """Every stage's result, in stage order; optional stages are None when skipped.

    Attributes
    ----------
    config : StudyConfig
    inputs : Inputs
    literature, experts : Literature, ExpertScreening or None
    data_checks : DataChecks
    reliability : Reliability
    sem : BayesianSEM
    checking : Checking
    hypotheses : Hypotheses
    drivers : KeyDrivers
    comparison : ModelComparison or None
    recovery : TruthRecovery or None
    seconds : float
        Time the stages took.
    ordinal : OrdinalVerdicts or None
        The ordinal model's verdicts beside the continuous ones (``--ordinal``).
    groups : GroupComparison or None
        Invariance and drivers by group (``--group``).
    """

    config: StudyConfig
    inputs: Inputs
    literature: Literature | None
    experts: ExpertScreening | None
    data_checks: DataChecks
    reliability: Reliability
    sem: BayesianSEM
    checking: Checking
    hypotheses: Hypotheses
    drivers: KeyDrivers
    comparison: ModelComparison | None
    recovery: TruthRecovery | None
    seconds: float
    ordinal: OrdinalVerdicts | None = None
    groups: GroupComparison | None = None

    @property
    def converged(self) -> bool:
        """Whether the main model's chains converged."""
        return self.sem.converged


def run_study(
    config: StudyConfig,
    *,
    log: Callable[[str], object] = print,
    cache: CompileCache | None = None,
) -> StudyResults:
    """Run the whole study; write nothing.

    Parameters
    ----------
    config : StudyConfig
    log : callable
        Progress messages.
    cache : CompileCache, optional
        Reuse compiled models across studies in one process.

    Returns
    -------
    StudyResults
        Pass it to :func:`bayes_bmi.report.study.write_study`.

    Raises
    ------
    BayesBmiError
        On bad inputs (before anything is sampled where possible).
    """
    t0 = time.perf_counter()
    inputs = read_inputs(config)
    literature = step01_literature(config.literature)
    experts = step02_experts(config.experts)
    log("literature count and expert screening done" if literature or experts else "inputs read")
    checks = step03_data_checks(config, inputs)
    log("data checks and PCA done")
    if checks.missing is not None and checks.missing.has_missing:
        log(checks.missing.describe())
    reliability = step04_reliability(inputs, checks.missing.method if checks.missing else None)
    log("reliability done")
    sem = step05_bayesian_sem(config, inputs, cache)
    log(f"Bayesian fits done in {sem.seconds:.0f} s")
    checking = step06_checking(config, sem, reliability)
    hypotheses = step07_hypotheses(inputs, sem)
    drivers = step08_drivers(inputs, sem, hypotheses)
    log("hypotheses and key drivers done")
    ordinal = step07b_ordinal(config, inputs, hypotheses, cache)
    if ordinal is not None:
        changed = int(ordinal.side_by_side["differs"].sum())
        log(f"ordinal model done in {ordinal.seconds:.0f} s: {changed} verdict(s) differ")
    groups = step11_groups(config, inputs, cache)
    if groups is not None:
        log(
            f"groups by {groups.column} done in {groups.seconds:.0f} s: "
            f"{groups.invariance_level} invariance holds"
        )
    return StudyResults(
        config=config,
        inputs=inputs,
        literature=literature,
        experts=experts,
        data_checks=checks,
        reliability=reliability,
        sem=sem,
        checking=checking,
        hypotheses=hypotheses,
        drivers=drivers,
        comparison=step09_comparison(sem),
        recovery=step10_truth_recovery(config, inputs, sem),
        seconds=time.perf_counter() - t0,
        ordinal=ordinal,
        groups=groups,
    )
