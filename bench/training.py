"""Time per training step of micrograd's demo (MLP 2-16-16-1, 100 two-moons points, SVM loss +
L2, full-batch gradient descent), three ways:

- micrograd's own engine (Karpathy's `Value`, copied below), the reference;
- `symgrad.micrograd.Value`: the same scalar graph per step, backward by symgrad's reverse sweep;
- one compiled gradient graph (`bench.train`): derived once, evaluated on the whole batch.

Times are CPU seconds of this process (`time.process_time`), so other work on a shared machine
does not inflate them. Run: `python -m bench.training [--quick]`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

import numpy as np

from bench.common import machine, ratio_text, seconds_text, table
from bench.train import learning_rate, loss_graph, make_moons, train_graph, value_loss
from symgrad.ir.graph import gc_paused
from symgrad.micrograd.nn import MLP

SIZES = [16, 16, 1]
POINTS = 100
STEPS = 100


# --- the reference: Karpathy's micrograd engine as is (karpathy/micrograd, MIT) -------

class _MicrogradValue:
    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other):
        other = other if isinstance(other, _MicrogradValue) else _MicrogradValue(other)
        out = _MicrogradValue(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, _MicrogradValue) else _MicrogradValue(other)
        out = _MicrogradValue(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = _MicrogradValue(0 if self.data < 0 else self.data, (self,), "ReLU")

        def _backward():
            self.grad += (out.data > 0) * out.grad
        out._backward = _backward
        return out

    def backward(self):
        topo = []
        visited = set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)
        build_topo(self)
        self.grad = 1
        for v in reversed(topo):
            v._backward()

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other


def _micrograd_step(weights, biases, X, y, rate, alpha=1e-4):
    """One step of micrograd's demo on the reference engine, the same model and loss."""
    losses = []
    for row, label in zip(X.tolist(), y.tolist(), strict=True):
        x = list(map(_MicrogradValue, row))
        for layer, (w_layer, b_layer) in enumerate(zip(weights, biases, strict=True)):
            out = []
            for w, b in zip(w_layer, b_layer, strict=True):
                act = sum((wi * xi for wi, xi in zip(w, x, strict=True)), b)
                out.append(act.relu() if layer < len(weights) - 1 else act)
            x = out
        losses.append((1 + -label * x[0]).relu())
    parameters = [p for w_layer, b_layer in zip(weights, biases, strict=True)
                  for w, b in zip(w_layer, b_layer, strict=True) for p in [*w, b]]
    loss = sum(losses) * (1.0 / len(losses)) + alpha * sum(p * p for p in parameters)
    for p in parameters:
        p.grad = 0
    loss.backward()
    for p in parameters:
        p.data -= rate * p.grad


def _time_micrograd(model: MLP, X: np.ndarray, y: np.ndarray, steps: int) -> list[float]:
    weights = [[[_MicrogradValue(w.data) for w in n.w] for n in layer.neurons]
               for layer in model.layers]
    biases = [[_MicrogradValue(n.b.data) for n in layer.neurons] for layer in model.layers]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # its build_topo recurses once per node
    try:
        seconds = []
        for k in range(steps):
            start = time.process_time()
            _micrograd_step(weights, biases, X, y, learning_rate(k, STEPS))
            seconds.append(time.process_time() - start)
    finally:
        sys.setrecursionlimit(limit)
    return seconds


def _time_values(model: MLP, X: np.ndarray, y: np.ndarray, steps: int) -> dict[str, list]:
    """Steps of the demo loop on symgrad's Value, split into forward and backward."""
    forward, backward, total = [], [], []
    for k in range(steps):
        start = time.process_time()
        with gc_paused():
            loss, _ = value_loss(model, X, y)
            built = time.process_time()
            model.zero_grad()
            loss.backward()
            done = time.process_time()
        rate = learning_rate(k, STEPS)
        for p in model.parameters():
            p.data -= rate * p.grad
        end = time.process_time()
        forward.append(built - start)
        backward.append(done - built)
        total.append(end - start)
    return {"forward": forward, "backward": backward, "total": total}


def measure(quick: bool = False) -> dict[str, float]:
    """The figures: seconds per step each way, the one-time setup, the result of the run."""
    X, y = make_moons(POINTS, noise=0.1, seed=0)
    value_steps = 2 if quick else 5

    reference = _time_micrograd(MLP(2, SIZES, rng=random.Random(1)), X, y, value_steps)
    values = _time_values(MLP(2, SIZES, rng=random.Random(1)), X, y, value_steps)

    model = MLP(2, SIZES, rng=random.Random(1))
    start = time.process_time()
    graph = loss_graph(model)
    setup = time.process_time() - start
    start = time.process_time()
    history = train_graph(model, X, y, steps=STEPS, graph=graph)
    graph_step = (time.process_time() - start) / STEPS
    return {
        "value_steps": value_steps,
        "micrograd_step": statistics.median(reference),
        "value_step": statistics.median(values["total"]),
        "value_forward": statistics.median(values["forward"]),
        "value_backward": statistics.median(values["backward"]),
        "graph_setup": setup,
        "graph_step": graph_step,
        "graph_accuracy": history.accuracy[-1],
        "graph_loss": history.loss[-1],
        "graph_first_full": history.accuracy.index(1.0) if 1.0 in history.accuracy else None,
        "graph_lines": len(graph.function.source.splitlines()),
    }


def main(quick: bool = False) -> str:
    """Measure, print and return the markdown table."""
    f = measure(quick)
    rows = [
        ["micrograd's engine (Karpathy's `Value`, as is)", seconds_text(f["micrograd_step"]),
         ratio_text(f["micrograd_step"], f["graph_step"])],
        [f"`symgrad.micrograd.Value` (forward {seconds_text(f['value_forward'])} + backward "
         f"{seconds_text(f['value_backward'])})", seconds_text(f["value_step"]),
         ratio_text(f["value_step"], f["graph_step"])],
        [f"one compiled gradient graph (`bench.train`, {f['graph_lines']} lines of numpy)",
         seconds_text(f["graph_step"]), "1x"],
    ]
    notes = [
        f"CPU seconds per step (`time.process_time`): median of {f['value_steps']} scalar steps, "
        f"mean of {STEPS} compiled steps. The compiled path's one-time build + `gradient` + "
        f"`lambdify`: {seconds_text(f['graph_setup'])}; after {STEPS} steps: loss "
        f"{f['graph_loss']:.4f}, accuracy {f['graph_accuracy']:.0%} (first at step "
        f"{f['graph_first_full']}).",
        f"Machine: {machine()}.",
    ]
    return table(
        f"Training step: MLP 2-{'-'.join(map(str, SIZES))}, {POINTS} two-moons points",
        ["path", "time per step", "slower than compiled"], rows, notes,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer scalar steps")
    main(quick=parser.parse_args().quick)
