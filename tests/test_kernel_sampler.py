"""The default sampler path: nutpie on the compiled kernel, without PyMC or PyTensor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from conftest import DATA, MODELS, ROOT

HS_CSV = "HolzingerSwineford1939.csv"

FIT = textwrap.dedent(
    """
    import json, sys
    import pandas as pd
    from bayes_bmi.bayes.sampling import SamplerConfig, fit_bayes
    from bayes_bmi.lavaan.model import read_model
    config = SamplerConfig(draws=50, tune=50, chains=2, seed=3, progress=False)
    res = fit_bayes(read_model(sys.argv[1]), pd.read_csv(sys.argv[2]), config=config)
    print(json.dumps({
        "pymc": "pymc" in sys.modules,
        "pytensor": "pytensor" in sys.modules,
        "draws": res.idata["posterior"]["z"].shape[1],
        "kernel_cache": res.diagnostics["kernel_cache"],
    }))
    """
)


def test_nutpie_path_imports_neither_pymc_nor_pytensor():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", FIT, str(MODELS / "hs_cfa.lav"), str(DATA / HS_CSV)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {
        "pymc": False,
        "pytensor": False,
        "draws": 50,
        "kernel_cache": report["kernel_cache"],
    }
    assert report["kernel_cache"] in ("hit", "miss")
