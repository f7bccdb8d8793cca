"""How fast `lambdify` compiles big and deep graphs: total time, and the share spent in
Python's own `compile`, per 10,000 nodes (all distinct nodes the outputs reach)."""

from __future__ import annotations

import time
from typing import Any

from bench.common import machine, once, seconds_text, symgrad_library, table
from bench.rosenbrock import rosenbrock


def _deep_chain(depth: int) -> tuple[Any, list]:
    import symgrad as sg

    (x,) = sg.variables("x")
    z = x
    for _ in range(depth):
        z = sg.sin(z)
    return z, [x]


def _measure(label: str, build: Any) -> list[Any]:
    import symgrad as sg
    from symgrad.backends import compile as compile_module
    from symgrad.ir.graph import gc_paused, toposort

    with gc_paused():
        outputs, variables = build()
    nodes = len(toposort(outputs if isinstance(outputs, list) else [outputs]))
    original = compile_module.compile if hasattr(compile_module, "compile") else None
    spent = []

    def timed_compile(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = compile(*args, **kwargs)
        spent.append(time.perf_counter() - start)
        return result

    compile_module.compile = timed_compile  # count Python's compile separately
    cpu = time.process_time()
    try:
        function, elapsed = once(lambda: sg.lambdify(variables, outputs))
    finally:
        if original is None:
            del compile_module.compile
        else:
            compile_module.compile = original
    cpu = time.process_time() - cpu
    lines = function.source.count("\n")
    return [
        label,
        f"{nodes:,}",
        f"{lines:,}",
        seconds_text(elapsed),
        seconds_text(sum(spent)),
        seconds_text(elapsed / nodes * 10_000),
        seconds_text(cpu / nodes * 10_000),
    ]


def main(quick: bool = False) -> str:
    import symgrad as sg

    scale = 10 if quick else 1
    depth = 100_000 // scale
    n = 10_000 // scale

    def rosenbrock_gradient() -> tuple[Any, list]:
        f, xs = rosenbrock(symgrad_library(), n)
        return [f, *sg.gradient(f, xs)], xs

    rows = [
        _measure(f"sin chain, depth {depth:,}", lambda: _deep_chain(depth)),
        _measure(f"Rosenbrock N = {n:,}: f", lambda: rosenbrock(symgrad_library(), n)),
        _measure(f"Rosenbrock N = {n:,}: f and ∇f", rosenbrock_gradient),
    ]
    headers = [
        "graph",
        "nodes",
        "source lines",
        "lambdify",
        "of which Python compile",
        "per 10,000 nodes",
        "CPU time per 10,000 nodes",
    ]
    notes = [
        "One cold run each; wall time, and the process's CPU time (steadier when other work "
        f"shares the machine). Machine: {machine()}."
    ]
    return table("lambdify on big and deep graphs", headers, rows, notes)


if __name__ == "__main__":
    main()
