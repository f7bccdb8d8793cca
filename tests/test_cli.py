"""The `symgrad` command: output and exit codes for good and bad input, run as a user runs it
(`python -m symgrad` in a subprocess) and, for speed, through `main(argv)` in process."""

import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET

import pytest

import symgrad as sg
from symgrad.cli import COMMANDS, main, parse_at


def symgrad(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "symgrad", *argv], capture_output=True,
                          text=True, cwd=cwd, timeout=60)


@pytest.fixture(autouse=True)
def unbound_variables():
    for name in ("x", "y", "b", "w"):
        sg.var(name)._value = None


def exit_code(argv):
    """main's return value, or the code argparse exits with."""
    try:
        return main(list(argv))
    except SystemExit as error:
        return error.code


def run(capsys, *argv):
    code = exit_code(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --- as a subprocess ----------------------------------------------------------------------
def test_diff_prints_simplified_partials_values_and_the_sympy_verdict():
    result = symgrad("diff", "x*y + b", "--wrt", "x", "--wrt", "y", "--wrt", "b",
                     "--at", "x=2,y=3,b=1", "--check")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:7] == ["df/dx = y", "df/dy = x", "df/db = 1", "at x=2, y=3, b=1:", "  f = 7",
                         "  df/dx = 3", "  df/dy = 2"]
    assert lines[7] == "  df/db = 1"  # seed 003's table
    assert sum("check against sympy: d/d" in line and "agree" in line for line in lines) == 3


def test_bad_expression_prints_the_caret_and_exits_2():
    result = symgrad("diff", "x*+*y", "--wrt", "x")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "symgrad diff: error: bad expression: expected a number, a name or '(', got '*' "
        "at column 4",
        "x*+*y",
        "   ^",
    ]


def test_a_usage_mistake_exits_2_with_one_line():
    result = symgrad("diff", "x*y", "--at", "x=1")
    assert result.returncode == 2
    assert result.stderr == "symgrad diff: error: no value for y: give every variable one, " \
        "like --at x=1,y=1\n"


def test_usage_mistakes_exit_2_with_one_line(capsys):
    for argv, message in [
        (["diff", "x*y", "--at", "x=1"], "no value for y"),
        (["diff", "x*y", "--at", "x=1,y=2,q=3"], "q is not a variable of the expression"),
        (["eval", "x*y", "--at", "x=1;y=2"], "'1;y=2' is not a number"),
        (["eval", "x*y", "--at", "x"], "--at expects name=value pairs"),
        (["eval", "x", "--at", "x=one"], "'one' is not a number"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["diff", "x", "--format", "word"], "invalid choice: 'word'"),
    ]:
        code = exit_code(argv)
        err = capsys.readouterr().err
        assert code == 2, argv
        assert len(err.strip().splitlines()) == 1, err
        assert message in err, (argv, err)


def test_help_shows_examples(capsys):
    result = symgrad("--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "symgrad diff " in result.stdout
    for name in COMMANDS:
        assert name in result.stdout
    assert exit_code(["draw", "--help"]) == 0
    assert "examples:" in capsys.readouterr().out


def test_demo_writes_three_svgs_and_says_where(tmp_path):
    result = symgrad("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "L = (tanh(b + w1*x1 + w2*x2) - y)**2" in result.stdout
    assert "all derivatives agree with sympy" in result.stdout
    assert str(tmp_path / "symgrad-demo") in result.stdout
    for name in ("forward.svg", "gradient.svg", "pair.svg"):
        root = ET.parse(tmp_path / "symgrad-demo" / name).getroot()
        assert root.tag.endswith("svg")


# --- in process ---------------------------------------------------------------------------
def test_eval(capsys):
    assert run(capsys, "eval", "x*y + b", "--at", "x=2,y=3", "--at", "b=1") == (0, "7\n", "")
    assert run(capsys, "eval", "2**0.5") == (0, "1.414213562\n", "")


def test_diff_formats(capsys):
    assert run(capsys, "diff", "x**3/y", "--wrt", "x", "--format", "latex") == (
        0, "\\frac{\\partial f}{\\partial x} = \\frac{3 x^{2}}{y}\n", "")
    code, out, _ = run(capsys, "diff", "x**3/y", "--format", "python")
    assert code == 0 and "def gradient(x, y):" in out
    namespace = {}
    exec(out, namespace)
    assert namespace["gradient"](2.0, 4.0) == pytest.approx((3.0, -0.5))


def test_diff_raw_keeps_the_graph_as_built(capsys):
    raw = run(capsys, "diff", "x*x*x", "--wrt", "x", "--raw")[1]
    simplified = run(capsys, "diff", "x*x*x", "--wrt", "x")[1]
    assert simplified == "df/dx = 3*x**2\n"
    assert raw != simplified and raw.startswith("df/dx = ")
    assert sg.evaluate(sg.parse(raw.split(" = ")[1]), {"x": 2}) == 12


def test_diff_defaults_to_every_variable(capsys):
    assert run(capsys, "diff", "x*y")[1] == "df/dx = y\ndf/dy = x\n"


def test_diff_dot_writes_the_pair(capsys, tmp_path):
    path = tmp_path / "pair.svg"
    code, _, err = run(capsys, "diff", "sin(x)*y", "--wrt", "x", "--dot", str(path))
    assert code == 0 and err == f"wrote {path}\n"
    texts = [t.text for t in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text")]
    assert "df/dx" in texts and "cos" in texts


def test_draw(capsys, tmp_path):
    assert run(capsys, "draw", "(x + y)*y", "-o", str(tmp_path / "f.dot"), "--at",
               "x=3,y=5")[0] == 0
    assert "data 40 | grad 1" in (tmp_path / "f.dot").read_text()
    assert run(capsys, "draw", "(x + y)*y", "-o", str(tmp_path / "p.png"), "--grad", "y",
               "--top-down")[0] == 0
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = run(capsys, "draw", "x", "-o", str(tmp_path / "f.jpg"))
    assert code == 2 and ".svg, .png, .pdf or .dot" in err


def test_draw_too_big_a_graph_fails_with_a_message(capsys, tmp_path):
    text = " + ".join(f"sin({k}*x)" for k in range(1, 40))
    code, _, err = run(capsys, "draw", text, "-o", str(tmp_path / "f.svg"), "--max-nodes", "50")
    assert code == 2 and "more than --max-nodes 50" in err and "\n" == err[-1]


def test_bad_wrt_name(capsys):
    code, _, err = run(capsys, "diff", "x", "--wrt", "2x")
    assert code == 2 and "--wrt '2x'" in err


def test_check_failure_exit_code_is_1(capsys, monkeypatch):
    import symgrad.cli as cli

    class Wrong:
        def __bool__(self):
            return False

        def __str__(self):
            return "d/dx: DISAGREE"

    monkeypatch.setattr(cli, "check_derivative", lambda *args, **kwargs: Wrong())
    code, out, _ = run(capsys, "diff", "x*x", "--wrt", "x", "--check")
    assert code == 1 and "check against sympy: d/dx: DISAGREE" in out


def test_parse_at():
    assert parse_at(["x=1, y=-2.5e1"]) == {"x": 1.0, "y": -25.0}
    assert parse_at(None) == {}


def test_nan_and_inf_print_without_numpy_warnings(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(capsys, "eval", "1/x", "--at", "x=0") == (0, "inf\n", "")
        assert run(capsys, "diff", "log(x)", "--at", "x=-1")[1].splitlines()[2] == "  f = nan"


def test_values_after_code_are_comments(capsys):
    code, out, _ = run(capsys, "diff", "x*y", "--format", "python", "--at", "x=2,y=3",
                       "--check")
    assert code == 0 and "# at x=2, y=3:\n#   f = 6\n#   df/dx = 3\n" in out
    exec(out, {})  # still valid Python
    out = run(capsys, "diff", "x*y", "--wrt", "x", "--format", "latex", "--at", "x=2,y=3")[1]
    assert out.splitlines()[1:] == ["% at x=2, y=3:", "%   f = 6", "%   df/dx = 3"]


def test_an_expression_starting_with_a_minus(capsys):
    code, out, err = run(capsys, "diff", "-x**2", "--wrt", "x")
    assert (code, out, err) == (0, "df/dx = -2*x\n", "")
    code, out, _ = run(capsys, "eval", "-x*y", "--at", "x=-1,y=3")
    assert (code, out) == (0, "3\n")
    code, out, _ = run(capsys, "explain", "sin(x**2)", "--wrt", "x", "--claim", "-cos(x**2)")
    assert code == 1 and "claimed" in out


def test_wrt_not_in_the_expression_is_an_error(capsys):
    code, out, err = run(capsys, "diff", "x**2", "--wrt", "X")
    assert code == 2 and out == ""
    assert "--wrt X: X is not a variable of the expression (its variables: x)" in err


def test_version_and_functions_in_help(capsys):
    assert exit_code(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"symgrad {sg.__version__}"
    for argv in (["--help"], ["diff", "--help"]):
        exit_code(argv)
        out = " ".join(capsys.readouterr().out.split())
        for name in sg.ops.scalar.FUNCTIONS:
            assert f" {name}," in out or f" {name};" in out


def test_messages_name_the_flags(capsys, tmp_path):
    code, _, err = run(capsys, "draw", "sin(x)*cos(x)*x", "--max-nodes", "2",
                       "-o", str(tmp_path / "g.svg"))
    assert code == 2 and "--max-nodes 2" in err and "--max-nodes 5" in err
    assert "max_nodes" not in err


def test_draw_grad_is_raw_by_default_and_takes_picture_options(capsys, tmp_path):
    out = tmp_path / "pair.dot"
    assert exit_code(["draw", "(tanh(w*x) - b)**2", "--grad", "w", "--name", "L",
                      "-o", str(out), "--dpi", "120", "--size", "8,6"]) == 0
    raw = out.read_text()
    assert "dL/dw" in raw and "dpi=120" in raw and 'size="8,6"' in raw
    assert raw.count("#fff2b3") >= 4  # tanh(w*x), its difference and leaves are reused
    assert exit_code(["draw", "(tanh(w*x) - b)**2", "--grad", "w", "--simplify",
                      "-o", str(out)]) == 0
    text = " + ".join(f"sin({k}*x)" for k in range(1, 40))
    assert exit_code(["draw", text, "--max-nodes", "30", "--outline", "-o", str(out)]) == 0
    assert "showing 30 of" in out.read_text()
    capsys.readouterr()


def test_at_reads_constants_and_formulas_of_them(capsys):
    assert parse_at(["x=pi/2,y=e"]) == {"x": 1.5707963267948966, "y": 2.718281828459045}
    code, out, _ = run(capsys, "eval", "sin(x)", "--at", "x=pi/2")
    assert code == 0 and out.strip() == "1"
    code, _, err = run(capsys, "eval", "sin(x)", "--at", "x=y+1")
    assert code == 2 and "'y+1' is not a number" in err


def test_draw_names_with_backslashes_and_quotes(capsys, tmp_path):
    path = tmp_path / "a.svg"
    code, _, err = run(capsys, "draw", "x*y", "-o", str(path), "--grad", "x", "--name", "a\\")
    assert (code, err) == (0, f"wrote {path}\n")
    texts = [t.text for t in ET.parse(path).iter("{http://www.w3.org/2000/svg}text")]
    assert "a\\" in texts and "da\\/dx" in texts


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-o", "{tmp}/dir.svg/"], "cannot write"),  # a directory of that name exists
        (["-o", "{tmp}/a\x00b.svg"], "cannot write '"),
        (["-o", "{tmp}/f.svg", "--dpi", "nan"], "argument --dpi: expected a positive number"),
        (["-o", "{tmp}/f.svg", "--size", "0,1"], "argument --size: expected W,H"),
        (["-o", "{tmp}/f.svg", "--name", ""], "--name: give the expression a name"),
        (["-o", "{tmp}/f.svg", "--at", "x=1\ny=2"], "--at x=1\\ny=2: '1\\ny=2' is not a num"),
    ],
)
def test_draw_mistakes_exit_2_with_one_line(capsys, tmp_path, argv, message):
    (tmp_path / "dir.svg").mkdir()
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    code, out, err = run(capsys, "draw", "x*y", "--grad", "x", *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and message in err, err


def test_a_graphviz_failure_exits_2_with_one_line(capsys, tmp_path, monkeypatch):
    from symgrad.present import dot

    def refuse(graph, fmt):
        raise dot.GraphvizError("graphviz's dot failed (exit 1): Error: syntax error in line 1")

    monkeypatch.setattr(dot, "pipe", refuse)
    code, _, err = run(capsys, "draw", "x", "-o", str(tmp_path / "f.svg"))
    assert code == 2
    assert err == (f"symgrad draw: error: cannot write '{tmp_path / 'f.svg'}': graphviz's dot "
                   f"failed (exit 1): Error: syntax error in line 1\n")


def test_stabilize_prints_the_stable_form_and_its_error_before_and_after(capsys):
    code, out, _ = run(capsys, "stabilize", "log(1 + exp(x))", "--range", "x=-1000:1000",
                       "--count", "64")
    lines = out.splitlines()
    assert code == 0 and lines[1] == "stable = softplus(x)"
    worst = [float(line.split(", ")[1].split()[0]) for line in lines[2:4]]
    assert worst[0] > 50 and worst[1] <= 1  # the overflow at x = 1000, then rounding alone
    code, out, _ = run(capsys, "stabilize", "log(exp(a) + exp(b))", "--wrt", "a")
    assert code == 0 and out.splitlines()[-1] == "df/da = sigmoid(a - b)"


def test_stabilize_usage_mistakes_exit_2(capsys):
    code, _, err = run(capsys, "stabilize", "log(1 + exp(x))", "--range", "y=0:1")
    assert code == 2 and "ranges name variables the expression does not have" in err


def test_a_partial_prints_alike_alone_and_beside_the_others(capsys):
    spring = "0.5*k*(sqrt(x**2+y**2) - L0)**2 + m*g*y"
    texts = []
    for argv in (["diff", spring, "--wrt", "x"], ["diff", spring, "--wrt", "x", "--wrt", "y"]):
        code, out, _ = run(capsys, *argv)
        texts.append(out.splitlines())
    assert texts[0] == ["df/dx = k*x*(sqrt(x**2 + y**2) - L0)/sqrt(x**2 + y**2)"]
    assert texts[1][0] == texts[0][0]
