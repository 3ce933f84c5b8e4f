"""The batched theory engine against plain loops, against the memory roofline, and its memory, in one run.

Workload: GD on the two-layer linear model ``f = Vᵀ B x`` (population loss, ``Σ = I``) for N configurations
of Chen et al.'s concept shift that differ in η and λ — what the phase diagrams and sweeps run.

(a) Speed-up of the engine (``gradient_descent`` on all N at once) over per-configuration loops that are
    written plainly but well: the same fused in-place step by hand in numpy, and in torch (no autograd),
    one configuration at a time; plus the same hand-written step batched over N (the engine's ceiling
    in numpy). Every loop is timed in full (no extrapolation). One step for 10,000 configurations, and
    trajectories (1,000 configurations × 100 steps).
(b) Fraction of the memory-bandwidth roofline for large batches: a GD step must at least read and write
    B once (``2·8·k·d`` bytes per configuration; V and the small vectors are ignored), so
    ``achieved = 2·bytes(B) / time per step`` is compared with the bandwidth of an in-place scale
    ``a ← s·a`` measured in the same run (STREAM-like; copy and triad reported too).
(c) The concept-shift grid by the exact 2×2 reduction vs the full engine (``concept_grid`` methods).
(d) Peak traced memory of a chunked sweep against its size.
(e) Small problems (1-50 configurations, d = 5-20): per-step overhead.
(f) The compiled step's one-off costs (numba's import, the JIT compile, the load from numba's cache).

"engine" is ``gradient_descent`` as shipped: for this model (two-layer linear, p = 1, population MSE) it runs
the specialised step of ``lpft_theory.kernels``; "engine_previous" is the same call with
``dynamics.USE_KERNELS = False`` (the general fused step it replaced; bit for bit the same numbers). Both are
timed side by side in (a), (b) and (e).

"engine_compiled" is the same call with the opt-in compiled step (``lpft_theory.kernels_compiled``: numba,
one pass over B per step; ``pip install lpft-theory[fast]``); it joins (a), (b) and (e) when numba is importable.
Its JIT compile is excluded from those timings (it is loaded before they start); (f) measures it once,
in fresh processes: numba's import, the compile with an empty cache (cold) and the load from the cache (warm).

All timings are interleaved repeats (benchmarks/_timing.py): min and median. Usage:
``python benchmarks/engine.py [--json PATH] [--repeats 5] [--sections a,b,c,d,e,f]``; runs in about two
minutes (``--sections a,b,f``: the engine against its previous and compiled steps only).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import tracemalloc

import numpy as np
import torch

import synthetic
from lpft_theory import Moments, dynamics, gradient_descent, kernels_compiled, two_layer, two_layer_params
from lpft_theory.sweep.batched import concept_grid

from _timing import bandwidth, environment, interleaved, ratio


def problem(N, d, k, C=5, seed=0):
    """N configurations of client 0 under concept shift (k = m + C): η and λ drawn, one shared Σ = I."""
    m = k - C
    sc = synthetic.concept_shift(d, m, C, 1.0, rng=seed)
    B0, V0 = synthetic.idealised_init(sc)
    g = np.random.default_rng(seed)
    lam, eta = g.uniform(0.1, 2.0, N), g.uniform(0.01, 0.2, N)
    w = (sc.truth["V_stars"][0][None, :] * np.r_[np.ones(m), np.zeros(C)] + lam[:, None] * np.eye(k)[m]) @ sc.truth["B_star"]
    mom = Moments(np.eye(d), w[:, :, None], np.sum(w * w, axis=1))
    return two_layer(d, k), two_layer_params(B0, V0), mom, eta


COMPILED = kernels_compiled.available()  # numba importable: the compiled step joins (a), (b) and (e)


def engine(arch, p0, mom, eta, steps, kernel=True, compiled=False):
    start = tuple(np.broadcast_to(p, eta.shape + p.shape) for p in p0)
    dynamics.USE_KERNELS, dynamics.COMPILED = kernel, compiled
    try:
        return gradient_descent(arch, start, mom, eta, steps)
    finally:
        dynamics.USE_KERNELS, dynamics.COMPILED = True, False


def engine_compiled(p0, mom, eta, steps, arch=None):
    """The engine with the opt-in compiled step (lpft_theory.kernels_compiled)."""
    return engine(arch, p0, mom, eta, steps, compiled=True)


def engine_previous(p0, mom, eta, steps, arch=None):
    """The general fused step (before lpft_theory.kernels)."""
    return engine(arch, p0, mom, eta, steps, kernel=False)


def numpy_loop(p0, mom, eta, steps):
    """One configuration at a time, the step fused and in place by hand (Σ = I used), losses recorded."""
    B0, V0 = p0[0], p0[1][:, 0]
    W = mom.C[:, :, 0]
    losses = np.empty((steps + 1, len(eta)))
    for i in range(len(eta)):
        B, v, w, s = B0.copy(), V0.copy(), W[i], 2.0 * eta[i]
        for t in range(steps + 1):
            r = B.T @ v - w
            losses[t, i] = r @ r
            if t < steps:
                g = s * r
                gv = B @ g
                B -= np.outer(v, g)
                v -= gv
    return losses


def torch_loop(p0, mom, eta, steps):
    """:func:`numpy_loop` in torch (float64, no autograd: the gradient is written out)."""
    B0, V0 = torch.from_numpy(np.ascontiguousarray(p0[0])), torch.from_numpy(p0[1][:, 0].copy())
    W = torch.from_numpy(np.ascontiguousarray(mom.C[:, :, 0]))
    losses = torch.empty((steps + 1, len(eta)), dtype=torch.float64)
    for i in range(len(eta)):
        B, v, w, s = B0.clone(), V0.clone(), W[i], 2.0 * float(eta[i])
        for t in range(steps + 1):
            r = torch.mv(B.T, v) - w
            losses[t, i] = r @ r
            if t < steps:
                g = s * r
                gv = torch.mv(B, g)
                B.sub_(torch.outer(v, g))
                v.sub_(gv)
    return losses


def numpy_batched(p0, mom, eta, steps):
    """The same hand-written step on all N at once (no blocking): the plain batched numpy reference."""
    N = len(eta)
    B = np.array(np.broadcast_to(p0[0], (N,) + p0[0].shape), order="C")
    V = np.array(np.broadcast_to(p0[1], (N,) + p0[1].shape), order="C")
    s = 2.0 * eta[:, None, None]
    losses = np.empty((steps + 1, N))
    for t in range(steps + 1):
        r = np.swapaxes(B, 1, 2) @ V - mom.C
        losses[t] = np.sum(r * r, axis=(1, 2))
        if t < steps:
            g = s * r
            gv = B @ g
            B -= V * np.swapaxes(g, 1, 2)
            V -= gv
    return losses


def section_speedup(N, steps, repeats, d=20, k=8):
    arch, p0, mom, eta = problem(N, d, k)
    ref = engine(arch, p0, mom, eta, steps).losses
    assert np.array_equal(engine(arch, p0, mom, eta, steps, kernel=False).losses, ref)  # bit for bit
    others = [numpy_loop, torch_loop, numpy_batched]
    for other in others:  # all compute the same losses
        got = np.asarray(other(p0, mom, eta, steps))
        assert np.allclose(got, ref, rtol=1e-9, atol=1e-12), other.__name__
    if COMPILED:  # loaded (or compiled) here, before the timings; equal to round-off
        got = engine_compiled(p0, mom, eta, steps, arch=arch).losses
        assert np.allclose(got, ref, rtol=1e-12, atol=1e-12 * np.max(np.abs(mom.s)))
    engines = [engine_previous] + ([engine_compiled] if COMPILED else [])
    others = engines + others
    t = interleaved({"engine": lambda: engine(arch, p0, mom, eta, steps)}
                    | {f.__name__: (lambda f: lambda: f(p0, mom, eta, steps, arch=arch) if f in engines
                                    else f(p0, mom, eta, steps))(f) for f in others}, repeats)
    return {"configs": N, "steps": steps, "d": d, "k": k, "times": t,
            **{f"engine_vs_{f.__name__}": ratio(t, f.__name__, "engine") for f in others}}


def section_roofline(cases, repeats, steps=10):
    bw = bandwidth(repeats=repeats)
    rows = []
    for N, d, k in cases:
        arch, p0, mom, eta = problem(N, d, k)
        who_fn = {"engine": lambda n: engine(arch, p0, mom, eta, n),
                  "previous": lambda n: engine(arch, p0, mom, eta, n, kernel=False),
                  "batched": lambda n: numpy_batched(p0, mom, eta, n)}
        if COMPILED:
            who_fn["compiled"] = lambda n: engine(arch, p0, mom, eta, n, compiled=True)
            engine(arch, p0, mom, eta, 1, compiled=True)  # the JIT compile (or cache load), outside the timings
        t = interleaved({f"{w}_{n}": (lambda f, n: lambda: f(n))(f, n if n == 1 else steps + 1)
                         for w, f in who_fn.items() for n in (1, "n")}, repeats)
        bytes_b = N * k * d * 8
        row = {"configs": N, "d": d, "k": k, "B_MiB": bytes_b / 2 ** 20, "times": t}
        for who in who_fn:
            for stat in ("min_s", "median_s"):
                per_step = (t[f"{who}_n"][stat] - t[f"{who}_1"][stat]) / steps
                gbs = 2 * bytes_b / per_step / 1e9
                row[f"{who}_{stat[:-2]}"] = {"s_per_step": per_step, "GB_s": gbs,
                                             "fraction_of_scale_bw": gbs / bw["scale"]["GB_s_best"]}
        if COMPILED:
            row["compiled_vs_engine"] = {"of_min": row["engine_min"]["s_per_step"] / row["compiled_min"]["s_per_step"],
                                         "of_median": row["engine_median"]["s_per_step"]
                                         / row["compiled_median"]["s_per_step"]}
        rows.append(row)
    return {"bandwidth": bw, "steps_differenced": steps, "cases": rows}


_IMPORT = "import time; t, c = time.perf_counter(), time.process_time(); import numba; "
_LOAD = ("import time; t, c = time.perf_counter(), time.process_time(); import numba; "
         "ti, ci = time.perf_counter() - t, time.process_time() - c; "
         "from lpft_theory import kernels_compiled; kernels_compiled.warm_up(); ")


def section_compile(repeats):
    """The one-off costs of the compiled step, each in a fresh process (``lpft_theory`` already imported
    before the clock starts): ``import numba`` alone; numba's import plus the compile of the step into an
    empty cache directory (cold: a fresh install); the same with that cache filled (warm: every later
    process). Wall and CPU seconds; the compile alone is (cold − import)."""
    def child(code, cache):
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", "import lpft_theory; " + code], env=env, check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out)

    report = ("print(__import__('json').dumps({'wall_s': time.perf_counter() - t, "
              "'cpu_s': time.process_time() - c}))")
    runs = {"import_numba": [], "cold": [], "warm": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            runs["import_numba"].append(child(_IMPORT + report, cache))
            runs["cold"].append(child(_LOAD + report, cache))
            runs["warm"].append(child(_LOAD + report, cache))
    out = {k: {f"{m}_{stat.__name__}": stat([r[m] for r in v]) for m in ("wall_s", "cpu_s")
               for stat in (min, statistics.median)} | {"runs": v} for k, v in runs.items()}
    out["compile_only_cpu_s_median"] = out["cold"]["cpu_s_median"] - out["import_numba"]["cpu_s_median"]
    out["repeats"] = repeats
    return out


def section_small(cases, repeats):
    """Small problems, where the per-step overhead is all: the engine against its previous step (and the
    compiled step)."""
    rows = []
    for N, d, k, steps in cases:
        arch, p0, mom, eta = problem(N, d, k)
        who = {"engine": lambda: engine(arch, p0, mom, eta, steps),
               "engine_previous": lambda: engine(arch, p0, mom, eta, steps, kernel=False)}
        if COMPILED:
            who["engine_compiled"] = lambda: engine(arch, p0, mom, eta, steps, compiled=True)
        t = interleaved(who, 3 * repeats)
        rows.append({"configs": N, "d": d, "k": k, "steps": steps, "times": t,
                     "engine_vs_previous": ratio(t, "engine_previous", "engine")}
                    | ({"compiled_vs_engine": ratio(t, "engine", "engine_compiled")} if COMPILED else {}))
    return rows


def section_grid(repeats, n_eta=20, n_lam=100, steps=20):
    etas, lams = np.linspace(0.01, 0.2, n_eta), np.linspace(0.1, 2.0, n_lam)
    a = concept_grid(etas, lams, steps=steps, chunk=None)
    b = concept_grid(etas, lams, steps=steps, chunk=None, method="engine")
    err = max(float(np.max(np.abs(a[x] - b[x]) / np.abs(b[x]))) for x in ("ft_global", "lp_ft_global"))
    t = interleaved({"reduced": lambda: concept_grid(etas, lams, steps=steps, chunk=None),
                     "engine": lambda: concept_grid(etas, lams, steps=steps, chunk=None, method="engine")}, repeats)
    return {"configs": n_eta * n_lam, "clients": 5, "steps": steps, "times": t, "max_relative_difference": err,
            "reduced_vs_engine": ratio(t, "engine", "reduced")}


def section_memory(sizes, chunk):
    out = []
    for n in sizes:
        for ch in (chunk, None):
            tracemalloc.start()
            concept_grid(np.linspace(0.02, 0.3, n), [1.0], steps=5, d=20, m=3, n_clients=5, chunk=ch, method="engine")
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            out.append({"configs": n, "chunk": ch, "peak_MiB": peak / 2 ** 20})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sections", default="a,b,c,d,e,f", help="which sections to run (comma-separated letters)")
    args = ap.parse_args()
    r, only = args.repeats, set(args.sections.split(","))
    res = {"environment": environment()}
    if "a" in only:
        res |= {"one_step": section_speedup(10_000, 1, r), "trajectories": section_speedup(1_000, 100, r)}
    if "b" in only:
        res["roofline"] = section_roofline([(100_000, 20, 8), (2_000, 256, 64)], r)
    if "c" in only:
        res["grid"] = section_grid(r)
    if "d" in only:
        res["memory"] = section_memory((500, 2_000, 8_000), 500)
    if "e" in only:
        res["small"] = section_small([(1, 5, 5, 100), (10, 10, 6, 100), (50, 20, 8, 100), (1, 20, 8, 1),
                                      (50, 20, 8, 1)], r)
    if "f" in only and COMPILED:
        res["compile"] = section_compile(max(3, r // 2))
    # the kernel's rank-1 update runs in torch when torch is imported (it is, here), else in numpy: same bits
    res["environment"]["kernel_rank_one_update"] = "torch" if "torch" in sys.modules else "numpy"
    if COMPILED:
        import numba

        res["environment"]["numba"] = numba.__version__
    print(json.dumps(res["environment"]))
    for key in ("one_step", "trajectories"):
        if key not in res:
            continue
        s = res[key]
        t = s["times"]
        print(f"(a) {s['configs']} configs x {s['steps']} step(s): engine {t['engine']['min_s'] * 1e3:.1f} ms | "
              + " | ".join(f"{n} {t[n]['min_s'] * 1e3:.1f} ms (engine {s[f'engine_vs_{n}']['of_min']:.1f}x faster, median "
                           f"{s[f'engine_vs_{n}']['median']:.1f}x)" for n in t if n != "engine"))
    bw = res["roofline"]["bandwidth"] if "roofline" in res else None
    if bw:
        print("(b) bandwidth GB/s (best/median): " + ", ".join(f"{k} {bw[k]['GB_s_best']:.1f}/{bw[k]['GB_s_median']:.1f}"
                                                                for k in ("scale", "copy", "triad")))
    for c in res["roofline"]["cases"] if bw else ():
        print(f"(b) N={c['configs']}, d={c['d']}, k={c['k']} (B {c['B_MiB']:.0f} MiB): engine "
              f"{c['engine_min']['GB_s']:.1f} GB/s = {100 * c['engine_min']['fraction_of_scale_bw']:.0f}% of the roofline "
              f"(median {100 * c['engine_median']['fraction_of_scale_bw']:.0f}%); previous step "
              f"{100 * c['previous_min']['fraction_of_scale_bw']:.0f}% (median {100 * c['previous_median']['fraction_of_scale_bw']:.0f}%); "
              f"plain batched numpy "
              f"{100 * c['batched_min']['fraction_of_scale_bw']:.0f}%"
              + (f"; compiled step {c['compiled_min']['GB_s']:.1f} GB/s = "
                 f"{100 * c['compiled_min']['fraction_of_scale_bw']:.0f}% (median "
                 f"{100 * c['compiled_median']['fraction_of_scale_bw']:.0f}%), "
                 f"{c['compiled_vs_engine']['of_min']:.1f}x the engine (median {c['compiled_vs_engine']['of_median']:.1f}x)"
                 if "compiled_min" in c else ""))
    g = res.get("grid")
    if g:
        print(f"(c) grid {g['configs']} configs x {g['steps']} steps: reduced {g['times']['reduced']['min_s'] * 1e3:.1f} ms, "
              f"engine {g['times']['engine']['min_s'] * 1e3:.0f} ms: {g['reduced_vs_engine']['of_min']:.0f}x "
              f"(median {g['reduced_vs_engine']['median']:.0f}x); max rel. difference {g['max_relative_difference']:.1e}")
    for m in res.get("memory", ()):
        print(f"(d) {m['configs']:5d} configs, chunk {m['chunk']}: peak {m['peak_MiB']:.1f} MiB")
    c = res.get("compile")
    if c:
        print(f"(f) compiled step, one-off costs in a fresh process ({c['repeats']} repeats, CPU s min/median): "
              f"import numba {c['import_numba']['cpu_s_min']:.2f}/{c['import_numba']['cpu_s_median']:.2f}; "
              f"import + compile, empty cache {c['cold']['cpu_s_min']:.2f}/{c['cold']['cpu_s_median']:.2f}; "
              f"import + load from the cache {c['warm']['cpu_s_min']:.2f}/{c['warm']['cpu_s_median']:.2f}")
    for s in res.get("small", ()):
        t = s["times"]
        print(f"(e) N={s['configs']}, d={s['d']}, k={s['k']}, {s['steps']} step(s): engine {t['engine']['min_s'] * 1e3:.3f} ms "
              f"(median {t['engine']['median_s'] * 1e3:.3f}), previous {t['engine_previous']['min_s'] * 1e3:.3f} ms "
              f"(median {t['engine_previous']['median_s'] * 1e3:.3f}): {s['engine_vs_previous']['of_min']:.2f}x "
              f"(median {s['engine_vs_previous']['median']:.2f}x)"
              + (f"; compiled {t['engine_compiled']['min_s'] * 1e3:.3f} ms (median {t['engine_compiled']['median_s'] * 1e3:.3f}): "
                 f"{s['compiled_vs_engine']['of_min']:.2f}x the engine (median {s['compiled_vs_engine']['median']:.2f}x)"
                 if "compiled_vs_engine" in s else ""))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
