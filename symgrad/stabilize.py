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
from symgrad.graph import Tensor, gc_paused, toposort
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
    if node.children is None:
        return None
    for rule in STABLE_RULES_BY_OP.get(node.op.name, ()):
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


def _stabilize(roots: list[Tensor], log: list[Rewrite] | None) -> list[Tensor]:
    """Each root rewritten bottom-up: operands first, then the node, then what a row built."""
    done: dict[Tensor, Tensor] = {}
    waiting: dict[Tensor, Tensor] = {}  # node -> the rewrite whose stable form it takes
    budget = MAX_REWRITES_PER_NODE * len(toposort(roots))
    for root in roots:
        stack = [root]
        while stack:
            node = stack[-1]
            if node in done:
                stack.pop()
                continue
            target = waiting.pop(node, None)
            if target is not None:
                done[node] = done.get(target, node)
                stack.pop()
                continue
            children = node.children
            if children is None:
                done[node] = node
                stack.pop()
                continue
            a, b = children.a, children.b
            pending = [operand for operand in (a, b) if operand is not None and operand
                       not in done]
            if pending:
                stack.extend(pending)
                continue
            rebuilt = apply(children.op, done[a], None if b is None else done[b])
            fired = first_rule(rebuilt) if budget > 0 else None
            if fired is None:
                done[node] = rebuilt
                done.setdefault(rebuilt, rebuilt)
                stack.pop()
                continue
            rule, result = fired
            budget -= 1
            if log is not None:
                log.append(Rewrite(rule.name, rebuilt, result))
            if result in waiting or result is node:
                done[node] = result
                stack.pop()
                continue
            waiting[node] = result
            stack.append(result)
    return [done[root] for root in roots]


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
    single = isinstance(t_or_list, Tensor)
    if single:
        roots = [t_or_list]
    elif isinstance(t_or_list, Iterable) and not isinstance(t_or_list, str):
        roots = list(t_or_list)
        for item in roots:
            if not isinstance(item, Tensor):
                raise TypeError(f"stabilize takes Tensors, got {type(item).__name__}")
    else:
        raise TypeError(f"stabilize takes a Tensor or a list of Tensors, got "
                        f"{type(t_or_list).__name__}")
    log: list[Rewrite] | None = [] if explain else None
    with gc_paused():
        result = _stabilize(roots, log)
    result = result[0] if single else result
    return (result, log) if explain else result
