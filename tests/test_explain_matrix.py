"""The backward pass of a layer, step by step: `explain` on vectors and matrices (each
matrix op's local step a formula of the upstream, delta), and `compare` finding the usual
mistakes of a hand-derived layer gradient."""

import numpy as np
import pytest

import symgrad as sg


@pytest.fixture(scope="module")
def layer():
    W1, W2 = sg.matrix("W1_layer", (3, 2)), sg.matrix("W2_layer", (1, 3))
    x, y = sg.vector("x_layer", 2), sg.vector("y_layer", 1)
    loss = sg.sum((W2 @ sg.tanh(W1 @ x) - y) ** 2)
    rng = np.random.default_rng(4)
    at = {"W1_layer": rng.normal(size=(3, 2)), "W2_layer": rng.normal(size=(1, 3)),
          "x_layer": rng.normal(size=2), "y_layer": rng.normal(size=1)}
    return loss, W1, W2, at


def test_the_backward_table_of_a_two_layer_network(layer):
    loss, W1, W2, at = layer
    e = sg.explain(loss, [W1, W2], at=at)
    locals_ = [e.formula(s.local) for s in e.steps]
    edges = [(e.name(s.node), e.name(s.operand)) for s in e.steps]
    assert ("t3", "W2_layer") in edges and ("t1", "W1_layer") in edges
    assert "W2_layer.T@delta" in locals_  # the error sent back through the second layer
    assert "1 - t2**2" in locals_  # tanh's local derivative, elementwise
    assert "delta@x_layer.T" in locals_  # the first layer's weights: delta x.T
    text = str(e)
    assert "delta = the upstream" in text
    for w in (W1, W2):
        np.testing.assert_allclose(e.gradient_values[w], sg.evaluate(sg.gradient(loss, w), at))
    step = next(s for s in e.steps if e.name(s.operand) == "t1")
    assert step.local_value.shape == (3,) and step.contribution_value.shape == (3,)


@pytest.mark.parametrize("claim, kind", [
    ("2*W2_layer.T@(W2_layer@tanh(W1_layer@x_layer) - y_layer)*(1 - tanh(W1_layer@x_layer)**2)"
     "@x_layer.T", None),
    ("2*W2_layer.T@(W2_layer@tanh(W1_layer@x_layer) - y_layer)@x_layer.T", "missing factor"),
    ("-2*W2_layer.T@(W2_layer@tanh(W1_layer@x_layer) - y_layer)*(1 - tanh(W1_layer@x_layer)"
     "**2)@x_layer.T", "sign"),
    ("2*x_layer@(W2_layer.T@(W2_layer@tanh(W1_layer@x_layer) - y_layer)*(1 - "
     "tanh(W1_layer@x_layer)**2)).T", "transposed"),
])
def test_compare_finds_the_mistake_in_a_layer_gradient(layer, claim, kind):
    loss, W1, _, _ = layer
    verdict = sg.compare(loss, W1, claim)
    assert bool(verdict) is (kind is None), str(verdict)
    if kind is not None:
        assert verdict.hint is not None and verdict.hint.kind == kind, str(verdict)
    if kind == "missing factor":
        assert "1 - tanh(W1_layer@x_layer)**2" in str(verdict)
