"""Mutation harness: plausible bugs that the suite must catch (``python tests/mutation_run.py``).

Each mutation replaces one exact snippet of one file (it must occur exactly once: a stale mutation is an error,
not a pass), in a scratch copy of the tracked tree, then runs the tests named for it. A mutation is *killed* when
a test fails. The list covers the shared decision rule and statistics, and the Chen, Kumar and foundations
checks: sign flips, thresholds moved by a small amount, weakened inequalities, ``all``/``any`` swaps in evidence
filters. The run prints one line per mutation and the kill rate; it exits 1 if any listed mutation survives.

Options: ``--only SUBSTRING`` (mutation names), ``--list``, ``--jobs N`` (parallel scratch copies).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple


RULE = ("tests/test_verdict.py", "tests/test_empirical_checks.py")
CHEN = ("tests/test_theory_chen.py", "tests/test_pareto.py", "tests/test_mutation_theory.py")
MUTATIONS = [
    # ------------------------------------------------------------------ the shared rule and its statistics
    Mutation("holm: reject at the level (lo = 0 counts as for)", "lpft_theory/stats.py",
             "going = going and pvalues[k] < alpha / (m - i)", "going = going and pvalues[k] <= alpha / (m - i)", RULE),
    Mutation("holm: no correction (alpha instead of alpha/(m-i))", "lpft_theory/stats.py",
             "going = going and pvalues[k] < alpha / (m - i)", "going = going and pvalues[k] < alpha", RULE),
    Mutation("one-sided p: sign flipped", "lpft_theory/stats.py",
             "z = mean - shift if greater else shift - mean", "z = shift - mean if greater else mean - shift", RULE),
    Mutation("MDE: power quantile dropped", "lpft_theory/stats.py",
             "return float((st.t.ppf(1 - alpha, df) + st.t.ppf(power, df)) * se)",
             "return float(st.t.ppf(1 - alpha, df) * se)", RULE),
    Mutation("judge: a tie beside a 'for' setting is not mixed", "paper_checks/verdict.py",
             'elif count["for"] and (count["against"] or count["equivalent"]):',
             'elif count["for"] and count["against"]:', RULE),
    Mutation("judge: confirmed when any setting is for", "paper_checks/verdict.py",
             'if count["for"] == len(keys):', 'if count["for"]:', RULE),
    Mutation("judge: equivalence needs only one of the two one-sided tests", "paper_checks/verdict.py",
             "p_equiv = {k: max(one_sided_p(", "p_equiv = {k: min(one_sided_p(", RULE),
    Mutation("bound rule: vacuous bounds confirm", "paper_checks/verdict.py",
             "if informative is not None and informative < min_informative:",
             "if informative is not None and informative < 0:", RULE),
    Mutation("finalise: derived condition worded as the paper's", "paper_checks/claims.py",
             '"derived": "holds-under-derived-condition"', '"derived": "holds-under-paper-condition"',
             ("tests/test_verdict.py",)),
    Mutation("finalise: restating condition accepted", "paper_checks/claims.py",
             "return sorted(set(condition_uses) & set(decl.conclusion))", "return []", ("tests/test_verdict.py",)),
    # ------------------------------------------------------------------ Chen et al.: conditions, frontier, filters
    Mutation("Chen Thm 4.4: threshold a - 1 moved to a - 1.02", "lpft_theory/theory/chen.py",
             "return bool((a - 1.0) * (a - condition_root(omega, n_clients, reading)) > 0)",
             "return bool((a - 1.02) * (a - condition_root(omega, n_clients, reading)) > 0)", CHEN),
    Mutation("Chen frontier: sign of the root flipped", "lpft_theory/theory/chen.py",
             "(lam * (1 - omega) - root) ** 2", "(lam * (1 - omega) + root) ** 2", CHEN),
    Mutation("Chen matched local: the last root instead of the first", "lpft_theory/theory/chen.py",
             "if (dec or not descent_only) and g < best[0]:", "if dec or not descent_only:", CHEN),
    Mutation("Chen Thm 4.5 descent filter: all -> any", "paper_checks/chen2025.py",
             "return bool(np.all(np.asarray(local) < np.asarray(start)))",
             "return bool(np.any(np.asarray(local) < np.asarray(start)))", CHEN),
]


def _copy_tree(dst: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split("\n")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)


def apply(m: Mutation, root: Path) -> None:
    """Apply ``m`` under ``root``; a snippet that is missing or ambiguous is a stale mutation (ValueError)."""
    p = root / m.path
    text = p.read_text()
    n = text.count(m.old)
    if n != 1:
        raise ValueError(f"stale mutation {m.name!r}: the snippet occurs {n} times in {m.path}")
    p.write_text(text.replace(m.old, m.new))


def run(m: Mutation) -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix="lpft-mut-") as tmp:
        root = Path(tmp)
        _copy_tree(root)
        try:
            apply(m, root)
        except ValueError as e:
            return "stale", str(e)
        env = {**os.environ, "PYTHONPATH": str(root), "CI": "true", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *m.tests], cwd=root,
                           env=env, capture_output=True, text=True)
        last = (r.stdout.strip().splitlines() or [""])[-1]
        return ("killed" if r.returncode != 0 else "SURVIVED"), last


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    ap.add_argument("--only", default=None, help="run the mutations whose name contains this")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--jobs", type=int, default=1, help="scratch copies run in parallel (default 1)")
    a = ap.parse_args(argv)
    muts = [m for m in MUTATIONS if a.only is None or a.only in m.name]
    if a.list:
        for m in muts:
            print(f"{m.name}  [{m.path}]")
        return 0
    with ThreadPoolExecutor(max(1, a.jobs)) as ex:
        results = list(ex.map(run, muts))
    for m, (outcome, detail) in zip(muts, results):
        print(f"{outcome:8s} {m.name}  ({detail})")
    killed = sum(o == "killed" for o, _ in results)
    bad = [m.name for m, (o, _) in zip(muts, results) if o != "killed"]
    print(f"kill rate: {killed}/{len(muts)} = {killed / max(1, len(muts)):.0%}" + (f"; not killed: {bad}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
