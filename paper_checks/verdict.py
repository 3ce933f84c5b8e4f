"""The Verdict contract (DESIGN.md): every claim check returns one of these, with its evidence.

Statuses are never written as literals by a check: they come from the shared decision rules below
(:func:`judge` for effects with intervals, :func:`condition_status` for a stated condition checked
against simulation, :func:`bound_status` for a bound checked along trajectories), so that a check fed
a wrong condition or a wrong bound stops confirming (the mutation tests in ``tests/``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

STATUSES = ("confirmed", "confirmed-under-condition", "mixed", "refuted", "not-testable-here")


@dataclass
class Verdict:
    """``status`` is one of :data:`STATUSES`.

    ``condition`` / ``condition_words``: for ``confirmed-under-condition`` (a formula and its reading).
    ``counterexample``: for ``refuted`` (and for the failing side of a condition): a configuration and a
    command or Python call anyone can rerun. ``sides``: for ``mixed`` — the setting → ``"for"`` /
    ``"against"`` / ``"unresolved"`` map, with at least one setting on each side. ``evidence``: the numbers
    the verdict rests on. ``notes``: for ``not-testable-here``, the real reason (computed, not a stock note).
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
    sides: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.status == "confirmed-under-condition" and not (self.condition and self.condition_words):
            raise ValueError(f"{self.id}: confirmed-under-condition needs a condition formula and words")
        if self.status == "refuted" and not self.counterexample:
            raise ValueError(f"{self.id}: refuted needs a concrete counterexample")
        if self.status == "not-testable-here" and not self.notes:
            raise ValueError(f"{self.id}: not-testable-here needs the reason in notes")
        if self.status == "mixed" and not {"for", "against"} <= set(self.sides.values()):
            raise ValueError(f"{self.id}: mixed needs sides with at least one setting 'for' and one 'against'")

    def to_dict(self) -> dict:
        return asdict(self)


FIGURE_OF: dict = {}
"""claim id → the figure (``figures.NAMES``) the report shows beside it; filled by :func:`claim`."""


def claim(claim_id: str, figure: str | None = None):
    """Mark a check function with the id of the verdict it returns, so checks can be selected by id
    (``lpft check --only``) before anything is computed; ``figure`` is shown beside it in the report."""

    def mark(fn):
        fn.claim_id = claim_id
        if figure is not None:
            FIGURE_OF[claim_id] = figure
        return fn

    return mark


def column(rows, key: str, **match) -> list:
    """``row[key]`` of every row whose fields equal ``match``, ordered by seed (for paired differences)."""
    picked = sorted((r for r in rows if all(r[k] == v for k, v in match.items())), key=lambda r: r["seed"])
    return [r[key] for r in picked]


@dataclass(frozen=True)
class Judgement:
    """What :func:`judge` decides: the status, the side of every setting, and the reason in words."""

    status: str
    sides: dict
    reason: str


def _fmt(e: dict) -> str:
    mean = f"{e['mean']:.4g} " if "mean" in e else ""
    return f"{mean}[{e['lo']:.4g}, {e['hi']:.4g}] (n = {e.get('n', '?')})"


def judge(effects: dict, expect_positive: bool = True) -> Judgement:
    """Status from interval estimates (``lpft_theory.stats``: ``mean``, ``lo``, ``hi``), one per setting.

    A setting is ``for`` the claim when its interval lies on the expected side of 0, ``against`` when it
    lies on the other side, ``unresolved`` when it contains 0. ``confirmed``: every setting for.
    ``mixed``: some for and some against. ``refuted``: some against, none for. Otherwise
    ``not-testable-here``, with the unresolved settings and their intervals as the reason.
    """
    if not effects:
        raise ValueError("judge needs at least one effect")
    sign = 1.0 if expect_positive else -1.0
    sides = {}
    for k, e in effects.items():
        lo, hi = sorted((sign * e["lo"], sign * e["hi"]))
        sides[str(k)] = "for" if lo > 0 else ("against" if hi < 0 else "unresolved")
    n_for = sum(s == "for" for s in sides.values())
    n_against = sum(s == "against" for s in sides.values())
    unresolved = [k for k, s in sides.items() if s == "unresolved"]
    if n_for == len(sides):
        status = "confirmed"
    elif n_for and n_against:
        status = "mixed"
    elif n_against:
        status = "refuted"
    else:
        status = "not-testable-here"
    side_word = "positive" if expect_positive else "negative"
    parts = []
    if unresolved:
        parts.append("interval contains 0 at " + "; ".join(f"{k}: {_fmt(effects[k])}" for k in unresolved))
    for word in ("for", "against"):
        ks = [k for k, s in sides.items() if s == word]
        if ks:
            parts.append(f"{word} the claim (expected {side_word}) at " + ", ".join(ks))
    return Judgement(status, sides, "; ".join(parts) + ".")


def decide(effects: dict, expect_positive: bool = True) -> str:
    """The status of :func:`judge` alone."""
    return judge(effects, expect_positive).status


def condition_status(agree: int, total: int, closed_form_ok: bool) -> str:
    """A stated condition is ``confirmed-under-condition`` only if it predicted the simulated outcome in
    every instance tried and the closed form matched the simulation; otherwise ``refuted``."""
    if total <= 0:
        raise ValueError(f"condition_status needs at least one instance, got total={total}")
    return "confirmed-under-condition" if agree == total and closed_form_ok else "refuted"


def bound_status(violations: int, total: int, informative: int | None = None, min_informative: int = 1) -> str:
    """A bound (or any "for all" statement) checked on ``total`` instances: ``confirmed`` iff never violated.

    ``informative``: how many instances could have violated it (e.g. a lower bound that is positive there);
    a bound that is vacuous almost everywhere confirms nothing, so fewer than ``min_informative``
    informative instances give ``not-testable-here`` (the caller states the counts in its notes).
    A violation always refutes.
    """
    if total <= 0:
        raise ValueError(f"bound_status needs at least one instance, got total={total}")
    if violations > 0:
        return "refuted"
    if informative is not None and informative < min_informative:
        return "not-testable-here"
    return "confirmed"


def unavailable(reason: str) -> str:
    """The status of a claim whose evidence cannot exist here (e.g. a dataset the package cannot ship);
    ``reason`` must say why and goes into the verdict's notes."""
    if not reason.strip():
        raise ValueError("unavailable needs the reason the claim cannot be tested here")
    return "not-testable-here"
