"""How accurate formulas are in float64: their values from `evaluate` against the correctly
rounded ones from `precise`, in bits of error. This is the measurement `stabilize` judges its
rewrites by (the rewrite layer's `Accuracy` seam), passed in by the layers above it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from symgrad.backends.evaluate import evaluate
from symgrad.backends.precise import NoPreciseFormError, bits_of_error, precise
from symgrad.ir.graph import Tensor, toposort


class PreciseAccuracy:
    """Bits of error of float64 evaluation against the exact values of `precise`.

    >>> from symgrad.ir.graph import var
    >>> from symgrad.ops.scalar import exp, log, softplus
    >>> x = var("x")
    >>> measured = PRECISE.bits_of_error([log(1 + exp(x)), softplus(x)], [{"x": 1.0}, {"x": 800.0}])
    >>> [tuple(round(bits) for bits in errors) for errors in measured]  # inf for 800: 62 bits
    [(0, 0), (62, 0)]
    """

    def bits_of_error(self, formulas: Sequence[Tensor], points: Sequence[dict[str, float]]
                      ) -> Iterator[tuple[float, ...]]:
        """At each of `points` where the first formula's exact value is a real number within
        reach, in order, the bits of error of each formula's float64 value against it;
        lazily (the exact values cost the most). Nothing when the first formula has an op
        with no exact (interval) form."""
        if not points:
            return
        columns = {name: np.array([point[name] for point in points]) for name in points[0]}
        with np.errstate(all="ignore"):
            computed = evaluate(list(formulas), columns)
        values = np.array([np.broadcast_to(np.asarray(value, dtype=np.float64), (len(points),))
                           for value in computed])
        order = toposort(formulas[0])
        for index, point in enumerate(points):
            try:
                exact = precise(order, point)
            except NoPreciseFormError:
                return
            if exact.out_of_reach[-1] or np.isnan(exact.values[-1]):
                continue
            errors = bits_of_error(values[:, index], np.full(len(formulas), exact.values[-1]))
            yield tuple(float(error) for error in errors)


PRECISE = PreciseAccuracy()
"""The accuracy `sg.stabilize`, `gradient(..., stable=True)`, `check` and `advise` use."""
