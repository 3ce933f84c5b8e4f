"""Cross-process determinism of the synthetic studies that `reproduce --quick`'s rerun leaves out.

The determinism test of tests/test_reproduce.py recomputes the quick job in a fresh process (another hash
seed) and compares it byte for byte — except the checks and figures built on the costliest studies, so the
suite does not compute the same job twice. Those studies are compared here instead, in a fresh process
with another hash seed, on two seeds each (``Protocol.n_seeds``): the same code paths — FedAvg to a
plateau, the batched step-size grid, tuning of every knob, selection on validation data, CE and MSE,
flooding, the long-tail FedPuReL runs — at a third of the seeds. What could make a run depend on its
process (hash-ordered iteration, uninitialised memory, thread races) does not depend on the seed count.
"""
import os
import subprocess
import sys
from dataclasses import replace

from lpft_theory.io import to_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_studies() -> dict:
    """The left-out studies on two seeds: the comparison under the tuned protocol (grid, knobs, selection)
    on a CE and an MSE scenario, the heterogeneity comparison (combined λ, fixed recipe), flooding and the
    long-tail study."""
    from lpft_theory import studies
    from lpft_theory.protocol import FIXED, VARIANTS

    two = {"n_seeds": (2, 2)}
    tuned = replace(VARIANTS["tuned"], **two)
    fixed = replace(FIXED, **two)
    return {"comparison label tuned": studies.comparison("label", True, 0, tuned),
            "comparison concept tuned": studies.comparison("concept", True, 0, tuned),
            "comparison combined lam=3.0": studies.comparison("combined lam=3.0", True, 0, fixed,
                                                              studies.HETERO_METHODS),
            "flooding": studies.flooding_study(True, 0, fixed),
            "longtail": studies.longtail_study(True, 0, fixed)}


def test_left_out_studies_are_identical_in_a_fresh_process():
    code = ("import sys; from lpft_theory import threads; threads.configure(); from lpft_theory.io import to_json; "
            "from tests.test_determinism import small_studies; sys.stdout.write(to_json(small_studies()))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "2024"})
    res = small_studies()  # computed while the other process runs
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert out == to_json(res)
    assert res["comparison label tuned"]["config"]["seeds"] == [0, 1000]  # two seeds each, as documented
    assert sorted({g["seed"] for g in res["longtail"]["global_models"]}) == [0, 1000]
