"""Hypothesis strategies: random expressions built from the op table, with domain guards so
every generated expression is finite and smooth on the sampled points (minitorch's
`tests/strategies.py`), and one compare helper that treats NaN on both sides as equal.

Every op of the table takes part with no edit here: an operand is squashed into the op's
sampling range (`low + (high - low)*sigmoid(a)`), unless a hand-written guard below fits it
better (log(a*a + 1), like minitorch's log(a + 100000)).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

import symgrad as sg
from symgrad.ir.graph import Tensor
from symgrad.ir.op import OPS, Op
from symgrad.ir.sentinels import NO_DERIVATIVE

X, Y, Z = sg.variables("x y z")
VARIABLES = (X, Y, Z)

# Hand-written guards for the first ops; the rest get the squash into their domain.
GUARDS: dict[str, Callable[..., Tensor]] = {
    "neg": lambda a: -a,
    "exp": lambda a: sg.exp(sg.tanh(a)),
    "log": lambda a: sg.log(a * a + 1),
    "tan": lambda a: sg.tan(sg.tanh(a)),
    "sqrt": lambda a: sg.sqrt(a * a + 1),
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1),
    "pow": lambda a, b: (a * a + 1) ** sg.tanh(b),
}


def _squash(op: Op, position: int, a: Tensor) -> Tensor:
    spec = op.domain.ranges[position]
    if position in without_derivative(op):  # polygamma's order: a constant
        return sg.const(fixed_operand(spec))
    if spec.values is not None:  # a choice (select_zero's condition): a comparison's 0/1
        return a > 0
    return spec.low + (spec.high - spec.low) * sg.sigmoid(a)


def fixed_operand(spec) -> float:
    """The constant random expressions give an operand with no derivative: the second of its
    values (polygamma's order 1; 0 would fold to digamma), else its range's middle."""
    if spec.values is not None:
        return spec.values[min(1, len(spec.values) - 1)]
    return (spec.low + spec.high) / 2


@functools.cache
def without_derivative(op: Op) -> frozenset[int]:
    """The operand positions the op has no derivative in (its partial is NO_DERIVATIVE:
    polygamma's order, gammainc's a). Random expressions feed them a constant
    (`fixed_operand`), so differentiating an expression never asks for the missing
    derivative."""
    operands = VARIABLES[: op.arity]
    node = op(*operands)
    partials = op.partials(*operands, *[None] * (2 - op.arity), node)
    return frozenset(i for i, partial in enumerate(partials) if partial is NO_DERIVATIVE)


def guarded(op: Op, *operands: Tensor) -> Tensor:
    """op applied to operands moved into its domain, so the result is finite."""
    guard = GUARDS.get(op.name)
    if guard is not None:
        return guard(*operands)
    if op.domain.holds is not None:  # a joint condition (atan2 away from the origin)
        operands = (operands[0], 2 + sg.tanh(operands[1]))
    return op(*(_squash(op, i, a) for i, a in enumerate(operands)))


def kinked() -> frozenset[str]:
    """Ops with a kink or a jump: finite differences and sympy disagree there by convention.
    An op choosing by a condition (select_zero) counts: its guard builds the condition with
    a comparison."""
    return frozenset(
        name
        for name, op in OPS.items()
        if not op.smooth or any(spec.values is not None for spec in op.domain.ranges)
    )


KINKED = kinked()

numbers = st.floats(min_value=-3, max_value=3, allow_nan=False, allow_infinity=False).map(
    lambda v: round(v, 3)
)


def leaves(variables: tuple[Tensor, ...] = VARIABLES) -> st.SearchStrategy[Tensor]:
    return st.one_of(st.sampled_from(variables), numbers.map(sg.const))


def expressions(
    variables: tuple[Tensor, ...] = VARIABLES, smooth: bool = True, max_leaves: int = 12
) -> st.SearchStrategy[Tensor]:
    """Random expressions over `variables`; `smooth` leaves out the ops with kinks."""
    allowed = [name for name in OPS if not (smooth and name in kinked())]
    unary = sorted(name for name in allowed if OPS[name].arity == 1)
    binary = sorted(name for name in allowed if OPS[name].arity == 2)

    def extend(children: st.SearchStrategy[Tensor]) -> st.SearchStrategy[Tensor]:
        return st.one_of(
            st.tuples(st.sampled_from(unary), children).map(
                lambda pair: guarded(OPS[pair[0]], pair[1])
            ),
            st.tuples(st.sampled_from(binary), children, children).map(
                lambda triple: guarded(OPS[triple[0]], triple[1], triple[2])
            ),
        )

    return st.recursive(leaves(variables), extend, max_leaves=max_leaves)


def operand_points(op: Op, margin: float = 1e-3) -> st.SearchStrategy[dict[str, float]]:
    """Points {"a": ..., "b": ...} of the op's domain, farther than `margin` from its kinks."""
    columns = []
    for position in range(op.arity):
        spec = op.domain.ranges[position]
        if spec.values is not None:
            columns.append(st.sampled_from(spec.values))
        else:
            columns.append(st.floats(spec.low, spec.high))

    def inside(values: tuple) -> bool:
        if not op.domain.admits(values):
            return False
        return all(abs(kink) > margin for kink in op.kinks_at(values))

    return st.tuples(*columns).filter(inside).map(lambda values: dict(zip("ab", values)))


def points(variables: tuple[Tensor, ...] = VARIABLES) -> st.SearchStrategy[dict[str, float]]:
    """A point: a value in [-2, 2] for each variable, keyed by name."""
    values = st.floats(min_value=-2, max_value=2, allow_nan=False, allow_infinity=False)
    return st.fixed_dictionaries({v.name: values for v in variables})


def close(actual, expected, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """Equal within tolerance, NaN on both sides counting as equal (tinygrad `_cmp_nan_okay`)."""
    return bool(np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True))
