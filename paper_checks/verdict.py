"""The Verdict contract: every claim check returns one of these, with its evidence.

Statuses are never written as literals by a check: they come from the shared decision rules below
(:func:`judge` for effects with intervals, :func:`condition_status` for a stated condition checked
against simulation, :func:`bound_status` for a bound checked along trajectories), so that a check fed
a wrong condition or a wrong bound stops confirming (the mutation tests in ``tests/``).
"""
from __future__ import annotations

import contextvars
from dataclasses import asdict, dataclass, field

from lpft_theory.stats import holm, minimum_detectable_effect, one_sided_p, standard_error

STATUSES = ("confirmed", "holds-under-paper-condition", "holds-under-derived-condition", "mixed", "equivalent",
            "inconclusive", "refuted", "data-unavailable")

GLOSSARY = {
    "confirmed": "holds as stated, on every setting tested (and, for a 'for all' statement, the adversarial search "
                 "did not break it)",
    "holds-under-paper-condition": "holds under the condition the paper itself states",
    "holds-under-derived-condition": "false as stated, but holds exactly under a condition derived here (the "
                                     "condition is this package's, not the paper's)",
    "mixed": "holds in some settings and not in others (the settings are listed)",
    "equivalent": "no effect larger than the declared margin of practical relevance δ (every interval inside ±δ, "
                  "two one-sided tests, Holm-corrected)",
    "inconclusive": "the test ran but cannot decide at this size; the minimum detectable effect (80 % power) says "
                    "how large an effect it could have seen",
    "refuted": "false: a rerunnable, admissible counterexample is given",
    "data-unavailable": "the data the claim needs do not exist here (the only meaning of 'cannot be tested here')",
}
"""One line per status: shown as the glossary at the top of the report."""

#: The transitional status of :func:`condition_status`: the run resolves it to the paper's or a derived condition
#: from the claim's declaration (``paper_checks.claims``), so the two can never share a word.
HOLDS_UNDER_CONDITION = "holds-under-condition"
_PENDING = (HOLDS_UNDER_CONDITION,)

@dataclass
class Verdict:
    """``status`` is one of :data:`STATUSES` (see :data:`GLOSSARY`).

    ``condition`` / ``condition_words``: for the two ``holds-under-…-condition`` statuses (a formula and its
    reading).
    ``counterexample``: for ``refuted`` (and for the failing side of a condition): a configuration and a
    command or Python call anyone can rerun. ``sides``: for ``mixed`` — the setting → ``"for"`` /
    ``"against"`` / ``"equivalent"`` / ``"inconclusive"`` map, with at least one setting for and one decided
    otherwise. ``evidence``: the numbers the verdict rests on. ``notes``: for ``inconclusive`` and
    ``data-unavailable``, the real reason (computed, not a stock note). ``declared``: the claim's declaration (kind,
    primary protocol, statistic, δ, family, scope), attached by the run from :mod:`paper_checks.claims`.
    ``decided_by``: the one sentence that decided it.
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
    declared: dict = field(default_factory=dict)
    decided_by: str = ""

    def __post_init__(self):
        if self.status not in STATUSES + _PENDING:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if "condition" in self.status and not (self.condition and self.condition_words):
            raise ValueError(f"{self.id}: {self.status} needs a condition formula and words")
        if self.status == "refuted" and not self.counterexample:
            raise ValueError(f"{self.id}: refuted needs a concrete counterexample")
        if self.status in ("inconclusive", "data-unavailable") and not self.notes:
            raise ValueError(f"{self.id}: {self.status} needs the reason in notes")
        decided = set(self.sides.values()) - {"inconclusive"}
        if self.status == "mixed" and not ("for" in decided and len(decided) >= 2):
            raise ValueError(f"{self.id}: mixed needs sides with at least one setting 'for' and one 'against' or "
                             f"'equivalent', got {self.sides}")

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
    """What :func:`judge` decides: the status, the side of every setting, the reason in words, and the
    per-setting tests (``tests``: p-values, Holm decisions, the minimum detectable effect)."""

    status: str
    sides: dict
    reason: str
    tests: dict = field(default_factory=dict)


ALPHA = 0.025
"""Family-wise error rate of every one-sided decision (Holm across the settings and rivals of one claim). For a
single setting a one-sided test at 0.025 decides exactly as the displayed two-sided 95 % interval does."""

_UNSET = object()
CURRENT_DELTA: contextvars.ContextVar = contextvars.ContextVar("CURRENT_DELTA", default=None)
"""The declared margin δ of the claim being run (set by :func:`paper_checks.run_checks` from the claim's
declaration); :func:`judge` uses it unless a caller passes ``delta`` explicitly."""


def _fmt(e: dict) -> str:
    mean = f"{e['mean']:.4g} " if "mean" in e else ""
    return f"{mean}[{e['lo']:.4g}, {e['hi']:.4g}] (n = {e.get('n', '?')})"


def judge(effects: dict, expect_positive: bool = True, delta=_UNSET, alpha: float = ALPHA) -> Judgement:
    """Status from interval estimates (``lpft_theory.stats``: ``mean``, ``lo``, ``hi``, ``n``), one per setting.

    The settings of one call are one multiplicity family; every test below is Holm-corrected across it at
    family-wise level ``alpha``. Per setting, with ``s`` the expected sign and δ the declared margin
    (``delta``; by default the running claim's declaration, :data:`CURRENT_DELTA`):

    * ``equivalent`` when two one-sided t-tests reject ``|μ| >= δ`` (the effect is inside ±δ);
    * ``for`` when the one-sided test rejects ``s·μ <= 0``; ``against`` when it rejects ``s·μ >= 0``;
    * ``inconclusive`` otherwise, with its minimum detectable effect (80 % power, level ``alpha/m``).

    Status: every setting ``for`` → ``confirmed``; every setting ``equivalent`` → ``equivalent``; some ``for``
    and some ``against`` or ``equivalent`` → ``mixed``; some ``against`` and none ``for`` → ``refuted`` (a claim
    made for every setting is broken by one); anything else → ``inconclusive``. The asymmetry between the last
    two is the logic of a universal claim, not of the rule: one setting decides against it, all must decide for.
    """
    if not effects:
        raise ValueError("judge needs at least one effect")
    if delta is _UNSET:
        delta = CURRENT_DELTA.get()
    if delta is not None and not delta > 0:
        raise ValueError(f"delta (the margin of practical relevance) must be > 0 or None, got {delta!r}")
    sign = 1.0 if expect_positive else -1.0
    keys = [str(k) for k in effects]
    est = {str(k): (float(e["mean"]), *standard_error(e)) for k, e in effects.items()}
    p_for = {k: one_sided_p(sign * m, se, df, greater=True) for k, (m, se, df) in est.items()}
    p_against = {k: one_sided_p(sign * m, se, df, greater=False) for k, (m, se, df) in est.items()}
    rej_for, rej_against = holm(p_for, alpha), holm(p_against, alpha)
    rej_equiv = {k: False for k in keys}
    p_equiv = {}
    if delta is not None:
        p_equiv = {k: max(one_sided_p(m, se, df, greater=True, shift=-delta),
                          one_sided_p(m, se, df, greater=False, shift=delta)) for k, (m, se, df) in est.items()}
        rej_equiv = holm(p_equiv, alpha)
    m_fam = len(keys)
    sides, tests = {}, {}
    for k in keys:
        m, se, df = est[k]
        sides[k] = ("equivalent" if rej_equiv[k] else "for" if rej_for[k] else "against" if rej_against[k]
                    else "inconclusive")
        tests[k] = {"p_for": p_for[k], "p_against": p_against[k], "holm_for": rej_for[k],
                    "holm_against": rej_against[k], "mde": minimum_detectable_effect(se, df, alpha / m_fam)}
        if delta is not None:
            tests[k].update(p_equiv=p_equiv[k], holm_equivalent=rej_equiv[k], delta=delta)
    count = {w: sum(s == w for s in sides.values()) for w in ("for", "against", "equivalent", "inconclusive")}
    if count["for"] == len(keys):
        status = "confirmed"
    elif count["equivalent"] == len(keys):
        status = "equivalent"
    elif count["for"] and (count["against"] or count["equivalent"]):
        status = "mixed"
    elif count["against"] and not count["for"]:
        status = "refuted"
    else:
        status = "inconclusive"
    side_word = "positive" if expect_positive else "negative"
    parts = []
    for word in ("for", "against", "equivalent"):
        ks = [k for k in keys if sides[k] == word]
        if ks:
            what = f"inside ±{delta:.3g}" if word == "equivalent" else f"{word} the claim (expected {side_word})"
            parts.append(f"{what} at " + "; ".join(f"{k}: {_fmt(effects_k(effects, k))}" for k in ks))
    undecided = [k for k in keys if sides[k] == "inconclusive"]
    if undecided:
        parts.append("undecided at " + "; ".join(
            f"{k}: {_fmt(effects_k(effects, k))}, minimum detectable effect {tests[k]['mde']:.3g}" for k in undecided))
    reason = "; ".join(parts) + f" (Holm over {m_fam} setting{'s' * (m_fam > 1)}, α = {alpha:g}" + (
        f", δ = {delta:g})." if delta is not None else ", no margin δ declared).")
    return Judgement(status, sides, reason, tests)


def effects_k(effects: dict, k: str) -> dict:
    """The effect of setting ``k`` (keys may be non-strings in ``effects``; sides use their ``str``)."""
    return next(e for kk, e in effects.items() if str(kk) == k)


def decide(effects: dict, expect_positive: bool = True, delta=_UNSET) -> str:
    """The status of :func:`judge` alone."""
    return judge(effects, expect_positive, delta).status


def condition_status(agree: int, total: int, closed_form_ok: bool) -> str:
    """A stated condition holds only if it predicted the simulated outcome in every instance tried and the closed
    form matched the simulation; otherwise ``refuted``. The holding status is resolved by the run into
    ``holds-under-paper-condition`` or ``holds-under-derived-condition`` from the claim's declaration."""
    if total <= 0:
        raise ValueError(f"condition_status needs at least one instance, got total={total}")
    return HOLDS_UNDER_CONDITION if agree == total and closed_form_ok else "refuted"


def bound_status(violations: int, total: int, informative: int | None = None, min_informative: int = 1) -> str:
    """A bound (or any "for all" statement) checked on ``total`` instances: ``confirmed`` iff never violated.

    ``informative``: how many instances could have violated it (e.g. a lower bound that is positive there);
    a bound that is vacuous almost everywhere confirms nothing, so fewer than ``min_informative``
    informative instances give ``inconclusive`` (the caller states the counts in its notes).
    A violation always refutes.
    """
    if total <= 0:
        raise ValueError(f"bound_status needs at least one instance, got total={total}")
    if violations > 0:
        return "refuted"
    if informative is not None and informative < min_informative:
        return "inconclusive"
    return "confirmed"


def unavailable(reason: str) -> str:
    """The status of a claim whose evidence cannot exist here (e.g. a dataset the package cannot ship);
    ``reason`` must say why and goes into the verdict's notes."""
    if not reason.strip():
        raise ValueError("unavailable needs the reason the claim cannot be tested here")
    return "data-unavailable"
