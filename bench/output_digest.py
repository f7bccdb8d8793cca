"""A fingerprint of what symgrad outputs, to compare two commits: a tuning change must leave
every output as it was (or smaller, on purpose). For seeded random expressions (arithmetic
half the time, else any scalar op), it takes the expression, its `simplify`, its `gradient` in
x and y and the simplified gradient, and prints their op counts and a SHA-256 digest of their
text.

    python -m bench.output_digest --count 3000          # the digest and the op totals
    python -m bench.output_digest --count 3000 --write out.txt   # one line per expression

Run it on both commits (e.g. `git worktree add`); equal digests mean identical outputs, and
the `--write` files show which expressions changed.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from pathlib import Path
from typing import NamedTuple

if __package__ in (None, ""):  # `python bench/output_digest.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import symgrad as sg
from bench.common import table
from symgrad.ir.fold import apply
from symgrad.ir.graph import Tensor, const, count_ops
from symgrad.ir.op import OPS
from symgrad.ops import scalar

_NAMES = ("x", "y", "z")
_NUMBERS = (0, 1, -1, 2, 3, 0.5)
_ARITHMETIC = ("add", "sub", "mul", "div", "neg")
# The rows of symgrad.ops.scalar: the digest stays comparable as special functions join the
# table (symgrad.ops.special, whose rows the table-driven tests cover one by one).
_CORE = sorted(name for name, op in OPS.items() if getattr(scalar, name, None) is op)


class Digest(NamedTuple):
    """What `outputs` saw: how many expressions, op totals and the digest of every text."""

    count: int
    gradient_ops: int
    simplified_ops: int
    simplified_gradient_ops: int
    sha256: str


def random_expression(rng: random.Random, depth: int) -> Tensor:
    """A random scalar expression over x, y, z and small numbers, any op of the table."""
    if depth == 0 or rng.random() < 0.15:
        if rng.random() < 0.7:
            return sg.var(rng.choice(_NAMES))
        return const(rng.choice(_NUMBERS))
    a = random_expression(rng, depth - 1)
    roll = rng.random()
    if roll < 0.1:  # squares and cubes: the common powers
        return apply(OPS["pow"], a, rng.choice((2, 3)))
    # arithmetic half the time, as in real formulas; else any op of the table
    name = rng.choice(_ARITHMETIC) if roll < 0.6 else rng.choice(_CORE)
    op = OPS[name]
    return apply(op, a) if op.arity == 1 else apply(op, a, random_expression(rng, depth - 1))


def outputs(count: int, depth: int, lines: list[str] | None = None) -> Digest:
    """The digest of `count` seeded expressions (seeds 0 .. count - 1); each one's line of text
    goes to `lines` when given."""
    x, y = sg.var("x"), sg.var("y")
    sha = hashlib.sha256()
    totals = [0, 0, 0]
    for seed in range(count):
        f = random_expression(random.Random(seed), depth)
        partials = sg.gradient(f, [x, y])
        simplified, simplified_partials = sg.simplify(f), sg.simplify(partials)
        counts = (count_ops(partials), count_ops(simplified), count_ops(simplified_partials))
        totals = [total + n for total, n in zip(totals, counts, strict=True)]
        line = " | ".join([str(seed), str(f), str(simplified), *map(str, partials),
                           *map(str, simplified_partials), " ".join(map(str, counts))])
        sha.update(line.encode() + b"\n")
        if lines is not None:
            lines.append(line)
    return Digest(count, *totals, sha.hexdigest())


def main(quick: bool = False) -> None:
    count = 200 if quick else 3000
    digest = outputs(count, depth=6)
    table(
        f"Outputs of {count:,} random expressions (depth 6, every scalar op)",
        ["expressions", "gradient ops", "simplified ops", "simplified gradient ops", "SHA-256"],
        [[f"{digest.count:,}", f"{digest.gradient_ops:,}", f"{digest.simplified_ops:,}",
          f"{digest.simplified_gradient_ops:,}", digest.sha256[:16]]],
        ["Equal digests on two commits: identical outputs (`python -m bench.output_digest`)."],
    )


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.output_digest",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="expressions (seeds 0..count-1)")
    parser.add_argument("--depth", type=int, default=6, help="depth of each expression")
    parser.add_argument("--write", type=Path, metavar="FILE", help="one line per expression")
    options = parser.parse_args(argv)
    lines: list[str] | None = [] if options.write else None
    digest = outputs(options.count, options.depth, lines)
    if options.write and lines is not None:
        options.write.write_text("\n".join(lines) + "\n")
    print(" ".join(f"{name}={value}" for name, value in digest._asdict().items()))
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
