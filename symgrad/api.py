"""What no one layer owns: compositions of layers side by side on one floor. `gradient(f, x,
stable=True)` takes the sweep's partials of `stabilize(f)` and stabilizes them in turn, so
neither autodiff nor rewrite imports the other; `stabilize` hands the rewrite layer the exact
measurement of the backends, so neither of those imports the other either."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, overload

from symgrad.autodiff import diff
from symgrad.backends.accuracy import PRECISE
from symgrad.ir.graph import Tensor, as_tensor
from symgrad.rewrite import stabilize as stable_rewrites


def stabilize(t_or_list: Tensor | Iterable[Tensor], explain: bool = False) -> Any:
    """An equal Tensor (or a list for a list) in numerically stable forms: softplus, logaddexp,
    log1p, expm1, hypot, sigmoid where the formula overflows or cancels, each rewrite kept
    only where it is as accurate as the formula it replaces (checked against exact values).
    With `explain=True`, the pair `(result, log)`, `log` listing the `Rewrite(rule, before,
    after)` records.

    >>> from symgrad.ir.graph import var
    >>> from symgrad.ops.scalar import exp, log
    >>> str(stabilize(log(1 + exp(var("x")))))
    'softplus(x)'
    """
    return stable_rewrites.stabilize(t_or_list, explain, accuracy=PRECISE)


@overload
def gradient(f: Tensor, wrt: Tensor, stable: bool = False) -> Tensor: ...
@overload
def gradient(f: Tensor, wrt: str, stable: bool = False) -> Any: ...  # "x": a partial; "x y": a list
@overload
def gradient(f: Tensor, wrt: Sequence[Tensor | str], stable: bool = False) -> list[Tensor]: ...
def gradient(f: Tensor, wrt: Tensor | str | Sequence[Tensor | str], stable: bool = False
             ) -> Tensor | list[Tensor]:
    """The partials of a scalar f with respect to each of `wrt` (a variable, a name, a list of
    either, or `"x y"`), by one reverse sweep; one variable on its own gives its one partial.
    With `stable=True`, the partials of `stabilize(f)`, stabilized in turn, which stay finite
    and accurate at extreme inputs.

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import exp, log
    >>> x, y = variables("x y")
    >>> [str(p) for p in gradient(x * y + x, [x, y])]
    ['y + 1', 'x']
    >>> str(gradient(log(1 + exp(x)), x, stable=True))
    'sigmoid(x)'
    """
    if not stable:
        return diff.gradient(as_tensor(f), wrt)
    partials: Tensor | list[Tensor] = stabilize(diff.gradient(stabilize(as_tensor(f)), wrt))
    return partials
