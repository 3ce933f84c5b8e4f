"""Run a sweep: every point cached on its own (atomic writes), resumable, on joblib or Dask.

* The cache is ``OUT/cache/<key>.json``: the point, its result and a SHA-256 of both. A point whose file
  exists and verifies is never recomputed, so an interrupted sweep resumes where it stopped
  (``resume=True``) and a finished one reruns for free. A cache file that does not verify (corrupt, hand-edited,
  or from another point) is named in a warning and recomputed.
* ``resume=True`` continues the *same* sweep; a different spec in ``OUT`` is refused unless ``overwrite=True``
  (then only the changed points are computed: unchanged ones keep their cache key).
* A point that fails (bad combination, divergence) is recorded in ``OUT/failures.json`` with its parameters
  and the message; the other points finish. Failed points are retried on the next run.
* ``backend="local"``: joblib worker processes (``n_jobs``), ended at once on an interrupt.
  ``backend="dask"``: a ``dask.distributed`` client at ``scheduler`` (an address), or a ``LocalCluster`` on
  loopback when none is given. Both run the same pure function on the same points: identical results.
* Results are written by the parent process as they arrive, so a crash loses at most the points in flight.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .. import _validate as V
from ..io import check_output_dir, to_json, write_text_atomic
from .spec import SweepSpec, point_key

BACKENDS = ("local", "dask")
#: Failures a point may raise and still let the others finish (programming errors still stop the sweep).
POINT_ERRORS = (ValueError, TypeError, FloatingPointError, ArithmeticError, MemoryError)


def run_point(point: dict) -> dict:
    """One configuration → ``lpft_theory.experiment.simulate`` (pure; runs in a worker).

    Returns ``{"result": …}``, or ``{"error": message}`` when the point fails.
    """
    from ..experiment import Config, simulate

    try:
        return {"result": simulate(Config(**{**point, "strategies": tuple(point["strategies"])}))}
    except POINT_ERRORS as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _digest(point: dict, result: dict) -> str:
    return hashlib.sha256(to_json({"point": point, "result": result}).encode()).hexdigest()


def _cache_entry(point: dict, result: dict) -> str:
    return to_json({"point": point, "result": result, "sha256": _digest(point, result)})


def read_cached(path: Path, point: dict) -> dict | None:
    """The cached result of ``point`` in ``path``; None (with a warning naming the file) if it does not verify."""
    if not path.exists():
        return None
    try:
        entry = json.loads(path.read_text())
        ok = (isinstance(entry, dict) and entry.get("point") == json.loads(to_json(point))
              and entry.get("sha256") == _digest(entry["point"], entry["result"]))
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        ok = False
    if not ok:
        warnings.warn(f"cache file {path} is corrupt, edited or belongs to another configuration; recomputing it",
                      stacklevel=2)
        return None
    return entry["result"]


@dataclass
class SweepResult:
    out: Path
    total: int
    computed: int
    cached: int
    failed: list = field(default_factory=list)  # {"point": grid values and seed, "error": message}


def _label(spec: SweepSpec, point: dict) -> dict:
    return {**{k: point[k] for k in sorted(spec.grid)}, "seed": point["seed"]}


def _results_csv(spec: SweepSpec, results: dict) -> str:
    grid_keys = sorted(spec.grid)
    buf = io.StringIO()
    writer = None
    for point in spec.points():
        res = results.get(point_key(point))
        if res is None:  # failed point: listed in failures.json
            continue
        for strat, metrics in res["results"].items():
            row = {**{k: point[k] for k in grid_keys}, "seed": point["seed"], "strategy": strat, **metrics}
            if writer is None:
                writer = csv.DictWriter(buf, fieldnames=list(row), lineterminator="\n")
                writer.writeheader()
            writer.writerow(row)
    return buf.getvalue()


def _iter_local(todo, n_jobs):
    from joblib import Parallel, delayed

    par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    try:
        yield from par(delayed(lambda p: (point_key(p), run_point(p)))(p) for p in todo)
    except BaseException:  # interrupted or failed: end the worker processes now, not minutes later
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=False, kill_workers=True)
        raise


def _iter_dask(todo, scheduler):
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                               processes=True)
    client = Client(scheduler or cluster)
    try:
        futures = {client.submit(run_point, p, pure=False): point_key(p) for p in todo}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(spec: SweepSpec, out, *, backend: str = "local", scheduler: str | None = None, n_jobs: int = 2,
              resume: bool = False, overwrite: bool = False, progress: bool = True, on_result=None) -> SweepResult:
    """Run every point of ``spec`` not yet cached under ``out``; write ``results.csv`` at the end.

    ``on_result(key)`` is called after each point is stored (tests use it to simulate an interruption).
    """
    V.choice("backend", backend, BACKENDS)
    V.integer("n_jobs (--jobs)", n_jobs, min_value=1, max_value=1024)
    out = check_output_dir(out, flag="--out")
    cache = out / "cache"
    spec_file = out / "sweep.json"
    if spec_file.is_file() and not resume:
        raise FileExistsError(f"{out} already holds a sweep; pass --resume to continue or rerun it, or use another --out")
    if spec_file.is_file() and not overwrite:
        try:
            same = json.loads(spec_file.read_text()) == json.loads(to_json(spec.to_dict()))
        except ValueError:
            same = False
        if not same:
            raise FileExistsError(f"{spec_file} holds a different sweep than this one; pass --force with --resume to "
                                  "replace it (cached configurations are reused) or use another --out")
    points = spec.points()
    cache.mkdir(parents=True, exist_ok=True)
    write_text_atomic(spec_file, to_json(spec.to_dict()), overwrite=True)
    results = {point_key(p): read_cached(cache / f"{point_key(p)}.json", p) for p in points}
    todo = [p for p in points if results[point_key(p)] is None]
    by_key = {point_key(p): p for p in todo}
    bar = tqdm(total=len(points), initial=len(points) - len(todo), desc=f"lpft sweep {spec.name}", unit="config",
               disable=None if progress else True)
    computed, failed = 0, {}
    stream = _iter_local(todo, n_jobs) if backend == "local" else _iter_dask(todo, scheduler)
    try:
        for key, outcome in stream:
            if "error" in outcome:
                failed[key] = {"point": _label(spec, by_key[key]), "error": outcome["error"]}
            else:
                write_text_atomic(cache / f"{key}.json", _cache_entry(by_key[key], outcome["result"]), overwrite=True)
                results[key] = json.loads(to_json(outcome["result"]))  # as read back from the cache: same csv
                computed += 1
            bar.update()
            if on_result is not None:
                on_result(key)
    finally:
        bar.close()
        if hasattr(stream, "close"):
            stream.close()
    failed = [failed[k] for k in (point_key(p) for p in points) if k in failed]  # in grid order
    write_text_atomic(out / "failures.json", to_json(failed), overwrite=True)
    write_text_atomic(out / "results.csv", _results_csv(spec, results), overwrite=True)
    return SweepResult(out, len(points), computed, len(points) - len(todo), failed)
