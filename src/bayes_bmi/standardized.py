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

from bayes_bmi.expressions import evaluate, parse_expression
from bayes_bmi.representation import Representation, fill_matrices, implied_moments

__all__ = ["defined_values", "label_env", "standardize"]


def label_env(pt: pd.DataFrame, values: np.ndarray) -> dict[str, float]:
    """Map each label to the value of the first row carrying it (``:=`` rows excluded)."""
    env: dict[str, float] = {}
    for lab, op, v in zip(pt["label"], pt["op"], values, strict=True):
        if lab and op != ":=" and lab not in env:
            env[lab] = float(v)
    return env


def defined_values(
    pt: pd.DataFrame, values: np.ndarray, env: Mapping[str, float] | None = None
) -> np.ndarray:
    """Fill the ``:=`` rows of a per-row value vector by evaluating their expressions.

    Parameters
    ----------
    pt : pandas.DataFrame
        Parameter table.
    values : numpy.ndarray
        One value per row; ``:=`` rows are overwritten in the returned copy.
    env : mapping, optional
        Label values; by default taken from ``values``.

    Returns
    -------
    numpy.ndarray
    """
    out = np.array(values, dtype=float, copy=True)
    scope = dict(label_env(pt, out) if env is None else env)
    for i in np.flatnonzero(pt["op"].to_numpy() == ":="):
        val = float(evaluate(parse_expression(pt["rhs"].iat[i]), scope))
        out[i] = val
        scope[pt["lhs"].iat[i]] = val
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
    values : numpy.ndarray
        One value per row (free and fixed).

    Returns
    -------
    std_lv, std_all : numpy.ndarray
        Per-row standardized values; ``:=`` rows evaluated on standardized labels.
    """
    mats = fill_matrices(rep, values)
    sigma, _ = implied_moments(mats)
    veta = mats.eta_cov()
    with np.errstate(invalid="ignore"):
        sd_eta = np.sqrt(np.diag(veta))
        sd_ov = np.sqrt(np.diag(sigma))
    eta_i = {v: i for i, v in enumerate(rep.eta_names)}
    ov_i = {v: i for i, v in enumerate(rep.ov_names)}
    lv = set(rep.lv_names)

    def scale(name: str, observed_too: bool) -> float:
        if name in lv:
            return sd_eta[eta_i[name]]
        if not observed_too:
            return 1.0
        return sd_ov[ov_i[name]]

    def resid_scale(name: str, observed_too: bool) -> float:
        # lavaan's cov.std = TRUE: (residual) covariances are scaled by residual variances
        if name in eta_i:
            var = mats.psi[eta_i[name], eta_i[name]]
            if name not in lv and not observed_too:
                return 1.0
        else:
            if not observed_too:
                return 1.0
            var = mats.theta[ov_i[name], ov_i[name]]
        return np.sqrt(var)

    n = len(pt)
    out_lv = np.full(n, np.nan)
    out_all = np.full(n, np.nan)
    ops, lhss, rhss = pt["op"].to_numpy(), pt["lhs"].to_numpy(), pt["rhs"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(n):
            op, lhs, rhs, v = ops[i], lhss[i], rhss[i], values[i]
            if op == ":=":
                continue
            for out, obs in ((out_lv, False), (out_all, True)):
                if op == "=~":
                    out[i] = v * scale(lhs, obs) / scale(rhs, obs)
                elif op == "~":
                    out[i] = v * scale(rhs, obs) / scale(lhs, obs)
                elif op == "~~" and lhs == rhs:
                    out[i] = v / (scale(lhs, obs) * scale(rhs, obs))
                elif op == "~~":
                    out[i] = v / (resid_scale(lhs, obs) * resid_scale(rhs, obs))
                elif op == "~1":
                    out[i] = v / scale(lhs, obs)
    if np.any(ops == ":="):
        out_lv = defined_values(pt, out_lv)
        out_all = defined_values(pt, out_all)
    return out_lv, out_all
