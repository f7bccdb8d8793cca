"""Sums and products seen flat, the data the collecting engine (`collect.py`, `expand.py`)
works on: `sum_terms` reads `a + 2*b - c + 1` as {a: 1, b: 2, c: -1} and the constant 1,
`product_factors` reads `2*x*y/x**3` as {x: -2, y: 1} over the coefficients 2 and 1, and
`rebuild_sum` / `rebuild_product` write them back in canonical order. The simplifier's pass
is the `CollectContext` they ask about sharing, sort keys and settled nodes.

Nodes are interned, so parts found or built apart can be the same node: the cofactor of
`x + y` in `x*(x + y) + y*(x + y)` is `x + y` itself. Every node-keyed dict is therefore
filled with `add_to`, which adds to what a key already holds; assigning would drop a part.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from fractions import Fraction
from typing import Any, NamedTuple, Protocol

from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor, binary_children, const
from symgrad.ir.op import Op
from symgrad.ops.scalar import add, div, mul, neg, pow, sub

Number = int | float | Fraction
Exponent = Number | Tensor  # a power's exponent: a number, or a node (x**y)

_EXACT = (int, Fraction)

LIMIT = 8
"""A chain of more than this many sums (products) with no other user is collected only at its
top, which flattens through all of it once (its other links are `CollectContext.inner`), so a
long chain stays linear; a flattening through shared links expands at most this many."""

SUM_OPS = (add, sub, neg)
PRODUCT_OPS = (mul, div)

# Builds a NamedTuple without its Python-level __new__: flattenings are made for most nodes
# a pass sees, and that constructor costs more than the tuple.
_new_tuple = tuple.__new__


class CollectContext(Protocol):
    """What the collecting engine needs from the simplifier's pass."""

    flattened: Flattened
    """The flattenings of this pass."""

    merges_shared: bool
    """Whether a shared sub-product is copied to merge a base with one of its own
    (x*(x*y) -> x**2*y, x*y staying for its other users), or only to cancel one or fold a
    number."""

    def key(self, node: Tensor) -> tuple:
        """The node's structural sort key (canonical order)."""
        ...

    def shared(self, node: Tensor) -> bool:
        """Whether the node has several users (collecting through it would copy it)."""
        ...

    def inner(self, node: Tensor) -> bool:
        """Whether the node is an inner link of a sum (product) chain: its one user is a sum
        (product) too and collects through it, so collecting here would be done again there."""
        ...

    def settle(self, node: Tensor) -> None:
        """Mark a node built in canonical form: no rule need look at it again."""
        ...

    def link(self, node: Tensor, kind: tuple[Op, ...]) -> None:
        """Mark a node built as the inner link of a longer sum (`kind` SUM_OPS) or product
        (PRODUCT_OPS): it is collected with the whole. A node of another kind is left alone
        (a sum factor of a product is collected on its own)."""
        ...

    def unsettle(self, node: Tensor) -> None:
        """Mark a node whose outcome depended on sharing: the next pass tries it again."""
        ...

    def share(self, node: Tensor) -> None:
        """Mark a node that gains a user (a copy of the chain above it): no longer an inner
        link, so no walk expands through it unbounded."""
        ...


class Terms(NamedTuple):
    """A sum flattened: sum(c*t for t, c in terms.items()) + constant, with counts of what
    flattening did (they name the rewrite)."""

    terms: dict[Tensor, Number]
    constant: Number
    merged: int  # repeated terms added together
    left_whole: int  # shared sub-sums kept as terms
    constants: int  # constants summed

    def folds_more_than(self, other: Terms) -> bool:
        """Whether this view of a sum (through its shared sub-sums) folds more than `other`
        (the view that keeps them whole): more terms merge, into no more terms than `other`
        has (s + s is 2*s, not 2*x + 2*y through s = x + y); a constant of the sum's own
        folds into one of theirs (a + 3 - b - 3 -> a - b, not a + a -> 2*a through a = u + 1)."""
        return (self.merged > other.merged and self.live <= other.live) \
            or 0 < other.constants < self.constants

    @property
    def live(self) -> int:
        """The terms left: those with a nonzero coefficient."""
        return sum(1 for coefficient in self.terms.values() if coefficient != 0)


class Factors(NamedTuple):
    """A product flattened: numerator * prod(b**e for b, e in factors.items()) / denominator,
    with counts of what flattening did (they name the rewrite)."""

    factors: dict[Tensor, Exponent]
    numerator: Number
    denominator: Number
    merged: int  # repeated bases whose exponents were added
    cancelled: int  # of those, bases whose exponents added up to 0
    numbers: int  # numeric factors multiplied into the coefficients
    left_whole: int  # shared sub-products kept as factors

    def folds_more_than(self, other: Factors, merging: bool) -> bool:
        """Whether this view of a product (through its shared sub-products) folds more than
        `other` (the view that keeps them whole): more bases cancel, or merge if `merging`
        counts, a number of the product's own folds into one of theirs, or a zero numerator
        zeroes the product."""
        joined = self.merged > other.merged if merging else self.cancelled > other.cancelled
        return joined or 0 < other.numbers < self.numbers or self.numerator == 0 != other.numerator


class Flattened(NamedTuple):
    """The flattenings of one pass by node, sums and products: the first dict of each holds
    the views that keep shared parts whole, the second those through them
    (`sums[through_shared]`)."""

    sums: tuple[dict[Tensor, Terms], dict[Tensor, Terms]]
    products: tuple[dict[Tensor, Factors], dict[Tensor, Factors]]

    @classmethod
    def empty(cls) -> Flattened:
        return cls(({}, {}), ({}, {}))


def add_exponents(old: Exponent, new: Exponent) -> Exponent:
    """old + new, as a node when either is one."""
    if isinstance(old, Tensor) or isinstance(new, Tensor):
        return apply(add, old, new)
    return old + new


def add_to(counts: dict[Tensor, Any], key: Tensor, amount: Exponent) -> Exponent:
    """counts[key] += amount (a missing key holds 0); returns the new total.

    >>> from symgrad.ir.graph import var
    >>> x = var("x")
    >>> factors = {x: 2}
    >>> add_to(factors, x, 1), factors
    (3, {Tensor(x): 3})
    """
    old = counts.get(key)
    total = amount if old is None else add_exponents(old, amount)
    counts[key] = total
    return total


class _Walk(NamedTuple):
    leaves: list[tuple[Tensor, int, int]]  # (leaf, side, sign)
    negations: int  # neg nodes passed through
    left_whole: int  # chain nodes with other users, kept as leaves


def _walk(node: Tensor, context: CollectContext, through_shared: bool, ops: tuple[Op, Op]
          ) -> _Walk:
    """The leaves of the chain of `ops` (add, sub or mul, div) rooted at `node`, with their
    side (-1 under an odd number of right operands of sub/div) and sign (-1 under an odd number
    of negations). Expands through every link with no other user: a chain of more than LIMIT
    such links is collected at its top only (its inner links are not), so each link is walked
    a bounded number of times. Through a link with other users only `through_shared` (else it
    is a leaf: collecting through it would copy it; and a chain shared by many could be walked
    by each), and then through at most LIMIT links."""
    inverse = ops[1]
    leaves: list[tuple[Tensor, int, int]] = []
    negations = left_whole = expanded = 0
    stack = [(node, 1, 1)]
    while stack:
        term, side, sign = stack.pop()
        children = term.children
        if children is None:
            leaves.append((term, side, sign))
            continue
        op = children.op
        if op is neg:  # -t: no new node either way, so sharing does not matter
            negations += 1
            stack.append((children.a, side, -sign))
            continue
        if op in ops and children.b is not None:
            if term is node or (expanded < LIMIT if through_shared
                                else not context.shared(term)):
                expanded += 1
                stack.append((children.b, -side if op is inverse else side, sign))
                stack.append((children.a, side, sign))
                continue
            if not through_shared:
                left_whole += 1
        if through_shared and context.inner(term):
            # the link of a shared chain, cut here: a product (sum) built from these leaves
            # copies the chain above and uses the link too. As an inner link it would be
            # expanded, without limit, by each copy's own walk: O(n) per copy, O(n**2) in all
            # for a recurrence whose every level copies the level below.
            context.share(term)
        leaves.append((term, side, sign))
    return _new_tuple(_Walk, (leaves, negations, left_whole))


def sum_terms(node: Tensor, context: CollectContext, through_shared: bool = False) -> Terms:
    """The sum at `node` flattened through its unshared sub-sums (all with `through_shared`).
    Cached per pass: callers copy `terms` before changing it."""
    cache = context.flattened.sums[through_shared]
    found = cache.get(node)
    if found is not None:
        return found
    walk = _walk(node, context, through_shared, (add, sub))
    terms: dict[Tensor, Number] = {}
    constant: Number = 0
    merged = constants = 0
    for term, side, sign in walk.leaves:
        if term.number is not None:
            constants += 1
            constant += side * sign * term.number
            continue
        coefficient, base = split_coefficient(term)
        merged += base in terms
        add_to(terms, base, side * sign * coefficient)
    found = _new_tuple(Terms, (terms, constant, merged, walk.left_whole, constants))
    cache[node] = found
    return found


def product_factors(node: Tensor, context: CollectContext, through_shared: bool = False
                    ) -> Factors:
    """The product at `node` flattened through its unshared sub-products (all with
    `through_shared`); a power with a numeric exponent (or in the numerator) adds its
    exponent to its base's. Cached per pass: callers copy `factors` before changing it."""
    cache = context.flattened.products[through_shared]
    found = cache.get(node)
    if found is not None:
        return found
    walk = _walk(node, context, through_shared, PRODUCT_OPS)
    numerator: Number = -1 if walk.negations % 2 else 1
    denominator: Number = 1
    factors: dict[Tensor, Exponent] = {}
    merged = cancelled = numbers = 0
    for term, side, _ in walk.leaves:
        value = term.number
        if value is not None and (side > 0 or value != 0):  # (a division by 0 stays)
            numbers += 1
            if side > 0:
                numerator *= value
            else:
                denominator *= value
            continue
        exponent: Exponent = side
        base = term
        children = term.children
        if children is not None and children.op is pow and children.b is not None \
                and (children.b.number is not None or side > 0):
            base = children.a
            exponent = children.b.number * side if children.b.number is not None else children.b
        if base in factors:
            merged += 1
            total = add_to(factors, base, exponent)
            cancelled += not isinstance(total, Tensor) and total == 0
        else:
            factors[base] = exponent
    found = _new_tuple(Factors, (factors, numerator, denominator, merged, cancelled, numbers,
                                 walk.left_whole))
    cache[node] = found
    return found


def numeric_powers(flat: Factors) -> Factors:
    """The flattened product with each symbolic power b**e kept whole, as a factor (b**e)**1."""
    if not any(isinstance(e, Tensor) for e in flat.factors.values()):
        return flat
    numeric: dict[Tensor, Exponent] = {}
    for base, exponent in flat.factors.items():
        if isinstance(exponent, Tensor):
            base, exponent = apply(pow, base, exponent), 1
        add_to(numeric, base, exponent)
    return flat._replace(factors=numeric)


def split_coefficient(term: Tensor) -> tuple[Number, Tensor]:
    """c*t -> (c, t); (c*t)/d -> (c, t/d); t -> (1, t)."""
    children = term.children
    if children is not None and children.b is not None:
        a, b = children.a, children.b
        if children.op is mul and a.number is not None:
            return a.number, b
        inner = a.children
        if children.op is div and inner is not None and inner.op is mul \
                and inner.b is not None and inner.a.number is not None:
            return inner.a.number, apply(div, inner.b, b)
    return 1, term


def scaled(term: Tensor, coefficient: Number) -> Tensor:
    """c*t, with the coefficient inside a quotient: c*(a/b) -> (c*a)/b."""
    if coefficient == 1:
        return term
    if term.op is div and coefficient != -1:
        numerator, denominator, _ = binary_children(term)
        return apply(div, apply(mul, coefficient, numerator), denominator)
    return apply(mul, coefficient, term)


def rebuild_sum(terms: dict[Tensor, Number], constant: Number, context: CollectContext
                ) -> Tensor:
    """Positive terms in canonical order, then the negative ones, then the constant."""
    items = sorted(((t, c) for t, c in terms.items() if c != 0), key=lambda i: context.key(i[0]))
    long_chain = len(items) > LIMIT

    def extended(partial: Tensor, op: Op, piece: Tensor) -> Tensor:
        context.settle(partial)  # a canonical partial sum: no need to collect it again
        if long_chain:
            context.link(partial, SUM_OPS)  # collected with the whole
        return apply(op, partial, piece)

    result = None
    for term, coefficient in items:
        if coefficient > 0:
            piece = scaled(term, coefficient)
            if result is None:
                result = piece
            else:
                result = extended(result, add, piece)
    if result is None and constant > 0:
        result, constant = const(constant), 0
    for term, coefficient in items:
        if coefficient < 0:
            if result is None and term.op in (mul, div, sub):
                # -(a - b)*c -> (b - a)*c: the sign goes into a sum factor when it can
                flat = product_factors(term, context)
                result = rebuild_product(flat.factors, coefficient * flat.numerator,
                                         flat.denominator, context)
            elif result is None:
                result = scaled(term, coefficient)
            else:
                result = extended(result, sub, scaled(term, -coefficient))
    if result is None:
        return const(constant)
    return apply(add, result, constant) if constant != 0 else result


def rebuild_product(factors: dict[Tensor, Exponent], numerator: Number, denominator: Number,
                    context: CollectContext) -> Tensor:
    """c_n * prod(b**e for e > 0) / (c_d * prod(b**-e for e < 0)), factors in canonical order."""
    if (denominator != 1 or type(numerator) is Fraction) and type(numerator) in _EXACT \
            and type(denominator) in _EXACT and denominator != 0:
        # exact coefficients stay exact, in lowest terms over an integer: 3*x/2, not 1.5*x
        ratio = Fraction(numerator) / Fraction(denominator)
        numerator, denominator = ratio.numerator, ratio.denominator
    if numerator == -1:  # -(a - b)*c -> (b - a)*c: one op less (at worst a copy of a - b)
        for base, exponent in factors.items():
            if base.op is sub and not isinstance(exponent, Tensor) and exponent == 1 \
                    and not context.shared(base):
                factors = dict(factors)
                del factors[base]
                minuend, subtrahend, _ = binary_children(base)
                add_to(factors, apply(sub, subtrahend, minuend), 1)
                numerator = -numerator
                break
    # A factor kept whole that starts with its own coefficient (a shared 2*u*v) goes first, so
    # the product reads 2*u*v*x rather than x*2*u*v.
    items = sorted(
        factors.items(),
        key=lambda item: (not _has_coefficient(item[0]), context.key(item[0])),
    )
    chain = context if len(items) > LIMIT else None
    top = None
    bottom = None
    for base, exponent in items:
        if isinstance(exponent, Tensor) or exponent > 0:
            top = _times(top, _power(base, exponent), chain)
        elif exponent < 0:
            bottom = _times(bottom, _power(base, -exponent), chain)
    if numerator == 0:
        return const(0)
    if denominator != 1:
        bottom = const(denominator) if bottom is None else apply(mul, denominator, bottom)
    if bottom is None:
        if top is None:
            return const(numerator)
        # 1*t is t, as apply folds it, without the call (most products have no coefficient)
        return top if numerator == 1 and not top.is_const else apply(mul, numerator, top)
    if top is None:
        return apply(div, numerator, bottom)
    if numerator == -1:
        return apply(neg, apply(div, top, bottom))
    return apply(div, apply(mul, numerator, top), bottom)


def _power(base: Tensor, exponent: Exponent) -> Tensor:
    if not isinstance(exponent, Tensor) and exponent == 1:
        return base
    return apply(pow, base, exponent)


def _has_coefficient(node: Tensor) -> bool:
    children = node.children
    return children is not None and children.op is mul and children.a.number is not None


def _times(product: Tensor | None, factor: Tensor, chain: CollectContext | None) -> Tensor:
    """product*factor; in a long `chain`, the partial product is marked an inner link."""
    if product is None:
        return factor
    if chain is not None:
        chain.link(product, PRODUCT_OPS)
    return apply(mul, product, factor)


def local_count(root: Tensor, stop: AbstractSet[Tensor],
                seen: set[Tensor] | None = None) -> int:
    """Ops in `root`'s graph, not counting below the nodes in `stop`; `seen`, when given,
    holds ops counted before, not counted again, and takes the new ones (a running count over
    several graphs)."""
    seen = set() if seen is None else seen
    stack = [root]
    count = 0
    while stack:
        node = stack.pop()
        if node in seen or node in stop or node.children is None:
            continue
        seen.add(node)
        count += 1
        stack.append(node.children.a)
        if node.children.b is not None:
            stack.append(node.children.b)
    return count
