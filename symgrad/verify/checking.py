"""Checking derivatives: `check` derives with symgrad and with `sympy.diff` and compares the two,
symbolically and at random points (sympy's `test_derivative_numerically`, made kink-aware);
`compare_at_points` is the numeric comparison that `check` and `compare` share.

Leans on the bridge (`sympy_bridge.to_sympy`) and on `evaluate`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeAlias

import numpy as np
import sympy as sp

from symgrad.autodiff.diff import grad, gradient
from symgrad.backends.accuracy import PRECISE
from symgrad.backends.evaluate import evaluate, node_values
from symgrad.interop import sympy_worker
from symgrad.interop.parse import parse
from symgrad.interop.sympy_bridge import (
    DEEP_GRAPH,
    TAKES_TEXT,
    from_sympy,
    graph_depth,
    in_deep_thread,
    sympy_expression,
    to_sympy,
    with_deep_stack,
)
from symgrad.interop.sympy_worker import SympyTimeoutError
from symgrad.ir.graph import (
    Tensor,
    as_tensor,
    count_ops,
    free_variables,
    name_of,
    toposort,
    unwrap,
)
from symgrad.ir.op import OPS, Op
from symgrad.ir.wrt import as_variables
from symgrad.present.printing import inlined_size
from symgrad.rewrite.stabilize import stabilize
from symgrad.verify.matrix_check import check_tensor
from symgrad.verify.verdict import CheckResult, CheckResults, short_formula

__all__ = [
    "CheckResult",
    "CheckResults",
    "NumericComparison",
    "check",
    "check_derivative",
    "compare_at_points",
]


# ---------------------------------------------------------------------------------------------
# Comparing two formulas at random points
# ---------------------------------------------------------------------------------------------

# sympy functions with a kink (or a jump) where their argument is 0
_KINK_FUNCTIONS = (sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside, sp.DiracDelta)


def kinked_ops() -> list[Op]:
    """The ops with a kink or a jump (relu, abs, max, comparisons, ...): those whose table
    entry declares `kinks`."""
    return [op for op in OPS.values() if op.kinks is not None]


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


Formula: TypeAlias = Tensor | sp.Expr


def _names(formulas: Iterable[Any]) -> list[str]:
    names: list[str] = []
    for formula in formulas:
        if isinstance(formula, Tensor):
            found = [name_of(node) for node in toposort(formula) if node.is_var]
        elif isinstance(formula, sp.Basic):
            found = sorted(symbol.name for symbol in formula.free_symbols)
        else:
            found = []
        names.extend(name for name in found if name not in names)
    return names


def _formula(value: Any, where: str) -> Any:
    """A Tensor, a sympy expression or a function of a dict of arrays as is; text read by
    `parse`; a plain number as a sympy number; `NotSympyError` for anything else. Never
    `sympy.sympify`, which runs text (inside containers too) as Python."""
    kind = type(value)  # type(), not isinstance: no __class__ of the user's runs
    if kind is str:
        return parse(value)
    if issubclass(kind, Tensor) or (callable(value) and not issubclass(kind, sp.Basic)):
        return value
    return sympy_expression(value, where, TAKES_TEXT)


_CODE_MODULES = ("sympy.core.", "sympy.functions.", "sympy.logic.")


def _writable_as_code(expr: sp.Basic) -> bool:
    """Whether lambdify may write `expr` as Python source: every node is of sympy's own core,
    function or logic classes, and none but a Symbol carries a name (lambdify writes names
    out as they are: an undefined function or a MatrixSymbol named with code would run it;
    the symbols are renamed before). Walked with an explicit stack."""
    stack: list[Any] = [expr]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        kind = type(node)
        if not issubclass(kind, sp.Basic) or not str(kind.__module__).startswith(_CODE_MODULES):
            return False
        if not issubclass(kind, sp.Symbol) and hasattr(node, "name"):
            return False
        stack.extend(node.args)
    return True


def _bindings(graphs: Tensor | list[Tensor], names: Sequence[str], env: dict[str, np.ndarray]
              ) -> dict[str, np.ndarray]:
    """The arrays of `env` for the variables `graphs` use: evaluate refuses a name that no
    variable has (a sympy symbol's, `a b` or code, is never one)."""
    used = {name_of(v) for v in free_variables(graphs)}
    return {name: env[name] for name in names if name in used}


def _evaluator(formula: Any, names: Sequence[str]) -> Callable[[dict[str, np.ndarray]], Any]:
    """A function of a dict of arrays (one per name) giving the formula's values (a formula
    as `_formula` returns it)."""
    if callable(formula) and not isinstance(formula, Tensor | sp.Basic):
        return formula
    if isinstance(formula, Tensor):
        return lambda env: evaluate(formula, _bindings(formula, names, env))
    expr = formula
    unknown = sorted(symbol.name for symbol in expr.free_symbols if symbol.name not in names)
    if unknown:
        raise ValueError(f"the sympy formula uses {', '.join(unknown)}, not among the "
                         f"variables {', '.join(names)}: name them in `variables`")
    if expr.has(sp.DiracDelta):  # zero away from its argument's root, which we avoid
        expr = expr.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
    # The generated code names its arguments arg0, arg1, ..., never after the variables: one
    # named like a function (`sin`, or a look-alike of it after NFKC), or like code, would
    # be written out as it is. Bound symbols (of a Lambda, say) get names of sympy's own.
    arguments = [sp.Symbol(f"arg{index}", real=True) for index in range(len(names))]
    by_name = dict(zip(names, arguments))
    renamed: dict[sp.Basic, sp.Basic] = {
        symbol: by_name[symbol.name] if symbol.name in by_name else sp.Dummy()
        for symbol in expr.atoms(sp.Symbol)
    }
    renamed[sp.zoo] = sp.nan  # 1/0: infinite of no sign, numpy has no such value
    try:
        expr = expr.xreplace(renamed)
    except (TypeError, ValueError):  # sympy refuses nan > 0, Max(x, nan): keep it as written
        with sp.evaluate(False):
            expr = expr.xreplace(renamed)

    def graph_values(env: dict[str, np.ndarray]) -> Any:  # the formula as a symgrad graph
        try:
            graph = from_sympy(expr)
        except (TypeError, ArithmeticError) as error:  # a NaN sympy cannot order: no values
            raise ValueError(f"sympy's formula cannot be evaluated: {error}") from error
        return evaluate(graph, _bindings(graph, [f"arg{i}" for i in range(len(names))],
                                         {f"arg{i}": env[name] for i, name in enumerate(names)}))

    if not _writable_as_code(expr):
        return graph_values  # the bridge reads sympy's own functions, or refuses
    try:
        # lambdify's printer simplifies the logic of Piecewise conditions holding an ITE,
        # which can take minutes (min(logaddexp(x, acos(u)), min(x, acos(u))): bounded
        with _time_limit(LAMBDIFY_SECONDS):
            function = sp.lambdify(arguments, expr, modules=["scipy", "numpy"])  # scipy: erf
    except (RecursionError, SyntaxError, MemoryError, TypeError, NameError, KeyError,
            _OutOfTime):
        return graph_values  # too big, slow or odd for lambdify

    def values(env: dict[str, np.ndarray]) -> Any:
        try:
            return function(*(env[name] for name in names))
        except TypeError:  # lambdify's numpy code can be wrong: np.select on a bare True
            return graph_values(env)

    return values


LAMBDIFY_SECONDS = 1.0
"""How long sympy's lambdify may take to write a formula before it is evaluated as a graph."""


def _kink_arguments(formulas: Iterable[Any]) -> list[Tensor]:
    """Expressions that are 0 exactly where one of the formulas has a kink."""
    found: list[Tensor] = []
    for formula in formulas:
        if isinstance(formula, Tensor):
            for n in toposort(formula):
                children = n.children
                if children is not None and children.op.kinks is not None:
                    kinks = children.op.kinks(children.a, children.b)
                    found.extend(as_tensor(kink) for kink in kinks)
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
    value = np.asarray(value)
    if np.iscomplexobj(value):  # sympy's log(-2) is log(2) + I*pi: not a real value
        value = np.where(value.imag == 0, value.real, np.nan)
    return np.broadcast_to(value.astype(float), (count,))


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
    domain: Iterable[Any] = (),
    confirm: Callable[[dict[str, float]], bool] | None = None,
) -> NumericComparison:
    """Compare two formulas (Tensors, sympy expressions, formula text for `parse`, numbers, or
    functions of a dict of arrays keyed by variable name) at random points. Anything else
    raises `NotSympyError` (a TypeError): it is never handed to `sympy.sympify`.

    Points where a kinked function (relu, abs, step, sign, Max, Heaviside, ...) of either
    formula, or of the extra `kinks` formulas, has its argument at 0 are skipped: conventions
    differ there. Points where both values are NaN or infinite are skipped too; a point where
    only one is finite counts as a difference. Points where a `domain` formula (the function
    being differentiated, or for a graph any part of it) is not finite are outside the domain
    and skipped.

    A difference in floats can be rounding: `confirm(point)`, when given, says whether it is
    real (say, by a high-precision evaluation); a point it clears is not reported.

    >>> from symgrad.ir.graph import var
    >>> x = var("x")
    >>> bool(compare_at_points(2 * x, 2 * sp.Symbol("x", real=True)))
    True
    >>> compare_at_points(x * x, x + x).point is not None
    True
    """
    a, b = _formula(a, "compare_at_points"), _formula(b, "compare_at_points")
    kinks = [_formula(kink, "compare_at_points' kinks") for kink in kinks]
    domain = [_formula(formula, "compare_at_points' domain") for formula in domain]
    formulas = [a, b, *kinks]
    names = [name_of(v) if isinstance(v, Tensor) else v for v in variables or _names(formulas)]
    count = 4 * samples
    env = _candidates(names, count, seed)
    first = _values(_evaluator(a, names), env, count)
    second = _values(_evaluator(b, names), env, count)
    on_kink = np.zeros(count, dtype=bool)
    arguments = list(dict.fromkeys(_kink_arguments(formulas)))
    if arguments:  # one evaluation of all of them: they share most of their nodes
        with np.errstate(all="ignore"):
            try:
                kink_values = evaluate(arguments, _bindings(arguments, names, env))
            except (ValueError, ZeroDivisionError, OverflowError, FloatingPointError):
                kink_values = []
            for values in kink_values:
                on_kink |= np.abs(np.broadcast_to(values, (count,))) < kink_tolerance
    inside = np.ones(count, dtype=bool)
    for formula in domain:
        inside &= _inside_domain(formula, names, env, count)
    finite_first, finite_second = np.isfinite(first), np.isfinite(second)
    comparable = finite_first & finite_second & inside
    overflowed = _overflowed((a, b), (first, second), names, env, rtol, atol)
    agree = (comparable & _close(first, second, rtol, atol)) | (~finite_first & ~finite_second)
    agree |= ~inside | overflowed
    usable = np.flatnonzero(comparable & ~on_kink)[:samples]
    result = NumericComparison(ok=True, compared=len(usable), on_kinks=int(on_kink.sum()))
    differing = np.flatnonzero(~agree & ~on_kink)
    differing = differing[differing <= (usable[-1] if len(usable) else count)]
    cleared = 0
    for index in differing.tolist():
        point = {name: float(env[name][index]) for name in names}
        if confirm is not None and not confirm(point):
            cleared += 1
            continue
        result.ok = False
        result.point = point
        result.values = (float(first[index]), float(second[index]))
        break
    if cleared:
        result.notes.append(
            f"at {cleared} point(s) the float values differ, but a {PRECISE_DIGITS}-digit "
            "evaluation agrees there"
        )
    kink_differences = np.flatnonzero(~agree & on_kink)
    if len(kink_differences):
        index = int(kink_differences[0])
        where = ", ".join(f"{name} = {env[name][index]:g}" for name in names)
        result.notes.append(
            f"the two differ at {where}, which sits on a kink: a convention, not an error"
        )
    if overflowed.any():
        where = ", ".join(f"{name} = {env[name][np.argmax(overflowed)]:g}" for name in names)
        result.notes.append(
            f"skipped {int(overflowed.sum())} point(s) where one side overflowed to inf or NaN "
            f"and its stable form agrees with the other (first at {where})")
    if on_kink.all():
        result.notes.append("every sampled point sits on a kink; compared nowhere else")
    if not len(usable) and not on_kink.all():
        result.notes.append("no sampled point where both formulas are finite")
    return result


def _overflowed(formulas: tuple[Any, Any], values: tuple[np.ndarray, np.ndarray],
                names: Sequence[str], env: dict[str, np.ndarray], rtol: float, atol: float
                ) -> np.ndarray:
    """Points where one formula is inf or NaN and the other finite, but `stabilize` of the
    broken one is finite there and agrees: a float overflow, not a difference."""
    count = len(values[0])
    mask = np.zeros(count, dtype=bool)
    for formula, broken, other in zip(formulas, values, values[::-1]):
        suspects = ~np.isfinite(broken) & np.isfinite(other)
        if not suspects.any() or not isinstance(formula, Tensor | sp.Basic):
            continue
        try:
            stable = stabilize(formula if isinstance(formula, Tensor) else from_sympy(formula),
                               accuracy=PRECISE)
        except (ValueError, TypeError, LookupError):  # a sympy form symgrad cannot read
            continue
        fixed = _values(_evaluator(stable, names), env, count)
        mask |= suspects & np.isfinite(fixed) & _close(fixed, other, rtol, atol)
    return mask


def central_difference(
    f: Tensor, wrt: str, step: float = 1e-5
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """A function of a dict of arrays giving (f(w + h) - f(w - h)) / 2h, h = step*max(1, |w|):
    the numeric derivative `check` falls back on when a graph is too big for sympy.

    >>> from symgrad.ir.graph import var
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
SYMPY_TREE_NODES_PER_SECOND = 10_000
"""How big a written-out tree `check` hands to sympy per second of its `timeout`: sympy's
diff, lambdify and printing take about 40 us per tree node (measured), so 4x to spare."""


class _OutOfTime(BaseException):
    """The time limit passed (a BaseException: sympy's own `except Exception` must not eat it)."""


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
    when it cannot tell within the size and time guards, or the difference holds NaN (sympy
    may still simplify it to 0: a formula undefined somewhere proves nothing).

    >>> x = sp.Symbol("x", real=True)
    >>> simplifies_to_zero(sp.sin(x)**2 + sp.cos(x)**2 - 1, timeout=60)
    True
    >>> print(simplifies_to_zero(sp.Piecewise((sp.nan, x > 0), (0, True))))
    None
    """
    difference = sympy_expression(difference, "simplifies_to_zero")  # sp.simplify sympifies
    if difference.has(sp.nan, sp.zoo):
        return None
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


def _inside_domain(formula: Any, names: list[str], env: dict[str, np.ndarray], count: int
                   ) -> np.ndarray:
    """Where `formula`, and for a graph every part of it, is finite: a comparison can hide a
    NaN part (ge(x, acos(x)) at x < -1 is 0), and there the formula is outside its domain."""
    if isinstance(formula, Tensor):  # its parts end with the formula itself
        with np.errstate(all="ignore"):
            try:
                parts = node_values(formula, _bindings(formula, names, env))
            except (ValueError, ZeroDivisionError, OverflowError, FloatingPointError):
                parts = None
        if parts is not None:
            inside = np.ones(count, dtype=bool)
            for part in parts.values():
                inside &= np.isfinite(np.broadcast_to(np.asarray(part, dtype=float), (count,)))
            return inside
    return np.isfinite(_values(_evaluator(formula, names), env, count))


PRECISE_DIGITS = 30
"""Digits of the evaluation that decides whether a difference in floats is real."""


def precise_value(expr: sp.Expr, point: dict[str, float]) -> float | None:
    """`expr` at `point` (the floats taken exactly) to PRECISE_DIGITS digits, rounded to a
    float; None where it is not a finite real number.

    >>> x = sp.Symbol("x", real=True)
    >>> precise_value((x + 10**12) - 10**12, {"x": 0.1}), precise_value(sp.log(x), {"x": -1.0})
    (0.1, None)
    """
    # Each float exactly (a double has at most 53 significant bits, so 60 digits hold it as
    # far as the evaluation can tell), as a Float: an exact Rational would make sympy compute
    # (81/40)**(1947189/1000000) exactly, a number of millions of digits (24 GB, found by fuzz)
    expr = sympy_expression(expr, "precise_value")
    exact = {s: sp.Float(point[s.name], PRECISE_DIGITS + 30) for s in expr.free_symbols
             if s.name in point}
    try:
        value = expr.xreplace(exact).evalf(PRECISE_DIGITS)
    except (TypeError, ValueError):  # x >= acos(x) at x < -1, Max(0, nan): undefined there
        return None
    if not value.is_number:
        raise ValueError(f"cannot evaluate {value} to a number")
    if value.is_real is not True or value.is_finite is not True:
        return None
    return float(value)


class _DifferPrecisely:
    """The `confirm` test of `compare_at_points` for `check`: do symgrad's derivative `ours`
    and sympy's `theirs` differ at a point when both are evaluated to PRECISE_DIGITS digits?
    (True when that evaluation fails: the float difference stands.)

    Where sympy's derivative is undefined but symgrad's is a number, f's own slope decides: a
    central difference of `f` at that precision. sympy's chain rule can meet log(0) or 0*inf
    where f is flat: 0**(0**x) is 1 for every x > 0, so its derivative is 0 there, but sympy's
    is nan (`slopes` counts the points cleared so).
    """

    def __init__(self, ours: sp.Expr, theirs: sp.Expr, f: sp.Expr, wrt: sp.Symbol,
                 rtol: float, atol: float):
        self.ours, self.theirs, self.f, self.wrt = ours, theirs, f, wrt
        self.rtol, self.atol = rtol, atol
        self.slopes = 0

    def __call__(self, point: dict[str, float]) -> bool:
        try:
            first, second = precise_value(self.ours, point), precise_value(self.theirs, point)
            if first is not None and second is None:
                second = self._slope(point)
                self.slopes += second is not None and self._close(first, second)
        except (ValueError, TypeError, ZeroDivisionError, RecursionError):
            return True
        if first is None or second is None:  # not a real number at 30 digits: no evidence
            return True  # against the float difference, which stands
        return not self._close(first, second)

    def _close(self, first: float, second: float) -> bool:
        return bool(_close(np.array(first), np.array(second), self.rtol, self.atol))

    def _slope(self, point: dict[str, float]) -> float | None:
        """(f(w + h) - f(w - h)) / 2h at PRECISE_DIGITS digits (sympy's evalf works out the
        cancellation), h = 1e-12*max(1, |w|); None where it is not a finite number."""
        w = self.wrt
        h = sp.Rational(1, 10**12) * max(1, abs(sp.Rational(point[w.name])))
        slope = (self.f.xreplace({w: w + h}) - self.f.xreplace({w: w - h})) / (2 * h)
        return precise_value(slope, point)


def simplest_fractions(expr: sp.Expr) -> sp.Expr:
    """Each fraction written out from a float (0.333... as 3333333333333333/10**16) replaced by
    the simplest fraction that rounds to the same float (1/3), so sympy sees what was meant.

    >>> simplest_fractions(sp.Rational(repr(1 / 3)) * sp.Symbol("x"))
    x/3
    """
    replacements = {}
    for number in expr.atoms(sp.Rational):
        if number.q == 1:
            continue
        value = float(number)
        simpler = Fraction(value).limit_denominator(_SIMPLE_DENOMINATOR)
        if simpler.denominator < number.q and float(simpler) == value:
            replacements[number] = sp.Rational(simpler.numerator, simpler.denominator)
    return expr.xreplace(replacements) if replacements else expr


_SIMPLE_DENOMINATOR = 10**6


def _derivative_by_symgrad_conventions(
    f: sp.Expr, wrt: sp.Symbol
) -> tuple[sp.Expr, list[str]]:
    """sympy's derivative of `f`, rewritten to symgrad's conventions, with a note per rewrite."""
    notes = []
    # sympy writes 0**(-y) as zoo**y: 0 where y < 0
    signs = {sp.S.Zero: 1, sp.zoo: -1}
    zero_powers = [p for p in f.atoms(sp.Pow) if p.base in signs and p.exp.has(wrt)]
    if zero_powers:
        # sympy's d/dy 0**y is 0**y*log(0) = nan; symgrad's is 0 where y > 0, as autograd's.
        f = f.xreplace({
            p: sp.Piecewise((0, signs[p.base] * p.exp > 0), (p, True)) for p in zero_powers
        })
        notes.append("d/dy 0**y is 0 where y > 0 (symgrad's convention; sympy's is nan)")
    if f.has(sp.Mod, sp.floor, sp.ceiling):
        # sympy leaves d/dx floor(x) unevaluated (a Derivative, or a Subs of one): 0 off the
        # jumps, as symgrad's, with Mod(p, q) written p - q*floor(p/q) first
        f = f.replace(sp.Mod, lambda p, q: p - q * sp.floor(p / q))
        derivative = sp.diff(f, wrt).replace(
            lambda e: isinstance(e, sp.Derivative) and e.expr.func in (sp.floor, sp.ceiling),
            lambda e: sp.S.Zero).replace(
            lambda e: isinstance(e, sp.Subs) and e.expr == 0, lambda e: sp.S.Zero)
        notes.append("floor, ceil and mod jump at integers; away from the jumps floor' = "
                     "ceil' = 0, as symgrad takes them everywhere")
    else:
        derivative = sp.diff(f, wrt)
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


def _refuse_inner_nodes(variables: list[Tensor]) -> None:
    inner = [node for node in variables if not node.is_var]
    if inner:
        raise TypeError(f"check differentiates with respect to variables or names (sympy.diff "
                        f"needs a symbol), got {inner[0]}")


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
    `check` does for symgrad's own. sympy works in a worker process, within
    `answer_seconds(timeout)` (see `check`); `sympy_f`, when given, is f as sympy writes it.

    >>> from symgrad.ir.graph import var
    >>> x = var("x")
    >>> result = check_derivative(x**3, x, 3 * x)
    >>> bool(result), result.point
    (False, {'x': 1.947189})
    """
    variables, single = as_variables(wrt, f)
    if not single:
        raise TypeError(f"check_derivative compares one partial: give one variable, got {wrt!r}")
    _refuse_inner_nodes(variables)
    wrt = variables[0]
    if sympy_f is not None:
        sympy_f = sympy_expression(sympy_f, "check_derivative's sympy_f")
    try:
        return _ask_sympy(f, wrt, derivative, samples, seed, symbolic, timeout, sympy_f, label)
    except SympyTimeoutError as error:
        return _check_by_differences(f, wrt, derivative, str(error), samples, seed, label)


def answer_seconds(timeout: float) -> float:
    """How long `check` waits for sympy's answer on one variable: `timeout` for writing out
    and differentiating f, `timeout` for simplifying the difference, LAMBDIFY_SECONDS for
    writing sympy's derivative as code, and a second for the rest.

    >>> answer_seconds(2.0)
    6.0
    """
    return 2 * timeout + LAMBDIFY_SECONDS + 1.0


def _ask_sympy(f: Tensor, wrt: Tensor, derivative: Tensor, samples: int, seed: int,
               symbolic: bool, timeout: float, sympy_f: sp.Expr | None, label: str
               ) -> CheckResult:
    """sympy's verdict on `derivative`, from a worker process (`SympyTimeoutError` when it
    does not answer in time); central differences for a formula too big for sympy."""
    too_big = _past_sympy(f, derivative, timeout)
    if too_big is not None:
        return _check_by_differences(f, wrt, derivative, too_big, samples, seed, label)
    if not _worker_has_ops(f, derivative):  # the worker cannot rebuild the graph: here, then
        return sympy_verdict(f, wrt, derivative, samples, seed, symbolic, timeout, sympy_f, label)
    result: CheckResult = sympy_worker.run(
        sympy_verdict, f, wrt, derivative, samples, seed, symbolic, timeout, sympy_f, label,
        seconds=answer_seconds(timeout),
    )
    result.derivative = derivative  # the caller's node, not its copy from the worker
    return result


_WORKER_OPS = dict(OPS)
"""The ops a worker process has: those of symgrad's own table. An op registered later lives
in this process only (its numpy and sympy forms are functions, which do not pickle)."""


def _worker_has_ops(*graphs: Tensor) -> bool:
    for graph in graphs:
        for node in toposort(graph):
            children = node.children
            if children is not None and _WORKER_OPS.get(children.op.name) is not children.op:
                return False
    return True


def sympy_verdict(f: Tensor, wrt: Tensor, derivative: Tensor, samples: int, seed: int,
                  symbolic: bool, timeout: float, sympy_f: sp.Expr | None, label: str
                  ) -> CheckResult:
    """The sympy side of `check_derivative`, run where it is called (the worker process
    runs it): each sympy step bounded by a SIGALRM timer of `timeout` s where one is
    available (the main thread, no other alarm pending)."""
    deep = graph_depth(toposort(f)) > DEEP_GRAPH or graph_depth(toposort(derivative)) > DEEP_GRAPH
    if deep and not getattr(in_deep_thread, "active", False):
        return with_deep_stack(sympy_verdict, f, wrt, derivative, samples, seed, symbolic,
                               timeout, sympy_f, label)
    try:
        # the size guard bounds most formulas; some small ones still send sympy's automatic
        # evaluation into minutes (a comparison of Piecewise terms asks for their periodicity)
        with _time_limit(timeout):
            if sympy_f is None:
                sympy_f = to_sympy(f, rational=True, real=True)
            sympy_f = simplest_fractions(sympy_f)
            ours = simplest_fractions(to_sympy(derivative, rational=True, real=True))
            wrt_symbol = sp.Symbol(wrt.name, real=True)
            theirs, notes = _derivative_by_symgrad_conventions(sympy_f, wrt_symbol)
    except (ValueError, TypeError, ArithmeticError) as error:  # relu(nan): Max(nan, 0) refused
        reason = f"sympy cannot take this formula ({error})"
        return _check_by_differences(f, wrt, derivative, reason, samples, seed, label)
    except _OutOfTime:
        reason = f"sympy did not write out and differentiate f within the {timeout:g} s timeout"
        return _check_by_differences(f, wrt, derivative, reason, samples, seed, label)
    if theirs.has(sp.Derivative):
        reason = f"sympy leaves part of the derivative unevaluated ({short_formula(theirs, 80)})"
        return _check_by_differences(f, wrt, derivative, reason, samples, seed, label)
    names = _names([f, derivative, wrt])
    confirm = _DifferPrecisely(ours, theirs, sympy_f, wrt_symbol, rtol=1e-6, atol=1e-9)
    numeric = compare_at_points(
        derivative, theirs, names, samples=samples, seed=seed, kinks=[f, sympy_f], domain=[f],
        confirm=confirm,
    )
    notes.extend(numeric.notes)
    if confirm.slopes:
        notes.append(
            f"of those, at {confirm.slopes} point(s) sympy's derivative is undefined and "
            f"symgrad's agrees with f's own slope (a {PRECISE_DIGITS}-digit central difference):"
            " sympy's chain rule meets log(0) or 0*inf where f is flat"
        )
    proved = simplifies_to_zero(ours - theirs, timeout) if symbolic else None
    # The points decide: a difference is shown at a point, with both values. A symbolic result
    # only adds to agreement at the points (and stands in when every point sat on a kink).
    ok = numeric.ok and bool(numeric.compared or confirm.slopes or numeric.on_kinks
                             or not names or proved)
    if proved is True and not numeric.ok:
        notes.append(
            "sympy simplifies the difference to 0, yet the two differ at the point shown "
            f"(also to {PRECISE_DIGITS} digits): the simplification does not hold there"
        )
    elif proved is False and numeric.ok:
        notes.append(
            "sympy reduces the difference to a nonzero number, too small to show at any "
            "sampled point: rounding of float constants"
        )
    return CheckResult(
        ok=ok,
        wrt=name_of(wrt),
        symgrad=ours,
        sympy=theirs,
        derivative=derivative,
        point=None if numeric.ok else numeric.point,
        values=None if numeric.ok else numeric.values,
        notes=notes,
        proved=proved is True,
        compared=numeric.compared,
        slopes=confirm.slopes,
        label=label,
    )


def _past_sympy(f: Tensor, derivative: Tensor | None, timeout: float) -> str | None:
    """Why `f` (and its `derivative`) are too big to hand to sympy within `timeout` seconds,
    or None. sympy works on the formula written out as a tree, which can be exponentially
    bigger than the graph (12 levels of sin(f)*cos(f): 36 ops, a tree of 16,381 nodes), so the
    tree is measured first, without building it.
    """
    order = toposort(f)
    depth, size = graph_depth(order), sum(1 for node in order if node.children is not None)
    if depth > SYMPY_MAX_DEPTH or size > SYMPY_MAX_OPS:
        return (
            f"f has depth {depth} and {size} ops, past what sympy.diff handles in reasonable "
            f"time (depth {SYMPY_MAX_DEPTH}, {SYMPY_MAX_OPS} ops)"
        )
    limit = max(1, int(SYMPY_TREE_NODES_PER_SECOND * timeout))
    for name, formula in (("f", f), ("the derivative", derivative)):
        if formula is None:
            continue
        tree = inlined_size(formula, limit)
        if tree > limit:
            return (
                f"{name} written out as a tree has over {limit:,} nodes ({count_ops(formula):,} "
                f"in the graph), more than sympy works through in the {timeout:g} s timeout"
            )
    return None


def _check_by_differences(
    f: Tensor,
    wrt: Tensor,
    derivative: Tensor,
    reason: str,
    samples: int,
    seed: int,
    label: str,
) -> CheckResult:
    names = _names([f, derivative, wrt])
    numeric = compare_at_points(
        derivative,
        central_difference(f, name_of(wrt)),
        names,
        samples=samples,
        seed=seed,
        rtol=1e-4,
        atol=1e-6,
        kinks=[f],
        kink_tolerance=1e-3,
        domain=[f],
    )
    notes = [f"{reason}: compared with central differences (to 1e-4) instead", *numeric.notes]
    return CheckResult(
        ok=numeric.ok and bool(numeric.compared or numeric.on_kinks or not names),
        wrt=name_of(wrt),
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

    sympy works in a worker process: writing out and differentiating f get `timeout` s,
    simplifying gets `timeout` s, and a worker that has not answered by `answer_seconds
    (timeout)` (2*timeout + 2 s) is stopped, from any thread, with or without an alarm
    pending; central differences then decide, with a note "sympy did not answer within T s".
    (A graph with an op registered at run time, which a worker cannot rebuild, is checked in
    this process, where only the main thread has a timer.)

    At kinks sympy and symgrad use different conventions (sympy's Heaviside(0) = 1/2, symgrad's
    relu'(0) = 0); points there are skipped and the convention is noted, never failed.

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import relu, sin
    >>> x, y = variables("x y")
    >>> bool(check(sin(x) * y, x))
    True
    >>> print(check(relu(x) * y, [x, y]))
    d/dx: agree (proved symbolically; equal at 20 random points)
      symgrad: y*step(x)
      sympy:   y*step(x)
      note: sympy writes relu' as Heaviside(x) with Heaviside(0) = 1/2; symgrad's step(0) = 0 (relu'(0) = 0). Compared with symgrad's value at 0, away from kinks.
    d/dy: agree (proved symbolically; equal at 20 random points)
      symgrad: relu(x)
      sympy:   relu(x)
    """  # noqa: E501

    f = unwrap(f)
    if isinstance(f, str):
        f = parse(f)
    if not isinstance(f, Tensor):
        raise TypeError(f"check takes a Tensor (or text) to differentiate, got {type(f).__name__}")
    variables, single = as_variables(wrt, f)
    _refuse_inner_nodes(variables)
    if any(node.shape for node in toposort(f)) or any(w.shape for w in variables):
        # sympy has no matrix calculus to compare with: the scalar expansion stands in
        tensor_results = check_tensor(f, variables, samples=min(samples, 3), seed=seed)
        return tensor_results[0] if single else CheckResults(tensor_results)
    derivatives = [grad(f, variables[0])] if single else gradient(f, variables)
    results = []
    unanswered = None  # once sympy has not answered on f, it is not asked again
    for w, d in zip(variables, derivatives, strict=True):
        if unanswered is None:
            try:
                results.append(_ask_sympy(f, w, d, samples, seed, symbolic, timeout, None,
                                          "symgrad"))
                continue
            except SympyTimeoutError as error:
                unanswered = str(error)
        results.append(_check_by_differences(f, w, d, unanswered, samples, seed, "symgrad"))
    return results[0] if single else CheckResults(results)
