"""Declarative, cached, resumable sweeps over scenario × strategy × parameters × seeds."""
from .runner import BACKENDS, SweepResult, read_cached, run_point, run_sweep
from .spec import MAX_POINTS, SweepSpec, load, parse, point_key

__all__ = ["SweepSpec", "SweepResult", "BACKENDS", "load", "parse", "point_key", "run_point", "run_sweep", "read_cached", "MAX_POINTS"]
