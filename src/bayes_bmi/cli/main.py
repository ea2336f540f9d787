"""Command line: ``bayes-bmi parse | ml | fit | ...``.

Commands are thin wrappers over the Python API (:mod:`bayes_bmi.api`): they check their
arguments and files first (:func:`~bayes_bmi.cli.common.check_inputs`, before the numerical
stack loads), call the API, print tables and write files atomically. Every expected failure
(bad syntax, a bad model, bad data, a bad option) ends in a short error on stderr and exit
code 2, with nothing written to the output folder.
"""

from __future__ import annotations

import os

# SEM matrices are tiny: BLAS threads only slow them down. Set before numpy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Annotated  # noqa: E402

import typer  # noqa: E402

from bayes_bmi.cli.common import check_inputs  # noqa: E402
from bayes_bmi.cli.common import friendly as _friendly  # noqa: E402
from bayes_bmi.cli.common import print_table as _print_table  # noqa: E402

if TYPE_CHECKING:
    from bayes_bmi.bayes.sampling import CompileCache

app = typer.Typer(
    name="bayes-bmi",
    help="Bayesian structural equation modelling in lavaan syntax.",
    no_args_is_help=True,
    add_completion=False,
)


def _compile_cache() -> CompileCache:
    """A fresh compile cache for one command (a seam for tests that share compilations)."""
    from bayes_bmi.bayes.sampling import CompileCache

    return CompileCache()


def _register_commands() -> None:
    """Add the commands that live in their own modules."""
    from bayes_bmi.cli.compare import register as register_compare
    from bayes_bmi.cli.measurement import register as register_measurement

    register_measurement(app)
    register_compare(app)


@app.command()
@_friendly
def parse(
    model: Annotated[Path, typer.Argument(help="Model file in lavaan syntax (.lav).")],
    std_lv: Annotated[bool, typer.Option("--std-lv", help="Fix latent variances to 1.")] = False,
) -> None:
    """Print the parameter table of a model."""
    check_inputs(models=[model])
    from bayes_bmi.api import specify

    m = specify(model, std_lv=std_lv)
    shown = m.partable.drop(columns=["block", "group", "expression"])
    _print_table(shown, f"Parameter table of {model}")


@app.command()
@_friendly
def ml(
    model: Annotated[Path, typer.Argument(help="Model file in lavaan syntax (.lav).")],
    data: Annotated[Path, typer.Argument(help="Data file (.csv, .xlsx or .sav).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for estimates.csv and fit.json.")],
    std_lv: Annotated[bool, typer.Option("--std-lv", help="Fix latent variances to 1.")] = False,
    missing: Annotated[
        str | None,
        typer.Option(
            help="fiml or listwise (default: fiml when the model's variables have missing cells)."
        ),
    ] = None,
) -> None:
    """Fit a model by maximum likelihood (lavaan's sem() defaults)."""
    check_inputs(models=[model], data=data, out=out)
    from bayes_bmi.api import sem
    from bayes_bmi.io import atomic_write_csv, atomic_write_json

    fitted = sem(model, data, method="ml", std_lv=std_lv, missing=missing)
    table = fitted.estimates()
    f = fitted.fit_measures()
    fit = {**f, "converged": fitted.converged, "warnings": list(fitted.warnings)}
    fit.update(missing=fitted.missing, notes=list(fitted.notes))

    _print_table(table, f"ML estimates: {model} on {data} (n = {fitted.nobs})")
    typer.echo(
        f"\nchisq = {f['chisq']:.3f}, df = {f['df']}, p = {f['pvalue']:.4f}; "
        f"CFI = {f['cfi']:.3f}, TLI = {f['tli']:.3f}, RMSEA = {f['rmsea']:.3f} "
        f"[{f['rmsea_ci_lower']:.3f}, {f['rmsea_ci_upper']:.3f}], SRMR = {f['srmr']:.3f}; "
        f"AIC = {f['aic']:.2f}, BIC = {f['bic']:.2f}, logl = {f['logl']:.3f}, npar = {f['npar']}"
    )
    for note in fitted.notes:
        typer.echo(f"note: {note}")
    for w in fitted.warnings:
        typer.echo(f"warning: {w}", err=True)
    atomic_write_csv(out / "estimates.csv", table)
    atomic_write_json(out / "fit.json", fit)
    typer.echo(f"\nwrote {out / 'estimates.csv'} and {out / 'fit.json'}")


@app.command()
@_friendly
def fit(
    model: Annotated[Path, typer.Argument(help="Model file in lavaan syntax (.lav).")],
    data: Annotated[Path, typer.Argument(help="Data file (.csv, .xlsx or .sav).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the posterior and tables.")],
    draws: Annotated[int, typer.Option(min=1, help="Draws kept per chain.")] = 1000,
    tune: Annotated[int, typer.Option(min=1, help="Warm-up steps per chain.")] = 1000,
    chains: Annotated[int, typer.Option(min=1, help="Number of chains.")] = 4,
    seed: Annotated[int, typer.Option(min=0, help="Random seed (same seed, same draws).")] = 1,
    sampler: Annotated[str, typer.Option(help="nutpie or pymc.")] = "nutpie",
    target_accept: Annotated[float, typer.Option(help="NUTS target acceptance.")] = 0.9,
    std_lv: Annotated[bool, typer.Option("--std-lv", help="Fix latent variances to 1.")] = False,
    factor_scores: Annotated[
        bool, typer.Option("--factor-scores", help="Also draw latent scores per case.")
    ] = False,
    allow_unconverged: Annotated[
        bool,
        typer.Option("--allow-unconverged", help="Exit 0 even when convergence checks fail."),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Fit a model by NUTS (Bayesian SEM) beside its ML cross-check."""
    check_inputs(models=[model], data=data, out=out)
    from bayes_bmi.api import sem
    from bayes_bmi.io import atomic_write_csv, atomic_write_datatree, atomic_write_json

    fitted = sem(
        model,
        data,
        std_lv=std_lv,
        factor_scores=factor_scores,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        sampler=sampler,
        target_accept=target_accept,
        progress=progress,
        cache=_compile_cache(),
    )
    summary = fitted.summary()
    _print_table(
        summary.drop(columns=["ess_tail"]),
        f"Posterior of {model} on {data} (n = {fitted.nobs}; {chains} chains x {draws} draws; "
        "95% HDI; ML estimate and SE beside)",
    )
    diag = fitted.diagnostics
    typer.echo(
        f"\nmin bulk ESS = {diag['min_ess_bulk']:.0f}, max R-hat = {diag['max_r_hat']:.3f}, "
        f"divergences = {diag['divergences']}; compile {diag['compile_seconds']:.1f} s, "
        f"sampling {diag['sampling_seconds']:.1f} s"
    )
    atomic_write_datatree(out / "posterior.nc", fitted.idata)
    atomic_write_csv(out / "summary.csv", summary)
    atomic_write_json(out / "diagnostics.json", diag)
    typer.echo(f"wrote {out / 'posterior.nc'}, {out / 'summary.csv'}, {out / 'diagnostics.json'}")
    if not fitted.converged:
        typer.echo("\nWARNING: the chains have NOT converged:", err=True)
        for problem in diag["problems"]:
            typer.echo(f"  - {problem}", err=True)
        if not allow_unconverged:
            typer.echo(
                "Results are written but must not be used; rerun as suggested, or pass "
                "--allow-unconverged to accept them.",
                err=True,
            )
            raise typer.Exit(code=1)


@app.command()
@_friendly
def study(
    data: Annotated[Path, typer.Option(help="Survey data (.csv, .xlsx or .sav).")] = Path(
        "data/bmi_survey.csv"
    ),
    model: Annotated[Path, typer.Option(help="Main model (.lav).")] = Path(
        "models/bmi_drivers.lav"
    ),
    hypotheses: Annotated[Path, typer.Option(help="Hypotheses (.toml).")] = Path(
        "models/bmi_drivers.hypotheses.toml"
    ),
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("results"),
    alternative: Annotated[
        list[Path] | None, typer.Option(help="Alternative model to compare (repeatable).")
    ] = None,
    truth: Annotated[Path | None, typer.Option(help="Ground truth JSON of simulated data.")] = None,
    literature: Annotated[
        Path | None, typer.Option(help="Literature table (studies x elements, 0/1).")
    ] = None,
    experts: Annotated[
        Path | None, typer.Option(help="Expert ratings (experts x elements).")
    ] = None,
    draws: Annotated[int, typer.Option(help="Draws kept per chain.")] = 1000,
    tune: Annotated[int, typer.Option(help="Warm-up steps per chain.")] = 1000,
    chains: Annotated[int, typer.Option(help="Number of chains.")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    no_compare: Annotated[
        bool, typer.Option("--no-compare", help="Skip alternatives and fit indices.")
    ] = False,
) -> None:
    """Run the whole study (stages, Bayesian SEM, hypotheses, key drivers, report)."""
    from bayes_bmi.bayes.sampling import SamplerConfig
    from bayes_bmi.report.study import write_study
    from bayes_bmi.study.pipeline import StudyConfig, run_study

    config = StudyConfig(
        data=data,
        model=model,
        hypotheses=hypotheses,
        alternatives=tuple(alternative or ()),
        truth=truth,
        literature=literature,
        experts=experts,
        sampler=SamplerConfig(draws=draws, tune=tune, chains=chains, seed=seed, progress=False),
        compare=not no_compare,
    )
    results = run_study(config, log=lambda m: typer.echo(m))
    written = write_study(results, out)
    typer.echo(f"wrote {len(written)} files to {out}")
    show = results.hypotheses.table[
        [
            "id",
            "parameter",
            "post_median",
            "hdi_lower",
            "hdi_upper",
            "pd",
            "bayes_verdict",
            "ml_pvalue",
            "ml_verdict",
        ]
    ]
    _print_table(show, "Hypotheses")
    _print_table(results.drivers.table.iloc[:, :8], "Key drivers")
    typer.echo(f"\nreport: {out / 'report.md'} (and report.html)")
    if not results.converged:
        typer.echo("WARNING: the main model's chains did not converge; see the report.", err=True)
        raise typer.Exit(code=1)


@app.command()
@_friendly
def simulate(
    out: Annotated[Path, typer.Option(help="Survey CSV to write.")],
    truth_out: Annotated[
        Path | None, typer.Option(help="Where to write the truth used (JSON).")
    ] = None,
    n: Annotated[int, typer.Option(help="Number of firms.")] = 632,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20261127,
    path: Annotated[
        list[str] | None,
        typer.Option(help="Standardized driver -> BMI path, DRIVER=VALUE (repeatable)."),
    ] = None,
    b: Annotated[float | None, typer.Option(help="Standardized BMI -> FP path.")] = None,
    from_truth: Annotated[Path | None, typer.Option(help="Start from this truth JSON.")] = None,
) -> None:
    """Simulate a BMI survey (46 Likert items + firm descriptors) from a known truth."""
    from bayes_bmi.data import DataError
    from bayes_bmi.io import atomic_write_csv, atomic_write_json
    from bayes_bmi.study.survey import (
        SurveyTruth,
        default_truth,
        modified_truth,
        parse_path_assignment,
        simulate_survey,
    )

    if n < 1:
        raise DataError("--n must be a positive integer")
    try:
        changes = dict(parse_path_assignment(item) for item in path or [])
    except ValueError as exc:
        raise DataError(f"--path: {exc}") from None
    try:
        base = (
            SurveyTruth.from_json(from_truth.read_text(encoding="utf-8"))
            if from_truth
            else default_truth()
        )
        truth = modified_truth(base, changes, b)
        survey = simulate_survey(truth, n, seed)
    except (OSError, ValueError) as exc:
        raise DataError(str(exc)) from None
    atomic_write_csv(out, survey)
    if truth_out is not None:
        atomic_write_json(truth_out, truth.to_dict())
    typer.echo(
        f"wrote {out} ({n} firms, seed {seed}); paths: "
        + ", ".join(f"{k} {v:g}" for k, v in truth.paths.items())
        + f"; b {truth.b:g}; R^2 of BMI {truth.r2_bmi:.3f}"
    )


_register_commands()


def main() -> None:  # pragma: no cover - console entry point
    """Run the command-line application."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
