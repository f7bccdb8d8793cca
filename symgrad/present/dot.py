"""Pictures of graphs: `to_dot` draws one box per distinct node (micrograd's `draw_dot`, with
`data | grad` fields when values are known), `to_dot_pair` draws a function beside its
derivative graph, and `render` runs the system `dot` program to write svg, png or pdf.

Node ids come from the graph's topological order, never from `id()`, so a graph always draws
the same. Leans on `graphviz` (the Python package) for the DOT text and on `diff`/`evaluate`.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import graphviz
import numpy as np

from symgrad.autodiff.diff import gradient, reverse_sweep
from symgrad.backends.evaluate import node_values
from symgrad.ir.graph import NameClashError, Tensor, as_tensor, children_of, toposort, unwrap
from symgrad.ir.shapes import format_shape
from symgrad.ir.wrt import as_variables
from symgrad.present.printing import format_value, inlined_size

MAX_NODES = 400
"""Past this many distinct nodes `to_dot` refuses: dot gets slow and the picture unreadable."""

FORMATS = ("svg", "png", "pdf")
INSTALL_DOT = (
    "the `dot` program of Graphviz is not installed (or not on PATH); install it with "
    "`sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
    "`conda install graphviz`, then try again"
)

# Colours: variables blue, constants grey, ops white; forward nodes that a derivative reuses
# are yellow in the pair picture, and outputs get a thick border.
STYLE = {
    "var": {"shape": "ellipse", "style": "filled", "fillcolor": "#dbe9f6", "color": "#4a78a8"},
    "const": {"shape": "ellipse", "style": "filled", "fillcolor": "#eeeeee", "color": "#888888"},
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff", "color": "#444444"},
    "reused": {"fillcolor": "#fff2b3", "color": "#b08800"},
    "output": {"penwidth": "2.5"},
    "cut": {"shape": "box", "style": "dashed,rounded", "color": "#888888", "fontcolor": "#666666"},
}
GRAPH_ATTRS = {"fontname": "Helvetica", "nodesep": "0.25", "ranksep": "0.35"}
NODE_ATTRS = {"fontname": "Helvetica", "fontsize": "12", "height": "0.3", "margin": "0.06,0.03"}
EDGE_ATTRS = {
    "fontname": "Helvetica", "fontsize": "9", "fontcolor": "#a03030", "arrowsize": "0.6",
    "color": "#555555", "labelfontname": "Helvetica", "labelfontsize": "9",
    "labelfontcolor": "#a03030", "labeldistance": "1.6", "labelangle": "-40",
}


# Where the arrows of operands 1 and 2 meet their op's box (compass points, per direction of
# the picture) and the angle of each number from its arrow: the two arrows end a box's height
# or width apart and the numbers lean away from each other, so they never overlap.
OPERAND_PORTS = {"LR": ("n", "s"), "RL": ("n", "s"), "TB": ("w", "e"), "BT": ("w", "e")}
OPERAND_ANGLES = {"LR": ("-40", "40"), "RL": ("40", "-40"), "TB": ("40", "-40"),
                  "BT": ("-40", "40")}


class GraphvizNotFoundError(RuntimeError):
    """The system `dot` program is missing; the message says how to install it."""

    def __init__(self) -> None:
        super().__init__(INSTALL_DOT)


class GraphvizError(RuntimeError):
    """The system `dot` program refused a picture; the message is the first line it said."""


class Picture(graphviz.Digraph):
    """A `graphviz.Digraph` that a notebook shows scaled to the cell's width (never larger
    than its natural size), so a wide pair of graphs is not cut off.

    >>> picture = Picture()
    >>> picture.node("x")
    >>> 'width="100%"' in picture._repr_mimebundle_()["text/html"]
    True
    """

    def _repr_image_svg_xml(self) -> str:
        return scaled_svg(super()._repr_image_svg_xml())

    def _repr_mimebundle_(self, include: Iterable[str] | None = None,
                          exclude: Iterable[str] | None = None, **options: Any) -> dict:
        bundle = super()._repr_mimebundle_(include, exclude, **options)
        svg = bundle.get("image/svg+xml")
        if isinstance(svg, str) and include is None:  # inline too: html scales in every front end
            bundle["text/html"] = svg[svg.find("<svg"):]
        return bundle


_SVG_SIZE = re.compile(r'<svg width="([\d.]+)pt" height="[\d.]+pt"')


def scaled_svg(svg: str) -> str:
    """`svg` (as `dot` writes it) shown as wide as its container allows, at most its natural
    width, the height following from its viewBox.

    >>> scaled_svg('<svg width="300pt" height="80pt" viewBox="0 0 300 80">')
    '<svg width="100%" style="max-width:300pt;height:auto" viewBox="0 0 300 80">'
    """
    return _SVG_SIZE.sub(r'<svg width="100%" style="max-width:\1pt;height:auto"', svg, count=1)


# --- labels ---------------------------------------------------------------------------------
def node_title(node: Tensor) -> str:
    """What a box says first: the op's symbol, the variable's name or the constant's number.

    >>> from symgrad.ir.graph import var
    >>> [node_title(n) for n in toposort(-var("x") ** 2)]
    ['x', '2', '**', 'neg']
    """
    if node.children is None:
        return node.name if node.name is not None else format_value(node.value, DIGITS)
    op = node.children.op
    if op.arity == 1 and op.symbol is not None:  # unary minus: "-" alone reads like subtraction
        return op.name
    if op.arg is not None:  # an op bound to its axes says them: sum(·, axis=0)
        return op.text.format(a="·")
    if op.pullback is not None and op.name != "matmul":  # outer, vecmat: not a plain "@"
        return op.name
    return op.symbol if op.symbol is not None else op.name


DIGITS = 4  # significant digits of the values a picture shows

_DOT_SPECIAL = re.compile(r'[\\"{}|<>]|[^ -~]')  # and whatever is not printable ASCII


def dot_text(text: str, record: bool = False) -> str:
    r"""`text` as graphviz shows it literally in a label: every string that reaches the DOT
    text goes through here. Backslashes and quotes are escaped, a newline is a line break,
    other control characters (NUL, tabs, escapes) and lone surrogates show as Python escapes
    (`\x00`), a label never reads as HTML (`<b>x</b>`), and `record` also escapes what
    separates a record's fields (`{}|<>`).

    >>> print(dot_text('a\\ "b"\nc\x00'), dot_text("<x|y>", record=True))
    a\\ \"b\"\nc\\x00 \<x\|y\>
    """
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates

    def escaped(match: re.Match) -> str:
        char = match.group()
        if char == "\n":
            return "\\n"
        if char in "{}|<>":
            return "\\" + char if record else char
        if char in '\\"':
            return "\\" + char
        if char.isprintable():  # Unicode letters and symbols stay as they are
            return char
        return repr(char)[1:-1].replace("\\", "\\\\")  # NUL: \x00, its backslash escaped

    return graphviz.nohtml(_DOT_SPECIAL.sub(escaped, text))


def _order_operand_edges(node: Tensor) -> list[tuple[Tensor, str | None]]:
    """(operand, edge label) pairs: positions 1 and 2 where the op's operand order matters."""
    a, b, op = children_of(node)
    if b is None:
        return [(a, None)]
    if op.commutative:
        return [(a, None), (b, None)]
    return [(a, "1"), (b, "2")]


# --- values ---------------------------------------------------------------------------------
def computable_values(roots: Sequence[Tensor], env: Mapping[Any, Any] | None = None,
                      known: Mapping[Tensor, Any] | None = None) -> dict[Tensor, Any]:
    """The value of every node of the graphs of `roots` that can be computed (`node_values`
    with `partial`: a node with an unbound variable below it is left out, so a half-bound
    graph still draws); none when two variables share a name, which the picture then shows.

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> sorted(map(float, computable_values([x * y + 1], {"x": 2, "y": 3}).values()))
    [1.0, 2.0, 3.0, 6.0, 7.0]
    """
    with np.errstate(all="ignore"):
        try:
            return node_values(roots, env, known, partial=True)
        except NameClashError:  # which x is which is what the picture is for
            return {}


def node_adjoints(f: Tensor, values: Mapping[Tensor, Any]) -> dict[Tensor, Any]:
    """Numeric adjoints d f / d node (micrograd's `grad` field) for every node f depends on.

    Uses the symbolic reverse sweep with respect to every variable, then the known values.

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> f = (x + y) * y
    >>> adjoints = node_adjoints(f, computable_values([f], {"x": 3, "y": 5}))
    >>> [float(adjoints[node]) for node in (x, y, x + y, f)]
    [5.0, 13.0, 5.0, 1.0]
    """

    variables = [node for node in toposort(f) if node.is_var]
    adjoints = reverse_sweep(f, variables)
    # the adjoints read the forward nodes (mul's are its operands): their values are known
    computed = computable_values(list(adjoints.values()), known=values)
    return {node: computed[expr] for node, expr in adjoints.items() if expr in computed}


# --- building ---------------------------------------------------------------------------------
class Canvas(NamedTuple):
    """How big a picture is drawn: `dpi` for png (dots per inch), `size` the largest (width,
    height) in inches, the picture scaled down to fit; None leaves graphviz's default."""

    dpi: float | None = None
    size: tuple[float, float] | None = None

    def attrs(self) -> dict[str, str]:
        attrs = {}
        if self.dpi is not None:
            if not self.dpi > 0:
                raise ValueError(f"dpi must be a positive number, got {self.dpi!r}")
            attrs["dpi"] = f"{self.dpi:g}"
        if self.size is not None:
            width, height = self.size
            if not (width > 0 and height > 0):
                raise ValueError(f"size must be two positive inches (width, height), "
                                 f"got {self.size!r}")
            attrs["size"] = f"{width:g},{height:g}"
        return attrs


def _new_digraph(name: str, rankdir: str, canvas: Canvas | None = None) -> Picture:
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(
            f"rankdir must be 'LR' (left to right) or 'TB' (top down), got {rankdir!r}"
        )
    graph_attr = {**GRAPH_ATTRS, "rankdir": rankdir, **(canvas or Canvas()).attrs()}
    dot = Picture(name, graph_attr=graph_attr, node_attr=NODE_ATTRS,
                           edge_attr=EDGE_ATTRS)
    return dot


def _check_size(count: int, max_nodes: int | None, outline_offered: bool = True) -> None:
    if max_nodes is not None and count > max_nodes:
        offer = (f"pass outline=True to draw the {max_nodes} nodes nearest the output with "
                 f"the rest as an outline, " if outline_offered else "")
        raise ValueError(
            f"the graph has {count} distinct nodes, more than max_nodes={max_nodes}: a picture "
            f"that big is unreadable; simplify it, draw a smaller part, {offer}or pass "
            f"max_nodes={count} to draw it anyway"
        )


def nearest_nodes(roots: Sequence[Tensor], limit: int) -> set[Tensor]:
    """The `limit` distinct nodes closest to the roots (breadth first along operands): what a
    picture of a big graph keeps when it outlines the rest.

    >>> from symgrad.ir.graph import var
    >>> from symgrad.ops.scalar import sin
    >>> x = var("x")
    >>> sorted(str(n) for n in nearest_nodes([sin(x * x + 1)], 2))
    ['sin(x*x + 1)', 'x*x + 1']
    """
    kept: dict[Tensor, None] = {}
    frontier = list(dict.fromkeys(roots))
    while frontier and len(kept) < limit:
        following: list[Tensor] = []
        for node in frontier:
            if len(kept) >= limit:
                break
            if node in kept:
                continue
            kept[node] = None
            if node.children is not None:
                following += [operand for operand, _ in _order_operand_edges(node)]
        frontier = following
    return set(kept)


def _add_node(
    graph: graphviz.Digraph,
    node_id: str,
    node: Tensor,
    rankdir: str,
    value: Any = None,
    adjoint: Any = None,
    note: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> None:
    kind = "op" if node.children is not None else ("var" if node.is_var else "const")
    attrs = dict(STYLE[kind])
    fields = [node_title(node)]
    if node.shape:  # vectors and matrices show their shapes
        fields.append(format_shape(node.shape))
    if value is not None and kind != "const":
        fields.append(f"data {format_value(value, DIGITS)}")
    if adjoint is not None:
        fields.append(f"grad {format_value(adjoint, DIGITS)}")
    if note:
        fields.append(note)
    if len(fields) == 1:
        attrs["label"] = dot_text(fields[0])
    else:
        # A record: fields side by side (braces flip the record's direction in LR graphs).
        body = " | ".join(dot_text(field, record=True) for field in fields)
        attrs["label"] = "{ " + body + " }" if rankdir in ("LR", "RL") else body
        attrs["shape"] = "record" if kind == "op" else "Mrecord"
        if kind == "op":
            attrs["style"] = "filled"
    attrs.update(extra or {})
    graph.node(node_id, **attrs)


def to_dot(
    outputs: Tensor | Iterable[Tensor],
    env: Mapping[Any, Any] | None = None,
    *,
    adjoints: bool = False,
    rankdir: str | None = None,
    max_nodes: int | None = MAX_NODES,
    labels: Mapping[Tensor, str] | None = None,
    outline: bool = False,
    tree: bool = False,
    dpi: float | None = None,
    size: tuple[float, float] | None = None,
) -> Picture:
    """A `graphviz.Digraph` of the graph(s): one box per distinct node, arrows from operands.

    Inner nodes show their op's symbol, leaves their name or number; non-commutative ops
    number their incoming arrows 1 and 2 (`x - y` is not `y - x`). When every variable a node
    needs has a value (bound, or given in `env`), the node also shows `data`; `adjoints=True`
    adds micrograd's `grad` = d output / d node. `labels` adds a line of text per node.
    A graph past `max_nodes` is refused, or with `outline=True` drawn as its `max_nodes`
    nodes nearest the outputs, each part left out shown as one dashed box. `tree=True` draws
    the expression tree as sympy's `dotprint` does: the output on top and a box for every use
    of a shared node (each copy shows the node's value and its whole adjoint). `rankdir` is
    "LR" (the default; "BT" for a tree), "TB", "RL" or "BT"; `dpi` and `size` (inches) set
    the picture's resolution and largest extent.

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> source = to_dot(x - y, {"x": 3, "y": 5}).source
    >>> 'n2 [label="{ - | data -2 }"' in source, 'n0 -> n2 [headlabel=1 headport=n ' in source
    (True, True)
    >>> u = variables("u_tree")[0]
    >>> to_dot(u * u + u, tree=True).source.count("label=u_tree")
    3
    """
    roots = _roots(outputs)
    rankdir = rankdir or ("BT" if tree else "LR")
    nodes = toposort(roots)
    total = len(nodes)
    cut: dict[Tensor, None] = {}
    if tree:
        if outline:
            raise ValueError("outline=True draws the shared graph; pass tree=False for it")
        boxes, edges = _tree_boxes(roots, max_nodes)
    elif outline and max_nodes is not None and total > max_nodes:
        kept = nearest_nodes(roots, max_nodes)
        for node in nodes:
            if node in kept and node.children is not None:
                cut.update((a, None) for a, _ in _order_operand_edges(node) if a not in kept)
        boxes, edges = _graph_boxes([node for node in nodes if node in kept], cut)
    else:
        _check_size(total, max_nodes)
        boxes, edges = _graph_boxes(nodes, cut)
    values = computable_values(roots, env)
    grads: dict[Tensor, Any] = {}
    if adjoints:
        if len(roots) != 1:
            raise ValueError("adjoints=True needs a single output")
        if roots[0] in values:
            grads = node_adjoints(roots[0], values)
    dot = _new_digraph("symgrad", rankdir, Canvas(dpi, size))
    if tree:
        dot.attr(ordering="in")  # operand 1 left of operand 2, as the formula reads
    outputs_drawn: set[Tensor] = set()
    for box, node in boxes:
        if node in cut:
            dot.node(box, dot_text(f"{node_title(node)} …"), **STYLE["cut"])
            continue
        extra = None
        if node in roots and node not in outputs_drawn:  # in a tree: the top copy only
            extra = STYLE["output"]
            outputs_drawn.add(node)
        _add_node(dot, box, node, rankdir, values.get(node), grads.get(node),
                  (labels or {}).get(node), extra)
    if cut:
        shown = len(boxes) - len(cut)
        dot.node("outline", dot_text(f"showing {shown} of {total} nodes; each dashed box "
                                     f"stands for the part of the graph below it"),
                 shape="plaintext", fontsize="10")
    for tail, head, label in edges:
        operand_edge(dot, tail, head, label, rankdir)
    return dot


Box = tuple[str, Tensor]  # a box's id and the node it draws
Edge = tuple[str, str, str | None]  # operand's box, user's box, the operand's position


def _graph_boxes(nodes: Sequence[Tensor], cut: Mapping[Tensor, None]) -> tuple[list[Box],
                                                                               list[Edge]]:
    """One box per node (ids from the topological order) and per part cut off."""
    ids = {node: f"n{index}" for index, node in enumerate(nodes)}
    ids.update({node: f"cut{index}" for index, node in enumerate(cut)})
    edges = [(ids[operand], ids[node], label) for node in nodes if node.children is not None
             for operand, label in _order_operand_edges(node)]
    return [(box, node) for node, box in ids.items()], edges


def _tree_boxes(roots: Sequence[Tensor], max_nodes: int | None) -> tuple[list[Box],
                                                                         list[Edge]]:
    """One box per use of a node, in preorder from each root, with its edge to its user."""
    written = sum(inlined_size(root, limit=max_nodes) for root in roots)
    if max_nodes is not None and written > max_nodes:
        raise ValueError(
            f"the expression tree has more than max_nodes={max_nodes} boxes (one per use of a "
            f"shared node); draw the shared graph (tree=False), a smaller part, or pass "
            f"max_nodes=None to draw it anyway"
        )
    boxes: list[Box] = []
    edges: list[Edge] = []
    stack: list[tuple[Tensor, str | None, str | None]] = [(r, None, None) for r in roots[::-1]]
    while stack:
        node, user, label = stack.pop()
        box = f"t{len(boxes)}"
        boxes.append((box, node))
        if user is not None:
            edges.append((box, user, label))
        if node.children is not None:
            stack += [(operand, box, position)
                      for operand, position in _order_operand_edges(node)[::-1]]
    return boxes, edges


def operand_edge(graph: graphviz.Digraph, tail: str, head: str, position: str | None,
                 rankdir: str) -> None:
    """An edge from an operand to its op, numbered with its `position` ("1", "2") where the
    order matters, or plain (None)."""
    # The operand's position sits at the arrowhead, where it belongs to its op even when the
    # arrow is long (a mid-edge label drifts away from the box it numbers); each position has
    # its own corner of the box, so x**x's two arrows and their numbers stay apart.
    if position is None:
        graph.edge(tail, head)
        return
    index = int(position) - 1
    graph.edge(tail, head, headlabel=position, headport=OPERAND_PORTS[rankdir][index],
               labelangle=OPERAND_ANGLES[rankdir][index])


def _roots(outputs: Any) -> list[Tensor]:
    """The output Tensors, or a TypeError saying what to pass instead."""
    items = [unwrap(item) for item in (outputs if isinstance(outputs, list | tuple) else [outputs])]
    for item in items:
        if isinstance(item, str):
            raise TypeError(f"draw a Tensor, not the text {item!r}: sg.parse({item!r}) makes one")
        if not isinstance(item, Tensor | int | float | np.number | np.ndarray):
            raise TypeError(f"draw a Tensor or a list of Tensors, got {type(item).__name__}")
    return [as_tensor(item) for item in items]


def forward_twins(forward: Sequence[Tensor], derivatives: Sequence[Tensor]) -> dict[Tensor, Tensor]:
    """Nodes of the derivatives that are a node of `forward` with a commutative op's operands
    swapped (simplify writes `b + w*x` where f built `w*x + b`), each mapped to that node, so
    a picture draws them once; operands are matched after their own mapping, bottom up.

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import tanh
    >>> w, b = variables("w b")
    >>> f = tanh(w + b)
    >>> twins = forward_twins(toposort(f), [1 - tanh(b + w) ** 2])
    >>> twins[tanh(b + w)] is f
    True
    """
    def key(node: Tensor, operands: list[Tensor]) -> tuple:
        op = children_of(node).op
        ids = [id(operand) for operand in operands]
        return (op, *(sorted(ids) if op.commutative else ids))

    def operands(node: Tensor) -> list[Tensor]:
        return [operand for operand, _ in _order_operand_edges(node)]

    in_forward = set(forward)
    known = {key(node, operands(node)): node for node in forward if node.children is not None}
    twins: dict[Tensor, Tensor] = {}
    for node in toposort(derivatives):
        if node in in_forward or node.children is None:
            continue
        twin = known.get(key(node, [twins.get(a, a) for a in operands(node)]))
        if twin is not None:
            twins[node] = twin
    return twins


def to_dot_pair(
    f: Tensor,
    wrt: Tensor | Sequence[Tensor],
    env: Mapping[Any, Any] | None = None,
    *,
    derivatives: Sequence[Tensor] | None = None,
    adjoints: bool = False,
    rankdir: str = "LR",
    max_nodes: int | None = MAX_NODES,
    labels: Mapping[Tensor, str] | None = None,
    name: str = "f",
    dpi: float | None = None,
    size: tuple[float, float] | None = None,
) -> Picture:
    """f and its derivative graph side by side, in two labelled clusters.

    The derivatives (`sg.gradient(f, wrt)`, or the given `derivatives`, e.g. simplified ones)
    reuse nodes of f: those are drawn once, in the forward cluster, coloured yellow, with
    arrows into the gradient cluster. Output boxes `f` and `df/dx` mark the results; `name`
    calls the output something else (`L` gives `L` and `dL/dx`). The raw gradient shares
    most with f; a simplified one reorders sums and shares less.

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> source = to_dot_pair((x + y) * y, y, name="L").source
    >>> "cluster_forward" in source, "cluster_gradient" in source, "dL/dy" in source
    (True, True, True)
    """

    (f,) = _roots(f)
    wrt_list = as_variables(wrt, f).variables
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty text, got {name!r}")
    if derivatives is None:
        derivatives = gradient(f, wrt_list)
    derivatives = [as_tensor(d) for d in derivatives]
    if len(derivatives) != len(wrt_list):
        raise ValueError(f"{len(derivatives)} derivatives for {len(wrt_list)} variables")
    forward = toposort(f)
    in_forward = set(forward)
    shared = forward_twins(forward, derivatives)
    values = computable_values([f, *derivatives], env)  # twins' users need their values
    derivatives = [shared.get(d, d) for d in derivatives]
    backward = [node for node in toposort(derivatives) if node not in in_forward
                and node not in shared]
    _check_size(len(forward) + len(backward), max_nodes, outline_offered=False)
    grads = node_adjoints(f, values) if adjoints and f in values else {}
    edges = {node: [(shared.get(operand, operand), label)
                    for operand, label in _order_operand_edges(node)]
             for node in forward + backward if node.children is not None}
    reused = {operand for node in backward for operand, _ in edges.get(node, [])
              if operand in in_forward} | {d for d in derivatives if d in in_forward}
    ids = {node: f"f{index}" for index, node in enumerate(forward)}
    ids.update({node: f"g{index}" for index, node in enumerate(backward)})
    labels = labels or {}

    dot = _new_digraph("symgrad_pair", rankdir, Canvas(dpi, size))
    dot.attr(compound="true", newrank="true")
    with dot.subgraph(name="cluster_forward") as cluster:
        formula = str(f) if inlined_size(f, limit=30) <= 30 else ""  # short ones only
        title = f"forward graph: {name}"
        if formula and len(formula) <= 60:
            title += f" = {formula}"
        else:
            title += f" ({len(forward)} nodes)"
        cluster.attr(label=dot_text(title), fontsize="14", style="rounded", color="#4a78a8")
        for node in forward:
            extra = dict(STYLE["reused"]) if node in reused else {}
            _add_node(cluster, ids[node], node, rankdir, values.get(node), grads.get(node),
                      labels.get(node), extra)
        cluster.node("out_f", dot_text(name), shape="plaintext", fontsize="14")
    partial = [f"d{name}/d{w.name}" for w in wrt_list]
    names = ", ".join(partial)
    with dot.subgraph(name="cluster_gradient") as cluster:
        cluster.attr(label=dot_text(f"gradient graph: {names}"), fontsize="14",
                     style="rounded", color="#a03030")
        for node in backward:
            _add_node(cluster, ids[node], node, rankdir, values.get(node), None,
                      labels.get(node))
        for index, text in enumerate(partial):
            cluster.node(f"out_d{index}", dot_text(text), shape="plaintext", fontsize="14")
    for node, operands in edges.items():
        for operand, label in operands:
            operand_edge(dot, ids[operand], ids[node], label, rankdir)
    dot.edge(ids[f], "out_f", style="dashed", arrowhead="none")
    for index, derivative in enumerate(derivatives):
        dot.edge(ids[derivative], f"out_d{index}", style="dashed", arrowhead="none")
    dot.node("legend", dot_text(f"yellow: nodes of {name} that the gradient reuses"),
             shape="plaintext", fontsize="10", fontcolor="#806000")
    return dot


# --- rendering ----------------------------------------------------------------------------------
def dot_available() -> bool:
    """Whether the system `dot` program is on PATH.

    >>> dot_available()
    True
    """
    return shutil.which("dot") is not None


def pipe(graph: graphviz.Digraph, fmt: str) -> bytes:
    """The picture's bytes in `fmt` (svg, png, pdf), from the system `dot`.

    >>> from symgrad.ir.graph import var
    >>> pipe(to_dot(var("x")), "png")[:4]
    b'\\x89PNG'
    """
    if not dot_available():
        raise GraphvizNotFoundError()
    try:
        return graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFoundError() from None
    except graphviz.CalledProcessError as error:
        said = (error.stderr or b"").decode(errors="replace").strip().splitlines()
        raise GraphvizError(f"graphviz's dot failed (exit {error.returncode}): "
                            f"{said[0] if said else 'it gave no reason'}") from None


def render(
    graph: Tensor | Iterable[Tensor] | graphviz.Digraph, path: str | Path, **options: Any
) -> Path:
    """Write a picture of the graph to `path`; the extension picks svg, png, pdf (or dot, gv
    for the DOT text). `options` go to `to_dot` when `graph` is a Tensor.

    >>> import tempfile, os
    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> path = render(x * y, os.path.join(tempfile.mkdtemp(), "xy.svg"))
    >>> path.read_text().count("<svg")
    1
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in (*FORMATS, "dot", "gv"):
        raise ValueError(
            f"cannot tell the picture format from {str(path)!r}: end the file name with "
            f".svg, .png, .pdf (or .dot for the DOT text)"
        )
    if not isinstance(graph, graphviz.Digraph):
        graph = to_dot(graph, **options)
    data = graph.source.encode() if fmt in ("dot", "gv") else pipe(graph, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def mimebundle(node: Tensor, max_nodes: int = 150) -> dict[str, str]:
    """What Jupyter shows for a Tensor: its picture (as html and svg), outlined past
    `max_nodes`; empty when `dot` is missing, so Jupyter falls back to LaTeX and text.

    >>> from symgrad.ir.graph import var
    >>> sorted(mimebundle(var("x") + 1))
    ['image/svg+xml', 'text/html']
    """
    if not dot_available():
        return {}
    try:
        svg = scaled_svg(pipe(to_dot(node, max_nodes=max_nodes, outline=True), "svg").decode())
    except (ValueError, GraphvizNotFoundError, GraphvizError):
        return {}
    start = svg.find("<svg")
    inline = svg[start:] if start >= 0 else svg
    return {"text/html": inline, "image/svg+xml": svg}
