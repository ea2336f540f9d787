"""Model checks of bayes-bmi beside blavaan 0.4.8's on Holzinger-Swineford and Political Democracy.

Fits the HS three-factor CFA and its independence model (4 chains x 1000 draws after 1000
warm-up steps, blavaan's default priors) and prints PPP, LOOIC, WAIC, p_loo and the Bayesian fit
indices beside blavaan's (``tests/data/checking/blavaan_hs_cfa.json``); then the PPP, LOOIC and
WAIC of the Political Democracy SEM beside blavaan's (``blavaan_poldem_sem_mlstart.json``).

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python scripts/check_blavaan_hs.py
[--seed N]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig, fit_bayes
from bayes_bmi.checking.compare import independence_model
from bayes_bmi.checking.ppc import check_model
from bayes_bmi.lavaan.model import read_model

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "data" / "checking"


def _row(label: str, ours: float, theirs: float | None, digits: int = 3) -> str:
    t = "" if theirs is None else f"{theirs:.{digits}f}"
    d = "" if theirs is None else f"{ours - theirs:+.{digits}f}"
    return f"{label:<26}{ours:>12.{digits}f}{t:>12}{d:>11}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = SamplerConfig(draws=1000, tune=1000, chains=4, seed=args.seed, progress=False)
    cache = CompileCache()

    # Holzinger-Swineford
    ref = json.loads((REF / "blavaan_hs_cfa.json").read_text())
    hs = pd.read_csv(ROOT / "tests" / "data" / "HolzingerSwineford1939.csv")
    t0 = time.perf_counter()
    model = read_model(ROOT / "models" / "hs_cfa.lav")
    res = fit_bayes(model, hs, config=config, cache=cache)
    base = fit_bayes(independence_model(model.ov_names), hs, config=config, cache=cache)
    check = check_model(res, base, seed=args.seed)
    secs = time.perf_counter() - t0
    fm = ref["fit_measures"]
    idx = ref["blavFitIndices_with_baseline"]["summary"]
    crit = check.criteria
    print(f"Holzinger-Swineford CFA, n = {res.stats.n}, means: {check.means}, {secs:.0f} s")
    print(
        f"  model: max R-hat {res.diagnostics['max_r_hat']:.4f}, min bulk ESS "
        f"{res.diagnostics['min_ess_bulk']:.0f}, divergences {res.diagnostics['divergences']}; "
        f"independence model: max R-hat {base.diagnostics['max_r_hat']:.4f}"
    )
    print(f"{'':<26}{'bayes-bmi':>12}{'blavaan':>12}{'diff':>11}")
    print(_row("PPP", check.ppp.ppp, fm["ppp"]))
    print(_row("LOOIC", crit["looic"], fm["looic"], 2))
    print(_row("  SE", crit["se_looic"], fm["se_loo"], 2))
    print(_row("  p_loo", crit["p_loo"], fm["p_loo"], 2))
    print(_row("  Pareto k > 0.7 (count)", crit["n_pareto_k_high"], None, 0))
    print(_row("WAIC", crit["waic"], fm["waic"], 2))
    print(_row("  SE", crit["se_waic"], fm["se_waic"], 2))
    print(_row("  p_waic", crit["p_waic"], fm["p_waic"], 2))
    summary = check.index_summary.set_index("index")
    for r in idx:
        s = summary.loc[r["index"]]
        print(_row(f"{r['index']} mean", s["mean"], r["EAP"], 4))
        print(_row("  SD", s["sd"], r["SD"], 4))
        print(_row("  90% HPD lower", s["lower"], r["lower"], 4))
        print(_row("  90% HPD upper", s["upper"], r["upper"], 4))

    # Political Democracy
    ref = json.loads((REF / "blavaan_poldem_sem_mlstart.json").read_text())["fit_measures"]
    pd_data = pd.read_csv(ROOT / "tests" / "data" / "PoliticalDemocracy.csv")
    t0 = time.perf_counter()
    res = fit_bayes(
        read_model(ROOT / "models" / "poldem_sem.lav"), pd_data, config=config, cache=cache
    )
    check = check_model(res, seed=args.seed)
    secs = time.perf_counter() - t0
    crit = check.criteria
    print(f"\nPolitical Democracy SEM, n = {res.stats.n}, means: {check.means}, {secs:.0f} s")
    print(
        f"  model: max R-hat {res.diagnostics['max_r_hat']:.4f}, min bulk ESS "
        f"{res.diagnostics['min_ess_bulk']:.0f}, divergences {res.diagnostics['divergences']}"
    )
    print(f"{'':<26}{'bayes-bmi':>12}{'blavaan':>12}{'diff':>11}")
    print(_row("PPP", check.ppp.ppp, ref["ppp"]))
    print(_row("LOOIC", crit["looic"], ref["looic"], 2))
    print(_row("  p_loo", crit["p_loo"], ref["p_loo"], 2))
    print(_row("WAIC", crit["waic"], ref["waic"], 2))
    print(_row("BRMSEA mean", check.index_means()["BRMSEA"], 0.0339128990477731, 4))


if __name__ == "__main__":
    main()
