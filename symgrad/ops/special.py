"""Rows of the op table for the special functions statistics and physics formulas use: the
reciprocal trigonometric and hyperbolic functions and their inverses, gamma and its relatives,
the error-function inverses, Bessel functions, Lambert's W and the piecewise-constant ones.

Values come from numpy where it has them, else from scipy.special; derivatives are symgrad
expressions (lgamma' = digamma, digamma' = polygamma(1, a), i0' = i1), so they differentiate
again. Rows that scipy computes name it as `special.<name>`, which the numba interpreter calls
through scipy's cython bindings (`symgrad.backends.cython_special`) where scipy exports one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from symgrad.ir.graph import PI, Tensor
from symgrad.ir.op import Domain, Range
from symgrad.ir.sentinels import NO_DERIVATIVE, ZERO
from symgrad.ops import intervals
from symgrad.ops.scalar import (
    _function,
    cos,
    exp,
    gt,
    log,
    log1p,
    sigmoid,
    sin,
    sqrt,
    tan,
    tanh,
    where,
)
from symgrad.ops.scalar import eq as equal

_POSITIVE = Domain((Range(0.05, 4.0),), text="a > 0")
_POLES_AT_0 = Domain((Range(0.1, 3.0),), text="a != 0")
_OUTSIDE_UNIT = Domain((Range(1.05, 4.0),), text="|a| > 1")
# Odd functions sympy rewrites as such, f(-a) -> -f(a), by a form that fails at exactly 0:
# -acot(a) is -pi/2 there, not acot(0) = pi/2, and besseli(1, -a) -> -a*besseli(1, a)/a is 0/0.
# Sampled asymmetrically, so mapping an operand into the range never lands on 0.
_ODD_AT_0 = Domain((Range(-3.0, 2.5),), text="all reals")
# xlogy(0, b) is 0 even where log(b) is not finite: sympy's Piecewise form differentiates to 0
# there, symgrad to log(b) (the slope along a), so the table declares a = 0 a convention point
_ZERO_FIRST_OPERAND = lambda a, b: (a,)  # noqa: E731


def _periodic(x: Any) -> Any:
    """sin(pi*x), which is 0 where x is an integer: where floor, ceil and mod jump. Written for
    each kind of operand the table's `kinks` receive (arrays, Tensors, sympy expressions)."""
    if isinstance(x, Tensor):
        return sin(PI * x)
    if isinstance(x, sp.Basic):
        return sp.sin(sp.pi * x)
    return np.sin(np.pi * np.asarray(x, dtype=float))


# --- reciprocal trigonometric and hyperbolic functions, and their inverses ----------------------

sec = _function("sec", "1 / np.cos(a)", sp.sec, lambda a, b, out: (out * tan(a),),
                latex="\\sec{{\\left({a} \\right)}}",
                domain=Domain((Range(-1.4, 1.4),), text="cos(a) != 0"), doc="1/cos(a)",
                interval=intervals.sec)
csc = _function("csc", "1 / np.sin(a)", sp.csc, lambda a, b, out: (-out * cot(a),),
                latex="\\csc{{\\left({a} \\right)}}",
                domain=Domain((Range(0.1, 3.0),), text="sin(a) != 0"), doc="1/sin(a)",
                interval=intervals.csc)
cot: Any = _function("cot", "1 / np.tan(a)", sp.cot, lambda a, b, out: (-1 - out**2,),
                     latex="\\cot{{\\left({a} \\right)}}",
                     domain=Domain((Range(0.1, 3.0),), text="sin(a) != 0"), doc="1/tan(a)",
                     interval=intervals.cot)
asec = _function("asec", "np.arccos(np.divide(1.0, a))", sp.asec,
                 lambda a, b, out: (1 / (a**2 * sqrt(1 - 1 / a**2)),), domain=_OUTSIDE_UNIT,
                 doc="acos(1/a)", interval=intervals.asec)
acsc = _function("acsc", "np.arcsin(np.divide(1.0, a))", sp.acsc,
                 lambda a, b, out: (-1 / (a**2 * sqrt(1 - 1 / a**2)),), domain=_OUTSIDE_UNIT,
                 doc="asin(1/a)", interval=intervals.acsc)
acot = _function("acot", "np.arctan(np.divide(1.0, a))", sp.acot,
                 lambda a, b, out: (-1 / (1 + a**2),),
                 kinks=lambda a, b: (a,),  # the jump from -pi/2 to pi/2 at 0
                 domain=_ODD_AT_0,
                 doc="atan(1/a), in (-pi/2, pi/2]", interval=intervals.acot)
sech = _function("sech", "1 / np.cosh(a)", sp.sech, lambda a, b, out: (-out * tanh(a),),
                 doc="1/cosh(a)", interval=intervals.sech)
csch = _function("csch", "1 / np.sinh(a)", sp.csch, lambda a, b, out: (-out * coth(a),),
                 domain=_POLES_AT_0, doc="1/sinh(a)", interval=intervals.csch)
coth: Any = _function("coth", "1 / np.tanh(a)", sp.coth, lambda a, b, out: (1 - out**2,),
                      domain=_POLES_AT_0, doc="1/tanh(a)", interval=intervals.coth)
asech = _function("asech", "np.arccosh(np.divide(1.0, a))", sp.asech,
                  lambda a, b, out: (-1 / (a * sqrt(1 - a**2)),),
                  domain=Domain((Range(0.05, 0.95),), text="0 < a <= 1"), doc="acosh(1/a)",
                  interval=intervals.asech)
acsch = _function("acsch", "np.arcsinh(np.divide(1.0, a))", sp.acsch,
                  lambda a, b, out: (-1 / (a**2 * sqrt(1 + 1 / a**2)),), domain=_POLES_AT_0,
                  doc="asinh(1/a)", interval=intervals.acsch)
acoth = _function("acoth", "np.arctanh(np.divide(1.0, a))", sp.acoth,
                  lambda a, b, out: (1 / (1 - a**2),),
                  domain=_OUTSIDE_UNIT, doc="atanh(1/a)", interval=intervals.acoth)

# --- gamma and its relatives ------------------------------------------------------------------


class PolygammaOrderError(ValueError):
    """polygamma(n, x) with an order n that is not a non-negative integer."""


def _fold_polygamma(n: Tensor, x: Tensor | None) -> Tensor | None:
    """Checks a constant order; polygamma(0, x) is digamma(x), one spelling of one function."""
    if not n.is_const or n.shape:
        return None  # a formula for n: its value is NaN unless n is a non-negative integer
    order = n.number if n.number is not None else float(n.value)  # pi has no plain number
    if not (order >= 0 and float(order).is_integer()):
        raise PolygammaOrderError(
            f"polygamma(n, x) takes an order n = 0, 1, 2, ..., got {order}; "
            "digamma is polygamma(0, x)")
    return digamma(x) if order == 0 else None


gamma = _function("gamma", "special.gamma(a)", sp.gamma,
                  lambda a, b, out: (out * digamma(a),),
                  domain=Domain((Range(0.05, 4.0),), text="a not in 0, -1, -2, ..."),
                  latex="\\Gamma\\left({a}\\right)",
                  doc="the gamma function", interval=intervals.gamma)
lgamma = _function("lgamma", "special.gammaln(a)", sp.loggamma,
                   lambda a, b, out: (digamma(a),), domain=_POSITIVE,
                   latex="\\log{{\\Gamma\\left({a}\\right)}}",
                   doc="log|gamma(a)|, without overflow", interval=intervals.lgamma)
digamma: Any = _function("digamma", "special.psi(a)", sp.digamma,
                         lambda a, b, out: (polygamma(1, a),), domain=_POSITIVE,
                         latex="\\psi{{\\left({a} \\right)}}",
                         doc="gamma'(a)/gamma(a)", interval=intervals.digamma)
polygamma: Any = _function(
    "polygamma",
    # NaN for an order that is no non-negative integer (computed with order 0, so no warning)
    "np.where((a >= 0) & (a == np.floor(a)), "
    "special.polygamma(np.where((a >= 0) & (a == np.floor(a)), a, 0.0), b), np.nan)[()]",
    sp.polygamma,
    lambda a, b, out: (NO_DERIVATIVE, polygamma(a + 1, b)),
    domain=Domain((Range(values=(0.0, 1.0, 2.0, 3.0)), Range(0.2, 4.0)),
                  text="n = 0, 1, 2, ...; x > 0"),
    fold=_fold_polygamma,
    latex="\\psi^{{\\left({a}\\right)}}{{\\left({b} \\right)}}",
    doc="polygamma(n, x): the n-th derivative of digamma; n a constant, no derivative in n",
    interval=intervals.polygamma,
    compiles=False,  # Python-only in scipy
)
beta = _function("beta", "special.beta(a, b)", sp.beta,
                 lambda a, b, out: (out * (digamma(a) - digamma(a + b)),
                                    out * (digamma(b) - digamma(a + b))),
                 domain=Domain((Range(0.2, 4.0), Range(0.2, 4.0)), text="a, b > 0"),
                 latex="\\operatorname{{B}}{{\\left({a}, {b} \\right)}}",
                 doc="gamma(a)*gamma(b)/gamma(a + b)", interval=intervals.beta)
gammainc = _function(
    "gammainc", "special.gammainc(a, b)", lambda a, b: sp.lowergamma(a, b) / sp.gamma(a),
    # d/dx P(a, x) = x**(a - 1)*exp(-x)/gamma(a); in a there is no closed form
    lambda a, b, out: (NO_DERIVATIVE, exp((a - 1) * log(b) - b - lgamma(a))),
    domain=Domain((Range(0.5, 4.0), Range(0.05, 4.0)), text="a > 0, x >= 0"),
    doc="gammainc(a, x): the regularized lower incomplete gamma function P(a, x); "
        "no derivative in a",
    interval=intervals.gammainc,
)

# --- logarithms of probabilities, and more exponentials ----------------------------------------

logit = _function("logit", "special.logit(a)", lambda a: sp.log(a / (1 - a)),
                  lambda a, b, out: (1 / (a * (1 - a)),),
                  domain=Domain((Range(0.05, 0.95),), text="0 < a < 1"),
                  doc="log(a/(1 - a)), the inverse of sigmoid (expit)", interval=intervals.logit)
expit = sigmoid  # scipy's name for the logistic sigmoid; `parse` reads it as an alias
xlogy = _function("xlogy", "special.xlogy(a, b)",
                  lambda a, b: sp.Piecewise((0, sp.Eq(a, 0)), (a * sp.log(b), True)),
                  lambda a, b, out: (log(b), a / b),
                  domain=Domain((Range(), Range(0.05, 4.0)), text="b > 0 (or a = 0)"),
                  kinks=_ZERO_FIRST_OPERAND,
                  doc="a*log(b), and 0 where a = 0 (there the derivative in a is log(b))",
                  interval=intervals.xlogy)
xlog1py = _function("xlog1py", "special.xlog1py(a, b)",
                    lambda a, b: sp.Piecewise((0, sp.Eq(a, 0)), (a * sp.log(1 + b), True)),
                    lambda a, b, out: (log1p(b), a / (1 + b)),
                    domain=Domain((Range(), Range(-0.9, 4.0)), text="b > -1 (or a = 0)"),
                    kinks=_ZERO_FIRST_OPERAND,
                    doc="a*log1p(b), and 0 where a = 0 (there the derivative in a is log1p(b))",
                    interval=intervals.xlog1py)
entr = _function("entr", "special.entr(a)",
                 lambda a: sp.Piecewise((a * sp.log(1 / a), a > 0), (0, sp.Eq(a, 0)),
                                        (-sp.oo, True)),
                 lambda a, b, out: (-log(a) - 1,), domain=_POSITIVE,
                 doc="-a*log(a); 0 at 0, -inf below", interval=intervals.entr)
logaddexp2 = _function("logaddexp2", "np.logaddexp2(a, b)",
                       lambda a, b: sp.log(2**a + 2**b) / sp.log(2),
                       lambda a, b, out: (sigmoid((a - b) * log(2)), sigmoid((b - a) * log(2))),
                       commutative=True, doc="log2(2**a + 2**b), without overflow",
                       interval=intervals.logaddexp2)
# the slope at the origin is 0 (no direction is preferred), not 0/0: a norm's subgradient
hypot = _function("hypot", "np.hypot(a, b)", lambda a, b: sp.sqrt(a**2 + b**2),
                  lambda a, b, out: (where(gt(out, 0), a / out, 0),
                                     where(gt(out, 0), b / out, 0)),
                  domain=Domain(holds=lambda a, b: a**2 + b**2 > 0.01, text="all reals"),
                  doc="sqrt(a**2 + b**2), without overflow; slope 0 at the origin",
                  interval=intervals.hypot)
# cbrt in sympy by cases, not sign(a)*Abs(a)**(1/3): sympy differentiates Abs of a formula
# it cannot prove real (gamma(x)) into re() and im() parts it cannot evaluate
cbrt = _function("cbrt", "np.cbrt(a)",
                 lambda a: sp.Piecewise((a ** sp.Rational(1, 3), a >= 0),
                                        (-((-a) ** sp.Rational(1, 3)), True)),
                 lambda a, b, out: (1 / (3 * out**2),), domain=_POSITIVE,
                 doc="the real cube root; slope infinite at 0", interval=intervals.cbrt)
exp2 = _function("exp2", "np.exp2(a)", lambda a: 2**a, lambda a, b, out: (out * log(2),),
                 doc="2**a", interval=intervals.exp2)


def _sinc_slope(a: Tensor, out: Tensor) -> Tensor:
    # sinc'(a) = (cos(pi*a) - sinc(a))/a, and 0 at 0 (sinc is even)
    return where(equal(a, 0), 0, (cos(PI * a) - out) / a)


sinc = _function("sinc", "np.sinc(a)", lambda a: sp.sinc(sp.pi * a),
                 lambda a, b, out: (_sinc_slope(a, out),),
                 # sampled off 0, where sympy's derivative is 0/0 (symgrad's is 0)
                 domain=Domain((Range(0.05, 3.0),), text="all reals"),
                 scalar="1.0 if a == 0.0 else math.sin(math.pi * a) / (math.pi * a)",
                 doc="sin(pi*a)/(pi*a), 1 at 0 (numpy's normalized sinc)", interval=intervals.sinc)

# --- the normal distribution: error-function inverses and log-probabilities --------------------



def _erfinv_slope(out: Tensor) -> Tensor:
    return sqrt(PI) * exp(out**2) / 2  # erfinv'(a) = sqrt(pi)/2*exp(erfinv(a)**2)


erfinv = _function("erfinv", "special.erfinv(a)", sp.erfinv,
                   lambda a, b, out: (_erfinv_slope(out),),
                   domain=Domain((Range(-0.95, 0.95),), text="-1 < a < 1"),
                   doc="the inverse of erf", interval=intervals.erfinv)
erfcinv = _function("erfcinv", "special.erfcinv(a)", lambda a: sp.erfinv(1 - a),
                    lambda a, b, out: (-_erfinv_slope(out),),
                    domain=Domain((Range(0.05, 1.95),), text="0 < a < 2"),
                    doc="the inverse of erfc", interval=intervals.erfcinv)
erfcx = _function("erfcx", "special.erfcx(a)", lambda a: sp.exp(a**2) * sp.erfc(a),
                  lambda a, b, out: (2 * a * out - 2 / sqrt(PI),),
                  doc="exp(a**2)*erfc(a), without overflow", interval=intervals.erfcx)
ndtri = _function("ndtri", "special.ndtri(a)", lambda a: sp.sqrt(2) * sp.erfinv(2 * a - 1),
                  lambda a, b, out: (sqrt(2 * PI) * exp(out**2 / 2),),
                  domain=Domain((Range(0.05, 0.95),), text="0 < a < 1"),
                  doc="the standard normal quantile, the inverse of its CDF",
                  interval=intervals.ndtri)
log_ndtr = _function("log_ndtr", "special.log_ndtr(a)",
                     lambda a: sp.log((1 + sp.erf(a / sp.sqrt(2))) / 2),
                     # the normal density over its CDF, formed without either underflowing
                     lambda a, b, out: (exp(-(a**2) / 2 - out) / sqrt(2 * PI),),
                     latex="\\log{{\\Phi\\left({a}\\right)}}",
                     doc="the log of the standard normal CDF, accurate in the far left tail",
                     interval=intervals.log_ndtr)

# --- Bessel functions ---------------------------------------------------------------------------


def _bessel_order_one_slope(order_zero: Tensor, a: Tensor, out: Tensor) -> Tensor:
    # i1' = i0 - i1/a and j1' = j0 - j1/a, both 1/2 at 0
    return where(equal(a, 0), 0.5, order_zero - out / a)


i0 = _function("i0", "special.i0(a)", lambda a: sp.besseli(0, a), lambda a, b, out: (i1(a),),
               latex="I_{{0}}{{\\left({a} \\right)}}",
               doc="the modified Bessel function of the first kind, order 0", interval=intervals.i0)
i1: Any = _function("i1", "special.i1(a)", lambda a: sp.besseli(1, a),
                    lambda a, b, out: (_bessel_order_one_slope(i0(a), a, out),),
                    domain=_ODD_AT_0,
                    latex="I_{{1}}{{\\left({a} \\right)}}",
                    doc="the modified Bessel function of the first kind, order 1",
                    interval=intervals.i1)
j0 = _function("j0", "special.j0(a)", lambda a: sp.besselj(0, a), lambda a, b, out: (-j1(a),),
               latex="J_{{0}}{{\\left({a} \\right)}}",
               doc="the Bessel function of the first kind, order 0", interval=intervals.j0)
j1: Any = _function("j1", "special.j1(a)", lambda a: sp.besselj(1, a),
                    lambda a, b, out: (_bessel_order_one_slope(j0(a), a, out),),
                    domain=_ODD_AT_0,
                    latex="J_{{1}}{{\\left({a} \\right)}}",
                    doc="the Bessel function of the first kind, order 1", interval=intervals.j1)

# --- Lambert's W, and the piecewise-constant functions ------------------------------------------

lambertw = _function(
    "lambertw", "np.where(a >= -np.exp(-1.0), special.lambertw(a).real, np.nan)[()]",
    sp.LambertW,
    lambda a, b, out: (exp(-out) / (1 + out),),  # W/(a*(1 + W)), also at a = 0
    domain=Domain((Range(0.05, 4.0),), text="a >= -1/e"),  # sampled off sympy's 0/0 at 0
    latex="W{{\\left({a} \\right)}}",
    doc="Lambert's W, its principal branch: W*exp(W) = a",
    interval=intervals.lambertw,
    compiles=False,  # scipy exports it complex-valued only
)
floor = _function("floor", "np.floor(a)", sp.floor, lambda a, b, out: (ZERO,),
                  kinks=lambda a, b: (_periodic(a),),
                  latex="\\left\\lfloor{{{a}}}\\right\\rfloor",
                  doc="derivative 0, also at the jumps (integers)", interval=intervals.floor)
ceil = _function("ceil", "np.ceil(a)", sp.ceiling, lambda a, b, out: (ZERO,),
                 kinks=lambda a, b: (_periodic(a),),
                 latex="\\left\\lceil{{{a}}}\\right\\rceil",
                 doc="derivative 0, also at the jumps (integers)", interval=intervals.ceil)


def _sympy_mod(a: Any, b: Any) -> Any:
    """sympy's Mod, but NaN for a zero modulus, as numpy has it (sympy raises)."""
    return sp.nan if b == 0 else sp.Mod(a, b)


mod = _function("mod", "np.mod(a, b)", _sympy_mod, lambda a, b, out: (1, -floor(a / b)),
                domain=Domain(holds=lambda a, b: np.abs(b) > 0.1, text="b != 0"),
                kinks=lambda a, b: (_periodic(a / b),),
                doc="a - b*floor(a/b), with the sign of b as Python's %", interval=intervals.mod)
