"""`stabilize`: rewrites a graph into numerically stable forms with the rows of
`stable_rules.py`, bottom-up, each node once, with `rules.match`/`rules.build` as the matcher.

Unlike `simplify` it does not look for the smallest graph: a stable form may be larger
(2*sin(x/2)**2 for 1 - cos(x)), and it never runs the simplifier's own rules, which know
nothing of stability.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from symgrad.fold import apply
from symgrad.graph import Tensor, gc_paused, tensor_roots, toposort
from symgrad.rules import build, match
from symgrad.simplify import Rewrite
from symgrad.stable_rules import STABLE_RULES_BY_OP, StableRule

MAX_REWRITES_PER_NODE = 8
"""A bound on rewrites per input node; rows only ever trade an op for a stabler one."""


def first_rule(node: Tensor) -> tuple[StableRule, Tensor] | None:
    """The first row that rewrites `node` itself (not its operands), with its result.

    >>> from symgrad.graph import var
    >>> from symgrad.ops import exp, log
    >>> rule, result = first_rule(log(1 + exp(var("x"))))
    >>> rule.name, str(result)
    ('log(1 + exp(x)) -> softplus(x)', 'softplus(x)')
    """
    children = node.children
    if children is None:
        return None
    for rule in STABLE_RULES_BY_OP.get(children.op.name, ()):
        if rule.is_function:
            result = rule.replacement(node)
        else:
            bindings: dict = {}
            if not match(rule.pattern, node, bindings):
                continue
            if rule.when is not None and not rule.when(bindings):
                continue
            result = build(rule.replacement, bindings)
        if result is not None and result is not node:
            return rule, result
    return None


class _Stabilizer:
    """Stable forms by node, filled in topological order; `log` collects the rewrites."""

    def __init__(self, roots: list[Tensor], log: list[Rewrite] | None):
        self.stable: dict[Tensor, Tensor] = {}
        self.log = log
        self.budget = MAX_REWRITES_PER_NODE * len(toposort(roots))

    def __call__(self, root: Tensor) -> Tensor:
        for node in toposort(root):
            if node not in self.stable:
                result = self._rewrite(node)
                self.stable[node] = result
                self.stable.setdefault(result, result)
        return self.stable[root]

    def _rewrite(self, node: Tensor) -> Tensor:
        """The node over its operands' stable forms, then what the first row that fires makes
        of it, itself stabilized (exp(a - log(S)) needs log(S) rewritten in turn)."""
        if node.children is None:
            return node
        a, b, op = node.children
        rebuilt = apply(op, self.stable[a], None if b is None else self.stable[b])
        fired = first_rule(rebuilt) if self.budget > 0 else None
        if fired is None:
            return rebuilt
        rule, result = fired
        self.budget -= 1
        if self.log is not None:
            self.log.append(Rewrite(rule.name, rebuilt, result))
        return self(result)


def stabilize(t_or_list: Tensor | Iterable[Tensor], explain: bool = False) -> Any:
    """An equal Tensor (or a list for a list) in numerically stable forms: softplus, logaddexp,
    log1p, expm1, hypot, sigmoid where the formula overflows or cancels. With `explain=True`,
    the pair `(result, log)`, `log` listing the `Rewrite(rule, before, after)` records.

    >>> import symgrad as sg
    >>> x = sg.var("x")
    >>> str(stabilize(sg.log(1 + sg.exp(x))))
    'softplus(x)'
    >>> float(sg.evaluate(stabilize(sg.log(1 + sg.exp(x))).grad(x), {"x": 800.0}))
    1.0
    """
    roots, single = tensor_roots(t_or_list, "stabilize")
    log: list[Rewrite] | None = [] if explain else None
    with gc_paused():
        stabilizer = _Stabilizer(roots, log)
        stable = [stabilizer(root) for root in roots]
    result = stable[0] if single else stable
    return (result, log) if explain else result
