"""Tests for `check`'s verdicts (symgrad/verify/checking.py): a DIFFER always names a point and both
values, float constants are compared as the fractions they stand for, a symbolic result never
overrides the sampled points, and a difference in floats is confirmed at high precision."""

import math
import operator
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad.interop import sympy_worker
from symgrad.interop.sympy_bridge import NotSympyError
from symgrad.interop.sympy_worker import SympyTimeoutError
from symgrad.verify import checking
from symgrad.verify.checking import (
    check_derivative,
    compare_at_points,
    precise_value,
    simplest_fractions,
)

x, y = sg.variables("x y")
X = sp.Symbol("x", real=True)


def in_process(f, wrt, derivative):
    """check_derivative's sympy side in this process (no worker), at 8 points, no proof."""
    return checking.sympy_verdict(f, wrt, derivative, 8, 0, False, 2.0, None, "symgrad")


def test_a_float_constant_is_the_fraction_it_stands_for():
    result = sg.check(x / 3, x)
    assert result and result.proved and result.symgrad == sp.Rational(1, 3)
    assert sg.check(x * 0.1 + x / 7, x)
    assert simplest_fractions(sp.Rational(repr(2 / 3)) * X) == 2 * X / 3
    assert simplest_fractions(sp.Rational("1.234567")) == sp.Rational("1.234567")


def test_cli_check_of_x_over_3_agrees():
    run = subprocess.run([sys.executable, "-m", "symgrad", "diff", "x/3", "--wrt", "x", "--check"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "agree" in run.stdout and "DIFFER" not in run.stdout


def test_differ_names_a_point_and_both_values():
    result = check_derivative(x**3, x, 3 * x)
    assert not result and result.point is not None
    value = result.point["x"]
    assert result.values == (3 * value, 3 * value**2)
    assert str(result).startswith(f"d/dx: DIFFER at x = {value:g}: symgrad gives")


def test_a_constant_off_by_rounding_is_not_a_difference():
    # sympy sees 1e-17 as a nonzero difference; no sampled point can show it
    result = check_derivative(x * x, x, 2 * x + 1e-17)
    assert result and any("rounding" in note for note in result.notes)


def test_a_symbolic_proof_does_not_outvote_a_point():
    # outside the domain of f nothing is compared; inside, the points decide
    assert sg.check(sg.exp(sg.log(x)), x)
    wrong = check_derivative(sg.exp(sg.log(x)), x, sg.exp(sg.log(x)) / x + 1e-3)
    assert not wrong and wrong.point["x"] > 0


def test_float_cancellation_is_confirmed_at_high_precision():
    # (x + 1e12) - 1e12 loses digits in floats; at 30 digits it is x
    lossy = (x + 1e12) - 1e12
    assert not compare_at_points(lossy, X)
    confirmed = compare_at_points(lossy, X, confirm=lambda point: False)
    assert confirmed and "30-digit evaluation agrees" in confirmed.notes[0]
    result = check_derivative(x * x / 2, x, lossy)
    assert result and any("30-digit evaluation agrees" in note for note in result.notes)


def test_no_point_to_compare_is_undecided_not_differ():
    result = check_derivative(sg.log(-x * x - 1), x, 2 * x / (x * x + 1), symbolic=False)
    assert not result and result.point is None and result.values is None
    assert str(result).startswith("d/dx: UNDECIDED")


def test_check_of_a_deep_graph_by_an_unused_variable():
    f = x
    for _ in range(150):
        f = sg.sin(f)
    result = sg.check(f, y)
    assert result and result.reference == "central differences" and result.compared == 20
    assert all(r for r in sg.check(f, [x, y]))


def test_a_variable_named_like_a_function():
    s = sg.var("sin")
    result = sg.check(sg.sin(s) * s, s)
    assert result and result.proved and result.compared == 20
    assert compare_at_points(sg.sin(s), sp.sin(sp.Symbol("sin", real=True)))


def test_text_is_parsed_never_evaluated_by_sympy():
    assert compare_at_points(2 * x, "x + x")
    with pytest.raises(sg.ParseError):
        compare_at_points(x, "__import__('os').getcwd()")


def test_the_timeout_bounds_a_tree_exponentially_bigger_than_its_graph():
    # 12 levels of sin(f)*cos(f): 36 ops, written out 16,381 nodes (its derivative 380,930);
    # handed to sympy it took 18 s with a 2 s timeout
    f = x
    for _ in range(12):
        f = sg.sin(f) * sg.cos(f)
    result = sg.check(f, x, timeout=2.0)
    assert result and result.sympy is None and result.reference == "central differences"
    assert "written out as a tree has over 20,000 nodes" in result.notes[0]
    wrong = check_derivative(f, x, f.grad(x) * 1.001)
    assert not wrong and wrong.point is not None and wrong.values is not None
    small = x
    for _ in range(4):
        small = sg.sin(small) * sg.cos(small)
    assert sg.check(small, x, timeout=2.0).proved  # a small tree still goes to sympy


def test_deep_calls_from_threads_restore_the_process_settings():
    limit, stack = sys.getrecursionlimit(), threading.stack_size()
    f = x
    for _ in range(80):  # past DEEP_GRAPH: to_sympy runs on a deep stack
        f = sg.sin(f)
    errors = []

    def convert():
        try:
            for _ in range(3):
                assert sg.to_sympy(f).func is sp.sin
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=convert) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert (sys.getrecursionlimit(), threading.stack_size()) == (limit, stack)


def test_derivative_of_zero_to_a_power_by_the_exponent_is_zero():
    # d/dy 0**y = 0 for y > 0 (autograd's convention), not 0**y*log(0) = NaN
    assert sg.evaluate((sg.const(0) ** y).grad(y), {"y": 2.0}) == 0
    assert sg.evaluate(sg.gradient(sg.const(0) ** y * x, [y])[0], {"x": 3.0, "y": 0.5}) == 0


def test_check_follows_the_zero_to_a_power_convention():
    # sympy's d/dy 0**y is nan everywhere; check compares under symgrad's convention instead
    result = sg.check(sg.const(0) ** (y - 1) + y * x, y)
    assert result.ok and result.compared > 0
    assert any("0**y" in note for note in result.notes)
    assert result.sympy.subs({sp.Symbol("x", real=True): 3, sp.Symbol("y", real=True): 2}) == 3


def test_check_shows_where_symgrads_derivative_is_undefined():
    # (0**x)**x is 0**(x**2) to sympy, derivative 0 by the 0**y convention; symgrad's chain
    # rule meets log(0**x)*0 = inf*0 = nan there: a DIFFER with both values, never agreement
    result = sg.check((sg.const(0) ** x) ** x, x)
    assert not result.ok and result.point is not None
    assert np.isnan(result.values[0]) and result.values[1] == 0


def test_check_skips_points_where_a_part_of_f_is_undefined():
    # acos(x) is NaN for x < -1 and ge(x, NaN) is 0 there, so f = max(x, ...) is finite but
    # outside its domain (README): no DIFFER there, and the 30-digit value is None, not a crash
    f = sg.max(x, sg.ge(x, sg.acos(x)))
    result = sg.check(f, x, samples=8, symbolic=False)
    assert result.ok and result.compared > 0
    comparison = sp.Ge(sp.Symbol("x", real=True), sp.acos(sp.Symbol("x", real=True)))
    assert precise_value(comparison, {"x": -1.9}) is None


def test_precise_value_where_sympy_cannot_order_a_nan_is_none():
    # relu(sin(atan2(x, x))) at x = 0: atan2(0, 0) is nan to sympy, Max(0, nan) is refused
    x_real = sp.Symbol("x", real=True)
    assert precise_value(sp.Max(0, sp.sin(sp.atan2(x_real, x_real))), {"x": 0.0}) is None
    assert precise_value(sp.Max(0, sp.sin(sp.atan2(x_real, x_real))), {"x": 1.0}) == math.sqrt(
        0.5)  # sqrt(2)/2 correctly rounded


def test_check_follows_the_zero_power_convention_when_sympy_writes_zoo():
    # sympy writes 0**(-x) as zoo**x
    result = sg.check(sg.const(0) ** (-x), x)
    assert result.ok and result.compared > 0


def test_where_sympys_derivative_is_undefined_fs_slope_decides():
    # 0**(0**x) is 0**0 = 1 for every x > 0: flat, derivative 0 (symgrad's). sympy's chain rule
    # meets log(0) there and gives nan; a 30-digit central difference of f confirms the 0.
    # check said DIFFER before (found by make fuzz).
    f = sg.const(0) ** (sg.const(0) ** x)
    result = check_derivative(f, x, f.grad(x), samples=8, symbolic=False)
    assert result.ok and result.point is None and result.slopes > 0
    assert any("f's own slope" in note for note in result.notes)
    assert str(result).startswith(f"d/dx: agree (equal to f's slope at {result.slopes} points")
    # sympy simplifies 0 - select_zero(..., nan) to 0: a formula holding NaN proves nothing
    symbolic = sg.check(f, x)
    assert symbolic.ok and not symbolic.proved and "proved" not in str(symbolic).splitlines()[0]
    # a wrong derivative is still shown, with both values: f + x has slope 1, not 1.01
    g = f + x
    wrong = check_derivative(g, x, 1.01 * g.grad(x), samples=8, symbolic=False)
    assert not wrong.ok and wrong.values[0] == 1.01 and math.isnan(wrong.values[1])


def test_check_keeps_its_timeout_when_sympy_builds_a_slow_formula():
    # sympy's automatic evaluation of a comparison of Piecewise terms asked for periodicity and
    # ran for over 30 minutes (found by make fuzz): check falls back on central differences
    f = sg.parse("eq(log2(3.95*sigmoid(log1p(4.9*sigmoid(x) - 0.9)) + 0.05),"
                 " select_zero(log1p(4.9*sigmoid(x) - 0.9), 2))")
    result = check_derivative(f, x, f.grad(x), samples=8, symbolic=False, timeout=0.5)
    assert result.ok
    assert any("within the 0.5 s timeout" in note for note in result.notes)


SLOW_FOR_SYMPY = ("eq(log2(3.95*sigmoid(log1p(4.9*sigmoid(x) - 0.9)) + 0.05),"
                  " select_zero(log1p(4.9*sigmoid(x) - 0.9), 2))")


@pytest.fixture
def alarm_pending():
    """An alarm of the caller's pending (20 s: past it the test fails instead of hanging)."""

    def too_slow(signum, frame):
        raise AssertionError("check ran past its timeout")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.setitimer(signal.ITIMER_REAL, 20)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def test_check_keeps_its_timeout_with_an_alarm_pending(alarm_pending):
    # writing f out for sympy ran before the timed part, and for over 300 s; with an alarm of
    # the caller's pending there was no time limit at all
    start = time.monotonic()
    result = sg.check(sg.parse(SLOW_FOR_SYMPY), "x", timeout=2.0)
    assert time.monotonic() - start < 10
    assert result.ok and result.reference == "central differences"
    assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] < 20  # the caller's alarm, untouched


def test_check_keeps_its_timeout_in_a_thread():
    # a SIGALRM timer works in the main thread only: in a thread there was no limit at all
    results = []
    worker = threading.Thread(
        target=lambda: results.append(sg.check(sg.parse(SLOW_FOR_SYMPY), "x", timeout=0.5)),
        daemon=True,
    )
    start = time.monotonic()
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "check ran past its timeout"
    assert time.monotonic() - start < 10
    assert results[0].ok and results[0].reference == "central differences"


def test_a_sympy_that_does_not_answer_is_stopped(monkeypatch):
    # where no timer reaches sympy (C code, a deep stack's thread), its worker is stopped
    monkeypatch.setattr(checking, "answer_seconds", lambda timeout: 0.01)
    start = time.monotonic()
    results = sg.check(sg.parse(SLOW_FOR_SYMPY) + y**2, [x, y])
    assert time.monotonic() - start < 5
    for result in results:  # asked once: the second variable does not wait again
        assert result and result.reference == "central differences"
        assert result.notes[0].startswith("sympy did not answer within 0.01 s: compared with")
    monkeypatch.undo()
    assert sg.check(sg.sin(x), x).proved  # the next check has a worker again


def test_a_worker_call_is_stopped_past_its_time_and_raises_what_the_call_raised():
    start = time.monotonic()
    with pytest.raises(SympyTimeoutError, match="sympy did not answer within 0.2 s"):
        sympy_worker.run(time.sleep, 60, seconds=0.2)
    assert time.monotonic() - start < 5
    with pytest.raises(ZeroDivisionError) as caught:
        sympy_worker.run(operator.truediv, 1, 0, seconds=60)
    if sys.version_info >= (3, 11):
        assert "in the sympy worker process" in caught.value.__notes__[0]
    with pytest.raises(ModuleNotFoundError):  # this test module is not on the worker's path
        sympy_worker.run(in_process, x, x, x, seconds=60)
    assert sympy_worker.run(operator.add, 2, 3, seconds=60) == 5  # and the worker still serves


def test_check_derivative_refuses_a_sympy_f_that_is_not_sympy():
    with pytest.raises(NotSympyError, match="sympy_f takes a sympy expression or a number, got "
                                            "list holding str at"):
        check_derivative(x, x, sg.const(1), sympy_f=["__import__('os').getpid()"])


def test_a_comparison_with_sympys_unsigned_infinity_is_evaluated_not_a_crash():
    # sympy's derivative of x/ge(x, x/0) holds x >= zoo*x; numpy has no zoo, so it becomes
    # nan, and sympy refused to build nan >= ... (a TypeError out of check, found by make fuzz)
    f = x / sg.ge(x, x / 0)
    result = check_derivative(f, x, f.grad(x), samples=8, symbolic=False)
    assert not result.ok and result.point is None  # undecided: nowhere finite
    # and inside a Max, which sympy cannot order with nan (a ValueError)
    f = sg.acos(sg.max(x, x / 0))
    result = check_derivative(f, x, f.grad(x), samples=8, symbolic=False)
    assert not result.ok and result.point is None
    # lambdify's code fails and the graph cannot be built either (a NaN sympy cannot order)
    f = (x * sg.ge(x, y)) ** x
    result = check_derivative(f, x, f.grad(x), samples=8, symbolic=False)
    assert not result.ok and result.point is None


def test_a_formula_lambdify_is_slow_to_write_is_evaluated_as_a_graph(monkeypatch):
    # lambdify's printer simplifies Piecewise conditions, which took 13 s for this one
    f = sg.parse("min(logaddexp(x, acos(1.9*sigmoid(y) - 0.95)), min(x, acos(1.9*sigmoid(y)"
                 " - 0.95)))")
    monkeypatch.setattr(checking, "LAMBDIFY_SECONDS", 1e-6)  # no time at all: the graph
    result = in_process(f, x, f.grad(x))  # where the patched setting holds
    assert result.ok and result.compared == 8


def test_a_formula_evaluated_as_a_graph_gets_only_the_variables_it_uses(monkeypatch):
    # sympy's derivative of log(lt(y, y))/x is zoo/x**2: no y. Evaluated as a graph (lambdify
    # out of time), the env named y too, and evaluate refused it (found by make fuzz)
    monkeypatch.setattr(checking, "LAMBDIFY_SECONDS", 1e-6)
    f = sg.log(sg.lt(y, y)) / x
    result = in_process(f, x, f.grad(x))
    assert result.point is None
    assert compare_at_points(sg.const(2.0), sp.Integer(2), ["x", "y"]).compared == 20


def test_where_lambdifys_numpy_code_fails_the_graph_is_evaluated():
    # sympy's lambdify writes np.select with a bare True for this derivative's nested
    # Piecewise, which numpy refuses (a TypeError out of check, found by make fuzz)
    f = sg.parse("min(max(0, erfc(x)), min(eq(0.001, x), log1p(4.9*sigmoid(y) - 0.9)))")
    result = check_derivative(f, x, f.grad(x), samples=8, symbolic=False)
    assert result.ok and result.compared == 8


def test_thirty_digit_evaluation_of_a_power_stays_small():
    # the point's floats went in as exact fractions: sympy then computed
    # (81/40)**(1947189/1000000) exactly, millions of digits (24 GB, killed; found by make
    # fuzz). In a child capped at 2 GB of address space, check finishes and shows the DIFFER.
    script = """if True:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
        import symgrad as sg
        from symgrad.verify.checking import check_derivative
        x = sg.var("x")
        f = sg.parse("(3.95*sigmoid(0) + 0.05)**x")
        d = f.grad(x)
        print(check_derivative(f, x, d + 1e-3 * (1 + d * d), samples=8, symbolic=False).point)
    """
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "{'x': -1.947189}"


def test_a_wrong_derivative_of_nested_cube_roots_is_not_agreed():
    # neither formula is a real number to sympy's 30 digits at x < 0 (a cube root of a cube
    # root, by cases): no evidence against the float values, which differ
    x = sg.var("x")
    f = sg.cbrt(sg.cbrt(x))
    right = sg.diff(f, x)
    wrong = right + 0.001 * (right * right + 1)
    assert not check_derivative(f, x, wrong)
    assert check_derivative(f, x, right)
