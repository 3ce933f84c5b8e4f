"""Chen et al. 2025 — the empirical claims on real images (scikit-learn's digits, torch models)."""
from __future__ import annotations

from lpft_theory.stats import paired_difference, spearman_ci

from .verdict import Verdict, claim, judge

SRC = "Chen et al. 2025"
TITLE = "Chen et al. 2025 — A Closer Look at Personalized Fine-Tuning in Heterogeneous FL"


# ---------------------------------------------------------------------------- real images (digits, torch)
def _real(ctx):
    from lpft_theory.empirical.experiment import study

    return study(ctx.quick)


@claim("chen-real-overfitting", figure="real_digits")
def real_overfitting(ctx) -> Verdict:
    runs = _real(ctx)["runs"]
    g = paired_difference([r["sweep"][0]["global"] for r in runs], [r["sweep"][-1]["global"] for r in runs])
    loc = paired_difference([r["sweep"][-1]["local"] for r in runs], [r["sweep"][0]["local"] for r in runs])
    j = judge({"global_falls": g, "local_rises": loc})
    status = j.status
    return Verdict("chen-real-overfitting", "Fig. 2 on real images (digits, covariate shift, MLP): FT's global accuracy "
                   "falls with local steps while its local accuracy rises", SRC, status,
                   {"global_acc_drop": g, "local_acc_gain": loc, "steps": runs[0]["sweep"][-1]["step"]},
                   notes=j.reason if status in ("not-testable-here", "mixed") else "", sides=j.sides if status == "mixed" else {},
                   counterexample={} if status != "refuted" else {"command": "lpft real --scenario covariate --model mlp"})


@claim("chen-real-best-global", figure="real_digits")
def real_best_global(ctx) -> Verdict:
    s = _real(ctx)["summary"]
    six = ("FT", "Proximal", "Soup", "Sparse", "LSS", "LP-FT")
    means = {k: s[k]["global"]["mean"] for k in six}
    best = max(means, key=means.get)
    runs = _real(ctx)["runs"]
    d = paired_difference([r["table"]["LP-FT"]["global"] for r in runs], [r["table"][best if best != "LP-FT" else "FT"]["global"] for r in runs])
    ok = best == "LP-FT"
    j = judge({"LPFT_minus_best_other" if ok else "LPFT_minus_best": d})
    status = j.status
    return Verdict("chen-real-best-global", "Table 2 on real images (digits): LP-FT has the best Global accuracy of the "
                   "six variants", SRC, status,
                   {"global_acc": {k: s[k]["global"] for k in six}, "best": best,
                    "LPFT_minus_best_other" if ok else "LPFT_minus_best": d,
                    "average_(L+G)/2": {k: s[k]["average_stated"]["mean"] for k in six},
                    "average_(L+G+W)/3": {k: s[k]["average_table"]["mean"] for k in six}},
                   notes=j.reason if status in ("not-testable-here", "mixed") else "", sides=j.sides if status == "mixed" else {},
                   counterexample={} if status != "refuted" else {"command": "lpft real --scenario covariate --model mlp --seeds 5",
                                                                  "best_variant": best})


@claim("chen-real-flooding")
def real_flooding(ctx) -> Verdict:
    runs = _real(ctx)["runs"]
    effects = {}
    for b in sorted({f["b"] for f in runs[0]["flood"]}):
        pick = lambda name: [next(f["global"] for f in r["flood"] if f["b"] == b and f["strategy"] == name) for r in runs]  # noqa: E731
        effects[f"b={b}"] = paired_difference(pick("LP-FT"), pick("FT"))
    j = judge(effects)
    status = j.status
    return Verdict("chen-real-flooding", "Fig. 3b on real images: under loss flooding LP-FT keeps higher global accuracy "
                   "than FT", SRC, status, {k: {"LPFT_minus_FT_global_acc": v} for k, v in effects.items()},
                   notes=j.reason if status in ("not-testable-here", "mixed") else "", sides=j.sides if status == "mixed" else {},
                   counterexample={} if status != "refuted" else {"command": "lpft real --scenario covariate --model mlp"})


@claim("chen-real-distortion")
def real_distortion(ctx) -> Verdict:
    runs = _real(ctx)["runs"]
    xs, ys = [], []
    for r in runs:
        base = r["table"]["Global model"]["global"]
        for name, m in r["table"].items():
            if name != "Global model":
                xs.append(m["delta_c"])
                ys.append(base - m["global"])
    rho = spearman_ci(xs, ys, rng=ctx.seed)
    j = judge({"spearman": {**rho, "mean": rho["rho"]}})
    status = j.status
    return Verdict("chen-real-distortion", "Fig. 3a on real images: larger feature distortion (Delta_c on penultimate "
                   "features) goes with a larger global-accuracy drop", SRC, status, {"spearman": rho},
                   notes=j.reason if status in ("not-testable-here", "mixed") else "", sides=j.sides if status == "mixed" else {},
                   counterexample={} if status != "refuted" else {"command": "lpft real"})


CHECKS = [real_overfitting, real_best_global, real_flooding, real_distortion]
