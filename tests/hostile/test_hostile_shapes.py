"""Shapes as a graph gives them: data arrays inside scalar formulas are reduced by sum, mean
and norm (values and derivatives against numpy), one name is one variable however it was
declared (reused, or refused with a clear error, never a silent zero gradient), and env
entries for variables outside a graph change none of its values or shapes."""

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import symgrad as sg

# --- (a) data arrays in scalar formulas ---------------------------------------------------

UNARY = {
    "sin": (sg.sin, lambda v, d: (np.sin(v), np.cos(v) * d)),
    "tanh": (sg.tanh, lambda v, d: (np.tanh(v), (1 - np.tanh(v) ** 2) * d)),
    "square": (lambda t: t**2, lambda v, d: (v**2, 2 * v * d)),
}
BINARY = {
    "add": (lambda a, b: a + b, lambda u, du, v, dv: (u + v, du + dv)),
    "sub": (lambda a, b: a - b, lambda u, du, v, dv: (u - v, du - dv)),
    "mul": (lambda a, b: a * b, lambda u, du, v, dv: (u * v, du * v + u * dv)),
}
REDUCTIONS = {"sum": (sg.sum, np.sum), "mean": (sg.mean, np.mean),
              "norm": (sg.norm, lambda v: np.sqrt(np.sum(v**2)))}

values = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def data_arrays(draw):
    """One to three arrays whose shapes broadcast together: a 1-D or 2-D shape, and arrays
    of it or of its trailing axes."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    arrays = []
    for _ in range(draw(st.integers(1, 3))):
        own = shape[draw(st.integers(0, len(shape) - 1)):]
        arrays.append(np.array(draw(st.lists(values, min_size=int(np.prod(own)),
                                             max_size=int(np.prod(own))))).reshape(own))
    return arrays


def formulas(n_arrays: int):
    """Formula trees over the variable w, the data arrays (by index) and numbers."""
    leaves = st.one_of(st.just(("w",)), st.integers(0, n_arrays - 1).map(lambda i: ("data", i)),
                       values.map(lambda c: ("number", c)))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(sorted(UNARY)), inner),
            st.tuples(st.sampled_from(sorted(BINARY)), inner, inner),
        ),
        max_leaves=6,
    )


def post_order(tree) -> list:
    """The tree's nodes, operands before the node using them (iteratively)."""
    order, stack = [], [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded or node[0] in ("w", "data", "number"):
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node[1:]))
    return order


def interpret(tree, leaf, table_column: int):
    """The tree's value, with `leaf` giving leaves and the ops from column 0 (symgrad) or
    1 (numpy dual numbers) of UNARY and BINARY; operands are tuples in the dual column."""
    done: dict[int, object] = {}
    for node in post_order(tree):
        kind = node[0]
        if kind in UNARY or kind in BINARY:
            operands = [done[id(child)] for child in node[1:]]
            rule = (UNARY.get(kind) or BINARY[kind])[table_column]
            if table_column == 1:
                operands = [part for pair in operands for part in pair]
            done[id(node)] = rule(*operands)
        else:
            done[id(node)] = leaf(node)
    return done[id(tree)]


def build(tree, w, arrays):
    """The formula as a symgrad graph (the arrays as constants)."""
    kinds = {"w": lambda node: w, "data": lambda node: sg.const(arrays[node[1]]),
             "number": lambda node: sg.const(node[1])}
    return interpret(tree, lambda node: kinds[node[0]](node), 0)


def dual(tree, w_value, arrays):
    """The formula's value and derivative by w, in numpy with dual numbers."""
    kinds = {"w": lambda node: (np.float64(w_value), np.float64(1.0)),
             "data": lambda node: (arrays[node[1]], np.zeros_like(arrays[node[1]])),
             "number": lambda node: (np.float64(node[1]), np.float64(0.0))}
    return interpret(tree, lambda node: kinds[node[0]](node), 1)


@st.composite
def reduced_formulas(draw):
    arrays = draw(data_arrays())
    return arrays, draw(formulas(len(arrays))), draw(st.sampled_from(sorted(REDUCTIONS))), \
        draw(values)


@given(reduced_formulas())
def test_data_arrays_in_scalar_formulas_are_reduced_and_differentiated(case):
    arrays, tree, reduction, w_value = case
    w = sg.var("w_data")
    ours_reduce, numpy_reduce = REDUCTIONS[reduction]
    f = ours_reduce(build(tree, w, arrays))
    assert f.shape == ()
    value, derivative = dual(tree, w_value, arrays)
    value, derivative = np.broadcast_arrays(value, derivative)
    expected = numpy_reduce(value)
    if reduction == "norm":
        assume(expected > 1e-3)  # the norm's derivative is undefined at 0
        expected_derivative = np.sum(value * derivative) / expected
    else:
        expected_derivative = numpy_reduce(derivative)
    scale = 1 + numpy_reduce(np.abs(value)) if reduction != "norm" else 1 + expected
    env = {"w_data": w_value}
    got = sg.evaluate(f, env)
    assert type(got) is float
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9 * scale)
    d_scale = 1 + numpy_reduce(np.abs(derivative)) if reduction != "norm" else \
        1 + np.sum(np.abs(value * derivative)) / expected
    for derivative_graph in (f.grad(w), sg.gradient(f, w)):
        got_derivative = sg.evaluate(derivative_graph, env)
        assert np.shape(got_derivative) == ()
        assert got_derivative == pytest.approx(expected_derivative, rel=1e-8, abs=1e-8 * d_scale)
    # the numpy reference itself, against a central difference of the formula's values
    h = 1e-6
    above = sg.evaluate(f, {"w_data": w_value + h})
    below = sg.evaluate(f, {"w_data": w_value - h})
    central = (above - below) / (2 * h)
    tolerance = 1e-4 * d_scale + 1e-7 * scale
    assert central == pytest.approx(expected_derivative, rel=1e-4, abs=tolerance)


# --- (b) one name, one variable -------------------------------------------------------------

SHAPES = [(), (2,), (3,), (2, 3)]
# Each case declares its own name: a case's variables that a failure's traceback keeps alive
# must not change what the next case's declarations mean.
_fresh_names = (f"dup_v{index}" for index in itertools.count())


def declare(name: str, kind: str, shape: tuple):
    """The variable called `name`, asked for in one of the public ways."""
    if kind == "var":
        return sg.var(name)
    if kind == "var_shaped":
        return sg.var(name, shape=shape)
    if kind == "declare":
        if len(shape) == 1:
            return sg.vector(name, shape[0])
        if len(shape) == 2:
            return sg.matrix(name, shape)
        return sg.var(name, shape=())
    if kind == "parse":
        return sg.parse(name)
    return sg.parse(f"1*{name}", shapes={name: shape})


declarations = st.lists(
    st.tuples(st.sampled_from(["var", "var_shaped", "declare", "parse", "parse_shapes"]),
              st.sampled_from(SHAPES)),
    min_size=1, max_size=3,
)


@given(declarations, st.data())
def test_one_name_is_one_variable_or_a_clear_error(steps, data):
    name = next(_fresh_names)
    held = []  # every declaration stays alive, as a user's variables do
    try:
        for kind, shape in steps:
            held.append(declare(name, kind, shape))
    except sg.NameClashError as error:
        assert f"variable {name!r} is declared with shapes" in str(error)
        return
    used = data.draw(st.lists(st.integers(0, len(held) - 1), min_size=1, max_size=3))
    coefficients = data.draw(st.lists(st.integers(1, 5), min_size=len(used),
                                      max_size=len(used)))
    target = held[data.draw(st.integers(0, len(held) - 1))]
    f = sg.const(0)
    for index, c in zip(used, coefficients, strict=True):
        f = f + c * sg.sum(sg.sin(held[index]))
    point = np.linspace(0.1, 1.0, int(np.prod(target.shape))).reshape(target.shape)
    one_variable = all(held[index] is target for index in used)
    for differentiate in (lambda: sg.gradient(f, target), lambda: f.grad(target),
                          lambda: sg.gradient(f, [target])[0]):
        if not one_variable:
            with pytest.raises(sg.NameClashError, match=f"variable '{name}' appears with "
                                                        r"shapes \(.*\) and \(.*\)"):
                differentiate()
            continue
        gradient = sg.evaluate(differentiate(), {name: point})
        expected = sum(coefficients) * np.cos(point)
        assert np.shape(gradient) == target.shape
        np.testing.assert_allclose(gradient, expected, rtol=1e-12)
    held_in_f = {id(held[index]): held[index] for index in used}
    if len(held_in_f) > 1:
        with pytest.raises(sg.NameClashError, match=f"variable '{name}' appears with"):
            sg.evaluate(f, {name: point})
    else:
        (variable,) = held_in_f.values()
        value = np.linspace(0.1, 1.0, int(np.prod(variable.shape))).reshape(variable.shape)
        expected_value = sum(coefficients) * np.sum(np.sin(value))
        assert sg.evaluate(f, {name: value}) == pytest.approx(expected_value, rel=1e-12)


# --- (c) env entries of other variables ---------------------------------------------------

OTHERS = {"other_W": sg.matrix("other_W", (2, 3)), "other_v": sg.vector("other_v", 4)}
SCALARS = sg.variables("ex_x ex_y ex_z")  # ex_z never appears in the formulas


@st.composite
def scalar_formulas(draw):
    x, y, _ = SCALARS
    leaves = st.sampled_from([x, y, sg.const(2), sg.const(0.5)])
    return draw(st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(lambda a: sg.sin(a), inner),
            st.builds(lambda a, b: a * b, inner, inner),
            st.builds(lambda a, b: a + b, inner, inner),
        ),
        max_leaves=5,
    ))


points = st.one_of(values, st.lists(values, min_size=3, max_size=3).map(np.array))
extras = st.fixed_dictionaries({}, optional={
    "other_W": st.just(np.ones((2, 3))),
    "other_v": st.just(np.arange(4.0)),
    "ex_z": st.one_of(values, st.just(np.ones(5)), st.just(np.ones((2, 2)))),
})


@given(scalar_formulas(), points, points, extras)
def test_env_entries_outside_the_graph_change_nothing(f, x_value, y_value, extra):
    x, y, _ = SCALARS
    env = {"ex_x": x_value, "ex_y": y_value}
    for outputs in ([f], [f.grad(x)], [f, f.grad(x), f.grad(y)]):
        plain = sg.evaluate(outputs, env)
        with_extra = sg.evaluate(outputs, {**env, **extra})
        for ours, theirs in zip(plain, with_extra, strict=True):
            assert np.shape(ours) == np.shape(theirs)
            np.testing.assert_array_equal(ours, theirs)
        alone = sg.evaluate(outputs[-1], {**env, **extra})
        assert np.shape(alone) == np.shape(sg.evaluate(outputs[-1], env))
