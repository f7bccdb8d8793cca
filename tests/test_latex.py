"""LaTeX output pinned by exact strings, one per op and for the parenthesization cases, plus
`Tensor._repr_latex_` for notebooks."""

import pytest
from strategies import VARIABLES

import symgrad as sg
from symgrad.ir.op import OPS

x, y, z = VARIABLES

OPS_LATEX = {
    "add": (x + y, r"x + y"),
    "sub": (x - y, r"x - y"),
    "mul": (x * y, r"x y"),
    "div": (x / y, r"\frac{x}{y}"),
    "pow": (x**y, r"x^{y}"),
    "neg": (-x, r"-x"),
    "exp": (sg.exp(x), r"e^{x}"),
    "log": (sg.log(x), r"\log{\left(x \right)}"),
    "sin": (sg.sin(x), r"\sin{\left(x \right)}"),
    "cos": (sg.cos(x), r"\cos{\left(x \right)}"),
    "tan": (sg.tan(x), r"\tan{\left(x \right)}"),
    "tanh": (sg.tanh(x), r"\tanh{\left(x \right)}"),
    "sigmoid": (sg.sigmoid(x), r"\sigma{\left(x \right)}"),
    "relu": (sg.relu(x), r"\operatorname{relu}{\left(x \right)}"),
    "sqrt": (sg.sqrt(x), r"\sqrt{x}"),
    "abs": (sg.abs(x), r"\left|{x}\right|"),
    "step": (sg.step(x), r"\operatorname{step}{\left(x \right)}"),
    "sign": (sg.sign(x), r"\operatorname{sign}{\left(x \right)}"),
    "asin": (sg.asin(x), r"\operatorname{asin}{\left(x \right)}"),
    "atan2": (sg.atan2(y, x), r"\operatorname{atan_{2}}{\left(y, x \right)}"),
    "log2": (sg.log2(x), r"\log_{2}{\left(x \right)}"),
    "max": (sg.max(x, y), r"\max\left(x, y\right)"),
    "ge": (x >= y, r"\left[x \geq y\right]"),
    "select_zero": (
        sg.where(x > 0, y, 0),
        r"\begin{cases} y & \text{if } x > 0 \\ 0 & \text{otherwise} \end{cases}",
    ),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_writes_its_operands_in_balanced_latex(name):
    # The table supplies each op's template; pinned strings below guard the hand-written ones.
    op = OPS[name]
    text = sg.latex(op(x) if op.arity == 1 else op(x, y))
    assert "x" in text and (op.arity == 1 or "y" in text)
    depth = 0
    for character in text.replace("\\{", "").replace("\\}", ""):
        depth += {"{": 1, "}": -1}.get(character, 0)
        assert depth >= 0
    assert depth == 0
    assert text.count("\\left") == text.count("\\right")


@pytest.mark.parametrize("name", sorted(OPS_LATEX))
def test_latex_of_each_op(name):
    t, expected = OPS_LATEX[name]
    assert t.op is OPS[name]
    assert sg.latex(t) == expected


def test_latex_parentheses():
    assert sg.latex((x + y) ** 2) == r"\left(x + y\right)^{2}"
    assert sg.latex(-(x + y)) == r"-\left(x + y\right)"
    assert sg.latex(x * (y + 1)) == r"x \left(y + 1\right)"
    assert sg.latex(x - (y - 1e300)) == r"x - \left(y - 10^{300}\right)"
    assert sg.latex((x**y) ** 2) == r"\left(x^{y}\right)^{2}"
    assert sg.latex(x ** (y**2)) == r"x^{y^{2}}"
    assert sg.latex(x * -y) == r"-y x"  # a sign goes first
    assert sg.latex(-x * y) == r"-x y"


def test_latex_groups_fractions_and_exponents_without_parentheses():
    assert sg.latex((x + y) / (x - y)) == r"\frac{x + y}{x - y}"
    assert sg.latex(x ** (y + 1)) == r"x^{y + 1}"
    assert sg.latex(x**-2) == r"x^{-2}"
    assert sg.latex(sg.sin(x) / (x + y) ** 2) == (
        r"\frac{\sin{\left(x \right)}}{\left(x + y\right)^{2}}"
    )


def test_latex_no_double_superscript():
    assert sg.latex(sg.exp(x) ** 2) == r"\left(e^{x}\right)^{2}"
    assert sg.latex(sg.const(1e-8) ** x) == r"\left(10^{-8}\right)^{x}"


def test_latex_numbers():
    assert sg.latex(2 * x) == r"2 x"
    assert sg.latex(0.5 * x) == r"0.5 x"
    assert sg.latex(1e-8 * x) == r"10^{-8} x"
    assert sg.latex(2.5e20 * x) == r"2.5 \cdot 10^{20} x"
    assert sg.latex(sg.const(float("inf"))) == r"\infty"


def test_latex_subscripts():
    assert sg.latex(sg.var("a_1") * sg.var("w_out")) == r"a_{1} w_{out}"


def test_latex_of_derivative_forms():
    assert sg.latex(sg.sigmoid(x).grad(x)) == (
        r"\sigma{\left(x \right)} \left(1 - \sigma{\left(x \right)}\right)"
    )
    assert sg.latex(sg.tanh(x).grad(x)) == r"1 - \tanh{\left(x \right)}^{2}"
    assert sg.latex(sg.sqrt(x * x + 1)) == r"\sqrt{x x + 1}"


def test_repr_latex_for_notebooks():
    assert (sg.sin(x) / y**2)._repr_latex_() == r"$\frac{\sin{\left(x \right)}}{y^{2}}$"
    assert x._repr_latex_() == "$x$"


def test_repr_latex_shows_huge_inlined_formulas_shared():
    t = x
    for _ in range(30):  # 30 ops, but 2**30 nodes written out
        t = t * t
    text = t._repr_latex_()
    assert text.startswith(r"$\begin{aligned}") and text.count("&=") == 29


def test_latex_as_a_lecture_writes_it():
    sigma, mu, w1, x2, theta = sg.variables("sigma mu w1 x2 theta")
    assert sg.latex(sigma * mu) == r"\mu \sigma"  # one order: by name
    assert sg.latex(w1 * x2 + 3 * theta) == r"3 \theta + w_{1} x_{2}"
    assert sg.latex(x * 2**y) == r"2^{y} x"
    assert sg.latex(2**y * 1e300) == r"2^{y} \cdot 10^{300}"  # a digit after a factor: a dot
    assert sg.latex(sg.step(x)) == r"\operatorname{step}{\left(x \right)}"
    assert sg.latex(sg.var("_t7") * x) == r"\_t_{7} x"


def test_latex_headers_in_the_cli(capsys):
    from symgrad.cli import main

    assert main(["diff", "sigma*w1**2", "--wrt", "sigma", "--format", "latex"]) == 0
    assert capsys.readouterr().out == "\\frac{\\partial f}{\\partial \\sigma} = w_{1}^{2}\n"


def test_big_formulas_fall_back_to_the_shared_form():
    # 30 nested sin(f)*cos(f): the written-out tree has ~10^9 nodes, the graph ~200
    f = x
    for _ in range(30):
        f = sg.sin(f) * sg.cos(f)
    d = f.grad(x)
    text = str(d)
    assert text.startswith("# written out, this formula has over 20,000 nodes")
    assert len(text) < 200 * sg.count_ops(d)  # linear in the graph, not exponential
    assert sg.evaluate(sg.parse(text), {"x": 0.3}) == pytest.approx(sg.evaluate(d, {"x": 0.3}))
    tex = sg.latex(d)
    assert tex.startswith(r"\begin{aligned}&\text{written out, over 20,000 nodes: shared form}")
    assert len(tex) < 300 * sg.count_ops(d)
    assert d._repr_latex_().count(r"\text{where }") == 1
    small = sg.sin(x * y) * sg.sin(x * y)
    assert sg.latex(small) == r"\sin{\left(x y \right)} \sin{\left(x y \right)}"
