"""The special-function rows (symgrad.ops.special): what the table-driven tests in test_ops,
test_parse, test_sympy_bridge and test_backends cannot say for every op at once: the
derivative formulas as written, the sympy names both ways, values to 30 digits, the order of
polygamma, conventions at the jumps, and which ops compile with numba."""

import math

import mpmath
import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad.backends import kernels
from symgrad.ops import intervals, scalar, special

X, Y = sp.symbols("x y")
x, y = sg.variables("x y")

SPECIAL_OPS = sorted(name for name, op in sg.OPS.items()  # the rows special.py declares
                     if getattr(special, name, None) is op and getattr(scalar, name, None) is None)
NUMPY_ONLY = {"polygamma", "lambertw"}  # scipy exports no double C function for these


def test_every_function_of_the_issue_is_an_op():
    wanted = ("sec csc cot asec acsc acot sech csch coth asech acsch acoth lgamma gamma digamma "
              "polygamma beta gammainc logit xlogy xlog1py entr logaddexp2 hypot cbrt exp2 "
              "sinc erfinv erfcinv erfcx ndtri log_ndtr i0 i1 j0 j1 lambertw mod floor ceil")
    assert sorted(wanted.split()) == SPECIAL_OPS
    for name in SPECIAL_OPS:
        assert getattr(sg, name) is sg.OPS[name]
    assert sg.expit is sg.sigmoid and sg.parse("expit(x)") is sg.sigmoid(x)
    assert sg.sign is sg.OPS["sign"]


@pytest.mark.parametrize("name", SPECIAL_OPS)
def test_each_op_compiles_with_numba_or_is_a_declared_numpy_fallback(name):
    # Coverage fails, never skips: a new op without a numba form must be named here.
    compiled = kernels.scalar_source(sg.OPS[name]) is not None
    assert compiled == (name not in NUMPY_ONLY), name


@pytest.mark.parametrize("f, expected", [
    (lambda: sg.lgamma(x), "digamma(x)"),
    (lambda: sg.digamma(x), "polygamma(1, x)"),
    (lambda: sg.polygamma(2, x), "polygamma(3, x)"),
    (lambda: sg.gamma(x), "digamma(x)*gamma(x)"),
    (lambda: sg.erfinv(x), "exp(erfinv(x)**2)*sqrt(pi)/2"),
    (lambda: sg.i0(x), "i1(x)"),
    (lambda: sg.j0(x), "-j1(x)"),
    (lambda: sg.lambertw(x), "exp(-lambertw(x))/(lambertw(x) + 1)"),
    (lambda: sg.floor(x), "0"),
    (lambda: sg.ceil(x), "0"),
    (lambda: sg.sign(x), "0"),
    (lambda: sg.logit(x), "1/(x*(1 - x))"),
    (lambda: sg.mod(x, y), "1"),
])
def test_derivatives_are_symgrad_expressions(f, expected):
    assert str(f().grad(x)) == expected


def test_derivatives_differentiate_again():
    second = sg.gradient(sg.gradient(sg.lgamma(x), x), x)
    assert str(second) == "polygamma(1, x)"
    assert sg.evaluate(second, {"x": 1.0}) == pytest.approx(math.pi**2 / 6, rel=1e-15)
    assert sg.evaluate(sg.mod(x, y).grad(y), {"x": 7.0, "y": 2.0}) == -3.0


@pytest.mark.parametrize("expr, name", [
    (sp.loggamma(X), "lgamma"), (sp.gamma(X), "gamma"), (sp.digamma(X), "digamma"),
    (sp.polygamma(2, X), "polygamma"), (sp.beta(X, Y), "beta"), (sp.besseli(0, X), "i0"),
    (sp.besseli(1, X), "i1"), (sp.besselj(0, X), "j0"), (sp.besselj(1, X), "j1"),
    (sp.LambertW(X), "lambertw"), (sp.erfinv(X), "erfinv"), (sp.erfcinv(X), "erfcinv"),
    (sp.Mod(X, Y), "mod"), (sp.floor(X), "floor"), (sp.ceiling(X), "ceil"),
    (sp.sign(X), "sign"), (sp.sec(X), "sec"), (sp.acoth(X), "acoth"),
    (sp.lowergamma(X, Y) / sp.gamma(X), "gammainc"),
])
def test_sympy_names_map_both_ways(expr, name):
    graph = sg.from_sympy(expr)
    assert graph.op is sg.OPS[name]
    at = {X: sp.Rational(3, 10), Y: sp.Rational(17, 10)}
    back = sg.to_sympy(graph).subs({sp.Symbol("x"): at[X], sp.Symbol("y"): at[Y]})
    # (sympy evaluates erfcinv only as erfinv(1 - x))
    assert abs(sp.N(back - expr.subs(at).rewrite(sp.erfinv), 30)) < 1e-28


def test_gammainc_of_a_number_goes_through_sympy_and_back():
    # sympy evaluates gamma(2.25) in lowergamma(2.25, x)/gamma(2.25) to a float
    f = sg.gammainc(2.25, x)
    back = sg.from_sympy(sg.to_sympy(f))
    at = {"x": np.array([0.0, 0.5, 3.0])}
    assert np.allclose(sg.evaluate(back, at), sg.evaluate(f, at), rtol=1e-14, atol=0)


def test_polygamma_of_order_zero_is_digamma():
    assert sg.polygamma(0, x) is sg.digamma(x)
    assert sg.from_sympy(sp.polygamma(0, X)) is sg.digamma(x)


@pytest.mark.parametrize("order", [-1, 0.5, 2.25, "pi", "nan"])
def test_polygamma_takes_a_non_negative_integer_order(order):
    constant = {"pi": sg.pi, "nan": sg.const(math.nan)}.get(order, order)
    with pytest.raises(special.PolygammaOrderError, match="order n = 0, 1, 2"):
        sg.polygamma(constant, x)
    with pytest.raises(sg.ParseError, match="order n = 0, 1, 2"):
        sg.parse(f"polygamma({order}, x)")


def test_polygamma_has_no_derivative_in_its_order():
    n = sg.var("n")
    with pytest.raises(ValueError, match="polygamma has no derivative in operand 0"):
        sg.gradient(sg.polygamma(n, x), n)
    values = sg.evaluate(sg.polygamma(n, x), {"n": np.array([1.0, 1.5, -1.0]), "x": 2.0})
    assert values[0] == pytest.approx(math.pi**2 / 6 - 1, rel=1e-14)
    assert np.isnan(values[1:]).all()  # an order that is no non-negative integer: NaN


def test_gammainc_has_a_derivative_in_x_only():
    a = sg.var("a")
    with pytest.raises(ValueError, match="gammainc has no derivative in operand 0"):
        sg.gradient(sg.gammainc(a, x), a)
    slope = sg.gammainc(2.5, x).grad(x)
    expected = mpmath.diff(lambda t: mpmath.gammainc(2.5, 0, t, regularized=True), 1.3)
    assert sg.evaluate(slope, {"x": 1.3}) == pytest.approx(float(expected), rel=1e-14)


# (op, point, mpmath's value at 30 digits)
THIRTY_DIGITS = [
    ("lgamma", 1e-300, lambda v: mpmath.loggamma(v)),
    ("lgamma", 1e10, lambda v: mpmath.loggamma(v)),
    ("gamma", 0.5, lambda v: mpmath.gamma(v)),
    ("digamma", 1e-3, lambda v: mpmath.digamma(v)),
    ("erfinv", 0.999999, lambda v: mpmath.erfinv(v)),
    ("erfcinv", 1e-100, lambda v: mpmath.erfinv(1 - v)),
    ("erfcx", 30.0, lambda v: mpmath.exp(v**2) * mpmath.erfc(v)),
    ("ndtri", 1e-20, lambda v: mpmath.sqrt(2) * mpmath.erfinv(2 * v - 1)),
    ("log_ndtr", -40.0, lambda v: mpmath.log(mpmath.ncdf(v))),
    ("i0", 50.0, lambda v: mpmath.besseli(0, v)),
    ("j1", 7.0, lambda v: mpmath.besselj(1, v)),
    ("lambertw", -0.3, lambda v: mpmath.lambertw(v)),
    ("lambertw", 1e6, lambda v: mpmath.lambertw(v)),
    ("acsch", 1e-200, lambda v: mpmath.acsch(v)),
    ("cbrt", -27.0, lambda v: -mpmath.cbrt(-v)),
    ("logit", 1e-12, lambda v: mpmath.log(v / (1 - v))),
    ("entr", 1e-300, lambda v: -v * mpmath.log(v)),
    ("sinc", 1e-8, lambda v: mpmath.sinpi(v) / (mpmath.pi * v)),
]


@pytest.mark.parametrize("name, point, reference", THIRTY_DIGITS,
                         ids=[f"{row[0]}({row[1]})" for row in THIRTY_DIGITS])
def test_values_agree_with_mpmath_at_high_precision(name, point, reference):
    with mpmath.workdps(130):  # erfcinv(1e-100) needs 1 - 1e-100 exactly
        exact = float(mpmath.re(reference(mpmath.mpf(point))))
    assert sg.evaluate(sg.OPS[name](x), {"x": point}) == pytest.approx(exact, rel=4e-15)


def test_lambertw_is_nan_below_its_branch_point_and_real_above():
    values = sg.evaluate(sg.lambertw(x), {"x": np.array([-0.5, -1 / math.e + 1e-9, 0.0, math.e])})
    assert math.isnan(values[0]) and values[1] == pytest.approx(-1, abs=1e-4)
    assert values[2:].tolist() == [0.0, 1.0]


def test_piecewise_constant_ops_have_zero_derivative_at_their_jumps():
    at = {"x": np.array([-1.0, 0.0, 2.0, 2.5])}
    for op in (sg.floor, sg.ceil, sg.sign):
        assert sg.evaluate(sg.gradient(op(x) * x, x), at).tolist() == \
            sg.evaluate(op(x), at).tolist()
    assert sg.evaluate(sg.mod(x, y), {"x": np.array([-7.0, 7.0]), "y": 3.0}).tolist() == [2, 1]
    assert sg.to_sympy(sg.mod(x, 0)) is sp.nan  # as numpy's mod by 0 (sympy's Mod raises)
    with np.errstate(invalid="ignore"):
        assert math.isnan(sg.evaluate(sg.mod(x, 0), {"x": 1.0}))


def test_xlogy_is_zero_where_its_first_operand_is_and_its_slope_is_log_y():
    assert sg.evaluate(sg.xlogy(x, y), {"x": 0.0, "y": 0.0}) == 0.0
    dx, dy = sg.gradient(sg.xlogy(x, y), [x, y])
    assert sg.evaluate([dx, dy], {"x": 0.0, "y": 2.0}) == [math.log(2.0), 0.0]


def test_numpy_only_ops_fall_back_clearly():
    with pytest.raises(sg.backends.numba_backend.BackendUnavailableError, match="lambertw"):
        sg.lambdify([x], sg.lambertw(x) * 2, backend="numba")
    f = sg.lambdify([x], sg.lambertw(x) * 2, backend="auto")
    assert f(math.e) == pytest.approx(2.0)


def test_check_and_printing_carry_the_new_ops():
    f = sg.lgamma(x) + sg.xlogy(y, x) + sg.i0(x * y) + sg.floor(x) * y
    assert bool(sg.check(f, [x, y]))
    jumps = sg.check(sg.floor(x * y) * x + sg.ceil(y) * sg.mod(y, sg.beta(x, x)), [x, y])
    assert bool(jumps) and "floor' = ceil' = 0" in str(jumps) and "Subs" not in str(jumps)
    assert sg.latex(sg.lgamma(x)) == r"\log{\Gamma\left(x\right)}"
    assert sg.latex(sg.polygamma(1, x)) == r"\psi^{\left(1\right)}{\left(x \right)}"
    assert sg.latex(sg.floor(x)) == r"\left\lfloor{x}\right\rfloor"


def test_the_command_line_lists_and_differentiates_them(capsys):
    from symgrad.cli import build_parser, main

    listed = build_parser().format_help()
    for name in [*SPECIAL_OPS, "expit"]:
        assert name in listed, name
    assert main(["diff", "lgamma(x) + erfinv(y)", "--wrt", "x", "--wrt", "y"]) == 0
    out = capsys.readouterr().out
    assert "digamma(x)" in out and "exp(erfinv(y)**2)*sqrt(pi)/2" in out


def test_scipy_exports_a_c_function_for_every_name_numba_calls():
    assert set(kernels.cython_exports()) == set(kernels.CYTHON_SPECIAL)
    assert kernels.cython_exports()["beta"] == "beta"


@pytest.mark.parametrize("name", SPECIAL_OPS)
def test_each_op_has_an_interval_form_for_advise(name):
    assert sg.OPS[name].interval is getattr(intervals, name), name


def test_numba_gives_numpys_floats_at_points_of_each_domain():
    # scipy's C functions called from the interpreter are the code its ufuncs run: bit for
    # bit; numpy's own ufuncs (arctanh) run SIMD loops on arrays, equal to rounding
    compiled = [sg.OPS[name] for name in SPECIAL_OPS if name not in NUMPY_ONLY]
    rng = np.random.default_rng(3)
    for op in compiled:
        columns = op.sample(rng, 50)
        variables = [x, y][: op.arity]
        f = sg.lambdify(variables, op(*variables), backend="numba")
        if "special." in op.source:
            assert np.array_equal(f(*columns), op.numpy(*columns)), op.name
        else:
            np.testing.assert_allclose(f(*columns), op.numpy(*columns), rtol=1e-15, atol=0)


def test_check_of_a_cube_root_of_a_formula_sympy_cannot_prove_real():
    # sympy's d/dx of sign(g)*Abs(g)**(1/3) for g = gamma(x) leaves re() and im() parts, and
    # check fell back to central differences, too coarse for this slope (it said DIFFER)
    result = sg.check(sg.gamma(sg.cbrt(sg.gamma(x))), x)
    assert bool(result) and "unevaluated" not in str(result)
