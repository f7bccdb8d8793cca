"""The simplifier: applies the rules of `rules.py` bottom-up over the DAG to a fixed point, as
the rewrite engine (`engine.py`) with these rules and the hooks below.

Each pass walks the graph once, operands before users, with an explicit stack (no recursion).
A node is first rebuilt from its simplified operands through `fold.apply`; then the first rule
that fires replaces it, and the replacement is simplified the same way. A memo per pass means
each node is rewritten once, a step budget bounds the work, and the smallest graph seen is
returned, so `count_ops` never grows. Operands are ordered by a structural key computed once
per node (never by `id()`), so results are deterministic.

Collecting terms through a subexpression with other users would copy it, so rules ask
`shared(node)` (users counted at the start of each pass). In a sum (product) chain of more than
`flatten.LIMIT` links, each sum (product) whose one user is a sum (product) is an inner link:
only the chain's top collects, through all of it, so the chain is collected once, not once per
link (a shorter chain is collected at every link). Nodes no rule changed are
remembered across passes and not tried again, except those whose outcome depended on sharing:
the next pass, with the users of the rewritten graph, tries them once more. A collection rule
is not tried on what it made itself in the same pass: collecting again finds more in about 1
of 1,000 such nodes (a chain longer than a walk reads), and the next start does that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, NamedTuple

from symgrad.ir.graph import (
    Tensor,
    bottom_up,
    children_of,
    count_ops,
    gc_paused,
    tensor_roots,
    toposort,
)
from symgrad.ir.op import OPS, Op
from symgrad.rewrite.engine import Candidate, Rewrite, Rewriter, RuleSet, fixed_point
from symgrad.rewrite.flatten import LIMIT, PRODUCT_OPS, SUM_OPS, Flattened, local_count
from symgrad.rewrite.matrix_simplify import simplify_tensor
from symgrad.rewrite.rules import RULES, Rule

MAX_PASSES = 4
"""Passes over the whole graph; a pass that changes nothing ends the loop sooner."""

MAX_ROUNDS = 8
ROUNDS_UP_TO = 5_000
"""A graph of up to this many ops gets up to MAX_ROUNDS fresh starts while one changes it:
a start sees the sharing of the graph it is given, which the passes before changed, and tries
again the nodes they settled under the old sharing. Then simplifying the result again returns
it (0 of 6,000 random formulas and derivatives differ, 30 with one start; a long sum of shared
parts may take four starts or more, as each finds a new common factor: with three, 2 of 8,900
such sums and derivatives differed, with eight none of 10,000). A larger graph gets
one start, which keeps its time linear (a second one adds about 40%).

A larger graph also copies a shared sub-product only to cancel a base or fold a number, not
to merge a base (`CollectContext.merges_shared`): a merge saves one op at most (w*(w*a) ->
w**2*a saves none), and in an unrolled recurrence h = tanh(h)*w + x every level's product
would copy the chain below it to merge its w, a graph larger than the input for 3x the
time. A small formula merges, for the reading: x**2*y, not x*(x*y)."""

STEPS_PER_NODE = 20
MIN_STEPS = 1000
"""The step budget: rule firings allowed, STEPS_PER_NODE per node of the input + MIN_STEPS."""


_MASK = (1 << 64) - 1
_OP_CODES = {name: (index + 1) * 0x9E3779B97F4A7C15 & _MASK for index, name in enumerate(OPS)}


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class SortKeys:
    """A structural sort key per node, computed bottom-up once and remembered.

    Constants first (by value), then variables (by name), then inner nodes by height, op name
    and a structural digest: `x + sin(x)`, `2*x*y`, `sigmoid(x)*(1 - sigmoid(x))`.
    """

    def __init__(self) -> None:
        self.keys: dict[Tensor, tuple] = {}

    def __call__(self, node: Tensor) -> tuple:
        key = self.keys.get(node)
        return key if key is not None else bottom_up(node, self.keys, self._leaf, self._inner)

    @staticmethod
    def _inner(node: Tensor, key_a: tuple, key_b: tuple | None) -> tuple:
        if key_b is None:
            key_b = (0, 0, 0.0, "", "", 0)
        height = 1 + max(key_a[1], key_b[1])
        op_name = children_of(node).op.name
        digest = (_OP_CODES[op_name] ^ (key_a[5] * 0x100000001B3)
                  ^ (key_b[5] * 0xC2B2AE3D27D4EB4F + 7)) & _MASK
        # the leftmost leaf's name orders exp(a) before exp(b); the digest breaks ties
        return (2, height, 0.0, op_name, key_a[4], digest ^ (digest >> 29))

    @staticmethod
    def _leaf(node: Tensor) -> tuple:
        if node.name is not None:
            return (1, 0, 0.0, node.name, node.name, _digest("var " + node.name))
        value = node.number
        if value is None:  # an array constant
            return (0, 0, 0.0, "array", "", _digest(repr(node._key)))
        return (0, 0, float(value), "", "", _digest(repr(value)))


def _collect(rule: Rule, node: Tensor, context: _Pass) -> Candidate | None:
    """A collection rule at `node`, unless the node is an inner link (its chain's top
    collects it)."""
    if node in context.links and node not in context.shared_nodes:  # context.inner(node)
        return None
    if context.made_by.get(node) is rule:  # its own result: collected already
        return None
    fired = rule.replacement(node, context)
    if fired is None:
        return None
    result, name = fired if isinstance(fired, tuple) else (fired, rule.name)
    context.made_by[result] = rule
    return Candidate(rule, name, result, [])


SIMPLIFY_RULES = RuleSet(RULES, call=_collect)
"""The rows and collection functions of `rules.py`, for the rewrite engine."""


class _Pass(Rewriter):
    """One bottom-up pass of the rewrite engine with the simplifier's rules; the memo maps
    every node seen to its simplified form. It is the `flatten.CollectContext` the collecting
    rules ask about sharing, order and settling."""

    log_folds = True

    def __init__(self, keys: SortKeys, users: Users, log: list | None, budget: int,
                 normal: set, merges_shared: bool):
        super().__init__(SIMPLIFY_RULES, budget, log, settled=normal)
        self.merges_shared = merges_shared
        self.key = keys  # (settled: nodes no rule changed, in this or an earlier pass)
        self.shared_nodes = users.shared
        self.links = users.links
        self.flattened = Flattened.empty()  # for flatten.sum_terms and product_factors
        self.made_by: dict[Tensor, Rule] = {}  # what a collection rule made: it is final
        # an inner link is not tried (its user collects it), so it is not settled either
        self.unsettled.update(self.links)

    def settle(self, node: Tensor) -> None:
        """Mark a node a rule built in canonical form: it gets no rule of its own."""
        if node.children is not None and node not in self.memo:
            self.settled.add(node)

    def inner(self, node: Tensor) -> bool:
        """Whether the node is an inner link of a sum (product) chain: its user collects it."""
        return node in self.links and node not in self.shared_nodes

    def link(self, node: Tensor, kind: tuple[Op, ...]) -> None:
        """Mark a node built as the inner link of a longer sum or product (`kind`)."""
        if node.op in kind:
            self.links.add(node)
            self.unsettled.add(node)

    def unsettle(self, node: Tensor) -> None:
        """Mark a node whose rewrite depended on sharing: the next pass tries it again."""
        self.unsettled.add(node)

    def share(self, node: Tensor) -> None:
        """Mark a node that gains a user: no longer an inner link of its chain."""
        self.shared_nodes.add(node)

    def shared(self, node: Tensor) -> bool:
        """Whether the node has several users (then collecting through it would copy it)."""
        return node in self.shared_nodes

    def replaced(self, node: Tensor, target: Tensor) -> None:
        if node in self.links:
            self.link(target, _CHAIN_OPS[children_of(node).op])  # its user is the same one


_CHAIN_OPS: dict[Op | None, tuple[Op, ...]] = {
    op: kind for kind in (SUM_OPS, PRODUCT_OPS) for op in kind
}


class Users(NamedTuple):
    """What a pass knows of the nodes' users (counted at its start)."""

    shared: set[Tensor]  # nodes with more than one user
    links: set[Tensor]  # inner links: a sum (product) whose one user is a sum (product)


def _users(order: list[Tensor], roots: list[Tensor]) -> Users:
    """Who uses what in `order`. An inner link is a sum (product) whose one user is a sum
    (product) and which holds more than `flatten.LIMIT` links itself, so a short chain is
    collected at every link, as each may find something the whole does not. A root is used by
    the caller, so it is never an inner link."""
    user: dict[Tensor, Tensor | None] = {root: None for root in roots}
    shared: set[Tensor] = set()
    chain_nodes = []
    for node in order:
        children = node.children
        if children is None:
            continue
        if children.op in _CHAIN_OPS:
            chain_nodes.append(node)
        for operand in (children.a, children.b):
            if operand is None:
                continue
            if operand in user:
                shared.add(operand)
            else:
                user[operand] = node
    size: dict[Tensor | None, int] = {}  # for a node inside a chain: links at and below it
    links: set[Tensor] = set()
    for node in chain_nodes:  # operands first
        a, b, op = children_of(node)
        its_user = user[node]
        if its_user is None or node in shared or _CHAIN_OPS.get(its_user.op) is not _CHAIN_OPS[op]:
            continue
        count = 1 + size.get(a, 0) + size.get(b, 0)
        size[node] = count
        if count > LIMIT:
            links.add(node)
    return Users(shared, links)


def _one_pass(roots: list[Tensor], keys: SortKeys, log: list[Rewrite] | None, budget: int,
              normal: set[Tensor], merges_shared: bool) -> tuple[list[Tensor], int]:
    order = toposort(roots)
    if all(node in normal for node in order if node.children is not None):
        return roots, budget  # no rule is tried at a settled node: the pass would change nothing
    users = _users(order, roots)
    shared = users.shared
    current = _Pass(keys, users, log, budget, normal, merges_shared)

    def finished(node: Tensor, result: Tensor) -> None:
        if node in shared:
            shared.add(result)

    # each node in turn, so that the sharing is updated between them
    memo = current.run(order, finished)
    return [memo[root] for root in roots], current.budget


ALONE_UP_TO = 20_000
"""A list whose items hold up to this many nodes in all (a part two items share counted for
each) is simplified item by item, each as if alone, so `simplify([a, b])` is
`[simplify(a), simplify(b)]`. A bigger list, such as the hundreds of partials of a network's
loss that all hold its forward graph, is simplified as one graph: a part the items share is
collected once (collecting through it for each item would copy it into each). So is a
smaller list whose items, simplified alone, would hold more ops in all than the list did (a
list never grows): the partials of an unrolled recurrence share its forward graph, which
each partial alone rewrites its own way (the gradient of a 600-level RNN in w, x and h:
5,994 ops as one graph, 10,780 item by item). A result of up to ROUNDS_UP_TO ops then has its
items simplified alone again where that is no larger, so that simplifying it again returns
it."""


def simplify(t_or_list: Tensor | Iterable[Tensor] | Iterable[Iterable[Tensor]],
             explain: bool = False) -> Any:
    """An equivalent, simplified Tensor (a list for a list, rows for rows: a Jacobian, a
    Hessian); with `explain=True`, the pair `(result, log)` where `log` lists the
    `Rewrite(rule, before, after)` records in order.

    >>> import symgrad as sg
    >>> x, y = sg.variables("x y")
    >>> str(simplify(sg.sigmoid(x).grad(x)))
    'sigmoid(x)*(1 - sigmoid(x))'
    >>> str(simplify(3 * x - x + x * x * x))
    '2*x + x**3'
    >>> [[str(entry) for entry in row] for row in simplify(sg.hessian(x**3 * y**2, [x, y]))]
    [['6*x*y**2', '6*x**2*y'], ['6*x**2*y', '2*x**3']]
    """
    given: Any = t_or_list
    if isinstance(given, Iterable) and not isinstance(given, Tensor | str):
        given = list(given)  # read once: it may be a generator
    rows = _rows(given)
    if rows is not None:  # the entries as one list, put back in their rows
        entries, records = simplify([entry for row in rows for entry in row], explain=True)
        flat = iter(entries)
        in_rows = [[next(flat) for _ in row] for row in rows]
        return (in_rows, records) if explain else in_rows
    roots, single = tensor_roots(given, "simplify")
    log: list[Rewrite] | None = [] if explain else None
    simplified = None
    alone_first = not single and _nodes_per_item(roots, ALONE_UP_TO) <= ALONE_UP_TO
    if alone_first:
        simplified = _alone(roots, log)
    if simplified is None:
        simplified = _simplify_together(roots, log)
        if alone_first and count_ops(simplified) <= ROUNDS_UP_TO:
            # its items alone where that is no larger, so that simplifying it again returns it
            simplified = _alone(simplified, log) or simplified
    result = simplified[0] if single else simplified
    return (result, log) if explain else result


def _alone(roots: list[Tensor], log: list[Rewrite] | None) -> list[Tensor] | None:
    """Each root simplified as if alone, its records added to `log`; None as soon as the
    results hold more ops in all than `roots` did (they lost parts they shared)."""
    records: list[Rewrite] = []
    limit = count_ops(roots)
    counted: set[Tensor] = set()  # the ops of the results so far
    alone = []
    for root in roots:
        result = _simplify_together([root], None if log is None else records)[0]
        local_count(result, frozenset(), counted)  # adds the result's new ops to `counted`
        if len(counted) > limit:
            return None
        alone.append(result)
    if log is not None:
        log.extend(records)
    return alone


def _rows(t_or_list: Any) -> list[list[Any]] | None:
    """The rows of a list of lists (or tuples), else None."""
    if isinstance(t_or_list, list) and t_or_list and all(
            isinstance(row, list | tuple) for row in t_or_list):
        return [list(row) for row in t_or_list]
    return None


def _nodes_per_item(roots: list[Tensor], limit: int) -> int:
    """The nodes of each root's graph added up (a shared node counted for each), or a number
    above `limit` once the sum passes it."""
    total = 0
    for root in roots:
        total += len(toposort(root))
        if total > limit:
            break
    return total


def _simplify_together(roots: list[Tensor], log: list[Rewrite] | None) -> list[Tensor]:
    """The simplified graphs of `roots`, as one graph: a node they share is simplified once."""
    if any(node.shape for node in toposort(roots)):  # vectors and matrices: matrix algebra
        return simplify_tensor(roots, log)
    keys = SortKeys()  # structural, so one for every round
    with gc_paused():
        count = count_ops(roots)
        if count > ROUNDS_UP_TO:
            return _one_start(roots, keys, log)
        return _fresh_starts(roots, count, keys, log)


def _fresh_starts(roots: list[Tensor], count: int, keys: SortKeys, log: list[Rewrite] | None
                  ) -> list[Tensor]:
    """Up to MAX_ROUNDS starts, each from the last one's graphs (`count` ops to begin with),
    until one returns its own input. Two forms of one size may rewrite into each other: met
    again, such a cycle ends with the form of the smallest structural key, so that simplifying
    the result again returns it."""
    made = [roots]  # the graphs each start began from, and the last result
    counts = [count]
    for _ in range(MAX_ROUNDS):
        current = _one_start(made[-1], keys, log)
        if _same(current, made[-1]):
            break
        count = count_ops(current)
        for earlier in range(len(made) - 1, -1, -1):
            if counts[earlier] != count:
                break
            if _same(made[earlier], current):
                return min(made[earlier:], key=lambda graphs: [keys(root) for root in graphs])
        made.append(current)
        counts.append(count)
    return list(made[-1])


def _same(graphs: list[Tensor], others: list[Tensor]) -> bool:
    return all(a is b for a, b in zip(graphs, others, strict=True))


def _one_start(roots: list[Tensor], keys: SortKeys, log: list[Rewrite] | None) -> list[Tensor]:
    """One start of the simplifier on `roots`: passes to a fixed point with a fresh budget and
    the sharing of these graphs, the smallest result kept."""
    normal: set[Tensor] = set()
    count = count_ops(roots)
    budget = STEPS_PER_NODE * count + MIN_STEPS

    def one_pass(current: list[Tensor]) -> list[Tensor]:
        nonlocal budget
        rewritten, budget = _one_pass(current, keys, log, budget, normal,
                                      merges_shared=count <= ROUNDS_UP_TO)
        return rewritten

    return fixed_point(roots, count, one_pass, MAX_PASSES, log)
