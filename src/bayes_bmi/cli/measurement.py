"""Command line for the measurement stages: ``literature``, ``experts``, ``pca``, ``reliability``.

:func:`register` adds the commands to the main typer application. Each command checks its
arguments, locks ``--out``, reads its inputs, calls the library functions, prints a summary and
writes CSV tables, a JSON summary and PNG figures into the staging folder of ``--out``, moved
into place only after everything has been computed: on bad input it prints ``error: ...`` to
stderr, exits with code 2 and writes nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bayes_bmi.cli.common import (
    MAX_SEED,
    MissingCodes,
    MissingMethod,
    Sheet,
    check_inputs,
    check_missing,
    check_number,
    check_sheet,
    commit,
    ordinal_option,
    output_folder,
    parse_missing_codes,
    plural,
    record_provenance,
    write_provenance,
)
from bayes_bmi.cli.common import friendly as _friendly
from bayes_bmi.cli.common import print_table as _print_table
from bayes_bmi.errors import BayesBmiError, OptionError, in_file
from bayes_bmi.plots.render import png_bytes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from bayes_bmi.io import OutputFolder

__all__ = ["MeasurementError", "register"]

ROTATIONS = ("varimax", "promax", "none")
RETAIN = ("parallel", "kaiser")


class MeasurementError(BayesBmiError):
    """A command-line request that cannot be carried out (e.g. no items selected)."""


def _write(
    folder: OutputFolder,
    tables: Mapping[str, pd.DataFrame],
    jsons: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, Figure],
) -> None:
    """Render the figures, write every file into the staging folder, then commit them all."""
    from bayes_bmi.io import atomic_write_bytes, atomic_write_csv, atomic_write_json

    images = {name: png_bytes(fig) for name, fig in figures.items()}
    stage = folder.staging
    for name, df in tables.items():
        atomic_write_csv(stage / name, df)
    for name, obj in jsons.items():
        atomic_write_json(stage / name, obj)
    for name, data in images.items():
        atomic_write_bytes(stage / name, data)
    written = commit(folder)
    typer.echo(
        f"\nwrote {len(written)} files to {folder.path}: {', '.join(p.name for p in written)}"
    )


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# --------------------------------------------------------------------------- commands


@_friendly
def literature(
    ctx: typer.Context,
    table: Annotated[Path, typer.Argument(help="Coding table: one row per study, 0/1 columns.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the table and the figure.")],
    threshold: Annotated[
        float, typer.Option("--threshold", help="Select elements used by at least this share.")
    ] = 0.5,
    id_columns: Annotated[
        str, typer.Option("--id-columns", help="Comma-separated columns that identify a study.")
    ] = "author,year,source",
) -> None:
    """Count how often earlier studies used each business-model element."""
    check_inputs(data=table, out=out)
    check_number(threshold, "--threshold", 0.0, 1.0)
    with output_folder(out) as folder:
        write_provenance(folder.staging, record_provenance(ctx, seed=None, inputs={"table": table}))
        _literature(table, folder, threshold, id_columns)


def _literature(table: Path, folder: OutputFolder, threshold: float, id_columns: str) -> None:
    from bayes_bmi.data import read_data
    from bayes_bmi.measurement.literature import element_frequencies
    from bayes_bmi.plots.measurement import plot_element_frequencies

    df = read_data(table)
    with in_file(table):
        freq = element_frequencies(df, id_columns=_split(id_columns), threshold=threshold)
    fig = plot_element_frequencies(freq, threshold=threshold)
    _print_table(freq, f"Business-model elements in {df.shape[0]} studies ({table})")
    chosen = freq.loc[freq["selected"], "element"].tolist()
    typer.echo(
        f"\n{len(chosen)} element(s) used by at least {threshold:.0%} of the studies: "
        f"{', '.join(chosen) or '(none)'}"
    )
    summary = {"n_studies": df.shape[0], "threshold": threshold, "selected": chosen}
    _write(
        folder,
        {"literature_frequencies.csv": freq},
        {"literature_summary.json": summary},
        {"literature_frequencies.png": fig},
    )


@_friendly
def experts(
    ctx: typer.Context,
    ratings: Annotated[Path, typer.Argument(help="Experts x elements ratings (.csv/.xlsx/.sav).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the tables and the figure.")],
    min_mean: Annotated[
        float, typer.Option("--min-mean", help="Minimum mean rating to pass.")
    ] = 3.5,
    max_cv: Annotated[
        float, typer.Option("--max-cv", help="Maximum coefficient of variation to pass.")
    ] = 0.25,
    scale_min: Annotated[int, typer.Option("--scale-min", help="Lowest rating.")] = 1,
    scale_max: Annotated[int, typer.Option("--scale-max", help="Highest rating.")] = 5,
) -> None:
    """Screen elements by expert ratings (mean, CV) and Kendall's W."""
    check_inputs(data=ratings, out=out)
    if scale_min >= scale_max:
        raise OptionError(
            f"--scale-min {scale_min} --scale-max {scale_max}: the lowest rating must be "
            "below the highest"
        )
    check_number(min_mean, "--min-mean", scale_min, scale_max)
    check_number(max_cv, "--max-cv", 0.0, float("inf"), open_high=True)
    with output_folder(out) as folder:
        provenance = record_provenance(ctx, seed=None, inputs={"ratings": ratings})
        write_provenance(folder.staging, provenance)
        _experts(ratings, folder, min_mean, max_cv, (scale_min, scale_max))


def _experts(
    ratings: Path, folder: OutputFolder, min_mean: float, max_cv: float, scale: tuple[int, int]
) -> None:
    from bayes_bmi.data import read_data
    from bayes_bmi.measurement.experts import expert_screening
    from bayes_bmi.plots.measurement import plot_expert_screening

    df = read_data(ratings)
    with in_file(ratings):
        table, summary = expert_screening(df, min_mean=min_mean, max_cv=max_cv, scale=scale)
    fig = plot_expert_screening(table, min_mean=min_mean, scale=scale)
    _print_table(table, f"Expert screening of {summary['n_elements']} elements ({ratings})")
    typer.echo(
        f"\nKendall's W = {summary['kendall_w']:.3f} (m = {summary['n_experts']} experts, "
        f"n = {summary['n_elements']} elements): chi2 = {summary['chi2']:.2f}, "
        f"df = {summary['df']}, p = {summary['pvalue']:.4g}"
    )
    if summary["kendall_w"] != summary["kendall_w"]:  # NaN
        typer.echo(
            "warning: Kendall's W is undefined: every expert gave all elements the same "
            "rating, so there is no ranking to agree on",
            err=True,
        )
    typer.echo(
        f"{summary['n_passing']} element(s) pass (mean >= {min_mean:g}, CV <= {max_cv:g}): "
        + (", ".join(table.loc[table["passes"], "element"]) or "(none)")
    )
    _write(
        folder,
        {"experts_screening.csv": table},
        {"experts_summary.json": summary},
        {"experts_screening.png": fig},
    )


def _select_items(columns: list[str], items: str | None, prefix: str | None) -> list[str]:
    if items:
        chosen = _split(items)
        missing = [c for c in chosen if c not in columns]
        if missing:
            parts = []
            for v in missing:
                close = difflib.get_close_matches(v, columns, n=3, cutoff=0.6)
                hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
                parts.append(f"'{v}'{hint}")
            raise MeasurementError(f"item(s) not found in the data: {'; '.join(parts)}")
        return chosen
    if prefix:
        prefixes = tuple(_split(prefix))
        chosen = [c for c in columns if c.startswith(prefixes)]
        if not chosen:
            raise MeasurementError(
                f"no column starts with {', '.join(prefixes)}; columns: {', '.join(columns[:30])}"
            )
        return chosen
    raise MeasurementError('give the items with --items "A1,A2,..." or --items-prefix "A,B"')


@_friendly
def pca(  # over 80 lines only because typer declares the eight options in the signature
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="Survey data (.csv/.xlsx/.sav).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the tables and figures.")],
    items: Annotated[
        str | None, typer.Option("--items", help="Comma-separated item columns.")
    ] = None,
    items_prefix: Annotated[
        str | None,
        typer.Option("--items-prefix", help="Use every column starting with these (comma-sep.)."),
    ] = None,
    rotation: Annotated[
        str, typer.Option("--rotation", help="varimax, promax or none.")
    ] = "varimax",
    n_components: Annotated[
        int | None,
        typer.Option("--n-components", help="Components to keep (default: --retain rule)."),
    ] = None,
    retain: Annotated[
        str, typer.Option("--retain", help="Default count: parallel (analysis) or kaiser.")
    ] = "parallel",
    parallel_iter: Annotated[
        int,
        typer.Option("--parallel-iter", min=1, help="Random data sets for parallel analysis."),
    ] = 1000,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=MAX_SEED, help="Seed for parallel analysis.")
    ] = 0,
    missing_codes: MissingCodes = None,
    sheet: Sheet = None,
) -> None:
    """Principal component analysis of survey items with KMO, Bartlett and parallel analysis."""
    check_inputs(data=data, out=out)
    rotation = rotation.strip().lower()
    if rotation not in ROTATIONS:
        raise OptionError(f"--rotation {rotation}: unknown. Must be one of: {', '.join(ROTATIONS)}")
    if retain not in RETAIN:
        raise OptionError(f"--retain {retain}: unknown. Must be one of: {', '.join(RETAIN)}")
    if n_components is not None and n_components < 1:
        raise OptionError(f"--n-components {n_components}: must be at least 1")
    if not items and not items_prefix:
        raise MeasurementError('give the items with --items "A1,A2,..." or --items-prefix "A,B"')
    codes = parse_missing_codes(missing_codes)
    check_sheet(data, sheet)
    with output_folder(out) as folder:
        write_provenance(folder.staging, record_provenance(ctx, seed=seed, inputs={"data": data}))
        _pca(
            data,
            folder,
            (items, items_prefix),
            None if rotation == "none" else rotation,
            (n_components, retain, parallel_iter, seed),
            codes,
            sheet,
        )


def _pca(  # the command's body: reads, computes, prints, writes (long only because it prints)
    data: Path,
    folder: OutputFolder,
    selection: tuple[str | None, str | None],
    rot: str | None,
    retention: tuple[int | None, str, int, int],
    codes: tuple[float, ...],
    sheet: str | None,
) -> None:
    from bayes_bmi.data import read_data, warn_missing_codes
    from bayes_bmi.measurement import pca as pca_mod
    from bayes_bmi.plots.measurement import plot_loadings, plot_scree

    items, items_prefix = selection
    n_components, retain, parallel_iter, seed = retention
    wanted = _split(items) if items else None
    df = read_data(data, sheet=sheet, missing_codes=codes, columns=wanted)
    chosen = _select_items([str(c) for c in df.columns], items, items_prefix)
    warn_missing_codes(df, chosen, str(data))
    subset = df[chosen]
    with in_file(data):
        result = pca_mod.pca(
            subset,
            n_components,
            rotation=rot,  # type: ignore[arg-type]
            retain=retain,  # type: ignore[arg-type]
            parallel_iter=parallel_iter,
            seed=seed,
            source=str(data),
        )
    overall, per_item = pca_mod.kmo(subset)
    chi2, df_b, p_b = pca_mod.bartlett_sphericity(subset)
    kmo_table = per_item.rename_axis("item").reset_index()
    figures = {
        "pca_scree.png": plot_scree(result),
        "pca_loadings.png": plot_loadings(result),
    }
    typer.echo(
        f"PCA of {len(chosen)} items on {result.n} complete rows of {data}"
        + (f" ({result.n_dropped} rows with missing values dropped)" if result.n_dropped else "")
    )
    typer.echo(
        f"KMO = {overall:.3f}; Bartlett's test: chi2 = {chi2:.2f}, df = {df_b}, p = {p_b:.3g}"
    )
    _print_table(result.eigenvalues, "Eigenvalues")
    typer.echo(
        f"\ncomponents: Kaiser {result.n_kaiser}, parallel analysis {result.n_parallel} "
        f"({result.parallel_iter} random data sets, seed {result.seed}); retained "
        f"{result.n_components}, rotation {result.rotation or 'none'}"
    )
    _print_table(result.loadings, "Loadings")
    _print_table(result.assignment, "Item assignment")
    summary = {
        "items": list(result.items),
        "n": result.n,
        "n_dropped": result.n_dropped,
        "kmo": overall,
        "bartlett_chi2": chi2,
        "bartlett_df": df_b,
        "bartlett_pvalue": p_b,
        "n_kaiser": result.n_kaiser,
        "n_parallel": result.n_parallel,
        "n_components": result.n_components,
        "rotation": result.rotation,
        "parallel_iter": result.parallel_iter,
        "seed": result.seed,
    }
    tables = {
        "pca_eigenvalues.csv": result.eigenvalues,
        "pca_loadings.csv": result.loadings,
        "pca_assignment.csv": result.assignment,
        "pca_rotated_variance.csv": result.rotated_variance,
        "pca_kmo.csv": kmo_table,
    }
    if result.phi is not None:
        _print_table(result.phi.reset_index(names="component"), "Component correlations")
        tables["pca_component_correlations.csv"] = result.phi.reset_index(names="component")
    _write(folder, tables, {"pca_summary.json": summary}, figures)


@_friendly
def reliability(
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="Measurement model in lavaan syntax (.lav).")],
    data: Annotated[Path, typer.Argument(help="Survey data (.csv/.xlsx/.sav).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the tables and the figure.")],
    missing: MissingMethod = None,
    missing_codes: MissingCodes = None,
    sheet: Sheet = None,
    ordinal: Annotated[
        str | None,
        typer.Option(
            help="Ordered-categorical items: 'all' or a comma-separated list (x1,x2); the CFA "
            "is then fitted by WLSMV and alpha (ordinal alpha) and HTMT come from the "
            "polychoric correlations."
        ),
    ] = None,
) -> None:
    """Alpha, CR, AVE, Fornell-Larcker and HTMT of a measurement model (ML CFA).

    With --missing fiml the CFA is fitted by full-information ML, and alpha, the item
    statistics and HTMT come from the EM estimate of the items' covariance matrix. With
    --ordinal, by WLSMV, with ordinal alpha and HTMT from the polychoric correlations.
    """
    check_inputs(models=[model], data=data, out=out)
    missing = check_missing(missing)
    ordered = ordinal_option(ordinal)
    codes = parse_missing_codes(missing_codes)
    check_sheet(data, sheet)
    with output_folder(out) as folder:
        provenance = record_provenance(ctx, seed=None, inputs={"model": model, "data": data})
        write_provenance(folder.staging, provenance)
        _reliability(model, data, folder, (missing, codes, ordered), sheet)


def _basis(f: Mapping[str, Any]) -> str:
    """``CFA by ML on 632 complete rows`` or its full-information counterpart."""
    if f.get("estimator") == "WLSMV":
        dropped = (
            f"; {f['n_dropped']} row(s) with a missing value dropped" if f["n_dropped"] else ""
        )
        return (
            f"CFA by WLSMV on {f['n']} complete rows{dropped}; ordinal alpha, item statistics "
            "and HTMT from the polychoric correlations"
        )
    if f["missing"] == "fiml":
        dropped = f", {f['n_dropped']} empty row(s) dropped" if f["n_dropped"] else ""
        return (
            f"CFA by full-information ML on {f['n']} cases "
            f"({plural(f['n_patterns'], 'missingness pattern')}, "
            f"{plural(f['n_missing_cells'], 'missing cell')}{dropped}); alpha, item statistics "
            "and HTMT from the EM covariance matrix of the items"
        )
    dropped = f"; {f['n_dropped']} row(s) with a missing value dropped" if f["n_dropped"] else ""
    return f"CFA by ML on {f['n']} complete rows{dropped}"


def _reliability(
    model: Path,
    data: Path,
    folder: OutputFolder,
    treatment: tuple[str | None, tuple[float, ...], bool | list[str] | None],
    sheet: str | None,
) -> None:
    """The command's body; ``treatment`` is ``(--missing, --missing-codes, --ordinal)``."""
    missing, codes, ordered = treatment
    from bayes_bmi.data import read_data, warn_missing_codes
    from bayes_bmi.lavaan.model import read_model
    from bayes_bmi.measurement.reliability import reliability_report
    from bayes_bmi.plots.measurement import plot_htmt

    m = read_model(model)
    df = read_data(data, sheet=sheet, missing_codes=codes, columns=list(m.ov_names))
    warn_missing_codes(df, m.ov_names, str(data))
    rep = reliability_report(m, df, source=str(data), missing=missing, ordered=ordered)
    f = rep.fit
    typer.echo(
        f"{_basis(f)}: chisq = {f['chisq']:.2f}, df = {f['df']}, "
        f"CFI = {f['cfi']:.3f}, TLI = {f['tli']:.3f}, RMSEA = {f['rmsea']:.3f}, "
        f"SRMR = {f['srmr']:.3f}"
    )
    for w in f["warnings"]:
        typer.echo(f"warning: {w}", err=True)
    t = rep.thresholds
    _print_table(
        rep.constructs,
        f"Reliability (alpha and CR >= {t['alpha_min']:g}/{t['cr_min']:g}, "
        f"AVE >= {t['ave_min']:g})",
    )
    _print_table(rep.items, "Indicators")
    _print_table(rep.fornell_larcker, "Fornell-Larcker (diagonal: sqrt(AVE))")
    _print_table(rep.htmt, f"HTMT (should be < {t['htmt_max']:g})")
    figures = {}
    if rep.htmt.shape[0] >= 2:
        figures["reliability_htmt.png"] = plot_htmt(rep.htmt, threshold=t["htmt_max"])
    _write(
        folder,
        {
            "reliability_constructs.csv": rep.constructs,
            "reliability_items.csv": rep.items,
            "reliability_latent_correlations.csv": rep.latent_correlations,
            "reliability_fornell_larcker.csv": rep.fornell_larcker,
            "reliability_htmt.csv": rep.htmt,
            "reliability_pairs.csv": rep.pairs,
        },
        {"reliability_summary.json": {"fit": rep.fit, "thresholds": rep.thresholds}},
        figures,
    )


def register(app: typer.Typer) -> None:
    """Add the measurement commands to a typer application.

    Parameters
    ----------
    app : typer.Typer
        Usually :data:`bayes_bmi.cli.main.app`.
    """
    app.command("literature")(literature)
    app.command("experts")(experts)
    app.command("pca")(pca)
    app.command("reliability")(reliability)
