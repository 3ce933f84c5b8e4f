"""Federated LoRA (both-factor FedAvg, FFA-LoRA, RoLoRA): the engine's round against the closed forms, the plug-in
claims, and each closed form mutated until the verdict stops confirming."""
import numpy as np
import pytest

from lpft_theory.data import Moments, Samples
from lpft_theory.federated_lora import client_losses, federated_lora, lora_round
from lpft_theory.theory import lora_fed as L
from paper_checks import Context, run_checks, run_one
from paper_checks import claims_fedlora as M
from paper_checks import plugin

CTX = Context(quick=True, seed=0)
P0 = {"draw": 3, "spread": 0.5, "het": 1.0, "r": 2, "eta_frac": 0.5, "tau": 4}


def test_averaging_error_identity_with_weights():
    g = np.random.default_rng(0)
    As, Bs, w = g.standard_normal((5, 2, 6)), g.standard_normal((5, 3, 2)), g.random(5)
    wn = w / w.sum()
    direct = np.tensordot(wn, Bs @ As, axes=1) - np.tensordot(wn, Bs, axes=1) @ np.tensordot(wn, As, axes=1)
    np.testing.assert_allclose(L.averaging_error(As, Bs, w), direct, atol=1e-14)
    np.testing.assert_allclose(L.averaging_error(np.repeat(As[:1], 5, 0), Bs), 0.0, atol=1e-15)  # shared A: exact


def test_rounds_of_the_three_modes():
    W0, A0, B0, mom, eta = M.problem(P0)
    both = lora_round(W0, A0, B0, mom, eta, 4, "both")
    np.testing.assert_allclose(both.averaging_error, L.averaging_error(both.A_clients, both.B_clients), atol=1e-14)
    assert np.linalg.norm(both.averaging_error) > 1e-3 * np.linalg.norm(both.B @ both.A)
    ffa = lora_round(W0, A0, B0, mom, eta, 4, "frozen-A")
    np.testing.assert_array_equal(ffa.A, A0)
    np.testing.assert_allclose(ffa.averaging_error, 0.0, atol=1e-14)
    for r, frozen in ((0, "A"), (1, "B")):
        alt = lora_round(W0, A0, B0, mom, eta, 4, "alternating", r)
        np.testing.assert_array_equal(alt.A if frozen == "A" else alt.B, A0 if frozen == "A" else B0)
        np.testing.assert_allclose(alt.averaging_error, 0.0, atol=1e-14)


def test_one_client_one_step_is_plain_gd_on_the_factors():
    W0, A0, B0, mom, eta = M.problem(P0)
    one = mom[:1]
    rnd = lora_round(W0, A0, B0, one, eta, 1, "both")
    beta = (W0 + B0 @ A0).T
    gW = 2 * (one.Sigma[0] @ beta - one.C[0]).T  # ∇_W E‖Wx − y‖²
    np.testing.assert_allclose(rnd.B, B0 - eta * gW @ A0.T, atol=1e-13)
    np.testing.assert_allclose(rnd.A, A0 - eta * B0.T @ gW, atol=1e-13)


def test_closed_form_rounds_match_the_engine_and_ffa_stops_at_its_floor():
    p = {"draw": 5, "het": 0.4, "phi": 0.7, "eta_frac": 0.9, "tau": 5}
    assert M.rolora_gap(p, rounds=12) < 1e-12
    W0, a_star, b_stars, a0, mom, eta = M.rank1(p)
    res = federated_lora(W0, a0[None], np.zeros((3, 1)), mom, eta, 5, 80, "frozen-A")
    A, B = res.history[-1]
    assert L.rank1_losses(A[0], B[:, 0], a_star, b_stars)["excess"] == pytest.approx(
        L.ffa_floor(a0, a_star, b_stars.mean(0)), rel=1e-9)
    alt = federated_lora(W0, a0[None], np.zeros((3, 1)), mom, eta, 5, 80, "alternating")
    losses = L.rank1_losses(alt.A[0], alt.B[:, 0], a_star, b_stars)
    assert losses["excess"] < 1e-12 and alt.loss[-1] == pytest.approx(losses["heterogeneity"], rel=1e-9)


def test_sample_data_and_bad_inputs():
    g = np.random.default_rng(1)
    X = g.standard_normal((3, 20, 4))
    data = Samples(X, X @ g.standard_normal((3, 4, 2)))
    res = federated_lora(np.zeros((2, 4)), g.standard_normal((1, 4)), np.zeros((2, 1)), data, 0.05, 3, 4, "both")
    assert res.loss[-1] < res.loss[0] and client_losses(np.zeros((2, 4)), res.A, res.B, data).shape == (3,)
    with pytest.raises(ValueError, match="mode"):
        lora_round(np.zeros((2, 4)), np.zeros((1, 4)), np.zeros((2, 1)), data, 0.1, 1, "neither")
    with pytest.raises(ValueError, match="need W0"):
        lora_round(np.zeros((2, 4)), np.zeros((1, 5)), np.zeros((2, 1)), data, 0.1, 1)
    with pytest.raises(ValueError, match="weights"):
        lora_round(np.zeros((2, 4)), np.zeros((1, 4)), np.zeros((2, 1)), data, 0.1, 1, weights=[1, -1, 1])
    mom = Moments(np.broadcast_to(np.eye(4), (3, 4, 4)), np.zeros((3, 4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="eta"):
        lora_round(np.zeros((2, 4)), np.zeros((1, 4)), np.zeros((2, 1)), mom, 0.0, 1)


def test_the_plug_in_claims_confirm():
    vs = {v.id: v.status for v in run_checks(True, 0, fns=M.CHECKS)}
    assert vs == dict.fromkeys(["fedlora-averaging-error", "fedlora-ffa-exact", "fedlora-rolora-linear"],
                               "confirmed")


def _mutant(cid, margin, space=M._ROUND):
    return run_one(plugin.for_all(cid, "mutant", kind="identity", tol=1e-10, source="test", space=space,
                                  margin=margin, budget=20), CTX)


def test_an_uncentred_averaging_error_is_refuted():
    def wrong(As, Bs, weights=None):  # forgets to centre the factors
        return np.mean(Bs @ As, axis=0)
    assert _mutant("test-mut-fedlora-avg", lambda p: -M.averaging_gap(p, wrong)).status == "refuted"


def test_both_factor_averaging_is_not_exact():
    assert _mutant("test-mut-fedlora-both", lambda p: -M.exact_average_gap(p, ("both",))).status == "refuted"


def test_a_wrong_round_map_is_refuted():
    def wrong_b(a, b, a_star, b_bar, eta, tau):
        return L.b_round(a, b, a_star, b_bar, eta, tau + 1)

    def rolora_wrong(a0, b0, a_star, b_bar, eta, tau, rounds):
        a, b, out = np.asarray(a0, float), np.asarray(b0, float), []
        out.append((a, b))
        for r in range(rounds):
            if r % 2 == 0:
                b = wrong_b(a, b, a_star, b_bar, eta, tau)
            else:
                a = L.a_round(a, b, a_star, b_bar, eta, tau)
            out.append((a, b))
        return out

    space = M._box(draw=(0, 10_000), het=(0.0, 1.0), phi=(0.05, 1.5), eta_frac=(0.05, 0.45), tau=(1, 6))
    v = _mutant("test-mut-rolora", lambda p: -M.rolora_gap(p, (rolora_wrong, L.ffa_trajectory)), space)
    assert v.status == "refuted"


def test_figure_numbers():
    from figures import lora_fed as fig

    data = fig.compute(quick=True, seed=0)
    np.testing.assert_allclose(data["engine_error"], data["closed_error"], rtol=1e-10, atol=1e-15)
    for mode in ("alternating", "frozen-A"):
        np.testing.assert_allclose(data["excess"][mode], data["closed"][mode], rtol=1e-8, atol=1e-25)
    assert data["excess"]["frozen-A"][-1] == pytest.approx(data["ffa_floor"], rel=1e-8)
    assert data["excess"]["alternating"][-1] < 1e-15 < data["excess"]["both"][-1]
