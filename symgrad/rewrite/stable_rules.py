"""Stability rewrites as data: rows `StableRule(name, pattern, replacement, why=...)` that turn
formulas which overflow, cancel or divide infinities into equal ones built on ops that do not
(softplus, logaddexp, log1p, expm1, sigmoid, and `hypot` below), plus the rewrites too clever
for a row (sums of any length) as named functions, which return the result and the operands
they treat as opaque (what `stabilize.py` checks the rewrite over). `stabilize.py` applies
them bottom-up.

Rows use the pattern language of `rules.py` (its `match` and `build`), so commutative ops match
in either order. Every row is an identity wherever its left side is defined: it may change a
value only where the left side overflows, cancels or is NaN; `holds=` says where it is one when
that is not everywhere. The ops' own partials are stable too (softplus' = sigmoid, logaddexp's =
sigmoid(a - b), expm1's = exp), so gradients of the result are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor, binary_children, children_of, const
from symgrad.ops import special
from symgrad.ops import tensor as tensor_ops
from symgrad.ops.scalar import (
    add,
    cos,
    cosh,
    div,
    exp,
    expm1,
    log,
    log1p,
    logaddexp,
    mul,
    neg,
    pow,
    sigmoid,
    sin,
    sinh,
    softplus,
    sqrt,
    sub,
    tanh,
)
from symgrad.rewrite.rules import Rule, X, Y


@dataclass(frozen=True)
class StableRule(Rule):
    """A `Rule` that makes a formula numerically stable; `why` says what goes wrong before."""

    why: str = ""


class Rewritten(NamedTuple):
    """What a named-function row makes of a node, and the operands it keeps whole (the
    exponents of log(exp(a) + exp(b)), the bases of sqrt(x**2 + y**2)); `part`, when the row
    rewrites only part of the node (two factors of a product), that part as a node of its own,
    which the row rewrites too."""

    result: Tensor
    operands: list[Tensor]
    part: Tensor | None = None


_EXP_X = (exp, X)
_ONE_PLUS_EXP = (add, 1, _EXP_X)

SOFTPLUS_AND_SIGMOID = [
    StableRule("log(1 + exp(x)) -> softplus(x)", (log, _ONE_PLUS_EXP), (softplus, X),
               why="exp(x) overflows for x > 709, and 1 + exp(x) rounds to 1 for x < -37"),
    StableRule("log(sigmoid(x)) -> -softplus(-x)", (log, (sigmoid, X)),
               (neg, (softplus, (neg, X))),
               why="sigmoid(x) underflows to 0 for x < -745, and log(0) = -inf"),
    StableRule("exp(x)/(1 + exp(x)) -> sigmoid(x)", (div, _EXP_X, _ONE_PLUS_EXP), (sigmoid, X),
               why="inf/inf = NaN for x > 709"),
    StableRule("1/(1 + exp(x)) -> sigmoid(-x)", (div, 1, _ONE_PLUS_EXP), (sigmoid, (neg, X)),
               why="its derivative -exp(x)/(1 + exp(x))**2 is inf/inf = NaN for x > 709"),
    StableRule("1 - sigmoid(x) -> sigmoid(-x)", (sub, 1, (sigmoid, X)), (sigmoid, (neg, X)),
               why="1 - sigmoid(x) cancels to 0 for x > 37 (it is exp(-x) there)"),
]
"""log(1 + exp(x)), log-sigmoid and the logistic function."""

NEAR_ZERO = [
    StableRule("log(1 + x) -> log1p(x)", (log, (add, 1, X)), (log1p, X),
               why="1 + x rounds to 1 for |x| < 1e-16, so log(1 + x) = 0"),
    StableRule("log(1 - x) -> log1p(-x)", (log, (sub, 1, X)), (log1p, (neg, X)),
               why="1 - x rounds to 1 for |x| < 1e-16, so log(1 - x) = 0"),
    StableRule("exp(x) - 1 -> expm1(x)", (sub, _EXP_X, 1), (expm1, X),
               why="exp(x) - 1 cancels for |x| < 1e-8 and is 0 below 1e-16"),
    StableRule("1 - exp(x) -> -expm1(x)", (sub, 1, _EXP_X), (neg, (expm1, X)),
               why="1 - exp(x) cancels for |x| < 1e-8 and is 0 below 1e-16"),
    StableRule("1 - cos(x) -> 2*sin(x/2)**2", (sub, 1, (cos, X)),
               (mul, 2, (pow, (sin, (div, X, 2)), 2)),
               why="1 - cos(x) cancels for |x| < 1e-4 and is 0 below 1e-8"),
    StableRule("(exp(x) - exp(-x))/2 -> sinh(x)", (div, (sub, _EXP_X, (exp, (neg, X))), 2),
               (sinh, X), why="exp(x) - exp(-x) cancels for small |x|"),
]
"""Formulas that cancel near zero."""

OVERFLOW = [
    StableRule("(exp(x) - exp(-x))/(exp(x) + exp(-x)) -> tanh(x)",
               (div, (sub, _EXP_X, (exp, (neg, X))), (add, _EXP_X, (exp, (neg, X)))),
               (tanh, X), why="inf/inf = NaN for |x| > 709"),
    StableRule("1 - tanh(x)**2 -> cosh(x)**-2", (sub, 1, (pow, (tanh, X), 2)),
               (pow, (cosh, X), -2),
               why="1 - tanh(x)**2 cancels to 0 for |x| > 19 (it is 4*exp(-2|x|) there)"),
    StableRule("tanh(x)**2 - 1 -> -cosh(x)**-2", (sub, (pow, (tanh, X), 2), 1),
               (neg, (pow, (cosh, X), -2)), why="the same cancellation, negated"),
    StableRule("logaddexp(x, x) -> x + log(2)", (logaddexp, X, X), (add, X, math.log(2)),
               why="its gradient sigmoid(x - x) is NaN where x is infinite (an exponent that "
                   "overflowed: log(exp(3*y) + exp(3*y)) at y = -1e308)"),
    StableRule("log(exp(x)) -> x", (log, _EXP_X), X,
               why="exp(x) overflows for x > 709 (softmax: log(exp(a - logsumexp)))"),
    StableRule("log(exp(x)/y) -> x - log(y)", (log, (div, _EXP_X, Y)), (sub, X, (log, Y)),
               holds="y > 0",
               why="exp(x) overflows for x > 709 (softmax cross-entropy: -log(exp(a)/sum))"),
]
"""Formulas that overflow or divide infinities."""


# --- named functions: sums of any length ---------------------------------------------------


CHAIN_LIMIT = 64
"""Nodes of a tree of one op `_chain` opens: past it the rest stays one operand, so a rule that
runs at every node of a nested logaddexp (or sum) 10,000 deep costs the same at each."""


def _chain(node: Tensor, op: Any, limit: int = CHAIN_LIMIT) -> list[Tensor]:
    """The operands of a tree of `op`s, left to right: the terms of a + b + c (a subtraction
    stays one term), the leaves of logaddexp(logaddexp(a, b), c), opening at most `limit`
    nodes of the tree; for products, -a is the factors -1 and a."""
    operands: list[Tensor] = []
    stack = [node]
    while stack:
        current = stack.pop()
        children = current.children
        if children is None or limit <= 0:
            operands.append(current)
        elif children.op is op and children.b is not None:
            limit -= 1
            stack += [children.b, children.a]
        elif op is mul and children.op is neg:
            limit -= 1
            operands.append(const(-1))
            stack.append(children.a)
        else:
            operands.append(current)
    return operands


def _exponent(term: Tensor) -> Tensor | None:
    """y for a term exp(y); 0 for the constant 1 (= exp(0)); else None."""
    if term.op is exp:
        return children_of(term).a
    return const(0) if term.number == 1 else None


def _exponents(total: Tensor) -> list[Tensor] | None:
    """[a, b, ...] for a sum exp(a) + exp(b) + ... of two or more exponentials (1 counts as
    exp(0)); else None."""
    terms = _chain(total, add)
    exponents = [exponent for exponent in map(_exponent, terms) if exponent is not None]
    return exponents if len(terms) >= 2 and len(exponents) == len(terms) else None


def log_sum_exp(node: Tensor) -> Rewritten | None:
    """log(exp(a) + exp(b) + ...) -> logaddexp(logaddexp(a, b), ...): the log of a sum of two
    or more exponentials never forms the exponentials."""
    exponents = _exponents(children_of(node).a)
    return None if exponents is None else Rewritten(_nested_logaddexp(exponents), exponents)


def _nested_logaddexp(exponents: list[Tensor]) -> Tensor:
    result = exponents[0]
    for exponent in exponents[1:]:
        result = apply(logaddexp, result, exponent)
    return result


def log_sum_exp_minus_term(node: Tensor) -> Rewritten | None:
    """logaddexp(a, b, ...) - a -> softplus(logaddexp(b - a, ...)): where a dominates, the
    difference of two large numbers (softmax cross-entropy at logits of 1,000) cancels, while
    softplus of a very negative number is exact."""
    total, term, _ = binary_children(node)
    if total.op is not logaddexp:
        return None
    others = _chain(total, logaddexp)
    if term not in others:
        return None
    operands = list(others)
    others.remove(term)
    result = apply(softplus, _nested_logaddexp([apply(sub, other, term) for other in others]))
    return Rewritten(result, operands)


def softmax(node: Tensor) -> Rewritten | None:
    """exp(a)/(exp(a) + exp(b) + ...) -> exp(a - logaddexp(a, logaddexp(b, ...))): the
    quotient of two overflowing exponentials becomes the exponential of a difference, its log of
    a sum built as logaddexp (log1p(exp(a) + exp(b)) would form the sum, which overflows)."""
    numerator, denominator, _ = binary_children(node)
    exponents = _exponents(denominator)
    if numerator.op is not exp or exponents is None:
        return None
    top = children_of(numerator).a
    if top not in exponents:
        return None
    result = apply(exp, apply(sub, top, _nested_logaddexp(exponents)))
    return Rewritten(result, exponents)


def _square_base(term: Tensor) -> Tensor | None:
    """x for a term x**2 or x*x; else None (not a constant c = sqrt(c)**2)."""
    children = term.children
    if children is None or children.b is None:
        return None
    if children.op is pow and children.b.number == 2:
        return children.a
    if children.op is mul and children.a is children.b:
        return children.a
    return None


def norm(node: Tensor) -> Rewritten | None:
    """sqrt(x**2 + y**2 + ...) -> hypot(hypot(x, y), ...): no square overflows or
    underflows, and the gradient at the origin is 0 rather than 0/0 (`ops/special.py`)."""
    terms = _chain(children_of(node).a, add)
    bases = [base for base in map(_square_base, terms) if base is not None]
    if len(terms) < 2 or len(bases) < len(terms):
        return None
    result = bases[0]
    for base in bases[1:]:
        result = apply(special.hypot, result, base)
    return Rewritten(result, bases)


def _summed_exponent(node: Tensor) -> Tensor | None:
    """v for a node sum(exp(v)) summing every element of a tensor; else None."""
    children = node.children
    if children is None or children.op is not tensor_ops.SUM.bound((None, False)) \
            or children.a.op is not exp:
        return None
    return children_of(children.a).a


def tensor_log_sum_exp(node: Tensor) -> Rewritten | None:
    """log(sum(exp(v))) -> logsumexp(v), over every element of a vector or matrix."""
    exponent = _summed_exponent(children_of(node).a)
    if exponent is None:
        return None
    return Rewritten(tensor_ops.logsumexp(exponent, axis=None), [exponent])


def tensor_softmax(node: Tensor) -> Rewritten | None:
    """exp(v)/sum(exp(v)) -> softmax(v), over every element of a vector or matrix."""
    numerator, denominator, _ = binary_children(node)
    exponent = _summed_exponent(denominator)
    if exponent is None or numerator is not children_of(denominator).a:
        return None
    return Rewritten(tensor_ops.softmax(exponent, axis=None), [exponent])


_FACTOR_LIMIT = 8
"""Products `sinh_times_cosh_power` opens per node (the factors of a gradient's term)."""


def sinh_times_cosh_power(node: Tensor) -> Rewritten | None:
    """sinh(x)*cosh(x)**k -> tanh(x)*cosh(x)**(k + 1) for a number k <= -1, among the factors
    of a product (the gradient of cosh(x)**-2 is -2*cosh(x)**-3*sinh(x), times the upstream
    adjoint): past |x| = 710, sinh is inf and cosh(x)**k is 0, and inf*0 = NaN."""
    factors = _chain(node, mul, _FACTOR_LIMIT)
    for i, first in enumerate(factors):
        if first.op is not sinh:
            continue
        argument = children_of(first).a
        for j, power in enumerate(factors):
            if power.op is not pow:
                continue
            base, exponent, _ = binary_children(power)
            k = exponent.number
            if base.op is not cosh or children_of(base).a is not argument or k is None \
                    or k > -1:
                continue
            stable = apply(tanh, argument)
            if k != -1:
                stable = apply(mul, stable, apply(pow, base, k + 1))
            result = stable
            for index, factor in enumerate(factors):
                if index not in (i, j):
                    result = apply(mul, factor, result)
            return Rewritten(result, [argument], apply(mul, first, power))
    return None


PRODUCTS = [
    StableRule("sinh(x)*cosh(x)**k -> tanh(x)*cosh(x)**(k + 1), k <= -1", (mul,),
               sinh_times_cosh_power,
               why="sinh(x) = inf and cosh(x)**k = 0 past |x| = 710: inf*0 = NaN (the "
                   "gradient of cosh(x)**-2)"),
]
"""Products of hyperbolic functions (a named function: it looks a few products deep)."""


SUMS = [
    StableRule("log(exp(a) + exp(b) + ...) -> logaddexp(a, logaddexp(b, ...))", (log,),
               log_sum_exp, why="each exp overflows for an exponent > 709"),
    StableRule("logaddexp(a, b, ...) - a -> softplus(logaddexp(b - a, ...))", (sub,),
               log_sum_exp_minus_term,
               why="logsumexp - a cancels where a dominates (cross-entropy of a confident "
                   "right prediction)"),
    StableRule("exp(a)/(exp(a) + exp(b) + ...) -> exp(a - logaddexp(a, logaddexp(b, ...)))",
               (div,), softmax, why="inf/inf = NaN once an exponent is > 709 (softmax)"),
    StableRule("log(sum(exp(v))) -> logsumexp(v)", (log,), tensor_log_sum_exp,
               why="exp overflows elementwise for entries > 709"),
    StableRule("exp(v)/sum(exp(v)) -> softmax(v)", (div,), tensor_softmax,
               why="inf/inf = NaN once an entry is > 709"),
    StableRule("sqrt(x**2 + y**2 + ...) -> hypot(hypot(x, y), ...)", (sqrt,), norm,
               why="x**2 overflows for |x| > 1e154; the gradient x/sqrt(...) is 0/0 at 0"),
]
"""Sums of any length, and over the elements of a vector or matrix (named functions)."""

STABLE_RULES: list[StableRule] = SOFTPLUS_AND_SIGMOID + SUMS + NEAR_ZERO + OVERFLOW + PRODUCTS
"""Every row, tried in this order at each node: sums before log(1 + x) -> log1p(x), which would
take log(1 + exp(a) + exp(b)) to log1p(exp(a) + exp(b)), whose sum overflows."""
