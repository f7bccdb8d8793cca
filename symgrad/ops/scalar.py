"""The op table: each op declared once, with everything the rest of symgrad asks of it (the
`Op` type and the registry are `symgrad.ir.op`).

An `Op` holds its numpy source (from which its numpy function is compiled, and which `codegen`
writes out), its local derivatives written with Tensor operations, its sympy counterpart, how
it prints (text and LaTeX), the names `parse` reads, the domain tests and `check` sample from,
and where it has kinks. Exports, parsing, printing, the sympy bridge, code generation and the
table-driven tests all read the table, so adding an op is one entry here.

`partials(a, b, out)` returns one local derivative per operand; `out` is the node itself, so
rules reuse it where that is cheaper (exp' = out). NO_DERIVATIVE marks an operand with no
derivative (a constant exponent), ZERO one whose derivative is 0 everywhere (a comparison's).
Conventions at kinks follow micrograd and JAX: relu'(0) = 0,
abs'(0) = 0, and max/min split the derivative evenly at a tie.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from symgrad.ir import fold
from symgrad.ir.graph import PI, E, Tensor, as_tensor
from symgrad.ir.op import (
    FUNCTIONS,
    OPS,
    PREC_ADD,
    PREC_MUL,
    PREC_NEG,
    PREC_POW,
    Domain,
    Op,
    Range,
    register,
)
from symgrad.ir.sentinels import NO_DERIVATIVE, ZERO
from symgrad.ops import intervals

_POSITIVE = Domain((Range(0.05, 4.0),), text="a > 0")
_UNIT = Domain((Range(-0.95, 0.95),), text="-1 < a < 1")
_NONZERO_B = Domain(holds=lambda a, b: np.abs(b) > 0.1, text="b != 0")


def _function(name: str, source: str, sympy: Any, partials: Callable, **fields: Any) -> Op:
    arity = 2 if re.search(r"\bb\b", source) else 1  # a source reading b is binary
    return register(Op(name, fields.pop("arity", arity), source, sympy, partials, **fields))


def _infix(name: str, arity: int, source: str, sympy: Any, partials: Callable, **fields: Any) -> Op:
    return register(Op(name, arity, source, sympy, partials, **fields))


# --- arithmetic ------------------------------------------------------------------------------


def _pow_partials(a: Tensor, b: Tensor, out: Tensor) -> tuple:
    if b.is_const:  # the simple rule n*a**(n-1); a constant exponent has no derivative
        if b.number == 2:  # squares are most common: 2*a (built directly: this is hot)
            return (fold.apply(mul, b, a), NO_DERIVATIVE)
        n = b if b.number is None else b.number  # (a scalar's n - 1 is plain arithmetic)
        return (n * a ** (n - 1), NO_DERIVATIVE)
    if a.number == 0:  # d/dy 0**y = 0 for y > 0, as autograd has it (not 0**y*log(0) = NaN)
        return (b * a ** (b - 1), ZERO)
    return (b * a ** (b - 1), out * log(a))


add = _infix("add", 2, "np.add(a, b)", lambda a, b: a + b, lambda a, b, out: (1, 1),
             symbol="+", precedence=PREC_ADD, latex="{a} + {b}", commutative=True, identity=0,
             interval=intervals.add)
sub = _infix("sub", 2, "np.subtract(a, b)", lambda a, b: a - b, lambda a, b, out: (1, -1),
             symbol="-", precedence=PREC_ADD, latex="{a} - {b}", identity=0,
             interval=intervals.sub)
mul = _infix("mul", 2, "np.multiply(a, b)", lambda a, b: a * b, lambda a, b, out: (b, a),
             symbol="*", precedence=PREC_MUL, latex="{a} \\cdot {b}", commutative=True,
             identity=1, absorbing=0,
             interval=intervals.mul)
div = _infix("div", 2, "np.divide(a, b)", lambda a, b: a / b,
             lambda a, b, out: (1 / b, -out / b), domain=_NONZERO_B,
             symbol="/", precedence=PREC_MUL, latex="\\frac{{{a}}}{{{b}}}", identity=1,
             interval=intervals.div)
pow = _infix("pow", 2, "np.power(a, b)", lambda a, b: a**b, _pow_partials,
             domain=Domain((Range(0.05, 4.0), Range()), text="a > 0 (or an integer b)"),
             symbol="**", precedence=PREC_POW,
             latex="{a}^{{{b}}}", identity=1,
             interval=intervals.power)
neg = _infix("neg", 1, "np.negative(a)", lambda a: -a, lambda a, b, out: (-1,),
             symbol="-", precedence=PREC_NEG, latex="-{a}",
             interval=intervals.neg)

# --- exponentials and logarithms -------------------------------------------------------------


def _log_base(a: Any, base: Any) -> Tensor:
    """log(a, base): log2 and log10 for those bases, log for e, else log(a)/log(base)."""
    base = as_tensor(base)
    if base is E:
        return log(a)
    named = {2: log2, 10: log10}.get(base.number) if base.number is not None else None
    return named(a) if named is not None else log(a) / log(base)


exp = _function("exp", "np.exp(a)", sp.exp, lambda a, b, out: (out,), latex="e^{{{a}}}",
                interval=intervals.exp, rank=10)
log = _function("log", "np.log(a)", sp.log, lambda a, b, out: (1 / a,), domain=_POSITIVE,
                latex="\\log{{\\left({a} \\right)}}", aliases=("ln",), extended=_log_base,
                doc="natural logarithm; log(a, base) is log(a)/log(base), log2, log10",
                interval=intervals.log, rank=11)
log2 = _function("log2", "np.log2(a)", lambda a: sp.log(a, 2),
                 lambda a, b, out: (1 / (a * log(2)),), domain=_POSITIVE,
                 latex="\\log_{{2}}{{\\left({a} \\right)}}",
                 interval=intervals.log2)
log10 = _function("log10", "np.log10(a)", lambda a: sp.log(a, 10),
                  lambda a, b, out: (1 / (a * log(10)),), domain=_POSITIVE,
                  latex="\\log_{{10}}{{\\left({a} \\right)}}",
                  interval=intervals.log10)
log1p = _function("log1p", "np.log1p(a)", lambda a: sp.log(1 + a),
                  lambda a, b, out: (1 / (1 + a),), domain=Domain((Range(-0.9, 4.0),),
                                                                 text="a > -1"),
                  doc="accurate for small a",
                  interval=intervals.log1p)
expm1 = _function("expm1", "np.expm1(a)", lambda a: sp.exp(a) - 1,
                  lambda a, b, out: (exp(a),), doc="accurate for small a",
                  interval=intervals.expm1)
logaddexp = _function("logaddexp", "np.logaddexp(a, b)",
                      lambda a, b: sp.log(sp.exp(a) + sp.exp(b)),
                      lambda a, b, out: (sigmoid(a - b), sigmoid(b - a)), commutative=True,
                      doc="without overflow",
                      interval=intervals.logaddexp)
softplus = _function("softplus", "np.logaddexp(0.0, a)", lambda a: sp.log(1 + sp.exp(a)),
                     lambda a, b, out: (sigmoid(a),), doc="without overflow",
                     interval=intervals.softplus)
sqrt = _function("sqrt", "np.sqrt(a)", sp.sqrt, lambda a, b, out: (1 / (2 * out),),
                 domain=_POSITIVE, latex="\\sqrt{{{a}}}",
                 interval=intervals.sqrt)

# --- trigonometric and hyperbolic --------------------------------------------------------------

sin = _function("sin", "np.sin(a)", sp.sin, lambda a, b, out: (cos(a),),
                latex="\\sin{{\\left({a} \\right)}}",
                interval=intervals.sin, rank=20)
cos: Op = _function("cos", "np.cos(a)", sp.cos, lambda a, b, out: (-sin(a),),
                latex="\\cos{{\\left({a} \\right)}}",
                interval=intervals.cos, rank=21)
tan = _function("tan", "np.tan(a)", sp.tan, lambda a, b, out: (1 + out**2,),
                domain=Domain((Range(-1.4, 1.4),), text="cos(a) != 0"),
                latex="\\tan{{\\left({a} \\right)}}",
                interval=intervals.tan, rank=22)
asin = _function("asin", "np.arcsin(a)", sp.asin, lambda a, b, out: (1 / sqrt(1 - a**2),),
                 domain=_UNIT, interval=intervals.asin)
acos = _function("acos", "np.arccos(a)", sp.acos, lambda a, b, out: (-1 / sqrt(1 - a**2),),
                 domain=_UNIT, interval=intervals.acos)
atan = _function("atan", "np.arctan(a)", sp.atan, lambda a, b, out: (1 / (1 + a**2),),
                 interval=intervals.atan)


def _sympy_atan2(y: Any, x: Any) -> Any:
    """sympy's atan2, but NaN for a number that is not real, as numpy has it: sympy's atan2
    answers such numbers with complex formulas or never returns (atan2(acos(E), acos(E)),
    atan2(acos(E), 0)), and symgrad's values are real."""
    if any(isinstance(v, sp.Basic) and v.is_number and v.is_extended_real is False
           for v in (y, x)):
        return sp.nan
    return sp.atan2(y, x)


atan2 = _function("atan2", "np.arctan2(a, b)", _sympy_atan2,
                  lambda a, b, out: (b / (a**2 + b**2), -a / (a**2 + b**2)),
                  domain=Domain(holds=lambda a, b: a**2 + b**2 > 0.01, text="(a, b) != (0, 0)"),
                  kinks=lambda a, b: (a,),  # the jump of 2*pi across the negative x axis
                  latex="\\operatorname{{atan_{{2}}}}{{\\left({a}, {b} \\right)}}",
                  doc="atan2(y, x): the angle of the point (x, y)",
                  interval=intervals.atan2)
sinh = _function("sinh", "np.sinh(a)", sp.sinh, lambda a, b, out: (cosh(a),),
                 latex="\\sinh{{\\left({a} \\right)}}",
                 interval=intervals.sinh, rank=30)
cosh: Op = _function("cosh", "np.cosh(a)", sp.cosh, lambda a, b, out: (sinh(a),),
                 latex="\\cosh{{\\left({a} \\right)}}",
                 interval=intervals.cosh, rank=31)
tanh = _function("tanh", "np.tanh(a)", sp.tanh, lambda a, b, out: (1 - out**2,),
                 latex="\\tanh{{\\left({a} \\right)}}",
                 interval=intervals.tanh, rank=32)
asinh = _function("asinh", "np.arcsinh(a)", sp.asinh, lambda a, b, out: (1 / sqrt(a**2 + 1),),
                  interval=intervals.asinh)
acosh = _function("acosh", "np.arccosh(a)", sp.acosh, lambda a, b, out: (1 / sqrt(a**2 - 1),),
                  domain=Domain((Range(1.05, 4.0),), text="a > 1"),
                  interval=intervals.acosh)
atanh = _function("atanh", "np.arctanh(a)", sp.atanh, lambda a, b, out: (1 / (1 - a**2),),
                  domain=_UNIT,
                  interval=intervals.atanh)

# --- special functions and activations -------------------------------------------------------

def _erf_slope(a: Tensor) -> Tensor:
    return 2 / sqrt(PI) * exp(-(a**2))  # erf'(a) = 2/sqrt(pi) * exp(-a**2)


erf = _function("erf", "special.erf(a)", sp.erf, lambda a, b, out: (_erf_slope(a),),
                scalar="math.erf(a)", doc="the error function",
                interval=intervals.erf)
erfc = _function("erfc", "special.erfc(a)", sp.erfc, lambda a, b, out: (-_erf_slope(a),),
                 scalar="math.erfc(a)", doc="1 - erf(a), accurate for large a",
                 interval=intervals.erfc)
sigmoid: Op = _function("sigmoid", "np.exp(-np.logaddexp(0.0, -a))", lambda a: 1 / (1 + sp.exp(-a)),
                    lambda a, b, out: (out * (1 - out),),
                    latex="\\sigma{{\\left({a} \\right)}}", aliases=("expit",),
                    doc="without overflow", interval=intervals.sigmoid)
relu = _function("relu", "np.maximum(a, 0.0)", lambda a: sp.Max(a, 0),
                 lambda a, b, out: (step(a),), kinks=lambda a, b: (a,),
                 latex="\\operatorname{{relu}}{{\\left({a} \\right)}}",
                 doc="relu'(0) = 0",
                 interval=intervals.relu)
abs = _function("abs", "np.abs(a)", sp.Abs, lambda a, b, out: (sign(a),),
                kinks=lambda a, b: (a,), latex="\\left|{{{a}}}\\right|", doc="abs'(0) = 0",
                interval=intervals.absolute)
step: Op = _function("step", "np.heaviside(a, 0.0)", lambda a: sp.Heaviside(a, 0),
                 lambda a, b, out: (ZERO,), kinks=lambda a, b: (a,),
                 scalar="1.0 if a > 0.0 else (0.0 if a == a else math.nan)",  # NaN: numpy's
                 latex="\\operatorname{{step}}{{\\left({a} \\right)}}",
                 doc="1 if a > 0 else 0: the derivative of relu",
                 interval=intervals.step)
sign: Op = _function("sign", "np.sign(a)", sp.sign, lambda a, b, out: (ZERO,),
                 kinks=lambda a, b: (a,),
                 latex="\\operatorname{{sign}}{{\\left({a} \\right)}}",
                 doc="-1, 0 or 1: the derivative of abs",
                 interval=intervals.sign)


def _tie_split(a: Tensor, b: Tensor, larger: bool) -> tuple:
    # d max/da is 1 where a > b, 0 where a < b and 1/2 at a tie (as JAX): (1 + sign(a - b))/2
    s = sign(a - b) if larger else sign(b - a)
    return ((1 + s) / 2, (1 - s) / 2)


max = _function("max", "np.maximum(a, b)", sp.Max, lambda a, b, out: _tie_split(a, b, True),
                kinks=lambda a, b: (a - b,), commutative=True,
                latex="\\max\\left({a}, {b}\\right)",
                doc="at a tie each operand gets half the derivative",
                interval=intervals.maximum)
min = _function("min", "np.minimum(a, b)", sp.Min, lambda a, b, out: _tie_split(a, b, False),
                kinks=lambda a, b: (a - b,), commutative=True,
                latex="\\min\\left({a}, {b}\\right)",
                doc="at a tie each operand gets half the derivative",
                interval=intervals.minimum)

# --- comparisons and selection -----------------------------------------------------------------


def _relation(relation: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    try:
        return relation(a, b)
    except TypeError:  # sympy refuses x < zoo; numpy's comparison with a NaN is False
        return sp.false


def _comparison(name: str, ufunc: str, relation: Callable[[Any, Any], Any], symbol: str,
                interval: Callable[[Any, Any], Any]) -> Op:
    return _function(
        name, f"np.{ufunc}(a, b) * 1.0",
        lambda a, b: sp.Piecewise((1, _relation(relation, a, b)), (0, True)),
        lambda a, b, out: (ZERO, ZERO),  # piecewise constant: zero derivative (a jump at a = b)
        kinks=lambda a, b: (a - b,),
        scalar=f"1.0 if a {symbol} b else 0.0",
        latex=f"\\left[{{a}} {_LATEX_RELATIONS.get(symbol, symbol)} {{b}}\\right]",
        doc=f"`a {symbol} b` on Tensors; derivative 0",
        interval=interval,
    )


_LATEX_RELATIONS = {"<=": "\\leq", ">=": "\\geq", "==": "=", "!=": "\\neq"}
lt = _comparison("lt", "less", lambda a, b: a < b, "<", intervals.lt)
le = _comparison("le", "less_equal", lambda a, b: a <= b, "<=", intervals.le)
gt = _comparison("gt", "greater", lambda a, b: a > b, ">", intervals.gt)
ge = _comparison("ge", "greater_equal", lambda a, b: a >= b, ">=", intervals.ge)
eq = _comparison("eq", "equal", sp.Eq, "==", intervals.eq)
ne = _comparison("ne", "not_equal", sp.Ne, "!=", intervals.ne)
COMPARISONS = (lt, le, gt, ge, eq, ne)


def _condition(c: Any) -> Any:
    """The sympy condition `c != 0`, or the relation itself for a 0/1 Piecewise."""
    if isinstance(c, sp.Piecewise) and len(c.args) == 2 and c.args[0].expr == 1 \
            and c.args[1].expr == 0 and c.args[1].cond == sp.true:
        return c.args[0].cond
    return sp.Ne(c, 0)


def _fold_select(c: Tensor, x: Tensor) -> Tensor | None:
    if c.number is not None:  # a known condition picks: x, or exactly 0 even for NaN x
        return x if c.number != 0 else as_tensor(0)
    if x.number == 0:
        return x
    condition = c.children
    if condition is not None and condition.op is ne and condition.b is not None \
            and condition.b.number == 0:  # select_zero(c != 0, x) is select_zero(c, x)
        return select_zero(condition.a, x)
    return None


select_zero: Op = _function(
    "select_zero", "np.where(a != 0, b, 0.0)[()]",
    lambda c, x: sp.Piecewise((x, _condition(c)), (0, True)),
    lambda c, x, out: (ZERO, select_zero(c, 1)),
    domain=Domain((Range(values=(0.0, 1.0)), Range())),
    fold=_fold_select, scalar="b if a != 0 else 0.0",
    latex="\\begin{{cases}} {b} & \\text{{if }} {a} \\\\ 0 & \\text{{otherwise}} \\end{{cases}}",
    doc="exactly 0 where a is 0, even for a NaN b: the building block of `where(c, a, b)`, "
        "after CasADi's if_else_zero",
        interval=intervals.select_zero,
)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """`a` where `condition` is nonzero, else `b`, as numpy's `where`; its derivative is
    finite wherever the branch taken is, even where the other branch is NaN or inf.

    Built from binary nodes: select_zero(c, a) + select_zero(c == 0, b). A select_zero is a
    strong zero: differentiation keeps it outermost (`diff._product`), so the untaken branch's
    NaN derivative is masked, not multiplied by 0. Conditions come from comparisons (`x > 0`,
    `sg.eq(x, 0)`); `x == 0` on Tensors is Python's identity test, not a comparison node.

    >>> from symgrad.ir.graph import var
    >>> x = var("x")
    >>> f = where(x > 0, sqrt(x), 0)
    >>> from symgrad.backends.evaluate import evaluate
    >>> with np.errstate(invalid="ignore"):  # sqrt(-1), computed but not taken
    ...     evaluate([f, f.grad(x)], {"x": -1.0})
    [0.0, 0.0]
    """
    condition = as_tensor(condition)
    return select_zero(condition, a) + select_zero(eq(condition, 0), b)


def usage(op: Op) -> list[str]:
    """How a user writes the op: `a + b`, `-a`, `atan2(a, b)`, `log(a)`, `ln(a)`, `log(a, b)`."""
    if op.symbol is not None:
        return [f"{op.symbol}a" if op.arity == 1 else f"a {op.symbol} b"]
    operands = "a" if op.arity == 1 else "a, b"
    calls = [f"{name}({operands})" for name in (op.name, *op.aliases)]
    if op.extended is not None:
        calls.append(f"{op.name}({operands}, base)")
    return calls


def function_table() -> str:
    """The supported operations as a Markdown table, written from the op table (the README
    holds a copy, which a test keeps equal to it).

    >>> print(function_table().splitlines()[2])
    | `a + b` | `a + b` |  | all reals | smooth |
    """
    a, b = sp.symbols("a b", real=True)
    rows = ["| write | in sympy | notes | domain | kinks |", "| --- | --- | --- | --- | --- |"]
    for op in OPS.values():
        math = op.sympy(a, b) if op.arity == 2 else op.sympy(a)
        kinks = "smooth" if op.kinks is None else "where " + ", ".join(
            f"{kink} = 0" for kink in op.kinks_at((a, b)[: op.arity])
        )
        written = ", ".join(f"`{call}`" for call in usage(op))
        rows.append(f"| {written} | `{math}` | {op.doc} | {op.domain.text} | {kinks} |")
    return "\n".join(rows)


def public_functions() -> dict[str, Any]:
    """The callables `symgrad` exports, by name: every call-style op, `where` and the
    constants."""
    functions: dict[str, Any] = {name: op for name, op in FUNCTIONS.items() if name == op.name}
    functions["where"] = where
    return functions

