"""Deep graphs through the slow paths: each one finishes in time linear in
the depth (these tests assert results, not timings; the figures are in the README), and a
constant sympy cannot build (relu(nan)) is a clear symgrad error or its value."""

import math

import pytest
import sympy

import symgrad as sg
from symgrad.interop.sympy_bridge import EVALUATED_HEIGHT


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


def test_explain_of_depth_100000_has_every_step(sin_chain):
    # over 150 s and 9 GB before: a tuple of all earlier step numbers per step, a table
    # formula rebuilt per cell, every label's definition copying all the labels
    x, f = sin_chain
    e = sg.explain(f, x)
    assert len(e) == 100_000 and e.steps[-1].operand is x
    assert e.gradients[x] is sg.gradient(f, x)


def test_str_of_a_deep_explanation_has_one_row_per_step():
    x, f = _sines(5000)
    text = str(sg.explain(f, x, at={"x": 0.5}))
    lines = text.splitlines()
    # title, blank, "nodes:", one definition per sin, blank, header, rule, one row per step,
    # blank, "gradient:", the gradient line
    assert len(lines) == 2 * 5000 + 9
    assert lines[3] == "  t1 = sin(x) = 0.479426"
    rows = [line for line in lines if line.lstrip().split("  ")[0].isdigit()]
    assert len(rows) == 5000
    assert "(over 2,000 steps: formulas shown as built)" in lines[0]
    assert max(len(line) for line in lines[1:]) < 200  # deep products are cut, not written out


def test_a_node_feeding_many_parents_names_its_first_and_last_steps():
    x, f = _horner(1000)
    e = sg.explain(f, x)
    (_, node, numbers), = e.sums()
    assert node is x and len(numbers) == 1001
    text = e.to_markdown()
    assert f"#3 + #6 + … + #{numbers[-1]} (1001 steps)" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 3 * 1000 + 1 + 2  # a header, then a step per row; the gradient table
    assert max(len(row) for row in rows) < 1000  # cells are cut, not written out


def test_to_sympy_of_a_comparison_with_a_complex_constant_is_numpys_nan():
    # acos(acos(0)) = acos(pi/2) is not real: numpy's value is NaN, and so is max(0, NaN)
    assert sg.to_sympy(sg.max(0, sg.acos(sg.acos(sg.const(0))))) is sympy.nan


def test_from_sympy_reads_real_and_imaginary_parts_of_real_variables():
    # plain sympy symbols: Abs(exp(x)) is exp(re(x)); symgrad's variables are real
    x = sg.var("x")
    assert str(sg.from_sympy(sg.to_sympy(sg.abs(sg.exp(x))))) == "exp(x)"
    assert sg.from_sympy(sympy.im(sympy.Symbol("x")) + sympy.Symbol("x")) is x


def _nested_sines(x: sg.Tensor, depth: int) -> sg.Tensor:
    for _ in range(depth):
        x = sg.sin(x)
    return x


def test_simplify_of_a_deep_chain_rule_product_sorts_it_whole_in_a_few_rewrites(sin_chain):
    # the gradient of sin(sin(...(x))) is a chain of 100,000 products of cosines, built
    # largest factor first; each level re-sorted its last 8 factors before (about 60 rewrites
    # per level: 120,960 at depth 2,000, ~10 minutes and 15 GB at 100,000)
    x, f = sin_chain
    derivative = sg.gradient(f, x)
    simplified, log = sg.simplify(derivative, explain=True)
    assert len(log) < 20
    assert sg.count_ops(simplified) == sg.count_ops(derivative)
    assert math.isclose(sg.evaluate(simplified, {"x": 0.3}), sg.evaluate(derivative, {"x": 0.3}),
                        rel_tol=1e-9)


def test_a_chain_longer_than_a_flattening_is_built_in_canonical_order():
    # more factors than flatten.LIMIT: the whole chain is sorted, not a window of it
    x, f = _sines(12)
    node = sg.simplify(sg.gradient(f, x))
    factors = []
    while node.op is sg.ops.scalar.mul:
        node, factor = node.children.a, node.children.b
        factors.append(factor)
    assert [node, *factors[::-1]] == [sg.cos(_nested_sines(x, k)) for k in range(12)]


def test_simplify_of_a_deep_horner_gradient_does_only_the_real_rewrites():
    # f = f*x + 1, 4,000 times: one x*x -> x**2 and one reordering per level are real; the
    # sums were re-collected at every level before (16,034 rewrites)
    x, f = _horner(4000)
    derivative = sg.gradient(f, x)
    simplified, log = sg.simplify(derivative, explain=True)
    assert len(log) <= 2 * 4000 + 10
    assert sg.evaluate(simplified, {"x": 0.5}) == pytest.approx(
        sg.evaluate(derivative, {"x": 0.5}), rel=1e-12)
