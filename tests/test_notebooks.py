"""The teaching notebooks execute (as scripts, in a subprocess) and convert to .ipynb with jupytext."""
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.py"))


def test_there_are_six_notebooks_linked_from_the_readme():
    assert len(NOTEBOOKS) == 6
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.name}" in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    res = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Solutions" in path.read_text() and res.stdout.strip()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_converts_to_ipynb(path):
    nb = jupytext.read(path)
    kinds = {c.cell_type for c in nb.cells}
    assert kinds == {"markdown", "code"}
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Learning goals" in text and "Exercises" in text
    ipynb = jupytext.writes(nb, fmt="ipynb")
    assert '"cell_type": "code"' in ipynb
