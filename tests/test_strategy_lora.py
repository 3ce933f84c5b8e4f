"""LoRA fine-tuning (lpft_theory.strategies.lora): its update rule and reduces-to identities."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lpft_theory.data import Samples
from lpft_theory.models import DeepLinear
from lpft_theory.strategies import ft, lora_factors, lora_ft, lp, registry
from synthetic import concept_shift


def _setup(seed=0, d=6, k=3, C=2):
    sc = concept_shift(d, 1, C, 1.0, rng=seed)
    arch = DeepLinear(d, (k,))
    return arch, arch.init(seed + 1), sc.population


def test_zero_steps_is_the_global_model():
    arch, pG, pop = _setup()
    tr = lora_ft(0.1, 0, 2).fit(arch, pG, pop, rng=3)
    for p, q in zip(tr.params, pG):
        np.testing.assert_array_equal(p, np.broadcast_to(q, p.shape))


def test_rank_zero_is_lp_by_gd_and_frozen_head_moves_nothing():
    arch, pG, pop = _setup()
    a = lora_ft(0.05, 7, 0).fit(arch, pG, pop)
    b = lp("steps", eta=0.05, steps=7).fit(arch, pG, pop)
    for p, q in zip(a.params, b.params):
        np.testing.assert_allclose(p, q, rtol=1e-13, atol=1e-15)
    c = lora_ft(0.05, 7, 0, freeze_head=True).fit(arch, pG, pop)
    for p, q in zip(c.params, pG):
        np.testing.assert_array_equal(p, np.broadcast_to(q, p.shape))


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_full_rank_orthogonal_first_step_equals_ft(loss):
    g = np.random.default_rng(0)
    d, k, p = 5, 3, 3
    arch = DeepLinear(d, (k,), p)
    pG = arch.init(1)
    data = Samples(g.standard_normal((2, 8, d)), g.integers(0, p, (2, 8)) if loss == "ce" else g.standard_normal((2, 8, p)))
    a = lora_ft(0.2, 1, d, init="orthogonal").fit(arch, pG, data, loss=loss, rng=4)
    b = ft(0.2, 1).fit(arch, pG, data, loss=loss)
    for x, y in zip(a.params, b.params):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


@settings(max_examples=15)
@given(d=st.integers(3, 8), k=st.integers(1, 4), r=st.integers(1, 6), seed=st.integers(0, 10_000),
       eta=st.floats(0.01, 0.3), freeze=st.booleans())
def test_first_step_closed_form(d, k, r, seed, eta, freeze):
    """W_1 − W_G = −η g_W A_2ᵀA_2 (A_1 = 0, so A_2 does not move in the first step); V as GD or frozen."""
    arch, pG, pop = _setup(seed % 50, d, k)
    tr = lora_ft(eta, 1, r, freeze_head=freeze).fit(arch, pG, pop, rng=seed)
    start = tuple(np.broadcast_to(p, (2,) + p.shape) for p in pG)
    _, (gB, gV) = arch.value_and_grad(start, pop)
    _, A2 = lora_factors((2, k, d), r, seed)
    np.testing.assert_allclose(tr.params[0] - start[0], -eta * gB @ np.swapaxes(A2, -1, -2) @ A2, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(tr.params[1], start[1] if freeze else start[1] - eta * gV, rtol=1e-12, atol=1e-15)


def test_update_stays_rank_r():
    arch, pG, pop = _setup(1, d=8, k=5)
    tr = lora_ft(0.1, 40, 2).fit(arch, pG, pop, rng=1)
    s = np.linalg.svd(tr.params[0] - pG[0], compute_uv=False)
    assert np.all(s[:, 2:] < 1e-12 * s[:, :1]) and np.all(s[:, 1] > 1e-6 * s[:, 0])
    assert np.all(np.diff(tr.losses, axis=0) <= 1e-12)  # small steps: the loss decreases


def test_seeded_and_registered():
    arch, pG, pop = _setup()
    a = lora_ft(0.1, 5, 2).fit(arch, pG, pop, rng=7)
    b = lora_ft(0.1, 5, 2).fit(arch, pG, pop, rng=7)
    np.testing.assert_array_equal(a.params[0], b.params[0])

    class Cfg:
        eta, steps, flood, lora_rank = 0.1, 3, 0.0, 2
    s = registry.build("lora", Cfg())
    assert s.name == "LoRA[r=2]" and "A_1" in s.equation and "lora" in registry.describe()


@pytest.mark.parametrize("kw, exc, word", [
    (dict(rank=-1), ValueError, "rank"), (dict(rank=1.5), TypeError, "rank"), (dict(sigma=0.0), ValueError, "sigma"),
    (dict(init="uniform"), ValueError, "init"), (dict(freeze_head=1), TypeError, "freeze_head"),
    (dict(eta=-0.1), ValueError, "eta"), (dict(steps=-1), ValueError, "steps")])
def test_bad_inputs(kw, exc, word):
    args = {"eta": 0.1, "steps": 2, "rank": 2, **kw}
    with pytest.raises(exc, match=word):
        lora_ft(args.pop("eta"), args.pop("steps"), args.pop("rank"), **args)


def test_orthogonal_rank_above_input_dim_refused():
    arch, pG, pop = _setup(d=4)
    with pytest.raises(ValueError, match="rank"):
        lora_ft(0.1, 1, 5, init="orthogonal").fit(arch, pG, pop)
