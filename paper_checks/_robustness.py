"""Shared by the synthetic empirical checks: a verdict from a :class:`~paper_checks.verdict.Judgement`, and the
protocol-robustness table (the verdict under every protocol variant and which choices flip it)."""
from __future__ import annotations

import numpy as np

from lpft_theory.stats import paired_difference

from .verdict import Judgement, Verdict, judge


def robustness(judgements: dict, primary: str) -> dict:
    """``{"protocol_robustness": {variant: status}, "robustness_summary": sentence}`` from one
    :class:`Judgement` per protocol variant; the sentence names the variants whose status differs from
    ``primary``'s."""
    table = {v: j.status for v, j in judgements.items()}
    flips = {v: s for v, s in table.items() if s != table[primary]}
    words = (f"Primary protocol '{primary}': {table[primary]}. "
             + ("The verdict is the same under every protocol variant tried."
                if not flips else "It changes under " + "; ".join(f"'{v}' ({s})" for v, s in flips.items()) + "."))
    return {"protocol_robustness": table, "robustness_summary": words}


def verdict(claim_id: str, claim: str, source: str, j: Judgement, evidence: dict, *, counterexample: dict,
            notes: str = "") -> Verdict:
    """A Verdict carrying ``j``'s status; the reason is added to the notes when the status needs one."""
    extra = j.reason if j.status in ("inconclusive", "mixed", "equivalent") else ""
    return Verdict(claim_id, claim, source, j.status, {**evidence, "decision_tests": j.tests},
                   counterexample=counterexample if j.status == "refuted" else {},
                   notes=" ".join(x for x in (notes, extra) if x), sides=j.sides if j.status == "mixed" else {},
                   decided_by=j.reason)


def exact_ties(effects: dict, atol: float = 1e-10) -> list:
    """Settings whose paired differences are all zero to round-off (e.g. two interpolating models that
    share the same global loss): an interval there says nothing, and the verdict must say why."""
    return [k for k, e in effects.items() if "abs_max" in e and e["abs_max"] <= atol]


def paired(a, b) -> dict:
    """:func:`lpft_theory.stats.paired_difference` of ``a − b`` per seed, plus ``abs_max`` (to detect exact ties)."""
    out = paired_difference(a, b)
    out["abs_max"] = float(np.max(np.abs(np.asarray(a, float) - np.asarray(b, float))))
    return out


__all__ = ["robustness", "verdict", "exact_ties", "paired", "judge"]
