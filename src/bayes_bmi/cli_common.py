"""Shared pieces of the command-line modules: error handling, tables and PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import wraps
from typing import Any

import typer

__all__ = ["friendly", "png_bytes", "print_table", "user_errors"]


def user_errors() -> tuple[type[Exception], ...]:
    """Every exception that means "bad input", not "bug" (imported lazily)."""
    from bayes_bmi.cli_measurement import MeasurementError
    from bayes_bmi.compare import ComparisonError
    from bayes_bmi.data import DataError
    from bayes_bmi.experts import ExpertError
    from bayes_bmi.expressions import ExpressionError
    from bayes_bmi.hypotheses import HypothesisError
    from bayes_bmi.literature import LiteratureError
    from bayes_bmi.partable import ModelSpecError
    from bayes_bmi.pca import PCAError
    from bayes_bmi.priors import PriorError
    from bayes_bmi.reliability import ReliabilityError
    from bayes_bmi.syntax import ModelSyntaxError

    return (
        ComparisonError,
        DataError,
        ExpertError,
        ExpressionError,
        HypothesisError,
        LiteratureError,
        MeasurementError,
        ModelSpecError,
        ModelSyntaxError,
        PCAError,
        PriorError,
        ReliabilityError,
    )


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected user errors into ``error: ...`` on stderr and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except user_errors() as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def print_table(df: Any, title: str) -> None:
    """Print a DataFrame as a plain table under a title (3 decimals, blanks for NaN)."""
    import pandas as pd

    typer.echo(f"\n{title}")
    with pd.option_context(
        "display.max_rows", 500, "display.max_columns", 40, "display.width", 160
    ):
        typer.echo(df.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep=""))


def png_bytes(fig: Any, dpi: int = 150, **savefig: Any) -> bytes:
    """Render a matplotlib Figure to PNG bytes (extra keywords go to ``savefig``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, **savefig)
    return buf.getvalue()
