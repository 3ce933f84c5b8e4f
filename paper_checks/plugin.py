"""A reviewer's own claim in about ten lines, run exactly like the built-in ones (``lpft check --claims FILE``).

A claims file is plain Python that calls the two declaration helpers below (or :func:`custom`)::

    from paper_checks.plugin import compare, for_all
    from lpft_theory.adversary import Space

    compare("my-lpft-vs-proximal", "LP-FT keeps a lower Global than Proximal at matched Local (combined shift)",
            better="LP-FT", than=("Proximal",), scenario="combined", delta=0.01)

    for_all("my-cauchy-schwarz", "|<u, v>| <= |u| |v| in the plane",
            space=Space(("a", "b"), (0, 0), (6.3, 6.3)),
            margin=lambda p: 1 - abs(math.cos(p["a"] - p["b"])), budget=200)

Each helper declares the claim (a :class:`~paper_checks.claims.Declaration`: kind, statistic, δ; the primary
protocol follows from the kind by the same rule as the built-in claims) and registers a check that returns
its :class:`~paper_checks.verdict.Verdict` through the shared rule (:func:`~paper_checks.verdict.judge` for
comparisons, :func:`~paper_checks.verdict.bound_status` plus :func:`lpft_theory.adversary.search` for "for all"
statements). :func:`run_file` executes a file and runs its claims.

Beyond the synthetic method comparison of :func:`compare`, :func:`judged` decides any claim whose evidence is a
set of interval estimates (``effects(ctx) -> {setting: mean_ci(...)}``) by :func:`~paper_checks.verdict.judge`.
:func:`for_all` also takes the closed-form-vs-simulation part of an identity (``instances(ctx)``: violations
among drawn instances, counted with the adversary's), a stated condition (``condition=``, resolved into the
paper's or a derived condition like the built-in ones), a budget per mode (``budget=(quick, full)``) and a
``figure``. Every helper returns the check function, so a module of built-in claims is a list of calls
(``CHECKS = [for_all(...), judged(...)]``).
"""
from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np

from lpft_theory.adversary import Space, search

from . import claims
from .claims import Declaration, register
from .verdict import Verdict, bound_status, claim, condition_status, judge

_COLLECTED: list = []
SCENARIOS = ("concept", "combined", "label")


def _add(decl: Declaration, fn, figure: str | None = None):
    register(decl)
    _COLLECTED.append(claim(decl.id, figure)(fn))
    return fn


def _budget(budget, quick: bool) -> int:
    """An evaluation budget: one int, or ``(quick, full)``."""
    return int(budget[0] if quick else budget[1]) if isinstance(budget, (tuple, list)) else int(budget)


def compare(claim_id: str, statement: str, *, better: str, than, scenario: str = "combined", delta: float = 0.01,
            kind: str = "method-comparison", source: str = "user claim", robustness=()):
    """Claim: method ``better`` has a lower Global (loss, or error rate under label shift) than every method in
    ``than`` on ``scenario``'s synthetic clients. ``kind`` ``"method-comparison"`` reads Global at matched Local
    (the rule for comparisons); ``"recipe-comparison"`` at the fixed recipe. ``robustness``: other protocol
    variants (``lpft_theory.protocol.VARIANTS``) to report beside the primary one."""
    from lpft_theory import studies
    from lpft_theory.protocol import VARIANTS
    from lpft_theory.recipes import CONTROLS, TABLE2

    than = (than,) if isinstance(than, str) else tuple(than)
    known = TABLE2 + CONTROLS
    for m in (better, *than):
        if m not in known:
            raise ValueError(f"{claim_id}: method {m!r} is not one of {known}")
    if scenario not in SCENARIOS:
        raise ValueError(f"{claim_id}: scenario must be one of {SCENARIOS}, got {scenario!r}")
    for v in robustness:
        if v not in VARIANTS:
            raise ValueError(f"{claim_id}: robustness variant {v!r} is not one of {sorted(VARIANTS)}")
    decl = Declaration(claim_id, kind, statement, f"rival minus {better} Global ({scenario}), paired over seeds",
                       delta, scope=f"synthetic {scenario}-shift clients; methods {better} vs {', '.join(than)}")

    def effects(ctx, variant):
        from ._robustness import paired

        st = studies.comparison(scenario, ctx.quick, ctx.seed, VARIANTS[variant], (better, *than))
        col = (studies.matched_global(st, 0.8) if variant == "matched local"
               else {m: studies.selected_column(st, m, "global") for m in (better, *than)})
        return {f"{scenario}: {r} - {better}": paired(col[r], col[better]) for r in than}

    def check(ctx) -> Verdict:
        from ._robustness import robustness as table
        from ._robustness import verdict

        variants = dict.fromkeys((decl.primary, *robustness))
        per = {v: effects(ctx, v) for v in variants}
        js = {v: judge(e) for v, e in per.items()}
        return verdict(claim_id, statement, source, js[decl.primary],
                       {"effects": per[decl.primary], **table(js, decl.primary),
                        "other_variants": {v: e for v, e in per.items() if v != decl.primary}},
                       counterexample={"study": f"lpft_theory.studies.comparison({scenario!r}, protocol="
                                                f"VARIANTS[{decl.primary!r}])", "effects": per[decl.primary]})

    return _add(decl, check)


def for_all(claim_id: str, statement: str, *, space: Space, margin, budget=400, kind: str = "bound",
            tol: float = 0.0, source: str = "user claim", statistic: str = "", figure: str | None = None,
            instances=None, condition: tuple = (), condition_by: str = ""):
    """Claim: ``margin(instance) >= -tol`` for every instance of ``space`` (``margin`` < 0 where the statement
    fails). Decided by :func:`lpft_theory.adversary.search` with ``budget`` evaluations (an int, or
    ``(quick, full)``; a quarter of them random instances): ``confirmed`` when the adversary did not break it,
    ``refuted`` with its instance otherwise.

    ``instances(ctx) -> dict``, optional: the drawn-instance part of the claim (e.g. a closed form against the
    engine's simulation), whose ``"violations"`` and ``"instances"`` counts join the adversary's in
    :func:`~paper_checks.verdict.bound_status` and whose other entries become evidence.
    ``condition=(formula, words)`` with ``condition_by`` (``"paper"``, ``"derived"`` or ``"statement"``): a
    ``condition`` claim that holds on every instance is resolved into the paper's or a derived condition
    (:func:`~paper_checks.verdict.condition_status`); the margin is then "outcome on the side the condition
    predicts"."""
    if kind not in ("bound", "identity", "condition", "frontier"):
        raise ValueError(f"{claim_id}: a for-all claim's kind is bound, identity, condition or frontier, got {kind!r}")
    if condition and kind != "condition":
        raise ValueError(f"{claim_id}: condition=(formula, words) belongs to kind='condition', got kind={kind!r}")
    if condition and (len(condition) != 2 or not condition_by):
        raise ValueError(f"{claim_id}: condition must be (formula, words) with condition_by 'paper', 'derived' or "
                         "'statement'")
    decl = Declaration(claim_id, kind, statement, statistic or "worst margin over the instance space (adversarial "
                       "search)", condition_by=condition_by,
                       scope=f"box {dict(zip(space.names, zip(space.lo, space.hi)))}")

    def check(ctx) -> Verdict:
        drawn = dict(instances(ctx)) if instances is not None else {}
        bad, total = int(drawn.pop("violations", 0)), int(drawn.pop("instances", 0))
        res = search(margin, space, budget=_budget(budget, ctx.quick), rng=ctx.seed)
        broken = int(res.worst_margin < -tol)
        holds = bound_status(bad + broken, total + 1) == "confirmed"
        status = (condition_status(total + 1, total + 1, True) if holds else "refuted") if condition else (
            "confirmed" if holds else "refuted")
        return Verdict(claim_id, statement, source, status,
                       {"adversary": res.to_dict(), "tolerance": tol, **drawn,
                        **({"drawn_instances": {"violations": bad, "instances": total}} if total else {})},
                       condition=condition[0] if condition else "", condition_words=condition[1] if condition else "",
                       counterexample={} if holds else ({"instance": res.instance, "margin": res.worst_margin}
                                                        if broken else {"drawn": drawn}),
                       decided_by=f"adversary: worst margin {res.worst_margin:.3g} in {res.evaluations} of "
                                  f"{res.budget} evaluations (random sampling alone: {res.random_worst:.3g})"
                                  + (f"; {bad} of {total} drawn instances violated it" if total else ""))

    return _add(decl, check, figure)


def judged(claim_id: str, statement: str, *, effects, kind: str = "recipe-behaviour", expect_positive: bool = True,
           delta: float | None = 0.01, statistic: str = "", source: str = "user claim", figure: str | None = None,
           scope: str = ""):
    """Claim decided by :func:`~paper_checks.verdict.judge` on interval estimates: ``effects(ctx)`` returns
    ``{setting: estimate}`` (``lpft_theory.stats.mean_ci`` / ``paired_difference``), or ``(effects, evidence)``.
    Every setting is one member of the Holm family; ``expect_positive`` is the claimed sign."""
    decl = Declaration(claim_id, kind, statement, statistic or "the effect per setting, paired over draws", delta,
                       scope=scope)

    def check(ctx) -> Verdict:
        from ._robustness import verdict

        out = effects(ctx)
        eff, extra = out if isinstance(out, tuple) else (out, {})
        j = judge(eff, expect_positive)
        return verdict(claim_id, statement, source, j, {"effects": eff, **extra},
                       counterexample={"effects": eff, "check": f"{claim_id} (rerun with the same seed)"})

    return _add(decl, check, figure)


def custom(decl: Declaration, check, figure: str | None = None):
    """Any other claim: a declaration and a check ``check(ctx) -> Verdict`` that decides through the shared rule."""
    return _add(decl, check, figure)


def run_file(path, quick: bool = True, seed: int = 0, progress=None) -> list[Verdict]:
    """Execute a claims file and run the claims it declares (like the built-in ones: declared δ, finalised)."""
    from . import run_checks

    p = Path(path)
    if p.suffix != ".py":
        raise ValueError(f"--claims {path}: a claims file is a Python file (.py)")
    if not p.is_file():
        raise FileNotFoundError(f"--claims {path}: no such file")
    start, before = len(_COLLECTED), set(claims.statements())
    try:
        runpy.run_path(str(p), run_name="lpft_user_claims")
        fns = _COLLECTED[start:]
        if not fns:
            raise ValueError(f"--claims {path}: the file declares no claim (call paper_checks.plugin.compare, "
                             "for_all, judged or custom)")
        return run_checks(quick, seed, fns=fns, progress=progress)
    finally:  # a file's claims live for its run: the same file (or another with its ids) can run again
        del _COLLECTED[start:]
        claims.unregister(set(claims.statements()) - before)


__all__ = ["compare", "for_all", "judged", "custom", "run_file", "Space", "np"]
