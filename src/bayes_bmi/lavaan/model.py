"""A specified model: syntax -> statements -> parameter table -> representation.

:func:`specify` runs the pure stages on model text; :func:`read_model` adds the file read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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

__all__ = ["Model", "read_model", "specify"]


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
    free : FreeMap
        How the free-parameter vector fills the table (shared by the ML and Bayesian fits).
    """

    text: str
    filename: str | None
    options: ModelOptions
    statements: tuple[Statement, ...]
    partable: pd.DataFrame
    representation: Representation
    free: FreeMap

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
    rep = represent(pt, meanstructure=bool(options.meanstructure))
    if not rep.ov_names:
        raise ModelSpecError(f"{filename or '<model>'}: the model has no observed variables")
    return Model(
        text=text,
        filename=filename,
        options=options,
        statements=statements,
        partable=pt,
        representation=rep,
        free=free_map(pt, rep),
    )


def read_model(path: str | Path, options: ModelOptions | None = None) -> Model:
    """Read a ``.lav`` model file and specify it (see :func:`specify`)."""
    path = existing_file(path, "model", ModelSpecError)
    return specify(path.read_text(encoding="utf-8"), filename=str(path), options=options)
