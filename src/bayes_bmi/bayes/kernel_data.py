"""A fitted model's structure and data as the two buffers of the compiled kernel (numpy only).

See :mod:`bayes_bmi.bayes.kernel` for the layout. Nothing here imports numba, PyMC or
PyTensor: packing is cheap and happens for every fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_bmi.bayes.inputs import ModelData
from bayes_bmi.bayes.parameters import ParamSpec
from bayes_bmi.lavaan.model import Model

__all__ = ["KernelData", "LinearTerms", "pack", "pack_groups"]

# the kernel's header length and matrix codes (kept equal to bayes.kernel's; a test checks)
HEADER = 9
GROUP_MARK = -1
GROUP_RECORD = 7
MAT_CODES = {"lambda": 0, "theta": 1, "psi": 2, "beta": 3, "nu": 4, "alpha": 5}


@dataclass(frozen=True, eq=False)
class KernelData:
    """The integer and float buffers of one fit.

    Attributes
    ----------
    ints : numpy.ndarray of int64
    floats : numpy.ndarray of float64
    nparam : int
        Length of ``z``.
    """

    ints: np.ndarray
    floats: np.ndarray
    nparam: int


def _cells(model: Model) -> np.ndarray:
    """``(table row, matrix code, row, col)`` of every row that lives in a matrix."""
    rep = model.representation
    out = [
        (t, MAT_CODES[name], int(rep.row[t]), int(rep.col[t]))
        for t, name in enumerate(rep.mat)
        if name
    ]
    return np.asarray(out, dtype=np.int64).reshape(-1, 4)


def pack(model: Model, spec: ParamSpec, data: ModelData) -> KernelData:
    """Pack one fit's structure, sufficient statistics and priors for the kernel.

    Parameters
    ----------
    model : Model
        With its mean structure (as :func:`bayes_bmi.bayes.sampling.bayesian_model` returns).
    spec : ParamSpec
    data : ModelData
        From :func:`bayes_bmi.bayes.inputs.model_data`.

    Returns
    -------
    KernelData
    """
    rep = model.representation
    v = data.values
    cells = _cells(model)
    has_beta = int(any(name == "beta" for name in rep.mat))
    base = np.asarray(v["fixed_values"], dtype=float)
    fiml = int("pattern_totals" in v)
    header = [
        spec.size,
        base.size,
        rep.p,
        rep.m,
        has_beta,
        spec.free_rows.size,
        spec.corr_rows.size,
        cells.shape[0],
        fiml,
    ]
    ints = np.concatenate(
        [
            np.asarray(header, dtype=np.int64),
            spec.transform_codes.astype(np.int64),
            np.asarray(v["prior_family"]).astype(np.int64),
            spec.free_rows,
            spec.free_k,
            spec.corr_rows,
            spec.corr_k,
            spec.corr_var_lhs,
            spec.corr_var_rhs,
            cells.ravel(),
            *([np.asarray(v["pattern_ints"])] if fiml else []),
        ]
    ).astype(np.int64)
    floats = np.concatenate(
        [
            np.asarray(v["n_obs"], dtype=float).reshape(1),
            base,
            np.asarray(v["sample_mean"], dtype=float),
            np.ascontiguousarray(v["sample_cov_chol"], dtype=float).ravel(),
            rep.lambda_constant().ravel(),
            np.asarray(v["prior_a"], dtype=float),
            np.asarray(v["prior_b"], dtype=float),
            np.asarray(v["prior_c"], dtype=float),
            np.asarray(v["prior_on_var"], dtype=float),
            *([np.asarray(v["pattern_totals"], dtype=float), v["pattern_floats"]] if fiml else []),
        ]
    )
    return KernelData(ints=ints, floats=floats, nparam=spec.size)


@dataclass(frozen=True, eq=False)
class LinearTerms:
    """Rows of one group that add ``coef * z[k]`` to their value (real-valued rows only).

    Attributes
    ----------
    rows : numpy.ndarray of int
        Rows of the group's table.
    k : numpy.ndarray of int
        Elements of ``z``.
    coef : numpy.ndarray of float
    """

    rows: np.ndarray
    k: np.ndarray
    coef: np.ndarray


def pack_groups(parts: list[KernelData], linear: list[LinearTerms] | None = None) -> KernelData:
    """One multi-group buffer pair from each group's :func:`pack` (see the kernel's layout).

    Parameters
    ----------
    parts : list of KernelData
        One per group, packed with the same ``z`` (the same ``nparam``, transforms, priors).
    linear : list of LinearTerms, optional
        Per group, rows that add a multiple of an element of ``z``.
    """
    ngroup = len(parts)
    if ngroup < 1 or len({p.nparam for p in parts}) != 1:
        raise ValueError("pack_groups needs at least one group, all with the same nparam")
    empty = LinearTerms(np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    linear = linear if linear is not None else [empty] * ngroup
    io = 2 + GROUP_RECORD * ngroup
    lio = io + sum(p.ints.size for p in parts)
    fo, lfo = 0, sum(p.floats.size for p in parts)
    records = []
    for p, lt in zip(parts, linear, strict=True):
        records += [io, p.ints.size, fo, p.floats.size, lio, lfo, lt.rows.size]
        io, fo = io + p.ints.size, fo + p.floats.size
        lio, lfo = lio + 2 * lt.rows.size, lfo + lt.rows.size
    pairs = [np.column_stack([lt.rows, lt.k]).astype(np.int64).ravel() for lt in linear]
    ints = np.concatenate(
        [np.asarray([GROUP_MARK, ngroup, *records], dtype=np.int64)]
        + [p.ints for p in parts]
        + pairs
    ).astype(np.int64)
    floats = np.concatenate(
        [p.floats for p in parts] + [np.asarray(lt.coef, dtype=float) for lt in linear]
    )
    return KernelData(ints=ints, floats=floats, nparam=parts[0].nparam)
