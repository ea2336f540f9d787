"""Reading the formats survey researchers use, and clear errors on bad data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_bmi.data import DataError, read_data, sample_stats
from conftest import DATA


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(DATA / "HolzingerSwineford1939.csv")


@pytest.mark.parametrize("suffix", [".xlsx", ".sav", ".tsv", ".csv"])
def test_formats_round_trip(tmp_path, hs, suffix):
    df = hs[["x1", "x2", "x3"]]
    path = tmp_path / f"hs{suffix}"
    if suffix == ".xlsx":
        df.to_excel(path, index=False)
    elif suffix == ".sav":
        import pyreadstat

        pyreadstat.write_sav(df, str(path))
    elif suffix == ".tsv":
        df.to_csv(path, sep="\t", index=False)
    else:
        df.to_csv(path, index=False)
    back = read_data(path)
    np.testing.assert_allclose(back[["x1", "x2", "x3"]].to_numpy(dtype=float), df.to_numpy())


def test_unknown_format_and_missing_file(tmp_path):
    path = tmp_path / "d.json"
    path.write_text("{}")
    with pytest.raises(DataError, match=r"d\.json.*Must be one of"):
        read_data(path)
    with pytest.raises(DataError, match="no such data file"):
        read_data(tmp_path / "none.csv")


def test_listwise_deletion_and_ml_covariance(hs):
    df = hs[["x1", "x2"]].copy()
    df.loc[[0, 5], "x1"] = np.nan
    st = sample_stats(df, ["x1", "x2"])
    assert st.n == len(df) - 2 and st.n_dropped == 2
    complete = df.dropna().to_numpy()
    np.testing.assert_allclose(st.cov, np.cov(complete.T, bias=True))


def test_constant_column_is_refused(hs):
    df = hs[["x1", "x2"]].copy()
    df["x2"] = 3.0
    with pytest.raises(DataError, match="zero variance: x2"):
        sample_stats(df, ["x1", "x2"])
