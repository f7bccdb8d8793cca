"""Deep graphs through the slow paths of issue 11 item 7: each one finishes in time linear in
the depth (these tests assert results, not timings; the figures are in the README), and a
constant sympy cannot build (issue 10: relu(nan)) is a clear symgrad error or its value."""

import math

import pytest
import sympy

import symgrad as sg
from symgrad.sympy_bridge import EVALUATED_HEIGHT


def _chain(depth: int, step) -> tuple[sg.Tensor, sg.Tensor]:
    x = sg.var("x")
    f = x
    for _ in range(depth):
        f = step(f, x)
    return x, f


def _horner(depth: int) -> tuple[sg.Tensor, sg.Tensor]:
    return _chain(depth, lambda f, x: f * x + 1)


def _sines(depth: int) -> tuple[sg.Tensor, sg.Tensor]:
    return _chain(depth, lambda f, x: sg.sin(f))


@pytest.mark.parametrize("build", [_sines, _horner])
def test_to_sympy_of_depth_5000_keeps_the_value(build):
    # 26 s at depth 1,200 before (sympy's evaluation walks the whole argument at each level)
    x, f = build(5000)
    expr = sg.to_sympy(f)
    back = sg.from_sympy(expr)
    assert math.isclose(sg.evaluate(back, {"x": 0.3}), sg.evaluate(f, {"x": 0.3}), rel_tol=1e-12)


def test_to_sympy_evaluates_as_sympy_does_below_the_height_limit():
    x = sg.var("x")
    shallow = sg.sin(sg.const(0) + x) * 2 + x + x
    assert sg.to_sympy(shallow) == 2 * sympy.sin(sympy.Symbol("x")) + 2 * sympy.Symbol("x")
    _, deep = _sines(EVALUATED_HEIGHT + 5)
    assert sg.to_sympy(deep).func is sympy.sin


@pytest.mark.parametrize("text, expected", [
    ("relu(nan)", sympy.nan),
    ("step(nan)", sympy.nan),
    ("min(nan, inf)", sympy.nan),
    ("relu(nan) + x", sympy.nan),
    ("relu(x*nan)", sympy.nan),  # sympy writes x*nan as nan
    ("max(max(nan, 1), 2)", sympy.nan),
])
def test_to_sympy_of_nan_constants_is_their_value(text, expected):
    assert sg.to_sympy(sg.parse(text)) is expected


@pytest.mark.parametrize("text", ["max(x, nan)", "max(nan, x) + 1"])
def test_to_sympy_names_what_sympy_cannot_compare(text):
    with pytest.raises(sg.NoSympyFormError, match="sympy cannot build max"):
        sg.to_sympy(sg.parse(text))
