"""Wall time of the main job and of ``lpft real``, each in a fresh process (targets: ``reproduce --quick``
<= 2 min, ``reproduce`` <= 10 min, default ``lpft real`` <= 5 min on 2 cores).

Usage: ``python benchmarks/reproduce_time.py [--json PATH] [--skip-full]``.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time


def timed(args):
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lpft_theory.cli", *args, *(["--out", f"{tmp}/out"] if "reproduce" in args else [])],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json")
    ap.add_argument("--skip-full", action="store_true")
    a = ap.parse_args()
    runs = {"reproduce --quick": ["reproduce", "--quick"], "real (default)": ["real"]}
    if not a.skip_full:
        runs["reproduce"] = ["reproduce"]
    out = {}
    for name, args in runs.items():
        out[name] = timed(args)
        print(f"lpft {name}: {out[name]:.0f} s")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
