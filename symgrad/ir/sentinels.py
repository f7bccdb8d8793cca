"""Marks that differentiation hands around in place of derivatives, each its own type, so
code tests `type(local) is Zero` rather than a convention on `0` or `None` (JAX's `Zero`):
`NO_DERIVATIVE` for an operand that has no derivative, `Zero(shape)` for one that is exactly
0 everywhere (a strong zero: it contributes nothing, even against a NaN adjoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeAlias

if TYPE_CHECKING:
    from symgrad.ir.graph import Tensor


class NoDerivative:
    """The mark of an operand with no derivative: a constant exponent of `pow`, an operand an
    op takes only for its shape. One object, `NO_DERIVATIVE`."""

    _instance: NoDerivative | None = None

    def __new__(cls) -> NoDerivative:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_DERIVATIVE"


NO_DERIVATIVE: Final = NoDerivative()


@dataclass(frozen=True, slots=True)
class Zero:
    """A derivative or adjoint that is exactly 0 everywhere, standing for zeros of `shape`
    (() for a scalar): a comparison's local derivative, the adjoint of an operand that gives
    only its shape. Nothing is built for it.

    >>> Zero((2, 3)), ZERO.shape
    (Zero(shape=(2, 3)), ())
    """

    shape: tuple[int, ...] = ()


ZERO: Final = Zero()
"""The scalar `Zero`."""


class NoDerivativeError(ValueError):
    """A derivative asked for through an operand that has none (`NO_DERIVATIVE`)."""


Local: TypeAlias = "Tensor | int | float | Zero | NoDerivative"
"""What `partials` (and `pullback`) give per operand: a Tensor expression, a number (1 and -1
for add's and sub's operands), `Zero` or `NO_DERIVATIVE`."""
