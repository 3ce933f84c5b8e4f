"""The shared decision rules of the Verdict contract, and that no check bypasses them."""
import ast
from pathlib import Path

import pytest

import paper_checks
from paper_checks.verdict import GLOSSARY, STATUSES, Verdict, bound_status, judge, unavailable
from lpft_theory.stats import holm, mean_ci, minimum_detectable_effect, paired_difference

CHECK_SOURCES = sorted(p for p in (Path(paper_checks.__file__).parent).glob("*.py")
                       if p.name not in ("verdict.py", "__init__.py", "report.py"))


def test_bound_rule_needs_informative_instances_and_refutes_on_any_violation():
    assert bound_status(0, 10, informative=8, min_informative=5) == "confirmed"
    assert bound_status(0, 10, informative=2, min_informative=5) == "inconclusive"
    assert bound_status(1, 10, informative=2, min_informative=5) == "refuted"
    with pytest.raises(ValueError, match="reason"):
        unavailable("  ")


@pytest.mark.parametrize("path", CHECK_SOURCES, ids=[p.stem for p in CHECK_SOURCES])
def test_no_check_writes_a_status_literal_or_a_static_note(path):
    """Statuses come from judge/condition_status/bound_status/unavailable: a status string passed
    straight to Verdict(...) (positionally or as status=) would be a verdict that cannot fail."""
    text = path.read_text()
    assert "rerun without --quick" not in text
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Verdict":
            args = node.args[3:4] + [k.value for k in node.keywords if k.arg == "status"]
            for a in args:
                literals = [n.value for n in ast.walk(a) if isinstance(n, ast.Constant) and n.value in STATUSES]
                assert not literals, f"{path.name}:{node.lineno} passes the literal status {literals} to Verdict"


def test_every_check_is_registered_with_a_unique_id():
    ids = paper_checks.check_ids()
    assert len(ids) == len(set(ids)) and all(ids)


def test_every_check_appears_in_the_reports_detail_sections():
    """Sections are grouped by module: a verdict whose source differs from its module's SRC still gets one."""
    from paper_checks.report import render_report
    from paper_checks.verdict import Verdict

    vs = [Verdict(i, "c", "an unusual source", "confirmed", {"n": 1}) for i in paper_checks.check_ids()]
    text = render_report(vs, True, 0, [])
    assert all(f"`{i}` — confirmed" in text for i in paper_checks.check_ids())


# ------------------------------------------------------------------ the rule's vocabulary, both sides of each
def _effect(mean: float, sd: float, n: int) -> dict:
    """An interval estimate with exactly this mean and sample sd (values mean ± sd·c, symmetric)."""
    import numpy as np

    z = np.resize([1.0, -1.0], n)
    z = z - z.mean()
    x = mean + sd * z / z.std(ddof=1)
    return mean_ci(x)


def test_equivalent_and_inconclusive_at_the_same_effect_differ_only_by_n():
    """The same true tie (mean 0.001, sd 0.01, δ = 0.01): n = 3 cannot decide, n = 50 shows equivalence."""
    small = judge({"s": _effect(0.001, 0.01, 3)}, delta=0.01)
    large = judge({"s": _effect(0.001, 0.01, 50)}, delta=0.01)
    assert small.status == "inconclusive" and "minimum detectable effect" in small.reason
    assert small.tests["s"]["mde"] > 0.01 > large.tests["s"]["mde"]
    assert large.status == "equivalent" and large.sides == {"s": "equivalent"}


def test_no_margin_no_equivalence():
    assert judge({"s": _effect(0.0, 0.01, 50)}, delta=None).status == "inconclusive"


def test_confirmed_refuted_mixed_and_the_lopsided_case():
    up, down, tie = _effect(0.5, 0.1, 10), _effect(-0.5, 0.1, 10), _effect(0.0, 0.001, 10)
    assert judge({"a": up, "b": up}, delta=0.01).status == "confirmed"
    assert judge({"a": down, "b": down}, delta=0.01).status == "refuted"
    assert judge({"a": up, "b": down}, delta=0.01).status == "mixed"
    assert judge({"a": up, "b": tie}, delta=0.01).status == "mixed"  # holds in one setting, a tie in the other
    assert judge({"a": down, "b": _effect(0.0, 1.0, 3)}, delta=0.01).status == "refuted"  # one setting breaks "for all"
    assert judge({"a": up, "b": _effect(0.0, 1.0, 3)}, delta=0.01).status == "inconclusive"  # all must decide for
    assert judge({"a": up}, expect_positive=False, delta=0.01).status == "refuted"


def test_an_interval_touching_zero_is_not_for_the_claim():
    """The mutation 'lo = 0 counts as for': an effect whose interval ends exactly at 0 is not evidence."""
    e = {"mean": 0.05, "lo": 0.0, "hi": 0.1, "n": 10, "level": 0.95}
    assert judge({"s": e}, delta=None).sides["s"] == "inconclusive"
    assert holm({"s": 0.025}, 0.025) == {"s": False}  # a p-value exactly at the level does not reject


def test_holm_corrects_across_the_family():
    """Two settings at p = 0.015 each: significant alone (α = 0.025), not after Holm over the pair (> 0.0125)."""
    import scipy.stats as st

    se, df = 1.0, 9
    mean = float(st.t.isf(0.015, df)) * se
    e = {"mean": mean, "se": se, "df": df, "lo": mean - 2.26, "hi": mean + 2.26, "n": 10}
    assert judge({"a": e}, delta=None).status == "confirmed"
    assert judge({"a": e, "b": e}, delta=None).status == "inconclusive"
    assert holm({"a": 0.01, "b": 0.02}, 0.025) == {"a": True, "b": True}
    assert holm({"a": 0.015, "b": 0.02}, 0.025) == {"a": False, "b": False}


def test_minimum_detectable_effect_has_the_stated_power():
    """Simulated: a true effect equal to the MDE (at n = 20, one-sided α = 0.025) is detected ~80 % of the time."""
    import numpy as np

    g = np.random.default_rng(0)
    sd, n = 1.0, 20
    mde = minimum_detectable_effect(sd / np.sqrt(n), n - 1, alpha=0.025)
    hits = sum(judge({"s": mean_ci(g.normal(mde, sd, n))}, delta=None).status == "confirmed" for _ in range(2000))
    assert 0.76 < hits / 2000 < 0.84


def test_every_status_has_a_glossary_line_and_its_own_requirements():
    assert set(GLOSSARY) == set(STATUSES)
    for status, need in (("inconclusive", "notes"), ("data-unavailable", "notes"), ("refuted", "counterexample"),
                         ("holds-under-derived-condition", "condition")):
        with pytest.raises(ValueError, match=need.split("e")[0]):
            Verdict("x", "c", "s", status)


def test_a_condition_that_restates_the_conclusion_is_refused():
    from paper_checks.claims import Declaration, finalise, register

    register(Declaration("test-restating", "condition", "A wins", "sign of gap", condition_by="derived",
                         conclusion=("gap",)))
    v = Verdict("test-restating", "A wins", "s", "holds-under-condition", condition="gap_0 > 0",
                condition_words="the gap at 0 is positive")
    with pytest.raises(ValueError, match="restates the conclusion"):
        finalise(v, condition_uses=("gap",))
    assert finalise(v, condition_uses=("eta", "beta")).status == "holds-under-derived-condition"


def test_the_headline_is_the_primary_protocols_status():
    from paper_checks.claims import finalise

    v = Verdict("chen-table2-best-global", "c", "s", "confirmed",
                {"protocol_robustness": {"matched local": "equivalent", "fixed recipe": "confirmed"}})
    with pytest.raises(RuntimeError, match="primary protocol"):
        finalise(v)


def test_every_built_in_check_is_declared():
    from paper_checks.claims import declaration, statements

    for cid in paper_checks.check_ids():
        assert declaration(cid).statement == statements()[cid]


def test_the_mutation_harness_applies_exactly_once_and_flags_stale_snippets(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("mutation_run", Path(__file__).parent / "mutation_run.py")
    mr = importlib.util.module_from_spec(spec)
    import sys

    sys.modules["mutation_run"] = mr  # dataclasses look their module up there
    spec.loader.exec_module(mr)
    (tmp_path / "f.py").write_text("a = 1\nb = 1\n")
    mr.apply(mr.Mutation("ok", "f.py", "a = 1", "a = 2", ()), tmp_path)
    assert (tmp_path / "f.py").read_text() == "a = 2\nb = 1\n"
    with pytest.raises(ValueError, match="stale"):
        mr.apply(mr.Mutation("gone", "f.py", "c = 3", "c = 4", ()), tmp_path)
    with pytest.raises(ValueError, match="stale"):
        mr.apply(mr.Mutation("twice", "f.py", " = ", " == ", ()), tmp_path)
    for m in mr.MUTATIONS:  # every listed mutation still matches the tree exactly once
        text = (mr.ROOT / m.path).read_text()
        assert text.count(m.old) == 1, f"stale mutation {m.name!r}"
