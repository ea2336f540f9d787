"""The main job behind ``make study``: the thesis study on the shipped data into results/.

Runs the literature count, the expert screening, the PCA of the business-model items,
reliability and validity, the Bayesian SEM of ``models/bmi_drivers.lav`` with its ML
cross-check, the hypotheses, the key drivers, the comparison with the alternative driver
models, the recovery of the known truth of the synthetic data
(:func:`bayes_bmi.study.pipeline.run_study`), and writes tables, figures and the report
(:func:`bayes_bmi.report.study.write_study`). Equivalent to ``bayes-bmi study`` with the
shipped inputs. Input paths are given relative to the working folder (as ``make study`` runs
from the repository), so the report shows ``data/bmi_survey.csv`` rather than an absolute
path. Exit code 0 on success, 1 when the chains did not converge (results are written), 2 on
bad input (nothing is written).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def shipped(name: str) -> Path:
    """A shipped input, relative to the working folder when that is possible."""
    try:
        return Path(os.path.relpath(ROOT / name))
    except ValueError:  # another drive (Windows): no relative path exists
        return ROOT / name


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the thesis study into results/.")
    parser.add_argument("--out", type=Path, default=shipped("results"))
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--ordinal",
        action="store_true",
        help="also fit the main model with ordered items and set the verdicts side by side",
    )
    args = parser.parse_args()
    from bayes_bmi.bayes.sampling import SamplerConfig
    from bayes_bmi.errors import BayesBmiError
    from bayes_bmi.report.study import write_study
    from bayes_bmi.study.pipeline import StudyConfig, run_study

    config = StudyConfig(
        data=shipped("data/bmi_survey.csv"),
        model=shipped("models/bmi_drivers.lav"),
        hypotheses=shipped("models/bmi_drivers.hypotheses.toml"),
        alternatives=(
            shipped("models/bmi_drivers_direct.lav"),
            shipped("models/bmi_drivers_dimensions.lav"),
        ),
        truth=shipped("data/ground_truth.json"),
        literature=shipped("data/literature/bm_elements.csv"),
        experts=shipped("data/experts/ratings_example.csv"),
        sampler=SamplerConfig(
            draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed, progress=False
        ),
        ordinal=args.ordinal,
    )
    try:
        results = run_study(config)
        written = write_study(results, args.out)
    except BayesBmiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files to {args.out}; report: {args.out / 'report.md'}")
    if not results.converged:
        print("WARNING: the main model's chains did not converge; see the report.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
