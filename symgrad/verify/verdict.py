"""The verdict of a check: `CheckResult` for one variable, `CheckResults` for several, printed
as symgrad writes formulas and shown coloured in notebooks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from symgrad.interop.sympy_bridge import from_sympy, with_deep_stack
from symgrad.ir.graph import Tensor
from symgrad.present.display import results_html, verdict_html


def short_formula(expr: Any, width: int = 300) -> str:
    """`expr` as text, cut to `width` characters (sympy prints deep formulas recursively)."""
    if expr is None:
        return "(not computed: see the notes)"
    text = with_deep_stack(str, expr)  # sympy's printer recurses once per level
    return text if len(text) <= width else text[: width - 3] + "..."


def _in_symgrad_order(expr: sp.Expr | None) -> Any:
    """sympy's formula as a graph, so it prints in symgrad's order beside symgrad's own (`y +
    2*sin(x)*cos(x)` on both lines); sympy's formula where the bridge cannot read it back."""
    if expr is None:
        return None
    try:
        return from_sympy(expr)
    except (ValueError, TypeError, ArithmeticError, RecursionError):  # zoo, I, an unknown call
        return expr


@dataclass
class CheckResult:
    """symgrad's derivative against sympy's for one variable; truthy when they agree.

    `symgrad` and `sympy` are the two derivatives as sympy expressions (sympy's rewritten to
    symgrad's kink conventions); printed, both are written as symgrad writes formulas (the
    checked `derivative` itself, and sympy's read back), in one order, as `str`, `latex` and
    the CLI write them. `point` is a point where they differ (else None) and `values`
    their values there: a falsy result without a point is undecided (no point where both are
    finite, and no proof). `proved` is True when sympy simplified the difference to 0. For a
    graph too big for sympy both formulas are None and central differences stand in (a note
    says so).
    """

    ok: bool
    wrt: str
    symgrad: sp.Expr | None
    sympy: sp.Expr | None
    derivative: Tensor
    point: dict[str, float] | None = None
    values: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)
    proved: bool = False
    compared: int = 0
    slopes: int = 0  # points where sympy's is undefined and f's own slope agreed instead
    label: str = "symgrad"  # whose derivative `symgrad` holds ("claimed" for a user's)
    reference: str = "sympy"  # what it was compared with ("central differences" for big f)

    def __bool__(self) -> bool:
        return self.ok

    def _repr_html_(self) -> str:  # notebooks: the verdict, coloured
        return verdict_html(str(self), self.ok)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython: the text
        printer.text(str(self))

    def __str__(self) -> str:
        if self.ok:
            how = [f"equal at {self.compared} random points"] if self.compared else []
            if self.slopes:
                how.append(f"equal to f's slope at {self.slopes} points where sympy's is nan")
            if self.proved:
                how.insert(0, "proved symbolically")
            head = f"d/d{self.wrt}: agree ({'; '.join(how) or 'no finite point to compare'})"
        elif self.values is None:
            head = f"d/d{self.wrt}: UNDECIDED (no point to compare at, and no proof)"
        else:
            where = ", ".join(f"{name} = {value:g}" for name, value in (self.point or {}).items())
            head = (
                f"d/d{self.wrt}: DIFFER at {where or 'every point'}: {self.label} gives "
                f"{self.values[0]:.10g}, {self.reference} "
                f"give{'' if self.reference.endswith('s') else 's'} {self.values[1]:.10g}"
            )
        width = max(len(self.label), 5) + 1
        lines = [head]
        if self.symgrad is not None or self.sympy is not None:  # none for tensor gradients
            ours = self.derivative if self.symgrad is not None else None
            lines += [
                f"  {self.label + ':':<{width}} {short_formula(ours)}",
                f"  {'sympy:':<{width}} {short_formula(_in_symgrad_order(self.sympy))}",
            ]
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


@dataclass
class CheckResults:
    """One `CheckResult` per variable; truthy when every one agrees."""

    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(self.results)

    def __bool__(self) -> bool:
        return self.ok

    def __iter__(self) -> Iterator[CheckResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> CheckResult:
        return self.results[index]

    def __str__(self) -> str:
        return "\n".join(str(result) for result in self.results)

    def _repr_html_(self) -> str:
        return results_html(self.results)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))
