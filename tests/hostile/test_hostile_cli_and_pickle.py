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
from symgrad.backends import kernels
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


def _every_op_kind():
    """A formula for every op of the scalar table and every tensor op (each family of ops made
    per axis too, and their gradients' ops), with the point to evaluate it at."""
    from symgrad.ir.graph import Children, Tensor

    x, y = sg.variables("x y")
    scalar = [
        Tensor(children=Children(x, y if op.arity == 2 else None, op)) for op in sg.OPS.values()
    ]
    W, A = sg.matrix("W", (2, 3)), sg.matrix("A", (3, 3))
    v, u = sg.vector("v", 3), sg.vector("u", 2)
    N = sg.matrix("N", ("rows", "cols_2"))  # named dimensions: the mean's gradient counts them
    tensor = [
        W @ v, u @ W, v @ v, sg.outer(u, v), W.T, sg.trace(A), sg.sum(W), sg.mean(W, axis=0),
        sg.sum(W, axis=1, keepdims=True), sg.mean(N, axis=(0, 1), keepdims=True),
        sg.softmax(W), sg.softmax(W, axis=0), sg.logsumexp(W), sg.logsumexp(W, axis=None),
    ]
    gradients = [
        sg.gradient(sg.sum(f * f) if f.shape else f, [*sg.free_variables(f)])
        for f in [*tensor, sg.mean(N), sg.mean(N, axis=1)]
    ]
    tensor += [d for ds in gradients for d in ds]
    rng = np.random.default_rng(0)
    point = {"x": 0.3, "y": 0.7, "W": rng.normal(size=(2, 3)), "A": rng.normal(size=(3, 3)),
             "v": rng.normal(size=3), "u": rng.normal(size=2), "N": rng.normal(size=(4, 5))}
    return scalar, tensor, point


def _values(formulas, point):
    with np.errstate(all="ignore"):
        return [np.asarray(sg.evaluate(f, point), dtype=float) for f in formulas]


def test_every_op_kind_pickles_into_a_fresh_process():
    """Graphs and compiled functions of every op, scalar and tensor (ops bound per axis too),
    load in a process that never built them and compute the same values, bit for bit."""
    from symgrad.ops.tensor import TENSOR_OPS

    scalar, tensor, point = _every_op_kind()
    formulas = scalar + tensor
    used = {n.op.name for n in sg.toposort(formulas) if n.op is not None}
    assert set(sg.OPS) | set(TENSOR_OPS) <= used
    for family in ("sum", "mean", "count", "expand_dims", "softmax", "logsumexp"):
        assert family in used, family
    x, y = sg.variables("x y")
    compiled = [sg.lambdify(sorted(sg.free_variables(f), key=lambda v: v.name), f)
                for f in formulas]
    # every op numba compiles (the others, such as lambertw, run with numpy: compiled above)
    instructions = [f for f in scalar if kernels.scalar_source(f.op) is not None]
    compiled.append(sg.lambdify([x, y], instructions, backend="numba"))
    program = (
        "import pickle, sys\n"
        "import numpy as np\n"
        "import symgrad as sg\n"
        "formulas, compiled, point = pickle.loads(sys.stdin.buffer.read())\n"
        "with np.errstate(all='ignore'):\n"
        "    values = [np.asarray(sg.evaluate(f, point), dtype=float) for f in formulas]\n"
        "    calls = [np.asarray(f(**{k: point[k] for k in f.__signature__.parameters}),\n"
        "                        dtype=float) for f in compiled[:-1]]\n"
        "    calls.append(np.asarray(compiled[-1](point['x'], point['y']), dtype=float))\n"
        "sys.stdout.buffer.write(pickle.dumps(([str(f) for f in formulas], values, calls)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        input=pickle.dumps((formulas, compiled, point)),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    texts, values, calls = pickle.loads(done.stdout)
    assert texts == [str(f) for f in formulas]
    expected = _values(formulas, point)
    same = [np.array_equal(a, b, equal_nan=True) for a, b in zip(values, expected, strict=True)]
    assert all(same), [str(f) for f, ok in zip(formulas, same, strict=True) if not ok]
    with np.errstate(all="ignore"):
        expected_calls = [np.asarray(f(**{k: point[k] for k in f.__signature__.parameters}),
                                     dtype=float) for f in compiled[:-1]]
        expected_calls.append(np.asarray(compiled[-1](point["x"], point["y"]), dtype=float))
    assert all(np.array_equal(a, b, equal_nan=True)
               for a, b in zip(calls, expected_calls, strict=True))


def test_ops_bound_per_axis_are_found_by_name_and_argument():
    """A mean's gradient divides by a count of its named dimensions: one op per set of names,
    each with its own argument, so `M_N_k`'s count is not `M_N`'s (which would print wrongly);
    a pickle finds it by (name, arg), and refuses an argument the row cannot take."""
    from symgrad.ir.op import op_named

    counts = []
    for shape in [("N", "k"), ("N_k", "k"), ("N", 3), ("ℕ", "u")]:
        M = sg.matrix("M_" + "_".join(map(str, shape)), shape)
        (d,) = sg.gradient(sg.mean(M), [M])
        counts += [n.op for n in sg.toposort(d) if n.op is not None and n.op.name[:5] == "count"]
        assert pickle.loads(pickle.dumps(d)) is d
        # the count is a helper the compiled code finds by the op's (name, arg)
        value = np.ones([size if isinstance(size, int) else 2 for size in shape])
        assert np.array_equal(sg.lambdify([M], d)(value), np.full(value.shape, 1 / value.size))
    assert [op.arg for op in counts] == [
        (None, ("N", "k")), (None, ("N_k", "k")), (None, ("N", 3)), (None, ("ℕ", "u"))
    ]
    assert {op.name for op in counts} == {"count"}
    assert all(op_named(op.name, op.arg) is op for op in counts)
    for name, arg in [("sum", ((1, 0), False)), ("sum", ((0, 0), False)), ("sum", None),
                      ("softmax", "x"), ("expand_dims", None),
                      ("count", (None, ())), ("count", ((-1,), ("N",))), ("sin", 1),
                      ("sum_axis0", None), ("mean", ((0,),))]:
        with pytest.raises(KeyError, match="no op is called"):
            op_named(name, arg)
