"""Stability under attack: `stabilize(f)` and `gradient(f, x, stable=True)` are as accurate as
`f` and its plain gradient wherever those are accurate (within `ACCURATE_BITS` of the correctly
rounded value from `precise.py`), at ordinary and extreme points of random formulas built around
the textbook unstable shapes; and `advise` on random formulas at extreme inputs gives a report or
a clear error, never a crash or an abort of the interpreter (it runs in a forked child)."""

from __future__ import annotations

import faulthandler
import math
import multiprocessing
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import VARIABLES, expressions

import symgrad as sg
from symgrad.backends.precise import bits_of_error, precise
from symgrad.ir.graph import free_variables, name_of, toposort
from symgrad.rewrite.stabilize import ACCURATE_BITS

E = sg.exp

TEXTBOOK = [
    lambda a, b: sg.log(1 + E(a)),
    lambda a, b: sg.log(sg.sigmoid(a)),
    lambda a, b: E(a) / (1 + E(a)),
    lambda a, b: 1 / (1 + E(a)),
    lambda a, b: 1 - sg.sigmoid(a),
    lambda a, b: sg.log(1 + a),
    lambda a, b: sg.log(1 - a),
    lambda a, b: E(a) - 1,
    lambda a, b: 1 - E(a),
    lambda a, b: 1 - sg.cos(a),
    lambda a, b: (E(a) - E(-a)) / 2,
    lambda a, b: (E(a) - E(-a)) / (E(a) + E(-a)),
    lambda a, b: 1 - sg.tanh(a) ** 2,
    lambda a, b: sg.tanh(a) ** 2 - 1,
    lambda a, b: sg.log(E(a)),
    lambda a, b: sg.log(E(a) / (1 + b * b)),
    lambda a, b: sg.log(E(a) + E(b) + 1),
    lambda a, b: sg.log(E(a) + E(b)) - a,
    lambda a, b: E(a) / (E(a) + E(b) + 1),
    lambda a, b: E(b) / (E(a) + E(b)),
    lambda a, b: sg.sqrt(a**2 + b**2),
]
"""Formulas each row of `stable_rules.py` rewrites (and a few it must leave alone)."""

EXTREMES = (0.0, 1e-300, -1e-300, 1e-8, -1e-8, 1.0, -1.0, 37.0, -37.0, 709.0, 710.0, -745.0,
            800.0, -800.0, 1e3, -1e3, 1e16, -1e16, 1e200, -1e200, 1e308, -1e308)

_operands = st.one_of(
    st.sampled_from(VARIABLES),
    st.tuples(st.sampled_from(VARIABLES), st.sampled_from([-2.0, 0.5, 3.0])).map(
        lambda pair: pair[0] * pair[1]),
    expressions(max_leaves=4),
)
_textbook = st.tuples(st.sampled_from(TEXTBOOK), _operands, _operands).map(
    lambda triple: triple[0](triple[1], triple[2]))
formulas = st.one_of(
    _textbook,
    st.tuples(_textbook, _textbook, st.sampled_from(["+", "*", "/", "in"])).map(
        lambda triple: _combine(*triple)),
    expressions(max_leaves=8),
)
values = st.one_of(st.sampled_from(EXTREMES), st.floats(-3, 3),
                   st.floats(-1e300, 1e300, allow_nan=False))
points = st.fixed_dictionaries({name_of(v): values for v in VARIABLES})


def _combine(a: sg.Tensor, b: sg.Tensor, how: str) -> sg.Tensor:
    if how == "in":  # b's shape around a as its operand: log(1 + exp(log(1 + x)))
        return sg.log(1 + E(a)) * b
    return {"+": a + b, "*": a * b, "/": a / (1 + b * b)}[how]


def _value(t: sg.Tensor, point: dict[str, float]) -> float:
    names = {name_of(v) for v in free_variables(t)}
    with np.errstate(all="ignore"):
        return float(sg.evaluate(t, {n: v for n, v in point.items() if n in names}))


SLACK_BITS = 4.0
"""Bits by which the candidate may pass ACCURATE_BITS where the original is accurate: where
both cancel (a gradient of 1e-4 from terms of size 1), another order of the same roundings
lands some ulps away (10.6 bits before, 12.0 after, at one fuzz case)."""
ZERO_SCALE = 2.0 ** (ACCURATE_BITS - 53)
"""How far from an exact value below it a value is within rounding: such a value is mostly a
cancellation of terms of size 1 (the gradient of a softmax at a symmetric point, 0; or 0.5 +
-2e-300 - 0.5 where another order gives -2e-300), and differently ordered roundings leave some
ulps of 1; the plain formula's exact result there is luck. (Each rewrite is checked relative
to tiny values by stabilize itself.)"""


def _terms(t: sg.Tensor, limit: int = 64) -> list[sg.Tensor]:
    """The terms of the sum at the top of `t` (through +, - and negation), at most `limit`."""
    terms, stack = [], [t]
    while stack:
        node = stack.pop()
        children = node.children
        if children is not None and children.op.name in ("add", "sub", "neg") \
                and len(stack) + len(terms) < limit:
            stack += [c for c in (children.a, children.b) if c is not None]
        else:
            terms.append(node)
    return terms


def _within_rounding_of_its_terms(candidate: sg.Tensor, point: dict[str, float], now: float,
                                  want: float) -> bool:
    """Whether `now` is within 2**(ACCURATE_BITS + SLACK_BITS) ulps of the largest term of
    the sum at the top of `candidate`: 0.5 + -2e-8 - 0.5 rounds to some ulps of 0.5 whatever
    the formula's own accuracy (the plain gradient summed it in a luckier order)."""
    scale = max(abs(_value(term, point)) for term in _terms(candidate))
    return bool(abs(now - want) <= scale * 2.0 ** (ACCURATE_BITS + SLACK_BITS - 52))


def assert_as_accurate(original: sg.Tensor, candidate: sg.Tensor, point: dict[str, float]
                       ) -> None:
    """Where `original` is within ACCURATE_BITS of its exact value, `candidate` is within
    ACCURATE_BITS + SLACK_BITS (within ZERO_SCALE where the exact value is below it, and of the
    largest term where it is a sum)."""
    names = {name_of(v) for v in free_variables(original)}
    exact = precise(toposort(original), {n: v for n, v in point.items() if n in names})
    want = exact.values[-1]
    if exact.out_of_reach[-1] or math.isnan(want):
        return
    was, now = _value(original, point), _value(candidate, point)
    errors = bits_of_error(np.array([was, now]), np.full(2, want))
    if errors[0] > ACCURATE_BITS or errors[1] <= ACCURATE_BITS + SLACK_BITS:
        return
    if abs(want) <= ZERO_SCALE and abs(now - want) <= ZERO_SCALE:
        return
    assert _within_rounding_of_its_terms(candidate, point, now, want), (
        str(original), str(candidate), point, was, now, want, errors)


@given(formulas, points)
def test_stabilize_is_as_accurate_as_the_formula_wherever_that_is_accurate(f, point):
    assert_as_accurate(f, sg.stabilize(f), point)


@given(formulas, points)
def test_stable_gradient_is_as_accurate_as_the_gradient_wherever_that_is_accurate(f, point):
    variables = free_variables(f)
    if not variables:
        return
    wrt = variables[0]
    assert_as_accurate(sg.gradient(f, wrt), sg.gradient(f, wrt, stable=True), point)


# --- advise in a child --------------------------------------------------------------------

CLEAR_ERRORS = (ValueError, LookupError)
"""What advise may raise for a formula it cannot measure: bad ranges, an op without an exact
form; anything else (TypeError from gmpy2, OverflowError, RecursionError) is a bug."""

EXTREME_RANGES = [None, {"x": (1e200, 1e300)}, {"x": (-1e300, -1e200)}, {"x": (700.0, 800.0)},
                  {"x": (-1e-300, 1e-300)}, {"x": (-1e308, 1e308)}]


def _serve(connection: Any) -> None:
    """The child: advise on each formula it receives, answering 'ok', 'clear: ...' or 'bug'
    (its stderr is closed: an abort shows as its exit code, -6, in the parent)."""
    faulthandler.disable()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    while True:
        try:
            f, ranges = connection.recv()
        except EOFError:
            return
        try:
            variables = {name_of(v) for v in free_variables(f)}
            ranges = {n: r for n, r in (ranges or {}).items() if n in variables}
            advice = sg.advise(f, ranges=ranges, count=4)
            answer = f"ok {len(advice.findings)} {advice.out_of_reach}"
            str(advice), advice.markdown()  # the report itself must print
        except CLEAR_ERRORS as error:
            answer = f"clear: {type(error).__name__}: {error}"
        except Exception as error:  # noqa: BLE001 - reported to the parent as the failure
            answer = f"bug: {type(error).__name__}: {error}"
        connection.send(answer)


class _Worker:
    """A forked child kept across examples (forking per example would cost more than advise)."""

    def __init__(self) -> None:
        self.process: Any = None

    def ask(self, f: Any, ranges: dict | None, seconds: float = 120.0) -> str:
        if self.process is None or not self.process.is_alive():
            context = multiprocessing.get_context("fork")
            self.connection, child = context.Pipe()
            self.process = context.Process(target=_serve, args=(child,), daemon=True)
            self.process.start()
            child.close()
        self.connection.send((f, ranges))
        if not self.connection.poll(seconds):
            self.stop()
            return f"bug: no answer in {seconds:.0f} s"
        try:
            return self.connection.recv()
        except EOFError:
            code = self.process.exitcode
            self.stop()
            return f"bug: the child died (exit code {code})"

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.process = None


@pytest.fixture(scope="module")
def worker():
    worker = _Worker()
    yield worker
    worker.stop()


@given(f=formulas, ranges=st.sampled_from(EXTREME_RANGES))
def test_advise_at_extreme_inputs_reports_or_raises_a_clear_error(worker, f, ranges):
    answer = worker.ask(f, ranges)
    assert not answer.startswith("bug"), (str(f), ranges, answer)


class _Aborts:
    """Unpickled in the child, it aborts the interpreter there, as gmp did."""

    def __reduce__(self):
        return os.abort, ()


def test_the_worker_reports_an_abort_as_a_failure(worker):
    assert worker.ask(_Aborts(), None).startswith("bug: the child died")
    assert worker.ask(sg.var("x"), None).startswith("ok")
