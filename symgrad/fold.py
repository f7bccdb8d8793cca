"""Folding as graphs are built: constant operands are computed (`2*3` is `6`), and the cheap
identities that derivative graphs produce in bulk are applied (`x*1`, `x+0`, `x*0`, `--x`).

Only rules that hold for every finite input live here; the simplifier does the rest.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from symgrad.graph import Tensor, _node, as_tensor, const
from symgrad.ops import Op, add, div, mul, neg, sub
from symgrad.ops import pow as pow_


def apply(op: Op, a: Any, b: Any = None) -> Tensor:
    """op(a, b) with constants folded and identities applied.

    >>> from symgrad.graph import var
    >>> x = var("x")
    >>> str(apply(mul, apply(add, 2, 1), x * 1))
    '3*x'
    """
    if not isinstance(a, Tensor) or (b is not None and not isinstance(b, Tensor)):
        a = as_tensor(a)
        b = None if b is None else as_tensor(b)
    if b is None:
        return _fold_unary(op, a)
    return _fold_binary(op, a, b)


# Derivative graphs fold the same few constants over and over (1*-1, 2-1): remember them.
_folded: dict[tuple, Tensor | None] = {}
_UNKNOWN = object()


def _fold_constants(op: Op, a: Tensor, b: Tensor | None) -> Tensor | None:
    """The constant op(a, b), or None when it is not finite (left for evaluation to report)."""
    key = (op.name, a._key, None if b is None else b._key)
    result = _folded.get(key, _UNKNOWN)  # one lookup: another thread may clear the cache
    if result is not _UNKNOWN:
        return result
    if len(_folded) > 10_000:
        _folded.clear()
    _folded[key] = result = _compute_constant(op, a, b)
    return result


def _compute_constant(op: Op, a: Tensor, b: Tensor | None) -> Tensor | None:
    args = [_as_float(a._value)] if b is None else [_as_float(a._value), _as_float(b._value)]
    with np.errstate(all="ignore"):
        value = op.numpy(*args)
    if isinstance(value, np.ndarray):
        return const(value) if np.all(np.isfinite(value)) else None
    if not math.isfinite(value):
        return None
    # Functions fold only to integers (exp(0) -> 1); log(2) stays exact, as sympy keeps it.
    # So do named constants (cos(pi) -> -1, but 2*pi stays 2*pi).
    named = a.number is None or (b is not None and b.number is None)
    if (op.symbol is None or named) and not float(value).is_integer():
        return None
    return const(value)


def _as_float(value: Any) -> Any:
    # numpy refuses integers to negative integer powers; constants fold in floating point.
    return float(value) if isinstance(value, int) else value


def _negated(node: Tensor) -> Tensor | None:
    """x when node is -x, -c when node is a negative constant c, else None."""
    if node.op is neg:
        return node.children.a
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
    if op is neg:
        if a.op is neg:  # --x -> x
            return a.children.a
        if a.op is sub:  # -(x - y) -> y - x
            return _node(sub, a.children.b, a.children.a)
    return _node(op, a, None)


def _fold_binary(op: Op, a: Tensor, b: Tensor) -> Tensor:
    if op.fold is not None:  # the op's own folding, declared in its table entry
        folded = op.fold(a, b)
        if folded is not None:
            return folded
    # Most nodes of a derivative graph have no constant operand: test that once.
    if a.is_const or b.is_const:
        folded = _fold_with_constant(op, a, b)
        if folded is not None:
            return folded
    if op is add:
        return _fold_add(a, b)
    if op is sub:
        return _fold_sub(a, b)
    if op is mul:
        return _fold_mul(a, b)
    return _node(op, a, b)


def _fold_with_constant(op: Op, a: Tensor, b: Tensor) -> Tensor | None:
    # `number` is None for anything but a scalar constant, and None == 0 is False.
    an, bn = a.number, b.number
    identity = op.identity
    if identity is not None:
        if bn == identity:  # x+0, x-0, x*1, x/1, x**1 -> x
            return a
        if an == identity and op.commutative:  # 0+x, 1*x -> x
            return b
    absorbing = op.absorbing
    if absorbing is not None and (an == absorbing or bn == absorbing):  # x*0 -> 0
        return const(absorbing)
    if op is pow_ and bn == 0:  # x**0 -> 1
        return const(1)
    if op is div and bn == -1:  # x/-1 -> -x
        return apply(neg, a)
    if a.is_const and b.is_const:
        return _fold_constants(op, a, b)
    return None


def _fold_add(a: Tensor, b: Tensor) -> Tensor:
    if a.is_const and not b.is_const:  # constants last: 1 + x -> x + 1
        a, b = b, a
    minus_b = _negated(b)
    if minus_b is not None:  # x + -y -> x - y
        return _node(sub, a, minus_b)
    minus_a = _negated(a)
    if minus_a is not None and not a.is_const:  # -x + y -> y - x
        return _node(sub, b, minus_a)
    return _node(add, a, b)


def _fold_sub(a: Tensor, b: Tensor) -> Tensor:
    if a.number == 0:  # 0 - x -> -x
        return apply(neg, b)
    minus_b = _negated(b)
    if minus_b is not None:  # x - -y -> x + y
        return _node(add, a, minus_b)
    return _node(sub, a, b)


def _fold_mul(a: Tensor, b: Tensor) -> Tensor:
    # numbers first: x*2 -> 2*x, pi*2 -> 2*pi
    if (b.is_const and not a.is_const) or (b.number is not None and a.number is None):
        a, b = b, a
    if a.number == -1:  # -1*x -> -x
        return apply(neg, b)
    if a.is_const and b.op is mul and b.children.a.is_const:  # 2*(3*x) -> 6*x
        return apply(mul, apply(mul, a, b.children.a), b.children.b)
    if a.is_const and b.op is neg:  # 2*(-x) -> -2*x
        return apply(mul, apply(neg, a), b.children.a)
    return _node(mul, a, b)
