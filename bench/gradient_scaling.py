"""How derivation scales: `grad` (forward mode, one partial) and `gradient` (reverse mode, all
partials) on Rosenbrock for N = 10 .. 10,000 and on a chain x <- x*x + x, beside sympy's `diff`
on the same functions: derivation time, op counts, and ratios.

Each derivation runs in a fresh child process, so no run finds nodes another one interned.
symgrad op counts are distinct nodes (`count_ops`); sympy's are `sympy.count_ops` of the
result as it stands (a tree: a shared subexpression counts each time it appears).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.common import (
    Library,
    machine,
    once,
    ratio_text,
    run_limited,
    seconds_text,
    symgrad_library,
    sympy_library,
    table,
)
from bench.rosenbrock import rosenbrock

SIZES = (10, 100, 1_000, 10_000)
QUICK_SIZES = (10, 100, 1_000)
STEPS = (5, 10, 15, 20, 30, 60)
QUICK_STEPS = (5, 10, 30, 60)


def chain(library: Library, steps: int) -> tuple[Any, list]:
    """x <- x*x + x, `steps` times: a DAG of 2*steps nodes whose tree doubles each step."""
    (x,) = library.symbols(["x"])
    z = x
    for _ in range(steps):
        z = z * z + z
    return z, [x]


def _symgrad(build: Callable[[Library], tuple[Any, list]], seconds: float) -> dict[str, Any]:
    import symgrad as sg
    from symgrad.autodiff.diff import grad
    from symgrad.ir.graph import gc_paused

    with gc_paused():
        f, variables = build(symgrad_library())

    def forward(report: Callable[[str, Any], None]) -> None:
        partial, elapsed = once(lambda: grad(f, variables[0]))
        report("time", elapsed)
        report("ops", sg.count_ops(partial))

    def reverse(report: Callable[[str, Any], None]) -> None:
        partials, elapsed = once(lambda: sg.gradient(f, variables))
        report("time", elapsed)
        report("ops", sg.count_ops(partials))

    return {
        "f_ops": sg.count_ops(f),
        "grad": run_limited(forward, seconds),
        "gradient": run_limited(reverse, seconds),
    }


def _sympy(
    build: Callable[[Library], tuple[Any, list]], seconds: float, all_partials: bool
) -> dict[str, Any]:
    import sympy as sp

    def work(report: Callable[[str, Any], None]) -> None:
        f, variables = build(sympy_library())
        partial, elapsed = once(lambda: sp.diff(f, variables[0]))
        report("one", elapsed)
        report("one_ops", sp.count_ops(partial))
        if all_partials:
            _, elapsed_all = once(lambda: [sp.diff(f, v) for v in variables])
            report("all", elapsed_all)

    return run_limited(work, seconds)


def _time(result: dict[str, Any], key: str = "time") -> str:
    if key in result:
        return seconds_text(result[key])
    if "timeout" in result:
        return f"> {result['timeout']:.0f} s"
    return result.get("error", "not run")


def _row(label: str, ours: dict, theirs: dict, all_inputs: list[str]) -> list:
    """One table row: symgrad's grad and gradient beside sympy's diff, then `all_inputs`."""
    grad, gradient = ours["grad"], ours["gradient"]
    return [
        label,
        ours["f_ops"],
        _time(grad),
        grad.get("ops", "—"),
        _time(theirs, "one"),
        theirs.get("one_ops", "—"),
        ratio_text(theirs.get("one"), grad.get("time")),
        _time(gradient),
        gradient.get("ops", "—"),
        f"{gradient['ops'] / ours['f_ops']:.2f}" if "ops" in gradient else "—",
        *all_inputs,
    ]


def main(quick: bool = False) -> str:
    seconds = 20 if quick else 300
    sympy_seconds = 3 if quick else 120
    sympy_size = 10 if quick else 1_000
    sympy_steps = 10 if quick else 30
    rows = []
    for n in QUICK_SIZES if quick else SIZES:
        build = lambda library, n=n: rosenbrock(library, n)  # noqa: E731
        ours = _symgrad(build, seconds)
        theirs = _sympy(build, sympy_seconds, True) if n <= sympy_size else {}
        all_inputs = [_time(theirs, "all"),
                      ratio_text(theirs.get("all"), ours["gradient"].get("time"))]
        rows.append(_row(f"Rosenbrock N = {n:,}", ours, theirs, all_inputs))
    for steps in QUICK_STEPS if quick else STEPS:
        build = lambda library, steps=steps: chain(library, steps)  # noqa: E731
        ours = _symgrad(build, seconds)
        theirs = _sympy(build, sympy_seconds, False) if steps <= sympy_steps else {}
        rows.append(_row(f"chain, {steps} steps", ours, theirs, ["(one input)", ""]))
    headers = [
        "function",
        "f ops",
        "grad x0",
        "grad ops",
        "sympy diff x0",
        "sympy ops (tree)",
        "sympy/grad",
        "gradient (all)",
        "gradient ops",
        "gradient/f ops",
        "sympy diff (all)",
        "sympy/gradient",
    ]
    notes = [
        "grad x0: forward mode, d f/d x0 (the chain's only input is x). gradient (all): "
        "reverse mode, every partial in one sweep. sympy: `diff` per input, on the same "
        f"function built with sympy, at most {sympy_seconds} s per row; Rosenbrock N <= "
        f"{sympy_size:,} and chains <= {sympy_steps} steps (its time doubles with each "
        "step). '> T s': cut off after T seconds.",
        f"Machine: {machine()}.",
    ]
    return table("Derivation scaling: grad and gradient beside sympy's diff", headers, rows, notes)


if __name__ == "__main__":
    main()
