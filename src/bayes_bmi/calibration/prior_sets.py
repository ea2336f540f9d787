"""Named prior sets for calibration, and prior files (``--priors weak`` or ``--priors FILE``).

Simulation-based calibration is valid under any prior, provided the truths are drawn from the
same prior the fit uses; :class:`~bayes_bmi.calibration.simulation.CalibrationSettings` passes
one set to both. blavaan's vague defaults (:data:`~bayes_bmi.bayes.priors.DEFAULT_PRIORS`) draw
many truths a real study never meets: loadings of +-20, a factor standard deviation below 0.2
for about one factor in ten (``gamma(1, 0.5)`` on the sd), whose loadings are then nearly
unidentified; the posteriors of such data sets are funnels that NUTS samples with divergences
and R-hat above 1.01 (see the README's calibration section). :data:`WEAKLY_INFORMATIVE` is the
set to calibrate a model that has the lavaan identification (first loading fixed to 1) and
indicators on roughly unit scale, as questionnaire items standardised or on a 5-point scale.

==========  ===========================  =======================================================
kind        ``weak``                     reading
==========  ===========================  =======================================================
``nu``      ``normal(0, 2)``             item intercepts within a few units of 0
``alpha``   ``normal(0, 1)``             latent intercepts (0 unless freed)
``lambda``  ``normal(0.8, 0.3)``         free loadings near the marker's 1; below 0 for 0.4%
``beta``    ``normal(0, 0.5)``           regressions of moderate size, either sign
``theta``   ``gamma(4, 4)[sd]``          residual sds: mean 1, 95% in [0.27, 2.2]
``psi``     ``gamma(4, 4)[sd]``          factor (residual) sds: same, so no factor is empty
``rho``     ``beta(5, 5)``               correlations: 95% within +-0.6
==========  ===========================  =======================================================
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from bayes_bmi.bayes.priors import DEFAULT_PRIORS, Prior, PriorError, check_prior_fits, parse_prior

__all__ = ["PRIOR_SETS", "WEAKLY_INFORMATIVE", "read_priors"]

WEAKLY_INFORMATIVE: Mapping[str, Prior] = MappingProxyType(
    {
        "nu": Prior("normal", (0.0, 2.0)),
        "alpha": Prior("normal", (0.0, 1.0)),
        "lambda": Prior("normal", (0.8, 0.3)),
        "beta": Prior("normal", (0.0, 0.5)),
        "theta": Prior("gamma", (4.0, 4.0), "sd"),
        "psi": Prior("gamma", (4.0, 4.0), "sd"),
        "rho": Prior("beta", (5.0, 5.0)),
    }
)

#: Named prior sets: ``default`` (blavaan's vague priors) and ``weak``.
PRIOR_SETS: Mapping[str, Mapping[str, Prior]] = MappingProxyType(
    {"default": DEFAULT_PRIORS, "weak": WEAKLY_INFORMATIVE}
)


def read_priors(source: str | Path) -> dict[str, Prior]:
    """A prior per kind from a set's name (:data:`PRIOR_SETS`) or a TOML/JSON file.

    ``"default"`` gives an empty mapping (blavaan's defaults, as when no priors are given, so
    that a calibration's fingerprint is the same either way).
    The file maps kinds to prior strings, e.g. ``lambda = "normal(0.8, 0.3)"`` (TOML) or
    ``{"lambda": "normal(0.8, 0.3)"}`` (JSON); the kinds it leaves out keep blavaan's defaults.

    Raises
    ------
    PriorError
        An unknown name, an unreadable file, an unknown kind or a prior unfit for its kind.
    """
    name = str(source)
    if name == "default":
        return {}
    if name in PRIOR_SETS:
        return dict(PRIOR_SETS[name])
    path = Path(name)
    if not path.is_file():
        raise PriorError(
            f"priors {name!r}: neither a prior set ({', '.join(PRIOR_SETS)}) nor a file"
        )
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise PriorError(f"{path}: cannot read the priors: {exc}") from None
    unknown = sorted(set(doc) - set(DEFAULT_PRIORS))
    if unknown:
        raise PriorError(
            f"{path}: unknown parameter kind(s) {', '.join(unknown)}; use: "
            f"{', '.join(DEFAULT_PRIORS)}"
        )
    out = {}
    for kind, text_prior in doc.items():
        prior = parse_prior(str(text_prior))
        check_prior_fits(prior, kind, f"{path}: {kind}")
        out[kind] = prior
    return out
