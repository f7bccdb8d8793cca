"""grad (forward mode, memoized) and gradient (reverse mode), jacobian and hessian: values
against finite differences and sympy, sizes against the cheap gradient principle."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from strategies import VARIABLES, X, Y, close, expressions, points

import symgrad as sg


def rosenbrock(n):
    xs = [sg.var(f"x{i}") for i in range(n)]
    f = 0
    for i in range(n - 1):
        f = f + 100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2
    return f, xs


def central_difference(f, at, name, h=1e-6):
    up, down = dict(at), dict(at)
    up[name] += h
    down[name] -= h
    return (sg.evaluate(f, up) - sg.evaluate(f, down)) / (2 * h)


@given(expressions(), points())
def test_grad_matches_central_differences(f, at):
    for variable in VARIABLES:
        expected = central_difference(f, at, variable.name)
        assert close(sg.evaluate(f.grad(variable), at), expected, rtol=1e-4, atol=1e-4)


@given(expressions(), points())
def test_gradient_equals_grad(f, at):
    partials = sg.gradient(f, list(VARIABLES))
    for variable, partial in zip(VARIABLES, partials):
        assert close(sg.evaluate(partial, at), sg.evaluate(f.grad(variable), at))


def test_grad_matches_sympy_diff():
    x, y = X, Y
    f = sg.exp(x * y) / (1 + x**2) + sg.log(sg.sqrt(y * y + 1)) * sg.sin(x)
    sx, sy = sp.symbols("x y", real=True)
    g = sp.exp(sx * sy) / (1 + sx**2) + sp.log(sp.sqrt(sy**2 + 1)) * sp.sin(sx)
    at = {"x": 0.7, "y": -1.3}
    for variable, symbol in [(x, sx), (y, sy)]:
        expected = float(sp.diff(g, symbol).subs({sx: 0.7, sy: -1.3}))
        assert sg.evaluate(f.grad(variable), at) == pytest.approx(expected, rel=1e-12)


def test_grad_returns_a_graph_that_can_be_differentiated_again():
    x = X
    f = x**3 * sg.sin(x)
    second = f.grad(x).grad(x)
    assert isinstance(second, sg.Tensor)
    at = 0.4
    expected = 6 * at * np.sin(at) + 6 * at**2 * np.cos(at) - at**3 * np.sin(at)
    assert sg.evaluate(second, {"x": at}) == pytest.approx(expected, rel=1e-12)
    assert str((x * x).grad(x).grad(x)) == "2"


def test_constant_and_unrelated_derivatives_are_zero():
    x, y = X, Y
    assert str(sg.sin(y).grad(x)) == "0"
    assert sg.gradient(sg.sin(y), [x, y])[0] is sg.const(0)
    assert sg.gradient(sg.const(3), [x]) == [sg.const(0)]


def test_derivative_with_respect_to_an_inner_node_treats_it_as_independent():
    # As in the seed: d(self)/d(wrt) is 1 when self is wrt, and wrt's operands are not entered.
    x = X
    inner = x * x
    assert str((inner + x).grad(inner)) == "1"
    assert str(sg.gradient(inner * 3 + x, [inner])[0]) == "3"


def test_memoization_keeps_a_60_step_chain_linear():
    # x -> x*x + x, 60 times: 2^60 paths through the DAG, but each node is derived once.
    x = X
    t = x
    for _ in range(60):
        t = t * t + t
    forward, reverse = t.grad(x), sg.gradient(t, [x])[0]
    assert sg.count_ops(t) == 120
    assert sg.count_ops(forward) <= 5 * 120
    assert sg.count_ops(reverse) <= 5 * 120
    small = {"x": 1e-30}  # stays finite: t = x + O(x^2)
    assert sg.evaluate(forward, small) == pytest.approx(1.0)
    assert sg.evaluate(reverse, small) == pytest.approx(1.0)


def test_depth_100000_differentiates_without_recursion_error(sin_chain):
    x, t = sin_chain
    forward, reverse = t.grad(x), sg.gradient(t, [x])[0]
    # d/dx sin(sin(...sin(x))) is the product of cos over the chain's values.
    values, expected = 0.3, 1.0
    for _ in range(100_000):
        expected *= np.cos(values)
        values = np.sin(values)
    at = {"x": 0.3}
    assert sg.evaluate(t, at) == pytest.approx(values, rel=1e-12)
    assert sg.evaluate(forward, at) == pytest.approx(expected, rel=1e-9)
    assert sg.evaluate(reverse, at) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("n", [10, 1000, 10_000])
def test_rosenbrock_gradient_costs_at_most_twice_the_function(n):
    f, xs = rosenbrock(n)
    partials = sg.gradient(f, xs)
    assert sg.count_ops(partials) <= 2 * sg.count_ops(f)
    if n == 10:
        at = {v.name: 0.1 * i for i, v in enumerate(xs)}
        for v, p in zip(xs, partials):
            expected = central_difference(f, at, v.name)
            assert sg.evaluate(p, at) == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_jacobian_rows_are_outputs():
    x, y = X, Y
    rows = sg.jacobian([x * y, sg.sin(x) + y], [x, y])
    assert [[str(p) for p in row] for row in rows] == [["y", "x"], ["cos(x)", "1"]]


def test_hessian_is_symmetric_and_right():
    x, y = X, Y
    f = x**2 * y + sg.exp(x * y)
    h = sg.hessian(f, [x, y])
    at = {"x": 0.5, "y": -0.25}
    values = np.array([[sg.evaluate(p, at) for p in row] for row in h])
    e = np.exp(0.5 * -0.25)
    expected = [[2 * -0.25 + 0.25**2 * e, 2 * 0.5 + e * (1 + 0.5 * -0.25)],
                [2 * 0.5 + e * (1 + 0.5 * -0.25), 0.5**2 * e]]
    assert values == pytest.approx(np.array(expected), rel=1e-12)


def test_bad_wrt_says_what_is_wrong():
    with pytest.raises(TypeError, match="constant"):
        X.grad(sg.const(1))
    with pytest.raises(TypeError, match="with respect to variables, got 3"):
        sg.gradient(X, [3])


def test_steps_record_every_chain_rule_application():
    x, y, b = sg.variables("x y b")
    steps = []
    adjoints = sg.reverse_sweep(x * y + b, [x, y, b], record=steps)
    assert [(str(s.node), str(s.operand), str(s.contribution)) for s in steps] == [
        ("b + x*y", "x*y", "1"),
        ("b + x*y", "b", "1"),
        ("x*y", "x", "y"),
        ("x*y", "y", "x"),
    ]
    assert str(adjoints[x]) == "y"


def _at(values, **point):
    with np.errstate(invalid="ignore", divide="ignore"):  # the untaken branches' NaN
        return [sg.evaluate(v, point) for v in values]


def test_where_masks_a_nan_node_shared_by_several_conditions():
    # the adjoints of sqrt(x) from two conditions meet in a sum: masked by "either holds",
    # else 0 + 0 met sqrt's NaN slope at x < 0
    x = X
    f = sg.where(x > 0, sg.sqrt(x), 0) + sg.where(x > 1, sg.sqrt(x), 0)
    three = f + sg.where(x > 2, sg.sqrt(x) * 3, 0)
    for g in (f, three):
        assert _at([sg.gradient(g, [x])[0], g.grad(x)], x=-1.0) == [0.0, 0.0]
    assert _at([sg.gradient(f, x)], x=4.0) == [0.5]
    assert _at([sg.gradient(three, x)], x=1.5) == pytest.approx([1 / np.sqrt(1.5)])
    # a chain below the shared node, and the condition on one side only
    inner = sg.sqrt(sg.sqrt(x))
    g = sg.where(x > 0, inner, 0) + sg.where(x > 1, inner * 2, 0)
    assert _at([sg.gradient(g, x)], x=-1.0) == [0.0]
    assert _at([sg.gradient(g, x)], x=16.0) == pytest.approx([3 * 0.25 * 16**-0.75])


def test_where_masks_a_nan_slope_through_a_negation():
    # sub's and neg's partial -1 keep the mask outermost: -select_zero(c, 1) * NaN was NaN
    x = X
    for f in (sg.where(x > 0, 1 - sg.sqrt(x), 0), sg.where(x > 0, -sg.sqrt(x), 0)):
        assert _at([sg.gradient(f, x), f.grad(x)], x=-1.0) == [0.0, 0.0]


def test_a_comparison_is_a_strong_zero_against_an_infinite_adjoint():
    # where's condition gets the local derivative 0: nothing, not inf * 0 = NaN
    x = X
    f = sg.where(x >= 0, x, x) / 0.0
    assert _at([sg.gradient(f, x), f.grad(x)], x=0.0) == [np.inf, np.inf]


def _local_derivatives(op):
    """op's partials at variables, and at a constant second operand (pow's exponent)."""
    x, y = sg.variables("x y")
    operand_sets = [(x,)] if op.arity == 1 else [(x, y), (x, sg.const(3))]
    for operands in operand_sets:
        node = op(*operands)
        if node.op is op:  # (not folded away)
            yield from op.partials(*operands, *([None] if op.arity == 1 else []), node)


@pytest.mark.parametrize("op", [op for op in sg.OPS.values() if op.pullback is None],
                         ids=lambda op: op.name)
def test_every_local_derivative_is_a_formula_or_a_typed_mark(op):
    from symgrad.ir.sentinels import NoDerivative, Zero

    for local in _local_derivatives(op):
        assert isinstance(local, sg.Tensor | int | float | Zero | NoDerivative), (op.name, local)


def test_no_derivative_and_zero_are_marks_not_numbers():
    from symgrad.ir.sentinels import NO_DERIVATIVE, ZERO, NoDerivative, Zero
    from symgrad.ops import scalar, tensor

    x, y = sg.variables("x y")
    assert scalar.pow.partials(x, sg.const(3), x**3)[1] is NO_DERIVATIVE is NoDerivative()
    assert scalar.gt.partials(x, y, x > y) == (ZERO, ZERO)
    assert scalar.step.partials(x, None, scalar.step(x)) == (ZERO,)
    # an operand that gives only its shape: a zero adjoint of that shape
    v, w = sg.vector("v", 3), sg.vector("w", 3)
    node = tensor.broadcast_like(sg.const(1.0), w)
    assert tensor.broadcast_like.pullback(sg.const(1.0), w, node, v)[1] == Zero((3,))
    f = sg.sum(tensor.broadcast_like(x, w) * v)
    at = {"x": 2.0, "v": np.array([1.0, 2.0, 4.0]), "w": np.array([5.0, 6.0, 7.0])}
    assert np.array_equal(sg.evaluate(sg.gradient(f, w), at), np.zeros(3))
    assert float(sg.evaluate(sg.gradient(f, x), at)) == 7.0


def test_differentiating_through_an_operand_with_no_derivative_names_it():
    from symgrad.ir.op import Op, registered
    from symgrad.ir.sentinels import NO_DERIVATIVE, NoDerivativeError

    rounded = Op("rounded_x", 1, "np.round(a)", sp.floor, lambda a, b, out: (NO_DERIVATIVE,))
    x = sg.var("x")
    with registered(rounded):
        f = rounded(x) + x
        with pytest.raises(NoDerivativeError, match="rounded_x has no derivative in operand 0"):
            sg.gradient(f, x)
        with pytest.raises(NoDerivativeError, match="rounded_x has no derivative in operand 0"):
            f.grad(x)
        assert str(sg.gradient(rounded(sg.var("y")) * x, x)) == "rounded_x(y)"  # not through it
