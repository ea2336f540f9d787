"""Benchmark: ML fit time of the reference models against lavaan 0.6-14's measured medians.

Prints, for the Holzinger-Swineford CFA and the Political Democracy SEM, the median wall time
of bayes-bmi's whole ML fit (sample statistics, start values, optimisation, standard errors,
standardized solutions, fit measures; parsing excluded, as lavaan's timings were of
``sem()`` on a parsed model string) over repeated runs, and the ratio to lavaan's median
measured on a 2-core machine (HS CFA 0.048 s, Political Democracy 0.063 s). Run with
``make bench`` or ``python scripts/bench_ml.py [--repeats N]``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from bayes_bmi.lavaan.model import read_model, specify  # noqa: E402
from bayes_bmi.ml.fit import fit_ml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    ("HS CFA", "models/hs_cfa.lav", "tests/data/HolzingerSwineford1939.csv", 0.048),
    ("Political Democracy", "models/poldem_sem.lav", "tests/data/PoliticalDemocracy.csv", 0.063),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(
        f"{'model':<22}{'first s':>9}{'median s':>10}{'lavaan s':>10}{'ratio':>8}"
        "  (ratio = ours / lavaan)"
    )
    for name, model_file, data_file, lavaan_s in CASES:
        text = (ROOT / model_file).read_text()
        data = pd.read_csv(ROOT / data_file)
        t0 = time.perf_counter()
        model = specify(text)
        fit_ml(model, data)
        first = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = fit_ml(model, data)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        assert result.converged
        print(f"{name:<22}{first:>9.3f}{med:>10.4f}{lavaan_s:>10.3f}{med / lavaan_s:>8.2f}")
    # parsing + table building, for completeness
    t0 = time.perf_counter()
    for _ in range(args.repeats):
        read_model(ROOT / CASES[1][1])
    print(
        f"parse + table + representation (Political Democracy): "
        f"{(time.perf_counter() - t0) / args.repeats:.4f} s"
    )


if __name__ == "__main__":
    main()
