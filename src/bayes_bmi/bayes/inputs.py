"""What one fit feeds the compiled model: sufficient statistics, fixed values and priors.

Pure numpy (no PyMC, no PyTensor): both samplers use it, the PyMC model
(:mod:`bayes_bmi.bayes.builder`) as ``pm.Data`` containers and the compiled kernel
(:mod:`bayes_bmi.bayes.kernel`) as packed buffers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_bmi.bayes.parameters import ParamSpec, base_values
from bayes_bmi.data import SampleStats
from bayes_bmi.lavaan.model import Model

__all__ = ["ModelData", "model_data", "structure_key"]


@dataclass(frozen=True, eq=False)
class ModelData:
    """The values of every data container of the model."""

    values: dict[str, np.ndarray]


def model_data(model: Model, spec: ParamSpec, stats: SampleStats) -> ModelData:
    """Data containers for one fit: sufficient statistics, fixed values and priors."""
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
