"""The expression graph: `Tensor` nodes with binary `Children(a, b, op)`, interned so that
structurally identical nodes are one object, plus iterative traversal and `count_ops`.

Interning (hash-consing) uses a weak-value table, so graphs nobody holds are freed.
"""

from __future__ import annotations

import gc
import itertools
import math
import numbers
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np

from symgrad.ir import shapes

if TYPE_CHECKING:
    from symgrad.ir.op import Op


def _missing(name: str) -> Callable[..., Any]:
    def missing(*args: Any) -> Any:
        raise RuntimeError(f"a Tensor's {name} comes from symgrad's upper layers: import symgrad")

    return missing


@dataclass
class Provided:
    """What the layers above the graph give a Tensor's conveniences (`.value`, `.grad`, `str`,
    `@`, `.T`, notebook display). Each module registers its part as it is imported, as JAX's
    primitives get their rules from open tables, so the graph imports nothing above it;
    `import symgrad` registers them all."""

    value: Callable[[Tensor], Any] = field(default_factory=lambda: _missing("value"))
    check_value: Callable[[str, Any], Any] = field(default_factory=lambda: _missing("value"))
    grad: Callable[[Tensor, Any], Tensor] = field(default_factory=lambda: _missing("grad"))
    text: Callable[[Tensor], str] = field(default_factory=lambda: _missing("text"))
    latex: Callable[[Tensor], str] = field(default_factory=lambda: _missing("latex"))
    mimebundle: Callable[[Tensor], dict[str, str]] = field(
        default_factory=lambda: _missing("picture"))
    matmul: Callable[[Any, Any], Tensor] = field(default_factory=lambda: _missing("@"))
    transpose: Callable[[Any], Tensor] = field(default_factory=lambda: _missing(".T"))


PROVIDED = Provided()


class Children(NamedTuple):
    """The operands and op of an inner node; `b` is None for a unary op."""

    a: Tensor
    b: Tensor | None
    op: Op


# key -> KeyedRef(node). Keys: the node's own Children(a, b, op) for inner nodes, ("var", name)
# for variables, ("const", type, value) for constants. An entry leaves the table the moment
# its node dies, releasing the key.
class _Ref(weakref.ref):
    """A weak reference that knows its table key: weakref.KeyedRef without its Python-level
    constructor, which costs more than the rest of making a node."""

    __slots__ = ("key",)
    key: tuple


_table: dict[tuple, _Ref] = {}
# Serializes `fresh_var`, whose choice of a free name must not race with another's.
_fresh_lock = threading.Lock()
_anonymous_names = itertools.count(1)
_shaped_variables: dict[str, weakref.WeakSet] = {}  # name -> its live vectors and matrices
_new_tuple = tuple.__new__


def _forget(ref: _Ref, table: dict = _table) -> None:
    # `table` is bound now because module globals may be gone when the interpreter exits.
    # Only this callback removes this entry, so the entry found is still there to delete.
    if table.get(ref.key) is ref:
        del table[ref.key]


def _interned(key: tuple) -> Tensor | None:
    ref = _table.get(key)
    return None if ref is None else ref()


class RebindWarning(UserWarning):
    """`Tensor(value, name=...)` or `var(name, value)` gave an already bound name a new value.
    Names are global, so graphs built earlier see the new value too."""


class Tensor:
    """A node of an expression graph: a variable, a constant, or `op(a, b)`.

    >>> a = Tensor(3, name="a"); b = Tensor(5, name="b")
    >>> ((a + b) * b).value
    40.0
    >>> ((a + b) * b).grad(b).value
    13.0
    """

    __slots__ = (
        "children", "op", "name", "is_const", "number", "shape", "_value", "_key", "__weakref__"
    )
    # numpy defers to our reflected operators (`np.float64(2) * x` builds a node).
    __array_ufunc__ = None

    children: Children | None
    op: Op | None  # the op of an inner node (its children's), None for a leaf
    name: str | None
    is_const: bool
    # a scalar number constant's value (exact for ints and fractions; not pi, not arrays)
    number: float | int | Fraction | None
    shape: shapes.Shape  # () for a scalar (bound to an array, it broadcasts elementwise)
    _value: Any  # a variable's binding (None when unbound) or a constant's value
    _key: tuple  # the node's key in the interning table

    def __new__(
        cls, value: Any = None, children: Children | None = None, name: str | None = None
    ) -> Tensor:
        if children is not None:
            return raw_node(children.op, children.a, children.b)
        if name is not None:
            return var(name, value)
        if value is None:
            raise TypeError("Tensor() needs a value, a name or children")
        # The 30-line Tensor design's `Tensor(3)`: an anonymous variable holding a value, so
        # it can be differentiated with respect to. Constants come from `const`.
        return var(f"_t{next(_anonymous_names)}", value)

    # --- kinds of node -------------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        return self.children is None

    @property
    def is_var(self) -> bool:
        return self.children is None and self.name is not None

    @property
    def scalar_value(self) -> float | None:
        """A scalar constant's value as a float (numbers and named constants like pi), else
        None."""
        if not self.is_const or isinstance(self._value, np.ndarray):
            return None
        return float(self._value)

    # --- values --------------------------------------------------------------------------
    @property
    def value(self) -> Any:
        """The node's value once every variable below it is bound, else None.

        Setting it binds a variable (None unbinds); a name is one variable, so binding
        `Tensor(3, name="x")` rebinds every use of x."""
        if self.children is None:
            return self._value
        return PROVIDED.value(self)

    @value.setter
    def value(self, value: Any) -> None:
        if self.children is not None or self.name is None:  # not a variable
            raise AttributeError("only a variable's value can be set; constants are fixed")
        if value is not None:
            value = PROVIDED.check_value(self.name, value)
            if self.shape:
                shapes.bind_dims(self.shape, np.shape(value), {}, self.name)
        self._value = value

    # --- differentiation -----------------------------------------------------------------
    def grad(self, wrt: Tensor) -> Tensor:
        """The derivative graph d self / d wrt (forward mode, memoized per node).

        >>> x = var("x")
        >>> d = (x * x).grad(x)
        >>> d.op.name, d.children.a is d.children.b is x, str(d)  # x + x, written once
        ('add', True, '2*x')
        """
        return PROVIDED.grad(self, wrt)

    # --- text ----------------------------------------------------------------------------
    def __str__(self) -> str:
        return PROVIDED.text(self)

    def __repr__(self) -> str:
        """The formula, and its value once every variable in it is bound, as the 30-line
        Tensor's `T:40` shows it; a big graph shows its size.

        >>> a = Tensor(3, name="a"); b = Tensor(5, name="b")
        >>> (a + b) * b
        Tensor(b*(a + b) = 40.0)
        >>> a * var("unbound_z")
        Tensor(a*unbound_z)
        """
        if self.children is not None and count_ops(self) > 100:
            return f"<Tensor {self.children.op.name}: {count_ops(self)} ops>"
        value = None if self.is_const else _bound_value(self)
        return f"Tensor({self})" if value is None else f"Tensor({self} = {value})"

    def _repr_latex_(self) -> str:
        """`$...$` so notebooks show the formula; a big one in its shared form."""
        return PROVIDED.latex(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter shows a Tensor as its picture or its formula: `sg.init_printing(mode)`."""
        return PROVIDED.mimebundle(self)

    # --- pickling and copying ------------------------------------------------------------
    def __reduce__(self) -> tuple:
        """Pickles the graph below the node as a flat list of nodes (any depth, no recursion),
        rebuilt on loading through `var`, `const` and `Tensor(children=...)`, so it is
        interned there like any graph (in the same process: the very same node)."""
        return (_rebuild, (_flatten(self),))

    def __copy__(self) -> Tensor:
        return self  # nodes are immutable and interned: a copy is the node itself

    def __deepcopy__(self, memo: dict) -> Tensor:
        return self

    # --- operators: thin calls into the op table, found by name (the rows are above) ------
    def __add__(self, other: Any) -> Tensor:
        return OPS["add"](self, other)

    def __radd__(self, other: Any) -> Tensor:
        return OPS["add"](other, self)

    def __sub__(self, other: Any) -> Tensor:
        return OPS["sub"](self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return OPS["sub"](other, self)

    def __mul__(self, other: Any) -> Tensor:
        return OPS["mul"](self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return OPS["mul"](other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return OPS["div"](self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return OPS["div"](other, self)

    def __pow__(self, other: Any) -> Tensor:
        return OPS["pow"](self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return OPS["pow"](other, self)

    # Comparisons give 0/1-valued Tensors with zero derivative (numpy's, as floats).
    def __lt__(self, other: Any) -> Tensor:
        return OPS["lt"](self, other)

    def __le__(self, other: Any) -> Tensor:
        return OPS["le"](self, other)

    def __gt__(self, other: Any) -> Tensor:
        return OPS["gt"](self, other)

    def __ge__(self, other: Any) -> Tensor:
        return OPS["ge"](self, other)

    def __neg__(self) -> Tensor:
        return OPS["neg"](self)

    def __matmul__(self, other: Any) -> Tensor:
        return PROVIDED.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return PROVIDED.matmul(other, self)

    @property
    def T(self) -> Tensor:  # noqa: N802  (numpy's name)
        """The transpose of a matrix; a vector or scalar is its own."""
        return PROVIDED.transpose(self)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return OPS["abs"](self)


def _bound_value(node: Tensor) -> str | None:
    """The value of `node` as one line of text when every variable below it is bound, else
    None; None too when evaluating fails (a clash of names or shapes): `evaluate` reports it."""
    if any(leaf.is_var and leaf._value is None for leaf in toposort(node)):
        return None
    try:
        with np.errstate(all="ignore"):  # 1/x at x = 0 shows inf, as evaluate gives it
            value = PROVIDED.value(node)
    except (LookupError, ValueError, TypeError):
        return None
    if isinstance(value, np.ndarray):
        text = np.array2string(value, threshold=8, edgeitems=2, separator=", ")
        return " ".join(text.split())  # one line, even for a matrix
    return repr(value)


def _make(key: tuple, name: str | None, value: Any, shape: shapes.Shape = ()) -> Tensor:
    """The leaf interned under `key` (a variable, or a constant when `name` is None): a new
    one entered in the table, or the live one that another thread entered first."""
    node = object.__new__(Tensor)
    node.children = node.op = None
    node.name = name
    node.is_const = name is None
    node.number = (
        value if node.is_const and not isinstance(value, np.ndarray | NamedConstant) else None
    )
    node.shape = shape
    # Evaluation reads _value: a fraction evaluates as its float, `number` keeps it exact.
    node._value = float(value) if type(value) is Fraction else value
    return _enter(key, node)


def _make_inner(children: Children, shape: shapes.Shape) -> Tensor:
    """The inner node interned under its own `children`, as `_make` does for a leaf (the
    hot path of building graphs: no tests for what only leaves have)."""
    node = object.__new__(Tensor)
    node.children = children
    # a plain attribute, not a property: folding and rules read it on every node they see
    node.op = children.op
    node.name = node.number = node._value = None
    node.is_const = False
    node.shape = shape
    return _enter(children, node)


def _enter(key: tuple, node: Tensor) -> Tensor:
    """Enter `node` under `key`, or return the live node another thread entered first."""
    node._key = key
    ref = _Ref(node, _forget)
    ref.key = key
    # Thread-safe without a lock: setdefault is atomic, so of two threads making one node one
    # enters it and both get it. An entry is never replaced, only removed by its own node's
    # weakref callback, so that removal never takes out a live entry.
    entered = _table.setdefault(key, ref)
    if entered is ref:
        return node
    return _enter_late(key, node, ref, entered)


def _enter_late(key: tuple, node: Tensor, ref: _Ref, entered: _Ref) -> Tensor:
    """The node for `key` when another entry was there first: its node if live, else ours
    once the dead entry is gone (its node just died; its callback, running now, removes it)."""
    for _ in range(10_000):
        live = entered()
        if live is not None:
            return live
        time.sleep(0)  # let the callback finish
        entered = _table.setdefault(key, ref)
        if entered is ref:
            return node
    _table[key] = ref  # a callback that never came (interpreter shutdown): take the place
    return node


def raw_node(op: Op, a: Tensor, b: Tensor | None) -> Tensor:
    """The interned inner node op(a, b), built raw: no folding, unlike `Tensor`'s operators.

    >>> mul = OPS["mul"]
    >>> one = const(1)
    >>> str(raw_node(mul, one, one)), raw_node(mul, one, one) is raw_node(mul, one, one)
    ('1*1', True)
    """
    # A plain tuple finds the entry whose key is the node's own Children (tuples compare equal
    # and hash alike; Tensors and Ops compare by identity), so no key is allocated per node.
    ref = _table.get((a, b, op))
    node = None if ref is None else ref()
    if node is None:
        # Shapes are inferred (and checked) only for new nodes; scalars only test for ().
        shape = a.shape
        if shape or op.infer_shape is not None or (b is not None and b.shape):
            shape = _inferred_shape(op, a, b)
        children = _new_tuple(Children, (a, b, op))  # skips namedtuple's Python-level __new__
        node = _make_inner(children, shape)
    return node


def _inferred_shape(op: Op, a: Tensor, b: Tensor | None) -> shapes.Shape:
    """The shape of op(a, b): the op's own rule, else numpy's broadcast (a ShapeError naming
    both shapes when they do not fit)."""
    if op.infer_shape is not None:
        return op.infer_shape(a.shape, None if b is None else b.shape)
    if b is None or b.shape == a.shape:
        return a.shape
    return shapes.broadcast(a.shape, b.shape, op.name)


def var(name: str, value: Any = None, *, shape: shapes.Shape | None = None) -> Tensor:
    """The variable called `name`, bound to `value` if given: one object per name and shape.

    Without `shape`, the vector or matrix already declared under `name` (`vector`, `matrix`)
    if one is, so that a name in text or code means that variable; else a scalar. `shape=()`
    asks for the scalar.

    >>> var("x") is var("x")
    True
    >>> v = var("v3", shape=(3,))
    >>> var("v3") is v
    True
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a variable name must be an identifier, got {name!r}")
    if shape is None:
        shape = declared_shape(name)
    key = ("var", name) if not shape else ("var", name, shape)
    node = _interned(key)
    if node is None:
        node = _make(key, name, None, shape)
        if shape:
            _shaped_variables.setdefault(name, weakref.WeakSet()).add(node)
    if value is not None:
        previous = node._value
        node.value = value
        if previous is not None and not np.array_equal(previous, node._value):
            # One name is one variable: every graph that uses it now sees the new value.
            warnings.warn(
                f"variable {name!r} was bound to {previous!r:.40}, now {node._value!r:.40}; "
                f"every graph using {name} sees the new value (set {name}.value to rebind "
                f"on purpose, or pick another name)",
                RebindWarning,
                stacklevel=3,
            )
    return node


def move_aside(node: Tensor) -> None:
    """Rename the variable `node` (called `label`) to the first free `label_2`, `label_3`,
    ...; every graph using it prints the new name. The micrograd facade hands a re-run
    notebook cell's label to the newest Value this way.

    >>> old = var("moved")
    >>> move_aside(old)
    >>> var("moved_2") is old, old.name
    (True, 'moved_2')
    """
    if not node.is_var or node.shape:
        raise TypeError(f"only a scalar variable can be renamed, got {node}")
    with _fresh_lock:
        suffix = 2
        while _interned(("var", f"{node.name}_{suffix}")) is not None:
            suffix += 1
        key = ("var", f"{node.name}_{suffix}")
        if _interned(node._key) is node:
            del _table[node._key]
        node.name = key[1]
        node._key = key
        ref = _table[key] = _Ref(node, _forget)
        ref.key = key


def declared_shape(name: str) -> shapes.Shape:
    """The shape of the live vector or matrix variable called `name`, else `()`; a
    NameClashError when several shapes are live under it (the caller must say which).

    >>> keep = var("w5", shape=(5,))
    >>> declared_shape("w5"), declared_shape("nobody_has_this")
    ((5,), ())
    """
    candidates = _shaped_variables.get(name)
    if not candidates:
        return ()
    # Only variables still in use count: one that an exception's traceback cycle keeps alive
    # until the collector runs must not decide what a name means.
    gc.collect()
    declared = {node.shape for node in list(candidates)}
    if len(declared) > 1:
        listed = " and ".join(sorted(map(shapes.format_shape, declared)))
        raise NameClashError(
            f"variable {name!r} is declared with shapes {listed}: name the shape "
            f"(var({name!r}, shape=...), or parse(text, shapes={{{name!r}: ...}}))"
        )
    return declared.pop() if declared else ()


class NameClashError(ValueError):
    """Two different variables under one name where one is meant: a scalar and a vector
    `v`, or vectors `v` of two sizes. The message names the variable and both shapes."""


def check_names(nodes: Iterable[Tensor], wrt: Iterable[Tensor] = ()) -> None:
    """A NameClashError if two distinct variables among `nodes` (a graph's nodes) share a
    name, or if a variable of `wrt` shares its name with another variable of the graph: one
    name is one variable, and either would give a silently wrong value (d/dv of a graph
    holding another `v` is 0). Only the graph decides, never which variables are alive.

    >>> x = var("x")
    >>> check_names(toposort(x * var("x", shape=(2,))))
    Traceback (most recent call last):
    ...
    symgrad.ir.graph.NameClashError: variable 'x' appears with shapes () and (2,) in one graph...
    """
    seen: dict[str, Tensor] = {}
    # only variables have names (inner nodes and constants have None): one quick pass finds them
    named = [(node.name, node) for node in itertools.chain(wrt, nodes) if node.name is not None]
    for name, node in named:
        first = seen.setdefault(name, node)
        if first is not node:
            raise NameClashError(
                f"variable {name!r} appears with shapes {shapes.format_shape(first.shape)} and "
                f"{shapes.format_shape(node.shape)} in one graph: one name is one variable "
                f"(declare it once, as vector({name!r}, n) or matrix({name!r}, (m, n)), before "
                f"using the name; parse takes shapes={{{name!r}: ...}})"
            )


def is_variable_name(name: str) -> bool:
    """Whether a live variable is called `name`.

    >>> keep = var("somebody")
    >>> is_variable_name("somebody"), is_variable_name("nobody_has_this")
    (True, False)
    """
    return _interned(("var", name)) is not None or bool(_shaped_variables.get(name))


def fresh_var(label: str, value: Any = None) -> Tensor:
    """A new variable named `label`, or `label_2`, `label_3`, ... whichever no live variable
    has, bound to `value`. Safe across threads: two calls never share a name.

    >>> keep = var("u")
    >>> fresh_var("u").name
    'u_2'
    """
    if not isinstance(label, str) or not label.isidentifier():
        raise ValueError(f"a variable name must be an identifier, got {label!r}")
    with _fresh_lock:
        name = label
        suffix = 1
        while is_variable_name(name):
            suffix += 1
            name = f"{label}_{suffix}"
        node = var(name, shape=())
    if value is not None:
        node.value = value
    return node


def variables(names: str | Iterable[str]) -> tuple[Tensor, ...]:
    """Named variables from a space- or comma-separated string.

    >>> x, y = variables("x y")
    >>> str(x * y)
    'x*y'
    """
    if isinstance(names, str):
        names = names.replace(",", " ").split()
    return tuple(var(name) for name in names)


def to_float(value: Any) -> float:
    """float(value), rounding past the float range to -inf or inf as IEEE arithmetic does.

    >>> to_float(10**400), to_float(3)
    (inf, 3.0)
    """
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _normalize_number(value: Any) -> Any:
    """Scalar constants are Python ints (exact, within the float range), Fractions (exact,
    with numerator and denominator below 2**53) or floats: integral floats become ints
    (prints `2*x`), other numbers (Decimal, numpy) floats. The sign of -0.0 stays."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, numbers.Integral):
        value = int(value)  # bool, IntEnum, numpy integers
        return value if math.isfinite(to_float(value)) else to_float(value)
    if isinstance(value, numbers.Rational):  # an exact fraction stays exact: 1/2, 2/3
        value = Fraction(int(value.numerator), int(value.denominator))
        if value.denominator == 1:
            return _normalize_number(value.numerator)
        if max(abs(value.numerator), value.denominator) < 2**53:
            return value
    if not isinstance(value, numbers.Number) or (
        isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real)
    ):
        return value  # const refuses it
    value = to_float(value)
    if value.is_integer() and abs(value) < 2**53 and (value != 0 or math.copysign(1, value) > 0):
        return int(value)
    return value


class NamedConstant(float):
    """An exact constant known by name (pi, e): its float value for numbers, its name for text,
    LaTeX, sympy and generated code. A constant leaf holding one has no `number`, so folding
    and the simplifier's arithmetic leave it exact (2*pi stays 2*pi)."""

    name: str
    latex: str
    source: str  # how generated code writes it: np.pi

    def __new__(cls, value: float, name: str, latex: str, source: str) -> NamedConstant:
        constant = super().__new__(cls, value)
        constant.name, constant.latex, constant.source = name, latex, source
        return constant

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> tuple:
        return NamedConstant, (float(self), self.name, self.latex, self.source)


def const(value: Any) -> Tensor:
    """The constant leaf holding `value` (a number or a numpy array); one object per value.

    An array constant has the array's shape, so shape inference, reductions and gradients
    see it as the data it is (`sum(w*X)` adds up X's elements).

    >>> const(2) is const(2.0)
    True
    >>> const(np.ones((2, 3))).shape
    (2, 3)
    >>> const(Fraction(1, 2)).number, const(Fraction(1, 2)).value
    (Fraction(1, 2), 0.5)
    """
    kind = type(value)
    if kind is int or (kind is float and not value.is_integer()):  # the common case, fast
        node = _interned(("const", kind.__name__, value))
        if node is not None:
            return node
    if isinstance(value, NamedConstant):
        key: tuple = ("const", "named", value.name)
        return _interned(key) or _make(key, None, value)
    value = _normalize_number(value)
    if type(value) is float:
        # -0.0 == 0.0 and nan != nan: keyed by their text, they are one node each
        special = value == 0 or value != value
        key = ("const", "float", repr(value) if special else value)
    elif type(value) is int:
        key = ("const", "int", value)
    elif type(value) is Fraction:
        key = ("const", "Fraction", value)
    elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        value = value.astype(float)
        key = ("const", "array", value.shape, value.tobytes())
        return _interned(key) or _make(key, None, value, value.shape)
    else:
        raise TypeError(
            f"a constant must be a real number or numeric array, got {type(value).__name__}"
        )
    return _interned(key) or _make(key, None, value)


# The constants that fold rules and local derivatives use all the time stay alive.
_COMMON_CONSTANTS = [const(value) for value in (-1, 0, 1, 2, 0.5)]

PI = const(NamedConstant(np.pi, "pi", "\\pi", "np.pi"))
"""The exact constant pi: prints `pi`, evaluates to 3.14159..., is `sympy.pi` in sympy."""
E = const(NamedConstant(np.e, "e", "e", "np.e"))
"""The exact constant e (Euler's number): prints `e`, is `sympy.E` in sympy."""


def unwrap(value: Any) -> Any:
    """The Tensor inside anything that carries one as `.tensor` (a micrograd `Value`), so
    functions that take a Tensor take those too; anything else unchanged.

    >>> class Carrier:
    ...     tensor = var("x")
    >>> unwrap(Carrier()) is var("x"), unwrap(2)
    (True, 2)
    """
    if isinstance(value, Tensor):
        return value
    inner = getattr(value, "tensor", None)
    return inner if isinstance(inner, Tensor) else value


def as_tensor(value: Any) -> Tensor:
    """`value` if it is a Tensor, else the constant holding it."""
    return value if isinstance(value, Tensor) else const(value)


def tensor_roots(t_or_list: Any, caller: str) -> tuple[list[Tensor], bool]:
    """The Tensors a graph function was given and whether it was one (not a list), or a
    TypeError naming `caller`: the argument check of simplify-like functions.

    >>> tensor_roots(var("x"), "simplify")
    ([Tensor(x)], True)
    """
    if isinstance(t_or_list, Tensor):
        return [t_or_list], True
    if isinstance(t_or_list, Iterable) and not isinstance(t_or_list, str):
        roots = list(t_or_list)
        for item in roots:
            if not isinstance(item, Tensor):
                raise TypeError(f"{caller} takes Tensors, got {type(item).__name__}")
        return roots, False
    raise TypeError(f"{caller} takes a Tensor or a list of Tensors, got "
                    f"{type(t_or_list).__name__}")


def toposort(outputs: Tensor | Iterable[Tensor], known: Iterable[Tensor] = ()) -> list[Tensor]:
    """Every distinct node of the graph(s), operands before users, iteratively; the walk
    stops at the `known` nodes, which it leaves out.

    >>> x = var("x")
    >>> [str(n) for n in toposort(x * x + 1)]
    ['x', 'x*x', '1', 'x*x + 1']
    >>> [str(n) for n in toposort(x * x + 1, known=[x * x])]
    ['1', 'x*x + 1']
    """
    with gc_paused():
        roots = [outputs] if isinstance(outputs, Tensor) else list(outputs)
        return _toposort(roots, set(known))


def _toposort(roots: list[Tensor], done: set[Tensor]) -> list[Tensor]:
    order: list[Tensor] = []
    # `done` holds nodes by identity (their hash), like their ids, without id() calls
    for root in roots:
        if root in done:
            continue
        # The stack is a path from the root down (a DAG has no node twice on a path): a node
        # is finished once its first operand, then its second, is done.
        stack = [root]
        while stack:
            node = stack[-1]
            children = node.children
            if children is not None:
                if children.a not in done:
                    stack.append(children.a)
                    continue
                if children.b is not None and children.b not in done:
                    stack.append(children.b)
                    continue
            stack.pop()
            done.add(node)
            order.append(node)
    return order


Visit = Callable[[Tensor, "Tensor | None", "Tensor | None"], Tensor]
"""`visit(node, a, b)` for `rebuild`: the node's replacement, given the replacements of its
operands (None where it has none: both for a leaf, `b` for a unary op)."""


def rebuild(outputs: Tensor | Iterable[Tensor], visit: Visit,
            memo: dict[Tensor, Tensor] | None = None, *, again: bool = False,
            cycle: Callable[[Tensor], None] | None = None,
            finished: Callable[[Tensor, Tensor], None] | None = None) -> dict[Tensor, Tensor]:
    """The replacement of every node below `outputs`, from one post-order walk: operands
    first (a before b), each node once, `visit(node, a, b)` with its operands' replacements.
    Iterative, so any depth works. Nodes already in `memo` keep their entry and are not walked
    again; the filled `memo` is returned. With `again`, a replacement other than the node is
    walked in turn (its new operands first) and the node takes *its* replacement: rewriting
    to a fixed point; a replacement leading back to a node still waiting for its own keeps
    that node as it is, and `cycle(node)` is told of it. `finished(output, replacement)` is
    told of each output in turn, once it is done.
    (Pause the garbage collector, `gc_paused`, around walks that build big graphs.)

    >>> x, y = var("x"), var("y")
    >>> swap = {x: y, y: x}
    >>> def visit(node, a, b):
    ...     if node.children is None:
    ...         return swap.get(node, node)
    ...     return Tensor(children=Children(a, b, node.children.op))
    >>> f = x - y
    >>> str(rebuild(f, visit)[f])
    'y - x'
    """
    if memo is None:
        memo = {}
    waiting: dict[Tensor, Tensor] = {}  # node -> the replacement whose own it takes (again)
    for root in [outputs] if isinstance(outputs, Tensor) else outputs:
        stack = [root]
        while stack:
            node = stack[-1]
            if node in memo:
                stack.pop()
                continue
            if waiting:
                target = waiting.pop(node, None)
                if target is not None:  # unfinished only in a cycle: the node stays
                    memo[node] = memo.get(target, node)
                    stack.pop()
                    continue
            children = node.children
            if children is None:
                a = b = None
            else:
                a, b = children.a, children.b
                if b is not None and b not in memo:
                    stack.append(b)
                if a not in memo:
                    stack.append(a)
                if stack[-1] is not node:
                    continue
                a, b = memo[a], None if b is None else memo[b]
            result = visit(node, a, b)
            if again and result is not node and result not in waiting:
                waiting[node] = result
                stack.append(result)
                continue
            stack.pop()
            if result is node:
                memo[node] = node
            elif again:  # a cycle: the node stays
                memo[node] = node
                if cycle is not None:
                    cycle(node)
            else:
                memo[node] = result
        if finished is not None:
            finished(root, memo[root])
    return memo


def _flatten(root: Tensor) -> list[tuple]:
    """The graph below `root` as (kind, ...) entries, operands first; ops are named by (name,
    arg), inner nodes refer to their operands by position. A bound variable keeps its value."""
    position: dict[Tensor, int] = {}
    entries: list[tuple] = []
    for node in toposort(root):
        children = node.children
        if children is not None:
            b = None if children.b is None else position[children.b]
            entry: tuple = ("op", (children.op.name, children.op.arg), position[children.a], b)
        elif node.name is not None:
            entry = ("var", node.name, node.shape, node._value)
        else:  # `number` keeps a fraction exact; arrays and named constants are their value
            value = node._value if node.number is None else node.number
            entry = ("const", value, None, None)
        position[node] = len(entries)
        entries.append(entry)
    return entries


def _rebuild(entries: list[tuple]) -> Tensor:
    """The graph `_flatten` described, through the public constructors."""
    nodes: list[Tensor] = []
    with gc_paused():
        for kind, first, second, third in entries:
            if kind == "op":
                b = None if third is None else nodes[third]
                nodes.append(Tensor(children=Children(nodes[second], b, op_named(*first))))
            elif kind == "var":
                nodes.append(var(first, third, shape=second))
            else:
                nodes.append(const(first))
    return nodes[-1]


def count_ops(outputs: Tensor | Iterable[Tensor]) -> int:
    """The number of distinct non-leaf nodes; a shared node counts once.

    >>> x = var("x")
    >>> s = x * x
    >>> count_ops(s + s)
    2
    """
    return sum(1 for node in toposort(outputs) if node.children is not None)


def use_counts(nodes: Iterable[Tensor]) -> dict[Tensor, int]:
    """How many operand slots of `nodes` refer to each node (x*x uses x twice).

    >>> x = var("x")
    >>> use_counts(toposort(x * x + x))[x]
    3
    """
    uses: dict[Tensor, int] = {}
    for node in nodes:
        children = node.children
        if children is not None:
            uses[children.a] = uses.get(children.a, 0) + 1
            if children.b is not None:
                uses[children.b] = uses.get(children.b, 0) + 1
    return uses


Value = TypeVar("Value")


def bottom_up(node: Tensor, memo: dict[Tensor, Value], leaf: Callable[[Tensor], Value],
              inner: Callable[[Tensor, Value, Value | None], Value]) -> Value:
    """The value of `node` computed from its operands' values, iteratively (any depth):
    `leaf(node)` for a leaf, `inner(node, a, b)` for an inner node (`b` None for a unary op).
    `memo` holds every node's value, kept from call to call.

    >>> x = var("x")
    >>> heights = {}
    >>> bottom_up(x * x + 1, heights, lambda leaf: 0,
    ...           lambda node, a, b: 1 + max(a, 0 if b is None else b))
    2
    """
    stack = [node]
    while stack:
        current = stack[-1]
        if current in memo:
            stack.pop()
            continue
        children = current.children
        if children is None:
            memo[current] = leaf(current)
            stack.pop()
            continue
        a, b = children.a, children.b
        if a not in memo or (b is not None and b not in memo):
            stack.append(a)
            if b is not None:
                stack.append(b)
            continue
        memo[current] = inner(current, memo[a], None if b is None else memo[b])
        stack.pop()
    return memo[node]


def name_of(variable: Tensor) -> str:
    """The name of a variable, for code that knows `variable` is one (which a type checker
    cannot see); a TypeError for a constant or an operation.

    >>> name_of(var("x"))
    'x'
    """
    if variable.children is not None or variable.name is None:
        raise TypeError(f"{variable} is not a variable")
    return variable.name


def children_of(node: Tensor) -> Children:
    """The operands and op of an inner node, for code that knows `node` is one from its op
    (which a type checker cannot see); a TypeError for a leaf.

    >>> x = var("x")
    >>> children_of(x * 2).a
    Tensor(2)
    """
    children = node.children
    if children is None:
        raise TypeError(f"{node} is a leaf, not an operation")
    return children


def binary_children(node: Tensor) -> tuple[Tensor, Tensor, Op]:
    """`(a, b, op)` of a node of a binary op, for code that knows the op; a TypeError for a
    leaf or a unary op.

    >>> x = var("x")
    >>> binary_children(x - 1)
    (Tensor(x), Tensor(1), <op sub>)
    """
    children = node.children
    if children is None or children.b is None:
        raise TypeError(f"{node} is not a binary operation")
    return children.a, children.b, children.op


def free_variables(outputs: Tensor | Iterable[Tensor]) -> list[Tensor]:
    """The variables the graph(s) depend on, in order of first appearance."""
    return [node for node in toposort(outputs) if node.is_var]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building big graphs.

    Graphs hold no reference cycles, so refcounting frees them; the collector would only walk
    every live node again and again as allocation counts pile up.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


from symgrad.ir.op import OPS, op_named  # noqa: E402  (op calls fold, which builds Tensors)
