"""Head/feature attribution of a global-loss change: exact by construction, zero where it must be."""
import numpy as np
from hypothesis import given, settings, strategies as st

import synthetic
from lpft_theory.attribution import attribution
from lpft_theory.metrics import cross_matrix
from lpft_theory.models import two_layer, two_layer_params
from lpft_theory.strategies import ft, lp


def _others(arch, sc):
    def evaluate(p):
        M = cross_matrix(arch, p, sc.population)
        return np.array([np.delete(M[i], i).mean() for i in range(M.shape[0])])
    return evaluate


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.01, 0.1), st.integers(1, 20))
def test_parts_add_up_to_the_total_change(seed, eta, T):
    """Stable steps only (η ≤ 0.1 < the Gauss–Newton stable step of these instances); round-off scales
    with the size of the terms."""
    sc = synthetic.concept_shift(7, 2, 3, 1.0, rng=seed)
    arch = two_layer(sc.d, 5)
    pG = two_layer_params(*synthetic.idealised_init(sc))
    a = attribution(_others(arch, sc), pG, ft(eta, T)(arch, pG, sc.population).params)
    scale = max(1.0, float(np.max(np.abs([a["base"], a["head"], a["feature"], a["total"]]))))
    np.testing.assert_allclose(a["head"] + a["feature"] + a["interaction"], a["total"], rtol=0, atol=1e-12 * scale)


def test_linear_probing_moves_only_the_head():
    sc = synthetic.concept_shift(7, 2, 3, 1.0, rng=1)
    arch = two_layer(sc.d, 5)
    pG = two_layer_params(*synthetic.idealised_init(sc))
    a = attribution(_others(arch, sc), pG, lp("exact")(arch, pG, sc.population).params)
    assert np.abs(a["feature"]).max() == 0 and np.abs(a["interaction"]).max() < 1e-12
    np.testing.assert_allclose(a["head"], a["total"], atol=1e-12)
    assert np.all(a["total"] > 0.1)  # LP alone raises the other clients' loss: a head-only drop


def test_the_mechanism_rule_refutes_a_drop_carried_by_the_head():
    """Mutation test of chen-mechanism-feature-distortion's rule: converged LP moves only the head, so the
    effect (feature + interaction − head) is negative on every seed and the rule must refute."""
    from lpft_theory.stats import mean_ci
    from paper_checks.verdict import judge

    effects = []
    for seed in range(5):
        sc = synthetic.concept_shift(7, 2, 3, 1.0, rng=seed)
        arch = two_layer(sc.d, 5)
        pG = two_layer_params(*synthetic.idealised_init(sc))
        a = attribution(_others(arch, sc), pG, lp("exact")(arch, pG, sc.population).params)
        effects.append(float(np.mean(a["feature"] + a["interaction"] - a["head"])))
    assert judge({"LP": mean_ci(effects)}).status == "refuted"
