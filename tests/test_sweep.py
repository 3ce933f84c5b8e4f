"""Sweeps: resume after an interruption, free reruns, partial recomputation, Dask = local, bad files."""
import json
import warnings

import pytest

from lpft_theory.cli import main
from lpft_theory.sweep import load, parse, point_key, run_sweep

SPEC = {"sweep": {"name": "t", "seeds": [0, 1], "strategies": ["ft", "lp-ft"]},
        "base": {"scenario": "concept", "steps": 2, "d": 12, "m": 2, "clients": 3},
        "grid": {"eta": [0.05, 0.1, 0.2], "lam": [0.5, 1.0]}}


class Interrupted(Exception):
    pass


def test_interrupted_sweep_resumes_without_loss_or_recomputation(tmp_path):
    spec = parse(SPEC)
    done = []

    def stop_after_five(key):
        done.append(key)
        if len(done) == 5:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_sweep(spec, tmp_path, n_jobs=1, progress=False, on_result=stop_after_five)
    cached = {p.stem for p in (tmp_path / "cache").glob("*.json")}
    assert cached == set(done)  # everything reported was stored, nothing half-written
    with pytest.raises(FileExistsError, match="--resume"):
        run_sweep(spec, tmp_path, progress=False)
    res = run_sweep(spec, tmp_path, resume=True, progress=False)
    assert (res.total, res.computed, res.cached) == (12, 7, 5)
    again = run_sweep(spec, tmp_path, resume=True, progress=False)
    assert (again.computed, again.cached) == (0, 12)


def test_changed_spec_recomputes_only_what_changed(tmp_path):
    run_sweep(parse(SPEC), tmp_path, progress=False)
    before = (tmp_path / "results.csv").read_text()
    grown = json.loads(json.dumps(SPEC))
    grown["grid"]["eta"].append(0.3)
    with pytest.raises(FileExistsError, match="holds a different sweep"):  # --resume alone keeps the old sweep
        run_sweep(parse(grown), tmp_path, resume=True, progress=False)
    assert (tmp_path / "results.csv").read_text() == before
    res = run_sweep(parse(grown), tmp_path, resume=True, overwrite=True, progress=False)
    assert (res.total, res.computed, res.cached) == (16, 4, 12)
    assert set(before.splitlines()) <= set((tmp_path / "results.csv").read_text().splitlines())


def test_edited_or_corrupt_cache_file_is_named_and_recomputed(tmp_path):
    spec = parse(SPEC)
    run_sweep(spec, tmp_path, progress=False)
    before = (tmp_path / "results.csv").read_text()
    files = sorted((tmp_path / "cache").glob("*.json"))
    entry = json.loads(files[0].read_text())
    entry["result"]["results"]["FT"]["global"] = 123.0  # a hand edit
    files[0].write_text(json.dumps(entry))
    files[1].write_text("{not json")
    with pytest.warns(UserWarning) as record:
        res = run_sweep(spec, tmp_path, resume=True, progress=False)
    named = " ".join(str(w.message) for w in record)
    assert files[0].name in named and files[1].name in named
    assert (res.computed, res.cached) == (2, 10)
    assert (tmp_path / "results.csv").read_text() == before  # the edit never reaches the results


def test_a_failing_point_is_recorded_with_its_parameters_and_the_rest_finish(tmp_path, monkeypatch, capsys):
    from lpft_theory import experiment

    real = experiment.simulate

    def flaky(cfg, *a, **k):
        if cfg.eta == 0.2 and cfg.lam == 1.0 and cfg.seed == 1:
            raise experiment.DivergenceError("FT diverged with eta=0.2")
        return real(cfg, *a, **k)

    monkeypatch.setattr(experiment, "simulate", flaky)
    # in-process (joblib runs n_jobs=1 in the parent), so the patched simulate is the one called
    res = run_sweep(parse(SPEC), tmp_path, n_jobs=1, progress=False)
    assert (res.total, res.computed) == (12, 11)
    assert res.failed == [{"point": {"eta": 0.2, "lam": 1.0, "seed": 1}, "error": "DivergenceError: FT diverged with eta=0.2"}]
    assert json.loads((tmp_path / "failures.json").read_text()) == res.failed
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 11 * 2  # header + 11 points x 2 strategies


def test_dask_backend_gives_identical_results(tmp_path):
    pytest.importorskip("distributed")
    run_sweep(parse(SPEC), tmp_path / "local", progress=False)
    run_sweep(parse(SPEC), tmp_path / "dask", backend="dask", progress=False)
    assert (tmp_path / "local" / "results.csv").read_bytes() == (tmp_path / "dask" / "results.csv").read_bytes()


def test_cache_key_depends_on_every_field():
    a = {"eta": 0.1, "seed": 0, "strategies": ["ft"]}
    assert point_key(a) == point_key(dict(reversed(list(a.items()))))
    assert point_key(a) != point_key({**a, "eta": 0.1000001})


@pytest.mark.parametrize("raw,match", [
    ({**SPEC, "grids": {}}, r"unknown section\(s\) \['grids'\]"),
    ({**SPEC, "grid": {"etta": [0.1]}}, r"\[grid\].etta is not a configuration field"),
    ({**SPEC, "grid": {"eta": 0.1}}, r"\[grid\].eta must be a non-empty list"),
    ({**SPEC, "grid": {"steps": [1.5]}}, r"\[grid\].steps must be int"),
    ({**SPEC, "base": {"scenario": 3}}, r"\[base\].scenario must be str"),
    ({**SPEC, "sweep": {"seeds": [-1]}}, r"\[sweep\].seeds must be a non-empty list"),
    ({**SPEC, "sweep": {"sead": 1}}, r"unknown key\(s\) \[sweep\]"),
    ({**SPEC, "base": {"eta": -1.0}, "grid": {"lam": [1.0]}}, "eta must be in"),
    ({**SPEC, "base": {"eta": 0.1}}, "eta is in both"),
])
def test_malformed_sweeps_name_the_offending_key(raw, match):
    with pytest.raises(ValueError, match=match):
        parse(raw)


def test_sweep_cli_and_toml(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text('[sweep]\nname = "cli"\nn_seeds = 1\nstrategies = ["ft"]\n[base]\nd = 10\nm = 1\nclients = 2\n'
                 '[grid]\neta = [0.1, 0.2]\n')
    assert main(["sweep", str(f), "--out", str(tmp_path / "o"), "--jobs", "1"]) == 0
    assert "2 configurations: 2 computed" in capsys.readouterr().out
    assert main(["sweep", str(f), "--out", str(tmp_path / "o")]) == 2  # exists, no --resume
    f.write_text("[sweep\n")
    assert main(["sweep", str(f)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    f.write_text('[sweep]\nn_seeds = 1\n[grid]\neta = [0.1]\n')
    assert load(f).points()[0]["eta"] == 0.1


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/stat"), reason="reads /proc")
def test_interrupt_ends_the_worker_processes(tmp_path):
    import os
    import time
    from pathlib import Path

    def workers():
        out = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().split()
                cmd = (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue
            if fields[3] == str(os.getpid()) and b"popen_loky" in cmd:
                out.append(fields[0])
        return out

    def stop(key):
        assert workers()  # the pool is running
        raise Interrupted

    with pytest.raises(Interrupted), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joblib may warn that queued tasks were cancelled
        run_sweep(parse(SPEC), tmp_path, n_jobs=2, progress=False, on_result=stop)
    for _ in range(50):
        if not workers():
            break
        time.sleep(0.1)
    assert workers() == []


def test_missing_dask_extra_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    """Without dask: one line naming the extra and its install command, exit 2, no partial output (issue 26)."""
    import sys

    f = tmp_path / "s.json"
    f.write_text(json.dumps(SPEC))
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails, as when not installed
    assert main(["sweep", str(f), "--backend", "dask", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "[dask]" in err and "pip install 'lpft-theory[dask]'" in err, err
    assert not (tmp_path / "o").exists()
    with pytest.raises(ImportError, match=r"lpft-theory\[dask\]"):
        run_sweep(parse(SPEC), tmp_path / "o", backend="dask", progress=False)
    assert not (tmp_path / "o").exists()


def test_missing_numba_on_the_cli_path_is_one_line(monkeypatch, capsys):
    """The compiled step switched on without numba: a run that needs it fails in one line naming the extra."""
    import sys

    from lpft_theory import dynamics, kernels_compiled

    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.setattr(kernels_compiled, "_STEP", None)
    monkeypatch.setattr(dynamics, "COMPILED", True)
    assert main(["simulate", "--steps", "2", "--strategies", "ft"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install lpft-theory[fast]" in err, err


def test_sweep_file_extensions_in_any_case_and_duplicates_refused(tmp_path):
    upper = tmp_path / "S.JSON"
    upper.write_text(json.dumps(SPEC))
    assert load(upper).size == 12
    for raw, match in [({**SPEC, "grid": {"eta": [0.1, 0.2, 0.1]}}, r"\[grid\].eta lists 0.1 twice"),
                       ({**SPEC, "sweep": {"seeds": [0, 0]}}, r"\[sweep\].seeds lists 0 twice"),
                       ({**SPEC, "sweep": {"n_seeds": 10**9}}, r"n_seeds must be an integer in \[1, 100_000\]")]:
        with pytest.raises(ValueError, match=match):
            parse(raw)


def test_malformed_result_with_a_valid_checksum_is_named_and_recomputed(tmp_path):
    from lpft_theory.sweep.runner import _cache_entry

    spec = parse(SPEC)
    run_sweep(spec, tmp_path, progress=False)
    before = (tmp_path / "results.csv").read_text()
    f = sorted((tmp_path / "cache").glob("*.json"))[0]
    point = json.loads(f.read_text())["point"]
    f.write_text(_cache_entry(point, {"results": 5}))  # checksum recomputed over a wrong-typed result
    with pytest.warns(UserWarning, match=f.name):
        res = run_sweep(spec, tmp_path, resume=True, progress=False)
    assert (res.computed, res.cached) == (1, 11)
    assert (tmp_path / "results.csv").read_text() == before


def _slow_sweep(tmp_path):
    import sys

    spec = {**SPEC, "base": {**SPEC["base"], "steps": 1_000_000, "d": 60}}  # a minute or more per point: interrupted long before
    f = tmp_path / "slow.json"
    f.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "lpft_theory.cli", "sweep", str(f), "--jobs", "2", "--out", str(tmp_path / "o")]
    return cmd


def _children(pid: int) -> list:
    from pathlib import Path

    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid) and b"popen_loky" in cmd:
            out.append(int(stat.parent.name))
    return out


def _alive(pids) -> list:
    import os

    alive = []
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(p)
        except OSError:
            pass
        else:
            os.kill(p, 0)
    return alive


def _wait(predicate, timeout: float) -> bool:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/stat"), reason="reads /proc")
def test_killed_sweep_leaves_no_orphan_workers(tmp_path):
    """SIGKILL the parent: its workers notice within a second (they watch it) instead of idling for minutes."""
    import os
    import signal
    import subprocess

    proc = subprocess.Popen(_slow_sweep(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait(lambda: len(_children(proc.pid)) >= 2, 60), "the workers did not start"
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert _wait(lambda: not _alive(workers), 5), f"orphans still alive 5 s after the parent: {_alive(workers)}"
    finally:
        proc.kill()


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/stat"), reason="reads /proc")
def test_ctrl_c_to_the_process_group_is_one_line_and_ends_the_workers(tmp_path):
    """A Ctrl-C (SIGINT to the whole process group) while workers start or run: exit 130, one line, no worker
    traceback, no worker left."""
    import os
    import signal
    import subprocess

    proc = subprocess.Popen(_slow_sweep(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert _wait(lambda: len(_children(proc.pid)) >= 1, 60), "the workers did not start"
        workers = _children(proc.pid)
        __import__("time").sleep(0.3)  # past the ~50 ms in which the pool is spawned with SIGINT ignored
        os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=60)[1].strip()
        assert proc.returncode == 130 and len(err.splitlines()) == 1 and "interrupted" in err, err
        assert _wait(lambda: not _alive(workers), 5)
    finally:
        proc.kill()
