"""Benchmark: calibration throughput on a Dask LocalCluster of 1 and of 2 worker processes.

For each cluster size it starts a ``LocalCluster`` of single-threaded worker processes, warms
every worker up (one simulation each: the kernel loaded from the on-disk cache, the imports
done), then times ``--sims`` simulations of the Holzinger-Swineford CFA (n = 301, the
calibration's default sampler settings) and prints simulations per minute and the speed-up
of 2 workers over 1 (issue 14's target: at least 1.6 on a 2-core machine). The load average
is printed before and after: other work on the machine takes cores from the workers.

Run: ``python scripts/bench_scale.py [--sims 24] [--model models/hs_cfa.lav] [--n 301]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]


def throughput(model, n: int, sims: int, workers: int, seed: int) -> tuple[float, float]:
    """(simulations per minute, seconds) of ``sims`` simulations on ``workers`` warm workers."""
    from distributed import Client, LocalCluster

    from bayes_bmi.calibration.runner import calibrate

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        # warm-up: one simulation per worker (another seed, so no result is reused)
        calibrate(model, n, workers, client=client, seed=seed + 1, progress=False)
        t0 = time.perf_counter()
        res = calibrate(model, n, sims, client=client, seed=seed, progress=False)
        seconds = time.perf_counter() - t0
    assert res.fitted == sims
    return 60.0 * sims / seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=24)
    parser.add_argument("--n", type=int, default=301)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "hs_cfa.lav")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    from bayes_bmi.api import specify

    model = specify(args.model)
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    rates = {}
    for workers in (1, 2):
        rate, seconds = throughput(model, args.n, args.sims, workers, args.seed)
        rates[workers] = rate
        print(
            f"{workers} worker(s): {args.sims} simulations in {seconds:.1f} s = "
            f"{rate:.1f} per minute"
        )
    print(f"speed-up 2 vs 1 workers: {rates[2] / rates[1]:.2f}x (target >= 1.6)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
