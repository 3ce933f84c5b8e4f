"""Build the teaching notebooks as ``.ipynb``: a student version without the solutions and a teacher version.

    python notebooks/build.py                  # -> build/notebooks/student/*.ipynb and build/notebooks/teacher/*.ipynb
    python notebooks/build.py --execute        # the same, with every cell's output (needs the `notebooks` extra)
    python notebooks/build.py --out DIR 01 03  # only the notebooks whose name starts with 01 or 03

The sources are the jupytext percent-format scripts ``notebooks/NN_*.py``. A cell whose header carries the tag
``solution`` (``# %% tags=["solution"]`` or ``# %% [markdown] tags=["solution"]``) is left out of the student
version; everything else is in both. Needs ``jupytext`` (``pip install -e ".[notebooks]"``).
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOLUTION = "solution"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def sources(prefixes=()) -> list[Path]:
    """The notebook scripts, in order; only those whose name starts with one of ``prefixes`` when given."""
    paths = sorted(HERE.glob("[0-9][0-9]_*.py"))
    if prefixes:
        paths = [p for p in paths if p.name.startswith(tuple(prefixes))]
        if not paths:
            raise ValueError(f"no notebook name starts with {list(prefixes)}; "
                             f"names: {[p.name for p in sorted(HERE.glob('[0-9][0-9]_*.py'))]}")
    return paths


def is_solution(cell) -> bool:
    return SOLUTION in cell.metadata.get("tags", [])


def versions(path: Path) -> dict:
    """``{"student": nb, "teacher": nb}`` for one notebook script (nbformat notebooks)."""
    import jupytext

    teacher = jupytext.read(path)
    teacher.metadata["kernelspec"] = dict(KERNELSPEC)
    teacher.metadata.pop("jupytext", None)  # a standalone .ipynb, not paired with the script
    student = copy.deepcopy(teacher)
    student.cells = [c for c in student.cells if not is_solution(c)]
    if len(student.cells) == len(teacher.cells):
        raise ValueError(f"{path.name} has no cell tagged {SOLUTION!r}: nothing would separate the two versions")
    return {"student": student, "teacher": teacher}


def execute(nb, cwd: Path, timeout: int = 600):
    """Run every cell of ``nb`` in a fresh kernel (nbclient + ipykernel), in place."""
    try:
        from nbclient import NotebookClient
    except ImportError as e:
        raise SystemExit(f"--execute needs nbclient and ipykernel: pip install -e \".[notebooks]\" ({e})")
    NotebookClient(nb, timeout=timeout, kernel_name=KERNELSPEC["name"],
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def build(out: Path, prefixes=(), run: bool = False) -> list[Path]:
    """Write ``out/student/NAME.ipynb`` and ``out/teacher/NAME.ipynb`` for every notebook; return the paths."""
    import nbformat

    written = []
    for path in sources(prefixes):
        for kind, nb in versions(path).items():
            target = out / kind / f"{path.stem}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            if run:
                execute(nb, target.parent)
            nbformat.validate(nb)
            tmp = target.with_suffix(".ipynb.tmp")
            nbformat.write(nb, str(tmp))
            tmp.replace(target)  # atomic: a reader never sees half a notebook
            written.append(target)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="example: python notebooks/build.py && jupyter lab build/notebooks/student",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("only", nargs="*", metavar="PREFIX", help="only notebooks whose name starts with PREFIX (e.g. 01)")
    ap.add_argument("--out", type=Path, default=Path("build/notebooks"),
                    help="output folder (default: build/notebooks); student/ and teacher/ are written inside it")
    ap.add_argument("--execute", action="store_true", help="run every cell and keep the outputs (nbclient, ipykernel)")
    args = ap.parse_args(argv)
    try:
        paths = build(args.out, args.only, args.execute)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
