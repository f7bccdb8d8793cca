"""Show the work: the chain rule step by step. `explain` records the sweeps of `diff.py` (the
very code `gradient` and `grad` run, so the table can never disagree with them) and lays the
steps out as a table (text, markdown, html), with numbers at a point and numbers for the picture.

Reverse mode is micrograd's backward pass (the backprop table): each node's adjoint flows to
its inputs through their local derivatives, and a node feeding several parents sums what it
receives (`+=`). Forward mode is the 30-line Tensor design's `grad`: each node's derivative is
built from its inputs'.
"""

from __future__ import annotations

import html
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from symgrad.autodiff.diff import UPSTREAM, Step, forward_sweep, reverse_sweep
from symgrad.backends.evaluate import UnboundVariableError, evaluate
from symgrad.interop.parse import parse
from symgrad.ir.fold import apply
from symgrad.ir.graph import (
    Children,
    Tensor,
    as_tensor,
    children_of,
    const,
    count_ops,
    free_variables,
    gc_paused,
    name_of,
    toposort,
    unwrap,
    var,
)
from symgrad.ir.wrt import as_variables
from symgrad.present.dot import to_dot_pair
from symgrad.present.printing import TEXT, format_value, inlined_size, render
from symgrad.rewrite.simplify import simplify as simplify_formula

MODES = ("reverse", "forward")
SIMPLIFY_MAX_OPS = 60
"""Display formulas bigger than this many ops are shown as built, not simplified (speed)."""
SIMPLIFY_MAX_STEPS = 2000
"""Past this many steps every formula is shown as built: simplifying each small cell costs
about a millisecond, minutes for a deep chain's table (the table says so)."""
CELL_CHARS = 120
"""Markdown and html cells, and the terms of a sum line, are cut after this many characters.
A formula longer than its cell is written as its top with "…" for the rest, so each cell
costs the same whatever the depth (a deep chain's upstream products grow with it)."""
LISTED_STEPS = 8
"""A sum of more contributions than this names its first and last steps and their count."""

INLINED_LIMIT = 5000
"""Formulas longer than this many nodes, written out as trees, are not written out."""
FULL_FORMULA_WIDTH = 90
"""Titles cut f here, and gradients are written out in f's variables only up to this width."""

# Column widths of the terminal table: wider formulas are cut with "…" (their values are kept).
TEXT_WIDTHS = {"edge": 20, "local": 28, "upstream": 26, "contribution": 28, "total": 40}


class StepNumbers(Sequence[int]):
    """The numbers of the steps summed so far: the first `count` of a list that grows as the
    sweep goes. A node feeding n parents has n steps, each with its prefix: views of one list
    cost O(n) where a tuple per step would cost O(n**2) (13 GB for a chain of 10**5).

    >>> numbers = [3, 4, 5]
    >>> StepNumbers(numbers, 2) == (3, 4), StepNumbers(numbers, 2)
    (True, (3, 4))
    """

    __slots__ = ("_numbers", "_count")

    def __init__(self, numbers: list[int], count: int):
        self._numbers = numbers
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self)[index]
        if not -self._count <= index < self._count:
            raise IndexError("step number index out of range")
        return self._numbers[index % self._count]

    def __iter__(self) -> Iterator[int]:
        return iter(self._numbers[: self._count])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


@dataclass(frozen=True)
class ExplainedStep:
    """One numbered application of the chain rule, `contribution = upstream * local`.

    Reverse mode: `node`'s adjoint `upstream` (d f / d node) flows to its input `operand`
    through `local` (d node / d operand); `total` is d f / d operand so far, the sum of the
    contributions of the steps numbered in `summands`. Forward mode: the input's derivative
    `upstream` (d operand / d wrt) flows up to `node`; `total` is d node / d wrt so far.
    The `*_value` fields hold numbers when the explanation was made at a point, else None.
    """

    number: int
    mode: str
    wrt: Tensor | None  # forward mode: the variable of this sweep; None in reverse mode
    node: Tensor
    operand: Tensor
    position: int
    local: Tensor
    upstream: Tensor
    contribution: Tensor
    total: Tensor
    summands: Sequence[int]
    node_value: Any = None
    operand_value: Any = None
    local_value: Any = None
    upstream_value: Any = None
    contribution_value: Any = None
    total_value: Any = None

    def __repr__(self) -> str:
        def shown(t: Tensor, value: Any) -> str:
            return _text(t) if value is None else f"{_text(t)} = {format_value(value)}"

        node, operand = _text(self.node), _text(self.operand)
        arrow = f"{node} → {operand}" if self.mode == "reverse" else f"{operand} → {node}"
        local = shown(self.local, self.local_value)
        upstream = shown(self.upstream, self.upstream_value)
        contribution = shown(self.contribution, self.contribution_value)
        total = shown(self.total, self.total_value)
        return (f"<step #{self.number} ({self.mode}) {arrow}: local {local}, upstream "
                f"{upstream}, contribution {contribution}, total {total}>")

    @property
    def accumulates(self) -> bool:
        """Whether this step adds to earlier contributions (the `+=` of the backward pass)."""
        return len(self.summands) > 1


def _substitute(t: Tensor, mapping: Mapping[Tensor, Tensor],
                built: dict[Tensor, Tensor] | None = None, combine: Any = apply) -> Tensor:
    """t with every node of `mapping` replaced, rebuilt bottom-up without recursion by
    `combine(op, a, b)` (folding, by default). Calls that share `built` share the work (the
    cells of a table are parts of one graph)."""
    if t in mapping:
        return mapping[t]
    if built is None:
        built = {}
    stack = [(t, False)]
    while stack:
        node, expanded = stack.pop()
        if node in built:
            continue
        if node in mapping:
            built[node] = mapping[node]
            continue
        children = node.children
        if children is None:
            built[node] = node
            continue
        if not expanded:
            stack.append((node, True))
            stack.extend((c, False) for c in (children.a, children.b) if c is not None)
            continue
        b = None if children.b is None else built[children.b]
        built[node] = combine(children.op, built[children.a], b)
    return built[t]


def _has_at_most_ops(t: Tensor, limit: int) -> bool:
    """Whether t has at most `limit` distinct inner nodes; stops early past the limit."""
    seen: set[Tensor] = set()
    stack = [t]
    while stack:
        node = stack.pop()
        children = node.children
        if children is None or node in seen:
            continue
        seen.add(node)
        if len(seen) > limit:
            return False
        stack.append(children.a)
        if children.b is not None:
            stack.append(children.b)
    return True


ELIDED_NAME = "_elided_part_"
ELIDED = var(ELIDED_NAME)
"""Stands for the parts of a formula a cell leaves out; written "…"."""


def _elided(t: Tensor, budget: int) -> Tensor:
    """t with the parts past its first `budget` inner nodes written out as a tree, breadth
    first, replaced by ELIDED (t itself when it fits). Costs O(budget): every path from the
    top meets a replaced node within the budget's places. Rebuilt without folding, so two
    left-out parts never cancel (… - … is not 0)."""
    queue = deque([t])
    explored = 0
    left_out: dict[Tensor, Tensor] = {}
    while queue:
        node = queue.popleft()
        children = node.children
        if children is None:
            continue
        if explored >= budget:
            left_out[node] = ELIDED
            continue
        explored += 1
        queue.append(children.a)
        if children.b is not None:
            queue.append(children.b)
    if not left_out:
        return t
    return _substitute(t, left_out, combine=lambda op, a, b: Tensor(children=Children(a, b, op)))


def _numbers_text(numbers: Sequence[int], sep: str = " + ") -> str:
    """Step numbers as `#2 + #3`; past LISTED_STEPS, the first and last with the count."""
    if len(numbers) <= LISTED_STEPS:
        return sep.join(f"#{n}" for n in numbers)
    return f"#{numbers[0]}{sep}#{numbers[1]}{sep}…{sep}#{numbers[-1]} ({len(numbers)} steps)"


def _label_prefix(taken: set[str]) -> str:
    for prefix in ("t", "u", "v", "node"):
        # _t1 (an anonymous Tensor(3)) beside a label t1 would read as the same thing
        if not any(name.lstrip("_").startswith(prefix) and name.lstrip("_")[len(prefix):].isdigit()
                   for name in taken):
            return prefix
    return "node_"


class Explanation:
    """The chain rule of one sweep, step by step; `str()` is a table for the terminal.

    Attributes: `f`, `wrt` (list), `mode`, `at` (the point or None), `steps`
    (`ExplainedStep`s in sweep order, numbered from 1), `gradients` ({wrt: d f / d wrt}),
    `value` (f at the point) and `gradient_values` ({wrt: number}) when at a point, and
    `labels` ({inner node: short name such as t1}) used by the table and the picture.

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> print(explain(x * y, [x, y], at={"x": 2, "y": 3}).to_text())
    f = x*y: backward pass (reverse mode), with respect to x, y, at x = 2, y = 3
    <BLANKLINE>
    nodes:
      f = x*y = 6
    <BLANKLINE>
    #  node → input  local ∂node/∂input  upstream ∂f/∂node  contribution  ∂f/∂input = sum so far
    -  ------------  ------------------  -----------------  ------------  ----------------------
    1  f → x         y = 3               1                  y = 3         y = 3
    2  f → y         x = 2               1                  x = 2         x = 2
    <BLANKLINE>
    gradient:
      ∂f/∂x = y = 3   (step #1)
      ∂f/∂y = x = 2   (step #2)
    """

    def __init__(self, f: Tensor, wrt: list[Tensor], mode: str, at: Mapping | None,
                 steps: list[ExplainedStep], gradients: dict[Tensor, Tensor],
                 values: dict[Tensor, Any] | None, simplify: bool):
        self.f = f
        self.wrt = wrt
        self.mode = mode
        self.at = None if at is None else dict(at)
        self.steps = steps
        self.gradients = gradients
        self.value = None if values is None else values[f]
        self.gradient_values = (
            None if values is None else {w: values[g] for w, g in gradients.items()}
        )
        self._values = values
        self.simplified = simplify and len(steps) <= SIMPLIFY_MAX_STEPS
        self._simplify = simplify_formula if self.simplified else None
        self._shown: dict[tuple[Tensor, bool], Tensor] = {}
        self._texts: dict[tuple[Tensor, bool], str] = {}
        self._built: dict[Tensor, Tensor] = {}  # the labelled rebuild, shared by every formula
        taken = {name_of(v) for v in free_variables([f, *gradients.values()])}
        inner = {s.node for s in steps} | {s.operand for s in steps if s.operand.children}
        prefix = _label_prefix(taken)
        # The output is called f, unless f is one of its variables.
        self.output = next(n for n in ("f", "out", "output", "f_") if n not in taken)
        self.labels: dict[Tensor, str] = {}
        count = 0
        for node in toposort(f):
            if node in inner:
                if node is f and self.output not in taken:
                    self.labels[node] = self.output
                else:
                    count += 1
                    self.labels[node] = f"{prefix}{count}"
        self._symbols = {node: var(name, shape=node.shape) for node, name in self.labels.items()}

    # --- formulas --------------------------------------------------------------------------
    def formula(self, t: Tensor, labelled: bool = True, max_chars: int | None = None) -> str:
        """t as text: inner nodes of f written by their labels (unless `labelled=False`),
        simplified when the simplifier is there and t is small. With `max_chars`, only a
        formula's top (breadth first) with "…" for the parts below, at least `max_chars`
        long when anything is left out (a cell cut to `max_chars` anyway)."""
        key = (t, labelled)
        shown = self._shown.get(key)
        if shown is None:
            shown = _substitute(t, self._symbols, self._built) if labelled else t
            if self._simplify is not None and _has_at_most_ops(shown, SIMPLIFY_MAX_OPS):
                try:
                    shown = self._simplify(shown)
                except Exception:  # noqa: BLE001  a display nicety must never break the table
                    pass
            self._shown[key] = shown
        if max_chars is not None:
            # k inner nodes of a tree write out to at least 2k + 1 characters (operands and
            # symbols), so the top max_chars // 2 + 1 of them fill the cell
            elided = _elided(shown, max_chars // 2 + 1)
            return render(elided, TEXT).replace(ELIDED_NAME, "…")
        if key not in self._texts:
            self._texts[key] = _text(shown)
        return self._texts[key]

    def name(self, node: Tensor) -> str:
        """A node's short name: its label, a variable's name, or a constant's number."""
        if node in self.labels:
            return self.labels[node]
        return _text(node)

    def definition(self, node: Tensor) -> str:
        """How a labelled node is computed from its inputs, e.g. `t1 = x*y`."""
        a, b, op = children_of(node)
        # node is not among its operands' nodes, so they are written with every label
        built = self._built
        rebuilt = apply(op, _substitute(a, self._symbols, built),
                        None if b is None else _substitute(b, self._symbols, built))
        return f"{self.labels[node]} = {rebuilt}"

    def _cell(self, t: Tensor, value: Any, max_chars: int | None) -> str:
        text = self.formula(t, max_chars=max_chars)
        if self._values is None or (value is None and t not in self._values):
            return text  # a pullback's local, a formula of delta: no value of its own
        number = format_value(value)
        return number if text == number else f"{text} = {number}"

    def _wrt_text(self, w: Tensor) -> str:
        return f"∂{self.output}/∂{self.name(w)}"

    # --- structure -------------------------------------------------------------------------
    def sums(self) -> list[tuple[Tensor | None, Tensor, Sequence[int]]]:
        """(wrt, node, step numbers) for every node whose derivative sums several
        contributions: in reverse mode a node feeding several parents, in forward mode a node
        with several inputs depending on wrt.

        >>> from symgrad.ir.graph import var
        >>> x = var("x")
        >>> [(w, str(node), numbers) for w, node, numbers in explain(x * x + x, x).sums()]
        [(None, 'x', (2, 3, 4))]
        """
        last: dict[tuple, ExplainedStep] = {}
        for s in self.steps:
            key = (s.wrt, s.operand if self.mode == "reverse" else s.node)
            last[key] = s
        return [(key[0], key[1], s.summands) for key, s in last.items() if s.accumulates]

    def __iter__(self) -> Iterator[ExplainedStep]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        names = ", ".join(self.name(w) for w in self.wrt)
        return (f"<Explanation of {self.output} = {_text(self.f)} ({self.mode} mode, wrt "
                f"{names}): {len(self)} steps>")

    # --- the table -------------------------------------------------------------------------
    def _headers(self) -> list[str]:
        if self.mode == "reverse":
            out = self.output
            return ["#", "node → input", "local ∂node/∂input", f"upstream ∂{out}/∂node",
                    "contribution", f"∂{out}/∂input = sum so far"]
        return ["#", "input → node", "∂input/∂wrt", "local ∂node/∂input", "contribution",
                "∂node/∂wrt = sum so far"]

    def _rows(self, max_chars: int | None) -> list[tuple[Tensor | None, list[str]]]:
        """The table's cells per step; formulas written only to `max_chars` (cut later)."""
        with gc_paused():  # a deep graph's table: millions of small strings and nodes
            return [(s.wrt, self._row(s, max_chars)) for s in self.steps]

    def _row(self, s: ExplainedStep, max_chars: int | None) -> list[str]:
        side = ""
        if children_of(s.node).a is children_of(s.node).b:  # x*x: the input is used twice
            side = " (left)" if s.position == 0 else " (right)"
        if self.mode == "reverse":
            edge = f"{self.name(s.node)} → {self.name(s.operand)}{side}"
            middle = [self._cell(s.local, s.local_value, max_chars),
                      self._cell(s.upstream, s.upstream_value, max_chars)]
        else:
            edge = f"{self.name(s.operand)}{side} → {self.name(s.node)}"
            middle = [self._cell(s.upstream, s.upstream_value, max_chars),
                      self._cell(s.local, s.local_value, max_chars)]
        total = self._cell(s.total, s.total_value, max_chars)
        if s.accumulates:
            total = _numbers_text(s.summands) + " = " + total
        contribution = self._cell(s.contribution, s.contribution_value, max_chars)
        return [str(s.number), edge, *middle, contribution, total]

    def _title(self) -> str:
        names = ", ".join(self.name(w) for w in self.wrt)
        kind = "backward pass (reverse mode)" if self.mode == "reverse" else (
            "forward mode, as grad(wrt) builds it")
        formula = _cut(_text(self.f), FULL_FORMULA_WIDTH)
        title = f"{self.output} = {formula}: {kind}, with respect to {names}"
        if self._values is not None:  # explained at a point
            values = self._values
            point = ", ".join(f"{name_of(v)} = {format_value(values[v])}"
                              for v in free_variables(self.f) if v in values)
            title += f", at {point}" if point else ""
        if self._simplify is None and len(self.steps) > SIMPLIFY_MAX_STEPS:
            title += f" (over {SIMPLIFY_MAX_STEPS:,} steps: formulas shown as built)"
        return title

    def _legend(self) -> list[str]:
        lines = []
        if any(_pulled(s) for s in self.steps):
            lines.append(f"{UPSTREAM} = the upstream ∂{self.output}/∂node, which a matrix "
                         f"op's local step maps to its input's share")
        for node in self.labels:
            line = self.definition(node)
            if self._values is not None:
                line += f" = {format_value(self._values[node])}"
            lines.append(line)
        return lines

    def _sum_lines(self) -> list[str]:
        lines = []
        by_number = {s.number: s for s in self.steps}
        for wrt, node, numbers in self.sums():
            final = by_number[numbers[-1]]
            if wrt is None:  # reverse mode: one sweep for every variable
                target = f"∂{self.output}/∂{self.name(node)}"
                why = f"{self.name(node)} feeds {len(numbers)} parents"
            else:
                target = f"∂{self.name(node)}/∂{self.name(wrt)}"
                why = f"{len(numbers)} inputs of {self.name(node)} depend on {self.name(wrt)}"
            listed = len(numbers) <= LISTED_STEPS  # else the steps' count, not their terms
            terms = [" + ".join(_grouped(_cut(self.formula(by_number[n].contribution,
                                                           max_chars=CELL_CHARS), CELL_CHARS))
                                for n in numbers)] if listed else []
            total = _cut(self.formula(final.total, max_chars=CELL_CHARS), CELL_CHARS)
            line = " = ".join(dict.fromkeys([target, _numbers_text(numbers), *terms, total]))
            if self._values is not None:
                values = [" + ".join(format_value(by_number[n].contribution_value)
                                     for n in numbers)] if listed else []
                line += " = " + " = ".join([*values, format_value(final.total_value)])
            lines.append(f"{line}   ({why})")
        return lines

    def _final_steps(self, w: Tensor) -> Sequence[int]:
        """The steps whose contributions sum to d f / d w."""
        last = None
        for s in self.steps:
            if (self.mode == "reverse" and s.operand is w) or (
                    self.mode == "forward" and s.wrt is w and s.node is self.f):
                last = s
        return () if last is None else last.summands

    def _gradient_rows(self) -> list[tuple[str, str, str, str]]:
        """(variable, value, formula, steps) per wrt: the backprop table's gradient table."""
        rows = []
        for w, g in self.gradients.items():
            texts = [self.formula(g)]
            full = self.formula(g, labelled=False, max_chars=FULL_FORMULA_WIDTH)
            if len(full) <= FULL_FORMULA_WIDTH:  # written out in f's variables, when short
                texts.append(full)
            value = "" if self.gradient_values is None else format_value(
                self.gradient_values[w])
            formula = " = ".join([self._wrt_text(w), *dict.fromkeys(texts)])
            numbers = self._final_steps(w)
            where = ("step " if len(numbers) == 1 else "steps ") + _numbers_text(
                numbers) if numbers else ""
            rows.append((self.name(w), value, formula, where))
        return rows

    def _gradient_lines(self) -> list[str]:
        lines = []
        for _, value, formula, where in self._gradient_rows():
            # formulas hold no "=", so splitting drops a value equal to the formula (1 = 1)
            line = " = ".join(dict.fromkeys([*formula.split(" = "), *([value] if value else [])]))
            lines.append(f"{line}   ({where})" if where else line)
        return lines

    def _empty_note(self) -> str | None:
        if self.steps:
            return None
        if self.f.children is None:
            return f"{self.output} is a leaf: no chain rule to apply."
        names = ", ".join(self.name(w) for w in self.wrt)
        return f"{self.output} does not depend on {names}."

    def to_text(self, widths: Mapping[str, int] | None = None) -> str:
        """The explanation as an aligned terminal table; long formulas are cut with "…"."""
        width = {**TEXT_WIDTHS, **(widths or {})}
        caps = [None, width["edge"], width["local"], width["upstream"], width["contribution"],
                width["total"]]
        if self.mode == "forward":
            caps[2], caps[3] = caps[3], caps[2]
        headers = self._headers()
        rows = self._rows(max(cap for cap in caps if cap is not None))
        cut = [[_cut(cell, cap) for cell, cap in zip(cells, caps, strict=True)]
               for _, cells in rows]
        widths_now = [max([len(h)] + [len(r[i]) for r in cut]) for i, h in enumerate(headers)]
        lines = [self._title(), ""]
        legend = self._legend()
        if legend:
            lines += ["nodes:", *(f"  {line}" for line in legend), ""]
        note = self._empty_note()
        if note:
            lines.append(note)
        else:
            lines.append(_text_row(headers, widths_now))
            lines.append(_text_row(["-" * w for w in widths_now], widths_now))
            previous = None
            for (wrt, _), cells in zip(rows, cut, strict=True):
                if self.mode == "forward" and wrt is not None and wrt is not previous:
                    lines.append(f"  -- derivatives with respect to {self.name(wrt)} --")
                    previous = wrt
                lines.append(_text_row(cells, widths_now))
        sums = self._sum_lines()
        if sums:
            lines += ["", "sums of contributions (+=):", *(f"  {line}" for line in sums)]
        lines += ["", "gradient:", *(f"  {line}" for line in self._gradient_lines())]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def to_markdown(self) -> str:
        """The explanation as markdown: title, node list, table, sums and gradient."""
        lines = [f"**{_md(self._title())}**", ""]
        legend = self._legend()
        if legend:
            lines += ["Nodes: " + ", ".join(f"`{line}`" for line in legend), ""]
        note = self._empty_note()
        if note:
            lines += [note, ""]
        else:
            headers = self._headers()
            lines.append("| " + " | ".join(headers) + " |")
            lines.append("|" + "|".join(["---:"] + ["---"] * (len(headers) - 1)) + "|")
            for _, cells in self._rows(CELL_CHARS):
                shown = [cells[0], *(f"`{_cut(c, CELL_CHARS)}`" for c in cells[1:])]
                lines.append("| " + " | ".join(_md(c) for c in shown) + " |")
            lines.append("")
        sums = self._sum_lines()
        if sums:
            lines += ["Sums of contributions (`+=`):", "", *(f"- `{line}`" for line in sums), ""]
        lines += ["| variable | gradient | how computed |", "|---|---:|---|"]
        for name, value, formula, where in self._gradient_rows():
            how = f"`{_md(formula)}`" + (f" ({where})" if where else "")
            lines.append(f"| `{name}` | {value or '—'} | {how} |")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [f"<p><b>{esc(self._title())}</b></p>"]
        legend = self._legend()
        if legend:
            parts.append("<p>nodes: " + ", ".join(f"<code>{esc(x)}</code>" for x in legend)
                         + "</p>")
        note = self._empty_note()
        if note:
            parts.append(f"<p>{esc(note)}</p>")
        else:
            head = "".join(f"<th>{esc(h)}</th>" for h in self._headers())
            body = []
            for _, cells in self._rows(CELL_CHARS):
                tds = [f"<td>{esc(cells[0])}</td>"]
                tds += [f"<td style='text-align:left'><code>{esc(_cut(c, CELL_CHARS))}</code></td>"
                        for c in cells[1:]]
                body.append("<tr>" + "".join(tds) + "</tr>")
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
                         "</tbody></table>")
        sums = self._sum_lines()
        if sums:
            parts.append("<p>sums of contributions (<code>+=</code>):</p><ul>"
                         + "".join(f"<li><code>{esc(x)}</code></li>" for x in sums) + "</ul>")
        rows = "".join(
            f"<tr><td><code>{esc(name)}</code></td><td>{esc(value or '—')}</td>"
            f"<td style='text-align:left'><code>{esc(formula)}</code> {esc(where)}</td></tr>"
            for name, value, formula, where in self._gradient_rows())
        parts.append("<table><thead><tr><th>variable</th><th>gradient</th><th>how computed"
                     f"</th></tr></thead><tbody>{rows}</tbody></table>")
        return "\n".join(parts)

    # --- the picture -----------------------------------------------------------------------
    def dot_labels(self) -> dict[Tensor, str]:
        """Text per node for the side-by-side picture: forward nodes get their table label,
        gradient-graph nodes the numbers of the steps whose contribution or sum they are.

        >>> from symgrad.ir.graph import var
        >>> from symgrad.ops.scalar import sin
        >>> x = var("x")
        >>> e = explain(sin(x) * x, x)
        >>> for node, text in e.dot_labels().items():
        ...     print(f"{node}: {text}")
        sin(x): t1 #2
        x*sin(x): f
        x: #1
        x*cos(x): #3
        x*cos(x) + sin(x): Σ #2+#3
        """
        notes: dict[Tensor, list[str]] = {}
        for node, label in self.labels.items():
            notes.setdefault(node, []).append(label)
        for s in self.steps:
            notes.setdefault(s.contribution, []).append(f"#{s.number}")
            if s.accumulates:
                notes.setdefault(s.total, []).append("Σ " + _numbers_text(s.summands, "+"))
        return {node: " ".join(dict.fromkeys(texts)) for node, texts in notes.items()}

    def to_dot(self, **options: Any) -> Any:
        """`sg.to_dot_pair` of f and its gradients with the step numbers written on the
        nodes, so the picture reads with the table; `options` go to `to_dot_pair`."""

        options.setdefault("env", self.at)
        return to_dot_pair(self.f, self.wrt, derivatives=list(self.gradients.values()),
                           labels=self.dot_labels(), **options)


def _text(t: Tensor) -> str:
    """str(t), unless written out as a tree it would be huge (a graph with much sharing)."""
    if inlined_size(t, INLINED_LIMIT) > INLINED_LIMIT:
        return f"<{count_ops(t)}-op graph, too big to write out>"
    return str(t)


def _cut(text: str, width: int | None) -> str:
    """Shorten a cell to `width`, cutting the formula and keeping a trailing `= value`."""
    if width is None or len(text) <= width:
        return text
    formula, sep, value = text.rpartition(" = ")
    if not sep or len(value) + 4 > width:
        return text[: width - 1] + "…"
    room = width - len(value) - len(sep)
    return formula[: room - 1] + "…" + sep + value


def _grouped(text: str) -> str:
    """A formula in parentheses when it is a sum or starts with a sign, to read as one term."""
    return f"({text})" if " " in text or text.startswith("-") else text


def _text_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    first = cells[0].rjust(widths[0])
    rest = [cell.ljust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
    return "  ".join([first, *rest]).rstrip()


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _as_expression(f: Any) -> Tensor:
    f = unwrap(f)
    if isinstance(f, str):
        return parse(f)
    if isinstance(f, Tensor):
        return f
    if isinstance(f, int | float):
        return const(f)
    raise TypeError(f"explain a Tensor or a formula as text, got {type(f).__name__}")


def _point_values(tensors: list[Tensor], f: Tensor, at: Mapping | None) -> dict | None:
    """Every tensor's value at the point, in one `evaluate` call; None when there is no point
    (no `at` and some variable of f unbound)."""
    if at is None and any(v.value is None for v in free_variables(f)):
        return None
    unique = list(dict.fromkeys(tensors))
    try:
        with np.errstate(all="ignore"):
            computed = evaluate(unique, at or {})
    except UnboundVariableError as error:
        raise ValueError(
            f"at= gives no value for {error.name!r}: pass every variable of f, "
            f"e.g. at={{{error.name!r}: 1.0, ...}}"
        ) from None
    # Constants evaluate to ints; every number of the table is a float (arrays stay arrays).
    return {t: float(v) if isinstance(v, int | float) else v
            for t, v in zip(unique, computed, strict=True)}


def _pulled(step: Step | ExplainedStep) -> bool:
    """Whether the step is a tensor op's pullback: its local is a formula of delta, the
    upstream, with no value of its own (forward mode takes scalar graphs, so never)."""
    op = step.node.op
    return op is not None and op.pullback is not None


def explain(
    f: Tensor | str,
    wrt: Tensor | str | Sequence[Tensor | str],
    at: Mapping[Any, Any] | None = None,
    mode: str = "reverse",
    *,
    simplify: bool = True,
) -> Explanation:
    """The chain rule step by step: reverse mode (the backward pass) or forward mode.

    Every step is one chain-rule product `contribution = upstream * local` from the same sweep
    that `gradient` (reverse) or `grad` (forward) runs; with `at` (or when every variable is
    bound) each step carries numbers. `f` and `wrt` may also be text (`"x*y + b"`, `"x y"`).

    >>> from symgrad.ir.graph import variables
    >>> x, y, b = variables("x y b")
    >>> e = explain(x * y + b, [x, y, b], at={"x": 2, "y": 3, "b": 1})
    >>> e.value, [e.gradient_values[v] for v in (x, y, b)]
    (7.0, [3.0, 2.0, 1.0])
    >>> s = e.steps[2]
    >>> s.number, str(s.node), str(s.operand), str(s.local), s.local_value, s.total_value
    (3, 'x*y', 'x', 'y', 3.0, 3.0)
    """
    # millions of small objects for a deep graph: the collector would walk every live object
    # again and again (9x slower with sympy's cache full of deep expressions)
    with gc_paused():
        return _explained(f, wrt, at, mode, simplify)


def _explained(f: Any, wrt: Any, at: Mapping | None, mode: str, simplify: bool) -> Explanation:
    if mode not in MODES:
        raise ValueError(f"mode must be 'reverse' or 'forward', got {mode!r}")
    f = _as_expression(f)
    wrt_list = list(dict.fromkeys(as_variables(wrt, f).variables))  # each variable once
    raw: list[tuple[Tensor | None, Any]] = []
    gradients: dict[Tensor, Tensor] = {}
    if mode == "reverse":
        record: list = []
        adjoint = reverse_sweep(f, wrt_list, record=record)
        raw = [(None, step) for step in record]
        gradients = {w: adjoint.get(w, const(0)) for w in wrt_list}
    else:
        for w in wrt_list:
            record = []
            derivative = forward_sweep(f, w, record=record)
            raw += [(w, step) for step in record]
            gradients[w] = derivative.get(f, const(0))
    wanted = [f, *free_variables(f), *gradients.values()]
    for _, s in raw:
        wanted += [s.node, s.operand, s.upstream, s.contribution, s.total]
        if not _pulled(s):
            wanted.append(as_tensor(s.local))
    values = _point_values(wanted, f, at)

    def value(t: Tensor) -> Any:
        return None if values is None else values[t]

    steps = []
    received: dict[tuple, list[int]] = {}  # the step numbers summed into each derivative
    for number, (sweep, s) in enumerate(raw, start=1):
        key = (sweep, s.operand if mode == "reverse" else s.node)
        received.setdefault(key, []).append(number)
        local = as_tensor(s.local)
        summands = StepNumbers(received[key], len(received[key]))
        steps.append(ExplainedStep(
            number, mode, sweep, s.node, s.operand, s.position, local, s.upstream, s.contribution,
            s.total, summands, value(s.node), value(s.operand),
            None if _pulled(s) else value(local),
            value(s.upstream), value(s.contribution), value(s.total),
        ))
    return Explanation(f, wrt_list, mode, at, steps, gradients, values, simplify)
