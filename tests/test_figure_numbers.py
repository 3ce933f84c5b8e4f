"""The numbers behind the figures redrawn for readability: the shared method styles, the Kumar bound against
‖w*‖, Ren's quantile bands, the digits forest plot and where the tradeoff figure puts the global model."""
import numpy as np
import pytest

from figures import _style, kumar_bound, real_digits, real_tradeoff, ren_energy
from lpft_theory.empirical.experiment import METHODS
from lpft_theory.recipes import TABLE2


def test_every_method_has_one_distinct_colour_and_marker():
    names = list(dict.fromkeys(TABLE2 + METHODS))
    styles = [_style.method_style(m) for m in names]
    assert len({s["color"] for s in styles}) == len(names)
    assert len({s["marker"] for s in styles}) == len(names)
    # a variant keeps its method's style
    assert _style.method_style("FT eta=0.05") == _style.method_style("FT")
    assert _style.method_style("LP-FT (eta/10)") == _style.method_style("LP-FT")
    assert _style.method_style("Proximal mu=1") == _style.method_style("Proximal")
    with pytest.raises(ValueError, match="'FedProx'"):
        _style.method_style("FedProx")


def test_kumar_bound_sweep_holds_at_unit_norm_and_fails_on_a_window():
    d = kumar_bound.compute(quick=True, seed=0)
    for r in d["runs"]:  # the |w*| = 1 trajectories: FT stays above both bounds
        assert min(r["FT"]) >= r["bound_eps2"] - 1e-12 and min(r["FT"]) >= r["bound_eps"] - 1e-12
    sw = d["norm_sweep"]
    w = np.array(sw["w_norm"])
    for r in sw["near_target"]:
        ratio = np.array(r["min_sqrt_Lood"]) / np.array(r["bound"])
        assert np.all(ratio[w <= 1.0] > 1.0)  # on these instances (not on every admissible one) it holds up to |w*| = 1
        assert np.any(ratio[(w > 1.5) & (w < 5.0)] < 1.0)  # violated on the window the figure shades
    for r in sw["random_head"]:
        b = np.array(r["bound_eps2"])
        assert np.all(np.array(r["min_sqrt_Lood"])[b > 0] >= b[b > 0])  # the random-head instances hold
    t0 = sw["t0_closed_form"]
    k, ratio = np.array(t0["w_norm"]), np.array(t0["ratio"])
    # small delta: ratio ~ (1 + k)^2 / (2 k^2), below 1 exactly beyond 1 + sqrt(2)
    np.testing.assert_allclose(ratio, (1 + k) ** 2 / (2 * k ** 2), rtol=0.02)
    assert np.all(ratio[k > 2.5] < 1.0) and np.all(ratio[k < 2.35] > 1.0)


def test_ren_bands_are_quantiles_of_the_interpolated_curves():
    # three seeds, y = c * e on energies that all reach 0.1: quantiles of c times the grid
    rows = [{"energy": [10.0, 5.0, 1.0], "euclidean": [c * 1.0, c * 0.5, c * 0.1], "dot": [3.0, 2.0, 1.0],
             "norm": [1.0, 1.0, 2.0]} for c in (1.0, 2.0, 4.0)]
    b = ren_energy.bands(rows, n_grid=10)
    e = np.array(b["energy"])
    assert e.min() == pytest.approx(0.1) and e.max() == pytest.approx(1.0) and b["n_seeds"] == [3] * len(e)
    q = np.quantile([1.0, 2.0, 4.0], ren_energy.QUANTILES)
    np.testing.assert_allclose(b["euclidean"], q[:, None] * e[None, :], rtol=1e-12)
    # relative to the value at the lowest energy: dot 1 -> 3 over e in [0.1, 1]; norm 1 at the top, 2 at the bottom
    np.testing.assert_allclose(b["dot"][2], np.interp(e, [0.1, 0.5, 1.0], [1.0, 2.0, 3.0]), rtol=1e-12)
    np.testing.assert_allclose(b["norm"][2], np.interp(e, [0.1, 0.5, 1.0], [1.0, 0.5, 0.5]), rtol=1e-12)
    # a seed counts only inside its own energy range; a point needs half the seeds
    short = rows[:2] + [{**rows[2], "energy": [10.0, 8.0, 6.0]}]
    b = ren_energy.bands(short, n_grid=10)
    e = np.array(b["energy"])
    np.testing.assert_array_equal(b["n_seeds"], np.where(e >= 0.6 - 1e-12, 3, 2))


def test_digits_forest_is_the_paired_difference_to_ft():
    rng = np.random.default_rng(0)
    def row():
        at = {"global": float(rng.random()), "local": float(rng.random())}
        return {"global": float(rng.random()), "local": float(rng.random()), "at_level": at}

    runs = [{"variants": {v: {"rows": {m: row() for m in METHODS}} for v in real_digits.FOREST}} for _ in range(4)]
    f = real_digits.forest(runs)
    assert set(f) == set(real_digits.FOREST) and "FT" not in f["matched local"]
    for v in real_digits.FOREST:
        read = (lambda x: x["at_level"]) if v == "matched local" else (lambda x: x)  # matched: at the common level
        for m in METHODS[1:]:
            diff = [read(r["variants"][v]["rows"][m])["global"] - read(r["variants"][v]["rows"]["FT"])["global"]
                    for r in runs]
            g = f[v][m]["global"]
            assert g["mean"] == pytest.approx(np.mean(diff)) and g["n"] == 4 and g["lo"] < g["mean"] < g["hi"]


def test_tradeoff_star_in_view_or_an_arrow_toward_it():
    box = ((0.90, 0.90), (0.92, 0.91))
    kind, grown = real_tradeoff.place_star(box, (0.895, 0.905))  # just left of the view: grow it
    assert kind == "in" and grown == ((0.895, 0.90), (0.92, 0.91))
    kind, d = real_tradeoff.place_star(box, (0.80, 0.905))  # far left: an arrow pointing left
    assert kind == "edge" and d[0] == pytest.approx(-1.0, abs=1e-3) and np.hypot(*d) == pytest.approx(1.0)
