"""Atomic file output: write to a temporary file beside the target, then rename.

A reader never sees a half-written file, and a failure leaves the old file (or none). Files
get the permissions of any new file (``0666`` less the umask) and folders those of any new
folder (``0777`` less the umask), as ``open`` and ``mkdir`` would give them.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "atomic_write_bytes",
    "atomic_write_csv",
    "atomic_write_datatree",
    "atomic_write_json",
    "atomic_write_text",
    "csv_text",
    "json_text",
]

#: Mode asked for a new file; the process umask removes bits, as for any ``open``.
FILE_MODE = 0o666


def _temporary(path: Path) -> tuple[int, Path]:
    """Create a fresh temporary file beside ``path``: (open descriptor, its path).

    ``tempfile.mkstemp`` would create it with mode 0600 whatever the umask; the rename would
    then hand those restrictive permissions to the result. ``os.open`` with ``O_EXCL`` and mode
    0666 gives the usual permissions of a new file instead.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, FILE_MODE), tmp
        except FileExistsError:  # pragma: no cover - 48 random bits: practically never
            continue


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (same-directory temporary file + rename)."""
    path = Path(path)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def csv_text(df: pd.DataFrame) -> str:
    """A DataFrame as CSV text: no index, floats with 10 significant digits."""
    return df.to_csv(index=False, float_format="%.10g")


def atomic_write_csv(path: str | Path, df: pd.DataFrame) -> Path:
    """Write a DataFrame as CSV (:func:`csv_text`) atomically."""
    return atomic_write_text(path, csv_text(df))


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_text(obj: Mapping[str, Any]) -> str:
    """A mapping as indented JSON text; NaN and infinities become ``null``."""
    return json.dumps(_clean(obj), indent=2) + "\n"


def atomic_write_json(path: str | Path, obj: Mapping[str, Any]) -> Path:
    """Write a mapping as JSON (:func:`json_text`) atomically."""
    return atomic_write_text(path, json_text(obj))


def atomic_write_datatree(path: str | Path, tree: Any) -> Path:
    """Write an ``xarray.DataTree`` to netCDF (h5netcdf) atomically.

    Variables of object dtype (free-text sampler messages) are dropped: netCDF cannot hold
    them. Read the file back with ``xarray.open_datatree(path, engine="h5netcdf")``.
    """
    import xarray as xr

    path = Path(path)
    clean = {}
    for node in tree.subtree:
        ds = node.to_dataset()
        drop = [k for k, v in ds.data_vars.items() if v.dtype == object]
        ds = ds.drop_vars(drop)
        for k, v in ds.data_vars.items():
            if v.dtype == bool:
                ds[k] = v.astype("int8")
        clean[node.path] = ds
    out = xr.DataTree.from_dict(clean)
    fd, tmp = _temporary(path)
    os.close(fd)  # netCDF truncates and rewrites the file, keeping its permissions
    try:
        out.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
