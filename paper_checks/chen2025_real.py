"""Chen et al. 2025 — the empirical claims on real images (scikit-learn's digits, torch models), in every shift
and with both models.

Each claim is judged per side = (shift, model) of :func:`lpft_theory.empirical.experiment.settings` (every
shift with the MLP and the CNN; ``--quick``: two shifts, MLP), under every protocol variant; the headline is
the declared primary protocol's (:func:`paper_checks.claims.primary_of`), the others are robustness only.

**Positive control first.** On every side and under every variant the planted method Mix (WiSE-FT: ``(1 − a)
θ_FT + a θ_G``, known to keep the global model) is compared with FT on Global, read exactly as the claim is
read (:func:`control_effect`). A side whose control is not detected (one-sided, Holm over the sides, α =
0.025) cannot show the effect at this size: it is ``inconclusive`` whatever its own interval says, and the
verdict carries the control's gap, its interval and the minimum detectable effect. The claim's own effects
(all sides × settings one Holm family) give each side ``for`` / ``against`` / ``equivalent`` /
``inconclusive`` (any ``against`` → against; all ``for`` → for; all ``equivalent`` → equivalent); the status
over the sides follows the rule of :func:`paper_checks.verdict.judge`.
"""
from __future__ import annotations

import numpy as np

from lpft_theory.empirical.experiment import SELECTION_DATA, SIX, VARIANTS
from lpft_theory.stats import mean_ci, paired_difference, spearman_by_seed

from .claims import primary_of
from .verdict import Verdict, claim, judge

SRC = "Chen et al. 2025"
TITLE = "Chen et al. 2025 — A Closer Look at Personalized Fine-Tuning in Heterogeneous FL"
MATCHED = "matched local"


def _real(ctx) -> dict:
    from lpft_theory.empirical.experiment import real_study

    return real_study(ctx.quick)


def _col(runs, variant: str, method: str, key: str) -> list:
    """One number per seed (runs are in seed order); under matched local the reading at the level."""
    rows = [r["variants"][variant]["rows"][method] for r in runs]
    return [x["at_level"][key] if variant == MATCHED and key in ("local", "global") else x[key] for x in rows]


def _base(runs, variant: str, key: str) -> list:
    return [r["variants"][variant]["base"][key] for r in runs]


def control_effect(runs, variant: str) -> dict:
    """Mix − FT Global, paired over seeds (matched local: both read at the level both reach)."""
    def g(name):
        rows = [r["variants"][variant]["control"][name] for r in runs]
        return [x["at_level"]["global"] if variant == MATCHED else x["global"] for x in rows]
    return paired_difference(g("Mix"), g("FT"))


def side_word(words: list) -> str:
    """One side's word from its settings' words (module docstring)."""
    if "against" in words:
        return "against"
    if all(w == "for" for w in words):
        return "for"
    if all(w == "equivalent" for w in words):
        return "equivalent"
    return "inconclusive"


def status_of(sides: dict) -> str:
    """The status over sides, by the rule of :func:`paper_checks.verdict.judge` (its docstring)."""
    w = list(sides.values())
    n = {k: w.count(k) for k in ("for", "against", "equivalent")}
    if n["for"] == len(w):
        return "confirmed"
    if n["equivalent"] == len(w):
        return "equivalent"
    if n["for"] and (n["against"] or n["equivalent"]):
        return "mixed"
    if n["against"] and not n["for"]:
        return "refuted"
    return "inconclusive"


def judge_sides(effects: dict, controls: dict, expect_positive: bool = True) -> dict:
    """``effects``: side → setting → interval estimate; ``controls``: side → the control's estimate. Returns the
    status, the side words, per side the control's reading and minimum detectable effects, and the reason."""
    jc = judge(controls, delta=None)
    flat = {f"{side} | {k}": e for side, eff in effects.items() for k, e in eff.items()}
    j = judge(flat, expect_positive)
    sides, per_side = {}, {}
    for side, eff in effects.items():
        keys = [f"{side} | {k}" for k in eff]
        own = side_word([j.sides[k] for k in keys])
        detected = jc.sides[side] == "for"
        sides[side] = own if detected else "inconclusive"
        per_side[side] = {"control_detected": detected, "control_gap": controls[side],
                          "control_mde": jc.tests[side]["mde"], "own_reading": own,
                          "mde": max(j.tests[k]["mde"] for k in keys),
                          "tests": {k.split(" | ", 1)[1]: j.tests[k] for k in keys}}
    status = status_of(sides)
    undetected = [s for s, p in per_side.items() if not p["control_detected"]]
    reason = j.reason
    if undetected:
        mdes = ", ".join(f"{per_side[s]['control_mde']:.3g}" + (
            " (Mix and FT read identically on every seed: no personalization at the level)"
            if per_side[s]["control_gap"].get("se") == 0 and per_side[s]["control_gap"]["mean"] == 0 else "")
            for s in undetected)
        reason = (f"positive control (Mix - FT Global) not detected on {', '.join(undetected)} (minimum detectable "
                  f"effect {mdes}): those sides are inconclusive whatever their own interval. Own reading: "
                  + j.reason)
    return {"status": status, "sides": sides, "per_side": per_side, "reason": reason}


def real_verdict(claim_id: str, studies: dict, per_variant_effects, expect_positive: bool = True,
                 evidence: dict | None = None) -> Verdict:
    """The verdict of a real claim: ``per_variant_effects(runs, variant) → {setting: estimate}`` per side; the
    headline under the declared primary protocol; every variant's status as robustness."""
    primary = primary_of(claim_id)
    table, decided = {}, {}
    for v in VARIANTS:
        eff = {side: per_variant_effects(res["runs"], v) for side, res in studies.items()}
        ctrl = {side: control_effect(res["runs"], v) for side, res in studies.items()}
        decided[v] = judge_sides(eff, ctrl, expect_positive)
        table[v] = decided[v]["status"]
    d = decided[primary]
    flips = {v: s for v, s in table.items() if s != table[primary]}
    words = (f"Primary protocol '{primary}': {table[primary]}. " + (
        "The verdict is the same under every protocol variant tried." if not flips else
        "It changes under " + "; ".join(f"'{v}' ({s})" for v, s in flips.items()) + "."))
    sides_ev = {}
    for side, res in studies.items():
        p = d["per_side"][side]
        sides_ev[side] = {"regime": res["regime"], "verdict": d["sides"][side],
                          "local_gain_available": res["local_gain_available"],
                          "global_model_test_acc": mean_ci([r["global_models"]["converged"]["test_acc"]
                                                            for r in res["runs"]]),
                          "positive_control": {"effect": "Mix - FT Global", "gap": p["control_gap"],
                                               "detected": p["control_detected"], "mde": p["control_mde"]},
                          "own_reading": p["own_reading"], "minimum_detectable_effect": p["mde"],
                          "tests": p["tests"], "grid_counts": res["grid_counts"]}
    ev = {"primary_protocol": primary, "protocol_robustness": table, "robustness_summary": words,
          "sides": sides_ev, "selection_data": SELECTION_DATA, "protocol_variants": VARIANTS,
          **(evidence or {})}
    against = [s for s, w in d["sides"].items() if w == "against"]
    cex = {}
    if d["status"] == "refuted":
        shift, model = against[0].split("/")
        cex = {"command": f"lpft real --scenario {shift} --model {model}", "protocol": primary, "sides": against}
    notes = d["reason"] if d["status"] in ("inconclusive", "mixed", "equivalent", "refuted") else ""
    return Verdict(claim_id, "", SRC, d["status"], ev, counterexample=cex, notes=notes, sides=d["sides"],
                   decided_by=d["reason"])


@claim("chen-real-overfitting", figure="real_digits")
def real_overfitting(ctx) -> Verdict:
    def eff(runs, v):
        return {"global falls": paired_difference(_base(runs, v, "global"), _col(runs, v, "FT", "global")),
                "local rises": paired_difference(_col(runs, v, "FT", "local"), _base(runs, v, "local"))}
    return real_verdict("chen-real-overfitting", _real(ctx), eff)


def best_global_effects(runs, variant: str, methods=SIX, target: str = "LP-FT") -> dict:
    """LP-FT − each rival's Global, paired over seeds (matched local: read at the level)."""
    vals = {m: _col(runs, variant, m, "global") for m in methods}
    return {f"{target} - {m}": paired_difference(vals[target], vals[m]) for m in methods if m != target}


@claim("chen-real-best-global", figure="real_tradeoff")
def real_best_global(ctx) -> Verdict:
    studies = _real(ctx)
    levels = {side: mean_ci([r["variants"][MATCHED]["level"] for r in res["runs"]]) for side, res in studies.items()}
    return real_verdict("chen-real-best-global", studies, best_global_effects,
                        evidence={"matched_val_local_level": levels})


def flood_effects(runs, variant: str) -> dict:
    """LP-FT − FT Global under flooding, paired over seeds, one effect per flood level."""
    eff = {}
    for q in sorted({f["q"] for f in runs[0]["variants"][variant]["flood"]}):
        pick = lambda name: [next(x["global"] for x in r["variants"][variant]["flood"]  # noqa: E731
                                  if x["q"] == q and x["strategy"] == name) for r in runs]
        eff[f"b={q:g}*L_train(global)"] = paired_difference(pick("LP-FT"), pick("FT"))
    return eff


@claim("chen-real-flooding")
def real_flooding(ctx) -> Verdict:
    return real_verdict("chen-real-flooding", _real(ctx), flood_effects)


def distortion_effect(runs, variant: str) -> dict:
    """Spearman ρ between ``Δ_c`` and the global-accuracy drop across the methods of one seed, then a
    t-interval over seeds (``stats.spearman_by_seed``)."""
    xs, ys, seeds = [], [], []
    for r in runs:
        V = r["variants"][variant]
        for m in SIX + ("LP",):
            xs.append(V["rows"][m]["delta_c"])
            ys.append(V["base"]["global"] - V["rows"][m]["global"])
            seeds.append(r["seed"])
    try:
        return {"spearman_per_seed": spearman_by_seed(xs, ys, seeds)}
    except ValueError as exc:  # fewer than 2 seeds with a defined ρ: no interval
        return {"spearman_per_seed": {"mean": 0.0, "lo": -np.inf, "hi": np.inf, "n": 2, "se": np.inf, "df": 1,
                                      "why": str(exc)}}


@claim("chen-real-distortion", figure="real_attribution")
def real_distortion(ctx) -> Verdict:
    return real_verdict("chen-real-distortion", _real(ctx), distortion_effect)


def attribution_parts(runs, variant: str, method: str) -> dict:
    return {k: [r["variants"][variant]["attribution"][method][k] for r in runs]
            for k in ("total", "head", "feature", "interaction")}


def mechanism_effects(runs, variant: str) -> dict:
    """``−(feature + interaction) − (−head)`` per method, on the methods whose Global drops significantly (all
    six when none does)."""
    eff, drops = {}, {}
    for m in SIX:
        a = attribution_parts(runs, variant, m)
        drops[m] = mean_ci(-np.asarray(a["total"]))
        eff[m] = paired_difference(-(np.asarray(a["feature"]) + np.asarray(a["interaction"])), -np.asarray(a["head"]))
    return {m: e for m, e in eff.items() if drops[m]["lo"] > 0} or eff


@claim("chen-real-mechanism", figure="real_attribution")
def real_mechanism(ctx) -> Verdict:
    return real_verdict("chen-real-mechanism", _real(ctx), mechanism_effects)


CHECKS = [real_overfitting, real_best_global, real_flooding, real_distortion, real_mechanism]
