"""The public Python API: one call fits a model in lavaan syntax, by NUTS or by ML.

>>> import bayes_bmi as bb
>>> fit = bb.sem("models/hs_cfa.lav", "tests/data/HolzingerSwineford1939.csv")  # doctest: +SKIP
>>> fit.summary()            # posterior summary (summary.csv of ``bayes-bmi fit``)
>>> fit.ml.estimates()       # lavaan's parameterEstimates (estimates.csv of ``bayes-bmi ml``)

Every function takes a model as lavaan syntax, a path to a ``.lav`` file or a specified
:class:`~bayes_bmi.lavaan.model.Model`, and data as a DataFrame or a path (CSV, TSV, XLSX,
SPSS ``.sav``). The sampler's options are keywords named as the command line's options
(``draws``, ``tune``, ``chains``, ``seed``, ``sampler``, ``target_accept``, ``cores``,
``progress``, ...: the fields of :class:`~bayes_bmi.bayes.sampling.SamplerConfig`). Bad
arguments raise :class:`~bayes_bmi.errors.BayesBmiError` subclasses with a plain message.

The fit objects are frozen wrappers around the engine's results
(:class:`~bayes_bmi.bayes.sampling.BayesResult`, :class:`~bayes_bmi.ml.fit.MLResult`); they add
no computation of their own. This module imports only the standard library at import time:
the numerical stack loads when a function is called (and PyMC only for a Bayesian fit).
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import operator
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayes_bmi.errors import DataError, ModelSpecError, OptionError, existing_file, read_text

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from bayes_bmi.bayes.priors import Prior
    from bayes_bmi.bayes.sampling import BayesResult, CompileCache, SamplerConfig
    from bayes_bmi.calibration.power import PowerResult
    from bayes_bmi.calibration.runner import CalibrationResult
    from bayes_bmi.calibration.sensitivity import SensitivityResult
    from bayes_bmi.checking.compare import Comparison
    from bayes_bmi.checking.ppc import ModelCheck
    from bayes_bmi.lavaan.model import Model
    from bayes_bmi.ml.fit import MLResult
    from bayes_bmi.study.hypotheses import DecisionRule

__all__ = [
    "METHODS",
    "MISSING",
    "BayesFit",
    "MLFit",
    "calibrate",
    "cfa",
    "compare",
    "comparison",
    "invariance",
    "power",
    "sem",
    "sensitivity",
    "specify",
]

METHODS = ("bayes", "ml")
#: Missing-data methods of ``method="ml"`` (:data:`bayes_bmi.ml.fit.MISSING`).
MISSING = ("fiml", "listwise")
_OPERATORS = ("=~", ":=", "~")


# ------------------------------------------------------------------------------ fit objects
@dataclass(frozen=True, eq=False)
class MLFit:
    """A maximum-likelihood fit (lavaan's ``sem()``/``cfa()`` with its defaults).

    Attributes
    ----------
    result : MLResult
        The engine's result (estimates, fit measures, free vector, covariance matrix).
    """

    result: MLResult

    @property
    def model(self) -> Model:
        """The fitted model."""
        return self.result.model

    @property
    def nobs(self) -> int:
        """Number of cases used (listwise: complete cases; FIML: cases with an observed cell).

        With groups: the total over groups.
        """
        return self.result.n_cases

    @property
    def missing(self) -> str:
        """The missing-data method used: ``"listwise"`` or ``"fiml"``."""
        return self.result.missing

    @property
    def notes(self) -> tuple[str, ...]:
        """What was done to the data (missingness patterns, dropped rows)."""
        return self.result.notes

    @property
    def converged(self) -> bool:
        """Whether the optimiser converged."""
        return self.result.converged

    @property
    def warnings(self) -> tuple[str, ...]:
        """Plain-language problems (non-convergence, improper solutions, ...)."""
        return self.result.warnings

    def estimates(self) -> pd.DataFrame:
        """The estimates as lavaan's ``parameterEstimates()`` and ``estimates.csv`` show them.

        Columns ``lhs, op, rhs, label, est, se, z, pvalue, ci_lower, ci_upper, std_lv,
        std_all``; one row per parameter-table row, ``:=`` rows included. A multi-group fit
        adds ``group`` (1-based, in order of first appearance in the data; 0 for ``:=`` rows)
        and ``group_label``.
        """
        return self.result.table()

    def fit_measures(self) -> dict[str, float]:
        """Fit measures, named as lavaan's ``fitMeasures()`` with ``_`` for ``.`` (``fit.json``)."""
        return dict(self.result.fit)


@dataclass(frozen=True, eq=False)
class BayesFit:
    """A Bayesian fit by NUTS, with the ML fit of the same model beside it.

    Attributes
    ----------
    result : BayesResult
        The engine's result (posterior, summary, diagnostics, the ML start).
    ml : MLFit
        The ML fit of the model as written (as :func:`sem` with ``method="ml"`` gives it).
    data : pandas.DataFrame
        The data fitted (for :meth:`check`'s independence model).
    config : SamplerConfig
    priors : dict or None
        Default priors per kind, as given.
    cache : CompileCache
        The compile cache of the fit (reused by :meth:`check`).
    """

    result: BayesResult
    ml: MLFit
    data: pd.DataFrame
    config: SamplerConfig
    priors: dict[str, Prior] | None
    cache: CompileCache

    @property
    def model(self) -> Model:
        """The model as written (the engine samples it with its means, ``result.model``)."""
        return self.ml.model

    @property
    def nobs(self) -> int:
        """Number of cases used (listwise: complete cases; FIML: cases with an observed cell).

        With groups: the total over groups.
        """
        return self.result.n_cases

    @property
    def missing(self) -> str:
        """The missing-data method used: ``"listwise"`` or ``"fiml"``."""
        return self.result.missing

    @property
    def idata(self) -> xr.DataTree:
        """The posterior, prior, log-likelihood, ... as an ArviZ DataTree."""
        return self.result.idata

    @property
    def diagnostics(self) -> dict:
        """Sampler settings, times, R-hat, ESS, divergences and the convergence verdict."""
        return self.result.diagnostics

    @property
    def converged(self) -> bool:
        """Whether every convergence check passed (R-hat, ESS, divergences, E-BFMI)."""
        return self.result.converged

    def summary(self) -> pd.DataFrame:
        """One row per free or defined parameter (``summary.csv`` of ``bayes-bmi fit``).

        Columns :data:`~bayes_bmi.bayes.sampling.SUMMARY_COLUMNS`: ``lhs, op, rhs, label,
        mean, sd, median, std_all, hdi_lower, hdi_upper, ess_bulk, ess_tail, r_hat, ml_est,
        ml_se`` (95% HDI; ``std_all`` the posterior median of lavaan's ``std.all``). A
        multi-group fit adds ``group`` (1-based, lavaan's numbering; 0 for ``:=`` rows) and
        ``group_label`` after ``rhs``; ``std_all`` is standardized within each group.
        """
        from bayes_bmi.bayes.sampling import SUMMARY_COLUMNS

        cols = list(SUMMARY_COLUMNS)
        if self.result.group is not None:
            cols[3:3] = ["group", "group_label"]
        return self.result.summary[cols].copy()

    def approx_invariance(self, prob: float = 0.95) -> pd.DataFrame:
        """Each group's deviation from the common value (``approx_invariance=``).

        See :func:`bayes_bmi.bayes.groups.approx_invariance_table`: ``lhs, op, rhs, group,
        group_label, est, sd, hdi_lower, hdi_upper, departs``.
        """
        from bayes_bmi.bayes.groups import approx_invariance_table

        return approx_invariance_table(self.result, prob)

    def group_differences(self, prob: float = 0.95) -> pd.DataFrame:
        """Between-group differences of loadings and regressions, with ``P(a > b)``.

        See :func:`bayes_bmi.bayes.groups.group_differences`.
        """
        from bayes_bmi.bayes.groups import group_differences

        return group_differences(self.result, prob)

    def path_ranks(self) -> pd.DataFrame:
        """Per group, the probability that each predictor has an outcome's largest |std.all|.

        See :func:`bayes_bmi.bayes.groups.path_ranks`.
        """
        from bayes_bmi.bayes.groups import path_ranks

        return path_ranks(self.result)

    def cross_loadings(self) -> pd.DataFrame:
        """BSEM (``bsem_sd``): the added cross-loadings (and residual correlations).

        One row each, ``lhs, op, rhs, prior, est`` (posterior median), ``hdi_lower,
        hdi_upper`` (95% HDI), ``std_all, r_hat, excludes_zero`` (the HDI excludes 0); see
        :func:`bayes_bmi.bayes.bsem.bsem_table` (``bsem.csv`` of ``bayes-bmi fit``).

        Raises
        ------
        OptionError
            When the model was not fitted with ``bsem_sd``.
        """
        from bayes_bmi.bayes.bsem import bsem_table

        if self.result.cross_loadings is None:
            raise OptionError("cross_loadings(): the model was not fitted with bsem_sd")
        return bsem_table(self.result.summary, self.result.cross_loadings)

    def ordinal_check(self, *, draws: int = 300, seed: int = 0) -> Any:
        """PPP of an ordinal fit from its items' bivariate tables (Pearson X^2 per pair).

        See :mod:`bayes_bmi.checking.ordinal_ppc`; returns its ``OrdinalCheck`` (``ppp``,
        ``draws``, ``pairs`` worst first).
        """
        from bayes_bmi.checking.ordinal_ppc import ordinal_check

        return ordinal_check(self.result, draws=draws, seed=seed)

    def check(
        self,
        *,
        baseline: bool = False,
        means: str = "auto",
        pd_source: str = "loo",
        seed: int | None = None,
        ppp_draws: int | None = None,
    ) -> ModelCheck:
        """Posterior predictive p-value, Bayesian fit indices, residual correlations, LOO, WAIC.

        With missing cells (a FIML fit) the PPP and the fit indices use the full-information
        discrepancy against the EM-fitted unrestricted model, the replicated data keep each
        case's missing cells, and the independence model is fitted by FIML too.

        Parameters
        ----------
        baseline : bool
            Also fit the independence model (same data, sampler settings and missing-data
            method) for ``BCFI``, ``BTLI`` and ``BNFI``.
        means : str
            ``"auto"``, ``"model"`` or ``"saturated"`` (see :mod:`bayes_bmi.checking.ppc`;
            with missing cells the means are always modelled and ``"saturated"`` is refused).
        pd_source : str
            ``pD`` of the fit indices: ``"loo"`` or ``"waic"``.
        seed : int, optional
            Seed of the replicated data sets (default: the sampler's seed).
        ppp_draws : int, optional
            Posterior draws replicated for the PPP (default: all of them for complete data, at
            most :data:`~bayes_bmi.checking.ppc.FIML_PPP_DRAWS` with missing cells, where each
            replicate needs an EM fit).

        Returns
        -------
        ModelCheck
            ``ppp`` (``.ppp.ppp`` the p-value), ``index_summary`` (a DataFrame: posterior mean,
            median, SD and 90% HPD interval per index), ``residuals``, ``criteria``. For
            ordered items: LOO and WAIC from each case's marginal likelihood and the PPP of
            the items' bivariate tables, no fit indices or residual correlations
            (:func:`~bayes_bmi.checking.ordinal_loo.check_ordinal`).
        """
        from bayes_bmi.bayes.sampling import fit_bayes
        from bayes_bmi.checking.compare import independence_model
        from bayes_bmi.checking.ppc import MEANS, PD_SOURCES, check_model, resolve_means

        if self.result.ordinal is not None:
            if baseline:
                raise OptionError(
                    "the Bayesian fit indices (baseline=True) are not defined for ordered "
                    "items; fit.check() gives their LOO, WAIC and item-pair PPP"
                )
            from bayes_bmi.checking.ordinal_loo import check_ordinal

            seed = self.config.seed if seed is None else seed
            return check_ordinal(self.result, seed=seed, ppp_draws=ppp_draws)[0]
        _one_of("means", means, MEANS)
        _one_of("pd_source", pd_source, PD_SOURCES)
        if ppp_draws is not None and (
            isinstance(ppp_draws, bool)
            or not isinstance(ppp_draws, numbers.Integral)
            or ppp_draws < 1
        ):
            raise OptionError(f"ppp_draws must be a positive whole number, not {ppp_draws!r}")
        groups = self.result.group is not None
        if groups and means == "saturated":
            raise OptionError(
                "means='saturated' is not available with groups: a multi-group model models "
                "every group's means; use means='auto' or 'model'"
            )
        if not groups:
            # refuse means="saturated" with missing cells before fitting the baseline
            resolve_means(self.result.model, means, fiml=self.result.missing == "fiml")
        base = None
        if baseline and (groups or self.result.stats.p > 1):
            base = fit_bayes(
                independence_model(self.result.stats.names),
                self.data,
                config=self.config,
                priors=self.priors,
                cache=self.cache,
                missing=self.result.missing,
                group=self.result.group,
            )
        seed = self.config.seed if seed is None else _seed(seed)
        ppp_draws = None if ppp_draws is None else int(ppp_draws)
        if groups:
            from bayes_bmi.checking.groups_check import check_groups

            return check_groups(
                self.result, base, pd_source=pd_source, seed=seed, ppp_draws=ppp_draws
            )
        return check_model(
            self.result, base, means=means, pd_source=pd_source, seed=seed, ppp_draws=ppp_draws
        )

    def hypotheses(
        self, path: str | os.PathLike[str], *, rule: DecisionRule | None = None
    ) -> pd.DataFrame:
        """Bayesian and ML verdicts on the hypotheses of a ``*.hypotheses.toml`` file.

        Parameters
        ----------
        path : str or path-like
            ``[[hypothesis]]`` tables with ``id``, ``parameter``, ``direction``, ``wording``.
        rule : DecisionRule, optional
            The verdict rule (default :data:`bayes_bmi.study.hypotheses.DEFAULT_RULE`).

        Returns
        -------
        pandas.DataFrame
            One row per hypothesis, :data:`bayes_bmi.study.hypotheses.HYPOTHESIS_COLUMNS`.
            With groups: one row per hypothesis and group, ``group`` and ``group_label``
            columns after ``id`` (:func:`bayes_bmi.checking.hypotheses.group_hypothesis_table`).
        """
        from bayes_bmi.study.hypotheses import DEFAULT_RULE, hypothesis_table, read_hypotheses

        if self.result.group is not None:
            from bayes_bmi.checking.hypotheses import group_hypothesis_table

            return group_hypothesis_table(
                read_hypotheses(path),
                self.result,
                self.result.group_labels,
                rule=rule or DEFAULT_RULE,
            )
        return hypothesis_table(read_hypotheses(path), self.result, rule=rule or DEFAULT_RULE)


# ------------------------------------------------------------------------------ arguments
def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise OptionError(f"unknown {name} {value!r}. Must be one of: {', '.join(allowed)}")


def _seed(seed: object) -> int:
    try:
        value = operator.index(seed)  # an int or a numpy integer
    except TypeError:
        value = -1
    if isinstance(seed, bool) or value < 0:
        raise OptionError(f"seed must be an integer >= 0, not {seed!r}")
    return value


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a line of syntax longer than a file name may be
        return False


def _is_syntax(text: str) -> bool:
    """Lavaan syntax rather than a path: several lines, or an operator that no path holds."""
    if "\n" in text:
        return True
    stripped = text.strip()
    if stripped.lower().endswith(".lav") and "=~" not in stripped and ":=" not in stripped:
        return False
    # a leading '~' is a home folder: a statement starts with a variable name
    return any(op in stripped[1:] for op in _OPERATORS)


def _model_source(model: str | os.PathLike[str]) -> tuple[str, str | None]:
    """The lavaan text of a model given as text or as a path, and its file name.

    A path object or a string naming an existing file is a path; otherwise a string with a
    newline or a lavaan operator (``=~``, ``~``, ``:=``) is syntax, and a string ending in
    ``.lav`` a path that does not exist. Only the standard library is used.

    Raises
    ------
    ModelSpecError
        A ``.lav`` path that does not exist (the message names it).
    OptionError
        A string that is neither syntax nor a file, or an argument of another type.
    """
    if isinstance(model, os.PathLike):
        path = Path(model).expanduser()
        return read_text(path, "model", ModelSpecError), str(model)
    if not isinstance(model, str):
        raise OptionError(
            f"model must be lavaan syntax, a path to a .lav file or a Model, "
            f"not {type(model).__name__}"
        )
    if "\n" not in model and _is_file(Path(model.strip()).expanduser()):
        return read_text(Path(model.strip()).expanduser(), "model", ModelSpecError), model.strip()
    if _is_syntax(model):
        return model, None
    if model.strip().lower().endswith(".lav"):
        existing_file(model.strip(), "model", ModelSpecError)  # raises: it is not a file
    raise OptionError(
        f"model {model!r} is neither lavaan syntax (no =~, ~ or :=) nor an existing file"
    )


def _check_data(data: object) -> None:
    """Check a data argument without reading it: a DataFrame-like object or an existing file.

    Raises
    ------
    DataError
        A path that names no file.
    OptionError
        An argument that is neither a path nor a table.
    """
    if isinstance(data, str | os.PathLike):
        existing_file(data, "data", DataError)
    elif not hasattr(data, "columns"):
        raise OptionError(f"data must be a DataFrame or a path, not {type(data).__name__}")


def specify(model: str | os.PathLike[str] | Model, *, std_lv: bool = False) -> Model:
    """Specify a model: syntax -> parameter table -> matrix representation.

    Parameters
    ----------
    model : str, path-like or Model
        lavaan syntax or a ``.lav`` path: a path object or a string naming a file is a path;
        another string is syntax when it has a newline or an operator (``=~``, ``~``,
        ``:=``), and a missing file when it ends in ``.lav``. A Model is returned as it is.
    std_lv : bool
        Identify latent variables by unit variances instead of a first loading of 1.

    Returns
    -------
    Model
        ``.partable`` is the parameter table.
    """
    if isinstance(model, str | os.PathLike):
        from bayes_bmi.lavaan.syntax import parse_model

        text, filename = _model_source(model)
        parse_model(text, filename=filename)  # a syntax error is said before pandas loads

    from bayes_bmi.lavaan.model import Model
    from bayes_bmi.lavaan.model import specify as specify_text
    from bayes_bmi.lavaan.partable import ModelOptions

    if isinstance(model, Model):
        if std_lv and not model.options.std_lv:
            raise OptionError("std_lv=True does not apply to a specified Model; respecify it")
        return model
    text, filename = _model_source(model)
    return specify_text(text, filename=filename, options=ModelOptions(std_lv=bool(std_lv)))


@dataclass(frozen=True)
class _Reading:
    """How to read the data: an Excel sheet, and values that mean "missing"."""

    sheet: str | int | None = None
    missing_codes: tuple[float, ...] = ()


def _reading(sheet: object, missing_codes: object) -> _Reading:
    if sheet is not None and (isinstance(sheet, bool) or not isinstance(sheet, str | int)):
        raise OptionError(f"sheet must be a sheet name or number, not {sheet!r}")
    if isinstance(missing_codes, str | bytes) or not hasattr(missing_codes, "__iter__"):
        raise OptionError(
            f"missing_codes must be a list of numbers such as [-9, 99], not {missing_codes!r}"
        )
    codes = tuple(missing_codes)  # type: ignore[arg-type]
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, numbers.Real):
            raise OptionError(f"missing_codes: {code!r} is not a number")
    return _Reading(sheet=sheet, missing_codes=tuple(float(c) for c in codes))  # type: ignore[arg-type]


def _read(
    data: pd.DataFrame | str | os.PathLike[str],
    reading: _Reading,
    columns: list[str],
) -> tuple[pd.DataFrame, str]:
    """The data as a DataFrame and its name; warns of values that look like missing codes."""
    from bayes_bmi.data import apply_missing_codes, read_data, warn_missing_codes

    if isinstance(data, str | os.PathLike):
        df = read_data(
            data, sheet=reading.sheet, missing_codes=reading.missing_codes, columns=columns
        )
        source = str(data)
    else:
        if reading.sheet is not None:
            raise OptionError("sheet applies to an Excel file, not to a DataFrame")
        df, source = apply_missing_codes(data, reading.missing_codes), "data"
    warn_missing_codes(df, columns, source)
    return df, source


def _sampler_config(options: Mapping[str, Any]) -> SamplerConfig:
    from bayes_bmi.bayes.sampling import SamplerConfig

    names = [f.name for f in dataclasses.fields(SamplerConfig)]
    for key in options:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(f"unknown option {key!r}{hint}. Must be one of: {', '.join(names)}")
    if "seed" in options:
        _seed(options["seed"])
    try:
        return SamplerConfig(**options)
    except (TypeError, ValueError) as exc:
        raise OptionError(str(exc)) from None


# ------------------------------------------------------------------------------ fitting
def sem(
    model: str | os.PathLike[str] | Model,
    data: pd.DataFrame | str | os.PathLike[str],
    *,
    method: str = "bayes",
    std_lv: bool = False,
    missing: str | None = None,
    priors: Mapping[str, Prior] | None = None,
    factor_scores: bool = False,
    cache: CompileCache | None = None,
    missing_codes: Sequence[float] = (),
    sheet: str | int | None = None,
    ordered: bool | Sequence[str] | None = None,
    group: str | None = None,
    group_equal: Sequence[str] | str = (),
    group_partial: Sequence[str] | str = (),
    bsem_sd: float | None = None,
    bsem_residuals: bool = False,
    approx_invariance: Sequence[str] | str = (),
    approx_sd: float = 0.05,
    **sampler: Any,
) -> BayesFit | MLFit:
    """Fit a structural equation model (lavaan's ``sem()`` defaults).

    Parameters
    ----------
    model : str, path-like or Model
        lavaan syntax, a ``.lav`` path, or a specified Model.
    data : pandas.DataFrame, str or path-like
        The data, or a CSV/TSV/XLSX/SPSS file.
    method : str
        ``"bayes"`` (NUTS, with the ML fit beside it) or ``"ml"`` (maximum likelihood only).
    std_lv : bool
        Identify latent variables by unit variances (``--std-lv``).
    missing : {"fiml", "listwise"} or None
        Missing cells. ``"fiml"``: full-information ML on every observed cell (lavaan's
        ``missing = "ml"``; the means are modelled); ``"listwise"``: complete cases only
        (lavaan's default). ``None`` (default): ``"fiml"`` when the model's variables have
        missing cells, else ``"listwise"``. With ``method="bayes"`` and ``"fiml"`` the
        likelihood is summed over missingness patterns (blavaan's default), started from the
        full-information ML fit that sits beside it.
    priors : mapping, optional
        Default prior per kind (``lambda``, ``beta``, ``theta``, ...) replacing blavaan's.
    factor_scores : bool
        Also draw the latent variables of every case (``--factor-scores``).
    cache : CompileCache, optional
        Reuse compiled samplers across fits of the same structure.
    missing_codes : sequence of float
        Values that mean "missing" (``--missing-codes``, e.g. ``[-9, 99]``); the rows where a
        model variable is missing are dropped (listwise). Values that look like such codes
        but are not listed give a :class:`~bayes_bmi.errors.DataWarning`.
    sheet : str or int, optional
        The worksheet of an Excel file: a name or a number counted from 1 (``--sheet``).
    ordered : bool or sequence of str, optional
        Ordered-categorical items (``--ordinal``; lavaan's ``ordered =``): ``True`` for every
        observed variable of the model, or their names (all of them, for now). With
        ``method="ml"`` the model is fitted by lavaan's WLSMV (thresholds ``x | t1`` rows,
        complete cases). With ``method="bayes"`` a cumulative-probit model (theta
        parameterisation, thresholds ``x1 | t1``, ...; see
        :mod:`bayes_bmi.bayes.ordinal_sampling`); missing cells are left out of its
        likelihood (``missing="listwise"`` drops incomplete cases first).
    group : str, optional
        A grouping column: one block of the model per group (lavaan's ``group =``), groups
        numbered in order of first appearance, means modelled. With ``method="bayes"`` the
        likelihood is summed over groups (:mod:`bayes_bmi.bayes.groups`); the summary gets
        ``group`` and ``group_label`` columns.
    group_equal : sequence of str
        Parameters held equal across groups (lavaan's ``group.equal``): ``loadings,
        intercepts, means, thresholds, regressions, residuals, residual.covariances,
        lv.variances, lv.covariances``.
    group_partial : sequence of str
        Rows exempt from ``group_equal`` (lavaan's ``group.partial``), e.g. ``["f=~x2"]``.
    bsem_sd : float, optional
        BSEM (Muthen & Asparouhov, 2012; ``--bsem-sd``): every cross-loading among the
        first-order factors is added with prior ``normal(0, bsem_sd)`` on the standardized
        scale (item and factor standardized; see :mod:`bayes_bmi.bayes.bsem`);
        :meth:`BayesFit.cross_loadings` lists them. ``method="bayes"``, continuous items only.
    bsem_residuals : bool
        With ``bsem_sd``: also every residual correlation among those indicators, prior mean
        0 and standard deviation ``bsem_sd`` (``--bsem-residuals``).
    approx_invariance : sequence of str
        ``method="bayes"`` with ``group``: classes (``loadings, intercepts, regressions,
        means``) held approximately equal: each group has its own value, its deviation from
        the groups' common value with a normal prior of sd ``approx_sd`` (blavaan's
        ``wiggle``; see :mod:`bayes_bmi.bayes.groups`); :meth:`BayesFit.approx_invariance`.
    approx_sd : float
        The prior sd of those deviations (default 0.05).
    **sampler
        Sampler options, named as the command line's: ``draws, tune, chains, seed, sampler,
        target_accept, adaptation, cores, progress, jitter, rhat_max, ess_min``
        (:class:`~bayes_bmi.bayes.sampling.SamplerConfig`).

    Returns
    -------
    BayesFit or MLFit
        :class:`BayesFit` for ``method="bayes"``, :class:`MLFit` for ``method="ml"``.

    Raises
    ------
    BayesBmiError
        On a bad argument (:class:`~bayes_bmi.errors.OptionError`), a missing or unreadable
        file, bad syntax, a model that cannot be estimated, or data that do not fit it.
    """
    _one_of("method", method, METHODS)
    _bsem_options(method, bsem_sd, bsem_residuals, group, ordered)
    reading = _reading(sheet, missing_codes)
    groups = _group_options(group, group_equal, group_partial)
    approx = _names(approx_invariance, "approx_invariance")
    if approx and (group is None or method != "bayes"):
        raise OptionError("approx_invariance needs group= and method='bayes'")
    if group is not None:
        if ordered:
            raise OptionError("group with ordered items is not available yet")
        if missing is not None:
            _one_of("missing", missing, MISSING)
    if group is not None and method == "bayes":
        if factor_scores:
            raise OptionError("factor_scores with group is not available yet")
        return _fit_bayes_groups(
            model, data, std_lv, priors, cache, sampler, reading, missing, group, groups,
            (approx, approx_sd),
        )  # fmt: skip
    if group is not None:
        extra = sorted(sampler) + [
            name for name, given in (("priors", priors), ("cache", cache)) if given is not None
        ]
        if extra:
            raise OptionError(f"{', '.join(extra)}: option(s) of method='bayes', not 'ml'")
        return _fit_ml_groups(model, data, std_lv, reading, missing, group, groups)
    if method == "ml":
        extra = sorted(sampler) + [
            name for name, given in (("priors", priors), ("cache", cache)) if given is not None
        ]
        if factor_scores:
            extra.append("factor_scores")
        if extra:
            raise OptionError(f"{', '.join(extra)}: option(s) of method='bayes', not 'ml'")
        if missing is not None:
            _one_of("missing", missing, MISSING)
        return _fit_ml(model, data, std_lv, reading, missing, _ordered(ordered, missing))
    if missing is not None:
        _one_of("missing", missing, MISSING)
    names = _ordered(ordered, None)  # the Bayesian model skips missing cells
    if names:
        return _fit_bayes_ordinal(
            model, data, std_lv, priors, factor_scores, cache, sampler, reading, missing, names
        )
    bsem = (bsem_sd, bsem_residuals)
    return _fit_bayes(
        model, data, std_lv, priors, factor_scores, cache, sampler, reading, missing, bsem
    )


def _bsem_options(
    method: str, bsem_sd: object, residuals: bool, group: str | None, ordered: object
) -> None:
    """``bsem_sd`` positive, and only where BSEM is available (one group, continuous, Bayes)."""
    from bayes_bmi.bayes.bsem import check_bsem_sd

    if bsem_sd is None:
        if residuals:
            raise OptionError("bsem_residuals needs bsem_sd (the prior's standard deviation)")
        return
    check_bsem_sd(bsem_sd)
    where = (
        "method='ml'"
        if method == "ml"
        else "group"
        if group is not None
        else "ordered items"
        if ordered
        else None
    )
    if where:
        raise OptionError(
            f"bsem_sd with {where}: BSEM is available for one group of "
            "continuous items with method='bayes' only"
        )


def cfa(
    model: str | os.PathLike[str] | Model,
    data: pd.DataFrame | str | os.PathLike[str],
    **options: Any,
) -> BayesFit | MLFit:
    """Fit a confirmatory factor analysis: :func:`sem` (lavaan's ``cfa()`` has its defaults)."""
    return sem(model, data, **options)


def _fit_ml(
    model: str | os.PathLike[str] | Model,
    data: pd.DataFrame | str | os.PathLike[str],
    std_lv: bool,
    reading: _Reading,
    missing: str | None = None,
    ordered: bool | tuple[str, ...] = (),
) -> MLFit:
    _check_data(data)
    spec = specify(model, std_lv=std_lv)
    df, source = _read(data, reading, list(spec.ov_names))
    if ordered:
        from bayes_bmi.ml.ordinal.wlsmv import fit_wlsmv

        return MLFit(fit_wlsmv(spec, df, ordered=ordered, source=source))
    from bayes_bmi.ml.fit import fit_ml

    return MLFit(fit_ml(spec, df, source=source, missing=missing))


def _names(value: object, option: str) -> tuple[str, ...]:
    """A list option given as a sequence of names or one comma-separated string."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not hasattr(value, "__iter__") or not all(isinstance(v, str) for v in value):  # type: ignore[union-attr]
        raise OptionError(f"{option} must be a list of names, not {value!r}")
    return tuple(value)  # type: ignore[arg-type]


def _group_options(
    group: object, group_equal: object, group_partial: object
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``group_equal`` and ``group_partial`` checked (they need ``group``)."""
    from bayes_bmi.lavaan.partable import GROUP_EQUAL

    equal, partial = _names(group_equal, "group_equal"), _names(group_partial, "group_partial")
    if group is None:
        if equal or partial:
            raise OptionError("group_equal and group_partial need group= (a grouping column)")
        return equal, partial
    if not isinstance(group, str) or not group:
        raise OptionError(f"group must be the name of a data column, not {group!r}")
    for kind in equal:
        if kind not in GROUP_EQUAL:
            close = difflib.get_close_matches(kind, GROUP_EQUAL, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(
                f"group_equal: unknown {kind!r}{hint}. Must be among: {', '.join(GROUP_EQUAL)}"
            )
    return equal, partial


def _group_model(
    model: str | os.PathLike[str] | Model,
    std_lv: bool,
    ngroups: int,
    groups: tuple[tuple[str, ...], tuple[str, ...]],
) -> Model:
    """The model specified for ``ngroups`` groups with the ``group_equal``/``group_partial``."""
    from bayes_bmi.lavaan.model import Model
    from bayes_bmi.lavaan.model import specify as specify_text
    from bayes_bmi.lavaan.partable import ModelOptions

    equal, partial = groups
    if isinstance(model, Model):
        if model.ngroups != ngroups or (equal, partial) != (
            model.options.group_equal,
            model.options.group_partial,
        ):
            raise OptionError(
                f"the specified Model has {model.ngroups} group(s) and group_equal "
                f"{list(model.options.group_equal)}; pass the syntax instead, so that it is "
                "specified for the data's groups"
            )
        return model
    text, filename = _model_source(model)
    opts = ModelOptions(
        std_lv=bool(std_lv), ngroups=ngroups, group_equal=equal, group_partial=partial
    )
    return specify_text(text, filename=filename, options=opts)


def _ov_names(model: str | os.PathLike[str] | Model) -> tuple[str, ...]:
    """The observed variables of a model to be fitted by group.

    Syntax with ``c(...)`` modifiers is specified for as many groups as they give values
    (the variables do not depend on the number of groups).
    """
    from bayes_bmi.lavaan.model import Model
    from bayes_bmi.lavaan.model import specify as specify_text
    from bayes_bmi.lavaan.partable import ModelOptions
    from bayes_bmi.lavaan.syntax import parse_model

    if isinstance(model, Model):
        return model.ov_names

    text, filename = _model_source(model)
    sizes = [
        len(t.modifiers.groups) for st in parse_model(text, filename=filename) for t in st.terms
    ]
    options = ModelOptions(ngroups=max([1, *sizes]))
    return specify_text(text, filename=filename, options=options).ov_names


def _fit_ml_groups(
    model: str | os.PathLike[str] | Model,
    data: pd.DataFrame | str | os.PathLike[str],
    std_lv: bool,
    reading: _Reading,
    missing: str | None,
    group: str,
    groups: tuple[tuple[str, ...], tuple[str, ...]],
) -> MLFit:
    from bayes_bmi.ml.groups import fit_ml_groups, split_groups

    _check_data(data)
    df, source = _read(data, reading, [*_ov_names(model), group])
    ngroups = len(split_groups(df, group, source).labels)
    spec = _group_model(model, std_lv, ngroups, groups)
    return MLFit(fit_ml_groups(spec, df, group, source=source, missing=missing))


def _fit_bayes_groups(
    model: str | os.PathLike[str] | Model,
    data: pd.DataFrame | str | os.PathLike[str],
    std_lv: bool,
    priors: Mapping[str, Prior] | None,
    cache: CompileCache | None,
    sampler: Mapping[str, Any],
    reading: _Reading,
    missing: str | None,
    group: str,
    groups: tuple[tuple[str, ...], tuple[str, ...]],
    approx: tuple[tuple[str, ...], float],
) -> BayesFit:
    from bayes_bmi.bayes.sampling import CompileCache, fit_bayes
    from bayes_bmi.ml.groups import split_groups

    _check_data(data)
    df, source = _read(data, reading, [*_ov_names(model), group])
    ngroups = len(split_groups(df, group, source).labels)
    spec = _group_model(model, std_lv, ngroups, groups)
    prior_dict = dict(priors) if priors is not None else None
    config = _sampler_config(sampler)
    cache = cache if cache is not None else CompileCache()
    result = fit_bayes(
        spec,
        df,
        config=config,
        priors=prior_dict,
        cache=cache,
        source=source,
        missing=missing,
        group=group,
        approx_invariance=approx[0],
        approx_sd=approx[1],
    )
    return BayesFit(
        result=result, ml=MLFit(result.ml), data=df, config=config, priors=prior_dict, cache=cache
    )


def invariance(
    model: str | os.PathLike[str],
    data: pd.DataFrame | str | os.PathLike[str],
    *,
    group: str,
    levels: Sequence[str] | str = ("configural", "metric", "scalar"),
    missing: str | None = None,
    std_lv: bool = False,
    group_partial: Sequence[str] | str = (),
    missing_codes: Sequence[float] = (),
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Measurement invariance across groups: one ML fit per level, each tested against the last.

    Parameters
    ----------
    model : str or path-like
        lavaan syntax or a ``.lav`` path.
    data : pandas.DataFrame, str or path-like
    group : str
        The grouping column.
    levels : sequence of str or str
        ``configural, metric, scalar, strict`` or ``group.equal`` kinds (``lv.variances``,
        ``means``, ...), each adding its equality constraints to those before (a
        comma-separated string works too).
    missing : {"fiml", "listwise"} or None
        As :func:`sem`.
    std_lv : bool
    group_partial : sequence of str
        Rows left free across groups at every level (lavaan's ``group.partial``).
    missing_codes, sheet
        As :func:`sem`.

    Returns
    -------
    pandas.DataFrame
        One row per level: ``level, group_equal, npar, chisq, df, pvalue, cfi, tli, rmsea,
        srmr, aic, bic`` and the likelihood-ratio test against the level before
        (``chisq_diff, df_diff, pvalue_diff``, lavaan's ``anova()``).
    """
    from bayes_bmi.lavaan.partable import ModelOptions
    from bayes_bmi.ml.invariance import invariance_table

    levels = _names(levels, "levels")
    _, partial = _group_options(group, (), group_partial)
    if missing is not None:
        _one_of("missing", missing, MISSING)
    _check_data(data)
    single = specify(model)
    df, source = _read(data, _reading(sheet, missing_codes), [*single.ov_names, group])
    text, filename = _model_source(model)
    table, _ = invariance_table(
        text,
        df,
        group,
        levels=levels,
        options=ModelOptions(std_lv=bool(std_lv), group_partial=partial),
        filename=filename,
        source=source,
        missing=missing,
    )
    return table


def _ordered(ordered: object, missing: str | None) -> bool | tuple[str, ...]:
    """The ``ordered`` argument checked: ``True``, or a tuple of names (empty: none)."""
    if ordered is None or ordered is False:
        return ()
    if ordered is True:
        out: bool | tuple[str, ...] = True
    elif isinstance(ordered, str | bytes) or not hasattr(ordered, "__iter__"):
        raise OptionError(f"ordered must be True or a list of item names, not {ordered!r}")
    else:
        out = tuple(ordered)  # type: ignore[arg-type]
        if not all(isinstance(v, str) and v for v in out):
            raise OptionError(f"ordered must list item names, not {ordered!r}")
    if out and missing == "fiml":
        raise OptionError(
            "missing='fiml' with ordered items is not supported: WLSMV uses the complete cases "
            "(missing='listwise')"
        )
    return out


def _precheck(spec: Model, df: pd.DataFrame, source: str, priors: dict[str, Prior] | None) -> None:
    """Bad data, a model that cannot be fitted, a bad prior: said before PyMC loads.

    Raises
    ------
    BayesBmiError
        What :func:`~bayes_bmi.bayes.sampling.fit_bayes` would raise after loading PyMC.
    """
    from bayes_bmi.bayes.parameters import param_spec
    from bayes_bmi.ml.fit import fit_ml, model_stats

    fit_ml(spec, model_stats(spec, df, source), source=source)
    param_spec(spec, priors)


def _fit_bayes(
    model: str | os.PathLike[str] | Model,
    data: pd.DataFrame | str | os.PathLike[str],
    std_lv: bool,
    priors: Mapping[str, Prior] | None,
    factor_scores: bool,
    cache: CompileCache | None,
    sampler: Mapping[str, Any],
    reading: _Reading,
    missing: str | None = None,
    bsem: tuple[float | None, bool] = (None, False),
) -> BayesFit:
    _check_data(data)
    spec = specify(model, std_lv=std_lv)
    df, source = _read(data, reading, list(spec.ov_names))
    prior_dict = dict(priors) if priors is not None else None
    # no _precheck here: fit_bayes checks the data, the ML fit and the priors before it
    # imports the sampler, so bad input is reported as early, without a second ML fit

    from bayes_bmi.bayes.sampling import CompileCache, fit_bayes
    from bayes_bmi.ml.fit import fit_ml, without_means

    config = _sampler_config(sampler)
    cache = cache if cache is not None else CompileCache()
    result = fit_bayes(
        spec,
        df,
        config=config,
        priors=prior_dict,
        cache=cache,
        factor_scores=factor_scores,
        source=source,
        missing=missing,
        bsem_sd=bsem[0],
        bsem_residuals=bsem[1],
    )
    # full-information ML always models the means (as lavaan's missing = "ml")
    if result.cross_loadings is not None:  # result.ml has the BSEM rows (fixed at 0)
        ml = fit_ml(spec, df, source=source, missing=result.missing)
    else:
        ml = result.ml if result.missing == "fiml" else without_means(result.ml, spec)
    return BayesFit(
        result=result,
        ml=MLFit(ml),
        data=df,
        config=config,
        priors=prior_dict,
        cache=cache,
    )


def _fit_bayes_ordinal(
    model: str | os.PathLike[str] | Model,
    data: pd.DataFrame | str | os.PathLike[str],
    std_lv: bool,
    priors: Mapping[str, Prior] | None,
    factor_scores: bool,
    cache: CompileCache | None,
    sampler: Mapping[str, Any],
    reading: _Reading,
    missing: str | None,
    ordered: bool | tuple[str, ...],
) -> BayesFit:
    """The Bayesian cumulative-probit fit of :func:`sem` with ``ordered`` (checked)."""
    _check_data(data)
    spec = specify(model, std_lv=std_lv)
    df, source = _read(data, reading, list(spec.ov_names))
    if missing == "listwise":
        df = df.dropna(subset=list(spec.ov_names))
    prior_dict = dict(priors) if priors is not None else None

    from bayes_bmi.bayes.ordinal_sampling import fit_bayes_ordinal
    from bayes_bmi.bayes.sampling import CompileCache
    from bayes_bmi.ml.fit import without_means

    config = _sampler_config(sampler)
    cache = cache if cache is not None else CompileCache()
    result = fit_bayes_ordinal(
        spec,
        df,
        ordered if ordered is True else list(ordered),
        config=config,
        priors=prior_dict,
        cache=cache,
        factor_scores=factor_scores,
        source=source,
    )
    return BayesFit(
        result=result,
        ml=MLFit(without_means(result.ml, spec)),
        data=df,
        config=config,
        priors=prior_dict,
        cache=cache,
    )


def comparison(
    models: Mapping[str, str | os.PathLike[str] | Model],
    data: pd.DataFrame | str | os.PathLike[str],
    *,
    std_lv: bool = False,
    baseline: bool = True,
    means: str = "auto",
    missing: str | None = None,
    priors: Mapping[str, Prior] | None = None,
    cache: CompileCache | None = None,
    missing_codes: Sequence[float] = (),
    sheet: str | int | None = None,
    ordered: bool | Sequence[str] | None = None,
    group: str | None = None,
    group_equal: Sequence[str] | str | Mapping[str, Sequence[str] | str] = (),
    group_partial: Sequence[str] | str | Mapping[str, Sequence[str] | str] = (),
    **sampler: Any,
) -> Comparison:
    """Fit and compare models of the same data (the full result; see :func:`compare`).

    ``group`` (as in :func:`sem`): every model is fitted as a multi-group model and checked
    with the discrepancy summed over groups
    (:func:`~bayes_bmi.checking.groups_check.check_groups`); ``group_equal`` and
    ``group_partial`` apply to every model, or, as a mapping of model names, to each its own
    (``{"configural": (), "metric": "loadings"}`` compares invariance levels by LOO).

    ``missing`` (``"fiml"``, ``"listwise"`` or None, as in :func:`sem`) is one method for
    every model and the independence model; None picks ``"fiml"`` when the models' variables
    have missing cells. The table's ``missing`` column says which was used.

    ``ordered`` (as in :func:`sem`): cumulative-probit models ranked by LOO from each case's
    marginal likelihood, with the PPP of the items' bivariate tables
    (:func:`~bayes_bmi.checking.compare.compare_ordinal_models`; no independence model,
    Bayesian fit indices or ML columns; missing cells are left out of each case's
    likelihood, ``missing="listwise"`` drops incomplete cases first).

    Returns
    -------
    Comparison
        ``table`` (one row per model, best first), ``checks`` and ``results`` per model,
        ``fit_indices()``, ``residuals()``.
    """
    if not isinstance(models, Mapping) or not models:
        raise OptionError("models must be a non-empty mapping of names to models")
    reading = _reading(sheet, missing_codes)
    _check_data(data)
    if group is not None or group_equal or group_partial:
        return _comparison_groups(
            models, data, std_lv, baseline, means, missing, priors, cache, reading, ordered,
            (group, group_equal, group_partial), sampler,
        )  # fmt: skip
    specified = {str(name): specify(m, std_lv=std_lv) for name, m in models.items()}
    columns = list(dict.fromkeys(v for m in specified.values() for v in m.ov_names))
    df, source = _read(data, reading, columns)
    names = _ordered(ordered, missing)
    if names:
        return _compare_ordinal(specified, df, source, names, missing, priors, cache, sampler)
    from bayes_bmi.bayes.parameters import param_spec
    from bayes_bmi.ml.fit import model_patterns, resolve_missing

    # one missing-data method for every model (they share their variables)
    method = resolve_missing(next(iter(specified.values())), df, missing, source)
    prior_dict = dict(priors) if priors is not None else None
    for spec in specified.values():
        if method == "fiml":
            # the listwise precheck would refuse data that FIML can use (few complete cases)
            model_patterns(spec, df, source)
            param_spec(spec, prior_dict)
        else:
            _precheck(spec, df, source, prior_dict)

    from bayes_bmi.bayes.sampling import CompileCache
    from bayes_bmi.checking.compare import compare_models
    from bayes_bmi.checking.ppc import MEANS

    _one_of("means", means, MEANS)
    config = _sampler_config(sampler)
    return compare_models(
        specified,
        df,
        config=config,
        cache=cache if cache is not None else CompileCache(),
        priors=priors,
        baseline=baseline,
        means=means,
        source=source,
        missing=method,
    )


def _per_model(value: object, name: str, models: Mapping[str, object], what: str) -> object:
    """``value`` for model ``name``: its entry when ``value`` maps model names."""
    if not isinstance(value, Mapping):
        return value
    unknown = sorted(str(k) for k in value if k not in models)
    if unknown:
        raise OptionError(
            f"{what}: {', '.join(map(repr, unknown))} is not a compared model; models: "
            f"{', '.join(map(str, models))}"
        )
    return value.get(name, ())


def _comparison_groups(
    models, data, std_lv, baseline, means, missing, priors, cache, reading, ordered, groups,
    sampler,
) -> Comparison:  # fmt: skip
    """:func:`comparison` of multi-group models (``group`` given)."""
    from bayes_bmi.bayes.sampling import CompileCache
    from bayes_bmi.checking.compare import compare_models
    from bayes_bmi.checking.ppc import MEANS
    from bayes_bmi.ml.groups import split_groups

    group, equal, partial = groups
    if group is None:
        raise OptionError("group_equal and group_partial need group= (a grouping column)")
    if _ordered(ordered, missing):
        raise OptionError("compare with group= and ordered items is not available")
    _one_of("means", means, MEANS)
    opts = {
        str(name): _group_options(
            group,
            _per_model(equal, name, models, "group_equal"),
            _per_model(partial, name, models, "group_partial"),
        )
        for name in models
    }
    columns = list(dict.fromkeys(v for m in models.values() for v in _ov_names(m)))
    df, source = _read(data, reading, [*columns, group])
    if group in columns:
        raise OptionError(
            f"group: {group!r} is a variable of the models; the grouping column must be "
            "another column of the data"
        )
    ngroups = len(split_groups(df, group, source).labels)
    specified = {
        str(name): _group_model(m, std_lv, ngroups, opts[str(name)]) for name, m in models.items()
    }
    return compare_models(
        specified,
        df,
        config=_sampler_config(sampler),
        cache=cache if cache is not None else CompileCache(),
        priors=priors,
        baseline=baseline,
        means=means,
        source=source,
        missing=missing,
        group=group,
    )


def _compare_ordinal(
    specified: dict[str, Model],
    df: pd.DataFrame,
    source: str,
    ordered: bool | tuple[str, ...],
    missing: str | None,
    priors: Mapping[str, Prior] | None,
    cache: CompileCache | None,
    sampler: Mapping[str, Any],
) -> Comparison:
    """:func:`comparison` of ordinal models (``ordered`` checked)."""
    from bayes_bmi.bayes.sampling import CompileCache
    from bayes_bmi.checking.compare import compare_ordinal_models

    if missing == "listwise":
        df = df.dropna(subset=list(next(iter(specified.values())).ov_names))
    return compare_ordinal_models(
        specified,
        df,
        ordered=ordered if ordered is True else list(ordered),
        config=_sampler_config(sampler),
        cache=cache if cache is not None else CompileCache(),
        priors=priors,
        source=source,
    )


def compare(
    models: Mapping[str, str | os.PathLike[str] | Model],
    data: pd.DataFrame | str | os.PathLike[str],
    **options: Any,
) -> pd.DataFrame:
    """Compare models of the same data: LOO, WAIC, PPP, Bayesian and ML fit indices.

    Parameters
    ----------
    models : mapping of str to model
        Named models (syntax, ``.lav`` paths or Models) that explain the same variables.
    data : pandas.DataFrame, str or path-like
    **options
        ``std_lv``, ``baseline`` (fit the independence model, default True), ``means``,
        ``missing`` (one missing-data method for every model, see :func:`comparison`),
        ``priors``, ``cache``, ``missing_codes``, ``sheet``, ``ordered`` (ordinal models,
        see :func:`comparison`), ``group``, ``group_equal``, ``group_partial`` (multi-group
        models, see :func:`comparison`) and the sampler options of :func:`sem`.

    Returns
    -------
    pandas.DataFrame
        One row per model, best first (:data:`bayes_bmi.checking.compare.COMPARISON_COLUMNS`).
    """
    return comparison(models, data, **options).table


# ------------------------------------------------------------------------------ calibration
def calibrate(
    model: str | os.PathLike[str] | Model,
    *,
    sims: int = 200,
    n: int = 632,
    truth: Mapping[str, float] | None = None,
    scheduler: Any = None,
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    seed: int = 1,
    ndraws: int = 99,
    std_lv: bool = False,
    priors: Mapping[str, Prior] | str | os.PathLike[str] | None = None,
    extend: int = 1,
    progress: bool = True,
    **sampler: Any,
) -> CalibrationResult:
    """Simulation-based calibration of a model's posterior, the fits run on Dask.

    Each simulation draws the free parameters from their priors (or takes ``truth``),
    simulates ``n`` cases, fits them by NUTS and ranks the true values among ``ndraws``
    posterior draws (thinned evenly from all draws). See :mod:`bayes_bmi.calibration`.

    Parameters
    ----------
    model : str, path-like or Model
    sims : int
        Simulations.
    n : int
        Cases per simulated data set.
    truth : mapping, optional
        One true value per free parameter name, shared by every simulation.
    scheduler : None, str or distributed.Client
        None: a ``LocalCluster`` of ``workers`` single-threaded processes; an address
        (``"tcp://host:8786"``) of an existing scheduler; or a ``Client``.
    workers : int, optional
        Workers of the local cluster (default: one per CPU).
    out : path, optional
        Folder for ``sims/`` (one JSON per simulation, written as it finishes: a rerun with the
        same settings resumes), ``ranks.csv``, ``uniformity.csv``, ``coverage.csv``,
        ``sims.csv``, ``calibration.json``, ``rank_histograms.png`` and
        ``ecdf_difference.png``.
    seed : int
    ndraws : int
        Most posterior draws a rank is taken among (each parameter's draws are thinned to its
        effective sample size, at most this many).
    std_lv : bool
        As in :func:`specify`.
    priors : mapping, str or path, optional
        Default priors per kind, for drawing the truth and fitting: a mapping, a named set
        (``"weak"``: :data:`bayes_bmi.calibration.prior_sets.WEAKLY_INFORMATIVE`;
        ``"default"``: blavaan's) or a TOML/JSON file of ``kind = "prior"`` lines.
    extend : int
        Longer reruns of a fit with a convergence warning (2, 4, ... times the draws); every
        fit is ranked.
    progress : bool
        Print a counter of finished simulations to stderr.
    **sampler
        Fields of :class:`~bayes_bmi.bayes.sampling.SamplerConfig` (``draws``, ``tune``,
        ``chains``, ``target_accept``, ...) replacing those of
        :data:`bayes_bmi.calibration.runner.CALIBRATION_CONFIG` (2 chains x 1000 draws after
        500 warm-up steps, one core per fit).

    Returns
    -------
    CalibrationResult
        Tidy tables ``ranks`` (``sim, parameter, rank, ndraws, pit, truth, ess``),
        ``uniformity`` (chi-square per parameter, Bonferroni over parameters), ``coverage``
        (``parameter, nominal, coverage, mc_se, n_sims``) and ``sims`` (diagnostics).
    """
    _seed(seed)
    for name, value in (("sims", sims), ("n", n), ("ndraws", ndraws)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise OptionError(f"{name} must be a positive integer, not {value!r}")
    spec = specify(model, std_lv=std_lv)
    if isinstance(priors, str | os.PathLike):
        from bayes_bmi.calibration.prior_sets import read_priors

        priors = read_priors(priors)
    from bayes_bmi.calibration.runner import CALIBRATION_CONFIG
    from bayes_bmi.calibration.runner import calibrate as run_calibration

    options = {
        **{
            f.name: getattr(CALIBRATION_CONFIG, f.name)
            for f in dataclasses.fields(CALIBRATION_CONFIG)
        },
        **sampler,
    }
    result = run_calibration(
        spec,
        int(n),
        int(sims),
        truth=truth,
        config=_sampler_config(options),
        ndraws=int(ndraws),
        priors=priors,
        extend=int(extend),
        client=scheduler,
        workers=workers,
        out=out,
        seed=seed,
        progress=progress,
    )
    if out is not None and len(result.ranks):
        from bayes_bmi.io import atomic_write_bytes
        from bayes_bmi.plots.calibration import plot_ecdf_difference, plot_rank_histograms
        from bayes_bmi.plots.render import png_bytes

        folder = Path(out)
        atomic_write_bytes(
            folder / "rank_histograms.png", png_bytes(plot_rank_histograms(result.ranks))
        )
        atomic_write_bytes(
            folder / "ecdf_difference.png", png_bytes(plot_ecdf_difference(result.ranks))
        )
    return result


# ------------------------------------------------------------------------------ power
def _hypotheses(hypotheses: Any) -> list:
    """Hypotheses from a ``*.hypotheses.toml`` path or a sequence of Hypothesis objects."""
    from bayes_bmi.checking.hypotheses import Hypothesis, read_hypotheses

    if isinstance(hypotheses, str | os.PathLike):
        return read_hypotheses(hypotheses)
    hyps = list(hypotheses)
    if not hyps or not all(isinstance(h, Hypothesis) for h in hyps):
        raise OptionError("hypotheses must be a *.hypotheses.toml file or a list of Hypothesis")
    return hyps


def _power_truth(truth: Any, spec: Model) -> Any:
    """A data simulator from a truth file, a mapping of true values, or a simulator."""
    import json

    from bayes_bmi.calibration.power import NormalTruth

    if isinstance(truth, str | os.PathLike):
        text = read_text(truth, "truth", DataError)
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{truth}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        if isinstance(doc, dict) and str(doc.get("format", "")).startswith(
            "bayes-bmi/survey-truth"
        ):
            from bayes_bmi.study.power import SurveyData
            from bayes_bmi.study.survey import read_truth

            return SurveyData.from_truth(read_truth(truth))
        if not isinstance(doc, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in doc.values()
        ):
            raise DataError(
                f"{truth}: not a truth: expected a survey truth (data/ground_truth.json) or "
                "an object of one true value per free parameter name"
            )
        return NormalTruth(spec, doc)
    if isinstance(truth, Mapping):
        return NormalTruth(spec, dict(truth))
    if hasattr(truth, "simulate") and hasattr(truth, "fingerprint"):
        return truth
    raise OptionError(
        "truth must be a truth file, a mapping of true values or a simulator, "
        f"not {type(truth).__name__}"
    )


def _counts(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise OptionError(f"{name} must be a positive integer, not {value!r}")


def _config(defaults: SamplerConfig, sampler: Mapping[str, Any]) -> SamplerConfig:
    """``defaults`` with the fields given in ``sampler`` replaced (checked by name)."""
    fields = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(defaults)}
    return _sampler_config({**fields, **sampler})


def power(
    model: str | os.PathLike[str] | Model,
    truth: Any,
    hypotheses: Any,
    *,
    n: Sequence[int] = (200, 400, 632, 1000),
    sims: int = 100,
    target: float = 0.8,
    scheduler: Any = None,
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    seed: int = 1,
    std_lv: bool = False,
    priors: Mapping[str, Prior] | None = None,
    progress: bool = True,
    **sampler: Any,
) -> PowerResult:
    """Power of each hypothesis at each sample size, by simulation, the fits run on Dask.

    At every ``n``, ``sims`` data sets are drawn from ``truth``, each is fitted by NUTS beside
    its ML fit, and every hypothesis is judged both ways by the study's rule
    (:func:`~bayes_bmi.checking.hypotheses.hypothesis_table`). See
    :mod:`bayes_bmi.calibration.power`.

    Parameters
    ----------
    model : str, path-like or Model
    truth : path, mapping or simulator
        A survey truth file (the format of ``data/ground_truth.json``: Likert surveys are
        simulated as the shipped one was), a JSON file or mapping of one true value per free
        parameter name (multivariate normal data; the model's intercepts included), or an
        object with ``simulate(n, seed)`` and ``fingerprint()``.
    hypotheses : path or sequence of Hypothesis
        A ``*.hypotheses.toml`` file.
    n : sequence of int
        Sample sizes.
    sims : int
        Simulations per sample size.
    target : float
        Power whose smallest ``n`` is reported (``summary``).
    scheduler, workers
        As in :func:`calibrate`.
    out : path, optional
        Folder for ``sims/`` (one JSON per fit: a rerun resumes), ``power.csv``,
        ``power_summary.csv``, ``sims.csv``, ``power.json`` and ``power.png``.
    seed : int
    std_lv : bool
    priors : mapping, optional
        Default priors per kind.
    progress : bool
    **sampler
        Fields of :class:`~bayes_bmi.bayes.sampling.SamplerConfig` replacing those of
        :data:`bayes_bmi.calibration.power.POWER_CONFIG` (4 chains x 500 draws after 500
        warm-up steps, one core per fit).

    Returns
    -------
    PowerResult
        ``table`` (per hypothesis and n: ``p_supported, p_not_supported, p_inconclusive``,
        the ML shares ``ml_p_*`` and Monte Carlo errors ``mcse_*``), ``summary`` (smallest n
        reaching ``target``, NaN when none does) and ``sims``.
    """
    _seed(seed)
    ns = [n] if isinstance(n, numbers.Integral) else list(n)
    _counts(sims=sims, **{f"n[{i}]": v for i, v in enumerate(ns)})
    if isinstance(target, bool) or not isinstance(target, numbers.Real) or not 0 < target <= 1:
        raise OptionError(f"target must be a power in (0, 1], not {target!r}")
    spec = specify(model, std_lv=std_lv)
    hyps = _hypotheses(hypotheses)
    simulator = _power_truth(truth, spec)
    from bayes_bmi.calibration.power import POWER_CONFIG
    from bayes_bmi.calibration.power import power as run_power

    result = run_power(
        spec,
        simulator,
        hyps,
        [int(v) for v in ns],
        int(sims),
        config=_config(POWER_CONFIG, sampler),
        priors=priors,
        target=float(target),
        client=scheduler,
        workers=workers,
        out=out,
        seed=seed,
        progress=progress,
    )
    if out is not None and len(result.table):
        from bayes_bmi.io import atomic_write_bytes
        from bayes_bmi.plots.power import plot_power_curves
        from bayes_bmi.plots.render import png_bytes

        fig = plot_power_curves(result.table, result.target)
        atomic_write_bytes(Path(out) / "power.png", png_bytes(fig))
    return result


# ------------------------------------------------------------------------------ sensitivity
def sensitivity(
    model: str | os.PathLike[str] | Model,
    data: pd.DataFrame | str | os.PathLike[str],
    hypotheses: Any,
    *,
    grid: Mapping[str, Mapping[str, Prior]] | None = None,
    rank: Sequence[str] = (),
    psense: bool = True,
    scheduler: Any = None,
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    seed: int = 1,
    std_lv: bool = False,
    missing: str | None = None,
    missing_codes: Sequence[float] = (),
    sheet: str | int | None = None,
    progress: bool = True,
    **sampler: Any,
) -> SensitivityResult:
    """Hypothesis verdicts under a documented grid of priors, one refit per prior set on Dask.

    See :mod:`bayes_bmi.calibration.sensitivity` for the grid
    (:data:`~bayes_bmi.calibration.sensitivity.PRIOR_GRID`: ``default``, ``wide`` and
    ``narrow`` loadings and regressions, ``variance`` priors on the variance) and the
    power-scaling diagnostic.

    Parameters
    ----------
    model : str, path-like or Model
    data : DataFrame or path
    hypotheses : path or sequence of Hypothesis
    grid : mapping, optional
        Prior set name -> {kind: Prior}; default the documented grid.
    rank : sequence of str
        Parameters ranked by standardized effect under each prior.
    psense : bool
        Power-scaling sensitivity on the ``default`` fit.
    scheduler, workers, seed, std_lv, progress
        As in :func:`calibrate`.
    out : path, optional
        Folder for ``fits/`` (one JSON per prior set: a rerun resumes), ``sensitivity.csv``,
        ``ranks.csv``, ``psense.csv``, ``priors.csv`` and ``sensitivity.json``.
    missing, missing_codes, sheet
        As in :func:`sem`.
    **sampler
        Fields of :class:`~bayes_bmi.bayes.sampling.SamplerConfig` replacing those of
        :data:`bayes_bmi.calibration.sensitivity.SENSITIVITY_CONFIG` (4 chains x 1000 draws).

    Returns
    -------
    SensitivityResult
        ``table``: per hypothesis and prior set the verdicts, posterior median and HDI, and
        ``holds`` (the same verdict under every prior of the grid); ``ranks``; ``psense``;
        ``grid``.
    """
    _seed(seed)
    if missing is not None:
        _one_of("missing", missing, MISSING)
    spec = specify(model, std_lv=std_lv)
    df, _ = _read(data, _reading(sheet, missing_codes), list(spec.ov_names))
    hyps = _hypotheses(hypotheses)
    from bayes_bmi.calibration.sensitivity import PRIOR_GRID, SENSITIVITY_CONFIG
    from bayes_bmi.calibration.sensitivity import sensitivity as run_sensitivity

    return run_sensitivity(
        spec,
        df,
        hyps,
        grid=PRIOR_GRID if grid is None else grid,
        config=_config(SENSITIVITY_CONFIG, sampler),
        rank=tuple(rank),
        psense=psense,
        missing=missing,
        client=scheduler,
        workers=workers,
        out=out,
        seed=seed,
        progress=progress,
    )
