"""Provenance in every output and ``bayes-bmi rerun``: same seed, same tables; changes named."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig
from bayes_bmi.cli.main import app
from bayes_bmi.errors import OptionError
from bayes_bmi.provenance import (
    PROVENANCE_NAME,
    InputFile,
    Provenance,
    _git_commit,
    collect,
    compare_tables,
    package_versions,
    read_provenance,
    rerun_arguments,
    verify_inputs,
    version_changes,
)
from bayes_bmi.study.config import StudyConfig
from conftest import DATA, MODELS, ROOT

RUNNER = CliRunner()
HS = DATA / "HolzingerSwineford1939.csv"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- records
def test_collect_records_versions_python_platform_and_inputs(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,b\n1,2\n")
    prov = collect(
        "fit",
        argv=["fit", "m.lav", str(data)],
        seed=7,
        inputs={"data": data, "alternative": [MODELS / "hs_cfa.lav"], "truth": None},
        examples={"models/hs_cfa.lav": MODELS / "hs_cfa.lav"},
        settings={"path": tmp_path, "draws": 10},
    )
    assert prov.seed == 7 and prov.command == "fit"
    assert prov.python == sys.version.split()[0]
    assert prov.packages["pymc"] == metadata.version("pymc")
    assert prov.packages["numpy"] == metadata.version("numpy")
    assert "numba" in prov.packages  # required by what bayes-bmi requires: the whole closure
    assert [f.role for f in prov.inputs] == ["data", "alternative"]
    assert prov.inputs[0].sha256 == _sha(data) and prov.inputs[0].size == 8
    assert prov.inputs[0].example is None and prov.inputs[1].example == "models/hs_cfa.lav"
    assert prov.settings == {"path": str(tmp_path), "draws": 10}
    assert prov.command_line().startswith("bayes-bmi fit m.lav ")
    doc = json.loads(json.dumps(prov.to_dict()))
    assert Provenance.from_dict(doc) == prov
    attrs = prov.attrs()
    assert attrs["seed"] == 7 and json.loads(attrs["provenance"])["seed"] == 7
    assert all(isinstance(v, str | int) for v in attrs.values())


def test_package_versions_skips_what_is_not_installed():
    versions = package_versions(["numpy", "no-such-package-here"])
    assert versions == {"numpy": metadata.version("numpy")}


def test_git_commit_is_read_from_the_checkout(tmp_path):
    assert _git_commit(tmp_path) is None
    git = tmp_path / ".git"
    (git / "refs/heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    assert _git_commit(tmp_path) is None  # no such ref yet
    (git / "packed-refs").write_text("# pack-refs\n" + "a" * 40 + " refs/heads/main\n")
    assert _git_commit(tmp_path) == "a" * 40
    (git / "refs/heads/main").write_text("b" * 40 + "\n")
    assert _git_commit(tmp_path) == "b" * 40
    (git / "HEAD").write_text("c" * 40 + "\n")  # detached
    assert _git_commit(tmp_path) == "c" * 40


def _record(tmp_path: Path, content: str = "x\n") -> tuple[Provenance, Path]:
    f = tmp_path / "in.csv"
    f.write_text(content)
    prov = collect("ml", argv=["ml", "m.lav", str(f), "--out", "o"], inputs={"data": f})
    return prov, f


def test_verify_inputs_names_changed_and_missing_files(tmp_path):
    prov, f = _record(tmp_path)
    assert [c.status for c in verify_inputs(prov)] == ["same"]
    f.write_text("y\n")
    (check,) = verify_inputs(prov)
    assert check.status == "changed" and str(f) in check.describe()
    assert "SHA-256 was" in check.describe()
    f.unlink()
    (check,) = verify_inputs(prov)
    assert check.status == "missing" and check.describe().startswith(f"missing: {f}")


def test_an_example_input_is_found_in_another_installation(tmp_path):
    example = tmp_path / "now" / "hs.lav"
    example.parent.mkdir()
    shutil.copyfile(MODELS / "hs_cfa.lav", example)
    gone = InputFile("model", "m.lav", str(tmp_path / "then/hs.lav"), _sha(example), 162, "hs")
    prov = Provenance("ml", ("ml", "m.lav", "d.csv"), str(tmp_path), None, inputs=(gone,))
    (check,) = verify_inputs(prov, {"hs": example})
    assert check.status == "same" and check.found == str(example)
    args = rerun_arguments(prov, [check], tmp_path / "new")
    assert args == ["ml", str(example), "d.csv", "--out", str(tmp_path / "new")]


def test_rerun_arguments_need_a_command_line(tmp_path):
    prov = Provenance("python", None, str(tmp_path), 1)
    with pytest.raises(OptionError, match="no command line"):
        rerun_arguments(prov, [], tmp_path)


def test_version_changes_are_listed():
    prov = Provenance("ml", (), "", None, packages={"numpy": "0.1", "pandas": "9"})
    now = {"numpy": "0.1", "pandas": "3"}
    assert version_changes(prov, now) == ["pandas 9 -> 3"]


def test_read_provenance_refuses_a_folder_without_one(tmp_path):
    with pytest.raises(OptionError, match="no provenance.json"):
        read_provenance(tmp_path)
    (tmp_path / PROVENANCE_NAME).write_text('{"schema": 1}')
    with pytest.raises(OptionError, match="not a provenance record"):
        read_provenance(tmp_path)


def test_compare_tables_finds_the_first_difference(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "sub").mkdir(parents=True)
        (d / "same.csv").write_text("x,y\n1,2\n")
        (d / "sub/deep.csv").write_text("x\n1\n")
        (d / ".hidden.csv").write_text(str(d))  # a temporary file: not a table
    (a / "est.csv").write_text("lhs,est\nf,0.5123\ng,1\n")
    (b / "est.csv").write_text("lhs,est\nf,0.5124\ng,1\n")
    (a / "gone.csv").write_text("x\n")
    (b / "new.csv").write_text("x\n")
    cmp = compare_tables(a, b)
    assert cmp.identical == ("same.csv", "sub/deep.csv")
    assert cmp.differ == ("est.csv (line 2, column est: 0.5123 vs 0.5124)",)
    assert cmp.missing == ("gone.csv",) and cmp.extra == ("new.csv",)
    assert not cmp.same and "2 of 4 identical" in cmp.describe()
    assert compare_tables(a, a).same


# ------------------------------------------------------------------- command line
def test_ml_records_provenance_and_rerun_reproduces_it(tmp_path, monkeypatch):
    data = tmp_path / "hs.csv"
    shutil.copyfile(HS, data)
    monkeypatch.chdir(tmp_path)
    res = RUNNER.invoke(app, ["ml", str(MODELS / "hs_cfa.lav"), "hs.csv", "--out", "out"])
    assert res.exit_code == 0, res.output
    prov = json.loads((tmp_path / "out/provenance.json").read_text())
    assert prov["argv"] == ["ml", str(MODELS / "hs_cfa.lav"), "hs.csv", "--out", "out"]
    assert prov["cwd"] == str(tmp_path)
    assert {f["role"]: f["sha256"] for f in prov["inputs"]} == {
        "model": _sha(MODELS / "hs_cfa.lav"),
        "data": _sha(data),
    }
    fit = json.loads((tmp_path / "out/fit.json").read_text())
    assert fit["provenance"]["packages"] == prov["packages"]

    res = RUNNER.invoke(app, ["rerun", "out"])
    assert res.exit_code == 0, res.output
    assert "inputs: 2 of 2 unchanged" in res.output
    assert "tables: 1 of 1 identical" in res.output and "same: the rerun reproduced" in res.output

    text = data.read_text().splitlines()
    text[1] = "9" + text[1][1:]  # one answer changed
    data.write_text("\n".join(text) + "\n")
    res = RUNNER.invoke(app, ["rerun", "out", "--keep", "again"])
    assert res.exit_code == 1, res.output
    assert "changed: hs.csv (data; SHA-256 was" in res.output
    assert "differs: estimates.csv (line " in res.output
    assert "changed input file(s): hs.csv" in res.output
    assert (tmp_path / "again/estimates.csv").is_file()

    data.unlink()
    res = RUNNER.invoke(app, ["rerun", "out"])
    assert res.exit_code == 2 and "input file(s) missing: hs.csv" in res.stderr


def test_rerun_of_a_folder_without_a_record_is_an_error(tmp_path):
    res = RUNNER.invoke(app, ["rerun", str(tmp_path)])
    assert res.exit_code == 2 and "no provenance.json there" in res.stderr
    res = RUNNER.invoke(app, ["rerun", str(tmp_path / "nosuch")])
    assert res.exit_code == 2 and "no such folder" in res.stderr
    res = RUNNER.invoke(app, ["study", "--rerun", str(tmp_path)])
    assert res.exit_code == 2 and "no provenance.json there" in res.stderr


def test_study_command_line_is_recorded_only_when_one_expresses_it(tmp_path):
    config = StudyConfig(
        data=Path("d.csv"),
        model=Path("m.lav"),
        hypotheses=Path("h.toml"),
        alternatives=(Path("a.lav"),),
        truth=Path("t.json"),
        sampler=SamplerConfig(draws=5, tune=6, chains=2, seed=9, progress=False),
        compare=False,
        missing_codes=(-9.0, 99.0),
        sheet="S",
    )
    assert config.command_line("res") == [
        "study",
        "--data",
        "d.csv",
        "--model",
        "m.lav",
        "--hypotheses",
        "h.toml",
        "--out",
        "res",
        "--alternative",
        "a.lav",
        "--truth",
        "t.json",
        "--draws",
        "5",
        "--tune",
        "6",
        "--chains",
        "2",
        "--seed",
        "9",
        "--no-compare",
        "--missing-codes",
        "-9.0,99.0",
        "--sheet",
        "S",
    ]
    import dataclasses

    other = dataclasses.replace(config, sampler=SamplerConfig(target_accept=0.95))
    assert other.command_line("res") is None
    assert dataclasses.replace(config, scale=(1, 7)).command_line("res") is None


@pytest.fixture(scope="module")
def cache():
    return CompileCache()


@pytest.mark.slow
def test_two_study_runs_with_the_same_seed_give_identical_tables(tmp_path, cache, monkeypatch):
    """``bayes-bmi study`` twice (the second by ``--rerun``): every table the same."""
    from bayes_bmi.cli import main

    monkeypatch.setattr(main, "_compile_cache", lambda: cache)
    monkeypatch.chdir(tmp_path)  # no data/ here: the defaults are the shipped examples
    few = ["--draws", "60", "--tune", "60", "--chains", "2", "--seed", "5", "--no-compare"]
    res = RUNNER.invoke(app, ["study", "--out", "res", *few])
    assert res.exit_code in (0, 1), res.output  # 1: written, but 60 draws do not converge
    out = tmp_path / "res"
    prov = json.loads((out / PROVENANCE_NAME).read_text())
    assert prov["seed"] == 5 and prov["command"] == "study"
    by_role = {f["role"]: f for f in prov["inputs"]}
    assert by_role["data"]["example"] == "data/bmi_survey.csv"
    assert by_role["data"]["sha256"] == _sha(ROOT / "data/bmi_survey.csv")
    assert by_role["model"]["resolved"] == str(ROOT / "models/bmi_drivers.lav")
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["provenance"]["argv"] == prov["argv"] and diag["seed"] == 5
    report = (out / "report.md").read_text()
    last = report.split("\n## ")[-1]
    assert last.splitlines()[0].endswith(". Provenance")  # the report's last section
    assert by_role["data"]["sha256"] in last and f"| pymc | {metadata.version('pymc')} |" in last
    with xr.open_datatree(out / "posterior.nc", engine="h5netcdf") as tree:
        assert json.loads(tree.attrs["provenance"])["argv"] == prov["argv"]
        assert tree.attrs["seed"] == 5

    res = RUNNER.invoke(app, ["rerun", "res", "--keep", "again"])
    assert res.exit_code == 0, res.output
    assert "inputs: 3 of 3 unchanged" in res.output and "versions: as recorded" in res.output
    n = len(list(out.glob("*.csv")))
    assert n >= 15 and f"tables: {n} of {n} identical" in res.output
    for table in out.glob("*.csv"):  # and the comparison itself can see a difference
        pd.testing.assert_frame_equal(
            pd.read_csv(table), pd.read_csv(tmp_path / "again" / table.name)
        )
    (tmp_path / "again/key_drivers.csv").write_text("driver\nTI\n")
    assert not compare_tables(out, tmp_path / "again").same

    res = RUNNER.invoke(app, ["study", "--rerun", "res"])  # the spelling of it
    assert res.exit_code == 0 and f"tables: {n} of {n} identical" in res.output, res.output
