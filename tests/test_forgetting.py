"""Forgetting in linear regression (Evron et al. 2022; Goldfarb et al. 2024): closed forms against the procedure and
the engine, the plug-in claims' verdicts, and each closed form or bound mutated until the verdict stops confirming."""
import math

import numpy as np
import pytest

from lpft_theory import Samples
from lpft_theory.models import DeepLinear
from lpft_theory.strategies import ft
from lpft_theory.theory import forgetting as F
from paper_checks import Context, run_checks, run_one
from paper_checks import claims_forgetting as M
from paper_checks import plugin

CTX = Context(quick=True, seed=0)


def _isotropic_tasks(seed, d=7, r1=2, r2=3, R=1.3):
    g = np.random.default_rng(seed)
    Q1, Q2 = (np.linalg.qr(g.standard_normal((d, r)))[0] for r in (r1, r2))
    return R * Q1.T, R * Q2.T, g.standard_normal(d)


def test_fitting_to_convergence_by_gd_is_the_projection():
    g = np.random.default_rng(3)
    X, w0 = g.standard_normal((4, 10)), g.standard_normal(10)
    y = X @ g.standard_normal(10)
    eta = 1.0 / (2 * np.linalg.eigvalsh(X.T @ X / 4)[-1])
    w = ft(eta, 3000)(DeepLinear(10), (w0[:, None],), Samples(X[None], y[None, :, None])).params[0][0, :, 0]
    np.testing.assert_allclose(w, F.fit_to_convergence(w0, X, y), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(F.null_projection(X) @ (w0 - w), np.zeros(10), atol=1e-10)  # w − w0 ∈ rowspace(X)


@pytest.mark.parametrize("seed, r1, r2", [(0, 2, 3), (1, 3, 3), (2, 4, 1), (3, 1, 1)])
def test_two_task_closed_form_equals_the_sequence_of_projections(seed, r1, r2):
    X1, X2, w = _isotropic_tasks(seed, r1=r1, r2=r2)
    proc = F.sequence_forgetting([X1, X2], [X1 @ w, X2 @ w], F.cyclic_order(2, 12))
    cos, U = F.principal_structure(X1, X2)
    closed = [F.two_task_forgetting(k, cos, U.T @ w, 1.3) for k in range(1, 13)]
    np.testing.assert_allclose(proc, closed, rtol=1e-10, atol=1e-13)
    assert proc[0] == pytest.approx(0.0, abs=1e-20)  # one task seen: fitted exactly


def test_supremum_is_attained_at_the_best_angle_and_stays_under_evrons_bound():
    for k in (2, 3, 10, 57):
        grid = np.linspace(0, np.pi / 2, 20001)
        best = max(F.two_task_forgetting(k, [np.cos(t)], [1.0]) for t in grid)
        assert best == pytest.approx(F.two_task_sup(k), rel=1e-6)
    ks = np.arange(2, 3000)
    ratio = np.array([F.two_task_sup(int(k)) / F.evron_two_task_bound(int(k)) for k in ks])
    assert ratio.max() < 1 and ratio[-1] > 0.99  # tight as k grows: e (1 − 1/k)^k → 1
    assert F.evron_cyclic_bound(100, 3, 4) == pytest.approx(9 * min(0.1, 0.04))


def test_global_loss_after_ft_is_one_projection_through_the_engine():
    ev = M.engine_instances(CTX)
    assert ev["violations"] == 0 and ev["instances"] == 3
    assert max(ev["engine"].values()) < 1e-8


def test_a_global_loss_formula_without_the_projection_is_caught():
    def wrong(w_G, X_i, y_i, Sigmas, w_stars):  # the global model's own loss: FT "forgets" nothing
        E = w_G[None, :] - np.asarray(w_stars)
        return np.einsum("jd,jde,je->j", E, np.asarray(Sigmas), E)

    assert M.engine_instances(CTX, wrong)["violations"] == 1


def test_rotation_tasks_forget_nothing_without_rotation_and_something_with_it():
    g = np.random.default_rng(0)
    X = g.standard_normal((3, 20))
    y = X @ g.standard_normal(20)
    assert F.rotation_task_forgetting(X, y, 0, 1) == pytest.approx(0.0, abs=1e-20)
    assert F.rotation_task_forgetting(X, y, 20, 1) > 1e-4
    with pytest.raises(ValueError, match="p must be in"):
        F.rotation_task_forgetting(X, y, 21, 1)


def test_the_plug_in_claims_confirm_and_rerun_identically():
    vs = {v.id: v for v in run_checks(True, 0, fns=M.CHECKS)}
    assert {k: v.status for k, v in vs.items()} == dict.fromkeys(
        ["forgetting-projection", "forgetting-two-task-bound", "forgetting-cyclic-bound",
         "forgetting-similarity-nonmonotone"], "confirmed")
    assert vs["forgetting-two-task-bound"].evidence["sup_over_bound_max"] > 0.99
    for v in vs.values():
        assert v.declared["primary_protocol"] and (v.evidence.get("adversary") or v.evidence.get("effects"))
    again = run_one(M.CHECKS[0], CTX)
    assert again.evidence == vs["forgetting-projection"].evidence


# ---------------------------------------------------------------- mutations: a wrong closed form or bound is caught
def _claim(cid, **kw):
    return run_one(plugin.for_all(cid, "mutant", source="test", **kw), CTX)


@pytest.mark.parametrize("wrong", [
    lambda k, cos, a, R=1.0: F.two_task_forgetting(k + 1, cos, a, R),                  # cos^(2k) instead of ^(2(k−1))
    lambda k, cos, a, R=1.0: 0.5 * R ** 2 * np.sum(np.asarray(a) ** 2 * np.asarray(cos) ** (2 * k - 2)
                                                   * (1 - np.asarray(cos) ** 2)),      # weight 1/2 for ⌊k/2⌋/k
], ids=["exponent", "weight"])
def test_a_wrong_two_task_formula_is_refuted(wrong):
    space = M._space({"k": (1, 40), "R": (0.3, 3.0)}, ("k",))
    v = _claim(f"test-mut-forgetting-{id(wrong)}", kind="identity", tol=1e-9, space=space, budget=40,
               margin=lambda p: -M.closed_vs_procedure(p, wrong))
    assert v.status == "refuted" and v.counterexample["margin"] < -1e-9


@pytest.mark.parametrize("factor", [0.5, 0.8])
def test_a_bound_smaller_than_the_supremum_is_refuted(factor):
    small = lambda k, R=1.0, w=1.0: factor * F.evron_two_task_bound(k, R, w)  # noqa: E731
    v = _claim(f"test-mut-two-task-{factor}", space=M._space(
        {"k": (2, 60), "R": (0.3, 3.0), "s2": (0.05, 1.0), "s3": (0.05, 1.0)}, ("k",)), budget=40,
        margin=lambda p: M.two_task_margin(p, small), instances=lambda ctx: M.supremum_instances(ctx, small))
    assert v.status == "refuted"


def test_a_cyclic_bound_without_its_slack_is_refuted():
    tiny = lambda k, T, d, R=1.0, w=1.0: 1e-4 * F.evron_cyclic_bound(k, T, d, R, w)  # noqa: E731
    space = M.Space(tuple(M._CYC), tuple(x[0] for x in M._CYC.values()), tuple(x[1] for x in M._CYC.values()),
                    ("T", "cycles"))
    v = _claim("test-mut-cyclic", space=space, budget=30, margin=lambda p: M.cyclic_margin(p, tiny))
    assert v.status == "refuted"


def test_the_similarity_claim_can_come_out_against():
    fn = plugin.judged("test-mut-similarity", "reversed", effects=M.similarity_effects, expect_positive=False,
                       delta=0.002, source="test")
    assert run_one(fn, CTX).status in ("refuted", "mixed")


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="k must be in"):
        F.evron_two_task_bound(1)
    with pytest.raises(TypeError, match="k must be an integer"):
        F.two_task_forgetting(2.5, [0.5], [1.0])
    assert math.isclose(F.two_task_sup(1), 0.0)


def test_figure_numbers():
    from figures import forgetting as fig

    data = fig.compute(quick=True, seed=0)
    for c in data["by_theta"].values():
        np.testing.assert_allclose(c["closed"], c["procedure"], rtol=1e-10, atol=1e-14)
    assert all(s <= b for s, b in zip(data["sup"][1:], data["bound"][1:]))
    over = [e["mean"] for e in data["similarity"]["overparameterised (n = 2, d = 60)"]]
    assert 0 < int(np.argmax(over)) < len(over) - 1  # an interior peak
