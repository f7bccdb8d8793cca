"""The bridge to sympy: `to_sympy` and `from_sympy`, both iterative, driven by each op's `sympy`
field in the op table. `check.py` builds on it to compare derivatives with `sympy.diff`.

Named `sympy_bridge`, not `sympy`, so `import sympy` never finds this module.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
import threading
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from symgrad.interop.parse import parse
from symgrad.ir.graph import (
    PI,
    E,
    NamedConstant,
    Tensor,
    binary_children,
    children_of,
    const,
    gc_paused,
    toposort,
    use_counts,
    var,
)
from symgrad.ir.op import OPS, Op
from symgrad.ops import scalar as ops
from symgrad.ops import special

__all__ = [
    "NoSympyFormError",
    "NotSympyError",
    "UnsupportedSympyError",
    "from_sympy",
    "plain_number",
    "sympy_expression",
    "to_sympy",
]


class UnsupportedSympyError(ValueError):
    """A sympy expression holds a function or object symgrad has no op for."""

    def __init__(self, name: str, expr: Any = None):
        shown = "" if expr is None else f" in {str(expr)[:80]}"
        super().__init__(f"sympy function {name!r} has no symgrad op{shown}")
        self.name = name


class NoSympyFormError(ValueError):
    """A node sympy refuses to build, such as `max(x, nan)`: sympy cannot compare NaN."""


class NotSympyError(TypeError):
    """An object where a sympy expression is taken that is neither one nor a plain number.

    sympy's own `sympify` would convert it, and that runs text as Python (inside a tuple, list
    or dict too) and calls an object's `_sympy_` or `__float__`: symgrad never hands it over.
    """


# ---------------------------------------------------------------------------------------------
# symgrad -> sympy
# ---------------------------------------------------------------------------------------------


def _sympy_number(value: Any, rational: bool) -> sp.Expr:
    if isinstance(value, NamedConstant):
        return {"pi": sp.pi, "e": sp.E}[value.name]
    if isinstance(value, int):
        return sp.Integer(value)
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if math.isnan(value):
        return sp.nan
    if math.isinf(value):
        return sp.oo if value > 0 else -sp.oo
    # repr is the shortest decimal that reads back as the same float: 0.1 -> 1/10
    return sp.Rational(repr(value)) if rational else sp.Float(value)


def _balanced(combine: Callable[[Any, Any], Any], items: list[Any]) -> Any:
    """items combined pairwise as a balanced tree: sympy flattens a + b in O(len(a)), so a
    left-leaning chain of n sums costs O(n**2) while a balanced one costs O(n log n)."""
    while len(items) > 1:
        paired = [combine(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
        if len(items) % 2:
            paired.append(items[-1])
        items = paired
    return items[0]


EVALUATED_HEIGHT = 60
"""Nodes at most this high are built by sympy with its automatic evaluation; higher ones
unevaluated (evaluating them costs time quadratic in depth)."""
DEEP_GRAPH = 60  # graphs deeper than this run their sympy work on a thread with a big stack
in_deep_thread = threading.local()


def graph_depth(order: list[Tensor]) -> int:
    """The longest path from a leaf to the last node of a toposorted graph."""
    depth: dict[Tensor, int] = {}
    for node in order:
        children = node.children
        if children is None:
            depth[node] = 0
        else:
            below = (
                depth[children.a]
                if children.b is None
                else max(depth[children.a], depth[children.b])
            )
            depth[node] = below + 1
    return depth[order[-1]] if order else 0


DEEP_RECURSION_LIMIT = 200_000
DEEP_STACK_BYTES = 1 << 30

# The recursion limit and the stack size of new threads are process-wide. The first deep call
# in flight raises the limit and the last one restores it (a count under a lock, so calls from
# several threads never restore each other's raised value, nor leave it raised); the stack
# size is set only around starting the worker, under the same lock.
_deep_lock = threading.Lock()
_deep_calls = 0
_saved_limit = 0


def _enter_deep() -> None:
    global _deep_calls, _saved_limit
    with _deep_lock:
        if _deep_calls == 0:
            _saved_limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_saved_limit, DEEP_RECURSION_LIMIT))
        _deep_calls += 1


def _leave_deep() -> None:
    global _deep_calls
    with _deep_lock:
        _deep_calls -= 1
        if _deep_calls == 0:
            sys.setrecursionlimit(_saved_limit)


def _start_with_big_stack(worker: threading.Thread) -> bool:
    """Start `worker` on a DEEP_STACK_BYTES stack; False (not started) where stacks cannot be
    sized. The process's default stack size is put back before returning."""
    with _deep_lock:
        previous = threading.stack_size()
        try:
            threading.stack_size(DEEP_STACK_BYTES)
        except (ValueError, RuntimeError):
            return False
        try:
            worker.start()
        finally:
            threading.stack_size(previous)
    return True


def with_deep_stack(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """function(*args, **kwargs) on a thread with a 1 GiB stack and a high recursion limit;
    both process-wide settings are back as they were when it returns (or raises).

    sympy's own algorithms (building, diff, simplify, printing) recurse once per level of an
    expression, so a few hundred levels overflow Python's default limit; our code does not.

    >>> with_deep_stack(sum, [1, 2, 3])
    6
    """
    if getattr(in_deep_thread, "active", False):
        return function(*args, **kwargs)
    outcome: dict[str, Any] = {}

    def run() -> None:
        in_deep_thread.active = True
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=run, name="symgrad-sympy")
    _enter_deep()
    try:
        started = _start_with_big_stack(worker)
        if started:
            worker.join()
    finally:
        _leave_deep()
    if not started:  # a platform without settable stacks: try anyway, with the usual limit
        return function(*args, **kwargs)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def to_sympy(t: Tensor, rational: bool = False, *, real: bool = False) -> sp.Expr:
    """The sympy expression of a graph; each variable becomes the plain `sympy.Symbol` of its
    name, so a user's own `sympy.Symbol("x")` is the same symbol.

    Every node is converted once, bottom-up, by its op's `sympy` entry. With `rational`,
    float constants become exact decimals (0.1 -> 1/10), which sympy simplifies exactly. With
    `real`, symbols carry `real=True` (sympy then simplifies `Abs`, `sqrt(x**2)`, ...; match
    them with `sympy.Symbol("x", real=True)`).

    >>> import sympy
    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> to_sympy(ops.relu(x) * y + ops.sigmoid(x))
    y*Max(0, x) + 1/(1 + exp(-x))
    >>> sympy.diff(to_sympy(x * y + ops.sin(x) ** 2), sympy.Symbol("x"))
    y + 2*sin(x)*cos(x)
    """
    if not isinstance(t, Tensor):
        raise TypeError(f"to_sympy takes a Tensor, got {type(t).__name__}")
    order = toposort(t)
    shaped = next((node for node in order if node.shape), None)
    if shaped is not None:
        raise TypeError(
            f"to_sympy converts scalar expressions, but {'the array constant ' * shaped.is_const}"
            f"{shaped} has shape {shaped.shape}: "
            f"write it out in scalars first, with symgrad.verify.scalar_expansion.expand"
        )
    if graph_depth(order) > DEEP_GRAPH and not getattr(in_deep_thread, "active", False):
        return with_deep_stack(to_sympy, t, rational, real=real)
    uses = use_counts(order)
    # Links of a chain (a + b) + c of one commutative op, used nowhere else, are absorbed
    # into the chain's top node and never converted on their own.
    absorbed = set()
    for node in order:
        children = node.children
        if children is not None and children.op.commutative and children.b is not None:
            for operand in (children.a, children.b):
                if operand.op is children.op and uses[operand] == 1:
                    absorbed.add(operand)
    with gc_paused():  # sympy builds many objects; the collector would walk them all again
        return _converted(order, t, absorbed, rational, real)


def _converted(order: list[Tensor], t: Tensor, absorbed: set[Tensor], rational: bool,
               real: bool) -> Any:
    """The sympy form of t from its toposorted graph `order`, each node built once."""
    converted: dict[Tensor, Any] = {}
    height: dict[Tensor, int] = {}
    for node in order:
        children = node.children
        if children is None:
            height[node] = 0
            if node.name is not None:
                converted[node] = sp.Symbol(node.name, real=True) if real else sp.Symbol(node.name)
            else:
                exact = node.number if node.number is not None else node.value
                converted[node] = _sympy_number(exact, rational)
            continue
        below = height[children.a] if children.b is None else max(
            height[children.a], height[children.b])
        if node in absorbed:  # a link of a chain converted as one sum: one level in sympy
            height[node] = below
            continue
        height[node] = below + 1
        if children.op.commutative:
            terms = []
            stack = [children.a] if children.b is None else [children.b, children.a]
            while stack:
                operand = stack.pop()
                if operand in absorbed:
                    a, b, _ = binary_children(operand)
                    stack.append(b)
                    stack.append(a)
                else:
                    terms.append(converted[operand])
            operands = terms
        else:
            operands = [converted[c] for c in (children.a, children.b) if c is not None]
        # sympy's automatic evaluation walks a whole argument at every level (sin asks
        # is_number, which recurses), so a chain of n costs O(n**2): past EVALUATED_HEIGHT
        # levels nodes are built unevaluated, which keeps shallow results exactly as sympy
        # writes them and deep ones linear.
        with sp.evaluate(height[node] <= EVALUATED_HEIGHT):
            converted[node] = _build(node, operands, rational)
    return converted[t]


def _real_or_nan(number: Any) -> float:
    """A sympy number as numpy has it: NaN where it is not real (acos(pi/2), zoo)."""
    try:
        value = complex(number)
    except (TypeError, ValueError):
        return math.nan
    return value.real if value.imag == 0 else math.nan


def _build(node: Tensor, operands: list[Any], rational: bool) -> Any:
    """node's sympy form from its operands' forms. A node sympy refuses (it cannot compare
    NaN: Max(0, nan)) is its numpy value when its operands are numbers (relu(nan) is nan),
    else a NoSympyFormError naming it."""
    op = children_of(node).op
    try:
        if op.commutative:
            return _balanced(op.sympy, operands)
        return op.sympy(*operands)
    except (TypeError, ValueError) as error:
        if all(operand.is_number for operand in operands):
            with np.errstate(all="ignore"):
                numbers = [_real_or_nan(operand) for operand in operands]
                # a commutative chain holds several operands: max(max(nan, 1), 2)
                value = functools.reduce(op.numpy, numbers) if len(numbers) > 2 else op.numpy(
                    *numbers)
            return _sympy_number(float(value), rational)
        raise NoSympyFormError(
            f"sympy cannot build {op.name} of {', '.join(map(str, operands))[:120]} "
            f"({error}); symgrad's evaluate and lambdify follow numpy there"
        ) from None


# ---------------------------------------------------------------------------------------------
# sympy -> symgrad
# ---------------------------------------------------------------------------------------------

OPERAND_SYMBOLS = (sp.Dummy("a", real=True), sp.Dummy("b", real=True))
"""The operands' places in an op's sympy template, op.sympy(a, b)."""
OPERAND_SYMBOL = OPERAND_SYMBOLS[0]


class _Templates:
    """Each call-style op's sympy form, op.sympy(a[, b]), indexed by its head: sin(a),
    Max(0, a), Heaviside(a, 0), 1/(1 + exp(-a)), log(exp(a) + exp(b)). Bigger templates
    first, so sigmoid wins over 1/x, and of equal ones those with fewer operands (relu's
    Max(0, a) before max's Max(a, b)). Rebuilt whenever the op table changes."""

    def __init__(self) -> None:
        self._ops: tuple[Op, ...] = ()
        self._table: dict[type, list[tuple[sp.Expr, Op]]] = {}

    def get(self, head: type) -> list[tuple[sp.Expr, Op]]:
        current = tuple(OPS.values())
        if current != self._ops:
            self._ops, self._table = current, self._build(current)
        return self._table.get(head, [])

    @staticmethod
    def _build(table_ops: tuple[Op, ...]) -> dict[type, list[tuple[sp.Expr, Op]]]:
        table: dict[type, list[tuple[sp.Expr, Op]]] = {}
        for op in table_ops:
            if op.symbol is not None:
                continue
            template = op.sympy(*OPERAND_SYMBOLS[: op.arity])
            table.setdefault(template.func, []).append((template, op))
        for entries in table.values():
            entries.sort(key=lambda entry: (-sp.count_ops(entry[0]), entry[1].arity))
        return table


_TEMPLATES = _Templates()
_ORDERLESS = (sp.Add, sp.Mul, sp.Max, sp.Min)


@functools.cache
def _holed(template: sp.Expr) -> bool:
    """Whether a part of a template holds an operand (templates are few: remembered)."""
    return bool(template.has(*OPERAND_SYMBOLS))


@functools.cache
def _scaled_operand(template: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
    """(c, a) for a template part c*a, a number times an operand, else None."""
    if template.is_Mul and template.args[-1] in OPERAND_SYMBOLS and \
            all(arg.is_number for arg in template.args[:-1]):
        return sp.Mul(*template.args[:-1]), template.args[-1]
    return None


def _match(template: sp.Expr, expr: sp.Expr, binding: dict) -> bool:
    """Whether expr has the template's shape, binding the OPERAND_SYMBOLS. Recursion here
    follows the template, which is a few levels deep, never the expression."""
    if template in OPERAND_SYMBOLS:
        if template in binding:
            return binding[template] == expr
        binding[template] = expr
        return True
    if not _holed(template):
        return template == expr
    scaled = _scaled_operand(template)
    if scaled is not None:
        # c*a matches any expr, binding a = expr/c: exp(-a) matches exp(y) with a = -y, and
        # erfinv(2*a - 1) matches erfinv(2*x + 2*y - 1) with a = x + y
        coefficient, operand = scaled
        other = _minus(expr) if coefficient == -1 else expr / coefficient
        return _match(operand, other, binding)
    if template.func != expr.func:
        return False
    if template.func in _ORDERLESS:
        # templates hold a few arguments: try the holed ones in every order of the rest
        fixed = [arg for arg in template.args if not _holed(arg)]
        holed = [arg for arg in template.args if _holed(arg)]
        rest = list(expr.args)
        for arg in fixed:
            if arg not in rest:
                return False
            rest.remove(arg)
        lone = holed[0] if len(holed) == 1 else None
        if lone is not None and len(rest) > 1 and \
                (lone in OPERAND_SYMBOLS or _scaled_operand(lone) is not None):
            # a lone operand takes what is left of a flattened sum: log(x + y + 1) =
            # log1p(x + y), and erfinv(1 - x - y) = erfcinv(x + y) (1 - a with a = x + y)
            return _match(lone, expr.func(*rest), binding)
        if len(holed) != len(rest) or len(holed) > 3:
            return False
        for order in itertools.permutations(rest):
            trial = dict(binding)
            if all(_match(t, e, trial) for t, e in zip(holed, order, strict=True)):
                binding.update(trial)
                return True
        return False
    if len(template.args) != len(expr.args):
        return False
    return all(_match(t, e, binding) for t, e in zip(template.args, expr.args, strict=True))


_NAMED_CONSTANTS = {sp.pi: PI, sp.E: E}


def _number(expr: sp.Expr) -> Tensor:
    if expr in _NAMED_CONSTANTS:
        return _NAMED_CONSTANTS[expr]
    if expr.is_Integer:
        return const(int(expr))
    if expr is sp.zoo or expr.has(sp.I):
        raise ValueError(f"{expr} is not a real number; symgrad graphs are real")
    if expr.is_Rational:  # exact: 1/3 stays 1/3
        return const(Fraction(int(expr.p), int(expr.q)))
    return const(float(expr))


# Plans: how to build a node from its converted operands. Each is (operands, build).
_Plan = tuple[list[sp.Expr], Callable[..., Tensor]]


def _sum(positive: int) -> Callable[..., Tensor]:
    def build(*terms: Tensor) -> Tensor:
        total = terms[0] if positive else -terms[0]
        for i, term in enumerate(terms[1:], start=1):
            total = total + term if i < positive else total - term
        return total

    return build


def _product(numerator: int, coefficient: Any) -> Callable[..., Tensor]:
    def build(*factors: Tensor) -> Tensor:
        top = factors[:numerator]
        bottom = factors[numerator:]
        result = top[0] if top else const(1)
        for factor in top[1:]:
            result = result * factor
        if coefficient is not None:
            result = coefficient * result
        if bottom:
            denominator = bottom[0]
            for factor in bottom[1:]:
                denominator = denominator * factor
            result = result / denominator
        return result

    return build


def _negated(term: sp.Expr) -> sp.Expr | None:
    """-term when term carries a negative coefficient (-2*x -> 2*x), else None. Shallow: it
    looks at the coefficient only, so deep unevaluated trees do not recurse."""
    if term.is_Number:
        return -term if term.is_negative else None
    if term.is_Mul and term.args[0].is_Number and term.args[0].is_negative:
        coefficient, rest = -term.args[0], term.args[1:]
        if coefficient == 1:
            return rest[0] if len(rest) == 1 else sp.Mul(*rest, evaluate=False)
        return sp.Mul(coefficient, *rest, evaluate=False)
    return None


def _minus(expr: sp.Expr) -> sp.Expr:
    """-expr, as sympy writes it (-(x + y) -> -x - y) unless that would recurse too deep."""
    minus = _negated(expr)
    if minus is not None:
        return minus
    try:
        return -expr
    except RecursionError:
        return sp.Mul(-1, expr, evaluate=False)


def _plan_add(expr: sp.Add, shallow: bool) -> _Plan:
    terms = list(expr.args)
    if shallow and len(terms) < 64:
        terms = expr.as_ordered_terms()  # x**2 + 2*x + 1, as sympy prints it
    negated = [_negated(term) for term in terms]
    positive = [term for term, minus in zip(terms, negated, strict=True) if minus is None]
    negative = [minus for minus in negated if minus is not None]
    if not positive:  # -x - y: negate the first, subtract the rest
        return negative, _sum(0)
    return positive + negative, _sum(len(positive))


def _plan_mul(expr: sp.Mul) -> _Plan:
    # shallow, like _negated: sympy's as_coeff_mul and as_base_exp recurse into nested Muls
    first = expr.args[0]
    coefficient, factors = (first, expr.args[1:]) if first.is_Number else (sp.S.One, expr.args)
    top: list[sp.Expr] = []
    bottom: list[sp.Expr] = []
    for factor in factors:
        base, exponent = factor.args if factor.is_Pow else (factor, sp.S.One)
        if exponent.is_Number and exponent.is_negative:
            bottom.append(base if exponent == -1 else sp.Pow(base, -exponent, evaluate=False))
        else:
            top.append(factor)
    number: int | float | None = None
    if coefficient.is_Rational and coefficient.q != 1:  # x/2 rather than 0.5*x
        number = None if coefficient.p == 1 else int(coefficient.p)
        bottom.append(sp.Integer(coefficient.q))
    elif coefficient != 1:
        number = int(coefficient) if coefficient.is_Integer else float(coefficient)
    if number == -1:
        plan_operands, build = top + bottom, _product(len(top), None)
        return plan_operands, lambda *f: -build(*f)
    return top + bottom, _product(len(top), number)


def _plan_pow(expr: sp.Pow) -> _Plan:
    base, exponent = expr.args
    if exponent.is_Number and exponent.is_negative:  # x**-2 -> 1/x**2
        inverse = base if exponent == -1 else sp.Pow(base, -exponent, evaluate=False)
        return [inverse], lambda d: 1 / d
    if exponent.is_Rational and not exponent.is_Integer:
        return [base], lambda b: b ** Fraction(int(exponent.p), int(exponent.q))
    return [base, exponent], lambda b, e: b**e


def _heaviside(h0: Any) -> Callable[[Tensor], Tensor]:
    # symgrad's step has step(0) = 0; other values at 0 are written with sign:
    # H(a, 1/2) = (1 + sign(a))/2 and H(a, h) = step(a) + h*(1 - |sign(a)|)
    if h0 == 0:
        return ops.step
    if h0 == sp.Rational(1, 2):
        return lambda a: (1 + ops.sign(a)) / 2
    h = float(h0)
    return lambda a: ops.step(a) + h * (1 - ops.abs(ops.sign(a)))


def _chained(op: Op) -> Callable[..., Tensor]:
    """An n-ary sympy Max or Min as a chain of binary ops: max(max(a, b), c)."""

    def build(*args: Tensor) -> Tensor:
        result = args[0]
        for arg in args[1:]:
            result = op(result, arg)
        return result

    return build


def _piecewise(*parts: Tensor) -> Tensor:
    """Piecewise((e1, c1), (e2, c2), ...) as where(c1, e1, where(c2, e2, ...)); a point no
    condition covers is NaN, as in sympy. `parts` alternate expressions and conditions."""
    pairs = list(zip(parts[0::2], parts[1::2], strict=True))
    result = const(float("nan"))
    for value, condition in reversed(pairs):
        result = ops.where(condition, value, result)
    return result


# sympy functions with no op of their own, written with ops
_REWRITES: dict[Any, Callable[..., Tensor]] = {
    sp.erfcinv: special.erfcinv,  # whose table form is erfinv(1 - a), which mpmath evaluates
    # gammainc is lowergamma(a, x)/gamma(a), but sympy evaluates gamma(2.25) to a number
    sp.lowergamma: lambda a, x: special.gammainc(a, x) * special.gamma(a),
    sp.Max: _chained(ops.max),
    sp.Min: _chained(ops.min),
    sp.Eq: ops.eq,
    sp.Ne: ops.ne,
    sp.StrictLessThan: ops.lt,
    sp.LessThan: ops.le,
    sp.StrictGreaterThan: ops.gt,
    sp.GreaterThan: ops.ge,
    sp.And: _chained(ops.mul),  # conditions are 0/1: and is a product, or a max
    sp.Or: _chained(ops.max),
    sp.Not: lambda c: ops.eq(c, 0),
    sp.ITE: ops.where,  # a boolean if-then-else of 0/1 conditions
    # symgrad's variables are real: re(x) is x and im(x) is 0 (sympy writes Abs(exp(x)) as
    # exp(re(x)) for plain symbols); where the argument is not real symgrad's value is NaN
    sp.re: lambda a: a,
    sp.im: lambda a: const(0),
}


def _plan(expr: sp.Expr, shallow: bool = True) -> _Plan | Tensor:
    """A finished Tensor for a leaf, else the operands to convert and how to combine them."""
    if expr.is_Symbol:
        try:
            return var(expr.name)
        except ValueError:
            raise ValueError(f"sympy symbol {expr.name!r} is not a valid variable name") from None
    if expr is sp.true or expr is sp.false:
        return const(1 if expr is sp.true else 0)
    if expr.is_Number or expr.is_NumberSymbol or expr in (sp.nan, sp.zoo, sp.I):
        return _number(expr)
    for template, op in _TEMPLATES.get(expr.func):
        binding: dict = {}
        if _match(template, expr, binding):
            return [binding[symbol] for symbol in OPERAND_SYMBOLS[: op.arity]], op
    if expr.is_Add:
        return _plan_add(expr, shallow)
    if expr.is_Mul:
        return _plan_mul(expr)
    if expr.is_Pow:
        return _plan_pow(expr)
    if expr.func is sp.Heaviside:
        return [expr.args[0]], _heaviside(expr.args[1] if len(expr.args) > 1 else sp.S.Half)
    if expr.func is sp.Piecewise:
        return [part for pair in expr.args for part in pair.args], _piecewise
    rewrite = _REWRITES.get(expr.func)
    if rewrite is not None:
        return list(expr.args), rewrite
    name = getattr(expr.func, "__name__", type(expr).__name__)
    raise UnsupportedSympyError(name, expr)


_SHALLOW = 30  # sympy's own term ordering walks the whole subtree, recursively


def _heights(expr: sp.Basic) -> dict[int, int]:
    """The height of every subexpression, by id, computed with an explicit stack."""
    heights: dict[int, int] = {}
    keep = []  # holds subexpressions alive so ids stay unique
    stack = [(expr, False)]
    while stack:
        current, expanded = stack.pop()
        key = id(current)
        if key in heights:
            continue
        args = current.args
        if expanded or not args:
            heights[key] = 1 + max((heights[id(arg)] for arg in args), default=0)
            keep.append(current)
            continue
        stack.append((current, True))
        stack.extend((arg, False) for arg in args if id(arg) not in heights)
    return heights


_PLAIN_NUMBERS = (bool, int, float, Fraction)
_CONTAINERS = (tuple, list, dict, set, frozenset)


def plain_number(value: Any) -> bool | int | float | Fraction | None:
    """`value` if its type is exactly bool, int, float or Fraction, a numpy real scalar as the
    Python number it holds, else None: a subclass could run code of its own in `__float__`
    or `__index__`, and the conversion would give its number, not the value's.

    >>> plain_number(np.float32(0.5)), plain_number("1"), plain_number(Fraction(1, 3))
    (0.5, None, Fraction(1, 3))
    """
    kind = type(value)
    if kind.__module__ == "numpy" and issubclass(kind, np.integer | np.floating | np.bool_):
        value = value.item()
        kind = type(value)
    return value if kind in _PLAIN_NUMBERS else None


def _plain_number(value: Any) -> sp.Basic | None:
    """value as a sympy number when it is a plain number (see `plain_number`), else None."""
    number = plain_number(value)
    if number is None:
        return None
    if type(number) is bool:
        return sp.true if number else sp.false
    if type(number) is Fraction:
        return sp.Rational(number.numerator, number.denominator)
    return sp.Integer(number) if type(number) is int else sp.Float(number)


def _describe(value: Any) -> str:
    """The type of `value` and, for a container, the first thing inside it that is neither
    sympy nor a plain number, with where it sits (`tuple holding str at [0]`). Only the
    builtin containers are opened, with an explicit stack; nothing of the user's runs."""
    stack: list[tuple[Any, str]] = [(value, "")]
    seen: set[int] = set()
    while stack:
        item, where = stack.pop()
        kind = type(item)
        if kind in _CONTAINERS:
            if id(item) in seen:
                continue
            seen.add(id(item))
            if kind is dict:
                entries = [(f"{where}[key {index}]", key) for index, key in enumerate(item)]
                entries += [(f"{where}[{index}]", entry) for index, entry in
                            enumerate(item.values())]
            elif kind in (set, frozenset):
                entries = [(f"{where}{{...}}", entry) for entry in item]
            else:
                entries = [(f"{where}[{index}]", entry) for index, entry in enumerate(item)]
            stack.extend((entry, path) for path, entry in reversed(entries))
        elif item is not value and not issubclass(kind, sp.Basic) and _plain_number(item) is None:
            return f"{type(value).__name__} holding {kind.__name__} at {where}"
    return type(value).__name__


def _check_arguments(expr: sp.Basic) -> None:
    """`NotSympyError` unless every argument below `expr` is a sympy object: `Basic(...)`
    keeps its arguments unchecked, and sympy's printers write text out as it is (lambdify
    then runs it). An explicit stack, each shared subexpression once."""
    stack = [expr]
    seen = {id(expr)}
    while stack:
        current = stack.pop()
        for arg in current.args:
            if not issubclass(type(arg), sp.Basic):
                raise NotSympyError(
                    f"a sympy expression holds a {type(arg).__name__} as an argument of "
                    f"{type(current).__name__}, not a sympy object"
                )
            if id(arg) not in seen:
                seen.add(id(arg))
                stack.append(arg)


def sympy_expression(value: Any, where: str = "symgrad",
                     takes: str = "a sympy expression or a number") -> sp.Basic:
    """`value` if it is a sympy object with sympy objects all the way down, a sympy number for
    a plain number (int, float, bool, Fraction or a numpy scalar), else `NotSympyError` naming
    the type found (for a tuple, list, dict or set also the first offending thing inside it);
    `takes` says what `where` takes, for the message.

    Never `sympy.sympify`: it runs text as Python, inside containers too, and calls an
    object's `_sympy_` or `__float__`.

    >>> sympy_expression(0.5), sympy_expression(np.int64(2))
    (0.500000000000000, 2)
    >>> sympy_expression(("1 + 1",))
    Traceback (most recent call last):
    ...
    symgrad.interop.sympy_bridge.NotSympyError: symgrad takes a sympy expression or a number, got tuple holding str at [0]
    """  # noqa: E501
    if issubclass(type(value), sp.Basic):  # type(), not isinstance: no __class__ of the user's
        _check_arguments(value)
        return value
    number = _plain_number(value)
    if number is not None:
        return number
    raise NotSympyError(f"{where} takes {takes}, got {_describe(value)}")


def as_sympy(expr: Any, where: str = "from_sympy") -> sp.Basic | Tensor:
    """A sympy object as is, a number as a sympy number, text as the Tensor `parse` reads;
    `NotSympyError` for anything else (see `sympy_expression`).

    >>> as_sympy(2)
    2
    >>> as_sympy("2*x")
    Tensor(2*x)
    """
    if type(expr) is str:
        return parse(expr)
    if isinstance(expr, Tensor):
        return expr
    return sympy_expression(expr, where, TAKES_TEXT)


TAKES_TEXT = "a sympy expression, a number or formula text"
"""What the entry points that read text with `parse` take, as their NotSympyError says."""


def from_sympy(expr: Any) -> Tensor:
    """The graph of a sympy expression, built through the op table (so folding applies).

    Sums and products become binary trees, `x**-1` becomes `1/x`, `Max(x, 0)` becomes
    `relu(x)`, `Heaviside(x, 0)` becomes `step(x)` and `1/(1 + exp(-x))` becomes `sigmoid(x)`.
    A function with no op raises `UnsupportedSympyError` (a ValueError) naming it. Text is
    read by symgrad's own `parse`, never by `sympy.sympify` (which evaluates it as Python);
    anything else that is not sympy, nor a plain number, raises `NotSympyError` (a TypeError).

    >>> x = sp.Symbol("x", real=True)
    >>> str(from_sympy(sp.Max(x, 0) / x**2 + sp.sqrt(x)))
    'sqrt(x) + relu(x)/x**2'
    >>> str(from_sympy("x*y + 1"))
    'x*y + 1'
    """
    expr = as_sympy(expr)
    if isinstance(expr, Tensor):
        return expr
    heights = _heights(expr)
    # Keyed by id, not by the expression: hashing a deep unevaluated sympy tree recurses.
    # `seen` holds every visited expression alive, so no id is reused while we work.
    done: dict[int, Tensor] = {}
    plans: dict[int, _Plan] = {}
    seen: list[sp.Expr] = []
    stack = [expr]
    with gc_paused():
        while stack:
            current = stack[-1]
            key = id(current)
            if key in done:
                stack.pop()
                continue
            plan = plans.get(key)
            if plan is None:
                seen.append(current)
                planned = _plan(current, heights.get(key, 0) < _SHALLOW)
                if isinstance(planned, Tensor):
                    done[key] = planned
                    stack.pop()
                    continue
                plans[key] = plan = planned
                pending = [operand for operand in plan[0] if id(operand) not in done]
                if pending:
                    stack.extend(reversed(pending))
                    continue
            stack.pop()
            operands, build = plan
            done[key] = build(*(done[id(operand)] for operand in operands))
            del plans[key]
    return done[id(expr)]
