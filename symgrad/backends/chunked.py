"""Compiled functions on dask arrays: chunk by chunk, so a gradient is evaluated over data
that does not fit in memory, or on a `dask.distributed` cluster.

A function `lambdify` returns, called with a dask array among its arguments, maps itself over
the arrays' chunks (numpy or numba per chunk, as compiled) and returns dask arrays, lazily:
`dask.compute` runs them, sharing one call per chunk among all the outputs. Compiled functions
pickle, so they travel to worker processes. dask is the optional `dask` extra; nothing here
imports it before a dask array is seen.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def has_dask_array(values: Sequence[Any]) -> bool:
    """Whether any of `values` is a dask array (False whenever dask was never imported)."""
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and any(isinstance(v, dask_array.Array) for v in values)


class _Stacked:
    """The compiled function on one set of chunks: its outputs broadcast to the chunks'
    common shape and stacked on a new first axis (one task per chunk serves every output;
    each output stays contiguous, so reducing it reads it in one sweep)."""

    def __init__(self, function: Callable[..., Any], count: int):
        self.function = function
        self.count = count

    def __call__(self, *chunks: Any) -> np.ndarray:
        shape = np.broadcast_shapes(*(np.shape(chunk) for chunk in chunks))
        results = self.function(*chunks)
        if self.count == 1:
            results = (results,)
        return np.stack([np.broadcast_to(result, shape) for result in results])


def on_chunks(function: Callable[..., Any], names: Sequence[str], args: Sequence[Any],
              kwargs: dict[str, Any]) -> Any:
    """`function(*args, **kwargs)` (its parameters are `names`) as dask arrays: one per
    output (a tuple for several), of the arguments' broadcast shape, each chunk computed by
    `function` on the arguments' chunks. Numbers pass to every chunk as they are.

    >>> import dask.array as da
    >>> from symgrad.backends.compile import lambdify
    >>> from symgrad.ir.graph import variables
    >>> x, w = variables("x w")
    >>> f = lambdify([x, w], [w * x, x + 1])
    >>> product, shifted = f(da.arange(6.0, chunks=2), 2.0)
    >>> product.compute(), shifted.sum().compute()
    (array([ 0.,  2.,  4.,  6.,  8., 10.]), np.float64(21.0))
    """
    import dask.array as da

    values = list(args)
    for name in names[len(values):]:
        if name not in kwargs:
            raise TypeError(f"{getattr(function, '__name__', 'f')}() is missing {name!r}")
        values.append(kwargs.pop(name))
    if kwargs or len(values) != len(names):
        raise TypeError(f"{getattr(function, '__name__', 'f')}() takes {', '.join(names)}; got "
                        f"{len(args)} positional and {', '.join(kwargs) or 'no'} other arguments")
    positions = [index for index, value in enumerate(values)
                 if isinstance(value, da.Array | np.ndarray)]
    # one shape and one chunking for all arrays, so that chunk i of each meets the others'
    broadcast = da.broadcast_arrays(*(da.asarray(values[index]) for index in positions))
    arrays = list(values)
    for index, array in zip(positions, broadcast, strict=True):
        arrays[index] = array
    count = _output_count(function, values)
    single = count == 0
    count = count or 1
    chunks = ((count,), *broadcast[0].chunks)
    stacked = da.map_blocks(_Stacked(function, count), *arrays, new_axis=0, chunks=chunks,
                            dtype=np.float64, meta=np.empty((0,) * len(chunks)))
    outputs = tuple(stacked[index] for index in range(count))
    return outputs[0] if single else outputs


def _output_count(function: Callable[..., Any], values: Sequence[Any]) -> int:
    """How many outputs `function` gives in a tuple, 0 for one alone: from one call at a
    point (zeros for the arrays; the count does not depend on the values)."""
    point = [0.0 if hasattr(value, "ndim") else value for value in values]
    with np.errstate(all="ignore"):
        result = function(*point)
    return len(result) if isinstance(result, tuple) else 0
