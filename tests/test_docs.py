"""The documentation: `mkdocs build --strict` succeeds (warnings — broken links or anchors, bad docstrings — are
errors), the pages and the API reference are there with their math marked up, `docs/` refers to nothing outside
the repository, every path and dotted name it mentions exists, every built-in claim has a place on a page, and
every paper the README lists has a section in docs/theory.md."""
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
CLAIMS_TABLE = re.compile(r"^<!-- claims: (?P<ids>[^>]+?) -->$", re.M)
#: files that do not exist in this repository, which earlier versions of the docs cited
OUTSIDE = ("spec/", "papers.md", "DESIGN.md", "spec §")
#: files the package writes (`lpft reproduce`, `lpft simulate --json`), not files of the repository
OUTPUTS = ("report.md", "report.html", "checks.json", "run.json")
PAPERS = ("Chen et al. 2025", "Kumar et al. 2022", "FedPuReL", "FlexP-SFL", "Collins et al. 2022",
          "Tomihari & Sato 2024", "Ren et al. 2023", "Saxe et al. 2014", "Kunin et al. 2024", "Dominé et al. 2025")

needs_mkdocs = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("mkdocs", "material", "mkdocstrings_handlers")),
    reason="the docs build needs the `docs` extra: pip install -e \".[docs]\" (mkdocs, mkdocs-material, "
           "mkdocstrings-python)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "MPLBACKEND": "Agg"}
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                          str(ROOT / "mkdocs.yml"), "--site-dir", str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    return out


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html[html.find("<article"):html.find("</article>")])


@needs_mkdocs
def test_docs_build_strict_with_every_page_and_the_api(site):
    for page in ("index.html", "theory/index.html", "foundations/index.html", "notebooks/index.html",
                 "api/index.html"):
        assert (site / page).is_file(), page
    # the API reference is generated from the docstrings: one documented name from each module it covers
    api = {"models": ("two_layer", "DeepLinear"), "dynamics": ("gradient_descent", "fedavg"),
           "strategies": ("lp_ft", "proximal_ft", "purify", "split_ft", "flooded", "lora_ft"),
           "theory": ("theorem_4_4", "lambda_star", "pareto_frontier", "theorem_3_1_bound", "run_fedavg"),
           "metrics": ("summarize", "cross_matrix"), "stats": ("mean_ci", "paired_difference"),
           "synthetic": ("concept_shift", "combined_shift", "long_tail", "kumar"),
           "verdict": ("Verdict", "judge", "STATUSES")}
    for page, names in api.items():
        html = (site / "api" / page / "index.html").read_text()
        for name in names:
            assert f'id="{name}"' in html or re.search(rf'id="[\w.]*\.{re.escape(name)}"', html), (page, name)
        assert ":func:" not in _text(html) and ":class:" not in _text(html), f"a Sphinx role is printed on {page}"
    # the math is marked up for MathJax, and the claims tables are filled in
    theory = (site / "theory" / "index.html").read_text()
    assert theory.count('class="arithmatex"') > 50
    assert "<!-- claims:" not in theory and "chen-thm-4.4" in _text(theory)


@needs_mkdocs
def test_built_site_refers_to_nothing_outside_the_repository(site):
    for page in site.rglob("*.html"):
        text = _text(page.read_text())
        bad = [o for o in OUTSIDE if o in text]
        assert not bad, f"{page.relative_to(site)} cites {bad}"


def test_docs_sources_refer_to_nothing_outside_the_repository():
    for path in PAGES + [ROOT / "mkdocs.yml"]:
        text = path.read_text()
        bad = [o for o in OUTSIDE if o in text]
        assert not bad, f"{path.relative_to(ROOT)} cites {bad}"
        for target in re.findall(r"\]\(([^)#\s]+)", text):  # relative links stay inside docs/
            if not re.match(r"[a-z]+:", target):
                assert (path.parent / target).resolve().is_relative_to(DOCS), f"{path.name} links to {target}"


def _repo_files() -> list[Path]:
    """The repository's source files: its top-level files and the package, docs, notebook and test folders."""
    folders = ("lpft_theory", "synthetic", "paper_checks", "figures", "notebooks", "docs", "tests", "benchmarks")
    return [p for p in ROOT.iterdir() if p.is_file()] + [p for f in folders for p in (ROOT / f).rglob("*")
                                                          if p.is_file() and "__pycache__" not in p.parts]


def test_every_path_the_docs_mention_exists():
    files = _repo_files()
    names = {p.name for p in files}
    for page in PAGES:
        for m in re.finditer(r"`([\w./-]+\.(?:py|md|toml|json|csv|cff|yml|txt))`", page.read_text()):
            token = m.group(1)
            if token in OUTPUTS:
                continue
            if "/" in token:
                assert (ROOT / token).exists() or (DOCS / token).exists(), f"{page.name}: {token} does not exist"
            else:
                assert token in names, f"{page.name}: no file named {token} in the repository"


def _resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_every_dotted_name_the_docs_mention_exists():
    seen = 0
    for page in PAGES:
        for m in re.finditer(r"`((?:lpft_theory|synthetic|paper_checks|figures)(?:\.\w+)+)", page.read_text()):
            _resolve(m.group(1))
            seen += 1
        for m in re.finditer(r"`(chen|collins|kumar|strategies|protocol)\.(\w+)", page.read_text()):
            mod = {"chen": "lpft_theory.theory.chen", "collins": "lpft_theory.theory.collins",
                   "kumar": "lpft_theory.theory.kumar", "strategies": "lpft_theory.strategies",
                   "protocol": "lpft_theory.protocol"}[m.group(1)]
            assert hasattr(importlib.import_module(mod), m.group(2)), f"{page.name}: {m.group(0)}"
            seen += 1
    assert seen > 20


def test_every_built_in_claim_has_a_table_row_on_a_page():
    from paper_checks import claims

    on_pages = [i for page in PAGES for m in CLAIMS_TABLE.finditer(page.read_text()) for i in m.group("ids").split()]
    declared = [d.id for d in claims.BUILT_IN]
    assert sorted(set(declared) - set(on_pages)) == [], "claims without a place in the docs"
    for claim_id in on_pages:
        claims.declaration(claim_id)  # an unknown id would also stop the build
    assert len(on_pages) == len(set(on_pages)), "a claim listed twice"


def test_theory_covers_every_paper_and_states_no_status():
    theory = (DOCS / "theory.md").read_text()
    headings = "\n".join(line for line in theory.splitlines() if line.startswith("#"))
    for paper in PAPERS:
        assert paper in theory, paper
    for section in ("Chen et al. 2025", "Kumar et al. 2022", "FedPuReL", "FlexP-SFL", "Fig. 3b — loss flooding",
                    "Table 2", "The results the papers rest on"):
        assert section in headings, section
    # statuses come from a run (report.md, checks.json), never from fixed prose in the docs
    for page in PAGES:
        words = re.findall(r"\b(confirmed|refuted|not[- ]testable|confirmed-under-condition|inconclusive)\b",
                           page.read_text(), re.I)
        assert not words, f"{page.name} states statuses as prose: {sorted(set(words))}"
