"""The collecting engine: the two rules too clever for a row (`rules.COLLECTION`).
`collect_sum` merges like terms, folds constants, applies sin**2 + cos**2 = 1, sorts the
terms and pulls out a common factor; `collect_product` merges like powers, cancels, folds the
coefficients and sorts the factors. Both may expand where terms cancel (`expand.py`).

They read sums and products through the flat views of `flatten.py`, and ask the simplifier's
pass (a `CollectContext`) about sharing and order. Every node-keyed dict is filled with
`add_to`: interned nodes make parts built apart the same key (x*(x + y) + y*(x + y) pulls
out x + y, and the cofactor left is x + y again: (x + y)**2, not x + y).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor, binary_children, children_of, to_float
from symgrad.ir.op import Op
from symgrad.ops.scalar import (
    add,
    cos,
    cosh,
    div,
    exp,
    mul,
    neg,
    pow,
    sigmoid,
    sin,
    sinh,
    sub,
    tan,
    tanh,
)
from symgrad.rewrite.expand import distribute, expand
from symgrad.rewrite.flatten import (
    LIMIT,
    SUM_OPS,
    CollectContext,
    Exponent,
    Factors,
    Number,
    add_to,
    local_count,
    numeric_powers,
    product_factors,
    rebuild_product,
    rebuild_sum,
    split_coefficient,
    sum_terms,
)

# --- sums ------------------------------------------------------------------------------------


def collect_sum(node: Tensor, context: CollectContext) -> tuple[Tensor, str] | None:
    """sum of c_i*t_i + c: merge equal t_i (x + x -> 2*x, 3*x - x -> 2*x), fold constants,
    sin**2 + cos**2 -> 1, sort the terms, then pull out a common factor if that is smaller.
    Returns the result and the rule's name, or None when the sum is already so."""
    if _sum_is_canonical(node, context):
        return None
    flat = sum_terms(node, context)
    if flat.left_whole:  # copy a shared sub-sum only when that lets more terms or constants fold
        context.unsettle(node)  # the next pass, with new sharing, may find more
        through = sum_terms(node, context, through_shared=True)
        if through.folds_more_than(flat):
            flat = through
    terms = dict(flat.terms)  # pythagoras changes it
    constant, trig = pythagoras(terms, flat.constant)
    result = rebuild_sum(terms, constant, context)
    name = ("sin(x)**2 + cos(x)**2 -> 1" if trig else "like terms: x + x -> 2*x" if flat.merged
            else "fold constants" if flat.constants > 1 else "canonical order: a + b")
    expanded = expand(terms, constant, context, result)
    if expanded is not None:
        return expanded, "expand: a*(b + c) -> a*b + a*c"
    factored = common_factor(terms, constant, context, result)
    if factored is not None:
        return None if factored is node else (factored, "common factor: a*b + a*c -> a*(b + c)")
    if result is node:
        return None
    return result, name


def _squared_trig(term: Tensor) -> tuple[Op, Tensor] | None:
    """(sin, u) for sin(u)**2, (cos, u) for cos(u)**2, else None."""
    children = term.children
    if children is not None and children.op is pow and children.b is not None \
            and children.b.number == 2:
        inner = children.a.children
        if inner is not None and inner.op in (sin, cos):
            return inner.op, inner.a
    return None


def pythagoras(terms: dict[Tensor, Number], constant: Number) -> tuple[Number, bool]:
    """a*sin(u)**2 + b*cos(u)**2 + c -> (a - b)*sin(u)**2 + (b + c), then
    k*sin(u)**2 - k -> -k*cos(u)**2 (and the same with sin and cos swapped). Changes `terms`;
    returns the new constant and whether anything changed."""
    found: dict[tuple[Op, Tensor], Tensor] = {}
    for term, coefficient in terms.items():
        trig = _squared_trig(term)
        if trig is not None and coefficient != 0:
            found[trig] = term  # one node per (op, u): interning makes sin(u)**2 unique
    fired = False
    for (op, u), term in sorted(found.items(), key=lambda item: item[0][0] is cos):
        if op is not sin or (cos, u) not in found:
            continue
        cosine = found[(cos, u)]
        constant += terms[cosine]
        add_to(terms, term, -terms[cosine])
        terms[cosine] = 0
        fired = True
    for (op, u), term in found.items():
        k = terms[term]
        if k != 0 and constant == -k:
            terms[term] = 0
            add_to(terms, apply(pow, (cos if op is sin else sin)(u), 2), -k)
            constant = 0
            fired = True
    return constant, fired


def _sum_is_canonical(node: Tensor, context: CollectContext) -> bool:
    """A quick, exact test that `collect_sum` would leave a two-term sum as it is."""
    a, b, op = children_of(node)
    if b is None or a.op in SUM_OPS or b.op in SUM_OPS or a.op is div or b.op is div:
        return False
    if b.number is not None:  # t + c, t - c
        scale, term = split_coefficient(a)
        return a.number is None and scale > 0 and _squared_trig(term) is None
    if a.number is not None:  # c - t
        scale, term = split_coefficient(b)
        return op is sub and a.number > 0 and scale > 0 and _squared_trig(term) is None
    (scale_a, term_a), (scale_b, term_b) = split_coefficient(a), split_coefficient(b)
    if term_a is term_b or scale_a <= 0 or scale_b <= 0 or a.is_const or b.is_const:
        return False
    if op is add and context.key(term_a) > context.key(term_b):
        return False
    if _squared_trig(term_a) is not None and _squared_trig(term_b) is not None:
        return False
    if term_a.op in (add, sub) or term_b.op in (add, sub):  # expanded, its terms may merge
        return False
    if term_a.op in (mul, pow) or term_b.op in (mul, pow):  # a common factor, a sum factor?
        bases_a, bases_b = _bases(term_a, context), _bases(term_b, context)
        return bases_a.isdisjoint(bases_b) and not any(
            base.op in (add, sub) for base in (*bases_a, *bases_b))
    return True


def _bases(term: Tensor, context: CollectContext) -> set[Tensor]:
    """The bases of a product term with a nonzero numeric exponent."""
    factors = numeric_powers(product_factors(term, context)).factors
    return {base for base, exponent in factors.items() if exponent != 0}


# --- common factors --------------------------------------------------------------------------


class _Factored(NamedTuple):
    """One term of a sum, seen as a product."""

    flat: Factors  # its factors, symbolic powers kept whole
    term: Tensor
    coefficient: Number


class _Side(NamedTuple):
    """A factor to pull out: `base` in the numerator (`positive`) or in the denominator."""

    base: Tensor
    positive: bool


def common_factor(terms: dict[Tensor, Number], constant: Number, context: CollectContext,
                  plain: Tensor) -> Tensor | None:
    """a*b + a*c -> a*(b + c), for the factor shared by most terms, when it shrinks the sum
    (also a/b + c/b -> (a + c)/b: a factor is a base with a numeric exponent of one sign)."""
    live = [(t, c) for t, c in terms.items() if c != 0]
    if len(live) < 2:
        return None
    factored = [_Factored(numeric_powers(product_factors(t, context)), t, c) for t, c in live]
    counts: dict[_Side, int] = {}
    for item in factored:
        for base, exponent in item.flat.factors.items():
            if not isinstance(exponent, Tensor) and exponent != 0:
                side = _Side(base, exponent > 0)
                counts[side] = counts.get(side, 0) + 1
    shared = sorted((side for side, n in counts.items() if n >= 2),
                    key=lambda side: (-counts[side], context.key(side.base), not side.positive))
    if not shared:
        return None
    stop = {base for item in factored for base in item.flat.factors}
    stop.update(t for t, _ in live if context.shared(t))  # they stay for their other users
    best_count = local_count(plain, stop)
    best = None
    for side in shared[:3]:  # the factors shared by most terms
        candidate = _factor_out(side, factored, constant, context)
        count = local_count(candidate, stop)
        # on a tie, pull out a compound factor, as people write it: x**x*(log(x) + 1)
        if count < best_count or (best is None and count == best_count
                                  and side.base.op is not None and side.positive):
            best, best_count = candidate, count
    return best


def _factor_out(side: _Side, factored: list[_Factored], constant: Number,
                context: CollectContext) -> Tensor:
    """The sum with the factor `side` pulled out of the terms holding it. In a sum of more than
    `flatten.LIMIT` terms, it is pulled out of the cofactor again while two of its terms hold
    it, all at once: sum(w**k * a_k) -> a_0 + w*(a_1 + w*(a_2 + ...)). Pulled out one level at
    a time, each level would rebuild every term below it: quadratic in the terms."""

    def exponent_of(factors: dict[Tensor, Exponent]) -> Number | None:
        exponent = factors.get(side.base, 0)
        if isinstance(exponent, Tensor) or exponent == 0 or (exponent > 0) != side.positive:
            return None
        return exponent

    exponents = [e for e in (exponent_of(item.flat.factors) for item in factored) if e is not None]
    power = min(exponents) if side.positive else max(exponents)
    nested = len(factored) > LIMIT
    outside: dict[Tensor, Number] = {}
    levels: dict[Number, list[_Factored]] = {}  # the terms by the power pulled out of them
    for item in factored:
        exponent = exponent_of(item.flat.factors)
        if exponent is None:
            add_to(outside, item.term, item.coefficient)
        else:
            levels.setdefault(exponent if nested else power, []).append(item)
    inner: Tensor | None = None  # the cofactor of the level below, from the deepest up
    inner_power: Number = 0
    for level in sorted(levels, reverse=side.positive):  # the deepest first
        inside: dict[Tensor, Number] = {}
        for flat, _, coefficient in levels[level]:
            rest = dict(flat.factors)
            rest[side.base] -= level
            scale, remainder = split_coefficient(
                rebuild_product(rest, flat.numerator, flat.denominator, context))
            add_to(inside, remainder, coefficient * scale)
        if inner is not None:
            add_to(inside, _times_power(side.base, inner_power - level, inner, context), 1)
        inner, inner_power = rebuild_sum(inside, 0, context), level
    assert inner is not None  # the factor is held by two terms at least
    add_to(outside, _times_power(side.base, inner_power, inner, context), 1)
    return rebuild_sum(outside, constant, context)


def _times_power(base: Tensor, power: Number, cofactor: Tensor, context: CollectContext
                 ) -> Tensor:
    """base**power * cofactor; the cofactor can be the base itself
    (x*(x + 1) + (x + 1) -> (x + 1)**2)."""
    grouped: dict[Tensor, Exponent] = {base: power}
    add_to(grouped, cofactor, 1)
    return rebuild_product(grouped, 1, 1, context)


# --- products --------------------------------------------------------------------------------


def collect_product(node: Tensor, context: CollectContext) -> tuple[Tensor, str] | None:
    """prod of b_i**e_i / prod ...: merge equal bases (x*x -> x**2, x**a*x**b -> x**(a+b),
    x/x -> 1), fold the numeric coefficients, and sort the factors. A shared sub-product is
    expanded (copied) only when more then folds (`Factors.folds_more_than`). Returns the
    result and the rule's name, or None when the product is already so."""
    if _product_is_canonical(node, context):
        return None
    flat = product_factors(node, context)
    if flat.left_whole:
        context.unsettle(node)  # the next pass, with new sharing, may find more
        through = product_factors(node, context, through_shared=True)
        if through.folds_more_than(flat, context.merges_shared):
            flat = through
    numerator, denominator = flat.numerator, flat.denominator
    if isinstance(numerator, float) and numerator.is_integer():
        numerator = int(numerator)
    if isinstance(denominator, float) and denominator.is_integer():
        denominator = int(denominator)
    # exact coefficients multiply past the float range (2**1100), where their float is inf
    if not (math.isfinite(to_float(numerator)) and math.isfinite(to_float(denominator))):
        return None
    if (isinstance(numerator, float) or isinstance(denominator, float)) and 1 not in (
        numerator, denominator
    ):  # 2.5*x/(6.25*y) -> 0.4*x/y
        numerator, denominator = numerator / denominator, 1
    quotient = quotients(flat.factors)
    flat = flat._replace(numerator=numerator, denominator=denominator,
                         factors=flat.factors if quotient is None else quotient)
    result = rebuild_product(flat.factors, numerator, denominator, context)
    distributed = distribute(flat, context, result)
    if distributed is not None:
        return distributed, "distribute: (a + b)*c -> a*c + b*c"
    if result is node:
        return None
    name = ("quotient forms: sin(x)/cos(x) -> tan(x)" if quotient is not None
            else "cancel: x/x -> 1" if flat.cancelled else "like powers: x*x -> x**2" if flat.merged
            else "fold constants" if flat.numbers > 1 else "canonical order: a*b")
    return result, name


def _exp_plus_one(u: Tensor) -> Tensor:
    return apply(add, apply(exp, u), 1)


QUOTIENTS: dict[Op, tuple[Callable[[Tensor], Tensor], Op]] = {
    sin: (cos, tan), sinh: (cosh, tanh), exp: (_exp_plus_one, sigmoid)}
"""f: (g, h) where f(u)/g(u) = h(u): sin/cos = tan (where cos(u) != 0), sinh/cosh = tanh,
exp/(exp + 1) = sigmoid (the derivative of log(1 + exp(u)) in a product: x*sigmoid(w*x + b)).
The quick test of a two-factor product (`_product_is_canonical`) leaves f(u)/g(u) to the full
collection when g is an op; g(u) = exp(u) + 1 is a sum, which that test never passes."""


def quotients(factors: dict[Tensor, Exponent]) -> dict[Tensor, Exponent] | None:
    """f(u)**k * g(u)**-k -> h(u)**k for the pairs of `QUOTIENTS` among a product's factors
    (3*sinh(u)/cosh(u) -> 3*tanh(u), x*exp(u)/(exp(u) + 1) -> x*sigmoid(u)); None when there
    is none.

    >>> from symgrad.ir.graph import var
    >>> u = var("u")
    >>> quotients({sinh(u): 1, cosh(u): -1, u: 1})
    {Tensor(u): 1, Tensor(tanh(u)): 1}
    """
    found = None
    for base, exponent in factors.items():
        children = base.children
        if children is None or children.op not in QUOTIENTS or isinstance(exponent, Tensor) \
                or exponent <= 0:
            continue
        below, ratio = QUOTIENTS[children.op]
        partner = below(children.a)
        if partner not in factors or isinstance(factors[partner], Tensor) \
                or factors[partner] != -exponent:
            continue
        if found is None:
            found = dict(factors)
        del found[base], found[partner]
        add_to(found, apply(ratio, children.a), exponent)
    return found


def _kept_factor(node: Tensor) -> bool:
    """A factor that `collect_product` keeps as it is (and that no product can distribute)."""
    op = node.op
    if node.is_const or op in (mul, div, neg, add, sub):
        return False
    if op is not pow:
        return True
    exponent = binary_children(node)[1].number
    return exponent is None or exponent > 0


def _product_is_canonical(node: Tensor, context: CollectContext) -> bool:
    """A quick, exact test that `collect_product` would leave a two-factor product as it is."""
    a, b, op = binary_children(node)
    if isinstance(a.number, Fraction) and a.number.denominator != 1:
        return False  # 1/2*x -> x/2: an exact coefficient's denominator divides
    if a.number is not None:  # c*t, c/t (a constant alone cannot cancel a sum's terms)
        return b.op in (add, sub) or _kept_factor(b)
    if b.number is not None:  # t/c
        return op is div and _kept_factor(a) and b.number > 0
    if not (_kept_factor(a) and _kept_factor(b)):
        return False
    base_a = children_of(a).a if a.op is pow else a
    base_b = children_of(b).a if b.op is pow else b
    if base_a is base_b or (base_a.op in QUOTIENTS and QUOTIENTS[base_a.op][0] is base_b.op):
        return False
    return op is div or context.key(base_a) <= context.key(base_b)
