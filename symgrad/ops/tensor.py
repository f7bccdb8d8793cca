"""Tensor ops: entries of the op table for vectors and matrices (`@`, `.T`, reductions over an
axis, `softmax`, `logsumexp`, `trace`, `outer`), and the shaped variables they act on.

Each op declares its shape rule (checked when a node is built) and its `pullback`: the adjoint
of each operand as a tensor graph, given the node's adjoint `g`. An adjoint may be smaller than
its node (a scalar `g` stands for `g` everywhere); `expand` makes it full-size where an op
needs that. An op with a parameter (an axis) is one row, bound per argument
(`SUM.bound((axes, keepdims))`), so nodes stay binary and a pickle names the op by (name, arg).
Elementwise ops are the scalar table's own (`scalar.py`), broadcasting as numpy does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from symgrad.ir import shapes
from symgrad.ir.fold import apply
from symgrad.ir.graph import PROVIDED, Tensor, as_tensor, children_of, var
from symgrad.ir.op import DECLARED_ELSEWHERE, PREC_MUL, PREC_POSTFIX, Op, no_interval
from symgrad.ir.sentinels import Zero
from symgrad.ops import scalar as ops
from symgrad.ops.scalar import sqrt

Axis = int | Sequence[int] | None

def tensor_op(name: str, arity: int, numpy: Callable[..., Any], infer_shape: Callable,
               pullback: Callable, text: str, latex: str, **fields: Any) -> Op:
    def no_partials(a: Tensor, b: Tensor | None, out: Tensor) -> tuple:
        raise TypeError(f"{name} is a tensor op: its adjoints come from its pullback")

    def no_sympy(*operands: Any) -> Any:
        raise TypeError(f"{name} is a tensor op: sympy sees its scalar expansion")

    op = Op(name, arity, numpy, no_sympy, no_partials, latex=latex, text=text,
            infer_shape=infer_shape, pullback=pullback, interval=no_interval, **fields)
    DECLARED_ELSEWHERE[name] = op
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


matmul_op = tensor_op(
    "matmul", 2, np.matmul, _product_shape("matmul", "matrix", "vector or matrix"),
    _matmul_pullback, "{a}@{b}", "{a} {b}",
    symbol="@", precedence=PREC_MUL, doc="matrix product A@B, A@x",
)


def _vecmat_pullback(a: Tensor, b: Tensor, out: Tensor, g: Tensor) -> tuple:
    g = expand(g, out)
    return matmul(b, g), outer(a, g)


vecmat = tensor_op(
    "vecmat", 2, np.matmul, _product_shape("vecmat", "vector", "matrix"), _vecmat_pullback,
    "{a}.T@{b}", "{a}^{{\\top}} {b}",
    symbol="@", precedence=PREC_MUL, doc="x@A for a vector x, the row vector x.T A",
)


inner = tensor_op(
    "inner", 2, np.matmul, _product_shape("inner", "vector", "vector"),
    lambda a, b, out, g: (g * b, g * a),
    "{a}.T@{b}", "{a}^{{\\top}} {b}", symbol="@", precedence=PREC_MUL,
    doc="x@y for vectors, the inner product x.T y",
)


def _outer_pullback(a: Tensor, b: Tensor, out: Tensor, g: Tensor) -> tuple:
    g = expand(g, out)
    return matmul(g, b), matmul(transpose(g), a)


outer_op = tensor_op(
    "outer", 2, np.outer, shapes.outer, _outer_pullback, "{a}@{b}.T", "{a} {b}^{{\\top}}",
    symbol="@", precedence=PREC_MUL, doc="the outer product of vectors, x y.T",
)


def _transpose_pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
    return (g if g.shape == () else transpose(expand(g, out)),)


def _fold_transpose(a: Tensor, b: None) -> Tensor | None:
    """A.T.T -> A, wherever a transpose is built (the simplifier rebuilds through `apply`)."""
    children = a.children
    return children.a if children is not None and children.op is transpose_op else None


transpose_op = tensor_op(
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


# --- ops with a parameter: one row each, bound per argument ------------------------------


def _parameterized(name: str, pullback: Callable, bind: Callable[[Any], dict[str, Any]],
                   doc: str) -> Op:
    """The row of a tensor op with a parameter (its axes): `row.bound(arg)` is the op for one
    argument, sharing the row's name and pullback (which reads `out.op.arg`), with the numpy
    function, shape rule, text and LaTeX that `bind(arg)` gives."""

    def unbound(*operands: Any) -> Any:
        raise TypeError(f"{name} takes a parameter: use the op its row binds, row.bound(arg)")

    return tensor_op(name, 1, unbound, unbound, pullback, "", "", bind=bind, doc=doc)


def _axes(arg: Any) -> tuple[int, ...] | None:
    """The axes an argument names: None (every axis) or sorted distinct axes; a ValueError
    for anything else (a pickle may carry anything)."""
    if arg is None:
        return None
    if not isinstance(arg, tuple) or not all(type(axis) is int and axis >= 0 for axis in arg) \
            or not arg or arg != tuple(sorted(set(arg))):
        raise ValueError(f"axes must be None or sorted distinct axes, got {arg!r}")
    return arg


def _arg(out: Tensor) -> Any:
    """The argument of the op of the node `out` (a pullback's own node)."""
    return children_of(out).op.arg


def _axis_text(axes: tuple[int, ...] | None, keepdims: bool) -> str:
    text = "" if axes is None else f", axis={axes[0] if len(axes) == 1 else axes}"
    return text + (", keepdims=True" if keepdims else "")


def _reduction_fields(name: str, function: Callable[..., Any]) -> Callable[[Any], dict]:
    """`bind` of sum and mean, whose argument is (axes, keepdims)."""

    def bind(arg: Any) -> dict[str, Any]:
        axes, keepdims = _axes(arg[0]), arg[1]
        if type(keepdims) is not bool:
            raise ValueError(f"keepdims must be True or False, got {keepdims!r}")
        subscript = "" if axes is None else f"_{{{{{','.join(map(str, axes))}}}}}"  # _{0}
        return dict(
            source=lambda a: function(a, axis=axes, keepdims=keepdims),
            infer_shape=lambda a, b: shapes.reduce(a, shapes.normalize_axis(axes, len(a)),
                                                   keepdims),
            text=f"{name}({{a}}{_axis_text(axes, keepdims)})",
            latex="\\operatorname{{" + name + "}}" + subscript + "\\left({a}\\right)",
            doc=f"{name} over {'every axis' if axes is None else f'axis {axes}'}",
        )

    return bind


def _sum_pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
    axes, keepdims = _arg(out)
    if g.shape != () and not keepdims and axes is not None:
        g = apply(EXPAND_DIMS.bound(axes), g)  # back in the reduced axes' places
    return (g,)


def _mean_pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
    (g,) = _sum_pullback(a, b, out, g)
    return (_over_count(g, a, _arg(out)[0]),)


SUM = _parameterized("sum", _sum_pullback, _reduction_fields("sum", np.sum),
                     "the sum over axes: bound to (axes, keepdims), axes None for every axis")
MEAN = _parameterized("mean", _mean_pullback, _reduction_fields("mean", np.mean),
                      "the mean over axes: bound to (axes, keepdims), axes None for every axis")


def _count_fields(arg: Any) -> dict[str, Any]:
    """`bind` of count, whose argument is (axes, dims): the named dimensions it multiplies."""
    axes, dims = _axes(arg[0]), arg[1]
    if not isinstance(dims, tuple) or not dims or not all(
            isinstance(dim, str) or type(dim) is int for dim in dims):
        raise ValueError(f"count takes the dimensions it multiplies, got {dims!r}")
    text = "*".join(map(str, dims))

    def numpy(a: Any) -> float:
        sizes = np.shape(a) if axes is None else [np.shape(a)[axis] for axis in axes]
        return float(np.prod(sizes))

    return dict(source=numpy, infer_shape=lambda a, b: (), latex=text.replace("*", " "),
                text=text if "*" not in text else f"({text})")


COUNT = _parameterized("count", lambda a, b, out, g: (Zero(a.shape),), _count_fields,
                       "the number of elements a mean divides by: bound to (axes, dims)")


def _over_count(g: Tensor, a: Tensor, axes: tuple[int, ...] | None) -> Tensor:
    """g/n for a mean of `a` over n elements: times a number for sizes, divided by a count
    node for named dimensions (printed as their names, g/(N*k))."""
    reduced = a.shape if axes is None else tuple(a.shape[axis] for axis in axes)
    if not any(isinstance(dim, str) for dim in reduced):
        return apply(ops.div, g, shapes.size(reduced))  # g/3, exact as typed: not 0.333...*g
    return apply(ops.div, g, apply(COUNT.bound((axes, reduced)), a))


def _reduction(a: Any, axis: Axis, keepdims: bool, mean: bool) -> Tensor:
    a = as_tensor(a)
    if a.shape == () and axis is None:
        return a  # the sum (and mean) of one number
    axes = shapes.normalize_axis(axis, len(a.shape))
    if axes is not None and len(axes) == len(a.shape):
        axes = None if not keepdims else axes
    return apply((MEAN if mean else SUM).bound((axes, keepdims)), a)


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


def _expand_dims_fields(arg: Any) -> dict[str, Any]:
    """`bind` of expand_dims, whose argument is the axes to insert."""
    axes = _axes(arg)
    if axes is None:
        raise ValueError("expand_dims takes the axes to insert, got None")

    def infer(a: shapes.Shape, b: None) -> shapes.Shape:
        dims = list(a)
        for axis in axes:
            dims.insert(axis, 1)
        return tuple(dims)

    return dict(source=lambda a: np.expand_dims(a, axes), infer_shape=infer, latex="{a}",
                text=f"expand_dims({{a}}, axis={axes[0] if len(axes) == 1 else axes})")


def _expand_dims_pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
    if g.shape == ():
        return (g,)
    return (apply(SUM.bound((_arg(out), False)), expand(g, out)),)


EXPAND_DIMS = _parameterized(
    "expand_dims", _expand_dims_pullback, _expand_dims_fields,
    "the operand with new axes of length 1 (a reduction's adjoint, put back in place)",
)


def _broadcast_shape(a: shapes.Shape, b: shapes.Shape) -> shapes.Shape:
    if shapes.broadcast(a, b, "broadcast_to") != b:
        raise shapes.ShapeError(f"broadcast_to: shape {shapes.format_shape(a)} does not "
                                f"broadcast to {shapes.format_shape(b)}")
    return b


broadcast_like = tensor_op(
    "broadcast_like", 2, lambda a, b: np.broadcast_to(a, np.shape(b)), _broadcast_shape,
    lambda a, b, out, g: (unbroadcast(g, a, out), Zero(b.shape)), "broadcast_to({a}, {b}.shape)",
    "{a}",
    doc="a repeated to b's shape (b gives only its shape)",
)


def _eye_shape(a: shapes.Shape, b: None) -> shapes.Shape:
    if len(a) != 2 or a[0] != a[1]:
        raise shapes.ShapeError(f"trace takes a square matrix, got shape {shapes.format_shape(a)}")
    return a


eye_like = tensor_op(
    "eye_like", 1, lambda a: np.eye(np.shape(a)[0]), _eye_shape,
    lambda a, b, out, g: (Zero(a.shape),),
    "identity({a})", "I", doc="the identity matrix of a square matrix's shape",
)


def _trace_pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
    return (g * apply(eye_like, a),)  # d tr(A) = tr(I dA)


trace_op = tensor_op(
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


def _softmax_fields(arg: Any) -> dict[str, Any]:
    """`bind` of softmax, whose argument is its axes (None: every element)."""
    axes = _axes(arg)
    return dict(
        source=lambda a: np.exp(a - _stable_logsumexp(a, axes, keepdims=True)),
        infer_shape=lambda a, b: a if axes is None or max(axes) < len(a)
        else _axis_error(axes, a),
        text=f"softmax({{a}}{_axis_text(axes, False)})",
        latex="\\operatorname{{softmax}}\\left({a}\\right)",
    )


def _softmax_pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
    # d softmax = s*(da - sum(s*da)): the adjoint is s*(g - sum(g*s))
    return (out * (g - sum(g * out, axis=_arg(out), keepdims=True)),)


def _logsumexp_fields(arg: Any) -> dict[str, Any]:
    """`bind` of logsumexp, whose argument is its axes (None: every element)."""
    axes = _axes(arg)
    return dict(
        source=lambda a: _stable_logsumexp(a, axes, keepdims=False),
        infer_shape=lambda a, b: shapes.reduce(a, axes, False),
        text=f"logsumexp({{a}}{_axis_text(axes, False)})",
        latex="\\operatorname{{logsumexp}}\\left({a}\\right)",
    )


def _logsumexp_pullback(a: Tensor, b: None, out: Tensor, g: Tensor) -> tuple:
    axes = _arg(out)
    if g.shape != () and axes is not None:
        g = apply(EXPAND_DIMS.bound(axes), g)
    return (g * apply(SOFTMAX.bound(axes), a),)


SOFTMAX = _parameterized("softmax", _softmax_pullback, _softmax_fields,
                         "exp(a)/sum(exp(a)) along axes: bound to its axes")
LOGSUMEXP = _parameterized("logsumexp", _logsumexp_pullback, _logsumexp_fields,
                           "log(sum(exp(a))) along axes: bound to its axes")

SCALAR_FORMS: dict[str, Callable[..., np.ndarray]] = {
    "softmax": lambda axes, a: _exp(a) / np.sum(_exp(a), axis=axes, keepdims=True),
    "logsumexp": lambda axes, a: _log(np.sum(_exp(a), axis=axes)),
}
"""Rows whose numpy function cannot run on object arrays of scalar Tensors, by name: how to
write them out in scalars (for `scalar_expansion`), given the op's `arg` and its operand."""


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
    return apply(SOFTMAX.bound(_last_axis(a, axis)), a)


def logsumexp(a: Any, axis: Axis | Literal["last"] = "last") -> Tensor:
    """log(sum(exp(a))) over `axis` (by default the last; None: over every element), computed
    without overflow.

    >>> str(logsumexp(vector("z", 3)))
    'logsumexp(z)'
    """
    a = as_tensor(a)
    return apply(LOGSUMEXP.bound(_last_axis(a, axis)), a)


# --- norms and shaped variables --------------------------------------------------------


def squared_norm(a: Any) -> Tensor:
    """||a||^2, the sum of the squared elements.

    >>> str(squared_norm(vector("x", 3)))
    'sum(x**2)'
    """
    return sum(as_tensor(a) ** 2)


def norm(a: Any) -> Tensor:
    """The Euclidean (Frobenius, for a matrix) norm ||a||: sqrt(sum(a**2)), printed norm(a).

    >>> str(norm(vector("x", 3))), norm(vector("x", 3)).op.name
    ('norm(x)', 'sqrt')
    """

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
"""The tensor ops without a parameter, by name (reductions and softmax are rows bound per
axis: `PARAMETERIZED`)."""
PARAMETERIZED: dict[str, Op] = {op.name: op for op in (SUM, MEAN, COUNT, EXPAND_DIMS, SOFTMAX,
                                                       LOGSUMEXP)}
"""The tensor ops with a parameter (their axes), by name: each row's `bound(arg)` is an op."""

__all__ = ["TENSOR_OPS", "unbroadcast", "expand", "inner", "logsumexp", "matmul", "matrix",
           "mean", "norm", "outer", "softmax", "squared_norm", "sum", "trace", "transpose",
           "vector"]


PROVIDED.matmul = matmul
PROVIDED.transpose = transpose
