"""Correctly rounded values of every node of a graph at one point, the oracle `advise` measures
float64 against: mpmath interval arithmetic at rising precision (128 bits, then doubling) until
each node's interval rounds to a single double, as Herbie's ground truth does. Intervals make
cancellation visible (1 - cos(1e-300) needs some 2,000 bits), where a fixed precision would
quietly agree with itself. Exponents are bounded too (`MAX_EXPONENT`): past it an interval end
becomes infinite or zero, since mpmath would otherwise build integers as large as the number
(gmp aborts the interpreter on 2**(2**664)); a value that stays undecided is out of reach.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from mpmath import iv, libmp

from symgrad.ir.graph import Tensor
from symgrad.ir.op import no_interval
from symgrad.ops.intervals import MAX_PRECISION, OutOfReach, bounded

START_PRECISION = 128
"""Bits of working precision: the first try, and where the doubling stops (`MAX_PRECISION`)."""


class NoPreciseFormError(LookupError):
    """An op whose row states no interval form (`Op.interval`), so its exact value cannot
    be computed."""

def _nearest(raw: Any) -> float:
    return libmp.to_float(raw, rnd=libmp.round_nearest)


class _Unknown:
    """The value of a node these bounds cannot enclose, or of one over such a node."""


_UNKNOWN = _Unknown()


def _rounded(x: Any, widened: bool) -> float | None:
    """The one double both ends of the interval round to; NaN when the value is undefined;
    None when the interval is still too wide to tell (or is `_UNKNOWN`). (-inf, inf) is 0/0 or
    inf - inf, unless an end was `widened` by the bounds (exp(x) - exp(x) at x = 1e9)."""
    if x is None:
        return math.nan
    if x is _UNKNOWN:
        return None
    low, high = x._mpi_
    if low == libmp.fnan or high == libmp.fnan:
        return math.nan
    a, b = _nearest(low), _nearest(high)
    if a == b:
        return a
    if math.isinf(a) and math.isinf(b) and a != b and not widened:
        return math.nan if low == libmp.fninf and high == libmp.finf else None
    return None


class _Intervals(NamedTuple):
    values: list[Any]  # an interval, None (not a real number) or _UNKNOWN, by position
    widened: list[bool]  # whether the bounds widened the node's interval or an operand's


def _evaluate(order: Sequence[Tensor], point: dict[str, float], forms: Sequence[Any]
              ) -> _Intervals:
    position: dict[Tensor, int] = {}
    values: list[Any] = []
    widened: list[bool] = []
    for node, form in zip(order, forms):
        children = node.children
        was_widened = False
        if children is None:
            value = point[node.name] if node.name is not None else float(node.value)
            result: Any = iv.mpf(value)
        else:
            indices = [position[children.a]]
            if children.b is not None:
                indices.append(position[children.b])
            operands = [values[index] for index in indices]
            was_widened = any(widened[index] for index in indices)
            if any(operand is None for operand in operands):
                result = None  # an undefined operand makes the node undefined
            elif any(operand is _UNKNOWN for operand in operands):
                result = _UNKNOWN
            else:
                try:
                    result = form(*operands)
                except OutOfReach:
                    result = _UNKNOWN
                except (ValueError, ZeroDivisionError, ArithmeticError):
                    result = None  # log of a negative, 0**-1: not a real number
                if result is not None and result is not _UNKNOWN:
                    if not hasattr(result, "_mpi_"):
                        result = None  # complex (a negative base to a fractional power)
                    else:
                        kept = bounded(result)
                        was_widened = was_widened or kept is not result
                        result = kept
        position[node] = len(values)
        values.append(result)
        widened.append(was_widened)
    return _Intervals(values, widened)


class PreciseValues(NamedTuple):
    """Correctly rounded doubles by node (NaN where the value is not a real number or is out
    of reach), and where it is out of reach: bounds of `MAX_PRECISION` bits and exponents of
    `MAX_EXPONENT` bits could not decide it (log(exp(exp(x))) at x = 20)."""

    values: list[float]
    out_of_reach: list[bool]


def precise(order: Sequence[Tensor], point: dict[str, float]) -> PreciseValues:
    """The correctly rounded double of each node of `order` (a topological order) at `point`
    (variable name -> float), and which of them are out of reach.

    >>> from symgrad.ir.graph import var, toposort
    >>> from symgrad.ops.scalar import exp, log
    >>> x = var("x")
    >>> precise(toposort(log(exp(exp(x)))), {"x": 1.0}).values[-1]
    2.718281828459045
    >>> precise(toposort(log(exp(exp(x)))), {"x": 20.0}).out_of_reach[-1]
    True
    """
    forms: list[Callable[..., Any] | None] = []
    for node in order:
        children = node.children
        if children is None:
            forms.append(None)
            continue
        form = children.op.interval
        if form is None or form is no_interval:
            raise NoPreciseFormError(f"no precise (interval) form for the op {children.op.name!r}")
        forms.append(form)
    precision = START_PRECISION
    best: list[float | None] = [None] * len(order)
    while True:
        intervals = _at_precision(order, point, forms, precision)
        for index, interval in enumerate(intervals.values):
            if best[index] is None:
                best[index] = _rounded(interval, intervals.widened[index])
        undecided = [index for index, value in enumerate(best) if value is None]
        if precision >= MAX_PRECISION or all(
                intervals.values[index] is _UNKNOWN for index in undecided):
            break
        precision *= 2
    values, out_of_reach = [], []
    for value, interval in zip(best, intervals.values, strict=True):
        if value is None and interval is not _UNKNOWN:
            # still undecided at the last precision: the midpoint's double, when bounded
            finite = all(end not in (libmp.finf, libmp.fninf) for end in interval._mpi_)
            value = _nearest(interval.mid._mpi_[0]) if finite else None
        out_of_reach.append(value is None)
        values.append(math.nan if value is None else value)
    return PreciseValues(values, out_of_reach)


def precise_values(order: Sequence[Tensor], point: dict[str, float]) -> list[float]:
    """The correctly rounded double of each node of `order` (a topological order) at `point`
    (variable name -> float); NaN where the exact value is not a real number or is out of
    reach (`precise` tells which).

    >>> from symgrad.ir.graph import var, toposort
    >>> from symgrad.ops.scalar import cos
    >>> x = var("x")
    >>> precise_values(toposort(1 - cos(x)), {"x": 1e-150})[-1]
    5e-301
    """
    return precise(order, point).values


def _at_precision(order: Sequence[Tensor], point: dict[str, float], forms: Sequence[Any],
                  precision: int) -> _Intervals:
    saved, iv.prec = iv.prec, precision
    try:
        return _evaluate(order, point, forms)
    finally:
        iv.prec = saved


def _ordinal(values: np.ndarray) -> np.ndarray:
    """Doubles as integers in order, so the difference counts the doubles between them."""
    bits = np.asarray(values, dtype=np.float64).view(np.int64)
    return np.where(bits < 0, -(bits & np.int64(0x7FFFFFFFFFFFFFFF)), bits)


def bits_of_error(computed: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """log2(1 + the number of doubles between computed and exact), Herbie's measure: 0 when
    equal, 64 when one is NaN and the other not.

    >>> float(bits_of_error(np.array([1.0]), np.array([np.nextafter(1.0, 2.0)]))[0])
    1.0
    """
    computed = np.broadcast_to(np.asarray(computed, dtype=np.float64), np.shape(exact))
    exact = np.asarray(exact, dtype=np.float64)
    a, b = _ordinal(computed), _ordinal(exact)
    same_sign = (a >= 0) == (b >= 0)
    with np.errstate(over="ignore"):
        steps = np.where(same_sign, np.abs(a - b).astype(np.float64),
                         np.abs(a.astype(np.float64) - b.astype(np.float64)))
    bits = np.log2(1.0 + steps)
    nan_computed, nan_exact = np.isnan(computed), np.isnan(exact)
    bits = np.where(nan_computed | nan_exact, 64.0, bits)
    return np.where(nan_computed & nan_exact, 0.0, bits)
