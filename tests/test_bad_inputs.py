"""Every bad input is refused before any work, with exit code 2 and one line naming the flag, the value
and the allowed range — never a traceback, a hang, NaN or a silent change (issues 15 and 26).

Each CLI case runs in-process through ``lpft_theory.cli.main``. A tripwire replaces every expensive entry
point (scenario building, the paper checks, figure rendering, the real-data run, sweep workers), so a case
that is not refused up front fails at once instead of running for minutes; the few cases that must start
work to be caught (an unstable step size) say so with ``work=True``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from lpft_theory import cli
from lpft_theory.cli import main


class WorkStarted(BaseException):
    """Raised by the tripwire: a bad input reached the computation (BaseException: main must not catch it)."""


def _trip(*args, **kwargs):
    raise WorkStarted


@pytest.fixture
def env(files, monkeypatch):
    """The files the cases point at, and the tripwire on every expensive entry point."""
    import figures
    import paper_checks
    import paper_checks.report
    from lpft_theory import experiment
    from lpft_theory.empirical import experiment as real_experiment
    from lpft_theory.sweep import runner

    for target, name in [(paper_checks, "run_checks"), (paper_checks.report, "run_checks"), (figures, "render"),
                         (real_experiment, "run_real"), (runner, "_iter_local"), (runner, "_iter_dask")]:
        monkeypatch.setattr(target, name, _trip)
    real_build = experiment.build_scenario
    monkeypatch.setattr(experiment, "build_scenario", _trip)
    return {"tmp": files, "build_scenario": real_build, "monkeypatch": monkeypatch, "experiment": experiment}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Files and folders the cases point at (made once: every case is refused before it writes anything)."""
    tmp_path = tmp_path_factory.mktemp("bad-inputs")
    (tmp_path / "exists.json").write_text("{}")
    (tmp_path / "folder").mkdir()
    (tmp_path / "half-done").mkdir()
    (tmp_path / "half-done" / "checks.json").write_text("{}")
    (tmp_path / "old-figures" / "figures").mkdir(parents=True)
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "kumar_toy.png").write_bytes(b"png")
    good = {"sweep": {"name": "t", "seeds": [0], "strategies": ["ft"]}, "base": {"d": 10, "m": 1, "clients": 2},
            "grid": {"eta": [0.1]}}
    (tmp_path / "empty.toml").write_text("")
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "broken.toml").write_text("[sweep\n")
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "good.json").write_text(json.dumps(good))
    for name, grid in [("sparsity", {"sparsity": [0.5, 1.5]}), ("mu", {"mu": [-1.0]}), ("etta", {"etta": [0.1]}),
                       ("steps", {"steps": [1.5]}), ("huge", {"eta": [0.1 + i for i in range(1000)],
                                                              "lam": [float(i) for i in range(1000)]})]:
        (tmp_path / f"{name}.json").write_text(json.dumps({**good, "grid": grid}))
    (tmp_path / "sweep-out").mkdir()
    (tmp_path / "sweep-out" / "sweep.json").write_text(json.dumps({**good, "grid": {"eta": [0.2]}}))
    for name, raw in [("dup-eta", {**good, "grid": {"eta": [0.1, 0.2, 0.1]}}), ("dup-int", {**good, "grid": {"eta": [1, 1.0]}}),
                      ("nseeds-bool", {**good, "sweep": {"n_seeds": True}}),
                      ("nseeds-huge", {**good, "sweep": {"n_seeds": 1_000_000_000}}),
                      ("nseeds-float", {**good, "sweep": {"n_seeds": 2.5}}), ("name-int", {**good, "sweep": {"name": 42}}),
                      ("name-empty", {**good, "sweep": {"name": " "}}), ("dup-seeds", {**good, "sweep": {"seeds": [1, 1]}}),
                      ("dup-strat", {**good, "sweep": {"strategies": ["ft", "ft"]}}),
                      ("no-strat", {**good, "sweep": {"strategies": []}}),
                      ("bad-strat", {**good, "sweep": {"strategies": ["ft", "bogus"]}}),
                      ("nested", {**good, "grid": {"eta": [[0.1]]}}), ("base-str", {**good, "base": {"d": "10"}}),
                      ("base-bool", {**good, "base": {"d": True}}), ("grid-empty", {**good, "grid": {"eta": []}}),
                      ("seed-field", {**good, "grid": {"seed": [1, 2]}}), ("both-seeds", {**good, "sweep": {"seeds": [0], "n_seeds": 2}}),
                      ("section-list", {**good, "base": [1, 2]}), ("top-list", [1, 2]),
                      ("big-mem", {**good, "base": {"d": 3000, "m": 1, "clients": 20}, "grid": {"eta": [0.1, 0.2, 0.3, 0.4]}})]:
        (tmp_path / f"{name}.json").write_text(json.dumps(raw))
    (tmp_path / "dup-key.json").write_text('{"grid": {"eta": [0.1]}, "grid": {"lam": [1.0]}}')
    (tmp_path / "dup-table.toml").write_text("[grid]\neta = [0.1]\n[grid]\nlam = [1.0]\n")
    (tmp_path / "sweep.yaml").write_text("grid: {eta: [0.1]}\n")
    (tmp_path / "sweep").write_text(json.dumps(good))
    (tmp_path / "latin1.toml").write_bytes("name = 'caf\xe9'".encode("latin-1"))
    (tmp_path / "csv-folder" / "results.csv").mkdir(parents=True)
    (tmp_path / "cache-file").mkdir()
    (tmp_path / "cache-file" / "cache").write_text("not a folder")
    (tmp_path / "claims.txt").write_text("")
    (tmp_path / "claims-folder.py").mkdir()
    (tmp_path / "dev-link.json").symlink_to("/dev/null")
    (tmp_path / "broken-link.json").symlink_to(tmp_path / "nowhere" / "x.json")
    return tmp_path


# (argv, needles that must all appear in the one-line message[, options])
S = ["simulate"]
CASES = [
    # simulate: every range, the options of unselected strategies included
    (S + ["--eta", "0"], ["--eta", "got 0.0", "(0.0, 1000000.0]"]),
    (S + ["--eta", "nan"], ["--eta", "got nan", "finite"]),
    (S + ["--eta", "-1"], ["--eta", "got -1.0", "(0.0, 1000000.0]"]),
    (S + ["--fed-eta", "0"], ["--fed-eta", "got 0.0", "(0.0, 1000000.0]"]),
    (S + ["--lp-eta", "-0.1"], ["--lp-eta", "got -0.1", "(0.0, 1000000.0]"]),
    (S + ["--steps", "-1"], ["--steps", "got -1", "[0, 1000000]"]),
    (S + ["--steps", "100000000"], ["--steps", "got 100000000", "[0, 1000000]"]),
    (S + ["--rounds", "-1"], ["--rounds", "got -1", "[0, 100000]"]),
    (S + ["--local-steps", "0"], ["--local-steps", "got 0", "[1, 100000]"]),
    (S + ["--lp-steps", "-2"], ["--lp-steps", "got -2", "[0, 1000000]"]),
    (S + ["--clients", "1"], ["--clients", "got 1", "[2, 10000]"]),
    (S + ["--clients", "0"], ["--clients", "got 0", "[2, 10000]"]),
    (S + ["--d", "0"], ["--d", "got 0", "[1, inf]"]),
    (S + ["--d", "100000"], ["--d 100000", "GiB", "--d must be in [1, "]),
    (S + ["--m", "-1"], ["--m", "got -1", "[0, inf]"]),
    (S + ["--m", "30"], ["--m + --clients must be <= --d", "30 + 5 > 20"]),
    (S + ["--n", "-5"], ["--n", "got -5", "[0, 10000000]"]),
    (S + ["--n-eval", "0"], ["--n-eval", "got 0", "[1, 10000000]"]),
    (S + ["--n-classes", "1"], ["--n-classes", "got 1", "[2, 1000]"]),
    (S + ["--width", "-1"], ["--width", "got -1", "[0, 100000]"]),
    (S + ["--depth", "0"], ["--depth", "got 0", "[1, 100]"]),
    (S + ["--seed", "-1"], ["--seed", "got -1", "[0, "]),
    (S + ["--lam", "-1"], ["--lam", "got -1.0", "[0.0, 1000000.0]"]),
    (S + ["--eps", "-0.5"], ["--eps", "got -0.5", "[0.0, 1000000.0]"]),
    (S + ["--shift", "inf"], ["--shift", "got inf", "finite"]),
    (S + ["--overlap", "2"], ["--overlap", "got 2.0", "[0.0, 1.0]"]),
    (S + ["--alpha", "0"], ["--alpha", "got 0.0", "(0.0, 1000000.0]"]),
    (S + ["--noise", "-1"], ["--noise", "got -1.0", "[0.0, 1000000.0]"]),
    (S + ["--lp-alpha", "1.5"], ["--lp-alpha", "got 1.5", "[0.0, 1.0]"]),
    (S + ["--mu", "-1"], ["--mu", "got -1.0", "[0.0, 1000000.0]"]),  # proximal not selected: still refused
    (S + ["--sparsity", "1.0"], ["--sparsity", "got 1.0", "[0.0, 1.0)"]),
    (S + ["--sparsity", "1.5", "--strategies", "sparse"], ["--sparsity", "got 1.5", "[0.0, 1.0)"]),
    (S + ["--soup-size", "0"], ["--soup-size", "got 0", "[1, 1000]"]),
    (S + ["--lss-verts", "-1"], ["--lss-verts", "got -1", "[0, 1000]"]),
    (S + ["--lss-div", "-1"], ["--lss-div", "got -1.0", "[0.0, 1000000.0]"]),
    (S + ["--lss-aff", "nan"], ["--lss-aff", "got nan", "finite"]),
    (S + ["--purify-lam", "-1"], ["--purify-lam", "got -1.0", "[0.0, 1000000.0]"]),
    (S + ["--residual-alpha", "2"], ["--residual-alpha", "got 2.0", "[0.0, 1.0]"]),
    (S + ["--align-lam", "-1"], ["--align-lam", "got -1.0", "[0.0, 1000000.0]"]),
    (S + ["--flood", "-1"], ["--flood", "got -1.0", "[0.0, 1000000.0]"]),
    (S + ["--flood", "nan"], ["--flood", "got nan", "finite"]),
    (S + ["--split", "5"], ["--split", "'5'", "[0, 1]"]),
    (S + ["--split", "abc"], ["--split", "'abc'", "'cycle'"]),
    (S + ["--split", "0,1"], ["--split", "'0,1'", "1 or 5"]),
    (S + ["--scenario", "bogus"], ["--scenario", "'bogus'", "concept"]),
    (S + ["--model", "bogus"], ["--model", "'bogus'", "two-layer"]),
    (S + ["--init", "bogus"], ["--init", "'bogus'", "fedavg"]),
    (S + ["--geometry", "privat"], ["--geometry", "'privat'", "orthogonal"]),
    (S + ["--lp-mode", "bogus"], ["--lp-mode", "'bogus'", "partial"]),
    (S + ["--strategies", "ft,bogus"], ["--strategies", "['bogus']", "lp-ft"]),
    (S + ["--strategies", ","], ["--strategies", "non-empty", "lp-ft"]),
    # combinations: refused, not silently changed; hints in flag syntax
    (S + ["--scenario", "covariate", "--geometry", "private", "--init", "fedavg"],
     ["--geometry private", "--scenario covariate", "auto|shared|orthogonal|random"]),
    (S + ["--scenario", "covariate"], ["--init ideal", "--scenario covariate", "use --init fedavg"]),
    (S + ["--model", "relu"], ["--init ideal", "--model relu", "--init fedavg"]),
    (S + ["--scenario", "label", "--init", "fedavg"], ["--n must be >= 1", "--scenario label"]),
    (S + ["--scenario", "combined", "--geometry", "shared", "--m", "0"], ["--geometry shared", "--m >= 1", "got 0"]),
    (S + ["--scenario", "combined", "--geometry", "orthogonal", "--d", "12"],
     ["--geometry orthogonal", "--d >=", "= 13, got 12"]),
    # output paths, before any work
    (S + ["--json", ""], ["--json", "''", "file path"]),
    (S + ["--json", "{tmp}/folder"], ["--json", "folder", "is a folder"]),
    (S + ["--json", "{tmp}/exists.json"], ["--json", "exists.json", "--force"]),
    (S + ["--json", "{tmp}/exists.json/x.json"], ["--json", "exists.json", "is a file, not a folder"]),
    (S + ["--json", "/proc/lpft.json"], ["--json", "/proc", "system folder"]),
    (S + ["--threads", "0"], ["--threads", "got 0", "[1, 1024]"]),
    # divergence and instability: caught during the run, named by flag with the stable step
    (S + ["--eta", "2", "--steps", "2"], ["--eta 2.0", "more than 10-fold", "largest stable step"], {"work": True}),
    (S + ["--eta", "50", "--steps", "40"], ["--eta 50.0", "diverged", "largest stable step"], {"work": True}),
    (S + ["--scenario", "covariate", "--init", "fedavg", "--fed-eta", "1.5"],
     ["--fed-eta 1.5", "FedAvg", "set --fed-eta below"], {"work": True}),
    # check
    (["check", "--only", "zzz"], ["--only 'zzz'", "matches no check id", "chen"]),
    (["check", "--json", ""], ["--json", "''", "file path"]),
    (["check", "--json", "{tmp}/folder"], ["--json", "is a folder"]),
    (["check", "--json", "{tmp}/exists.json"], ["--json", "exists", "--force"]),
    (["check", "--seed", "-3"], ["--seed", "got -3", "[0, "]),
    # figures
    (["figures", "--only", "bogus"], ["--only 'bogus'", "kumar_toy"]),
    (["figures", "--format", "jpg"], ["--format", "'jpg'", "png,pdf,svg"]),
    (["figures", "--format", ","], ["--format", "','", "png,pdf,svg"]),
    (["figures", "--out", "{tmp}/exists.json"], ["--out", "exists.json", "is a file, not a folder"]),
    (["figures", "--out", "/proc/lpft-figures"], ["--out", "/proc", "cannot write"]),
    (["figures", "--out", "{tmp}/figs", "--only", "kumar_toy"], ["kumar_toy.png exists", "--force"]),
    (["figures", "--seed", "-1"], ["--seed", "got -1", "[0, "]),
    # reproduce: nothing silently overwritten, paths checked first
    (["reproduce", "--out", "{tmp}/exists.json"], ["--out", "exists.json", "is a file, not a folder"]),
    (["reproduce", "--out", "{tmp}/half-done"], ["--out", "checks.json", "--force"]),
    (["reproduce", "--out", "{tmp}/old-figures"], ["--out", "figures", "--force"]),
    (["reproduce", "--out", "/proc/lpft-out"], ["--out", "/proc", "cannot write"]),
    (["reproduce", "--out", ""], ["--out", "''", "folder path"]),
    (["reproduce", "--seed", "-1", "--out", "{tmp}/new"], ["--seed", "got -1", "[0, "]),
    # sweep
    (["sweep", "{tmp}/folder"], ["sweep file", "folder", ".toml or .json"]),
    (["sweep", "{tmp}/missing.toml"], ["missing.toml", "does not exist"]),
    (["sweep", "{tmp}/empty.toml"], ["empty.toml", "empty", "[grid]"]),
    (["sweep", "{tmp}/empty.json"], ["empty.json", "empty", "[grid]"]),
    (["sweep", "{tmp}/broken.toml"], ["broken.toml", "not valid TOML"]),
    (["sweep", "{tmp}/broken.json"], ["broken.json", "not valid JSON"]),
    (["sweep", "{tmp}/sparsity.json"], ["sparsity=1.5", "sparsity must be in [0.0, 1.0)", "got 1.5"]),
    (["sweep", "{tmp}/mu.json"], ["mu=-1.0", "mu must be in [0.0, 1000000.0]"]),
    (["sweep", "{tmp}/etta.json"], ["[grid].etta", "not a configuration field", "eta"]),
    (["sweep", "{tmp}/steps.json"], ["[grid].steps", "must be int", "1.5"]),
    (["sweep", "{tmp}/huge.json"], ["1_000_000 configurations", "at most 100_000"]),
    (["sweep", "{tmp}/good.json", "--jobs", "0", "--out", "{tmp}/s1"], ["--jobs", "got 0", "[1, 1024]"]),
    (["sweep", "{tmp}/good.json", "--out", "{tmp}/exists.json"], ["--out", "exists.json", "is a file, not a folder"]),
    (["sweep", "{tmp}/good.json", "--out", "{tmp}/sweep-out"], ["already holds a sweep", "--resume"]),
    (["sweep", "{tmp}/good.json", "--out", "{tmp}/sweep-out", "--resume"], ["holds a different sweep", "--force"]),
    # real (the digits study): options checked before loading any data
    (["real", "--device", "tpu"], ["--device", "tpu", "cpu, cuda or cuda:N"]),
    (["real", "--device", "cuda:99"], ["--device", "cuda:99", "no such CUDA device"]),
    (["real", "--seeds", "1"], ["seeds", "got 1", "[2, "]),
    (["real", "--clients", "0"], ["clients", "got 0", "[2, "]),
    (["real", "--eta", "0"], ["eta", "got 0.0", "(0.0, 1000000.0]"]),
    (["real", "--scenario", "bogus"], ["scenario", "'bogus'", "covariate"]),
    (["real", "--json", "{tmp}/folder"], ["--json", "is a folder"]),
    # strategies and the global options
    (["strategies", "--threads", "0"], ["--threads", "got 0", "[1, 1024]"]),
    (["--threads", "-2", "strategies"], ["--threads", "got -2", "[1, 1024]"]),
]
R = "1000000.0]"  # the cap of every real knob without a natural bound (experiment.REAL_MAX)
CASES += [  # issue 26's audit
    # numbers that do not parse: one line naming the flag and the range, not argparse's usage block
    (S + ["--steps", "1.5"], ["--steps", "'1.5'", "integer in [0, 1_000_000]"]),
    (S + ["--steps", "abc"], ["--steps", "'abc'", "integer"]),
    (S + ["--d", "2.5"], ["--d", "'2.5'", "integer in [1, inf]"]),
    (S + ["--clients", "x"], ["--clients", "'x'", "[2, 10_000]"]),
    (S + ["--n-eval", "1e3"], ["--n-eval", "'1e3'", "integer"]),
    (S + ["--rounds", ""], ["--rounds", "''", "integer"]),
    (S + ["--eta", "abc"], ["--eta", "'abc'", "real number in (0.0, " + R]),
    (S + ["--lam", ""], ["--lam", "''", "real number"]),
    (S + ["--seed", "1.5"], ["--seed", "'1.5'", "integer"]),
    (S + ["--seed", "99999999999999999999"], ["--seed", "got 99999999999999999999", "[0, "]),
    # overflow: every real knob is capped (float64 squares them)
    (S + ["--noise", "1e300"], ["--noise", "got 1e+300", R]),
    (S + ["--lam", "1e7"], ["--lam", "got 10000000.0", R]),
    (S + ["--eps", "1e300"], ["--eps", "got 1e+300", R]),
    (S + ["--shift", "1e300"], ["--shift", "got 1e+300", R]),
    (S + ["--alpha", "1e300"], ["--alpha", "got 1e+300", R]),
    (S + ["--mu", "1e300"], ["--mu", "got 1e+300", R]),
    (S + ["--purify-lam", "1e300"], ["--purify-lam", "got 1e+300", R]),
    (S + ["--lss-div", "1e300"], ["--lss-div", "got 1e+300", R]),
    (S + ["--lss-aff", "1e7"], ["--lss-aff", "got 10000000.0", R]),
    (S + ["--align-lam", "1e300"], ["--align-lam", "got 1e+300", R]),
    (S + ["--flood", "1e300"], ["--flood", "got 1e+300", R]),
    (S + ["--eta", "1e300"], ["--eta", "got 1e+300", R]),
    (S + ["--fed-eta", "1e7"], ["--fed-eta", "got 10000000.0", R]),
    (S + ["--lp-eta", "1e7"], ["--lp-eta", "got 10000000.0", R]),
    (S + ["--eta", "inf"], ["--eta", "got inf", "finite"]),
    (S + ["--lam=-inf"], ["--lam", "got -inf", "finite"]),
    (S + ["--lam", "-inf"], ["--lam", "expected one argument"]),  # argparse reads -inf as an option: say --lam=-inf
    (S + ["--noise", "nan"], ["--noise", "got nan", "finite"]),
    # the memory guard: every array, the size behind the largest one named with what fits
    (S + ["--n-eval", "6000000"], ["--n-eval 6000000", "GiB", "samples", "--n-eval must be in [1, "]),
    (S + ["--model", "relu", "--init", "fedavg", "--n", "100", "--n-eval", "2000000", "--width", "64"],
     ["--n-eval 2000000", "cross", "--n-eval must be in [1, "]),
    (S + ["--model", "relu", "--init", "fedavg", "--n", "10000000"], ["--n 10000000", "GiB", "--n must be in [1, "]),
    (S + ["--model", "deep", "--init", "fedavg", "--width", "100000"], ["--width 100000", "params", "--width must be in [1, "]),
    (S + ["--model", "deep", "--init", "fedavg", "--depth", "100", "--width", "1000"],
     ["--width 1000", "--depth 100", "--width must be in [1, "]),
    (S + ["--d", "20000", "--clients", "10000", "--m", "0"], ["--d 20000", "even --d 1 does not fit", "--clients"]),
    (S + ["--scenario", "label", "--init", "fedavg", "--n", "10", "--lp-mode", "steps", "--n-eval", "3000000"],
     ["--n-eval 3000000", "GiB", "--n-eval must be in [1, "]),
    (S + ["--d", "99999999999999999999"], ["--d 99999999999999999999", "GiB", "--d must be in [1, "]),
    # choices are exact (no case folding, no scenario outside simulate's list)
    (S + ["--scenario", "kumar"], ["--scenario", "'kumar'", "concept"]),
    (S + ["--model", "Two-layer"], ["--model", "'Two-layer'", "two-layer"]),
    (S + ["--init", "Ideal"], ["--init", "'Ideal'", "fedavg"]),
    (S + ["--lp-mode", "EXACT"], ["--lp-mode", "'EXACT'", "steps"]),
    # no abbreviations: an unknown or shortened option is refused with the closest one
    (S + ["--lora", "3"], ["--lora 3", "did you mean --lora-rank"]),
    (S + ["--seeds", "3"], ["--seeds 3", "did you mean --seed"]),
    (S + ["--str", "ft"], ["--str ft", "did you mean --strategies"]),
    (S + ["--n-e", "10"], ["--n-e 10", "did you mean --n-eval"]),
    (S + ["--dept", "3"], ["--dept 3", "did you mean --depth"]),
    (S + ["--sparse", "0.5"], ["--sparse 0.5", "did you mean --sparsity"]),
    (S + ["extra"], ["unrecognized", "extra"]),
    # combinations caught up front, in flag syntax (not at run time with internal wording)
    (S + ["--width", "10"], ["--init ideal", "--width 10", "k = --m + --clients = 8", "--init fedavg"]),
    (S + ["--width", "3"], ["--init ideal", "--width 3", "= 8"]),
    (S + ["--scenario", "label", "--init", "fedavg", "--n", "10"], ["--lp-mode exact", "--scenario label", "--lp-mode steps"]),
    (S + ["--scenario", "longtail", "--init", "fedavg", "--n", "10", "--lp-mode", "partial"],
     ["--lp-mode partial", "cross-entropy", "--lp-mode steps"]),
    (S + ["--scenario", "label", "--init", "fedavg", "--n", "10", "--n-classes", "30", "--lp-mode", "steps"],
     ["--n-classes must be in [2, 20]", "got 30"]),
    (S + ["--model", "relu", "--init", "fedavg"], ["--n must be >= 1", "--model relu"]),
    (S + ["--model", "deep"], ["--init ideal", "--model deep"]),
    (S + ["--model", "linear"], ["--init ideal", "--model linear"]),
    (S + ["--split", "-1"], ["--split", "'-1'", "[0, 1]"]),
    (S + ["--split", "1,2,3"], ["--split", "'1,2,3'", "1 or 5"]),
    (S + ["--split", "0,1,1,2,9"], ["--split", "'0,1,1,2,9'", "[0, 1]"]),
    (S + ["--strategies", ""], ["--strategies", "non-empty"]),
    (S + ["--strategies", "ft,lp-ftt"], ["--strategies", "['lp-ftt']"]),
    # flooding above every client's starting loss only ascends; a diverging LoRA run is reported, not a crash
    (S + ["--flood", "1e5", "--steps", "3"], ["--flood 100000.0", "only ascend", "--flood must be in [0, "], {"work": True}),
    (S + ["--strategies", "lora", "--eta", "5", "--steps", "30"], ["diverged", "LoRA", "--eta 5.0"], {"work": True}),
    # threads
    (S + ["--threads", "99999999999999999999"], ["--threads", "got 99999999999999999999", "[1, 1024]"]),
    (S + ["--threads", "10000"], ["--threads", "got 10000", "[1, 1024]"]),
    (S + ["--threads", "abc"], ["--threads", "'abc'", "[1, 1024]"]),
    (S + ["--threads", ""], ["--threads", "''", "[1, 1024]"]),
    (S + ["--threads", "1.5"], ["--threads", "'1.5'", "[1, 1024]"]),
    # --json: never through to a device, a pipe or a system folder
    (S + ["--json", "{tmp}/dev-link.json", "--force"], ["--json", "dev-link.json", "a device", "/dev/null"]),
    (S + ["--json", "/dev/null", "--force"], ["--json /dev/null", "a device"]),
    (S + ["--json", "/dev/stdout", "--force"], ["--json /dev/stdout"]),
    (S + ["--json", "{tmp}/broken-link.json"], ["--json", "broken symlink"]),
    (S + ["--json", "/sys/lpft.json"], ["--json", "/sys", "system folder"]),
    # check
    (["check", "--only", ""], ["--only ''", "--list"]),
    (["check", "--claims", "{tmp}/missing.py"], ["--claims", "missing.py", "no such file"]),
    (["check", "--claims", "{tmp}/claims.txt"], ["--claims", "claims.txt", "(.py)"]),
    (["check", "--claims", "{tmp}/claims-folder.py"], ["--claims", "claims-folder.py", "is a folder"]),
    (["check", "--claims", ""], ["--claims ''", "Python file"]),
    (["check", "--claims", "{tmp}/missing.py", "--only", "chen"], ["--claims", "no --only or --list"]),
    (["check", "--list", "--claims", "{tmp}/missing.py"], ["--claims", "no --only or --list"]),
    (["check", "--list", "--only", "zzz"], ["--only 'zzz'", "matches no check id"]),
    (["check", "--seed", "1.5"], ["--seed", "'1.5'", "integer"]),
    (["check", "--jsn", "x.json"], ["--jsn", "did you mean --json"]),
    (["check", "--quik"], ["--quik", "did you mean --quick"]),
    (["check", "--json", "/dev/null", "--force"], ["--json /dev/null", "a device"]),
    # figures
    (["figures", "--only", ""], ["--only ''", "is not a figure"]),
    (["figures", "--format", "PNG"], ["--format", "'PNG'", "png,pdf,svg"]),
    (["figures", "--format", "png,jpg"], ["--format", "'png,jpg'"]),
    (["figures", "--seed", "abc"], ["--seed", "'abc'", "integer"]),
    (["figures", "--out", "/dev/null"], ["--out", "/dev/null", "not a folder"]),
    (["figures", "--lst"], ["--lst", "did you mean --list"]),
    # reproduce
    (["reproduce", "--out", "/dev/null"], ["--out", "/dev/null", "not a folder"]),
    (["reproduce", "--seed", "abc"], ["--seed", "'abc'", "integer"]),
    (["reproduce", "--quik"], ["--quik", "did you mean --quick"]),
    (["reproduce", "--seed", "-5", "--out", "{tmp}/new"], ["--seed", "got -5", "[0, "]),
    # real (options before any data is read)
    (["real", "--seed", "7"], ["--seed 7", "did you mean --seeds"]),
    (["real", "--seeds", "101"], ["seeds", "got 101", "[2, 100]"]),
    (["real", "--seeds", "1.5"], ["--seeds", "'1.5'", "integer"]),
    (["real", "--clients", "101"], ["clients", "got 101", "[2, 100]"]),
    (["real", "--max-rounds", "0"], ["--max-rounds", "got 0"]),
    (["real", "--max-rounds", "abc"], ["--max-rounds", "'abc'", "integer"]),
    (["real", "--eta", "1e300"], ["--eta", "got 1e+300", R]),
    (["real", "--eta", "nan"], ["--eta", "got nan", "finite"]),
    (["real", "--model", "rnn"], ["--model", "'rnn'", "mlp"]),
    (["real", "--json", ""], ["--json", "''", "file path"]),
    (["real", "--json", "/dev/null", "--force"], ["--json /dev/null", "a device"]),
    # sweep files
    (["sweep", "{tmp}/dup-eta.json"], ["[grid].eta lists 0.1 twice"]),
    (["sweep", "{tmp}/dup-int.json"], ["[grid].eta lists 1.0 twice"]),
    (["sweep", "{tmp}/dup-key.json"], ["dup-key.json", "not valid JSON", "'grid' appears twice"]),
    (["sweep", "{tmp}/dup-table.toml"], ["dup-table.toml", "not valid TOML", "grid"]),
    (["sweep", "{tmp}/nseeds-bool.json"], ["[sweep].n_seeds", "True (bool)"]),
    (["sweep", "{tmp}/nseeds-huge.json"], ["[sweep].n_seeds", "1000000000", "[1, 100_000]"]),
    (["sweep", "{tmp}/nseeds-float.json"], ["[sweep].n_seeds", "2.5 (float)"]),
    (["sweep", "{tmp}/name-int.json"], ["[sweep].name", "42 (int)"]),
    (["sweep", "{tmp}/name-empty.json"], ["[sweep].name", "non-empty string"]),
    (["sweep", "{tmp}/dup-seeds.json"], ["[sweep].seeds lists 1 twice"]),
    (["sweep", "{tmp}/dup-strat.json"], ["[sweep].strategies lists 'ft' twice"]),
    (["sweep", "{tmp}/no-strat.json"], ["[sweep].strategies", "non-empty"]),
    (["sweep", "{tmp}/bad-strat.json"], ["strategies", "['bogus']"]),
    (["sweep", "{tmp}/nested.json"], ["[grid].eta must be float", "[0.1] (list)"]),
    (["sweep", "{tmp}/base-str.json"], ["[base].d must be int", "'10' (str)"]),
    (["sweep", "{tmp}/base-bool.json"], ["[base].d must be int", "True (bool)"]),
    (["sweep", "{tmp}/grid-empty.json"], ["[grid].eta", "non-empty list"]),
    (["sweep", "{tmp}/seed-field.json"], ["[grid].seed", "not a configuration field"]),
    (["sweep", "{tmp}/both-seeds.json"], ["[sweep].seeds or [sweep].n_seeds"]),
    (["sweep", "{tmp}/section-list.json"], ["[base] must be a table"]),
    (["sweep", "{tmp}/top-list.json"], ["expected a table"]),
    (["sweep", "{tmp}/sweep.yaml"], ["sweep.yaml", "'.yaml' is not supported", ".toml or .json"]),
    (["sweep", "{tmp}/sweep"], ["(none)", ".toml or .json"]),
    (["sweep", "{tmp}/latin1.toml"], ["latin1.toml", "not UTF-8"]),
    (["sweep", ""], ["sweep file", "''"]),
    # sweep output and workers, before any point runs
    (["sweep", "{tmp}/good.json", "--out", "{tmp}/csv-folder"], ["results.csv is a folder", "another --out"]),
    (["sweep", "{tmp}/good.json", "--out", "{tmp}/cache-file"], ["cache is a file", "another --out"]),
    (["sweep", "{tmp}/good.json", "--out", "/dev/null"], ["--out", "/dev/null", "not a folder"]),
    (["sweep", "{tmp}/good.json", "--out", ""], ["--out", "''", "folder path"]),
    (["sweep", "{tmp}/good.json", "--jobs", "1025", "--out", "{tmp}/s2"], ["--jobs", "got 1025", "[1, 1024]"]),
    (["sweep", "{tmp}/good.json", "--jobs", "two"], ["--jobs", "'two'", "integer in [1, 1024]"]),
    (["sweep", "{tmp}/big-mem.json", "--jobs", "4", "--out", "{tmp}/s3"], ["--jobs 4", "GiB", "--jobs must be in [1, "]),
    (["sweep", "{tmp}/good.json", "--backend", "spark"], ["--backend", "'spark'", "dask"]),
    (["sweep", "{tmp}/good.json", "--res"], ["--res", "did you mean --resume"]),
    (["sweep", "{tmp}/good.json", "--scheduler", "tcp://127.0.0.1:8786"], ["--scheduler", "needs --backend dask"]),
    (["figures", "--format", "png,png"], ["--format", "'png,png'", "each format once"]),
    # the top level
    ([], ["COMMAND"]),
    (["bogus"], ["'bogus'", "simulate"]),
    (["strategies", "extra"], ["unrecognized", "extra"]),
    (["--threads", "abc", "strategies"], ["--threads", "'abc'", "[1, 1024]"]),
]


def _case_id(case):
    return " ".join(a.replace("{tmp}/", "") for a in case[0])[:60] or "empty"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_cli_input_is_one_line_exit_2(case, env, capsys):
    argv, needles, opts = case[0], case[1], (case[2] if len(case) > 2 else {})
    if opts.get("work"):
        env["monkeypatch"].setattr(env["experiment"], "build_scenario", env["build_scenario"])
    argv = [a.replace("{tmp}", str(env["tmp"])) for a in argv]
    before = sorted(str(q) for q in env["tmp"].rglob("*"))
    assert main(argv) == 2
    assert sorted(str(q) for q in env["tmp"].rglob("*")) == before  # refused before writing anything
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert re.match(r"lpft( \w+)?: ", err), err
    for needle in needles:
        assert needle in err, (needle, err)
    assert "nan" not in captured.out.lower()


ENV_VALUES = ["many", "abc", "0", "-1", "", "1.5", "99999999999999999999", "2000", " "]


@pytest.mark.parametrize("value", ENV_VALUES)
def test_lpft_threads_environment_variable_is_checked(value, env, capsys, monkeypatch):
    """A bad LPFT_THREADS is one line (exit 2) without --threads; --threads overrides it."""
    monkeypatch.setenv("LPFT_THREADS", value)
    assert main(["strategies"]) == 2
    err = capsys.readouterr().err
    assert "LPFT_THREADS" in err and "[1, 1024]" in err and len(err.strip().splitlines()) == 1
    assert main(["strategies", "--threads", "1"]) == 0


_INIT = (Path(__file__).resolve().parent.parent / "lpft_theory" / "__init__.py").read_text()


@pytest.mark.xfail("configure(strict=False)" not in _INIT, strict=True,
                   reason="needs lpft_theory/__init__.py to call threads.configure(strict=False) at import")
def test_bad_lpft_threads_does_not_break_the_import():
    """The package imports with a bad LPFT_THREADS (1 thread); the CLI then refuses it in one line."""
    import subprocess
    import sys

    env = {**__import__("os").environ, "LPFT_THREADS": "abc"}
    code = "import lpft_theory; from lpft_theory import threads; print(threads.count(), threads.env_error())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.startswith("1 LPFT_THREADS must be an integer"), out.stderr
    cli_run = subprocess.run([sys.executable, "-m", "lpft_theory.cli", "strategies"], capture_output=True, text=True,
                             env=env)
    assert cli_run.returncode == 2 and cli_run.stderr.strip().count("\n") == 0 and "LPFT_THREADS" in cli_run.stderr


def test_interrupt_and_os_errors_are_one_line(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    def denied(args):
        raise PermissionError(13, "Permission denied", "out/report.md")

    for func, code, needle in [(interrupted, 130, "interrupted"), (denied, 2, "Permission denied")]:
        monkeypatch.setattr(cli, "cmd_strategies", func)
        assert main(["strategies"]) == code
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1


# API: (call, exception type, needles) — the same checks, naming the parameter instead of the flag
def _api_cases(tmp):
    import synthetic
    from lpft_theory.experiment import Config, simulate
    from lpft_theory.io import check_output_file, write_json_atomic
    from lpft_theory import threads
    from lpft_theory.sweep import load, parse, run_sweep
    from paper_checks.report import reproduce

    good = parse({"grid": {"eta": [0.1]}, "base": {"d": 10, "m": 1, "clients": 2}})
    (tmp / "a-file").write_text("x")
    (tmp / "s.yaml").write_text("grid: {}\n")
    (tmp / "dup.json").write_text('{"grid": {"eta": [0.1]}, "grid": {"lam": [1.0]}}')
    (tmp / "csv-out" / "results.csv").mkdir(parents=True)
    (tmp / "dev-link").symlink_to("/dev/null")
    (tmp / "broken-link").symlink_to(tmp / "nowhere" / "x.json")
    (tmp / "held").mkdir()
    (tmp / "held" / "config.json").write_text("{}")
    return [
        (lambda: Config(sparsity=1.5).validate(), ValueError, ["sparsity", "1.5", "[0.0, 1.0)"]),
        (lambda: Config(clients=1).validate(), ValueError, ["clients", "got 1", "[2, 10000]"]),
        (lambda: Config(d=100000).validate(), ValueError, ["d=100000", "GiB", "d must be in [1, "]),
        (lambda: Config(eta="0.1").validate(), TypeError, ["eta", "'0.1'", "real number"]),
        (lambda: Config(steps=1.5).validate(), TypeError, ["steps", "1.5", "integer"]),
        (lambda: Config(flood=float("nan")).validate(), ValueError, ["flood", "nan", "finite"]),
        (lambda: Config(scenario="covariate", geometry="private", init="fedavg").validate(), ValueError,
         ["geometry='private'", "scenario='covariate'"]),
        (lambda: Config(scenario="label").validate(), ValueError, ["init='ideal'", "init='fedavg'"]),
        (lambda: simulate(Config(eta=2.0, steps=2)), FloatingPointError, ["eta=2.0", "largest stable step"]),
        (lambda: parse({}), ValueError, ["empty"]),
        (lambda: parse({"grid": {"sparsity": [1.5]}}), ValueError, ["sparsity=1.5", "[0.0, 1.0)"]),
        (lambda: run_sweep(good, tmp / "a-file", progress=False), NotADirectoryError, ["a-file", "not a folder"]),
        (lambda: run_sweep(good, tmp / "s", n_jobs=0, progress=False), ValueError, ["n_jobs", "got 0", "[1, 1024]"]),
        (lambda: run_sweep(good, tmp / "s", backend="spark", progress=False), ValueError, ["backend", "'spark'"]),
        (lambda: reproduce(tmp / "a-file"), NotADirectoryError, ["a-file", "not a folder"]),
        (lambda: reproduce(tmp / "held"), FileExistsError, ["config.json", "--force"]),
        (lambda: check_output_file(""), ValueError, ["''", "file path"]),
        (lambda: write_json_atomic(tmp, {}, overwrite=True), IsADirectoryError, ["is a folder"]),
        (lambda: synthetic.concept_shift(d=5, m=3, n_clients=5), ValueError, ["m + n_clients <= d", "d=5"]),
        # issue 26
        (lambda: Config(noise=1e300).validate(), ValueError, ["noise", "1e+300", "1000000.0]"]),
        (lambda: Config(width=10).validate(), ValueError, ["init='ideal'", "width=10", "= 8"]),
        (lambda: Config(scenario="label", init="fedavg", n=10).validate(), ValueError, ["lp_mode='exact'", "steps"]),
        (lambda: Config(scenario="label", init="fedavg", n=10, lp_mode="steps", n_classes=30).validate(), ValueError,
         ["n_classes must be in [2, 20]"]),
        (lambda: Config(n_eval=6_000_000).validate(), ValueError, ["n_eval=6000000", "n_eval must be in [1, "]),
        (lambda: Config(model="deep", init="fedavg", width=100_000).validate(), ValueError, ["width must be in [1, "]),
        (lambda: simulate(Config(flood=1e5, steps=2)), ValueError, ["flood=100000.0", "only ascend"]),
        (lambda: simulate(Config(strategies=("lora",), eta=5.0, steps=30)), FloatingPointError, ["LoRA", "eta=5.0"]),
        (lambda: parse({"grid": {"eta": [0.1, 0.1]}}), ValueError, ["[grid].eta lists 0.1 twice"]),
        (lambda: parse({"grid": {"eta": [0.1]}, "sweep": {"n_seeds": True}}), ValueError, ["[sweep].n_seeds", "bool"]),
        (lambda: parse({"grid": {"eta": [0.1]}, "sweep": {"n_seeds": 10**9}}), ValueError, ["[sweep].n_seeds", "[1, 100_000]"]),
        (lambda: parse({"grid": {"eta": [0.1]}, "sweep": {"name": 42}}), ValueError, ["[sweep].name", "42"]),
        (lambda: load(tmp / "s.yaml"), ValueError, ["'.yaml' is not supported"]),
        (lambda: load(tmp / "dup.json"), ValueError, ["'grid' appears twice"]),
        (lambda: run_sweep(good, tmp / "csv-out", progress=False), IsADirectoryError, ["results.csv is a folder"]),
        (lambda: threads.parse("abc"), ValueError, ["threads", "'abc'", "[1, 1024]"]),
        (lambda: threads.configure(0), ValueError, ["threads", "got 0", "[1, 1024]"]),
        (lambda: threads.configure(2000), ValueError, ["threads", "got 2000", "[1, 1024]"]),
        (lambda: threads.configure(True), ValueError, ["threads", "True"]),
        (lambda: write_json_atomic(tmp / "dev-link", {}, overwrite=True), ValueError, ["a device", "/dev/null"]),
        (lambda: check_output_file("/dev/null", overwrite=True), ValueError, ["/dev/null", "a device"]),
        (lambda: check_output_file("/proc/x.json"), ValueError, ["/proc", "system folder"]),
        (lambda: check_output_file(tmp / "broken-link"), ValueError, ["broken symlink"]),
    ]


def test_bad_api_input_raises_the_named_error(tmp_path, monkeypatch):
    import paper_checks.report

    monkeypatch.setattr(paper_checks.report, "run_checks", _trip)
    cases = _api_cases(tmp_path)
    for call, exc, needles in cases:
        with pytest.raises(exc) as info:
            call()
        for needle in needles:
            assert needle in str(info.value), (needle, str(info.value))


def test_the_table_has_at_least_200_cases(tmp_path):
    assert len(CASES) + len(ENV_VALUES) + len(_api_cases(tmp_path)) >= 200


def test_a_divergence_report_describes_any_step_size_form():
    """The report once crashed on a LoRA run's scalar step ('float' object is not iterable)."""
    from lpft_theory.dynamics import _describe_eta

    assert _describe_eta(0.5) == "0.5"
    assert _describe_eta(np.full(3, 0.2)) == "0.2"
    assert _describe_eta((0.1, np.array([0.1, 0.3]))) == "0.1..0.3"


@pytest.mark.parametrize("kw", [
    {},
    {"d": 160, "clients": 10},
    {"scenario": "covariate", "init": "fedavg", "rounds": 1, "width": 64, "d": 80, "clients": 6},
    {"model": "relu", "init": "fedavg", "n": 30, "n_eval": 3000, "width": 64, "clients": 6, "rounds": 1},
    {"scenario": "label", "init": "fedavg", "n": 30, "n_eval": 3000, "width": 16, "clients": 6, "n_classes": 10,
     "lp_mode": "steps", "rounds": 1},
    {"scenario": "covariate", "model": "deep", "init": "fedavg", "width": 150, "depth": 6, "rounds": 1, "eta": 1e-4,
     "fed_eta": 1e-4, "n_eval": 200},
    {"scenario": "covariate", "init": "fedavg", "n": 4000, "d": 60, "rounds": 1, "eta": 0.01, "fed_eta": 0.01},
])
def test_memory_estimate_bounds_the_measured_peak(kw):
    """The guard's estimate against tracemalloc's peak (numpy's arrays are traced) on small sizes: never below
    it, at most MEMORY_FACTOR times it."""
    import tracemalloc

    from lpft_theory.experiment import Config, simulate

    cfg = Config(**{"steps": 1, "local_steps": 1, **kw}).validate()
    tracemalloc.start()
    try:
        simulate(cfg)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    ratio = cfg.memory_bytes() / peak
    assert 1.0 <= ratio <= MEMORY_FACTOR, (ratio, kw)


MEMORY_FACTOR = 3.5
