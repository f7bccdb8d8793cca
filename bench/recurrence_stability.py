"""Time of `stabilize`, `gradient(..., stable=True)` and `advise` on deep recurrences, with the
ratio per 10x more levels (10x means linear, 100x quadratic). Each run is a fresh child process,
so no run finds nodes or checked rewrites another one made. Run `python -m bench --only
recurrence_stability`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.common import machine, once, ratio_text, run_limited, seconds_text, table

LEVELS = (1_000, 10_000)
QUICK_LEVELS = (100, 1_000)
ADVISE_LEVELS = (100, 1_000)
QUICK_ADVISE_LEVELS = (10, 100)
ADVISE_COUNT = 8
"""Sampled points for advise (plus 0 and 8 probes: 17 points), each evaluated exactly."""


def softplus_chain(levels: int) -> tuple[Any, Any]:
    """f <- log(1 + exp(f)) from x: every level is one softplus rewrite, all of one shape."""
    import symgrad as sg

    x = sg.var("x")
    f = x
    for _ in range(levels):
        f = sg.log(1 + sg.exp(f))
    return f, x


def log_sum_exp_recurrence(levels: int) -> tuple[Any, Any]:
    """h <- log(exp(h) + exp(w*h)), w = 0.5 (a log-sum-exp cell): one logaddexp per level."""
    import symgrad as sg

    x = sg.var("x")
    h = x
    for _ in range(levels):
        h = sg.log(sg.exp(h) + sg.exp(0.5 * h))
    return h, x


WORKLOADS: dict[str, Callable[[int], tuple[Any, Any]]] = {
    "softplus chain f = log(1 + exp(f))": softplus_chain,
    "log-sum-exp h = log(exp(h) + exp(h/2))": log_sum_exp_recurrence,
}


def _operations() -> dict[str, Callable[[Any, Any], Any]]:
    import symgrad as sg

    return {
        "stabilize": lambda f, x: sg.stabilize(f),
        "gradient(stable=True)": lambda f, x: sg.gradient(f, x, stable=True),
        f"advise (count={ADVISE_COUNT})": lambda f, x: sg.advise(f, count=ADVISE_COUNT),
    }


def measure(workload: str, operation: str, levels: int, seconds: float) -> dict[str, Any]:
    """Build the workload at `levels` and time one `operation` on it, in a child."""

    def work(report: Callable[[str, Any], None]) -> None:
        f, x = WORKLOADS[workload](levels)
        _, elapsed = once(lambda: _operations()[operation](f, x))
        report("time", elapsed)

    return run_limited(work, seconds)


def _time(result: dict[str, Any]) -> str:
    if "time" in result:
        return seconds_text(result["time"])
    if "timeout" in result:
        return f"> {result['timeout']:.0f} s"
    return str(result.get("error", "not run"))


def rows(quick: bool = False, seconds: float = 300) -> list[list[str]]:
    """A row per workload and operation: the time at each size and the ratio per 10x."""
    result = []
    for workload in WORKLOADS:
        for operation in _operations():
            advising = operation.startswith("advise")
            if advising:
                sizes = QUICK_ADVISE_LEVELS if quick else ADVISE_LEVELS
            else:
                sizes = QUICK_LEVELS if quick else LEVELS
            times = [measure(workload, operation, size, seconds) for size in sizes]
            result.append([workload, operation,
                           *(f"{size:,}: {_time(time)}" for size, time in zip(sizes, times)),
                           ratio_text(times[1].get("time"), times[0].get("time"))])
    return result


def main(quick: bool = False) -> str:
    headers = ["recurrence", "operation", "smaller", "10x the levels", "ratio (10x = linear)"]
    notes = [
        f"Levels: {', '.join(map(str, QUICK_LEVELS if quick else LEVELS))} for stabilize "
        f"and gradient; {', '.join(map(str, QUICK_ADVISE_LEVELS if quick else ADVISE_LEVELS))} "
        f"for advise, which evaluates every node exactly (mpmath) at each of its "
        f"{2 * ADVISE_COUNT + 1} points. Each run is one fresh child process.",
        f"Machine: {machine()}.",
    ]
    return table("Stabilize, stable gradients and advise on deep recurrences", headers,
                 rows(quick, 60 if quick else 300), notes)


if __name__ == "__main__":
    main()
