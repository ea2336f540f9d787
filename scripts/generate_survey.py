"""Generate the synthetic BMI survey and its ground truth.

With no arguments this regenerates the shipped files exactly::

    python scripts/generate_survey.py
    # -> data/bmi_survey.csv (632 firms, seed 20261127) and data/ground_truth.json

Other designs: choose the sample size, the seed and the paths, and write elsewhere::

    python scripts/generate_survey.py --n 300 --seed 7 --path CP=0.2 --path TI=0.1 --b 0.3 \\
        --out my/survey.csv --truth my/truth.json

``--from-truth FILE`` starts from a truth JSON (e.g. an edited copy of
``data/ground_truth.json``) instead of the built-in default. Files are written atomically.

A copy with answers missing at random (MAR; the mechanism goes into the truth file)::

    python scripts/generate_survey.py --missing-rate 0.15 \
        --out my/survey_mar15.csv --truth my/truth_mar15.json

Every item but the anchor (``--missing-anchor``, default the first item) is then missing with
probability ``plogis(intercept + slope * z)``, ``z`` the standardized anchor answer
(``--missing-slope``, default 1); the answers given are those of the complete survey.

The grouped survey (small and medium firms that differ in one driver's path; see
``bayes_bmi.study.survey.grouped_truth``)::

    python scripts/generate_survey.py --groups
    # -> data/bmi_survey_groups.csv (1000 firms, seed 20261202) and data/ground_truth_groups.json

``--group-path medium=0.5`` changes a group's path of the group driver (``--group-driver``, TI).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bayes_bmi.io import atomic_write_csv, atomic_write_json
from bayes_bmi.study.survey import (
    GROUPS_N,
    GROUPS_SEED,
    SHIPPED_N,
    SHIPPED_SEED,
    MissingAnswers,
    SurveyTruth,
    default_truth,
    grouped_truth,
    modified_truth,
    parse_path_assignment,
    simulate_survey,
)

ROOT = Path(__file__).resolve().parents[1]


def _parse_path(text: str) -> tuple[str, float]:
    try:
        return parse_path_assignment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_truth(args: argparse.Namespace) -> SurveyTruth:
    truth = (
        SurveyTruth.from_json(args.from_truth.read_text(encoding="utf-8"))
        if args.from_truth
        else default_truth()
    )
    missing = None
    if args.missing_rate is not None:
        anchor = args.missing_anchor or truth.items[0]
        missing = MissingAnswers(rate=args.missing_rate, anchor=anchor, slope=args.missing_slope)
    truth = modified_truth(truth, dict(args.path or ()), args.b, missing)
    if args.groups:
        paths = None
        if args.group_path:
            paths = {"small": 0.10, "medium": 0.45, **dict(args.group_path)}
        truth = grouped_truth(driver=args.group_driver, paths=paths, base=truth)
    return truth


def _groups(truth: SurveyTruth, survey) -> str:
    if truth.groups is None:
        return ""
    g = truth.groups
    counts = survey[g.column].value_counts()
    return "; " + ", ".join(
        f"{label} {int(counts.get(label, 0))} firms ({g.driver} path {v:g})"
        for label, v in g.paths.items()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate the synthetic BMI survey (Likert items + firm descriptors)."
    )
    parser.add_argument("--n", type=int, default=None, help="number of firms (632; 1000)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (20261127; 20261202)")
    parser.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="where to write the ground truth used (data/ground_truth[_groups].json)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the survey (data/bmi_survey[_groups].csv)",
    )
    parser.add_argument(
        "--groups",
        action="store_true",
        help="the grouped survey: a size column (small 60%%, medium 40%%) and one driver's path "
        "differing by group (defaults after ';' in the other options' help)",
    )
    parser.add_argument("--group-driver", default="TI", help="the driver whose path differs (TI)")
    parser.add_argument(
        "--group-path",
        type=_parse_path,
        action="append",
        metavar="GROUP=VALUE",
        help="standardized path of the group driver in a group (small=0.10, medium=0.45)",
    )
    parser.add_argument(
        "--from-truth", type=Path, default=None, help="start from this truth JSON file"
    )
    parser.add_argument(
        "--path",
        type=_parse_path,
        action="append",
        metavar="DRIVER=VALUE",
        help="set a standardized driver -> BMI path, e.g. --path CP=0.2 (repeatable)",
    )
    parser.add_argument("--b", type=float, default=None, help="standardized BMI -> FP path")
    parser.add_argument(
        "--missing-rate",
        type=float,
        default=None,
        help="share of item answers missing at random, e.g. 0.15 (default: none missing)",
    )
    parser.add_argument(
        "--missing-anchor", default=None, help="the always-answered item (default: the first)"
    )
    parser.add_argument(
        "--missing-slope",
        type=float,
        default=1.0,
        help="log-odds of a missing answer per SD of the anchor answer (1)",
    )
    args = parser.parse_args(argv)
    suffix = "_groups" if args.groups else ""
    if args.n is None:
        args.n = GROUPS_N if args.groups else SHIPPED_N
    if args.seed is None:
        args.seed = GROUPS_SEED if args.groups else SHIPPED_SEED
    args.truth = args.truth or ROOT / "data" / f"ground_truth{suffix}.json"
    args.out = args.out or ROOT / "data" / f"bmi_survey{suffix}.csv"
    if args.n < 1:
        parser.error("--n must be a positive integer")
    try:
        truth = build_truth(args)
        survey = simulate_survey(truth, args.n, args.seed)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    atomic_write_json(args.truth, truth.to_dict())
    atomic_write_csv(args.out, survey)
    holes = ""
    if truth.missing is not None:
        cells = survey[list(truth.items)]
        holes = (
            f"; {int(cells.isna().sum().sum())} answers missing at random "
            f"({100 * cells.isna().to_numpy().mean():.1f}%, anchor {truth.missing.anchor}), "
            f"{int(cells.notna().all(axis=1).sum())} complete rows"
        )
    print(
        f"wrote {args.out} ({args.n} firms, {len(truth.items)} items, seed {args.seed}) and "
        f"{args.truth} (R^2 of {truth.second_order} = {truth.r2_bmi:.3f}){holes}"
        f"{_groups(truth, survey)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
