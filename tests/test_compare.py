"""compare: the verdict on a claimed derivative, the first differing point, and the hint
pointing at the wrong step. Oracles: evaluation of both sides, and planted mistakes."""

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import X, expressions

import symgrad as sg
from symgrad.verify.compare import compare, sample_points

x, y, b = sg.variables("x y b")
w1, x1, w2, x2 = sg.variables("w1 x1 w2 x2")
NEURON = sg.tanh(w1 * x1 + w2 * x2 + b)


def test_right_claim_in_another_form():
    verdict = compare(sg.sin(x) * sg.cos(x), x, 1 - 2 * sg.sin(x) ** 2)
    assert verdict and verdict.right and verdict.point is None and verdict.hint is None
    assert str(verdict).startswith("right: the claimed ∂f/∂x = 1 - 2*sin(x)**2 agrees")


def test_right_claim_as_text():
    pytest.importorskip("symgrad.interop.parse")
    assert compare(sg.sin(x) * sg.cos(x), x, "cos(2*x)")
    assert compare("x*y + b", "x", "y")
    assert compare(NEURON, w1, "x1*(1 - tanh(b + x1*w1 + x2*w2)**2)")


def test_planted_sign_error():
    verdict = compare(x * y + b, x, -y)
    assert not verdict
    assert verdict.hint.kind == "sign"
    step = verdict.hint.step
    assert (step.number, step.node, step.operand) == (2, x * y, x)
    assert str(verdict.hint.share) == "y"
    # the reported point really is where the two sides differ, and it is the first one
    point = verdict.point
    assert sg.evaluate(-y, point) == verdict.claimed_value != verdict.expected
    assert verdict.expected == sg.evaluate(y, point)
    assert set(point) == {"x", "y", "b"}
    assert "likely mistake: a sign error: the claim has -y where the true derivative has y" \
        in str(verdict)


def test_sign_error_prefers_the_minus_it_lost():
    verdict = compare(x - sg.sin(x), x, 1 + sg.cos(x))
    assert verdict.hint.kind == "sign"
    assert verdict.hint.step.local.number == -1  # the minus of the subtraction
    assert verdict.hint.also  # the step below carries the same share


def test_planted_missing_chain_rule_factor():
    verdict = compare(sg.sin(x**2), x, sg.cos(x**2))
    assert not verdict
    hint = verdict.hint
    assert hint.kind == "missing factor"
    assert str(hint.factor) == "2*x"
    assert hint.step.operand is x and hint.step.node is x**2
    assert "a missing chain-rule factor 2*x" in str(verdict)


def test_missing_factor_deep_in_a_neuron():
    verdict = compare(NEURON, w1, 1 - NEURON**2)
    assert verdict.hint.kind == "missing factor"
    assert str(verdict.hint.factor) == "x1" and verdict.hint.step.operand is w1


def test_wrong_local_derivative_of_tanh():
    verdict = compare(NEURON, w1, (1 + NEURON**2) * x1)
    hint = verdict.hint
    assert hint.kind == "wrong local derivative"
    assert hint.step.node is NEURON and str(hint.step.local) == f"1 - {NEURON}**2"
    assert str(hint.factor) == f"{NEURON}**2 + 1"


def test_missing_product_rule_term():
    verdict = compare(x * sg.sin(x), x, x * sg.cos(x))
    assert verdict.hint.kind == "missing term"
    assert str(verdict.hint.share) == "sin(x)"


def test_wrong_constant_and_extra_term():
    verdict = compare(sg.sin(x * y) + x**2, x, sg.cos(x * y) * y + x)
    assert verdict.hint.kind == "scaled" and verdict.hint.factor == pytest.approx(0.5)
    extra = compare(sg.exp(x**2), x, sg.exp(x**2) * 2 * x + sg.log(x))
    assert extra.hint.kind == "extra term" and str(extra.hint.share) == "log(x)"
    assert extra.hint.step is None and "an extra term: without log(x)" in str(extra)


def test_sample_points_are_fixed_and_round():
    first, again = sample_points(["x", "y"]), sample_points(["x", "y"])
    assert all(np.array_equal(first[k], again[k]) for k in "xy")
    assert np.all(first["x"][12:] > 0) and np.all(np.round(first["x"], 2) == first["x"])


def test_deterministic_and_own_points():
    first = compare(sg.exp(x), x, sg.exp(x) * x)
    second = compare(sg.exp(x), x, sg.exp(x) * x)
    assert first.point == second.point
    mine = compare(sg.exp(x), x, sg.exp(x) * x, at={"x": 3.0})
    assert mine.point == {"x": 3.0}


def test_bad_input():
    with pytest.raises(ValueError, match="one partial"):
        compare(x * y, [x, y], y)
    with pytest.raises(TypeError, match="claimed derivative"):
        compare(x * y, x, [y])
    with pytest.raises(ValueError, match="not finite"):
        compare(sg.sqrt(-(x * x) - 1), x, x)


@settings(max_examples=25)
@given(expressions(smooth=True))
def test_the_true_derivative_is_right(f):
    (g,) = sg.gradient(f, [X])
    verdict = compare(f, X, g)
    assert verdict, str(verdict)


def test_whole_derivative_negated_across_two_branches():
    verdict = compare(sg.sin(x) + x * x, x, -(sg.cos(x) + 2 * x))
    assert verdict.hint.kind == "sign" and verdict.hint.step is None
    assert "sign flipped" in str(verdict)


def test_extra_factor_on_the_whole_derivative():
    verdict = compare(sg.sin(x) + x * x, x, (sg.cos(x) + 2 * x) * x)
    assert verdict.hint.kind == "extra factor" and verdict.hint.factor is x
