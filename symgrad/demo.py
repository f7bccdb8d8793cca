"""`symgrad demo`: the gradient of one neuron's squared loss, derived, simplified, checked
against sympy, evaluated at micrograd's example point, and drawn as three SVG pictures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from symgrad.autodiff.diff import gradient
from symgrad.backends.evaluate import evaluate
from symgrad.ir.graph import Tensor, count_ops, variables
from symgrad.ops.scalar import tanh
from symgrad.present.dot import render, to_dot, to_dot_pair
from symgrad.rewrite.simplify import simplify
from symgrad.verify.checking import check_derivative

# micrograd's neuron (its README's trace example) with target 1.
POINT = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.881373587019543, "y": 1.0}


def neuron_loss() -> tuple[Tensor, list[Tensor]]:
    """L = (tanh(w1*x1 + w2*x2 + b) - y)**2 and its parameters [w1, w2, b].

    >>> loss, parameters = neuron_loss()
    >>> str(loss), [str(p) for p in parameters]
    ('(tanh(b + w1*x1 + w2*x2) - y)**2', ['w1', 'w2', 'b'])
    """
    x1, x2, w1, w2, b, y = variables("x1 x2 w1 w2 b y")
    return (tanh(w1 * x1 + w2 * x2 + b) - y) ** 2, [w1, w2, b]


def run(out: str | Path = "symgrad-demo", echo: Callable[[str], object] = print) -> bool:
    """Derive, check and draw; `echo` gets each line of the report. True when sympy agrees.

    >>> import tempfile
    >>> lines = []
    >>> run(tempfile.mkdtemp(), echo=lines.append)
    True
    >>> lines[0]
    'L = (tanh(b + w1*x1 + w2*x2) - y)**2'
    """

    start = time.perf_counter()
    loss, parameters = neuron_loss()
    raw = gradient(loss, parameters)
    simplified = simplify(raw)
    echo(f"L = {loss}")
    echo(f"gradient by reverse mode: {count_ops(raw)} ops shared by the three partials "
         f"({count_ops(loss)} in L), simplified:")
    for parameter, derivative in zip(parameters, simplified, strict=True):
        echo(f"  dL/d{parameter.name} = {derivative}")

    point = ", ".join(f"{name}={value:.4g}" for name, value in POINT.items())
    values = evaluate([loss, *simplified], POINT)
    echo(f"at {point}:")
    echo(f"  L = {values[0] + 0.0:.6f}   " + "   ".join(
        f"dL/d{p.name} = {v + 0.0:.6f}" for p, v in zip(parameters, values[1:], strict=True)))

    agree = True
    echo("checked against sympy.diff:")
    for parameter, derivative in zip(parameters, simplified, strict=True):
        verdict = check_derivative(loss, parameter, derivative)
        agree = agree and bool(verdict)
        echo(f"  {str(verdict).splitlines()[0]}")

    out = Path(out)
    names = {d: f"dL/d{p.name}" for p, d in zip(parameters, simplified, strict=True)}
    pictures = {
        "forward.svg": to_dot(loss, POINT, adjoints=True),
        "gradient.svg": to_dot(simplified, POINT, labels=names),
        "pair.svg": to_dot_pair(loss, parameters, POINT, derivatives=raw),
    }
    for name, graph in pictures.items():
        render(graph, out / name)
    echo(f"wrote {', '.join(pictures)} into {out.resolve()}/")
    echo("  forward.svg: L's graph, each node with data | grad (dL/dnode), as micrograd draws it")
    echo("  gradient.svg: the simplified gradient graph")
    echo("  pair.svg: L beside the gradient graph as reverse mode built it; yellow nodes of L")
    echo("            are reused by the gradient")
    echo(f"{'all derivatives agree with sympy' if agree else 'DISAGREEMENT with sympy'} "
         f"({time.perf_counter() - start:.1f} s)")
    return agree
