"""Paper checks: one module per paper; each claim a function returning a :class:`Verdict`."""
from __future__ import annotations

from dataclasses import dataclass

from . import (chen2025, chen2025_empirical, chen2025_real, collins2022, fedpurel, flexpsfl, foundations, kumar2022,
               kumar_digits, next_theory, ren2023, tomihari2024)
from .claims import declaration, finalise, primary_of, statements
from .verdict import CURRENT_DELTA, GLOSSARY, STATUSES, Verdict

MODULES = {"chen2025": chen2025, "chen2025_empirical": chen2025_empirical, "chen2025_real": chen2025_real,
           "kumar2022": kumar2022, "kumar_digits": kumar_digits, "fedpurel": fedpurel, "flexpsfl": flexpsfl,
           "collins2022": collins2022, "foundations": foundations, "tomihari2024": tomihari2024, "ren2023": ren2023,
           "next_theory": next_theory}


@dataclass(frozen=True)
class Context:
    """What every check receives: ``quick`` (small sizes, for CI) and the run's ``seed``."""

    quick: bool = True
    seed: int = 0


def all_checks() -> list:
    """Every check function, paper by paper, in report order."""
    return [fn for mod in MODULES.values() for fn in mod.CHECKS]


def check_ids() -> list[str]:
    """The id of every check, in report order (known without running anything)."""
    return [fn.claim_id for fn in all_checks()]


def select(only: str | None = None) -> list:
    """The check functions whose id starts with ``only`` (all when None); refused before any work."""
    fns = [fn for fn in all_checks() if only is None or fn.claim_id.startswith(only)]
    if not fns:
        raise ValueError(f"--only {only!r} matches no check id; ids: {', '.join(check_ids())}")
    return fns


def run_one(fn, ctx: Context) -> Verdict:
    """Run one check under its declaration: :func:`~paper_checks.verdict.judge` sees the declared δ, and the
    verdict comes back finalised (:func:`paper_checks.claims.finalise`)."""
    token = CURRENT_DELTA.set(declaration(fn.claim_id).delta)
    try:
        v = fn(ctx)
    finally:
        CURRENT_DELTA.reset(token)
    if v.id != fn.claim_id:
        raise RuntimeError(f"{fn.__name__} is registered as {fn.claim_id!r} but returned {v.id!r}")
    return finalise(v, v.evidence.get("condition_uses", ()))


def run_checks(quick: bool = True, seed: int = 0, only: str | None = None, progress=None, fns=None) -> list[Verdict]:
    """Run every check (or those whose id starts with ``only``, or the given ``fns``); ``progress(verdict)``
    after each."""
    ctx = Context(quick, seed)
    out = []
    for fn in (select(only) if fns is None else fns):
        v = run_one(fn, ctx)
        out.append(v)
        if progress is not None:
            progress(v)
    return out


__all__ = ["Verdict", "STATUSES", "GLOSSARY", "statements", "primary_of", "run_one", "Context", "run_checks", "all_checks", "check_ids", "select", "MODULES"]
