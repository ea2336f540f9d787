"""Atomic file output: write to a temporary file beside the target, then rename.

A reader never sees a half-written file, and a failure leaves the old file (or none).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
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
]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (same-directory temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_csv(path: str | Path, df: pd.DataFrame) -> Path:
    """Write a DataFrame as CSV (no index, full float precision) atomically."""
    return atomic_write_text(path, df.to_csv(index=False, float_format="%.10g"))


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


def atomic_write_json(path: str | Path, obj: Mapping[str, Any]) -> Path:
    """Write a mapping as JSON atomically (NaN and infinities become ``null``)."""
    return atomic_write_text(path, json.dumps(_clean(obj), indent=2) + "\n")


def atomic_write_datatree(path: str | Path, tree: Any) -> Path:
    """Write an ``xarray.DataTree`` to netCDF (h5netcdf) atomically.

    Variables of object dtype (free-text sampler messages) are dropped: netCDF cannot hold
    them. Read the file back with ``xarray.open_datatree(path, engine="h5netcdf")``.
    """
    import xarray as xr

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        out.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
