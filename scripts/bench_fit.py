"""Benchmark: compile time, sampling time and ESS per wall-second of the Bayesian fit.

For the Holzinger-Swineford CFA and the Political Democracy SEM, measured in one run on this
machine, each with 4 chains x 1000 draws after 1000 tuning steps:

* bayes-bmi with nutpie, cold (compile + sample) and warm (the compiled model reused from a
  ``CompileCache``, as when the same structure is refitted with new data, seed or priors);
* bayes-bmi with PyMC's own NUTS (compiled on every call);
* a baseline PyMC model in the conditional form, which samples every case's latent scores
  (the textbook way of writing an SEM in a PPL), sampled with nutpie.

It prints compile and sampling seconds, min bulk ESS over the model parameters, ESS per
wall-second (wall = compile + sampling for "cold", sampling only for "warm"), and ratios to
blavaan 0.4.8's measured 51 bulk-ESS per wall-second on the HS CFA (3 chains, 25.7 s, from
``shared/reference/lavaan/blavaan_hs_cfa.json``). Post-processing (derived quantities, the
casewise log-likelihood) is reported apart. Run: ``python scripts/bench_fit.py [--quick]``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pymc as pm  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

from bayes_bmi.bayes.builder import model_data  # noqa: E402
from bayes_bmi.bayes.likelihood import matrices_pt, prior_logp_pt, rows_pt  # noqa: E402
from bayes_bmi.bayes.parameters import param_spec, z_from_rows  # noqa: E402
from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig, bayesian_model, fit_bayes  # noqa: E402
from bayes_bmi.lavaan.model import read_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    ("HS CFA", "models/hs_cfa.lav", "tests/data/HolzingerSwineford1939.csv"),
    ("Political Democracy", "models/poldem_sem.lav", "tests/data/PoliticalDemocracy.csv"),
]
BLAVAAN_ESS_PER_S = 51.0


def conditional_model(model, data: pd.DataFrame):
    """Baseline: the same SEM and priors, latent scores sampled for every case."""
    from bayes_bmi.ml.fit import fit_ml

    model = bayesian_model(model)
    ml = fit_ml(model, data)
    spec = param_spec(model)
    md = model_data(model, spec, ml.stats)
    rep = model.representation
    y = data[list(model.ov_names)].dropna().to_numpy(dtype=float)
    n, m = y.shape[0], rep.m
    with pm.Model(coords={"param": list(spec.names)}) as pmm:
        z = pm.Flat("z", dims="param")
        rows = rows_pt(
            z,
            pt.constant(md.values["fixed_values"]),
            spec.transform_codes,
            spec.free_rows,
            spec.free_k,
            spec.corr_rows,
            spec.corr_k,
            spec.corr_var_lhs,
            spec.corr_var_rhs,
        )
        mats = matrices_pt(rep, rows)
        zeta = pm.MvNormal("zeta", mu=np.zeros(m), cov=mats["psi"], shape=(n, m))
        a_inv = pt.eye(m) if mats["a_inv"] is None else mats["a_inv"]
        eta = (mats["alpha"] + zeta) @ a_inv.T
        pm.MvNormal("y", mu=mats["nu"] + eta @ mats["lambda"].T, cov=mats["theta"], observed=y)
        pm.Potential(
            "logprior",
            pt.sum(
                prior_logp_pt(
                    z,
                    spec.transform_codes,
                    *[
                        pt.constant(md.values[k])
                        for k in ("prior_family", "prior_a", "prior_b", "prior_c", "prior_on_var")
                    ],
                )
            ),
        )
    start = {"z": z_from_rows(spec, ml.values), "zeta": np.zeros((n, m))}
    return pmm, start, spec


def min_ess(idata, var: str, names: list[str] | None = None) -> float:
    s = az.summary(idata, var_names=[var], round_to="none")
    return float(s["ess_bulk"].min())


def run(args: argparse.Namespace) -> None:
    draws, tune = (300, 300) if args.quick else (1000, 1000)
    config = SamplerConfig(draws=draws, tune=tune, chains=4, seed=1, progress=False)
    rows = []
    for name, model_file, data_file in CASES:
        model = read_model(ROOT / model_file)
        data = pd.read_csv(ROOT / data_file)
        cache = CompileCache()
        for label, cfg, c in [
            ("nutpie cold", config, cache),
            ("nutpie warm (reused)", SamplerConfig(**{**config.__dict__, "seed": 2}), cache),
            ("PyMC NUTS", SamplerConfig(**{**config.__dict__, "sampler": "pymc"}), None),
        ]:
            t0 = time.perf_counter()
            res = fit_bayes(model, data, config=cfg, cache=c)
            total = time.perf_counter() - t0
            d = res.diagnostics
            compile_s = d["compile_seconds"] if cfg.sampler == "nutpie" else 0.0
            sample_s = d["sampling_seconds"]
            if cfg.sampler == "pymc":  # PyMC compiles inside pm.sample
                compile_s, sample_s = 0.0, sample_s
            ess = d["min_ess_bulk"]
            wall = compile_s + sample_s
            rows.append(
                {
                    "model": name,
                    "method": label,
                    "compile_s": compile_s,
                    "sampling_s": sample_s,
                    "postprocess_s": d["postprocess_seconds"],
                    "total_s": total,
                    "min_ess_bulk": ess,
                    "ess_per_s": ess / wall,
                    "max_r_hat": d["max_r_hat"],
                    "divergences": d["divergences"],
                }
            )
        # baseline: conditional form
        import nutpie

        pmm, start, spec = conditional_model(model, data)
        t0 = time.perf_counter()
        cm = nutpie.compile_pymc_model(pmm, initial_points=start, jitter_rvs=set())
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        tr = nutpie.sample(
            cm, draws=draws, tune=tune, chains=4, cores=2, seed=1, progress_bar=False
        )
        sample_s = time.perf_counter() - t0
        ess = min_ess(tr, "z")
        s = az.summary(tr, var_names=["z"], round_to="none")
        rows.append(
            {
                "model": name,
                "method": "baseline: latent scores sampled (nutpie)",
                "compile_s": compile_s,
                "sampling_s": sample_s,
                "postprocess_s": 0.0,
                "total_s": compile_s + sample_s,
                "min_ess_bulk": ess,
                "ess_per_s": ess / (compile_s + sample_s),
                "max_r_hat": float(s["r_hat"].max()),
                "divergences": int(tr["sample_stats"]["diverging"].values.sum()),
            }
        )
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.round(2).to_string(index=False))
    print("\nRatios (measured in this run):")
    for name in table["model"].unique():
        t = table[table["model"] == name].set_index("method")
        warm = t.loc["nutpie warm (reused)", "ess_per_s"]
        cold = t.loc["nutpie cold", "ess_per_s"]
        base = t.loc["baseline: latent scores sampled (nutpie)", "ess_per_s"]
        pymc_ = t.loc["PyMC NUTS", "ess_per_s"]
        print(
            f"  {name}: warm / cold ESS/s = {warm / cold:.1f}x; cold / PyMC NUTS = "
            f"{cold / pymc_:.1f}x; cold / conditional baseline = {cold / base:.1f}x; "
            f"warm / conditional baseline = {warm / base:.1f}x"
        )
    hs = table[table["model"] == "HS CFA"].set_index("method")
    print(
        f"  HS CFA vs blavaan 0.4.8 ({BLAVAAN_ESS_PER_S:.0f} bulk-ESS per wall-second, "
        "measured on a 2-core machine, not in this run):"
    )
    for method in ("nutpie cold", "nutpie warm (reused)"):
        print(f"    {method}: {hs.loc[method, 'ess_per_s'] / BLAVAAN_ESS_PER_S:.1f}x")
    print(
        "\nNote: ESS per second for 'warm' excludes compilation (the compiled model is "
        "reused); 'cold' includes it."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the Bayesian fit.")
    parser.add_argument("--quick", action="store_true", help="300 draws instead of 1000")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
