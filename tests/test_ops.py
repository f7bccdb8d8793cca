"""Table-driven op tests: every op in the table is checked three ways (numpy value against its
sympy counterpart, partials against sympy.diff, partials against central differences), so a
new op is tested with no new test code (pytensor's makeBroadcastTester, minitorch MathTest)."""

import functools

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import close, operand_points

import symgrad as sg
from symgrad.ir.op import OPS
from symgrad.ir.sentinels import NO_DERIVATIVE

A, B = sg.variables("a b")
SYMBOLS = sp.symbols("a b", real=True)


def operands(op):
    return (A,) if op.arity == 1 else (A, B)


def point(op):
    """A point of the op's domain, away from its kinks: both read from the op table."""
    return operand_points(op)


@functools.cache
def sympy_function(op, wrt=None):
    """The op's sympy form (or its sympy.diff by `wrt`), evaluated by mpmath at 53 bits: an
    oracle independent of numpy. Away from kinks a DiracDelta is 0, and so is the derivative
    sympy leaves unevaluated of a piecewise-constant floor or ceiling (Mod is written with
    floor first)."""
    expr = op.sympy(*SYMBOLS[: op.arity])
    if wrt is not None:
        expr = expr.replace(sp.Mod, lambda p, q: p - q * sp.floor(p / q))
        expr = sp.diff(expr, wrt).replace(sp.DiracDelta, lambda *args: sp.S.Zero)
        expr = expr.replace(lambda e: isinstance(e, sp.Derivative)
                            and e.expr.func in (sp.floor, sp.ceiling), lambda e: sp.S.Zero)
    return sp.lambdify(SYMBOLS, expr, "mpmath")


def sympy_value(op, at, wrt=None):
    return float(sympy_function(op, wrt)(at["a"], at.get("b", 0.0)))


def differentiable(op):
    """The operands the op has a derivative in (its partial is not NO_DERIVATIVE:
    polygamma's order, gammainc's a have none), with their sympy symbols; differentiating by
    another one is an error naming the op."""
    node = op(*operands(op))
    partials = op.partials(*node.children[:2], node)
    pairs = []
    for variable, symbol, partial in zip(operands(op), SYMBOLS, partials):
        if partial is NO_DERIVATIVE:
            with pytest.raises(ValueError, match=f"{op.name} has no derivative in operand"):
                node.grad(variable)
        else:
            pairs.append((variable, symbol))
    return pairs


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
    expected = sympy_value(op, at)
    assert close(sg.evaluate(op(*operands(op)), at), expected, rtol=1e-9)


@pytest.mark.parametrize("op", OPS.values(), ids=OPS)
@settings(max_examples=25)
@given(data=st.data())
def test_partials_match_sympy_diff(op, data):
    at = data.draw(point(op))
    node = op(*operands(op))
    for variable, symbol in differentiable(op):
        expected = sympy_value(op, at, symbol)
        assert close(sg.evaluate(node.grad(variable), at), expected, rtol=1e-9)


@pytest.mark.parametrize("op", OPS.values(), ids=OPS)
@settings(max_examples=25)
@given(data=st.data())
def test_partials_match_central_differences(op, data):
    at = data.draw(point(op))
    node = op(*operands(op))
    variables = [variable for variable, _ in differentiable(op)]
    partials = sg.gradient(node, variables)
    for variable, partial in zip(variables, partials):
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
        (sg.sqrt(x), "1/(2*sqrt(x))"),
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


# --- selection, ties, comparisons, log with a base ----------------------------------------


def test_where_gradient_is_finite_where_the_untaken_branch_is_nan():
    # JAX's trap: where(x > 0, sqrt(x), 0) has a NaN gradient at x < 0 there (0 * NaN).
    x = sg.var("x")
    f = sg.where(x > 0, sg.sqrt(x), 0)
    g = sg.where(x > 0, sg.log(x) * x, x**2)
    at = {"x": np.array([-2.0, -1.0, 0.0, 0.5, 4.0])}
    with np.errstate(all="ignore"):
        for derivative in (f.grad(x), sg.gradient(f, x)):
            assert sg.evaluate(derivative, at).tolist() == [0.0, 0.0, 0.0, 1 / np.sqrt(2), 0.25]
        for derivative in (g.grad(x), sg.gradient(g, x)):
            values = sg.evaluate(derivative, at)
            assert np.allclose(values, [-4.0, -2.0, 0.0, np.log(0.5) + 1, np.log(4) + 1])
        assert sg.evaluate(f, at).tolist() == [0.0, 0.0, 0.0, np.sqrt(0.5), 2.0]
        compiled = sg.lambdify([x], [f.grad(x), sg.gradient(g, x)])
        assert np.all(np.isfinite(compiled(at["x"])))


def test_where_gradient_is_finite_where_the_untaken_branch_is_infinite():
    x = sg.var("x")
    f = sg.where(sg.ne(x, 0), 1 / x, 0)  # 1/x and its slope are infinite at 0
    with np.errstate(all="ignore"):
        assert sg.evaluate([f, f.grad(x), sg.gradient(f, x)], {"x": 0.0}) == [0.0, 0.0, 0.0]
        assert sg.evaluate(f.grad(x), {"x": 2.0}) == -0.25


def test_where_selects_like_numpy_where():
    x, c = sg.variables("x c")
    f = sg.where(c, x, -x)
    values = {"c": np.array([0.0, 1.0, 2.0, -1.0, np.nan]), "x": 3.0}
    assert np.array_equal(sg.evaluate(f, values), np.where(values["c"], 3.0, -3.0), equal_nan=True)


def test_comparison_operators_give_zero_one_tensors_with_zero_derivative():
    x, y = sg.variables("x y")
    at = {"x": np.array([1.0, 2.0, 3.0]), "y": 2.0}
    for t, expected in [(x < y, [1, 0, 0]), (x <= y, [1, 1, 0]), (x > y, [0, 0, 1]),
                        (x >= y, [0, 1, 1]), (sg.eq(x, y), [0, 1, 0]), (sg.ne(x, y), [1, 0, 1])]:
        assert sg.evaluate(t, at).tolist() == expected
        assert str(t.grad(x)) == "0"
    assert str(x > 0) == "x > 0" and (x > 0).op is sg.OPS["gt"]


def test_max_and_min_split_the_derivative_at_a_tie():
    x, y = sg.variables("x y")
    for f in (sg.max(x, y), sg.min(x, y)):
        dx, dy = sg.gradient(f, [x, y])
        assert sg.evaluate([dx, dy], {"x": 1.0, "y": 1.0}) == [0.5, 0.5]
    assert sg.evaluate(sg.max(x, y).grad(x), {"x": 2.0, "y": 1.0}) == 1.0
    assert sg.evaluate(sg.min(x, y).grad(x), {"x": 2.0, "y": 1.0}) == 0.0
    assert sg.evaluate(sg.max(x, x).grad(x), {"x": 1.0}) == 1.0  # the halves add up


def test_log_with_a_base():
    x = sg.var("x")
    assert sg.log(x, 2) is sg.log2(x) and sg.log(x, 10) is sg.log10(x)
    assert sg.log(x, sg.E) is sg.log(x)
    assert str(sg.log(x, 3)) == "log(x)/log(3)"
    assert sg.evaluate(sg.log(x, 3), {"x": 81.0}) == pytest.approx(4.0)
    with pytest.raises(TypeError, match="takes 1 operand"):
        sg.exp(x, 2)


def test_gradient_of_one_variable_and_diff():
    x, y = sg.variables("x y")
    f = x**2 * y
    assert sg.gradient(f, x) is sg.gradient(f, [x])[0]
    assert sg.evaluate(sg.gradient(f, x), {"x": 3.0, "y": 2.0}) == 12.0
    assert sg.diff(f, y) is f.grad(y)


def test_binary_calls_print_both_operands():
    x, y = sg.variables("x y")
    assert str(sg.atan2(y, x)) == "atan2(y, x)"
    assert str(sg.logaddexp(x, 2 * y)) == "logaddexp(x, 2*y)"


@pytest.mark.parametrize("op", OPS.values(), ids=OPS)
def test_samples_lie_in_the_domain_and_off_the_kinks(op):
    columns = op.sample(np.random.default_rng(1), 50)
    assert all(len(column) == 50 for column in columns)
    values = sg.evaluate(op(*operands(op)), dict(zip("ab", columns)))
    assert np.all(np.isfinite(values))
    assert np.all(op.domain.admits(columns))
    assert all(np.all(np.abs(kink) > 1e-3) for kink in op.kinks_at(columns))


def test_a_domain_condition_reads_a_and_b_for_unary_and_binary_ops_alike():
    """`holds(a, b)` and `kinks(a, b)` take both operands whatever the arity (b is None for a
    unary op), so one condition serves both and sampling honours it."""
    from symgrad.ir.op import Domain, Op, Range

    seen = []

    def holds(a, b):
        seen.append(b is None)
        return np.abs(a) > 1 if b is None else a > b

    unary = Op("far_h", 1, "np.sign(a)", sp.sign, lambda a, b, out: (0,),
               domain=Domain((Range(-3, 3),), holds=holds), kinks=lambda a, b: (a - 2,))
    binary = Op("above_h", 2, "np.subtract(a, b)", lambda a, b: a - b,
                lambda a, b, out: (1, -1), domain=Domain(holds=holds))
    (a,) = unary.sample(np.random.default_rng(0), 40)
    assert len(a) == 40 and np.all(np.abs(a) > 1) and np.all(np.abs(a - 2) > 1e-3)
    first, second = binary.sample(np.random.default_rng(0), 40)
    assert len(first) == 40 and np.all(first > second)
    assert seen[0] is True and seen[-1] is False
    assert unary.domain.admits([np.array([0.5, 1.5])]).tolist() == [False, True]
    assert unary.kinks_at([np.array([2.5])]) == (pytest.approx(0.5),)
    assert unary.kinks_at([1.0]) == (-1.0,) and binary.kinks_at([1.0, 2.0]) == ()


@pytest.mark.parametrize("op", OPS.values(), ids=OPS)
def test_source_is_the_numpy_function(op):
    # numpy is compiled from the source codegen writes: the pasted helper computes the same
    from symgrad.backends.compile import helper_source
    from symgrad.ir.op import SOURCE_NAMESPACE

    namespace = dict(SOURCE_NAMESPACE)
    exec(helper_source(op), namespace)
    columns = op.sample(np.random.default_rng(2), 20)
    assert np.array_equal(namespace[op.name](*columns), op.numpy(*columns))


# --- exact constants ------------------------------------------------------------------------


def test_pi_and_e_are_exact_named_constants():
    x = sg.var("x")
    assert str(sg.pi) == "pi" and str(sg.E) == "e" and sg.pi is sg.PI
    assert sg.latex(2 * sg.pi * x) == r"2 \pi x"
    assert sg.evaluate(sg.pi, {}) == np.pi and sg.evaluate(sg.E, {}) == np.e
    assert sg.to_sympy(sg.sin(sg.pi * x)) == sp.sin(sp.pi * sp.Symbol("x"))
    assert sg.from_sympy(sp.pi) is sg.pi and sg.from_sympy(sp.E) is sg.E
    assert sg.parse("sin(pi*x) + e**x") is sg.sin(sg.pi * x) + sg.E**x
    assert str(2 * sg.pi) == "2*pi"  # never folded into 6.283185307179586
    assert sg.cos(sg.pi) is sg.const(-1)  # an integer result folds
    assert str((sg.E**x).grad(x)) == "e**x"  # log(e) is exactly 1
    assert str(sg.sin(sg.pi * x).grad(x)) == "pi*cos(pi*x)"


def test_rational_constants_stay_exact():
    x = sg.var("x")
    assert str(sg.sqrt(x).grad(x)) == "1/(2*sqrt(x))"
    half = sg.parse("x**(1/2)")
    assert str(half) == "x**(1/2)" and sg.parse(str(half)) is half
    assert str(half.grad(x)) == "1/2*x**(-1/2)"
    assert str(sg.parse("(2/3)*x")) == "2/3*x"
    assert str(sg.parse("1/2 + 1/3")) == "5/6"
    assert str(sg.parse("2**(1/2)")) == "2**(1/2)"  # not 1.4142135623730951
    assert sg.latex(sg.parse("x**(1/2)")) == r"x^{\frac{1}{2}}"
    assert sg.to_sympy(half) == sp.sqrt(sp.Symbol("x"))
    assert str(sg.from_sympy(sp.Rational(2, 3) * sp.Symbol("y"))) == "2*y/3"
    assert sg.evaluate(sg.parse("x**(1/2)"), {"x": 4.0}) == 2.0


def test_floats_typed_by_the_user_are_kept_as_given():
    x = sg.var("x")
    assert str(sg.parse("0.1*x")) == "0.1*x"
    assert str(0.5 * x) == "0.5*x"
    assert str(sg.parse("0.5*3")) == "1.5"  # float arithmetic folds, as Python's
    assert str((x**0.5).grad(x)) == "0.5*x**(-0.5)"
