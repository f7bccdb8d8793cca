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

from symgrad.advise import Advice, Finding, advise
from symgrad.checking import CheckResult, CheckResults, check
from symgrad.compare import Comparison, compare
from symgrad.compile import codegen, lambdify
from symgrad.diff import Step, diff, forward_sweep, gradient, hessian, jacobian, reverse_sweep
from symgrad.display import init_printing
from symgrad.dot import render, to_dot, to_dot_pair
from symgrad.evaluate import UnboundVariableError, evaluate
from symgrad.explain import ExplainedStep, Explanation, explain
from symgrad.graph import (
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
from symgrad.ops import OPS, Op, public_functions
from symgrad.parse import ParseError, parse
from symgrad.printing import latex, pretty
from symgrad.shapes import ShapeError
from symgrad.simplify import Rewrite, simplify
from symgrad.stabilize import stabilize
from symgrad.sympy_bridge import (
    NoSympyFormError,
    NotSympyError,
    UnsupportedSympyError,
    from_sympy,
    to_sympy,
)
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
    "RebindWarning",
    "Rewrite",
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
    "diff",
    "evaluate",
    "explain",
    "forward_sweep",
    "free_variables",
    "from_sympy",
    "gradient",
    "hessian",
    "init_printing",
    "jacobian",
    "lambdify",
    "latex",
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
