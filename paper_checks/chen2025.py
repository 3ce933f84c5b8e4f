"""Chen et al. 2025 — "A Closer Look at Personalized Fine-Tuning in Heterogeneous FL": every claim.

The theorem checks take their condition (or rule) as a keyword argument, so a test can feed a wrong one
and see the verdict stop confirming (``tests/test_mutation_theory.py``). Besides the verdict each theorem
check reports the stable-step view (is FT's step a descent step for the client; η against 1/β), the
gradient-flow (step-size free) view, and the comparison at matched local loss (the Pareto frontier of
``lpft_theory.theory.chen``).
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np

import synthetic
from lpft_theory.metrics import cross_matrix, summarize
from lpft_theory.models import two_layer, two_layer_params
from lpft_theory.strategies import ft, lp_ft
from lpft_theory.theory import chen

from .verdict import Verdict, bound_status, claim, condition_status

SRC = "Chen et al. 2025"
TITLE = "Chen et al. 2025 — A Closer Look at Personalized Fine-Tuning in Heterogeneous FL"
TABLE2 = Path(__file__).resolve().parent / "data" / "chen2025_table2.csv"  # copy of spec/chen2025_table2.csv
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
    status = bound_status(len(bad), len(errs))
    return Verdict("chen-lemma-4.3", "Lemma 4.3: the j-th row of B_FT after one FT step on client i, in terms of "
                   "b*_j and (V_0)_j", SRC, status,
                   {"derived": "b_FT,j = b*_j + eta*c*lambda*(V_0)_j * b*_{m+i}  (c = 2 without the 1/2)",
                    "client_instances": len(errs), "mismatches_above_rtol": f"{len(bad)}/{len(errs)}",
                    "rtol": RTOL, "max_relative_error_vs_simulation": max(errs),
                    "steps_by_regime": {r: sum(_regime(a) == r for a in a_vals) for r in sorted({_regime(a) for a in a_vals})}},
                   counterexample={} if not bad else {"call": where[bad[0]], "relative_error": errs[bad[0]]},
                   notes="The printed formula is lost; derived from Assumption 4.1 (sympy: theory/symbolic.py). "
                         "It holds for every step size, in the descent regime (a < 2) and beyond.")


# --------------------------------------------------------------------------- Theorem 4.4
def _concept_instances(ctx):
    """Concept-shift instances with ``a = ηc(1+v)`` drawn on both sides of every boundary (1, 2ω−1, the
    mixture root), with and without overlap and the ½ convention; ``a`` is kept 0.03 away from the roots."""
    g = np.random.default_rng(ctx.seed + 44)
    for idx in range(24 if ctx.quick else 120):
        m, C = int(g.integers(1, 4)), int(g.integers(2, 6))
        omega = 0.0 if idx % 2 == 0 else float(g.uniform(0.0, 1.0))
        roots = [1.0] + [chen.condition_root(omega, C, r) for r in chen.GLOBAL_READINGS]
        a = float(g.uniform(0.05, 2.6))
        while min(abs(a - r) for r in roots) < 0.03:
            a = float(g.uniform(0.05, 2.6))
        yield dict(d=m + C + int(g.integers(0, 4)), m=m, C=C, lam=float(g.uniform(0.1, 2.0)), omega=omega, a=a,
                   half=bool(idx % 3 == 2), seed=int(g.integers(1 << 30)))


@lru_cache(maxsize=4)  # independent of the condition under test: shared with the mutation tests
def _matched_local_view(seed: int, quick: bool) -> dict:
    """FT vs LP-FT global loss at equal local loss on one instance (2×2 reduction, exact roots in η)."""
    sc = synthetic.concept_shift(20, 3, 5, 1.0, rng=seed)
    v, lam, C = float(sc.truth["V_com"] @ sc.truth["V_com"]), 1.0, 5
    etas = np.linspace(0.02, 2.2, 60 if quick else 200) / chen.step_curvature(v)
    ells = np.array([0.05, 0.1, 0.2, 0.4]) * lam ** 2
    front = chen.pareto_frontier(ells, lam, C)["global"]
    starts = [{"lp_alpha": al} for al in (0.5, 1.0)] + [{"lp_steps": k} for k in ((1,) if quick else (1, 3, 10))]
    out = {"instance": f"concept_shift(20, 3, 5, lam=1.0, rng={seed}), v = {v:.4g}, eta in (0.02, 2.2)/beta; "
                       f"LP-FT: best over LP starts {starts}",
           "local_losses": ells.tolist(), "frontier_global": _rounded(front)}
    for T in ((1, 5, 20) if quick else (1, 5, 20, 60)):
        row = {}
        for only in (False, True):
            f = chen.matched_global_exact(v, lam, C, ells, T, etas, descent_only=only)["global"]
            g = np.array([chen.matched_global_exact(v, lam, C, ells, T, etas, descent_only=only, **st)["global"]
                          for st in starts])
            g = np.where(np.all(np.isnan(g), axis=0), np.nan, np.nanmin(np.where(np.isnan(g), np.inf, g), axis=0))
            tag = "descent_steps_only" if only else "any_eta"
            row[f"FT_above_frontier_{tag}"] = _rounded(f - front)
            row[f"LPFT_above_frontier_{tag}"] = _rounded(g - front)
            row[f"FT_minus_LPFT_{tag}"] = _rounded(f - g)
        out[f"T={T} FT steps"] = row
    out["one_FT_step_above_frontier_(closed_form_4lam^2(a-1)+)"] = {
        f"a={a}": chen.ft_frontier_excess(a, lam) for a in (0.5, 1.0, 1.5, 2.5)}
    return out


def _rounded(x) -> list:
    """4 significant digits; |x| < 1e-12 is round-off and shown as 0; ``None`` where not reached."""
    return [None if not np.isfinite(y) else (0.0 if abs(y) < 1e-12 else float(f"{y:.4g}")) for y in np.asarray(x, float)]


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


@claim("chen-thm-4.4", figure="phase_diagram")
def theorem_4_4(ctx, condition=chen.lp_ft_wins) -> Verdict:
    """``condition(a, omega, n_clients, reading) -> bool``: the condition under test (LP-FT has the lower
    global loss after exact LP and one FT step)."""
    agree, total, errs, first_fail = 0, 0, [], None
    by_regime, descent_agree, descent_total, stable = {}, 0, 0, []
    for p in _concept_instances(ctx):
        sc = synthetic.concept_shift(p["d"], p["m"], p["C"], p["lam"], overlap=p["omega"], rng=p["seed"])
        v = float(sc.truth["V_com"] @ sc.truth["V_com"])
        eta = p["a"] / chen.step_curvature(v, p["half"])
        th = chen.theorem_4_4(v, p["lam"], eta, p["C"], omega=p["omega"], half=p["half"])
        f, g = _engine_losses(sc, ft(eta, 1), p["half"]), _engine_losses(sc, lp_ft(eta, 1), p["half"])
        errs += [_rel(f[k], th["ft"][k]) for k in ("local", "global", "global_mixture")]
        errs += [_rel(g[k], th["lp_ft"][k]) for k in ("local", "global", "global_mixture")]
        B0, V0 = synthetic.idealised_init(sc)
        w_i = sc.truth["V_stars"][0] @ sc.truth["B_star"]
        stable.append(eta * chen.sharpness(B0, V0, np.eye(sc.d), w_i, p["half"]))
        reg = _regime(p["a"])
        for reading, key in (("others", "global"), ("mixture", "global_mixture")):
            sim = bool(g[key] < f[key])
            ok = condition(p["a"], p["omega"], p["C"], reading) == sim
            agree += ok
            total += 1
            descent_agree += ok and p["a"] < 2
            descent_total += p["a"] < 2
            if reading == "others" and p["omega"] == 0.0:
                n_win, n = by_regime.get(reg, (0, 0))
                by_regime[reg] = (n_win + sim, n + 1)
            if not ok and first_fail is None:
                first_fail = {"call": f"synthetic.concept_shift({p['d']}, {p['m']}, {p['C']}, {p['lam']!r}, "
                                      f"overlap={p['omega']!r}, rng={p['seed']}); ft/lp_ft(eta={eta!r}, 1), half={p['half']}",
                              "a": p["a"], "reading": reading, "FT": f[key], "LP-FT": g[key],
                              "condition_says_LPFT_wins": not sim}
    closed_ok = max(errs) < 1e-8
    status = condition_status(agree, total, closed_ok)
    regimes = {reg: {"LPFT_wins": f"{w}/{n}", "claim 'LP-FT wins' restricted here": condition_status(w, n, closed_ok)}
               for reg, (w, n) in sorted(by_regime.items())}
    sc = synthetic.concept_shift(20, 3, 5, 1.0, rng=0)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    f0, g0 = _engine_losses(sc, ft(0.1, 1)), _engine_losses(sc, lp_ft(0.1, 1))
    return Verdict(
        "chen-thm-4.4", "Theorem 4.4 (concept shift): LP-FT achieves lower global loss than FT", SRC, status,
        {"condition_predicts_winner": f"{agree}/{total}", "max_rel_error_closed_form_vs_simulation": max(errs),
         "readings": "others and mixture, each instance",
         "closed_form": {"FT": "local lam^2 (a-1)^2, others lam^2 (a^2 - 2 omega a + 1)",
                         "LP-FT (exact LP)": "local 0, others 2 lam^2 (1 - omega)",
                         "a": "eta c (1 + |V_com|^2) = eta * beta, beta = curvature of the local loss along the step"},
         "stable_step_regime": {
             "omega=0, others reading, by eta*beta": regimes,
             "verdict_restricted_to_descent_steps_(a<2)": f"{condition_status(descent_agree, max(descent_total, 1), closed_ok)} "
                                                          f"({descent_agree}/{descent_total} agree)",
             "eta*beta_max_(full Hessian at the start)": {"min": float(min(stable)), "max": float(max(stable)),
                                                          "instances_with_eta>2/beta_max": int(sum(s > 2 for s in stable))}},
         "matched_local_loss": _matched_local_view(ctx.seed, ctx.quick),
         "gradient_flow_(no_step_size)": _flow_view(ctx.quick)},
        condition="others: (a - 1)(a - (2 omega - 1)) > 0;  mixture: (a - 1)(a - (2 omega (C-1) - (C-2))/C) > 0;  "
                  "a = eta c (1 + |V_com|^2) = eta * beta  (c = 2 for E(f-y)^2, 1 for 1/2 E(f-y)^2)",
        condition_words="With disjoint private features (omega = 0) LP-FT has the lower global loss exactly when one FT "
                        "step overshoots the client's optimum (eta > 1/beta) under both readings; with overlap the two "
                        "readings differ (e.g. C = 2, omega = 0.3: LP-FT also wins the mixture for a < 0.3). At matched "
                        "local loss nothing survives: one FT step with a <= 1 lies exactly on the local/global Pareto "
                        "frontier, as does exact LP; LP-FT's advantage is FT's overshoot, 4 lam^2 (a - 1)(1 - omega).",
        counterexample=first_fail or {
            "meaning": "the claim as stated (no condition) fails for small steps",
            "command": "lpft simulate --scenario concept --eta 0.1 --steps 1 --strategies ft,lp-ft --seed 0",
            "a": chen.ft_coefficient(v, 0.1), "FT_global": f0["global"], "LPFT_global": g0["global"]},
        notes="Under Sigma = I the global loss depends only on the predictor; every interpolating strategy has "
              "global loss 2 lambda^2 (1 - omega), so FT and LP-FT coincide at convergence. Under gradient flow "
              "(omega = 0) FT's global loss never exceeds LP-FT's by more than ~1e-8 lambda^2: step-size free, "
              "the theorem fails at every time.")


# --------------------------------------------------------------------------- Theorem 4.5 and Remark 4.6
def _combined_instances(ctx, n_quick=40, n_full=200):
    g = np.random.default_rng(ctx.seed + 1)
    for _ in range(n_quick if ctx.quick else n_full):
        seed, eta = int(g.integers(1 << 30)), float(g.uniform(0.05, 0.5))
        eps, shift = float(g.uniform(0.2, 1.5)), float(g.uniform(0.2, 3.0))
        t = synthetic.combined_shift(10, 2, 3, 1.0, eps=eps, shift=shift, geometry="random", rng=seed).truth
        yield dict(seed=seed, eta=eta, eps=eps, shift=shift, truth=t)


def _predicts_lpft(r: dict, lam: float) -> bool:
    """Where a rule (:func:`chen.lambda_star` form) says LP-FT has the lower global loss."""
    again = r["lambda_star2"] is not None and lam >= r["lambda_star2"]
    return bool((r["holds_small_lambda"] and lam <= r["lambda_star"]) or again)


def _combined_sim(p, lam, reading):
    sc = synthetic.combined_shift(10, 2, 3, lam, eps=p["eps"], shift=p["shift"], geometry="random", rng=p["seed"])
    key = "global" if reading == "others" else "global_mixture"
    f, g = _engine_losses(sc, ft(p["eta"], 1)), _engine_losses(sc, lp_ft(p["eta"], 1))
    return f, g, key


def _call(p, lam) -> str:
    return (f"synthetic.combined_shift(10, 2, 3, {lam!r}, eps={p['eps']!r}, shift={p['shift']!r}, geometry='random', "
            f"rng={p['seed']}); ft/lp_ft(eta={p['eta']!r}, 1)")


def _check_rule(ctx, rule, lam_points) -> dict:
    """Simulate FT and LP-FT where ``rule``'s λ-regions predict a winner; count agreements (both readings)."""
    agree, total, errs, first_fail, rows = 0, 0, [], None, []
    for p in _combined_instances(ctx):
        t = p["truth"]
        for reading in chen.GLOBAL_READINGS:
            q = chen.combined_gap_coeffs(t["B_star"], t["V_com"], t["shifts"], p["eps"], p["eta"], reading=reading)
            r_true, r = chen.lambda_star(q), rule(q)
            lam_small = 0.5 * min([x for x in (r_true["lambda_star"], r_true["lambda_star2"]) if x] + [1.0])
            cf = chen.combined_one_step(t["B_star"], t["V_com"], t["shifts"], p["eps"], lam_small, p["eta"])
            m = t["V_com"].shape[0]
            V0 = np.concatenate([t["V_com"], np.zeros(t["B_star"].shape[0] - m)])
            Sig0 = np.outer(t["shifts"][0], t["shifts"][0]) + p["eps"] ** 2 * np.eye(t["B_star"].shape[1])
            w0_star = t["B_star"].T @ V0 + lam_small * t["B_star"][m]
            rows.append({"reading": reading, "holds": r_true["holds_small_lambda"],
                         "finite": bool(r_true["holds_small_lambda"] and np.isfinite(r_true["lambda_star"])),
                         "descent": bool(np.all(cf["ft_local"] < cf["start_local"])),
                         "eta_beta_max": p["eta"] * chen.sharpness(t["B_star"], V0, Sig0, w0_star)})
            for lam in lam_points(r_true, lam_small):
                f, g, key = _combined_sim(p, lam, reading)
                # the structural closed form at this λ (q extrapolated to λ ~ 10³ would lose digits to round-off)
                cf_l = chen.combined_one_step(t["B_star"], t["V_com"], t["shifts"], p["eps"], lam, p["eta"], reading=reading)
                gap_cf = float(np.mean(cf_l["ft"] - cf_l["lp_ft"]))
                errs.append(abs((f[key] - g[key]) - gap_cf) / max(f[key], g[key]))
                if abs(gap_cf) < 1e-9 * max(f[key], g[key]):
                    continue  # an exact tie at a root: no winner to predict
                sim = bool(g[key] < f[key])
                ok = _predicts_lpft(r, lam) == sim
                agree += ok
                total += 1
                rows[-1].setdefault("agree", []).append(ok)
                rows[-1].setdefault("point_descent", []).append(bool(np.all(cf_l["ft_local"] < cf_l["start_local"])))
                if not ok and first_fail is None:
                    first_fail = {"call": _call(p, lam), "reading": reading, "lambda": lam, "FT": f[key],
                                  "LP-FT": g[key], "rule_says_LPFT_wins": not sim, "rule_output": r}
    # 1e-6 of the loss scale: at λ = 3λ** (up to ~10³) the losses reach ~10¹² and the engine's quadratic forms
    # lose digits to cancellation (measured up to 6e-8); a wrong closed form is off by O(1)
    return {"agree": agree, "total": total, "closed_ok": bool(errs) and max(errs) < 1e-6,
            "max_err": max(errs) if errs else None, "first_fail": first_fail, "rows": rows}


@claim("chen-thm-4.5", figure="lambda_star")
def theorem_4_5(ctx, rule=chen.lambda_star) -> Verdict:
    """``rule(q) -> {lambda_star, lambda_star2, holds_small_lambda}``: the condition under test."""
    def points(r, lam_small):
        pts = [lam_small]
        if r["holds_small_lambda"] and np.isfinite(r["lambda_star"]):
            pts += [0.9 * r["lambda_star"], 1.1 * r["lambda_star"]]
        return pts

    res = _check_rule(ctx, rule, points)
    status = condition_status(res["agree"], max(res["total"], 1), res["closed_ok"])
    ev = {}
    for reading in chen.GLOBAL_READINGS:
        rows = [r for r in res["rows"] if r["reading"] == reading]
        holds = [r for r in rows if r["holds"]]
        desc = [r for r in rows if r["descent"]]
        ev[reading] = {"instances": len(rows), "LP-FT wins at small lambda (q_0 > 0)": len(holds),
                       "finite lambda*": sum(r["finite"] for r in rows),
                       "of which FT's step raises some client's own loss": sum(not r["descent"] for r in holds),
                       "descent-only instances (every client's loss falls)": len(desc),
                       "descent-only: theorem holds (q_0 > 0)": f"{sum(r['holds'] for r in desc)}/{len(desc)}",
                       "claim restricted to descent steps": condition_status(sum(r["holds"] for r in desc),
                                                                             max(len(desc), 1), res["closed_ok"]),
                       "descent-only: rule predicts the simulated winner":
                           f"{sum(all(r.get('agree', [])) for r in desc)}/{len(desc)}"}
    sharp = [r["eta_beta_max"] for r in res["rows"] if r["reading"] == "others"]
    ev = {"rule_predicts_simulated_winner": f"{res['agree']}/{res['total']}",
          "max_rel_error_closed_form_vs_simulation": res["max_err"],
          "simulated_at": "each instance and reading: a small lambda, and 0.9/1.1 lambda* where finite", **ev,
          "eta*beta_max_(client 0, full Hessian at the start, small lambda)": {
              "min": float(min(sharp)), "max": float(max(sharp)), "instances_with_eta>2/beta_max": sum(x > 2 for x in sharp)},
          "matched_local_loss": _matched_combined(ctx.quick)}
    return Verdict(
        "chen-thm-4.5", "Theorem 4.5 (combined covariate-concept shift): there is lambda* such that for all "
        "lambda <= lambda* LP-FT's global loss is at most FT's", SRC, status, ev,
        condition="q_0 > 0, where (G_FT - G_LPFT)/lambda^2 = q_0 + q_1 lambda + q_2 lambda^2 (exact; q_2 >= 0; q "
                  "differs between the readings 'others' and 'mixture'); lambda* = smallest positive root (inf if none). "
                  "Private shifts e_i = sigma b_i: others a' >= 1, mixture (a' - 1)(a' - (sigma^2 - (C-2) eps^2)/"
                  "(sigma^2 + C eps^2)) >= 0, a' = eta c (sigma^2 + eps^2)(1 + |V_com|^2)",
        condition_words="LP-FT wins at small heterogeneity only if one FT step is large relative to the data scale; "
                        "otherwise no lambda* > 0 exists and FT wins at small lambda. Where the theorem holds, FT's one "
                        "step usually raises some client's own loss (see the stable-step counts), and at matched local "
                        "loss LP-FT's advantage shrinks to the gap shown in the evidence.",
        counterexample=res["first_fail"] or {
            "meaning": "q_0 < 0: FT has the lower global loss for every small lambda",
            "call": "lpft_theory.theory.chen.combined_gap_coeffs(...) with eta=0.05 on synthetic.combined_shift(10, 2, 3, "
                    "lam, eps=0.92, shift=2.47, geometry='random', rng=888118)"})


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


@claim("chen-remark-4.6", figure="lambda_star")
def beyond_lambda_star(ctx, rule=chen.lambda_star) -> Verdict:
    """The reviewers' question: λ > λ*. ``rule`` as for :func:`theorem_4_5`; checked inside (λ*, λ**) and
    beyond λ** (and beyond the last root where q_0 < 0)."""
    def points(r, lam_small):
        pts = []
        if r["holds_small_lambda"] and np.isfinite(r["lambda_star"]):
            pts.append(1.5 * r["lambda_star"] if r["lambda_star2"] is None else 0.5 * (r["lambda_star"] + r["lambda_star2"]))
        if r["lambda_star2"] is not None:
            pts += [1.1 * r["lambda_star2"], 3.0 * r["lambda_star2"]]
        return pts

    res = _check_rule(ctx, rule, points)
    pairs = [(ok, d) for row in res["rows"] for ok, d in zip(row.get("agree", []), row.get("point_descent", []))]
    n_desc = sum(d for _, d in pairs)
    t, c = _case_truth(), LAMBDA_STAR_CASE
    r = chen.lambda_star(chen.combined_gap_coeffs(t["B_star"], t["V_com"], t["shifts"], c["eps"], c["eta"]))
    return Verdict(
        "chen-remark-4.6", "Remark 4.6: LP-FT wins at low heterogeneity; the theory says nothing for lambda > lambda*",
        SRC, condition_status(res["agree"], max(res["total"], 1), res["closed_ok"]),
        {"rule_predicts_simulated_winner": f"{res['agree']}/{res['total']}",
         "simulated_at": "both readings: inside (lambda*, lambda**), 1.1 and 3 lambda** (beyond the last root if q_0 < 0)",
         "instances_with_a_second_root": sum(1 for x in res["rows"] if len(x.get("agree", [])) >= 2),
         "stable_step_regime": {
             "simulated_points_where_FT's_step_lowers_every_client's_own_loss": f"{n_desc}/{len(pairs)}",
             "verdict_restricted_to_those": condition_status(sum(ok for ok, d in pairs if d), max(n_desc, 1),
                                                             res["closed_ok"]) if n_desc else "no descent points"},
         "max_rel_error_closed_form_vs_simulation": res["max_err"],
         "example": {"lambda_star": r["lambda_star"], "lambda_star2": r["lambda_star2"], **c},
         "answer": "FT wins exactly on (lambda*, lambda**); LP-FT wins again for lambda >= lambda** because FT's "
                   "joint update overshoots by a term quadratic in lambda (q_2 >= 0)"},
        condition="sign of q_0 + q_1 lambda + q_2 lambda^2 for every lambda > 0 (each reading has its own q)",
        condition_words="Where the theorem holds, FT can win only on a bounded band of heterogeneity; when "
                        "w_0^T Sigma_i b_i != 0, LP-FT wins again at high heterogeneity. When q_0 < 0 the pattern is "
                        "reversed: LP-FT wins only at high heterogeneity.",
        counterexample=res["first_fail"] or {**c, "lambda_in_band": 0.5 * (r["lambda_star"] + r["lambda_star2"])})


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


CHECKS = [lemma_4_3, theorem_4_4, theorem_4_5, beyond_lambda_star, table2_consistency, table2_lpft_best]
