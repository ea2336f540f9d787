"""PCA, KMO, Bartlett, rotations, parallel analysis: against R (psych, stats), factor_analyzer."""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from numpy.testing import assert_allclose

from bayes_bmi.measurement.pca import (
    PCAError,
    bartlett_sphericity,
    kmo,
    parallel_analysis,
    pca,
    promax,
    varimax,
)
from bayes_bmi.plots.measurement import plot_loadings, plot_scree

REF = Path(__file__).resolve().parent / "data" / "measurement"
ITEMS = [f"x{i}" for i in range(1, 10)]


@pytest.fixture(scope="module")
def hs(hs_data: pd.DataFrame) -> pd.DataFrame:
    return hs_data[ITEMS]


@pytest.fixture(scope="module")
def unrotated3(hs: pd.DataFrame) -> np.ndarray:
    r = np.corrcoef(hs.to_numpy(), rowvar=False)
    w, v = np.linalg.eigh(r)
    return v[:, ::-1][:, :3] * np.sqrt(w[::-1][:3])


def ref_matrix(name: str) -> np.ndarray:
    return pd.read_csv(REF / name).filter(regex="^X").to_numpy(dtype=float)


def match_columns(a: np.ndarray, b: np.ndarray) -> tuple[tuple[int, ...], np.ndarray]:
    """Permutation and signs of b's columns that best match a's."""
    best = None
    for perm in permutations(range(b.shape[1])):
        bp = b[:, perm]
        signs = np.sign((a * bp).sum(axis=0))
        err = np.abs(a - bp * signs).max()
        if best is None or err < best[0]:
            best = (err, perm, signs)
    assert best is not None
    return best[1], best[2]


def assert_same_up_to_order_and_sign(a: np.ndarray, b: np.ndarray, atol: float) -> None:
    perm, signs = match_columns(a, b)
    assert_allclose(a, b[:, perm] * signs, atol=atol)


# --------------------------------------------------------------------------- KMO, Bartlett


def test_kmo_matches_psych(hs: pd.DataFrame) -> None:
    ref = pd.read_csv(REF / "hs_kmo.csv").set_index("item")["msa"]
    overall, per_item = kmo(hs)
    assert overall == pytest.approx(ref["overall"], abs=1e-12)
    assert_allclose(per_item[ITEMS].to_numpy(), ref[ITEMS].to_numpy(), atol=1e-12)
    assert per_item.name == "msa"


def test_bartlett_matches_psych(hs: pd.DataFrame) -> None:
    ref = pd.read_csv(REF / "hs_bartlett.csv").iloc[0]
    chi2, df, p = bartlett_sphericity(hs)
    assert chi2 == pytest.approx(ref["chisq"], rel=1e-10)
    assert df == ref["df"] == 36
    assert p == pytest.approx(ref["p_value"], rel=1e-6)


def test_kmo_bartlett_match_factor_analyzer(hs: pd.DataFrame) -> None:
    fa = pytest.importorskip("factor_analyzer.factor_analyzer")
    per_item, overall = fa.calculate_kmo(hs)
    ours_overall, ours_items = kmo(hs)
    assert ours_overall == pytest.approx(overall, abs=1e-12)
    assert_allclose(ours_items.to_numpy(), per_item, atol=1e-12)
    chi2, p = fa.calculate_bartlett_sphericity(hs)
    assert bartlett_sphericity(hs)[0] == pytest.approx(chi2, rel=1e-10)


def test_kmo_by_hand_on_three_items() -> None:
    # correlations r12 = 0.5, r13 = 0.4, r23 = 0.3 built exactly into 3 columns
    r = np.array([[1, 0.5, 0.4], [0.5, 1, 0.3], [0.4, 0.3, 1]])
    z = np.random.default_rng(0).standard_normal((50, 3))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T)).T)
    data = pd.DataFrame(z @ np.linalg.cholesky(r).T, columns=["a", "b", "c"])
    inv = np.linalg.inv(r)
    partial = -inv[0, 1] / np.sqrt(inv[0, 0] * inv[1, 1])
    p13 = -inv[0, 2] / np.sqrt(inv[0, 0] * inv[2, 2])
    msa_a = (0.25 + 0.16) / (0.25 + 0.16 + partial**2 + p13**2)
    _, per_item = kmo(data)
    assert per_item["a"] == pytest.approx(msa_a, abs=1e-12)


# --------------------------------------------------------------------------- rotations


def test_eigenvalues_match_r(hs: pd.DataFrame) -> None:
    ref = pd.read_csv(REF / "hs_eigenvalues.csv")["eigenvalue"].to_numpy()
    res = pca(hs, 3, parallel_iter=20)
    assert_allclose(res.eigenvalues["eigenvalue"], ref, atol=1e-12)
    assert res.eigenvalues["cumulative"].iloc[-1] == pytest.approx(1.0)
    assert res.n_kaiser == 3


def test_varimax_matches_r_stats_varimax(unrotated3: np.ndarray) -> None:
    ours, rot = varimax(unrotated3)
    assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert_same_up_to_order_and_sign(ours, ref_matrix("hs_varimax3.csv"), atol=1e-7)


def test_pca_varimax_matches_psych_principal(hs: pd.DataFrame) -> None:
    ref = pd.read_csv(REF / "hs_principal_varimax3.csv")
    res = pca(hs, 3, rotation="varimax", parallel_iter=20)
    ours = res.loadings[["pc1", "pc2", "pc3"]].to_numpy()
    # psych stops varimax at R's default eps = 1e-5: loadings agree to about 5e-4
    assert_same_up_to_order_and_sign(ours, ref.filter(regex="^X").to_numpy(), atol=1e-3)
    assert_allclose(res.communalities[ITEMS], ref["communality"], atol=1e-12)


def test_varimax_matches_factor_analyzer(unrotated3: np.ndarray) -> None:
    rotator = pytest.importorskip("factor_analyzer.rotator")
    theirs = rotator.Rotator(method="varimax", tol=1e-14, max_iter=5000).fit_transform(unrotated3)
    assert_same_up_to_order_and_sign(varimax(unrotated3)[0], theirs, atol=1e-7)


def test_promax_matches_r_stats_promax(unrotated3: np.ndarray) -> None:
    pattern, rotmat, phi = promax(unrotated3)
    ref = ref_matrix("hs_promax3.csv")
    perm, signs = match_columns(pattern, ref)
    assert_allclose(pattern, ref[:, perm] * signs, atol=1e-7)
    ref_phi = ref_matrix("hs_promax3_phi.csv")[np.ix_(perm, perm)] * np.outer(signs, signs)
    assert_allclose(phi, ref_phi, atol=1e-7)
    assert_allclose(unrotated3 @ rotmat, pattern, atol=1e-12)


def test_oblique_solution_reproduces_the_same_correlations(unrotated3: np.ndarray) -> None:
    pattern, _, phi = promax(unrotated3)
    assert_allclose(np.diag(phi), 1.0, atol=1e-12)
    assert_allclose(pattern @ phi @ pattern.T, unrotated3 @ unrotated3.T, atol=1e-10)


def test_hs_three_components_recover_the_three_abilities(hs: pd.DataFrame) -> None:
    for rotation in ("varimax", "promax"):
        res = pca(hs, 3, rotation=rotation, parallel_iter=20)
        comp = res.assignment.set_index("item")["component"]
        groups = [
            set(comp[["x1", "x2", "x3"]]),
            set(comp[["x4", "x5", "x6"]]),
            set(comp[["x7", "x8", "x9"]]),
        ]
        assert all(len(g) == 1 for g in groups), groups
        assert len(set.union(*groups)) == 3
        # ordered by variance after rotation and reflected to positive column sums
        names = ["pc1", "pc2", "pc3"]
        assert (res.loadings[names].sum() > 0).all()
        assert res.rotated_variance["ss_loadings"].is_monotonic_decreasing
    assert res.phi is not None
    assert res.phi.shape == (3, 3)


# --------------------------------------------------------------------------- parallel analysis


def test_parallel_analysis_matches_r_simulation(hs: pd.DataFrame) -> None:
    ref = pd.read_csv(REF / "hs_parallel.csv")
    mean, p95 = parallel_analysis(301, 9, n_iter=2000, seed=11)
    # Monte Carlo error of each estimate is below about 0.004 at 2000 data sets
    assert_allclose(mean, ref["psych_mean"], atol=0.01)
    assert_allclose(mean, ref["sim_mean"], atol=0.01)
    assert_allclose(p95, ref["sim_p95"], atol=0.015)
    again = parallel_analysis(301, 9, n_iter=2000, seed=11)
    assert_allclose(again[1], p95, atol=0)


def test_parallel_count_matches_psych(hs: pd.DataFrame) -> None:
    ncomp = int(pd.read_csv(REF / "hs_parallel_ncomp.csv")["ncomp"].iloc[0])
    res = pca(hs, parallel_iter=500, seed=3)
    assert res.n_parallel == ncomp == 3
    assert res.n_components == 3
    kaiser = pca(hs, retain="kaiser", parallel_iter=20)
    assert kaiser.n_components == kaiser.n_kaiser == 3


def test_parallel_analysis_false_positive_rate_is_about_five_percent() -> None:
    # on pure noise the first eigenvalue exceeds the random 95th percentile ~5% of the time
    _, p95 = parallel_analysis(100, 6, n_iter=2000, seed=7)
    rng = np.random.default_rng(2024)
    first = [
        np.linalg.eigvalsh(np.corrcoef(rng.standard_normal((100, 6)), rowvar=False))[-1]
        for _ in range(1000)
    ]
    rate = np.mean(np.array(first) > p95[0])
    assert 0.03 <= rate <= 0.07  # binomial SD at 1000 sets is about 0.007


def test_single_component_is_not_rotated() -> None:
    noise = pd.DataFrame(np.random.default_rng(5).standard_normal((400, 8)))
    res = pca(noise, 1, parallel_iter=20, seed=1)
    assert res.n_components == 1
    assert res.rotation is None
    assert np.isnan(res.assignment["cross_loading"]).all()


# --------------------------------------------------------------------------- data checks


def test_missing_rows_are_dropped(hs: pd.DataFrame) -> None:
    data = hs.copy()
    data.loc[[0, 5], "x3"] = np.nan
    res = pca(data, 3, parallel_iter=10)
    assert res.n == 299 and res.n_dropped == 2


def test_non_numeric_cell_named(hs: pd.DataFrame) -> None:
    data = hs.astype(object)
    data.loc[6, "x4"] = "n/a?"
    for func in (pca, kmo, bartlett_sphericity):
        with pytest.raises(PCAError, match=r"row 7, column 'x4': 'n/a\?' is not a number"):
            func(data)


def test_fewer_rows_than_items(hs: pd.DataFrame) -> None:
    with pytest.raises(PCAError, match="9 complete row.*for 9 items"):
        pca(hs.iloc[:9])


def test_constant_item_and_singular_matrix(hs: pd.DataFrame) -> None:
    with pytest.raises(PCAError, match="zero variance: x2"):
        pca(hs.assign(x2=1.0))
    with pytest.raises(PCAError, match="singular"):
        kmo(hs.assign(total=hs.sum(axis=1)))


def test_bad_options(hs: pd.DataFrame) -> None:
    with pytest.raises(PCAError, match="Must be one of: varimax, promax, none"):
        pca(hs, rotation="oblimin")  # type: ignore[arg-type]
    with pytest.raises(PCAError, match="between 1 and 9"):
        pca(hs, 10, parallel_iter=10)
    with pytest.raises(PCAError, match="at least 2 items"):
        pca(hs[["x1"]])


def test_plots(hs: pd.DataFrame) -> None:
    res = pca(hs, 3, parallel_iter=20)
    scree = plot_scree(res)
    assert isinstance(scree, Figure)
    assert_allclose(scree.axes[0].lines[0].get_ydata(), res.eigenvalues["eigenvalue"])
    assert isinstance(plot_loadings(res), Figure)
