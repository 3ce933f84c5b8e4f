"""Run a sweep: every point cached on its own (atomic writes), resumable, on joblib or Dask.

* The cache is ``OUT/cache/<key>.json``: the point, its result and a SHA-256 of both. A point whose file
  exists and verifies is never recomputed, so an interrupted sweep resumes where it stopped
  (``resume=True``) and a finished one reruns for free. A cache file that does not verify (corrupt, hand-edited,
  or from another point) is named in a warning and recomputed.
* ``resume=True`` continues the *same* sweep; a different spec in ``OUT`` is refused unless ``overwrite=True``
  (then only the changed points are computed: unchanged ones keep their cache key).
* A point that fails (bad combination, divergence) is recorded in ``OUT/failures.json`` with its parameters
  and the message; the other points finish. Failed points are retried on the next run.
* ``backend="local"``: joblib worker processes (``n_jobs``), ended at once on an interrupt; each watches its
  parent and exits within a second of the parent's death (no orphans after a SIGKILL), and starts with Ctrl-C
  ignored (a Ctrl-C to the process group prints one line, from the parent, not a traceback per worker).
  ``backend="dask"`` (the ``[dask]`` extra, checked before anything is written): a ``dask.distributed`` client
  at ``scheduler`` (an address), or a ``LocalCluster`` on loopback when none is given. Both run the same pure
  function on the same points: identical results.
* Results are written by the parent process as they arrive, so a crash loses at most the points in flight.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib.util
import io
import json
import os
import signal
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .. import _validate as V
from ..experiment import Config
from ..io import check_output_dir, to_json, write_text_atomic
from .spec import SweepSpec, point_key

BACKENDS = ("local", "dask")
#: Failures a point may raise and still let the others finish (programming errors still stop the sweep).
POINT_ERRORS = (ValueError, TypeError, FloatingPointError, ArithmeticError, MemoryError)


def require_backend(backend: str) -> None:
    """Refuse, before any work or output, a backend whose optional extra is not installed (one line: the extra
    and the command that installs it)."""
    if backend == "dask" and importlib.util.find_spec("distributed") is None:
        raise ImportError("backend 'dask' needs the optional extra [dask] (dask.distributed is not installed): "
                          "pip install 'lpft-theory[dask]'")


def _parent_watch(parent: int):
    """A function for the worker processes (built here so it is pickled by value: running it imports nothing of
    this package): exit within a second of the parent's death (a killed sweep leaves no orphans idling for
    minutes) and leave Ctrl-C to the parent, which ends the workers (no worker tracebacks). Idempotent, and a
    no-op in the parent itself (joblib runs ``n_jobs=1`` in-process)."""

    def watch_parent():
        import os
        import signal
        import threading
        import time

        if os.getpid() == parent or any(t.name == "lpft-parent-watch" for t in threading.enumerate()):
            return os.getpid()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        def watch():
            while os.getppid() == parent:
                time.sleep(0.2)
            os._exit(1)

        threading.Thread(target=watch, name="lpft-parent-watch", daemon=True).start()
        return os.getpid()

    return watch_parent


def _work(point: dict) -> tuple:
    """What a worker runs for one point: its key and :func:`run_point`'s outcome."""
    return point_key(point), run_point(point)


def run_point(point: dict) -> dict:
    """One configuration → ``lpft_theory.experiment.simulate`` (pure; runs in a worker).

    Returns ``{"result": …}``, or ``{"error": message}`` when the point fails.
    """
    from ..experiment import simulate  # looked up per call (tests replace it)

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
              and entry.get("sha256") == _digest(entry["point"], entry["result"]) and _well_formed(entry["result"]))
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        ok = False
    if not ok:
        warnings.warn(f"cache file {path} is corrupt, edited or belongs to another configuration; recomputing it",
                      stacklevel=2)
        return None
    return entry["result"]


def _well_formed(result) -> bool:
    """A result as :func:`run_point` stores it: ``{"results": {strategy: {metric: number or null}}, …}`` (a
    checksum recomputed over a hand-made entry must not break every later resume)."""
    rows = result.get("results") if isinstance(result, dict) else None
    return (isinstance(rows, dict) and bool(rows) and all(
        isinstance(name, str) and isinstance(m, dict) and all(
            isinstance(k, str) and (v is None or (isinstance(v, (int, float, str)) and not isinstance(v, bool)))
            for k, v in m.items()) for name, m in rows.items()))


@dataclass
class SweepResult:
    out: Path
    total: int
    computed: int
    cached: int
    failed: list = field(default_factory=list)  # {"point": grid values and seed, "error": message}


OUTPUTS = ("sweep.json", "results.csv", "failures.json")


def _check_layout(out: Path) -> None:
    """Refuse, before any point runs, an output folder whose files are folders (``OUT/results.csv/``) or whose
    cache folder is a file: they would fail only after every point ran."""
    for name in OUTPUTS:
        if (out / name).is_dir():
            raise IsADirectoryError(f"--out {out}: {out / name} is a folder, where the sweep writes its {name}; "
                                    "move it or choose another --out")
    if (out / "cache").exists() and not (out / "cache").is_dir():
        raise NotADirectoryError(f"--out {out}: {out / 'cache'} is a file, where the sweep keeps its cache folder; "
                                 "move it or choose another --out")


def _check_memory(points: list, workers: int) -> None:
    """Refuse a sweep whose largest configuration, times the worker processes running at once, exceeds the
    memory allowed (each point alone was checked by ``Config.validate``)."""
    from ..experiment import memory_limit

    if not points:
        return
    big = max(points, key=lambda p: Config(**{**p, "strategies": tuple(p["strategies"])}).memory_bytes())
    each = Config(**{**big, "strategies": tuple(big["strategies"])}).memory_bytes()
    running = min(workers, len(points))
    limit = memory_limit()
    if each * running > limit:
        raise ValueError(f"--jobs {workers}: {running} configurations at once need about {each * running / 2**30:.3g} "
                         f"GiB (the largest, {_short(big)}, about {each / 2**30:.3g} GiB each), more than the "
                         f"{limit / 2**30:.3g} GiB allowed (half of this machine's memory); --jobs must be in "
                         f"[1, {max(1, limit // each)}] for this sweep")


def _short(point: dict) -> str:
    return ", ".join(f"{k}={point[k]!r}" for k in ("d", "clients", "n", "n_eval", "width", "depth") if k in point)


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


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """Start worker processes with SIGINT ignored: an ignored signal stays ignored across exec, and Python then
    installs no KeyboardInterrupt handler, so a Ctrl-C to the process group while workers start (importing
    modules) prints no worker tracebacks. The parent ignores it too while the processes are spawned (the
    handler is process-wide), so the block must stay short: only the spawning call. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _iter_local(todo, n_jobs):
    from joblib import Parallel, delayed, parallel_config

    watch = _parent_watch(os.getpid())  # every worker runs it first, as the pool's initializer
    try:
        with parallel_config(backend="loky", initializer=watch):
            with _workers_ignore_ctrl_c():  # the call spawns the pool and dispatches (~50 ms), then returns
                results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(_work)(p) for p in todo)
            yield from results
    except BaseException:  # interrupted or failed: end the worker processes now, not minutes later
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=False, kill_workers=True)
        raise


def _iter_dask(todo, scheduler):
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        with _workers_ignore_ctrl_c():
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
    require_backend(backend)
    out = check_output_dir(out, flag="--out")
    cache = out / "cache"
    spec_file = out / "sweep.json"
    _check_layout(out)
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
    _check_memory(points, n_jobs if backend == "local" else 2)
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
