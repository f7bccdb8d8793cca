"""Linear algebra ops: values against numpy, gradients against central differences at random
well-conditioned matrices, the Matrix Cookbook's forms, and clear shape errors."""

import numpy as np
import pytest

import symgrad as sg

N = 3


def well_conditioned(rng, n=N):
    """A random matrix with singular values between 1 and about 3."""
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return q @ np.diag(rng.uniform(1, 3, n)) @ np.linalg.qr(rng.normal(size=(n, n)))[0]


def spd(rng, n=N):
    a = well_conditioned(rng, n)
    return a @ a.T


@pytest.fixture(scope="module")
def names():
    return {"A": sg.matrix("A_la", (N, N)), "B": sg.matrix("B_la", (2, 2)),
            "S": sg.matrix("S_la", (N, N)), "x": sg.vector("x_la", N),
            "m": sg.vector("m_la", N), "b": sg.vector("b_la", N), "C": sg.matrix("C_la", (N, 2))}


def point(rng, names):
    return {"A_la": well_conditioned(rng), "B_la": rng.normal(size=(2, 2)),
            "S_la": spd(rng), "x_la": rng.normal(size=N), "m_la": rng.normal(size=N),
            "b_la": rng.normal(size=N), "C_la": rng.normal(size=(N, 2))}


def central_differences(f, env, name, h=1e-6):
    value = np.array(env[name], dtype=float)
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        up, down = value.copy(), value.copy()
        up[index] += h
        down[index] -= h
        difference = sg.evaluate(f, {**env, name: up}) - sg.evaluate(f, {**env, name: down})
        grad[index] = difference / (2 * h)
    return grad


FORMULAS = {
    "logdet": lambda n: sg.logdet(n["S"]),
    "det": lambda n: sg.det(n["A"]),
    "inv": lambda n: sg.sum(sg.inv(n["A"]) * n["A"].T) + sg.sum(sg.inv(n["A"]) @ n["x"]),
    "solve vector": lambda n: sg.sum(sg.solve(n["A"], n["b"]) ** 2),
    "solve matrix": lambda n: sg.sum(sg.sin(sg.solve(n["A"], n["C"]))),
    "diag": lambda n: sg.sum(sg.diag(n["x"]) @ n["A"] @ n["b"]),
    "diagonal": lambda n: sg.sum(sg.diagonal(n["A"] @ n["A"]) ** 3),
    "kron": lambda n: sg.sum(sg.kron(n["A"], n["B"]) ** 2) + sg.sum(sg.kron(n["B"], n["A"])),
    "gaussian": lambda n: -0.5 * sg.logdet(n["S"])
    - 0.5 * (n["x"] - n["m"]) @ sg.inv(n["S"]) @ (n["x"] - n["m"]),
}


@pytest.mark.parametrize("formula", sorted(FORMULAS))
def test_gradients_match_central_differences(names, formula):
    f = FORMULAS[formula](names)
    rng = np.random.default_rng(sorted(FORMULAS).index(formula))
    variables = sg.free_variables(f)
    grads = sg.gradient(f, variables)
    for _ in range(3):
        env = point(rng, names)
        env = {v.name: env[v.name] for v in variables}
        for variable, g in zip(variables, grads, strict=True):
            expected = central_differences(f, env, variable.name)
            np.testing.assert_allclose(sg.evaluate(g, env), expected, rtol=1e-5, atol=1e-6,
                                       err_msg=f"{formula}: d/d{variable.name} = {g}")


@pytest.mark.parametrize("formula", ["logdet", "det", "solve vector", "diag", "gaussian"])
def test_check_agrees_through_the_scalar_expansion(names, formula):
    verdict = sg.check(FORMULAS[formula](names), sg.free_variables(FORMULAS[formula](names)))
    assert verdict, str(verdict)


def test_values_against_numpy(names):
    env = point(np.random.default_rng(5), names)
    A, S, b, C, B = (env[k] for k in ("A_la", "S_la", "b_la", "C_la", "B_la"))
    n = names
    cases = [(sg.inv(n["A"]), np.linalg.inv(A)), (sg.det(n["A"]), np.linalg.det(A)),
             (sg.logdet(n["S"]), np.log(np.linalg.det(S))),
             (sg.solve(n["A"], n["b"]), np.linalg.solve(A, b)),
             (sg.solve(n["A"], n["C"]), np.linalg.solve(A, C)),
             (sg.diag(n["b"]), np.diag(b)), (sg.diagonal(n["A"]), np.diagonal(A)),
             (sg.kron(n["A"], n["B"]), np.kron(A, B))]
    for formula, expected in cases:
        np.testing.assert_allclose(sg.evaluate(formula, env), expected, rtol=1e-12,
                                   err_msg=str(formula))


def test_cookbook_forms(names):
    A, S = names["A"], names["S"]
    assert str(sg.logdet(S).grad(S)) == "inv(S_la).T"
    assert str(sg.det(A).grad(A)) == "det(A_la)*inv(A_la).T"
    assert sg.inv(sg.inv(A)) is A
    assert sg.latex(sg.inv(A)) == r"A_{la}^{-1}"
    assert sg.latex(sg.kron(A, names["B"])) == r"A_{la} \otimes B_{la}"


def test_logdet_is_nan_where_the_determinant_is_not_positive(names):
    assert np.isnan(sg.evaluate(sg.logdet(names["S"]), {"S_la": -np.eye(N)}))


def test_ridge_regression_closed_form_against_numpy():
    X, y, lam = sg.matrix("X_ridge", (6, N)), sg.vector("y_ridge", 6), sg.var("lam_ridge")
    w = sg.solve(X.T @ X + lam * np.eye(N), X.T @ y)
    rng = np.random.default_rng(2)
    env = {"X_ridge": rng.normal(size=(6, N)), "y_ridge": rng.normal(size=6), "lam_ridge": 0.5}
    expected = np.linalg.solve(env["X_ridge"].T @ env["X_ridge"] + 0.5 * np.eye(N),
                               env["X_ridge"].T @ env["y_ridge"])
    np.testing.assert_allclose(sg.evaluate(w, env), expected, rtol=1e-12)
    dw = sg.gradient(sg.sum(w), lam)  # d w/d lam = -(X.T X + lam I)^-1 w
    np.testing.assert_allclose(sg.evaluate(dw, env), -np.sum(np.linalg.solve(
        env["X_ridge"].T @ env["X_ridge"] + 0.5 * np.eye(N), expected)), rtol=1e-10)


@pytest.mark.parametrize("build, message", [
    (lambda n: sg.inv(n["C"]), "inv takes a square matrix, got shape (3, 2)"),
    (lambda n: sg.det(n["x"]), "det takes a square matrix, got shape (3,)"),
    (lambda n: sg.solve(n["A"], n["B"]), "solve: the right-hand side has shape (2, 2)"),
    (lambda n: sg.diag(n["A"]), "diag takes a vector, got shape (3, 3)"),
    (lambda n: sg.kron(n["x"], n["A"]), "kron takes matrices of numeric sizes"),
])
def test_shape_errors_name_the_op_and_the_shapes(names, build, message):
    with pytest.raises(sg.ShapeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(names)


def test_parse_and_print_round_trip(names):
    shapes = {"A": (N, N), "b": (N,), "B": (2, 2)}
    for text in ["inv(A)@b", "det(A) + logdet(A)", "solve(A, b)", "diag(b)@A",
                 "sum(diagonal(A))", "kron(A, B)"]:
        assert str(sg.parse(text, shapes=shapes)) == text
