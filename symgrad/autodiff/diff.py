"""Differentiation: `grad` (forward mode, the 30-line Tensor design's recursive rule made
iterative and memoized) and `gradient` (reverse mode: one backward sweep gives every partial,
for scalar and tensor graphs alike), with `jacobian` and `hessian` built on them. Both sweeps
visit each node once, so derivatives of an N-node DAG cost O(N) time and nodes. Each sweep can
record its steps, which `explain` shows to users.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, overload

from symgrad.autodiff import matrix_diff
from symgrad.ir.fold import apply
from symgrad.ir.graph import (
    Tensor,
    as_tensor,
    check_names,
    const,
    gc_paused,
    toposort,
    var,
)
from symgrad.ir.op import Op
from symgrad.ir.sentinels import Local, NoDerivative, NoDerivativeError, Zero
from symgrad.ir.shapes import ShapeError
from symgrad.ir.wrt import as_variables
from symgrad.ops.scalar import COMPARISONS, add, eq, mul, ne, neg, select_zero
from symgrad.ops.tensor import unbroadcast


class Step(NamedTuple):
    """One application of the chain rule: `contribution = upstream * local`.

    Reverse mode: `node`'s adjoint `upstream` flows to its operand `operand` (at `position`
    0 for a, 1 for b) through the local derivative `local`; `total` is the operand's adjoint
    so far. Forward mode: the operand's derivative `upstream` flows up to `node`; `total` is
    node's derivative so far.
    """

    node: Tensor
    operand: Tensor
    position: int
    local: Tensor | int | float  # 1 and -1: add's and sub's operands
    upstream: Tensor
    contribution: Tensor
    total: Tensor


def _check_wrt(wrt: Tensor) -> Tensor:
    if not isinstance(wrt, Tensor):
        raise TypeError(f"differentiate with respect to a Tensor, got {type(wrt).__name__}")
    if wrt.is_const:
        raise TypeError(f"cannot differentiate with respect to the constant {wrt}")
    return wrt


def _no_derivative(op: Op, position: int) -> NoDerivativeError:
    return NoDerivativeError(f"{op.name} has no derivative in operand {position}")


def _product(upstream: Tensor, local: Tensor | int | float) -> Tensor:
    """upstream * local, the chain rule's product for one operand."""
    # select_zero is a strong zero: u*select_zero(c, v) = select_zero(c, u*v), kept outermost
    # (also through add's and sub's partials, 1 and -1) so that where's untaken branch
    # contributes exactly 0 even where its derivative is NaN (the trap of JAX's where, which
    # multiplies that NaN by 0).
    # (the op tests first: most products have no mask, and a call per product would show)
    mask = _masked(upstream) if upstream.op is select_zero else None
    if mask is not None:
        return apply(select_zero, mask.condition, _product(mask.masked, local))
    if local.__class__ is int:  # add's and sub's partials, 1 and -1: no product to build
        if local == 1:
            return upstream
        if local == -1:
            return apply(neg, upstream)
    if isinstance(local, Tensor) and local.op is select_zero:
        mask = _masked(local)
        if mask is not None:
            return apply(select_zero, mask.condition, _product(upstream, mask.masked))
    return apply(mul, upstream, local)


class _Mask(NamedTuple):
    condition: Tensor
    masked: Tensor


def _masked(node: Tensor) -> _Mask | None:
    """The operands of a node select_zero(condition, masked), else None."""
    children = node.children
    if children is None or children.op is not select_zero or children.b is None:
        return None
    return _Mask(children.a, children.b)


def _sum(total: Tensor, contribution: Tensor) -> Tensor:
    """total + contribution; two contributions masked by one condition share the mask."""
    total_mask = _masked(total) if total.op is select_zero else None
    contribution_mask = _masked(contribution) if contribution.op is select_zero else None
    if (
        total_mask is not None
        and contribution_mask is not None
        and total_mask.condition is contribution_mask.condition
    ):
        masked = apply(add, total_mask.masked, contribution_mask.masked)
        return apply(select_zero, total_mask.condition, masked)
    return apply(add, total, contribution)


class _Adjoints:
    """The adjoints of a reverse sweep, summed as contributions arrive, with the strong zero
    kept through sums: select_zero(c1, u) + select_zero(c2, v) is exactly 0 wherever neither
    condition holds, so the sum carries the condition "c1 or c2", and each product with a local
    derivative is masked by it, else a NaN local (sqrt's at x < 0) would turn that 0 to NaN."""

    def __init__(self) -> None:
        self.total: dict[Tensor, Tensor] = {}
        # the condition outside which a node's adjoint, a sum of masked terms, is exactly 0:
        # every product of that adjoint with a local derivative is masked by it (select_zero)
        self.zero_outside: dict[Tensor, Tensor] = {}

    def merge(self, operand: Tensor, previous: Tensor, contribution: Tensor) -> Tensor:
        """A second contribution to operand's adjoint `previous`: their sum, and its mask."""
        total = self.total[operand] = _sum(previous, contribution)
        if total.op is select_zero:  # the merge of one condition's masks keeps its mask
            self.zero_outside.pop(operand, None)
            return total
        condition = self.zero_outside.get(operand)
        if condition is None:
            condition = _mask_condition(previous)
            if condition is None:  # an unmasked term: the sum is zero outside no condition
                return total
        condition = _either(condition, _mask_condition(contribution))
        if condition is None:
            self.zero_outside.pop(operand, None)
        else:
            self.zero_outside[operand] = condition
        return total


def _mask_condition(node: Tensor) -> Tensor | None:
    mask = _masked(node) if node.op is select_zero else None
    return None if mask is None else mask.condition


def _either(c1: Tensor | None, c2: Tensor | None) -> Tensor | None:
    """A condition that holds where c1 or c2 does; None for "everywhere" (either is None, or
    one is the other's negation c == 0, as where's two branches are)."""
    if c1 is None or c2 is None or _negates(c1, c2) or _negates(c2, c1):
        return None
    if c1 is c2:
        return c1
    # conditions hold where nonzero: a count of those that hold is nonzero where either does
    return apply(add, _indicator(c1), _indicator(c2))


def _negates(c: Tensor, other: Tensor) -> bool:
    """Whether c is the condition other == 0."""
    children = c.children
    return (children is not None and children.op is eq and children.a is other
            and children.b is not None and children.b.number == 0)


def _indicator(c: Tensor) -> Tensor:
    """1 where the condition c holds (is nonzero, or NaN as select_zero has it), else 0."""
    return c if c.op in COMPARISONS else apply(ne, c, 0)


def forward_sweep(f: Tensor, wrt: Tensor, record: list[Step] | None = None) -> dict[Tensor, Tensor]:
    """d node / d wrt for every node of f that depends on wrt, keyed by node."""
    _check_wrt(wrt)
    order = toposort(f)
    check_names(order, [wrt])
    if matrix_diff.is_shaped(order):
        raise ShapeError("forward mode takes scalar graphs; differentiate tensor expressions "
                         "with grad or gradient (reverse mode)")
    return _forward_sweep(order, wrt, record)


def _forward_sweep(
    order: list[Tensor], wrt: Tensor, record: list[Step] | None = None
) -> dict[Tensor, Tensor]:
    derivative: dict[Tensor, Tensor] = {}
    with gc_paused():
        for node in order:
            if node is wrt:
                derivative[node] = const(1)
                continue
            if node.children is None:
                continue
            a, b, op = node.children
            operands = (a,) if b is None else (a, b)
            if not any(operand in derivative for operand in operands):
                continue
            total = None
            local_derivatives: tuple[Local, ...] = op.partials(a, b, node)
            for position, operand in enumerate(operands):
                upstream = derivative.get(operand)
                if upstream is None:
                    continue
                local = local_derivatives[position]
                if isinstance(local, NoDerivative):
                    raise _no_derivative(op, position)
                if isinstance(local, Zero) or matrix_diff.is_zero(local):
                    continue  # a strong zero, as in the reverse sweep
                contribution = _product(upstream, local)
                total = contribution if total is None else _sum(total, contribution)
                if record is not None:
                    record.append(Step(node, operand, position, local, upstream, contribution,
                                       total))
            if total is not None:  # some operand depends on wrt, so there is a total
                derivative[node] = total
    return derivative


def _one_variable(wrt: Tensor | str, f: Tensor) -> Tensor:
    variables, single = as_variables(wrt, f)
    if not single:
        raise TypeError(f"grad differentiates by one variable, got {wrt!r}; for several, "
                        f"use gradient(f, wrt)")
    return variables[0]


def grad(f: Tensor, wrt: Tensor | str) -> Tensor:
    """The derivative graph d f / d wrt (a variable or its name).

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> str(grad(x * y + x, x))
    'y + 1'
    """
    wrt = _one_variable(wrt, f)
    if not wrt.shape:
        order = toposort(f)
        if _elementwise(order, [wrt]):
            check_names(order, [wrt])
            return _forward_sweep(order, wrt).get(f, const(0))
    # Tensor expressions: reverse mode, which gives the gradient the shape of `wrt`
    return gradient(f, [wrt])[0]


def _elementwise(order: list[Tensor], wrt: Sequence[Tensor]) -> bool:
    """Whether every op of the graph acts element by element and every `wrt` is a scalar.
    Then each element of f is a scalar formula of the wrt (an array in it is a batch of
    points, like an array bound to a scalar variable), differentiated element by element;
    a reduction (`sum`) or product (`@`) needs the tensor sweep, which sums adjoints back."""
    return not matrix_diff.is_shaped(wrt) and (
        not matrix_diff.is_shaped(order) or all(node.op is None or node.op.pullback is None
                                               for node in order)
    )


def reverse_sweep(
    f: Tensor, wrt: Sequence[Tensor], record: list[Step] | None = None
) -> dict[Tensor, Tensor]:
    """Adjoints d f / d node for every node between f and the `wrt` nodes, keyed by node.

    Only operands that depend on some `wrt` node receive an adjoint, so no work is spent on
    branches that cannot reach them.
    """
    targets = {_check_wrt(w) for w in wrt}
    order = toposort(f)
    check_names(order, wrt)
    active: set[Tensor] = set()
    for node in order:
        children = node.children
        if node in targets or (
            children is not None
            and (children.a in active or (children.b is not None and children.b in active))
        ):
            active.add(node)
    shaped = not _elementwise(order, wrt)
    if shaped:
        matrix_diff.check_scalar(f)
    adjoints = _Adjoints()
    totals, zero_outside = adjoints.total, adjoints.zero_outside  # the hot loop's lookups
    if f in active:
        totals[f] = const(1)
    with gc_paused():
        for node in reversed(order):
            upstream = totals.get(node)
            children = node.children
            # A wrt node is independent: its own operands are not differentiated through; a
            # zero adjoint is a strong zero, 0 even against a NaN local derivative.
            if upstream is None or children is None or node in targets or upstream.number == 0:
                continue
            a, b, op = children
            operands = (a,) if b is None else (a, b)
            mask = zero_outside.get(node)
            # a tensor op gives its operands' adjoints itself (its pullback), an elementwise
            # op its local derivatives (its partials)
            pulled = op.pullback is not None
            local_derivatives: tuple[Local, ...] = (
                op.pullback(a, b, node, upstream) if op.pullback is not None
                else op.partials(a, b, node))
            for position, operand in enumerate(operands):
                if operand not in active:
                    continue
                local = local_derivatives[position]
                if isinstance(local, Zero):
                    continue  # a strong zero: a comparison's derivative, a shape-only operand
                if isinstance(local, NoDerivative):
                    raise _no_derivative(op, position)
                if not pulled:
                    if (local.number if isinstance(local, Tensor) else local) == 0:
                        continue  # a local derivative that folded to 0 is a strong zero too
                    contribution = _product(upstream, local)
                    if mask is not None:  # exactly 0 where the adjoint is: even against NaN
                        contribution = apply(select_zero, mask, contribution)
                    if shaped:  # summed back where the operand was broadcast
                        contribution = unbroadcast(contribution, operand, node)
                else:
                    contribution = as_tensor(local)
                previous = totals.get(operand)
                if previous is None:
                    totals[operand] = total = contribution
                else:
                    total = adjoints.merge(operand, previous, contribution)
                if record is not None:
                    if op.pullback is not None:  # the pullback of an upstream called delta
                        local = op.pullback(a, b, node, upstream_symbol(upstream))[position]
                    record.append(Step(node, operand, position, local, upstream, contribution,
                                       total))
    return adjoints.total


def upstream_symbol(upstream: Tensor) -> Tensor:
    """The variable `delta` of the upstream adjoint's shape: a tensor op's local step is its
    pullback applied to it (`W.T@delta` for the operand x of W@x), as backprop is written."""
    return var(UPSTREAM, shape=upstream.shape)


UPSTREAM = "delta"
"""The name a tensor op's local step calls the upstream adjoint (printed δ in LaTeX)."""


@overload
def gradient(f: Tensor, wrt: Tensor) -> Tensor: ...
@overload
def gradient(f: Tensor, wrt: str) -> Any: ...  # "x": a partial; "x y": a list
@overload
def gradient(f: Tensor, wrt: Sequence[Tensor | str]) -> list[Tensor]: ...
def gradient(f: Tensor, wrt: Tensor | str | Sequence[Tensor | str]) -> Tensor | list[Tensor]:
    """The partials of a scalar f with respect to each of `wrt`, by one reverse sweep; one
    variable (not in a list) gives its one partial. (`sg.gradient` also takes `stable=True`:
    `symgrad.api.gradient`.)

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> [str(p) for p in gradient(x * y + x, [x, y])]
    ['y + 1', 'x']
    >>> str(gradient(x * y + x, x))
    'y + 1'
    """
    f = as_tensor(f)
    variables, single = as_variables(wrt, f)
    adjoint = reverse_sweep(f, variables)
    partials = [adjoint.get(w, const(0)) for w in variables]
    if matrix_diff.is_shaped(variables):
        partials = matrix_diff.shaped_like(partials, variables)
    return partials[0] if single else partials


def diff(f: Tensor, wrt: Tensor | str) -> Tensor:
    """d f / d wrt, sympy's spelling of `f.grad(wrt)`.

    >>> from symgrad.ir.graph import var
    >>> x = var("x")
    >>> str(diff(x**3, x))
    '3*x**2'
    """
    return grad(as_tensor(f), wrt)
