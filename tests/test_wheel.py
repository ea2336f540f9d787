"""The wheel works outside the repository: built, installed with the lock, run elsewhere.

``pip wheel`` builds it (hatchling from the package index, as any build), a fresh venv in a
temporary folder gets it with ``-c requirements.lock``, and from another temporary folder
``bayes-bmi study`` (no inputs given: the shipped example, few draws), ``bayes-bmi examples``
and ``bb.sem()`` on a shipped data set run. Nothing may come from the repository: PYTHONPATH is
cleared and the package must be imported from the venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict[str, float]]:
    """(wheel, venv's bin folder, seconds per step)."""
    base = tmp_path_factory.mktemp("wheel")
    assert not base.resolve().is_relative_to(ROOT.resolve())
    seconds = {}
    t0 = time.perf_counter()
    done = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", "dist", str(ROOT)], base)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (base / "dist").glob("bayes_bmi-*.whl")
    seconds["build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    done = _run([sys.executable, "-m", "venv", "venv"], base)
    assert done.returncode == 0, done.stderr
    bin_ = base / "venv/bin"
    # --no-compile: byte-compiling every installed module is most of an install's time
    # (scipy, pandas, pytensor: 151 s with, 46 s without, loaded machine); the modules the
    # runs below import are compiled when first imported
    pip = [str(bin_ / "python"), "-m", "pip", "install", "--quiet", "--no-compile"]
    done = _run([*pip, "-c", str(ROOT / "requirements.lock"), str(wheel)], base, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    seconds["install"] = time.perf_counter() - t0
    return wheel, bin_, seconds


def test_the_wheel_carries_the_examples(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in (
        "models/bmi_drivers.lav",
        "models/bmi_drivers.hypotheses.toml",
        "models/hs_cfa.lav",
        "data/bmi_survey.csv",
        "data/ground_truth.json",
        "data/codebook.csv",
        "data/literature/bm_elements.csv",
        "data/experts/ratings_example.csv",
        "data/HolzingerSwineford1939.csv",
        "data/PoliticalDemocracy.csv",
        "data/bfi.csv",
        "data/README.md",
    ):
        assert f"bayes_bmi/examples/{f}" in names, f
    assert not any(n.startswith("bayes_bmi/examples/tests") for n in names)


def test_the_installed_venv_is_the_lock(installed):
    _, bin_, _ = installed
    from test_lock import parse_pins

    freeze = _run([str(bin_ / "python"), "-m", "pip", "freeze"], bin_).stdout.splitlines()
    direct = [line for line in freeze if " @ " in line]  # the wheel, installed from its file
    assert len(direct) == 1 and direct[0].startswith("bayes-bmi @ file:"), direct
    pins = parse_pins("\n".join(line for line in freeze if "==" in line))
    locked = parse_pins((ROOT / "requirements.lock").read_text())
    assert {k: v for k, v in locked.items() if k in pins} == pins  # the lock's versions ...
    assert "pytest" not in pins  # ... of the runtime set only (no test extras)


def test_study_and_api_run_from_another_folder(installed, tmp_path):
    _, bin_, seconds = installed
    t0 = time.perf_counter()
    few = ["--draws", "60", "--tune", "60", "--chains", "2", "--no-compare", "--out", "res"]
    done = _run([str(bin_ / "bayes-bmi"), "study", *few], tmp_path)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: too few draws to converge
    seconds["study"] = time.perf_counter() - t0
    assert (tmp_path / "res/report.md").is_file() and (tmp_path / "res/hypotheses.csv").is_file()
    prov = json.loads((tmp_path / "res/provenance.json").read_text())
    data = next(f for f in prov["inputs"] if f["role"] == "data")
    assert data["example"] == "data/bmi_survey.csv"
    assert "/site-packages/bayes_bmi/examples/" in data["resolved"]
    assert prov["packages"]["bayes-bmi"] == "0.1.0" and prov["source"] is None

    done = _run([str(bin_ / "bayes-bmi"), "examples", "--out", "ex"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "ex/models/bmi_drivers.lav").is_file()
    assert (tmp_path / "ex/data/HolzingerSwineford1939.csv").is_file()

    t0 = time.perf_counter()
    script = (
        "import bayes_bmi as bb\n"
        "assert '/site-packages/' in bb.__file__, bb.__file__\n"
        "print(sorted(bb.datasets.list()['name']))\n"
        "hs = bb.datasets.load('HolzingerSwineford1939')\n"
        "fit = bb.sem(bb.datasets.path('models/hs_cfa.lav'), hs, draws=100, tune=100,\n"
        "             chains=2, progress=False)\n"
        "s = fit.summary().set_index(['lhs', 'op', 'rhs'])\n"
        "print('loading', round(s.loc[('visual', '=~', 'x2'), 'mean'], 2))\n"
    )
    done = _run([str(bin_ / "python"), "-c", script], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    seconds["sem"] = time.perf_counter() - t0
    assert "'bfi'" in done.stdout and "'bmi_survey'" in done.stdout
    loading = float(done.stdout.split("loading")[1])
    assert 0.35 < loading < 0.75  # lavaan: 0.554
    print("wheel test seconds:", {k: round(v) for k, v in seconds.items()})
