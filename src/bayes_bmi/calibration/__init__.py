"""Simulation-based calibration: ranks of true values among posterior draws, run on Dask.

:mod:`~bayes_bmi.calibration.ranks` (rank statistics, uniformity test, coverage; pure),
:mod:`~bayes_bmi.calibration.simulation` (one simulation: truth, data, fit, ranks),
:mod:`~bayes_bmi.calibration.prior_sets` (``weak``, the weakly informative set, and prior files)
and
:mod:`~bayes_bmi.calibration.runner` (:func:`calibrate`: the simulations as Dask tasks, written
as they finish, resumed on a rerun).
"""
