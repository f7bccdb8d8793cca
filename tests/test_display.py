"""How notebooks show symgrad's objects: the formula/picture switch, big graphs, check results."""

import pytest

import symgrad as sg
from symgrad.present.display import DISPLAY_LIMIT, printing_mode
from symgrad.verify.checking import check_derivative

x, y = sg.variables("x y")


@pytest.fixture(autouse=True)
def picture_mode_after():
    yield
    sg.init_printing("picture")


def test_init_printing_switches_between_formula_and_picture():
    f = sg.sigmoid(x * y)
    sg.init_printing()  # sympy's habit: formulas
    assert printing_mode() == "formula"
    bundle = f._repr_mimebundle_()
    assert bundle["text/latex"] == r"$\sigma{\left(x y \right)}$" and "text/html" not in bundle
    sg.init_printing("picture")
    bundle = f._repr_mimebundle_()
    assert bundle["text/html"].startswith("<svg") and "text/latex" not in bundle
    with pytest.raises(ValueError, match="'formula' or 'picture'"):
        sg.init_printing("pictures")


def test_big_graphs_show_shared_formulas_and_outlined_pictures():
    f = x
    for _ in range(12):
        f = sg.sin(f) * sg.cos(f)
    assert sg.present.printing.inlined_size(f) > DISPLAY_LIMIT
    sg.init_printing("formula")
    latex = f._repr_mimebundle_()["text/latex"]
    assert latex.startswith(r"$\begin{aligned}") and r"\text{where }" in latex
    assert len(latex) < 100 * sg.count_ops(f)  # not one giant line
    sg.init_printing("picture")
    g = x
    for _ in range(60):
        g = sg.sin(g) * sg.cos(g) + g
    assert "showing 150 of" in g._repr_mimebundle_()["text/html"]


def test_check_results_display_as_verdicts():
    good = sg.check(x * y, x)
    assert good._repr_html_().startswith('<div><b style="color:#1a7f37">d/dx: agree')
    both = sg.check(x * y, [x, y])
    html = both._repr_html_()
    assert html.count("<div>") == 2 and "d/dy: agree" in html
    wrong = check_derivative(x * y, x, x)
    assert wrong._repr_html_().startswith('<div><b style="color:#cf222e">d/dx: DIFFER')

    class Printer:
        def __init__(self):
            self.out = ""

        def text(self, s):
            self.out += s

    printer = Printer()
    good._repr_pretty_(printer, False)
    assert printer.out == str(good) and "CheckResult(" not in printer.out
