"""Bayesian multi-group SEM on the compiled kernel, approximate invariance, group comparisons.

:func:`bayes_bmi.bayes.sampling.fit_bayes_groups` (``fit_bayes(..., group=)``) fits a model
specified for ``G`` groups (``ModelOptions(ngroups=G, group_equal=...)``): the
log-likelihood is the sum over groups of each group's multivariate-normal marginal
log-likelihood (from its sufficient statistics, or summed over its missingness patterns under
FIML); equal parameters (``group_equal``, shared labels, ``c(a1, a2)*x``) are one element of the
sampled vector ``z``, which every group reads. The kernel is the one compiled program of
:mod:`bayes_bmi.bayes.kernel`, fed one buffer pair per group (:func:`group_kernel_data`).

Approximate invariance (``approx_invariance=("loadings", "intercepts")``, ``approx_sd``): the
parameters of the named classes that ``group_equal`` would equate get one value per group,

    theta_g = mu + delta_g,    delta_g = s (u_g - mean_h u_h),    u_g ~ N(0, 1),

``mu`` the common value (the shared parameter, with its default prior) and ``s = approx_sd``.
The deviations from the common value (the groups' mean) then have the prior density
``exp(-sum_g delta_g^2 / (2 s^2))`` on their sum-zero subspace: the normal prior with sd ``s``
of each group's deviation from the groups' mean (sampled non-centred, so a tiny ``s`` is as
easy to sample as exact equality, which it reproduces). blavaan's ``wiggle``/``wiggle.sd``
(``inst/stan/stanmarg.stan``: ``fill_prior``) also gives each group its own parameter but
centres the normal prior of the later groups' copies on the first group's value (wiggle.sd
0.1 by default); here the centre is the groups' mean, so no group is the reference.
:func:`approx_invariance_table` reports each deviation and flags (``departs``) those whose 95%
interval excludes zero.

:func:`group_differences` gives, for each loading and regression present in every group, the
posterior of the difference between two groups and ``P(group a > group b)``;
:func:`path_ranks` the probability that each predictor of an outcome has the largest
``|std.all|`` in each group.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from bayes_bmi.bayes.inputs import model_data
from bayes_bmi.bayes.parameters import ParamSpec, rows_from_z
from bayes_bmi.bayes.posterior import (
    align_signs,
    casewise_loglik,
    defined_draws,
    hdi,
    implied_draws,
    prior_z,
    std_all_draws,
    theta_from_rows,
)
from bayes_bmi.bayes.priors import Prior
from bayes_bmi.errors import OptionError
from bayes_bmi.lavaan.model import GroupBlock, Model, specify
from bayes_bmi.lavaan.partable import row_name
from bayes_bmi.lavaan.standardized import defined_values

__all__ = [
    "APPROX_CLASSES",
    "Deviations",
    "approx_invariance_table",
    "deviations",
    "group_differences",
    "group_kernel_data",
    "group_rows",
    "idata_groups",
    "path_ranks",
]

#: parameter classes that approximate invariance can relax (real-valued parameters)
APPROX_CLASSES = ("loadings", "intercepts", "regressions", "means")
DEVIATION_PRIOR = Prior("normal", (0.0, 1.0))


@dataclass(frozen=True, eq=False)
class Deviations:
    """The group deviations of approximate invariance (see the module docstring).

    Attributes
    ----------
    classes : tuple of str
    sd : float
        ``approx_sd``.
    rows : numpy.ndarray
        Table rows that receive a deviation.
    k : numpy.ndarray
        For each of ``rows``, the element of ``z`` holding its group's ``u``.
    sets : tuple of numpy.ndarray
        Per relaxed parameter, the elements of ``z`` of its groups' ``u``.
    set_of : numpy.ndarray
        For each of ``rows``, its entry of ``sets``.
    names : tuple of str
        Names of the ``u`` elements (``dev.<parameter>.g<group>``).
    """

    classes: tuple[str, ...]
    sd: float
    rows: np.ndarray
    k: np.ndarray
    sets: tuple[np.ndarray, ...]
    set_of: np.ndarray
    names: tuple[str, ...]

    def values(self, z: np.ndarray) -> np.ndarray:
        """The deviation of every row of ``rows`` per draw, shape (..., rows)."""
        if not self.rows.size:
            return np.zeros((*z.shape[:-1], 0))
        means = np.stack([z[..., s].mean(axis=-1) for s in self.sets], axis=-1)
        return self.sd * (z[..., self.k] - means[..., self.set_of])

    def linear_terms(self, block: GroupBlock):
        """The kernel's linear terms of one group (local rows)."""
        from bayes_bmi.bayes.kernel_data import LinearTerms

        local = {int(r): i for i, r in enumerate(block.rows)}
        rows, ks, coefs = [], [], []
        for r, k, s in zip(self.rows, self.k, self.set_of, strict=True):
            if int(r) not in local:
                continue
            members = self.sets[s]
            for kk in members:
                rows.append(local[int(r)])
                ks.append(int(kk))
                coefs.append(self.sd * ((1.0 if kk == k else 0.0) - 1.0 / members.size))
        return LinearTerms(np.asarray(rows, int), np.asarray(ks, int), np.asarray(coefs, float))


def _row_class(op: str, lhs: str, lv: set[str]) -> str:
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "~1":
        return "means" if lhs in lv else "intercepts"
    return ""


def check_approx(classes: tuple[str, ...], sd: float) -> None:
    """Refuse an unknown class or a ``sd`` that is not a positive number (OptionError)."""
    bad = [c for c in classes if c not in APPROX_CLASSES]
    if bad:
        raise OptionError(
            f"approx_invariance: unknown {bad[0]!r}. Must be among: {', '.join(APPROX_CLASSES)}"
        )
    if isinstance(sd, bool) or not (isinstance(sd, int | float) and np.isfinite(sd) and sd > 0):
        raise OptionError(f"approx_sd must be a positive number, not {sd!r}")


def deviations(model: Model, spec: ParamSpec, classes: tuple[str, ...], sd: float) -> Deviations:
    """The deviations of the parameters of ``classes`` shared by two or more groups.

    Raises
    ------
    OptionError
        An unknown class, a ``sd`` that is not positive, or no shared parameter to relax.
    """
    check_approx(classes, sd)
    pt = model.partable
    lv = set(model.representation.lv_names)
    ops, lhs, grp = pt["op"].to_numpy(), pt["lhs"].to_numpy(), pt["group"].to_numpy()
    by_k: dict[int, list[int]] = {}
    for i, k in zip(model.free.rows, model.free.k, strict=True):
        if _row_class(ops[i], lhs[i], lv) in classes:
            by_k.setdefault(int(k), []).append(int(i))
    rows, ks, set_of, names, sets = [], [], [], [], []
    nxt = spec.size
    for k in sorted(by_k):
        groups = sorted({int(grp[i]) for i in by_k[k]})
        if len(groups) < 2:
            continue
        members = {g: nxt + j for j, g in enumerate(groups)}
        nxt += len(groups)
        sets.append(np.asarray(list(members.values()), dtype=int))
        names += [f"dev.{spec.names[k]}.g{g}" for g in groups]
        for i in by_k[k]:
            rows.append(i)
            ks.append(members[int(grp[i])])
            set_of.append(len(sets) - 1)
    if not rows:
        raise OptionError(
            f"approx_invariance {list(classes)}: no parameter of these classes is shared by the "
            "groups (they must be held equal by group_equal or shared labels)"
        )
    as_int = lambda v: np.asarray(v, dtype=int)  # noqa: E731
    return Deviations(
        tuple(classes), float(sd), as_int(rows), as_int(ks), tuple(sets), as_int(set_of),
        tuple(names),
    )  # fmt: skip


def extended_spec(spec: ParamSpec, dev: Deviations | None) -> ParamSpec:
    """``spec`` with the deviations' ``u`` appended to ``z`` (real, prior N(0, 1))."""
    if dev is None:
        return spec
    n = len(dev.names)
    return dataclasses.replace(
        spec,
        names=spec.names + dev.names,
        kinds=spec.kinds + ("deviation",) * n,
        transforms=spec.transforms + ("real",) * n,
        priors=spec.priors + (DEVIATION_PRIOR,) * n,
        free=dataclasses.replace(spec.free, nparam=spec.size + n),
    )


def group_spec(spec: ParamSpec, block: GroupBlock, nrow: int) -> ParamSpec:
    """``spec`` restricted to one group, its rows numbered in the group's table."""
    loc = np.full(nrow, -1, dtype=int)
    loc[block.rows] = np.arange(block.rows.size)
    f = np.isin(spec.free_rows, block.rows)
    c = np.isin(spec.corr_rows, block.rows)
    return dataclasses.replace(
        spec,
        free_rows=loc[spec.free_rows[f]],
        free_k=spec.free_k[f],
        corr_rows=loc[spec.corr_rows[c]],
        corr_k=spec.corr_k[c],
        corr_var_lhs=loc[spec.corr_var_lhs[c]],
        corr_var_rhs=loc[spec.corr_var_rhs[c]],
        free=dataclasses.replace(block.free, nparam=spec.size),
    )


def group_kernel_data(
    model: Model,
    spec: ParamSpec,
    stats: tuple,
    patterns: tuple | None = None,
    dev: Deviations | None = None,
):
    """The kernel buffers of a multi-group fit, and each group's :class:`ModelData`.

    Parameters
    ----------
    model : Model
        Specified for the groups (``model.blocks``).
    spec : ParamSpec
        Of the whole model, extended by :func:`extended_spec` when ``dev`` is given.
    stats : tuple of SampleStats
        Per group (EM moments under FIML).
    patterns : tuple of MissingPatterns, optional
        Per group: the likelihood is summed over each group's missingness patterns.
    dev : Deviations, optional

    Returns
    -------
    KernelData, list of ModelData
    """
    from bayes_bmi.bayes.kernel_data import pack, pack_groups
    from bayes_bmi.ml.groups import group_views

    views = group_views(model)
    parts, linear, mdatas = [], [], []
    pats = patterns or (None,) * len(views)
    for b, v, st, pat in zip(model.blocks, views, stats, pats, strict=True):
        gs = group_spec(spec, b, len(model.partable))
        md = model_data(v, gs, st, pat)
        parts.append(pack(v, gs, md))
        mdatas.append(md)
        if dev is not None:
            linear.append(dev.linear_terms(b))
    return pack_groups(parts, linear if dev is not None else None), mdatas


def group_rows(
    model: Model, spec: ParamSpec, z: np.ndarray, base: np.ndarray, dev: Deviations | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row values of every draw (deviations added, signs aligned per group under std_lv).

    Returns the rows and the rows without the deviations (the common values).
    """
    rows0 = rows_from_z(spec, z, base)
    rows = rows0.copy()
    if dev is not None:
        rows[..., dev.rows] += dev.values(z)
    if model.options.std_lv:
        for b in model.blocks:
            rows[..., b.rows] = align_signs(b.partable, b.representation, rows[..., b.rows])
            rows0[..., b.rows] = align_signs(b.partable, b.representation, rows0[..., b.rows])
    return rows, rows0


def group_std_all(model: Model, rows: np.ndarray) -> np.ndarray:
    """``std.all`` of every row per draw, each group standardized by its own moments."""
    out = np.full(rows.shape, np.nan)
    for b in model.blocks:
        out[..., b.rows] = std_all_draws(b.partable, b.representation, rows[..., b.rows])
    def_idx = np.flatnonzero(model.partable["op"].to_numpy() == ":=")
    if def_idx.size:
        out[..., def_idx] = defined_values(model.partable, out)[..., def_idx]
    return out


class GroupCasewiseLoglik(BackendArray):
    """The casewise log-likelihood of a multi-group fit (chain, draw, case), computed on read.

    Cases are the groups' cases one group after the other; each case's density is that of its
    group's implied moments (see :class:`bayes_bmi.bayes.posterior.CasewiseLoglik`).
    """

    def __init__(self, model: Model, rows: np.ndarray, ys: list[np.ndarray]):
        self.parts = [(b.representation, b.rows) for b in model.blocks]
        self.rows = rows
        self.ys = ys
        self.shape = (*rows.shape[:-1], sum(y.shape[0] for y in ys))
        self.dtype = np.dtype(np.float64)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._raw
        )

    def _raw(self, key: tuple) -> np.ndarray:
        slices = tuple(slice(k, k + 1) if isinstance(k, int | np.integer) else k for k in key)
        drop = tuple(i for i, k in enumerate(key) if isinstance(k, int | np.integer))
        rows = self.rows[slices[:-1]]
        out = np.concatenate(
            [
                casewise_loglik(y, *implied_draws(rep, rows[..., idx]))
                for (rep, idx), y in zip(self.parts, self.ys, strict=True)
            ],
            axis=-1,
        )[..., slices[-1]]
        return out.squeeze(axis=drop) if drop else out


def as_group_model(
    model: Model, ngroups: int, classes: tuple[str, ...], source: str, group: str
) -> Model:
    """``model`` specified for ``ngroups`` groups, the approximate classes held equal."""
    opts = model.options
    equal = opts.group_equal + tuple(c for c in classes if c not in opts.group_equal)
    if model.blocks and model.ngroups != ngroups:
        from bayes_bmi.lavaan.partable import ModelSpecError

        raise ModelSpecError(
            f"{model.filename or '<model>'}: the model was specified for {model.ngroups} "
            f"group(s) but column {group!r} of {source} has {ngroups}"
        )
    if model.blocks and equal == opts.group_equal:
        return model
    options = dataclasses.replace(opts, ngroups=ngroups, group_equal=equal, meanstructure=True)
    return specify(model.text, filename=model.filename, options=options)


def _group_row_names(pt: pd.DataFrame, idx: np.ndarray) -> list[str]:
    out = []
    for i in idx:
        lhs, op, rhs, g = pt["lhs"].iat[i], pt["op"].iat[i], pt["rhs"].iat[i], pt["group"].iat[i]
        name = lhs if op == ":=" else row_name(lhs, op, rhs).replace(" ", "")
        out.append(name if g <= 1 else f"{name}.g{g}")
    return out


def with_group_columns(
    summary: pd.DataFrame, pt: pd.DataFrame, sum_idx: np.ndarray, labels: tuple[str, ...]
) -> pd.DataFrame:
    g = pt["group"].to_numpy()[sum_idx].astype(int)
    out = summary.copy()
    out.insert(3, "group", g)
    out.insert(4, "group_label", [labels[v - 1] if v >= 1 else "" for v in g])
    return out


def _observed(model: Model, grouped, pats) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Each group's data (NaN in missing cells), the case index and each case's group."""
    names = list(model.ov_names)
    ys, idx, grp = [], [], []
    for g, frame in enumerate(grouped.frames, start=1):
        if pats is not None:
            y, rows = pats[g - 1].values, np.asarray(pats[g - 1].rows)
        else:
            used = frame[names].apply(pd.to_numeric, errors="coerce").dropna()
            y, rows = used.to_numpy(dtype=float), used.index.to_numpy()
        ys.append(y)
        idx.append(rows)
        grp.append(np.full(y.shape[0], g))
    return ys, np.concatenate(idx), np.concatenate(grp)


def _with_defined(rows: np.ndarray, defined: np.ndarray, def_idx: np.ndarray) -> np.ndarray:
    out = rows.copy()
    if def_idx.size:
        out[..., def_idx] = defined
    return out


def idata_groups(model, spec, spec_x, dev, z, base, ml, grouped, pats, trace, config):
    """The DataTree of a multi-group fit and the summary's rows (free, then ``:=``)."""
    pt = model.partable
    rows, rows0 = group_rows(model, spec_x, z, base, dev)
    def_idx = np.flatnonzero(pt["op"].to_numpy() == ":=")
    free_idx = np.flatnonzero(pt["free"].to_numpy() > 0)
    sum_idx = np.concatenate([free_idx, def_idx])
    defined = defined_draws(pt, rows)
    rows_full = _with_defined(rows, defined, def_idx)
    std_all = group_std_all(model, rows_full)[..., sum_idx]
    coords = {
        "chain": np.arange(z.shape[0]),
        "draw": np.arange(z.shape[1]),
        "param": list(spec_x.names),
        "theta_param": list(spec.names),
        "def_param": list(pt["lhs"].to_numpy()[def_idx]),
        "row": _group_row_names(pt, sum_idx),
    }
    post = xr.Dataset(
        {
            "z": (("chain", "draw", "param"), z),
            "theta": (("chain", "draw", "theta_param"), theta_from_rows(spec, rows0)),
            "defined": (("chain", "draw", "def_param"), defined),
            "std_all": (("chain", "draw", "row"), std_all),
            "estimate": (("chain", "draw", "row"), rows_full[..., sum_idx]),
        },
        coords=coords,
    )
    post = post.assign_coords(table_row=("row", sum_idx))
    if dev is not None:
        post["deviation"] = xr.DataArray(
            dev.values(z),
            dims=("chain", "draw", "deviation_row"),
            coords={"deviation_row": _group_row_names(pt, dev.rows)},
        ).assign_coords(deviation_table_row=("deviation_row", dev.rows))
    n_prior = z.shape[0] * z.shape[1]
    zp = prior_z(spec_x, n_prior, config.seed)
    prows, prows0 = group_rows(model, spec_x, zp, base, dev)
    pdef = defined_draws(pt, prows)
    prior_ds = xr.Dataset(
        {
            "theta": (("chain", "draw", "theta_param"), theta_from_rows(spec, prows0)),
            "defined": (("chain", "draw", "def_param"), pdef),
            "estimate": (
                ("chain", "draw", "row"),
                _with_defined(prows, pdef, def_idx)[..., sum_idx],
            ),
        },
        coords={**coords, "chain": [0], "draw": np.arange(n_prior)},
    )
    ys, case_index, case_group = _observed(model, grouped, pats)
    lazy = indexing.LazilyIndexedArray(GroupCasewiseLoglik(model, rows, ys))
    ll_ds = xr.Dataset(
        {"y": xr.Variable(("chain", "draw", "case"), lazy)},
        attrs={"computed_on_read": 1},
        coords={"chain": coords["chain"], "draw": coords["draw"], "case": case_index},
    )
    obs_ds = xr.Dataset(
        {"y": (("case", "variable"), np.concatenate(ys)), "group": (("case",), case_group)},
        coords={"case": case_index, "variable": list(model.ov_names)},
    )
    stats = ml.group_stats
    const_ds = xr.Dataset(
        {
            "sample_mean": (("group", "variable"), np.stack([s.mean for s in stats])),
            "sample_cov": (("group", "variable", "variable2"), np.stack([s.cov for s in stats])),
            "n_obs": (("group",), np.array([s.n for s in stats])),
            "fixed_values": (("table_row",), base),
        },
        coords={
            "group": np.arange(1, len(stats) + 1),
            "group_label": ("group", list(grouped.labels)),
            "variable": list(model.ov_names),
            "variable2": list(model.ov_names),
        },
        attrs={"group_column": grouped.column},
    )
    tree = {
        "posterior": post,
        "sample_stats": trace["sample_stats"].to_dataset(),
        "log_likelihood": ll_ds,
        "prior": prior_ds,
        "observed_data": obs_ds,
        "constant_data": const_ds,
    }
    return xr.DataTree.from_dict(tree), sum_idx


# ------------------------------------------------------------------------------ tables
def _labels(result) -> tuple[str, ...]:
    if not result.group_labels:
        raise OptionError("this needs a multi-group fit (group=...)")
    return result.group_labels


def approx_invariance_table(result, prob: float = 0.95) -> pd.DataFrame:
    """Each group's deviation from the common value of every relaxed parameter.

    Returns
    -------
    pandas.DataFrame
        ``lhs, op, rhs, group, group_label, est`` (posterior median of the deviation),
        ``sd, hdi_lower, hdi_upper`` (``prob`` HDI) and ``departs`` (the interval excludes 0).
    """
    labels = _labels(result)
    if result.deviations is None:
        raise OptionError("the fit has no approximate invariance (approx_invariance=...)")
    pt = result.model.partable
    draws = result.idata["posterior"]["deviation"].values
    flat = draws.reshape(-1, draws.shape[-1])
    rows = result.deviations.rows
    lo, hi = np.transpose([hdi(flat[:, j], prob) for j in range(flat.shape[1])])
    g = pt["group"].to_numpy()[rows].astype(int)
    return pd.DataFrame(
        {
            "lhs": pt["lhs"].to_numpy()[rows],
            "op": pt["op"].to_numpy()[rows],
            "rhs": pt["rhs"].to_numpy()[rows],
            "group": g,
            "group_label": [labels[v - 1] for v in g],
            "est": np.median(flat, axis=0),
            "sd": flat.std(axis=0, ddof=1),
            "hdi_lower": lo,
            "hdi_upper": hi,
            "departs": (lo > 0) | (hi < 0),
        }
    )


def _draws_by_row(result, var: str) -> tuple[np.ndarray, dict[int, int]]:
    post = result.idata["posterior"]
    flat = post[var].values.reshape(-1, post.sizes["row"])
    where = {int(r): j for j, r in enumerate(post["table_row"].values)}
    return flat, where


def _paths(pt: pd.DataFrame, ops: tuple[str, ...]) -> dict[tuple[str, str, str], dict[int, int]]:
    """``(lhs, op, rhs)`` -> {group: table row} of the rows with ``op`` in ``ops``."""
    out: dict[tuple[str, str, str], dict[int, int]] = {}
    for i in range(len(pt)):
        if pt["op"].iat[i] in ops and pt["group"].iat[i] >= 1:
            key = (pt["lhs"].iat[i], pt["op"].iat[i], pt["rhs"].iat[i])
            out.setdefault(key, {})[int(pt["group"].iat[i])] = i
    return out


def group_differences(result, prob: float = 0.95) -> pd.DataFrame:
    """Posterior of the between-group difference of every loading and regression.

    For each ``=~`` or ``~`` row free in some group and present in every group, and each pair
    of groups ``a < b``: the difference ``a - b`` (posterior median and ``prob`` HDI) and
    ``P(a > b)``. Rows equal across the groups (one shared parameter) have ``equal`` True.

    Returns
    -------
    pandas.DataFrame
        ``lhs, op, rhs, group_a, group_b, label_a, label_b, est_a, est_b, diff, hdi_lower,
        hdi_upper, prob_greater, equal``.
    """
    labels = _labels(result)
    pt = result.model.partable
    flat, where = _draws_by_row(result, "estimate")
    recs = []
    for (lhs, op, rhs), by_g in _paths(pt, ("=~", "~")).items():
        if len(by_g) < len(labels) or not any(r in where for r in by_g.values()):
            continue
        vals = {
            g: flat[:, where[r]] if r in where else np.full(flat.shape[0], pt["ustart"].iat[r])
            for g, r in by_g.items()
        }
        for a in range(1, len(labels) + 1):
            for b in range(a + 1, len(labels) + 1):
                d = vals[a] - vals[b]
                lo, hi = hdi(d, prob)
                recs.append(
                    {
                        "lhs": lhs, "op": op, "rhs": rhs, "group_a": a, "group_b": b,
                        "label_a": labels[a - 1], "label_b": labels[b - 1],
                        "est_a": float(np.median(vals[a])), "est_b": float(np.median(vals[b])),
                        "diff": float(np.median(d)), "hdi_lower": lo, "hdi_upper": hi,
                        "prob_greater": float(np.mean(d > 0)),
                        "equal": bool(np.all(d == 0)),
                    }
                )  # fmt: skip
    return pd.DataFrame(recs)


def path_ranks(result) -> pd.DataFrame:
    """Per group and outcome, the probability that each predictor has the largest |std.all|.

    Returns
    -------
    pandas.DataFrame
        ``group, group_label, outcome, predictor, std_all`` (posterior median) and
        ``prob_first`` (over draws, the share where its ``|std.all|`` is the outcome's largest).
    """
    labels = _labels(result)
    pt = result.model.partable
    flat, where = _draws_by_row(result, "std_all")
    recs = []
    for g in range(1, len(labels) + 1):
        outcomes: dict[str, list[tuple[str, int]]] = {}
        for (lhs, _, rhs), by_g in _paths(pt, ("~",)).items():
            if g in by_g and by_g[g] in where:
                outcomes.setdefault(lhs, []).append((rhs, where[by_g[g]]))
        for outcome, preds in outcomes.items():
            mags = np.abs(np.column_stack([flat[:, j] for _, j in preds]))
            first = np.bincount(np.argmax(mags, axis=1), minlength=len(preds)) / mags.shape[0]
            for (pred, j), p_first in zip(preds, first, strict=True):
                recs.append(
                    {
                        "group": g, "group_label": labels[g - 1], "outcome": outcome,
                        "predictor": pred, "std_all": float(np.median(flat[:, j])),
                        "prob_first": float(p_first),
                    }
                )  # fmt: skip
    return pd.DataFrame(recs)
