"""The package's error types, and the one check every input file gets.

Every error a user can cause (a bad model file, bad data, a bad option) is a
:class:`BayesBmiError`; the specific kinds subclass it. The kinds that are raised before the
numerical stack is loaded (a missing file, a bad argument) live here, so that the command line
and :mod:`bayes_bmi.api` can report them at once; the others (``ModelSyntaxError``,
``PriorError``, ...) are defined where they are raised. The command line catches this class
only: any other exception is a bug and is shown with its traceback.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "BayesBmiError",
    "DataError",
    "DataWarning",
    "ModelSpecError",
    "OptionError",
    "decode_text",
    "existing_file",
    "in_file",
    "read_text",
]


class BayesBmiError(ValueError):
    """Bad input or an unusable result that the user can act on (the message says how)."""


class DataError(BayesBmiError):
    """Input data that cannot be used as given; the message says where and what to do."""


class ModelSpecError(BayesBmiError):
    """A model that parses but cannot be turned into an estimable parameter table."""


class OptionError(BayesBmiError):
    """A bad argument to a command or to a function of the Python API."""


class DataWarning(UserWarning):
    """Data that can be used but look wrong (e.g. a missing-value code counted as an answer).

    The command line prints each as one ``warning: ...`` line on stderr.
    """


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
        ``"{path}: no such {kind} file"`` (or: is a folder; cannot be read), as ``error``.
    """
    path = Path(path)
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except (OSError, ValueError):  # a name too long for the system, a NUL byte
        is_dir = is_file = False
    if is_dir:
        raise error(f"{path}: is a folder, not a {kind} file")
    if not is_file:
        raise error(f"{path}: no such {kind} file")
    if not os.access(path, os.R_OK):
        raise error(f"{path}: the {kind} file cannot be read (permission denied)")
    return path


def decode_text(raw: bytes, where: str, kind: str, error: type[BayesBmiError]) -> str:
    """The text of a file's bytes: UTF-8 (with or without a byte-order mark) or UTF-16 with one.

    Parameters
    ----------
    raw : bytes
    where : str
        The file name, for the message.
    kind : str
        What the file holds (``"model"``, ``"data"``, ...).
    error : type
        The :class:`BayesBmiError` subclass to raise.

    Raises
    ------
    BayesBmiError
        When the bytes are not UTF-8: the message names the line and the byte and says to
        save the file as UTF-8.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass  # not UTF-16 after all: report it below as not UTF-8
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start]
        hint = " (is it a text file?)" if b"\x00" in raw[:4096] else ""
        how = " (in Excel: Save As 'CSV UTF-8')" if kind == "data" else ""
        raise error(
            f"{where}:{line}: the {kind} file is not UTF-8 text (byte 0x{byte:02x}){hint}; "
            f"save it with the encoding UTF-8{how}"
        ) from None


def read_text(path: str | Path, kind: str, error: type[BayesBmiError] = BayesBmiError) -> str:
    """The text of a file named by the user, with every failure as ``error``.

    Parameters
    ----------
    path : str or Path
    kind : str
        What the file holds, for the message.
    error : type
        The :class:`BayesBmiError` subclass to raise.

    Returns
    -------
    str
        The decoded text (:func:`decode_text`).
    """
    path = existing_file(path, kind, error)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: the {kind} file cannot be read ({exc.strerror})") from None
    return decode_text(raw, str(path), kind, error)


@contextmanager
def in_file(path: str | Path) -> Iterator[None]:
    """Name ``path`` in every :class:`BayesBmiError` raised inside (unless it names it already).

    For checks of a table that do not know where the table came from.
    """
    try:
        yield
    except BayesBmiError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise type(exc)(f"{path}: {exc}") from None
