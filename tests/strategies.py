"""Hypothesis strategies: random expressions built from the op table, with domain guards so
every generated expression is finite and smooth on the sampled points (minitorch's
`tests/strategies.py`), and one compare helper that treats NaN on both sides as equal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

import symgrad as sg
from symgrad.graph import Tensor

X, Y, Z = sg.variables("x y z")
VARIABLES = (X, Y, Z)

# How each op is applied in generated expressions: guarded so values stay finite
# (log(a*a + 1), like minitorch's log(a + 100000)). Every op in the table needs a row here.
UNARY_BUILDERS: dict[str, Callable[[Tensor], Tensor]] = {
    "neg": lambda a: -a,
    "exp": lambda a: sg.exp(sg.tanh(a)),
    "log": lambda a: sg.log(a * a + 1),
    "sin": sg.sin,
    "cos": sg.cos,
    "tan": lambda a: sg.tan(sg.tanh(a)),
    "tanh": sg.tanh,
    "sigmoid": sg.sigmoid,
    "sqrt": lambda a: sg.sqrt(a * a + 1),
    "relu": sg.relu,
    "abs": sg.abs,
    "step": sg.step,
    "sign": sg.sign,
}
BINARY_BUILDERS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1),
    "pow": lambda a, b: (a * a + 1) ** sg.tanh(b),
}
# Ops with a kink at 0: finite differences and sympy disagree there by convention.
KINKED = frozenset({"relu", "abs", "step", "sign"})

numbers = st.floats(min_value=-3, max_value=3, allow_nan=False, allow_infinity=False).map(
    lambda v: round(v, 3)
)


def leaves(variables: tuple[Tensor, ...] = VARIABLES) -> st.SearchStrategy[Tensor]:
    return st.one_of(st.sampled_from(variables), numbers.map(sg.const))


def expressions(
    variables: tuple[Tensor, ...] = VARIABLES, smooth: bool = True, max_leaves: int = 12
) -> st.SearchStrategy[Tensor]:
    """Random expressions over `variables`; `smooth` leaves out the ops with kinks."""
    unary = sorted(name for name in UNARY_BUILDERS if not (smooth and name in KINKED))
    binary = sorted(BINARY_BUILDERS)

    def extend(children: st.SearchStrategy[Tensor]) -> st.SearchStrategy[Tensor]:
        return st.one_of(
            st.tuples(st.sampled_from(unary), children).map(
                lambda pair: UNARY_BUILDERS[pair[0]](pair[1])
            ),
            st.tuples(st.sampled_from(binary), children, children).map(
                lambda triple: BINARY_BUILDERS[triple[0]](triple[1], triple[2])
            ),
        )

    return st.recursive(leaves(variables), extend, max_leaves=max_leaves)


def points(variables: tuple[Tensor, ...] = VARIABLES) -> st.SearchStrategy[dict[str, float]]:
    """A point: a value in [-2, 2] for each variable, keyed by name."""
    values = st.floats(min_value=-2, max_value=2, allow_nan=False, allow_infinity=False)
    return st.fixed_dictionaries({v.name: values for v in variables})


def close(actual, expected, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """Equal within tolerance, NaN on both sides counting as equal (tinygrad `_cmp_nan_okay`)."""
    return bool(np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True))
