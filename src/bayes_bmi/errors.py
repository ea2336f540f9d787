"""The package's one error type.

Every error a user can cause (a bad model file, bad data, a bad option) is a
:class:`BayesBmiError`; the specific kinds (``ModelSyntaxError``, ``DataError``, ...) subclass it
where they are raised. The command line catches this class only: any other exception is a bug
and is shown with its traceback.
"""

from __future__ import annotations

__all__ = ["BayesBmiError"]


class BayesBmiError(ValueError):
    """Bad input or an unusable result that the user can act on (the message says how)."""
