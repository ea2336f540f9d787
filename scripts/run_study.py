"""The main job behind ``make study``: the thesis study on the shipped data into results/.

Runs the literature count, the expert screening, the PCA of the business-model items,
reliability and validity, the Bayesian SEM of ``models/bmi_drivers.lav`` with its ML
cross-check, the hypotheses, the key drivers, the comparison with the alternative driver
models, the recovery of the known truth of the synthetic data, and writes the report.
Equivalent to ``bayes-bmi study`` with the shipped inputs.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the thesis study into results/.")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from bayes_bmi.cli.main import app

    argv = [
        "study",
        "--data",
        str(ROOT / "data/bmi_survey.csv"),
        "--model",
        str(ROOT / "models/bmi_drivers.lav"),
        "--hypotheses",
        str(ROOT / "models/bmi_drivers.hypotheses.toml"),
        "--alternative",
        str(ROOT / "models/bmi_drivers_direct.lav"),
        "--alternative",
        str(ROOT / "models/bmi_drivers_dimensions.lav"),
        "--truth",
        str(ROOT / "data/ground_truth.json"),
        "--literature",
        str(ROOT / "data/literature/bm_elements.csv"),
        "--experts",
        str(ROOT / "data/experts/ratings_example.csv"),
        "--out",
        str(args.out),
        "--draws",
        str(args.draws),
        "--tune",
        str(args.tune),
        "--chains",
        str(args.chains),
        "--seed",
        str(args.seed),
    ]
    try:
        app(argv, standalone_mode=False)
    except SystemExit as exc:  # typer.Exit
        return int(exc.code or 0)
    except Exception as exc:  # click exceptions carry exit codes
        code = getattr(exc, "exit_code", None)
        if code is not None:
            return int(code)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
