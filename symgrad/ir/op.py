"""The `Op` type and the registry of ops: what an op row may declare, and how rows are found by
name. The rows themselves live in `symgrad.ops`; the graph layer reaches them only through
`OPS`, so it imports nothing above it.

An op with a parameter (sum over an axis) is one row whose `bound(arg)` gives an interned
instance per argument, as tinygrad's node key carries an `arg`: one object per (name, arg).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from symgrad.ir.graph import Tensor

# Printing precedences, as Python binds its operators (unary minus between * and **).
PREC_ADD, PREC_MUL, PREC_NEG, PREC_POW, PREC_ATOM = 40, 50, 55, 60, 1000
PREC_POSTFIX = 70  # A.T binds tighter than every operator, as attribute access does

DEFAULT_RANK = 99
"""The printing rank of a call whose row states none: after those that do (exp 10, log 11,
sin 20, ... as sympy orders them), then by name."""


class _LazyModule:
    """A module imported on first use: scipy costs 0.3 s at import and only erf needs it."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


SOURCE_NAMESPACE: dict[str, Any] = {"np": np, "special": _LazyModule("scipy.special")}
"""The names an op's `source` may use besides its operands `a` and `b`."""
SOURCE_IMPORTS: dict[str, str] = {
    "np": "import numpy as np",
    "special": "from scipy import special",
}
"""The import line that binds each of those names in generated code."""


class Range(NamedTuple):
    """Where to sample one operand: the interval [low, high], or one of `values` if given."""

    low: float = -3.0
    high: float = 3.0
    values: tuple[float, ...] | None = None


Condition = Callable[[Any, Any], Any]
"""A function of the operands `(a, b)` (`b` is None for a unary op), numpy arrays or sympy
symbols alike: how `holds` and `kinks` are called, whatever the arity."""


@dataclass(frozen=True)
class Domain:
    """Where an op is defined, finite and worth sampling: one `Range` per operand, and a
    condition the operands must meet together (`holds(a, b)`, a numpy predicate; `text`
    says it)."""

    ranges: tuple[Range, ...] = (Range(), Range())
    holds: Condition | None = None
    text: str = "all reals"

    def admits(self, operands: Sequence[Any]) -> Any:
        """Where `operands` (one per operand of the op) meet `holds`: True or a boolean array.

        >>> Domain(holds=lambda a, b: b != 0).admits([np.array([1.0]), np.array([0.0])])
        array([False])
        """
        if self.holds is None:
            return True
        return self.holds(*_padded(operands))


EVERYWHERE = Domain()


def no_interval(*operands: Any) -> Any:
    """The `interval` of a row that states it has no interval form: `precise` and `advise`
    refuse it by name."""
    raise TypeError("this op has no interval form")


def _padded(operands: Sequence[Any]) -> tuple[Any, Any]:
    """`(a, b)` from one or two operands: b None for a unary op."""
    return (operands[0], operands[1] if len(operands) > 1 else None)


@dataclass(frozen=True, eq=False)
class Op:
    """One operation: how to compute, differentiate, translate, print, parse and sample it.

    Ops compare by identity, and there is one object per (name, arg): a row, or an instance
    `bound` from it, which is what a pickle names."""

    name: str
    arity: int
    # a numpy expression of `a` (and `b`), from which numpy is compiled and which codegen
    # writes out; or, for an op with no source text, its numpy function itself
    source: str | Callable[..., Any]
    sympy: Callable[..., Any]
    partials: Callable[[Tensor, Tensor | None, Tensor], tuple]
    domain: Domain = EVERYWHERE
    # (a, b) -> expressions that are 0 where the op has a kink or a jump; None: smooth
    kinks: Condition | None = None
    symbol: str | None = None  # infix or prefix symbol; None prints as a call name(a[, b])
    precedence: int = PREC_ATOM
    latex: str = ""  # template with {a} and {b}; operands arrive already parenthesized
    commutative: bool = False
    identity: int | None = None  # e with a op e == a (and e op a == a when commutative)
    absorbing: int | None = None  # z with a op z == z (mul: 0)
    aliases: tuple[str, ...] = ()  # more names `parse` reads (ln for log)
    extended: Callable[..., Tensor] | None = None  # the call with one more operand: log(x, b)
    fold: Callable[[Tensor, Tensor | None], Tensor | None] | None = None  # op-specific folding
    scalar: str | None = None  # scalar source (math.*) where `source` needs numpy arrays
    # False: no form numba compiles (scipy has it in Python only); lambdify(backend="numba")
    # refuses the op by name and "auto" takes numpy
    compiles: bool = True
    doc: str = ""
    numpy: Callable[..., Any] = field(init=False, repr=False)
    # Tensor ops (symgrad.ops.tensor) fill these; None means an elementwise op, whose shape
    # is the operands' broadcast and whose adjoints come from `partials`.
    infer_shape: Callable[[tuple, tuple | None], tuple] | None = None
    pullback: Callable[[Tensor, Tensor | None, Tensor, Tensor], tuple] | None = None
    text: str = ""  # text template with {a} and {b}, when name(a) or the symbol will not do
    # the op as a function of mpmath intervals (`precise`, `advise`): a row states its form
    # (symgrad.ops.intervals), or `no_interval`; None is a row that has not said
    interval: Callable[..., Any] | None = None
    rank: int = DEFAULT_RANK  # where a call sorts among the factors of a product
    # The parameter of an instance `bound` from a row (sum's axes and keepdims), None for a
    # plain op; and the row's function from that parameter to the fields it decides.
    arg: Hashable = None
    bind: Callable[[Any], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        function = self.source
        if isinstance(function, str):
            parameters = "a" if self.arity == 1 else "a, b"
            function = eval(f"lambda {parameters}: {self.source}", dict(SOURCE_NAMESPACE))
        object.__setattr__(self, "numpy", function)
        if not self.latex:
            operands = "{a}" if self.arity == 1 else "{a}, {b}"
            call = f"\\operatorname{{{{{self.name}}}}}{{{{\\left({operands} \\right)}}}}"
            object.__setattr__(self, "latex", call)

    def __call__(self, a: Any, b: Any = None) -> Tensor:
        if b is not None and self.arity == 1 and self.extended is not None:
            return self.extended(a, b)
        if (b is None) != (self.arity == 1):
            raise TypeError(f"{self.name} takes {self.arity} operand(s)")
        return fold.apply(self, a, b)

    def __repr__(self) -> str:
        return f"<op {self.name}>" if self.arg is None else f"<op {self.name} {self.arg!r}>"

    def __reduce__(self) -> tuple:
        """Pickled as (name, arg), found again in the table on loading."""
        return (op_named, (self.name, self.arg))

    def bound(self, arg: Hashable) -> Op:
        """This row with its parameter set to `arg`: one object per (name, arg), sharing the
        row's name and adjoints, with the fields the row's `bind` derives from `arg`.

        >>> total = DECLARED_ELSEWHERE["sum"]
        >>> total.bound(((0,), False)) is total.bound(((0,), False))
        True
        >>> total.bound(((0,), False)).arg
        ((0,), False)
        """
        if self.bind is None:
            raise TypeError(f"{self.name} takes no parameter")
        op = _BOUND.get((self.name, arg))
        if op is None:  # setdefault: of two threads binding at once, both get one object
            op = _BOUND.setdefault((self.name, arg), replace(self, arg=arg, **self.bind(arg)))
        return op

    @property
    def smooth(self) -> bool:
        """Whether the op is smooth wherever it is defined (no kink, no jump)."""
        return self.kinks is None

    @property
    def call_arities(self) -> tuple[int, ...]:
        """How many arguments a call of the op takes: log(x) and log(x, base)."""
        return (self.arity, self.arity + 1) if self.extended is not None else (self.arity,)

    @property
    def ufunc(self) -> str | None:
        """`np.sin` when the source is one numpy call of the operands in order, else None."""
        if not isinstance(self.source, str):  # a numpy ufunc given as the function itself
            function = self.source
            named = isinstance(function, np.ufunc) and getattr(np, function.__name__, None)
            return f"np.{function.__name__}" if named is function else None
        match = re.fullmatch(r"(np\.\w+)\(a(, b)?\)", self.source)
        if match is None or (match.group(2) is not None) != (self.arity == 2):
            return None
        return match.group(1)

    def kinks_at(self, operands: Sequence[Any]) -> tuple:
        """The op's kink expressions at `operands` (one per operand), () for a smooth op."""
        return () if self.kinks is None else tuple(self.kinks(*_padded(operands)))

    def sample(self, rng: np.random.Generator, count: int, margin: float = 1e-3) -> list:
        """`count` points of the domain (one array per operand), each farther than `margin`
        from a kink.

        >>> [float(v) > 0 for v in OPS["log"].sample(np.random.default_rng(0), 3)[0]]
        [True, True, True]
        """
        columns: list[list[np.ndarray]] = [[] for _ in range(self.arity)]
        found = 0
        for _ in range(100):
            drawn = []
            for operand in range(self.arity):
                spec = self.domain.ranges[operand]
                if spec.values is not None:
                    drawn.append(rng.choice(np.array(spec.values, dtype=float), 4 * count))
                else:
                    drawn.append(rng.uniform(spec.low, spec.high, 4 * count))
            keep = np.ones(4 * count, dtype=bool) & np.asarray(self.domain.admits(drawn))
            for kink in self.kinks_at(drawn):
                keep &= np.abs(kink) > margin
            for operand in range(self.arity):
                columns[operand].append(drawn[operand][keep])
            found += int(keep.sum())
            if found >= count:
                break
        return [np.concatenate(column)[:count] for column in columns]


# --- the registry --------------------------------------------------------------------------

OPS: dict[str, Op] = {}
"""Every scalar op by name."""
FUNCTIONS: dict[str, Op] = {}
"""The ops written as calls, `name(a)` or `name(a, b)`, by every name parse reads (aliases
too): what a parser or printer looks up."""
DECLARED_ELSEWHERE: dict[str, Op] = {}
"""Ops kept out of the scalar table (tensor ops, and rows with a parameter), by name, so that
code finding an op by its name (a pickle, a compiled function's helpers) finds them too."""
_BOUND: dict[tuple[str, Hashable], Op] = {}  # (name, arg) -> the one instance bound


def register(op: Op) -> Op:
    """Enter `op` in the table, so parsing, printing, the sympy bridge, code generation and
    the table-driven tests see it."""
    if op.name in OPS:
        raise ValueError(f"an op called {op.name!r} exists already")
    OPS[op.name] = op
    if op.symbol is None:
        for name in (op.name, *op.aliases):
            FUNCTIONS[name] = op
    return op


def unregister(op: Op) -> None:
    """Take `op` out of the table again (for ops made in tests)."""
    del OPS[op.name]
    for name in (op.name, *op.aliases):
        if FUNCTIONS.get(name) is op:
            del FUNCTIONS[name]


@contextmanager
def registered(op: Op) -> Iterator[Op]:
    """`op` in the table for the duration of a `with` block."""
    register(op)
    try:
        yield op
    finally:
        unregister(op)


def op_named(name: str, arg: Hashable = None) -> Op:
    """The op called `name`, from the table or declared elsewhere; for a row with a parameter,
    that row bound to `arg` (made now if this process has not made it yet).

    >>> op_named("sin") is OPS["sin"], op_named("sum", ((0,), False)).text
    (True, 'sum({a}, axis=0)')
    """
    op = OPS.get(name) or DECLARED_ELSEWHERE.get(name)
    if op is None or (op.bind is None and arg is not None):
        raise KeyError(f"no op is called {name!r}" + ("" if op is None else f" with {arg!r}"))
    if op.bind is None:
        return op
    try:
        return op.bound(arg)
    except (TypeError, ValueError, IndexError) as error:  # an argument it cannot take
        raise KeyError(f"no op is called {name!r} with {arg!r}") from error


from symgrad.ir import fold  # noqa: E402  (fold builds nodes, and reads Op; Op calls it)
