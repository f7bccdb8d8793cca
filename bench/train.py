"""Training micrograd's MLP two ways on the two-moons data: the scalar `Value` path (one graph
per example per step, as in micrograd's demo) and one derived gradient graph: the loss of one
example is built once with parameters and inputs as variables, `gradient` derives it once,
`lambdify` compiles it, and every step evaluates it on the whole batch (inputs are arrays).

The loss is micrograd's demo loss: the SVM max-margin loss mean(relu(1 - y*score)) plus the
L2 penalty alpha*sum(p**2); labels are -1/+1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from symgrad.autodiff.diff import gradient
from symgrad.backends.compile import lambdify
from symgrad.ir.graph import Tensor, gc_paused, var
from symgrad.micrograd import Value
from symgrad.micrograd.nn import MLP
from symgrad.ops.scalar import relu, tanh

__all__ = [
    "LossGraph",
    "TrainingHistory",
    "learning_rate",
    "loss_graph",
    "make_moons",
    "train_graph",
    "train_values",
    "value_loss",
]


def make_moons(n: int = 100, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's `make_moons`, in numpy): points `X` of
    shape (n, 2) with Gaussian noise of std `noise`, and labels `y` in {-1, +1}.

    >>> X, y = make_moons(6, noise=0.0, seed=1)
    >>> X.shape, sorted(y.tolist())
    ((6, 2), [-1, -1, -1, 1, 1, 1])
    """
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"make_moons needs n >= 2 points, got {n!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    n_outer = n // 2
    n_inner = n - n_outer
    outer = np.linspace(0, math.pi, n_outer)
    inner = np.linspace(0, math.pi, n_inner)
    X = np.concatenate([
        np.stack([np.cos(outer), np.sin(outer)], axis=1),
        np.stack([1 - np.cos(inner), 0.5 - np.sin(inner)], axis=1),
    ])
    y = np.concatenate([-np.ones(n_outer, dtype=int), np.ones(n_inner, dtype=int)])
    order = rng.permutation(n)
    X = X[order] + rng.normal(scale=noise, size=(n, 2))
    return X, y[order]


def learning_rate(step: int, steps: int) -> float:
    """micrograd's demo schedule: from 1.0 down to 0.1 over the run."""
    return 1.0 - 0.9 * step / steps


# --- the scalar path: micrograd's demo loss, one Value graph per step ----------------------

def value_loss(model: MLP, X: np.ndarray, y: np.ndarray, alpha: float = 1e-4
               ) -> tuple[Value, float]:
    """micrograd's demo loss over the batch as one `Value`, and the accuracy.

    >>> import random
    >>> X, y = make_moons(4, seed=0)
    >>> loss, accuracy = value_loss(MLP(2, [4, 1], rng=random.Random(0)), X, y)
    >>> loss.data > 0 and 0 <= accuracy <= 1
    True
    """
    X, y = _check_batch(X, y)
    inputs = [list(map(Value, row)) for row in X.tolist()]
    scores = [_value_score(model, x) for x in inputs]
    losses = [(1 + -float(yi) * score).relu() for yi, score in zip(y, scores, strict=True)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = alpha * sum(p * p for p in model.parameters())
    accuracy = np.mean([(yi > 0) == (score.data > 0) for yi, score in zip(y, scores, strict=True)])
    # The sums start at 0 (micrograd's demo); batches and models are never empty, so the total
    # is a Value, which the type of sum() cannot tell.
    return cast(Value, data_loss + reg_loss), float(accuracy)


@dataclass
class TrainingHistory:
    """Loss and accuracy after each step, and the seconds each step took."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def _value_score(model: MLP, x: list[Value]) -> Value:
    score = model(x)
    if isinstance(score, list):  # an MLP gives a list for a last layer of several neurons
        raise ValueError(f"the model must end in one output neuron, it has {len(score)}")
    return score


def train_values(model: MLP, X: np.ndarray, y: np.ndarray, steps: int = 100,
                 alpha: float = 1e-4, schedule_steps: int | None = None) -> TrainingHistory:
    """Plain gradient descent with `Value`s, exactly micrograd's demo loop.

    `schedule_steps` sets the learning-rate schedule's length (default `steps`), so a short
    run can follow the first steps of a long one.
    """

    history = TrainingHistory()
    for k in range(steps):
        start = time.perf_counter()
        with gc_paused():
            loss, accuracy = value_loss(model, X, y, alpha)
            model.zero_grad()
            loss.backward()
        rate = learning_rate(k, schedule_steps or steps)
        for p in model.parameters():
            p.data -= rate * p.grad
        history.seconds.append(time.perf_counter() - start)
        history.loss.append(loss.data)
        history.accuracy.append(accuracy)
    return history


# --- the graph path: one symbolic loss, derived once, compiled, evaluated on batches -------

@dataclass
class LossGraph:
    """The loss of one example as a graph, its gradient graphs and their compiled function.

    `function(*parameters, x0, x1, ..., y)` returns `(loss, score, *gradient)`, broadcasting
    over arrays of examples; `loss` is relu(1 - y*score) + alpha*sum(p**2), so its batch mean
    is micrograd's demo loss, and so are the gradients' batch means.
    """

    parameters: list[Tensor]
    inputs: list[Tensor]
    label: Tensor
    score: Tensor
    loss: Tensor
    gradient: list[Tensor]
    function: Callable[..., tuple]
    score_function: Callable[..., np.ndarray]

    def step(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray
             ) -> tuple[float, float, np.ndarray]:
        """The batch loss, accuracy and gradient at parameters `theta`."""
        if len(theta) != len(self.parameters) or np.shape(X)[1:] != (len(self.inputs),):
            raise ValueError(
                f"this graph takes {len(self.parameters)} parameters and {len(self.inputs)} "
                f"inputs per example, got {len(theta)} and X of shape {np.shape(X)}"
            )
        loss, score, *grads = self.function(*theta, *X.T, y)
        accuracy = float(np.mean((np.asarray(y) > 0) == (np.asarray(score) > 0)))
        # Partials that do not depend on the data come back as scalars: broadcast, then one
        # mean over the batch axis for all of them.
        batch = np.broadcast_arrays(*grads, np.empty(len(y)))[:-1]
        return float(np.mean(loss)), accuracy, np.mean(batch, axis=1)

    def scores(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The model's scores for the rows of X."""
        return np.broadcast_to(self.score_function(*theta, *np.asarray(X).T), len(X))


def _symbolic_forward(model: MLP, inputs: Sequence[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """The MLP's score as a graph of `inputs`, with one named variable per parameter, in the
    order of `model.parameters()`; each sum runs in micrograd's order, bias first."""
    parameters: list[Tensor] = []
    x: list[Tensor] = list(inputs)
    for l_index, layer in enumerate(model.layers):
        outputs = []
        for n_index, neuron in enumerate(layer.neurons):
            weights = [var(f"w{l_index}_{n_index}_{i}") for i in range(len(neuron.w))]
            bias = var(f"b{l_index}_{n_index}")
            parameters += [*weights, bias]
            act = bias
            for w, xi in zip(weights, x, strict=True):
                act = act + w * xi
            if neuron.nonlin == "relu":
                act = relu(act)
            elif neuron.nonlin == "tanh":
                act = tanh(act)
            outputs.append(act)
        x = outputs
    if len(x) != 1:
        raise ValueError(f"the model must end in one output neuron, it has {len(x)}")
    return x[0], parameters


def loss_graph(model: MLP, alpha: float = 1e-4) -> LossGraph:
    """Builds micrograd's demo loss for `model` symbolically once, derives its gradient with
    respect to every parameter once, and compiles both with `lambdify`.

    >>> import random
    >>> graph = loss_graph(MLP(2, [4, 1], rng=random.Random(0)))
    >>> len(graph.parameters), [str(x) for x in graph.inputs], str(graph.label)
    (17, ['x0', 'x1'], 'y')
    """
    nin = len(model.layers[0].neurons[0].w)
    inputs = [var(f"x{i}") for i in range(nin)]
    label = var("y")
    with gc_paused():
        score, parameters = _symbolic_forward(model, inputs)
        penalty = parameters[0] * parameters[0]
        for p in parameters[1:]:
            penalty = penalty + p * p
        loss = relu(1 + -label * score) + alpha * penalty
        grads = gradient(loss, parameters)
        args = [*parameters, *inputs, label]
        function = lambdify(args, [loss, score, *grads], name="loss_and_gradient")
        score_function = lambdify([*parameters, *inputs], score, name="score")
    return LossGraph(parameters, inputs, label, score, loss, grads, function, score_function)


def train_graph(model: MLP, X: np.ndarray, y: np.ndarray, steps: int = 100,
                alpha: float = 1e-4, graph: LossGraph | None = None,
                schedule_steps: int | None = None) -> TrainingHistory:
    """Plain gradient descent on the whole batch with one compiled gradient graph, the same
    schedule as `train_values`; the trained parameters are written back into `model`.
    A `graph` from `loss_graph` is reused when given (it must come from the same shape).

    >>> import random
    >>> X, y = make_moons(20, noise=0.1, seed=0)
    >>> model = MLP(2, [8, 1], rng=random.Random(1))
    >>> history = train_graph(model, X, y, steps=20)
    >>> history.loss[-1] < history.loss[0]
    True
    """
    X, y = _check_batch(X, y)

    graph = graph or loss_graph(model, alpha)
    if len(graph.parameters) != len(model.parameters()):
        raise ValueError(
            f"the graph has {len(graph.parameters)} parameters, the model "
            f"{len(model.parameters())}: build it with loss_graph(model)"
        )
    theta = np.array([p.data for p in model.parameters()])
    history = TrainingHistory()
    for k in range(steps):
        start = time.perf_counter()
        loss, accuracy, grads = graph.step(theta, X, y)
        theta -= learning_rate(k, schedule_steps or steps) * grads
        history.seconds.append(time.perf_counter() - start)
        history.loss.append(loss)
        history.accuracy.append(accuracy)
    for p, value in zip(model.parameters(), theta.tolist(), strict=True):
        p.data = value
    return history


def _check_batch(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (len(X),):
        raise ValueError(f"X must be (n, features) and y (n,), got {X.shape} and {y.shape}")
    if len(X) == 0:
        raise ValueError("the batch is empty: X and y need at least one example")
    if not np.all(np.abs(y) == 1):
        raise ValueError("labels must be -1 or +1 (make_moons gives them so)")
    return X, y
