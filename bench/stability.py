"""Bits of error of classic formulas' gradients, as Herbie reports them (mean and worst over a
sample, against the correctly rounded value from mpmath intervals): symgrad's gradient of the
formula as typed, of `stabilize(f)` (`gradient(..., stable=True)`), and the gradient JAX and
PyTensor give for their built-in function where they have one (skipped with a note when the
library is not installed: `pip install -e '.[bench]'`). Run `python bench/stability.py`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

if __package__ in (None, ""):  # `python bench/stability.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

import symgrad as sg
from bench.common import machine, table
from symgrad.backends.precise import precise_values
from symgrad.ir.graph import toposort
from symgrad.verify.advise import bits_of_error, sample_points


class Formula(NamedTuple):
    name: str
    f: sg.Tensor
    wrt: sg.Tensor
    ranges: dict[str, tuple[float, float]]
    jax: Callable[..., Any] | None  # jnp -> function of the variables (in name order)
    pytensor: Callable[..., Any] | None  # pytensor.tensor -> function of the variables


def formulas() -> list[Formula]:
    x, y, a, b, c = sg.variables("x y a b c")
    e = sg.exp
    logits = {"a": (-1e3, 1e3), "b": (-1e3, 1e3), "c": (-1e3, 1e3)}
    wide = {"x": (-1e3, 1e3)}
    small = {"x": (1e-300, 1.0)}

    def jax_logsumexp(jnp):
        from jax.scipy.special import logsumexp

        return lambda a, b, c: logsumexp(jnp.stack([a, b, c]))

    def jax_cross_entropy(jnp):
        from jax.scipy.special import logsumexp

        return lambda a, b, c: logsumexp(jnp.stack([a, b, c])) - a

    def pt_logsumexp(pt):
        return lambda a, b, c: pt.logsumexp(pt.stack([a, b, c]), axis=0)

    return [
        Formula("softplus log(1 + exp(x))", sg.log(1 + e(x)), x, wide,
                lambda jnp: __import__("jax").nn.softplus, lambda pt: pt.softplus),
        Formula("log-sigmoid log(1/(1 + exp(-x)))", sg.log(1 / (1 + e(-x))), x, wide,
                lambda jnp: __import__("jax").nn.log_sigmoid, None),
        Formula("logistic exp(x)/(1 + exp(x))", e(x) / (1 + e(x)), x, wide,
                lambda jnp: __import__("jax").nn.sigmoid, lambda pt: pt.sigmoid),
        Formula("tanh (e^x - e^-x)/(e^x + e^-x)", (e(x) - e(-x)) / (e(x) + e(-x)), x, wide,
                lambda jnp: jnp.tanh, lambda pt: pt.tanh),
        Formula("log-sum-exp log(e^a + e^b + e^c), d/da", sg.log(e(a) + e(b) + e(c)), a,
                logits, jax_logsumexp, pt_logsumexp),
        Formula("cross-entropy -log(e^a/(e^a + e^b + e^c)), d/da",
                -sg.log(e(a) / (e(a) + e(b) + e(c))), a, logits, jax_cross_entropy,
                lambda pt: (lambda a, b, c: pt_logsumexp(pt)(a, b, c) - a)),
        Formula("log1p log(1 + x), x in [1e-300, 1]", sg.log(1 + x), x, small,
                lambda jnp: jnp.log1p, lambda pt: pt.log1p),
        Formula("expm1 exp(x) - 1, x in [1e-300, 1]", e(x) - 1, x, small,
                lambda jnp: jnp.expm1, lambda pt: pt.expm1),
        Formula("norm sqrt(x**2 + y**2), d/dx (all doubles)", sg.sqrt(x**2 + y**2), x, {},
                lambda jnp: jnp.hypot, None),
    ]


def exact_values(formula: Formula, points: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """The correctly rounded value and derivative at each point (computed on the stable
    form's graph: the same function, cheaper to evaluate exactly)."""
    stable = sg.stabilize(formula.f)
    partial = sg.gradient(formula.f, formula.wrt, stable=True)
    order = toposort([stable, partial])
    rows = [order.index(stable), order.index(partial)]
    names = list(points)
    table = np.array([precise_values(order, {n: float(points[n][i]) for n in names})
                      for i in range(len(points[names[0]]))])
    return table[:, rows[0]], table[:, rows[1]]


def symgrad_values(f: sg.Tensor, wrt: sg.Tensor, points: dict[str, np.ndarray],
                   stable: bool) -> tuple[np.ndarray, ...]:
    f_used = sg.stabilize(f) if stable else f
    with np.errstate(all="ignore"):
        values = sg.evaluate([f_used, sg.gradient(f, wrt, stable=stable)], points)
    return tuple(np.asarray(value, dtype=float) for value in values)


def jax_values(formula: Formula, points: dict[str, np.ndarray]) -> tuple[np.ndarray, ...] | None:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    function = formula.jax(jnp) if formula.jax else None
    if function is None:
        return None
    names = sorted(points)
    arrays = [jnp.asarray(points[n], dtype=jnp.float64) for n in names]
    derivative = jax.vmap(jax.grad(function, argnums=names.index(formula.wrt.name)))
    return np.asarray(jax.vmap(function)(*arrays)), np.asarray(derivative(*arrays))


def pytensor_values(formula: Formula, points: dict[str, np.ndarray]
                    ) -> tuple[np.ndarray, ...] | None:
    import pytensor
    import pytensor.tensor as pt

    function = formula.pytensor(pt) if formula.pytensor else None
    if function is None:
        return None
    names = sorted(points)
    inputs = [pt.dvector(n) for n in names]
    output = function(*inputs)
    partial = pytensor.grad(output.sum(), inputs[names.index(formula.wrt.name)])
    compiled = pytensor.function(inputs, [output, partial], on_unused_input="ignore")
    with np.errstate(all="ignore"):
        return tuple(np.asarray(v) for v in compiled(*[points[n] for n in names]))


def _bits_text(computed: np.ndarray | None, exact: np.ndarray) -> str:
    if computed is None:
        return "—"
    defined = ~np.isnan(exact)
    bits = bits_of_error(np.broadcast_to(computed, exact.shape)[defined], exact[defined])
    return f"{bits.mean():.1f} / {bits.max():.1f}"


def main(quick: bool = False) -> None:
    count = 64 if quick else 512
    rows: dict[str, list[list[str]]] = {"value": [], "gradient": []}
    missing: set[str] = set()
    for formula in formulas():
        names = sorted(v.name for v in sg.free_variables(formula.f))
        points = sample_points(names, formula.ranges, count=count, seed=1)
        exact = exact_values(formula, points)
        cells = {"value": [formula.name.split(", d/d")[0]], "gradient": [formula.name]}
        measured = [symgrad_values(formula.f, formula.wrt, points, False),
                    symgrad_values(formula.f, formula.wrt, points, True)]
        for peer, measure in (("JAX", jax_values), ("PyTensor", pytensor_values)):
            try:
                measured.append(measure(formula, points))
            except ImportError:
                measured.append(None)
                missing.add(f"{peer} is not installed here: its column is skipped.")
        for index, kind in enumerate(rows):
            cells[kind] += [_bits_text(None if m is None else m[index], exact[index])
                            for m in measured]
            rows[kind].append(cells[kind])
    notes = [f"Bits of error, mean / worst over {count} points plus probes (0 exact, 64 "
             "garbage); — where the library has no built-in or is not installed.",
             *sorted(missing)]
    print(f"{machine()}\n")
    headers = ["symgrad, as typed", "symgrad, stable", "JAX built-in", "PyTensor built-in"]
    table("Bits of error of each gradient", ["gradient of", *headers], rows["gradient"], notes)
    table("Bits of error of each value", ["value of", *headers], rows["value"], notes)

if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
