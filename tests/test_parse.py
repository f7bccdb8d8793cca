"""parse: the grammar (precedence, associativity, unary minus, numbers, functions from the op
table), errors with column and caret, long input, and `parse(str(e))` keeping values."""

import math
import re
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import VARIABLES, close, expressions, points

import symgrad as sg
from symgrad.interop.parse import ParseError, parse
from symgrad.ir.op import FUNCTIONS
from symgrad.ops import scalar as ops

x, y, z = VARIABLES


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x*y + sin(x)**2", "x*y + sin(x)**2"),
        ("x*y + sin(x)^2", "x*y + sin(x)**2"),
        ("-x**2", "-x**2"),
        ("(-x)**2", "(-x)**2"),
        ("x**y**z", "x**y**z"),
        ("x**(y**z)", "x**y**z"),
        ("(x**y)**z", "(x**y)**z"),
        ("2**-x", "2**(-x)"),
        ("2**-x*y", "2**(-x)*y"),
        ("2**-x**2", "2**(-x**2)"),
        ("x**y**-z", "x**y**(-z)"),
        ("-x*y", "-x*y"),
        ("x*-y", "-y*x"),
        ("x - y - z", "x - y - z"),
        ("x - (y - z)", "x + z - y"),
        ("x - (y - 1e300)", "x - (y - 1e+300)"),
        ("x/y/z", "x/y/z"),
        ("x/(y/z)", "x/(y/z)"),
        ("x + y*z", "x + y*z"),
        ("(x + y)*z", "z*(x + y)"),
        ("+x", "x"),
        ("--x", "x"),
        ("- - -x", "-x"),
        ("((x))", "x"),
        ("x*1 + 0", "x"),
        ("2*3*x", "6*x"),
        ("1 + x", "x + 1"),
        ("x + -y", "x - y"),
        ("  x\t*  y ", "x*y"),
    ],
)
def test_grammar(text, expected):
    assert str(parse(text)) == expected


@pytest.mark.parametrize(
    "text, value",
    [
        ("42", 42),
        ("0.5", 0.5),
        (".5", 0.5),
        ("3.", 3),
        ("1e3", 1000),
        ("1E-3", 0.001),
        ("2.5e+2", 250),
        ("6.02e23", 6.02e23),
        ("-2", -2),
        ("2**10", 1024),
        ("inf", math.inf),
    ],
)
def test_numbers(text, value):
    t = parse(text)
    assert t.is_const and t.number == value


def test_integers_stay_integers():
    assert parse("3").number == 3 and isinstance(parse("3").number, int)
    assert str(parse("2*x")) == "2*x"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_of_the_op_table(name):
    op = FUNCTIONS[name]
    if op.arity == 1:
        assert parse(f"{name}(x + 1)") is op(x + 1)
        assert parse(f"{name}(x)").op is op
    else:
        assert parse(f"{name}(x + 1, y)") is op(x + 1, y)
        assert parse(f"{name}(y, x)").op is op


def test_names_and_variables():
    t = parse("alpha_1*x + _t2")
    assert [v.name for v in sg.free_variables(t)] == ["alpha_1", "x", "_t2"]
    assert parse("x") is x


def test_built_through_folding_and_interning():
    assert parse("x*y + sin(x)") is x * y + sg.sin(x)
    assert parse("x - x*0") is x


@pytest.mark.parametrize(
    "text, column, message",
    [
        ("x + * y", 5, "expected a number, a name or '(', got '*'"),
        ("x +", 4, "unexpected end of input"),
        ("sin(x", 1, "'sin(' is never closed"),
        ("(x + y", 1, "'(' is never closed"),
        ("x + y)", 6, "unmatched ')'"),
        ("2x", 2, "expected an operator, got 'x' (write * to multiply)"),
        ("x y", 3, "expected an operator, got 'y' (write * to multiply)"),
        ("x $ y", 3, "unexpected character '$'"),
        ("sinn(x)", 1, "unknown function 'sinn' (did you mean 'sin'?)"),
        ("sin(x, y)", 1, "sin takes 1 argument(s), got 2"),
        ("sin()", 1, "sin() needs an argument"),
        ("sin x", 5, "expected an operator, got 'x' (write * to multiply, or sin(...) to call "
                     "sin)"),
        ("x, y", 2, "',' outside a function call"),
        ("", 1, "empty formula"),
        ("x = 1", 1, "the last line must be the result, not a binding"),
        ("x + y = 1", 7, "'=' only names a subexpression at the start of a line: name = ..."),
    ],
)
def test_errors_give_column_and_caret(text, column, message):
    with pytest.raises(ParseError) as caught:
        parse(text)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.column, error.message, error.text) == (column, message, text)
    assert str(error) == f"{message} at column {column}\n{text}\n{' ' * (column - 1)}^"


def test_error_message_exact():
    with pytest.raises(ParseError) as caught:
        parse("x + * y")
    assert str(caught.value) == (
        "expected a number, a name or '(', got '*' at column 5\nx + * y\n    ^"
    )


def test_unknown_function_is_named():
    with pytest.raises(ParseError, match="unknown function 'frobnicate'; the functions are abs"):
        parse("1 + frobnicate(x)")


def test_error_on_a_long_line_shows_a_window_with_the_caret_under_the_spot():
    text = "x + " * 200 + "* y"
    with pytest.raises(ParseError) as caught:
        parse(text)
    error = caught.value
    assert error.column == 801
    shown, caret = str(error).split("\n")[1:]
    assert len(shown) < 120
    assert shown[len(caret) - 1] == "*"


def test_errors_in_the_shared_form_give_line_and_column():
    with pytest.raises(ParseError) as caught:
        parse("t1 = x*y\nt2 = t1 +\nt2")
    error = caught.value
    assert (error.line, error.column, error.text) == (2, 10, "t2 = t1 +")
    assert str(error).startswith("unexpected end of input at line 2, column 10\nt2 = t1 +\n")
    with pytest.raises(ParseError, match="t1 is bound twice"):
        parse("t1 = x\nt1 = y\nt1")
    with pytest.raises(ParseError, match="only the last line is an expression"):
        parse("x\nt1 = y\nt1")


def test_shared_form_reads_back():
    t = parse("t1 = x*y\nt2 = sin(t1)\nt2*t2 + t1")
    assert t is sg.sin(x * y) * sg.sin(x * y) + x * y
    assert parse("t1 = x*y; t1 + t1") is x * y + x * y
    assert parse("\n\nt1 = x  # a comment\n\nt1 + 1\n") is x + 1


def test_ten_thousand_terms_do_not_recurse():
    t = parse(" + ".join(["x"] * 10_000))
    assert sg.count_ops(t) == 9_999
    assert sg.evaluate(t, {"x": 1.5}) == 15_000


def test_deep_nesting_does_not_recurse():
    assert parse("(" * 20_000 + "x" + ")" * 20_000) is x
    t = parse("sin(" * 5_000 + "x" + ")" * 5_000)
    assert sg.count_ops(t) == 5_000
    assert parse("-" * 5_001 + "x") is -x
    assert parse("x**" * 3_000 + "y").op is ops.pow


def test_long_power_tower_groups_right():
    t = parse("2**" * 3 + "1")
    assert t.number == 2 ** (2 ** (2**1))


@given(expressions(smooth=False), points())
def test_parse_of_str_keeps_values(e, point):
    back = parse(str(e))
    assert close(sg.evaluate(back, point), sg.evaluate(e, point), rtol=1e-9)


@given(expressions(smooth=False))
def test_parse_of_str_is_a_fixed_point(e):
    once = parse(str(e))
    assert str(parse(str(once))) == str(once)


def test_parse_rejects_non_strings():
    with pytest.raises(TypeError, match="parse takes a string"):
        parse(x)


def test_parse_result_evaluates():
    t = parse("sigmoid(x)*relu(y) - abs(z)/sqrt(4)")
    value = sg.evaluate(t, {"x": 0.0, "y": 3.0, "z": -2.0})
    assert np.isclose(value, 0.5 * 3.0 - 1.0)


def test_power_groups_right():
    assert parse("x**y**z") is x ** (y**z)
    assert parse("x^y^z") is x ** (y**z)
    assert parse("(x**y)**z") is (x**y) ** z


def test_function_library_names_constants_and_calls_of_two_arguments():
    assert parse("ln(x)") is sg.log(x)
    assert parse("log(x, 2)") is sg.log2(x) and parse("log(x, 10)") is sg.log10(x)
    assert parse("log(x, e)") is sg.log(x)
    assert parse("atan2(y, x)") is sg.atan2(y, x)
    assert parse("max(x, 0) + min(x, y)") is sg.max(x, 0) + sg.min(x, y)
    assert parse("where(gt(x, 0), x, 0.01*x)") is sg.where(x > 0, x, 0.01 * x)
    assert parse("2*pi*x") is 2 * sg.pi * x and parse("e**x") is sg.E**x
    assert parse("pi = x*y\npi + 1") is x * y + 1  # a binding shadows a constant's name


@pytest.mark.parametrize(
    "text, message",
    [
        ("log(x, 2, 3)", "log takes 1 or 2 argument(s), got 3"),
        ("atan2(y)", "atan2 takes 2 argument(s), got 1"),
        ("where(x, 1)", "where takes 3 argument(s), got 2"),
    ],
)
def test_calls_with_the_wrong_number_of_arguments(text, message):
    with pytest.raises(ParseError, match=re.escape(message)):
        parse(text)


def test_comparisons_read_as_in_python_and_do_not_chain():
    assert parse("where(x > 0, x, 0.01*x)") is sg.where(x > 0, x, 0.01 * x)
    assert parse("x + 1 >= 2*y") is sg.ge(x + 1, 2 * y)  # looser than arithmetic
    assert parse("(x < 1)*(y != 2)") is sg.lt(x, 1) * sg.ne(y, 2)
    assert parse("x == y") is sg.eq(x, y) and parse("x <= -y") is sg.le(x, -y)
    assert parse(str(x > y)) is (x > y)  # printed as gt(x, y)
    for text in ("x < y < 1", "x < y + 1 >= 3"):
        with pytest.raises(ParseError, match="comparisons do not chain"):
            parse(text)


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda: -sg.const(0.0), -0.0),
        (lambda: sg.const(0.0) * -1.0, -0.0),
        (lambda: sg.const(0) * sg.const(-1), -0.0),
        (lambda: sg.const(0) / -3, -0.0),
        (lambda: sg.const(0) - sg.const(0), 0.0),
        (lambda: sg.parse("-0.0"), -0.0),
        (lambda: sg.parse("-0"), -0.0),
        (lambda: sg.parse("1/(-0.0)"), -math.inf),
        (lambda: sg.parse("-(-0.0)"), 0.0),
        (lambda: -sg.pi * 0, -0.0),  # a formula of constants: IEEE's sign, not a bare 0
        (lambda: 0 * -sg.log(sg.const(2)), -0.0),
        (lambda: sg.const(-0.0) * sg.pi, -0.0),
    ],
)
def test_signed_zeros_fold_as_numpy_computes_them(build, expected):
    folded = build()
    assert folded.is_const
    assert repr(float(folded.value)) == repr(expected)
    assert repr(float(sg.parse(str(folded)).value)) == repr(expected)  # prints as it parses


@pytest.mark.parametrize(
    "text, column, message",
    [
        ("+" * 10**6, 10**6 + 1, "unexpected end of input"),
        ("x" + "+" * 10**6, 10**6 + 2, "unexpected end of input"),
        ("x" + "- " * 10**6, 2 * 10**6 + 2, "unexpected end of input"),
        ("x" + "*" * 10**6, 4, "expected a number, a name or '(', got '**'"),
        ("x $" + "(" * 10**6, 3, "unexpected character '$'"),
    ],
)
def test_long_bad_input_fails_at_its_first_error_in_little_memory(text, column, message):
    """The text is read as the parser asks for it, a run of signs in one step: 1 MB of
    operators is neither tokenized nor stacked up (it took 120 MB before)."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(ParseError) as caught:
            parse(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (caught.value.column, caught.value.message) == (column, message)
    assert peak < 4 * len(text) + 100_000
    assert parse("-" * 10**6 + "x") is x and parse("- -+- x") is -x


def test_open_operators_are_bounded(monkeypatch):
    monkeypatch.setattr(sys.modules["symgrad.interop.parse"], "MAX_PENDING", 1000)
    assert parse("(" * 999 + "x" + ")" * 999) is x
    with pytest.raises(ParseError, match="more than 1,000 operators and parentheses are open"):
        parse("(" * 1000 + "x" + ")" * 1000)
    with pytest.raises(ParseError, match="more than 1,000 operators") as caught:
        parse("x**" * 2000 + "x")
    assert caught.value.column == 3001


@pytest.mark.parametrize("name", ["sin", "where", "log", "max", "sigmoid", "ln"])
def test_a_variable_may_be_named_like_a_function(name):
    v = sg.var(name)
    for t in (v * 2, sg.sin(v) + v, v**v, sg.ir.op.FUNCTIONS["max"](v, x)):
        assert str(parse(str(t))) == str(t)
        assert sg.evaluate(parse(str(t)), {name: 0.5, "x": 2.0}) == sg.evaluate(
            t, {name: 0.5, "x": 2.0})
    assert parse(f"{name} = x*y\n{name} + 1") is x * y + 1  # a binding of that name too


@given(st.text(min_size=1, max_size=6).filter(str.isidentifier))
def test_any_variable_name_reads_back(name):
    """Names with combining marks (`x́`, `कि`), names starting with `℘`, names of functions:
    parse(str(t)) reads every name a variable may have (the constants' names pi, e, inf and
    nan read as the constants)."""
    if name in ("pi", "e", "inf", "nan"):
        return
    v = sg.var(name)
    t = 2 * v + sg.sin(v) * x
    assert str(parse(str(t))) == str(t)
    assert parse(str(v)) is v


@pytest.mark.parametrize("name", ["x\u0301", "कि", "\u2118", "\u2118\u2118", "x\u203f1", "_\u0300"])
def test_names_with_marks_read_back(name):
    v = sg.var(name)
    assert parse(f"2*{name} + 1") is 2 * v + 1
