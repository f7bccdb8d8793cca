"""A tensor expression written out in scalars: every vector or matrix variable becomes one
scalar variable per element (`W` of shape (2, 3) gives `W_0_0` ... `W_1_2`), and every op its
scalar graph, so symgrad's scalar engine can differentiate the same function independently.

Works on numpy object arrays of scalar Tensors: elementwise ops broadcast through
`np.frompyfunc`, and the tensor ops' own numpy functions (matmul, sum, transpose, ...) run on
the object arrays, adding and multiplying Tensors; softmax and logsumexp register their forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from symgrad.ir import shapes
from symgrad.ir.graph import Tensor, as_tensor, name_of, toposort, var
from symgrad.ops.tensor import SCALAR_FORMS, elementwise


def _as_tensors(value: Any) -> np.ndarray:
    """An object array of Tensors, from numbers, Tensors or arrays of them."""
    return elementwise(as_tensor, np.asarray(value) if isinstance(value, np.ndarray) else value)


def element_name(name: str, index: tuple[int, ...]) -> str:
    """The scalar variable for one element: `W_1_2` for W[1, 2].

    >>> element_name("W", (1, 2))
    'W_1_2'
    """
    return "_".join([name, *map(str, index)])


def concrete_shape(shape: shapes.Shape, sizes: Mapping[str, int]) -> tuple[int, ...]:
    """A shape with its named dimensions replaced by their `sizes`."""
    try:
        return tuple(sizes[dim] if isinstance(dim, str) else dim for dim in shape)
    except KeyError as error:
        raise shapes.ShapeError(
            f"give a size for the dimension {error.args[0]!r}, as in sizes={{'{error.args[0]}': 3}}"
        ) from None


def element_variables(variable: Tensor, sizes: Mapping[str, int] | None = None) -> np.ndarray:
    """The scalar variables standing for the elements of `variable`, as an object array.

    >>> [str(v) for v in element_variables(var("x", shape=(2,)))]
    ['x_0', 'x_1']
    """
    shape = concrete_shape(variable.shape, sizes or {})
    elements = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        elements[index] = var(element_name(name_of(variable), index))
    return elements


def expand(f: Tensor, sizes: Mapping[str, int] | None = None) -> np.ndarray:
    """The scalar graphs of every element of `f`, as an object array of f's shape.

    >>> from symgrad.ops.tensor import vector
    >>> x = vector("x", 2)
    >>> str(expand(x @ x)[()])
    'x_0*x_0 + x_1*x_1'
    """
    values: dict[Tensor, np.ndarray] = {}
    for node in toposort(f):
        children = node.children
        if children is None:
            if node.is_var and node.shape:
                values[node] = element_variables(node, sizes)
            else:
                values[node] = _as_tensors(node if node.is_var else node.value)
            continue
        a, b, op = children
        operands = [values[a]] if b is None else [values[a], values[b]]
        scalar_form = SCALAR_FORMS.get(op.name)
        if scalar_form is not None:
            result = scalar_form(op.arg, *operands)
        elif op.infer_shape is None:  # elementwise: broadcast, one scalar node per element
            result = elementwise(op, *operands)
        else:  # matmul, sum, transpose, ...: numpy's own, adding and multiplying Tensors
            result = op.numpy(*operands)
        values[node] = _as_tensors(result)
    return values[f]


def expand_scalar(f: Tensor, sizes: Mapping[str, int] | None = None) -> Tensor:
    """A scalar tensor expression as one scalar graph."""
    if f.shape != ():
        raise shapes.ShapeError(f"expected a scalar, got shape {shapes.format_shape(f.shape)}")
    return expand(f, sizes).item()  # the one element of a 0-d object array


def element_values(env: Mapping[str, Any]) -> dict[str, float]:
    """The scalar variables' values for an environment of arrays: `W_0_1` from W[0, 1]."""
    values: dict[str, float] = {}
    for name, value in env.items():
        array = np.asarray(value, dtype=float)
        if array.ndim == 0:
            values[name] = float(array)
        for index in np.ndindex(*array.shape) if array.ndim else ():
            values[element_name(name, index)] = float(array[index])
    return values
