"""`simplify` on large gradients, this tree beside a reference commit: time and peak memory of
simplifying the gradient of a 20,000-step chain t = t*cos(t) + (u - u) + 1*t**1 (220,000
nodes), of Rosenbrock at N = 10,000 and of the MLP loss (`bench/mlp.py`), with the ratio.

Each row runs in a child process with its tree first on PYTHONPATH, so both trees are timed in
the same run on the same machine. The reference is a checkout of commit a8986ca (the
simplifier before the rewrite engine): `python -m bench.simplify_speed --base /tmp/base`, or
the SYMGRAD_BASE environment variable; without one, only this tree is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
BASE_COMMIT = "a8986ca"
CHAIN_STEPS = 20_000
ROSENBROCK_N = 10_000
TIME_LIMIT = 600.0
"""Seconds a row may take in one tree before it is reported as cut short."""


def chain(steps: int) -> tuple:
    """t = t*cos(t) + (u - u) + 1*t**1, `steps` times from x, and [x, u]."""
    import symgrad as sg

    x, u = sg.variables("x u")
    t = x
    for _ in range(steps):
        t = t * sg.cos(t) + (u - u) + 1 * t**1
    return t, [x, u]


def rosenbrock(n: int) -> tuple:
    from bench.common import symgrad_library
    from bench.rosenbrock import rosenbrock as build

    return build(symgrad_library(), n)


def mlp(samples: int) -> tuple:
    from bench.common import symgrad_library
    from bench.mlp import mlp_loss

    return mlp_loss(symgrad_library(), samples)


ROWS = {
    "chain": (f"chain of {CHAIN_STEPS:,} steps", lambda quick: chain(2_000 if quick else
                                                                      CHAIN_STEPS)),
    "rosenbrock": (f"Rosenbrock N = {ROSENBROCK_N:,}",
                   lambda quick: rosenbrock(1_000 if quick else ROSENBROCK_N)),
    "mlp": ("MLP 2-16-16-1, 32 samples", lambda quick: mlp(4 if quick else 32)),
}
"""The rows: a name and a builder of (f, variables), smaller with `quick`."""


def child(row: str, quick: bool) -> dict:
    """Build the row's gradient, simplify it; the figures, printed as JSON by the child."""
    import gc

    import symgrad as sg

    sys.setrecursionlimit(10_000)
    f, variables = ROWS[row][1](quick)
    partials = sg.gradient(f, variables)
    gc.collect()
    start_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    simplified = sg.simplify(partials)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {"seconds": seconds, "megabytes": max(0, peak - start_bytes) / 1e3,
            "ops": sg.count_ops(partials), "simplified_ops": sg.count_ops(simplified)}


def measure(tree: Path, row: str, quick: bool) -> dict:
    """The child's figures for `row` with `tree` first on the path, or {"error": text}."""
    environment = dict(os.environ, PYTHONPATH=str(tree))
    command = [sys.executable, str(Path(__file__).resolve()), "--child", row]
    if quick:
        command.append("--quick")
    try:
        done = subprocess.run(command, env=environment, capture_output=True, text=True,
                              timeout=TIME_LIMIT, cwd=tree)
    except subprocess.TimeoutExpired:
        return {"error": f"over {TIME_LIMIT:.0f} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:60]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(quick: bool = False, base: str | None = None) -> None:
    from bench.common import ratio_text, seconds_text, table

    base = base or os.environ.get("SYMGRAD_BASE")
    rows = []
    for row, (name, _) in ROWS.items():
        ours = measure(HERE, row, quick)
        theirs = measure(Path(base), row, quick) if base else {}
        rows.append([
            name, f"{ours.get('ops', 0):,}", f"{ours.get('simplified_ops', 0):,}",
            ours.get("error") or seconds_text(ours.get("seconds")),
            f"{ours['megabytes']:.0f} MB" if "megabytes" in ours else "—",
            theirs.get("error") or seconds_text(theirs.get("seconds")),
            f"{theirs['megabytes']:.0f} MB" if "megabytes" in theirs else "—",
            ratio_text(theirs.get("seconds"), ours.get("seconds")),
        ])
    table(
        "simplify of large gradients" + (" (quick sizes)" if quick else ""),
        ["gradient", "ops", "simplified ops", "simplify", "peak memory",
         f"{BASE_COMMIT} simplify", f"{BASE_COMMIT} memory", "speed-up"],
        rows,
        [f"Reference: a checkout of {BASE_COMMIT} (--base DIR or SYMGRAD_BASE); each row in its "
         "own child process. Memory: peak resident size above the size before simplify."],
    )


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simplify_speed",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--base", help=f"a checkout of {BASE_COMMIT} to time beside this tree")
    parser.add_argument("--quick", action="store_true", help="smaller graphs")
    parser.add_argument("--child", choices=sorted(ROWS), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        print(json.dumps(child(options.child, options.quick)))
    else:
        main(options.quick, options.base)
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
