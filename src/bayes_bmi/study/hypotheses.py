"""The study's hypothesis tests: the thesis's hypotheses judged by the engine's one rule.

The reading, the pure functions on draws, the :class:`DecisionRule` and
:func:`hypothesis_table` are generic and live in :mod:`bayes_bmi.checking.hypotheses`, where
power analysis and prior sensitivity (:mod:`bayes_bmi.calibration`) use the same functions;
this module re-exports them under the names the study, the report and the API have always
used. A thesis hypothesis file is ``models/bmi_drivers.hypotheses.toml``: each
``[[hypothesis]]`` names the thesis's label (``H1`` ... ``H10h``), a parameter of
``models/bmi_drivers.lav`` (``g_TI``, ``b``, ``ind_TI``), its expected sign and its wording.
"""

from __future__ import annotations

from bayes_bmi.checking.hypotheses import (
    DEFAULT_RULE,
    DIRECTIONS,
    HYPOTHESIS_COLUMNS,
    ML_VERDICTS,
    VERDICTS,
    DecisionRule,
    FittedLike,
    Hypothesis,
    HypothesisError,
    SavageDickey,
    assess_hypothesis,
    check_hypotheses,
    hdi,
    hypothesis_table,
    parameter_draws,
    parameter_rows,
    probability_of_direction,
    read_hypotheses,
    rope_share,
    savage_dickey,
    savage_dickey_bf10,
)

__all__ = [
    "DEFAULT_RULE",
    "DIRECTIONS",
    "HYPOTHESIS_COLUMNS",
    "ML_VERDICTS",
    "VERDICTS",
    "DecisionRule",
    "FittedLike",
    "Hypothesis",
    "HypothesisError",
    "SavageDickey",
    "assess_hypothesis",
    "check_hypotheses",
    "hdi",
    "hypothesis_table",
    "parameter_draws",
    "parameter_rows",
    "probability_of_direction",
    "read_hypotheses",
    "rope_share",
    "savage_dickey",
    "savage_dickey_bf10",
]
