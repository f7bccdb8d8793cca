"""Printing cost: what writing a formula in the one order (`symgrad/present/order.py`) adds to
writing it out, per op, for `str`, `latex` and the shared form `pretty`. "as built" renders
the graph in the order it was built (the printer before the one order); "ordered" is what
`str` does. Run `python bench/printing.py`.
"""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path

if __package__ in (None, ""):  # `python bench/printing.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import symgrad as sg
from bench.common import table
from symgrad.present.printing import LATEX, TEXT, render


def _chain(steps: int) -> sg.Tensor:
    """sin(...)*y + x, nested `steps` times: nothing shared, every level a sum and a product."""
    x, y = sg.variables("x y")
    t = x
    for _ in range(steps):
        t = sg.sin(t) * y + x
    return t


def _derivative(levels: int) -> sg.Tensor:
    """The derivative of f = sin(f*y)*f, nested: much shared, printed in the shared form."""
    x, y = sg.variables("x y")
    f = x
    for _ in range(levels):
        f = sg.sin(f * y) * f
    return f.grad(x)


def _microseconds_per_op(function, t: sg.Tensor, repeats: int) -> float:
    """Best CPU time of `function(t)` per op of t, in microseconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        function(t)
        best = min(best, time.process_time() - start)
    return best / sg.count_ops(t) * 1e6


def main(quick: bool = False) -> None:
    steps = 2_000 if quick else 20_000
    repeats = 2 if quick else 3
    chain, derivative = _chain(steps), _derivative(steps // 25)
    rows = [
        (f"str, chain of {steps:,} levels", TEXT, str, chain),
        (f"latex, chain of {steps:,} levels", LATEX, sg.latex, chain),
        # the shared form has no as-built twin here: it names shared parts, then orders
        (f"pretty, derivative of {steps // 25:,} levels", None, sg.pretty, derivative),
    ]
    results = []
    for name, style, ordered, t in rows:
        plain = "—"
        if style is not None:
            as_built = partial(render, style=style, order=lambda node: node)
            plain = f"{_microseconds_per_op(as_built, t, repeats):.1f}"
        results.append((name, plain, f"{_microseconds_per_op(ordered, t, repeats):.1f}"))
    table("Printing, CPU microseconds per op", ["formula", "as built", "ordered"], results)


if __name__ == "__main__":
    main()
