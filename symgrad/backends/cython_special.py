"""scipy.special's functions of doubles, callable from numba-compiled code: the compiled
interpreter imports this module as `special`, so an op whose source reads `special.gamma(a)`
compiles as it is written (the numba-scipy approach, through `get_cython_function_address`).

Each function is bound to the C function scipy's `cython_special` exports, the very code
scipy's ufunc runs, so numba and numpy give the same floats. The call goes to a named symbol,
registered with LLVM when this module loads, not to an address frozen into the compiled code:
numba's disk cache stays valid in the next process. Imports numba; only the generated
interpreter imports this module (which functions it binds: `kernels.cython_exports()`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import get_cython_function_address, intrinsic

from symgrad.backends.kernels import CYTHON_SPECIAL, cython_exports

_MODULE = "scipy.special.cython_special"


def _bound(name: str, exported: str, arity: int) -> Callable[..., Any]:
    """An intrinsic calling scipy's `exported` C function double(double[, double]); its
    last parameter is Cython's `skip_dispatch` flag, passed as 0."""
    symbol = f"symgrad_scipy_{name}"
    llvm.add_symbol(symbol, get_cython_function_address(_MODULE, exported))
    function_type = ir.FunctionType(ir.DoubleType(), [ir.DoubleType()] * arity + [ir.IntType(32)])

    def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
        function = cgutils.get_or_insert_function(builder.module, function_type, symbol)
        return builder.call(function, [*arguments, ir.Constant(ir.IntType(32), 0)])

    if arity == 1:

        @intrinsic
        def unary(typing_context: Any, a: Any) -> Any:
            return types.float64(types.float64), codegen

        return unary

    @intrinsic
    def binary(typing_context: Any, a: Any, b: Any) -> Any:
        return types.float64(types.float64, types.float64), codegen

    return binary


globals().update({name: _bound(name, exported, CYTHON_SPECIAL[name])
                  for name, exported in cython_exports().items()})
