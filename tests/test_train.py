"""Batch training from one derived gradient graph: the moons data, the Value and graph paths
agreeing on gradients and on training, and the compiled path reaching 100% accuracy."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bench.train import (
    learning_rate,
    loss_graph,
    make_moons,
    train_graph,
    train_values,
    value_loss,
)
from symgrad.micrograd.nn import MLP


def test_make_moons_shape_labels_and_seed():
    X, y = make_moons(100, noise=0.1, seed=3)
    assert X.shape == (100, 2) and y.shape == (100,)
    assert sorted(set(y.tolist())) == [-1, 1] and (y == 1).sum() == 50
    again, _ = make_moons(100, noise=0.1, seed=3)
    other, _ = make_moons(100, noise=0.1, seed=4)
    assert np.array_equal(X, again) and not np.array_equal(X, other)


def test_make_moons_without_noise_lies_on_the_half_circles():
    X, y = make_moons(11, noise=0.0, seed=0)
    outer, inner = X[y == -1], X[y == 1]
    assert np.allclose(np.hypot(outer[:, 0], outer[:, 1]), 1)
    assert np.allclose(np.hypot(inner[:, 0] - 1, inner[:, 1] - 0.5), 1)
    assert (outer[:, 1] >= -1e-12).all() and (inner[:, 1] <= 0.5 + 1e-12).all()


def test_learning_rate_schedule():
    assert learning_rate(0, 100) == 1.0
    assert learning_rate(50, 100) == pytest.approx(0.55)


def test_value_and_tensor_paths_give_the_same_gradients_on_an_mlp():
    X, y = make_moons(12, noise=0.1, seed=0)
    model = MLP(2, [8, 8, 1], rng=random.Random(7))
    loss, accuracy = value_loss(model, X, y, alpha=1e-3)
    model.zero_grad()
    loss.backward()
    value_grads = np.array([p.grad for p in model.parameters()])
    graph = loss_graph(model, alpha=1e-3)
    theta = np.array([p.data for p in model.parameters()])
    graph_loss, graph_accuracy, graph_grads = graph.step(theta, X, y)
    assert graph_loss == pytest.approx(loss.data, rel=1e-12)
    assert graph_accuracy == accuracy
    assert np.count_nonzero(value_grads) > len(value_grads) // 2
    np.testing.assert_allclose(graph_grads, value_grads, rtol=1e-10, atol=1e-14)


def test_compiled_scores_match_the_value_model():
    X, _ = make_moons(5, seed=1)
    model = MLP(2, [4, 4, 1], nonlin="tanh", rng=random.Random(2))
    graph = loss_graph(model)
    theta = np.array([p.data for p in model.parameters()])
    expected = [model(list(row)).data for row in X]
    np.testing.assert_allclose(graph.scores(theta, X), expected, rtol=1e-12)


def test_both_paths_take_the_same_steps():
    X, y = make_moons(10, noise=0.1, seed=2)
    by_values = MLP(2, [6, 1], rng=random.Random(5))
    by_graph = MLP(2, [6, 1], rng=random.Random(5))
    values = train_values(by_values, X, y, steps=3, schedule_steps=100)
    graph = train_graph(by_graph, X, y, steps=3, schedule_steps=100)
    np.testing.assert_allclose(graph.loss, values.loss, rtol=1e-10)
    np.testing.assert_allclose([p.data for p in by_graph.parameters()],
                               [p.data for p in by_values.parameters()], rtol=1e-10)


def test_graph_training_reaches_full_accuracy_on_100_moons():
    # micrograd's demo: 2-16-16-1, 100 points, noise 0.1, SVM loss + 1e-4 L2, 100 steps
    X, y = make_moons(100, noise=0.1, seed=0)
    model = MLP(2, [16, 16, 1], rng=random.Random(1))
    history = train_graph(model, X, y, steps=100)
    assert history.accuracy[-1] == 1.0
    assert history.loss[-1] < 0.02 < 0.5 < history.loss[0]
    # the trained parameters were written back: the Value model classifies every point
    assert all((model(list(row)).data > 0) == (label > 0) for row, label in zip(X, y, strict=True))


def test_bad_batches_get_clear_errors():
    model = MLP(2, [3, 1], rng=random.Random(0))
    X, y = make_moons(4, seed=0)
    with pytest.raises(ValueError, match="-1 or \\+1"):
        train_graph(model, X, (y + 1) // 2)
    with pytest.raises(ValueError, match="X must be"):
        value_loss(model, X[:, 0], y)
    with pytest.raises(ValueError, match="n >= 2"):
        make_moons(1)
    with pytest.raises(ValueError, match="parameters"):
        train_graph(model, X, y, graph=loss_graph(MLP(2, [4, 1])))
    graph = loss_graph(model)
    with pytest.raises(ValueError, match="2 inputs per example"):
        graph.step(np.zeros(len(graph.parameters)), np.zeros((4, 3)), y)


def test_empty_batches_and_several_outputs_get_clear_errors():
    # Found by mypy: an empty batch trained to NaN losses (or divided by zero), and
    # value_loss of a model with two outputs failed deep inside with a TypeError.
    model = MLP(2, [3, 1], rng=random.Random(0))
    for train in (value_loss, train_graph):
        with pytest.raises(ValueError, match="batch is empty"):
            train(model, np.zeros((0, 2)), np.zeros(0))
    X, y = make_moons(4, seed=0)
    for train in (value_loss, train_graph):
        with pytest.raises(ValueError, match="one output neuron, it has 2"):
            train(MLP(2, [3, 2], rng=random.Random(0)), X, y)
