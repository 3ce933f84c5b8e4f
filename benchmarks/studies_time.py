"""CPU time of the synthetic studies behind the checks and figures (chen2025_empirical, fedpurel, flexpsfl and
the figures drawn from the same studies), each run in a fresh process, interleaved between source trees.

The work is the exact set of study calls ``lpft reproduce`` makes for them (every protocol variant the checks
judge under; the figures read the same cached studies), plus ``fedavg_angles``. Each tree runs it in its own
child process (``python -c`` in the tree's folder, so that tree's packages are imported); CPU time is
``getrusage(RUSAGE_CHILDREN)`` (user + system) around the child. Trees are run in rotating order, ``--repeats``
times, so a burst of load on a shared machine hits every tree alike; ratios are reported as the ratio of mins
and the median of per-repeat ratios. With ``--check`` every tree's numbers are compared with the first tree's
(exact, or the largest relative difference).

Usage: ``python benchmarks/studies_time.py OLD_TREE NEW_TREE [--repeats 3] [--full] [--check] [--work flows]
[--json PATH]`` (``--work flows``: Kumar et al.'s checks and figures instead, the package's gradient flows),
e.g. an old commit unpacked with ``git archive <commit> | tar -x -C /tmp/old``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CHILD = r"""
import pickle, sys, time
from lpft_theory import studies
from lpft_theory.protocol import FIXED, VARIANTS
quick, out = {quick}, {out!r}
t0 = time.process_time()
short, equal = VARIANTS["short global model"], VARIANTS["equal budget"]
res = {{}}
for v in VARIANTS.values():
    res["table2 " + v.name] = studies.variant_table(quick, 0, v)
    res["hetero " + v.name] = studies.heterogeneity_sweep(quick, 0, v)
for v in (FIXED, short):
    res["overfitting " + v.name] = studies.overfitting_curves(quick, 0, v)
    res["longtail " + v.name] = studies.longtail_study(quick, 0, v)
    res["split " + v.name] = studies.split_study(quick, 0, v)
for v in (FIXED, short, equal):
    res["scatter " + v.name] = studies.distortion_scatter(quick, 0, v)
    res["flooding " + v.name] = studies.flooding_study(quick, 0, v)
res["fedavg_angles"] = studies.fedavg_angles(quick, 0)
print(f"{{time.process_time() - t0:.2f}}")
if out:
    with open(out, "wb") as fh:
        pickle.dump(res, fh)
"""


# --work flows: the gradient flows of Kumar et al.'s checks and figures (dynamics.gradient_flow)
FLOWS = r"""
import pickle, time
import figures, paper_checks
from paper_checks import kumar2022
quick, out = {quick}, {out!r}
t0 = time.process_time()
res = {{fn.claim_id: paper_checks.run_one(fn, paper_checks.Context(quick, 0)).to_dict() for fn in kumar2022.CHECKS}}
for name in ("kumar_bound", "kumar_toy"):
    res["figure " + name] = figures.module(name).compute(quick=quick, seed=0)
print(f"{{time.process_time() - t0:.2f}}")
if out:
    with open(out, "wb") as fh:
        pickle.dump(res, fh)
"""
WORK = {"studies": CHILD, "flows": FLOWS}


def run_tree(tree: str, quick: bool, out: str | None, work: str = "studies") -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": tree}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", WORK[work].format(quick=quick, out=out)], cwd=tree, env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        raise RuntimeError(f"{tree}: {p.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": cpu, "wall_s": wall, "studies_cpu_s": float(p.stdout.split()[-1]), "load": os.getloadavg()[0]}


def compare(a, b, path="", acc=None):
    """Largest relative difference between two nested results (and a count of exact mismatches elsewhere)."""
    import math

    import numpy as np

    acc = {"max_rel": 0.0, "where": "", "other": 0} if acc is None else acc
    if isinstance(a, dict):
        if list(a) != list(b):
            acc["other"] += 1
            return acc
        for k in a:
            compare(a[k], b[k], f"{path}/{k}", acc)
    elif isinstance(a, (list, tuple, np.ndarray)):
        if len(a) != len(b):
            acc["other"] += 1
            return acc
        for i, (x, y) in enumerate(zip(a, b)):
            compare(x, y, f"{path}[{i}]", acc)
    elif isinstance(a, float) and isinstance(b, float):
        if a != b and not (math.isnan(a) and math.isnan(b)):
            rel = abs(a - b) / max(abs(a), abs(b), 1e-300)
            if rel > acc["max_rel"]:
                acc["max_rel"], acc["where"] = rel, path
    elif a != b:
        acc["other"] += 1
    return acc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="+", help="source trees (the first is the baseline)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--full", action="store_true", help="the full (not quick) studies")
    ap.add_argument("--check", action="store_true", help="compare every tree's numbers with the first tree's")
    ap.add_argument("--work", choices=sorted(WORK), default="studies",
                    help="studies: the synthetic studies; flows: Kumar et al.'s checks and figures (gradient flows)")
    ap.add_argument("--json")
    a = ap.parse_args()
    trees = [os.path.abspath(t) for t in a.trees]
    runs = {t: [] for t in trees}
    for r in range(a.repeats):
        for i in range(len(trees)):
            t = trees[(i + r) % len(trees)]
            out = f"/tmp/studies_time_{os.getpid()}_{trees.index(t)}.pkl" if a.check and r == 0 else None
            runs[t].append(run_tree(t, not a.full, out, a.work))
            print(f"repeat {r}: {t}: CPU {runs[t][-1]['cpu_s']:.1f} s (studies {runs[t][-1]['studies_cpu_s']:.1f} s), "
                  f"load {runs[t][-1]['load']:.1f}", flush=True)
    base = trees[0]
    summary = {}
    for t in trees:
        cpu = [x["cpu_s"] for x in runs[t]]
        per = [b["cpu_s"] / x["cpu_s"] for b, x in zip(runs[base], runs[t])]
        summary[t] = {"cpu_min_s": min(cpu), "cpu_median_s": statistics.median(cpu),
                      "ratio_of_min": min(x["cpu_s"] for x in runs[base]) / min(cpu),
                      "ratio_median": statistics.median(per), "runs": runs[t]}
        print(f"{t}: CPU min {min(cpu):.1f} s, median {statistics.median(cpu):.1f} s; "
              f"{summary[t]['ratio_of_min']:.2f}x faster than {base} (median of per-repeat ratios "
              f"{summary[t]['ratio_median']:.2f}x)")
    if a.check:
        import pickle

        ref = pickle.load(open(f"/tmp/studies_time_{os.getpid()}_0.pkl", "rb"))
        for j, t in enumerate(trees[1:], 1):
            other = pickle.load(open(f"/tmp/studies_time_{os.getpid()}_{j}.pkl", "rb"))
            acc = compare(ref, other)
            summary[t]["numbers"] = acc
            print(f"{t}: numbers vs {base}: largest relative difference {acc['max_rel']:.3g} {acc['where']}, "
                  f"{acc['other']} non-float mismatches")
        for j in range(len(trees)):
            os.remove(f"/tmp/studies_time_{os.getpid()}_{j}.pkl")
    if a.json:
        from _timing import environment

        with open(a.json, "w") as fh:
            json.dump({"environment": environment(), "work": a.work, "quick": not a.full, "trees": summary}, fh, indent=2)


if __name__ == "__main__":
    main()
