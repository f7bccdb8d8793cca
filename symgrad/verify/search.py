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
from symgrad.interop.sympy_worker import run
from symgrad.ir.graph import Tensor, as_tensor, free_variables, name_of, toposort
from symgrad.ir.op import no_interval
from symgrad.rewrite.search_rules import Simplifying, replace, rewrites_at
from symgrad.rewrite.stabilize import Accuracy
from symgrad.rewrite.stabilize import stabilize as stabilize_by_table
from symgrad.verify.regimes import best_regimes, joined
from symgrad.verify.sampling import local_values, measure, sample_points

DEFAULT_BUDGET = 200
"""Candidates measured at most (each costs one float64 evaluation over the sample)."""
LOCALIZED = 4
"""Nodes rewritten per round: those with the largest local error."""
LOCAL_WORST = 20.0
"""Bits of local error at one point that make a node worth rewriting, whatever its mean."""
SYMPY_SECONDS = 2.0
"""Time limit of one cancellation by the sympy worker."""
APPROXIMATION_BITS = 20.0
"""Bits of error an approximation (a series) may have at a sampled point where the best
identity has fewer."""
ACCURATE = 1.0
"""Bits of error at worst below which a program is not searched further."""
MAX_NODES = 80
"""The largest formula searched (its nodes); a larger one is measured but not rewritten."""
INFINITY_FROM = 100.0
"""Series at infinity are tried for a variable whose range reaches this magnitude."""
LONG_SERIES_VARIABLES = 2
"""Long series (the effort's `long_orders`) are tried for formulas of at most this many
variables: they win where a short one is good near 0 only and the exact form loses bits
further out (1/x - 1/tan(x) to |x| = 0.7 with terms up to x**23, 0.005 with two), and cost
sympy seconds a formula of three variables rarely repays."""


class Effort(NamedTuple):
    """How hard the search tries: points sampled, rounds of localize-rewrite-keep, the worst
    nodes of a round that sympy rewrites and expands in series (the whole formula always), the
    series orders (sympy's `n`: terms below x**n), the long ones tried after them (see
    `LONG_SERIES_VARIABLES`), whether series at infinity are tried besides
    those at 0, whether sympy's rational forms are, the largest node sympy is asked about and
    how long one call to it may take."""

    points: int
    rounds: int
    series_nodes: int
    orders: tuple[int, ...]
    long_orders: tuple[int, ...]
    at_infinity: bool
    rational_forms: bool
    sympy_nodes: int
    sympy_seconds: float


FULL = Effort(points=256, rounds=3, series_nodes=2, orders=(3, 5), long_orders=(9, 15, 25),
              at_infinity=True, rational_forms=True, sympy_nodes=MAX_NODES, sympy_seconds=4.0)
"""The effort of `sg.stabilize(f, ranges=...)` and of `gradient(..., ranges=...)`."""
LIGHT = Effort(points=24, rounds=1, series_nodes=0, orders=(5,), long_orders=(),
               at_infinity=False, rational_forms=False, sympy_nodes=24, sympy_seconds=0.5)
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
    below each of `orders`; those with a complex or infinite coefficient left out."""
    symbol = next(s for s in expression.free_symbols if s.name == name)
    found = []
    for order in orders:
        expanded = sp.series(expression, symbol, sp.oo if at_infinity else 0, order).removeO()
        if expanded.has(sp.zoo, sp.nan, sp.oo, sp.Order, sp.I) or not expanded.free_symbols:
            continue
        at = "infinity" if at_infinity else "0"
        found.append((f"series in {name} at {at} (order {order})", expanded))
    return found


def _sympy(function: Any, *args: Any, seconds: float = SYMPY_SECONDS) -> Any:
    """function(*args) in the sympy worker; None when it fails or runs out of time."""
    try:
        return run(function, *args, seconds=seconds)
    except Exception:  # SympyTimeoutError, or one of sympy's many (PoleError, ...): no form
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
            seed: int, also: Sequence[Tensor] = ()) -> _Sample:
    """Points over the variables of `t` and of the programs `also` measured with it (an equal
    program may keep a variable `t` lost: x*0 is 0, its stable form's partial holds x), with
    `t`'s exact value at each."""
    names = [name_of(v) for v in free_variables([t, *also])]
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
    first, then those losing more than `LOCAL_WORST` bits at some point: where rounding the op
    itself loses accuracy, given exact operands (on average, or at a few points only: x/hypot(x,
    y) at subnormals)."""
    measured = measure([program], sample.names, sample.points)
    by_mean, by_worst = [], []
    for position, node in enumerate(toposort(program)):
        if node.children is None:
            continue
        exact = measured.exact[node]
        defined = ~np.isnan(exact)
        if not defined.any():
            continue
        local = bits_of_error(local_values(node, measured)[defined], exact[defined])
        if float(local.mean()) > 1.0:
            by_mean.append((-float(local.mean()), position, node))
        elif float(local.max()) > LOCAL_WORST:
            by_worst.append((-float(local.max()), position, node))
    return [node for _, _, node in [*sorted(by_mean), *sorted(by_worst)][:LOCALIZED]]


# --- candidates ----------------------------------------------------------------------------


class _Search:
    """One search's state: the sample, the candidates measured (`pool`: program -> bits of
    error at each point), how each was made, which are approximations (series), the budget
    left and sympy's answers by node."""

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
        answers = [_sympy(_rational_forms, expression, seconds=seconds)
                   if self.effort.rational_forms else None]
        for variable in free_variables(node):
            name = name_of(variable)
            low, high = self.ranges.get(name, (-math.inf, math.inf))
            wide = self.effort.at_infinity and max(abs(low), abs(high)) >= INFINITY_FROM
            for at_infinity in (False, True)[:2 if wide else 1]:
                answers.append(_sympy(_series, expression, name, at_infinity,
                                      self.effort.orders, seconds=seconds))
                if self.effort.long_orders and answers[-1] and \
                        len(expression.free_symbols) <= LONG_SERIES_VARIABLES:
                    # a call of its own: where it runs out of time, the short ones stay
                    answers.append(_sympy(_series, expression, name, at_infinity,
                                          self.effort.long_orders, seconds=seconds))
        converted = [(label, _tensor(form)) for answer in answers for label, form in answer or []]
        self.sympy_cache[node] = [(label, t) for label, t in converted if t is not None]
        return self.sympy_cache[node]

    def round(self, program: Tensor, by_sympy: bool = True) -> None:
        """Rewrite `program` at its worst nodes by the rows; then, unless that made it
        accurate or not `by_sympy`, by sympy's forms and series at the worst `series_nodes` of
        them and of the whole formula; each candidate measured as it is and with the stable
        table applied."""
        worst = _worst_nodes(program, self.sample)
        if not worst:
            return
        self.measure(program, [(node, self.rewrites(node)) for node in worst])
        if not by_sympy or self.pool[self.best()].max(initial=0.0) <= ACCURATE:
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


def _choose(state: _Search, original: Tensor) -> Tensor:
    """The best program of the pool, or its best candidates joined in regimes when that is
    better still."""
    regimes = best_regimes(state.pool, state.sample.points, original)
    if regimes is not None:
        state.budget = max(state.budget, 1)
        state.consider(joined(regimes), ["regimes"],
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
           accuracy: Accuracy, start: Sequence[Tensor] = (), approximations: bool = True
           ) -> SearchResult:
    """The most accurate program found for the scalar formula `f` over `ranges` (variable
    name -> (low, high); unranged variables range over all doubles), with the error before and
    after in bits (mean, worst) over the sample. `start` adds programs known to be equal
    (stabilized forms); `budget` bounds the candidates measured; the same `seed` gives the
    same program; `effort` says how hard to try. With `approximations=False` the program is
    an identity of `f` (no series), as a formula to differentiate must be: the derivative of a
    truncated series is off by far more, relatively, near the zeros of the derivative.

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
    sample = _sample(f, ranges, effort.points, seed, start)
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
        # then the rows (no sympy: cheap) at the worst nodes of the programs the search
        # started from, with the budget left: a plain partial can be a difference of powers
        # where the derivative of an accurate f is a sum of terms that cancel
        for program in dict.fromkeys([f, *start]):
            if program not in tried and float(state.pool[state.best()].max(initial=0.0)) > ACCURATE:
                state.round(program, by_sympy=False)
    best = _choose(state, f)
    if best in state.approximate and (not approximations or not _holds(
            state, best, _sample(f, ranges, effort.points, seed + 1, start))):
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
                  accuracy: Accuracy, start: Sequence[Tensor] = (), approximations: bool = True
                  ) -> Tensor:
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
                  start=kept, approximations=approximations).program
