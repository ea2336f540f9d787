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


def test_public_nutpie_interface_gives_the_same_draws():
    """The fallback path (nutpie's public Python-function interface) samples the same chain."""
    import numpy as np
    import pandas as pd

    from bayes_bmi.bayes.compiled import load_kernel
    from bayes_bmi.bayes.inputs import model_data
    from bayes_bmi.bayes.kernel_data import pack
    from bayes_bmi.bayes.kernel_sampler import KernelModel, sample_kernel
    from bayes_bmi.bayes.parameters import param_spec, z_from_rows
    from bayes_bmi.bayes.sampling import bayesian_model
    from bayes_bmi.lavaan.model import read_model
    from bayes_bmi.lavaan.start import start_values
    from bayes_bmi.ml.fit import model_stats

    model = bayesian_model(read_model(MODELS / "hs_cfa.lav"))
    stats = model_stats(model, pd.read_csv(DATA / HS_CSV))
    spec = param_spec(model)
    z0 = z_from_rows(spec, start_values(model.partable, model.representation, stats))

    def init(seed):
        return z0 + 0.05 * np.random.default_rng(int(seed) % 2**32).standard_normal(z0.size)

    km = KernelModel(
        dims={"z": ("param",)},
        kernel=load_kernel(),
        data=pack(model, spec, model_data(model, spec, stats)),
        names=spec.names,
        init=init,
    )
    kw = {"draws": 40, "tune": 60, "chains": 2, "cores": 2, "seed": 5, "progress_bar": False}
    fast = sample_kernel(km, **kw)["posterior"]["z"].values
    public = sample_kernel(km, callback=False, **kw)["posterior"]["z"].values
    assert fast.shape == (2, 40, spec.size)
    np.testing.assert_array_equal(fast, public)
