"""Priors: blavaan's defaults per parameter kind and the ``prior("...")`` modifier.

Every free parameter gets one prior, stored as data (a family code and three numbers), so
that changing a prior never changes the structure of the compiled PyMC model.

Default priors (blavaan 0.4's ``dpriors()``):

==========  ===========================  ===================================
kind        parameters                   prior
==========  ===========================  ===================================
``nu``      observed intercepts          ``normal(0, 32)``
``alpha``   latent intercepts            ``normal(0, 10)``
``lambda``  loadings                     ``normal(0, 10)``
``beta``    regressions                  ``normal(0, 10)``
``theta``   observed residual variances  ``gamma(1, 0.5)[sd]``
``psi``     latent (residual) variances  ``gamma(1, 0.5)[sd]``
``rho``     (residual) correlations      ``beta(1, 1)`` on (-1, 1)
==========  ===========================  ===================================

Supported families: ``normal(mean, sd)``, ``student_t(df, mean, scale)``,
``cauchy(location, scale)`` for real parameters; ``gamma(shape, rate)``,
``lognormal(meanlog, sdlog)``, ``halfnormal(scale)``, ``exponential(rate)`` for variances, on the
standard deviation (``[sd]``, the default) or on the variance (``[var]``); ``beta(a, b)`` for
correlations (on ``(r + 1) / 2``) or ``uniform(lower, upper)`` on a correlation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from scipy import stats

from bayes_bmi.errors import BayesBmiError

__all__ = [
    "DEFAULT_PRIORS",
    "FAMILIES",
    "Prior",
    "PriorError",
    "kind_support",
    "parse_prior",
    "prior_logpdf",
    "sample_prior",
]

# family -> (code, number of parameters, support)
FAMILIES: Mapping[str, tuple[int, int, str]] = MappingProxyType(
    {
        "normal": (0, 2, "real"),
        "student_t": (1, 3, "real"),
        "cauchy": (2, 2, "real"),
        "gamma": (3, 2, "positive"),
        "lognormal": (4, 2, "positive"),
        "halfnormal": (5, 1, "positive"),
        "exponential": (6, 1, "positive"),
        "beta": (7, 2, "unit"),
        "uniform": (8, 2, "corr"),
    }
)
_ALIASES = MappingProxyType(
    {"t": "student_t", "studentt": "student_t", "student": "student_t", "dnorm": "normal"}
)


class PriorError(BayesBmiError):
    """A prior that cannot be parsed or does not fit its parameter."""


@dataclass(frozen=True)
class Prior:
    """One prior distribution.

    Attributes
    ----------
    family : str
        One of :data:`FAMILIES`.
    params : tuple of float
        The family's parameters (see the module docstring).
    on : str
        For variance parameters: ``"sd"`` or ``"var"``, the scale the prior is put on.
    """

    family: str
    params: tuple[float, ...]
    on: str = "sd"

    @property
    def code(self) -> int:
        """Integer code of the family (used as data in the PyMC model)."""
        return FAMILIES[self.family][0]

    def padded(self) -> tuple[float, float, float]:
        """The parameters padded to three numbers."""
        p = list(self.params) + [0.0] * (3 - len(self.params))
        return (p[0], p[1], p[2])

    def __str__(self) -> str:
        args = ", ".join(f"{v:g}" for v in self.params)
        support = FAMILIES[self.family][2]
        suffix = f"[{self.on}]" if support == "positive" else ""
        return f"{self.family}({args}){suffix}"


DEFAULT_PRIORS: Mapping[str, Prior] = MappingProxyType(
    {
        "nu": Prior("normal", (0.0, 32.0)),
        "alpha": Prior("normal", (0.0, 10.0)),
        "lambda": Prior("normal", (0.0, 10.0)),
        "beta": Prior("normal", (0.0, 10.0)),
        "theta": Prior("gamma", (1.0, 0.5), "sd"),
        "psi": Prior("gamma", (1.0, 0.5), "sd"),
        "rho": Prior("beta", (1.0, 1.0)),
    }
)

_PRIOR_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*\(([^()]*)\)\s*(?:\[\s*(sd|var)\s*\])?\s*$")


def parse_prior(text: str) -> Prior:
    """Parse a prior string such as ``"normal(0, 1)"`` or ``"gamma(1, 0.5)[sd]"``.

    Raises
    ------
    PriorError
        With the expected form and the list of families.
    """
    m = _PRIOR_RE.match(text)
    families = ", ".join(FAMILIES)
    if not m:
        raise PriorError(
            f"cannot read prior {text!r}: expected family(numbers) such as 'normal(0, 1)' or "
            f"'gamma(1, 0.5)[sd]'. Must be one of: {families}"
        )
    name = m.group(1).lower()
    name = _ALIASES.get(name, name)
    if name not in FAMILIES:
        raise PriorError(
            f"unknown prior family {m.group(1)!r} in {text!r}. Must be one of: {families}"
        )
    try:
        params = tuple(float(v) for v in m.group(2).split(",")) if m.group(2).strip() else ()
    except ValueError:
        raise PriorError(f"prior {text!r}: the parameters must be numbers") from None
    _, nparams, support = FAMILIES[name]
    if len(params) != nparams:
        raise PriorError(f"prior {text!r}: {name} takes {nparams} parameter(s), got {len(params)}")
    if not all(math.isfinite(v) for v in params):
        raise PriorError(f"prior {text!r}: parameters must be finite")
    scale_idx = {
        "normal": [1],
        "student_t": [0, 2],
        "cauchy": [1],
        "gamma": [0, 1],
        "lognormal": [1],
        "halfnormal": [0],
        "exponential": [0],
        "beta": [0, 1],
    }
    for i in scale_idx.get(name, []):
        if params[i] <= 0:
            raise PriorError(f"prior {text!r}: parameter {i + 1} of {name} must be positive")
    if name == "uniform" and not (-1 <= params[0] < params[1] <= 1):
        raise PriorError(f"prior {text!r}: uniform bounds for a correlation must lie in [-1, 1]")
    on = m.group(3) or "sd"
    if m.group(3) and support != "positive":
        raise PriorError(f"prior {text!r}: [{on}] applies only to variance priors")
    return Prior(name, params, on)


def kind_support(kind: str) -> str:
    """Which support a parameter kind needs: ``real``, ``positive`` or ``corr``."""
    if kind in ("theta", "psi"):
        return "positive"
    if kind == "rho":
        return "corr"
    return "real"


def check_prior_fits(prior: Prior, kind: str, where: str) -> None:
    """Raise :class:`PriorError` when a family cannot serve a parameter kind."""
    need = kind_support(kind)
    have = FAMILIES[prior.family][2]
    ok = have == need or (need == "corr" and have in ("unit", "corr"))
    if not ok:
        allowed = [
            f
            for f, (_, _, s) in FAMILIES.items()
            if s == need or (need == "corr" and s in ("unit", "corr"))
        ]
        raise PriorError(
            f"{where}: prior {prior} does not fit a {kind} parameter; use one of: "
            f"{', '.join(allowed)}"
        )


def _frozen(prior: Prior):
    a, b, c = prior.padded()
    f = prior.family
    if f == "normal":
        return stats.norm(a, b)
    if f == "student_t":
        return stats.t(a, loc=b, scale=c)
    if f == "cauchy":
        return stats.cauchy(a, b)
    if f == "gamma":
        return stats.gamma(a, scale=1.0 / b)
    if f == "lognormal":
        return stats.lognorm(s=b, scale=math.exp(a))
    if f == "halfnormal":
        return stats.halfnorm(scale=a)
    if f == "exponential":
        return stats.expon(scale=1.0 / a)
    if f == "beta":
        return stats.beta(a, b)
    if f == "uniform":
        return stats.uniform(a, b - a)
    raise PriorError(f"unknown family {f}")  # pragma: no cover


def prior_logpdf(prior: Prior, x: np.ndarray) -> np.ndarray:
    """Log density of the prior at ``x`` on its own scale (scipy; the test reference)."""
    return _frozen(prior).logpdf(x)


def sample_prior(prior: Prior, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of the prior on its own scale (sd, variance, ``(r+1)/2`` or ``r``)."""
    return _frozen(prior).rvs(size=size, random_state=rng)
