"""The study's output: tables, figures, the posterior and the report, written atomically.

:func:`write_study` is the writer behind ``make study`` and ``bayes-bmi study``: it takes the
:class:`~bayes_bmi.study.pipeline.StudyResults` of
:func:`~bayes_bmi.study.pipeline.run_study`, renders everything in memory
(:func:`study_tables`, :func:`study_jsons`, :func:`study_figures`, :func:`study_report`),
and only then writes ``posterior.nc`` and every other file, each atomically. Rendering only:
every number comes from the results. What made them (:mod:`bayes_bmi.provenance`: versions,
seed, command line, the inputs' SHA-256) goes into ``provenance.json``, ``diagnostics.json``,
the report's last section and the attributes of ``posterior.nc``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bayes_bmi.io import atomic_write_bytes, atomic_write_datatree, csv_text, json_text
from bayes_bmi.provenance import PROVENANCE_NAME, Provenance, collect
from bayes_bmi.report.document import Report
from bayes_bmi.study.hypotheses import HYPOTHESIS_COLUMNS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bayes_bmi.study.pipeline import StudyResults

__all__ = [
    "REPORT_TITLE",
    "study_figures",
    "study_files",
    "study_jsons",
    "study_provenance",
    "study_report",
    "study_tables",
    "write_study",
]

REPORT_TITLE = "Key drivers of business model innovation: a Bayesian SEM study"
#: Figures of the study: dots per inch and tight bounding box.
FIGURE_DPI = 110


def _fmt(v: float | None, digits: int = 2) -> str:
    return "NA" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _by_driver(df: pd.DataFrame) -> pd.DataFrame:
    return df.reset_index().rename(columns={"index": "driver"})


# ------------------------------------------------------------------------------ tables
def study_tables(results: StudyResults) -> dict[str, pd.DataFrame]:
    """Every CSV table of the study: file name -> table."""
    r = results
    out: dict[str, pd.DataFrame] = {}
    if r.literature is not None:
        out["literature_frequencies.csv"] = r.literature.frequencies
    if r.experts is not None:
        out["expert_screening.csv"] = r.experts.table
    dc, rel = r.data_checks, r.reliability.report
    out["data_checks.csv"] = dc.summary
    out["item_descriptives.csv"] = dc.descriptives
    if dc.missing is not None and dc.missing.has_missing:
        out["missing_by_item.csv"] = dc.missing.by_item
    out["pca_eigenvalues.csv"] = dc.pca.eigenvalues
    out["pca_loadings.csv"] = dc.pca.loadings.reset_index()
    out["pca_assignment.csv"] = dc.pca.assignment
    out["reliability_constructs.csv"] = rel.constructs
    out["reliability_items.csv"] = rel.items
    out["htmt.csv"] = rel.htmt
    out["fornell_larcker.csv"] = rel.fornell_larcker
    result, check = r.sem.result, r.checking.check
    out["posterior_summary.csv"] = result.summary
    out["ml_estimates.csv"] = result.ml.table()
    out["fit_indices.csv"] = check.index_summary
    out["residual_correlations.csv"] = check.residuals
    if r.comparison is not None:
        out["model_comparison.csv"] = r.comparison.table
    out["reliability_posterior.csv"] = r.checking.posterior_reliability
    out["hypotheses.csv"] = r.hypotheses.table
    if r.ordinal is not None:
        out["hypotheses_ordinal.csv"] = r.ordinal.hypotheses
        out["verdicts_continuous_vs_ordinal.csv"] = r.ordinal.side_by_side
        out["posterior_summary_ordinal.csv"] = r.ordinal.result.summary
    out["key_drivers.csv"] = r.drivers.table
    out["driver_dominance.csv"] = _by_driver(r.drivers.dominance.pairwise)
    out["driver_rank_probabilities.csv"] = _by_driver(r.drivers.dominance.rank_probs)
    if r.recovery is not None:
        out["truth_recovery.csv"] = r.recovery.table
    if (grp := r.groups) is not None:
        if grp.invariance is not None:
            out["invariance.csv"] = grp.invariance
        out["drivers_by_group.csv"] = grp.table
        out["drivers_by_group_ranks.csv"] = grp.ranks
    return out


def study_provenance(results: StudyResults, out: str | Path = "results") -> Provenance:
    """What is making the study's output (:func:`bayes_bmi.provenance.collect`).

    The command line is the ``bayes-bmi study`` that runs the same study into ``out``
    (:meth:`~bayes_bmi.study.config.StudyConfig.command_line`); a study with settings only the
    Python API has is recorded as ``python`` with its settings.
    """
    import dataclasses

    from bayes_bmi.datasets import example_files

    config = results.config
    argv = config.command_line(out)
    return collect(
        "study" if argv is not None else "python",
        argv=argv,
        seed=config.sampler.seed,
        settings=dataclasses.asdict(config),
        inputs=config.input_files(),
        examples=example_files(),
    )


def study_jsons(
    results: StudyResults, provenance: Provenance | None = None
) -> dict[str, Mapping[str, Any]]:
    """Every JSON document of the study: file name -> mapping."""
    out: dict[str, Mapping[str, Any]] = {}
    if results.experts is not None:
        out["expert_screening_summary.json"] = results.experts.summary
    missing = results.data_checks.missing
    if missing is not None and missing.has_missing:
        out["missing_data.json"] = {
            **missing.to_dict(),
            "pca_basis": results.data_checks.pca_basis,
            "pca_n": results.data_checks.pca.n,
            "reliability_n": results.reliability.report.fit.get("n"),
            "reliability_covariance": results.reliability.report.fit.get("covariance"),
            "sem_n": results.sem.result.stats.n,
        }
    out["cfa_fit.json"] = results.reliability.report.fit
    out["ml_fit.json"] = results.sem.result.ml.fit
    diagnostics = dict(results.sem.result.diagnostics)
    if provenance is not None:
        diagnostics["provenance"] = provenance.to_dict()
        out[PROVENANCE_NAME] = provenance.to_dict()
    out["diagnostics.json"] = diagnostics
    return out


# ----------------------------------------------------------------------------- figures
def study_figures(results: StudyResults) -> dict[str, Callable[[], Figure]]:
    """Every figure of the study: file name -> a function that draws it.

    Functions rather than figures, so that one figure at a time is held in memory.
    """
    from bayes_bmi.plots import checking as pc
    from bayes_bmi.plots import measurement as pm
    from bayes_bmi.plots import study as ps

    r = results
    out: dict[str, Callable[[], Figure]] = {}
    if (lit := r.literature) is not None:
        out["figures/literature_frequencies.png"] = lambda: pm.plot_element_frequencies(
            lit.frequencies,
            threshold=lit.threshold,
            title="Business-model elements in the literature",
        )
    if (exp := r.experts) is not None:
        out["figures/expert_screening.png"] = lambda: pm.plot_expert_screening(
            exp.table, min_mean=exp.min_mean, title="Expert screening of business-model elements"
        )
    out["figures/pca_scree.png"] = lambda: pm.plot_scree(r.data_checks.pca)
    out["figures/pca_loadings.png"] = lambda: pm.plot_loadings(r.data_checks.pca)
    out["figures/htmt.png"] = lambda: pm.plot_htmt(r.reliability.report.htmt)
    check = r.checking.check
    out["figures/ppp.png"] = lambda: pc.plot_ppp(check.ppp)
    out["figures/residual_correlations.png"] = lambda: pc.plot_residual_correlations(
        check.residuals, check.names
    )
    if (comp := r.comparison) is not None:
        out["figures/model_comparison.png"] = lambda: pc.plot_comparison(comp.comparison)
    kd, dom, result = r.drivers.table, r.drivers.dominance, r.sem.result
    out["figures/path_diagram.png"] = lambda: ps.path_diagram(result)
    out["figures/driver_forest.png"] = lambda: ps.forest_plot(kd)
    out["figures/driver_ranks.png"] = lambda: ps.rank_plot(dom.rank_probs)
    out["figures/driver_dominance.png"] = lambda: ps.dominance_heatmap(dom.pairwise)
    if r.drivers.indirect:
        out["figures/indirect_effects.png"] = lambda: ps.indirect_posteriors(r.drivers.indirect)
    paths = [r.inputs.path_params[d] for d in r.inputs.drivers]
    out["figures/traces.png"] = lambda: ps.trace_plot(result, paths)
    if (grp := r.groups) is not None:
        out["figures/drivers_by_group.png"] = lambda: ps.group_forest_plot(
            grp.table, title=f"Drivers of {r.inputs.focal} by {grp.column}"
        )
    return out


# ------------------------------------------------------------------------------ report
def _literature(rep: Report, n: int, r: StudyResults) -> None:
    lit = r.literature
    assert lit is not None
    freq = lit.frequencies
    sel = freq[freq["selected"]]["element"].tolist()
    rep.heading(f"{n}. Business-model elements in the literature")
    rep.para(
        f"{lit.n_studies} published business-model frameworks were coded for the elements they "
        f"contain (`{r.config.literature}`). Elements used by at least half of them: "
        f"{', '.join(sel) if sel else 'none'}."
    )
    rep.table(freq, "Element frequencies across frameworks")
    rep.figure("figures/literature_frequencies.png", "Share of frameworks using each element")


def _experts(rep: Report, n: int, r: StudyResults) -> None:
    exp = r.experts
    assert exp is not None
    s = exp.summary
    rep.heading(f"{n}. Expert screening of the elements")
    rep.para(
        f"{s['n_experts']} experts rated {s['n_elements']} elements (1-5). Kendall's "
        f"W = {_fmt(s['kendall_w'], 3)} (chi-square = {_fmt(s['chi2'])}, df = "
        f"{s['df']}, p = {s['pvalue']:.3g}); {s['n_passing']} elements pass "
        f"(mean >= {s['min_mean']}, CV <= {s['max_cv']}). The example ratings "
        "shipped with bayes-bmi are synthetic (see data/experts/README.md)."
    )
    rep.table(exp.table, "Expert ratings per element")
    rep.figure("figures/expert_screening.png", "Mean expert rating per element")


def _data_checks(rep: Report, n: int, r: StudyResults) -> None:
    dc = r.data_checks
    s, desc, pres = dc.summary, dc.descriptives, dc.pca
    rep.heading(f"{n}. Data checks and principal components of the business-model items")
    rep.para(
        f"{s['n_rows'].iat[0]} responses, {len(dc.items)} items, all within "
        f"{dc.scale[0]}-{dc.scale[1]}; {s['missing_cells'].iat[0]} missing "
        f"cells; {s['complete_rows'].iat[0]} complete rows. Item means range "
        f"{desc['mean'].min():.2f}-{desc['mean'].max():.2f}, skewness "
        f"{desc['skew'].min():.2f} to {desc['skew'].max():.2f}."
    )
    assign = pres.assignment.groupby("component")["item"].apply(lambda v: ", ".join(v))
    basis = (
        f"the EM estimate of their correlation matrix ({pres.n} cases, every answer used)"
        if dc.pca_basis == "em"
        else f"{pres.n} complete rows"
        + (f" ({pres.n_dropped} rows with a missing answer dropped)" if pres.n_dropped else "")
    )
    rep.para(
        f"PCA of the {len(dc.pca_items)} items that measure {r.inputs.focal}'s dimensions, on "
        f"{basis}: KMO = "
        f"{dc.kmo:.3f}; the Kaiser rule keeps {pres.n_kaiser} and parallel analysis "
        f"{pres.n_parallel} components; {pres.n_components} were rotated (varimax). "
        "Components and their items: " + "; ".join(f"{c}: {v}" for c, v in assign.items()) + "."
    )
    rep.table(pres.eigenvalues.head(8), "Eigenvalues with parallel analysis (95th percentile)")
    rep.figure("figures/pca_scree.png", "Scree plot with parallel analysis")


def _missing(rep: Report, n: int, r: StudyResults) -> None:
    md = r.data_checks.missing
    assert md is not None
    rep.heading(f"{n}. Missing answers")
    rep.para(md.describe())
    if md.mcar is not None and md.mcar.tested:
        rep.para(
            md.mcar.describe()
            + ". Full-information ML stays unbiased when answers are missing at random (MAR: "
            "missingness depends on answers that were given), which no test can tell from "
            "missing not at random; listwise deletion needs MCAR."
        )
    if md.method == "fiml":
        rep.para(
            "Every analysis uses every observed answer: the PCA (above), alpha and HTMT the EM "
            "estimate of the items' covariance matrix; the CFA and the Bayesian SEM the "
            "likelihood summed over the missingness patterns."
        )
    else:
        rep.para(
            f"Every model below is fitted to the {md.complete_rows} complete rows (listwise "
            "deletion)."
        )
    worst = md.by_item.sort_values("missing", ascending=False, kind="stable")
    rep.table(worst.head(12), "Items with the most missing answers (rows = cells)")


def _failing(flags: pd.Series) -> int:
    """How many flags say "not ok" (empty flags count as ok)."""
    return int((~flags.astype("boolean").fillna(True)).sum())


def _reliability(rep: Report, n: int, r: StudyResults) -> None:
    rel, f = r.reliability.report, r.reliability.report.fit
    rep.heading(f"{n}. Reliability and validity of the measurement model")
    if f.get("missing") == "fiml":
        cases = (
            f"full-information ML on {f.get('n')} cases; alpha and HTMT from the EM covariance "
            "matrix"
        )
    else:
        cases = f"{f.get('n')} complete rows"
    rep.para(
        f"ML CFA of the measurement part ({len(r.reliability.cfa.representation.lv_names)} "
        f"factors; {cases}): chi-square = {_fmt(f.get('chisq'))}, df = {f.get('df')}, CFI = "
        f"{_fmt(f.get('cfi'), 3)}, TLI = {_fmt(f.get('tli'), 3)}, RMSEA = "
        f"{_fmt(f.get('rmsea'), 3)}, SRMR = {_fmt(f.get('srmr'), 3)}. Thresholds: alpha and "
        f"CR >= 0.7, AVE >= 0.5, HTMT < 0.85. {_failing(rel.constructs['cr_ok'])} "
        f"construct(s) fall below the CR threshold and {_failing(rel.constructs['ave_ok'])} "
        f"below the AVE threshold; pairs with HTMT >= 0.85: {_failing(rel.pairs['htmt_ok'])}."
    )
    rep.table(rel.constructs, "Reliability per construct (ML)")
    if not r.checking.posterior_reliability.empty:
        rep.table(
            r.checking.posterior_reliability,
            "Posterior composite reliability and AVE (median, 95% HDI)",
        )
    rep.figure("figures/htmt.png", "HTMT ratios between first-order constructs")


def _bayesian_sem(rep: Report, n: int, r: StudyResults) -> None:
    result, check = r.sem.result, r.checking.check
    diag, mf = result.diagnostics, result.ml.fit
    verdict = "converged" if diag["converged"] else "NOT converged: " + "; ".join(diag["problems"])
    rep.heading(f"{n}. The Bayesian structural equation model")
    if diag.get("missing") == "fiml":
        cases = (
            f"{diag['n_obs']} cases (full-information likelihood over "
            f"{diag.get('n_patterns')} missingness patterns)"
        )
    else:
        dropped = diag.get("n_dropped", 0)
        cases = f"{diag['n_obs']} cases" + (
            f", {dropped} rows with a missing answer dropped" if dropped else ""
        )
    rep.para(
        f"The model `{r.config.model}` was fitted to {cases} by NUTS ({diag['sampler']}, "
        f"{diag['chains']} chains x {diag['draws']} draws after {diag['tune']} warm-up steps, "
        f"seed {diag['seed']}), with the latent variables integrated out (multivariate-normal "
        "likelihood from the sufficient statistics) and blavaan's default priors; every chain "
        "started at the ML solution with a small jitter. "
        f"Convergence: max R-hat = {diag['max_r_hat']:.3f}, min bulk ESS = "
        f"{diag['min_ess_bulk']:.0f}, min tail ESS = {diag['min_ess_tail']:.0f}, "
        f"{diag['divergences']} divergent transitions: **{verdict}**."
        f" Compile {diag['compile_seconds']:.0f} s, sampling {diag['sampling_seconds']:.0f} s."
    )
    rep.para(
        f"Model fit. Posterior predictive p-value (likelihood-ratio discrepancy) = "
        f"{check.ppp.ppp:.3f}. ML cross-check of the same model: chi-square = "
        f"{mf['chisq']:.1f}, df = {mf['df']}, p = {mf['pvalue']:.3g}, CFI = {mf['cfi']:.3f}, "
        f"TLI = {mf['tli']:.3f}, RMSEA = {mf['rmsea']:.3f} [{mf['rmsea_ci_lower']:.3f}, "
        f"{mf['rmsea_ci_upper']:.3f}], SRMR = {mf['srmr']:.3f}."
    )
    rep.table(check.index_summary, "Bayesian fit indices (posterior; 90% intervals)")
    rep.figure(
        "figures/path_diagram.png", "Path diagram: posterior medians of the standardized paths"
    )
    rep.figure("figures/ppp.png", "Posterior predictive check of the chi-square discrepancy")
    rep.figure("figures/traces.png", "Traces of the driver paths")
    rep.table(
        check.residuals.head(8), "Largest posterior residual correlations (observed minus implied)"
    )


def _hypotheses(rep: Report, n: int, r: StudyResults) -> None:
    htab = r.hypotheses.table
    rep.heading(f"{n}. Hypotheses")
    rep.para("Decision rule. " + r.hypotheses.rule.describe())
    hidden = ("wording", "bayes_reason", "bf10_note")
    rep.table(
        htab[[c for c in HYPOTHESIS_COLUMNS if c not in hidden]],
        "Hypothesis table (raw-scale posterior; ROPE share on the standardized scale)",
    )
    count = htab["bayes_verdict"].value_counts()
    n_agree = int(htab["agree"].fillna(False).astype(bool).sum())
    rep.para(
        f"{count.get('supported', 0)} of {len(htab)} hypotheses are supported, "
        f"{count.get('not supported', 0)} not supported and {count.get('inconclusive', 0)} "
        f"inconclusive by the Bayesian rule; the ML verdict agrees on {n_agree} of them."
    )
    for _, row in htab.iterrows():
        rep.para(f"- **{row['id']}** ({row['bayes_verdict']}): {row['wording']}")


def _ordinal(rep: Report, n: int, r: StudyResults) -> None:
    o = r.ordinal
    d = o.result.diagnostics
    side = o.side_by_side
    rep.heading(f"{n}. Continuous and ordinal verdicts")
    rep.para(
        "The main model fitted again with every item as an ordered category (cumulative "
        "probit, theta parameterisation, the latent variables sampled; thresholds with "
        f"normal(0, 1.5) priors), {d['chains']} chains x ({d['tune']} + {d['draws']}) draws in "
        f"{o.seconds:.0f} s: max R-hat {d['max_r_hat']:.3f}, min bulk ESS "
        f"{d['min_ess_bulk']:.0f}, {d['divergences']} divergences"
        + ("." if o.converged else " - NOT converged: read its verdicts with care.")
    )
    rep.table(side, "Verdicts of the continuous and the ordinal model (standardized medians)")
    differ = side.loc[side["differs"], "id"].tolist()
    rep.para(
        "Every verdict is the same under both models."
        if not differ
        else f"{len(differ)} verdict(s) differ: {', '.join(differ)}; treating the items as "
        "continuous matters for these hypotheses."
    )


def _drivers(rep: Report, n: int, r: StudyResults) -> None:
    kd, dom, focal = r.drivers.table, r.drivers.dominance, r.inputs.focal
    leader = dom.order[0]
    rep.heading(f"{n}. Key drivers of {focal}")
    rep.para(
        f"Standardized effects of the {len(r.inputs.drivers)} drivers on {focal} and their "
        f"total (indirect) effects on the outcome. The driver most likely to have the largest "
        f"effect is **{leader}** (P = {dom.p_largest[leader]:.2f})."
    )
    rep.table(kd, "Key drivers (standardized; posterior median, 95% HDI, rank)")
    rep.figure("figures/driver_forest.png", "Driver effects with 95% HDI and the ROPE")
    rep.figure("figures/driver_ranks.png", "Posterior distribution of each driver's rank")
    rep.table(_by_driver(dom.pairwise), "P(row driver has a larger effect than column driver)")
    rep.figure("figures/driver_dominance.png", "Pairwise dominance")
    if r.drivers.indirect:
        rep.figure("figures/indirect_effects.png", "Posteriors of the indirect effects")


def _comparison(rep: Report, n: int, r: StudyResults) -> None:
    comp = r.comparison
    assert comp is not None
    rep.heading(f"{n}. Alternative driver models")
    rep.para(
        f"{len(comp.table)} models compared on the same data by PSIS-LOO, WAIC, PPP and "
        f"Bayesian fit indices, with their ML fit beside. Best by expected log predictive "
        f"density: **{comp.table.iloc[0]['model']}**. " + " ".join(comp.warnings)
    )
    rep.table(comp.table, "Model comparison")
    rep.figure("figures/model_comparison.png", "Expected log predictive density (LOO) with SE")


def _recovery(rep: Report, n: int, r: StudyResults) -> None:
    rec = r.recovery
    assert rec is not None
    n_rec = int(rec.table["recovered"].sum())
    missed = rec.table.loc[~rec.table["recovered"], "parameter"].tolist()
    rep.heading(f"{n}. Recovery of the known truth (simulated data)")
    rep.para(
        f"The shipped data are simulated from `{rec.truth_path}`. The 95% HDI of the "
        f"standardized effect contains the true value for {n_rec} of {len(rec.table)} "
        f"parameters" + (f"; missed: {', '.join(missed)}." if missed else ".")
    )
    rep.table(rec.table, "True vs estimated standardized effects")


def _invariance(rep: Report, n: int, r: StudyResults) -> None:
    grp = r.groups
    assert grp is not None and grp.invariance is not None
    sizes = ", ".join(f"{g} {k}" for g, k in grp.n.items())
    rep.heading(f"{n}. Measurement invariance by {grp.column}")
    rep.para(
        f"Groups by `{grp.column}` ({sizes} cases). Comparing paths across groups assumes the "
        "items measure the same constructs in each: the model's measurement part (its CFA) "
        "fitted by ML with nothing equal across groups (configural), equal loadings (metric) "
        "and equal loadings and intercepts (scalar). " + (grp.invariance_sentence or "")
    )
    rep.table(grp.invariance, f"Invariance by {grp.column} (ML)")


def _groups(rep: Report, n: int, r: StudyResults) -> None:
    grp = r.groups
    assert grp is not None
    t = grp.table
    ref = str(t["reference"].iloc[0])
    others = [g for g in grp.n if g != ref]
    d = grp.diagnostics
    rep.heading(f"{n}. Drivers by {grp.column}")
    rep.para(
        f"The hypothesised driver paths estimated in each group by the configural model (no "
        f"parameter equal across groups, independent priors per group: its posterior is the "
        f"product of the groups' posteriors, so each group is sampled alone), "
        f"{grp.seconds:.0f} s; max R-hat "
        + ", ".join(f"{g} {x['max_r_hat']:.3f}" for g, x in d.items())
        + ("." if grp.converged else " - NOT converged in every group: read with care.")
        + f" Differences are each group's standardized path minus the {ref} group's, draw by "
        f"draw; P(larger) is the posterior probability that the path is larger than in {ref} "
        "firms; ranks are the drivers' rank probabilities within each group (1 = largest "
        "path). ML: each group's own ML fit (the configural ML model), standardized and raw "
        "estimate with SE."
    )
    rows = t[t["group"] != ref].sort_values("p_larger", ascending=False)
    sure = rows[(rows["p_larger"] > 0.95) | (rows["p_larger"] < 0.05)]
    if sure.empty:
        rep.para(f"No driver's path differs between {ref} and {', '.join(others)} with P > .95.")
    else:
        rep.para(
            f"Paths that differ with P > .95 ({len(rows)} comparisons: about "
            f"{0.1 * len(rows):.1f} would reach it by chance if no path differed):"
        )
    for _, row in sure.iterrows():
        more = row["group"] if row["p_larger"] > 0.5 else ref
        p = max(row["p_larger"], 1 - row["p_larger"])
        rep.para(
            f"- **{row['driver']}** matters more in {more} firms: difference "
            f"{row['group']} - {ref} = {row['diff_median']:.2f} (95% HDI "
            f"{row['diff_hdi_lower']:.2f} to {row['diff_hdi_upper']:.2f}), P = {p:.3f}."
            + _truth_note(row)
        )
    rep.table(t, f"Driver paths by {grp.column} (standardized; posterior median, 95% HDI)")
    rep.figure(
        "figures/drivers_by_group.png",
        f"Driver paths by {grp.column} and their difference from {ref} (95% HDI)",
    )
    leaders = grp.ranks[grp.ranks["rank"] == 1].sort_values("probability", ascending=False)
    top = leaders.drop_duplicates("group")
    rep.para(
        "Most likely largest driver: "
        + "; ".join(
            f"{g}: {dr} (P = {p:.2f})"
            for g, dr, p in top[["group", "driver", "probability"]].itertuples(index=False)
        )
        + ". Every rank probability is in `drivers_by_group_ranks.csv`."
    )


def _truth_note(row: pd.Series) -> str:
    if "true_diff" not in row or not math.isfinite(float(row["true_diff"])):
        return ""
    inside = row["diff_hdi_lower"] <= row["true_diff"] <= row["diff_hdi_upper"]
    return f" True difference {row['true_diff']:.2f}: {'inside' if inside else 'OUTSIDE'} the HDI."


def _recommendations(rep: Report, n: int, r: StudyResults) -> None:
    rep.heading(f"{n}. Recommendations")
    rep.para(r.drivers.recommendations.text())
    rep.para(
        "These recommendations are generated from this run's posterior; rerun on other data "
        "and they follow the new results."
    )


def _provenance(rep: Report, n: int, prov: Provenance) -> None:
    rep.heading(f"{n}. Provenance")
    source = f" (git commit {prov.source[:12]})" if prov.source else ""
    seed = f"Seed {prov.seed}. " if prov.seed is not None else ""
    rep.para(  # paths as given, as everywhere in the report: the working folder is in the file
        f"Made by bayes-bmi {prov.bayes_bmi}{source} on Python {prov.python}, "
        f"{prov.platform}, at {prov.created}. {seed}Command: `{prov.command_line()}`."
    )
    rep.table(
        pd.DataFrame(
            [(f.role, f.path, f.sha256, f.size) for f in prov.inputs],
            columns=["role", "file", "sha256", "bytes"],
        ),
        "Input files and their SHA-256",
    )
    key = prov.key_packages()
    rep.table(
        pd.DataFrame(list(key.items()), columns=["package", "version"]),
        f"Versions of the main packages (all {len(prov.packages)} in `{PROVENANCE_NAME}`)",
    )
    rep.para(
        "To rerun the study from this record and see whether every table comes out the same: "
        "`bayes-bmi rerun FOLDER` (this folder), or `bayes-bmi study --rerun FOLDER`."
    )


def study_report(
    results: StudyResults, seconds: float | None = None, provenance: Provenance | None = None
) -> Report:
    """The report: one numbered section per stage that ran, the recommendations, the files.

    Parameters
    ----------
    results : StudyResults
    seconds : float, optional
        Total run time to print (default: the time the stages took).
    provenance : Provenance, optional
        What made the results: the last section when given.
    """
    r = results
    rep = Report(REPORT_TITLE)
    rep.para(
        f"Data: `{r.config.data}` ({len(r.inputs.data)} rows). Model: `{r.config.model}`. "
        f"Hypotheses: `{r.config.hypotheses}`. Produced by bayes-bmi; every number below is "
        "computed from these inputs in this run."
    )
    sections = [
        (_literature, r.literature is not None),
        (_experts, r.experts is not None),
        (_data_checks, True),
        (
            _missing,
            r.data_checks.missing is not None and r.data_checks.missing.has_missing,
        ),
        (_reliability, True),
        (_bayesian_sem, True),
        (_hypotheses, True),
        (_ordinal, r.ordinal is not None),
        (_drivers, True),
        (_comparison, r.comparison is not None),
        (_recovery, r.recovery is not None),
        (_invariance, r.groups is not None and r.groups.invariance is not None),
        (_groups, r.groups is not None),
        (_recommendations, True),
    ]
    shown = [section for section, present in sections if present]
    for n, section in enumerate(shown, start=1):
        section(rep, n, r)
    total = r.seconds if seconds is None else seconds
    rep.heading(f"{len(shown) + 1}. Files")
    rep.para(
        "All tables are CSV files next to this report; the full posterior (ArviZ DataTree) is "
        "`posterior.nc` (`xarray.open_datatree('posterior.nc', engine='h5netcdf')`). Total run "
        f"time {total:.0f} s."
    )
    if provenance is not None:
        _provenance(rep, len(shown) + 2, provenance)
    return rep


# ------------------------------------------------------------------------------ writing
def study_files(results: StudyResults, provenance: Provenance | None = None) -> dict[str, bytes]:
    """Every file of the study but the posterior, rendered in memory: name -> bytes."""
    from bayes_bmi.plots.render import png_bytes

    t0 = time.perf_counter()
    files = {name: csv_text(df).encode() for name, df in study_tables(results).items()}
    jsons = study_jsons(results, provenance)
    files.update({name: json_text(obj).encode() for name, obj in jsons.items()})
    for name, draw in study_figures(results).items():
        files[name] = png_bytes(draw(), dpi=FIGURE_DPI, bbox_inches="tight")
    seconds = results.seconds + time.perf_counter() - t0
    rep = study_report(results, seconds=seconds, provenance=provenance)
    files["report.md"] = rep.to_markdown().encode()
    files["report.html"] = rep.to_html().encode()
    return files


def write_study(
    results: StudyResults, out: str | Path, *, provenance: Provenance | None = None
) -> list[Path]:
    """Render the study and write it into ``out``: ``posterior.nc``, tables, figures, report.

    Everything is rendered before the first file is written, and every file is written
    atomically, so a failure leaves the folder as it was.

    Parameters
    ----------
    results : StudyResults
    out : str or Path
    provenance : Provenance, optional
        What made the results (the command line passes its own); default
        :func:`study_provenance`.

    Returns
    -------
    list of Path
        The files written, sorted.
    """
    out = Path(out)
    provenance = provenance or study_provenance(results, out)
    files = study_files(results, provenance)
    out.mkdir(parents=True, exist_ok=True)
    tree = provenance.tag(results.sem.result.idata)
    written = [atomic_write_datatree(out / "posterior.nc", tree)]
    written += [atomic_write_bytes(out / name, payload) for name, payload in files.items()]
    return sorted(written)
