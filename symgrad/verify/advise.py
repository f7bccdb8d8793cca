"""`advise`: where a formula and its gradient lose accuracy in float64, measured as Herbie does
(bits of error against the correctly rounded value, over sampled inputs), with the input range
where it happens and the stable form when a row of `stable_rules.py` has one.

The exact values come from `precise.py` (mpmath intervals); the float64 values from `evaluate`.
A subexpression is blamed when its own operation, given exactly rounded operands, is already
off (Herbie's local error), so an overflow is reported where it does harm, not upstream.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from symgrad.autodiff.diff import gradient
from symgrad.backends.accuracy import PRECISE
from symgrad.backends.evaluate import evaluate
from symgrad.backends.precise import bits_of_error
from symgrad.ir.graph import (
    Tensor,
    as_tensor,
    children_of,
    free_variables,
    name_of,
    raw_node,
    toposort,
    var,
)
from symgrad.rewrite.stabilize import first_rule, stable_forms
from symgrad.verify.sampling import (
    DEFAULT_COUNT,
    Measurements,
    local_values,
    mean_and_worst,
    measure,
    sample_points,
)
from symgrad.verify.search import FULL, SearchResult, search

LOCAL_THRESHOLD = 12.0
"""Bits of local error from which a subexpression is blamed (exp(x) near x = 700 loses 10
bits to the rounding of its argument alone: that is conditioning, not a fixable formula)."""
SEARCH_BUDGET = 60
"""Candidates the accuracy search measures for a formula the stable table leaves inexact."""
ADVISE_EFFORT = FULL._replace(points=64, rounds=2, series_nodes=1, sympy_seconds=1.0)
"""How hard advise searches (at most 64 points, fewer when advise samples fewer): less than
`sg.stabilize`, as advise runs often."""
SEARCHED_LIMIT = 160
"""Characters of the searched form shown in the table (regimes are long)."""


class Finding(NamedTuple):
    """One row of the advice: a subexpression or a partial derivative, its error in bits over
    the sample (mean, worst), what goes wrong, for which inputs, its stable form (what
    `stabilize` makes of it) and the row that starts that rewrite."""

    expression: str
    mean_bits: float
    worst_bits: float
    problem: str
    where: str
    stable_form: str
    rule: str = ""  # the first row of stable_rules that fires at or next to it


_HEADER = ("expression", "mean bits", "worst bits", "problem", "inputs", "stable form", "rule")


class Advice:
    """The findings of `advise`; `str()` is a text table, `.markdown()` a markdown one, and
    Jupyter shows an HTML table."""

    def __init__(self, findings: list[Finding], points: int, stable: Tensor,
                 out_of_reach: int = 0, search: SearchResult | None = None):
        self.findings = findings
        self.points = points
        self.stable = stable  # stabilize(t)
        self.out_of_reach = out_of_reach  # points where f's exact value could not be bounded
        self.search = search  # what the accuracy search found, when the table left f inexact

    def _footer(self) -> str:
        unreached = (f", {self.out_of_reach} of them where the exact value is out of reach "
                     f"(not counted)" if self.out_of_reach else "")
        found = ""
        if self.search is not None:
            (mean, worst), (after_mean, after_worst) = self.search.before, self.search.after
            found = (f"; the search's form ({'; '.join(self.search.steps)}) takes f from "
                     f"{mean:.1f} / {worst:.1f} to {after_mean:.1f} / {after_worst:.1f} bits "
                     f"(mean / worst): {self.search.program}")
        return f"{self.points} points{unreached}; bits of error of 64{found}"

    @property
    def problems(self) -> list[Finding]:
        """The findings with a problem."""
        return [finding for finding in self.findings if finding.problem]

    def _cells(self) -> list[tuple[str, ...]]:
        return [(f.expression, f"{f.mean_bits:.1f}", f"{f.worst_bits:.1f}", f.problem or "-",
                 f.where or "-", f.stable_form or "-", f.rule or "-") for f in self.findings]

    def __str__(self) -> str:
        rows = [_HEADER, *self._cells()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                 for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines) + f"\n({self._footer()})"

    def markdown(self) -> str:
        """The table in markdown."""
        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

        rows = [line(_HEADER), line(["---"] * len(_HEADER))]
        rows += [line(cells) for cells in self._cells()]
        return "\n".join(rows)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in _HEADER)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
                       + "</tr>" for cells in self._cells())
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<p>{html.escape(self._footer())}</p>")

    def __repr__(self) -> str:
        return f"<Advice: {len(self.problems)} problem(s) over {self._footer().split(';')[0]}>"


def _kind(computed: np.ndarray, exact: np.ndarray, operand_size: np.ndarray) -> np.ndarray:
    """What went wrong at each point, as text."""
    finite = np.isfinite(exact)
    kinds = np.full(exact.shape, "inaccurate", dtype=object)
    with np.errstate(all="ignore"):
        small = np.abs(exact) < operand_size * 2.0**-20
    kinds[(computed == 0) & (exact != 0) & finite] = "underflow"
    kinds[small] = "cancellation"  # log(1 + 1e-300) = log(1.0) = 0: not an underflow
    kinds[np.isnan(computed) & ~np.isnan(exact)] = "NaN"
    kinds[np.isinf(computed) & finite] = "overflow"
    return kinds


def _where(points: dict[str, np.ndarray], mask: np.ndarray) -> str:
    """The inputs at the masked points: each variable's range (of |x| when signs differ)."""
    parts = []
    for name, values in points.items():
        chosen = values[mask]
        label = name
        if chosen.min() < 0 < chosen.max():
            chosen, label = np.abs(chosen), f"|{name}|"
        low, high = float(chosen.min()), float(chosen.max())
        parts.append(f"{label} = {low:.3g}" if low == high
                     else f"{label} in [{low:.3g}, {high:.3g}]")
    return ", ".join(parts)


def _by_kind(kinds: np.ndarray, mask: np.ndarray, points: dict[str, np.ndarray]
             ) -> list[tuple[str, str]]:
    """(problem, inputs) for each kind of problem among the masked points, commonest first."""
    names, counts = np.unique(kinds[mask].astype(str), return_counts=True)
    result = []
    for index in np.argsort(-counts, kind="stable"):
        kind = str(names[index])
        where = mask & (kinds == kind)
        share = 100.0 * counts[index] / mask.size
        result.append((f"{kind} ({share:.3g}% of points)", _where(points, where)))
    return result


_ELIDED = "elided_by_advise"
_SHORT_DEPTH = 5


def _top(node: Tensor, depth: int, elided: Tensor) -> Tensor:
    """The top `depth` levels of `node`, deeper operands replaced by `elided` (the recursion is
    at most `depth` deep)."""
    children = node.children
    if children is None:
        return node
    if depth == 0:
        return elided
    b = None if children.b is None else _top(children.b, depth - 1, elided)
    return raw_node(children.op, _top(children.a, depth - 1, elided), b)


def _short(node: Tensor, limit: int = 48) -> str:
    """The formula cut to `limit` characters, written from its top levels only, so that each
    node of a deep chain costs the same."""
    text = str(_top(node, _SHORT_DEPTH, var(_ELIDED))).replace(_ELIDED, "...")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _stable_rule(node: Tensor, users: dict[Tensor, list[Tensor]]) -> str:
    """The first stability row that fires at the node, an operand of it or a near user."""
    a, b, _ = children_of(node)
    operands = [a] if b is None else [a, b]
    nearby = [node, *operands, *users.get(node, ())]
    nearby += [user for first in users.get(node, ()) for user in users.get(first, ())]
    for candidate in nearby:
        fired = first_rule(candidate)
        if fired is not None:
            return fired[0].name
    return ""


def _users(order: list[Tensor]) -> dict[Tensor, list[Tensor]]:
    users: dict[Tensor, list[Tensor]] = {}
    for node in order:
        if node.children is not None:
            for operand in (node.children.a, node.children.b):
                if operand is not None:
                    users.setdefault(operand, []).append(node)
    return users


def _subexpression_findings(t: Tensor, measured: Measurements,
                            stable_of: dict[Tensor, Tensor]) -> list[Finding]:
    order = toposort(t)
    users = _users(order)
    findings = []
    for node in order:
        if node.children is None:
            continue
        computed, exact = measured.computed[node], measured.exact[node]
        local = local_values(node, measured)
        bad = (bits_of_error(local, exact) > LOCAL_THRESHOLD) & ~np.isnan(exact)
        if not bad.any():
            continue
        a, b = node.children.a, node.children.b
        operand_size = np.abs(measured.exact[a])
        if b is not None:
            operand_size = np.maximum(operand_size, np.abs(measured.exact[b]))
        kinds = _kind(local, exact, operand_size)
        bits = mean_and_worst(computed, exact)
        stable = stable_of[node]
        stable_form = "" if stable is node else _short(stable)
        rule = _stable_rule(node, users)
        for problem, where in _by_kind(kinds, bad, measured.points):
            findings.append(Finding(_short(node), *bits, problem, where, stable_form, rule))
    return findings


def _gradient_findings(name: str, partial: Tensor, stable_partial: Tensor, f: Tensor,
                       measured: Measurements) -> list[Finding]:
    computed, exact = measured.computed[partial], measured.exact[partial]
    # NaN or inf where the exact gradient is finite, or where it is undefined but f is finite
    # (at the origin the norm's gradient is undefined, and hypot's convention 0 is the useful
    # one); and, where both are finite, more than LOCAL_THRESHOLD bits off
    finite = np.isfinite(exact)
    broken = ~np.isfinite(computed) & (finite | np.isnan(exact) & np.isfinite(measured.computed[f]))
    with np.errstate(invalid="ignore"):
        inaccurate = finite & np.isfinite(computed) & (bits_of_error(computed, exact)
                                                      > LOCAL_THRESHOLD)
    kinds = np.where(np.isnan(computed), "NaN gradient",
                     np.where(np.isinf(computed), "infinite gradient", "inaccurate"))
    problems = _by_kind(kinds, broken | inaccurate, measured.points) or [("", "")]
    stable_form = "" if stable_partial is partial else _short(stable_partial)
    bits = mean_and_worst(computed, exact)
    return [Finding(f"d/d{name}", *bits, problem, where, stable_form)
            for problem, where in problems]


def advise(t: Tensor, ranges: Mapping[str, tuple[float, float]] | None = None,
           count: int = DEFAULT_COUNT, seed: int = 0, budget: int = SEARCH_BUDGET) -> Advice:
    """Where `t` and its gradient lose accuracy in float64: for the whole formula, each
    subexpression that is off by itself (overflow, NaN, cancellation, underflow) and each
    partial derivative, the bits of error (mean and worst over the sample, against mpmath), the
    inputs where it happens and the stable form. `ranges` maps variable names to (low, high);
    by default inputs are sampled log-uniformly over the doubles, plus 0, 800 and 1e3.

    Where the stable table leaves the formula more than `LOCAL_THRESHOLD` bits off, the
    accuracy search (`budget` candidates over the same sample) looks for a form that fixes it;
    what it finds (with `where` on the input ranges where forms differ) is the whole formula's
    stable form, with its steps as the rule, and `Advice.search`.

    >>> import symgrad as sg
    >>> x = sg.var("x")
    >>> advice = advise(sg.log(1 + sg.exp(x)), ranges={"x": (-1000, 1000)}, count=32)
    >>> [(finding.stable_form, finding.rule) for finding in advice.problems][0]
    ('softplus(x)', 'log(1 + exp(x)) -> softplus(x)')
    """
    t = as_tensor(t)
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    variables = free_variables(t)
    if t.shape or any(v.shape for v in variables):
        raise ValueError("advise measures scalar formulas of scalar variables; for a tensor "
                         "formula, advise on one element written with scalars")
    names = [name_of(v) for v in variables]
    points = sample_points(names, ranges, count, seed)
    partials = gradient(t, variables) if variables else []
    stable_of = stable_forms([t], PRECISE)
    stable = stable_of[t]
    stable_gradient = gradient(stable, variables) if variables else []
    stable_of_partial = stable_forms(stable_gradient, PRECISE)
    measured = measure([t, *partials], names, points)
    value_bits = mean_and_worst(measured.computed[t], measured.exact[t])
    found = _searched(t, stable, measured, ranges, count, seed, budget)
    if found is None:
        findings = [Finding("f = " + _short(t), *value_bits, "", "",
                            "" if stable is t else _short(stable))]
    else:
        findings = [Finding("f = " + _short(t), *value_bits, "", "",
                            _clipped(str(found.program), SEARCHED_LIMIT),
                            "search: " + "; ".join(found.steps))]
    findings += _subexpression_findings(t, measured, stable_of)
    for name, partial, stable_partial in zip(names, partials, stable_gradient):
        findings += _gradient_findings(name, partial, stable_of_partial[stable_partial], t,
                                       measured)
    unreached = int(np.count_nonzero(measured.out_of_reach[t]))
    return Advice(findings, len(points[names[0]]) if names else 1, stable, unreached, found)


def _clipped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _searched(t: Tensor, stable: Tensor, measured: Measurements,
              ranges: Mapping[str, tuple[float, float]] | None, count: int, seed: int,
              budget: int) -> SearchResult | None:
    """The accuracy search's result for `t` when the stable table leaves `t` more than
    `LOCAL_THRESHOLD` bits off at worst on the sample and the search does better; else None."""
    exact = measured.exact[t]
    if budget <= 0 or not measured.points or not np.any(~np.isnan(exact)):
        return None
    with np.errstate(all="ignore"):
        value = evaluate(stable, measured.points)
    computed = np.broadcast_to(np.asarray(value, dtype=np.float64), exact.shape)
    if mean_and_worst(computed, exact)[1] <= LOCAL_THRESHOLD:
        return None
    try:
        found = search(t, ranges, budget=budget, seed=seed, effort=ADVISE_EFFORT._replace(
            points=min(count, ADVISE_EFFORT.points)), accuracy=PRECISE, start=[stable])
    except LookupError:  # an op with no exact form: nothing to measure candidates by
        return None
    return found if found.after[0] < found.before[0] and found.program is not stable else None
