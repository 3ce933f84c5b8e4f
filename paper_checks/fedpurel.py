"""FedPuReL (Hou et al. 2026) — long-tailed personalized FL: the linear analogue of each claim."""
from __future__ import annotations

from lpft_theory import studies
from lpft_theory.stats import mean_ci, paired_difference

from .verdict import Verdict, claim, column, judge

SRC = "FedPuReL (Hou et al. 2026)"
TITLE = "FedPuReL (Hou et al. 2026) — long-tailed personalized FL"


def _col(rows, model, key):
    return column(rows, key, model=model)


@claim("fedpurel-erosion", figure="longtail")
def erosion(ctx) -> Verdict:
    rows = studies.longtail_study(ctx.quick, ctx.seed)["rows"]
    d = paired_difference(_col(rows, "FedAvg", "balanced"), _col(rows, "zero-shot", "balanced"))
    j = judge({"balanced": d}, expect_positive=False)
    status = j.status
    ok = status != "refuted"
    return Verdict("fedpurel-erosion", "Fine-tuning the global model on long-tailed data erodes the zero-shot model's "
                   "class balance: global (balanced) accuracy falls below zero-shot", SRC, status,
                   {"FedAvg_minus_zero_shot_balanced_acc": d,
                    "tail_acc": {m: mean_ci(_col(rows, m, "tail"))["mean"] for m in ("zero-shot", "FedAvg")}},
                   counterexample={} if ok else {"study": "lpft_theory.studies.longtail_study"},
                   notes="Linear analogue: frozen features, prototype head without class frequencies, FedAvg on the head."
                   + ("" if status not in ("not-testable-here", "mixed") else " " + j.reason), sides=j.sides if status == "mixed" else {})


@claim("fedpurel-purification", figure="longtail")
def purification(ctx) -> Verdict:
    rows = studies.longtail_study(ctx.quick, ctx.seed)["rows"]
    vs_plain = paired_difference(_col(rows, "FedAvg+purify", "balanced"), _col(rows, "FedAvg", "balanced"))
    vs_zs = paired_difference(_col(rows, "FedAvg+purify", "balanced"), _col(rows, "zero-shot", "balanced"))
    lost = -paired_difference(_col(rows, "FedAvg", "balanced"), _col(rows, "zero-shot", "balanced"))["mean"]
    kept = vs_plain["mean"] / lost if lost > 0 else float("nan")
    full = vs_zs["lo"] > 0 or (vs_zs["lo"] <= 0 <= vs_zs["hi"])
    status = "confirmed" if full else ("confirmed-under-condition" if vs_plain["lo"] > 0 else "refuted")
    return Verdict("fedpurel-purification", "Gradient purification keeps the class balance during global training",
                   SRC, status, {"purified_minus_plain": vs_plain, "purified_minus_zero_shot": vs_zs,
                                 "fraction_of_lost_balanced_acc_recovered": kept},
                   condition="" if status != "confirmed-under-condition" else
                   "balanced_acc(purified) > balanced_acc(plain FedAvg), but < balanced_acc(zero-shot)",
                   condition_words="" if status != "confirmed-under-condition" else
                   "Purification recovers part of the erosion, not all of it: it keeps the balance only relative "
                   "to un-purified fine-tuning.",
                   counterexample={} if status == "confirmed" else {"study": "lpft_theory.studies.longtail_study",
                                                                    "purified_minus_zero_shot": vs_zs})


@claim("fedpurel-residual-tail", figure="longtail")
def residual_tail(ctx) -> Verdict:
    rows = studies.longtail_study(ctx.quick, ctx.seed)["rows"]
    controlled = paired_difference(_col(rows, "purify+residual (FedPuReL)", "tail"), _col(rows, "purify+FT", "tail"))
    pipeline = paired_difference(_col(rows, "purify+residual (FedPuReL)", "tail"), _col(rows, "FedAvg+FT", "tail"))
    pers = paired_difference(_col(rows, "purify+residual (FedPuReL)", "personalized"), _col(rows, "purify+FT", "personalized"))
    if controlled["lo"] > 0:
        status = "confirmed"
    elif pipeline["lo"] > 0:
        status = "confirmed-under-condition"
    else:
        status = "refuted"
    return Verdict("fedpurel-residual-tail", "Residual personalization is better on tail classes than usual "
                   "personalization", SRC, status,
                   {"residual_minus_FT_same_purified_global_tail_acc": controlled,
                    "FedPuReL_minus_FedAvg+FT_tail_acc": pipeline,
                    "residual_minus_FT_personalized_acc": pers},
                   condition="" if status != "confirmed-under-condition" else
                   "compare the FedPuReL pipeline (purified global + residual) with FedAvg + FT",
                   condition_words="" if status != "confirmed-under-condition" else
                   "The tail advantage comes from purification of the global model; against FT from the same "
                   "purified global model the residual head is not better on tail classes.",
                   counterexample={} if status == "confirmed" else {"study": "lpft_theory.studies.longtail_study",
                                                                    "controlled_difference": controlled})


@claim("fedpurel-bias-passed-on")
def bias_passed_on(ctx) -> Verdict:
    rows = studies.longtail_study(ctx.quick, ctx.seed)["rows"]
    d = paired_difference(_col(rows, "zero-shot", "tail"), _col(rows, "FedAvg+FT", "tail"))
    h = paired_difference(_col(rows, "FedAvg+FT", "head"), _col(rows, "FedAvg+FT", "tail"))
    j = judge({"tail_loss": d, "head_over_tail": h})
    status = j.status
    return Verdict("fedpurel-bias-passed-on", "Usual personalization (FT from the fine-tuned global model) passes the "
                   "head-class bias on", SRC, status,
                   {"zero_shot_minus_FedAvg+FT_tail_acc": d, "FedAvg+FT_head_minus_tail_acc": h},
                   notes=j.reason if status in ("not-testable-here", "mixed") else "", sides=j.sides if status == "mixed" else {},
                   counterexample={} if status != "refuted" else {"study": "lpft_theory.studies.longtail_study"})


CHECKS = [erosion, purification, residual_tail, bias_passed_on]
