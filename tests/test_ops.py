"""Table-driven op tests: every op in the table is checked three ways (numpy value against its
sympy counterpart, partials against sympy.diff, partials against central differences), so a
new op is tested with no new test code (pytensor's makeBroadcastTester, minitorch MathTest)."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import close

import symgrad as sg
from symgrad.ops import OPS

A, B = sg.variables("a b")
SYMBOLS = sp.symbols("a b", real=True)
# Where an op is defined; anything not listed takes any real number.
DOMAIN = {"log": (0.1, 3.0), "sqrt": (0.1, 3.0), "pow": (0.1, 3.0)}
KINK_MARGIN = 1e-3  # kinked ops are compared away from their kink at 0
KINKED = {"relu", "abs", "step", "sign"}


def operands(op):
    return (A,) if op.arity == 1 else (A, B)


def point(op):
    low, high = DOMAIN.get(op.name, (-3.0, 3.0))
    first = st.floats(low, high).filter(
        lambda v: op.name not in KINKED or abs(v) > KINK_MARGIN
    )
    second = st.floats(0.1, 3.0) | st.floats(-3.0, -0.1)  # away from 0: a/b
    return st.tuples(first, second).map(lambda p: dict(zip("ab", p)))


def sympy_value(expr, at):
    return float(expr.subs({s: at[s.name] for s in SYMBOLS}).evalf())


def central_difference(op, at, name, h=1e-6):
    node = op(*operands(op))
    up, down = dict(at), dict(at)
    up[name] += h
    down[name] -= h
    return (sg.evaluate(node, up) - sg.evaluate(node, down)) / (2 * h)


@pytest.mark.parametrize("op", OPS.values(), ids=OPS)
@settings(max_examples=25)
@given(data=st.data())
def test_value_matches_sympy(op, data):
    at = data.draw(point(op))
    expected = sympy_value(op.sympy(*SYMBOLS[: op.arity]), at)
    assert close(sg.evaluate(op(*operands(op)), at), expected, rtol=1e-9)


@pytest.mark.parametrize("op", OPS.values(), ids=OPS)
@settings(max_examples=25)
@given(data=st.data())
def test_partials_match_sympy_diff(op, data):
    at = data.draw(point(op))
    node = op(*operands(op))
    for variable, symbol in zip(operands(op), SYMBOLS):
        expected = sympy_value(sp.diff(op.sympy(*SYMBOLS[: op.arity]), symbol), at)
        assert close(sg.evaluate(node.grad(variable), at), expected, rtol=1e-9)


@pytest.mark.parametrize("op", OPS.values(), ids=OPS)
@settings(max_examples=25)
@given(data=st.data())
def test_partials_match_central_differences(op, data):
    at = data.draw(point(op))
    node = op(*operands(op))
    partials = sg.gradient(node, list(operands(op)))
    for variable, partial in zip(operands(op), partials):
        expected = central_difference(op, at, variable.name)
        assert close(sg.evaluate(partial, at), expected, rtol=1e-5, atol=1e-5)


def test_constant_exponent_gets_the_simple_rule():
    x = sg.var("x")
    assert str((x**3).grad(x)) == "3*x**2"
    assert str((x**0.5).grad(x)) == "0.5*x**(-0.5)"
    assert str((2**x).grad(x)) == "2**x*log(2)"


def test_rules_reuse_the_forward_node():
    x = sg.var("x")
    for f, expected in [
        (sg.exp(x), "exp(x)"),
        (sg.sigmoid(x), "sigmoid(x)*(1 - sigmoid(x))"),
        (sg.tanh(x), "1 - tanh(x)**2"),
        (sg.sqrt(x), "0.5/sqrt(x)"),
    ]:
        derivative = f.grad(x)
        assert str(derivative) == expected
        assert f in sg.toposort(derivative)  # the forward node itself, not a copy


@pytest.mark.parametrize(
    "f, at_zero", [(sg.relu, 0.0), (sg.abs, 0.0), (sg.step, 0.0), (sg.sign, 0.0)]
)
def test_kink_convention_derivative_is_zero_at_zero(f, at_zero):
    # relu'(0) = 0 and abs'(0) = 0, as micrograd and JAX do.
    x = sg.var("x")
    assert sg.evaluate(f(x).grad(x), {"x": 0.0}) == at_zero


def test_every_op_is_callable_by_its_name_and_prints():
    x, y = sg.variables("x y")
    for name, op in OPS.items():
        node = op(x) if op.arity == 1 else op(x, y)
        assert node.op is op and node.op.name == name
        assert str(node)


def test_sigmoid_is_stable_for_large_inputs():
    values = sg.evaluate(sg.sigmoid(sg.var("x")), {"x": np.array([-800.0, 0.0, 800.0])})
    assert values.tolist() == [0.0, 0.5, 1.0]
