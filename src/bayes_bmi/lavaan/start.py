"""Start values (lavaan's ``start`` stage) and values that come from the data.

Exogenous covariates fixed at their sample moments (``fixed.x``) take their values here;
free parameters get data-based start values: loadings and factor variances from the leading
principal component of each factor's indicators, residual variances from the share of
variance that component leaves, regressions and covariances 0, intercepts the sample means.
A user's ``start()`` modifier wins over all of these.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_bmi.data import SampleStats
from bayes_bmi.lavaan.representation import Representation

__all__ = ["fixed_values", "start_values"]


def fixed_values(pt: pd.DataFrame, rep: Representation, stats: SampleStats) -> np.ndarray:
    """Per-row values of the fixed parameters (NaN for free rows and ``:=`` rows).

    Fixed exogenous rows (``exo == 1``) take their sample covariance or mean.
    """
    values = np.full(len(pt), np.nan)
    free = pt["free"].to_numpy()
    ustart = pt["ustart"].to_numpy(dtype=float)
    fixed = (free == 0) & (pt["op"].to_numpy() != ":=")
    values[fixed] = ustart[fixed]
    oi = {v: i for i, v in enumerate(stats.names)}
    for i in np.flatnonzero(pt["exo"].to_numpy() == 1):
        lhs, op, rhs = pt["lhs"].iat[i], pt["op"].iat[i], pt["rhs"].iat[i]
        if op == "~~":
            values[i] = stats.cov[oi[lhs], oi[rhs]]
        elif op == "~1":
            values[i] = stats.mean[oi[lhs]]
    return values


def _factor_starts(
    pt: pd.DataFrame, rep: Representation, stats: SampleStats, std_lv: bool
) -> tuple[dict[tuple[str, str], float], dict[str, float], dict[str, float]]:
    """Loadings, factor variances and residual variances from a one-component PCA."""
    oi = {v: i for i, v in enumerate(stats.names)}
    loads: dict[tuple[str, str], float] = {}
    fvar: dict[str, float] = {}
    resid: dict[str, float] = {}
    meas = pt[pt["op"] == "=~"]
    for f in rep.lv_names:
        rows = meas[meas["lhs"] == f]
        inds = [v for v in rows["rhs"] if v in oi]
        if len(inds) < 2 or len(inds) != len(rows):
            continue
        idx = [oi[v] for v in inds]
        cov = stats.cov[np.ix_(idx, idx)]
        sd = np.sqrt(np.diag(cov))
        corr = cov / np.outer(sd, sd)
        evals, evecs = np.linalg.eigh(corr)
        u = evecs[:, -1] * np.sqrt(max(evals[-1], 1e-6))
        if u.sum() < 0:
            u = -u
        u = np.clip(u, -0.95, 0.95)
        lam = u * sd
        for v, r, var in zip(inds, u, np.diag(cov), strict=True):
            resid[v] = max(var * (1 - r**2), 0.1 * var)
        marker = rows.iloc[0]
        if std_lv or marker["free"] != 0 or abs(lam[0]) < 1e-3:
            fvar[f] = 1.0
            scale = 1.0
        else:
            scale = lam[0] / marker["ustart"] if marker["ustart"] else lam[0]
            fvar[f] = scale**2
        for v, value in zip(inds, lam, strict=True):
            loads[(f, v)] = value / scale
    return loads, fvar, resid


def start_values(
    pt: pd.DataFrame, rep: Representation, stats: SampleStats, *, std_lv: bool = False
) -> np.ndarray:
    """Per-row start values: fixed values where fixed, data-based starts where free.

    Parameters
    ----------
    pt : pandas.DataFrame
        Parameter table.
    rep : Representation
    stats : SampleStats
        Sample statistics in ``rep.ov_names`` order.
    std_lv : bool
        The model is identified by unit latent variances (``ModelOptions.std_lv``).

    Returns
    -------
    numpy.ndarray
        One value per parameter-table row (NaN for ``:=`` rows).
    """
    values = fixed_values(pt, rep, stats)
    oi = {v: i for i, v in enumerate(stats.names)}
    loads, fvar, resid = _factor_starts(pt, rep, stats, std_lv)
    lv = set(rep.lv_names)
    for i in np.flatnonzero(pt["free"].to_numpy() > 0):
        lhs, op, rhs = pt["lhs"].iat[i], pt["op"].iat[i], pt["rhs"].iat[i]
        ustart = pt["ustart"].iat[i]
        if not np.isnan(ustart):
            values[i] = ustart
        elif op == "=~":
            values[i] = loads.get((lhs, rhs), 1.0)
        elif op == "~~" and lhs == rhs:
            if lhs in lv:
                values[i] = fvar.get(lhs, 0.05)
            else:
                var = stats.cov[oi[lhs], oi[lhs]]
                values[i] = resid.get(lhs, 0.5 * var)
        elif op == "~1":
            values[i] = stats.mean[oi[lhs]] if lhs in oi else 0.0
        else:  # regressions and covariances
            values[i] = 0.0
    # rows that share a label share a value: take the first one's start
    free = pt["free"].to_numpy()
    for k in np.unique(free[free > 0]):
        idx = np.flatnonzero(free == k)
        values[idx] = values[idx[0]]
    return values
