"""Node construction cost: how long interning takes per node, for new nodes (a miss: the
node is made and entered in the table) and for nodes that exist (a hit: the table returns
the live node), through the raw constructor and through `Tensor` operators (folding too).

Interning is thread-safe: a new node enters the table with an atomic `dict.setdefault`, and
a lock is taken only to remove a dead node's entry; these rows show what that costs.
Run `python bench/interning.py`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/interning.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import symgrad as sg
from bench.common import table
from symgrad.ir.graph import gc_paused, raw_node
from symgrad.ops.scalar import add, mul


def _per_node(build, count: int, repeats: int) -> float:
    """Best CPU time per node, in nanoseconds, of `build(count)` (which returns what it
    built). CPU time, not wall time: the machine is shared, and waiting is not our cost."""
    best = float("inf")
    for _ in range(repeats):
        with gc_paused():
            start = time.process_time()
            kept = build(count)
            best = min(best, time.process_time() - start)
        del kept
    return best / count * 1e9


def _raw_misses(count: int) -> list:
    x = sg.var("x")
    nodes, t = [], x
    for _ in range(count):  # every node new: a chain of adds
        t = raw_node(add, t, x)
        nodes.append(t)
    return nodes


def _raw_hits(count: int) -> list:
    x, y = sg.variables("x y")
    product = raw_node(mul, x, y)
    return [raw_node(mul, x, y) for _ in range(count)] + [product]


def _operator_misses(count: int) -> list:
    x, y = sg.variables("x y")
    t = x
    for _ in range(count):
        t = t * y + x
    return [t]


def _misses_then_freed(count: int) -> list:
    _raw_misses(count)  # every node dies on return: its table entry is removed
    return []


def _var_hits(count: int) -> list:
    keep = sg.var("x")
    return [sg.var("x") for _ in range(count)] + [keep]


def main(quick: bool = False) -> None:
    count = 20_000 if quick else 100_000
    repeats = 3 if quick else 15
    rows = [
        ("raw node, new (miss)", _per_node(_raw_misses, count, repeats)),
        ("raw node, new, then freed", _per_node(_misses_then_freed, count, repeats)),
        ("raw node, existing (hit)", _per_node(_raw_hits, count, repeats)),
        ("t*y + x, new nodes (2 per step)", _per_node(_operator_misses, count, repeats) / 2),
        ("var('x'), existing", _per_node(_var_hits, count, repeats)),
    ]
    table("Node construction", ["construction", "ns per node"],
          [(name, f"{ns:.0f}") for name, ns in rows])


if __name__ == "__main__":
    main()
