"""Power of the thesis hypotheses by simulation (issue 14's check).

Draws ``--sims`` Likert surveys at each sample size ``--n`` from the ground truth
``data/ground_truth.json`` (exactly as the shipped survey was drawn), fits
``models/bmi_drivers.lav`` to each by NUTS (``--chains`` x ``--draws`` after ``--tune``
warm-up steps) beside its ML fit on a Dask ``LocalCluster`` (or ``--scheduler``), judges the
hypotheses of ``models/bmi_drivers.hypotheses.toml`` with the study's rule and prints:

* P(supported) per hypothesis and n (Bayesian and ML verdicts) with Monte Carlo SEs;
* whether every curve is non-decreasing in n up to 2 Monte Carlo SEs (hypotheses whose true
  effect is 0, such as H3 and H10c, are false-positive rates and are flagged, not checked);
* P(H7 supported) at n = 632 with its Monte Carlo SE (when 632 is among the sizes);
* the smallest n reaching ``--target`` per hypothesis.

Results (``power.csv``, ``power_summary.csv``, ``sims.csv``, ``power.png``) go to ``--out``
(default ``results/power_thesis``); a stopped run resumes from the fits written.

Run: ``python scripts/power_thesis.py [--n 200,400,632,1000] [--sims 100] [--draws 500]
[--chains 4] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="200,400,632,1000", help="sample sizes, comma-separated")
    parser.add_argument("--sims", type=int, default=100)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--target", type=float, default=0.8)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--seed", type=int, default=632)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "power_thesis")
    args = parser.parse_args()

    import json

    import pandas as pd

    import bayes_bmi as bb

    truth_file = ROOT / "data" / "ground_truth.json"
    res = bb.power(
        ROOT / "models" / "bmi_drivers.lav",
        truth_file,
        ROOT / "models" / "bmi_drivers.hypotheses.toml",
        n=[int(v) for v in args.n.split(",")],
        sims=args.sims,
        target=args.target,
        scheduler=args.scheduler,
        workers=args.workers,
        out=args.out,
        seed=args.seed,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
    )
    t = res.table
    paths = json.loads(truth_file.read_text(encoding="utf-8"))["paths"]
    pd.set_option("display.width", 200)
    print(f"\n{len(res.sims)} fits ({res.fitted} now, {res.seconds:.0f} s, {res.workers} workers)")
    print(f"fits with a convergence warning: {int((~res.sims['converged'].astype(bool)).sum())}")
    for col in ("p_supported", "ml_p_supported"):
        print(f"\n{col} by n:")
        print(t.pivot(index="id", columns="n", values=col).reindex(t["id"].unique()).round(3))
    null = {h for h, p in t.groupby("id")["parameter"].first().items() if _is_null(p, paths)}
    print(f"\nzero true effect (false-positive rates, not power): {sorted(null) or 'none'}")
    bad = []
    for hid, rows in t.groupby("id", sort=False):
        rows = rows.sort_values("n")
        p, se = rows["p_supported"].to_numpy(), rows["mcse_supported"].to_numpy()
        drops = [i for i in range(1, len(p)) if p[i] < p[i - 1] - 2 * max(se[i], se[i - 1], 1e-9)]
        if drops and hid not in null:
            bad.append(hid)
    verdict = "yes" if not bad else "no: " + ", ".join(bad)
    print(f"curves non-decreasing in n (within 2 MC SEs): {verdict}")
    h7 = t[(t["id"] == "H7") & (t["n"] == 632)]
    if len(h7):
        r = h7.iloc[0]
        print(
            f"P(H7 supported) at n = 632: {r['p_supported']:.3f} (MC SE {r['mcse_supported']:.3f}, "
            f"{int(r['sims'])} sims); ML: {r['ml_p_supported']:.3f} "
            f"(MC SE {r['ml_mcse_supported']:.3f})"
        )
    print(f"\nsmallest n with power >= {args.target:g}:")
    print(res.summary.to_string(index=False))
    print(f"\nwrote {args.out}")


def _is_null(parameter: str, paths: dict[str, float]) -> bool:
    """Whether the thesis truth's effect of a g_XX or ind_XX parameter is 0."""
    for prefix in ("g_", "ind_"):
        if parameter.startswith(prefix):
            return paths.get(parameter[len(prefix) :], 1.0) == 0.0
    return False


if __name__ == "__main__":
    main()
