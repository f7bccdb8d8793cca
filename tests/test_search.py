"""The accuracy search: each rewrite family on a formula it must fix, series in a regime,
regime inference, gradients by search, the API and soundness on the benchmarks."""

import math
import os
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg
from symgrad.backends.accuracy import PRECISE
from symgrad.backends.precise import precise
from symgrad.ir.graph import toposort
from symgrad.rewrite.search_rules import Simplifying, rewrites_at
from symgrad.verify.sampling import sample_points
from symgrad.verify.search import SympyAlgebra, search


def worst_bits(original: str, rewritten: sg.Tensor, ranges: dict, count: int = 24) -> float:
    """The worst bits of error of `rewritten` against the exact value of `original`."""
    f = sg.parse(original)
    names = sorted(ranges)
    columns = sample_points(names, ranges, count, seed=1)
    points = [{n: float(columns[n][i]) for n in names} for i in range(len(columns[names[0]]))]
    return max(errors[1] for errors in PRECISE.bits_of_error([f, rewritten], points))


def rewritten(formula: str, algebra=None) -> dict[str, sg.Tensor]:
    """Each row's rewrite of the formula's top node, by row name."""
    return {c.name: c.result for c in rewrites_at(sg.parse(formula), algebra or Simplifying())}


BIG = {"x": (1.0, 1e16)}
FAMILIES = [
    # (formula, ranges, row name that must fix it)
    ("sqrt(x + 1) - sqrt(x)", BIG, "p - q -> (p**2 - q**2)/(p + q)"),
    ("1/(x + 1) - 1/x", BIG, "a/b - c/d -> (a*d - c*b)/(b*d)"),
    ("cbrt(x + 1) - cbrt(x)", BIG,
     "cbrt(a) - cbrt(b) -> (a - b)/(cbrt(a)**2 + cbrt(a)*cbrt(b) + cbrt(b)**2)"),
    ("(x + 1)**(1/3) - x**(1/3)", BIG, "a**p - b**p -> b**p*expm1(p*log1p((a - b)/b))"),
    ("atan(x + 1) - atan(x)", BIG, "atan(a) - atan(b) -> atan2(a - b, 1 + a*b)"),
    ("sin(x + h) - sin(x)", {"x": (-10.0, 10.0), "h": (-1e-8, 1e-8)},
     "sin/cos/tan(a) - same(b) -> angle-sum form"),
    ("cos(x + h) - cos(x)", {"x": (-10.0, 10.0), "h": (-1e-8, 1e-8)},
     "sin/cos/tan(a) - same(b) -> angle-sum form"),
    ("tan(x + h) - tan(x)", {"x": (-1.0, 1.0), "h": (-1e-8, 1e-8)},
     "sin/cos/tan(a) - same(b) -> angle-sum form"),
    ("log(x + 1) - log(x)", BIG, "log(a) - log(b) -> log1p((a - b)/b)"),
    ("log(x + sqrt(x**2 + 1))", {"x": (-1e-3, 1e-3)},
     "log(x + sqrt(x**2 +- 1)) -> asinh(x), acosh(x)"),
    ("log(x + sqrt(x*x - 1))", {"x": (1e160, 1e300)},
     "log(x + sqrt(x**2 +- 1)) -> asinh(x), acosh(x)"),
    ("log((1 + x)/(1 - x))", {"x": (-1e-3, 1e-3)}, "log((1 + x)/(1 - x)) -> 2*atanh(x)"),
    ("2/(1 + exp(-2*x)) - 1", {"x": (-20.0, 20.0)}, "2/(1 + exp(u)) - 1 -> tanh(-u/2)"),
    ("exp(x) - 2 + exp(-x)", {"x": (-1.0, 1.0)}, "exp(a) + exp(-a) - 2 -> 4*sinh(a/2)**2"),
    ("exp(x)/expm1(x)", {"x": (-700.0, 800.0)}, "exp(x)/expm1(x) -> -1/expm1(-x)"),
    ("sqrt(exp(x))", {"x": (300.0, 1400.0)}, "sqrt(exp(x)) -> exp(x/2)"),
    # (a - b)/b = 1/x overflows below 5.6e-309; the logarithms of a and b do not
    ("(x + 1)**1e-10 - x**1e-10", {"x": (1e-320, 1e-300)},
     "a**p - b**p -> b**p*expm1(p*(log(a) - log(b)))"),
    ("x/hypot(x, y)", {"x": (5e-324, 1e-321), "y": (5e-324, 1e-321)},
     "x/hypot(x, y) -> (x/m)/hypot(x/m, y/m)"),
    ("y/hypot(x, y)", {"x": (-1e-321, -5e-324), "y": (5e-324, 1e-321)},
     "y/hypot(x, y) -> (y/m)/hypot(x/m, y/m)"),
]


@pytest.mark.parametrize(("formula", "ranges", "row"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_each_family_fixes_its_formula(formula, ranges, row):
    forms = rewritten(formula)
    assert row in forms
    assert worst_bits(formula, sg.parse(formula), ranges) > 20  # the formula loses accuracy
    assert worst_bits(formula, forms[row], ranges) <= 4


def test_quadratic_formula_conjugate_cancels_by_sympy():
    formula = "sqrt(b**2 - 4*a*c) - b"
    form = rewritten(formula, SympyAlgebra())["p - q -> (p**2 - q**2)/(p + q)"]
    assert str(form) == "-4*a*c/(b + sqrt(b**2 - 4*a*c))"
    ranges = {"a": (1e-3, 1e3), "b": (1e3, 1e8), "c": (1e-3, 1e3)}
    assert worst_bits(formula, form, ranges) <= 4 < worst_bits(formula, sg.parse(formula), ranges)


def test_the_arctangent_difference_needs_no_branch_guard():
    # atan((a - b)/(1 + a*b)) is off by pi where a*b < -1; atan2 is not
    form = rewritten("atan(x) - atan(y)")["atan(a) - atan(b) -> atan2(a - b, 1 + a*b)"]
    value = float(sg.evaluate(form, {"x": 3.0, "y": -2.0}))
    assert value == pytest.approx(math.atan(3.0) - math.atan(-2.0), rel=1e-15)
    assert worst_bits("atan(x) - atan(y)", form, {"x": (-1e3, 1e3), "y": (-1e3, 1e3)}) <= 4


def test_exact_values_of_tiny_exponentials_are_not_a_point():
    # mpmath's interval exp(2.4e-41) at 256 bits is the point 1 + x: the cancellation then
    # looked exact, and exp(x) - 2 + exp(-x) exactly 0
    f = sg.parse("exp(x) - 2 + exp(-x)")
    assert precise(toposort(f), {"x": 2.41764668e-41}).values[-1] == pytest.approx(
        2.41764668e-41**2, rel=1e-15)


def test_search_finds_a_series_in_a_regime():
    # a long series holds out to |x| = 0.7, where (tan(x) - x)/(x*tan(x)) loses 2 bits; two
    # terms hold to 0.005 only, where it loses 14
    found = search(sg.parse("1/x - 1/tan(x)"), {"x": (-1.0, 1.0)}, budget=40,
                   accuracy=PRECISE)
    assert found.steps == ["regimes"] and "x**13" in str(found.program)
    assert found.before[1] > 40 and found.after[0] < 1 and found.after[1] <= 5


def test_a_shared_factor_comes_out_so_that_a_difference_of_powers_shows():
    # the partial of (x + 1)**(1/n) - x**(1/n) by x is (1/n)*(x + 1)**p - (1/n)*x**p with
    # p = 1/n - 1: at n = 1 + 2**-52 it is 0.0 at x = 1e8 (exact -2.2e-24)
    partial = sg.gradient(sg.parse("(x + 1)**(1/n) - x**(1/n)"), sg.var("x"))
    found = search(partial, {"x": (0.0, 1e8), "n": (1.0, 10.0)}, budget=30, accuracy=PRECISE)
    assert "expm1" in str(found.program)
    n_near_1 = 1 + 2**-52
    for at, exact in ((1e8, -2.2204460381480728e-24), (5e-324, -1.652989016601586e-13),
                      (3.0, -6.387825212156989e-17)):
        with np.errstate(all="ignore"):
            value = float(sg.evaluate(found.program, {"x": at, "n": n_near_1}))
        assert value == pytest.approx(exact, rel=1e-14)


def test_the_stable_gradient_of_a_norm_holds_at_subnormals():
    x, y = sg.var("x"), sg.var("y")
    wide = {"x": (-1e300, 1e300), "y": (-1e300, 1e300)}
    partials = sg.gradient(sg.sqrt(x * x + y * y), [x, y], stable=True, ranges=wide)
    with np.errstate(all="ignore"):  # where evaluates the untaken 0/0 at the origin
        assert sg.evaluate(partials, {"x": 5e-324, "y": 5e-324}) == [
            pytest.approx(math.sqrt(0.5), rel=1e-15)] * 2
        assert sg.evaluate(partials, {"x": 0.0, "y": 0.0}) == [0.0, 0.0]
        assert sg.evaluate(partials, {"x": 3e300, "y": -4e300}) == [
            pytest.approx(0.6, rel=1e-15), pytest.approx(-0.8, rel=1e-15)]


def test_regimes_split_one_input_where_different_forms_win():
    # exp(x)/expm1(x) is inf/inf = NaN past x = 709.78, and -1/expm1(-x) = -1/inf = -0
    # below x = -709.78 (where the value is -exp(x), a subnormal down to -745): each wins on
    # one side, so the search joins them at a threshold between
    found = sg.stabilize(sg.parse("exp(x)/(exp(x) - 1)"), ranges={"x": (-740.0, 740.0)},
                         budget=40)
    program = found.program
    split = re.fullmatch(r"where\(x < (\S+), exp\(x\)/expm1\(x\), -1/expm1\(-x\)\)", str(program))
    assert split is not None
    assert -709.8 <= float(split.group(1)) <= 709.8
    for x in (-730.0, -1e-9, 1e-9, 1.0, 730.0):
        exact = math.exp(x) / math.expm1(x) if abs(x) < 700 else (1.0 if x > 0 else
                                                                  -math.exp(x))
        with np.errstate(all="ignore"):  # where evaluates both branches
            value = float(sg.evaluate(program, {"x": x}))
        assert value == pytest.approx(exact, rel=1e-14)
    assert found.before[1] > 60 and found.after[1] <= 3


def test_stable_gradient_of_one_minus_cos_over_x_squared_is_accurate_near_zero():
    x = sg.var("x")
    partial = sg.gradient((1 - sg.cos(x)) / x**2, x, stable=True)
    exact = -1e-8 / 12 + 1e-24 / 180  # -x/12 + x**3/180
    assert float(sg.evaluate(partial, {"x": 1e-8})) == pytest.approx(exact, rel=1e-14)
    assert float(sg.evaluate(partial, {"x": 2.0})) == pytest.approx(
        2 * math.sin(2.0) / 8 - 2 * (1 - math.cos(2.0)) / 8, rel=1e-13)


def test_stabilize_keeps_its_old_form_without_search_arguments():
    f = sg.parse("log(1 + exp(x))")
    assert str(sg.stabilize(f)) == "softplus(x)"
    found = sg.stabilize(f, seed=0, budget=5)
    assert str(found.program) == "softplus(x)" and found.before[1] > found.after[1]
    assert "error:" in str(found)


def test_search_is_deterministic_for_a_seed():
    f = sg.parse("1/x - 1/tan(x)")
    runs = [sg.stabilize(f, ranges={"x": (-1.0, 1.0)}, budget=30, seed=3) for _ in range(2)]
    assert runs[0].program is runs[1].program and runs[0].after == runs[1].after


def test_search_rejects_a_bad_budget_and_unmeasurable_formulas():
    with pytest.raises(ValueError, match="budget"):
        sg.stabilize(sg.parse("x + 1"), budget=-1)
    with pytest.raises(LookupError, match="exact"):
        sg.stabilize(sg.sum(sg.vector("v", 3)), budget=3)


def test_advise_finds_the_error_near_zero_and_the_search_that_fixes_it():
    # a range straddling 0: sampled by ordinals, the cancellation of 1 - cos(x) and the 0/0
    # of x**2 underflowing show, and the search's regimes fix what the table leaves
    advice = sg.advise(sg.parse("(1 - cos(x))/x**2"), ranges={"x": (-1e3, 1e3)}, count=48)
    problems = {finding.problem.split(" (")[0] for finding in advice.problems}
    assert {"cancellation", "NaN"} <= problems
    assert advice.search is not None and advice.search.after[1] <= 2 < advice.search.before[1]
    assert advice.findings[0].rule == "search: regimes"
    assert advice.findings[0].stable_form.startswith("where(x < ")


def test_cli_stabilize_searches_over_the_ranges_given(capsys):
    from symgrad.cli import main

    code = main(["stabilize", "log(n + 1) - log(n)", "--range", "n=1:1e16", "--count", "48"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and lines[1] == "stable = log1p(1/n)"
    assert lines[4] == "by: log(a) - log(b) -> log1p((a - b)/b)"
    worst = [float(line.split(", ")[1].split()[0]) for line in lines[2:4]]
    assert worst[0] > 50 and worst[1] <= 2


# --- soundness: a searched form is the same function as the benchmark it came from ----------

SOUND_BITS = 28.0
"""Bits of error (log2 of the doubles between) a searched form may have where the formula as
typed has fewer: 2**28 doubles is a relative error of 2**-24, far from a different function.
Where the formula as typed is itself further off, it is no reference and the point is not
compared."""
ZERO_SCALE = 2.0**-41
"""How far from an exact value below it a value is within rounding (as the hostile suite)."""
DEFAULT_SOUNDNESS = ("NMSE example 3.8", "NMSE problem 3.4.1")
"""The benchmarks checked under the default profile; SEARCH_SOUNDNESS=all checks every one."""


def _soundness_benchmarks():
    from bench.accuracy import BENCHMARKS

    if os.environ.get("SEARCH_SOUNDNESS") == "all":
        return BENCHMARKS
    return [b for b in BENCHMARKS if b.name in DEFAULT_SOUNDNESS]


@pytest.mark.parametrize("benchmark", _soundness_benchmarks(), ids=lambda b: b.name)
def test_searched_forms_equal_the_benchmark_at_random_points(benchmark):
    f = sg.parse(benchmark.formula)
    names = sorted(benchmark.ranges)
    variables = [sg.var(name) for name in names]
    program = sg.stabilize(f, ranges=benchmark.ranges, count=64, budget=60).program
    pairs = [(f, program)] + list(zip(sg.gradient(f, variables),
                                      sg.gradient(f, variables, stable=True,
                                                  ranges=benchmark.ranges), strict=True))
    points = st.fixed_dictionaries({name: st.floats(*benchmark.ranges[name])
                                    for name in names})

    @given(points)
    def same_function(point):
        for original, searched in pairs:
            measured = list(PRECISE.bits_of_error([original, searched], [point]))
            if measured:  # the exact value is a real number there
                typed, found = measured[0]
                if typed <= SOUND_BITS and found > SOUND_BITS:
                    # an exact value below ZERO_SCALE is matched within ZERO_SCALE: there the
                    # terms of size 1 cancel (a partial that is exactly 0 at n = 1)
                    exact = precise(toposort(original), point).values[-1]
                    with np.errstate(all="ignore"):
                        value = float(sg.evaluate(searched, point))
                    assert abs(exact) <= ZERO_SCALE and abs(value - exact) <= ZERO_SCALE, (
                        str(searched), point, typed, found)

    same_function()


def test_a_partial_that_lost_its_variable_is_measured_with_the_programs_that_kept_it():
    # log(exp(x)) - x: the stable form x - x has partial 0, the plain partial still holds x;
    # both are measured on one sample, over x too (it raised UnboundVariableError before)
    x = sg.var("x")
    partial = sg.gradient(sg.log(sg.exp(x)) - x, x, stable=True)
    assert sg.evaluate(partial, {"x": 0.5}) == 0.0
