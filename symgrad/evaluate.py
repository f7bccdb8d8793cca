"""Numeric evaluation with numpy: every shared node is computed once, iteratively, and arrays
broadcast. Variables take their values from `env`, falling back to the values bound to them.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from symgrad.graph import Tensor, gc_paused, to_float, toposort
from symgrad.shapes import bind_dims


class UnboundVariableError(LookupError):
    """A variable the graph needs has no value."""

    def __init__(self, name: str):
        super().__init__(
            f"variable {name!r} has no value: bind it (var({name!r}, value)) or pass it, "
            f"as in evaluate(t, {{{name!r}: 1.0}})"
        )
        self.name = name


def real_input(name: str | None, value: Any) -> Any:
    """`value` itself if it is a real number, else it as a numeric numpy array; a TypeError
    naming the variable for anything else (None, text, a Tensor, objects).

    >>> real_input("x", [1, 2])
    array([1, 2])
    """
    if isinstance(value, float | int) and not isinstance(value, bool):
        return value
    if isinstance(value, Tensor):
        raise TypeError(f"the value of {name!r} must be a number or array, not a Tensor")
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return value
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged lists and the like
        raise TypeError(f"the value of {name!r} is not a numeric array: {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"the value of {name!r} must be a real number or numeric array, "
            f"got {type(value).__name__} {value!r:.40}"
        )
    return array


def check_value(name: str | None, value: Any) -> Any:
    """`value` as a float or float array, or a TypeError naming the variable."""
    value = real_input(name, value)
    if isinstance(value, np.ndarray):
        return value.astype(float)
    return to_float(value)


def _bindings(env: Mapping[Any, Any] | None) -> dict[str, Any]:
    bindings: dict[str, Any] = {}
    for key, value in (env or {}).items():
        if isinstance(key, Tensor):
            if not key.is_var:
                raise TypeError(f"env keys must be variables or names, got the expression {key}")
            key = key.name
        elif not isinstance(key, str):
            raise TypeError(f"env keys must be variables or names, got {key!r}")
        bindings[key] = check_value(key, value)
    return bindings


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def evaluate(outputs: Tensor | Iterable[Tensor], env: Mapping[Any, Any] | None = None) -> Any:
    """The value of a Tensor, or a list of values for a list of Tensors.

    >>> from symgrad.graph import variables
    >>> x, y = variables("x y")
    >>> evaluate(x * y + 1, {"x": 2, y: np.array([1.0, 2.0])})
    array([3., 5.])
    """
    single = isinstance(outputs, Tensor)
    roots = [outputs] if single else list(outputs)
    bindings = _bindings(env)
    with gc_paused():
        results = _evaluate(roots, bindings)
    return results[0] if single else results


def _evaluate(roots: list[Tensor], bindings: dict[str, Any]) -> list[Any]:
    values: dict[Tensor, Any] = {}
    dims: dict[str, int] = {}  # sizes of named dimensions, bound by the first array seen
    for node in toposort(roots):
        children = node.children
        if children is None:
            if node.name is None:
                value = node._value
            else:
                value = bindings.get(node.name, node._value)
                if value is None:
                    raise UnboundVariableError(node.name)
                if node.shape:
                    bind_dims(node.shape, np.shape(value), dims, node.name)
        elif children.b is None:
            value = children.op.numpy(values[children.a])
        else:
            value = children.op.numpy(values[children.a], values[children.b])
        values[node] = value
    # Scalars come back as Python floats, arrays as arrays.
    return [_plain(values[root]) for root in roots]
