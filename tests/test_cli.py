"""The `lpft` command line as a user runs it: simulate, strategies, check --list and --claims, every --help."""
import json
import sys
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


def test_check_list_names_every_claim_without_running_anything(monkeypatch, capsys):
    import paper_checks

    def boom(*a, **k):
        raise AssertionError("--list ran a check")

    monkeypatch.setattr(paper_checks, "run_checks", boom)
    assert main(["check", "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    ids = paper_checks.check_ids()
    assert [ln.split()[0] for ln in lines] == ids
    assert all(len(ln.split(None, 1)) == 2 for ln in lines)  # every id has its statement
    assert main(["check", "--list", "--only", "kumar"]) == 0
    assert all(ln.startswith("kumar") for ln in capsys.readouterr().out.strip().splitlines())


def test_check_claims_runs_a_users_claims_file(tmp_path, capsys):
    f = tmp_path / "my_claims.py"
    f.write_text("import math\nfrom paper_checks.plugin import Space, for_all\n\n"
                 "for_all('my-cosine-bound', '|cos(a - b)| <= 1 on the square',\n"
                 "        space=Space(('a', 'b'), (0, 0), (6.3, 6.3)),\n"
                 "        margin=lambda p: 1 - abs(math.cos(p['a'] - p['b'])), budget=40)\n")
    out_json = tmp_path / "v.json"
    assert main(["check", "--claims", str(f), "--quick", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "my-cosine-bound" in out and "confirmed" in out
    verdicts = json.loads(out_json.read_text())["verdicts"]
    assert [v["id"] for v in verdicts] == ["my-cosine-bound"]


@pytest.mark.parametrize("command", ["simulate", "strategies", "check", "figures", "real", "sweep", "reproduce"])
def test_every_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and f"lpft {command}" in text.split("examples:")[1]


def test_simulate_help_shows_choices_and_groups(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "--help"])
    text = capsys.readouterr().out
    assert "--scenario {concept," in text and "SCENARIO" not in text and "--lp-mode {exact,steps,partial}" in text
    for title in ("scenario (the clients' data):", "model and global model:", "fine-tuning (every strategy):",
                  "strategy knobs", "output:"):
        assert title in text


def test_figure_list_prints_plain_text_not_latex(capsys):
    from lpft_theory.cli import plain_math

    assert main(["figures", "--list"]) == 0
    out = capsys.readouterr().out
    assert "$" not in out and "\\" not in out and "‖" in out
    assert plain_math(r"$\|w^*\|$ and $\lambda^{**}$, $u \in S^\perp$, $\eta c\,(1+\|V_{com}\|^2)$") == \
        "‖w*‖ and λ**, u ∈ S⊥, ηc (1+‖V_com‖²)"


def test_table_wraps_long_cells_and_aligns_text_left():
    from lpft_theory.cli import format_table

    cond = "eta c (1 + |V_com|^2) > 1 and lambda below the root of the quadratic q(lambda)"
    text = format_table([{"claim": "c1", "condition": cond, "x": 0.5}, {"claim": "longer-id", "condition": "-", "x": 12.25}],
                        ["claim", "condition", "x"], wrap={"condition": 30})
    lines = text.splitlines()
    assert len(lines) > 4 and all(len(ln) <= 9 + 2 + 30 + 2 + 5 for ln in lines)
    assert " ".join(ln[11:41].strip() for ln in lines[2:-1]) == cond  # nothing cut
    assert lines[2].startswith("c1         ") and lines[-1].startswith("longer-id  -")  # text left-aligned
    assert lines[2].endswith("  0.5") and lines[-1].endswith("12.25")  # numbers right-aligned


def test_progress_bars_only_on_a_terminal():
    import io

    from lpft_theory import cli

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert cli._bar(3, "x", "step").disable  # stderr is captured here: no bar
    real = sys.stderr
    try:
        sys.stderr = Tty()
        assert not cli._bar(3, "x", "step").disable
    finally:
        sys.stderr = real
