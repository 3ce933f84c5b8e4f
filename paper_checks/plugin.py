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
"""
from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np

from lpft_theory.adversary import Space, search

from .claims import Declaration, register
from .verdict import Verdict, bound_status, claim, judge

_COLLECTED: list = []
SCENARIOS = ("concept", "combined", "label")


def _add(decl: Declaration, fn):
    register(decl)
    _COLLECTED.append(claim(decl.id)(fn))
    return fn


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


def for_all(claim_id: str, statement: str, *, space: Space, margin, budget: int = 400, kind: str = "bound",
            tol: float = 0.0, source: str = "user claim"):
    """Claim: ``margin(instance) >= -tol`` for every instance of ``space`` (``margin`` < 0 where the statement
    fails). Decided by :func:`lpft_theory.adversary.search` with ``budget`` evaluations (a quarter of them random
    instances): ``confirmed`` when the adversary did not break it, ``refuted`` with its instance otherwise."""
    if kind not in ("bound", "identity", "condition", "frontier"):
        raise ValueError(f"{claim_id}: a for-all claim's kind is bound, identity, condition or frontier, got {kind!r}")
    decl = Declaration(claim_id, kind, statement, "worst margin over the instance space (adversarial search)",
                       scope=f"box {dict(zip(space.names, zip(space.lo, space.hi)))}")

    def check(ctx) -> Verdict:
        res = search(margin, space, budget=budget, rng=ctx.seed)
        status = bound_status(int(res.worst_margin < -tol), 1)
        status = "confirmed" if status == "confirmed" else "refuted"
        return Verdict(claim_id, statement, source, status, {"adversary": res.to_dict(), "tolerance": tol},
                       counterexample={} if status == "confirmed" else {"instance": res.instance,
                                                                         "margin": res.worst_margin},
                       decided_by=f"adversary: worst margin {res.worst_margin:.3g} in {res.evaluations} of "
                                  f"{res.budget} evaluations (random sampling alone: {res.random_worst:.3g})")

    return _add(decl, check)


def custom(decl: Declaration, check):
    """Any other claim: a declaration and a check ``check(ctx) -> Verdict`` that decides through the shared rule."""
    return _add(decl, check)


def run_file(path, quick: bool = True, seed: int = 0, progress=None) -> list[Verdict]:
    """Execute a claims file and run the claims it declares (like the built-in ones: declared δ, finalised)."""
    from . import run_checks

    p = Path(path)
    if p.suffix != ".py":
        raise ValueError(f"--claims {path}: a claims file is a Python file (.py)")
    if not p.is_file():
        raise FileNotFoundError(f"--claims {path}: no such file")
    start = len(_COLLECTED)
    runpy.run_path(str(p), run_name="lpft_user_claims")
    fns = _COLLECTED[start:]
    if not fns:
        raise ValueError(f"--claims {path}: the file declares no claim (call paper_checks.plugin.compare, for_all "
                         "or custom)")
    return run_checks(quick, seed, fns=fns, progress=progress)


__all__ = ["compare", "for_all", "custom", "run_file", "Space", "np"]
