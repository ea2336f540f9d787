"""Command line: ``bayes-bmi power`` and ``bayes-bmi sensitivity``.

``power MODEL --truth TRUTH.json --hypotheses H.toml --n 200,400,632,1000 --sims 100 --out DIR``
(:func:`bayes_bmi.api.power`) and ``sensitivity MODEL DATA --hypotheses H.toml --out DIR``
(:func:`bayes_bmi.api.sensitivity`). Like ``calibrate``, both run their fits on Dask (a
``LocalCluster`` of ``--workers`` processes, or ``--scheduler ADDRESS``) and fill ``--out`` as
they go: one JSON per fit under ``sims/`` or ``fits/``, so a stopped run resumes when the same
command is run again; the tables, the figure and ``provenance.json`` are written at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bayes_bmi.cli.common import (
    EXIT_INTERRUPTED,
    MAX_SEED,
    MissingCodes,
    MissingMethod,
    Sheet,
    check_inputs,
    check_missing,
    check_number,
    check_sheet,
    parse_missing_codes,
    print_table,
    record_provenance,
    write_provenance,
)
from bayes_bmi.cli.common import friendly as _friendly
from bayes_bmi.errors import OptionError

__all__ = ["power", "register", "sensitivity"]

Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster.",
    ),
]
Workers = Annotated[
    int | None, typer.Option("--workers", min=1, help="Worker processes of the local cluster.")
]
Seed = Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Random seed.")]


def _ints(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise OptionError(f"{option} {text}: expected whole numbers such as 200,400,632") from None
    if not values or min(values) < 2:
        raise OptionError(f"{option} {text}: every value must be at least 2")
    return values


def _names(text: str | None) -> list[str]:
    return [v.strip() for v in (text or "").split(",") if v.strip()]


def _interrupted(folder: Path) -> typer.Exit:
    typer.echo(
        f"interrupted: the finished fits are in {folder}; run the same command again to resume",
        err=True,
    )
    return typer.Exit(code=EXIT_INTERRUPTED)


@_friendly
def power(  # over 80 lines only because typer declares the options in the signature
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="Model file in lavaan syntax (.lav).")],
    truth: Annotated[
        Path,
        typer.Option(
            "--truth",
            help="Truth JSON: a survey truth (as data/ground_truth.json) or one value per "
            "free parameter.",
        ),
    ],
    hypotheses: Annotated[Path, typer.Option("--hypotheses", help="Hypotheses file (.toml).")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the results (a rerun resumes in it).")
    ],
    n: Annotated[
        str, typer.Option("--n", help="Sample sizes, comma-separated.")
    ] = "200,400,632,1000",
    sims: Annotated[int, typer.Option("--sims", min=1, help="Simulations per sample size.")] = 100,
    target: Annotated[
        float, typer.Option("--target", help="Power whose smallest n is reported.")
    ] = 0.8,
    scheduler: Scheduler = None,
    workers: Workers = None,
    draws: Annotated[int, typer.Option("--draws", min=1, help="Draws per chain.")] = 500,
    tune: Annotated[int, typer.Option("--tune", min=1, help="Warm-up steps per chain.")] = 500,
    chains: Annotated[int, typer.Option("--chains", min=1, help="Chains per fit.")] = 4,
    seed: Seed = 1,
) -> None:
    """Power by simulation: P(each hypothesis supported) at each sample size, on Dask."""
    check_inputs(
        models=[model],
        files={"--truth": (truth, "truth"), "--hypotheses": (hypotheses, "hypothesis")},
        out=out,
    )
    ns = _ints(n, "--n")
    check_number(target, "--target", 0.0, 1.0, open_low=True)
    from bayes_bmi.api import power as run

    provenance = record_provenance(
        ctx, seed=seed, inputs={"model": model, "truth": truth, "hypotheses": hypotheses}
    )
    typer.echo(
        f"power of {hypotheses} under {truth}: n = {', '.join(map(str, ns))}, {sims} "
        f"simulations each ({chains} chains x {draws} draws after {tune} warm-up steps)"
    )
    try:
        res = run(
            model,
            truth,
            hypotheses,
            n=ns,
            sims=sims,
            target=target,
            scheduler=scheduler,
            workers=workers,
            out=out,
            seed=seed,
            draws=draws,
            tune=tune,
            chains=chains,
        )
    except KeyboardInterrupt:
        raise _interrupted(out / "sims") from None
    write_provenance(out, provenance)
    wide = res.table.pivot(index="id", columns="n", values="p_supported")
    wide = wide.reindex(list(dict.fromkeys(res.table["id"]))).reset_index()
    wide.columns = [str(c) if c == "id" else f"n={c}" for c in wide.columns]
    print_table(wide, "P(supported), Bayesian verdict")
    print_table(res.summary, f"Smallest n with power >= {target:g}")
    typer.echo(
        f"{len(res.sims)} fits ({res.fitted} now, {res.seconds:.0f} s); wrote {out}: "
        "power.csv, power_summary.csv, sims.csv, power.png"
    )


@_friendly
def sensitivity(  # over 80 lines only because typer declares the options in the signature
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="Model file in lavaan syntax (.lav).")],
    data: Annotated[Path, typer.Argument(help="Data file (.csv, .xlsx or .sav).")],
    hypotheses: Annotated[Path, typer.Option("--hypotheses", help="Hypotheses file (.toml).")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the results (a rerun resumes in it).")
    ],
    rank: Annotated[
        str | None,
        typer.Option("--rank", help="Parameters to rank under each prior (comma-separated)."),
    ] = None,
    no_psense: Annotated[
        bool, typer.Option("--no-psense", help="Skip power-scaling sensitivity.")
    ] = False,
    scheduler: Scheduler = None,
    workers: Workers = None,
    draws: Annotated[int, typer.Option("--draws", min=1, help="Draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option("--tune", min=1, help="Warm-up steps per chain.")] = 500,
    chains: Annotated[int, typer.Option("--chains", min=1, help="Chains per fit.")] = 4,
    seed: Seed = 1,
    missing: MissingMethod = None,
    missing_codes: MissingCodes = None,
    sheet: Sheet = None,
) -> None:
    """Prior sensitivity: hypothesis verdicts refitted under a grid of priors, on Dask."""
    check_inputs(
        models=[model], data=data, files={"--hypotheses": (hypotheses, "hypothesis")}, out=out
    )
    missing = check_missing(missing)
    codes = parse_missing_codes(missing_codes)
    check_sheet(data, sheet)
    from bayes_bmi.api import sensitivity as run

    provenance = record_provenance(
        ctx, seed=seed, inputs={"model": model, "data": data, "hypotheses": hypotheses}
    )
    try:
        res = run(
            model,
            data,
            hypotheses,
            rank=_names(rank),
            psense=not no_psense,
            scheduler=scheduler,
            workers=workers,
            out=out,
            seed=seed,
            missing=missing,
            missing_codes=codes,
            sheet=sheet,
            draws=draws,
            tune=tune,
            chains=chains,
        )
    except KeyboardInterrupt:
        raise _interrupted(out / "fits") from None
    write_provenance(out, provenance)
    wide = res.table.pivot(index="id", columns="prior", values="bayes_verdict")
    order = list(dict.fromkeys(res.table["prior"]))
    holds = res.table.drop_duplicates("id").set_index("id")["holds"]
    wide = wide.reindex(list(holds.index))[order].assign(holds=holds).reset_index()
    print_table(wide, "Bayesian verdict under each prior set (holds: the same under all)")
    if len(res.psense):
        print_table(res.psense, "Power-scaling sensitivity (default priors)")
    typer.echo(
        f"{int(holds.sum())}/{len(holds)} verdicts hold under every prior; wrote {out}: "
        "sensitivity.csv, ranks.csv, psense.csv, priors.csv"
    )


def register(app: typer.Typer) -> None:
    """Add the ``power`` and ``sensitivity`` commands to a typer application.

    Parameters
    ----------
    app : typer.Typer
        Usually :data:`bayes_bmi.cli.main.app`.
    """
    app.command("power")(power)
    app.command("sensitivity")(sensitivity)
