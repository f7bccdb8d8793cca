"""micrograd's `nn.py` on the symgrad-backed `Value`: `Module`, `Neuron`, `Layer`, `MLP`.

As in karpathy/micrograd, weights start uniform in [-1, 1], biases at 0, and hidden neurons use
relu; `nonlin="tanh"` picks tanh instead. Pass `rng=random.Random(seed)` for a repeatable start.

An MLP's parameters are named by place, so its formulas read like the lecture: layer i, neuron
j, input k has weight `w{i}_{j}_{k}` and bias `b{i}_{j}`. `MLP(..., name="net")` prefixes them
(`net_w0_0_0`). Without a name, a second MLP alive at once takes the first free prefix, `net2_`,
`net3_`, ..., so it renames nobody and warns of nothing; a `name` given twice clashes as labels
do (`symgrad.micrograd.LabelClashWarning`). A `Neuron` or `Layer` made alone has anonymous
parameters unless given a `place`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from symgrad.ir.graph import is_variable_name
from symgrad.micrograd import Value

__all__ = ["MLP", "Layer", "Module", "Neuron"]

NONLINEARITIES = ("relu", "tanh")


def _nonlinearity(nonlin: bool | str | None) -> str | None:
    """The activation's name: True means relu (micrograd's default), False or None linear."""
    if nonlin is True:
        return "relu"
    if nonlin is False or nonlin is None:
        return None
    if nonlin in NONLINEARITIES:
        return nonlin
    raise ValueError(f"nonlin must be True, False, 'relu' or 'tanh', got {nonlin!r}")


class Module:
    """Something with parameters whose gradients can be reset."""

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self) -> list[Value]:
        return []


class Neuron(Module):
    """act(w . x + b) for `nin` inputs.

    >>> n = Neuron(2, rng=random.Random(0))
    >>> n
    ReLUNeuron(2)
    >>> n([1.0, 2.0]).data >= 0
    True
    >>> named = Neuron(2, place="0_1", prefix="demo_")
    >>> [p.tensor.name for p in named.parameters()]
    ['demo_w0_1_0', 'demo_w0_1_1', 'demo_b0_1']
    """

    def __init__(self, nin: int, nonlin: bool | str | None = True,
                 rng: random.Random | None = None, *, place: str | None = None,
                 prefix: str = ""):
        if not isinstance(nin, int) or nin < 1:
            raise ValueError(f"a neuron needs a positive number of inputs, got {nin!r}")
        uniform = (rng or random).uniform
        if place is None:  # anonymous parameters: _t1, _t2, ...
            self.w = [Value(uniform(-1, 1)) for _ in range(nin)]
            self.b = Value(0)
        else:
            self.w = [Value(uniform(-1, 1), label=f"{prefix}w{place}_{k}") for k in range(nin)]
            self.b = Value(0, label=f"{prefix}b{place}")
        self.nonlin = _nonlinearity(nonlin)

    def __call__(self, x: Sequence[Any]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"{self!r} takes {len(self.w)} inputs, got {len(x)}")
        act = sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
        if self.nonlin == "relu":
            return act.relu()
        if self.nonlin == "tanh":
            return act.tanh()
        return act

    def parameters(self) -> list[Value]:
        return self.w + [self.b]

    def __repr__(self) -> str:
        kind = {"relu": "ReLU", "tanh": "Tanh", None: "Linear"}[self.nonlin]
        return f"{kind}Neuron({len(self.w)})"


class Layer(Module):
    """`nout` neurons reading the same `nin` inputs; with a `place` i, neuron j's parameters
    are placed `i_j` (see `Neuron`)."""

    def __init__(self, nin: int, nout: int, *, place: str | None = None, **kwargs: Any):
        self.neurons = [
            Neuron(nin, place=None if place is None else f"{place}_{j}", **kwargs)
            for j in range(nout)
        ]

    def __call__(self, x: Sequence[Any]) -> Value | list[Value]:
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


def _parameter_names(sizes: Sequence[int]) -> list[str]:
    """The unprefixed names of an MLP's parameters, layer by layer, as `Neuron` makes them."""
    return [
        name
        for i in range(len(sizes) - 1)
        for j in range(sizes[i + 1])
        for name in [*(f"w{i}_{j}_{k}" for k in range(sizes[i])), f"b{i}_{j}"]
    ]


class MLP(Module):
    """A multi-layer perceptron: `nin` inputs, then layers of the sizes in `nouts`; every layer
    but the last applies `nonlin`.

    >>> model = MLP(2, [16, 16, 1], rng=random.Random(1337))
    >>> len(model.parameters())
    337
    >>> isinstance(model([1.0, -1.0]), Value)
    True
    >>> tiny = MLP(1, [1], name="tiny")
    >>> str(tiny([2.0]).tensor)
    'tiny_b0_0 + 2*tiny_w0_0_0'
    """

    def __init__(self, nin: int, nouts: Sequence[int], nonlin: bool | str | None = True,
                 rng: random.Random | None = None, name: str | None = None):
        sizes = [nin, *nouts]
        if name is not None and not (isinstance(name, str) and name.isidentifier()):
            raise ValueError(f"an MLP's name must be an identifier, got {name!r}")
        names = _parameter_names(sizes)
        if name is not None:
            prefix = f"{name}_"
        else:  # the first prefix under which no parameter name is a live variable's
            prefix, number = "", 1
            while any(is_variable_name(prefix + n) for n in names):
                number += 1
                prefix = f"net{number}_"
        self.layers = [
            Layer(sizes[i], sizes[i + 1], nonlin=nonlin if i != len(nouts) - 1 else False,
                  rng=rng, place=str(i), prefix=prefix)
            for i in range(len(nouts))
        ]

    def __call__(self, x: Sequence[Any]) -> Value | list[Value]:
        for layer in self.layers[:-1]:
            out = layer(x)
            x = [out] if isinstance(out, Value) else out  # a one-neuron layer feeds on too
        return self.layers[-1](x)

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
