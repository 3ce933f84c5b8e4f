"""Clients in parallel on real images: the torch adapter's batched (bmm) and vmap paths vs a per-client loop,
and the thread policy, side by side in one run.

(a) Threads: one value-and-gradient call for 6 digits clients (MLP) with 1 vs 2 torch/BLAS threads.
(b) 20 clients (federated digits, covariate shift), MLP and CNN: one value-and-gradient evaluation of all
    clients, and FedAvg (3 rounds × 5 local steps), by each path of the same ``TorchArch`` adapter
    (``path="batched" | "vmap" | "loop"``), and the batched path with its products on torch's BLAS
    (``blas="torch"``, "batched/torch") instead of numpy's (the default). The loop is the plain per-client
    torch loop (``torch.func`` value-and-gradient of the module, one client at a time).

All timings are interleaved repeats (benchmarks/_timing.py): min and median.
Usage: ``python benchmarks/vmap_clients.py [--json PATH] [--repeats 7]``; runs in about a minute.
"""
import argparse
import json

from lpft_theory import threads
from lpft_theory.data import stack_clients
from lpft_theory.empirical.digits import split
from lpft_theory.empirical.torch_arch import PATHS, cnn, mlp
from lpft_theory.federated import fedavg

from _timing import environment, interleaved, ratio

CONTENDERS = PATHS + ("batched/torch",)  # "batched/torch": the batched path with blas="torch"


def with_threads(n, fn):
    def call():
        threads.configure(n)
        fn()
    return call


def section_threads(repeats, clients=6):
    data = stack_clients(split("covariate", clients, seed=0).train)
    arch = mlp()
    params = arch.init(0, batch=(clients,))
    fn = lambda: arch.value_and_grad(params, data, "ce")  # noqa: E731
    t = interleaved({"1 thread": with_threads(1, fn), "2 threads": with_threads(2, fn)}, repeats)
    threads.configure()
    return {"clients": clients, "points_per_client": int(data.n), "times": t,
            "one_vs_two_threads": ratio(t, "2 threads", "1 thread")}


def section_clients(repeats, clients=20):
    data = stack_clients(split("covariate", clients, seed=0).train)
    out = {"clients": clients, "points_per_client": int(data.n)}
    for name, make in (("mlp", mlp), ("cnn", cnn)):
        archs = {p: make(path=p) for p in PATHS} | {"batched/torch": make(path="batched", blas="torch")}
        params, p0 = archs["batched"].init(0, batch=(clients,)), archs["batched"].init(0)
        grad = interleaved({p: (lambda a: lambda: a.value_and_grad(params, data, "ce"))(a) for p, a in archs.items()}, repeats)
        fed = interleaved({p: (lambda a: lambda: fedavg(a, p0, data, 3, 5, 0.5, loss="ce"))(a) for p, a in archs.items()},
                          max(3, repeats // 2))
        out[name] = {"value_and_grad": grad, "fedavg_3x5": fed}
        for what, t in (("value_and_grad", grad), ("fedavg_3x5", fed)):
            out[name][f"{what}_speedup"] = {"batched_vs_loop": ratio(t, "loop", "batched"),
                                            "vmap_vs_loop": ratio(t, "loop", "vmap"),
                                            "batched_vs_vmap": ratio(t, "vmap", "batched"),
                                            "batched_torch_blas_vs_loop": ratio(t, "loop", "batched/torch")}
    return out


def blas_info() -> dict:
    """Which BLAS each side uses: numpy's (threadpoolctl) and torch's (its build configuration)."""
    import torch
    from threadpoolctl import threadpool_info

    numpy_blas = [{k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                  for p in threadpool_info() if p["user_api"] == "blas"]
    torch_blas = [f for f in torch.__config__.show().replace(",", "\n").splitlines() if "BLAS_INFO" in f]
    return {"numpy": numpy_blas, "torch": torch_blas[0].strip() if torch_blas else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", help="write the measurements here")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    res = {"environment": environment() | {"blas": blas_info()}, "threads": section_threads(args.repeats),
           "clients": section_clients(args.repeats)}
    print(json.dumps(res["environment"]))
    th = res["threads"]
    print(f"(a) value+grad, {th['clients']} MLP clients: 1 thread {th['times']['1 thread']['min_s'] * 1e3:.1f} ms, "
          f"2 threads {th['times']['2 threads']['min_s'] * 1e3:.1f} ms: 1 thread is "
          f"{th['one_vs_two_threads']['of_min']:.2f}x faster (median {th['one_vs_two_threads']['median']:.2f}x)")
    c = res["clients"]
    for name in ("mlp", "cnn"):
        for what in ("value_and_grad", "fedavg_3x5"):
            t, s = c[name][what], c[name][f"{what}_speedup"]
            print(f"(b) {name} {what}, {c['clients']} clients: "
                  + ", ".join(f"{p} {t[p]['min_s'] * 1e3:.1f} ms" for p in CONTENDERS)
                  + " | " + ", ".join(f"{k} {v['of_min']:.1f}x (median {v['median']:.1f}x)" for k, v in s.items()))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
