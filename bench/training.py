"""Time per training step of micrograd's demo (MLP 2-16-16-1, 100 two-moons points, SVM loss +
L2, full-batch gradient descent), three ways:

- micrograd's own engine (seed 001's `Value`, copied below), the reference;
- `symgrad.micrograd.Value`: the same scalar graph per step, backward by symgrad's reverse sweep;
- one compiled gradient graph (`symgrad.train`): derived once, evaluated on the whole batch.

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

from symgrad.graph import gc_paused
from symgrad.micrograd.nn import MLP
from symgrad.train import learning_rate, loss_graph, make_moons, train_graph, value_loss

SIZES = [16, 16, 1]
POINTS = 100
STEPS = 100


# --- the reference: micrograd's engine as seed 001 gives it (karpathy/micrograd, MIT) -------

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


def main(quick: bool = False) -> dict[str, float]:
    """Measure and print a markdown table; return the figures (seconds, ratios)."""
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

    figures = {
        "micrograd_step": statistics.median(reference),
        "value_step": statistics.median(values["total"]),
        "value_forward": statistics.median(values["forward"]),
        "value_backward": statistics.median(values["backward"]),
        "graph_setup": setup,
        "graph_step": graph_step,
        "graph_accuracy": history.accuracy[-1],
        "graph_loss": history.loss[-1],
        "graph_lines": len(graph.function.source.splitlines()),
    }
    figures["speedup_vs_value"] = figures["value_step"] / figures["graph_step"]
    figures["speedup_vs_micrograd"] = figures["micrograd_step"] / figures["graph_step"]

    print(f"training step, MLP 2-{'-'.join(map(str, SIZES))}, {POINTS} moons points "
          f""
          f"(CPU seconds: median of {value_steps} scalar steps, mean of {STEPS} compiled steps)")
    print("| path | seconds per step | vs compiled graph |")
    print("| --- | --- | --- |")
    print(f"| micrograd's engine (seed 001) | {figures['micrograd_step']:.3f} | "
          f"{figures['speedup_vs_micrograd']:.0f}x slower |")
    print(f"| symgrad `Value` (forward {figures['value_forward']:.3f} + backward "
          f"{figures['value_backward']:.3f}) | {figures['value_step']:.3f} | "
          f"{figures['speedup_vs_value']:.0f}x slower |")
    print(f"| compiled gradient graph ({figures['graph_lines']} lines) | "
          f"{figures['graph_step']:.4f} | 1x |")
    print(f"one-time build + gradient + lambdify: {figures['graph_setup']:.2f} s; after "
          f"{STEPS} steps: loss {figures['graph_loss']:.4f}, "
          f"accuracy {figures['graph_accuracy']:.0%}")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer scalar steps")
    main(quick=parser.parse_args().quick)
