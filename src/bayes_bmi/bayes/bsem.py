"""BSEM: every cross-loading free under a small-variance prior (Muthen & Asparouhov, 2012).

A confirmatory factor model says that each indicator loads on its own factor only, i.e. that
every other loading is exactly zero. BSEM replaces those exact zeros by approximate ones: each
cross-loading (a first-order factor on an observed indicator of another first-order factor
that it does not already load on) becomes a free parameter with prior ``normal(0, sd)`` on the
standardized scale, ``sd = 0.1`` giving Muthen & Asparouhov's variance of 0.01 (a 95% prior
range of about +-0.2). The posterior then says which cross-loadings the data ask for.

**The scale of the prior.** Muthen & Asparouhov fix factor variances at 1 and standardize the
items, so a loading is on the standardized scale. Here the likelihood is that of the raw data
and a factor may be identified by a marker item, so the prior sd is put on the raw loading
``lambda_jf`` of item ``j`` on factor ``f`` as

``sd_jf = sd * sd(y_j) / sqrt(Var(eta_f))``,

with ``sd(y_j)`` the item's sample standard deviation (EM moments under full information)
and ``Var(eta_f)`` the factor's model-implied variance in the ML fit of the model without
cross-loadings. ``lambda_jf * sqrt(Var(eta_f)) / sd(y_j)`` is the loading with the factor
and the item standardized, so ``normal(0, sd_jf)`` is ``normal(0, sd)`` on that scale, with
the factor's variance plugged in from the ML fit (an empirical-Bayes choice: the priors depend
on the data through these scales only). Under ``std_lv`` ``Var(eta_f) = 1`` for an exogenous
factor and the rule is blavaan users' usual one (``std.lv = TRUE``, a
``prior("normal(0, 0.1)")`` modifier on each cross-loading) applied to standardized items.

**Residual correlations** (``residuals=True``, opt-in): every pair of indicators of the
first-order factors without a residual covariance gets one, as a correlation ``r`` (the
engine's ``corr`` transform, ``r = tanh(z)``, the covariance ``r sqrt(theta_i theta_j)``)
with prior ``beta(a, a)`` on ``(r + 1) / 2``, ``a = (1 / sd^2 - 1) / 2``: then ``r`` has mean
0 and standard deviation exactly ``sd`` (a standardized scale by construction). Muthen &
Asparouhov use an inverse-Wishart prior on the whole residual covariance matrix; the
engine has no such matrix prior, so positive definiteness of the residual matrix is not
guaranteed by the prior: the kernel gives ``-inf`` where the implied covariance matrix is not
positive definite, which NUTS treats as a rejected region.

The cross-loadings and residual correlations are added as ``lavaan`` syntax appended to the
model (``f =~ prior("normal(0, s)")*x``); for the ML fit that gives start values they are
fixed at 0 (``f =~ 0*x``), so the ML fit is that of the model as written and its rows line
up with the Bayesian model's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_bmi.errors import BayesBmiError, OptionError
from bayes_bmi.lavaan.model import Model, specify
from bayes_bmi.lavaan.partable import row_key
from bayes_bmi.lavaan.representation import fill_matrices

__all__ = [
    "BsemError",
    "CrossLoadings",
    "bsem_pairs",
    "bsem_priors",
    "bsem_table",
    "check_bsem_sd",
    "with_bsem_rows",
]

Pairs = tuple[tuple[str, str], ...]  # (factor, indicator) or (indicator, indicator)

TABLE_COLUMNS = (
    "lhs",
    "op",
    "rhs",
    "prior",
    "est",
    "hdi_lower",
    "hdi_upper",
    "std_all",
    "r_hat",
    "excludes_zero",
)


class BsemError(BayesBmiError):
    """A model BSEM cannot augment (no first-order factors, several groups)."""


@dataclass(frozen=True)
class CrossLoadings:
    """The parameters BSEM added to a model and their priors.

    Attributes
    ----------
    sd : float
        The prior standard deviation on the standardized scale (``bsem_sd``).
    loadings : tuple of (str, str)
        ``(factor, indicator)`` of each added cross-loading.
    residuals : tuple of (str, str)
        ``(indicator, indicator)`` of each added residual correlation (empty unless asked).
    priors : tuple of str
        The prior of each added row, loadings first, as written in the augmented syntax
        (loadings on the raw scale; see the module docstring).
    """

    sd: float
    loadings: tuple[tuple[str, str], ...]
    residuals: tuple[tuple[str, str], ...]
    priors: tuple[str, ...]


def check_bsem_sd(value: object, option: str = "bsem_sd") -> float:
    """``value`` as a positive finite float.

    Raises
    ------
    OptionError
        Naming ``option`` when ``value`` is not a positive finite number.
    """
    try:
        sd = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise OptionError(f"{option} {value!r}: must be a positive number such as 0.1") from None
    if not (math.isfinite(sd) and sd > 0):
        raise OptionError(f"{option} {value}: must be a positive number such as 0.1")
    return sd


def _first_order_factors(model: Model) -> dict[str, list[str]]:
    """Each latent variable measured by observed indicators, and those indicators."""
    pt = model.partable
    ov = set(model.representation.ov_names)
    lv = set(model.representation.lv_names)
    out: dict[str, list[str]] = {}
    for lhs, op, rhs in zip(pt["lhs"], pt["op"], pt["rhs"], strict=True):
        if op == "=~" and lhs in lv and rhs in ov and rhs not in lv:
            out.setdefault(lhs, [])
            if rhs not in out[lhs]:
                out[lhs].append(rhs)
    return out


def bsem_pairs(model: Model, *, residuals: bool = False) -> tuple[Pairs, Pairs]:
    """The cross-loadings (and residual covariances) BSEM adds to ``model``.

    Returns
    -------
    loadings : tuple of (factor, indicator)
        Each first-order factor on each indicator of the other first-order factors that it
        does not load on yet, in the order of the factors and of the indicators.
    residuals : tuple of (indicator, indicator)
        With ``residuals``: each pair of those indicators without a ``~~`` row yet.

    Raises
    ------
    BsemError
        A multi-group model, or fewer than two first-order factors.
    """
    if model.ngroups > 1:
        raise BsemError("BSEM (bsem_sd) is available for single-group models only")
    factors = _first_order_factors(model)
    if len(factors) < 2:
        found = ", ".join(factors) or "none"
        raise BsemError(
            f"BSEM (bsem_sd) needs at least two first-order factors (latent variables defined "
            f"by =~ on observed indicators); {model.filename or 'the model'} has {found}"
        )
    pt = model.partable
    have = {
        row_key(lhs, op, rhs) for lhs, op, rhs in zip(pt["lhs"], pt["op"], pt["rhs"], strict=True)
    }
    items = list(dict.fromkeys(x for xs in factors.values() for x in xs))
    loadings = tuple((f, x) for f in factors for x in items if row_key(f, "=~", x) not in have)
    pairs: tuple[tuple[str, str], ...] = ()
    if residuals:
        pairs = tuple(
            (a, b)
            for i, a in enumerate(items)
            for b in items[i + 1 :]
            if row_key(a, "~~", b) not in have
        )
    return loadings, pairs


def _extended(model: Model, lines: list[str]) -> Model:
    text = model.text.rstrip("\n") + "\n# BSEM\n" + "\n".join(lines) + "\n"
    return specify(text, filename=model.filename, options=model.options)


def with_bsem_rows(
    model: Model, cross: CrossLoadings | None, pairs: tuple[Pairs, Pairs] | None = None
) -> Model:
    """``model`` with the BSEM rows: free under their priors, or fixed at 0.

    Parameters
    ----------
    model : Model
    cross : CrossLoadings or None
        The rows and their priors; ``None`` with ``pairs`` (``(loadings, residuals)`` from
        :func:`bsem_pairs`) fixes those rows at 0 (the ML fit of the model as written, in
        the augmented table's layout).
    """
    if cross is not None:
        loadings, residuals, priors = cross.loadings, cross.residuals, cross.priors
    elif pairs is not None:
        loadings, residuals = pairs
        priors = ("",) * (len(loadings) + len(residuals))
    else:
        raise ValueError("with_bsem_rows needs the rows' priors (cross) or the rows (pairs)")
    rows = [(f, "=~", x) for f, x in loadings] + [(a, "~~", b) for a, b in residuals]
    lines = [
        f'{lhs} {op} prior("{prior}")*{rhs}' if prior else f"{lhs} {op} 0*{rhs}"
        for (lhs, op, rhs), prior in zip(rows, priors, strict=True)
    ]
    return _extended(model, lines)


def bsem_priors(
    fixed: Model,
    values: np.ndarray,
    cov: np.ndarray,
    sd: float,
    loadings: tuple[tuple[str, str], ...],
    residuals: tuple[tuple[str, str], ...] = (),
) -> CrossLoadings:
    """The priors of the BSEM rows (see the module docstring for the scale).

    Parameters
    ----------
    fixed : Model
        The model with the BSEM rows fixed at 0 (:func:`with_bsem_rows`).
    values : numpy.ndarray
        Its ML estimates, one per table row (the factors' variances are read off them).
    cov : numpy.ndarray
        The sample covariance matrix of ``fixed``'s observed variables.
    sd : float
        Prior standard deviation on the standardized scale.

    Raises
    ------
    BsemError
        A factor whose ML variance is not positive (the scale is then undefined), or
        residual correlations with ``sd >= 1`` (no beta prior has that spread).
    """
    sd = check_bsem_sd(sd)
    rep = fixed.representation
    veta = np.diagonal(fill_matrices(rep, values).eta_cov())
    priors = []
    for f, x in loadings:
        v = float(veta[rep.eta_names.index(f)])
        if not (math.isfinite(v) and v > 0):
            raise BsemError(
                f"BSEM: the ML fit gives factor {f} a variance of {v:g}, so its cross-loadings "
                "have no standardized scale; check the model or use std_lv"
            )
        j = rep.ov_names.index(x)
        priors.append(f"normal(0, {sd * math.sqrt(cov[j, j] / v):.6g})")
    if residuals:
        if sd >= 1:
            raise BsemError(f"BSEM residual correlations need bsem_sd below 1, got {sd:g}")
        a = (1.0 / sd**2 - 1.0) / 2.0
        priors += [f"beta({a:.6g}, {a:.6g})"] * len(residuals)
    return CrossLoadings(sd=sd, loadings=loadings, residuals=residuals, priors=tuple(priors))


def bsem_table(summary: pd.DataFrame, cross: CrossLoadings) -> pd.DataFrame:
    """The added parameters' posterior: one row each, flagged when the interval excludes 0.

    Parameters
    ----------
    summary : pandas.DataFrame
        A Bayesian fit's summary (``lhs, op, rhs, median, hdi_lower, hdi_upper, std_all,
        r_hat``).
    cross : CrossLoadings

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TABLE_COLUMNS`: ``est`` is the posterior median (raw scale),
        ``hdi_lower``/``hdi_upper`` the 95% HDI, ``std_all`` the posterior median of the
        completely standardized value (a correlation for residual covariances) and
        ``excludes_zero`` whether the HDI excludes 0.
    """
    index = {
        row_key(lhs, op, rhs): i
        for i, (lhs, op, rhs) in enumerate(
            zip(summary["lhs"], summary["op"], summary["rhs"], strict=True)
        )
    }
    rows = [(f, "=~", x) for f, x in cross.loadings] + [(a, "~~", b) for a, b in cross.residuals]
    at = [index[row_key(*r)] for r in rows]
    s = summary.iloc[at]
    lo, hi = s["hdi_lower"].to_numpy(float), s["hdi_upper"].to_numpy(float)
    return pd.DataFrame(
        {
            "lhs": [r[0] for r in rows],
            "op": [r[1] for r in rows],
            "rhs": [r[2] for r in rows],
            "prior": list(cross.priors),
            "est": s["median"].to_numpy(float),
            "hdi_lower": lo,
            "hdi_upper": hi,
            "std_all": s["std_all"].to_numpy(float),
            "r_hat": s["r_hat"].to_numpy(float),
            "excludes_zero": (lo > 0) | (hi < 0),
        },
        columns=list(TABLE_COLUMNS),
    )
