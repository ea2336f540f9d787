"""Statements -> parameter table (lavaan's ``lavaanify`` stage).

The parameter table is the central representation of a model: one row per
parameter (free or fixed) plus one row per defined (``:=``) parameter, with
lavaan's columns ``id, lhs, op, rhs, user, block, group, free, ustart, exo,
label, plabel`` and, for the Bayesian engine, ``prior`` (plus ``line``, where the row was
written, and ``expression``, the parsed right-hand side of a ``:=`` row). It carries no matrix
representation (see :mod:`bayes_bmi.lavaan.representation`). :func:`row_name` and
:func:`row_key` name a row; every table, summary and hypothesis uses them.

The defaults follow lavaan's ``sem()``/``cfa()``: the first loading of each
latent variable fixed to 1 (or, with ``std_lv``, latent variances fixed to 1),
residual variances free, covariances among exogenous latent variables and among
pure dependent variables free, exogenous observed covariates fixed at their
sample moments (``fixed.x``), observed intercepts free when a mean structure is
used and latent intercepts fixed to 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import pandas as pd

from bayes_bmi.errors import ModelSpecError
from bayes_bmi.lavaan.expressions import expression_names, parse_expression
from bayes_bmi.lavaan.syntax import Modifiers, Statement

__all__ = [
    "GROUP_EQUAL",
    "ModelOptions",
    "ModelSpecError",
    "VariableNames",
    "build_partable",
    "partable_names",
    "resolve_options",
    "row_key",
    "row_name",
    "variable_names",
]

#: lavaan's ``group.equal`` choices: kinds of parameter that can be held equal across groups.
GROUP_EQUAL = (
    "loadings",
    "intercepts",
    "means",
    "thresholds",
    "regressions",
    "residuals",
    "residual.covariances",
    "lv.variances",
    "lv.covariances",
)

PARTABLE_COLUMNS = (
    "id",
    "lhs",
    "op",
    "rhs",
    "user",
    "block",
    "group",
    "free",
    "ustart",
    "exo",
    "label",
    "plabel",
    "prior",
    "line",
    "expression",
)


@dataclass(frozen=True)
class ModelOptions:
    """Options of the parameter-table stage (lavaan's ``sem()`` defaults).

    Parameters
    ----------
    std_lv : bool
        Identify latent variables by fixing their (residual) variances to 1 and freeing every
        loading, instead of fixing the first loading to 1.
    meanstructure : bool or None
        Model the means. ``None`` (default) turns it on when the model has an intercept
        statement (``~ 1``), as lavaan does (:func:`resolve_options`; a specified
        :class:`~bayes_bmi.lavaan.model.Model` holds the resolved value).
    fixed_x : bool
        Fix the variances, covariances and means of exogenous observed covariates at their
        sample values.
    auto_cov_y : bool
        Free residual covariances among pure dependent variables.
    auto_cov_lv_x : bool
        Free covariances among exogenous latent variables.
    ordered : tuple of (str, int)
        Ordered-categorical observed variables and their number of thresholds (categories
        minus one), as lavaan's ``ordered =``. Each gets free threshold rows ``x | t1, ...``
        and, in the delta parameterisation, a fixed intercept 0, a scale row ``x ~*~ x`` fixed
        at 1 and a residual variance that is not free (``1 - `` its explained variance, set by
        the fit); the means are modelled. Empty (default): a continuous model, unchanged.
    ngroups : int
        Number of groups (lavaan's ``group =``): the table holds one block per group, rows of
        group ``g`` with ``group == g`` (1-based), and the means are modelled by default (as
        lavaan does for more than one group).
    group_equal : tuple of str
        Kinds of parameter held equal across groups (lavaan's ``group.equal``, one of
        :data:`GROUP_EQUAL`): each free row of a later group shares the label (and so the
        free index) of the same row of group 1, named by its ``plabel`` (``.p2.``). With
        ``"intercepts"`` but not ``"means"``, latent means are free in groups 2, 3, ...; with
        ``std_lv`` and ``"loadings"``, latent variances are free there (as lavaan).
    group_partial : tuple of str
        Rows exempt from ``group_equal`` (lavaan's ``group.partial``), written ``"f=~x2"``,
        ``"x3~1"``, ``"x1~~x2"``.
    """

    std_lv: bool = False
    meanstructure: bool | None = None
    fixed_x: bool = True
    auto_cov_y: bool = True
    auto_cov_lv_x: bool = True
    ordered: tuple[tuple[str, int], ...] = ()
    ngroups: int = 1
    group_equal: tuple[str, ...] = ()
    group_partial: tuple[str, ...] = ()


@dataclass(frozen=True)
class VariableNames:
    """Kinds of variable in a model, in lavaan's order.

    Attributes
    ----------
    ov : tuple of str
        Observed variables: indicators, then pure dependent, then exogenous, then others.
    lv : tuple of str
        Latent variables (left-hand sides of ``=~``), in order of appearance.
    ov_x : tuple of str
        Exogenous observed covariates (appear only as predictors in regressions).
    ov_y : tuple of str
        Observed variables that are pure dependents (not indicators, not predictors).
    lv_x : tuple of str
        Exogenous latent variables (neither indicators nor dependents).
    lv_y : tuple of str
        Latent variables that are pure dependents.
    ov_ind : tuple of str
        Observed indicators of latent variables.
    """

    ov: tuple[str, ...]
    lv: tuple[str, ...]
    ov_x: tuple[str, ...]
    ov_y: tuple[str, ...]
    lv_x: tuple[str, ...]
    lv_y: tuple[str, ...]
    ov_ind: tuple[str, ...]

    @property
    def ov_nox(self) -> tuple[str, ...]:
        """Observed variables that are not fixed exogenous covariates."""
        return tuple(v for v in self.ov if v not in self.ov_x)


def _unique(seq: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for s in seq:
        seen.setdefault(s, None)
    return list(seen)


def variable_names(rows: Sequence[tuple[str, str, str]], user_mentioned: set[str]) -> VariableNames:
    """Classify the variables of a model from its ``(lhs, op, rhs)`` rows.

    Parameters
    ----------
    rows : sequence of (lhs, op, rhs)
        The user's model rows (``:=`` rows excluded).
    user_mentioned : set of str
        Observed variables that the user named in a ``~~`` or ``~1`` statement; lavaan does not
        treat these as fixed exogenous covariates.

    Returns
    -------
    VariableNames
    """
    lv = _unique(lhs for lhs, op, _ in rows if op == "=~")
    eqs_y = _unique(lhs for lhs, op, _ in rows if op == "~")
    eqs_x = _unique(rhs for _, op, rhs in rows if op == "~")
    v_ind = _unique(rhs for _, op, rhs in rows if op == "=~")
    ov_ind = [v for v in v_ind if v not in lv]
    ov_y_all = [v for v in eqs_y if v not in lv and v not in ov_ind]
    ov_x_all = [v for v in eqs_x if v not in lv and v not in ov_ind and v not in ov_y_all]
    extra = []
    for lhs, op, rhs in rows:
        if op == "~~":
            extra += [v for v in (lhs, rhs) if v not in lv]
        elif op == "~1" and lhs not in lv:
            extra.append(lhs)
    ov = _unique([*ov_ind, *ov_y_all, *ov_x_all, *extra])
    ov_x = [v for v in ov_x_all if v not in user_mentioned]
    lv_x = [v for v in lv if v not in v_ind and v not in eqs_y]
    ov_y = [v for v in eqs_y if v not in v_ind and v not in eqs_x and v not in lv]
    lv_y = [v for v in eqs_y if v in lv and v not in v_ind and v not in eqs_x]
    return VariableNames(
        ov=tuple(ov),
        lv=tuple(lv),
        ov_x=tuple(ov_x),
        ov_y=tuple(ov_y),
        lv_x=tuple(lv_x),
        lv_y=tuple(lv_y),
        ov_ind=tuple(ov_ind),
    )


@dataclass
class _Row:
    lhs: str
    op: str
    rhs: str
    user: int
    mods: Modifiers
    line: int
    exo: int = 0
    default_free: bool = True
    default_value: float = math.nan


def _merge(a: Modifiers, b: Modifiers, where: str) -> Modifiers:
    """Merge the modifiers of a term that the user wrote twice."""
    out = {}
    for field in ("fixed", "start", "label", "prior"):
        va, vb = getattr(a, field), getattr(b, field)
        if va is not None and vb is not None and va != vb:
            raise ModelSpecError(f"{where}: conflicting {field} modifiers {va!r} and {vb!r}")
        out[field] = vb if vb is not None else va
    free = a.free or b.free
    if free and out["fixed"] is not None:
        raise ModelSpecError(f"{where}: the parameter is both fixed and freed (NA)")
    return Modifiers(free=free, **out)


def row_key(lhs: str, op: str, rhs: str) -> tuple[str, str, str]:
    """Identity of a parameter-table row: ``(lhs, op, rhs)`` with ``~~`` made symmetric.

    ``a ~~ b`` and ``b ~~ a`` are one parameter; the key puts the smaller name first.
    """
    if op == "~~" and rhs < lhs:
        return (rhs, op, lhs)
    return (lhs, op, rhs)


def row_name(lhs: str, op: str, rhs: str) -> str:
    """Name of a parameter-table row, as summaries, hypotheses and coordinates show it.

    ``visual=~x1``, ``y~x``, ``x1~~x2``, ``x1~1``; a ``:=`` row is named by its ``lhs``
    (``ind``).

    Examples
    --------
    >>> row_name("visual", "=~", "x1"), row_name("x1", "~1", ""), row_name("ind", ":=", "a*b")
    ('visual=~x1', 'x1~1', 'ind')
    """
    if op == ":=":
        return lhs
    if op == "~1":
        return f"{lhs}~1"
    return f"{lhs}{op}{rhs}"


def resolve_options(
    statements: Sequence[Statement], options: ModelOptions | None = None
) -> ModelOptions:
    """The options with ``meanstructure`` decided: on when asked or when a ``~ 1`` is written.

    A model with ordered variables always models the means (as lavaan does).
    """
    options = options or ModelOptions()
    if options.ordered and not options.meanstructure:
        return replace(options, meanstructure=True)
    if options.meanstructure is not None:
        return options
    if options.ngroups > 1:  # lavaan: more than one group models the means by default
        return replace(options, meanstructure=True)
    return replace(options, meanstructure=any(st.op == "~1" for st in statements))


def build_partable(
    statements: Sequence[Statement],
    options: ModelOptions | None = None,
    *,
    filename: str | None = None,
) -> pd.DataFrame:
    """Turn parsed statements into a lavaan-style parameter table.

    Parameters
    ----------
    statements : sequence of Statement
        Output of :func:`bayes_bmi.lavaan.syntax.parse_model`.
    options : ModelOptions, optional
        Defaults to lavaan's ``sem()`` defaults.
    filename : str, optional
        Model file name, used in error messages.

    Returns
    -------
    pandas.DataFrame
        One row per parameter with the columns in ``PARTABLE_COLUMNS``; ``free`` is 0 for fixed
        rows and the 1-based index of the free parameter otherwise (rows sharing a label share an
        index: an equality constraint). ``ustart`` holds the fixed value (or the user's start
        value); ``NaN`` where the value comes from data (``exo`` rows) or start values.
        ``expression`` holds the parsed right-hand side of each ``:=`` row
        (:mod:`bayes_bmi.lavaan.expressions`; ``None`` elsewhere), the tree the syntax parser
        kept on the statement: parsed once, and evaluated wherever defined parameters are
        computed (:func:`bayes_bmi.lavaan.standardized.defined_values`).

    Raises
    ------
    ModelSpecError
        For constraints that are not supported, conflicting modifiers, a ``:=`` that uses an
        undefined label, or a model without any parameter.
    """
    options = resolve_options(statements, options)
    where_file = filename or "<model>"

    user_rows: dict[tuple[str, str, str], _Row] = {}
    defined: list[Statement] = []
    for st in statements:
        where = f"{where_file}:{st.line}"
        if st.op == ":=":
            defined.append(st)
            continue
        if st.op in ("==", "<", ">"):
            raise ModelSpecError(
                f"{where}: explicit constraints ('{st.op}') are not supported yet; "
                "give parameters the same label to make them equal"
            )
        for term in st.terms:
            if st.op == "~1":
                lhs, op, rhs = st.lhs, "~1", ""
            else:
                lhs, op, rhs = st.lhs, st.op, term.name
            key = row_key(lhs, op, rhs)
            if key in user_rows:
                row = user_rows[key]
                row.mods = _merge(row.mods, term.modifiers, where)
            else:
                user_rows[key] = _Row(lhs, op, rhs, 1, term.modifiers, term.line)

    if not user_rows:
        raise ModelSpecError(f"{where_file}: the model has no parameters (only definitions)")

    rows3 = [(r.lhs, r.op, r.rhs) for r in user_rows.values()]
    mentioned = {r.lhs for r in user_rows.values() if r.op in ("~~", "~1")} | {
        r.rhs for r in user_rows.values() if r.op == "~~"
    }
    names = variable_names(rows3, mentioned)
    ordered = _check_ordered(options.ordered, names, user_rows, where_file)
    records = []
    for g in range(options.ngroups):
        rows_g = _rows_for_group(user_rows, g, options.ngroups, where_file)
        block = _block_records(rows_g, names, options, ordered)
        for rec in block:
            rec["group"] = g + 1
        records += block
    if options.ngroups > 1:
        _free_in_later_groups(records, names, options)
        _equal_across_groups(records, names, options, where_file)

    # labels shared with a fixed row are fixed at that value
    fixed_label_value: dict[str, float] = {}
    for rec in records:
        if rec["label"] and not rec["free_flag"] and not rec["exo"]:
            fixed_label_value.setdefault(rec["label"], rec["ustart"])
    free_index: dict[str, int] = {}
    counter = 0
    for rec in records:
        lab = rec["label"]
        if lab and lab in fixed_label_value:
            rec["free_flag"] = False
            rec["ustart"] = fixed_label_value[lab]
        if rec["free_flag"]:
            if lab and lab in free_index:
                rec["free"] = free_index[lab]
            else:
                counter += 1
                rec["free"] = counter
                if lab:
                    free_index[lab] = counter
        else:
            rec["free"] = 0
        del rec["free_flag"]

    # --- defined parameters ---
    known = {rec["label"] for rec in records if rec["label"]}
    for st in defined:
        where = f"{where_file}:{st.line}"
        if st.lhs in known:
            raise ModelSpecError(f"{where}: '{st.lhs}' is defined twice (as a label or ':=')")
        expr = st.expression if st.expression is not None else parse_expression(st.expr or "")
        missing = sorted(expression_names(expr) - known)
        if missing:
            raise ModelSpecError(
                f"{where}: '{st.lhs} := {st.expr}' uses {', '.join(repr(m) for m in missing)}, "
                "which no parameter carries as a label; label a parameter first, "
                "e.g. 'y ~ a*x'"
            )
        known.add(st.lhs)
        records.append(
            {
                "lhs": st.lhs,
                "op": ":=",
                "rhs": "".join((st.expr or "").split()),  # lavaan strips blanks
                "user": 1,
                "ustart": math.nan,
                "exo": 0,
                "label": st.lhs,
                "prior": "",
                "line": st.line,
                "free": 0,
                "expression": expr,
                "group": 1 if options.ngroups == 1 else 0,  # lavaan: group 0 with groups
            }
        )

    pt = pd.DataFrame.from_records(records)
    pt.insert(0, "id", np.arange(1, len(pt) + 1))
    pt["group"] = pt["group"].astype(int)
    pt["block"] = pt["group"]
    pt["plabel"] = [f".p{i}." for i in pt["id"]]
    return pt[list(PARTABLE_COLUMNS)].copy()


def _rows_for_group(
    user_rows: dict[tuple[str, str, str], _Row], g: int, ngroups: int, where: str
) -> dict[tuple[str, str, str], _Row]:
    """The user's rows with the modifiers of group ``g`` (0-based) taken from ``c(...)``."""
    out = {}
    for key, r in user_rows.items():
        if r.mods.groups and len(r.mods.groups) != ngroups:
            raise ModelSpecError(
                f"{where}:{r.line}: c(...) on '{row_name(r.lhs, r.op, r.rhs)}' gives "
                f"{len(r.mods.groups)} values but the data have {ngroups} group(s); give one "
                "value per group (group= names the grouping column)"
            )
        out[key] = replace(r, mods=r.mods.for_group(g))
    return out


def _equal_kind(lhs: str, op: str, rhs: str, names: VariableNames) -> str:
    """The ``group.equal`` kind of a row (``""`` when none applies)."""
    lv = set(names.lv)
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "|":
        return "thresholds"
    if op == "~1":
        return "means" if lhs in lv else "intercepts"
    if op == "~~":
        if lhs == rhs:
            return "lv.variances" if lhs in lv else "residuals"
        return "lv.covariances" if lhs in lv and rhs in lv else "residual.covariances"
    return ""


def _free_in_later_groups(records: list[dict], names: VariableNames, options: ModelOptions) -> None:
    """Identification with equal parameters (lavaan): free latent means / variances in g > 1.

    With equal intercepts (but not equal means), the latent means are free in every group but
    the first; with ``std_lv`` and equal loadings, so are the latent variances.
    """
    equal = set(options.group_equal)
    lv = set(names.lv)
    for rec in records:
        if rec["group"] == 1 or rec["user"] or rec["lhs"] not in lv:
            continue
        mean = rec["op"] == "~1" and "intercepts" in equal and "means" not in equal
        var = (
            rec["op"] == "~~"
            and rec["lhs"] == rec["rhs"]
            and options.std_lv
            and "loadings" in equal
            and "lv.variances" not in equal
        )
        if mean or var:
            rec["free_flag"], rec["ustart"] = True, math.nan


def _equal_across_groups(
    records: list[dict], names: VariableNames, options: ModelOptions, where: str
) -> None:
    """``group.equal``: a free row of a later group takes the label of group 1's row.

    An unlabelled row of group 1 is labelled by its ``plabel`` (``.p2.``), as lavaan shows it;
    rows listed in ``group_partial`` stay free in every group.
    """
    unknown = sorted(set(options.group_equal) - set(GROUP_EQUAL))
    if unknown:
        raise ModelSpecError(
            f"{where}: unknown group_equal {', '.join(repr(u) for u in unknown)}. "
            f"Must be among: {', '.join(GROUP_EQUAL)}"
        )
    partial = {_partial_key(text, where) for text in options.group_partial}
    keys = {row_key(rec["lhs"], rec["op"], rec["rhs"]) for rec in records}
    missing = [text for text in options.group_partial if _partial_key(text, where) not in keys]
    if missing:
        raise ModelSpecError(
            f"{where}: group_partial {', '.join(repr(m) for m in missing)} names no parameter "
            "of the model; write rows as 'f=~x2', 'x3~1' or 'x1~~x2'"
        )
    equal = set(options.group_equal)
    first: dict[tuple[str, str, str], int] = {}
    for i, rec in enumerate(records):
        key = row_key(rec["lhs"], rec["op"], rec["rhs"])
        if rec["group"] == 1:
            first[key] = i
            continue
        if (
            not rec["free_flag"]
            or rec["label"]
            or key in partial
            or _equal_kind(*key, names) not in equal
            or key not in first
        ):
            continue
        head = records[first[key]]
        if not head["free_flag"]:
            continue
        if not head["label"]:
            head["label"] = f".p{first[key] + 1}."
        rec["label"] = head["label"]


def _partial_key(text: str, where: str) -> tuple[str, str, str]:
    """``"f =~ x2"`` -> ``("f", "=~", "x2")``; ``"x3 ~ 1"`` -> ``("x3", "~1", "")``."""
    compact = "".join(text.split())
    for op in ("=~", "~~", "~*~", "|", "~"):
        if op in compact:
            lhs, rhs = compact.split(op, 1)
            if op == "~" and rhs == "1":
                return (lhs, "~1", "")
            return row_key(lhs, op, rhs)
    raise ModelSpecError(
        f"{where}: group_partial {text!r} is not a parameter; write rows as 'f=~x2', 'x3~1' "
        "or 'x1~~x2'"
    )


def _block_records(
    user_rows: dict[tuple[str, str, str], _Row],
    names: VariableNames,
    options: ModelOptions,
    ordered: dict[str, int],
) -> list[dict]:
    """The rows of one block (group): the user's rows, then lavaan's default rows.

    Each record has ``free_flag`` (free or fixed) instead of the free index, which the
    caller assigns over every block (labels shared between rows and groups share one index).
    """  # noqa: D401 - long because it keeps lavaan's default-row order in one place
    meanstructure = options.meanstructure
    x_fixed = set(names.ov_x) if options.fixed_x else set()

    # --- default rows (lavaan order: variances, lv.x covariances, y covariances, x block,
    #     intercepts), skipped where the user wrote the same parameter ---
    defaults: list[_Row] = []
    none = Modifiers()

    def add_default(lhs: str, op: str, rhs: str, free: bool, value: float, exo: int = 0) -> None:
        key = row_key(lhs, op, rhs)
        if key in user_rows or any(row_key(d.lhs, d.op, d.rhs) == key for d in defaults):
            return
        defaults.append(_Row(lhs, op, rhs, 0, none, 0, exo, free, value))

    for v, nth in ordered.items():
        for t in range(1, nth + 1):
            add_default(v, "|", f"t{t}", True, math.nan)
    for v in names.ov_nox:
        # delta parameterisation: an ordered item's residual variance is 1 - explained, not free
        add_default(v, "~~", v, v not in ordered, 1.0 if v in ordered else math.nan)
    for f in names.lv:
        if options.std_lv:
            add_default(f, "~~", f, False, 1.0)
        else:
            add_default(f, "~~", f, True, math.nan)
    if options.auto_cov_lv_x:
        for a, b in combinations(names.lv_x, 2):
            add_default(a, "~~", b, True, math.nan)
    if options.auto_cov_y:
        for a, b in combinations([*names.lv_y, *names.ov_y], 2):
            add_default(a, "~~", b, True, math.nan)
    ov_x = list(names.ov_x)
    for i, a in enumerate(ov_x):
        for b in ov_x[i:]:
            fixed = a in x_fixed
            add_default(b, "~~", a, not fixed, math.nan, exo=int(fixed))
    for v in ordered:
        add_default(v, "~*~", v, False, 1.0)
    if meanstructure:
        for v in names.ov:
            fixed = v in x_fixed
            if v in ordered:  # the thresholds carry the location of an ordered item
                add_default(v, "~1", "", False, 0.0)
            else:
                add_default(v, "~1", "", not fixed, math.nan, exo=int(fixed))
        for f in names.lv:
            add_default(f, "~1", "", False, 0.0)

    # --- free/fixed status of user rows ---
    first_indicator: dict[str, tuple[str, str, str]] = {}
    for key, r in user_rows.items():
        if r.op == "=~" and r.lhs not in first_indicator:
            first_indicator[r.lhs] = key
    n_ind: dict[str, list[str]] = {}
    for r in user_rows.values():
        if r.op == "=~":
            n_ind.setdefault(r.lhs, []).append(r.rhs)

    all_rows = list(user_rows.values()) + defaults
    records = []
    for r in all_rows:
        mods = r.mods
        if r.user:
            if mods.fixed is not None:
                free, ustart = False, float(mods.fixed)
            elif mods.free:
                free, ustart = True, math.nan
            elif (
                r.op == "=~"
                and not options.std_lv
                and first_indicator.get(r.lhs) == (r.lhs, r.op, r.rhs)
            ):
                free, ustart = False, 1.0
            else:
                free, ustart = True, math.nan
            if free and mods.start is not None:
                ustart = float(mods.start)
        else:
            free, ustart = r.default_free, r.default_value
            # auto.fix.single: a latent variable with a single observed indicator
            if r.op == "~~" and r.lhs == r.rhs and r.lhs in names.ov:
                for inds in n_ind.values():
                    if inds == [r.lhs]:
                        free, ustart = False, 0.0
        records.append(
            {
                "lhs": r.lhs,
                "op": r.op,
                "rhs": r.rhs,
                "user": r.user,
                "free_flag": free,
                "ustart": ustart,
                "exo": r.exo,
                "label": mods.label or "",
                "prior": mods.prior or "",
                "line": r.line,
                "expression": None,
            }
        )

    return records


def _check_ordered(
    ordered: Sequence[tuple[str, int]],
    names: VariableNames,
    user_rows: dict[tuple[str, str, str], _Row],
    where: str,
) -> dict[str, int]:
    """The ordered variables as ``{name: thresholds}``, refusing what the table cannot hold."""
    out = dict(ordered)
    for v, nth in out.items():
        if v not in names.ov:
            raise ModelSpecError(f"{where}: '{v}' is declared ordered but is not in the model")
        if v in names.ov_x:
            raise ModelSpecError(
                f"{where}: '{v}' is ordered and an exogenous covariate; ordered covariates "
                "are not supported: treat it as continuous or give it a factor"
            )
        if int(nth) < 1:
            raise ModelSpecError(f"{where}: '{v}' is ordered but has {nth} thresholds")
        row = user_rows.get((v, "~~", v))
        if row is not None and row.mods.fixed is None:
            raise ModelSpecError(
                f"{where}:{row.line}: '{v} ~~ {v}' frees the residual variance of an ordered "
                "item; in the delta parameterisation it is 1 minus the explained variance"
            )
    return out


def partable_names(pt: pd.DataFrame) -> VariableNames:
    """Recompute the :class:`VariableNames` of a built parameter table."""
    model = pt[pt["op"] != ":="]
    user = model[model["user"] == 1]
    rows3 = list(zip(user["lhs"], user["op"], user["rhs"], strict=True))
    mentioned = set(user.loc[user["op"].isin(["~~", "~1"]), "lhs"]) | set(
        user.loc[user["op"] == "~~", "rhs"]
    )
    return variable_names(rows3, mentioned)
