"""Simplified derivatives beside sympy: for classic formulas, symgrad's `count_ops` of
`simplify(f.grad(x))` and the time (derive + simplify), beside sympy's
`count_ops(simplify(diff(f, x)))` and its time (diff + simplify).

symgrad counts distinct nodes of a DAG (a shared subexpression once); sympy's `count_ops`
counts the printed tree. Each formula is built once with symgrad and handed to sympy through
`sg.to_sympy`, so both differentiate the same function. Run `python bench/simplify_counts.py`.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/simplify_counts.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sympy as sp

import symgrad as sg
from bench.common import machine, once, ratio_text, run_limited, seconds_text, table


def _formulas() -> list[tuple[str, Callable[[], tuple[sg.Tensor, sg.Tensor]]]]:
    """(name, build) pairs; build returns (f, the variable to differentiate by)."""
    x, y, a, b, c, w, z = sg.variables("x y a b c w z")
    w1, w2, b1, b2, mu, s = sg.variables("w1 w2 b1 b2 mu s")
    p = sg.sigmoid(w * x + b)
    return [
        ("sigmoid(x)", lambda: (sg.sigmoid(x), x)),
        ("softplus log(1 + exp(x))", lambda: (sg.log(1 + sg.exp(x)), x)),
        ("tanh(x)", lambda: (sg.tanh(x), x)),
        ("softmax cross-entropy -log(e^a/(e^a + e^b + e^c)), d/da",
         lambda: (-sg.log(sg.exp(a) / (sg.exp(a) + sg.exp(b) + sg.exp(c))), a)),
        ("x**x", lambda: (x**x, x)),
        ("2-layer neuron tanh(w2*tanh(w1*x + b1) + b2), d/dw1",
         lambda: (sg.tanh(w2 * sg.tanh(w1 * x + b1) + b2), w1)),
        ("Gaussian exp(-(x - mu)**2/(2*s**2))/(s*sqrt(2*pi)), d/ds",
         lambda: (sg.exp(-((x - mu) ** 2) / (2 * s**2)) / (s * math.sqrt(2 * math.pi)), s)),
        ("logistic loss -(y*log(p) + (1 - y)*log(1 - p)), p = sigmoid(w*x + b), d/dw",
         lambda: (-(y * sg.log(p) + (1 - y) * sg.log(1 - p)), w)),
        ("log-sum-exp log(e^a + e^b), d/da", lambda: (sg.log(sg.exp(a) + sg.exp(b)), a)),
        ("squared error (w*x + b - y)**2, d/dw", lambda: ((w * x + b - y) ** 2, w)),
        ("Rosenbrock (1 - x)**2 + 100*(y - x**2)**2, d/dx",
         lambda: ((1 - x) ** 2 + 100 * (y - x**2) ** 2, x)),
        ("norm sqrt(x**2 + y**2), d/dx", lambda: (sg.sqrt(x**2 + y**2), x)),
        ("sin(x)**2 + cos(x)**2", lambda: (sg.sin(x) ** 2 + sg.cos(x) ** 2, x)),
        ("damped wave exp(-x)*sin(w*x), d/dx", lambda: (sg.exp(-x) * sg.sin(w * x), x)),
        ("relu(w*x + b)*z, d/dw", lambda: (sg.relu(w * x + b) * z, w)),
    ]


def _ours(build: Callable[[], tuple[sg.Tensor, sg.Tensor]]) -> dict[str, Any]:
    f, wrt = build()
    raw = f.grad(wrt)
    simplified, seconds = once(lambda: sg.simplify(f.grad(wrt)))
    return {"raw": sg.count_ops(raw), "ops": sg.count_ops(simplified), "time": seconds,
            "text": str(simplified)}


def _theirs(build: Callable[[], tuple[sg.Tensor, sg.Tensor]], seconds: float) -> dict[str, Any]:
    f, wrt = build()
    expr, symbol = sg.to_sympy(f), sg.to_sympy(wrt)

    def work(report: Callable[[str, Any], None]) -> None:
        result, spent = once(lambda: sp.simplify(sp.diff(expr, symbol)))
        report("ops", int(sp.count_ops(result)))
        report("time", spent)
        report("text", sp.sstr(result))

    return run_limited(work, seconds)


def _large(quick: bool) -> list[list[Any]]:
    """simplify on big graphs: Rosenbrock gradients (reverse mode) and a deep chain."""
    from symgrad.ir.graph import gc_paused

    rows = []
    for n in (1_000, 2_000) if quick else (1_000, 10_000):
        xs = sg.variables([f"x{i}" for i in range(n)])
        with gc_paused():
            f = xs[0] * 0
            for i in range(n - 1):
                f = f + 100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2
            partials = sg.gradient(f, xs)
        start = time.process_time()
        simplified = sg.simplify(partials)
        spent = time.process_time() - start
        rows.append([f"gradient of Rosenbrock, N = {n:,}", f"{sg.count_ops(partials):,}",
                     f"{sg.count_ops(simplified):,}", seconds_text(spent)])
    from bench.common import symgrad_library
    from bench.mlp import mlp_loss

    with gc_paused():
        loss, parameters = mlp_loss(symgrad_library(), 8 if quick else 32)
        partials = sg.gradient(loss, parameters)
    start = time.process_time()
    simplified = sg.simplify(partials)
    spent = time.process_time() - start
    rows.append([f"gradient of the MLP loss (bench/mlp.py, {8 if quick else 32} samples)",
                 f"{sg.count_ops(partials):,}", f"{sg.count_ops(simplified):,}",
                 seconds_text(spent)])
    x = sg.var("x")
    chain = x
    depth = 20_000 if quick else 100_000
    with gc_paused():
        for i in range(depth):
            chain = chain + 1 if i % 2 else sg.sin(chain)
    start = time.process_time()
    simplified = sg.simplify(chain)
    spent = time.process_time() - start
    rows.append([f"chain sin(...) + 1, depth {depth:,}", f"{sg.count_ops(chain):,}",
                 f"{sg.count_ops(simplified):,}", seconds_text(spent)])
    return rows


def main(quick: bool = False) -> str:
    limit = 20 if quick else 300
    rows, forms = [], []
    for name, build in _formulas():
        ours = _ours(build)
        theirs = _theirs(build, limit)
        sympy_ops = theirs.get("ops")
        rows.append([
            name, ours["raw"], ours["ops"], seconds_text(ours["time"]),
            "—" if sympy_ops is None else sympy_ops, seconds_text(theirs.get("time")),
            ratio_text(ours["ops"], sympy_ops), ratio_text(theirs.get("time"), ours["time"]),
        ])
        forms.append([name, f"`{ours['text']}`", f"`{theirs.get('text', '—')}`"])
    headers = ["formula", "symgrad raw ops", "symgrad simplified ops", "symgrad time",
               "sympy ops", "sympy time", "ops symgrad/sympy", "time sympy/symgrad"]
    notes = [
        "symgrad: `count_ops(simplify(f.grad(x)))`, time of grad + simplify (one cold run); "
        "raw ops: `count_ops(f.grad(x))` before simplifying. sympy: "
        "`count_ops(simplify(diff(f, x)))`, time of diff + simplify, at most "
        f"{limit} s. symgrad counts DAG nodes (shared once), sympy counts its tree.",
        f"Machine: {machine()}.",
    ]
    text = table("Simplified derivatives: op counts and times", headers, rows, notes)
    text += table("Simplified derivatives: the forms", ["formula", "symgrad", "sympy"], forms)
    text += table("simplify on large graphs", ["graph", "ops", "ops simplified", "CPU time"],
                  _large(quick), ["CPU time (`time.process_time`) of one `sg.simplify` call."])
    return text


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
