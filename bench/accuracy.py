"""Accuracy of `stabilize` on the formulas numerical analysts write: the NMSE examples and
problems of Hamming's "Numerical Methods for Scientists and Engineers", ch. 3, as FPBench's
Hamming suite states them (names and input ranges after it). For each formula: bits of error
of the value (mean and worst over `advise`'s samples: half uniform on the float line, half by
value) before and after `sg.stabilize`, and the time both took.

Run: `python -m bench.accuracy [--quick]` (or `python -m bench --only accuracy`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import NamedTuple

import symgrad as sg
from bench.common import machine, table


class Benchmark(NamedTuple):
    name: str  # as FPBench's Hamming suite names it
    formula: str
    ranges: dict[str, tuple[float, float]]


BIG = (1.0, 1e16)
SMALL = (-1e-2, 1e-2)
BENCHMARKS = [
    Benchmark("NMSE example 3.1", "sqrt(x + 1) - sqrt(x)", {"x": (0.0, 1e16)}),
    Benchmark("NMSE example 3.3", "sin(x + e1) - sin(x)", {"x": (-1e4, 1e4), "e1": SMALL}),
    Benchmark("NMSE example 3.4", "(1 - cos(x))/sin(x)", {"x": (-1.0, 1.0)}),
    Benchmark("NMSE example 3.5", "atan(n + 1) - atan(n)", {"n": BIG}),
    Benchmark("NMSE example 3.6", "1/sqrt(x) - 1/sqrt(x + 1)", {"x": BIG}),
    Benchmark("NMSE example 3.7", "exp(x) - 1", {"x": (-1.0, 1.0)}),
    Benchmark("NMSE example 3.8", "(n + 1)*log(n + 1) - n*log(n) - 1", {"n": BIG}),
    Benchmark("NMSE example 3.9", "1/x - 1/tan(x)", {"x": (-1.0, 1.0)}),
    Benchmark("NMSE example 3.10", "log(1 - x)/log(1 + x)", {"x": (-0.9, 0.9)}),
    Benchmark("NMSE problem 3.3.1", "1/(x + 1) - 1/x", {"x": BIG}),
    Benchmark("NMSE problem 3.3.2", "tan(x + e1) - tan(x)", {"x": (-1.0, 1.0), "e1": SMALL}),
    Benchmark("NMSE problem 3.3.3", "1/(x + 1) - 2/x + 1/(x - 1)", {"x": (2.0, 1e16)}),
    Benchmark("NMSE problem 3.3.5", "cos(x + e1) - cos(x)", {"x": (-1e4, 1e4), "e1": SMALL}),
    Benchmark("NMSE problem 3.3.6", "log(n + 1) - log(n)", {"n": BIG}),
    Benchmark("NMSE problem 3.3.7", "exp(x) - 2 + exp(-x)", {"x": (-1.0, 1.0)}),
    Benchmark("NMSE problem 3.4.1", "(1 - cos(x))/x**2", {"x": (-1.0, 1.0)}),
    Benchmark("NMSE problem 3.4.3", "log((1 - e1)/(1 + e1))", {"e1": (-0.9, 0.9)}),
    Benchmark("NMSE problem 3.4.4", "sqrt((exp(2*x) - 1)/(exp(x) - 1))", {"x": (-300.0, 300.0)}),
    Benchmark("NMSE problem 3.4.5", "(x - sin(x))/(x - tan(x))", {"x": (-1.0, 1.0)}),
    Benchmark("NMSE problem 3.4.6", "(x + 1)**(1/n) - x**(1/n)",
              {"x": (0.0, 1e8), "n": (1.0, 10.0)}),
    Benchmark("NMSE section 3.5", "exp(a*x) - 1", {"a": (-1.0, 1.0), "x": (-1.0, 1.0)}),
    Benchmark("NMSE section 3.11", "exp(x)/(exp(x) - 1)", {"x": (-700.0, 700.0)}),
    Benchmark("quadratic formula, + root", "(-b + sqrt(b**2 - 4*a*c))/(2*a)",
              {"a": (1e-3, 1e3), "b": (1e3, 1e8), "c": (1e-3, 1e3)}),
    Benchmark("tanh by exponentials", "2/(1 + exp(-2*x)) - 1", {"x": (-20.0, 20.0)}),
]


def measure(benchmark: Benchmark, count: int) -> dict[str, float | str]:
    """Bits of error of the formula before and after `stabilize`, and the seconds taken."""
    f = sg.parse(benchmark.formula)
    start = time.process_time()
    stable = sg.stabilize(f)
    before, after = (sg.advise(g, ranges=benchmark.ranges, count=count).findings[0]
                     for g in (f, stable))
    return {"stable": str(stable), "mean before": before.mean_bits,
            "worst before": before.worst_bits, "mean after": after.mean_bits,
            "worst after": after.worst_bits, "seconds": time.process_time() - start}


def main(quick: bool = False) -> str:
    count = 64 if quick else 256
    rows, results = [], []
    for benchmark in BENCHMARKS:
        result = measure(benchmark, count)
        results.append(result)
        changed = result["stable"] != str(sg.parse(benchmark.formula))
        rows.append([benchmark.name, f"`{benchmark.formula}`",
                     f"{result['mean before']:.1f} / {result['worst before']:.1f}",
                     f"{result['mean after']:.1f} / {result['worst after']:.1f}",
                     f"`{result['stable']}`" if changed else "(unchanged)",
                     f"{result['seconds']:.1f} s"])
    within = sum(1 for r in results if float(r["worst after"]) <= 5)
    lost = sum(1 for r in results if float(r["worst before"]) > 10)
    notes = [f"{within} of {len(results)} within 5 bits at worst after stabilize; "
             f"{lost} lose more than 10 bits before. Median time "
             f"{statistics.median(float(r['seconds']) for r in results):.1f} s a formula. "
             f"{count} samples a variable; {machine()}."]
    return table("Bits of error (mean / worst) before and after stabilize",
                 ["benchmark", "formula", "before", "after", "stable form", "time"], rows,
                 notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)
