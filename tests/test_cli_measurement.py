"""Measurement commands: files written, summaries printed, clean failures that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from bayes_bmi.cli.measurement import register

ROOT = Path(__file__).resolve().parents[1]
HS = ROOT / "tests" / "data" / "HolzingerSwineford1939.csv"
LITERATURE = ROOT / "data" / "literature" / "bm_elements.csv"
EXPERTS = ROOT / "data" / "experts" / "ratings_example.csv"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

RUNNER = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    return application


def run(app: typer.Typer, *args: object):  # noqa: ANN201
    return RUNNER.invoke(app, [str(a) for a in args])


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC


def assert_failed_cleanly(res, out: Path, fragment: str) -> None:  # noqa: ANN001
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: ")
    assert fragment in res.stderr
    assert not out.exists()


def test_literature(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "lit"
    res = run(app, "literature", LITERATURE, "--out", out, "--threshold", "0.6")
    assert res.exit_code == 0, res.output
    freq = pd.read_csv(out / "literature_frequencies.csv")
    assert list(freq.columns) == ["element", "count", "share", "selected"]
    assert freq["element"].iloc[0] == "value_proposition"
    summary = json.loads((out / "literature_summary.json").read_text())
    assert summary["n_studies"] == 13
    assert summary["selected"] == freq.loc[freq["selected"], "element"].tolist()
    assert_png(out / "literature_frequencies.png")
    assert "in 13 studies" in res.stdout
    assert not list(out.glob(".*tmp"))


def test_literature_bad_cell(app: typer.Typer, tmp_path: Path) -> None:
    table = pd.read_csv(LITERATURE)
    table.loc[4, "channels"] = 3
    bad = tmp_path / "bad.csv"
    table.to_csv(bad, index=False)
    out = tmp_path / "lit"
    res = run(app, "literature", bad, "--out", out)
    assert_failed_cleanly(res, out, "row 5, column 'channels'")


def test_experts(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    res = run(app, "experts", EXPERTS, "--out", out, "--min-mean", "4", "--max-cv", "0.2")
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "experts_screening.csv")
    assert len(table) == 12
    assert table["passes"].tolist() == ((table["mean"] >= 4) & (table["cv"] <= 0.2)).tolist()
    summary = json.loads((out / "experts_summary.json").read_text())
    assert summary["n_experts"] == 15
    assert summary["kendall_w"] == pytest.approx(0.305592039800995, rel=1e-9)  # R, see README
    assert "Kendall's W = 0.306" in res.stdout
    assert_png(out / "experts_screening.png")


def test_experts_out_of_range(app: typer.Typer, tmp_path: Path) -> None:
    table = pd.read_csv(EXPERTS)
    table.loc[2, "value_network"] = 9
    bad = tmp_path / "bad.csv"
    table.to_csv(bad, index=False)
    out = tmp_path / "exp"
    res = run(app, "experts", bad, "--out", out)
    assert_failed_cleanly(res, out, "row 3 (expert E03), column 'value_network': rating 9")


def test_pca(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "pca"
    res = run(
        app,
        "pca",
        HS,
        "--items",
        "x1,x2,x3,x4,x5,x6,x7,x8,x9",
        "--out",
        out,
        "--rotation",
        "promax",
        "--parallel-iter",
        "200",
    )
    assert res.exit_code == 0, res.output
    for name in (
        "eigenvalues",
        "loadings",
        "assignment",
        "rotated_variance",
        "kmo",
        "component_correlations",
    ):
        assert (out / f"pca_{name}.csv").is_file(), name
    assert_png(out / "pca_scree.png")
    assert_png(out / "pca_loadings.png")
    summary = json.loads((out / "pca_summary.json").read_text())
    assert summary["n_components"] == 3 and summary["rotation"] == "promax"
    assert summary["kmo"] == pytest.approx(0.752244592603047, abs=1e-12)  # psych::KMO
    assignment = pd.read_csv(out / "pca_assignment.csv").set_index("item")["component"]
    assert assignment[["x1", "x2", "x3"]].nunique() == 1
    assert "KMO = 0.752" in res.stdout


def test_pca_prefix_selects_items(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "pca"
    res = run(
        app,
        "pca",
        HS,
        "--items-prefix",
        "x",
        "--out",
        out,
        "--rotation",
        "none",
        "--n-components",
        "2",
        "--parallel-iter",
        "50",
    )
    assert res.exit_code == 0, res.output
    loadings = pd.read_csv(out / "pca_loadings.csv")
    assert loadings["item"].tolist() == [f"x{i}" for i in range(1, 10)]
    assert list(loadings.columns) == ["item", "pc1", "pc2", "communality"]
    assert not (out / "pca_component_correlations.csv").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((), "--items"),
        (("--items", "x1,x2,x33"), "'x33' (did you mean"),
        (("--items-prefix", "x1,sch"), "row 1, column 'school': 'Pasteur' is not a number"),
        (("--items", "x1,x2", "--rotation", "quartimax"), "Must be one of"),
    ],
)
def test_pca_bad_requests(app: typer.Typer, tmp_path: Path, args: tuple, fragment: str) -> None:
    out = tmp_path / "pca"
    res = run(app, "pca", HS, "--out", out, *args)
    assert_failed_cleanly(res, out, fragment)


def test_pca_fewer_rows_than_items(app: typer.Typer, tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    pd.read_csv(HS).head(5).to_csv(small, index=False)
    out = tmp_path / "pca"
    res = run(app, "pca", small, "--items-prefix", "x", "--out", out)
    assert_failed_cleanly(res, out, "5 complete row(s) (of 5) for 9 items")


def test_reliability(app: typer.Typer, tmp_path: Path) -> None:
    model = tmp_path / "hs.lav"
    model.write_text("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n")
    out = tmp_path / "rel"
    res = run(app, "reliability", model, HS, "--out", out)
    assert res.exit_code == 0, res.output
    constructs = pd.read_csv(out / "reliability_constructs.csv").set_index("construct")
    ref = pd.read_csv(ROOT / "tests" / "data" / "measurement" / "hs_cr_ave.csv")
    assert constructs.loc["textual", "cr"] == pytest.approx(ref["cr_std"].iloc[1], abs=1e-6)
    for name in ("items", "latent_correlations", "fornell_larcker", "htmt", "pairs"):
        assert (out / f"reliability_{name}.csv").is_file(), name
    summary = json.loads((out / "reliability_summary.json").read_text())
    assert summary["fit"]["df"] == 24
    assert_png(out / "reliability_htmt.png")


def test_reliability_bad_model(app: typer.Typer, tmp_path: Path) -> None:
    model = tmp_path / "bad.lav"
    model.write_text("visual =~ x1 + + x3\n")
    out = tmp_path / "rel"
    res = run(app, "reliability", model, HS, "--out", out)
    assert_failed_cleanly(res, out, "bad.lav")


def test_missing_input_file(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    res = run(app, "experts", tmp_path / "nope.csv", "--out", out)
    assert_failed_cleanly(res, out, "no such data file")
