"""Shared fixtures: reference data sets, lavaan's results and fitted ML models."""

from __future__ import annotations

import ctypes
import functools
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
MODELS = ROOT / "models"


# The files with the longest tests, run first: `make test` hands whole files to its worker
# processes in collection order (pytest-xdist --dist loadfile), so a long file collected last
# would run alone at the end while the other worker sits idle.
LONG_FILES_FIRST = (
    "test_bayes_ordinal.py",
    "test_kernel_cache.py",
    "test_wheel.py",
    "test_kernel_build.py",
    "test_calibration.py",
    "test_provenance.py",
    "test_ordinal_loglik.py",
    "test_cli_missing.py",
    "test_bad_input.py",
    "test_study.py",
    "test_api.py",
    "test_bayes_groups.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    """Collect :data:`LONG_FILES_FIRST` first (a stable sort: each file keeps its order)."""
    rank = {name: i for i, name in enumerate(LONG_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@functools.cache
def _compiled_kernel(kind: str):
    from bayes_bmi.bayes.compiled import load_kernel

    return load_kernel(kind=kind)  # the session's kernel cache (kernel_cache_dir below)


def kernel_callback(
    z: np.ndarray, ints: np.ndarray, floats: np.ndarray, kind: str = "continuous"
) -> tuple[int, float, np.ndarray]:
    """(return code, log density, gradient) of the compiled kernel's C callback at ``z``.

    The callback nutpie calls, loaded from the session's kernel cache: the program users run,
    and no second (in-process, uncached) compilation of ``kernel.logp_grad`` for the tests.
    """
    z = np.ascontiguousarray(z, dtype=np.float64)
    ints = np.ascontiguousarray(ints, dtype=np.int64)
    floats = np.ascontiguousarray(floats, dtype=np.float64)
    grad = np.zeros(z.size)
    value = np.zeros(1)
    header = np.array([ints.ctypes.data, ints.size, floats.ctypes.data, floats.size], np.int64)
    dbl = ctypes.POINTER(ctypes.c_double)
    code = _compiled_kernel(kind).logp.ctypes(
        z.size,
        z.ctypes.data_as(dbl),
        grad.ctypes.data_as(dbl),
        value.ctypes.data_as(dbl),
        ctypes.c_void_p(header.ctypes.data),
    )
    return int(code), float(value[0]), grad


def kernel_logp_grad(
    z: np.ndarray, ints: np.ndarray, floats: np.ndarray, grad: np.ndarray, kind: str = "continuous"
) -> float:
    """:func:`kernel_callback` with ``kernel.logp_grad``'s interface (gradient into ``grad``)."""
    _, value, grad[:] = kernel_callback(z, ints, floats, kind)
    return value


def lavaan_key(lhs: str, op: str, rhs: str) -> tuple[str, str, str]:
    """Row identity as lavaan prints it: ``~~`` is symmetric, ``~1`` has an empty rhs."""
    if op == "~~" and rhs < lhs:
        lhs, rhs = rhs, lhs
    if op == "~1":
        rhs = ""
    return (lhs, op, rhs)


def close_to(ours: float, ref: float, tol: float = 1e-3) -> bool:
    """Absolute tolerance, relative for values above 1 in magnitude."""
    return abs(ours - ref) <= tol * max(1.0, abs(ref))


def load_reference(name: str) -> tuple[pd.DataFrame, dict]:
    params = pd.read_csv(DATA / f"{name}_params.csv", keep_default_na=False, na_values=["NA"])
    fit = json.loads((DATA / f"{name}_fit.json").read_text())
    return params, fit


@pytest.fixture(scope="session")
def hs_data() -> pd.DataFrame:
    return pd.read_csv(DATA / "HolzingerSwineford1939.csv")


@pytest.fixture(scope="session")
def poldem_data() -> pd.DataFrame:
    return pd.read_csv(DATA / "PoliticalDemocracy.csv")


@pytest.fixture(scope="session", autouse=True)
def kernel_cache_dir(request, tmp_path_factory):
    """Keep the compiled kernel of test runs out of the user's cache; reuse it across runs."""
    if os.environ.get("BAYES_BMI_CACHE_DIR"):
        yield
        return
    cache = getattr(request.config, "cache", None)
    path = cache.mkdir("bayes-bmi-kernel") if cache else tmp_path_factory.mktemp("kernel")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BAYES_BMI_CACHE_DIR", str(path))
        yield


def lavaan_fit_keys(*names: str) -> dict[str, str]:
    """Our fit-measure names -> lavaan's ``fitMeasures`` names (``rmsea_ci_lower`` ->
    ``rmsea.ci.lower``), in the order given."""
    return {name: name.replace("_", ".") for name in names}
