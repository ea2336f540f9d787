"""Recovery of the thesis model's true standardized paths by the Bayesian ordinal model.

The shipped survey (``data/bmi_survey.csv``, SYNTHETIC) answers every item on a 5-point scale
cut from normal latent responses; ``data/ground_truth.json`` holds the standardized values
(``std.all``) of the generating model. The script fits ``models/bmi_drivers.lav`` with every
item ordered (cumulative probit, theta parameterisation; :func:`fit_bayes_ordinal`), then
reports, for the structural paths (``BMI ~ driver``, ``FP ~ BMI``), the second-order loadings
(``BMI =~ VP``, ...) and the items' loadings, the posterior mean of ``std.all``, its 95% HDI,
whether the truth lies inside and WLSMV's ``std.all``; the wall time and the convergence
figures (max R-hat, min bulk and tail ESS, divergences, tree depth).

Run: ``python scripts/recovery_ordinal.py`` (2 chains x (tune 600 + draws 500) by default);
``--tune``, ``--draws``, ``--chains``, ``--seed``; ``--out DIR`` writes ``recovery.csv`` and
``recovery.png`` (the structural paths' HDIs against the truth).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bayes_bmi.bayes.ordinal_sampling import fit_bayes_ordinal  # noqa: E402
from bayes_bmi.bayes.parameters import rows_from_z  # noqa: E402
from bayes_bmi.bayes.posterior import std_all_draws  # noqa: E402
from bayes_bmi.bayes.sampling import SamplerConfig  # noqa: E402
from bayes_bmi.lavaan.model import read_model  # noqa: E402
from bayes_bmi.lavaan.partable import ModelOptions  # noqa: E402
from bayes_bmi.ml.ordinal.wlsmv import fit_wlsmv  # noqa: E402


def truth_rows(truth: dict) -> pd.DataFrame:
    """The true ``std.all`` of every path and loading, with its kind."""
    rows = [("structural", f"BMI~{d}", v) for d, v in truth["paths"].items()]
    rows.append(("structural", f"{truth['outcome']}~{truth['second_order']}", truth["b"]))
    rows += [("second-order", f"BMI=~{d}", v) for d, v in truth["dimension_loadings"].items()]
    rows += [
        ("loading", f"{f}=~{item}", v)
        for f, items in truth["loadings"].items()
        for item, v in items.items()
    ]
    return pd.DataFrame(rows, columns=["kind", "row", "truth"])


def _hdi(x: np.ndarray, prob: float) -> tuple[float, float]:
    """The narrowest interval holding ``prob`` of the draws."""
    x = np.sort(x)
    k = int(np.ceil(prob * x.size))
    width = x[k - 1 :] - x[: x.size - k + 1]
    i = int(np.argmin(width))
    return float(x[i]), float(x[i + k - 1])


def recovery_table(fit, wlsmv: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Posterior mean and 95% HDI of ``std.all`` per true value; inside or not."""
    res = fit.result
    pt = res.model.partable
    post = fit.idata["posterior"]
    base = fit.idata["constant_data"]["fixed_values"].values
    z = post["z"].transpose("chain", "draw", "param").values
    # std.all of every row (the posterior keeps the free ones; markers are fixed rows)
    std = std_all_draws(pt, res.model.representation, rows_from_z(res.spec, z, base))
    names = [f"{a}{o}{b}" for a, o, b in zip(pt["lhs"], pt["op"], pt["rhs"], strict=True)]
    rows = list(truth["row"])
    draws = std[..., [names.index(r) for r in rows]]
    hdi = np.asarray([_hdi(draws[..., k].ravel(), 0.95) for k in range(len(rows))])
    wl = {f"{a}{o}{b}": v for a, o, b, v in wlsmv[["lhs", "op", "rhs", "std_all"]].to_numpy()}
    out = truth.copy()
    out["mean"] = draws.mean(axis=(0, 1))
    out["hdi_lower"], out["hdi_upper"] = hdi[:, 0], hdi[:, 1]
    out["inside"] = (out["hdi_lower"] <= out["truth"]) & (out["truth"] <= out["hdi_upper"])
    out["wlsmv"] = [wl.get(r, np.nan) for r in rows]
    return out


def figure(table: pd.DataFrame, path: Path) -> None:
    """Structural paths and second-order loadings: HDI, posterior mean, truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sub = table[table["kind"] != "loading"].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(sub) + 1))
    y = np.arange(len(sub))[::-1]
    ax.hlines(y, sub["hdi_lower"], sub["hdi_upper"], color="tab:blue", label="95% HDI")
    ax.plot(sub["mean"], y, "o", color="tab:blue", label="posterior mean")
    ax.plot(sub["truth"], y, "x", color="tab:red", label="truth")
    ax.plot(sub["wlsmv"], y, "|", color="black", markersize=10, label="WLSMV")
    ax.set_yticks(y, sub["row"])
    ax.set_xlabel("standardized value (std.all)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", type=int, default=600)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--target-accept", type=float, default=None, help="NUTS's target")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--model", type=Path, default=ROOT / "models" / "bmi_drivers.lav", help="model file"
    )
    parser.add_argument(
        "--no-marginal",
        action="store_true",
        help="sample BMI's values too (eta = (I - B)^-1 (alpha + chol(Psi) u)) instead of "
        "integrating them out",
    )
    parser.add_argument(
        "--std-lv",
        action="store_true",
        help="identify every latent variable by its (residual) variance fixed to 1",
    )
    args = parser.parse_args()

    options = ModelOptions(std_lv=True) if args.std_lv else None
    model = read_model(args.model, options=options)
    data = pd.read_csv(ROOT / "data" / "bmi_survey.csv")
    truth = truth_rows(json.loads((ROOT / "data" / "ground_truth.json").read_text()))
    config = SamplerConfig(
        draws=args.draws, tune=args.tune, chains=args.chains, cores=2, seed=args.seed,
        progress=False,
        **({} if args.target_accept is None else {"target_accept": args.target_accept}),
    )  # fmt: skip
    t0 = time.perf_counter()
    fit = SimpleNamespace(
        result=fit_bayes_ordinal(
            model,
            data,
            True,
            config=config,
            source="bmi_survey.csv",
            marginal=not args.no_marginal,
        )  # fmt: skip
    )
    fit.idata, fit.diagnostics = fit.result.idata, fit.result.diagnostics
    wall = time.perf_counter() - t0
    wlsmv = fit_wlsmv(model, data).estimates
    table = recovery_table(fit, wlsmv, truth)
    d = fit.diagnostics
    depth = fit.idata["sample_stats"]["depth"].values
    print(
        f"wall {wall:.0f} s (sampling {d['sampling_seconds']:.0f} s), "
        f"{args.chains} x ({args.tune} + {args.draws}); max R-hat {d['max_r_hat']:.3f}, "
        f"min ESS bulk {d['min_ess_bulk']:.0f}, tail {d['min_ess_tail']:.0f}, "
        f"divergences {d['divergences']}, mean tree depth {depth.mean():.2f}, "
        f"target_accept {config.target_accept}"
    )
    slow = fit.result.summary.sort_values("r_hat", ascending=False).head(8)
    with pd.option_context("display.width", 120, "display.precision", 3):
        print("slowest parameters:")
        print(slow[["lhs", "op", "rhs", "mean", "sd", "ess_bulk", "r_hat"]].to_string(index=False))
        print(table[table["kind"] != "loading"].to_string(index=False))
    for kind, part in table.groupby("kind", sort=False):
        print(f"{kind}: {part['inside'].sum()}/{len(part)} true values in their 95% HDI")
    print(f"all: {table['inside'].mean():.1%} in their 95% HDI")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "recovery.csv", index=False)
        figure(table, args.out / "recovery.png")


if __name__ == "__main__":
    main()
