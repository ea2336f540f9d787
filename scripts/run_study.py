"""The main job behind ``make study``.

Until the thesis study lands, this runs the ML fit of the shipped example models on the
reference data and writes ``results/<model>/estimates.csv`` and ``fit.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [
    ("hs_cfa", "models/hs_cfa.lav", "tests/data/HolzingerSwineford1939.csv"),
    ("poldem_indirect", "models/poldem_indirect.lav", "tests/data/PoliticalDemocracy.csv"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the bayes-bmi main job.")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args()
    for name, model, data in EXAMPLES:
        cmd = [sys.executable, "-m", "bayes_bmi.cli", "ml", str(ROOT / model), str(ROOT / data),
               "--out", str(args.out / name)]
        rc = subprocess.call(cmd)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
