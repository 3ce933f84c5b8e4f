"""The Verdict contract (DESIGN.md): every claim check returns one of these, with its evidence."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

STATUSES = ("confirmed", "confirmed-under-condition", "refuted", "not-testable-here")


@dataclass
class Verdict:
    """``status`` is one of :data:`STATUSES`.

    ``condition`` / ``condition_words``: for ``confirmed-under-condition`` (a formula and its reading).
    ``counterexample``: for ``refuted`` (and for the failing side of a condition): a configuration and a
    command or Python call anyone can rerun. ``evidence``: the numbers the verdict rests on.
    """

    id: str
    claim: str
    source: str
    status: str
    evidence: dict = field(default_factory=dict)
    condition: str = ""
    condition_words: str = ""
    counterexample: dict = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.status == "confirmed-under-condition" and not (self.condition and self.condition_words):
            raise ValueError(f"{self.id}: confirmed-under-condition needs a condition formula and words")
        if self.status == "refuted" and not self.counterexample:
            raise ValueError(f"{self.id}: refuted needs a concrete counterexample")
        if self.status == "not-testable-here" and not self.notes:
            raise ValueError(f"{self.id}: not-testable-here needs the reason in notes")

    def to_dict(self) -> dict:
        return asdict(self)


def column(rows, key: str, **match) -> list:
    """``row[key]`` of every row whose fields equal ``match``, ordered by seed (for paired differences)."""
    picked = sorted((r for r in rows if all(r[k] == v for k, v in match.items())), key=lambda r: r["seed"])
    return [r[key] for r in picked]


def decide(effects: dict, expect_positive: bool = True) -> str:
    """Status from paired-difference intervals (``lpft_theory.stats.paired_difference``).

    ``confirmed``: every interval lies on the expected side of 0. ``refuted``: some interval lies on the
    wrong side. Otherwise the seeds do not resolve the effect: ``not-testable-here`` (rerun without
    ``--quick`` for more seeds) — a check that cannot tell is not allowed to call it either way.
    """
    sign = 1.0 if expect_positive else -1.0
    right = [sign * e["lo"] > 0 if sign > 0 else sign * e["hi"] > 0 for e in effects.values()]
    wrong = [sign * e["hi"] < 0 if sign > 0 else sign * e["lo"] < 0 for e in effects.values()]
    if all(right):
        return "confirmed"
    if any(wrong):
        return "refuted"
    return "not-testable-here"


UNRESOLVED = "The confidence intervals include 0 at this number of seeds; rerun without --quick (more seeds)."
