"""The Python API (``import bayes_bmi as bb``): import cost, the README example, lavaan's numbers,
model text against a path, comparison, checks, hypotheses, errors, and ``bayes-bmi fit``.

The Bayesian fits use few draws (2 chains x 200): the tests check plumbing and lavaan's ML
numbers, not posterior accuracy (tests/test_sampling.py does that). One compile cache serves
the module's fits of the same structure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import bayes_bmi as bb
from bayes_bmi.bayes.sampling import SUMMARY_COLUMNS, CompileCache
from bayes_bmi.checking.compare import COMPARISON_COLUMNS
from bayes_bmi.errors import BayesBmiError, DataError, ModelSpecError, OptionError
from bayes_bmi.study.hypotheses import HYPOTHESIS_COLUMNS
from conftest import DATA, MODELS, ROOT, close_to, lavaan_key, load_reference

HS_DATA = DATA / "HolzingerSwineford1939.csv"
HS_MODEL = MODELS / "hs_cfa.lav"
FAST = {"draws": 200, "tune": 200, "chains": 2, "seed": 4, "progress": False}
HEAVY = ("pymc", "pytensor", "nutpie", "arviz", "matplotlib", "numba")


def _run_python(code: str) -> subprocess.CompletedProcess:
    """Run code in a new interpreter that imports this very package, from the project root."""
    src = str(Path(bb.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def cache() -> CompileCache:
    return CompileCache()


@pytest.fixture(scope="module")
def hs_fit(cache: CompileCache) -> bb.BayesFit:
    return bb.sem(str(HS_MODEL), str(HS_DATA), cache=cache, **FAST)


# --------------------------------------------------------------------------- import, README
def test_import_loads_no_heavy_module() -> None:
    code = (
        "import sys, bayes_bmi as bb\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert callable(bb.sem) and issubclass(bb.BayesBmiError, ValueError)\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, ('bayes_bmi.api', heavy)\n"
    )
    run = _run_python(code)
    assert run.returncode == 0, run.stderr


def _readme_python() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Python API\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert section, "README.md has no '## Python API' section"
    blocks = re.findall(r"^```python\n(.*?)^```", section.group(1), flags=re.S | re.M)
    assert len(blocks) == 1, "the API section holds one python block"
    return blocks[0]


def test_readme_example_runs_as_written() -> None:
    code = _readme_python()
    assert "bb.sem(" in code and 'method="ml"' in code and "fit.check()" in code
    t0 = time.perf_counter()
    run = _run_python(code)
    assert run.returncode == 0, run.stderr
    assert "visual=~x2" in run.stdout and "BRMSEA" in run.stdout
    assert time.perf_counter() - t0 < 300


# --------------------------------------------------------------------------- fits
def _assert_lavaan_estimates(table: pd.DataFrame) -> None:
    params, _ = load_reference("hs_cfa")
    ours = {lavaan_key(r.lhs, r.op, r.rhs): r for r in table.itertuples()}
    assert set(ours) == {lavaan_key(r.lhs, r.op, r.rhs) for r in params.itertuples()}
    for ref in params.itertuples():
        row = ours[lavaan_key(ref.lhs, ref.op, ref.rhs)]
        for col, ref_value in (("est", ref.est), ("std_all", ref._11), ("std_lv", ref._10)):
            assert close_to(float(getattr(row, col)), float(ref_value)), (ref.lhs, ref.rhs, col)
        if ref.se > 0:
            assert close_to(float(row.se), float(ref.se)), (ref.lhs, ref.rhs, "se")


def test_sem_gives_a_datatree_and_lavaan_ml(hs_fit: bb.BayesFit) -> None:
    s = az.summary(hs_fit.idata)
    assert {"mean", "sd", "r_hat"} <= set(s.columns) and len(s) > 21
    _assert_lavaan_estimates(hs_fit.ml.estimates())
    _, ref = load_reference("hs_cfa")
    fm = hs_fit.ml.fit_measures()
    for key in ("chisq", "df", "cfi", "tli", "rmsea", "srmr", "aic", "bic", "npar"):
        assert close_to(fm[key], ref["fit_measures"][key]), key
    assert hs_fit.nobs == 301 and hs_fit.model.filename == str(HS_MODEL)


def test_summary_is_summary_csv_with_std_all(hs_fit: bb.BayesFit) -> None:
    s = hs_fit.summary()
    assert tuple(s.columns) == SUMMARY_COLUMNS
    assert list(s.columns[6:8]) == ["median", "std_all"]
    # 21 free parameters of the CFA plus the 9 intercepts the Bayesian model samples
    assert len(s) == 30
    std = s.set_index(["lhs", "op", "rhs"])["std_all"]
    ml = hs_fit.ml.estimates().set_index(["lhs", "op", "rhs"])["std_all"]
    assert std.loc[("visual", "=~", "x2")] == pytest.approx(ml.loc[("visual", "=~", "x2")], abs=0.1)


def test_method_ml_gives_lavaans_numbers(hs_fit: bb.BayesFit) -> None:
    ml = bb.sem(HS_MODEL, HS_DATA, method="ml")
    assert isinstance(ml, bb.MLFit) and ml.converged
    table = ml.estimates()
    _assert_lavaan_estimates(table)
    # the ML fit inside the Bayesian fit is read off one optimisation with the means added
    num = ["est", "se", "z", "std_lv", "std_all"]
    np.testing.assert_allclose(
        hs_fit.ml.estimates()[num].to_numpy(float), table[num].to_numpy(float), atol=1e-5
    )
    fm, bfm = ml.fit_measures(), hs_fit.ml.fit_measures()
    for key, value in fm.items():
        assert bfm[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_model_text_and_path_agree(hs_fit: bb.BayesFit, cache: CompileCache) -> None:
    text = HS_MODEL.read_text(encoding="utf-8")
    data = pd.read_csv(HS_DATA)
    by_text = bb.cfa(text, data, method="ml").estimates()
    by_path = bb.cfa(str(HS_MODEL), HS_DATA, method="ml").estimates()
    pd.testing.assert_frame_equal(by_text, by_path)
    one_line = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"
    pd.testing.assert_frame_equal(bb.sem(one_line, data, method="ml").estimates(), by_path)
    # the same structure, data and seed: the compiled sampler is reused and the draws agree
    again = bb.sem(text, data, cache=cache, **FAST)
    assert again.diagnostics["compiled_model_reused"]
    pd.testing.assert_frame_equal(again.summary(), hs_fit.summary())


def test_check(hs_fit: bb.BayesFit) -> None:
    check = hs_fit.check()
    assert 0.0 <= check.ppp.ppp <= 1.0 and check.means == "saturated"
    assert {"BRMSEA", "BGammaHat"} <= set(check.index_summary["index"])
    assert "BCFI" not in set(check.index_summary["index"])
    with_base = hs_fit.check(baseline=True)
    assert {"BCFI", "BTLI", "BNFI"} <= set(with_base.index_summary["index"])
    assert with_base.ppp.ppp == check.ppp.ppp  # same seed, same replications


def test_compare_returns_one_row_per_model(hs_fit: bb.BayesFit, cache: CompileCache) -> None:
    one_factor = "g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9\n"
    table = bb.compare(
        {"three": HS_MODEL, "one": one_factor}, HS_DATA, baseline=False, cache=cache, **FAST
    )
    assert tuple(table.columns) == COMPARISON_COLUMNS
    assert sorted(table["model"]) == ["one", "three"] and len(table) == 2
    three = table.set_index("model").loc["three"]
    assert three["ml_chisq"] == pytest.approx(hs_fit.ml.fit_measures()["chisq"], rel=1e-9)


def test_hypotheses_on_political_democracy(tmp_path: Path, cache: CompileCache) -> None:
    toml = tmp_path / "pd.hypotheses.toml"
    toml.write_text(
        '[[hypothesis]]\nid = "H1"\nparameter = "a"\ndirection = "positive"\n'
        'wording = "Industrialisation raises democracy in 1960."\n\n'
        '[[hypothesis]]\nid = "H2"\nparameter = "ind"\ndirection = "positive"\n'
        'wording = "Industrialisation raises democracy in 1965 through 1960."\n'
    )
    fit = bb.sem(MODELS / "poldem_indirect.lav", DATA / "PoliticalDemocracy.csv", **FAST)
    table = fit.hypotheses(toml)
    assert tuple(table.columns) == HYPOTHESIS_COLUMNS
    assert list(table["id"]) == ["H1", "H2"]
    assert (table["post_median"] > 0).all() and table["bayes_verdict"].notna().all()
    ref, _ = load_reference("poldem_indirect_ml")
    ind = ref[ref["lhs"] == "ind"].iloc[0]
    assert table["ml_est"].iloc[1] == pytest.approx(ind["est"], abs=1e-3)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("model", "data", "options", "error", "fragment"),
    [
        ("models/nosuch.lav", HS_DATA, {}, ModelSpecError, "models/nosuch.lav: no such model"),
        (Path("nosuch.lav"), HS_DATA, {}, ModelSpecError, "nosuch.lav: no such model file"),
        ("hello", HS_DATA, {}, OptionError, "neither lavaan syntax"),
        (3, HS_DATA, {}, OptionError, "not int"),
        (HS_MODEL, DATA / "nosuch.csv", {}, DataError, "nosuch.csv: no such data file"),
        (HS_MODEL, [1, 2], {}, OptionError, "data must be a DataFrame or a path"),
        (HS_MODEL, HS_DATA, {"method": "mcmc"}, OptionError, "Must be one of: bayes, ml"),
        (HS_MODEL, HS_DATA, {"drawz": 10}, OptionError, "did you mean 'draws'"),
        (HS_MODEL, HS_DATA, {"method": "ml", "draws": 10}, OptionError, "method='bayes'"),
        (HS_MODEL, HS_DATA, {"seed": -1}, OptionError, "seed must be an integer >= 0"),
        (HS_MODEL, HS_DATA, {"chains": 0}, OptionError, "chains must be at least 1"),
        (HS_MODEL, HS_DATA, {"sampler": "gibbs"}, OptionError, "nutpie, pymc"),
    ],
)
def test_bad_arguments_raise_bayes_bmi_errors(model, data, options, error, fragment) -> None:
    with pytest.raises(error, match=re.escape(fragment)):
        bb.sem(model, data, **options)


def test_compare_needs_models() -> None:
    with pytest.raises(BayesBmiError, match="non-empty mapping"):
        bb.compare({}, HS_DATA)
    with pytest.raises(BayesBmiError, match="unknown means"):
        bb.compare({"a": HS_MODEL}, HS_DATA, means="some")


# --------------------------------------------------------------------------- command line
def test_cli_fit_writes_summary_with_std_all(
    tmp_path: Path, hs_fit: bb.BayesFit, cache: CompileCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bayes_bmi.cli import main

    monkeypatch.setattr(main, "_compile_cache", lambda: cache)

    out = tmp_path / "fit"
    args = [str(HS_MODEL), str(HS_DATA), "--out", str(out), "--allow-unconverged"]
    args += ["--draws", "200", "--tune", "200", "--chains", "2", "--seed", "4", "--no-progress"]
    res = CliRunner().invoke(main.app, ["fit", *args])
    assert res.exit_code == 0, res.output
    summary = pd.read_csv(out / "summary.csv")
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    # the command is the API call: same seed, same draws, same table
    np.testing.assert_allclose(summary["std_all"], hs_fit.summary()["std_all"], rtol=1e-8)
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["seed"] == 4 and diag["n_obs"] == 301 and diag["compiled_model_reused"]
    assert diag["provenance"]["seed"] == 4 and diag["provenance"]["command"] == "fit"
    assert json.loads((out / "provenance.json").read_text()) == diag["provenance"]
    import xarray as xr

    with xr.open_datatree(out / "posterior.nc", engine="h5netcdf") as tree:
        assert json.loads(tree.attrs["provenance"]) == diag["provenance"]
        assert tree.attrs["seed"] == 4 and "posterior" in tree.children


def test_cli_user_errors_come_before_the_numerical_stack(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    cases = [
        ["ml", "nosuch.lav", str(HS_DATA), "--out", str(tmp_path / "o")],
        ["fit", str(HS_MODEL), "nosuch.csv", "--out", str(tmp_path / "o")],
        ["fit", str(HS_MODEL), str(HS_DATA), "--out", str(tmp_path / "taken")],
        [
            "compare",
            str(HS_MODEL),
            "--data",
            str(HS_DATA),
            "--out",
            str(tmp_path / "o"),
            "--seed",
            "-1",
        ],
    ]
    code = (
        "import sys\nfrom bayes_bmi.cli.main import app\n"
        f"for args in {cases!r}:\n"
        "    try:\n        app(args)\n    except SystemExit as exc:\n"
        "        assert exc.code == 2, (args, exc.code)\n"
        f"heavy = [m for m in {(*HEAVY, 'numpy', 'pandas')!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    run = _run_python(code)
    assert run.returncode == 0, run.stderr
    assert "nosuch.lav: no such model file" in run.stderr
    assert "nosuch.csv: no such data file" in run.stderr
    assert "is a file; give a folder" in run.stderr
    assert not (tmp_path / "o").exists()
