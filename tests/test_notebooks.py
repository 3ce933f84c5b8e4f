"""The teaching notebooks: each one runs (student cells first, then the solutions), draws its plots and computes
the numbers its lesson states; the build step writes a student .ipynb without the solutions and a teacher one.

Each notebook runs in a subprocess (its figures and seaborn theme stay out of this process), cell by cell as
jupytext reads it, so the cells run are exactly those of the built notebooks. The values checked are
expressions evaluated in the notebook's namespace after the student cells, returned as JSON.
"""
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
sys.path.insert(0, str(ROOT / "notebooks"))
import build  # noqa: E402  (notebooks/build.py: the student/teacher build step)

MARK = "@@notebook-values@@"
RUNNER = r'''
import json, sys
import jupytext
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

path, exprs = sys.argv[1], json.loads(sys.argv[2])
cells = [c for c in jupytext.read(path).cells if c.cell_type == "code"]
ns = {"__name__": "__main__"}


def run(selected):
    for i, c in selected:
        # magics (``%matplotlib inline``) are comments in the script; jupytext turns them back into magics
        src = "\n".join("# " + l if l.lstrip().startswith("%") else l for l in c.source.split("\n"))
        exec(compile(src, f"{path} [code cell {i}]", "exec"), ns)


def drawn(fig):
    """Number of axes that show data (lines, collections, patches or images)."""
    return sum(bool(ax.lines or ax.collections or ax.patches or ax.images) for ax in fig.axes)


is_sol = lambda c: "solution" in c.metadata.get("tags", [])
run([(i, c) for i, c in enumerate(cells) if not is_sol(c)])  # the student notebook
figs = [plt.figure(n) for n in plt.get_fignums()]
values = {name: eval(e, ns) for name, e in exprs.items()}
solutions = [(i, c) for i, c in enumerate(cells) if is_sol(c)]
run(solutions)  # then the teacher's solutions, in the same namespace
print("@@notebook-values@@" + json.dumps({"values": values, "figures": len(figs),
                                          "drawn_axes": [drawn(f) for f in figs], "solution_cells": len(solutions)}))
'''


def execute(path: Path, exprs: dict, tmp_path) -> dict:
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    res = subprocess.run([sys.executable, "-c", RUNNER, str(path), json.dumps(exprs)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith(MARK))
    out = json.loads(line[len(MARK):])
    out["stdout"] = res.stdout
    return out


def close(x, y, rel=1e-6, abs_=1e-12):
    return math.isclose(x, y, rel_tol=rel, abs_tol=abs_)


# notebook -> (expressions evaluated after the student cells, the least number of figures, the checks)
def _check_01(v):
    assert v["on_S_perp"] < 1e-12 < 0.1 < v["on_S"]  # Lemma A.3: FT moves B only inside S
    assert v["ood_lpft"] < 1e-20 < 1e-3 < v["ood_ft"]  # Prop. 3.2: LP-FT keeps L_ood = 0, FT does not
    assert v["min_sqrt_ood"] >= v["bound"] > 0  # Theorem 3.1's bound along the trajectory (|w*| = 1)
    assert close(v["ood_ft"], 0.07771, rel=1e-3) and close(v["bound"], 0.09870, rel=1e-3)


def _check_02(v):
    assert v["residual_is_zero"]  # sympy: the one-step update is exactly the closed form
    assert max(v["row_errors"]) < 1e-12  # simulator vs Lemma 4.3's rows
    a = 2 * v["eta"] * (1 + v["v"])  # c = 2: the loss without 1/2
    assert close(v["sim_global"], 0.8 ** 2 * (1 + a ** 2), rel=1e-9)  # FT's global loss λ²(1 + a²)
    assert close(v["sim_local"], 0.8 ** 2 * (a - 1) ** 2, rel=1e-9)  # and its local loss λ²(a − 1)²


def _check_03(v):
    assert close(v["eta_star"], 1 / (2 * (1 + v["v"])), rel=1e-12)
    assert v["winners"] == ["FT", "LP-FT"]  # below η* FT wins, above it LP-FT (Theorem 4.4's condition a > 1)
    assert close(v["ft_globals"][0], 1.25, rel=1e-9) and close(v["ft_globals"][1], 3.25, rel=1e-9)  # λ²(1 + a²)
    assert close(v["lambda_star"], 6.737, rel=1e-3) and close(v["lambda_star2"], 20.12, rel=1e-3)
    assert v["beyond"] == ["LP-FT", "FT", "LP-FT"]  # FT wins only between λ* and λ**
    assert close(v["excess_1_5"], 2.0, rel=1e-12)  # 4λ²(a − 1) at a = 1.5
    assert min(v["above_ft"] + v["above_lpft"]) > -1e-12  # the frontier bounds every run from below
    assert all(b < a for a, b in zip(v["above_ft"], v["above_lpft"]))  # after 5 steps LP-FT lies closer


def _check_04(v):
    assert v["n_seeds"] == v["cfg_seeds"] and v["plateau_rounds_ok"]
    assert min(v["plateau_acc"]) > 0.2  # well above chance (0.1) on 10 classes
    assert max(v["identity_error"]) < 1e-12  # total = head + feature + interaction, exactly
    assert v["lp_feature_part"] < 1e-12 and v["lp_head_minus_total"] < 1e-12  # LP's whole change is the head part
    assert v["summary_variants"] == ["fixed recipe", "equal budget", "tuned", "matched local"]


def _check_05(v):
    assert abs(v["purified_dot_kd"]) < 1e-12 and v["purified_step"] == [1.0, 0.0]
    b = v["balanced"]
    assert b["FedAvg"] < b["zero-shot"]  # fine-tuning on long-tailed data erodes the balance
    assert 0 < v["recovered"] <= 1.0001  # purification recovers part of it
    assert v["global_by_lam"] == sorted(v["global_by_lam"], reverse=True)  # alignment lowers the global loss
    assert v["local_by_lam"] == sorted(v["local_by_lam"])  # at a local cost


def _check_06(v):
    sin = v["final_sin"]
    assert sin["1"] > 0.9 and sin["5"] < 1e-3  # τ = 1 cannot learn B*, τ = 5 does (diverse tasks)
    assert close(v["tau2_engine"], v["tau2_predicted"], rel=1e-6)  # the leading order is exact for τ = 2
    assert v["rank_theta"] == 5 < v["k"] == 8  # Assumption 4.1: the tasks span C of k directions
    assert v["condition_right"]  # the one-step condition predicts which method moves B more, client by client
    assert max(v["flow_errors"]) < 1e-8  # the engine's gradient flow vs the closed forms
    for errs in v["gd_errors"]:  # GD's error is first order in η: it halves with η
        assert 1.8 < errs[0] / errs[1] < 2.2 and 1.8 < errs[1] / errs[2] < 2.2


CASES = {
    "01_feature_distortion": ({
        "on_S": "float(on_S)", "on_S_perp": "float(on_S_perp)", "ood_ft": "float(ood_ft)",
        "ood_lpft": "float(ood_lpft)",
        "bound": "float(bound)", "min_sqrt_ood": "float(sqrt_ood.min())"}, 2, _check_01),
    "02_federated_feature_distortion": ({
        "residual_is_zero": "bool(d.expressions['residual'] == sp.zeros(4, 4))",
        "row_errors": "[float(e) for e in errors]", "eta": "eta", "v": "v",
        "sim_global": "float(sim['global'])", "sim_local": "float(sim['local'])"}, 1, _check_02),
    "03_when_does_lpft_win": ({
        "v": "v", "eta_star": "eta_star", "winners": "[steps[k]['lower global loss'] for k in ('η*/2', '1.5 η*')]",
        "ft_globals": "[float(steps[k]['FT global']) for k in ('η*/2', '1.5 η*')]",
        "lambda_star": "float(roots['lambda_star'])", "lambda_star2": "float(roots['lambda_star2'])",
        "beyond": "[b['lower global loss'] for b in beyond.values()]",
        "excess_1_5": "float(frontier['a = 1.5']['excess 4λ²(a − 1)⁺'])",
        "above_ft": "[float(x) for x in above['FT']]",
        "above_lpft": "[float(x) for x in above['LP-FT (LP a quarter of the way)']]"}, 4, _check_03),
    "04_real_digits": ({
        "plateau_acc": "[float(x) for x in global_models['plateau: test accuracy']]", "n_seeds": "len(res['runs'])",
        "cfg_seeds": "cfg.seeds",
        "plateau_rounds_ok": "all(0 < x <= cfg.max_rounds for x in global_models['plateau: rounds'])",
        "identity_error": "[abs(a['total'] - a['head'] - a['feature'] - a['interaction']) for r in res['runs'] "
                          "for v in r['variants'].values() for a in v['attribution'].values()]",
        "lp_feature_part": "max(abs(float(r['variants']['tuned']['attribution']['LP']['feature'])) "
                           "for r in res['runs'])",
        "lp_head_minus_total": "abs(float(attribution.loc['LP', 'head'] - attribution.loc['LP', 'total']))",
        "summary_variants": "list(res['summary'])"},
        3, _check_04),
    "05_long_tails_and_split_learning": ({
        "purified_dot_kd": "float(step[0].ravel() @ g_kd[0].ravel())", "purified_step": "step[0].ravel().tolist()",
        "balanced": "{k: float(x) for k, x in table['balanced'].items()}",
        "recovered": "float((table['balanced']['FedAvg+purify'] - table['balanced']['FedAvg']) "
                     "/ (table['balanced']['zero-shot'] - table['balanced']['FedAvg']))",
        "global_by_lam": "[float(x) for x in by_lam['global']]", "local_by_lam": "[float(x) for x in by_lam['local']]"},
        2, _check_05),
    "06_foundations": ({
        "final_sin": "{str(t): float(r['sin'][-1]) for t, r in runs.items()}",
        "tau2_engine": "float(contraction['τ = 2']['‖I − A‖ (engine)'])",
        "tau2_predicted": "float(contraction['τ = 2']['η³S_τ‖BΘBᵀ‖ (leading order)'])",
        "rank_theta": "int(Co.task_rank(thetas))", "k": "int(chen.truth['B_star'].shape[0])",
        "condition_right": "bool(((lpft_ > ft_) == predicted).all())",
        "flow_errors": "[float(r['max |flow − closed form|']) for r in exact_rows.values()]",
        "gd_errors": "[[float(e) for e in errs] for errs in gd_errors.values()]"}, 4, _check_06),
}


def test_every_notebook_has_a_case_and_a_line_in_the_docs():
    assert [p.stem for p in NOTEBOOKS] == sorted(CASES)
    guide = (ROOT / "docs" / "notebooks.md").read_text()
    for nb in NOTEBOOKS:
        assert f"`{nb.name}`" in guide
    assert "python notebooks/build.py" in guide and "python notebooks/build.py" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_draws_and_computes_its_lesson(path, tmp_path):
    exprs, min_figures, check = CASES[path.stem]
    out = execute(path, exprs, tmp_path)
    assert out["figures"] >= min_figures, f"{path.name} drew {out['figures']} figures, expected >= {min_figures}"
    assert all(n >= 1 for n in out["drawn_axes"]), f"a figure of {path.name} has no axes with data: {out['drawn_axes']}"
    assert out["solution_cells"] >= 1
    check(out["values"])
    for raw in ("np.False_", "np.True_", "np.float64(", "array(["):  # printed tables, not reprs
        assert raw not in out["stdout"], f"{path.name} prints a raw repr {raw!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_structure(path):
    nb = jupytext.read(path)
    assert {c.cell_type for c in nb.cells} == {"markdown", "code"}
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Learning goals" in md and "## Exercises" in md
    sol = [i for i, c in enumerate(nb.cells) if build.is_solution(c)]
    exercises = next(i for i, c in enumerate(nb.cells) if "## Exercises" in c.source)
    assert sol and min(sol) > exercises, "solutions come after the exercises, in cells tagged 'solution'"
    assert "## Solutions" in nb.cells[min(sol)].source and nb.cells[min(sol)].cell_type == "markdown"
    assert not any("## Solutions" in c.source for i, c in enumerate(nb.cells) if i not in sol)


def test_build_writes_student_without_solutions_and_teacher_with_them(tmp_path):
    import nbformat

    written = build.build(tmp_path)
    assert len(written) == 2 * len(NOTEBOOKS)
    for path in NOTEBOOKS:
        student = nbformat.read(str(tmp_path / "student" / f"{path.stem}.ipynb"), as_version=4)
        teacher = nbformat.read(str(tmp_path / "teacher" / f"{path.stem}.ipynb"), as_version=4)
        nbformat.validate(student)
        nbformat.validate(teacher)
        tags = lambda c: c.metadata.get("tags", [])  # noqa: E731
        assert not any("solution" in tags(c) for c in student.cells)
        sol = [c for c in teacher.cells if "solution" in tags(c)]
        assert sol and len(student.cells) == len(teacher.cells) - len(sol)
        assert [c.source for c in student.cells] == [c.source for c in teacher.cells if "solution" not in tags(c)]
        s_text = "\n".join(c.source for c in student.cells)
        assert "## Exercises" in s_text and "## Solutions" not in s_text
        assert "## Solutions" in "\n".join(c.source for c in teacher.cells)
        assert student.metadata["kernelspec"]["name"] == "python3"
        assert "%matplotlib inline" in s_text  # the magic is live in the notebook (a comment in the script)


def test_build_refuses_a_notebook_without_solution_cells_and_an_unknown_name(tmp_path):
    plain = tmp_path / "99_plain.py"
    plain.write_text("# %% [markdown]\n# # Plain\n\n# %%\nx = 1\n")
    with pytest.raises(ValueError, match="no cell tagged 'solution'"):
        build.versions(plain)
    with pytest.raises(ValueError, match="no notebook name starts with"):
        build.sources(["zz"])
    assert build.main(["zz", "--out", str(tmp_path)]) == 2


@pytest.mark.skipif(importlib.util.find_spec("nbclient") is None or importlib.util.find_spec("ipykernel") is None,
                    reason="executing a built .ipynb needs the `notebooks` extra (nbclient, ipykernel)")
def test_built_student_notebook_runs_in_a_kernel_and_shows_its_plot(tmp_path):
    import nbformat

    out = tmp_path / "nb"
    build.build(out, ["02"], run=True)
    nb = nbformat.read(str(out / "student" / "02_federated_feature_distortion.ipynb"), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the plot is displayed inline"
    assert any("global λ²(1 + a²)" in o.get("text", "") for o in outputs)
