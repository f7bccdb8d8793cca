"""The one rewrite engine: rules indexed by op (`RuleSet`), a bottom-up pass that rewrites
each node once to a fixed point (`Rewriter`, over `graph.rebuild`), and repeated passes that
keep the smallest graph (`fixed_point`). `simplify` and `stabilize` are each a rule set and
a few hooks over it (which nodes to skip, whether to accept a rewrite, what to note).

A pass rebuilds each node over its operands' rewritten forms through `fold.apply`; a node the
rebuild changes is rewritten in turn, else the first rule that fires (and that the
acceptance hook takes) replaces it, and the replacement is rewritten the same way. A budget
bounds the rewrites tried, so every pass ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor, count_ops, rebuild
from symgrad.ir.op import Op
from symgrad.rewrite.rules import Rule, Var, build, match


class Rewrite(NamedTuple):
    """One logged rewrite: the rule's name, the subexpression before and after."""

    rule: str
    before: Tensor
    after: Tensor

    def __str__(self) -> str:
        return f"{self.rule}: {_short(self.before)}  =>  {_short(self.after)}"


def _short(node: Tensor, limit: int = 40) -> str:
    """The formula, or its size when printing it inline would be long (DAGs inline badly)."""
    ops = count_ops(node)
    children = node.children
    return str(node) if ops <= limit or children is None else f"<{children.op.name} with {ops} ops>"


class Candidate(NamedTuple):
    """A rule that fires at a node: its name in the log (a named function may give a more
    precise one), the result, the operands the rewrite keeps whole (a pattern's bindings),
    and `part`, the part of the node it changes when it changes only part of it."""

    rule: Rule
    name: str
    result: Tensor
    operands: list[Tensor]
    part: Tensor | None = None


FunctionCall = Callable[[Rule, Tensor, Any], "Candidate | None"]
"""How a rule set calls its named-function rules: `(rule, node, context) -> Candidate`."""

_CONSTANT = object()


def _requirement(pattern: Any) -> Any:
    """What an operand must be for `pattern` to have a chance: an op, a number, a constant."""
    if isinstance(pattern, tuple):
        return pattern[0]
    if isinstance(pattern, Var):
        return _CONSTANT if pattern.constant else None
    return pattern


def _fits(requirement: Any, node: Tensor | None) -> bool:
    if requirement is None:
        return True
    if node is None:  # the missing second operand of a unary op
        return False
    if requirement is _CONSTANT:
        return node.number is not None
    if isinstance(requirement, Op):
        return node.children is not None and node.children.op is requirement
    return node.number is not None and node.number == requirement


class _Entry(NamedTuple):
    rule: Rule
    is_function: bool
    need_a: Any  # what the operands must be (`_requirement`), a cheap test before `match`
    need_b: Any


class RuleSet:
    """Rules by op name, in the order given; each row carries a cheap pre-test on its
    operands' ops before `match`. `call` runs a named-function rule.

    >>> from symgrad.ir.graph import var
    >>> from symgrad.rewrite.rules import IDENTITIES
    >>> x = var("x")
    >>> [c.name for c in RuleSet(IDENTITIES, call=None).candidates(x - x, None)]
    ['x - x -> 0']
    """

    def __init__(self, rules: Iterable[Rule], call: FunctionCall | None) -> None:
        self.call = call
        self.by_op: dict[str, list[_Entry]] = {}
        for rule in rules:
            if rule.is_function:
                entry = _Entry(rule, True, None, None)
            else:
                operands = [_requirement(p) for p in rule.pattern[1:]] + [None]
                entry = _Entry(rule, False, operands[0], operands[1])
            for op in rule.ops:
                self.by_op.setdefault(op.name, []).append(entry)

    def candidates(self, node: Tensor, context: Any) -> Iterator[Candidate]:
        """Each rule that rewrites `node` itself (to something else), in order, lazily:
        a named function runs only once the rules before it are turned down."""
        children = node.children
        if children is None:
            return
        for rule, is_function, need_a, need_b in self.by_op.get(children.op.name, ()):
            if is_function:
                if self.call is None:
                    continue
                candidate = self.call(rule, node, context)
                if candidate is None:
                    continue
            else:
                a, b = children.a, children.b
                if not (_fits(need_a, a) and _fits(need_b, b)) and not (
                    children.op.commutative and _fits(need_a, b) and _fits(need_b, a)
                ):
                    continue
                bindings: dict = {}
                if not match(rule.pattern, node, bindings):
                    continue
                if rule.when is not None and not rule.when(bindings):
                    continue
                candidate = Candidate(rule, rule.name, build(rule.replacement, bindings),
                                      list(bindings.values()))
            if candidate.result is not node:
                yield candidate


class Rewriter:
    """One bottom-up pass of a rule set over graphs: `memo` maps every node seen to its
    rewritten form, so a node shared by many users, or met from several roots, is rewritten
    once. `budget` bounds the rewrites tried; `log` collects the `Rewrite` records.

    `settled` holds nodes no rule need try. The hooks, for a rule set to override: `accept`
    (whether to take a candidate, e.g. after measuring it) and `replaced` (a note on a node's
    outcome).

    >>> from symgrad.ir.graph import var
    >>> from symgrad.rewrite.rules import IDENTITIES
    >>> x = var("x")
    >>> str(Rewriter(RuleSet(IDENTITIES, call=None), budget=10, log=None)(x * (x - x) + 1))
    '1'
    """

    log_folds = False
    """Whether rebuilding a node over unchanged operands, which `fold.apply` changed, is logged
    (as "fold")."""

    def __init__(self, rules: RuleSet, budget: int, log: list[Rewrite] | None,
                 settled: set[Tensor] | None = None) -> None:
        self.rules = rules
        self.budget = budget
        self.log = log
        self.settled = set() if settled is None else settled
        """Nodes known to be in final form: no rule is tried at them. A node no rule changes
        joins them, unless it is `unsettled` (its outcome may change in a later pass)."""
        self.unsettled: set[Tensor] = set()
        self.memo: dict[Tensor, Tensor] = {}

    def __call__(self, root: Tensor) -> Tensor:
        """The rewritten form of `root`, rewriting only the nodes not met before."""
        return self.run([root])[root]

    def run(self, roots: Iterable[Tensor],
            finished: Callable[[Tensor, Tensor], None] | None = None) -> dict[Tensor, Tensor]:
        """Rewrite the graphs of `roots`, one root after the other (`finished(root, result)`
        told of each); the memo."""
        return rebuild(roots, self.visit, self.memo, again=True, cycle=self.keep,
                       finished=finished)

    def visit(self, node: Tensor, a: Tensor | None, b: Tensor | None) -> Tensor:
        """What `node` becomes over its operands' rewritten forms `a`, `b`: the rebuilt node
        when the rebuild changes it, else the first candidate that `accept` takes (each tried
        costs one step of the budget), else the node itself."""
        children = node.children
        if children is None or a is None:
            return node
        if a is children.a and b is children.b and node in self.settled:
            return node  # apply rebuilt it as itself when it was settled, and would again
        target = apply(children.op, a, b)
        if target is not node:
            if self.log_folds and self.log is not None and a is children.a and b is children.b:
                self.log.append(Rewrite("fold", node, target))
            self.replaced(node, target)
            return target
        if node in self.settled:
            return node
        if self.budget > 0:
            for candidate in self.rules.candidates(node, self):
                self.budget -= 1
                if self.accept(node, candidate):
                    if self.log is not None:
                        self.log.append(Rewrite(candidate.name, node, candidate.result))
                    self.replaced(node, candidate.result)
                    return candidate.result
                if self.budget <= 0:
                    break
        if node not in self.unsettled:
            self.settled.add(node)
        return node

    def keep(self, node: Tensor) -> None:
        """Keep `node` as it is (its rewrites lead back to it): settled, unless unsettled."""
        if node not in self.unsettled:
            self.settled.add(node)

    def accept(self, node: Tensor, candidate: Candidate) -> bool:
        """Whether to take `candidate`'s rewrite of `node`."""
        return True

    def replaced(self, node: Tensor, target: Tensor) -> None:
        """Note that `node` is replaced by `target` (which is rewritten in turn)."""


def fixed_point(roots: list[Tensor], count: int, one_pass: Callable[[list[Tensor]], list[Tensor]],
                max_passes: int, log: list[Rewrite] | None) -> list[Tensor]:
    """Passes of `one_pass` until one changes nothing or `max_passes` have run; the smallest
    graphs seen by `count_ops` (a pass may grow a graph), the latest among equals. `count` is
    `count_ops(roots)`, which the caller knows.

    >>> from symgrad.ir.graph import var
    >>> x = var("x")
    >>> [str(t) for t in fixed_point([x + 1], 1, lambda roots: [x], 4, None)]
    ['x']
    """
    best, best_count = roots, count
    current = roots
    for _ in range(max_passes):
        rewritten = one_pass(current)
        if all(new is old for new, old in zip(rewritten, current, strict=True)):
            break
        current = rewritten
        count = count_ops(current)
        if count <= best_count:
            best, best_count = current, count
    if log is not None and best is not current:
        for old, new in zip(current, best, strict=True):
            if old is not new:
                log.append(Rewrite("keep the smaller graph", old, new))
    return best
