"""Hypothesis tests from a posterior and the ML cross-check: the one verdict rule.

The study (:mod:`bayes_bmi.study.hypotheses` re-exports this module), power analysis and
prior sensitivity (:mod:`bayes_bmi.calibration`) all judge hypotheses with these functions.

Three layers, as elsewhere in the package:

1. reading: :func:`read_hypotheses` turns a ``*.hypotheses.toml`` file into frozen
   :class:`Hypothesis` objects and :func:`check_hypotheses` checks their parameters against a
   model;
2. pure functions on draws (numpy arrays): :func:`probability_of_direction`,
   :func:`rope_share`, :func:`hdi`, :func:`savage_dickey` / :func:`savage_dickey_bf10`, and
   :func:`assess_hypothesis`, which applies the :class:`DecisionRule` to one parameter;
3. a thin wrapper on a fitted model: :func:`hypothesis_table`.

The decision rule lives in one place, :class:`DecisionRule`; :meth:`DecisionRule.describe`
returns it as text for reports.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy import stats as sps

from bayes_bmi.bayes.posterior import hdi
from bayes_bmi.errors import BayesBmiError, existing_file
from bayes_bmi.lavaan.partable import row_name

__all__ = [
    "DEFAULT_RULE",
    "DIRECTIONS",
    "HYPOTHESIS_COLUMNS",
    "VERDICTS",
    "DecisionRule",
    "FittedLike",
    "Hypothesis",
    "HypothesisError",
    "ML_VERDICTS",
    "SavageDickey",
    "assess_hypothesis",
    "check_hypotheses",
    "hdi",
    "group_hypothesis_table",
    "hypothesis_table",
    "parameter_draws",
    "parameter_rows",
    "probability_of_direction",
    "read_hypotheses",
    "rope_share",
    "savage_dickey",
    "savage_dickey_bf10",
]

DIRECTIONS = ("positive", "negative", "nonzero")
VERDICTS = ("supported", "not supported", "inconclusive")
ML_VERDICTS = ("supported", "not supported", "unavailable")
HYPOTHESIS_KEYS = ("id", "parameter", "direction", "wording")
HYPOTHESIS_COLUMNS = (
    "id",
    "wording",
    "parameter",
    "expected_sign",
    "post_median",
    "hdi_lower",
    "hdi_upper",
    "pd",
    "rope_share",
    "bf10",
    "std_median",
    "bayes_verdict",
    "ml_est",
    "ml_se",
    "ml_pvalue",
    "ml_verdict",
    "agree",
    "bayes_reason",
    "bf10_note",
)
_SIGNS = {"positive": "+", "negative": "-", "nonzero": "+/-"}
_DEFINED_BF_NOTE = (
    "not computed: a defined (:=) parameter such as a product of paths has a prior density "
    "at 0 that is unbounded, so the Savage-Dickey ratio does not apply; use pd, the HDI and "
    "the ROPE share, or the Bayes factors of its component paths"
)


class HypothesisError(BayesBmiError):
    """A hypothesis file or entry that cannot be used; the message says where."""


@dataclass(frozen=True)
class Hypothesis:
    """One hypothesis about the sign of a model parameter.

    Attributes
    ----------
    id : str
        The hypothesis's label, e.g. ``"H1"`` or ``"H10a"``.
    parameter : str
        A label of the model (``g_x``, ``b``, ``ind_x``) or a row name (``y~x``).
    direction : str
        ``"positive"``, ``"negative"`` or ``"nonzero"``: the sign the hypothesis predicts.
    wording : str
        The hypothesis as stated.
    """

    id: str
    parameter: str
    direction: str
    wording: str

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise HypothesisError(
                f"hypothesis {self.id!r}: unknown direction {self.direction!r}. "
                f"Must be one of: {', '.join(DIRECTIONS)}"
            )


# --------------------------------------------------------------------------------------
# Reading and checking
# --------------------------------------------------------------------------------------


def read_hypotheses(path: str | Path) -> list[Hypothesis]:
    """Read hypotheses from a TOML file of ``[[hypothesis]]`` tables.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``*.hypotheses.toml`` file; each ``[[hypothesis]]`` table
        has the string keys ``id``, ``parameter``, ``direction`` and ``wording``.

    Returns
    -------
    list of Hypothesis
        In file order.

    Raises
    ------
    HypothesisError
        When the file is missing or not valid TOML, has no hypotheses, or an entry has a
        missing, unknown or non-string key, an unknown direction or a duplicate id. The
        message names the file and the entry (its position and id).
    """
    path = existing_file(path, "hypothesis", HypothesisError)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise HypothesisError(f"{path}: not valid TOML: {exc}") from None
    entries = doc.get("hypothesis")
    if not isinstance(entries, list) or not entries:
        raise HypothesisError(f"{path}: no [[hypothesis]] tables found")
    out: list[Hypothesis] = []
    seen: dict[str, int] = {}
    for pos, entry in enumerate(entries, start=1):
        where = _entry_name(path, pos, entry)
        if not isinstance(entry, dict):
            raise HypothesisError(f"{where}: expected a table of keys")
        missing = [k for k in HYPOTHESIS_KEYS if k not in entry]
        if missing:
            raise HypothesisError(
                f"{where}: missing key(s) {', '.join(missing)}. "
                f"Every hypothesis needs: {', '.join(HYPOTHESIS_KEYS)}"
            )
        unknown = sorted(set(entry) - set(HYPOTHESIS_KEYS))
        if unknown:
            raise HypothesisError(
                f"{where}: unknown key(s) {', '.join(unknown)}. "
                f"Must be one of: {', '.join(HYPOTHESIS_KEYS)}"
            )
        bad = [k for k in HYPOTHESIS_KEYS if not isinstance(entry[k], str) or not entry[k]]
        if bad:
            raise HypothesisError(f"{where}: {', '.join(bad)} must be non-empty string(s)")
        if entry["direction"] not in DIRECTIONS:
            raise HypothesisError(
                f"{where}: unknown direction {entry['direction']!r}. "
                f"Must be one of: {', '.join(DIRECTIONS)}"
            )
        if entry["id"] in seen:
            raise HypothesisError(
                f"{where}: duplicate id {entry['id']!r} (also entry {seen[entry['id']]})"
            )
        seen[entry["id"]] = pos
        out.append(Hypothesis(**{k: entry[k].strip() for k in HYPOTHESIS_KEYS}))
    return out


def _entry_name(path: Path, pos: int, entry: Any) -> str:
    hid = entry.get("id") if isinstance(entry, dict) else None
    return f"{path}: hypothesis {pos}" + (f" (id {hid!r})" if isinstance(hid, str) else "")


def check_hypotheses(hyps: Sequence[Hypothesis], parameter_names: Iterable[str]) -> None:
    """Check that every hypothesis names a parameter of the model.

    Parameters
    ----------
    hyps : sequence of Hypothesis
    parameter_names : iterable of str
        Names the model knows, e.g. the keys of :func:`parameter_rows`.

    Raises
    ------
    HypothesisError
        Listing every unknown parameter with its hypothesis id and close matches.
    """
    _require_names([(h.id, h.parameter) for h in hyps], parameter_names, "hypothesis parameter")


def _require_names(
    wanted: Sequence[tuple[str, str]], known_names: Iterable[str], what: str
) -> None:
    """Raise listing every ``(owner, name)`` whose name is unknown, with close matches."""
    names = list(dict.fromkeys(known_names))
    known = set(names)
    problems = []
    for owner, name in wanted:
        if name in known:
            continue
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        problems.append(f"  {owner}: {name!r}{hint}")
    if problems:
        raise HypothesisError(
            f"{len(problems)} {what}(s) not in the model:\n" + "\n".join(problems)
        )


# --------------------------------------------------------------------------------------
# Pure functions on draws
# --------------------------------------------------------------------------------------


def probability_of_direction(draws: np.ndarray, direction: str = "nonzero") -> float:
    """Posterior probability of a sign.

    Parameters
    ----------
    draws : numpy.ndarray
        Draws of one parameter (any shape; flattened).
    direction : str
        ``"positive"``: ``P(x > 0)``; ``"negative"``: ``P(x < 0)``; ``"nonzero"``: the
        usual probability of direction ``max(P(x > 0), P(x < 0))``. Draws exactly at 0 count
        half to each side, so ``P(x > 0) + P(x < 0) = 1``.

    Returns
    -------
    float
    """
    x = np.ravel(np.asarray(draws, dtype=float))
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan
    ties = 0.5 * np.mean(x == 0)
    pos = float(np.mean(x > 0) + ties)
    neg = float(np.mean(x < 0) + ties)
    if direction == "positive":
        return pos
    if direction == "negative":
        return neg
    if direction == "nonzero":
        return max(pos, neg)
    raise ValueError(f"unknown direction {direction!r}. Must be one of: {', '.join(DIRECTIONS)}")


def rope_share(draws: np.ndarray, low: float, high: float) -> float:
    """Share of the draws inside the region of practical equivalence ``[low, high]``.

    Parameters
    ----------
    draws : numpy.ndarray
        Draws of one parameter (any shape; flattened).
    low, high : float
        The ROPE's bounds.

    Returns
    -------
    float
        ``P(low <= x <= high)`` under the whole posterior (not only its HDI).
    """
    if not low < high:
        raise ValueError(f"ROPE needs low < high, got [{low}, {high}]")
    x = np.ravel(np.asarray(draws, dtype=float))
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan
    return float(np.mean((x >= low) & (x <= high)))


@dataclass(frozen=True)
class SavageDickey:
    """A Savage-Dickey Bayes factor with its ingredients.

    Attributes
    ----------
    bf10 : float
        ``prior density / posterior density`` at the point: evidence against ``x = point``.
    prior_density, posterior_density : float
        The two densities at the point.
    method : str
        ``"kde"`` or ``"normal"`` (how the posterior density was estimated).
    note : str
        Empty, or why the estimate is approximate.
    """

    bf10: float
    prior_density: float
    posterior_density: float
    method: str
    note: str = ""


def _kde_at(x: np.ndarray, point: float) -> float:
    if x.size < 2 or np.ptp(x) == 0:
        return math.nan
    return float(sps.gaussian_kde(x)(point)[0])


def savage_dickey(
    post_draws: np.ndarray,
    prior_draws: np.ndarray,
    point: float = 0.0,
    *,
    min_tail: int = 10,
    tail_share: float = 0.01,
) -> SavageDickey:
    """Savage-Dickey density ratio for a point null ``x = point`` nested in the model.

    Both densities are Gaussian kernel density estimates (``scipy.stats.gaussian_kde``, Scott's
    bandwidth) of the draws at ``point``. When ``point`` lies in the far tail of the
    posterior (fewer than ``max(min_tail, tail_share * n)`` draws beyond it) a kernel
    estimate there is driven by a handful of draws and is biased towards 0; the posterior
    density is then taken from a normal approximation (mean and SD of the draws) and
    :attr:`SavageDickey.note` says so. Such Bayes factors are huge and only their order of
    magnitude is meaningful.

    Parameters
    ----------
    post_draws, prior_draws : numpy.ndarray
        Draws of the parameter under the posterior and under the prior (flattened).
    point : float
        The null value.
    min_tail : int
        Minimum number of posterior draws beyond ``point`` for the kernel estimate.
    tail_share : float
        Minimum share of posterior draws beyond ``point`` for the kernel estimate.

    Returns
    -------
    SavageDickey
    """
    post = np.ravel(np.asarray(post_draws, dtype=float))
    post = post[np.isfinite(post)]
    prior = np.ravel(np.asarray(prior_draws, dtype=float))
    prior = prior[np.isfinite(prior)]
    f_prior = _kde_at(prior, point)
    if not np.isfinite(f_prior) or f_prior <= 0:
        return SavageDickey(
            math.nan, f_prior, math.nan, "kde", "prior density at the point not estimable"
        )
    if post.size < 2:
        return SavageDickey(math.nan, f_prior, math.nan, "kde", "too few posterior draws")
    beyond = int(min(np.sum(post <= point), np.sum(post >= point)))
    if beyond >= max(min_tail, tail_share * post.size):
        f_post = _kde_at(post, point)
        if np.isfinite(f_post) and f_post > 0:
            return SavageDickey(f_prior / f_post, f_prior, f_post, "kde")
    sd = float(np.std(post, ddof=1))
    if not sd > 0:
        return SavageDickey(math.nan, f_prior, math.nan, "normal", "posterior has no spread")
    f_post = float(sps.norm.pdf(point, loc=float(np.mean(post)), scale=sd))
    bf = f_prior / f_post if f_post > 0 else math.inf
    note = (
        f"{point:g} lies in the far tail of the posterior ({beyond} of {post.size} draws "
        "beyond it): posterior density from a normal approximation; only the order of "
        "magnitude of BF10 is meaningful"
    )
    return SavageDickey(bf, f_prior, f_post, "normal", note)


def savage_dickey_bf10(
    post_draws: np.ndarray, prior_draws: np.ndarray, point: float = 0.0
) -> float:
    """Savage-Dickey Bayes factor ``BF10 = prior density / posterior density`` at ``point``.

    See :func:`savage_dickey` for the density estimates; this returns only the number.

    Parameters
    ----------
    post_draws, prior_draws : numpy.ndarray
    point : float

    Returns
    -------
    float
        ``BF10 > 1`` favours ``x != point``; NaN when a density cannot be estimated.
    """
    return savage_dickey(post_draws, prior_draws, point).bf10


# --------------------------------------------------------------------------------------
# The decision rule
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionRule:
    """How posterior summaries and ML tests become verdicts (the one place it is stated).

    Attributes
    ----------
    ci_prob : float
        Probability of the highest-density interval.
    pd_min : float
        Minimum posterior probability of the expected sign for "supported".
    opposite_max : float
        "not supported" when the posterior probability of the expected sign is below this.
    rope : tuple of float
        Region of practical equivalence on the standardized (std.all) scale.
    rope_max : float
        "not supported" (practically null) when at least this share of the standardized
        posterior lies in the ROPE.
    alpha : float
        ML significance level (two-sided p-value).
    """

    ci_prob: float = 0.95
    pd_min: float = 0.975
    opposite_max: float = 0.025
    rope: tuple[float, float] = (-0.1, 0.1)
    rope_max: float = 0.95
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.ci_prob < 1:
            raise ValueError("ci_prob must lie strictly between 0 and 1")
        if not 0.5 <= self.pd_min <= 1:
            raise ValueError("pd_min must lie between 0.5 and 1")
        if not 0 <= self.opposite_max < 0.5:
            raise ValueError("opposite_max must lie in [0, 0.5)")
        if not self.rope[0] < self.rope[1]:
            raise ValueError(f"rope needs low < high, got {self.rope}")
        if not 0 < self.rope_max <= 1:
            raise ValueError("rope_max must lie in (0, 1]")
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must lie strictly between 0 and 1")

    def describe(self) -> str:
        """The rule as text, for the report."""
        lo, hi = self.rope
        pct = f"{100 * self.ci_prob:g}%"
        return (
            f"Bayesian verdict (checked in this order): 'supported' when the {pct} HDI "
            f"excludes 0 on the expected side and the posterior probability of the expected "
            f"sign (pd) is at least {self.pd_min:g}; 'not supported' when pd is below "
            f"{self.opposite_max:g} (the posterior lies on the opposite side) or at least "
            f"{100 * self.rope_max:g}% of the standardized (std.all) posterior lies in the "
            f"ROPE [{lo:g}, {hi:g}] (practically null); otherwise 'inconclusive'. For a "
            f"'nonzero' hypothesis the expected side is whichever side holds more posterior "
            f"mass and the opposite-side check does not apply. A supported effect can still be "
            f"small: see rope_share. ML verdict: 'supported' when the two-sided p-value is "
            f"below {self.alpha:g} and the estimate has the expected sign, otherwise 'not "
            f"supported'. The two agree when both or neither say 'supported' (ML's 'not "
            f"supported' covers both the Bayesian 'not supported' and 'inconclusive'). BF10 "
            f"is the Savage-Dickey ratio for the point null 0 against the model's prior and "
            f"is reported as supplementary evidence, not used in the verdict."
        )

    def bayes_verdict(
        self,
        pd_expected: float,
        hdi_bounds: tuple[float, float],
        rope_share_std: float,
        direction: str,
    ) -> tuple[str, str]:
        """Bayesian verdict and its reason.

        Parameters
        ----------
        pd_expected : float
            Posterior probability of the expected sign (for ``"nonzero"``: the usual pd).
        hdi_bounds : tuple of float
            The HDI of the parameter (any scale with the parameter's sign).
        rope_share_std : float
            Share of the standardized posterior inside :attr:`rope`.
        direction : str

        Returns
        -------
        verdict : str
            One of :data:`VERDICTS`.
        reason : str
        """
        lo, hi = hdi_bounds
        pct = f"{100 * self.ci_prob:g}% HDI"
        if direction == "positive":
            excludes = lo > 0
        elif direction == "negative":
            excludes = hi < 0
        else:
            excludes = lo > 0 or hi < 0
        if excludes and pd_expected >= self.pd_min:
            return "supported", f"{pct} excludes 0 on the expected side, pd = {pd_expected:.3f}"
        if direction != "nonzero" and pd_expected < self.opposite_max:
            return "not supported", f"posterior on the opposite side, pd = {pd_expected:.3f}"
        if np.isfinite(rope_share_std) and rope_share_std >= self.rope_max:
            return (
                "not supported",
                f"practically null: {100 * rope_share_std:.1f}% of the standardized "
                f"posterior in the ROPE [{self.rope[0]:g}, {self.rope[1]:g}]",
            )
        return (
            "inconclusive",
            f"{pct} [{lo:.3g}, {hi:.3g}] includes 0 or pd = {pd_expected:.3f} is below "
            f"{self.pd_min:g}, and {100 * rope_share_std:.1f}% in the ROPE",
        )

    def ml_verdict(self, est: float, pvalue: float, direction: str) -> str:
        """ML verdict: one of ``"supported"``, ``"not supported"``, ``"unavailable"``."""
        if not (np.isfinite(est) and np.isfinite(pvalue)):
            return "unavailable"
        sign_ok = {"positive": est > 0, "negative": est < 0, "nonzero": True}[direction]
        return "supported" if pvalue < self.alpha and sign_ok else "not supported"


DEFAULT_RULE = DecisionRule()


def assess_hypothesis(
    hyp: Hypothesis,
    draws: np.ndarray,
    std_draws: np.ndarray,
    prior_draws: np.ndarray | None = None,
    *,
    ml: tuple[float, float, float] = (math.nan, math.nan, math.nan),
    defined: bool = False,
    rule: DecisionRule = DEFAULT_RULE,
) -> dict[str, Any]:
    """One row of the hypothesis table from draws of the parameter.

    Parameters
    ----------
    hyp : Hypothesis
    draws : numpy.ndarray
        Posterior draws of the parameter on its raw scale.
    std_draws : numpy.ndarray
        Posterior draws of the same parameter on the std.all scale (for the ROPE).
    prior_draws : numpy.ndarray, optional
        Prior draws on the raw scale, for the Bayes factor (NaN without them).
    ml : tuple of float
        ML estimate, standard error and two-sided p-value.
    defined : bool
        Whether the parameter is a ``:=`` parameter (no Savage-Dickey Bayes factor).
    rule : DecisionRule

    Returns
    -------
    dict
        Keys :data:`HYPOTHESIS_COLUMNS`.
    """
    x = np.ravel(np.asarray(draws, dtype=float))
    xs = np.ravel(np.asarray(std_draws, dtype=float))
    pd_exp = probability_of_direction(x, hyp.direction)
    lo, hi = hdi(x, rule.ci_prob)
    share = rope_share(xs, *rule.rope)
    if defined:
        bf, note = math.nan, _DEFINED_BF_NOTE
    elif prior_draws is None:
        bf, note = math.nan, "not computed: no prior draws"
    else:
        sd = savage_dickey(x, prior_draws)
        bf, note = sd.bf10, sd.note
    verdict, reason = rule.bayes_verdict(pd_exp, (lo, hi), share, hyp.direction)
    ml_est, ml_se, ml_p = (float(v) for v in ml)
    ml_v = rule.ml_verdict(ml_est, ml_p, hyp.direction)
    agree: bool | Any = (
        pd.NA if ml_v == "unavailable" else (verdict == "supported") == (ml_v == "supported")
    )
    return {
        "id": hyp.id,
        "wording": hyp.wording,
        "parameter": hyp.parameter,
        "expected_sign": _SIGNS[hyp.direction],
        "post_median": float(np.median(x)),
        "hdi_lower": lo,
        "hdi_upper": hi,
        "pd": pd_exp,
        "rope_share": share,
        "bf10": bf,
        "std_median": float(np.median(xs)),
        "bayes_verdict": verdict,
        "ml_est": ml_est,
        "ml_se": ml_se,
        "ml_pvalue": ml_p,
        "ml_verdict": ml_v,
        "agree": agree,
        "bayes_reason": reason,
        "bf10_note": note,
    }


# --------------------------------------------------------------------------------------
# Wrappers on a fitted model
# --------------------------------------------------------------------------------------


class _MLLike(Protocol):
    estimates: pd.DataFrame


class FittedLike(Protocol):
    """What :func:`hypothesis_table` needs of a fit (a ``bayes.sampling.BayesResult``)."""

    summary: pd.DataFrame
    idata: Any
    ml: _MLLike


def parameter_rows(summary: pd.DataFrame) -> dict[str, int]:
    """Names of the summary's parameters and their row positions.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``BayesResult.summary`` (columns ``lhs``, ``op``, ``rhs``, ``label``).

    Returns
    -------
    dict
        Every row under its name (``y~x``, ``f=~x2``, ``ind_x``) and, when labelled,
        under its label (``g_x``). A label shared by equality-constrained rows maps to its
        first row (the rows hold the same value).
    """
    out: dict[str, int] = {}
    labels = summary["label"].fillna("").astype(str).to_numpy()
    cols = zip(summary["lhs"], summary["op"], summary["rhs"], labels, strict=True)
    for i, (lhs, op, rhs, label) in enumerate(cols):
        out.setdefault(row_name(str(lhs), str(op), str(rhs)), i)
        if label:
            out.setdefault(label, i)
    return out


def parameter_draws(
    result: FittedLike,
    names: Sequence[str],
    *,
    group: str = "posterior",
    var: str = "estimate",
) -> np.ndarray:
    """Draws of named parameters, shape ``(n_draws, len(names))`` (chains pooled).

    Parameters
    ----------
    result : BayesResult
    names : sequence of str
        Labels or row names (see :func:`parameter_rows`).
    group : str
        ``"posterior"`` or ``"prior"``.
    var : str
        ``"estimate"`` (raw scale) or ``"std_all"`` (posterior only).

    Returns
    -------
    numpy.ndarray
    """
    rows = parameter_rows(result.summary)
    _require_names([(n, n) for n in names], rows, "parameter")
    arr = result.idata[group][var].transpose("chain", "draw", "row").values
    flat = arr.reshape(-1, arr.shape[-1])
    return flat[:, [rows[n] for n in names]]


def hypothesis_table(
    hyps: Sequence[Hypothesis],
    result: FittedLike,
    *,
    rule: DecisionRule = DEFAULT_RULE,
) -> pd.DataFrame:
    """Bayesian and ML verdicts on every hypothesis, side by side.

    Parameters
    ----------
    hyps : sequence of Hypothesis
    result : BayesResult
        A fit of the model the hypotheses refer to.
    rule : DecisionRule
        :meth:`DecisionRule.describe` states it for the report.

    Returns
    -------
    pandas.DataFrame
        One row per hypothesis, columns :data:`HYPOTHESIS_COLUMNS`: ``post_median``,
        ``hdi_lower``/``hdi_upper`` on the raw scale; ``pd`` the posterior probability of the
        expected sign; ``rope_share`` and ``std_median`` on the std.all scale; ``bf10`` the
        Savage-Dickey Bayes factor against 0 (NaN for ``:=`` parameters, see ``bf10_note``);
        ``ml_*`` from the ML fit (delta-method SEs for ``:=`` parameters); ``agree`` whether
        both or neither verdict is "supported"; ``bayes_reason`` why.

    Raises
    ------
    HypothesisError
        When a hypothesis names a parameter the model does not have.
    """
    summary = result.summary
    rows = parameter_rows(summary)
    check_hypotheses(hyps, rows)
    post = _flat(result.idata["posterior"]["estimate"])
    std = _flat(result.idata["posterior"]["std_all"])
    prior = _flat(result.idata["prior"]["estimate"]) if "prior" in result.idata else None
    ml_stats = _ml_lookup(result.ml.estimates)
    records = []
    for h in hyps:
        i = rows[h.parameter]
        lhs, op, rhs = (str(summary[c].iat[i]) for c in ("lhs", "op", "rhs"))
        ml = ml_stats.get((lhs, op, rhs), (math.nan, math.nan, math.nan))
        records.append(
            assess_hypothesis(
                h,
                post[:, i],
                std[:, i],
                None if prior is None else prior[:, i],
                ml=ml,
                defined=op == ":=",
                rule=rule,
            )
        )
    table = pd.DataFrame.from_records(records, columns=list(HYPOTHESIS_COLUMNS))
    table["agree"] = table["agree"].astype("boolean")
    return table


def group_hypothesis_table(
    hyps: Sequence[Hypothesis],
    result: FittedLike,
    labels: Sequence[str],
    *,
    rule: DecisionRule = DEFAULT_RULE,
) -> pd.DataFrame:
    """:func:`hypothesis_table` of a multi-group fit: one verdict per hypothesis and group.

    A hypothesis is judged in every group whose rows carry its parameter (a row name such as
    ``y~x`` is in every group; a group-specific label of ``c(a1, a2)*x`` in one), with the
    same rule as a single-group fit; a label shared by the groups (an equality) gives the same
    draws in each. A ``:=`` parameter (one value for the whole model) is judged once, with
    group 0 and an empty label.

    Parameters
    ----------
    hyps : sequence of Hypothesis
    result : BayesResult
        A multi-group fit: its summary and ``ml.estimates`` have a ``group`` column.
    labels : sequence of str
        Group ``g`` is ``labels[g - 1]``.
    rule : DecisionRule

    Returns
    -------
    pandas.DataFrame
        :data:`HYPOTHESIS_COLUMNS` with ``group`` and ``group_label`` after ``id``; rows in
        the order of the hypotheses, then of the groups.

    Raises
    ------
    HypothesisError
        When a hypothesis names a parameter of no group.
    """
    summary = result.summary
    check_hypotheses(hyps, parameter_rows(summary))
    sgroup = summary["group"].to_numpy()
    egroup = result.ml.estimates["group"].to_numpy()
    eop = result.ml.estimates["op"].to_numpy()
    parts = []
    for g in range(len(labels) + 1):
        idx = np.flatnonzero(sgroup == g)
        if not idx.size:
            continue
        sub = summary.iloc[idx].reset_index(drop=True)
        names = parameter_rows(sub)
        mine = [h for h in hyps if h.parameter in names]
        if not mine:
            continue
        idata = {
            k: result.idata[k].to_dataset().isel(row=idx)
            for k in ("posterior", "prior")
            if k in result.idata
        }
        keep = (egroup == g) if g else (eop == ":=")
        view = SimpleNamespace(
            summary=sub, idata=idata, ml=SimpleNamespace(estimates=result.ml.estimates[keep])
        )
        table = hypothesis_table(mine, view, rule=rule)
        table.insert(1, "group", g)
        table.insert(2, "group_label", labels[g - 1] if g else "")
        table["_order"] = [next(i for i, h in enumerate(hyps) if h is m) for m in mine]
        parts.append(table)
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(["_order", "group"], kind="stable").drop(columns="_order")
    return out.reset_index(drop=True)


def _flat(da: Any) -> np.ndarray:
    arr = da.transpose("chain", "draw", "row").values
    return arr.reshape(-1, arr.shape[-1])


def _ml_lookup(estimates: pd.DataFrame) -> Mapping[tuple[str, str, str], tuple]:
    out: dict[tuple[str, str, str], tuple[float, float, float]] = {}
    cols = ("lhs", "op", "rhs", "est", "se", "pvalue")
    for lhs, op, rhs, est, se, p in estimates[list(cols)].itertuples(index=False):
        out.setdefault((str(lhs), str(op), str(rhs)), (float(est), float(se), float(p)))
    return out
