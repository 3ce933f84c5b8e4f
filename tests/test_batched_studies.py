"""The batched studies equal the per-seed loops they replaced (issue 26 item 3).

The studies now run every seed of a study — and its step sizes, flood levels, split points and alignment
strengths — as one engine call, and train the global models of all seeds as one FedAvg batch. This file keeps
the previous per-seed loops as reference implementations (one seed, one setting per call, as the studies
were written before) and compares every number of the batched studies with them on small configurations,
to 1e-12 relative (float64); the building blocks (random streams per group of clients, per-client flood
levels and alignment strengths, FedAvg of several runs, plateaus of several runs, head-only runs on frozen
features) are compared one by one as well.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import synthetic
from lpft_theory import studies
from lpft_theory.attribution import attribution
from lpft_theory.dynamics import Transform, run, sgd
from lpft_theory.federated import fedavg, fedavg_runs, to_plateau, to_plateau_runs
from lpft_theory.metrics import cross_matrix, distortion, summarize
from lpft_theory.models import DeepLinear
from lpft_theory.protocol import FIXED, Protocol, global_model, global_models, rose, select
from lpft_theory.recipes import CONTROLS, PREFIX_CONSISTENT, TABLE2, method
from lpft_theory.rng import spawn
from lpft_theory.strategies import flooded, ft, lp, lp_ft, lss, proximal_ft, residual, soup, sparse_ft, split_ft
from lpft_theory.strategies.base import broadcast_clients, head_only, run_wrapped

RTOL = 1e-12
# small protocols: two seeds; a tuned grid (step sizes × step counts × knobs, equal budgets, a fixed 10-round
# global model) and the recipe (plateau-trained global model, prefix-consistent runs read at two step counts)
TUNED = Protocol("test tuned", global_rule="fixed", global_rounds=10, budget="equal", lrs=(0.05, 0.1), steps=(2, 4),
                 tune_knobs=True, n_seeds=(2, 2))
RECIPE = Protocol("test recipe", global_rounds=30, chunk=5, steps=(3, 6), n_seeds=(2, 2))


def assert_equal_numbers(a, b, path="", rtol=RTOL):
    """Nested results equal: floats to ``rtol`` relative, everything else exactly (keys in the same order)."""
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_equal_numbers(a[k], b[k], f"{path}/{k}", rtol)
    elif isinstance(a, (list, tuple, np.ndarray)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_equal_numbers(x, y, f"{path}[{i}]", rtol)
    elif isinstance(a, (float, np.floating)):
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= rtol * max(abs(a), abs(b)), (path, a, b)
    else:
        assert a == b, (path, a, b)


def same_params(a, b):
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=RTOL, atol=0)


@pytest.fixture(autouse=True)
def fresh_cache():
    studies.clear_cache()
    yield
    studies.clear_cache()


# ------------------------------------------------------------------ the per-seed loops the studies replaced
def ref_setting(scenario, seed, protocol):
    """A setting with its global model trained alone (protocol.global_model, one seed per call)."""
    st = studies._Setting(scenario, seed, protocol.global_part(), train_global=False)
    st.pG, st.global_info = global_model(st.arch, st.train, st.val_score, seed, protocol.global_part(),
                                         eta=st.g_eta, loss=st.loss)
    return st


def ref_runs(st, proto, name, knob, lrs, steps):
    C, arch, out = st.C, st.arch, {}
    batched = name not in ("LSS", "Soup")
    for lr_group in ([lrs] if batched else [np.array([lr]) for lr in lrs]):
        eta = np.repeat(lr_group, C) if batched else float(lr_group[0])
        data = st.train[np.tile(np.arange(C), len(lr_group))]
        prefix = name in PREFIX_CONSISTENT or (proto.budget == "recipe" and name in ("LP-FT", "LP-FT (eta/10)")
                                               and st.loss == "mse")
        if name == "LP (exact)":
            traj = method(name, eta, 0, loss=st.loss)(arch, st.pG, data, loss=st.loss)
            runs = {T: (traj.params, traj.losses) for T in steps}
        elif prefix:
            off = 0 if name in PREFIX_CONSISTENT else 1
            traj = method(name, eta, max(steps), knob, proto.budget, st.loss)(arch, st.pG, data, loss=st.loss,
                                                                              rng=st.seed, record=True)
            runs = {T: (traj.snapshots[T + off], traj.losses[:T + off + 1]) for T in steps}
        else:
            runs = {T: (lambda tr: (tr.params, tr.losses))(method(name, eta, T, knob, proto.budget, st.loss)(
                arch, st.pG, data, loss=st.loss, rng=st.seed)) for T in steps}
        for T, (params, losses) in runs.items():
            unstable = rose(losses, proto.rise_tol)
            L = np.asarray(losses, float)
            rise = np.diff(L, axis=0).max(axis=0) / np.maximum(np.abs(L[0]), 1e-300) if len(L) > 1 else np.zeros(L.shape[1:])
            for g, lr in enumerate(lr_group):
                sl = slice(g * C, (g + 1) * C)
                out[(float(lr), T)] = (tuple(p[sl] for p in params), int(np.sum(unstable[sl])),
                                       float(np.max(rise[sl], initial=0.0)))
    return out


def ref_compare_seed(st, proto, methods):
    C = st.C
    lrs = np.array(proto.lrs) * st.lr_scale * st.lr_base
    M0 = st.test_matrix(studies._broadcast(st.pG, C))
    base = {"local": float(np.mean(np.diag(M0))), "global": float(np.mean(studies._others(M0)))}
    grid, selected, curves = [], {}, {}
    for name in methods:
        runs = {}
        for knob in proto.knobs(name):
            for (lr, T), r in ref_runs(st, proto, name, knob, lrs, proto.steps).items():
                V = st.val_matrix(r[0])
                grid.append({"method": name, "lr": lr, "steps": T, "knob": knob, "unstable": r[1], "max_rise": r[2],
                             "val_local": float(np.mean(np.diag(V))), "val_global": float(np.mean(studies._others(V)))})
                runs[(lr, T, str(knob))] = r
        pick = select([g for g in grid if g["method"] == name], proto)
        params, n_unst, rise = runs[(pick["lr"], pick["steps"], str(pick["knob"]))]
        M = st.test_matrix(params)
        selected[name] = {"lr": pick["lr"], "steps": pick["steps"], "knob": pick["knob"], "stable": pick["stable"],
                          "unstable_clients": n_unst, "max_rise": rise, "local": float(np.mean(np.diag(M))),
                          "global": float(np.mean(studies._others(M))),
                          "distortion": float(distortion(params[0], st.pG[0]).mean()), "attribution": st.attribution(params)}
        curve = [[base["local"], base["global"]]]
        for T in proto.steps:
            Mt = st.test_matrix(runs[(pick["lr"], T, str(pick["knob"]))][0])
            curve.append([float(np.mean(np.diag(Mt))), float(np.mean(studies._others(Mt)))])
        curves[name] = curve
    return {"seed": st.seed, "global_model": {**st.global_info, **base}, "selected": selected, "curves": curves,
            "grid": grid}


@pytest.mark.parametrize("scenario, proto", [("combined", TUNED), ("concept", TUNED), ("label", TUNED),
                                             ("combined", RECIPE), ("label", RECIPE)],
                         ids=["combined-tuned", "concept-tuned", "label-tuned", "combined-recipe", "label-recipe"])
def test_comparison_equals_the_per_seed_loop(scenario, proto):
    methods = TABLE2 + CONTROLS
    batched = studies.comparison(scenario, True, 0, proto, methods)["seeds"]
    loop = [ref_compare_seed(ref_setting(scenario, s, proto), proto, methods) for s in proto.seeds(True, 0)]
    assert_equal_numbers(loop, batched)


def test_overfitting_and_scatter_equal_the_per_seed_loops():
    proto = RECIPE
    r = studies.overfitting_curves(True, 0, proto)
    rows = studies.distortion_scatter(True, 0, proto)["rows"]
    ref_rows = []
    for i, s in enumerate(proto.seeds(True, 0)):
        st = ref_setting("combined", s, proto)
        arch, pG, pop = st.arch, st.pG, st.train
        assert_equal_numbers(st.global_info, r["global_models"][i])
        for name, make in studies.OVERFIT_CONFIGS.items():
            traj = make(r["config"]["T"])(arch, pG, pop, record=True)
            local, gl = studies._global_curve(arch, traj.snapshots[-(r["config"]["T"] + 1):], pop)
            assert_equal_numbers([local, gl, int(rose(traj.losses, proto.rise_tol).sum())],
                                 [r["curves"][name][k][i] for k in ("local", "global", "unstable_clients")])
        evaluate = lambda p: studies._others(cross_matrix(arch, p, pop))  # noqa: E731
        base = float(np.mean(evaluate(studies._broadcast(pG, st.C))))
        for name in studies.SCATTER_STRATEGIES:
            for T in (5, 20, 60):
                p = method(name, 0.05, T, budget=proto.budget)(arch, pG, pop, rng=s).params
                m = summarize(cross_matrix(arch, p, pop))
                a = {k: float(np.mean(v)) for k, v in attribution(evaluate, pG, p).items() if k != "base"}
                ref_rows.append({"strategy": name, "steps": T, "seed": s, "distortion": float(distortion(p[0], pG[0]).mean()),
                                 "global_drop": m["global"] - base, "local": m["local"], "global": m["global"], **a})
    assert_equal_numbers(ref_rows, rows)


def test_flooding_equals_the_per_seed_loop():
    """Under equal budgets (FT and both LP-FT variants); the loop is run for two of the levels (the batched
    study runs them all in one call, so any level stands for the others)."""
    budget, levels = "equal", (0.0, 0.5)
    proto = Protocol("test flood", global_rule="fixed", global_rounds=10, budget=budget, n_seeds=(2, 2))
    rows = [r for r in studies.flooding_study(True, 0, proto)["rows"] if r["b"] in levels]
    T, eta, k = 150, 0.5, 50
    ref = []
    for s in proto.seeds(True, 0):
        st = ref_setting("label", s, proto)
        T_ft = T if budget == "recipe" else T - k
        strategies = {"FT": ft(eta, T), "LP-FT": lp_ft(eta, T_ft, lp("steps", eta=eta, steps=k))}
        if budget == "equal":
            strategies["LP-FT (eta/10)"] = lp_ft(eta / 10, T_ft, lp("steps", eta=eta, steps=k))
        for b in levels:
            for name, strat in strategies.items():
                p = (flooded(strat, b) if b > 0 else strat)(st.arch, st.pG, st.train, loss="ce").params
                L = summarize(cross_matrix(st.arch, p, st.train, loss="ce"))["local"]
                A = summarize(cross_matrix(st.arch, p, st.test, metric="accuracy"), higher_is_better=True)
                ref.append({"b": b, "strategy": name, "seed": s, "train_loss": L, "local_acc": A["local"],
                            "global_acc": A["global"], "distortion": float(distortion(p[0], st.pG[0]).mean())})
    assert_equal_numbers(ref, rows)


def test_split_study_equals_the_per_seed_loop():
    """The loop is run for two alignment strengths (0: none) and two split settings (one per client, one for all)."""
    lams, splits = (0.0, 1.0), ("cycle", 2)
    proto = Protocol("test split", global_rule="fixed", global_rounds=10, n_seeds=(2, 2))
    rows = [r for r in studies.split_study(True, 0, proto)["rows"] if r["lam"] in lams and r["split"] in map(str, splits)]
    ref = []
    for s in proto.seeds(True, 0):
        sc = studies._combined(s, C=4)
        arch = DeepLinear(sc.d, (12, 10, 8))
        val = sc.sample(proto.n_val, spawn(s, 3)[1])
        pG, _ = global_model(arch, sc.population, lambda p: float(np.mean(arch.loss(p, val))), s, proto, eta=0.02,
                             scale=0.8)
        for lam in lams:
            for split in splits:
                p = split_ft(0.02, 40, split, lam)(arch, pG, sc.population).params
                ref.append({"lam": lam, "split": str(split), "seed": s, **summarize(cross_matrix(arch, p, sc.population))})
    assert_equal_numbers(ref, rows)


# ------------------------------------------------------------------ the building blocks
@pytest.fixture(scope="module")
def label_data():
    sc = synthetic.label_shift(20, 5, 4, 0.3, sep=1.5, rng=0)
    return DeepLinear(sc.d, (6,), sc.p), sc.sample(30, 1), sc.sample(30, 2)


def _stack(a, b):
    return tuple(np.concatenate([x, y]) for x, y in zip(a, b))


def test_random_streams_per_group_of_clients():
    """Soup (perturbed and bootstrapped ingredients) and LSS draw per group exactly what a run on the group alone
    with that seed draws, so seeds stacked on the client axis keep their streams."""
    sc = synthetic.label_shift(10, 3, 3, 0.5, sep=1.5, rng=4)
    arch = DeepLinear(10, (4,), 3)
    d1, d2 = sc.sample(12, 1), sc.sample(12, 2)
    g1, g2 = arch.init(5, batch=(3,)), arch.init(6, batch=(3,))
    both = studies.concat_clients([d1, d2])
    for strat, kw in ((soup(0.3, 4, 3, sigma=0.05), {}), (soup(0.3, 4, 2, mode="bootstrap"), {}),
                      (lss(0.3, 4, n_verts=2), {})):
        alone = _stack(strat(arch, g1, d1, loss="ce", rng=11).params, strat(arch, g2, d2, loss="ce", rng=12).params)
        together = strat(arch, _stack(g1, g2), both, loss="ce", rng=[11, 12]).params
        same_params(alone, together)
    with pytest.raises(ValueError, match="one entry per equal group"):
        soup(0.3, 1, 2)(arch, g1, d1, loss="ce", rng=[1, 2])


def test_soup_step_size_per_client_sits_behind_the_ingredient_axis(label_data):
    arch, d, _ = label_data
    pG = arch.init(0)
    eta = np.array([0.1, 0.2, 0.3, 0.4])  # as many clients as ingredients: the axis the step size belongs to matters
    together = soup(eta, 3, 4)(arch, pG, d, loss="ce", rng=7).params
    # each client's ingredients move with its own step size: equal to a run with that scalar on all clients
    for c in range(4):
        scalar = soup(float(eta[c]), 3, 4)(arch, pG, d, loss="ce", rng=7).params
        same_params(tuple(p[c] for p in scalar), tuple(p[c] for p in together))


def test_flood_levels_and_alignment_strengths_per_client(label_data):
    arch, d, _ = label_data
    pG = arch.init(3, scale=0.5)
    levels = np.array([0.0, 0.4, 0.9, 1.4])
    together = flooded(lp_ft(0.5, 6, lp("steps", eta=0.5, steps=3)), levels)(arch, pG, d, loss="ce").params
    for c, b in enumerate(levels):
        alone = flooded(lp_ft(0.5, 6, lp("steps", eta=0.5, steps=3)), float(b))(arch, pG, d, loss="ce").params
        same_params(tuple(p[c] for p in alone), tuple(p[c] for p in together))
    sc = synthetic.combined_shift(12, 2, 4, 1.0, eps=0.5, shift=1.0, geometry="random", rng=2)
    deep = DeepLinear(12, (6, 5, 4))
    pD = deep.init(1, scale=0.8)
    lams = np.array([0.0, 0.3, 1.0, 2.0])
    split = [0, 1, 2, 3]
    together = split_ft(0.02, 5, split, lams)(deep, pD, sc.population).params
    for c, lam in enumerate(lams):
        alone = split_ft(0.02, 5, split, float(lam))(deep, pD, sc.population).params
        same_params(tuple(p[c] for p in alone), tuple(p[c] for p in together))
    with pytest.raises(ValueError, match="lam must have one entry per client"):
        split_ft(0.02, 5, 1, np.ones(3))(deep, pD, sc.population)
    with pytest.raises(ValueError, match="b must be >= 0"):
        flooded(ft(0.1, 1), np.array([0.1, -0.5]))


def masked(eta, masks):
    """``sgd(eta, masks)`` without its head-only declaration: the full model's masked run, as before."""
    t = sgd(eta, masks)
    return Transform(t.init, t.update)


@pytest.mark.parametrize("make, knobs", [(proximal_ft, (0.1, 1.0, 0.0)), (sparse_ft, (0.5, 0.9, 0.25))],
                         ids=["proximal", "sparse"])
def test_knob_per_client(make, knobs):
    """Proximal's mu and Sparse's masked fraction per client: the knob grid in one run equals one run per knob."""
    sc = synthetic.combined_shift(12, 2, 3, 1.0, eps=0.5, shift=1.0, geometry="random", rng=1)
    arch = DeepLinear(12, (5,))
    pG = arch.init(2, scale=0.5)
    together = make(0.05, 6, np.repeat(knobs, 3))(arch, pG, sc.population[np.tile(np.arange(3), 3)], record=True)
    for i, k in enumerate(knobs):
        alone = make(0.05, 6, k)(arch, pG, sc.population, record=True)
        for x, y in zip(alone.params, together.params):
            np.testing.assert_array_equal(x, y[3 * i:3 * (i + 1)])
        np.testing.assert_array_equal(alone.losses, together.losses[:, 3 * i:3 * (i + 1)])
    with pytest.raises(ValueError, match="must be in"):
        make(0.05, 6, np.array([0.5, -1.0, 0.5]))


def test_head_only_runs_on_frozen_features_are_the_masked_runs(label_data):
    """Head-only GD (masked sgd in run, LP by GD, residual personalization, head-only FedAvg) runs on the frozen
    features; bit for bit the masked full-model runs they replace (shapes, snapshots and flooding included)."""
    arch, d, _ = label_data
    pG = arch.init(3, scale=0.5)
    start = broadcast_clients(pG, 4)
    eta = np.array([0.5, 1.0, 2.0, 3.0])
    # without and with the client axis, and a body in column-major order (its products may round differently
    # from those of the full run's C-ordered copy: then the full run is made, the same numbers either way)
    for p0 in (pG, start, (np.asfortranarray(pG[0]), pG[1])):
        for record in (False, True):
            new = run(arch, p0, d, sgd(eta, (False, True)), 9, loss="ce", record_params=record)
            old = run(arch, p0, d, masked(eta, (False, True)), 9, loss="ce", record_params=record)
            for a, b in zip([new.params] + (new.snapshots or []), [old.params] + (old.snapshots or [])):
                for x, y in zip(a, b):
                    assert x.shape == y.shape and x.strides == y.strides  # the layout too: it decides later sums
                    np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(new.losses, old.losses)
    for record in (False, True):
        for wrap in (None, lambda t: t):
            new = lp("steps", eta=eta, steps=12).fit(arch, pG, d, loss="ce", record=record, wrap=wrap)
            old = run_wrapped(arch, start, d, masked(eta, head_only(2)), 12, loss="ce", half=False, record=record,
                              wrap=wrap)
            for x, y in zip(new.params, old.params):
                np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(new.losses, old.losses)
    r = residual(0.5, 8, 0.9)(arch, pG, d, loss="ce").params
    r_ref = _residual_masked(arch, pG, d, 0.5, 8, 0.9)
    for x, y in zip(r, r_ref):
        np.testing.assert_array_equal(x, y)
    new = fedavg(arch, pG, d, 3, 4, 0.5, loss="ce", masks=(False, True), weights=np.arange(1.0, 5.0))
    ref = _fedavg_masked(arch, pG, d, 3, 4, 0.5, (False, True), np.arange(1.0, 5.0))
    for x, y in zip(new.params, ref):
        np.testing.assert_array_equal(x, y)


def _residual_masked(arch, pG, data, eta, steps, alpha):
    from lpft_theory.dynamics import per_config
    start = broadcast_clients(pG, 4)

    def update(grads, state, params, value, t):
        _, g_local = arch.value_and_grad(params[:-1] + (params[-1] - start[-1],), data, "ce")
        g = alpha * g_local[-1] + (1 - alpha) * grads[-1]
        return tuple(np.zeros_like(p) for p in params[:-1]) + (per_config(eta, g.ndim) * g,), state

    return run(arch, start, data, Transform(lambda p: None, update), steps, loss="ce").params


def _fedavg_masked(arch, params, data, rounds, local_steps, eta, masks, w):
    """FedAvg as written before: the local run is the masked full-model run."""
    wi = w / w.sum()
    for _ in range(rounds):
        local = run(arch, params, data[np.arange(4)], masked(eta, masks), local_steps, loss="ce").params
        params = tuple(np.tensordot(wi, np.broadcast_to(p, (4,) + p.shape[-2:]), axes=1) for p in local)
    return params


def test_fedavg_of_several_runs_and_their_plateaus(label_data):
    arch, d1, d2 = label_data
    p1, p2 = arch.init(1, scale=0.5), arch.init(2, scale=0.5)
    w = [np.arange(1.0, 5.0), None]
    histories = [[p1], [p2]]
    many = fedavg_runs(arch, [p1, p2], [d1, d2], 4, 3, 0.5, loss="ce", weights=w, history=histories)
    for p0, dd, ww, got, hist in zip((p1, p2), (d1, d2), w, many, histories):
        alone = fedavg(arch, p0, dd, 4, 3, 0.5, loss="ce", weights=ww)
        same_params(alone.params, got)
        assert len(hist) == len(alone.history) == 5
        for a, b in zip(alone.history, hist):
            same_params(a, b)
    scores = [lambda p, dd=dd: float(np.mean(arch.loss(p, dd, "ce"))) for dd in (d1, d2)]
    adv = [lambda p, n, dd=dd: fedavg(arch, p, dd, n, 3, 0.5, loss="ce").params for dd in (d1, d2)]
    alone = [to_plateau(adv[i], scores[i], p, chunk=2, max_rounds=12, patience=2, rel_tol=0.05)
             for i, p in enumerate((p1, p2))]
    together = to_plateau_runs(lambda ps, n, which: [adv[i](p, n) for i, p in zip(which, ps)], scores, [p1, p2],
                               chunk=2, max_rounds=12, patience=2, rel_tol=0.05)
    for a, b in zip(alone, together):
        assert (a.rounds, a.converged, a.curve) == (b.rounds, b.converged, b.curve)
        same_params(a.params, b.params)


@pytest.mark.parametrize("rule", ["plateau", "fixed"])
def test_global_models_of_several_seeds(rule):
    proto = Protocol("g", global_rule=rule, global_rounds=40 if rule == "plateau" else 7, chunk=5)
    sts = [studies._Setting("combined", s, proto, train_global=False) for s in (0, 1000, 2000)]
    together = global_models(sts[0].arch, [s.train for s in sts], [s.val_score for s in sts], [0, 1000, 2000], proto,
                             eta=sts[0].g_eta)
    for st, (p, info) in zip(sts, together):
        p_ref, info_ref = global_model(st.arch, st.train, st.val_score, st.seed, proto, eta=st.g_eta)
        same_params(p_ref, p)
        assert_equal_numbers(info_ref, info)


def test_settings_cache_shares_seeds_between_studies():
    """A seed's setting (data and global model) is built once and reused whoever asks, alone or with others."""
    gp = FIXED.global_part()
    one = studies._setting("concept", 1000, gp)
    many = studies._settings("concept", [0, 1000, 2000], gp)
    assert many[1] is one
    assert studies._settings("concept", [2000], gp)[0] is many[2]


def test_runs_shared_between_protocols_change_no_number():
    """Runs that do not depend on the budget rule (every method but LP-FT's recipes; FT in flooding; the scatter's
    strategies but LP-FT) and FedAvg trajectories (the long-tail study) are shared between protocols: a study
    computed after another one equals the same study computed alone."""
    recipe = Protocol("r", global_rule="fixed", global_rounds=10, n_seeds=(2, 2))
    equal = Protocol("e", global_rule="fixed", global_rounds=10, budget="equal", n_seeds=(2, 2))
    alone = studies.comparison("combined", True, 0, equal), studies.distortion_scatter(True, 0, equal)
    studies.clear_cache()
    studies.comparison("combined", True, 0, recipe), studies.distortion_scatter(True, 0, recipe)
    after = studies.comparison("combined", True, 0, equal), studies.distortion_scatter(True, 0, equal)
    assert_equal_numbers(alone, after, rtol=0.0)
