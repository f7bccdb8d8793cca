"""Where formulas are measured: points spread over the float line as Herbie samples them
(every binade, plus the classic breaking points), and the float64 and correctly rounded
(`precise.py`) value of every node there, with each node's local error (its own op applied
to exactly rounded operands). `advise` and the accuracy search share them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from symgrad.backends.evaluate import evaluate
from symgrad.backends.precise import bits_of_error, precise
from symgrad.ir.graph import Tensor, children_of, toposort

DEFAULT_COUNT = 256
"""Sampled points (besides the probes at 0 and the extremes)."""
PROBES = (0.0, 1e-300, -1e-300, 1e-8, -1e-8, 1.0, -1.0, 40.0, -40.0, 800.0, -800.0, 1e3, -1e3,
          1e200, -1e200)
"""Values every variable is also tried at: the places formulas classically break."""


# --- sampling ----------------------------------------------------------------------------


def _ordinals(values: np.ndarray) -> np.ndarray:
    """Each double's place on the float line: consecutive doubles are consecutive integers
    (-0.0 and 0.0 both 0)."""
    bits = np.asarray(values, dtype=np.float64).view(np.int64)
    return np.where(bits >= 0, bits, -(bits & np.int64(0x7FFFFFFFFFFFFFFF)))


def _from_ordinals(ordinals: np.ndarray) -> np.ndarray:
    magnitudes = np.abs(ordinals).astype(np.int64).view(np.float64)
    return np.where(ordinals >= 0, magnitudes, -magnitudes)


def _sample(low: float, high: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """Half the points spread over the doubles of [low, high] as Herbie samples, uniform on
    the float line (so every binade is sampled: the values near 0 where cancellation hides,
    and the large ones), half over the values (log-uniform within one sign when the range
    spans decades, else uniform)."""
    ends = _ordinals(np.array([low, high]))
    spread = _from_ordinals(rng.integers(ends[0], ends[1], count // 2, endpoint=True))
    return np.concatenate([spread, _by_value(low, high, count - count // 2, rng)])


def _by_value(low: float, high: float, count: int, rng: np.random.Generator) -> np.ndarray:
    if low > 0 and high / low > 1e3:
        return np.exp(rng.uniform(math.log(low), math.log(high), count))
    if high < 0 and low / high > 1e3:
        return -np.exp(rng.uniform(math.log(-high), math.log(-low), count))
    if math.isinf(high - low):  # (-1e308, 1e308): numpy's uniform overflows on the width
        return 2.0 * rng.uniform(low / 2, high / 2, count)
    return rng.uniform(low, high, count)


def sample_points(names: Sequence[str], ranges: Mapping[str, tuple[float, float]] | None,
                  count: int = DEFAULT_COUNT, seed: int = 0) -> dict[str, np.ndarray]:
    """Points to measure at, one array per variable: for a variable without a range, a
    magnitude log-uniform in [1e-300, 1e300] with a random sign (most doubles lie there), plus
    the `PROBES` (0, tiny, 40, 800, 1e3, huge), mixed at random, and the origin; with a range
    (low, high), samples inside it, its ends, 0 and the doubles next to them.

    >>> points = sample_points(["x"], {"x": (1.0, 2.0)}, count=4)
    >>> bool(np.all((points["x"] >= 1.0) & (points["x"] <= 2.0)))
    True
    """
    ranges = dict(ranges or {})
    unknown = sorted(set(ranges) - set(names))
    if unknown:
        raise ValueError(f"ranges name variables the expression does not have: {unknown}")
    rng = np.random.default_rng(seed)
    probes = max(count // 4, 8)
    columns = {}
    for name in names:
        if name in ranges:
            low, high = (float(v) for v in ranges[name])
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(f"the range of {name} must be finite numbers low <= high, "
                                 f"got {ranges[name]!r}")
            zero = min(max(0.0, low), high)
            # the ends, 0, and the doubles next to them inside the range: beside 0 the
            # subnormals, where 1/x overflows and x**2 underflows
            edges = [low, high, zero, *(np.nextafter(v, toward) for v in (low, zero, high)
                                        for toward in (low, high) if toward != v)]
            ends = rng.choice(edges, probes)
            drawn = _sample(low, high, count, rng)
            columns[name] = np.concatenate([[low], drawn, ends])
        else:
            magnitudes = 10.0 ** rng.uniform(-300, 300, count)
            signs = rng.choice([-1.0, 1.0], count)
            columns[name] = np.concatenate([[0.0], signs * magnitudes,
                                            rng.choice(PROBES, probes)])
    return columns


class Measurements(NamedTuple):
    points: dict[str, np.ndarray]
    computed: dict[Tensor, np.ndarray]
    exact: dict[Tensor, np.ndarray]
    out_of_reach: dict[Tensor, np.ndarray]  # where the exact value could not be bounded


def measure(roots: list[Tensor], names: list[str], points: dict[str, np.ndarray]
             ) -> Measurements:
    order = toposort(roots)
    size = len(next(iter(points.values()))) if points else 1
    with np.errstate(all="ignore"):
        computed_list = evaluate(order, points)
    computed = {node: np.broadcast_to(np.asarray(value, dtype=np.float64), (size,))
                for node, value in zip(order, computed_list)}
    table = np.empty((len(order), size))
    unreached = np.zeros((len(order), size), dtype=bool)
    for column in range(size):
        point = {name: float(points[name][column]) for name in names}
        table[:, column], unreached[:, column] = precise(order, point)
    exact = {node: table[row] for row, node in enumerate(order)}
    out_of_reach = {node: unreached[row] for row, node in enumerate(order)}
    return Measurements(points, computed, exact, out_of_reach)


def local_values(node: Tensor, measured: Measurements) -> np.ndarray:
    """node's op applied in float64 to its exactly rounded operands."""
    a, b, op = children_of(node)
    operands = [measured.exact[a]] if b is None else [measured.exact[a], measured.exact[b]]
    with np.errstate(all="ignore"):
        return np.broadcast_to(np.asarray(op.numpy(*operands), dtype=np.float64),
                               measured.exact[node].shape)


def mean_and_worst(computed: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    defined = ~np.isnan(exact)
    if not defined.any():
        return math.nan, math.nan
    bits = bits_of_error(computed[defined], exact[defined])
    return float(bits.mean()), float(bits.max())
