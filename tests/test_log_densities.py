"""The log-densities Stan and scipy.stats use, written in symgrad: each equals scipy.stats'
logpdf/logpmf, and its gradient in every parameter equals sympy.diff of its sympy form to
30 digits (both evaluated by mpmath at 40 digits, a handful of points each)."""

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy import stats

import symgrad as sg

y, mu, sigma, nu, alpha, rate, k, phi, kappa, lam, a, b = sg.variables(
    "y mu sigma nu alpha rate k phi kappa lam a b")
HALF_LOG_TWO_PI = sg.log(2 * sg.pi) / 2


def normal():
    return -((y - mu) ** 2) / (2 * sigma**2) - sg.log(sigma) - HALF_LOG_TWO_PI


def student_t():
    z = (y - mu) / sigma
    return (sg.lgamma((nu + 1) / 2) - sg.lgamma(nu / 2) - sg.log(nu * sg.pi) / 2 - sg.log(sigma)
            - (nu + 1) / 2 * sg.log1p(z**2 / nu))


def gamma():  # shape alpha, rate beta (Stan's gamma)
    return alpha * sg.log(rate) - sg.lgamma(alpha) + sg.xlogy(alpha - 1, y) - rate * y


def beta():
    return sg.xlogy(a - 1, y) + sg.xlog1py(b - 1, -y) - sg.log(sg.beta(a, b))


def poisson():
    return sg.xlogy(k, lam) - lam - sg.lgamma(k + 1)


def negative_binomial():  # Stan's neg_binomial_2: mean mu, dispersion phi
    return (sg.lgamma(k + phi) - sg.lgamma(k + 1) - sg.lgamma(phi)
            + phi * sg.log(phi / (mu + phi)) + sg.xlogy(k, mu / (mu + phi)))


def von_mises():
    return kappa * sg.cos(y - mu) - sg.log(2 * sg.pi) - sg.log(sg.i0(kappa))


# (log-density, its parameters, points, scipy's value at a point)
DENSITIES = {
    "normal": (normal, [mu, sigma], [{"y": 0.3, "mu": -1.2, "sigma": 0.7},
                                     {"y": 5.0, "mu": 4.5, "sigma": 2.5}],
               lambda p: stats.norm.logpdf(p["y"], p["mu"], p["sigma"])),
    "student_t": (student_t, [nu, mu, sigma], [{"y": 0.3, "nu": 3.5, "mu": -1.2, "sigma": 0.7},
                                               {"y": 8.0, "nu": 1.5, "mu": 1.0, "sigma": 2.0}],
                  lambda p: stats.t.logpdf(p["y"], p["nu"], p["mu"], p["sigma"])),
    "gamma": (gamma, [alpha, rate], [{"y": 1.7, "alpha": 2.5, "rate": 0.8},
                                     {"y": 0.2, "alpha": 0.6, "rate": 3.0}],
              lambda p: stats.gamma.logpdf(p["y"], p["alpha"], scale=1 / p["rate"])),
    "beta": (beta, [a, b], [{"y": 0.3, "a": 2.5, "b": 1.5}, {"y": 0.9, "a": 0.7, "b": 4.0}],
             lambda p: stats.beta.logpdf(p["y"], p["a"], p["b"])),
    "poisson": (poisson, [lam], [{"k": 3.0, "lam": 2.2}, {"k": 0.0, "lam": 0.4}],
                lambda p: stats.poisson.logpmf(p["k"], p["lam"])),
    "negative_binomial": (negative_binomial, [mu, phi],
                          [{"k": 4.0, "mu": 2.5, "phi": 1.5}, {"k": 0.0, "mu": 7.0, "phi": 0.3}],
                          lambda p: stats.nbinom.logpmf(p["k"], p["phi"],
                                                        p["phi"] / (p["mu"] + p["phi"]))),
    "von_mises": (von_mises, [mu, kappa], [{"y": 0.4, "mu": -0.5, "kappa": 2.0},
                                           {"y": 2.9, "mu": 0.1, "kappa": 0.3}],
                  lambda p: stats.vonmises.logpdf(p["y"], p["kappa"], loc=p["mu"])),
}


def at_40_digits(expr, point):
    """expr at the point (floats taken exactly), by mpmath at 40 digits."""
    exact = {sp.Symbol(name): sp.Rational(repr(value)) for name, value in point.items()}
    with mpmath.workdps(40):
        return mpmath.mpf(sp.N(expr.subs(exact), 40))


@pytest.mark.parametrize("name", DENSITIES)
def test_log_density_equals_scipy_stats(name):
    density, _, points, reference = DENSITIES[name]
    f = density()
    for point in points:
        assert sg.evaluate(f, point) == pytest.approx(reference(point), rel=1e-13, abs=1e-13)


@pytest.mark.parametrize("name", DENSITIES)
def test_gradient_in_every_parameter_agrees_with_sympy_diff_to_30_digits(name):
    density, parameters, points, _ = DENSITIES[name]
    f = density()
    partials = sg.gradient(f, parameters)
    f_sympy = sg.to_sympy(f)
    for parameter, partial in zip(parameters, partials):
        by_sympy = sp.diff(f_sympy, sp.Symbol(parameter.name))
        by_symgrad = sg.to_sympy(partial)
        for point in points:
            expected = at_40_digits(by_sympy, point)
            got = at_40_digits(by_symgrad, point)
            assert abs(got - expected) <= mpmath.mpf(10) ** -30 * max(1, abs(expected)), (
                name, parameter.name, point, got, expected)
            floats = sg.evaluate(partial, point)
            assert math.isclose(floats, float(expected), rel_tol=1e-12, abs_tol=1e-13)


def test_the_digamma_terms_of_the_negative_binomial_gradient():
    # d/dphi = digamma(k + phi) - digamma(phi) + log(phi/(mu + phi)) + 1 - (phi + k)/(mu + phi);
    # at mu = 2, phi = 1: digamma(1 + k) - digamma(1) is 0 for k = 0 and 1 + 1/2 + 1/3 for k = 3
    d_phi = sg.simplify(sg.gradient(negative_binomial(), phi))
    assert "digamma(k + phi)" in str(d_phi) and "digamma(phi)" in str(d_phi)
    values = sg.lambdify([k, mu, phi], d_phi)(np.array([0.0, 3.0]), 2.0, 1.0)
    assert values == pytest.approx([math.log(1 / 3) + 2 / 3, 11 / 6 + math.log(1 / 3) - 1 / 3],
                                   rel=1e-14)
