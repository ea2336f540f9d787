"""Atomic writes: the usual permissions of a new file and folder, no leftovers, old file kept."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest
import xarray as xr

from bayes_bmi.io import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_datatree,
    atomic_write_json,
    csv_text,
    json_text,
)


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    """Run the test under a given umask and restore the old one afterwards."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_files_and_folders_get_the_usual_permissions(tmp_path, umask):
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset({"x": ("draw", [1.0, 2.0])})})
    written = [
        atomic_write_bytes(tmp_path / "a" / "b" / "raw.bin", b"x"),
        atomic_write_csv(tmp_path / "t.csv", pd.DataFrame({"v": [1.5]})),
        atomic_write_json(tmp_path / "f.json", {"v": float("nan")}),
        atomic_write_datatree(tmp_path / "p.nc", tree),
    ]
    for path in written:
        assert _mode(path) == 0o666 & ~umask, (path.name, oct(_mode(path)))
    for folder in (tmp_path / "a", tmp_path / "a" / "b"):
        assert _mode(folder) == 0o777 & ~umask, (folder.name, oct(_mode(folder)))
    assert not list(tmp_path.glob("**/.*.tmp"))


def test_rewrite_replaces_content_and_a_failure_keeps_the_old_file(tmp_path):
    path = atomic_write_json(tmp_path / "f.json", {"a": 1})
    atomic_write_json(path, {"a": 2})
    assert path.read_text() == json_text({"a": 2})
    with pytest.raises(TypeError):  # fails while writing the temporary file
        atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_text() == json_text({"a": 2})
    assert not list(tmp_path.glob(".*.tmp"))


def test_text_forms():
    assert csv_text(pd.DataFrame({"v": [1 / 3]})) == "v\n0.3333333333\n"
    assert (
        json_text({"v": float("inf"), "w": [1, 2]})
        == '{\n  "v": null,\n  "w": [\n    1,\n    2\n  ]\n}\n'
    )
