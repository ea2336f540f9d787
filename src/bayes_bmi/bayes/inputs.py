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
        (``pattern_*`` containers: data totals and each incomplete pattern's count, order,
        mean and covariance factor; see :mod:`bayes_bmi.bayes.kernel`).
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
    """Containers of the pattern likelihood (see :mod:`bayes_bmi.bayes.kernel`'s layout).

    The data are centred at their observed means (the likelihood is shift-invariant; the
    kernel centres ``mu`` alike), which keeps the pairwise totals free of cancellation.
    """
    p = patterns.p
    y = np.asarray(patterns.values, dtype=float)
    obs = ~np.isnan(y)
    centre = np.nanmean(y, axis=0)
    yc = np.where(obs, y - centre, 0.0)
    ob = obs.astype(float)
    incomplete = [k for k in range(patterns.npatterns) if not patterns.observed[k].all()]
    nobs, rank, order, count, mean, factor = [], [], [], [], [], []
    for k in incomplete:
        o = np.flatnonzero(patterns.observed[k])
        order.append(np.concatenate([o, np.flatnonzero(~patterns.observed[k])]))
        vals, vecs = np.linalg.eigh(patterns.cov[k][np.ix_(o, o)])
        keep = vals > 1e-12 * max(float(vals.max(initial=0.0)), 1e-300)
        d = vecs[:, keep] * np.sqrt(vals[keep])  # cov_O = D D'
        nobs.append(o.size)
        rank.append(int(keep.sum()))
        count.append(float(patterns.counts[k]))
        mean.append(np.where(patterns.observed[k], patterns.mean[k] - centre, 0.0))
        factor.append(d.T.ravel())  # stored transposed: rank x |O|
    base = np.nan_to_num(base_values(model, stats), nan=0.0)
    values = {
        "n_obs": np.array([float(patterns.n)]),
        "sample_mean": np.zeros(p),  # unused with patterns: the kernel reads the pattern_*
        "sample_cov_chol": np.eye(p),
        "fixed_values": base,
        **spec.prior_arrays(),
        "pattern_totals": np.concatenate(
            [
                [float(patterns.n), float(obs.sum())],
                centre,
                (yc.T @ yc).ravel(),  # sum y_i y_j over cases observing both
                (yc.T @ ob).ravel(),  # [i, j]: sum y_i over cases observing both
                (ob.T @ ob).ravel(),  # cases observing both
                yc.sum(axis=0),
            ]
        ),
        "pattern_ints": np.asarray(
            [len(incomplete)]
            + [v for k in range(len(incomplete)) for v in (nobs[k], rank[k], *order[k])],
            dtype=np.int64,
        ),
        "pattern_floats": np.concatenate(
            [np.concatenate([[count[k]], mean[k], factor[k]]) for k in range(len(incomplete))]
            or [np.zeros(0)]
        ),
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
