"""Matrix formulas as text: `parse` and the CLI read `@`, `.T`, the reductions and shape
declarations; the text `str` prints parses back to the same graph, and for matrices it is
Python that numpy evaluates to the same value (`*` and `@` bind alike, so a product's
grouping is spelled out where it matters)."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg
from symgrad.cli import main
from symgrad.interop.parse import ParseError

SHAPES = {"A": (3, 3), "B": (3, 3), "x": (3,), "z": (3,), "t": ()}
RNG = np.random.default_rng(7)
VALUES = {name: RNG.uniform(-1, 1, shape) for name, shape in SHAPES.items()}


@pytest.fixture(scope="module")
def leaves():
    return {name: sg.parse(name, shapes=SHAPES) for name in SHAPES}


MATRIX_STEPS = ["matmul", "transpose", "add", "mul", "scale", "sin", "outer"]
VECTOR_STEPS = ["apply", "add", "mul", "scale", "tanh", "sum0", "softmax", "row"]


def build(tree, leaves):
    """The graph of a tree drawn by `trees`: ("M", ...) is a 3x3 matrix, ("v", ...) a vector."""
    kind, step, *operands = tree
    if step == "leaf":
        return leaves[operands[0]]
    args = [build(operand, leaves) for operand in operands]
    t = leaves["t"]
    table = {
        ("M", "matmul"): lambda a, b: a @ b, ("M", "transpose"): lambda a: a.T,
        ("M", "add"): lambda a, b: a + b, ("M", "mul"): lambda a, b: a * b,
        ("M", "scale"): lambda a: t * a, ("M", "sin"): sg.sin, ("M", "outer"): sg.outer,
        ("v", "apply"): lambda a, b: a @ b, ("v", "add"): lambda a, b: a + b,
        ("v", "mul"): lambda a, b: a * b, ("v", "scale"): lambda a: -t * a,
        ("v", "tanh"): sg.tanh, ("v", "sum0"): lambda a: sg.sum(a, axis=0),
        ("v", "softmax"): sg.softmax, ("v", "row"): lambda a, b: a @ b,
    }
    return table[kind, step](*args)


def trees(depth: int = 3):
    """Matrix-valued trees over A, B, x, z and t, every step's shapes fitting."""
    matrix_leaf = st.sampled_from(["A", "B"]).map(lambda n: ("M", "leaf", n))
    vector_leaf = st.sampled_from(["x", "z"]).map(lambda n: ("v", "leaf", n))

    def extend(children):
        matrices, vectors = children
        return (
            st.one_of(
                matrices,
                st.tuples(st.just("M"), st.sampled_from(["matmul", "add", "mul"]), matrices,
                          matrices),
                st.tuples(st.just("M"), st.sampled_from(["transpose", "scale", "sin"]),
                          matrices),
                st.tuples(st.just("M"), st.just("outer"), vectors, vectors),
            ),
            st.one_of(
                vectors,
                st.tuples(st.just("v"), st.just("apply"), matrices, vectors),
                st.tuples(st.just("v"), st.just("row"), vectors, matrices),
                st.tuples(st.just("v"), st.sampled_from(["add", "mul"]), vectors, vectors),
                st.tuples(st.just("v"), st.sampled_from(["scale", "tanh", "softmax"]), vectors),
                st.tuples(st.just("v"), st.just("sum0"), matrices),
            ),
        )

    level = (matrix_leaf, vector_leaf)
    for _ in range(depth):
        level = extend(level)
    return level


@given(trees()[0] | trees()[1])
def test_printed_text_parses_back_to_the_same_formula(leaves, tree):
    g = build(tree, leaves)
    read = sg.parse(str(g), shapes=SHAPES)
    # the same graph, up to where a scalar factor stands in a product (2*B*(A*B))
    np.testing.assert_allclose(sg.evaluate(read, VALUES), sg.evaluate(g, VALUES),
                               rtol=1e-12, atol=1e-12, err_msg=str(g))
    if "*" not in str(g):
        assert read is g


INTERNAL = re.compile(r"\b(select_zero|broadcast_to|broadcast_like|expand_dims|eye_like|vecmat|"
                      r"gt|eq)\(")
"""Op names a reader never writes: the building blocks of broadcasts, where and comparisons."""


@given(trees()[0] | trees()[1])
def test_gradients_print_readable_text_that_parses_back(leaves, tree):
    f = sg.sum(build(tree, leaves) ** 2)
    for wrt in (leaves["A"], leaves["x"], leaves["t"]):
        if wrt not in sg.free_variables(f):
            continue
        raw = sg.gradient(f, wrt)
        for d in (raw, sg.simplify(raw)):
            text = str(d)
            assert INTERNAL.search(text) is None, text
            read = sg.parse(text, shapes=SHAPES)
            assert read.shape == d.shape, text
            np.testing.assert_allclose(sg.evaluate(read, VALUES), sg.evaluate(raw, VALUES),
                                       rtol=1e-9, atol=1e-9, err_msg=text)


def matrix_trees():
    """Trees of matrices only, so numpy reads their text with 2-D arrays."""
    leaf = st.sampled_from(["A", "B"]).map(lambda n: ("M", "leaf", n))
    return st.recursive(leaf, lambda inner: st.one_of(
        st.tuples(st.just("M"), st.sampled_from(["matmul", "add", "mul"]), inner, inner),
        st.tuples(st.just("M"), st.sampled_from(["transpose", "scale", "sin"]), inner),
    ), max_leaves=8)


@given(matrix_trees())
def test_numpy_reads_the_printed_text_of_matrix_formulas(leaves, tree):
    g = build(tree, leaves)
    expected = sg.evaluate(g, VALUES)
    namespace = {**VALUES, "sin": np.sin, "cos": np.cos, "sum": np.sum, "trace": np.trace,
                 "ones_like": np.ones_like, "zeros_like": np.zeros_like}
    derivatives = [sg.simplify(sg.gradient(sg.sum(g * g), leaves["A"]))
                   ] if leaves["A"] in sg.free_variables(g) else []
    for formula, value in ((g, expected), *((d, None) for d in derivatives)):
        text = str(formula)
        np.testing.assert_allclose(eval(text, namespace),  # noqa: S307 (our own printed text)
                                   sg.evaluate(formula, VALUES) if value is None else value,
                                   rtol=1e-10, atol=1e-12, err_msg=text)


def test_a_product_keeps_its_grouping_against_an_elementwise_one():
    X, v = sg.parse("X", shapes={"X": (3, 3)}), sg.parse("v", shapes={"v": (3,)})
    w = sg.parse("w", shapes={"w": (3,)})
    assert str(v * (X @ w)) == "v*(X@w)"  # (v*X)@w is another formula
    assert str(sg.var("t") * (X @ w)) == "t*X@w"  # a scalar multiple groups either way
    assert sg.latex((X * X) @ X) == r"(X \odot X) X"
    assert sg.latex(X * (X @ X)) == r"X \odot X X"


@pytest.mark.parametrize("text, expected", [
    ("W.T@y", "W.T@y"),
    ("y@x.T", "y@x.T"),
    ("x.T@x", "x.T@x"),
    ("sum(W, axis=0)", "sum(W, axis=0)"),
    ("mean(W, axis=-1, keepdims=True)", "mean(W, axis=1, keepdims=True)"),
    ("softmax(y) + logsumexp(y)", "softmax(y) + logsumexp(y)"),
    ("trace(W.T@W) + norm(x)", "norm(x) + trace(W.T@W)"),
    ("-x.T@x", "(-x).T@x"),
])
def test_parse_reads_matrix_text(text, expected):
    shapes = {"W": (2, 3), "x": (3,), "y": (2,)}
    assert str(sg.parse(text, shapes=shapes)) == expected


@pytest.mark.parametrize("text, column, message", [
    ("W@y", 2, "shapes (2, 3) and (2,) do not align"),
    ("x.T@y.T", 4, "a row vector x.T stands on the right only of a column vector"),
    ("sum(W, axes=0)", 8, "sum takes axis, keepdims, not 'axes'"),
    ("sum(W, axis=0 + 1)", 15, "expected ',' or ')', got '+'"),
    ("sum(W, axis=x)", 13, "axis= takes an integer, True, False or None"),
    ("sum(W, axis=0, axis=1)", 16, "axis is given twice"),
    ("sum(axis=0)", 1, "sum takes 1 argument(s), got 0"),
])
def test_matrix_text_errors_point_at_the_spot(text, column, message):
    with pytest.raises(ParseError) as error:
        sg.parse(text, shapes={"W": (2, 3), "x": (3,), "y": (2,)})
    assert error.value.column == column
    assert message in error.value.message


def test_the_cli_reads_shape_declarations(capsys):
    code = main(["diff", "sum((W@x - y)**2)", "--matrix", "W:3,4", "--vector", "x:4",
                 "--vector", "y:3", "--wrt", "W", "--check"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == "df/dW = 2*(W@x - y)@x.T"
    assert "check against the scalar expansion: d/dW: agree" in out


@pytest.mark.parametrize("flags, message", [
    (["--matrix", "W:3"], "--matrix expects NAME:M,N with positive sizes, like W:3,4"),
    (["--vector", "x:0"], "--vector expects NAME:N with positive sizes, like x:4"),
    (["--matrix", "W:3,4", "--vector", "W:4"], "W is declared twice"),
    (["--matrix", "W:3,5", "--vector", "x:4"], "do not align (5 != 4)"),
])
def test_the_cli_refuses_bad_shape_declarations(capsys, flags, message):
    try:
        code = main(["diff", "sum((W@x)**2)", *flags])
    except SystemExit as stop:  # argparse's own errors leave through SystemExit
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_lambdify_takes_the_names_of_vectors_and_matrices():
    X, a = sg.parse("X", shapes={"X": (3, 2)}), sg.parse("a", shapes={"a": (2,)})
    g = sg.gradient(sg.sum((X @ a) ** 2), a)
    f = sg.lambdify(["X", "a"], [g])
    Xv, av = np.arange(6.0).reshape(3, 2), np.array([1.0, -1.0])
    (value,) = f(Xv, av)
    np.testing.assert_allclose(value, 2 * Xv.T @ (Xv @ av))


def test_a_deep_vector_formula_is_read_once_for_its_broadcast_axes():
    # printing and the matrix rules ask each elementwise node for its operands without new
    # leading axes: a deep recurrence walked anew for each node would take levels**2 steps
    from unittest import mock

    from symgrad.rewrite import matrix_simplify

    v, w = sg.vector("v", 3), sg.var("w")
    h = v
    for _ in range(400):
        h = sg.tanh(h) * w + v
    real = matrix_simplify._leading_axes_of
    with mock.patch.object(matrix_simplify, "_leading_axes_of", side_effect=real) as seen:
        text = str(h)
        simplified = sg.simplify(sg.sum(h).grad(w))
    assert seen.call_count < 100 * 400  # a few per node, not per node and level
    assert text.startswith("tanh(tanh(tanh(") and text.endswith("*w + v)*w + v")
    assert sg.count_ops(simplified) < 4200
