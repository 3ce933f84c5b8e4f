"""FedPuReL (Hou et al. 2026) — long-tailed personalized FL: the linear analogue of each claim."""
from __future__ import annotations

from lpft_theory import studies
from lpft_theory.protocol import VARIANTS
from lpft_theory.stats import mean_ci, paired_difference

from ._robustness import robustness, verdict
from .verdict import HOLDS_UNDER_CONDITION, Judgement, Verdict, claim, column, condition_status, judge

SRC = "FedPuReL (Hou et al. 2026)"
TITLE = "FedPuReL (Hou et al. 2026) — long-tailed personalized FL"

#: the protocol choices that apply here: the global model trained to a plateau, or for 20 rounds
GLOBAL_MODEL_VARIANTS = ("fixed recipe", "short global model")


def _rows(ctx, variant="fixed recipe"):
    return studies.longtail_study(ctx.quick, ctx.seed, VARIANTS[variant])["rows"]


def _robust(ctx, effects_of, expect_positive=True) -> dict:
    """The protocol-robustness table of a claim whose effects are ``effects_of(rows)``."""
    return robustness({v: judge(effects_of(_rows(ctx, v)), expect_positive) for v in GLOBAL_MODEL_VARIANTS},
                      "fixed recipe")


def _col(rows, model, key):
    return column(rows, key, model=model)


@claim("fedpurel-erosion", figure="longtail")
def erosion(ctx) -> Verdict:
    rows = _rows(ctx)
    effects = lambda r: {"balanced": paired_difference(_col(r, "FedAvg", "balanced"), _col(r, "zero-shot", "balanced"))}  # noqa: E731
    d = effects(rows)["balanced"]
    return verdict("fedpurel-erosion", "Fine-tuning the global model on long-tailed data erodes the zero-shot model's "
                   "class balance: global (balanced) accuracy falls below zero-shot", SRC,
                   judge({"balanced": d}, expect_positive=False),
                   {"FedAvg_minus_zero_shot_balanced_acc": d,
                    "tail_acc": {m: mean_ci(_col(rows, m, "tail"))["mean"] for m in ("zero-shot", "FedAvg")},
                    **_robust(ctx, effects, expect_positive=False)},
                   counterexample={"study": "lpft_theory.studies.longtail_study"},
                   notes="Linear analogue: frozen features, prototype head without class frequencies, FedAvg on the head.")


def _purification(rows) -> tuple:
    """Status and evidence: purification must beat plain FedAvg on balanced accuracy (``judge``); if it also
    stays within resolution of the zero-shot model the balance is kept outright, otherwise only relative to
    plain FedAvg — a condition (``condition_status``: it holds iff purification beats plain FedAvg)."""
    vs_plain = paired_difference(_col(rows, "FedAvg+purify", "balanced"), _col(rows, "FedAvg", "balanced"))
    vs_zs = paired_difference(_col(rows, "FedAvg+purify", "balanced"), _col(rows, "zero-shot", "balanced"))
    lost = -paired_difference(_col(rows, "FedAvg", "balanced"), _col(rows, "zero-shot", "balanced"))["mean"]
    kept = vs_plain["mean"] / lost if lost > 0 else float("nan")
    j = judge({"purified above plain FedAvg": vs_plain})
    status = j.status if vs_zs["hi"] >= 0 else condition_status(int(vs_plain["lo"] > 0), 1, True)
    return status, j, {"purified_minus_plain": vs_plain, "purified_minus_zero_shot": vs_zs,
                       "fraction_of_lost_balanced_acc_recovered": kept}


@claim("fedpurel-purification", figure="longtail")
def purification(ctx) -> Verdict:
    status, j, ev = _purification(_rows(ctx))
    table = {v: _purification(_rows(ctx, v)) for v in GLOBAL_MODEL_VARIANTS}
    rob = robustness({v: Judgement(r[0], {}, "") for v, r in table.items()}, "fixed recipe")
    return Verdict("fedpurel-purification", "Gradient purification keeps the class balance during global training",
                   SRC, status, {**ev, **rob},
                   condition="" if status != HOLDS_UNDER_CONDITION else
                   "balanced_acc(purified) > balanced_acc(plain FedAvg), but < balanced_acc(zero-shot)",
                   condition_words="" if status != HOLDS_UNDER_CONDITION else
                   "Purification recovers part of the erosion, not all of it: it keeps the balance only relative "
                   "to un-purified fine-tuning.",
                   counterexample={} if status == "confirmed" else {"study": "lpft_theory.studies.longtail_study",
                                                                    "purified_minus_zero_shot":
                                                                        ev["purified_minus_zero_shot"]},
                   notes=j.reason if status in ("inconclusive", "mixed") else "",
                   sides=j.sides if status == "mixed" else {})


@claim("fedpurel-residual-tail", figure="longtail")
def residual_tail(ctx) -> Verdict:
    """Judged on the controlled comparison (residual vs FT from the *same* purified global model); the
    pipeline comparison (FedPuReL vs FedAvg + FT) mixes in purification and is reported beside it."""
    rows = _rows(ctx)
    effects = lambda r: {"same purified global model": paired_difference(  # noqa: E731
        _col(r, "purify+residual (FedPuReL)", "tail"), _col(r, "purify+FT", "tail"))}
    controlled = effects(rows)["same purified global model"]
    pipeline = paired_difference(_col(rows, "purify+residual (FedPuReL)", "tail"), _col(rows, "FedAvg+FT", "tail"))
    pers = paired_difference(_col(rows, "purify+residual (FedPuReL)", "personalized"), _col(rows, "purify+FT", "personalized"))
    return verdict("fedpurel-residual-tail", "Residual personalization is better on tail classes than usual "
                   "personalization", SRC, judge(effects(rows)),
                   {"residual_minus_FT_same_purified_global_tail_acc": controlled,
                    "pipeline_FedPuReL_minus_FedAvg+FT_tail_acc (confounded by purification)": pipeline,
                    "residual_minus_FT_personalized_acc": pers, **_robust(ctx, effects)},
                   counterexample={"study": "lpft_theory.studies.longtail_study", "controlled_difference": controlled},
                   notes="Verdict from the controlled comparison (same purified global model). The pipeline "
                         "comparison is reported beside it: it differs in the global model too.")


@claim("fedpurel-bias-passed-on")
def bias_passed_on(ctx) -> Verdict:
    rows = _rows(ctx)
    effects = lambda r: {"tail_loss": paired_difference(_col(r, "zero-shot", "tail"), _col(r, "FedAvg+FT", "tail")),  # noqa: E731
                         "head_over_tail": paired_difference(_col(r, "FedAvg+FT", "head"), _col(r, "FedAvg+FT", "tail"))}
    d, h = effects(rows)["tail_loss"], effects(rows)["head_over_tail"]
    return verdict("fedpurel-bias-passed-on", "Usual personalization (FT from the fine-tuned global model) passes the "
                   "head-class bias on", SRC, judge({"tail_loss": d, "head_over_tail": h}),
                   {"zero_shot_minus_FedAvg+FT_tail_acc": d, "FedAvg+FT_head_minus_tail_acc": h,
                    **_robust(ctx, effects)},
                   counterexample={"study": "lpft_theory.studies.longtail_study"})


CHECKS = [erosion, purification, residual_tail, bias_passed_on]
