"""symgrad beside its closest peers, CasADi (SX, a C++ scalar graph) and JAX (`jit`), on the
same functions at the same points, results checked against each other: `python -m bench
--peers` (needs the `bench` extra: `pip install -e '.[bench]'`).

Workloads: the gradient of Rosenbrock (N = 10,000) and of an MLP loss (2-16-16-1, 32 samples
as constants, 337 parameters) at one point; the derivative of the logistic map
(l = x; l = 4 l (1 - l), n - 1 times) on 10^6 points for n = 100 and n = 1,000; deriving the
two gradients. JAX gets the vector forms (its natural way to write them). Each logistic run is
a fresh process, so its peak resident memory (RSS) is its own; its first call (compile
included) is reported apart from the best of the later calls.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Library, best, machine, once, ratio_text, seconds_text, table
from bench.mlp import LAYERS, SAMPLES, data, mlp_loss
from bench.rosenbrock import rosenbrock

PEERS = ("symgrad", "casadi", "jax")
ROSENBROCK_N = 10_000
THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
LOGISTIC_POINTS = 10**6


# --- the functions, per library -------------------------------------------------------------


def _point(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size)


def _symgrad_gradient(build: Callable[[Library], tuple[Any, list]], point: np.ndarray) -> dict:
    import symgrad as sg
    from bench.common import symgrad_library

    f, variables = build(symgrad_library())
    partials, derive = once(lambda: sg.gradient(f, variables))
    function, compile_time = once(lambda: sg.lambdify(variables, partials))
    values = tuple(point.tolist())
    function(*values)
    return {
        "derive": derive,
        "compile": compile_time,
        "eval": best(lambda: function(*values), 20),
        "result": np.array(function(*values)),
    }


def _casadi_library() -> Library:
    import casadi as ca

    return Library("casadi", lambda names: [ca.SX.sym(name) for name in names], sum, ca)


def _casadi_gradient(build: Callable[[Library], tuple[Any, list]], point: np.ndarray) -> dict:
    import casadi as ca

    f, variables = build(_casadi_library())
    x = ca.vertcat(*variables)
    gradient, derive = once(lambda: ca.gradient(f, x))
    function, compile_time = once(lambda: ca.Function("gradient", [x], [gradient]))
    function(point)
    return {
        "derive": derive,
        "compile": compile_time,
        "eval": best(lambda: function(point), 20),
        "result": np.array(function(point)).ravel(),
    }


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def _jax_gradient(loss: Callable[[Any], Any], point: np.ndarray) -> dict:
    jax = _jax()
    function = jax.jit(jax.grad(loss))
    argument = jax.numpy.asarray(point)
    result, first = once(lambda: function(argument).block_until_ready())
    return {
        "first": first,
        "eval": best(lambda: function(argument).block_until_ready(), 20),
        "result": np.asarray(result),
    }


def _jax_rosenbrock(x: Any) -> Any:
    import jax.numpy as jnp

    return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def _jax_mlp(parameters: Any) -> Any:
    """The MLP loss of `bench.mlp`, its parameters flat in the same order (per layer: the
    weights row by row, then the biases)."""
    import jax.numpy as jnp

    inputs, targets = data(SAMPLES)
    activations = jnp.asarray(inputs).T  # (features, samples)
    offset = 0
    for depth, (fan_in, fan_out) in enumerate(zip(LAYERS, LAYERS[1:], strict=False)):
        weights = parameters[offset : offset + fan_in * fan_out].reshape(fan_out, fan_in)
        offset += fan_in * fan_out
        biases = parameters[offset : offset + fan_out]
        offset += fan_out
        sums = weights @ activations + biases[:, None]
        activations = sums if depth == len(LAYERS) - 2 else jnp.tanh(sums)
    return jnp.mean((activations[0] - jnp.asarray(targets)) ** 2)


def _logistic(library_name: str, steps: int, points: np.ndarray) -> dict:
    """The derivative of the logistic map on `points` in one library: times and results."""
    if library_name == "symgrad":
        import symgrad as sg

        x = sg.var("x")
        value = x
        for _ in range(steps - 1):
            value = 4 * value * (1 - value)
        derivative, derive = once(lambda: sg.gradient(value, [x])[0])
        function, compile_time = once(lambda: sg.lambdify([x], derivative))
        call = lambda: function(points)  # noqa: E731
    elif library_name == "casadi":
        import casadi as ca

        x = ca.SX.sym("x")
        value = x
        for _ in range(steps - 1):
            value = 4 * value * (1 - value)
        derivative, derive = once(lambda: ca.gradient(value, x))
        function, compile_time = once(
            lambda: ca.Function("d", [x], [derivative]).map(len(points), "thread", THREADS)
        )
        row = points.reshape(1, -1)
        call = lambda: np.asarray(function(row)).ravel()  # noqa: E731
    else:
        jax = _jax()

        def logistic(x: Any) -> Any:
            for _ in range(steps - 1):
                x = 4 * x * (1 - x)
            return x

        derive, compile_time = 0.0, 0.0  # tracing and compiling happen in the first call
        function = jax.jit(jax.vmap(jax.grad(logistic)))
        argument = jax.numpy.asarray(points)
        call = lambda: np.asarray(function(argument).block_until_ready())  # noqa: E731
    with np.errstate(all="ignore"):
        result, first = once(call)
        repeat = 3 if steps <= 100 else 1
        evaluation = best(call, repeat) if repeat > 1 else None
    return {
        "derive": derive,
        "compile": compile_time,
        "first": first,
        "eval": evaluation,
        "rss": peak_rss(),
        "sample": np.asarray(result)[:: max(1, len(points) // 10_000)].tolist(),
    }


def peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux's VmHWM; getrusage's maxrss would
    carry the parent's peak over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _logistic_in_child(library_name: str, steps: int, size: int) -> dict:
    """`_logistic` in a fresh Python process: its own peak memory, no warm caches."""
    command = [sys.executable, "-m", "bench.peers", "logistic", library_name, str(steps), str(size)]
    root = Path(__file__).resolve().parent.parent
    completed = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1:]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _logistic_points(size: int) -> np.ndarray:
    return np.random.default_rng(7).uniform(0, 1, size)


# --- checking and reporting -----------------------------------------------------------------


def agree(results: dict[str, Any], rtol: float = 1e-9) -> str:
    """How many of each peer's results agree with symgrad's (relative `rtol`, NaN and
    infinities alike): "CasADi 100%, JAX 100%"."""
    ours = results.get("symgrad")
    if ours is None:
        return "—"
    ours = np.asarray(ours, dtype=float).ravel()
    shares = []
    for name, label in (("casadi", "CasADi"), ("jax", "JAX")):
        theirs = results.get(name)
        if theirs is None:
            continue
        theirs = np.asarray(theirs, dtype=float).ravel()
        same = np.isclose(theirs, ours, rtol=rtol, atol=0, equal_nan=True)
        shares.append(f"{label} {np.floor(same.mean() * 1000) / 10:g}%")
    return ", ".join(shares) or "—"


def _row(label: str, runs: dict[str, dict], key: str = "eval", rtol: float = 1e-9) -> list:
    times = {name: runs.get(name, {}).get(key) for name in PEERS}
    results = {name: run.get("result", run.get("sample")) for name, run in runs.items()}
    return [
        label,
        *(seconds_text(times[name]) for name in PEERS),
        ratio_text(times["symgrad"], times["casadi"]),
        ratio_text(times["symgrad"], times["jax"]),
        agree(results, rtol),
    ]


HEADERS = [
    "workload",
    "symgrad",
    "CasADi SX",
    "JAX jit",
    "symgrad/CasADi",
    "symgrad/JAX",
    "results agree",
]


def _one_point_runs(quick: bool) -> tuple[list, list]:
    n = 100 if quick else ROSENBROCK_N
    count = sum(i * o + o for i, o in zip(LAYERS, LAYERS[1:], strict=False))
    workloads = [
        (
            f"Rosenbrock N = {n:,}",
            lambda library: rosenbrock(library, n),
            _jax_rosenbrock,
            _point(n, 1),
        ),
        (
            f"MLP 2-16-16-1 ({SAMPLES} samples, {count} parameters)",
            mlp_loss,
            _jax_mlp,
            _point(count, 2),
        ),
    ]
    eval_rows, derive_rows = [], []
    for label, build, jax_loss, point in workloads:
        runs = {
            "symgrad": _symgrad_gradient(build, point),
            "casadi": _casadi_gradient(build, point),
            "jax": _jax_gradient(jax_loss, point),
        }
        eval_rows.append(_row(f"{label}: gradient at one point", runs))
        derive_rows.append(
            [
                f"`gradient` of {label}",
                seconds_text(runs["symgrad"]["derive"]),
                seconds_text(runs["casadi"]["derive"]),
                ratio_text(runs["symgrad"]["derive"], runs["casadi"]["derive"]),
                seconds_text(runs["symgrad"]["compile"]),
                seconds_text(runs["casadi"]["compile"]),
                seconds_text(runs["jax"]["first"]),
            ]
        )
    return eval_rows, derive_rows


def _logistic_runs(quick: bool) -> tuple[list, list]:
    size = 10**4 if quick else LOGISTIC_POINTS
    eval_rows, batch_rows = [], []
    for steps in (100, 1_000):
        runs = {name: _logistic_in_child(name, steps, size) for name in PEERS}
        label = f"logistic n = {steps:,}, d/dx on {size:,} points"
        if steps > 100:  # the first call, with everything it takes to get there
            label += " (derive + compile + first call)"
            for run in runs.values():
                if "first" in run:
                    run["total"] = run["derive"] + run["compile"] + run["first"]
        # The map is chaotic: a rounding difference (a fused multiply-add) doubles each step.
        eval_rows.append(_row(label, runs, "eval" if steps <= 100 else "total", 1e-6))
        for name in PEERS:
            run = runs[name]
            if "error" in run:
                batch_rows.append([label, name, f"failed: {run['error']}", "", "", "", ""])
                continue
            batch_rows.append(
                [
                    label,
                    name,
                    seconds_text(run["derive"]),
                    seconds_text(run["compile"]),
                    seconds_text(run["first"]),
                    seconds_text(run["eval"]),
                    f"{run['rss'] / 2**20:,.0f} MB",
                ]
            )
    return eval_rows, batch_rows


def main(quick: bool = False) -> str:
    try:
        import casadi  # noqa: F401
        import jax  # noqa: F401
    except ImportError as error:
        message = f"the peers benchmark needs the bench extra (pip install -e '.[bench]'): {error}"
        print(message, flush=True)
        return message
    # numba's interpreter is loaded once per process (from its disk cache): not in the figures.
    from symgrad.backends.kernels import interpreter

    _, load = once(interpreter)
    point_rows, derive_rows = _one_point_runs(quick)
    logistic_rows, batch_rows = _logistic_runs(quick)
    import casadi
    import jax

    versions = f"CasADi {casadi.__version__}, JAX {jax.__version__}; {machine()}"
    text = table(
        "symgrad beside CasADi and JAX: evaluation (ratios below 1 mean symgrad is faster)",
        HEADERS,
        point_rows + logistic_rows,
        [
            "One point: best of 20 calls after a first. Logistic n = 100: best of 3 calls after "
            "the first; n = 1,000: derivation, compile and the first call, each library in a "
            "fresh process (JAX derives and compiles in its first call). symgrad: "
            "`sg.gradient` + `sg.lambdify` (backend auto). CasADi: `gradient`, `Function` (and "
            f"`map` over the points, {THREADS} threads). JAX: `jit(grad(...))`, vector forms; "
            "`vmap` over the points. Results agree: the share of each peer's values equal to "
            "symgrad's within relative 1e-9 (logistic: 1e-6), NaN and infinities alike. "
            f"Loading symgrad's numba interpreter (once per process, from its disk cache) took "
            f"{seconds_text(load)} here, before these figures.",
            versions + ".",
        ],
    )
    text += table(
        "Deriving and compiling the gradients",
        [
            "workload",
            "derive symgrad",
            "derive CasADi",
            "symgrad/CasADi",
            "lambdify symgrad",
            "Function CasADi",
            "JAX first call (trace + compile + run)",
        ],
        derive_rows,
    )
    text += table(
        "Logistic map on many points, each library in a fresh process",
        ["workload", "library", "derive", "compile", "first call", "best later call", "peak RSS"],
        batch_rows,
        [
            "JAX derives and compiles inside its first call. Peak RSS: the whole process "
            "(interpreter, libraries, inputs and outputs included)."
        ],
    )
    return text


def _child(arguments: list[str]) -> None:
    library_name, steps, size = arguments[0], int(arguments[1]), int(arguments[2])
    print(json.dumps(_logistic(library_name, steps, _logistic_points(size))))


if __name__ == "__main__":
    if sys.argv[1:2] == ["logistic"]:
        _child(sys.argv[2:])
    else:
        main(quick="--quick" in sys.argv)
