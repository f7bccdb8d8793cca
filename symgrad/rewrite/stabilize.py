"""`stabilize`: rewrites a graph into numerically stable forms with the rows of
`stable_rules.py`, bottom-up, each node once: the rewrite engine (`engine.py`) with these rows
and an acceptance hook that measures each rewrite.

Unlike `simplify` it does not look for the smallest graph: a stable form may be larger
(2*sin(x/2)**2 for 1 - cos(x)), and it never runs the simplifier's own rules, which know
nothing of stability. Each rewrite is kept only if, over its operands, it is as accurate as
the formula it replaces at a fixed set of ordinary and extreme points; the layer above
supplies the measurement (an `Accuracy`: `backends/accuracy.py` evaluates exactly), so this
layer evaluates nothing itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from symgrad.ir.graph import (
    Tensor,
    children_of,
    free_variables,
    gc_paused,
    raw_node,
    rebuild,
    tensor_roots,
    toposort,
    var,
)
from symgrad.rewrite.engine import Candidate, Rewrite, Rewriter, RuleSet
from symgrad.rewrite.rules import Rule
from symgrad.rewrite.stable_rules import STABLE_RULES, Rewritten

MAX_REWRITES_PER_NODE = 8
"""A bound on rewrites per input node; rows only ever trade an op for a stabler one."""

CHECK_VALUES = (0.0, 1e-300, -1e-300, 1e-8, -1e-8, 0.5, -0.5, 0.999, -0.999, 1.0, -1.0, 3.0,
                -3.0, 40.0, -40.0, 710.0, -710.0, 800.0, -800.0, 1e3, -1e3, 1e200, -1e200,
                math.inf)
"""Where a rewrite is checked, for each operand: 0, tiny, near +-1 (the edges of log1p, asin),
ordinary, past exp's overflow at 709.78, huge, and inf (an operand that overflowed; not -inf,
where the exact oracle takes log(exp(x)/-inf) for log(-0) = -inf)."""
CHECK_STRIDES = (7, 13)
"""With several operands, besides all at one value, operand i also takes the value
i * stride further along `CHECK_VALUES` (for two operands: (800, 0), (1e3, 0.999), ...)."""
ACCURATE_BITS = 12.0
"""Bits of error (doubles between the value and the exact one, as a log) within which a value
counts as accurate: exp(a - logaddexp(a, b)) at a = 700 loses 9 bits to the rounding of the
difference alone."""
MAX_CHECKED_NODES = 256
"""The largest rewrite (nodes above its operands, both sides) that is checked; a larger one
(a sum of hundreds of exponentials) is not made."""
CHECK_NODES_PER_NODE = 64
"""Checked nodes allowed per node of the input (plus `MAX_CHECKED_NODES`), keeping stabilize
linear when many distinct large rewrites each need a check; past it rewrites are not made."""
_CACHE_SIZE = 4096

_checked: dict[tuple[Any, str, Tensor], bool] = {}
"""Verdicts by (accuracy, row, formula over named operands): a chain of 10,000 softplus is one
check."""


def _function_row(rule: Rule, node: Tensor, context: Any) -> Candidate | None:
    """A named-function row at `node`, as a candidate with the operands it keeps whole."""
    rewritten: Rewritten | None = rule.replacement(node)
    if rewritten is None:
        return None
    return Candidate(rule, rule.name, rewritten.result, rewritten.operands, rewritten.part)


STABLE_RULE_SET = RuleSet(STABLE_RULES, call=_function_row)
"""The rows of `stable_rules.py`, for the rewrite engine."""


def rewrites(node: Tensor) -> Iterator[Candidate]:
    """Each row that rewrites `node` itself (not its operands), in the order they are tried."""
    return STABLE_RULE_SET.candidates(node, None)


def first_rule(node: Tensor) -> tuple[Rule, Tensor] | None:
    """The first row that rewrites `node` itself (not its operands), with its result.

    >>> from symgrad.ir.graph import var
    >>> from symgrad.ops.scalar import exp, log
    >>> rule, result = first_rule(log(1 + exp(var("x"))))
    >>> rule.name, str(result)
    ('log(1 + exp(x)) -> softplus(x)', 'softplus(x)')
    """
    for fired in rewrites(node):
        return fired.rule, fired.result
    return None


class _TooLarge(Exception):
    """A formula past the size `_over_operands` copies."""


def _over_operands(root: Tensor, operands: list[Tensor], limit: int) -> Tensor | None:
    """`root` with each operand replaced by a variable named for its place (`_0`, `_1`, ...),
    so that a row's rewrites of different operands are one formula; None past `limit` nodes."""
    copies: dict[Tensor, Tensor] = {}
    for index, operand in enumerate(operands):
        if operand.children is not None or operand.name is not None:  # constants stay
            copies.setdefault(operand, var(f"_{index}"))
    copied = 0

    def copy(node: Tensor, a: Tensor | None, b: Tensor | None) -> Tensor:
        nonlocal copied
        copied += 1
        if copied > limit:
            raise _TooLarge  # ends the walk: the copy is not made
        return node if a is None else raw_node(children_of(node).op, a, b)

    try:
        return rebuild(root, copy, copies)[root]
    except _TooLarge:
        return None


def check_points(count: int) -> list[tuple[float, ...]]:
    """The points a rewrite with `count` operands is checked at.

    >>> len(check_points(1)), (800.0, 0.0) in check_points(2)
    (24, True)
    """
    size = len(CHECK_VALUES)
    points = [(value,) * count for value in CHECK_VALUES]
    if count > 1:
        points += [tuple(CHECK_VALUES[(j + i * stride) % size] for i in range(count))
                   for stride in CHECK_STRIDES for j in range(size)]
    return points


class Accuracy(Protocol):
    """The measurement stabilize judges rewrites by, supplied by a layer that can evaluate
    formulas exactly (`symgrad.backends.accuracy.PRECISE`, which `sg.stabilize` passes)."""

    def bits_of_error(self, formulas: Sequence[Tensor], points: Sequence[dict[str, float]]
                      ) -> Iterator[tuple[float, ...]]:
        """At each of `points` (variable name -> float) where the first formula's exact value
        is a real number within reach, in order, the bits of error of each formula's float64
        value against it (log2 of 1 + the doubles between them); lazily, so a caller may stop
        early. Nothing when the first formula has an op with no exact form."""
        ...


def keeps_accuracy(before: Tensor, after: Tensor, accuracy: Accuracy) -> bool:
    """Whether `after` is as accurate as `before` in float64 at every `check_points` point
    where `before` is accurate (within `ACCURATE_BITS` of the exact value), as `accuracy`
    measures; points where the exact value is not a real number or out of reach do not count.

    >>> from symgrad.backends.accuracy import PRECISE
    >>> from symgrad.ops.scalar import exp, log, log1p, softplus
    >>> x = var("x")
    >>> (keeps_accuracy(log(1 + exp(x)), softplus(x), PRECISE),
    ...  keeps_accuracy(log(1 + x), x, PRECISE))
    (True, False)
    """
    names = sorted({variable.name or "" for variable in free_variables([before, after])})
    points = [dict(zip(names, point)) for point in check_points(len(names))]
    for original, rewritten in accuracy.bits_of_error([before, after], points):
        if rewritten > ACCURATE_BITS and original <= ACCURATE_BITS:
            return False
    return True


class _Stabilizer(Rewriter):
    """The rewrite engine with the stable rows, taking a rewrite only where it keeps accuracy;
    `memo` holds the stable form of each node met, `log` collects the rewrites."""

    def __init__(self, roots: list[Tensor], log: list[Rewrite] | None, accuracy: Accuracy):
        size = len(toposort(roots))
        super().__init__(STABLE_RULE_SET, MAX_REWRITES_PER_NODE * size, log)
        self.accuracy = accuracy
        self.check_budget = CHECK_NODES_PER_NODE * size + MAX_CHECKED_NODES

    def accept(self, node: Tensor, candidate: Candidate) -> bool:
        before = node if candidate.part is None else candidate.part
        return self._accurate(candidate.rule, before, candidate.operands)

    def _accurate(self, rule: Rule, before: Tensor, operands: list[Tensor]) -> bool:
        """Whether `rule` keeps accuracy on `before` over its operands: the row applied to
        `before` with the operands as variables, stabilized in turn, against that formula
        (`keeps_accuracy`); cached by row and formula, so each distinct one is checked once.
        Tensor rewrites, which the exact oracle cannot evaluate, are kept unchecked."""
        if before.shape or any(operand.shape for operand in operands):
            return True
        formula = _over_operands(before, operands, MAX_CHECKED_NODES)
        if formula is None:
            return False
        key = (self.accuracy, rule.name, formula)
        verdict = _checked.get(key)
        if verdict is None:
            self.check_budget -= len(toposort(formula))
            if self.check_budget < 0:
                return False
            _checked[key] = False  # while checking: a row that would check itself refuses
            verdict = _row_keeps_accuracy(rule, formula, self.accuracy)
            if len(_checked) >= _CACHE_SIZE:
                _checked.clear()
            _checked[key] = verdict
        return verdict


def _row_keeps_accuracy(rule: Rule, formula: Tensor, accuracy: Accuracy) -> bool:
    """`keeps_accuracy` of `formula` against what `rule` makes of it, stabilized in turn."""
    fired = next((fired for fired in rewrites(formula) if fired.rule is rule), None)
    if fired is None:
        return False
    after = _Stabilizer([fired.result], None, accuracy)(fired.result)
    return keeps_accuracy(formula, after, accuracy)


def stabilize(t_or_list: Tensor | Iterable[Tensor], explain: bool = False, *,
              accuracy: Accuracy) -> Any:
    """An equal Tensor (or a list for a list) in numerically stable forms: softplus, logaddexp,
    log1p, expm1, hypot, sigmoid where the formula overflows or cancels, each rewrite kept
    where `accuracy` finds it as accurate as the formula it replaces (`sg.stabilize` passes
    the exact one). With `explain=True`, the pair `(result, log)`, `log` listing the
    `Rewrite(rule, before, after)` records.

    >>> import symgrad as sg
    >>> x = sg.var("x")
    >>> str(sg.stabilize(sg.log(1 + sg.exp(x))))
    'softplus(x)'
    >>> float(sg.evaluate(sg.stabilize(sg.log(1 + sg.exp(x))).grad(x), {"x": 800.0}))
    1.0
    """
    roots, single = tensor_roots(t_or_list, "stabilize")
    log: list[Rewrite] | None = [] if explain else None
    with gc_paused():
        stabilizer = _Stabilizer(roots, log, accuracy)
        stable = [stabilizer(root) for root in roots]
    result = stable[0] if single else stable
    return (result, log) if explain else result


def stable_forms(roots: Iterable[Tensor], accuracy: Accuracy) -> dict[Tensor, Tensor]:
    """The stable form of every node of the graphs of `roots`, from one walk: what
    `stabilize(node, accuracy=accuracy)` gives for each node, in time linear in the graph.

    >>> import symgrad as sg
    >>> from symgrad.backends.accuracy import PRECISE
    >>> x = sg.var("x")
    >>> f = sg.log(1 + sg.exp(x))
    >>> str(stable_forms([f], PRECISE)[f])
    'softplus(x)'
    """
    roots = list(roots)
    with gc_paused():
        stabilizer = _Stabilizer(roots, None, accuracy)
        for root in roots:
            stabilizer(root)
    return stabilizer.memo
