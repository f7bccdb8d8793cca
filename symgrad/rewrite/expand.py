"""Expanding where terms cancel, for the collecting engine (`collect.py`): `expand` multiplies
out a sum factor of a sum's terms (y*(1 - s) - (1 - y)*s -> y - s), `distribute` multiplies
out a product's sum factor ((e/s - e**2/s**2)*s/e -> 1 - e/s). Each is tried only where a
quick test finds terms that may cancel, and kept only when the result has fewer ops.

Works on the flat views of `flatten.py`; every node-keyed dict is filled with `add_to`.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import Any

from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor, const
from symgrad.ops.scalar import add, mul, sub
from symgrad.rewrite.flatten import (
    PRODUCT_OPS,
    CollectContext,
    Exponent,
    Factors,
    Number,
    add_to,
    local_count,
    product_factors,
    rebuild_product,
    rebuild_sum,
    split_coefficient,
    sum_terms,
)

SMALL = 4
"""The most terms (factors) a sum (product) may have for expanding to be tried."""


def _sum_factor(factors: dict[Tensor, Exponent]) -> Tensor | None:
    """The first factor that is a sum to the power 1, else None."""
    return next((b for b, e in factors.items()
                 if b.op in (add, sub) and not isinstance(e, Tensor) and e == 1), None)


def _with_sum_factors(terms: dict[Tensor, Number], context: CollectContext
                      ) -> Iterator[tuple[Number, Factors, Tensor | None]]:
    """(coefficient, factors, sum factor or None) for each term with a nonzero coefficient."""
    for term, coefficient in terms.items():
        if coefficient != 0:
            flat = product_factors(term, context)
            yield coefficient, flat, _sum_factor(flat.factors)


def _fingerprint(factors: dict[Tensor, Exponent]) -> int | None:
    """sum(hash(base) * exponent): equal for equal factor dicts with integer exponents (exactly,
    in integers; unequal dicts may collide, which only costs the exact check), else None."""
    total = 0
    for base, exponent in factors.items():
        if type(exponent) is not int:
            return None
        total += hash(base) * exponent
    return total


def _ratio(flat: Factors) -> Number:
    n, d = flat.numerator, flat.denominator
    return n if d == 1 else Fraction(n) / d


def _has_float(flat: Factors) -> bool:
    return isinstance(flat.numerator, float) or isinstance(flat.denominator, float)


def _may_gain(terms: dict[Tensor, Number], context: CollectContext, slack: int) -> bool:
    """A quick test for `expand`: could expanded terms cancel (a total of zero), or merge
    into as many terms as expanding adds, less `slack`? False only when they cannot (the
    fingerprints of their factors never meet so). The totals are added only for fingerprints
    met twice: most sums have none."""
    pieces: list[tuple[tuple, Number, Number, Factors | None]] = []  # (key, scales, inner)
    added = 0  # terms expanding adds
    for coefficient, flat, inner in _with_sum_factors(terms, context):
        base = _fingerprint(flat.factors)
        if base is None or _has_float(flat):
            return True  # no quick answer
        if inner is None:
            pieces.append(((base, flat.numerator, flat.denominator), coefficient, 1, None))
            continue
        base -= hash(inner)
        inner_sum = sum_terms(inner, context)
        added += len(inner_sum.terms) - (inner_sum.constant == 0)
        if inner_sum.constant != 0:
            pieces.append(((base, flat.numerator, flat.denominator), coefficient,
                           inner_sum.constant, None))
        for inner_term, inner_coefficient in inner_sum.terms.items():
            inner_flat = product_factors(inner_term, context)
            print_ = _fingerprint(inner_flat.factors)
            if print_ is None or _has_float(inner_flat):
                return True
            pieces.append(((base + print_, flat.numerator, flat.denominator), coefficient,
                           inner_coefficient, inner_flat))
    if not added:
        return False
    counts: dict[tuple, int] = {}
    for key, _, _, _ in pieces:
        counts[key] = counts.get(key, 0) + 1
    if len(pieces) - len(counts) >= added - slack:
        return True  # enough merge
    if len(counts) == len(pieces):
        return False
    totals: dict[tuple, Any] = {}
    for key, coefficient, inner_coefficient, inner_factors in pieces:
        if counts[key] > 1:
            scale = coefficient * inner_coefficient
            if inner_factors is not None:
                scale *= _ratio(inner_factors)
            totals[key] = totals.get(key, 0) + scale
    return any(total == 0 for total in totals.values())


def expand(terms: dict[Tensor, Number], constant: Number, context: CollectContext,
           plain: Tensor) -> Tensor | None:
    """a*(b + c) + d -> a*b + a*c + d when some expanded terms cancel, as in
    y*(1 - s) - (1 - y)*s -> y - s, or merge, as in 800*x**2 - 400*(y - x**2) ->
    1200*x**2 - 400*y; None when that gains nothing. One sum factor per term is expanded, in
    a sum of up to SMALL terms, or a longer one whose terms are sums (the gradient of
    sum((x - v_i)**2))."""
    # a long sum only where a term is a sum itself, as in 2*(x - a) + 2*(x - b) + ...: its
    # terms are as many again, and merging all but one of them pays for expanding
    slack = int(len(terms) > SMALL)
    if slack and not any(term.op in (add, sub) for term in terms):
        return None
    if not _may_gain(terms, context, slack):
        return None
    pieces: list[tuple[dict, Number, Number, Number]] = []  # (factors, num., denom., scale)
    expanded = False
    live = 0
    for coefficient, flat, inner in _with_sum_factors(terms, context):
        live += 1
        if inner is None:
            pieces.append((flat.factors, flat.numerator, flat.denominator, coefficient))
            continue
        inner_sum = sum_terms(inner, context)
        if len(inner_sum.terms) > SMALL:
            return None
        expanded = True
        rest = dict(flat.factors)
        del rest[inner]
        for inner_term, inner_coefficient in [*inner_sum.terms.items(), (None, inner_sum.constant)]:
            if inner_coefficient == 0:
                continue
            merged = dict(rest)
            scale = coefficient * inner_coefficient
            if inner_term is not None:
                inner_flat = product_factors(inner_term, context)
                if _has_float(inner_flat):
                    return None
                scale *= _ratio(inner_flat)
                for base, exponent in inner_flat.factors.items():
                    add_to(merged, base, exponent)
            pieces.append((merged, flat.numerator, flat.denominator, scale))
    if not expanded:
        return None
    # gate: some expanded terms must cancel (sum to zero), or merge into as many terms as
    # expanding adds, before anything is built
    signatures: dict[tuple, Any] = {}
    for factors, numerator, denominator, scale in pieces:
        powers = frozenset((b, e) for b, e in factors.items()
                           if isinstance(e, Tensor) or e != 0)
        key = (powers, numerator, denominator)
        signatures[key] = signatures.get(key, 0) + scale
    merges = len(pieces) - len(signatures)
    if not merges or (merges < len(pieces) - live - slack
                      and all(total != 0 for total in signatures.values())):
        return None
    stop = {b for factors, _, _, _ in pieces for b in factors}
    stop.update(t for t in terms if context.shared(t))  # they stay for their other users
    plain_count = local_count(plain, stop)
    # a lower bound on the expanded sum's ops: its additions, products and powers
    bound = len(signatures) - 1
    for powers, _, _ in signatures:
        bound += max(0, len(powers) - 1) + sum(1 for _, e in powers if e != 1 and e != -1)
    if bound >= plain_count:
        return None
    collected: dict[Tensor, Number] = {}
    extra = constant
    for factors, numerator, denominator, scale in pieces:
        product = rebuild_product(factors, numerator, denominator, context)
        inner_scale, base = split_coefficient(product)
        total = scale * inner_scale
        if isinstance(total, Fraction) and total.denominator == 1:
            total = total.numerator
        if base.number is not None:
            extra += total * base.number
        else:
            add_to(collected, base, total)
    candidate = rebuild_sum(collected, extra, context)
    return candidate if local_count(candidate, stop) < plain_count else None


def distribute(flat: Factors, context: CollectContext, plain: Tensor) -> Tensor | None:
    """c * (t_1 + ... + t_k) * r -> c*t_1*r + ... + c*t_k*r, when the products collect into
    fewer ops (((e/s - e**2/s**2)*s/e -> 1 - e/s)); tried for small sums and products only."""
    factors = flat.factors
    if len(factors) > SMALL or plain.op is None:
        return None
    for base, exponent in factors.items():
        if base.op not in (add, sub) or isinstance(exponent, Tensor) or exponent != 1:
            continue
        inner_sum = sum_terms(base, context, through_shared=True)
        if len(inner_sum.terms) > SMALL:
            continue
        rest = dict(factors)
        del rest[base]
        if not _some_term_cancels(inner_sum.terms, rest, context):
            continue
        others = rebuild_product(rest, flat.numerator, flat.denominator, context)
        stop = set(rest)
        products: dict[Tensor, Number] = {}
        pieces = list(inner_sum.terms.items())
        if inner_sum.constant:
            pieces.append((const(inner_sum.constant), 1))
        for term, coefficient in pieces:
            piece = apply(mul, term, others)
            if piece.op in PRODUCT_OPS:
                piece_flat = product_factors(piece, context, through_shared=True)
                stop.update(piece_flat.factors)
                piece = rebuild_product(piece_flat.factors, piece_flat.numerator,
                                        piece_flat.denominator, context)
            scale, inner = split_coefficient(piece)
            add_to(products, inner, coefficient * scale)
        candidate = rebuild_sum(products, 0, context)
        if local_count(candidate, stop) < local_count(plain, stop):
            return candidate
    return None


def _some_term_cancels(terms: dict[Tensor, Number], rest: dict[Tensor, Exponent],
                       context: CollectContext) -> bool:
    """Whether a term has a base that the other factors `rest` (or their own factors) hold
    with an exponent of the opposite sign (x/y * y/x): only then can distributing gain."""
    near: dict[Tensor, Number] = {}  # a heuristic: a later power of a base may overwrite
    for other, power in rest.items():
        if isinstance(power, Tensor):
            continue
        near[other] = power
        if other.op in PRODUCT_OPS:
            for inner, inner_power in product_factors(other, context, True).factors.items():
                if not isinstance(inner_power, Tensor):
                    near[inner] = inner_power * power
    return any(
        not isinstance(power, Tensor) and power * near.get(inner, 0) < 0
        for term in terms
        for inner, power in product_factors(term, context, True).factors.items()
    )
