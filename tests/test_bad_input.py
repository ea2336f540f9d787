"""A catalogue of bad inputs and faults, each tried on the command line as a careless user would.

Every case names the command, the input, the expected exit code and the words the message must
contain; every case also checks that no traceback is printed and that a failed run leaves
``--out`` as it was. The classes: missing, unreadable or wrongly encoded files; wrong shapes;
values out of range; missing-value codes; singular or non-positive-definite data; models that
cannot be fitted; numerical failure; output paths that cannot be written; interruption; two runs
into the same folder. Below the catalogue: Ctrl-C in a real process, start-up time of a user
error, and fuzz tests of the parser and of data reading (only :class:`BayesBmiError` may
escape).
"""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bayes_bmi.cli.main import app
from bayes_bmi.data import read_data, sample_stats
from bayes_bmi.errors import BayesBmiError
from bayes_bmi.io import LOCK_NAME, OutputFolder
from bayes_bmi.lavaan.model import specify
from bayes_bmi.lavaan.syntax import parse_model
from conftest import DATA, MODELS, ROOT

RUNNER = CliRunner()
HS = DATA / "HolzingerSwineford1939.csv"
HS_LAV = MODELS / "hs_cfa.lav"
SURVEY = ROOT / "data" / "bmi_survey.csv"
LITERATURE = ROOT / "data" / "literature" / "bm_elements.csv"
EXPERTS = ROOT / "data" / "experts" / "ratings_example.csv"
HS_TEXT = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
TI_MD = "TI =~ TI1 + TI2 + TI3 + TI4\nMD =~ MD1 + MD2 + MD3 + MD4\n"

Files = Mapping[str, Callable[[Path], None]]


# ------------------------------------------------------------------------------ inputs
def text(content: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    """A file holding ``content`` in ``encoding``."""
    return lambda path: path.write_bytes(content.encode(encoding))


def raw(content: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content)


def hs_data(change: Callable[[pd.DataFrame], pd.DataFrame] = lambda d: d, **kw: object):
    """The HS data, changed, written as CSV (``kw`` go to ``to_csv``)."""

    def write(path: Path) -> None:
        df = change(pd.read_csv(HS).drop(columns=["school"]))
        df.to_csv(path, index=False, **kw)

    return write


def with_cells(column: str, rows: list[int], value: object):
    def change(df: pd.DataFrame) -> pd.DataFrame:
        df = df.astype({column: object}) if isinstance(value, str) else df
        df.loc[rows, column] = value
        return df

    return change


def survey_items(change: Callable[[pd.DataFrame], pd.DataFrame] = lambda d: d):
    def write(path: Path) -> None:
        df = pd.read_csv(SURVEY)[["TI1", "TI2", "TI3", "TI4", "MD1", "MD2", "MD3", "MD4"]]
        change(df).to_csv(path, index=False)

    return write


def workbook(first: str = "notes") -> Callable[[Path], None]:
    """An .xlsx whose first sheet is a note and whose second holds the HS data."""

    def write(path: Path) -> None:
        with pd.ExcelWriter(path) as book:
            if first == "notes":
                pd.DataFrame({"note": ["HS data, see sheet Data"]}).to_excel(
                    book, sheet_name="Notes", index=False
                )
            pd.read_csv(HS).to_excel(book, sheet_name="Data", index=False)

    return write


def labelled_sav(path: Path) -> None:
    """A survey as SPSS writes it: Likert codes 1-5 with value labels."""
    import pyreadstat

    df = pd.read_csv(SURVEY)[["TI1", "TI2", "TI3", "TI4", "MD1", "MD2", "MD3", "MD4"]]
    labels = {1.0: "disagree", 2.0: "rather not", 3.0: "neutral", 4.0: "rather", 5.0: "agree"}
    pyreadstat.write_sav(
        df.astype(float), str(path), variable_value_labels={c: labels for c in df.columns}
    )


def truth_file(path: Path) -> None:
    from bayes_bmi.study.survey import default_truth

    path.write_text(default_truth().to_json(), encoding="utf-8")


# ------------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One bad input: ``argv`` (with ``{tmp}``, ``{out}``, ``{hs}``, ... filled in), the exit
    code, words the output must contain and words it must not."""

    id: str
    argv: tuple[str, ...]
    code: int
    words: tuple[str, ...]
    files: Files = field(default_factory=dict)
    absent: tuple[str, ...] = ()


def case(
    id: str,
    argv: str,
    code: int,
    *words: str,
    files: Files | None = None,
    absent: tuple[str, ...] = (),
) -> Case:
    return Case(id, tuple(argv.split()), code, words, dict(files or {}), absent)


HS_OUT = "{hs} --out {out}"
CATALOGUE = [
    # ---- parse: model files
    case("parse-missing-file", "parse {tmp}/none.lav", 2, "none.lav: no such model file"),
    case("parse-folder", "parse {tmp}", 2, "is a folder, not a model file"),
    case(
        "parse-latin1",
        "parse {tmp}/m.lav",
        2,
        "m.lav:4:",
        "not UTF-8",
        "UTF-8",
        files={"m.lav": text(HS_TEXT + "# caf\u00e9\n", "latin-1")},
    ),
    case("parse-utf16", "parse {tmp}/m.lav", 0, "visual", files={"m.lav": text(HS_TEXT, "utf-16")}),
    case(
        "parse-bom",
        "parse {tmp}/m.lav",
        0,
        "visual",
        files={"m.lav": raw(codecs.BOM_UTF8 + HS_TEXT.encode())},
    ),
    case(
        "parse-binary",
        "parse {tmp}/m.lav",
        2,
        "not UTF-8",
        "text file",
        files={"m.lav": raw(b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe\x00\x00")},
    ),
    case("parse-empty", "parse {tmp}/m.lav", 2, "m.lav", files={"m.lav": text("")}),
    case(
        "parse-syntax",
        "parse {tmp}/m.lav",
        2,
        "m.lav:1:",
        "^",
        files={"m.lav": text("f =~ x1 + + x2")},
    ),
    case(
        "parse-bad-prior-line-4",
        "parse {tmp}/m.lav",
        2,
        "m.lav:4:",
        "must be positive",
        files={"m.lav": text(HS_TEXT + 'x1 ~~ prior("gamma(1, -1)[sd]")*x1\n')},
    ),
    case(
        "parse-unknown-prior-family",
        "parse {tmp}/m.lav",
        2,
        "m.lav:3:",
        "unknown prior family",
        files={"m.lav": text(HS_TEXT.replace("x8", 'prior("foo(1)")*x8'))},
    ),
    # ---- ml: numerical guards (these hung or gave silent numbers before)
    case(
        "ml-negative-fixed-variance",
        "ml {tmp}/m.lav " + HS_OUT,
        2,
        "m.lav:4:",
        "fixed at -1",
        "cannot be negative",
        files={"m.lav": text(HS_TEXT + "x1 ~~ -1*x1\n")},
    ),
    case(
        "ml-duplicated-item",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "d.csv",
        "not positive definite",
        "'x2' duplicates 'x1'",
        files={"d.csv": hs_data(lambda d: d.assign(x2=d["x1"]))},
    ),
    case(
        "ml-rescaled-copy",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "'x9' duplicates 'x7'",
        files={"d.csv": hs_data(lambda d: d.assign(x9=2 * d["x7"] + 1))},
    ),
    case(
        "ml-linear-combination",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "not positive definite",
        "linear combination",
        files={"d.csv": hs_data(lambda d: d.assign(x3=d["x1"] + d["x2"]))},
    ),
    case(
        "ml-fewer-rows-than-variables",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "only 5 complete cases for 9 variables",
        files={"d.csv": hs_data(lambda d: d.head(5))},
    ),
    case(
        "ml-one-row",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "fewer than 2 complete cases",
        files={"d.csv": hs_data(lambda d: d.head(1))},
    ),
    case(
        "ml-zero-variance",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "zero variance: x4",
        files={"d.csv": hs_data(lambda d: d.assign(x4=3.0))},
    ),
    case(
        "ml-not-identified",
        "ml {tmp}/m.lav " + HS_OUT,
        2,
        "df = -4",
        files={"m.lav": text("f =~ x1 + x2\nf ~~ x1\nx1 ~~ x2\nf =~ NA*x1\n")},
    ),
    # ---- ml: values
    case(
        "ml-missing-codes-warned",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        0,
        "warning: ",
        "column 'x1' holds -999 in 3 rows",
        "--missing-codes -999",
        files={"d.csv": hs_data(with_cells("x1", [3, 50, 200], -999))},
    ),
    case(
        "ml-missing-codes-dropped",
        "ml {hs_lav} {tmp}/d.csv --out {out} --missing-codes -999,99 --missing listwise",
        0,
        "n = 298; 3 rows with a missing value dropped",
        files={"d.csv": hs_data(with_cells("x1", [3, 50, 200], -999))},
        absent=("warning: ",),
    ),
    case(
        "ml-missing-codes-fiml",
        "ml {hs_lav} {tmp}/d.csv --out {out} --missing-codes -999,99",
        0,
        "note: full-information ML: 301 cases in 2 missingness pattern(s)",
        files={"d.csv": hs_data(with_cells("x1", [3, 50, 200], -999))},
        absent=("warning: ",),
    ),
    case(
        "ml-missing-codes-not-numbers",
        "ml {hs_lav} {hs} --out {out} --missing-codes -9,abc",
        2,
        "'abc' is not a number",
    ),
    case(
        "ml-value-1e300",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "column 'x5' row 8 holds 1e+300",
        "too large",
        files={"d.csv": hs_data(with_cells("x5", [7], 1e300))},
    ),
    case(
        "ml-infinite-cell",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "column 'x6' row 2 holds inf",
        "not a finite number",
        files={"d.csv": hs_data(with_cells("x6", [1], "inf"))},
    ),
    case(
        "ml-text-cell",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "column 'x2' is not numeric: row 5 holds 'n/a?'",
        files={"d.csv": hs_data(with_cells("x2", [4], "n/a?"))},
    ),
    case(
        "ml-decimal-comma",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "decimal comma",
        files={"d.csv": hs_data(with_cells("x3", [0], "2,5"))},
    ),
    case(
        "ml-semicolon-decimal-comma-file",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        0,
        "chisq = 85.306",
        files={"d.csv": hs_data(sep=";", decimal=",")},
    ),
    case(
        "ml-tab-separated-csv",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        0,
        "chisq = 85.306",
        files={"d.csv": hs_data(sep="\t")},
    ),
    # ---- ml: files
    case(
        "ml-latin1-csv",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "d.csv:1:",
        "not UTF-8",
        "save it with the encoding UTF-8",
        files={
            "d.csv": hs_data(
                lambda d: d.rename(columns={"grade": "ann\u00e9e"}), encoding="latin-1"
            )
        },
    ),
    case(
        "ml-utf16-csv",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        0,
        "chisq = 85.306",
        files={"d.csv": hs_data(encoding="utf-16")},
    ),
    case(
        "ml-utf8-bom-csv",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        0,
        "chisq = 85.306",
        files={"d.csv": hs_data(encoding="utf-8-sig")},
    ),
    case(
        "ml-duplicate-column-names",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "used more than once",
        "'x1' (columns 1, 10)",
        files={"d.csv": hs_data(lambda d: d.set_axis([*d.columns[:-1], "x1"], axis=1))},
    ),
    case(
        "ml-empty-file",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "d.csv: the file is empty",
        files={"d.csv": text("")},
    ),
    case(
        "ml-header-only",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "no data rows",
        files={"d.csv": text("x1,x2,x3,x4,x5,x6,x7,x8,x9\n")},
    ),
    case(
        "ml-ragged-rows",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "could not be read",
        "line 3",
        files={"d.csv": text("x1,x2\n1,2\n3,4,5,6\n")},
    ),
    case(
        "ml-unknown-format",
        "ml {hs_lav} {tmp}/d.json --out {out}",
        2,
        "unknown data format '.json'",
        files={"d.json": text("{}")},
    ),
    case(
        "ml-not-a-workbook",
        "ml {hs_lav} {tmp}/d.xlsx --out {out}",
        2,
        "d.xlsx: could not be read",
        files={"d.xlsx": text("x1,x2\n1,2\n")},
    ),
    case("ml-data-is-folder", "ml {hs_lav} {tmp} --out {out}", 2, "is a folder, not a data file"),
    case(
        "ml-missing-variable",
        "ml {tmp}/m.lav " + HS_OUT,
        2,
        "not found in the data",
        "'x10' (did you mean",
        files={"m.lav": text(HS_TEXT.replace("x9", "x10"))},
    ),
    case(
        "ml-excel-other-sheet",
        "ml {hs_lav} {tmp}/d.xlsx --out {out}",
        2,
        "first sheet 'Notes' lacks",
        "--sheet 'Data'",
        "Sheets: 1 'Notes', 2 'Data'",
        files={"d.xlsx": workbook()},
    ),
    case(
        "ml-excel-sheet-by-name",
        "ml {hs_lav} {tmp}/d.xlsx --out {out} --sheet Data",
        0,
        "chisq = 85.306",
        files={"d.xlsx": workbook()},
    ),
    case(
        "ml-excel-sheet-by-number",
        "ml {hs_lav} {tmp}/d.xlsx --out {out} --sheet 2",
        0,
        "chisq = 85.306",
        files={"d.xlsx": workbook()},
    ),
    case(
        "ml-excel-no-such-sheet",
        "ml {hs_lav} {tmp}/d.xlsx --out {out} --sheet 5",
        2,
        "no such sheet",
        "2 'Data'",
        files={"d.xlsx": workbook()},
    ),
    case("ml-sheet-of-csv", "ml {hs_lav} {hs} --out {out} --sheet 1", 2, "not an Excel workbook"),
    # ---- ml: output paths
    case("ml-out-is-file", "ml {hs_lav} {hs} --out {hs}", 2, "is a file; give a folder"),
    case(
        "ml-out-under-file",
        "ml {hs_lav} {hs} --out {tmp}/f.txt/sub",
        2,
        "is a file, so no folder can be made",
        files={"f.txt": text("x")},
    ),
    # ---- fit: arguments checked before anything loads
    case("fit-seed-negative", "fit {hs_lav} {hs} --out {out} --seed -1", 2, "--seed"),
    case("fit-seed-too-large", "fit {hs_lav} {hs} --out {out} --seed 99999999999", 2, "--seed"),
    case("fit-draws-zero", "fit {hs_lav} {hs} --out {out} --draws 0", 2, "--draws"),
    case("fit-chains-text", "fit {hs_lav} {hs} --out {out} --chains two", 2, "--chains"),
    case(
        "fit-unknown-sampler",
        "fit {hs_lav} {hs} --out {out} --sampler stan",
        2,
        "--sampler stan",
        "nutpie, pymc",
    ),
    case(
        "fit-target-accept",
        "fit {hs_lav} {hs} --out {out} --target-accept 1.5",
        2,
        "--target-accept 1.5: must lie in (0, 1)",
    ),
    case("fit-out-is-file", "fit {hs_lav} {hs} --out {hs}", 2, "is a file; give a folder"),
    case(
        "fit-bad-prior-before-compile",
        "fit {tmp}/m.lav " + HS_OUT,
        2,
        "m.lav:4:",
        "must be positive",
        files={"m.lav": text(HS_TEXT + 'x1 ~~ prior("normal(0, -1)")*x1\n')},
    ),
    case(
        "fit-prior-does-not-fit",
        "fit {tmp}/m.lav " + HS_OUT,
        2,
        "m.lav:4:",
        "does not fit",
        files={"m.lav": text(HS_TEXT + 'visual ~~ prior("normal(0, 1)")*textual\n')},
    ),
    case(
        "fit-duplicated-item-before-compile",
        "fit {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "not positive definite",
        files={"d.csv": hs_data(lambda d: d.assign(x5=d["x4"]))},
    ),
    case(
        "fit-negative-variance-before-compile",
        "fit {tmp}/m.lav " + HS_OUT,
        2,
        "cannot be negative",
        files={"m.lav": text(HS_TEXT + "x1 ~~ -1*x1\n")},
    ),
    # ---- compare
    case(
        "compare-missing-model",
        "compare {hs_lav} {tmp}/none.lav --data {hs} --out {out}",
        2,
        "none.lav: no such model file",
    ),
    case(
        "compare-missing-codes-bad",
        "compare {hs_lav} --data {hs} --out {out} --missing-codes x",
        2,
        "'x' is not a number",
    ),
    case(
        "compare-model-variable-missing",
        "compare {hs_lav} {tmp}/m.lav --data {hs} --out {out}",
        2,
        "'y1'",
        files={"m.lav": text("f =~ y1 + y2 + y3\n")},
    ),
    # ---- study: every file and option checked before the data are read
    case("study-seed-negative", "study --out {out} --seed -1", 2, "--seed"),
    case("study-draws-zero", "study --out {out} --draws 0", 2, "--draws"),
    case(
        "study-literature-missing",
        "study --out {out} --literature {tmp}/none.csv",
        2,
        "--literature",
        "none.csv: no such literature file",
    ),
    case(
        "study-experts-missing",
        "study --out {out} --experts {tmp}/none.csv",
        2,
        "--experts",
        "no such expert ratings file",
    ),
    case(
        "study-truth-missing",
        "study --out {out} --truth {tmp}/none.json",
        2,
        "--truth",
        "none.json: no such truth file",
    ),
    case(
        "study-alternative-missing",
        "study --out {out} --alternative {tmp}/alt.lav",
        2,
        "alt.lav: no such model file",
    ),
    case(
        "study-alternative-other-items",
        "study --out {out} --alternative {hs_lav}",
        2,
        "hs_cfa.lav: an alternative model must explain the same items",
    ),
    case("study-out-is-file", "study --out {hs}", 2, "is a file; give a folder"),
    case(
        "study-truth-not-json",
        "study --out {out} --truth {tmp}/t.json --no-compare",
        2,
        "t.json:1: not valid JSON",
        files={"t.json": text("{paths: 1}")},
    ),
    case(
        "study-truth-wrong-keys",
        "study --out {out} --truth {tmp}/t.json --no-compare",
        2,
        "t.json: not a truth file",
        files={"t.json": text('{"speed": 3}')},
    ),
    case(
        "study-hypotheses-bad-toml",
        "study --out {out} --hypotheses {tmp}/h.toml",
        2,
        "h.toml: not valid TOML",
        files={"h.toml": text("[[hypothesis]\nid = 1")},
    ),
    case(
        "study-missing-codes-in-survey",
        "study --out {out} --data {tmp}/s.csv --no-compare",
        2,
        "item 'TI2' row 3 holds -999, outside the response scale 1-5",
        "--missing-codes -999",
        files={
            "s.csv": lambda p: (
                pd.read_csv(SURVEY)
                .assign(TI2=lambda d: d["TI2"].mask(d.index.isin([2, 9]), -999))
                .to_csv(p, index=False)
            )
        },
    ),
    # ---- simulate
    case("simulate-n-zero", "simulate --out {tmp}/s.csv --n 0", 2, "--n"),
    case("simulate-seed-negative", "simulate --out {tmp}/s.csv --seed -1", 2, "--seed"),
    case(
        "simulate-unknown-driver",
        "simulate --out {tmp}/s.csv --path XX=1",
        2,
        "unknown driver 'XX'",
    ),
    case("simulate-path-not-number", "simulate --out {tmp}/s.csv --path TI=big", 2, "--path"),
    case("simulate-out-is-folder", "simulate --out {tmp}", 2, "is a folder; give a file name"),
    case(
        "simulate-truth-out-same-as-out",
        "simulate --out {tmp}/s.csv --truth-out {tmp}/s.csv",
        2,
        "same file as --out",
    ),
    case(
        "simulate-from-truth-missing",
        "simulate --out {tmp}/s.csv --from-truth {tmp}/none.json",
        2,
        "--from-truth",
        "no such truth file",
    ),
    case(
        "simulate-from-truth-not-json",
        "simulate --out {tmp}/s.csv --from-truth {tmp}/t.json",
        2,
        "not valid JSON",
        files={"t.json": text("[1, 2")},
    ),
    case(
        "simulate-from-truth-latin1",
        "simulate --out {tmp}/s.csv --from-truth {tmp}/t.json",
        2,
        "t.json:1:",
        "not UTF-8",
        files={"t.json": text('{"note": "caf\u00e9"}', "latin-1")},
    ),
    case(
        "simulate-from-truth",
        "simulate --out {tmp}/s.csv --n 20 --from-truth {tmp}/t.json",
        0,
        "wrote",
        files={"t.json": truth_file},
    ),
    # ---- literature and experts
    case("literature-missing", "literature {tmp}/none.csv --out {out}", 2, "no such data file"),
    case(
        "literature-threshold",
        "literature {literature} --out {out} --threshold 1.5",
        2,
        "--threshold 1.5: must lie in [0, 1]",
    ),
    case(
        "literature-latin1",
        "literature {tmp}/l.csv --out {out}",
        2,
        "not UTF-8",
        files={
            "l.csv": text("author,year,source,value_proposition\nM\u00fcller,2010,x,1\n", "latin-1")
        },
    ),
    case(
        "literature-not-0-1",
        "literature {tmp}/l.csv --out {out}",
        2,
        "l.csv",
        files={
            "l.csv": text(
                "author,year,source,value_proposition,channels\nA,2010,x,1,7\nB,2011,y,0,1\n"
            )
        },
    ),
    case(
        "experts-scale-reversed",
        "experts {experts} --out {out} --scale-min 5 --scale-max 1",
        2,
        "lowest rating must be below",
    ),
    case("experts-negative-cv", "experts {experts} --out {out} --max-cv -1", 2, "--max-cv -1"),
    case(
        "experts-rating-out-of-scale",
        "experts {tmp}/e.csv --out {out}",
        2,
        "e.csv",
        files={"e.csv": text("expert,a,b,c\nE1,4,5,9\nE2,3,4,5\nE3,5,5,4\n")},
    ),
    # ---- pca
    case("pca-no-items", "pca {hs} --out {out}", 2, "--items"),
    case(
        "pca-unknown-rotation",
        "pca {hs} --out {out} --items-prefix x --rotation quartimax",
        2,
        "--rotation quartimax",
        "varimax, promax, none",
    ),
    case("pca-unknown-item", "pca {hs} --out {out} --items x1,x2,xx3", 2, "'xx3' (did you mean"),
    case(
        "pca-components-zero",
        "pca {hs} --out {out} --items-prefix x --n-components 0",
        2,
        "--n-components 0",
    ),
    case(
        "pca-parallel-iter-zero",
        "pca {hs} --out {out} --items-prefix x --parallel-iter 0",
        2,
        "--parallel-iter",
    ),
    case(
        "pca-more-components-than-items",
        "pca {hs} --out {out} --items x1,x2,x3 --n-components 5 --parallel-iter 20",
        2,
        "HolzingerSwineford1939.csv: n_components must be between 1 and 3",
    ),
    case(
        "pca-missing-codes-warned",
        "pca {tmp}/s.csv --out {out} --items-prefix TI,MD --parallel-iter 20",
        0,
        "warning: ",
        "column 'TI1' holds -999 in 3 rows",
        files={"s.csv": survey_items(with_cells("TI1", [0, 1, 2], -999))},
    ),
    case(
        "pca-missing-codes-dropped",
        "pca {tmp}/s.csv --out {out} --items-prefix TI,MD --parallel-iter 20 --missing-codes=-999",
        0,
        "(3 rows with missing values dropped)",
        files={"s.csv": survey_items(with_cells("TI1", [0, 1, 2], -999))},
        absent=("warning: ",),
    ),
    case(
        "pca-code-99-in-likert",
        "pca {tmp}/s.csv --out {out} --items-prefix TI --parallel-iter 20",
        0,
        "column 'TI3' holds 99 in 1 row, far outside its other values (1 to 5)",
        files={"s.csv": survey_items(with_cells("TI3", [5], 99))},
    ),
    case(
        "pca-spss-value-labels",
        "pca {tmp}/s.sav --out {out} --items-prefix TI,MD --parallel-iter 20",
        0,
        "PCA of 8 items on 632 complete rows",
        files={"s.sav": labelled_sav},
    ),
    # ---- reliability
    case(
        "reliability-single-indicator",
        "reliability {tmp}/m.lav {hs} --out {out}",
        0,
        "construct 'single' has a single indicator",
        files={"m.lav": text(HS_TEXT + "single =~ x1\n".replace("x1", "grade"))},
    ),
    case(
        "reliability-no-measurement-model",
        "reliability {tmp}/m.lav {hs} --out {out}",
        2,
        "m.lav: the model has no latent variable with indicators",
        files={"m.lav": text("x1 ~ x2 + x3\n")},
    ),
    case(
        "reliability-duplicated-item",
        "reliability {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "not positive definite",
        files={"d.csv": hs_data(lambda d: d.assign(x8=d["x7"]))},
    ),
    case(
        "reliability-negative-fixed-variance",
        "reliability {tmp}/m.lav {hs} --out {out}",
        2,
        "cannot be negative",
        files={"m.lav": text(HS_TEXT + "x1 ~~ -1*x1\n")},
    ),
    case(
        "reliability-missing-codes-warned",
        "reliability {tmp}/m.lav {tmp}/s.csv --out {out}",
        0,
        "column 'MD2' holds -9 in 3 rows",
        files={"m.lav": text(TI_MD), "s.csv": survey_items(with_cells("MD2", [4, 5, 6], -9))},
    ),
    case(
        "reliability-spss-value-labels",
        "reliability {tmp}/m.lav {tmp}/s.sav --out {out}",
        0,
        "CFA by ML on 632 complete rows",
        files={"m.lav": text(TI_MD), "s.sav": labelled_sav},
    ),
    # ---- --missing: values, empty columns, empty rows
    case(
        "ml-missing-method-bad",
        "ml {hs_lav} " + HS_OUT + " --missing pairwise",
        2,
        "--missing pairwise: unknown. Must be one of: fiml, listwise",
    ),
    case(
        "fit-missing-method-bad",
        "fit {hs_lav} " + HS_OUT + " --missing ml",
        2,
        "--missing ml: unknown. Must be one of: fiml, listwise",
    ),
    case(
        "compare-missing-method-bad",
        "compare {hs_lav} --data {hs} --out {out} --missing everything",
        2,
        "--missing everything: unknown",
    ),
    case(
        "reliability-missing-method-bad",
        "reliability {hs_lav} " + HS_OUT + " --missing pairwise",
        2,
        "--missing pairwise: unknown",
    ),
    case("study-missing-method-bad", "study --out {out} --missing mean", 2, "--missing mean"),
    case(
        "ml-missing-method-upper-case",
        "ml {hs_lav} {tmp}/d.csv --out {out} --missing LISTWISE",
        0,
        "n = 298; 3 rows with a missing value dropped (listwise)",
        files={"d.csv": hs_data(with_cells("x1", [3, 50, 200], None))},
    ),
    case(
        "ml-all-missing-column",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "column(s) with no observed value (every cell missing): x5",
        files={"d.csv": hs_data(lambda d: d.assign(x5=float("nan")))},
    ),
    case(
        "fit-all-missing-column",
        "fit {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "column(s) with no observed value (every cell missing): x5",
        files={"d.csv": hs_data(lambda d: d.assign(x5=float("nan")))},
    ),
    case(
        "reliability-all-missing-column",
        "reliability {hs_lav} {tmp}/d.csv --out {out}",
        2,
        "every cell missing",
        files={"d.csv": hs_data(lambda d: d.assign(x5=float("nan")))},
    ),
    case(
        "ml-row-all-missing-dropped-with-note",
        "ml {hs_lav} {tmp}/d.csv --out {out}",
        0,
        "note: 1 row(s) with every model variable missing were dropped",
        "n = 300; full-information ML: 2 missingness patterns",
        files={
            "d.csv": hs_data(
                lambda d: d.assign(
                    **{f"x{i}": d[f"x{i}"].mask(d.index == 7) for i in range(1, 10)}
                ).assign(x3=lambda e: e["x3"].mask(e.index == 9))
            )
        },
    ),
    case(
        "reliability-fiml-one-case-pattern",
        "reliability {hs_lav} {tmp}/d.csv --out {out}",
        0,
        "CFA by full-information ML on 301 cases (2 missingness patterns, 1 missing cell)",
        "from the EM covariance matrix",
        files={"d.csv": hs_data(with_cells("x4", [10], None))},
    ),
    # ---- groups (multi-group ML and measurement invariance)
    case(
        "ml-group-missing-column",
        "ml {hs_lav} " + HS_OUT + " --group shcool",
        2,
        "group: 'shcool' is not a column",
        "did you mean 'school'",
    ),
    case(
        "ml-group-is-a-model-variable",
        "ml {hs_lav} " + HS_OUT + " --group x1",
        2,
        "'x1' is a variable of the model",
    ),
    case(
        "ml-group-equal-unknown",
        "ml {hs_lav} " + HS_OUT + " --group school --group-equal loadings,loading",
        2,
        "group_equal: unknown 'loading'",
        "did you mean 'loadings'",
    ),
    case(
        "ml-group-equal-without-group",
        "ml {hs_lav} " + HS_OUT + " --group-equal loadings",
        2,
        "--group-equal and --group-partial need --group",
    ),
    case(
        "ml-group-partial-unknown",
        "ml {hs_lav} " + HS_OUT + " --group school --group-equal loadings --group-partial f=~x2",
        2,
        "group_partial 'f=~x2' names no parameter",
    ),
    case(
        "ml-group-too-small",
        "ml {hs_lav} {tmp}/d.csv --out {out} --group school",
        2,
        "(group 'Tiny' of column 'school')",
        "only 4 complete cases for 9 variables",
        files={"d.csv": lambda path: _tiny_group(path)},
    ),
    case(
        "fit-group-missing-column",
        "fit {hs_lav} " + HS_OUT + " --group shcool --draws 5 --tune 5",
        2,
        "group: 'shcool' is not a column",
        "did you mean 'school'",
    ),
    case(
        "fit-group-one-group",
        "fit {hs_lav} {tmp}/d.csv --out {out} --group school --draws 5 --tune 5",
        2,
        "column 'school' of",
        "has 1 group(s)",
        files={"d.csv": lambda path: pd.read_csv(HS).assign(school="Pasteur").to_csv(path)},
    ),
    case(
        "fit-group-too-small",
        "fit {hs_lav} {tmp}/d.csv --out {out} --group school --draws 5 --tune 5",
        2,
        "(group 'Tiny' of column 'school')",
        files={"d.csv": lambda path: _tiny_group(path)},
    ),
    case(
        "fit-approx-invariance-without-group",
        "fit {hs_lav} " + HS_OUT + " --approx-invariance loadings --draws 5 --tune 5",
        2,
        "--approx-invariance needs --group",
    ),
    case(
        "fit-approx-invariance-unknown-class",
        "fit {hs_lav} " + HS_OUT + " --group school --approx-invariance residuals --draws 5",
        2,
        "approx_invariance: unknown 'residuals'",
    ),
    case(
        "compare-group-missing-column",
        "compare {hs_lav} --data {hs} --out {out} --group shcool --draws 5 --tune 5",
        2,
        "group: 'shcool' is not a column",
        "did you mean 'school'",
        absent=("fitting",),  # refused before the fits are announced
    ),
    case(
        "compare-group-is-a-model-variable",
        "compare {hs_lav} --data {hs} --out {out} --group x1 --draws 5 --tune 5",
        2,
        "'x1' is a variable of the models",
    ),
    case(
        "compare-group-equal-unknown",
        "compare {hs_lav} --data {hs} --out {out} --group school --group-equal loading",
        2,
        "group_equal: unknown 'loading'",
        "did you mean 'loadings'",
    ),
    case(
        "compare-group-equal-without-group",
        "compare {hs_lav} --data {hs} --out {out} --group-equal loadings",
        2,
        "--group-equal and --group-partial need --group",
    ),
    case(
        "compare-group-one-group",
        "compare {hs_lav} --data {tmp}/d.csv --out {out} --group school --draws 5 --tune 5",
        2,
        "column 'school' of",
        "has 1 group(s)",
        files={"d.csv": lambda path: pd.read_csv(HS).assign(school="A").to_csv(path)},
    ),
    case(
        "compare-group-with-ordinal",
        "compare {hs_lav} --data {hs} --out {out} --group school --ordinal all",
        2,
        "--group with --ordinal is not available",
    ),
    case(
        "invariance-unknown-level",
        "invariance {hs_lav} " + HS_OUT + " --group school --levels configural,metrc",
        2,
        "unknown level 'metrc'",
        "did you mean 'metric'",
    ),
    case(
        "invariance-one-group",
        "invariance {hs_lav} {tmp}/d.csv --out {out} --group school",
        2,
        "column 'school' of",
        "has 1 group(s)",
        files={"d.csv": lambda path: pd.read_csv(HS).assign(school="A").to_csv(path)},
    ),
    case(
        "invariance-ok",
        "invariance {hs_lav} " + HS_OUT + " --group school --levels configural,metric",
        0,
        "Measurement invariance",
        "invariance.csv",
    ),
]


def _tiny_group(path: Path) -> None:
    df = pd.read_csv(HS)
    df.loc[[3, 50, 100, 200], "school"] = "Tiny"
    df.to_csv(path, index=False)


def _fill(arg: str, tmp: Path, out: Path) -> str:
    return arg.format(
        tmp=tmp,
        out=out,
        hs=HS,
        hs_lav=HS_LAV,
        literature=LITERATURE,
        experts=EXPERTS,
    )


def _listing(folder: Path) -> dict[str, bytes] | None:
    if not folder.exists():
        return None
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("c", CATALOGUE, ids=[c.id for c in CATALOGUE])
def test_catalogue(c: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # study's defaults are the shipped inputs, relative to the project
    for name, make in c.files.items():
        make(tmp_path / name)
    out = tmp_path / "out"
    argv = [_fill(a, tmp_path, out) for a in c.argv]
    before = {p: _listing(p) for p in (out, tmp_path)}
    res = RUNNER.invoke(app, argv)
    output = res.output + (res.stderr if res.stderr not in res.output else "")
    assert res.exit_code == c.code, output
    assert "Traceback" not in output and "internal error" not in output, output
    for word in c.words:
        assert word in output, f"{word!r} not in:\n{output}"
    for word in c.absent:
        assert word not in output, output
    if c.code != 0:
        assert _listing(out) == before[out], "a failed run wrote into --out"
    leftovers = [p for p in tmp_path.rglob(".*") if ".bayes-bmi" in p.name or p.suffix == ".tmp"]
    assert not leftovers, "staging folder, lock or temporary file left behind"


def test_catalogue_size() -> None:
    assert len(CATALOGUE) >= 60
    commands = {c.argv[0] for c in CATALOGUE}
    assert commands == {
        "parse",
        "ml",
        "fit",
        "compare",
        "study",
        "simulate",
        "literature",
        "experts",
        "pca",
        "reliability",
        "invariance",
    }


# ------------------------------------------------------------- interruption, two runs
def _filled(out: Path) -> dict[str, bytes] | None:
    out.mkdir()
    (out / "estimates.csv").write_text("from an earlier run\n")
    return _listing(out)


def test_ctrl_c_during_the_work_leaves_out_as_it_was(tmp_path: Path, monkeypatch) -> None:
    import bayes_bmi.api

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "out"
    before = _filled(out)
    monkeypatch.setattr(bayes_bmi.api, "sem", interrupted)
    res = RUNNER.invoke(app, ["ml", str(HS_LAV), str(HS), "--out", str(out)])
    assert res.exit_code == 130, res.output
    assert "interrupted" in res.stderr and "Traceback" not in res.output
    assert _listing(out) == before


def test_a_swallowed_ctrl_c_still_stops_before_writing(tmp_path: Path, monkeypatch) -> None:
    """nutpie returns the draws so far on Ctrl-C: the run must not write them."""
    import bayes_bmi.api
    import bayes_bmi.cli.common

    real = bayes_bmi.api.sem

    def swallowing(*args: object, **kwargs: object) -> object:
        handler = signal.getsignal(signal.SIGINT)
        try:
            handler(signal.SIGINT, None)  # Ctrl-C ...
        except KeyboardInterrupt:
            pass  # ... caught by a library that goes on
        return real(*args, **kwargs)

    monkeypatch.setattr(bayes_bmi.cli.common, "GRACE_SECONDS", 600.0)  # no hard stop in pytest
    monkeypatch.setattr(bayes_bmi.api, "sem", swallowing)
    out = tmp_path / "out"
    before = _filled(out)
    res = RUNNER.invoke(app, ["ml", str(HS_LAV), str(HS), "--out", str(out)])
    assert res.exit_code == 130, res.output
    assert _listing(out) == before


def test_a_run_that_ignores_ctrl_c_is_ended_after_the_grace_time(tmp_path: Path) -> None:
    """The hard stop: clean-ups run, exit code 130, even while a library keeps working."""
    marker = tmp_path / "cleaned"
    script = f"""
import signal, time
from pathlib import Path
from bayes_bmi.cli.common import Interruption
guard = Interruption(grace=0.5)
signal.signal(signal.SIGINT, guard)
guard.on_abort(lambda: Path({str(marker)!r}).write_text("yes"))
try:
    signal.raise_signal(signal.SIGINT)
except KeyboardInterrupt:
    pass  # swallowed
time.sleep(30)  # the library goes on
"""
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert res.returncode == 130, res.stderr
    assert time.perf_counter() - t0 < 15
    assert marker.read_text() == "yes"
    assert "interrupted" in res.stderr


def test_second_run_into_a_busy_folder_refuses(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with OutputFolder(out):  # another run is writing there
        res = RUNNER.invoke(app, ["ml", str(HS_LAV), str(HS), "--out", str(out)])
        assert res.exit_code == 2, res.output
        assert "another bayes-bmi run (process" in res.stderr
        assert f"{os.getpid()}" in res.stderr
    assert not out.exists()  # the other run made it and wrote nothing


def test_runs_one_after_the_other_replace_the_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out).mkdir()
    (out / LOCK_NAME).write_text("12345")  # left by a run that was killed: no lock held
    for _ in range(2):
        res = RUNNER.invoke(app, ["ml", str(HS_LAV), str(HS), "--out", str(out)])
        assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["estimates.csv", "fit.json", "provenance.json"]


def test_a_full_disk_is_an_error_and_leaves_out_as_it_was(tmp_path: Path, monkeypatch) -> None:
    import errno

    import bayes_bmi.io

    def full(path: Path, obj: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(bayes_bmi.io, "atomic_write_json", full)
    out = tmp_path / "out"
    before = _filled(out)
    res = RUNNER.invoke(app, ["ml", str(HS_LAV), str(HS), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "fit.json: No space left on device" in res.stderr and "Traceback" not in res.output
    assert _listing(out) == before


def test_a_killed_run_leaves_nothing_that_stops_the_next(tmp_path: Path) -> None:
    out = tmp_path / "out"
    stale = out / ".bayes-bmi-staging-0123456789ab"
    stale.mkdir(parents=True)
    (stale / "estimates.csv").write_text("half written\n")
    (out / LOCK_NAME).write_text("99999999")
    res = RUNNER.invoke(app, ["ml", str(HS_LAV), str(HS), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["estimates.csv", "fit.json", "provenance.json"]


def test_files_keep_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        out = tmp_path / "out"
        res = RUNNER.invoke(app, ["ml", str(HS_LAV), str(HS), "--out", str(out)])
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.output
    assert (out / "fit.json").stat().st_mode & 0o777 == 0o640
    assert out.stat().st_mode & 0o777 == 0o750


def test_read_only_out_is_refused(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes anywhere; a folder of /sys refuses even root
        if not Path("/sys/kernel").is_dir():
            pytest.skip("no read-only folder for root here")
        out = Path("/sys/kernel/bayes_bmi_out")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        out = locked / "out"
    res = RUNNER.invoke(app, ["ml", str(HS_LAV), str(HS), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "--out" in res.stderr and ("not writable" in res.stderr or "cannot write" in res.stderr)
    assert "Traceback" not in res.output


# ------------------------------------------------------------------ real processes
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p
    ),
}


def _cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "bayes_bmi", *(str(a) for a in args)]


def _interrupt_fit(tmp_path: Path, delay: float) -> None:
    out = tmp_path / "out"
    before = _filled(out)
    argv = _cli("fit", HS_LAV, HS, "--out", out, "--draws", 2_000_000, "--tune", 500)
    proc = subprocess.Popen(
        [*argv, "--chains", "1", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    t0 = time.perf_counter()
    stdout, stderr = proc.communicate(timeout=120)
    stopped = time.perf_counter() - t0
    assert proc.returncode == 130, stdout + stderr
    assert stopped < 10, f"took {stopped:.1f} s to stop"
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert _listing(out) == before


def test_ctrl_c_stops_a_real_fit_promptly(tmp_path: Path) -> None:
    _interrupt_fit(tmp_path, delay=4.0)  # while it loads, reads or compiles


@pytest.mark.slow
@pytest.mark.parametrize("delay", [12.0, 35.0])
def test_ctrl_c_stops_a_real_fit_while_compiling_or_sampling(tmp_path: Path, delay: float) -> None:
    _interrupt_fit(tmp_path, delay=delay)


@pytest.mark.parametrize(
    "args,words",
    [
        (("ml", "none.lav", HS, "--out", "{out}"), "no such model file"),
        (("fit", HS_LAV, HS, "--out", HS), "is a file"),
        (("fit", HS_LAV, HS, "--out", "{out}", "--target-accept", "2"), "--target-accept"),
        (("study", "--out", "{out}", "--seed", "-1"), "--seed"),
        (("study", "--out", "{out}", "--literature", "none.csv"), "--literature"),
        (("pca", "none.csv", "--out", "{out}", "--items-prefix", "x"), "no such data file"),
        (("reliability", HS_LAV, HS, "--out", "{out}", "--missing-codes", "n/a"), "not a number"),
    ],
    ids=[
        "ml-missing",
        "fit-out-file",
        "fit-target-accept",
        "study-seed",
        "study-literature",
        "pca-missing",
        "reliability-codes",
    ],
)
def test_a_user_error_is_reported_before_the_numerical_stack_loads(
    tmp_path: Path, args: tuple, words: str
) -> None:
    # how long these take is measured by scripts/bench_errors.py (no timed tests); here: a new
    # process reports the error, writes nothing and has not imported the heavy packages
    out = tmp_path / "o"
    argv = [str(a).replace("{out}", str(out)) for a in args]
    code = (
        "import sys\n"
        "from bayes_bmi.cli import app\n"
        f"sys.argv = ['bayes-bmi', *{argv!r}]\n"
        "try:\n"
        "    app()\n"
        "finally:\n"
        "    heavy = ('numba', 'nutpie', 'pymc', 'pytensor', 'arviz', 'matplotlib')\n"
        "    print('loaded:', sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=60
    )
    assert res.returncode == 2, res.stderr
    assert words in res.stderr and "Traceback" not in res.stderr
    assert "loaded: []" in res.stderr, res.stderr
    assert not out.exists()


# ---------------------------------------------------------------- reading, numbers, API
def test_spss_value_labels_are_metadata(tmp_path: Path) -> None:
    from bayes_bmi.data import read_value_labels

    path = tmp_path / "s.sav"
    labelled_sav(path)
    df = read_data(path)
    assert df["TI1"].dtype.kind == "f" and set(df["TI1"].unique()) <= {1, 2, 3, 4, 5}
    assert read_value_labels(path)["TI1"][5.0] == "agree"
    assert read_value_labels(HS) == {}


def test_excel_duplicate_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.xlsx"
    pd.DataFrame([[1, 2, 3]], columns=["a", "b", "c"]).set_axis(["a", "b", "a"], axis=1).to_excel(
        path, index=False
    )
    with pytest.raises(BayesBmiError, match=r"used more than once: 'a' \(columns 1, 3\)"):
        read_data(path)


def test_missing_codes_give_the_clean_numbers(tmp_path: Path) -> None:
    """-999 in three cells: with --missing-codes the PCA equals that of the clean rows."""
    coded, clean = tmp_path / "coded.csv", tmp_path / "clean.csv"
    survey_items(with_cells("TI1", [0, 1, 2], -999))(coded)
    survey_items(lambda d: d.drop(index=[0, 1, 2]))(clean)
    loadings = {}
    for name, path, extra in (("coded", coded, ["--missing-codes", "-999"]), ("clean", clean, [])):
        out = tmp_path / name
        argv = ["pca", str(path), "--out", str(out), "--items-prefix", "TI,MD", *extra]
        res = RUNNER.invoke(app, [*argv, "--parallel-iter", "20"])
        assert res.exit_code == 0, res.output
        loadings[name] = pd.read_csv(out / "pca_loadings.csv")
    pd.testing.assert_frame_equal(loadings["coded"], loadings["clean"])
    assert loadings["clean"].select_dtypes("number").abs().max().max() > 0.6


def test_api_missing_codes_and_warning() -> None:
    import bayes_bmi as bb
    from bayes_bmi.errors import DataWarning, OptionError

    df = pd.read_csv(HS)
    df.loc[[3, 50, 200], "x1"] = -999
    with pytest.warns(DataWarning, match="column 'x1' holds -999 in 3 rows"):
        bb.sem(HS_TEXT, df, method="ml")
    fit = bb.sem(HS_TEXT, df, method="ml", missing_codes=[-999], missing="listwise")
    assert fit.nobs == 298
    fit = bb.sem(HS_TEXT, df, method="ml", missing_codes=[-999])  # FIML keeps every case
    assert (fit.missing, fit.nobs) == ("fiml", 301)
    with pytest.raises(OptionError, match="missing_codes"):
        bb.sem(HS_TEXT, df, method="ml", missing_codes="-999")
    with pytest.raises(OptionError, match="sheet applies to an Excel file"):
        bb.sem(HS_TEXT, df, method="ml", sheet="Data")


def test_suspicious_values_are_only_code_like_and_far_out() -> None:
    from bayes_bmi.data import missing_code_warnings

    rng = np.random.default_rng(1)
    likert = pd.Series(rng.integers(1, 6, 200).astype(float))
    scores = pd.Series(rng.normal(5, 1.2, 200))
    df = pd.DataFrame(
        {
            "nine_in_1_to_9": pd.Series(rng.integers(1, 10, 200)),  # 9 is an answer
            "ninety_nine": likert.where(likert.index != 7, 99),
            "minus_one": likert.where(likert.index != 7, -1),
            "eight_in_1_to_7": pd.Series(rng.integers(1, 8, 200)).where(lambda s: s.index != 3, 8),
            "scores_with_9": scores.where(scores.index != 4, 9.0),
            "scores_with_999": scores.where(scores.index != 4, 999.0),
            "large_but_not_code": likert.where(likert.index != 7, 50),
        }
    )
    found = " ".join(missing_code_warnings(df, list(df.columns), "d"))
    for name in ("ninety_nine", "minus_one", "scores_with_999"):
        assert f"'{name}'" in found
    for name in ("nine_in_1_to_9", "eight_in_1_to_7", "scores_with_9", "large_but_not_code"):
        assert f"'{name}'" not in found


def test_rmsea_interval_of_an_infinite_chisq_is_nan_at_once() -> None:
    from bayes_bmi.ml.fitmeasures import rmsea_ci

    t0 = time.perf_counter()
    for chisq in (float("inf"), float("nan"), -1.0):
        lo, hi = rmsea_ci(chisq, 24, 301)
        assert np.isnan(lo) and np.isnan(hi)
    lo, hi = rmsea_ci(1e300, 24, 301)  # huge but finite: bounded search, an answer or NaN
    assert time.perf_counter() - t0 < 5
    assert np.isnan(hi) or hi > 1


def test_study_reads_missing_codes_and_truth_with_the_inputs(tmp_path: Path) -> None:
    from bayes_bmi.study.config import StudyConfig
    from bayes_bmi.study.stages import read_inputs

    data = tmp_path / "s.csv"
    pd.read_csv(SURVEY).assign(TI2=lambda d: d["TI2"].mask(d.index.isin([2, 9]), -999)).to_csv(
        data, index=False
    )
    truth = tmp_path / "t.json"
    truth_file(truth)
    config = StudyConfig(
        data=data,
        model=MODELS / "bmi_drivers.lav",
        hypotheses=MODELS / "bmi_drivers.hypotheses.toml",
        truth=truth,
        missing_codes=(-999.0,),
    )
    inputs = read_inputs(config)
    assert inputs.data["TI2"].isna().sum() == 2
    assert inputs.truth is not None and inputs.truth.paths


# ------------------------------------------------------------------------------ fuzz
TOKENS = [
    "f",
    "g",
    "x1",
    "x2",
    "x3",
    "y",
    "=~",
    "~",
    "~~",
    "~1",
    "~ 1",
    ":=",
    "==",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "^",
    "(",
    ")",
    "start(",
    "prior(",
    'prior("normal(0, 1)")',
    '"',
    "NA",
    "1",
    "-1",
    "0.5",
    "1e400",
    "nan",
    "inf",
    "a",
    "b",
    "label(",
    "c(",
    ",",
    "\n",
    ";",
    "#",
    "!",
    " ",
    "\t",
    "é",
    "\x00",
    "1x",
    "_",
    ".",
]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join) | st.text(max_size=80))
def test_fuzz_the_parser_raises_only_its_own_errors(source: str) -> None:
    from bayes_bmi.bayes.parameters import param_spec

    try:
        parse_model(source)
        param_spec(specify(source))
    except BayesBmiError:
        pass


CELLS = [
    "1",
    "2",
    "3.5",
    "-999",
    "99",
    "",
    "NA",
    ".",
    "abc",
    "1e300",
    "inf",
    "-inf",
    "nan",
    '"',
    '""',
    "1,5",
    "x1",
    "é",
]
ROW = st.lists(st.sampled_from(CELLS), min_size=0, max_size=5)
SEP = st.sampled_from([",", ";", "\t"])


@st.composite
def tables(draw: st.DrawFn) -> bytes:
    sep = draw(SEP)
    rows = draw(st.lists(ROW, max_size=8))
    header = draw(st.lists(st.sampled_from(["x1", "x2", "x3", "", "x1", "é", "a b"]), max_size=5))
    content = "\n".join(sep.join(r) for r in [header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]))
    return content.encode(encoding, errors="replace")


@settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(tables() | st.binary(max_size=200))
def test_fuzz_data_reading_raises_only_its_own_errors(content: bytes) -> None:
    from bayes_bmi.data import missing_code_warnings

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "d.csv"
        path.write_bytes(content)
        try:
            df = read_data(path, missing_codes=[-999])
            columns = [str(c) for c in df.columns][:3]
            missing_code_warnings(df, columns, "d.csv")
            stats = sample_stats(df, columns, "d.csv")
            assert np.isfinite(stats.cov).all()
        except BayesBmiError:
            pass


def test_early_checks_know_what_the_library_knows() -> None:
    """The command line checks options before the library loads: the same lists, said once."""
    from bayes_bmi.bayes.sampling import SAMPLERS
    from bayes_bmi.cli import common
    from bayes_bmi.data import DATA_FORMATS

    assert common.SAMPLERS == SAMPLERS
    assert common.DATA_SUFFIXES == DATA_FORMATS
