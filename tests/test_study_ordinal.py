"""The study's --ordinal stage: verdicts of the continuous and the ordinal model side by side.

The ordinal fit itself is tested in test_bayes_ordinal.py; here the table, the report section,
the files and the command line (a whole study with an ordinal fit takes minutes, see
scripts/run_study.py --ordinal)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from bayes_bmi.bayes.sampling import SamplerConfig
from bayes_bmi.report.document import Report
from bayes_bmi.report.study import _ordinal
from bayes_bmi.study.config import StudyConfig
from bayes_bmi.study.stages import OrdinalVerdicts, side_by_side


def _tables():
    cont = pd.DataFrame(
        {
            "id": ["H1", "H2", "H3"],
            "parameter": ["a", "b", "c"],
            "std_median": [0.4, 0.1, -0.01],
            "bayes_verdict": ["supported", "supported", "inconclusive"],
        }
    )
    ordi = cont.assign(
        std_median=[0.38, 0.04, -0.02], bayes_verdict=["supported", "inconclusive", "inconclusive"]
    )
    return cont, ordi


def test_side_by_side_flags_the_verdicts_that_differ():
    cont, ordi = _tables()
    side = side_by_side(cont, ordi)
    assert list(side.columns) == [
        "id",
        "parameter",
        "std_median_continuous",
        "verdict_continuous",
        "std_median_ordinal",
        "verdict_ordinal",
        "differs",
    ]
    assert side["differs"].tolist() == [False, True, False]
    assert side.loc[1, "std_median_ordinal"] == 0.04


def test_report_section_names_the_differing_hypotheses_and_convergence():
    cont, ordi = _tables()
    diag = {
        "chains": 4,
        "tune": 500,
        "draws": 1500,
        "max_r_hat": 1.004,
        "min_ess_bulk": 812.0,
        "divergences": 0,
        "converged": True,
    }
    result = SimpleNamespace(diagnostics=diag)
    o = OrdinalVerdicts(
        result=result, hypotheses=ordi, side_by_side=side_by_side(cont, ordi), seconds=12.0
    )
    rep = Report("t")
    _ordinal(rep, 7, SimpleNamespace(ordinal=o))
    text = rep.to_markdown()
    assert "7. Continuous and ordinal verdicts" in text
    assert "1 verdict(s) differ: H2" in text
    assert "NOT converged" not in text
    diag["converged"] = False
    rep = Report("t")
    _ordinal(rep, 7, SimpleNamespace(ordinal=o))
    assert "NOT converged" in rep.to_markdown()


def test_command_line_records_ordinal():
    config = StudyConfig.example(SamplerConfig(draws=10, tune=10, chains=1), ordinal=True)
    assert "--ordinal" in config.command_line("out")
    assert "--ordinal" not in StudyConfig.example().command_line("out")


def test_ordinal_cases_line_counts_the_missing_cells():
    import numpy as np

    from bayes_bmi.cli.common import cases_line, ordinal_missing_data

    codes = np.array([[0, 1, -1], [2, -1, -1], [1, 1, 0], [0, 0, 0]])
    info = ordinal_missing_data(4, 0, codes)
    assert info["n_missing_cells"] == 3 and info["n_cells"] == 12 and info["n_patterns"] == 3
    line = cases_line(info)
    assert "cases used: 4 of 4 rows" in line
    assert "missing cells left out" in line and "3 of 12 cells missing (25.0%)" in line
