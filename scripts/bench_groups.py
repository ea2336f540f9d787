"""Benchmark: a two-group thesis model against the single-group one (issue 13: at most 2x).

Runs ``bayes-bmi fit models/bmi_drivers.lav data/bmi_survey_groups.csv`` (n = 1000) and the
same command with ``--group size`` (small 597, medium 403; configural) as subprocesses, each in
a new process with a warm kernel cache (one run of each first, not counted), then interleaved
single, two-group, single, two-group, ... so both see the same load. For every run it prints
the wall clock and where the time went (from the run's ``diagnostics.json``: ML fit, nutpie
import, kernel load, sampling, post-processing, summary; "other" is the rest: interpreter
start-up, imports, reading, printing, writing ``posterior.nc`` and the group tables), min bulk
ESS and the mean tree depth, then the ratio two-group / single of the medians. The machine's
load average is printed before and after: on a shared machine the ratio is the figure to read.

Run: ``python scripts/bench_groups.py`` (about 3-5 minutes on 2 cores); ``--repeats 3`` runs
more pairs; ``--keep DIR`` keeps the outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from bayes_bmi.cli import app; app()"]
MODEL = "models/bmi_drivers.lav"
DATA = "data/bmi_survey_groups.csv"
GROUP = "size"
TARGET = 2.0
STAGES = (
    "ml_seconds",
    "sampler_import_seconds",
    "compile_seconds",
    "sampling_seconds",
    "postprocess_seconds",
    "summary_seconds",
)


def run_cli(out: Path, cache: Path | None, group: str | None) -> dict:
    """One ``bayes-bmi fit`` in a new process: wall clock and the diagnostics' stages."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    if cache is not None:
        env["BAYES_BMI_CACHE_DIR"] = str(cache)
    cmd = [*CLI, "fit", str(ROOT / MODEL), str(ROOT / DATA), "--out", str(out)]
    cmd += ["--no-progress", "--allow-unconverged"]
    if group:
        cmd += ["--group", group]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    diag = json.loads((out / "diagnostics.json").read_text())
    stages = {k: float(diag.get(k) or 0.0) for k in STAGES}
    return {
        "wall": wall,
        **stages,
        "other_seconds": wall - sum(stages.values()),
        "kernel_cache": diag.get("kernel_cache"),
        "min_ess_bulk": diag["min_ess_bulk"],
        "mean_tree_depth": diag.get("mean_tree_depth"),
        "adaptation": diag.get("adaptation"),
    }


def print_runs(runs: list[tuple[str, dict]], loads: tuple) -> None:
    print(f"\nLoad average (1, 5, 15 min) before: {loads[0]}, after: {loads[1]}")
    print(
        "\n| run | wall | ML fit | nutpie import | kernel | sampling | post-processing "
        "| summary | other | min bulk ESS | mean depth | kernel cache |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in runs:
        print(
            f"| {name} | {r['wall']:.1f} | {r['ml_seconds']:.1f} "
            f"| {r['sampler_import_seconds']:.1f} | {r['compile_seconds']:.1f} "
            f"| {r['sampling_seconds']:.1f} | {r['postprocess_seconds']:.1f} "
            f"| {r['summary_seconds']:.1f} | {r['other_seconds']:.1f} | {r['min_ess_bulk']:.0f} "
            f"| {r['mean_tree_depth']:.2f} | {r['kernel_cache']} |"
        )


def print_ratios(runs: list[tuple[str, dict]]) -> None:
    single = [r for n, r in runs if n.startswith("single")]
    groups = [r for n, r in runs if n.startswith("groups")]
    print("\nTwo-group / single-group (medians of the timed runs):")
    for key in ("wall", *STAGES, "other_seconds"):
        a = float(np.median([r[key] for r in groups]))
        b = float(np.median([r[key] for r in single]))
        ratio = f"{a / b:.2f}x" if b > 0 else "-"
        print(f"  {key:<24} {a:6.1f} s vs {b:6.1f} s  {ratio}")
    pairs = [g["wall"] / s["wall"] for s, g in zip(single, groups, strict=True)]
    wall = float(np.median([r["wall"] for r in groups])) / float(
        np.median([r["wall"] for r in single])
    )
    verdict = "met" if wall <= TARGET else "NOT met"
    print(
        f"\nwall clock ratio {wall:.2f}x (pairs: {', '.join(f'{p:.2f}x' for p in pairs)}); "
        f"target <= {TARGET:.0f}x: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="timed pairs (default 2)")
    parser.add_argument("--keep", type=Path, default=None, help="keep outputs in this folder")
    parser.add_argument(
        "--cache", type=Path, default=None, help="kernel cache folder (default: the user's)"
    )
    args = parser.parse_args()
    runs: list[tuple[str, dict]] = []
    with tempfile.TemporaryDirectory(prefix="bench_groups_") as tmp:
        work = args.keep or Path(tmp)
        for name, group in (("warm-up single", None), ("warm-up groups", GROUP)):
            r = run_cli(work / name.replace(" ", "_"), args.cache, group)
            print(f"{name}: {r['wall']:.1f} s (not counted)", flush=True)
        loads_before = tuple(round(x, 2) for x in os.getloadavg())
        for i in range(1, args.repeats + 1):
            for name, group in ((f"single {i}", None), (f"groups {i}", GROUP)):
                r = run_cli(work / name.replace(" ", "_"), args.cache, group)
                runs.append((name, r))
                print(f"{name}: {r['wall']:.1f} s", flush=True)
    loads_after = tuple(round(x, 2) for x in os.getloadavg())
    print_runs(runs, (loads_before, loads_after))
    print_ratios(runs)


if __name__ == "__main__":
    main()
