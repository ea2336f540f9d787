"""The compiled kernel, built once per machine and kept in an on-disk cache.

:func:`load_kernel` compiles the C callbacks of :mod:`bayes_bmi.bayes.kernel` with numba, or
loads them from the cache folder, which is keyed by everything that can change the compiled
program: the bayes-bmi version, a hash of the kernel's source, the numba and llvmlite
versions, the Python implementation and version, the platform and the CPU (name and
features, as numba sees them). The cache lives in the platform's user cache directory
(:func:`cache_root`); the environment variable ``BAYES_BMI_CACHE_DIR`` moves it.

Safety:

* every file of an entry is listed with its SHA-256 in ``manifest.json`` once the entry is
  complete; an entry whose files do not match (corrupt, truncated, half-replaced) is moved
  aside and rebuilt with a :class:`KernelCacheWarning`, as is one that numba cannot load;
* numba writes each file to a temporary name and renames it, and the manifest is written the
  same way, so two processes filling the same entry at once leave a valid entry; a process
  whose entry is moved away under it compiles again without the cache (with a warning).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import platform
import shutil
import sys
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CACHE_ENV",
    "CompiledKernel",
    "KernelCacheWarning",
    "cache_key",
    "cache_root",
    "load_kernel",
]

CACHE_ENV = "BAYES_BMI_CACHE_DIR"
MANIFEST = "manifest.json"
_KERNEL_SOURCE = Path(__file__).with_name("kernel.py")
#: kernel kind -> (module of its C callbacks, the sources the compiled program depends on)
KERNELS = {
    "continuous": ("kernel", ("kernel.py",)),
    "ordinal": ("ordinal_kernel", ("kernel.py", "ordinal_kernel.py")),
}


class KernelCacheWarning(UserWarning):
    """The kernel cache could not be used as it was (it is rebuilt or bypassed)."""


@dataclass(frozen=True, eq=False)
class CompiledKernel:
    """The compiled C callbacks of the log density and of the draw expansion.

    Attributes
    ----------
    logp, expand : numba.core.ccallback.CFunc
        ``.address`` is what nutpie calls.
    cache_dir : pathlib.Path or None
        The cache entry used, or ``None`` when the cache was off.
    from_cache : bool
        Loaded from the cache (no compilation in this process).
    seconds : float
        Time spent loading or compiling.
    """

    logp: object
    expand: object
    cache_dir: Path | None
    from_cache: bool
    seconds: float


def cache_root() -> Path:
    """Where cache entries live: ``$BAYES_BMI_CACHE_DIR`` or the user cache directory."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("bayes-bmi", appauthor=False))


def _version(package: str) -> str:
    try:
        return md.version(package)
    except md.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _cpu() -> tuple[str, str]:
    """CPU name and features as numba compiles for them (its env overrides included)."""
    import llvmlite.binding as ll
    from numba.core import config

    name = config.CPU_NAME or ll.get_host_cpu_name()
    features = config.CPU_FEATURES or ll.get_host_cpu_features().flatten()
    return name, features


def _source_sha256(kind: str) -> str:
    """SHA-256 of the kernel's sources (of ``kernel.py`` alone for the continuous kernel)."""
    digest = hashlib.sha256()
    for name in KERNELS[kind][1]:
        digest.update(_KERNEL_SOURCE.with_name(name).read_bytes())
    return digest.hexdigest()


def cache_key(kind: str = "continuous") -> dict[str, str]:
    """Everything the compiled program of a kernel kind (:data:`KERNELS`) depends on."""
    import llvmlite
    import numba

    cpu_name, cpu_features = _cpu()
    return {
        **({} if kind == "continuous" else {"kind": kind}),
        "bayes_bmi": _version("bayes-bmi"),
        "kernel_sha256": _source_sha256(kind),
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "python": f"{sys.implementation.name}-{sys.version_info[0]}.{sys.version_info[1]}",
        "platform": f"{sys.platform}-{platform.machine()}",
        "cpu": cpu_name,
        "cpu_features_sha256": hashlib.sha256(cpu_features.encode()).hexdigest(),
    }


def _entry_name(key: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    prefix = key.get("kind", "kernel")
    return f"{prefix}-{key['bayes_bmi']}-{key['kernel_sha256'][:12]}-{digest}"


def _files(entry: Path) -> dict[str, str]:
    """SHA-256 of every file of an entry (temporary files and the manifest excluded)."""
    out = {}
    for path in sorted(entry.rglob("*")):
        temporary = path.name.startswith(".") or ".tmp" in path.name  # numba's and ours
        if path.is_file() and path.name != MANIFEST and not temporary:
            out[str(path.relative_to(entry))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _write_manifest(entry: Path, key: dict[str, str]) -> None:
    from bayes_bmi.io import atomic_write_json

    atomic_write_json(entry / MANIFEST, {"key": key, "files": _files(entry)})


def _entry_problem(entry: Path, key: dict[str, str]) -> str | None:
    """Why an entry cannot be trusted (``"corrupt"`` or ``"stale"``), or ``None``.

    A missing or unfinished entry (no manifest yet) is fine: numba loads only complete files
    and compiles what is missing.
    """
    manifest = entry / MANIFEST
    if not manifest.exists():
        return None
    try:
        recorded = json.loads(manifest.read_text())
        files, recorded_key = recorded["files"], recorded["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return "corrupt (unreadable manifest)"
    if recorded_key != key:
        return "stale (made for another version, platform or CPU)"
    if files != _files(entry):
        return "corrupt (its files do not match its manifest)"
    return None


def _discard(entry: Path) -> None:
    """Move an entry aside (atomic) and delete it."""
    if not entry.exists():
        return
    aside = entry.with_name(f"{entry.name}.discarded-{uuid.uuid4().hex[:8]}")
    try:
        entry.rename(aside)
    except OSError:
        aside = entry
    shutil.rmtree(aside, ignore_errors=True)


def _compile(cache_dir: Path | None, kind: str = "continuous") -> tuple[object, object, bool]:
    """Build (or load) both callbacks; ``cache_dir`` None compiles without a cache.

    numba fixes a function's cache folder when its cache is created, from
    ``numba.config.CACHE_DIR``: it is set for that moment only, under numba's compiler lock.
    """
    import importlib

    import numba
    from numba.core import config
    from numba.core.compiler_lock import global_compiler_lock

    kernel = importlib.import_module(f"bayes_bmi.bayes.{KERNELS[kind][0]}")
    options = {"error_model": "numpy"}
    with global_compiler_lock:
        saved = config.CACHE_DIR
        try:
            if cache_dir is not None:
                config.CACHE_DIR = str(cache_dir)
            cached = cache_dir is not None
            logp = numba.cfunc(kernel.LOGP_SIGNATURE, cache=cached, **options)(kernel.logp_callback)
            expand = numba.cfunc(kernel.EXPAND_SIGNATURE, cache=cached, **options)(
                kernel.expand_callback
            )
        finally:
            config.CACHE_DIR = saved
    from_cache = cached and logp.cache_hits > 0 and expand.cache_hits > 0
    return logp, expand, from_cache


def load_kernel(
    cache: bool = True, root: Path | None = None, kind: str = "continuous"
) -> CompiledKernel:
    """Load the compiled kernel from the cache, or compile it (and fill the cache).

    Parameters
    ----------
    cache : bool
        Use the on-disk cache; ``False`` compiles in this process only.
    root : pathlib.Path, optional
        Cache folder; default :func:`cache_root`.
    kind : str
        ``"continuous"`` (:mod:`bayes_bmi.bayes.kernel`) or ``"ordinal"``
        (:mod:`bayes_bmi.bayes.ordinal_kernel`); each has its own cache entry.

    Returns
    -------
    CompiledKernel
    """
    t0 = time.perf_counter()
    if not cache:
        logp, expand, _ = _compile(None, kind)
        return CompiledKernel(logp, expand, None, False, time.perf_counter() - t0)
    key = cache_key(kind)
    entry = (root or cache_root()) / _entry_name(key)
    problem = _entry_problem(entry, key)
    if problem:
        warnings.warn(
            f"the compiled-kernel cache entry {entry} is {problem}; rebuilding it",
            KernelCacheWarning,
            stacklevel=2,
        )
        _discard(entry)
    try:
        entry.mkdir(parents=True, exist_ok=True)
        logp, expand, from_cache = _compile(entry, kind)
    except Exception as exc:  # noqa: BLE001 - any failure of the cache must not stop a fit
        warnings.warn(
            f"could not use the compiled-kernel cache entry {entry} ({type(exc).__name__}: "
            f"{exc}); discarding it and compiling without the cache",
            KernelCacheWarning,
            stacklevel=2,
        )
        _discard(entry)
        logp, expand, _ = _compile(None, kind)
        return CompiledKernel(logp, expand, None, False, time.perf_counter() - t0)
    if not from_cache or not (entry / MANIFEST).exists():
        try:
            _write_manifest(entry, key)
        except OSError as exc:
            warnings.warn(
                f"could not record the compiled-kernel cache entry {entry}: {exc}",
                KernelCacheWarning,
                stacklevel=2,
            )
    return CompiledKernel(logp, expand, entry, from_cache, time.perf_counter() - t0)
