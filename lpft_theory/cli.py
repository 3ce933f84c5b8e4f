"""The ``lpft`` command line."""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
import textwrap
from dataclasses import fields

from . import __version__
from . import _validate as V
from .experiment import GEOMETRIES, INITS, INT_RANGES, MODELS, REAL_MAX, REAL_RANGES, Config, flag, simulate
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


#: ``lpft simulate``'s options, grouped as a user looks for them (any new Config field lands in "other").
GROUPS = {
    "scenario (the clients' data)": ("scenario", "d", "m", "clients", "lam", "eps", "shift", "geometry", "overlap",
                                     "alpha", "n_classes", "noise", "n", "n_eval"),
    "model and global model": ("model", "width", "depth", "init", "rounds", "local_steps", "fed_eta"),
    "fine-tuning (every strategy)": ("strategies", "eta", "steps", "flood", "half", "seed"),
    "strategy knobs (read only by the strategy named)": ("lp_mode", "lp_eta", "lp_steps", "lp_alpha", "mu", "sparsity",
                                                          "soup_size", "lss_verts", "lss_div", "lss_aff", "purify_lam",
                                                          "residual_alpha", "lora_rank", "split", "align_lam"),
}


def _choices() -> dict:
    """The fields of :class:`Config` with a fixed set of values (shown in --help instead of a metavar)."""
    import synthetic

    from .strategies.core import LP_MODES

    return {"scenario": tuple(s for s in synthetic.SCENARIOS if s != "kumar"), "model": MODELS, "init": INITS,
            "geometry": GEOMETRIES, "lp_mode": LP_MODES}


def _typed(kind: type, allowed: str):
    """An argparse ``type`` that refuses a malformed number in one line naming the range (argparse adds the flag)."""
    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a real number"
            raise argparse.ArgumentTypeError(f"must be {what}{allowed}, got {text!r}") from None

    parse.__name__ = kind.__name__
    return parse


def _add_config_options(p: argparse.ArgumentParser) -> None:
    defaults = Config()
    choices = _choices()
    groups = {title: p.add_argument_group(title) for title in GROUPS}
    where = {f: groups[title] for title, names in GROUPS.items() for f in names}
    other = None
    for f in fields(Config):
        default = getattr(defaults, f.name)
        if f.name not in where:
            other = other or p.add_argument_group("other")
        g = where.get(f.name, other)
        if isinstance(default, bool):
            g.add_argument(flag(f.name), action="store_true", help=HELP[f.name])
        elif isinstance(default, tuple):
            g.add_argument(flag(f.name), default=",".join(default), help=f"{HELP[f.name]} (default: %(default)s)")
        elif f.name in choices:
            g.add_argument(flag(f.name), default=default, choices=choices[f.name],
                           help=f"{HELP[f.name]} (default: %(default)s)")
        else:
            allowed = _range(f.name).rstrip("; ").removeprefix("integer ")
            kind = type(default)
            arg_type = _typed(kind, f" {allowed}" if allowed else "") if kind in (int, float) else kind
            g.add_argument(flag(f.name), type=arg_type, default=default,
                           help=f"{HELP[f.name]} ({_range(f.name)}default: %(default)s)")


def _config_from_args(args) -> Config:
    kw = {f.name: getattr(args, f.name) for f in fields(Config)}
    kw["strategies"] = tuple(s.strip().lower() for s in kw["strategies"].split(",") if s.strip())
    return Config(**kw)


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def format_table(rows: list[dict], columns: list[str], wrap: dict | None = None) -> str:
    """A plain-text table: text left-aligned, numbers right-aligned; ``wrap`` ``{column: width}`` wraps a long
    cell onto more lines (at spaces, never inside a word) instead of cutting it."""
    wrap = wrap or {}
    table = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c, "")
            text = _fmt(v)
            lines = textwrap.wrap(text, wrap[c], break_long_words=False, break_on_hyphens=False) if c in wrap else []
            cells.append((lines or [text], isinstance(v, (int, float)) and not isinstance(v, bool)))
        table.append(cells)
    widths = [max([len(c)] + [len(ln) for row in table for ln in row[i][0]]) for i, c in enumerate(columns)]

    def line(vals, right=()):
        return "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths))).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    for cells in table:
        right = {i for i, (_, num) in enumerate(cells) if num}
        for k in range(max(len(lines) for lines, _ in cells)):
            out.append(line([lines[k] if k < len(lines) else "" for lines, _ in cells], right))
    return "\n".join(out)


_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "Delta": "Δ", "epsilon": "ε", "varepsilon": "ε",
          "eta": "η", "theta": "θ", "kappa": "κ", "lambda": "λ", "mu": "μ", "pi": "π", "rho": "ρ", "sigma": "σ",
          "Sigma": "Σ", "tau": "τ", "phi": "φ", "omega": "ω", "Omega": "Ω"}
_SYMBOLS = {"in": "∈", "perp": "⊥", "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "neq": "≠", "sqrt": "√",
            "cdot": "·", "times": "×", "infty": "∞", "langle": "⟨", "rangle": "⟩", "approx": "≈", "to": "→",
            "sum": "Σ", "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉", "ell": "ℓ", "partial": "∂",
            "nabla": "∇", "top": "ᵀ", "|": "‖", "{": "\x00", "}": "\x01", ",": " ", ";": " ", ":": " ", "!": "",
            " ": " "}
_RELATIONS = {"in", "leq", "le", "geq", "ge", "neq", "approx", "to"}
_ACCENTS = {"bar": "\u0304", "hat": "\u0302", "tilde": "\u0303", "dot": "\u0307"}  # combining marks
_SUP = dict(zip("0123456789+-=()nTi*⊥′", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿᵀⁱ*⊥′"))
_SUB = dict(zip("0123456789+-=()aeoxhklmnpstij", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼ"))


def plain_math(text: str) -> str:
    r"""Matplotlib mathtext (``$\|w^*\|$``, ``$\lambda^{**}$``) as plain Unicode text for a terminal (``‖w*‖``,
    ``λ**``): Greek letters and common symbols by name, ``\mathrm{}``/``\text{}`` unwrapped, accents as
    combining marks, super- and subscripts as Unicode where every character has one (else ``^(…)`` / ``_xyz``)."""
    def script(marks: dict, sign: str):
        def repl(m):
            body = m.group(1) if m.group(1) is not None else m.group(2)
            if all(ch in marks for ch in body):
                return "".join(marks[ch] for ch in body)
            return f"{sign}{body}" if len(body) == 1 or sign == "_" else f"^({body})"
        return repl

    def word(m):
        if m.group(3) is not None:
            return _SYMBOLS.get(m.group(3), m.group(3))
        name = m.group(1)
        # a space after a control word is not typeset (\eta c is ηc), but relations keep theirs (u ∈ S)
        return (_GREEK.get(name) or _SYMBOLS.get(name, name)) + (m.group(2) if name in _RELATIONS else "")

    def convert(t: str) -> str:
        t = re.sub(r"\\(?:mathrm|text|mathbf|mathit|operatorname)\{([^{}]*)\}", r"\1", t)
        t = re.sub(r"\\(bar|hat|tilde|dot)\s*(?:\{(\w)\}|(\w))", lambda m: (m.group(2) or m.group(3)) + _ACCENTS[m.group(1)], t)
        t = re.sub(r"\\([A-Za-z]+)((?: (?=\w))?)|\\(.)", word, t)
        t = re.sub(r"\^\{([^{}]*)\}|\^(\S)", script(_SUP, "^"), t)
        t = re.sub(r"_\{([^{}]*)\}|_(\S)", script(_SUB, "_"), t)
        return t.replace("{", "").replace("}", "").replace("\x00", "{").replace("\x01", "}")

    return re.sub(r"\$([^$]*)\$", lambda m: convert(m.group(1)), text)


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
    return "; ".join(parts)


def claim_statements() -> dict:
    """Every built-in claim id → its one-line statement, without running anything: the claims registry where a
    claim is declared, else the first line of its check function's docstring."""
    import paper_checks

    registry = getattr(paper_checks, "claim_registry", None) or getattr(paper_checks, "statements", None)
    declared = dict(registry()) if registry is not None else {}
    out = {}
    for fn in paper_checks.all_checks():
        text = declared.get(fn.claim_id) or (fn.__doc__ or "").strip().split("\n")[0].strip()
        out[fn.claim_id] = " ".join(plain_math(str(text)).split())
    return out


def _claims_file(path: str) -> str:
    """Refuse, before any work, a --claims path that is not an existing .py file."""
    if not path.strip():
        raise ValueError(f"--claims {path!r}: give the path of a Python file declaring claims (see the README)")
    if not path.lower().endswith(".py"):
        raise ValueError(f"--claims {path}: a claims file is a Python file (.py), see the README's example")
    if os.path.isdir(path):
        raise IsADirectoryError(f"--claims {path} is a folder; give a .py file declaring claims")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--claims {path}: no such file")
    return path


def cmd_check(args) -> int:
    from paper_checks import run_checks, select

    if args.only is not None and not args.only.strip():
        raise ValueError("--only '': give a claim id or its start (e.g. chen-thm, kumar); see lpft check --list")
    if args.claims is not None and (args.only is not None or args.list):
        raise ValueError(f"--claims {args.claims}: runs the file's claims only; it takes no --only or --list")
    if args.list:
        ids = {fn.claim_id for fn in select(args.only)}
        items = [(k, v) for k, v in claim_statements().items() if k in ids]
        width = max(len(k) for k, _ in items)
        for k, v in items:
            print(f"{k:<{width}}  {v}")
        return 0
    if args.claims is not None:
        from paper_checks.plugin import run_file

        path = _claims_file(args.claims)
        with _bar(None, "lpft check --claims", "claim") as bar:
            verdicts = run_file(path, quick=args.quick, seed=args.seed,
                                progress=lambda v: (bar.set_postfix_str(v.id), bar.update()))
    else:
        with _bar(len(select(args.only)), "lpft check", "check") as bar:  # select refuses an unknown --only first
            verdicts = run_checks(quick=args.quick, seed=args.seed, only=args.only,
                                  progress=lambda v: (bar.set_postfix_str(v.id), bar.update()))
    rows = [{"claim": v.id, "source": v.source, "verdict": v.status, "condition": plain_math(v.condition or "-"),
             "key numbers": _compact(v.evidence)} for v in verdicts]
    print(format_table(rows, ["claim", "source", "verdict", "condition", "key numbers"],
                       wrap={"source": 24, "condition": 40, "key numbers": 48}))
    if args.json:
        write_json_atomic(args.json, {"quick": args.quick, "seed": args.seed, "verdicts": [v.to_dict() for v in verdicts]},
                          overwrite=args.force)
        print(f"wrote {args.json}")
    return 0


def cmd_figures(args) -> int:
    import figures

    if args.list:
        for name in figures.NAMES:
            print(f"{name:20s} {plain_math(figures.module(name).TITLE)}")
        return 0
    if args.only is not None and args.only not in figures.NAMES:
        raise ValueError(f"--only {args.only!r} is not a figure; one of: {', '.join(figures.NAMES)} (see --list)")
    names = figures.NAMES if args.only is None else [args.only]
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    bad = [f for f in formats if f not in figures.FORMATS]
    if bad or not formats or len(set(formats)) < len(formats):
        raise ValueError(f"--format must be a comma-separated subset of {','.join(figures.FORMATS)}, each format once, "
                         f"got {args.format!r}")
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
    print(f"wrote {args.out}/report.md, {args.out}/report.html, {args.out}/checks.json and {args.out}/figures/")
    print("verdicts: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0


def _device(name: str) -> str:
    """``--device``: ``cpu`` or ``cuda[:n]`` that this machine has, refused in one line otherwise."""
    import torch

    if name == "cpu":
        return name
    if not (name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ValueError(f"--device {name!r}: must be cpu, cuda or cuda:N")
    n = int(name[5:]) if ":" in name else 0
    if not torch.cuda.is_available() or n >= torch.cuda.device_count():
        raise ValueError(f"--device {name!r}: no such CUDA device here (cuda available: {torch.cuda.is_available()}, "
                         f"devices: {torch.cuda.device_count()}); use --device cpu")
    return name


def cmd_real(args) -> int:
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
    eta = base.eta if args.eta is None else V.real("--eta", args.eta, low=0.0, low_open=True, high=REAL_MAX)
    cfg = RealConfig(**{**base.__dict__, "scenario": args.scenario, "model": args.model, "seeds": seeds,
                        "clients": clients, "max_rounds": max_rounds, "eta": eta, "device": _device(args.device),
                        "etas": tuple(sorted(set(base.etas) | {eta}))}).validate()
    with _bar(cfg.seeds, f"lpft real ({cfg.scenario}, {cfg.model})", "seed") as bar:
        out = run_real(cfg, progress=lambda s: bar.update())
    gm = [r["global_models"] for r in out["runs"]]
    print(f"digits, {cfg.scenario} shift, {cfg.model}, {cfg.clients} clients, {cfg.seeds} seeds. Global model: FedAvg to "
          f"a validation plateau after {[g['converged']['rounds'] for g in gm]} rounds (test accuracy "
          f"{sum(g['converged']['test_acc'] for g in gm) / len(gm):.3f}; {cfg.short_rounds} rounds: "
          f"{sum(g['short']['test_acc'] for g in gm) / len(gm):.3f}).")
    print("Accuracy, mean ± 95% CI half-width over seeds; global = other clients' test sets; chosen on validation "
          "data only; average_stated = (local + global)/2, average_table = (local + global + worst)/3 (the two readings "
          "of Chen et al.'s Average); unstable = fraction of seeds whose training loss rose.")
    cols = ["strategy", "local", "global", "c_std", "worst", "average_stated", "average_table", "delta_c", "frac_hurt",
            "unstable", "mean eta"]
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

    if args.scheduler is not None and args.backend != "dask":
        raise ValueError(f"--scheduler {args.scheduler}: a Dask scheduler address needs --backend dask "
                         f"(got --backend {args.backend})")
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


class _Formatter(argparse.HelpFormatter):
    """Descriptions wrapped as usual; the examples epilog kept line by line."""

    def _fill_text(self, text, width, indent):
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    """``lpft``'s parser: no abbreviated options (``--seed`` never silently means ``--seeds``), and a usage error
    is one line naming the command, the option and the reason (exit 2), like every other refusal."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def build_parser() -> argparse.ArgumentParser:
    from .threads import MAX as MAX_THREADS

    p = Parser(prog="lpft", description="Feature distortion in personalized fine-tuning: simulate, check the papers' "
               "claims, regenerate the figures.",
               epilog=_examples("lpft reproduce --quick --out /tmp/lpft-quick   # every check and figure, small sizes",
                                "lpft simulate --scenario combined --steps 5", "lpft check --list",
                                "lpft <command> --help                          # options and an example per command"))
    p.add_argument("--version", action="version", version=f"lpft-theory {__version__}")
    threads = dict(metavar="N", help=f"threads for the numerical libraries and torch, N in [1, {MAX_THREADS}] "
                   "(default: $LPFT_THREADS, else 1; processes, not threads, give the parallelism)")
    p.add_argument("--threads", default=None, **threads)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("simulate", help="one experiment: a scenario, a global model, strategies -> metrics table",
                       description="One experiment: the clients of a synthetic scenario, a global model (the ideal "
                       "one or FedAvg), then every requested strategy; prints local/global losses per strategy.",
                       epilog=_examples("lpft simulate --steps 5 --strategies ft,lp,lp-ft",
                                        "lpft simulate --scenario combined --eps 0.5 --shift 2 --json result.json",
                                        "lpft simulate --scenario label --n 40 --init fedavg --lp-mode steps"))
    _add_config_options(s)
    out = s.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", help="also write the full result (config, ground truth, convention) as JSON")
    out.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    s.set_defaults(func=cmd_simulate)
    st = sub.add_parser("strategies", help="list the personalized fine-tuning strategies",
                        description="The personalized fine-tuning strategies `lpft simulate --strategies` accepts.",
                        epilog=_examples("lpft strategies"))
    st.set_defaults(func=cmd_strategies)

    c = sub.add_parser("check", help="check every claim (the four papers and the results they rest on); print claim, "
                       "verdict, condition, numbers",
                       description="Check the papers' claims: each one run, judged by the shared rule, and printed with "
                       "its verdict, condition and key numbers.",
                       epilog=_examples("lpft check --list                    # every claim id and its statement",
                                        "lpft check --quick --only chen-thm   # the claims whose id starts with chen-thm",
                                        "lpft check --claims my_claims.py     # your own claims (see the README)",
                                        "lpft check --quick --json checks.json"))
    c.add_argument("--list", action="store_true", help="list every claim id with its statement (runs nothing) and exit")
    c.add_argument("--only", metavar="ID", help="only claims whose id starts with ID (e.g. chen-thm, kumar)")
    c.add_argument("--claims", metavar="FILE.py", help="run the claims a Python file declares instead of the "
                   "built-in ones (paper_checks.plugin: compare, for_all, judged, custom)")
    c.add_argument("--json", metavar="PATH", help="also write the verdicts with all their evidence as JSON")
    c.add_argument("--quick", action="store_true", help="small sizes and fewer seeds (as CI runs it)")
    c.add_argument("--seed", type=_typed(int, " in [0, 2**63-1]"), default=0,
                   help="random seed (default: %(default)s)")
    c.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    c.set_defaults(func=cmd_check)

    import figures

    f = sub.add_parser("figures", help=f"regenerate all {len(figures.NAMES)} figures with their numbers and configuration",
                       description="Regenerate the figures; each one is saved with its numbers (.json) and resolved "
                       "configuration (.config.json).",
                       epilog=_examples("lpft figures --list", "lpft figures --only phase_diagram --format png,pdf",
                                        "lpft figures --quick --out /tmp/figs"))
    f.add_argument("--only", metavar="NAME", help="one figure (see --list)")
    f.add_argument("--list", action="store_true", help="list the figures and exit")
    f.add_argument("--out", default="lpft-output/figures", metavar="DIR", help="output folder (default: %(default)s)")
    f.add_argument("--format", default="png", help="comma-separated formats from png,pdf,svg (default: %(default)s)")
    f.add_argument("--quick", action="store_true", help="small sizes and fewer seeds")
    f.add_argument("--seed", type=_typed(int, " in [0, 2**63-1]"), default=0,
                   help="random seed (default: %(default)s)")
    f.add_argument("--force", action="store_true", help="overwrite existing figure files")
    f.set_defaults(func=cmd_figures)

    from .empirical.digits import SCENARIOS as DIGIT_SCENARIOS

    rl = sub.add_parser("real", help="federated digits in PyTorch: a converged FedAvg model, then every method tuned "
                        "the same way on validation data, at equal budgets and at matched Local accuracy",
                        description="FedAvg to a validation plateau, then every method over its grid (step size x "
                        "steps x its own knob), compared under each protocol variant (fixed recipe, equal budget, "
                        "tuned, matched Local; converged vs 30-round global model). Measured on a shared 2-core machine, "
                        "one thread: --quick (3 seeds, 5 clients, a small grid) about 20 s; the default (5 seeds, "
                        "10 clients) about 3 min.",
                        epilog=_examples("lpft real --quick", "lpft real --scenario label --model cnn --seeds 3",
                                         "lpft real --quick --json digits.json"))
    rl.add_argument("--scenario", default="covariate", choices=DIGIT_SCENARIOS, help="client shift (default: %(default)s)")
    rl.add_argument("--model", default="mlp", choices=("mlp", "cnn"), help="model (default: %(default)s)")
    rl.add_argument("--device", default="cpu", help="torch device of the batched runs: cpu (default) or cuda[:n]")
    rl.add_argument("--quick", action="store_true", help="3 seeds, 5 clients, a small grid (about 20 s)")
    rl.add_argument("--seeds", type=_typed(int, " in [2, 100]"), default=None,
                    help="number of seeds in [2, 100] (default: 5; 3 with --quick)")
    rl.add_argument("--clients", type=_typed(int, " in [2, 100]"), default=None,
                    help="number of clients in [2, 100] (default: 10; 5 with --quick)")
    rl.add_argument("--max-rounds", type=_typed(int, ""), default=None,
                    help="most FedAvg rounds before the validation plateau (default: 300; 150 with --quick)")
    rl.add_argument("--eta", type=_typed(float, f" in (0, {REAL_MAX:g}]"), default=None,
                    help=f"the fixed recipe's step size in (0, {REAL_MAX:g}], added to the tuning grid (default: 0.2)")
    rl.add_argument("--json", metavar="PATH", help="also write every seed's results and the summary as JSON")
    rl.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    rl.set_defaults(func=cmd_real)

    sw = sub.add_parser("sweep", help="a declarative sweep (TOML/JSON): cached per configuration, resumable",
                        description="Run every configuration of a sweep file (a base configuration, a grid, seeds), "
                        "each cached on its own: an interrupted sweep resumes, a finished one reruns for free.",
                        epilog=_examples("lpft sweep docs/sweep_example.toml --out /tmp/sweep --jobs 2",
                                         "lpft sweep docs/sweep_example.toml --out /tmp/sweep --resume",
                                         "lpft sweep my_sweep.json --backend dask   # needs pip install 'lpft-theory[dask]'"))
    sw.add_argument("config", help="sweep file (.toml or .json); see docs/sweep_example.toml")
    sw.add_argument("--backend", default="local", choices=["local", "dask"],
                    help="local = joblib worker processes, dask = Dask distributed, extra [dask] (default: %(default)s)")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (default: a LocalCluster on loopback)")
    sw.add_argument("--jobs", type=_typed(int, " in [1, 1024]"), default=2,
                    help="local worker processes, 1 to 1024 (default: %(default)s)")
    sw.add_argument("--resume", action="store_true", help="continue (or rerun) the same sweep already in --out")
    sw.add_argument("--force", action="store_true",
                    help="with --resume: replace a different sweep in --out (its cached configurations are reused)")
    sw.add_argument("--out", default="lpft-sweep", metavar="DIR", help="output folder (default: %(default)s)")
    sw.set_defaults(func=cmd_sweep)

    r = sub.add_parser("reproduce", help="the main job: every check and figure, then report.md and checks.json",
                       description="Every check and every figure, then DIR/report.md, DIR/checks.json and DIR/figures/.",
                       epilog=_examples("lpft reproduce                                # the full run, lpft-output/",
                                        "lpft reproduce --quick --out /tmp/lpft-quick  # small sizes",
                                        "lpft reproduce --out lpft-output --force      # replace an earlier run"))
    r.add_argument("--out", default="lpft-output", metavar="DIR", help="output folder (default: %(default)s)")
    r.add_argument("--quick", action="store_true", help="small sizes and fewer seeds (about a minute on 2 cores)")
    r.add_argument("--seed", type=_typed(int, " in [0, 2**63-1]"), default=0,
                   help="random seed (default: %(default)s)")
    r.add_argument("--force", action="store_true", help="overwrite an existing report, checks.json and figures/ in --out")
    r.set_defaults(func=cmd_reproduce)
    for command in sub.choices.values():  # also after the command (lpft simulate --threads 2)
        command.add_argument("--threads", default=argparse.SUPPRESS, **threads)
    p.commands = dict(sub.choices)
    return p


def _unknown(parser: argparse.ArgumentParser, extra: list) -> None:
    """Refuse arguments the command does not know, in one line, with the closest option it does know (options
    are never abbreviated: ``lpft real --seed 7`` is not ``--seeds 7``)."""
    import difflib

    known = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    first = next((e for e in extra if e.startswith("-")), extra[0]).split("=")[0]
    close = difflib.get_close_matches(first, known, n=1, cutoff=0.5)
    prefix = [o for o in known if o.startswith(first) and first.startswith("--")]
    guess = (prefix or close)[:1]
    hint = f"; did you mean {guess[0]}?" if guess else ""
    parser.error(f"unrecognized argument(s): {' '.join(extra)}{hint}")


def _threads(args) -> None:
    from .threads import configure, parse

    if args.threads is not None:  # the flag decides; LPFT_THREADS is not read
        configure(parse(args.threads, "--threads"))
    else:
        configure()  # $LPFT_THREADS (refused in one line if malformed), else 1


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
    """Run ``lpft``; every expected error is one line on stderr and exit code 2 (130 for Ctrl-C, at any moment)."""
    command = "lpft"
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        command = f"lpft {args.command}"
        if extra:
            _unknown(parser.commands[args.command], extra)
        _threads(args)
        _check_common(args)
        return args.func(args)
    except SystemExit as exc:  # argparse: --help, --version (0) and one-line usage errors (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except ImportError as exc:  # an optional extra that is not installed: the message names it and its install
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # DivergenceError and InstabilityError among them
        print(f"{command}: diverged: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{command}: error: ran out of memory although the estimate allowed it; lower the sizes "
              "(--d, --n-eval, --clients, --width)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = " (finished configurations are cached: rerun with --resume)" if command == "lpft sweep" else ""
        print(f"{command}: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
