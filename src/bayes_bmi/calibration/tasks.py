"""The Dask machinery shared by calibration, power analysis and prior sensitivity.

Each of :func:`~bayes_bmi.calibration.runner.calibrate`,
:func:`~bayes_bmi.calibration.power.power` and
:func:`~bayes_bmi.calibration.sensitivity.sensitivity` is many fits of one model structure.
They share one way of running them:

- :func:`connect`: a ``LocalCluster`` of single-threaded worker processes by default, an
  existing cluster given its scheduler's address, or a ``Client`` used as it is;
- :func:`worker_cache`: one :class:`~bayes_bmi.bayes.sampling.CompileCache` per worker
  process, so the compiled kernel is loaded once per worker and reused by every fit it runs;
- :func:`run_tasks`: one task per item (simulation, prior, ...), each result handed to a
  callback as soon as it arrives (the callers write it atomically, one JSON file per item);
- :func:`read_records` and :func:`check_design`: a rerun into the same folder reads the items
  already written (same settings' fingerprint) and fits only the others, and a folder holding a
  run of other settings is refused rather than mixed;
- :func:`print_progress`: a counter on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bayes_bmi.bayes.sampling import CompileCache
from bayes_bmi.errors import BayesBmiError
from bayes_bmi.io import atomic_write_json

__all__ = [
    "WORKER_CACHE_ATTR",
    "check_design",
    "connect",
    "print_progress",
    "read_records",
    "run_tasks",
    "worker_cache",
]

#: Attribute of a Dask worker that holds its compile cache.
WORKER_CACHE_ATTR = "_bayes_bmi_compile_cache"

Progress = Callable[[int, int, float], None]


def worker_cache() -> CompileCache:
    """The compile cache of the current Dask worker process (a new one outside a worker).

    Kept as an attribute of the worker object, so it lives exactly as long as the worker and
    every task the worker runs shares it; no module-level state.
    """
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not inside a worker
        return CompileCache()
    cache = getattr(worker, WORKER_CACHE_ATTR, None)
    if cache is None:
        cache = CompileCache()
        setattr(worker, WORKER_CACHE_ATTR, cache)
    return cache


def connect(client: Any, workers: int | None) -> tuple[Any, Any, bool]:
    """(client, its cluster or None, close when done) from ``None``, an address or a Client.

    Parameters
    ----------
    client : None, str or distributed.Client
        ``None``: a ``LocalCluster`` of ``workers`` single-threaded processes (default: one
        per CPU); a scheduler address such as ``"tcp://10.0.0.1:8786"``; or a ``Client``.
    workers : int, optional
    """
    from distributed import Client, LocalCluster

    if client is None:
        n = workers or os.cpu_count() or 1
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        return Client(cluster), cluster, True
    if isinstance(client, str):
        return Client(client), None, True
    return client, None, False


def print_progress(what: str = "simulations") -> Progress:
    """A progress callback printing ``what: done/total (seconds)`` on one stderr line."""

    def report(done: int, total: int, seconds: float) -> None:
        print(f"\r{what}: {done}/{total} ({seconds:.0f} s)", end="", file=sys.stderr, flush=True)
        if done == total:
            print(file=sys.stderr)

    return report


def read_records(
    folder: Path, pattern: str, fingerprint: str, key: Callable[[dict], Hashable]
) -> dict[Hashable, dict]:
    """The JSON records ``folder/pattern`` written with this fingerprint, by ``key(record)``.

    Parameters
    ----------
    folder : Path
        Where the per-item files are (missing: no records).
    pattern : str
        Glob of the files, e.g. ``"sim_*.json"``.
    fingerprint : str
        Records of other settings (another ``"fingerprint"``) are ignored.
    key : callable
        The record's key, e.g. ``lambda r: int(r["sim"])``.
    """
    records: dict[Hashable, dict] = {}
    if not folder.is_dir():
        return records
    for path in sorted(folder.glob(pattern)):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):  # pragma: no cover - atomic writes prevent it
            continue
        if record.get("fingerprint") == fingerprint:
            records[key(record)] = record
    return records


def check_design(
    path: Path,
    fingerprint: str,
    doc: Mapping[str, Any],
    error: type[BayesBmiError],
    what: str,
    detail: str = "",
) -> None:
    """Refuse a folder whose ``path`` records another design; record ours when new.

    Parameters
    ----------
    path : Path
        The design file, e.g. ``out/power.json``.
    fingerprint : str
        This run's settings' fingerprint.
    doc : mapping
        The settings to write beside the fingerprint (for people reading the folder).
    error : type
        The error class to raise.
    what : str
        Name of the run in the message (``"calibration"``, ``"power analysis"``).
    detail : str
        What the settings are, for the message (``" (model, n, seed, ...)"``).
    """
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8")).get("fingerprint")
        if old != fingerprint:
            raise error(
                f"{path.parent} holds a {what} with other settings{detail}: use another --out, or "
                "delete the folder to start again"
            )
        return
    atomic_write_json(path, {"fingerprint": fingerprint, **doc})


def run_tasks(
    task: Callable[..., list[dict]],
    shared: Sequence[Any],
    items: Sequence[Any],
    *,
    key: Callable[[Any], str],
    on_record: Callable[[dict], None],
    client: Any = None,
    workers: int | None = None,
    report: Progress | None = None,
    done: int = 0,
    t0: float | None = None,
) -> int:
    """Run ``task(*shared, item)`` for every item on Dask; hand each record over as it arrives.

    Parameters
    ----------
    task : callable
        Returns a list of JSON-ready records (usually one); runs on a worker, where it gets
        the worker's compile cache from :func:`worker_cache`.
    shared : sequence
        Arguments common to every task (the model, the settings), scattered to every worker
        once.
    items : sequence
        One task per item.
    key : callable
        The Dask key of an item's task (the same design and item: the same key and result).
    on_record : callable
        Called on the client with each record (to store and write it).
    client, workers
        As in :func:`connect`.
    report : callable, optional
        ``report(done, total, seconds)`` before the first and after every task.
    done : int
        Items finished before this call (for the progress counter).
    t0 : float, optional
        ``time.perf_counter()`` at the start of the run.

    Returns
    -------
    int
        Dask workers of the cluster.
    """
    from distributed import as_completed

    t0 = time.perf_counter() if t0 is None else t0
    client, cluster, close = connect(client, workers)
    try:
        nworkers = len(client.scheduler_info(n_workers=-1)["workers"])
        scattered = client.scatter(list(shared), broadcast=True)
        futures = [client.submit(task, *scattered, item, key=key(item)) for item in items]
        total = done + len(items)
        if report:
            report(done, total, time.perf_counter() - t0)
        for future in as_completed(futures):
            for record in future.result():
                on_record(record)
            done += 1
            future.release()
            if report:
                report(done, total, time.perf_counter() - t0)
    finally:
        if close:
            client.close()
            if cluster is not None:
                cluster.close()
    return nworkers
