"""Shaped variables and tensor ops: shapes inferred and checked at build, values by numpy, and
the matrix notation in text and LaTeX."""

import numpy as np
import pytest

import symgrad as sg
from symgrad.ir.shapes import ShapeError

# A declared vector or matrix is what its name means everywhere (`var("x")`, `parse("x")`),
# so this module's shaped W, A, x, y live only while its tests run, not beside other modules'.
W = A = x = y = sg.const(0)


@pytest.fixture(autouse=True, scope="module")
def _declared_for_this_module():
    global W, A, x, y
    W, A = sg.matrix("W", (3, 4)), sg.matrix("A", (4, 4))
    x, y = sg.vector("x", 4), sg.vector("y", 3)
    yield
    W = A = x = y = sg.const(0)


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


def test_a_name_is_the_shaped_variable_declared_under_it():
    assert sg.matrix("W", (3, 4)) is W
    assert sg.var("W") is W and sg.parse("2*W").shape == (3, 4)
    assert sg.var("W", shape=()).shape == ()  # asked for by its shape: another variable


def test_numpy_arrays_are_matrices_in_tensor_expressions():
    c = np.arange(12.0).reshape(3, 4)
    assert sg.const(c).shape == (3, 4)
    assert (W + c).shape == (3, 4)
    assert np.allclose(value(W + c), ENV["W"] + c)
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
        (lambda f: sg.jacobian([W @ x], [W]), ShapeError, "is of a vector by a vector"),
        (lambda f: sg.forward_sweep(f, W), ShapeError, "forward mode takes scalar graphs"),
    ],
)
def test_scalar_only_tools_say_so(call, error, message):
    with pytest.raises(error, match=message):
        call(sg.sum((W @ x) ** 2))


def test_the_scalar_expansion_goes_to_sympy():
    from symgrad.verify.scalar_expansion import expand

    M, v = sg.matrix("M", (2, 2)), sg.vector("v", 2)
    expanded = sg.to_sympy(expand(sg.sum(M @ v))[()])
    assert str(expanded) == "M_0_0*v_0 + M_0_1*v_1 + M_1_0*v_0 + M_1_1*v_1"


@pytest.mark.parametrize(
    "reduce, value, derivative",
    [(sg.sum, 0.25, -3.0), (sg.mean, 0.25 / 3, -1.0), (sg.norm, 0.5, -3.0)],
)
def test_a_data_array_in_a_scalar_formula_is_reduced(reduce, value, derivative):
    w = sg.var("w")
    data, target = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.5])
    f = reduce((w * data - target) ** 2) if reduce is not sg.norm else reduce(w * data - target)
    assert f.shape == () and (w * data).shape == (3,)
    assert sg.evaluate(f, {"w": 2.0}) == pytest.approx(value)
    assert sg.evaluate(f.grad(w), {"w": 2.0}) == pytest.approx(derivative)
    assert sg.evaluate(sg.gradient(f, w), {"w": 2.0}) == pytest.approx(derivative)


def test_an_elementwise_formula_of_a_data_array_has_elementwise_derivatives():
    w, data = sg.var("w"), np.array([[1.0, 2.0], [3.0, 4.0]])
    f = sg.sin(w * data)
    assert f.shape == (2, 2)
    np.testing.assert_allclose(sg.evaluate(f.grad(w), {"w": 0.5}), data * np.cos(0.5 * data))
    np.testing.assert_allclose(sg.evaluate(sg.gradient(f, w), {"w": 0.5}),
                               data * np.cos(0.5 * data))
    with pytest.raises(ShapeError, match="reduce it first"):
        sg.gradient(sg.sum(data @ sg.vector("q", 2)) * f, sg.vector("q", 2))


def test_text_names_the_vector_declared_under_its_name():
    v = sg.vector("v", 3)
    f = sg.sum(sg.parse("sin(v)*2"))
    point = np.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(sg.evaluate(f.grad(v), {"v": point}), 2 * np.cos(point))
    assert sg.var("v") is v
    assert sg.parse("2*k", shapes={"k": (2, "n")}).shape == (2, "n")


def test_two_variables_under_one_name_are_refused_where_they_would_mislead():
    scalar, vec = sg.var("u", shape=()), sg.vector("u", 2)
    clash = r"variable 'u' appears with shapes \(\) and \(2,\)"
    with pytest.raises(sg.NameClashError, match=clash):
        sg.evaluate(scalar * sg.sum(vec), {"u": 1.0})
    with pytest.raises(sg.NameClashError, match=r"'u' appears with shapes \(2,\) and \(\)"):
        sg.sum(sg.sin(scalar) * 2).grad(vec)  # d/du of a graph holding the other u: not 0
    with pytest.raises(sg.NameClashError, match=r"'u' appears with shapes \(\) and \(2,\)"):
        sg.gradient(sg.sum(vec) * 2, scalar)
    with pytest.raises(sg.NameClashError, match=r"'u' is declared with shapes \(2,\) and \(3,\)"):
        also = sg.vector("u", 3)
        sg.parse("u + 1")
    del also


def test_a_reduction_is_one_op_bound_to_its_axes():
    """sum over an axis is the row `sum` with an argument: one object per (name, arg), named
    by (name, arg) in pickles and compiled code, printed as before."""
    import pickle

    from symgrad.ir.op import op_named
    from symgrad.ops.tensor import SUM

    by_rows, by_columns, total = sg.sum(W, axis=0), sg.sum(W, axis=1), sg.sum(W)
    ops = [t.op for t in (by_rows, by_columns, total)]
    assert [op.name for op in ops] == ["sum", "sum", "sum"]
    assert [op.arg for op in ops] == [((0,), False), ((1,), False), (None, False)]
    assert ops[0] is SUM.bound(((0,), False)) is op_named("sum", ((0,), False))
    assert ops[0] is not ops[1] and ops[0] != ops[1]
    assert [str(t) for t in (by_rows, by_columns, total)] == [
        "sum(W, axis=0)", "sum(W, axis=1)", "sum(W)"]
    assert pickle.loads(pickle.dumps(ops[1])) is ops[1]
    assert pickle.loads(pickle.dumps(by_columns)) is by_columns
    both = sg.lambdify([W], [by_rows, by_columns])
    rows, columns = pickle.loads(pickle.dumps(both))(ENV["W"])
    assert np.allclose(rows, ENV["W"].sum(axis=0)) and np.allclose(columns, ENV["W"].sum(axis=1))
    assert "op_named(\"sum\", ((1,), False))" in sg.codegen([by_rows, by_columns], args=[W])


def test_reductions_of_a_constant_fold_by_their_own_axes():
    c = sg.const(np.arange(6.0).reshape(2, 3))
    assert sg.sum(c, axis=0).value.tolist() == [3.0, 5.0, 7.0]
    assert sg.sum(c, axis=1).value.tolist() == [3.0, 12.0]
    assert sg.mean(c, axis=1).value.tolist() == [1.0, 4.0]


def test_dot_names_the_axes_of_a_reduction():
    source = sg.to_dot(sg.sum(sg.softmax(W, axis=0) * W, axis=1)).source
    assert '"{ softmax(·, axis=0) | (3, 4) }"' in source
    assert '"{ sum(·, axis=1) | (3,) }"' in source
