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
