"""Simplified output reads as people write it: piecewise formulas as `where(x > 0, 1, 0.01)`
(one `cases` block in LaTeX), matrix formulas as the Matrix Cookbook writes them, and no
internal op name in any printed text. Each example pinned for `str` and LaTeX, and the
classes as properties: the text parses back to the same values, and names no internal op."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import VARIABLES, close, expressions, points

import symgrad as sg
from symgrad.ops.scalar import select_zero

x, y, z = VARIABLES
INTERNAL = re.compile(r"\b(select_zero|broadcast_to|broadcast_like|expand_dims|eye_like|vecmat|"
                      r"lt|le|gt|ge|eq|ne)\(")
"""An op name a reader never writes, called: the building blocks of where, broadcasts, the
identity, comparisons as calls."""

# Built in each test, named apart from the scalars x, y, z: a name in text means the vector
# or matrix declared under it while one lives.
SHAPES = {"W": (3, 4), "s": (4,), "r": (3,), "X": (3, 3), "A": (3, 4), "B": (2, 4)}


def shaped():
    """The vectors and matrices the examples take, in the order of SHAPES."""
    return [sg.parse(name, shapes=SHAPES) for name in SHAPES]


def leaky(t):
    return sg.where(t > 0, t, 0.01 * t)


EXAMPLES = {
    "where derivative": (
        lambda W, s, r, X, A, B: sg.simplify(leaky(x).grad(x)),
        "where(x > 0, 1, 0.01)",
        r"\begin{cases} 1 & \text{if } x > 0 \\ 0.01 & \text{otherwise} \end{cases}",
    ),
    "where": (
        lambda W, s, r, X, A, B: leaky(x),
        "where(x > 0, x, 0.01*x)",
        r"\begin{cases} x & \text{if } x > 0 \\ 0.01 x & \text{otherwise} \end{cases}",
    ),
    "where, the branches added the other way": (
        lambda W, s, r, X, A, B: select_zero(sg.eq(x > 0, 0), y) + select_zero(x > 0, z),
        "where(x > 0, z, y)",
        r"\begin{cases} z & \text{if } x > 0 \\ y & \text{otherwise} \end{cases}",
    ),
    "where among other terms, one subtracted": (
        lambda W, s, r, X, A, B: select_zero(x > 0, y) + x - select_zero(sg.eq(x > 0, 0), z),
        "x + where(x > 0, y, -z)",
        r"x + \begin{cases} y & \text{if } x > 0 \\ -z & \text{otherwise} \end{cases}",
    ),
    "a lone select_zero": (
        lambda W, s, r, X, A, B: select_zero(x <= y, z),
        "where(x <= y, z, 0)",
        r"\begin{cases} z & \text{if } x \leq y \\ 0 & \text{otherwise} \end{cases}",
    ),
    "comparisons in arithmetic": (
        lambda W, s, r, X, A, B: 2 * (x > 0) + sg.eq(x > y, 0),
        "((x > y) == 0) + 2*(x > 0)",  # Python would read x > y == 0 + ... as a chain
        r"\left[\left[x > y\right] = 0\right] + 2 \left[x > 0\right]",
    ),
    "norm squared by W": (
        lambda W, s, r, X, A, B: sg.simplify((sg.norm(W @ s - r) ** 2).grad(W)),
        "2*(W@s - r)@s.T",
        r"2 (W s - r) s^{\top}",
    ),
    "norm by x": (
        lambda W, s, r, X, A, B: sg.simplify(sg.norm(s).grad(s)),
        "s/norm(s)",
        r"\frac{s}{\left\lVert s \right\rVert}",
    ),
    "trace of a cube": (
        lambda W, s, r, X, A, B: sg.simplify(sg.trace(X @ X @ X).grad(X)),
        "3*X.T@X.T",
        r"3 X^{\top} X^{\top}",
    ),
    "transpose of a product": (
        lambda W, s, r, X, A, B: sg.simplify((A @ B.T).T),
        "B@A.T",
        r"B A^{\top}",
    ),
    "transpose of a sum": (
        lambda W, s, r, X, A, B: sg.simplify((A @ A.T + 2 * X).T),
        "A@A.T + 2*X.T",
        r"A A^{\top} + 2 X^{\top}",
    ),
    "numbers folded": (
        lambda W, s, r, X, A, B: sg.simplify(sg.sum(sg.tanh(2 * (W @ s)) ** 2).grad(W)),
        "4*tanh(2*W@s)*(1 - tanh(2*W@s)**2)@s.T",
        r"4 (\tanh{\left(2 W s \right)} \odot (1 - \tanh{\left(2 W s \right)}^{2})) s^{\top}",
    ),
    "cross-entropy through log(softmax)": (
        lambda W, s, r, X, A, B: sg.simplify((-sg.sum(r * sg.log(sg.softmax(W @ s)))).grad(W)),
        "(sum(r)*softmax(W@s) - r)@s.T",
        r"(\operatorname{sum}\left(r\right) \operatorname{softmax}\left(W s\right) - r) "
        r"s^{\top}",
    ),
    "log(softmax(z))": (
        lambda W, s, r, X, A, B: sg.simplify(sg.log(sg.softmax(r))),
        "r - logsumexp(r)",
        r"r - \operatorname{logsumexp}\left(r\right)",
    ),
    "a sum over an axis, broadcast back": (
        lambda W, s, r, X, A, B: sg.simplify(sg.sum(sg.sum(W, axis=0) ** 2).grad(W)),
        "2*sum(W, axis=0)*ones_like(W)",
        r"2 \operatorname{sum}_{0}\left(W\right)",
    ),
    "over the last axis": (
        lambda W, s, r, X, A, B: sg.simplify(sg.sum(sg.sum(W, axis=1) ** 2).grad(W)),
        "2*sum(W, axis=1, keepdims=True)*ones_like(W)",
        r"2 \operatorname{sum}_{1}\left(W\right)",
    ),
    "the identity": (
        lambda W, s, r, X, A, B: sg.simplify(sg.trace(X).grad(X)),
        "identity(X)",
        "I",
    ),
    "identity times a matrix": (
        lambda W, s, r, X, A, B: sg.simplify((sg.trace(X) + sg.trace(X @ X)).grad(X)),
        "2*X.T + identity(X)",
        r"2 X^{\top} + I",
    ),
    "a quadratic form by its vector": (
        lambda W, s, r, X, A, B: sg.simplify((r @ X @ r).grad(r)),
        "(X + X.T)@r",
        r"(X + X^{\top}) r",
    ),
    "the identity inside a product": (
        lambda W, s, r, X, A, B: sg.simplify(sg.trace(A.T @ X @ A).grad(X)),
        "A@A.T",
        r"A A^{\top}",
    ),
    "scalar factors gathered before like terms": (
        lambda W, s, r, X, A, B: sg.simplify(sg.trace(X @ (sg.trace(X) * X)).grad(X)),
        "2*trace(X)*X.T + sum(X.T*X)*identity(X)",
        r"2 \operatorname{tr}\left(X\right) X^{\top} + \operatorname{sum}\left(X^{\top} "
        r"\odot X\right) I",
    ),
    "a scalar broadcast in an outer product": (
        lambda W, s, r, X, A, B: sg.simplify(sg.sum((W @ s) * sg.var("x")).grad(W)),
        "x*ones_like(W@s)@s.T",
        r"x \mathbf{1} s^{\top}",
    ),
    "a factor that cancels, broadcast back": (
        lambda W, s, r, X, A, B: sg.simplify(sg.sum(sg.log(sg.softmax(W @ s))).grad(W)),
        "(ones_like(softmax(W@s)) - 3*softmax(W@s))@s.T",
        r"(\mathbf{1} - 3 \operatorname{softmax}\left(W s\right)) s^{\top}",
    ),
    "a mean's gradient, exact": (
        lambda W, s, r, X, A, B: sg.simplify(sg.mean(3 * s).grad(s)),
        "3*ones_like(s)/4",
        r"\frac{3}{4}",
    ),
    "a zero gradient": (
        lambda W, s, r, X, A, B: sg.simplify(sg.sum(s).grad(W)),
        "zeros_like(W)",
        "0",
    ),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_text(name):
    build, text, _ = EXAMPLES[name]
    assert str(build(*shaped())) == text


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_latex(name):
    build, _, latex = EXAMPLES[name]
    assert sg.latex(build(*shaped())) == latex


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_text_reads_back_to_the_same_values(name):
    t = EXAMPLES[name][0](*shaped())
    rng = np.random.default_rng(3)
    env = {name: rng.uniform(-1, 1, shape) for name, shape in SHAPES.items()}
    env.update({"x": 0.25, "y": -0.75, "z": 0.5})
    read = sg.parse(str(t), shapes=SHAPES)
    assert read.shape == t.shape
    np.testing.assert_allclose(sg.evaluate(read, env), sg.evaluate(t, env), rtol=1e-12)


# --- the classes, as properties ---------------------------------------------------------


@st.composite
def piecewise(draw, depth: int = 2):
    """A where (as `where` builds it, or its two select_zero terms added in either order,
    among other terms, with signs), with branches that may hold wheres; and its where count."""
    branch = expressions(max_leaves=4).filter(lambda t: not t.is_const)  # none folds away
    condition = st.builds(lambda op, a, b: op(a, b), st.sampled_from(
        [sg.gt, sg.ge, sg.lt, sg.le, sg.eq, sg.ne]), branch, branch).filter(
        lambda c: not c.is_const)
    c = draw(condition)
    count = 1
    a, b = draw(branch), draw(branch)
    if depth and draw(st.booleans()):
        nested, inner = draw(piecewise(depth - 1))
        a, count = nested, count + inner
    first, second = select_zero(c, a), select_zero(sg.eq(c, 0), b)
    signs = draw(st.sampled_from([(1, 1), (1, -1), (-1, 1), (-1, -1)]))
    terms = [(first, signs[0]), (second, signs[1])]
    if draw(st.booleans()):
        terms.reverse()
    other = draw(st.sampled_from([None, x, 2 * y]))
    total = None if other is None else other
    for term, sign in terms:
        total = (sign * term) if total is None else (total + term if sign > 0 else total - term)
    return total, count


@given(piecewise(), points())
def test_a_where_prints_as_where_and_reads_back(pair, point):
    t, count = pair
    text, latex = str(t), sg.latex(t)
    assert INTERNAL.search(text) is None, text
    assert text.count("where(") == count, text
    assert latex.count(r"\begin{cases}") == count, latex
    with np.errstate(all="ignore"):
        assert close(sg.evaluate(sg.parse(text), point), sg.evaluate(t, point), rtol=1e-9)


@given(expressions(smooth=False), points())
def test_comparisons_and_selections_print_without_internal_names(t, point):
    text = str(t)
    assert INTERNAL.search(text) is None, text
    with np.errstate(all="ignore"):
        assert close(sg.evaluate(sg.parse(text), point), sg.evaluate(t, point), rtol=1e-9)


def test_the_shared_form_names_no_branch_condition():
    f = sg.where(x > 0, sg.sin(x) ** 2, 0.01 * x)
    assert sg.pretty((f * f).grad(x)) == (
        "t1 = sin(x)\n"
        "t2 = x > 0\n"
        "t3 = where(t2, t1**2, 0.01*x)*where(t2, 2*t1*cos(x), 0.01)\n"
        "2*t3"
    )
