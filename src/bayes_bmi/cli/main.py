"""Command line: ``bayes-bmi parse | ml | fit | ...``.

Commands are thin wrappers over the Python API (:mod:`bayes_bmi.api`): they check their
arguments and files first (:mod:`bayes_bmi.cli.common`, before the numerical stack loads),
lock ``--out``, call the API, print tables and write their files into a staging folder that is
moved into ``--out`` at the end. Every expected failure (bad syntax, a bad model, bad data, a
bad option) ends in a short error on stderr and exit code 2, Ctrl-C in exit code 130; either
way nothing is written to the output folder.
"""

from __future__ import annotations

import os

# SEM matrices are tiny: BLAS threads only slow them down. Set before numpy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Annotated  # noqa: E402

import typer  # noqa: E402

from bayes_bmi.cli.bsem import BsemResiduals, BsemSd, bsem_output, check_bsem  # noqa: E402
from bayes_bmi.cli.common import (  # noqa: E402
    DRAWS,
    MAX_SEED,
    SAMPLERS,
    TUNE,
    GroupEqual,
    GroupPartial,
    MissingCodes,
    MissingMethod,
    NoCache,
    Sheet,
    cases_line,
    check_inputs,
    check_missing,
    check_number,
    check_out_file,
    check_sheet,
    commit,
    deferred_interrupts,
    group_kwargs,
    missing_data,
    ordinal_missing_data,
    ordinal_option,
    output_folder,
    parse_missing_codes,
    plural,
    record_provenance,
    write_provenance,
)
from bayes_bmi.cli.common import friendly as _friendly  # noqa: E402
from bayes_bmi.cli.common import print_table as _print_table  # noqa: E402
from bayes_bmi.errors import OptionError  # noqa: E402

if TYPE_CHECKING:
    from bayes_bmi.bayes.sampling import CompileCache
    from bayes_bmi.data import MissingPatterns

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
    from bayes_bmi.cli.calibrate import register as register_calibrate
    from bayes_bmi.cli.compare import register as register_compare
    from bayes_bmi.cli.measurement import register as register_measurement
    from bayes_bmi.cli.power import register as register_power
    from bayes_bmi.cli.reproduce import register as register_reproduce

    register_measurement(app)
    register_compare(app)
    register_reproduce(app)
    register_calibrate(app)
    register_power(app)


def _cases(n: int, dropped: int, patterns: MissingPatterns | None = None) -> str:
    """``n = 298; 3 rows with a missing value dropped (listwise)``, or FIML's patterns."""
    if patterns is not None:
        return f"n = {n}; full-information ML: " + (
            f"{plural(patterns.npatterns, 'missingness pattern')}, "
            f"{plural(patterns.n_missing, 'missing cell')}"
            + (f"; {plural(dropped, 'row')} without usable answers dropped" if dropped else "")
        )
    return f"n = {n}" + (
        f"; {plural(dropped, 'row')} with a missing value dropped (listwise)" if dropped else ""
    )


@app.command()
@_friendly
def parse(
    model: Annotated[Path, typer.Argument(help="Model file in lavaan syntax (.lav).")],
    std_lv: Annotated[bool, typer.Option("--std-lv", help="Fix latent variances to 1.")] = False,
) -> None:
    """Print the parameter table of a model (and check its prior() modifiers)."""
    check_inputs(models=[model])
    from bayes_bmi.api import specify

    m = specify(model, std_lv=std_lv)
    from bayes_bmi.bayes.parameters import param_spec

    param_spec(m)  # a bad prior("...") is a mistake in the file: say so now, with its line
    shown = m.partable.drop(columns=["block", "group", "expression"])
    _print_table(shown, f"Parameter table of {model}")


def _fit_line(f: dict, estimator: str) -> str:
    """The fit measures under the estimates table."""
    if estimator == "WLSMV":
        return (
            f"\nchisq = {f['chisq']:.3f}, df = {f['df']}, p = {f['pvalue']:.4f}; scaled-shifted "
            f"chisq = {f['chisq_scaled']:.3f}, p = {f['pvalue_scaled']:.4f}; "
            f"CFI = {f['cfi_scaled']:.3f}, TLI = {f['tli_scaled']:.3f}, "
            f"RMSEA = {f['rmsea_scaled']:.3f} (scaled), SRMR = {f['srmr']:.3f}; "
            f"npar = {f['npar']}"
        )
    return (
        f"\nchisq = {f['chisq']:.3f}, df = {f['df']}, p = {f['pvalue']:.4f}; "
        f"CFI = {f['cfi']:.3f}, TLI = {f['tli']:.3f}, RMSEA = {f['rmsea']:.3f} "
        f"[{f['rmsea_ci_lower']:.3f}, {f['rmsea_ci_upper']:.3f}], SRMR = {f['srmr']:.3f}; "
        f"AIC = {f['aic']:.2f}, BIC = {f['bic']:.2f}, logl = {f['logl']:.3f}, "
        f"npar = {f['npar']}"
    )


@app.command()
@_friendly
def ml(
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="Model file in lavaan syntax (.lav).")],
    data: Annotated[Path, typer.Argument(help="Data file (.csv, .xlsx or .sav).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for estimates.csv and fit.json.")],
    std_lv: Annotated[bool, typer.Option("--std-lv", help="Fix latent variances to 1.")] = False,
    missing: MissingMethod = None,
    missing_codes: MissingCodes = None,
    sheet: Sheet = None,
    ordinal: Annotated[
        str | None,
        typer.Option(
            help="Ordered-categorical items: 'all' or a comma-separated list (x1,x2); the "
            "model is then fitted by WLSMV, as lavaan's ordered = ."
        ),
    ] = None,
    group: GroupColumn = None,
    group_equal: GroupEqual = None,
    group_partial: GroupPartial = None,
) -> None:
    """Fit a model by maximum likelihood (lavaan's sem() defaults), or WLSMV with --ordinal."""
    check_inputs(models=[model], data=data, out=out)
    missing = check_missing(missing)
    ordered = ordinal_option(ordinal)
    codes = parse_missing_codes(missing_codes)
    check_sheet(data, sheet)
    with output_folder(out) as folder:
        provenance = record_provenance(ctx, seed=None, inputs={"model": model, "data": data})
        from bayes_bmi.api import sem
        from bayes_bmi.io import atomic_write_csv, atomic_write_json

        fitted = sem(
            model,
            data,
            method="ml",
            std_lv=std_lv,
            missing=missing,
            missing_codes=codes,
            sheet=sheet,
            ordered=ordered,
            **group_kwargs(group, group_equal, group_partial),
        )
        table = fitted.estimates()
        f = fitted.fit_measures()
        fit = {**f, "converged": fitted.converged, "warnings": list(fitted.warnings)}
        fit.update(missing=fitted.missing, notes=list(fitted.notes))
        patterns, dropped = fitted.result.patterns, fitted.result.stats.n_dropped
        fit["missing_data"] = missing_data(fitted.nobs, dropped, patterns)
        fit["estimator"] = fitted.result.estimator
        fit["provenance"] = provenance.to_dict()
        cases = _cases(fitted.nobs, dropped, patterns)
        _print_table(table, f"{fitted.result.estimator} estimates: {model} on {data} ({cases})")
        typer.echo(_fit_line(f, fitted.result.estimator))
        for note in fitted.notes:
            typer.echo(f"note: {note}")
        for w in fitted.warnings:
            typer.echo(f"warning: {w}", err=True)
        atomic_write_csv(folder.staging / "estimates.csv", table)
        atomic_write_json(folder.staging / "fit.json", fit)
        write_provenance(folder.staging, provenance)
        commit(folder)
    typer.echo(f"\nwrote {out / 'estimates.csv'} and {out / 'fit.json'}")


GroupColumn = Annotated[
    str | None,
    typer.Option(help="Grouping column: one block of the model per group (lavaan's group =)."),
]


def _group_tables(fitted, folder: Path) -> list[str]:
    """A multi-group fit's tables (group differences, path ranks, approximate invariance)."""
    from bayes_bmi.io import atomic_write_csv

    if fitted.result.group is None:
        return []
    tables = {"group_differences.csv": fitted.group_differences()}
    ranks = fitted.path_ranks()
    if len(ranks):
        tables["path_ranks.csv"] = ranks
    if fitted.result.deviations is not None:
        table = fitted.approx_invariance()
        tables["approx_invariance.csv"] = table
        _print_table(table, "Approximate invariance: each group's deviation (95% HDI)")
    for name, table in tables.items():
        atomic_write_csv(folder / name, table)
    return list(tables)


@app.command()
@_friendly
def invariance(
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="Model file in lavaan syntax (.lav).")],
    data: Annotated[Path, typer.Argument(help="Data file (.csv, .xlsx or .sav).")],
    group: Annotated[str, typer.Option("--group", help="Grouping column.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for invariance.csv.")],
    levels: Annotated[
        str,
        typer.Option(
            help="Levels, comma-separated, each adding constraints: configural, metric, "
            "scalar, strict, or a group.equal kind (lv.variances, means, ...)."
        ),
    ] = "configural,metric,scalar",
    std_lv: Annotated[bool, typer.Option("--std-lv", help="Fix latent variances to 1.")] = False,
    missing: MissingMethod = None,
    missing_codes: MissingCodes = None,
    sheet: Sheet = None,
    group_partial: GroupPartial = None,
) -> None:
    """Measurement invariance across groups: ML fits by level and their LR tests (anova)."""
    check_inputs(models=[model], data=data, out=out)
    missing = check_missing(missing)
    codes = parse_missing_codes(missing_codes)
    check_sheet(data, sheet)
    with output_folder(out) as folder:
        provenance = record_provenance(ctx, seed=None, inputs={"model": model, "data": data})
        from bayes_bmi.api import invariance as invariance_table
        from bayes_bmi.io import atomic_write_csv

        table = invariance_table(
            model,
            data,
            group=group,
            levels=levels,
            missing=missing,
            std_lv=std_lv,
            group_partial=group_partial or (),
            missing_codes=codes,
            sheet=sheet,
        )
        _print_table(table, f"Measurement invariance of {model} across {group!r}")
        atomic_write_csv(folder.staging / "invariance.csv", table)
        write_provenance(folder.staging, provenance)
        commit(folder)
    typer.echo(f"\nwrote {out / 'invariance.csv'}")


def _check_sampler(sampler: str, target_accept: float) -> None:
    if sampler not in SAMPLERS:
        raise OptionError(f"--sampler {sampler}: unknown. Must be one of: {', '.join(SAMPLERS)}")
    check_number(target_accept, "--target-accept", 0.0, 1.0, open_low=True, open_high=True)


@app.command()
@_friendly
def fit(  # over 80 lines only because typer declares the eighteen options in the signature
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="Model file in lavaan syntax (.lav).")],
    data: Annotated[Path, typer.Argument(help="Data file (.csv, .xlsx or .sav).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the posterior and tables.")],
    draws: Annotated[int, typer.Option(min=1, help="Draws kept per chain.")] = DRAWS,
    tune: Annotated[int, typer.Option(min=1, help="Warm-up steps per chain.")] = TUNE,
    chains: Annotated[int, typer.Option(min=1, help="Number of chains.")] = 4,
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED, help="Random seed (same seed, same draws).")
    ] = 1,
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
    missing: MissingMethod = None,
    missing_codes: MissingCodes = None,
    sheet: Sheet = None,
    no_cache: NoCache = False,
    ordinal: Annotated[
        str | None,
        typer.Option(
            "--ordinal",
            help="Ordered-category items: 'all' or names (x1,x2,...): a cumulative-probit model.",
        ),
    ] = None,
    bsem_sd: BsemSd = None,
    bsem_residuals: BsemResiduals = False,
    group: GroupColumn = None,
    group_equal: GroupEqual = None,
    group_partial: GroupPartial = None,
    approx_invariance: Annotated[
        str | None,
        typer.Option(
            help="With --group: classes held approximately equal across groups, "
            "comma-separated (loadings, intercepts, regressions, means): each group's "
            "deviation from the common value gets a normal prior (blavaan's wiggle).",
        ),
    ] = None,
    approx_sd: Annotated[
        float,
        typer.Option(min=1e-12, help="Prior sd of a group's deviation (--approx-invariance)."),
    ] = 0.05,
) -> None:
    """Fit a model by NUTS (Bayesian SEM) beside its ML cross-check.

    With --group: summary.csv gets group and group_label columns, group_differences.csv the
    between-group differences of loadings and regressions (path_ranks.csv, with regressions,
    each predictor's probability of the largest |std.all|), and --approx-invariance writes
    approx_invariance.csv.
    """
    check_inputs(models=[model], data=data, out=out)
    _check_sampler(sampler, target_accept)
    check_bsem(bsem_sd, bsem_residuals)
    missing = check_missing(missing)
    codes = parse_missing_codes(missing_codes)
    check_sheet(data, sheet)
    groups = group_kwargs(group, group_equal, group_partial)
    if approx_invariance and group is None:
        raise OptionError("--approx-invariance needs --group COLUMN")
    if group is not None:
        groups.update(approx_invariance=approx_invariance or (), approx_sd=approx_sd)
    if chains < 2:
        typer.echo(
            "warning: --chains 1: R-hat needs at least 2 chains, so convergence cannot be "
            "checked and the run counts as not converged",
            err=True,
        )
    with output_folder(out) as folder:
        provenance = record_provenance(ctx, seed=seed, inputs={"model": model, "data": data})
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
            disk_cache=not no_cache,
            cache=_compile_cache(),
            missing=missing,
            missing_codes=codes,
            sheet=sheet,
            ordered=ordinal_option(ordinal),
            bsem_sd=bsem_sd,
            bsem_residuals=bsem_residuals,
            **groups,
        )
        summary = fitted.summary()
        patterns, dropped = fitted.result.patterns, fitted.result.stats.n_dropped
        if fitted.result.group is not None:  # every group's cases and patterns
            dropped = sum(st.n_dropped for st in fitted.result.ml.group_stats)
            patterns = None
        cases = _cases(fitted.nobs, dropped, patterns)
        _print_table(
            summary.drop(columns=["ess_tail"]),
            f"Posterior of {model} on {data} ({cases}; {chains} chains x {draws} draws; "
            "95% HDI; ML estimate and SE beside)",
        )
        for w in fitted.ml.warnings:
            typer.echo(f"warning: ML cross-check: {w}", err=True)
        if fitted.result.ordinal is not None:
            info = ordinal_missing_data(fitted.nobs, dropped, fitted.result.ordinal.codes)
        else:
            info = missing_data(fitted.nobs, dropped, patterns)
        diag = {**fitted.diagnostics, "missing_data": info, "provenance": provenance.to_dict()}
        typer.echo(
            f"\nmin bulk ESS = {diag['min_ess_bulk']:.0f}, max R-hat = {diag['max_r_hat']:.3f}, "
            f"divergences = {diag['divergences']}; compile {diag['compile_seconds']:.1f} s, "
            f"sampling {diag['sampling_seconds']:.1f} s"
        )
        typer.echo(cases_line(info))
        for note in fitted.ml.notes:  # the patterns are in the line above; the rest here
            if not note.startswith("full-information ML:"):
                typer.echo(f"note: {note}")
        atomic_write_datatree(folder.staging / "posterior.nc", provenance.tag(fitted.idata))
        atomic_write_csv(folder.staging / "summary.csv", summary)
        if bsem_sd is not None:
            bsem_output(fitted, folder.staging / "bsem.csv")
        atomic_write_json(folder.staging / "diagnostics.json", diag)
        extra = _group_tables(fitted, folder.staging)
        write_provenance(folder.staging, provenance)
        commit(folder)
    bsem_file = ["bsem.csv"] if bsem_sd is not None else []
    written = ["posterior.nc", "summary.csv", "diagnostics.json", *bsem_file, *extra]
    typer.echo(f"wrote {', '.join(str(out / name) for name in written)}")
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
def study(  # over 80 lines only because typer declares the eighteen options in the signature
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Survey data (.csv, .xlsx or .sav). Default: data/bmi_survey.csv in the "
            "working folder, else the example shipped with bayes-bmi."
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(help="Main model (.lav). Default: models/bmi_drivers.lav, found as --data."),
    ] = None,
    hypotheses: Annotated[
        Path | None,
        typer.Option(
            help="Hypotheses (.toml). Default: models/bmi_drivers.hypotheses.toml, found as --data."
        ),
    ] = None,
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
    draws: Annotated[int, typer.Option(min=1, help="Draws kept per chain.")] = DRAWS,
    tune: Annotated[int, typer.Option(min=1, help="Warm-up steps per chain.")] = TUNE,
    chains: Annotated[int, typer.Option(min=1, help="Number of chains.")] = 4,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Random seed.")] = 1,
    no_compare: Annotated[
        bool, typer.Option("--no-compare", help="Skip alternatives and fit indices.")
    ] = False,
    missing: MissingMethod = None,
    missing_codes: MissingCodes = None,
    sheet: Sheet = None,
    no_cache: NoCache = False,
    ordinal: Annotated[
        bool,
        typer.Option(
            "--ordinal",
            help="Also fit the main model with every item as an ordered category (cumulative "
            "probit) and show its verdicts beside the continuous model's.",
        ),
    ] = False,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            help="A data column that splits the firms into groups (e.g. size): adds measurement "
            "invariance by group and the hypothesised drivers' paths by group.",
        ),
    ] = None,
    rerun: Annotated[
        Path | None,
        typer.Option(
            help="Rerun the study recorded in this results folder and compare its tables "
            "(the same as 'bayes-bmi rerun FOLDER'; other options are ignored)."
        ),
    ] = None,
) -> None:
    """Run the whole study (stages, Bayesian SEM, hypotheses, key drivers, report).

    With no options it runs on the example shipped with bayes-bmi, from any folder.
    """
    if rerun is not None:
        from bayes_bmi.cli.reproduce import in_process, rerun_folder

        if not rerun.is_dir():
            raise OptionError(f"--rerun {rerun}: no such folder")
        raise typer.Exit(code=rerun_folder(rerun, in_process(ctx)))
    from bayes_bmi.study.config import EXAMPLE_INPUTS, example_input

    data = data or example_input(EXAMPLE_INPUTS["data"])
    model = model or example_input(EXAMPLE_INPUTS["model"])
    hypotheses = hypotheses or example_input(EXAMPLE_INPUTS["hypotheses"])
    check_inputs(
        models=[model, *(alternative or ())],
        data=data,
        files={
            "--hypotheses": (hypotheses, "hypothesis"),
            "--truth": (truth, "truth"),
            "--literature": (literature, "literature"),
            "--experts": (experts, "expert ratings"),
        },
        out=out,
    )
    missing = check_missing(missing)
    codes = parse_missing_codes(missing_codes)
    check_sheet(data, sheet)
    with output_folder(out) as folder:
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
            sampler=SamplerConfig(
                draws=draws,
                tune=tune,
                chains=chains,
                seed=seed,
                progress=False,
                disk_cache=not no_cache,
            ),
            compare=not no_compare,
            missing=missing,
            missing_codes=codes,
            sheet=sheet,
            ordinal=ordinal,
            group=group,
        )
        provenance = record_provenance(
            ctx,
            seed=seed,
            inputs=config.input_files(),
            data=data,
            model=model,
            hypotheses=hypotheses,
        )
        results = run_study(config, log=lambda m: typer.echo(m), cache=_compile_cache())
        write_study(results, folder.staging, provenance=provenance)
        written = commit(folder)
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
    if results.ordinal is not None:
        _print_table(results.ordinal.side_by_side, "Verdicts: continuous and ordinal model")
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
    n: Annotated[int, typer.Option(min=1, help="Number of firms.")] = 632,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Random seed.")] = 20261127,
    path: Annotated[
        list[str] | None,
        typer.Option(help="Standardized driver -> BMI path, DRIVER=VALUE (repeatable)."),
    ] = None,
    b: Annotated[float | None, typer.Option(help="Standardized BMI -> FP path.")] = None,
    from_truth: Annotated[Path | None, typer.Option(help="Start from this truth JSON.")] = None,
) -> None:
    """Simulate a BMI survey (46 Likert items + firm descriptors) from a known truth."""
    check_out_file(out, "--out")
    if truth_out is not None:
        check_out_file(truth_out, "--truth-out")
        if truth_out.absolute() == out.absolute():
            raise OptionError("--truth-out: names the same file as --out; give another name")
    check_inputs(files={"--from-truth": (from_truth, "truth")})
    from bayes_bmi.data import DataError
    from bayes_bmi.io import atomic_write_csv, atomic_write_json
    from bayes_bmi.study.survey import (
        default_truth,
        modified_truth,
        parse_path_assignment,
        read_truth,
        simulate_survey,
    )

    try:
        changes = dict(parse_path_assignment(item) for item in path or [])
    except ValueError as exc:
        raise DataError(f"--path: {exc}") from None
    base = read_truth(from_truth) if from_truth else default_truth()
    try:
        truth = modified_truth(base, changes, b)
        survey = simulate_survey(truth, n, seed)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    with deferred_interrupts():  # both files or neither
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
