"""Standardized solutions (lavaan's ``std.lv`` and ``std.all``) and defined parameters.

``std.lv`` rescales latent variables to unit (total) variance; ``std.all`` rescales observed
variables too. As in lavaan (``cov.std = TRUE``), residual variances are divided by total
variances and (residual) covariances by the residual standard deviations, so they become
residual correlations. Defined
(``:=``) parameters are evaluated on the standardized values of the labels they use.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayes_bmi.lavaan.expressions import evaluate
from bayes_bmi.lavaan.representation import Representation, fill_matrices, implied_moments

__all__ = ["defined_values", "label_env", "standardize"]


def label_env(pt: pd.DataFrame, values: np.ndarray) -> dict[str, np.ndarray]:
    """Map each label to the value(s) of the first row carrying it (``:=`` rows excluded).

    ``values`` has one entry per row in its last dimension; leading dimensions are kept.
    """
    env: dict[str, np.ndarray] = {}
    labels, ops = pt["label"].tolist(), pt["op"].tolist()
    for i, (lab, op) in enumerate(zip(labels, ops, strict=True)):
        if lab and op != ":=" and lab not in env:
            env[lab] = values[..., i]
    return env


def defined_values(
    pt: pd.DataFrame, values: np.ndarray, env: Mapping[str, np.ndarray] | None = None
) -> np.ndarray:
    """Fill the ``:=`` rows of a per-row value array by evaluating their expressions.

    Parameters
    ----------
    pt : pandas.DataFrame
        Parameter table; its ``expression`` column holds the ``:=`` expressions, parsed when
        the table was built.
    values : numpy.ndarray, shape (nrow,) or (..., nrow)
        ``:=`` rows are overwritten in the returned copy.
    env : mapping, optional
        Label values; by default taken from ``values``.

    Returns
    -------
    numpy.ndarray
    """
    out = np.array(values, dtype=float, copy=True)
    scope = dict(label_env(pt, out) if env is None else env)
    for i in np.flatnonzero(pt["op"].to_numpy() == ":="):
        val = np.asarray(evaluate(pt["expression"].iat[i], scope), dtype=float)
        out[..., i] = val
        scope[pt["lhs"].iat[i]] = out[..., i]
    return out


def standardize(
    pt: pd.DataFrame, rep: Representation, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Standardized values of every parameter-table row.

    Parameters
    ----------
    pt : pandas.DataFrame
        Parameter table.
    rep : Representation
    values : numpy.ndarray, shape (nrow,) or (..., nrow)
        One value per row (free and fixed); leading dimensions (draws) are kept.

    Returns
    -------
    std_lv, std_all : numpy.ndarray
        Per-row standardized values; ``:=`` rows evaluated on standardized labels.
    """
    values = np.asarray(values, dtype=float)
    mats = fill_matrices(rep, values)
    sigma, _ = implied_moments(mats)
    veta = mats.eta_cov()
    with np.errstate(invalid="ignore"):
        sd_eta = np.sqrt(np.diagonal(veta, axis1=-2, axis2=-1))
        sd_ov = np.sqrt(np.diagonal(sigma, axis1=-2, axis2=-1))
        psi_sd = np.sqrt(np.diagonal(mats.psi, axis1=-2, axis2=-1))
        theta_sd = np.sqrt(np.diagonal(mats.theta, axis1=-2, axis2=-1))
    eta_i = {v: i for i, v in enumerate(rep.eta_names)}
    ov_i = {v: i for i, v in enumerate(rep.ov_names)}
    lv = set(rep.lv_names)

    def scale(name: str, observed_too: bool):
        if name in lv:
            return sd_eta[..., eta_i[name]]
        if not observed_too:
            return 1.0
        return sd_ov[..., ov_i[name]]

    def resid_scale(name: str, observed_too: bool):
        # lavaan's cov.std = TRUE: (residual) covariances are scaled by residual variances
        if name in eta_i:
            if name not in lv and not observed_too:
                return 1.0
            return psi_sd[..., eta_i[name]]
        if not observed_too:
            return 1.0
        return theta_sd[..., ov_i[name]]

    out_lv = np.full(values.shape, np.nan)
    out_all = np.full(values.shape, np.nan)
    ops, lhss, rhss = pt["op"].to_numpy(), pt["lhs"].to_numpy(), pt["rhs"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(len(pt)):
            op, lhs, rhs, v = ops[i], lhss[i], rhss[i], values[..., i]
            if op == ":=":
                continue
            for out, obs in ((out_lv, False), (out_all, True)):
                if op == "=~":
                    out[..., i] = v * scale(lhs, obs) / scale(rhs, obs)
                elif op == "~":
                    out[..., i] = v * scale(rhs, obs) / scale(lhs, obs)
                elif op == "~~" and lhs == rhs:
                    out[..., i] = v / (scale(lhs, obs) * scale(rhs, obs))
                elif op == "~~":
                    out[..., i] = v / (resid_scale(lhs, obs) * resid_scale(rhs, obs))
                elif op in ("~1", "|"):
                    out[..., i] = v / scale(lhs, obs)
                elif op == "~*~":
                    out[..., i] = v
    if np.any(ops == ":="):
        out_lv = defined_values(pt, out_lv)
        out_all = defined_values(pt, out_all)
    return out_lv, out_all
