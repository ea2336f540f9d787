"""The study: from survey data to hypothesis verdicts, key drivers and advice.

:func:`run_study` is the main job behind ``make study`` and ``bayes-bmi study``. It runs the
thesis's stages in order (literature count, expert screening, PCA of the business-model
items, reliability and validity), then the Bayesian SEM with its ML cross-check, the
hypothesis table, the key-driver ranking, the comparison with alternative driver models,
and writes tables, figures, the posterior and a report. Everything is computed first and
written at the end, each file atomically, so a failure leaves ``results/`` as it was.

Nothing here is specific to the shipped data: drivers are found from the model's structure
(the exogenous latent variables that predict the construct with most predictors), and the
recommendations follow the posterior.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_bmi.bayes.sampling import CompileCache, SamplerConfig
from bayes_bmi.data import DataError, read_data, select_model_data  # noqa: F401
from bayes_bmi.lavaan.expressions import expression_names, parse_expression
from bayes_bmi.lavaan.model import Model, read_model, specify
from bayes_bmi.lavaan.partable import ModelSpecError, partable_names

__all__ = [
    "StudyConfig",
    "StudyOutputs",
    "data_checks",
    "find_drivers",
    "measurement_model",
    "posterior_reliability",
    "run_study",
    "truth_recovery",
]


@dataclass(frozen=True)
class StudyConfig:
    """What to run and where.

    Attributes
    ----------
    data, model, hypotheses : Path
        Survey data (csv/xlsx/sav), the main model (.lav), its hypotheses (.toml).
    out : Path
        Results folder.
    alternatives : tuple of Path
        Alternative models on the same items, compared with the main one.
    truth : Path or None
        Ground truth of simulated data (``data/ground_truth.json``): the report then says which
        true paths the 95% intervals recovered.
    literature, experts : Path or None
        Inputs of the literature count and the expert screening stages.
    pca_items : tuple of str or None
        Items for the PCA stage; default: the indicators of the first-order factors that
        measure the focal (second-order) construct.
    scale : (int, int)
        Response scale of the items (Likert range).
    sampler : SamplerConfig
    compare : bool
        Fit the alternatives and the independence model (PPP, fit indices, LOO/WAIC).
    """

    data: Path
    model: Path
    hypotheses: Path
    out: Path
    alternatives: tuple[Path, ...] = ()
    truth: Path | None = None
    literature: Path | None = None
    experts: Path | None = None
    pca_items: tuple[str, ...] | None = None
    scale: tuple[int, int] = (1, 5)
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(progress=False))
    compare: bool = True


@dataclass
class StudyOutputs:
    """Files to write: name -> bytes (built in memory, written at the end)."""

    files: dict[str, bytes] = field(default_factory=dict)

    def csv(self, name: str, df: pd.DataFrame) -> None:
        """Add a CSV table."""
        self.files[name] = df.to_csv(index=False, float_format="%.10g").encode()

    def json(self, name: str, obj: object) -> None:
        """Add a JSON document (NaN -> null)."""
        from bayes_bmi.io import _clean

        self.files[name] = (json.dumps(_clean(obj), indent=2) + "\n").encode()

    def figure(self, name: str, fig) -> None:
        """Add a PNG of a matplotlib Figure."""
        from bayes_bmi.cli.common import png_bytes

        self.files[name] = png_bytes(fig, dpi=110, bbox_inches="tight")


# ----------------------------------------------------------------------------- structure
def measurement_model(model: Model) -> Model:
    """The CFA of a model: its ``=~`` statements only (latent covariances free)."""
    pt = model.partable
    meas = pt[(pt["op"] == "=~") & (pt["user"] == 1)]
    lines = []
    for lv in dict.fromkeys(meas["lhs"]):
        rows = meas[meas["lhs"] == lv]
        lines.append(f"{lv} =~ " + " + ".join(rows["rhs"]))
    text = "\n".join(lines)
    # latent variables that only predict others in the SEM must still covary in the CFA:
    # in a pure CFA every first-order factor not indicating another is exogenous (lv.x)
    return specify(text, filename=f"{model.filename or '<model>'} (measurement part)")


def find_drivers(model: Model) -> tuple[str, list[str], dict[str, str], dict[str, list[str]]]:
    """Find the focal construct, its drivers and the parameters of their effects.

    The focal construct is the latent variable with the most exogenous latent predictors;
    the drivers are those predictors. For each driver: the parameter of its path to the focal
    construct, and the parameters whose standardized values add up to its total effect on
    the outcome (defined parameters that use the path's label, plus direct paths from the
    driver to the focal construct's own dependents).

    Returns
    -------
    focal, drivers, path_params, total_params
    """
    pt = model.partable
    names = partable_names(pt)
    reg = pt[pt["op"] == "~"]
    cand = reg[reg["rhs"].isin(names.lv_x)]
    if cand.empty:
        raise ModelSpecError(
            f"{model.filename or '<model>'}: no exogenous latent variable predicts another; "
            "a key-driver analysis needs drivers (latent predictors) of a focal construct"
        )
    counts = cand["lhs"].value_counts()
    focal = str(counts.index[0])
    rows = cand[cand["lhs"] == focal]
    drivers = list(dict.fromkeys(rows["rhs"]))

    def pname(r: pd.Series) -> str:
        return r["label"] if r["label"] else f"{r['lhs']}~{r['rhs']}"

    path = {r["rhs"]: pname(r) for _, r in rows.iterrows()}
    outcomes = set(reg.loc[reg["rhs"] == focal, "lhs"])
    defined = pt[pt["op"] == ":="]
    total: dict[str, list[str]] = {}
    for d in drivers:
        parts = []
        label = path[d]
        for _, r in defined.iterrows():
            used = expression_names(parse_expression(r["rhs"]))
            direct_labels = {
                pname(x) for _, x in reg[(reg["rhs"] == d) & reg["lhs"].isin(outcomes)].iterrows()
            }
            if label in used and not (used & direct_labels):
                parts.append(r["lhs"])  # an indirect effect through the focal construct
        for _, x in reg[(reg["rhs"] == d) & reg["lhs"].isin(outcomes)].iterrows():
            parts.append(pname(x))  # a direct path to the outcome
        total[d] = parts
    return focal, drivers, path, total


def _dimension_items(model: Model, focal: str) -> list[str]:
    pt = model.partable
    meas = pt[pt["op"] == "=~"]
    dims = list(meas.loc[meas["lhs"] == focal, "rhs"])
    items = []
    for dim in dims:
        items += list(meas.loc[meas["lhs"] == dim, "rhs"])
    return items or dims


# ----------------------------------------------------------------------------- stages
def data_checks(
    data: pd.DataFrame, items: Sequence[str], scale: tuple[int, int], source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Range and missing-cell checks per item, and item descriptives.

    Raises
    ------
    DataError
        When an item holds a value outside the response scale (naming row and column).
    """
    sel = select_model_data(data, items, source)
    lo, hi = scale
    rows = []
    for item in items:
        col = sel[item]
        bad = col.notna() & ((col < lo) | (col > hi) | (col != np.round(col)))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{source}: item '{item}' row {i + 1} holds {col.iloc[i]!r}, outside the "
                f"response scale {lo}-{hi} (integers); fix it or mark it missing"
            )
        x = col.dropna()
        counts = x.value_counts().reindex(range(lo, hi + 1), fill_value=0)
        rows.append(
            {
                "item": item,
                "n": int(x.size),
                "missing": int(col.isna().sum()),
                "mean": float(x.mean()),
                "sd": float(x.std(ddof=1)),
                "skew": float(x.skew()),
                "kurtosis": float(x.kurt()),
                **{f"pct_{k}": float(100 * v / max(x.size, 1)) for k, v in counts.items()},
            }
        )
    desc = pd.DataFrame(rows)
    summary = pd.DataFrame(
        [
            {
                "n_rows": int(len(sel)),
                "n_items": len(items),
                "missing_cells": int(sel.isna().sum().sum()),
                "complete_rows": int(sel.dropna().shape[0]),
                "all_in_range": True,
            }
        ]
    )
    return summary, desc


def truth_recovery(truth_path: Path, std_draws: dict[str, np.ndarray]) -> pd.DataFrame:
    """Which true standardized paths lie inside the 95% HDI of their posterior."""
    from bayes_bmi.bayes.posterior import hdi
    from bayes_bmi.study.survey import SurveyTruth

    truth = SurveyTruth.from_json(truth_path.read_text(encoding="utf-8"))
    true_vals: dict[str, float] = {f"g_{d}": float(v) for d, v in truth.paths.items()}
    true_vals["b"] = float(truth.b)
    true_vals.update({f"ind_{d}": float(v) for d, v in truth.indirect_effects().items()})
    rows = []
    for name, t in true_vals.items():
        if name not in std_draws:
            continue
        lo, hi = hdi(std_draws[name], 0.95)
        rows.append(
            {
                "parameter": name,
                "true_std": t,
                "post_median_std": float(np.median(std_draws[name])),
                "hdi_lower": lo,
                "hdi_upper": hi,
                "recovered": bool(lo <= t <= hi),
                "true_is_zero": t == 0.0,
                "hdi_excludes_zero": bool(lo > 0 or hi < 0),
            }
        )
    return pd.DataFrame(rows)


def posterior_reliability(result, constructs: Sequence[str], max_draws: int = 1000) -> pd.DataFrame:
    """Posterior of composite reliability and AVE from per-draw standardized loadings."""
    from bayes_bmi.bayes.posterior import hdi, std_all_draws
    from bayes_bmi.measurement.reliability import ave, composite_reliability

    pt = result.model.partable
    rows = result.draw_rows().reshape(-1, len(pt))
    rows = rows[:: max(1, rows.shape[0] // max_draws)]
    std = std_all_draws(pt, result.model.representation, rows)
    out = []
    for lv in constructs:
        mask = ((pt["op"] == "=~") & (pt["lhs"] == lv)).to_numpy()
        if not mask.any():
            continue
        lam = std[:, mask]
        cr_d, ave_d = composite_reliability(lam), ave(lam)
        cr_lo, cr_hi = hdi(cr_d)
        ave_lo, ave_hi = hdi(ave_d)
        out.append(
            {
                "construct": lv,
                "cr_median": float(np.median(cr_d)),
                "cr_hdi_lower": cr_lo,
                "cr_hdi_upper": cr_hi,
                "ave_median": float(np.median(ave_d)),
                "ave_hdi_lower": ave_lo,
                "ave_hdi_upper": ave_hi,
            }
        )
    return pd.DataFrame(out)


def _trace_figure(result, names: Sequence[str]):
    from matplotlib.figure import Figure

    from bayes_bmi.study.hypotheses import parameter_rows

    idx = parameter_rows(result.summary)
    names = [n for n in names if n in idx][:6]
    fig = Figure(figsize=(9, 1.6 * max(len(names), 1)))
    est = result.idata["posterior"]["estimate"].values
    for j, n in enumerate(names):
        ax = fig.add_subplot(len(names), 1, j + 1)
        for c in range(est.shape[0]):
            ax.plot(est[c, :, idx[n]], lw=0.4, alpha=0.8, label=f"chain {c + 1}")
        ax.set_ylabel(n, fontsize=8)
        if j == 0:
            ax.set_title("Traces of the driver paths (each colour a chain; they should overlap)")
    fig.tight_layout()
    return fig


def _fmt(v: float, digits: int = 2) -> str:
    return "NA" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


# ----------------------------------------------------------------------------- the study
def run_study(
    config: StudyConfig, *, log=print, cache: CompileCache | None = None
) -> dict[str, object]:
    """Run the whole study and write ``config.out``.

    Parameters
    ----------
    config : StudyConfig
    log : callable
        Progress messages.
    cache : CompileCache, optional
        Reuse compiled models across studies in one process.

    Returns
    -------
    dict
        The main tables (hypotheses, key drivers, comparison) and the paths written.
    """
    from bayes_bmi.bayes.sampling import fit_bayes
    from bayes_bmi.checking.compare import compare_models, plot_comparison
    from bayes_bmi.checking.ppc import check_model, plot_ppp, plot_residual_correlations
    from bayes_bmi.plots.study import (
        dominance_heatmap,
        forest_plot,
        indirect_posteriors,
        path_diagram,
        rank_plot,
    )
    from bayes_bmi.report.document import Report
    from bayes_bmi.study.drivers import key_drivers, recommendations
    from bayes_bmi.study.hypotheses import (
        DEFAULT_RULE,
        HYPOTHESIS_COLUMNS,
        check_hypotheses,
        hypothesis_table,
        parameter_draws,
        parameter_rows,
        read_hypotheses,
    )

    t_start = time.perf_counter()
    out = StudyOutputs()
    source = str(config.data)
    data = read_data(config.data)
    model = read_model(config.model)
    hyps = read_hypotheses(config.hypotheses)
    alts = {p.stem: read_model(p) for p in config.alternatives}
    focal, drivers, path_params, total_params = find_drivers(model)
    names_in_model = set(model.partable["label"]) | set(
        model.partable.loc[model.partable["op"] == ":=", "lhs"]
    )
    check_hypotheses(hyps, [n for n in names_in_model if n])

    rep = Report("Key drivers of business model innovation: a Bayesian SEM study")
    rep.para(
        f"Data: `{config.data}` ({len(data)} rows). Model: `{config.model}`. Hypotheses: "
        f"`{config.hypotheses}`. Produced by bayes-bmi; every number below is computed from "
        "these inputs in this run."
    )

    # 1. literature count
    section = 1
    if config.literature is not None:
        from bayes_bmi.measurement.literature import element_frequencies, plot_element_frequencies

        lit = pd.read_csv(config.literature)
        freq = element_frequencies(lit)
        out.csv("literature_frequencies.csv", freq)
        out.figure(
            "figures/literature_frequencies.png", plot_element_frequencies(freq, threshold=0.5)
        )
        rep.heading(f"{section}. Business-model elements in the literature")
        sel = freq[freq["selected"]]["element"].tolist()
        rep.para(
            f"{len(lit)} published business-model frameworks were coded for the elements they "
            f"contain (`{config.literature}`). Elements used by at least half of them: "
            f"{', '.join(sel) if sel else 'none'}."
        )
        rep.table(freq, "Element frequencies across frameworks")
        rep.figure("figures/literature_frequencies.png", "Share of frameworks using each element")
        section += 1
        log("literature count done")

    # 2. expert screening
    if config.experts is not None:
        from bayes_bmi.measurement.experts import expert_screening, plot_expert_screening

        ratings = pd.read_csv(config.experts)
        screen, ssum = expert_screening(ratings)
        out.csv("expert_screening.csv", screen)
        out.json("expert_screening_summary.json", ssum)
        out.figure("figures/expert_screening.png", plot_expert_screening(screen, min_mean=3.5))
        rep.heading(f"{section}. Expert screening of the elements")
        rep.para(
            f"{ssum['n_experts']} experts rated {ssum['n_elements']} elements (1-5). Kendall's "
            f"W = {_fmt(ssum['kendall_w'], 3)} (chi-square = {_fmt(ssum['chi2'])}, df = "
            f"{ssum['df']}, p = {ssum['pvalue']:.3g}); {ssum['n_passing']} elements pass "
            f"(mean >= {ssum['min_mean']}, CV <= {ssum['max_cv']}). The example ratings "
            "shipped with bayes-bmi are synthetic (see data/experts/README.md)."
        )
        rep.table(screen, "Expert ratings per element")
        rep.figure("figures/expert_screening.png", "Mean expert rating per element")
        section += 1
        log("expert screening done")

    # 3. data checks and PCA of the business-model items
    items = list(model.ov_names)
    check_sum, desc = data_checks(data, items, config.scale, source)
    out.csv("data_checks.csv", check_sum)
    out.csv("item_descriptives.csv", desc)
    from bayes_bmi.measurement.pca import kmo, pca, plot_loadings, plot_scree

    pca_items = list(config.pca_items) if config.pca_items else _dimension_items(model, focal)
    item_df = data[pca_items].apply(pd.to_numeric, errors="coerce")
    pres = pca(item_df, rotation="varimax", seed=config.sampler.seed, source=source)
    kmo_all, _ = kmo(item_df.dropna())
    out.csv("pca_eigenvalues.csv", pres.eigenvalues)
    out.csv("pca_loadings.csv", pres.loadings.reset_index())
    out.csv("pca_assignment.csv", pres.assignment)
    out.figure("figures/pca_scree.png", plot_scree(pres))
    out.figure("figures/pca_loadings.png", plot_loadings(pres))
    rep.heading(f"{section}. Data checks and principal components of the business-model items")
    rep.para(
        f"{check_sum['n_rows'].iat[0]} responses, {len(items)} items, all within "
        f"{config.scale[0]}-{config.scale[1]}; {check_sum['missing_cells'].iat[0]} missing "
        f"cells; {check_sum['complete_rows'].iat[0]} complete rows. Item means range "
        f"{desc['mean'].min():.2f}-{desc['mean'].max():.2f}, skewness "
        f"{desc['skew'].min():.2f} to {desc['skew'].max():.2f}."
    )
    assign = pres.assignment.groupby("component")["item"].apply(lambda s: ", ".join(s))
    rep.para(
        f"PCA of the {len(pca_items)} items that measure {focal}'s dimensions: KMO = "
        f"{kmo_all:.3f}; the Kaiser rule keeps {pres.n_kaiser} and parallel analysis "
        f"{pres.n_parallel} components; {pres.n_components} were rotated (varimax). "
        "Components and their items: " + "; ".join(f"{c}: {v}" for c, v in assign.items()) + "."
    )
    rep.table(pres.eigenvalues.head(8), "Eigenvalues with parallel analysis (95th percentile)")
    rep.figure("figures/pca_scree.png", "Scree plot with parallel analysis")
    section += 1
    log("data checks and PCA done")

    # 4. reliability and validity (ML CFA)
    from bayes_bmi.measurement.reliability import plot_htmt, reliability_report

    cfa = measurement_model(model)
    rel = reliability_report(cfa, data, source=source)
    out.csv("reliability_constructs.csv", rel.constructs)
    out.csv("reliability_items.csv", rel.items)
    out.csv("htmt.csv", rel.htmt)
    out.csv("fornell_larcker.csv", rel.fornell_larcker)
    out.json("cfa_fit.json", rel.fit)
    out.figure("figures/htmt.png", plot_htmt(rel.htmt))
    log("reliability done")

    # 5. Bayesian SEM (+ alternatives, + the independence model) and the ML cross-check
    cache = cache if cache is not None else CompileCache()
    t0 = time.perf_counter()
    main_name = config.model.stem
    if config.compare:
        comp = compare_models(
            {main_name: model, **alts}, data, config=config.sampler, cache=cache, source=source
        )
        result = comp.results[main_name]
        check = comp.checks[main_name]
    else:
        comp = None
        result = fit_bayes(model, data, config=config.sampler, cache=cache, source=source)
        check = check_model(result, None, seed=config.sampler.seed)
    fit_s = time.perf_counter() - t0
    log(f"Bayesian fits done in {fit_s:.0f} s")
    diag = result.diagnostics
    out.csv("posterior_summary.csv", result.summary)
    out.csv("ml_estimates.csv", result.ml.table())
    out.json("ml_fit.json", result.ml.fit)
    out.json("diagnostics.json", diag)
    out.csv("fit_indices.csv", check.index_summary)
    out.csv("residual_correlations.csv", check.residuals)
    out.figure("figures/ppp.png", plot_ppp(check.ppp))
    out.figure(
        "figures/residual_correlations.png",
        plot_residual_correlations(check.residuals, check.names),
    )
    if comp is not None:
        out.csv("model_comparison.csv", comp.table)
        out.figure("figures/model_comparison.png", plot_comparison(comp))

    # posterior CR / AVE from the standardized loadings of the SEM (1000 draws at most)
    idx = parameter_rows(result.summary)
    post_rel_df = posterior_reliability(result, list(rel.constructs["construct"]))
    out.csv("reliability_posterior.csv", post_rel_df)

    # 6. hypotheses
    htab = hypothesis_table(hyps, result)
    out.csv("hypotheses.csv", htab)

    # 7. key drivers
    kd, dom = key_drivers(result, drivers, path_params, total_params)
    out.csv("key_drivers.csv", kd)
    out.csv("driver_dominance.csv", dom.pairwise.reset_index().rename(columns={"index": "driver"}))
    out.csv(
        "driver_rank_probabilities.csv",
        dom.rank_probs.reset_index().rename(columns={"index": "driver"}),
    )
    recs = recommendations(kd, dom, htab)
    log("hypotheses and key drivers done")

    # figures
    out.figure("figures/path_diagram.png", path_diagram(result))
    out.figure("figures/driver_forest.png", forest_plot(kd))
    out.figure("figures/driver_ranks.png", rank_plot(dom.rank_probs))
    out.figure("figures/driver_dominance.png", dominance_heatmap(dom.pairwise))
    ind_names = [p for d in drivers for p in total_params[d]]
    if ind_names:
        draws = parameter_draws(result, ind_names, var="std_all")
        out.figure(
            "figures/indirect_effects.png",
            indirect_posteriors({n: draws[:, j] for j, n in enumerate(ind_names)}),
        )
    out.figure("figures/traces.png", _trace_figure(result, [path_params[d] for d in drivers]))

    # truth recovery
    recovery = None
    if config.truth is not None and config.truth.is_file():
        names = [path_params[d] for d in drivers] + ind_names + [r for r in ("b",) if r in idx]
        std_d = parameter_draws(result, names, var="std_all")
        recovery = truth_recovery(config.truth, {n: std_d[:, j] for j, n in enumerate(names)})
        out.csv("truth_recovery.csv", recovery)

    # ------------------------------------------------------------------ the report text
    rep.heading(f"{section}. Reliability and validity of the measurement model")
    f = rel.fit
    rep.para(
        f"ML CFA of the measurement part ({len(cfa.representation.lv_names)} factors): "
        f"chi-square = {_fmt(f.get('chisq'))}, df = {f.get('df')}, CFI = {_fmt(f.get('cfi'), 3)}, "
        f"TLI = {_fmt(f.get('tli'), 3)}, RMSEA = {_fmt(f.get('rmsea'), 3)}, SRMR = "
        f"{_fmt(f.get('srmr'), 3)}. Thresholds: alpha and CR >= 0.7, AVE >= 0.5, HTMT < 0.85. "
        f"{int((~rel.constructs['cr_ok'].astype('boolean').fillna(True)).sum())} construct(s) "
        f"fall below the CR threshold and "
        f"{int((~rel.constructs['ave_ok'].astype('boolean').fillna(True)).sum())} below the AVE "
        "threshold; pairs with HTMT >= 0.85: "
        f"{int((~rel.pairs['htmt_ok'].astype('boolean').fillna(True)).sum())}."
    )
    rep.table(rel.constructs, "Reliability per construct (ML)")
    if not post_rel_df.empty:
        rep.table(post_rel_df, "Posterior composite reliability and AVE (median, 95% HDI)")
    rep.figure("figures/htmt.png", "HTMT ratios between first-order constructs")
    section += 1

    rep.heading(f"{section}. The Bayesian structural equation model")
    mf = result.ml.fit
    verdict = "converged" if diag["converged"] else "NOT converged: " + "; ".join(diag["problems"])
    rep.para(
        f"The model `{config.model}` was fitted by NUTS ({diag['sampler']}, "
        f"{diag['chains']} chains x {diag['draws']} draws after {diag['tune']} warm-up steps, "
        f"seed {diag['seed']}), with the latent variables integrated out (multivariate-normal "
        "likelihood from the sufficient statistics) and blavaan's default priors; every chain "
        "started at the ML solution with a small jitter. "
        f"Convergence: max R-hat = {diag['max_r_hat']:.3f}, min bulk ESS = "
        f"{diag['min_ess_bulk']:.0f}, min tail ESS = {diag['min_ess_tail']:.0f}, "
        f"{diag['divergences']} divergent transitions: "
        f"**{verdict}**."
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
    big = check.residuals.head(8)
    rep.table(big, "Largest posterior residual correlations (observed minus implied)")
    section += 1

    rep.heading(f"{section}. Hypotheses")
    rep.para("Decision rule. " + DEFAULT_RULE.describe())
    hshow = htab[
        [c for c in HYPOTHESIS_COLUMNS if c not in ("wording", "bayes_reason", "bf10_note")]
    ]
    rep.table(hshow, "Hypothesis table (raw-scale posterior; ROPE share on the standardized scale)")
    n_sup = int((htab["bayes_verdict"] == "supported").sum())
    n_not = int((htab["bayes_verdict"] == "not supported").sum())
    n_inc = int((htab["bayes_verdict"] == "inconclusive").sum())
    n_agree = int(htab["agree"].fillna(False).astype(bool).sum())
    rep.para(
        f"{n_sup} of {len(htab)} hypotheses are supported, {n_not} not supported and {n_inc} "
        f"inconclusive by the Bayesian rule; the ML verdict agrees on {n_agree} of them."
    )
    for _, r in htab.iterrows():
        rep.para(f"- **{r['id']}** ({r['bayes_verdict']}): {r['wording']}")
    section += 1

    rep.heading(f"{section}. Key drivers of {focal}")
    leader = dom.order[0] if hasattr(dom, "order") else kd.iloc[0]["driver"]
    rep.para(
        f"Standardized effects of the {len(drivers)} drivers on {focal} and their total "
        f"(indirect) effects on the outcome. The driver most likely to have the largest effect "
        f"is **{leader}** (P = {dom.p_largest[leader]:.2f})."
    )
    rep.table(kd, "Key drivers (standardized; posterior median, 95% HDI, rank)")
    rep.figure("figures/driver_forest.png", "Driver effects with 95% HDI and the ROPE")
    rep.figure("figures/driver_ranks.png", "Posterior distribution of each driver's rank")
    rep.table(
        dom.pairwise.reset_index().rename(columns={"index": "driver"}),
        "P(row driver has a larger effect than column driver)",
    )
    rep.figure("figures/driver_dominance.png", "Pairwise dominance")
    if ind_names:
        rep.figure("figures/indirect_effects.png", "Posteriors of the indirect effects")
    section += 1

    if comp is not None:
        rep.heading(f"{section}. Alternative driver models")
        best = comp.table.iloc[0]["model"]
        rep.para(
            f"{len(comp.table)} models compared on the same data by PSIS-LOO, WAIC, PPP and "
            f"Bayesian fit indices, with their ML fit beside. Best by expected log predictive "
            f"density: **{best}**. " + (" ".join(comp.warnings) if comp.warnings else "")
        )
        rep.table(comp.table, "Model comparison")
        rep.figure("figures/model_comparison.png", "Expected log predictive density (LOO) with SE")
        section += 1

    if recovery is not None:
        rep.heading(f"{section}. Recovery of the known truth (simulated data)")
        n_rec = int(recovery["recovered"].sum())
        missed = recovery.loc[~recovery["recovered"], "parameter"].tolist()
        rep.para(
            f"The shipped data are simulated from `{config.truth}`. The 95% HDI of the "
            f"standardized effect contains the true value for {n_rec} of {len(recovery)} "
            f"parameters" + (f"; missed: {', '.join(missed)}." if missed else ".")
        )
        rep.table(recovery, "True vs estimated standardized effects")
        section += 1

    rep.heading(f"{section}. Recommendations")
    rep.para(recs.text())
    rep.para(
        "These recommendations are generated from this run's posterior; rerun on other data "
        "and they follow the new results."
    )
    section += 1
    rep.heading(f"{section}. Files")
    rep.para(
        "All tables are CSV files next to this report; the full posterior (ArviZ DataTree) is "
        "`posterior.nc` (`xarray.open_datatree('posterior.nc', engine='h5netcdf')`). Total run "
        f"time {time.perf_counter() - t_start:.0f} s."
    )
    out.files["report.md"] = rep.to_markdown().encode()
    out.files["report.html"] = rep.to_html().encode()

    # ------------------------------------------------------------------ write, atomically
    from bayes_bmi.io import atomic_write_bytes, atomic_write_datatree

    config.out.mkdir(parents=True, exist_ok=True)
    atomic_write_datatree(config.out / "posterior.nc", result.idata)
    for name, payload in out.files.items():
        atomic_write_bytes(config.out / name, payload)
    log(f"wrote {len(out.files) + 1} files to {config.out}")
    return {
        "hypotheses": htab,
        "key_drivers": kd,
        "dominance": dom,
        "comparison": None if comp is None else comp.table,
        "recovery": recovery,
        "converged": bool(diag["converged"]),
        "files": sorted([*out.files, "posterior.nc"]),
    }
