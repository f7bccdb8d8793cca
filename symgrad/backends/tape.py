"""A graph lowered to an instruction tape: op codes and operand slots in one integer array,
the way an interpreter loop (`symgrad.backends.kernels`) wants it.

The slots are those of the graph's lowering (`symgrad.backends.lowering`): the arguments
first, then the constants (filled once per call), then the values of inner nodes, each slot
reused once its last reader has run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from symgrad.backends.lowering import lower
from symgrad.ir.graph import Tensor
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
    lowered = lower(variables, roots, order)
    constants = [node.scalar_value for node in lowered.constants]
    if None in constants:
        raise UnsupportedOpError("the tape holds scalars; the graph has an array constant")
    unknown = [op.name for op in dict.fromkeys(lowered.ops) if op not in opcodes]
    if unknown:
        raise UnsupportedOpError(f"the compiled backend has no instruction for {unknown[0]}")
    opcode = np.array([opcodes[op] for op in lowered.ops], dtype=np.int64)
    return Tape(
        code=np.column_stack([opcode, lowered.code]),
        slots=lowered.slots,
        arguments=lowered.arguments,
        constants=np.array(constants, dtype=np.float64),
        outputs=np.array(lowered.outputs, dtype=np.int64),
    )
