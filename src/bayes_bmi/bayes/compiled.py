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
  whose entry is moved away under it compiles again without the cache (with a warning);
* where the platform has ``fcntl`` (POSIX), a process holds an exclusive lock on the entry
  (``.lock`` in it) while it checks, compiles or loads it: a second process waits for the
  first one's compilation and then loads its result instead of compiling the same thing.

Compiling takes 10-15 s of one core, once per machine and version. Two ways keep it out of a
user's wait: :func:`start_build` compiles in a background process (a command that samples
starts it before it reads the data and imports the sampler, and :func:`load_kernel` then waits
for it on the lock), and ``python -m bayes_bmi.bayes.compiled`` fills the cache ahead of time
(an install or set-up step).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata as md
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

try:  # POSIX; elsewhere concurrent processes may both compile (still a valid entry)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "CACHE_ENV",
    "CompiledKernel",
    "KernelCacheWarning",
    "cache_key",
    "cache_root",
    "entry_ready",
    "load_kernel",
    "start_build",
]

CACHE_ENV = "BAYES_BMI_CACHE_DIR"
MANIFEST = "manifest.json"
LOCK = ".lock"
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


def _entry_prefix(version: str, kernel_sha256: str, prefix: str = "kernel") -> str:
    return f"{prefix}-{version}-{kernel_sha256[:12]}-"


def _entry_name(key: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    prefix = key.get("kind", "kernel")
    return _entry_prefix(key["bayes_bmi"], key["kernel_sha256"], prefix) + digest


def entry_ready(root: Path | None = None, kind: str = "continuous") -> bool:
    """Whether the cache holds a complete entry for this version of a kernel kind.

    A cheap check (no numba import): an entry of this bayes-bmi version and kernel source with
    a manifest. It does not look at the numba version or the CPU, which :func:`load_kernel`
    checks; it only decides whether a background build is worth starting.
    """
    prefix = _entry_prefix(
        _version("bayes-bmi"), _source_sha256(kind), "kernel" if kind == "continuous" else kind
    )
    root = root or cache_root()
    try:
        return any((p / MANIFEST).is_file() for p in root.glob(prefix + "*"))
    except OSError:
        return False


@contextlib.contextmanager
def _locked(entry: Path) -> Iterator[None]:
    """Hold the entry's exclusive lock (waits for another process holding it).

    Without ``fcntl``, or when the lock file cannot be opened, nothing is locked.
    """
    try:
        handle = open(entry / LOCK, "a+b") if fcntl is not None else None  # noqa: SIM115
    except OSError:
        handle = None
    if handle is None:
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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
    try:
        entry.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # reported below, where numba fails to use it
    with _locked(entry):
        return _load_entry(entry, key, t0)


def _load_entry(entry: Path, key: dict[str, str], t0: float) -> CompiledKernel:
    """:func:`load_kernel` on one entry (under its lock)."""
    kind = key.get("kind", "continuous")
    problem = _entry_problem(entry, key)
    if problem:
        warnings.warn(
            f"the compiled-kernel cache entry {entry} is {problem}; rebuilding it",
            KernelCacheWarning,
            stacklevel=3,
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
            stacklevel=3,
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
                stacklevel=3,
            )
    return CompiledKernel(logp, expand, entry, from_cache, time.perf_counter() - t0)


def start_build(root: Path | None = None, kind: str = "continuous") -> subprocess.Popen | None:
    """Compile a kernel into the cache in a background process, unless it is there already.

    The process runs ``python -m bayes_bmi.bayes.compiled --quiet --kind KIND`` (the same
    interpreter and environment) and holds the entry's lock while it compiles, so a later
    :func:`load_kernel` in this process waits for it and loads its result: the compilation
    overlaps whatever this process does meanwhile (reading data, the ML or WLSMV fit that gives
    the start values, importing the sampler). Nothing is started when :func:`entry_ready` says
    the cache is filled, or without ``fcntl`` (no lock to wait on).

    Returns
    -------
    subprocess.Popen or None
        The background process (the caller may end it when its command stops early), or
        ``None`` when none was started.
    """
    root = root or cache_root()
    if fcntl is None or entry_ready(root, kind):
        return None
    command = [sys.executable, "-m", "bayes_bmi.bayes.compiled", "--quiet", "--root", str(root)]
    command += ["--kind", kind]
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    """``python -m bayes_bmi.bayes.compiled``: fill the kernel cache (e.g. at install time).

    Both kernels by default (``--kind continuous|ordinal`` for one), one after the other.
    """
    parser = argparse.ArgumentParser(
        prog="python -m bayes_bmi.bayes.compiled",
        description="Compile the sampler's kernel into the on-disk cache (once per machine "
        "and version); a later fit loads it instead of compiling.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help=f"cache folder (default: the user cache folder, or ${CACHE_ENV})",
    )
    parser.add_argument(
        "--kind",
        choices=[*KERNELS, "all"],
        default="all",
        help="which kernel: continuous items, ordinal items, or both (default)",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    for kind in KERNELS if args.kind == "all" else [args.kind]:
        kernel = load_kernel(root=args.root, kind=kind)
        if not args.quiet:
            verb = "loaded from" if kernel.from_cache else "compiled into"
            print(f"{kind} kernel {verb} {kernel.cache_dir} in {kernel.seconds:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised in a subprocess by the tests
    sys.exit(main())
