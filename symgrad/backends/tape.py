"""A graph lowered to an instruction tape: op codes and operand slots in one integer array,
the way an interpreter loop (`symgrad.backends.kernels`) wants it.

Slot layout: the arguments first (one slot each), then the constants (filled once per call),
then the values of inner nodes, whose slots are reused as soon as their last reader has run
(a linear-scan register allocation over the topological order), so a graph of any size needs
only as many slots as values alive at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from symgrad.ir.graph import Tensor, children_of, toposort
from symgrad.ir.op import Op


class Tape(NamedTuple):
    """Instructions `code[i] = (op code, destination, operand a, operand b)` over slots."""

    code: np.ndarray  # int64, shape (instructions, 4); b == a for a unary op
    slots: int  # how many slots the tape needs
    arguments: int  # slots 0 .. arguments - 1 hold the arguments, in order
    constants: np.ndarray  # float64 values of slots arguments .. arguments + len - 1
    outputs: np.ndarray  # int64: the slot of each output, in order

    def listing(self, ops: Sequence[Op]) -> str:
        """The tape as text, one instruction a line (`s3 = mul(s3, s1)`); `ops` by op code."""
        lines = [f"s{k} = argument {k}" for k in range(self.arguments)]
        first = self.arguments
        lines += [f"s{first + k} = {value!r}" for k, value in enumerate(self.constants.tolist())]
        for opcode, d, a, b in self.code.tolist():
            op = ops[opcode]
            operands = f"s{a}" if op.arity == 1 else f"s{a}, s{b}"
            lines.append(f"s{d} = {op.name}({operands})")
        lines.append("return " + ", ".join(f"s{slot}" for slot in self.outputs.tolist()))
        return "\n".join(lines)


class UnsupportedOpError(ValueError):
    """The graph uses an op the tape's interpreter has no instruction for."""


def build_tape(
    variables: Sequence[Tensor],
    roots: Sequence[Tensor],
    opcodes: Mapping[Op, int],
    order: Sequence[Tensor] | None = None,
) -> Tape:
    """Lower the graph of `roots` over `variables` (validated: every variable the graph
    uses is among them) to a tape; `opcodes` numbers the ops the interpreter knows, and
    `order` is `toposort(roots)` when the caller has it already.

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import add, mul
    >>> x, y = variables("x y")
    >>> tape = build_tape([x, y], [(x + 1) * y], {add: 0, mul: 1})
    >>> tape.code.tolist(), tape.constants.tolist(), tape.outputs.tolist()
    ([[0, 3, 0, 2], [1, 4, 3, 1]], [1.0], [4])
    """
    if order is None:
        order = toposort(list(roots))
    slot: dict[Tensor, int] = {variable: index for index, variable in enumerate(variables)}
    constants: list[float] = []
    inner: list[Tensor] = []
    for node in order:
        if node.children is not None:
            inner.append(node)
        elif node.is_const:
            if node.scalar_value is None:
                raise UnsupportedOpError("the tape holds scalars; the graph has an array constant")
            slot[node] = len(variables) + len(constants)
            constants.append(node.scalar_value)
    # The instruction index that reads each node last; outputs stay alive to the end.
    last_read: dict[Tensor, int] = {}
    for index, node in enumerate(inner):
        a, b, _ = children_of(node)
        last_read[a] = index
        if b is not None:
            last_read[b] = index
    for root in roots:
        last_read[root] = len(inner)

    code: list[int] = []  # four entries per instruction, flat: cheaper to grow than rows
    free: list[int] = []  # released slots, reused last-in first-out (warm in cache)
    slots = len(variables) + len(constants)
    for index, node in enumerate(inner):
        a, b, op = children_of(node)
        opcode = opcodes.get(op)
        if opcode is None:
            raise UnsupportedOpError(f"the compiled backend has no instruction for {op.name}")
        slot_a = slot[a]
        slot_b = slot_a if b is None else slot[b]
        if free:
            destination = free.pop()
        else:
            destination = slots
            slots += 1
        slot[node] = destination
        code += (opcode, destination, slot_a, slot_b)
        # Operands read for the last time free their slots only now: a result never shares
        # a slot with its operands, so the compiler vectorizes the blocks' inner loops.
        if last_read[a] == index and a.children is not None:
            free.append(slot_a)
        if b is not None and b is not a and last_read[b] == index and b.children is not None:
            free.append(slot_b)
    return Tape(
        code=np.array(code, dtype=np.int64).reshape(-1, 4),
        slots=slots,
        arguments=len(variables),
        constants=np.array(constants, dtype=np.float64),
        outputs=np.array([slot[root] for root in roots], dtype=np.int64),
    )
