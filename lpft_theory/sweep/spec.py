"""Declarative sweeps: a base configuration, a grid (cartesian product) and seeds, from TOML or a dict.

```toml
[sweep]
name = "phase"
seeds = [0, 1, 2]            # or: n_seeds = 3
strategies = ["ft", "lp-ft"]

[base]                       # any field of lpft_theory.experiment.Config
scenario = "concept"
steps = 1

[grid]                       # every combination of these values
eta = [0.05, 0.1, 0.2]
lam = [0.5, 1.0]
```
Every point becomes one :class:`~lpft_theory.experiment.Config`; its cache key is the SHA-256 of the
canonical JSON of the resolved configuration (plus :data:`CACHE_VERSION`), so a changed point gets a new key
and an unchanged one is never recomputed.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

from ..experiment import Config

MAX_POINTS = 100_000  # about a day of small simulations on 2 cores; larger grids: split them
CACHE_VERSION = 2  # bump when simulate's numbers change, to invalidate every cached result
SECTIONS = {"sweep", "base", "grid"}
SWEEP_KEYS = {"name", "seeds", "n_seeds", "strategies"}
CONFIG_FIELDS = {f.name: f for f in fields(Config)}


@dataclass(frozen=True)
class SweepSpec:
    name: str
    base: dict
    grid: dict
    seeds: tuple
    strategies: tuple

    @property
    def size(self) -> int:
        """Number of configurations: the product of the grid's lengths times the number of seeds."""
        return math.prod(len(v) for v in self.grid.values()) * len(self.seeds)

    def points(self) -> list[dict]:
        """Every resolved configuration (as a plain dict), in a deterministic order; each one validated
        (a bad one raises ``ValueError`` naming its grid values)."""
        keys = sorted(self.grid)
        out = []
        for values in itertools.product(*(self.grid[k] for k in keys)):
            for seed in self.seeds:
                cfg = {**self.base, **dict(zip(keys, values)), "seed": seed, "strategies": list(self.strategies)}
                try:
                    Config(**{**cfg, "strategies": tuple(cfg["strategies"])}).validate()
                except (ValueError, TypeError) as exc:
                    where = ", ".join(f"{k}={v!r}" for k, v in zip(keys, values))
                    raise ValueError(f"configuration [grid] {where or '(none)'}, seed {seed}: {exc}") from None
                out.append(cfg)
        return out

    def to_dict(self) -> dict:
        return {"sweep": {"name": self.name, "seeds": list(self.seeds), "strategies": list(self.strategies)},
                "base": self.base, "grid": self.grid}


def point_key(point: dict) -> str:
    """First 20 hex digits of SHA-256 over the canonical JSON of the point and :data:`CACHE_VERSION`."""
    text = json.dumps({"v": CACHE_VERSION, **point}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _check_value(where: str, name: str, value):
    expected = type(getattr(Config(), name))
    if expected is tuple:
        raise ValueError(f"{where}.{name}: set strategies in [sweep], not here")
    ok = isinstance(value, expected) or (expected is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok or (expected is int and isinstance(value, bool)):
        raise ValueError(f"{where}.{name} must be {expected.__name__}, got {value!r} ({type(value).__name__})")


def _seeds(source: str, sw: dict) -> list:
    """The seed list of ``[sweep]``, its size checked before it is built (``n_seeds = 1e9`` is refused at once)."""
    if "seeds" in sw and "n_seeds" in sw:
        raise ValueError(f"{source}: give [sweep].seeds or [sweep].n_seeds, not both")
    if "n_seeds" in sw:
        n = sw["n_seeds"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_POINTS:
            raise ValueError(f"{source}: [sweep].n_seeds must be an integer in [1, {MAX_POINTS:_}], got {n!r} "
                             f"({type(n).__name__})")
        return list(range(n))
    seeds = sw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                             for s in seeds):
        raise ValueError(f"{source}: [sweep].seeds must be a non-empty list of non-negative ints, got {seeds!r}")
    _no_repeats(source, "[sweep].seeds", seeds)
    return seeds


def _no_repeats(source: str, where: str, values: list) -> None:
    """Refuse a list that names one value twice (the same configuration would be listed, and run, twice)."""
    seen = []
    for v in values:
        if v in seen:  # == : 1 and 1.0 are one value of a float field
            raise ValueError(f"{source}: {where} lists {v!r} twice; give each value once")
        seen.append(v)


def parse(raw: dict, source: str = "sweep") -> SweepSpec:
    """Validate a sweep given as nested dicts; every error names the offending key."""
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: expected a table with sections {sorted(SECTIONS)}")
    if not any(raw.values()):
        raise ValueError(f"{source}: the sweep is empty; give a [grid] (and optionally [sweep] and [base]) table, "
                         "see docs/sweep_example.toml")
    unknown = set(raw) - SECTIONS
    if unknown:
        raise ValueError(f"{source}: unknown section(s) {sorted(unknown)}; allowed: {sorted(SECTIONS)}")
    sw, base, grid = raw.get("sweep", {}), raw.get("base", {}), raw.get("grid", {})
    for sec, val in (("sweep", sw), ("base", base), ("grid", grid)):
        if not isinstance(val, dict):
            raise ValueError(f"{source}: [{sec}] must be a table, got {type(val).__name__}")
    bad = set(sw) - SWEEP_KEYS
    if bad:
        raise ValueError(f"{source}: unknown key(s) [sweep].{sorted(bad)}; allowed: {sorted(SWEEP_KEYS)}")
    for sec, table in (("base", base), ("grid", grid)):
        for k in table:
            if k not in CONFIG_FIELDS or k in ("seed", "strategies"):
                raise ValueError(f"{source}: [{sec}].{k} is not a configuration field; known: "
                                 f"{sorted(set(CONFIG_FIELDS) - {'seed', 'strategies'})}")
    for k, v in base.items():
        _check_value(f"{source}: [base]", k, v)
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise ValueError(f"{source}: [grid].{k} must be a non-empty list of values, got {v!r}")
        for x in v:
            _check_value(f"{source}: [grid]", k, x)
        _no_repeats(source, f"[grid].{k}", v)
        if k in base:
            raise ValueError(f"{source}: {k} is in both [base] and [grid]")
    name = sw.get("name", "sweep")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{source}: [sweep].name must be a non-empty string, got {name!r} ({type(name).__name__})")
    seeds = _seeds(source, sw)
    strategies = sw.get("strategies", list(Config().strategies))
    if not isinstance(strategies, list) or not strategies or not all(isinstance(s, str) for s in strategies):
        raise ValueError(f"{source}: [sweep].strategies must be a non-empty list of strategy names, got {strategies!r}")
    _no_repeats(source, "[sweep].strategies", strategies)
    size = math.prod(len(v) for v in grid.values()) * len(seeds)
    if size > MAX_POINTS:  # before any configuration is built
        shape = " x ".join(f"{len(v)} {k}" for k, v in sorted(grid.items()))
        raise ValueError(f"{source}: the sweep has {size:_} configurations ({shape or 'no grid'} x "
                         f"{len(seeds)} seeds); at most {MAX_POINTS:_} allowed: split it into several sweeps")
    spec = SweepSpec(name, dict(base), {k: list(v) for k, v in grid.items()}, tuple(seeds), tuple(strategies))
    if spec.size > MAX_POINTS:
        shape = " x ".join(f"{len(v)} {k}" for k, v in sorted(spec.grid.items()))
        raise ValueError(f"{source}: the sweep has {spec.size:_} configurations ({shape or 'no grid'} x "
                         f"{len(spec.seeds)} seeds); at most {MAX_POINTS:_} allowed: split it into several sweeps")
    try:
        spec.points()
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    return spec


FORMATS = (".toml", ".json")


def _unique_keys(pairs):
    """``json.loads`` hook: refuse a key given twice in one object (JSON would silently keep the last)."""
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} appears twice in one table; give it once")
        out[k] = v
    return out


def load(path) -> SweepSpec:
    """Read a sweep from a ``.toml`` or ``.json`` file (the extension in any case)."""
    if not str(path).strip():
        raise ValueError(f"sweep file {str(path)!r}: give the path of a .toml or .json file")
    path = Path(path)
    if not path.exists():
        raise ValueError(f"sweep file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"sweep file {path} is a folder, not a .toml or .json file")
    kind = path.suffix.lower()
    if kind not in FORMATS:
        raise ValueError(f"sweep file {path}: extension {path.suffix or '(none)'!r} is not supported; "
                         f"write the sweep as .toml or .json (see docs/sweep_example.toml)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"sweep file {path} is not UTF-8 text") from None
    if kind == ".json":
        try:
            raw = json.loads(text, object_pairs_hook=_unique_keys)
        except ValueError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
    else:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        try:
            raw = tomllib.loads(text)  # a key or table given twice is a TOML error already
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML: {exc}") from None
    return parse(raw, str(path))


__all__ = ["SweepSpec", "parse", "load", "point_key", "CACHE_VERSION"]
