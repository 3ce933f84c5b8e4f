"""The strategy zoo: a reduces-to identity for every strategy, every strategy on every model, bad input."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import synthetic
from lpft_theory import Samples, deep_linear, linear, two_layer, two_layer_params, two_layer_relu
from lpft_theory.dynamics import sgd
from lpft_theory.strategies import (alignment_grads, exact_head, flooded, ft, global_only, local_only, lp, lp_ft,
                                    lss, proximal_ft, purified_ft, purify, residual, snip_masks, soup, sparse_ft,
                                    split_ft, teacher_data)

ETA, STEPS = 0.05, 6


@pytest.fixture(scope="module")
def setting():
    sc = synthetic.concept_shift(12, 2, 4, 0.8, rng=0)
    arch = two_layer(12, 6)
    # a global model that is not a stationary point of any client, so every strategy moves
    params_G = two_layer_params(*synthetic.idealised_init(sc))
    params_G = (params_G[0] + 0.05 * np.random.default_rng(1).standard_normal(params_G[0].shape), params_G[1])
    return sc, arch, params_G


def _same(a, b, rtol=1e-12, atol=1e-14):
    for x, y in zip(a.params, b.params):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def _fit(strategy, setting, **kw):
    sc, arch, pG = setting
    return strategy(arch, pG, sc.population, **kw)


def test_lp_ft_without_lp_is_ft(setting):
    _same(_fit(lp_ft(ETA, STEPS, None), setting), _fit(ft(ETA, STEPS), setting))
    _same(_fit(lp_ft(ETA, STEPS, lp("steps", eta=ETA, steps=0)), setting), _fit(ft(ETA, STEPS), setting))


def test_lp_ft_is_lp_then_ft(setting):
    sc, arch, pG = setting
    probed = lp()(arch, pG, sc.population).params
    _same(_fit(lp_ft(ETA, STEPS), setting), ft(ETA, STEPS)(arch, tuple(p for p in probed), sc.population))


def test_exact_lp_zero_head_gradient_and_partial_endpoints(setting):
    sc, arch, pG = setting
    exact = lp()(arch, pG, sc.population).params
    _, grads = arch.value_and_grad(exact, sc.population)
    assert np.abs(grads[1]).max() < 1e-12  # first-order optimality in V
    np.testing.assert_array_equal(exact[0], np.broadcast_to(pG[0], exact[0].shape))  # body untouched
    _same(_fit(lp("partial", alpha=1.0), setting), _fit(lp(), setting))
    _same(_fit(lp("partial", alpha=0.0), setting), _fit(global_only(), setting))
    half = _fit(lp("partial", alpha=0.5), setting).params[1]
    np.testing.assert_allclose(half, 0.5 * (exact[1] + pG[1]), rtol=1e-12)


def test_proximal_reduces_to_ft_and_to_global(setting):
    _same(_fit(proximal_ft(ETA, STEPS, 0.0), setting), _fit(ft(ETA, STEPS), setting))
    _same(_fit(proximal_ft(ETA, STEPS, 1e15), setting), _fit(global_only(), setting), atol=1e-12)


def test_sparse_rate_zero_is_ft_and_mask_is_snip(setting):
    _same(_fit(sparse_ft(ETA, STEPS, 0.0), setting), _fit(ft(ETA, STEPS), setting))
    g = (np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([[4.0], [1.0]]))
    p = (np.array([[1.0, 1.0], [0.0, 1.0]]), np.array([[0.1], [2.0]]))
    masks = snip_masks(g, p, 0.5)  # scores |g⊙θ|: [1, 2, 0, 3 | 0.4, 2] -> the 3 smallest masked
    np.testing.assert_array_equal(masks[0], [[0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_array_equal(masks[1], [[0.0], [1.0]])


@given(rate=st.floats(0, 0.99), seed=st.integers(0, 1000))
def test_snip_masks_exact_fraction(rate, seed):
    rng = np.random.default_rng(seed)
    g = (rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 1)))
    p = (rng.standard_normal((4, 5)), rng.standard_normal((4, 1)))
    masks = snip_masks(g, p, rate)
    masked = sum((1 - m).reshape(3, -1).sum(axis=1) for m in masks)
    np.testing.assert_array_equal(masked, round(rate * 24))


@pytest.mark.parametrize("mode", ["perturb", "bootstrap"])
def test_soup_of_one_is_ft(setting, mode):
    sc, arch, pG = setting
    data = sc.sample(30, rng=2) if mode == "bootstrap" else sc.population
    a = soup(ETA, STEPS, 1, sigma=0.1, mode=mode)(arch, pG, data, rng=3)
    b = ft(ETA, STEPS)(arch, pG, data)
    _same(a, b)


def test_soup_averages_ingredients(setting):
    sc, arch, pG = setting
    s = soup(ETA, STEPS, 3, sigma=0.05)(arch, pG, sc.population, rng=3).params
    f = ft(ETA, STEPS)(arch, pG, sc.population).params
    assert 0 < np.abs(s[0] - f[0]).max() < 0.1  # different from FT, but only by the perturbations' effect


def test_lss_reduces_to_ft(setting):
    _same(_fit(lss(ETA, STEPS, n_verts=0, aff=0.0), setting), _fit(ft(ETA, STEPS), setting))


def test_lss_affinity_pulls_toward_global(setting):
    sc, arch, pG = setting
    from lpft_theory.metrics import distortion
    free = lss(ETA, STEPS, n_verts=0, aff=0.0)(arch, pG, sc.population).params
    tied = lss(ETA, STEPS, n_verts=0, aff=5.0)(arch, pG, sc.population).params
    assert distortion(tied[0], pG[0]).mean() < distortion(free[0], pG[0]).mean()


def test_purification_without_conflict_is_plain_gradient(setting):
    sc, arch, pG = setting
    _same(_fit(purified_ft(ETA, STEPS, lam=0.0), setting), _fit(ft(ETA, STEPS), setting))
    # teacher = the clients' own optimum: g_KD and g_CE point the same way, so nothing is projected
    params = tuple(np.broadcast_to(p, (4,) + p.shape) for p in pG)
    kd = sc.population
    t = purify(ETA, arch, kd, 1.0)
    _, grads = arch.value_and_grad(params, sc.population)
    step, state = t.update(grads, t.init(params), params, None, 0)
    assert state["conflicts"] == 0
    for s, g in zip(step, grads):
        np.testing.assert_allclose(s, ETA * g, rtol=1e-14)


@given(seed=st.integers(0, 10_000), lam=st.floats(0, 1))
def test_purified_direction_properties(seed, lam):
    """With a conflict, g' = g − λ⟨g,k̂⟩k̂: λ = 1 makes g' ⟂ k, and always ⟨g', k⟩ >= ⟨g, k⟩."""
    rng = np.random.default_rng(seed)
    sc = synthetic.concept_shift(8, 1, 2, 1.0, rng=seed)
    arch = two_layer(8, 3)
    params = arch.init(rng, batch=(2,))
    teacher = arch.init(rng.integers(1 << 30), batch=(2,))
    kd = teacher_data(arch, teacher, sc.population)
    _, g = arch.value_and_grad(params, sc.population)
    _, k = arch.value_and_grad(params, kd)
    step, _ = purify(1.0, arch, kd, lam).update(g, purify(1.0, arch, kd, lam).init(params), params, None, 0)
    for s, gb, kb in zip(step, g, k):
        for c in range(2):
            dot_before = np.sum(gb[c] * kb[c])
            dot_after = np.sum(s[c] * kb[c])
            assert dot_after >= dot_before - 1e-12
            if dot_before < 0 and lam == 1.0:
                assert abs(dot_after) < 1e-10 * np.linalg.norm(gb[c]) * np.linalg.norm(kb[c]) + 1e-14


def test_residual_alpha_zero_is_lp_by_gd(setting):
    _same(_fit(residual(ETA, STEPS, 0.0), setting), _fit(lp("steps", eta=ETA, steps=STEPS), setting))


def test_residual_keeps_body_and_sums_heads(setting):
    sc, arch, pG = setting
    out = residual(ETA, STEPS, 0.99)(arch, pG, sc.population).params
    np.testing.assert_array_equal(out[0], np.broadcast_to(pG[0], out[0].shape))
    assert not np.allclose(out[1], pG[1])


def test_split_endpoints(setting):
    _same(_fit(split_ft(ETA, STEPS, 1, lam=0.0), setting), _fit(ft(ETA, STEPS), setting))
    _same(_fit(split_ft(ETA, STEPS, 0, lam=0.7), setting), _fit(lp("steps", eta=ETA, steps=STEPS), setting))


def test_split_heterogeneous_and_deep():
    sc = synthetic.concept_shift(12, 2, 3, 1.0, rng=0)
    arch = deep_linear(12, (6, 5, 4))
    pG = arch.init(1, scale=1.0)
    out = split_ft(0.02, 4, [0, 1, 3], lam=0.5)(arch, pG, sc.population).params
    for k, s in enumerate([0, 1, 3]):
        for b in range(3):
            moved = not np.allclose(out[b][k], pG[b])
            assert moved == (b < s), (k, b)


def test_alignment_gradient_matches_finite_differences():
    """A = E‖h_s(θ) − h_s(θ_G)‖² on population moments: analytic vs central differences."""
    sc = synthetic.combined_shift(8, 1, 2, 1.0, rng=0)
    arch = deep_linear(8, (5, 4))
    anchor = arch.init(0)
    params = tuple(p + 0.1 * np.random.default_rng(1).standard_normal(p.shape) for p in anchor)
    mom = sc.population[0]

    def A(ps):
        D = ps[1] @ ps[0] - anchor[1] @ anchor[0]
        return np.trace(D @ mom.Sigma @ D.T)

    g = alignment_grads(arch, params, anchor, mom, 2)
    h = 1e-6
    for b in range(2):
        fd = np.zeros_like(params[b])
        for idx in np.ndindex(params[b].shape):
            up = [p.copy() for p in params]
            dn = [p.copy() for p in params]
            up[b][idx] += h
            dn[b][idx] -= h
            fd[idx] = (A(up) - A(dn)) / (2 * h)
        np.testing.assert_allclose(g[b], fd, rtol=1e-6, atol=1e-8)
    assert np.all(g[2] == 0)


def test_flooding_b_zero_is_identity_and_floods_above_b(setting):
    _same(_fit(flooded(ft(ETA, STEPS), 0.0), setting), _fit(ft(ETA, STEPS), setting))
    _same(_fit(flooded(lp_ft(ETA, STEPS, lp("steps", eta=ETA, steps=3)), 0.0), setting),
          _fit(lp_ft(ETA, STEPS, lp("steps", eta=ETA, steps=3)), setting))
    sc, arch, pG = setting
    traj = flooded(ft(0.05, 200), 0.3)(arch, pG, sc.population)
    assert np.all(traj.losses[-20:] > 0.2) and np.all(traj.losses[-20:] < 0.4)  # hovers at b
    plain = ft(0.05, 200)(arch, pG, sc.population)
    assert np.all(plain.losses[-1] < 0.1)


def test_local_only_ignores_global_model(setting):
    sc, arch, pG = setting
    a = local_only(ETA, STEPS)(arch, pG, sc.population, rng=5).params
    b = local_only(ETA, STEPS)(arch, tuple(2 * p for p in pG), sc.population, rng=5).params
    _same(type("T", (), {"params": a}), type("T", (), {"params": b}))


ALL = {
    "global": lambda: global_only(), "local": lambda: local_only(0.02, 3), "ft": lambda: ft(0.02, 3),
    "lp-steps": lambda: lp("steps", eta=0.02, steps=3), "lp-ft": lambda: lp_ft(0.02, 3, lp("steps", eta=0.02, steps=2)),
    "proximal": lambda: proximal_ft(0.02, 3, 1.0), "sparse": lambda: sparse_ft(0.02, 3, 0.5),
    "soup": lambda: soup(0.02, 3, 2), "lss": lambda: lss(0.02, 2, n_verts=1),
    "purified": lambda: purified_ft(0.02, 3), "residual": lambda: residual(0.02, 3),
    "split": lambda: split_ft(0.02, 3, "cycle"), "flooded": lambda: flooded(ft(0.02, 3), 0.5),
}
MODELS = {"linear": lambda p: linear(6, p), "two-layer": lambda p: two_layer(6, 4, p),
          "deep": lambda p: deep_linear(6, (4, 3), p), "relu": lambda p: two_layer_relu(6, 5, p)}


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("task", ["regression", "classification"])
def test_every_strategy_on_every_model(name, model, task):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 20, 6))
    if task == "regression":
        data, p, loss = Samples(X, rng.standard_normal((3, 20, 1))), 1, "mse"
    else:
        data, p, loss = Samples(X, rng.integers(0, 3, size=(3, 20))), 3, "ce"
    arch = MODELS[model](p)
    pG = arch.init(1)
    traj = ALL[name]()(arch, pG, data, loss=loss, rng=2)
    assert len(traj.params) == len(pG)
    for q, g in zip(traj.params, pG):
        assert q.shape == (3,) + g.shape and np.all(np.isfinite(q))


@pytest.mark.parametrize("call,match", [
    (lambda: lp("partial", alpha=1.5), "alpha must be in"),
    (lambda: lp("steps"), "needs a learning rate"),
    (lambda: lp("closed"), "mode must be one of"),
    (lambda: proximal_ft(0.1, 1, -1.0), "mu must be in"),
    (lambda: sparse_ft(0.1, 1, 1.0), r"rate must be in \[0.0, 1.0\)"),
    (lambda: sparse_ft(0.1, 1, -0.1), "rate must be in"),
    (lambda: soup(0.1, 1, 0), "size must be in"),
    (lambda: residual(0.1, 1, 1.2), "alpha must be in"),
    (lambda: split_ft(0.1, 1, 1, lam=-1.0), "lam must be in"),
    (lambda: split_ft(0.1, 1, "top"), "splits must be"),
    (lambda: flooded(ft(0.1, 1), -0.5), "b must be in"),
    (lambda: ft(-0.1, 1), "eta"),
    (lambda: lss(0.1, 1, div=-1.0), "div must be in"),
])
def test_bad_parameters(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_split_point_out_of_range(setting):
    sc, arch, pG = setting
    with pytest.raises(ValueError, match=r"split points must be in \[0, 1\]"):
        split_ft(0.1, 1, 2)(arch, pG, sc.population)
    with pytest.raises(ValueError, match="one entry per client"):
        split_ft(0.1, 1, [0, 1])(arch, pG, sc.population)


def test_exact_lp_rejects_cross_entropy():
    arch = two_layer(4, 2, 3)
    data = Samples(np.zeros((1, 5, 4)), np.zeros((1, 5), dtype=int))
    with pytest.raises(ValueError, match="mode='steps'"):
        exact_head(arch, arch.init(0), data, "ce")


def test_sgd_is_the_ft_transform(setting):
    sc, arch, pG = setting
    from lpft_theory.dynamics import run
    start = tuple(np.broadcast_to(p, (4,) + p.shape) for p in pG)
    _same(run(arch, start, sc.population, sgd(ETA), STEPS), _fit(ft(ETA, STEPS), setting))
