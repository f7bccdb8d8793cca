"""Gradients where untaken branches are NaN, and recurrences deep enough to expose quadratic
work: the scalar sweep and the tensor sweep agree on any elementwise formula, even at points
where `where` masks a NaN; and simplify of an unrolled recurrence's gradient stays linear in
its depth (checked in a child process with a memory cap, so a regression fails, not hangs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg
from tests.strategies import close

ROOT = Path(__file__).resolve().parents[2]
SIZE = 4
UNARY = {"sqrt": sg.sqrt, "log": sg.log, "exp": sg.exp, "sin": sg.sin, "neg": lambda a: -a,
         "tanh": sg.tanh}
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b}
COMPARE = {"gt": lambda a, c: a > c, "lt": lambda a, c: a < c, "ge": lambda a, c: a >= c}
values = st.floats(min_value=-3, max_value=3, allow_nan=False).map(lambda v: round(v, 2))

# One instruction: (kind, name, three operand picks, a constant). Operands are picked among the
# nodes built so far, so later instructions share earlier nodes, as conditions often do.
instructions = st.lists(
    st.tuples(
        # where and the NaN-prone sqrt and log come often: their mix is what is under test
        st.sampled_from(["unary", "binary", "where", "where", "constant"]),
        st.sampled_from(["sqrt", "log", *sorted(UNARY)]),
        st.sampled_from(sorted(BINARY)),
        st.sampled_from(sorted(COMPARE)),
        st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)),
        # x*0 folds to 0 for a scalar x, not for a vector, which keeps its shape: the two
        # formulas would differ where x is infinite, before any gradient is taken
        values.map(lambda number: number or 0.5),
    ),
    min_size=1,
    max_size=12,
)


def _build(program: list, leaf: sg.Tensor) -> sg.Tensor:
    """The program's last node over `leaf`: the same elementwise formula for a vector leaf
    and for a scalar one."""
    nodes = [leaf, sg.sqrt(leaf), sg.log(leaf)]  # NaN below 0: for where to mask
    for kind, unary, binary, compare, picks, number in program:
        a, b, c = (nodes[i % len(nodes)] for i in picks)
        if kind == "unary":
            nodes.append(UNARY[unary](a))
        elif kind == "binary":
            nodes.append(BINARY[binary](a, b))
        elif kind == "where":
            nodes.append(sg.where(COMPARE[compare](a, number), b, c))
        else:
            nodes.append(BINARY[binary](a, number))
    return nodes[-1]


@given(instructions, st.lists(values, min_size=SIZE, max_size=SIZE))
def test_scalar_and_tensor_sweeps_give_one_gradient(program, point):
    # sum(f(v)) over a vector v, and f(v0) + f(v1) + f(v2) over scalars: one gradient, NaN
    # where (and only where) the branch taken has a NaN derivative
    v = sg.vector("v", SIZE)
    scalars = [sg.var(f"v{i}") for i in range(SIZE)]
    vector_gradient = sg.gradient(sg.sum(_build(program, v)), v)
    total = _build(program, scalars[0])
    for s in scalars[1:]:
        total = total + _build(program, s)
    scalar_gradient = sg.gradient(total, scalars)
    with np.errstate(all="ignore"):
        expected = [sg.evaluate(g, {f"v{i}": point[i] for i in range(SIZE)})
                    for g in scalar_gradient]
        actual = sg.evaluate(vector_gradient, {"v": np.array(point, dtype=float)})
    assert close(np.broadcast_to(actual, (SIZE,)), np.array(expected, dtype=float),
                 rtol=1e-9, atol=0)


_RNN_SIMPLIFY = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))
import symgrad as sg
h0, w, x = sg.variables("h w x")
h = h0
for _ in range({levels}):
    h = sg.tanh(h) * w + x
start = time.perf_counter()
partials = sg.simplify(sg.gradient(h, [h0, w, x]))
seconds = time.perf_counter() - start
at = {{"h": 0.1, "w": 0.5, "x": 0.2}}
print(seconds, *(sg.evaluate(p, at) for p in partials))
"""


def test_simplify_of_a_deep_recurrence_gradient_is_linear():
    # 2,000 RNN steps: 48.6 s and 2.1 GB when each level copied all below it (quadratic);
    # about 10 s and 150 MB linear. The child has 2 GB of address space and 240 s.
    levels = 2000
    done = subprocess.run([sys.executable, "-c", _RNN_SIMPLIFY.format(levels=levels)],
                          capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    seconds, *values = map(float, done.stdout.split())
    # the values of the unsimplified partials, by the recurrence's own derivative
    h, dh_dh0, dh_dw, dh_dx = 0.1, 1.0, 0.0, 0.0
    for _ in range(levels):
        t = np.tanh(h)
        slope = 0.5 * (1 - t * t)
        dh_dh0, dh_dw, dh_dx = slope * dh_dh0, t + slope * dh_dw, 1 + slope * dh_dx
        h = t * 0.5 + 0.2
    assert values == pytest.approx([dh_dh0, dh_dw, dh_dx], rel=1e-9, abs=1e-300)
    assert seconds < 120
