"""Simplifying tensor expressions with the identities of matrix algebra, so that gradients read
as people write them: `(A@B).T -> B.T@A.T`, `x.T@A -> A.T@x` (vectors as columns),
`(A + B).T -> A.T + B.T`, `A@x + B@x -> (A + B)@x`, `I@A -> A`, `2*A + A -> 3*A`; scalar
factors pulled to the front and folded (`A@(c*x) -> c*A@x`, `2*x/(2*c) -> x/c`, through the
monomials of `factors.py`); `log(softmax(z)) -> z - logsumexp(z)`, and the cancellation the
adjoint of that log meets (`s*(a/s + b) -> a + s*b`).

A rule set over the rewrite engine (`engine.py`): each node is rebuilt bottom-up from its
simplified operands (folding as it goes) and the rules applied until none fires;
`simplify.simplify` comes here for graphs with shaped nodes.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

from symgrad.ir import shapes
from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor, as_tensor, binary_children, children_of, gc_paused, toposort
from symgrad.ir.op import Op
from symgrad.ops.linalg import diag_op, diagonal_op, kron_op, solve_op
from symgrad.ops.scalar import add, div, log, mul, neg, sub
from symgrad.ops.tensor import (
    EXPAND_DIMS,
    MEAN,
    SUM,
    broadcast_like,
    eye_like,
    inner,
    logsumexp,
    matmul,
    matmul_op,
    outer,
    outer_op,
    trace_op,
    transpose,
    transpose_op,
    vecmat,
)
from symgrad.rewrite.engine import Candidate, Rewrite, Rewriter, RuleSet
from symgrad.rewrite.factors import MAX_FACTORS, Monomial, build, monomial, split, times, trivial
from symgrad.rewrite.rules import Rule

MAX_REWRITES_PER_NODE = 20
"""The step budget: rewrites tried per node of the input."""


def _transpose_of_product(node: Tensor) -> Tensor | None:
    """(A@B).T -> B.T@A.T"""
    if node.op is not transpose_op:
        return None
    product = children_of(node).a
    if product.op is matmul_op:
        a, b, _ = binary_children(product)
        if len(b.shape) == 2:
            return matmul(transpose(b), transpose(a))
    return None


def _row_vector_product(node: Tensor) -> Tensor | None:
    """x.T@A -> A.T@x: a vector times a matrix, written with the vector as a column"""
    if node.op is vecmat:
        x, a, _ = binary_children(node)
        return matmul(transpose(a), x)
    return None


def _identity_product(node: Tensor) -> Tensor | None:
    """I@A -> A, A@I -> A"""
    if node.op is not matmul_op:
        return None
    a, b, _ = binary_children(node)
    if a.op is eye_like:
        return b
    if b.op is eye_like:
        return a
    return None


def _common_operand(node: Tensor) -> Tensor | None:
    """A@x + B@x -> (A + B)@x, A@x + A@y -> A@(x + y), and the same for outer products and
    differences: factoring a shared operand out of a sum of products"""
    if node.op not in (add, sub):
        return None
    a, b, op = binary_children(node)
    if a.op is not b.op or a.op not in (matmul_op, outer_op):
        return None
    build = matmul if a.op is matmul_op else outer
    (a1, a2, _), (b1, b2, _) = binary_children(a), binary_children(b)
    if a2 is b2 and a1.shape == b1.shape:
        if op is add and a1.op is transpose_op and b1.op is not transpose_op:
            a1, b1 = b1, a1  # A + A.T, as people write it
        return build(apply(op, a1, b1), a2)
    if a1 is b1 and a2.shape == b2.shape:
        return build(a1, apply(op, a2, b2))
    return None


def _folded_factors(node: Tensor) -> Tensor | None:
    """2*(2*A) -> 4*A, 2*x/(2*c) -> x/c, (1/c)*X -> X/c: a product as its monomial, numbers
    folded, equal bases gathered and cancelled, scalar factors first"""
    if not node.shape:
        return None  # scalars inside a tensor formula are read as factors of their users
    m = monomial(node)
    if m is None:
        return None
    result = build(m)
    if result.shape == node.shape:
        return result
    # a factor cancelled (v*(1/v) -> 1, where v != 0 as for scalars): broadcast back over an
    # operand of the node's shape
    shaped = [operand for operand in children_of(node)[:2]
              if operand is not None and operand.shape == node.shape]
    if not shaped:
        return None
    return apply(broadcast_like, result, min(shaped, key=lambda t: len(toposort(t))))


def _sum_of_broadcast(node: Tensor) -> Tensor | None:
    """sum(c*ones_like(B)) -> c*n, mean(c*ones_like(B)) -> c, over every element (n of them)"""
    inner = children_of(node).a
    op = node.op
    if op is None or op.arg != (None, False) or inner.op is not broadcast_like \
            or children_of(inner).a.shape:
        return None
    c = children_of(inner).a
    return c if op.name == "mean" else apply(mul, c, math.prod(inner.shape))


# the operands in which an op is linear: scalar factors move out of them
_LINEAR_IN = {"matmul": (0, 1), "vecmat": (0, 1), "inner": (0, 1), "outer": (0, 1),
              "kron": (0, 1), "transpose": (0,), "sum": (0,), "mean": (0,), "trace": (0,),
              "expand_dims": (0,), "broadcast_like": (0,), "diag": (0,), "diagonal": (0,),
              "solve": (1,)}


def _scalars_out(node: Tensor) -> Tensor | None:
    """A@(c*x) -> c*A@x, (c*A).T -> c*A.T, sum(c*A) -> c*sum(A): the scalar factors of an
    operand leave an op linear in it"""
    a, b, op = children_of(node)
    if _leading_axes_of(node) is not None:
        return None  # kept outermost, for broadcasting to add them (below)
    operands = [a, b]
    scale = Monomial(1, {})
    for position in _LINEAR_IN.get(op.name, ()):
        operand = operands[position]
        parts = split(operand) if operand is not None and operand.shape else None
        if parts is not None and not trivial(parts[0]):
            scale, operands[position] = times(scale, parts[0]), parts[1]
    if trivial(scale):
        return None
    inner = apply(op, operands[0], operands[1])
    return build(times(scale, Monomial(1, {inner: 1})))


def _zero(node: Tensor | None) -> bool:
    return node is not None and node.op is broadcast_like and children_of(node).a.number == 0


def _zeros_through(node: Tensor) -> Tensor | None:
    """A@zeros_like(B) -> zeros_like(A@B), zeros_like(B).T -> zeros_like(B.T), sum(zeros_like(B))
    -> 0, zeros_like(A)*B -> zeros_like(A*B): an op linear in a zero operand (or a product
    with one, as for scalars, where x*0 is 0) is zero"""
    a, b, op = children_of(node)
    positions = (0, 1) if op is mul else (0,) if op is div else _LINEAR_IN.get(op.name, ())
    if not any(_zero((a, b)[position]) for position in positions):
        return None
    if not node.shape:
        return as_tensor(0)
    # the zeros take the shape of an operand of the node's shape, else of the op over the
    # operands' shapes (a broadcast standing for its like)
    shapes_of = [_shape_of(a), None if b is None else _shape_of(b)]
    like = next((t for t in shapes_of if t is not None and t.shape == node.shape), None)
    return apply(broadcast_like, 0, like if like is not None else
                 apply(op, shapes_of[0], shapes_of[1]))


def _like_of_like(node: Tensor) -> Tensor | None:
    """ones_like(zeros_like(A)) -> ones_like(A), zeros_like(A@B.T@C) -> zeros_like(A) (A of
    that shape): a broadcast reads only its like's shape"""
    value, like, _ = binary_children(node)
    simpler = _shape_of(like)
    return None if simpler is like else apply(broadcast_like, value, simpler)


SHAPE_SEARCH = 32
"""Nodes of a broadcast's like searched for a variable of its shape."""


def _shape_of(t: Tensor) -> Tensor:
    """A node of t's shape that t stands for: a broadcast's like, as far down as they go, and
    then a variable of that shape among its first `SHAPE_SEARCH` nodes, if there is one."""
    while t.op is broadcast_like:
        t = binary_children(t)[1]
    queue, seen = [t], {t}
    for current in queue:
        if len(queue) > SHAPE_SEARCH:
            break
        if current.children is None and current.name is not None and current.shape == t.shape:
            return current
        for operand in children_of(current)[:2] if current.children is not None else ():
            if operand is not None and operand not in seen:
                seen.add(operand)
                queue.append(operand)
    return t


def _signed_terms(node: Tensor) -> list[tuple[Tensor, int]]:
    """The terms of a chain of sums and differences of one shape, with their signs."""
    terms: list[tuple[Tensor, int]] = []
    stack = [(node, 1)]
    while stack:
        current, sign = stack.pop()
        if current.op in (add, sub) and current.shape == node.shape \
                and len(terms) + len(stack) < MAX_FACTORS:
            a, b, op = binary_children(current)
            stack += [(b, -sign if op is sub else sign), (a, sign)]
        else:
            terms.append((current, sign))
    return terms


def _like_terms(node: Tensor) -> Tensor | None:
    """X + X -> 2*X, 2*A + B + A -> 3*A + B: the terms of a sum that differ by a number
    gathered where the first of them stands"""
    if not node.shape:
        return None
    gathered: dict[tuple, list] = {}  # (rest, its scalar bases) -> [number, scalars, rest]
    terms = _signed_terms(node)
    zeros = 0
    for term, sign in terms:
        if _zero(term):
            zeros += 1  # zeros_like(A) + t -> t (broadcast over A below)
            continue
        parts = split(term) if term.shape else None
        if parts is None:
            parts = Monomial(1, {}), term
        scalars, rest = parts
        key = (rest, tuple(scalars.powers.items()))
        if key in gathered:
            gathered[key][0] += sign * scalars.number
        else:
            gathered[key] = [sign * scalars.number, scalars.powers, rest]
    if not zeros and len(gathered) == len(terms):
        return None
    result: Tensor | None = None
    for number, powers, rest in gathered.values():
        if number == 0:
            continue
        term = build(times(Monomial(number, powers), Monomial(1, {rest: 1})))
        result = term if result is None else apply(add, result, term)
    if result is not None and result.shape == node.shape:
        return result
    # all cancelled (A - A), or the terms of full shape did (A - A - s): broadcast over one of
    # them, not over `node`, which the engine would rewrite again inside its own result
    likes = [binary_children(term)[1] if term.op is broadcast_like else term
             for term, _ in terms if term.shape == node.shape]
    like = next((t for t in likes if t.op is not broadcast_like), likes[0])
    return apply(broadcast_like, 0 if result is None else result, like)


def _transpose_of_sum(node: Tensor) -> Tensor | None:
    """(A + B).T -> A.T + B.T, for matrices A and B (a vector added would broadcast as a
    row before the transpose and as a column after it)"""
    inner = children_of(node).a
    children = inner.children
    if children is None or children.op not in (add, sub):
        return None
    a, b, op = binary_children(inner)
    if len(a.shape) == 1 or len(b.shape) == 1:
        return None
    return apply(op, transpose(a), transpose(b))


def _cancelling_distribution(node: Tensor) -> Tensor | None:
    """s*(a/s + b) -> a + s*b: a factor multiplies each term of a sum where that cancels it
    in one of them (the adjoint of log(softmax(z)) is softmax(z)*(g/softmax(z) - ...))"""
    if not node.shape:
        return None
    a, b, _ = binary_children(node)
    for factor, total in ((a, b), (b, a)):
        if total.op not in (add, sub):
            continue
        first, second, op = binary_children(total)
        outer_factors = monomial(factor)
        if outer_factors is None:
            continue
        for term in (first, second):
            inner_factors = monomial(term)
            if inner_factors is not None and any(
                    power * inner_factors.powers.get(base, 0) < 0
                    for base, power in outer_factors.powers.items()):
                return apply(op, apply(mul, factor, first), apply(mul, factor, second))
    return None


def _whole_sum_kept(node: Tensor) -> Tensor | None:
    """sum(a, keepdims=True)*B -> sum(a)*B where B has the product's shape: a sum over every
    axis kept as ones broadcasts as the number does"""
    a, b, _ = binary_children(node)
    for kept, other in ((a, b), (b, a)):
        op = kept.op
        if other.shape == node.shape and op is not None and op.name in ("sum", "mean") \
                and _keeps_dims(op) and all(dim == 1 for dim in kept.shape):
            return apply(mul, apply(op.bound((None, False)), children_of(kept).a), other)
    return None


def _kept_axes(node: Tensor) -> Tensor | None:
    """expand_dims(sum(A, axis=k), k) -> sum(A, axis=k, keepdims=True), for k not leading
    (new leading axes are broadcasting's own: sum(A, axis=0) reads better there)"""
    inner, _, expand = children_of(node)
    op = inner.op
    if op is None or op.name not in ("sum", "mean") or not isinstance(op.arg, tuple) \
            or op.arg[1] or op.arg[0] != expand.arg or 0 in op.arg[0]:
        return None
    return apply(op.bound((op.arg[0], True)), children_of(inner).a)


def _leading_axes_of(node: Tensor) -> Tensor | None:
    """a of expand_dims(a, axis=(0, ..., k)), else None"""
    axes = node.op.arg if node.op is not None and node.op.name == "expand_dims" else None
    if not isinstance(axes, tuple) or axes != tuple(range(len(axes))):
        return None
    return children_of(node).a


_STRIPPED: weakref.WeakKeyDictionary[Tensor, Tensor | None] = weakref.WeakKeyDictionary()
"""`without_leading_axes` by node, None where it is the node itself (a value never holds its
own key, so an entry leaves with its node). Printing and the matrix rules ask it of the
operands of every elementwise node: walked anew each time, a deep formula (a recurrence of
1,000 levels) would be walked once per level, quadratic."""


def without_leading_axes(node: Tensor) -> Tensor:
    """`node` with each expand_dims(v, axis=(0, ..., k)) in its elementwise part replaced by v:
    equal once broadcast to a shape of as many axes, as numpy's broadcasting adds them.
    A scalar has none (expand_dims gives a vector or matrix).

    >>> from symgrad.ops.tensor import vector, EXPAND_DIMS
    >>> v = vector("v", 3)
    >>> str(without_leading_axes(2 * apply(EXPAND_DIMS.bound((0,)), v) + v))
    '2*v + v'
    """
    if not node.shape:
        return node
    rebuilt: dict[Tensor, Tensor] = {}
    stack = [node]
    while stack:
        current = stack[-1]
        known = _STRIPPED.get(current, current)
        if known is not current:
            rebuilt[current] = current if known is None else known
            stack.pop()
            continue
        children = current.children
        inner = _leading_axes_of(current)
        if inner is not None:
            operands = [inner]
        elif children is None or children.op.infer_shape is not None:
            operands = []  # not elementwise: kept whole
        else:
            operands = [o for o in children[:2] if o is not None]
        pending = [operand for operand in operands if operand not in rebuilt]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        if inner is not None:
            result = rebuilt[inner]
        elif not operands or all(rebuilt[o] is o for o in operands):
            result = current
        else:
            result = apply(children_of(current).op, *(rebuilt[o] for o in operands))
        rebuilt[current] = result
        _STRIPPED[current] = None if result is current else result
    return rebuilt[node]


def _broadcast_without_leading_axes(node: Tensor) -> Tensor | None:
    """broadcast(a + expand_dims(v, axis=0), B) -> broadcast(a + v, B): new leading axes
    under a broadcast are broadcasting's own"""
    a, like, _ = binary_children(node)
    inner = without_leading_axes(a)
    if inner is a:
        return None
    return inner if inner.shape == node.shape else apply(broadcast_like, inner, like)


def broadcast_operands(node: Tensor) -> tuple[Tensor, Tensor] | None:
    """The operands of an elementwise `node` without the new leading axes broadcasting adds
    itself (`without_leading_axes`: `A + expand_dims(v, axis=0)` is `A + v`), as many as
    keep the node's shape; None where none is dropped.

    >>> from symgrad.ops.tensor import matrix, vector, EXPAND_DIMS
    >>> row = apply(EXPAND_DIMS.bound((0,)), vector("v", 3))
    >>> [str(t) for t in broadcast_operands(matrix("A", (2, 3)) + row)]
    ['A', 'v']
    """
    a, b, op = binary_children(node)
    if op.infer_shape is not None:
        return None
    stripped_a, stripped_b = without_leading_axes(a), without_leading_axes(b)
    for new_a, new_b in ((stripped_a, stripped_b), (a, stripped_b), (stripped_a, b)):
        if (new_a is not a or new_b is not b) and shapes.broadcast(
                new_a.shape, new_b.shape, op.name) == node.shape:
            return new_a, new_b
    return None


def _broadcast_leading_axes(node: Tensor) -> Tensor | None:
    """A + expand_dims(v, axis=0) -> A + v, c*expand_dims(v, axis=0) -> expand_dims(c*v,
    axis=0): numpy's broadcasting adds new leading axes itself, so they are left to it where
    the other operand has the axes, and kept outermost where it is a number"""
    operands = broadcast_operands(node)
    if operands is not None:
        return apply(children_of(node).op, *operands)
    a, b, op = binary_children(node)
    for position, (operand, other) in enumerate(((a, b), (b, a))):
        inner = _leading_axes_of(operand)
        if inner is not None and not other.shape:
            operands = (inner, other) if position == 0 else (other, inner)
            return apply(children_of(operand).op, apply(op, *operands))
    return None


def _keeps_dims(op: Op) -> bool:
    """Whether a reduction keeps its reduced axes (its argument is (axes, keepdims))."""
    return isinstance(op.arg, tuple) and op.arg[1] is True


def _log_softmax(node: Tensor) -> Tensor | None:
    """log(softmax(z)) -> z - logsumexp(z), over every element (a vector's softmax)"""
    inner = children_of(node).a
    if inner.op is None or inner.op.name != "softmax" or inner.op.arg is not None:
        return None
    z = children_of(inner).a
    return apply(sub, z, logsumexp(z, axis=None))


def _function(rule: Rule, node: Tensor, context: Any) -> Candidate | None:
    result = rule.replacement(node)
    return None if result is None else Candidate(rule, rule.name, result, [])


MATRIX_RULES = RuleSet([
    Rule("(A@B).T -> B.T@A.T", (transpose_op,), _transpose_of_product),
    Rule("x.T@A -> A.T@x", (vecmat,), _row_vector_product),
    Rule("(A + B).T -> A.T + B.T", (transpose_op,), _transpose_of_sum),
    Rule("A@zeros_like(B) -> zeros_like(A@B)", (matmul_op, vecmat, inner, outer_op, kron_op,
                                                transpose_op, SUM, MEAN, trace_op, EXPAND_DIMS,
                                                diag_op, diagonal_op, solve_op, mul, div),
         _zeros_through),
    Rule("A@(c*x) -> c*(A@x)", (matmul_op, vecmat, inner, outer_op, kron_op, transpose_op, SUM,
                                MEAN, trace_op, EXPAND_DIMS, broadcast_like, diag_op,
                                diagonal_op, solve_op), _scalars_out),
    Rule("I@A -> A", (matmul_op,), _identity_product),
    Rule("2*(2*A) -> 4*A", (mul, div, neg), _folded_factors),
    Rule("s*(a/s + b) -> a + s*b", (mul,), _cancelling_distribution),
    Rule("sum(a, keepdims=True)*B -> sum(a)*B", (mul,), _whole_sum_kept),
    Rule("A + expand_dims(v, axis=0) -> A + v", (add, sub, mul, div), _broadcast_leading_axes),
    Rule("broadcast(expand_dims(v, axis=0), B) -> broadcast(v, B)", (broadcast_like,),
         _broadcast_without_leading_axes),
    Rule("ones_like(zeros_like(A)) -> ones_like(A)", (broadcast_like,), _like_of_like),
    Rule("2*A + A -> 3*A", (add, sub), _like_terms),
    Rule("A@x + B@x -> (A + B)@x", (add, sub), _common_operand),
    Rule("log(softmax(z)) -> z - logsumexp(z)", (log,), _log_softmax),
    Rule("sum(c*ones_like(B)) -> c*n", (SUM, MEAN), _sum_of_broadcast),
    Rule("expand_dims(sum(A, axis=k), k) -> sum(A, axis=k, keepdims=True)", (EXPAND_DIMS,),
         _kept_axes),
], call=_function)
"""The matrix identities (named functions), for the rewrite engine."""


def simplify_tensor(roots: list[Tensor], log: list[Rewrite] | None = None) -> list[Tensor]:
    """The graphs with matrix identities applied bottom-up by the rewrite engine; `log`
    collects the rewrites.

    >>> from symgrad.ops.tensor import matrix, vector
    >>> A, x = matrix("A", (3, 3)), vector("x", 3)
    >>> [str(t) for t in simplify_tensor([x @ A + A @ x])]
    ['(A + A.T)@x']
    """
    with gc_paused():
        engine = _ShapeKeeping(MATRIX_RULES, MAX_REWRITES_PER_NODE * len(toposort(roots)), log)
        done = engine.run(roots)
    return [done[root] for root in roots]


class _ShapeKeeping(Rewriter):
    """The rewrite engine, taking only rewrites that keep the node's shape (a rule that
    cancels the terms of full shape must broadcast what is left, or it changes a value)."""

    def accept(self, node: Tensor, candidate: Candidate) -> bool:
        return candidate.result.shape == node.shape
