"""Compiled evaluation: `lambdify` turns graphs into one Python function of numpy calls, and
`codegen` returns that function's source for users to paste into their own code.

Nodes are interned, so common subexpressions are already shared (what sympy's `cse` has to
search for): every node used more than once gets one line and a named temporary; a node used
once is written inline into its user, which lets numpy reuse its temporary arrays. Temporary
names are reused once their value is dead, so memory stays bounded on big graphs. Each op's
numpy function comes from the op table (`op.numpy`).
"""

from __future__ import annotations

import inspect
import keyword
import math
import sys
import unicodedata
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from symgrad.backends.argcheck import checked_argument
from symgrad.backends.blocks import block_size, in_blocks
from symgrad.backends.chunked import has_dask_array, on_chunks
from symgrad.backends.lowering import allocate_slots
from symgrad.backends.numba_backend import NumbaFunction, lambdify_numba
from symgrad.ir.graph import (
    NamedConstant,
    Tensor,
    as_tensor,
    children_of,
    free_variables,
    gc_paused,
    name_of,
    toposort,
    use_counts,
    var,
)
from symgrad.ir.op import (
    DECLARED_ELSEWHERE,
    OPS,
    PREC_ATOM,
    PREC_MUL,
    PREC_NEG,
    SOURCE_IMPORTS,
    Op,
    op_named,
)
from symgrad.ir.shapes import Shape
from symgrad.ops.text import format_number, needs_parens

LANGUAGES = ("python",)
"""The languages `codegen` writes."""

BACKENDS = ("auto", "numpy", "numba")
"""What `lambdify` evaluates with (its `backend=`)."""

# A single-use node is inlined into its user unless the expression grows deeper or longer
# than this; then it gets its own line. Bounded nesting keeps Python's parser and compiler
# (both recursive) safe on graphs of any depth, and lines readable.
MAX_INLINE_DEPTH = 8
MAX_INLINE_CHARS = 100
MAX_INLINE_RESULTS = 4


class _Statement(NamedTuple):
    temp: int  # the temporary assigned
    text: str  # the expression, with "{tK}" placeholders for temporaries
    reads: tuple[int, ...]  # temporaries read


class _Program(NamedTuple):
    """A translated graph, ready to be written as a function definition."""

    params: list[str]  # parameter names, in the order of `args`
    shapes: list[Shape]  # each parameter's declared shape
    converted: list[str]  # the parameters the body reads (converted to arrays on entry)
    lines: list[str]  # body statements, temporaries named
    results: list[str]  # one expression per output
    single: bool  # one output (return it) or a list (return a tuple)
    writes: list[str] | None  # with `out=`: per output, a statement writing it into "\0"
    temporaries: int  # how many named temporaries the body holds at most at once
    shaped: bool  # vectors and matrices: not elementwise, so never split into blocks
    helpers: dict[str, Op]  # ops called by name (no numpy ufunc, no infix symbol)
    constants: dict[str, Any]  # hoisted constants: arrays and non-finite numbers
    dtype: np.dtype


def _fresh(base: str, taken: set[str]) -> str:
    """`base`, or `base_`, `base_2`, ... whichever is not taken yet (and record it).

    `base` must be in NFKC form, as every name in `taken` is: Python reads identifiers in
    that form (`ｔ0` is `t0`), so names distinct here stay distinct in the compiled code.
    """
    name = base
    suffix = 1
    while name in taken or keyword.iskeyword(name) or name == "__debug__":
        name = f"{base}_" if suffix == 1 else f"{base}_{suffix}"
        suffix += 1
    taken.add(name)
    return name


def source_name(name: str) -> str:
    """The name Python would read for the identifier `name` (its NFKC form), or `arg` when
    that form is not an identifier of its own.

    >>> source_name("ｔ0"), source_name("𝐱"), source_name("x")
    ('t0', 'x', 'x')
    """
    normal = unicodedata.normalize("NFKC", name)
    return normal if normal.isidentifier() else "arg"


def _as_outputs(outputs: Any) -> tuple[list[Tensor], bool]:
    if isinstance(outputs, Tensor):
        return [outputs], True
    if isinstance(outputs, int | float | np.number | np.ndarray):
        return [as_tensor(outputs)], True
    if isinstance(outputs, str) or not isinstance(outputs, Iterable):
        raise TypeError(
            f"outputs must be a Tensor or a list of Tensors, got {type(outputs).__name__}"
        )
    roots = []
    for output in outputs:
        if not isinstance(output, Tensor | int | float | np.number | np.ndarray):
            raise TypeError(f"each output must be a Tensor, got {type(output).__name__}")
        roots.append(as_tensor(output))
    return roots, False


def _as_args(args: Any) -> list[Tensor]:
    if isinstance(args, Tensor | str):
        args = [args]
    if not isinstance(args, Iterable):
        raise TypeError(f"args must be a list of variables or names, got {type(args).__name__}")
    variables = []
    seen = set()
    for arg in args:
        if isinstance(arg, str):
            arg = var(arg)
        if not isinstance(arg, Tensor) or not arg.is_var:
            raise TypeError(f"each arg must be a variable or a variable name, got {arg!r}")
        if arg in seen:
            raise ValueError(f"variable {arg.name!r} appears twice in args")
        seen.add(arg)
        variables.append(arg)
    return variables


def _callee(op: Op, helpers: dict[str, Op], taken: set[str]) -> str:
    """How the source calls `op`: `np.sin` when its source is one numpy call, else the name
    of a helper function defined from its source: the op's name, or for an op bound to an
    argument (a sum over an axis) a free name beside it (`sum_`, `sum_2`)."""
    if op.ufunc is not None:
        return op.ufunc
    name = op.name if op.arg is None else _fresh(op.name, taken)
    helpers[name] = op
    return name


def _constant_text(
    node: Tensor, constants: dict[str, Any], taken: set[str], dtype: np.dtype
) -> tuple[str, int]:
    """A constant leaf's text and precedence: a literal, or the name of a hoisted value."""
    number = node.number
    if isinstance(node.value, NamedConstant):  # np.pi
        return node.value.source, PREC_ATOM
    if type(number) is int and not -(2**53) <= number <= 2**53:  # numpy has no loops past int64
        number = float(number)
    if number is not None and math.isfinite(number):
        text = format_number(number)  # a fraction 2/3 is Python's 2/3 too
        if text.startswith("-"):
            return text, PREC_NEG
        return text, (PREC_MUL if "/" in text else PREC_ATOM)
    name = _fresh("c0" if not constants else f"c{len(constants)}", taken)
    value = node.value
    constants[name] = np.asarray(value, dtype=dtype) if isinstance(value, np.ndarray) else value
    return "{" + name + "}", PREC_ATOM


class _Graph(NamedTuple):
    """What `lambdify` compiles, checked: every variable the graph uses is in `variables`."""

    variables: list[Tensor]
    roots: list[Tensor]
    single: bool  # one output (not a list)
    order: list[Tensor]  # toposort(roots)


def _graph(args: Any, outputs: Any) -> _Graph:
    roots, single = _as_outputs(outputs)
    variables = _as_args(args)
    order = toposort(roots)
    given = set(variables)
    missing = [name_of(node) for node in order if node.is_var and node not in given]
    if missing:
        raise ValueError(
            f"the graph uses variables that are not in args: {', '.join(missing)}; "
            f"pass them in args"
        )
    return _Graph(variables, roots, single, order)


def _translate(
    args: Any, outputs: Any, dtype: np.dtype, name: str, out: bool = False
) -> _Program:
    variables, roots, single, order = _graph(args, outputs)

    # Names the source uses: numpy, op helpers, the function itself; parameters avoid them.
    taken = {*SOURCE_IMPORTS, name, *OPS, *DECLARED_ELSEWHERE, *(["out"] if out else [])}
    params = {variable: _fresh(source_name(name_of(variable)), taken) for variable in variables}

    uses = use_counts(order)
    # A few outputs are written in the return statement; many get a line each, so that the
    # temporaries they read can die early.
    inline_results = len(roots) <= MAX_INLINE_RESULTS
    for root in roots:
        uses[root] = uses.get(root, 0) + (1 if inline_results else 2)

    helpers: dict[str, Op] = {}
    constants: dict[str, Any] = {}
    statements: list[_Statement] = []
    read_params: set[str] = set()
    # node -> (text, precedence, inline depth, temporaries read); depth 0 means an atom
    # (a name or a literal) that never needs parentheses of its own.
    texts: dict[Tensor, tuple[str, int, int, tuple[int, ...]]] = {}
    forms: dict[Op, tuple[str | None, str]] = {}  # op -> (infix symbol, callee)
    for node in order:
        children = node.children
        if children is None:
            if node.is_var:
                texts[node] = (params[node], PREC_ATOM, 0, ())
                read_params.add(params[node])
            else:
                text, precedence = _constant_text(node, constants, taken, dtype)
                texts[node] = (text, precedence, 0, ())
            continue
        a, b, op = children
        form = forms.get(op)
        if form is None:
            # tensor ops (a pullback) are calls: their symbols are notation, not Python's
            symbol = op.symbol if op.pullback is None else None
            form = forms[op] = (symbol, _callee(op, helpers, taken))
        symbol, callee = form
        text_a, precedence_a, depth, reads = texts[a]
        if b is not None:
            text_b, precedence_b, depth_b, reads_b = texts[b]
            if depth_b > depth:
                depth = depth_b
            reads = reads + reads_b
        if symbol is None or (a.is_const and (b is None or b.is_const)):
            # A call. Between constants Python's own arithmetic would differ from numpy's
            # (1/0 raises), so those take the function form too, in floats (int64 wraps).
            if type(a.number) is int:
                text_a = format_number(float(a.number))
            if b is not None and type(b.number) is int:
                text_b = format_number(float(b.number))
            text = f"{callee}({text_a})" if b is None else f"{callee}({text_a}, {text_b})"
            precedence = PREC_ATOM
        else:
            # Infix, parenthesized as printing does it; atoms never need parentheses. A
            # negated product keeps its order, -(a*b): (-a)*b has the other NaN where a*b
            # is invalid (0*inf), which numpy makes negative, and -(a*b) positive.
            negated_product = b is None and precedence_a < PREC_NEG
            if precedence_a != PREC_ATOM and (needs_parens(op, 0, a) or negated_product):
                text_a = f"({text_a})"
            precedence = op.precedence
            if b is None:
                text = symbol + text_a
            else:
                if precedence_b != PREC_ATOM and needs_parens(op, 1, b):
                    text_b = f"({text_b})"
                if precedence < PREC_MUL:
                    text = f"{text_a} {symbol} {text_b}"
                else:
                    text = f"{text_a}{symbol}{text_b}"
        depth += 1
        if uses[node] > 1 or depth > MAX_INLINE_DEPTH or len(text) > MAX_INLINE_CHARS:
            temp = len(statements)
            statements.append(_Statement(temp, text, reads))
            texts[node] = (f"{{t{temp}}}", PREC_ATOM, 0, (temp,))
        else:
            texts[node] = (text, precedence, depth, reads)

    results = [texts[root] for root in roots]
    names = {constant: constant for constant in constants}
    lines = _allocate(statements, [reads for *_, reads in results], taken, names)
    partial = _partial_roots(order, roots, variables)
    if partial:
        # An output that ignores some inputs (a constant derivative) still takes their shape,
        # so `plt.plot(xs, df(xs))` works: it is added to zeros of the inputs' common shape,
        # negative ones, since v + -0.0 is v for every v (v + 0.0 is 0.0 for v = -0.0).
        shape = _fresh("shape", taken)
        shapes = ", ".join(f"np.shape({param})" for param in params.values())
        lines.append(f"{shape} = np.broadcast_shapes({shapes})")
        for index in partial:
            text, precedence, depth, reads = results[index]
            text = text if precedence >= PREC_MUL else f"({text})"
            zeros = f"np.full({shape}, -0.0, dtype={_dtype_text(dtype)})"
            results[index] = (f"{text} + {zeros}", precedence, depth, reads)
    writes = None
    if out:
        # An output written in the return statement is computed straight into its `out`
        # array by its last ufunc; one already on a line of its own is copied there.
        writes = []
        for root, (text, _, depth, _) in zip(roots, results, strict=True):
            callee = forms[children_of(root).op][1] if depth > 0 else ""
            if callee.startswith("np."):
                operands = ", ".join(texts[operand][0] for operand in _operands(root))
                writes.append(f"{callee}({operands}, out=\0)".format_map(names))
            else:
                writes.append(f"\0[...] = {text}".format_map(names))
    return _Program(
        params=list(params.values()),
        shapes=[variable.shape for variable in variables],
        converted=[param for param in params.values() if param in read_params],
        lines=lines,
        results=[text.format_map(names) for text, *_ in results],
        single=single,
        writes=writes,
        temporaries=len({line.partition(" = ")[0] for line in lines}),
        shaped=any(node.shape for node in order),
        helpers=helpers,
        constants=constants,
        dtype=dtype,
    )


def _partial_roots(order: list[Tensor], roots: list[Tensor], variables: list[Tensor]) -> list[int]:
    """The positions of the outputs that do not depend on every one of `variables` (none for
    tensor expressions, whose arrays are values, not batches of points)."""
    if not variables or any(variable.shape for variable in variables):
        return []
    bit = {variable: 1 << index for index, variable in enumerate(variables)}
    every = (1 << len(variables)) - 1
    mask: dict[Tensor, int] = {}
    for node in order:
        children = node.children
        if children is None:
            mask[node] = bit.get(node, 0)
        else:
            mask[node] = mask[children.a] | (0 if children.b is None else mask[children.b])
    return [index for index, root in enumerate(roots) if mask[root] != every]


def _allocate(
    statements: list[_Statement],
    result_reads: list[tuple[int, ...]],
    taken: set[str],
    names: dict[str, str],
) -> list[str]:
    """Names for temporaries, reusing a name once its value is dead (`allocate_slots`: a
    line may reuse the name of an operand it reads last; the lowest free number comes first).

    Returns the statements as lines; `names` (placeholder -> name) gains every temporary.
    """
    prefix = "t"
    while any(name.startswith(prefix) and name.removeprefix(prefix).isdigit() for name in taken):
        prefix = "_" + prefix
    kept = [temp for reads in result_reads for temp in reads]
    numbers, _ = allocate_slots(
        [statement.reads for statement in statements], kept, share_operands=True
    )
    lines = []
    for statement, number in zip(statements, numbers, strict=True):
        target = f"{prefix}{number}"
        text = statement.text.format_map(names)
        names[f"t{statement.temp}"] = target
        lines.append(f"{target} = {text}")
    return lines


def _operands(node: Tensor) -> tuple[Tensor, ...]:
    a, b, _ = children_of(node)
    return (a,) if b is None else (a, b)


def _dtype_text(dtype: np.dtype) -> str:
    return "np." + dtype.name


def _function_source(program: _Program, name: str) -> str:
    body = [
        f"{param} = np.asarray({param}, dtype={_dtype_text(program.dtype)})"
        for param in program.converted
    ]
    body += program.lines
    signature = ", ".join(program.params)
    if program.writes is not None:
        signature += ", *, out=None" if program.params else "*, out=None"
        body.append("if out is not None:")
        for index, write in enumerate(program.writes):
            body.append("    " + write.replace("\0", "out" if program.single else f"out[{index}]"))
        body.append("    return out")
    if program.single:
        body.append(f"return {program.results[0]}")
    elif len(program.results) == 1:
        body.append(f"return ({program.results[0]},)")
    elif len(program.results) <= MAX_INLINE_RESULTS and len(", ".join(program.results)) < 80:
        body.append(f"return ({', '.join(program.results)})")
    else:
        body.append("return (")
        body += [f"    {result}," for result in program.results]
        body.append(")")
    return f"def {name}({signature}):\n" + "".join(f"    {line}\n" for line in body)


def lambdify(
    args: Sequence[Tensor | str] | Tensor | str,
    outputs: Tensor | Sequence[Tensor],
    *,
    dtype: Any = None,
    name: str = "f",
    out: bool = False,
    backend: str = "auto",
) -> CompiledFunction | NumbaFunction:
    """A compiled function of `args` (variables or names, in order) computing `outputs`.

    Arrays broadcast; a list of outputs gives a tuple. Inputs are converted to `dtype`
    (float64 by default). The generated numpy source is the function's `.source`. With
    `out=True` the function also takes `out=` (an array, or one per output) and writes
    the results there, by the last ufunc itself where it can, instead of allocating.

    `backend="numpy"` runs that source (big arrays in blocks, so memory stays bounded);
    `"numba"` runs the graph's instruction tape in a compiled interpreter (`NumbaFunction`:
    float64, no `out=`, needs the `numba` extra); `"auto"` takes numba when it is installed
    and the graph has `AUTO_NUMBA_OPS` ops or more.

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import sin
    >>> x, y = variables("x y")
    >>> f = lambdify([x, y], x * y + sin(x) ** 2)
    >>> float(f(2.0, 3.0))
    6.826821810431806
    >>> print(f.source)
    def f(x, y):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        return x*y + np.sin(x)**2
    <BLANKLINE>
    """
    name = _function_name(name)
    dtype = float_dtype(dtype)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend != "numpy":
        compiled = lambdify_numba(
            _graph(args, outputs),
            name,
            lambda: lambdify(args, outputs, name=name, backend="numpy").source,
            required=backend == "numba",
            unsupported=_numba_unsupported(dtype, out),
        )
        if compiled is not None:
            return compiled
    # Translating and compiling allocate a lot and free little: the collector only slows them.
    with gc_paused():
        program = _translate(args, outputs, dtype, name, out)
        source = _function_source(program, name)
        return CompiledFunction(
            source,
            name,
            program.params,
            program.converted,
            program.shapes,
            {helper: (op.name, op.arg) for helper, op in program.helpers.items()},
            program.constants,
            0 if program.shaped else block_size(program.temporaries),
        )


def _numba_unsupported(dtype: np.dtype, out: bool) -> str | None:
    """Why these options need the numpy backend, or None."""
    if dtype != np.float64:
        return f"the numba backend computes in float64, not {dtype}"
    if out:
        return "the numba backend does not write into out="
    return None


def _function_name(name: str) -> str:
    """`name` as Python reads it (NFKC), checked: an identifier that is not a keyword, and
    not a name the generated code calls (`np`, an op's helper), which it would hide."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier, got {name!r}")
    normal = unicodedata.normalize("NFKC", name)
    if keyword.iskeyword(normal) or normal == "__debug__":
        raise ValueError(f"name must be a Python identifier, got the keyword {name!r}")
    if normal in SOURCE_IMPORTS or normal in OPS or normal in DECLARED_ELSEWHERE:
        raise ValueError(
            f"name {name!r} is taken: the generated code calls {normal!r} (numpy, "
            f"scipy.special or an op's helper), which the function would hide; choose another"
        )
    return normal


def float_dtype(dtype: Any) -> np.dtype:
    """The dtype compiled functions compute in: float64 for None, else a real floating type
    (float16, float32, float64, longdouble); a TypeError for any other.

    >>> float_dtype(None), float_dtype("float32")
    (dtype('float64'), dtype('float32'))
    """
    try:
        resolved = np.dtype(np.float64 if dtype is None else dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.kind != "f":
        raise TypeError(
            "dtype must be a real floating type (float16, float32, float64 or longdouble), "
            f"got {dtype!r}"
        )
    return resolved


class CompiledFunction:
    """What `lambdify` returns: the compiled function, with its `.source`. Inputs are checked
    as `evaluate` checks them (`checked_argument`: None or text is a TypeError, not NaN; a
    vector or matrix of another shape than declared is a ShapeError), and it pickles (by its
    source, compiled again on loading), so it can be sent to worker processes.

    >>> from symgrad.ir.graph import var
    >>> f = lambdify([var("x")], var("x") + 1)
    >>> f(None)
    Traceback (most recent call last):
    ...
    TypeError: the value of 'x' must be a real number or numeric array, got NoneType None
    """

    def __init__(
        self,
        source: str,
        name: str,
        params: Sequence[str],
        checked: Sequence[str],
        shapes: Sequence[Shape],
        helpers: Mapping[str, tuple[str, Hashable]],
        constants: dict[str, Any],
        block: int,
    ):
        # each helper the source calls, by the op's (name, arg): found again when unpickled
        namespace: dict[str, Any] = {"np": np, **constants}
        namespace.update({helper: op_named(*key).numpy for helper, key in helpers.items()})
        exec(compile(source, f"<symgrad.lambdify {name}>", "exec"), namespace)
        # Arrays of more than `block` points are evaluated a block at a time.
        self.function = in_blocks(namespace[name], block) if block else namespace[name]
        self.source = source
        self.__name__ = self.__qualname__ = name
        self.__signature__ = inspect.signature(self.function)
        self._rebuild = (
            source,
            name,
            tuple(params),
            tuple(checked),
            tuple(shapes),
            dict(helpers),
            constants,
            block,
        )
        # positions, names and shapes of the inputs the body reads (unused ones may be
        # anything, as in `evaluate`)
        self._checked = [
            (index, param, shape)
            for index, (param, shape) in enumerate(zip(params, shapes, strict=True))
            if param in checked
        ]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if has_dask_array(args) or has_dask_array(list(kwargs.values())):
            if any(shape for _, _, shape in self._checked):
                raise TypeError("on dask arrays, compiled functions of scalar variables map "
                                "over the chunks; vectors and matrices are not chunked")
            return on_chunks(self, list(self.__signature__.parameters), args, kwargs)
        values = list(args)
        dims: dict[str, int] = {}  # named dimensions, one size across the arguments
        for index, param, shape in self._checked:
            if index < len(values):
                values[index] = checked_argument(param, values[index], shape, dims)
            elif param in kwargs:
                kwargs[param] = checked_argument(param, kwargs[param], shape, dims)
        return self.function(*values, **kwargs)

    def __reduce__(self) -> tuple:
        return (CompiledFunction, self._rebuild)

    def __repr__(self) -> str:
        return f"<compiled symgrad function {self.__name__}{self.__signature__}>"


def codegen(
    outputs: Tensor | Sequence[Tensor],
    lang: str = "python",
    args: Sequence[Tensor | str] | None = None,
    *,
    name: str = "f",
    dtype: Any = None,
) -> str:
    """Self-contained source of a function computing `outputs` (see `lambdify`), to paste.

    `args` defaults to the graph's variables in order of first appearance.

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import sigmoid
    >>> x, y = variables("x y")
    >>> print(codegen(sigmoid(x * y) * (x * y)))
    import numpy as np
    <BLANKLINE>
    <BLANKLINE>
    def sigmoid(a):
        return np.exp(-np.logaddexp(0.0, -a))
    <BLANKLINE>
    <BLANKLINE>
    def f(x, y):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        t0 = x*y
        return sigmoid(t0)*t0
    <BLANKLINE>
    """
    if lang not in LANGUAGES:
        raise ValueError(
            f"codegen: unsupported language {lang!r}; supported: {', '.join(LANGUAGES)}"
        )
    name = _function_name(name)
    if args is None:
        roots, _ = _as_outputs(outputs)
        args = free_variables(roots)
    with gc_paused():
        program = _translate(args, outputs, float_dtype(dtype), name)
    helpers = [helper_source(op, helper) for helper, op in program.helpers.items()]
    used = [name for name in SOURCE_IMPORTS if any(f"{name}." in text for text in helpers)]
    blocks = ["\n".join(dict.fromkeys(SOURCE_IMPORTS[name] for name in ["np", *used]))]
    blocks += helpers
    if program.constants:
        blocks.append(
            "\n".join(
                f"{constant} = {_value_source(value, program.dtype)}"
                for constant, value in program.constants.items()
            )
        )
    blocks.append(_function_source(program, name))
    return "\n\n\n".join(block.rstrip("\n") for block in blocks) + "\n"


def _value_source(value: Any, dtype: np.dtype) -> str:
    """A constant as Python source: `float("inf")`, `np.array([...], dtype=...)`."""

    def number(v: Any) -> str:
        v = float(v)
        return repr(v) if math.isfinite(v) else f'float("{v}")'

    if isinstance(value, np.ndarray):
        text = np.array2string(
            value,
            separator=", ",
            threshold=sys.maxsize,
            formatter={"float_kind": number, "int_kind": number},
        )
        return f"np.array({text}, dtype={_dtype_text(dtype)})"
    return number(value)


# --- pasteable helpers: an op's source as a plain `def` --------------------------------------


def helper_source(op: Op, name: str | None = None) -> str:
    """`def <op name>(a): return <op.source>`: the op as a function to paste (called `name`
    if given); an op whose source is a Python function is taken from the table by (name, arg).

    >>> from symgrad.ops.scalar import sigmoid
    >>> print(helper_source(sigmoid))
    def sigmoid(a):
        return np.exp(-np.logaddexp(0.0, -a))
    """
    name = op.name if name is None else name
    if not isinstance(op.source, str):  # a Python function, not source: take it from the table
        key = f'"{op.name}"' if op.arg is None else f'"{op.name}", {op.arg!r}'
        return f"from symgrad.ir.op import op_named\n\n{name} = op_named({key}).numpy"
    parameters = "a" if op.arity == 1 else "a, b"
    return f"def {name}({parameters}):\n    return {op.source}"
