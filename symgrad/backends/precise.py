"""Correctly rounded values of every node of a graph at one point, the oracle `advise` measures
float64 against: mpmath interval arithmetic at rising precision (128 bits, then doubling) until
each node's interval rounds to a single double, as Herbie's ground truth does. Intervals make
cancellation visible (1 - cos(1e-300) needs some 2,000 bits), where a fixed precision would
quietly agree with itself. Exponents are bounded too (`MAX_EXPONENT`): past it an interval end
becomes infinite or zero, since mpmath would otherwise build integers as large as the number
(gmp aborts the interpreter on 2**(2**664)); a value that stays undecided is out of reach.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from mpmath import iv, libmp, mp

from symgrad.ir.graph import Tensor

START_PRECISION = 128
MAX_PRECISION = 8192
"""Bits of working precision: the first try, and where the doubling stops."""
MAX_EXPONENT = 2**24
"""Bound on log2 |v| of every interval end: a larger end is widened to infinity, a smaller
nonzero one to 0 or the bound, so the interval stays true while its numbers stay small
(an exponent of 2**24 bits; doubles end at 2**1024, so no rounded double changes)."""
_TRIG_MAGNITUDE = MAX_PRECISION
"""log2 |a| past which sin, cos and tan are not reduced (mpmath would need as many bits)."""
_ERF_LIMIT = 128
"""erf(a) rounds to +-1, and erfc(a) to 0 or 2, well before |a| = 128 at any precision here."""


class _OutOfReach(Exception):
    """A value these bounds cannot enclose (the power of a huge interval containing 0)."""


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


def _monotone(function: Callable[[Any], Any], limits: tuple[int, int]) -> Callable[[Any], Any]:
    """The interval form of a monotone function: between its values at the ends, widened by
    the rounding of the working precision (mpmath's own interval erf does not converge). An end
    past +-_ERF_LIMIT is clipped there, its value then known only to lie between the value at
    the clip and the function's limit on that side (`limits`: at -inf, at +inf), so mpmath
    never squares a huge argument."""

    def form(a: Any) -> Any:
        precision = iv.prec
        with mp.workprec(precision + 20):
            bounds = []
            for end in (a.a, a.b):
                value = mp.mpf(end._mpi_[0])
                clipped = max(min(value, _ERF_LIMIT), -_ERF_LIMIT)
                at = function(clipped)
                slack = abs(at) * mp.ldexp(1, -precision)
                bounds += [at - slack, at + slack]
                if clipped != value:
                    bounds.append(mp.mpf(limits[0] if value < 0 else limits[1]))
            return iv.mpf([min(bounds), max(bounds)])

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


_BIG = libmp.mpf_shift(libmp.fone, MAX_EXPONENT)
_TINY = libmp.mpf_shift(libmp.fone, -MAX_EXPONENT)


def _size(raw: Any) -> int:
    """log2 |x| rounded up for a raw mpf, past any bound for infinities and NaN."""
    if raw[1]:
        return raw[2] + raw[3]
    return 0 if raw == libmp.fzero else 2 * MAX_EXPONENT


def _bounded(x: Any) -> Any:
    """x with ends past 2**MAX_EXPONENT widened to infinity and ends below 2**-MAX_EXPONENT
    widened to 0 or -2**-MAX_EXPONENT (the low end) or 2**-MAX_EXPONENT (the high end): the
    interval still holds the value, and no exponent grows past the bound."""
    low, high = x._mpi_
    if abs(_size(low)) > MAX_EXPONENT and low[1]:
        negative = libmp.mpf_sign(low) < 0
        if _size(low) > 0:
            low = libmp.fninf if negative else _BIG
        else:
            low = libmp.mpf_neg(_TINY) if negative else libmp.fzero
    if abs(_size(high)) > MAX_EXPONENT and high[1]:
        negative = libmp.mpf_sign(high) < 0
        if _size(high) > 0:
            high = libmp.mpf_neg(_BIG) if negative else libmp.finf
        else:
            high = libmp.fzero if negative else _TINY
    return _from_raw(low, high) if (low, high) != x._mpi_ else x


def _clipped(a: Any, bound: Any) -> Any:
    """a with its ends moved into [-bound, bound]."""
    low, high = a._mpi_
    if _size(low) < _size(bound) and _size(high) < _size(bound):  # inside already
        return a
    top, bottom = bound, libmp.mpf_neg(bound)
    low = _larger(bottom, low) if libmp.mpf_cmp(low, top) <= 0 else top
    high = high if libmp.mpf_cmp(high, top) <= 0 else top
    high = _larger(bottom, high)
    return _from_raw(low, high)


_EXP_ARGUMENT = libmp.from_int(2 * MAX_EXPONENT)
"""exp(2*MAX_EXPONENT) is past 2**MAX_EXPONENT, so clipping exp's argument there and then
bounding the result keeps it true."""


def _exp(a: Any) -> Any:
    """exp of an interval, its argument clipped to |a| <= 2*MAX_EXPONENT (the result is then
    bounded, which widens a clipped end to infinity or 0); past |a| = 2**16 as
    2**k * exp(a - k*log(2)), since mpmath's own exp of a huge argument raises e to an integer
    power the slow way."""
    a = _clipped(a, _EXP_ARGUMENT)
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
    return _bounded(_from_raw(libmp.mpf_shift(low, k), libmp.mpf_shift(high, k)))


def _tanh(a: Any) -> Any:
    if a.b < 1:  # near 0, where 1 - 2/(exp(2a) + 1) cancels
        return iv.expm1(2 * a) / (iv.exp(2 * a) + 1)
    return 1 - 2 / (_exp(2 * a) + 1)


def _sinh(a: Any) -> Any:
    if a.b < 1:
        return iv.expm1(a) * (1 + iv.exp(-a)) / 2
    return (_exp(a) - _exp(-a)) / 2


def _logaddexp(a: Any, b: Any) -> Any:
    """log(exp(a) + exp(b)), increasing in both: at each pair of ends as
    max + log1p(exp(min - max)), which forms no exponential larger than 1."""
    ends = []
    for p, q in ((a.a, b.a), (a.b, b.b)):
        high, low = (p, q) if p >= q else (q, p)
        if high == -math.inf or low == math.inf:  # both -inf, or both +inf
            ends.append(iv.mpf(high))
        else:
            ends.append(iv.mpf(high) + iv.log1p(_exp(iv.mpf(low) - high)))
    return iv.mpf([ends[0].a, ends[1].b])


def _trigonometric(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """sin, cos or tan, out of reach for arguments past 2**_TRIG_MAGNITUDE, whose reduction by
    pi would take as many bits."""

    def form(a: Any) -> Any:
        if max(_size(end) for end in a._mpi_) > _TRIG_MAGNITUDE:
            raise _OutOfReach("the argument of a trigonometric function is too large")
        return function(a)

    return form


_POWER_SIZE = MAX_EXPONENT.bit_length()


def _pow(a: Any, b: Any) -> Any:
    """a**b; where it may pass 2**MAX_EXPONENT, as exp(b*log(a)) (bounded by `_exp`) for a > 0
    and an odd or even power of -a for an integer b, since mpmath forms powers exactly."""
    a_low, a_high = a._mpi_
    b_low, b_high = b._mpi_
    if a_low == a_high == libmp.fzero:  # 0**b: 0, 1 or no real number
        if libmp.mpf_sign(b_low) > 0:
            return iv.mpf(0)
        if libmp.mpf_sign(b_high) < 0:
            return iv.mpf([-math.inf, math.inf])
    # |log2 |a|| < 2**size_a and |b| < 2**size_b, so |log2 |a**b|| < 2**(size_a + size_b)
    size_a = max(abs(_size(end)) for end in (a_low, a_high)).bit_length()
    size_b = max(_size(end) for end in (b_low, b_high))
    if size_a + size_b <= _POWER_SIZE:
        return a**b
    if libmp.mpf_sign(a_low) > 0:
        return _exp(b * iv.log(a))
    if libmp.mpf_sign(a_high) < 0 and b_low == b_high and libmp.mpf_sign(b_low) != 0 \
            and b_low[2] >= 0:  # an integer power of a negative base
        magnitude = _exp(b * iv.log(-a))
        return magnitude if b_low[2] > 0 else -magnitude  # exponent > 0: even
    raise _OutOfReach("a power too large to bound")


def _odd(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """f on negative intervals as -f(-x): the formulas below cancel for negative x."""
    return lambda a: -function(-a) if a.b < 0 else function(a)


_LOG2, _LOG10 = (lambda: iv.log(2)), (lambda: iv.log(10))

INTERVAL_FORMS: dict[str, Callable[..., Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b if a is not b else a**2,
    "div": lambda a, b: a / b,
    "pow": _pow,
    "neg": lambda a: -a,
    "exp": _exp,
    "log": iv.log,
    "log2": lambda a: iv.log(a) / _LOG2(),
    "log10": lambda a: iv.log(a) / _LOG10(),
    "log1p": iv.log1p,
    "expm1": lambda a: iv.expm1(a) if a.b < 1 else _exp(a) - 1,
    "logaddexp": _logaddexp,
    "softplus": lambda a: _logaddexp(a, iv.mpf(0)),
    "sqrt": iv.sqrt,
    "sin": _trigonometric(iv.sin),
    "cos": _trigonometric(iv.cos),
    "tan": _trigonometric(iv.tan),
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
    "erf": _monotone(mp.erf, limits=(-1, 1)),
    "erfc": _monotone(mp.erfc, limits=(2, 0)),
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

# --- the special functions (symgrad.ops.special) ------------------------------------------------


def _narrow(function: Callable[..., Any]) -> Callable[..., Any]:
    """The interval form of a smooth function on the narrow intervals rounding leaves: its
    values at the corners, widened by the rounding of the working precision (an extremum
    inside moves the value by the square of the width, far below that). A wide interval is
    out of reach; a value that is not real (lgamma of a pole, lambertw below -1/e) is NaN."""

    def form(*operands: Any) -> Any:
        precision = iv.prec
        for operand in operands:
            low, high = (mp.mpf(end._mpi_[0]) for end in (operand.a, operand.b))
            allowed = abs(low + high) * mp.ldexp(1, -precision // 2) + mp.ldexp(1, -precision)
            if mp.isinf(low) or mp.isinf(high) or high - low > allowed:
                raise _OutOfReach("a special function of a wide interval")
        with mp.workprec(precision + 20):
            bounds = []
            corners = [[mp.mpf(end._mpi_[0]) for end in (o.a, o.b)] for o in operands]
            for point in itertools.product(*corners):
                value = function(*point)
                if mp.im(value) != 0 or mp.isnan(value):
                    raise ValueError("not a real number")
                value = mp.re(value)
                slack = abs(value) * mp.ldexp(1, -precision)
                bounds += [value - slack, value + slack]
            return iv.mpf([min(bounds), max(bounds)])

    return form


def _reciprocal(name: str) -> Callable[[Any], Any]:
    return lambda a: 1 / INTERVAL_FORMS[name](a)


def _of_reciprocal(name: str) -> Callable[[Any], Any]:
    return lambda a: INTERVAL_FORMS[name](1 / a)


def _zero_first(form: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """xlogy's and xlog1py's convention: 0 where a is exactly 0, whatever b."""
    return lambda a, b: iv.mpf(0) if a.a == a.b == 0 else form(a, b)


def _floor(a: Any) -> Any:
    return iv.mpf([mp.floor(mp.mpf(a.a._mpi_[0])), mp.floor(mp.mpf(a.b._mpi_[0]))])


def _polygamma(n: Any, x: Any) -> Any:
    if not (n.a == n.b and n.a >= 0 and mp.isint(mp.mpf(n.a._mpi_[0]))):
        return None  # NaN, as polygamma's value for an order that is no non-negative integer
    return _narrow(lambda v: mp.polygamma(int(mp.mpf(n.a._mpi_[0])), v))(x)


def _sinc(a: Any) -> Any:
    if a.a == a.b == 0:
        return iv.mpf(1)
    return INTERVAL_FORMS["sin"](iv.pi * a) / (iv.pi * a)


INTERVAL_FORMS.update({
    "sec": _reciprocal("cos"), "csc": _reciprocal("sin"), "cot": _reciprocal("tan"),
    "sech": _reciprocal("cosh"), "csch": _reciprocal("sinh"), "coth": _reciprocal("tanh"),
    "asec": _of_reciprocal("acos"), "acsc": _of_reciprocal("asin"),
    "acot": _of_reciprocal("atan"), "asech": _of_reciprocal("acosh"),
    "acsch": _of_reciprocal("asinh"), "acoth": _of_reciprocal("atanh"),
    "gamma": _narrow(mp.gamma),
    "lgamma": _narrow(lambda v: mp.log(abs(mp.gamma(v))) if v <= 0 else mp.loggamma(v)),
    "digamma": _narrow(mp.digamma),
    "polygamma": _polygamma,
    "beta": _narrow(mp.beta),
    "gammainc": _narrow(lambda a, x: mp.gammainc(a, 0, x, regularized=True)),
    "logit": lambda a: iv.log(a / (1 - a)),
    "xlogy": _zero_first(lambda a, b: a * iv.log(b)),
    "xlog1py": _zero_first(lambda a, b: a * iv.log1p(b)),
    "entr": lambda a: iv.mpf(0) if a.a == a.b == 0 else -a * iv.log(a),
    "logaddexp2": lambda a, b: _logaddexp(a * _LOG2(), b * _LOG2()) / _LOG2(),
    "hypot": lambda a, b: iv.sqrt(a**2 + b**2),
    "cbrt": _odd(lambda a: a ** (iv.mpf(1) / 3)),
    "exp2": lambda a: _exp(a * _LOG2()),
    "sinc": _sinc,
    "erfinv": _narrow(mp.erfinv),
    "erfcinv": _narrow(lambda v: mp.erfinv(1 - v)),
    "erfcx": _narrow(lambda v: mp.exp(v**2) * mp.erfc(v)),
    "ndtri": _narrow(lambda v: mp.sqrt(2) * mp.erfinv(2 * v - 1)),
    "log_ndtr": _narrow(lambda v: mp.log(mp.ncdf(v))),
    "i0": _narrow(lambda v: mp.besseli(0, v)),
    "i1": _narrow(lambda v: mp.besseli(1, v)),
    "j0": _narrow(lambda v: mp.besselj(0, v)),
    "j1": _narrow(lambda v: mp.besselj(1, v)),
    "lambertw": _narrow(lambda v: mp.lambertw(v) if v >= -1 / mp.e else mp.nan),
    "floor": _floor,
    "ceil": lambda a: -_floor(-a),
    "mod": lambda a, b: a - b * _floor(a / b),
})


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
                except _OutOfReach:
                    result = _UNKNOWN
                except (ValueError, ZeroDivisionError, ArithmeticError):
                    result = None  # log of a negative, 0**-1: not a real number
                if result is not None and result is not _UNKNOWN:
                    if not hasattr(result, "_mpi_"):
                        result = None  # complex (a negative base to a fractional power)
                    else:
                        bounded = _bounded(result)
                        was_widened = was_widened or bounded is not result
                        result = bounded
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
        form = INTERVAL_FORMS.get(children.op.name)
        if form is None:
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
            bounded = all(end not in (libmp.finf, libmp.fninf) for end in interval._mpi_)
            value = _nearest(interval.mid._mpi_[0]) if bounded else None
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
