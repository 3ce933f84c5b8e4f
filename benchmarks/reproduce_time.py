"""Wall and CPU time of the main job and of ``lpft real``, each in a fresh process, with the thread count
(targets: ``reproduce --quick`` <= 45 s CPU on 2 cores; ``reproduce`` <= 10 min; ``lpft real`` <= 5 min).

Each command runs ``--repeats`` times in a row (a whole job is too long to interleave usefully); the
machine's load average is recorded beside each run, since other work on a shared machine inflates wall
time more than CPU time. Usage: ``python benchmarks/reproduce_time.py [--json PATH] [--skip-full]
[--skip-real] [--repeats 1]``.
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


def timed(args):
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = os.getloadavg()[0]
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lpft_theory.cli", *args, *(["--out", f"{tmp}/out"] if "reproduce" in args else [])],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "load_average_before": load}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json")
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    runs = {"reproduce --quick": ["reproduce", "--quick"]}
    if not a.skip_real:
        runs["real (default)"] = ["real"]
    if not a.skip_full:
        runs["reproduce"] = ["reproduce"]
    out = {"environment": environment()}
    for name, args in runs.items():
        out[name] = [timed(args) for _ in range(a.repeats)]
        for r in out[name]:
            print(f"lpft {name}: wall {r['wall_s']:.0f} s, CPU {r['cpu_s']:.0f} s (load average {r['load_average_before']:.1f})")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
