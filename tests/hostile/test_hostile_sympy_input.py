"""What reaches sympy from outside: every entry point that takes sympy objects (from_sympy,
compare_at_points with its kinks and domain, check_derivative's sympy_f, compare's claim) is
fed nested tuples, lists, dicts and sets of code-carrying text, numbers, sympy objects and
objects that convert themselves. Each either converts correctly or raises a clear symgrad
error, and nothing runs: sympy's `sympify` would run the text, in the worker process too
(so the payloads leave a file behind), and would call the objects' own conversions."""

import builtins
import math
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg
from symgrad.interop.sympy_bridge import NotSympyError, UnsupportedSympyError, plain_number
from symgrad.verify.checking import check_derivative, compare_at_points
from symgrad.verify.compare import Comparison

x = sg.var("x")
X = sp.Symbol("x", real=True)

MARKS = Path(tempfile.mkdtemp(prefix="symgrad-payload-"))
FLAG = "symgrad_hostile_payload_ran"
PAYLOADS = [
    f"__import__('pathlib').Path({str(MARKS / 'ran')!r}).touch()",  # seen from any process
    f"__import__('builtins').setattr(__import__('builtins'), {FLAG!r}, 1)",
    "1/0",  # raises if run
    "[][0]",
]
CALLS: list[str] = []  # conversions of the odd objects below that ran


class Converts:
    """An object sympify would convert by calling it."""

    def _sympy_(self) -> sp.Expr:
        CALLS.append("_sympy_")
        return sp.Integer(1)

    def __float__(self) -> float:
        CALLS.append("__float__")
        return 1.0

    def __index__(self) -> int:
        CALLS.append("__index__")
        return 1


class FloatOfItsOwn(float):
    def __float__(self) -> float:
        CALLS.append("FloatOfItsOwn.__float__")
        return 1.0


class IntOfItsOwn(int):
    def __index__(self) -> int:
        CALLS.append("IntOfItsOwn.__index__")
        return 1

    def __int__(self) -> int:
        CALLS.append("IntOfItsOwn.__int__")
        return 1


class TextOfItsOwn(str):
    """Text that is not exactly a str: sympify would still run it. Equal only to itself, so
    hypothesis never takes it for a str it drew (it cannot replay one)."""

    __eq__ = object.__eq__
    __hash__ = object.__hash__


class ListOfItsOwn(list):
    pass


def _odd_numbers() -> st.SearchStrategy:
    return st.one_of(
        st.builds(Converts),
        st.floats(-10, 10).map(FloatOfItsOwn),
        st.integers(-10, 10).map(IntOfItsOwn),
    )


def _odd_objects() -> st.SearchStrategy:
    # built beforehand: hypothesis cannot replay a str of a type of its own that it drew,
    # nor hold one in its sets and dict keys
    return st.one_of(
        _odd_numbers(),
        st.sampled_from([TextOfItsOwn(text) for text in PAYLOADS]),
        st.sampled_from([ListOfItsOwn([text]) for text in PAYLOADS]),
    )


def _numbers() -> st.SearchStrategy:
    return st.one_of(
        st.integers(-(10**30), 10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.fractions(max_denominator=1000),
        st.booleans(),
        st.floats(-1e6, 1e6).map(np.float64),
        st.floats(-1e3, 1e3, width=32).map(np.float32),
        st.integers(-(2**31), 2**31 - 1).map(np.int32),
        st.booleans().map(np.bool_),
    )


NAMED = sp.Symbol(PAYLOADS[0], real=True)
SYMPY = [  # sympy objects, with what from_sympy makes of them
    (X, x),
    (2 * X + 1, 2 * x + 1),
    (sp.sin(X) * sp.Rational(1, 3), sg.sin(x) / 3),
    (sp.Max(X, 0), sg.relu(x)),
    (sp.pi, sg.PI),
    (sp.nan, sg.const(math.nan)),
    (sp.Function(PAYLOADS[0])(X), UnsupportedSympyError),  # an undefined function named so
    (NAMED, ValueError),  # not a variable name
    (X + NAMED, ValueError),
    (sp.Basic.__new__(sp.Basic, PAYLOADS[1]), NotSympyError),  # Basic keeps text as it is
    (sp.sin(sp.Basic.__new__(sp.Basic, PAYLOADS[0]), evaluate=False), NotSympyError),
]


def _sympy_objects() -> st.SearchStrategy:
    return st.sampled_from([expr for expr, _ in SYMPY])


def _texts() -> st.SearchStrategy:
    return st.one_of(st.sampled_from([*PAYLOADS, "x + 1", "2", "sin(x)"]), st.text(max_size=12))


def _leaves() -> st.SearchStrategy:
    return st.one_of(_texts(), _numbers(), _sympy_objects(), _odd_objects())


def _hashable_leaves() -> st.SearchStrategy:
    return st.one_of(_texts(), _numbers(), _sympy_objects(), _odd_numbers())


def values() -> st.SearchStrategy:
    """Leaves, and tuples, lists, dicts, sets and frozensets of them, nested."""
    return st.recursive(
        _leaves(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.lists(inner, max_size=3).map(tuple),
            st.dictionaries(_hashable_leaves(), inner, max_size=3),
            st.sets(_hashable_leaves(), max_size=3),
            st.frozensets(_hashable_leaves(), max_size=3),
        ),
        max_leaves=8,
    )


def _nothing_ran() -> None:
    ran = [name for name in ("ran",) if (MARKS / name).exists()]
    flag = getattr(builtins, FLAG, None)
    assert not ran and flag is None and not CALLS, (ran, flag, CALLS)


def _kind(value: object) -> str:
    if type(value) is str:
        return "text"
    if plain_number(value) is not None:
        return "number"
    return "sympy" if issubclass(type(value), sp.Basic) else "refused"


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


CLEAR_VALUE_ERRORS = ("not a valid variable name", "not among the variables", "not a real")


def _clear(error: Exception) -> bool:
    """A symgrad error that names the problem."""
    if isinstance(error, NotSympyError | UnsupportedSympyError | sg.ParseError
                  | sg.UnboundVariableError):  # text naming a variable the others do not have
        return True
    return isinstance(error, ValueError) and any(m in str(error) for m in CLEAR_VALUE_ERRORS)


def _from_sympy(value: object) -> None:
    kind = _kind(value)
    try:
        graph = sg.from_sympy(value)
    except Exception as error:
        assert kind != "number", error
        assert _clear(error), repr(error)
        if kind == "refused":
            assert isinstance(error, NotSympyError), repr(error)
            assert type(value).__name__ in str(error)
        if kind == "sympy":
            expected = dict(SYMPY)[value]
            assert isinstance(expected, type) and isinstance(error, expected), repr(error)
        return
    assert kind not in ("refused",), value
    if kind == "number":
        number = plain_number(value)
        assert _same(float(sg.evaluate(graph)), float(number)), (value, graph)
    elif kind == "sympy":
        assert graph is dict(SYMPY)[value], (value, graph)
    else:
        assert isinstance(graph, sg.Tensor)


def _compare_at_points(value: object) -> None:
    kind = _kind(value)
    for call in (
        lambda: compare_at_points(x, value),
        lambda: compare_at_points(x, X, kinks=[value]),
        lambda: compare_at_points(x, X, domain=[value]),
    ):
        try:
            with np.errstate(all="ignore"):
                call()
        except Exception as error:
            assert kind != "number", error
            assert _clear(error), repr(error)
            if kind == "refused":
                assert isinstance(error, NotSympyError), repr(error)


def _check_derivative(value: object) -> None:
    kind = _kind(value)
    try:
        result = check_derivative(x * x, x, 2 * x, sympy_f=value, samples=4, symbolic=False,
                                  timeout=1.0)
    except Exception as error:
        assert kind != "number", error
        assert _clear(error), repr(error)
        if kind in ("refused", "text"):  # sympy_f is sympy's formula: text is not read
            assert isinstance(error, NotSympyError), repr(error)
        return
    assert kind in ("number", "sympy"), value
    if kind == "number" or value in (X, 2 * X + 1):
        # sympy_f stands for f: its derivative is what the verdict compares with
        assert bool(result) == (value == X**2)


def _compare(value: object) -> None:
    kind = _kind(value)
    try:
        verdict = sg.compare(x * x, x, value)
    except Exception as error:
        assert kind != "number", error
        assert isinstance(error, TypeError | sg.ParseError), repr(error)
        return
    assert kind in ("number", "text") or isinstance(value, str), value  # parse reads any str
    assert isinstance(verdict, Comparison)
    if kind == "number" and math.isfinite(float(plain_number(value))):
        assert not verdict  # no number is 2*x


@pytest.fixture(autouse=True)
def _clean_marks():
    yield
    (MARKS / "ran").unlink(missing_ok=True)
    if hasattr(builtins, FLAG):
        delattr(builtins, FLAG)
    CALLS.clear()


def _forget_calls() -> None:
    # numpy's == calls an int subclass's __int__: hypothesis's sets and dicts may have
    CALLS.clear()


@given(values())
def test_sympy_entry_points_convert_or_refuse_and_run_nothing(value):
    _forget_calls()
    _from_sympy(value)
    _compare_at_points(value)
    _compare(value)
    _nothing_ran()


@given(values())
def test_check_derivative_takes_only_sympy_as_sympys_formula(value):
    _forget_calls()
    _check_derivative(value)
    _nothing_ran()


@pytest.mark.parametrize(
    "value",
    [
        (PAYLOADS[0],),
        {PAYLOADS[1]: 1},
        [[{"f": PAYLOADS[0]}]],
        {frozenset({PAYLOADS[1]})},
        Converts(),
        FloatOfItsOwn(2.0),
        IntOfItsOwn(2),
        TextOfItsOwn(PAYLOADS[1]),
        ListOfItsOwn([PAYLOADS[0]]),
    ],
)
def test_each_kind_of_container_and_object_is_refused_unrun(value):
    for entry in (_from_sympy, _compare_at_points, _check_derivative, _compare):
        entry(value)
    _nothing_ran()


def test_the_payloads_do_run_when_evaluated():
    # the detectors work: eval of the payloads leaves the marks this file checks for
    eval(PAYLOADS[0])  # noqa: S307
    eval(PAYLOADS[1])  # noqa: S307
    assert (MARKS / "ran").exists() and getattr(builtins, FLAG) == 1
    float(FloatOfItsOwn(2.0))
    assert CALLS == ["FloatOfItsOwn.__float__"]


def test_numbers_convert_exactly():
    assert sg.from_sympy(Fraction(1, 3)) is sg.const(Fraction(1, 3))
    assert sg.from_sympy(np.float32(0.5)) is sg.const(0.5)
    assert sg.from_sympy(True) is sg.const(1)
    assert sg.from_sympy(10**30) is sg.const(10**30)
