"""Wall and CPU time of the main job and of ``lpft real``, each in a fresh process, with the thread count
(targets: ``reproduce --quick`` <= 45 s CPU on 2 cores; ``reproduce`` <= 10 min; ``lpft real`` <= 5 min).

Each command runs ``--repeats`` times in a row (a whole job is too long to interleave usefully); the
machine's load average is recorded beside each run, since other work on a shared machine inflates wall
time more than CPU time. Usage: ``python benchmarks/reproduce_time.py [--json PATH] [--skip-full]
[--skip-real] [--repeats 1] [--breakdown]``.

``--breakdown``: the reproduce runs call ``paper_checks.report.reproduce`` in the child with every check
(``run_one``) and figure (``figures.render``) timed in CPU seconds (a study shared by several checks is charged
to the first that needs it); the JSON then lists them, largest first, beside the rest (imports, report).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from _timing import environment


BREAKDOWN = r"""
import json, sys, time
import figures, paper_checks
from paper_checks import report
items, failed = [], []
def timed(label, fn, tolerate=False):
    def wrapper(*a, **k):
        t = time.process_time()
        try:
            return fn(*a, **k)
        except Exception as e:  # a figure that fails is recorded and the job goes on (a benchmark, not a test)
            if not tolerate:
                raise
            failed.append([label(*a), f"{type(e).__name__}: {e}"])
            return []
        finally:
            items.append([label(*a), time.process_time() - t])
    return wrapper
paper_checks.run_one = timed(lambda fn, ctx: fn.claim_id, paper_checks.run_one)
figures.render = timed(lambda name, *a, **k: "figure " + name, figures.render, tolerate=True)
report.reproduce(sys.argv[1], quick=sys.argv[2] == "quick", progress=False)
json.dump({"items": sorted(items, key=lambda r: -r[1]), "failed": failed, "process_cpu_s": time.process_time()},
          open(sys.argv[3], "w"))
"""


def timed(args, breakdown: bool = False):
    with tempfile.TemporaryDirectory() as tmp:
        if breakdown and args[0] == "reproduce":
            cmd = [sys.executable, "-c", BREAKDOWN, f"{tmp}/out", "quick" if "--quick" in args else "full",
                   f"{tmp}/items.json"]
        else:
            cmd = [sys.executable, "-m", "lpft_theory.cli", *args, *(["--out", f"{tmp}/out"] if "reproduce" in args else [])]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = os.getloadavg()[0]
        t = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode:
            raise RuntimeError(f"{' '.join(args)} failed:\n{p.stderr[-3000:]}")
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        extra = {}
        if breakdown and args[0] == "reproduce":
            with open(f"{tmp}/items.json") as fh:
                extra = json.load(fh)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "load_average_before": load, **extra}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json")
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--breakdown", action="store_true", help="CPU per check and figure (reproduce runs)")
    a = ap.parse_args()
    runs = {"reproduce --quick": ["reproduce", "--quick"]}
    if not a.skip_real:
        runs["real (default)"] = ["real"]
    if not a.skip_full:
        runs["reproduce"] = ["reproduce"]
    out = {"environment": environment()}
    for name, args in runs.items():
        out[name] = [timed(args, a.breakdown) for _ in range(a.repeats)]
        for r in out[name]:
            print(f"lpft {name}: wall {r['wall_s']:.0f} s, CPU {r['cpu_s']:.0f} s (load average {r['load_average_before']:.1f})")
            for label, cpu in r.get("items", [])[:25]:
                print(f"    {cpu:6.2f} s  {label}")
            for label, why in r.get("failed", []):
                print(f"    FAILED {label}: {why}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
