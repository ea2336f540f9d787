"""The ``bayes-bmi`` command line: thin typer commands over the library."""

from bayes_bmi.cli.calibrate import register as _register_calibrate
from bayes_bmi.cli.main import app

# registered here rather than in main._register_commands while main.py is being edited
# elsewhere; importing bayes_bmi.cli.main (or any cli module) runs this package first
_register_calibrate(app)

__all__ = ["app"]
