"""A reviewer's own claim, end to end: declared, run through the shared rule, refused when malformed."""
import math
from pathlib import Path

import pytest

from lpft_theory.adversary import Space
from paper_checks import plugin

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "my_claims.py"


def test_the_documented_example_runs_end_to_end():
    vs = {v.id: v for v in plugin.run_file(EXAMPLE, quick=True, seed=0)}
    assert set(vs) == {"my-lpft-vs-proximal", "my-cosine-bound"}
    cmp_, bound = vs["my-lpft-vs-proximal"], vs["my-cosine-bound"]
    assert cmp_.declared["primary_protocol"] == "matched local" and cmp_.declared["delta"] == 0.01
    assert cmp_.status in ("confirmed", "refuted", "mixed", "equivalent", "inconclusive")
    assert "Holm" in cmp_.decided_by
    assert bound.status == "confirmed" and bound.evidence["adversary"]["evaluations"] == 100


def test_a_false_for_all_claim_is_refuted_with_an_admissible_instance(tmp_path):
    f = tmp_path / "c.py"
    f.write_text("import math\nfrom lpft_theory.adversary import Space\nfrom paper_checks.plugin import for_all\n"
                 "for_all('user-false-bound', 'cos(a) >= -0.99 on [0, 6.3]', space=Space(('a',), (0.0,), (6.3,)),\n"
                 "        margin=lambda p: math.cos(p['a']) + 0.99, budget=60)\n")
    (v,) = plugin.run_file(f)
    assert v.status == "refuted"
    a = v.counterexample["instance"]["a"]
    assert 0 <= a <= 6.3 and math.cos(a) < -0.99


@pytest.mark.parametrize("content, match", [
    ("x = 1\n", "declares no claim"),
    ("from paper_checks.plugin import compare\ncompare('u-bad', 's', better='XX', than='FT')\n", "not one of"),
    ("from paper_checks.plugin import compare\ncompare('u-bad2', 's', better='FT', than='LP-FT', scenario='moon')\n",
     "scenario"),
    ("from paper_checks.plugin import compare\ncompare('chen-thm-4.4', 's', better='FT', than='LP-FT')\n",
     "already declared"),
])
def test_malformed_claim_files_are_refused(tmp_path, content, match):
    f = tmp_path / "bad.py"
    f.write_text(content)
    with pytest.raises(ValueError, match=match):
        plugin.run_file(f)


def test_not_a_python_file_or_missing(tmp_path):
    with pytest.raises(ValueError, match=r"\.py"):
        plugin.run_file(tmp_path / "claims.toml")
    with pytest.raises(FileNotFoundError):
        plugin.run_file(tmp_path / "none.py")


def test_a_for_all_space_must_be_a_box():
    with pytest.raises(ValueError, match="lo < hi"):
        Space(("a",), (1.0,), (0.0,))


def test_judged_decides_interval_estimates_by_the_shared_rule(tmp_path):
    f = tmp_path / "j.py"
    f.write_text("from lpft_theory.stats import mean_ci\nfrom paper_checks.plugin import judged\n"
                 "judged('user-judged-up', 'x exceeds 0', effects=lambda ctx: {'a': mean_ci([1.0, 1.1, 0.9, 1.2])},\n"
                 "       delta=0.1, figure='lemma43')\n"
                 "judged('user-judged-flat', 'x exceeds 0', effects=lambda ctx: ({'a': mean_ci([0.001, -0.001, 0.0, "
                 "0.0005])}, {'n_draws': 4}), delta=0.1)\n")
    up, flat = plugin.run_file(f)
    assert up.status == "confirmed" and "Holm" in up.decided_by and up.declared["kind"] == "recipe-behaviour"
    assert flat.status == "equivalent" and flat.evidence["n_draws"] == 4
    from paper_checks.verdict import FIGURE_OF
    assert FIGURE_OF["user-judged-up"] == "lemma43"


def test_for_all_counts_drawn_instances_resolves_conditions_and_takes_a_budget_per_mode(tmp_path):
    f = tmp_path / "f.py"
    f.write_text("from lpft_theory.adversary import Space\nfrom paper_checks.plugin import for_all\n"
                 "S = Space(('a',), (0.0,), (1.0,))\n"
                 "for_all('user-drawn-bad', 'a >= 0', space=S, margin=lambda p: p['a'], budget=(20, 40),\n"
                 "        instances=lambda ctx: {'violations': 1, 'instances': 3, 'note': 'one drawn failure'})\n"
                 "for_all('user-cond', 'a + 1 > 0 when a >= 0', kind='condition', space=S, margin=lambda p: p['a'] + 1,\n"
                 "        budget=(20, 40), condition=('a >= 0', 'a is non-negative'), condition_by='derived')\n")
    bad, cond = plugin.run_file(f, quick=True)
    assert bad.status == "refuted" and bad.counterexample["drawn"]["note"] == "one drawn failure"
    assert bad.evidence["adversary"]["evaluations"] == 20 and bad.evidence["drawn_instances"]["violations"] == 1
    assert cond.status == "holds-under-derived-condition" and cond.condition == "a >= 0"
    with pytest.raises(ValueError, match="kind='condition'"):
        plugin.for_all("user-cond-wrong-kind", "s", space=Space(("a",), (0.0,), (1.0,)), margin=lambda p: 1.0,
                       condition=("a", "b"), condition_by="derived")
    with pytest.raises(ValueError, match="condition_by"):
        plugin.for_all("user-cond-no-owner", "s", kind="condition", space=Space(("a",), (0.0,), (1.0,)),
                       margin=lambda p: 1.0, condition=("a", "b"))
