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


# groups whose float64 draws are stored as float32 (derived quantities; 7 significant digits
# are ample for summaries), except the sampler's own draws ``posterior/z``
FLOAT32_GROUPS = ("/posterior", "/prior", "/sample_stats")
KEEP_FLOAT64 = (("/posterior", "z"),)
COMPUTED_ON_READ = "computed_on_read"


def _storable(path: str, ds: Any) -> Any:
    """A group as it is written: no object variables, booleans as int8, derived draws float32."""
    import numpy as np

    ds = ds.drop_vars([k for k, v in ds.data_vars.items() if v.dtype == object])
    for k, v in ds.data_vars.items():
        if v.dtype == bool:
            ds[k] = v.astype("int8")
        elif v.dtype == np.float64 and path in FLOAT32_GROUPS and (path, k) not in KEEP_FLOAT64:
            ds[k] = v.astype("float32")
    return ds


def atomic_write_datatree(path: str | Path, tree: Any) -> Path:
    """Write an ``xarray.DataTree`` to netCDF (h5netcdf) atomically, compactly.

    * variables of object dtype (free-text sampler messages) are dropped: netCDF cannot hold
      them; booleans are stored as int8;
    * groups marked ``computed_on_read`` in their attributes (the casewise log-likelihood,
      which :mod:`bayes_bmi.bayes.posterior` recomputes from the draws when it is read) are
      not written;
    * float64 draws of :data:`FLOAT32_GROUPS` are stored as float32, except ``posterior/z``
      (the sampler's draws, kept exact);
    * every variable is compressed (gzip level 1 with byte shuffle).

    The thesis model's fit (4 x 1000 draws, n = 632) took 57 MB before these rules and 18 MB
    after. Read the file back with ``xarray.open_datatree(path, engine="h5netcdf")``.
    """
    import xarray as xr

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = {}
    for node in tree.subtree:
        if node.attrs.get(COMPUTED_ON_READ):
            continue
        clean[node.path] = _storable(node.path, node.to_dataset())
    out = xr.DataTree.from_dict(clean)
    encoding = {
        group: {k: {"compression": "gzip", "compression_opts": 1, "shuffle": True} for k in ds}
        for group, ds in clean.items()
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        out.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
