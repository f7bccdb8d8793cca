"""The micrograd facade: micrograd's README example, every Value op against central
differences, micrograd's semantics (augmented assignment, accumulation), and `nn`."""

from __future__ import annotations

import math
import random
import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg
from symgrad.micrograd import LabelClashWarning, Value
from symgrad.micrograd.nn import MLP, Layer, Neuron


def test_readme_example():
    # micrograd's README, verbatim
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    assert g.data == pytest.approx(24.7041, abs=1e-4)
    g.backward()
    assert a.grad == pytest.approx(138.8338, abs=1e-4)
    assert b.grad == pytest.approx(645.5773, abs=1e-4)
    # the inner Values get micrograd's gradients too: dg/dg = 1, dg/df = f/... by hand
    assert g.grad == 1.0
    assert f.grad == pytest.approx(0.5 - 10.0 / f.data**2)
    assert e.grad == pytest.approx(f.grad * 2 * e.data)
    assert c.grad == pytest.approx(e.grad) and d.grad == pytest.approx(-e.grad)


def _fd(function, point, index, h=1e-6):
    up = list(point)
    down = list(point)
    up[index] += h
    down[index] -= h
    return (function(*up) - function(*down)) / (2 * h)


# Each op as a function of Values (or numbers), and the points it is checked at.
OPS = {
    "add": (lambda a, b: a + b, [(1.5, -2.0)]),
    "radd": (lambda a, b: 2.5 + a, [(1.5, 0.0)]),
    "sub": (lambda a, b: a - b, [(1.5, -2.0)]),
    "rsub": (lambda a, b: 2.5 - a, [(1.5, 0.0)]),
    "mul": (lambda a, b: a * b, [(1.5, -2.0)]),
    "rmul": (lambda a, b: 3 * a, [(1.5, 0.0)]),
    "truediv": (lambda a, b: a / b, [(1.5, -2.0)]),
    "rtruediv": (lambda a, b: 3.0 / a, [(1.5, 0.0)]),
    "pow_int": (lambda a, b: a**3, [(-1.5, 0.0)]),
    "pow_negative": (lambda a, b: a**-2, [(1.5, 0.0)]),
    "pow_float": (lambda a, b: a**0.5, [(1.5, 0.0)]),
    "neg": (lambda a, b: -a, [(1.5, 0.0)]),
    "relu": (lambda a, b: a.relu() if isinstance(a, Value) else max(a, 0.0),
             [(1.5, 0.0), (-1.5, 0.0)]),
    "tanh": (lambda a, b: a.tanh() if isinstance(a, Value) else math.tanh(a), [(0.7, 0.0)]),
    "exp": (lambda a, b: a.exp() if isinstance(a, Value) else math.exp(a), [(0.7, 0.0)]),
    "log": (lambda a, b: a.log() if isinstance(a, Value) else math.log(a), [(0.7, 0.0)]),
    "sigmoid": (lambda a, b: a.sigmoid() if isinstance(a, Value) else 1 / (1 + math.exp(-a)),
                [(0.7, 0.0)]),
    "composite": (lambda a, b: (a * b + b**2) * (a - 1) / (b * b + 1) - (b - a) ** 2,
                  [(1.5, 2.0)]),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_value_and_gradient_against_floats_and_finite_differences(name):
    function, points = OPS[name]
    for point in points:
        a, b = Value(point[0]), Value(point[1])
        out = function(a, b)
        assert out.data == pytest.approx(function(*point), rel=1e-12)
        out.backward()
        assert out.grad == 1.0
        for index, leaf in enumerate((a, b)):
            assert leaf.grad == pytest.approx(_fd(function, point, index), rel=1e-5, abs=1e-6)


def test_repr_and_data_types():
    a = Value(2)
    assert repr(a) == "Value(data=2.0, grad=0.0)"
    assert type((a * 3).data) is float
    assert repr(a + a) == "Value(data=4.0, grad=0.0)"


def test_augmented_assignment_builds_new_nodes():
    a = Value(1.0)
    c = a + 2
    before = c
    c += c + 1  # c = c + (c + 1): a new node reading the old one twice
    assert c is not before and before.data == 3.0 and c.data == 7.0
    c.backward()
    assert before.grad == 2.0 and a.grad == 2.0


def test_prev_and_op_for_micrograds_graph_drawing():
    a, b = Value(1.0), Value(2.0)
    out = (a * b + 1).relu()
    assert out._op == "relu" and len(out._prev) == 1
    total = out._prev[0]
    assert total._op == "+" and total._prev[0]._prev == (a, b)
    assert a._prev == () and a._op == ""


def test_gradients_accumulate_until_reset():
    a, b = Value(3.0), Value(4.0)
    out = a * b
    out.backward()
    out.backward()
    assert (a.grad, b.grad) == (8.0, 6.0)
    a.grad = b.grad = 0
    (a * a).backward()
    assert (a.grad, b.grad) == (6.0, 0)


def test_values_built_alike_stay_distinct():
    a = Value(3.0)
    x, y = Value(1.0), Value(1.0)
    assert x.tensor is not y.tensor  # every leaf is its own variable
    p, q = a * 2, a * 2
    assert p is not q and p.tensor is q.tensor  # interned node, separate wrappers
    (p + q).backward()
    assert a.grad == 4.0
    # Twins share one node, yet each keeps its own grad, as in micrograd.
    assert p.grad == q.grad == 1.0


def test_twins_get_micrograd_grads_in_products():
    # micrograd's numbers, worked by hand: L = p*q*r with p, q twins of a*b and r = p + 1
    a, b = Value(2.0), Value(-3.0)
    p, q = a * b, a * b
    r = p + 1
    L = p * q * r
    L.backward()
    assert (p.grad, q.grad, r.grad) == (q.data * r.data + q.data * p.data, p.data * r.data,
                                        p.data * q.data)
    assert (p.grad, q.grad, r.grad) == (-6.0 * -5.0 + 36.0, 30.0, 36.0)
    # the leaves agree with symgrad's own gradient of the shared graph
    exact = sg.evaluate(sg.gradient(L.tensor, [a.tensor, b.tensor]))
    assert [a.grad, b.grad] == pytest.approx(exact)


def test_tensor_hands_over_the_graph():
    a, b = Value(-4.0), Value(2.0)
    out = (a * b + b**3).relu() + a.tanh()
    out.backward()
    names = {a.tensor.name: "a", b.tensor.name: "b"}
    text = str(out.tensor)
    for old, new in names.items():
        text = text.replace(old, new)
    assert text == "tanh(a) + relu(a*b + b**3)"
    # the same graph differentiated by symgrad directly gives the same numbers
    partials = sg.evaluate(sg.gradient(out.tensor, [a.tensor, b.tensor]))
    assert partials == pytest.approx([a.grad, b.grad])
    # a leaf's data and its variable's bound value move together
    a.data = 1.5
    assert a.tensor.value == 1.5


def test_labels_name_the_leaves_uniquely():
    a = Value(1.0, label="weight")
    # the newest Value takes the label (a re-run cell); the older one moves aside, aloud
    with pytest.warns(LabelClashWarning, match=r"label 'weight' .* is now 'weight_2'") as caught:
        b = Value(2.0, label="weight")
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the user's line
    assert (a.tensor.name, b.tensor.name) == ("weight_2", "weight")
    out = a * b
    out.backward()
    assert str(out.tensor) == "weight*weight_2" and (a.grad, b.grad) == (2.0, 1.0)
    with pytest.raises(ValueError, match="identifier"):
        Value(1.0, label="not a name")


def test_rerunning_a_cell_keeps_the_labels():
    def cell():
        x1 = Value(2.0, label="rerun_x1")
        w1 = Value(-3.0, label="rerun_w1")
        return x1 * w1 + 1

    first = cell()
    with pytest.warns(LabelClashWarning) as caught:
        again = cell()
    assert [str(w.message) for w in caught] == [
        "label 'rerun_x1' now names the new Value; the older one (data=2.0) is now 'rerun_x1_2'",
        "label 'rerun_w1' now names the new Value; the older one (data=-3.0) is now 'rerun_w1_2'",
    ]
    assert str(again.tensor) == "rerun_w1*rerun_x1 + 1"
    # the stale graph says it is the older one
    assert str(first.tensor) == "rerun_w1_2*rerun_x1_2 + 1"


def test_a_users_own_variable_keeps_its_name():
    mine = sg.var("kept_by_user")
    with pytest.warns(LabelClashWarning, match="this Value is 'kept_by_user_2'"):
        v = Value(1.0, label="kept_by_user")
    assert mine.name == "kept_by_user" and v.tensor.name == "kept_by_user_2"


def test_deep_chain_has_no_recursion_limit():
    x = Value(0.5)
    y = x
    for _ in range(3000):
        y = y * 1.0 + 0.001
    y.backward()
    assert y.data == pytest.approx(3.5)
    assert x.grad == pytest.approx(1.0)


def test_bad_input_gets_a_clear_error():
    with pytest.raises(TypeError, match="real number"):
        Value("1")
    with pytest.raises(TypeError, match="int/float powers"):
        Value(2.0) ** Value(3.0)
    with pytest.raises(TypeError, match="real number"):
        Value(2.0) + "x"


# --- nn --------------------------------------------------------------------------------

def test_mlp_shapes_and_reprs():
    model = MLP(2, [16, 16, 1], rng=random.Random(0))
    assert len(model.parameters()) == 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1
    assert repr(model.layers[-1]) == "Layer of [LinearNeuron(16)]"
    assert repr(Neuron(3, nonlin="tanh")) == "TanhNeuron(3)"
    assert isinstance(Layer(2, 3)([1.0, 2.0]), list)
    assert all(-1 <= p.data <= 1 for p in model.parameters())
    assert all(n.b.data == 0 for n in model.layers[0].neurons)


def test_neuron_computes_its_activation():
    neuron = Neuron(2, nonlin="tanh")
    neuron.w[0].data, neuron.w[1].data, neuron.b.data = 0.5, -1.0, 0.25
    assert neuron([2.0, 3.0]).data == pytest.approx(math.tanh(0.25 + 1.0 - 3.0))
    neuron.nonlin = "relu"
    assert neuron([2.0, 3.0]).data == 0.0


def test_a_one_neuron_hidden_layer_feeds_the_next_layer():
    # Found by mypy: a layer of one neuron gives a Value, which the next layer took as its
    # list of inputs (TypeError: object of type 'Value' has no len()).
    model = MLP(2, [1, 2], nonlin="tanh", rng=random.Random(3))
    hidden, last = model.layers[0].neurons[0], model.layers[1].neurons
    x = [0.5, -1.5]
    h = math.tanh(hidden.b.data + sum(w.data * xi for w, xi in zip(hidden.w, x, strict=True)))
    expected = [n.b.data + n.w[0].data * h for n in last]
    assert [out.data for out in model(x)] == pytest.approx(expected, rel=1e-15)


def test_mlp_backward_and_zero_grad():
    model = MLP(3, [4, 4, 1], nonlin="tanh", rng=random.Random(1))
    x = [0.5, -1.0, 2.0]
    out = model(x)
    out.backward()
    grads = [p.grad for p in model.parameters()]
    assert any(g != 0 for g in grads)
    # central differences on a few parameters
    for p, grad in list(zip(model.parameters(), grads, strict=True))[::7]:
        original = p.data
        p.data = original + 1e-6
        up = model(x).data
        p.data = original - 1e-6
        down = model(x).data
        p.data = original
        assert grad == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-7)
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())


def test_nn_bad_input():
    with pytest.raises(ValueError, match="nonlin"):
        Neuron(2, nonlin="swish")
    with pytest.raises(ValueError, match="takes 2 inputs"):
        Neuron(2)([1.0])
    with pytest.raises(ValueError, match="positive number"):
        Neuron(0)


def test_numpy_scalars_are_accepted():
    out = Value(np.float64(2.0)) * np.float32(3.0)
    assert out.data == 6.0


def test_pictures_explain_and_check_take_a_value(tmp_path):
    a, b = Value(2.0, label="taken_a"), Value(-3.0, label="taken_b")
    out = (a * b).tanh()
    assert bool(sg.check(out, a)) and bool(sg.check(out, [a, b]))
    explanation = sg.explain(out, [a, b])
    out.backward()
    assert [explanation.gradient_values[v.tensor] for v in (a, b)] == pytest.approx(
        [a.grad, b.grad])
    assert sg.render(out, tmp_path / "v.svg").read_text().count("<svg") == 1
    assert "cluster_gradient" in sg.to_dot_pair(out, a).source
    assert bool(sg.compare(out, a, (1 - out.tensor**2) * b.tensor))


# --- labels and micrograd's picture --------------------------------------------------------------
def test_a_label_can_be_set_on_any_value_as_in_the_lecture():
    a, b = Value(2.0, label="lecture_a"), Value(-3.0, label="lecture_b")
    e = a * b
    assert e.label == ""
    e.label = "e"
    assert (a.label, e.label) == ("lecture_a", "e") and str(e.tensor) == "lecture_a*lecture_b"
    with pytest.raises(TypeError, match="a label is text"):
        e.label = 3


def test_draw_dot_shows_data_and_the_grads_backward_set():
    from symgrad.micrograd import draw_dot

    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    f = Value(-2.0, label="f")
    L = d * f
    L.label = "L"
    L.backward()
    source = draw_dot(L).source
    for line in ("{ a | data 2.0000 | grad 6.0000 }", "{ b | data -3.0000 | grad -4.0000 }",
                 "{ e | data -6.0000 | grad -2.0000 }", "{ L | data -8.0000 | grad 1.0000 }"):
        assert line in source
    assert source.count("shape=record") == 7 and source.count('label="*"') == 2


def test_draw_dot_numbers_the_operands_where_order_matters():
    from symgrad.micrograd import draw_dot

    x, y = Value(1.0, label="x"), Value(4.0, label="y")
    source = draw_dot(x - y).source
    assert "headlabel=1 headport=n" in source.split("v0 -> v2_op")[1].split("\n")[0]
    assert "headlabel=2 headport=s" in source.split("v1 -> v2_op")[1].split("\n")[0]
    assert "headlabel" not in draw_dot(x + y).source
    # one operand twice: its two arrows are numbered 1 and 2, at two sides of the op
    edges = [line for line in draw_dot(x - x).source.splitlines() if "v0 -> v1_op" in line]
    assert ["headlabel=1 headport=n" in edges[0], "headlabel=2 headport=s" in edges[1]] == [
        True, True]


def test_draw_dot_shows_any_label_literally():
    from symgrad.micrograd import draw_dot

    v = Value(1.0) * 2
    v.label = 'a|b {c} "d"'
    assert r'{ a\|b \{c\} \"d\" | data 2.0000 | grad 0.0000 }' in draw_dot(v).source
    draw_dot(v).pipe(format="svg")  # and graphviz reads it


def test_draw_dot_walks_deep_graphs_without_recursion():
    from symgrad.micrograd import draw_dot

    v = Value(0.5, label="x")
    for _ in range(5_000):
        v = v * 1.0001
    assert draw_dot(v).source.count("shape=record") == 10_001  # 5,000 constants too


def test_mlp_parameters_are_named_by_place():
    model = MLP(2, [2, 1], rng=random.Random(0), name="lecture")
    x, target = [2.0, -1.0], 1.0
    loss = (model(x) - target) ** 2
    text = str(loss.tensor)
    for layer, neuron, inputs in ((0, 0, 2), (0, 1, 2), (1, 0, 2)):
        assert f"lecture_b{layer}_{neuron}" in text
        for k in range(inputs):
            assert f"lecture_w{layer}_{neuron}_{k}" in text
    assert "_t" not in text
    assert [p.tensor.name for p in model.layers[1].parameters()] == [
        "lecture_w1_0_0", "lecture_w1_0_1", "lecture_b1_0"]
    # the names are the parameters: d loss / d lecture_b1_0 is what backward gives
    loss.backward()
    bias = model.layers[1].neurons[0].b
    assert sg.gradient(loss.tensor, sg.var("lecture_b1_0")).value == pytest.approx(bias.grad)


def test_a_second_mlp_takes_free_names_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no clash warning for default names
        first, second = MLP(2, [1]), MLP(2, [1])
    first_names = [p.tensor.name for p in first.parameters()]
    second_names = [p.tensor.name for p in second.parameters()]
    prefix = re.fullmatch(r"(|net\d+_)w0_0_0", first_names[0]).group(1)
    assert first_names == [f"{prefix}w0_0_0", f"{prefix}w0_0_1", f"{prefix}b0_0"]
    number = int(prefix[3:-1]) if prefix else 1
    assert second_names == [f"net{number + 1}_{name}" for name in ("w0_0_0", "w0_0_1", "b0_0")]
    # a name given twice clashes as a label does: aloud
    named = MLP(1, [1], name="twice")
    with pytest.warns(LabelClashWarning) as caught:
        MLP(1, [1], name="twice")
    assert [str(w.message).rsplit(" ", 1)[1] for w in caught] == [
        "'twice_w0_0_0_2'", "'twice_b0_0_2'"]
    assert named.layers[0].neurons[0].w[0].tensor.name == "twice_w0_0_0_2"
    with pytest.raises(ValueError, match="identifier"):
        MLP(1, [1], name="not a name")


@given(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=1, max_size=3))
def test_every_mlp_parameter_is_named_by_its_place(nin, nouts):
    model = MLP(nin, nouts, name="placed")
    sizes = [nin, *nouts]
    expected = [name for i in range(len(nouts)) for j in range(sizes[i + 1])
                for name in [*(f"placed_w{i}_{j}_{k}" for k in range(sizes[i])),
                             f"placed_b{i}_{j}"]]
    assert [p.tensor.name for p in model.parameters()] == expected
    out = model([0.5] * nin)
    first = out if isinstance(out, Value) else out[0]
    # the formula reads back: its value at the parameters' data is the forward pass's
    assert sg.parse(str(first.tensor)).value == pytest.approx(first.data, rel=1e-12)
