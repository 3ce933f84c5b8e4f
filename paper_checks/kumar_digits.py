"""Kumar et al. 2022 on real images: the digits analogue of their Living-17 headline
(:mod:`lpft_theory.empirical.kumar_digits`), per model, under the declared primary protocol (matched ID
accuracy), with its positive control (WiSE-FT Mix − FT OOD accuracy) read first, as in
:mod:`paper_checks.chen2025_real`."""
from __future__ import annotations

from lpft_theory.stats import mean_ci, paired_difference

from .chen2025_real import judge_sides
from .claims import primary_of
from .verdict import Verdict, claim

SRC = "Kumar et al. 2022"
TITLE = "Kumar et al. 2022 — Fine-Tuning can Distort Pretrained Features (digits analogue)"
CLAIM = "kumar-digits-analogue"


def _studies(ctx) -> dict:
    from lpft_theory.empirical.kumar_digits import kumar_study

    return kumar_study(ctx.quick)


def effects(runs, variant: str) -> dict:
    """LP-FT − FT OOD accuracy; FT − LP-FT relative feature change on ID and on OOD inputs (paired over seeds)."""
    col = lambda m, k: [r["variants"][variant][m][k] for r in runs]  # noqa: E731
    return {"OOD accuracy: LP-FT - FT": paired_difference(col("LP-FT", "global"), col("FT", "global")),
            "feature change ID: FT - LP-FT": paired_difference(col("FT", "change_id"), col("LP-FT", "change_id")),
            "feature change OOD: FT - LP-FT": paired_difference(col("FT", "change_ood"), col("LP-FT", "change_ood"))}


def control(runs, variant: str) -> dict:
    c = [r["variants"][variant]["_control"] for r in runs]
    return paired_difference([x["Mix"]["global"] for x in c], [x["FT"]["global"] for x in c])


@claim(CLAIM)
def digits_analogue(ctx) -> Verdict:
    from lpft_theory.empirical.kumar_digits import VARIANTS

    studies = _studies(ctx)
    primary = primary_of(CLAIM)
    decided = {v: judge_sides({m: effects(s["runs"], v) for m, s in studies.items()},
                              {m: control(s["runs"], v) for m, s in studies.items()}) for v in VARIANTS}
    table = {v: d["status"] for v, d in decided.items()}
    d = decided[primary]
    flips = {v: s for v, s in table.items() if s != table[primary]}
    ev = {"primary_protocol": primary, "protocol_robustness": table,
          "robustness_summary": f"Primary protocol '{primary}': {table[primary]}. " + (
              "The verdict is the same under every protocol variant tried." if not flips else
              "It changes under " + "; ".join(f"'{v}' ({s})" for v, s in flips.items()) + "."),
          "protocol_variants": VARIANTS, "selection_data": "the ID validation split only; OOD data is only reported",
          "sides": {m: {"verdict": d["sides"][m], "positive_control": {
              "effect": "Mix (WiSE-FT) - FT OOD accuracy", "gap": p["control_gap"], "detected": p["control_detected"],
              "mde": p["control_mde"]}, "own_reading": p["own_reading"], "minimum_detectable_effect": p["mde"],
              "tests": p["tests"], "grid_counts": studies[m]["grid_counts"],
              "id_ood_change": studies[m]["summary"][primary],
              "matched_id_val_level": mean_ci([r["level"] for r in studies[m]["runs"]])}
              for m, p in d["per_side"].items()}}
    cex = {"python": "lpft_theory.empirical.kumar_digits.study(quick=False, model=...)", "protocol": primary,
           "sides": [m for m, w in d["sides"].items() if w == "against"]} if d["status"] == "refuted" else {}
    notes = d["reason"] if d["status"] in ("inconclusive", "mixed", "equivalent", "refuted") else ""
    return Verdict(CLAIM, "", SRC, d["status"], ev, counterexample=cex, notes=notes, sides=d["sides"],
                   decided_by=d["reason"])


CHECKS = [digits_analogue]
