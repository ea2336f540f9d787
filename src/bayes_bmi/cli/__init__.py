"""The ``bayes-bmi`` command line: thin typer commands over the library."""

from bayes_bmi.cli.main import app

__all__ = ["app"]
