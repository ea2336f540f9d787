"""The on-disk cache of the compiled kernel: reuse, keys, corruption, concurrency."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.bayes import compiled
from bayes_bmi.bayes.inputs import model_data
from bayes_bmi.bayes.kernel_data import pack
from bayes_bmi.bayes.parameters import param_spec, z_from_rows
from bayes_bmi.bayes.sampling import bayesian_model
from bayes_bmi.lavaan.model import read_model
from bayes_bmi.lavaan.start import start_values
from bayes_bmi.ml.fit import model_stats
from conftest import DATA, MODELS, ROOT, kernel_callback

# load the kernel in a new process, evaluate it through its C callback, report as JSON
CHILD = textwrap.dedent(
    """
    import ctypes, json, sys, warnings
    from pathlib import Path
    import numpy as np
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from bayes_bmi.bayes.compiled import load_kernel
        k = load_kernel(root=Path(sys.argv[1]))
    case = np.load(sys.argv[2])
    ints, floats, z = case["ints"], case["floats"], case["z"]
    header = np.array([ints.ctypes.data, ints.size, floats.ctypes.data, floats.size], np.int64)
    dbl = ctypes.POINTER(ctypes.c_double)
    grad, out = np.zeros(z.size), np.zeros(1)
    code = k.logp.ctypes(z.size, z.ctypes.data_as(dbl), grad.ctypes.data_as(dbl),
                         out.ctypes.data_as(dbl), ctypes.c_void_p(header.ctypes.data))
    print(json.dumps({
        "from_cache": k.from_cache, "cache_hits": k.logp.cache_hits, "code": int(code),
        "value": float(out[0]), "grad": grad.tolist(),
        "cache_dir": str(k.cache_dir) if k.cache_dir else None,
        "warnings": [str(w.message) for w in caught if "cache" in str(w.message)],
    }))
    """
)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """HS CFA packed for the kernel at its start values, and the in-process kernel's answer."""
    model = bayesian_model(read_model(MODELS / "hs_cfa.lav"))
    stats = model_stats(model, pd.read_csv(DATA / "HolzingerSwineford1939.csv"))
    spec = param_spec(model)
    kd = pack(model, spec, model_data(model, spec, stats))
    z = z_from_rows(spec, start_values(model.partable, model.representation, stats))
    _, value, grad = kernel_callback(z, kd.ints, kd.floats)  # from the session's cache
    path = tmp_path_factory.mktemp("case") / "hs.npz"
    np.savez(path, ints=kd.ints, floats=kd.floats, z=z)
    return path, value, grad


@pytest.fixture
def filled(tmp_path):
    """A cache folder with one complete entry, copied from the session's cache.

    The session's entry (see conftest) is compiled at most once per test session; a copy
    gives each test a filled cache without compiling again (numba checks its index against
    the kernel's source file, which the copy shares).
    """
    source = compiled.load_kernel().cache_dir
    shutil.copytree(source, tmp_path / source.name, ignore=shutil.ignore_patterns(compiled.LOCK))
    return tmp_path


def _child(root, case_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(case_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _run(root, case_path) -> dict:
    proc = _child(root, case_path)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _assert_correct(report, case):
    _, value, grad = case
    assert report["code"] == 0
    assert report["value"] == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(report["grad"], grad, rtol=1e-12, atol=1e-12)


def _entries(root):
    return sorted(p for p in root.iterdir() if p.is_dir())


def test_a_new_process_reuses_the_cache(case):
    root = compiled.cache_root()  # the test session's cache (see conftest)
    first = _run(root, case[0])  # compiles, or loads what an earlier process compiled
    second = _run(root, case[0])
    # loaded, not compiled: numba counted a cache hit and compiled nothing
    assert second["from_cache"] and second["cache_hits"] == 1
    assert second["cache_dir"] == first["cache_dir"]
    assert first["warnings"] == [] and second["warnings"] == []
    _assert_correct(first, case)
    _assert_correct(second, case)


@pytest.mark.slow  # compiles the kernel in a new process
def test_an_empty_cache_is_filled_by_the_first_process(tmp_path, case):
    first = _run(tmp_path, case[0])
    assert not first["from_cache"] and first["cache_hits"] == 0
    entry = tmp_path / first["cache_dir"]
    assert (entry / compiled.MANIFEST).exists()
    recorded = json.loads((entry / compiled.MANIFEST).read_text())
    assert recorded["key"] == compiled.cache_key()
    assert any(name.endswith(".nbc") for name in recorded["files"])
    _assert_correct(first, case)


def test_a_changed_key_compiles_into_another_folder(filled, case, monkeypatch):
    old = compiled.load_kernel(root=filled)
    assert old.from_cache
    monkeypatch.setattr(compiled, "_version", lambda package: "99.0.0")
    # what numba compiles is tested in new processes above; here only where it goes
    compiles = []
    monkeypatch.setattr(compiled, "_compile", lambda d, kind: compiles.append(d) or (1, 2, False))
    new = compiled.load_kernel(root=filled)
    assert compiles == [new.cache_dir]
    assert new.cache_dir != old.cache_dir
    assert not new.from_cache
    assert "99.0.0" in new.cache_dir.name
    assert len(_entries(filled)) == 2
    assert (new.cache_dir / compiled.MANIFEST).exists()


@pytest.mark.slow  # compiles the kernel again in new processes
@pytest.mark.parametrize("target", ["nbc", "nbi"])
def test_corrupt_files_are_rebuilt_with_a_warning(filled, case, target):
    (entry,) = (str(p) for p in _entries(filled))
    files = [p for p in filled.rglob(f"*.{target}") if "logp_callback" in p.name]
    assert files
    for path in files:
        data = bytearray(path.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = os.urandom(64)
        path.write_bytes(bytes(data))
    report = _run(filled, case[0])
    assert any("corrupt" in w for w in report["warnings"]), report["warnings"]
    assert not report["from_cache"]
    _assert_correct(report, case)
    # rebuilt: the next process loads it again without a warning
    again = _run(filled, case[0])
    assert again["from_cache"] and again["warnings"] == [] and again["cache_dir"] == entry
    _assert_correct(again, case)


@pytest.mark.slow  # compiles the kernel again in new processes
def test_an_unreadable_entry_without_manifest_is_bypassed_with_a_warning(filled, case):
    (entry,) = _entries(filled)
    (entry / compiled.MANIFEST).unlink()
    for path in filled.rglob("*.nbi"):
        path.write_bytes(b"not a pickle")
    report = _run(filled, case[0])
    assert report["warnings"], "a broken index must be reported"
    _assert_correct(report, case)


@pytest.mark.slow  # compiles the kernel again in new processes
def test_two_processes_filling_the_cache_at_once(tmp_path, case):
    procs = [_child(tmp_path, case[0]) for _ in range(2)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    for report in reports:
        _assert_correct(report, case)
    after = _run(tmp_path, case[0])
    assert after["from_cache"] and after["warnings"] == []
    _assert_correct(after, case)
    assert len(_entries(tmp_path)) == 1


def test_a_stale_entry_is_rebuilt_with_a_warning(filled, case, monkeypatch):
    (entry,) = _entries(filled)
    compiles = []  # the rebuild's compilation itself is tested in new processes above
    monkeypatch.setattr(compiled, "_compile", lambda d, kind: compiles.append(d) or (1, 2, False))
    manifest = entry / compiled.MANIFEST
    recorded = json.loads(manifest.read_text())
    recorded["key"]["numba"] = "0.0.1"  # as if written by another numba for this folder
    manifest.write_text(json.dumps(recorded))
    with pytest.warns(compiled.KernelCacheWarning, match="stale"):
        again = compiled.load_kernel(root=filled)
    assert again.cache_dir == entry and compiles == [entry]
    assert json.loads(manifest.read_text())["key"] == compiled.cache_key()


def test_temporary_files_of_a_writer_do_not_count_as_corruption(filled, case):
    (entry,) = _entries(filled)
    # what a concurrent writer leaves for a moment: numba's and our temporary files
    (entry / ".manifest.json.abc123.tmp").write_text("{}")
    next(entry.rglob("*.nbi")).with_name("x.nbi.tmp.0123456789abcdef").write_bytes(b"partial")
    with warnings.catch_warnings():
        warnings.simplefilter("error", compiled.KernelCacheWarning)
        again = compiled.load_kernel(root=filled)
    assert again.from_cache and again.cache_dir == entry


def test_cache_off_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(compiled.CACHE_ENV, str(tmp_path / "cache"))
    calls = []  # numba is asked to compile without a cache folder (cache=False)
    monkeypatch.setattr(compiled, "_compile", lambda d, kind: calls.append(d) or (1, 2, False))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        k = compiled.load_kernel(cache=False)
    assert calls == [None]
    assert k.cache_dir is None and not k.from_cache
    assert not (tmp_path / "cache").exists()


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(compiled.CACHE_ENV, str(tmp_path / "here"))
    assert compiled.cache_root() == tmp_path / "here"
    monkeypatch.delenv(compiled.CACHE_ENV)
    assert "bayes-bmi" in str(compiled.cache_root())
