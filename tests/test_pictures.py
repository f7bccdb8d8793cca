"""Pictures for learners: operand numbers readable where order matters, captions in the user's
names, sharing kept after simplify, pictures scaled to a notebook cell, the expression-tree
layout, tuples and lists as LaTeX, and the CLI refusing a missing folder."""

import re
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from IPython.core.formatters import DisplayFormatter
from strategies import expressions, guarded

import symgrad as sg
from symgrad.cli import main
from symgrad.ir.op import OPS
from symgrad.micrograd import Value, draw_dot
from symgrad.present.display import hook_formatters, init_printing
from symgrad.present.dot import node_title, pipe, to_dot, to_dot_pair
from symgrad.present.printing import inlined_size

x, y, w, b = sg.variables("x y w b")
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def unbound_and_picture_mode():
    """Variables are one object per name (another test may bind x); the mode is global."""
    for variable in (x, y, w, b):
        variable._value = None
    yield
    init_printing("picture")


def operand_numbers(graph) -> dict[str, dict[str, tuple[float, float]]]:
    """For each box with numbered arrows: position ("1" or "2") -> where dot wrote it."""
    numbers: dict[str, dict[str, tuple[float, float]]] = {}
    root = ET.fromstring(pipe(graph, "svg").decode())
    for group in root.iter(f"{SVG}g"):
        if group.get("class") != "edge":
            continue
        head = re.split(r"->", group.find(f"{SVG}title").text)[1].split(":")[0]
        for text in group.iter(f"{SVG}text"):
            numbers.setdefault(head, {})[text.text] = (float(text.get("x")),
                                                       float(text.get("y")))
    return numbers


def overlapping(numbers: dict[str, dict[str, tuple[float, float]]]) -> list[str]:
    """Boxes whose two numbers overlap: closer than a digit's width (6pt) across and its
    height (10pt) up (the labels are 9pt)."""
    crowded = []
    for head, where in numbers.items():
        (x1, y1), (x2, y2) = where["1"], where["2"]
        if abs(x1 - x2) < 6 and abs(y1 - y2) < 10:
            crowded.append(head)
    return crowded


# --- operand numbers ---------------------------------------------------------------------------
@pytest.mark.parametrize("f", [x**y, x - y, x / y, sg.atan2(y, x), x**x, x - x,
                               sg.sin(x) ** sg.cos(x)], ids=str)
def test_operand_numbers_never_overlap(f):
    pictures = [to_dot(f), to_dot(f, rankdir="TB"), to_dot(f, tree=True),
                to_dot_pair(f, [x]), to_dot_pair(f, [x], rankdir="TB")]
    for graph in pictures:
        numbers = operand_numbers(graph)
        assert numbers, graph.source  # every picture of these has numbered arrows
        assert overlapping(numbers) == [], graph.source


@given(expressions((x, y), max_leaves=6))
def test_operand_numbers_never_overlap_in_any_pair(f):
    assert overlapping(operand_numbers(to_dot_pair(f, [x]))) == []


# --- the user's names ------------------------------------------------------------------------
def test_captions_legend_and_titles_use_the_given_name():
    w1 = sg.var("w1")
    L = (w1 * x - y) ** 2
    source = to_dot_pair(L, [w1], name="L").source
    texts = re.findall(r'label="((?:[^"\\]|\\.)*)"', source)
    assert "yellow: nodes of L that the gradient reuses" in texts
    assert "gradient graph: dL/dw1" in texts and "dL/dw1" in texts
    assert "forward graph: L = (w1*x - y)**2" in texts
    assert not [text for text in texts if re.search(r"\bf\b|df/", text)]


# --- sharing after simplify --------------------------------------------------------------------
def structure(node) -> tuple:
    """A key equal for nodes that are the same formula up to the order of a commutative op's
    operands (written out, so it does not lean on interning)."""
    keys: dict = {}
    for current in sg.toposort(node):
        children = current.children
        if children is None:
            keys[current] = ("leaf", str(current.name), repr(current.value))
            continue
        operands = [keys[children.a]] + ([] if children.b is None else [keys[children.b]])
        if children.op.commutative:
            operands.sort()
        keys[current] = (children.op.name, *operands)
    return keys[node]


def gradient_boxes(f, derivatives):
    """The nodes the pair draws in its gradient cluster, found through their labels' order."""
    source = to_dot_pair(f, [w], derivatives=derivatives).source
    gradient = source.split("subgraph cluster_gradient")[1]
    return len(re.findall(r"^\s*g\d+ \[label=", gradient, re.M))


def test_simplified_gradient_points_at_the_forward_nodes_it_shares():
    f = sg.tanh(w * x + b) ** 2
    (simplified,) = sg.simplify(sg.gradient(f, [w]))
    # simplify writes b + w*x where f built w*x + b: the same node for a reader
    assert sg.tanh(b + w * x) in set(sg.toposort(simplified))
    assert sg.tanh(w * x + b) not in set(sg.toposort(simplified))
    forward = {structure(node) for node in sg.toposort(f)}
    own = {structure(node) for node in sg.toposort(simplified)} - forward
    assert gradient_boxes(f, [simplified]) == len(own) == 5  # *, 1, -, *, *
    source = to_dot_pair(f, [w], derivatives=[simplified]).source
    assert source.count("label=tanh") == 1 and source.count('label="+"') == 1


# f = outer(left + right) * left or with *: simplify often swaps a sum's or product's operands
sums_inside = st.tuples(
    st.sampled_from(["tanh", "sigmoid", "acos", "exp", "sin"]), st.sampled_from(["add", "mul"]),
    expressions((w, x, b), max_leaves=4), expressions((w, x, b), max_leaves=4),
).map(lambda parts: guarded(OPS[parts[0]], guarded(OPS[parts[1]], parts[2], parts[3]))
      * parts[2])


@given(sums_inside)
def test_no_gradient_box_repeats_a_forward_node(f):
    derivatives = sg.simplify(sg.gradient(f, [w]))
    forward = {structure(node) for node in sg.toposort(f)}
    own = {structure(node) for node in sg.toposort(derivatives)} - forward
    assert gradient_boxes(f, derivatives) == len(own)


def test_cli_draw_simplify_shares(tmp_path, capsys):
    path = tmp_path / "pair.dot"
    assert main(["draw", "tanh(w*x + b)**2", "--grad", "w", "--simplify", "-o", str(path)]) == 0
    source = path.read_text()
    assert source.count("label=tanh") == 1 and source.count('label="+"') == 1


# --- scaled to the cell ------------------------------------------------------------------------
def svg_root(bundle: dict) -> ET.Element:
    return ET.fromstring(bundle["image/svg+xml"])


@pytest.mark.parametrize("picture", [
    lambda: to_dot(x * y),
    lambda: to_dot_pair(sg.sin(x) * y, [x, y]),
    lambda: draw_dot(Value(2.0, label="a") * Value(3.0, label="b")),
    lambda: to_dot(x - y, tree=True),
], ids=["to_dot", "to_dot_pair", "draw_dot", "tree"])
def test_every_picture_scales_to_the_cell(picture):
    graph = picture()
    bundle = graph._repr_mimebundle_()
    natural = re.search(r'<svg width="([\d.]+)pt"', pipe(graph, "svg").decode()).group(1)
    for svg in (bundle["image/svg+xml"], bundle["text/html"]):
        root = ET.fromstring(svg)
        assert root.get("width") == "100%" and root.get("height") is None
        assert root.get("style") == f"max-width:{natural}pt;height:auto"
        assert len(root.get("viewBox").split()) == 4
    tensor_bundle = (x * y)._repr_mimebundle_()
    assert svg_root(tensor_bundle).get("width") == "100%"


# --- the expression tree -----------------------------------------------------------------------
def boxes(source: str) -> list[str]:
    labels = re.findall(r'^\s*t\d+ \[label=(?:"((?:[^"\\]|\\.)*)"|([^\s\]]+))', source, re.M)
    return [(quoted or bare).strip("{ ").split(" | ")[0] for quoted, bare in labels]


def test_tree_draws_each_use_of_a_shared_node():
    shared = sg.sin(x)
    f = shared * shared + x / 2
    graph = to_dot(f, tree=True)
    titles = boxes(graph.source)
    assert len(titles) == inlined_size(f) == 9
    assert Counter(titles) == Counter({"x": 3, "sin": 2, "*": 1, "+": 1, "/": 1, "2": 1})
    assert "rankdir=BT" in graph.source and "ordering=in" in graph.source  # output on top
    svg = ET.fromstring(pipe(graph, "svg").decode())
    heights = sorted((float(group.find(f"{SVG}text").get("y")), group.find(f"{SVG}text").text)
                     for group in svg.iter(f"{SVG}g") if group.get("class") == "node")
    assert heights[0][1] == "+" and heights[0][0] < heights[1][0]  # the output alone on top


@given(expressions((x, y), max_leaves=10))
def test_tree_has_one_box_per_written_out_node(f):
    titles = boxes(to_dot(f, tree=True, max_nodes=None).source)
    written = []
    stack = [f]
    while stack:
        node = stack.pop()
        written.append(node_title(node))
        if node.children is not None:
            stack += [c for c in (node.children.b, node.children.a) if c is not None]
    assert titles == written and len(titles) == inlined_size(f)


def test_tree_refuses_too_many_boxes_and_outline():
    f = x
    for _ in range(12):
        f = f * f  # 13 distinct nodes, 8191 written out
    with pytest.raises(ValueError, match="expression tree has more than max_nodes=400"):
        to_dot(f, tree=True)
    with pytest.raises(ValueError, match="outline=True draws the shared graph"):
        to_dot(f, tree=True, outline=True)


def test_cli_draw_tree(tmp_path, capsys):
    path = tmp_path / "tree.dot"
    assert main(["draw", "sin(x)*sin(x) + x/2", "--tree", "-o", str(path)]) == 0
    assert len(boxes(path.read_text())) == 9
    assert main(["draw", "x*x", "--tree", "--top-down", "-o", str(path)]) == 0
    assert "rankdir=BT" in path.read_text()  # the output on top either way
    for extra in (["--grad", "x"], ["--outline"]):
        assert main(["draw", "x*x", "--tree", *extra, "-o", str(path)]) == 2
        assert "--tree draws one whole expression" in capsys.readouterr().err


# --- tuples and lists as LaTeX -----------------------------------------------------------------
def test_formula_mode_shows_tuples_and_lists_of_tensors_as_latex():
    formatter = DisplayFormatter()
    hook_formatters(formatter)
    init_printing("formula")
    data, _ = formatter.format((x * y, sg.sin(x)))
    assert data["text/latex"] == r"$\left( x y, \  \sin{\left(x \right)}\right)$"
    data, _ = formatter.format(sg.gradient(x * y, [x, y]))
    assert data["text/latex"] == r"$\left[ y, \  x\right]$"
    assert "text/latex" not in formatter.format((x, 1))[0]  # not all Tensors: as usual
    assert "text/latex" not in formatter.format([])[0]
    init_printing("picture")
    assert "text/latex" not in formatter.format((x, y))[0]


def test_init_printing_hooks_the_running_shell(monkeypatch):
    import IPython

    class Shell:
        display_formatter = DisplayFormatter()

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell)
    init_printing("formula")
    assert Shell.display_formatter.format([x, 2 * y])[0]["text/latex"] == (
        r"$\left[ x, \  2 y\right]$"
    )


# --- the CLI and missing folders ---------------------------------------------------------------
@pytest.mark.parametrize("argv", [["draw", "x*y", "-o"], ["diff", "x*y", "--dot"]])
def test_cli_refuses_a_missing_folder(argv, tmp_path, capsys):
    folder = tmp_path / "no" / "such"
    code = main([*argv, str(folder / "f.svg")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"the folder {str(folder)!r} does not exist" in err
    assert not (tmp_path / "no").exists()
