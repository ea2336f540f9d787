"""Command line: ``bayes-bmi compare MODEL1 MODEL2 ... --data DATA --out DIR``.

:func:`register` adds the command to the main typer application. The command fits every model
(and the independence model) by NUTS, checks and ranks them, prints the comparison and writes
into ``--out``, every file atomically and only after everything has been computed:

* ``comparison.csv``: one row per model, best first
  (:data:`bayes_bmi.checking.compare.COMPARISON_COLUMNS`);
* ``fit_indices.csv``: posterior mean, median, SD and 90% HPD interval of each Bayesian fit
  index of each model;
* ``residual_correlations.csv``: observed minus implied correlation of every pair, with its
  95% interval and posterior predictive p-value, largest misfit first;
* ``comparison_summary.json``: settings, treatment of the means, LOO/WAIC/PPP per model,
  convergence diagnostics, warnings, provenance (also in ``provenance.json``);
* ``comparison.png``, ``ppp_<model>.png``, ``residuals_<model>.png`` (with ``--group``:
  ``residuals_<model>_g<group>.png``, one per group).

``--group COL`` (``--group-equal``, ``--group-partial`` for every model) fits every model by
group and compares them with the multi-group discrepancy and casewise log-likelihood
(:func:`bayes_bmi.checking.groups_check.check_groups`).

On bad input it prints ``error: ...`` to stderr, exits with code 2 and writes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bayes_bmi.cli.common import (
    DRAWS,
    MAX_SEED,
    TUNE,
    GroupEqual,
    GroupPartial,
    MissingCodes,
    MissingMethod,
    NoCache,
    Sheet,
    cases_line,
    check_group_column,
    check_inputs,
    check_missing,
    check_sheet,
    commit,
    group_kwargs,
    missing_data,
    ordinal_missing_data,
    ordinal_option,
    output_folder,
    parse_missing_codes,
    png_bytes,
    record_provenance,
    write_provenance,
)
from bayes_bmi.cli.common import friendly as _friendly

if TYPE_CHECKING:
    import pandas as pd

    from bayes_bmi.bayes.sampling import CompileCache
    from bayes_bmi.io import OutputFolder
    from bayes_bmi.provenance import Provenance

__all__ = ["compare", "register"]


def _compile_cache() -> CompileCache:
    """A fresh compile cache for one command (a seam for tests that share compilations)."""
    from bayes_bmi.bayes.sampling import CompileCache

    return CompileCache()


GroupColumn = Annotated[
    str | None,
    typer.Option(
        help="Grouping column: every model fitted by group (lavaan's group =) and checked "
        "with the discrepancy summed over groups."
    ),
]


def _cases(result: Any) -> dict[str, Any]:
    """:func:`missing_data` of a fit, summed over the groups of a multi-group fit."""
    stats = result.ml.group_stats
    if not stats:
        return missing_data(result.stats.n, result.stats.n_dropped, result.patterns)
    pats = result.ml.group_patterns or (None,) * len(stats)
    parts = [missing_data(st.n, st.n_dropped, p) for st, p in zip(stats, pats, strict=True)]
    return {
        k: parts[0][k] if isinstance(parts[0][k], str) else sum(p[k] for p in parts)
        for k in parts[0]
    }


def _model_names(paths: list[Path]) -> list[str]:
    """File stems, made unique and safe as file-name parts."""
    names: list[str] = []
    for path in paths:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem) or "model"
        name, k = base, 2
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
    return names


def _fmt_table(df: Any) -> str:
    import pandas as pd

    with pd.option_context(
        "display.max_rows", 200, "display.max_columns", 40, "display.width", 160
    ):
        return df.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")


@_friendly
def compare(
    ctx: typer.Context,
    models: Annotated[
        list[Path],
        typer.Argument(help="Model files in lavaan syntax (.lav); two or more to rank them."),
    ],
    data: Annotated[Path, typer.Option("--data", help="Data file (.csv, .xlsx or .sav).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for tables, figures and summary.")],
    draws: Annotated[int, typer.Option("--draws", min=1, help="Draws per chain.")] = DRAWS,
    tune: Annotated[int, typer.Option("--tune", min=1, help="Warm-up steps per chain.")] = TUNE,
    chains: Annotated[int, typer.Option("--chains", min=1, help="Number of chains.")] = 4,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=MAX_SEED, help="Seed of sampler and replications.")
    ] = 1,
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline/--no-baseline",
            help="Fit the independence model for BCFI, BTLI and BNFI.",
        ),
    ] = True,
    missing: MissingMethod = None,
    missing_codes: MissingCodes = None,
    sheet: Sheet = None,
    no_cache: NoCache = False,
    ordinal: Annotated[
        str | None,
        typer.Option(
            "--ordinal",
            help="Ordered-category items: 'all' or names (x1,x2,...): cumulative-probit models "
            "ranked by LOO (marginal likelihood per case) with the item-pair PPP.",
        ),
    ] = None,
    group: GroupColumn = None,
    group_equal: GroupEqual = None,
    group_partial: GroupPartial = None,
) -> None:
    """Compare alternative models of the same data: LOO, WAIC, PPP and Bayesian fit indices."""
    check_inputs(models=models, data=data, out=out)
    missing = check_missing(missing)
    codes = parse_missing_codes(missing_codes)
    check_sheet(data, sheet)
    ordered = ordinal_option(ordinal)
    groups = group_kwargs(group, group_equal, group_partial)
    if groups and ordered:
        from bayes_bmi.errors import OptionError

        raise OptionError("--group with --ordinal is not available")
    with output_folder(out) as folder:
        provenance = record_provenance(ctx, seed=seed, inputs={"model": models, "data": data})
        if ordered:
            _compare_ordinal(
                models, data, folder, (draws, tune, chains, seed), ordinal, ordered,
                (missing, codes), sheet, provenance, no_cache,
            )  # fmt: skip
            return
        _compare(
            models,
            data,
            folder,
            draws,
            tune,
            chains,
            seed,
            baseline,
            (missing, codes),
            sheet,
            provenance,
            no_cache,
            groups,
        )


def _compare(
    models: list[Path],
    data: Path,
    folder: OutputFolder,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    baseline: bool,
    treatment: tuple[str | None, tuple[float, ...]],
    sheet: str | None,
    provenance: Provenance,
    no_cache: bool = False,
    groups: dict | None = None,
) -> None:
    """Fit, check and rank the models; write every file into ``folder`` and commit it.

    ``treatment`` is ``(--missing, --missing-codes)``; ``groups`` the API's ``group``,
    ``group_equal`` and ``group_partial`` (every model fitted by group; the residual
    correlations then have a figure per group).
    """
    from bayes_bmi.api import comparison, specify
    from bayes_bmi.io import atomic_write_bytes, atomic_write_csv, atomic_write_json
    from bayes_bmi.plots.checking import plot_comparison, plot_ppp, plot_residual_correlations

    out = folder.path
    names = _model_names(models)
    # with groups the models are specified for the data's groups (c(...) modifiers need them)
    specified = {
        name: path if groups else specify(path) for name, path in zip(names, models, strict=True)
    }
    if groups:
        check_group_column(data, groups["group"], sheet, treatment[1])
    typer.echo(
        f"fitting {len(specified)} model(s){' and the independence model' if baseline else ''} "
        f"({chains} chains x {draws} draws after {tune} warm-up steps)..."
    )
    comp = comparison(
        specified,
        data,
        baseline=baseline,
        cache=_compile_cache(),
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        disk_cache=not no_cache,
        progress=False,
        missing=treatment[0],
        missing_codes=treatment[1],
        sheet=sheet,
        **(groups or {}),
    )
    first = next(iter(comp.results.values()))
    cases = _cases(first)

    # everything computed and rendered before the first file is written
    t = comp.table
    tables = {
        "comparison.csv": t,
        "fit_indices.csv": comp.fit_indices(),
        "residual_correlations.csv": comp.residuals(),
    }
    images = {"comparison.png": png_bytes(plot_comparison(comp))}
    for name, check in comp.checks.items():
        images[f"ppp_{name}.png"] = png_bytes(
            plot_ppp(check.ppp, title=f"Posterior predictive check: {name}")
        )
        labels = comp.results[name].group_labels
        for g, label in enumerate(labels or ("",), start=1):
            resid = check.residuals
            suffix, where = "", ""
            if labels:
                resid = resid[resid["group"] == g]
                suffix, where = f"_g{g}", f", group {label}"
            images[f"residuals_{name}{suffix}.png"] = png_bytes(
                plot_residual_correlations(
                    resid,
                    comp.results[name].model.ov_names,
                    title=f"Residual correlations: {name}{where} (posterior mean; * 95% "
                    "interval excludes 0)",
                )
            )
    summary = {
        "data": str(data),
        "models": {name: str(path) for name, path in zip(names, models, strict=True)},
        "n_obs": int(cases["n_used"]),
        "missing_data": cases,
        **({"group": first.group, "group_labels": list(first.group_labels)} if first.group else {}),
        "sampler": {"draws": draws, "tune": tune, "chains": chains, "seed": seed},
        "means": comp.means,
        "pd": "loo",
        "baseline": None
        if comp.baseline is None
        else {
            "converged": comp.baseline.converged,
            "max_r_hat": comp.baseline.diagnostics.get("max_r_hat"),
        },
        "per_model": {
            name: {
                "ppp": check.ppp.ppp,
                "n_moments": check.ppp.n_moments,
                "criteria": check.criteria,
                "fit_indices": check.index_means(),
                "converged": comp.results[name].converged,
                "diagnostics": {
                    k: comp.results[name].diagnostics.get(k)
                    for k in (
                        "max_r_hat",
                        "min_ess_bulk",
                        "min_ess_tail",
                        "divergences",
                        "problems",
                        "compile_seconds",
                        "sampling_seconds",
                    )
                },
            }
            for name, check in comp.checks.items()
        },
        "warnings": list(comp.warnings),
        "provenance": provenance.to_dict(),
    }

    show = t[
        [
            "model",
            "rank",
            "elpd_loo",
            "se_elpd_loo",
            "elpd_diff",
            "se_diff",
            "p_loo",
            "looic",
            "waic",
            "ppp",
            "brmsea",
            "bcfi",
            "btli",
            "ml_chisq",
            "ml_df",
            "ml_cfi",
            "ml_rmsea",
            "ml_aic",
            "ml_bic",
        ]
    ]
    by = f", {len(first.group_labels)} groups by {first.group!r}" if first.group else ""
    typer.echo(f"\nModel comparison on {data} (n = {summary['n_obs']}{by}, means: {comp.means})")
    typer.echo(cases_line(cases))
    typer.echo(_fmt_table(show))
    _echo_elpd_gaps(t)
    for name, check in comp.checks.items():
        resid = check.residuals
        top = resid.iloc[int(resid["residual"].abs().to_numpy().argmax())]
        where = f" (group {top['group_label']})" if "group_label" in resid else ""
        typer.echo(
            f"{name}: PPP = {check.ppp.ppp:.3f}; largest residual correlation "
            f"{top['var1']}-{top['var2']}{where} = {top['residual']:.3f} "
            f"[{top['lower']:.3f}, {top['upper']:.3f}]"
        )
    for w in comp.warnings:
        typer.echo(f"warning: {w}", err=True)

    stage = folder.staging
    for name, table in tables.items():
        atomic_write_csv(stage / name, table)
    atomic_write_json(stage / "comparison_summary.json", summary)
    write_provenance(stage, provenance)
    for name, png in images.items():
        atomic_write_bytes(stage / name, png)
    written = commit(folder)
    typer.echo(f"\nwrote {len(written)} files to {out}: {', '.join(p.name for p in written)}")


def _compare_ordinal(
    models: list[Path],
    data: Path,
    folder: OutputFolder,
    sampler: tuple[int, int, int, int],
    ordinal: str,
    ordered: bool | list[str],
    treatment: tuple[str | None, tuple[float, ...]],
    sheet: str | None,
    provenance: Provenance,
    no_cache: bool = False,
) -> None:
    """``compare --ordinal``: rank cumulative-probit models by LOO; write and commit the files.

    Files: ``comparison.csv`` (the Bayesian fit indices and ML columns empty),
    ``item_pairs.csv`` (each model's item pairs, worst-fitting first: the observed and
    replicated ``X^2`` and the pair's PPP), ``comparison_summary.json``, ``provenance.json``,
    ``comparison.png`` and ``ppp_<model>.png``.
    """
    import pandas as pd

    from bayes_bmi.api import comparison, specify
    from bayes_bmi.io import atomic_write_bytes, atomic_write_csv, atomic_write_json
    from bayes_bmi.plots.checking import plot_comparison, plot_ppp

    draws, tune, chains, seed = sampler
    names = _model_names(models)
    specified = {name: specify(path) for name, path in zip(names, models, strict=True)}
    typer.echo(
        f"fitting {len(specified)} ordinal model(s) ({chains} chains x {draws} draws after "
        f"{tune} warm-up steps)..."
    )
    comp = comparison(
        specified, data, cache=_compile_cache(), draws=draws, tune=tune, chains=chains,
        seed=seed, disk_cache=not no_cache, progress=False, missing=treatment[0],
        missing_codes=treatment[1], sheet=sheet, ordered=ordered,
    )  # fmt: skip
    assert comp.ordinal is not None
    first = next(iter(comp.results.values()))
    cases = ordinal_missing_data(
        first.ordinal.n, first.diagnostics.get("n_dropped", 0), first.ordinal.codes
    )
    t = comp.table
    pairs = pd.concat(
        [oc.pairs.assign(model=name) for name, oc in comp.ordinal.items()], ignore_index=True
    )
    pairs = pairs[["model", *[c for c in pairs.columns if c != "model"]]]
    images = {"comparison.png": png_bytes(plot_comparison(comp))}
    for name, check in comp.checks.items():
        images[f"ppp_{name}.png"] = png_bytes(
            plot_ppp(check.ppp, title=f"Posterior predictive check (item pairs' X^2): {name}")
        )
    summary = {
        "data": str(data),
        "models": {name: str(path) for name, path in zip(names, models, strict=True)},
        "ordinal": ordinal,
        "n_obs": int(first.ordinal.n),
        "missing_data": cases,
        "sampler": {"draws": draws, "tune": tune, "chains": chains, "seed": seed},
        "ppp": "Pearson X^2 of the items' bivariate tables",
        "per_model": {
            name: {
                "ppp": check.ppp.ppp,
                "ppp_draws": check.ppp.n_draws,
                "criteria": check.criteria,
                "converged": comp.results[name].converged,
                "diagnostics": {
                    k: comp.results[name].diagnostics.get(k)
                    for k in (
                        "max_r_hat",
                        "min_ess_bulk",
                        "divergences",
                        "problems",
                        "sampling_seconds",
                    )  # fmt: skip
                },
            }
            for name, check in comp.checks.items()
        },
        "warnings": list(comp.warnings),
        "provenance": provenance.to_dict(),
    }
    show = t[["model", "rank", "elpd_loo", "se_elpd_loo", "elpd_diff", "se_diff", "p_loo",
              "looic", "waic", "n_pareto_k_high", "ppp"]]  # fmt: skip
    typer.echo(f"\nOrdinal model comparison on {data} (n = {summary['n_obs']})")
    typer.echo(cases_line(cases))
    typer.echo(_fmt_table(show))
    _echo_elpd_gaps(t)
    for name, oc in comp.ordinal.items():
        top = oc.pairs.iloc[0]
        typer.echo(
            f"{name}: PPP = {oc.ppp:.3f} (item pairs' X^2); worst pair {top['item_a']}-"
            f"{top['item_b']} (pair PPP {top['ppp']:.3f}); LOO on "
            f"{comp.checks[name].criteria['loo_draws']} draws"
        )
    for w in comp.warnings:
        typer.echo(f"warning: {w}", err=True)

    stage = folder.staging
    atomic_write_csv(stage / "comparison.csv", t)
    atomic_write_csv(stage / "item_pairs.csv", pairs)
    atomic_write_json(stage / "comparison_summary.json", summary)
    write_provenance(stage, provenance)
    for name, png in images.items():
        atomic_write_bytes(stage / name, png)
    written = commit(folder)
    typer.echo(
        f"\nwrote {len(written)} files to {folder.path}: {', '.join(p.name for p in written)}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``compare`` command to a typer application.

    Parameters
    ----------
    app : typer.Typer
        Usually :data:`bayes_bmi.cli.main.app`.
    """
    app.command("compare")(compare)


def _echo_elpd_gaps(table: pd.DataFrame) -> None:
    """Print each model's elpd gap to the best (first) row, in standard errors."""
    best = table.iloc[0]
    for _, row in table.iloc[1:].iterrows():
        ratio = abs(row["elpd_diff"]) / row["se_diff"] if row["se_diff"] > 0 else float("inf")
        typer.echo(
            f"{row['model']}: elpd {row['elpd_diff']:.1f} (SE {row['se_diff']:.1f}) below "
            f"{best['model']}, {ratio:.1f} standard errors"
        )
