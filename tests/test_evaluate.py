"""Evaluation: numpy values, broadcasting, shared nodes computed once, clear errors."""

import gc
import math

import numpy as np
import pytest
from hypothesis import given
from strategies import close, expressions, points

import symgrad as sg
from symgrad.backends.evaluate import node_values
from symgrad.ir.graph import toposort
from symgrad.ir.op import Op


def test_scalars_come_back_as_floats():
    x, y = sg.variables("x y")
    value = sg.evaluate(x * y + 1, {"x": 2, "y": 3})
    assert value == 7.0 and type(value) is float


def test_arrays_broadcast():
    x, y = sg.variables("x y")
    column, row = np.array([[1.0], [2.0]]), np.array([10.0, 20.0, 30.0])
    value = sg.evaluate(x * y + sg.sin(x), {x: column, y: row})
    assert value.shape == (2, 3)
    np.testing.assert_allclose(value, column * row + np.sin(column))


def test_a_list_of_outputs_gives_a_list_of_values():
    x = sg.var("x")
    assert sg.evaluate([x + 1, x * 2, sg.const(5)], {"x": 3}) == [4.0, 6.0, 5.0]


def test_env_falls_back_to_bound_values():
    a = sg.var("a", 2.0)
    b = sg.var("b")
    assert sg.evaluate(a * b, {"b": 5}) == 10.0
    assert sg.evaluate(a * b, {"a": 1, "b": 5}) == 5.0
    a.value = None


def test_shared_nodes_are_computed_once():
    calls = []
    counted = Op("counted", 1, lambda v: calls.append(v) or v * 2, lambda v: 2 * v,
                 lambda a, b, out: (2,))
    x = sg.var("x")
    shared = counted(x)
    f = shared
    for _ in range(50):
        f = f * shared + shared  # 2^50 paths through the shared node
    sg.evaluate(f, {"x": 0.1})
    assert len(calls) == 1


def test_unbound_variable_names_itself():
    x, y = sg.variables("x unbound_y")
    with pytest.raises(sg.UnboundVariableError, match="'unbound_y'") as error:
        sg.evaluate(x + y, {"x": 1})
    assert error.value.name == "unbound_y"
    assert (x + y).value is None


def test_wrong_kinds_of_value_raise_type_errors():
    x = sg.var("x")
    with pytest.raises(TypeError, match="'x' must be a real number or numeric array, got str"):
        sg.evaluate(x + 1, {"x": "three"})
    with pytest.raises(TypeError, match="'x'"):
        sg.evaluate(x + 1, {"x": [1, [2, 3]]})
    with pytest.raises(TypeError, match="env keys"):
        sg.evaluate(x + 1, {3: 1.0})
    with pytest.raises(TypeError, match="env keys must be variables"):
        sg.evaluate(x + 1, {x + 1: 1.0})


def test_deep_graph_evaluates_iteratively(sin_chain):
    x, t = sin_chain
    value = 0.3
    for _ in range(100_000):
        value = np.sin(value)
    assert sg.evaluate(t, {x: 0.3}) == pytest.approx(value, rel=1e-12)


def test_a_typo_in_env_is_named_where_the_variable_has_no_value():
    x, y = sg.variables("x y")
    with pytest.raises(sg.UnboundVariableError, match=r"'y' has no value \(env has 'Y': a typo"):
        sg.evaluate(x * y, {"x": 1, "Y": 2})
    weight = sg.var("weight")
    with pytest.raises(sg.UnboundVariableError, match=r"\(env has 'wieght': a typo"):
        sg.evaluate(x * weight, {"x": 1, "wieght": 2})
    # a name of no variable of the graph is ignored: one env serves a function and its
    # derivatives, as sympy's subs and JAX's pytrees take what they need
    assert sg.evaluate((x * y).grad(x), {"x": 1, "y": 2, "unrelated": 3}) == 2.0


def test_what_evaluate_accepts_does_not_depend_on_which_objects_are_alive():
    f = sg.cos(sg.var("x")) * sg.sin(sg.var("y"))
    env = {"x": 1, "y": 2, "gc_probe_z": 3}
    before = sg.evaluate(f, env)
    z = sg.var("gc_probe_z")
    alive = sg.evaluate(f, env)
    del z
    gc.collect()
    assert before == alive == sg.evaluate(f, env) == math.cos(1) * math.sin(2)


def test_nested_lists_evaluate_to_nested_lists():
    x, y = sg.variables("x y")
    hessian = sg.hessian(x**3 * y, [x, y])
    assert sg.evaluate(hessian, {"x": 2.0, "y": 5.0}) == [[60.0, 12.0], [12.0, 0.0]]
    rows = sg.evaluate(hessian, {"x": 2.0, "y": np.array([1.0, 5.0])})
    np.testing.assert_array_equal(rows[1][1], [0.0, 0.0])  # the constant takes y's shape
    np.testing.assert_array_equal(rows[0][0], [12.0, 60.0])


def test_zero_to_a_negative_power_is_inf_as_numpy_floats_have_it():
    x, y = sg.variables("x y")
    with np.errstate(divide="ignore"):
        assert sg.evaluate(sg.const(0) ** -1, {}) == np.inf
        assert sg.evaluate(x**y, {"x": 0, "y": -1}) == np.inf  # integers, not a ValueError
        assert sg.lambdify([x, y], x**y)(0, -1) == np.inf
        assert sg.evaluate(sg.parse("0**-1"), {}) == np.inf


def test_env_entries_of_other_variables_do_not_shape_the_result():
    W, s = sg.matrix("W", (2, 3)), sg.var("s")
    value = sg.evaluate((sg.sum(W) + 3 * s).grad(s), {"W": np.ones((2, 3)), "s": 1.0})
    assert value == 3.0 and type(value) is float
    z = sg.var("z")
    assert sg.evaluate(s * 2, {"s": 1.0, z: np.ones(4)}) == 2.0
    assert sg.evaluate((z * s).grad(z), {"s": 1.0, "z": np.ones(4)}) == 1.0


def test_outputs_evaluated_together_share_their_batch_of_points():
    x = sg.var("x")
    f = 3 * x + 1
    values = sg.evaluate([f, f.grad(x)], {"x": np.array([0.0, 1.0, 2.0])})
    np.testing.assert_array_equal(values[1], [3.0, 3.0, 3.0])


# --- node_values: every node's value, starting from known ones -------------------------------


@given(expressions(), points())
def test_node_values_gives_what_evaluate_gives_for_every_node(expression, point):
    with np.errstate(all="ignore"):
        values = node_values(expression, point)
        for node in toposort(expression):
            assert close(float(values[node]), sg.evaluate(node, point), rtol=0, atol=0)


def test_the_walk_stops_at_known_nodes():
    x, y = sg.variables("x y")
    inner = sg.sin(x) * y
    values = node_values([inner + 1, inner * 2], known={inner: 10.0})
    assert float(values[inner + 1]) == 11.0 and float(values[inner * 2]) == 20.0
    assert x not in values and sg.sin(x) not in values  # unbound, and never needed


def test_known_values_are_checked():
    x = sg.var("x")
    with pytest.raises(TypeError, match="known maps nodes"):
        node_values(x + 1, known={"x": 1.0})
    with pytest.raises(TypeError, match="must be a real number"):
        node_values(x + 1, known={x: "one"})


def test_partial_leaves_out_what_an_unbound_variable_reaches():
    x, y = sg.variables("x y")
    f = sg.exp(x) * y + x
    with pytest.raises(sg.UnboundVariableError):
        node_values(f, {"x": 0.0})
    values = node_values(f, {"x": 0.0}, partial=True)
    assert set(values) == {x, sg.exp(x)} and float(values[sg.exp(x)]) == 1.0


def test_node_values_keeps_the_gradient_of_where_finite():
    x = sg.var("x")
    f = sg.where(x > 0, sg.sqrt(x), 0)
    derivative = f.grad(x)
    with np.errstate(all="ignore"):
        values = node_values(derivative, {"x": -1.0}, known={f: 0.0})
    assert float(values[derivative]) == 0.0
