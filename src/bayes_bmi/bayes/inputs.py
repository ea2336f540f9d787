"""What one fit feeds the compiled model: sufficient statistics, fixed values and priors.

Pure numpy (no PyMC, no PyTensor): both samplers use it, the PyMC model
(:mod:`bayes_bmi.bayes.builder`) as ``pm.Data`` containers and the compiled kernel
(:mod:`bayes_bmi.bayes.kernel`) as packed buffers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_bmi.bayes.parameters import ParamSpec, base_values
from bayes_bmi.data import MissingPatterns, SampleStats
from bayes_bmi.lavaan.model import Model

__all__ = ["ModelData", "model_data", "structure_key"]


@dataclass(frozen=True, eq=False)
class ModelData:
    """The values of every data container of the model."""

    values: dict[str, np.ndarray]


def model_data(
    model: Model, spec: ParamSpec, stats: SampleStats, patterns: MissingPatterns | None = None
) -> ModelData:
    """Data containers for one fit: sufficient statistics, fixed values and priors.

    Parameters
    ----------
    model : Model
    spec : ParamSpec
    stats : SampleStats
        The complete cases' statistics; with ``patterns``, the EM estimates of the unrestricted
        moments (used for fixed values only).
    patterns : MissingPatterns, optional
        Full information: the likelihood is summed over these missingness patterns
        (``pattern_*`` containers: counts, number observed, variable order with the observed
        ones first, means and covariance matrices padded to all variables).
    """
    if patterns is not None:
        if patterns.names != model.ov_names:
            raise ValueError("missingness patterns are not in the model's variable order")
        return _with_patterns(model, spec, stats, patterns)
    try:
        s_chol = np.linalg.cholesky(stats.cov)
    except np.linalg.LinAlgError:
        from bayes_bmi.data import DataError

        raise DataError(
            "the sample covariance matrix is not positive definite (fewer complete cases than "
            "variables, or a variable that is a linear combination of others)"
        ) from None
    base = np.nan_to_num(base_values(model, stats), nan=0.0)
    values = {
        "n_obs": np.array([float(stats.n)]),
        "sample_mean": stats.mean.astype(float),
        "sample_cov_chol": s_chol,
        "fixed_values": base,
        **spec.prior_arrays(),
    }
    return ModelData(values=values)


def _with_patterns(
    model: Model, spec: ParamSpec, stats: SampleStats, patterns: MissingPatterns
) -> ModelData:
    p = patterns.p
    order = np.empty((patterns.npatterns, p), dtype=np.int64)
    for k, obs in enumerate(patterns.observed):
        order[k] = np.concatenate([np.flatnonzero(obs), np.flatnonzero(~obs)])
    base = np.nan_to_num(base_values(model, stats), nan=0.0)
    values = {
        "n_obs": np.array([float(patterns.n)]),
        "sample_mean": np.zeros(p),  # unused with patterns: the kernel reads pattern_*
        "sample_cov_chol": np.eye(p),
        "fixed_values": base,
        **spec.prior_arrays(),
        "pattern_counts": patterns.counts.astype(float),
        "pattern_nobs": patterns.observed.sum(axis=1).astype(np.int64),
        "pattern_order": order,
        "pattern_mean": np.asarray(patterns.mean, dtype=float),
        "pattern_cov": np.asarray(patterns.cov, dtype=float),
    }
    return ModelData(values=values)


def structure_key(model: Model, spec: ParamSpec) -> tuple:
    """What a compiled PyMC model depends on: the matrix structure and the parameter layout."""
    rep = model.representation
    return (
        rep.ov_names,
        rep.eta_names,
        rep.mat,
        tuple(rep.row),
        tuple(rep.col),
        spec.structure_key(),
    )
