"""FlexP-SFL (Yuan et al. 2025) — split fine-tuning with alignment: the linear analogue of each claim."""
from __future__ import annotations

from lpft_theory import studies
from lpft_theory.protocol import VARIANTS
from lpft_theory.stats import paired_difference

from ._robustness import robustness, verdict
from .verdict import Verdict, claim, column, judge

#: the protocol choices that apply here: the global model trained to a plateau, or for 20 rounds
GLOBAL_MODEL_VARIANTS = ("fixed recipe", "short global model")


def _robust(ctx, effects_of) -> dict:
    return robustness({v: judge(effects_of(studies.split_study(ctx.quick, ctx.seed, VARIANTS[v])["rows"]))
                       for v in GLOBAL_MODEL_VARIANTS}, "fixed recipe")

SRC = "FlexP-SFL (Yuan et al. 2025)"
TITLE = "FlexP-SFL (Yuan et al. 2025) — flexible personalized split FL"


def _col(rows, lam, split, key):
    return column(rows, key, lam=lam, split=split)


@claim("flexpsfl-alignment", figure="split")
def alignment_global(ctx) -> Verdict:
    rows = studies.split_study(ctx.quick, ctx.seed)["rows"]
    effects = lambda r: {"global": paired_difference(_col(r, 0.0, "cycle", "global"), _col(r, 0.25, "cycle", "global"))}  # noqa: E731
    g = effects(rows)["global"]
    loc = paired_difference(_col(rows, 0.25, "cycle", "local"), _col(rows, 0.0, "cycle", "local"))
    return verdict("flexpsfl-alignment", "The alignment term (lambda = 0.25) makes personalized models better on "
                   "global data than no alignment (lambda = 0)", SRC, judge({"global": g}),
                   {"global_loss_gain_(lam0_minus_lam0.25)": g, "local_loss_cost_(lam0.25_minus_lam0)": loc,
                    "splits": "heterogeneous: s_k = k mod (L + 1)", **_robust(ctx, effects)},
                   counterexample={"study": "lpft_theory.studies.split_study"},
                   notes="Deep linear net (3 hidden layers), combined shift, server layers frozen during PFT.")


@claim("flexpsfl-split-depth", figure="split")
def deeper_split_more_personal(ctx) -> Verdict:
    rows = studies.split_study(ctx.quick, ctx.seed)["rows"]
    effects = lambda r: {"local": paired_difference(_col(r, 0.0, "1", "local"), _col(r, 0.0, "3", "local"))}  # noqa: E731
    d = effects(rows)["local"]
    gl = paired_difference(_col(rows, 0.0, "3", "global"), _col(rows, 0.0, "1", "global"))
    return verdict("flexpsfl-split-depth", "A larger client-side split s_k (more personal layers, more client compute) "
                   "personalizes more", SRC, judge({"local": d}),
                   {"local_loss_s1_minus_s3": d, "global_loss_s3_minus_s1": gl, **_robust(ctx, effects)},
                   counterexample={"study": "lpft_theory.studies.split_study"})


CHECKS = [alignment_global, deeper_split_more_personal]
