"""Reverse mode for tensor expressions: what the one backward sweep (`diff.reverse_sweep`)
needs when a graph holds shaped nodes.

A tensor op gives its operands' adjoints by its `pullback`; an elementwise op by `partials`,
multiplied by the node's adjoint as for scalars. Where an operand was broadcast, its adjoint is
summed back over the repeated axes (`tensor_ops.unbroadcast`). An adjoint may stay smaller
than its node where it broadcasts (the 1 that seeds the sweep stands for 1 everywhere); a
gradient comes out with the shape of its variable.
"""

from __future__ import annotations

from collections.abc import Sequence

from symgrad.ir import shapes
from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor
from symgrad.ops.tensor import broadcast_like, expand, unbroadcast


def is_shaped(nodes: Sequence[Tensor]) -> bool:
    """Whether any of the nodes is a vector or matrix (scalars have shape ())."""
    return any(node.shape for node in nodes)


def is_zero(local: Tensor | int | float) -> bool:
    """Whether a local derivative is the number 0, or a constant that folded to 0, which
    contributes nothing (as `Zero` does)."""
    return local == 0 if isinstance(local, int | float) else local.number == 0


def check_scalar(f: Tensor) -> None:
    """Refuse a gradient of a shaped f, naming the reduction that makes it a scalar."""
    if f.shape != ():
        raise shapes.ShapeError(
            f"the gradient is of a scalar, but the expression has shape "
            f"{shapes.format_shape(f.shape)}: reduce it first, as in sum(f)"
        )


def shaped_like(adjoints: Sequence[Tensor], wrt: Sequence[Tensor]) -> list[Tensor]:
    """Each variable's adjoint made full-size: a gradient has its variable's shape."""
    return [g if g.shape == w.shape else apply(broadcast_like, g, w)
            for g, w in zip(adjoints, wrt, strict=True)]


__all__ = ["check_scalar", "expand", "is_shaped", "is_zero", "shaped_like", "unbroadcast"]
