"""When transfer beats scratch (Tahir et al. 2025): the closed forms against Monte Carlo, the derived phase map,
the comparison with Chen et al.'s overlap, and wrong closed forms or conditions caught."""
import numpy as np
import pytest

from lpft_theory.theory import transfer as T
from paper_checks import Context, run_checks, run_one
from paper_checks import claims_transfer as M
from paper_checks import plugin

CTX = Context(quick=True, seed=0)


@pytest.mark.parametrize("n, omega, sigma, s", [(8, 0.9, 0.3, 1.0), (20, 0.3, 0.7, 0.6), (14, 0.6, 0.0, 1.4)])
def test_closed_forms_match_monte_carlo(n, omega, sigma, s):
    p = {"d": 40, "n_frac": n / 40, "omega": omega, "sigma": sigma, "s": s, "seed": 5}
    assert M.closed_form_z(p, draws=400) < 4.0


def test_the_large_sample_side_and_the_lp_threshold():
    assert T.scratch_risk(60, 20, 1.0, 0.25) == pytest.approx(0.25 * 20 / 39)
    assert T.scratch_risk(20, 20, 1.0, 0.0) == 0.0 and T.scratch_risk(20, 20, 1.0, 0.1) == float("inf")
    w = T.lp_threshold(10, 40, 1.0, 0.25)
    assert T.lp_risk(10, 1.0, w, 0.25) == pytest.approx(T.scratch_risk(10, 40, 1.0, 0.25), rel=1e-12)
    assert np.isnan(T.lp_threshold(2, 40, 1.0, 0.25))
    assert T.ft_beats_scratch(0.51, 1.0, 1.0) and not T.ft_beats_scratch(0.49, 1.0, 1.0)


def test_ft_gain_is_largest_with_the_least_data():
    gains = [T.scratch_risk(n, 40, 1.0, 0.25) - T.ft_risk(n, 40, 0.4, 0.25) for n in range(2, 38)]
    assert all(np.diff(gains) < 0) and gains[0] == pytest.approx(0.6 * (1 - 2 / 40))


def test_chen_overlap_limits_and_monotonicity():
    assert T.chen_overlap(0.0, 5, 1.0, 1.0) == pytest.approx(np.sqrt(0.5))
    assert T.chen_overlap(1.0, 5, 1.0, 1.0) == pytest.approx(1.0)
    ev = M.chen_and_two_layer(CTX)
    assert ev["violations"] == 0
    assert all(ev["two_layer_full_ft"]["agrees_with_linear_prediction"])


def test_the_plug_in_claims():
    vs = {v.id: v for v in run_checks(True, 0, fns=M.CHECKS)}
    assert vs["transfer-closed-forms"].status == "confirmed"
    pm = vs["transfer-phase-map"]
    assert pm.status == "holds-under-derived-condition" and pm.condition.startswith("FT: omega >")
    assert pm.declared["condition_by"] == "derived"


def _mutant(cid, margin, kind="identity", **kw):
    fn = plugin.for_all(cid, "mutant", kind=kind, source="test", space=M.SPACE, margin=margin, budget=20, **kw)
    return run_one(fn, CTX)


def test_a_wrong_closed_form_is_refuted():
    def wrong(n, d, bt, bs, sigma):
        out = M.closed(n, d, bt, bs, sigma)
        out["ft"] = T.ft_risk(n, d, 0.5 * float(np.sum((bt - bs) ** 2)), sigma ** 2)  # half the distance
        return out

    assert _mutant("test-mut-transfer-closed", lambda p: 5.0 - M.closed_form_z(p, forms=wrong)).status == "refuted"


def test_a_wrong_phase_condition_is_refuted():
    def wrong(n, d, bt, bs, sigma):  # "FT beats scratch iff the overlap exceeds |beta_s|" (no factor 1/2)
        side = M.predicted(n, d, bt, bs, sigma)
        side["ft"] = 1 if bt[0] > bs[0] else -1
        return side

    v = _mutant("test-mut-transfer-phase", lambda p: M.phase_margin(p, condition=wrong), kind="condition",
                condition=("omega > |b_s|", "wrong"), condition_by="derived")
    assert v.status == "refuted"


def test_figure_numbers():
    from figures import transfer as fig

    data = fig.compute(quick=True, seed=0)
    for n, w in zip(data["n"], data["lp_boundary"]):
        if np.isfinite(w) and 0 < w < 1:
            assert T.lp_risk(n, 1.0, w, fig.SIGMA ** 2) == pytest.approx(T.scratch_risk(n, fig.D, 1.0, fig.SIGMA ** 2))
    for key, est in data["sim"].items():
        closed = dict(zip(data["n"], data["closed"][key]))
        z = [abs(e["mean"] - closed[n]) / (e["se"] + 0.01 * closed[n]) for n, e in zip(data["n_sim"], est)]
        assert max(z) < 5, key
