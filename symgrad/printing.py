"""Text and LaTeX for graphs, with the fewest parentheses the precedences allow.

Precedences follow Python's (`ops.PREC_*`), so printed text parses back: unary minus binds
tighter than `*` and looser than `**`, `**` groups to the right.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from string import Formatter
from typing import Any

import numpy as np

from symgrad.graph import NamedConstant, Tensor, toposort, use_counts
from symgrad.ops import PREC_ATOM, PREC_MUL, PREC_NEG, PREC_POW, Op

PREC_POSTFIX = 70  # A.T binds tighter than every operator, as attribute access does


def format_number(value: Any) -> str:
    """A constant as text that parses back: `2`, `0.5`, `1e-08`, `pi`."""
    if isinstance(value, NamedConstant):
        return value.name
    if isinstance(value, np.ndarray):
        return np.array2string(value, separator=", ")
    return repr(value)


def _precedence(node: Tensor) -> int:
    if node.children is not None:
        return node.op.precedence
    if node.number is not None and node.number < 0:
        return PREC_NEG
    return PREC_ATOM


def needs_parens(op: Op, position: int, operand: Tensor) -> bool:
    """Whether `operand`, at `position` (0 left, 1 right) of `op`, needs parentheses."""
    inner = _precedence(operand)
    if op.symbol is None:  # function call: its own parentheses
        return False
    if op.arity == 1 and op.precedence > PREC_POW:  # postfix, as A.T: (A@B).T
        return inner < op.precedence
    if op.arity == 1:  # unary minus: -(a + b), -(-a), but -a*b
        return inner < PREC_MUL or inner == PREC_NEG
    if position == 0:
        # a**b**c groups right, so a power (or a sign) on the left of ** needs parentheses
        return inner < op.precedence or (op.precedence == PREC_POW and inner <= PREC_POW)
    if inner == PREC_NEG:  # x*(-y), x**(-2)
        return True
    # a - (b + c) and a/(b*c), but a + b + c, a*b*c and a**b**c (** groups right)
    same_level_grouping = op.commutative or op.precedence == PREC_POW
    return inner < op.precedence or (inner == op.precedence and not same_level_grouping)


class _Style:
    """How one output language writes leaves, operators and parentheses."""

    def __init__(self, leaf: Callable[[Tensor], str], template: Callable[[Op], str],
                 parens: Callable[[str], str], grouped: Callable[[Op, int], bool],
                 wrapped: Callable[[Op, int, Tensor], bool] = lambda op, position, a: False,
                 postfix: str = "\0", node_template: Callable[[Tensor], str | None] | None = None):
        self.leaf = leaf
        self.template = template
        self.parens = parens
        self.grouped = grouped  # True where the template itself groups the operand
        self.wrapped = wrapped  # True where the language needs parentheses precedence misses
        self.postfix = postfix  # a template text after an operand that binds it tightest (.T)
        self.node_template = node_template  # a template chosen per node, else None


def _text_template(op: Op) -> str:
    if op.text:
        return op.text
    if op.symbol is None:
        return op.name + ("({a})" if op.arity == 1 else "({a}, {b})")
    if op.arity == 1:
        return op.symbol + "{a}"
    spaced = op.precedence < PREC_MUL
    return "{a} " + op.symbol + " {b}" if spaced else "{a}" + op.symbol + "{b}"


def _text_leaf(node: Tensor) -> str:
    return node.name if node.name is not None else format_number(node._value)


def _latex_number(value: Any) -> str:
    if isinstance(value, NamedConstant):
        return value.latex
    text = format_number(value)
    if text in ("inf", "-inf", "nan"):
        return {"inf": "\\infty", "-inf": "-\\infty", "nan": "\\mathrm{NaN}"}[text]
    mantissa, e, exponent = text.partition("e")
    if not e or isinstance(value, np.ndarray):
        return text
    power = f"10^{{{int(exponent)}}}"  # 1e-08 -> 10^{-8}, 2.5e+20 -> 2.5 \cdot 10^{20}
    return power if mantissa == "1" else f"{mantissa} \\cdot {power}"


def _latex_leaf(node: Tensor) -> str:
    if node.name is None:
        return _latex_number(node._value)
    base, _, index = node.name.partition("_")
    return f"{base}_{{{index}}}" if index else base


TEXT = _Style(_text_leaf, _text_template, lambda s: f"({s})", lambda op, position: False,
              postfix=".T", node_template=lambda node: matrix_template(node, latex=False))
LATEX = _Style(
    _latex_leaf,
    lambda op: op.latex,
    lambda s: f"\\left({s}\\right)",
    # \frac{..}{..} groups both operands, and an exponent sits in its own braces
    lambda op, position: op.name == "div" or (op.name == "pow" and position == 1),
    # e^{x} or a number written 10^{k} as a base: (e^{x})^{2}, not the double superscript
    lambda op, position, operand: op.name == "pow" and position == 0 and (
        operand.op is not None and operand.op.name == "exp"
        or (operand.is_const and "^" in _latex_leaf(operand))
    ),
)


def matrix_template(node: Tensor, latex: bool) -> str | None:
    """The template of a node of a tensor expression where it differs from its op's: in
    LaTeX a scalar multiple is written `2 A` and an elementwise product `A \\odot B`; a row
    vector (x.T@A) is not transposed again on the left of a product."""
    a, b, op = node.children
    if latex and op.name == "mul":
        return "{a} \\odot {b}" if a.shape and b.shape else "{a} {b}"
    if op.name in ("inner", "vecmat") and a.op is not None and a.op.name == "vecmat":
        return "{a} {b}" if latex else "{a}@{b}"
    return None


MATRIX_LATEX = _Style(
    _latex_leaf,
    lambda op: op.latex,
    lambda s: f"({s})",
    LATEX.grouped,
    LATEX.wrapped,
    postfix="^",
    node_template=lambda node: matrix_template(node, latex=True),
)


def _template_pieces(template: str) -> list[str]:
    """'{a} + {b}' -> ['', 'a', ' + ', 'b', '']: literals at even, fields at odd positions."""
    pieces = [""]
    for literal, field, _, _ in Formatter().parse(template):
        pieces[-1] += literal
        if field is not None:
            pieces += [field, ""]
    return pieces


def render(node: Tensor, style: _Style, names: Mapping[Tensor, str] | None = None) -> str:
    """The whole graph inlined as one formula, written out with an explicit stack so deep
    graphs neither recurse nor copy long strings: time is linear in the output's length.
    Nodes in `names` (other than `node` itself) are written as their names."""
    pieces_of: dict[Any, list[str]] = {}
    out: list[str] = []
    stack: list[Tensor | str] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        children = item.children
        if children is None:
            out.append(style.leaf(item))
            continue
        if names is not None and item is not node and item in names:
            out.append(names[item])
            continue
        op = children.op
        template = None
        if (item.shape or children.a.shape) and style.node_template is not None:
            template = style.node_template(item)
        pieces = pieces_of.get(template or op)
        if pieces is None:
            pieces = pieces_of[template or op] = _template_pieces(template or style.template(op))
        work: list[Tensor | str] = []
        for index, piece in enumerate(pieces):
            if index % 2 == 0:
                work.append(piece)
                continue
            position = 0 if piece == "a" else 1
            operand = children[position]
            named = names is not None and operand in names  # a name is an atom
            if pieces[index + 1].startswith(style.postfix):  # (a + b).T
                parenthesize = _precedence(operand) < PREC_POSTFIX or style.wrapped(
                    op, position, operand)
            else:
                parenthesize = style.wrapped(op, position, operand) or (
                    not style.grouped(op, position) and needs_parens(op, position, operand)
                )
            if not named and parenthesize:
                opening, closing = style.parens("\0").split("\0")
                work += [opening, operand, closing]
            else:
                work.append(operand)
        stack.extend(reversed(work))
    return "".join(out)


def to_str(node: Tensor) -> str:
    """Readable infix text that `parse` reads back.

    >>> from symgrad.graph import variables
    >>> from symgrad.ops import sin
    >>> x, y = variables("x y")
    >>> to_str(x * y + sin(x) ** 2)
    'x*y + sin(x)**2'
    >>> to_str((x + y) ** -2)
    '(x + y)**(-2)'
    """
    return render(node, TEXT)


def latex(node: Tensor) -> str:
    """LaTeX for the formula.

    >>> from symgrad.graph import variables
    >>> from symgrad.ops import sin
    >>> x, y = variables("x y")
    >>> latex(sin(x) / (x + y) ** 2)
    '\\\\frac{\\\\sin{\\\\left(x \\\\right)}}{\\\\left(x + y\\\\right)^{2}}'
    """
    shaped = node.shape or any(n.shape for n in toposort(node))
    return render(node, MATRIX_LATEX if shaped else LATEX)


def binding_prefix(nodes: list[Tensor], prefix: str = "t") -> str:
    """A prefix p such that no variable among `nodes` is named p1, p2, ...: `t`, else `_t`,
    `__t`, ..."""
    taken = {node.name for node in nodes if node.is_var}
    while any(re.fullmatch(re.escape(prefix) + r"\d+", name) for name in taken):
        prefix = "_" + prefix
    return prefix


def pretty(node: Tensor, shared: bool = True) -> str:
    """The formula as text. With `shared`, every inner node used more than once gets a
    numbered let-binding line (`t1 = x*y`), operands first, and the last line is the result:
    the text stays linear in the graph's size where the inlined `str` can grow exponentially.
    `parse` reads both forms back.

    >>> from symgrad.graph import variables
    >>> from symgrad.ops import sin
    >>> x, y = variables("x y")
    >>> s = sin(x * y)
    >>> print(pretty(s * s + x * y))
    t1 = x*y
    t2 = sin(t1)
    t2*t2 + t1
    >>> pretty(s * s + x * y, shared=False)
    'sin(x*y)*sin(x*y) + x*y'
    """
    if not isinstance(node, Tensor):
        raise TypeError(f"pretty takes a Tensor, got {type(node).__name__}")
    if not shared:
        return to_str(node)
    order = toposort(node)
    uses = use_counts(order)
    prefix = binding_prefix(order)
    names: dict[Tensor, str] = {}
    for current in order:
        if current.children is not None and uses.get(current, 0) > 1:
            names[current] = f"{prefix}{len(names) + 1}"
    lines = [f"{name} = {render(bound, TEXT, names)}" for bound, name in names.items()]
    lines.append(render(node, TEXT, names))
    return "\n".join(lines)


def inlined_size(node: Tensor, limit: int | None = None) -> int:
    """The number of nodes of the formula written out as a tree (shared nodes counted at
    every use), stopping early once past `limit`.

    >>> from symgrad.graph import var
    >>> x = var("x")
    >>> s = x * x
    >>> inlined_size(s * s)
    7
    """
    size: dict[Tensor, int] = {}
    for current in toposort(node):
        children = current.children
        total = 1
        if children is not None:
            total += size[children.a] + (0 if children.b is None else size[children.b])
        if limit is not None and total > limit:
            return total
        size[current] = total
    return size[node]
