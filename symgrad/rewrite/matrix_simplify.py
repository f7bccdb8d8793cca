"""Simplifying tensor expressions with the identities of matrix algebra, so that gradients read
as people write them: `(A@B).T -> B.T@A.T`, `x.T@A -> A.T@x` (vectors as columns),
`A@x + B@x -> (A + B)@x`, `A@(c*x) -> c*A@x` for a scalar c, `I@A -> A`, `(1/c)*X -> X/c`,
`X + X -> 2*X`.

A rule set over the rewrite engine (`engine.py`): each node is rebuilt bottom-up from its
simplified operands (folding as it goes) and the rules applied until none fires;
`simplify.simplify` comes here for graphs with shaped nodes.
"""

from __future__ import annotations

from typing import Any

from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor, binary_children, children_of, gc_paused, toposort
from symgrad.ops.scalar import add, div, mul, sub
from symgrad.ops.tensor import (
    eye_like,
    matmul,
    matmul_op,
    outer,
    outer_op,
    transpose,
    transpose_op,
    vecmat,
)
from symgrad.rewrite.engine import Candidate, Rewrite, Rewriter, RuleSet
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


def _scalar_factor(node: Tensor) -> tuple[Tensor, Tensor] | None:
    """(c, x) when node is c*x with a scalar c."""
    if node.op is mul:
        c, x, _ = binary_children(node)
        if c.shape == () and x.shape:
            return c, x
    return None


def _scalar_out_of_product(node: Tensor) -> Tensor | None:
    """A@(c*x) -> c*(A@x), (c*x)@y.T -> c*(x@y.T): scalars lead the product"""
    if node.op not in (matmul_op, outer_op):
        return None
    build = matmul if node.op is matmul_op else outer
    a, b, _ = binary_children(node)
    for position, operand in enumerate((a, b)):
        factor = _scalar_factor(operand)
        if factor is not None:
            scalar, rest = factor
            return apply(mul, scalar, build(rest, b) if position == 0 else build(a, rest))
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


def _reciprocal_factor(node: Tensor) -> Tensor | None:
    """(1/c)*X -> X/c for a scalar c: a mean's 1/n reads as a division"""
    factor = _scalar_factor(node)
    if factor is not None and factor[0].op is div:
        one, c, _ = binary_children(factor[0])
        if one.number == 1:
            return apply(div, factor[1], c)
    return None


def _like_terms(node: Tensor) -> Tensor | None:
    """X + X -> 2*X"""
    children = node.children
    if children is not None and children.op is add and children.a is children.b:
        return apply(mul, 2, children.a)
    return None


def _function(rule: Rule, node: Tensor, context: Any) -> Candidate | None:
    result = rule.replacement(node)
    return None if result is None else Candidate(rule, rule.name, result, [])


MATRIX_RULES = RuleSet([
    Rule("(A@B).T -> B.T@A.T", (transpose_op,), _transpose_of_product),
    Rule("x.T@A -> A.T@x", (vecmat,), _row_vector_product),
    Rule("A@(c*x) -> c*(A@x)", (matmul_op, outer_op), _scalar_out_of_product),
    Rule("I@A -> A", (matmul_op,), _identity_product),
    Rule("A@x + B@x -> (A + B)@x", (add, sub), _common_operand),
    Rule("(1/c)*X -> X/c", (mul,), _reciprocal_factor),
    Rule("X + X -> 2*X", (add,), _like_terms),
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
        engine = Rewriter(MATRIX_RULES, MAX_REWRITES_PER_NODE * len(toposort(roots)), log)
        done = engine.run(roots)
    return [done[root] for root in roots]
