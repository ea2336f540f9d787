"""bayes-bmi: Bayesian structural equation modelling in lavaan syntax on PyMC.

The public API (:mod:`bayes_bmi.api`)::

    import bayes_bmi as bb
    fit = bb.sem("models/hs_cfa.lav", "tests/data/HolzingerSwineford1939.csv")
    fit.summary(); fit.ml.estimates(); fit.check()
    bb.datasets.list(); bb.datasets.load("HolzingerSwineford1939")  # shipped data sets

The package is staged like lavaan: :mod:`bayes_bmi.lavaan` (syntax -> parameter table ->
matrices -> implied moments), then :mod:`bayes_bmi.ml` (maximum likelihood) and
:mod:`bayes_bmi.bayes` (the Bayesian engine), :mod:`bayes_bmi.checking` (model checking and
comparison), :mod:`bayes_bmi.measurement`, :mod:`bayes_bmi.study` (the thesis study),
:mod:`bayes_bmi.plots`, :mod:`bayes_bmi.report` and :mod:`bayes_bmi.cli`. Importing the package
loads none of them: the API's names are resolved on first use (PEP 562), so that ``import
bayes_bmi`` is instant and the command line can set thread limits before numpy loads.
"""

from __future__ import annotations

from bayes_bmi.errors import BayesBmiError

__version__ = "0.1.0"

_API = (
    "BayesFit",
    "MLFit",
    "calibrate",
    "cfa",
    "compare",
    "comparison",
    "invariance",
    "power",
    "sem",
    "sensitivity",
    "specify",
)

__all__ = ["BayesBmiError", "__version__", "datasets", *_API]


def __getattr__(name: str) -> object:
    if name in _API:
        from bayes_bmi import api

        return getattr(api, name)
    if name == "datasets":  # a submodule: import_module, as `from ... import` would recurse
        import importlib

        return importlib.import_module("bayes_bmi.datasets")
    raise AttributeError(f"module 'bayes_bmi' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
