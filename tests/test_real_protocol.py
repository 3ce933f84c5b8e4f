"""The real-digits protocol: the batched grid equals the engine's per-configuration loop, equal grids, the
matched-Local tolerance, own-validation-only selection, positive controls that are detected (and not once
mutated to equal FT), per-(shift, model) sides, the Kumar analogue, and the device argument."""
import numpy as np
import pytest
import torch

import lpft_theory.empirical.experiment as X
from lpft_theory.data import Samples
from lpft_theory.empirical import batched as B
from lpft_theory.empirical import kumar_digits as KD
from lpft_theory.empirical.torch_arch import cnn, mlp
from lpft_theory.stats import paired_difference
from paper_checks import chen2025_real as R
from paper_checks import run_one
from paper_checks import kumar_digits as KC

torch.set_num_threads(1)

# two step sizes, one far past the edge of stability (its FT training loss rises): selection must avoid it
TINY = X.RealConfig(scenario="concept", seeds=2, clients=3, max_rounds=20, chunk=10, patience=1, short_rounds=5,
                    local_steps=3, etas=(0.05, 3.0), steps=(4, 8), recipe_steps=4, eta=0.05, lp_steps=(1, 2),
                    flood_levels=(0.5,))


@pytest.fixture(scope="module")
def tiny():
    return X.run_real(TINY)


# ---------------------------------------------------------------------------- batched grid = loop (float64)
def _engine(method, knob, eta, T, arch, pG, data, seed):
    strat = X.make_strategy(method, knob, eta, T)
    if method == "Soup":  # the same perturbations as the batched soup (X._soup_starts): a generator per seed
        rng = np.random.default_rng(np.random.SeedSequence([seed, 7, knob["size"]]))
        return strat(arch, pG, data, loss="ce", rng=rng).params
    return strat(arch, pG, data, loss="ce").params


@pytest.mark.parametrize("make", [mlp, cnn])
def test_batched_grid_equals_the_per_configuration_loop(make):
    """Every grid point of every method, run as one batched GD over (configuration, client) rows, equals the
    engine's strategy run configuration by configuration (the old loop) to 1e-10 in float64."""
    rng = np.random.default_rng(0)
    arch = make(h=6) if make is mlp else make(c=2, h=6)
    C, n, T = 3, 10, 6
    data = Samples(rng.random((C, n, 64)), rng.integers(0, 10, (C, n)))
    pG = arch.init(1)
    cfg = X.RealConfig(etas=(0.2, 0.6), steps=(3, 6), recipe_steps=6, eta=0.2, lp_steps=(1, 2))
    D = B.Data.of(data, 10)
    cases, blocks, starts = [], [], []
    for m in ("FT", "LP", "LP-FT", "Proximal", "Sparse"):
        for knob in cfg.knobs(m):
            for e in cfg.etas:
                eta = e * knob.get("eta_scale", 1.0)
                kw = {"eta": eta, "head_until": 10 ** 9 if m == "LP" else knob.get("k", 0),
                      "mu": knob.get("mu", 0.0), "sparse": knob.get("rate", 0.0)}
                cases.append((m, knob, eta, len(blocks)))
                blocks.append(B.Rows.block(np.arange(C), **kw))
                starts.append(tuple(np.broadcast_to(p, (C,) + p.shape).copy() for p in pG))
    rows = B.Rows.cat(blocks)
    start = tuple(np.concatenate([s[b] for s in starts]) for b in range(len(pG)))
    run = B.train(arch, start, start, rows, D, T, record=set(cfg.steps))
    for m, knob, eta, i in cases:
        for t in cfg.steps:
            mine = tuple(p[i * C:(i + 1) * C] for p in run.snapshots[t])
            ref = _engine(m, knob, eta, t, arch, pG, data, 0)
            for a, b in zip(mine, ref):
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-10, err_msg=f"{m} {knob} eta={eta} T={t}")
    # a soup's ingredients as rows, and LSS's own batched loop
    size = 2
    starts = X._soup_starts(cfg, tuple(p[None] for p in pG), C, size, [0])
    rows = B.Rows.cat([B.Rows.block(np.arange(C), eta=0.2) for _ in range(size)])
    st = tuple(np.concatenate(list(s)) for s in starts)
    run = B.train(arch, st, st, rows, D, T // size, record={T // size})
    soup_mine = tuple(p.reshape((size, C) + p.shape[1:]).mean(0) for p in run.snapshots[T // size])
    for a, b in zip(soup_mine, _engine("Soup", {"size": size}, 0.2, T, arch, pG, data, 0)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    first, second = X._lss_split(8)
    P, _, _ = B.train_lss(arch, tuple(np.broadcast_to(p, (C,) + p.shape).copy() for p in pG), np.arange(C), D,
                          np.full(C, 0.2), first, vertex_steps=second, n_samples=2, rng=np.random.default_rng(5))
    ref = X.make_strategy("LSS", {}, 0.2, 8)(arch, pG, data, loss="ce", rng=np.random.default_rng(5)).params
    for a, b in zip(P, ref):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_rows_that_stop_early_equal_a_shorter_run():
    """``row_steps``: a row stopped after k steps holds exactly the params of a k-step run (the grid runs a soup's
    ingredients and the recipe's rows only as far as they need)."""
    rng = np.random.default_rng(3)
    arch = mlp(h=6)
    data = B.Data.of(Samples(rng.random((2, 8, 64)), rng.integers(0, 10, (2, 8))), 10)
    st = tuple(np.broadcast_to(p, (4,) + p.shape).copy() for p in arch.init(2))
    rows = B.Rows.block([0, 1, 0, 1], eta=0.4, mu=[0.0, 0.0, 1.0, 1.0])
    long = B.train(arch, st, st, rows, data, 6, record={3, 6}, row_steps=[6, 3, 3, 6])
    for i, k in enumerate((6, 3, 3, 6)):
        one = B.Rows.block([rows.data[i]], eta=0.4, mu=rows.mu[i])
        ref = B.train(arch, tuple(p[i:i + 1] for p in st), tuple(p[i:i + 1] for p in st), one, data, k, record={k})
        for a, b in zip(long.snapshots[6], ref.snapshots[k]):
            np.testing.assert_array_equal(a[i:i + 1], b)
        np.testing.assert_array_equal(long.losses[: k + 1, i], ref.losses[:, 0])


def test_every_method_gets_the_same_number_of_configurations_and_no_more_compute():
    for cfg in (X.RealConfig(), X.QUICK, TINY):
        counts = X.grid_counts(cfg)
        assert len(set(counts.values())) == 1, counts
        for m in X.ALL:
            for knob, eta, T in X.grid(cfg, m):
                assert X.gradient_evaluations(m, knob, T) <= T  # equal compute: T gradient evaluations at most
    k = KD.grid_counts(KD.KumarConfig())
    assert len(set(k.values())) == 1
    with pytest.raises(ValueError, match="same length"):
        X.RealConfig(mus=(0.1, 1.0, 2.0)).validate()


def test_run_grid_reports_every_grid_point_with_its_own_stability(tiny):
    grid = tiny["runs"][0]["grid"]["converged"]
    per = {m: sum(p["method"] == m for p in grid) for m in X.ALL}
    assert len(set(per.values())) == 1 and per["FT"] == X.grid_counts(TINY)["FT"]
    ft_points = {(p["eta"], p["T"]): p for p in grid if p["method"] == "FT"}
    assert ft_points[(3.0, 8)]["unstable"] and not ft_points[(0.05, 8)]["unstable"]
    # Soup and LSS record their own stability, not FT's: the unstable step size is caught in their own runs
    for m in ("Soup", "LSS"):
        own = {(p["eta"], p["T"]): p["rise"] for p in grid if p["method"] == m}
        assert own[(3.0, 8)] > TINY.rise_tol
        assert own != {k: ft_points[k]["rise"] for k in own}
    for run in tiny["runs"]:
        for v in ("tuned", "matched local"):
            assert all(not r["unstable"] for r in run["variants"][v]["rows"].values())


def test_matched_level_comparison_has_a_tolerance():
    """A point whose own-validation Local differs from the level by round-off (0.8959999999999999 vs
    0.8960000000000001) is at the level."""
    pts = [{"method": m, "knob": {}, "eta": 0.1, "T": T, "val_local": v, "n_unstable": 0}
           for m in X.SIX for T, v in ((5, 0.8959999999999999), (10, 0.8960000000000001))]
    pts += [{"method": m, "knob": {}, "eta": 0.1, "T": 5, "val_local": 0.9, "n_unstable": 0} for m in ("LP", "Mix")]
    sel = X.select(pts, "matched local", TINY, methods=X.SIX, base_val_local=0.8960000000000001)
    assert sel["level"] == pytest.approx(0.896)
    for m in X.SIX:  # the closest point at or above the level is the 0.8959999999999999 one (T = 5)
        assert pts[sel[m]]["T"] == 5
    # a method with no stable point keeps its least unstable ones, and says so
    bad = [{**p, "n_unstable": 1 + (p["T"] == 5)} if p["method"] == "FT" else p for p in pts]
    sel = X.select(bad, "matched local", TINY, methods=X.SIX, base_val_local=0.8960000000000001)
    assert sel["least_unstable"] == {"FT": 1} and bad[sel["FT"]]["T"] == 10


def test_at_level_interpolates_and_reads_the_global_model_when_it_is_at_the_level():
    base = {"local": 0.5, "global": 0.8, "val_local": 0.5}
    pts = [{"method": "FT", "knob": {}, "eta": 0.1, "T": T, "val_local": v, "local": v, "global": g, "n_unstable": 0}
           for T, v, g in ((5, 0.7, 0.6), (10, 0.9, 0.4))]
    r = X.at_level(pts, "FT", 0.8, base)
    assert r["global"] == pytest.approx(0.5) and r["local"] == pytest.approx(0.8) and r["trajectories"] == 1
    # personalization that never raises own-validation Local: a level at or below the global model's reads it
    assert X.at_level(pts, "FT", 0.5 - 1e-12, base)["global"] == 0.8
    assert np.isnan(X.at_level(pts, "FT", 0.95, base)["global"])  # never reached: no reading, said as such


def test_selection_reads_only_own_validation_data(tiny):
    """Changing every test number and every other client's data leaves every choice unchanged: select() reads
    only the method, knob, step size, T, own-validation Local and stability of each point."""
    assert set(X.VAL_KEYS) == {"method", "knob", "eta", "T", "val_local", "n_unstable"}
    grid = tiny["runs"][0]["grid"]["converged"]
    scrambled = [{**p, "local": np.nan, "global": np.nan, "worst": np.nan} for p in grid]
    for rule in ("equal budget", "tuned", "matched local"):
        assert X.select(scrambled, rule, TINY, base_val_local=0.5) == X.select(grid, rule, TINY, base_val_local=0.5)
    assert "own validation" in tiny["selection_data"]


def test_run_reports_regime_gain_control_and_every_variant(tiny):
    assert set(tiny["summary"]) == set(X.VARIANTS)
    assert tiny["regime"]["reason"] and tiny["regime"]["shift"] == "concept"
    assert np.isfinite(tiny["local_gain_available"]["mean"])
    for run in tiny["runs"]:
        for v, V in run["variants"].items():
            assert set(V["rows"]) == set(X.METHODS) and set(V["control"]) == {"Mix", "FT"}
            for m, a in V["attribution"].items():
                assert a["head"] + a["feature"] + a["interaction"] == pytest.approx(a["total"], abs=1e-12)
            assert V["attribution"]["LP"]["feature"] == pytest.approx(0.0, abs=1e-12)
        fixed, equal = run["variants"]["fixed recipe"]["rows"], run["variants"]["equal budget"]["rows"]
        assert fixed["LP-FT"]["T"] == 2 * fixed["FT"]["T"] and equal["LP-FT"]["T"] == equal["FT"]["T"]
        ml = run["variants"]["matched local"]
        assert all(ml["rows"][m]["at_level"]["trajectories"] >= 1 for m in X.SIX)
        gm = run["global_models"]["converged"]
        assert gm["rounds"] == gm["curve"][-1][0] <= TINY.max_rounds


def test_mix_with_weight_zero_is_ft(tiny):
    """The control's mutation: Mix with a = 0 is FT exactly (so it cannot be detected against FT)."""
    arch = mlp(d=65, h=8)
    pG = arch.init(0)
    ftp = tuple(p + 0.1 for p in pG)
    mix = tuple((1 - 0.0) * f + 0.0 * g for f, g in zip(ftp, pG))
    for a, b in zip(mix, ftp):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- the positive control and the sides
def _fake_study(shift, model, control_gap, lpft_gain, seeds=5, noise=2e-3, seed=0):
    """A study where Mix − FT Global is ``control_gap`` and LP-FT − every rival ``lpft_gain`` (with seed noise)."""
    g = np.random.default_rng(seed)
    runs = []
    for s in range(seeds):
        variants = {}
        for v in X.VARIANTS:
            rows = {m: {"global": 0.5 + noise * g.standard_normal(), "local": 0.8} for m in X.METHODS}
            rows["LP-FT"]["global"] = max(r["global"] for r in rows.values()) + lpft_gain
            for r in rows.values():
                r["at_level"] = {"global": r["global"], "local": r["local"]}
            ft = rows["FT"]["global"]
            mix = ft + control_gap + noise * g.standard_normal()
            control = {"FT": {"global": ft, "at_level": {"global": ft}}, "Mix": {"global": mix, "at_level": {"global": mix}}}
            variants[v] = {"rows": rows, "control": control, "base": {"global": 0.6, "local": 0.5}}
        runs.append({"seed": s, "variants": variants, "global_models": {"converged": {"test_acc": 0.6}}})
    return {"runs": runs, "regime": {"shift": shift}, "local_gain_available": {"mean": 0.3},
            "grid_counts": {}, "summary": {}}


def test_positive_control_is_detected_and_not_when_mutated_to_equal_ft():
    good = {"concept/mlp": _fake_study("concept", "mlp", 0.05, 0.02)}
    v = R.real_verdict("chen-real-best-global", good, R.best_global_effects)
    side = v.evidence["sides"]["concept/mlp"]
    assert side["positive_control"]["detected"] and side["positive_control"]["gap"]["lo"] > 0
    assert v.status == "confirmed" and v.sides == {"concept/mlp": "for"}
    mutated = {"concept/mlp": _fake_study("concept", "mlp", 0.0, 0.02)}  # Mix = FT
    w = R.real_verdict("chen-real-best-global", mutated, R.best_global_effects)
    assert not w.evidence["sides"]["concept/mlp"]["positive_control"]["detected"]
    assert w.status == "inconclusive" and w.sides == {"concept/mlp": "inconclusive"}
    assert "positive control" in w.notes and "minimum detectable effect" in w.notes
    assert w.evidence["sides"]["concept/mlp"]["own_reading"] == "for"  # the tie is never read as evidence


def test_sides_are_per_shift_and_model_and_the_headline_is_the_primary_protocols():
    studies = {"concept/mlp": _fake_study("concept", "mlp", 0.05, 0.02, seed=1),
               "label/cnn": _fake_study("label", "cnn", 0.05, -0.02, seed=2),
               "covariate/mlp": _fake_study("covariate", "mlp", 0.0, 0.02, seed=3)}
    v = R.real_verdict("chen-real-best-global", studies, R.best_global_effects)
    assert v.sides == {"concept/mlp": "for", "label/cnn": "against", "covariate/mlp": "inconclusive"}
    assert v.status == "mixed"
    assert v.status == v.evidence["protocol_robustness"][v.evidence["primary_protocol"]]
    assert v.evidence["primary_protocol"] == "matched local"
    assert R.real_verdict("chen-real-overfitting", studies, lambda runs, var: {
        "x": paired_difference([r["variants"][var]["base"]["global"] for r in runs],
                               [r["variants"][var]["rows"]["FT"]["global"] for r in runs])}).evidence[
        "primary_protocol"] == "fixed recipe"


def test_real_checks_run_on_a_tiny_study(tiny, monkeypatch):
    monkeypatch.setattr(R, "_real", lambda ctx: {"concept/mlp": tiny})
    for check in R.CHECKS:
        v = run_one(check, None)
        assert set(v.evidence["protocol_robustness"]) == set(X.VARIANTS)
        assert v.status == v.evidence["protocol_robustness"][v.declared["primary_protocol"]]
        assert set(v.sides) == {"concept/mlp"}
        assert "positive_control" in v.evidence["sides"]["concept/mlp"]


# ---------------------------------------------------------------------------- Kumar on digits
KTINY = KD.KumarConfig(seeds=2, pretrain_steps=20, n_id=20, n_val=20, n_test=40, steps=(4, 8), recipe_steps=8,
                       lp_steps=(1, 2))


def test_kumar_analogue_runs_and_lp_keeps_the_features(monkeypatch):
    res = KD.run_kumar(KTINY)
    for run in res["runs"]:
        for p in run["grid"]:
            if p["method"] == "LP":
                assert p["change_id"] == pytest.approx(0.0, abs=1e-12) and p["change_ood"] == pytest.approx(0.0, abs=1e-12)
        assert set(run["variants"]) == set(KD.VARIANTS)
        assert run["pretrain_loss"][1] < run["pretrain_loss"][0]
    monkeypatch.setattr(KC, "_studies", lambda ctx: {"mlp": res})
    v = run_one(KC.digits_analogue, None)
    assert v.id == "kumar-digits-analogue" and set(v.sides) == {"mlp"}
    assert v.evidence["primary_protocol"] == "matched local"
    assert "positive_control" in v.evidence["sides"]["mlp"]


# ---------------------------------------------------------------------------- device
def test_device_argument():
    with pytest.raises(ValueError, match="device must be"):
        X.RealConfig(device="tpu").validate()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            X.RealConfig(device="cuda").validate()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_grid_equals_cpu():
    rng = np.random.default_rng(0)
    data = Samples(rng.random((3, 10, 64)), rng.integers(0, 10, (3, 10)))
    for make in (mlp, cnn):
        out = {}
        for dev, blas in (("cpu", "numpy"), ("cuda", "torch")):
            arch = make(blas=blas)
            pG = arch.init(1)
            st = tuple(np.broadcast_to(p, (3,) + p.shape).copy() for p in pG)
            out[dev] = B.train(arch, st, st, B.Rows.block(np.arange(3), eta=0.3, head_until=2),
                               B.Data.of(data, 10, dev), 6, record={6}).snapshots[6]
        for a, b in zip(out["cpu"], out["cuda"]):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_a_control_read_identically_on_every_seed_says_why_its_mde_is_zero():
    """At a matched level the global model already reaches, Mix and FT are both read at the global model: the gap is
    exactly 0 with no spread, so the minimum detectable effect is 0 — the note says why instead of leaving a bare 0."""
    flat = {"longtail/mlp": _fake_study("longtail", "mlp", 0.0, 0.02, noise=0.0)}
    v = R.real_verdict("chen-real-best-global", flat, R.best_global_effects)
    assert v.sides == {"longtail/mlp": "inconclusive"}
    assert "read identically on every seed" in v.notes
    noisy = {"longtail/mlp": _fake_study("longtail", "mlp", 0.0, 0.02)}
    assert "read identically" not in R.real_verdict("chen-real-best-global", noisy, R.best_global_effects).notes
