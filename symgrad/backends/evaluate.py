"""Numeric evaluation with numpy: every shared node is computed once, iteratively, and arrays
broadcast. Variables take their values from `env`, falling back to the values bound to them.
`evaluate` gives the outputs' values; `node_values`, on the same walk, every node's, and can
start from values already known.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from symgrad.ir.graph import (
    PROVIDED,
    Tensor,
    as_tensor,
    check_names,
    gc_paused,
    to_float,
    toposort,
)
from symgrad.ir.shapes import bind_dims


class UnboundVariableError(LookupError):
    """A variable the graph needs has no value; `near` is an env name that looks like a typo
    for it (`"Y"` for y)."""

    def __init__(self, name: str, near: str | None = None):
        typo = "" if near is None else f" (env has {near!r}: a typo?)"
        super().__init__(
            f"variable {name!r} has no value{typo}: bind it (var({name!r}, value)) or pass "
            f"it, as in evaluate(t, {{{name!r}: 1.0}})"
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
    """Scalars as Python floats (a constant output 3 is 3.0, like any other), arrays as
    float arrays."""
    if isinstance(value, np.ndarray):
        return value if value.dtype.kind == "f" else value.astype(float)
    if isinstance(value, np.generic):
        value = value.item()
    return float(value) if isinstance(value, int) else value


def evaluate(outputs: Any, env: Mapping[Any, Any] | None = None) -> Any:
    """The value of a Tensor, or values shaped like `outputs` for a list or nested lists of
    Tensors (a `jacobian` or `hessian`). A scalar variable bound to an array is a batch of
    points; outputs evaluated together at a batch all have its shape, so a constant
    derivative listed beside f(xs) is an array like xs. Entries of `env` for variables the
    outputs do not hold change no value and no shape.

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> evaluate(x * y + 1, {"x": 2, y: np.array([1.0, 2.0])})
    array([3., 5.])
    >>> evaluate([[x * y, x], [3, y]], {"x": 2, "y": 5})
    [[10.0, 2.0], [3.0, 5.0]]
    >>> f = 3 * x + 1
    >>> evaluate([f, f.grad(x)], {"x": np.array([0.0, 1.0, 2.0])})
    [array([1., 4., 7.]), array([3., 3., 3.])]
    >>> evaluate(f.grad(x), {"x": np.array([0.0, 1.0, 2.0])})
    3.0
    """
    single = isinstance(outputs, Tensor)
    roots = [outputs] if single else _flatten(outputs)
    bindings = _bindings(env)
    with gc_paused():
        order = toposort(roots)
        check_names(order)  # before any value is read: a clash, not a shape error, is the news
        values = _walk(order, bindings, {}, partial=False)
        # Scalars come back as Python floats, arrays as arrays.
        results = _broadcast([_plain(values[root]) for root in roots], bindings, order)
    return results[0] if single else _nest(outputs, iter(results))


def node_values(
    outputs: Any,
    env: Mapping[Any, Any] | None = None,
    known: Mapping[Tensor, Any] | None = None,
    *,
    partial: bool = False,
) -> dict[Tensor, Any]:
    """The value of every node that the graphs of `outputs` (a Tensor, a list or nested lists)
    need, by the walk `evaluate` runs: variables take their values from `env`, else their
    bound values, and the walk starts from the `known` values, never entering the graph below
    a known node (a gradient graph reads its forward graph's values that way). Each value has
    its node's own shape; scalars may be numpy scalars. With `partial`, a node that needs a
    variable with no value is left out instead (a half-bound graph still draws).

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> values = node_values(x * y + 1, {"x": 2, "y": 3})
    >>> float(values[x * y]), float(values[x * y + 1])
    (6.0, 7.0)
    >>> float(node_values(x * y + 1, known={x * y: 10.0})[x * y + 1])
    11.0
    >>> sorted(str(node) for node in node_values(x * y + 1, {"x": 2}, partial=True))
    ['1', 'x']
    """
    roots = [outputs] if isinstance(outputs, Tensor) else _flatten(outputs)
    bindings = _bindings(env)
    values = _known(known)
    with gc_paused():
        order = toposort(roots, known=values)
        check_names(order)
        return _walk(order, bindings, values, partial)


def _known(known: Mapping[Tensor, Any] | None) -> dict[Tensor, Any]:
    """A copy of `known`, checked: nodes to real numbers or numeric arrays."""
    values: dict[Tensor, Any] = {}
    for node, value in (known or {}).items():
        if not isinstance(node, Tensor):
            raise TypeError(f"known maps nodes (Tensors) to values, got the key {node!r}")
        if not isinstance(value, float):  # floats, the common case, cost one check
            value = real_input(node.name or "a known node", value)
        values[node] = value
    return values


def _flatten(outputs: Any) -> list[Tensor]:
    """The Tensors of a list, or of nested lists, in order; numbers become constants."""
    flat: list[Tensor] = []
    stack = [iter([outputs])]
    while stack:
        item = next(stack[-1], stack)
        if item is stack:
            stack.pop()
        elif isinstance(item, Tensor):
            flat.append(item)
        elif isinstance(item, list | tuple):
            stack.append(iter(item))
        else:
            flat.append(as_tensor(item))
    return flat


def _nest(outputs: Any, results: Iterator[Any]) -> Any:
    """`results` in the shape of the (nested) list `outputs`."""
    if isinstance(outputs, list | tuple):
        return [_nest(item, results) for item in outputs]
    return next(results)


def _broadcast(results: list[Any], bindings: dict[str, Any], order: list[Tensor]) -> list[Any]:
    """Each result broadcast to the batch shape: that of the arrays bound to the scalar
    variables of the outputs' graph (`order`), so the derivative 3 listed beside 3*x + 1 at an
    array of xs is an array, ready to plot against them. A graph with vectors, matrices or
    array constants has no batch: each result keeps the shape its graph gives it. Arrays in
    `env` for variables outside the graph play no part."""
    if not any(isinstance(value, np.ndarray) for value in bindings.values()):
        return results
    if any(node.shape for node in order):
        return results
    names = {node.name for node in order if node.is_var}
    shapes = [np.shape(value) for name, value in bindings.items()
              if name in names and isinstance(value, np.ndarray)]
    if not shapes:
        return results
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        return results  # arrays that do not broadcast together: each output keeps its own
    return [
        result if np.shape(result) == shape else _broadcast_one(result, shape)
        for result in results
    ]


def _broadcast_one(result: Any, shape: tuple[int, ...]) -> Any:
    try:
        return np.broadcast_to(result, np.broadcast_shapes(np.shape(result), shape)).copy()
    except ValueError:
        return result


def _near(name: str, bindings: dict[str, Any]) -> str | None:
    """The env name most like `name`, if one is close (decided from the env and the name
    alone: an env name no variable of the graph has is otherwise ignored, as sympy's `subs`
    ignores it, so that one env serves a function and its derivatives)."""
    same_letters = [key for key in bindings if key.casefold() == name.casefold()]
    close = same_letters or difflib.get_close_matches(name, list(bindings), n=1, cutoff=0.75)
    return close[0] if close else None


def _walk(
    order: list[Tensor], bindings: dict[str, Any], values: dict[Tensor, Any], partial: bool
) -> dict[Tensor, Any]:
    """`values` with every node of `order` (operands first) that has a value added."""
    dims: dict[str, int] = {}  # sizes of named dimensions, bound by the first array seen
    for node in order:
        children = node.children
        if children is None:
            if node.name is None:
                value = node.value
                if type(value) is int:  # numpy has no ufunc loops past int64: use IEEE floats
                    value = to_float(value)
            else:
                value = bindings.get(node.name, node.value)
                if value is None:
                    if partial:
                        continue
                    raise UnboundVariableError(node.name, _near(node.name, bindings))
                if node.shape:
                    bind_dims(node.shape, np.shape(value), dims, node.name)
        elif partial and (
            children.a not in values or (children.b is not None and children.b not in values)
        ):
            continue
        elif children.b is None:
            value = children.op.numpy(values[children.a])
        else:
            value = children.op.numpy(values[children.a], values[children.b])
        values[node] = value
    return values


def _value_or_none(node: Tensor) -> Any:
    """`node.value`: its value once every variable below it is bound, else None."""
    try:
        return evaluate(node, {})
    except UnboundVariableError:
        return None


PROVIDED.value = _value_or_none
PROVIDED.check_value = check_value
