"""The survey truth as a data source for power analysis (:mod:`bayes_bmi.calibration.power`).

:class:`SurveyData` draws Likert surveys of any size from a
:class:`~bayes_bmi.study.survey.SurveyTruth` (``data/ground_truth.json``) exactly as the
shipped survey was drawn (:func:`~bayes_bmi.study.survey.simulate_survey`), so the power of
the thesis hypotheses is judged on data like the thesis's: 5-point items, firm descriptors.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bayes_bmi.study.survey import SurveyTruth, simulate_survey

__all__ = ["SurveyData"]


@dataclass(frozen=True)
class SurveyData:
    """A :class:`~bayes_bmi.calibration.power.DataSimulator` of thesis surveys.

    Attributes
    ----------
    text : str
        The truth as JSON (:meth:`SurveyTruth.to_json`): a :class:`SurveyTruth` holds
        read-only mappings, which do not pickle, and this object travels to Dask workers.
    """

    text: str

    @classmethod
    def from_truth(cls, truth: SurveyTruth) -> SurveyData:
        """The simulator of a truth."""
        return cls(truth.to_json())

    @property
    def truth(self) -> SurveyTruth:
        """The truth."""
        return SurveyTruth.from_json(self.text)

    def simulate(self, n: int, seed: int) -> pd.DataFrame:
        """``n`` firms' answers and descriptors (:func:`simulate_survey`)."""
        return simulate_survey(self.truth, int(n), int(seed))

    def fingerprint(self) -> str:
        """The truth as JSON."""
        return self.text
