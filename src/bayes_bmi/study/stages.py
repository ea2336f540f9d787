"""The stages of the study, in order; each returns a frozen result and writes nothing.

Like lavaan's ``lav_lavaan_step01_ovnames`` ... ``step14_test``, every stage is a function of
the configuration and of earlier results: :func:`read_inputs` (read and cross-check the
inputs), then

1. :func:`step01_literature` - how often earlier frameworks use each element;
2. :func:`step02_experts` - expert screening of the elements;
3. :func:`step03_data_checks` - scale checks, item descriptives, the missing answers
   (per item, patterns, Little's MCAR test, FIML or listwise), PCA;
4. :func:`step04_reliability` - reliability and validity of the measurement part (ML CFA);
5. :func:`step05_bayesian_sem` - the Bayesian SEM with its ML cross-check (and the
   alternative models and the independence model when comparing);
6. :func:`step06_checking` - posterior predictive check, fit indices, residuals, and the
   posterior of composite reliability and AVE;
7. :func:`step07_hypotheses` - Bayesian and ML verdicts on every hypothesis;
8. :func:`step08_drivers` - key-driver ranking, dominance and recommendations;
9. :func:`step09_comparison` - the alternative driver models side by side;
10. :func:`step10_truth_recovery` - which true effects of simulated data were recovered;
11. :func:`step11_groups` - with ``config.group``: measurement invariance by group and the
    hypothesised drivers' paths by group (:mod:`bayes_bmi.study.groups`).

``bayes_bmi.study.pipeline.run_study`` calls them in this order; the report
(:mod:`bayes_bmi.report.study`) is built from their results.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_bmi.bayes.posterior import hdi, std_all_draws
from bayes_bmi.data import (
    DataError,
    MissingPatterns,
    complete_cases,
    missing_patterns,
    read_data,
    select_model_data,
    warn_missing_codes,
)
from bayes_bmi.errors import in_file
from bayes_bmi.lavaan.model import Model, read_model
from bayes_bmi.lavaan.partable import ModelSpecError
from bayes_bmi.ml.fiml import em_saturated
from bayes_bmi.ml.mcar import MCARTest, little_mcar
from bayes_bmi.study.drivers import Dominance, Recommendations, key_drivers, recommendations
from bayes_bmi.study.hypotheses import (
    DEFAULT_RULE,
    DecisionRule,
    Hypothesis,
    check_hypotheses,
    hypothesis_table,
    parameter_draws,
    parameter_rows,
    read_hypotheses,
)
from bayes_bmi.study.structure import dimension_items, find_drivers, measurement_model
from bayes_bmi.study.survey import SurveyTruth, read_truth

if TYPE_CHECKING:
    from bayes_bmi.bayes.sampling import BayesResult, CompileCache
    from bayes_bmi.checking.compare import Comparison
    from bayes_bmi.checking.ppc import ModelCheck
    from bayes_bmi.measurement.pca import PCAResult
    from bayes_bmi.measurement.reliability import ReliabilityReport
    from bayes_bmi.study.config import StudyConfig

__all__ = [
    "BayesianSEM",
    "Checking",
    "DataChecks",
    "ExpertScreening",
    "Hypotheses",
    "Inputs",
    "KeyDrivers",
    "Literature",
    "MissingData",
    "ModelComparison",
    "Reliability",
    "GroupComparison",
    "TruthRecovery",
    "data_checks",
    "missing_answers",
    "posterior_reliability",
    "read_inputs",
    "step01_literature",
    "step02_experts",
    "step03_data_checks",
    "step04_reliability",
    "step05_bayesian_sem",
    "step06_checking",
    "step07_hypotheses",
    "step08_drivers",
    "step09_comparison",
    "step10_truth_recovery",
    "step11_groups",
    "truth_recovery",
]

#: An element is selected when at least this share of the frameworks uses it.
LITERATURE_THRESHOLD = 0.5
#: An element passes the expert screening with at least this mean rating.
EXPERT_MIN_MEAN = 3.5


# ------------------------------------------------------------------------------- inputs
@dataclass(frozen=True, eq=False)
class Inputs:
    """The inputs, read and checked against each other.

    Attributes
    ----------
    data : pandas.DataFrame
        The survey.
    source : str
        The data path as given, for messages.
    model : Model
        The main model.
    hypotheses : tuple of Hypothesis
    alternatives : mapping of str to Model
        Alternative models by file stem.
    focal : str
        The construct the drivers predict (:func:`~bayes_bmi.study.structure.find_drivers`).
    drivers : tuple of str
    path_params : mapping of str to str
        Driver -> its path to the focal construct.
    total_params : mapping of str to tuple of str
        Driver -> the parameters that add up to its total effect on the outcome.
    truth : SurveyTruth or None
        The ground truth of simulated data (``config.truth``), read with the other inputs.
    """

    data: pd.DataFrame
    source: str
    model: Model
    hypotheses: tuple[Hypothesis, ...]
    alternatives: Mapping[str, Model]
    focal: str
    drivers: tuple[str, ...]
    path_params: Mapping[str, str]
    total_params: Mapping[str, tuple[str, ...]]
    truth: SurveyTruth | None = None

    @property
    def indirect_names(self) -> list[str]:
        """Every parameter of every driver's total effect, drivers in order."""
        return [p for d in self.drivers for p in self.total_params[d]]


def read_inputs(config: StudyConfig) -> Inputs:
    """Read data, model, hypotheses and alternatives; find the drivers; check the hypotheses.

    Values of the model's variables that look like missing-value codes give a
    :class:`~bayes_bmi.errors.DataWarning`.

    Raises
    ------
    BayesBmiError
        On unreadable inputs (the truth file included), a model without drivers, or a
        hypothesis about a parameter the model does not have.
    """
    model = read_model(config.model)
    hyps = read_hypotheses(config.hypotheses)
    alts = {p.stem: read_model(p) for p in config.alternatives}
    for alt in alts.values() if config.compare else ():
        other = sorted(set(alt.ov_names) ^ set(model.ov_names))
        if other:
            raise ModelSpecError(
                f"{alt.filename}: an alternative model must explain the same items as "
                f"{config.model}, but {', '.join(other[:10])}{' ...' if len(other) > 10 else ''} "
                "appear in only one of them"
            )
    truth = read_truth(config.truth) if config.truth is not None else None
    data = read_data(
        config.data,
        sheet=config.sheet,
        missing_codes=config.missing_codes,
        columns=[*model.ov_names, *([config.group] if config.group else [])],
    )
    if config.group is not None:
        from bayes_bmi.study.groups import check_group_column

        check_group_column(data, config.group, list(model.ov_names), str(config.data))
    warn_missing_codes(data, model.ov_names, str(config.data))
    focal, drivers, path_params, total_params = find_drivers(model)
    pt = model.partable
    names = set(pt["label"]) | set(pt.loc[pt["op"] == ":=", "lhs"])
    check_hypotheses(hyps, [n for n in names if n])
    return Inputs(
        data=data,
        source=str(config.data),
        model=model,
        hypotheses=tuple(hyps),
        alternatives=alts,
        focal=focal,
        drivers=tuple(drivers),
        path_params=dict(path_params),
        total_params={d: tuple(v) for d, v in total_params.items()},
        truth=truth,
    )


# ---------------------------------------------------------------------- 1-2. elements
@dataclass(frozen=True, eq=False)
class Literature:
    """Stage 1: element frequencies across the coded frameworks (``frequencies``)."""

    n_studies: int
    frequencies: pd.DataFrame
    threshold: float = LITERATURE_THRESHOLD


def step01_literature(path: Path | None) -> Literature | None:
    """Count the elements in the literature table at ``path`` (None: stage skipped)."""
    from bayes_bmi.measurement.literature import element_frequencies

    if path is None:
        return None
    table = read_data(path)
    with in_file(path):
        freq = element_frequencies(table, threshold=LITERATURE_THRESHOLD)
    return Literature(n_studies=len(table), frequencies=freq)


@dataclass(frozen=True, eq=False)
class ExpertScreening:
    """Stage 2: the screening table and its summary (Kendall's W, passing elements)."""

    table: pd.DataFrame
    summary: Mapping[str, Any]
    min_mean: float = EXPERT_MIN_MEAN


def step02_experts(path: Path | None) -> ExpertScreening | None:
    """Screen the elements by the expert ratings at ``path`` (None: stage skipped)."""
    from bayes_bmi.measurement.experts import expert_screening

    if path is None:
        return None
    ratings = read_data(path)
    with in_file(path):
        table, summary = expert_screening(ratings, min_mean=EXPERT_MIN_MEAN)
    return ExpertScreening(table=table, summary=summary)


# ----------------------------------------------------------------- 3. data checks, PCA
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
            code = f"{col.iloc[i]:g}"
            raise DataError(
                f"{source}: item '{item}' row {i + 1} holds {code}, outside the "
                f"response scale {lo}-{hi} (integers); fix it or mark it missing (if {code} "
                f"is a missing-value code, pass --missing-codes {code})"
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
    return summary, pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class MissingData:
    """The missing answers of the model's items and how the analyses treat them.

    Attributes
    ----------
    method : str
        ``"fiml"`` (full-information ML: every observed answer used) or ``"listwise"``
        (complete rows only), as every later stage uses it.
    by_item : pandas.DataFrame
        ``item, missing, pct_missing``: the rows (= cells) missing each item.
    n_rows, complete_rows, empty_rows, missing_cells, n_cells : int
        Rows read, rows that answered every item, rows that answered none, missing and all
        item cells.
    npatterns : int
        Missingness patterns among the rows with an answer.
    mcar : MCARTest or None
        Little's MCAR test (None without missing answers).
    patterns : MissingPatterns or None
        The rows grouped by pattern (None without missing answers).
    """

    method: str
    by_item: pd.DataFrame
    n_rows: int
    complete_rows: int
    empty_rows: int
    missing_cells: int
    n_cells: int
    npatterns: int
    mcar: MCARTest | None = None
    patterns: MissingPatterns | None = None

    @property
    def has_missing(self) -> bool:
        """Whether some answer is missing."""
        return self.missing_cells > 0

    @property
    def n_used(self) -> int:
        """Cases the model fits use: rows with an answer (FIML) or complete rows (listwise)."""
        return self.n_rows - self.empty_rows if self.method == "fiml" else self.complete_rows

    def describe(self) -> str:
        """One sentence: what is missing and how it is treated."""
        if not self.has_missing:
            return f"No answer is missing: all {self.n_rows} rows are complete."
        how = (
            f"full-information ML (every observed answer used; {self.n_used} cases"
            + (f", {self.empty_rows} rows without any answer dropped" if self.empty_rows else "")
            + ")"
            if self.method == "fiml"
            else f"listwise deletion ({self.complete_rows} complete rows used, "
            f"{self.n_rows - self.complete_rows} dropped)"
        )
        return (
            f"{self.missing_cells} of {self.n_cells} answers are missing "
            f"({100.0 * self.missing_cells / self.n_cells:.1f}%); {self.complete_rows} of "
            f"{self.n_rows} rows are complete, in {self.npatterns} missingness patterns. "
            f"Method: {how}."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the per-item table)."""
        return {
            "method": self.method,
            "n_rows": self.n_rows,
            "n_used": self.n_used,
            "complete_rows": self.complete_rows,
            "empty_rows": self.empty_rows,
            "missing_cells": self.missing_cells,
            "n_cells": self.n_cells,
            "n_patterns": self.npatterns,
            "little_mcar": self.mcar.to_dict() if self.mcar is not None else None,
        }


def missing_answers(
    data: pd.DataFrame, items: Sequence[str], source: str, method: str | None = None
) -> MissingData:
    """Count the missing answers per item and pattern and run Little's MCAR test.

    ``method`` None picks ``"fiml"`` when an answer is missing, else ``"listwise"``.

    Raises
    ------
    DataError
        When an item has no answer at all (every cell missing), or fewer than 2 rows answer.
    """
    sel = select_model_data(data, items, source)
    holes = sel.isna()
    missing_cells = int(holes.to_numpy().sum())
    method = method or ("fiml" if missing_cells else "listwise")
    by_item = pd.DataFrame(
        {
            "item": list(items),
            "missing": holes.sum().to_numpy(dtype=int),
            "pct_missing": 100.0 * holes.mean().to_numpy(dtype=float),
        }
    )
    patterns = mcar = None
    npatterns = 1
    if missing_cells:
        patterns = missing_patterns(sel, list(items), source)
        mcar = little_mcar(patterns)
        npatterns = patterns.npatterns
    return MissingData(
        method=method,
        by_item=by_item,
        n_rows=int(len(sel)),
        complete_rows=int((~holes).all(axis=1).sum()),
        empty_rows=int(holes.all(axis=1).sum()),
        missing_cells=missing_cells,
        n_cells=int(holes.size),
        npatterns=npatterns,
        mcar=mcar,
        patterns=patterns,
    )


def _moment_stand_in(mu: np.ndarray, sigma: np.ndarray, n: int, names: list[str]) -> pd.DataFrame:
    """``n`` rows whose mean is ``mu`` and whose covariance matrix is exactly ``sigma``.

    PCA, KMO and Bartlett's test depend on the data only through the correlation matrix and
    ``n``: run on this stand-in they are the analyses of the EM moments of incomplete data.
    """
    base = np.random.default_rng(0).standard_normal((n, len(names)))
    base -= base.mean(axis=0)
    base = base @ np.linalg.inv(np.linalg.cholesky(base.T @ base / (n - 1))).T  # cov = I
    return pd.DataFrame(mu + base @ np.linalg.cholesky(sigma).T, columns=names)


@dataclass(frozen=True, eq=False)
class DataChecks:
    """Stage 3: checks of every model item and the PCA of the focal construct's items.

    Attributes
    ----------
    summary, descriptives : pandas.DataFrame
        From :func:`data_checks`.
    items : tuple of str
        The model's observed variables.
    scale : (int, int)
    pca : PCAResult
    pca_items : tuple of str
    kmo : float
        Overall Kaiser-Meyer-Olkin measure of the PCA items.
    missing : MissingData or None
        The missing answers and the method the later stages use.
    pca_basis : str
        What the PCA was computed from: ``"complete rows"`` or ``"em"`` (the EM estimate of
        the items' correlation matrix, every answer used); ``pca.n`` the cases behind it.
    """

    summary: pd.DataFrame
    descriptives: pd.DataFrame
    items: tuple[str, ...]
    scale: tuple[int, int]
    pca: PCAResult
    pca_items: tuple[str, ...]
    kmo: float
    missing: MissingData | None = None
    pca_basis: str = "complete rows"


def step03_data_checks(config: StudyConfig, inputs: Inputs) -> DataChecks:
    """Check the items against the response scale, describe them, and run the PCA.

    The PCA uses ``config.pca_items`` or else the indicators of the first-order factors that
    measure the focal construct; varimax rotation, parallel analysis seeded by the sampler's
    seed. With missing answers under full-information ML it analyses the EM estimate of the
    items' correlation matrix (every answer used), listwise the complete rows.
    """
    from bayes_bmi.measurement.pca import kmo, pca

    items = list(inputs.model.ov_names)
    summary, desc = data_checks(inputs.data, items, config.scale, inputs.source)
    missing = missing_answers(inputs.data, items, inputs.source, config.missing)
    pca_items = (
        list(config.pca_items) if config.pca_items else dimension_items(inputs.model, inputs.focal)
    )
    item_df = inputs.data[pca_items].apply(pd.to_numeric, errors="coerce")
    basis = "complete rows"
    if missing.method == "fiml" and item_df.isna().to_numpy().any():
        pat = missing_patterns(item_df, pca_items, inputs.source)
        mu, sigma, _, _ = em_saturated(pat)
        item_df, basis = _moment_stand_in(mu, sigma, pat.n, pca_items), "em"
    result = pca(item_df, rotation="varimax", seed=config.sampler.seed, source=inputs.source)
    kmo_all, _ = kmo(complete_cases(item_df, pca_items, inputs.source))
    return DataChecks(
        summary=summary,
        descriptives=desc,
        items=tuple(items),
        scale=config.scale,
        pca=result,
        pca_items=tuple(pca_items),
        kmo=float(kmo_all),
        missing=missing,
        pca_basis=basis,
    )


# ------------------------------------------------------------------- 4. reliability
@dataclass(frozen=True, eq=False)
class Reliability:
    """Stage 4: the measurement part (``cfa``) and its ML reliability ``report``."""

    cfa: Model
    report: ReliabilityReport


def step04_reliability(inputs: Inputs, missing: str | None = None) -> Reliability:
    """Fit the measurement part by ML and tabulate alpha, CR, AVE, HTMT, Fornell-Larcker.

    ``missing`` as :func:`~bayes_bmi.measurement.reliability.reliability_report`'s (under FIML
    alpha and HTMT come from the EM covariance matrix).
    """
    from bayes_bmi.measurement.reliability import reliability_report

    cfa = measurement_model(inputs.model)
    report = reliability_report(cfa, inputs.data, source=inputs.source, missing=missing)
    return Reliability(cfa=cfa, report=report)


# ------------------------------------------------------------------ 5. Bayesian SEM
@dataclass(frozen=True, eq=False)
class BayesianSEM:
    """Stage 5: the main model's fit, the comparison (when asked) and the time it took.

    Attributes
    ----------
    result : BayesResult
        The main model's posterior with its ML cross-check (``result.ml``).
    comparison : Comparison or None
        Every model's fit and check (main, alternatives, independence model).
    seconds : float
    """

    result: BayesResult
    comparison: Comparison | None
    seconds: float

    @property
    def converged(self) -> bool:
        """Whether the main model's chains passed the convergence checks."""
        return bool(self.result.diagnostics["converged"])


def step05_bayesian_sem(
    config: StudyConfig, inputs: Inputs, cache: CompileCache | None = None
) -> BayesianSEM:
    """Sample the main model by NUTS, with its ML cross-check.

    When comparing, the alternatives and the independence model are sampled too and every
    model is checked (:func:`~bayes_bmi.checking.compare.compare_models`). Missing answers:
    full-information likelihood by default; ``config.missing == "listwise"`` fits the complete
    rows.
    """
    from bayes_bmi.bayes.sampling import CompileCache, fit_bayes
    from bayes_bmi.checking.compare import compare_models

    cache = cache if cache is not None else CompileCache()
    t0 = time.perf_counter()
    main = config.model.stem
    data = inputs.data
    if config.missing == "listwise":  # complete rows only, for every model alike
        data = data.loc[complete_cases(data, list(inputs.model.ov_names), inputs.source).index]
    if config.compare:
        comp = compare_models(
            {main: inputs.model, **inputs.alternatives},
            data,
            config=config.sampler,
            cache=cache,
            source=inputs.source,
        )
        result = comp.results[main]
    else:
        comp = None
        result = fit_bayes(
            inputs.model,
            data,
            config=config.sampler,
            cache=cache,
            source=inputs.source,
            missing=config.missing,
        )
    return BayesianSEM(result=result, comparison=comp, seconds=time.perf_counter() - t0)


# ----------------------------------------------------------------------- 6. checking
def posterior_reliability(
    result: BayesResult, constructs: Sequence[str], max_draws: int = 1000
) -> pd.DataFrame:
    """Posterior of composite reliability and AVE from per-draw standardized loadings."""
    from bayes_bmi.measurement.reliability import ave, composite_reliability

    pt = result.model.partable
    rows = result.draw_rows().reshape(-1, len(pt))
    rows = rows[:: max(1, rows.shape[0] // max_draws)]
    std = std_all_draws(pt, result.model.representation, rows)
    out = []
    for lv in constructs:
        mask = ((pt["op"] == "=~") & (pt["lhs"] == lv)).to_numpy()
        if mask.sum() < 2:  # CR and AVE of a single indicator are 1 by construction
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


@dataclass(frozen=True, eq=False)
class Checking:
    """Stage 6: the main model's check (PPP, fit indices, residuals) and posterior CR/AVE."""

    check: ModelCheck
    posterior_reliability: pd.DataFrame


def step06_checking(config: StudyConfig, sem: BayesianSEM, reliability: Reliability) -> Checking:
    """Check the main model (reusing the comparison's check) and its measurement quality."""
    from bayes_bmi.checking.ppc import check_model

    if sem.comparison is not None:
        check = sem.comparison.checks[config.model.stem]
    else:
        check = check_model(sem.result, None, seed=config.sampler.seed)
    constructs = list(reliability.report.constructs["construct"])
    return Checking(
        check=check, posterior_reliability=posterior_reliability(sem.result, constructs)
    )


# --------------------------------------------------------------------- 7. hypotheses
@dataclass(frozen=True, eq=False)
class Hypotheses:
    """Stage 7: the hypothesis table and the decision rule behind its verdicts."""

    table: pd.DataFrame
    rule: DecisionRule = DEFAULT_RULE


def step07_hypotheses(inputs: Inputs, sem: BayesianSEM) -> Hypotheses:
    """Bayesian and ML verdicts on every hypothesis."""
    return Hypotheses(table=hypothesis_table(list(inputs.hypotheses), sem.result))


# ------------------------------------------------------------------------ 8. drivers
@dataclass(frozen=True, eq=False)
class KeyDrivers:
    """Stage 8: the key-driver table, the ranking, advice, and the indirect-effect draws.

    Attributes
    ----------
    table : pandas.DataFrame
        :data:`~bayes_bmi.study.drivers.DRIVER_COLUMNS`.
    dominance : Dominance
    recommendations : Recommendations
    indirect : mapping of str to numpy.ndarray
        Standardized draws of every total-effect parameter (for the figure).
    """

    table: pd.DataFrame
    dominance: Dominance
    recommendations: Recommendations
    indirect: Mapping[str, np.ndarray]


def step08_drivers(inputs: Inputs, sem: BayesianSEM, hypotheses: Hypotheses) -> KeyDrivers:
    """Rank the drivers on the standardized scale and turn the ranking into advice."""
    table, dom = key_drivers(
        sem.result, list(inputs.drivers), inputs.path_params, inputs.total_params
    )
    names = inputs.indirect_names
    indirect = {}
    if names:
        draws = parameter_draws(sem.result, names, var="std_all")
        indirect = {n: draws[:, j] for j, n in enumerate(names)}
    return KeyDrivers(
        table=table,
        dominance=dom,
        recommendations=recommendations(table, dom, hypotheses.table),
        indirect=indirect,
    )


# --------------------------------------------------------------------- 9. comparison
@dataclass(frozen=True, eq=False)
class ModelComparison:
    """Stage 9: the comparison table (best first) and its warnings."""

    table: pd.DataFrame
    warnings: tuple[str, ...]
    comparison: Comparison


def step09_comparison(sem: BayesianSEM) -> ModelComparison | None:
    """The alternative driver models side by side (None when not comparing)."""
    comp = sem.comparison
    if comp is None:
        return None
    return ModelComparison(table=comp.table, warnings=tuple(comp.warnings), comparison=comp)


# ------------------------------------------------------------ 7b. ordinal verdicts
@dataclass(frozen=True, eq=False)
class OrdinalVerdicts:
    """Stage 7b (``--ordinal``): the main model with its items as ordered categories.

    Attributes
    ----------
    result : BayesResult
        The cumulative-probit fit (:func:`~bayes_bmi.bayes.ordinal_sampling.fit_bayes_ordinal`).
    hypotheses : pandas.DataFrame
        Its hypothesis table (:data:`~bayes_bmi.study.hypotheses.HYPOTHESIS_COLUMNS`).
    side_by_side : pandas.DataFrame
        One row per hypothesis: ``id, parameter, std_median_continuous, std_median_ordinal,
        verdict_continuous, verdict_ordinal, differs``.
    seconds : float
    """

    result: BayesResult
    hypotheses: pd.DataFrame
    side_by_side: pd.DataFrame
    seconds: float

    @property
    def converged(self) -> bool:
        """Whether the ordinal model's chains passed the convergence checks."""
        return bool(self.result.diagnostics["converged"])


def side_by_side(continuous: pd.DataFrame, ordinal: pd.DataFrame) -> pd.DataFrame:
    """The two hypothesis tables' verdicts and standardized medians, one row per hypothesis."""
    keep = ["id", "parameter", "std_median", "bayes_verdict"]
    out = continuous[keep].merge(
        ordinal[keep], on=["id", "parameter"], suffixes=("_continuous", "_ordinal")
    )
    out = out.rename(
        columns={
            "bayes_verdict_continuous": "verdict_continuous",
            "bayes_verdict_ordinal": "verdict_ordinal",
        }
    )
    out["differs"] = out["verdict_continuous"] != out["verdict_ordinal"]
    return out


def step07b_ordinal(
    config: StudyConfig,
    inputs: Inputs,
    hypotheses: Hypotheses,
    cache: CompileCache | None = None,
) -> OrdinalVerdicts | None:
    """Fit the main model with ordered items and compare the verdicts (None without it)."""
    if not config.ordinal:
        return None
    from bayes_bmi.bayes.ordinal_sampling import fit_bayes_ordinal

    t0 = time.perf_counter()
    result = fit_bayes_ordinal(
        inputs.model, inputs.data, True, config=config.sampler, cache=cache, source=inputs.source
    )
    table = hypothesis_table(list(inputs.hypotheses), result)
    return OrdinalVerdicts(
        result=result,
        hypotheses=table,
        side_by_side=side_by_side(hypotheses.table, table),
        seconds=time.perf_counter() - t0,
    )


# ---------------------------------------------------------------- 10. truth recovery
def truth_recovery(truth: SurveyTruth, std_draws: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Which true standardized paths lie inside the 95% HDI of their posterior.

    A truth with groups (:class:`~bayes_bmi.study.survey.GroupDesign`) has no single value of
    its group driver's path: that path and its indirect effect are left out (step 11 compares
    them by group).
    """
    true_vals: dict[str, float] = {f"g_{d}": float(v) for d, v in truth.paths.items()}
    true_vals["b"] = float(truth.b)
    true_vals.update({f"ind_{d}": float(v) for d, v in truth.indirect_effects().items()})
    if truth.groups is not None:  # no single true value: it differs by group (step 11)
        varying = {f"g_{truth.groups.driver}", f"ind_{truth.groups.driver}"}
        true_vals = {k: v for k, v in true_vals.items() if k not in varying}
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


@dataclass(frozen=True, eq=False)
class TruthRecovery:
    """Stage 10: the truth file used and the recovery table."""

    truth_path: Path
    table: pd.DataFrame


def step10_truth_recovery(
    config: StudyConfig, inputs: Inputs, sem: BayesianSEM
) -> TruthRecovery | None:
    """Compare the posterior with the known truth of simulated data (None without a truth)."""
    truth = inputs.truth
    if config.truth is None or truth is None:
        return None
    has_b = "b" in parameter_rows(sem.result.summary)
    names = [inputs.path_params[d] for d in inputs.drivers] + inputs.indirect_names
    names += ["b"] if has_b else []
    std = parameter_draws(sem.result, names, var="std_all")
    table = truth_recovery(truth, {n: std[:, j] for j, n in enumerate(names)})
    return TruthRecovery(truth_path=config.truth, table=table)


# ------------------------------------------------------------------- 11. groups
@dataclass(frozen=True, eq=False)
class GroupComparison:
    """Stage 11 (``--group``): invariance by group and the hypothesised drivers by group.

    Attributes
    ----------
    column : str
        The group column.
    n : mapping of str to int
        Cases per group, groups in order of first appearance (the first is the reference).
    drivers : tuple of str
        The hypothesised drivers compared.
    invariance : pandas.DataFrame or None
        :func:`~bayes_bmi.ml.invariance.invariance_table`'s (None when not run).
    invariance_level, invariance_sentence : str or None
        :func:`~bayes_bmi.study.groups.invariance_verdict`'s.
    draws : pandas.DataFrame
        Per-group path draws (:data:`~bayes_bmi.study.groups.DRAW_COLUMNS`).
    table, ranks : pandas.DataFrame
        :func:`~bayes_bmi.study.groups.drivers_by_group`'s, ``table`` with ``true_std`` and
        ``true_diff`` when the truth documents the groups.
    diagnostics : mapping of str to mapping
        Each group's sampler diagnostics.
    seconds : float
    """

    column: str
    n: Mapping[str, int]
    drivers: tuple[str, ...]
    invariance: pd.DataFrame | None
    invariance_level: str | None
    invariance_sentence: str | None
    draws: pd.DataFrame
    table: pd.DataFrame
    ranks: pd.DataFrame
    diagnostics: Mapping[str, Mapping[str, Any]]
    seconds: float

    @property
    def converged(self) -> bool:
        """Whether every group's chains passed the convergence checks."""
        return all(bool(d["converged"]) for d in self.diagnostics.values())


def hypothesised_drivers(inputs: Inputs) -> tuple[str, ...]:
    """Drivers whose path to the focal construct a hypothesis names (all drivers if none)."""
    named = {h.parameter for h in inputs.hypotheses}
    chosen = tuple(d for d in inputs.drivers if inputs.path_params[d] in named)
    return chosen or inputs.drivers


def _group_truth(table: pd.DataFrame, truth: SurveyTruth | None, column: str) -> pd.DataFrame:
    """``true_std`` and ``true_diff`` columns from a truth that documents these groups."""
    if truth is None or truth.groups is None or truth.groups.column != column:
        return table
    g = truth.groups
    true = {(lab, d): float(truth.paths[d]) for lab in g.paths for d in truth.drivers}
    true.update({(lab, g.driver): v for lab, v in g.paths.items()})
    out = table.copy()
    keys = list(zip(out["group"], out["driver"], strict=True))
    out["true_std"] = [true.get(k, np.nan) for k in keys]
    ref = str(out["reference"].iloc[0])
    out["true_diff"] = [
        np.nan if gr == ref else true.get((gr, d), np.nan) - true.get((ref, d), np.nan)
        for gr, d in keys
    ]
    return out


def step11_groups(
    config: StudyConfig,
    inputs: Inputs,
    cache: CompileCache | None = None,
    *,
    invariance: bool = True,
) -> GroupComparison | None:
    """Invariance by group (ML) and the drivers' paths by group (None without ``config.group``).

    ``invariance=False`` skips the ML invariance fits.
    """
    from bayes_bmi.study.groups import (
        drivers_by_group,
        group_invariance,
        group_path_draws,
        invariance_verdict,
        ml_group_paths,
    )

    column = config.group
    if column is None:
        return None
    t0 = time.perf_counter()
    data = inputs.data
    if config.missing == "listwise":
        data = data.loc[complete_cases(data, list(inputs.model.ov_names), inputs.source).index]
    drivers = hypothesised_drivers(inputs)
    paths = {d: inputs.path_params[d] for d in drivers}
    inv = level = sentence = None
    if invariance:
        inv = group_invariance(
            inputs.model, data, column, source=inputs.source, missing=config.missing
        )
        level, sentence = invariance_verdict(inv)
    draws, fits = group_path_draws(
        inputs.model,
        data,
        column,
        paths,
        config=config.sampler,
        cache=cache,
        source=inputs.source,
        missing=config.missing,
    )
    ml = ml_group_paths(fits, paths)
    n = {g: int(f.stats.n) for g, f in fits.items()}
    table, ranks = drivers_by_group(draws, drivers, ml=ml, n=n)
    return GroupComparison(
        column=column,
        n=n,
        drivers=drivers,
        invariance=inv,
        invariance_level=level,
        invariance_sentence=sentence,
        draws=draws,
        table=_group_truth(table, inputs.truth, column),
        ranks=ranks,
        diagnostics={g: dict(f.diagnostics) for g, f in fits.items()},
        seconds=time.perf_counter() - t0,
    )
