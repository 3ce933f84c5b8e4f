"""``lpft reproduce``: every paper check and every figure, then ``report.md``, ``report.html`` and ``checks.json``.

The report is built for a reviewer with five minutes: key findings generated from the verdicts
(:mod:`paper_checks.findings`), the glossary of statuses, a contents list, then one short card per claim
(statement, status, declared protocol, the sentence that decided it, the rerun command, its figure — each
figure shown once) with the evidence folded away, a protocol-robustness table and the sympy derivations.
:func:`document` builds that content once; :func:`markdown` and :func:`paper_checks.html.render_html` write it.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

import figures
from lpft_theory import __version__
from lpft_theory.io import check_output_dir, to_json, write_text_atomic

from . import MODULES, run_checks
from .claims import PRIMARY_RULE
from .findings import (anchor, as_verdict, clip_reason, counts_line, decisive_sentence, derepr, groups, inline, key_findings,
                       md_text, mde_sentence, plain_math, status_counts)
from .html import evidence_html, markdown_safe, render_html
from .verdict import FIGURE_OF, GLOSSARY, STATUSES

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "checks-full.json"
"""A committed full run's ``checks.json``: a quick report names, claim by claim, what the full run decided."""

_SHOWN_ELSEWHERE = ("protocol_robustness", "robustness_summary")
_COMMAND_KEYS = ("command", "call", "rerun")
CONDITION_BY = {"holds-under-paper-condition": "the paper's condition",
                "holds-under-derived-condition": "derived here — not the paper's condition; false as stated without it"}


# --------------------------------------------------------------------------------------------------- the content
@dataclass
class Card:
    """One claim as the report shows it (plain text fields; the writers escape them)."""

    id: str
    anchor: str
    status: str
    statement: str
    source: str
    decided: str
    declared: str
    condition: str = ""
    condition_words: str = ""
    condition_by: str = ""
    sides: str = ""
    mde: str = ""
    quick_note: str = ""
    counterexample: str = ""
    commands: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    """``[(name, first_card_id or None)]``: None where this card shows the figure, else the card that does."""
    evidence: dict = field(default_factory=dict)


_VARIANT_ORDER = ("fixed recipe", "short global model", "equal budget", "tuned", "matched local")


def canonical_variant(name: str) -> str:
    """One name per protocol variant across checks: case folded, the matching method dropped ("matched local
    (regression)" is matched local), and the real-data "fixed recipe, 30-round global" is the short global model."""
    n = " ".join(str(name).split())
    low = re.sub(r"\s*\((regression|interpolated|nearest)\)$", "", n.lower())
    low = {"fixed recipe, 30-round global": "short global model", "matched-local": "matched local",
           "fixed-recipe": "fixed recipe"}.get(low, low)
    return low if low in _VARIANT_ORDER else n


def _figures_of(claim_id: str) -> list:
    f = FIGURE_OF.get(claim_id)
    return [] if f is None else [f] if isinstance(f, str) else list(f)


def _declared(v, tests: int) -> str:
    d = v.declared or {}
    if not d:
        return "no declaration attached"
    delta = d.get("delta")
    parts = [f"{d.get('kind', '?')} claim; primary protocol: {d.get('primary_protocol', '—')}",
             f"statistic: {d.get('statistic', '—')}", f"δ = {delta:g}" if delta is not None else "no margin δ (exact)"]
    if d.get("scope"):
        parts.append(f"scope: {derepr(str(d['scope']))}")
    if tests:
        parts.append(f"family: Holm over {tests} setting{'s' * (tests > 1)}")
    return "; ".join(parts)


def _sides(v) -> str:
    if not v.sides:
        return ""
    by: dict = {}
    for k, s in v.sides.items():
        by.setdefault(s, []).append(str(k))
    return "; ".join(f"{s}: {', '.join(ks)}" for s, ks in by.items())


def _commands(v, built_in: set) -> list:
    cmd = [f"lpft check --only {v.id}" if v.id in built_in else "lpft check --claims YOUR_CLAIMS.py"]
    ce = v.counterexample if isinstance(v.counterexample, dict) else {}
    return cmd + [str(ce[k]) for k in _COMMAND_KEYS if isinstance(ce.get(k), str)]


def _notes(v, decided: str) -> str:
    notes = " ".join((v.notes or "").split())
    reason = " ".join((v.decided_by or "").split())
    if reason and reason in notes:
        notes = " ".join(notes.replace(reason, "").split())
    return "" if notes == decided else notes


def _details(v, decided: str, ev: dict) -> dict:
    """What the folded evidence block shows: the notes first, then the evidence not already on the card."""
    notes = derepr(_notes(v, decided))
    rest = {k: x for k, x in ev.items() if k not in _SHOWN_ELSEWHERE}
    return {"notes": notes, **rest} if notes else rest


def cards(verdicts, figure_names, quick: bool = False, reference=None) -> list[Card]:
    """One :class:`Card` per verdict; each figure is shown by the first card that names it."""
    from . import check_ids

    built_in = set(check_ids())
    ref = {r["id"]: r for r in (reference or [])}
    shown: dict = {}
    out = []
    for v in map(as_verdict, verdicts):
        ev = v.evidence or {}
        tests = ev.get("decision_tests") if isinstance(ev.get("decision_tests"), dict) else {}
        decided = derepr(clip_reason(decisive_sentence(v)))
        quick_note = ""
        if quick and v.status == "inconclusive":
            quick_note = "quick size: inconclusive; the full run decides with more seeds/instances"
            if v.id in ref:
                quick_note += f" (the committed full run says {ref[v.id]['status']})"
        elif quick and v.id in ref and ref[v.id]["status"] != v.status:
            quick_note = f"the committed full run says {ref[v.id]['status']}"
        ce = {k: x for k, x in (v.counterexample or {}).items() if k not in _COMMAND_KEYS}
        figs = []
        for name in _figures_of(v.id):
            if name in figure_names:
                figs.append((name, shown.get(name)))
                shown.setdefault(name, v.id)
        out.append(Card(
            id=v.id, anchor=anchor(v.id), status=v.status, statement=v.claim, source=v.source, decided=decided,
            declared=_declared(v, len(tests)), condition=v.condition, condition_words=derepr(v.condition_words),
            condition_by=CONDITION_BY.get(v.status, "condition" if v.condition else ""), sides=_sides(v),
            mde=mde_sentence(v) if v.status in ("inconclusive", "mixed") else "", quick_note=quick_note,
            counterexample=inline(ce, 400) if ce else "", commands=_commands(v, built_in),
            figures=figs, evidence=_details(v, decided, ev)))
    return out


def robustness(verdicts) -> dict:
    """The robustness table: ``columns`` (canonical variant names, primary variants first), ``rows`` (claim id →
    {column: status}), ``primary`` (claim id → its primary column) and ``merged`` (original → canonical names)."""
    rows, primary, merged = {}, {}, {}
    for v in map(as_verdict, verdicts):
        table = (v.evidence or {}).get("protocol_robustness")
        if not isinstance(table, dict) or not table:
            continue
        row: dict = {}
        names = [canonical_variant(k) for k in table]
        for (k, s), c in zip(table.items(), names):
            if names.count(c) > 1 and " ".join(k.split()).lower() != c:
                c = k  # two variants of this claim share a canonical name: the one that differs keeps its own
            elif c != k:
                merged.setdefault(k, c)
            row[c] = s
        rows[v.id] = row
        p = (v.declared or {}).get("primary_protocol")
        if p:
            primary[v.id] = canonical_variant(p)
    seen = list(dict.fromkeys(c for r in rows.values() for c in r))
    columns = [c for c in _VARIANT_ORDER if c in seen] + [c for c in seen if c not in _VARIANT_ORDER]
    return {"columns": columns, "rows": rows, "primary": primary, "merged": merged}


@dataclass
class Derived:
    """A sympy derivation block: the result it belongs to, its claim card, labelled expressions, the condition."""

    title: str
    claim_id: str
    rows: list  # [(latex label, html label, expr)]
    condition: tuple | None = None  # (latex label, html label, relation expr)


def derivations() -> list[Derived]:
    """Lemma 4.3's one-step update, Theorem 4.4's and 4.5's global-loss gaps, each labelled by its own result
    (Lemma 4.3 has no winner condition: that is Theorem 4.4's)."""
    from lpft_theory.theory import symbolic

    lem, t44, t45 = symbolic.lemma_4_3(), symbolic.theorem_4_4(), symbolic.theorem_4_5_private()
    e = lem.expressions
    return [
        Derived("Lemma 4.3 — one FT step under concept shift", "chen-lemma-4.3",
                [(r"B_{FT} - B^*", "B<sub>FT</sub> − B*", e["Delta_B"]),
                 (r"B_{FT} - B^* - \eta c \lambda V_0 e_{m+i}^\top", "B<sub>FT</sub> − B* − ηcλ V<sub>0</sub> "
                  "e<sub>m+i</sub><sup>T</sup>", e["residual"]),
                 (r"a \;(w_{FT} = w_0 + a \lambda b_i)", "a (w<sub>FT</sub> = w<sub>0</sub> + aλ b<sub>i</sub>)",
                  e["a"])]),
        Derived("Theorem 4.4 — concept shift: exact LP, then one FT step", "chen-thm-4.4",
                [(r"G_{FT} - G_{LPFT}", "G<sub>FT</sub> − G<sub>LPFT</sub>", t44.expressions["gap_exact"]),
                 (r"(G_{FT} - G_{LPFT}) / \lambda^2", "(G<sub>FT</sub> − G<sub>LPFT</sub>) / λ²",
                  t44.expressions["gap_in_a"]),
                 (r"C (M_{FT} - M_{LPFT}) / \lambda^2 \;\text{(mixture)}", "C (M<sub>FT</sub> − M<sub>LPFT</sub>) / λ² "
                  "(mixture)", t44.expressions["gap_mixture_in_a"])],
                (r"\text{LP-FT has the lower global loss (others)} \iff", "LP-FT has the lower global loss (others) ⇔",
                 t44.condition)),
        Derived("Theorem 4.5 — combined shift with private shifts e_i = σ b_i", "chen-thm-4.5",
                [(r"G_{FT} - G_{LPFT}", "G<sub>FT</sub> − G<sub>LPFT</sub>", t45.expressions["gap"]),
                 (r"G_{FT} - G_{LPFT} \;\text{in}\; a'", "G<sub>FT</sub> − G<sub>LPFT</sub> in a′",
                  t45.expressions["gap_in_aprime"])],
                (r"\text{LP-FT's global loss is at most FT's} \iff", "LP-FT's global loss is at most FT's ⇔",
                 t45.condition)),
    ]


def document(verdicts, quick: bool, seed: int, figure_names, reference=None, with_derivations: bool = True) -> dict:
    """Everything the report shows, once, for both writers."""
    vs = [as_verdict(v) for v in verdicts]
    cs = {c.id: c for c in cards(vs, figure_names, quick, reference)}
    used = {name for c in cs.values() for name, _ in c.figures}
    counts = status_counts(vs)
    return {
        "title": "lpft-theory report",
        "meta": (f"lpft-theory {__version__}; mode: {'quick (CI sizes)' if quick else 'full'}; seed {seed}. Loss "
                 "convention: E[(f(x) - y)^2] (no 1/2) unless a check says otherwise. Every number below is in "
                 "checks.json; each figure's numbers in figures/NAME.json."),
        "counts": counts_line(vs),
        "findings": key_findings(vs, quick, reference),
        "glossary": [(s, GLOSSARY[s], counts.get(s, 0)) for s in STATUSES],
        "rules": [(kind, p, why) for kind, (p, why) in PRIMARY_RULE.items()],
        "family": "Multiplicity: within a claim, its settings × rivals under the primary protocol form one family "
                  "(Holm; one-sided tests at family-wise α = 0.025, i.e. the two-sided 95 % interval).",
        "groups": [(label, f"group-{key}", [cs[v.id] for v in members]) for key, label, members in groups(vs)],
        "robustness": robustness(vs),
        "derivations": derivations() if with_derivations else [],
        "other_figures": [(n, _figure_title(n)) for n in figure_names if n not in used],
        "figure_titles": {n: _figure_title(n) for n in figure_names},
        "quick": quick,
    }


def _figure_title(name: str) -> str:
    try:
        return plain_math(figures.module(name).TITLE)
    except (KeyError, ValueError, AttributeError, ImportError):
        return name


# ------------------------------------------------------------------------------------------------------ Markdown
_md = md_text


def _code(text: str) -> str:
    text = " ".join(str(text).split())
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str) -> str:
    return _md(text).replace("|", "\\|")


def _md_card(c: Card, titles: dict) -> list[str]:
    out = [f'### <a id="{c.anchor}"></a>`{c.id}` — {c.status}', f"{_md(c.statement)} *({_md(c.source)})*",
           f"- **Decided by:** {_md(c.decided)}"]
    if c.condition:
        out.append(f"- **Condition ({_md(c.condition_by)}):** {_code(c.condition)} — {_md(c.condition_words)}")
    for label, text in (("Sides", c.sides), ("Power", c.mde), ("Quick run", c.quick_note),
                        ("Counterexample", c.counterexample)):
        if text:
            out.append(f"- **{label}:** {_md(text)}")
    rerun = f"- **Declared:** {_md(c.declared)} · **Rerun:** " + " · ".join(_code(x) for x in c.commands)
    for name, first in c.figures:
        if first is not None:
            rerun += f" · **Figure:** [{name}](#fig-{name}) (shown with [`{first}`](#{anchor(first)}))"
    for name, first in c.figures:
        if first is None:
            rerun += (f' · **Figure** <a id="fig-{name}"></a>{_md(titles.get(name, name))}: '
                      f"![{name}](figures/{name}.png)")
    n = len(c.evidence)
    rerun += (f"<details><summary>Notes and evidence: {n} entr{'y' if n == 1 else 'ies'} (full in checks.json)"
              f"</summary>{markdown_safe(evidence_html(c.evidence))}</details>")
    return out + [rerun, ""]


def _md_robustness(r: dict) -> list[str]:
    if not r["rows"]:
        return []
    cols = r["columns"]
    out = ['## <a id="robustness"></a>Protocol robustness', "",
           "Status of each empirical claim under every protocol variant it was run under; **bold**: the claim's "
           "declared primary protocol, whose status is the headline; '—': not run under that variant."]
    if r["merged"]:
        out[-1] += " Names merged: " + "; ".join(f"'{k}' → '{c}'" for k, c in r["merged"].items()) + "."
    out += ["", "| claim | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for cid, row in r["rows"].items():
        cells = []
        for col in cols:
            s = row.get(col, "—")
            cells.append(f"**{s}**" if r["primary"].get(cid) == col else s)
        out.append(f"| [`{cid}`](#{anchor(cid)}) | " + " | ".join(cells) + " |")
    return out + [""]


def _md_derivations(ds: list) -> list[str]:
    if not ds:
        return []
    import sympy as sp

    out = ['## <a id="derivations"></a>Derivations (sympy)', "",
           "Re-derived from Assumption 4.1 (`lpft_theory/theory/symbolic.py`); the tests compare them with the numeric "
           "closed forms and with simulation. Each block is labelled by the result it belongs to.", ""]
    for d in ds:
        lines = [rf"{lab} &= {_tex(e)}" for lab, _, e in d.rows]
        if d.condition:
            lines.append(rf"{d.condition[0]} &\; {sp.latex(d.condition[2])}")
        out += [f"**{d.title}** ([`{d.claim_id}`](#{anchor(d.claim_id)}))", "", "$$\\begin{aligned}",
                " \\\\\n".join(lines), "\\end{aligned}$$", ""]
    return out


def _tex(e) -> str:
    import sympy as sp

    if isinstance(e, sp.MatrixBase) and all(x == 0 for x in e):
        return "0"
    return sp.latex(e)


def markdown(doc: dict) -> str:
    """The report as Markdown (``report.md``)."""
    out = [f"# {doc['title']}", "", doc["meta"], "", doc["counts"], "",
           '## <a id="key-findings"></a>Key findings', ""] + doc["findings"] + [""]
    out += ['## <a id="statuses"></a>Statuses', "", "| status | meaning | claims |", "|---|---|---|"]
    out += [f"| **{s}** | {_cell(m)} | {n} |" for s, m, n in doc["glossary"]]
    by_protocol: dict = {}
    for k, p, _ in doc["rules"]:
        by_protocol.setdefault(p, []).append(k)
    out += ["", "Every claim declares its primary protocol before it runs, by one rule per kind of claim (the reason "
            "for each is in checks.json, `declared.primary_rule`): " + "; ".join(
                f"{', '.join(ks)} → *{_md(p)}*" for p, ks in by_protocol.items()) + ". " + doc["family"], "",
            '## <a id="contents"></a>Contents', ""]
    extra = [("Key findings", "key-findings"), ("Statuses", "statuses")]
    extra += [("Protocol robustness", "robustness")] if doc["robustness"]["rows"] else []
    extra += [("Derivations", "derivations")] if doc["derivations"] else []
    extra += [("Other figures", "other-figures")] if doc["other_figures"] else []
    out.append("- " + " · ".join(f"[{t}](#{a})" for t, a in extra))
    for label, gid, cs in doc["groups"]:
        out.append(f"- [{_md(label)}](#{gid}): " + " · ".join(f"[`{c.id}`](#{c.anchor}) {c.status}" for c in cs))
    out.append("")
    for label, gid, cs in doc["groups"]:
        out += [f'## <a id="{gid}"></a>{_md(label)}', ""]
        for c in cs:
            out += _md_card(c, doc["figure_titles"])
    out += _md_robustness(doc["robustness"])
    out += _md_derivations(doc["derivations"])
    if doc["other_figures"]:
        out += ['## <a id="other-figures"></a>Other figures', ""]
        for name, title in doc["other_figures"]:
            out += [f'- <a id="fig-{name}"></a>**{name}**: {_md(title)} ![{name}](figures/{name}.png)']
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def load_reference(path=REFERENCE) -> list | None:
    """The committed full run's verdicts (``docs/checks-full.json``), or None when there is none."""
    try:
        return json.loads(Path(path).read_text())["verdicts"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def render_report(verdicts, quick: bool, seed: int, figure_names, reference=None, with_derivations: bool = True) -> str:
    """``report.md``: see the module docstring."""
    return markdown(document(verdicts, quick, seed, figure_names, reference, with_derivations))


# ------------------------------------------------------------------------------------------------------ the job
OUTPUTS = ("report.md", "report.html", "checks.json", "config.json", "figures")
_FILES = OUTPUTS[:4]


def check_out_dir(out_dir, overwrite: bool = False) -> Path:
    """Refuse, before any work, an ``out_dir`` that is not a writable folder or already holds any output."""
    out = check_output_dir(out_dir, flag="--out")
    held = [name for name in OUTPUTS if (out / name).exists()]
    if held and not overwrite:
        raise FileExistsError(f"--out {out} already holds {', '.join(held)}; pass --force to overwrite them or choose "
                              "another --out")
    for name in _FILES:
        if (out / name).is_dir():
            raise IsADirectoryError(f"--out {out}: {out / name} is a folder; remove it or choose another --out")
    if (out / "figures").exists() and not (out / "figures").is_dir():
        raise NotADirectoryError(f"--out {out}: {out / 'figures'} is a file; remove it or choose another --out")
    return out


def reproduce(out_dir="lpft-output", quick: bool = False, seed: int = 0, overwrite: bool = False,
              progress: bool = True) -> dict:
    """Run everything; write ``report.md``, ``report.html``, ``checks.json``, ``config.json`` and ``figures/``.

    The folder is checked first: writable, and holding none of those outputs unless ``overwrite``.
    """
    out = check_out_dir(out_dir, overwrite)
    bar = tqdm(total=len(figures.NAMES) + sum(len(m.CHECKS) for m in MODULES.values()), desc="lpft reproduce",
               unit="step", disable=None if progress else True, file=sys.stderr)  # None: off when not a TTY
    verdicts = run_checks(quick, seed, progress=lambda v: (bar.set_postfix_str(v.id), bar.update()))
    for name in figures.NAMES:
        bar.set_postfix_str(f"figure {name}")
        figures.render(name, out / "figures", ("png",), quick=quick, seed=seed, overwrite=True)
        bar.update()
    bar.close()
    config = {"version": __version__, "quick": quick, "seed": seed, "figures": figures.NAMES,
              "checks": [v.id for v in verdicts]}
    write_text_atomic(out / "checks.json", to_json({"config": config, "verdicts": [v.to_dict() for v in verdicts]}), True)
    write_text_atomic(out / "config.json", to_json(config), True)
    doc = document(verdicts, quick, seed, figures.NAMES, load_reference() if quick else None)
    write_text_atomic(out / "report.md", markdown(doc), True)
    write_text_atomic(out / "report.html", render_html(doc, out / "figures"), True)
    return {"out": str(out), "verdicts": verdicts}


__all__ = ["render_report", "document", "markdown", "cards", "robustness", "canonical_variant", "derivations",
           "reproduce", "check_out_dir", "OUTPUTS"]
