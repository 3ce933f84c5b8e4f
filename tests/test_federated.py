"""FedAvg: reduces to centralised GD, weights, participation, principal angles, metrics."""
import numpy as np
import pytest

import synthetic
from lpft_theory import gradient_descent, two_layer
from lpft_theory.federated import fedavg, principal_angles
from lpft_theory.metrics import cross_matrix, delta_c, distortion_split, summarize


def test_fedavg_one_client_one_step_is_centralised_gd():
    sc = synthetic.concept_shift(10, 2, 1, 1.0, rng=0)
    arch = two_layer(10, 3)
    p0 = arch.init(1)
    fed = fedavg(arch, p0, sc.population, rounds=6, local_steps=1, eta=0.1)
    gd = gradient_descent(arch, p0, sc.population[0], 0.1, 6).params
    for a, b in zip(fed.params, gd):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


def test_fedavg_one_local_step_is_gd_on_the_weighted_mixture():
    """With τ = 1 the average of client steps is one step on Σ_i w_i L_i (losses are linear in the data)."""
    sc = synthetic.combined_shift(10, 2, 3, 1.0, rng=0)
    arch = two_layer(10, 5)
    p0 = arch.init(1)
    w = np.array([1.0, 2.0, 5.0])
    fed = fedavg(arch, p0, sc.population, rounds=4, local_steps=1, eta=0.05, weights=w)
    gd = gradient_descent(arch, p0, sc.population.mean(0, weights=w), 0.05, 4).params
    for a, b in zip(fed.params, gd):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_fedavg_masks_restrict_a_custom_transform_too():
    """``masks=(False, True)`` freezes the body under a custom local transform (FedPuReL's purification) as under
    plain GD: the body stays at its start (up to the averaging's round-off) and the head moves as masked GD."""
    from lpft_theory.dynamics import sgd
    from lpft_theory.federated import fedavg_runs

    sc = synthetic.concept_shift(10, 2, 3, 1.0, rng=0)
    arch = two_layer(10, 4)
    p0 = arch.init(2)
    plain = fedavg(arch, p0, sc.population, rounds=3, local_steps=2, eta=0.1, masks=(False, True))
    custom = fedavg(arch, p0, sc.population, rounds=3, local_steps=2, eta=0.1, masks=(False, True),
                    transform=lambda part, p: sgd(0.1))
    np.testing.assert_allclose(custom.params[0], p0[0], rtol=0, atol=1e-15)  # averaging equal bodies: round-off
    for a, b in zip(custom.params, plain.params):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
    unmasked = fedavg(arch, p0, sc.population, rounds=3, local_steps=2, eta=0.1, transform=lambda part, p: sgd(0.1))
    assert np.abs(unmasked.params[0] - p0[0]).max() > 1e-3  # the mutation (masks ignored) moves the body
    runs = fedavg_runs(arch, [p0], [sc.population], 3, 2, 0.1, masks=(False, True), transform=lambda d, p: sgd(0.1))
    np.testing.assert_allclose(runs[0][0], p0[0], rtol=0, atol=1e-15)


def test_partial_participation_is_seeded_and_differs_from_full():
    sc = synthetic.concept_shift(10, 2, 4, 1.0, rng=0)
    arch = two_layer(10, 6)
    p0 = arch.init(1)
    a = fedavg(arch, p0, sc.population, 3, 2, 0.05, participation=0.5, rng=7)
    b = fedavg(arch, p0, sc.population, 3, 2, 0.05, participation=0.5, rng=7)
    full = fedavg(arch, p0, sc.population, 3, 2, 0.05)
    np.testing.assert_array_equal(a.params[0], b.params[0])
    assert not np.allclose(a.params[0], full.params[0])


def test_fedavg_learns_only_the_averaged_predictor_direction():
    """FedAvg with one global head converges to the mixture optimum w_G = B*ᵀ mean_i V_i*; rowspace(B)
    then contains w_G (smallest principal angle → 0) but NOT all of rowspace(B*): the largest angle
    stays large. So the papers' idealised B_0 = B* is an assumption FedAvg itself does not deliver."""
    sc = synthetic.concept_shift(12, 2, 4, 1.0, rng=0)
    arch = two_layer(12, 6)
    res = fedavg(arch, arch.init(2, scale=0.5), sc.population, 100, 5, 0.1)
    mix = sc.population.mean(0)
    w_G = np.linalg.solve(mix.Sigma, mix.C)
    optimum = float(mix.s - (w_G.T @ mix.C).item())
    assert res.global_loss[-1] == pytest.approx(optimum, rel=1e-5)
    np.testing.assert_allclose(arch.predictor(res.params), w_G, atol=1e-3)
    assert principal_angles(res.params[0], w_G.T).min() < 1e-3
    assert principal_angles(res.params[0], sc.truth["B_star"]).max() > 1.0


@pytest.mark.parametrize("kw,match", [
    (dict(participation=0.0), "participation"), (dict(participation=1.2), "participation"),
    (dict(weights=[1.0, -1.0, 1.0]), "weights"), (dict(weights=[1.0, 1.0]), "weights"),
])
def test_fedavg_bad_input(kw, match):
    sc = synthetic.concept_shift(10, 2, 3, 1.0, rng=0)
    arch = two_layer(10, 5)
    with pytest.raises(ValueError, match=match):
        fedavg(arch, arch.init(0), sc.population, 1, 1, 0.1, **kw)


def test_principal_angles_known_case():
    e = np.eye(4)
    B1 = e[:2]
    B2 = np.stack([e[0], np.cos(0.3) * e[1] + np.sin(0.3) * e[2]])
    np.testing.assert_allclose(np.sort(principal_angles(B1, B2)), [0.0, 0.3], atol=1e-12)


def test_summarize_and_cross_matrix_definitions():
    M = np.array([[1.0, 2.0, 4.0], [3.0, 0.5, 1.0], [2.0, 2.0, 3.0]])
    s = summarize(M, baseline_local=np.array([2.0, 0.4, 3.0]))
    assert s["local"] == pytest.approx((1 + 0.5 + 3) / 3)
    assert s["global"] == pytest.approx(((2 + 4) / 2 + (3 + 1) / 2 + (2 + 2) / 2) / 3)
    assert s["global_mixture"] == pytest.approx(M.mean())
    assert s["worst"] == 3.0 and s["frac_hurt"] == pytest.approx(1 / 3)
    assert s["c_std"] == pytest.approx(np.std([1, 0.5, 3]))
    sc = synthetic.concept_shift(10, 2, 3, 1.0, rng=0)
    arch = two_layer(10, 5)
    P = arch.init(0, batch=(3,))
    X = cross_matrix(arch, P, sc.population)
    for i in range(3):
        for j in range(3):
            single = arch.loss(tuple(p[i] for p in P), sc.population[j])
            assert X[i, j] == pytest.approx(single, rel=1e-12)


def test_distortion_split_and_delta_c():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 6))
    B0 = rng.standard_normal((2, 6))
    D_on = rng.standard_normal((2, 3)) @ X
    on, off = distortion_split(B0 + D_on, B0, X)
    assert on == pytest.approx(np.linalg.norm(D_on)) and off == pytest.approx(0, abs=1e-12)
    F = rng.standard_normal((5, 2))
    assert delta_c(F, F + np.array([3.0, 4.0])) == pytest.approx(5.0)


def test_delta_c_weighted_ignores_padding():
    F = np.zeros((4, 2))
    G = np.array([[3.0, 4.0], [3.0, 4.0], [100.0, 0.0], [100.0, 0.0]])
    assert delta_c(F, G, weights=np.array([1.0, 1.0, 0.0, 0.0])) == pytest.approx(5.0)


def test_per_class_accuracy_definition():
    from lpft_theory.metrics import per_class_accuracy

    labels = np.array([0, 0, 1, 1, 2])
    logits = np.eye(3)[[0, 1, 1, 1, 0]]  # predictions 0, 1, 1, 1, 0
    np.testing.assert_allclose(per_class_accuracy(logits, labels, 3), [0.5, 1.0, 0.0])
    batched = np.stack([logits, np.eye(3)[labels]])  # a second model that is always right
    np.testing.assert_allclose(per_class_accuracy(batched, labels, 3), [[0.5, 1.0, 0.0], [1.0, 1.0, 1.0]])
