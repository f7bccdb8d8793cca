"""The check of a compiled function's argument: what `evaluate` asks of a variable's value
(`real_input`, `to_float`, the declared shape through `bind_dims`), so that a function from
`lambdify` accepts and refuses what `evaluate` does, with the same messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgrad.backends.evaluate import real_input
from symgrad.ir.graph import to_float
from symgrad.ir.shapes import Shape, bind_dims


def checked_argument(
    name: str, value: Any, shape: Shape = (), dims: dict[str, int] | None = None
) -> Any:
    """`value` for the variable `name` declared with `shape`: a real number as a float (an
    int past the float range is inf, as in `evaluate`), or a numeric array of that shape
    (named dimensions bound in `dims`, so `n` is one size across the arguments). A
    TypeError or ShapeError naming the variable otherwise.

    >>> checked_argument("x", 10**400), checked_argument("x", [1, 2]).tolist()
    (inf, [1, 2])
    >>> try:
    ...     checked_argument("v", [1.0], shape=(3,))
    ... except ValueError as error:  # a ShapeError
    ...     print(error)
    the value of 'v' has shape (1,), but v was declared with shape (3,)
    """
    value = real_input(name, value)
    if not isinstance(value, np.ndarray):
        value = to_float(value)
    if shape:
        bind_dims(shape, np.shape(value), {} if dims is None else dims, name)
    return value
