"""The CLI on hostile input: expressions starting with '-', errors
as one message (no traceback), the shared form for derivatives too big to write out; and
graphs and compiled functions that pickle and copy."""

import copy
import json
import pickle
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

import symgrad as sg
from symgrad.cli import MAX_INLINED, main


def test_an_expression_may_start_with_minus(capsys):
    assert main(["diff", "-x**2", "--wrt", "x"]) == 0
    assert capsys.readouterr().out == "df/dx = -2*x\n"
    assert main(["eval", "-x*y", "--at", "x=2,y=3"]) == 0
    assert capsys.readouterr().out == "-6\n"


@pytest.mark.parametrize(
    "expression", ["x²", "1" * 5000 + "x", "(" * 10_000, "\x1b[2Jx", "__import__('os')", "x*"]
)
def test_bad_expressions_are_one_message_and_exit_2(capsys, expression):
    assert main(["diff", expression, "--wrt", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symgrad diff: error: bad expression:")
    assert "Traceback" not in err and "\x1b" not in err


def test_a_derivative_too_big_to_write_out_prints_the_shared_form(capsys):
    # each line doubles the inlined formula: 24 lines inline to about 10^8 nodes
    lines = ["a0 = sin(x)*cos(x)"] + [f"a{i} = sin(a{i-1})*cos(a{i-1})" for i in range(1, 23)]
    assert main(["diff", "\n".join([*lines, "a22*x"]), "--wrt", "x"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("df/dx =\n  t1 = sin(x)\n")
    assert len(out) < 50 * MAX_INLINED
    shared = "\n".join(line.strip() for line in out.splitlines()[1:])
    f = sg.parse("\n".join([*lines, "a22*x"]))
    x = sg.var("x")
    assert sg.evaluate(sg.parse(shared), {"x": 0.3}) == pytest.approx(
        sg.evaluate(f.grad(x), {"x": 0.3}), rel=1e-12
    )
    assert main(["diff", "\n".join([*lines, "a22*x"]), "--wrt", "x", "--format", "latex"]) == 2
    assert "too big for one LaTeX formula" in capsys.readouterr().err


def _graph():
    x, y = sg.variables("x y")
    chain = x
    for _ in range(100_000):  # pickling walks the graph without recursion
        chain = sg.sin(chain)
    return sg.exp(x * y) + sg.pi * x ** sg.const(Fraction(1, 2)) + chain * sg.const(-0.0) + (
        sg.const(np.array([1.0, 2.0])) * y
    )


def test_graphs_pickle_and_copy_to_the_same_interned_node():
    f = _graph()
    assert pickle.loads(pickle.dumps(f)) is f
    assert copy.deepcopy(f) is f and copy.copy(f) is f
    assert copy.deepcopy([f, f])[0] is f


def test_graphs_and_compiled_functions_travel_to_another_process():
    f = _graph()
    x, y = sg.variables("x y")
    compiled = sg.lambdify([x, y], [f, *sg.gradient(f, [x, y])])
    loaded = pickle.loads(pickle.dumps(compiled))
    assert all(np.array_equal(a, b) for a, b in zip(loaded(0.5, 2.0), compiled(0.5, 2.0)))
    program = (
        "import json, pickle, sys\n"
        "import symgrad as sg\n"
        "f, compiled = pickle.loads(sys.stdin.buffer.read())\n"
        "value = sg.evaluate(f, {'x': 0.5, 'y': 2.0})\n"
        "print(json.dumps([list(value), list(compiled(0.5, 2.0)[0])]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        input=pickle.dumps((f, compiled)),
        capture_output=True,
        check=True,
    )
    expected = list(sg.evaluate(f, {"x": 0.5, "y": 2.0}))
    assert json.loads(done.stdout) == [expected, expected]


def test_lambdify_checks_inputs_as_evaluate_does():
    x = sg.var("x")
    f = sg.lambdify([x], x + 1)
    for bad in (None, "1.5", object(), [1, "a"]):
        with pytest.raises(TypeError, match="the value of 'x'"):
            f(bad)
        with pytest.raises(TypeError, match="the value of 'x'"):
            sg.evaluate(x + 1, {"x": bad})
    assert f(x=np.array([1, 2])).tolist() == [2.0, 3.0]
