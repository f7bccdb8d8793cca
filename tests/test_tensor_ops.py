"""Shaped variables and tensor ops: shapes inferred and checked at build, values by numpy, and
the matrix notation in text and LaTeX."""

import numpy as np
import pytest

import symgrad as sg
from symgrad.shapes import ShapeError

W = sg.matrix("W", (3, 4))
A = sg.matrix("A", (4, 4))
x, y = sg.vector("x", 4), sg.vector("y", 3)
RNG = np.random.default_rng(7)
ENV = {"W": RNG.normal(size=(3, 4)), "A": RNG.normal(size=(4, 4)), "x": RNG.normal(size=4),
       "y": RNG.normal(size=3)}


def value(t):
    return sg.evaluate(t, ENV)


@pytest.mark.parametrize(
    "build, shape",
    [
        (lambda: W @ x, (3,)),
        (lambda: x @ A, (4,)),
        (lambda: x @ x, ()),
        (lambda: W @ A, (3, 4)),
        (lambda: W.T, (4, 3)),
        (lambda: sg.outer(y, x), (3, 4)),
        (lambda: W + x, (3, 4)),
        (lambda: sg.sum(W, axis=0), (4,)),
        (lambda: sg.sum(W, axis=-1, keepdims=True), (3, 1)),
        (lambda: sg.mean(W), ()),
        (lambda: sg.softmax(W, axis=0), (3, 4)),
        (lambda: sg.logsumexp(W), (3,)),
        (lambda: sg.trace(A), ()),
    ],
)
def test_shapes_are_numpys(build, shape):
    node = build()
    assert node.shape == shape
    assert np.shape(value(node)) == shape


def test_values_are_numpys():
    w, a, xv, yv = ENV["W"], ENV["A"], ENV["x"], ENV["y"]
    assert np.allclose(value(sg.sum((W @ x - y) ** 2)), np.sum((w @ xv - yv) ** 2))
    assert np.allclose(value(x @ A @ x), xv @ a @ xv)
    assert np.allclose(value(sg.outer(y, x) + W), np.outer(yv, xv) + w)
    softmax = np.exp(w) / np.exp(w).sum(axis=0, keepdims=True)
    assert np.allclose(value(sg.softmax(W, axis=0)), softmax)
    assert np.allclose(value(sg.logsumexp(W)), np.log(np.exp(w).sum(axis=1)))
    assert np.allclose(value(sg.trace(A @ A.T)), np.trace(a @ a.T))
    assert np.allclose(value(sg.norm(W)), np.linalg.norm(w))
    assert np.allclose(value(sg.mean(W, axis=1)), w.mean(axis=1))


def test_logsumexp_does_not_overflow():
    z = sg.vector("z", 2)
    assert np.isclose(sg.evaluate(sg.logsumexp(z), {"z": [1000.0, 1000.0]}), 1000 + np.log(2))
    assert np.allclose(sg.evaluate(sg.softmax(z), {"z": [1000.0, 0.0]}), [1.0, 0.0])


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: W @ y, "matmul: shapes (3, 4) and (3,) do not align (4 != 3)"),
        (lambda: W + y, "add: shapes (3, 4) and (3,) do not broadcast (4 against 3)"),
        (lambda: sg.outer(W, x), "outer takes two vectors, got shapes (3, 4) and (4,)"),
        (lambda: x @ W, "matmul: shapes (4,) and (3, 4) do not align (4 != 3)"),
        (lambda: sg.trace(W), "trace takes a square matrix, got shape (3, 4)"),
        (lambda: sg.sum(W, axis=2), "axis 2 is out of range for 2 dimension(s)"),
        (lambda: sg.matrix("B", (2,)), "a matrix has two dimensions, got (2,)"),
    ],
)
def test_shape_errors_name_both_shapes(build, message):
    with pytest.raises(ShapeError) as error:
        build()
    assert str(error.value) == message


def test_named_dimensions_check_and_bind():
    M, v = sg.matrix("M", ("m", "n")), sg.vector("v", "n")
    assert (M @ v).shape == ("m",)
    with pytest.raises(ShapeError, match=r"shapes \(m, n\) and \(m,\) do not align"):
        M @ sg.vector("u", "m")
    assert np.allclose(sg.evaluate(M @ v, {"M": np.ones((2, 3)), "v": np.ones(3)}), [3, 3])
    with pytest.raises(ShapeError, match=r"declared with shape \(n,\) where m=2, n=3"):
        sg.evaluate(M @ v, {"M": np.ones((2, 3)), "v": np.ones(4)})


def test_a_matrix_and_a_scalar_of_one_name_are_different_variables():
    assert sg.matrix("W", (3, 4)) is W
    assert sg.var("W").shape == () and sg.matrix("W", (2, 2)).shape == (2, 2)


def test_numpy_arrays_are_matrices_in_tensor_expressions():
    c = np.arange(12.0).reshape(3, 4)
    assert (W + sg.const(c, shaped=True)).shape == (3, 4)
    assert np.allclose(value(c @ x), c @ ENV["x"])


@pytest.mark.parametrize(
    "build, text, latex",
    [
        (lambda: W @ x - y, "W@x - y", "W x - y"),
        (lambda: 2 * sg.outer(W @ x - y, x), "2*(W@x - y)@x.T", "2 (W x - y) x^{\\top}"),
        (lambda: x @ A @ x, "x.T@A@x", "x^{\\top} A x"),
        (lambda: (W @ A).T, "(W@A).T", "(W A)^{\\top}"),
        (lambda: W.T.T, "W", "W"),
        (lambda: (A + A.T) @ x, "(A + A.T)@x", "(A + A^{\\top}) x"),
        (lambda: sg.outer(x, W @ x), "x@(W@x).T", "x (W x)^{\\top}"),
        (lambda: W * W, "W*W", "W \\odot W"),
        (lambda: sg.sum(W, axis=0), "sum(W, axis=0)", "\\operatorname{sum}_{0}\\left(W\\right)"),
        (lambda: sg.softmax(W @ x) - y, "softmax(W@x) - y",
         "\\operatorname{softmax}\\left(W x\\right) - y"),
    ],
)
def test_printing_in_matrix_notation(build, text, latex):
    node = build()
    assert str(node) == text
    assert sg.latex(node) == latex


def test_lambdify_makes_one_numpy_call_per_tensor_op():
    f = sg.sum((W @ x - y) ** 2) + x @ A @ x + sg.logsumexp(W @ x) + sg.trace(A)
    outputs = [f, *sg.gradient(f, [W, x, A])]
    compiled = sg.lambdify([W, x, y, A], outputs)
    got = compiled(ENV["W"], ENV["x"], ENV["y"], ENV["A"])
    for ours, expected in zip(got, sg.evaluate(outputs, ENV), strict=True):
        assert np.allclose(ours, expected)
    products = [n for n in sg.toposort(outputs) if n.op is not None and n.op.numpy is np.matmul]
    assert compiled.source.count("np.matmul(") == len(products) == 5  # W@x, x@A, .@x, A@x, W.T@.
    assert "outer(" in compiled.source and "logsumexp(" in compiled.source


def test_dot_shows_shapes():
    source = sg.to_dot(2 * sg.outer(W @ x - y, x)).source
    assert '"{ W | (3, 4) }"' in source
    assert '"{ outer | (3, 4) }"' in source


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda f: sg.to_sympy(f), TypeError, "write it out in scalars first"),
        (lambda f: sg.explain(f, W), ShapeError, "for vectors and matrices use sg.gradient"),
        (lambda f: sg.jacobian([W @ x], [W]), ShapeError, r"has shape \(3,\): reduce it first"),
        (lambda f: sg.forward_sweep(f, W), ShapeError, "forward mode takes scalar graphs"),
    ],
)
def test_scalar_only_tools_say_so(call, error, message):
    with pytest.raises(error, match=message):
        call(sg.sum((W @ x) ** 2))


def test_the_scalar_expansion_goes_to_sympy():
    from symgrad.scalar_expansion import expand

    M, v = sg.matrix("M", (2, 2)), sg.vector("v", 2)
    expanded = sg.to_sympy(expand(sg.sum(M @ v))[()])
    assert str(expanded) == "M_0_0*v_0 + M_0_1*v_1 + M_1_0*v_0 + M_1_1*v_1"
