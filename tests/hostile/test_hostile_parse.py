"""Any text given to `parse` gives a Tensor or a `ParseError` with a caret, never another
exception; long input is read in one linear pass."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg
from symgrad.interop.parse import ParseError


def _parses_or_says_where(text: str) -> None:
    try:
        result = sg.parse(text)
    except ParseError as error:
        assert "^" in str(error).splitlines()[-1]
        assert error.column >= 1
        return
    assert isinstance(result, sg.Tensor)


@pytest.mark.parametrize(
    "text, message",
    [
        ("x²", "write powers with \\*\\*"),
        ("½", "write numbers with digits"),
        ("x\x00", "unexpected character"),
        ("\u0301x", "unexpected character"),  # a combining mark after a letter is a name
        ("x −y", "unexpected character"),  # a pasted unicode minus
        ("\x1b[2J", "unexpected character"),
    ],
)
def test_reported_inputs_are_parse_errors(text, message):
    with pytest.raises(ParseError, match=message) as caught:
        sg.parse(text)
    assert caught.value.message in str(caught.value)
    assert "\x1b" not in str(caught.value)  # control characters are not echoed


def test_huge_literals_follow_ieee():
    assert sg.parse("1" * 4301).number == math.inf  # int() refuses past 4,300 digits
    assert sg.parse("2" + "0" * 400).number == math.inf
    assert sg.parse("0" * 5000 + "7").number == 7
    assert sg.parse("1.8e309").number == math.inf
    assert sg.parse("1e-400").number == 0
    assert sg.parse("9" * 300).number == int("9" * 300)  # exact while a float can hold it


def test_ten_megabytes_parse_in_one_linear_pass():
    # Not timed (benchmarks are): a quadratic pass would take hours here.
    assert sg.parse("1" * 10_000_000).number == math.inf
    assert sg.parse(" " * 10_000_000 + "x") is sg.var("x")
    assert sg.parse("# " + "c" * 10_000_000 + "\nx") is sg.var("x")
    nested = sg.parse("(" * 100_000 + "x" + ")" * 100_000)
    assert nested is sg.var("x")


FRAGMENTS = [
    "x", "y", "x1", "_t0", "ｔ0", "𝐱", "α", "2", "0.5", ".5", "1e3", "1e400", "9" * 320,
    "٣", "inf", "nan", "+", "-", "*", "/", "**", "^", "(", ")", ",", "=", ";", "\n", "#",
    " ", "\t", "\r", "sin", "sin(", "relu(", "exp(", "log(", "abs(", "²", "½", "−", "\x00",
    "\u0301", "e", "E", ".", "..", "1.5.5", "0x10", "1_0", "\\", "'", '"', "[", "]", "{",
    "@", "!", "$", "__import__", "lambda", "\ufeff", "\u2028", "a = ", "t1 = x*y\n",
]


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_parse_error(text):
    _parses_or_says_where(text)


@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join))
def test_formula_like_text_parses_or_raises_parse_error(text):
    _parses_or_says_where(text)


@given(
    st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join),
    st.lists(st.sampled_from(["+", "*", "-", "/", "**"]), min_size=1, max_size=12),
)
def test_valid_formulas_with_a_splice_parse_or_raise_parse_error(splice, operators):
    text = "x"
    for operator in operators:
        text = f"({text}){operator}sin(y)"
    position = len(splice) % (len(text) + 1)
    _parses_or_says_where(text[:position] + splice + text[position:])


SHAPES = {"W": (2, 3), "v": (3,), "u": (2,), "S": (3, 3)}
MATRIX_FRAGMENTS = [
    "W", "v", "u", "S", "x", "2", "-1", "0", "@", ".T", ".", "T", "*", "+", "-", "(", ")", ",",
    " ", "sum(", "mean(", "softmax(", "logsumexp(", "norm(", "trace(", "outer(", "inv(", "det(",
    "logdet(", "solve(", "diag(", "diagonal(", "kron(", "transpose(", "axis=", "axis=-1",
    "keepdims=True", "keepdims=", "None", "=", "sin(", "**", "/", "\n", "t = ", "1.5",
]


def _parses_with_shapes_or_says_where(text: str) -> None:
    try:
        result = sg.parse(text, shapes=SHAPES)
    except ParseError as error:
        assert "^" in str(error).splitlines()[-1]
        assert error.column >= 1
        return
    assert isinstance(result, sg.Tensor)


@given(st.lists(st.sampled_from(MATRIX_FRAGMENTS), max_size=30).map("".join))
def test_matrix_text_parses_or_raises_parse_error(text):
    _parses_with_shapes_or_says_where(text)
