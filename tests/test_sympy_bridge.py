"""The sympy bridge: to_sympy and from_sympy for every op (table-driven), exact forms for the
awkward ones (relu, sigmoid, step, powers), round trips on random expressions, big and deep
inputs, unsupported functions; then check and its numeric comparer, kinks included."""

import builtins
import math
import re
import signal

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from strategies import KINKED, VARIABLES, close, expressions, points

import symgrad as sg
from symgrad.interop.sympy_bridge import NotSympyError, UnsupportedSympyError
from symgrad.ir.op import FUNCTIONS, OPS
from symgrad.verify.checking import (
    CheckResults,
    check_derivative,
    compare_at_points,
    kinked_ops,
    simplifies_to_zero,
)

x, y, z = VARIABLES
X, Y, Z = sp.symbols("x y z")  # plain symbols, as users write them
XR, YR, ZR = sp.symbols("x y z", real=True)  # what check works with
UNARY = sorted(name for name, op in OPS.items() if op.arity == 1)
BINARY = sorted(name for name, op in OPS.items() if op.arity == 2)


def sympy_value(expr, point):
    value = expr.evalf(subs={sp.Symbol(k): v for k, v in point.items()})
    if value.has(sp.zoo, sp.oo, -sp.oo, sp.nan) or not value.is_number:
        return math.nan  # poles: our side gives inf or nan there
    value = complex(value)
    return value.real if abs(value.imag) < 1e-12 else math.nan


# --- to_sympy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", UNARY)
def test_to_sympy_uses_the_op_table_unary(name):
    op = OPS[name]
    assert sg.to_sympy(sg.ir.graph.raw_node(op, x, None)) == op.sympy(X)


@pytest.mark.parametrize("name", BINARY)
def test_to_sympy_uses_the_op_table_binary(name):
    op = OPS[name]
    assert sg.to_sympy(sg.ir.graph.raw_node(op, x, y)) == op.sympy(X, Y)


def test_to_sympy_exact_forms():
    assert sg.to_sympy(sg.relu(x)) == sp.Max(X, 0)
    assert sg.to_sympy(sg.step(x)) == sp.Heaviside(X, 0)
    assert sg.to_sympy(sg.sigmoid(x)) == 1 / (1 + sp.exp(-X))
    assert sg.to_sympy(sg.abs(x)) == sp.Abs(X)
    assert sg.to_sympy(sg.sign(x)) == sp.sign(X)
    assert sg.to_sympy(sg.sqrt(x)) == sp.sqrt(X)
    assert sg.to_sympy(x / y) == X / Y
    assert str(sg.to_sympy(x**2 - 3 * y)) == "x**2 - 3*y"


def test_to_sympy_variables_are_plain_symbols_unless_asked():
    assert sg.to_sympy(x) == sp.Symbol("x") and sg.to_sympy(x).is_real is None
    # the reproducer: a user's own Symbol("x") is the bridge's x
    f = x * y + sg.sin(x) ** 2
    assert sp.diff(sg.to_sympy(f), sp.Symbol("x")) == sp.Symbol("y") + 2 * sp.sin(X) * sp.cos(X)
    assert sp.diff(sg.to_sympy(f), sp.Symbol("x")) != 0
    assert sg.to_sympy(x, real=True) == sp.Symbol("x", real=True)
    assert sg.to_sympy(sg.sqrt(x**2), real=True) == sp.Abs(sp.Symbol("x", real=True))
    assert sg.from_sympy(sg.to_sympy(f, real=True)) is f


def test_to_sympy_numbers():
    assert sg.to_sympy(sg.const(2)) == sp.Integer(2)
    assert sg.to_sympy(sg.const(0.1)) == sp.Float(0.1)
    assert sg.to_sympy(0.1 * x, rational=True) == X / 10
    assert sg.to_sympy(sg.const(float("inf"))) == sp.oo


def test_to_sympy_atan2_of_a_non_real_number_is_nan_not_a_hang():
    # sympy's own atan2(acos(E), 0) never returns (found by the round-trip property, seed
    # 31); symgrad's values are real, so a non-real number operand is NaN, as in numpy
    def too_slow(*_):
        raise TimeoutError("to_sympy took over 20 s")

    acos_e = sg.acos(sg.exp(sg.const(1)))
    previous = signal.signal(signal.SIGALRM, too_slow)  # a regression fails, not hangs
    signal.alarm(20)
    try:
        for t in (sg.atan2(acos_e, 0), sg.atan2(acos_e, acos_e), sg.atan2(1, acos_e)):
            assert sg.to_sympy(t) is sp.nan
            with np.errstate(invalid="ignore"):  # acos(e) is NaN, as intended
                assert math.isnan(sg.evaluate(t, {}))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert sg.to_sympy(sg.atan2(sg.acos(x + 3), 0)) == sp.atan2(sp.acos(X + 3), 0)
    assert sg.to_sympy(sg.atan2(1, sg.const(2))) == sp.atan(sp.Rational(1, 2))


def test_to_sympy_rejects_arrays_and_non_tensors():
    with pytest.raises(TypeError, match="array constant"):
        sg.to_sympy(x * sg.const(np.array([1.0, 2.0])))
    with pytest.raises(TypeError, match="to_sympy takes a Tensor"):
        sg.to_sympy("x")


def test_to_sympy_shares_work_and_is_fast_on_long_sums():
    names = sg.variables(" ".join(f"v{i}" for i in range(3000)))
    total = names[0]
    for v in names[1:]:
        total = total + v
    expr = sg.to_sympy(total)
    assert len(expr.args) == 3000


def test_to_sympy_deep_chain_is_iterative():
    t = x
    for _ in range(3000):
        t = t * y + 1
    expr = sg.to_sympy(t)  # 3000 levels: our loop does not recurse (sympy may, elsewhere)
    assert expr.func is sp.Add


# --- from_sympy -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_from_sympy_inverts_every_function(name):
    op = FUNCTIONS[name]
    if op.arity == 1:
        assert sg.from_sympy(op.sympy(X)) is op(x)
        assert sg.from_sympy(op.sympy(X + Y)) is op(x + y)
    else:  # sympy may reorder (z < x + y for x + y > z): equal values at domain points
        assert sg.from_sympy(op.sympy(X, Y)) is op(x, y)
        a, b = op.sample(np.random.default_rng(0), 20)
        at = {"x": a - 0.25, "y": np.full(20, 0.25), "z": b}
        expected = sg.evaluate(op(x + y, z), at)
        assert close(sg.evaluate(sg.from_sympy(op.sympy(X + Y, Z)), at), expected)


@pytest.mark.parametrize(
    "expr, text",
    [
        (1 / X, "1/x"),
        (X**-2, "1/x**2"),
        (X / Y, "x/y"),
        (X * Y / Z, "x*y/z"),
        (2 * X / (3 * Y**3), "2*x/(3*y**3)"),
        (-X / 2, "-x/2"),
        (sp.Rational(3, 2) * X, "3*x/2"),
        (sp.sqrt(X), "sqrt(x)"),
        (1 / sp.sqrt(X), "1/sqrt(x)"),
        (X ** sp.Rational(3, 2), "x**(3/2)"),  # rationals stay exact
        (X**Y, "x**y"),
        (X + Y + Z, "x + y + z"),
        (X - Y - Z, "x - y - z"),
        (-X - Y, "-x - y"),
        (X**2 + 2 * X + 1, "2*x + x**2 + 1"),  # symgrad's order: by degree, numbers last
        (2.5 * X, "2.5*x"),
        (sp.Max(X, 0), "relu(x)"),
        (sp.Max(0, X - 1), "relu(x - 1)"),
        (sp.Heaviside(X, 0), "step(x)"),
        (1 / (1 + sp.exp(-X)), "sigmoid(x)"),
        (1 / (1 + sp.exp(X)), "sigmoid(-x)"),
        (sp.exp(-X) / (1 + sp.exp(-X)) ** 2, "exp(-x)/(exp(-x) + 1)**2"),
        (sp.Abs(X) * sp.sign(Y), "abs(x)*sign(y)"),
        (sp.log(X), "log(x)"),
        (sp.Integer(7), "7"),
        (sp.Rational(1, 4), "1/4"),
    ],
)
def test_from_sympy_forms(expr, text):
    assert str(sg.from_sympy(expr)) == text


@pytest.mark.parametrize(
    "expr",
    [
        sp.Heaviside(X),
        sp.Heaviside(X, 1),
        sp.Max(X, Y),
        sp.Max(X, Y, 1),
        sp.Min(X, Y),
        sp.cosh(X),
        sp.sinh(X),
        sp.sech(X),
        sp.cot(X),
        sp.sec(X),
        sp.csc(X),
        sp.pi * X + sp.E,
        sp.log(X, 2),
    ],
)
def test_from_sympy_functions_without_an_op_keep_values(expr):
    graph = sg.from_sympy(expr)
    for xv, yv in [(0.0, 0.0), (0.7, -1.3), (-0.4, 2.0), (1.0, 1.0)]:
        point = {"x": xv, "y": yv}
        with np.errstate(all="ignore"):
            ours = sg.evaluate(graph, point)
        expected = sympy_value(expr, point)
        assert close(ours, expected) or (math.isnan(expected) and not math.isfinite(ours))


def test_from_sympy_heaviside_keeps_its_value_at_zero():
    assert sg.evaluate(sg.from_sympy(sp.Heaviside(X)), {"x": 0.0}) == 0.5
    assert sg.evaluate(sg.from_sympy(sp.Heaviside(X, 1)), {"x": 0.0}) == 1.0
    assert sg.evaluate(sg.from_sympy(sp.Heaviside(X, 0)), {"x": 0.0}) == 0.0


def test_from_sympy_accepts_plain_symbols_and_text():
    assert sg.from_sympy(sp.Symbol("x")) is x
    assert sg.from_sympy("x*y + 1") is x * y + 1


@pytest.mark.parametrize(
    "expr, name",
    [
        (sp.besselj(2, X), "besselj"),  # orders 0 and 1 are j0, j1
        (sp.Function("f")(X), "f"),
        (sp.Function("g")(X) + sp.sin(X), "g"),
        (sp.Derivative(sp.Function("f")(X), X), "Derivative"),
        (sp.LambertW(X, -1), "LambertW"),  # the principal branch is lambertw
        (sp.frac(X), "frac"),
        (sp.DiracDelta(X), "DiracDelta"),
    ],
)
def test_from_sympy_unsupported_function_is_named(expr, name):
    with pytest.raises(UnsupportedSympyError) as caught:
        sg.from_sympy(expr)
    assert isinstance(caught.value, ValueError)
    assert caught.value.name == name
    assert str(caught.value).startswith(f"sympy function {name!r} has no symgrad op")


# Text that, run as Python, leaves a mark: sympy's sympify would run it
MARK = "symgrad_test_payload_ran"
PAYLOAD = f"__import__('builtins').setattr(__import__('builtins'), {MARK!r}, 1)"


@pytest.fixture
def payload_never_runs():
    yield
    ran = getattr(builtins, MARK, None)
    if ran is not None:
        delattr(builtins, MARK)
    assert ran is None, "the payload text was run as Python"


@pytest.mark.parametrize(
    "value, found",
    [
        ((PAYLOAD,), "tuple holding str at [0]"),
        ([1, [PAYLOAD]], "list holding str at [1][0]"),
        ({PAYLOAD: 1}, "dict holding str at [key 0]"),
        ({"formula": {"f": PAYLOAD}}, "dict holding str at [key 0]"),
        (frozenset({PAYLOAD}), "frozenset holding str at {...}"),
        ((X, 2.5), "tuple"),
    ],
)
def test_text_inside_a_container_never_reaches_sympify(value, found, payload_never_runs):
    expected = f"from_sympy takes a sympy expression, a number or formula text, got {found}"
    with pytest.raises(NotSympyError, match=re.escape(expected) + "$"):
        sg.from_sympy(value)
    with pytest.raises(NotSympyError, match="compare_at_points takes a sympy expression, a"):
        compare_at_points(x, value)
    with pytest.raises(NotSympyError, match="kinks takes a sympy expression"):
        compare_at_points(x, X, kinks=[value])
    with pytest.raises(NotSympyError, match="domain takes a sympy expression"):
        compare_at_points(x, X, domain=[value])
    assert isinstance(NotSympyError("?"), TypeError)


def test_objects_that_convert_themselves_are_refused_unrun():
    called = []

    class Converts:
        def _sympy_(self):
            called.append("_sympy_")
            return sp.Integer(1)

        def __float__(self):
            called.append("__float__")
            return 1.0

    class Number(float):  # a float whose conversion is code of its own
        def __float__(self):
            called.append("__float__")
            return 1.0

    for value in (Converts(), Number(2.0), [Converts()]):
        with pytest.raises(NotSympyError, match="got (Converts|Number|list holding Converts)"):
            sg.from_sympy(value)
        with pytest.raises(NotSympyError):
            compare_at_points(x, value)
    assert called == []
    # plain numbers, numpy's among them, still convert
    assert sg.from_sympy(np.float64(0.5)) is sg.const(0.5)
    assert sg.from_sympy(np.int32(3)) is sg.const(3)
    assert compare_at_points(sg.const(2.0), 2).compared == 20


def test_names_in_a_sympy_formula_are_never_written_out_as_code(payload_never_runs):
    # lambdify writes a symbol's or an undefined function's name into the code it runs
    named = sp.Symbol(PAYLOAD, real=True)
    with pytest.raises(ValueError, match="not among the variables x"):
        compare_at_points(x, XR + named, ["x"])
    assert not compare_at_points(x, sp.Function(PAYLOAD)(XR)).compared  # no values: unknown
    with pytest.raises(NotSympyError, match="holds a str as an argument of Basic"):
        sg.from_sympy(sp.Basic.__new__(sp.Basic, PAYLOAD))  # sympy's Basic keeps text as is


def test_from_sympy_rejects_complex_numbers():
    with pytest.raises(ValueError, match="not a real number"):
        sg.from_sympy(X + sp.I)


def test_from_sympy_deep_unevaluated_trees_do_not_recurse():
    expr = X
    for _ in range(5000):
        expr = sp.Add(sp.sin(expr, evaluate=False), sp.Mul(-2, X, evaluate=False), evaluate=False)
    graph = sg.from_sympy(expr)
    assert sg.count_ops(graph) == 10_001
    expr = X
    for _ in range(5000):
        expr = sp.Mul(expr, sp.Pow(X, -2, evaluate=False), evaluate=False)
    assert sg.count_ops(sg.from_sympy(expr)) == 5_001


def test_from_sympy_wide_sum():
    symbols = sp.symbols("w0:3000", real=True)
    graph = sg.from_sympy(sp.Add(*symbols))
    assert sg.count_ops(graph) == 2999


@given(expressions(smooth=False), points())
def test_round_trip_keeps_values(e, point):
    back = sg.from_sympy(sg.to_sympy(e))
    with np.errstate(all="ignore"):
        assert close(sg.evaluate(back, point), sg.evaluate(e, point), rtol=1e-9)


@settings(max_examples=25)
@given(expressions(smooth=True), points())
def test_to_sympy_values_match_sympy_evaluation(e, point):
    expected = sg.evaluate(e, point)
    assert close(sympy_value(sg.to_sympy(e), point), expected, rtol=1e-7)


# --- the numeric comparer ---------------------------------------------------------------------


def test_kinked_ops_come_from_the_op_table():
    assert {op.name for op in kinked_ops()} == {name for name in KINKED if OPS[name].kinks}


def test_compare_at_points_agrees_on_equal_formulas():
    result = compare_at_points(sg.sin(x) ** 2, 1 - sp.cos(X) ** 2)
    assert result and result.compared == 20 and result.point is None


def test_compare_at_points_finds_a_wrong_pair():
    result = compare_at_points(2 * sg.cos(x), sp.diff(2 * sp.sin(X) + X, X))
    assert not result
    ((name, value),) = result.point.items()
    assert name == "x"
    assert result.values[0] == pytest.approx(2 * math.cos(value))
    assert result.values[1] == pytest.approx(2 * math.cos(value) + 1)


def test_compare_at_points_two_tensors():
    assert compare_at_points(x * x, x**2)
    assert not compare_at_points(x * y, x + y)


def test_compare_at_points_one_side_undefined_is_a_difference():
    result = compare_at_points(sg.log(x), sp.log(sp.Abs(XR)))
    assert not result and result.point["x"] < 0


def test_compare_at_points_skips_kinks():
    # equal everywhere except at x = 0, where the conventions differ
    assert compare_at_points(sg.step(x), sp.Heaviside(XR))
    everywhere_kink = compare_at_points(sg.step(x - x), sp.Heaviside(0))
    assert everywhere_kink.ok and everywhere_kink.compared == 0
    assert "sits on a kink" in everywhere_kink.notes[0]


def test_simplifies_to_zero_is_guarded():
    # A generous timeout: the proof itself is what is tested, not the machine's speed.
    assert simplifies_to_zero(sp.sin(XR) ** 2 + sp.cos(XR) ** 2 - 1, timeout=60) is True
    assert simplifies_to_zero(sp.Integer(2)) is False
    huge = sum(sp.sin(i * XR) ** 2 for i in range(1, 80)) - sum(
        1 - sp.cos(i * XR) ** 2 for i in range(1, 80)
    )
    assert simplifies_to_zero(huge, timeout=1.0) is None  # too big to hand to sympy.simplify


# --- check ------------------------------------------------------------------------------------


def test_check_agrees_and_proves():
    result = sg.check(sg.sin(x) * y, x)
    assert result and result.ok and result.proved
    assert result.wrt == "x" and result.point is None and result.values is None
    assert result.symgrad == YR * sp.cos(XR)
    assert result.sympy == YR * sp.cos(XR)
    assert str(result).startswith("d/dx: agree (proved symbolically; equal at 20 random points)")


def test_check_classic_formulas():
    for f in [
        sg.sigmoid(x),
        sg.tanh(x) * y,
        sg.log(1 + sg.exp(x)),
        x**x,
        sg.sqrt(x * x + y * y),
        sg.exp(x) / (sg.exp(x) + sg.exp(y)),
        sg.relu(x * y - 1) * sg.sigmoid(y),
    ]:
        assert sg.check(f, [x, y]), f


def test_check_list_of_variables():
    results = sg.check(x * y + sg.sin(z), [x, y, z])
    assert isinstance(results, CheckResults) and results and results.ok
    assert [r.wrt for r in results] == ["x", "y", "z"]
    assert len(results) == 3 and results[2].sympy == sp.cos(ZR)
    assert str(results).count("agree") == 3


def test_check_accepts_text_and_names():
    assert sg.check("x*y + sin(x)", "x")


def test_check_relu_notes_the_heaviside_convention():
    result = sg.check(sg.relu(x), x)
    assert result.ok
    assert any("Heaviside(0) = 1/2" in note for note in result.notes)
    assert result.sympy == sp.Heaviside(XR, 0)


def test_check_step_and_sign_note_dirac_delta():
    result = sg.check(sg.step(x) + sg.sign(x), x)
    assert result.ok and result.sympy == 0
    assert any("DiracDelta" in note for note in result.notes)


def test_check_kink_everywhere_is_a_convention_not_a_failure():
    assert sg.check(sg.relu(x - x) * x, x)
    assert sg.check(sg.abs(x * 0 + y - y) + x, x)


def test_a_wrong_derivative_is_not_truthy():
    f = x**3 + sg.sin(x) * y
    wrong = 3 * x**2 + sg.cos(x)  # dropped the factor y
    result = check_derivative(f, x, wrong, label="claimed")
    assert not result and result.ok is False
    assert set(result.point) == {"x", "y"}
    xv, yv = result.point["x"], result.point["y"]
    assert result.values[0] == pytest.approx(3 * xv**2 + math.cos(xv))
    assert result.values[1] == pytest.approx(3 * xv**2 + math.cos(xv) * yv)
    text = str(result)
    assert text.startswith("d/dx: DIFFER at x = ")
    assert "claimed gives" in text and "\n  claimed: 3*x**2 + cos(x)\n" in text


def test_a_wrong_derivative_at_a_kink_only_is_a_convention():
    # relu'(0) = 1 instead of 0 differs only on the kink: reported as a note, not as an error
    result = check_derivative(sg.relu(x), x, sg.step(x) + (1 - sg.abs(sg.sign(x))))
    assert result


def test_check_result_on_sympy_failure_is_clear():
    with pytest.raises(TypeError, match="check takes a Tensor"):
        sg.check(3, x)
    with pytest.raises(TypeError, match="variables or names"):
        sg.check(x * y, x * y)


@settings(max_examples=30)
@given(expressions(smooth=True))
def test_check_is_truthy_for_smooth_expressions(e):
    result = sg.check(e, x, timeout=0.5)
    assert result, str(result)


@settings(max_examples=30)
@given(expressions(smooth=False))
def test_check_is_truthy_for_kinked_expressions(e):
    result = sg.check(e, [x, y], timeout=0.5)
    assert result, str(result)


# --- big and deep graphs ----------------------------------------------------------------------


def test_to_sympy_of_a_deep_function_chain_runs_sympy_on_a_deep_stack():
    t = x
    for _ in range(400):
        t = sg.sin(t)
    expr = sg.to_sympy(t)  # sympy's sin() recurses per level; it gets a big stack
    assert expr.func is sp.sin
    assert sg.from_sympy(expr) is t


def test_check_of_a_moderately_deep_graph_uses_sympy():
    f = x
    for _ in range(30):
        f = sg.sin(f) + y
    result = sg.check(f, x)
    assert result and result.proved and result.sympy is not None
    assert "sin(y + sin(y + " in str(result)


def test_check_of_a_graph_too_big_for_sympy_uses_central_differences():
    from symgrad.verify.checking import SYMPY_MAX_DEPTH

    f = x
    for _ in range(1000):
        f = sg.relu(f * y) + sg.tanh(x)
    assert sg.ir.graph.count_ops(f) > SYMPY_MAX_DEPTH
    results = sg.check(f, [x, y])
    assert results
    for result in results:
        assert result.sympy is None and result.reference == "central differences"
        assert "compared with central differences" in result.notes[0]
    wrong = check_derivative(f, x, f.grad(x) + 1e-2 * sg.tanh(x) ** 2)
    assert not wrong and wrong.point is not None
    assert "central differences give" in str(wrong)


def test_central_difference():
    from symgrad.verify.checking import central_difference

    derivative = central_difference(sg.sin(x) * y, "x")
    values = derivative({"x": np.array([0.3, -1.2]), "y": np.array([2.0, 2.0])})
    assert np.allclose(values, 2 * np.cos([0.3, -1.2]), rtol=1e-8)
