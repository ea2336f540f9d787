"""LOO, WAIC and PPP of an ordinal (cumulative-probit) fit, as one :class:`ModelCheck`.

LOO and WAIC read the fit's ``log_likelihood`` group: each case's marginal log-likelihood,
the latent variables integrated out (:mod:`bayes_bmi.bayes.ordinal_loglik`). It is the
costly part (on the 14-factor, 46-item model with n = 632 about 0.3-0.5 ms per case and
draw on one core), so it is computed once, on at most ``loo_draws`` draws (evenly thinned
within each chain; the number used is in ``criteria["loo_draws"]``). The PPP is the
bivariate-table ``X^2`` of :mod:`bayes_bmi.checking.ordinal_ppc` (the continuous model's
likelihood-ratio discrepancy has no meaning for categories). The Bayesian fit indices
(BRMSEA, BCFI, ...) rest on that discrepancy and on the independence model: they are not
defined here (the check's ``indices`` are empty), nor are residual correlations (the
worst-fitting item pairs are in the :class:`~bayes_bmi.checking.ordinal_ppc.OrdinalCheck`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import xarray as xr

from bayes_bmi.bayes.sampling import BayesResult
from bayes_bmi.checking.ordinal_ppc import OrdinalCheck, ordinal_check
from bayes_bmi.checking.ppc import (
    ModelCheck,
    PPPCheck,
    information_criteria,
    summarise_indices,
)
from bayes_bmi.errors import OptionError

__all__ = ["LOO_DRAWS", "PPP_DRAWS", "check_ordinal", "thinned_loglik"]

#: Default number of draws (all chains) on which LOO and WAIC are computed.
LOO_DRAWS = 1000
#: Default number of draws replicated for the PPP.
PPP_DRAWS = 300
#: Columns of :func:`bayes_bmi.checking.ppc.residual_table` (left empty here).
RESIDUAL_COLUMNS = ("var1", "var2", "observed", "implied", "residual", "sd", "lower", "upper",
                    "excludes_zero")  # fmt: skip


def thinned_loglik(result: BayesResult, loo_draws: int | None = LOO_DRAWS) -> BayesResult:
    """The fit with its draws thinned to at most ``loo_draws`` and its log-likelihood computed.

    Every ``k``-th draw of each chain (``k = ceil(chains * draws / loo_draws)``); the
    returned result's ``idata`` holds ``posterior/theta`` and ``log_likelihood/y`` only,
    in memory.
    """
    if loo_draws is not None and loo_draws < 1:
        raise OptionError(f"loo_draws must be at least 1, got {loo_draws}")
    post = result.idata["posterior"].to_dataset()
    nchain, ndraw = post.sizes["chain"], post.sizes["draw"]
    step = 1 if loo_draws is None else max(1, math.ceil(nchain * ndraw / loo_draws))
    sl = {"draw": slice(None, None, step)}
    ll = result.idata["log_likelihood"].to_dataset()[["y"]].isel(sl).load()
    tree = xr.DataTree.from_dict({"posterior": post[["theta"]].isel(sl), "log_likelihood": ll})
    return dataclasses.replace(result, idata=tree)


def check_ordinal(
    result: BayesResult,
    *,
    seed: int = 0,
    ppp_draws: int | None = PPP_DRAWS,
    loo_draws: int | None = LOO_DRAWS,
) -> tuple[ModelCheck, OrdinalCheck]:
    """LOO, WAIC and the PPP of an ordinal fit (module docstring).

    Parameters
    ----------
    result : BayesResult
        An ordinal fit (:func:`~bayes_bmi.bayes.ordinal_sampling.fit_bayes_ordinal`).
    seed : int
        Seed of the replicated data.
    ppp_draws : int, optional
        Draws replicated for the PPP (default :data:`PPP_DRAWS`).
    loo_draws : int, optional
        At most this many draws for LOO and WAIC (default :data:`LOO_DRAWS`; None: all).

    Returns
    -------
    ModelCheck
        ``criteria`` (as :func:`~bayes_bmi.checking.ppc.information_criteria`, plus
        ``loo_draws``), ``loo``, ``ppp`` (``t_obs``/``t_rep`` the ``X^2`` of the replicated
        draws, NaN elsewhere); no fit indices or residual correlations.
    OrdinalCheck
        The PPP's details (worst-fitting item pairs first).
    """
    if result.ordinal is None:
        raise OptionError("check_ordinal needs an ordinal fit (ordered=...)")
    thin = thinned_loglik(result, loo_draws)
    crit, loo = information_criteria(thin, "model")
    crit["loo_draws"] = int(np.prod(thin.idata["log_likelihood"]["y"].shape[:2]))
    oc = ordinal_check(result, draws=ppp_draws or PPP_DRAWS, seed=seed)
    shape = result.idata["posterior"]["theta"].shape[:2]
    t_obs, t_rep = np.full(shape, np.nan), np.full(shape, np.nan)
    ch, dr = oc.draws["chain"].to_numpy(), oc.draws["draw"].to_numpy()
    t_obs[ch, dr] = oc.draws["observed"].to_numpy()
    t_rep[ch, dr] = oc.draws["replicated"].to_numpy()
    ppp = PPPCheck(
        t_obs=t_obs, t_rep=t_rep, ppp=oc.ppp, n_moments=0, n_draws=len(oc.draws),
        missing="observed cells",
    )  # fmt: skip
    names = tuple(result.ordinal.names)
    check = ModelCheck(
        means="model",
        pd_source="loo",
        ppp=ppp,
        criteria=crit,
        loo=loo,
        indices={},
        index_summary=summarise_indices({}),
        residuals=pd.DataFrame(columns=RESIDUAL_COLUMNS),
        names=names,
    )
    return check, oc
