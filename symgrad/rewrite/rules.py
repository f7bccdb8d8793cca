"""Simplification rules as data: rows `Rule(name, pattern, replacement, holds=...)` grouped by
family (IDENTITIES, DERIVATIVE_FORMS), plus the rules too clever for a row, which are named
functions (COLLECTION: like terms and powers, canonical order, sin**2 + cos**2, common factors,
expansion and distribution where terms cancel), written in `collect.py` on the flat views of
`flatten.py`. `simplify.py` applies them bottom-up.

Patterns are tuples `(op, operand, ...)` over pattern variables `X`, `Y` (any node, bound
consistently), `C`, `N` (any scalar constant) and numbers. Commutative ops (`add`, `mul`) match in
either order in the matcher, so a row is written once. Every rebuilt node also goes through
`fold.apply`, which folds constants and the cheap identities (`x*1`, `x+0`, `x*0`, `--x`,
`x**0`); those rewrites show in the explain log as "fold".

Where rules hold. Values are compared where the input is finite. Rules marked `holds=` are
identities only on part of the domain; outside it the *input* is undefined (NaN, a division by
zero, a log of a negative), never a finite value the result would change:

- `x/x -> 1`, cancelling `x**a * x**-a` and `x**0` from collected powers: x != 0 (there the
  input is 0/0 or 0*inf).
- Like powers, `x*x -> x**2` and `x**a * x**b -> x**(a+b)`: wherever both sides are finite
  (for x < 0 the powers are real only for integer exponents, and then the identity holds; at
  x = 0 a negative power is infinite).
- `exp(log(x)) -> x`: x >= 0 (log of a negative is NaN). `sqrt(x)**2 -> x`: x >= 0.
- `(x**a)**n -> x**(a*n)` only for an integer constant n, where it holds wherever finite;
  `(c*x)**n -> c**n*x**n` only for an integer n or c > 0 (the `when=` test of the row).
- `sin(x)/cos(x) -> tan(x)` (in a product of any length, `collect.quotients`, with
  `sinh(x)/cosh(x) -> tanh(x)`): cos(x) != 0 (both sides are then infinite or undefined).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor, const
from symgrad.ir.op import Op
from symgrad.ops.scalar import (
    abs,
    add,
    cos,
    div,
    exp,
    log,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sign,
    sin,
    sqrt,
    step,
    sub,
    tan,
    tanh,
)
from symgrad.rewrite.collect import collect_product, collect_sum
from symgrad.rewrite.flatten import PRODUCT_OPS, SUM_OPS

# --- patterns ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Var:
    """A pattern variable: matches any node (`constant=True`: any scalar constant)."""

    name: str
    constant: bool = False

    def __repr__(self) -> str:
        return self.name


X, Y, C, N = Var("x"), Var("y"), Var("c", constant=True), Var("n", constant=True)


@dataclass(frozen=True)
class Rule:
    """One rewrite: `pattern` -> `replacement`, named by its math.

    `replacement` is a pattern built with `fold.apply`, or for a named-function rule (whose
    `pattern` is a tuple of the ops it runs on) a function `(node, context) -> Tensor | None`
    (or `(Tensor, name)` to report a more precise rule name). `holds` says where it is an
    identity when that is not everywhere; `when` is an extra test on the bindings.
    """

    name: str
    pattern: Any
    replacement: Any
    holds: str | None = None
    when: Callable[[dict], bool] | None = None

    @property
    def is_function(self) -> bool:
        return callable(self.replacement) and not isinstance(self.replacement, Op)

    @property
    def ops(self) -> tuple[Op, ...]:
        """The ops a node must have for this rule to be tried."""
        return self.pattern if self.is_function else (self.pattern[0],)


def match(pattern: Any, node: Tensor, bindings: dict) -> bool:
    """Whether `node` matches `pattern`, extending `bindings` (undone on failure).

    >>> from symgrad.ir.graph import var
    >>> x = var("x")
    >>> bindings = {}
    >>> match((sub, X, (pow, X, 2)), x - x**2, bindings), bindings[X] is x
    (True, True)
    >>> str(build((mul, X, (sub, 1, X)), bindings))
    'x*(1 - x)'
    """
    if isinstance(pattern, Var):
        if pattern.constant and node.number is None:
            return False
        bound = bindings.get(pattern)
        if bound is None:
            bindings[pattern] = node
            return True
        return bound is node
    if not isinstance(pattern, tuple):
        return node.number is not None and node.number == pattern
    children = node.children
    if children is None or children.op is not pattern[0]:
        return False
    saved = dict(bindings)
    if _match_operands(pattern, children, bindings, swap=False):
        return True
    bindings.clear()
    bindings.update(saved)
    if pattern[0].commutative and _match_operands(pattern, children, bindings, swap=True):
        return True
    bindings.clear()
    bindings.update(saved)
    return False


def _match_operands(pattern: tuple, children: Any, bindings: dict, swap: bool) -> bool:
    operands = (children.b, children.a) if swap else (children.a, children.b)
    return all(match(p, n, bindings) for p, n in zip(pattern[1:], operands, strict=False))


def build(template: Any, bindings: dict) -> Tensor:
    """The replacement `template` with its variables bound, built through `fold.apply`."""
    if isinstance(template, Var):
        return bindings[template]
    if not isinstance(template, tuple):
        return const(template)
    op, *operands = template
    return apply(op, *(build(operand, bindings) for operand in operands))


def _is_integer(bindings: dict) -> bool:
    value = bindings[C].number
    return float(value).is_integer()


def _even(bindings: dict) -> bool:
    return float(bindings[N].number) % 2 == 0


def _odd(bindings: dict) -> bool:
    return float(bindings[N].number) % 2 == 1


def _real_power(bindings: dict) -> bool:
    # (c*x)**n = c**n * x**n when n is an integer or c > 0 (else c**n is not real)
    return float(bindings[N].number).is_integer() or bindings[C].number > 0


# --- rows, by family ---------------------------------------------------------------------

IDENTITIES = [
    Rule("x - x -> 0", (sub, X, X), 0),
    Rule("x/x -> 1", (div, X, X), 1, holds="x != 0"),
    Rule("1**x -> 1", (pow, 1, X), 1),
    Rule("log(exp(x)) -> x", (log, (exp, X)), X),
    Rule("exp(log(x)) -> x", (exp, (log, X)), X, holds="x >= 0"),
    Rule("sqrt(x)**2 -> x", (pow, (sqrt, X), 2), X, holds="x >= 0"),
    Rule("sqrt(x**2) -> abs(x)", (sqrt, (pow, X, 2)), (abs, X)),
    Rule("abs(x)**2 -> x**2", (pow, (abs, X), 2), (pow, X, 2)),
    Rule("(x**a)**n -> x**(a*n)", (pow, (pow, X, Y), C), (pow, X, (mul, C, Y)),
         holds="n an integer", when=_is_integer),
    Rule("(c*x)**n -> c**n*x**n", (pow, (mul, C, X), N), (mul, (pow, C, N), (pow, X, N)),
         when=_real_power),
    Rule("(-x)**n -> x**n, n even", (pow, (neg, X), N), (pow, X, N), when=_even),
    Rule("(-x)**n -> -x**n, n odd", (pow, (neg, X), N), (neg, (pow, X, N)), when=_odd),
    Rule("abs(abs(x)) -> abs(x)", (abs, (abs, X)), (abs, X)),
    Rule("abs(-x) -> abs(x)", (abs, (neg, X)), (abs, X)),
    Rule("relu(relu(x)) -> relu(x)", (relu, (relu, X)), (relu, X)),
    Rule("sign(x)*x -> abs(x)", (mul, (sign, X), X), (abs, X)),
    Rule("step(x)*x -> relu(x)", (mul, (step, X), X), (relu, X)),
    Rule("sin(-x) -> -sin(x)", (sin, (neg, X)), (neg, (sin, X))),
    Rule("cos(-x) -> cos(x)", (cos, (neg, X)), (cos, X)),
    Rule("tan(-x) -> -tan(x)", (tan, (neg, X)), (neg, (tan, X))),
    Rule("tanh(-x) -> -tanh(x)", (tanh, (neg, X)), (neg, (tanh, X))),
    Rule("exp(x)*exp(y) -> exp(x + y)", (mul, (exp, X), (exp, Y)), (exp, (add, X, Y))),
    Rule("exp(x)/exp(y) -> exp(x - y)", (div, (exp, X), (exp, Y)), (exp, (sub, X, Y))),
]
"""Identities beyond what `fold.apply` does as it builds."""

_S = (sigmoid, X)
_T2 = (pow, (tanh, X), 2)
DERIVATIVE_FORMS = [
    Rule("sigmoid(x) - sigmoid(x)**2 -> sigmoid(x)*(1 - sigmoid(x))",
         (sub, _S, (pow, _S, 2)), (mul, _S, (sub, 1, _S))),
    Rule("exp(x)/(exp(x) + 1) -> sigmoid(x)", (div, (exp, X), (add, (exp, X), 1)), _S),
    Rule("1/(exp(-x) + 1) -> sigmoid(x)", (div, 1, (add, (exp, (neg, X)), 1)), _S),
    Rule("exp(-x)/(exp(-x) + 1)**2 -> sigmoid(x)*(1 - sigmoid(x))",
         (div, (exp, (neg, X)), (pow, (add, (exp, (neg, X)), 1), 2)),
         (mul, _S, (sub, 1, _S))),
    Rule("exp(x)/(exp(x) + 1)**2 -> sigmoid(x)*(1 - sigmoid(x))",
         (div, (exp, X), (pow, (add, (exp, X), 1), 2)), (mul, _S, (sub, 1, _S))),
    Rule("(1 - tanh(x))*(tanh(x) + 1) -> 1 - tanh(x)**2",
         (mul, (sub, 1, (tanh, X)), (add, (tanh, X), 1)), (sub, 1, _T2)),
    Rule("sin(x)**2 + cos(x)**2 -> 1", (add, (pow, (sin, X), 2), (pow, (cos, X), 2)), 1),
    Rule("1 - sin(x)**2 -> cos(x)**2", (sub, 1, (pow, (sin, X), 2)), (pow, (cos, X), 2)),
    Rule("1 - cos(x)**2 -> sin(x)**2", (sub, 1, (pow, (cos, X), 2)), (pow, (sin, X), 2)),
]
"""The forms people expect derivatives in."""


# --- named functions: collecting terms and factors (collect.py) ------------------------

COLLECTION = [
    Rule("like terms: x + x -> 2*x", SUM_OPS, collect_sum),
    Rule("like powers: x*x -> x**2", PRODUCT_OPS, collect_product,
         holds="x != 0 where powers cancel; x**a*x**b -> x**(a+b) where both are finite"),
]
"""Collection of like terms and powers, canonical order, common factors (named functions)."""

RULES: list[Rule] = IDENTITIES + DERIVATIVE_FORMS + COLLECTION
"""Every rule, tried in this order at each node (rows before the collection functions)."""
