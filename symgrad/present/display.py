"""How notebooks show symgrad's objects: a Tensor as its picture or as its formula (switched by
`init_printing`, sympy's habit), big graphs in their shared form or as an outlined picture, and
check results as a coloured verdict instead of a dataclass dump.
"""

from __future__ import annotations

import html
from typing import Any

from symgrad.ir.graph import PROVIDED, Tensor
from symgrad.present.dot import mimebundle
from symgrad.present.printing import inlined_size, latex

MODES = ("picture", "formula")
DISPLAY_LIMIT = 300
"""Written-out nodes past which a notebook shows a formula in its shared form (let-bindings)
rather than as one giant line."""

_settings = {"mode": "picture"}


def init_printing(mode: str = "formula") -> None:
    """How notebooks show a Tensor from now on: `"formula"` (LaTeX, as sympy's init_printing
    does) or `"picture"` (its graph, the default).

    >>> init_printing("formula"); printing_mode()
    'formula'
    >>> init_printing("picture"); printing_mode()
    'picture'
    """
    if mode not in MODES:
        raise ValueError(f"mode must be 'formula' or 'picture', got {mode!r}")
    _settings["mode"] = mode
    try:
        from IPython import get_ipython  # optional: only a notebook or IPython has a shell
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        hook_formatters(shell.display_formatter)


def hook_formatters(display_formatter: Any) -> None:
    r"""Teach an IPython `DisplayFormatter` to show tuples and lists of Tensors as LaTeX in
    formula mode (`sequence_latex`); a Tensor shows itself through `_repr_mimebundle_`.

    >>> from IPython.core.formatters import DisplayFormatter
    >>> from symgrad.ir.graph import variables
    >>> formatter = DisplayFormatter()
    >>> hook_formatters(formatter)
    >>> init_printing("formula")
    >>> formatter.format(list(variables("x y")))[0]["text/latex"]
    '$\\left[ x, \\  y\\right]$'
    >>> init_printing("picture")
    """
    latex_formatter = display_formatter.formatters["text/latex"]
    for kind in (tuple, list):
        latex_formatter.for_type(kind, sequence_latex)


BRACKETS = {tuple: ("\\left( ", "\\right)"), list: ("\\left[ ", "\\right]")}


def sequence_latex(items: tuple | list) -> str | None:
    r"""The LaTeX of a tuple or list of Tensors (or of such tuples and lists) in formula mode,
    brackets as sympy writes them; None for anything else, which then shows as usual.

    >>> from symgrad.ir.graph import variables
    >>> x, y = variables("x y")
    >>> init_printing("formula")
    >>> sequence_latex((x * y, [x, 2 * y]))
    '$\\left( x y, \\  \\left[ x, \\  2 y\\right]\\right)$'
    >>> sequence_latex((x, "y")) is None
    True
    >>> init_printing("picture")
    """
    if printing_mode() != "formula":
        return None
    body = _sequence_body(items)
    return None if body is None else f"${body}$"


def _sequence_body(items: tuple | list) -> str | None:
    if not items or type(items) not in BRACKETS:  # a namedtuple has its own repr
        return None
    parts = []
    for item in items:
        part = _formula_body(item) if isinstance(item, Tensor) else _sequence_body(item)
        if part is None:
            return None
        parts.append(part)
    left, right = BRACKETS[type(items)]
    return left + ", \\  ".join(parts) + right


def printing_mode() -> str:
    """The current mode of `init_printing`: "picture" or "formula"."""
    return _settings["mode"]


def formula_latex(node: Tensor) -> str:
    """The LaTeX a notebook shows for `node`: inline, or past `DISPLAY_LIMIT` written-out
    nodes the shared form, which says so.

    >>> from symgrad.ir.graph import var
    >>> formula_latex(var("sigma") * var("w1"))
    '$\\\\sigma w_{1}$'
    """
    return f"${_formula_body(node)}$"


def _formula_body(node: Tensor) -> str:
    shared = inlined_size(node, limit=DISPLAY_LIMIT) > DISPLAY_LIMIT
    return latex(node, shared=shared)


def tensor_mimebundle(node: Tensor) -> dict[str, str]:
    """What a notebook shows for a Tensor in the current mode: its picture (outlined when big;
    the formula when `dot` is missing) or its formula.

    >>> from symgrad.ir.graph import var
    >>> init_printing("formula")
    >>> sorted(tensor_mimebundle(var("x") + 1))
    ['text/latex', 'text/plain']
    >>> init_printing("picture")
    >>> sorted(tensor_mimebundle(var("x") + 1))
    ['image/svg+xml', 'text/html', 'text/plain']
    """
    bundle = {"text/plain": repr(node)}
    if printing_mode() == "picture":
        picture = mimebundle(node)
        if picture:
            return {**picture, **bundle}
    return {"text/latex": formula_latex(node), **bundle}


def verdict_html(text: str, ok: bool) -> str:
    """A verdict (the `str` of a check) as html: its first line coloured, the rest as is.

    >>> verdict_html("d/dx: agree\\n  symgrad: y", True)[:60]
    '<div><b style="color:#1a7f37">d/dx: agree</b><pre style="mar'
    """
    head, _, rest = text.partition("\n")
    colour = "#1a7f37" if ok else "#cf222e"
    body = f'<pre style="margin:0.2em 0 0.6em 1em">{html.escape(rest)}</pre>' if rest else ""
    return f'<div><b style="color:{colour}">{html.escape(head)}</b>{body}</div>'


def results_html(results: Any) -> str:
    """Several verdicts (one per variable) as html, one after another."""
    return "".join(verdict_html(str(result), bool(result)) for result in results)


PROVIDED.latex = formula_latex
PROVIDED.mimebundle = tensor_mimebundle
