"""``python -m bayes_bmi ...``: the ``bayes-bmi`` command line."""

from bayes_bmi.cli.main import app

if __name__ == "__main__":  # pragma: no cover - entry point
    app(prog_name="bayes-bmi")
