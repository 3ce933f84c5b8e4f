"""A small synthetic set of verdicts (one per status and claim kind, built-in ids so the groups and figures are the
real ones) and two tiny PNGs: the report and its HTML are tested on these, without running any check."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

from paper_checks.claims import declaration
from paper_checks.verdict import Verdict, judge


def _declared(cid: str) -> dict:
    return declaration(cid).to_dict()


def _interval(mean, half, n=6):
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": n, "level": 0.95, "frac_positive": 0.5}


def verdicts() -> list[Verdict]:
    """Ten verdicts covering every status; two share a figure, one has a huge evidence block and Python-repr
    strings a check might leave in its notes."""
    strong = judge({"concept": _interval(0.2, 0.05), "combined": _interval(0.3, 0.05)}, delta=0.01)
    unsure = judge({"T=5": _interval(0.002, 0.02, 3), "T=20": _interval(0.07, 0.03, 3)}, delta=0.01)
    against = judge({"b=0.1": _interval(-0.03, 0.01)}, delta=0.01)
    tiny = judge({"matched": _interval(0.0001, 0.002, 50)}, delta=0.01)
    mixed = judge({"concept": _interval(0.2, 0.05), "label": _interval(-0.2, 0.05)}, delta=0.01)
    assert (strong.status, unsure.status, against.status, tiny.status, mixed.status) == (
        "confirmed", "inconclusive", "refuted", "equivalent", "mixed")
    big = {f"setting {i}": {"rows": [{"method": m, "global": 0.1 * i, "local": None} for m in ("FT", "LP-FT")] * 20,
                            "per_seed": list(range(40)), "nested": {"a": {"b": {"c": {"d": 1}}}}} for i in range(30)}
    rob = {"fixed recipe": "refuted", "short global model": "refuted", "matched Local": "inconclusive",
           "matched local (regression)": "refuted"}
    return [
        Verdict("chen-lemma-4.3", "x", "Chen et al. 2025", "confirmed",
                {"violations": 0, "instances": 27, "informative_(bound > 0)": 20,
                 "adversary": {"worst_margin": 1.5e-3, "instance": {"eta": 0.3, "v": 0.8}, "evaluations": 600,
                               "budget": 600, "random_worst_margin": 0.02, "stages": {"random": 150},
                               "method": "random sampling, then L-BFGS-B"}},
                declared=_declared("chen-lemma-4.3")),
        Verdict("chen-thm-4.4", "x", "Chen et al. 2025", "holds-under-derived-condition",
                {"condition_predicts_winner": "48/48", "matched_local_loss": {"T=1": [0.0, None, None, None]}},
                condition="(a - 1)(a - (2 omega - 1)) > 0", condition_words="LP-FT wins when FT overshoots",
                counterexample={"a": 0.2296, "FT_global": 1.05, "LPFT_global": 2.0,
                                "command": "lpft simulate --scenario concept --eta 0.1 --steps 1 --strategies ft,lp-ft"},
                declared=_declared("chen-thm-4.4")),
        Verdict("chen-fig3a-correlation", "x", "Chen et al. 2025", strong.status,
                {"spearman_per_seed": {"concept": _interval(0.2, 0.05), "combined": _interval(0.3, 0.05)},
                 "decision_tests": strong.tests}, decided_by=strong.reason, declared=_declared("chen-fig3a-correlation")),
        Verdict("chen-fig3a-lpft-distortion", "x", "Chen et al. 2025", unsure.status,
                {"FT_minus_LPFT_distortion": {"T=5": _interval(0.002, 0.02, 3), "T=20": _interval(0.07, 0.03, 3)},
                 "decision_tests": unsure.tests, "protocol_robustness": {"fixed recipe": "inconclusive",
                                                                         "equal budget": "confirmed"}},
                notes="undecided at T=5", decided_by=unsure.reason, declared=_declared("chen-fig3a-lpft-distortion")),
        Verdict("chen-fig3b-flooding", "x", "Chen et al. 2025", against.status,
                {"LPFT_minus_FT_global_acc": {"b=0.1": _interval(-0.03, 0.01)}, "decision_tests": against.tests,
                 "protocol_robustness": rob, "starts": "best over [{'lp_alpha': 0.5}, {'lp_steps': 1}]"},
                counterexample={"config": {"b": 0.1, "seeds": [0, 1, 2]}, "study": "lpft_theory.studies.flooding",
                                "call": "lpft_theory.studies.flooding_study(quick=False, seed=0)"},
                notes="Runs whose loss rose: fixed recipe: {'label/LP-FT': 19}; values None, None, None.",
                decided_by=against.reason, declared=_declared("chen-fig3b-flooding")),
        Verdict("chen-table2-best-global", "x", "Chen et al. 2025", mixed.status,
                {"matched_local": big, "decision_tests": mixed.tests,
                 "protocol_robustness": {"matched local": "mixed", "tuned": "inconclusive", "fixed recipe": "refuted"}},
                notes="mixed", sides=mixed.sides, decided_by=mixed.reason, declared=_declared("chen-table2-best-global")),
        Verdict("chen-real-best-global", "x", "Chen et al. 2025", tiny.status,
                {"LP-FT - FT": _interval(0.0001, 0.002, 50), "decision_tests": tiny.tests,
                 "protocol_robustness": {"matched Local": "equivalent", "fixed recipe, 30-round global": "refuted"}},
                notes="equivalent", decided_by=tiny.reason, declared=_declared("chen-real-best-global")),
        Verdict("kumar-thm-3.1-eps1", "x", "Kumar et al. 2022", "refuted",
                {"violations": 8, "instances": 138, "informative_(bound > 0)": 104},
                counterexample={"instance": "k=1 d=8 eps=0 |w*|=2", "bound": 0.0673, "min_sqrt_Lood": 0.0670,
                                "rerun": "paper_checks.kumar2022._bound_instances(quick, seed)"},
                declared=_declared("kumar-thm-3.1-eps1")),
        Verdict("kumar-living17", "x", "Kumar et al. 2022", "data-unavailable",
                {"synthetic_analogue_feature_change_FT": 0.44}, notes="Living-17 cannot be shipped: it is ImageNet-derived.",
                declared=_declared("kumar-living17")),
    ]


def _png(width: int, height: int, rgb: tuple) -> bytes:
    """A solid-colour PNG, written by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


#: The two figures the synthetic verdicts use (as the real checks declare them) and one no claim uses.
FIGURES = ("lemma43", "distortion_scatter", "overlap")


def write_figures(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(FIGURES):
        (folder / f"{name}.png").write_bytes(_png(40 + 10 * i, 30, (200, 60 * i, 90)))
    return folder
