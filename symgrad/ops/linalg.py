"""Linear algebra ops: `inv`, `det`, `logdet`, `solve`, `diag`, `diagonal`, `kron`, each an
entry of the op table with the Matrix Cookbook's derivative as its pullback:

    d inv(X) = -inv(X) dX inv(X)          adjoint of X: -inv(X).T @ G @ inv(X).T
    d det(X) = det(X) tr(inv(X) dX)       adjoint of X: g*det(X)*inv(X).T
    d logdet(X) = tr(inv(X) dX)           adjoint of X: g*inv(X).T
    x = solve(A, b)                       adjoint of b: solve(A.T, G); of A: -(that)@x.T

Evaluation is numerically sound: `solve` never forms an inverse, `logdet` comes from
`slogdet` (NaN where the determinant is not positive, as log is). Shapes are checked as
nodes are built (square matrices, fitting right-hand sides); a singular matrix is
`numpy.linalg.LinAlgError` when evaluated. For `check`, each op also has a form in scalars
(cofactors: meant for the small sizes check samples).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from symgrad.ir import shapes
from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor, as_tensor
from symgrad.ir.op import Op
from symgrad.ops import scalar as ops
from symgrad.ops.tensor import (
    SCALAR_FORMS,
    expand,
    matmul,
    object_array,
    outer,
    tensor_op,
    transpose,
)


def _square(name: str, a: shapes.Shape) -> shapes.Shape:
    if len(a) != 2 or a[0] != a[1]:
        raise shapes.ShapeError(f"{name} takes a square matrix, got shape {shapes.format_shape(a)}")
    return a


# --- inverse, determinant, log-determinant -----------------------------------------------


def _inv_pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
    inverse_t = transpose(out)
    return (-matmul(matmul(inverse_t, expand(g, out)), inverse_t),)


def _fold_inverse(a: Tensor, b: None) -> Tensor | None:
    """inv(inv(A)) -> A, wherever an inverse is built."""
    children = a.children
    return children.a if children is not None and children.op is inv_op else None


inv_op = tensor_op(
    "inv", 1, np.linalg.inv, lambda a, b: _square("inv", a), _inv_pullback,
    "inv({a})", "{a}^{{-1}}", doc="a square matrix's inverse", fold=_fold_inverse,
)


def _det_pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
    return (g * out * transpose(inv(a)),)


det_op = tensor_op(
    "det", 1, np.linalg.det, lambda a, b: _square("det", a)[:0], _det_pullback,
    "det({a})", "\\det\\left({a}\\right)", doc="a square matrix's determinant",
)


def _logdet(a: Any) -> Any:
    sign, logabs = np.linalg.slogdet(a)
    return np.where(sign > 0, logabs, np.nan)[()]


logdet_op = tensor_op(
    "logdet", 1, _logdet, lambda a, b: _square("logdet", a)[:0],
    lambda a, b, out, g: (g * transpose(inv(a)),),
    "logdet({a})", "\\log\\det\\left({a}\\right)",
    doc="log(det(A)), from slogdet: NaN where det(A) <= 0",
)


def inv(a: Any) -> Tensor:
    """The inverse of a square matrix.

    >>> from symgrad.ops.tensor import matrix
    >>> A = matrix("A", (2, 2))
    >>> str(inv(A)), inv(inv(A)) is A
    ('inv(A)', True)
    """
    return apply(inv_op, as_tensor(a))


def det(a: Any) -> Tensor:
    """The determinant of a square matrix.

    >>> from symgrad.ops.tensor import matrix
    >>> str(det(matrix("A", (3, 3))).grad(matrix("A", (3, 3))))
    'det(A)*inv(A).T'
    """
    return apply(det_op, as_tensor(a))


def logdet(a: Any) -> Tensor:
    """log(det(a)) of a square matrix, computed stably (slogdet).

    >>> from symgrad.ops.tensor import matrix
    >>> S = matrix("S", (3, 3))
    >>> str(logdet(S).grad(S))
    'inv(S).T'
    """
    return apply(logdet_op, as_tensor(a))


# --- solve ----------------------------------------------------------------------------------


def _solve_shape(a: shapes.Shape, b: shapes.Shape) -> shapes.Shape:
    _square("solve", a)
    if len(b) not in (1, 2) or b[0] != a[0]:
        raise shapes.ShapeError(f"solve: the right-hand side has shape {shapes.format_shape(b)}, "
                                f"the matrix {shapes.format_shape(a)}: b needs {a[0]} rows")
    return b


def _solve_pullback(a: Tensor, b: Tensor, out: Tensor, g: Tensor) -> tuple:
    gb = solve(transpose(a), expand(g, out))
    ga = outer(gb, out) if len(out.shape) == 1 else matmul(gb, transpose(out))
    return -ga, gb


solve_op = tensor_op(
    "solve", 2, np.linalg.solve, _solve_shape, _solve_pullback,
    "solve({a}, {b})", "{a}^{{-1}} {b}",
    doc="x with A@x = b, by factorizing A (never forming inv(A))",
)


def solve(a: Any, b: Any) -> Tensor:
    """The solution x of `a @ x = b`, for a vector or matrix b.

    >>> from symgrad.ops.tensor import matrix, vector
    >>> A, b = matrix("A", (3, 3)), vector("b", 3)
    >>> str(solve(A, b)), solve(A, b).shape
    ('solve(A, b)', (3,))
    """
    return apply(solve_op, as_tensor(a), as_tensor(b))


# --- diagonals ------------------------------------------------------------------------------


def _diag_shape(a: shapes.Shape, b: None) -> shapes.Shape:
    if len(a) != 1:
        raise shapes.ShapeError(f"diag takes a vector, got shape {shapes.format_shape(a)}: "
                                "diagonal(A) reads a matrix's diagonal")
    return (a[0], a[0])


diag_op = tensor_op(
    "diag", 1, np.diag, _diag_shape, lambda a, b, out, g: (diagonal(expand(g, out)),),
    "diag({a})", "\\operatorname{{diag}}\\left({a}\\right)",
    doc="the square matrix with a vector on its diagonal",
)
diagonal_op = tensor_op(
    "diagonal", 1, np.diagonal, lambda a, b: _square("diagonal", a)[:1],
    lambda a, b, out, g: (diag(expand(g, out)),),
    "diagonal({a})", "\\operatorname{{diagonal}}\\left({a}\\right)",
    doc="a square matrix's diagonal, as a vector",
)


def diag(v: Any) -> Tensor:
    """The square matrix with the vector `v` on its diagonal, zeros elsewhere.

    >>> from symgrad.ops.tensor import vector
    >>> diag(vector("v", 3)).shape
    (3, 3)
    """
    return apply(diag_op, as_tensor(v))


def diagonal(a: Any) -> Tensor:
    """A square matrix's diagonal, as a vector."""
    return apply(diagonal_op, as_tensor(a))


# --- Kronecker product ----------------------------------------------------------------------


def _sizes(name: str, *shape_list: shapes.Shape) -> list[tuple[int, int]]:
    """The shapes as pairs of integer sizes: the Kronecker product's blocks need numbers."""
    for shape in shape_list:
        if len(shape) != 2 or not all(isinstance(dim, int) for dim in shape):
            raise shapes.ShapeError(f"{name} takes matrices of numeric sizes, got shape "
                                    f"{shapes.format_shape(shape)}")
    return [(int(shape[0]), int(shape[1])) for shape in shape_list]


def _kron_shape(a: shapes.Shape, b: shapes.Shape) -> shapes.Shape:
    (m, n), (p, q) = _sizes("kron", a, b)
    return (m * p, n * q)


def _blocks(g: Any, factor_shape: tuple[int, ...], left: bool) -> Any:
    """G of kron(A, B) as blocks G[i, k, j, l] (A's index i, j and B's k, l)."""
    rows, cols = np.shape(g)
    p, q = factor_shape
    if left:  # factor_shape is B's: A is (rows/p, cols/q)
        return np.reshape(g, (rows // p, p, cols // q, q))
    return np.reshape(g, (p, rows // p, q, cols // q))


def _left_factor_adjoint(g: Any, b: Any) -> Any:
    """sum over k, l of G[i, k, j, l]*B[k, l]: the adjoint of A in kron(A, B)."""
    return np.einsum("ikjl,kl->ij", _blocks(g, np.shape(b), left=True), b)


def _right_factor_adjoint(g: Any, a: Any) -> Any:
    """sum over i, j of G[i, k, j, l]*A[i, j]: the adjoint of B in kron(A, B)."""
    return np.einsum("ikjl,ij->kl", _blocks(g, np.shape(a), left=False), a)


def _quotient_shape(g: shapes.Shape, factor: shapes.Shape) -> shapes.Shape:
    (rows, cols), (p, q) = _sizes("kron's adjoint", g, factor)
    return (rows // p, cols // q)


kron_op: Op = tensor_op(
    "kron", 2, np.kron, _kron_shape,
    lambda a, b, out, g: (apply(kron_left, expand(g, out), b),
                          apply(kron_right, expand(g, out), a)),
    "kron({a}, {b})", "{a} \\otimes {b}", doc="the Kronecker product of two matrices",
)
kron_left: Op = tensor_op(
    "kron_left", 2, _left_factor_adjoint, _quotient_shape,
    lambda g, b, out, h: (kron(expand(h, out), b), apply(kron_right, g, expand(h, out))),
    "kron_left({a}, {b})", "\\operatorname{{kron\\_left}}\\left({a}, {b}\\right)",
    doc="the adjoint of A in kron(A, B), from the adjoint G of the product",
)
kron_right: Op = tensor_op(
    "kron_right", 2, _right_factor_adjoint, _quotient_shape,
    lambda g, a, out, h: (kron(a, expand(h, out)), apply(kron_left, g, expand(h, out))),
    "kron_right({a}, {b})", "\\operatorname{{kron\\_right}}\\left({a}, {b}\\right)",
    doc="the adjoint of B in kron(A, B), from the adjoint G of the product",
)


def kron(a: Any, b: Any) -> Tensor:
    """The Kronecker product of two matrices (numeric sizes).

    >>> from symgrad.ops.tensor import matrix
    >>> kron(matrix("A", (2, 3)), matrix("B", (4, 5))).shape
    (8, 15)
    """
    return apply(kron_op, as_tensor(a), as_tensor(b))


# --- in scalars, for check's independent expansion --------------------------------------


def _det_scalar(a: np.ndarray) -> Any:
    """Leibniz's formula on an object array of Tensors (n! terms: small matrices only)."""
    n = a.shape[0]
    total: Any = 0
    for permutation in itertools.permutations(range(n)):
        inversions = sum(1 for i, j in itertools.combinations(range(n), 2)
                         if permutation[i] > permutation[j])
        term = math.prod((a[i, permutation[i]] for i in range(n)), start=1)
        total = total + (-term if inversions % 2 else term)
    return total


def _inv_scalar(a: np.ndarray) -> np.ndarray:
    """The adjugate over the determinant."""
    n = a.shape[0]
    determinant = _det_scalar(a)
    inverse = np.empty((n, n), dtype=object)
    for i, j in itertools.product(range(n), repeat=2):
        minor = np.delete(np.delete(a, j, axis=0), i, axis=1)
        cofactor = _det_scalar(minor) if n > 1 else 1
        inverse[i, j] = (cofactor if (i + j) % 2 == 0 else -cofactor) / determinant
    return inverse


def _diag_scalar(v: np.ndarray) -> np.ndarray:
    out = np.full((len(v), len(v)), as_tensor(0), dtype=object)
    for i, value in enumerate(v):
        out[i, i] = value
    return out


SCALAR_FORMS.update({
    "inv": lambda _, a: _inv_scalar(a),
    "det": lambda _, a: object_array(_det_scalar(a)),
    "logdet": lambda _, a: object_array(ops.log(_det_scalar(a))),
    "solve": lambda _, a, b: np.matmul(_inv_scalar(a), b),
    "diag": lambda _, v: _diag_scalar(v),
})
