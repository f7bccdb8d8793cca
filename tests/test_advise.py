"""advise and its oracle: bits of error as Herbie counts them, correctly rounded values from
mpmath intervals (checked against mpmath at 3,000 bits, op by op), and the table it prints."""

import math
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.backends.precise import NoPreciseFormError, precise, precise_values
from symgrad.ir.graph import toposort
from symgrad.ir.op import OPS, no_interval
from symgrad.ops.intervals import MAX_EXPONENT
from symgrad.verify.advise import bits_of_error, sample_points

x, y = sg.variables("x y")


def test_bits_of_error_counts_doubles_between():
    one = np.array([1.0])
    assert bits_of_error(one, one)[0] == 0.0
    assert bits_of_error(one, np.nextafter(one, 2.0))[0] == 1.0
    assert bits_of_error(np.array([0.0]), np.array([-0.0]))[0] == 0.0
    assert bits_of_error(np.array([math.inf]), np.array([np.finfo(float).max]))[0] == 1.0
    assert bits_of_error(np.array([math.nan]), one)[0] == 64.0
    assert bits_of_error(np.array([math.nan]), np.array([math.nan]))[0] == 0.0
    assert 61 < bits_of_error(np.array([1.0]), np.array([-1.0]))[0] <= 64


def test_precise_values_see_through_cancellation_and_overflow():
    assert precise_values(toposort(1 - sg.cos(x)), {"x": 1e-150})[-1] == 5e-301
    assert precise_values(toposort(sg.log(1 + sg.exp(x))), {"x": -700.0})[-1] == \
        float(mpmath.log1p(mpmath.exp(-700)))
    big = sg.exp(x) / (sg.exp(x) + 1)
    assert precise_values(toposort(big), {"x": 1e6})[-1] == 1.0
    assert precise_values(toposort(sg.log(sg.exp(x))), {"x": 1e6})[-1] == 1e6
    assert precise_values(toposort(sg.exp(x) - sg.exp(x)), {"x": 1e6})[-1] == 0.0
    assert math.isnan(precise_values(toposort(sg.log(x)), {"x": -1.0})[-1])
    assert math.isnan(precise_values(toposort(x / x), {"x": 0.0})[-1])


# every row states its interval form (test_op_table checks), or says it has none
SCALAR_OPS = [op for op in OPS.values() if op.interval is not no_interval]


@pytest.mark.parametrize("op", SCALAR_OPS, ids=[op.name for op in SCALAR_OPS])
def test_interval_form_of_each_op_matches_mpmath(op):
    a, b = sympy.symbols("a b", real=True)
    symbols = (a,) if op.arity == 1 else (a, b)
    reference = sympy.lambdify(symbols, op.sympy(*symbols), "mpmath")
    node = op(x) if op.arity == 1 else op(x, y)
    columns = op.sample(np.random.default_rng(1), 12)
    for values in zip(*columns):
        point = dict(zip("xy", (float(v) for v in values)))
        with mpmath.workprec(3000):
            want = reference(*[mpmath.mpf(point[n]) for n in "xy"[: op.arity]])
            want = float(want) if mpmath.im(want) == 0 else math.nan
        got = precise_values(toposort(node), point)[-1]
        assert got == want or abs(got - want) <= 1e-15 * abs(want), (op.name, point, got, want)


def test_an_op_without_an_interval_form_is_a_clear_error():
    from symgrad.ir.op import Op, registered

    strange = Op("strange_h15", 1, "np.negative(a)", lambda a: -a, lambda a, b, out: (-1,))
    with registered(strange), pytest.raises(NoPreciseFormError, match="strange_h15"):
        precise_values(toposort(strange(x)), {"x": 1.0})


def test_advise_finds_the_softplus_overflow_and_its_nan_gradient():
    advice = sg.advise(sg.log(1 + sg.exp(x)), ranges={"x": (-1000.0, 1000.0)}, count=64)
    problems = {finding.problem.split(" (")[0]: finding for finding in advice.problems}
    assert problems["overflow"].stable_form == "softplus(x)"
    assert problems["overflow"].rule == "log(1 + exp(x)) -> softplus(x)"
    low = float(problems["overflow"].where.split("[")[1].split(",")[0])
    assert 709 < low  # exp overflows from 709.78 on
    assert problems["NaN gradient"].expression == "d/dx"
    assert str(advice.stable) == "softplus(x)"
    after = sg.advise(advice.stable, ranges={"x": (-1000.0, 1000.0)}, count=64)
    assert after.problems == []
    assert after.findings[0].worst_bits <= 1.0


def test_advise_flags_cancellation_with_log1p():
    advice = sg.advise(sg.log(1 + x), ranges={"x": (1e-300, 1e-10)}, count=32)
    (problem,) = advice.problems
    assert problem.problem.startswith("cancellation (100% of points)")
    assert (problem.stable_form, problem.rule) == ("log1p(x)", "log(1 + x) -> log1p(x)")
    assert advice.findings[0].mean_bits > 50


def test_advise_flags_the_nan_gradient_of_a_norm_at_the_origin():
    advice = sg.advise(sg.sqrt(x**2 + y**2), count=16)
    at_origin = [f for f in advice.problems if f.problem.startswith("NaN gradient")]
    assert at_origin and all("x = 0" in f.where for f in at_origin)
    assert all(f.stable_form for f in at_origin)
    stable = sg.advise(sg.stabilize(sg.sqrt(x**2 + y**2)), count=16)
    assert not [f for f in stable.problems if "gradient" in f.problem]


def test_the_table_in_text_markdown_and_html():
    advice = sg.advise(sg.exp(x) / (1 + sg.exp(x)), ranges={"x": (0.0, 1000.0)}, count=16)
    text = str(advice)
    assert text.splitlines()[0].split() == ["expression", "mean", "bits", "worst", "bits",
                                            "problem", "inputs", "stable", "form", "rule"]
    assert "sigmoid(x)" in text
    assert advice.markdown().splitlines()[1] == "| --- | --- | --- | --- | --- | --- | --- |"
    html = advice._repr_html_()
    assert html.startswith("<table>") and "sigmoid" in html and "<td>" in html
    assert repr(advice).startswith("<Advice: ")


def test_sampling_defaults_and_ranges():
    points = sample_points(["x", "y"], None, count=100)
    assert len(points["x"]) == len(points["y"]) > 100
    assert points["x"][0] == points["y"][0] == 0.0  # the origin first
    magnitudes = np.log10(np.abs(points["x"][points["x"] != 0]))
    assert magnitudes.min() < -100 and magnitudes.max() > 100
    logs = sample_points(["x"], {"x": (1e-300, 1.0)}, count=200)["x"]
    assert (logs >= 1e-300).all() and (logs <= 1.0).all() and np.median(logs) < 1e-100


@pytest.mark.parametrize("ranges, message", [
    ({"z": (0.0, 1.0)}, "does not have"),
    ({"x": (2.0, 1.0)}, "low <= high"),
    ({"x": (0.0, math.inf)}, "finite"),
])
def test_bad_ranges_are_clear_errors(ranges, message):
    with pytest.raises(ValueError, match=message):
        sg.advise(x + 1, ranges=ranges)


def test_bad_count_is_a_clear_error():
    with pytest.raises(ValueError, match="count"):
        sg.advise(x + 1, count=0)


# --- the command line ----------------------------------------------------------------------


def test_cli_advise_prints_the_table(capsys):
    from symgrad.cli import main

    assert main(["advise", "log(1 + exp(x))", "--range", "x=-1000:1000", "--count", "16"]) == 0
    out = capsys.readouterr().out
    assert "log(1 + exp(x)) -> softplus(x)" in out and "NaN gradient" in out
    assert main(["advise", "exp(x) - 1", "--range", "x=1e-300:1e-20", "--count", "8",
                 "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| expression |") and "expm1" in out


@pytest.mark.parametrize("argv, message", [
    (["advise", "x + 1", "--range", "x=1"], "expected NAME=LOW:HIGH"),
    (["advise", "x + 1", "--range", "y=0:1"], "does not have"),
    (["advise", "x + 1", "--count", "0"], "count must be a positive integer"),
    (["advise", "x +"], "advise"),
])
def test_cli_advise_usage_mistakes_exit_2(capsys, argv, message):
    from symgrad.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) <= 3


@pytest.mark.parametrize("text, ranges", [
    ("exp(-exp(-x))", None),  # a gmpy2 TypeError on an exponent past a C long
    ("0**(-2**(-x))", {"x": (-1e18, -1e17)}),  # gmp aborted on 2**(3.9e17)
])
def test_advise_near_huge_exponents_reports_instead_of_crashing(text, ranges):
    # in a child, so that an abort of the interpreter fails the test instead of ending pytest
    script = f"""if True:
        import symgrad as sg
        advice = sg.advise(sg.parse({text!r}), ranges={ranges!r}, count=8)
        print(advice.findings[0].expression)
    """
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"f = {sg.parse(text)}"


def test_precise_values_past_the_exponent_bound_are_infinite_zero_or_out_of_reach():
    point = {"x": 1e200}
    assert precise_values(toposort(sg.exp(x)), point)[-1] == math.inf
    assert precise_values(toposort(sg.exp(-sg.exp(x))), point)[-1] == 0.0
    assert precise_values(toposort(sg.sigmoid(-(2**x))), point)[-1] == 0.0
    assert precise_values(toposort(sg.softplus(x)), point)[-1] == 1e200  # exact, no exp(x)
    assert precise_values(toposort(sg.erfc(sg.exp(x))), point)[-1] == 0.0
    assert math.isnan(precise_values(toposort(0 ** -(2**x)), point)[-1])  # 0**(-y): 1/0
    unreachable = precise(toposort(sg.log(sg.exp(sg.exp(x)))), {"x": 20.0})
    assert unreachable.out_of_reach[-1] and math.isnan(unreachable.values[-1])
    assert precise(toposort(sg.sin(sg.exp(x))), {"x": 1e4}).out_of_reach[-1]
    assert MAX_EXPONENT < 2**62  # mpmath exponents stay machine integers


def test_advise_stabilizes_once_and_prints_each_node_from_its_top(monkeypatch, sin_chain):
    import importlib

    module = importlib.import_module("symgrad.verify.advise")
    calls = []
    forms = module.stable_forms
    monkeypatch.setattr(module, "stable_forms", lambda *a: calls.append(1) or forms(*a))
    f = x
    for _ in range(60):
        f = sg.log(1 + sg.exp(f))
    advice = sg.advise(f, count=1)
    assert len(calls) == 2  # f's graph and its stable gradient's, not once per subexpression
    assert advice.findings[0].expression == "f = log(exp(log(... + 1)) + 1)"
    _, chain = sin_chain  # 100,000 deep: the text of a node costs the same at any depth
    assert module._short(chain) == "sin(sin(sin(sin(sin(...)))))"


def test_a_range_as_wide_as_the_doubles_is_sampled():
    points = sample_points(["x"], {"x": (-1e308, 1e308)}, count=64)["x"]
    assert np.all(np.isfinite(points)) and points.min() < -1e306 and points.max() > 1e306


def test_a_range_across_zero_is_sampled_in_every_binade():
    x = sg.var("x")
    points = sample_points(["x"], {"x": (-1.0, 1.0)}, count=256)["x"]
    tiny = np.abs(points[(points != 0)]) < 1e-100
    assert tiny.sum() > 32  # spread over the float line, as Herbie samples: many binades near 0
    advice = sg.advise((1 - sg.cos(x)) / x**2, ranges={"x": (-1.0, 1.0)})
    cancellation = [f for f in advice.problems if f.expression == "1 - cos(x)"
                    and f.problem.startswith("cancellation")]
    assert cancellation and "e-" in cancellation[0].where, str(advice)
