"""Bounded memory for both backends: a compiled function called on big arrays runs on
consecutive blocks of the (broadcast, flattened) points, so its temporaries are arrays of one
block, not of every point. A reverse-mode gradient keeps many values alive at once; unblocked,
each would be a full-length array. Here are the block sizes of the numpy backend
(`block_size`) and of the tape interpreter (`tape_block_size`), and numpy's blocked call.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

BLOCK_BYTES = 64 << 20
"""About how many bytes the temporaries of one block take, all together."""
MIN_BLOCK = 4096  # points: fewer would pay Python's per-call overhead on every numpy call


def block_size(temporaries: int) -> int:
    """Points per block for a function holding `temporaries` arrays alive at once.

    >>> block_size(1000)
    8355
    """
    # Evaluating one line's expression makes a few unnamed temporaries too.
    return max(MIN_BLOCK, BLOCK_BYTES // (8 * (temporaries + 4)))


# The tape interpreter's blocks. A slot's row is short enough that the rows written last stay
# in the L1 cache for the instructions reading them next (TAPE_ROW_BLOCK points; measured best
# between 128 and 256 on the logistic map's derivatives), longer when every slot fits in L1
# at once (L1_BYTES), and all slots fit in L2 (L2_BYTES); at most TAPE_MAX_BLOCK points
# (longer inner loops gain nothing) and at least TAPE_MIN_BLOCK (shorter ones pay the op
# dispatch per point).
L1_BYTES = 32 << 10
L2_BYTES = 2 << 20
TAPE_ROW_BLOCK = 128
TAPE_MAX_BLOCK = 1024
TAPE_MIN_BLOCK = 16


def tape_block_size(slots: int, points: int) -> int:
    """Points per block for a tape of `slots` slots run on `points` points.

    >>> tape_block_size(200, 10**6), tape_block_size(2000, 10**6), tape_block_size(8, 10**6)
    (128, 128, 512)
    >>> tape_block_size(8, 100)
    100
    """
    row = 8 * max(slots, 1)  # bytes per point
    block = min(TAPE_MAX_BLOCK, max(TAPE_ROW_BLOCK, L1_BYTES // row), L2_BYTES // row)
    return max(TAPE_MIN_BLOCK, min(block, points))


def in_blocks(function: Callable[..., Any], block: int) -> Callable[..., Any]:
    """`function` (elementwise in its arguments) evaluated `block` points at a time when the
    broadcast arguments hold more points than that; same results, bounded temporaries.

    >>> double = in_blocks(lambda x, y: (2 * x, y), block=4096)
    >>> [result.shape for result in double(np.ones((3000, 3)), np.zeros(3))]
    [(3000, 3), (3000, 3)]
    """
    signature = inspect.signature(function)

    @functools.wraps(function)
    def blocked(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            if "out" in kwargs:  # the caller owns the memory then: write it in one go
                return function(*args, **kwargs)
            args = signature.bind(*args, **kwargs).args
        arrays = [value if type(value) in (float, int) else np.asarray(value) for value in args]
        shapes = [np.shape(value) for value in arrays]
        shape = np.broadcast_shapes(*shapes)
        points = math.prod(shape)
        if points <= block:
            return function(*arrays)
        return _by_blocks(function, arrays, shape, points, block)

    return blocked


def _by_blocks(
    function: Callable[..., Any], arrays: list[Any], shape: tuple[int, ...], points: int, block: int
) -> Any:
    # One-point arguments go to every block whole; the others flattened and sliced.
    flat = [
        np.reshape(value, ()) if np.size(value) == 1 else np.broadcast_to(value, shape).ravel()
        for value in arrays
    ]
    results: list[Any] | None = None
    single = False
    for start in range(0, points, block):
        stop = min(start + block, points)
        chunk = function(*[value if value.ndim == 0 else value[start:stop] for value in flat])
        if results is None:
            single = not isinstance(chunk, tuple)
            # An output that no full-length argument reaches comes back as one value: it is
            # kept as it is, as the unblocked function gives it.
            results = [
                value if np.ndim(value) == 0 else np.empty(points, dtype=np.result_type(value))
                for value in ((chunk,) if single else chunk)
            ]
        for result, value in zip(results, (chunk,) if single else chunk, strict=True):
            if np.ndim(result) > 0:
                result[start:stop] = value
    assert results is not None  # points > block: at least one block ran
    outputs = [result.reshape(shape) if np.ndim(result) > 0 else result for result in results]
    return outputs[0] if single else tuple(outputs)
