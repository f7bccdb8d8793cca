"""What the page shows for one formula, as a list of sections. Each part is computed on its
own, so a part that fails (sympy out of time, a formula `advise` cannot sample) is a message in
its box, never a lost page; a formula that does not parse is one section with the parser's
caret message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from symgrad.autodiff.diff import gradient
from symgrad.cli import UsageError, parse_at
from symgrad.interop.parse import ParseError, parse
from symgrad.ir.graph import Tensor, free_variables, name_of
from symgrad.ir.wrt import as_variables
from symgrad.ops.tensor import sum as tensor_sum
from symgrad.present.dot import to_dot, to_dot_pair
from symgrad.present.explain import explain
from symgrad.present.printing import latex
from symgrad.rewrite.simplify import simplify
from symgrad.verify.advise import advise
from symgrad.verify.checking import check
from symgrad.verify.compare import compare


class FormInput(NamedTuple):
    """The page's form: all text, as typed."""

    formula: str
    wrt: str = ""  # variable names separated by spaces or commas; empty: every variable
    at: str = ""  # x=1, y=2; a scalar not given is 1, a vector or matrix gets seeded values
    shapes: str = ""  # W:3,4 v:3 declares a matrix W and a vector v (a formula of them is summed)
    claimed: str = ""  # the user's own derivative by the first wrt variable, for compare


class Section(NamedTuple):
    """One box of the page. `kind` says how `body` is shown: "math" (MathML), "svg", "text"
    (preformatted) or "error" (a message)."""

    title: str
    kind: str
    body: str


def analyse(form: FormInput) -> list[Section]:
    """The sections of the page for `form`.

    >>> [section.title for section in analyse(FormInput("x*y", wrt="x", at="x=2, y=3"))][:3]
    ['formula', 'partial derivatives', 'the formula at the point']
    >>> analyse(FormInput("x*"))[0].body
    'bad formula: unexpected end of input at column 3\\nx*\\n  ^'
    """
    try:
        f, wrt, env = _read(form)
    except (ParseError, UsageError, ValueError) as error:
        message = f"bad formula: {error}" if isinstance(error, ParseError) else str(error)
        return [Section("error", "error", message)]
    partials = [simplify(partial) for partial in gradient(f, wrt)]  # wrt is a list
    scalar = not f.shape and all(not variable.shape for variable in free_variables(f))
    names = [name_of(variable) for variable in wrt]
    parts: list[tuple[str, str, Callable[[], str]]] = [
        ("formula", "math", lambda: _mathml(f"f = {latex(f)}")),
        ("partial derivatives", "math", lambda: "".join(
            _mathml(rf"\frac{{\partial f}}{{\partial {name}}} = {latex(partial)}")
            for name, partial in zip(names, partials))),
        ("the formula at the point", "svg", lambda: _svg(to_dot(f, env, adjoints=scalar))),
        ("the gradient graph beside it", "svg", lambda: _svg(to_dot_pair(f, wrt, env))),
    ]
    if scalar:
        parts += [
            ("the chain rule, step by step", "text", lambda: str(explain(f, wrt, at=env))),
            ("against sympy", "text", lambda: str(check(f, wrt))),
            ("accuracy in floating point", "text", lambda: str(advise(f))),
        ]
    if form.claimed.strip():
        parts.append((f"your derivative by {names[0]}", "text",
                      lambda: str(compare(f, wrt[0], form.claimed, at=env))))
    return [_section(title, kind, make) for title, kind, make in parts]


def _read(form: FormInput) -> tuple[Tensor, list[Tensor], dict[str, Any]]:
    """The formula, the variables to differentiate by, and a value for every variable."""
    f = parse(form.formula, shapes=_shapes(form.shapes))
    if f.shape:  # the gradient is of a scalar: a vector or matrix formula is summed
        f = tensor_sum(f)
    variables = {name_of(variable): variable for variable in free_variables(f)}
    if not variables:
        raise UsageError("the formula has no variables to differentiate by")
    wrt = as_variables(form.wrt, f).variables if form.wrt.strip() else list(variables.values())
    for variable in wrt:
        if variable not in variables.values():
            raise UsageError(f"{variable.name} is not a variable of the formula "
                             f"(its variables: {', '.join(variables)})")
    point: dict[str, Any] = parse_at([form.at]) if form.at.strip() else {}
    rng = np.random.default_rng(0)
    env: dict[str, Any] = {}
    for name, variable in variables.items():
        sizes = [size if isinstance(size, int) else 3 for size in variable.shape]  # "n" -> 3
        env[name] = np.round(rng.normal(size=sizes), 2) if sizes else point.get(name, 1.0)
    return f, wrt, env


def _shapes(text: str) -> dict[str, Any]:
    """`"W:3,4 v:3"` -> {"W": (3, 4), "v": (3,)}.

    >>> _shapes("W:3,4  v:3")
    {'W': (3, 4), 'v': (3,)}
    """
    shapes = {}
    for item in text.split():
        name, colon, sizes = item.partition(":")
        parts = sizes.split(",")
        if not (colon and name.isidentifier() and 1 <= len(parts) <= 2
                and all(part.isdigit() and 0 < int(part) <= 1000 for part in parts)):
            raise UsageError(f"shape {item!r}: write a name, a colon and one or two sizes "
                             f"from 1 to 1000, like W:3,4 or v:3")
        shapes[name] = tuple(int(part) for part in parts)
    return shapes


def _section(title: str, kind: str, make: Callable[[], str]) -> Section:
    try:
        return Section(title, kind, make())
    except Exception as error:  # one part failing leaves the others on the page
        return Section(title, "error", f"{type(error).__name__}: {error}")


def _mathml(tex: str) -> str:
    """Display MathML, which browsers typeset without a script or a network."""
    from latex2mathml.converter import convert  # the serve extra

    return convert(tex, display="block")


def _svg(graph: Any) -> str:
    svg: str = graph.pipe(format="svg", encoding="utf-8")
    return svg[svg.index("<svg"):]

