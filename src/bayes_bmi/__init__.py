"""bayes-bmi: Bayesian structural equation modelling in lavaan syntax on PyMC.

The package is staged like lavaan: :mod:`bayes_bmi.lavaan` (syntax -> parameter table ->
matrices -> implied moments), then :mod:`bayes_bmi.ml` (maximum likelihood) and
:mod:`bayes_bmi.bayes` (the Bayesian engine), :mod:`bayes_bmi.checking` (model checking and
comparison), :mod:`bayes_bmi.measurement`, :mod:`bayes_bmi.study` (the thesis study),
:mod:`bayes_bmi.plots`, :mod:`bayes_bmi.report` and :mod:`bayes_bmi.cli`. This module stays
import-light so that the command line can set thread limits before numpy loads.
"""

__version__ = "0.1.0"
