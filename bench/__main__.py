"""Run every benchmark workload and print its tables: `python -m bench [--quick] [--only NAME]`;
`python -m bench --peers` runs symgrad beside CasADi and JAX (`bench/peers.py`, bench extra).

Workloads are modules of this package exposing `main(quick: bool = False)`; a listed module
that is not there (yet) is skipped, and one that fails is reported without stopping the rest.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback

from bench.common import machine

WORKLOADS = (
    "gradient_scaling",
    "rosenbrock",
    "mlp",
    "tensor_mlp",
    "elementwise",
    "compile_speed",
    "simplify_counts",
    "training",
    "interning",
    "derivation_floor",
    "output_digest",
    "stability",
    "printing",
    "recurrence",
    "recurrence_stability",
    "logistic",
    "accuracy",
    "simplify_speed",
)


def run(names: list[str], quick: bool) -> int:
    """Run the named workloads in order; the number that failed."""
    failed = 0
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"bench.{name}":
                raise
            print(f"## {name}: not present, skipped\n", flush=True)
            continue
        if not callable(getattr(module, "main", None)):
            print(f"## {name}: has no main(quick), skipped\n", flush=True)
            continue
        print(f"## {name}\n", flush=True)
        start = time.perf_counter()
        try:
            module.main(quick=quick)
        except Exception:
            failed += 1
            print(f"{name} FAILED:\n{traceback.format_exc()}", flush=True)
        print(f"({name}: {time.perf_counter() - start:.1f} s)\n", flush=True)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and short sympy time limits (well under a minute)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only this workload (repeatable): {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="symgrad beside CasADi and JAX (needs the bench extra: pip install -e '.[bench]')",
    )
    options = parser.parse_args(argv)
    names = (options.only or []) + (["peers"] if options.peers else [])
    names = names or list(WORKLOADS)
    print(
        f"# symgrad benchmarks{' (--quick)' if options.quick else ''}\n\n{machine()}\n", flush=True
    )
    start = time.perf_counter()
    failed = run(names, options.quick)
    print(f"total: {time.perf_counter() - start:.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
