"""Each scalar op as a function of mpmath intervals, the form `precise` (and so `advise`)
computes it in; a row names its form here (`interval=intervals.exp`). Exponents are bounded
(`MAX_EXPONENT`): past it an interval end becomes infinite or zero, since mpmath would otherwise
build integers as large as the number (gmp aborts the interpreter on 2**(2**664)).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

from mpmath import iv, libmp, mp

MAX_PRECISION = 8192
"""Bits of working precision where `precise` stops doubling."""
MAX_EXPONENT = 2**24
"""Bound on log2 |v| of every interval end: a larger end is widened to infinity, a smaller
nonzero one to 0 or the bound, so the interval stays true while its numbers stay small
(an exponent of 2**24 bits; doubles end at 2**1024, so no rounded double changes)."""
_TRIG_MAGNITUDE = MAX_PRECISION
"""log2 |a| past which sin, cos and tan are not reduced (mpmath would need as many bits)."""
_ERF_LIMIT = 128
"""erf(a) rounds to +-1, and erfc(a) to 0 or 2, well before |a| = 128 at any precision here."""


class OutOfReach(Exception):
    """A value these bounds cannot enclose (the power of a huge interval containing 0)."""


def _from_raw(low: Any, high: Any) -> Any:
    result = iv.mpf(0)
    result._mpi_ = (low, high)
    return result


def sign(x: Any) -> Any:
    low, high = x._mpi_
    lower = -1 if libmp.mpf_sign(low) < 0 else (0 if low == libmp.fzero else 1)
    upper = -1 if libmp.mpf_sign(high) < 0 else (0 if high == libmp.fzero else 1)
    return iv.mpf([lower, upper])


def step(x: Any) -> Any:
    s = sign(x)
    low, high = (float(v) for v in (s.a, s.b))
    return iv.mpf([max(low, 0.0), max(high, 0.0)])


def _larger(p: Any, q: Any) -> Any:
    return p if libmp.mpf_cmp(p, q) >= 0 else q


def maximum(a: Any, b: Any) -> Any:
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


def minimum(a: Any, b: Any) -> Any:
    return -maximum(-a, -b)


def _compare(holds: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    """A comparison of intervals: 0 or 1 where the intervals decide it, else [0, 1]."""

    def compare(a: Any, b: Any) -> Any:
        corners = {holds(x, y) for x in (a.a, a.b) for y in (b.a, b.b)}
        if len(corners) == 1 and (a.a == a.b and b.a == b.b or not (a.b >= b.a and b.b >= a.a)):
            return iv.mpf(int(corners.pop()))
        return iv.mpf([0, 1])

    return compare


def select_zero(c: Any, x: Any) -> Any:
    s = sign(c)
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


def bounded(x: Any) -> Any:
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


def exp(a: Any) -> Any:
    """exp of an interval, its argument clipped to |a| <= 2*MAX_EXPONENT (the result is then
    bounded, which widens a clipped end to infinity or 0); past |a| = 2**16 as
    2**k * exp(a - k*log(2)), since mpmath's own exp of a huge argument raises e to an integer
    power the slow way."""
    a = _clipped(a, _EXP_ARGUMENT)
    low, high = a._mpi_
    size = max(_magnitude(low), _magnitude(high))
    if size < 16 or libmp.mpf_sub(high, low, 53) != libmp.fzero and \
            _magnitude(libmp.mpf_sub(high, low, 53)) > size - 32:  # small, or too wide
        if low == high == libmp.fzero:
            return iv.mpf(1)
        # mpmath's iv.exp can return a point for a tiny argument (exp(2.4e-41) at 256 bits:
        # [1 + x, 1 + x], though exp(x) is no number of 256 bits), which would make
        # exp(x) + exp(-x) - 2 exactly 0; two units in the last place of slack each way
        slack = iv.mpf(2) ** (2 - iv.prec)
        return iv.exp(a) * (1 + slack * iv.mpf([-1, 1]))
    precision = iv.prec
    with mp.workprec(precision + size + 32):
        k = int(mp.nint(mp.mpf(a.mid._mpi_[0]) / mp.ln2))
    iv.prec = precision + k.bit_length() + 32
    try:
        reduced = iv.exp(a - k * iv.log(2))
    finally:
        iv.prec = precision
    low, high = reduced._mpi_
    return bounded(_from_raw(libmp.mpf_shift(low, k), libmp.mpf_shift(high, k)))


def _tanh_positive(a: Any) -> Any:
    if a.b < 1:  # near 0, where 1 - 2/(exp(2a) + 1) cancels
        return iv.expm1(2 * a) / (iv.exp(2 * a) + 1)
    return 1 - 2 / (exp(2 * a) + 1)


def _sinh_positive(a: Any) -> Any:
    if a.b < 1:
        return iv.expm1(a) * (1 + iv.exp(-a)) / 2
    return (exp(a) - exp(-a)) / 2


def logaddexp(a: Any, b: Any) -> Any:
    """log(exp(a) + exp(b)), increasing in both: at each pair of ends as
    max + log1p(exp(min - max)), which forms no exponential larger than 1."""
    ends = []
    for p, q in ((a.a, b.a), (a.b, b.b)):
        high, low = (p, q) if p >= q else (q, p)
        if high == -math.inf or low == math.inf:  # both -inf, or both +inf
            ends.append(iv.mpf(high))
        else:
            ends.append(iv.mpf(high) + iv.log1p(exp(iv.mpf(low) - high)))
    return iv.mpf([ends[0].a, ends[1].b])


def _trigonometric(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """sin, cos or tan, out of reach for arguments past 2**_TRIG_MAGNITUDE, whose reduction by
    pi would take as many bits."""

    def form(a: Any) -> Any:
        if max(_size(end) for end in a._mpi_) > _TRIG_MAGNITUDE:
            raise OutOfReach("the argument of a trigonometric function is too large")
        return function(a)

    return form


_POWER_SIZE = MAX_EXPONENT.bit_length()


def power(a: Any, b: Any) -> Any:
    """a**b; where it may pass 2**MAX_EXPONENT, as exp(b*log(a)) (bounded by `exp`) for a > 0
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
        return exp(b * iv.log(a))
    if libmp.mpf_sign(a_high) < 0 and b_low == b_high and libmp.mpf_sign(b_low) != 0 \
            and b_low[2] >= 0:  # an integer power of a negative base
        magnitude = exp(b * iv.log(-a))
        return magnitude if b_low[2] > 0 else -magnitude  # exponent > 0: even
    raise OutOfReach("a power too large to bound")


def _odd(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """f on negative intervals as -f(-x): the formulas below cancel for negative x."""
    return lambda a: -function(-a) if a.b < 0 else function(a)


_LOG2, _LOG10 = (lambda: iv.log(2)), (lambda: iv.log(10))


# --- the forms the rows name that are not defined above --------------------------------------


def add(a: Any, b: Any) -> Any:
    return a + b


def sub(a: Any, b: Any) -> Any:
    return a - b


def mul(a: Any, b: Any) -> Any:
    return a * b if a is not b else a**2  # x*x is a square: never negative


def div(a: Any, b: Any) -> Any:
    return a / b


def neg(a: Any) -> Any:
    return -a


def log2(a: Any) -> Any:
    return iv.log(a) / _LOG2()


def log10(a: Any) -> Any:
    return iv.log(a) / _LOG10()


def expm1(a: Any) -> Any:
    return iv.expm1(a) if a.b < 1 else exp(a) - 1


def softplus(a: Any) -> Any:
    return logaddexp(a, iv.mpf(0))


def asin(a: Any) -> Any:
    return iv.atan2(a, iv.sqrt(1 - a**2))


def acos(a: Any) -> Any:
    return iv.atan2(iv.sqrt(1 - a**2), a)


def atan(a: Any) -> Any:
    return iv.atan2(a, iv.mpf(1))


def cosh(a: Any) -> Any:
    return (exp(a) + exp(-a)) / 2


def acosh(a: Any) -> Any:
    return iv.log(a + iv.sqrt(a**2 - 1))


def atanh(a: Any) -> Any:
    return (iv.log1p(a) - iv.log1p(-a)) / 2


def sigmoid(a: Any) -> Any:
    return 1 / (1 + exp(-a))


def relu(a: Any) -> Any:
    return maximum(a, iv.mpf(0))


sin, cos, tan = (_trigonometric(function) for function in (iv.sin, iv.cos, iv.tan))
sinh, tanh = _odd(_sinh_positive), _odd(_tanh_positive)
asinh = _odd(lambda a: iv.log1p(a + a**2 / (1 + iv.sqrt(a**2 + 1))))
erf = _monotone(mp.erf, limits=(-1, 1))
erfc = _monotone(mp.erfc, limits=(2, 0))
lt, le, gt, ge, eq, ne = (
    _compare(relation) for relation in (
        lambda x, y: x < y, lambda x, y: x <= y, lambda x, y: x > y, lambda x, y: x >= y,
        lambda x, y: x == y, lambda x, y: x != y,
    )
)
log, log1p, sqrt, atan2, absolute = iv.log, iv.log1p, iv.sqrt, iv.atan2, iv.fabs


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
                raise OutOfReach("a special function of a wide interval")
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


def _reciprocal(form: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda a: 1 / form(a)


def _of_reciprocal(form: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda a: form(1 / a)


def _zero_first(form: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """xlogy's and xlog1py's convention: 0 where a is exactly 0, whatever b."""
    return lambda a, b: iv.mpf(0) if a.a == a.b == 0 else form(a, b)


def floor(a: Any) -> Any:
    return iv.mpf([mp.floor(mp.mpf(a.a._mpi_[0])), mp.floor(mp.mpf(a.b._mpi_[0]))])


def polygamma(n: Any, x: Any) -> Any:
    if not (n.a == n.b and n.a >= 0 and mp.isint(mp.mpf(n.a._mpi_[0]))):
        return None  # NaN, as polygamma's value for an order that is no non-negative integer
    return _narrow(lambda v: mp.polygamma(int(mp.mpf(n.a._mpi_[0])), v))(x)


def sinc(a: Any) -> Any:
    if a.a == a.b == 0:
        return iv.mpf(1)
    return sin(iv.pi * a) / (iv.pi * a)


sec = _reciprocal(cos)
csc = _reciprocal(sin)
cot = _reciprocal(tan)
sech = _reciprocal(cosh)
csch = _reciprocal(sinh)
coth = _reciprocal(tanh)
asec = _of_reciprocal(acos)
acsc = _of_reciprocal(asin)
acot = _of_reciprocal(atan)
asech = _of_reciprocal(acosh)
acsch = _of_reciprocal(asinh)
acoth = _of_reciprocal(atanh)
gamma = _narrow(mp.gamma)
lgamma = _narrow(lambda v: mp.log(abs(mp.gamma(v))) if v <= 0 else mp.loggamma(v))
digamma = _narrow(mp.digamma)
beta = _narrow(mp.beta)
gammainc = _narrow(lambda a, x: mp.gammainc(a, 0, x, regularized=True))
logit = lambda a: iv.log(a / (1 - a))
xlogy = _zero_first(lambda a, b: a * iv.log(b))
xlog1py = _zero_first(lambda a, b: a * iv.log1p(b))
entr = lambda a: iv.mpf(0) if a.a == a.b == 0 else -a * iv.log(a)
logaddexp2 = lambda a, b: logaddexp(a * _LOG2(), b * _LOG2()) / _LOG2()
hypot = lambda a, b: iv.sqrt(a**2 + b**2)
cbrt = _odd(lambda a: a ** (iv.mpf(1) / 3))
exp2 = lambda a: exp(a * _LOG2())
erfinv = _narrow(mp.erfinv)
erfcinv = _narrow(lambda v: mp.erfinv(1 - v))
erfcx = _narrow(lambda v: mp.exp(v**2) * mp.erfc(v))
ndtri = _narrow(lambda v: mp.sqrt(2) * mp.erfinv(2 * v - 1))
log_ndtr = _narrow(lambda v: mp.log(mp.ncdf(v)))
i0 = _narrow(lambda v: mp.besseli(0, v))
i1 = _narrow(lambda v: mp.besseli(1, v))
j0 = _narrow(lambda v: mp.besselj(0, v))
j1 = _narrow(lambda v: mp.besselj(1, v))
lambertw = _narrow(lambda v: mp.lambertw(v) if v >= -1 / mp.e else mp.nan)
ceil = lambda a: -floor(-a)
mod = lambda a, b: a - b * floor(a / b)
