"""One experiment end to end: scenario → global model → every requested strategy → metrics.

This is what ``lpft simulate`` runs; paper checks and figures call :func:`simulate` directly.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

import numpy as np

import synthetic

from . import _validate as V
from .dynamics import DivergenceError, InstabilityError, stable_step
from .federated import fedavg
from .losses import convention
from .metrics import cross_matrix, delta_c, distortion, summarize
from .models import DeepLinear, TwoLayerReLU, two_layer_params
from .rng import spawn
from .strategies import registry
from .strategies.core import LP_MODES

MODELS = ("two-layer", "linear", "deep", "relu")
INITS = ("ideal", "fedavg")
GEOMETRIES = ("auto",) + synthetic.GEOMETRIES  # auto: private for combined, random for covariate


@dataclass
class Config:
    """Every knob of one experiment (the resolved configuration is saved with every output)."""

    scenario: str = "concept"
    d: int = 20
    m: int = 3
    clients: int = 5
    lam: float = 1.0
    eps: float = 1.0
    shift: float = 1.0
    geometry: str = "auto"
    overlap: float = 0.0
    alpha: float = 0.5
    n_classes: int = 5
    noise: float = 0.0
    n: int = 0  # training points per client; 0 = population (exact moments)
    n_eval: int = 2000  # Monte Carlo evaluation points per client (ReLU, classification, Δ_c)
    model: str = "two-layer"
    width: int = 0  # hidden width; 0 = k = m + clients
    depth: int = 2  # hidden layers of the deep linear model
    init: str = "ideal"
    rounds: int = 50
    local_steps: int = 5
    fed_eta: float = 0.05
    eta: float = 0.1
    steps: int = 1
    lp_mode: str = "exact"
    lp_eta: float = 0.1
    lp_steps: int = 10
    lp_alpha: float = 1.0
    mu: float = 1.0
    sparsity: float = 0.9
    soup_size: int = 3
    lss_verts: int = 2
    lss_div: float = 0.1
    lss_aff: float = 0.1
    purify_lam: float = 1.0
    residual_alpha: float = 0.99
    lora_rank: int = 2
    split: str = "cycle"
    align_lam: float = 0.25
    flood: float = 0.0
    strategies: tuple = ("ft", "lp", "lp-ft")
    half: bool = False
    seed: int = 0

    @property
    def task(self) -> str:
        return "classification" if self.scenario in ("label", "longtail") else "regression"

    def memory_terms(self) -> dict:
        """Estimated bytes of the arrays :func:`simulate` allocates, by what they hold, each with the fields that
        set its size, the first one first: ``{name: (bytes, fields)}``. Counts of float64 arrays alive at once:

        * ``moments``: per-client ``d×d`` covariance and second moment, and one temporary (3 C d²);
        * ``samples``: training and evaluation inputs and a temporary of the sampler (2 C (n_eval + n) d);
        * ``features``: the global and personalized features on the evaluation points, their difference and
          norms (4 C n_eval k; the linear model's features are the inputs, k = d);
        * ``cross``: for ReLU or classification runs the client × client loss evaluates every model on every
          client's points: the ``(C, C, n_eval, k)`` feature tensor (3 copies for ReLU: pre-activation,
          activation, mask; 1 otherwise) and 4 ``(C, C, n_eval, p)`` logit arrays for classification;
        * ``params``: parameters (``d k + (depth − 1) k² + k p`` per client), gradients, FedAvg's and the
          strategy's copies (6 C P);
        * ``training``: activations of the sampled training points and their gradients (4 C n k L, L hidden
          layers) and 3 ``(C, n, p)`` logit arrays for classification.

        Calibrated against tracemalloc's peak on small sizes (tests/test_bad_inputs.py): the total is never
        below the measured peak and at most about 3 times it."""
        C, d, n, ne = self.clients, self.d, self.n, self.n_eval
        k = self.width or (self.m + self.clients)
        cls = self.task == "classification"
        p = self.n_classes if cls else 1
        relu = self.model == "relu"
        layers = self.depth if self.model == "deep" else (0 if self.model == "linear" else 1)
        k_feat = d if self.model == "linear" else k
        params = d * p if self.model == "linear" else d * k + (layers - 1) * k * k + k * p
        cross = C * C * ne * ((3 * k if relu else (k_feat if cls else 0)) + (4 * p if cls else 0))
        body = {"linear": ("d",), "deep": ("width", "depth", "d")}.get(self.model, ("width", "d"))
        return {
            "moments": (8 * 3 * C * d * d, ("d",)),
            "samples": (8 * 2 * C * (ne + n) * d, ("n_eval", "n", "d") if ne >= n else ("n", "n_eval", "d")),
            "features": (8 * 4 * C * ne * k_feat, ("n_eval",)),
            "cross": (8 * cross, ("n_eval", "width")),
            "params": (8 * 6 * C * params, body),
            "training": (8 * (4 * C * n * k_feat * max(layers, 1) + (3 * C * n * p if cls else 0)), ("n",)),
        }

    def memory_bytes(self) -> int:
        """Estimated peak memory of :func:`simulate` (the sum of :meth:`memory_terms`, plus 1 MiB)."""
        return sum(b for b, _ in self.memory_terms().values()) + 2 ** 20

    def validate(self, cli: bool = False) -> "Config":
        """Check every field (those of unselected strategies too) before any work.

        With ``cli=True`` messages name the command-line flags (``--fed-eta``) instead of the fields.
        """
        name = flag if cli else (lambda f: f)
        for f, rng in INT_RANGES.items():
            V.integer(name(f), getattr(self, f), min_value=rng[0], max_value=rng[1])
        for f, kw in REAL_RANGES.items():
            V.real(name(f), getattr(self, f), **kw)
        V.choice(name("scenario"), self.scenario, [s for s in synthetic.SCENARIOS if s != "kumar"])
        V.choice(name("model"), self.model, MODELS)
        V.choice(name("init"), self.init, INITS)
        V.choice(name("geometry"), self.geometry, GEOMETRIES)
        V.choice(name("lp_mode"), self.lp_mode, LP_MODES)
        if not isinstance(self.half, bool):
            raise TypeError(f"{name('half')} must be True or False, got {self.half!r}")
        self._check_split(name)
        if not isinstance(self.strategies, tuple) or not all(isinstance(s, str) for s in self.strategies):
            raise TypeError(f"{name('strategies')} must be a tuple of strategy names, got {self.strategies!r}")
        unknown = [s for s in self.strategies if s not in registry.NAMES]
        if not self.strategies or unknown:
            raise ValueError(f"{name('strategies')} must be a non-empty subset of {','.join(registry.NAMES)}, "
                             f"got unknown {unknown or 'none'}")
        opt = (lambda f, v: f"{flag(f)} {v}") if cli else (lambda f, v: f"{f}={v!r}")
        if self.scenario in ("concept", "overlap", "combined") and self.m + self.clients > self.d:
            raise ValueError(f"{name('m')} + {name('clients')} must be <= {name('d')} (k = m + clients features in "
                             f"R^d), got {self.m} + {self.clients} > {self.d}")
        if self.scenario == "covariate" and self.geometry == "private":
            raise ValueError(f"{opt('geometry', 'private')} needs a private feature per client (scenario concept "
                             f"or combined); for {opt('scenario', 'covariate')} use {name('geometry')} "
                             f"auto|shared|orthogonal|random")
        if self.scenario == "covariate" and self.geometry == "orthogonal" and self.d < max(self.m, 1) + self.clients:
            raise ValueError(f"{opt('geometry', 'orthogonal')} needs {name('d')} >= max({name('m')}, 1) + "
                             f"{name('clients')} = {max(self.m, 1) + self.clients}, got {self.d}")
        if self.scenario == "combined" and self.geometry == "orthogonal" and self.d < self.m + 2 * self.clients:
            raise ValueError(f"{opt('geometry', 'orthogonal')} needs {name('d')} >= {name('m')} + 2 {name('clients')}"
                             f" = {self.m + 2 * self.clients}, got {self.d}")
        if self.geometry == "shared" and self.scenario == "combined" and self.m < 1:
            raise ValueError(f"{opt('geometry', 'shared')} needs {name('m')} >= 1 (a shared feature), got {self.m}")
        if self.init == "ideal" and self.scenario not in ("concept", "overlap", "combined"):
            raise ValueError(f"{opt('init', 'ideal')} needs a (B*, V_com) ground truth (scenario concept, overlap "
                             f"or combined), got {opt('scenario', self.scenario)}; use {opt('init', 'fedavg')}")
        if self.init == "ideal" and self.model != "two-layer":
            raise ValueError(f"{opt('init', 'ideal')} is the two-layer model's (B*, [V_com; 0]); got "
                             f"{opt('model', self.model)}; use {opt('init', 'fedavg')} or {opt('model', 'two-layer')}")
        if self.n == 0 and (self.scenario in ("label", "longtail") or self.model == "relu"):
            raise ValueError(f"{name('n')} must be >= 1 for {opt('scenario', self.scenario)} with "
                             f"{opt('model', self.model)}: population moments exist only for the squared loss of "
                             "linear models")
        k = self.m + self.clients
        if self.init == "ideal" and self.width not in (0, k):
            raise ValueError(f"{opt('init', 'ideal')} fixes the width to k = {name('m')} + {name('clients')} = {k} "
                             f"(B* has k rows); got {opt('width', self.width)}; use {opt('width', 0)} or "
                             f"{opt('init', 'fedavg')}")
        if self.task == "classification" and self.n_classes > self.d:
            raise ValueError(f"{name('n_classes')} must be in [2, {self.d}] (one class direction per input dimension, "
                             f"<= {name('d')}) for {opt('scenario', self.scenario)}, got {self.n_classes}")
        probing = [s for s in self.strategies if s in ("lp", "lp-ft")]
        if self.task == "classification" and self.lp_mode in ("exact", "partial") and probing:
            raise ValueError(f"{opt('lp_mode', self.lp_mode)} needs the exact (least-squares) probe, which exists for "
                             f"the squared loss only; {opt('scenario', self.scenario)} is classification (cross-entropy) "
                             f"and {','.join(probing)} probe: use {opt('lp_mode', 'steps')}")
        self._check_memory(name, opt)
        return self

    def _check_memory(self, name, opt) -> None:
        """Refuse a run whose memory estimate exceeds :func:`memory_limit`, naming the field behind the largest
        array and the largest value of it that fits with the other sizes (or, if none does, the next one)."""
        need, limit = self.memory_bytes(), memory_limit()
        if need <= limit:
            return
        what, (size, fields) = max(self.memory_terms().items(), key=lambda kv: kv[1][0])
        fields = [f for f in fields if f != "width" or self.width] or list(fields)
        fits = {f: _largest_fitting(self, f, limit) for f in fields}
        field = next((f for f in fields if fits[f] is not None), fields[0])
        sizes = ", ".join(opt(f, getattr(self, f)) for f in ("d", "clients", "n", "n_eval", "width", "depth")
                          if f != field and (f != "depth" or self.model == "deep") and (f != "width" or self.width)
                          and (f != "n" or self.n))
        head = (f"{opt(field, getattr(self, field))} with {sizes} needs about {need / 2**30:.3g} GiB of memory "
                f"(estimate; the largest arrays: {what}, {size / 2**30:.3g} GiB), more than the "
                f"{limit / 2**30:.3g} GiB allowed (half of this machine's memory)")
        if fits[field] is not None:
            raise ValueError(f"{head}; {name(field)} must be in [{_FLOOR[field]}, {fits[field]}] with these sizes")
        raise ValueError(f"{head}; even {opt(field, _FLOOR[field])} does not fit: lower "
                         f"{' or '.join(name(f) for f in ('clients', 'n_eval', 'n', 'd') if f != field)}")

    def _check_split(self, name) -> None:
        text = str(self.split).strip()
        if text == "cycle":
            return
        try:
            values = [int(s) for s in text.split(",")]
        except ValueError:
            raise ValueError(f"{name('split')} must be 'cycle', one int or one int per client (0,1,1,2), "
                             f"got {self.split!r}") from None
        blocks = {"linear": 0, "deep": self.depth}.get(self.model, 1)
        if len(values) not in (1, self.clients) or min(values) < 0 or max(values) > blocks:
            raise ValueError(f"{name('split')} must be 'cycle' or 1 or {self.clients} (= clients) split points, each "
                             f"in [0, {blocks}] (body blocks of model {self.model}), got {self.split!r}")


def flag(field_name: str) -> str:
    """The command-line flag of a :class:`Config` field: ``fed_eta`` → ``--fed-eta``."""
    return "--" + field_name.replace("_", "-")


#: Closed ranges of the integer fields ``(min, max)``; the maxima keep one run to minutes, not hours.
INT_RANGES = {
    "d": (1, None), "m": (0, None), "clients": (2, 10_000), "n_classes": (2, 1_000), "n": (0, 10_000_000),
    "n_eval": (1, 10_000_000), "width": (0, 100_000), "depth": (1, 100), "rounds": (0, 100_000),
    "local_steps": (1, 100_000), "steps": (0, 1_000_000), "lp_steps": (0, 1_000_000), "soup_size": (1, 1_000),
    "lss_verts": (0, 1_000), "lora_rank": (1, 100_000), "seed": (0, 2**63 - 1),
}
#: Largest magnitude of a real knob without a natural bound: scales, strengths and step sizes enter the losses
#: squared (and multiplied by the data), so beyond this float64 overflows (``--noise 1e300``) or a step diverges
#: on the first step anyway.
REAL_MAX = 1e6
#: Ranges of the real fields (keyword arguments of :func:`lpft_theory._validate.real`); every value finite.
REAL_RANGES = {
    "lam": dict(low=0.0, high=REAL_MAX), "eps": dict(low=0.0, high=REAL_MAX), "shift": dict(low=0.0, high=REAL_MAX),
    "overlap": dict(low=0.0, high=1.0), "alpha": dict(low=0.0, low_open=True, high=REAL_MAX),
    "noise": dict(low=0.0, high=REAL_MAX), "fed_eta": dict(low=0.0, low_open=True, high=REAL_MAX),
    "eta": dict(low=0.0, low_open=True, high=REAL_MAX), "lp_eta": dict(low=0.0, low_open=True, high=REAL_MAX),
    "lp_alpha": dict(low=0.0, high=1.0), "mu": dict(low=0.0, high=REAL_MAX),
    "sparsity": dict(low=0.0, high=1.0, high_open=True), "lss_div": dict(low=0.0, high=REAL_MAX),
    "lss_aff": dict(low=0.0, high=REAL_MAX), "purify_lam": dict(low=0.0, high=REAL_MAX),
    "residual_alpha": dict(low=0.0, high=1.0), "align_lam": dict(low=0.0, high=REAL_MAX),
    "flood": dict(low=0.0, high=REAL_MAX),
}


def memory_limit() -> int:
    """Half of this machine's physical memory (8 GiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


#: The smallest value of each size field that the memory refusal may suggest (width 0 means the default k).
_FLOOR = {"d": 1, "n": 1, "n_eval": 1, "width": 1, "depth": 1}


def _largest_fitting(cfg: Config, field: str, limit: int) -> int | None:
    """The largest value of ``field`` in ``[floor, current]`` whose memory estimate fits ``limit`` (None if none)."""
    lo = _FLOOR[field]
    if replace(cfg, **{field: lo}).memory_bytes() > limit:
        return None
    hi = max(getattr(cfg, field), lo)
    while lo < hi:  # the estimate grows with every size: bisect
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if replace(cfg, **{field: mid}).memory_bytes() <= limit else (lo, mid - 1)
    return lo


def _geometry(cfg: Config) -> str:
    if cfg.geometry != "auto":
        return cfg.geometry
    return "private" if cfg.scenario == "combined" else "random"


def build_scenario(cfg: Config, rng):
    s = cfg.scenario
    if s in ("concept", "overlap"):
        return synthetic.concept_shift(cfg.d, cfg.m, cfg.clients, cfg.lam, noise=cfg.noise, overlap=cfg.overlap, rng=rng)
    if s == "combined":
        return synthetic.combined_shift(cfg.d, cfg.m, cfg.clients, cfg.lam, eps=cfg.eps, shift=cfg.shift,
                                        geometry=_geometry(cfg), noise=cfg.noise, rng=rng)
    if s == "covariate":
        return synthetic.covariate_shift(cfg.d, cfg.clients, k=max(cfg.m, 1), shift=cfg.shift, eps=cfg.eps,
                                         geometry=_geometry(cfg), noise=cfg.noise, rng=rng)
    if s == "label":
        return synthetic.label_shift(cfg.d, cfg.n_classes, cfg.clients, cfg.alpha, rng=rng)
    return synthetic.long_tail(cfg.d, cfg.n_classes, cfg.clients, rng=rng).scenario


def build_model(cfg: Config, scen):
    k = cfg.width or (cfg.m + cfg.clients)
    if cfg.model == "linear":
        return DeepLinear(scen.d, (), scen.p)
    if cfg.model == "two-layer":
        return DeepLinear(scen.d, (k,), scen.p)
    if cfg.model == "deep":
        return DeepLinear(scen.d, (k,) * cfg.depth, scen.p)
    return TwoLayerReLU(scen.d, k, scen.p)


#: A run whose training loss climbs above GROWTH times its start (or the flood level) is unstable: a step
#: size above the largest stable step gives a finite but meaningless loss long before the 1e8-fold
#: divergence guard of :func:`lpft_theory.dynamics.run` fires.
GROWTH = 10.0


def _step_hint(cfg: Config, eta_field: str, est: float, exact: bool, name) -> str:
    eta = getattr(cfg, eta_field)
    if not np.isfinite(est):
        return f"lower {name(eta_field)}"
    kind = "" if exact else " (Gauss-Newton estimate)"
    if eta > est:
        return f"the largest stable step at the start is {est:.4g}{kind}: set {name(eta_field)} below it"
    return (f"lower {name(eta_field)} (the largest stable step at the start, {est:.4g}{kind}, is no guarantee "
            "once training moves the model)")


def _unstable(cfg: Config, what: str, eta_field: str, losses, est, exact, name, opt) -> DivergenceError | None:
    """An :class:`InstabilityError` for a loss history ``(steps + 1, clients)`` that grew GROWTH-fold, else None."""
    L = np.asarray(losses, dtype=np.float64).reshape(len(losses), -1)
    base = np.maximum(np.maximum(np.abs(L[0]), cfg.flood), 1e-12)
    bad = ~np.isfinite(L).all(axis=0) | (np.nanmax(np.abs(L), axis=0) > GROWTH * base)
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    return InstabilityError(
        f"{what} became unstable with {opt(eta_field, getattr(cfg, eta_field))}: the training loss rose from "
        f"{L[0, i]:.4g} to {np.nanmax(np.abs(L[:, i])):.4g} (more than {GROWTH:g}-fold) in {int(bad.sum())} of "
        f"{bad.size} client(s); {_step_hint(cfg, eta_field, est, exact, name)}")


def simulate(cfg: Config, progress=None, *, cli: bool = False) -> dict:
    """Run one experiment; returns a JSON-able dict with config, ground truth, convention and results.

    ``progress(phase)`` is called after FedAvg and after each strategy. A diverging or unstable run
    (training loss up more than :data:`GROWTH`-fold) raises :class:`~lpft_theory.dynamics.DivergenceError`
    naming the step size and, where known, the largest stable step. ``cli=True`` names options as flags.
    """
    cfg.validate(cli)
    name = flag if cli else (lambda f: f)
    opt = (lambda f, v: f"{flag(f)} {v}") if cli else (lambda f, v: f"{f}={v!r}")
    # The scenario is drawn from the seed itself, so synthetic.<scenario>(..., rng=seed) gives the same clients.
    _, g_data, g_eval, g_init, g_fed, g_strat = spawn(cfg.seed, 6)
    scen = build_scenario(cfg, cfg.seed)
    arch = build_model(cfg, scen)
    cls = scen.task == "classification"
    loss = "ce" if cls else "mse"
    needs_samples = cls or isinstance(arch, TwoLayerReLU)
    train = scen.sample(cfg.n, g_data) if cfg.n else scen.population
    evals = scen.sample(cfg.n_eval, g_eval)
    eval_data = evals if needs_samples else scen.population

    def stable(params):
        return stable_step(arch, params, train, cfg.half) if loss == "mse" else (float("nan"), False)

    if cfg.init == "ideal":
        params_G = two_layer_params(*synthetic.idealised_init(scen))
    else:
        start = arch.init(g_init, scale=0.5)
        est, exact = stable(start)
        what = f"FedAvg ({opt('rounds', cfg.rounds)}, {opt('local_steps', cfg.local_steps)})"
        try:
            fed = fedavg(arch, start, train, cfg.rounds, cfg.local_steps, cfg.fed_eta, loss=loss, half=cfg.half,
                         rng=g_fed)
        except DivergenceError:
            raise DivergenceError(f"{what} diverged with {opt('fed_eta', cfg.fed_eta)}: the loss became non-finite "
                                  f"or huge; {_step_hint(cfg, 'fed_eta', est, exact, name)}") from None
        err = _unstable(cfg, what, "fed_eta", fed.global_loss, est, exact, name, opt)
        if err is not None:
            raise err
        params_G = fed.params
        if progress is not None:
            progress("FedAvg")

    per_client_G = tuple(np.broadcast_to(p, (scen.n_clients,) + p.shape) for p in params_G)
    if cfg.flood > 0:  # a flood level above every client's starting loss only ascends (and hides the growth guard)
        top = float(np.max(arch.loss(per_client_G, train, loss, cfg.half)))
        if cfg.flood >= top:
            raise ValueError(f"{opt('flood', cfg.flood)} is at or above every client's training loss at the global "
                             f"model (largest {top:.4g}), so flooding would only ascend; {name('flood')} must be in "
                             f"[0, {top:.4g}) here")
    base = cross_matrix(arch, per_client_G, eval_data, loss=loss, half=cfg.half)
    rows = {}
    feats_G = arch.features(params_G, evals.X)
    est, exact = stable(params_G)
    for key in cfg.strategies:
        strat = registry.build(key, cfg)
        eta_field = "lp_eta" if key == "lp" and cfg.lp_mode == "steps" else "eta"
        try:
            traj = strat(arch, params_G, train, loss=loss, half=cfg.half, rng=g_strat)
        except DivergenceError:
            raise DivergenceError(f"{strat.name} diverged with {opt(eta_field, getattr(cfg, eta_field))}: the loss "
                                  f"became non-finite or huge; {_step_hint(cfg, eta_field, est, exact, name)}") from None
        err = _unstable(cfg, strat.name, eta_field, traj.losses, est, exact, name, opt)
        if err is not None:
            raise err
        M = cross_matrix(arch, traj.params, eval_data, loss=loss, half=cfg.half)
        row = summarize(M, np.diag(base))
        if cls:
            A = cross_matrix(arch, traj.params, evals, metric="accuracy")
            row.update({f"acc_{k}": v for k, v in summarize(A, higher_is_better=True).items()})
        row["dist_F"] = float(np.mean(distortion(traj.params[0], params_G[0]))) if len(params_G) > 1 else float("nan")
        row["delta_c"] = float(np.mean(delta_c(feats_G, arch.features(traj.params, evals.X))))
        rows[strat.name] = row
        if progress is not None:
            progress(strat.name)
    return {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "ground_truth": scen.summary(),
        "loss_convention": "softmax cross-entropy, mean over points" if cls else convention(cfg.half),
        "global_model_local_loss": float(np.mean(np.diag(base))),
        "global_model_global_loss": float(summarize(base)["global"]),
        "results": rows,
    }
