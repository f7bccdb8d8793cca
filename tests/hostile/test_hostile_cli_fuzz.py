"""The CLI on any text in any string option, and constant folding on signed zeros.

Every string option of `draw`, `diff`, `explain`, `eval` and `stabilize` takes hypothesis
text (quotes, backslashes, newlines, NUL, Unicode, text that looks like an option): the
command exits 0
with its output, or 2 with one line on stderr (a bad expression adds the line with a caret
under the spot) - never a traceback, never another exit code. Constant formulas fold to what
numpy computes, bit for bit with the sign of a zero, and print to text that parses back so.
"""

import atexit
import contextlib
import io
import math
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import symgrad as sg
from symgrad.cli import main

# --- the CLI ---------------------------------------------------------------------------------

HOSTILE = ['"', "'", "\\", "\n", "\r", "\t", "\x00", "\x1b", "<", ">", "{", "}", "|", "=", ",",
           "-", "--", ";", "#", "é", "中", "∂", "\u202e", "\ud800", "x", "y", "1", " ", ".", "*"]
texts = st.one_of(
    st.text(max_size=12),
    st.lists(st.sampled_from(HOSTILE), max_size=6).map("".join),
    st.sampled_from(["x", "y", "x*y", "x,y", "x=1,y=2", "x=0.5", "f", "-x", "--wrt", "-o", "--",
                     "-h", "--at=x=1", "8,6", "svg", "sin(x)", "-0.0", "nan", "1e999"]),
)
FORMULAS = ["x*y + sin(x)**2", "(x + y)*y", "-x**2*y", "x/y", "log(x) - 1/(-0.0) + y",
            "atan2(-0.0, x)*y", "max(x, y)**2", "t1 = x*y\nt1 + sin(t1)"]
"""Formulas of x and y, so that --at and --wrt values of x and y fit them."""
expressions = st.one_of(
    texts,
    *[st.sampled_from(FORMULAS)] * 4,
    st.lists(st.sampled_from(["x", "y", "+", "-", "*", "/", "**", "(", ")", "sin(", "1", "0.0",
                              ",", " "]), min_size=1, max_size=10).map("".join),
)
OUTPUT = Path(tempfile.mkdtemp(prefix="symgrad-cli-fuzz-"))
atexit.register(shutil.rmtree, OUTPUT, ignore_errors=True)


@st.composite
def file_names(draw) -> str:
    """A file in the test's own directory: any name (no `/`), with a suffix or none."""
    name = draw(st.one_of(texts, st.just("out"))).replace("/", "_")
    suffix = draw(st.sampled_from([".dot"] * 6 + [".svg", ".gv", "", ".jpg", ".svg/"]))
    return str(OUTPUT / (name + suffix))




def sane(*valid: str) -> st.SearchStrategy[str]:
    return st.sampled_from(valid)


PICTURES = st.sampled_from(["f.dot", "f.svg", "sub/f.gv"]).map(lambda name: str(OUTPUT / name))
WRT = sane("x", "y", "x,y")
AT = sane("x=1,y=2", "x=0.5,y=-0.0", "x=-0.0,y=1e999", "x=pi/2,y=nan")
SHAPES = {"--vector": (sane("v:3", "x:2"), texts), "--matrix": (sane("M:2,2", "y:1,3"), texts)}
OPTIONS = {
    "eval": {"--at": (AT, texts), **SHAPES},
    "diff": {**SHAPES, "--wrt": (WRT, texts), "--at": (AT, texts),
             "--format": (sane("text", "latex", "python"), texts),
             "--dot": (PICTURES, file_names())},
    "explain": {**SHAPES, "--wrt": (sane("x", "y"), texts), "--at": (AT, texts),
                "--mode": (sane("reverse", "forward"), texts),
                "--claim": (sane("y", "2*x", "0"), expressions),
                "--dot": (PICTURES, file_names())},
    "stabilize": {"--range": (sane("x=-1:1", "y=0.5:2"), texts), "--wrt": (WRT, texts),
                  "--count": (sane("8", "4"), texts)},
    "draw": {**SHAPES, "-o": (PICTURES, file_names()), "--grad": (WRT, texts), "--at": (AT, texts),
             "--name": (sane("f", "L"), texts), "--size": (sane("8,6", "2"), texts),
             "--dpi": (sane("72", "1.5"), texts), "--max-nodes": (sane("400", "3"), texts)},
}
"""Each subcommand's string options (choices and numbers too: their text is fuzzed), each
with values that work and hostile text."""


@st.composite
def command_lines(draw) -> list[str]:
    """A subcommand, its expression and some of its options, in any order: one of them (or
    none, or all) hostile text, the others values that work, so that each hostile text meets
    the code that reads it."""
    command = draw(st.sampled_from(sorted(OPTIONS)))
    hostile = draw(st.sampled_from(["expression", *OPTIONS[command], "none", "all"]))
    parts = [[draw(expressions if hostile in ("expression", "all") else sane(*FORMULAS))]]
    for option, (valid, fuzzed) in OPTIONS[command].items():
        if option == hostile or (hostile == "all" and draw(st.booleans())):
            parts.append([option, draw(fuzzed)])
        elif option in ("-o", "--count") or draw(st.booleans()):  # (a small count: fast)
            parts.append([option, draw(valid)])
    return [command, *(arg for part in draw(st.permutations(parts)) for arg in part)]


def _run(argv: list[str]) -> tuple[object, str, str]:
    """main(argv) in this process: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: object = main(argv)
        except SystemExit as exit_:  # argparse: --help, --version and its own errors
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def _check_outcome(argv: list[str], code: object, out: str, err: str) -> None:
    assert "Traceback" not in err, (argv, err)
    if code == 0:
        assert out or err.startswith("wrote "), (argv, out, err)
        if err:  # a picture, named in one line
            path = next(argv[i + 1] for i, arg in enumerate(argv) if arg in ("-o", "--dot"))
            assert err.count("\n") == 1 and Path(path).is_file(), (argv, err)
        return
    # explain --claim exits 1 when the claimed derivative is wrong, and says so
    assert code == 2 or (code == 1 and "--claim" in argv and "\nwrong: " in out), (
        argv, code, out, err)
    if code == 2:
        first, *rest = err.rstrip("\n").split("\n")
        assert first.startswith("symgrad") and "error:" in first, (argv, err)
        # one line; a bad expression adds the text and a caret under the spot
        assert not rest or ("bad expression:" in first and len(rest) == 2
                            and rest[1].strip() == "^"), (argv, err)
        assert all(char.isprintable() for char in first), (argv, err)


@given(command_lines())
def test_any_text_in_any_option_exits_0_or_2_with_one_line(argv):
    sg.var("x")._value = sg.var("y")._value = None
    code, out, err = _run(argv)
    event(f"{argv[0]}: exit {code}")
    _check_outcome(argv, code, out, err)


def test_command_lines_cover_every_string_option():
    """The options fuzzed are the subcommands' options that take a value."""
    from symgrad.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for command, options in OPTIONS.items():
        taking = {action.option_strings[0] for action in subparsers[command]._actions
                  if action.option_strings and action.nargs != 0 and action.dest != "help"}
        assert taking == set(options), command


@pytest.mark.parametrize(
    "argv, code, stderr_start",
    [
        (["draw", "x*y", "-o", "{out}/a.svg", "--grad", "x", "--name", b"a\\\n\xff<b>"], 0,
         "wrote "),
        (["diff", b"x*\xff\x1b[2J", "--wrt", b"x\n\xfe"], 2,
         "symgrad diff: error: bad expression:"),
    ],
)
def test_as_a_user_runs_it(argv, code, stderr_start, tmp_path):
    """A real process: argv bytes that are not UTF-8 arrive as surrogates."""
    argv = [arg.replace(b"{out}", str(tmp_path).encode()) if isinstance(arg, bytes)
            else arg.replace("{out}", str(tmp_path)) for arg in argv]
    done = subprocess.run([sys.executable, "-m", "symgrad", *argv], capture_output=True,
                          timeout=60)
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == code, err
    assert err.startswith(stderr_start) and "Traceback" not in err, err
    if code == 0:
        svg = (tmp_path / "a.svg").read_text()
        assert "a\\" in svg and "&lt;b&gt;" in svg and "\\udcff" in svg


# --- signed zeros ------------------------------------------------------------------------------

LEAVES = [0, -0.0, 1, -1, 2, -2, 3, -3, 0.5, -0.5, 0.25, 1.5, -1.5, 2**60, math.inf, -math.inf,
          math.nan, 1e308, -1e308, 5e-324, -5e-324]
"""Numbers whose sums, products and powers of two stay exact: folding's exact arithmetic of
integers and fractions then gives what floats give, so the two can be compared bit for bit."""
DIVISORS = [0, -0.0, 1, -1, 2, -2, 0.5, -0.25, math.inf, -math.inf, math.nan]
EXPONENTS = [0, -0.0, 1, 2, 3, 0.5, math.inf, -math.inf, math.nan]

# trees: a number, or (op, left, right): right a number for / and **, None for neg
trees = st.recursive(
    st.sampled_from(LEAVES),
    lambda inner: st.one_of(
        st.tuples(st.just("neg"), inner, st.none()),
        st.tuples(st.sampled_from(["add", "sub", "mul"]), inner, inner),
        st.tuples(st.just("div"), inner, st.sampled_from(DIVISORS)),
        st.tuples(st.just("pow"), inner, st.sampled_from(EXPONENTS)),
    ),
    max_leaves=6,
)
SYMGRAD = {"neg": lambda a, b: -a, "add": lambda a, b: a + b, "sub": lambda a, b: a - b,
           "mul": lambda a, b: a * b, "div": lambda a, b: a / b, "pow": lambda a, b: a**b}
# numpy's functions, as evaluation calls them (np.power(-0.0, 0.5) is -0.0; the scalar's
# own np.float64(-0.0)**0.5 is 0.0)
NUMPY = {"neg": lambda a, b: np.negative(a), "add": np.add, "sub": np.subtract,
         "mul": np.multiply, "div": np.divide, "pow": np.power}


def _evaluate(tree, leaf, ops=SYMGRAD):
    """The tree computed bottom-up with `ops`, leaves made by `leaf` (no recursion)."""
    results: list = []
    stack = [(tree, False)]
    while stack:
        node, ready = stack.pop()
        if not isinstance(node, tuple):
            results.append(leaf(node))
        elif ready:
            right = None if node[0] == "neg" else results.pop()
            left = results.pop()
            results.append(ops[node[0]](left, right))
        else:
            stack.append((node, True))
            stack += [(child, False) for child in (node[2], node[1]) if child is not None]
    return results[0]


def same_bits(a: float, b: float) -> bool:
    """Equal as doubles, the sign of a zero included (NaN is NaN whatever its sign bit)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


@given(trees)
def test_constant_formulas_fold_to_numpys_value_bit_for_bit(tree):
    with np.errstate(all="ignore"):
        expected = float(_evaluate(tree, np.float64, NUMPY))
        folded = _evaluate(tree, sg.const)
    assert folded.is_const, str(folded)
    assert same_bits(float(folded.value), expected), (tree, str(folded), expected)
    assert same_bits(float(sg.parse(str(folded)).value), expected), str(folded)


@given(trees, st.sampled_from(["atan2", "pow", "rpow", "sub", "rsub", "div", "rdiv", "mul"]))
def test_formulas_with_signed_zeros_print_to_text_that_parses_back(tree, how):
    x = sg.var("x")
    c = _evaluate(tree, sg.const)
    t = {"atan2": lambda: sg.atan2(c, x), "pow": lambda: c**x, "rpow": lambda: x**c,
         "sub": lambda: c - x, "rsub": lambda: x - c, "div": lambda: c / x,
         "rdiv": lambda: x / c, "mul": lambda: sg.sin(x) * c}[how]()
    back = sg.parse(str(t))
    with np.errstate(all="ignore"):
        for point in (-2.0, -0.0, 0.0, 1.5):
            assert same_bits(float(sg.evaluate(back, {"x": point})),
                             float(sg.evaluate(t, {"x": point}))), (str(t), point)
