"""Gradients of tensor expressions: the matrix formulas people derive by hand, each checked
against the same function written out in scalars (symgrad's scalar engine) and against central
differences, at random sizes and points."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgrad as sg
from symgrad.ir.fold import apply
from symgrad.ir.shapes import ShapeError
from symgrad.ops.tensor import eye_like, transpose, transpose_op, unbroadcast
from symgrad.verify.matrix_check import central_differences, check_tensor

SEEDS = range(3)


def least_squares():
    W, x, y = sg.matrix("W", ("m", "n")), sg.vector("x", "n"), sg.vector("y", "m")
    return sg.sum((W @ x - y) ** 2), [W, x, y]


def softmax_cross_entropy():
    # -y.T log softmax(W x) for a one-hot y, written as logsumexp(W x) - y.T W x
    W, x, y = sg.matrix("W", ("m", "n")), sg.vector("x", "n"), sg.vector("y", "m")
    return sg.logsumexp(W @ x) - y @ (W @ x), [W, x]


def quadratic_form():
    A, x = sg.matrix("A", ("n", "n")), sg.vector("x", "n")
    return x @ A @ x, [A, x]


def logistic_regression():
    X, t, w = sg.matrix("X", ("N", "d")), sg.vector("t", "N"), sg.vector("w", "d")
    b = sg.var("b")
    return sg.mean(sg.log(1 + sg.exp(-t * (X @ w + b)))), [w, b]


def two_layer_mlp():
    X, Y = sg.matrix("X", ("N", "d")), sg.matrix("Y", ("N", "k"))
    W1, b1 = sg.matrix("W1", ("d", "h")), sg.vector("b1", "h")
    W2, b2 = sg.matrix("W2", ("h", "k")), sg.vector("b2", "k")
    hidden = sg.tanh(X @ W1 + b1)
    return sg.mean((hidden @ W2 + b2 - Y) ** 2), [W1, b1, W2, b2]


def everything_else():
    A, W = sg.matrix("A", ("n", "n")), sg.matrix("W", ("m", "n"))
    x, y = sg.vector("x", "n"), sg.vector("y", "m")
    f = (sg.trace(A @ A.T) + sg.norm(W) + sg.sum(sg.outer(y, x) * W)
         + sg.sum(sg.softmax(W, axis=0) * W) + sg.sum(sg.logsumexp(W, axis=0) * x)
         + sg.mean(W, axis=1) @ y + sg.sum(sg.sum(W, axis=0, keepdims=True) * W)
         + sg.sum(sg.sigmoid(W) * sg.relu(W.T @ y)))
    return f, [A, W, x, y]


CASES = [least_squares, softmax_cross_entropy, quadratic_form, logistic_regression,
         two_layer_mlp, everything_else]


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
@pytest.mark.parametrize("seed", SEEDS)
def test_gradient_equals_scalar_expansion_and_differences(case, seed):
    f, wrt = case()
    results = check_tensor(f, wrt, samples=1, seed=seed)
    assert all(results), "\n".join(map(str, results))
    for w, g in zip(wrt, sg.gradient(f, wrt), strict=True):
        assert g.shape == w.shape


def test_check_catches_a_wrong_adjoint_rule():
    # the checker is not vacuous: an outer product whose pullback doubles is caught
    from symgrad.ops import tensor as tensor_ops

    u, v, W = sg.vector("u", 2), sg.vector("v", 3), sg.matrix("W", (2, 3))
    f = sg.sum(sg.outer(u, v) * W)
    assert check_tensor(f, [u], samples=1)[0]
    original = tensor_ops.outer_op.pullback
    object.__setattr__(tensor_ops.outer_op, "pullback",
                       lambda a, b, out, g: original(a, b, out, 2 * g))
    try:
        result = check_tensor(f, [u], samples=1)[0]
    finally:
        object.__setattr__(tensor_ops.outer_op, "pullback", original)
    assert not result
    assert "DIFFER" in str(result)


@pytest.mark.parametrize(
    "case, expected",
    [
        (least_squares, ["2*(W@x - y)@x.T", "W.T@(2*(W@x - y))", "-2*(W@x - y)"]),
        (softmax_cross_entropy, ["(softmax(W@x) - y)@x.T", "W.T@(softmax(W@x) - y)"]),
    ],
)
def test_gradients_print_as_matrix_formulas(case, expected):
    f, wrt = case()
    assert [str(g) for g in sg.gradient(f, wrt)] == expected


def test_grad_of_a_scalar_has_the_variables_shape():
    W = sg.matrix("W", (2, 3))
    g = sg.sum(W).grad(W)
    assert g.shape == (2, 3)
    assert np.array_equal(sg.evaluate(g, {"W": np.zeros((2, 3))}), np.ones((2, 3)))
    assert str(g) == "ones_like(W)"


def test_broadcast_operands_get_reduced_adjoints():
    X, b, c = sg.matrix("X", (5, 3)), sg.vector("b", 3), sg.matrix("c", (5, 1))
    s = sg.var("s")
    f = sg.sum(sg.sin(X + b) * c * s)
    gb, gc, gs = sg.gradient(f, [b, c, s])
    assert (gb.shape, gc.shape, gs.shape) == ((3,), (5, 1), ())
    assert str(gb) == "sum(s*c*cos(X + b), axis=0)"
    env = {"X": np.random.default_rng(1).normal(size=(5, 3)), "b": np.arange(3.0),
           "c": np.arange(5.0).reshape(5, 1), "s": 0.5}
    for w, g in zip([b, c], [gb, gc], strict=True):
        assert np.allclose(sg.evaluate(g, env), central_differences(f, w, env), atol=1e-6)


def test_unbroadcast_sums_over_repeated_axes():
    G, X = sg.matrix("G", (5, 3)), sg.matrix("X", (5, 3))
    b, c, s = sg.vector("b", 3), sg.matrix("c", (5, 1)), sg.var("s")
    assert str(unbroadcast(G, b, X + b)) == "sum(G, axis=0)"
    assert str(unbroadcast(G, c, X + c)) == "sum(G, axis=1, keepdims=True)"
    assert str(unbroadcast(G, s, X + s)) == "sum(G)"
    assert unbroadcast(G, X, X + s) is G
    # a scalar adjoint of a broadcast counts every copy: d sum(X + s)/ds = 15
    assert sg.evaluate(unbroadcast(sg.const(1), s, X + s), {"X": np.zeros((5, 3)), "s": 0}) == 15


def test_gradient_of_a_non_scalar_is_an_error():
    W = sg.matrix("W", (2, 3))
    with pytest.raises(ShapeError, match=r"the expression has shape \(2, 3\): reduce it"):
        (W * W).grad(W)


def test_scalar_graphs_still_use_forward_mode():
    x, y = sg.variables("x y")
    assert str((x * y + x).grad(x)) == "y + 1"


@pytest.mark.parametrize(
    "case, expected",
    [
        (least_squares, ["2*(W@x - y)@x.T", "2*W.T@(W@x - y)", "-2*(W@x - y)"]),
        (quadratic_form, ["x@x.T", "(A + A.T)@x"]),
        (softmax_cross_entropy, ["(softmax(W@x) - y)@x.T", "W.T@(softmax(W@x) - y)"]),
    ],
)
def test_simplified_gradients_read_as_by_hand(case, expected):
    f, wrt = case()
    simplified = sg.simplify(sg.gradient(f, wrt))
    assert [str(g) for g in simplified] == expected
    assert sg.latex(simplified[1]) in ("2 W^{\\top} (W x - y)", "(A + A^{\\top}) x",
                                        "W^{\\top} (\\operatorname{softmax}\\left(W x\\right) - y)")


def test_matrix_identities_keep_values():
    A, B, C = sg.matrix("A", (2, 3)), sg.matrix("B", (3, 4)), sg.matrix("C", (4, 4))
    x = sg.vector("x", 4)
    rng = np.random.default_rng(3)
    env = {"A": rng.normal(size=(2, 3)), "B": rng.normal(size=(3, 4)),
           "C": rng.normal(size=(4, 4)), "x": rng.normal(size=4)}
    for before, text in [((A @ B).T, "B.T@A.T"), (x @ C + C @ x, "(C + C.T)@x"),
                         (C @ (3 * x), "3*C@x"), (sg.outer(x, x) + sg.outer(x, x), "2*x@x.T")]:
        after = sg.simplify(before)
        assert str(after) == text
        assert np.allclose(sg.evaluate(after, env), sg.evaluate(before, env))


# --- random tensor expressions (hypothesis): every gradient equals the scalar expansion's ----

POOL = {"A": (3, 3), "B": (3, 2), "x": (3,), "y": (2,), "s": ()}
UNARY = [sg.sin, sg.tanh, sg.sigmoid, lambda t: sg.log(t * t + 1), lambda t: t.T,
         lambda t: sg.softmax(t) if t.shape else t, lambda t: sg.logsumexp(t) if t.shape else t,
         lambda t: sg.sum(t, axis=0) if t.shape else t, lambda t: sg.mean(t)]


def _combine(a, b, choice):
    """A shape-valid binary node of a and b, or None."""
    if choice == 0 and len(a.shape) >= 1 and len(b.shape) >= 1 and a.shape[-1] == b.shape[0]:
        return a @ b
    if choice == 1 and a.ndim == 1 and b.ndim == 1:
        return sg.outer(a, b)
    try:
        return [a + b, a - b, a * b][choice % 3]
    except ShapeError:
        return None


@st.composite
def tensor_expressions(draw):
    nodes = [sg.matrix(n, s) if len(s) == 2 else sg.vector(n, s[0]) if s else sg.var(n)
             for n, s in POOL.items()]
    for _ in range(draw(st.integers(2, 7))):
        if draw(st.booleans()):
            node = draw(st.sampled_from(UNARY))(draw(st.sampled_from(nodes)))
        else:
            node = _combine(draw(st.sampled_from(nodes)), draw(st.sampled_from(nodes)),
                            draw(st.integers(0, 4)))
        if node is not None:
            nodes.append(node)
    return sg.sum(nodes[-1])


@settings(max_examples=40, deadline=None)
@given(f=tensor_expressions(), seed=st.integers(0, 100))
def test_random_tensor_expressions_match_the_scalar_expansion(f, seed):
    wrt = sg.free_variables(f)
    results = check_tensor(f, wrt, samples=1, seed=seed)
    assert all(results), f"{f}\n" + "\n".join(map(str, results))


@given(f=tensor_expressions(), seed=st.integers(0, 100))
def test_simplify_keeps_the_shape_and_value_of_random_tensor_gradients(f, seed):
    rng = np.random.default_rng(seed)
    env = {name: rng.uniform(-2, 2, shape) for name, shape in POOL.items()}
    for t in [f, *(f.grad(w) for w in sg.free_variables(f))]:
        simplified = sg.simplify(t)
        with np.errstate(all="ignore"):
            want, got = np.asarray(sg.evaluate(t, env)), np.asarray(sg.evaluate(simplified, env))
        assert got.shape == want.shape, (str(t), str(simplified))
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-9, atol=1e-12,
                                   err_msg=f"{t}\n{simplified}")


def test_terms_of_full_shape_that_cancel_leave_the_rest_broadcast():
    # A - A - s was -s, a scalar: its sum was -s where the matrix's is -9*s
    A, B, s = sg.matrix("A", (3, 3)), sg.matrix("B", (3, 2)), sg.var("s")
    assert str(sg.simplify(A - A - s)) == "-s*ones_like(A)"
    assert sg.evaluate(sg.simplify(sg.sum(A - A - s).grad(s)), {"A": np.ones((3, 3))}) == -9
    assert str(sg.simplify(B - B)) == "zeros_like(B)"  # it stayed B - B
    assert str(sg.simplify(A - A + A)) == "A"
    assert str(B.T - B.T) == "B.T - B.T"  # a transpose starts as its operand: no parentheses


def test_zeros_pass_through_linear_ops_and_a_broadcast_names_a_variable_of_its_shape():
    A, B, y = sg.matrix("A", (3, 3)), sg.matrix("B", (3, 2)), sg.vector("y", 2)
    assert str(sg.simplify((B - B) @ y)) == "zeros_like(B@y)"
    assert sg.simplify(sg.sum((B - B) @ y)).number == 0
    assert str(sg.simplify((A - A) * A)) == "zeros_like(A)"
    assert str(sg.simplify(sg.sum((B - B) @ sg.sin(sg.sum(B, axis=0))).grad(B))) == \
        "zeros_like(B)"
    assert str(sg.simplify(sg.sum(A @ A).grad(A))) == "ones_like(A)@A.T + A.T@ones_like(A)"


def test_a_transpose_rebuilt_by_the_simplifier_folds_twice_transposed():
    # simplify rebuilds (A.T@I).T through apply: A.T.T came out before, unfolded
    A = sg.matrix("A", (3, 3))
    assert sg.simplify(transpose(A.T @ eye_like(A))) is A
    assert apply(transpose_op, A.T) is A


def test_where_on_a_vector_masks_the_nan_of_the_untaken_branch():
    # the tensor sweep keeps where's mask outermost, as the scalar sweep does: was [nan, 0.25]
    v = sg.vector("v", 2)
    g = sg.gradient(sg.sum(sg.where(v > 0, sg.sqrt(v), 0)), v)
    with np.errstate(invalid="ignore"):
        assert sg.evaluate(g, {"v": np.array([-1.0, 4.0])}).tolist() == [0.0, 0.25]
    two = sg.where(v > 0, sg.sqrt(v), 0) + sg.where(v > 1, -sg.sqrt(v), 0)
    g = sg.gradient(sg.sum(two), v)
    with np.errstate(invalid="ignore"):
        assert sg.evaluate(g, {"v": np.array([-1.0, 0.25])}).tolist() == [0.0, 1.0]
