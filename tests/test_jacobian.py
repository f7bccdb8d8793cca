"""Jacobians and Hessians of vectors as matrix formulas: the textbook forms, and values against
central differences for random vector functions."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg
from symgrad.verify import scalar_expansion

M, N = 2, 3


@pytest.fixture(scope="module")
def names():
    return {"A": sg.matrix("A_jac", (N, N)), "W": sg.matrix("W_jac", (M, N)),
            "x": sg.vector("x_jac", N), "t": sg.var("t_jac")}


@pytest.fixture(scope="module")
def env():
    rng = np.random.default_rng(11)
    return {"A_jac": rng.normal(size=(N, N)), "W_jac": rng.normal(size=(M, N)),
            "x_jac": rng.normal(size=N), "t_jac": 0.7}


def numeric_jacobian(F, env, name, h=1e-6):
    """Central differences, one column per entry of the variable."""
    point = np.atleast_1d(np.array(env[name], dtype=float))
    columns = []
    for i in range(point.size):
        up, down = point.copy(), point.copy()
        up[i] += h
        down[i] -= h
        shape = np.shape(env[name])
        difference = (np.asarray(sg.evaluate(F, {**env, name: up.reshape(shape)}))
                      - np.asarray(sg.evaluate(F, {**env, name: down.reshape(shape)})))
        columns.append(difference / (2 * h))
    return np.stack(columns, axis=-1)


def test_textbook_forms(names):
    A, W, x = names["A"], names["W"], names["x"]
    assert str(sg.jacobian(A @ x, x)) == "A_jac"
    assert sg.jacobian([A @ x], [x])[0][0] is A
    assert str((A @ x).grad(x)) == "A_jac"
    assert str(sg.simplify(sg.jacobian(sg.sigmoid(W @ x), x))) == \
        "diag(sigmoid(W_jac@x_jac)*(1 - sigmoid(W_jac@x_jac)))@W_jac"
    assert str(sg.hessian(x @ A @ x, x)) in ("A_jac + A_jac.T", "A_jac.T + A_jac")
    assert sg.latex(sg.jacobian(sg.tanh(x), x)).startswith(r"\operatorname{diag}")


VECTOR_FUNCTIONS = {
    "linear": lambda n: n["W"] @ n["x"],
    "sigmoid layer": lambda n: sg.sigmoid(n["W"] @ n["x"]),
    "softmax": lambda n: sg.softmax(n["W"] @ n["x"]),
    "elementwise product": lambda n: sg.sin(n["x"]) * sg.sum(n["x"]),
    "where": lambda n: sg.where(n["x"] > 0, n["x"], 0.01 * n["x"]),
    "quotient": lambda n: n["x"] / (1 + n["x"] ** 2),
    "matrix power": lambda n: n["A"] @ (n["A"] @ n["x"]) - n["t"] * n["x"],
    "vector times matrix": lambda n: n["x"] @ n["A"],
    "logsumexp spread": lambda n: n["x"] * sg.logsumexp(n["x"]),
}


@pytest.mark.parametrize("name", sorted(VECTOR_FUNCTIONS))
def test_jacobians_match_central_differences(names, env, name):
    F = VECTOR_FUNCTIONS[name](names)
    for wrt in ("x", "t"):
        J = sg.jacobian(F, names[wrt])
        expected = numeric_jacobian(F, env, f"{wrt}_jac")
        np.testing.assert_allclose(np.asarray(sg.evaluate(J, env)).reshape(expected.shape),
                                   expected, rtol=1e-6, atol=1e-8, err_msg=f"{name}: {J}")


@pytest.mark.parametrize("name", ["quadratic form", "log cosh", "softmax cross-entropy"])
def test_hessians_match_central_differences(names, env, name):
    A, W, x = names["A"], names["W"], names["x"]
    f = {"quadratic form": x @ A @ x,
         "log cosh": sg.sum(sg.log(sg.cosh(W @ x))),
         "softmax cross-entropy": sg.logsumexp(W @ x) - sg.sum(W @ x) / M}[name]
    H = sg.hessian(f, x)
    expected = numeric_jacobian(sg.gradient(f, x), env, "x_jac")
    np.testing.assert_allclose(sg.evaluate(H, env), expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(sg.evaluate(H, env), sg.evaluate(H, env).T, atol=1e-12)


UNARY = [sg.sin, sg.tanh, sg.exp, lambda v: v * v, sg.sigmoid]


@st.composite
def vector_functions(draw, names):
    """A random vector function of x: elementwise functions, products with matrices and
    sums, drawn as a short chain."""
    F = names["x"]
    for _ in range(draw(st.integers(1, 4))):
        step = draw(st.sampled_from(["unary", "matrix", "scale", "add x", "times sum"]))
        if step == "unary":
            F = draw(st.sampled_from(UNARY))(F)
        elif step == "matrix":
            F = names["A"] @ F
        elif step == "scale":
            F = names["t"] * F
        elif step == "add x":
            F = F + names["x"]
        else:
            F = F * sg.sum(names["x"])
    return F


def scalar_jacobian(F, variable, env):
    """The Jacobian from F written out in scalars and differentiated entry by entry by the
    scalar engine: an independent route (central differences lose digits on exp(exp(..)))."""
    entries = scalar_expansion.expand(F)
    elements = list(scalar_expansion.element_variables(variable).flat)
    point = scalar_expansion.element_values(env)
    return np.array([[sg.evaluate(sg.diff(entry, e), point) for e in elements]
                     for entry in entries.flat])


@given(st.data())
def test_random_vector_functions(names, env, data):
    F = data.draw(vector_functions(names))
    J = sg.jacobian(F, names["x"])
    with np.errstate(all="ignore"):
        expected = scalar_jacobian(F, names["x"], env)
        np.testing.assert_allclose(sg.evaluate(J, env), expected, rtol=1e-9, atol=1e-12,
                                   err_msg=str(F))


def test_a_jacobian_that_is_not_a_matrix_formula_says_so(names):
    with pytest.raises(sg.ShapeError, match="a vector by a vector"):
        sg.jacobian(names["W"] @ names["x"], names["W"])


def test_check_takes_the_jacobian_of_a_vector(names):
    verdict = sg.check(sg.softmax(names["W"] @ names["x"]), [names["x"], names["t"]])
    assert verdict and len(verdict) == 2, str(verdict)
    assert "central differences" in verdict[0].reference
