"""Printing is pinned by exact strings, one assert per case (sympy's test_str.py)."""

import pytest

import symgrad as sg

x, y, z = sg.variables("x y z")


@pytest.mark.parametrize(
    "expr, text",
    [
        (x * y + sg.sin(x) ** 2, "x*y + sin(x)**2"),
        ((x + y) ** -2, "(x + y)**(-2)"),
        ((x + y) * z, "z*(x + y)"),  # one order: variables before sums, as sympy
        (x + y * z, "x + y*z"),
        (x - (y + z), "x - y - z"),  # a sum is written flat, added terms first
        (x - (y - z), "x + z - y"),
        (x - (y - 1e300), "x - (y - 1e+300)"),  # an extreme constant keeps the grouping
        ((x - y) - z, "x - y - z"),
        (x + (y + z), "x + y + z"),
        (x / (y * z), "x/(y*z)"),
        (x / y * z, "z*(x/y)"),
        (x * (y / z), "x*(y/z)"),  # the grouping kept: x*y/z is (x*y)/z
        (x**y**z, "x**y**z"),
        ((x**y) ** z, "(x**y)**z"),
        (-(x**2), "-x**2"),
        ((-x) ** 2, "(-x)**2"),
        (-(x + y), "-(x + y)"),
        (-(x * y), "-x*y"),
        (-x * y, "-x*y"),
        (x * -y, "-y*x"),  # a sign goes first
        (y * (x * 2), "2*x*y"),
        (x + (-y) * z, "x - y*z"),  # the sign of a term moves out (exact)
        (x ** sg.const(-1), "x**(-1)"),
        (sg.const(-2) ** x, "(-2)**x"),
        (x * 0.5, "0.5*x"),
        (x + 1e-8, "x + 1e-08"),
        (sg.relu(x - 1) / sg.sqrt(y), "relu(x - 1)/sqrt(y)"),
        (sg.exp(-x), "exp(-x)"),
    ],
)
def test_str(expr, text):
    assert str(expr) == text


def test_repr_says_it_is_a_tensor():
    assert repr(x + 1) == "Tensor(x + 1)"


def test_repr_of_a_big_graph_is_short():
    t = x
    for _ in range(200):
        t = sg.sin(t)
    assert repr(t) == "<Tensor sin: 200 ops>"


@pytest.mark.parametrize(
    "expr, text",
    [
        (x * y, "x y"),
        (x / (y + 1), "\\frac{x}{y + 1}"),
        ((x + y) ** 2, "\\left(x + y\\right)^{2}"),
        (x ** (y + 1), "x^{y + 1}"),
        (sg.exp(x), "e^{x}"),
        (sg.sqrt(x + 1), "\\sqrt{x + 1}"),
    ],
)
def test_latex(expr, text):
    assert sg.latex(expr) == text


def test_no_double_minus_in_raw_forms():
    from symgrad.ir.graph import raw_node
    from symgrad.ops.scalar import div, mul, neg, sub

    assert str(raw_node(neg, raw_node(div, sg.const(-1), x + 1), None)) == "-(-1/(x + 1))"
    assert str(raw_node(neg, raw_node(mul, sg.const(-400), x), None)) == "-(-400*x)"
    assert str(raw_node(sub, y, raw_node(mul, sg.const(-4), x))) == "4*x + y"
    for tree in (sg.gradient(-1 / (x + 1), [x])[0], sg.gradient(-(-400 * x**2) / 2, [x])[0]):
        assert "--" not in str(tree) and "- -" not in str(tree)
        assert sg.evaluate(sg.parse(str(tree)), {"x": 0.7}) == sg.evaluate(tree, {"x": 0.7})
