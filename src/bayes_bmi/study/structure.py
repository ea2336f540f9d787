"""What the study reads off the model's structure: its measurement part and its drivers.

Nothing here is specific to the shipped model: the focal construct and its drivers are found
from the parameter table (the exogenous latent variables that predict the construct with most
such predictors).
"""

from __future__ import annotations

import pandas as pd

from bayes_bmi.lavaan.expressions import expression_names
from bayes_bmi.lavaan.model import Model, specify
from bayes_bmi.lavaan.partable import ModelSpecError, partable_names, row_name

__all__ = ["dimension_items", "find_drivers", "measurement_model"]


def measurement_syntax(model: Model) -> str:
    """Lavaan syntax of the CFA of a model: its ``=~`` statements only, without labels."""
    pt = model.partable
    meas = pt[(pt["op"] == "=~") & (pt["user"] == 1)]
    lines = []
    for lv in dict.fromkeys(meas["lhs"]):
        rows = meas[meas["lhs"] == lv]
        lines.append(f"{lv} =~ " + " + ".join(rows["rhs"]))
    return "\n".join(lines)


def measurement_model(model: Model) -> Model:
    """The CFA of a model: its ``=~`` statements only (latent covariances free)."""
    text = measurement_syntax(model)
    # latent variables that only predict others in the SEM must still covary in the CFA:
    # in a pure CFA every first-order factor not indicating another is exogenous (lv.x)
    return specify(text, filename=f"{model.filename or '<model>'} (measurement part)")


def find_drivers(model: Model) -> tuple[str, list[str], dict[str, str], dict[str, list[str]]]:
    """Find the focal construct, its drivers and the parameters of their effects.

    The focal construct is the latent variable with the most exogenous latent predictors;
    the drivers are those predictors. For each driver: the parameter of its path to the focal
    construct, and the parameters whose standardized values add up to its total effect on
    the outcome (defined parameters that use the path's label, plus direct paths from the
    driver to the focal construct's own dependents).

    Returns
    -------
    focal, drivers, path_params, total_params
    """
    pt = model.partable
    names = partable_names(pt)
    reg = pt[pt["op"] == "~"]
    cand = reg[reg["rhs"].isin(names.lv_x)]
    if cand.empty:
        raise ModelSpecError(
            f"{model.filename or '<model>'}: no exogenous latent variable predicts another; "
            "a key-driver analysis needs drivers (latent predictors) of a focal construct"
        )
    counts = cand["lhs"].value_counts()
    focal = str(counts.index[0])
    rows = cand[cand["lhs"] == focal]
    drivers = list(dict.fromkeys(rows["rhs"]))

    def pname(r: pd.Series) -> str:
        return r["label"] or row_name(r["lhs"], r["op"], r["rhs"])

    path = {r["rhs"]: pname(r) for _, r in rows.iterrows()}
    outcomes = set(reg.loc[reg["rhs"] == focal, "lhs"])
    defined = pt[pt["op"] == ":="]
    total: dict[str, list[str]] = {}
    for d in drivers:
        parts = []
        label = path[d]
        direct = reg[(reg["rhs"] == d) & reg["lhs"].isin(outcomes)]
        direct_labels = {pname(x) for _, x in direct.iterrows()}
        for _, r in defined.iterrows():
            used = expression_names(r["expression"])
            if label in used and not (used & direct_labels):
                parts.append(r["lhs"])  # an indirect effect through the focal construct
        parts += [pname(x) for _, x in direct.iterrows()]  # direct paths to the outcome
        total[d] = parts
    return focal, drivers, path, total


def dimension_items(model: Model, focal: str) -> list[str]:
    """The indicators of the first-order factors that measure ``focal`` (else its own)."""
    pt = model.partable
    meas = pt[pt["op"] == "=~"]
    dims = list(meas.loc[meas["lhs"] == focal, "rhs"])
    items = []
    for dim in dims:
        items += list(meas.loc[meas["lhs"] == dim, "rhs"])
    return items or dims
