"""`lpft simulate` and `lpft strategies` as a user runs them."""
import json
from dataclasses import fields

import pytest

from lpft_theory.cli import build_parser, main
from lpft_theory.experiment import Config


def test_simulate_prints_per_strategy_table(capsys):
    assert main(["simulate", "--steps", "3", "--strategies", "ft,lp,lp-ft"]) == 0
    out = capsys.readouterr().out
    for token in ("FT", "LP[exact]", "LP-FT", "local", "global", "dist_F", "|V_com|^2", "L = E[(f(x) - y)^2]"):
        assert token in out


def test_simulate_json_contract_and_determinism(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    args = ["simulate", "--scenario", "combined", "--steps", "2", "--half", "--strategies", "global,ft,lp-ft"]
    assert main(args + ["--json", str(a)]) == 0
    assert main(args + ["--json", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()  # same seed, bit-identical output
    out = json.loads(a.read_text())
    assert out["loss_convention"] == "L = 1/2 E[(f(x) - y)^2]"
    assert out["ground_truth"]["V_com_norm_sq"] > 0
    assert set(out["results"]) == {"global", "FT", "LP-FT"}
    assert out["config"]["half"] is True
    # nothing is silently overwritten
    assert main(args + ["--json", str(a)]) == 2
    assert main(args + ["--json", str(a), "--force"]) == 0


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "--help"])
    text = capsys.readouterr().out
    for f in fields(Config):
        assert "--" + f.name.replace("_", "-") in text


@pytest.mark.parametrize("argv,needle", [
    (["--eta", "0"], "eta must be in (0.0, inf)"),
    (["--m", "30"], "m + n_clients <= d"),
    (["--strategies", "ft,bogus"], "unknown ['bogus']"),
    (["--scenario", "label", "--init", "fedavg"], "n must be >= 1"),
    (["--scenario", "covariate"], "init='ideal' needs"),
    (["--overlap", "2"], "overlap must be in [0.0, 1.0]"),
])
def test_simulate_bad_input_exit_2_with_message(argv, needle, capsys):
    assert main(["simulate"] + argv) == 2
    assert needle in capsys.readouterr().err


def test_divergence_exit_3_names_step_size(capsys):
    assert main(["simulate", "--eta", "50", "--steps", "40"]) == 3
    err = capsys.readouterr().err
    assert "eta=50.0" in err and "largest stable step" in err


@pytest.mark.parametrize("argv", [
    ["--scenario", "label", "--n", "40", "--init", "fedavg", "--rounds", "3", "--lp-mode", "steps"],
    ["--scenario", "covariate", "--init", "fedavg", "--rounds", "3", "--model", "deep"],
    ["--model", "relu", "--n", "40", "--init", "fedavg", "--rounds", "3", "--n-eval", "200"],
    ["--scenario", "longtail", "--n", "30", "--init", "fedavg", "--rounds", "2", "--lp-mode", "steps"],
])
def test_simulate_other_scenarios_and_models(argv, capsys):
    assert main(["simulate", "--steps", "2"] + argv) == 0
    assert "LP-FT" in capsys.readouterr().out


def test_strategies_lists_names(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    from lpft_theory.strategies import registry

    assert len(registry.NAMES) == 12
    for name in registry.NAMES:
        assert name in out


@pytest.mark.parametrize("model,extra", [("two-layer", []), ("deep", ["--eta", "0.01"]), ("linear", []),
                                         ("relu", ["--n", "40", "--n-eval", "200"])])
def test_simulate_runs_every_strategy_on_every_model(model, extra, capsys):
    from lpft_theory.strategies import registry

    argv = ["simulate", "--model", model, "--init", "fedavg", "--rounds", "3", "--steps", "2", "--lp-mode", "steps",
            "--strategies", ",".join(registry.NAMES), "--flood", "0.05"] + extra
    assert main(argv) == 0
    out = capsys.readouterr().out
    for label in ("FT+flood", "Proximal", "Sparse", "Soup", "LSS", "Purified", "Residual", "Split"):
        assert label in out
