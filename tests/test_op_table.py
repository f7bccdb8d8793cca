"""The op table is the one place an op is declared: a throwaway op entered in a fixture is
picked up by grad, parse, str, latex, lambdify (numpy and numba), codegen, to_sympy,
from_sympy, check, explain, dot and advise with no other edit; every row states each field a
feature needs (failing, never skipping, with the op's name); and the README's list of
functions is the table's own."""

from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from mpmath import iv
from strategies import close

import symgrad as sg
from symgrad.backends.precise import NoPreciseFormError
from symgrad.ir.op import (
    DEFAULT_RANK,
    FUNCTIONS,
    OPS,
    Domain,
    Op,
    Range,
    no_interval,
    register,
    registered,
    unregister,
)
from symgrad.ops import intervals
from symgrad.ops import scalar as ops

X, Y = sp.symbols("x y")  # plain symbols, as to_sympy gives


@pytest.fixture
def gauss():
    """gauss(a) = exp(-a**2), declared once, then taken out of the table again."""
    op = Op("gauss", 1, "np.exp(-a * a)", lambda a: sp.exp(-(a**2)),
            lambda a, b, out: (-2 * a * out,), doc="exp(-a**2)")
    with registered(op):
        yield op


@pytest.fixture
def ramp():
    """A binary op with a kink: ramp(a, b) = max(a - b, 0) written by hand."""
    op = Op("ramp", 2, "np.maximum(a - b, 0.0)", lambda a, b: sp.Max(a - b, 0),
            lambda a, b, out: (sg.step(a - b), -sg.step(a - b)),
            domain=Domain((Range(-2, 2), Range(-1, 1))), kinks=lambda a, b: (a - b,),
            interval=lambda a, b: intervals.maximum(a - b, iv.mpf(0)))
    with registered(op):
        yield op


@pytest.fixture
def logcap():
    """A unary op with a kink and a restricted domain: logcap(a) = min(log(a), 1) for a > 0,
    with its kink at a = e, its interval form and its printing rank."""
    op = Op("logcap", 1, "np.minimum(np.log(a), 1.0)", lambda a: sp.Min(sp.log(a), 1),
            lambda a, b, out: (sg.where(a < np.e, 1 / a, 0),),
            domain=Domain((Range(0.1, 6.0),), text="a > 0"), kinks=lambda a, b: (a - np.e,),
            interval=lambda a: intervals.minimum(intervals.log(a), iv.mpf(1)), rank=15,
            doc="min(log(a), 1)")
    with registered(op):
        yield op


def test_a_new_unary_op_is_picked_up_everywhere(gauss):
    x, y = sg.variables("x y")
    f = gauss(x * y)
    at = {"x": 0.7, "y": -1.3}
    assert sg.evaluate(f.grad(y), at) == pytest.approx(-2 * -0.91 * 0.7 * np.exp(-0.91**2))
    assert sg.evaluate(sg.gradient(f, x), at) == pytest.approx(-2 * -0.91 * -1.3 * np.exp(-0.91**2))
    assert str(f) == "gauss(x*y)"
    assert sg.parse("gauss(x*y)") is f
    assert sg.evaluate(sg.parse(str(f.grad(x))), at) == pytest.approx(sg.evaluate(f.grad(x), at))
    assert sg.latex(f) == r"\operatorname{gauss}{\left(x y \right)}"
    assert sg.lambdify([x, y], f)(0.7, -1.3) == pytest.approx(np.exp(-0.91**2))
    source = sg.codegen(f.grad(x), args=[x, y])
    assert "def gauss(a):\n    return np.exp(-a * a)" in source
    namespace = {}
    exec(source, namespace)
    assert namespace["f"](0.7, -1.3) == pytest.approx(sg.evaluate(f.grad(x), at))
    assert sg.to_sympy(f) == sp.exp(-(X**2) * Y**2)
    assert sg.from_sympy(sp.exp(-(X**2))) is gauss(x)
    assert bool(sg.check(f, [x, y]))
    assert ops.usage(gauss) == ["gauss(a)"] and "gauss" in ops.function_table()


def test_a_new_binary_op_with_a_kink_is_picked_up_everywhere(ramp):
    x, y = sg.variables("x y")
    f = x * ramp(x, y)
    assert str(f) == "x*ramp(x, y)"
    assert sg.parse("x*ramp(x, y)") is f
    assert sg.latex(ramp(x, y)) == r"\operatorname{ramp}{\left(x, y \right)}"
    dx, dy = sg.gradient(f, [x, y])
    at = {"x": np.array([2.0, -1.0]), "y": np.array([0.5, 0.5])}
    assert sg.evaluate(dx, at).tolist() == [3.5, 0.0]
    assert sg.evaluate(dy, at).tolist() == [-2.0, 0.0]
    assert np.array_equal(sg.lambdify([x, y], dx)(at["x"], at["y"]), [3.5, 0.0])
    assert "def ramp(a, b):" in sg.codegen(dx)
    back = sg.from_sympy(sg.to_sympy(ramp(x, y)))  # ramp(x, y) or the equal ramp(-y, -x)
    assert back.op is ramp and np.array_equal(sg.evaluate(back, at), [1.5, 0.0])
    result = sg.check(f, [x, y])
    assert bool(result)
    a, b = ramp.sample(np.random.default_rng(0), 30)
    assert np.all(np.abs(a - b) > 1e-3)  # sampling keeps off the kink the entry declares


def test_a_new_unary_op_with_a_kink_and_a_domain_is_picked_up_everywhere(logcap):
    x, y = sg.variables("x y")
    f = logcap(x * y)
    below, above = {"x": 0.5, "y": 2.0}, {"x": 2.0, "y": 2.0}  # x*y = 1 < e < 4
    dx = f.grad(x)
    assert [sg.evaluate(f, at) for at in (below, above)] == [0.0, 1.0]
    assert [sg.evaluate(dx, at) for at in (below, above)] == [2.0, 0.0]  # 1/x, then flat
    assert sg.evaluate(sg.gradient(f, y), below) == pytest.approx(0.5)
    assert str(f) == "logcap(x*y)" and sg.parse("logcap(x*y)") is f
    assert str(logcap(x) * sg.sin(x)) == "logcap(x)*sin(x)"  # rank 15: before sin (20)
    assert str(sg.exp(x) * logcap(x)) == "exp(x)*logcap(x)"  # after exp (10)
    assert sg.latex(f) == r"\operatorname{logcap}{\left(x y \right)}"
    assert sg.to_sympy(f) == sp.Min(sp.log(X * Y), 1)
    assert sg.from_sympy(sp.Min(sp.log(X * Y), 1)) is f
    points = (np.array([0.5, 2.0]), np.array([2.0, 2.0]))
    for result, expected in zip(sg.lambdify([x, y], [f, dx])(*points), ([0.0, 1.0], [2.0, 0.0]),
                                strict=True):
        assert result.tolist() == expected
    assert sg.codegen(f).count("np.minimum(np.log(") == 1
    checked = sg.check(f, [x, y])
    assert bool(checked) and "agree" in str(checked)
    explained = sg.explain(f, x, at=below)
    assert explained.value == 0.0 and explained.gradient_values[x] == 2.0
    assert "logcap(t1)" in str(explained)
    assert "logcap" in sg.to_dot(f).source
    advice = sg.advise(f, ranges={"x": (0.2, 3.0), "y": (0.2, 3.0)}, count=32)
    assert advice.points > 0 and advice.findings[0].worst_bits < 8  # precise read its interval
    assert ops.function_table().endswith("| `logcap(a)` | `Min(1, log(a))` | min(log(a), 1) "
                                         "| a > 0 | where a - 2.71828182845905 = 0 |")
    a = logcap.sample(np.random.default_rng(0), 30)[0]
    assert np.all(a > 0) and np.all(np.abs(a - np.e) > 1e-3)


def test_a_new_binary_op_is_picked_up_by_explain_dot_and_advise(ramp):
    x, y = sg.variables("x y")
    f = ramp(x, y) * x
    at = {"x": 1.5, "y": 0.5}
    explained = sg.explain(f, [x, y], at=at)
    assert explained.value == 1.5
    assert [explained.gradient_values[v] for v in (x, y)] == [2.5, -1.5]
    assert "ramp(x, y)" in str(explained) and "ramp" in sg.to_dot(f).source
    advice = sg.advise(ramp(x, y), ranges={"x": (-2.0, 2.0), "y": (-1.0, 1.0)}, count=32)
    assert advice.points > 0 and advice.findings[0].worst_bits == 0.0


def test_new_ops_run_on_the_numba_backend(logcap, ramp):
    pytest.importorskip("numba")
    x, y = sg.variables("x y")
    outputs = [logcap(x * y), ramp(x, y), *sg.gradient(logcap(x * y) + ramp(x, y), [x, y])]
    compiled = sg.lambdify([x, y], outputs, backend="numba")  # one compile for both ops
    a, b = np.array([0.5, 2.0, 3.0]), np.array([2.0, 2.0, 0.5])  # x*y = 1, 4, 1.5
    expected = sg.lambdify([x, y], outputs, backend="numpy")(a, b)
    for got, want in zip(compiled(a, b), expected, strict=True):
        assert np.allclose(got, want, rtol=1e-14, atol=0)
    assert np.asarray(compiled(a, b)[1]).tolist() == [0.0, 0.0, 2.5]


def missing_fields(op: Op) -> list[str]:
    """What a feature needs of the row `op` and it does not state: its interval form
    (advise, precise), its printing rank, a domain with a range per operand that sampling
    finds points in, a sympy form (to_sympy, check), a numba form."""
    from symgrad.backends import kernels

    missing = []
    if op.interval is None:
        missing.append("interval (a form from symgrad.ops.intervals, or no_interval)")
    if not isinstance(op.rank, int):
        missing.append("rank")
    if not isinstance(op.domain, Domain) or len(op.domain.ranges) < op.arity or \
            len(op.sample(np.random.default_rng(0), 4)[0]) < 4:
        missing.append("domain")
    symbols = sp.symbols("a b", real=True)[: op.arity]
    if not isinstance(op.sympy(*symbols), sp.Basic):
        missing.append("sympy")
    if op.compiles != (kernels.scalar_source(op) is not None):
        missing.append("numba form (a numpy source numba compiles, or `scalar`), or "
                       "compiles=False where numba has none")
    return missing


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_row_states_what_every_feature_needs(name):
    missing = missing_fields(OPS[name])
    assert not missing, f"the op {name!r} does not state: {', '.join(missing)}"


def test_a_row_lacking_a_field_is_named_not_skipped():
    bare = Op("bare", 1, "np.negative(a)", lambda a: -a, lambda a, b, out: (-1,))
    assert bare.rank == DEFAULT_RANK and bare.interval is None
    assert missing_fields(bare) == ["interval (a form from symgrad.ops.intervals, or no_interval)"]
    stated = Op("stated", 1, "np.negative(a)", lambda a: -a, lambda a, b, out: (-1,),
                interval=no_interval)
    assert missing_fields(stated) == []
    with registered(stated), pytest.raises(NoPreciseFormError, match="stated"):
        sg.advise(stated(sg.var("x")), ranges={"x": (0.0, 1.0)}, count=4)


def test_the_table_forgets_a_removed_op(gauss):
    unregister(gauss)
    with pytest.raises(sg.ParseError, match="unknown function 'gauss'"):
        sg.parse("gauss(x)")
    register(gauss)  # for the fixture's own removal


def test_op_names_are_unique():
    with pytest.raises(ValueError, match="exists already"):
        register(Op("sin", 1, "np.sin(a)", sp.sin, lambda a, b, out: (sg.cos(a),)))


def test_readme_lists_the_functions_of_the_table():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    begin, end = "<!-- function table: begin -->\n", "<!-- function table: end -->"
    listed = readme[readme.index(begin) + len(begin) : readme.index(end)].strip()
    assert listed == ops.function_table(), (
        "README's function list is stale: paste print(symgrad.ops.scalar.function_table()) there"
    )


def test_every_function_is_exported_and_parsed():
    for name, op in FUNCTIONS.items():
        assert getattr(sg, op.name) is op
        assert name in sg.parse.__globals__["functions"]()
    assert sg.where is ops.where and sg.pi is sg.PI


def test_from_sympy_rewrites_reciprocal_and_inverse_functions():
    x = sg.var("x")
    at = {"x": np.linspace(1.2, 2.5, 7)}
    for expr in (sp.coth(X), sp.sech(X), sp.csch(X), sp.sec(X), sp.csc(X), sp.cot(X),
                 sp.acoth(X), sp.asech(1 / X), sp.acsch(X), sp.asec(X), sp.acsc(X), sp.acot(X)):
        graph = sg.from_sympy(expr)
        assert sg.free_variables(graph) == [x]
        expected = sp.lambdify(X, expr, "numpy")(at["x"])
        assert close(sg.evaluate(graph, at), expected, rtol=1e-12), expr


@pytest.mark.parametrize("expr, name", [(sp.uppergamma(X, 2), "uppergamma"), (sp.frac(X), "frac"),
                                        (sp.LambertW(X, -1), "LambertW"), (sp.zeta(X), "zeta")])
def test_from_sympy_names_what_it_cannot_write(expr, name):
    with pytest.raises(sg.UnsupportedSympyError, match=f"'{name}'"):
        sg.from_sympy(expr)


def test_from_sympy_reads_piecewise_and_relations():
    x = sg.var("x")
    f = sg.from_sympy(sp.Piecewise((X**2, X < -1), (sp.sqrt(X), X > 0), (0, True)))
    at = {"x": np.array([-2.0, -0.5, 4.0])}
    with np.errstate(invalid="ignore"):
        assert sg.evaluate(f, at).tolist() == [4.0, 0.0, 2.0]
        assert sg.evaluate(f.grad(x), at).tolist() == [-4.0, 0.0, 0.25]
    assert sg.from_sympy(sp.Piecewise((1, X > 0), (0, True))) is (x > 0)
    both = sg.from_sympy(sp.Piecewise((1, sp.And(X > 0, X < 1)), (0, True)))
    assert sg.evaluate(both, {"x": np.array([-1.0, 0.5, 2.0])}).tolist() == [0.0, 1.0, 0.0]


def test_comparisons_go_through_sympy_and_back():
    x, y = sg.variables("x y")
    nested = sg.eq(x, sg.eq(x, y))  # sympy writes it with ITE(Eq(x, y), Eq(x, 1), Eq(x, 0))
    at = {"x": np.array([0.0, 1.0, 1.0, 2.0]), "y": np.array([1.0, 1.0, 2.0, 2.0])}
    back = sg.from_sympy(sg.to_sympy(nested))
    assert sg.evaluate(back, at).tolist() == sg.evaluate(nested, at).tolist() == [1, 1, 0, 0]
    assert sg.to_sympy(sg.lt(x, sg.const(float("nan")))) == 0  # as numpy: NaN compares False
