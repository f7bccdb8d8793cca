"""Products read as monomials: `number * base1**p1 * base2**p2 ...` over the factors of an
elementwise product (`*`, `/`, unary minus, a power with a numeric exponent), so the matrix
rules can fold numbers (`2*(2*A) -> 4*A`), cancel (`2*x/(2*norm(x)) -> x/norm(x)`) and pull
the scalar factors of a tensor formula to its front (`A@(c*x) -> c*A@x`).

A base divided by itself cancels to 1, as the simplifier's `x/x -> 1` does (it holds where
the base is not 0).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, NamedTuple

from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor, as_tensor
from symgrad.ops.scalar import div, mul, neg, pow

MAX_FACTORS = 64
"""Factors past which a product is left as it is: reading it again at every node of a long
chain would cost the square of its length."""


class Monomial(NamedTuple):
    """number * prod(base**power), bases in the order they are met (left to right)."""

    number: Any
    powers: dict[Tensor, Any]


def _inverse(number: Any) -> Any:
    return Fraction(1, number) if isinstance(number, int) else 1 / number


def monomial(node: Tensor) -> Monomial | None:
    """`node` as a monomial in its factors, or None past `MAX_FACTORS`.

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> m = monomial(2 * x / (2 * y) * x)
    >>> m.number, [(str(base), power) for base, power in m.powers.items()]
    (Fraction(1, 1), [('x', 2), ('y', -1)])
    """
    number: Any = 1
    powers: dict[Tensor, Any] = {}
    stack: list[tuple[Tensor, Any]] = [(node, 1)]
    while stack:
        if len(powers) + len(stack) > MAX_FACTORS:
            return None
        current, power = stack.pop()
        children = current.children
        value = current.number
        if value is not None and power in (1, -1) and value != 0 and math.isfinite(value):
            number = number * (value if power == 1 else _inverse(value))
            continue
        op = None if children is None else children.op
        if op is mul or op is div:
            assert children is not None and children.b is not None
            stack.append((children.b, -power if op is div else power))
            stack.append((children.a, power))
        elif op is neg and power in (1, -1):
            assert children is not None
            number = -number
            stack.append((children.a, power))
        elif op is pow and isinstance(power, int) and children is not None \
                and children.b is not None and children.b.number is not None \
                and math.isfinite(children.b.number):
            # (a**e)**k = a**(e*k) for an integer k
            stack.append((children.a, power * children.b.number))
        else:
            powers[current] = powers.get(current, 0) + power
    return Monomial(number, {base: power for base, power in powers.items() if power != 0})


def _power(base: Tensor, power: Any) -> Tensor:
    if isinstance(power, Fraction) and power.denominator == 1:
        power = power.numerator
    return base if power == 1 else apply(pow, base, power)


def _product(factors: list[Tensor], start: Any) -> Any:
    result = start
    for factor in factors:
        result = factor if result is None else apply(mul, result, factor)
    return result


def build(m: Monomial) -> Tensor:
    """The product a monomial describes: scalar factors first, then the others, over the
    bases with negative powers (`2*c*A/d`).

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> str(build(monomial(2 * x / (2 * y) * x)))
    'x**2/y'
    """
    number, denominator = m.number, 1
    if isinstance(number, Fraction):  # 2*W/9, as typed, not (2/9)*W
        number, denominator = number.numerator, number.denominator
    ordered = sorted(m.powers.items(), key=lambda item: bool(item[0].shape))
    up = [_power(base, power) for base, power in ordered if power > 0]
    down = [_power(base, -power) for base, power in ordered if power < 0]
    top = _product(up, None if number == 1 else number)
    top = as_tensor(1 if top is None else top)
    if not down and denominator == 1:
        return top
    return apply(div, top, as_tensor(_product(down, None if denominator == 1 else denominator)))


def times(first: Monomial, second: Monomial) -> Monomial:
    """The product of two monomials, equal powers of one base added (and cancelled at 0)."""
    powers = dict(first.powers)
    for base, power in second.powers.items():
        powers[base] = powers.get(base, 0) + power
    return Monomial(first.number * second.number,
                    {base: power for base, power in powers.items() if power != 0})


def split(node: Tensor) -> tuple[Monomial, Tensor] | None:
    """(its scalar factors, the product of the others) of a tensor `node`, or None.

    >>> from symgrad.ops.tensor import matrix
    >>> from symgrad.ir.graph import var
    >>> scalars, rest = split(2 * var("c") * matrix("A", (2, 2)))
    >>> scalars.number, [str(base) for base in scalars.powers], str(rest)
    (2, ['c'], 'A')
    """
    m = monomial(node)
    if m is None:
        return None
    shaped = {base: power for base, power in m.powers.items() if base.shape}
    scalars = Monomial(m.number, {base: p for base, p in m.powers.items() if not base.shape})
    return scalars, build(Monomial(1, shaped))


def trivial(m: Monomial) -> bool:
    """Whether a monomial is 1."""
    return m.number == 1 and not m.powers
