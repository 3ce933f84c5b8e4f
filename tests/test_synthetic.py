"""Scenario generators: ground truth as specified, population moments vs samples, seeding, errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import synthetic
from synthetic import overlap_directions

REGRESSION = {
    "concept": lambda r: synthetic.concept_shift(12, 2, 4, 0.7, rng=r),
    "overlap": lambda r: synthetic.partial_overlap(12, 2, 4, 0.7, overlap=0.4, rng=r),
    "combined": lambda r: synthetic.combined_shift(12, 2, 4, 0.7, eps=0.5, shift=1.5, rng=r),
    "covariate": lambda r: synthetic.covariate_shift(12, 4, k=3, eps=0.5, geometry="orthogonal", rng=r),
    "label": lambda r: synthetic.label_shift(12, 4, 4, 0.3, rng=r),
}


@pytest.mark.parametrize("name", list(REGRESSION))
def test_population_moments_match_samples(name):
    """Sample moments of 100k points are within 6 standard errors (entrywise bound below) of the exact ones."""
    sc = REGRESSION[name](0)
    smp = sc.sample(100_000, rng=1)
    m = smp.moments(sc.p)
    scale = np.abs(sc.population.Sigma).max() + 1
    tol = 6 * scale * 3 / np.sqrt(100_000)
    np.testing.assert_allclose(m.Sigma, sc.population.Sigma, atol=tol)
    np.testing.assert_allclose(m.C, sc.population.C, atol=tol)


def test_concept_shift_is_assumption_4_1():
    sc = synthetic.concept_shift(15, 3, 4, 0.8, rng=2)
    B, Vs, Vc = sc.truth["B_star"], sc.truth["V_stars"], sc.truth["V_com"]
    np.testing.assert_allclose(B @ B.T, np.eye(7), atol=1e-12)
    for i in range(4):
        expected = np.concatenate([Vc, 0.8 * np.eye(4)[i]])
        np.testing.assert_allclose(Vs[i], expected, atol=1e-15)
    np.testing.assert_allclose(sc.population.Sigma, np.broadcast_to(np.eye(15), (4, 15, 15)))
    B0, V0 = synthetic.idealised_init(sc)
    np.testing.assert_array_equal(B0, B)
    np.testing.assert_array_equal(V0, np.concatenate([Vc, np.zeros(4)]))
    assert sc.summary()["V_com_norm_sq"] == pytest.approx(Vc @ Vc)


@given(C=st.integers(1, 8), omega=st.floats(0, 1))
def test_overlap_directions_gram(C, omega):
    U = overlap_directions(C, omega)
    G = U @ U.T
    np.testing.assert_allclose(G, (1 - omega) * np.eye(C) + omega * np.ones((C, C)), atol=1e-12)


def test_overlap_endpoints():
    disjoint = synthetic.partial_overlap(12, 2, 3, 1.0, overlap=0.0, rng=0)
    same = synthetic.partial_overlap(12, 2, 3, 1.0, overlap=1.0, rng=0)
    np.testing.assert_allclose(disjoint.truth["V_stars"][:, 2:], np.eye(3), atol=1e-15)
    Vs = same.truth["V_stars"]
    np.testing.assert_allclose(Vs, np.broadcast_to(Vs[0], Vs.shape), atol=1e-12)


@pytest.mark.parametrize("geometry", synthetic.GEOMETRIES)
def test_combined_shift_geometries(geometry):
    sc = synthetic.combined_shift(14, 2, 3, 1.0, shift=2.0, geometry=geometry, rng=0)
    e = sc.truth["shifts"]
    B = sc.truth["B_star"]
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 2.0)
    if geometry == "private":
        np.testing.assert_allclose(e, 2.0 * B[2:5])
    if geometry == "orthogonal":
        np.testing.assert_allclose(e @ B.T, 0, atol=1e-12)
        np.testing.assert_allclose(e @ e.T, 4.0 * np.eye(3), atol=1e-12)
    np.testing.assert_allclose(sc.population.Sigma[0], np.outer(e[0], e[0]) + np.eye(14), atol=1e-12)


def test_long_tail_counts_and_groups():
    counts = synthetic.long_tail_counts(500, 10, 100.0)
    assert counts[0] == 500 and counts[-1] == 5
    assert np.all(np.diff(counts) <= 0)
    lt = synthetic.long_tail(10, 10, 6, n_max=500, imbalance=100.0, beta=0.3, rng=0)
    np.testing.assert_array_equal(lt.counts.sum(axis=0), counts)
    assert all(s.n >= 1 for s in lt.train)
    groups = np.concatenate([lt.groups["head"], lt.groups["medium"], lt.groups["tail"]])
    np.testing.assert_array_equal(np.sort(groups), np.arange(10))
    test = lt.test(7, rng=1)
    np.testing.assert_array_equal(np.bincount(test.Y), np.full(10, 7))


def test_kumar_distance_and_subspaces():
    sc = synthetic.kumar(20, 3, 8, eps=0.2, rng=0)
    t = sc.truth
    assert np.linalg.norm(t["B_0"] - t["B_star"], ord=2) == pytest.approx(0.2, rel=1e-12)
    np.testing.assert_allclose(t["B_0"] @ t["B_0"].T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(sc.train.X[0] @ t["S_perp"].T, 0, atol=1e-12)
    assert synthetic.ood_loss(t["v_star"], t["B_star"], t["w_star"]) == pytest.approx(0, abs=1e-24)


@pytest.mark.parametrize("name", list(REGRESSION))
def test_same_seed_bit_identical(name):
    a, b = REGRESSION[name](5), REGRESSION[name](5)
    for key in a.truth:
        np.testing.assert_array_equal(a.truth[key], b.truth[key])
    np.testing.assert_array_equal(a.sample(10, rng=3).X, b.sample(10, rng=3).X)
    assert not np.array_equal(a.sample(10, rng=3).X, a.sample(10, rng=4).X)


@pytest.mark.parametrize("call,match", [
    (lambda: synthetic.concept_shift(5, 3, 4, 1.0), "m \\+ n_clients <= d"),
    (lambda: synthetic.concept_shift(10, 2, 3, -1.0), "lam must be in"),
    (lambda: synthetic.concept_shift(10, 2, 0, 1.0), "n_clients must be in"),
    (lambda: synthetic.concept_shift(10, 2, 3, 1.0, V_com=[1.0]), "V_com must have length"),
    (lambda: synthetic.partial_overlap(10, 2, 3, 1.0, overlap=1.5), "overlap must be in"),
    (lambda: synthetic.combined_shift(10, 2, 3, 1.0, geometry="diagonal"), "geometry must be one of"),
    (lambda: synthetic.combined_shift(7, 2, 3, 1.0, geometry="orthogonal"), "d >= k \\+ n_clients"),
    (lambda: synthetic.label_shift(10, 3, 3, alpha=0.0), "alpha must be in"),
    (lambda: synthetic.long_tail(10, 5, 3, imbalance=0.5), "imbalance must be in"),
    (lambda: synthetic.kumar(10, 3, 8), "k < d - n"),
    (lambda: synthetic.kumar(20, 3, 8, eps=3.0), "eps must be in"),
    (lambda: synthetic.concept_shift(10, 2, 3, 1.0, rng=-1), "rng must be"),
    (lambda: synthetic.concept_shift(10, 2, 3, 1.0).sample(0), "n must be in"),
])
def test_bad_input_names_parameter(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
