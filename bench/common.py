"""Shared helpers for the benchmarks: timing, running sympy under a time limit in a child
process, sympy's op count after CSE, and markdown tables.

Derivation and compile times are single runs (a second run would find symgrad's interned
nodes and sympy's caches warm); evaluation times are the best of a few runs.
"""

from __future__ import annotations

import multiprocessing
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy as sp

POINTS = 10**6
"""Evaluation size: 10^6 input values (points x inputs per point)."""


def once(function: Callable[[], Any]) -> tuple[Any, float]:
    """The result of one call and its wall time in seconds."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def best(function: Callable[[], Any], repeat: int = 3) -> float:
    """The best wall time of `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def sympy_ops(exprs: Sequence[sp.Expr]) -> tuple[int, float]:
    """sympy's op count of `exprs` after `sympy.cse`, and the time cse took."""
    (replacements, reduced), seconds = once(lambda: sp.cse(list(exprs)))
    parts = [rhs for _, rhs in replacements] + list(reduced)
    return sum(sp.count_ops(part) for part in parts), seconds


def _child(function: Callable[[Callable[[str, Any], None]], None], connection: Any) -> None:
    try:
        function(lambda key, value: connection.send((key, value)))
    except BaseException as error:  # report, then end the child quietly
        connection.send(("error", f"{type(error).__name__}: {error}"))
    connection.send(("done", None))


def run_limited(
    function: Callable[[Callable[[str, Any], None]], None], seconds: float
) -> dict[str, Any]:
    """Run `function(report)` in a forked child for at most `seconds`.

    The child calls `report(key, value)` as each figure is ready, so a run cut short still
    gives the figures it reached; `"timeout"` is set in the result when it was cut short.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(function, sender), daemon=True)
    process.start()
    sender.close()
    results: dict[str, Any] = {}
    deadline = time.perf_counter() + seconds
    try:
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0 or not receiver.poll(remaining):
                results["timeout"] = seconds
                break
            try:
                key, value = receiver.recv()
            except EOFError:
                results.setdefault("error", "the child process died")
                break
            if key == "done":
                break
            results[key] = value
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receiver.close()
    return results


# --- formatting -----------------------------------------------------------------------------


def seconds_text(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def ratio_text(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator == 0:
        return "—"
    value = numerator / denominator
    if value >= 100:
        return f"{value:.0f}x"
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def table(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], notes: Sequence[str] = ()
) -> str:
    """A markdown table under a bold title, with notes below; printed and returned."""
    lines = [f"**{title}**", ""]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join(" --- " for _ in headers) + "|")
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    if notes:
        lines.append("")
        lines += list(notes)
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    return text


def machine() -> str:
    """The machine and versions the figures come from."""
    import os

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, sympy {sp.__version__}"
    )


# --- the gradient workloads: one function, built by both libraries, measured side by side --


class Library:
    """The few building blocks a workload needs, from symgrad or from sympy."""

    def __init__(
        self,
        name: str,
        symbols: Callable[[Sequence[str]], list],
        total: Callable[[list], Any],
        functions: Any,
    ):
        self.name = name
        self.symbols = symbols
        self.total = total  # the sum of a list of terms
        self.functions = functions  # a module with tanh, sin, exp, sqrt, ...

    def __getattr__(self, name: str) -> Any:
        return getattr(self.functions, name)


def _symgrad_total(terms: list) -> Any:
    result = terms[0]
    for term in terms[1:]:
        result = result + term
    return result


def symgrad_library() -> Library:
    import symgrad as sg

    return Library("symgrad", lambda names: list(sg.variables(list(names))), _symgrad_total, sg)


def sympy_library() -> Library:
    return Library(
        "sympy", lambda names: [sp.Symbol(name) for name in names], lambda terms: sp.Add(*terms), sp
    )


def _first_point(values: Sequence[Any], points: int) -> list[float]:
    return [float(np.broadcast_to(value, (points,))[0]) for value in values]


def measure_symgrad(
    build: Callable[[Library], tuple[Any, list]], inputs: np.ndarray, repeat: int = 3
) -> dict[str, Any]:
    """Derive the gradient of `build`'s function with `sg.gradient`, compile it, evaluate it."""
    import symgrad as sg
    from symgrad.ir.graph import gc_paused

    with gc_paused():
        (f, variables), build_time = once(lambda: build(symgrad_library()))
    partials, derive = once(lambda: sg.gradient(f, variables))
    function, compile_time = once(lambda: sg.lambdify(variables, partials))
    values = function(*inputs)
    return {
        "build": build_time,
        "forward_ops": sg.count_ops(f),
        "ops": sg.count_ops(partials),
        "derive": derive,
        "compile": compile_time,
        "eval": best(lambda: function(*inputs), repeat),
        "check": _first_point(values, inputs.shape[1]),
    }


def measure_sympy(
    build: Callable[[Library], tuple[Any, list]],
    inputs: np.ndarray,
    seconds: float,
    repeat: int = 3,
) -> dict[str, Any]:
    """The same with sympy: `diff` per input, `cse`, `lambdify(cse=True)`, evaluation; at most
    `seconds` in all (a child process), reporting how far it got."""

    def work(report: Callable[[str, Any], None]) -> None:
        f, variables = build(sympy_library())
        start = time.perf_counter()
        partials = []
        for count, variable in enumerate(variables, 1):
            partials.append(sp.diff(f, variable))
            report("progress", (count, time.perf_counter() - start))
        report("derive", time.perf_counter() - start)
        ops, cse_time = sympy_ops(partials)
        report("ops", ops)
        report("cse", cse_time)
        function, compile_time = once(lambda: sp.lambdify(variables, partials, cse=True))
        report("compile", compile_time)
        values = function(*inputs)
        report("check", _first_point(values, inputs.shape[1]))
        report("eval", best(lambda: function(*inputs), repeat))

    return run_limited(work, seconds)


def agreement(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    """Do both gradients agree at the first point (relative 1e-9)?"""
    if "check" not in ours or "check" not in theirs:
        return "—"
    same = np.allclose(ours["check"], theirs["check"], rtol=1e-9, atol=1e-12)
    return "yes" if same else "NO"


def sympy_derive_text(theirs: dict[str, Any], total: int) -> str:
    """sympy's derivation time, or how far it got: '> 60 s (12/337 partials)'."""
    if "derive" in theirs:
        return seconds_text(theirs["derive"])
    if not theirs:
        return "not run"
    if "error" in theirs:
        return f"failed: {theirs['error']}"
    count, elapsed = theirs.get("progress", (0, 0.0))
    return f"> {theirs.get('timeout', elapsed):.0f} s ({count}/{total} partials)"


def gradient_rows(
    label: str, ours: dict[str, Any], theirs: dict[str, Any], inputs: int
) -> tuple[list[Any], list[Any]]:
    """One row of the derivation table and one of the compile/evaluation table."""
    derive_row = [
        label,
        ours["forward_ops"],
        ours["ops"],
        f"{ours['ops'] / ours['forward_ops']:.2f}",
        theirs.get("ops", "—"),
        ratio_text(theirs.get("ops"), ours["ops"]),
        seconds_text(ours["derive"]),
        sympy_derive_text(theirs, inputs),
        ratio_text(theirs.get("derive"), ours["derive"]),
    ]
    ours_total = ours["derive"] + ours["compile"]
    theirs_total = (theirs["derive"] + theirs["compile"]) if "compile" in theirs else None
    eval_row = [
        label,
        seconds_text(ours["compile"]),
        seconds_text(theirs.get("compile")),
        ratio_text(theirs_total, ours_total),
        seconds_text(ours["eval"]),
        seconds_text(theirs.get("eval")),
        ratio_text(theirs.get("eval"), ours["eval"]),
        agreement(ours, theirs),
    ]
    return derive_row, eval_row


DERIVE_HEADERS = [
    "workload",
    "f ops",
    "∇ ops",
    "∇/f",
    "sympy ∇ ops (cse)",
    "sympy/symgrad ops",
    "derive symgrad",
    "derive sympy",
    "sympy/symgrad",
]
EVAL_HEADERS = [
    "workload",
    "compile symgrad",
    "lambdify(cse) sympy",
    "sympy/symgrad (derive + compile)",
    "eval symgrad",
    "eval sympy",
    "sympy/symgrad eval",
    "agree",
]
