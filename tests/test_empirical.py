"""The real-data path: digits splits, the torch adapter (vmap = sequential), strategies on torch, errors."""
import numpy as np
import pytest
import torch

from lpft_theory.data import Samples, stack_clients
from lpft_theory.empirical.digits import SCENARIOS, split
from lpft_theory.empirical.experiment import RealConfig
from lpft_theory.empirical.torch_arch import cnn, mlp
from lpft_theory.strategies import ft, split_ft


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_splits_are_deterministic_and_every_client_gets_data(scenario):
    a, b = split(scenario, 8, seed=3), split(scenario, 8, seed=3)
    c = split(scenario, 8, seed=4)
    assert all(t.n >= 1 for t in a.train) and all(t.n >= 1 for t in a.test)
    for x, y in zip(a.train, b.train):
        np.testing.assert_array_equal(x.X, y.X)
        np.testing.assert_array_equal(x.Y, y.Y)
    assert any(not np.array_equal(x.X, y.X) for x, y in zip(a.train, c.train))
    total = sum(t.n for t in a.train) + sum(t.n for t in a.test)
    assert total <= 1797 and (scenario == "longtail" or total == 1797)


def test_split_shifts_do_what_they_say():
    conc = split("concept", 4, seed=0)
    assert all("labels permuted" in m for m in conc.meta["clients"])
    ov = split("overlap", 4, seed=0, overlap=0.5, visible=0.5)
    masks = [np.any(t.X != 0, axis=0) for t in ov.train]
    assert all(m.sum() <= 32 for m in masks)
    lab = split("label", 5, seed=0, classes_per_client=2)
    assert all(len(np.unique(t.Y)) <= 2 for t in lab.train)
    assert sum(t.n for t in lab.train) + sum(t.n for t in lab.test) == 1797  # 5 clients x 2 = 10 shards
    lt = split("longtail", 5, seed=0)
    assert set(np.concatenate(list(lt.groups.values())).tolist()) == set(range(10))


def test_shift_invert_covariate_preserves_information_and_differs_per_client():
    """Each client's images are its IID share of digits, cyclically translated by its own offset and inverted on odd
    clients: undoing that recovers the untransformed split exactly (nothing is lost), and no two clients agree."""
    from lpft_theory.empirical.digits import OFFSETS

    new = split("covariate", 6, seed=2, transform="shift-invert")
    plain = split("covariate", 6, seed=2, strength=0.0)  # the same partition, transforms of strength 0
    for k, (a, b) in enumerate(zip(new.train, plain.train)):
        dx, dy = OFFSETS[k]
        img = a.X.reshape(-1, 8, 8)
        img = 1.0 - img if k % 2 else img
        back = np.roll(img, (-dy, -dx), axis=(1, 2)).reshape(-1, 64)
        if k % 4 in (0, 1):  # strength 0 leaves rotation (k = 0) and contrast (k = 1) images as they are
            np.testing.assert_allclose(back, b.X, atol=1e-12)
        np.testing.assert_array_equal(a.Y, b.Y)
        assert ("inverted" in new.meta["clients"][k]) == bool(k % 2)
    firsts = [t.X[0] for t in new.train]
    assert len({f.tobytes() for f in firsts}) == len(firsts)
    with pytest.raises(ValueError, match="transform must be one of"):
        split("covariate", 4, transform="blur")


@pytest.mark.parametrize("make", [mlp, cnn])
def test_vmap_path_equals_sequential_path(make):
    rng = np.random.default_rng(0)
    data = Samples(rng.random((5, 30, 64)), rng.integers(0, 10, (5, 30)))
    params = make().init(1, batch=(5,))
    v1, g1 = make().value_and_grad(params, data, "ce")
    v2, g2 = make(sequential=True).value_and_grad(params, data, "ce")
    np.testing.assert_allclose(v1, v2, rtol=1e-6, atol=1e-12)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)
    p1 = make().predict(params, data.X)
    p2 = make(sequential=True).predict(params, data.X)
    np.testing.assert_allclose(p1, p2, rtol=1e-6, atol=1e-12)


def test_torch_gradient_matches_finite_differences_and_torch_reference():
    rng = np.random.default_rng(1)
    arch = mlp(h=8)
    data = Samples(rng.random((20, 64)), rng.integers(0, 10, 20))
    params = arch.init(2)
    value, grads = arch.value_and_grad(params, data, "ce")
    h = 1e-6
    for b, idx in ((0, (0, 0)), (1, (3, 2)), (2, (5, 7))):
        up = [p.copy() for p in params]
        up[b][idx] += h
        dn = [p.copy() for p in params]
        dn[b][idx] -= h
        fd = (arch.loss(tuple(up), data, "ce") - arch.loss(tuple(dn), data, "ce")) / (2 * h)
        assert grads[b][idx] == pytest.approx(fd, rel=1e-6, abs=1e-9)
    ref = torch.nn.functional.cross_entropy(torch.tensor(arch.predict(params, data.X)), torch.tensor(data.Y))
    assert value == pytest.approx(ref.item(), rel=1e-12)


def test_weighted_padding_on_torch_equals_ragged():
    rng = np.random.default_rng(2)
    clients = [Samples(rng.random((n, 64)), rng.integers(0, 10, n)) for n in (5, 9, 3)]
    arch = mlp(h=8)
    params = arch.init(0)
    v_all, _ = arch.value_and_grad(params, stack_clients(clients), "ce")
    for i, c in enumerate(clients):
        assert v_all[i] == pytest.approx(arch.loss(params, c, "ce"), rel=1e-12)


def test_strategies_run_on_torch_and_split_reduces_to_ft():
    rng = np.random.default_rng(3)
    data = Samples(rng.random((3, 20, 64)), rng.integers(0, 10, (3, 20)))
    arch = mlp(h=8)
    pG = arch.init(0)
    a = split_ft(0.1, 3, 2, lam=0.0)(arch, pG, data, loss="ce").params
    b = ft(0.1, 3)(arch, pG, data, loss="ce").params
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kw,match", [(dict(scenario="rotated"), "scenario must be one of"),
                                      (dict(model="resnet"), "model must be one of"),
                                      (dict(seeds=1), "seeds must be in"), (dict(eta=0.0), "eta must be in"),
                                      (dict(eta=0.3), "must be one of etas"),
                                      (dict(recipe_steps=30), "must be one of steps"),
                                      (dict(lp_steps=(5, 40)), "lp_steps must be < min"),
                                      (dict(rates=(0.5,)), "same length"),
                                      (dict(eta_scales=(0.5, 1.0)), "must start with 1.0"),
                                      (dict(etas=()), "etas must be a non-empty tuple"),
                                      (dict(rates=(1.0, 0.5)), r"rates\[0\] must be in")])
def test_real_config_errors(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        RealConfig(**kw).validate()


def test_split_errors():
    with pytest.raises(ValueError, match="n_clients must be in"):
        split("label", 1)
    with pytest.raises(ValueError, match="overlap must be in"):
        split("overlap", 4, overlap=1.5)
