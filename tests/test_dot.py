"""Pictures: the DOT text has one box per distinct node with the right labels and ordered
edges, values and adjoints are right, the pair shares nodes, and `dot` renders valid SVG."""

import re
import xml.etree.ElementTree as ET

import graphviz
import pytest
from hypothesis import given
from strategies import expressions

import symgrad as sg
from symgrad.present import dot as dot_module
from symgrad.present.dot import node_title, render, to_dot, to_dot_pair

x, y, z = sg.variables("x y z")


@pytest.fixture(autouse=True)
def unbound_variables():
    """Variables are one object per name, so another test may have bound x: unbind them."""
    for variable in (x, y, z):
        variable._value = None


def title(label: str) -> str:
    """The first field of a record label, or the whole label."""
    return label.strip("{} ").split(" | ")[0]

NODE_LINE = re.compile(r"^\s*(\w+) \[label=", re.M)
EDGE_LINE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[headlabel=(\d)[^\]]*\])?", re.M)


LABEL = re.compile(r'^\s*(\w+) \[label=(?:"((?:[^"\\]|\\.)*)"|([^\s\]]+))', re.M)


def node_labels(source: str) -> dict[str, str]:
    """Node id -> label text, for every node statement of the DOT source."""
    return {node: quoted or bare for node, quoted, bare in LABEL.findall(source)}


def test_one_box_per_distinct_node_with_op_symbols_and_leaves():
    shared = sg.sin(x * y)
    f = shared * shared + sg.exp(shared) - x / 2
    source = to_dot(f).source
    nodes = sg.toposort(f)
    labels = node_labels(source)
    assert len(labels) == len(nodes)  # shared node once
    assert sorted(labels.values()) == sorted(node_title(n) for n in nodes)
    assert sorted(labels.values()) == sorted(["x", "y", "*", "sin", "*", "exp", "+", "2", "/",
                                             "-"])
    # node ids are topological indices: operands have smaller ids than their users
    for tail, head, _ in EDGE_LINE.findall(source):
        assert int(tail[1:]) < int(head[1:])
    # the shared sin node has three arrows out (twice into *, once into exp)
    sin_id = [k for k, v in labels.items() if v == "sin"][0]
    assert sum(tail == sin_id for tail, _, _ in EDGE_LINE.findall(source)) == 3


@given(expressions([sg.var("x"), sg.var("y")]))
def test_every_op_and_leaf_once_per_distinct_node(f):
    labels = node_labels(to_dot(f, max_nodes=None).source)
    titles = sorted(title(label) for label in labels.values())
    assert titles == sorted(node_title(n) for n in sg.toposort(f))


def test_operand_order_is_visible():
    first, second = to_dot(x - y).source, to_dot(y - x).source
    assert first != second
    assert "n0 -> n2 [headlabel=1 headport=n labelangle=-40]" in first
    assert "n1 -> n2 [headlabel=2 headport=s labelangle=40]" in first
    assert 'n0 [label=y' in second
    assert "headlabel" not in to_dot(x * y).source  # commutative: no positions


def test_same_graph_draws_the_same():
    f = sg.tanh(z + x * y) ** 2  # built in the order str writes it
    assert to_dot(f).source == to_dot(sg.parse(str(f))).source


def test_values_and_adjoints_like_micrograd():
    # seed 002: x=3, y=5, z = (x + y)*y = 40; dz/dx = 5, dz/dy = 13, dz/d(x+y) = 5
    source = to_dot((x + y) * y, {"x": 3, "y": 5}, adjoints=True).source
    labels = node_labels(source)
    assert labels["n0"] == "{ x | data 3 | grad 5 }"
    assert labels["n1"] == "{ y | data 5 | grad 13 }"
    assert labels["n2"] == "{ + | data 8 | grad 5 }"
    assert labels["n3"] == "{ * | data 40 | grad 1 }"
    top_down = node_labels(to_dot((x + y) * y, {"x": 3, "y": 5}, rankdir="TB").source)
    assert top_down["n3"] == "* | data 40"


def test_partly_bound_graph_shows_the_values_it_can():
    labels = node_labels(to_dot(x * 2 + y, {"x": 1.5}).source)
    assert "{ * | data 3 }" in labels.values()
    assert "+" in labels.values()  # y unknown: no value


def test_labels_hook_adds_a_field():
    labels = node_labels(to_dot(x * y, labels={x * y: "step 1"}).source)
    assert labels["n2"] == "{ * | step 1 }"


def test_node_limit_has_a_clear_message():
    f = x
    for k in range(30):
        f = sg.sin(f) + k
    with pytest.raises(ValueError, match=r"has \d+ distinct nodes, more than max_nodes=20"):
        to_dot(f, max_nodes=20)
    with pytest.raises(ValueError, match="rankdir"):
        to_dot(x, rankdir="sideways")


def test_pair_draws_shared_nodes_once_in_the_forward_cluster():
    f = (x + y) * y
    (derivative,) = sg.gradient(f, [y])  # (x + y) + y: reuses x + y and y
    source = to_dot_pair(f, y, {"x": 3, "y": 5}).source
    forward = source.split("subgraph cluster_gradient")[0]
    gradient = source.split("subgraph cluster_gradient")[1]
    assert forward.count("fillcolor=\"#fff2b3\"") == 2  # x + y and y, reused
    assert "{ + | data 8 }" in forward and "{ + | data 13 }" in gradient
    assert "df/dy" in gradient
    assert len(node_labels(source)) == len(set(sg.toposort([f, derivative]))) + 3  # + markers


def test_rendered_svg_parses_and_has_the_labels(tmp_path):
    f = sg.sin(x) * y - sg.log(y)
    path = render(to_dot_pair(f, [x, y]), tmp_path / "pair.svg")
    root = ET.parse(path).getroot()
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for label in ("x", "y", "sin", "cos", "log", "*", "-", "df/dx", "df/dy"):
        assert label in texts
    png = render(f, tmp_path / "f.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert render(f, tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"
    assert render(f, tmp_path / "f.dot").read_text().startswith("digraph")


def test_render_rejects_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf"):
        render(x, tmp_path / "f.jpeg")


def test_missing_dot_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(dot_module.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz.*brew install graphviz"):
        render(x * y, tmp_path / "f.svg")
    # Jupyter falls back to the formula
    assert sorted((x * y)._repr_mimebundle_()) == ["text/latex", "text/plain"]


def test_jupyter_shows_a_tensor_as_its_picture():
    bundle = (x * y)._repr_mimebundle_()
    assert bundle["text/html"].startswith("<svg")
    ET.fromstring(bundle["image/svg+xml"])
    assert (x * y)._repr_latex_() == "$x y$"  # LaTeX stays available


def test_to_dot_returns_a_digraph():
    assert isinstance(to_dot(x), graphviz.Digraph)
    assert isinstance(sg.to_dot_pair(x * x, x), graphviz.Digraph)


def test_bad_arguments_get_clear_errors():
    with pytest.raises(TypeError, match=r"sg.parse\('x\*y'\) makes one"):
        to_dot("x*y")
    with pytest.raises(TypeError, match="differentiate by a variable, a name, a list of them"):
        to_dot_pair(x * y, 3)
    with pytest.raises(TypeError, match="with respect to variables, got the constant 2"):
        to_dot_pair(x * y, [sg.const(2)])
    assert "label=6" in to_dot(6).source


def test_pair_reuses_forward_nodes_and_names_the_output():
    w, t = sg.variables("w t")
    loss = (sg.tanh(w * x) - t) ** 2
    raw = to_dot_pair(loss, w, name="L").source
    # the raw gradient reads tanh(w*x) and its difference from t: inner nodes drawn yellow
    reused = re.findall(r'label="?([^"\s]+)"?[^\n]*fillcolor="#fff2b3"', raw)
    assert {"tanh", "-"} <= set(reused)
    assert "forward graph: L = (tanh(w*x) - t)**2" in raw and "dL/dw" in raw and "df/" not in raw
    big = x
    for _ in range(6):
        big = sg.sin(big) * sg.cos(big) + big
    title = re.search(r'label="(forward graph[^"]*)"', to_dot_pair(big, x).source).group(1)
    assert title.startswith("forward graph: f (") and title.endswith(" nodes)")


def test_outline_dpi_and_size():
    big = x
    for _ in range(30):
        big = sg.sin(big) * sg.cos(big) + big
    with pytest.raises(ValueError, match="outline=True"):
        to_dot(big, max_nodes=20)
    source = to_dot(big, max_nodes=20, outline=True, dpi=150, size=(8, 6)).source
    assert len(re.findall(r"^\s*n\d+ \[label=", source, re.M)) == 20
    assert "showing 20 of 121 nodes" in source and source.count("dashed") >= 1
    assert "dpi=150" in source and 'size="8,6"' in source
    with pytest.raises(ValueError, match="dpi"):
        to_dot(x, dpi=0)


def svg_texts(graph) -> list[str]:
    """The text lines of the rendered picture, as graphviz drew them."""
    svg = dot_module.pipe(graph, "svg").decode()
    return [t.text or "" for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]


def test_every_user_text_shows_literally():
    """Names and labels with backslashes, quotes, HTML-like text, record separators, newlines,
    NUL and Unicode reach the picture as written (control characters as Python escapes)."""
    texts = ['a\\', '"q"', "<b>x</b>", "x|y{z}", "é中∂", "a\x00b", "\\N", "two\nlines", "\ud800"]
    shown = ['a\\', '"q"', "<b>x</b>", "x|y{z}", "é中∂", "a\\x00b", "\\N", "two", "\\ud800"]
    vs = sg.variables(" ".join(f"v{i}" for i in range(len(texts))))
    graph = to_dot_pair(sum(vs[1:], vs[0]), vs[0], name='a\\"<', labels=dict(zip(vs, texts)))
    lines = svg_texts(graph)
    assert all(text in lines for text in shown), lines
    assert {'a\\"<', 'da\\"</dv0'} <= set(lines) and "lines" in lines
    assert "<b>x</b>" in svg_texts(to_dot(x, labels={x: "<b>x</b>"}))


def test_a_picture_dot_refuses_is_one_clear_error(monkeypatch):
    graph = to_dot(x)
    monkeypatch.setattr(graph, "body", [*graph.body, "}"])  # a DOT syntax error
    with pytest.raises(dot_module.GraphvizError, match=r"dot failed \(exit 1\): Error: .*syntax"):
        dot_module.pipe(graph, "svg")


def test_a_graph_whose_names_clash_draws_without_values():
    x, vector_x = sg.var("x"), sg.var("x", shape=(2,))
    source = sg.to_dot(x * vector_x + 1, env={"x": 2.0}).source
    assert source.count("label=") >= 4 and "data" not in source
    assert "data 5" in sg.to_dot(x * x + 1, env={"x": 2.0}).source
