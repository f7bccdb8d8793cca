"""The one lowering of the backends: a graph as instructions over numbered slots, each slot
reused once its value is dead (a linear-scan register allocation over the topological order),
so a graph of any size needs only as many slots as values alive at once.

`lower` places the inputs, then the constants, then one instruction per inner node; the tape
(`symgrad.backends.tape`) encodes it for the numba interpreter. `allocate_slots` is the
allocation alone, which `codegen` runs over the lines it writes (the nodes it names).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from heapq import heappop, heappush
from typing import NamedTuple

import numpy as np

from symgrad.ir.graph import Tensor, gc_paused, name_of, toposort
from symgrad.ir.op import Op

Instruction = tuple[int, Op, int, int | None]
"""`(slot, op, slot a, slot b)`: slot = op(slot a, slot b); `b` is None for a unary op."""


class Lowering(NamedTuple):
    """A graph over slots: the inputs in slots 0 .. len(inputs) - 1, then the constants, then
    the instructions' results. Instruction k computes `ops[k]` of the slots `code[k, 1:]`
    into the slot `code[k, 0]` (columns, so that a backend encodes them without a loop)."""

    ops: list[Op]
    code: np.ndarray  # int64, shape (instructions, 3): slot, slot a, slot b (a for unary)
    slots: int  # how many slots the instructions need
    arguments: int  # slots 0 .. arguments - 1 hold the inputs, in order
    constants: list[Tensor]  # the constant leaves in slots arguments, arguments + 1, ...
    outputs: list[int]  # the slot of each output, in order

    def instructions(self) -> list[Instruction]:
        """The instructions in order, as tuples."""
        return [
            (slot, op, a, None if op.arity == 1 else b)
            for op, (slot, a, b) in zip(self.ops, self.code.tolist(), strict=True)
        ]


def allocate_slots(
    reads: Sequence[Sequence[int]],
    kept: Iterable[int],
    *,
    first: int = 0,
    share_operands: bool = False,
    latest_first: bool = False,
) -> tuple[list[int], int]:
    """Slots for values 0, 1, ..., where value `i` is computed by step `i` from the earlier
    values `reads[i]`, and the `kept` values live to the end. A value's slot is free again
    after the step that reads it last. Returns each value's slot (numbered from `first`) and
    the end of the slots used.

    `share_operands`: a step may write a slot its operands free (numpy's `t0 = t0*x`), else
    a result never shares a slot with its operands (an interpreter writing in place). A freed
    slot is reused lowest number first, or with `latest_first` last freed first (warm in cache).

    >>> allocate_slots([(), (0,), (1,)], kept=[2])
    ([0, 1, 0], 2)
    >>> allocate_slots([(), (0,), (1,)], kept=[2], share_operands=True)
    ([0, 0, 0], 1)
    """
    end = len(reads)
    last_read = [end] * end  # a value read by nothing stays: it is an output
    for step, operands in enumerate(reads):
        for value in operands:
            last_read[value] = step
    for value in kept:
        last_read[value] = end
    free: list[int] = []
    release: Callable[[int], object] = free.append if latest_first else partial(heappush, free)
    take: Callable[[], int] = free.pop if latest_first else partial(heappop, free)
    # The slots of the values step s reads last are free from step s + delay on.
    delay = 0 if share_operands else 1
    slots = [0] * end
    top = first
    for step in range(end):
        dying = step - delay
        if dying >= 0:
            for value in reads[dying]:
                if last_read[value] == dying:
                    last_read[value] = -1  # x*x reads x twice: its slot is freed once
                    release(slots[value])
        if free:
            slots[step] = take()
        else:
            slots[step] = top
            top += 1
    return slots, top


def lower(
    inputs: Sequence[Tensor], outputs: Sequence[Tensor], order: Sequence[Tensor] | None = None
) -> Lowering:
    """The graph of `outputs` over the variables `inputs` as instructions over slots;
    `order` is `toposort(outputs)` when the caller has it already. Results never share a slot
    with their operands (so an interpreter's compiler vectorizes the loop of each instruction over
    a block of points), and slots are reused last freed first (warm in cache).

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> lowered = lower([x, y], [(x + 1) * y])
    >>> [(slot, op.name, a, b) for slot, op, a, b in lowered.instructions()], lowered.outputs
    ([(3, 'add', 0, 2), (4, 'mul', 3, 1)], [4])
    """
    if order is None:
        order = toposort(list(outputs))
    # A node's reference: a leaf's slot, or ~k (negative) for the result of instruction k,
    # whose slot is known once every instruction's reads are.
    reference: dict[Tensor, int] = {variable: index for index, variable in enumerate(inputs)}
    constants: list[Tensor] = []
    ops: list[Op] = []
    references: list[int] = []  # operands a and b of each instruction (a again for unary)
    reads: list[tuple[int, ...]] = []  # the instructions whose results each one reads
    # This allocates a tuple or two per node and frees nothing: the collector would only walk
    # the graph again and again.
    with gc_paused():
        for node in order:
            children = node.children
            if children is None:
                if node.is_const:
                    reference[node] = len(inputs) + len(constants)
                    constants.append(node)
                elif node not in reference:
                    raise ValueError(
                        f"the graph uses the variable {name_of(node)!r}, not among inputs"
                    )
                continue
            a, b, op = children
            ref_a = reference[a]
            ref_b = ref_a if b is None else reference[b]
            if ref_a < 0:
                reads.append((~ref_a,) if ref_b >= 0 or b is None else (~ref_a, ~ref_b))
            else:
                reads.append((~ref_b,) if ref_b < 0 else ())
            reference[node] = ~len(ops)
            ops.append(op)
            references.append(ref_a)
            references.append(ref_b)
        roots = [reference[root] for root in outputs]
        result, slots = allocate_slots(
            reads,
            [~ref for ref in roots if ref < 0],
            first=len(inputs) + len(constants),
            latest_first=True,
        )
    # Resolve the references: a leaf's stays, an instruction's becomes its result's slot.
    destinations = np.array(result, dtype=np.int64)
    operands = np.array(references, dtype=np.int64).reshape(-1, 2)
    operands = np.where(operands >= 0, operands, destinations[np.maximum(~operands, 0)])
    return Lowering(
        ops=ops,
        code=np.column_stack([destinations, operands]),
        slots=slots,
        arguments=len(inputs),
        constants=constants,
        outputs=[ref if ref >= 0 else result[~ref] for ref in roots],
    )
