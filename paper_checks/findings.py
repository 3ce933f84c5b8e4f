"""Sentences generated from verdicts: the report's key findings and the README's findings block.

Nothing here states an outcome in fixed prose: every bullet is composed from a verdict's status, its
``decided_by`` sentence, its decision tests (``evidence['decision_tests']``), its adversarial search
(``evidence['adversary']``) or its evidence counts, so a document built from these functions cannot say
"refuted" where ``checks.json`` says otherwise.

The README block between ``<!-- findings:start -->`` and ``<!-- findings:end -->`` is rewritten from a
``checks.json``::

    python -m paper_checks.findings README.md --checks docs/checks-full.json          # rewrite the block
    python -m paper_checks.findings README.md --checks docs/checks-full.json --check  # exit 1 if it differs
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import re
import sys
from pathlib import Path
from types import SimpleNamespace

from lpft_theory.io import write_text_atomic

from .verdict import STATUSES

START, END = "<!-- findings:start -->", "<!-- findings:end -->"

#: Statuses a reader must see claim by claim in the key findings (the others are counted per group).
NOTABLE = ("refuted", "mixed", "equivalent", "inconclusive", "holds-under-derived-condition", "data-unavailable")

_FIELDS = {"id": "", "claim": "", "source": "", "status": "", "evidence": {}, "condition": "", "condition_words": "",
           "counterexample": {}, "notes": "", "sides": {}, "declared": {}, "decided_by": ""}


def as_verdict(v):
    """A verdict as an object with every :class:`~paper_checks.verdict.Verdict` field (a ``checks.json`` entry
    is a dict; a run gives Verdicts)."""
    if isinstance(v, dict):
        return SimpleNamespace(**{k: v.get(k, d) if v.get(k) is not None else d for k, d in _FIELDS.items()})
    return v


# ------------------------------------------------------------------------------------------------ numbers, text
def num(x) -> str:
    """A number as a reader wants it: four significant digits, ``—`` for a missing value, ``∞`` for infinity."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "∞" if x > 0 else "-∞"
        if x == 0:
            return "0"
        return f"{x:.3g}" if (abs(x) >= 1e5 or abs(x) < 1e-3) else f"{x:.4g}"
    if isinstance(x, str) and x in ("inf", "Infinity"):
        return "∞"
    if isinstance(x, str) and x in ("-inf", "-Infinity"):
        return "-∞"
    return derepr(str(x))


def _closing(text: str, i: int) -> int:
    """Index of the bracket closing ``text[i]`` (quotes respected), or -1."""
    pairs, stack, quote = {"{": "}", "[": "]", "(": ")"}, [], None
    for j in range(i, len(text)):
        ch = text[j]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in pairs:
            stack.append(pairs[ch])
        elif ch in ")]}":
            if not stack or stack.pop() != ch:
                return -1
            if not stack:
                return j
    return -1


def derepr(text: str) -> str:
    """A string with the Python reprs a check wrote into it (``{'a': 1}``, ``[{'a': 1}]``, ``None, None``,
    ``np.float64(1.0)``) rewritten as readable text."""
    if not any(t in text for t in ("{", "[", "np.", "None,", ", None")):
        return text
    text = re.sub(r"np\.(?:float|int|uint|bool)\w*\(([^()]*)\)", r"\1", text)
    text = re.sub(r"np\.(True|False)_", r"\1", text)
    text = re.sub(r"\bNone(?=,)|(?<=, )None\b", "—", text)
    out, i = [], 0
    while i < len(text):
        if text[i] in "{[":
            j = _closing(text, i)
            if j > 0:
                try:
                    val = ast.literal_eval(text[i:j + 1])
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    val = None
                structured = isinstance(val, dict) or (isinstance(val, (list, tuple)) and any(
                    x is None or isinstance(x, (dict, list, tuple)) for x in val))
                if structured:
                    out.append("(" + inline(val, 10_000) + ")")
                    i = j + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


def is_interval(x) -> bool:
    return isinstance(x, dict) and {"lo", "hi"} <= set(x) and all(isinstance(x[k], (int, float)) or x[k] is None
                                                                  for k in ("lo", "hi"))


def interval(e: dict) -> str:
    """``mean [lo, hi] (n = …)`` of an interval estimate (``lpft_theory.stats``)."""
    mean = f"{num(e['mean'])} " if "mean" in e else ""
    n = f" (n = {e['n']})" if e.get("n") is not None else ""
    return f"{mean}[{num(e['lo'])}, {num(e['hi'])}]{n}"


def key_words(k) -> str:
    """An evidence key as words: ``max_relative_error`` → ``max relative error``; an underscore that is a
    subscript (``G_FT``, ``L_train``, ``at_t``) is kept."""
    s = str(k)

    def sep(m):
        left, right = m.group(1), m.group(2)
        return f"{left} {right}" if len(left) >= 2 and (len(right) >= 2 or right.startswith("(")) else m.group(0)

    for _ in range(2):  # overlapping matches (a_b_c)
        s = re.sub(r"([A-Za-z0-9]+)_(\(|[A-Za-z0-9]+)", sep, s)
    return s


def scalar(x) -> bool:
    return x is None or isinstance(x, (bool, int, float, str))


def inline(value, limit: int = 240) -> str:
    """Any evidence value as one line of plain text (no Python reprs), cut at ``limit`` characters."""

    def go(x, depth):
        if scalar(x):
            return num(x)
        if is_interval(x):
            return interval(x)
        if isinstance(x, dict):
            if depth > 2:
                return f"{len(x)} entries"
            return "; ".join(f"{key_words(k)}: {go(v, depth + 1)}" if scalar(v) or is_interval(v)
                             else f"{key_words(k)}: ({go(v, depth + 1)})" for k, v in x.items())
        if isinstance(x, (list, tuple)):
            if all(scalar(v) for v in x):
                shown = ", ".join(num(v) for v in x[:8])
                return shown + (f", … ({len(x) - 8} more)" if len(x) > 8 else "")
            if len(x) <= 8 and all(isinstance(v, dict) and all(scalar(w) for w in v.values()) for v in x):
                return ", ".join(f"({go(v, depth + 1)})" for v in x)
            if depth > 2:
                return f"{len(x)} items"
            first = go(x[0], depth + 1)
            return f"{len(x)} items, first: {first}" if len(x) > 1 else first
        return str(x)

    text = go(value, 0)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_TEX = {r"\eta": "η", r"\lambda": "λ", r"\sigma": "σ", r"\omega": "ω", r"\theta": "θ", r"\tau": "τ",
        r"\beta": "β", r"\alpha": "α", r"\epsilon": "ε", r"\varepsilon": "ε", r"\delta": "δ", r"\Delta": "Δ",
        r"\rho": "ρ", r"\mu": "μ", r"\gamma": "γ", r"\kappa": "κ", r"\phi": "φ", r"\psi": "ψ", r"\Sigma": "Σ",
        r"\in": "∈", r"\perp": "⊥", r"\leq": "≤", r"\geq": "≥", r"\le": "≤", r"\ge": "≥", r"\neq": "≠",
        r"\approx": "≈", r"\langle": "⟨", r"\rangle": "⟩", r"\sum": "Σ", r"\sqrt": "√", r"\lfloor": "⌊",
        r"\rfloor": "⌋", r"\cdot": "·", r"\times": "×", r"\to": "→", r"\infty": "∞", r"\pm": "±",
        r"\iff": "⇔", r"\star": "*", r"\sin": " sin", r"\cos": " cos", r"\log": " log", r"\exp": " exp",
        r"\max": " max", r"\min": " min"}
_OPENING = (r"\langle", r"\lfloor", r"\sqrt")


def plain_math(text: str) -> str:
    """Matplotlib mathtext (``$\\|B_{FT}\\|_F = \\eta$``) as plain Unicode text (``‖B_FT‖_F = η``)."""

    def one(m):
        t = m.group(1)
        t = re.sub(r"\\(?:mathrm|text|mathbf|operatorname|mathit)\{([^{}]*)\}", r"\1", t)
        t = t.replace(r"\|", "‖").replace(r"\{", "\x00").replace(r"\}", "\x01")
        t = re.sub(r"\\(bar|hat|tilde)\s*\{?([A-Za-z])\}?",
                   lambda k: k.group(2) + {"bar": "\u0304", "hat": "\u0302", "tilde": "\u0303"}[k.group(1)], t)
        for cmd in sorted(_TEX, key=len, reverse=True):
            t = re.sub(re.escape(cmd) + r"(?![A-Za-z])" + (" ?" if cmd in _OPENING else ""), _TEX[cmd], t)
        t = re.sub(r"\\[,;:! ]", " ", t)
        t = re.sub(r"\^\{([^{}]*)\}", lambda k: "^" + (k.group(1) if len(k.group(1)) == 1 else f"({k.group(1)})"), t)
        t = re.sub(r"\\([A-Za-z]+)", r"\1", t).replace("{", "").replace("}", "")
        t = re.sub(r" {2,}", " ", t.replace("\x00", "{").replace("\x01", "}"))
        return re.sub(r"(^|[(\[]) | (?=$|[)\],;])", r"\1", t)

    return re.sub(r"\$([^$]*)\$", one, text)


def md_text(text: str) -> str:
    """Plain text safe in Markdown prose: ``\\``, ``*`` and backticks escaped, a tag-like ``<`` written ``&lt;``."""
    text = " ".join(str(text).split())
    text = re.sub(r"([\\*`])", r"\\\1", text)
    return re.sub(r"<(?=[A-Za-z/!])", "&lt;", text)


def first_sentence(text: str, limit: int = 200) -> str:
    """The first sentence (or clause, up to ``;``) of ``text``, ending in a full stop, cut at ``limit``."""
    text = " ".join(text.split())
    m = re.search(r"(?<=[^0-9A-Z.])[.;](\s|$)", text)
    out = text[: m.start()] + "." if m else text
    return out if len(out) <= limit else out[: limit - 1].rstrip() + "…"


# ---------------------------------------------------------------------------------------- decision tests, adversary
def sides_of_tests(tests: dict) -> dict:
    """setting → ``for`` / ``against`` / ``equivalent`` / ``inconclusive`` from ``evidence['decision_tests']``."""
    out = {}
    for k, t in tests.items():
        if not isinstance(t, dict):
            continue
        out[k] = ("equivalent" if t.get("holm_equivalent") else "for" if t.get("holm_for")
                  else "against" if t.get("holm_against") else "inconclusive")
    return out


def decision_tests(v) -> dict:
    t = (as_verdict(v).evidence or {}).get("decision_tests")
    return t if isinstance(t, dict) and all(isinstance(x, dict) for x in t.values()) else {}


def minimum_detectable(v) -> dict:
    """setting → the minimum detectable effect (80 % power, Holm level) of every undecided setting."""
    tests = decision_tests(v)
    sides = sides_of_tests(tests)
    return {k: tests[k]["mde"] for k, s in sides.items() if s == "inconclusive" and tests[k].get("mde") is not None}


def mde_sentence(v) -> str:
    mde = minimum_detectable(v)
    if not mde:
        return ""
    items = list(mde.items())
    shown = "; ".join(f"{k}: {num(m)}" for k, m in items[:4]) + (f"; … ({len(items) - 4} more)" if len(items) > 4 else "")
    return f"minimum detectable effect (80 % power) at the undecided setting{'s' * (len(items) > 1)}: {shown}"


def effects_of(v) -> dict:
    """setting → its interval estimate, for the settings of the decision tests: the evidence entry (top level, or
    the primary protocol's in ``effects_by_protocol``) whose intervals are keyed by exactly those settings."""
    v = as_verdict(v)
    keys = set(decision_tests(v))
    if not keys:
        return {}
    ev = v.evidence or {}
    candidates = list(ev.values())
    by = ev.get("effects_by_protocol")
    primary = (v.declared or {}).get("primary_protocol")
    if isinstance(by, dict):
        candidates = [x for k, x in by.items() if str(k).lower() == str(primary).lower()] + candidates
    for x in candidates:
        if isinstance(x, dict) and keys <= {str(k) for k in x} and all(is_interval(x[k]) for k in x if str(k) in keys):
            return {str(k): e for k, e in x.items() if str(k) in keys}
    return {}


def _interval_of(v, setting: str, effects: dict) -> str:
    """The interval of one setting: from the evidence, else as the decision rule wrote it in ``decided_by``."""
    if setting in effects:
        return interval(effects[setting])
    m = re.search(r"(?:^|; |at )" + re.escape(setting) + r": (-?[0-9.e+-]+ \[[^\]]*\] \(n = [^)]*\))",
                  as_verdict(v).decided_by or "")
    return m.group(1) if m else ""


def tests_summary(v) -> str:
    """``for at 3 of 5 settings, undecided at 2 (Holm)``-style count of the decision tests."""
    sides = sides_of_tests(decision_tests(v))
    if not sides:
        return ""
    words = {"for": "for the claim", "against": "against it", "equivalent": "within ±δ", "inconclusive": "undecided"}
    parts = [f"{words[w]} at {sum(s == w for s in sides.values())}" for w in words if w in sides.values()]
    return ", ".join(parts) + f" of {len(sides)} setting{'s' * (len(sides) > 1)} (Holm)"


def _adversaries(ev: dict) -> dict:
    adv = ev.get("adversary")
    if isinstance(adv, dict) and "worst_margin" in adv:
        return {"": adv}
    if isinstance(adv, dict):
        return {k: a for k, a in adv.items() if isinstance(a, dict) and "worst_margin" in a}
    return {}


def adversary_sentence(ev: dict) -> str:
    """``adversary: budget B, worst margin m`` for every adversarial search in the evidence."""
    out = []
    for name, a in _adversaries(ev).items():
        spent = a.get("evaluations")
        budget = a.get("budget")
        size = f"{num(spent)} of {num(budget)} evaluations" if spent is not None and budget is not None else (
            f"budget {num(budget if budget is not None else spent)}")
        out.append(f"adversary{' ' + name if name else ''}: {size}, worst margin {num(a.get('worst_margin'))}")
    return "; ".join(out)


def _count(ev: dict, *names):
    for n in names:
        x = ev.get(n)
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return x
    return None


def counts_sentence(ev: dict) -> str:
    """Violations / agreement counts of an exact check, when its evidence names them."""
    parts = []
    total = _count(ev, "instances", "total", "points", "trajectories", "draws")
    viol = _count(ev, "violations", "mismatches_above_rtol", "mismatches")
    informative = next((x for k, x in ev.items() if str(k).startswith("informative")
                        and isinstance(x, int) and not isinstance(x, bool)), None)
    if viol is not None:
        parts.append(f"{num(viol)} violation{'s' * (viol != 1)}" + (f" in {num(total)} instances" if total else "")
                     + (f" ({num(informative)} informative)" if informative is not None else ""))
    agree = _count(ev, "agree")
    if agree is not None and total:
        parts.append(f"the condition agrees with the exact outcome in {num(agree)} of {num(total)} instances")
    for k, x in ev.items():
        if isinstance(x, str) and re.fullmatch(r"\d+/\d+", x) and len(parts) < 3:
            parts.append(f"{key_words(k)}: {x}")
    return "; ".join(parts)


def scalars_sentence(ev: dict, limit: int = 4) -> str:
    """The first few evidence numbers: scalars and intervals as ``key = value``, small dicts of numbers inline."""
    out = []
    for k, x in ev.items():
        if (scalar(x) and not isinstance(x, str)) or is_interval(x) or (isinstance(x, str) and len(x) <= 40):
            out.append(f"{key_words(k)} = {interval(x) if is_interval(x) else num(x)}")
        elif isinstance(x, dict) and 0 < len(x) <= 6 and all(scalar(w) or is_interval(w) for w in x.values()):
            out.append(f"{key_words(k)}: {inline(x, 120)}")
        if len(out) == limit:
            break
    return "; ".join(out)


def clip_reason(text: str, limit: int = 450) -> str:
    """A long decision sentence (many settings) cut at a setting boundary, its closing test summary kept."""
    if len(text) <= limit:
        return text
    m = re.search(r" \((?:Holm|no margin)[^()]*\)\.?$", text)
    tail = m.group(0) if m else ""
    head = text[: len(text) - len(tail)]
    cut = head.rfind("; ", 0, limit)
    return (head[:cut] if cut > 0 else head[:limit].rstrip()) + "; … (every setting in the evidence)" + tail


def decisive_sentence(v) -> str:
    """The one sentence that decided the verdict: its ``decided_by``, else one composed from the evidence
    (counts and adversary for exact checks, the reason for an unavailable dataset, else the first numbers)."""
    v = as_verdict(v)
    if v.decided_by:
        return v.decided_by.strip()
    ev = v.evidence or {}
    if v.status == "data-unavailable" and v.notes:
        return first_sentence(v.notes, 300)
    parts = [p for p in (counts_sentence(ev), adversary_sentence(ev)) if p]
    if parts:
        return "; ".join(parts) + "."
    if isinstance(ev.get("reason"), str) and ev["reason"].strip():
        return " ".join(ev["reason"].split())
    s = scalars_sentence(ev)
    if s:
        return s + "."
    return first_sentence(v.notes, 300) if v.notes else "see the evidence."


def control_sentence(ev: dict) -> str:
    """For a claim read per side behind a positive control (real images): on how many sides the control was
    detected, and the range of Local gain the regimes left (where the evidence has it)."""
    sides = ev.get("sides") if isinstance(ev.get("sides"), dict) else {}
    pcs = {k: s["positive_control"] for k, s in sides.items() if isinstance(s, dict) and "positive_control" in s}
    if not pcs:
        return ""
    hit = [k for k, p in pcs.items() if p.get("detected")]
    text = f"positive control detected on {len(hit)} of {len(pcs)} sides" + (f" ({', '.join(sorted(hit))})" if hit else "")
    gains = [s["local_gain_available"]["mean"] for s in sides.values()
             if isinstance(s, dict) and isinstance(s.get("local_gain_available"), dict)]
    if gains:
        text += f"; Local gain available {num(min(gains))}–{num(max(gains))}"
    return text


def short_reason(v, limit: int = 220) -> str:
    """A short phrase with the verdict's deciding numbers, for the key findings."""
    v = as_verdict(v)
    if v.status == "data-unavailable":
        return first_sentence(v.notes or decisive_sentence(v), limit)
    ts = tests_summary(v)
    if ts:
        mde = minimum_detectable(v)
        extra = f"; largest minimum detectable effect {num(max(mde.values()))}" if mde else ""
        d = v.declared.get("delta") if isinstance(v.declared, dict) else None
        margin = f"; δ = {num(d)}" if d is not None else ""
        sides, effects = sides_of_tests(decision_tests(v)), effects_of(v)
        show = {"refuted": ("against",), "mixed": ("for", "against", "equivalent"), "equivalent": ("equivalent",),
                "confirmed": ("for",), "inconclusive": ("inconclusive",)}.get(v.status, ())
        picked = [k for side in show for k in [k for k, s in sides.items() if s == side][:1 if len(show) > 1 else 2]]
        numbers = "; ".join(f"{k}: {x}" for k in picked if (x := _interval_of(v, k, effects)))
        text = ts + margin + (f" — {numbers}" if numbers else "") + extra
        return text if len(text) <= limit * 2 else text[: limit * 2 - 1].rstrip() + "…"
    ev = v.evidence or {}
    parts = [p for p in (counts_sentence(ev), adversary_sentence(ev)) if p]
    if not parts and v.sides:
        by: dict = {}
        for k, side in v.sides.items():
            by.setdefault(side, []).append(str(k))
        parts = [f"{side} at {', '.join(ks)}" for side, ks in by.items()]
    control = control_sentence(ev)
    text = "; ".join(parts) if parts else first_sentence(decisive_sentence(v), limit)
    text = text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
    return text + (f" — {control}" if control else "")


# ------------------------------------------------------------------------------------------------------ groups
_QUALIFIER = {"chen2025": "theorems and the printed Table 2", "chen2025_empirical": "synthetic experiments",
              "chen2025_real": "real images (digits)"}
"""How the report tells apart modules that share a paper's title (a module's own ``GROUP`` label wins)."""


def group_of() -> dict:
    """claim id → ``(group key, label)``: the module's name and its ``GROUP`` label when it has one, else its
    ``TITLE`` (with a qualifier when several modules share a title)."""
    from . import MODULES

    titles = [m.TITLE for m in MODULES.values()]
    out = {}
    for key, mod in MODULES.items():
        label = getattr(mod, "GROUP", None) or mod.TITLE
        if not getattr(mod, "GROUP", None) and titles.count(mod.TITLE) > 1:
            label = f"{mod.TITLE.split(' — ')[0]} — {_QUALIFIER.get(key, key)}"
        for fn in mod.CHECKS:
            out[fn.claim_id] = (key, label)
    return out


def groups(verdicts) -> list:
    """``[(key, label, [verdicts])]`` in report order; claims of no built-in module (a user's) form one last
    group, ``user``."""
    where = group_of()
    out: dict = {}
    for v in map(as_verdict, verdicts):
        key, label = where.get(v.id, ("user", "Your claims"))
        out.setdefault((key, label), []).append(v)
    return [(key, label, members) for (key, label), members in out.items()]


def anchor(claim_id: str) -> str:
    """The HTML id of a claim's card (letters, digits and hyphens)."""
    return "claim-" + re.sub(r"[^A-Za-z0-9]+", "-", claim_id).strip("-").lower()


def status_counts(verdicts) -> dict:
    vs = [as_verdict(v) for v in verdicts]
    return {s: n for s in STATUSES if (n := sum(v.status == s for v in vs))}


def counts_line(verdicts) -> str:
    c = status_counts(verdicts)
    total = sum(c.values())
    return f"{total} claims: " + ", ".join(f"**{n}** {s}" for s, n in c.items()) + "."


def key_findings(verdicts, quick: bool = False, reference=None, links: bool = True) -> list[str]:
    """Markdown bullets: one per claim group (its status counts), under it one per notable claim (status word and
    the numbers that decided it); in a quick run, the claims its size could not resolve. ``reference``: verdicts
    of a full run (``checks.json`` entries) to compare a quick run with."""
    vs = [as_verdict(v) for v in verdicts]
    out = []
    for _, label, members in groups(vs):
        c = status_counts(members)
        counts = ", ".join(f"{n} {s}" for s, n in c.items())
        out.append(f"- **{md_text(label)}** ({len(members)} claim{'s' * (len(members) > 1)}): {counts}.")
        for v in members:
            if v.status in NOTABLE:
                ref = f"[`{v.id}`](#{anchor(v.id)})" if links else f"`{v.id}`"
                out.append(f"  - {ref} **{v.status}**: {md_text(short_reason(v))}")
    if quick:
        undecided = [v.id for v in vs if v.status == "inconclusive"]
        ref = {r["id"]: r["status"] for r in (reference or [])}
        if undecided:
            where = "; ".join(f"`{i}`" + (f" (the full run: {ref[i]})" if i in ref else "") for i in undecided)
            out.append(f"- **Quick size.** This quick run could not decide {len(undecided)} claim"
                       f"{'s' * (len(undecided) > 1)} at its size (fewer seeds and instances): {where}. "
                       "The full run (`lpft reproduce`) has more seeds and instances; the committed full run's status is "
                       "given where it exists.")
        differ = [f"`{v.id}` {v.status} here, {ref[v.id]} in the full run" for v in vs
                  if v.id in ref and ref[v.id] != v.status and v.status != "inconclusive"]
        if differ:
            out.append("- **Quick vs full.** " + "; ".join(differ) + ".")
    return out


# ------------------------------------------------------------------------------------------------------ README
def readme_block(checks: dict) -> str:
    """The README's findings block from a ``checks.json`` (markers included)."""
    vs = checks["verdicts"]
    cfg = checks.get("config", {})
    mode = "quick" if cfg.get("quick") else "full"
    lines = [START,
             f"*Generated by `python -m paper_checks.findings` from a {mode} run's checks.json, "
             f"lpft-theory {cfg.get('version', '?')}, seed {cfg.get('seed', '?')}; do not edit by hand.*", "",
             counts_line(vs), ""]
    lines += key_findings(vs, quick=bool(cfg.get("quick")), links=False)
    lines.append(END)
    return "\n".join(lines)


def rewrite(text: str, block: str) -> str:
    """``text`` with the block between the markers replaced by ``block`` (the markers must both be there)."""
    i, j = text.find(START), text.find(END)
    if i < 0 or j < 0 or j < i:
        raise ValueError(f"the markers {START} and {END} are not both in the file, in that order")
    return text[:i] + block + text[j + len(END):]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m paper_checks.findings",
                                description="Rewrite (or check) a README's findings block from a checks.json.",
                                epilog="example: python -m paper_checks.findings README.md --checks "
                                       "docs/checks-full.json --check")
    p.add_argument("readme", help="the Markdown file holding the block between the findings markers")
    p.add_argument("--checks", required=True, help="checks.json written by lpft reproduce")
    p.add_argument("--check", action="store_true", help="do not write: exit 1 if the block differs")
    a = p.parse_args(argv)
    readme = Path(a.readme)
    try:
        checks = json.loads(Path(a.checks).read_text())
        text = readme.read_text()
        new = rewrite(text, readme_block(checks))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if a.check:
        if new != text:
            print(f"{readme}: the findings block differs from {a.checks}; run without --check to rewrite it",
                  file=sys.stderr)
            return 1
        print(f"{readme}: the findings block matches {a.checks}")
        return 0
    if new != text:
        write_text_atomic(readme, new, True)
    print(f"{readme}: findings block written from {a.checks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
