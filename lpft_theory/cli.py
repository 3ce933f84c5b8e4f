"""The ``lpft`` command line."""
from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import fields

from . import __version__
from . import _validate as V
from .experiment import GEOMETRIES, INITS, INT_RANGES, MODELS, REAL_RANGES, Config, flag, simulate
from .io import check_output_dir, check_output_file, write_json_atomic

HELP = {
    "scenario": "synthetic scenario: concept (Chen et al. Assumption 4.1), overlap (partial feature overlap), "
                "combined (covariate+concept, Theorem 4.5), covariate, label (Dirichlet label shift), longtail",
    "d": "input dimension d (sizes that would not fit in half the memory are refused with an estimate)",
    "m": "number of shared features m (k = m + clients)",
    "clients": "number of clients C",
    "lam": "heterogeneity lambda (private head entry)",
    "eps": "input noise level epsilon of x_i = e_i + eps z (combined, covariate)",
    "shift": "length of the client shifts e_i (combined, covariate)",
    "geometry": f"shift geometry: {'|'.join(GEOMETRIES)} (auto = private for combined, random for covariate)",
    "overlap": "overlap omega of the private features (overlap scenario)",
    "alpha": "Dirichlet concentration of the class proportions (label)",
    "n_classes": "number of classes (label, longtail)",
    "noise": "label noise standard deviation",
    "n": "training points per client; 0 = exact population moments",
    "n_eval": "Monte Carlo evaluation points per client (ReLU, classification, Delta_c)",
    "model": f"model: {'|'.join(MODELS)}",
    "width": "hidden width; 0 = k = m + clients",
    "depth": "hidden layers of the deep linear model",
    "init": f"global model: {'|'.join(INITS)} (ideal = B*, [V_com; 0]; fedavg = trained by FedAvg)",
    "rounds": "FedAvg rounds",
    "local_steps": "FedAvg local steps per round",
    "fed_eta": "FedAvg learning rate",
    "eta": "fine-tuning learning rate eta",
    "steps": "fine-tuning GD steps",
    "lp_mode": "linear-probing reading: exact|steps|partial",
    "lp_eta": "learning rate of LP in mode 'steps'",
    "lp_steps": "steps of LP in mode 'steps'",
    "lp_alpha": "fraction alpha of the way to the exact probe (mode 'partial')",
    "mu": "proximal strength mu",
    "sparsity": "fraction of parameter updates masked by SNIP",
    "soup_size": "number of fine-tuned ingredients in a soup",
    "lss_verts": "LSS: vertices added after the first",
    "lss_div": "LSS: diversity weight delta",
    "lss_aff": "LSS: affinity weight a",
    "purify_lam": "purification strength lambda (FedPuReL; 1 = full projection)",
    "residual_alpha": "residual personalization mixing alpha (FedPuReL uses 0.99)",
    "lora_rank": "LoRA: rank r of the body update W_G + A_1 A_2",
    "split": "split points s_k (client-owned body layers): 'cycle' (s_k = k mod (L+1)), one int, or one per client: 0,1,1,2",
    "align_lam": "alignment weight lambda of split FT (FlexP-SFL uses 0.25)",
    "flood": "loss-flooding level b applied to every strategy (0 = off)",
    "strategies": "comma-separated strategies (see `lpft strategies`)",
    "half": "use the 1/2 E[(f - y)^2] loss convention (default: no 1/2)",
    "seed": "random seed (same seed, bit-identical output)",
}


def _range(name: str) -> str:
    """The allowed range of a Config field as help text ("" for choices and strings)."""
    if name in INT_RANGES:
        lo, hi = INT_RANGES[name]
        return f"integer in [{lo}, {'inf' if hi is None else f'{hi:_}'}]; "
    if name in REAL_RANGES:
        r = REAL_RANGES[name]
        return (f"in {'(' if r.get('low_open') else '['}{r.get('low', '-inf')}, {r.get('high', 'inf')}"
                f"{')' if r.get('high_open') or 'high' not in r else ']'}; ")
    return ""


def _add_config_options(p: argparse.ArgumentParser) -> None:
    defaults = Config()
    for f in fields(Config):
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            p.add_argument(flag(f.name), action="store_true", help=HELP[f.name])
        elif isinstance(default, tuple):
            p.add_argument(flag(f.name), default=",".join(default), help=f"{HELP[f.name]} (default: %(default)s)")
        else:
            p.add_argument(flag(f.name), type=type(default), default=default,
                           help=f"{HELP[f.name]} ({_range(f.name)}default: %(default)s)")


def _config_from_args(args) -> Config:
    kw = {f.name: getattr(args, f.name) for f in fields(Config)}
    kw["strategies"] = tuple(s.strip().lower() for s in kw["strategies"].split(",") if s.strip())
    return Config(**kw)


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def format_table(rows: list[dict], columns: list[str]) -> str:
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _bar(total: int, desc: str, unit: str):
    """A progress bar on stderr, shown on a terminal only (quiet in logs and pipes)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None, leave=False)


def cmd_simulate(args) -> int:
    cfg = _config_from_args(args).validate(cli=True)
    with _bar(len(cfg.strategies) + (cfg.init == "fedavg"), "lpft simulate", "phase") as bar:
        out = simulate(cfg, progress=lambda phase: (bar.set_postfix_str(phase), bar.update()), cli=True)
    rows = [{"strategy": name, **vals} for name, vals in out["results"].items()]
    cols = ["strategy", "local", "global", "global_mixture", "c_std", "worst", "frac_hurt", "dist_F", "delta_c"]
    if any("acc_local" in r for r in rows):
        cols += ["acc_local", "acc_global"]
    gt = out["ground_truth"]
    print(f"scenario={gt['scenario']}  clients={gt['n_clients']}  d={gt['d']}  " +
          (f"|V_com|^2={gt['V_com_norm_sq']:.4g}  " if "V_com_norm_sq" in gt else "") +
          f"loss: {out['loss_convention']}  ({'population' if cfg.n == 0 else f'n={cfg.n} per client'})")
    print(f"global model: local loss {out['global_model_local_loss']:.4g}, global loss {out['global_model_global_loss']:.4g}")
    print("losses (lower is better); global = mean over the other clients; dist_F = ||B - B_G||_F; "
          "delta_c = Chen et al.'s feature distortion")
    print(format_table(rows, cols))
    if args.json:
        write_json_atomic(args.json, out, overwrite=args.force)
        print(f"wrote {args.json}")
    return 0


def cmd_strategies(args) -> int:
    from .strategies import registry

    for name, text in registry.describe().items():
        print(f"{name:10s} {text}")
    print(f"{'--flood b':10s} wrapper for any of them (b > 0): loss flooding, descend on |L - b| + b "
          "(gradient ascent below the flood level b; Ishida et al. 2020)")
    return 0


def _compact(evidence: dict, limit: int = 2) -> str:
    parts = []
    for k, v in list(evidence.items())[:limit]:
        if isinstance(v, dict) and {"mean", "lo", "hi"} <= set(v):
            v = f"{v['mean']:.3g} [{v['lo']:.3g}, {v['hi']:.3g}]"
        elif isinstance(v, dict):
            v = "{…}"
        parts.append(f"{k}={_fmt(v) if isinstance(v, float) else v}")
    text = "; ".join(parts)
    return text if len(text) <= 90 else text[:87] + "..."


def cmd_check(args) -> int:
    from paper_checks import run_checks, select

    with _bar(len(select(args.only)), "lpft check", "check") as bar:  # select refuses an unknown --only first
        verdicts = run_checks(quick=args.quick, seed=args.seed, only=args.only,
                              progress=lambda v: (bar.set_postfix_str(v.id), bar.update()))
    rows = [{"claim": v.id, "source": v.source, "verdict": v.status,
             "condition": (v.condition[:50] + "...") if len(v.condition) > 53 else (v.condition or "-"),
             "key numbers": _compact(v.evidence)} for v in verdicts]
    print(format_table(rows, ["claim", "source", "verdict", "condition", "key numbers"]))
    if args.json:
        write_json_atomic(args.json, {"quick": args.quick, "seed": args.seed, "verdicts": [v.to_dict() for v in verdicts]},
                          overwrite=args.force)
        print(f"wrote {args.json}")
    return 0


def cmd_figures(args) -> int:
    import figures

    if args.list:
        for name in figures.NAMES:
            print(f"{name:20s} {figures.module(name).TITLE}")
        return 0
    if args.only is not None and args.only not in figures.NAMES:
        raise ValueError(f"--only {args.only!r} is not a figure; one of: {', '.join(figures.NAMES)} (see --list)")
    names = figures.NAMES if args.only is None else [args.only]
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    bad = [f for f in formats if f not in figures.FORMATS]
    if bad or not formats:
        raise ValueError(f"--format must be a comma-separated subset of {','.join(figures.FORMATS)}, got {args.format!r}")
    existing = [f"{args.out}/{n}.{fmt}" for n in names for fmt in formats if os.path.exists(f"{args.out}/{n}.{fmt}")]
    if existing and not args.force:
        raise FileExistsError(f"{existing[0]} exists; pass --force to overwrite or choose another --out")
    with _bar(len(names), "lpft figures", "figure") as bar:
        for name in names:
            bar.set_postfix_str(name)
            figures.render(name, args.out, formats, quick=args.quick, seed=args.seed, overwrite=True)
            bar.update()
    print(f"wrote {len(names)} figure(s) to {args.out}/ ({', '.join(formats)}, with .json numbers and .config.json)")
    return 0


def cmd_reproduce(args) -> int:
    from paper_checks.report import reproduce

    res = reproduce(args.out, quick=args.quick, seed=args.seed, overwrite=args.force)
    counts = {}
    for v in res["verdicts"]:
        counts[v.status] = counts.get(v.status, 0) + 1
    print(f"wrote {args.out}/report.md, {args.out}/checks.json and {args.out}/figures/")
    print("verdicts: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0


def cmd_real(args) -> int:
    from tqdm import tqdm

    from .empirical.digits import SCENARIOS as DIGIT_SCENARIOS
    from .empirical.experiment import MODELS as REAL_MODELS
    from .empirical.experiment import QUICK, RealConfig, run_real

    V.choice("--scenario", args.scenario, DIGIT_SCENARIOS)
    V.choice("--model", args.model, tuple(REAL_MODELS))
    base = QUICK if args.quick else RealConfig()
    seeds = base.seeds if args.seeds is None else V.integer("--seeds", args.seeds, min_value=2, max_value=100)
    clients = base.clients if args.clients is None else V.integer("--clients", args.clients, min_value=2,
                                                                  max_value=100)
    max_rounds = base.max_rounds if args.max_rounds is None else V.integer("--max-rounds", args.max_rounds,
                                                                           min_value=base.chunk, max_value=100_000)
    eta = base.eta if args.eta is None else V.positive("--eta", args.eta)
    cfg = RealConfig(**{**base.__dict__, "scenario": args.scenario, "model": args.model, "seeds": seeds,
                        "clients": clients, "max_rounds": max_rounds, "eta": eta,
                        "etas": tuple(sorted(set(base.etas) | {eta}))}).validate()
    with tqdm(total=cfg.seeds, desc=f"lpft real ({cfg.scenario}, {cfg.model})", unit="seed", file=sys.stderr) as bar:
        out = run_real(cfg, progress=lambda s: bar.update())
    gm = [r["global_models"] for r in out["runs"]]
    print(f"digits, {cfg.scenario} shift, {cfg.model}, {cfg.clients} clients, {cfg.seeds} seeds. Global model: FedAvg to "
          f"a validation plateau after {[g['converged']['rounds'] for g in gm]} rounds (test accuracy "
          f"{sum(g['converged']['test_acc'] for g in gm) / len(gm):.3f}; {cfg.short_rounds} rounds: "
          f"{sum(g['short']['test_acc'] for g in gm) / len(gm):.3f}).")
    print("Accuracy, mean ± 95% CI half-width over seeds; global = other clients' test sets; chosen on validation "
          "data only; unstable = fraction of seeds whose training loss rose.")
    cols = ["strategy", "local", "global", "worst", "average_stated", "delta_c", "frac_hurt", "unstable", "mean eta"]
    for variant, table in out["summary"].items():
        rows = []
        for name, m in table.items():
            row = {"strategy": name, "unstable": m.get("frac_seeds_unstable", "")}
            for c in cols[1:-2]:
                if c in m:
                    row[c] = f"{m[c]['mean']:.3f} ±{m[c]['hi'] - m[c]['mean']:.3f}"
            if "eta" in m:
                row["mean eta"] = f"{m['eta']['mean']:.3g}"
            rows.append(row)
        print(f"\n[{variant}]")
        print(format_table(rows, cols))
    if args.json:
        write_json_atomic(args.json, out, overwrite=args.force)
        print(f"wrote {args.json}")
    return 0


def cmd_sweep(args) -> int:
    from .sweep import load, run_sweep

    spec = load(args.config)
    res = run_sweep(spec, args.out, backend=args.backend, scheduler=args.scheduler, n_jobs=args.jobs,
                    resume=args.resume, overwrite=args.force)
    print(f"{res.total} configurations: {res.computed} computed, {res.cached} from cache -> {args.out}/results.csv")
    if res.failed:
        first = res.failed[0]
        print(f"lpft sweep: {len(res.failed)} configuration(s) failed, recorded in {args.out}/failures.json; "
              f"first: {first['point']}: {first['error']}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lpft", description="Feature distortion in personalized fine-tuning: "
                                "simulate, check the papers' claims, regenerate the figures.")
    p.add_argument("--version", action="version", version=f"lpft-theory {__version__}")
    threads = dict(type=int, metavar="N", help="threads for the numerical libraries and torch, N >= 1 "
                   "(default: $LPFT_THREADS, else 1; processes, not threads, give the parallelism)")
    p.add_argument("--threads", default=None, **threads)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="one experiment: a scenario, a global model, strategies -> metrics table")
    _add_config_options(s)
    s.add_argument("--json", metavar="PATH", help="also write the full result (config, ground truth, convention) as JSON")
    s.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    s.set_defaults(func=cmd_simulate)
    st = sub.add_parser("strategies", help="list the personalized fine-tuning strategies")
    st.set_defaults(func=cmd_strategies)

    c = sub.add_parser("check", help="check every claim (the four papers and the results they rest on); print claim, verdict, condition, numbers")
    c.add_argument("--only", metavar="ID", help="only claims whose id starts with ID (e.g. chen-thm, kumar)")
    c.add_argument("--json", metavar="PATH", help="also write the verdicts with all their evidence as JSON")
    c.add_argument("--quick", action="store_true", help="small sizes and fewer seeds (as CI runs it)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    c.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    c.set_defaults(func=cmd_check)

    import figures

    f = sub.add_parser("figures", help=f"regenerate all {len(figures.NAMES)} figures with their numbers and configuration")
    f.add_argument("--only", metavar="NAME", help="one figure (see --list)")
    f.add_argument("--list", action="store_true", help="list the figures and exit")
    f.add_argument("--out", default="lpft-output/figures", metavar="DIR", help="output folder (default: %(default)s)")
    f.add_argument("--format", default="png", help="comma-separated formats from png,pdf,svg (default: %(default)s)")
    f.add_argument("--quick", action="store_true", help="small sizes and fewer seeds")
    f.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    f.add_argument("--force", action="store_true", help="overwrite existing figure files")
    f.set_defaults(func=cmd_figures)

    from .empirical.digits import SCENARIOS as DIGIT_SCENARIOS

    rl = sub.add_parser("real", help="federated digits in PyTorch: a converged FedAvg model, then every method tuned "
                        "the same way on validation data, at equal budgets and at matched Local accuracy",
                        description="FedAvg to a validation plateau, then every method over its grid (step size x "
                        "steps x its own knob), compared under each protocol variant (fixed recipe, equal budget, "
                        "tuned, matched Local; converged vs 30-round global model). Measured on a shared 2-core machine, "
                        "one thread: --quick (3 seeds, 5 clients, a small grid) about 20 s; the default (5 seeds, "
                        "10 clients) about 3 min.")
    rl.add_argument("--scenario", default="covariate", help=f"{'|'.join(DIGIT_SCENARIOS)} (default: %(default)s)")
    rl.add_argument("--model", default="mlp", help="mlp|cnn (default: %(default)s)")
    rl.add_argument("--quick", action="store_true", help="3 seeds, 5 clients, a small grid (about 20 s)")
    rl.add_argument("--seeds", type=int, default=None, help="number of seeds in [2, 100] (default: 5; 3 with --quick)")
    rl.add_argument("--clients", type=int, default=None, help="number of clients in [2, 100] (default: 10; 5 with --quick)")
    rl.add_argument("--max-rounds", type=int, default=None,
                    help="most FedAvg rounds before the validation plateau (default: 300; 150 with --quick)")
    rl.add_argument("--eta", type=float, default=None,
                    help="the fixed recipe's step size > 0, added to the tuning grid (default: 0.2)")
    rl.add_argument("--json", metavar="PATH", help="also write every seed's results and the summary as JSON")
    rl.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    rl.set_defaults(func=cmd_real)

    sw = sub.add_parser("sweep", help="a declarative sweep (TOML/JSON): cached per configuration, resumable")
    sw.add_argument("config", help="sweep file (.toml or .json); see docs/sweep_example.toml")
    sw.add_argument("--backend", default="local", choices=["local", "dask"],
                    help="local = joblib worker processes, dask = Dask distributed (default: %(default)s)")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (default: a LocalCluster on loopback)")
    sw.add_argument("--jobs", type=int, default=2, help="local worker processes, 1 to 1024 (default: %(default)s)")
    sw.add_argument("--resume", action="store_true", help="continue (or rerun) the same sweep already in --out")
    sw.add_argument("--force", action="store_true",
                    help="with --resume: replace a different sweep in --out (its cached configurations are reused)")
    sw.add_argument("--out", default="lpft-sweep", metavar="DIR", help="output folder (default: %(default)s)")
    sw.set_defaults(func=cmd_sweep)

    r = sub.add_parser("reproduce", help="the main job: every check and figure, then report.md and checks.json")
    r.add_argument("--out", default="lpft-output", metavar="DIR", help="output folder (default: %(default)s)")
    r.add_argument("--quick", action="store_true", help="small sizes and fewer seeds (about a minute on 2 cores)")
    r.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    r.add_argument("--force", action="store_true", help="overwrite an existing report, checks.json and figures/ in --out")
    r.set_defaults(func=cmd_reproduce)
    for command in sub.choices.values():  # also after the command (lpft simulate --threads 2)
        command.add_argument("--threads", default=argparse.SUPPRESS, **threads)
    return p


def _threads(args) -> None:
    from .threads import configure

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be an integer >= 1, got {args.threads}")
    configure(args.threads)  # None: $LPFT_THREADS, else 1


def _check_common(args) -> None:
    """Options shared by several commands, checked before any work: the seed, and the output paths
    (writable, the right kind, not silently overwritten)."""
    if getattr(args, "seed", None) is not None:
        V.integer("--seed", args.seed, min_value=0, max_value=INT_RANGES["seed"][1])
    if getattr(args, "json", None) is not None:
        check_output_file(args.json, overwrite=args.force, flag="--json")
    if getattr(args, "out", None) is not None:
        check_output_dir(args.out, flag="--out")


def main(argv=None) -> int:
    """Run ``lpft``; every expected error is one line on stderr and exit code 2 (130 for Ctrl-C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _threads(args)
        _check_common(args)
        return args.func(args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"lpft {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # DivergenceError and InstabilityError among them
        print(f"lpft {args.command}: diverged: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = " (finished configurations are cached: rerun with --resume)" if args.command == "sweep" else ""
        print(f"lpft {args.command}: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
