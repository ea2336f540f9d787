"""The package's error types, and the one check every input file gets.

Every error a user can cause (a bad model file, bad data, a bad option) is a
:class:`BayesBmiError`; the specific kinds subclass it. The kinds that are raised before the
numerical stack is loaded (a missing file, a bad argument) live here, so that the command line
and :mod:`bayes_bmi.api` can report them at once; the others (``ModelSyntaxError``,
``PriorError``, ...) are defined where they are raised. The command line catches this class
only: any other exception is a bug and is shown with its traceback.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BayesBmiError",
    "DataError",
    "ModelSpecError",
    "OptionError",
    "existing_file",
]


class BayesBmiError(ValueError):
    """Bad input or an unusable result that the user can act on (the message says how)."""


class DataError(BayesBmiError):
    """Input data that cannot be used as given; the message says where and what to do."""


class ModelSpecError(BayesBmiError):
    """A model that parses but cannot be turned into an estimable parameter table."""


class OptionError(BayesBmiError):
    """A bad argument to a command or to a function of the Python API."""


def existing_file(path: str | Path, kind: str, error: type[BayesBmiError] = BayesBmiError) -> Path:
    """``path`` as a :class:`~pathlib.Path` when it names a file.

    Parameters
    ----------
    path : str or Path
    kind : str
        What the file holds, for the message (``"model"``, ``"data"``, ...).
    error : type
        The :class:`BayesBmiError` subclass to raise.

    Raises
    ------
    BayesBmiError
        ``"{path}: no such {kind} file"``, as ``error``.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {kind} file")
    return path
