"""Shared fixtures: reference data sets, lavaan's results and fitted ML models."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
MODELS = ROOT / "models"


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
