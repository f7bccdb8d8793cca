"""Tests for symgrad.backends.compile: `lambdify` agrees with `evaluate`, shares work,
broadcasts, handles deep and wide graphs, and writes readable, pasteable source (`codegen`)."""


import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import VARIABLES, X, Y, Z, close, expressions, points

import symgrad as sg
from symgrad.ir.graph import gc_paused


@given(expressions(smooth=False), points())
def test_lambdify_agrees_with_evaluate(expression, point):
    f = sg.lambdify(VARIABLES, expression)
    with np.errstate(all="ignore"):
        assert close(f(**point), sg.evaluate(expression, point))


@given(expressions(), st.integers(min_value=0, max_value=2**32 - 1))
def test_lambdify_agrees_with_evaluate_on_arrays(expression, seed):
    rng = np.random.default_rng(seed)
    env = {"x": rng.uniform(-2, 2, 5), "y": rng.uniform(-2, 2, (3, 1)), "z": 0.5}
    gradient = sg.gradient(expression, list(VARIABLES))
    f = sg.lambdify(VARIABLES, [expression, *gradient])
    with np.errstate(all="ignore"):
        actual = f(env["x"], env["y"], env["z"])
        expected = sg.evaluate([expression, *gradient], env)
    assert len(actual) == len(expected) == 4
    for a, e in zip(actual, expected, strict=True):
        assert close(a, e)


def test_scalars_and_broadcasting():
    f = sg.lambdify([X, Y], X * Y + 1)
    assert f(2, 3) == 7.0
    assert f(np.array([1.0, 2.0]), 3).tolist() == [4.0, 7.0]
    assert f(np.ones((3, 1)), np.arange(4.0)).shape == (3, 4)
    assert f(x=2, y=5) == 11.0  # parameters are named after the variables


def test_a_list_of_outputs_gives_a_tuple():
    assert sg.lambdify([X, Y], [X * Y])(2, 3) == (6.0,)
    product, total, constant, variable = sg.lambdify([X, Y], [X * Y, X + Y, 2, Y])(2, 3)
    assert (product, total, constant, variable) == (6.0, 5.0, 2, 3.0)
    assert sg.lambdify([X], 5)(1.0) == 5


def test_shared_nodes_are_computed_once():
    s = sg.sin(X * Y)
    f = sg.lambdify([X, Y], s * s + sg.exp(s) + X * Y)
    assert f.source.count("np.sin") == 1
    assert f.source.count("x*y") == 1
    temporaries = [line for line in f.source.splitlines() if line.startswith("    t")]
    assert len(temporaries) == 2  # x*y and sin(x*y): the only nodes used twice
    assert close(f(0.3, 0.7), sg.evaluate(s * s + sg.exp(s) + X * Y, {"x": 0.3, "y": 0.7}))


def test_dead_temporaries_are_reused():
    # Each sin(...) is used twice, then never again: two names suffice for the whole chain.
    z = X
    for _ in range(50):
        s = sg.sin(z)
        z = s * s + s
    f = sg.lambdify([X], z)
    targets = {line.split(" = ")[0].strip() for line in f.source.splitlines()[2:-1]}
    assert targets <= {"t0", "t1"}
    assert close(f(0.4), sg.evaluate(z, {"x": 0.4}))


def test_readable_source_is_pinned():
    f = sg.lambdify([X, Y], [X * Y + sg.sin(X) ** 2, *sg.gradient(X * Y + sg.sin(X) ** 2, [X, Y])])
    assert f.source == (
        "def f(x, y):\n"
        "    x = np.asarray(x, dtype=np.float64)\n"
        "    y = np.asarray(y, dtype=np.float64)\n"
        "    t0 = np.sin(x)\n"
        "    shape = np.broadcast_shapes(np.shape(x), np.shape(y))\n"
        "    return (x*y + t0**2, 2*t0*np.cos(x) + y, x + np.full(shape, -0.0, dtype=np.float64))\n"
    )
    assert sg.lambdify([X, Y], [X * Y, X + Y]).source.endswith("    return (x*y, x + y)\n")
    assert sg.lambdify([X, Y], (X - Y) / (X + Y) ** -2).source.splitlines()[-1] == (
        "    return (x - y)/(x + y)**(-2)"
    )
    assert sg.lambdify([X], -(X**2)).source.splitlines()[-1] == "    return -x**2"


def test_codegen_is_self_contained():
    expression = sg.sigmoid(X * Y) + sg.relu(X) * sg.step(Y) + sg.sign(Z)
    source = sg.codegen(expression)
    assert source.startswith("import numpy as np\n")
    assert "symgrad" not in source
    assert "def sigmoid(a):\n    return np.exp(-np.logaddexp(0.0, -a))" in source
    namespace = {}
    exec(source, namespace)
    point = {"x": 0.3, "y": -1.2, "z": 2.0}
    assert close(namespace["f"](**point), sg.evaluate(expression, point))


def test_codegen_options_and_languages():
    assert "def grad_f(y, x):" in sg.codegen([Y * X], args=[Y, X], name="grad_f")
    with pytest.raises(ValueError, match="supported: python"):
        sg.codegen(X, lang="c")


def test_constants_hoisted_and_non_finite():
    table = sg.const(np.array([1.0, 2.0, 3.0]))
    f = sg.lambdify([X], table * X + sg.const(float("inf")))
    assert f(2.0).tolist() == [np.inf] * 3
    namespace = {}
    exec(sg.codegen(table * X), namespace)
    assert namespace["f"](2.0).tolist() == [2.0, 4.0, 6.0]
    # Constants that did not fold (not finite) still follow numpy, not Python, arithmetic.
    with np.errstate(all="ignore"):
        assert sg.lambdify([X], X + sg.const(1) / sg.const(0))(1.0) == np.inf
        assert sg.lambdify([X, Y], X / Y)(1.0, 0.0) == np.inf
        assert np.isnan(sg.lambdify([X, Y], X**Y)(-8.0, 1 / 3))


def test_dtype():
    f = sg.lambdify([X, Y], [X * 0.5 + Y, sg.sin(X)], dtype=np.float32)
    first, second = f(np.ones(3), 2)
    assert first.dtype == second.dtype == np.float32
    assert "dtype=np.float32" in f.source


def test_awkward_variable_names():
    np_, sin, t0, lam = sg.variables("np sin t0 lambda_")
    f = sg.lambdify([np_, sin, t0, lam, "lambda"], sg.sin(np_ * sin) * (np_ * sin) + t0 + lam)
    assert close(f(1.0, 2.0, 3.0, 4.0, 5.0), np.sin(2.0) * 2.0 + 7.0)


def test_errors():
    with pytest.raises(ValueError, match="not in args: y, z"):
        sg.lambdify([X], X * Y + Z)
    with pytest.raises(TypeError, match="variable or a variable name"):
        sg.lambdify([X * Y], X)
    with pytest.raises(ValueError, match="appears twice"):
        sg.lambdify([X, "x"], X)
    with pytest.raises(TypeError, match="must be a Tensor"):
        sg.lambdify([X], [X, "y"])
    with pytest.raises(TypeError, match="must be a Tensor"):
        sg.lambdify([X], "x + 1")
    with pytest.raises(ValueError, match="identifier"):
        sg.lambdify([X], X, name="not valid")
    f = sg.lambdify([X, "unused"], X + 1)  # arguments the graph does not use are fine
    assert f(1, "anything") == 2.0


def test_deep_graph_compiles():
    with gc_paused():
        z = X
        for _ in range(100_000):
            z = sg.sin(z)
    f = sg.lambdify([X], z)  # bench/compile_speed.py measures how fast
    assert max(len(line) for line in f.source.splitlines()) < 200
    assert close(f(1.0), sg.evaluate(z, {"x": 1.0}))


def test_wide_graph_compiles():
    names = sg.variables(" ".join(f"x{i}" for i in range(2000)))
    with gc_paused():
        total = 0
        for i in range(len(names) - 1):
            total = total + 100 * (names[i + 1] - names[i] ** 2) ** 2 + (1 - names[i]) ** 2
        partials = sg.gradient(total, names)
    f = sg.lambdify(names, [total, *partials])
    values = np.linspace(-1, 1, len(names))
    expected = sg.evaluate([total, *partials], dict(zip(names, values, strict=True)))
    assert close(f(*values), expected)


def test_out_writes_results_into_given_arrays():
    expression = X * Y + sg.sin(X) ** 2
    outputs = [expression, *sg.gradient(expression, [X, Y]), sg.relu(X)]
    f = sg.lambdify([X, Y], outputs, out=True)
    assert "np.add(x*y, t0**2, out=out[0])" in f.source  # the last ufunc writes the result
    buffers = [np.empty(3) for _ in outputs]
    x = np.array([-1.0, 0.5, 2.0])
    assert f(x, 2.0, out=buffers) is buffers
    for written, expected in zip(buffers, f(x, 2.0), strict=True):
        assert close(written, expected)
    single = sg.lambdify([X], 2 * sg.sin(X), out=True)
    buffer = np.empty(2)
    assert single([1.0, 2.0], out=buffer) is buffer
    assert close(buffer, 2 * np.sin([1.0, 2.0]))
    out = sg.var("out")
    renamed = sg.lambdify([out], out + 1, out=True)  # a variable named `out` is renamed
    assert renamed(1.0, out=buffer) is buffer and close(buffer, 2.0)


def test_outputs_take_the_inputs_shape():
    # d(3x + 1)/dx is 3 everywhere: an array like xs, so plt.plot(xs, df(xs)) works
    xs = np.linspace(-1, 1, 5)
    df = sg.lambdify([X], (3 * X + 1).grad(X), backend="numpy")
    np.testing.assert_array_equal(df(xs), np.full(5, 3.0))
    assert df(2.0) == 3.0 and np.shape(df(2.0)) == ()
    both = sg.lambdify([X, Y], sg.gradient(X * Y + sg.sin(X), [X, Y]), backend="numpy")
    dx, dy = both(xs, 2.0)
    np.testing.assert_allclose(dx, np.cos(xs) + 2.0)
    np.testing.assert_array_equal(dy, xs)
    _, dy = both(0.5, xs)
    np.testing.assert_array_equal(dy, np.full(5, 0.5))
    np.testing.assert_array_equal(sg.evaluate((3 * X + 1).grad(X), {"x": xs}), np.full(5, 3.0))
