"""Chen et al. 2025 — "A Closer Look at Personalized Fine-Tuning in Heterogeneous FL": every claim, and every
sentence the package asserts about them (the local/global frontier, matched local loss, the descent regime).

The theorem checks take their condition (or rule, frontier, bound) as a keyword argument, so a test can feed a
wrong one and see the verdict stop confirming (``tests/test_mutation_theory.py``). Every "for all" statement is
checked three ways over the theorem's own admissible space: drawn instances, points within 1e-3 of every boundary
(of the condition under test and of the true one), and the adversary (:func:`lpft_theory.adversary.search`),
whose budget and worst margin are in ``evidence["adversary"]``. A margin is the signed distance of the exact
outcome (the GD engine or plain GD arithmetic, never the closed form under test) from the predicted side.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np

import synthetic
from lpft_theory.metrics import cross_matrix, summarize
from lpft_theory.models import two_layer, two_layer_params
from lpft_theory.adversary import Space, search
from lpft_theory.strategies import ft, lp, lp_ft
from lpft_theory.theory import chen

from .claims import declaration
from .verdict import Verdict, bound_status, claim, condition_status, judge

SRC = "Chen et al. 2025"
TITLE = "Chen et al. 2025 — A Closer Look at Personalized Fine-Tuning in Heterogeneous FL"
TABLE2 = Path(__file__).resolve().parent / "data" / "chen2025_table2.csv"  # the paper's Table 2 as printed
RTOL = 1e-9  # closed form vs the GD engine (float64)


def _engine_losses(sc, strategy, half: bool = False):
    arch = two_layer(sc.d, sc.truth["B_star"].shape[0])
    pG = two_layer_params(*synthetic.idealised_init(sc))
    out = strategy(arch, pG, sc.population, half=half)
    return summarize(cross_matrix(arch, out.params, sc.population, half=half))


def _rel(x, y) -> float:
    return abs(x - y) / max(abs(y), 1e-300)


def _instances(ctx, n_quick=8, n_full=40):
    g = np.random.default_rng(ctx.seed)
    for _ in range(n_quick if ctx.quick else n_full):
        m, C = int(g.integers(1, 4)), int(g.integers(2, 5))
        yield dict(d=m + C + int(g.integers(0, 4)), m=m, C=C, lam=float(g.uniform(0.1, 2)),
                   eta=float(g.uniform(0.01, 0.5)), seed=int(g.integers(1 << 30)))


def _regime(a: float) -> str:
    """Where one FT step of size ``a = ηβ`` falls (β: curvature of the client's loss along the step)."""
    return "eta < 1/beta (undershoot)" if a < 1 else ("1/beta < eta < 2/beta (overshoot, descent)" if a < 2
                                                       else "eta > 2/beta (ascent)")


@claim("chen-lemma-4.3", figure="lemma43")
def lemma_4_3(ctx, rows=chen.lemma_4_3_rows) -> Verdict:
    """``rows``: the formula checked (swap it to mutation-test the check)."""
    errs, a_vals, where = [], [], []
    for p in _instances(ctx):
        sc = synthetic.concept_shift(p["d"], p["m"], p["C"], p["lam"], rng=p["seed"])
        arch = two_layer(sc.d, p["m"] + p["C"])
        B0, V0 = synthetic.idealised_init(sc)
        out = ft(p["eta"], 1)(arch, two_layer_params(B0, V0), sc.population).params[0]
        a_vals.append(chen.ft_coefficient(float(sc.truth["V_com"] @ sc.truth["V_com"]), p["eta"]))
        for i in range(p["C"]):
            pred = rows(B0, V0, i, p["m"], p["lam"], p["eta"])
            errs.append(float(np.abs(out[i] - pred).max() / np.abs(pred).max()))
            where.append(f"synthetic.concept_shift({p['d']}, {p['m']}, {p['C']}, {p['lam']!r}, rng={p['seed']}); "
                         f"ft(eta={p['eta']!r}, 1) from idealised_init; client i = {i}")
    bad = [k for k, e in enumerate(errs) if e > RTOL]

    def margin(p):  # RTOL minus the largest relative error of the rows, no overlap (the lemma's setting)
        sc, v = concept_instance({**p, "omega": 0.0})
        half = bool(p["half"])
        eta = p["a"] / chen.step_curvature(v, half)
        B0, V0 = synthetic.idealised_init(sc)
        out = ft(eta, 1)(two_layer(sc.d, p["m"] + p["C"]), two_layer_params(B0, V0), sc.population, half=half).params[0]
        preds = [rows(B0, V0, i, p["m"], p["lam"], eta, half) for i in range(p["C"])]
        return RTOL - max(float(np.abs(out[i] - q).max() / np.abs(q).max()) for i, q in enumerate(preds))

    adv = _adversary(margin, THM44_SPACE, 60 if ctx.quick else 300, ctx.seed + 43, tol=0.0)
    status = bound_status(len(bad) + adv["broken"], len(errs) + 1)
    if adv["broken"] and not bad:
        where.append(f"paper_checks.chen2025.concept_instance({dict(adv['instance'], omega=0.0)!r}); one FT step "
                     "(eta = a / beta) from idealised_init")
        errs.append(RTOL - adv["worst_margin"])
        bad = [len(errs) - 1]
    return Verdict("chen-lemma-4.3", "Lemma 4.3: the j-th row of B_FT after one FT step on client i, in terms of "
                   "b*_j and (V_0)_j", SRC, status,
                   {"derived": "b_FT,j = b*_j + eta*c*lambda*(V_0)_j * b*_{m+i}  (c = 2 without the 1/2)",
                    "adversary": adv,
                    "client_instances": len(errs), "mismatches_above_rtol": f"{len(bad)}/{len(errs)}",
                    "rtol": RTOL, "max_relative_error_vs_simulation": max(errs),
                    "steps_by_regime": {r: sum(_regime(a) == r for a in a_vals) for r in sorted({_regime(a) for a in a_vals})}},
                   counterexample={} if not bad else {"call": where[bad[0]], "relative_error": errs[bad[0]]},
                   notes="The printed formula is lost; derived from Assumption 4.1 (sympy: theory/symbolic.py). "
                         "It holds for every step size, in the descent regime (a < 2) and beyond.")


# --------------------------------------------------------------------------- the adversary, shared
TOL = 1e-9
"""A margin below ``-TOL`` is a counterexample (margins are relative: the exact outcomes are float64 GD arithmetic,
round-off ~1e-15 of the loss scale)."""
BOUNDARY_OFFSET = 5e-4
"""Drawn points sit this far (relative) on each side of every boundary of the condition under test and of the true
condition: within 1e-3 of it, so a threshold moved by more than that is caught."""


def _int_box(lo: int, hi: int) -> tuple:
    """Box bounds whose rounding gives every integer in [lo, hi] the same share."""
    return lo - 0.49, hi + 0.49


def _space(**params) -> Space:
    """``name=(lo, hi)`` floats, ``name=int`` ranges as ``(lo, hi, int)``."""
    names, lo, hi, ints = [], [], [], []
    for name, spec in params.items():
        a, b = (_int_box(spec[0], spec[1]) if len(spec) == 3 else spec)
        names.append(name)
        lo.append(float(a))
        hi.append(float(b))
        if len(spec) == 3:
            ints.append(name)
    return Space(tuple(names), tuple(lo), tuple(hi), tuple(ints))


def _adversary(margin, space: Space, budget: int, seed: int, tol: float = TOL, **kw) -> dict:
    """:func:`lpft_theory.adversary.search` within ``budget``; the result with the tolerance and ``broken``."""
    r = search(margin, space, budget=budget, rng=seed, **kw)
    out = r.to_dict()
    out.update(tolerance=tol, broken=bool(r.worst_margin < -tol),
               space={n: [lo, hi] for n, lo, hi in zip(space.names, space.lo, space.hi)})
    return out


def _boundaries(pred, xs) -> list:
    """Where the boolean ``pred(x)`` changes along the increasing grid ``xs``, each refined by bisection (1e-12)."""
    vals = [bool(pred(x)) for x in xs]
    roots = []
    for j in range(len(xs) - 1):
        if vals[j] != vals[j + 1]:
            a, b, va = float(xs[j]), float(xs[j + 1]), vals[j]
            while b - a > 1e-12 * max(1.0, abs(b)):
                mid = 0.5 * (a + b)
                a, b = (mid, b) if bool(pred(mid)) == va else (a, mid)
            roots.append(0.5 * (a + b))
    return roots


def _around(roots, lo: float, hi: float) -> list:
    """Points at relative distance :data:`BOUNDARY_OFFSET` on each side of every root inside ``(lo, hi)``."""
    pts = []
    for r in roots:
        for x in (r * (1 - BOUNDARY_OFFSET), r * (1 + BOUNDARY_OFFSET)) if r != 0 else (-BOUNDARY_OFFSET, BOUNDARY_OFFSET):
            if lo < x < hi:
                pts.append(float(x))
    return pts


def _unit(g, n: int) -> np.ndarray:
    x = g.standard_normal(n)
    return x / np.linalg.norm(x)


# --------------------------------------------------------------------------- Theorem 4.4
A_MAX = 3.0  # one FT step of size a = ηβ up to 3/β: undershoot, overshoot (descent), ascent beyond 2/β

THM44_SPACE = _space(a=(1e-3, A_MAX), omega=(0.0, 1.0), lam=(0.05, 3.0), log10_v=(-2.0, 1.0), m=(1, 3, int),
                     C=(2, 5, int), extra=(0, 3, int), half=(0, 1, int), seed=(0, 10 ** 6, int))
"""Assumption 4.1 (concept shift, Σ_i = I) with overlap ω between the private features, the idealised start,
every step size up to a = 3 (η up to 3/β), both loss conventions."""


def concept_instance(p: dict):
    """``(scenario, v)`` of a point of :data:`THM44_SPACE` (``‖V_com‖² = 10^log10_v``, rerunnable from ``p``)."""
    v = 10.0 ** p["log10_v"]
    Vc = np.sqrt(v) * _unit(np.random.default_rng(p["seed"]), p["m"])
    sc = synthetic.concept_shift(p["m"] + p["C"] + p["extra"], p["m"], p["C"], p["lam"], V_com=Vc,
                                 overlap=p["omega"], rng=p["seed"])
    return sc, v


def _concept_call(p: dict) -> str:
    return f"paper_checks.chen2025.concept_instance({p!r}); ft/lp_ft(eta = a / chen.step_curvature(v, half), 1)"


_OUTCOMES: dict = {}


def _thm44_outcome(p: dict):
    """Engine losses of FT and LP-FT (exact LP) after one step at the instance (cached per instance)."""
    key = tuple(sorted(p.items()))
    if key not in _OUTCOMES:
        if len(_OUTCOMES) > 20_000:
            _OUTCOMES.clear()
        sc, v = concept_instance(p)
        half = bool(p["half"])
        eta = p["a"] / chen.step_curvature(v, half)
        _OUTCOMES[key] = (_engine_losses(sc, ft(eta, 1), half), _engine_losses(sc, lp_ft(eta, 1), half), eta, v)
    return _OUTCOMES[key]


def _thm44_margin(condition, reading: str):
    """Signed distance of the engine's outcome from the side ``condition`` predicts: ``±(G_FT − G_LPFT)/(fλ²)``."""
    key = {"others": "global", "mixture": "global_mixture"}[reading]

    def margin(p):
        f, g, _, _ = _thm44_outcome(p)
        gap = (f[key] - g[key]) / ((0.5 if p["half"] else 1.0) * p["lam"] ** 2)
        return gap if condition(p["a"], p["omega"], p["C"], reading) else -gap

    return margin


def _concept_instances(ctx):
    """Random points of :data:`THM44_SPACE` (half of them without overlap), and the boundary points."""
    g = np.random.default_rng(ctx.seed + 44)
    pts = THM44_SPACE.sample(g, 24 if ctx.quick else 80)
    out = []
    for idx, x in enumerate(pts):
        p = THM44_SPACE.point(x)
        if idx % 2 == 0:
            p["omega"] = 0.0
        out.append(p)
    return out


def _thm44_boundary_points(ctx, condition, base) -> list:
    """For the first instances' (ω, C): every boundary in ``a`` of ``condition`` (found by scanning and bisection)
    and of the true condition (a = 1 and the reading's root), each reading, with points 5e-4 on each side."""
    grid = np.linspace(1e-3, A_MAX, 601)
    out = []
    for p in base[: 4 if ctx.quick else 12]:
        for reading in chen.GLOBAL_READINGS:
            found = _boundaries(lambda a: condition(a, p["omega"], p["C"], reading), grid)
            true = [1.0, chen.condition_root(p["omega"], p["C"], reading)]
            for a in _around(sorted(set(found + true)), 0.0, A_MAX + 0.5):
                out.append(({**p, "a": a}, reading))
    return out


@lru_cache(maxsize=4)  # independent of the condition under test: shared with the mutation tests
def _flow_view(quick: bool) -> dict:
    """Gradient flow (no step size) of the 2×2 reduction: FT's global loss against exact-LP LP-FT's."""
    times = np.concatenate([[0.0], np.geomspace(1e-3, 60.0, 80 if quick else 300)])
    out = {}
    for v, lam, omega in ((0.8, 1.0, 0.0), (0.3, 2.0, 0.0), (0.8, 1.0, 0.7)):
        L = chen.reduced_losses(chen.reduced_concept_flow(v, lam, times), v, lam, 5, omega)
        lp_glob = 2 * lam ** 2 * (1 - omega)
        lp_mix = (5 - 1) / 5 * lp_glob
        d_o, d_m = (L["global"] - lp_glob) / lam ** 2, (L["global_mixture"] - lp_mix) / lam ** 2
        out[f"v={v}, lam={lam}, omega={omega}"] = {
            "max_(G_FT-G_LPFT)/lam^2": float(d_o.max()), "min_(G_FT-G_LPFT)/lam^2": float(d_o.min()),
            "fraction_of_times_LPFT_lower_by_1e-6": float(np.mean(d_o > 1e-6)),
            "mixture_fraction_LPFT_lower_by_1e-6": float(np.mean(d_m > 1e-6)),
            "max_FT_above_frontier": float(np.max(L["global"] - chen.pareto_frontier(L["local"], lam, 5, omega)["global"]))}
    return out


def _rounded(x) -> list:
    """4 significant digits; |x| < 1e-12 is round-off and shown as 0; ``None`` where not reached."""
    return [None if not np.isfinite(y) else (0.0 if abs(y) < 1e-12 else float(f"{y:.4g}")) for y in np.asarray(x, float)]


THM44_CONDITION_USES = ("eta", "V_com", "omega", "C", "half")


@claim("chen-thm-4.4", figure="phase_diagram")
def theorem_4_4(ctx, condition=chen.lp_ft_wins) -> Verdict:
    """``condition(a, omega, n_clients, reading) -> bool``: the condition under test (LP-FT has the lower
    global loss after exact LP and one FT step), checked on drawn instances, on points within 1e-3 of each of its
    boundaries and of the true ones, and by the adversary over :data:`THM44_SPACE` (both readings)."""
    base = _concept_instances(ctx)
    agree, total, errs, first_fail = 0, 0, [], None
    by_regime, descent_agree, descent_total, stable = {}, 0, 0, []

    def record(p, reading, where):
        nonlocal agree, total, first_fail
        m = _thm44_margin(condition, reading)(p)
        ok = m >= -TOL
        agree += ok
        total += 1
        if not ok and first_fail is None:
            f, g, eta, _ = _thm44_outcome(p)
            key = "global" if reading == "others" else "global_mixture"
            first_fail = {"call": _concept_call(p), "found_by": where, "a": p["a"], "reading": reading,
                          "eta": eta, "FT": f[key], "LP-FT": g[key],
                          "condition_says_LPFT_wins": bool(condition(p["a"], p["omega"], p["C"], reading)),
                          "margin": m}
        return ok

    for p in base:
        f, g, eta, v = _thm44_outcome(p)
        half = bool(p["half"])
        th = chen.theorem_4_4(v, p["lam"], eta, p["C"], omega=p["omega"], half=half)
        errs += [_rel(f[k], th["ft"][k]) for k in ("local", "global", "global_mixture")]
        errs += [_rel(g[k], th["lp_ft"][k]) for k in ("local", "global", "global_mixture")]
        sc, _ = concept_instance(p)
        B0, V0 = synthetic.idealised_init(sc)
        w_i = sc.truth["V_stars"][0] @ sc.truth["B_star"]
        stable.append(eta * chen.sharpness(B0, V0, np.eye(sc.d), w_i, half))
        reg = _regime(p["a"])
        for reading in chen.GLOBAL_READINGS:
            ok = record(p, reading, "drawn")
            descent_agree += ok and p["a"] < 2
            descent_total += p["a"] < 2
            if reading == "others" and p["omega"] == 0.0:
                n_win, n = by_regime.get(reg, (0, 0))
                by_regime[reg] = (n_win + bool(g["global"] < f["global"]), n + 1)
    boundary = _thm44_boundary_points(ctx, condition, base)
    b_agree = agree
    for p, reading in boundary:
        record(p, reading, "boundary")
    b_agree = agree - b_agree
    budget = 120 if ctx.quick else 600
    adv = {r: _adversary(_thm44_margin(condition, r), THM44_SPACE, budget, ctx.seed + 4) for r in chen.GLOBAL_READINGS}
    for r, a in adv.items():
        total += 1
        agree += not a["broken"]
        if a["broken"] and first_fail is None:
            p = a["instance"]
            f, g, eta, _ = _thm44_outcome(p)
            key = "global" if r == "others" else "global_mixture"
            first_fail = {"call": _concept_call(p), "found_by": "adversary", "a": p["a"], "reading": r, "eta": eta,
                          "FT": f[key], "LP-FT": g[key], "margin": a["worst_margin"],
                          "condition_says_LPFT_wins": bool(condition(p["a"], p["omega"], p["C"], r))}
    closed_ok = max(errs) < 1e-8
    status = condition_status(agree, total, closed_ok)
    regimes = {reg: {"LPFT_wins": f"{w}/{n}"} for reg, (w, n) in sorted(by_regime.items())}
    sc = synthetic.concept_shift(20, 3, 5, 1.0, rng=0)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    f0, g0 = _engine_losses(sc, ft(0.1, 1)), _engine_losses(sc, lp_ft(0.1, 1))
    return Verdict(
        "chen-thm-4.4", "Theorem 4.4 (concept shift): LP-FT achieves lower global loss than FT", SRC, status,
        {"condition_predicts_winner": f"{agree}/{total}",
         "counted": "drawn instances and boundary points (each reading), and one per adversarial search",
         "boundary_points": {"points": len(boundary), "agree": b_agree,
                             "where": "5e-4 on each side of every root in a of the condition under test and of "
                                      "a = 1 and the reading's root (r = 2 omega - 1, r_mix)"},
         "adversary": adv,
         "admissible_space": "Assumption 4.1 (B* orthonormal rows, V_i* = [V_com; lam u_i], <u_i, u_j> = omega), "
                             "Sigma_i = I, start (B*, [V_com; 0]), exact LP then one FT step; a = eta*beta in "
                             f"(0, {A_MAX}] (steps through 1/beta and 2/beta), |V_com|^2 in [0.01, 10], lam in "
                             "[0.05, 3], C in 2..5, m in 1..3, with and without the 1/2",
         "max_rel_error_closed_form_vs_simulation": max(errs),
         "readings": "others and mixture, each instance",
         "closed_form": {"FT": "local lam^2 (a-1)^2, others lam^2 (a^2 - 2 omega a + 1)",
                         "LP-FT (exact LP)": "local 0, others 2 lam^2 (1 - omega)",
                         "a": "eta c (1 + |V_com|^2) = eta * beta, beta = curvature of the local loss along the step"},
         "stable_step_regime": {
             "omega=0, others reading, by eta*beta": regimes,
             "condition_on_descent_steps_(a<2)": f"{descent_agree}/{descent_total} agree",
             "eta*beta_max_(full Hessian at the start)": {"min": float(min(stable)), "max": float(max(stable)),
                                                          "instances_with_eta>2/beta_max": int(sum(s > 2 for s in stable))}},
         "matched_local_loss": "claim chen-thm-4.4-matched-local",
         "gradient_flow_(no_step_size)": _flow_view(ctx.quick),
         "condition_uses": list(getattr(condition, "uses", THM44_CONDITION_USES))},
        condition="others: (a - 1)(a - (2 omega - 1)) > 0;  mixture: (a - 1)(a - (2 omega (C-1) - (C-2))/C) > 0;  "
                  "a = eta c (1 + |V_com|^2) = eta * beta  (c = 2 for E(f-y)^2, 1 for 1/2 E(f-y)^2)",
        condition_words="Derived here (the paper states no condition): with disjoint private features (omega = 0) "
                        "LP-FT has the lower global loss exactly when one FT step overshoots the client's optimum "
                        "(eta > 1/beta) under both readings; with overlap the two readings differ (e.g. C = 2, "
                        "omega = 0.3: LP-FT also wins the mixture for a < 0.3). LP-FT's advantage is FT's overshoot, "
                        "4 lam^2 (a - 1)(1 - omega) above the local/global frontier (claims chen-ft-step-frontier and "
                        "chen-thm-4.4-matched-local).",
        counterexample=first_fail or {
            "meaning": "the theorem as stated (no condition) fails for small steps: FT has the lower global loss",
            "command": "lpft simulate --scenario concept --eta 0.1 --steps 1 --strategies ft,lp-ft --seed 0",
            "a": chen.ft_coefficient(v, 0.1), "FT_global": f0["global"], "LPFT_global": g0["global"]},
        notes="Under Sigma = I the global loss depends only on the predictor; every interpolating strategy has "
              "global loss 2 lambda^2 (1 - omega), so FT and LP-FT coincide at convergence. Under gradient flow "
              "(omega = 0) FT's global loss never exceeds LP-FT's by more than ~1e-8 lambda^2: step-size free, "
              "the theorem's conclusion fails at every time.")


# --------------------------------------------------------------------------- Theorem 4.5 and Remark 4.6
THM45_SPACE = _space(aprime=(1e-3, 3.0), eps=(0.05, 2.0), sigma=(0.0, 3.0), log10_v=(-2.0, 1.0),
                     c_own=(-1.0, 1.0), c_other=(-1.0, 1.0), c_shared=(-1.0, 1.0), c_out=(-1.0, 1.0),
                     c_rand=(-1.0, 1.0), m=(1, 3, int), C=(2, 4, int), extra=(1, 3, int), half=(0, 1, int),
                     seed=(0, 10 ** 6, int))
"""Theorem 4.5's setting: Assumption 4.1, ``x_i = e_i + εz``, the idealised start, exact LP and one FT step. Each
shift ``e_i = σ·unit(c_own b_i + c_other b̄_{−i} + c_shared ŵ_0 + c_out n_i + c_rand r_i)`` mixes the client's
private feature, the other clients' ones, the shared predictor, a direction off rowspace(B*) and a random one;
``η = a'/(c(σ² + ε²)(1 + ‖V_com‖²))`` (a' = ηβ for private shifts; a' up to 3 takes steps through 1/β and 2/β)."""


def combined_instance(p: dict) -> dict:
    """``B_star, V_com, shifts, eps, eta, half`` of a point of :data:`THM45_SPACE` (rerunnable from ``p``)."""
    g = np.random.default_rng(p["seed"])
    m, C = p["m"], p["C"]
    k = m + C
    d = k + p["extra"]
    B = synthetic.orthonormal_rows(k, d, g)
    v = 10.0 ** p["log10_v"]
    Vc = np.sqrt(v) * _unit(g, m)
    w0 = B[:m].T @ Vc
    comp = np.linalg.qr(np.concatenate([B.T, g.standard_normal((d, d - k))], axis=1))[0][:, k:]
    shifts = np.zeros((C, d))
    for i in range(C):
        b = B[m + i]
        direction = (p["c_own"] * b + p["c_other"] * (B[m:].sum(axis=0) - b) / (C - 1)
                     + p["c_shared"] * w0 / np.linalg.norm(w0) + p["c_out"] * comp @ _unit(g, d - k)
                     + p["c_rand"] * _unit(g, d))
        norm = np.linalg.norm(direction)
        if norm > 1e-12:
            shifts[i] = p["sigma"] * direction / norm
    half = bool(p["half"])
    eta = p["aprime"] / ((1.0 if half else 2.0) * (p["sigma"] ** 2 + p["eps"] ** 2) * (1 + v))
    return {"B_star": B, "V_com": Vc, "shifts": shifts, "eps": p["eps"], "eta": eta, "half": half}


def combined_scenario(p: dict, lam: float):
    """The engine's scenario (``synthetic.combined_shift`` with the instance's own shifts) at heterogeneity ``lam``,
    and the instance: the same B* as :func:`combined_instance` (checked)."""
    i = combined_instance(p)
    k, d = i["B_star"].shape
    m = i["V_com"].shape[0]
    sc = synthetic.combined_shift(d, m, k - m, lam, eps=i["eps"], shifts=i["shifts"], V_com=i["V_com"], rng=p["seed"])
    if not np.array_equal(sc.truth["B_star"], i["B_star"]):
        raise RuntimeError("combined_scenario: the engine's B* differs from the instance's")
    return sc, i


def _engine_descends(p: dict, lam: float = 1e-3) -> bool:
    """The engine's verdict on descent at a small λ: every client's own loss after one FT step (its own copy) below
    the global model's loss on its data (``cross_matrix`` diagonals, independent of :func:`chen.exact_gap_coeffs`)."""
    sc, i = combined_scenario(p, lam)
    arch = two_layer(sc.d, i["B_star"].shape[0])
    pG = two_layer_params(*synthetic.idealised_init(sc))
    start = np.diag(cross_matrix(arch, ft(i["eta"], 0)(arch, pG, sc.population, half=i["half"]).params, sc.population,
                                 half=i["half"]))
    after = np.diag(cross_matrix(arch, ft(i["eta"], 1)(arch, pG, sc.population, half=i["half"]).params, sc.population,
                                 half=i["half"]))
    return bool(np.all(after < start))


def _combined_call(p: dict) -> str:
    return (f"i = paper_checks.chen2025.combined_instance({p!r}); "
            "chen.exact_gap_coeffs(i['B_star'], i['V_com'], i['shifts'], i['eps'], i['eta'], half=i['half'])")


_EXACT: dict = {}


def _exact45(p: dict) -> dict:
    """:func:`chen.exact_gap_coeffs` (plain GD arithmetic, no closed form) at the instance, cached."""
    key = tuple(sorted(p.items()))
    if key not in _EXACT:
        if len(_EXACT) > 20_000:
            _EXACT.clear()
        i = combined_instance(p)
        _EXACT[key] = chen.exact_gap_coeffs(i["B_star"], i["V_com"], i["shifts"], i["eps"], i["eta"], half=i["half"])
    return _EXACT[key]


def _every_client_descends(local, start) -> bool:
    """FT's step is a descent step for the clients: every client's own loss after it is below its start."""
    return bool(np.all(np.asarray(local) < np.asarray(start)))


def _q0_margin(condition, reading: str, *, as_stated: bool = False, descends=None):
    """Signed distance of the exact small-λ outcome from the predicted side: ``±q_0/(G_FT + G_LPFT)`` at λ → 0
    (``q_0 > 0``: LP-FT's global loss is below FT's for every small λ). ``as_stated``: the theorem predicts it
    everywhere. ``descends(local0, start0)`` (e.g. :func:`_every_client_descends`): instances it rejects are
    outside the space (margin +inf)."""

    def margin(p):
        ex = _exact45(p)
        if descends is not None and not descends(ex["local0"], ex["start0"]):
            return np.inf
        r = ex[reading]
        q0n = r["q"][0] / (r["ft0"] + r["lpft0"])
        if as_stated:
            return q0n
        i = combined_instance(p)
        return q0n if condition(i["B_star"], i["V_com"], i["shifts"], i["eps"], i["eta"], half=i["half"],
                                reading=reading) else -q0n

    return margin


def _thm45_boundary_points(condition, base) -> list:
    """For each instance and reading: every boundary in η of ``condition`` (scan, bisection) and of the true
    window ``s_±`` (:func:`chen.theorem_4_5_step_window`), as points of the space 5e-4 on each side."""
    out = []
    for p in base:
        i = combined_instance(p)
        scale = (1.0 if i["half"] else 2.0) * (p["sigma"] ** 2 + p["eps"] ** 2) * (1 + 10.0 ** p["log10_v"])
        c = 1.0 if i["half"] else 2.0
        etas = np.geomspace(1e-3, 3.0, 161) / scale
        for reading in chen.GLOBAL_READINGS:
            found = _boundaries(lambda eta: condition(i["B_star"], i["V_com"], i["shifts"], i["eps"], eta,
                                                      half=i["half"], reading=reading), etas)
            w = chen.theorem_4_5_step_window(i["B_star"], i["V_com"], i["shifts"], i["eps"], half=i["half"],
                                             reading=reading)
            true = [s / c for s in (w["s_minus"], w["s_plus"]) if s is not None and s > 0]
            for eta in _around(sorted(set(found + true)), 0.0, np.inf):
                out.append(({**p, "aprime": float(eta * scale)}, reading))
    return out


def _condition_check(ctx, condition, descends) -> dict:
    """The derived condition on drawn instances, boundary points and by the adversary; the statement as stated by
    the adversary (both readings; restricted to the instances ``descends`` admits, when given)."""
    descent_only = descends is not None
    g = np.random.default_rng(ctx.seed + 45 + descent_only)
    base = [THM45_SPACE.point(x) for x in THM45_SPACE.sample(g, 40 if ctx.quick else 160)]
    if descent_only:
        base = [p for p in base if descends(_exact45(p)["local0"], _exact45(p)["start0"])]
    agree, total, first_fail, counts = 0, 0, None, {}
    for reading in chen.GLOBAL_READINGS:
        mg = _q0_margin(condition, reading, descends=descends)
        holds = [bool(_q0_margin(condition, reading, as_stated=True)(p) > 0) for p in base]
        counts[reading] = f"{sum(holds)}/{len(base)}"
        for p in base:
            m = mg(p)
            agree += m >= -TOL
            total += 1
            if m < -TOL and first_fail is None:
                first_fail = {"call": _combined_call(p), "found_by": "drawn", "reading": reading, "margin": m}
    boundary = [(p, r) for p, r in _thm45_boundary_points(condition, base[: 6 if ctx.quick else 16])
                if not descent_only or descends(_exact45(p)["local0"], _exact45(p)["start0"])]
    b_fail = 0
    for p, reading in boundary:
        m = _q0_margin(condition, reading, descends=descends)(p)
        ok = m >= -TOL
        agree += ok
        total += 1
        b_fail += not ok
        if not ok and first_fail is None:
            first_fail = {"call": _combined_call(p), "found_by": "boundary", "reading": reading, "margin": m}
    budget = 100 if ctx.quick else 500
    adv, stated = {}, {}
    for reading in chen.GLOBAL_READINGS:
        adv[reading] = _adversary(_q0_margin(condition, reading, descends=descends), THM45_SPACE, budget,
                                  ctx.seed + 5)
        stated[reading] = _adversary(_q0_margin(condition, reading, as_stated=True, descends=descends),
                                     THM45_SPACE, budget // 2, ctx.seed + 6, stop_below=-1e-3)
        total += 1
        agree += not adv[reading]["broken"]
        if adv[reading]["broken"] and first_fail is None:
            first_fail = {"call": _combined_call(adv[reading]["instance"]), "found_by": "adversary",
                          "reading": reading, "margin": adv[reading]["worst_margin"]}
    as_stated = next(({"call": _combined_call(a["instance"]), "reading": r, "q0_over_(G_FT+G_LPFT)": a["worst_margin"],
                       "meaning": "q_0 < 0: FT's global loss is below LP-FT's at every small lambda, so no lambda* > 0 "
                                  "exists" + (" (FT's step lowers every client's own loss here)" if descent_only else "")}
                      for r, a in stated.items() if a["broken"]), None)
    return {"agree": agree, "total": total, "first_fail": first_fail, "holds_on_drawn": counts,
            "drawn_instances": len(base), "drawn": base, "as_stated_instances": [a["instance"] for a in stated.values()
                                                                                  if a["broken"]], "boundary_points": len(boundary), "boundary_failures": b_fail,
            "adversary": {f"derived condition, {r}": a for r, a in adv.items()}
            | {f"as stated, {r}": a for r, a in stated.items()},
            "as_stated_counterexample": as_stated}


@lru_cache(maxsize=8)
def _condition_check_cached(seed: int, quick: bool, condition, descends) -> dict:
    from . import Context
    return _condition_check(Context(quick, seed), condition, descends)


THM45_CONDITION = ("holds iff the step s = eta c lies outside the window [s_-, s_+] = [(B - sqrt(B^2 + A D))/A, "
                   "(B + sqrt(B^2 + A D))/A] (no window if B^2 + A D < 0), where g_i = Sigma_i b_i, "
                   "u_i = (B*^T B* + |V_com|^2 I) g_i, A = <u_i^T Sigma_j u_i>, B = <u_i^T Sigma_j b_j>, "
                   "D = <b_i^T Sigma_j (b_i - 2 b_j)>, Sigma_j = e_j e_j^T + eps^2 I, means over the reading's pairs "
                   "(i fine-tunes, j evaluates: j != i for 'others', every j for 'mixture'); private shifts "
                   "e_i = sigma b_i: s_+ = 1/((sigma^2 + eps^2)(1 + |V_com|^2)), i.e. a' >= 1")
THM45_CONDITION_USES = ["eta", "eps", "shifts e_i", "V_com", "B*", "C", "half"]


def _predicts_lpft(r: dict, lam: float) -> bool:
    """Where a rule (:func:`chen.lambda_star` form) says LP-FT has the lower global loss."""
    again = r["lambda_star2"] is not None and lam >= r["lambda_star2"]
    return bool((r["holds_small_lambda"] and lam <= r["lambda_star"]) or again)


def _lambda_instances(ctx, n_quick=10, n_full=30):
    g = np.random.default_rng(ctx.seed + 1)
    for _ in range(n_quick if ctx.quick else n_full):
        seed, eta = int(g.integers(1 << 30)), float(g.uniform(0.05, 0.5))
        eps, shift = float(g.uniform(0.2, 1.5)), float(g.uniform(0.2, 3.0))
        t = synthetic.combined_shift(10, 2, 3, 1.0, eps=eps, shift=shift, geometry="random", rng=seed).truth
        yield dict(seed=seed, eta=eta, eps=eps, shift=shift, truth=t)


def _combined_sim(p, lam, reading):
    sc = synthetic.combined_shift(10, 2, 3, lam, eps=p["eps"], shift=p["shift"], geometry="random", rng=p["seed"])
    key = "global" if reading == "others" else "global_mixture"
    f, g = _engine_losses(sc, ft(p["eta"], 1)), _engine_losses(sc, lp_ft(p["eta"], 1))
    return f, g, key


def _call(p, lam) -> str:
    return (f"synthetic.combined_shift(10, 2, 3, {lam!r}, eps={p['eps']!r}, shift={p['shift']!r}, geometry='random', "
            f"rng={p['seed']}); ft/lp_ft(eta={p['eta']!r}, 1)")


def _check_rule(ctx, rule, lam_points) -> dict:
    """Simulate FT and LP-FT (the engine) where ``rule``'s λ-regions predict a winner; count agreements (both
    readings); the closed form of the gap against the engine at each point."""
    agree, total, errs, first_fail, rows = 0, 0, [], None, []
    for p in _lambda_instances(ctx):
        t = p["truth"]
        for reading in chen.GLOBAL_READINGS:
            q = chen.combined_gap_coeffs(t["B_star"], t["V_com"], t["shifts"], p["eps"], p["eta"], reading=reading)
            r_true, r = chen.lambda_star(q), rule(q)
            row = {"reading": reading, "agree": [], "point_descent": []}
            rows.append(row)
            lam_small = 0.5 * min([x for x in (r_true["lambda_star"], r_true["lambda_star2"]) if x] + [1.0])
            for lam in lam_points(r_true, lam_small, r):
                f, g, key = _combined_sim(p, lam, reading)
                # the structural closed form at this λ (q extrapolated to λ ~ 10³ would lose digits to round-off)
                cf = chen.combined_one_step(t["B_star"], t["V_com"], t["shifts"], p["eps"], lam, p["eta"], reading=reading)
                gap_cf = float(np.mean(cf["ft"] - cf["lp_ft"]))
                errs.append(abs((f[key] - g[key]) - gap_cf) / max(f[key], g[key]))
                if abs(gap_cf) < 1e-9 * max(f[key], g[key]):
                    continue  # an exact tie at a root: no winner to predict
                sim = bool(g[key] < f[key])
                ok = _predicts_lpft(r, lam) == sim
                agree += ok
                total += 1
                row["agree"].append(ok)
                row["point_descent"].append(_every_client_descends(cf["ft_local"], cf["start_local"]))
                if not ok and first_fail is None:
                    first_fail = {"call": _call(p, lam), "reading": reading, "lambda": lam, "FT": f[key],
                                  "LP-FT": g[key], "rule_says_LPFT_wins": not sim, "rule_output": r}
    # 1e-6 of the loss scale: at λ = 3λ** (up to ~10³) the losses reach ~10¹² and the engine's quadratic forms
    # lose digits to cancellation (measured up to 6e-8); a wrong closed form is off by O(1)
    return {"agree": agree, "total": total, "closed_ok": bool(errs) and max(errs) < 1e-6,
            "max_err": max(errs) if errs else None, "first_fail": first_fail, "rows": rows}


def _status45(cond: dict, extra_agree: int, extra_total: int, closed_ok: bool) -> str:
    """Holds under the derived condition when nothing broke it; confirmed only if the statement as stated was not
    broken either (then the condition was not needed)."""
    status = condition_status(cond["agree"] + extra_agree, max(cond["total"] + extra_total, 1), closed_ok)
    if status != "refuted" and cond["as_stated_counterexample"] is None:
        return bound_status(0, cond["total"] + extra_total)
    return status


@claim("chen-thm-4.5", figure="lambda_star")
def theorem_4_5(ctx, condition=chen.theorem_4_5_holds, rule=chen.lambda_star) -> Verdict:
    """``condition(B_star, V_com, shifts, eps, eta, half=, reading=) -> bool``: the condition under test, in the
    instance's primitive parameters (not the gap); ``rule(q) -> {lambda_star, lambda_star2, holds_small_lambda}``:
    the λ* the theorem asserts, checked by simulation at 0.9 and 1.1 λ*."""
    cond = _condition_check_cached(ctx.seed, ctx.quick, condition, None)
    res = _rule_check_cached(ctx.seed, ctx.quick, rule)
    status = _status45(cond, res["agree"], res["total"], res["closed_ok"])
    t, c = _case_truth(), LAMBDA_STAR_CASE
    win = chen.theorem_4_5_step_window(t["B_star"], t["V_com"], t["shifts"], c["eps"])
    ev = {"condition_predicts_winner": f"{cond['agree']}/{cond['total']}",
          "counted": "drawn instances and boundary points (each reading), one per adversarial search of the derived "
                     "condition",
          "theorem_holds_on_drawn_instances": cond["holds_on_drawn"],
          "boundary_points": {"points": cond["boundary_points"], "failures": cond["boundary_failures"],
                              "where": "5e-4 (relative) on each side of every boundary in eta of the condition under "
                                       "test and of the true window s_-, s_+"},
          "adversary": cond["adversary"] | res["adversary"],
          "admissible_space": "Assumption 4.1, x_i = e_i + eps z (any shifts e_i: along the client's own private "
                              "feature, the others', the shared predictor, off rowspace(B*), random), start (B*, [V_com; "
                              "0]), exact LP then one FT step, a' in (0, 3] (steps through 1/beta and 2/beta), eps in "
                              "[0.05, 2], sigma in [0, 3], C in 2..4, with and without the 1/2",
          "exact_outcome": "q_0 = lim_{lambda->0} (G_FT - G_LPFT)/lambda^2 from plain GD arithmetic at three lambdas "
                           "(chen.exact_gap_coeffs; the fit's misfit at a fourth lambda is part of chen-gap-quadratic)",
          "lambda_star_rule_predicts_simulated_winner": f"{res['sim_agree']}/{res['sim_total']}",
          "simulated_at": res["simulated_at"],
          "max_rel_error_closed_form_vs_simulation": res["max_err"],
          "window_on_the_lambda_star_instance": {"eta_c": 2 * c["eta"], "s_minus": win["s_minus"], "s_plus": win["s_plus"]},
          "matched_local_loss": _matched_combined(ctx.quick),
          "descent_regime": "claim chen-thm-4.5-descent",
          "condition_uses": list(getattr(condition, "uses", THM45_CONDITION_USES))}
    return Verdict(
        "chen-thm-4.5", "Theorem 4.5 (combined covariate-concept shift): there is lambda* such that for all "
        "lambda <= lambda* LP-FT's global loss is at most FT's", SRC, status, ev,
        condition=THM45_CONDITION + ". Then lambda* is the smallest positive root of the exact quadratic "
                  "(G_FT - G_LPFT)/lambda^2 = q_0 + q_1 lambda + q_2 lambda^2 (chen-gap-quadratic)",
        condition_words="Derived here, in the instance's own parameters: the theorem holds exactly when FT's step is "
                        "long enough (or, for some shift geometries, short enough) relative to the data scale — the "
                        "step lies outside a window fixed by the shifts, eps and |V_com|; inside it FT has the lower "
                        "global loss at every small heterogeneity and no lambda* > 0 exists. For private shifts the "
                        "window's upper end is a' = 1.",
        counterexample=cond["first_fail"] or res["first_fail"] or cond["as_stated_counterexample"] or {})


def _rule_points(r, lam_small, r_rule=None) -> list:
    """A small λ; 0.9 and 1.1 λ*; inside (λ*, λ**); 1.1 and 3 λ** (beyond the last root if q_0 < 0); and 5e-4
    (relative) on each side of every finite root, the true one (``r``) and the rule's under test (``r_rule``)."""
    roots = [x for rr in (r, r_rule or r) for x in (rr["lambda_star"], rr["lambda_star2"])
             if x is not None and 0 < x < np.inf]
    pts = [lam_small] + _around(sorted(set(roots)), 0.0, np.inf)
    if r["holds_small_lambda"] and np.isfinite(r["lambda_star"]):
        pts += [0.9 * r["lambda_star"], 1.1 * r["lambda_star"]]
        pts.append(1.5 * r["lambda_star"] if r["lambda_star2"] is None else 0.5 * (r["lambda_star"] + r["lambda_star2"]))
    if r["lambda_star2"] is not None:
        pts += [1.1 * r["lambda_star2"], 3.0 * r["lambda_star2"]]
    return pts


@lru_cache(maxsize=8)
def _rule_check_cached(seed: int, quick: bool, rule) -> dict:
    """``rule``'s λ-regions against the engine at :func:`_rule_points` (drawn instances) and against plain GD
    arithmetic by the adversary over :data:`LAMBDA_SPACE` (both readings)."""
    from . import Context
    ctx = Context(quick, seed)
    res = _check_rule(ctx, rule, _rule_points)
    adv = {f"lambda* rule, {r}": _adversary(_rule_margin(rule, r), LAMBDA_SPACE, 80 if quick else 400, seed + 46)
           for r in chen.GLOBAL_READINGS}
    broken = [a for a in adv.values() if a["broken"]]
    fail = res["first_fail"] or ({"call": _combined_call(broken[0]["instance"]), "found_by": "adversary",
                                  "lam_pos": broken[0]["instance"]["lam_pos"], "margin": broken[0]["worst_margin"]}
                                 if broken else None)
    return {**res, "sim_agree": res["agree"], "sim_total": res["total"], "agree": res["agree"] + len(adv) - len(broken),
            "total": res["total"] + len(adv), "adversary": adv, "first_fail": fail,
            "simulated_at": "both readings: a small lambda, 0.9/1.1 lambda*, inside (lambda*, lambda**), 1.1 and 3 "
                            "lambda** (beyond the last root if q_0 < 0), and 5e-4 (relative) on each side of every "
                            "root, the true one and the rule's"}


@lru_cache(maxsize=4)  # independent of the condition under test: shared with the mutation tests
def _matched_combined(quick: bool) -> dict:
    """FT vs LP-FT at matched local loss on the rerunnable λ* instance (exact population GD, λ = λ*/2):
    each method's (local, global) curve over η for T = 1 and 3 FT steps (LP-FT: LP a fraction α of the way
    to the exact head first, α ∈ {0.25, 0.5, 0.75, 1}), and the least global loss at equal local loss."""
    t, c = _case_truth(), LAMBDA_STAR_CASE
    q = chen.combined_gap_coeffs(t["B_star"], t["V_com"], t["shifts"], c["eps"], c["eta"])
    lam = 0.5 * chen.lambda_star(q)["lambda_star"]
    etas = np.linspace(0.02, 0.6, 30 if quick else 90)
    out = {"instance": f"LAMBDA_STAR_CASE at lambda = lambda*/2 = {lam:.4g}, eta in (0.02, 0.6)"}
    for T in (1, 3):
        curve = {m: {k: [] for k in ("local", "global", "eta", "T", "lp")} for m in ("FT", "LP-FT")}
        for alpha in (0.0, 0.25, 0.5, 0.75, 1.0):
            for eta in etas:
                with np.errstate(over="ignore", invalid="ignore"):
                    r = chen.pft_global_gap(t["B_star"], t["V_com"], t["shifts"], c["eps"], lam, eta, ft_steps=T,
                                            lp="partial", alpha=alpha)
                m, key = ("FT", "ft") if alpha == 0.0 else ("LP-FT", "lp_ft")
                if np.isfinite(r[f"{key}_local"]) and r[f"{key}_local"] < 1e6:
                    for k, val in (("local", r[f"{key}_local"]), ("global", r[f"{key}_global"]), ("eta", eta),
                                   ("T", T), ("lp", alpha)):
                        curve[m][k].append(val)
        curve = {m: {k: np.array(v) for k, v in d.items()} for m, d in curve.items()}
        lo = max(curve["FT"]["local"].min(), curve["LP-FT"]["local"].min())
        hi = min(np.quantile(curve["FT"]["local"], 0.5), np.quantile(curve["LP-FT"]["local"], 0.5))
        ells = np.geomspace(lo, hi, 4) if hi > lo > 0 else np.array([])
        if not ells.size:
            out[f"T={T}"] = "no common local-loss range: client GD diverges for most eta at this lambda"
            continue
        f, g = chen.matched_global(curve["FT"], ells), chen.matched_global(curve["LP-FT"], ells)
        out[f"T={T}"] = {"local_losses": _rounded(ells), "FT_global": _rounded(f), "LP-FT_global": _rounded(g),
                         "FT_minus_LPFT": _rounded(f - g)}
    return out


@claim("chen-thm-4.5-descent", figure="lambda_star")
def theorem_4_5_descent(ctx, condition=chen.theorem_4_5_holds, descends=_every_client_descends) -> Verdict:
    """Theorem 4.5 restricted to steps that lower every client's own loss (λ → 0): the statement as stated and the
    derived condition, each by drawn instances, boundary points and the adversary over the descent instances.
    ``descends(local0, start0)``: the filter under test; every drawn instance it admits, and each counterexample,
    is checked against the engine (:func:`_engine_descends`), and a disagreement breaks the check."""
    cond = _condition_check_cached(ctx.seed, ctx.quick, condition, descends)
    checked = cond["drawn"][: 12 if ctx.quick else 40] + cond["as_stated_instances"]
    not_descent = [p for p in checked if not _engine_descends(p)]
    status = _status45(cond, 0, 0, not not_descent)
    return Verdict(
        "chen-thm-4.5-descent", "Theorem 4.5 in the descent regime", SRC, status,
        {"condition_predicts_winner": f"{cond['agree']}/{cond['total']}",
         "descent_instances_drawn": cond["drawn_instances"],
         "theorem_holds_on_drawn_descent_instances": cond["holds_on_drawn"],
         "descent": "every client's own loss after FT's step is below its start, in the limit lambda -> 0 (the "
                    "regime the theorem speaks about); instances outside it are outside the space (margin +inf)",
         "engine_verified_descent": f"{len(checked) - len(not_descent)}/{len(checked)} (drawn instances and the "
                                    "counterexamples, the engine at lambda = 1e-3)",
         "boundary_points": {"points": cond["boundary_points"], "failures": cond["boundary_failures"]},
         "adversary": cond["adversary"],
         "condition_uses": list(getattr(condition, "uses", THM45_CONDITION_USES))},
        condition=THM45_CONDITION + "; restricted to steps that lower every client's own loss",
        condition_words="Derived here: with descent steps only, the theorem holds exactly when the step is long enough "
                        "to leave the window [s_-, s_+] and still short enough to lower every client's loss; on the "
                        "drawn descent instances the window is usually not left (counts in the evidence).",
        counterexample=cond["first_fail"] or (
            {"call": _combined_call(not_descent[0]), "meaning": "admitted as a descent instance, but the engine has "
                                                                "some client's own loss rising"} if not_descent else None)
        or cond["as_stated_counterexample"] or {})


@claim("chen-remark-4.6", figure="lambda_star")
def beyond_lambda_star(ctx, condition=chen.theorem_4_5_holds, rule=chen.lambda_star) -> Verdict:
    """Remark 4.6's "LP-FT wins at low heterogeneity" under the derived condition (shared with Theorem 4.5), and
    the reviewers' question λ > λ*: ``rule`` (as for :func:`theorem_4_5`) checked by simulation inside
    (λ*, λ**), at 1.1 and 3 λ** (beyond the last root if q_0 < 0), and by the adversary over λ."""
    cond = _condition_check_cached(ctx.seed, ctx.quick, condition, None)
    res = _rule_check_cached(ctx.seed, ctx.quick, rule)
    status = _status45(cond, res["agree"], res["total"], res["closed_ok"])
    pairs = [(ok, d) for row in res["rows"] for ok, d in zip(row["agree"], row["point_descent"])]
    n_desc = sum(d for _, d in pairs)
    t, c = _case_truth(), LAMBDA_STAR_CASE
    r = chen.lambda_star(chen.combined_gap_coeffs(t["B_star"], t["V_com"], t["shifts"], c["eps"], c["eta"]))
    fail = cond["first_fail"] or res["first_fail"]
    return Verdict(
        "chen-remark-4.6", "Remark 4.6: LP-FT wins at low heterogeneity; the theory says nothing for lambda > lambda*",
        SRC, status,
        {"condition_predicts_winner": f"{cond['agree']}/{cond['total']}",
         "low_heterogeneity": "the derived condition of chen-thm-4.5 (the same checks)",
         "lambda_star_rule_predicts_simulated_winner": f"{res['sim_agree']}/{res['sim_total']}",
         "simulated_at": res["simulated_at"],
         "instances_with_a_second_root": sum(1 for x in res["rows"] if len(x["agree"]) >= 2),
         "adversary": cond["adversary"] | res["adversary"],
         "stable_step_regime": {
             "simulated_points_where_FT's_step_lowers_every_client's_own_loss": f"{n_desc}/{len(pairs)}",
             "rule_agrees_there": f"{sum(ok for ok, d in pairs if d)}/{n_desc}"},
         "max_rel_error_closed_form_vs_simulation": res["max_err"],
         "example": {"lambda_star": r["lambda_star"], "lambda_star2": r["lambda_star2"], **c},
         "answer": "FT wins exactly on (lambda*, lambda**); LP-FT wins again for lambda >= lambda** because FT's "
                   "joint update overshoots by a term quadratic in lambda (q_2 >= 0; the identity is chen-gap-quadratic)",
         "condition_uses": list(getattr(condition, "uses", THM45_CONDITION_USES))},
        condition=THM45_CONDITION,
        condition_words="Derived here: LP-FT wins at low heterogeneity exactly when FT's step lies outside the window "
                        "of chen-thm-4.5. Beyond lambda*, the exact quadratic answers the reviewers: FT can win only on "
                        "a bounded band (lambda*, lambda**); when some client's shift has a part along both the shared "
                        "predictor and its own private feature (q_2 > 0), LP-FT wins again at high heterogeneity.",
        counterexample=fail or cond["as_stated_counterexample"] or {**c, "lambda_in_band": 0.5 * (r["lambda_star"] + r["lambda_star2"])})


LAMBDA_SPACE = Space(THM45_SPACE.names + ("lam_pos",), THM45_SPACE.lo + (0.0,), THM45_SPACE.hi + (1.0,),
                     THM45_SPACE.integer)
""":data:`THM45_SPACE` and the heterogeneity: λ log-uniform from 1e-2 of the smallest positive root of the exact
gap to 10× its largest (from 0.01 to 10 when it has none), inside [:data:`LAMBDA_MIN`, :data:`LAMBDA_MAX`]."""
LAMBDA_MIN, LAMBDA_MAX = 1e-4, 1e3
"""The heterogeneity range the λ statements are checked on: beyond 10³ the losses grow like λ⁴ and float64 loses the
gap to cancellation (roots there arise when ``q_2`` is ~1e-24, a shift nearly orthogonal to ``w_0`` or ``b_i``)."""


def _lambda_of(p: dict, q) -> float:
    roots = [x.real for x in np.atleast_1d(np.roots(q[::-1])) if abs(x.imag) < 1e-9 * (1 + abs(x.real)) and x.real > 0] \
        if abs(q[2]) > 0 else ([-q[0] / q[1]] if q[1] != 0 and -q[0] / q[1] > 0 else [])
    lo, hi = (1e-2 * min(roots), 10 * max(roots)) if roots else (1e-2, 10.0)
    lo, hi = min(max(lo, LAMBDA_MIN), LAMBDA_MAX / 10), min(max(hi, 10 * LAMBDA_MIN), LAMBDA_MAX)
    return float(np.exp(np.log(lo) + p["lam_pos"] * (np.log(hi) - np.log(lo))))


def _rule_margin(rule, reading: str):
    """Signed distance of the exact gap at λ (plain GD arithmetic) from the side ``rule(q)`` predicts."""
    def margin(p):
        i = combined_instance(p)
        poly = chen.combined_gap_poly(i["B_star"], i["V_com"], i["shifts"], i["eps"], i["eta"], half=i["half"],
                                      reading=reading)["q"]
        lam = _lambda_of(p, poly)
        ex = chen.combined_exact(i["B_star"], i["V_com"], i["shifts"], i["eps"], lam, i["eta"], half=i["half"])
        key = "others" if reading == "others" else "mixture"
        gap = float(np.mean(ex[f"ft_{key}"] - ex[f"lpft_{key}"]))
        scale = float(np.mean(ex[f"ft_{key}"] + ex[f"lpft_{key}"]))
        if abs(gap) < 1e-9 * scale:
            return 0.0  # a tie at a root
        q = chen.combined_gap_coeffs(i["B_star"], i["V_com"], i["shifts"], i["eps"], i["eta"], half=i["half"],
                                     reading=reading)
        return gap / scale if _predicts_lpft(rule(q), lam) else -gap / scale
    return margin


@claim("chen-gap-quadratic", figure="lambda_star")
def gap_quadratic(ctx, poly=chen.combined_gap_poly) -> Verdict:
    """The identity behind Theorem 4.5 and Remark 4.6: ``(G_FT − G_LPFT)/λ² = q_0 + q_1λ + q_2λ²`` exactly, with
    ``q`` in the instance's primitive parameters (``poly``, :func:`chen.combined_gap_poly`) and ``q_2 >= 0``."""
    tol = 1e-8

    def margin(p):
        i = combined_instance(p)
        worst = np.inf
        for reading in chen.GLOBAL_READINGS:
            q = poly(i["B_star"], i["V_com"], i["shifts"], i["eps"], i["eta"], half=i["half"], reading=reading)["q"]
            lam = _lambda_of(p, q)
            ex = chen.combined_exact(i["B_star"], i["V_com"], i["shifts"], i["eps"], lam, i["eta"], half=i["half"])
            ft_l, lp_l = ex[f"ft_{reading}"].mean(), ex[f"lpft_{reading}"].mean()
            err = abs((ft_l - lp_l) / lam ** 2 - (q[0] + q[1] * lam + q[2] * lam ** 2)) / ((ft_l + lp_l) / lam ** 2)
            worst = min(worst, tol - err, q[2] / ((ft_l + lp_l) / lam ** 2) + tol)
        return worst

    g = np.random.default_rng(ctx.seed + 47)
    drawn = [LAMBDA_SPACE.point(x) for x in LAMBDA_SPACE.sample(g, 30 if ctx.quick else 100)]
    margins = [margin(p) for p in drawn]
    adv = _adversary(margin, LAMBDA_SPACE, 80 if ctx.quick else 400, ctx.seed + 48, tol=0.0)
    bad = [p for p, m in zip(drawn, margins) if m < 0] + ([adv["instance"]] if adv["broken"] else [])
    resid = max(_exact45({k: v for k, v in p.items() if k != "lam_pos"})["residual"] for p in drawn[:10])
    return Verdict(
        "chen-gap-quadratic", "The one-step gap is exactly quadratic in lambda", SRC,
        bound_status(len(bad), len(drawn) + 1),
        {"instances": len(drawn) + 1, "violations": len(bad), "tolerance_relative": tol,
         "closed_form": "q_0 = A s^2 - 2 B s - D, q_1 = 2 <t_i^T Sigma_j (s u_i - b_j)>, q_2 = <t_i^T Sigma_j t_i> >= 0, "
                        "t_i = s^2 (w_0^T g_i) g_i (chen.combined_gap_poly)",
         "consequence": "q_2 >= 0: FT can win only on a bounded band (lambda*, lambda**) when q_0 > 0; when q_0 < 0 "
                        "LP-FT wins only beyond the last root; q_1 = q_2 = 0 (a lambda-free winner) unless some client "
                        "has (w_0^T e_i)(e_i^T b_i) != 0",
         "lambda_range": "log-uniform from 1e-2 x the smallest positive root to 10 x the largest (0.01 to 10 if none), "
                         f"inside [{LAMBDA_MIN:g}, {LAMBDA_MAX:g}] (beyond, float64 loses the gap to cancellation)",
         "exact_fit_misfit_at_a_fourth_lambda": resid,
         "adversary": adv},
        counterexample={"call": _combined_call(bad[0]), "lam_pos": bad[0]["lam_pos"]} if bad else {},
        notes="The margin is tol - |exact - closed form| / (G_FT + G_LPFT) and q_2 / (G_FT + G_LPFT) + tol, the "
              "smaller of the two, both readings.")


# --------------------------------------------------------------------------- the local/global frontier
FRONTIER_SCOPE = ("concept shift (Assumption 4.1, Sigma_i = I, overlap omega), exact population losses, client i "
                  "starting from the idealised global model (B*, [V_com; 0]); every method whose update is a linear "
                  "combination of client i's population gradients of (B, V): GD (FT), head-only GD and exact or "
                  "partial LP before it (LP-FT), heavy-ball and Nesterov momentum, any step sizes and decaying "
                  "schedules, any number of steps")
OUT_OF_SCOPE = ("Adam (coordinate-wise step sizes), GD with a fixed non-isotropic preconditioner, and GD on a finite "
                "sample (gradient Sigma_hat (w - w*) with Sigma_hat != I): their iterates leave client i's 2x2 "
                "invariant plane")

_INSTANCE = dict(log10_v=(-2.0, 1.0), lam=(0.05, 3.0), omega=(0.0, 1.0), m=(1, 3, int), C=(2, 5, int),
                 extra=(0, 3, int), half=(0, 1, int), seed=(0, 10 ** 6, int))
IN_SCOPE_SPACE = _space(**_INSTANCE, method=(0, len(chen.IN_SPAN_METHODS) - 1, int), a=(1e-3, 2.5), T=(1, 30, int),
                        momentum=(0.0, 0.95), decay=(0.8, 1.1), lp=(0, 2, int), lp_alpha=(0.0, 1.0),
                        lp_steps=(1, 10, int))
"""A concept-shift instance and an in-scope method: ``method`` indexes :data:`chen.IN_SPAN_METHODS`; ``lp``: 0 no
LP, 1 a fraction ``lp_alpha`` of the way to the exact head, 2 ``lp_steps`` head-only steps; step ``a/β·decay^t``."""
OUT_SCOPE_SPACE = _space(**_INSTANCE, method=(0, 2, int), a=(1e-3, 2.5), T=(1, 30, int), decay=(0.8, 1.1),
                         log10_cond=(0.0, 2.0), n=(3, 100, int), noise=(0.0, 0.5))
"""``method``: 0 Adam (step ``0.05·a·λ``), 1 preconditioned GD (condition number ``10^log10_cond``), 2 GD on ``n``
samples with label noise ``noise``."""


def _run_method(p: dict, out_of_scope: bool):
    """``(losses of client 0's predictor, targets, v)`` after the method of ``p`` on the instance of ``p``."""
    sc, v = concept_instance({**p, "a": 1.0})
    half = bool(p["half"])
    B0, V0 = synthetic.idealised_init(sc)
    ws = sc.truth["V_stars"] @ sc.truth["B_star"]
    eta = p["a"] / chen.step_curvature(v, half)
    g = np.random.default_rng(p["seed"] + 1)
    kw = {"decay": p["decay"], "half": half}
    if not out_of_scope:
        kw.update(method=chen.IN_SPAN_METHODS[p["method"]], momentum=p["momentum"])
        if p["lp"] == 1:
            kw["lp_alpha"] = p["lp_alpha"]
        elif p["lp"] == 2:
            kw["lp_steps"] = p["lp_steps"]
    elif p["method"] == 0:
        kw.update(method="adam")
        eta = 0.05 * p["a"] * p["lam"]
    elif p["method"] == 1:
        Q = np.linalg.qr(g.standard_normal((sc.d, sc.d)))[0]
        kw.update(method="precond", precond=Q @ np.diag(np.geomspace(1.0, 10 ** p["log10_cond"], sc.d)) @ Q.T
                  / 10 ** (p["log10_cond"] / 2))
    else:
        X = g.standard_normal((p["n"], sc.d))
        y = X @ ws[0] + p["noise"] * p["lam"] * g.standard_normal(p["n"])
        kw.update(Sigma=X.T @ X / p["n"], xty=X.T @ y / p["n"])
    with np.errstate(over="ignore", invalid="ignore"):
        w = chen.client_optimizer_run(B0, V0, ws[0], p["T"], eta, **kw)
        L = chen.predictor_losses(w, ws, 0, half)
    return L, ws, v


def _frontier_margin(frontier, out_of_scope: bool):
    """``min over readings (G − frontier(ℓ))/(fλ²)`` at the method's own local loss ℓ (diverged runs: +inf)."""
    def margin(p):
        L, ws, v = _run_method(p, out_of_scope)
        f = 0.5 if p["half"] else 1.0
        if not all(np.isfinite(x) and x < 1e3 * (p["lam"] ** 2 + v) for x in L.values()):
            return np.inf
        fr = frontier(L["local"], p["lam"], p["C"], p["omega"], bool(p["half"]))
        return min(L["global"] - fr["global"], L["global_mixture"] - fr["global_mixture"]) / (f * p["lam"] ** 2)
    return margin


def _any_margin(p):
    """The same against :func:`chen.frontier_any` (every predictor), from the instance's own targets."""
    L, ws, v = _run_method(p, p.get("scope") == 1)
    if not all(np.isfinite(x) and x < 1e3 * (p["lam"] ** 2 + v) for x in L.values()):
        return np.inf
    f, half = (0.5 if p["half"] else 1.0), bool(p["half"])
    return min(L["global"] - chen.frontier_any(L["local"], ws, 0, half),
               L["global_mixture"] - chen.frontier_any(L["local"], ws, 0, half, "mixture")) / (f * p["lam"] ** 2)


def _engine_brute_force(ctx, frontier) -> dict:
    """The engine's FT and LP-FT (exact, partial α = 0.4, one LP step) over a grid of a and T: the least excess
    over the frontier, and one FT step with a <= 1 on it (the frontier is attained)."""
    excess, on, n = [], [], 0
    grid_a = np.linspace(0.1, 2.4, 6 if ctx.quick else 10)
    for omega, half in ((0.0, False), (0.6, True))[: 1 if ctx.quick else 2]:
        lam, C = 0.9, 4
        sc = synthetic.concept_shift(9, 2, C, lam, overlap=omega, rng=ctx.seed + 3)
        v = float(sc.truth["V_com"] @ sc.truth["V_com"])
        beta = chen.step_curvature(v, half)
        f = 0.5 if half else 1.0
        for a in grid_a:
            eta = a / beta
            for T in (1, 3, 8):
                for strat in (ft(eta, T), lp_ft(eta, T), lp_ft(eta, T, lp("partial", alpha=0.4)),
                              lp_ft(eta, T, lp("steps", eta=eta, steps=1))):
                    s = _engine_losses(sc, strat, half)
                    fr = frontier(s["local"], lam, C, omega, half)
                    excess.append(min(s["global"] - fr["global"], s["global_mixture"] - fr["global_mixture"]) / (f * lam ** 2))
                    n += 1
                    if T == 1 and strat.name == "FT" and a <= 1:
                        on.append(abs(s["global"] - fr["global"]) / (f * lam ** 2))
    return {"runs": n, "least_excess": float(min(excess)), "one_step_a<=1_distance": float(max(on)),
            "violations": sum(x < -1e-7 for x in excess), "attained": bool(max(on) < 1e-7)}


@claim("chen-frontier-gd", figure="pareto_frontier")
def frontier_gd(ctx, frontier=chen.pareto_frontier) -> Verdict:
    """The local/global frontier ``G*(ℓ)`` (``frontier``, :func:`chen.pareto_frontier`) against every method of
    its scope: the engine's FT/LP-FT on a grid and the adversary over :data:`IN_SCOPE_SPACE` (below it: a
    violation); attained by one FT step with a <= 1. Methods outside the scope are searched too, and reported."""
    bf = _engine_brute_force(ctx, frontier)
    tol = 1e-7  # G* depends on √ℓ: round-off of 1e-17 in ℓ ≈ 0 moves it by ~1e-8
    adv = _adversary(_frontier_margin(frontier, False), IN_SCOPE_SPACE, 150 if ctx.quick else 800, ctx.seed + 7, tol=tol)
    out = _adversary(_frontier_margin(frontier, True), OUT_SCOPE_SPACE, 80 if ctx.quick else 300, ctx.seed + 8, tol=tol)
    violations = bf["violations"] + adv["broken"] + (not bf["attained"])
    cx = {}
    if adv["broken"]:
        cx = {"call": f"paper_checks.chen2025._run_method({adv['instance']!r}, out_of_scope=False)",
              "excess_over_frontier_per_lam2": adv["worst_margin"]}
    elif bf["violations"] or not bf["attained"]:
        cx = {"engine_brute_force": bf}
    return Verdict(
        "chen-frontier-gd", "The local/global Pareto frontier of client-side gradient methods", SRC,
        bound_status(violations, bf["runs"] + 2),
        {"frontier": "G*(l) = lam^2 (1 - omega^2) + (lam (1 - omega) - sqrt(l))^2; mixture (l + (C-1) G*)/C",
         "scope": FRONTIER_SCOPE, "engine_brute_force": bf, "adversary": {"in scope": adv, "outside the scope": out},
         "instances": bf["runs"] + 2, "violations": violations,
         "outside_the_scope": {"methods": OUT_OF_SCOPE, "least_excess_over_G*_per_lam2": out["worst_margin"],
                               "instance": out["instance"],
                               "reading": "negative: they go below G*; chen-frontier-any gives the frontier that "
                                          "bounds every predictor"}},
        counterexample=cx,
        notes="Why: from the idealised start every gradient of client i's population loss lies in span{V_0, e_i} x "
              "span{w_0, b_i}, so these methods only reach predictors of a plane, where local and global loss are "
              "squared distances to two points; G* is the distance along the line through them.")


@claim("chen-frontier-any", figure="pareto_frontier")
def frontier_any_method(ctx, frontier=chen.frontier_any) -> Verdict:
    """Every predictor — whatever method produced it — has global loss at least ``G_any(ℓ)`` at local loss ℓ
    (``frontier``, :func:`chen.frontier_any`); the closed form :func:`chen.pareto_frontier_any` agrees with it."""
    space = Space(OUT_SCOPE_SPACE.names + ("scope",), OUT_SCOPE_SPACE.lo + (-0.49,), OUT_SCOPE_SPACE.hi + (1.49,),
                  OUT_SCOPE_SPACE.integer + ("scope",))

    def margin(p):
        if p["scope"] == 0:  # an in-scope method: GD / heavy ball / Nesterov by the method index
            q = {**p, "method": min(p["method"], len(chen.IN_SPAN_METHODS) - 1), "momentum": 0.5, "lp": 0,
                 "lp_alpha": 0.0, "lp_steps": 1}
            L, ws, v = _run_method(q, False)
        else:
            L, ws, v = _run_method(p, True)
        if not all(np.isfinite(x) and x < 1e3 * (p["lam"] ** 2 + v) for x in L.values()):
            return np.inf
        f, half = (0.5 if p["half"] else 1.0), bool(p["half"])
        return min(L["global"] - frontier(L["local"], ws, 0, half),
                   L["global_mixture"] - frontier(L["local"], ws, 0, half, "mixture")) / (f * p["lam"] ** 2)

    tol = 1e-7
    adv = _adversary(margin, space, 120 if ctx.quick else 600, ctx.seed + 9, tol=tol)
    g = np.random.default_rng(ctx.seed + 10)
    closed_err, attained, below = 0.0, 0.0, []
    for x in space.sample(g, 10 if ctx.quick else 40):
        p = space.point(x)
        sc, v = concept_instance({**p, "a": 1.0})
        ws = sc.truth["V_stars"] @ sc.truth["B_star"]
        half, f = bool(p["half"]), (0.5 if p["half"] else 1.0)
        ell = f * p["lam"] ** 2 * np.array([0.0, 0.1, 0.5, 1.0])
        cf = chen.pareto_frontier_any(ell, p["lam"], p["C"], p["omega"], half)
        closed_err = max(closed_err, float(np.max(np.abs(cf["global"] - frontier(ell, ws, 0, half)))) / (f * p["lam"] ** 2),
                         float(np.max(np.abs(cf["global_mixture"] - frontier(ell, ws, 0, half, "mixture")))) / (f * p["lam"] ** 2))
        # attained: the point at distance √ℓ from w_i* towards the others' mean target
        mean = np.delete(ws, 0, axis=0).mean(axis=0)
        unit = (mean - ws[0]) / np.linalg.norm(mean - ws[0])
        for l in ell[1:]:
            L = chen.predictor_losses(ws[0] + np.sqrt(l / f) * unit, ws, 0, half)
            attained = max(attained, abs(L["global"] - float(frontier(l, ws, 0, half))) / (f * p["lam"] ** 2))
        below.append(float(np.min(chen.pareto_frontier(ell[1:], p["lam"], p["C"], p["omega"], half)["global"]
                                  - cf["global"][1:])) / (f * p["lam"] ** 2))
    violations = int(adv["broken"]) + int(closed_err > 1e-9) + int(attained > 1e-9)
    return Verdict(
        "chen-frontier-any", "The frontier of every predictor (any method, any data)", SRC,
        bound_status(violations, 3),
        {"frontier": "G_any(l) = lam^2 (1 - |ubar|^2) + (lam kappa - sqrt(l))^2, |ubar|^2 = (1 + (C-2) omega)/(C-1), "
                     "kappa^2 = 1 - 2 omega + |ubar|^2; mixture (l + (C-1) G_any)/C",
         "scope": "every predictor w in R^d under concept shift (Sigma_i = I, population losses): in particular "
                  + OUT_OF_SCOPE + ", and the in-scope methods of chen-frontier-gd",
         "instances": 3, "violations": violations, "adversary": adv,
         "closed_form_vs_targets_max_error_per_lam2": closed_err, "attained_max_error_per_lam2": attained,
         "G*_minus_G_any_per_lam2_at_l_in_(0.1,0.5,1)_f_lam2": {"min": min(below), "max": max(below)}},
        counterexample={"call": f"paper_checks.chen2025._run_method({adv['instance']!r}, ...)",
                        "margin": adv["worst_margin"]} if adv["broken"] else {},
        notes="G_any is below G* for every 0 < l unless omega = 1: the other clients' mean target has a part off "
              "client i's plane that only updates leaving the plane can use.")


@claim("chen-ft-step-frontier", figure="pareto_frontier")
def ft_step_frontier(ctx, frontier=chen.pareto_frontier, excess=chen.ft_frontier_excess) -> Verdict:
    """One FT step lies on the frontier for a <= 1 and ``4λ²(a−1)(1−ω)`` above it for a > 1 (``excess``): the
    engine's losses against the closed form on drawn instances, points around a = 1 and the adversary."""
    tol = 1e-7

    def margin(p):
        f, _, _, _ = _thm44_outcome(p)
        h = 0.5 if p["half"] else 1.0
        fr = frontier(f["local"], p["lam"], p["C"], p["omega"], bool(p["half"]))
        ex = excess(p["a"], p["lam"], p["omega"], bool(p["half"]))
        err = max(abs(f["global"] - fr["global"] - ex), abs(f["global_mixture"] - fr["global_mixture"] - (p["C"] - 1) / p["C"] * ex))
        return tol - err / (h * p["lam"] ** 2)

    base = _concept_instances(ctx)
    pts = base + [{**p, "a": a} for p in base[:6] for a in _around([1.0, 2.0], 0.0, A_MAX)]
    ms = [margin(p) for p in pts]
    adv = _adversary(margin, THM44_SPACE, 100 if ctx.quick else 500, ctx.seed + 11, tol=0.0)
    bad = [p for p, m in zip(pts, ms) if m < 0] + ([adv["instance"]] if adv["broken"] else [])
    return Verdict(
        "chen-ft-step-frontier", "One FT step: on the frontier for a <= 1, 4 lam^2 (a-1)(1-omega) above it for a > 1",
        SRC, bound_status(len(bad), len(pts) + 1),
        {"instances": len(pts) + 1, "violations": len(bad), "tolerance_per_lam2": tol,
         "identity": "G_FT - G*(L_FT) = 4 lam^2 (a - 1)_+ (1 - omega) (others; (C-1)/C of it for the mixture; x1/2 "
                     "with the 1/2), a = eta beta; the mirror A = (2 - a) lam has the same local loss",
         "points_around_a=1_and_a=2": len(pts) - len(base), "adversary": adv,
         "scope": "concept shift, Assumption 4.1 with overlap, exact population losses, idealised start"},
        counterexample={"call": _concept_call(bad[0]), "a": bad[0]["a"]} if bad else {})


# --------------------------------------------------------------------------- matched local loss
MATCHED_DELTA_NOTE = "delta = 1e-3 lam^2 (losses divided by lam^2)"


def _etas(v: float, half: bool, n: int) -> np.ndarray:
    """Steps a = ηβ from 1e-6 (log-spaced up to 0.02: the undershooting root of a local loss near λ²) to 2.2."""
    a = np.unique(np.concatenate([np.geomspace(1e-6, 0.02, max(n // 4, 2)), np.linspace(0.02, 2.2, n)]))
    return a / chen.step_curvature(v, half)


def _lpft_configs(quick: bool) -> list:
    alphas = (0.5, 1.0) if quick else (0.25, 0.5, 0.75, 1.0)
    return [dict(lp_alpha=al) for al in alphas] + [dict(lp_steps=k) for k in ((1,) if quick else (1, 3))]


MATCHED_SPACE = _space(log10_v=(-2.0, 1.0), lam=(0.05, 3.0), omega=(0.0, 0.95), C=(2, 5, int), half=(0, 1, int),
                       lp_alpha=(0.0, 1.0), lp_steps=(0, 5, int), T=(1, 8, int), a=(1e-3, 2.2))
"""A concept-shift instance (2×2 reduction) and one LP-FT run: LP ``lp_steps`` head-only steps (0: a jump
``lp_alpha`` of the way to the exact head), then ``T`` FT steps of size ``a/β``."""


@claim("chen-thm-4.4-matched-local", figure="pareto_frontier")
def matched_local(ctx, matched=chen.matched_global_exact) -> Verdict:
    """LP-FT's least global loss against one FT step's at equal local loss (``matched``: the exact matched-local
    reader, :func:`chen.matched_global_exact`), per local-loss level; the adversary looks for an LP-FT run that
    beats one FT step at its own local loss by more than δ."""
    delta = declaration("chen-thm-4.4-matched-local").delta
    g = np.random.default_rng(ctx.seed + 12)
    fracs = (0.05, 0.25, 0.6)
    adv_by_level = {f"l = {x} lam^2 (1-omega)^2": [] for x in fracs}
    cases = []
    for _ in range(2 if ctx.quick else 5):
        v, lam, omega = 10 ** g.uniform(-1.5, 0.8), g.uniform(0.3, 2.0), g.choice([0.0, g.uniform(0, 0.8)])
        C, half = int(g.integers(2, 6)), bool(g.integers(0, 2))
        ells = np.array(fracs) * (0.5 if half else 1.0) * lam ** 2 * (1 - omega) ** 2
        etas = _etas(v, half, 40)
        with np.errstate(over="ignore", invalid="ignore"):
            ft1 = matched(v, lam, C, ells, 1, etas, omega=omega, half=half)["global"]
            best = np.full(len(ells), np.inf)
            for T in (1, 2, 5):
                for cfg in _lpft_configs(ctx.quick):
                    gl = matched(v, lam, C, ells, T, etas, omega=omega, half=half, **cfg)["global"]
                    best = np.fmin(best, np.where(np.isnan(gl), np.inf, gl))
        scale = (0.5 if half else 1.0) * lam ** 2
        for key, f1, b in zip(adv_by_level, ft1, best):
            adv_by_level[key].append((f1 - b) / scale)
        cases.append({"v": v, "lam": lam, "omega": float(omega), "C": C, "half": half,
                      "FT_one_step_minus_best_LPFT_per_lam2": _rounded((ft1 - best) / scale)})
    effects = {}
    for key, vals in adv_by_level.items():
        x = np.array(vals, float)
        x = np.where(np.isfinite(x), x, np.nan)
        worst = float(x[np.nanargmax(np.abs(x))])
        effects[key] = {"mean": worst, "lo": float(np.nanmin(x)), "hi": float(np.nanmax(x)), "n": int(np.sum(np.isfinite(x))),
                        "se": 0.0, "df": max(int(np.sum(np.isfinite(x))) - 1, 1)}

    def margin(p):
        v, half = 10 ** p["log10_v"], bool(p["half"])
        eta = p["a"] / chen.step_curvature(v, half)
        with np.errstate(over="ignore", invalid="ignore"):
            run = chen.reduced_concept_run(v, p["lam"], eta, p["T"], lp_alpha=None if p["lp_steps"] else p["lp_alpha"],
                                           lp_steps=p["lp_steps"], half=half)
            L = chen.reduced_losses(run, v, p["lam"], p["C"], p["omega"], half)
            ell, glob = float(L["local"][-1]), float(L["global"][-1])
            if not (np.isfinite(ell) and np.isfinite(glob)) or ell > (0.5 if half else 1.0) * p["lam"] ** 2:
                return np.inf
            f1 = matched(v, p["lam"], p["C"], [ell], 1, _etas(v, half, 40), omega=p["omega"], half=half)["global"][0]
        if not np.isfinite(f1):
            return np.inf
        return delta - (f1 - glob) / ((0.5 if half else 1.0) * p["lam"] ** 2)

    adv = _adversary(margin, MATCHED_SPACE, 60 if ctx.quick else 300, ctx.seed + 13, tol=0.0)
    if adv["broken"]:
        effects["adversary's LP-FT run"] = {"mean": delta - adv["worst_margin"], "lo": delta - adv["worst_margin"],
                                            "hi": delta - adv["worst_margin"], "n": 2, "se": 0.0, "df": 1}
    j = judge(effects, expect_positive=True, delta=delta)
    return Verdict(
        "chen-thm-4.4-matched-local", "Theorem 4.4 at matched local loss", SRC, j.status,
        {"effect": "LP-FT's advantage: one FT step's global loss minus LP-FT's least global loss at the same local "
                   "loss, over lam^2; exact (no sampling error: the effect is the extreme over instances, se = 0)",
         "effects_by_level": effects, "decision_tests": j.tests, "cases": cases, "adversary": adv,
         "lpft_runs": "LP a fraction alpha of the way (or 1-3 head-only steps), then T in {1, 2, 5} FT steps; eta over "
                      "(1e-6, 2.2)/beta, the exact roots in eta of local(eta) = l (Brent)",
         "scope": "concept shift, exact population losses, idealised start; " + MATCHED_DELTA_NOTE},
        sides=j.sides if j.status == "mixed" else {}, decided_by=j.reason,
        counterexample={"call": f"reduced run {adv['instance']!r}", "advantage_per_lam2": delta - adv["worst_margin"]}
        if adv["broken"] else {},
        notes="" if j.status != "inconclusive" else j.reason)


@claim("chen-ft-descent-frontier-gap", figure="pareto_frontier")
def ft_descent_frontier_gap(ctx, bound: float = 0.003, matched=chen.matched_global_exact) -> Verdict:
    """'After several descent steps FT sits at most 0.3 % of the global loss above the frontier' (``bound``): FT's
    least global loss after T >= 2 descent steps at matched local loss, relative to G*, on the instance the
    sentence was measured on and by the adversary over Assumption 4.1."""
    space = _space(log10_v=(-2.0, 1.0), lam=(0.05, 5.0), omega=(0.0, 0.95), C=(2, 5, int), T=(2, 20, int),
                   ell_frac=(0.02, 0.95))

    def excess(v, lam, omega, C, T, ells):
        with np.errstate(over="ignore", invalid="ignore"):
            gl = matched(v, lam, C, ells, T, _etas(v, False, 30), omega=omega, descent_only=True)["global"]
        fr = chen.pareto_frontier(ells, lam, C, omega)["global"]
        return (gl - fr) / fr

    def margin(p):
        ells = np.array([p["ell_frac"]]) * p["lam"] ** 2 * (1 - p["omega"]) ** 2
        e = excess(10 ** p["log10_v"], p["lam"], p["omega"], p["C"], p["T"], ells)[0]
        return bound - e if np.isfinite(e) else np.inf

    sc = synthetic.concept_shift(20, 3, 5, 1.0, rng=ctx.seed)
    v0 = float(sc.truth["V_com"] @ sc.truth["V_com"])
    ells0 = np.array([0.05, 0.1, 0.2, 0.4])
    ref = {f"T={T}": _rounded(excess(v0, 1.0, 0.0, 5, T, ells0)) for T in (5, 20)}
    ref_max = max(x for r in ref.values() for x in r if x is not None)
    adv = _adversary(margin, space, 30 if ctx.quick else 150, ctx.seed + 14, tol=0.0)
    violations = int(ref_max > bound) + int(adv["broken"])
    p = adv["instance"]
    return Verdict(
        "chen-ft-descent-frontier-gap", "After several descent steps FT sits at most 0.3 % of the global loss above "
        "the frontier", SRC, bound_status(violations, 2),
        {"bound": bound, "instances": 2, "violations": violations,
         "relative_excess_on_the_measured_instance": {"instance": f"concept_shift(20, 3, 5, 1.0, rng={ctx.seed}), "
                                                                  f"v = {v0:.4g}, local l in {ells0.tolist()}", **ref},
         "largest_relative_excess_found": bound - adv["worst_margin"],
         "statistic": "(G_FT,T(l) - G*(l)) / G*(l), G_FT,T(l): FT's least global loss after T descent steps at local "
                      "loss exactly l (exact roots in eta)", "adversary": adv,
         "scope": "concept shift, Assumption 4.1 with overlap, exact population losses, idealised start, T in 2..20"},
        counterexample={"instance": p, "relative_excess": bound - adv["worst_margin"],
                        "call": f"chen.matched_global_exact(10**{p['log10_v']!r}, {p['lam']!r}, {p['C']}, "
                                f"[{p['ell_frac']!r} * {p['lam']!r}**2 * (1 - {p['omega']!r})**2], {p['T']}, "
                                f"paper_checks.chen2025._etas(10**{p['log10_v']!r}, False, 30), "
                                f"omega={p['omega']!r}, descent_only=True)"} if violations else {},
        notes="The sentence was measured on one instance; over the instance space the excess is larger (the "
              "evidence gives the largest found and where).")


LAMBDA_STAR_CASE = dict(seed=888118, eta=0.31375537916572976, eps=0.9203176528252481, shift=2.4671901725557777)


def _case_truth():
    c = LAMBDA_STAR_CASE
    return synthetic.combined_shift(10, 2, 3, 1.0, eps=c["eps"], shift=c["shift"], geometry="random", rng=c["seed"]).truth


@claim("chen-table2-average")
def table2_consistency(ctx) -> Verdict:
    rows = _read_table2()
    tol = 0.011  # two-decimal rounding of up to three printed numbers
    stated = lambda r: (r["local"] + r["global"]) / 2  # noqa: E731
    alt = lambda r: (r["local"] + r["global"] + r["worst"]) / 3  # noqa: E731
    bad = [r for r in rows if abs(stated(r) - r["average"]) > tol]
    alt_ok = [r for r in rows if abs(alt(r) - r["average"]) <= tol]
    neither = [r for r in bad if abs(alt(r) - r["average"]) > tol]
    row = lambda r: {"dataset": r["dataset"], "method": r["method"], "printed": r["average"],  # noqa: E731
                     "(L+G)/2": round(stated(r), 2), "(L+G+W)/3": round(alt(r), 2)}
    return Verdict("chen-table2-average", "Table 2: 'Average' is the average of Local and Global", SRC,
                   bound_status(len(bad), len(rows)),
                   {"rows": len(rows), "rows_disagreeing_with_(L+G)/2": len(bad),
                    "rows_matching_(L+G+W)/3": len(alt_ok), "rows_matching_neither": len(neither),
                    "neither": [row(r) for r in neither], "tolerance": tol},
                   counterexample={"rows": [row(r) for r in bad[:3]],
                                   "file": "paper_checks/data/chen2025_table2.csv"} if bad else {},
                   notes=f"{len(alt_ok)} of {len(rows)} rows are reproduced by (Local + Global + Worst)/3 instead; "
                         f"{len(neither)} rows (all six LSS rows among them) match neither definition.")


@claim("chen-table2-lpft-global")
def table2_lpft_best(ctx) -> Verdict:
    rows = _read_table2()
    ev, losses = {}, 0
    for ds in sorted({r["dataset"] for r in rows}):
        sub = {r["method"]: r["global"] for r in rows if r["dataset"] == ds}
        best_other = max(v for k, v in sub.items() if k != "LP-FT")
        ev[ds] = {"LP-FT": sub["LP-FT"], "best_other": best_other, "margin": round(sub["LP-FT"] - best_other, 2)}
        losses += sub["LP-FT"] <= best_other
    ok = losses == 0
    return Verdict("chen-table2-lpft-global", "Table 2 (as printed): LP-FT has the best Global accuracy on every dataset",
                   SRC, bound_status(losses, len(ev)), ev,
                   counterexample={} if ok else {"file": "paper_checks/data/chen2025_table2.csv"},
                   notes="Margins are single-digit hundredths on CheXpert; the table reports no intervals.")


def _read_table2():
    with open(TABLE2) as fh:
        return [{**r, **{k: float(r[k]) for k in ("local", "global", "c_std", "worst", "average")}}
                for r in csv.DictReader(fh)]


CHECKS = [lemma_4_3, theorem_4_4, theorem_4_5, theorem_4_5_descent, beyond_lambda_star, gap_quadratic, frontier_gd,
          frontier_any_method, ft_step_frontier, matched_local, ft_descent_frontier_gap, table2_consistency,
          table2_lpft_best]
