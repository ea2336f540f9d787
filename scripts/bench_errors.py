"""Benchmark: how long a user waits to be told about a mistake, ``bayes-bmi`` in a new process.

Each case is a command a careless user might type (a missing file, a bad option value, an
output folder that is a file, ...). It runs ``bayes-bmi`` as a new process, ``--repeat`` times,
and prints the best and the median wall clock beside the target (2 s: the CLI checks its
arguments and files before it imports the numerical stack), with the machine's load average
before and after. ``tests/test_bad_input.py`` checks the same cases' messages and that no heavy
package was imported; the seconds live here, not in a timed test.

Run: ``python scripts/bench_errors.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HS = "tests/data/HolzingerSwineford1939.csv"
HS_LAV = "models/hs_cfa.lav"
TARGET_S = 2.0
CASES = {
    "ml: no such model file": ("ml", "none.lav", HS, "--out", "{out}"),
    "fit: --out is a file": ("fit", HS_LAV, HS, "--out", HS),
    "fit: --target-accept 2": ("fit", HS_LAV, HS, "--out", "{out}", "--target-accept", "2"),
    "study: --seed -1": ("study", "--out", "{out}", "--seed", "-1"),
    "study: --literature none.csv": ("study", "--out", "{out}", "--literature", "none.csv"),
    "pca: no such data file": ("pca", "none.csv", "--out", "{out}", "--items-prefix", "x"),
    "reliability: --missing-codes n/a": (
        "reliability",
        HS_LAV,
        HS,
        "--out",
        "{out}",
        "--missing-codes",
        "n/a",
    ),
}


def time_case(args: tuple[str, ...], repeat: int) -> list[float]:
    """Wall clock of ``repeat`` new processes; each must exit 2 (a user error)."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "bayes_bmi", *(a.replace("{out}", f"{tmp}/o") for a in args)]
        for _ in range(repeat):
            t0 = time.perf_counter()
            res = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
            times.append(time.perf_counter() - t0)
            if res.returncode != 2:
                cmd = " ".join(args)
                raise SystemExit(f"{cmd}: exit {res.returncode}, expected 2\n{res.stderr}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print("| case | best | median | target | met |\n|---|---|---|---|---|")
    for name, case in CASES.items():
        times = time_case(case, args.repeat)
        best = min(times)
        print(
            f"| {name} | {best:.2f} s | {statistics.median(times):.2f} s | <= {TARGET_S:.0f} s "
            f"| {'yes' if best <= TARGET_S else 'no'} |"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
