"""Simulation-based calibration of the Holzinger-Swineford CFA (issue 14's check).

Draws 200 truths from the priors (``--priors``: ``weak``, the weakly informative set of
:mod:`bayes_bmi.calibration.prior_sets`, by default; ``default`` for blavaan's vague priors;
or a TOML/JSON file), the same priors the fits use, simulates n = 301 cases from each, fits
each by NUTS (2 chains x 1000 draws after 500 warm-up steps; a fit with a convergence warning
is rerun once with twice the draws and warm-up, ``--extend``, and every fit is ranked; each
rank among the draws thinned evenly to the parameter's effective sample size, at most 99) on
a Dask ``LocalCluster`` and prints:

* the uniformity test per parameter (chi-square on 20 bins, the expected counts exact for
  each rank's number of draws; family-wise level 0.05 with
  Bonferroni over the 30 parameters, i.e. p > 0.05 / 30 per parameter) and how many also
  pass the plain ``p > 0.01``;
* the coverage of the central 50/80/95% intervals over parameters (the issue's target:
  95% coverage in [0.92, 0.98]);
* sampler trouble: simulations with R-hat above 1.01 or divergences.

``--model driver`` calibrates the reduced driver model ``models/bmi_drivers_reduced.lav``
instead (three factors, two regressions and the indirect effect ``ind := a*b``, ranked too).

Results (``ranks.csv``, ``uniformity.csv``, ``coverage.csv``, ``sims.csv``, the figures) go to
``--out`` (default ``results/sbc_hs``); a stopped run resumes from the simulations written.

Run: ``python scripts/sbc_hs.py [--sims 200] [--model hs|driver] [--priors weak|default|FILE]
[--workers 2] [--scheduler ADDRESS]``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "hs": ROOT / "models" / "hs_cfa.lav",
    "driver": ROOT / "models" / "bmi_drivers_reduced.lav",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--n", type=int, default=301)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--model", choices=sorted(MODELS), default="hs")
    parser.add_argument("--priors", default="weak")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--extend", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or ROOT / "results" / f"sbc_{args.model}_{Path(args.priors).stem}"

    import bayes_bmi as bb

    res = bb.calibrate(
        MODELS[args.model],
        sims=args.sims,
        n=args.n,
        scheduler=args.scheduler,
        workers=args.workers,
        out=out,
        seed=args.seed,
        priors=args.priors,
        extend=args.extend,
        draws=args.draws,
        tune=args.tune,
    )
    u, cov, sims = res.uniformity, res.coverage, res.sims
    print(
        f"\n{len(sims)} simulations ({res.fitted} fitted now, {res.workers} workers, "
        f"{res.seconds:.0f} s)"
    )
    print(u.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(
        f"uniformity: {int(u['passed'].sum())}/{len(u)} parameters pass at p > "
        f"{u['threshold'].iat[0]:.2g} (Bonferroni, family-wise 0.05); "
        f"{int((u['pvalue'] > 0.01).sum())}/{len(u)} at p > 0.01; min p = {u['pvalue'].min():.3g}"
    )
    for q, sub in cov.groupby("nominal"):
        print(
            f"coverage {q:.0%}: mean {sub['coverage'].mean():.3f}, range "
            f"[{sub['coverage'].min():.3f}, {sub['coverage'].max():.3f}] over {len(sub)} "
            f"parameters (Monte Carlo SE of one parameter {sub['mc_se'].iat[0]:.3f})"
        )
    ok = sims[sims["failed"].isna()]
    bad = ok[(ok["max_r_hat"] > 1.01) | (ok["divergences"] > 0)]
    longer = int((ok["draws"] > args.draws).sum())
    print(
        f"sampler: {len(sims) - len(ok)} of {len(sims)} simulations failed to fit (no draws to "
        f"rank); {longer} rerun longer after a convergence warning; every fitted one ranked: "
        f"{len(bad)} of {len(ok)} with R-hat > 1.01 or divergences "
        f"({int((ok['max_r_hat'] > 1.05).sum())} above 1.05), "
        f"{int((~ok['converged'].astype(bool)).sum())} with any convergence warning; median "
        f"{sims['seconds'].median():.1f} s per simulation"
    )


if __name__ == "__main__":
    main()
