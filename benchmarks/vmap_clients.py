"""Clients in parallel (torch.func.vmap) vs a sequential per-client loop, at 20 clients, side by side.

Both paths run the same TorchArch adapter; only ``sequential`` differs. Reports best-of-5 wall times and
the ratio sequential / vmap for (a) one value-and-gradient evaluation of all clients and (b) FedAvg
local training (rounds × local steps). Usage: ``python benchmarks/vmap_clients.py [--json PATH]``.
"""
import argparse
import json
import time

import torch

from lpft_theory.data import stack_clients
from lpft_theory.empirical.digits import split
from lpft_theory.empirical.torch_arch import cnn, mlp
from lpft_theory.federated import fedavg


def best_of(fn, repeat=5):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--json", help="write the measurements here")
    args = ap.parse_args()
    torch.set_num_threads(2)
    fed = split("covariate", args.clients, seed=0)
    data = stack_clients(fed.train)
    out = {"clients": args.clients, "threads": torch.get_num_threads(), "points_per_client": int(data.n)}
    for name, make in (("mlp", mlp), ("cnn", cnn)):
        par, seq = make(), make(sequential=True)
        params = par.init(0, batch=(args.clients,))
        t_par = best_of(lambda: par.value_and_grad(params, data, "ce"))
        t_seq = best_of(lambda: seq.value_and_grad(params, data, "ce"))
        p0 = par.init(0)
        f_par = best_of(lambda: fedavg(par, p0, data, 3, 5, 0.5, loss="ce"), repeat=3)
        f_seq = best_of(lambda: fedavg(seq, p0, data, 3, 5, 0.5, loss="ce"), repeat=3)
        out[name] = {"grad_vmap_s": t_par, "grad_sequential_s": t_seq, "grad_speedup": t_seq / t_par,
                     "fedavg_vmap_s": f_par, "fedavg_sequential_s": f_seq, "fedavg_speedup": f_seq / f_par}
        print(f"{name}: value+grad of {args.clients} clients  vmap {t_par * 1e3:.1f} ms  loop {t_seq * 1e3:.1f} ms  "
              f"speed-up {t_seq / t_par:.1f}x | FedAvg 3x5 steps  vmap {f_par:.2f} s  loop {f_seq:.2f} s  "
              f"speed-up {f_seq / f_par:.1f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
