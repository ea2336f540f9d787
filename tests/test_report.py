"""Numbers as people read them: the report's tables and the command line's tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bayes_bmi.cli.common import print_table
from bayes_bmi.report.document import Report, format_number


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (106341657339552.312, 3, "1.1e+14"),
        (42009788.655, 3, "4.2e+07"),
        (999999.0, 3, "999999.000"),
        (1e6, 3, "1e+06"),
        (-2.5e9, 2, "-2.5e+09"),
        (0.244, 3, "0.244"),
        (0.0004, 3, "0.0004"),
        (3.2e-05, 3, "3.2e-05"),
        (0.0005, 3, "0.001"),  # shown as a fixed number when it does not round to 0
        (0.004, 2, "0.004"),
        (0.0, 3, "0.000"),
        (12.0, 1, "12.0"),
        (math.nan, 3, ""),
        (None, 3, ""),
        (math.inf, 3, "inf"),
        (-math.inf, 3, "-inf"),
    ],
)
def test_format_number(value, digits, text):
    assert format_number(value, digits) == text


def test_report_tables_print_large_and_small_numbers_readably():
    df = pd.DataFrame(
        {"id": ["H1", "H2", "H3"], "bf10": [106341657339552.312, 0.25, math.nan], "n": [1, 2, 3]}
    )
    rep = Report("t")
    rep.table(df, "hypotheses")
    md = rep.to_markdown()
    assert "| H1 | 1.1e+14 | 1 |" in md
    assert "| H2 | 0.250 | 2 |" in md
    assert "| H3 |  | 3 |" in md
    assert "106341657339552" not in md and "106341657339552" not in rep.to_html()


def test_print_table_prints_large_numbers_readably(capsys):
    print_table(pd.DataFrame({"bf10": [106341657339552.312, 0.5, math.nan]}), "BF")
    out = capsys.readouterr().out
    assert "1.1e+14" in out and "0.500" in out
    assert "106341657339552" not in out
