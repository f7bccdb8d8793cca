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
LOCALIZED = 4
"""Nodes rewritten per round: those with the largest local error."""
MAX_REGIMES = 3
"""Ranges of one input a program is split into at most."""
REGIME_GAIN = 0.5
"""Bits of mean error a further split must save (Herbie's penalty on branches)."""
REGIME_CANDIDATES = 6
"""The candidates that compete for each range (`_complementary`)."""
BISECTIONS = 12
"""Steps of the binary search of each threshold between two sampled points."""
SYMPY_SECONDS = 2.0
"""Time limit of one cancellation by the sympy worker."""
APPROXIMATION_BITS = 20.0
"""Bits of error an approximation (a series) may have at a sampled point where the best
identity has fewer."""
ACCURATE = 1.0
"""Bits of error at worst below which a program is not searched further."""
MAX_NODES = 80
"""The largest formula searched (its nodes); a larger one is measured but not rewritten."""


class Effort(NamedTuple):
    """How hard the search tries: points sampled, rounds of localize-rewrite-keep, the worst
    nodes of a round that sympy rewrites and expands in series (the whole formula always), the
    series orders (sympy's `n`: terms below x**n), whether series at infinity are tried besides
    those at 0, the largest node sympy is asked about and how long one call to it may take."""

    points: int
    rounds: int
    series_nodes: int
    orders: tuple[int, ...]
    at_infinity: bool
    sympy_nodes: int
    sympy_seconds: float


FULL = Effort(points=256, rounds=3, series_nodes=2, orders=(3, 5), at_infinity=True,
              sympy_nodes=MAX_NODES, sympy_seconds=4.0)
"""The effort of `sg.stabilize(f, ranges=...)` and of `gradient(..., ranges=...)`."""
LIGHT = Effort(points=48, rounds=2, series_nodes=0, orders=(5,), at_infinity=False,
               sympy_nodes=24, sympy_seconds=0.5)
"""The effort of `gradient(f, x, stable=True)` without ranges or budget, which runs often."""


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


def _rational_forms(expression: sp.Expr) -> list[tuple[str, sp.Expr]]:
    """sympy's forms of `expression` over a common denominator, cancelled and factored."""
    together = sp.together(expression)
    return [("rational form (sympy)", sp.cancel(together)),
            ("factored form (sympy)", sp.factor(together))]


def _series(expression: sp.Expr, name: str, at_infinity: bool, orders: tuple[int, ...]
            ) -> list[tuple[str, sp.Expr]]:
    """The series of `expression` in the variable `name` around 0 (or infinity), truncated
    below each of `orders`; those that are not real polynomials in it left out."""
    symbol = next(s for s in expression.free_symbols if s.name == name)
    found = []
    for order in orders:
        expanded = sp.series(expression, symbol, sp.oo if at_infinity else 0, order).removeO()
        if expanded.has(sp.zoo, sp.nan, sp.oo, sp.Order, sp.I) or not expanded.free_symbols:
            continue
        at = "infinity" if at_infinity else "0"
        found.append((f"series in {name} at {at} (order {order})", expanded))
    return found


INFINITY_FROM = 100.0
"""Series at infinity are tried for a variable whose range reaches this magnitude."""


def _sympy(function: Any, *args: Any, seconds: float = SYMPY_SECONDS) -> Any:
    """function(*args) in the sympy worker; None when it fails or runs out of time."""
    try:
        return run(function, *args, seconds=seconds)
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
    def __init__(self, sample: _Sample, budget: int, accuracy: Accuracy, effort: Effort,
                 ranges: Mapping[str, tuple[float, float]] | None):
        self.sample = sample
        self.effort = effort
        self.budget = budget
        self.accuracy = accuracy
        self.algebra = SympyAlgebra()
        self.pool: dict[Tensor, np.ndarray] = {}
        self.sympy_cache: dict[Tensor, list[tuple[str, Tensor]]] = {}
        self.ranges = dict(ranges or {})
        self.how: dict[Tensor, list[str]] = {}
        self.approximate: set[Tensor] = set()

    def consider(self, program: Tensor, how: list[str], approximate: bool = False) -> None:
        """Measure `program` (once) and keep it in the pool; a series among its steps (or
        `approximate`) marks it an approximation, not an identity."""
        if program in self.pool or self.budget <= 0:
            return
        self.budget -= 1
        self.pool[program] = _errors(program, self.sample)
        self.how[program] = how
        if approximate or any(step.startswith("series") for step in how):
            self.approximate.add(program)

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
        return found

    def sympy_forms(self, node: Tensor) -> list[tuple[str, Tensor]]:
        """sympy's rational forms of `node` and its series in each variable around 0 (and
        around infinity where the variable's range reaches `INFINITY_FROM`), each from a call
        to the sympy worker under the effort's time limit (cached by node)."""
        if node in self.sympy_cache:
            return self.sympy_cache[node]
        self.sympy_cache[node] = []
        expression = _sympy_of(node) if len(toposort(node)) <= self.effort.sympy_nodes else None
        if expression is None:
            return []
        seconds = self.effort.sympy_seconds
        answers = [_sympy(_rational_forms, expression, seconds=seconds)]
        for variable in free_variables(node):
            name = name_of(variable)
            low, high = self.ranges.get(name, (-math.inf, math.inf))
            wide = self.effort.at_infinity and max(abs(low), abs(high)) >= INFINITY_FROM
            for at_infinity in (False, True)[:2 if wide else 1]:
                answers.append(_sympy(_series, expression, name, at_infinity,
                                      self.effort.orders, seconds=seconds))
        converted = [(label, _tensor(form)) for answer in answers for label, form in answer or []]
        self.sympy_cache[node] = [(label, t) for label, t in converted if t is not None]
        return self.sympy_cache[node]

    def round(self, program: Tensor) -> None:
        """Rewrite `program` at its worst nodes by the rows; then, unless that made it
        accurate, by sympy's forms and series at the worst `series_nodes` of them and of the
        whole formula; each candidate measured as it is and with the stable table applied."""
        worst = _worst_nodes(program, self.sample)
        if not worst:
            return
        self.measure(program, [(node, self.rewrites(node)) for node in worst])
        if self.pool[self.best()].max(initial=0.0) <= ACCURATE:
            return
        nodes = [*worst[:self.effort.series_nodes], program]
        self.measure(program, [(node, self.sympy_forms(node)) for node in nodes])

    def measure(self, program: Tensor, found: list[tuple[Tensor, list[tuple[str, Tensor]]]]
                ) -> None:
        """Each rewrite `(name, result)` of a node of `program`, as `program` with the node
        replaced, and that stabilized by the table."""
        how = self.how[program]
        for node, rewrites in found:
            for name, result in rewrites:
                candidate = replace(program, node, result)
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


def _regimes(search: _Search, original: Tensor) -> _Regimes | None:
    """The best candidates joined by `where` over ranges of one input, when that saves more
    than `REGIME_GAIN` bits of mean error per split over the single best; else None."""
    sample = search.sample
    size = sample.exact.size
    if size < 4 or not sample.names:
        return None
    candidates = _complementary(search.pool)
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
    return best


def _joined(regimes: _Regimes) -> Tensor:
    """The programs of `regimes` joined by `where` at the thresholds."""
    variable = var(regimes.name)
    program = regimes.programs[-1]
    for threshold, left in zip(reversed(regimes.thresholds), reversed(regimes.programs[:-1]),
                               strict=True):
        program = where(lt(variable, const(threshold)), left, program)
    return program


def _choose(state: _Search, original: Tensor) -> Tensor:
    """The best program of the pool, or its best candidates joined in regimes when that is
    better still."""
    regimes = _regimes(state, original)
    if regimes is not None:
        state.budget = max(state.budget, 1)
        state.consider(_joined(regimes), ["regimes"],
                       approximate=any(p in state.approximate for p in regimes.programs))
    return state.best()


def _holds(state: _Search, program: Tensor, check: _Sample) -> bool:
    """Whether the approximation `program` is, at every point of the search's sample and of
    `check` (a fresh one), within `APPROXIMATION_BITS` or as accurate as the best identity
    found: a series in a that won on average, where a*c/b**2 was small, must not be the
    regime where it is not."""
    identities = [p for p in state.pool if p not in state.approximate]
    reference = min(identities, key=lambda p: float(state.pool[p].mean()))
    for sample in (state.sample, check):
        allowed = np.maximum(_errors(reference, sample), APPROXIMATION_BITS)
        if np.any(_errors(program, sample) > allowed):
            return False
    return True


# --- the search ----------------------------------------------------------------------------


def search(f: Tensor, ranges: Mapping[str, tuple[float, float]] | None = None, *,
           budget: int = DEFAULT_BUDGET, seed: int = 0, effort: Effort = FULL,
           accuracy: Accuracy, start: Sequence[Tensor] = ()) -> SearchResult:
    """The most accurate program found for the scalar formula `f` over `ranges` (variable
    name -> (low, high); unranged variables range over all doubles), with the error before and
    after in bits (mean, worst) over the sample. `start` adds programs known to be equal
    (stabilized forms); `budget` bounds the candidates measured; the same `seed` gives the
    same program; `effort` says how hard to try.

    >>> import symgrad as sg
    >>> from symgrad.backends.accuracy import PRECISE
    >>> found = search(sg.parse("sqrt(x + 1) - sqrt(x)"), {"x": (0.0, 1e16)}, budget=20,
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
    sample = _sample(f, ranges, effort.points, seed)
    state = _Search(sample, budget + 1 + len(start), accuracy, effort, ranges)
    state.consider(f, [])
    for program in start:
        state.consider(program, ["stable table"])
    state.consider(stabilize_by_table(f, accuracy=accuracy), ["stable table"])
    tried: set[Tensor] = set()
    if len(toposort(f)) <= MAX_NODES:
        for _ in range(effort.rounds):
            best = state.best()
            if best in tried or float(state.pool[best].max(initial=0.0)) <= ACCURATE:
                break
            tried.add(best)
            state.round(best)
    best = _choose(state, f)
    if best in state.approximate and not _holds(state, best, _sample(f, ranges, effort.points,
                                                                     seed + 1)):
        for program in state.approximate:  # series only where they are checked to win
            del state.pool[program]
        best = _choose(state, f)
    steps = state.how[best]
    return SearchResult(best, _summary(state.pool[f]), _summary(state.pool[best]), steps,
                        sample.exact.size)


GRADIENT_BUDGET = 60
"""Candidates measured for each partial of `gradient(..., stable=True)` by default."""


def accurate_form(t: Tensor, ranges: Mapping[str, tuple[float, float]] | None = None, *,
                  budget: int = GRADIENT_BUDGET, seed: int = 0, effort: Effort = LIGHT,
                  accuracy: Accuracy, start: Sequence[Tensor] = ()) -> Tensor:
    """The program `search` finds for `t` (with `start`), or `t` itself when the search cannot
    measure it (a tensor, an op without an exact form, past `MAX_NODES`) or finds nothing
    better; `ranges` may name variables `t` lacks (a partial that lost one).

    >>> import symgrad as sg
    >>> from symgrad.backends.accuracy import PRECISE
    >>> str(accurate_form(sg.parse("log(x + 1) - log(x)"), {"x": (1.0, 1e16)}, accuracy=PRECISE))
    'log1p(1/x)'
    """
    if not _measurable(t) or len(toposort(t)) > MAX_NODES:
        return t
    names = {name_of(v) for v in free_variables(t)}
    own = None if ranges is None else {n: r for n, r in ranges.items() if n in names}
    kept = [program for program in start if _measurable(program)
            and len(toposort(program)) <= MAX_NODES]
    return search(t, own, budget=budget, seed=seed, effort=effort, accuracy=accuracy,
                  start=kept).program
