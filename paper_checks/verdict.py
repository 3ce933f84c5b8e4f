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
