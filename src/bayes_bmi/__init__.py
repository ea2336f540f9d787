"""bayes-bmi: Bayesian structural equation modelling in lavaan syntax on PyMC.

The package is staged like lavaan: :mod:`~bayes_bmi.syntax` (model text -> statements),
:mod:`~bayes_bmi.partable` (statements -> parameter table), :mod:`~bayes_bmi.representation`
(table -> matrices -> implied moments), :mod:`~bayes_bmi.ml` (maximum-likelihood fit) and, on
top of them, the Bayesian engine. This module stays import-light so that the command line can
set thread limits before numpy loads.
"""

__version__ = "0.1.0"
