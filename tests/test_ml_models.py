"""Independent cross-checks of the ML fit on model kinds beyond the three lavaan reference models.

Every model here is fitted by ``fit_ml`` and compared with references that share no code with
bayes-bmi:

1. ``RefML`` below: a small RAM-notation ML engine written from the textbook formulas
   (``Sigma = F (I-A)^-1 P (I-A)^-T F'``), fed with lavaan's *full* parameter table for each model,
   written out by hand from lavaan's documented defaults (``sem()``: first loading fixed to 1 or,
   with ``std.lv``, latent variances fixed to 1; ``auto.cov.lv.x``; ``auto.cov.y`` over pure
   dependent observed *and* latent variables; ``fixed.x``; intercepts free and latent means fixed
   to 0 once a ``~ 1`` appears). It gives estimates, expected-information standard errors,
   ``std.lv``/``std.all`` (lavaan's ``cov.std = TRUE`` rules) and lavaan's fit measures.
2. semopy 2.3.11 (default ``MLW`` objective, tightened tolerance) where installed: estimates,
   standard errors (its ``calc_fim`` is the expected information, ``n/2 tr(S^-1 dS S^-1 dS)``)
   and ``chisq = n * fun``. Only covariance-structure models (no ``~ 1``): semopy's mean-structure
   statistics are not trusted.
3. Closed forms and invariances: OLS for saturated observed path models, sample means for
   saturated intercepts, equivalent reparameterisations (std.lv vs marker, second-order factor,
   regressions among factors) checked against lavaan 0.6-14's own numbers in ``tests/data``.

Tolerances (see ``close``): the references are exact ML solutions converged to a gradient below
1e-10, so differences come only from optimiser convergence (observed: at most 2e-7 on any
estimate, standard error, standardized value or fit measure). We use 1e-4
(absolute, relative above 1), ten times tighter than the lavaan contract of 1e-3, which still
catches the classic rule slips (``N`` vs ``N - 1`` moves standard errors by >= 1.7e-3 relative at
N = 301). Comparisons with lavaan's stored numbers use the contract's 1e-3 (they are rounded by
lavaan's own convergence).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy import stats as sps

from bayes_bmi.lavaan.model import specify
from bayes_bmi.lavaan.partable import ModelOptions
from bayes_bmi.ml.fit import MLResult, fit_ml
from conftest import load_reference

TOL = 1e-4  # ours vs an exact independent reference
LAVAAN_TOL = 1e-3  # ours vs lavaan's stored numbers (the project's contract)


def close(ours: float, ref: float, tol: float = TOL) -> bool:
    """Absolute tolerance, relative for magnitudes above 1; NaN only matches NaN."""
    if math.isnan(ref) or math.isnan(ours):
        return math.isnan(ref) and math.isnan(ours)
    return abs(ours - ref) <= tol * max(1.0, abs(ref))


# --------------------------------------------------------------------------------------------
# lavaan's parameter tables, written out by hand
# --------------------------------------------------------------------------------------------
#
# One row a line: ``lhs op rhs [mod]`` (``lhs ~1 [mod]`` for intercepts); ``mod`` is ``@value``
# (fixed), ``@x`` (fixed.x: fixed at the sample moment), or a label (free, shared labels are one
# parameter); no ``mod`` means free.


@dataclass(frozen=True)
class Row:
    lhs: str
    op: str
    rhs: str
    fixed: float | str | None = None
    label: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return row_key(self.lhs, self.op, self.rhs)


def row_key(lhs: str, op: str, rhs: str) -> tuple[str, str, str]:
    if op == "~~" and rhs < lhs:
        lhs, rhs = rhs, lhs
    return (lhs, op, "" if op in ("~1", ":=") else rhs)  # := rows: matched by name


def parse_rows(text: str) -> tuple[Row, ...]:
    rows = []
    for line in text.strip().splitlines():
        tok = line.split()
        if tok[1] == "~1":
            lhs, op, rhs, mods = tok[0], "~1", "", tok[2:]
        else:
            (lhs, op, rhs), mods = tok[:3], tok[3:]
        fixed: float | str | None = None
        label = ""
        for m in mods:
            if m == "@x":
                fixed = "x"
            elif m.startswith("@"):
                fixed = float(m[1:])
            else:
                label = m
        rows.append(Row(lhs, op, rhs, fixed, label))
    return tuple(rows)


def cfa_rows(factors: dict[str, list[str]], std_lv: bool = False, lv_cov: bool = True) -> str:
    """lavaan's table of a simple CFA: loadings, residual and latent variances, factor covs."""
    lines = []
    for f, inds in factors.items():
        for j, v in enumerate(inds):
            lines.append(f"{f} =~ {v}" + (" @1" if j == 0 and not std_lv else ""))
    lines += [f"{v} ~~ {v}" for inds in factors.values() for v in inds]
    lines += [f"{f} ~~ {f}" + (" @1" if std_lv else "") for f in factors]
    if lv_cov:
        names = list(factors)
        lines += [f"{a} ~~ {b}" for i, a in enumerate(names) for b in names[i + 1 :]]
    return "\n".join(lines)


HS3 = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
HS3_TEXT = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
POLDEM_SEM = """
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
"""


@dataclass(frozen=True)
class Case:
    """A model, its lavaan table, and (optionally) its semopy translation."""

    text: str
    data: str  # "hs" or "poldem"
    table: str
    std_lv: bool = False
    semopy: str | None = None
    defined: dict[str, str] = field(default_factory=dict)  # name -> expression in labels


CASES: dict[str, Case] = {
    "std_lv_cfa": Case(
        HS3_TEXT,
        "hs",
        cfa_rows(HS3, std_lv=True),
        std_lv=True,
        semopy=(
            "visual =~ a1*x1 + a2*x2 + a3*x3\ntextual =~ b1*x4 + b2*x5 + b3*x6\n"
            "speed =~ c1*x7 + c2*x8 + c3*x9\n"
            "visual ~~ 1*visual\ntextual ~~ 1*textual\nspeed ~~ 1*speed\n"
            # semopy 2.3.11 loops forever computing loading starts when no loading is fixed
            "START(0.7) a1 a2 a3 b1 b2 b3 c1 c2 c3"
        ),
    ),
    "cross_loading": Case(
        "visual =~ x1 + x2 + x3 + x9\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9",
        "hs",
        cfa_rows({**HS3, "visual": ["x1", "x2", "x3", "x9"]}).replace("x9 ~~ x9\n", "", 1),
        semopy="visual =~ x1 + x2 + x3 + x9\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9",
    ),
    "equality": Case(
        "visual =~ x1 + x2 + x3\ntextual =~ x4 + a*x5 + a*x6\nspeed =~ x7 + x8 + x9\n"
        "x7 ~~ v*x7\nx8 ~~ v*x8\nx9 ~~ v*x9",
        "hs",
        cfa_rows(HS3)
        .replace("textual =~ x5", "textual =~ x5 a")
        .replace("textual =~ x6", "textual =~ x6 a")
        .replace("x7 ~~ x7", "x7 ~~ x7 v")
        .replace("x8 ~~ x8", "x8 ~~ x8 v")
        .replace("x9 ~~ x9", "x9 ~~ x9 v"),
        semopy="visual =~ x1 + x2 + x3\ntextual =~ x4 + a*x5 + a*x6\nspeed =~ x7 + x8 + x9\n"
        "x7 ~~ v*x7\nx8 ~~ v*x8\nx9 ~~ v*x9",
    ),
    "fixed_loadings": Case(
        "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ 1*x7 + 1*x8 + 1*x9",
        "hs",
        cfa_rows(HS3)
        .replace("speed =~ x8", "speed =~ x8 @1")
        .replace("speed =~ x9", "speed =~ x9 @1"),
        semopy="visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ 1*x7 + 1*x8 + 1*x9",
    ),
    "intercepts": Case(
        HS3_TEXT + "x1 ~ 1",
        "hs",
        cfa_rows(HS3)
        + "".join(f"\n{v} ~1" for v in HS3_TEXT.split() if v.startswith("x"))
        + "\nvisual ~1 @0\ntextual ~1 @0\nspeed ~1 @0",
    ),
    "latent_means": Case(
        "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
        "visual ~ 1\ntextual ~ 1\nx1 ~ 0*1\nx4 ~ 0*1",
        "hs",
        cfa_rows({"visual": HS3["visual"], "textual": HS3["textual"]})
        + "\nvisual ~1\ntextual ~1\nx1 ~1 @0\nx4 ~1 @0\nx2 ~1\nx3 ~1\nx5 ~1\nx6 ~1",
    ),
    "equal_intercepts": Case(
        "visual =~ x1 + x2 + x3\nx1 ~ t*1\nx2 ~ t*1\nx3 ~ t*1\nvisual ~ 1",
        "hs",
        cfa_rows({"visual": HS3["visual"]}) + "\nx1 ~1 t\nx2 ~1 t\nx3 ~1 t\nvisual ~1",
    ),
    "mediation": Case(
        "y2 ~ a*x1\ny3 ~ b*y2 + c*x1\nind := a*b",
        "poldem",
        "y2 ~ x1 a\ny3 ~ y2 b\ny3 ~ x1 c\ny2 ~~ y2\ny3 ~~ y3\nx1 ~~ x1 @x",
        semopy="y2 ~ a*x1\ny3 ~ b*y2 + c*x1",
        defined={"ind": "a*b"},
    ),
    "mimic": Case(
        "visual =~ x1 + x2 + x3\nvisual ~ grade",
        "hs",
        cfa_rows({"visual": HS3["visual"]}) + "\nvisual ~ grade\ngrade ~~ grade @x",
        semopy="visual =~ x1 + x2 + x3\nvisual ~ grade",
    ),
    "mimic_means": Case(
        "visual =~ x1 + x2 + x3\nvisual ~ grade\nx1 ~ 1",
        "hs",
        cfa_rows({"visual": HS3["visual"]})
        + "\nvisual ~ grade\ngrade ~~ grade @x\nx1 ~1\nx2 ~1\nx3 ~1\ngrade ~1 @x\nvisual ~1 @0",
    ),
    "two_outcomes": Case(
        "y1 ~ x1\ny2 ~ x1",
        "poldem",
        # auto.cov.y: the residuals of the two pure dependent variables covary
        "y1 ~ x1\ny2 ~ x1\ny1 ~~ y1\ny2 ~~ y2\ny1 ~~ y2\nx1 ~~ x1 @x",
        semopy="y1 ~ x1\ny2 ~ x1\ny1 ~~ y2",
    ),
    "random_x": Case(
        # a user variance on a covariate takes it out of fixed.x (lavaan warns and frees it)
        "y1 ~ x1\ny2 ~ x1\nx1 ~~ x1",
        "poldem",
        "y1 ~ x1\ny2 ~ x1\ny1 ~~ y1\ny2 ~~ y2\ny1 ~~ y2\nx1 ~~ x1",
    ),
    "second_order": Case(
        HS3_TEXT + "g =~ visual + textual + speed",
        "hs",
        # first-order factors are indicators: residual variances, no auto covariances
        cfa_rows(HS3, lv_cov=False) + "\ng =~ visual @1\ng =~ textual\ng =~ speed\ng ~~ g",
        semopy=HS3_TEXT + "g =~ visual + textual + speed",
    ),
    "single_indicator": Case(
        "visual =~ x1 + x2 + x3\nf =~ x4\nx4 ~~ 0*x4\nvisual ~ f",
        "hs",
        cfa_rows({"visual": HS3["visual"]}) + "\nf =~ x4 @1\nx4 ~~ x4 @0\nf ~~ f\nvisual ~ f",
        semopy="visual =~ x1 + x2 + x3\nf =~ x4\nx4 ~~ 0*x4\nvisual ~ f",
    ),
    "latent_outcomes": Case(
        HS3_TEXT + "textual ~ visual\nspeed ~ visual",
        "hs",
        # auto.cov.y covers pure dependent latent variables too
        cfa_rows(HS3, lv_cov=False) + "\ntextual ~ visual\nspeed ~ visual\ntextual ~~ speed",
        semopy=HS3_TEXT + "textual ~ visual\nspeed ~ visual\ntextual ~~ speed",
    ),
    "latent_and_observed_outcomes": Case(
        "visual =~ x1 + x2 + x3\nvisual ~ grade\nx9 ~ grade",
        "hs",
        # ... and pairs of a pure dependent latent and a pure dependent observed variable
        cfa_rows({"visual": HS3["visual"]})
        + "\nvisual ~ grade\nx9 ~ grade\nx9 ~~ x9\nvisual ~~ x9\ngrade ~~ grade @x",
        # (semopy 2.3.11 cannot express a latent-observed covariance)
    ),
    "residual_covariance": Case(
        "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nx1 ~~ x4",
        "hs",
        cfa_rows({"visual": HS3["visual"], "textual": HS3["textual"]}) + "\nx1 ~~ x4",
        semopy="visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nx1 ~~ x4",
    ),
    "two_covariates": Case(
        "y1 ~ x1 + x2\ny2 ~ x1",
        "poldem",
        # fixed.x: the covariates' variances and covariance are fixed at the sample values
        "y1 ~ x1\ny1 ~ x2\ny2 ~ x1\ny1 ~~ y1\ny2 ~~ y2\ny1 ~~ y2"
        "\nx1 ~~ x1 @x\nx2 ~~ x2 @x\nx1 ~~ x2 @x",
        semopy="y1 ~ x1 + x2\ny2 ~ x1\ny1 ~~ y2",
    ),
    "regression_intercepts": Case(
        "y1 ~ x1 + x2\ny1 ~ 1",
        "poldem",
        # ... and so are their means once the mean structure is on
        "y1 ~ x1\ny1 ~ x2\ny1 ~~ y1\nx1 ~~ x1 @x\nx2 ~~ x2 @x\nx1 ~~ x2 @x"
        "\ny1 ~1\nx1 ~1 @x\nx2 ~1 @x",
    ),
    "free_first_loading": Case(
        "visual =~ NA*x1 + x2 + x3\nvisual ~~ 1*visual\ntextual =~ x4 + x5 + x6",
        "hs",
        cfa_rows({"visual": HS3["visual"], "textual": HS3["textual"]})
        .replace("visual =~ x1 @1", "visual =~ x1")
        .replace("visual ~~ visual", "visual ~~ visual @1"),
    ),
    "orthogonal": Case(
        "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual ~~ 0*textual",
        "hs",
        cfa_rows({"visual": HS3["visual"], "textual": HS3["textual"]}).replace(
            "visual ~~ textual", "visual ~~ textual @0"
        ),
        semopy="visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual ~~ 0*textual",
    ),
    "defined_reliability": Case(
        "visual =~ x1 + l2*x2 + x3\nvisual ~~ p*visual\nx2 ~~ t2*x2\nrel := l2^2*p/(l2^2*p + t2)",
        "hs",
        cfa_rows({"visual": HS3["visual"]})
        .replace("visual =~ x2", "visual =~ x2 l2")
        .replace("x2 ~~ x2", "x2 ~~ x2 t2")
        .replace("visual ~~ visual", "visual ~~ visual p"),
        defined={"rel": "l2**2 * p / (l2**2 * p + t2)"},
    ),
    "poldem_std_lv": Case(
        POLDEM_SEM,
        "poldem",
        cfa_rows(
            {"ind60": ["x1", "x2", "x3"], "dem60": ["y1", "y2", "y3", "y4"]}
            | {"dem65": ["y5", "y6", "y7", "y8"]},
            std_lv=True,
            lv_cov=False,
        )
        + "\ndem60 ~ ind60\ndem65 ~ ind60\ndem65 ~ dem60"
        + "\ny1 ~~ y5\ny2 ~~ y4\ny2 ~~ y6\ny3 ~~ y7\ny4 ~~ y8\ny6 ~~ y8",
        std_lv=True,
    ),
}


# --------------------------------------------------------------------------------------------
# RefML: an independent ML engine in RAM notation
# --------------------------------------------------------------------------------------------


class RefML:
    """ML fit of a lavaan table: ``Sigma = F B P B' F'``, ``mu = F B v``, ``B = (I - A)^-1``.

    ``A[i, j]`` is the effect of variable ``j`` on ``i``; ``P`` the (residual) covariances; ``v``
    the intercepts. Derivatives of the implied moments are analytic; the optimiser is Fisher
    scoring with a backtracking line search from lavaan's "simple" start values.
    """

    def __init__(self, rows: tuple[Row, ...], data: pd.DataFrame, defined: dict[str, str]):
        self.rows = rows
        self.defined = defined
        self.lv = list(dict.fromkeys(r.lhs for r in rows if r.op == "=~"))
        names = [v for r in rows for v in (r.lhs, r.rhs) if v]
        self.ov = [v for v in dict.fromkeys(names) if v not in self.lv]
        self.vars = self.ov + self.lv
        self.pos = {v: i for i, v in enumerate(self.vars)}
        x = data[self.ov].dropna().to_numpy(dtype=float)  # listwise deletion
        self.n, self.p = x.shape
        self.mean = x.mean(axis=0)
        self.cov = np.cov(x, rowvar=False, bias=True)  # ML divisor N
        self.meanstructure = any(r.op == "~1" for r in rows)
        self.x_vars = [r.lhs for r in rows if r.fixed == "x" and r.op == "~~" and r.lhs == r.rhs]
        keys: dict[str, int] = {}
        self.index = []
        for i, r in enumerate(rows):
            self.index.append(
                keys.setdefault(r.label or f"#{i}", len(keys)) if r.fixed is None else -1
            )
        self.npar = len(keys)
        self.theta = self._fit()

    # model -------------------------------------------------------------------------------
    def values(self, theta: np.ndarray) -> np.ndarray:
        out = np.empty(len(self.rows))
        for i, (r, k) in enumerate(zip(self.rows, self.index, strict=True)):
            if k >= 0:
                out[i] = theta[k]
            elif r.fixed == "x":
                a = self.pos[r.lhs]
                out[i] = self.mean[a] if r.op == "~1" else self.cov[a, self.pos[r.rhs]]
            else:
                out[i] = float(r.fixed)
        return out

    def matrices(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = len(self.vars)
        a, pm, v = np.zeros((m, m)), np.zeros((m, m)), np.zeros(m)
        for r, val in zip(self.rows, self.values(theta), strict=True):
            i = self.pos[r.lhs]
            if r.op == "=~":
                a[self.pos[r.rhs], i] = val
            elif r.op == "~":
                a[i, self.pos[r.rhs]] = val
            elif r.op == "~~":
                pm[i, self.pos[r.rhs]] = pm[self.pos[r.rhs], i] = val
            elif r.op == "~1":
                v[i] = val
        return a, pm, v

    def implied_all(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(total covariance and mean of all variables, residual covariance matrix P)."""
        a, pm, v = self.matrices(theta)
        b = np.linalg.inv(np.eye(len(self.vars)) - a)
        return b @ pm @ b.T, b @ v, pm

    def implied(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, mu, _ = self.implied_all(theta)
        p = self.p
        return c[:p, :p], (mu[:p] if self.meanstructure else self.mean)

    def discrepancy(self, theta: np.ndarray) -> float:
        sigma, mu = self.implied(theta)
        sign, logdet = np.linalg.slogdet(sigma)
        if sign <= 0 or np.linalg.eigvalsh(sigma).min() <= 0:
            return math.inf
        inv = np.linalg.inv(sigma)
        d = self.mean - mu
        f = logdet + np.trace(self.cov @ inv) - np.linalg.slogdet(self.cov)[1] - self.p
        return float(f + d @ inv @ d)

    def jacobians(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """d Sigma / d theta and d mu / d theta: with ``dB = B dA B``, ``dC = B dA C + (.)'``."""
        a, pm, v = self.matrices(theta)
        b = np.linalg.inv(np.eye(len(self.vars)) - a)
        c, mu_all = b @ pm @ b.T, b @ v
        p = self.p
        ds = np.zeros((self.npar, p, p))
        dm = np.zeros((self.npar, p))
        for r, k in zip(self.rows, self.index, strict=True):
            if k < 0:
                continue
            i, j = self.pos[r.lhs], self.pos[r.rhs] if r.rhs else -1
            if r.op == "=~":
                i, j = j, i  # A[indicator, factor]
            if r.op in ("=~", "~"):
                dc = np.outer(b[:p, i], c[j, :p])
                ds[k] += dc + dc.T
                dm[k] += b[:p, i] * mu_all[j]
            elif r.op == "~~":
                dc = np.outer(b[:p, i], b[:p, j])
                ds[k] += dc + dc.T if i != j else dc
            else:
                dm[k] += b[:p, i]
        if not self.meanstructure:
            dm[:] = 0.0
        return ds, dm

    def gradient_information(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient of F and the expected information of one observation."""
        sigma, mu = self.implied(theta)
        inv = np.linalg.inv(sigma)
        ds, dm = self.jacobians(theta)
        d = self.mean - mu
        dfs = inv - inv @ (self.cov + np.outer(d, d)) @ inv
        grad = np.einsum("ab,kab->k", dfs, ds) - 2.0 * dm @ inv @ d
        m = np.einsum("ab,kbc->kac", inv, ds)
        info = 0.5 * np.einsum("kab,lba->kl", m, m) + dm @ inv @ dm.T
        return grad, info

    def start(self) -> np.ndarray:
        """lavaan's 'simple' starts: loadings 1, ov residual variances half the sample variance,
        latent variances 0.05, regressions and covariances 0, intercepts the sample means."""
        theta = np.zeros(self.npar)
        for r, k in zip(reversed(self.rows), reversed(self.index), strict=True):
            if k < 0:
                continue
            if r.op == "=~":
                theta[k] = 1.0
            elif r.op == "~~" and r.lhs == r.rhs:
                i = self.pos[r.lhs]
                theta[k] = 0.5 * self.cov[i, i] if i < self.p else 0.05
            elif r.op == "~1" and self.pos[r.lhs] < self.p:
                theta[k] = self.mean[self.pos[r.lhs]]
        return theta

    def _fit(self) -> np.ndarray:
        """Trust-region Fisher scoring (scipy's ``trust-exact`` with the expected information as
        Hessian) from the simple starts, then plain Fisher steps on the gradient, which go on
        where the decrease of F drops below its rounding error."""
        memo: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

        def grad_info(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            key = theta.tobytes()
            if key not in memo:
                memo.clear()
                memo[key] = self.gradient_information(theta)
            return memo[key]

        theta = optimize.minimize(
            self.discrepancy,
            self.start(),
            jac=lambda t: grad_info(t)[0],
            hess=lambda t: 2.0 * grad_info(t)[1],
            method="trust-exact",
            options={"gtol": 1e-10, "maxiter": 1000},
        ).x
        for _ in range(100):
            grad, info = self.gradient_information(theta)
            step = np.linalg.solve(2.0 * info, -grad)
            theta = theta + step
            if np.max(np.abs(step) / np.maximum(1.0, np.abs(theta))) < 1e-12:
                break
        grad = self.gradient_information(theta)[0]
        assert np.max(np.abs(grad)) < 1e-10, f"reference fit did not converge: {grad}"
        return theta

    # results -----------------------------------------------------------------------------
    def vcov(self) -> np.ndarray:
        return np.linalg.inv(self.gradient_information(self.theta)[1]) / self.n

    def _label_env(self, values: np.ndarray) -> dict[str, float]:
        env: dict[str, float] = {}
        for r, val in zip(self.rows, values, strict=True):
            if r.label:
                env.setdefault(r.label, float(val))
        return env

    def _defined(self, values: np.ndarray) -> dict[str, float]:
        env = self._label_env(values)
        return {name: float(eval(expr, {}, dict(env))) for name, expr in self.defined.items()}

    def standardized(self, theta: np.ndarray, all_vars: bool) -> np.ndarray:
        """lavaan's std.lv (``all_vars=False``) or std.all, with ``cov.std = TRUE``."""
        c, _, pm = self.implied_all(theta)
        sd = np.sqrt(np.diag(c))
        if not all_vars:
            sd = np.where(np.arange(len(self.vars)) < self.p, 1.0, sd)
        out = []
        for r, val in zip(self.rows, self.values(theta), strict=True):
            i = self.pos[r.lhs]
            if r.op == "=~":
                out.append(val * sd[i] / sd[self.pos[r.rhs]])
            elif r.op == "~":
                out.append(val * sd[self.pos[r.rhs]] / sd[i])
            elif r.op == "~1":
                out.append(val / sd[i])
            elif r.lhs == r.rhs:
                out.append(val / sd[i] ** 2)
            else:  # covariances: divided by the residual SDs of the standardized sides
                for v in (i, self.pos[r.rhs]):
                    if all_vars or v >= self.p:
                        val /= math.sqrt(abs(pm[v, v]))
                out.append(val)
        return np.array(out)

    def estimates(self) -> dict[tuple[str, str, str], dict[str, float]]:
        values = self.values(self.theta)
        vc = self.vcov()
        se = [math.sqrt(vc[k, k]) if k >= 0 else math.nan for k in self.index]
        std_lv = self.standardized(self.theta, all_vars=False)
        std_all = self.standardized(self.theta, all_vars=True)
        out = {
            r.key: {"est": values[i], "se": se[i], "std_lv": std_lv[i], "std_all": std_all[i]}
            for i, r in enumerate(self.rows)
        }
        # defined parameters: delta method; standardized versions from the standardized labels
        defs = self._defined(values)
        for name in self.defined:
            grad = np.empty(self.npar)
            for k in range(self.npar):
                h = 1e-6 * max(1.0, abs(self.theta[k]))
                tp, tm = self.theta.copy(), self.theta.copy()
                tp[k] += h
                tm[k] -= h
                grad[k] = (
                    self._defined(self.values(tp))[name] - self._defined(self.values(tm))[name]
                ) / (2 * h)
            out[(name, ":=", "")] = {
                "est": defs[name],
                "se": math.sqrt(grad @ vc @ grad),
                "std_lv": self._defined(std_lv)[name],
                "std_all": self._defined(std_all)[name],
            }
        return out

    def fit_measures(self) -> dict[str, float]:
        n, p, ms = self.n, self.p, self.meanstructure
        sigma, mu = self.implied(self.theta)
        f = self.discrepancy(self.theta)
        chisq = max(n * f, 0.0)
        px = len(self.x_vars)
        ndat = p * (p + 1) // 2 + ms * p - (px * (px + 1) // 2 + ms * px)
        df = ndat - self.npar
        inv = np.linalg.inv(sigma)
        d = self.mean - mu
        log2pi = math.log(2 * math.pi)
        logl = -0.5 * n * (p * log2pi + np.linalg.slogdet(sigma)[1] + np.trace(self.cov @ inv))
        logl -= 0.5 * n * (d @ inv @ d)
        logl_h1 = -0.5 * n * (p * log2pi + np.linalg.slogdet(self.cov)[1] + p)
        # lavaan's fixed.x log-likelihoods are conditional on the covariates (loglik - loglik.x,
        # checked against lavaan 0.6-14 in test_ml_lavaan_extra.py)
        xi = [self.pos[v] for v in self.x_vars]
        if xi:
            sxx = self.cov[np.ix_(xi, xi)]
            logl_x = -0.5 * n * (len(xi) * log2pi + np.linalg.slogdet(sxx)[1] + len(xi))
            logl -= logl_x
            logl_h1 -= logl_x
        # independence model: free variances (and means); fixed.x block kept at sample values
        xi = [self.pos[v] for v in self.x_vars]
        sig_b = np.diag(np.diag(self.cov))
        sig_b[np.ix_(xi, xi)] = self.cov[np.ix_(xi, xi)]
        f_b = (
            np.linalg.slogdet(sig_b)[1]
            + np.trace(self.cov @ np.linalg.inv(sig_b))
            - np.linalg.slogdet(self.cov)[1]
            - p
        )
        chisq_b, df_b = n * f_b, ndat - (p - px) * (1 + ms)
        t1, t2 = max(chisq - df, 0.0), max(chisq - df, chisq_b - df_b, 0.0)
        cfi = 1.0 if t1 == 0 and t2 == 0 else 1 - t1 / t2
        tli = 1 - (chisq - df) * df_b / ((chisq_b - df_b) * df) if df > 0 else 1.0
        rmsea = math.sqrt(max(chisq / n / df - 1 / n, 0.0)) if df > 0 else 0.0
        lo, hi = _rmsea_ci(chisq, df, n)
        # SRMR (Bentler): residuals scaled by the sample SDs; with means, mean residuals pooled
        sd = np.sqrt(np.diag(self.cov))
        res = ((self.cov - sigma) / np.outer(sd, sd))[np.tril_indices(p)]
        if ms:
            res = np.concatenate([res, d / sd])
        return {
            "npar": self.npar,
            "chisq": chisq,
            "df": df,
            "pvalue": float(sps.chi2.sf(chisq, df)) if df > 0 else math.nan,
            "logl": logl,
            "unrestricted_logl": logl_h1,
            "aic": -2 * logl + 2 * self.npar,
            "bic": -2 * logl + self.npar * math.log(n),
            "baseline_chisq": chisq_b,
            "baseline_df": df_b,
            "cfi": cfi,
            "tli": tli,
            "rmsea": rmsea,
            "rmsea_ci_lower": lo,
            "rmsea_ci_upper": hi,
            # close fit, H0: RMSEA <= 0.05 (lav_fit_rmsea_closefit); NA when df = 0
            "rmsea_pvalue": float(sps.ncx2.sf(chisq, df, n * df * 0.05**2)) if df > 0 else math.nan,
            "srmr": float(np.sqrt(np.mean(res**2))),
        }


def _rmsea_ci(chisq: float, df: int, n: int) -> tuple[float, float]:
    """lavaan's 90% interval (lav_fit_rmsea_ci): both bounds 0 when df < 1."""

    def bound(q: float) -> float:
        if df < 1 or sps.chi2.cdf(chisq, df) < q:
            return 0.0
        lam = optimize.brentq(lambda x: sps.ncx2.cdf(chisq, df, x) - q, 1e-10, max(n, 4 * chisq))
        return math.sqrt(lam / (n * df))

    return bound(0.95), bound(0.05)


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def datasets(hs_data, poldem_data) -> dict[str, pd.DataFrame]:
    return {"hs": hs_data, "poldem": poldem_data}


def fit_case(case: Case, datasets: dict[str, pd.DataFrame]) -> MLResult:
    options = ModelOptions(std_lv=case.std_lv)
    # the references delete listwise (HS has a missing grade, which would otherwise select FIML)
    return fit_ml(specify(case.text, options=options), datasets[case.data], missing="listwise")


def by_key(res: MLResult) -> dict[tuple[str, str, str], pd.Series]:
    return {row_key(r.lhs, r.op, r.rhs): r for _, r in res.estimates.iterrows()}


@dataclass
class Fitted:
    ours: MLResult
    ours_rows: dict[tuple[str, str, str], pd.Series]
    ref: RefML
    ref_rows: dict[tuple[str, str, str], dict[str, float]]
    ref_fit: dict[str, float]


@pytest.fixture(scope="module", params=list(CASES))
def fitted(request, datasets) -> Fitted:
    case = CASES[request.param]
    ours = fit_case(case, datasets)
    ref = RefML(parse_rows(case.table), datasets[case.data], case.defined)
    return Fitted(ours, by_key(ours), ref, ref.estimates(), ref.fit_measures())


# --------------------------------------------------------------------------------------------
# 1. against the independent RAM engine
# --------------------------------------------------------------------------------------------


def test_converged(fitted):
    assert fitted.ours.converged, fitted.ours.warnings
    assert fitted.ours.warnings == ()


def test_parameter_table_matches_lavaan_defaults(fitted):
    """Same rows and free/fixed status as lavaan's table, same number of distinct free
    parameters (shared labels); fixed values are compared by test_estimates."""
    ref = fitted.ref
    want = {r.key: (r.fixed is None) for r in ref.rows}
    want |= {(name, ":=", ""): False for name in ref.defined}
    got = {k: bool(r["free"] > 0) for k, r in fitted.ours_rows.items()}
    assert set(got) == set(want), (sorted(set(got) - set(want)), sorted(set(want) - set(got)))
    wrong = [k for k in want if got[k] != want[k]]
    assert not wrong, f"free/fixed differs from lavaan for {wrong}"
    assert fitted.ours.fit["npar"] == ref.npar


@pytest.mark.parametrize("column", ["est", "se", "std_lv", "std_all"])
def test_estimates(fitted, column):
    bad = []
    for key, row in fitted.ours_rows.items():
        ours, want = float(row[column]), fitted.ref_rows[key][column]
        if not close(ours, want):
            bad.append(f"{key}: ours {ours:.6g}, reference {want:.6g}")
    assert not bad, "\n".join(bad)


FIT_KEYS = [
    "npar", "chisq", "df", "pvalue", "logl", "unrestricted_logl", "aic", "bic",
    "baseline_chisq", "baseline_df", "cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper",
    "rmsea_pvalue", "srmr",
]  # fmt: skip


def test_fit_measures(fitted):
    ref = fitted.ref_fit
    keys = FIT_KEYS
    if ref["df"] == 0:  # lavaan's interval at df = 0 is checked in test_rmsea_ci_saturated
        keys = [k for k in keys if not k.startswith("rmsea_ci")]
    bad = [
        f"{k}: ours {fitted.ours.fit[k]!r}, reference {ref[k]!r}"
        for k in keys
        if not close(float(fitted.ours.fit[k]), float(ref[k]))
    ]
    assert not bad, "\n".join(bad)


def test_rmsea_ci_saturated(datasets):
    res = fit_ml(specify(CASES["two_outcomes"].text), datasets["poldem"])
    assert res.fit["df"] == 0
    assert res.fit["rmsea_ci_lower"] == 0.0
    assert res.fit["rmsea_ci_upper"] == 0.0


# --------------------------------------------------------------------------------------------
# 2. against semopy
# --------------------------------------------------------------------------------------------

SEMOPY_CASES = [name for name, case in CASES.items() if case.semopy]


@pytest.fixture(scope="module")
def semopy():
    return pytest.importorskip("semopy")


@pytest.mark.parametrize("name", SEMOPY_CASES)
def test_semopy(name, semopy, datasets):
    case = CASES[name]
    ours = fit_case(case, datasets)
    rows = by_key(ours)
    data = datasets[case.data][list(ours.model.ov_names)].dropna()  # semopy: pairwise NaN
    model = semopy.Model(case.semopy)
    logging.disable(logging.WARNING)  # "No fixed loadings" is expected with std.lv
    try:
        res = model.fit(data, solver="SLSQP", options={"ftol": 1e-14, "maxiter": 10000})
    finally:
        logging.disable(logging.NOTSET)
    assert res.success
    assert close(ours.fit["chisq"], model.n_samples * res.fun)
    bad, seen = [], set()
    for _, r in model.inspect().iterrows():
        lhs, op, rhs = r["lval"], r["op"], r["rval"]
        if op == "~" and row_key(rhs, "=~", lhs) in rows:  # semopy writes loadings as x ~ f
            lhs, op, rhs = rhs, "=~", lhs
        key = row_key(lhs, op, rhs)
        assert key in rows, f"semopy parameter {key} is not in our table"
        seen.add(key)
        est, se = float(r["Estimate"]), r["Std. Err"]
        if not close(float(rows[key]["est"]), est):
            bad.append(f"{key} est: ours {rows[key]['est']:.6g}, semopy {est:.6g}")
        if se != "-" and not close(float(rows[key]["se"]), float(se)):
            bad.append(f"{key} se: ours {rows[key]['se']:.6g}, semopy {float(se):.6g}")
    assert not bad, "\n".join(bad)
    # semopy lists every parameter but the fixed.x moments, which it fixes at the sample values
    free = {k for k, r in rows.items() if r["free"] > 0}
    assert free <= seen, f"not checked against semopy: {sorted(free - seen)}"


# --------------------------------------------------------------------------------------------
# 3. closed forms and invariances
# --------------------------------------------------------------------------------------------


def _ols(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Slopes, ML residual variance and expected-information SEs (fixed predictors)."""
    n = len(y)
    xc = x - x.mean(axis=0)
    beta = np.linalg.lstsq(np.column_stack([np.ones(n), x]), y, rcond=None)[0][1:]
    resid = y - y.mean() - xc @ beta
    s2 = resid @ resid / n
    se = np.sqrt(s2 * np.diag(np.linalg.inv(xc.T @ xc)))
    return beta, s2, se


def test_saturated_mediation_is_ols(poldem_data):
    """Just-identified recursive path model: each equation is OLS, df = 0, chisq = 0."""
    d = poldem_data
    res = fit_ml(specify(CASES["mediation"].text), d)
    est = {row_key(r.lhs, r.op, r.rhs): r for r in res.estimates.itertuples()}
    (a,), s2_2, (se_a,) = _ols(d["y2"].to_numpy(), d[["x1"]].to_numpy())
    (b, c), s2_3, (se_b, se_c) = _ols(d["y3"].to_numpy(), d[["y2", "x1"]].to_numpy())
    n = len(d)
    want = {
        ("y2", "~", "x1"): (a, se_a),
        ("y3", "~", "y2"): (b, se_b),
        ("y3", "~", "x1"): (c, se_c),
        ("y2", "~~", "y2"): (s2_2, s2_2 * math.sqrt(2 / n)),
        ("y3", "~~", "y3"): (s2_3, s2_3 * math.sqrt(2 / n)),
        # the equations' information is block diagonal, so cov(a, b) = 0 in the delta method
        ("ind", ":=", ""): (a * b, math.sqrt(b**2 * se_a**2 + a**2 * se_b**2)),
    }
    for key, (e, s) in want.items():
        assert close(est[key].est, e), (key, est[key].est, e)
        assert close(est[key].se, s), (key, est[key].se, s)
    assert res.fit["df"] == 0
    assert abs(res.fit["chisq"]) < 1e-8
    assert close(res.fit["logl"], res.fit["unrestricted_logl"])


def test_two_outcomes_residual_covariance_is_ols(poldem_data):
    """auto.cov.y: the residual covariance is that of the two OLS residual series."""
    d = poldem_data
    res = fit_ml(specify(CASES["two_outcomes"].text), d)
    est = {(r.lhs, r.op, r.rhs): r for r in res.estimates.itertuples()}
    x = d["x1"].to_numpy()
    xc = x - x.mean()
    resid = []
    for y in ("y1", "y2"):
        yv = d[y].to_numpy()
        b = (xc @ (yv - yv.mean())) / (xc @ xc)
        resid.append(yv - yv.mean() - b * xc)
        assert close(est[(y, "~", "x1")].est, b)
    n = len(d)
    s11, s22, s12 = (resid[0] @ resid[0]) / n, (resid[1] @ resid[1]) / n, (resid[0] @ resid[1]) / n
    row = est[("y1", "~~", "y2")]
    assert close(row.est, s12)
    # normal theory: var(s12) = (s11 s22 + s12^2) / N
    assert close(row.se, math.sqrt((s11 * s22 + s12**2) / n))
    assert close(row.std_all, s12 / math.sqrt(s11 * s22))  # cov.std: a residual correlation


def test_observed_information_equals_expected_when_saturated(poldem_data):
    """For saturated normal regressions the observed and expected information coincide at the
    MLE, so a finite-difference Hessian of the log-likelihood (no information formula at all)
    must reproduce the standard errors."""
    case = CASES["mediation"]
    ours = fit_ml(specify(case.text), poldem_data)
    ref = RefML(parse_rows(case.table), poldem_data, {})

    def loglik(theta: np.ndarray) -> float:
        return -0.5 * ref.n * ref.discrepancy(theta)

    k = ref.npar
    hess = np.empty((k, k))
    h = 1e-4
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            hess[i, j] = (
                loglik(ref.theta + ei + ej) - loglik(ref.theta + ei - ej)
                - loglik(ref.theta - ei + ej) + loglik(ref.theta - ei - ej)
            ) / (4 * h * h)  # fmt: skip
    se_obs = np.sqrt(np.diag(np.linalg.inv(-hess)))
    free = ours.estimates[ours.estimates["free"] > 0]
    np.testing.assert_allclose(free["se"].to_numpy(), se_obs, rtol=1e-4)


def test_saturated_intercepts_are_sample_means(hs_data):
    """Adding ``x1 ~ 1`` turns on the mean structure; the means are saturated, so intercepts are
    the sample means (SE = sqrt(sigma_ii / N)), chisq/df/logl are unchanged, npar grows by 9."""
    base = fit_ml(specify(HS3_TEXT), hs_data)
    res = fit_ml(specify(CASES["intercepts"].text), hs_data)
    n = len(hs_data)
    est = res.estimates.set_index(["lhs", "op", "rhs"])["est"]
    se = res.estimates.set_index(["lhs", "op", "rhs"])["se"]
    for f, inds in HS3.items():
        for v in inds:
            implied_var = est[(f, "=~", v)] ** 2 * est[(f, "~~", f)] + est[(v, "~~", v)]
            assert close(est[(v, "~1", "")], hs_data[v].mean())
            assert close(se[(v, "~1", "")], math.sqrt(implied_var / n))
    for k in ("chisq", "df", "logl", "unrestricted_logl", "baseline_chisq", "baseline_df", "cfi"):
        assert close(res.fit[k], base.fit[k]), k
    assert res.fit["npar"] == base.fit["npar"] + 9
    # SRMR pools the (zero) mean residuals with the covariance residuals (lavaan's "total")
    assert close(res.fit["srmr"], base.fit["srmr"] * math.sqrt(45 / 54))


def _lavaan_rows(name: str) -> dict[tuple[str, str, str], pd.Series]:
    params, _ = load_reference(name)
    return {row_key(r.lhs, r.op, r.rhs): r for _, r in params.iterrows()}


def _assert_lavaan(ours: pd.Series, ref: pd.Series, cols: dict[str, str], what) -> None:
    for our_col, ref_col in cols.items():
        if ref_col == "se" and float(ref["se"]) == 0.0:  # fixed: lavaan 0, ours NaN
            continue
        assert close(float(ours[our_col]), float(ref[ref_col]), LAVAAN_TOL), (
            what, our_col, float(ours[our_col]), float(ref[ref_col]))  # fmt: skip


@pytest.mark.parametrize("name", ["std_lv_cfa", "second_order", "latent_outcomes", "intercepts"])
def test_equivalent_hs_models_reproduce_lavaan(name, hs_data):
    """Reparameterisations of lavaan's HS three-factor CFA: identical chisq and df, and the
    measurement part (loadings, residual variances; est, se, std.all) equals lavaan's numbers."""
    _, fit = load_reference("hs_cfa")
    case = CASES[name]
    res = fit_case(case, {"hs": hs_data})
    ours = by_key(res)
    for key, ref in _lavaan_rows("hs_cfa").items():
        lhs, op, _ = key
        if op == "~~" and lhs.startswith("x"):  # residual variances
            _assert_lavaan(ours[key], ref, {"est": "est", "se": "se", "std_all": "std.all"}, key)
        elif op == "=~" and case.std_lv:  # std.lv loadings = lavaan's std.lv column
            _assert_lavaan(ours[key], ref, {"est": "std.lv", "std_all": "std.all"}, key)
        elif op == "=~":
            _assert_lavaan(ours[key], ref, {"est": "est", "se": "se", "std_all": "std.all"}, key)
    assert close(res.fit["chisq"], fit["fit_measures"]["chisq"], LAVAAN_TOL)
    assert res.fit["df"] == fit["fit_measures"]["df"]
    if name == "latent_outcomes":
        # the standardized regressions of the factors are lavaan's factor correlations
        for y in ("textual", "speed"):
            reg = ours[(y, "~", "visual")]
            _assert_lavaan(reg, _lavaan_rows("hs_cfa")[row_key("visual", "~~", y)],
                           {"std_all": "std.all"}, y)  # fmt: skip


def test_poldem_std_lv_reproduces_lavaan(poldem_data):
    """std.lv on the SEM (latent residual variances fixed to 1): same chisq and std.all."""
    _, fit = load_reference("poldem_sem")
    res = fit_case(CASES["poldem_std_lv"], {"poldem": poldem_data})
    ours = by_key(res)
    for key, ref in _lavaan_rows("poldem_sem").items():
        _assert_lavaan(ours[key], ref, {"std_all": "std.all"}, key)
    for k in ("chisq", "df", "logl", "cfi", "tli", "rmsea", "srmr"):
        assert close(res.fit[k], fit["fit_measures"][k], LAVAAN_TOL), k


def test_equality_constraints_cost_degrees_of_freedom(hs_data):
    """Three equality constraints (a: 1, v: 2): npar - 3, df + 3, chisq cannot decrease."""
    _, fit = load_reference("hs_cfa")
    res = fit_ml(specify(CASES["equality"].text), hs_data)
    assert res.fit["npar"] == fit["fit_measures"]["npar"] - 3
    assert res.fit["df"] == fit["fit_measures"]["df"] + 3
    assert res.fit["chisq"] >= fit["fit_measures"]["chisq"] - 1e-6
    est = res.estimates.set_index(["lhs", "op", "rhs"])["est"]
    assert est[("textual", "=~", "x5")] == est[("textual", "=~", "x6")]
    assert est[("x7", "~~", "x7")] == est[("x8", "~~", "x8")] == est[("x9", "~~", "x9")]
