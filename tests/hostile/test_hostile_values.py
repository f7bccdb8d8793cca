"""Non-finite and huge constants follow IEEE/numpy semantics: no
infinite recursion in folding, no OverflowError, and evaluate/lambdify agree with numpy."""

import math
import operator
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg

INF, NAN = math.inf, math.nan


def _same(a, b) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def _value(t: sg.Tensor) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return sg.evaluate(t)


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda: sg.const(1e308) * 10 * 1e308, INF),
        (lambda: sg.const(INF) * 0.001 * INF, INF),
        (lambda: sg.parse("nan*(nan*nan)"), NAN),
        (lambda: sg.const(10**400) - 1, INF),
        (lambda: sg.const(-(10**400)) * 2, -INF),
        (lambda: sg.const(INF) * 0, NAN),  # IEEE, not the x*0 -> 0 rule
        (lambda: sg.const(1e-300) * (sg.const(1e300) * 1e10), INF),  # order kept
        (lambda: sg.parse("sin(99999999999999999999)"), math.sin(99999999999999999999)),
        (lambda: sg.parse("2**99999999999999999999"), INF),
        (lambda: sg.parse("2**-99999999999999999999"), 0.0),
    ],
)
def test_reported_constants_evaluate_as_ieee(build, expected):
    t = build()
    assert _same(float(_value(t)), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert _same(float(sg.lambdify([], t)()), expected)


def test_huge_integer_constants_in_graphs_with_variables():
    x = sg.var("x")
    big = 99999999999999999999
    f = sg.sin(x * big) + x**big
    point = {"x": 0.5}
    expected = math.sin(0.5 * float(big)) + 0.5 ** float(big)
    assert sg.evaluate(f, point) == expected
    assert float(sg.lambdify([x], f)(0.5)) == expected


def test_negative_zero_keeps_its_sign():
    assert math.copysign(1, sg.const(-0.0).number) == -1
    assert sg.const(-0.0) is not sg.const(0.0)
    assert sg.const(-0.0) is sg.const(-0.0)
    assert math.copysign(1, sg.evaluate(sg.const(-0.0))) == -1
    assert sg.evaluate(1 / sg.const(-0.0)) == -INF
    assert sg.const(-0) is sg.const(0)  # integers have no negative zero


EXTREMES = [0, 1, -1, 2, 0.5, -0.0, 1e-320, 1e-300, 1e300, 1e308, -1e308, 10**400, 10**20,
            99999999999999999999, INF, -INF, NAN, 3.5]
SCALAR = sg.ops.scalar
BINARY = [(SCALAR.add, operator.add), (SCALAR.sub, operator.sub), (SCALAR.mul, operator.mul),
          (SCALAR.div, np.divide), (SCALAR.pow, np.power)]
UNARY = [(sg.ops.scalar.neg, np.negative), (sg.exp, np.exp), (sg.sin, np.sin), (sg.log, np.log),
         (sg.sqrt, np.sqrt), (sg.tanh, np.tanh), (sg.abs, np.abs)]


# The reference model of constant folding, kept apart from fold.py: arithmetic between exact
# numbers (ints, fractions) is exact while the result is within a float's exact integers
# (README: exact numbers), and everything else is numpy float arithmetic, whose integral
# results come back as ints (`const(2.0) is const(2)`), as -0.0 keeps its sign.
EXACT = {
    operator.add: operator.add, operator.sub: operator.sub, operator.mul: operator.mul,
    np.negative: operator.neg, np.divide: lambda a, b: Fraction(a) / b,
    np.power: lambda a, b: Fraction(a) ** b if isinstance(b, int) and abs(b) <= 64 else None,
}


def _is_exact(value):
    return type(value) in (int, Fraction)


def _as_float(value):
    return sg.ir.graph.to_float(value) if _is_exact(value) else value


def _in_range(value):
    """An integer past the float range is the infinity it rounds to (README: numbers)."""
    return _as_float(value) if math.isinf(_as_float(value)) else value


def reference(function, *operands, folded=True):
    """function(*operands) as the model above computes it; a node left unfolded
    (`exp(1)/exp(1)`) is evaluated in floats, where log of it is 0.0 and its negation -0.0."""
    rule = EXACT.get(function)
    if rule is not None and folded and all(_is_exact(v) for v in operands):
        try:
            value = rule(*operands)
        except ZeroDivisionError:
            value = None
        # a zero takes the sign floats give it (-(0) is -0.0), as fold.py's exact rule leaves it
        if value and max(abs(value.numerator), value.denominator) < 2**53:
            return int(value) if value.denominator == 1 else Fraction(value)
    value = float(function(*[np.float64(_as_float(v)) for v in operands]))
    negative_zero = value == 0 and math.copysign(1, value) < 0
    if folded and value.is_integer() and abs(value) < 2**53 and not negative_zero:
        return int(value)
    return value


def identity(op, a, b):
    """The value of symgrad's identities with the number 0 and a formula t (README): 0*t is 0
    even where t is NaN, t + 0, 0 + t and t - 0 are t and 0 - t is -t, whatever the sign of
    a zero t; None where no identity applies (operations between numbers are IEEE's)."""
    (a, av), (b, bv) = a, b
    if a.is_const == b.is_const or op not in (SCALAR.add, SCALAR.sub, SCALAR.mul):
        return None
    if (a.number if a.is_const else b.number) != 0:
        return None
    if op is sg.ops.scalar.mul:
        return 0
    if b.is_const:
        return av
    return bv if op is sg.ops.scalar.add else reference(np.negative, bv, folded=False)


@st.composite
def constant_builds(draw):
    """A random build of constants and its value computed by the reference model."""
    pool = [(sg.const(v), _in_range(v)) for v in draw(
        st.lists(st.sampled_from(EXTREMES), min_size=1, max_size=4))]
    for _ in range(draw(st.integers(1, 12))):
        with np.errstate(all="ignore"):
            if draw(st.booleans()):
                op, function = draw(st.sampled_from(UNARY))
                a, av = draw(st.sampled_from(pool))
                node = op(a)
                pool.append((node, reference(function, av, folded=node.is_const)))
            else:
                op, function = draw(st.sampled_from(BINARY))
                (a, av), (b, bv) = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
                node = op(a, b)
                value = identity(op, (a, av), (b, bv))
                pool.append((node, reference(function, av, bv, folded=node.is_const)
                             if value is None else value))
    return pool[-1]


@given(constant_builds())
def test_random_constant_builds_agree_with_numpy(build):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t, expected = build
        value, expected = float(sg.evaluate(t)), _as_float(expected)
        # integer constants have no -0 (numpy's floats do): zeros compare without sign here
        assert value == expected or (math.isnan(value) and math.isnan(expected)), str(t)


def test_zero_times_a_formula_is_zero_even_where_the_formula_is_nan():
    # as sympy's 0*x: the formula's value is not computed when the product is built
    undefined = sg.log(sg.sin(sg.const(1e300)))  # sin(1e300) < 0: log of it is NaN
    assert math.isnan(sg.evaluate(undefined))
    assert sg.evaluate(0 * undefined) == 0 and sg.evaluate(undefined * 0) == 0
    assert math.isnan(sg.evaluate(sg.const(0) * float("nan")))  # between numbers: IEEE


def test_an_unfolded_zero_keeps_its_sign():
    # exp(1)/exp(1) stays a formula, so log of it evaluates to the float 0.0 and its negation
    # to -0.0: 1/-0.0 is -inf, as numpy has it; so does the folded -0 (0 and 0.0 are one
    # constant, and numpy's -0.0 is -0.0)
    one = sg.exp(sg.const(1)) / sg.exp(sg.const(1))
    assert sg.evaluate(1 / -sg.log(one)) == -math.inf
    assert sg.evaluate(1 / -sg.const(0)) == -math.inf
    # 0 - t is -t: a zero t gives -0.0 (IEEE's 0 - 0.0 is 0.0), README
    assert sg.evaluate(1 / (0 - sg.log(one))) == -math.inf
