"""Run a sweep: every point cached on its own (atomic writes), resumable, on joblib or Dask.

* The cache is ``OUT/cache/<key>.json``; a point whose file exists is never recomputed, so an interrupted
  sweep resumes where it stopped (``resume=True``), a finished one reruns for free, and a changed spec
  recomputes only the points it changed.
* ``backend="local"``: joblib worker processes (``n_jobs``). ``backend="dask"``: a ``dask.distributed``
  client at ``scheduler`` (an address), or a ``LocalCluster`` on loopback when none is given. Both run the
  same pure function on the same points, so their results are identical.
* Results are written by the parent process as they arrive, so a crash loses at most the points in flight.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..io import to_json, write_text_atomic
from .spec import SweepSpec, point_key

BACKENDS = ("local", "dask")


def run_point(point: dict) -> dict:
    """One configuration → ``lpft_theory.experiment.simulate`` (pure; runs in a worker)."""
    from ..experiment import Config, simulate

    return simulate(Config(**{**point, "strategies": tuple(point["strategies"])}))


@dataclass
class SweepResult:
    out: Path
    total: int
    computed: int
    cached: int


def _results_csv(spec: SweepSpec, cache: Path) -> str:
    grid_keys = sorted(spec.grid)
    buf = io.StringIO()
    writer = None
    for point in spec.points():
        res = json.loads((cache / f"{point_key(point)}.json").read_text())
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
    yield from par(delayed(lambda p: (point_key(p), run_point(p)))(p) for p in todo)


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
              resume: bool = False, progress: bool = True, on_result=None) -> SweepResult:
    """Run every point of ``spec`` not yet cached under ``out``; write ``results.csv`` at the end.

    ``on_result(key)`` is called after each point is stored (tests use it to simulate an interruption).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    out = Path(out)
    cache = out / "cache"
    spec_file = out / "sweep.json"
    if spec_file.exists() and not resume:
        raise FileExistsError(f"{out} already holds a sweep; pass --resume to continue or rerun it, or use another --out")
    points = spec.points()
    cache.mkdir(parents=True, exist_ok=True)
    write_text_atomic(spec_file, to_json(spec.to_dict()), overwrite=True)
    todo = [p for p in points if not (cache / f"{point_key(p)}.json").exists()]
    bar = tqdm(total=len(points), initial=len(points) - len(todo), desc=f"lpft sweep {spec.name}", unit="config",
               disable=None if progress else True)
    computed = 0
    stream = _iter_local(todo, n_jobs) if backend == "local" else _iter_dask(todo, scheduler)
    try:
        for key, result in stream:
            write_text_atomic(cache / f"{key}.json", to_json(result), overwrite=True)
            computed += 1
            bar.update()
            if on_result is not None:
                on_result(key)
    finally:
        bar.close()
        if hasattr(stream, "close"):
            stream.close()
    write_text_atomic(out / "results.csv", _results_csv(spec, cache), overwrite=True)
    return SweepResult(out, len(points), computed, len(points) - len(todo))
