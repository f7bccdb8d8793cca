"""The bridge to sympy: `to_sympy` and `from_sympy` (both iterative, driven by each op's `sympy`
field in the op table), and `check`, which compares symgrad's derivative with `sympy.diff`
symbolically and at random points (sympy's `test_derivative_numerically`, made kink-aware).

Named `sympy_bridge`, not `sympy`, so `import sympy` never finds this module.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from symgrad import ops
from symgrad.evaluate import evaluate
from symgrad.graph import Tensor, const, gc_paused, toposort, use_counts, var

__all__ = [
    "CheckResult",
    "CheckResults",
    "NumericComparison",
    "UnsupportedSympyError",
    "check",
    "check_derivative",
    "compare_at_points",
    "from_sympy",
    "to_sympy",
]


class UnsupportedSympyError(ValueError):
    """A sympy expression holds a function or object symgrad has no op for."""

    def __init__(self, name: str, expr: Any = None):
        shown = "" if expr is None else f" in {str(expr)[:80]}"
        super().__init__(f"sympy function {name!r} has no symgrad op{shown}")
        self.name = name


# ---------------------------------------------------------------------------------------------
# symgrad -> sympy
# ---------------------------------------------------------------------------------------------


def _sympy_number(value: Any, rational: bool) -> sp.Expr:
    if isinstance(value, np.ndarray):
        raise TypeError("to_sympy converts scalar graphs; this one holds an array constant")
    if isinstance(value, int):
        return sp.Integer(value)
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


_DEEP = 60  # graphs deeper than this run their sympy work on a thread with a big stack
_in_deep_thread = threading.local()


def _depth(order: list[Tensor]) -> int:
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


def with_deep_stack(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """function(*args, **kwargs) on a thread with a 1 GiB stack and a high recursion limit.

    sympy's own algorithms (building, diff, simplify, printing) recurse once per level of an
    expression, so a few hundred levels overflow Python's default limit; our code does not.

    >>> with_deep_stack(sum, [1, 2, 3])
    6
    """
    if getattr(_in_deep_thread, "active", False):
        return function(*args, **kwargs)
    outcome: dict[str, Any] = {}

    def run() -> None:
        _in_deep_thread.active = True
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    previous_limit = sys.getrecursionlimit()
    previous_size = threading.stack_size()
    try:
        threading.stack_size(1 << 30)
    except (ValueError, RuntimeError):  # a platform without settable stacks: try anyway
        return function(*args, **kwargs)
    sys.setrecursionlimit(max(previous_limit, 200_000))
    try:
        worker = threading.Thread(target=run, name="symgrad-sympy")
        worker.start()
        threading.stack_size(previous_size)
        worker.join()
    finally:
        threading.stack_size(previous_size)
        sys.setrecursionlimit(previous_limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def to_sympy(t: Tensor, rational: bool = False) -> sp.Expr:
    """The sympy expression of a graph; variables become real symbols.

    Every node is converted once, bottom-up, by its op's `sympy` entry. With `rational`,
    float constants become exact decimals (0.1 -> 1/10), which sympy simplifies exactly.

    >>> from symgrad.graph import variables
    >>> x, y = variables("x y")
    >>> to_sympy(ops.relu(x) * y + ops.sigmoid(x))
    y*Max(0, x) + 1/(1 + exp(-x))
    """
    if not isinstance(t, Tensor):
        raise TypeError(f"to_sympy takes a Tensor, got {type(t).__name__}")
    order = toposort(t)
    if _depth(order) > _DEEP and not getattr(_in_deep_thread, "active", False):
        return with_deep_stack(to_sympy, t, rational)
    uses = use_counts(order)
    # Links of a chain (a + b) + c of one commutative op, used nowhere else, are absorbed
    # into the chain's top node and never converted on their own.
    absorbed = set()
    for node in order:
        if node.op is not None and node.op.commutative:
            for operand in (node.children.a, node.children.b):
                if operand.op is node.op and uses[operand] == 1:
                    absorbed.add(operand)
    converted: dict[Tensor, Any] = {}
    for node in order:
        children = node.children
        if children is None:
            if node.name is not None:
                converted[node] = sp.Symbol(node.name, real=True)
            else:
                converted[node] = _sympy_number(node._value, rational)
        elif node in absorbed:
            continue
        elif children.op.commutative:
            terms = []
            stack = [children.b, children.a]
            while stack:
                operand = stack.pop()
                if operand in absorbed:
                    stack.append(operand.children.b)
                    stack.append(operand.children.a)
                else:
                    terms.append(converted[operand])
            converted[node] = _balanced(children.op.sympy, terms)
        elif children.b is None:
            converted[node] = children.op.sympy(converted[children.a])
        else:
            converted[node] = children.op.sympy(converted[children.a], converted[children.b])
    return converted[t]


# ---------------------------------------------------------------------------------------------
# sympy -> symgrad
# ---------------------------------------------------------------------------------------------

_HOLE = sp.Dummy("a", real=True)  # the operand's place in an op's sympy template


def _templates() -> dict[type, list[tuple[sp.Expr, ops.Op]]]:
    """Each function op's sympy form, op.sympy(a), indexed by its head: sin(a), Max(0, a),
    Heaviside(a, 0), 1/(1 + exp(-a)). Bigger templates first, so sigmoid wins over 1/x."""
    table: dict[type, list[tuple[sp.Expr, ops.Op]]] = {}
    for op in ops.FUNCTIONS.values():
        if op.arity != 1:
            continue
        template = op.sympy(_HOLE)
        table.setdefault(template.func, []).append((template, op))
    for entries in table.values():
        entries.sort(key=lambda entry: -sp.count_ops(entry[0]))
    return table


_TEMPLATES = _templates()
_ORDERLESS = (sp.Add, sp.Mul, sp.Max, sp.Min)


def _match(template: sp.Expr, expr: sp.Expr, binding: dict) -> bool:
    """Whether expr has the template's shape, binding _HOLE. Recursion here follows the
    template, which is a few levels deep, never the expression."""
    if template == _HOLE:
        if "a" in binding:
            return binding["a"] == expr
        binding["a"] = expr
        return True
    if not template.has(_HOLE):
        return template == expr
    if template.is_Mul and len(template.args) == 2 and template.args[0].is_Number:
        # -a matches any expr, binding a = -expr: exp(-a) matches exp(y) with a = -y
        coefficient, rest = template.args
        if rest == _HOLE and coefficient == -1:
            return _match(_HOLE, _minus(expr), binding)
    if template.func != expr.func or len(template.args) != len(expr.args):
        return False
    if template.func in _ORDERLESS:
        # templates hold at most a few arguments: try the hole's argument in every place
        fixed = [arg for arg in template.args if not arg.has(_HOLE)]
        holed = [arg for arg in template.args if arg.has(_HOLE)]
        rest = list(expr.args)
        for arg in fixed:
            if arg not in rest:
                return False
            rest.remove(arg)
        if len(holed) != 1:
            return False
        return _match(holed[0], rest[0], binding)
    return all(_match(t, e, binding) for t, e in zip(template.args, expr.args, strict=True))


def _number(expr: sp.Expr) -> Tensor:
    if expr.is_Integer:
        return const(int(expr))
    if expr is sp.zoo or expr.has(sp.I):
        raise ValueError(f"{expr} is not a real number; symgrad graphs are real")
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
    number = None
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
        return [base], lambda b: b ** float(exponent)
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


def _minmax(largest: bool) -> Callable[..., Tensor]:
    # max(a, b) = b + relu(a - b), min(a, b) = a - relu(a - b)
    def build(*args: Tensor) -> Tensor:
        result = args[0]
        for arg in args[1:]:
            result = arg + ops.relu(result - arg) if largest else result - ops.relu(result - arg)
        return result

    return build


# sympy functions with no op of their own, written with ops
_REWRITES: dict[Any, Callable[..., Tensor]] = {
    sp.cot: lambda a: 1 / ops.tan(a),
    sp.sec: lambda a: 1 / ops.cos(a),
    sp.csc: lambda a: 1 / ops.sin(a),
    sp.sinh: lambda a: (ops.exp(a) - ops.exp(-a)) / 2,
    sp.cosh: lambda a: (ops.exp(a) + ops.exp(-a)) / 2,
    sp.sech: lambda a: 2 / (ops.exp(a) + ops.exp(-a)),
    sp.Max: _minmax(True),
    sp.Min: _minmax(False),
}


def _plan(expr: sp.Expr, shallow: bool = True) -> _Plan | Tensor:
    """A finished Tensor for a leaf, else the operands to convert and how to combine them."""
    if expr.is_Symbol:
        try:
            return var(expr.name)
        except ValueError:
            raise ValueError(f"sympy symbol {expr.name!r} is not a valid variable name") from None
    if expr.is_Number or expr.is_NumberSymbol or expr in (sp.nan, sp.zoo, sp.I):
        return _number(expr)
    for template, op in _TEMPLATES.get(expr.func, ()):
        binding: dict = {}
        if _match(template, expr, binding):
            return [binding["a"]], op
    if expr.is_Add:
        return _plan_add(expr, shallow)
    if expr.is_Mul:
        return _plan_mul(expr)
    if expr.is_Pow:
        return _plan_pow(expr)
    if expr.func is sp.Heaviside:
        return [expr.args[0]], _heaviside(expr.args[1] if len(expr.args) > 1 else sp.S.Half)
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


def from_sympy(expr: Any) -> Tensor:
    """The graph of a sympy expression, built through the op table (so folding applies).

    Sums and products become binary trees, `x**-1` becomes `1/x`, `Max(x, 0)` becomes
    `relu(x)`, `Heaviside(x, 0)` becomes `step(x)` and `1/(1 + exp(-x))` becomes `sigmoid(x)`.
    A function with no op raises `UnsupportedSympyError` (a ValueError) naming it.

    >>> x = sp.Symbol("x", real=True)
    >>> str(from_sympy(sp.Max(x, 0) / x**2 + sp.sqrt(x)))
    'sqrt(x) + relu(x)/x**2'
    """
    expr = sp.sympify(expr)
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
                plan = _plan(current, heights.get(key, 0) < _SHALLOW)
                if isinstance(plan, Tensor):
                    done[key] = plan
                    stack.pop()
                    continue
                plans[key] = plan
                pending = [operand for operand in plan[0] if id(operand) not in done]
                if pending:
                    stack.extend(reversed(pending))
                    continue
            stack.pop()
            operands, build = plan
            done[key] = build(*(done[id(operand)] for operand in operands))
            del plans[key]
    return done[id(expr)]


# ---------------------------------------------------------------------------------------------
# Comparing two formulas at random points
# ---------------------------------------------------------------------------------------------

# sympy functions with a kink (or a jump) where their argument is 0
_KINK_FUNCTIONS = (sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside, sp.DiracDelta)
KINKED_OPS = frozenset(
    op for op in ops.FUNCTIONS.values() if op.arity == 1 and op.sympy(_HOLE).has(*_KINK_FUNCTIONS)
)
"""The ops whose sympy form has a kink or a jump (relu, abs, step, sign), from the op table."""

_ON_KINK = 1e-7  # |argument of a kinked op| below this counts as sitting on the kink


@dataclass
class NumericComparison:
    """The outcome of `compare_at_points`: `ok` unless the two differ at a point off every
    kink; `point` and `values` say where and what; `compared` counts points where both were
    finite and compared, `on_kinks` those skipped on a kink."""

    ok: bool
    point: dict[str, float] | None = None
    values: tuple[float, float] | None = None
    compared: int = 0
    on_kinks: int = 0  # sampled points skipped because they sit on a kink
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok


Formula = Tensor | sp.Expr


def _names(formulas: Iterable[Any]) -> list[str]:
    names: list[str] = []
    for formula in formulas:
        if isinstance(formula, Tensor):
            found = [node.name for node in toposort(formula) if node.is_var]
        elif isinstance(formula, sp.Basic):
            found = sorted(symbol.name for symbol in formula.free_symbols)
        else:
            found = []
        names.extend(name for name in found if name not in names)
    return names


def _evaluator(formula: Any, names: Sequence[str]) -> Callable[[dict[str, np.ndarray]], Any]:
    """A function of a dict of arrays (one per name) giving the formula's values."""
    if callable(formula) and not isinstance(formula, Tensor | sp.Basic):
        return formula
    if isinstance(formula, Tensor):
        return lambda env: evaluate(formula, {name: env[name] for name in names})
    expr = sp.sympify(formula)
    if expr.has(sp.DiracDelta):  # zero away from its argument's root, which we avoid
        expr = expr.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
    by_name = {symbol.name: symbol for symbol in expr.free_symbols}
    symbols = [by_name.get(name, sp.Symbol(name, real=True)) for name in names]
    try:
        function = sp.lambdify(symbols, expr, modules="numpy")
        return lambda env: function(*(env[name] for name in names))
    except (RecursionError, SyntaxError, MemoryError, TypeError, NameError):
        graph = from_sympy(expr)  # too big or too odd for lambdify: evaluate the graph
        return lambda env: evaluate(graph, {name: env[name] for name in names})


def _kink_arguments(formulas: Iterable[Any]) -> list[Tensor]:
    """Expressions that are 0 exactly where one of the formulas has a kink."""
    found: list[Tensor] = []
    for formula in formulas:
        if isinstance(formula, Tensor):
            found.extend(n.children.a for n in toposort(formula) if n.op in KINKED_OPS)
            continue
        if not isinstance(formula, sp.Basic):
            continue
        for atom in formula.atoms(*_KINK_FUNCTIONS):
            args = atom.args
            candidates = (
                [args[i] - args[j] for i in range(len(args)) for j in range(i + 1, len(args))]
                if atom.func in (sp.Max, sp.Min)
                else [args[0]]
            )
            for candidate in candidates:
                try:
                    found.append(from_sympy(candidate))
                except ValueError:
                    pass
    return found


def _candidates(names: Sequence[str], count: int, seed: int) -> dict[str, np.ndarray]:
    """Random points: half with values of either sign in 0.1..3, half positive (so log and
    sqrt are defined somewhere)."""
    rng = np.random.default_rng(seed)
    env = {}
    for name in names:
        magnitude = rng.uniform(0.1, 3.0, count)
        sign = np.where(rng.random(count) < 0.5, -1.0, 1.0)
        sign[count // 2 :] = 1.0
        env[name] = np.round(magnitude * sign, 6)
    return env


def _values(function: Callable, env: dict[str, np.ndarray], count: int) -> np.ndarray:
    with np.errstate(all="ignore"):
        try:
            value = function(env)
        except (ValueError, ZeroDivisionError, OverflowError, FloatingPointError):
            return np.full(count, np.nan)
    return np.broadcast_to(np.asarray(value, dtype=float), (count,))


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.abs(a - b) <= atol + rtol * np.maximum(np.abs(a), np.abs(b))


def compare_at_points(
    a: Formula,
    b: Formula,
    variables: Sequence[str | Tensor] | None = None,
    *,
    samples: int = 20,
    seed: int = 0,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    kinks: Iterable[Any] = (),
    kink_tolerance: float = _ON_KINK,
) -> NumericComparison:
    """Compare two formulas (Tensors, sympy expressions, or functions of a dict of arrays
    keyed by variable name) at random points.

    Points where a kinked function (relu, abs, step, sign, Max, Heaviside, ...) of either
    formula, or of the extra `kinks` formulas, has its argument at 0 are skipped: conventions
    differ there. Points where both values are NaN or infinite are skipped too; a point where
    only one is finite counts as a difference.

    >>> from symgrad.graph import var
    >>> x = var("x")
    >>> bool(compare_at_points(2 * x, 2 * sp.Symbol("x", real=True)))
    True
    >>> compare_at_points(x * x, x + x).point is not None
    True
    """
    formulas = [a, b, *kinks]
    names = [v.name if isinstance(v, Tensor) else v for v in variables or _names(formulas)]
    count = 4 * samples
    env = _candidates(names, count, seed)
    first = _values(_evaluator(a, names), env, count)
    second = _values(_evaluator(b, names), env, count)
    on_kink = np.zeros(count, dtype=bool)
    arguments = list(dict.fromkeys(_kink_arguments(formulas)))
    if arguments:  # one evaluation of all of them: they share most of their nodes
        with np.errstate(all="ignore"):
            try:
                kink_values = evaluate(arguments, {name: env[name] for name in names})
            except (ValueError, ZeroDivisionError, OverflowError, FloatingPointError):
                kink_values = []
            for values in kink_values:
                on_kink |= np.abs(np.broadcast_to(values, (count,))) < kink_tolerance
    finite_first, finite_second = np.isfinite(first), np.isfinite(second)
    comparable = finite_first & finite_second
    agree = (comparable & _close(first, second, rtol, atol)) | (~finite_first & ~finite_second)
    usable = np.flatnonzero(comparable & ~on_kink)[:samples]
    result = NumericComparison(ok=True, compared=len(usable), on_kinks=int(on_kink.sum()))
    differing = np.flatnonzero(~agree & ~on_kink)
    differing = differing[differing <= (usable[-1] if len(usable) else count)]
    if len(differing):
        index = int(differing[0])
        result.ok = False
        result.point = {name: float(env[name][index]) for name in names}
        result.values = (float(first[index]), float(second[index]))
    kink_differences = np.flatnonzero(~agree & on_kink)
    if len(kink_differences):
        index = int(kink_differences[0])
        where = ", ".join(f"{name} = {env[name][index]:g}" for name in names)
        result.notes.append(
            f"the two differ at {where}, which sits on a kink: a convention, not an error"
        )
    if on_kink.all():
        result.notes.append("every sampled point sits on a kink; compared nowhere else")
    if not len(usable) and not on_kink.all():
        result.notes.append("no sampled point where both formulas are finite")
    return result


def central_difference(
    f: Tensor, wrt: str, step: float = 1e-5
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """A function of a dict of arrays giving (f(w + h) - f(w - h)) / 2h, h = step*max(1, |w|):
    the numeric derivative `check` falls back on when a graph is too big for sympy.

    >>> from symgrad.graph import var
    >>> derivative = central_difference(var("x") ** 3, "x")
    >>> float(np.round(derivative({"x": np.array([2.0])})[0], 6))
    12.0
    """

    def derivative(env: dict[str, np.ndarray]) -> np.ndarray:
        point = np.asarray(env[wrt], dtype=float)
        h = step * np.maximum(1.0, np.abs(point))
        above = evaluate(f, {**env, wrt: point + h})
        below = evaluate(f, {**env, wrt: point - h})
        return (np.asarray(above) - np.asarray(below)) / (2 * h)

    return derivative


# ---------------------------------------------------------------------------------------------
# check: symgrad's derivative against sympy.diff
# ---------------------------------------------------------------------------------------------

_MAX_SIMPLIFY_OPS = 150  # sympy.simplify on bigger differences can take minutes
# sympy.diff slows down sharply with depth (a 150-deep chain of sin(a) + y takes ~35 s), so
# past these sizes `check` compares with central differences instead and says so in a note.
SYMPY_MAX_DEPTH = 100
SYMPY_MAX_OPS = 3000


class _OutOfTime(Exception):
    pass


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise _OutOfTime after `seconds` (a SIGALRM timer: main thread on Unix only; elsewhere
    the size guard alone keeps simplify bounded)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    # someone else's pending alarm is left alone: we would have to cancel it
    if not usable or seconds <= 0 or signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def simplifies_to_zero(difference: sp.Expr, timeout: float = 2.0) -> bool | None:
    """True if sympy proves `difference` is 0, False if it reduces to a nonzero number, None
    when it cannot tell within the size and time guards.

    >>> x = sp.Symbol("x", real=True)
    >>> simplifies_to_zero(sp.sin(x)**2 + sp.cos(x)**2 - 1)
    True
    """
    if difference == 0:
        return True
    if difference.is_Number:
        return False
    if sp.count_ops(difference) > _MAX_SIMPLIFY_OPS:
        return None
    try:
        with _time_limit(timeout):
            simplified = sp.simplify(difference)
    except (_OutOfTime, RecursionError):
        return None
    if simplified == 0:
        return True
    return False if simplified.is_Number else None


def _symgrad_conventions(derivative: sp.Expr) -> tuple[sp.Expr, list[str]]:
    """sympy's derivative rewritten to symgrad's kink conventions, with a note per rewrite."""
    notes = []
    halves = [h for h in derivative.atoms(sp.Heaviside) if len(h.args) < 2 or h.args[1] != 0]
    if halves:
        derivative = derivative.xreplace({h: sp.Heaviside(h.args[0], 0) for h in halves})
        notes.append(
            "sympy writes relu' as Heaviside(x) with Heaviside(0) = 1/2; symgrad's step(0) = 0 "
            "(relu'(0) = 0). Compared with symgrad's value at 0, away from kinks."
        )
    if derivative.has(sp.DiracDelta):
        derivative = derivative.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
        notes.append(
            "sympy's DiracDelta terms (from differentiating step or sign) are 0 away from the "
            "jump; symgrad takes step' = sign' = 0."
        )
    return derivative, notes


def _short(expr: Any, width: int = 300) -> str:
    if expr is None:
        return "(not computed: see the notes)"
    text = with_deep_stack(str, expr)  # sympy's printer recurses once per level
    return text if len(text) <= width else text[: width - 3] + "..."


@dataclass
class CheckResult:
    """symgrad's derivative against sympy's for one variable; truthy when they agree.

    `symgrad` and `sympy` are the two derivatives as sympy expressions (sympy's rewritten to
    symgrad's kink conventions), `point` a point where they differ (else None) and `values`
    their values there; `proved` is True when sympy simplified the difference to 0. For a
    graph too big for sympy both formulas are None and central differences stand in (a note
    says so).
    """

    ok: bool
    wrt: str
    symgrad: sp.Expr | None
    sympy: sp.Expr | None
    derivative: Tensor
    point: dict[str, float] | None = None
    values: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)
    proved: bool = False
    compared: int = 0
    label: str = "symgrad"  # whose derivative `symgrad` holds ("claimed" for a user's)
    reference: str = "sympy"  # what it was compared with ("central differences" for big f)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            how = [f"equal at {self.compared} random points"] if self.compared else []
            if self.proved:
                how.insert(0, "proved symbolically")
            head = f"d/d{self.wrt}: agree ({'; '.join(how) or 'no finite point to compare'})"
        else:
            where = ", ".join(f"{name} = {value:g}" for name, value in (self.point or {}).items())
            head = f"d/d{self.wrt}: DIFFER"
            if self.values is not None:
                head += (
                    f" at {where or 'every point'}: {self.label} gives {self.values[0]:.10g}, "
                    f"{self.reference} give{'' if self.reference.endswith('s') else 's'} "
                    f"{self.values[1]:.10g}"
                )
        width = max(len(self.label), 5) + 1
        lines = [
            head,
            f"  {self.label + ':':<{width}} {_short(self.symgrad)}",
            f"  {'sympy:':<{width}} {_short(self.sympy)}",
        ]
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


@dataclass
class CheckResults:
    """One `CheckResult` per variable; truthy when every one agrees."""

    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(self.results)

    def __bool__(self) -> bool:
        return self.ok

    def __iter__(self) -> Iterator[CheckResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> CheckResult:
        return self.results[index]

    def __str__(self) -> str:
        return "\n".join(str(result) for result in self.results)


def _as_variable(wrt: Any) -> Tensor:
    if isinstance(wrt, str):
        return var(wrt)
    if isinstance(wrt, Tensor) and wrt.is_var:
        return wrt
    raise TypeError(f"check differentiates with respect to variables or names, got {wrt!r}")


def check_derivative(
    f: Tensor,
    wrt: Tensor | str,
    derivative: Tensor,
    *,
    samples: int = 20,
    seed: int = 0,
    symbolic: bool = True,
    timeout: float = 2.0,
    sympy_f: sp.Expr | None = None,
    label: str = "symgrad",
) -> CheckResult:
    """Compare a given `derivative` of `f` (say a claimed one) with `sympy.diff(f, wrt)`, as
    `check` does for symgrad's own.

    >>> from symgrad.graph import var
    >>> x = var("x")
    >>> result = check_derivative(x**3, x, 3 * x)
    >>> bool(result), result.point
    (False, {'x': 1.947189})
    """
    wrt = _as_variable(wrt)
    order = toposort(f)
    depth, size = _depth(order), sum(1 for node in order if node.children is not None)
    if sympy_f is None and (depth > SYMPY_MAX_DEPTH or size > SYMPY_MAX_OPS):
        return _check_by_differences(f, wrt, derivative, depth, size, samples, seed, label)
    deep = depth > _DEEP or _depth(toposort(derivative)) > _DEEP
    if deep and not getattr(_in_deep_thread, "active", False):
        return with_deep_stack(
            check_derivative,
            f,
            wrt,
            derivative,
            samples=samples,
            seed=seed,
            symbolic=symbolic,
            timeout=timeout,
            sympy_f=sympy_f,
            label=label,
        )
    if sympy_f is None:
        sympy_f = to_sympy(f, rational=True)
    ours = to_sympy(derivative, rational=True)
    theirs, notes = _symgrad_conventions(sp.diff(sympy_f, sp.Symbol(wrt.name, real=True)))
    names = _names([f, derivative])
    numeric = compare_at_points(
        derivative, theirs, names, samples=samples, seed=seed, kinks=[f, sympy_f]
    )
    notes.extend(numeric.notes)
    proved = simplifies_to_zero(ours - theirs, timeout) if symbolic else None
    if proved is not None:
        ok = proved
    else:  # agreement needs a compared point, unless every point sat on a kink
        ok = numeric.ok and bool(numeric.compared or numeric.on_kinks or not names)
    if proved is True and not numeric.ok:
        notes.append(
            "sympy proves the two equal; the values differ at the point shown only by "
            "rounding or outside the domain"
        )
    return CheckResult(
        ok=ok,
        wrt=wrt.name,
        symgrad=ours,
        sympy=theirs,
        derivative=derivative,
        point=None if numeric.ok else numeric.point,
        values=None if numeric.ok else numeric.values,
        notes=notes,
        proved=proved is True,
        compared=numeric.compared,
        label=label,
    )


def _check_by_differences(
    f: Tensor,
    wrt: Tensor,
    derivative: Tensor,
    depth: int,
    size: int,
    samples: int,
    seed: int,
    label: str,
) -> CheckResult:
    names = _names([f, derivative])
    numeric = compare_at_points(
        derivative,
        central_difference(f, wrt.name),
        names,
        samples=samples,
        seed=seed,
        rtol=1e-4,
        atol=1e-6,
        kinks=[f],
        kink_tolerance=1e-3,
    )
    notes = [
        f"f has depth {depth} and {size} ops, past what sympy.diff handles in reasonable time "
        f"(depth {SYMPY_MAX_DEPTH}, {SYMPY_MAX_OPS} ops): compared with central differences "
        "(to 1e-4) instead",
        *numeric.notes,
    ]
    return CheckResult(
        ok=numeric.ok and bool(numeric.compared or numeric.on_kinks or not names),
        wrt=wrt.name,
        symgrad=None,
        sympy=None,
        derivative=derivative,
        point=numeric.point,
        values=numeric.values,
        notes=notes,
        compared=numeric.compared,
        label=label,
        reference="central differences",
    )


def check(
    f: Tensor | str,
    wrt: Tensor | str | Sequence[Tensor | str],
    *,
    samples: int = 20,
    seed: int = 0,
    symbolic: bool = True,
    timeout: float = 2.0,
) -> CheckResult | CheckResults:
    """Compare symgrad's derivative of `f` with `sympy.diff`: at `samples` random points off
    every kink, and symbolically (sympy.simplify of the difference, guarded by size and a
    `timeout` in seconds). Truthy when they agree; a list `wrt` gives one result per variable.

    At kinks sympy and symgrad use different conventions (sympy's Heaviside(0) = 1/2, symgrad's
    relu'(0) = 0); points there are skipped and the convention is noted, never failed.

    >>> from symgrad.graph import variables
    >>> x, y = variables("x y")
    >>> bool(check(ops.sin(x) * y, x))
    True
    >>> print(check(ops.relu(x) * y, [x, y]))
    d/dx: agree (proved symbolically; equal at 20 random points)
      symgrad: y*Heaviside(x, 0)
      sympy:   y*Heaviside(x, 0)
      note: sympy writes relu' as Heaviside(x) with Heaviside(0) = 1/2; symgrad's step(0) = 0 (relu'(0) = 0). Compared with symgrad's value at 0, away from kinks.
    d/dy: agree (proved symbolically; equal at 20 random points)
      symgrad: Max(0, x)
      sympy:   Max(0, x)
    """  # noqa: E501
    from symgrad.diff import grad, gradient

    if isinstance(f, str):
        from symgrad.parse import parse

        f = parse(f)
    if not isinstance(f, Tensor):
        raise TypeError(f"check takes a Tensor (or text) to differentiate, got {type(f).__name__}")
    single = isinstance(wrt, str | Tensor)
    variables = [_as_variable(w) for w in ([wrt] if single else wrt)]
    derivatives = [grad(f, variables[0])] if single else gradient(f, variables)
    order = toposort(f)
    small = _depth(order) <= SYMPY_MAX_DEPTH and len(order) <= SYMPY_MAX_OPS
    sympy_f = to_sympy(f, rational=True) if small else None
    results = [
        check_derivative(
            f, w, d, samples=samples, seed=seed, symbolic=symbolic, timeout=timeout, sympy_f=sympy_f
        )
        for w, d in zip(variables, derivatives, strict=True)
    ]
    return results[0] if single else CheckResults(results)
