"""Shared pieces of the command-line modules: error handling, input checks, output, tables.

This module loads only typer and the standard library: a command checks its arguments here
(:func:`check_inputs`, :func:`parse_missing_codes`, ...) before it imports the numerical
stack, so a user error is reported at once.

Every command runs under :func:`friendly`: a :class:`~bayes_bmi.errors.BayesBmiError` becomes
one ``error: ...`` line and exit code 2; a data warning one ``warning: ...`` line; Ctrl-C
stops the run promptly with exit code 130 (:class:`Interruption`). A command writes its files
into the staging folder of an :func:`output_folder`, which moves them into ``--out`` together at
the end; on an error or an interruption nothing of the run remains.
"""

from __future__ import annotations

import atexit
import gc
import math
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bayes_bmi.errors import (
    BayesBmiError,
    DataError,
    DataWarning,
    ModelSpecError,
    OptionError,
    existing_file,
)
from bayes_bmi.io import OutputFolder
from bayes_bmi.plots.render import png_bytes

if TYPE_CHECKING:
    from bayes_bmi.data import MissingPatterns
    from bayes_bmi.provenance import Provenance

__all__ = [
    "DRAWS",
    "GroupEqual",
    "GroupPartial",
    "NoCache",
    "TUNE",
    "DATA_SUFFIXES",
    "EXIT_INTERRUPTED",
    "MAX_SEED",
    "MISSING_METHODS",
    "SAMPLERS",
    "Interruption",
    "MissingCodes",
    "MissingMethod",
    "Sheet",
    "cases_line",
    "check_group_column",
    "check_inputs",
    "check_missing",
    "check_number",
    "check_out_file",
    "check_out_folder",
    "check_sheet",
    "fast_exit",
    "command_line",
    "commit",
    "deferred_interrupts",
    "friendly",
    "group_kwargs",
    "missing_data",
    "ordinal_missing_data",
    "ordinal_option",
    "output_folder",
    "parse_missing_codes",
    "plural",
    "png_bytes",
    "print_table",
    "record_provenance",
    "start_kernel_build",
    "write_provenance",
]

#: Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: Data files the commands read (:data:`bayes_bmi.data.DATA_FORMATS`).
DATA_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xls", ".sav")
#: NUTS samplers (:data:`bayes_bmi.bayes.sampling.SAMPLERS`).
SAMPLERS = ("nutpie", "pymc")
#: Largest seed accepted (seeds are 32-bit unsigned integers for every generator used).
MAX_SEED = 2**32 - 1
#: Seconds a run may take to stop after Ctrl-C before it is ended without further ado.
GRACE_SECONDS = 2.0

#: ``--missing-codes`` of every command that reads item data.
MissingCodes = Annotated[
    str | None,
    typer.Option(
        "--missing-codes",
        help="Values that mean 'missing', comma-separated (e.g. -9,99); such cells count as "
        "empty cells do (full-information ML uses the rest of the row; listwise deletion and "
        "the PCA drop the row).",
    ),
]
#: Missing-data methods of ``--missing`` (:data:`bayes_bmi.api.MISSING`).
MISSING_METHODS = ("fiml", "listwise")
#: ``--missing`` of every command that fits a model.
MissingMethod = Annotated[
    str | None,
    typer.Option(
        "--missing",
        help="fiml or listwise (default: fiml when the model's variables have missing cells).",
    ),
]
#: ``--sheet`` of every command that reads item data.
Sheet = Annotated[
    str | None,
    typer.Option("--sheet", help="Worksheet of an Excel file: its name or number (from 1)."),
]
NoCache = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Compile the sampler's kernel in this process instead of loading it from the "
        "on-disk cache (the platform's user cache folder; BAYES_BMI_CACHE_DIR moves it).",
    ),
]
#: Draws and warm-up steps per chain by default: the library's (SamplerConfig) defaults, which
#: measured a higher minimum bulk ESS than 1000 + 1000 for the same work (README, Speed).
DRAWS, TUNE = 1500, 500


# ------------------------------------------------------------------------- interruption
class Interruption:
    """The SIGINT handler of one command: stop promptly, write nothing.

    The first Ctrl-C raises :class:`KeyboardInterrupt` as Python's own handler does, and
    starts a timer: some libraries catch the interrupt and go on (a compiler that retries, a
    sampler that returns the draws so far), so when the run has not stopped after
    :data:`GRACE_SECONDS`, or at a second Ctrl-C, the registered clean-ups run (the staging
    folder is removed) and the process ends with exit code 130. :meth:`check` raises if an
    interrupt was swallowed. While :meth:`committing` moves finished files into place, an
    interrupt waits until the move is complete.

    The handler is found again through :func:`signal.getsignal` (:meth:`current`): the process's
    signal table is the only shared state.
    """

    def __init__(self, grace: float | None = None) -> None:
        self.requested = False
        self._grace = GRACE_SECONDS if grace is None else grace
        self._lock = threading.RLock()
        self._committing = False
        self._cleanups: list[Callable[[], None]] = []
        self._timer: threading.Timer | None = None

    @staticmethod
    def current() -> Interruption | None:
        """The handler installed by the running command, if any."""
        handler = signal.getsignal(signal.SIGINT)
        return handler if isinstance(handler, Interruption) else None

    def __call__(self, signum: int, frame: object) -> None:
        """Handle SIGINT: raise KeyboardInterrupt, start the timer; end at once the 2nd time."""
        again = self.requested
        self.requested = True
        if self._committing:
            return  # the move into place is short: let it finish
        if again:
            self.abort()
        if self._timer is None:
            self._timer = threading.Timer(self._grace, self.abort)
            self._timer.daemon = True
            self._timer.start()
        raise KeyboardInterrupt

    def on_abort(self, cleanup: Callable[[], None]) -> Callable[[], None]:
        """Run ``cleanup`` if the process must be ended; returns a function that forgets it."""
        self._cleanups.append(cleanup)
        return lambda: self._cleanups.remove(cleanup) if cleanup in self._cleanups else None

    def abort(self) -> None:
        """Clean up and end the process with exit code 130 (waits for a commit to finish)."""
        with self._lock:
            for cleanup in list(self._cleanups):
                try:
                    cleanup()
                except Exception:  # ending anyway: a failed clean-up changes nothing
                    pass
            os.write(2, b"interrupted: stopped, nothing written\n")
            os._exit(EXIT_INTERRUPTED)

    def check(self) -> None:
        """Raise :class:`KeyboardInterrupt` if Ctrl-C was pressed (and swallowed) meanwhile."""
        if self.requested:
            raise KeyboardInterrupt

    @contextmanager
    def committing(self) -> Iterator[None]:
        """Hold interrupts back while finished results are moved into place."""
        with self._lock:
            self.check()
            self._committing = True
            try:
                yield
            finally:
                self._committing = False

    def cancel(self) -> None:
        """Stop the timer (the run has ended)."""
        if self._timer is not None:
            self._timer.cancel()


@contextmanager
def _interruptible() -> Iterator[Interruption | None]:
    """Install an :class:`Interruption` for the duration of a command (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    guard = Interruption()
    previous = signal.signal(signal.SIGINT, guard)
    previous_hook = sys.unraisablehook

    def quiet(unraisable: Any) -> None:
        # Ctrl-C raised inside a C callback (LLVM's, while numba compiles) cannot propagate:
        # Python would print it as "Exception ignored ..."; the guard stops the run instead
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous_hook(unraisable)

    sys.unraisablehook = quiet
    try:
        yield guard
    finally:
        guard.cancel()
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGINT, previous)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Write several files as one step: Ctrl-C before it stops the run, during it waits."""
    guard = Interruption.current()
    if guard is None:
        yield
        return
    with guard.committing():
        yield


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show every :class:`~bayes_bmi.errors.DataWarning` as one ``warning: ...`` line."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", DataWarning)
        show = warnings.showwarning

        def one_line(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
            if issubclass(category, DataWarning):
                typer.echo(f"warning: {message}", err=True)
            else:
                show(message, category, *args, **kwargs)

        warnings.showwarning = one_line
        yield


def fast_exit() -> None:
    """At the interpreter's exit, freeze the garbage collector's objects (:func:`gc.freeze`).

    Python's shutdown runs full collections over every object of the numerical stack (about
    0.3-0.9 s after a fit, measured); frozen objects are not traversed, and everything is freed
    with the process anyway. Registered once (at exit only, so a long-lived process that runs
    commands, such as a test session, keeps collecting while it runs).
    """
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def end_interrupted_process() -> None:
    """In a command-line process, end it at once with exit code 130 after its clean-ups.

    Python's own shutdown after an interrupted fit ended, about one run in 25, with a crash
    (exit code -11, or -2) while the sampler's native threads wound down. The interruption's
    clean-ups run instead (:meth:`Interruption.abort`: background compilations are ended,
    the message is written) and the process ends without the interpreter's shutdown. Inside
    a test runner, whose streams are not the process's (click's ``CliRunner``, pytest's
    capture), it returns and the caller raises ``Exit`` as before.
    """
    if sys.stdout is not sys.__stdout__ or sys.stderr is not sys.__stderr__:
        return
    guard = Interruption.current()
    if guard is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    guard.abort()


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command: exit 2 on a user error, 130 on Ctrl-C, 3 on a bug (with its traceback).

    A refusal of the system (a full disk, a folder removed meanwhile) counts as a user error.
    The process's exit skips the garbage collector's sweeps (:func:`fast_exit`).
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fast_exit()
        with _interruptible(), _warnings_as_lines():
            try:
                return func(*args, **kwargs)
            except BayesBmiError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(code=2) from None
            except OSError as exc:  # the system refused: a full disk, a vanished folder, ...
                where = f"{exc.filename}: " if exc.filename else ""
                typer.echo(
                    f"error: {where}{exc.strerror or exc}; nothing written to the output",
                    err=True,
                )
                raise typer.Exit(code=2) from None
            except KeyboardInterrupt:
                end_interrupted_process()  # a real process ends here (exit code 130)
                typer.echo("interrupted: stopped, nothing written", err=True)
                raise typer.Exit(code=EXIT_INTERRUPTED) from None
            except (typer.Exit, typer.Abort, SystemExit):
                raise
            except Exception:
                traceback.print_exc()
                typer.echo(
                    "bayes-bmi: internal error (a bug, not your input): please report it with "
                    "the traceback above.",
                    err=True,
                )
                raise typer.Exit(code=3) from None

    return wrapper


GroupEqual = Annotated[
    str | None,
    typer.Option(
        help="With --group: parameters equal across groups, comma-separated (loadings, "
        "intercepts, means, regressions, residuals, residual.covariances, lv.variances, "
        "lv.covariances), as lavaan's group.equal."
    ),
]
GroupPartial = Annotated[
    str | None,
    typer.Option(
        help="With --group: rows left free across groups, comma-separated (f=~x2,x3~1), as "
        "lavaan's group.partial."
    ),
]


def group_kwargs(group: str | None, equal: str | None, partial: str | None) -> dict:
    """The API's group options from the command line's (errors name the option)."""
    if group is None:
        if equal or partial:
            raise OptionError("--group-equal and --group-partial need --group COLUMN")
        return {}
    return {"group": group, "group_equal": equal or (), "group_partial": partial or ()}


def check_group_column(
    data: Path, group: str, sheet: str | None = None, missing_codes: Iterable[float] = ()
) -> None:
    """Refuse a ``--group`` that is not a column of the data file.

    Called before a command announces its fits; the fit itself checks the column again on the
    data it reads.

    Raises
    ------
    OptionError
        :func:`bayes_bmi.ml.groups.split_groups`'s message, naming the file and the nearest
        column names.
    """
    from bayes_bmi.data import read_data
    from bayes_bmi.ml.groups import split_groups

    split_groups(read_data(data, sheet=sheet, missing_codes=missing_codes), group, str(data))


# ------------------------------------------------------------------------------- output
@contextmanager
def output_folder(out: Path) -> Iterator[OutputFolder]:
    """Lock ``--out`` and give its staging folder; :func:`commit` it when all is computed.

    Leaving the block without a commit (an error, Ctrl-C) removes everything the run made.

    Raises
    ------
    OptionError
        When another run is writing into the folder, or it cannot be created or written.
    """
    folder = OutputFolder(out)
    try:
        folder.open()
    except BlockingIOError as exc:
        raise OptionError(f"--out {out}: {exc.strerror or exc}") from None
    except OSError as exc:
        raise OptionError(
            f"--out {out}: cannot write there ({exc.strerror or exc}); choose another folder"
        ) from None
    guard = Interruption.current()
    forget = guard.on_abort(folder.close) if guard is not None else (lambda: None)
    try:
        yield folder
    finally:
        forget()
        folder.close()


def commit(folder: OutputFolder) -> list[Path]:
    """Move the staged files into ``--out`` together (Ctrl-C waits until they are moved).

    Raises
    ------
    KeyboardInterrupt
        When Ctrl-C was pressed before (and a library swallowed it): nothing is moved.
    """
    with deferred_interrupts():
        return folder.commit()


# --------------------------------------------------------------------------- provenance
def command_line(ctx: typer.Context, **effective: Any) -> list[str]:
    """The running command as arguments that run it again (after ``bayes-bmi``).

    Built from the values typer parsed (``ctx``), so it is the same however the command was
    started (the console script, ``python -m bayes_bmi``, a test runner). Every option that
    has a value is written out, defaults included, so that a rerun under a later version with
    other defaults runs the same thing. ``effective`` replaces values the command resolved
    itself (a default input found among the shipped examples).
    """
    args = [str(ctx.info_name)]
    for param in ctx.command.params:
        value = effective.get(param.name, ctx.params.get(param.name)) if param.name else None
        if value is None or (isinstance(value, list | tuple) and not value):
            continue
        values = list(value) if isinstance(value, list | tuple) else [value]
        if param.param_type_name == "argument":
            args += [str(v) for v in values]
        elif getattr(param, "is_flag", False):
            if value:
                args.append(param.opts[0])
            elif param.secondary_opts:
                args.append(param.secondary_opts[0])
        else:
            for v in values:
                args += [param.opts[0], str(v)]
    return args


def record_provenance(
    ctx: typer.Context, *, seed: int | None, inputs: Mapping[str, Any], **effective: Any
) -> Provenance:
    """What is making this command's output: :func:`bayes_bmi.provenance.collect`.

    Parameters
    ----------
    ctx : typer.Context
        The running command's context (typer passes it to a ``ctx: typer.Context`` argument).
    seed : int or None
    inputs : mapping
        Role -> input file(s) of the run.
    **effective
        Values the command resolved itself (see :func:`command_line`).

    A command that samples with the cached kernel (it has ``--no-cache``, not given, and no
    ``--sampler`` other than nutpie) also starts compiling the kernel in the background here,
    when the cache lacks it (:func:`start_kernel_build`): its inputs are checked by now, and
    the compilation overlaps the reading, the ML fit and the imports that follow.
    """
    from bayes_bmi.datasets import example_files
    from bayes_bmi.provenance import collect

    params = ctx.params
    if (
        "no_cache" in params
        and not params["no_cache"]
        and params.get("sampler")
        in (
            None,
            "nutpie",
        )
    ):
        start_kernel_build(ctx)
    args = command_line(ctx, **effective)
    settings = {**ctx.params, **effective}
    settings.pop("out", None)  # where it was written is not what made it
    return collect(
        args[0], argv=args, seed=seed, settings=settings, inputs=inputs, examples=example_files()
    )


def kernel_kinds(command: str, params: Mapping[str, Any]) -> tuple[str, ...]:
    """The compiled kernels a sampling command will load.

    With ``--ordinal`` the ordinal kernel; ``study`` also fits the continuous model then (its
    verdicts sit beside the ordinal ones), the other commands fit only the ordinal one.
    """
    if not params.get("ordinal"):
        return ("continuous",)
    return ("continuous", "ordinal") if command == "study" else ("ordinal",)


def start_kernel_build(ctx: typer.Context) -> None:
    """Compile the kernels the command needs in background processes if the cache lacks them.

    :func:`bayes_bmi.bayes.compiled.start_build`, one process per kernel
    (:func:`kernel_kinds`); each is ended when the command ends before it finished (an error,
    Ctrl-C); after a fit it has finished, as loading the kernel waits for it.
    """
    from bayes_bmi.bayes.compiled import start_build

    for kind in kernel_kinds(ctx.info_name or "", ctx.params):
        process = start_build(kind=kind)
        if process is not None:
            ctx.call_on_close(lambda p=process: _stop(p))
            guard = Interruption.current()
            if guard is not None:  # also when Ctrl-C ends the process (Interruption.abort)
                guard.on_abort(lambda p=process: _stop(p))


def _stop(process: Any) -> None:
    """End a background process that is still running, and reap it."""
    if process.poll() is None:
        process.terminate()
    process.wait()


def write_provenance(folder: Path, provenance: Provenance) -> Path:
    """Write ``provenance.json`` into ``folder`` (a staging folder) atomically."""
    from bayes_bmi.io import atomic_write_json
    from bayes_bmi.provenance import PROVENANCE_NAME

    return atomic_write_json(folder / PROVENANCE_NAME, provenance.to_dict())


# ------------------------------------------------------------------------------- checks
def _nearest_existing(path: Path) -> Path:
    for parent in [path, *path.absolute().parents]:
        if parent.exists():
            return parent
    return Path("/")  # pragma: no cover - the root always exists


def check_out_folder(out: Path, option: str = "--out") -> None:
    """An output folder: not a file, under folders only, writable where it will be made.

    Raises
    ------
    OptionError
    """
    if out.exists() and not out.is_dir():
        raise OptionError(f"{option} {out}: is a file; give a folder to write into")
    base = _nearest_existing(out)
    if not base.is_dir():
        raise OptionError(f"{option} {out}: {base} is a file, so no folder can be made there")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OptionError(f"{option} {out}: {base} is not writable; choose another folder")


def check_out_file(path: Path, option: str) -> None:
    """An output file: not a folder, in a folder that exists (or can be made) and is writable.

    Raises
    ------
    OptionError
    """
    if path.is_dir():
        raise OptionError(f"{option} {path}: is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise OptionError(f"{option} {path}: the file is not writable")
    check_out_folder(path.parent, option=f"{option} {path}: folder")


def check_sheet(data: Path, sheet: str | None) -> None:
    """``--sheet`` is for an Excel file only.

    Raises
    ------
    OptionError
    """
    if sheet is not None and data.suffix.lower() not in (".xlsx", ".xls"):
        raise OptionError(f"--sheet {sheet}: {data} is not an Excel workbook (.xlsx)")


def check_number(
    value: float,
    option: str,
    low: float,
    high: float,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> None:
    """A finite number within ``[low, high]`` (ends excluded when ``open_*``).

    Raises
    ------
    OptionError
    """
    below = value <= low if open_low else value < low
    above = value >= high if open_high else value > high
    if not math.isfinite(value) or below or above:
        lo, hi = ("(" if open_low else "["), (")" if open_high else "]")
        raise OptionError(f"{option} {value:g}: must lie in {lo}{low:g}, {high:g}{hi}")


def parse_missing_codes(text: str | None) -> tuple[float, ...]:
    """``--missing-codes -9,99`` as numbers.

    Raises
    ------
    OptionError
        When an entry is not a finite number.
    """
    if text is None:
        return ()
    codes = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise OptionError(
                f"--missing-codes {text}: {part!r} is not a number; give numbers separated "
                "by commas, e.g. --missing-codes -9,99"
            )
        codes.append(value)
    if not codes:
        raise OptionError("--missing-codes: give numbers separated by commas, e.g. -9,99")
    return tuple(codes)


def check_missing(value: str | None) -> str | None:
    """``--missing fiml|listwise`` (None: the default, chosen from the data).

    Raises
    ------
    OptionError
        When the value is not one of :data:`MISSING_METHODS`.
    """
    if value is None:
        return None
    method = value.strip().lower()
    if method not in MISSING_METHODS:
        raise OptionError(
            f"--missing {value}: unknown. Must be one of: {', '.join(MISSING_METHODS)} "
            "(fiml: full-information ML, every observed answer used; listwise: complete rows "
            "only)"
        )
    return method


def check_inputs(
    *,
    models: Iterable[Path] = (),
    data: Path | None = None,
    files: Mapping[str, tuple[Path | None, str]] | None = None,
    out: Path | None = None,
) -> None:
    """Check a command's input files and output folder (standard library only).

    Parameters
    ----------
    models : iterable of Path
        Model files.
    data : Path, optional
        The data file (its type is checked too).
    files : mapping, optional
        Other input files: option name -> (path or None, what it holds).
    out : Path, optional
        The output folder (:func:`check_out_folder`).

    Raises
    ------
    ModelSpecError, DataError
        A model or data file that does not exist or cannot be read.
    OptionError
        A file named by an option that does not exist; an unusable ``--out``.
    """
    for path in models:
        existing_file(path, "model", ModelSpecError)
    if data is not None:
        existing_file(data, "data", DataError)
        if data.suffix.lower() not in DATA_SUFFIXES:
            raise DataError(
                f"{data}: unknown data format '{data.suffix}'. Must be one of: .csv, .tsv, "
                ".xlsx, .sav"
            )
    for option, (path, kind) in (files or {}).items():
        if path is not None:
            try:
                existing_file(path, kind, OptionError)
            except OptionError as exc:
                raise OptionError(f"{option} {exc}") from None
    if out is not None:
        check_out_folder(out)


def plural(k: int, word: str) -> str:
    """``1 row``, ``3 rows``."""
    return f"{k} {word}{'' if k == 1 else 's'}"


def missing_data(n: int, dropped: int, patterns: MissingPatterns | None) -> dict[str, Any]:
    """How many cases a fit used and how the missing cells were treated (for JSON files)."""
    out: dict[str, Any] = {
        "method": "fiml" if patterns is not None else "listwise",
        "n_rows": n + dropped,
        "n_used": n,
        "n_dropped": dropped,
    }
    if patterns is not None:
        out.update(
            n_patterns=patterns.npatterns,
            n_missing_cells=patterns.n_missing,
            n_cells=patterns.n * patterns.p,
            n_empty_rows=patterns.n_empty,
        )
    return out


def ordinal_missing_data(n: int, dropped: int, codes: Any) -> dict[str, Any]:
    """:func:`missing_data` of an ordinal fit: its coded items, ``-1`` where missing.

    The cumulative-probit likelihood leaves missing cells out given the latent variables, so
    every observed answer counts (full information, as FIML).
    """
    import numpy as np

    miss = np.asarray(codes) < 0
    return {
        "method": "fiml",
        "n_rows": n + dropped,
        "n_used": n,
        "n_dropped": dropped,
        "n_patterns": int(np.unique(miss, axis=0).shape[0]),
        "n_missing_cells": int(miss.sum()),
        "n_cells": int(miss.size),
        "n_empty_rows": 0,
        "likelihood": "ordinal",
    }


def cases_line(info: dict[str, Any]) -> str:
    """``cases used: 116 of 301 rows (listwise: 185 rows with a missing value dropped)``."""
    head = f"cases used: {info['n_used']} of {plural(info['n_rows'], 'row')}"
    if info["method"] == "fiml":
        cells = info["n_cells"]
        share = 100.0 * info["n_missing_cells"] / cells if cells else 0.0
        kind = (
            "every observed answer, missing cells left out"
            if info.get("likelihood") == "ordinal"
            else "full-information ML"
        )
        tail = (
            f" ({kind}: {plural(info['n_patterns'], 'missingness pattern')}, "
            f"{info['n_missing_cells']} of {cells} cells missing ({share:.1f}%)"
        )
        if info["n_dropped"]:
            tail += f"; {plural(info['n_dropped'], 'row')} without usable answers dropped"
        return head + tail + ")"
    if info["n_dropped"]:
        dropped = plural(info["n_dropped"], "row")
        return head + f" (listwise: {dropped} with a missing value dropped)"
    return head + " (no missing cells)"


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


def ordinal_option(ordinal: str | None) -> bool | list[str] | None:
    """``--ordinal``: ``all`` -> True, ``x1,x2`` -> the names, absent -> None."""
    if ordinal is None:
        return None
    if ordinal.strip().lower() == "all":
        return True
    names = [v.strip() for v in ordinal.split(",") if v.strip()]
    if not names:
        raise OptionError("--ordinal: give 'all' or item names separated by commas (x1,x2)")
    return names
