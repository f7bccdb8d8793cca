"""symgrad: symbolic differentiation that produces gradient graphs.

>>> import symgrad as sg
>>> x, y = sg.variables("x y")
>>> f = x * y + sg.sin(x) ** 2
>>> [str(p) for p in sg.gradient(f, [x, y])]
['y + 2*sin(x)*cos(x)', 'x']
"""

import builtins as _builtins
from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

from symgrad.api import gradient, stabilize
from symgrad.autodiff.diff import Step, diff, forward_sweep, reverse_sweep
from symgrad.autodiff.jacobian import hessian, jacobian
from symgrad.backends.compile import codegen, lambdify
from symgrad.backends.evaluate import UnboundVariableError, evaluate
from symgrad.interop.parse import ParseError, parse
from symgrad.interop.sympy_bridge import (
    NoSympyFormError,
    NotSympyError,
    UnsupportedSympyError,
    from_sympy,
    to_sympy,
)
from symgrad.ir.graph import (
    PI,
    Children,
    E,
    NameClashError,
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
from symgrad.ir.op import OPS, Op
from symgrad.ir.shapes import ShapeError
from symgrad.ops.linalg import det, diag, diagonal, inv, kron, logdet, solve
from symgrad.ops.scalar import public_functions
from symgrad.ops.special import PolygammaOrderError, expit
from symgrad.ops.tensor import (
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
from symgrad.present.display import init_printing
from symgrad.present.dot import render, to_dot, to_dot_pair
from symgrad.present.explain import ExplainedStep, Explanation, explain
from symgrad.present.printing import latex, pretty
from symgrad.rewrite.simplify import Rewrite, simplify
from symgrad.verify.advise import Advice, Finding, advise
from symgrad.verify.checking import check
from symgrad.verify.compare import Comparison, compare
from symgrad.verify.search import SearchResult
from symgrad.verify.verdict import CheckResult, CheckResults

try:
    __version__ = _version("symgrad")
except _NotInstalled:  # a source tree that was never installed
    __version__ = "unknown"

__all__ = [
    "E",
    "OPS",
    "Advice",
    "CheckResult",
    "CheckResults",
    "Children",
    "Comparison",
    "ExplainedStep",
    "Explanation",
    "Finding",
    "NoSympyFormError",
    "NameClashError",
    "NotSympyError",
    "Op",
    "PI",
    "ParseError",
    "PolygammaOrderError",
    "RebindWarning",
    "Rewrite",
    "SearchResult",
    "ShapeError",
    "Step",
    "Tensor",
    "UnboundVariableError",
    "UnsupportedSympyError",
    "advise",
    "as_tensor",
    "check",
    "codegen",
    "compare",
    "const",
    "count_ops",
    "det",
    "diag",
    "diagonal",
    "diff",
    "evaluate",
    "expit",
    "explain",
    "forward_sweep",
    "free_variables",
    "from_sympy",
    "gradient",
    "hessian",
    "init_printing",
    "inv",
    "jacobian",
    "kron",
    "lambdify",
    "latex",
    "logdet",
    "logsumexp",
    "matmul",
    "matrix",
    "mean",
    "norm",
    "outer",
    "parse",
    "pretty",
    "reverse_sweep",
    "simplify",
    "softmax",
    "solve",
    "squared_norm",
    "stabilize",
    "sum",
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

# The functions (sin, atan2, max, where, ...) come from the op table, so a new op is exported
# with no edit here; pi is also spelled as users type it.
_FUNCTIONS = public_functions()
globals().update(_FUNCTIONS)
pi = PI
__all__ += [*sorted(_FUNCTIONS), "pi"]
# `from symgrad import *` must not replace Python's own abs, sum, max, min, pow: those stay
# out of __all__ (sg.abs, sg.sum, ... are there all the same).
__all__ = [name for name in __all__ if not hasattr(_builtins, name)]
