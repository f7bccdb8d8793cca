"""Identities the accuracy search tries, as rows on the rewrite engine: each rewrites a node into
an equal formula that computes it another way (a conjugate, a common denominator, an angle-sum
form, a library function for a formula written with logs or exponentials). Unlike the rows of
`stable_rules.py` none is taken on sight: the search (`symgrad/verify/search.py`) measures each
candidate and keeps it only where it lowers the error.

The rows that cancel a difference exactly (x + 1 - x -> 1) ask the search's `Algebra` for it
(the verify layer passes sympy's `cancel`); without one they use `simplify`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Protocol

from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor, const, rebuild
from symgrad.ir.op import Op
from symgrad.ops.scalar import abs as abs_
from symgrad.ops.scalar import (
    acosh,
    add,
    asinh,
    atan,
    atan2,
    atanh,
    cos,
    div,
    exp,
    expm1,
    gt,
    log,
    log1p,
    mul,
    neg,
    pow,
    sin,
    sinh,
    sqrt,
    sub,
    tan,
    tanh,
    where,
)
from symgrad.ops.scalar import max as max_
from symgrad.ops.special import cbrt, hypot
from symgrad.rewrite.engine import Candidate, RuleSet
from symgrad.rewrite.rules import Rule, X, Y
from symgrad.rewrite.simplify import simplify


class Algebra(Protocol):
    """Exact cancellation for the rows: `difference(a, b)` is a formula equal to a - b with
    what cancels cancelled (x + 1 and x give 1; b**2 and b**2 - 4*a*c give 4*a*c)."""

    def difference(self, a: Tensor, b: Tensor) -> Tensor:
        ...


class Simplifying:
    """The `Algebra` of the simplifier, for use without sympy.

    >>> from symgrad.ir.graph import var
    >>> x = var("x")
    >>> str(Simplifying().difference(x + 1, x))
    '1'
    """

    def difference(self, a: Tensor, b: Tensor) -> Tensor:
        result: Tensor = simplify(a - b)
        return result


def _parts(t: Tensor | None) -> tuple[Any, Any, Any]:
    """(a, b, op) of a node; (None, None, None) for a leaf."""
    children = None if t is None else t.children
    return (None, None, None) if children is None else children


def _difference_of(node: Tensor) -> tuple[Tensor, Tensor] | None:
    """(p, q) with node = p - q: a subtraction, or a sum with a negated or negative term."""
    a, b, op = _parts(node)
    if op is sub:
        return a, b
    if op is not add or b is None:
        return None
    for first, second in ((a, b), (b, a)):
        children = second.children
        if children is not None and children.op is neg:
            return first, children.a
        if second.number is not None and second.number < 0:
            return first, const(-second.number)
    return None


def _operand(t: Tensor, op: Any) -> Tensor | None:
    """u when t is op(u)."""
    children = t.children
    return children.a if children is not None and children.op is op else None


def _power(t: Tensor) -> tuple[Tensor, Tensor] | None:
    """(base, exponent) of sqrt(u) (u**(1/2)) or a non-integer power u**p."""
    children = t.children
    if children is None:
        return None
    if children.op is sqrt:
        return children.a, const(0.5)
    if children.op is pow and children.b is not None:
        exponent = children.b.number
        if exponent is None or exponent != int(exponent):
            return children.a, children.b
    return None


FACTOR_LIMIT = 8
"""Factors of a product `_factors` opens at most."""


def _factors(t: Tensor) -> list[Tensor]:
    """The factors of a product (t itself when it is none), up to `FACTOR_LIMIT`."""
    factors: list[Tensor] = []
    stack = [t]
    while stack:
        current = stack.pop()
        a, b, op = _parts(current)
        if op is mul and len(factors) + len(stack) < FACTOR_LIMIT:
            stack += [b, a]
        else:
            factors.append(current)
    return factors


def _rooted(t: Tensor) -> bool:
    """Whether t is sqrt(u) or a product with a factor sqrt(u) (2*sqrt(x))."""
    return any(_operand(factor, sqrt) is not None for factor in _factors(t))


def _square(t: Tensor) -> Tensor:
    """t**2, with each factor sqrt(u) squared to u: (2*sqrt(x))**2 is 4*x."""
    result = const(1)
    for factor in _factors(t):
        root = _operand(factor, sqrt)
        result = result * (root if root is not None else factor * factor)
    return result


def _fraction(t: Tensor) -> tuple[Tensor, Tensor]:
    """(numerator, denominator) of t (denominator 1 when t is no quotient)."""
    a, b, op = _parts(t)
    if op is div and b is not None:
        return a, b
    return t, const(1)


def _squared_base(t: Tensor) -> Tensor | None:
    """u when t is u**2 or u*u."""
    a, b, op = _parts(t)
    if op is pow and b is not None and b.number == 2:
        return a
    if op is mul and a is b:
        return a
    return None


# --- differences: p - q rewritten so that what cancels is cancelled exactly ------------------


def conjugate(node: Tensor, algebra: Algebra) -> Tensor | None:
    """p - q -> (p**2 - q**2)/(p + q) where p or q is a square root, the difference of
    squares cancelled: sqrt(x + 1) - sqrt(x) -> 1/(sqrt(x + 1) + sqrt(x)), and the
    quadratic formula's sqrt(b**2 - 4*a*c) - b -> -4*a*c/(sqrt(b**2 - 4*a*c) + b)."""
    pair = _difference_of(node)
    if pair is None:
        return None
    p, q = pair
    if not (_rooted(p) or _rooted(q)):
        return None
    return algebra.difference(_square(p), _square(q)) / (p + q)


def common_denominator(node: Tensor, algebra: Algebra) -> Tensor | None:
    """a/b - c/d -> (a*d - c*b)/(b*d), the numerator cancelled: 1/(x + 1) - 1/x ->
    -1/((x + 1)*x)."""
    pair = _difference_of(node)
    if pair is None:
        return None
    (a, b), (c, d) = _fraction(pair[0]), _fraction(pair[1])
    if b.number == 1 and d.number == 1:
        return None
    return algebra.difference(a * d, c * b) / (b * d)


def _difference_of_calls(node: Tensor, op: Op) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """(f(a), f(b), a, b) where `node` is f(a) - f(b) for the op f, else None."""
    pair = _difference_of(node)
    if pair is None:
        return None
    a, b = _operand(pair[0], op), _operand(pair[1], op)
    if a is None or b is None:
        return None
    return pair[0], pair[1], a, b


def cube_roots(node: Tensor, algebra: Algebra) -> Tensor | None:
    """cbrt(a) - cbrt(b) -> (a - b)/(cbrt(a)**2 + cbrt(a)*cbrt(b) + cbrt(b)**2), from
    a - b = (cbrt(a) - cbrt(b))*(cbrt(a)**2 + cbrt(a)*cbrt(b) + cbrt(b)**2)."""
    found = _difference_of_calls(node, cbrt)
    if found is None:
        return None
    p, q, a, b = found
    return algebra.difference(a, b) / (p * p + p * q + q * q)


def common_factor(node: Tensor, algebra: Algebra) -> Tensor | None:
    """c*a - c*b -> c*(a - b), each factor the two terms share taken out, so that the rows can
    rewrite what is left: (1/n)*(x + 1)**p - (1/n)*x**p, a partial of (x + 1)**(1/n) -
    x**(1/n), is a difference of powers."""
    pair = _difference_of(node)
    if pair is None:
        return None
    left, right = _factors(pair[0]), _factors(pair[1])
    shared = []
    for factor in list(left):
        match = next((index for index, other in enumerate(right) if other is factor), None)
        if match is not None:
            shared.append(factor)
            left.remove(factor)
            del right[match]
    if not shared:
        return None
    one = const(1)  # 1*x folds to x: a product of no factors is 1
    return math.prod(shared, start=one) * (math.prod(left, start=one) -
                                           math.prod(right, start=one))


def _difference_of_powers(node: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """(a, b, p, b**p) where `node` is a**p - b**p (1/u**p read as u**-p)."""
    pair = _difference_of(node)
    if pair is None:
        return None
    first, second = _power(pair[0]), _power(pair[1])
    if first is None and pair[0].children is not None and pair[0].children.op is div:
        first = _reciprocal_power(pair[0])
    if second is None and pair[1].children is not None and pair[1].children.op is div:
        second = _reciprocal_power(pair[1])
    if first is None or second is None or first[1] is not second[1]:
        return None
    return first[0], second[0], first[1], pair[1]


def powers(node: Tensor, algebra: Algebra) -> Tensor | None:
    """a**p - b**p -> b**p*expm1(p*log1p((a - b)/b)), from (a/b)**p - 1, accurate when a is
    near b: (x + 1)**(1/n) - x**(1/n), 1/sqrt(x) - 1/sqrt(x + 1) (for a, b > 0)."""
    found = _difference_of_powers(node)
    if found is None:
        return None
    a, b, p, b_power = found
    return _where_b_positive(node, b, b_power * expm1(p * log1p(algebra.difference(a, b) / b)))


def powers_by_logarithms(node: Tensor, algebra: Algebra) -> Tensor | None:
    """a**p - b**p -> b**p*expm1(p*(log(a) - log(b))): the same, where (a - b)/b overflows
    (b = 5e-324) and the logarithms do not cancel (for a, b > 0)."""
    found = _difference_of_powers(node)
    if found is None:
        return None
    a, b, p, b_power = found
    return _where_b_positive(node, b, b_power * expm1(p * (log(a) - log(b))))


def _where_b_positive(node: Tensor, b: Tensor, form: Tensor) -> Tensor:
    """`form` where b > 0, `node` (a**p - b**p) elsewhere: at b = 0 the forms compute 0*inf
    (b**p*expm1(inf) for p > 0, and p*log(0) for p = 0), where a**p - b**p is a**p or 0."""
    return form if b.number is not None and b.number > 0 else where(gt(b, 0), form, node)


def _reciprocal_power(t: Tensor) -> tuple[Tensor, Tensor] | None:
    """(u, -p) for 1/u**p (1/sqrt(u) is u**-0.5)."""
    a, b, _ = _parts(t)
    if a.number != 1 or b is None:
        return None
    inner = _power(b)
    return None if inner is None else (inner[0], const(-inner[1].number)
                                       if inner[1].number is not None else -inner[1])


def arctangents(node: Tensor, algebra: Algebra) -> Tensor | None:
    """atan(a) - atan(b) -> atan2(a - b, 1 + a*b): the angle of (1 + i*a)*(1 - i*b), whose
    argument is atan(a) - atan(b) on all of the reals (the difference lies in (-pi, pi)), so
    no branch needs a guard, where atan((a - b)/(1 + a*b)) would be off by pi for a*b < -1."""
    found = _difference_of_calls(node, atan)
    if found is None:
        return None
    _, _, a, b = found
    return atan2(algebra.difference(a, b), 1 + a * b)


def angle_sums(node: Tensor, algebra: Algebra) -> Tensor | None:
    """With d = a - b cancelled: sin(a) - sin(b) -> 2*cos(b + d/2)*sin(d/2), cos(a) - cos(b)
    -> -2*sin(b + d/2)*sin(d/2), tan(a) - tan(b) -> sin(d)/(cos(a)*cos(b))."""
    pair = _difference_of(node)
    if pair is None:
        return None
    p, q = pair
    for op in (sin, cos, tan):
        a, b = _operand(p, op), _operand(q, op)
        if a is None or b is None:
            continue
        d = algebra.difference(a, b)
        if op is sin:
            return 2 * cos(b + d / 2) * sin(d / 2)
        if op is cos:
            return -2 * sin(b + d / 2) * sin(d / 2)
        return sin(d) / (cos(a) * cos(b))
    return None


def logarithms(node: Tensor, algebra: Algebra) -> Tensor | None:
    """log(a) - log(b) and log(a/b) -> log1p((a - b)/b), the difference cancelled:
    log(n + 1) - log(n) -> log1p(1/n)."""
    if _parts(node)[2] is log:
        quotient = _operand(node, log)
        assert quotient is not None
        if _parts(quotient)[2] is not div:
            return None
        a, b = _fraction(quotient)
    else:
        found = _difference_of_calls(node, log)
        if found is None:
            return None
        _, _, a, b = found
    return log1p(algebra.difference(a, b) / b)


# --- library functions for formulas written with logs and exponentials ---------------------


def inverse_hyperbolic(node: Tensor, algebra: Algebra) -> Tensor | None:
    """log(x + sqrt(x**2 + 1)) -> asinh(x), log(x + sqrt(x**2 - 1)) -> acosh(x) (x >= 1)."""
    argument = _operand(node, log)
    if argument is None or _parts(argument)[2] is not add:
        return None
    a, b, _ = _parts(argument)
    assert b is not None
    for x, root in ((a, b), (b, a)):
        inside = _operand(root, sqrt)
        if inside is None:
            continue
        pair = _difference_of(inside)
        if pair is not None and pair[1].number == 1 and _squared_base(pair[0]) is x:
            return acosh(x)
        first, second, op = _parts(inside)
        if op is add and second is not None:
            for square, one in ((first, second), (second, first)):
                if one.number == 1 and _squared_base(square) is x:
                    return asinh(x)
    return None


def exponentials(node: Tensor, algebra: Algebra) -> Tensor | None:
    """exp(a) + exp(-a) - 2 -> 4*sinh(a/2)**2 (cosh(a) - 1 = 2*sinh(a/2)**2), in a sum of
    three terms in any order."""
    terms = _terms(node)
    if terms is None or len(terms) != 3:
        return None
    constants = [t for t in terms if t.number is not None]
    exponents = [_operand(t, exp) for t in terms]
    arguments = [e for e in exponents if e is not None]
    if len(constants) != 1 or constants[0].number != -2 or len(arguments) != 2:
        return None
    a, b = arguments
    if _operand(b, neg) is a or _operand(a, neg) is b:
        return 4 * sinh(a / 2) ** 2
    return None


def _terms(node: Tensor) -> list[Tensor] | None:
    """The terms of a sum of up to three terms, a subtracted constant as its negative."""
    terms: list[Tensor] = []
    stack = [node]
    while stack and len(terms) <= 3:
        current = stack.pop()
        a, b, op = _parts(current)
        if op is add and a is not None and b is not None:
            stack += [b, a]
        elif op is sub and a is not None and b is not None and b.number is not None:
            stack.append(a)
            terms.append(const(-b.number))
        else:
            terms.append(current)
    return terms if not stack else None


def tanh_by_exponentials(node: Tensor, algebra: Algebra) -> Tensor | None:
    """2/(1 + exp(u)) - 1 -> tanh(-u/2)."""
    pair = _difference_of(node)
    if pair is None or pair[1].number != 1:
        return None
    two, denominator, op = _parts(pair[0])
    if op is not div or two is None or two.number != 2 or denominator is None:
        return None
    a, b, op = _parts(denominator)
    if op is not add or a is None or b is None:
        return None
    for one, power in ((a, b), (b, a)):
        u = _operand(power, exp)
        if one.number == 1 and u is not None:
            return tanh(simplify(-u / 2))
    return None


_LARGER = (max_, (abs_, X), (abs_, Y))
_SCALED_HYPOT = (hypot, (div, X, _LARGER), (div, Y, _LARGER))

IDENTITY_ROWS = [
    Rule("log((1 + x)/(1 - x)) -> 2*atanh(x)", (log, (div, (add, X, 1), (sub, 1, X))),
         (mul, 2, (atanh, X))),
    Rule("log((1 - x)/(1 + x)) -> -2*atanh(x)", (log, (div, (sub, 1, X), (add, X, 1))),
         (mul, -2, (atanh, X))),
    Rule("exp(x)/expm1(x) -> -1/expm1(-x)", (div, (exp, X), (expm1, X)),
         (div, -1, (expm1, (neg, X)))),
    Rule("sqrt(exp(x)) -> exp(x/2)", (sqrt, (exp, X)), (exp, (div, X, 2))),
    # the slope of hypot: at subnormal x and y, hypot(x, y) rounds to a multiple of 5e-324
    # (x = y = 5e-324 gives x/hypot(x, y) = 1, not 0.707); scaled by m = max(|x|, |y|), not
    Rule("x/hypot(x, y) -> (x/m)/hypot(x/m, y/m)", (div, X, (hypot, X, Y)),
         (div, (div, X, _LARGER), _SCALED_HYPOT)),
    Rule("y/hypot(x, y) -> (y/m)/hypot(x/m, y/m)", (div, Y, (hypot, X, Y)),
         (div, (div, Y, _LARGER), _SCALED_HYPOT)),
]
"""Rows for formulas the library has a function for, or that overflow where an equal one
does not (exp(x)/expm1(x) is inf/inf at x = 710)."""

FUNCTION_ROWS = [
    Rule("p - q -> (p**2 - q**2)/(p + q)", (sub, add), conjugate),
    Rule("a/b - c/d -> (a*d - c*b)/(b*d)", (sub, add), common_denominator),
    Rule("cbrt(a) - cbrt(b) -> (a - b)/(cbrt(a)**2 + cbrt(a)*cbrt(b) + cbrt(b)**2)",
         (sub, add), cube_roots),
    Rule("c*a - c*b -> c*(a - b)", (sub, add), common_factor),
    Rule("a**p - b**p -> b**p*expm1(p*log1p((a - b)/b))", (sub, add), powers),
    Rule("a**p - b**p -> b**p*expm1(p*(log(a) - log(b)))", (sub, add), powers_by_logarithms),
    Rule("atan(a) - atan(b) -> atan2(a - b, 1 + a*b)", (sub, add), arctangents),
    Rule("sin/cos/tan(a) - same(b) -> angle-sum form", (sub, add), angle_sums),
    Rule("log(a) - log(b) -> log1p((a - b)/b)", (sub, add, log), logarithms),
    Rule("log(x + sqrt(x**2 +- 1)) -> asinh(x), acosh(x)", (log,), inverse_hyperbolic),
    Rule("exp(a) + exp(-a) - 2 -> 4*sinh(a/2)**2", (add, sub), exponentials),
    Rule("2/(1 + exp(u)) - 1 -> tanh(-u/2)", (sub, add), tanh_by_exponentials),
]
"""Rows too clever for a pattern, as named functions of (node, algebra)."""


def _function_row(rule: Rule, node: Tensor, context: Any) -> Candidate | None:
    result = rule.replacement(node, context)
    return None if result is None else Candidate(rule, rule.name, result, [])


SEARCH_RULE_SET = RuleSet([*IDENTITY_ROWS, *FUNCTION_ROWS], call=_function_row)
"""Every row the search tries at a node."""


def rewrites_at(node: Tensor, algebra: Algebra) -> Iterator[Candidate]:
    """Each row's rewrite of `node` itself, in order.

    >>> from symgrad.ir.graph import var
    >>> from symgrad.ops.scalar import sqrt
    >>> x = var("x")
    >>> [str(c.result) for c in rewrites_at(sqrt(x + 1) - sqrt(x), Simplifying())][:1]
    ['1/(sqrt(x) + sqrt(x + 1))']
    """
    return SEARCH_RULE_SET.candidates(node, algebra)


def replace(root: Tensor, node: Tensor, replacement: Tensor) -> Tensor:
    """`root` with `node` replaced by `replacement` wherever it occurs.

    >>> from symgrad.ir.graph import var
    >>> x, y = var("x"), var("y")
    >>> str(replace((x + 1) * x, x + 1, y))
    'x*y'
    """
    def visit(current: Tensor, a: Tensor | None, b: Tensor | None) -> Tensor:
        children = current.children
        if children is None or a is None:
            return current
        if a is children.a and b is children.b:
            return current
        return apply(children.op, a, b)

    return rebuild(root, visit, {node: replacement})[root]
