"""Simplification rules as data: rows `Rule(name, pattern, replacement, holds=...)` grouped by
family (IDENTITIES, DERIVATIVE_FORMS), plus the rules too clever for a row, which are named
functions (COLLECTION: like terms and powers, canonical order, sin**2 + cos**2, common factors,
expansion and distribution where terms cancel). `simplify.py` applies them bottom-up.

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
- `sin(x)/cos(x) -> tan(x)`: cos(x) != 0 (both sides are then infinite or undefined).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from symgrad.fold import apply
from symgrad.graph import Tensor, const
from symgrad.ops import (
    Op,
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

    >>> from symgrad.graph import var
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
    Rule("sin(x)/cos(x) -> tan(x)", (div, (sin, X), (cos, X)), (tan, X), holds="cos(x) != 0"),
]
"""The forms people expect derivatives in."""


# --- named functions: collecting terms and factors ----------------------------------------

LIMIT = 8
"""How many sums (products) one collection expands through: keeps a long chain linear."""

SUM_OPS = (add, sub, neg)
PRODUCT_OPS = (mul, div)


def _split_coefficient(term: Tensor) -> tuple[Any, Tensor]:
    """c*t -> (c, t); (c*t)/d -> (c, t/d); t -> (1, t)."""
    children = term.children
    if children is not None:
        if children.op is mul and children.a.number is not None:
            return children.a.number, children.b
        if children.op is div and children.a.op is mul and children.a.children.a.number is not None:
            inner = children.a.children
            return inner.a.number, apply(div, inner.b, children.b)
    return 1, term


def _scaled(term: Tensor, coefficient: Any) -> Tensor:
    """c*t, with the coefficient inside a quotient: c*(a/b) -> (c*a)/b."""
    if coefficient == 1:
        return term
    if term.op is div and coefficient != -1:
        return apply(div, apply(mul, coefficient, term.children.a), term.children.b)
    return apply(mul, coefficient, term)


def sum_terms(node: Tensor, context: Any, through_shared: bool = False) -> tuple:
    """Flatten a sum into {term: coefficient} and a constant, through unshared sub-sums (all
    of them with `through_shared`).

    Returns the terms, the constant, how many repeated terms were merged, how many shared
    sub-sums were left whole and how many constants were summed.
    """
    cache = context.factor_cache
    found = cache.get((node, "sum", through_shared))
    if found is not None:
        return found
    terms: dict[Tensor, Any] = {}
    constant: Any = 0
    merged = left_whole = constants = 0
    expanded = 0
    stack = [(node, 1)]
    while stack:
        term, sign_ = stack.pop()
        children = term.children
        op = None if children is None else children.op
        if op is neg:  # -t: no new node either way, so sharing does not matter
            stack.append((children.a, -sign_))
            continue
        if op in SUM_OPS and (term is node or expanded < LIMIT):
            if term is node or through_shared or not context.shared(term):
                expanded += 1
                stack.append((children.b, -sign_ if op is sub else sign_))
                stack.append((children.a, sign_))
                continue
            left_whole += 1
        if term.number is not None:
            constants += 1
            constant += sign_ * term.number
            continue
        coefficient, base = _split_coefficient(term)
        if base in terms:
            merged += 1
            terms[base] += sign_ * coefficient
        else:
            terms[base] = sign_ * coefficient
    found = terms, constant, merged, left_whole, constants
    cache[(node, "sum", through_shared)] = found  # callers copy `terms` before changing it
    return found


def rebuild_sum(terms: dict, constant: Any, context: Any) -> Tensor:
    """Positive terms in canonical order, then the negative ones, then the constant."""
    items = sorted(((t, c) for t, c in terms.items() if c != 0), key=lambda i: context.key(i[0]))
    result = None
    for term, coefficient in items:
        if coefficient > 0:
            piece = _scaled(term, coefficient)
            if result is None:
                result = piece
            else:
                context.settle(result)  # a canonical partial sum: no need to collect it again
                result = apply(add, result, piece)
    if result is None and constant > 0:
        result, constant = const(constant), 0
    for term, coefficient in items:
        if coefficient < 0:
            if result is None and term.op in (mul, div, sub):
                # -(a - b)*c -> (b - a)*c: the sign goes into a sum factor when it can
                factors, numerator, denominator, _ = product_factors(term, context)
                result = _product(factors, coefficient * numerator, denominator, context)
            elif result is None:
                result = _scaled(term, coefficient)
            else:
                context.settle(result)
                result = apply(sub, result, _scaled(term, -coefficient))
    if result is None:
        return const(constant)
    return apply(add, result, constant) if constant != 0 else result


def _squared_trig(term: Tensor) -> tuple[Op, Tensor] | None:
    """(sin, u) for sin(u)**2, (cos, u) for cos(u)**2, else None."""
    children = term.children
    if children is not None and children.op is pow and children.b.number == 2:
        inner = children.a.children
        if inner is not None and inner.op in (sin, cos):
            return inner.op, inner.a
    return None


def pythagoras(terms: dict, constant: Any) -> tuple[Any, bool]:
    """a*sin(u)**2 + b*cos(u)**2 + c -> (a - b)*sin(u)**2 + (b + c), then
    k*sin(u)**2 - k -> -k*cos(u)**2 (and the same with sin and cos swapped)."""
    found: dict[tuple[Op, Tensor], Tensor] = {}
    for term, coefficient in terms.items():
        trig = _squared_trig(term)
        if trig is not None and coefficient != 0:
            found[trig] = term
    fired = False
    for (op, u), term in sorted(found.items(), key=lambda item: item[0][0] is cos):
        if op is not sin or (cos, u) not in found:
            continue
        cosine = found[(cos, u)]
        constant += terms[cosine]
        terms[term] -= terms[cosine]
        terms[cosine] = 0
        fired = True
    for (op, u), term in found.items():
        k = terms[term]
        if k != 0 and constant == -k:
            other = apply(pow, (cos if op is sin else sin)(u), 2)
            terms[term] = 0
            terms[other] = terms.get(other, 0) - k
            constant = 0
            fired = True
    return constant, fired


def _factors(term: Tensor, context: Any) -> dict[Tensor, Any]:
    """{base: numeric exponent} of a product term: numerator and denominator factors."""
    factors = _numeric_powers(product_factors(term, context))[0]
    return {b: e for b, e in factors.items() if e != 0}


def _local_count(root: Tensor, stop: set, context: Any) -> int:
    """Ops in `root`'s graph, not counting below the nodes in `stop`."""
    seen = set()
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


def common_factor(terms: dict, constant: Any, context: Any, plain: Tensor) -> Tensor | None:
    """a*b + a*c -> a*(b + c), for the factor shared by most terms, when it shrinks the sum
    (also a/b + c/b -> (a + c)/b: a factor is a base with a numeric exponent of one sign)."""
    live = [(t, c) for t, c in terms.items() if c != 0]
    if len(live) < 2:
        return None
    factored = [(_numeric_powers(product_factors(t, context)), t, c) for t, c in live]
    counts: dict[tuple, int] = {}
    for (factors, _, _, _), _, _ in factored:
        for base, exponent in factors.items():
            if not isinstance(exponent, Tensor) and exponent != 0:
                side = (base, exponent > 0)
                counts[side] = counts.get(side, 0) + 1
    shared = sorted((side for side, n in counts.items() if n >= 2),
                    key=lambda side: (-counts[side], context.key(side[0]), not side[1]))
    if not shared:
        return None
    stop = {base for (factors, _, _, _), _, _ in factored for base in factors}
    stop.update(t for t, _ in live if context.shared(t))  # they stay for their other users
    best_count = _local_count(plain, stop, context)
    best = None
    for side in shared[:3]:  # the factors shared by most terms
        candidate = _factor_out(side, factored, constant, context)
        count = _local_count(candidate, stop, context)
        # on a tie, pull out a compound factor, as people write it: x**x*(log(x) + 1)
        if count < best_count or (best is None and count == best_count and side[0].op is not None
                                  and side[1]):
            best, best_count = candidate, count
    return best


def _numeric_powers(flattened: tuple) -> tuple:
    """The flattened product with each symbolic power b**e kept whole, as a factor (b**e)**1."""
    factors = flattened[0]
    if not any(isinstance(e, Tensor) for e in factors.values()):
        return flattened
    numeric = {}
    for base, exponent in factors.items():
        if isinstance(exponent, Tensor):
            base, exponent = apply(pow, base, exponent), 1
        numeric[base] = numeric.get(base, 0) + exponent
    return (numeric, *flattened[1:])


def _factor_out(side: tuple, factored: list, constant: Any, context: Any) -> Tensor:
    """The sum with the factor `side` = (base, positive) pulled out of the terms holding it."""
    base, positive = side

    def exponent_of(factors: dict) -> Any:
        exponent = factors.get(base, 0)
        if isinstance(exponent, Tensor) or exponent == 0 or (exponent > 0) != positive:
            return None
        return exponent

    exponents = [e for e in (exponent_of(f[0]) for f, _, _ in factored) if e is not None]
    power = min(exponents) if positive else max(exponents)
    inside: dict[Tensor, Any] = {}
    outside: dict[Tensor, Any] = {}
    for (factors, numerator, denominator, _), term, coefficient in factored:
        if exponent_of(factors) is None:
            outside[term] = outside.get(term, 0) + coefficient
            continue
        rest = dict(factors)
        rest[base] -= power
        scale, remainder = _split_coefficient(_product(rest, numerator, denominator, context))
        inside[remainder] = inside.get(remainder, 0) + coefficient * scale
    # the cofactor can be the factor itself (x*(x + 1) + (x + 1) -> (x + 1)**2): the two
    # exponents add up, they must not overwrite each other in the node-keyed dict
    cofactor = rebuild_sum(inside, 0, context)
    grouped = _product(_add_factor({base: power}, cofactor, 1), 1, 1, context)
    outside[grouped] = outside.get(grouped, 0) + 1
    return rebuild_sum(outside, constant, context)


def _fingerprint(factors: dict) -> int | None:
    """sum(hash(base) * exponent): equal for equal factor dicts with integer exponents (exactly,
    in integers; unequal dicts may collide, which only costs the exact check), else None."""
    total = 0
    for base, exponent in factors.items():
        if type(exponent) is not int:
            return None
        total += hash(base) * exponent
    return total


def _may_cancel(terms: dict, context: Any) -> bool:
    """A quick test for `expand`: could two expanded terms cancel? False only when they
    cannot (the fingerprints of their factors never meet with a zero total)."""
    totals: dict[tuple, Any] = {}
    counts: dict[tuple, int] = {}
    expanded = False
    for term, coefficient in terms.items():
        if coefficient == 0:
            continue
        factors, numerator, denominator, _ = product_factors(term, context)
        inner = next((b for b, e in factors.items() if b.op in (add, sub) and e == 1
                      and not isinstance(e, Tensor)), None)
        base = _fingerprint(factors)
        if base is None or isinstance(numerator, float) or isinstance(denominator, float):
            return True  # no quick answer
        pieces = [(base, coefficient)]
        if inner is not None:
            expanded = True
            base -= hash(inner)
            inner_terms, inner_constant, *_ = sum_terms(inner, context)
            pieces = [(base, coefficient * inner_constant)]
            for inner_term, inner_coefficient in inner_terms.items():
                inner_factors, n, d, _ = product_factors(inner_term, context)
                print_ = _fingerprint(inner_factors)
                if print_ is None or isinstance(n, float) or isinstance(d, float):
                    return True
                scale = coefficient * inner_coefficient * (n if d == 1 else Fraction(n, d))
                pieces.append((base + print_, scale))
        for fingerprint, scale in pieces:
            key = (fingerprint, numerator, denominator)
            totals[key] = totals.get(key, 0) + scale
            counts[key] = counts.get(key, 0) + 1
    return expanded and any(counts[key] > 1 and total == 0 for key, total in totals.items())


def expand(terms: dict, constant: Any, context: Any, plain: Tensor) -> Tensor | None:
    # a*(b + c) + d -> a*b + a*c + d when some expanded terms cancel, as in
    # y*(1 - s) - (1 - y)*s -> y - s. One sum factor per term is expanded, for small sums.
    if len(terms) > 4 or not _may_cancel(terms, context):
        return None
    pieces: list[tuple[dict, Any, Any, Any]] = []  # (factors, numerator, denominator, coef)
    expanded = False
    for term, coefficient in terms.items():
        if coefficient == 0:
            continue
        factors, numerator, denominator, _ = product_factors(term, context)
        inner = next((b for b, e in factors.items() if b.op in (add, sub) and e == 1
                      and not isinstance(e, Tensor)), None)
        if inner is None:
            pieces.append((factors, numerator, denominator, coefficient))
            continue
        inner_terms, inner_constant, *_ = sum_terms(inner, context)
        if len(inner_terms) > 4:
            return None
        expanded = True
        rest = dict(factors)
        del rest[inner]
        for inner_term, inner_coefficient in list(inner_terms.items()) + [(None, inner_constant)]:
            if inner_coefficient == 0:
                continue
            merged = dict(rest)
            scale = coefficient * inner_coefficient
            if inner_term is not None:
                inner_factors, n, d, _ = product_factors(inner_term, context)
                if isinstance(d, float) or isinstance(n, float):
                    return None
                if d != 1:
                    scale *= Fraction(n, d)
                elif n != 1:
                    scale *= n
                for base, exponent in inner_factors.items():
                    merged[base] = _add_exponents(merged.get(base, 0), exponent)
            pieces.append((merged, numerator, denominator, scale))
    if not expanded:
        return None
    # merge the pieces with equal factors before building anything: no merge, no gain
    # gate: some expanded terms must cancel (sum to zero), before anything is built
    signatures: dict[tuple, Any] = {}
    for factors, numerator, denominator, scale in pieces:
        powers = frozenset((b, e) for b, e in factors.items()
                           if isinstance(e, Tensor) or e != 0)
        key = (powers, numerator, denominator)
        signatures[key] = signatures.get(key, 0) + scale
    if len(signatures) == len(pieces) or all(total != 0 for total in signatures.values()):
        return None
    stop = {b for factors, _, _, _ in pieces for b in factors}
    stop.update(t for t in terms if context.shared(t))  # they stay for their other users
    plain_count = _local_count(plain, stop, context)
    # a lower bound on the expanded sum's ops: its additions, products and powers
    bound = len(signatures) - 1
    for powers, _, _ in signatures:
        bound += max(0, len(powers) - 1) + sum(1 for _, e in powers if e != 1 and e != -1)
    if bound >= plain_count:
        return None
    collected: dict[Tensor, Any] = {}
    extra = constant
    for factors, numerator, denominator, scale in pieces:
        product = _product(factors, numerator, denominator, context)
        inner_scale, base = _split_coefficient(product)
        total = scale * inner_scale
        if isinstance(total, Fraction):
            total = total.numerator if total.denominator == 1 else float(total)
        if base.number is not None:
            extra += total * base.number
        else:
            collected[base] = collected.get(base, 0) + total
    candidate = rebuild_sum(collected, extra, context)
    if _local_count(candidate, stop, context) < plain_count:
        return candidate
    return None


def _sum_is_canonical(node: Tensor, context: Any) -> bool:
    """A quick, exact test that `collect_sum` would leave a two-term sum as it is."""
    a, b, op = node.children
    if op is neg or a.op in SUM_OPS or b.op in SUM_OPS or a.op is div or b.op is div:
        return False
    if b.number is not None:  # t + c, t - c
        scale, term = _split_coefficient(a)
        return a.number is None and scale > 0 and _squared_trig(term) is None
    if a.number is not None:  # c - t
        scale, term = _split_coefficient(b)
        return op is sub and a.number > 0 and scale > 0 and _squared_trig(term) is None
    (scale_a, term_a), (scale_b, term_b) = _split_coefficient(a), _split_coefficient(b)
    if term_a is term_b or scale_a <= 0 or scale_b <= 0 or a.is_const or b.is_const:
        return False
    if op is add and context.key(term_a) > context.key(term_b):
        return False
    if _squared_trig(term_a) is not None and _squared_trig(term_b) is not None:
        return False
    if term_a.op in (mul, pow) or term_b.op in (mul, pow):  # a common factor?
        return _factors(term_a, context).keys().isdisjoint(_factors(term_b, context))
    return True


def _kept_factor(node: Tensor) -> bool:
    """A factor that `collect_product` keeps as it is (and that no product can distribute)."""
    op = node.op
    if node.is_const or op in (mul, div, neg, add, sub):
        return False
    return op is not pow or node.children.b.number is None or node.children.b.number > 0


def _product_is_canonical(node: Tensor, context: Any) -> bool:
    """A quick, exact test that `collect_product` would leave a two-factor product as it is."""
    a, b, op = node.children
    if a.number is not None:  # c*t, c/t (a constant alone cannot cancel a sum's terms)
        return b.op in (add, sub) or _kept_factor(b)
    if b.number is not None:  # t/c
        return op is div and _kept_factor(a) and b.number > 0
    if not (_kept_factor(a) and _kept_factor(b)):
        return False
    base_a = a.children.a if a.op is pow else a
    base_b = b.children.a if b.op is pow else b
    if base_a is base_b:
        return False
    return op is div or context.key(base_a) <= context.key(base_b)


def collect_sum(node: Tensor, context: Any) -> tuple[Tensor, str] | None:
    # sum of c_i * t_i + c: merge equal t_i (x + x -> 2*x, 3*x - x -> 2*x), fold constants,
    # sin**2 + cos**2 -> 1, sort the terms, then pull out a common factor if that is smaller.
    if _sum_is_canonical(node, context):
        return None
    terms, constant, merged, left_whole, constants = sum_terms(node, context)
    if left_whole:  # copy a shared sub-sum only when that lets more terms merge
        context.unsettle(node)  # the next pass, with new sharing, may find more
        through = sum_terms(node, context, through_shared=True)
        if through[2] > merged:
            terms, constant, merged, _, constants = through
    terms = dict(terms)  # pythagoras changes it
    constant, trig = pythagoras(terms, constant)
    result = rebuild_sum(terms, constant, context)
    name = ("sin(x)**2 + cos(x)**2 -> 1" if trig else "like terms: x + x -> 2*x" if merged
            else "fold constants" if constants > 1 else "canonical order: a + b")
    expanded = expand(terms, constant, context, result)
    if expanded is not None:
        return expanded, "expand: a*(b + c) -> a*b + a*c"
    factored = common_factor(terms, constant, context, result)
    if factored is not None:
        result, name = factored, "common factor: a*b + a*c -> a*(b + c)"
    return None if result is node else (result, name)


def _power(base: Tensor, exponent: Any) -> Tensor:
    return base if exponent == 1 else apply(pow, base, exponent)


def _product(factors: dict, numerator: Any, denominator: Any, context: Any) -> Tensor:
    """c_n * prod(b**e for e > 0) / (c_d * prod(b**-e for e < 0)), factors in canonical order."""
    if isinstance(numerator, int) and isinstance(denominator, int) and denominator != 0:
        ratio = Fraction(numerator, denominator)
        numerator, denominator = ratio.numerator, ratio.denominator
    if numerator == -1:  # -(a - b)*c -> (b - a)*c: one op less (at worst a copy of a - b)
        for base, exponent in factors.items():
            if base.op is sub and exponent == 1 and not context.shared(base) \
                    and not isinstance(exponent, Tensor):
                factors = dict(factors)
                del factors[base]
                flipped = apply(sub, base.children.b, base.children.a)
                factors[flipped] = factors.get(flipped, 0) + 1
                numerator = -numerator
                break
    # A factor kept whole that starts with its own coefficient (a shared 2*u*v) goes first, so
    # the product reads 2*u*v*x rather than x*2*u*v.
    items = sorted(
        factors.items(),
        key=lambda item: (not _has_coefficient(item[0]), context.key(item[0])),
    )
    top = None
    bottom = None
    for base, exponent in items:
        if isinstance(exponent, Tensor) or exponent > 0:
            top = _times(top, _power(base, exponent))
        elif exponent < 0:
            bottom = _times(bottom, _power(base, -exponent))
    if numerator == 0:
        return const(0)
    if bottom is None and _power_of_two(denominator) and numerator != 1:
        numerator, denominator = numerator / denominator, 1  # 3*x/2 -> 1.5*x, exactly
    if denominator != 1:
        bottom = const(denominator) if bottom is None else apply(mul, denominator, bottom)
    if bottom is None:
        return const(numerator) if top is None else apply(mul, numerator, top)
    if top is None:
        return apply(div, numerator, bottom)
    if numerator == -1:
        return apply(neg, apply(div, top, bottom))
    return apply(div, apply(mul, numerator, top), bottom)


def _has_coefficient(node: Tensor) -> bool:
    return node.op is mul and node.children.a.number is not None


def _power_of_two(value: Any) -> bool:
    return isinstance(value, int) and value > 1 and value & (value - 1) == 0


def _times(product: Tensor | None, factor: Tensor) -> Tensor:
    return factor if product is None else apply(mul, product, factor)


def _add_factor(factors: dict, base: Tensor, exponent: Any) -> dict:
    """factors * base**exponent: nodes are interned, so `base` may already be a key."""
    factors[base] = _add_exponents(factors.get(base, 0), exponent)
    return factors


def _add_exponents(old: Any, new: Any) -> Any:
    if isinstance(old, Tensor) or isinstance(new, Tensor):
        return apply(add, old, new)
    return old + new


def product_factors(node: Tensor, context: Any, through_shared: bool = False) -> tuple:
    """Flatten a product into {base: exponent}, a numerator and a denominator coefficient,
    through unshared sub-products (all of them with `through_shared`).

    Returns those and the counts: merged bases, cancelled bases, numbers, shared products
    left whole.
    """
    cache = context.factor_cache
    found = cache.get((node, through_shared))
    if found is not None:
        return found
    numerator: Any = 1
    denominator: Any = 1
    factors: dict[Tensor, Any] = {}
    merged = cancelled = numbers = left_whole = 0
    expanded = 0
    stack = [(node, 1)]
    while stack:
        term, side = stack.pop()
        children = term.children
        op = None if children is None else children.op
        if op in PRODUCT_OPS and (term is node or expanded < LIMIT):
            if term is node or through_shared or not context.shared(term):
                expanded += 1
                stack.append((children.b, -side if op is div else side))
                stack.append((children.a, side))
                continue
            left_whole += 1
        if op is neg:
            numerator = -numerator
            stack.append((children.a, side))
            continue
        value = term.number
        if value is not None and (side > 0 or value != 0):
            numbers += 1
            if side > 0:
                numerator *= value
            else:
                denominator *= value
            continue
        exponent: Any = side
        base = term
        if op is pow and (children.b.number is not None or side > 0):
            base = children.a
            exponent = children.b.number * side if children.b.number is not None else children.b
        if base in factors:
            merged += 1
            total = _add_exponents(factors[base], exponent)
            factors[base] = total
            cancelled += not isinstance(total, Tensor) and total == 0
        else:
            factors[base] = exponent
    found = factors, numerator, denominator, (merged, cancelled, numbers, left_whole)
    cache[(node, through_shared)] = found  # callers copy `factors` before changing it
    return found


def collect_product(node: Tensor, context: Any) -> tuple[Tensor, str] | None:
    # prod of b_i**e_i / prod ...: merge equal bases (x*x -> x**2, x**a*x**b -> x**(a+b),
    # x/x -> 1), fold the numeric coefficients, and sort the factors. A shared sub-product is
    # expanded (copied) only when that lets more bases merge.
    if _product_is_canonical(node, context):
        return None
    flattened = product_factors(node, context)
    if flattened[3][3]:
        context.unsettle(node)  # the next pass, with new sharing, may find more
        through = product_factors(node, context, through_shared=True)
        if through[3][0] > flattened[3][0]:
            flattened = through
    factors, numerator, denominator, (merged, cancelled, numbers, _) = flattened
    if isinstance(numerator, float) and numerator.is_integer():
        numerator = int(numerator)
    if isinstance(denominator, float) and denominator.is_integer():
        denominator = int(denominator)
    if not (math.isfinite(numerator) and math.isfinite(denominator)):
        return None
    if (isinstance(numerator, float) or isinstance(denominator, float)) and 1 not in (
        numerator, denominator
    ):  # 2.5*x/(6.25*y) -> 0.4*x/y
        numerator, denominator = numerator / denominator, 1
    result = _product(factors, numerator, denominator, context)
    distributed = distribute(factors, numerator, denominator, context, result)
    if distributed is not None:
        return distributed, "distribute: (a + b)*c -> a*c + b*c"
    if result is node:
        return None
    name = ("cancel: x/x -> 1" if cancelled else "like powers: x*x -> x**2" if merged
            else "fold constants" if numbers > 1 else "canonical order: a*b")
    return result, name


def distribute(factors: dict, numerator: Any, denominator: Any, context: Any,
               plain: Tensor) -> Tensor | None:
    # c * (t_1 + ... + t_k) * r -> c*t_1*r + ... + c*t_k*r, when the products collect into
    # fewer ops (((e/s - e**2/s**2)*s/e -> 1 - e/s)); tried for small sums and products only.
    if len(factors) > 4 or plain.op is None:
        return None
    for base, exponent in factors.items():
        if base.op not in (add, sub) or exponent != 1 or isinstance(exponent, Tensor):
            continue
        terms, constant, *_ = sum_terms(base, context, through_shared=True)
        if len(terms) > 4:
            continue
        rest = dict(factors)
        del rest[base]
        # only worth trying when some term has a base in common with the other factors
        # only worth trying when a term has a base the other factors cancel (x/y * y/x)
        near: dict[Tensor, Any] = {}
        for other, power in rest.items():
            if isinstance(power, Tensor):
                continue
            near[other] = power
            if other.op in PRODUCT_OPS:
                for inner, inner_power in product_factors(other, context, True)[0].items():
                    if not isinstance(inner_power, Tensor):
                        near[inner] = inner_power * power
        if not any(
            not isinstance(power, Tensor) and power * near.get(inner, 0) < 0
            for term in terms
            for inner, power in product_factors(term, context, True)[0].items()
        ):
            continue
        others = _product(rest, numerator, denominator, context)
        stop = set(rest)
        products: dict[Tensor, Any] = {}
        pieces = list(terms.items()) + ([(const(constant), 1)] if constant else [])
        for term, coefficient in pieces:
            piece = apply(mul, term, others)
            if piece.op in PRODUCT_OPS:
                flat = product_factors(piece, context, through_shared=True)
                stop.update(flat[0])
                piece = _product(*flat[:3], context)
            scale, inner = _split_coefficient(piece)
            products[inner] = products.get(inner, 0) + coefficient * scale
        candidate = rebuild_sum(products, 0, context)
        if _local_count(candidate, stop, context) < _local_count(plain, stop, context):
            return candidate
    return None


COLLECTION = [
    Rule("like terms: x + x -> 2*x", SUM_OPS, collect_sum),
    Rule("like powers: x*x -> x**2", PRODUCT_OPS, collect_product,
         holds="x != 0 where powers cancel; x**a*x**b -> x**(a+b) where both are finite"),
]
"""Collection of like terms and powers, canonical order, common factors (named functions)."""

RULES: list[Rule] = IDENTITIES + DERIVATIVE_FORMS + COLLECTION
"""Every rule, tried in this order at each node (rows before the collection functions)."""

RULES_BY_OP: dict[str, list[Rule]] = {}
for _rule in RULES:
    for _op in _rule.ops:
        RULES_BY_OP.setdefault(_op.name, []).append(_rule)

