"""Tensor ops: entries of the op table for vectors and matrices (`@`, `.T`, reductions over an
axis, `softmax`, `logsumexp`, `trace`, `outer`), and the shaped variables they act on.

Each op declares its shape rule (checked when a node is built) and its `pullback`: the adjoint
of each operand as a tensor graph, given the node's adjoint `g`. An adjoint may be smaller than
its node (a scalar `g` stands for `g` everywhere); `expand` makes it full-size where an op
needs that. Ops with a parameter (an axis) are interned per parameter, so nodes stay binary.
Elementwise ops are the scalar table's own (`ops.py`), broadcasting as numpy does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from symgrad.ir import shapes
from symgrad.ir.fold import apply
from symgrad.ir.graph import PROVIDED, Tensor, as_tensor, const, var
from symgrad.ir.sentinels import Zero
from symgrad.ops import scalar as ops
from symgrad.ops.scalar import PREC_MUL, PREC_POSTFIX, Op, mul

Axis = int | Sequence[int] | None

SCALAR_FORMS: dict[Op, Callable[..., np.ndarray]] = {}
"""Ops whose numpy function cannot run on object arrays of scalar Tensors register here how
to write them out in scalars (for `scalar_expansion`)."""


def _tensor_op(name: str, arity: int, numpy: Callable[..., Any], infer_shape: Callable,
               pullback: Callable, text: str, latex: str, **fields: Any) -> Op:
    def no_partials(a: Tensor, b: Tensor | None, out: Tensor) -> tuple:
        raise TypeError(f"{name} is a tensor op: its adjoints come from its pullback")

    def no_sympy(*operands: Any) -> Any:
        raise TypeError(f"{name} is a tensor op: sympy sees its scalar expansion")

    op = Op(name, arity, numpy, no_sympy, no_partials, latex=latex, text=text,
            infer_shape=infer_shape, pullback=pullback, **fields)
    ops.DECLARED_ELSEWHERE[name] = op
    return op


def expand(g: Tensor, like: Tensor) -> Tensor:
    """The adjoint `g` broadcast to the full shape of `like` (no node when it already is)."""
    if g.shape == like.shape:
        return g
    return apply(broadcast_like, g, like)


def unbroadcast(g: Tensor, operand: Tensor, like: Tensor) -> Tensor:
    """The adjoint of `operand` from the adjoint `g` of its broadcast to the shape of `like`:
    summed over the axes the broadcast repeated (a bias's adjoint sums over the batch).

    >>> X, b = matrix("X", (5, 3)), vector("b", 3)
    >>> str(unbroadcast(2 * X, b, X + b))
    'sum(2*X, axis=0)'
    """
    if operand.shape == like.shape:
        return g
    g = expand(g, like)  # a smaller adjoint stands for itself repeated: count every copy
    leading, ones = shapes.reduced_axes(like.shape, operand.shape)
    if ones:
        g = sum(g, axis=ones, keepdims=True)
    if leading:
        g = sum(g, axis=leading)
    return g


# --- products --------------------------------------------------------------------------


def _product_shape(name: str, left: str, right: str) -> Callable:
    """The shape rule of a product whose operands are `left` and `right` ("vector",
    "matrix" or "vector or matrix")."""
    ndims = {"vector": (1,), "matrix": (2,), "vector or matrix": (1, 2)}

    def infer(a: shapes.Shape, b: shapes.Shape) -> shapes.Shape:
        if len(a) not in ndims[left] or len(b) not in ndims[right]:
            raise shapes.ShapeError(f"{name} takes a {left} and a {right}, got shapes "
                                    f"{shapes.format_shape(a)} and {shapes.format_shape(b)}")
        return shapes.matmul(a, b)

    return infer


def _matmul_pullback(a: Tensor, b: Tensor, out: Tensor, g: Tensor) -> tuple:
    g = expand(g, out)
    # d(A@B) = dA@B + A@dB: A's adjoint is G@B.T (G x.T for a vector x), B's is A.T@G
    ga = outer(g, b) if len(b.shape) == 1 else matmul(g, transpose(b))
    return ga, matmul(transpose(a), g)


matmul_op = _tensor_op(
    "matmul", 2, np.matmul, _product_shape("matmul", "matrix", "vector or matrix"),
    _matmul_pullback, "{a}@{b}", "{a} {b}",
    symbol="@", precedence=PREC_MUL, doc="matrix product A@B, A@x",
)


def _vecmat_pullback(a: Tensor, b: Tensor, out: Tensor, g: Tensor) -> tuple:
    g = expand(g, out)
    return matmul(b, g), outer(a, g)


vecmat = _tensor_op(
    "vecmat", 2, np.matmul, _product_shape("vecmat", "vector", "matrix"), _vecmat_pullback,
    "{a}.T@{b}", "{a}^{{\\top}} {b}",
    symbol="@", precedence=PREC_MUL, doc="x@A for a vector x, the row vector x.T A",
)


inner = _tensor_op(
    "inner", 2, np.matmul, _product_shape("inner", "vector", "vector"),
    lambda a, b, out, g: (g * b, g * a),
    "{a}.T@{b}", "{a}^{{\\top}} {b}", symbol="@", precedence=PREC_MUL,
    doc="x@y for vectors, the inner product x.T y",
)


def _outer_pullback(a: Tensor, b: Tensor, out: Tensor, g: Tensor) -> tuple:
    g = expand(g, out)
    return matmul(g, b), matmul(transpose(g), a)


outer_op = _tensor_op(
    "outer", 2, np.outer, shapes.outer, _outer_pullback, "{a}@{b}.T", "{a} {b}^{{\\top}}",
    symbol="@", precedence=PREC_MUL, doc="the outer product of vectors, x y.T",
)


def _transpose_pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
    return (g if g.shape == () else transpose(expand(g, out)),)


def _fold_transpose(a: Tensor, b: None) -> Tensor | None:
    """A.T.T -> A, wherever a transpose is built (the simplifier rebuilds through `apply`)."""
    children = a.children
    return children.a if children is not None and children.op is transpose_op else None


transpose_op = _tensor_op(
    "transpose", 1, np.transpose, lambda a, b: shapes.transpose(a), _transpose_pullback,
    "{a}.T", "{a}^{{\\top}}", symbol=".T", precedence=PREC_POSTFIX, doc="a matrix's transpose",
    fold=_fold_transpose,
)


def matmul(a: Any, b: Any) -> Tensor:
    """`a @ b` for vectors and matrices, with numpy's meaning for 1-D operands.

    >>> W, x = matrix("W", (2, 3)), vector("x", 3)
    >>> (W @ x).shape, str(x @ W.T), (x @ x).shape
    ((2,), 'x.T@W.T', ())
    """
    a, b = as_tensor(a), as_tensor(b)
    if len(a.shape) == 1:
        return apply(inner if len(b.shape) == 1 else vecmat, a, b)
    return apply(matmul_op, a, b)


def outer(a: Any, b: Any) -> Tensor:
    """The outer product of two vectors, printed `a@b.T`.

    >>> str(outer(vector("u", 2), vector("v", 3)))
    'u@v.T'
    """
    return apply(outer_op, as_tensor(a), as_tensor(b))


def transpose(a: Any) -> Tensor:
    """A matrix's transpose; a vector or scalar is its own (as in numpy).

    >>> W = matrix("W", (2, 3))
    >>> transpose(W).shape, transpose(transpose(W)) is W
    ((3, 2), True)
    """
    a = as_tensor(a)
    if len(a.shape) < 2:
        return a
    return apply(transpose_op, a)  # A.T.T folds to A (the op's `fold`)


# --- reductions ------------------------------------------------------------------------


def _axes_key(axes: tuple[int, ...] | None) -> str:
    """The part of an op's name that says its axes: `_axis0_1`, or nothing for every axis."""
    return "" if axes is None else "_axis" + "_".join(map(str, axes))


def _dims_key(dims: shapes.Shape) -> str:
    """Dimensions in an op's name, each as its length and text (`N_k`, 2 -> `3_N_k_1_2`), so
    names with underscores read back as they were; a name with other than ASCII as the hex
    of its UTF-8 (`ℕ` -> `6ue28495`), so the op's name stays a name in generated code (where
    Python reads `ℕ` as `N`)."""
    keys = []
    for dim in dims:
        text = str(dim)
        if text.isascii():
            keys.append(f"{len(text)}_{text}")
        else:
            hexed = text.encode().hex()
            keys.append(f"{len(hexed)}u{hexed}")
    return "_".join(keys)


_DIM = re.compile(r"(\d+)([_u])")


def _dims_from_key(key: str) -> shapes.Shape | None:
    """The dimensions `_dims_key` wrote, or None for text it cannot have written."""
    dims: list[int | str] = []
    position = 0
    while position < len(key):
        if dims and key[position] == "_":
            position += 1
        match = _DIM.match(key, position)
        if match is None:
            return None
        position = match.end() + int(match.group(1))
        text = key[match.end() : position]
        if match.group(2) == "u":
            try:
                text = bytes.fromhex(text).decode()
            except ValueError:
                return None
        dims.append(int(text) if text.isdecimal() else text)
    return tuple(dims)


_PER_PARAMETER = re.compile(
    r"(?P<family>sum|mean|count|expand_dims|softmax|logsumexp)(?:_axis(?P<axes>\d+(?:_\d+)*))?"
    r"(?P<keepdims>_keepdims)?(?:_of_(?P<dims>\w+))?"
)


def op_made_per_parameter(name: str) -> Op | None:
    """The op of this module that a parameter (an axis) makes, found by its name and made now
    if this process has not made it yet; None if no such op has that name. A pickled graph and
    a compiled function name their ops, so they load in a process that never built them.

    >>> op_made_per_parameter("sum_axis0_keepdims").text
    'sum({a}, axis=0, keepdims=True)'
    >>> op_made_per_parameter("sum_axis1_0") is None  # never made: axes are sorted
    True
    """
    match = _PER_PARAMETER.fullmatch(name)
    if match is None:
        return None
    family, axes_text, keepdims, dims_text = match.group("family", "axes", "keepdims", "dims")
    axes = None if axes_text is None else tuple(int(axis) for axis in axes_text.split("_"))
    if axes is not None and axes != tuple(sorted(set(axes))):
        return None
    op: Op | None = None
    if dims_text is not None:
        dims = _dims_from_key(dims_text)
        if family == "count" and dims and not keepdims:
            op = _count_op(axes, dims)
    elif family in ("sum", "mean"):
        op = _sum_op(axes, keepdims is not None, family == "mean")
    elif keepdims is None and family in ("softmax", "logsumexp"):
        op = (_softmax_op if family == "softmax" else _logsumexp_op)(axes)
    elif keepdims is None and family == "expand_dims" and axes is not None:
        op = _expand_dims_op(axes)
    return op if op is not None and op.name == name else None


def _axis_text(axes: tuple[int, ...] | None, keepdims: bool) -> str:
    text = "" if axes is None else f", axis={axes[0] if len(axes) == 1 else axes}"
    return text + (", keepdims=True" if keepdims else "")


@functools.cache
def _sum_op(axes: tuple[int, ...] | None, keepdims: bool, mean: bool) -> Op:
    name = "mean" if mean else "sum"
    function = np.mean if mean else np.sum

    def numpy(a: Any) -> Any:
        return function(a, axis=axes, keepdims=keepdims)

    def pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
        if g.shape != () and not keepdims and axes is not None:
            g = apply(_expand_dims_op(axes), g)  # back in the reduced axes' places
        return (_over_count(g, a, axes) if mean else g,)

    axis_text = _axis_text(axes, keepdims)
    subscript = "" if axes is None else f"_{{{{{','.join(map(str, axes))}}}}}"  # _{0}
    latex = "\\operatorname{{" + name + "}}" + subscript + "\\left({a}\\right)"
    return _tensor_op(
        name + _axes_key(axes) + ("_keepdims" if keepdims else ""), 1, numpy,
        lambda a, b: shapes.reduce(a, shapes.normalize_axis(axes, len(a)), keepdims),
        pullback, f"{name}({{a}}{axis_text})", latex,
        doc=f"{name} over {'every axis' if axes is None else f'axis {axes}'}",
    )


def _over_count(g: Tensor, a: Tensor, axes: tuple[int, ...] | None) -> Tensor:
    """g/n for a mean of `a` over n elements: times a number for sizes, divided by a count
    node for named dimensions (printed as their names, g/(N*k))."""
    reduced = a.shape if axes is None else tuple(a.shape[axis] for axis in axes)
    if not any(isinstance(dim, str) for dim in reduced):
        return apply(mul, const(1 / shapes.size(reduced)), g)
    return apply(ops.div, g, apply(_count_op(axes, reduced), a))


@functools.cache
def _count_op(axes: tuple[int, ...] | None, dims: shapes.Shape) -> Op:
    text = "*".join(map(str, dims))

    def numpy(a: Any) -> float:
        dims = np.shape(a) if axes is None else [np.shape(a)[axis] for axis in axes]
        return float(np.prod(dims))

    return _tensor_op(
        "count" + _axes_key(axes) + "_of_" + _dims_key(dims), 1, numpy,
        lambda a, b: (), lambda a, b, out, g: (Zero(a.shape),),
        text if "*" not in text else f"({text})",
        text.replace("*", " "), doc="the number of elements a mean divides by",
    )


def _reduction(a: Any, axis: Axis, keepdims: bool, mean: bool) -> Tensor:
    a = as_tensor(a)
    if a.shape == () and axis is None:
        return a  # the sum (and mean) of one number
    axes = shapes.normalize_axis(axis, len(a.shape))
    if axes is not None and len(axes) == len(a.shape):
        axes = None if not keepdims else axes
    return apply(_sum_op(axes, keepdims, mean), a)


def sum(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """The sum of the elements, over every axis or over `axis`.

    >>> W = matrix("W", (2, 3))
    >>> sum(W).shape, sum(W, axis=0).shape, str(sum(W, axis=1))
    ((), (3,), 'sum(W, axis=1)')
    """
    return _reduction(a, axis, keepdims, mean=False)


def mean(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """The mean of the elements, over every axis or over `axis` (its gradient needs sizes).

    >>> str(mean(matrix("W", (2, 3)), axis=-1))
    'mean(W, axis=1)'
    """
    return _reduction(a, axis, keepdims, mean=True)


@functools.cache
def _expand_dims_op(axes: tuple[int, ...]) -> Op:
    def infer(a: shapes.Shape, b: None) -> shapes.Shape:
        dims = list(a)
        for axis in axes:
            dims.insert(axis, 1)
        return tuple(dims)

    def pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
        if g.shape == ():
            return (g,)
        return (apply(_sum_op(axes, False, False), expand(g, out)),)

    return _tensor_op(
        "expand_dims" + _axes_key(axes), 1,
        lambda a: np.expand_dims(a, axes), infer, pullback,
        f"expand_dims({{a}}, {axes[0] if len(axes) == 1 else axes})", "{a}",
        doc="the operand with new axes of length 1 (a reduction's adjoint, put back in place)",
    )


def _broadcast_shape(a: shapes.Shape, b: shapes.Shape) -> shapes.Shape:
    if shapes.broadcast(a, b, "broadcast_to") != b:
        raise shapes.ShapeError(f"broadcast_to: shape {shapes.format_shape(a)} does not "
                                f"broadcast to {shapes.format_shape(b)}")
    return b


broadcast_like = _tensor_op(
    "broadcast_like", 2, lambda a, b: np.broadcast_to(a, np.shape(b)), _broadcast_shape,
    lambda a, b, out, g: (unbroadcast(g, a, out), Zero(b.shape)), "broadcast_to({a}, {b}.shape)",
    "{a}",
    doc="a repeated to b's shape (b gives only its shape)",
)


def _eye_shape(a: shapes.Shape, b: None) -> shapes.Shape:
    if len(a) != 2 or a[0] != a[1]:
        raise shapes.ShapeError(f"trace takes a square matrix, got shape {shapes.format_shape(a)}")
    return a


eye_like = _tensor_op(
    "eye_like", 1, lambda a: np.eye(np.shape(a)[0]), _eye_shape,
    lambda a, b, out, g: (Zero(a.shape),),
    "eye_like({a})", "I", doc="the identity matrix of a square matrix's shape",
)


def _trace_pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
    return (g * apply(eye_like, a),)  # d tr(A) = tr(I dA)


trace_op = _tensor_op(
    "trace", 1, np.trace, lambda a, b: _eye_shape(a, b)[:0], _trace_pullback,
    "trace({a})", "\\operatorname{{tr}}\\left({a}\\right)", doc="the sum of the diagonal",
)


def trace(a: Any) -> Tensor:
    """The trace of a square matrix.

    >>> str(trace(matrix("A", (3, 3))))
    'trace(A)'
    """
    return apply(trace_op, as_tensor(a))


# --- softmax and logsumexp -------------------------------------------------------------


def _stable_logsumexp(a: Any, axes: tuple[int, ...] | None, keepdims: bool) -> Any:
    top = np.max(a, axis=axes, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    total = np.log(np.sum(np.exp(a - top), axis=axes, keepdims=True)) + top
    return total if keepdims else np.squeeze(total, axis=axes)


@functools.cache
def _softmax_op(axes: tuple[int, ...] | None) -> Op:
    def numpy(a: Any) -> Any:
        return np.exp(a - _stable_logsumexp(a, axes, keepdims=True))

    def pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
        # d softmax = s*(da - sum(s*da)): the adjoint is s*(g - sum(g*s))
        return (out * (g - sum(g * out, axis=axes, keepdims=True)),)

    op = _tensor_op(
        "softmax" + _axes_key(axes), 1, numpy,
        lambda a, b: a if axes is None or max(axes) < len(a) else _axis_error(axes, a),
        pullback, f"softmax({{a}}{_axis_text(axes, False)})",
        "\\operatorname{{softmax}}\\left({a}\\right)", doc="exp(a)/sum(exp(a)) along an axis",
    )
    SCALAR_FORMS[op] = lambda a: _exp(a) / np.sum(_exp(a), axis=axes, keepdims=True)
    return op


@functools.cache
def _logsumexp_op(axes: tuple[int, ...] | None) -> Op:
    def numpy(a: Any) -> Any:
        return _stable_logsumexp(a, axes, keepdims=False)

    def pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
        if g.shape != () and axes is not None:
            g = apply(_expand_dims_op(axes), g)
        return (g * apply(_softmax_op(axes), a),)

    op = _tensor_op(
        "logsumexp" + _axes_key(axes), 1, numpy,
        lambda a, b: shapes.reduce(a, axes, False),
        pullback, f"logsumexp({{a}}{_axis_text(axes, False)})",
        "\\operatorname{{logsumexp}}\\left({a}\\right)", doc="log(sum(exp(a))) along an axis",
    )
    SCALAR_FORMS[op] = lambda a: _log(np.sum(_exp(a), axis=axes))
    return op


def object_array(value: Any) -> np.ndarray:
    """An object array holding `value` (numpy gives a bare element for 0-d results)."""
    if isinstance(value, np.ndarray):
        return value
    array = np.empty((), dtype=object)
    array[()] = value
    return array


def elementwise(op: Callable[..., Any], *arrays: Any) -> np.ndarray:
    """`op` applied element by element to broadcast object arrays of scalar Tensors."""
    return object_array(np.frompyfunc(op, len(arrays), 1)(*map(object_array, arrays)))


def _exp(a: Any) -> np.ndarray:
    return elementwise(ops.exp, a)


def _log(a: Any) -> np.ndarray:
    return elementwise(ops.log, a)


def _axis_error(axes: tuple[int, ...], shape: shapes.Shape) -> shapes.Shape:
    raise shapes.ShapeError(f"axis {axes} is out of range for shape {shapes.format_shape(shape)}")


def _last_axis(a: Tensor, axis: Axis | Literal["last"]) -> tuple[int, ...] | None:
    if a.shape == ():
        raise shapes.ShapeError("softmax and logsumexp take a vector or matrix, got a scalar")
    axes = shapes.normalize_axis(-1 if axis == "last" else axis, len(a.shape))
    return None if axes is not None and len(axes) == len(a.shape) else axes


def softmax(a: Any, axis: Axis | Literal["last"] = "last") -> Tensor:
    """exp(a)/sum(exp(a)) over `axis` (by default the last; None: over every element).

    >>> str(softmax(vector("z", 3)))
    'softmax(z)'
    """
    a = as_tensor(a)
    return apply(_softmax_op(_last_axis(a, axis)), a)


def logsumexp(a: Any, axis: Axis | Literal["last"] = "last") -> Tensor:
    """log(sum(exp(a))) over `axis` (by default the last; None: over every element), computed
    without overflow.

    >>> str(logsumexp(vector("z", 3)))
    'logsumexp(z)'
    """
    a = as_tensor(a)
    return apply(_logsumexp_op(_last_axis(a, axis)), a)


# --- norms and shaped variables --------------------------------------------------------


def squared_norm(a: Any) -> Tensor:
    """||a||^2, the sum of the squared elements.

    >>> str(squared_norm(vector("x", 3)))
    'sum(x**2)'
    """
    return sum(as_tensor(a) ** 2)


def norm(a: Any) -> Tensor:
    """The Euclidean (Frobenius, for a matrix) norm ||a||.

    >>> str(norm(vector("x", 3)))
    'sqrt(sum(x**2))'
    """
    from symgrad.ops.scalar import sqrt

    return sqrt(squared_norm(a))


def matrix(name: str, shape: tuple[int | str, int | str], value: Any = None) -> Tensor:
    """The matrix variable `name` of `shape` (sizes or dimension names).

    >>> W = matrix("W", ("m", "n"))
    >>> W.shape, W.T.shape
    (('m', 'n'), ('n', 'm'))
    """
    dims = shapes.as_shape(shape)
    if len(dims) != 2:
        raise shapes.ShapeError(f"a matrix has two dimensions, got {shapes.format_shape(dims)}")
    return var(name, value, shape=dims)


def vector(name: str, size: int | str, value: Any = None) -> Tensor:
    """The vector variable `name` of `size` elements (a size or a dimension name).

    >>> vector("x", 3).shape
    (3,)
    """
    dims = shapes.as_shape(size)
    if len(dims) != 1:
        raise shapes.ShapeError(f"a vector has one dimension, got {shapes.format_shape(dims)}")
    return var(name, value, shape=dims)


TENSOR_OPS: dict[str, Op] = {
    op.name: op for op in (matmul_op, vecmat, inner, outer_op, transpose_op, broadcast_like,
                           trace_op, eye_like)
}
"""The tensor ops without a parameter, by name (reductions and softmax are made per axis)."""

__all__ = ["TENSOR_OPS", "unbroadcast", "expand", "inner", "logsumexp", "matmul", "matrix",
           "mean", "norm", "outer", "softmax", "squared_norm", "sum", "trace", "transpose",
           "vector"]


PROVIDED.matmul = matmul
PROVIDED.transpose = transpose
