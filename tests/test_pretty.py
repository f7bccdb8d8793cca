"""The shared form: `pretty(t, shared=True)` prints one numbered let-binding per node used more
than once, stays linear in the graph's size, and parses back to the same formula (in canonical
order, so to a graph that prints the same)."""


import pytest
from hypothesis import given
from strategies import VARIABLES, close, expressions, points

import symgrad as sg
from symgrad.present.printing import binding_prefix, inlined_size, pretty

x, y, z = VARIABLES


def test_shared_form_exact():
    s = sg.sin(x * y)
    assert pretty(s * s + x * y) == "t1 = x*y\nt2 = sin(t1)\nt1 + t2*t2"


def test_no_sharing_is_one_line():
    assert pretty(x * y + sg.sin(z)) == "x*y + sin(z)"
    assert pretty(x) == "x"
    assert pretty(sg.const(2)) == "2"


def test_leaves_are_never_bound():
    assert pretty(x * x + x) == "x + x*x"


def test_a_node_used_twice_by_one_user_is_bound():
    s = x + y
    assert pretty(s * s) == "t1 = x + y\nt1*t1"


def test_bound_names_need_no_parentheses():
    s = x + y
    assert pretty(s * z - s**2) == "t1 = x + y\nz*t1 - t1**2"
    n = -x
    assert pretty(n**2 + n * y) == "t1 = -x\nt1*y + t1**2"


def test_shared_false_is_plain_str():
    s = sg.sin(x * y)
    t = s * s + x * y
    assert pretty(t, shared=False) == str(t) == "x*y + sin(x*y)*sin(x*y)"


def test_derivative_of_sigmoid_shares_the_sigmoid():
    d = sg.sigmoid(x).grad(x)
    assert pretty(d) == "t1 = sigmoid(x)\nt1*(1 - t1)"


def test_binding_names_avoid_the_graph_variables():
    t1, t2 = sg.variables("t1 t2")
    s = sg.sin(t1 * t2)
    assert pretty(s * s) == "_t1 = sin(t1*t2)\n_t1*_t1"
    assert sg.parse(pretty(s * s)) is s * s
    assert binding_prefix(sg.toposort(x + y)) == "t"
    u = sg.var("_t1")
    assert binding_prefix(sg.toposort(t1 + u)) == "__t"
    # names like "t" or "tx" do not collide with t1, t2, ...
    assert binding_prefix(sg.toposort(sg.var("t") + sg.var("tx"))) == "t"


def reads_back(text: str, d: sg.Tensor) -> None:
    """`text` parses to a graph no bigger than `d`, as shared, with its values."""
    back = sg.parse(text)
    assert len(pretty(back).splitlines()) == len(text.splitlines())
    assert sg.count_ops(back) <= sg.count_ops(d)
    point = {"x": 0.3, "y": 0.7}
    assert abs(sg.evaluate(back, point) - sg.evaluate(d, point)) <= 1e-9 * abs(
        sg.evaluate(d, point))


def test_parse_reads_the_shared_form_back_to_the_same_formula():
    f = x
    for _ in range(6):
        f = sg.sin(f * y) * f
    d = f.grad(x)
    reads_back(pretty(d), d)
    assert str(sg.parse(pretty(d))) == str(d)  # written out: the very same text


def test_shared_form_is_linear_where_str_is_exponential():
    t = x + y
    for _ in range(40):
        t = sg.sin(t) * t + t  # each level uses the one below three times
    assert inlined_size(t, limit=10**6) > 10**6  # str(t) would be astronomically long
    text = pretty(t)
    assert len(text.splitlines()) == 41
    assert len(text) < 40 * 40
    assert sg.evaluate(sg.parse(text), {"x": 0.1, "y": 0.2}) == sg.evaluate(t, {"x": 0.1, "y": 0.2})


def test_shared_form_of_a_big_derivative_stays_linear():
    f = x
    for _ in range(2000):
        f = sg.sin(f * y) * f
    d = f.grad(x)
    text = pretty(d)
    assert len(text) < 20 * sg.count_ops(d)
    reads_back(text, d)


def test_pretty_rejects_non_tensors():
    with pytest.raises(TypeError, match="pretty takes a Tensor"):
        pretty("x")


@given(expressions(smooth=False), points())
def test_shared_form_parses_back_to_equal_values(e, point):
    d = sg.gradient(e * e, [x])[0]  # reverse mode shares a lot
    back = sg.parse(pretty(d))
    assert close(sg.evaluate(back, point), sg.evaluate(d, point), rtol=1e-9)


@given(expressions(smooth=False))
def test_shared_form_has_one_line_per_shared_node(e):
    text = pretty(e)
    lines = text.splitlines()
    for line in lines[:-1]:
        name, equals, _ = line.partition(" = ")
        assert equals and name.lstrip("_").startswith("t")
    assert " = " not in lines[-1]  # the result, not a binding (x == y is a comparison)
