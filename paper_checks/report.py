"""``lpft reproduce``: every paper check and every figure, then ``report.md`` and ``checks.json``."""
from __future__ import annotations

import math
import sys
from pathlib import Path

from tqdm import tqdm

import figures
from lpft_theory import __version__
from lpft_theory.io import check_output_dir, to_json, write_text_atomic
from lpft_theory.theory import symbolic

from . import MODULES, run_checks
from .verdict import FIGURE_OF, STATUSES


def _num(x) -> str:
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, (int, float)):
        return "inf" if isinstance(x, float) and math.isinf(x) else (f"{x:.4g}" if isinstance(x, float) else str(x))
    return str(x)


def _evidence(value, depth=0) -> list[str]:
    """Evidence as indented bullet lines; confidence intervals as ``mean [lo, hi] (n = …)``."""
    pad = "  " * depth
    if isinstance(value, dict):
        if {"mean", "lo", "hi"} <= set(value):
            return [f"{_num(value['mean'])} [{_num(value['lo'])}, {_num(value['hi'])}] (95% CI, n = {value.get('n')})"]
        lines = []
        for k, v in value.items():
            sub = _evidence(v, depth + 1)
            if len(sub) == 1 and not sub[0].startswith("  "):
                lines.append(f"{pad}- {k}: {sub[0]}")
            else:
                lines.append(f"{pad}- {k}:")
                lines.extend(sub)
        return lines
    if isinstance(value, list):
        return [", ".join(_num(v) if not isinstance(v, dict) else str(v) for v in value)]
    return [_num(value)]


def _robustness_table(verdicts) -> list[str]:
    """One row per empirical claim: its status under every protocol variant it was run under."""
    rows = [v for v in verdicts if isinstance(v.evidence.get("protocol_robustness"), dict)]
    if not rows:
        return []
    variants = list(dict.fromkeys(k for v in rows for k in v.evidence["protocol_robustness"]))
    out = ["", "### Protocol robustness of the empirical verdicts", "",
           "The status of each empirical claim under every protocol it was run under (fixed recipe, short vs "
           "plateau-trained global model, equal step budget, tuned on validation data, matched Local); "
           "'—' where a variant does not apply. The first column is the status reported above.", "",
           "| claim | reported | " + " | ".join(variants) + " |", "|---|---|" + "---|" * len(variants)]
    for v in rows:
        table = v.evidence["protocol_robustness"]
        out.append(f"| `{v.id}` | **{v.status}** | " + " | ".join(table.get(k, "—") for k in variants) + " |")
    return out


def render_report(verdicts, quick: bool, seed: int, figure_names) -> str:
    counts = {s: sum(v.status == s for v in verdicts) for s in STATUSES}
    out = ["# lpft-theory report", "",
           f"lpft-theory {__version__}; mode: {'quick (CI sizes)' if quick else 'full'}; seed {seed}. "
           f"Loss convention: E[(f(x) - y)^2] (no 1/2) unless a check says otherwise.", "",
           "Verdicts: " + ", ".join(f"**{n}** {s}" for s, n in counts.items()) + ".", "",
           "| claim | source | verdict | condition |", "|---|---|---|---|"]
    for v in verdicts:
        out.append(f"| `{v.id}` {v.claim} | {v.source} | **{v.status}** | {v.condition or '—'} |")
    out += _robustness_table(verdicts)
    title_of = {fn.claim_id: mod.TITLE for mod in MODULES.values() for fn in mod.CHECKS}  # by module, not source
    for title in dict.fromkeys(title_of.values()):  # one section per paper (modules may share a title)
        vs = [v for v in verdicts if title_of.get(v.id) == title]
        if not vs:
            continue
        out += ["", f"## {title}"]
        for v in vs:
            out += ["", f"### `{v.id}` — {v.status}", "", f"*Claim.* {v.claim}", ""]
            if v.condition:
                out += [f"*Condition.* `{v.condition}`", "", f"*In words.* {v.condition_words}", ""]
            if v.sides:
                out += ["*Sides.* " + "; ".join(f"{k}: {side}" for k, side in v.sides.items()), ""]
            if "robustness_summary" in v.evidence:
                out += [f"*Protocol robustness.* {v.evidence['robustness_summary']}", ""]
            if v.counterexample:
                out += ["*Counterexample (rerunnable).*", ""] + _evidence(v.counterexample) + [""]
            out += ["*Evidence.*", ""] + _evidence(v.evidence)
            if v.notes:
                out += ["", f"*Notes.* {v.notes}"]
            fig = FIGURE_OF.get(v.id)
            if fig in figure_names:
                out += ["", f"![{fig}](figures/{fig}.png)"]
    out += ["", "## Derivations (sympy)", "",
            "Lemma 4.3 and Theorems 4.4-4.5 were re-derived from Assumption 4.1 because the printed formulas are "
            "lost; `lpft_theory/theory/symbolic.py` derives them and the tests compare them with the numeric "
            "closed forms and with simulation. See `docs/theory.md` for the statements and proofs.", ""]
    for d in (symbolic.lemma_4_3(), symbolic.theorem_4_4(), symbolic.theorem_4_5_private()):
        keep = {k: e for k, e in d.expressions.items() if k in ("a", "gap_exact", "gap_in_a", "A_alpha", "gap", "gap_in_aprime")}
        out += [f"**{d.name}**", "", "$$", type(d)(d.name, keep, d.condition).latex(), "$$", ""]
    out += ["## Figures", ""]
    for name in figure_names:
        out += [f"### {name}", "", figures.module(name).TITLE, "", f"![{name}](figures/{name}.png)",
                "", f"Numbers: `figures/{name}.json`; configuration: `figures/{name}.config.json`.", ""]
    return "\n".join(out) + "\n"


OUTPUTS = ("report.md", "checks.json", "config.json", "figures")


def check_out_dir(out_dir, overwrite: bool = False) -> Path:
    """Refuse, before any work, an ``out_dir`` that is not a writable folder or already holds any output."""
    out = check_output_dir(out_dir, flag="--out")
    held = [name for name in OUTPUTS if (out / name).exists()]
    if held and not overwrite:
        raise FileExistsError(f"--out {out} already holds {', '.join(held)}; pass --force to overwrite them or choose "
                              "another --out")
    for name in OUTPUTS[:3]:
        if (out / name).is_dir():
            raise IsADirectoryError(f"--out {out}: {out / name} is a folder; remove it or choose another --out")
    if (out / "figures").exists() and not (out / "figures").is_dir():
        raise NotADirectoryError(f"--out {out}: {out / 'figures'} is a file; remove it or choose another --out")
    return out


def reproduce(out_dir="lpft-output", quick: bool = False, seed: int = 0, overwrite: bool = False,
              progress: bool = True) -> dict:
    """Run everything; write ``report.md``, ``checks.json``, ``config.json`` and ``figures/`` under ``out_dir``.

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
    write_text_atomic(out / "report.md", render_report(verdicts, quick, seed, figures.NAMES), True)
    return {"out": str(out), "verdicts": verdicts}
