"""explain: the chain-rule steps of the sweeps, their numbers at a point, and the renderings.

Oracles: seed 003's table, `sg.gradient`/`grad` (the same sweeps), and evaluation."""

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import VARIABLES, X, Y, Z, close, expressions, points

import symgrad as sg
from symgrad.cli import main
from symgrad.present.explain import explain
from symgrad.present.printing import format_value

x, y, b = sg.variables("x y b")
SEED_003 = {"x": 2.0, "y": 3.0, "b": 1.0}


def into(e, target):
    return [s for s in e.steps if s.operand is target]


# --- seed 003: z = x*y + b at (2, 3, 1) ------------------------------------------------------
def test_seed_003_numbers():
    e = explain(x * y + b, [x, y, b], at=SEED_003)
    assert e.value == 7
    assert [e.gradient_values[v] for v in (x, y, b)] == [3, 2, 1]
    assert [s.number for s in e.steps] == [1, 2, 3, 4]
    (dx,), (dy,), (db,) = into(e, x), into(e, y), into(e, b)
    assert (str(dx.node), str(dx.local), dx.local_value, dx.upstream_value) == ("x*y", "y", 3, 1)
    assert (dx.contribution_value, dx.total_value) == (3, 3)
    assert (str(dy.local), dy.total_value) == ("x", 2)
    assert (str(db.node), str(db.local), db.total_value) == ("b + x*y", "1", 1)
    assert dx.node_value == 6 and db.node_value == 7


def test_seed_003_table_text():
    text = str(explain(x * y + b, [x, y, b], at=SEED_003))
    lines = text.splitlines()
    assert lines[0] == ("f = b + x*y: backward pass (reverse mode), with respect to x, y, b, "
                        "at x = 2, y = 3, b = 1")
    assert "  t1 = x*y = 6" in lines
    assert "  f = b + t1 = 7" in lines
    assert "3  t1 → x        y = 3               1                  y = 3         y = 3" in lines
    assert lines[-3:] == ["  ∂f/∂x = y = 3   (step #3)", "  ∂f/∂y = x = 2   (step #4)",
                          "  ∂f/∂b = 1   (step #2)"]


def test_steps_follow_reverse_topological_order():
    e = explain(sg.tanh(x * y + b), [x, y, b])
    order = sg.toposort(e.f)
    positions = [order.index(s.node) for s in e.steps]
    assert positions == sorted(positions, reverse=True)
    for s in e.steps:  # each step is the chain rule's product
        assert s.contribution is sg.Tensor.__mul__(s.upstream, s.local)


# --- the += of a node feeding several parents -------------------------------------------------
def test_node_used_twice_shows_contributions_and_sum():
    e = explain(x * x + sg.sin(x), x, at={"x": 2.0})
    steps = into(e, x)
    assert len(steps) == 3
    assert [s.summands for s in steps] == [(3,), (3, 4), (3, 4, 5)]
    assert steps[-1].total_value == pytest.approx(sum(s.contribution_value for s in steps))
    assert steps[-1].total_value == pytest.approx(np.cos(2.0) + 4.0)
    assert e.sums() == [(None, x, (3, 4, 5))]
    text = str(e)
    assert "#3 + #4 + #5 = " in text
    assert "(x feeds 3 parents)" in text
    assert "t1 → x (left)" in text and "t1 → x (right)" in text


def test_inner_node_feeding_two_parents():
    u = sg.sin(x)
    e = explain(u * y + u, [x], at={"x": 0.5, "y": 3.0})
    steps = into(e, u)
    assert len(steps) == 2
    assert [s.contribution_value for s in steps] == [1.0, 3.0]  # via u*y + u, then u*y
    assert steps[-1].total_value == 4.0 and steps[-1].accumulates
    assert e.gradient_values[x] == pytest.approx(4 * np.cos(0.5))


# --- equal to sg.gradient and grad, for random expressions ------------------------------------
@given(expressions(smooth=False))
def test_reverse_gradients_are_gradients(f):
    e = explain(f, list(VARIABLES))
    expected = sg.gradient(f, list(VARIABLES))
    for w, g in zip(VARIABLES, expected, strict=True):
        assert e.gradients[w] is g
        last = into(e, w)
        if last:
            assert last[-1].total is g


@settings(max_examples=30)
@given(expressions(), points())
def test_forward_gradients_equal_gradient_values(f, point):
    e = explain(f, [X, Z], at=point, mode="forward")
    expected = sg.evaluate(sg.gradient(f, [X, Z]), point)
    assert close([e.gradient_values[X], e.gradient_values[Z]], expected)
    for w in (X, Z):
        assert e.gradients[w] is sg.diff(f, w)


@settings(max_examples=30)
@given(expressions(), points())
def test_step_numbers_are_the_chain_rule(f, point):
    e = explain(f, [X, Y], at=point)
    for s in e.steps:
        assert close(s.contribution_value, s.upstream_value * s.local_value)
        assert s.local_value == pytest.approx(sg.evaluate(s.local, point), nan_ok=True)


# --- forward mode: seed 002 -------------------------------------------------------------------
def test_seed_002_forward_mode_with_bound_values():
    a, c = sg.Tensor(3, name="a"), sg.Tensor(5, name="c")
    z2 = (a + c) * c
    e = explain(z2, c, mode="forward")  # bound values give the numbers
    assert e.value == 40 and e.gradient_values[c] == 13
    assert [(str(s.operand), str(s.node)) for s in e.steps] == [
        ("c", "a + c"), ("a + c", "c*(a + c)"), ("c", "c*(a + c)")]
    last = e.steps[-1]
    assert last.summands == (2, 3) and last.total_value == 13
    assert [s.contribution_value for s in e.steps[1:]] == [5, 8]
    assert "∂input/∂wrt" in str(e)
    assert "-- derivatives with respect to c --" in str(e)


def test_forward_mode_several_variables_number_on():
    e = explain(x * y + b, [x, y], mode="forward")
    assert [s.number for s in e.steps] == list(range(1, len(e.steps) + 1))
    assert [s.wrt for s in e.steps] == [x, x, y, y]


# --- renderings -------------------------------------------------------------------------------
def test_markdown_and_html():
    e = explain(x * y + b, [x, y, b], at=SEED_003)
    markdown = e.to_markdown()
    assert "| # | node → input | local ∂node/∂input |" in markdown
    assert "| 3 | `t1 → x` | `y = 3` | `1` | `y = 3` | `y = 3` |" in markdown
    assert e._repr_markdown_() == markdown
    page = e._repr_html_()
    assert page.count("<tr>") == 5 + 4 and "<code>y = 3</code>" in page
    assert "| `x` | 3 | `∂f/∂x = y` (step #3) |" in markdown  # seed 003's gradient table


def test_wide_formulas_are_cut_keeping_values():
    w = sg.variables("w0 w1 w2 w3 w4 w5 w6 w7")
    f = sg.tanh(sum((wi * sg.sin(wi + 1) for wi in w), sg.const(0)) ** 2)
    e = explain(f, list(w), at={wi.name: 0.1 * k for k, wi in enumerate(w)})
    table = [line for line in str(e).splitlines() if line[:3].strip().isdigit()]
    assert table and max(len(line) for line in table) <= 160
    assert any("…" in line for line in table)
    cut = next(line for line in table if "…" in line)
    assert " = " in cut.split("…", 1)[1]  # the value after a cut formula survives


def test_format_value():
    assert [format_value(v) for v in (7.0, -1.5, 1e-12, 2 / 3)] == ["7", "-1.5", "1e-12",
                                                                       "0.666667"]


def test_picture_numbers_the_steps():
    e = explain(x * x + sg.sin(x), x)
    labels = e.dot_labels()
    assert labels[e.f] == "f"
    assert "Σ #3+#4+#5" in labels[e.gradients[x]]
    source = e.to_dot().source
    assert "#3" in source and "Σ #3+#4+#5" in source and "cluster_gradient" in source


# --- edge cases and errors ----------------------------------------------------------------------
def test_independent_and_leaf():
    e = explain(y * 2, x, at={"y": 1.0})
    assert e.steps == [] and e.gradient_values[x] == 0
    assert "f does not depend on x." in str(e)
    assert explain(x, x).gradients[x].number == 1


def test_bad_input():
    with pytest.raises(ValueError, match="mode must be"):
        explain(x * y, x, mode="sideways")
    # a name no other test binds: doctests and seeds bind x and y for the whole process
    with pytest.raises(ValueError, match="at= gives no value for 'never_bound'"):
        explain(x * sg.var("never_bound"), x, at={"x": 1.0})
    with pytest.raises(TypeError, match="variables"):
        explain(x * y, sg.const(2))
    with pytest.raises(TypeError, match="Tensor or a formula"):
        explain([x], x)


def test_text_input():
    pytest.importorskip("symgrad.interop.parse")
    e = explain("x*y + b", "x y b", at=SEED_003)
    assert [e.gradient_values[v] for v in (x, y, b)] == [3, 2, 1]


def test_arrays_at_a_point():
    e = explain(x * y, x, at={"x": np.array([1.0, 2.0]), "y": np.array([3.0, 4.0])})
    assert list(e.gradient_values[x]) == [3.0, 4.0]
    assert "[3, 4]" in str(e).replace(".", "")
    assert Z not in e.gradients



# --- the command line -------------------------------------------------------------------------
def test_cli_explain_seed_003(capsys):
    assert main(["explain", "x*y + b", "--wrt", "x,y,b", "--at", "x=2,y=3,b=1"]) == 0
    out = capsys.readouterr().out
    assert "3  t1 → x        y = 3               1                  y = 3         y = 3" in out
    assert out.rstrip().endswith("∂f/∂b = 1   (step #2)")


def test_cli_explain_forward_and_picture(capsys, tmp_path):
    path = tmp_path / "steps.dot"
    assert main(["explain", "tanh(w*x + b)", "--wrt", "w", "--mode", "forward",
                 "--dot", str(path)]) == 0
    assert "3  t2 → f        x            1 - f**2" in capsys.readouterr().out
    assert "#3" in path.read_text()


def test_cli_explain_claim(capsys):
    assert main(["explain", "sin(x**2)", "--wrt", "x", "--claim", "cos(x**2)"]) == 1
    assert "likely mistake: a missing chain-rule factor 2*x" in capsys.readouterr().out
    assert main(["explain", "sin(x**2)", "--wrt", "x", "--claim", "2*x*cos(x*x)"]) == 0
    assert "right: the claimed" in capsys.readouterr().out


def test_cli_explain_usage_mistakes(capsys):
    assert main(["explain", "x*y", "--wrt", "x,y", "--claim", "y"]) == 2
    assert "exactly one --wrt" in capsys.readouterr().err
    assert main(["explain", "x*y", "--at", "x=1"]) == 2
    assert "no value for y" in capsys.readouterr().err
    assert main(["explain", "x*(", "--wrt", "x"]) == 2
    assert "bad expression" in capsys.readouterr().err


def test_names_never_clash_with_variables():
    f, t1 = sg.variables("f t1")
    e = explain(sg.sin(f * t1) + x, [f], at={"f": 1.0, "t1": 2.0, "x": 3.0})
    assert e.output == "out" and set(e.labels.values()) == {"u1", "u2", "out"}
    assert "∂out/∂f = t1*cos(u1) = t1*cos(f*t1) = -0.832294   (step #3)" in str(e)
    anonymous = sg.Tensor(3.0)  # named _t<k>: labels must not read t<k>
    assert explain(anonymous * y + y, y, at={"y": 1.0}).labels[anonymous * y] == "u1"
