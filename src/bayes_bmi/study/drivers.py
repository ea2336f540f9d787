"""Key drivers: which drivers move BMI (and, through it, performance) most, and how sure we are.

Pure functions work on a draws matrix (``n_draws x n_drivers``, standardized effects):
:func:`rank_probabilities`, :func:`pairwise_dominance` and :func:`driver_effects`, which
builds the key-driver table and the :class:`Dominance` summary. :func:`key_drivers` is the
thin wrapper on a fitted model and :func:`driver_parameters` finds the parameters by naming
convention. :func:`recommendations` turns the numbers into advice for firms and government;
nothing in it fixes which driver wins.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_bmi.checking.ranking import draws_matrix
from bayes_bmi.checking.ranking import rank_probabilities as generic_rank_probabilities
from bayes_bmi.study.hypotheses import (
    DEFAULT_RULE,
    DecisionRule,
    FittedLike,
    HypothesisError,
    hdi,
    parameter_draws,
    parameter_rows,
    probability_of_direction,
    rope_share,
)

__all__ = [
    "DRIVER_COLUMNS",
    "LEVERS",
    "Dominance",
    "Lever",
    "Recommendations",
    "driver_effects",
    "driver_parameters",
    "key_drivers",
    "pairwise_dominance",
    "rank_probabilities",
    "recommendations",
    "thesis_key_drivers",
]

DRIVER_COLUMNS = (
    "driver",
    "bmi_param",
    "bmi_median",
    "bmi_hdi_lower",
    "bmi_hdi_upper",
    "bmi_p_positive",
    "bmi_rope_share",
    "total_params",
    "total_median",
    "total_hdi_lower",
    "total_hdi_upper",
    "total_p_positive",
    "p_largest",
    "expected_rank",
    "most_likely_rank",
)
RANK_BY = ("bmi", "total")


# --------------------------------------------------------------------------------------
# Pure functions on a draws matrix
# --------------------------------------------------------------------------------------


def _matrix(draws: np.ndarray, names: Sequence[str]) -> np.ndarray:
    return draws_matrix(draws, names, "driver")


def rank_probabilities(
    draws: np.ndarray, names: Sequence[str], *, absolute: bool = False
) -> pd.DataFrame:
    """Posterior probability of each driver taking each rank.

    :func:`bayes_bmi.checking.ranking.rank_probabilities` with the index named ``driver``.

    Parameters
    ----------
    draws : numpy.ndarray
        ``n_draws x k`` effects, one column per driver.
    names : sequence of str
        The drivers, in column order.
    absolute : bool
        Rank by ``|effect|`` instead of the signed effect.

    Returns
    -------
    pandas.DataFrame
        Index ``driver``, columns ``1 .. k`` (name ``rank``; 1 = largest effect): the share of
        draws in which the driver has that rank. Rows and columns each sum to 1.
    """
    return generic_rank_probabilities(draws, names, absolute=absolute, what="driver")


def pairwise_dominance(
    draws: np.ndarray, names: Sequence[str], *, absolute: bool = False
) -> pd.DataFrame:
    """Posterior probability that one driver's effect exceeds another's.

    Parameters
    ----------
    draws : numpy.ndarray
        ``n_draws x k`` effects, one column per driver.
    names : sequence of str
    absolute : bool
        Compare ``|effect|`` instead of the signed effect.

    Returns
    -------
    pandas.DataFrame
        ``P(row driver > column driver)``; ties count half, so ``M + M.T = 1`` off the
        diagonal. The diagonal is NaN.
    """
    x = _matrix(draws, names)
    x = np.abs(x) if absolute else x
    gt = (x[:, :, None] > x[:, None, :]).mean(axis=0)
    eq = (x[:, :, None] == x[:, None, :]).mean(axis=0)
    m = gt + 0.5 * eq
    np.fill_diagonal(m, np.nan)
    idx = pd.Index(list(names), name="driver")
    return pd.DataFrame(m, index=idx, columns=pd.Index(list(names), name="versus"))


@dataclass(frozen=True, eq=False)
class Dominance:
    """How the drivers rank against each other.

    Attributes
    ----------
    rank_probs : pandas.DataFrame
        Driver x rank probabilities (:func:`rank_probabilities`).
    pairwise : pandas.DataFrame
        ``P(row > column)`` (:func:`pairwise_dominance`).
    by : str
        Which effect was ranked: ``"bmi"`` (effect on BMI) or ``"total"`` (total effect on
        the outcome).
    absolute : bool
        Whether magnitudes were ranked.
    """

    rank_probs: pd.DataFrame
    pairwise: pd.DataFrame
    by: str = "bmi"
    absolute: bool = False

    @property
    def p_largest(self) -> pd.Series:
        """Probability of each driver having the largest effect."""
        return self.rank_probs[1].rename("p_largest")

    @property
    def expected_rank(self) -> pd.Series:
        """Posterior mean rank of each driver (1 = largest)."""
        ranks = self.rank_probs.columns.to_numpy(dtype=float)
        return pd.Series(
            self.rank_probs.to_numpy() @ ranks, index=self.rank_probs.index, name="expected_rank"
        )

    @property
    def order(self) -> list[str]:
        """Drivers by expected rank (ties by probability of being largest)."""
        df = pd.DataFrame({"e": self.expected_rank, "p": -self.p_largest})
        return list(df.sort_values(["e", "p"], kind="mergesort").index)


def _interval(x: np.ndarray, ci_prob: float) -> tuple[float, float, float]:
    lo, hi = hdi(x, ci_prob)
    return float(np.median(x)), lo, hi


def driver_effects(
    bmi_draws: np.ndarray,
    drivers: Sequence[str],
    total_draws: np.ndarray | None = None,
    *,
    bmi_params: Sequence[str] | None = None,
    total_params: Sequence[Sequence[str]] | None = None,
    ci_prob: float = 0.95,
    rope: tuple[float, float] = DEFAULT_RULE.rope,
    rank_by: str = "bmi",
    absolute: bool = False,
) -> tuple[pd.DataFrame, Dominance]:
    """Key-driver table and ranking from standardized effect draws.

    Parameters
    ----------
    bmi_draws : numpy.ndarray
        ``n_draws x k`` standardized effects of the drivers on BMI.
    drivers : sequence of str
        Driver names, in column order.
    total_draws : numpy.ndarray, optional
        ``n_draws x k`` standardized total effects on the outcome (same draws, same order).
    bmi_params, total_params : sequence, optional
        Parameter names behind each column, recorded in the table.
    ci_prob : float
        HDI probability.
    rope : tuple of float
        Region of practical equivalence for ``bmi_rope_share``.
    rank_by : str
        ``"bmi"`` or ``"total"``: which effect the ranking uses.
    absolute : bool
        Rank magnitudes instead of signed effects.

    Returns
    -------
    table : pandas.DataFrame
        One row per driver, columns :data:`DRIVER_COLUMNS`, in the order of ``drivers``.
    dominance : Dominance
    """
    if rank_by not in RANK_BY:
        raise ValueError(f"unknown rank_by {rank_by!r}. Must be one of: {', '.join(RANK_BY)}")
    x = _matrix(bmi_draws, drivers)
    t = None if total_draws is None else _matrix(total_draws, drivers)
    if t is not None and t.shape[0] != x.shape[0]:
        raise ValueError("bmi_draws and total_draws must hold the same draws")
    if rank_by == "total" and t is None:
        raise ValueError("rank_by='total' needs total_draws")
    ranked = x if rank_by == "bmi" else t
    rank_probs = rank_probabilities(ranked, drivers, absolute=absolute)
    dom = Dominance(
        rank_probs=rank_probs,
        pairwise=pairwise_dominance(ranked, drivers, absolute=absolute),
        by=rank_by,
        absolute=absolute,
    )
    records = []
    for j, name in enumerate(drivers):
        med, lo, hi = _interval(x[:, j], ci_prob)
        if t is not None:
            tmed, tlo, thi = _interval(t[:, j], ci_prob)
            tpos = probability_of_direction(t[:, j], "positive")
        else:
            tmed = tlo = thi = tpos = math.nan
        records.append(
            {
                "driver": name,
                "bmi_param": bmi_params[j] if bmi_params is not None else "",
                "bmi_median": med,
                "bmi_hdi_lower": lo,
                "bmi_hdi_upper": hi,
                "bmi_p_positive": probability_of_direction(x[:, j], "positive"),
                "bmi_rope_share": rope_share(x[:, j], *rope),
                "total_params": "+".join(total_params[j]) if total_params is not None else "",
                "total_median": tmed,
                "total_hdi_lower": tlo,
                "total_hdi_upper": thi,
                "total_p_positive": tpos,
                "p_largest": float(rank_probs.at[name, 1]),
                "expected_rank": float(dom.expected_rank[name]),
                "most_likely_rank": int(rank_probs.loc[name].idxmax()),
            }
        )
    return pd.DataFrame.from_records(records, columns=list(DRIVER_COLUMNS)), dom


# --------------------------------------------------------------------------------------
# Wrappers on a fitted model
# --------------------------------------------------------------------------------------


def driver_parameters(
    names: Iterable[str],
    drivers: Sequence[str],
    *,
    bmi: str = "g_{}",
    total: Sequence[str] = ("d_{}", "ind_{}"),
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Find each driver's parameters by naming convention.

    Parameters
    ----------
    names : iterable of str
        Parameter names of the model (e.g. the keys of
        :func:`~bayes_bmi.study.hypotheses.parameter_rows`).
    drivers : sequence of str
    bmi : str
        Template of the driver -> BMI path label (``"g_{}"`` -> ``g_TI``).
    total : sequence of str
        Templates of the parts of the total effect on the outcome; the parts the model has
        are summed (``d_TI`` direct path, if any, plus ``ind_TI``).

    Returns
    -------
    bmi_params : dict
        Driver -> BMI path name.
    total_params : dict
        Driver -> list of names (empty when the model has none of them).

    Raises
    ------
    HypothesisError
        When a driver has no BMI path.
    """
    known = set(names)
    missing = [d for d in drivers if bmi.format(d) not in known]
    if missing:
        raise HypothesisError(f"no path to BMI named {bmi!r} for driver(s) {', '.join(missing)}")
    bmi_params = {d: bmi.format(d) for d in drivers}
    total_params = {d: [tpl.format(d) for tpl in total if tpl.format(d) in known] for d in drivers}
    return bmi_params, total_params


def key_drivers(
    result: FittedLike,
    drivers: Sequence[str],
    outcome_bmi_params: Mapping[str, str],
    total_effect_params: Mapping[str, Sequence[str]] | None = None,
    *,
    ci_prob: float = 0.95,
    rope: tuple[float, float] = DEFAULT_RULE.rope,
    rank_by: str = "bmi",
    absolute: bool = False,
) -> tuple[pd.DataFrame, Dominance]:
    """Key-driver table and ranking from a fit, on the standardized (std.all) scale.

    Parameters
    ----------
    result : BayesResult
    drivers : sequence of str
        Driver names (``["TI", "MD", ...]``).
    outcome_bmi_params : mapping
        Driver -> name of its path to BMI (``{"TI": "g_TI", ...}``).
    total_effect_params : mapping, optional
        Driver -> names whose std.all draws are summed into its total effect on the outcome
        (``{"TI": ["ind_TI"]}`` under full mediation, ``["d_TI", "ind_TI"]`` with direct
        paths). :func:`driver_parameters` builds both mappings by convention.
    ci_prob, rope, rank_by, absolute
        As in :func:`driver_effects`.

    Returns
    -------
    table : pandas.DataFrame
    dominance : Dominance
    """
    missing = [d for d in drivers if d not in outcome_bmi_params]
    if missing:
        raise HypothesisError(f"no BMI path given for driver(s) {', '.join(missing)}")
    bmi_names = [outcome_bmi_params[d] for d in drivers]
    x = parameter_draws(result, bmi_names, var="std_all")
    t = None
    total_names = None
    if total_effect_params is not None:
        total_names = [list(total_effect_params.get(d, ())) for d in drivers]
        empty = [d for d, n in zip(drivers, total_names, strict=True) if not n]
        if empty:
            raise HypothesisError(f"no total-effect parameters for driver(s) {', '.join(empty)}")
        t = np.column_stack(
            [parameter_draws(result, n, var="std_all").sum(axis=1) for n in total_names]
        )
    return driver_effects(
        x,
        drivers,
        t,
        bmi_params=bmi_names,
        total_params=total_names,
        ci_prob=ci_prob,
        rope=rope,
        rank_by=rank_by,
        absolute=absolute,
    )


def thesis_key_drivers(
    result: FittedLike, drivers: Sequence[str], **kwargs: Any
) -> tuple[pd.DataFrame, Dominance]:
    """:func:`key_drivers` with the thesis's naming (``g_XX``; ``d_XX`` + ``ind_XX``)."""
    bmi_params, total_params = driver_parameters(parameter_rows(result.summary), drivers)
    has_total = all(total_params.values())
    return key_drivers(result, drivers, bmi_params, total_params if has_total else None, **kwargs)


# --------------------------------------------------------------------------------------
# Recommendations
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lever:
    """What a driver means and what firms and government can do about it.

    Attributes
    ----------
    name : str
        The driver in words.
    firm_action : str
        What a firm can invest in.
    policy_action : str
        What government can do (empty when policy has no direct handle).
    firm_controlled : bool
        Whether the driver is the firm's own choice (competitive pressure is not).
    """

    name: str
    firm_action: str
    policy_action: str = ""
    firm_controlled: bool = True


LEVERS: Mapping[str, Lever] = types.MappingProxyType(
    {
        "TI": Lever(
            "technological innovation capability",
            "R&D, digital technology and technical staff",
            "R&D tax credits, technology-transfer and digital-infrastructure programmes",
        ),
        "MD": Lever(
            "market demand and customer orientation",
            "customer research and demand-led redesign of the offer",
            "demand-side measures such as public procurement of innovation and market access",
        ),
        "CP": Lever(
            "competitive pressure",
            "systematic competitor monitoring as a trigger for business-model redesign",
            "competition policy and market openness",
            firm_controlled=False,
        ),
        "EM": Lever(
            "entrepreneurship and top-management cognition",
            "entrepreneurial leadership and top-management development",
            "entrepreneurship and management-training programmes",
        ),
        "OL": Lever(
            "organisational learning",
            "learning routines: knowledge sharing, experimentation, after-action reviews",
            "skills and training programmes for SME staff",
        ),
        "NR": Lever(
            "network relationships",
            "partnerships with customers, suppliers and universities",
            "clusters, industry-university platforms and networking programmes",
        ),
        "GP": Lever(
            "government policy support",
            "using available support schemes (subsidies, advisory services)",
            "direct support for business-model innovation (subsidies, tax incentives, advice)",
        ),
        "RS": Lever(
            "financial and human resources",
            "securing funding and skilled staff",
            "SME finance (credit guarantees, venture funds) and talent programmes",
        ),
    }
)


@dataclass(frozen=True)
class Recommendations:
    """Advice derived from the key-driver analysis.

    Attributes
    ----------
    firms, government, caveats : tuple of str
        One sentence (or short paragraph) each.
    """

    firms: tuple[str, ...]
    government: tuple[str, ...]
    caveats: tuple[str, ...]

    def text(self) -> str:
        """Markdown: three headed bullet lists."""
        parts = []
        for title, items in (
            ("For firms", self.firms),
            ("For government", self.government),
            ("Uncertainty and caveats", self.caveats),
        ):
            if items:
                parts.append(f"### {title}\n\n" + "\n".join(f"- {s}" for s in items))
        return "\n\n".join(parts) + "\n"


def _effect(row: pd.Series) -> str:
    return (
        f"standardized effect {row['bmi_median']:.2f}, "
        f"95% HDI [{row['bmi_hdi_lower']:.2f}, {row['bmi_hdi_upper']:.2f}]"
    )


def _status(row: pd.Series, verdict: str | None, rule: DecisionRule) -> str:
    """``credible``, ``negligible``, ``negative`` or ``uncertain`` for one driver."""
    if verdict == "supported" or (verdict is None and row["bmi_p_positive"] >= rule.pd_min):
        return "credible"
    if row["bmi_p_positive"] < rule.opposite_max:
        return "negative"
    if row["bmi_rope_share"] >= rule.rope_max or verdict == "not supported":
        return "negligible"
    return "uncertain"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _label(d: str, levers: Mapping[str, Lever]) -> str:
    lever = levers.get(d)
    return f"{d} ({lever.name})" if lever else d


@dataclass(frozen=True)
class _Ranking:
    """What every part of the advice reads: drivers by expected rank, their status, the leader.

    Attributes
    ----------
    tab : pandas.DataFrame
        The key-driver table indexed by driver.
    order : list of str
        Drivers by expected rank.
    status : dict
        Driver -> ``credible``, ``negligible``, ``negative`` or ``uncertain``.
    verdicts, hyp_ids : dict
        Parameter -> Bayesian verdict and hypothesis id (empty without a hypothesis table).
    dominance : Dominance
    levers : mapping of str to Lever
    rule : DecisionRule
    what : str
        The ranked effect in words.
    leader : str
        The driver most likely to have the largest effect.
    contenders : list of str
        Drivers the leader does not beat with probability ``close``.
    label : dict
        Driver -> its name with the lever's words.
    """

    tab: pd.DataFrame
    order: list[str]
    status: dict[str, str]
    verdicts: dict[str, str]
    hyp_ids: dict[str, str]
    dominance: Dominance
    levers: Mapping[str, Lever]
    rule: DecisionRule
    what: str
    leader: str
    contenders: list[str]
    label: dict[str, str]

    @property
    def p_lead(self) -> float:
        """Probability that the leader has the largest effect."""
        return float(self.dominance.p_largest[self.leader])

    def beats(self, a: str, b: str) -> float:
        """``P(a > b)``."""
        return float(self.dominance.pairwise.at[a, b])

    def hyp(self, d: str) -> str:
        """``"; H1 supported"`` for a driver with a hypothesis, else ``""``."""
        param = self.tab.at[d, "bmi_param"]
        return f"; {self.hyp_ids[param]} {self.verdicts[param]}" if param in self.hyp_ids else ""

    def with_pd(self, d: str) -> str:
        """``"GP (government policy support; P(effect > 0) = 0.91)"``."""
        lever = self.levers.get(d)
        name = f"{lever.name}; " if lever else ""
        return f"{d} ({name}P(effect > 0) = {self.tab.at[d, 'bmi_p_positive']:.2f})"


def _ranking(
    table: pd.DataFrame,
    dominance: Dominance,
    hypotheses_table: pd.DataFrame | None,
    levers: Mapping[str, Lever],
    close: float,
    rule: DecisionRule,
) -> _Ranking:
    """Classify the drivers and find the leader and its contenders."""
    tab = table.set_index("driver")
    order = [d for d in dominance.order if d in tab.index]
    verdicts: dict[str, str] = {}
    hyp_ids: dict[str, str] = {}
    if hypotheses_table is not None and len(hypotheses_table):
        verdicts = dict(
            zip(hypotheses_table["parameter"], hypotheses_table["bayes_verdict"], strict=True)
        )
        hyp_ids = dict(zip(hypotheses_table["parameter"], hypotheses_table["id"], strict=True))
    status = {d: _status(tab.loc[d], verdicts.get(tab.at[d, "bmi_param"]), rule) for d in order}
    what = "effect on BMI" if dominance.by == "bmi" else "total effect on firm performance"
    what = f"absolute {what}" if dominance.absolute else what
    leader = max(order, key=lambda d: (float(dominance.p_largest[d]), -order.index(d)))
    pw = dominance.pairwise
    contenders = [d for d in order if d != leader and float(pw.at[leader, d]) < close]
    return _Ranking(
        tab=tab,
        order=order,
        status=status,
        verdicts=verdicts,
        hyp_ids=hyp_ids,
        dominance=dominance,
        levers=levers,
        rule=rule,
        what=what,
        leader=leader,
        contenders=contenders,
        label={d: _label(d, levers) for d in order},
    )


def _firm_priorities(k: _Ranking) -> list[str]:
    """The leader, its contenders and the next credible drivers."""
    leader, label, out = k.leader, k.label, []
    lead_row, lead_lever = k.tab.loc[leader], k.levers.get(leader)
    action = f" Invest in {lead_lever.firm_action}." if lead_lever else ""
    if k.status[leader] == "credible":
        out.append(
            f"Prioritise {label[leader]}: it has the largest {k.what} with "
            f"probability {k.p_lead:.2f} ({_effect(lead_row)}{k.hyp(leader)}).{action}"
        )
    else:
        out.append(
            f"{label[leader]} is the most likely top driver (probability {k.p_lead:.2f}) but "
            f"its effect is {k.status[leader]} ({_effect(lead_row)}{k.hyp(leader)}): do not "
            "prioritise it on this evidence alone."
        )
    if k.contenders:
        out.append(
            "The ranking at the top is not settled: "
            + "; ".join(f"P({leader} > {d}) = {k.beats(leader, d):.2f}" for d in k.contenders)
            + f". Treat {_join(k.contenders)} as "
            + ("a comparable priority." if len(k.contenders) == 1 else "comparable priorities.")
        )
    follow = [
        d for d in k.order if d != leader and d not in k.contenders and k.status[d] == "credible"
    ]
    if follow:
        out.append(
            "Next, with credibly positive but smaller effects (by expected rank): "
            + "; ".join(
                f"{label[d]}, median {k.tab.at[d, 'bmi_median']:.2f}, expected rank "
                f"{k.tab.at[d, 'expected_rank']:.1f}"
                for d in follow
            )
            + "."
        )
    return out


def _firm_doubts(k: _Ranking) -> list[str]:
    """Drivers that do not pay (null or negative) and drivers still in doubt."""
    out = []
    for d in [d for d in k.order if k.status[d] in ("negligible", "negative")]:
        row, lever = k.tab.loc[d], k.levers.get(d)
        if k.status[d] == "negative":
            out.append(
                f"{k.label[d]} has a credibly negative effect on BMI ({_effect(row)}; "
                f"P(effect > 0) = {row['bmi_p_positive']:.2f}{k.hyp(d)}): find out why before "
                "investing more here."
            )
            continue
        if lever is not None and not lever.firm_controlled:
            tail = " It is an external condition: monitor it, but do not expect it to drive BMI."
        else:
            tail = " Do not expect BMI gains from investing here."
        out.append(
            f"{k.label[d]} shows no practically relevant effect on BMI ({_effect(row)}; "
            f"{100 * row['bmi_rope_share']:.0f}% of the posterior within the ROPE{k.hyp(d)})."
            + tail
        )
    unsure = [d for d in k.order if k.status[d] == "uncertain"]
    own = [d for d in unsure if k.levers.get(d) is None or k.levers[d].firm_controlled]
    external = [d for d in unsure if d not in own]
    if own:
        out.append(
            f"Evidence is inconclusive for {_join([k.with_pd(d) for d in own])}: pilot before "
            "investing."
        )
    if external:
        out.append(
            f"The role of {_join([k.with_pd(d) for d in external])} is unclear: keep "
            "monitoring it rather than planning around it."
        )
    return out


def _firm_payoff(k: _Ranking) -> list[str]:
    """Whether the leader's effect carries through to performance."""
    row = k.tab.loc[k.leader]
    if not np.isfinite(row["total_median"]):
        return []
    tpos = float(row["total_p_positive"])
    return [
        f"Through BMI, {k.leader} is associated with a standardized total effect on firm "
        f"performance of {row['total_median']:.2f} (95% HDI "
        f"[{row['total_hdi_lower']:.2f}, {row['total_hdi_upper']:.2f}], "
        f"P(> 0) = {tpos:.2f})"
        + (
            "; BMI pays off in performance."
            if tpos >= k.rule.pd_min
            else "; whether BMI pays off in performance is not established."
        )
    ]


def _policy_support(k: _Ranking, policy: str) -> list[str]:
    """The paragraph on direct policy support (the driver that *is* government support)."""
    if policy not in k.tab.index:
        return []
    row, st = k.tab.loc[policy], k.status[policy]
    if st == "credible":
        text = (
            f"Direct policy support ({policy}) works ({_effect(row)}{k.hyp(policy)}), "
            f"expected rank {row['expected_rank']:.1f} of {len(k.order)}; keep it and target "
            "it at BMI."
        )
    elif st == "uncertain":
        text = (
            f"The effect of direct policy support ({policy}) is uncertain "
            f"({_effect(row)}, P(effect > 0) = {row['bmi_p_positive']:.2f}): evaluate "
            "the programmes before expanding them."
        )
    else:
        text = (
            f"Direct policy support ({policy}) shows no practically relevant effect "
            f"on BMI ({_effect(row)}): redesign it rather than scale it up."
        )
    better = [
        d
        for d in k.order
        if d != policy and k.beats(d, policy) >= 0.9 and k.status[d] == "credible"
    ]
    if better:
        text += (
            " Drivers that policy can shape indirectly beat it: "
            + ", ".join(f"P({d} > {policy}) = {k.beats(d, policy):.2f}" for d in better)
            + "."
        )
    return [text]


def _government_advice(k: _Ranking, policy: str) -> list[str]:
    """Policy support, then the drivers policy can shape, then low priorities and open ones."""
    out = _policy_support(k, policy)
    others = [d for d in k.order if d != policy]
    for d in others:
        lever = k.levers.get(d)
        if k.status[d] == "credible" and lever is not None and lever.policy_action:
            out.append(
                f"Support {k.label[d]} through {lever.policy_action}: standardized effect "
                f"{k.tab.at[d, 'bmi_median']:.2f}, expected rank "
                f"{k.tab.at[d, 'expected_rank']:.1f}, largest with probability "
                f"{float(k.dominance.p_largest[d]):.2f}."
            )
    no_use = [d for d in others if k.status[d] in ("negligible", "negative")]
    if no_use:
        out.append(
            f"Low priority for policy: {_join([k.label[d] for d in no_use])}; no practically "
            "relevant effect on BMI in these data."
        )
    open_q = [d for d in others if k.status[d] == "uncertain"]
    if open_q:
        out.append(
            f"Evaluate before funding: the effect of {_join([k.label[d] for d in open_q])} on "
            "BMI is inconclusive in these data."
        )
    return out


def _caveats(k: _Ranking, hypotheses_table: pd.DataFrame | None) -> list[str]:
    """How sure the ranking is, Bayes-ML disagreements, and what the data cannot show."""
    out = [
        f"Ranking by the standardized {k.what}; {k.label[k.leader]} is the most likely "
        f"top driver (probability {k.p_lead:.2f}), the expected ranks are "
        + ", ".join(f"{d} {k.tab.at[d, 'expected_rank']:.1f}" for d in k.order)
        + "."
    ]
    if hypotheses_table is not None and "agree" in hypotheses_table:
        dis = hypotheses_table[hypotheses_table["agree"].fillna(True).eq(False)]
        if len(dis):
            out.append(
                "Bayesian and ML verdicts disagree on "
                + ", ".join(
                    f"{r.id} ({r.parameter}: Bayes {r.bayes_verdict}, ML {r.ml_verdict})"
                    for r in dis.itertuples()
                )
                + "."
            )
    out.append(
        "Effects are associations estimated from cross-sectional survey data; they support "
        "priorities, not causal guarantees."
    )
    return out


def recommendations(
    table: pd.DataFrame,
    dominance: Dominance,
    hypotheses_table: pd.DataFrame | None = None,
    *,
    levers: Mapping[str, Lever] = LEVERS,
    policy_driver: str = "GP",
    close: float = 0.8,
    rule: DecisionRule = DEFAULT_RULE,
) -> Recommendations:
    """Advice for firms and government from the numbers, with their uncertainty.

    Drivers are ordered by expected rank. A driver is "credible" when its hypothesis is
    supported (or, without a hypothesis table, when ``P(effect > 0) >= 0.975``),
    "negligible" when its hypothesis is not supported or its effect is practically null,
    "negative" when the effect is credibly below 0, and "uncertain" otherwise. Drivers the
    leader does not beat with probability ``close`` are named as contenders.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`key_drivers` / :func:`driver_effects`.
    dominance : Dominance
    hypotheses_table : pandas.DataFrame, optional
        From :func:`~bayes_bmi.study.hypotheses.hypothesis_table`; its verdicts (matched on
        ``parameter`` = ``bmi_param``) classify the drivers and disagreements with ML are
        reported.
    levers : mapping
        Driver -> :class:`Lever` (words and actions); unknown drivers get generic wording.
    policy_driver : str
        The driver that *is* government support (its own paragraph for government).
    close : float
        A driver is a contender when ``P(leader > driver) < close``.
    rule : DecisionRule
        Thresholds used without a hypothesis table.

    Returns
    -------
    Recommendations
    """
    k = _ranking(table, dominance, hypotheses_table, levers, close, rule)
    firms = _firm_priorities(k) + _firm_doubts(k) + _firm_payoff(k)
    return Recommendations(
        tuple(firms),
        tuple(_government_advice(k, policy_driver)),
        tuple(_caveats(k, hypotheses_table)),
    )
