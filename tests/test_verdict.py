"""The shared decision rules of the Verdict contract, and that no check bypasses them."""
import ast
from pathlib import Path

import pytest

import paper_checks
from paper_checks.verdict import STATUSES, bound_status, unavailable

CHECK_SOURCES = sorted(p for p in (Path(paper_checks.__file__).parent).glob("*.py")
                       if p.name not in ("verdict.py", "__init__.py", "report.py"))


def test_bound_rule_needs_informative_instances_and_refutes_on_any_violation():
    assert bound_status(0, 10, informative=8, min_informative=5) == "confirmed"
    assert bound_status(0, 10, informative=2, min_informative=5) == "not-testable-here"
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


def test_report_shows_the_protocol_robustness_table_and_mixed_sides():
    from paper_checks.report import _robustness_table
    from paper_checks.verdict import Verdict

    v = Verdict("x-claim", "c", "s", "mixed", {"protocol_robustness": {"fixed recipe": "mixed", "tuned": "confirmed"},
                                               "robustness_summary": "It changes under 'tuned' (confirmed)."},
                sides={"b=0.1": "for", "b=1.0": "against"})
    w = Verdict("y-claim", "c", "s", "confirmed", {"protocol_robustness": {"matched local": "confirmed"}})
    rows = _robustness_table([v, w, Verdict("z", "c", "s", "confirmed", {"n": 1})])
    assert "| claim | reported | fixed recipe | tuned | matched local |" in rows
    assert "| `x-claim` | **mixed** | mixed | confirmed | — |" in rows
    assert "| `y-claim` | **confirmed** | — | — | confirmed |" in rows and not any("`z`" in r for r in rows)


def test_every_check_appears_in_the_reports_detail_sections():
    """Sections are grouped by module: a verdict whose source differs from its module's SRC still gets one."""
    from paper_checks.report import render_report
    from paper_checks.verdict import Verdict

    vs = [Verdict(i, "c", "an unusual source", "confirmed", {"n": 1}) for i in paper_checks.check_ids()]
    text = render_report(vs, True, 0, [])
    assert all(f"### `{i}` — confirmed" in text for i in paper_checks.check_ids())
