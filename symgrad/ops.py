"""The op table: each op declared once, with its numpy function, local derivatives (written
with Tensor operations), sympy counterpart and printing. Adding an op is one entry here.

`partials(a, b, out)` returns one local derivative per operand; `out` is the node itself, so
rules reuse it where that is cheaper (exp' = out). None marks an operand with no derivative
(a constant exponent). At kinks symgrad follows micrograd and JAX: relu'(0) = 0, abs'(0) = 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from symgrad.graph import Tensor

# Printing precedences, as Python binds its operators (unary minus between * and **).
PREC_ADD, PREC_MUL, PREC_NEG, PREC_POW, PREC_ATOM = 40, 50, 55, 60, 1000


@dataclass(frozen=True, eq=False)
class Op:
    """One operation: how to compute it, differentiate it, translate it and print it."""

    name: str
    arity: int
    numpy: Callable[..., Any]
    sympy: Callable[..., Any]
    partials: Callable[[Tensor, Tensor | None, Tensor], tuple]
    symbol: str | None = None  # infix or prefix symbol; None prints as name(a)
    precedence: int = PREC_ATOM
    latex: str = ""  # template with {a} and {b}; operands arrive already parenthesized
    commutative: bool = False
    identity: int | None = None  # e with a op e == a (and e op a == a when commutative)
    absorbing: int | None = None  # z with a op z == z (mul: 0)
    doc: str = ""
    # Tensor ops (symgrad.tensor_ops) fill these; None means an elementwise op, whose shape
    # is the operands' broadcast and whose adjoints come from `partials`.
    infer_shape: Callable[[tuple, tuple | None], tuple] | None = None
    pullback: Callable[[Tensor, Tensor | None, Tensor, Tensor], tuple] | None = None
    text: str = ""  # text template with {a} and {b}, when name(a) or the symbol will not do

    def __call__(self, a: Any, b: Any = None) -> Tensor:
        if (b is None) != (self.arity == 1):
            raise TypeError(f"{self.name} takes {self.arity} operand(s)")
        return fold.apply(self, a, b)

    def __repr__(self) -> str:
        return f"<op {self.name}>"


def _sigmoid(a: Any) -> Any:
    # exp(-log(1 + exp(-a))) never overflows, for large |a| of either sign.
    return np.exp(-np.logaddexp(0.0, -a))


add = Op("add", 2, np.add, lambda a, b: a + b, lambda a, b, out: (1, 1),
         symbol="+", precedence=PREC_ADD, latex="{a} + {b}", commutative=True, identity=0)
sub = Op("sub", 2, np.subtract, lambda a, b: a - b, lambda a, b, out: (1, -1),
         symbol="-", precedence=PREC_ADD, latex="{a} - {b}", identity=0)
mul = Op("mul", 2, np.multiply, lambda a, b: a * b, lambda a, b, out: (b, a),
         symbol="*", precedence=PREC_MUL, latex="{a} \\cdot {b}", commutative=True,
         identity=1, absorbing=0)
div = Op("div", 2, np.divide, lambda a, b: a / b, lambda a, b, out: (1 / b, -out / b),
         symbol="/", precedence=PREC_MUL, latex="\\frac{{{a}}}{{{b}}}", identity=1)
def _pow_partials(a: Tensor, b: Tensor, out: Tensor) -> tuple:
    if b.is_const:  # the simple rule n*a**(n-1); a constant exponent has no derivative
        n = b if b.number is None else b.number  # (a scalar's n - 1 is plain arithmetic)
        return (n * (a if n == 2 else a ** (n - 1)), None)  # squares are most common
    return (b * a ** (b - 1), out * log(a))


pow = Op("pow", 2, np.power, lambda a, b: a**b, _pow_partials,
         symbol="**", precedence=PREC_POW, latex="{a}^{{{b}}}", identity=1)
neg = Op("neg", 1, np.negative, lambda a: -a, lambda a, b, out: (-1,),
         symbol="-", precedence=PREC_NEG, latex="-{a}")
exp = Op("exp", 1, np.exp, sp.exp, lambda a, b, out: (out,), latex="e^{{{a}}}")
log = Op("log", 1, np.log, sp.log, lambda a, b, out: (1 / a,),
         latex="\\log{{\\left({a} \\right)}}")
sin = Op("sin", 1, np.sin, sp.sin, lambda a, b, out: (cos(a),),
         latex="\\sin{{\\left({a} \\right)}}")
cos = Op("cos", 1, np.cos, sp.cos, lambda a, b, out: (-sin(a),),
         latex="\\cos{{\\left({a} \\right)}}")
tan = Op("tan", 1, np.tan, sp.tan, lambda a, b, out: (1 + out**2,),
         latex="\\tan{{\\left({a} \\right)}}")
tanh = Op("tanh", 1, np.tanh, sp.tanh, lambda a, b, out: (1 - out**2,),
          latex="\\tanh{{\\left({a} \\right)}}")
sigmoid = Op("sigmoid", 1, _sigmoid, lambda a: 1 / (1 + sp.exp(-a)),
             lambda a, b, out: (out * (1 - out),), latex="\\sigma{{\\left({a} \\right)}}",
             doc="sigmoid(a) = 1/(1 + exp(-a))")
relu = Op("relu", 1, lambda a: np.maximum(a, 0.0), lambda a: sp.Max(a, 0),
          lambda a, b, out: (step(a),), latex="\\operatorname{{relu}}{{\\left({a} \\right)}}",
          doc="relu(a) = max(a, 0); relu'(0) = 0")
sqrt = Op("sqrt", 1, np.sqrt, sp.sqrt, lambda a, b, out: (0.5 / out,),
          latex="\\sqrt{{{a}}}")
abs = Op("abs", 1, np.abs, sp.Abs, lambda a, b, out: (sign(a),),
         latex="\\left|{{{a}}}\\right|", doc="abs'(0) = 0")
step = Op("step", 1, lambda a: np.heaviside(a, 0.0), lambda a: sp.Heaviside(a, 0),
          lambda a, b, out: (0,), latex="\\theta{{\\left({a} \\right)}}",
          doc="step(a) = 1 if a > 0 else 0: the derivative of relu")
sign = Op("sign", 1, np.sign, sp.sign, lambda a, b, out: (0,),
          latex="\\operatorname{{sign}}{{\\left({a} \\right)}}",
          doc="sign(a) in {-1, 0, 1}: the derivative of abs")

OPS: dict[str, Op] = {
    op.name: op
    for op in (add, sub, mul, div, pow, neg, exp, log, sin, cos, tan, tanh, sigmoid, relu,
               sqrt, abs, step, sign)
}
"""Every op by name."""

DECLARED_ELSEWHERE: dict[str, Op] = {}
"""Ops declared in other modules (tensor ops, one per axis), by name, so that code finding an
op by its name (a compiled function's helpers) finds them too."""


def op_named(name: str) -> Op:
    """The op called `name`, from this table or declared elsewhere.

    >>> op_named("sin") is sin
    True
    """
    op = OPS.get(name) or DECLARED_ELSEWHERE.get(name)
    if op is None:
        raise KeyError(f"no op is called {name!r}")
    return op


FUNCTIONS: dict[str, Op] = {name: op for name, op in OPS.items() if op.symbol is None}
"""The ops written as function calls, `name(a)`: what a parser or printer looks up."""

from symgrad import fold  # noqa: E402  (folding needs the ops above; ops build through it)
