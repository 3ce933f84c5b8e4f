"""The batched engine against naive per-configuration loops, FLOP/s, and memory, side by side in one run.

(a) One GD step for N = 10,000 configurations (η, λ differ) and 1,000 trajectories of 500 steps of the
    two-layer linear model on Chen et al.'s concept shift (population loss): the batched numpy engine vs a
    Python loop calling the numpy engine per configuration, and vs a Python loop of torch autograd steps.
(b) Achieved float64 FLOP/s of the batched GD step (analytic FLOP count / time) as a fraction of this
    machine's float64 matmul throughput (a 1024×1024 matmul), measured in the same run.
(c) Peak traced memory (tracemalloc) of a chunked batched sweep against its size.

Loops over many configurations are timed on a subset (``--loop-sample``) and scaled linearly — every
configuration is independent — unless ``--full``. Usage: ``python benchmarks/engine.py [--json PATH]``.
"""
import argparse
import json
import time
import tracemalloc

import numpy as np
import torch

import synthetic
from lpft_theory import Moments, gradient_descent, two_layer, two_layer_params
from lpft_theory.sweep.batched import concept_grid


def problem(N, d, m, C, seed=0):
    """N configurations of client 0 under concept shift: η and λ on a grid, one shared Σ = I."""
    sc = synthetic.concept_shift(d, m, C, 1.0, rng=seed)
    B0, V0 = synthetic.idealised_init(sc)
    g = np.random.default_rng(seed)
    lam = g.uniform(0.1, 2.0, N)
    eta = g.uniform(0.01, 0.2, N)
    w = (sc.truth["V_stars"][0][None, :] * np.r_[np.ones(m), np.zeros(C)] + lam[:, None] * np.eye(m + C)[m]) @ sc.truth["B_star"]
    mom = Moments(np.eye(d), w[:, :, None], np.sum(w * w, axis=1))
    return two_layer(d, m + C), two_layer_params(B0, V0), mom, eta


def batched(arch, p0, mom, eta, steps):
    N = eta.shape[0]
    start = tuple(np.broadcast_to(p, (N,) + p.shape) for p in p0)
    return gradient_descent(arch, start, mom, eta, steps).params


def numpy_loop(arch, p0, mom, eta, steps, idx):
    for i in idx:
        gradient_descent(arch, p0, mom[i], float(eta[i]), steps)


def torch_loop(p0, mom, eta, steps, idx):
    Sigma = torch.tensor(mom.Sigma)
    for i in idx:
        B = torch.tensor(p0[0], requires_grad=True)
        V = torch.tensor(p0[1], requires_grad=True)
        wstar = torch.tensor(mom.C[i])
        for _ in range(steps):
            r = B.T @ V - wstar
            loss = (r.T @ Sigma @ r).sum()
            gB, gV = torch.autograd.grad(loss, (B, V))
            with torch.no_grad():
                B -= float(eta[i]) * gB
                V -= float(eta[i]) * gV


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def section_a(N, steps, sample, full):
    arch, p0, mom, eta = problem(N, 20, 3, 5)
    batched(arch, p0, mom[:10], eta[:10], 1)  # warm-up
    idx = np.arange(N) if full else np.arange(min(sample, N))
    scale = N / len(idx)
    t_b = timed(lambda: batched(arch, p0, mom, eta, steps))
    t_np = timed(lambda: numpy_loop(arch, p0, mom, eta, steps, idx)) * scale
    t_th = timed(lambda: torch_loop(p0, mom, eta, steps, idx)) * scale
    return {"configs": N, "steps": steps, "loop_timed_on": len(idx), "batched_s": t_b, "numpy_loop_s": t_np,
            "torch_loop_s": t_th, "speedup_vs_numpy_loop": t_np / t_b, "speedup_vs_torch_loop": t_th / t_b}


def gd_step_flops(d, k, p=1):
    """predictor 2kdp, Σβ 2d²p, residual/loss ~5dp, ∇V = BG 2kdp, ∇B = VGᵀ kdp, update 2(kd + kp)."""
    return 2 * k * d * p + 2 * d * d * p + 5 * d * p + 2 * k * d * p + k * d * p + 2 * (k * d + k * p)


def section_b(d, k, chunks=(16, 64, 256, 2000)):
    """Throughput of the batched step at several batch (chunk) sizes: small chunks stay in cache."""
    A = np.random.default_rng(0).standard_normal((1024, 1024))
    A @ A
    t_mm = min(timed(lambda: A @ A) for _ in range(5))
    peak = 2 * 1024 ** 3 / t_mm
    rows = []
    for N in chunks:
        arch, p0, mom, eta = problem(N, d, k - 5, 5)
        batched(arch, p0, mom, eta, 2)
        t1 = min(timed(lambda: batched(arch, p0, mom, eta, 11)) for _ in range(3))
        t0 = min(timed(lambda: batched(arch, p0, mom, eta, 1)) for _ in range(3))
        per_step = (t1 - t0) / 10
        achieved = N * gd_step_flops(d, k) / per_step
        rows.append({"configs_per_batch": N, "gd_step_gflops": achieved / 1e9, "fraction_of_matmul": achieved / peak,
                     "seconds_per_batched_step": per_step})
    best = max(rows, key=lambda r: r["fraction_of_matmul"])
    flops = gd_step_flops(d, k)
    bytes_moved = 6 * k * d * 8  # B read twice, dB written, B and dB read and B written by the update
    return {"d": d, "k": k, "matmul_gflops": peak / 1e9, "by_batch": rows, "best": best,
            "flops_per_config_step": flops, "arithmetic_intensity_flop_per_byte": flops / bytes_moved}


def section_c(sizes, chunk):
    out = []
    for n in sizes:
        for ch in (chunk, None):
            tracemalloc.start()
            concept_grid(np.linspace(0.02, 0.3, n), [1.0], steps=5, d=20, m=3, n_clients=5, chunk=ch)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            out.append({"configs": n, "chunk": ch, "peak_MiB": peak / 2 ** 20})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json")
    ap.add_argument("--loop-sample", type=int, default=200)
    ap.add_argument("--full", action="store_true", help="time every configuration of the loops")
    args = ap.parse_args()
    torch.set_num_threads(2)
    res = {"one_step": section_a(10_000, 1, args.loop_sample, args.full),
           "trajectories": section_a(1_000, 500, max(args.loop_sample // 10, 10), args.full),
           "flops_small": section_b(20, 8), "flops_large": section_b(256, 64),
           "memory": section_c((500, 2_000, 8_000), 500)}
    for key in ("one_step", "trajectories"):
        r = res[key]
        print(f"(a) {r['configs']} configs x {r['steps']} step(s): batched {r['batched_s']:.3f} s | numpy loop "
              f"{r['numpy_loop_s']:.2f} s ({r['speedup_vs_numpy_loop']:.0f}x) | torch loop {r['torch_loop_s']:.2f} s "
              f"({r['speedup_vs_torch_loop']:.0f}x)  [loops timed on {r['loop_timed_on']} configs, scaled]")
    for key in ("flops_small", "flops_large"):
        r = res[key]
        for b in r["by_batch"]:
            print(f"(b) d={r['d']}, k={r['k']}, {b['configs_per_batch']:5d} configs per batch: GD step "
                  f"{b['gd_step_gflops']:.2f} GFLOP/s = {100 * b['fraction_of_matmul']:.1f}% of float64 matmul "
                  f"({r['matmul_gflops']:.1f} GFLOP/s); intensity {r['arithmetic_intensity_flop_per_byte']:.2f} flop/byte")
    for r in res["memory"]:
        print(f"(c) {r['configs']:5d} configs, chunk {r['chunk']}: peak {r['peak_MiB']:.1f} MiB")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
