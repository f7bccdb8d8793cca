"""What `gradient` cannot go below while every node is an interned Python `Tensor`: the floor
is walking f (`toposort`) plus making exactly the nodes `gradient` makes, each through
`raw_node` with no folding, no partials and no adjoint bookkeeping: what tuning can still
win, and what only another node representation could.

The nodes are found, not recorded: in a fresh graph, every node of the partials that is not a
node of f was made by `gradient`. They are replayed operands first, on fresh nodes (the
previous ones freed), with the cyclic collector paused as `gradient` pauses it.
Run `python bench/derivation_floor.py` (or `python -m bench --only derivation_floor`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/derivation_floor.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import symgrad as sg
from bench.common import symgrad_library, table
from bench.rosenbrock import rosenbrock
from symgrad.ir.graph import Tensor, gc_paused, raw_node, toposort


def _best(function: Callable[[], Any], repeat: int) -> float:
    """Best CPU time of `repeat` calls, each result freed before the next call (untimed)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        result = function()
        best = min(best, time.process_time() - start)
        del result
    return best


def _made_by_gradient(f: Tensor, partials: list[Tensor]) -> list[tuple]:
    """(op, a, b) for each node `gradient` made, operands first; an operand made by it too is
    its index in the list."""
    of_f = set(toposort(f))
    made = [node for node in toposort(partials) if node not in of_f and node.children]
    index = {node: position for position, node in enumerate(made)}
    steps = []
    for node in made:
        a, b, op = node.children
        steps.append((op, index.get(a, a), None if b is None else index.get(b, b)))
    return steps


def _replay(steps: list[tuple]) -> list[Tensor]:
    made: list[Tensor] = []
    with gc_paused():
        for op, a, b in steps:
            a = made[a] if isinstance(a, int) else a
            b = made[b] if isinstance(b, int) else b
            made.append(raw_node(op, a, b))
    return made


def main(quick: bool = False) -> None:
    n = 1_000 if quick else 10_000
    repeat = 3 if quick else 7
    f, variables = rosenbrock(symgrad_library(), n)
    whole = _best(lambda: sg.gradient(f, variables), repeat)
    steps = _made_by_gradient(f, sg.gradient(f, variables))
    walk = _best(lambda: toposort(f), repeat)
    making = _best(lambda: _replay(steps), repeat)
    floor = walk + making
    nodes = len(toposort(f))
    table(
        "gradient's floor: walking f plus making exactly the nodes gradient makes",
        ["Rosenbrock N", "nodes of f", "nodes made", "gradient", "floor: walk f",
         "floor: make its nodes", "floor", "floor / gradient", "half of gradient"],
        [[f"{n:,}", f"{nodes:,}", f"{len(steps):,}", f"{whole * 1e3:.0f} ms",
          f"{walk * 1e3:.0f} ms", f"{making * 1e3:.0f} ms", f"{floor * 1e3:.0f} ms",
          f"{floor / whole:.0%}", f"{whole / 2 * 1e3:.0f} ms"]],
        [f"Per node of f: gradient {whole / nodes * 1e6:.2f} us, floor "
         f"{floor / nodes * 1e6:.2f} us (making one node {making / len(steps) * 1e6:.2f} us). "
         "CPU times, best of several calls, each on fresh nodes."],
    )

if __name__ == "__main__":
    main()
