"""Ren et al. 2023 (paper_checks/ren2023.py): energy and feature change, monotone and non-monotone parts."""
import numpy as np

from paper_checks import Context
from paper_checks import ren2023 as R


def test_one_step_similarity_identity():
    assert R.one_step_identity_error(0) < 1e-12
    assert R.one_step_identity_error(3) < 1e-12


def test_energy_decreases_with_probing_and_runs_are_stable():
    for rows in R.curves(True, 0)["settings"].values():
        for r in rows:
            E = [s["energy"] for s in r["stats"]]
            assert np.all(np.diff(E) < 0)
            assert max(s["max_rise"] for s in r["stats"]) < 1e-9


def test_monotone_part_and_mutant():
    v = R.monotone(Context())
    assert v.status == "confirmed"
    assert all(e["lo"] > 0.9 for e in v.evidence["spearman_energy_vs_distance"].values())
    assert R.monotone_check(Context(), expect_positive=False).status == "refuted"


def test_nonmonotone_part_and_mutant():
    v = R.nonmonotone(Context())
    assert v.status == "confirmed"
    assert all(p["frac_interior_peak"] >= 0.8 for p in v.evidence["peaks"].values())
    # claiming the curve still rises at the high-energy end (no fall) must not confirm
    assert R.nonmonotone_check(Context(), high=(0, 4)).status != "confirmed"


def test_ren_figure_numbers():
    from figures import ren_energy
    data = ren_energy.compute(quick=True, seed=0)
    for rows in data["settings"].values():
        for r in rows:
            assert r["euclidean"][0] > r["euclidean"][-1]  # τ = 0 (highest energy) moves the features most


def test_one_step_identity_adversary():
    r = R.identity_search(True, 0)
    assert r["worst_margin"] >= 0 and r["evaluations"] > 0
