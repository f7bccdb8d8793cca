"""stabilize: for each row, the stable form and its gradient at extreme inputs are finite and
within 1e-12 of mpmath (at 6,000 bits, through sympy), where the original gives inf, NaN or
garbage; and a stabilized formula never moves away from the exact value (hypothesis)."""

import math

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import symgrad as sg
from symgrad.rewrite.stable_rules import STABLE_RULES

x, y, z = sg.variables("x y z")
E = sg.exp

# (row name, formula, points where the textbook formula breaks); every row appears once
CASES = [
    ("log(1 + exp(x)) -> softplus(x)", sg.log(1 + E(x)), [{"x": 1e3}, {"x": 800.0},
                                                           {"x": -50.0}]),
    ("log(sigmoid(x)) -> -softplus(-x)", sg.log(sg.sigmoid(x)), [{"x": -1e3}, {"x": -800.0}]),
    ("exp(x)/(1 + exp(x)) -> sigmoid(x)", E(x) / (1 + E(x)), [{"x": 1e3}, {"x": 710.0}]),
    ("1/(1 + exp(x)) -> sigmoid(-x)", 1 / (1 + E(x)), [{"x": 800.0}, {"x": 1e3}]),
    ("1 - sigmoid(x) -> sigmoid(-x)", 1 - sg.sigmoid(x), [{"x": 40.0}, {"x": 700.0}]),
    ("log(1 + x) -> log1p(x)", sg.log(1 + x), [{"x": 1e-300}, {"x": -1e-17}]),
    ("log(1 - x) -> log1p(-x)", sg.log(1 - x), [{"x": 1e-300}, {"x": 3e-17}]),
    ("exp(x) - 1 -> expm1(x)", E(x) - 1, [{"x": 1e-300}, {"x": -2e-17}]),
    ("1 - exp(x) -> -expm1(x)", 1 - E(x), [{"x": 1e-300}, {"x": 5e-17}]),
    ("1 - cos(x) -> 2*sin(x/2)**2", 1 - sg.cos(x), [{"x": 1e-10}, {"x": -3e-9}]),
    ("(exp(x) - exp(-x))/2 -> sinh(x)", (E(x) - E(-x)) / 2, [{"x": 1e-300}, {"x": 1e-17}]),
    ("(exp(x) - exp(-x))/(exp(x) + exp(-x)) -> tanh(x)",
     (E(x) - E(-x)) / (E(x) + E(-x)), [{"x": 800.0}, {"x": -1e3}]),
    ("1 - tanh(x)**2 -> cosh(x)**-2", 1 - sg.tanh(x) ** 2, [{"x": 20.0}, {"x": -30.0}]),
    ("tanh(x)**2 - 1 -> -cosh(x)**-2", sg.tanh(x) ** 2 - 1, [{"x": 20.0}, {"x": 25.0}]),
    ("log(exp(x)) -> x", sg.log(E(x)), [{"x": 1e3}, {"x": -800.0}]),
    ("sinh(x)*cosh(x)**k -> tanh(x)*cosh(x)**(k + 1), k <= -1",
     sg.sinh(x) * sg.cosh(x) ** -3, [{"x": 745.0}, {"x": -800.0}]),
    ("log(exp(x)/y) -> x - log(y)", sg.log(E(x) / y), [{"x": 1e3, "y": 2.0},
                                                         {"x": -800.0, "y": 0.5}]),
    ("log(exp(a) + exp(b) + ...) -> logaddexp(a, logaddexp(b, ...))",
     sg.log(E(x) + E(y) + E(z)), [{"x": 1e3, "y": 999.0, "z": 998.0},
                                  {"x": -1e3, "y": -999.0, "z": -1e3}]),
    ("logaddexp(a, b, ...) - a -> softplus(logaddexp(b - a, ...))",
     sg.log(E(x) + E(y) + E(z)) - x, [{"x": 1e3, "y": 990.0, "z": 0.0},
                                      {"x": 1e3, "y": 1e3, "z": 999.0}]),
    ("exp(a)/(exp(a) + exp(b) + ...) -> exp(a - logaddexp(a, logaddexp(b, ...)))",
     E(x) / (E(x) + E(y)), [{"x": 1e3, "y": 999.0}, {"x": -800.0, "y": -801.0}]),
    ("sqrt(x**2 + y**2 + ...) -> hypot(hypot(x, y), ...)", sg.sqrt(x**2 + y**2),
     [{"x": 1e200, "y": 3e200}, {"x": 3e-200, "y": -4e-200}, {"x": 1e200, "y": 1e200}]),
]

RELATIVE = 1e-12
TINY = 1e-307  # below the smallest normal double, a relative comparison means nothing


def exact(formula, point):
    """The value of a sympy formula at 6,000 bits, rounded to a double."""
    variables = sorted(formula.free_symbols, key=lambda s: s.name)
    function = sympy.lambdify(variables, formula, "mpmath")
    with mpmath.workprec(6000):
        value = function(*[mpmath.mpf(point[v.name]) for v in variables])
        return float(value) if mpmath.im(value) == 0 else math.nan


def close(computed, expected):
    return math.isfinite(computed) and (
        abs(computed - expected) <= RELATIVE * abs(expected) + TINY)


def values_and_gradient(f, point, stable=False):
    wrt = [v for v in (x, y, z) if v.name in point]
    with np.errstate(all="ignore"):
        return sg.evaluate([f, *sg.gradient(f, wrt, stable=stable)], point), wrt


STABLE_GRADIENT_ONLY = {"sinh(x)*cosh(x)**k -> tanh(x)*cosh(x)**(k + 1), k <= -1"}
"""Rows whose result's own gradient holds the product again: stabilize rewrites it in turn."""


TENSOR_ROWS = ["log(sum(exp(v))) -> logsumexp(v)", "exp(v)/sum(exp(v)) -> softmax(v)"]
INFINITE_ROWS = ["logaddexp(x, x) -> x + log(2)"]
"""Rows for an operand that overflowed: the value is infinite either way, the gradient not."""


def test_every_row_has_a_case():
    covered = [name for name, _, _ in CASES] + TENSOR_ROWS + INFINITE_ROWS
    assert sorted(covered) == sorted(rule.name for rule in STABLE_RULES)


def test_tensor_rows_are_exact_at_logits_of_a_thousand():
    v = sg.vector("v", 3)
    logits = np.array([1000.0, 999.0, 0.0])
    with mpmath.workprec(200):
        exponentials = [mpmath.exp(mpmath.mpf(value)) for value in logits]
        total = sum(exponentials)
        want_lse = float(mpmath.log(total))
        want_softmax = np.array([float(e / total) for e in exponentials])
    textbook_lse = sg.log(sg.sum(sg.exp(v)))
    textbook_softmax = sg.exp(v) / sg.sum(sg.exp(v))
    stable_lse, log = sg.stabilize(textbook_lse, explain=True)
    assert [r.rule for r in log] == [TENSOR_ROWS[0]]
    stable_softmax = sg.stabilize(textbook_softmax)
    assert (str(stable_lse), str(stable_softmax)) == ("logsumexp(v)", "softmax(v)")
    with np.errstate(all="ignore"):
        assert np.isinf(sg.evaluate(textbook_lse, {"v": logits}))
        assert np.isnan(sg.evaluate(textbook_softmax, {"v": logits})).any()
        value, softmax = sg.evaluate([stable_lse, stable_softmax], {"v": logits})
        gradient = sg.evaluate(sg.gradient(textbook_lse, v, stable=True), {"v": logits})
    assert abs(value - want_lse) <= 1e-12 * want_lse
    assert np.allclose(softmax, want_softmax, rtol=1e-12, atol=1e-300)
    assert np.allclose(gradient, want_softmax, rtol=1e-12, atol=1e-300)


def test_advise_takes_scalar_formulas():
    with pytest.raises(ValueError, match="scalar formulas"):
        sg.advise(sg.sum(sg.exp(sg.vector("v", 3))))


@pytest.mark.parametrize("name, formula, points", CASES, ids=[c[0] for c in CASES])
def test_row_is_exact_at_extremes_where_the_formula_is_not(name, formula, points):
    stable, log = sg.stabilize(formula, explain=True)
    assert name in [rewrite.rule for rewrite in log]
    reference = sg.to_sympy(formula)
    for point in points:
        wrt = [v for v in (x, y, z) if v.name in point]
        expected = [exact(reference, point)]
        expected += [exact(sympy.diff(reference, sg.to_sympy(v)), point) for v in wrt]
        got, _ = values_and_gradient(stable, point, stable=name in STABLE_GRADIENT_ONLY)
        for value, want in zip(got, expected, strict=True):
            assert close(value, want), (name, point, got, expected)
        before, _ = values_and_gradient(formula, point)
        assert not all(close(value, want) for value, want in zip(before, expected)), (
            "the original formula should break here", name, point, before)


@pytest.mark.parametrize("name, formula, points", CASES, ids=[c[0] for c in CASES])
def test_advise_flags_the_original_there(name, formula, points):
    for point in points:
        ranges = {name_: (value, value) for name_, value in point.items()}
        advice = sg.advise(formula, ranges=ranges, count=2)
        assert advice.problems, (name, point, str(advice))


def test_the_gradient_of_a_norm_is_zero_at_the_origin():
    stable = sg.stabilize(sg.sqrt(x**2 + y**2))
    assert str(stable) == "hypot(x, y)"
    with np.errstate(all="ignore"):
        assert sg.evaluate(sg.gradient(stable, [x, y]), {"x": 0.0, "y": 0.0}) == [0.0, 0.0]
        textbook = sg.evaluate(sg.gradient(sg.sqrt(x**2 + y**2), [x, y]), {"x": 0.0, "y": 0.0})
    assert all(math.isnan(v) for v in textbook)


def test_hypot_has_slope_0_at_the_origin():
    partial = sg.hypot(x, y).grad(x)
    assert str(partial) == "where(hypot(x, y) > 0, x/hypot(x, y), 0)"
    with np.errstate(all="ignore"):
        assert sg.evaluate(partial, {"x": 0.0, "y": 0.0}) == 0.0
    assert sg.evaluate(partial, {"x": -3.0, "y": 4.0}) == -0.6


def test_softmax_cross_entropy_becomes_logsumexp_minus_the_logit():
    loss = -sg.log(E(x) / (E(x) + E(y) + E(z)))
    assert str(sg.stabilize(loss)) == "softplus(logaddexp(y - x, z - x))"


def test_stable_partials_of_the_ops():
    # softplus' = sigmoid, logaddexp's = sigmoid(a - b) = exp(a - logaddexp(a, b)), expm1's =
    # exp: so the gradient of a stabilized formula is stable too
    assert str(sg.softplus(x).grad(x)) == "sigmoid(x)"
    assert str(sg.logaddexp(x, y).grad(x)) == "sigmoid(x - y)"
    assert sg.evaluate(sg.expm1(x).grad(x), {"x": -50.0}) == math.exp(-50.0)


def test_stabilize_leaves_stable_formulas_alone_and_keeps_sharing():
    f = sg.sin(x) * y + sg.softplus(x)
    assert sg.stabilize(f) is f
    shared = sg.log(1 + E(x))
    g, h = sg.stabilize([shared * 2, shared + y])
    assert g.children.a is h.children.a or g.children.b is h.children.a


def test_stabilize_rejects_non_tensors():
    with pytest.raises(TypeError, match="stabilize takes"):
        sg.stabilize("log(1 + exp(x))")
    with pytest.raises(TypeError, match="stabilize takes Tensors"):
        sg.stabilize([x, 3])


def test_stable_gradient_option():
    f = sg.log(1 + E(x))
    (partial,) = sg.gradient(f, [x], stable=True)
    assert str(partial) == "sigmoid(x)"
    assert str(sg.gradient(1 - sg.tanh(x), x, stable=True)) == "-cosh(x)**(-2)"


def test_softmax_over_a_sum_with_a_constant_keeps_its_value_at_extremes():
    # log(1 + exp(x) + exp(y)) once went to log1p(exp(x) + exp(y)), whose sum overflows:
    # exp(x - log1p(inf)) = 0 at x = 800, where the softmax is 1
    f = E(x) / (E(x) + E(y) + 1)
    stable = sg.stabilize(f)
    formula = sg.to_sympy(f)
    for point in ({"x": 800.0, "y": 0.0}, {"x": 0.0, "y": 800.0}, {"x": 800.0, "y": 799.0},
                  {"x": -800.0, "y": -800.0}, {"x": 1.0, "y": 2.0}):
        want = exact(formula, point)
        got = float(sg.evaluate(stable, point))
        assert abs(got - want) <= 1e-12 * abs(want) + TINY, (point, got, want)
    assert float(sg.evaluate(stable, {"x": 800.0, "y": 0.0})) == 1.0
    total = sg.stabilize(sg.log(1 + E(x) + E(y)))
    assert float(sg.evaluate(total, {"x": 800.0, "y": 0.0})) == 800.0


def _with_row_first(monkeypatch, row):
    from symgrad.rewrite import stabilize, stable_rules
    from symgrad.rewrite.engine import RuleSet

    rules = RuleSet([row, *stable_rules.STABLE_RULES], call=stabilize.STABLE_RULE_SET.call)
    monkeypatch.setattr(stabilize, "STABLE_RULE_SET", rules)


def test_a_rewrite_worse_than_the_formula_somewhere_is_not_made(monkeypatch):
    from symgrad.ops.scalar import add, exp, log, log1p, neg
    from symgrad.rewrite.rules import X
    from symgrad.rewrite.stable_rules import StableRule

    # right for x > -709, but exp(-x) overflows below: inf where log(1 + exp(x)) is 0
    row = StableRule("log(1 + exp(x)) -> x + log1p(exp(-x))", (log, (add, 1, (exp, X))),
                     (add, X, (log1p, (exp, (neg, X)))))
    _with_row_first(monkeypatch, row)
    f = sg.log(1 + E(x * y))
    stable, records = sg.stabilize(f, explain=True)
    assert str(stable) == "softplus(x*y)"  # the next row, which passes
    assert row.name not in [rewrite.rule for rewrite in records]
    wrong = StableRule("log(1 + x) -> x", (log, (add, 1, X)), X)
    _with_row_first(monkeypatch, wrong)
    assert str(sg.stabilize(sg.log(1 + sg.sin(x)))) == "log1p(sin(x))"


def _softplus_chain(levels):
    f = x
    for _ in range(levels):
        f = sg.log(1 + E(f))
    return f


def test_stabilize_walks_the_graph_once_not_once_per_rewrite(monkeypatch):
    import importlib

    module = importlib.import_module("symgrad.rewrite.stabilize")
    walked = []
    walk = module.toposort
    monkeypatch.setattr(module, "toposort", lambda roots: walked.append(walk(roots)) or walked[-1])
    stable = sg.stabilize(_softplus_chain(2000))
    assert str(stable).startswith("softplus(softplus(")
    # once over the 8,001 nodes (for the budget), then only a checked rewrite's few nodes;
    # a walk of the whole graph below each of the 2,000 rewrites is 2 million
    assert sum(map(len, walked)) < 8_100


def test_the_check_runs_once_per_distinct_rewrite(monkeypatch):
    import importlib

    module = importlib.import_module("symgrad.rewrite.stabilize")
    calls = []
    check = module.keeps_accuracy
    monkeypatch.setattr(module, "keeps_accuracy", lambda *a: calls.append(a) or check(*a))
    monkeypatch.setattr(module, "_checked", {})
    sg.stabilize(_softplus_chain(2000))
    assert len(calls) == 1  # log(1 + exp(_0)) -> softplus(_0), for all 2,000 levels


def test_stable_gradient_of_one_minus_tanh_squared_is_finite_past_overflow():
    # cosh(x)**-2 differentiates to -2*cosh(x)**-3*sinh(x): 0*inf = NaN past |x| = 710,
    # where the plain gradient -2*tanh(x)*(1 - tanh(x)**2) is 0
    for f in (1 - sg.tanh(x) ** 2, sg.tanh(x) ** 2 - 1):
        partial = sg.gradient(f, x, stable=True)
        with np.errstate(all="ignore"):
            values = [float(sg.evaluate(partial, {"x": v})) for v in (-745.0, 800.0, 0.5)]
        plain = float(sg.evaluate(sg.gradient(f, x), {"x": 0.5}))
        assert values[:2] == [0.0, 0.0] and math.isclose(values[2], plain, rel_tol=1e-15)


def test_stable_gradient_of_a_log_sum_exp_of_an_overflowed_exponent_is_finite():
    # logaddexp(a, a)'s partial sigmoid(a - a) is NaN at a = 3*y = -inf; the plain gradient is 0
    f = sg.log(E(3 * y) + E(3 * y) + 1)
    partial = sg.gradient(f, y, stable=True)
    with np.errstate(all="ignore"):
        assert float(sg.evaluate(partial, {"y": -1e308})) == 0.0
        assert float(sg.evaluate(sg.gradient(f, y), {"y": -1e308})) == 0.0
    assert math.isclose(float(sg.evaluate(partial, {"y": 0.3})),
                        float(sg.evaluate(sg.gradient(f, y), {"y": 0.3})), rel_tol=1e-15)


# --- never changes a value where both are finite --------------------------------------------

_SMALL = st.sampled_from([x, y, -x, 2 * x, x * y, x + y, sg.sin(x), x / 3])
_SHAPES = [lambda a, b: sg.log(1 + E(a)), lambda a, b: sg.log(sg.sigmoid(a)),
           lambda a, b: E(a) / (1 + E(a)), lambda a, b: 1 / (1 + E(a)),
           lambda a, b: 1 - sg.sigmoid(a), lambda a, b: sg.log(1 + a * a),
           lambda a, b: sg.log(1 - a / 10), lambda a, b: E(a) - 1, lambda a, b: 1 - E(a),
           lambda a, b: 1 - sg.cos(a), lambda a, b: (E(a) - E(-a)) / 2,
           lambda a, b: (E(a) - E(-a)) / (E(a) + E(-a)), lambda a, b: 1 - sg.tanh(a) ** 2,
           lambda a, b: sg.log(E(a) / (1 + b * b)), lambda a, b: sg.sqrt(a**2 + 3),
           lambda a, b: sg.log(E(a) + E(b) + 1), lambda a, b: E(a) / (E(a) + E(b)),
           lambda a, b: sg.sqrt(a**2 + b**2)]
_NUMBERS = st.one_of(st.floats(-50, 50), st.sampled_from([0.0, 1e-300, -1e-12, 700.0, -700.0]))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_SHAPES), _SMALL, _SMALL, st.sampled_from(_SHAPES), _NUMBERS, _NUMBERS)
def test_stabilize_never_moves_a_finite_value_away_from_the_exact_one(shape, a, b, outer,
                                                                      vx, vy):
    f = shape(a, b) * outer(b, a) + shape(b, a)
    stable = sg.stabilize(f)
    point = {"x": vx, "y": vy}
    with np.errstate(all="ignore"):
        before, after = (float(v) for v in sg.evaluate([f, stable], point))
    if not (math.isfinite(before) and math.isfinite(after)):
        return
    if math.isclose(before, after, rel_tol=1e-9, abs_tol=1e-300):
        return
    want = exact(sg.to_sympy(f), point)  # they differ: the stable form must be the closer
    assert abs(after - want) <= abs(before - want), (str(f), point, before, after, want)


def test_cli_diff_stable(capsys):
    from symgrad.cli import main

    assert main(["diff", "log(1 + exp(x))", "--stable", "--at", "x=800"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "df/dx = sigmoid(x)", "at x=800:", "  f = 800", "  df/dx = 1"]
    assert main(["diff", "sqrt(x**2 + y**2)", "--stable", "--wrt", "x", "--at", "x=0,y=0"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "  df/dx = 0"


def test_check_skips_points_where_one_side_overflowed_and_says_so():
    from symgrad.verify.checking import compare_at_points

    textbook = sg.log(1 + E(400 * x))
    result = compare_at_points(textbook, sg.softplus(400 * x))
    assert result and result.compared == 20
    assert any("one side overflowed" in note for note in result.notes)
    wrong = compare_at_points(textbook, sg.softplus(400 * x) + 1e-3)
    assert not wrong


def test_the_recurrence_bench_times_each_operation_in_a_child():
    from bench.recurrence_stability import WORKLOADS, _operations, measure

    for workload in WORKLOADS:
        f, _ = WORKLOADS[workload](3)
        assert sg.count_ops(f) > 3
        for operation in _operations():
            result = measure(workload, operation, 2, 60)
            assert set(result) == {"time"} and result["time"] > 0, (workload, operation, result)


class _Verdict:
    """An accuracy that finds every rewrite worse (`worse=True`) or never measures."""

    def __init__(self, worse):
        self.worse = worse

    def bits_of_error(self, formulas, points):
        for _ in points if self.worse else ():
            yield (0.0, 64.0)  # the formula exact, the rewrite off by everything


def test_stabilize_takes_each_rewrite_that_the_given_accuracy_accepts():
    from symgrad.rewrite import stabilize as rewrite_layer

    f = sg.log(1 + E(x))
    assert rewrite_layer.stabilize(f, accuracy=_Verdict(worse=True)) is f
    assert str(rewrite_layer.stabilize(f, accuracy=_Verdict(worse=False))) == "softplus(x)"
    # the verdicts are kept per accuracy: the exact one still takes the rewrite
    assert str(sg.stabilize(f)) == "softplus(x)"
