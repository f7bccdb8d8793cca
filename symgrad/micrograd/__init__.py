"""micrograd's `Value` on symgrad: the same interface (Karpathy's micrograd,
`micrograd/engine.py`), but every `Value` wraps a `Tensor` node; `backward()` takes each op's
local derivatives from symgrad's op table as Tensor graphs, evaluates them all in one walk, and
runs micrograd's reverse sweep over the Values.

`.data` is computed eagerly from the operands' data with the op table's numpy function; the
graph is built raw (no folding), so `v.tensor` is exactly the graph the user wrote. Interning
makes two Values built the same way from the same Values share one node, but the sweep runs
over Values, so each keeps its own `.grad`, as in micrograd. Numbers in expressions become
constant nodes (`c + 1`), so their internal Values get no `.grad`.

A label names the leaf's variable. Re-running a notebook cell that makes `Value(2.0,
label="x1")` keeps the name `x1` for the new Value: an older live Value labelled `x1` is
renamed `x1_2`, so formulas and pictures of the current graph read as the user wrote them.
The rename is said aloud: a `LabelClashWarning` names the older Value's new name. So is a
label that a variable the user made already holds: the new Value then gets `x1_2`.

>>> import warnings
>>> first = Value(1.0, label="clash")
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     second = Value(2.0, label="clash")
>>> print(caught[0].message)
label 'clash' now names the new Value; the older one (data=1.0) is now 'clash_2'
>>> first.tensor.name, second.tensor.name
('clash_2', 'clash')
"""

from __future__ import annotations

import numbers
import warnings
import weakref
from typing import Any

import numpy as np

from symgrad.backends.evaluate import node_values
from symgrad.ir.graph import Tensor, children_of, const, fresh_var, gc_paused, move_aside, raw_node
from symgrad.ir.op import Op
from symgrad.ir.sentinels import NoDerivative, Zero
from symgrad.ops.scalar import add, div, exp, log, mul, neg, pow, relu, sigmoid, sub, tanh
from symgrad.present.dot import Picture, dot_text, operand_edge

__all__ = ["LabelClashWarning", "Value", "draw_dot"]


class LabelClashWarning(UserWarning):
    """A Value's label was already a live variable's name, so one of the two was renamed:
    the message says which, and its new name."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return float(value)
    raise TypeError(f"{what} must be a real number, got {type(value).__name__} {value!r:.40}")


# The variables that labelled Values made, by label: only these hand their label on.
_labelled_leaves: weakref.WeakValueDictionary[str, Tensor] = weakref.WeakValueDictionary()


def _warn_clash(message: str) -> None:
    # stacklevel 3: the user's line that made the Value, past __init__
    warnings.warn(message, LabelClashWarning, stacklevel=3)


def _local_partials(value: Value) -> list[Tensor | None]:
    """d value / d operand for each operand, from the op table (None: none, or 0 everywhere)."""
    a, b, op = children_of(value.tensor)
    partials = op.partials(a, b, value.tensor)[: len(value._prev)]
    return [None if isinstance(p, NoDerivative | Zero) else p if isinstance(p, Tensor)
            else const(p) for p in partials]


def _users_first(root: Value, values: list[Value]) -> list[Value]:
    """`values` (everything below `root`) ordered so each Value comes before its operands."""
    remaining = {id(value): 0 for value in values}
    for value in values:
        for operand in value._prev:
            remaining[id(operand)] += 1  # users still to be visited
    order: list[Value] = []
    ready = [root]
    while ready:
        value = ready.pop()
        order.append(value)
        for operand in value._prev:
            remaining[id(operand)] -= 1
            if remaining[id(operand)] == 0:
                ready.append(operand)
    return order


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

    __slots__ = ("tensor", "grad", "_data", "_prev", "_op", "_label")

    def __init__(self, data: Any, _children: tuple = (), _op: str = "", label: str = ""):
        if _children:
            raise TypeError("Value(data) makes a leaf; inner Values come from operations")
        self._data = _number(data, "a Value's data")
        if label:
            # A re-run cell's new Value takes the label from the Value the last run made.
            holder = _labelled_leaves.get(label)
            if holder is not None and holder.name == label:
                move_aside(holder)
                _warn_clash(f"label {label!r} now names the new Value; the older one (data="
                            f"{holder.value}) is now {holder.name!r}")
            self.tensor: Tensor = fresh_var(label, self._data)
            if self.tensor.name != label:
                _warn_clash(f"label {label!r} is already a live variable's name: this "
                            f"Value is {self.tensor.name!r} in formulas")
            _labelled_leaves[label] = self.tensor
        else:
            self.tensor = Tensor(self._data)
        self.grad = 0.0
        self._prev: tuple[Value, ...] = ()
        self._op = _op
        self._label = label

    @classmethod
    def _apply(cls, op: Op, a: Value, b: Value | None = None) -> Value:
        """The Value op(a, b): its node built raw, its data from its operands' data."""
        out = object.__new__(cls)
        if b is None:
            out.tensor = raw_node(op, a.tensor, None)
            out._data = float(op.numpy(a._data))
            out._prev = (a,)
        else:
            out.tensor = raw_node(op, a.tensor, b.tensor)
            out._data = float(op.numpy(a._data, b._data))
            out._prev = (a, b)
        out.grad = 0.0
        out._op = op.symbol or op.name
        out._label = ""
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
        out._label = ""
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
            self.tensor.value = self._data

    @property
    def label(self) -> str:
        """The Value's name in `draw_dot`, settable on any Value as in micrograd's lecture
        (`e = a*b; e.label = "e"`). A label given to `Value(...)` also names the leaf's
        variable in formulas; one set later names the Value in pictures only."""
        return self._label

    @label.setter
    def label(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"a label is text, got {type(text).__name__}")
        self._label = text

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
        accumulate d self / d value until reset), as micrograd's sweep does, with each op's
        local derivatives from symgrad's op table.
        """
        order = self._contributors()
        inner = [value for value in order if value._prev]
        with gc_paused():
            # Every local derivative is a small Tensor graph over the forward nodes (mul's
            # partials are its operands, tanh's reads its output); one walk evaluates them
            # all, starting from the data the Values already hold, not from the leaves.
            locals_ = [_local_partials(value) for value in inner]
            known = {value.tensor: value._data for value in order}
            flat = [local for partials in locals_ for local in partials if local is not None]
            computed = node_values(flat, known=known)
            numbers_ = (computed[local] for local in flat)
        local_numbers = {
            id(value): [None if local is None else float(next(numbers_)) for local in partials]
            for value, partials in zip(inner, locals_, strict=True)
        }
        adjoint = {id(self): 1.0}
        for value in _users_first(self, order):
            upstream = adjoint.get(id(value))
            if upstream is None or not value._prev:
                continue
            for operand, local in zip(value._prev, local_numbers[id(value)], strict=True):
                if local is not None and not operand.tensor.is_const:
                    adjoint[id(operand)] = adjoint.get(id(operand), 0.0) + upstream * local
        for value in order:
            if value is not self and id(value) in adjoint:
                value.grad += adjoint[id(value)]
        self.grad = 1.0

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"


def _graph_of(root: Value) -> tuple[list[Value], list[tuple[Value, Value, int]]]:
    """Every Value below `root` (operands first) and the (operand, user, position) edges, as
    micrograd's `trace`, with an explicit stack."""
    order: list[Value] = []
    seen: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        value, expanded = stack.pop()
        if expanded:
            order.append(value)
        elif id(value) not in seen:
            seen.add(id(value))
            stack.append((value, True))
            stack.extend((operand, False) for operand in reversed(value._prev))
    edges = [(operand, value, index) for value in order
             for index, operand in enumerate(value._prev)]
    return order, edges


def draw_dot(root: Value, format: str = "svg", rankdir: str = "LR") -> Any:
    """micrograd's picture of `root`'s graph: a record `label | data | grad` for each Value
    (the grads `backward()` set) and a small node for each operation. Operands of `-`, `/`
    and `**` are numbered where their order matters.

    >>> a = Value(2.0, label="a"); b = Value(-3.0, label="b")
    >>> e = a * b; e.label = "e"
    >>> e.backward()
    >>> source = draw_dot(e).source
    >>> "e | data -6.0000 | grad 1.0000" in source, "a | data 2.0000 | grad -3.0000" in source
    (True, True)
    """

    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"rankdir is LR, TB, RL or BT, got {rankdir!r}")
    order, edges = _graph_of(root)
    names = {id(value): f"v{index}" for index, value in enumerate(order)}  # from the graph
    dot = Picture(format=format, graph_attr={"rankdir": rankdir})  # scaled to a notebook cell
    for value in order:
        name = names[id(value)]
        fields = (dot_text(value.label, record=True), f"data {value.data:.4f}",
                  f"grad {value.grad:.4f}")
        dot.node(name, label="{ " + " | ".join(fields) + " }", shape="record")
        if value._op:
            dot.node(name + "_op", label=dot_text(value._op))
            dot.edge(name + "_op", name)
    for operand, user, index in edges:
        numbered = user._op in ("-", "/", "**") and len(user._prev) == 2
        operand_edge(dot, names[id(operand)], names[id(user)] + "_op",
                     str(index + 1) if numbered else None, rankdir)
    return dot
