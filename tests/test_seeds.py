"""The examples symgrad grew from, run on it: the 30-line Tensor design (*Understanding
Automatic Differentiation in 30 lines of Python*; seed 002), the backprop table of
`z = x*y + b` (seed 003) and Karpathy's micrograd (seed 001)."""

import symgrad as sg


def test_seed_002_forward_and_gradient_graph():
    x = sg.Tensor(3)
    y = sg.Tensor(5)
    z1 = x + y
    z2 = z1 * y
    assert z2.value == 40
    g = z2.grad(y)
    assert isinstance(g, sg.Tensor)
    assert g.value == 13
    assert z2.grad(x).value == 5


def test_seed_002_the_repl_shows_the_value_as_the_blog_does():
    # The blog's `print(z2)` shows `T:40`: at the REPL (repr) a bound Tensor shows its
    # formula and that value; `str` stays the formula alone, which `parse` reads back.
    x = sg.Tensor(3)
    y = sg.Tensor(5)
    z1 = x + y
    z2 = z1 * y
    assert repr([x, y]) == f"[Tensor({x.name} = 3.0), Tensor({y.name} = 5.0)]"
    total = " + ".join(sorted([x.name, y.name]))  # a sum's terms in the order of their names
    assert repr(z2) == f"Tensor({y.name}*({total}) = 40.0)"
    g = z2.grad(y)
    assert repr(g) == f"Tensor({g} = 13.0)"
    assert str(z2) == f"{y.name}*({total})" and sg.parse(str(z2)).value == 40
    # an unbound variable below: the formula alone, as before
    x.value = None
    assert repr(z2) == f"Tensor({z2})" and repr(x) == f"Tensor({x.name})"


def test_seed_002_named_variables():
    x = sg.Tensor(3, name="x")
    y = sg.Tensor(5, name="y")
    assert ((x + y) * y).value == 40
    assert ((x + y) * y).grad(y).value == 13
    assert str((x + y) * y) == "y*(x + y)"
    assert str(((x + y) * y).grad(y)) == "x + 2*y"  # the graph (x + y) + y, y written once
    x.value = y.value = None  # x and y are every test's variables: unbind them again


def test_seed_003_table():
    x, y, b = sg.variables("x y b")
    z = x * y + b
    at = {"x": 2.0, "y": 3.0, "b": 1.0}
    assert sg.evaluate(z, at) == 7
    partials = sg.gradient(z, [x, y, b])
    assert [sg.evaluate(p, at) for p in partials] == [3, 2, 1]
    assert [str(p) for p in partials] == ["y", "x", "1"]


def test_seed_001_micrograd_ops_on_tensors():
    # micrograd's Value ops as Tensor ops: a/b is a*b**-1, a-b is a+(-b), relu.
    a, b = sg.Tensor(-4.0, name="a"), sg.Tensor(2.0, name="b")
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + sg.relu(b + a)
    d = d + 3 * d + sg.relu(b - a)
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    assert abs(g.value - 24.7041) < 1e-4
    da, db = sg.gradient(g, [a, b])
    assert abs(da.value - 138.8338) < 1e-4
    assert abs(db.value - 645.5773) < 1e-4
