"""The report a reviewer reads (``report.md``), the key findings and the README's findings block, on a small
synthetic set of verdicts (tests/_report_cases.py); the full job's report is checked in tests/test_reproduce.py."""
import json
import re

import pytest

from paper_checks import findings
from paper_checks.findings import derepr, key_findings, plain_math, readme_block
from paper_checks.report import canonical_variant, cards, document, markdown, render_report, robustness
from paper_checks.verdict import GLOSSARY, STATUSES

from _report_cases import FIGURES, verdicts

REPR = re.compile(r"None,|\{'|\[\{|np\.|\[np|\bnan\b, nan")


@pytest.fixture(scope="module")
def report():
    return render_report(verdicts(), quick=True, seed=0, figure_names=FIGURES, with_derivations=False)


def section(md: str, anchor: str) -> str:
    start = md.index(f'<a id="{anchor}"></a>')
    nxt = md.find("\n## ", start)
    return md[start: nxt if nxt > 0 else None]


def test_top_has_findings_glossary_and_contents_in_that_order(report):
    heads = [line for line in report.splitlines() if line.startswith("## ")]
    assert heads[:3] == ['## <a id="key-findings"></a>Key findings', '## <a id="statuses"></a>Statuses',
                         '## <a id="contents"></a>Contents']
    glossary = section(report, "statuses")
    for s in STATUSES:
        assert f"| **{s}** | {GLOSSARY[s]}" in glossary.replace("\\", "")
    contents = section(report, "contents")
    for v in verdicts():
        assert f"(#{findings.anchor(v.id)})" in contents
    for target in re.findall(r"\]\(#([^)]+)\)", report):  # every link resolves to an anchor of the report
        assert f'<a id="{target}"></a>' in report, target


def test_one_card_per_claim_with_status_declared_decision_and_rerun(report):
    vs = verdicts()
    cards_md = re.split(r"\n(?=### )", report)
    for v in vs:
        card = next(c for c in cards_md if c.startswith(f'### <a id="{findings.anchor(v.id)}"></a>`{v.id}` — {v.status}\n'))
        assert f"**Rerun:** `lpft check --only {v.id}`" in card and "- **Declared:** " in card
        assert f"primary protocol: {v.declared['primary_protocol']}" in card
        assert "- **Decided by:** " in card and "<details><summary>" in card
    assert len(re.findall(r"^### ", report, flags=re.M)) == len(vs)


def test_decisive_sentence_comes_from_the_verdict(report):
    by = {c.id: c for c in cards(verdicts(), FIGURES)}
    flooding = next(v for v in verdicts() if v.id == "chen-fig3b-flooding")
    assert by["chen-fig3b-flooding"].decided == flooding.decided_by
    # no decided_by: composed from the counts and the adversary
    assert by["chen-lemma-4.3"].decided == ("0 violations in 27 instances (20 informative); adversary: 600 of 600 "
                                            "evaluations, worst margin 0.0015.")
    assert by["kumar-thm-3.1-eps1"].decided.startswith("8 violations in 138 instances (104 informative)")
    assert by["kumar-living17"].decided == "Living-17 cannot be shipped: it is ImageNet-derived."
    assert by["chen-thm-4.4"].decided == "condition predicts winner: 48/48."


def test_inconclusive_card_reports_power_and_the_quick_size(report):
    card = section(report, "group-chen2025_empirical").split("### ")[2]
    assert card.startswith('<a id="claim-chen-fig3a-lpft-distortion">')
    mde = next(v for v in verdicts() if v.id == "chen-fig3a-lpft-distortion").evidence["decision_tests"]["T=5"]["mde"]
    assert f"T=5: {findings.num(mde)}" in card
    assert "quick size: inconclusive; the full run decides with more seeds/instances" in card
    full = render_report(verdicts(), quick=False, seed=0, figure_names=FIGURES, with_derivations=False)
    assert "quick size" not in full and "Quick size" not in full
    ref = [{"id": "chen-fig3a-lpft-distortion", "status": "confirmed"}, {"id": "chen-fig3b-flooding", "status": "mixed"}]
    md = render_report(verdicts(), quick=True, seed=0, figure_names=FIGURES, reference=ref, with_derivations=False)
    assert "(the committed full run says confirmed)" in md and "the committed full run says mixed" in md


def test_condition_counterexample_and_commands_are_readable(report):
    card = section(report, "group-chen2025").split("### ")[2]
    assert "- **Condition (derived here — not the paper's condition; false as stated without it):** " \
           "`(a - 1)(a - (2 omega - 1)) > 0` — LP-FT wins when FT overshoots" in card
    assert "- **Counterexample:** a: 0.2296; FT global: 1.05; LPFT global: 2\n" in card
    assert "`lpft simulate --scenario concept --eta 0.1 --steps 1 --strategies ft,lp-ft`" in card
    flooding = section(report, "group-chen2025_empirical").split("### ")[3]
    assert "config: (b: 0.1; seeds: (0, 1, 2))" in flooding  # a nested dict, not a repr
    assert "`lpft_theory.studies.flooding_study(quick=False, seed=0)`" in flooding


def test_no_python_reprs_anywhere(report):
    assert not REPR.search(report), REPR.search(report)
    assert derepr("best over [{'lp_alpha': 0.5}, {'lp_steps': 1}]") == "best over ((lp alpha: 0.5), (lp steps: 1))"
    assert derepr("fixed recipe: {'label/LP-FT': 19}; x None, None") == "fixed recipe: (label/LP-FT: 19); x —, —"
    assert derepr("[np.False_, np.float64(0.5)] and [1, 2]") == "[False, 0.5] and [1, 2]"
    assert derepr("None of the runs") == "None of the runs"


def test_each_figure_is_embedded_once_and_linked_after(report):
    for name in FIGURES:
        assert report.count(f"](figures/{name}.png)") == 1, name
        assert report.count(f'<a id="fig-{name}"></a>') == 1
    # chen-fig3a-correlation shows distortion_scatter; chen-fig3a-lpft-distortion links to it
    later = section(report, "group-chen2025_empirical").split("### ")[2]
    assert "**Figure:** [distortion_scatter](#fig-distortion_scatter) (shown with [`chen-fig3a-correlation`]" in later
    assert "## <a id=\"other-figures\"></a>Other figures" in report and "![overlap](figures/overlap.png)" in report


def test_evidence_blocks_are_capped_and_point_to_checks_json(report):
    card = section(report, "group-chen2025_empirical").split("### ")[4]
    assert card.startswith('<a id="claim-chen-table2-best-global">')
    details = next(line for line in card.splitlines() if "**Rerun:**" in line)
    details = details[details.index("<details>"):]
    assert details.endswith("</details>")
    assert "(full in checks.json)" in details and "more entries in checks.json" in details
    assert "more rows in checks.json" in details
    assert len(details) < 12_000  # 30 settings × 40 rows reduced to a few shown, the rest counted
    assert "setting 29" not in details


def test_robustness_table_merges_synonyms_and_marks_the_primary():
    r = robustness(verdicts())
    assert r["columns"][:2] == ["fixed recipe", "short global model"] and "matched local" in r["columns"]
    assert "matched Local" not in r["columns"] and "fixed recipe, 30-round global" not in r["columns"]
    assert r["rows"]["chen-real-best-global"] == {"matched local": "equivalent", "short global model": "refuted"}
    # one claim with both 'matched Local' and 'matched local (regression)': neither is silently dropped
    assert r["rows"]["chen-fig3b-flooding"]["matched local"] == "inconclusive"
    assert r["rows"]["chen-fig3b-flooding"]["matched local (regression)"] == "refuted"
    assert r["primary"]["chen-table2-best-global"] == "matched local"
    md = markdown(document(verdicts(), False, 0, FIGURES, with_derivations=False))
    row = next(line for line in md.splitlines() if line.startswith("| [`chen-table2-best-global`]"))
    assert row.count("**") == 2 and "**mixed**" in row
    assert canonical_variant("matched  Local (regression)") == "matched local"


def test_derivations_are_labelled_by_their_own_result():
    md = render_report(verdicts(), quick=False, seed=0, figure_names=FIGURES)
    block = section(md, "derivations")
    parts = re.split(r"\n(?=\*\*)", block)
    lemma = next(p for p in parts if p.startswith("**Lemma 4.3"))
    thm44 = next(p for p in parts if p.startswith("**Theorem 4.4"))
    assert "LP-FT" not in lemma.split("\n", 1)[1]  # the lemma is the one-step update, not a winner condition
    assert r"B_{FT} - B^*" in lemma
    assert r"\text{LP-FT has the lower global loss (others)} \iff" in thm44
    assert r"\left(a - 1\right) \left(a - 2 \omega + 1\right) > 0" in thm44
    from paper_checks.html import render_html

    page = render_html(document(verdicts()[:1], False, 0, (), with_derivations=True))
    assert page.count("<math>") == 10 and "a′" in page and "aprime" not in page


def test_key_findings_are_generated_from_the_verdicts():
    vs = verdicts()
    bullets = key_findings(vs)
    groups = [b for b in bullets if b.startswith("- ")]
    assert len(groups) == 4  # one per claim group
    for v in vs:  # each notable claim appears with its own status word, and nowhere with another
        lines = [b for b in bullets if f"`{v.id}`" in b]
        if v.status in findings.NOTABLE:
            assert len(lines) == 1 and f"**{v.status}**" in lines[0]
    flooding = next(b for b in bullets if "`chen-fig3b-flooding`" in b)
    assert "b=0.1: -0.03 [-0.04, -0.02] (n = 6)" in flooding  # the decisive interval, from the evidence
    inconcl = next(b for b in bullets if "`chen-fig3a-lpft-distortion`" in b)
    assert "largest minimum detectable effect 0.03377" in inconcl
    # the same verdicts with another status give another bullet: nothing is fixed prose
    flipped = [v if v.id != "chen-fig3b-flooding" else type(v)(**{**v.to_dict(), "status": "inconclusive",
                                                                    "notes": "n"}) for v in vs]
    assert any("`chen-fig3b-flooding`](#claim-chen-fig3b-flooding) **inconclusive**" in b for b in key_findings(flipped))


def test_readme_block_rewrite_and_check(tmp_path, capsys):
    checks = {"config": {"quick": False, "seed": 0, "version": "9.9"}, "verdicts": [v.to_dict() for v in verdicts()]}
    (tmp_path / "checks.json").write_text(json.dumps(checks))
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{findings.START}\nold text: everything confirmed\n{findings.END}\n\nrest\n")
    args = [str(readme), "--checks", str(tmp_path / "checks.json")]
    assert findings.main(args + ["--check"]) == 1
    assert findings.main(args) == 0
    text = readme.read_text()
    assert text.startswith("# Title\n\nintro\n\n") and text.endswith("\n\nrest\n")
    assert "everything confirmed" not in text and readme_block(checks) in text
    assert "9 claims: **2** confirmed, **1** holds-under-derived-condition" in text
    assert "`kumar-thm-3.1-eps1` **refuted**: 8 violations in 138 instances (104 informative)" in text
    assert findings.main(args + ["--check"]) == 0
    checks["verdicts"][6]["status"] = "confirmed"  # the checks change: the README no longer matches
    (tmp_path / "checks.json").write_text(json.dumps(checks))
    assert findings.main(args + ["--check"]) == 1
    readme.write_text("no markers\n")
    assert findings.main(args) == 2
    assert "markers" in capsys.readouterr().err


def test_plain_math_of_figure_titles():
    assert plain_math(r"Lemma: $\|B_{FT} - B^*\|_F = \eta c \lambda$") == "Lemma: ‖B_FT - B^*‖_F = η c λ"
    assert plain_math(r"$\langle z_T,z_0\rangle$, $u \in S^\perp$, $\sigma^2 r\,K^{FT}$") == \
        "⟨z_T,z_0⟩, u ∈ S^⊥, σ^2 r K^(FT)"


def test_readme_findings_block_matches_the_committed_full_run():
    """The README's findings block is generated from docs/checks-full.json (python -m paper_checks.findings)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = root / "README.md"
    if findings.START not in readme.read_text():
        pytest.skip("README.md has no findings block yet (markers not added)")
    assert (root / "docs" / "checks-full.json").is_file(), "README has a findings block but docs/checks-full.json is missing"
    assert findings.main([str(readme), "--checks", str(root / "docs" / "checks-full.json"), "--check"]) == 0


def test_report_html_is_an_output_the_job_refuses_to_overwrite(tmp_path):
    from paper_checks.report import OUTPUTS, check_out_dir

    assert "report.html" in OUTPUTS
    (tmp_path / "report.html").write_text("old")
    with pytest.raises(FileExistsError, match="report.html"):
        check_out_dir(tmp_path)
    assert check_out_dir(tmp_path, overwrite=True) == tmp_path


def test_a_users_claim_gets_the_same_card_in_its_own_group():
    from paper_checks.verdict import Verdict

    mine = Verdict("my-lpft-vs-proximal", "LP-FT keeps a lower Global than Proximal", "user claim", "confirmed",
                   {"violations": 0, "instances": 40}, declared={"kind": "bound", "primary_protocol": "exact instances + "
                                                                 "adversary", "statistic": "margin", "delta": None})
    md = render_report(verdicts() + [mine], quick=False, seed=0, figure_names=FIGURES, with_derivations=False)
    group = section(md, "group-user")
    assert group.startswith('<a id="group-user"></a>Your claims')
    assert "`my-lpft-vs-proximal` — confirmed" in group and "`lpft check --claims YOUR_CLAIMS.py`" in group
    assert "- **Decided by:** 0 violations in 40 instances." in group


def test_real_claims_findings_say_where_the_control_was_detected_and_the_room():
    from paper_checks.findings import control_sentence

    side = lambda det, gain: {"positive_control": {"detected": det}, "local_gain_available": {"mean": gain}}  # noqa
    ev = {"sides": {"concept/mlp": side(True, 0.44), "label/mlp": side(False, 0.03), "overlap/cnn": side(True, 0.05)}}
    text = control_sentence(ev)
    assert text.startswith("positive control detected on 2 of 3 sides (concept/mlp, overlap/cnn)")
    assert "Local gain available 0.03–0.44" in text
    assert control_sentence({"sides": {"a": {"verdict": "for"}}}) == "" and control_sentence({}) == ""
