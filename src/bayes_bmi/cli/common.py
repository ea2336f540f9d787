"""Shared pieces of the command-line modules: error handling, input checks, tables, PNG bytes.

This module loads only typer and the standard library: a command checks its arguments here
(:func:`check_inputs`) before it imports the numerical stack, so a user error is reported at
once.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import Any

import typer

from bayes_bmi.errors import (
    BayesBmiError,
    DataError,
    ModelSpecError,
    OptionError,
    existing_file,
)
from bayes_bmi.plots.render import png_bytes

__all__ = ["check_inputs", "friendly", "png_bytes", "print_table"]


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


def check_inputs(
    *, models: Iterable[Path] = (), data: Path | None = None, out: Path | None = None
) -> None:
    """Check a command's input files and output folder (standard library only).

    Raises
    ------
    ModelSpecError, DataError
        A model or data file that does not exist.
    OptionError
        ``--out`` names an existing file rather than a folder.
    """
    for path in models:
        existing_file(path, "model", ModelSpecError)
    if data is not None:
        existing_file(data, "data", DataError)
    if out is not None and out.exists() and not out.is_dir():
        raise OptionError(f"--out {out}: is a file; give a folder to write into")


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
