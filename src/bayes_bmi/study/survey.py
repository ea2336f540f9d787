"""The thesis survey's ground truth and its generator: a Likert survey from a known truth.

Pure (no I/O, no global random state; every function takes an explicit seed). A
:class:`SurveyTruth` is the documented ground truth of the thesis design (eight drivers ->
second-order business model innovation -> firm performance) in the *standardized metric*:
every latent variable and every item's latent response has total variance 1, so loadings,
paths and correlations are the ``std.all`` values a fit should recover. :func:`truth_model`
and :func:`truth_values` turn it into a model and per-row values, :func:`simulate_responses`
draws the continuous latent responses (with the generic
:func:`bayes_bmi.simulate.normal.simulate_normal`) and :func:`simulate_survey` cuts them at
per-item thresholds into 5-point Likert items and adds firm descriptors.

The shipped data set ``data/bmi_survey.csv`` is ``simulate_survey(default_truth(),
SHIPPED_N, SHIPPED_SEED)`` (see ``scripts/generate_survey.py``). A truth with
:class:`MissingAnswers` makes a survey with answers missing at random (MAR): the share of
missing answers grows with the answer to an always-answered anchor item.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from bayes_bmi.errors import DataError, read_text
from bayes_bmi.lavaan.model import Model, specify
from bayes_bmi.lavaan.standardized import defined_values
from bayes_bmi.simulate.normal import Seed, simulate_normal

__all__ = [
    "GROUPS_N",
    "GROUPS_SEED",
    "SHIPPED_N",
    "SHIPPED_SEED",
    "TRUTH_FORMAT",
    "FirmProfile",
    "GroupDesign",
    "MissingAnswers",
    "SurveyTruth",
    "add_missing_answers",
    "default_firm_profile",
    "default_truth",
    "grouped_truth",
    "discretize",
    "read_truth",
    "simulate_firms",
    "simulate_groups",
    "simulate_responses",
    "simulate_survey",
    "truth_model",
    "truth_syntax",
    "truth_values",
]

#: Sample size of the thesis survey and of the shipped synthetic data set.
SHIPPED_N = 632
#: Seed of the shipped synthetic data set.
SHIPPED_SEED = 20261127
#: Tag of the ground-truth JSON format.
TRUTH_FORMAT = "bayes-bmi/survey-truth/1"


# ---------------------------------------------------------------------------------------------
# The ground truth of the survey
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MissingAnswers:
    """Answers missing at random (MAR), driven by an always-answered anchor item.

    Every answer but the anchor's is missing, independently, with probability
    ``plogis(intercept + slope * z)``, where ``z`` is the firm's standardized answer to the
    anchor item and ``intercept`` is set so that ``rate`` of all item cells (the anchor's
    included) are missing in expectation. A positive slope: firms that answer the anchor
    high skip more questions. Missingness depends only on an observed answer, so
    full-information ML is unbiased where listwise deletion is not.

    Attributes
    ----------
    rate : float
        Expected share of item cells missing, in ``(0, 0.5)``.
    anchor : str
        The item that is always answered.
    slope : float
        Log-odds of a missing answer per standard deviation of the anchor answer.
    """

    rate: float
    anchor: str
    slope: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.rate < 0.5:
            raise ValueError(f"the missing-answer rate must lie in (0, 0.5), got {self.rate:g}")
        if not math.isfinite(self.slope):
            raise ValueError(f"the missingness slope must be finite, got {self.slope}")

    def intercept(self, z: np.ndarray, n_items: int) -> float:
        """The intercept that makes ``rate`` of ``n_items`` items' cells missing on average."""
        target = self.rate * n_items / (n_items - 1)  # the anchor is never missing
        if not target < 1:
            raise ValueError(f"a rate of {self.rate:g} needs more than {n_items} items")
        from scipy.optimize import brentq

        return float(
            brentq(lambda a: sps.logistic.cdf(a + self.slope * z).mean() - target, -50, 50)
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "mechanism": "MAR",
            "rate": self.rate,
            "anchor": self.anchor,
            "slope": self.slope,
            "model": "P(answer missing) = plogis(intercept + slope * z_anchor) for every item but "
            "the anchor; z_anchor the standardized anchor answer; intercept sets the expected "
            "share of missing item cells to rate",
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MissingAnswers:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        mechanism = d.pop("mechanism", "MAR")
        if mechanism != "MAR":
            raise ValueError(f"unknown missingness mechanism {mechanism!r}; expected 'MAR'")
        d.pop("model", None)
        _check_keys("missing", d, {"rate", "anchor", "slope"})
        return cls(rate=float(d["rate"]), anchor=str(d["anchor"]), slope=float(d.get("slope", 1)))


@dataclass(frozen=True)
class GroupDesign:
    """Two or more kinds of firms whose truth differs in ONE driver's path to the focal construct.

    Each firm belongs to a group (the column ``column`` of the survey, drawn with the
    probabilities ``shares`` from its own seeded stream). Within every group the truth is the
    survey's truth with ``paths[group]`` as the standardized path of ``driver``; everything else
    is the same in every group: loadings, thresholds and item intercepts (the measurement model
    is invariant), driver correlations, the other paths and ``b``. Every latent variable keeps
    total variance 1 in every group, so the focal construct's residual variance differs by
    group (it absorbs the change in R^2).

    Attributes
    ----------
    column : str
        Name of the group column of the survey (e.g. ``size``).
    shares : mapping of str to float
        Group label -> probability, in group order.
    driver : str
        The driver whose path differs by group.
    paths : mapping of str to float
        Group label -> the driver's standardized path in that group.
    """

    column: str
    shares: Mapping[str, float]
    driver: str
    paths: Mapping[str, float]

    def __post_init__(self) -> None:
        object.__setattr__(self, "shares", _frozen(self.shares))
        object.__setattr__(self, "paths", _frozen({k: float(v) for k, v in self.paths.items()}))
        if not self.column.isidentifier():
            raise ValueError(f"group column {self.column!r} is not a valid variable name")
        if len(self.shares) < 2:
            raise ValueError("a group design needs at least two groups")
        _check_probabilities("groups", self.shares)
        if list(self.paths) != list(self.shares):
            raise ValueError(
                f"group paths must give one value per group, in order {list(self.shares)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (the per-group raw values are added by :meth:`SurveyTruth.to_dict`)."""
        return {
            "column": self.column,
            "shares": dict(self.shares),
            "driver": self.driver,
            "paths": dict(self.paths),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GroupDesign:
        """Inverse of :meth:`to_dict` (``path_by_group`` and ``model`` skipped)."""
        d = {k: v for k, v in d.items() if k not in ("path_by_group", "model")}
        _check_keys("groups", d, {f.name for f in fields(cls)})
        return cls(**d)


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


def _check_probabilities(name: str, probs: Mapping[str, float]) -> None:
    p = np.array(list(probs.values()), dtype=float)
    if p.size == 0 or np.any(~np.isfinite(p)) or np.any(p <= 0) or abs(p.sum() - 1) > 1e-9:
        raise ValueError(f"{name}: probabilities must be positive and sum to 1, got {dict(probs)}")


@dataclass(frozen=True)
class FirmProfile:
    """Frequencies of the firm descriptors (drawn independently of the survey items).

    Attributes
    ----------
    cities : mapping of str to float
        City (prefecture) -> probability.
    industries : mapping of str to float
        Technology sector -> probability.
    size_classes : mapping of str to float
        Size class -> probability.
    median_age : mapping of str to float
        Size class -> median firm age in years.
    age_sigma : float
        Dispersion of log firm age within a size class.
    max_age : int
        Ages are rounded and clipped to ``1 .. max_age`` years.
    """

    cities: Mapping[str, float]
    industries: Mapping[str, float]
    size_classes: Mapping[str, float]
    median_age: Mapping[str, float]
    age_sigma: float = 0.55
    max_age: int = 40

    def __post_init__(self) -> None:
        for f in ("cities", "industries", "size_classes", "median_age"):
            object.__setattr__(self, f, _frozen(getattr(self, f)))
        for f in ("cities", "industries", "size_classes"):
            _check_probabilities(f, getattr(self, f))
        if set(self.median_age) != set(self.size_classes):
            raise ValueError("median_age must give one median per size class")
        if any(not (v >= 1) for v in self.median_age.values()):
            raise ValueError("median ages must be at least 1 year")
        if not (self.age_sigma >= 0) or self.max_age < 1:
            raise ValueError("age_sigma must be >= 0 and max_age >= 1")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "cities": dict(self.cities),
            "industries": dict(self.industries),
            "size_classes": dict(self.size_classes),
            "median_age": dict(self.median_age),
            "age_sigma": self.age_sigma,
            "max_age": self.max_age,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FirmProfile:
        """Inverse of :meth:`to_dict`."""
        _check_keys("firms", d, {f.name for f in fields(cls)})
        return cls(**{k: (int(v) if k == "max_age" else v) for k, v in d.items()})


def _check_keys(where: str, d: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)}. Must be one of: "
            f"{', '.join(sorted(allowed))}"
        )


def default_firm_profile() -> FirmProfile:
    """Descriptor frequencies of the shipped data set.

    Harbin, the provincial capital and home of most high-tech firms, dominates; Daqing
    (petrochemicals, new materials) and Qiqihar (equipment manufacturing) follow. Size classes
    follow China's 2011 SME classification (by employees and revenue, sector-specific).
    """
    return FirmProfile(
        cities={
            "Harbin": 0.48,
            "Daqing": 0.14,
            "Qiqihar": 0.08,
            "Mudanjiang": 0.07,
            "Jiamusi": 0.05,
            "Suihua": 0.04,
            "Jixi": 0.03,
            "Heihe": 0.02,
            "Hegang": 0.02,
            "Shuangyashan": 0.02,
            "Qitaihe": 0.02,
            "Yichun": 0.02,
            "Daxing'anling": 0.01,
        },
        industries={
            "software and IT services": 0.22,
            "advanced equipment manufacturing": 0.20,
            "electronic information": 0.12,
            "new materials": 0.12,
            "biomedicine": 0.12,
            "agricultural and food technology": 0.13,
            "new energy and energy saving": 0.09,
        },
        size_classes={"micro": 0.30, "small": 0.48, "medium": 0.22},
        median_age={"micro": 4.0, "small": 8.0, "medium": 13.0},
    )


@dataclass(frozen=True)
class SurveyTruth:
    """Ground truth of the survey in the standardized metric.

    Every latent variable and every item's latent response has total variance 1 and mean 0,
    so each value below is the ``std.all`` value a correct fit should recover.

    Attributes
    ----------
    loadings : mapping of str to mapping of str to float
        First-order construct -> {item: standardized loading}, in questionnaire order (drivers,
        then BMI dimensions, then outcome). Item residual variance is ``1 - loading**2``.
    thresholds : mapping of str to sequence of float
        Item -> increasing cut points on its latent-response scale (4 for 5 categories); the
        answer is 1 + the number of cut points below the latent response. Cut points below
        zero make agreement the common answer (negatively skewed items).
    drivers : tuple of str
        Exogenous driver constructs.
    driver_corr : tuple of tuple of float
        Correlation matrix of the drivers (positive definite).
    paths : mapping of str to float
        Driver -> standardized path to the second-order factor (``g_<driver>``).
    dimension_loadings : mapping of str to float
        BMI dimension -> second-order loading.
    b : float
        Standardized path second-order factor -> outcome.
    second_order : str
        Name of the second-order factor.
    outcome : str
        Name of the outcome construct.
    firms : FirmProfile
        Frequencies of the firm descriptors.
    description : str
        Free text kept with the truth.
    missing : MissingAnswers or None
        Answers missing at random in the simulated survey (None: every item answered).
    groups : GroupDesign or None
        Kinds of firms whose truth differs in one driver's path (None: one population). The
        driver's entry in ``paths`` is then unused: each group has its own value.
    """

    loadings: Mapping[str, Mapping[str, float]]
    thresholds: Mapping[str, tuple[float, ...]]
    drivers: tuple[str, ...]
    driver_corr: tuple[tuple[float, ...], ...]
    paths: Mapping[str, float]
    dimension_loadings: Mapping[str, float]
    b: float
    second_order: str = "BMI"
    outcome: str = "FP"
    firms: FirmProfile = field(default_factory=default_firm_profile)
    description: str = ""
    missing: MissingAnswers | None = None
    groups: GroupDesign | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "loadings", _frozen({c: _frozen(v) for c, v in self.loadings.items()}))
        set_(
            self,
            "thresholds",
            _frozen({k: tuple(float(t) for t in v) for k, v in self.thresholds.items()}),
        )
        set_(self, "drivers", tuple(self.drivers))
        set_(self, "driver_corr", tuple(tuple(float(x) for x in r) for r in self.driver_corr))
        set_(self, "paths", _frozen(self.paths))
        set_(self, "dimension_loadings", _frozen(self.dimension_loadings))
        self._validate()

    # -- validation ----------------------------------------------------------------------
    def _validate(self) -> None:
        names = [*self.loadings, self.second_order]
        for name in [*names, *self.items]:
            if not name.isidentifier():
                raise ValueError(f"{name!r} is not a valid variable name")
        if len(set(names)) != len(names):
            raise ValueError("construct names must be unique")
        if len(set(self.items)) != len(self.items) or set(self.items) & set(names):
            raise ValueError("item names must be unique and differ from construct names")
        expected = [*self.drivers, *self.dimension_loadings, self.outcome]
        if list(self.loadings) != expected:
            raise ValueError(
                f"loadings must list the drivers, the BMI dimensions and the outcome in that "
                f"order: {expected}, got {list(self.loadings)}"
            )
        if list(self.paths) != list(self.drivers):
            raise ValueError(f"paths must give one value per driver, in order {self.drivers}")
        for construct, items in self.loadings.items():
            if len(items) < 2:
                raise ValueError(f"{construct}: at least two items are needed")
            for item, lam in items.items():
                if not 0 < abs(lam) < 1:
                    raise ValueError(f"{item}: a standardized loading must lie in (-1, 1)")
        for dim, lam in self.dimension_loadings.items():
            if not 0 < abs(lam) < 1:
                raise ValueError(f"{dim}: a second-order loading must lie in (-1, 1), got {lam}")
        if not abs(self.b) < 1:
            raise ValueError(f"b must lie in (-1, 1), got {self.b}")
        if list(self.thresholds) != list(self.items):
            raise ValueError("thresholds must give the cut points of every item, in item order")
        ncut = {len(t) for t in self.thresholds.values()}
        if len(ncut) != 1 or ncut.pop() < 1:
            raise ValueError("every item must have the same (positive) number of cut points")
        for item, tau in self.thresholds.items():
            t = np.asarray(tau)
            if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
                raise ValueError(f"{item}: cut points must be finite and strictly increasing")
        r = self.corr_matrix
        k = len(self.drivers)
        if r.shape != (k, k) or not np.allclose(r, r.T) or not np.allclose(np.diag(r), 1):
            raise ValueError("driver_corr must be a symmetric correlation matrix of the drivers")
        if np.linalg.eigvalsh(r).min() <= 1e-8:
            raise ValueError("driver_corr is not positive definite")
        if self.missing is not None and self.missing.anchor not in self.items:
            raise ValueError(
                f"the missingness anchor {self.missing.anchor!r} is not an item of the survey"
            )
        if self.groups is not None:
            if self.groups.driver not in self.drivers:
                raise ValueError(
                    f"groups: unknown driver {self.groups.driver!r}. Must be one of: "
                    f"{', '.join(self.drivers)}"
                )
            if self.groups.column in {*self.items, "firm_id", "city", "industry", "age_years"}:
                raise ValueError(f"groups: column {self.groups.column!r} is taken")
            for truth in self.group_truths().values():
                truth._validate()
        r2 = self.r2_bmi
        if not r2 < 1:
            raise ValueError(
                f"the drivers explain R^2 = {r2:.3f} >= 1 of {self.second_order}: its residual "
                "variance would be negative; lower the paths or the driver correlations"
            )

    # -- derived quantities --------------------------------------------------------------
    @property
    def items(self) -> tuple[str, ...]:
        """All items in questionnaire order."""
        return tuple(i for items in self.loadings.values() for i in items)

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The first-order dimensions of the second-order factor."""
        return tuple(self.dimension_loadings)

    @property
    def n_categories(self) -> int:
        """Number of answer categories of every item."""
        return len(next(iter(self.thresholds.values()))) + 1

    @property
    def corr_matrix(self) -> np.ndarray:
        """The driver correlation matrix as an array."""
        return np.array(self.driver_corr, dtype=float)

    @property
    def r2_bmi(self) -> float:
        """Share of the second-order factor's variance explained by the drivers: g' R g."""
        g = np.array([self.paths[d] for d in self.drivers])
        return float(g @ self.corr_matrix @ g)

    def group_truths(self) -> dict[str, SurveyTruth]:
        """Each group's truth (one population: empty): this truth with the group's path."""
        if self.groups is None:
            return {}
        g = self.groups
        return {
            label: dataclasses.replace(
                self, paths={**self.paths, g.driver: value}, groups=None, missing=None
            )
            for label, value in g.paths.items()
        }

    def raw_path_factor(self, driver: str) -> float:
        """Standardized -> raw factor of ``driver``'s path to the focal construct.

        Raw is the metric of the fitted model's default identification (each factor's first
        loading fixed to 1) on the continuous latent responses: the focal construct's SD is
        the product of its first dimension's first loading and that dimension's loading, the
        driver's SD its first loading.
        """
        dim = self.dimensions[0]
        sd_focal = next(iter(self.loadings[dim].values())) * self.dimension_loadings[dim]
        return float(sd_focal / next(iter(self.loadings[driver].values())))

    def path_by_group(self) -> dict[str, dict[str, float]]:
        """Group -> ``{"std": ..., "raw": ..., "r2": ...}`` of the group-specific path."""
        if self.groups is None:
            return {}
        factor = self.raw_path_factor(self.groups.driver)
        return {
            label: {"std": v, "raw": v * factor, "r2_" + self.second_order: t.r2_bmi}
            for (label, v), t in zip(
                self.groups.paths.items(), self.group_truths().values(), strict=True
            )
        }

    def indirect_effects(self) -> dict[str, float]:
        """Standardized indirect effect of each driver on the outcome: ``g_<driver> * b``."""
        return {d: self.paths[d] * self.b for d in self.drivers}

    def category_probabilities(self) -> dict[str, list[float]]:
        """Marginal probability of each answer category per item (latent responses N(0, 1))."""
        out = {}
        for item, tau in self.thresholds.items():
            cdf = np.concatenate([[0.0], sps.norm.cdf(tau), [1.0]])
            out[item] = [float(p) for p in np.diff(cdf)]
        return out

    def residual_variances(self) -> dict[str, float]:
        """Residual variance of every endogenous latent variable (total variances are 1)."""
        out = {dim: 1 - lam**2 for dim, lam in self.dimension_loadings.items()}
        out[self.second_order] = 1 - self.r2_bmi
        out[self.outcome] = 1 - self.b**2
        return out

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form; ``derived`` holds recomputed summaries and is ignored on reading."""
        return {
            "format": TRUTH_FORMAT,
            "description": self.description,
            "metric": (
                "standardized: every latent variable and every item's latent response has "
                "mean 0 and total variance 1; values are the std.all values a fit recovers"
            ),
            "drivers": list(self.drivers),
            "second_order": self.second_order,
            "outcome": self.outcome,
            "paths": dict(self.paths),
            "b": self.b,
            "dimension_loadings": dict(self.dimension_loadings),
            "driver_corr": [list(r) for r in self.driver_corr],
            "loadings": {c: dict(v) for c, v in self.loadings.items()},
            "thresholds": {k: list(v) for k, v in self.thresholds.items()},
            "firms": self.firms.to_dict(),
            **({"missing": self.missing.to_dict()} if self.missing is not None else {}),
            **({"groups": self._groups_dict()} if self.groups is not None else {}),
            "derived": {
                "r2_" + self.second_order: self.r2_bmi,
                "indirect_effects": self.indirect_effects(),
                "residual_variances": self.residual_variances(),
                "category_probabilities": self.category_probabilities(),
            },
        }

    def _groups_dict(self) -> dict[str, Any]:
        assert self.groups is not None
        g = self.groups
        return {
            **g.to_dict(),
            "model": (
                f"within group k the standardized path {self.second_order} ~ {g.driver} is "
                f"paths[k]; loadings, thresholds (hence item intercepts), driver correlations, "
                f"the other paths and b are the same in every group (invariant measurement); "
                f"{self.second_order}'s residual variance is 1 - R^2 of its group. 'raw' is the "
                "path in the marker metric (first loading of each factor fixed to 1) of the "
                "continuous latent responses; the paths entry of this driver is unused"
            ),
            "path_by_group": self.path_by_group(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SurveyTruth:
        """Inverse of :meth:`to_dict` (``format`` is checked, ``metric`` and ``derived`` skipped).

        Raises
        ------
        ValueError
            On an unknown format or key, or a truth that fails validation.
        """
        d = dict(d)
        fmt = d.pop("format", TRUTH_FORMAT)
        if fmt != TRUTH_FORMAT:
            raise ValueError(f"unknown truth format {fmt!r}; expected {TRUTH_FORMAT!r}")
        d.pop("derived", None)
        d.pop("metric", None)
        _check_keys("truth", d, {f.name for f in fields(cls)})
        if "firms" in d:
            d["firms"] = FirmProfile.from_dict(d["firms"])
        if d.get("missing") is not None:
            d["missing"] = MissingAnswers.from_dict(d["missing"])
        if d.get("groups") is not None:
            d["groups"] = GroupDesign.from_dict(d["groups"])
        return cls(**d)

    def to_json(self) -> str:
        """JSON text (the same bytes as ``bayes_bmi.io.atomic_write_json(path, to_dict())``)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SurveyTruth:
        """Read the text written by :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


def read_truth(path: str | Path) -> SurveyTruth:
    """Read a truth file written by :meth:`SurveyTruth.to_json` (``--truth``, ``--from-truth``).

    Raises
    ------
    DataError
        When the file is missing, not UTF-8, not JSON, or not a truth (the message says why).
    """
    text = read_text(path, "truth", DataError)
    try:
        return SurveyTruth.from_json(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{path}: not a truth file of bayes-bmi: {exc}") from None


# ---------------------------------------------------------------------------------------------
# The shipped truth
# ---------------------------------------------------------------------------------------------

#: Standardized loadings of the shipped truth: unequal (0.55-0.90), one weaker item in most
#: scales, as in real questionnaires.
_DEFAULT_LOADINGS: dict[str, dict[str, float]] = {
    "TI": {"TI1": 0.82, "TI2": 0.78, "TI3": 0.71, "TI4": 0.64},
    "MD": {"MD1": 0.76, "MD2": 0.81, "MD3": 0.69, "MD4": 0.58},
    "CP": {"CP1": 0.74, "CP2": 0.80, "CP3": 0.62},
    "EM": {"EM1": 0.85, "EM2": 0.79, "EM3": 0.73, "EM4": 0.66},
    "OL": {"OL1": 0.77, "OL2": 0.83, "OL3": 0.70, "OL4": 0.61},
    "NR": {"NR1": 0.72, "NR2": 0.75, "NR3": 0.68, "NR4": 0.55},
    "GP": {"GP1": 0.88, "GP2": 0.84, "GP3": 0.76, "GP4": 0.63},
    "RS": {"RS1": 0.79, "RS2": 0.74, "RS3": 0.60},
    "VP": {"VP1": 0.84, "VP2": 0.80, "VP3": 0.72},
    "VC": {"VC1": 0.81, "VC2": 0.77, "VC3": 0.69},
    "VD": {"VD1": 0.78, "VD2": 0.83, "VD3": 0.67},
    "VK": {"VK1": 0.80, "VK2": 0.75, "VK3": 0.65},
    "FP": {"FP1": 0.86, "FP2": 0.82, "FP3": 0.76, "FP4": 0.70},
}

#: Driver order and standardized paths to BMI: TI, EM, MD strong; OL, NR, RS, GP weak; CP null.
_DEFAULT_PATHS: dict[str, float] = {
    "TI": 0.35,
    "MD": 0.25,
    "CP": 0.00,
    "EM": 0.30,
    "OL": 0.15,
    "NR": 0.12,
    "GP": 0.08,
    "RS": 0.10,
}

#: Driver correlations (order TI, MD, CP, EM, OL, NR, GP, RS), all 0.20-0.45.
_DEFAULT_DRIVER_CORR: tuple[tuple[float, ...], ...] = (
    (1.00, 0.25, 0.25, 0.30, 0.45, 0.25, 0.20, 0.35),
    (0.25, 1.00, 0.45, 0.30, 0.30, 0.35, 0.20, 0.25),
    (0.25, 0.45, 1.00, 0.25, 0.20, 0.25, 0.20, 0.20),
    (0.30, 0.30, 0.25, 1.00, 0.35, 0.35, 0.25, 0.30),
    (0.45, 0.30, 0.20, 0.35, 1.00, 0.30, 0.20, 0.30),
    (0.25, 0.35, 0.25, 0.35, 0.30, 1.00, 0.40, 0.35),
    (0.20, 0.20, 0.20, 0.25, 0.20, 0.40, 1.00, 0.35),
    (0.35, 0.25, 0.20, 0.30, 0.30, 0.35, 0.35, 1.00),
)

_DEFAULT_DIMENSION_LOADINGS: dict[str, float] = {"VP": 0.70, "VC": 0.75, "VD": 0.65, "VK": 0.60}

#: Cumulative answer proportions of a typical item (agreement-leaning: the modal answer is 4):
#: P(answer <= k) for k = 1..4, i.e. categories 1-5 with probabilities .03 .08 .22 .39 .28.
_BASE_CUMULATIVE = (0.03, 0.11, 0.33, 0.72)

#: Per-construct shift of the latent-response mean relative to the cut points (positive =
#: more agreement): firms agree most about competition and customers, least about the
#: adequacy of their resources and of government support.
_DEFAULT_AGREEMENT: dict[str, float] = {
    "TI": 0.10,
    "MD": 0.25,
    "CP": 0.35,
    "EM": 0.20,
    "OL": 0.00,
    "NR": 0.05,
    "GP": -0.35,
    "RS": -0.25,
    "VP": 0.10,
    "VC": 0.00,
    "VD": 0.00,
    "VK": -0.10,
    "FP": -0.05,
}


def _default_thresholds() -> dict[str, tuple[float, ...]]:
    """Cut points: the base item, shifted per construct, with a small fixed item jitter."""
    base = sps.norm.ppf(_BASE_CUMULATIVE)
    rng = np.random.default_rng(1127)  # fixed: the jitter is part of the documented truth
    out = {}
    for construct, items in _DEFAULT_LOADINGS.items():
        for item in items:
            shift = _DEFAULT_AGREEMENT[construct] + rng.uniform(-0.15, 0.15)
            spread = rng.uniform(0.9, 1.1)  # some items use the scale more widely
            tau = base * spread - shift
            out[item] = tuple(round(float(t), 2) for t in tau)
    return out


def default_truth() -> SurveyTruth:
    """The ground truth of the shipped synthetic data set.

    Returns
    -------
    SurveyTruth

    Notes
    -----
    The paths mirror what the literature on BMI in technology-based SMEs leads one to expect,
    with a spread of effect sizes so that the analysis has something to find and something to
    reject:

    * strong: technological innovation capability (``g_TI = 0.35``), entrepreneurship / top
      management cognition (``g_EM = 0.30``), market demand (``g_MD = 0.25``);
    * weak: organisational learning (0.15), network relationships (0.12), resources (0.10),
      government policy support (0.08) - at n = 632 the last ones are near the detection limit;
    * null: competitive pressure (``g_CP = 0``). It correlates 0.45 with market demand, so its
      bivariate association with BMI is clearly positive although its unique effect is zero:
      a test of whether an analysis separates correlated drivers.

    ``b = 0.5`` (BMI -> firm performance); driver correlations 0.20-0.45; second-order
    loadings 0.60-0.75 (distinct dimensions: PCA retains four); item loadings 0.55-0.90.
    The drivers explain R^2 = 0.78 of BMI
    (residual variance 0.22).
    """
    return SurveyTruth(
        loadings=_DEFAULT_LOADINGS,
        thresholds=_default_thresholds(),
        drivers=tuple(_DEFAULT_PATHS),
        driver_corr=_DEFAULT_DRIVER_CORR,
        paths=_DEFAULT_PATHS,
        dimension_loadings=_DEFAULT_DIMENSION_LOADINGS,
        b=0.50,
        description=(
            "Ground truth of the SYNTHETIC bayes-bmi survey: key drivers of business model "
            "innovation (BMI) in technology-based SMEs in Heilongjiang. Eight drivers -> "
            "second-order BMI (value proposition, creation, delivery, capture) -> firm "
            "performance; 5-point Likert items cut from normal latent responses. Not the "
            "thesis data, which are not public."
        ),
    )


#: Seed of the shipped grouped survey (``data/bmi_survey_groups.csv``).
GROUPS_SEED = 20261202
#: Sample size of the shipped grouped survey (about 600 small and 400 medium firms).
GROUPS_N = 1000


def grouped_truth(
    column: str = "size",
    shares: Mapping[str, float] | None = None,
    driver: str = "TI",
    paths: Mapping[str, float] | None = None,
    base: SurveyTruth | None = None,
) -> SurveyTruth:
    """The truth of the shipped grouped survey: technology matters more in medium firms.

    Small firms (60%) and medium firms (40%) share the measurement model and every path but
    technological innovation capability -> BMI: 0.10 in small firms, 0.45 in medium ones
    (standardized; a difference of 0.35). Story: medium firms have the R&D staff and the
    market reach to build a business model around their technology, small ones mostly adopt
    others'. R^2 of BMI is 0.52 in small and 0.92 in medium firms. The driver's entry in
    ``paths`` is set to the first group's value (it is not used to simulate).
    """
    base = base or default_truth()
    shares = dict(shares or {"small": 0.6, "medium": 0.4})
    paths = dict(paths or {"small": 0.10, "medium": 0.45})
    design = GroupDesign(column=column, shares=shares, driver=driver, paths=paths)
    if driver not in base.paths:
        raise ValueError(f"unknown driver {driver!r}. Must be one of: {', '.join(base.paths)}")
    return dataclasses.replace(
        base,
        paths={**base.paths, driver: next(iter(design.paths.values()))},
        groups=design,
        description=base.description
        + f" Two kinds of firms ({column}: "
        + ", ".join(f"{k} {100 * v:.0f}%" for k, v in design.shares.items())
        + f") differ in the path {base.second_order} ~ {driver} only: "
        + ", ".join(f"{k} {v:g}" for k, v in design.paths.items())
        + " (standardized).",
    )


# ---------------------------------------------------------------------------------------------
# Truth -> model and per-row values
# ---------------------------------------------------------------------------------------------


def truth_syntax(truth: SurveyTruth) -> str:
    """Lavaan syntax of the structure of a truth (the thesis model, ``models/bmi_drivers.lav``).

    Parameters
    ----------
    truth : SurveyTruth

    Returns
    -------
    str
        Measurement model, ``<second_order> =~ <dimensions>``, ``<second_order> ~
        g_<d>*<d> + ...``, ``<outcome> ~ b*<second_order>`` and ``ind_<d> := g_<d>*b``.
    """
    first = [c for c in truth.loadings if c != truth.outcome]
    lines = [f"{c} =~ {' + '.join(truth.loadings[c])}" for c in first]
    lines.append(f"{truth.second_order} =~ {' + '.join(truth.dimensions)}")
    lines.append(f"{truth.outcome} =~ {' + '.join(truth.loadings[truth.outcome])}")
    lines.append(f"{truth.second_order} ~ " + " + ".join(f"g_{d}*{d}" for d in truth.drivers))
    lines.append(f"{truth.outcome} ~ b*{truth.second_order}")
    lines += [f"ind_{d} := g_{d}*b" for d in truth.drivers]
    return "\n".join(lines) + "\n"


def truth_model(truth: SurveyTruth) -> Model:
    """The model of :func:`truth_syntax`, specified with lavaan's defaults."""
    return specify(truth_syntax(truth), filename="<truth>")


def _truth_table(truth: SurveyTruth) -> dict[tuple[str, str, str], float]:
    """Every non-zero parameter (and zero intercepts) of the truth, keyed by (lhs, op, rhs)."""
    v: dict[tuple[str, str, str], float] = {}
    for construct, items in truth.loadings.items():
        for item, lam in items.items():
            v[(construct, "=~", item)] = lam
            v[(item, "~~", item)] = 1.0 - lam**2
            v[(item, "~1", "")] = 0.0
    for dim, lam in truth.dimension_loadings.items():
        v[(truth.second_order, "=~", dim)] = lam
    for d in truth.drivers:
        v[(truth.second_order, "~", d)] = truth.paths[d]
    v[(truth.outcome, "~", truth.second_order)] = truth.b
    for name, var in truth.residual_variances().items():
        v[(name, "~~", name)] = var
    r = truth.corr_matrix
    for i, a in enumerate(truth.drivers):
        for j, b in enumerate(truth.drivers):
            v[(a, "~~", b)] = float(r[i, j])
    for name in [*truth.loadings, truth.second_order]:
        v[(name, "~1", "")] = 0.0
    return v


def truth_values(truth: SurveyTruth, model: Model | None = None) -> np.ndarray:
    """Per-row parameter values of a model at the truth (standardized metric).

    Parameters
    ----------
    truth : SurveyTruth
    model : Model, optional
        A model whose rows are all parameters of the truth, e.g. ``models/bmi_drivers.lav``
        read with any options (fixed and free rows both get the truth's value). Defaults to
        :func:`truth_model`.

    Returns
    -------
    numpy.ndarray
        One value per parameter-table row; ``:=`` rows evaluated on the truth.

    Raises
    ------
    ValueError
        If the model has a row that the truth does not define (e.g. a direct path, a residual
        covariance, a loading on another factor); the truth's value for it would be 0 but the
        model would not be the truth's model.
    """
    model = model or truth_model(truth)
    table = _truth_table(truth)
    pt = model.partable
    values = np.full(len(pt), np.nan)
    unknown = []
    for i, (lhs, op, rhs) in enumerate(zip(pt["lhs"], pt["op"], pt["rhs"], strict=True)):
        if op == ":=":
            continue
        key = (lhs, op, rhs)
        if key not in table:
            unknown.append(f"{lhs} {op} {rhs}".strip())
        else:
            values[i] = table[key]
    if unknown:
        raise ValueError(
            "the model has parameters the truth does not define: " + ", ".join(unknown[:10])
        )
    return defined_values(pt, values)


# ---------------------------------------------------------------------------------------------
# Truth -> survey
# ---------------------------------------------------------------------------------------------


def _streams(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """Independent streams for the item responses and the firm descriptors."""
    responses, firms = np.random.SeedSequence(seed).spawn(2)
    return responses, firms


def _missing_stream(seed: int) -> np.random.SeedSequence:
    """A third independent stream, for the missing answers (the first two are unchanged)."""
    return np.random.SeedSequence(seed).spawn(3)[2]


def add_missing_answers(answers: pd.DataFrame, spec: MissingAnswers, seed: Seed) -> pd.DataFrame:
    """Blank answers at random as ``spec`` says (see :class:`MissingAnswers`).

    Parameters
    ----------
    answers : pandas.DataFrame
        Complete item answers, one column per item; the anchor among them.
    spec : MissingAnswers
    seed : int, numpy.random.SeedSequence or numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        The answers as nullable integers (``Int64``), missing cells ``<NA>``.
    """
    if spec.anchor not in answers.columns:
        raise ValueError(f"the missingness anchor {spec.anchor!r} is not among the items")
    rng = np.random.default_rng(seed)
    anchor = answers[spec.anchor].to_numpy(dtype=float)
    sd = anchor.std()
    z = (anchor - anchor.mean()) / sd if sd > 0 else np.zeros_like(anchor)
    a = spec.intercept(z, answers.shape[1])
    prob = sps.logistic.cdf(a + spec.slope * z)
    others = [c for c in answers.columns if c != spec.anchor]
    hole = rng.random((answers.shape[0], len(others))) < prob[:, None]
    out = answers.astype("Int64")
    for j, item in enumerate(others):
        out.loc[hole[:, j], item] = pd.NA
    return out


def simulate_responses(truth: SurveyTruth, n: int, seed: int) -> pd.DataFrame:
    """Continuous latent responses (before cutting into categories) of ``n`` firms.

    With ``truth.groups`` each firm's responses come from its group's truth
    (:meth:`SurveyTruth.group_truths`; group ``k`` from the ``k``-th child of the responses
    stream); the labels are :func:`simulate_groups`'s.

    Parameters
    ----------
    truth : SurveyTruth
    n : int
    seed : int
        The same seed as :func:`simulate_survey` gives the responses behind that survey.

    Returns
    -------
    pandas.DataFrame
        One column per item (questionnaire order); every column is N(0, 1) in the population.
    """
    model = truth_model(truth)
    if truth.groups is None:
        return simulate_normal(model, truth_values(truth, model), n, _streams(seed)[0])
    labels = simulate_groups(truth.groups, n, seed)
    out = pd.DataFrame(np.nan, index=range(n), columns=list(truth.items))
    streams = _streams(seed)[0].spawn(len(truth.groups.shares))
    for (label, t), stream in zip(truth.group_truths().items(), streams, strict=True):
        rows = np.flatnonzero(labels == label)
        if rows.size:
            draws = simulate_normal(model, truth_values(t, model), rows.size, stream)
            out.iloc[rows] = draws[list(truth.items)].to_numpy()
    return out


def discretize(responses: pd.DataFrame, thresholds: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Cut latent responses into ordered categories 1, 2, ...

    Parameters
    ----------
    responses : pandas.DataFrame
        Continuous latent responses, one column per item.
    thresholds : mapping of str to sequence of float
        Increasing cut points per item (``SurveyTruth.thresholds``).

    Returns
    -------
    pandas.DataFrame
        Integer answers: 1 + the number of cut points below the response.
    """
    out = {}
    for item in responses.columns:
        tau = np.asarray(thresholds[item], dtype=float)
        out[item] = np.searchsorted(tau, responses[item].to_numpy()) + 1
    return pd.DataFrame(out, index=responses.index).astype("int64")


def _groups_stream(seed: int) -> np.random.SeedSequence:
    """A fourth independent stream, for the group labels (the first three are unchanged)."""
    return np.random.SeedSequence(seed).spawn(4)[3]


def simulate_groups(design: GroupDesign, n: int, seed: int) -> np.ndarray:
    """The group label of each of ``n`` firms, drawn from ``design.shares``.

    Parameters
    ----------
    design : GroupDesign
    n : int
    seed : int
        The survey's seed; the labels use their own child stream.

    Returns
    -------
    numpy.ndarray
        ``n`` labels (str objects).
    """
    rng = np.random.default_rng(_groups_stream(int(seed)))
    names = np.array(list(design.shares), dtype=object)
    p = np.array(list(design.shares.values()), dtype=float)
    return names[rng.choice(len(names), size=n, p=p / p.sum())]


def simulate_firms(
    profile: FirmProfile, n: int, seed: Seed, sizes: np.ndarray | None = None
) -> pd.DataFrame:
    """Firm descriptors drawn independently of the survey answers.

    Parameters
    ----------
    profile : FirmProfile
    n : int
    seed : int, numpy.random.SeedSequence or numpy.random.Generator

    sizes : numpy.ndarray, optional
        Given size classes (e.g. the group labels of a grouped survey) instead of drawn ones;
        each must have a median age in ``profile.median_age``.

    Returns
    -------
    pandas.DataFrame
        Columns ``city``, ``industry``, ``size_class`` and ``age_years`` (integer; log-normal
        around the size class's median age).
    """
    rng = np.random.default_rng(seed)

    def draw(probs: Mapping[str, float]) -> np.ndarray:
        names = np.array(list(probs), dtype=object)
        p = np.array(list(probs.values()), dtype=float)
        return names[rng.choice(len(names), size=n, p=p / p.sum())]

    city = draw(profile.cities)
    industry = draw(profile.industries)
    size = draw(profile.size_classes) if sizes is None else np.asarray(sizes, dtype=object)
    unknown = sorted(set(size) - set(profile.median_age))
    if unknown:
        raise ValueError(f"no median firm age for size class(es) {', '.join(unknown)}")
    median = np.array([profile.median_age[s] for s in size], dtype=float)
    age = np.rint(median * np.exp(profile.age_sigma * rng.standard_normal(n)))
    return pd.DataFrame(
        {
            "city": city.astype(str),
            "industry": industry.astype(str),
            "size_class": size.astype(str),
            "age_years": np.clip(age, 1, profile.max_age).astype("int64"),
        }
    )


def simulate_survey(truth: SurveyTruth, n: int, seed: int) -> pd.DataFrame:
    """A synthetic survey: firm descriptors and Likert answers generated from a truth.

    Parameters
    ----------
    truth : SurveyTruth
    n : int
        Number of firms.
    seed : int
        Seed of :class:`numpy.random.SeedSequence`; the answers and the descriptors use
        independent child streams, so changing the firm profile does not change the answers.

    Returns
    -------
    pandas.DataFrame
        ``firm_id`` (``HLJ0001`` ...), ``city``, ``industry``, ``size_class``, ``age_years``,
        then every item as an integer 1 .. ``truth.n_categories`` in questionnaire order
        (missing answers empty when ``truth.missing`` is set; the answers given are those of
        the same survey without missing answers). With ``truth.groups`` the size class is
        the group label (:func:`simulate_groups`), in the column ``truth.groups.column``.
    """
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    answers = discretize(simulate_responses(truth, n, int(seed)), truth.thresholds)
    if truth.missing is not None:
        answers = add_missing_answers(answers, truth.missing, _missing_stream(int(seed)))
    sizes = None
    if truth.groups is not None:
        sizes = simulate_groups(truth.groups, n, int(seed))
    firms = simulate_firms(truth.firms, n, _streams(int(seed))[1], sizes)
    if truth.groups is not None:  # the group column replaces the drawn size class
        firms = firms.rename(columns={"size_class": truth.groups.column})
    width = max(4, len(str(n)))
    ids = pd.DataFrame({"firm_id": [f"HLJ{i:0{width}d}" for i in range(1, n + 1)]})
    return pd.concat([ids, firms, answers], axis=1)


def modified_truth(
    truth: SurveyTruth,
    paths: Mapping[str, float] | None = None,
    b: float | None = None,
    missing: MissingAnswers | None = None,
) -> SurveyTruth:
    """A copy of ``truth`` with some driver -> BMI paths, ``b`` and/or missing answers changed.

    Raises
    ------
    ValueError
        For an unknown driver (the message lists the known ones), or a truth that is no longer
        admissible (for example R^2 of BMI >= 1).
    """
    changes: dict[str, object] = {}
    if paths:
        new = dict(truth.paths)
        for name, value in paths.items():
            if name not in new:
                raise ValueError(f"unknown driver {name!r}. Must be one of: {', '.join(new)}")
            new[name] = float(value)
        changes["paths"] = new
    if b is not None:
        changes["b"] = float(b)
    if missing is not None:
        changes["missing"] = missing
    return dataclasses.replace(truth, **changes) if changes else truth


def parse_path_assignment(text: str) -> tuple[str, float]:
    """Read ``DRIVER=VALUE`` (a command-line path setting) as ``(driver, value)``.

    Raises
    ------
    ValueError
        When the text is not of that form or the value is not a number.
    """
    name, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"expected DRIVER=VALUE, got {text!r}")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"{text!r}: {value!r} is not a finite number")
    return name.strip(), number
