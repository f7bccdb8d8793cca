"""Correctly rounded values of every node of a graph at one point, the oracle `advise` measures
float64 against: mpmath interval arithmetic at rising precision (128 bits, then doubling) until
each node's interval rounds to a single double, as Herbie's ground truth does. Intervals make
cancellation visible (1 - cos(1e-300) needs some 2,000 bits), where a fixed precision would
quietly agree with itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from mpmath import iv, libmp, mp

from symgrad.graph import Tensor

START_PRECISION = 128
MAX_PRECISION = 8192
"""Bits of working precision: the first try, and where the doubling stops."""


class NoPreciseFormError(LookupError):
    """An op with no interval form here, so its exact value cannot be computed."""


def _from_raw(low: Any, high: Any) -> Any:
    result = iv.mpf(0)
    result._mpi_ = (low, high)
    return result


def _sign(x: Any) -> Any:
    low, high = x._mpi_
    lower = -1 if libmp.mpf_sign(low) < 0 else (0 if low == libmp.fzero else 1)
    upper = -1 if libmp.mpf_sign(high) < 0 else (0 if high == libmp.fzero else 1)
    return iv.mpf([lower, upper])


def _step(x: Any) -> Any:
    s = _sign(x)
    low, high = (float(v) for v in (s.a, s.b))
    return iv.mpf([max(low, 0.0), max(high, 0.0)])


def _larger(p: Any, q: Any) -> Any:
    return p if libmp.mpf_cmp(p, q) >= 0 else q


def _maximum(a: Any, b: Any) -> Any:
    (a_low, a_high), (b_low, b_high) = a._mpi_, b._mpi_
    return _from_raw(_larger(a_low, b_low), _larger(a_high, b_high))


def _monotone(function: Callable[[Any], Any], increasing: bool) -> Callable[[Any], Any]:
    """The interval form of a monotone function from its values at the ends, widened by the
    rounding of the working precision (mpmath's own interval erf does not converge)."""

    def form(a: Any) -> Any:
        precision = iv.prec
        with mp.workprec(precision + 20):
            ends = [function(mp.mpf(end._mpi_[0])) for end in (a.a, a.b)]
            if not increasing:
                ends.reverse()
            slack = [abs(end) * mp.ldexp(1, -precision) for end in ends]
            return iv.mpf([ends[0] - slack[0], ends[1] + slack[1]])

    return form


def _minimum(a: Any, b: Any) -> Any:
    return -_maximum(-a, -b)


def _compare(holds: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    """A comparison of intervals: 0 or 1 where the intervals decide it, else [0, 1]."""

    def compare(a: Any, b: Any) -> Any:
        corners = {holds(x, y) for x in (a.a, a.b) for y in (b.a, b.b)}
        if len(corners) == 1 and (a.a == a.b and b.a == b.b or not (a.b >= b.a and b.b >= a.a)):
            return iv.mpf(int(corners.pop()))
        return iv.mpf([0, 1])

    return compare


def _select_zero(c: Any, x: Any) -> Any:
    s = _sign(c)
    if s.a == s.b == 0:
        return iv.mpf(0)
    if not (s.a <= 0 <= s.b):
        return x
    low = min(float(x.a), 0.0)
    high = max(float(x.b), 0.0)
    return iv.mpf([low, high])


def _magnitude(raw: Any) -> int:
    """About log2 |x| of a raw mpf (0 for zero, infinities and NaN)."""
    return raw[2] + raw[3] if raw[1] else 0


def _exp(a: Any) -> Any:
    """exp of an interval; past |a| = 2**16 as 2**k * exp(a - k*log(2)), since mpmath's own
    exp of a huge argument raises e to an integer power the slow way."""
    low, high = a._mpi_
    size = max(_magnitude(low), _magnitude(high))
    if size < 16 or libmp.mpf_sub(high, low, 53) != libmp.fzero and \
            _magnitude(libmp.mpf_sub(high, low, 53)) > size - 32:  # small, or too wide
        return iv.exp(a)
    precision = iv.prec
    with mp.workprec(precision + size + 32):
        k = int(mp.nint(mp.mpf(a.mid._mpi_[0]) / mp.ln2))
    iv.prec = precision + k.bit_length() + 32
    try:
        reduced = iv.exp(a - k * iv.log(2))
    finally:
        iv.prec = precision
    low, high = reduced._mpi_
    return _from_raw(libmp.mpf_shift(low, k), libmp.mpf_shift(high, k))


def _tanh(a: Any) -> Any:
    if a.b < 1:  # near 0, where 1 - 2/(exp(2a) + 1) cancels
        return iv.expm1(2 * a) / (iv.exp(2 * a) + 1)
    return 1 - 2 / (_exp(2 * a) + 1)


def _sinh(a: Any) -> Any:
    if a.b < 1:
        return iv.expm1(a) * (1 + iv.exp(-a)) / 2
    return (_exp(a) - _exp(-a)) / 2


def _odd(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """f on negative intervals as -f(-x): the formulas below cancel for negative x."""
    return lambda a: -function(-a) if a.b < 0 else function(a)


_LOG2, _LOG10 = (lambda: iv.log(2)), (lambda: iv.log(10))

INTERVAL_FORMS: dict[str, Callable[..., Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b if a is not b else a**2,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "neg": lambda a: -a,
    "exp": _exp,
    "log": iv.log,
    "log2": lambda a: iv.log(a) / _LOG2(),
    "log10": lambda a: iv.log(a) / _LOG10(),
    "log1p": iv.log1p,
    "expm1": iv.expm1,
    "logaddexp": lambda a, b: iv.log(_exp(a) + _exp(b)),
    "softplus": lambda a: iv.log1p(_exp(a)),
    "sqrt": iv.sqrt,
    "sin": iv.sin,
    "cos": iv.cos,
    "tan": iv.tan,
    "asin": lambda a: iv.atan2(a, iv.sqrt(1 - a**2)),
    "acos": lambda a: iv.atan2(iv.sqrt(1 - a**2), a),
    "atan": lambda a: iv.atan2(a, iv.mpf(1)),
    "atan2": iv.atan2,
    "sinh": _odd(_sinh),
    "cosh": lambda a: (_exp(a) + _exp(-a)) / 2,
    "tanh": _odd(_tanh),
    "asinh": _odd(lambda a: iv.log1p(a + a**2 / (1 + iv.sqrt(a**2 + 1)))),
    "acosh": lambda a: iv.log(a + iv.sqrt(a**2 - 1)),
    "atanh": lambda a: (iv.log1p(a) - iv.log1p(-a)) / 2,
    "erf": _monotone(mp.erf, increasing=True),
    "erfc": _monotone(mp.erfc, increasing=False),
    "sigmoid": lambda a: 1 / (1 + _exp(-a)),
    "relu": lambda a: _maximum(a, iv.mpf(0)),
    "abs": iv.fabs,
    "step": _step,
    "sign": _sign,
    "max": _maximum,
    "min": _minimum,
    "lt": _compare(lambda x, y: x < y),
    "le": _compare(lambda x, y: x <= y),
    "gt": _compare(lambda x, y: x > y),
    "ge": _compare(lambda x, y: x >= y),
    "eq": _compare(lambda x, y: x == y),
    "ne": _compare(lambda x, y: x != y),
    "select_zero": _select_zero,
}
"""Each op as a function of mpmath intervals, by op name."""


def _nearest(raw: Any) -> float:
    return libmp.to_float(raw, rnd=libmp.round_nearest)


def _rounded(x: Any) -> float | None:
    """The one double both ends of the interval round to; NaN when the value is undefined;
    None when the interval is still too wide to tell."""
    if x is None:
        return math.nan
    low, high = x._mpi_
    if low == libmp.fnan or high == libmp.fnan:
        return math.nan
    a, b = _nearest(low), _nearest(high)
    if a == b:
        return a
    if math.isinf(a) and math.isinf(b) and a != b:  # (-inf, inf): 0/0, inf - inf
        return math.nan if low == libmp.fninf and high == libmp.finf else None
    return None


def _evaluate(order: Sequence[Tensor], point: dict[str, float], forms: Sequence[Any]
              ) -> list[Any]:
    intervals: dict[Tensor, Any] = {}
    results = []
    for node, form in zip(order, forms):
        children = node.children
        if children is None:
            value = point[node.name] if node.name is not None else float(node.value)
            result = iv.mpf(value)
        else:
            operands = [intervals.get(children.a)]
            if children.b is not None:
                operands.append(intervals.get(children.b))
            if any(operand is None for operand in operands):
                result = None  # an undefined operand makes the node undefined
            else:
                try:
                    result = form(*operands)
                except (ValueError, ZeroDivisionError, ArithmeticError):
                    result = None  # log of a negative, 0**-1: not a real number
                if result is not None and not hasattr(result, "_mpi_"):
                    result = None  # a complex result (a negative base to a fractional power)
        intervals[node] = result
        results.append(result)
    return results


def precise_values(order: Sequence[Tensor], point: dict[str, float]) -> list[float]:
    """The correctly rounded double of each node of `order` (a topological order) at `point`
    (variable name -> float); NaN where the exact value is not a real number.

    >>> from symgrad.graph import var, toposort
    >>> from symgrad.ops import cos
    >>> x = var("x")
    >>> precise_values(toposort(1 - cos(x)), {"x": 1e-150})[-1]
    5e-301
    """
    forms: list[Callable[..., Any] | None] = []
    for node in order:
        children = node.children
        if children is None:
            forms.append(None)
            continue
        form = INTERVAL_FORMS.get(children.op.name)
        if form is None:
            raise NoPreciseFormError(f"no precise (interval) form for the op {children.op.name!r}")
        forms.append(form)
    precision = START_PRECISION
    best: list[float | None] = [None] * len(order)
    while True:
        intervals = _at_precision(order, point, forms, precision)
        for index, interval in enumerate(intervals):
            if best[index] is None:
                best[index] = _rounded(interval)
        if all(value is not None for value in best) or precision >= MAX_PRECISION:
            break
        precision *= 2
    # still undecided at the last precision: the midpoint's double
    return [
        float(_nearest(interval.mid._mpi_[0]) if value is None else value)
        for value, interval in zip(best, intervals, strict=True)
    ]


def _at_precision(order: Sequence[Tensor], point: dict[str, float], forms: Sequence[Any],
                  precision: int) -> list[Any]:
    saved, iv.prec = iv.prec, precision
    try:
        return _evaluate(order, point, forms)
    finally:
        iv.prec = saved
