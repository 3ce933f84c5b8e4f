"""The compiled two-layer GD step (lpft_theory.kernels_compiled) against the numpy step it replaces.

Claims: (1) ``TwoLayerMomentsCompiled`` computes the step of ``kernels.TwoLayerMoments`` — every loss and the
final parameters over 50 steps, over shapes (both of its row sweeps), batch layouts (broadcast parameters,
broadcast data), learning-rate forms, ``Σ = I`` or a general shared ``Σ``, ``half`` — to round-off, and through
``dynamics.run`` it equals the general engine; (2) the switch is off by default, and off it changes no bit;
(3) a kernel that is wrong by a learning rate 1e-6 off, or by its update order, fails the comparison;
(4) numba is imported only on request, and a missing numba is a clear ImportError.

Tolerance, ``RTOL = 1e-12``. The compiled step rounds element-wise operations exactly as numpy does but sums
its reductions (the loss, ``B_i·G``, ``β = Bᵀv``) in another order, so each step differs by a few ulps
(~1e-16 relative), and GD at these stable step sizes does not amplify them much over 50 steps. The loss
``Σ_j β_j (Σβ − 2C)_j + s`` is a sum of terms of the size of ``s`` that cancel as the loss goes to 0, so its
round-off is relative to ``|L| + |s|``, not to ``L``. 1e-12 leaves a margin of ~1000 over what is measured
(at most 6e-16 on the losses and 8e-16 on the parameters, over these cases and 300 random ones) and is ~1e5
times finer than the effect of a learning rate off by 1e-6 (1.4e-7 on the parameters:
test_a_wrong_kernel_fails_the_comparison).
"""
import subprocess
import sys

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lpft_theory import dynamics, kernels, kernels_compiled  # noqa: E402
from lpft_theory.dynamics import DivergenceError, gradient_descent  # noqa: E402
from lpft_theory.kernels_compiled import TwoLayerMomentsCompiled, compiled, use_compiled  # noqa: E402
from lpft_theory.models import two_layer  # noqa: E402

from _kernel_cases import case, moments  # noqa: E402  (tests/ is on sys.path under pytest)

RTOL = 1e-12
STEPS = 50


def _moments(rng, d, batch=(), identity=False):  # s ~ 4 for every d: stable GD at η ≤ 0.06
    return moments(rng, d, batch, identity, w_scale=2.0 / np.sqrt(d))


def _case(seed, d, k, batch, data_batch, identity, eta_kind):
    return case(seed, d, k, batch, data_batch, identity, eta_kind, w_scale=2.0 / np.sqrt(d))


def _steps(cls, arch, p0, data, eta, steps, half=False):
    kern = cls(arch, p0, data, eta, half)
    losses = [kern.step(update=t < steps) for t in range(steps + 1)]
    return np.asarray(losses), kern.params


def _assert_close(losses, params, ref_losses, ref_params, s):
    """Losses to ``RTOL·(|L| + |s|)`` at every step, parameters to ``RTOL·max|θ|`` (module docstring)."""
    assert losses.shape == ref_losses.shape
    np.testing.assert_array_less(np.abs(losses - ref_losses), RTOL * (np.abs(ref_losses) + np.abs(s)) + 1e-300)
    for a, b in zip(params, ref_params):
        assert a.shape == b.shape
        np.testing.assert_array_less(np.abs(a - b), RTOL * np.max(np.abs(b)) + 1e-300)


def _compare(arch, p0, data, eta, half=False, steps=STEPS, cls=TwoLayerMomentsCompiled):
    assert kernels.applies(arch, p0, data, "mse", eta)
    ref = _steps(kernels.TwoLayerMoments, arch, p0, data, eta, steps, half)
    got = _steps(cls, arch, p0, data, eta, steps, half)
    _assert_close(*got, *ref, data.s)


# d in [12, 64] takes the four-rows sweep (kernels_compiled.QUAD_D), the others the row-by-row one; k = 2 and
# 33 leave rows over from the groups of four, k = 1 has no next row to pipeline
SHAPES = [(1, 1), (3, 2), (6, 4), (13, 2), (20, 8), (17, 33), (70, 5)]
BATCHES = [((), ()), ((5,), ()), ((), (4,)), ((7, 2), (2,)), ((3,), (3,))]


@pytest.mark.parametrize("d,k", SHAPES)
@pytest.mark.parametrize("batch,data_batch", BATCHES)
def test_compiled_step_equals_the_numpy_step(d, k, batch, data_batch):
    assert kernels_compiled.QUAD_D == (12, 64)  # SHAPES covers both sweeps only for this range
    for identity, half, eta_kind in ((True, False, "per_config"), (False, True, "first_axis"),
                                     (False, False, "scalar"), (True, True, "scalar")):
        _compare(*_case(d * 100 + k, d, k, batch, data_batch, identity, eta_kind), half=half)


@pytest.mark.parametrize("identity", [True, False])
def test_run_with_the_compiled_step_equals_the_general_engine(identity, monkeypatch):
    """Through ``dynamics.run``: the compiled step against the general fused step (``USE_KERNELS = False``,
    bit for bit the numpy kernel: tests/test_kernels.py)."""
    arch, p0, data, eta = _case(11, 9, 5, (6,), (), identity, "per_config")
    for half in (False, True):
        with monkeypatch.context() as m:
            m.setattr(dynamics, "USE_KERNELS", False)
            ref = gradient_descent(arch, p0, data, eta, 30, half=half)
        with compiled():
            got = gradient_descent(arch, p0, data, eta, 30, half=half)
        _assert_close(got.losses, got.params, ref.losses, ref.params, data.s)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 20), d=st.integers(1, 80), k=st.integers(1, 12), n=st.integers(1, 12),
       steps=st.integers(1, 30), identity=st.booleans(), half=st.booleans(), shared_params=st.booleans())
def test_compiled_step_on_random_admissible_instances(seed, d, k, n, steps, identity, half, shared_params):
    rng = np.random.default_rng(seed)
    arch = two_layer(d, k)
    p0 = arch.init(rng, scale=0.5, batch=() if shared_params else (n,))
    data = _moments(rng, d, (n,), identity)
    _compare(arch, p0, data, rng.uniform(0.005, 0.03, n), half=half, steps=steps)


def test_switch_is_off_by_default_and_off_changes_no_bit(monkeypatch):
    assert dynamics.COMPILED is False
    made = []

    class Spy(TwoLayerMomentsCompiled):
        def __init__(self, *a, **kw):
            made.append(1)
            super().__init__(*a, **kw)

    monkeypatch.setattr(kernels_compiled, "TwoLayerMomentsCompiled", Spy)
    arch, p0, data, eta = _case(3, 20, 8, (6,), (), False, "per_config")
    ref = _steps(kernels.TwoLayerMoments, arch, p0, data, eta, 20)  # what run computed before the switch existed
    before = gradient_descent(arch, p0, data, eta, 20)
    with compiled():
        assert dynamics.COMPILED is True
        on = gradient_descent(arch, p0, data, eta, 20)
    assert dynamics.COMPILED is False and made == [1]  # used while on, and only then
    after = gradient_descent(arch, p0, data, eta, 20)
    assert made == [1]
    for traj in (before, after):
        np.testing.assert_array_equal(traj.losses, ref[0])
        for a, b in zip(traj.params, ref[1]):
            np.testing.assert_array_equal(a, b)
    _assert_close(on.losses, on.params, *ref, data.s)
    use_compiled(True)
    try:
        assert dynamics.COMPILED is True
    finally:
        use_compiled(False)
    assert dynamics.COMPILED is False


class _NumpyStep:
    """The step written plainly in numpy (unblocked), for the comparison's own checks; ``swap``: update ``v``
    first and ``B`` with the new ``v`` (a wrong order)."""

    swap = False

    def __init__(self, arch, params, data, lr, half=False):
        k, d = arch.widths[0], arch.d
        bs = np.broadcast_shapes(params[0].shape[:-2], params[1].shape[:-2], data.batch_shape)
        self.params = tuple(np.array(np.broadcast_to(p, bs + s)) for p, s in zip(params, ((k, d), (k, 1))))
        self.Sigma, self.C, self.s, self.half = data.Sigma, data.C, data.s, half
        lr = np.asarray(lr, dtype=np.float64)
        self.flr = (1.0 if half else 2.0) * lr.reshape(lr.shape + (1,) * (len(bs) - lr.ndim + 2))

    def step(self, update=True):
        B, v = self.params
        beta = np.swapaxes(B, -1, -2) @ v
        Sb = self.Sigma @ beta
        loss = np.sum(beta * (Sb - 2.0 * self.C), axis=(-1, -2)) + self.s
        if update:
            G = self.flr * (Sb - self.C)
            g = B @ G
            if self.swap:
                v -= g
                B -= v * np.swapaxes(G, -1, -2)
            else:
                B -= v * np.swapaxes(G, -1, -2)
                v -= g
        return 0.5 * loss if self.half else loss


def test_a_wrong_kernel_fails_the_comparison():
    """The comparison can fail: the compiled step with its learning rates 1e-6 off (relative), or a step that
    updates ``B`` with the new ``v``; the same step in the right order passes."""
    case = _case(5, 20, 8, (4,), (), False, "per_config")

    class LrOff(TwoLayerMomentsCompiled):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.flr *= 1.0 + 1e-6

    class Swapped(_NumpyStep):
        swap = True

    with pytest.raises(AssertionError):
        _compare(*case, cls=LrOff)
    with pytest.raises(AssertionError):
        _compare(*case, cls=Swapped)
    for half in (False, True):
        _compare(*case, half=half, cls=_NumpyStep)
        _compare(*case, half=half)


def test_compiled_step_keeps_the_guards_and_leaves_the_callers_params_alone():
    arch = two_layer(6, 4)
    p0 = arch.init(0, batch=(3,))
    before = [p.copy() for p in p0]
    data = _moments(np.random.default_rng(0), 6, identity=True)
    with compiled():
        traj = gradient_descent(arch, p0, data, 0.05, 5)
        with pytest.raises(DivergenceError, match="eta"):
            gradient_descent(arch, p0, data, np.array([0.05, 50.0, 0.05]), 200)
    for a, b in zip(p0, before):
        np.testing.assert_array_equal(a, b)
    assert traj.losses.shape == (6, 3) and traj.params[0].shape == (3, 4, 6) and traj.params[1].shape == (3, 4, 1)


def test_numba_is_imported_only_on_request_and_missing_numba_is_a_clear_error(monkeypatch):
    code = ("import sys, numpy as np, lpft_theory; from lpft_theory import dynamics, kernels_compiled, models;"
            "a = models.two_layer(3, 2); m = lpft_theory.Moments(np.eye(3), np.ones((3, 1)), 3.0);"
            "dynamics.gradient_descent(a, a.init(0), m, 0.1, 2); print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert kernels_compiled.available()  # this module runs only where numba is installed
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises ImportError
    assert not kernels_compiled.available()
    monkeypatch.setattr(kernels_compiled, "_STEP", None)
    with pytest.raises(ImportError, match=r"pip install lpft-theory\[fast\]"):
        use_compiled(True)
    assert dynamics.COMPILED is False
    arch, p0, data, eta = _case(1, 4, 3, (2,), (), True, "scalar")
    monkeypatch.setattr(dynamics, "COMPILED", True)
    with pytest.raises(ImportError, match=r"lpft-theory\[fast\]"):
        gradient_descent(arch, p0, data, eta, 2)


def test_readme_example_runs_and_agrees_to_round_off(capsys):
    """The README's snippet for the compiled step runs as written and prints a round-off difference."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "kernels_compiled" in b)
    exec(compile(block, "README.md", "exec"), {})
    printed = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= printed < 1e-12
    assert dynamics.COMPILED is False  # the context manager switched it back off
