"""Shipped examples: data sets as DataFrames, example files, the study's defaults, `examples`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import bayes_bmi as bb
from bayes_bmi import datasets
from bayes_bmi.cli.main import app
from bayes_bmi.errors import OptionError
from bayes_bmi.study.config import EXAMPLE_INPUTS, StudyConfig, example_input
from conftest import DATA, ROOT

RUNNER = CliRunner()


def test_list_names_every_data_set_with_its_source():
    table = bb.datasets.list()
    assert list(table.columns) == ["name", "description", "source", "file"]
    assert {"bmi_survey", "HolzingerSwineford1939", "PoliticalDemocracy", "bfi"} <= set(
        table["name"]
    )
    assert table["source"].str.len().min() > 10
    assert "lavaan" in table.set_index("name").at["HolzingerSwineford1939", "source"]
    assert "psych" in table.set_index("name").at["bfi", "source"]


@pytest.mark.parametrize(
    ("name", "shape", "column"),
    [
        ("bmi_survey", (632, 51), "TI1"),
        ("HolzingerSwineford1939", (301, 11), "x9"),
        ("PoliticalDemocracy", (75, 11), "y8"),
        ("bfi", (2800, 28), "O5"),
        ("bmi_codebook", (46, 5), "wording_en"),
        ("expert_ratings", (15, 13), "value_capture"),
    ],
)
def test_load_returns_the_data_set(name, shape, column):
    df = bb.datasets.load(name)
    assert isinstance(df, pd.DataFrame) and df.shape == shape and column in df.columns


def test_bfi_keeps_its_missing_cells_and_equals_the_reference_copy():
    bfi = datasets.load("bfi")
    assert int(bfi.loc[:, "A1":"O5"].isna().sum().sum()) == 508
    assert datasets.path("bfi").read_bytes() == (DATA / "missing/bfi.csv").read_bytes()


def test_unknown_names_are_refused_with_the_list():
    with pytest.raises(OptionError, match="Must be one of: bmi_survey"):
        datasets.load("nosuch")
    with pytest.raises(OptionError, match="no such data set or example file"):
        datasets.path("models/nosuch.lav")
    with pytest.raises(OptionError, match="no such"):
        datasets.path("../pyproject.toml")  # nothing outside the examples


def test_example_files_are_the_repository_folders_in_a_checkout():
    files = datasets.files()
    assert "models/bmi_drivers.lav" in files and "data/ground_truth.json" in files
    assert "data/HolzingerSwineford1939.csv" in files
    assert datasets.path("models/hs_cfa.lav") == ROOT / "models/hs_cfa.lav"
    assert datasets.path("HolzingerSwineford1939") == DATA / "HolzingerSwineford1939.csv"
    assert set(datasets.example_files()) == set(files)
    for d in datasets.DATASETS:
        assert d.file in files, d


def test_the_wheel_maps_exactly_the_files_the_loader_knows():
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    mapped = build["targets"]["wheel"]["force-include"]
    assert mapped["models"] == "bayes_bmi/examples/models"
    assert mapped["data"] == "bayes_bmi/examples/data"
    for name, where in datasets.IN_CHECKOUT.items():
        assert mapped[where] == f"bayes_bmi/examples/{name}"
        assert (ROOT / where).is_file()


def test_an_installed_package_reads_its_examples_folder(tmp_path, monkeypatch):
    """Where bayes_bmi/examples exists (an installed wheel), the loader reads it."""
    root = tmp_path / "examples"
    (root / "data").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "data/HolzingerSwineford1939.csv").write_text("x1\n1\n")
    (root / "models/m.lav").write_text("f =~ x1\n")
    monkeypatch.setattr(datasets, "examples_root", lambda: root)
    assert datasets.files() == ["data/HolzingerSwineford1939.csv", "models/m.lav"]
    assert datasets.load("HolzingerSwineford1939").shape == (1, 1)


def test_study_defaults_come_from_the_working_folder_or_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert example_input("data/bmi_survey.csv") == Path("data/bmi_survey.csv")
    monkeypatch.chdir(tmp_path)  # no data/ here: the shipped copy
    assert example_input("data/bmi_survey.csv") == ROOT / "data/bmi_survey.csv"
    config = StudyConfig.example()
    assert config.model == ROOT / EXAMPLE_INPUTS["model"]
    assert len(config.alternatives) == 2 and config.truth == ROOT / "data/ground_truth.json"
    (tmp_path / "data").mkdir()
    (tmp_path / "data/bmi_survey.csv").write_text("mine\n")
    assert example_input("data/bmi_survey.csv") == Path("data/bmi_survey.csv")


def test_examples_command_copies_everything_and_does_not_overwrite(tmp_path):
    out = tmp_path / "ex"
    res = RUNNER.invoke(app, ["examples", "--out", str(out)])
    assert res.exit_code == 0, res.output
    copied = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert copied == datasets.files()
    assert (out / "models/bmi_drivers.lav").read_bytes() == (
        ROOT / "models/bmi_drivers.lav"
    ).read_bytes()
    (out / "models/bmi_drivers.lav").write_text("# edited\n")
    res = RUNNER.invoke(app, ["examples", "--out", str(out)])
    assert res.exit_code == 2 and "already holds" in res.stderr and "--force" in res.stderr
    assert (out / "models/bmi_drivers.lav").read_text() == "# edited\n"
    res = RUNNER.invoke(app, ["examples", "--out", str(out), "--force"])
    assert res.exit_code == 0, res.output
    assert (out / "models/bmi_drivers.lav").read_bytes() == (
        ROOT / "models/bmi_drivers.lav"
    ).read_bytes()
