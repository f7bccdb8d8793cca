"""Shapes of tensor expressions: numpy's broadcasting and matmul rules, with dimensions that are
sizes (`3`) or names (`"n"`), checked when a node is built. A scalar's shape is `()`.

Leans on nothing else in symgrad, so the graph layer can infer shapes as it builds nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Dim = int | str
Shape = tuple[Dim, ...]


class ShapeError(ValueError):
    """Operands whose shapes do not fit the op; the message names both shapes."""


def format_shape(shape: Shape) -> str:
    """`(3, 4)`, `(n,)`, `()`: dims written as sizes or bare names.

    >>> format_shape(("m", 3))
    '(m, 3)'
    """
    inner = ", ".join(str(dim) for dim in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def as_shape(shape: int | str | Iterable[Dim]) -> Shape:
    """A validated shape: non-negative ints and identifier names.

    >>> as_shape(3), as_shape(("m", 2))
    ((3,), ('m', 2))
    """
    dims = (shape,) if isinstance(shape, int | str) else tuple(shape)
    for dim in dims:
        valid = (isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0) or (
            isinstance(dim, str) and dim.isidentifier()
        )
        if not valid:
            raise ShapeError(f"a dimension is a size >= 0 or a name, got {dim!r}")
    return dims


def broadcast(a: Shape, b: Shape, op_name: str = "broadcast") -> Shape:
    """numpy's broadcast of two shapes: trailing dims match, or one of them is 1.

    >>> broadcast((3, 1), (4,))
    (3, 4)
    """
    ndim = max(len(a), len(b))
    padded_a = (1,) * (ndim - len(a)) + a
    padded_b = (1,) * (ndim - len(b)) + b
    dims = []
    for da, db in zip(padded_a, padded_b, strict=True):
        if da == db or db == 1:
            dims.append(da)
        elif da == 1:
            dims.append(db)
        else:
            raise ShapeError(
                f"{op_name}: shapes {format_shape(a)} and {format_shape(b)} do not broadcast "
                f"({da} against {db})"
            )
    return tuple(dims)


def matmul(a: Shape, b: Shape) -> Shape:
    """The shape of `a @ b` for vectors and matrices (numpy's rule for 1-D and 2-D).

    >>> matmul(("m", "n"), ("n",))
    ('m',)
    """
    if not (1 <= len(a) <= 2 and 1 <= len(b) <= 2):
        raise ShapeError(
            f"matmul takes vectors and matrices, got shapes {format_shape(a)} and "
            f"{format_shape(b)}"
        )
    if a[-1] != b[0]:
        raise ShapeError(
            f"matmul: shapes {format_shape(a)} and {format_shape(b)} do not align "
            f"({a[-1]} != {b[0]})"
        )
    return a[:-1] + b[1:]


def outer(a: Shape, b: Shape) -> Shape:
    """The shape of the outer product of two vectors.

    >>> outer((3,), ("n",))
    (3, 'n')
    """
    if len(a) != 1 or len(b) != 1:
        raise ShapeError(
            f"outer takes two vectors, got shapes {format_shape(a)} and {format_shape(b)}"
        )
    return a + b


def transpose(a: Shape) -> Shape:
    """The shape of a matrix's transpose.

    >>> transpose((2, 3))
    (3, 2)
    """
    if len(a) != 2:
        raise ShapeError(f"transpose takes a matrix, got shape {format_shape(a)}")
    return (a[1], a[0])


def normalize_axis(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...] | None:
    """Axes as sorted non-negative ints (None: every axis), or a ShapeError.

    >>> normalize_axis(-1, 2)
    (1,)
    """
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = []
    for item in axes:
        if not isinstance(item, int) or isinstance(item, bool) or not -ndim <= item < ndim:
            raise ShapeError(f"axis {item!r} is out of range for {ndim} dimension(s)")
        normalized.append(item % ndim)
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"axis {axis!r} repeats an axis")
    return tuple(sorted(normalized))


def reduce(a: Shape, axes: tuple[int, ...] | None, keepdims: bool) -> Shape:
    """The shape left after reducing `axes` (None: all) of a shape.

    >>> reduce((2, 3), (0,), False), reduce((2, 3), (0,), True), reduce((2, 3), None, False)
    ((3,), (1, 3), ())
    """
    if axes is None:
        return (1,) * len(a) if keepdims else ()
    if keepdims:
        return tuple(1 if index in axes else dim for index, dim in enumerate(a))
    return tuple(dim for index, dim in enumerate(a) if index not in axes)


def reduced_axes(big: Shape, small: Shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The axes of `big` along which `small` was repeated to broadcast to it: (leading axes
    that `small` lacks, axes where `small` has 1 and `big` does not). Summing over them, the
    second kind with keepdims, undoes the broadcast.

    >>> reduced_axes((5, 3, 4), (3, 1))
    ((0,), (2,))
    """
    extra = len(big) - len(small)  # big's axis i is small's axis i - extra
    leading = tuple(range(max(extra, 0)))
    ones = tuple(
        i for i in range(max(extra, 0), len(big)) if small[i - extra] == 1 and big[i] != 1
    )
    return leading, ones


def size(shape: Shape) -> int:
    """The number of elements, which needs every dimension to be a size.

    >>> size((2, 3))
    6
    """
    total = 1
    for dim in shape:
        if isinstance(dim, str):
            raise ShapeError(
                f"shape {format_shape(shape)} has the named dimension {dim!r}: "
                f"this needs sizes (give the shape as numbers)"
            )
        total *= dim
    return total


def bind_dims(declared: Shape, actual: tuple[int, ...], dims: dict[str, int], name: str) -> None:
    """Check an array's shape against a variable's declared shape, binding named dims in
    `dims` (so `n` is the same size everywhere) or raising a ShapeError naming both shapes."""
    mismatch = len(declared) != len(actual)
    if not mismatch:
        for want, got in zip(declared, actual, strict=True):
            if isinstance(want, str):
                if dims.setdefault(want, got) != got:
                    mismatch = True
            elif want != got:
                mismatch = True
    if mismatch:
        raise ShapeError(
            f"the value of {name!r} has shape {format_shape(actual)}, but {name} was declared "
            f"with shape {format_shape(declared)}"
            + (f" where {', '.join(f'{k}={v}' for k, v in dims.items())}" if dims else "")
        )
