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


def test_divergence_exit_2_names_the_flag_and_step_size(capsys):
    assert main(["simulate", "--eta", "50", "--steps", "40"]) == 2
    err = capsys.readouterr().err
    assert "--eta 50.0" in err and "largest stable step" in err and "Traceback" not in err


def test_unstable_finite_loss_is_refused_not_printed(capsys):
    """--eta 2 --steps 2 gives a finite local loss ~1e5-1e7: refused, naming the flag and the stable step."""
    assert main(["simulate", "--eta", "2", "--steps", "2"]) == 2
    captured = capsys.readouterr()
    assert "became unstable with --eta 2.0" in captured.err and "set --eta below" in captured.err
    assert "FT " not in captured.out  # no table of garbage
    assert main(["simulate", "--eta", "0.5", "--steps", "2"]) == 0  # a stable step still runs


def test_one_seed_is_one_scenario_in_the_api_and_the_cli(tmp_path):
    """The README's snippet (rng=0) and `lpft simulate --seed 0` draw the same clients and numbers."""
    import synthetic
    from lpft_theory import two_layer, two_layer_params
    from lpft_theory.metrics import cross_matrix, summarize
    from lpft_theory.strategies import ft

    scen = synthetic.concept_shift(d=20, m=3, n_clients=5, lam=1.0, rng=0)
    params_G = two_layer_params(*synthetic.idealised_init(scen))
    personalized = ft(eta=0.1, steps=5)(two_layer(20, 8), params_G, scen.population).params
    api = summarize(cross_matrix(two_layer(20, 8), personalized, scen.population))["global"]
    assert main(["simulate", "--seed", "0", "--steps", "5", "--strategies", "ft", "--json", str(tmp_path / "r.json")]) == 0
    out = json.loads((tmp_path / "r.json").read_text())
    assert out["results"]["FT"]["global"] == pytest.approx(api, rel=1e-12)


@pytest.mark.parametrize("argv", [
    ["--scenario", "label", "--n", "40", "--init", "fedavg", "--rounds", "3", "--lp-mode", "steps"],
    ["--scenario", "covariate", "--init", "fedavg", "--rounds", "3", "--model", "deep", "--eta", "0.01"],
    ["--model", "relu", "--n", "40", "--init", "fedavg", "--rounds", "3", "--n-eval", "200"],
    ["--scenario", "longtail", "--n", "30", "--init", "fedavg", "--rounds", "2", "--lp-mode", "steps"],
])
def test_simulate_other_scenarios_and_models(argv, capsys):
    assert main(["simulate", "--steps", "2"] + argv) == 0
    assert "LP-FT" in capsys.readouterr().out


def test_strategies_lists_names_and_the_flooding_wrapper(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    from lpft_theory.strategies import registry

    assert len(registry.NAMES) == 13 and "lora" in registry.NAMES
    for name in registry.NAMES:
        assert name in out
    assert "--flood" in out


def test_help_states_ranges_and_defaults(capsys):
    import figures

    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    assert f"all {len(figures.NAMES)} figures" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("integer in [2, 10_000]; default: 5", "in [0.0, 1.0); default: 0.9", "--n-classes N_CLASSES number "
                   "of classes (label, longtail) (integer in [2, 1_000]"):
        assert needle in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sweep", "--help"])
    assert "(default: local)" in " ".join(capsys.readouterr().out.split())


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


def test_saved_figures_are_byte_identical_whatever_the_date(tmp_path, monkeypatch):
    """PNG, PDF and SVG carry no date or version: a rerun on another day writes the same bytes."""
    from figures import FORMATS, _style

    for i, epoch in enumerate(("0", "2000000000")):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)  # what matplotlib would stamp as the creation date
        fig, axes = _style.figure()
        axes[0].plot([0, 1], [1, 0], label=r"$\eta$")
        axes[0].legend()
        _style.save(fig, tmp_path / str(i), "f", {"x": [0, 1]}, {"seed": 0}, FORMATS)
    for fmt in FORMATS:
        assert (tmp_path / "0" / f"f.{fmt}").read_bytes() == (tmp_path / "1" / f"f.{fmt}").read_bytes(), fmt
