"""The forms a reader expects in place of the building blocks a graph is made of: a comparison
written as Python writes it (`x > 0`), `where(c, a, b)` in place of the pair of
`select_zero` nodes it is built from (one `cases` block in LaTeX), `norm(x)` in place of
`sqrt(sum(x**2))`. Each is a display op: it prints, it never computes, and `parse` reads
its text back to the graph it stands for.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from symgrad.ir.graph import Tensor
from symgrad.ir.op import PREC_MUL, Op
from symgrad.ops.scalar import COMPARISONS, eq, pow, select_zero, sqrt
from symgrad.ops.text import PREC_COMPARISON
from symgrad.rewrite.matrix_simplify import broadcast_operands, without_leading_axes


def _not_computed(*operands: Any) -> Any:
    raise TypeError("a display op only prints")


def _display_op(name: str, arity: int, text: str, latex: str) -> Op:
    return Op(name, arity, _not_computed, _not_computed, _not_computed, text=text, latex=latex)


_LATEX_SYMBOLS = {"<=": "\\leq", ">=": "\\geq", "==": "=", "!=": "\\neq"}
_SYMBOLS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}


def _relation(op: Op, condition: bool) -> Op:
    """A comparison as an infix relation; in LaTeX an Iverson bracket `[x > 0]` (a 0/1
    value), or bare as the condition of a case."""
    symbol = _SYMBOLS[op.name]
    written = f"{{a}} {_LATEX_SYMBOLS.get(symbol, symbol)} {{b}}"
    return replace(op, symbol=symbol, precedence=PREC_COMPARISON, text=f"{{a}} {symbol} {{b}}",
                   latex=written if condition else f"\\left[{written}\\right]")


RELATIONS = {op: _relation(op, condition=False) for op in COMPARISONS}
"""Each comparison op's display op: `x > 0`, in LaTeX `\\left[x > 0\\right]`."""
CONDITIONS = {RELATIONS[op]: _relation(op, condition=True) for op in COMPARISONS}
"""Each of those as the condition of a case: `x > 0` in LaTeX too."""
BRACKETED = frozenset(RELATIONS.values())
"""Display ops whose LaTeX is bracketed: an operand that needs no parentheses there."""

CASE = _display_op("case", 2, "{b}, {a}", "{a} & \\text{{if }} {b}")
"""`a if b`: the first operand of `WHERE`."""
WHERE = _display_op(
    "where", 2, "where({a}, {b})",
    "\\begin{{cases}} {a} \\\\ {b} & \\text{{otherwise}} \\end{{cases}}",
)
"""where(c, a, b), from the nodes WHERE(CASE(a, c), b)."""
NORM = _display_op("norm", 1, "norm({a})", "\\left\\lVert {a} \\right\\rVert")
"""norm(x), for sqrt(sum(x**2))."""
ZEROS = _display_op("zeros_like", 1, "zeros_like({a})", "0")
"""zeros_like(A), for 0 broadcast to A's shape (a zero gradient)."""
ONES = _display_op("ones_like", 1, "ones_like({a})", "\\mathbf{{1}}")
"""ones_like(A), for 1 broadcast to A's shape; in LaTeX the ones vector (matrix) \\mathbf{1}."""
REPEATED = replace(_display_op("repeated", 2, "{a}*ones_like({b})", "{a}"), symbol="*",
                   precedence=PREC_MUL)
"""a*ones_like(B), for a broadcast to B's shape; in LaTeX a, as broadcasting is read."""


def elementwise_operands(node: Tensor) -> tuple[Tensor, Tensor] | None:
    """The operands of an elementwise node, new leading axes left to broadcasting
    (`broadcast_operands`), or None where none is dropped."""
    children = node.children
    if children is None or children.b is None or children.op.infer_shape is not None:
        return None
    return broadcast_operands(node)


def broadcast(node: Tensor) -> tuple[Tensor, Tensor] | None:
    """(a, B) of a broadcast of a to B's shape, new leading axes in a's elementwise part
    dropped (`without_leading_axes`), else None."""
    children = node.children
    if children is None or children.op.name != "broadcast_like" or children.b is None:
        return None
    return without_leading_axes(children.a), children.b


def selected(node: Tensor) -> tuple[Tensor, Tensor] | None:
    """(c, a) of `select_zero(c, a)`, else None.

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> [str(t) for t in selected(select_zero(x > 0, y))], selected(x)
    (['x > 0', 'y'], None)
    """
    children = node.children
    if children is None or children.op is not select_zero:
        return None
    assert children.b is not None  # select_zero is binary
    return children.a, children.b


def complement(condition: Tensor) -> bool:
    """Whether `condition` is `c == 0`, the condition of the second branch of a where on c."""
    children = condition.children
    return (children is not None and children.op is eq and children.b is not None
            and children.b.number == 0)


def normed(node: Tensor, atoms: Any) -> Tensor | None:
    """x of `sqrt(sum(x**2))` (over every axis, the parts not shared), else None.

    >>> from symgrad.ops.tensor import norm, vector
    >>> str(normed(norm(vector("v", 3)), ()))
    'v'
    """
    children = node.children
    if children is None or children.op is not sqrt:
        return None
    total = children.a
    if total in atoms or total.children is None or total.op is None \
            or total.op.name != "sum" or total.op.arg != (None, False):
        return None
    square = total.children.a
    if square in atoms or square.op is not pow or square.children is None:
        return None
    exponent = square.children.b
    return square.children.a if exponent is not None and exponent.number == 2 else None
