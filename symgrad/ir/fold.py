"""Folding as graphs are built: constant operands are computed (`2*3` is `6`), and the cheap
identities that derivative graphs produce in bulk are applied (`x*1`, `x+0`, `x*0`, `--x`).

Only rules that hold for every finite input live here; the simplifier does the rest.
Constants fold as IEEE floats do, with numpy (1/0 is inf, inf - inf is nan), so every
constant left unfolded (log(2)) is finite and the identities hold for it too. The arithmetic
rows these rules build are found in the table by name (`OPS["sub"]`), as the rows sit above.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from symgrad.ir.graph import Tensor, as_tensor, const, raw_node
from symgrad.ir.op import OPS, Op


def apply(op: Op, a: Any, b: Any = None) -> Tensor:
    """op(a, b) with constants folded and identities applied.

    >>> from symgrad.ir.graph import var
    >>> x, add, mul = var("x"), OPS["add"], OPS["mul"]
    >>> str(apply(mul, apply(add, 2, 1), x * 1))
    '3*x'
    """
    if not isinstance(a, Tensor):
        a = as_tensor(a)
    if b is None:
        return _fold_unary(op, a)
    if not isinstance(b, Tensor):
        b = as_tensor(b)
    if op.fold is not None:  # the op's own folding, declared in its table entry
        folded = op.fold(a, b)
        if folded is not None:
            return folded
    # Most nodes of a derivative graph have no constant operand: test that once.
    if a.is_const or b.is_const:
        folded = _fold_with_constant(op, a, b)
        if folded is not None:
            return folded
    fold = _BINARY_FOLDS.get(op.name)
    return raw_node(op, a, b) if fold is None else fold(a, b)


# Derivative graphs fold the same few constants over and over (1*-1, 2-1): remember them.
_folded: dict[tuple, Tensor | None] = {}


def _fold_constants(op: Op, a: Tensor, b: Tensor | None) -> Tensor | None:
    """The constant op(a, b) as IEEE arithmetic gives it (1/0 is inf), or None for a function
    whose value is not an integer (log(2) stays log(2))."""
    # keyed by the op itself: ops bound to different arguments share a name (sum over an axis)
    key = (op, a._key, None if b is None else b._key)
    try:  # one lookup: another thread may clear the cache
        return _folded[key]
    except KeyError:
        pass
    if len(_folded) > 10_000:
        _folded.clear()
    _folded[key] = result = _compute_constant(op, a, b)
    return result


# Arithmetic between exact numbers (ints and fractions) stays exact: 1/2 is the fraction 1/2,
# not 0.5. Any float operand makes the result a float, as in Python.
_EXACT = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: Fraction(a) / b,
    "neg": lambda a, b: -a,
    "pow": lambda a, b: Fraction(a) ** b if isinstance(b, int) and abs(b) <= 64 else None,
}


def _exact(op: Op, a: Tensor, b: Tensor | None) -> Tensor | None:
    """The exact op(a, b) for int and fraction operands, or None when it is not exact."""
    rule = _EXACT.get(op.name)
    numbers = (a.number,) if b is None else (a.number, b.number)
    if rule is None or not all(type(n) in (int, Fraction) for n in numbers):
        return None
    try:
        value = rule(*numbers, *[None] * (2 - len(numbers)))
    except ZeroDivisionError:
        return None  # 1/0: left for evaluation to report
    if value is None or value == 0:  # a zero has the sign IEEE gives it: -(0) and 0*-1 are -0.0
        return None
    value = Fraction(value)
    if max(abs(value.numerator), value.denominator) >= 2**53:
        return None  # beyond a float's exact integers: fold in floating point instead
    return const(value)


def _compute_constant(op: Op, a: Tensor, b: Tensor | None) -> Tensor | None:
    exact_result = _exact(op, a, b)
    if exact_result is not None:
        return exact_result
    operands = [a.value] if b is None else [a.value, b.value]
    with np.errstate(all="ignore"):
        value = op.numpy(*[_as_float(operand) for operand in operands])
    if isinstance(value, np.ndarray):
        return const(value)
    # Functions fold only to integers (exp(0) -> 1) and to inf or nan; log(2) stays exact, as
    # sympy keeps it. So do named constants (cos(pi) -> -1, but 2*pi stays 2*pi) and exact
    # numbers whose result is not exact (2**(1/2) stays, as sympy's sqrt(2)).
    numbers = (a.number,) if b is None else (a.number, b.number)
    exact = any(n is None for n in numbers) or all(type(n) in (int, Fraction) for n in numbers)
    if (op.symbol is None or exact) and math.isfinite(value) and not float(value).is_integer():
        return None
    return const(value)


def _as_float(value: Any) -> Any:
    # numpy refuses integers to negative integer powers; constants fold in floating point.
    return float(value) if isinstance(value, int) else value


def _negated(node: Tensor) -> Tensor | None:
    """x when node is -x, -c when node is a negative constant c, else None."""
    children = node.children
    if children is not None and children.op.name == "neg":
        return children.a
    if node.number is not None and node.number < 0:
        return const(-node.number)
    return None


def _fold_unary(op: Op, a: Tensor) -> Tensor:
    if op.fold is not None:
        folded = op.fold(a, None)
        if folded is not None:
            return folded
    if a.is_const:
        folded = _fold_constants(op, a, None)
        if folded is not None:
            return folded
    inner = a.children
    if op.name == "neg" and inner is not None:
        if inner.op is op:  # --x -> x
            return inner.a
        if inner.op.name == "sub" and inner.b is not None:  # -(x - y) -> y - x
            return raw_node(inner.op, inner.b, inner.a)
    return raw_node(op, a, None)


def _fold_with_constant(op: Op, a: Tensor, b: Tensor) -> Tensor | None:
    # `number` is None for anything but a scalar constant, and None == 0 is False.
    if a.is_const and b.is_const:  # arithmetic as IEEE does it: inf*0 is nan, not 0
        folded = _fold_constants(op, a, b)
        if folded is not None:
            return folded  # else a finite value kept exact (1*pi): the identities hold
    an, bn = a.number, b.number
    identity = op.identity
    if identity is not None:
        if bn == identity:  # x+0, x-0, x*1, x/1, x**1 -> x
            return a
        if an == identity and op.commutative:  # 0+x, 1*x -> x
            return b
    absorbing = op.absorbing
    # x*0 -> 0 and x**0 -> 1, for scalars: a vector or matrix keeps its shape
    if absorbing is not None and (an == absorbing or bn == absorbing) and not (a.shape or b.shape):
        return _absorbed(op, a, b)
    if op.name == "pow" and bn == 0 and not a.shape:
        return const(1)
    if op.name == "div" and bn == -1:  # x/-1 -> -x
        return apply(OPS["neg"], a)
    return None


def _absorbed(op: Op, a: Tensor, b: Tensor) -> Tensor:
    """x*0 folded to 0, as sympy does even where x is nan or inf. For a small formula of
    constants it is the zero of the sign IEEE gives (-pi*0 is -0.0)."""
    zero, other = (a, b) if a.number == op.absorbing else (b, a)
    if not _constant_formula(other):
        return const(op.absorbing)
    with np.errstate(all="ignore"):
        value = float(other.value)  # evaluated through what the backends registered
    sign = 1.0 if math.isnan(value) else math.copysign(1.0, value)
    return const(op.numpy(sign, zero.value) if other is b else op.numpy(zero.value, sign))


def _constant_formula(node: Tensor, limit: int = 64) -> bool:
    """Whether `node` is a formula of constants alone (no variable) of at most `limit` nodes:
    x*0 folds in constant time, however big x is."""
    stack, seen = [node], {node}
    while stack:
        current = stack.pop()
        if current.is_var:
            return False
        children = current.children
        if children is not None:
            for operand in (children.a, children.b):
                if operand is not None and operand not in seen:
                    if len(seen) == limit:
                        return False
                    seen.add(operand)
                    stack.append(operand)
    return True


def _fold_add(a: Tensor, b: Tensor) -> Tensor:
    if a.is_const and not b.is_const:  # constants last: 1 + x -> x + 1
        a, b = b, a
    minus_b = _negated(b)
    if minus_b is not None:  # x + -y -> x - y
        return raw_node(OPS["sub"], a, minus_b)
    minus_a = _negated(a)
    if minus_a is not None and not a.is_const:  # -x + y -> y - x
        return raw_node(OPS["sub"], b, minus_a)
    return raw_node(OPS["add"], a, b)


def _fold_sub(a: Tensor, b: Tensor) -> Tensor:
    if a.number == 0:  # 0 - x -> -x
        return apply(OPS["neg"], b)
    minus_b = _negated(b)
    if minus_b is not None:  # x - -y -> x + y
        return raw_node(OPS["add"], a, minus_b)
    return raw_node(OPS["sub"], a, b)


def _fold_mul(a: Tensor, b: Tensor) -> Tensor:
    # numbers first: x*2 -> 2*x, pi*2 -> 2*pi
    if (b.is_const and not a.is_const) or (b.number is not None and a.number is None):
        a, b = b, a
    mul = OPS["mul"]
    if not a.is_const:
        return raw_node(mul, a, b)
    if a.number == -1:  # -1*x -> -x
        return apply(OPS["neg"], b)
    inner = b.children
    if inner is not None and inner.op is mul and inner.b is not None \
            and inner.a.is_const and not inner.b.is_const:
        # 2*(3*x) -> 6*x, when 2*3 folds (an unfolded 1e308*1e308 would move back and forth
        # forever) and stays in range: 1e308*(2*x) is 2e307 at x = 0.1, (1e308*2)*x is inf.
        product = apply(mul, a, inner.a)
        if product.is_const and _kept_in_range(product, a, inner.a):
            return apply(mul, product, inner.b)
    if inner is not None and inner.op.name == "neg":  # 2*(-x) -> -2*x
        return apply(mul, apply(inner.op, a), inner.a)
    return raw_node(mul, a, b)


def _kept_in_range(product: Tensor, a: Tensor, b: Tensor) -> bool:
    """Whether the folded number a*b neither overflowed nor underflowed to 0 (an array
    constant is taken as it folds)."""
    if product.number is None or a.number is None or b.number is None:
        return True
    try:
        value, left, right = float(product.number), float(a.number), float(b.number)
    except OverflowError:  # an integer past the float range
        return False
    if math.isinf(value):
        return math.isinf(left) or math.isinf(right)
    return value != 0 or left == 0 or right == 0


# The identities of add, sub and mul that need no constant operand (x + -y -> x - y).
_BINARY_FOLDS = {"add": _fold_add, "sub": _fold_sub, "mul": _fold_mul}
