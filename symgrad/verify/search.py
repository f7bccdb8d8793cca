"""The accuracy search, after Herbie: sample the inputs over the float line (`sampling.py`),
take the correctly rounded values as ground truth (`precise.py`), find the nodes with the
largest local error, try rewrites there (the rows of `rewrite/search_rules.py`, sympy's
rational forms and series expansions around 0 and infinity), keep a candidate only if it lowers
the measured error, and where different candidates win on different ranges of one input,
join them with `where` (regime inference). Deterministic for a seed; `budget` bounds the
candidates measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import sympy as sp

from symgrad.backends.evaluate import evaluate
from symgrad.backends.precise import NoPreciseFormError, bits_of_error, precise
from symgrad.interop.sympy_bridge import from_sympy, to_sympy
from symgrad.interop.sympy_worker import SympyTimeoutError, run
from symgrad.ir.graph import Tensor, as_tensor, const, free_variables, name_of, toposort, var
from symgrad.ir.op import no_interval
from symgrad.ops.scalar import lt, where
from symgrad.rewrite.search_rules import Simplifying, replace, rewrites_at
from symgrad.rewrite.stabilize import Accuracy
from symgrad.rewrite.stabilize import stabilize as stabilize_by_table
from symgrad.verify.sampling import local_values, measure, sample_points

DEFAULT_BUDGET = 200
"""Candidates measured at most (each costs one float64 evaluation over the sample)."""
SEARCH_COUNT = 256
"""Sampled points (plus the range ends and probes of `sample_points`)."""
ROUNDS = 3
"""Rounds of localize, rewrite, keep the best."""
LOCALIZED = 4
"""Nodes rewritten per round: those with the largest local error."""
SERIES_ORDERS = (3, 5)
"""Orders of the series expansions tried (sympy's `n`: terms below x**n)."""
MAX_REGIMES = 3
"""Ranges of one input a program is split into at most."""
REGIME_GAIN = 0.5
"""Bits of mean error a further split must save (Herbie's penalty on branches)."""
REGIME_CANDIDATES = 6
"""The best candidates (by mean error) that compete for each range."""
BISECTIONS = 12
"""Steps of the binary search of each threshold between two sampled points."""
SYMPY_SECONDS = 2.0
"""Time limit of one sympy call (cancel, factor, series)."""
MAX_NODES = 80
"""The largest formula searched (its nodes); a larger one is measured but not rewritten."""


class SearchResult(NamedTuple):
    """The best program found, its error and the original's (mean and worst bits over the
    sample), and the steps that made it."""

    program: Tensor
    before: tuple[float, float]
    after: tuple[float, float]
    steps: list[str]
    points: int

    def __str__(self) -> str:
        return (f"{self.program}\n  error: {self.before[0]:.1f} -> {self.after[0]:.1f} bits on "
                f"average, {self.before[1]:.1f} -> {self.after[1]:.1f} at worst "
                f"({self.points} points)")


# --- sympy, in a worker process under a time limit ---------------------------------------


def _cancel(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    return sp.factor(sp.cancel(sp.expand(a - b)))


def _rational_forms(expression: sp.Expr) -> list[sp.Expr]:
    together = sp.together(expression)
    return [sp.cancel(together), sp.factor(together)]


def _series(expression: sp.Expr, name: str, at_infinity: bool, order: int) -> sp.Expr | None:
    symbol = next(s for s in expression.free_symbols if s.name == name)
    expanded = sp.series(expression, symbol, sp.oo if at_infinity else 0, order).removeO()
    if expanded.has(sp.zoo, sp.nan, sp.oo, sp.Order) or not expanded.free_symbols:
        return None
    return expanded


def _sympy(function: Any, *args: Any) -> Any:
    """function(*args) in the sympy worker; None when it fails or runs out of time."""
    try:
        return run(function, *args, seconds=SYMPY_SECONDS)
    except SympyTimeoutError:
        return None
    except Exception:  # sympy raises many types (PoleError, NotImplementedError, ...): no form
        return None


def _tensor(expression: Any) -> Tensor | None:
    if expression is None:
        return None
    try:
        return from_sympy(expression)
    except (ValueError, TypeError):
        return None


def _sympy_of(t: Tensor) -> sp.Expr | None:
    try:
        return to_sympy(t)
    except (ValueError, TypeError):
        return None


class SympyAlgebra:
    """Exact cancellation for the rewrite rows by sympy (`cancel`), cached; the simplifier's
    where sympy fails."""

    def __init__(self) -> None:
        self.cache: dict[tuple[Tensor, Tensor], Tensor] = {}
        self.fallback = Simplifying()

    def difference(self, a: Tensor, b: Tensor) -> Tensor:
        key = (a, b)
        if key not in self.cache:
            pair = _sympy_of(a), _sympy_of(b)
            result = None
            if pair[0] is not None and pair[1] is not None:
                result = _tensor(_sympy(_cancel, *pair))
            self.cache[key] = result if result is not None else self.fallback.difference(a, b)
        return self.cache[key]


# --- measuring ---------------------------------------------------------------------------


class _Sample(NamedTuple):
    """The points where the original's exact value is a real number, and that value."""

    names: list[str]
    points: dict[str, np.ndarray]
    exact: np.ndarray


def _errors(program: Tensor, sample: _Sample) -> np.ndarray:
    """Bits of error of `program` in float64 at each point of the sample."""
    with np.errstate(all="ignore"):
        value = evaluate(program, sample.points)
    computed = np.broadcast_to(np.asarray(value, dtype=np.float64), sample.exact.shape)
    return np.asarray(bits_of_error(computed, sample.exact))


def _summary(errors: np.ndarray) -> tuple[float, float]:
    if not errors.size:
        return 0.0, 0.0
    return float(errors.mean()), float(errors.max())


def _measurable(t: Tensor) -> bool:
    """Whether every op of `t` has an exact (interval) form and `t` is a scalar formula."""
    order = toposort(t)
    return not any(node.shape for node in order) and all(
        node.children is None or node.children.op.interval not in (None, no_interval)
        for node in order)


def _sample(t: Tensor, ranges: Mapping[str, tuple[float, float]] | None, count: int,
            seed: int) -> _Sample:
    names = [name_of(v) for v in free_variables(t)]
    columns = sample_points(names, ranges, count, seed)
    size = len(next(iter(columns.values()))) if columns else 1
    order = toposort(t)
    exact = np.empty(size)
    for index in range(size):
        values = precise(order, {name: float(columns[name][index]) for name in names})
        exact[index] = math.nan if values.out_of_reach[-1] else values.values[-1]
    kept = ~np.isnan(exact)
    return _Sample(names, {name: column[kept] for name, column in columns.items()}, exact[kept])


def _worst_nodes(program: Tensor, sample: _Sample) -> list[Tensor]:
    """The nodes of `program` with the largest mean local error (of more than a bit), worst
    first: where rounding the op itself loses accuracy, given exact operands."""
    measured = measure([program], sample.names, sample.points)
    scored = []
    for position, node in enumerate(toposort(program)):
        if node.children is None:
            continue
        exact = measured.exact[node]
        defined = ~np.isnan(exact)
        if not defined.any():
            continue
        local = bits_of_error(local_values(node, measured)[defined], exact[defined])
        if float(local.mean()) > 1.0:
            scored.append((-float(local.mean()), position, node))
    return [node for _, _, node in sorted(scored)[:LOCALIZED]]


# --- candidates ----------------------------------------------------------------------------


class _Search:
    def __init__(self, sample: _Sample, budget: int, accuracy: Accuracy):
        self.sample = sample
        self.budget = budget
        self.accuracy = accuracy
        self.algebra = SympyAlgebra()
        self.pool: dict[Tensor, np.ndarray] = {}
        self.how: dict[Tensor, list[str]] = {}

    def consider(self, program: Tensor, how: list[str]) -> None:
        """Measure `program` (once) and keep it in the pool."""
        if program in self.pool or self.budget <= 0:
            return
        self.budget -= 1
        self.pool[program] = _errors(program, self.sample)
        self.how[program] = how

    def best(self) -> Tensor:
        """The program of least mean error (the first found among equals)."""
        return min(self.pool, key=lambda p: float(self.pool[p].mean()) if self.pool[p].size
                   else 0.0)

    def rewrites(self, node: Tensor) -> list[tuple[str, Tensor]]:
        """Each row's rewrite of `node`, and for each the rows' rewrites at its new nodes (a
        common denominator whose numerator is then a conjugate)."""
        found = [(c.name, c.result) for c in rewrites_at(node, self.algebra)]
        old = set(toposort(node))
        for name, result in list(found):
            for inner in toposort(result):
                if inner in old or inner.children is None:
                    continue
                for candidate in rewrites_at(inner, self.algebra):
                    found.append((f"{name}; {candidate.name}",
                                  replace(result, inner, candidate.result)))
        expression = _sympy_of(node)
        if expression is not None:
            for form in _sympy(_rational_forms, expression) or []:
                converted = _tensor(form)
                if converted is not None:
                    found.append(("rational form (sympy)", converted))
        return found

    def series(self, node: Tensor) -> list[tuple[str, Tensor]]:
        """Series expansions of `node` in each of its variables around 0 and infinity."""
        expression = _sympy_of(node)
        if expression is None:
            return []
        found = []
        for variable in free_variables(node):
            for at_infinity in (False, True):
                for order in SERIES_ORDERS:
                    result = _tensor(_sympy(_series, expression, name_of(variable),
                                            at_infinity, order))
                    if result is not None:
                        where_ = "infinity" if at_infinity else "0"
                        found.append((f"series in {name_of(variable)} at {where_} "
                                      f"(order {order})", result))
        return found

    def round(self, program: Tensor) -> None:
        """Rewrite `program` at its worst nodes, and expand it whole in series; each candidate
        measured as it is and with the stable table applied."""
        how = self.how[program]
        found = []
        for node in _worst_nodes(program, self.sample):
            found += [(name, replace(program, node, result))
                      for name, result in self.rewrites(node) + self.series(node)]
        if found:  # the whole formula's expansions too, unless nothing is off
            found += self.series(program)
        for name, candidate in found:
            self.consider(candidate, [*how, name])
            stable = stabilize_by_table(candidate, accuracy=self.accuracy)
            self.consider(stable, [*how, name, "stable table"])


# --- regimes -------------------------------------------------------------------------------


class _Regimes(NamedTuple):
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


def _regimes(search: _Search, original: Tensor) -> Tensor | None:
    """The best candidates joined by `where` over ranges of one input, when that saves more
    than `REGIME_GAIN` bits of mean error per split over the single best; else None."""
    sample = search.sample
    size = sample.exact.size
    if size < 4 or not sample.names:
        return None
    ranked = sorted(search.pool, key=lambda p: float(search.pool[p].mean()))
    candidates = ranked[:REGIME_CANDIDATES]
    single = float(search.pool[candidates[0]].sum())
    best: _Regimes | None = None
    for name in sample.names:
        order = np.argsort(sample.points[name], kind="stable")
        values = sample.points[name][order]
        errors = np.array([search.pool[c][order] for c in candidates])
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
                point = {n: float(sample.points[n][order][cut]) for n in sample.names}
                thresholds.append(_threshold(programs[-1], candidates[index], name,
                                             float(values[cut - 1]), float(values[cut]),
                                             point, truth))
                programs.append(candidates[index])
            best = _Regimes(name, programs, thresholds, penalized)
    if best is None:
        return None
    variable = var(best.name)
    program = best.programs[-1]
    for threshold, left in zip(reversed(best.thresholds), reversed(best.programs[:-1]),
                               strict=True):
        program = where(lt(variable, const(threshold)), left, program)
    return program


# --- the search ----------------------------------------------------------------------------


def search(f: Tensor, ranges: Mapping[str, tuple[float, float]] | None = None, *,
           budget: int = DEFAULT_BUDGET, seed: int = 0, count: int = SEARCH_COUNT,
           accuracy: Accuracy, start: Sequence[Tensor] = ()) -> SearchResult:
    """The most accurate program found for the scalar formula `f` over `ranges` (variable
    name -> (low, high); unranged variables range over all doubles), with the error before and
    after in bits (mean, worst) over the sample. `start` adds programs known to be equal
    (stabilized forms); `budget` bounds the candidates measured; the same `seed` gives the
    same program.

    >>> import symgrad as sg
    >>> from symgrad.backends.accuracy import PRECISE
    >>> found = search(sg.parse("sqrt(x + 1) - sqrt(x)"), {"x": (0.0, 1e16)}, count=32,
    ...                accuracy=PRECISE)
    >>> str(found.program), found.after[1] < 3 < found.before[1]
    ('1/(sqrt(x) + sqrt(x + 1))', True)
    """
    f = as_tensor(f)
    if not isinstance(budget, int) or budget < 0:
        raise ValueError(f"budget must be a count of candidates >= 0, got {budget!r}")
    if not _measurable(f):
        raise NoPreciseFormError("the search measures scalar formulas whose ops all have an "
                                 "exact (interval) form")
    sample = _sample(f, ranges, count, seed)
    state = _Search(sample, budget + 1 + len(start), accuracy)
    state.consider(f, [])
    for program in start:
        state.consider(program, ["stable table"])
    state.consider(stabilize_by_table(f, accuracy=accuracy), ["stable table"])
    tried: set[Tensor] = set()
    if len(toposort(f)) <= MAX_NODES:
        for _ in range(ROUNDS):
            best = state.best()
            if best in tried or float(state.pool[best].max(initial=0.0)) <= 1.0:
                break
            tried.add(best)
            state.round(best)
    best = state.best()
    joined = _regimes(state, f)
    if joined is not None:
        state.budget = max(state.budget, 1)
        state.consider(joined, ["regimes"])
        best = state.best()
    steps = state.how[best]
    return SearchResult(best, _summary(state.pool[f]), _summary(state.pool[best]), steps,
                        sample.exact.size)
