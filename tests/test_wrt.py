"""Every public function that differentiates reads `wrt` the same way: a variable, a name, a
list of either, or one string of names separated by spaces or commas."""

import pytest

import symgrad as sg
from symgrad.cli import main

x, y = sg.variables("x y")
F = x * y + sg.sin(x)

ONE = [x, "x", " x "]
SEVERAL = [[x, y], ["x", "y"], [x, "y"], (x, y), "x y", "x, y", "x,y"]


def partials(result):
    """The partials a function gave, as text, whatever shape its answer has."""
    if isinstance(result, sg.Tensor):
        return [str(result)]
    return [str(item) for item in result]


@pytest.mark.parametrize("wrt", ONE)
def test_one_variable_gives_one_result_everywhere(wrt):
    assert str(sg.gradient(F, wrt)) == "y + cos(x)"
    assert str(F.grad(wrt)) == "y + cos(x)" and str(sg.diff(F, wrt)) == "y + cos(x)"
    assert sg.check(F, wrt).wrt == "x"
    assert [w.name for w in sg.explain(F, wrt).wrt] == ["x"]
    assert bool(sg.compare(F, wrt, "y + cos(x)"))
    assert "df/dx" in sg.to_dot_pair(F, wrt).source


@pytest.mark.parametrize("wrt", SEVERAL)
def test_several_variables_give_a_result_each_everywhere(wrt):
    assert partials(sg.gradient(F, wrt)) == ["y + cos(x)", "x"]
    assert [partials(row) for row in sg.jacobian([F, x + y], wrt)] == [
        ["y + cos(x)", "x"], ["1", "1"]]
    assert [partials(row) for row in sg.hessian(F, wrt)] == [["-sin(x)", "1"], ["1", "0"]]
    assert [bool(result) for result in sg.check(F, wrt)] == [True, True]
    assert [w.name for w in sg.explain(F, wrt).wrt] == ["x", "y"]
    source = sg.to_dot_pair(F, wrt).source
    assert "df/dx" in source and "df/dy" in source


@pytest.mark.parametrize("flags", [["--wrt", "x", "--wrt", "y"], ["--wrt", "x,y"],
                                   ["--wrt", "x y"], ["--wrt", "x, y"]])
def test_the_command_line_reads_the_same_forms(flags, capsys):
    assert main(["diff", "x*y + sin(x)", *flags]) == 0
    assert capsys.readouterr().out.splitlines() == ["df/dx = y + cos(x)", "df/dy = x"]


def test_a_name_is_the_shaped_variable_of_that_name_in_f():
    v = sg.vector("v", 3)
    assert sg.gradient(sg.sum(v * v), "v").shape == (3,)


@pytest.mark.parametrize("wrt, error, message", [
    ([], ValueError, "wrt names no variable"),
    ("", ValueError, "wrt names no variable"),
    ("x-y", ValueError, "'x-y': a variable name is a letter"),
    (3, TypeError, "differentiate by a variable, a name"),
    ([sg.const(2.0)], TypeError, "with respect to variables, got the constant 2"),
])
def test_what_is_not_a_variable_is_one_clear_error(wrt, error, message):
    for function in (sg.gradient, sg.check, sg.explain, sg.to_dot_pair):
        with pytest.raises(error, match=message.replace("(", r"\(")):
            function(F, wrt)
