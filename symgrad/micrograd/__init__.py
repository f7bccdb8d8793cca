"""micrograd's `Value` on symgrad: the same interface (seed 001, karpathy/micrograd
`micrograd/engine.py`), but every `Value` wraps a `Tensor` node and `backward()` runs symgrad's
reverse sweep over that graph, then evaluates the gradient graph once for every node.

`.data` is computed eagerly from the operands' data with the op table's numpy function; the
graph is built raw (no folding), so each `Value` has its own node and `v.tensor` is exactly the
graph the user wrote. Interning still makes two Values built the same way from the same Values
share one node; such twins each receive the derivative with respect to that shared node (the
sum over both), where micrograd would split it between them. Leaves are always exact. Numbers
in expressions become constant nodes (`c + 1`), so their internal Values get no `.grad`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from symgrad.diff import reverse_sweep
from symgrad.graph import Tensor, _node, const, fresh_var, gc_paused
from symgrad.ops import Op, add, div, exp, log, mul, neg, pow, relu, sigmoid, sub, tanh

__all__ = ["Value"]


def _number(value: Any, what: str) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return float(value)
    raise TypeError(f"{what} must be a real number, got {type(value).__name__} {value!r:.40}")


def _evaluate_from(known: dict[Tensor, float], outputs: list[Tensor]) -> list[float]:
    """The values of `outputs`, like `evaluate`, starting from nodes whose values are `known`.

    A gradient graph reads its forward graph (mul's partials are its operands, tanh's reads
    its output), and every Value already holds its node's data, so the walk stops there
    instead of recomputing the forward pass from the leaves.
    """
    values = dict(known)
    for root in outputs:
        stack = [root]
        while stack:
            node = stack[-1]
            if node in values:
                stack.pop()
                continue
            children = node.children
            if children is None:  # a constant of the gradient graph (forward leaves are known)
                values[node] = node._value
                stack.pop()
                continue
            a, b, op = children
            if a not in values:
                stack.append(a)
            elif b is not None and b not in values:
                stack.append(b)
            else:
                values[node] = op.numpy(values[a]) if b is None else op.numpy(values[a], values[b])
                stack.pop()
    return [values[root] for root in outputs]


class Value:
    """A scalar and its gradient, as micrograd's `Value`, backed by a symgrad `Tensor`.

    >>> u = Value(-4.0, label="u"); v = Value(2.0, label="v")
    >>> w = u * v + v**3
    >>> w.backward()
    >>> w, u.grad, v.grad
    (Value(data=0.0, grad=1.0), 2.0, 8.0)
    >>> str(w.tensor)  # without labels, leaves are anonymous variables: _t1, _t2, ...
    'u*v + v**3'
    """

    __slots__ = ("tensor", "grad", "_data", "_prev", "_op")

    def __init__(self, data: Any, _children: tuple = (), _op: str = "", label: str = ""):
        if _children:
            raise TypeError("Value(data) makes a leaf; inner Values come from operations")
        self._data = _number(data, "a Value's data")
        # A fresh variable bound to data: anonymous, or named after `label` (made unique).
        self.tensor: Tensor = fresh_var(label, self._data) if label else Tensor(self._data)
        self.grad = 0.0
        self._prev: tuple[Value, ...] = ()
        self._op = _op

    @classmethod
    def _apply(cls, op: Op, a: Value, b: Value | None = None) -> Value:
        """The Value op(a, b): its node built raw, its data from its operands' data."""
        out = object.__new__(cls)
        if b is None:
            out.tensor = _node(op, a.tensor, None)
            out._data = float(op.numpy(a._data))
            out._prev = (a,)
        else:
            out.tensor = _node(op, a.tensor, b.tensor)
            out._data = float(op.numpy(a._data, b._data))
            out._prev = (a, b)
        out.grad = 0.0
        out._op = op.symbol or op.name
        return out

    @classmethod
    def _constant(cls, value: Any) -> Value:
        """A number in an expression: a constant node, like micrograd's `Value(other)`."""
        out = object.__new__(cls)
        out._data = _number(value, "an operand of a Value")
        out.tensor = const(out._data)
        out.grad = 0.0
        out._prev = ()
        out._op = ""
        return out

    @staticmethod
    def _wrap(other: Any) -> Value:
        return other if isinstance(other, Value) else Value._constant(other)

    # --- data: a leaf's data is its variable's bound value, kept in step ----------------
    @property
    def data(self) -> float:
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = _number(value, "a Value's data")
        if self.tensor.is_var:
            self.tensor._value = self._data

    # --- operations: thin calls into the op table ---------------------------------------
    def __add__(self, other: Any) -> Value:
        return Value._apply(add, self, Value._wrap(other))

    def __radd__(self, other: Any) -> Value:
        return Value._apply(add, Value._wrap(other), self)

    def __sub__(self, other: Any) -> Value:
        return Value._apply(sub, self, Value._wrap(other))

    def __rsub__(self, other: Any) -> Value:
        return Value._apply(sub, Value._wrap(other), self)

    def __mul__(self, other: Any) -> Value:
        return Value._apply(mul, self, Value._wrap(other))

    def __rmul__(self, other: Any) -> Value:
        return Value._apply(mul, Value._wrap(other), self)

    def __truediv__(self, other: Any) -> Value:
        return Value._apply(div, self, Value._wrap(other))

    def __rtruediv__(self, other: Any) -> Value:
        return Value._apply(div, Value._wrap(other), self)

    def __pow__(self, other: Any) -> Value:
        if isinstance(other, Value) or not isinstance(other, numbers.Real):
            raise TypeError(
                f"only int/float powers are supported (as in micrograd), got {type(other).__name__}"
            )
        return Value._apply(pow, self, Value._constant(other))

    def __neg__(self) -> Value:
        return Value._apply(neg, self)

    def relu(self) -> Value:
        """max(self, 0); its derivative at 0 is 0, as in micrograd."""
        return Value._apply(relu, self)

    def tanh(self) -> Value:
        return Value._apply(tanh, self)

    def exp(self) -> Value:
        return Value._apply(exp, self)

    def log(self) -> Value:
        return Value._apply(log, self)

    def sigmoid(self) -> Value:
        return Value._apply(sigmoid, self)

    # --- backpropagation ----------------------------------------------------------------
    def _contributors(self) -> list[Value]:
        """Every Value that contributed to self, self included (an explicit stack)."""
        found = {id(self): self}
        stack = [self]
        while stack:
            for child in stack.pop()._prev:
                if id(child) not in found:
                    found[id(child)] = child
                    stack.append(child)
        return list(found.values())

    def backward(self) -> None:
        """Sets `.grad` on every Value that contributed to this one (self.grad = 1; the others
        accumulate d self / d value until reset), from symgrad's reverse-mode gradient graph.
        """
        order = self._contributors()
        leaves = [value.tensor for value in order if value.tensor.is_var]
        with gc_paused():
            # One reverse sweep gives the adjoint graph of every node between self and the
            # leaves; one evaluation computes them all, sharing every common subexpression.
            adjoint = reverse_sweep(self.tensor, leaves)
            nodes = [node for node in dict.fromkeys(v.tensor for v in order) if node in adjoint]
            known = {value.tensor: value._data for value in order}
            numbers_ = _evaluate_from(known, [adjoint[node] for node in nodes])
        grads = {node: float(number) for node, number in zip(nodes, numbers_, strict=True)}
        for value in order:
            if value is not self and value.tensor in grads:
                value.grad += grads[value.tensor]
        self.grad = 1.0

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"
