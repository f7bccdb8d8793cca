"""Reverse mode for tensor expressions: the backward sweep with adjoints as tensor graphs.

A tensor op gives its operands' adjoints by its `pullback`; an elementwise op by `partials`,
multiplied by the node's adjoint. Where an operand was broadcast, its adjoint is summed back
over the repeated axes (`tensor_ops.unbroadcast`). An adjoint may stay smaller than its node
where it broadcasts (the 1 that seeds the sweep stands for 1 everywhere); a gradient comes out
with the shape of its variable. `diff.gradient` and `Tensor.grad` come here when a graph holds
shaped nodes.
"""

from __future__ import annotations

from collections.abc import Sequence

from symgrad import shapes
from symgrad.fold import apply
from symgrad.graph import Tensor, children_of, const, gc_paused
from symgrad.ops import add, mul
from symgrad.tensor_ops import broadcast_like, expand, unbroadcast


def is_shaped(nodes: Sequence[Tensor]) -> bool:
    """Whether any of the nodes is a vector or matrix (scalars have shape ())."""
    return any(node.shape for node in nodes)


def _contributions(node: Tensor, upstream: Tensor) -> tuple:
    """The adjoint contributions to each operand of `node`, given its adjoint `upstream`."""
    a, b, op = children_of(node)
    if op.pullback is not None:
        return op.pullback(a, b, node, upstream)
    # elementwise: the local derivative times the adjoint (folding takes 1*g and -1*g), summed
    # back where the operand was broadcast; a zero local derivative contributes nothing
    return tuple(
        None if local is None else 0 if _is_zero(local)
        else unbroadcast(apply(mul, upstream, local), operand, node)
        for local, operand in zip(op.partials(a, b, node), (a,) if b is None else (a, b),
                                  strict=False)
    )


def _is_zero(local: Tensor | int | float) -> bool:
    return local == 0 if isinstance(local, int | float) else local.number == 0


def _check_scalar(f: Tensor) -> None:
    if f.shape != ():
        raise shapes.ShapeError(
            f"the gradient is of a scalar, but the expression has shape "
            f"{shapes.format_shape(f.shape)}: reduce it first, as in sum(f)"
        )


def reverse_sweep(
    f: Tensor, order: list[Tensor], targets: set[Tensor], active: set[Tensor]
) -> dict[Tensor, Tensor]:
    """Adjoints d f / d node for every node between a scalar f and the targets, each of a
    shape that broadcasts to its node's; `order` is f's graph, operands first, and `active`
    its nodes that depend on a target (`diff.reverse_sweep` finds both)."""
    _check_scalar(f)
    adjoint: dict[Tensor, Tensor] = {}
    if f in active:
        adjoint[f] = const(1)
    with gc_paused():
        for node in reversed(order):
            upstream = adjoint.get(node)
            if upstream is None or node.children is None or node in targets:
                continue
            a, b, op = node.children
            operands = (a,) if b is None else (a, b)
            for position, contribution in enumerate(_contributions(node, upstream)):
                operand = operands[position]
                if operand not in active or (isinstance(contribution, int) and contribution == 0):
                    continue  # a 0 marks an operand that gives only its shape
                if contribution is None:
                    raise ValueError(f"{op.name} has no derivative in operand {position}")
                previous = adjoint.get(operand)
                adjoint[operand] = (
                    contribution if previous is None else apply(add, previous, contribution)
                )
    return adjoint


def shaped_like(adjoints: Sequence[Tensor], wrt: Sequence[Tensor]) -> list[Tensor]:
    """Each variable's adjoint made full-size: a gradient has its variable's shape."""
    return [g if g.shape == w.shape else apply(broadcast_like, g, w)
            for g, w in zip(adjoints, wrt, strict=True)]


__all__ = ["expand", "is_shaped", "reverse_sweep", "shaped_like", "unbroadcast"]
