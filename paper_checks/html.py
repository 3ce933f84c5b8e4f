"""``report.html``: the report as one self-contained page (figures as data URIs, anchors, evidence folded in
``<details>``, MathML for the derivations, a few lines of CSS, no network), and the evidence renderer shared
with ``report.md``.

A script in the page records, once the page has loaded, how many images decoded and which ``#`` links point
nowhere (``data-images-loaded``, ``data-images-total``, ``data-broken-anchors`` on ``<body>``), so a headless
browser's DOM dump says whether the page is whole (``tests/test_report_html.py``).
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from .findings import anchor, interval, is_interval, key_words, num, scalar, sides_of_tests

MAX_ENTRIES = 14
"""Top-level evidence entries shown in one ``<details>`` block; the rest are counted and left to checks.json."""
MAX_ITEMS = 8
"""Items of one nested list or dict, and rows of one table, shown before the rest is counted."""
MAX_DEPTH = 3

_e = html.escape


def _more(n: int, what: str = "more") -> str:
    return f'<span class="more">… {n} {what} in checks.json</span>'


def _records(rows: list) -> bool:
    return len(rows) > 0 and all(isinstance(r, dict) and all(scalar(x) or is_interval(x) for x in r.values())
                                 for r in rows)


def _table(header: list, rows: list, total: int) -> str:
    head = "".join(f"<th>{_e(key_words(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    more = f'<tr><td colspan="{len(header)}">{_more(total - len(rows), "more rows")}</td></tr>' if total > len(rows) else ""
    return f'<table class="ev"><tr>{head}</tr>{body}{more}</table>'


def _leaf(x) -> str:
    return _e(interval(x) if is_interval(x) else num(x))


def value_html(x, depth: int = 0) -> str:
    """One evidence value as compact HTML on one line: intervals as ``mean [lo, hi] (n)``, lists of records and
    dicts of records as small tables, short dicts inline, deeper structure as nested lists (each capped)."""
    if scalar(x) or is_interval(x):
        return _leaf(x)
    if depth >= MAX_DEPTH:
        return _more(len(x), "entries" if isinstance(x, dict) else "items")
    if isinstance(x, (list, tuple)):
        if all(scalar(v) for v in x):
            shown = ", ".join(_e(num(v)) for v in x[:MAX_ITEMS * 2])
            return shown + (f", {_more(len(x) - MAX_ITEMS * 2)}" if len(x) > MAX_ITEMS * 2 else "")
        if _records(list(x)):
            header = list(dict.fromkeys(k for r in x for k in r))
            rows = [[_leaf(r.get(h)) if h in r else "" for h in header] for r in x[:MAX_ITEMS]]
            return _table(header, rows, len(x))
        items = "".join(f"<li>{value_html(v, depth + 1)}</li>" for v in x[:MAX_ITEMS])
        more = f"<li>{_more(len(x) - MAX_ITEMS)}</li>" if len(x) > MAX_ITEMS else ""
        return f"<ol>{items}{more}</ol>"
    if isinstance(x, dict):
        vals = list(x.values())
        if vals and all(scalar(v) or is_interval(v) for v in vals) and len(x) <= 6 and \
                sum(len(str(k)) + len(_leaf(v)) for k, v in x.items()) < 160:
            return "; ".join(f"{_e(key_words(k))} = {_leaf(v)}" for k, v in x.items())
        if len(vals) > 1 and all(isinstance(v, dict) and v and not is_interval(v)
                                 and all(scalar(w) or is_interval(w) for w in v.values()) for v in vals):
            header = list(dict.fromkeys(k for v in vals for k in v))
            if len(header) <= 8:
                rows = [[_e(key_words(k))] + [_leaf(v[h]) if h in v else "" for h in header]
                        for k, v in list(x.items())[:MAX_ITEMS]]
                return _table([""] + header, rows, len(x))
        items = "".join(f"<li><b>{_e(key_words(k))}</b>: {value_html(v, depth + 1)}</li>"
                        for k, v in list(x.items())[:MAX_ITEMS])
        more = f"<li>{_more(len(x) - MAX_ITEMS, 'more entries')}</li>" if len(x) > MAX_ITEMS else ""
        return f"<ul>{items}{more}</ul>"
    return _e(str(x))


def decision_tests_html(tests: dict) -> str:
    """The decision tests of :func:`~paper_checks.verdict.judge` as one table (side, p-values, minimum detectable
    effect per setting)."""
    sides = sides_of_tests(tests)
    header = ["setting", "side (Holm)", "p for", "p against", "p within ±δ", "min. detectable effect"]
    rows = [[_e(str(k)), _e(sides.get(k, "")), _leaf(t.get("p_for")), _leaf(t.get("p_against")),
             _leaf(t.get("p_equiv")) if "p_equiv" in t else "—", _leaf(t.get("mde"))]
            for k, t in list(tests.items())[:MAX_ITEMS] if isinstance(t, dict)]
    return _table(header, rows, len(tests))


def markdown_safe(html_text: str) -> str:
    """HTML whose text is also read as Markdown (inline HTML in a Markdown paragraph): Markdown's emphasis, code,
    link and strike-through characters escaped in the text between tags."""
    parts = re.split(r"(<[^>]*>)", html_text)
    return "".join(p if p.startswith("<") else re.sub(r"([\\*_`\[\]~])", r"\\\1", p) for p in parts)


def evidence_html(ev: dict) -> str:
    """A verdict's evidence as a two-column table on one line (the Markdown report embeds it in ``<details>``)."""
    rows = []
    for k, v in list(ev.items())[:MAX_ENTRIES]:
        if k == "decision_tests" and isinstance(v, dict) and all(isinstance(t, dict) for t in v.values()):
            cell = decision_tests_html(v)
        else:
            cell = value_html(v)
        rows.append(f"<tr><th>{_e(key_words(k))}</th><td>{cell}</td></tr>")
    if len(ev) > MAX_ENTRIES:
        rows.append(f'<tr><td colspan="2">{_more(len(ev) - MAX_ENTRIES, "more entries")}</td></tr>')
    return f'<table class="evidence">{"".join(rows)}</table>'


# ---------------------------------------------------------------------------------------------- inline Markdown
def md_inline(text: str) -> str:
    """The inline Markdown the report's generated sentences use (``**bold**``, ```code```, ``[t](#a)``, ``\\``
    escapes) as HTML; everything else escaped."""
    out, i = [], 0
    pattern = re.compile(r"\\([\\*\[\]`|])|\*\*(.+?)\*\*|(`+)\s?(.+?)\s?\3|\[([^\]]+)\]\((#[A-Za-z0-9_-]+)\)|\*(.+?)\*")
    for m in pattern.finditer(text):
        out.append(_e(text[i:m.start()]))
        if m.group(1):
            out.append(_e(m.group(1)))
        elif m.group(2) is not None:
            out.append(f"<strong>{md_inline(m.group(2))}</strong>")
        elif m.group(3):
            out.append(f"<code>{_e(m.group(4))}</code>")
        elif m.group(5):
            out.append(f'<a href="{_e(m.group(6))}">{md_inline(m.group(5))}</a>')
        else:
            out.append(f"<em>{md_inline(m.group(7))}</em>")
        i = m.end()
    out.append(_e(text[i:]))
    return "".join(out).replace("&amp;lt;", "&lt;")


def bullets_html(lines: list) -> str:
    """Markdown bullets (``- `` and two-space-indented ``  - ``) as nested ``<ul>``."""
    out, open_sub = ["<ul>"], False
    for line in lines:
        sub = line.startswith("  - ")
        text = md_inline(line[4:] if sub else line[2:])
        if sub and not open_sub:
            out[-1] = out[-1].removesuffix("</li>") + "<ul>"
            open_sub = True
        elif not sub and open_sub:
            out.append("</ul></li>")
            open_sub = False
        out.append(f"<li>{text}</li>")
    if open_sub:
        out.append("</ul></li>")
    return "".join(out) + "</ul>"


# --------------------------------------------------------------------------------------------------------- page
CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:auto;padding:0 1.2em 4em;
color:#1d1d1f}
h1{margin-top:.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin:1.6em 0 .3em;font-size:1.05em}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px;font-size:.92em}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:.15em .45em;vertical-align:top;
text-align:left}
.card{border:1px solid #ddd;border-left:6px solid #999;border-radius:4px;padding:.2em 1em .6em;margin:1em 0}
.card ul{margin:.3em 0;padding-left:1.2em}.card li{margin:.15em 0}
.status{font-weight:600;padding:0 .4em;border-radius:3px;background:#eee;white-space:nowrap}
.s-confirmed,.card.s-confirmed{border-left-color:#2e7d32}.status.s-confirmed{background:#dcedc8}
.card.s-holds-under-paper-condition{border-left-color:#558b2f}.status.s-holds-under-paper-condition{background:#e6ee9c}
.card.s-holds-under-derived-condition{border-left-color:#f9a825}.status.s-holds-under-derived-condition{background:#fff59d}
.card.s-mixed{border-left-color:#ef6c00}.status.s-mixed{background:#ffe0b2}
.card.s-equivalent{border-left-color:#0277bd}.status.s-equivalent{background:#b3e5fc}
.card.s-inconclusive{border-left-color:#757575}.status.s-inconclusive{background:#e0e0e0}
.card.s-refuted{border-left-color:#c62828}.status.s-refuted{background:#ffcdd2}
.card.s-data-unavailable{border-left-color:#6a1b9a}.status.s-data-unavailable{background:#e1bee7}
figure{margin:.6em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.9em;color:#555}
details{margin:.4em 0}summary{cursor:pointer;color:#444}
table.evidence{font-size:.85em}table.ev{font-size:1em;margin:.1em 0}.more{color:#777;font-style:italic}
td.primary{font-weight:700;background:#f5f5f5}
nav li{margin:.1em 0}
"""

SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var broken = [];
  document.querySelectorAll('a[href^="#"]').forEach(function (a) {
    var id = decodeURIComponent(a.getAttribute('href').slice(1));
    if (!document.getElementById(id)) { broken.push(id); }
  });
  document.body.dataset.imagesLoaded = String(ok);
  document.body.dataset.imagesTotal = String(imgs.length);
  document.body.dataset.brokenAnchors = broken.join(' ');
  document.body.dataset.checked = 'yes';
});
"""


def _status(s: str) -> str:
    return f'<span class="status s-{_e(s)}">{_e(s)}</span>'


def _img(name: str, figures_dir: Path | None) -> str:
    path = None if figures_dir is None else Path(figures_dir) / f"{name}.png"
    if path is None or not path.is_file():
        return f'<p class="more">figure {_e(name)}: figures/{_e(name)}.png was not written</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(name)}" src="data:image/png;base64,{data}">'


def _card(c, titles: dict, figures_dir) -> str:
    li = [f"<li><b>Declared:</b> {_e(c.declared)}</li>", f"<li><b>Decided by:</b> {_e(c.decided)}</li>"]
    if c.condition:
        li.append(f"<li><b>Condition ({_e(c.condition_by)}):</b> <code>{_e(c.condition)}</code> — "
                  f"{_e(c.condition_words)}</li>")
    for label, text in (("Sides", c.sides), ("Power", c.mde), ("Quick run", c.quick_note),
                        ("Counterexample", c.counterexample)):
        if text:
            li.append(f"<li><b>{label}:</b> {_e(text)}</li>")
    li.append("<li><b>Rerun:</b> " + " · ".join(f"<code>{_e(x)}</code>" for x in c.commands) + "</li>")
    figs = []
    for name, first in c.figures:
        if first is None:
            figs.append(f'<figure id="fig-{_e(name)}">{_img(name, figures_dir)}<figcaption><b>{_e(name)}</b>: '
                        f"{_e(titles.get(name, name))}</figcaption></figure>")
        else:
            li.append(f'<li><b>Figure:</b> <a href="#fig-{_e(name)}">{_e(name)}</a> (shown with '
                      f'<a href="#{anchor(first)}"><code>{_e(first)}</code></a>)</li>')
    n = len(c.evidence)
    return (f'<section class="card s-{_e(c.status)}" id="{c.anchor}"><h3><code>{_e(c.id)}</code> '
            f"{_status(c.status)}</h3><p>{_e(c.statement)} <i>({_e(c.source)})</i></p><ul>{''.join(li)}</ul>"
            f"{''.join(figs)}<details><summary>Notes and evidence: {n} entr{'y' if n == 1 else 'ies'} (full in checks.json)"
            f"</summary>{evidence_html(c.evidence)}</details></section>")


def _mathml(e) -> str:
    import sympy as sp

    if isinstance(e, sp.MatrixBase) and all(x == 0 for x in e):
        return "<mn>0</mn>"
    primes = {x: sp.Symbol(x.name[:-5] + "′") for x in e.free_symbols if x.name.endswith("prime")}
    return sp.mathml(e.xreplace(primes), printer="presentation")


def render_html(doc: dict, figures_dir=None) -> str:
    """The report (:func:`paper_checks.report.document`) as one self-contained HTML page; the PNGs of
    ``figures_dir`` are embedded as data URIs."""
    p = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(doc["title"])}</title>'
         f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style>'
         f"<script>{SCRIPT}</script></head><body>",
         f'<h1 id="top">{_e(doc["title"])}</h1><p>{_e(doc["meta"])}</p><p>{md_inline(doc["counts"])}</p>',
         f'<h2 id="key-findings">Key findings</h2>{bullets_html(doc["findings"])}',
         '<h2 id="statuses">Statuses</h2><table><tr><th>status</th><th>meaning</th><th>claims</th></tr>']
    p += [f"<tr><td>{_status(s)}</td><td>{_e(m)}</td><td>{n}</td></tr>" for s, m, n in doc["glossary"]]
    p.append("</table><p>Every claim declares, before it runs, its primary protocol by one rule per kind of claim:</p>"
             "<table><tr><th>kind</th><th>primary protocol</th><th>why</th></tr>")
    p += [f"<tr><td>{_e(k)}</td><td>{_e(pp)}</td><td>{_e(w)}</td></tr>" for k, pp, w in doc["rules"]]
    p.append(f"</table><p>{_e(doc['family'])}</p>")
    extra = [("Key findings", "key-findings"), ("Statuses", "statuses")]
    extra += [("Protocol robustness", "robustness")] if doc["robustness"]["rows"] else []
    extra += [("Derivations", "derivations")] if doc["derivations"] else []
    extra += [("Other figures", "other-figures")] if doc["other_figures"] else []
    p.append('<nav><h2 id="contents">Contents</h2><ul><li>' + " · ".join(f'<a href="#{a}">{t}</a>' for t, a in extra)
             + "</li>")
    for label, gid, cs in doc["groups"]:
        p.append(f'<li><a href="#{gid}">{_e(label)}</a>: ' + " · ".join(
            f'<a href="#{c.anchor}"><code>{_e(c.id)}</code></a> {_status(c.status)}' for c in cs) + "</li>")
    p.append("</ul></nav>")
    for label, gid, cs in doc["groups"]:
        p.append(f'<h2 id="{gid}">{_e(label)}</h2>')
        p += [_card(c, doc["figure_titles"], figures_dir) for c in cs]
    r = doc["robustness"]
    if r["rows"]:
        note = ("; names merged: " + "; ".join(f"'{_e(k)}' → '{_e(c)}'" for k, c in r["merged"].items())) \
            if r["merged"] else ""
        p.append(f'<h2 id="robustness">Protocol robustness</h2><p>Status of each empirical claim under every protocol '
                 f"variant it was run under; bold: the declared primary protocol, whose status is the headline; "
                 f"'—': not run under that variant{note}.</p><table><tr><th>claim</th>"
                 + "".join(f"<th>{_e(c)}</th>" for c in r["columns"]) + "</tr>")
        for cid, row in r["rows"].items():
            cells = "".join(f'<td class="primary">{_e(row.get(c, "—"))}</td>' if r["primary"].get(cid) == c
                            else f"<td>{_e(row.get(c, '—'))}</td>" for c in r["columns"])
            p.append(f'<tr><td><a href="#{anchor(cid)}"><code>{_e(cid)}</code></a></td>{cells}</tr>')
        p.append("</table>")
    if doc["derivations"]:
        p.append('<h2 id="derivations">Derivations (sympy)</h2><p>Re-derived from Assumption 4.1 '
                 "(<code>lpft_theory/theory/symbolic.py</code>); the tests compare them with the numeric closed forms "
                 "and with simulation. Each block is labelled by the result it belongs to.</p>")
        for d in doc["derivations"]:
            rows = "".join(f'<tr><td>{lab}</td><td><math>{_mathml(e)}</math></td></tr>'
                           for _, lab, e in d.rows)
            if d.condition:
                rows += f'<tr><td>{d.condition[1]}</td><td><math>{_mathml(d.condition[2])}</math></td></tr>'
            p.append(f'<h3>{_e(d.title)} (<a href="#{anchor(d.claim_id)}"><code>{_e(d.claim_id)}</code></a>)</h3>'
                     f"<table>{rows}</table>")
    if doc["other_figures"]:
        p.append('<h2 id="other-figures">Other figures</h2>')
        p += [f'<figure id="fig-{_e(n)}">{_img(n, figures_dir)}<figcaption><b>{_e(n)}</b>: {_e(t)}</figcaption></figure>'
              for n, t in doc["other_figures"]]
    p.append('<p><a href="#top">back to the top</a></p></body></html>')
    return "\n".join(p) + "\n"
