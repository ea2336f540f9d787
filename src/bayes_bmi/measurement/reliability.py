"""Stage 4 of the measurement work: reliability and validity before the structural model.

Pure functions first, each usable on its own:

- :func:`cronbach_alpha`, :func:`item_statistics`: internal consistency of one construct's
  items (alpha, alpha if an item is deleted, corrected item-total correlation);
- :func:`composite_reliability`, :func:`ave`: Fornell-Larcker composite reliability and
  average variance extracted from standardized loadings; both accept a ``draws x items``
  array and then return one value per draw (a posterior of CR and AVE);
- :func:`fornell_larcker`: sqrt(AVE) against the latent correlations;
- :func:`htmt`: heterotrait-monotrait ratio of correlations (Henseler, Ringle & Sarstedt
  2015), or its geometric-mean variant HTMT2 (Roemer, Schuberth & Henseler 2021).

:func:`reliability_report` ties them to a bayes-bmi model: it fits the CFA by maximum
likelihood (:func:`bayes_bmi.ml.fit.fit_ml`) and returns all tables with thresholds flagged.
With missing answers it fits the CFA by full-information ML and takes alpha, the item
statistics and HTMT from the EM estimate of the items' covariance matrix (every observed
answer used), or, with ``missing="listwise"``, from the complete rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_bmi.data import complete_cases
from bayes_bmi.errors import BayesBmiError
from bayes_bmi.lavaan.representation import fill_matrices
from bayes_bmi.ml.fit import fit_ml, resolve_missing

if TYPE_CHECKING:
    from bayes_bmi.lavaan.model import Model

__all__ = [
    "ReliabilityError",
    "ReliabilityReport",
    "ave",
    "composite_reliability",
    "cronbach_alpha",
    "fornell_larcker",
    "htmt",
    "item_statistics",
    "reliability_report",
]

FIT_KEYS = (
    "chisq",
    "df",
    "pvalue",
    "cfi",
    "tli",
    "rmsea",
    "rmsea_ci_lower",
    "rmsea_ci_upper",
    "srmr",
)


class ReliabilityError(BayesBmiError):
    """A reliability or validity computation that cannot be done as asked."""


# --------------------------------------------------------------------------- alpha


def _flag(values: pd.Series, ok: np.ndarray) -> pd.Series:
    return pd.Series(
        pd.array(
            [None if pd.isna(v) else bool(o) for v, o in zip(values, ok, strict=True)],
            dtype="boolean",
        ),
        index=values.index,
    )


def _complete(data: pd.DataFrame, items: Sequence[str], source: str) -> np.ndarray:
    data = data.set_axis([str(c) for c in data.columns], axis=1)
    x = complete_cases(data, [str(i) for i in items], source).to_numpy(dtype=float)
    if x.shape[0] < 2:
        raise ReliabilityError(f"{source}: fewer than 2 complete rows on items {', '.join(items)}")
    return x


def _alpha(x: np.ndarray) -> float:
    return _alpha_cov(np.cov(x, rowvar=False, ddof=1)) if x.shape[1] >= 2 else float("nan")


def _alpha_cov(s: np.ndarray) -> float:
    """Alpha from the items' covariance matrix: ``k / (k-1) (1 - tr S / 1'S1)``."""
    k = s.shape[0]
    if k < 2:
        return float("nan")
    total_var = float(s.sum())
    if total_var <= 0:
        return float("nan")
    return float(k / (k - 1) * (1.0 - np.trace(s) / total_var))


def _item_stats_cov(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Corrected item-total correlation and alpha if deleted, from the covariance matrix."""
    k = s.shape[0]
    itc = np.full(k, np.nan)
    aid = np.full(k, np.nan)
    if k >= 2:
        for j in range(k):
            rest = np.delete(np.arange(k), j)
            rest_var = s[np.ix_(rest, rest)].sum()
            itc[j] = s[j, rest].sum() / np.sqrt(s[j, j] * rest_var)
            aid[j] = _alpha_cov(s[np.ix_(rest, rest)])
    return itc, aid


def cronbach_alpha(data: pd.DataFrame, *, source: str = "data") -> float:
    """Cronbach's alpha of a set of items.

    ``alpha = k / (k - 1) * (1 - sum var(item) / var(sum of items))`` on the complete rows.
    Items must be coded in the same direction (reverse-keyed items recoded first).

    Parameters
    ----------
    data : pandas.DataFrame
        One column per item of the construct.
    source : str
        Name of the data, for messages.

    Returns
    -------
    float
        NaN with fewer than 2 items.

    Raises
    ------
    bayes_bmi.data.DataError
        When a cell is not numeric (row and column named).
    ReliabilityError
        With fewer than 2 complete rows.
    """
    return _alpha(_complete(data, [str(c) for c in data.columns], source))


def item_statistics(data: pd.DataFrame, *, source: str = "data") -> pd.DataFrame:
    """Item analysis of one construct: corrected item-total correlation, alpha if deleted.

    Parameters
    ----------
    data : pandas.DataFrame
        One column per item of the construct; complete rows are used.
    source : str
        Name of the data, for messages.

    Returns
    -------
    pandas.DataFrame
        ``item, item_total_corrected`` (correlation of the item with the sum of the other
        items), ``alpha_if_deleted`` (NaN when only one item would remain).
    """
    items = [str(c) for c in data.columns]
    x = _complete(data, items, source)
    if x.shape[1] < 2:
        itc, aid = np.full(1, np.nan), np.full(1, np.nan)
    else:
        itc, aid = _item_stats_cov(np.cov(x, rowvar=False, ddof=1))
    return pd.DataFrame({"item": items, "item_total_corrected": itc, "alpha_if_deleted": aid})


# --------------------------------------------------------------------------- CR and AVE


def _loadings(std_loadings: Any) -> np.ndarray:
    lam = np.asarray(std_loadings, dtype=float)
    if lam.ndim not in (1, 2) or lam.shape[-1] == 0:
        raise ReliabilityError(
            "standardized loadings must be a 1-D array (items) or a 2-D array (draws x items) "
            f"with at least one item; got shape {lam.shape}"
        )
    return lam


def composite_reliability(std_loadings: Any) -> float | np.ndarray:
    """Composite reliability from standardized loadings (Fornell & Larcker 1981).

    ``CR = (sum l)^2 / ((sum l)^2 + sum (1 - l^2))``: the error variance of each indicator
    is taken as ``1 - l^2`` (no cross-loadings, no correlated errors).

    Parameters
    ----------
    std_loadings : array_like
        Standardized loadings of one construct: shape ``(items,)``, or ``(draws, items)`` for
        posterior draws.

    Returns
    -------
    float or numpy.ndarray
        A float for 1-D input; one value per draw for 2-D input.
    """
    lam = _loadings(std_loadings)
    s2 = lam.sum(axis=-1) ** 2
    cr = s2 / (s2 + (1.0 - lam**2).sum(axis=-1))
    return float(cr) if lam.ndim == 1 else cr


def ave(std_loadings: Any) -> float | np.ndarray:
    """Average variance extracted: the mean squared standardized loading.

    Parameters
    ----------
    std_loadings : array_like
        Shape ``(items,)``, or ``(draws, items)`` for posterior draws.

    Returns
    -------
    float or numpy.ndarray
        A float for 1-D input; one value per draw for 2-D input.
    """
    lam = _loadings(std_loadings)
    out = (lam**2).mean(axis=-1)
    return float(out) if lam.ndim == 1 else out


# --------------------------------------------------------------------------- validity


def fornell_larcker(
    ave_values: Mapping[str, float] | pd.Series, latent_corr: pd.DataFrame
) -> pd.DataFrame:
    """Fornell-Larcker table: sqrt(AVE) on the diagonal, latent correlations off it.

    Parameters
    ----------
    ave_values : mapping or pandas.Series
        AVE per construct; the table follows its order.
    latent_corr : pandas.DataFrame
        Latent correlation matrix with construct names as index and columns.

    Returns
    -------
    pandas.DataFrame
        ``construct``, one column per construct, ``sqrt_ave``, ``max_abs_corr`` (largest
        absolute correlation with another construct) and ``passes`` (``sqrt_ave`` above it).
    """
    names = [str(k) for k in pd.Series(ave_values).index]
    missing = [c for c in names if c not in latent_corr.index or c not in latent_corr.columns]
    if missing:
        raise ReliabilityError(f"no latent correlations for: {', '.join(missing)}")
    root = np.sqrt(pd.Series(ave_values, dtype=float)[names].to_numpy())
    mat = latent_corr.loc[names, names].to_numpy(dtype=float).copy()
    np.fill_diagonal(mat, root)
    out = pd.DataFrame(mat, columns=names)
    out.insert(0, "construct", names)
    off = np.abs(mat)
    np.fill_diagonal(off, -np.inf)
    max_abs = off.max(axis=1) if len(names) > 1 else np.full(1, np.nan)
    out["sqrt_ave"] = root
    out["max_abs_corr"] = np.where(np.isfinite(max_abs), max_abs, np.nan)
    known = out["max_abs_corr"].where(np.isfinite(root))  # no verdict without an AVE
    out["passes"] = _flag(known, root > out["max_abs_corr"].to_numpy())
    return out


def _mean(values: np.ndarray, geometric: bool) -> float:
    if values.size == 0:
        return float("nan")
    if geometric:
        with np.errstate(divide="ignore"):
            return float(np.exp(np.log(values).mean()))
    return float(values.mean())


def htmt(
    data: pd.DataFrame,
    constructs: Mapping[str, Sequence[str]],
    *,
    geometric: bool = False,
    absolute: bool = True,
    source: str = "data",
) -> pd.DataFrame:
    """Heterotrait-monotrait ratio of correlations between constructs.

    ``HTMT_ij`` = mean correlation between the items of i and the items of j, divided by the
    geometric mean of the average correlation among the items of i and that among the items
    of j (Henseler, Ringle & Sarstedt 2015). With ``geometric=True`` every average is a
    geometric mean (HTMT2; Roemer, Schuberth & Henseler 2021).

    Parameters
    ----------
    data : pandas.DataFrame
        Item data; rows complete on all the items are used.
    constructs : mapping of str to sequence of str
        Items of each construct (observed columns).
    geometric : bool
        HTMT2 instead of HTMT.
    absolute : bool
        Use absolute correlations (as semTools' ``htmt`` does by default), so that a
        reverse-keyed item does not cancel others out.
    source : str
        Name of the data, for messages.

    Returns
    -------
    pandas.DataFrame
        ``construct`` and one column per construct; 1 on the diagonal; NaN for a construct
        with a single item (no monotrait correlations).
    """
    items = [i for c in constructs for i in constructs[c]]
    x = _complete(data, items, source)
    return _htmt_corr(np.corrcoef(x, rowvar=False), constructs, geometric, absolute)


def _htmt_corr(
    r: np.ndarray, constructs: Mapping[str, Sequence[str]], geometric: bool, absolute: bool
) -> pd.DataFrame:
    """HTMT from the correlation matrix of the items (in the constructs' order)."""
    names = list(constructs)
    if absolute:
        r = np.abs(r)
    pos: dict[str, np.ndarray] = {}
    start = 0
    for c in names:
        pos[c] = np.arange(start, start + len(constructs[c]))
        start += len(constructs[c])
    mono = {}
    for c in names:
        block = r[np.ix_(pos[c], pos[c])]
        mono[c] = _mean(block[np.triu_indices(len(pos[c]), k=1)], geometric)
    k = len(names)
    mat = np.eye(k)
    for a in range(k):
        for b in range(a + 1, k):
            hetero = _mean(r[np.ix_(pos[names[a]], pos[names[b]])].ravel(), geometric)
            value = hetero / np.sqrt(mono[names[a]] * mono[names[b]])
            mat[a, b] = mat[b, a] = value
    out = pd.DataFrame(mat, columns=names)
    out.insert(0, "construct", names)
    return out


# --------------------------------------------------------------------------- report


@dataclass(frozen=True, eq=False)
class ReliabilityReport:
    """Result of :func:`reliability_report`.

    Attributes
    ----------
    constructs : pandas.DataFrame
        One row per latent variable: ``construct, kind`` (``first_order``: all indicators
        observed; ``higher_order``: all latent; ``mixed``), ``n_indicators, alpha, cr, ave,
        sqrt_ave, alpha_ok, cr_ok, ave_ok`` (alpha only for first-order constructs; CR and AVE
        not for a construct with one indicator; flags are empty where the value is).
    items : pandas.DataFrame
        One row per loading: ``construct, indicator, std_loading, item_total_corrected,
        alpha_if_deleted`` (the last two for first-order constructs only).
    latent_correlations : pandas.DataFrame
        Model-implied correlations of all latent variables (``construct`` + one column each).
    fornell_larcker : pandas.DataFrame
        See :func:`fornell_larcker`; first-order constructs.
    htmt : pandas.DataFrame
        See :func:`htmt`; first-order constructs.
    pairs : pandas.DataFrame
        One row per pair of first-order constructs: ``construct_a, construct_b,
        latent_corr, htmt, htmt_ok, fornell_larcker_ok``.
    fit : dict
        ML fit measures of the CFA (``chisq, df, pvalue, cfi, tli, rmsea, ..., srmr``) with
        ``n`` (cases used), ``n_dropped`` (rows left out), ``missing`` (``"fiml"`` or
        ``"listwise"``), ``covariance`` (what alpha, item statistics and HTMT come from:
        ``"em"``, the EM estimate under FIML, or ``"complete rows"``), ``n_patterns`` and
        ``n_missing_cells`` (FIML only), ``converged`` and ``warnings``.
    thresholds : dict
        ``alpha_min, cr_min, ave_min, htmt_max``.
    """

    constructs: pd.DataFrame
    items: pd.DataFrame
    latent_correlations: pd.DataFrame
    fornell_larcker: pd.DataFrame
    htmt: pd.DataFrame
    pairs: pd.DataFrame
    fit: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)


def _constructs(load: pd.DataFrame, model: Model) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Indicators of every latent variable, and its kind (first-order, higher-order, mixed)."""
    lv_names = list(model.representation.lv_names)
    ov = set(model.ov_names)
    constructs: dict[str, list[str]] = {}
    for lhs, rhs in zip(load["lhs"], load["rhs"], strict=True):
        constructs.setdefault(str(lhs), []).append(str(rhs))
    kinds = {}
    for c, inds in constructs.items():
        if all(i in ov and i not in lv_names for i in inds):
            kinds[c] = "first_order"
        elif all(i in lv_names for i in inds):
            kinds[c] = "higher_order"
        else:
            kinds[c] = "mixed"
    return constructs, kinds


def _construct_tables(
    load: pd.DataFrame,
    constructs: Mapping[str, list[str]],
    kinds: Mapping[str, str],
    cov: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Alpha, CR and AVE per construct; loadings and item statistics per indicator.

    ``cov`` is the items' covariance matrix (complete rows, or the EM estimate under FIML).
    """
    rows_c, rows_i = [], []
    for c, inds in constructs.items():
        lam = load.loc[load["lhs"] == c, "std_all"].to_numpy(dtype=float)
        alpha = float("nan")
        stats = None
        if kinds[c] == "first_order":
            block = cov.loc[inds, inds].to_numpy(dtype=float)
            alpha = _alpha_cov(block)
            itc, aid = _item_stats_cov(block)
            stats = {"item_total_corrected": itc, "alpha_if_deleted": aid}
        single = len(inds) < 2  # CR = AVE = 1 by construction: says nothing
        rows_c.append(
            {
                "construct": c,
                "kind": kinds[c],
                "n_indicators": len(inds),
                "alpha": alpha,
                "cr": float("nan") if single else composite_reliability(lam),
                "ave": float("nan") if single else ave(lam),
            }
        )
        itc = np.full(len(inds), np.nan) if stats is None else stats["item_total_corrected"]
        aid = np.full(len(inds), np.nan) if stats is None else stats["alpha_if_deleted"]
        rows_i.append(
            pd.DataFrame(
                {
                    "construct": c,
                    "indicator": inds,
                    "std_loading": lam,
                    "item_total_corrected": np.asarray(itc, dtype=float),
                    "alpha_if_deleted": np.asarray(aid, dtype=float),
                }
            )
        )
    return pd.DataFrame(rows_c), pd.concat(rows_i, ignore_index=True)


def _latent_correlations(model: Model, values: np.ndarray) -> pd.DataFrame:
    """Model-implied correlations of the latent variables at ``values``."""
    lv_names = list(model.representation.lv_names)
    mats = fill_matrices(model.representation, values)
    cov = mats.eta_cov()[: len(lv_names), : len(lv_names)]
    sd = np.sqrt(np.diag(cov))
    return pd.DataFrame(cov / np.outer(sd, sd), index=lv_names, columns=lv_names)


def _pairs(
    first: Sequence[str],
    lcor: pd.DataFrame,
    hmat: pd.DataFrame,
    sqrt_ave: Mapping[str, float],
    htmt_max: float,
) -> pd.DataFrame:
    """One row per pair of first-order constructs: latent correlation, HTMT and the checks."""
    pairs = []
    for a in range(len(first)):
        for b in range(a + 1, len(first)):
            ca, cb = first[a], first[b]
            r = float(lcor.loc[ca, cb])
            h = float(hmat.loc[ca, cb])
            low = float(np.minimum(sqrt_ave[ca], sqrt_ave[cb]))  # NaN when either is
            pairs.append(
                {
                    "construct_a": ca,
                    "construct_b": cb,
                    "latent_corr": r,
                    "htmt": h,
                    "htmt_ok": None if np.isnan(h) else bool(h < htmt_max),
                    "fornell_larcker_ok": None if np.isnan(low) else bool(low > abs(r)),
                }
            )
    pcols = ["construct_a", "construct_b", "latent_corr", "htmt", "htmt_ok", "fornell_larcker_ok"]
    ptab = pd.DataFrame(pairs, columns=pcols)
    ptab["htmt_ok"] = ptab["htmt_ok"].astype("boolean")
    ptab["fornell_larcker_ok"] = ptab["fornell_larcker_ok"].astype("boolean")
    return ptab


def reliability_report(
    model: Model,
    data: pd.DataFrame,
    *,
    source: str = "data",
    missing: str | None = None,
    ordered: bool | Sequence[str] | None = None,
    alpha_min: float = 0.7,
    cr_min: float = 0.7,
    ave_min: float = 0.5,
    htmt_max: float = 0.85,
) -> ReliabilityReport:
    """Reliability and validity tables of a measurement model, from its ML fit.

    Fits ``model`` by maximum likelihood; takes standardized loadings (``std_all`` of the
    ``=~`` rows) for CR and AVE of every latent variable; alpha and item statistics for
    constructs measured by observed items; model-implied latent correlations for the
    Fornell-Larcker table; HTMT from the item correlations. Higher-order factors get CR and
    AVE only. Under full-information ML the alpha, item statistics and HTMT come from the EM
    estimate of the items' covariance matrix (every observed answer counts); listwise, from
    the complete rows.

    Parameters
    ----------
    model : bayes_bmi.lavaan.model.Model
        From :func:`bayes_bmi.lavaan.model.read_model` or :func:`bayes_bmi.lavaan.model.specify`.
    data : pandas.DataFrame
        Raw item data.
    source : str
        Name of the data, for messages.
    missing : {"fiml", "listwise"} or None
        Missing answers: full-information ML, or complete rows only. ``None`` (default):
        ``"fiml"`` when the model's items have missing cells, else ``"listwise"``.
    ordered : bool or sequence of str, optional
        Ordered-categorical items (every item with ``True``): the CFA is fitted by WLSMV
        (complete rows), CR and AVE come from its standardized loadings, and alpha (ordinal
        alpha, Zumbo, Gadermann and Zeisser 2007), item statistics and HTMT from the
        polychoric correlation matrix. Mixed ordered and continuous items are refused (as
        WLSMV here).
    alpha_min, cr_min, ave_min : float
        Minimum acceptable alpha, CR and AVE.
    htmt_max : float
        HTMT must stay below this.

    Returns
    -------
    ReliabilityReport

    Raises
    ------
    ReliabilityError
        When the model has no latent variable measured by indicators.
    bayes_bmi.data.DataError, bayes_bmi.lavaan.partable.ModelSpecError
        From the ML fit.
    """
    if not (model.partable["op"] == "=~").any():
        raise ReliabilityError(
            f"{model.filename or '<model>'}: the model has no latent variable with indicators "
            "(=~); reliability needs a measurement model"
        )
    if ordered is not None and ordered is not False:
        from bayes_bmi.ml.ordinal.wlsmv import fit_wlsmv

        if missing == "fiml":
            raise ReliabilityError(
                "ordered items: WLSMV uses the complete rows (missing='listwise')"
            )
        method = "listwise"
        result = fit_wlsmv(model, data, ordered=ordered, source=source)
    else:
        method = resolve_missing(model, data, missing, source)
        result = fit_ml(model, data, source=source, missing=method)
    load = result.estimates[result.estimates["op"] == "=~"]
    constructs, kinds = _constructs(load, model)
    first = [c for c in constructs if kinds[c] == "first_order"]
    names = list(model.ov_names)
    if result.ordinal is not None:  # polychoric correlations: ordinal alpha and HTMT
        on = list(result.ordinal.names)
        cov = pd.DataFrame(result.ordinal.cor, index=on, columns=on)
    elif method == "fiml":  # the EM estimate of the saturated model (lavaan's h1)
        em = list(result.stats.names)
        cov = pd.DataFrame(result.stats.cov, index=em, columns=em)
    else:
        sample = complete_cases(data, names, source)
        if sample.shape[0] < 2:
            raise ReliabilityError(f"{source}: fewer than 2 complete rows on the model's items")
        cov = sample.cov(ddof=1)
    ctab, items = _construct_tables(load, constructs, kinds, cov)
    ctab["sqrt_ave"] = np.sqrt(ctab["ave"])
    ctab["alpha_ok"] = _flag(ctab["alpha"], ctab["alpha"].to_numpy() >= alpha_min)
    ctab["cr_ok"] = _flag(ctab["cr"], ctab["cr"].to_numpy() >= cr_min)
    ctab["ave_ok"] = _flag(ctab["ave"], ctab["ave"].to_numpy() >= ave_min)
    lcor = _latent_correlations(result.model, result.values)
    ave_first = ctab.set_index("construct").loc[first, "ave"]
    if first:
        fl = fornell_larcker(ave_first, lcor)
        order = [i for c in first for i in constructs[c]]
        sd = np.sqrt(np.diag(cov.loc[order, order].to_numpy(dtype=float)))
        corr = cov.loc[order, order].to_numpy(dtype=float) / np.outer(sd, sd)
        ht = _htmt_corr(corr, {c: constructs[c] for c in first}, False, True)
    else:
        fl = pd.DataFrame(columns=["construct", "sqrt_ave", "max_abs_corr", "passes"])
        ht = pd.DataFrame(columns=["construct"])
    sqrt_ave = dict(zip(fl["construct"], np.sqrt(ave_first.to_numpy()), strict=True))
    ptab = _pairs(first, lcor, ht.set_index("construct"), sqrt_ave, htmt_max)

    fit = {k: result.fit[k] for k in FIT_KEYS if k in result.fit}
    fit["n"] = result.ordinal.n if result.ordinal is not None else result.stats.n
    fit["n_dropped"] = int(
        result.ordinal.n_dropped if result.ordinal is not None else result.stats.n_dropped
    )
    fit["missing"] = method
    fit["estimator"] = result.estimator
    fit["covariance"] = (
        "polychoric"
        if result.ordinal is not None
        else "em"
        if method == "fiml"
        else "complete rows"
    )
    if result.patterns is not None:
        fit["n_patterns"] = result.patterns.npatterns
        fit["n_missing_cells"] = result.patterns.n_missing
    fit["converged"] = result.converged
    fit["warnings"] = list(result.warnings) + [
        f"construct '{c}' has a single indicator: its CR and AVE would be 1 by construction "
        "and are not reported; add indicators or use the item as an observed variable"
        for c, inds in constructs.items()
        if len(inds) < 2
    ]
    return ReliabilityReport(
        constructs=ctab,
        items=items,
        latent_correlations=lcor.reset_index(names="construct"),
        fornell_larcker=fl,
        htmt=ht,
        pairs=ptab,
        fit=fit,
        thresholds={
            "alpha_min": alpha_min,
            "cr_min": cr_min,
            "ave_min": ave_min,
            "htmt_max": htmt_max,
        },
    )
