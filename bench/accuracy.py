"""Accuracy of the accuracy search on the formulas numerical analysts write: the NMSE examples
and problems of Hamming's "Numerical Methods for Scientists and Engineers", ch. 3, as FPBench's
Hamming suite states them (names and input ranges after it), and a few benchmarks of FPBench's
other suites (Rosa, FPTaylor) and of Herbie's tutorial. For each formula: bits of error (mean and
worst) of the value and of each partial derivative, before (the formula as typed, its plain
gradient) and after (`sg.stabilize(f, ranges=...)`, `sg.gradient(f, x, stable=True,
ranges=...)`), and the time both took. The error is measured on a sample of its own (seed 1),
not the one the search chose by (seed 0): half uniform on the float line, half by value.

Run: `python -m bench.accuracy [--quick] [--only NAME]` (or `python -m bench --only accuracy`).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import NamedTuple

import numpy as np

import symgrad as sg
from bench.common import machine, table
from symgrad.backends.precise import bits_of_error, precise
from symgrad.ir.graph import toposort
from symgrad.verify.sampling import sample_points


class Benchmark(NamedTuple):
    name: str  # as its suite names it
    formula: str
    ranges: dict[str, tuple[float, float]]
    source: str = "FPBench hamming"


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
    Benchmark("NMSE problem 3.3.4", "cbrt(x + 1) - cbrt(x)", {"x": BIG}),
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
    Benchmark("NMSE p42, positive", "(-b + sqrt(b**2 - 4*a*c))/(2*a)",
              {"a": (1e-3, 1e3), "b": (1e3, 1e8), "c": (1e-3, 1e3)}),
    Benchmark("NMSE problem 3.2.1, positive", "(-b2 + sqrt(b2*b2 - a*c))/a",
              {"a": (1e-3, 1e3), "b2": (1e3, 1e8), "c": (1e-3, 1e3)}),
    Benchmark("tanh by exponentials", "2/(1 + exp(-2*x)) - 1", {"x": (-20.0, 20.0)},
              "Hamming (FPBench hamming: tanhf)"),
    Benchmark("asinh by logarithms", "log(x + sqrt(x*x + 1))", {"x": (-1.0, 1.0)},
              "FPBench hamming (asinh)"),
    Benchmark("logexp", "log(1 + exp(x))", {"x": (-1000.0, 1000.0)}, "Herbie tutorial"),
    Benchmark("doppler1", "-(331.4 + 0.6*T)*v/((331.4 + 0.6*T + u)*(331.4 + 0.6*T + u))",
              {"u": (-100.0, 100.0), "v": (20.0, 2e4), "T": (-30.0, 50.0)}, "FPBench rosa"),
    Benchmark("verhulst", "4*x/(1 + x/1.11)", {"x": (0.1, 0.3)}, "FPBench rosa"),
    Benchmark("sine", "x - x**3/6 + x**5/120 - x**7/5040", {"x": (-1.57079632679, 1.57079632679)},
              "FPBench rosa"),
    Benchmark("sqroot", "1 + 0.5*x - 0.125*x*x + 0.0625*x*x*x - 0.0390625*x*x*x*x",
              {"x": (0.0, 1.0)}, "FPBench rosa"),
    Benchmark("rigidBody1", "-x1*x2 - 2*x2*x3 - x1 - x3",
              {"x1": (-15.0, 15.0), "x2": (-15.0, 15.0), "x3": (-15.0, 15.0)}, "FPBench rosa"),
    Benchmark("hypot", "sqrt(x*x + y*y)", {"x": (-1e300, 1e300), "y": (-1e300, 1e300)},
              "FPBench (Herbie's sqrt of squares)"),
]

WITHIN = 5.0
"""Bits of error within which a value or partial counts as accurate."""


class Errors(NamedTuple):
    mean: float
    worst: float


def _errors(formula: sg.Tensor, truth: sg.Tensor, points: dict[str, np.ndarray]) -> Errors:
    """Bits of error of `formula` in float64 against the exact value of `truth` (an equal
    formula), at the points where that is a real number."""
    names = list(points)
    size = len(points[names[0]])
    order = toposort(truth)
    exact = [precise(order, {n: float(points[n][i]) for n in names}) for i in range(size)]
    values = np.array([value.values[-1] if not value.out_of_reach[-1] else math.nan
                       for value in exact])
    with np.errstate(all="ignore"):
        computed = np.broadcast_to(np.asarray(sg.evaluate(formula, points), dtype=np.float64),
                                   values.shape)
    kept = ~np.isnan(values)
    if not kept.any():
        return Errors(0.0, 0.0)
    bits = bits_of_error(computed[kept], values[kept])
    return Errors(float(bits.mean()), float(bits.max()))


class Result(NamedTuple):
    value: tuple[Errors, Errors]  # before, after
    partials: list[tuple[str, Errors, Errors]]  # name, before, after
    program: str
    seconds: float


def measure(benchmark: Benchmark, count: int) -> Result:
    """Bits of error of the formula and its partials before and after the search, and the
    seconds the search took (value and every partial)."""
    f = sg.parse(benchmark.formula)
    names = sorted(benchmark.ranges)
    variables = [sg.var(name) for name in names]
    start = time.perf_counter()
    found = sg.stabilize(f, ranges=benchmark.ranges, count=count, seed=0)
    stable_partials = sg.gradient(f, variables, stable=True, ranges=benchmark.ranges)
    seconds = time.perf_counter() - start
    points = sample_points(names, benchmark.ranges, count, seed=1)
    value = (_errors(f, f, points), _errors(found.program, f, points))
    partials = []
    for name, plain, stable in zip(names, sg.gradient(f, variables), stable_partials,
                                   strict=True):
        partials.append((name, _errors(plain, plain, points), _errors(stable, plain, points)))
    return Result(value, partials, str(found.program), seconds)


def _cell(errors: Errors) -> str:
    return f"{errors.mean:.1f} / {errors.worst:.1f}"


def _gradient_cell(partials: list[tuple[str, Errors, Errors]], after: bool) -> str:
    return "<br>".join(f"d/d{name}: {_cell(later if after else earlier)}"
                       for name, earlier, later in partials)


def _accurate(result: Result, by_worst: bool) -> tuple[bool, bool]:
    """Whether the value, and every partial, is within `WITHIN` bits after (at worst or on
    average)."""
    def ok(errors: Errors) -> bool:
        return (errors.worst if by_worst else errors.mean) <= WITHIN

    return ok(result.value[1]), all(ok(after) for _, _, after in result.partials)


def _worse(before: Errors, after: Errors) -> bool:
    return after.mean > before.mean + 0.5


def main(quick: bool = False, only: str | None = None) -> str:
    count = 64 if quick else 256
    rows, results = [], []
    for benchmark in BENCHMARKS:
        if only and only not in benchmark.name:
            continue
        result = measure(benchmark, count)
        results.append(result)
        changed = result.program != str(sg.parse(benchmark.formula))
        program = result.program if len(result.program) <= 160 else result.program[:157] + "..."
        rows.append([benchmark.name, benchmark.source, f"`{benchmark.formula}`",
                     _cell(result.value[0]), _cell(result.value[1]),
                     _gradient_cell(result.partials, False), _gradient_cell(result.partials, True),
                     f"`{program}`" if changed else "(unchanged)",
                     f"{result.seconds:.1f} s"])
    total = len(results)
    notes = []
    for by_worst, label in ((True, "at worst"), (False, "on average")):
        verdicts = [_accurate(r, by_worst) for r in results]
        value_ok = sum(v for v, _ in verdicts)
        both_ok = sum(v and g for v, g in verdicts)
        before_ok = sum(1 for r in results
                        if (r.value[0].worst if by_worst else r.value[0].mean) <= WITHIN)
        notes.append(f"Within {WITHIN:g} bits {label}: value {value_ok} of {total} after "
                     f"({before_ok} before); value and every partial {both_ok} of {total}.")
    worse_value = sum(_worse(*r.value) for r in results)
    worse_partials = sum(_worse(before, after) for r in results for _, before, after in
                         r.partials)
    partial_count = sum(len(r.partials) for r in results)
    times = [r.seconds for r in results]
    notes.append(f"Made worse (mean error up by more than 0.5 bits): {worse_value} values of "
                 f"{total}, {worse_partials} partials of {partial_count}. Time per formula "
                 f"(search of the value and of every partial): median "
                 f"{statistics.median(times):.1f} s, max {max(times):.1f} s. {count} samples "
                 f"a variable (search seed 0, measured at seed 1); {machine()}.")
    return table("Bits of error (mean / worst) before and after the accuracy search",
                 ["benchmark", "source", "formula", "value before", "value after",
                  "gradient before", "gradient after", "searched form", "time"], rows, notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="run the benchmarks whose name contains this")
    arguments = parser.parse_args()
    main(arguments.quick, arguments.only)
