"""Rosenbrock in N dimensions: the gradient with respect to all N inputs, symgrad beside sympy
(`diff`, `cse`, `lambdify(cse=True)`), evaluated on 10^6/N points (10^6 input values).

f(x) = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
"""

from __future__ import annotations

import numpy as np

from bench.common import (
    DERIVE_HEADERS,
    EVAL_HEADERS,
    POINTS,
    Library,
    gradient_rows,
    machine,
    measure_symgrad,
    measure_sympy,
    table,
)

SIZES = (10, 100, 1_000, 10_000)
QUICK_SIZES = (10, 30, 100, 1_000)


def rosenbrock(library: Library, n: int) -> tuple[object, list]:
    """f and its inputs x0 .. x{n-1}."""
    xs = library.symbols([f"x{i}" for i in range(n)])
    terms = [100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(n - 1)]
    return library.total(terms), xs


def main(quick: bool = False) -> str:
    sizes = QUICK_SIZES if quick else SIZES
    sympy_cap = 30 if quick else 1_000  # larger N: sympy's diff alone takes many minutes
    sympy_seconds = 10 if quick else 600
    derive_rows, eval_rows = [], []
    for n in sizes:
        inputs = np.random.default_rng(n).uniform(-2, 2, (n, max(1, POINTS // n)))
        build = lambda library, n=n: rosenbrock(library, n)  # noqa: E731
        ours = measure_symgrad(build, inputs)
        theirs = measure_sympy(build, inputs, sympy_seconds) if n <= sympy_cap else {}
        derive_row, eval_row = gradient_rows(f"N = {n:,}", ours, theirs, n)
        derive_rows.append(derive_row)
        eval_rows.append(eval_row)
    notes = [
        f"sympy runs for N <= {sympy_cap:,}, at most {sympy_seconds} s each; — where it did "
        "not run or finish. Op counts: symgrad `count_ops` (distinct nodes), sympy "
        "`count_ops` of the `cse` output.",
        f"Machine: {machine()}.",
    ]
    text = table("Rosenbrock: derivation and op counts", DERIVE_HEADERS, derive_rows)
    text += table(
        "Rosenbrock: compile, and the gradient on 10^6/N points", EVAL_HEADERS, eval_rows, notes
    )
    return text


if __name__ == "__main__":
    main()
