"""One canonical order (`symgrad/present/order.py`): a formula prints the same from the library, the
CLI and `check`, however it was built; and printing keeps every grouping an extreme constant
makes matter, so `parse(str(t))` has t's float value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import symgrad as sg
from symgrad.cli import main
from symgrad.ir.graph import Children, Tensor
from symgrad.ir.op import OPS
from symgrad.present.order import in_canonical_order
from symgrad.verify.checking import check_derivative

X, Y, Z = sg.variables("x y z")


# --- library, CLI and check print one derivative alike ----------------------------------------


def test_library_cli_and_check_print_the_derivative_alike(capsys):
    f = X * Y + sg.sin(X) ** 2
    simplified = sg.simplify(f.grad(X))
    library = str(simplified)
    assert library == "y + 2*sin(x)*cos(x)"  # sympy's order too
    assert sg.pretty(simplified) == library
    assert str(f.grad(X)) == str(sg.gradient(f, [X, Y])[0]) == library  # raw, both modes
    assert main(["diff", "x*y + sin(x)**2", "--wrt", "x", "--check"]) == 0
    cli = capsys.readouterr().out.splitlines()
    assert cli[0] == f"df/dx = {library}"
    assert f"  symgrad: {library}" in cli and f"  sympy:   {library}" in cli
    for verdict in (sg.check(f, X), check_derivative(f, X, simplified)):
        lines = str(verdict).splitlines()
        assert lines[1:3] == [f"  symgrad: {library}", f"  sympy:   {library}"]
    assert main(["diff", "x*y + sin(x)**2", "--wrt", "x", "--format", "latex"]) == 0
    latex = capsys.readouterr().out.strip()
    assert latex.endswith(f"= {sg.latex(simplified)}")
    assert sg.latex(simplified) == "y + 2 \\sin{\\left(x \\right)} \\cos{\\left(x \\right)}"
    assert main(["diff", "x*y + sin(x)**2", "--wrt", "x", "--format", "python"]) == 0
    assert "return (y + 2*np.sin(x)*np.cos(x),)" in capsys.readouterr().out


def test_canonical_graphs_keep_sharing_and_values():
    s = sg.sin(X * Y)
    f = s * s + Y * X * s + (Z + X) * s
    derivatives = sg.gradient(f, [X, Y, Z])
    ordered = in_canonical_order(derivatives)
    assert [str(t) for t in ordered] == [str(t) for t in derivatives]
    assert sg.count_ops(ordered) <= sg.count_ops(derivatives)
    point = {"x": 0.3, "y": -1.2, "z": 2.0}
    for before, after in zip(derivatives, ordered, strict=True):
        assert sg.evaluate(after, point) == pytest.approx(sg.evaluate(before, point), rel=1e-12)


def test_the_order_reads_like_sympy():
    cases = {
        X * Y * 2: "2*x*y",
        sg.exp(X) * X * sg.sin(X) * sg.log(X) * 2 * Y * (X + 1):
            "2*x*y*exp(x)*log(x)*sin(x)*(x + 1)",
        1 - X: "1 - x",
        -X + 1: "1 - x",
        Y + 2 * X: "2*x + y",
        sg.sin(X) ** 2 + X * Y: "x*y + sin(x)**2",
        X**2 * X: "x*x**2",
        Y - X - 1: "y - x - 1",
        -Y - X: "-x - y",
        sg.sigmoid(X) * (1 - sg.sigmoid(X)): "sigmoid(x)*(1 - sigmoid(x))",
        # a polynomial in one variable by degree, each term with its sign
        X**5 / 120 - X**7 / 5040 + X - X**3 / 6: "x - x**3/6 + x**5/120 - x**7/5040",
        X**4 / 24 + 1 - X**2 / 2: "1 - x**2/2 + x**4/24",
        2 * X**3 + 1 - 3 * X**2: "1 - 3*x**2 + 2*x**3",
        1 + X**2: "x**2 + 1",
        X**3 - X: "x**3 - x",  # an added term leads
        # any other sum, the added terms first
        sg.parse("w*x + b - y"): "b + w*x - y",
        # the numbers of a sum written as one, as the sum of two sums reads
        (6 * sg.sigmoid(X) - 3) - (6 * sg.sigmoid(Y) - 3): "6*sigmoid(x) - 6*sigmoid(y)",
        (X + 0.2) + (Y + 0.2): "x + y + 0.4",
        (X + 1) - (Y + 3): "x - y - 2",
        # a sum factor with every term subtracted gives its sign to the product
        sg.exp(-Z) * (-Z * sg.cos(X) - sg.sin(X)): "-exp(-z)*(z*cos(x) + sin(x))",
        Y + sg.exp(X) * (-X - 2 * Y): "y - exp(x)*(x + 2*y)",
        (-X - 1) * (-Y - 1): "(x + 1)*(y + 1)",
    }
    for formula, text in cases.items():
        assert str(formula) == text


# --- the printed form does not depend on how the formula was built ----------------------------

NUMBERS = [0.5, 2, 3, -1.5, 10]
leaves = st.one_of(st.sampled_from([X, Y, Z]), st.sampled_from(NUMBERS).map(sg.const))
UNARY = [OPS[name] for name in ("sin", "exp", "neg", "tanh")]
BINARY = [OPS[name] for name in ("add", "sub", "mul", "div", "pow", "max")]


def trees(max_leaves: int = 10) -> st.SearchStrategy[Tensor]:
    """Random graphs, built raw (no folding) so every grouping and order occurs."""
    def extend(children: st.SearchStrategy[Tensor]) -> st.SearchStrategy[Tensor]:
        unary = st.tuples(st.sampled_from(UNARY), children).map(
            lambda pair: Tensor(children=Children(pair[1], None, pair[0])))
        binary = st.tuples(st.sampled_from(BINARY), children, children).map(
            lambda t: Tensor(children=Children(t[1], t[2], t[0])))
        return unary | binary
    return st.recursive(leaves, extend, max_leaves=max_leaves)


def mirrored(node: Tensor) -> Tensor:
    """The same formula with the operands of every commutative node swapped."""
    built: dict[Tensor, Tensor] = {}
    for current in sg.ir.graph.toposort(node):
        if current.children is None:
            built[current] = current
            continue
        a, b, op = current.children
        a, b = built[a], None if b is None else built[b]
        if op.commutative:
            a, b = b, a
        built[current] = Tensor(children=Children(a, b, op))
    return built[node]


@given(trees())
def test_swapping_commutative_operands_prints_the_same(t):
    twin = mirrored(t)
    note(f"t = {t}")
    assert str(twin) == str(t)
    assert sg.latex(twin) == sg.latex(t)
    assert sg.pretty(twin) == sg.pretty(t)


@given(st.lists(trees(4), min_size=2, max_size=6), st.sampled_from(["add", "mul"]),
       st.randoms(use_true_random=False))
def test_regrouping_and_reordering_a_chain_prints_the_same(operands, name, random):
    op = OPS[name]
    left = operands[0]
    for operand in operands[1:]:  # ((a op b) op c) ...
        left = Tensor(children=Children(left, operand, op))
    shuffled = list(operands)
    random.shuffle(shuffled)
    right = shuffled[-1]
    for operand in reversed(shuffled[:-1]):  # a op (b op (c ...)), in another order
        right = Tensor(children=Children(operand, right, op))
    assert str(left) == str(right)


def test_ties_and_shared_names_do_not_depend_on_the_build():
    def raw(op, a, b=None):
        return Tensor(children=Children(a, b, OPS[op]))

    tanh_2, tanh_x = raw("tanh", sg.const(2)), raw("tanh", X)
    t = raw("sub", raw("sub", raw("add", tanh_2, tanh_x), tanh_2), tanh_x)
    assert sg.pretty(mirrored(t)) == sg.pretty(t) == (
        "t1 = tanh(2)\nt2 = tanh(x)\nt1 + t2 - t1 - t2")
    # a named part is written as its name: no sign to set apart, whichever way it was built
    scaled = raw("mul", sg.const(-1.5), Z)
    negated = raw("neg", raw("mul", scaled, scaled))
    assert sg.pretty(mirrored(negated)) == sg.pretty(negated) == "t1 = -1.5*z\n-t1*t1"
    # z and z/0.5 sort alike as terms: the term itself breaks the tie
    half = raw("div", Z, sg.const(0.5))
    assert str(raw("add", Z, half)) == str(raw("add", half, Z)) == "z + z/0.5"


def test_hash_seeds_and_node_ids_play_no_part():
    import subprocess
    import sys

    program = ("import symgrad as sg; x, y, z = sg.variables('z y x');"
               "print(sg.sin(z)*y*x*sg.cos(x)*(x + y)*(y + z) + sg.exp(y)*x + z*y)")
    here = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60).stdout  # another process: other ids, another hash seed
    z, y, x = sg.variables("x y z")  # the same formula built with other nodes first
    there = str(z * y + x * sg.exp(y) + (z + y) * (y + x) * sg.cos(x) * x * y * sg.sin(z))
    assert here.strip() == there
    assert there == "x*y + y*z*sin(x)*cos(z)*(x + y)*(y + z) + z*exp(y)"


# --- printing keeps the groupings extreme constants make matter -------------------------------

HOSTILE = [
    (lambda: 1e308 * (X * Y), {"x": 10.0, "y": 0.1}),
    (lambda: (X * Y) * 1e308, {"x": 10.0, "y": 0.1}),
    (lambda: 1e308 * (X * (0.99 * Y)), {"x": 10.0, "y": 0.1}),
    (lambda: 1e-308 * (X * Y) * 1e-10, {"x": 1e5, "y": 1e5}),
    (lambda: 1e308 + (X + Y), {"x": 1e308, "y": -1e308}),
    (lambda: (1e308 - X) + 1e308, {"x": 1e308}),
    (lambda: X * (Y / Z), {"x": 1e308, "y": 1e308, "z": 1e308}),
    (lambda: sg.const(float("inf")) * (X * Y), {"x": 0.0, "y": math.inf}),
    (lambda: sg.const(float("nan")) * (X + Y) + 1, {"x": 1.0, "y": 2.0}),
    # a term that holds an extreme constant: its sum keeps its grouping (0, not -0.2)
    (lambda: 1e308 * X - (1e308 * X + 2 * X), {"x": 0.1}),
    (lambda: 2 * ((1e308 + Y) * (Y / 2)), {"y": 0.1}),
    (lambda: 1e308 * (2 * X), {"x": 0.1}),  # 2e307, not (1e308*2)*x = inf
]


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_parse_of_str_keeps_the_float_value_with_extreme_constants():
    """Chains of variables alone are reordered (x*(y*z) prints x*y*z): that rounds, and can
    overflow only at inputs near the float range's ends, as any rearranged formula can."""
    for build, point in HOSTILE:
        t = build()
        back = sg.parse(str(t))
        with np.errstate(all="ignore"):
            expected, actual = float(sg.evaluate(t, point)), float(sg.evaluate(back, point))
        assert same_float(actual, expected), (str(t), expected, actual)


def test_a_right_nested_product_prints_its_parentheses():
    assert str(1e308 * (X * Y)) == "1e+308*(x*y)"
    assert str(X * (Y / Z)) == "x*(y/z)"
    assert sg.latex(1e308 * (X * Y)) == "10^{308} x y"  # LaTeX is not read back


EXTREME = [1e308, -1e308, 1e-308, 1e300, 2.0**40, math.inf, -math.inf, math.nan]
hostile_leaves = st.one_of(st.sampled_from([X, Y, Z]),
                           st.sampled_from(EXTREME + NUMBERS).map(sg.const))


@given(st.recursive(hostile_leaves, lambda children: st.tuples(  # built as users build: folded
    st.sampled_from([OPS["add"], OPS["sub"], OPS["mul"], OPS["div"]]), children, children).map(
    lambda t: t[0](t[1], t[2])), max_leaves=8),
    st.lists(st.sampled_from([0.1, 0.5, 1.0, 3.0, 10.0, -2.0]), min_size=3, max_size=3))
def test_parse_of_str_keeps_the_value_of_chains_with_extreme_constants(t, point):
    env = dict(zip("xyz", point, strict=True))
    note(f"t = {t}")
    with np.errstate(all="ignore"):
        expected = float(sg.evaluate(t, env))
        actual = float(sg.evaluate(sg.parse(str(t)), env))
    # regrouping around moderate constants only rounds; never an overflow or a NaN more
    assert (math.isnan(expected) == math.isnan(actual)
            and math.isinf(expected) == math.isinf(actual)), (expected, actual)
    if math.isfinite(expected) and expected != actual:
        # a regrouped sum rounds at the size of its terms: 1.5*x + 1 - 1.5*x - 1 is 0 one way
        # and -1.1e-16 the other; what no regrouping may do is lose what a term held
        with np.errstate(all="ignore"):
            sizes = [abs(float(sg.evaluate(node, env))) for node in sg.ir.graph.toposort(t)]
        scale = max((size for size in sizes if math.isfinite(size)), default=0.0)
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12 * scale), (
            expected, actual)
