"""No user text is ever run as Python: `from_sympy` and `compare_at_points` read text with
symgrad's own parser. Each payload would leave a mark if it ran."""

import builtins

import pytest
import sympy as sp

import symgrad as sg
from symgrad.interop.parse import ParseError
from symgrad.verify.checking import compare_at_points

PAYLOADS = [
    "__import__('builtins').setattr(__import__('builtins'), 'symgrad_pwned', 1)",
    "setattr(__import__('builtins'), 'symgrad_pwned', 1) or x",
    "x + (lambda: __import__('builtins').setattr(__import__('builtins'), 'symgrad_pwned', 1))()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "exec('import builtins; builtins.symgrad_pwned = 1')",
    "Symbol('x')",
]


@pytest.fixture(autouse=True)
def no_mark_left():
    yield
    assert not hasattr(builtins, "symgrad_pwned"), "user text ran as Python"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_from_sympy_never_runs_text(payload):
    with pytest.raises(ParseError):
        sg.from_sympy(payload)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_compare_at_points_never_runs_text(payload):
    with pytest.raises(ParseError):
        compare_at_points(sg.var("x"), payload)


def test_text_is_read_by_symgrads_parser():
    x, y = sg.variables("x y")
    assert sg.from_sympy("x*y + sin(x)") is x * y + sg.sin(x)
    assert compare_at_points(2 * x * y, "x*y + y*x")
    assert not compare_at_points(2 * x, "x + x + 1")


def test_from_sympy_refuses_other_objects_clearly():
    with pytest.raises(TypeError, match="sympy expression, a number or formula text"):
        sg.from_sympy(object())
    with pytest.raises(TypeError, match="got bytes"):
        sg.from_sympy(b"x + 1")
    assert sg.from_sympy(2.5) is sg.const(2.5)
    assert sg.from_sympy(sp.Integer(3)) is sg.const(3)
