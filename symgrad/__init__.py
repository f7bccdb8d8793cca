"""symgrad: symbolic differentiation that produces gradient graphs.

>>> import symgrad as sg
>>> x, y = sg.variables("x y")
>>> f = x * y + sg.sin(x) ** 2
>>> [str(p) for p in sg.gradient(f, [x, y])]
['2*sin(x)*cos(x) + y', 'x']
"""

from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

from symgrad.checking import CheckResult, CheckResults, check
from symgrad.compare import Comparison, compare
from symgrad.compile import codegen, lambdify
from symgrad.diff import Step, forward_sweep, gradient, hessian, jacobian, reverse_sweep
from symgrad.dot import render, to_dot, to_dot_pair
from symgrad.evaluate import UnboundVariableError, evaluate
from symgrad.explain import ExplainedStep, Explanation, explain
from symgrad.graph import (
    Children,
    RebindWarning,
    Tensor,
    as_tensor,
    const,
    count_ops,
    free_variables,
    toposort,
    var,
    variables,
)
from symgrad.ops import (
    OPS,
    Op,
    abs,  # noqa: F401  (sg.abs, kept out of __all__)
    cos,
    exp,
    log,
    relu,
    sigmoid,
    sign,
    sin,
    sqrt,
    step,
    tan,
    tanh,
)
from symgrad.parse import ParseError, parse
from symgrad.printing import latex, pretty
from symgrad.shapes import ShapeError
from symgrad.simplify import Rewrite, simplify
from symgrad.sympy_bridge import UnsupportedSympyError, from_sympy, to_sympy
from symgrad.tensor_ops import (
    logsumexp,
    matmul,
    matrix,
    mean,
    norm,
    outer,
    softmax,
    squared_norm,
    sum,
    trace,
    transpose,
    vector,
)

try:
    __version__ = _version("symgrad")
except _NotInstalled:  # a source tree that was never installed
    __version__ = "unknown"

# `abs` stays out of __all__: `from symgrad import *` must not replace the builtin (sg.abs is
# there all the same).
__all__ = [
    "OPS",
    "CheckResult",
    "CheckResults",
    "Children",
    "Comparison",
    "ExplainedStep",
    "Explanation",
    "Op",
    "ParseError",
    "RebindWarning",
    "Rewrite",
    "ShapeError",
    "Step",
    "Tensor",
    "UnboundVariableError",
    "UnsupportedSympyError",
    "as_tensor",
    "check",
    "codegen",
    "compare",
    "const",
    "cos",
    "count_ops",
    "evaluate",
    "exp",
    "explain",
    "forward_sweep",
    "free_variables",
    "from_sympy",
    "gradient",
    "hessian",
    "jacobian",
    "lambdify",
    "latex",
    "log",
    "logsumexp",
    "matmul",
    "matrix",
    "mean",
    "norm",
    "outer",
    "parse",
    "pretty",
    "relu",
    "reverse_sweep",
    "sigmoid",
    "sign",
    "simplify",
    "sin",
    "softmax",
    "squared_norm",
    "sum",
    "sqrt",
    "step",
    "tan",
    "tanh",
    "to_sympy",
    "trace",
    "transpose",
    "toposort",
    "render",
    "to_dot",
    "to_dot_pair",
    "var",
    "variables",
    "vector",
]
