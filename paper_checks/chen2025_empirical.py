"""Chen et al. 2025 — the empirical claims (Figs. 2–3, Table 2, App. D.3) on synthetic analogues.

Every claim is judged under each protocol of :data:`lpft_theory.protocol.VARIANTS` that applies to it
(fixed recipe, short global model, equal budget, tuned, matched Local); the evidence carries the
``protocol_robustness`` table and a sentence saying which choices flip the verdict. One number per seed
everywhere (paired over seeds); "best" only through :func:`lpft_theory.stats.best_of`.

The status shown is the one under the claim's *primary* protocol, which the check reads from its declaration
(:func:`paper_checks.claims.primary_of`, one rule per kind of claim): for comparisons of methods (Table 2,
App. D.3) Global at matched Local (equal budgets, each method's Local–Global curve read at a common
Local, ``MATCHED_Q``); for comparisons the paper makes under its own recipe (Fig. 3a per step count, Fig. 3b per
flood level) and for a recipe's behaviour (Fig. 2, the mechanism) the fixed recipe from a converged
(validation-plateau) global model. The other variants are in the robustness table.

The theorems and the printed table live in :mod:`paper_checks.chen2025`, real digits in
:mod:`paper_checks.chen2025_real`.
"""
from __future__ import annotations

import numpy as np

from lpft_theory import studies
from lpft_theory.protocol import VARIANTS, first_passage
from lpft_theory.recipes import TABLE2
from lpft_theory.stats import best_of, mean_ci, spearman_by_seed

from ._robustness import exact_ties, paired, robustness, verdict
from .claims import primary_of
from .verdict import Verdict, claim, column, judge

SRC = "Chen et al. 2025"
TITLE = "Chen et al. 2025 — A Closer Look at Personalized Fine-Tuning in Heterogeneous FL"
GLOBAL_MODEL_VARIANTS = ("fixed recipe", "short global model")
SCATTER_VARIANTS = GLOBAL_MODEL_VARIANTS + ("equal budget",)
MATCHED_Q = 0.8  # matched Local: 80% of the way from the global model to the most personalized common Local


# ---------------------------------------------------------------------------- Fig. 2: personalized overfitting
def _fig2(quick, seed, protocol):
    r = studies.overfitting_curves(quick, seed, protocol)
    ev, effects = {}, {}
    for name, c in r["curves"].items():
        if name.startswith("LP-FT"):
            continue
        G, L = np.array(c["global"]), np.array(c["local"])
        effects[f"global rises, {name}"] = paired(G[:, -1], G[:, 0])
        effects[f"local falls, {name}"] = paired(L[:, 0], L[:, -1])
        ev[name] = {"global_loss_rise": effects[f"global rises, {name}"],
                    "local_loss_fall": effects[f"local falls, {name}"],
                    "unstable_clients": int(np.sum(c["unstable_clients"]))}
    ev["global_model_rounds"] = [g["rounds"] for g in r["global_models"]]
    ev["global_model_validation_curve_first_seed"] = r["global_models"][0]["curve"]
    return judge(effects), ev, r["config"]


@claim("chen-fig2-overfitting", figure="overfitting")
def overfitting(ctx) -> Verdict:
    P = primary_of("chen-fig2-overfitting")
    res = {v: _fig2(ctx.quick, ctx.seed, VARIANTS[v]) for v in GLOBAL_MODEL_VARIANTS}
    j, ev, config = res[P]
    rob = robustness({v: r[0] for v, r in res.items()}, P)
    return verdict("chen-fig2-overfitting", "Sec. 3.3 / Fig. 2: as local steps grow, global performance falls while "
                   "local performance rises or stays flat (FT at several learning rates, Sparse, Proximal)", SRC, j,
                   {**ev, **rob, "short_global_model": res["short global model"][1]},
                   counterexample={"study": "lpft_theory.studies.overfitting_curves", "config": config},
                   notes="Synthetic analogue: loss instead of accuracy; FedAvg global model trained to a validation "
                         "plateau; combined shift. Step-size, budget and tuning variants do not apply (the claim is "
                         "about the step count of fixed recipes).")


# ---------------------------------------------------------------------------- Fig. 3a: distortion vs global drop
def _fig3a_corr(quick, seed, protocol):
    rows = studies.distortion_scatter(quick, seed, protocol)["rows"]
    rho = {"all steps": spearman_by_seed([r["distortion"] for r in rows], [r["global_drop"] for r in rows],
                                         [r["seed"] for r in rows])}
    for T in sorted({r["steps"] for r in rows}):
        sub = [r for r in rows if r["steps"] == T]
        rho[f"T={T}"] = spearman_by_seed([r["distortion"] for r in sub], [r["global_drop"] for r in sub],
                                         [r["seed"] for r in sub])
    return judge(rho), rho


@claim("chen-fig3a-correlation", figure="distortion_scatter")
def distortion_correlation(ctx) -> Verdict:
    P = primary_of("chen-fig3a-correlation")
    res = {v: _fig3a_corr(ctx.quick, ctx.seed, VARIANTS[v]) for v in SCATTER_VARIANTS}
    j, rho = res[P]
    rob = robustness({v: r[0] for v, r in res.items()}, P)
    return verdict("chen-fig3a-correlation", "Sec. 3.5 / Fig. 3a: larger feature distortion goes with a larger drop "
                   "in global performance", SRC, j,
                   {"spearman_per_seed": rho, **rob,
                    "other_variants": {v: r[1] for v, r in res.items() if v != P}},
                   counterexample={"study": "lpft_theory.studies.distortion_scatter",
                                   "reading": "Spearman's rho between distortion and global-loss rise, one per seed"},
                   notes="One rho per seed (points of a seed are dependent), over all step counts and within each "
                         "fixed T (strategies only), each a t-interval over seeds.")


def _fig3a_pair(quick, seed, protocol, key):
    rows = studies.distortion_scatter(quick, seed, protocol)["rows"]
    return {f"T={T}": paired(column(rows, key, strategy="FT", steps=T), column(rows, key, strategy="LP-FT", steps=T))
            for T in sorted({r["steps"] for r in rows})}


def _tie_note(effects):
    ties = exact_ties(effects)
    return ("" if not ties else "Exact tie (all paired differences are 0 to round-off) at " + ", ".join(ties)
            + ": both runs interpolate the client's data and land on predictors with the same global loss, so "
              "the comparison is decided by construction there, not by the method.")


@claim("chen-fig3a-lpft-distortion", figure="distortion_scatter")
def lpft_low_distortion(ctx) -> Verdict:
    P = primary_of("chen-fig3a-lpft-distortion")
    res = {v: _fig3a_pair(ctx.quick, ctx.seed, VARIANTS[v], "distortion") for v in SCATTER_VARIANTS}
    tuned = studies.comparison("combined", ctx.quick, ctx.seed, VARIANTS["tuned"])
    res["tuned"] = {"selected": paired(studies.selected_column(tuned, "FT", "distortion"),
                                       studies.selected_column(tuned, "LP-FT", "distortion"))}
    js = {v: judge(e) for v, e in res.items()}
    rob = robustness(js, P)
    return verdict("chen-fig3a-lpft-distortion", "Fig. 3a, first part: LP-FT has lower feature distortion than FT "
                   "(at every number of steps T)", SRC, js[P],
                   {"FT_minus_LPFT_distortion": res[P], **rob,
                    "other_variants": {v: e for v, e in res.items() if v != P}},
                   counterexample={"study": "lpft_theory.studies.distortion_scatter",
                                   "reading": "FT minus LP-FT of ||B - B_G||_F, paired over seeds, per T"},
                   notes=_tie_note(res[P]))


def _matched_pair(study, a="FT", b="LP-FT", methods=TABLE2):
    m = studies.matched_global(study, MATCHED_Q, methods)
    return paired(m[a], m[b])


@claim("chen-fig3a-lpft-global", figure="local_global")
def lpft_keeps_global(ctx) -> Verdict:
    P = primary_of("chen-fig3a-lpft-global")
    res = {v: _fig3a_pair(ctx.quick, ctx.seed, VARIANTS[v], "global_drop") for v in SCATTER_VARIANTS}
    matched = studies.comparison("combined", ctx.quick, ctx.seed, VARIANTS["matched local"])
    res["matched local"] = {f"Local level q={MATCHED_Q}": _matched_pair(matched)}
    tuned = studies.comparison("combined", ctx.quick, ctx.seed, VARIANTS["tuned"])
    res["tuned"] = {"selected": paired(studies.selected_column(tuned, "FT", "global"),
                                       studies.selected_column(tuned, "LP-FT", "global"))}
    js = {v: judge(e) for v, e in res.items()}
    rob = robustness(js, P)
    return verdict("chen-fig3a-lpft-global", "Fig. 3a, second part: LP-FT keeps global performance — its global loss "
                   "rises less than FT's (at every number of steps T)", SRC, js[P],
                   {"FT_minus_LPFT_global_loss_rise": res[P], **rob,
                    "other_variants": {v: e for v, e in res.items() if v != P}},
                   counterexample={"study": "lpft_theory.studies.distortion_scatter",
                                   "reading": "LP-FT distorts less, yet its global loss rises more at small T: exact "
                                              "LP already moves the head to the client's optimum, and the global loss "
                                              "depends on the head too (see chen-mechanism-feature-distortion)"},
                   notes=_tie_note(res[P]))


# ---------------------------------------------------------------------------- the mechanism: head vs features
def _mechanism(quick, seed, protocol):
    rows = studies.distortion_scatter(quick, seed, protocol)["rows"]
    effects, shares = {}, {}
    for name in studies.SCATTER_STRATEGIES:
        per_seed = {}
        for r in rows:
            if r["strategy"] == name:
                per_seed.setdefault(r["seed"], []).append((r["feature"] + r["interaction"] - r["head"], r["total"],
                                                           r["head"], r["feature"], r["interaction"]))
        vals = np.array([np.mean(v, axis=0) for _, v in sorted(per_seed.items())])
        effects[name] = mean_ci(vals[:, 0])
        shares[name] = {"total": float(vals[:, 1].mean()), "head": float(vals[:, 2].mean()),
                        "feature": float(vals[:, 3].mean()), "interaction": float(vals[:, 4].mean())}
    return judge(effects), effects, shares


@claim("chen-mechanism-feature-distortion", figure="attribution")
def mechanism(ctx) -> Verdict:
    P = primary_of("chen-mechanism-feature-distortion")
    res = {v: _mechanism(ctx.quick, ctx.seed, VARIANTS[v]) for v in SCATTER_VARIANTS}
    tuned = studies.comparison("combined", ctx.quick, ctx.seed, VARIANTS["tuned"])
    eff = {}
    for m in TABLE2:
        a = studies.selected_column(tuned, m, "attribution")
        eff[m] = mean_ci([x["feature"] + x["interaction"] - x["head"] for x in a])
    parts = {m: {k: float(np.mean([x[k] for x in studies.selected_column(tuned, m, "attribution")]))
                 for k in ("total", "head", "feature", "interaction")} for m in TABLE2 + ("LP (exact)",)}
    res["tuned"] = (judge(eff), eff, parts)
    j, effects, shares = res[P]
    rob = robustness({v: r[0] for v, r in res.items()}, P)
    return verdict("chen-mechanism-feature-distortion", "Sec. 3.5: federated feature distortion causes the drop in "
                   "global performance (the feature part of each client's global-loss change, with its interaction "
                   "with the head, outweighs the head part)", SRC, j,
                   {"feature_plus_interaction_minus_head": effects, "parts_mean": shares, **rob,
                    "other_variants": {v: {"effects": r[1], "parts_mean": r[2]} for v, r in res.items()
                                       if v != P}},
                   counterexample={"study": "lpft_theory.studies.distortion_scatter",
                                   "reading": "attribution: head = G(B_G, V_c) - G(B_G, V_G), feature = "
                                              "G(B_c, V_G) - G(B_G, V_G), interaction = the rest"},
                   notes="Exact decomposition by hybrid models (lpft_theory.attribution); one number per seed (mean "
                         "over clients and step counts), per strategy.")


# ---------------------------------------------------------------------------- Fig. 3b: flooding
def _flooding(quick, seed, protocol, lpft="LP-FT"):
    rows = studies.flooding_study(quick, seed, protocol)["rows"]
    effects = {f"b={b}": paired(column(rows, "global_acc", strategy=lpft, b=b),
                                column(rows, "global_acc", strategy="FT", b=b)) for b in (0.1, 0.5, 1.0)}
    loss = {f"b={b}": {s: mean_ci(column(rows, "train_loss", strategy=s, b=b))["mean"] for s in ("FT", lpft)}
            for b in (0.1, 0.5, 1.0)}
    return judge(effects), effects, loss


def _matched_regression(quick, seed):
    """One number per seed: LP-FT minus FT global loss at LP-FT's local losses (Fig. 2 curves, first passage)."""
    c = studies.overfitting_curves(quick, seed)["curves"]
    out = []
    for Lf, Gf, Ll, Gl in zip(c["FT eta=0.05"]["local"], c["FT eta=0.05"]["global"], c["LP-FT eta=0.05"]["local"],
                              c["LP-FT eta=0.05"]["global"]):
        d = [g - first_passage(Lf, Gf, lv) for lv, g in zip(Ll, Gl) if Lf[-1] <= lv <= Lf[0]]
        if d:
            out.append(float(np.mean(d)))
    return out


@claim("chen-fig3b-flooding", figure="flooding")
def flooding(ctx) -> Verdict:
    P = primary_of("chen-fig3b-flooding")
    res = {v: _flooding(ctx.quick, ctx.seed, VARIANTS[v]) for v in SCATTER_VARIANTS}
    res["equal budget, FT stage at eta/10"] = _flooding(ctx.quick, ctx.seed, VARIANTS["equal budget"], "LP-FT (eta/10)")
    m = _matched_regression(ctx.quick, ctx.seed)
    js = {v: r[0] for v, r in res.items()}
    matched = mean_ci([-x for x in m]) if len(m) > 1 else None
    if matched is not None:
        js["matched local (regression)"] = judge({"FT minus LP-FT global loss": matched})
    j, effects, loss = res[P]
    rob = robustness(js, P)
    return verdict("chen-fig3b-flooding", "Fig. 3b: with loss flooding at b in {0.1, 0.5, 1.0} (equal local loss), "
                   "LP-FT still has higher global accuracy than FT", SRC, j,
                   {"LPFT_minus_FT_global_acc": effects, "train_loss": loss, **rob,
                    "regression_matched_local_FT_minus_LPFT_global_loss_per_seed": matched,
                    "other_variants": {v: r[1] for v, r in res.items() if v != P}},
                   counterexample={"study": "lpft_theory.studies.flooding_study",
                                   "config": studies.flooding_study(ctx.quick, ctx.seed)["config"]},
                   notes="Synthetic analogue on label-shift clients with cross-entropy (b in the paper's units); one "
                         "number per seed and flood level.")


# ---------------------------------------------------------------------------- Table 2 and App. D.3
def _lpft_vs_rivals(values: dict) -> tuple:
    """LP-FT against every rival (lower is better): one paired effect per rival, positive = LP-FT lower. The
    rivals of all scenarios form the claim's multiplicity family (Holm in :func:`judge`)."""
    b = best_of(values, higher_is_better=False)
    return ({r: paired(values[r], values["LP-FT"]) for r in values if r != "LP-FT"},
            {"best": b["best"], "tied": b["tied"], "means": b["means"]})


def _table2(quick, seed, variant):
    effects, ev = {}, {}
    for scen in studies.SCENARIOS:
        st = studies.comparison(scen, quick, seed, VARIANTS[variant])
        vals = (studies.matched_global(st, MATCHED_Q, TABLE2) if variant == "matched local"
                else {m: studies.selected_column(st, m, "global") for m in TABLE2})
        per_rival, ev[scen] = _lpft_vs_rivals(vals)
        effects.update({f"{scen}: {r} - LP-FT": e for r, e in per_rival.items()})
        methods = st["config"]["methods"]  # the six variants and the LP controls (LP-FT at eta/10, LP-reg, LP)
        ev[scen]["validation_selected_mean"] = {m: {k: float(np.mean(studies.selected_column(st, m, k)))
                                                    for k in ("local", "global")} for m in methods}
        unstable = {m: n for m in methods if (n := int(sum(studies.selected_column(st, m, "unstable_clients"))))}
        ev[scen]["unstable_clients"] = unstable or "none (no training loss rose)"
    return judge(effects), {"rival_minus_LPFT": effects, **ev}


@claim("chen-table2-best-global", figure="local_global")
def best_global(ctx) -> Verdict:
    P = primary_of("chen-table2-best-global")
    res = {v: _table2(ctx.quick, ctx.seed, v) for v in VARIANTS}
    rob = robustness({v: r[0] for v, r in res.items()}, P)
    unstable = {v: {f"{scen}/{m}": n for scen in studies.SCENARIOS if isinstance(r[1][scen]["unstable_clients"], dict)
                    for m, n in r[1][scen]["unstable_clients"].items()} for v, r in res.items()}
    unstable = {v: u for v, u in unstable.items() if u}
    return verdict("chen-table2-best-global", "Table 2: LP-FT has the best Global performance (synthetic analogue: the "
                   "six variants; best = lower Global than every competitor, paired over seeds)", SRC, res[P][0],
                   {"matched_local": res[P][1], **rob,
                    "other_variants": {v: r[1] for v, r in res.items() if v != P}},
                   counterexample={"study": "lpft_theory.studies.comparison", "scenarios": list(studies.SCENARIOS),
                                   "protocol": P},
                   notes=f"Global = mean loss (error rate for label shift) on the other clients; P statistic: "
                         f"Global at matched Local (q = {MATCHED_Q}). 'Best' only when LP-FT's paired interval "
                         "against every rival in every scenario excludes 0 (Holm over the rivals × scenarios)."
                         + ("" if not unstable else " Runs whose training loss rose (clients over seeds, marked, not "
                            "dropped): " + "; ".join(f"{v}: {u}" for v, u in unstable.items()) + "."))


def _hetero(quick, seed, variant):
    sweep = studies.heterogeneity_sweep(quick, seed, VARIANTS[variant])
    effects = {}
    for lam, st in sweep["lams"].items():
        if variant == "matched local":
            effects[f"lambda={lam}"] = _matched_pair(st, methods=("FT", "LP-FT"))
        else:
            effects[f"lambda={lam}"] = paired(studies.selected_column(st, "FT", "global"),
                                              studies.selected_column(st, "LP-FT", "global"))
    local = {f"lambda={lam}": {m: float(np.mean(studies.selected_column(st, m, "local"))) for m in ("FT", "LP-FT")}
             for lam, st in sweep["lams"].items()}
    return judge(effects), {"FT_minus_LPFT_global": effects, "local_loss": local}


@claim("chen-d3-heterogeneity", figure="local_global")
def heterogeneity(ctx) -> Verdict:
    P = primary_of("chen-d3-heterogeneity")
    res = {v: _hetero(ctx.quick, ctx.seed, v) for v in VARIANTS}
    rob = robustness({v: r[0] for v, r in res.items()}, P)
    return verdict("chen-d3-heterogeneity", "App. D.3: LP-FT beats FT (lower global loss) at all heterogeneity levels",
                   SRC, res[P][0], {**res[P][1], **rob,
                                          "other_variants": {v: r[1] for v, r in res.items() if v != P}},
                   counterexample={"study": "lpft_theory.studies.heterogeneity_sweep", "protocol": P},
                   notes=f"Primary statistic: global loss at matched local loss (q = {MATCHED_Q}).")


CHECKS = [overfitting, distortion_correlation, lpft_low_distortion, lpft_keeps_global, mechanism, flooding,
          best_global, heterogeneity]
