"""Text and LaTeX for graphs, with the fewest parentheses the precedences allow.

Precedences follow Python's (`ops.PREC_*`), so printed text parses back: unary minus binds
tighter than `*` and looser than `**`, `**` groups to the right.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from fractions import Fraction
from string import Formatter
from typing import Any, NamedTuple

import numpy as np

from symgrad.ir.graph import (
    PROVIDED,
    NamedConstant,
    Tensor,
    children_of,
    name_of,
    toposort,
    use_counts,
)
from symgrad.ir.op import PREC_MUL, PREC_POSTFIX, Op
from symgrad.ops.text import format_number, needs_parens, precedence_of
from symgrad.present import readable
from symgrad.present.order import CanonicalOrder


def format_value(value: Any, digits: int = 6) -> str:
    """A computed value for people to read: `digits` significant digits, integers without a
    point, an array by its first entries and its shape, `?` for a value not known. (A
    constant in a formula is written by `format_number`, exactly, so it parses back.)

    >>> format_value(3.0), format_value(0.41997434161402614), format_value(2**0.5, 10)
    ('3', '0.419974', '1.414213562')
    >>> format_value(np.arange(8.0), 4), format_value(None), format_value(float("nan"))
    ('[0, 1, 2, ...] (8,)', '?', 'nan')
    """
    if value is None:
        return "?"
    if isinstance(value, np.ndarray) and value.ndim > 0:
        flat = value.ravel()
        shown = ", ".join(format_value(entry, digits) for entry in flat[:3])
        return f"[{shown}{', ...' if flat.size > 3 else ''}] {value.shape}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isfinite(number) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:.{digits}g}"


class _Style:
    """How one output language writes leaves, operators and parentheses."""

    def __init__(self, leaf: Callable[[Tensor], str], template: Callable[[Op], str],
                 parens: Callable[[str], str], grouped: Callable[[Op, int], bool],
                 wrapped: Callable[[Op, int, Tensor], bool] = lambda op, position, a: False,
                 postfix: str = "\0", node_template: Callable[[Tensor], str | None] | None = None,
                 exact: bool = True, bracketed: Callable[[Any], bool] = lambda operand: False):
        self.leaf = leaf
        self.template = template
        self.parens = parens
        self.grouped = grouped  # True where the template itself groups the operand
        self.wrapped = wrapped  # True where the language needs parentheses precedence misses
        self.postfix = postfix  # a template text after an operand that binds it tightest (.T)
        self.node_template = node_template  # a template chosen per node, else None
        self.exact = exact  # read back as text: every grouping that matters is shown
        self.bracketed = bracketed  # True for an operand whose template brackets it


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
    if node.name is not None:
        return node.name
    return format_number(node.value if node.number is None else node.number)


def _latex_number(value: Any) -> str:
    if isinstance(value, NamedConstant):
        return value.latex
    if isinstance(value, Fraction):
        sign = "-" if value < 0 else ""
        return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"
    text = format_number(value)
    if text in ("inf", "-inf", "nan"):
        return {"inf": "\\infty", "-inf": "-\\infty", "nan": "\\mathrm{NaN}"}[text]
    mantissa, e, exponent = text.partition("e")
    if not e or isinstance(value, np.ndarray):
        return text
    power = f"10^{{{int(exponent)}}}"  # 1e-08 -> 10^{-8}, 2.5e+20 -> 2.5 \cdot 10^{20}
    return power if mantissa == "1" else f"{mantissa} \\cdot {power}"


GREEK = {
    *"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma "
     "tau upsilon phi chi psi omega".split(),
    *"Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split(),
}
"""Names LaTeX writes as Greek letters: a variable `sigma` prints as \\sigma."""


def latex_name(name: str) -> str:
    """A variable's name as a lecture writes it: Greek letters as letters, an index after `_`
    or a digit suffix as a subscript.

    >>> latex_name("sigma"), latex_name("w1"), latex_name("x_i"), latex_name("mu_12")
    ('\\\\sigma', 'w_{1}', 'x_{i}', '\\\\mu_{12}')
    """
    if name.startswith("_"):  # anonymous leaves, _t1: the underscore is part of the name
        stripped = name.lstrip("_")
        return "\\_" * (len(name) - len(stripped)) + latex_name(stripped)
    base, underscore, index = name.partition("_")
    if not underscore:
        digits = re.fullmatch(r"([A-Za-z]+)(\d+)", name)
        if digits:
            base, index = digits.groups()
    if base in GREEK:
        base = "\\" + base
    return f"{base}_{{{index}}}" if index else base


def _latex_leaf(node: Tensor) -> str:
    if node.name is None:
        return _latex_number(node.value if node.number is None else node.number)
    return latex_name(node.name)


def _latex_product(node: Tensor) -> str | None:
    """a*b as a lecture writes it: side by side (`2 x y`, `x \\sin(x)`), with \\cdot only
    where the right factor's text starts with a digit (`x \\cdot 2`)."""
    a, b, op = children_of(node)
    if node.shape or a.shape:
        return matrix_template(node, latex=True)
    if op.name != "mul" or b is None:
        return None
    first = b
    inner = first.children
    while inner is not None and not needs_parens(inner.op, 0, inner.a):
        if inner.op.symbol is None or inner.op.arity == 1 or inner.op.name == "div":
            break  # a call, a sign or a fraction: no digit to run into
        first = inner.a
        inner = first.children
    if needs_parens(op, 1, b, exact=False) or not (
        first.is_const and _latex_leaf(first)[:1].isdigit()
    ):
        return "{a} {b}"
    return "{a} \\cdot {b}"


TEXT = _Style(_text_leaf, _text_template, lambda s: f"({s})", lambda op, position: False,
              postfix=".", node_template=lambda node: matrix_template(node, latex=False))
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
    node_template=_latex_product,
    exact=False,
    bracketed=lambda operand: operand.op in readable.BRACKETED,  # [x > 0]
)


def matrix_template(node: Tensor, latex: bool) -> str | None:
    """The template of a node of a tensor expression where it differs from its op's: in
    LaTeX a scalar multiple is written `2 A` and an elementwise product `A \\odot B`; a row
    vector (x.T@A) is not transposed again on the left of a product; a scalar broadcast to a
    vector keeps its column of ones in an outer product (`s 1 x^T`, not the row `s x^T`)."""
    a, b, op = children_of(node)
    if latex and op.name == "outer" and a.op is not None and a.op.name == "repeated":
        return "{a} \\mathbf{{1}} {b}^{{\\top}}"  # s*ones_like(u)@x.T: a column of s
    if latex and op.name == "mul":
        return "{a} \\odot {b}" if a.shape and b is not None and b.shape else "{a} {b}"
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
    exact=False,
    bracketed=LATEX.bracketed,
)


def _template_pieces(template: str) -> list[str]:
    """'{a} + {b}' -> ['', 'a', ' + ', 'b', '']: literals at even, fields at odd positions."""
    pieces = [""]
    for literal, field, _, _ in Formatter().parse(template):
        pieces[-1] += literal
        if field is not None:
            pieces += [field, ""]
    return pieces


def render(node: Tensor, style: _Style, names: Mapping[Tensor, str] | None = None,
           order: CanonicalOrder | None = None) -> str:
    """The whole graph inlined as one formula, its sums and products in canonical order
    (`order.py`; pass one `order` for several formulas that name the same nodes), written out
    with an explicit stack so deep graphs neither recurse nor copy long strings: time is
    linear in the output's length. Nodes in `names` (other than `node` itself) are written as
    their names."""
    node = (order or CanonicalOrder(names or (), readable=True))(node)
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
        if style.node_template is not None and (
            item.shape or children.a.shape or op.name == "mul"
        ):
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
            operand = children.a if position == 0 else children.b
            assert operand is not None  # templates name b only for binary ops
            named = names is not None and operand in names  # a name is an atom
            if pieces[index - 1].endswith("(") and pieces[index + 1].startswith((")", ",")):
                parenthesize = False  # an argument of a call its template writes: ones_like(B)
            elif pieces[index + 1].startswith(style.postfix):  # (a + b).T
                parenthesize = precedence_of(operand) < PREC_POSTFIX or style.wrapped(
                    op, position, operand)
            else:
                parenthesize = style.wrapped(op, position, operand) or (
                    not style.grouped(op, position)
                    and needs_parens(op, position, operand, style.exact,
                                     children.b if position == 0 else children.a,
                                     names if names is not None else ())
                )
            if not named and parenthesize and not style.bracketed(operand):
                opening, closing = style.parens("\0").split("\0")
                work += [opening, operand, closing]
            else:
                work.append(operand)
        stack.extend(reversed(work))
    return "".join(out)


WRITTEN_OUT_LIMIT = 20_000
"""Nodes of the written-out tree past which `str` and `latex` give the shared form instead:
a graph of 30 nested sin(f)*cos(f) writes out to billions of nodes."""


def _too_big(node: Tensor) -> bool:
    """Whether the written-out formula is past the limit because of sharing (a deep chain
    with nothing shared writes out the same either way)."""
    if inlined_size(node, limit=WRITTEN_OUT_LIMIT) <= WRITTEN_OUT_LIMIT:
        return False
    distinct = len(toposort(node))
    return inlined_size(node, limit=2 * distinct) > 2 * distinct


def to_str(node: Tensor) -> str:
    """Readable infix text that `parse` reads back to the same value, sums and products in
    one order however the formula was built (`order.py`); past `WRITTEN_OUT_LIMIT`
    written-out nodes, the shared form of `pretty`, after a comment line saying so.

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import sin
    >>> x, y = variables("x y")
    >>> to_str(x * y + sin(x) ** 2)
    'x*y + sin(x)**2'
    >>> to_str((x + y) ** -2)
    '(x + y)**(-2)'
    """
    if _too_big(node):
        return (f"# written out, this formula has over {WRITTEN_OUT_LIMIT:,} nodes; its shared "
                f"form names each repeated part:\n{pretty(node, shared=True)}")
    return render(node, TEXT)


def latex(node: Tensor, shared: bool | None = None) -> str:
    """LaTeX for the formula, as a lecture writes it (Greek letters, `w_{1}`, `2 x y`). With
    `shared`, repeated parts are named (`t_{1} = ...`) in an aligned block; by default only
    past `WRITTEN_OUT_LIMIT` written-out nodes, and the block then says so.

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import sin
    >>> x, y = variables("x y")
    >>> latex(sin(x) / (x + y) ** 2)
    '\\\\frac{\\\\sin{\\\\left(x \\\\right)}}{\\\\left(x + y\\\\right)^{2}}'
    >>> print(latex(sin(x * y) * sin(x * y), shared=True).replace(" \\\\\\\\ ", "\\n"))
    \\begin{aligned}&t_{1} t_{1}
    \\text{where } t_{1} &= \\sin{\\left(x y \\right)}\\end{aligned}
    """
    shaped = node.shape or any(n.shape for n in toposort(node))
    style = MATRIX_LATEX if shaped else LATEX
    automatic = shared is None
    if automatic:
        shared = _too_big(node)
    if not shared:
        return render(node, style)
    form = shared_form(node)
    names, order = {bound: latex_name(name) for bound, name in form.names.items()}, form.order
    lines = [f"&{render(node, style, names, order)}"]
    if automatic:
        lines.insert(0, f"&\\text{{written out, over {WRITTEN_OUT_LIMIT:,} nodes: shared form}}")
    for index, (bound, name) in enumerate(names.items()):
        lead = "\\text{where } " if index == 0 else ""
        lines.append(f"{lead}{name} &= {render(bound, style, names, order)}")
    return "\\begin{aligned}" + " \\\\ ".join(lines) + "\\end{aligned}"


class SharedForm(NamedTuple):
    """A formula's shared form: a name for each part used more than once, and the canonical
    order that writes the parts as those names."""

    names: dict[Tensor, str]
    order: CanonicalOrder


def shared_form(node: Tensor) -> SharedForm:
    """`t1`, `t2`, ... for every inner node used more than once, operands first, numbered in
    the order the formula is written in (however it was built).

    >>> from symgrad.ir.graph import var
    >>> s = var("x") * var("y")
    >>> list(shared_form(s * s + 1).names.values())
    ['t1']
    """
    order = toposort(node)
    uses = use_counts(order)
    prefix = binding_prefix(order)
    # c == 0 used only as the condition of where's second branch is read as part of that
    # where (where(c, a, b)), never on its own line
    branch_uses = Counter(selected[0] for selected in map(readable.selected, order)
                          if selected is not None and readable.complement(selected[0]))
    named = [current for current in order if current.children is not None
             and uses.get(current, 0) > 1 and branch_uses[current] < uses[current]]
    # numbered as written, not as built: by height (operands first), then in canonical order
    written = CanonicalOrder(set(named), readable=True)
    named.sort(key=lambda current: (written.key(current)[6], written.key(current)))
    names = {current: f"{prefix}{number}" for number, current in enumerate(named, 1)}
    return SharedForm(names, written)


def binding_prefix(nodes: list[Tensor], prefix: str = "t") -> str:
    """A prefix p such that no variable among `nodes` is named p1, p2, ...: `t`, else `_t`,
    `__t`, ..."""
    taken = {name_of(node) for node in nodes if node.is_var}
    while any(re.fullmatch(re.escape(prefix) + r"\d+", name) for name in taken):
        prefix = "_" + prefix
    return prefix


def pretty(node: Tensor, shared: bool = True) -> str:
    """The formula as text. With `shared`, every inner node used more than once gets a
    numbered let-binding line (`t1 = x*y`), operands first, and the last line is the result:
    the text stays linear in the graph's size where the inlined `str` can grow exponentially.
    `parse` reads both forms back.

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import sin
    >>> x, y = variables("x y")
    >>> s = sin(x * y)
    >>> print(pretty(s * s + x * y))
    t1 = x*y
    t2 = sin(t1)
    t1 + t2*t2
    >>> pretty(s * s + x * y, shared=False)
    'x*y + sin(x*y)*sin(x*y)'
    """
    if not isinstance(node, Tensor):
        raise TypeError(f"pretty takes a Tensor, got {type(node).__name__}")
    if not shared:
        return render(node, TEXT)  # asked for: written out whatever its size
    names, order = shared_form(node)
    lines = [f"{name} = {render(bound, TEXT, names, order)}" for bound, name in names.items()]
    lines.append(render(node, TEXT, names, order))
    return "\n".join(lines)


def inlined_size(node: Tensor, limit: int | None = None) -> int:
    """The number of nodes of the formula written out as a tree (shared nodes counted at
    every use), stopping early once past `limit`.

    >>> from symgrad.ir.graph import var
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


PROVIDED.text = to_str
