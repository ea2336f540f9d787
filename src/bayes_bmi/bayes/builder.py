"""Parameter table + sample statistics + priors -> a PyMC model.

The model has one free variable, ``z`` (dims ``param``, one element per free parameter, on
the unconstrained scale), and two potentials: the marginal log-likelihood from sufficient
statistics and the log-prior (with the transforms' Jacobians). Everything that can change
between fits of the same model structure (sample statistics, fixed exogenous values, prior
families and numbers) is ``pm.Data``, so a compiled model can be reused with new data.
"""

from __future__ import annotations

import pymc as pm
import pytensor.tensor as pt

from bayes_bmi.bayes.inputs import ModelData, model_data, structure_key
from bayes_bmi.bayes.likelihood import (
    implied_moments_pt,
    mvn_suffstat_loglik_pt,
    prior_logp_pt,
    rows_pt,
)
from bayes_bmi.bayes.parameters import ParamSpec
from bayes_bmi.lavaan.model import Model

__all__ = ["ModelData", "build_pymc_model", "model_data", "structure_key"]


def build_pymc_model(model: Model, spec: ParamSpec, data: ModelData) -> pm.Model:
    """Build the PyMC model of a specified SEM.

    Parameters
    ----------
    model : Model
        Must have a mean structure (see :func:`bayes_bmi.bayes.sampling.bayesian_model`).
    spec : ParamSpec
    data : ModelData

    Returns
    -------
    pymc.Model
    """
    rep = model.representation
    codes = spec.transform_codes
    with pm.Model(coords={"param": list(spec.names)}) as pm_model:
        d = {name: pm.Data(name, value) for name, value in data.values.items()}
        z = pm.Flat("z", dims="param")
        rows = rows_pt(
            z,
            d["fixed_values"],
            codes,
            spec.free_rows,
            spec.free_k,
            spec.corr_rows,
            spec.corr_k,
            spec.corr_var_lhs,
            spec.corr_var_rhs,
        )
        sigma, mu = implied_moments_pt(rep, rows)
        pm.Potential(
            "loglik",
            mvn_suffstat_loglik_pt(
                d["n_obs"][0], d["sample_mean"], d["sample_cov_chol"], sigma, mu
            ),
        )
        pm.Potential(
            "logprior",
            pt.sum(
                prior_logp_pt(
                    z,
                    codes,
                    d["prior_family"],
                    d["prior_a"],
                    d["prior_b"],
                    d["prior_c"],
                    d["prior_on_var"],
                )
            ),
        )
    return pm_model
