"""A specified model: syntax -> statements -> parameter table -> representation.

:func:`specify` runs the pure stages on model text; :func:`read_model` adds the file read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_bmi.errors import existing_file
from bayes_bmi.lavaan.partable import (
    ModelOptions,
    ModelSpecError,
    build_partable,
    resolve_options,
)
from bayes_bmi.lavaan.representation import FreeMap, Representation, free_map, represent
from bayes_bmi.lavaan.syntax import Statement, parse_model

__all__ = ["GroupBlock", "Model", "read_model", "specify"]


@dataclass(frozen=True, eq=False)
class GroupBlock:
    """One group of a multi-group model: its rows of the table and their matrices.

    Attributes
    ----------
    group : int
        1-based group number (the table's ``group`` column).
    rows : numpy.ndarray
        The group's rows of the full parameter table (``:=`` rows belong to no group).
    partable : pandas.DataFrame
        Those rows as a table of their own (index reset), the single-group view.
    representation : Representation
        The group's matrices (every group has the same variables).
    free : FreeMap
        How the model's free vector (all groups, shared labels counted once) fills this
        group's rows: ``rows`` index ``partable``, ``k`` indexes the full free vector.
    """

    group: int
    rows: np.ndarray
    partable: pd.DataFrame
    representation: Representation
    free: FreeMap


@dataclass(frozen=True, eq=False)
class Model:
    """A model ready to be fitted.

    Attributes
    ----------
    text : str
        The lavaan syntax.
    filename : str or None
        Where the syntax came from.
    options : ModelOptions
        The options the table was built with, ``meanstructure`` resolved to a bool.
    statements : tuple of Statement
    partable : pandas.DataFrame
        The parameter table (treat as read-only); its ``expression`` column holds the parsed
        ``:=`` expressions.
    representation : Representation
        With groups: that of group 1 (every group has the same variables); see ``blocks``.
    free : FreeMap
        How the free-parameter vector fills the table (shared by the ML and Bayesian fits).
    blocks : tuple of GroupBlock
        With more than one group (``options.ngroups > 1``): one entry per group; empty for a
        single-group model.
    """

    text: str
    filename: str | None
    options: ModelOptions
    statements: tuple[Statement, ...]
    partable: pd.DataFrame
    representation: Representation
    free: FreeMap
    blocks: tuple[GroupBlock, ...] = ()

    @property
    def ngroups(self) -> int:
        """Number of groups (1 for a single-group model)."""
        return max(len(self.blocks), 1)

    @property
    def ov_names(self) -> tuple[str, ...]:
        """Observed variables of the model, in model order."""
        return self.representation.ov_names

    @property
    def nparam(self) -> int:
        """Number of free parameters (equality-constrained ones counted once)."""
        return self.free.nparam


def specify(
    text: str, *, filename: str | None = None, options: ModelOptions | None = None
) -> Model:
    """Parse model syntax and build its parameter table and matrix representation.

    Parameters
    ----------
    text : str
        Model in lavaan syntax.
    filename : str, optional
        Used in error messages.
    options : ModelOptions, optional
        lavaan ``sem()`` defaults when omitted.

    Returns
    -------
    Model

    Raises
    ------
    bayes_bmi.lavaan.syntax.ModelSyntaxError
        On a syntax error (with file, line, column and caret).
    ModelSpecError
        When the statements do not make an estimable table.
    """
    statements = parse_model(text, filename=filename)
    options = resolve_options(statements, options)
    pt = build_partable(statements, options, filename=filename)
    if options.ngroups > 1:
        blocks = _group_blocks(pt, bool(options.meanstructure))
        rep = blocks[0].representation
        free = _global_free_map(pt, blocks)
    else:
        blocks = ()
        rep = represent(pt, meanstructure=bool(options.meanstructure))
        free = free_map(pt, rep)
    if not rep.ov_names:
        raise ModelSpecError(f"{filename or '<model>'}: the model has no observed variables")
    return Model(
        text=text,
        filename=filename,
        options=options,
        statements=statements,
        partable=pt,
        representation=rep,
        free=free,
        blocks=blocks,
    )


def _group_blocks(pt: pd.DataFrame, meanstructure: bool) -> tuple[GroupBlock, ...]:
    """Split a multi-group table into one :class:`GroupBlock` per group."""
    nparam = int(pt["free"].max())
    out = []
    for g in sorted(set(pt["group"]) - {0}):
        rows = np.flatnonzero((pt["group"] == g).to_numpy() & (pt["op"] != ":=").to_numpy())
        sub = pt.iloc[rows].reset_index(drop=True)
        rep = represent(sub, meanstructure=meanstructure)
        local = free_map(sub, rep)
        free = FreeMap(rows=local.rows, k=local.k, nparam=nparam, entries=local.entries)
        out.append(GroupBlock(int(g), rows, sub, rep, free))
    return tuple(out)


def _global_free_map(pt: pd.DataFrame, blocks: tuple[GroupBlock, ...]) -> FreeMap:
    """The free map of the whole multi-group table (``entries`` from each group's matrices)."""
    rows = np.concatenate([b.rows[b.free.rows] for b in blocks])
    order = np.argsort(rows, kind="stable")
    parts = [np.concatenate([b.free.entries[j] for b in blocks])[order] for j in range(4)]
    return FreeMap(
        rows=rows[order],
        k=parts[0],
        nparam=int(pt["free"].max()),
        entries=tuple(parts),
    )


def read_model(path: str | Path, options: ModelOptions | None = None) -> Model:
    """Read a ``.lav`` model file and specify it (see :func:`specify`)."""
    path = existing_file(path, "model", ModelSpecError)
    return specify(path.read_text(encoding="utf-8"), filename=str(path), options=options)
