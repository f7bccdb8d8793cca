"""Unrolled recurrences, the graphs where each level shares the one below: time and peak memory
of `simplify` and of `simplify(gradient)` at 10^3 and 10^4 levels, with the ratio per 10x
levels (about 10x when the work is linear in the levels, 100x when quadratic).

Each row runs in a forked child, so its peak memory (the child's peak resident size above its
size at the start) and its interned nodes are its own. Rows are the entries of `WORKLOADS`:
a new row is one more entry. Run `python -m bench --only recurrence`.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

if __package__ in (None, ""):  # `python bench/recurrence.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import symgrad as sg
from bench.common import ratio_text, run_limited, seconds_text, table
from symgrad.ir.graph import Tensor

LEVELS = (1_000, 10_000)
QUICK_LEVELS = (30, 300)
TIME_LIMIT = 600.0
"""Seconds a row may take before it is reported as cut short."""


def rnn(levels: int) -> tuple[Tensor, list[Tensor]]:
    """An RNN step unrolled: h = tanh(h)*w + x from the variable h, and the variables."""
    h0, w, x = sg.variables("h w x")
    h = h0
    for _ in range(levels):
        h = sg.tanh(h) * w + x
    return h, [h0, w, x]


def linear(levels: int) -> tuple[Tensor, list[Tensor]]:
    """A linear recurrence unrolled: h = h*w + b from x (a polynomial in w), and the
    variables."""
    x, w, b = sg.variables("x w b")
    h = x
    for _ in range(levels):
        h = h * w + b
    return h, [x, w, b]


def nested(function: Callable[[Tensor], Tensor]) -> Callable[[int], tuple[Tensor, list[Tensor]]]:
    """function(function(...function(x))), `levels` deep, and its variable."""

    def build(levels: int) -> tuple[Tensor, list[Tensor]]:
        x = sg.var("x")
        f = x
        for _ in range(levels):
            f = function(f)
        return f, [x]

    return build


def simplify_only(f: Tensor, wrt: list[Tensor]) -> Any:
    return sg.simplify(f)


def gradient_then_simplify(f: Tensor, wrt: list[Tensor]) -> Any:
    return sg.simplify(sg.gradient(f, wrt))


class Workload(NamedTuple):
    """One row: a graph built at a number of levels, and the work timed on it."""

    name: str
    build: Callable[[int], tuple[Tensor, list[Tensor]]]
    work: Callable[[Tensor, list[Tensor]], Any]


WORKLOADS: list[Workload] = [
    Workload("RNN h = tanh(h)*w + x: simplify", rnn, simplify_only),
    Workload("RNN h = tanh(h)*w + x: simplify(gradient)", rnn, gradient_then_simplify),
    Workload("linear h = h*w + b: simplify(gradient)", linear, gradient_then_simplify),
    Workload("nested softplus: simplify", nested(sg.softplus), simplify_only),
    Workload("nested softplus: simplify(gradient)", nested(sg.softplus), gradient_then_simplify),
    Workload("nested sigmoid: simplify", nested(sg.sigmoid), simplify_only),
    Workload("nested sigmoid: simplify(gradient)", nested(sg.sigmoid), gradient_then_simplify),
]
"""The rows, in order; add an entry for a new row (stabilize, advise, gradient(stable=True))."""


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def measure(workload: Workload, levels: int, seconds: float = TIME_LIMIT) -> dict[str, Any]:
    """{"seconds": time of the work (not of building the graph), "megabytes": peak resident
    memory above the start}, from a forked child; "timeout" or "error" when it failed."""

    def child(report: Callable[[str, Any], None]) -> None:
        start_bytes = _resident_bytes()
        f, wrt = workload.build(levels)
        start = time.perf_counter()
        workload.work(f, wrt)
        report("seconds", time.perf_counter() - start)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
        report("megabytes", max(0, peak - start_bytes) / 1e6)

    return run_limited(child, seconds)


def rows(levels: tuple[int, int], seconds: float = TIME_LIMIT) -> list[list[str]]:
    """One table row per workload: time and memory at both sizes, and their ratios."""
    table_rows = []
    for workload in WORKLOADS:
        small, large = (measure(workload, n, seconds) for n in levels)
        cells = [workload.name]
        for key, text in (("seconds", seconds_text), ("megabytes", _megabytes_text)):
            cells += [text(small.get(key)), text(large.get(key)),
                      ratio_text(large.get(key), small.get(key))]
        if "timeout" in large or "error" in large:
            cells[-4] = large.get("error", f"over {seconds:.0f} s")
        table_rows.append(cells)
    return table_rows


def _megabytes_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} MB" if value >= 10 else f"{value:.1f} MB"


def main(quick: bool = False) -> None:
    levels = QUICK_LEVELS if quick else LEVELS
    small, large = (f"{n:,}" for n in levels)
    ratio = f"ratio ({levels[1] // levels[0]}x levels)"
    table(
        f"Recurrences unrolled {small} and {large} levels",
        ["workload", f"time {small}", f"time {large}", ratio,
         f"memory {small}", f"memory {large}", ratio],
        rows(levels),
        ["Linear work shows a ratio near the ratio of levels; quadratic, its square. Memory is "
         "the peak resident size above the start, so small rows read near 0."],
    )


if __name__ == "__main__":
    main()
