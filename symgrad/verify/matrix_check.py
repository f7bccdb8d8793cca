"""Checking tensor gradients two independent ways: against the same function written out in
scalars (`scalar_expansion`) and differentiated by symgrad's scalar engine, and against central
differences of the tensor expression itself, at random points (and random sizes for named
dimensions). `checking.check` comes here for shaped expressions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from symgrad.autodiff.diff import gradient
from symgrad.autodiff.jacobian import matrix_jacobian
from symgrad.backends.evaluate import evaluate
from symgrad.ir import shapes
from symgrad.ir.graph import Tensor, free_variables, name_of
from symgrad.verify import scalar_expansion
from symgrad.verify.verdict import CheckResult, CheckResults

RTOL, ATOL = 1e-6, 1e-8
STEP = 1e-6  # central differences: relative step


def _random_sizes(f: Tensor, rng: np.random.Generator) -> dict[str, int]:
    named = {dim for node in free_variables(f) for dim in node.shape if isinstance(dim, str)}
    return {dim: int(rng.integers(2, 5)) for dim in sorted(named)}


def _random_env(f: Tensor, sizes: Mapping[str, int], rng: np.random.Generator) -> dict:
    return {
        name_of(node): rng.uniform(-1, 1, scalar_expansion.concrete_shape(node.shape, sizes))
        for node in free_variables(f)
    }


def point_in_domain(f: Tensor, sizes: Mapping[str, int] | None, rng: np.random.Generator,
                     attempts: int = 50) -> tuple[dict[str, int], dict]:
    """Sizes and a random point where `f` is finite (logdet of a matrix with a positive
    determinant, say); the last one drawn when none is found in `attempts`."""
    for _ in range(attempts):
        point_sizes = dict(sizes) if sizes is not None else _random_sizes(f, rng)
        env = _random_env(f, point_sizes, rng)
        with np.errstate(all="ignore"):
            if np.all(np.isfinite(evaluate(f, env))):
                break
    return point_sizes, env


def central_differences(f: Tensor, w: Tensor, env: Mapping[str, Any]) -> np.ndarray:
    """d f / d w at `env` by central differences, element by element: of f's shape followed
    by w's (a vector f by a vector w: the Jacobian, one row per entry of f)."""
    name = name_of(w)
    base = np.asarray(env[name], dtype=np.float64)
    result = np.zeros(np.shape(evaluate(f, env)) + base.shape)
    for index in np.ndindex(*base.shape):
        step = STEP * max(1.0, abs(float(base[index])))
        values = []
        for sign in (1, -1):
            moved = base.copy()
            moved[index] += sign * step
            values.append(np.asarray(evaluate(f, {**env, name: moved}), dtype=np.float64))
        result[(Ellipsis, *index)] = (values[0] - values[1]) / (2 * step)
    return result


def _worst(ours: np.ndarray, reference: np.ndarray, rtol: float) -> tuple[float, float] | None:
    """The most different pair of elements, or None when all are close."""
    ours, reference = np.broadcast_arrays(np.asarray(ours, float), np.asarray(reference, float))
    error = np.abs(ours - reference) - rtol * np.abs(reference) - ATOL
    if ours.size == 0 or np.all(error <= 0):
        return None
    index = np.unravel_index(np.argmax(error), error.shape)
    return float(ours[index]), float(reference[index])


def check_tensor(
    f: Tensor,
    wrt: Sequence[Tensor],
    *,
    samples: int = 3,
    seed: int = 0,
    sizes: Mapping[str, int] | None = None,
) -> list[CheckResult]:
    """One CheckResult per variable of `wrt`: symgrad's tensor gradient of the scalar `f` (the
    Jacobian of a vector f) against the scalar expansion's and central differences, at
    `samples` random points; named dimensions get random sizes from 2 to 4 unless `sizes`
    fixes them.

    >>> from symgrad.ops.tensor import matrix, vector, sum
    >>> W, x = matrix("W", ("m", "n")), vector("x", "n")
    >>> [bool(r) for r in check_tensor(sum((W @ x) ** 2), [W, x])]
    [True, True]
    """
    if len(f.shape) > 1:
        raise shapes.ShapeError(
            f"check takes a scalar or vector expression, got shape "
            f"{shapes.format_shape(f.shape)}")
    rng = np.random.default_rng(seed)
    # a vector f: its Jacobians, one row per entry, checked entry by entry
    derivatives = [matrix_jacobian(f, w) for w in wrt] if f.shape else gradient(f, list(wrt))
    failures: dict[str, tuple[str, tuple[float, float]]] = {}
    for _ in range(samples):
        point_sizes, env = point_in_domain(f, sizes, rng)
        for w in wrt:  # a variable f does not depend on: its gradient is 0 anywhere
            env.setdefault(name_of(w), rng.uniform(-1, 1, scalar_expansion.concrete_shape(
                w.shape, point_sizes)))
        entries = scalar_expansion.expand(f, point_sizes)  # f's entries as scalar graphs
        elements = [scalar_expansion.element_variables(w, point_sizes) if w.shape
                    else np.array(w, dtype=object) for w in wrt]
        flat = [element for array in elements for element in array.flat]
        scalar_values = np.array([evaluate(gradient(entry, flat), scalar_expansion.element_values(
            env)) if flat else [] for entry in entries.flat], dtype=np.float64)
        ours = evaluate(derivatives, env)
        start = 0
        for w, array, value in zip(wrt, elements, ours, strict=True):
            expanded = np.reshape(scalar_values[:, start:start + array.size],
                                  entries.shape + array.shape)
            start += array.size
            for reference, how in ((expanded, "scalar expansion"),
                                   (central_differences(f, w, env), "central differences")):
                worst = _worst(value, reference, RTOL if how == "scalar expansion" else 1e-4)
                if worst is not None and name_of(w) not in failures:
                    failures[name_of(w)] = (how, worst)
    return [_result(name_of(w), d, failures.get(name_of(w)), samples)
            for w, d in zip(wrt, derivatives, strict=True)]


def _result(name: str, derivative: Tensor, failure: tuple[str, tuple[float, float]] | None,
            samples: int) -> CheckResult:
    """The verdict for one variable: its first failure (how it was found and the values), if
    any."""
    text = str(derivative)
    return CheckResult(
        ok=failure is None,
        wrt=name,
        symgrad=None,
        sympy=None,
        derivative=derivative,
        values=None if failure is None else failure[1],
        compared=samples,
        reference="scalar expansion and central differences" if failure is None else failure[0],
        notes=[f"gradient {text}" if len(text) < 200 else f"gradient of {len(text)} chars"],
    )


def check(f: Tensor, wrt: Tensor | Sequence[Tensor], **options: Any) -> Any:
    """`check_tensor` for one variable (a CheckResult) or a list (CheckResults)."""
    if isinstance(wrt, Tensor):
        return check_tensor(f, [wrt], **options)[0]
    return CheckResults(check_tensor(f, list(wrt), **options))
