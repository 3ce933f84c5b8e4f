"""Chen et al. 2025 — the empirical claims on real images (scikit-learn's digits, torch models).

Every claim is judged under each protocol variant of :mod:`lpft_theory.empirical.experiment` (fixed recipe on
the 30-round and on the converged global model, equal budget, tuned, matched Local, tuned on the 30-round
model in full runs). The verdict's status is the one under the claim's primary variant; the evidence holds
``protocol_robustness`` (variant → status) and the sentence ``robustness_summary`` (shown by the report).
"""
from __future__ import annotations

import numpy as np

from lpft_theory.empirical.experiment import SIX, VARIANTS
from lpft_theory.stats import best_of, mean_ci, paired_difference, spearman_by_seed

from ._robustness import robustness, verdict
from .verdict import Verdict, claim, judge

SRC = "Chen et al. 2025"
TITLE = "Chen et al. 2025 — A Closer Look at Personalized Fine-Tuning in Heterogeneous FL"
COMMAND = "lpft real --scenario covariate --model mlp"


def _real(ctx):
    from lpft_theory.empirical.experiment import study

    return study(ctx.quick)


def _col(runs, variant: str, method: str, key: str) -> list:
    """One number per seed (runs are in seed order)."""
    return [r["variants"][variant]["rows"][method][key] for r in runs]


def _base(runs, variant: str, key: str) -> list:
    return [r["variants"][variant]["base"][key] for r in runs]


def _robust(claim_id: str, text: str, primary: str, per_variant: dict, evidence: dict) -> Verdict:
    """The Verdict under ``primary``, with the status under every protocol variant (``per_variant``: variant →
    (Judgement, effects)), the sentence naming the variants that flip it, and what each variant chooses."""
    j, effects = per_variant[primary]
    rob = robustness({v: jj for v, (jj, _) in per_variant.items()}, primary)
    ev = {**effects, "primary_protocol": primary, **rob, **evidence,
          "protocol_variants": {v: VARIANTS[v] for v in per_variant},
          "effects_by_protocol": {v: e for v, (_, e) in per_variant.items()}}
    return verdict(claim_id, text, SRC, j, ev,
                   counterexample={"command": COMMAND, "protocol": primary, "effects": effects})


@claim("chen-real-overfitting", figure="real_digits")
def real_overfitting(ctx) -> Verdict:
    runs = _real(ctx)["runs"]
    per = {}
    for v in runs[0]["variants"]:
        eff = {"global_falls": paired_difference(_base(runs, v, "global"), _col(runs, v, "FT", "global")),
               "local_rises": paired_difference(_col(runs, v, "FT", "local"), _base(runs, v, "local"))}
        per[v] = (judge(eff), eff)
    sweep = {w: [s["step"] for s in runs[0]["sweep"][w]] for w in runs[0]["sweep"]}
    return _robust("chen-real-overfitting", "Fig. 2 on real images (digits, covariate shift, MLP): FT lowers global "
                   "accuracy (other clients) while it raises local accuracy", "fixed recipe", per,
                   {"ft_steps_recipe": runs[0]["variants"]["fixed recipe"]["rows"]["FT"]["T"], "sweep_steps": sweep,
                    "global_model_rounds": {w: mean_ci([r["global_models"][w]["rounds"] for r in runs])
                                            for w in runs[0]["global_models"]}})


def best_global_effects(runs, variant: str, methods=SIX, target: str = "LP-FT") -> tuple:
    """``best_of`` over ``methods`` on test Global, and the effects the claim "``target`` is best" hinges on:
    the competitors that beat it significantly, else the ties, else every competitor (all beaten)."""
    values = {m: _col(runs, variant, m, "global") for m in methods}
    best = best_of(values)
    d = {f"{target} - {m}": paired_difference(values[target], values[m]) for m in methods if m != target}
    losing = {k: e for k, e in d.items() if e["hi"] < 0}
    tied = {k: e for k, e in d.items() if e["lo"] <= 0 <= e["hi"]}
    return best, (losing or tied or d)


@claim("chen-real-best-global", figure="real_tradeoff")
def real_best_global(ctx) -> Verdict:
    res = _real(ctx)
    runs, s = res["runs"], res["summary"]
    per, bests = {}, {}
    for v in runs[0]["variants"]:
        best, eff = best_global_effects(runs, v)
        bests[v] = {"best": best["best"], "tied": best["tied"], "means": best["means"]}
        per[v] = (judge(eff), eff)
    primary = "matched Local"
    return _robust("chen-real-best-global", "Table 2 on real images (digits): LP-FT has the best Global accuracy of "
                   "the six variants (primary statistic: Global at matched Local)", primary, per,
                   {"best_of_by_protocol": bests,
                    "global_acc": {m: s[primary][m]["global"] for m in SIX},
                    "local_acc": {m: s[primary][m]["local"] for m in SIX},
                    "matched_val_local": mean_ci([r["variants"][primary]["level"] for r in runs]),
                    "average_(L+G)/2": {m: s[primary][m]["average_stated"]["mean"] for m in SIX},
                    "average_(L+G+W)/3": {m: s[primary][m]["average_table"]["mean"] for m in SIX}})


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
    runs = _real(ctx)["runs"]
    per = {}
    for v in runs[0]["variants"]:
        eff = flood_effects(runs, v)
        per[v] = (judge(eff), eff)
    return _robust("chen-real-flooding", "Fig. 3b on real images: under loss flooding LP-FT keeps higher global "
                   "accuracy than FT (flood level b a fraction of the global model's training loss)", "equal budget",
                   per, {"flood_levels_fraction_of_global_train_loss": sorted({f["q"] for f in runs[0]["variants"]
                                                                               ["equal budget"]["flood"]})})


def distortion_effect(runs, variant: str) -> dict:
    """Spearman ρ between ``Δ_c`` and the global-accuracy drop across the methods of one seed, then a
    t-interval over seeds (``stats.spearman_by_seed``); undefined seeds are skipped."""
    xs, ys, seeds = [], [], []
    for r in runs:
        V = r["variants"][variant]
        for m in SIX + ("LP",):
            xs.append(V["rows"][m]["delta_c"])
            ys.append(V["base"]["global"] - V["rows"][m]["global"])
            seeds.append(r["seed"])
    try:
        return spearman_by_seed(xs, ys, seeds)
    except ValueError as exc:  # fewer than 2 seeds with a defined ρ: no interval
        return {"mean": float("nan"), "lo": -np.inf, "hi": np.inf, "n": 0, "why": str(exc)}


@claim("chen-real-distortion", figure="real_attribution")
def real_distortion(ctx) -> Verdict:
    runs = _real(ctx)["runs"]
    per = {}
    for v in runs[0]["variants"]:
        eff = {"spearman_per_seed": distortion_effect(runs, v)}
        per[v] = (judge(eff), eff)
    return _robust("chen-real-distortion", "Fig. 3a on real images: larger feature distortion (Delta_c on penultimate "
                   "features) goes with a larger global-accuracy drop (one Spearman rho per seed over the methods)",
                   "tuned", per, {})


def attribution_parts(runs, variant: str, method: str) -> dict:
    """Per seed, the client-mean head / feature / interaction parts of the global-accuracy change."""
    return {k: [r["variants"][variant]["attribution"][method][k] for r in runs]
            for k in ("total", "head", "feature", "interaction")}


@claim("chen-real-mechanism", figure="real_attribution")
def real_mechanism(ctx) -> Verdict:
    """The drop is carried by the features: ``−(feature + interaction) − (−head) > 0`` per method, judged on the
    methods whose global accuracy drops significantly (all six when none does)."""
    runs = _real(ctx)["runs"]
    per, parts = {}, {}
    for v in runs[0]["variants"]:
        eff, drops = {}, {}
        for m in SIX:
            a = attribution_parts(runs, v, m)
            drops[m] = mean_ci(-np.asarray(a["total"]))
            feat = -(np.asarray(a["feature"]) + np.asarray(a["interaction"]))
            eff[m] = paired_difference(feat, -np.asarray(a["head"]))
        dropping = {m: e for m, e in eff.items() if drops[m]["lo"] > 0}
        per[v] = (judge(dropping or eff), dropping or eff)
        parts[v] = {m: {k: mean_ci(x) for k, x in attribution_parts(runs, v, m).items()} for m in SIX + ("LP",)}
        parts[v]["_drops"] = drops
    return _robust("chen-real-mechanism", "Mechanism on real images: federated feature distortion causes the global "
                   "drop — the feature part (with the interaction) of each method's global-accuracy drop exceeds the "
                   "head part (exact hybrid attribution)", "tuned", per,
                   {"attribution": parts,
                    "control_LP_to_convergence": {k: mean_ci([r["lp_converged"][k] for r in runs])
                                                  for k in ("global_change", "local", "delta_c")}})


CHECKS = [real_overfitting, real_best_global, real_flooding, real_distortion, real_mechanism]
