"""Every bad input is refused before any work, with exit code 2 and one line naming the flag, the value
and the allowed range — never a traceback, a hang, NaN or a silent change (issue 15).

Each CLI case runs in-process through ``lpft_theory.cli.main``. A tripwire replaces every expensive entry
point (scenario building, the paper checks, figure rendering, the real-data run, sweep workers), so a case
that is not refused up front fails at once instead of running for minutes; the few cases that must start
work to be caught (an unstable step size) say so with ``work=True``.
"""
from __future__ import annotations

import json

import pytest

from lpft_theory import cli
from lpft_theory.cli import main


class WorkStarted(BaseException):
    """Raised by the tripwire: a bad input reached the computation (BaseException: main must not catch it)."""


def _trip(*args, **kwargs):
    raise WorkStarted


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Files the cases point at, and the tripwire on every expensive entry point."""
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
    return {"tmp": tmp_path, "build_scenario": real_build, "monkeypatch": monkeypatch, "experiment": experiment}


# (argv, needles that must all appear in the one-line message[, options])
S = ["simulate"]
CASES = [
    # simulate: every range, the options of unselected strategies included
    (S + ["--eta", "0"], ["--eta", "got 0.0", "(0.0, inf)"]),
    (S + ["--eta", "nan"], ["--eta", "got nan", "finite"]),
    (S + ["--eta", "-1"], ["--eta", "got -1.0", "(0.0, inf)"]),
    (S + ["--fed-eta", "0"], ["--fed-eta", "got 0.0", "(0.0, inf)"]),
    (S + ["--lp-eta", "-0.1"], ["--lp-eta", "got -0.1", "(0.0, inf)"]),
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
    (S + ["--lam", "-1"], ["--lam", "got -1.0", "[0.0, inf)"]),
    (S + ["--eps", "-0.5"], ["--eps", "got -0.5", "[0.0, inf)"]),
    (S + ["--shift", "inf"], ["--shift", "got inf", "finite"]),
    (S + ["--overlap", "2"], ["--overlap", "got 2.0", "[0.0, 1.0]"]),
    (S + ["--alpha", "0"], ["--alpha", "got 0.0", "(0.0, inf)"]),
    (S + ["--noise", "-1"], ["--noise", "got -1.0", "[0.0, inf)"]),
    (S + ["--lp-alpha", "1.5"], ["--lp-alpha", "got 1.5", "[0.0, 1.0]"]),
    (S + ["--mu", "-1"], ["--mu", "got -1.0", "[0.0, inf)"]),  # proximal not selected: still refused
    (S + ["--sparsity", "1.0"], ["--sparsity", "got 1.0", "[0.0, 1.0)"]),
    (S + ["--sparsity", "1.5", "--strategies", "sparse"], ["--sparsity", "got 1.5", "[0.0, 1.0)"]),
    (S + ["--soup-size", "0"], ["--soup-size", "got 0", "[1, 1000]"]),
    (S + ["--lss-verts", "-1"], ["--lss-verts", "got -1", "[0, 1000]"]),
    (S + ["--lss-div", "-1"], ["--lss-div", "got -1.0", "[0.0, inf)"]),
    (S + ["--lss-aff", "nan"], ["--lss-aff", "got nan", "finite"]),
    (S + ["--purify-lam", "-1"], ["--purify-lam", "got -1.0", "[0.0, inf)"]),
    (S + ["--residual-alpha", "2"], ["--residual-alpha", "got 2.0", "[0.0, 1.0]"]),
    (S + ["--align-lam", "-1"], ["--align-lam", "got -1.0", "[0.0, inf)"]),
    (S + ["--flood", "-1"], ["--flood", "got -1.0", "[0.0, inf)"]),
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
    (S + ["--json", "/proc/lpft.json"], ["--json", "/proc", "cannot write"]),
    (S + ["--threads", "0"], ["--threads", "got 0", ">= 1"]),
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
    (["sweep", "{tmp}/mu.json"], ["mu=-1.0", "mu must be in [0.0, inf)"]),
    (["sweep", "{tmp}/etta.json"], ["[grid].etta", "not a configuration field", "eta"]),
    (["sweep", "{tmp}/steps.json"], ["[grid].steps", "must be int", "1.5"]),
    (["sweep", "{tmp}/huge.json"], ["1_000_000 configurations", "at most 100_000"]),
    (["sweep", "{tmp}/good.json", "--jobs", "0", "--out", "{tmp}/s1"], ["--jobs", "got 0", "[1, 1024]"]),
    (["sweep", "{tmp}/good.json", "--out", "{tmp}/exists.json"], ["--out", "exists.json", "is a file, not a folder"]),
    (["sweep", "{tmp}/good.json", "--out", "{tmp}/sweep-out"], ["already holds a sweep", "--resume"]),
    (["sweep", "{tmp}/good.json", "--out", "{tmp}/sweep-out", "--resume"], ["holds a different sweep", "--force"]),
    # real (the digits study): options checked before loading any data
    (["real", "--seeds", "1"], ["seeds", "got 1", "[2, "]),
    (["real", "--clients", "0"], ["clients", "got 0", "[2, "]),
    (["real", "--eta", "0"], ["eta", "got 0.0", "(0.0, inf)"]),
    (["real", "--scenario", "bogus"], ["scenario", "'bogus'", "covariate"]),
    (["real", "--json", "{tmp}/folder"], ["--json", "is a folder"]),
    # strategies and the global options
    (["strategies", "--threads", "0"], ["--threads", "got 0", ">= 1"]),
    (["--threads", "-2", "strategies"], ["--threads", "got -2", ">= 1"]),
]


def _case_id(case):
    return " ".join(a.replace("{tmp}/", "") for a in case[0])[:60] or "empty"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_cli_input_is_one_line_exit_2(case, env, capsys):
    argv, needles, opts = case[0], case[1], (case[2] if len(case) > 2 else {})
    if opts.get("work"):
        env["monkeypatch"].setattr(env["experiment"], "build_scenario", env["build_scenario"])
    argv = [a.replace("{tmp}", str(env["tmp"])) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("lpft "), err
    for needle in needles:
        assert needle in err, (needle, err)
    assert "nan" not in captured.out.lower()


def test_lpft_threads_environment_variable_is_checked(env, capsys, monkeypatch):
    monkeypatch.setenv("LPFT_THREADS", "many")
    assert main(["strategies"]) == 2
    err = capsys.readouterr().err
    assert "LPFT_THREADS" in err and "'many'" in err and ">= 1" in err


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
    from lpft_theory.sweep import parse, run_sweep
    from paper_checks.report import reproduce

    good = parse({"grid": {"eta": [0.1]}, "base": {"d": 10, "m": 1, "clients": 2}})
    (tmp / "a-file").write_text("x")
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


def test_the_table_has_at_least_60_cases(tmp_path):
    assert len(CASES) + len(_api_cases(tmp_path)) >= 60
