"""Protocols: equal-budget identities, the stability guard, selection that never reads test data, the
matched-Local statistic, and the protocol-robustness table."""
from dataclasses import replace

import numpy as np
import pytest

import synthetic
from lpft_theory import studies
from lpft_theory.dynamics import stable_step
from lpft_theory.models import DeepLinear
from lpft_theory.protocol import FIXED, VARIANTS, Protocol, first_passage, global_model, matched_levels, rose, select
from lpft_theory.recipes import method
from lpft_theory.strategies import ft
from paper_checks._robustness import exact_ties, paired, robustness
from paper_checks.verdict import Judgement


@pytest.fixture(scope="module")
def setting():
    sc = synthetic.combined_shift(10, 2, 3, 1.0, eps=0.5, shift=1.0, geometry="random", rng=0)
    arch = DeepLinear(sc.d, (4,))
    return sc, arch, arch.init(1, scale=0.5)


def test_lpft_with_an_lp_of_zero_steps_is_ft_with_the_same_budget(setting):
    sc, arch, pG = setting
    a = method("LP-FT", 0.05, 17, knob=(0.0, 1.0), budget="equal")(arch, pG, sc.population)
    b = ft(0.05, 17)(arch, pG, sc.population)
    for x, y in zip(a.params, b.params):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name,knob", [("LP-FT", (0.5, 1.0)), ("LP-FT", (0.25, 0.1)), ("LP-reg-FT", (0.5, 1.0))])
def test_equal_budget_lpft_takes_exactly_T_steps(setting, name, knob):
    sc, arch, pG = setting
    traj = method(name, 0.05, 20, knob=knob, budget="equal")(arch, pG, sc.population)
    assert traj.losses.shape[0] == 20 + 1  # LP k steps + FT (T − k) steps, losses before each and at the end
    rec = method(name, 0.05, 20, knob=knob, budget="recipe")(arch, pG, sc.population)
    if name == "LP-FT":  # the papers' recipe: exact LP (one jump) then T FT steps
        assert rec.losses.shape[0] == 20 + 2


def test_the_guard_trips_on_a_too_large_step_and_not_on_a_stable_one(setting):
    sc, _, _ = setting
    lin = DeepLinear(sc.d, ())  # linear model: 2/λ_max(Hessian) is exact
    p0 = lin.init(0)
    eta_max, exact = stable_step(lin, p0, sc.population)
    assert exact
    bad = ft(1.1 * eta_max, 30)(lin, p0, sc.population)
    good = ft(0.9 * eta_max, 30)(lin, p0, sc.population)
    assert rose(bad.losses, 1e-6).all() and not rose(good.losses, 1e-6).any()


def test_round_off_after_interpolation_is_not_instability(setting):
    """Relative to the current loss, a 1e-17 → 3e-17 wiggle is a 200% rise; relative to L_0 it is nothing."""
    L = np.array([[1.0], [1e-3], [1e-17], [3e-17]])
    assert not rose(L, 1e-9).any()
    assert rose(np.array([[1.0], [0.5], [0.6]]), 1e-6).all()


def test_selection_reads_validation_rows_only():
    rows = [{"lr": lr, "val_local": vl, "val_global": vg, "unstable": u}
            for lr, vl, vg, u in [(0.1, 0.1, 0.9, 0), (0.2, 0.3, 0.4, 0), (0.3, 0.0, 0.0, 2)]]
    pick = select(rows, Protocol(select_weight=0.5))  # rows carry no test numbers at all
    assert pick["lr"] == 0.2 and pick["stable"]  # the unstable row is excluded although its losses are lowest
    assert select(rows, Protocol(select_weight=0.0))["lr"] == 0.1
    assert select([rows[2]], FIXED)["stable"] is False


def test_the_study_selects_the_same_configurations_whatever_the_test_data(monkeypatch):
    proto = replace(VARIANTS["tuned"], n_seeds=(2, 2), lrs=(0.02, 0.1), steps=(5, 20))
    methods = ("FT", "Proximal", "LP-FT")

    def picks():
        studies.comparison.cache_clear()
        st = studies.comparison("combined", True, 0, proto, methods)
        return [{m: (v["lr"], v["steps"], str(v["knob"])) for m, v in s["selected"].items()} for s in st["seeds"]], st

    honest, st = picks()
    g = np.random.default_rng(0)
    monkeypatch.setattr(studies._Setting, "test_matrix", lambda self, p: g.random((self.C, self.C)))
    poisoned, st2 = picks()
    studies.comparison.cache_clear()
    assert honest == poisoned
    assert studies.selected_column(st, "FT", "global") != studies.selected_column(st2, "FT", "global")


def test_first_passage_and_matched_levels():
    local, glob = [1.0, 0.6, 0.2], [0.0, 1.0, 3.0]
    assert first_passage(local, glob, 0.4) == pytest.approx(2.0)
    assert first_passage(local, glob, 1.0) == 0.0 and np.isnan(first_passage(local, glob, 0.1))
    levels = matched_levels({"a": [[1.0, 0.0], [0.2, 1.0]], "b": [[1.0, 0.0], [0.5, 2.0]]}, (0.5, 1.0))
    assert levels == {0.5: pytest.approx(0.75), 1.0: pytest.approx(0.5)}


def test_plateau_and_fixed_global_models(setting):
    sc, arch, _ = setting
    val = sc.sample(50, 3)
    ev = lambda p: float(np.mean(arch.loss(p, val)))  # noqa: E731
    p, info = global_model(arch, sc.population, ev, 0, FIXED)
    assert info["converged"] and info["curve"][-1][0] == info["rounds_run"] < FIXED.global_rounds
    assert ev(p) == min(s for _, s in info["curve"])  # early stopping: the best validated model is kept
    _, short = global_model(arch, sc.population, ev, 0, VARIANTS["short global model"])
    assert short["rounds"] == 20 and short["curve"][-1][1] > info["curve"][-1][1]


@pytest.mark.parametrize("kw,match", [(dict(global_rule="best"), "global_rule"), (dict(budget="double"), "budget"),
                                      (dict(lrs=()), "lrs"), (dict(select_weight=1.5), "select_weight"),
                                      (dict(n_seeds=(1, 5)), "n_seeds"), (dict(steps=(0,)), "steps")])
def test_protocol_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        Protocol(**kw)


def test_robustness_names_the_variants_that_flip_the_verdict():
    js = {"fixed recipe": Judgement("refuted", {}, ""), "tuned": Judgement("confirmed", {}, ""),
          "equal budget": Judgement("refuted", {}, "")}
    r = robustness(js, "fixed recipe")
    assert r["protocol_robustness"] == {"fixed recipe": "refuted", "tuned": "confirmed", "equal budget": "refuted"}
    assert "'tuned' (confirmed)" in r["robustness_summary"] and "equal budget" not in r["robustness_summary"]


def test_exact_ties_are_detected():
    e = {"tie": paired([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), "gap": paired([1.0, 2.0, 3.0], [0.0, 2.5, 3.0])}
    assert exact_ties(e) == ["tie"]
