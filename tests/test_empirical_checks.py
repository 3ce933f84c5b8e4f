"""The decision rules of the synthetic empirical checks: "best" only through paired intervals, exact ties
named as such, and verdicts that follow their evidence (mutation tests on the rules, no study run)."""
import numpy as np

from paper_checks._robustness import paired, verdict
from paper_checks.chen2025_empirical import _lpft_vs_rivals, _tie_note
from paper_checks.verdict import judge

SEEDS = np.arange(8)


def _values(lpft_shift):
    base = 1.0 + 0.1 * np.sin(SEEDS)  # shared per-seed variation: paired intervals see through it
    return {"FT": base + 0.3, "Proximal": base + 0.05 + 0.001 * np.cos(3 * SEEDS), "LP-FT": base + lpft_shift}


def test_best_global_is_confirmed_only_when_lpft_beats_every_rival():
    effects, ev = _lpft_vs_rivals(_values(-0.2))
    assert set(effects) == {"FT", "Proximal"} and ev["best"] == "LP-FT"
    assert judge(effects, delta=0.01).status == "confirmed"
    effects, ev = _lpft_vs_rivals(_values(+0.2))  # mutation: LP-FT worse than Proximal, better than FT
    assert ev["best"] == "Proximal" and judge(effects, delta=0.01).status == "mixed"
    effects, ev = _lpft_vs_rivals(_values(0.05 + 0.001 * np.cos(3 * SEEDS)))  # LP-FT == Proximal to 0.001
    j = judge(effects, delta=0.01)
    assert ev["best"] is None and j.sides == {"FT": "for", "Proximal": "equivalent"} and j.status == "mixed"
    effects, _ = _lpft_vs_rivals(_values(0.4))  # worse than every rival
    assert judge(effects, delta=0.01).status == "refuted"


def test_an_exact_tie_is_reported_as_the_reason():
    same = paired([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    gap = paired([0.5, 0.6, 0.7], [0.4, 0.45, 0.6])
    note = _tie_note({"T=5": gap, "T=150": same})
    assert "T=150" in note and "T=5" not in note and "interpolate" in note
    j = judge({"T=150": same}, delta=0.01)
    v = verdict("x", "claim", "src", j, {"e": same}, counterexample={"study": "s"}, notes=note)
    assert v.status == "equivalent" and "Exact tie" in v.notes and "rerun" not in v.notes
    assert judge({"T=150": same}, delta=None).status == "inconclusive"  # no margin declared: a tie cannot decide


def test_a_split_effect_is_mixed_with_its_sides():
    j = judge({"b=0.1": paired([1.0, 1.1, 1.2], [0.0, 0.1, 0.1]), "b=1.0": paired([0.0, 0.1, 0.1], [1.0, 1.1, 1.2])},
              delta=0.01)
    v = verdict("x", "claim", "src", j, {}, counterexample={"study": "s"})
    assert v.status == "mixed" and v.sides == {"b=0.1": "for", "b=1.0": "against"}


def _longtail_rows(zero_shot, plain, purified):
    return [{"model": m, "seed": s, "balanced": v + 0.01 * np.sin(s + i)}
            for i, (m, v) in enumerate((("zero-shot", zero_shot), ("FedAvg", plain), ("FedAvg+purify", purified)))
            for s in range(6)]


def test_purification_status_follows_its_evidence():
    from paper_checks.fedpurel import _purification

    assert _purification(_longtail_rows(0.45, 0.30, 0.45))[0] == "confirmed"  # balance kept outright
    assert _purification(_longtail_rows(0.45, 0.30, 0.38))[0] == "holds-under-condition"  # only vs plain (derived)
    assert _purification(_longtail_rows(0.45, 0.30, 0.25))[0] == "refuted"  # mutation: purification hurts
