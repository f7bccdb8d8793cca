"""Jacobians and Hessians, as lists of partials for scalars and as matrix formulas for vectors.

The Jacobian of a vector F with respect to a vector x comes from one reverse sweep: the
vector-Jacobian product v = J.T @ c, for a cotangent vector variable c, is linear in c, and
reading that linear map off v's graph gives J itself as a formula (`A@x -> A`,
`sigmoid(W@x) -> diag(sigmoid(W@x)*(1 - sigmoid(W@x)))@W`). The map is carried through v's
graph transposed, so it comes out as J with no transposes to push: c is the identity, and
each linear step multiplies on the right (A@u -> T@A.T, s*u -> T@diag(s), sum(u) -> sum(T,
axis=1)). The Hessian of a scalar f is the Jacobian of its gradient (`x.T@A@x -> A + A.T`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import numpy as np

from symgrad.autodiff import diff
from symgrad.ir import shapes
from symgrad.ir.fold import apply
from symgrad.ir.graph import PROVIDED, Tensor, as_tensor, const, toposort, var
from symgrad.ir.wrt import as_variables
from symgrad.ops import linalg, tensor
from symgrad.ops.scalar import add, div, mul, neg, select_zero, sub


class NotLinearError(ValueError):
    """A vector-Jacobian product this module cannot read as a matrix formula."""


class _Identity(NamedTuple):
    """The identity map of the cotangent, before it meets a matrix (then it is that matrix);
    `like` is the vector of that size, F itself."""

    like: Tensor


def _materialized(m: Tensor | _Identity) -> Tensor:
    if not isinstance(m, _Identity):
        return m
    size = m.like.shape[0]
    if isinstance(size, int):
        return const(np.eye(size))
    return apply(tensor.eye_like, linalg.diag(m.like))  # a named size: the identity of F's


def _diagonal_of(m: Tensor | _Identity) -> Tensor | None:
    """v when the map is diag(v), else None."""
    children = None if isinstance(m, _Identity) else m.children
    return children.a if children is not None and children.op is linalg.diag_op else None


def _times(m: Tensor | _Identity, right: Tensor) -> Tensor:
    """The map followed by multiplying with `right` on the right (transposed form);
    diag(t)@diag(s) is diag(t*s)."""
    if isinstance(m, _Identity):
        return right
    s = _diagonal_of(right)
    if s is not None:
        t = _diagonal_of(m)
        if t is not None:
            return linalg.diag(t * s)
        children = m.children  # X@diag(t) followed by diag(s): X@diag(t*s)
        if children is not None and children.op is tensor.matmul_op and children.b is not None:
            t = _diagonal_of(children.b)
            if t is not None:
                return tensor.matmul(children.a, linalg.diag(t * s))
    return tensor.matmul(m, right)


def _scaled(m: Tensor | _Identity, s: Tensor) -> Tensor:
    """The map of u -> s*u: a scalar s (or one entry spread, shape (1,)) scales, a vector s
    is diag(s)."""
    if s.shape in ((), (1,)):
        return s * _materialized(m)
    return _times(m, linalg.diag(s))


def _spread(m: Tensor, operand: Tensor | None, node: Tensor) -> Tensor:
    """The map of a number `operand` spread over the vector `node` (its map is a row: each
    of node's entries is that number, so the map's column repeats)."""
    if operand is not None and operand.shape == () and node.shape:
        return apply(tensor.EXPAND_DIMS.bound((1,)), m)  # (m,) -> (m, 1), broadcast along
    return m


def _map_of(node: Tensor, maps: dict[Tensor, Tensor | _Identity]) -> Tensor | _Identity:
    """The (transposed) linear map of `node` from the maps of its operands."""
    a, b, op = node.children  # type: ignore[misc]
    la, lb = maps.get(a), None if b is None else maps.get(b)
    if op in (add, sub) and la is not None and lb is not None:
        left, right = (_spread(_materialized(m), operand, node)
                       for m, operand in ((la, a), (lb, b)))
        return left + right if op is add else left - right
    if op is neg and la is not None:
        return -_materialized(la)
    if op is mul and (la is None) != (lb is None):
        linear, factor, m = (a, b, la) if la is not None else (b, a, lb)
        assert linear is not None and factor is not None and m is not None
        if linear.shape == () and factor.shape:  # a number u spread over a vector: outer
            return tensor.outer(_materialized(m), factor)
        if linear.shape == (1,) and factor.shape:  # one entry spread: broadcast
            return _materialized(m) * factor
        return _scaled(m, factor)
    if op is div and la is not None and lb is None:
        assert b is not None
        return _scaled(la, 1 / b)
    if op is select_zero and la is None and lb is not None:  # u where the condition holds
        return _scaled(lb, select_zero(a, const(1.0)))
    if op is tensor.matmul_op and la is None and lb is not None:  # A@u
        return _times(lb, tensor.transpose(a))
    if op is tensor.vecmat and la is not None and lb is None:  # u.T@A, the vector A.T@u
        assert b is not None
        return _times(la, b)
    if op is tensor.inner and (la is None) != (lb is None):  # s.T@u: a number
        factor, m = (b, la) if la is not None else (a, lb)
        assert factor is not None and m is not None
        return _times(m, factor)
    if op is tensor.transpose_op and la is not None:
        return la
    if op.name == "sum" and la is not None and len(a.shape) == 1:
        # sum(u) = 1.T@u: each row of the map summed (kept as a column to spread again)
        _, keepdims = cast(tuple, op.arg)  # sum's argument: (axes, keepdims)
        diagonal = _diagonal_of(la)
        if diagonal is not None and not keepdims:  # the rows of diag(t) sum to t
            return diagonal
        return tensor.sum(_materialized(la), axis=1, keepdims=keepdims)
    raise NotLinearError(f"cannot write the Jacobian as a matrix formula through "
                         f"{op.name}: take the gradient of each entry instead")


def _linear_map(v: Tensor, seed: Tensor, f: Tensor) -> Tensor:
    """M.T, for v = M@seed linear in `seed` (a cotangent of the vector f), as a formula."""
    maps: dict[Tensor, Tensor | _Identity] = {seed: _Identity(f)}
    for node in toposort(v):
        children = node.children
        if node is seed or children is None:
            continue
        if children.a in maps or (children.b is not None and children.b in maps):
            maps[node] = _map_of(node, maps)
    found = maps.get(v)
    if found is None:  # v does not depend on the seed: F does not depend on x
        shape = (*seed.shape, *v.shape)
        if not all(isinstance(dim, int) for dim in shape):
            raise shapes.ShapeError("a zero Jacobian of named dimensions: declare the sizes")
        return const(np.zeros(shape))
    return _materialized(found)


def matrix_jacobian(f: Tensor, x: Tensor) -> Tensor:
    """d f / d x as a formula: a matrix for vectors f and x (rows: f's entries), a vector
    when one of them is a scalar, the gradient for a scalar f.

    >>> from symgrad.ops.tensor import matrix, vector
    >>> A, x = matrix("A", (2, 3)), vector("x", 3)
    >>> str(matrix_jacobian(A @ x, x))
    'A'
    """
    f = as_tensor(f)
    if f.shape == ():
        return diff.gradient(f, x)
    if x.shape == ():
        try:  # an elementwise formula (of data arrays): its derivative entry by entry
            return tensor.expand(diff.grad(f, x), f)  # f's shape, a zero too
        except shapes.ShapeError:
            pass  # a reduction or product inside: the vector-Jacobian product below
    if len(f.shape) != 1 or len(x.shape) > 1:
        raise shapes.ShapeError(
            f"the expression has shape {shapes.format_shape(f.shape)}: reduce it first, as in "
            f"sum(f), for a gradient; a Jacobian as a matrix formula is of a vector by a "
            f"vector (here by shape {shapes.format_shape(x.shape)})")
    seed = var(f"_cotangent_{f.shape[0]}", shape=f.shape)
    v = diff.gradient(tensor.sum(seed * f), x)
    return _linear_map(v, seed, f)


def jacobian(fs: Tensor | Sequence[Tensor], wrt: Sequence[Tensor] | Tensor | str) -> Any:
    """The Jacobian. For scalar formulas, rows of partials: `J[i][j] = d fs[i] / d wrt[j]`;
    for a vector formula and a vector (or the lists of them), matrix formulas in place of
    the partials; `jacobian(F, x)` of one of each gives the one matrix.

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> [[str(p) for p in row] for row in jacobian([x * y, x + y], [x, y])]
    [['y', 'x'], ['1', '1']]
    >>> from symgrad.ops.tensor import matrix, vector
    >>> A, u = matrix("A", (2, 2)), vector("u", 2)
    >>> str(jacobian(A @ u, u))
    'A'
    """
    if isinstance(fs, Tensor):
        variables, single = as_variables(wrt, fs)
        if fs.shape or any(w.shape for w in variables):
            row = [matrix_jacobian(fs, w) for w in variables]
            return row[0] if single else row
        fs = [fs]
    rows = []
    for f in fs:
        variables = as_variables(wrt, f).variables
        if f.shape or any(w.shape for w in variables):
            rows.append([matrix_jacobian(f, w) for w in variables])
        else:
            rows.append(diff.gradient(f, variables))
    return rows


def hessian(f: Tensor, wrt: Sequence[Tensor] | Tensor | str) -> Any:
    """Second partials: `H[i][j] = d^2 f / d wrt[i] d wrt[j]`; for one vector x, the matrix
    formula d^2 f / dx^2.

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> [[str(p) for p in row] for row in hessian(x**2 * y, [x, y])]
    [['2*y', '2*x'], ['2*x', '0']]
    >>> from symgrad.ops.tensor import matrix, vector
    >>> A, u = matrix("A", (2, 2)), vector("u", 2)
    >>> str(hessian(u @ A @ u, u))
    'A + A.T'
    """
    variables, single = as_variables(wrt, f)
    if single and variables[0].shape:
        return matrix_jacobian(diff.gradient(f, variables[0]), variables[0])
    return jacobian(diff.gradient(f, variables), variables)


def grad(f: Tensor, wrt: Tensor | str) -> Tensor:
    """`f.grad(wrt)`: the derivative graph; for a vector f, its Jacobian as a matrix."""
    f = as_tensor(f)
    if f.shape:
        variables, single = as_variables(wrt, f)
        if not single:
            raise TypeError(f"grad differentiates by one variable, got {wrt!r}; for several, "
                            f"use jacobian(f, wrt)")
        return matrix_jacobian(f, variables[0])
    return diff.grad(f, wrt)


PROVIDED.grad = grad
