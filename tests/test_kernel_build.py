"""Keeping the kernel's compilation out of a user's wait: the background build, the lock, the
set-up step, and a CLI whose import stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import typer

from bayes_bmi.bayes import compiled
from bayes_bmi.cli import common
from bayes_bmi.cli.main import app
from conftest import ROOT

fcntl = pytest.importorskip("fcntl")

# load the kernel in a new process; report whether it came from the cache
LOADER = (
    "import json, sys; from pathlib import Path; from bayes_bmi.bayes.compiled import load_kernel; "
    "k = load_kernel(root=Path(sys.argv[1])); "
    "print(json.dumps({'from_cache': k.from_cache, 'hits': k.logp.cache_hits}))"
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _held(lock_file) -> bool:
    """Whether another process holds the lock."""
    if not lock_file.exists():
        return False
    with open(lock_file, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


@pytest.mark.slow  # compiles the kernel in a background process
def test_a_background_build_fills_the_cache_and_a_loader_waits_for_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "src"))
    assert not compiled.entry_ready(tmp_path)
    builder = compiled.start_build(tmp_path)
    assert builder is not None
    lock = tmp_path / compiled._entry_name(compiled.cache_key()) / compiled.LOCK
    deadline = time.monotonic() + 120
    while not _held(lock):  # the builder has taken the entry's lock (it compiles under it)
        assert builder.poll() is None, "the builder ended before it took the lock"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # a second process started now waits for the builder and loads its result: no compilation
    loader = subprocess.run(
        [sys.executable, "-c", LOADER, str(tmp_path)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=900,
    )
    assert loader.returncode == 0, loader.stderr
    report = json.loads(loader.stdout.strip().splitlines()[-1])
    assert builder.wait(timeout=900) == 0
    assert report == {"from_cache": True, "hits": 1}
    assert compiled.entry_ready(tmp_path)
    assert compiled.start_build(tmp_path) is None  # filled: nothing more to start


def test_the_setup_step_loads_a_filled_cache(capsys):
    compiled.load_kernel()  # the session's cache (conftest), filled if it was not
    assert compiled.main(["--kind", "continuous"]) == 0
    assert capsys.readouterr().out.startswith("continuous kernel loaded from")
    assert compiled.entry_ready()
    assert compiled.start_build() is None


@pytest.mark.slow  # compiles the ordinal kernel when the session's cache lacks it
def test_the_setup_step_fills_both_kernels_by_default(capsys):
    assert compiled.main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" kernel ")[0] for line in out] == ["continuous", "ordinal"]
    for kind in compiled.KERNELS:
        assert compiled.entry_ready(kind=kind)
        assert compiled.start_build(kind=kind) is None


def test_an_entry_of_one_kind_is_not_ready_for_the_other(tmp_path):
    """The cheap readiness check looks for each kind's own entry name."""
    name = compiled._entry_name(compiled.cache_key("continuous"))
    (tmp_path / name).mkdir()
    (tmp_path / name / compiled.MANIFEST).write_text("{}")
    assert compiled.entry_ready(tmp_path, "continuous")
    assert not compiled.entry_ready(tmp_path, "ordinal")
    name = compiled._entry_name(compiled.cache_key("ordinal"))
    (tmp_path / name).mkdir()
    (tmp_path / name / compiled.MANIFEST).write_text("{}")
    assert compiled.entry_ready(tmp_path, "ordinal")


class _Process:
    """A stand-in for the background process."""

    def __init__(self) -> None:
        self.running, self.terminated, self.waited = True, False, False

    def poll(self):
        return None if self.running else 0

    def terminate(self) -> None:
        self.terminated, self.running = True, False

    def wait(self) -> int:
        self.waited = True
        return 0


@pytest.mark.parametrize(
    ("params", "starts"),
    [
        ({"no_cache": False, "sampler": "nutpie"}, True),
        ({"no_cache": False}, True),  # a command that samples with the kernel only (study)
        ({"no_cache": True, "sampler": "nutpie"}, False),
        ({"no_cache": False, "sampler": "pymc"}, False),
        ({"sampler": "nutpie"}, False),  # no kernel cache involved
        ({}, False),  # ml, parse, ...
    ],
)
def test_commands_that_sample_start_the_build_and_end_it_with_the_command(
    monkeypatch, params, starts
):
    started = []

    def fake_start(root=None, kind="continuous"):
        started.append(_Process())
        return started[-1]

    monkeypatch.setattr(compiled, "start_build", fake_start)
    ctx = typer.Context(typer.main.get_command(app))
    ctx.params = dict(params)
    with ctx:
        common.record_provenance(ctx, seed=1, inputs={})
        assert len(started) == int(starts)
        if starts:
            assert not started[0].terminated  # runs while the command runs
    if starts:
        assert started[0].terminated and started[0].waited  # ended with the command


@pytest.mark.parametrize(
    ("command", "ordinal", "kinds"),
    [
        ("fit", None, ["continuous"]),
        ("fit", "all", ["ordinal"]),
        ("compare", "x1,x2", ["ordinal"]),
        ("study", None, ["continuous"]),
        ("study", True, ["continuous", "ordinal"]),  # study fits both models
    ],
)
def test_an_ordinal_command_builds_the_ordinal_kernel(monkeypatch, command, ordinal, kinds):
    started = []

    def fake_start(root=None, kind="continuous"):
        started.append(kind)
        return _Process()

    monkeypatch.setattr(compiled, "start_build", fake_start)
    ctx = typer.Context(typer.main.get_command(app), info_name=command)
    ctx.params = {"no_cache": False, "ordinal": ordinal}
    with ctx:
        common.record_provenance(ctx, seed=1, inputs={})
    assert started == kinds


def test_importing_the_cli_loads_no_numerical_stack():
    code = (
        "import sys, bayes_bmi.cli; "
        "print(','.join(m for m in ('numpy', 'pandas', 'scipy', 'xarray', 'numba', 'arviz', "
        "'matplotlib', 'nutpie') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True
    )
    assert out.stdout.strip() == ""


def test_the_sampler_loads_nutpie_without_arviz_plotting():
    code = (
        "import sys, bayes_bmi.bayes.kernel_sampler as ks; "
        "print(','.join(m for m in ('arviz', 'arviz_plots', 'matplotlib') if m in sys.modules)); "
        "print(ks._nutpie.arviz.__name__); "
        "import arviz; print(arviz.__name__, callable(arviz.summary), 'arviz_plots' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True
    )
    loaded, nutpie_arviz, later = out.stdout.splitlines()
    assert loaded == ""
    assert nutpie_arviz == "arviz_base"  # the functions nutpie calls, without the plots
    assert later == "arviz True True"  # a later import gets the whole package


def test_a_command_freezes_the_collector_only_at_exit():
    code = (
        "import atexit, gc, sys\n"
        "before = gc.get_freeze_count()  # objects the interpreter froze at start-up\n"
        "atexit.register(lambda: print('at exit', gc.get_freeze_count() > before))\n"
        "from bayes_bmi.cli.main import app\n"
        f"for _ in range(2):\n"
        f"    try:\n"
        f"        app(['parse', {str(ROOT / 'models' / 'hs_cfa.lav')!r}])\n"
        f"    except SystemExit as exc:\n"
        f"        assert exc.code == 0, exc.code\n"
        "print('running', gc.get_freeze_count() == before)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True
    )
    lines = out.stdout.splitlines()
    assert lines[-2:] == ["running True", "at exit True"]
