"""Command line: ``bayes-bmi calibrate MODEL --sims 200 [--n 632] --out DIR``.

:func:`register` adds the command to the main typer application. Simulation-based
calibration (:func:`bayes_bmi.api.calibrate`): the fits run on Dask, on a ``LocalCluster`` of
``--workers`` processes or on the cluster whose scheduler ``--scheduler`` names. Unlike the
other commands, ``--out`` fills as the run goes: ``sims/sim_NNNNN.json`` is written as each
simulation finishes, so a stopped run resumes when the same command is run again; at the end
``ranks.csv``, ``uniformity.csv``, ``coverage.csv``, ``sims.csv``, ``calibration.json``,
``rank_histograms.png``, ``ecdf_difference.png`` and ``provenance.json`` are written (each
atomically).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bayes_bmi.cli.common import (
    EXIT_INTERRUPTED,
    MAX_SEED,
    check_inputs,
    print_table,
    record_provenance,
    write_provenance,
)
from bayes_bmi.cli.common import friendly as _friendly

__all__ = ["calibrate", "register"]


@_friendly
def calibrate(
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="Model file in lavaan syntax (.lav).")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the results (a rerun resumes in it).")
    ],
    sims: Annotated[int, typer.Option("--sims", min=1, help="Simulations.")] = 200,
    n: Annotated[int, typer.Option("--n", min=2, help="Cases per simulated data set.")] = 632,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Worker processes of the local cluster."),
    ] = None,
    draws: Annotated[int, typer.Option("--draws", min=1, help="Draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option("--tune", min=1, help="Warm-up steps per chain.")] = 500,
    chains: Annotated[int, typer.Option("--chains", min=1, help="Chains per fit.")] = 2,
    ndraws: Annotated[
        int,
        typer.Option(
            "--ndraws", min=1, help="Most draws a rank is taken among (thinned to the ESS)."
        ),
    ] = 99,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=MAX_SEED, help="Seed of the calibration.")
    ] = 1,
    priors: Annotated[
        str,
        typer.Option(
            "--priors",
            help="Priors to draw truths from and to fit with: 'default' (blavaan's), 'weak' "
            '(weakly informative) or a TOML/JSON file of kind = "prior" lines.',
        ),
    ] = "default",
    extend: Annotated[
        int,
        typer.Option(
            "--extend", min=0, help="Longer reruns (2x, 4x draws) of a fit that did not converge."
        ),
    ] = 1,
) -> None:
    """Simulation-based calibration: ranks of true values among posterior draws, on Dask."""
    check_inputs(models=[model], out=out)
    if scheduler is not None and workers is not None:
        typer.echo("warning: --workers applies to the local cluster; ignored with --scheduler")
    from bayes_bmi.api import calibrate as run
    from bayes_bmi.calibration.prior_sets import read_priors

    prior_set = read_priors(priors)

    provenance = record_provenance(ctx, seed=seed, inputs={"model": model})
    where = scheduler or f"a local cluster of {workers or 'one worker per CPU'}"
    typer.echo(
        f"calibrating {model} on {where}: {sims} simulations of n = {n} "
        f"({chains} chains x {draws} draws after {tune} warm-up steps; priors: {priors})"
    )
    try:
        res = run(
            model,
            sims=sims,
            n=n,
            scheduler=scheduler,
            workers=workers,
            out=out,
            seed=seed,
            ndraws=ndraws,
            draws=draws,
            tune=tune,
            chains=chains,
            priors=prior_set,
            extend=extend,
        )
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted: the finished simulations are in {out / 'sims'}; run the same "
            "command again to resume",
            err=True,
        )
        raise typer.Exit(code=EXIT_INTERRUPTED) from None
    write_provenance(out, provenance)
    _report(res)
    typer.echo(f"wrote {out}: ranks.csv, uniformity.csv, coverage.csv, figures")


def _report(res) -> None:
    """Print the uniformity verdicts and the coverage per nominal probability."""
    u, sims = res.uniformity, res.sims
    failed = int(sims["failed"].notna().sum())
    typer.echo(
        f"{len(sims)} simulations ({res.fitted} fitted now, {res.seconds:.0f} s); "
        f"{int(sims['converged'].eq(False).sum())} with a convergence warning"
        + (f"; {failed} failed to fit (left out of the ranks)" if failed else "")
    )
    if len(u):
        failing = u.loc[~u["passed"], "parameter"].tolist()
        typer.echo(
            f"uniformity of ranks ({u['bins'].iat[0]} bins; Bonferroni: p > "
            f"{u['threshold'].iat[0]:.3g} per parameter): {int(u['passed'].sum())}/{len(u)} "
            f"pass, min p = {u['pvalue'].min():.3g}"
            + (f"; fail: {', '.join(failing)}" if failing else "")
        )
    cov = res.coverage.groupby("nominal")["coverage"].agg(["mean", "min", "max"]).reset_index()
    print_table(cov, "Coverage of central intervals over parameters")


def register(app: typer.Typer) -> None:
    """Add the ``calibrate`` command to a typer application.

    Parameters
    ----------
    app : typer.Typer
        Usually :data:`bayes_bmi.cli.main.app`.
    """
    app.command("calibrate")(calibrate)
