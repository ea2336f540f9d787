"""Command line: ``bayes-bmi rerun DIR`` and ``bayes-bmi examples --out DIR``.

``rerun`` reads the :mod:`provenance <bayes_bmi.provenance>` a command recorded in its output
folder, checks that the input files are the ones it read (a changed or missing file is named),
says which package versions differ from the recorded ones, runs the recorded command again
into a temporary folder and compares every CSV table with the recorded folder's, byte for
byte. Exit code 0 when the inputs are unchanged and every table came out identical, 1
otherwise, 2 when it cannot rerun (no record, a missing input).

``examples`` copies the example files shipped with the package (models, hypotheses, the
synthetic survey with its truth, the codebook, the literature table, the expert ratings and
the public data sets; :mod:`bayes_bmi.datasets`) into a folder for editing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from bayes_bmi.cli.common import check_out_folder, commit, output_folder
from bayes_bmi.cli.common import friendly as _friendly
from bayes_bmi.errors import OptionError

__all__ = ["examples", "in_process", "register", "rerun", "rerun_folder"]

#: Exit codes of the rerun command itself that mean "the run happened" (1: written, but the
#: chains did not converge).
_RAN = (0, 1)


def in_process(ctx: typer.Context) -> Callable[[list[str]], int]:
    """A runner of ``bayes-bmi ARGS`` in this process (compiled models are reused).

    The application is the one ``ctx`` belongs to; the runner returns the exit code.
    """
    root = ctx.find_root().command

    def run(args: list[str]) -> int:
        try:
            result = root.main(args=args, prog_name="bayes-bmi", standalone_mode=False)
        except typer.Exit as exc:  # pragma: no cover - typer returns the code instead
            return int(exc.exit_code)
        except Exception as exc:  # a usage error: the recorded arguments no longer parse
            show = getattr(exc, "show", None)
            if show is None:
                raise
            show()
            return int(getattr(exc, "exit_code", 2))
        return result if isinstance(result, int) else 0

    return run


def rerun_folder(folder: Path, run: Callable[[list[str]], int], keep: Path | None = None) -> int:
    """Rerun what made ``folder`` and compare the tables; print what differs.

    Parameters
    ----------
    folder : Path
        An output folder with ``provenance.json``.
    run : callable
        Runs ``bayes-bmi ARGS`` and returns its exit code (:func:`in_process`).
    keep : Path, optional
        Write the rerun here (default: a temporary folder, removed afterwards).

    Returns
    -------
    int
        0 when the inputs are unchanged and every table came out identical, else 1.

    Raises
    ------
    OptionError
        No record in ``folder``; an input file is missing; the record has no command line; the
        rerun failed.
    """
    from bayes_bmi.datasets import example_files
    from bayes_bmi.provenance import (
        compare_tables,
        read_provenance,
        rerun_arguments,
        verify_inputs,
        version_changes,
    )

    prov = read_provenance(folder)
    typer.echo(f"recorded: {prov.command_line()}")
    typer.echo(
        f"  by bayes-bmi {prov.bayes_bmi} on Python {prov.python}, {prov.platform}, {prov.created}"
    )
    checks = verify_inputs(prov, example_files())
    unchanged = sum(c.status == "same" for c in checks)
    typer.echo(f"inputs: {unchanged} of {len(checks)} unchanged")
    for check in checks:
        if check.status != "same":
            typer.echo(f"  {check.describe()}")
    missing = [c.recorded.path for c in checks if c.status == "missing"]
    if missing:
        raise OptionError(f"{folder}: cannot rerun: input file(s) missing: {', '.join(missing)}")
    changes = version_changes(prov)
    typer.echo(
        "versions: as recorded"
        if not changes
        else "versions differ from the record (tables may differ for that reason):"
    )
    for change in changes:
        typer.echo(f"  {change}")

    scratch: Path | None = None
    if keep is None:
        scratch = Path(tempfile.mkdtemp(prefix="bayes-bmi-rerun-"))
        keep = scratch / "rerun"
    target = keep
    try:
        args = rerun_arguments(prov, checks, target)
        typer.echo(f"\nrunning: bayes-bmi {' '.join(args)}\n")
        code = run(args)
        if code not in _RAN or not target.is_dir():
            raise OptionError(f"the rerun of {folder} failed (exit code {code}); see above")
        comparison = compare_tables(folder, target)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    typer.echo("\n" + comparison.describe())
    changed = [c.recorded.path for c in checks if c.status == "changed"]
    if comparison.same and not changed:
        typer.echo(f"same: the rerun reproduced every table of {folder}")
        return 0
    why = f"; changed input file(s): {', '.join(changed)}" if changed else ""
    typer.echo(f"DIFFERENT: the rerun did not reproduce {folder}{why}")
    return 1


@_friendly
def rerun(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="An output folder written by bayes-bmi.")],
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="Write the rerun into this folder (default: temporary)."),
    ] = None,
) -> None:
    """Rerun what made an output folder (its provenance.json) and compare every table."""
    if not folder.is_dir():
        raise OptionError(f"{folder}: no such folder")
    if keep is not None:
        check_out_folder(keep, "--keep")
        if keep.resolve() == folder.resolve():
            raise OptionError("--keep: names the folder being checked; give another one")
    raise typer.Exit(code=rerun_folder(folder, in_process(ctx), keep))


@_friendly
def examples(
    out: Annotated[Path, typer.Option("--out", help="Folder to copy the examples into.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace files of the same name in --out.")
    ] = False,
) -> None:
    """Copy the shipped examples (models, hypotheses, data sets) into a folder for editing."""
    check_out_folder(out)
    from bayes_bmi.datasets import example_files

    files = example_files()
    taken = [name for name in files if (out / name).exists()]
    if taken and not force:
        shown = ", ".join(taken[:5]) + (f" and {len(taken) - 5} more" if len(taken) > 5 else "")
        raise OptionError(
            f"--out {out}: already holds {shown}; choose another folder or pass --force to "
            "replace them"
        )
    with output_folder(out) as folder:
        for name, source in files.items():
            target = folder.staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        written = commit(folder)
    typer.echo(f"copied {len(written)} example files to {out}:")
    for name in files:
        typer.echo(f"  {name}")
    typer.echo(
        f"\nEdit them and run the study from there: cd {out} && bayes-bmi study "
        "(it uses data/bmi_survey.csv, models/bmi_drivers.lav and "
        "models/bmi_drivers.hypotheses.toml of the working folder)"
    )


def register(app: typer.Typer) -> None:
    """Add the ``rerun`` and ``examples`` commands to a typer application."""
    app.command(name="rerun")(rerun)
    app.command(name="examples")(examples)
