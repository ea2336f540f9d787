"""Shared pieces of the command-line modules: error handling, tables and PNG bytes."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any

import typer

from bayes_bmi.errors import BayesBmiError
from bayes_bmi.plots.render import png_bytes

__all__ = ["friendly", "png_bytes", "print_table"]


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected user errors into ``error: ...`` on stderr and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BayesBmiError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception:
            traceback.print_exc()
            typer.echo(
                "bayes-bmi: internal error (a bug, not your input): please report it with the "
                "traceback above.",
                err=True,
            )
            raise typer.Exit(code=3) from None

    return wrapper


def print_table(df: Any, title: str) -> None:
    """Print a DataFrame as a plain table under a title.

    Numbers get 3 decimals, or two significant digits in exponent form when they are very
    large or very small (:func:`~bayes_bmi.report.document.format_number`); NaN is blank.
    """
    import pandas as pd

    from bayes_bmi.report.document import format_number

    typer.echo(f"\n{title}")
    with pd.option_context(
        "display.max_rows", 500, "display.max_columns", 40, "display.width", 160
    ):
        typer.echo(df.to_string(index=False, float_format=format_number, na_rep=""))
