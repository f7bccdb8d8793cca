"""What no one layer owns: compositions of layers side by side on one floor. `gradient(f, x,
stable=True)` takes the sweep's partials of `stabilize(f)`, stabilizes them in turn and
searches each for a more accurate form, so neither autodiff nor rewrite imports the other;
`stabilize` hands the rewrite layer the exact measurement of the backends, so neither of those
imports the other either, and with `ranges`, `budget` or `seed` runs the accuracy search."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, overload

from symgrad.autodiff import diff
from symgrad.backends.accuracy import PRECISE
from symgrad.ir.graph import Tensor, as_tensor, tensor_roots
from symgrad.rewrite import stabilize as stable_rewrites
from symgrad.verify import search as accuracy_search

Ranges = Mapping[str, tuple[float, float]]


def stabilize(t_or_list: Tensor | Iterable[Tensor], explain: bool = False, *,
              ranges: Ranges | None = None, budget: int | None = None, seed: int | None = None,
              count: int | None = None) -> Any:
    """An equal Tensor (or a list for a list) in numerically stable forms: softplus, logaddexp,
    log1p, expm1, hypot, sigmoid where the formula overflows or cancels, each rewrite kept
    only where it is as accurate as the formula it replaces (checked against exact values).
    With `explain=True`, the pair `(result, log)`, `log` listing the `Rewrite(rule, before,
    after)` records.

    Given `ranges` (variable name -> (low, high)), `budget` (candidates measured), `seed` or
    `count` (points sampled), the accuracy search instead (`symgrad.verify.search`): a
    `SearchResult` (a list of them for a list) with the most accurate program found over those
    ranges (`.program`) and its bits of error before and after (`.before`, `.after`: mean and
    worst over the sample).

    >>> from symgrad.ir.graph import var
    >>> from symgrad.ops.scalar import exp, log, sqrt
    >>> x = var("x")
    >>> str(stabilize(log(1 + exp(x))))
    'softplus(x)'
    >>> found = stabilize(sqrt(x + 1) - sqrt(x), ranges={"x": (0, 1e16)}, budget=20)
    >>> str(found.program), found.after[1] < 3
    ('1/(sqrt(x) + sqrt(x + 1))', True)
    """
    if ranges is None and budget is None and seed is None and count is None:
        return stable_rewrites.stabilize(t_or_list, explain, accuracy=PRECISE)
    if explain:
        raise ValueError("explain=True is for the stable table; the search reports its steps "
                         "in SearchResult.steps")
    formulas, single = tensor_roots(t_or_list, "stabilize")
    effort = accuracy_search.FULL if count is None else accuracy_search.FULL._replace(
        points=count)
    results = [accuracy_search.search(
        f, ranges, budget=accuracy_search.DEFAULT_BUDGET if budget is None else budget,
        seed=0 if seed is None else seed, effort=effort, accuracy=PRECISE) for f in formulas]
    return results[0] if single else results


@overload
def gradient(f: Tensor, wrt: Tensor, stable: bool = False, *, ranges: Ranges | None = None,
             budget: int | None = None, seed: int = 0) -> Tensor: ...
@overload
def gradient(f: Tensor, wrt: str, stable: bool = False, *, ranges: Ranges | None = None,
             budget: int | None = None, seed: int = 0) -> Any: ...  # "x": a partial; "x y": a list
@overload
def gradient(f: Tensor, wrt: Sequence[Tensor | str], stable: bool = False, *,
             ranges: Ranges | None = None, budget: int | None = None, seed: int = 0
             ) -> list[Tensor]: ...
def gradient(f: Tensor, wrt: Tensor | str | Sequence[Tensor | str], stable: bool = False, *,
             ranges: Ranges | None = None, budget: int | None = None, seed: int = 0
             ) -> Tensor | list[Tensor]:
    """The partials of a scalar f with respect to each of `wrt` (a variable, a name, a list of
    either, or `"x y"`), by one reverse sweep; one variable on its own gives its one partial.
    With `stable=True`, the partials of `stabilize(f)`, stabilized in turn, each then replaced
    by the most accurate form the accuracy search finds for it over `ranges` (by default all
    doubles; `budget` candidates, the same for the same `seed`), which stay finite and
    accurate at extreme inputs.

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import cos, exp, log
    >>> x, y = variables("x y")
    >>> [str(p) for p in gradient(x * y + x, [x, y])]
    ['y + 1', 'x']
    >>> str(gradient(log(1 + exp(x)), x, stable=True))
    'sigmoid(x)'
    >>> from symgrad.backends.evaluate import evaluate
    >>> float(evaluate(gradient((1 - cos(x))/x**2, x, stable=True), {"x": 1e-8}))
    -8.333333333333334e-10
    """
    f = as_tensor(f)
    if not stable:
        return diff.gradient(f, wrt)
    # asked for ranges or a budget, search as hard as stabilize does, and differentiate the
    # most accurate identity of f found too (the quadratic formula's conjugate); else lightly
    asked = ranges is not None or budget is not None
    effort = accuracy_search.FULL if asked else accuracy_search.LIGHT
    bases = [stabilize(f)]
    if asked:
        bases.append(accuracy_search.accurate_form(
            f, ranges, budget=accuracy_search.DEFAULT_BUDGET if budget is None else budget,
            seed=seed, effort=effort, accuracy=PRECISE, start=bases, approximations=False))
    plain: Any = diff.gradient(f, wrt)
    single = isinstance(plain, Tensor)
    columns = [[p] if single else list(p) for p in
               [plain, *(diff.gradient(base, wrt) for base in bases)]]
    searched = []
    for plain_partial, *stable_partials in zip(*columns, strict=True):
        *others, last = [stabilize(partial) for partial in stable_partials]
        searched.append(accuracy_search.accurate_form(
            last, ranges, budget=accuracy_search.GRADIENT_BUDGET if budget is None else budget,
            seed=seed, effort=effort, accuracy=PRECISE, start=[plain_partial, *others]))
    return searched[0] if single else searched
