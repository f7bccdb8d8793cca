"""Regime inference, after Herbie: where different programs for one formula win on different
ranges of one input, the least total error over the sample by dynamic programming over the
points sorted by that input, each threshold refined by bisection against the exact value, and
the programs joined by `where(x < t, a, b)` (whose gradient is NaN-safe).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from symgrad.backends.evaluate import evaluate
from symgrad.backends.precise import bits_of_error, precise
from symgrad.ir.graph import Tensor, const, toposort, var
from symgrad.ops.scalar import lt, where

MAX_REGIMES = 3
"""Ranges of one input a program is split into at most."""
REGIME_GAIN = 0.5
"""Bits of mean error a further split must save (Herbie's penalty on branches)."""
REGIME_CANDIDATES = 6
"""The candidates that compete for each range (`_complementary`)."""
BISECTIONS = 12
"""Steps of the binary search of each threshold between two sampled points."""


class Regimes(NamedTuple):
    """Programs for consecutive ranges of one input, split at `thresholds` (ascending)."""

    name: str
    programs: list[Tensor]
    thresholds: list[float]
    total: float  # the summed bits of error over the sample, with the penalty per split


def _segments(errors: np.ndarray, segments: int) -> tuple[float, list[int], list[int]]:
    """The least total error of `errors` (candidates x sorted points) cut into at most
    `segments` consecutive runs, each taken by one candidate (dynamic programming over the
    prefix sums, as Herbie's regime inference); the candidates and the cut positions."""
    count, size = errors.shape
    prefix = np.concatenate([np.zeros((count, 1)), np.cumsum(errors, axis=1)], axis=1)
    cost = prefix.copy()  # one run from 0 to j, by each candidate
    back: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(segments - 1):
        best_before = cost.min(axis=0)  # the best split of the first i points
        which = cost.argmin(axis=0)
        step = best_before[None, :] - prefix  # start a new run at i with candidate c
        start = np.minimum.accumulate(step, axis=1)
        argstart = _running_argmin(step)
        extended = prefix + start
        use = extended < cost
        back.append((np.where(use, argstart, -1), which))
        cost = np.where(use, extended, cost)
    last = int(cost[:, size].argmin())
    total = float(cost[last, size])
    programs: list[int] = [last]
    cuts: list[int] = []
    position = size
    for starts, which in reversed(back):
        begin = int(starts[programs[0], position])
        if begin < 0:
            continue
        cuts.insert(0, begin)
        programs.insert(0, int(which[begin]))
        position = begin
    return total, programs, cuts


def _running_argmin(values: np.ndarray) -> np.ndarray:
    """For each row and column j, the column i <= j of the row's least value (the first)."""
    result = np.zeros(values.shape, dtype=int)
    for row in range(values.shape[0]):
        best = 0
        for column in range(values.shape[1]):
            if values[row, column] < values[row, best]:
                best = column
            result[row, column] = best
    return result


def _ordinal(value: float) -> int:
    bits = int(np.array(value, dtype=np.float64).view(np.int64))
    return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF)


def _from_ordinal(ordinal: int) -> float:
    magnitude = float(np.array(abs(ordinal), dtype=np.int64).view(np.float64))
    return magnitude if ordinal >= 0 else -magnitude


def _threshold(left: Tensor, right: Tensor, name: str, low: float, high: float,
               point: dict[str, float], order: list[Tensor]) -> float:
    """A threshold in (low, high] on `name` where `left` stops being the more accurate, by
    bisection over the doubles between them at `point`'s other inputs."""
    low_ordinal, high_ordinal = _ordinal(low), _ordinal(high)
    for _ in range(BISECTIONS):
        if high_ordinal - low_ordinal <= 1:
            break
        middle = _from_ordinal((low_ordinal + high_ordinal) // 2)
        at = {**point, name: middle}
        values = precise(order, at)
        if values.out_of_reach[-1] or math.isnan(values.values[-1]):
            break
        exact = np.array([values.values[-1]] * 2)
        with np.errstate(all="ignore"):
            computed = np.array([float(np.asarray(v)) for v in evaluate([left, right], at)])
        errors = bits_of_error(computed, exact)
        if errors[0] <= errors[1]:
            low_ordinal = _ordinal(middle)
        else:
            high_ordinal = _ordinal(middle)
    return _from_ordinal(high_ordinal)


def _complementary(pool: dict[Tensor, np.ndarray]) -> list[Tensor]:
    """Up to `REGIME_CANDIDATES` programs that together are most accurate point by point: the
    best on average first, then each time the one that lowers the sum of the pointwise least
    errors most (a series, poor on average, that is exact near 0)."""
    programs = list(pool)
    errors = np.array([pool[p] for p in programs])
    chosen = [int(errors.mean(axis=1).argmin())]
    least = errors[chosen[0]]
    while len(chosen) < REGIME_CANDIDATES:
        totals = np.minimum(errors, least).sum(axis=1)
        index = int(totals.argmin())
        if totals[index] >= least.sum():
            break
        chosen.append(index)
        least = np.minimum(least, errors[index])
    return [programs[index] for index in chosen]


def best_regimes(pool: dict[Tensor, np.ndarray], points: dict[str, np.ndarray],
                 original: Tensor) -> Regimes | None:
    """The best programs of `pool` (each with its bits of error at `points`) for consecutive
    ranges of one input, when the split saves more than `REGIME_GAIN` bits of mean error per
    split over the single best; else None. `original` gives the exact values where the
    thresholds are refined.

    >>> import numpy as np
    >>> from symgrad.ir.graph import var
    >>> x = var("x")
    >>> pool = {x + 1: np.array([0.0, 0.0, 9.0, 9.0]), x + 2: np.array([9.0, 9.0, 0.0, 0.0])}
    >>> found = best_regimes(pool, {"x": np.array([1.0, 2.0, 3.0, 4.0])}, x)
    >>> [str(p) for p in found.programs], found.name
    (['x + 1', 'x + 2'], 'x')
    """
    names = list(points)
    size = len(points[names[0]]) if names else 0
    if size < 4:
        return None
    candidates = _complementary(pool)
    single = float(pool[candidates[0]].sum())
    best: Regimes | None = None
    for name in names:
        order = np.argsort(points[name], kind="stable")
        values = points[name][order]
        errors = np.array([pool[c][order] for c in candidates])
        for segments in range(2, MAX_REGIMES + 1):
            total, chosen, cuts = _segments(errors, segments)
            if not cuts or any(not 0 < cut < size or values[cut - 1] == values[cut]
                               for cut in cuts):
                continue  # a tie of the input's values gives no threshold between them
            penalized = total + REGIME_GAIN * size * len(cuts)
            if penalized >= single or best is not None and penalized >= best.total:
                continue
            truth = toposort(original)
            programs = [candidates[chosen[0]]]
            thresholds = []
            for cut, index in zip(cuts, chosen[1:], strict=True):
                point = {n: float(points[n][order][cut]) for n in names}
                thresholds.append(_threshold(programs[-1], candidates[index], name,
                                             float(values[cut - 1]), float(values[cut]),
                                             point, truth))
                programs.append(candidates[index])
            best = Regimes(name, programs, thresholds, penalized)
    return best


def joined(regimes: Regimes) -> Tensor:
    """The programs of `regimes` joined by `where` at the thresholds."""
    variable = var(regimes.name)
    program = regimes.programs[-1]
    for threshold, left in zip(reversed(regimes.thresholds), reversed(regimes.programs[:-1]),
                               strict=True):
        program = where(lt(variable, const(threshold)), left, program)
    return program
