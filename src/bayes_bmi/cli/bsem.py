"""The ``--bsem-sd`` options of ``bayes-bmi fit`` and the BSEM table it writes and prints."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bayes_bmi.errors import OptionError

if TYPE_CHECKING:
    from bayes_bmi.api import BayesFit

__all__ = ["BsemResiduals", "BsemSd", "bsem_output", "check_bsem"]

BsemSd = Annotated[
    float | None,
    typer.Option(
        "--bsem-sd",
        help="BSEM: free every cross-loading with prior normal(0, SD) on the standardized "
        "scale (e.g. 0.1); writes bsem.csv.",
    ),
]
BsemResiduals = Annotated[
    bool,
    typer.Option(
        "--bsem-residuals",
        help="With --bsem-sd: also every residual correlation (prior mean 0, sd SD).",
    ),
]


def check_bsem(bsem_sd: float | None, residuals: bool) -> None:
    """``--bsem-sd`` positive; ``--bsem-residuals`` only with it.

    Raises
    ------
    OptionError
    """
    if bsem_sd is None:
        if residuals:
            raise OptionError("--bsem-residuals needs --bsem-sd")
        return
    if not (math.isfinite(bsem_sd) and bsem_sd > 0):
        raise OptionError(f"--bsem-sd {bsem_sd:g}: must be a positive number such as 0.1")


def bsem_output(fitted: BayesFit, path: Path) -> None:
    """Write the BSEM table and print the rows whose 95% HDI excludes 0."""
    from bayes_bmi.io import atomic_write_csv

    table = fitted.cross_loadings()
    atomic_write_csv(path, table)
    flagged = table[table["excludes_zero"]]
    typer.echo(
        f"\nBSEM: {len(flagged)} of {len(table)} added parameter(s) with a 95% HDI excluding 0"
        + (":" if len(flagged) else "")
    )
    for row in flagged.itertuples(index=False):
        typer.echo(
            f"  {row.lhs} {row.op} {row.rhs}: est {row.est:.3f} "
            f"[{row.hdi_lower:.3f}, {row.hdi_upper:.3f}], std.all {row.std_all:.3f}"
        )
