"""`lambdify(..., backend="numba")`: a graph's tape (`symgrad.backends.tape`) run by the compiled
interpreter (`symgrad.backends.kernels`). Scalars run the tape once; arrays broadcast, then run it
over blocks of points sized so that the slots of one block stay in cache (`tape_block_size`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from symgrad.backends.argcheck import checked_argument
from symgrad.backends.blocks import tape_block_size
from symgrad.backends.chunked import has_dask_array, on_chunks
from symgrad.backends.kernels import Interpreter, interpreter, numba_available
from symgrad.backends.tape import Tape, UnsupportedOpError, build_tape
from symgrad.ir.graph import Tensor, name_of

AUTO_NUMBA_OPS = 200
"""`backend="auto"` compiles graphs with this many ops or more with numba (smaller ones run
as fast in numpy, without loading numba's compiled interpreter into the process)."""

# Inputs of PARALLEL_POINTS points or more run on up to THREADS threads.
PARALLEL_POINTS = 1 << 16


def usable_cores() -> int:
    """The cores this process may run on (1 when the system cannot tell).

    >>> usable_cores() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # cpu_count is None when the count is unknown


THREADS = usable_cores()


Source = str | Callable[[], str]  # a text, or how to write it when first asked


class GraphLike(Protocol):
    """The checked graph `lambdify` hands over (every variable used is in `variables`)."""

    @property
    def variables(self) -> list[Tensor]: ...
    @property
    def roots(self) -> list[Tensor]: ...
    @property
    def single(self) -> bool: ...
    @property
    def order(self) -> list[Tensor]: ...


class BackendUnavailableError(ValueError):
    """`backend="numba"` was asked for a graph or options it cannot run."""


def lambdify_numba(
    graph: GraphLike,
    name: str,
    numpy_source: Source,
    required: bool,
    unsupported: str | None = None,
) -> NumbaFunction | None:
    """The graph compiled for the numba backend; None when the numpy backend should run it
    instead (`required=False`, the "auto" choice), else a BackendUnavailableError saying why.
    `unsupported` is the caller's reason the options need numpy, if any."""
    reason = unsupported
    if reason is None and not numba_available():
        reason = "numba is not installed (pip install 'symgrad[numba]')"
    if reason is None and any(node.shape for node in graph.order):
        reason = ("the tape holds scalar graphs (elementwise over arrays), not vectors or matrices "
                  "(nor array constants)")
    if reason is None and not required:
        operations = sum(1 for node in graph.order if node.children is not None)
        if operations < AUTO_NUMBA_OPS:
            return None
    if reason is None:
        try:
            compiled = interpreter()
        except Exception as error:  # numba's errors have no common base; numpy still works
            reason = f"numba could not compile the interpreter: {type(error).__name__}: {error}"
            if not required:
                warnings.warn(f"symgrad evaluates with numpy: {reason}", stacklevel=3)
    if reason is None:
        try:
            tape = build_tape(graph.variables, graph.roots, compiled.opcodes, graph.order)
        except UnsupportedOpError as error:
            reason = str(error)
        else:
            names = [name_of(variable) for variable in graph.variables]
            return NumbaFunction(tape, names, graph.single, name, numpy_source, compiled)
    if required:
        raise BackendUnavailableError(f"backend='numba': {reason}")
    return None


class NumbaFunction:
    """A compiled graph: call it like the function `lambdify` returns.

    `.tape` is the lowered graph, `.listing()` its instructions as text, and `.source` the
    numpy source the numpy backend would run instead (written on first access). It pickles
    (its tape and source), so it can be sent to worker processes.

    >>> from symgrad.backends.compile import lambdify
    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> f = lambdify([x, y], [x * y, x + y], backend="numba")
    >>> f(2.0, 3.0)
    (6.0, 5.0)
    >>> print(f.listing())
    s0 = argument 0
    s1 = argument 1
    s2 = mul(s0, s1)
    s3 = add(s0, s1)
    return s2, s3
    """

    def __init__(
        self,
        tape: Tape,
        names: Sequence[str],
        single: bool,
        name: str,
        numpy_source: Source,
        compiled: Interpreter | None = None,
    ):
        # The interpreter whose op codes the tape uses (unpickled: this process's, from the
        # same op table)
        self._interpreter = compiled or interpreter()
        self.tape = tape
        self.__name__ = self.__qualname__ = name
        self._single = single
        self._names = list(names)
        self._positions = {name: index for index, name in enumerate(self._names)}
        self._numpy_source = numpy_source
        # Slots as one call starts: the arguments' slots are filled per call, constants now.
        self._template = np.zeros(tape.slots)
        self._template[tape.arguments : tape.arguments + len(tape.constants)] = tape.constants

    @property
    def source(self) -> str:
        if not isinstance(self._numpy_source, str):
            self._numpy_source = self._numpy_source()
        return self._numpy_source

    def listing(self) -> str:
        """The tape's instructions, one a line."""
        return self.tape.listing(self._interpreter.ops)

    def __reduce__(self) -> tuple:
        return (NumbaFunction, (self.tape, self._names, self._single, self.__name__, self.source))

    def __repr__(self) -> str:
        names = self._names if len(self._names) <= 6 else [*self._names[:5], "..."]
        return (
            f"<symgrad numba function {self.__name__}({', '.join(names)}): "
            f"{len(self.tape.code)} instructions, {self.tape.slots} slots>"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if has_dask_array(args) or has_dask_array(list(kwargs.values())):
            return on_chunks(self, self._names, args, kwargs)
        values = self._bind(args, kwargs)
        # The common cases first: numbers only (one point), or arrays of one shape.
        try:
            stacked = np.array(values)
        except ValueError:  # arrays of different shapes
            stacked = None
        if stacked is not None and stacked.dtype.kind in "biuf" and stacked.ndim == 1:
            return self._at_point(stacked.astype(np.float64, copy=False))
        arrays = [
            np.asarray(checked_argument(name, value), dtype=np.float64)
            for name, value in zip(self._names, values, strict=True)
        ]
        return self._on_arrays(arrays)

    def _bind(self, args: tuple, kwargs: dict[str, Any]) -> list[Any]:
        if not kwargs and len(args) == len(self._names):
            return list(args)
        if len(args) > len(self._names):
            raise TypeError(
                f"{self.__name__}() takes {len(self._names)} arguments, got {len(args)}"
            )
        values: list[Any] = list(args) + [_MISSING] * (len(self._names) - len(args))
        for key, value in kwargs.items():
            index = self._positions.get(key)
            if index is None:
                raise TypeError(f"{self.__name__}() got an unexpected argument {key!r}")
            if values[index] is not _MISSING:
                raise TypeError(f"{self.__name__}() got two values for argument {key!r}")
            values[index] = value
        missing = [name for name, value in zip(self._names, values) if value is _MISSING]
        if missing:
            raise TypeError(f"{self.__name__}() is missing arguments: {', '.join(missing)}")
        return values

    def _at_point(self, point: np.ndarray) -> Any:
        registers = self._template.copy()
        registers[: len(point)] = point
        self._interpreter.run_point(self.tape.code, registers)
        results = registers[self.tape.outputs].tolist()
        return results[0] if self._single else tuple(results)

    def _on_arrays(self, arrays: list[np.ndarray]) -> Any:
        shape = np.broadcast_shapes(*(array.shape for array in arrays))
        tape = self.tape
        size = math.prod(shape)
        block = tape_block_size(tape.slots, size)
        # One-element arguments are filled once, like constants; the others are read from
        # `inputs` block by block.
        template = self._template.copy()
        varying = [index for index, array in enumerate(arrays) if array.size != 1]
        for index, array in enumerate(arrays):
            if array.size == 1:
                template[index] = array.reshape(())
        inputs = np.empty((len(varying), size))
        for row, index in enumerate(varying):
            inputs[row].reshape(shape)[...] = arrays[index]
        input_slots = np.array(varying, dtype=np.int64)
        results = np.empty((len(tape.outputs), size))

        def run(first: int, stop: int) -> None:
            registers = np.empty((tape.slots, block))
            registers[:] = template[:, None]
            self._interpreter.run_blocks(
                tape.code, registers, inputs, input_slots, results, tape.outputs, first, stop
            )

        # The interpreter releases the GIL: big inputs are shared out between threads, in
        # whole blocks, one range per core.
        threads = min(THREADS, size // PARALLEL_POINTS)
        if threads <= 1:
            run(0, size)
        else:
            share = -(-size // (threads * block)) * block
            with ThreadPoolExecutor(threads) as pool:
                for finished in [
                    pool.submit(run, first, min(first + share, size))
                    for first in range(0, size, share)
                ]:
                    finished.result()
        outputs = [row.reshape(shape) for row in results]
        return outputs[0] if self._single else tuple(outputs)


_MISSING = object()
