"""Paper checks: one module per paper; each claim a function returning a :class:`Verdict`."""
from __future__ import annotations

from dataclasses import dataclass

from . import chen2025, fedpurel, flexpsfl, kumar2022
from .verdict import STATUSES, Verdict

MODULES = {"chen2025": chen2025, "kumar2022": kumar2022, "fedpurel": fedpurel, "flexpsfl": flexpsfl}


@dataclass(frozen=True)
class Context:
    """What every check receives: ``quick`` (small sizes, for CI) and the run's ``seed``."""

    quick: bool = True
    seed: int = 0


def all_checks() -> list:
    """Every check function, paper by paper, in report order."""
    return [fn for mod in MODULES.values() for fn in mod.CHECKS]


def run_checks(quick: bool = True, seed: int = 0, only: str | None = None, progress=None) -> list[Verdict]:
    """Run every check (or those whose id starts with ``only``); ``progress(verdict)`` after each."""
    ctx = Context(quick, seed)
    out, ids = [], []
    for fn in all_checks():
        v = fn(ctx)
        ids.append(v.id)
        if only is None or v.id.startswith(only):
            out.append(v)
        if progress is not None:
            progress(v)
    if only is not None and not out:
        raise ValueError(f"--only {only!r} matches no check id; ids: {ids}")
    return out


__all__ = ["Verdict", "STATUSES", "Context", "run_checks", "all_checks", "MODULES"]
