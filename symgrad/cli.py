"""The `symgrad` command: `diff`, `eval`, `draw`, `advise` and `demo`, one small function per
subcommand, each entered in `COMMANDS` by the `@command` decorator (adding a subcommand is one
function).

Usage mistakes (bad expression, bad `--at`, unknown variable, a picture past `--max-nodes`,
a file that cannot be written) print one clear line to stderr and exit 2, as argparse does for
its own; library errors exit 1 (and a wrong `--claim`); success exits 0.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from symgrad import __version__
from symgrad.api import gradient, stabilize
from symgrad.backends.compile import codegen
from symgrad.backends.evaluate import evaluate
from symgrad.demo import run
from symgrad.interop.parse import ParseError, parse
from symgrad.ir.graph import Tensor, free_variables, name_of
from symgrad.ir.op import FUNCTIONS
from symgrad.ir.shapes import ShapeError
from symgrad.ir.wrt import as_variables
from symgrad.present.dot import GraphvizError, GraphvizNotFoundError, render, to_dot, to_dot_pair
from symgrad.present.explain import explain
from symgrad.present.order import in_canonical_order
from symgrad.present.printing import format_value, inlined_size, latex, pretty
from symgrad.rewrite.simplify import simplify
from symgrad.verify.advise import Advice, advise
from symgrad.verify.checking import check_derivative
from symgrad.verify.compare import compare
from symgrad.verify.matrix_check import check_tensor

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_INLINED = 5_000
"""A derivative whose inlined text passes this many nodes prints in the shared form."""

EXAMPLES = """\
examples:
  symgrad diff "x*y + sin(x)**2" --wrt x --wrt y
  symgrad diff "(tanh(w*x + b) - t)**2" --wrt w --at w=0.5,x=2,b=0.1,t=1 --check
  symgrad diff "x**3/y" --wrt x --format latex
  symgrad diff "sigmoid(w*x)" --wrt w --dot grad.svg
  symgrad eval "x*y + b" --at x=2,y=3,b=1
  symgrad explain "x*y + b" --wrt x,y,b --at x=2,y=3,b=1
  symgrad draw "(x + y)*y" -o graph.svg --grad y --at x=3,y=5
  symgrad advise "log(1 + exp(x))"
  symgrad demo
"""


class UsageError(Exception):
    """A mistake in how the command was called: one line to stderr (then `detail`, the lines
    that show where, if any), exit 2."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


def one_line(text: str) -> str:
    r"""`text` as one line of printable text: newlines, NUL, escapes and the like as Python
    writes them in a string.

    >>> print(one_line("a\nb\x00c"))
    a\nb\x00c
    """
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


@dataclass
class Command:
    """One subcommand: its arguments, what it does, and its help text with examples."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    examples: str = ""
    aliases: list[str] = field(default_factory=list)


COMMANDS: dict[str, Command] = {}
"""Every subcommand by name, in the order `--help` lists them."""


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None],
            examples: str = "") -> Callable:
    """Register the decorated `run(args) -> exit code` as the subcommand `name`."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable:
        COMMANDS[name] = Command(name, help, arguments, run, examples)
        return run

    return register


DIGITS = 10  # significant digits of the values the terminal shows


# --- argument helpers ---------------------------------------------------------------------------
def parse_expression(text: str, shapes: Mapping[str, tuple] | None = None) -> Tensor:
    """The expression (its names of vectors and matrices with the `shapes` declared), or a
    UsageError carrying the parser's message with its caret."""

    try:
        return parse(text, shapes=shapes)
    except ParseError as error:
        message, _, where = str(error).partition("\n")  # the text and a caret under the spot
        raise UsageError(f"bad expression: {message}", where) from None


def parse_at(items: Sequence[str] | None) -> dict[str, float]:
    """`["x=1,y=2", "z=-0.5"]` -> {"x": 1.0, "y": 2.0, "z": -0.5}; a value may be a formula
    of constants, like `pi/2` or `e**2`.

    >>> parse_at(["x=1,y=2.5", "z=-1e-3"])
    {'x': 1.0, 'y': 2.5, 'z': -0.001}
    >>> parse_at(["x=pi/2"])
    {'x': 1.5707963267948966}
    """
    point: dict[str, float] = {}
    for item in items or []:
        for pair in item.split(","):
            name, equals, number = (part.strip() for part in pair.partition("="))
            if not equals or not name.isidentifier():
                raise UsageError(
                    f"--at expects name=value pairs separated by commas, like x=1,y=2; "
                    f"got {pair.strip()!r}"
                )
            point[name] = _constant_value(name, number)
    return point


def _constant_value(name: str, text: str) -> float:
    """The number `text` stands for: a literal, or a formula of constants (`pi/2`)."""

    try:
        return float(text)
    except ValueError:
        pass
    try:
        value = parse(text) if text else None
    except ParseError:
        value = None
    if value is None or free_variables(value):
        raise UsageError(f"--at {name}={text}: {text!r} is not a number")
    return float(evaluate(value, {}))


def shape_declaration(rank: int) -> Callable[[str], tuple[str, tuple[int, ...]]]:
    """The reader of `--vector x:4` (rank 1) or `--matrix W:3,4` (rank 2).

    >>> shape_declaration(2)("W:3,4")
    ('W', (3, 4))
    """
    kind, example = ("vector", "x:4") if rank == 1 else ("matrix", "W:3,4")

    def read(text: str) -> tuple[str, tuple[int, ...]]:
        name, colon, dims = (part.strip() for part in text.partition(":"))
        sizes = [size.strip() for size in dims.split(",")]
        if not colon or not name.isidentifier() or len(sizes) != rank or not all(
                size.isdecimal() and int(size) > 0 for size in sizes):
            raise argparse.ArgumentTypeError(
                f"--{kind} expects NAME:{'N' if rank == 1 else 'M,N'} with positive sizes, "
                f"like {example}; got {one_line(text)!r}")
        return name, tuple(int(size) for size in sizes)

    return read


def _shape_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vector", action="append", dest="shapes", metavar="X:N",
                        type=shape_declaration(1), help="X is a vector of N entries")
    parser.add_argument("--matrix", action="append", dest="shapes", metavar="W:M,N",
                        type=shape_declaration(2), help="W is an M by N matrix")


def declared_shapes(args: argparse.Namespace) -> dict[str, tuple[int, ...]]:
    """The --vector and --matrix declarations by name; a name declared twice is an error."""
    shapes: dict[str, tuple[int, ...]] = {}
    for name, shape in getattr(args, "shapes", None) or ():
        if name in shapes:
            raise UsageError(f"{name} is declared twice (--vector/--matrix)")
        shapes[name] = shape
    return shapes


def expression_and_point(args: argparse.Namespace, required: bool = False) -> tuple:
    """The parsed EXPR and its --at point, checked against it when given (or `required`)."""
    f = parse_expression(args.expression, declared_shapes(args))
    point = parse_at(args.at)
    if args.at or required:
        check_point(f, point)
    return f, point


def check_point(f: Tensor, point: dict[str, float]) -> None:
    """Every variable of f has a value in `point`, and `point` names no other variable.

    >>> from symgrad.ir.graph import var
    >>> check_point(var("x") * var("y"), {"x": 1.0})
    Traceback (most recent call last):
    symgrad.cli.UsageError: no value for y: give every variable one, like --at x=1,y=1
    """
    shaped = [v for v in free_variables(f) if v.shape]
    if shaped:
        raise UsageError(f"--at gives numbers, and {name_of(shaped[0])} has shape "
                         f"{shaped[0].shape}: evaluate vectors and matrices from Python")
    names = [name_of(v) for v in free_variables(f)]
    listed = ", ".join(names) or "none"
    for name in point:
        if name not in names:
            raise UsageError(f"--at {name}=...: {name} is not a variable of the expression "
                             f"(its variables: {listed})")
    missing = [name for name in names if name not in point]
    if missing:
        raise UsageError(f"no value for {', '.join(missing)}: give every variable one, "
                         f"like --at {','.join(f'{n}=1' for n in names)}")


def parse_wrt(names: Sequence[str] | None, f: Tensor) -> list[Tensor]:
    """The variables to differentiate by; all of f's variables when none are given.

    >>> from symgrad.ir.graph import var
    >>> f = var("x") * var("y") + var("z")
    >>> [w.name for w in parse_wrt(["y", "x,z"], f)], parse_wrt(None, var("x"))
    (['y', 'x', 'z'], [Tensor(x)])
    """
    if not names:
        variables = free_variables(f)
        if not variables:
            raise UsageError("the expression has no variables to differentiate by")
        return variables
    present = free_variables(f)
    try:
        result = as_variables(list(names), f).variables
    except (TypeError, ValueError) as error:  # a name that is not one: "wrt '2x': ..."
        raise UsageError(f"--{error}") from None
    if not result:  # --wrt "" or --wrt ","
        raise UsageError("--wrt names no variable: give one, like --wrt x")
    for variable in result:
        if variable not in present:  # a typo, most likely; d f/d name would be a silent 0
            listed = ", ".join(name_of(v) for v in present) or "none"
            raise UsageError(f"--wrt {variable.name}: {variable.name} is not a variable of the "
                             f"expression (its variables: {listed})")
    return result


def quiet_evaluate(outputs: Any, point: dict[str, float]) -> Any:
    """Values at the point; nan and inf speak for themselves, without numpy's warnings."""
    import numpy as np


    with np.errstate(all="ignore"):
        return evaluate(outputs, point)


def check_picture_path(path: str) -> None:
    """Refuse a picture path before any work: a format we cannot write, a missing folder."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".svg", ".png", ".pdf", ".dot", ".gv"):
        raise UsageError(f"{path!r}: end the file name with .svg, .png, .pdf or .dot")
    folder = Path(path).parent
    if not folder.is_dir():  # a typo in the folder is not a request to create it
        raise UsageError(f"cannot write {path!r}: the folder {str(folder)!r} does not exist")


def write_picture(graph: Any, path: str) -> None:
    check_picture_path(path)
    try:
        render(graph, path)
    except OSError as error:  # no such directory, no permission, a directory
        raise UsageError(f"cannot write {path!r}: {error.strerror or error}") from None
    except (ValueError, GraphvizError, GraphvizNotFoundError) as error:  # a NUL in the name
        raise UsageError(f"cannot write {path!r}: {error}") from None
    print(f"wrote {one_line(path)}", file=sys.stderr)


# --- subcommands ----------------------------------------------------------------------------------
def _diff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expression", help='the formula, e.g. "x*y + sin(x)**2"')
    _shape_arguments(parser)
    parser.add_argument("--wrt", action="append", metavar="VAR",
                        help="differentiate by VAR (repeat for several; default: every variable)")
    parser.add_argument("--raw", action="store_true",
                        help="print the derivative graph as built, without simplifying")
    parser.add_argument("--check", action="store_true",
                        help="also compare each derivative with sympy.diff and print the verdict")
    parser.add_argument("--at", action="append", metavar="X=1,Y=2",
                        help="also print the values at this point")
    parser.add_argument("--dot", metavar="FILE",
                        help="write f and its gradient graph side by side (.svg .png .pdf .dot)")
    parser.add_argument("--format", choices=("text", "latex", "python"), default="text",
                        help="how to print the derivatives (default: text)")
    parser.add_argument("--stable", action="store_true",
                        help="rewrite f and its derivatives in stable forms (softplus, "
                             "logaddexp, log1p, expm1, hypot, ...) that do not overflow")


@command("diff", "print the derivative(s) of an expression", _diff_arguments,
         examples='  symgrad diff "x*y + sin(x)**2" --wrt x --wrt y --check\n'
                  '  symgrad diff "exp(-x**2)" --wrt x --at x=0.5 --format latex\n'
                  '  symgrad diff "sum((W@x - y)**2)" --matrix W:3,4 --vector x:4 '
                  '--vector y:3 --wrt W')
def run_diff(args: argparse.Namespace) -> int:

    if args.dot:
        check_picture_path(args.dot)
    f, point = expression_and_point(args)
    if args.stable:
        f = stabilize(f)  # then its printed value is finite where the formula overflows
    wrt = parse_wrt(args.wrt, f)
    derivatives = gradient(f, wrt, stable=args.stable)
    if not args.raw:
        # each partial as if asked alone: the text of df/dx does not depend on which other
        # partials were asked (simplifying them together would count their shared parts)
        derivatives = [simplify(d) for d in derivatives]
        if args.stable:  # simplify knows nothing of stability: 1 - sigmoid(x) may come back
            derivatives = stabilize(derivatives)
    if args.format == "python":

        ordered = in_canonical_order(derivatives)  # the code reads as the text formats do
        print(codegen(ordered, "python", args=free_variables(f) or None, name="gradient"))
    else:
        for w, derivative in zip(wrt, derivatives, strict=True):
            inlined = inlined_size(derivative, limit=MAX_INLINED)
            if args.format == "latex":
                if inlined > MAX_INLINED:
                    raise UsageError(f"df/d{w.name} is too big for one LaTeX formula (over "
                                     f"{MAX_INLINED:,} nodes written out): use --format text")
                print(f"\\frac{{\\partial f}}{{\\partial {latex(w)}}} = {latex(derivative)}")
            elif inlined > MAX_INLINED:  # shared subexpressions named once: linear text
                print(f"df/d{w.name} =")
                print(textwrap.indent(pretty(derivative, shared=True), "  "))
            else:
                print(f"df/d{w.name} = {derivative}")
    # Values and verdicts after code or LaTeX are comments in that language.
    comment = {"text": "", "latex": "% ", "python": "# "}[args.format]
    if args.at:
        values = quiet_evaluate([f, *derivatives], point)
        shown = ", ".join(f"{name}={format_value(v, DIGITS)}" for name, v in point.items())
        print(f"{comment}at {shown}:")
        print(f"{comment}  f = {format_value(values[0], DIGITS)}")
        for w, value in zip(wrt, values[1:], strict=True):
            print(f"{comment}  df/d{w.name} = {format_value(value, DIGITS)}")
    failed = False
    if args.check:

        # sympy has no matrices: a tensor gradient is checked through its scalar expansion
        verdicts = check_tensor(f, wrt) if f.shape or any(w.shape for w in wrt) else [
            check_derivative(f, w, derivative) for w, derivative in zip(wrt, derivatives,
                                                                        strict=True)]
        against = "the scalar expansion" if len(verdicts) and (f.shape or any(
            w.shape for w in wrt)) else "sympy"
        for verdict in verdicts:
            failed = failed or not verdict
            text = f"check against {against}: {verdict}"
            print("\n".join(comment + line for line in text.splitlines()))
    if args.dot:
        write_picture(to_dot_pair(f, wrt, point, derivatives=derivatives), args.dot)
    return EXIT_FAILED if failed else EXIT_OK


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expression", help='the formula, e.g. "x*y + b"')
    _shape_arguments(parser)
    parser.add_argument("--wrt", action="append", metavar="VAR",
                        help="explain the derivative by VAR (repeatable; default: every variable)")
    parser.add_argument("--at", action="append", metavar="X=1,Y=2",
                        help="also show every step's numbers at this point")
    parser.add_argument("--mode", choices=("reverse", "forward"), default="reverse",
                        help="reverse: the backward pass (default); forward: as grad builds it")
    parser.add_argument("--claim", metavar="TEXT",
                        help="check a derivative worked out by hand (one --wrt); exit 1 if wrong")
    parser.add_argument("--dot", metavar="FILE",
                        help="write f beside its gradient graph, the step numbers on its nodes")


@command("explain", "show the chain rule step by step: the backward pass as a table",
         _explain_arguments,
         examples='  symgrad explain "x*y + b" --wrt x,y,b --at x=2,y=3,b=1\n'
                  '  symgrad explain "tanh(w*x + b)" --wrt w --mode forward\n'
                  '  symgrad explain "sin(x**2)" --wrt x --claim "cos(x**2)"')
def run_explain(args: argparse.Namespace) -> int:
    f, point = expression_and_point(args)
    wrt = parse_wrt(args.wrt, f)
    if args.claim is not None and len(wrt) != 1:
        raise UsageError("--claim checks one derivative: give exactly one --wrt")
    claim = None if args.claim is None else parse_expression(  # before any output
        args.claim, declared_shapes(args))
    explanation = explain(f, wrt, at=point or None, mode=args.mode)
    print(explanation)
    if args.dot:
        write_picture(explanation.to_dot(), args.dot)
    if claim is None:
        return EXIT_OK

    verdict = compare(f, wrt[0], claim)
    print(f"\n{verdict}")
    return EXIT_OK if verdict else EXIT_FAILED


def _eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expression", help='the formula, e.g. "x*y + b"')
    _shape_arguments(parser)
    parser.add_argument("--at", action="append", metavar="X=1,Y=2",
                        help="the values of the variables (required when there are any)")


@command("eval", "print the value of an expression at a point", _eval_arguments,
         examples='  symgrad eval "x*y + b" --at x=2,y=3,b=1')
def run_eval(args: argparse.Namespace) -> int:
    f, point = expression_and_point(args, required=True)
    print(format_value(quiet_evaluate(f, point), DIGITS))
    return EXIT_OK


def _positive(text: str) -> float:
    """A finite number > 0 (`--dpi 200`), else argparse's error (exit 2)."""
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not 0 < number < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return number


def _inches(text: str) -> tuple[float, float]:
    """`--size 8,6` -> (8.0, 6.0): width and height in inches."""
    width, comma, height = text.partition(",")
    try:
        return _positive(width), _positive(height if comma else width)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected W,H in inches like 8,6; got {text!r}") from None


def _sampling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expression", help='the formula, e.g. "log(1 + exp(x))"')
    parser.add_argument("--range", action="append", metavar="X=LOW:HIGH", dest="ranges",
                        help="sample X in [LOW, HIGH] (repeatable; default: log-uniform over "
                             "the doubles, plus 0, 800 and 1e3)")
    parser.add_argument("--count", type=int, default=256, metavar="N",
                        help="points to sample (default: 256)")


def _advise_arguments(parser: argparse.ArgumentParser) -> None:
    _sampling_arguments(parser)
    parser.add_argument("--format", choices=("text", "markdown"), default="text",
                        help="how to print the table (default: text)")


def parse_ranges(items: Sequence[str] | None) -> dict[str, tuple[float, float]]:
    """`["x=-1e3:1e3"]` -> {"x": (-1000.0, 1000.0)}; a malformed item is a UsageError."""
    ranges = {}
    for item in items or ():
        name, _, bounds = item.partition("=")
        low, _, high = bounds.partition(":")
        try:
            values = (float(low), float(high))
        except ValueError:
            values = None
        if not name.strip() or values is None:
            raise UsageError(f"--range {item!r}: expected NAME=LOW:HIGH, e.g. x=-1000:1000")
        ranges[name.strip()] = values
    return ranges


@command("advise", "where an expression and its gradient lose accuracy, and stable forms",
         _advise_arguments,
         examples='  symgrad advise "log(1 + exp(x))"\n'
                  '  symgrad advise "sqrt(x**2 + y**2)" --range x=-1:1 --range y=-1:1')
def run_advise(args: argparse.Namespace) -> int:
    advice = advised(parse_expression(args.expression), args)
    print(advice.markdown() if args.format == "markdown" else advice)
    return EXIT_OK


def advised(f: Tensor, args: argparse.Namespace) -> Advice:
    """`advise` of f over the --range and --count of the command line."""
    try:
        return advise(f, ranges=parse_ranges(args.ranges), count=args.count)
    except ValueError as error:  # a range naming no variable of f, a bad count
        raise UsageError(str(error)) from error


def _stabilize_arguments(parser: argparse.ArgumentParser) -> None:
    _sampling_arguments(parser)
    parser.add_argument("--wrt", action="append", metavar="VAR",
                        help="also print the stable partial by VAR (repeatable)")


@command("stabilize", "rewrite an expression in forms that keep their accuracy, and measure it "
         "(with --range: search for the most accurate form over the ranges)",
         _stabilize_arguments,
         examples='  symgrad stabilize "log(1 + exp(x))" --range x=-1000:1000\n'
                  '  symgrad stabilize "log(exp(a) + exp(b))" --wrt a')
def run_stabilize(args: argparse.Namespace) -> int:
    f = parse_expression(args.expression)
    ranges = parse_ranges(args.ranges)
    print(f"f      = {f}")
    if ranges:  # the accuracy search over the ranges given
        try:
            found = stabilize(f, ranges=ranges, count=args.count)
        except (ValueError, LookupError) as error:  # a range naming no variable, no exact op
            raise UsageError(str(error)) from error
        print(f"stable = {found.program}")
        for label, (mean, worst) in (("before", found.before), ("after", found.after)):
            print(f"{label}: {mean:.1f} bits of error on average, {worst:.1f} at worst "
                  f"({found.points} points)")
        print(f"by: {'; '.join(found.steps) or 'no rewrite'}")
    else:
        stable = stabilize(f)
        print(f"stable = {stable}")
        for label, advice in (("before", advised(f, args)), ("after", advised(stable, args))):
            value = advice.findings[0]  # the whole formula's row
            print(f"{label}: {value.mean_bits:.1f} bits of error on average, "
                  f"{value.worst_bits:.1f} at worst ({advice.points} points)")
    if args.wrt:
        wrt = parse_wrt(args.wrt, f)
        partials = gradient(f, wrt, stable=True, ranges=ranges or None)
        for w, partial in zip(wrt, partials, strict=True):
            print(f"df/d{w.name} = {simplify(partial)}")
    return EXIT_OK


def _draw_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expression", help='the formula, e.g. "(x + y)*y"')
    _shape_arguments(parser)
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="the picture to write: .svg, .png, .pdf (or .dot for DOT text)")
    parser.add_argument("--grad", action="append", metavar="VAR",
                        help="draw the gradient graph by VAR beside the expression (repeatable)")
    parser.add_argument("--at", action="append", metavar="X=1,Y=2",
                        help="show each node's value (and d f/d node) at this point")
    parser.add_argument("--simplify", action="store_true",
                        help="draw the simplified gradient (default: the gradient as built, "
                             "which reuses the most nodes of the expression)")
    parser.add_argument("--name", default="f", metavar="NAME",
                        help="what to call the expression in the picture (default f: df/dx)")
    parser.add_argument("--top-down", action="store_true", help="draw top-down, not left-right")
    parser.add_argument("--tree", action="store_true",
                        help="draw the expression tree (output on top, a box for every use of "
                             "a shared part) instead of the shared graph; not with --grad, "
                             "--outline")
    parser.add_argument("--max-nodes", type=int, default=400, metavar="N",
                        help="refuse graphs with more than N nodes (default 400)")
    parser.add_argument("--outline", action="store_true",
                        help="past --max-nodes, draw the N nodes nearest the output and a "
                             "dashed box for each part left out")
    parser.add_argument("--dpi", type=_positive, metavar="DPI", help="resolution of a .png")
    parser.add_argument("--size", metavar="W,H", type=_inches,
                        help="the largest width and height in inches (scaled down to fit)")


@command("draw", "draw the expression graph (and its gradient graph) to a picture",
         _draw_arguments,
         examples='  symgrad draw "(x + y)*y" -o graph.svg\n'
                  '  symgrad draw "(x + y)*y" -o pair.png --grad y --at x=3,y=5 --dpi 200\n'
                  '  symgrad draw "(w*x - t)**2" -o loss.svg --grad w --name L --simplify')
def run_draw(args: argparse.Namespace) -> int:
    check_picture_path(args.output)
    f, point = expression_and_point(args)
    if not args.name:
        raise UsageError("--name: give the expression a name to show, like --name L")
    if args.tree and (args.grad or args.outline):
        raise UsageError("--tree draws one whole expression: leave out --grad and --outline")
    picture = {"rankdir": "BT" if args.tree else ("TB" if args.top_down else "LR"),
               "adjoints": bool(args.at), "max_nodes": args.max_nodes, "dpi": args.dpi,
               "size": args.size}
    if args.grad:
        wrt = parse_wrt(args.grad, f)
        derivatives = gradient(f, wrt)
        if args.simplify:
            derivatives = simplify(derivatives)
    try:
        if args.grad:
            graph = to_dot_pair(f, wrt, point, derivatives=derivatives, name=args.name,
                                **picture)
        else:
            graph = to_dot(f, point, outline=args.outline, tree=args.tree, **picture)
    except ValueError as error:  # a graph past --max-nodes: the options' mistake
        raise UsageError(str(error)) from None
    write_picture(graph, args.output)
    return EXIT_OK


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="symgrad-demo", metavar="DIR",
                        help="where to write the pictures (default ./symgrad-demo)")


@command("demo", "the gradient of a neuron's loss: formulas, sympy check, pictures",
         _demo_arguments, examples="  symgrad demo\n  symgrad demo --out /tmp/pictures")
def run_demo(args: argparse.Namespace) -> int:
    return EXIT_OK if run(args.out) else EXIT_FAILED


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    parser.add_argument("--time-limit", type=float, default=30.0, metavar="SECONDS",
                        help="wall time one formula's analysis may take (default 30)")


@command("serve", "a local web page: type a formula, see its partials, pictures and checks",
         _serve_arguments, examples="  symgrad serve\n  symgrad serve --port 8080")
def run_serve(args: argparse.Namespace) -> int:
    try:  # flask and waitress are the serve extra, loaded only for this command
        from symgrad.serve.app import Limits, serve  # late: flask is the serve extra
    except ImportError as error:
        raise UsageError(f"symgrad serve needs the serve extra ({error.name} is missing): "
                         f"pip install 'symgrad[serve]'") from None
    if not 0 < args.port < 65536 or args.time_limit <= 0:
        raise UsageError("--port is 1 to 65535 and --time-limit a positive number of seconds")
    serve(args.host, args.port, Limits(seconds=args.time_limit))
    return EXIT_OK


# --- entry point --------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        self.exit(EXIT_USAGE,
                  f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def _functions_help() -> str:
    """The functions expressions may call, from the op table, wrapped for --help."""
    from textwrap import fill


    names = ", ".join(sorted(FUNCTIONS))
    return fill(f"functions: {names}; operators + - * / ** (or ^)", width=78,
                subsequent_indent="  ") + "\n"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = _Parser(
        prog="symgrad",
        description="Symbolic differentiation that produces gradient graphs.",
        epilog=_functions_help() + "\n" + EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"symgrad {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for entry in COMMANDS.values():
        sub = subparsers.add_parser(
            entry.name, help=entry.help, description=entry.help,
            epilog=_functions_help() + ("\nexamples:\n" + entry.examples if entry.examples else ""),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        entry.arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `symgrad` command; returns the exit code (0 ok, 1 failed, 2 usage mistake).

    >>> main(["eval", "x*y + b", "--at", "x=2,y=3,b=1"])
    7
    0
    """
    parser = build_parser()
    args = parser.parse_args(dashes_as_text(sys.argv[1:] if argv is None else argv, parser))
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return COMMANDS[args.command].run(args)
    except (UsageError, ShapeError) as error:  # shapes that do not fit the command: usage
        message = in_flags(str(error), vars(args), _options(parser))
        print(f"symgrad {args.command}: error: {one_line(message)}", file=sys.stderr)
        if isinstance(error, UsageError) and error.detail:
            print(error.detail, file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, RuntimeError, OSError, LookupError, ArithmeticError,
            MemoryError) as error:  # one line, never a traceback (RecursionError included)
        message = in_flags(str(error), vars(args), _options(parser))
        message = message.splitlines()[0] if message else message
        print(f"symgrad {args.command}: {type(error).__name__}: {one_line(message)}",
              file=sys.stderr)
        return EXIT_FAILED


def _options(parser: argparse.ArgumentParser) -> dict[str, bool]:
    """Every option string of the parser and its subcommands -> whether it takes a value."""
    options: dict[str, bool] = {}
    parsers = [parser]
    while parsers:
        current = parsers.pop()
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            for option in action.option_strings:
                options[option] = action.nargs != 0
    return options


def dashes_as_text(argv: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    """`argv` with texts that begin with a minus (`-x**2`, `--claim -cos(x)`) kept as texts,
    where argparse would take them for unknown options: an option's value is joined to it
    (`--claim=-cos(x)`), an expression moves after `--`.

    >>> dashes_as_text(["diff", "-x**2", "--wrt", "x"], build_parser())
    ['diff', '--wrt', 'x', '--', '-x**2']
    """
    options = _options(parser)
    kept: list[str] = []
    texts: list[str] = []
    for index, token in enumerate(argv):
        if token == "--":
            texts += argv[index + 1:]
            break
        known = token.partition("=")[0] in options
        if not token.startswith("-") or known or token[1:].replace(".", "").isdigit():
            kept.append(token)
        elif kept and options.get(kept[-1]):
            kept[-1] = f"{kept[-1]}={token}"  # the value of the option before it
        else:
            texts.append(token)
    return kept + ["--", *texts] if texts else kept


def in_flags(message: str, dests: Iterable[str], options: Iterable[str]) -> str:
    """A library message in the command's words: `max_nodes=419` becomes `--max-nodes 419`
    for every keyword that is one of the command's options.

    >>> in_flags("pass max_nodes=419", ["max_nodes"], ["--max-nodes"])
    'pass --max-nodes 419'
    """
    for dest in dests:
        flag = "--" + dest.replace("_", "-")
        if flag in options:
            message = re.sub(rf"\b{dest}=", f"{flag} ", message)
    return message


if __name__ == "__main__":
    sys.exit(main())
