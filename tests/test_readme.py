"""The README cannot disagree with the verdicts: its findings block is the one generated from the committed full
run's checks.json, its claims example is the file the CLI runs, and its statuses are the rule's."""
import json
import re
from pathlib import Path

from paper_checks import findings
from paper_checks.verdict import STATUSES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CHECKS = ROOT / "docs" / "checks-full.json"


def test_findings_block_is_generated_from_the_committed_full_run():
    checks = json.loads(CHECKS.read_text())
    assert checks["config"]["quick"] is False
    block = findings.readme_block(checks)
    assert block in README, "README findings block is stale: python -m paper_checks.findings README.md --checks docs/checks-full.json"


def test_a_changed_number_or_status_in_the_block_is_caught(tmp_path):
    """The --check mode fails on a README whose block says anything else than checks.json (one digit, one word)."""
    block = README[README.index(findings.START):README.index(findings.END)]
    number = re.search(r"\d\.\d+", block).group(0)
    for wrong in (block.replace(number, number[:-1] + str((int(number[-1]) + 1) % 10), 1),
                  block.replace("refuted", "confirmed", 1)):
        assert wrong != block
        f = tmp_path / "README.md"
        f.write_text(README.replace(block, wrong))
        assert findings.main([str(f), "--checks", str(CHECKS), "--check"]) == 1
    f.write_text(README)
    assert findings.main([str(f), "--checks", str(CHECKS), "--check"]) == 0


def test_the_committed_run_covers_every_claim_with_a_rule_status():
    checks = json.loads(CHECKS.read_text())
    import paper_checks

    ids = [v["id"] for v in checks["verdicts"]]
    assert ids == paper_checks.check_ids()
    assert all(v["status"] in STATUSES and v["declared"] for v in checks["verdicts"])


def test_the_claims_example_is_the_file_the_cli_runs():
    code = README.split("<!-- example:start -->\n", 1)[1].split("\n<!-- example:end -->", 1)[0]
    assert code == (ROOT / "docs" / "examples" / "my_claims.py").read_text().rstrip("\n")


def test_the_readme_names_only_the_rules_statuses():
    named = set(re.findall(r"`([a-z]+(?:-[a-z]+)+|confirmed|mixed|equivalent|inconclusive|refuted)`",
                           README.split("## How a claim is decided", 1)[1].split("##", 1)[0]))
    assert named <= set(STATUSES) and set(STATUSES) <= named
    assert "not-testable-here" not in README and "confirmed-under-condition" not in README
