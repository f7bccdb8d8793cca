"""Reading formulas: `parse("x*y + sin(x)**2")` builds the graph through the op table (so
folding applies). The grammar comes from the op table's symbols and precedences, which follow
Python's: `**` groups right and binds tighter than unary minus (`-x**2` is `-(x**2)`); `^` also
means `**`. A hand-written tokenizer, read as the parser asks for tokens (an error stops the
reading there), feeds an operator-precedence (shunting-yard) parser with explicit stacks, so
long or deeply nested input never hits Python's recursion limit. A function's name not
followed by `(` is a variable of that name.

Text of several lines is the shared form `pretty(t, shared=True)` prints: let-bindings
`name = expression`, one per line, then the result expression on the last line.
"""

from __future__ import annotations

import difflib
import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from symgrad.ir.fold import apply
from symgrad.ir.graph import PI, E, NameClashError, Tensor, const, gc_paused, var
from symgrad.ir.op import FUNCTIONS, OPS, PREC_MUL, PREC_NEG, PREC_POW
from symgrad.ir.shapes import ShapeError, as_shape, normalize_axis
from symgrad.ops import linalg, tensor
from symgrad.ops.scalar import eq, ge, gt, le, lt, ne, where
from symgrad.ops.text import PREC_COMPARISON

__all__ = ["ParseError", "parse"]


class ParseError(ValueError):
    """Text that is not a formula: says what went wrong, where (1-based `column`, and `line`
    for text of several lines), and shows the line with a caret under the spot.

    >>> print(ParseError("x + * y", 5, "expected a number, a name or '('"))
    expected a number, a name or '(' at column 5
    x + * y
        ^
    """

    def __init__(self, text: str, column: int, message: str, line: int | None = None):
        self.text = text
        self.column = column
        self.message = message
        self.line = line
        where = f"column {column}" if line is None else f"line {line}, column {column}"
        shown, caret = _window(text, column)
        super().__init__(f"{message} at {where}\n{shown}\n{' ' * (caret - 1)}^")


def _window(text: str, column: int, width: int = 100) -> tuple[str, int]:
    """The text around `column`, cut to about `width` characters, and the column within it."""
    shown, caret = text, column
    if len(text) > width:
        start = max(0, min(column - 1 - width // 2, len(text) - width))
        shown = text[start : start + width]
        caret = column - start
        if start > 0:
            shown, caret = "..." + shown, caret + 3
        if start + width < len(text):
            shown += "..."
    # control characters (escape sequences, NUL) are shown as '?', one column each
    return "".join(char if char.isprintable() else "?" for char in shown), caret


# --- the grammar, from the op table --------------------------------------------------------
class Infix(NamedTuple):
    """A binary operator: what it builds and how tightly it binds."""

    build: Callable[[Tensor, Tensor], Tensor]
    precedence: int


class Row(NamedTuple):
    """`x.T` of a vector x, while it is read: a row, so that `y@x.T` is the outer product
    y xᵀ, as `str` writes it; anywhere else it is x again (vectors have one axis)."""

    vector: Tensor


def _product(a: Tensor | Row, b: Tensor | Row) -> Tensor:
    """`a@b`, where a row on the right of a vector makes their outer product."""
    if isinstance(b, Row):
        if isinstance(a, Row) or len(a.shape) != 1:
            raise ShapeError("a row vector x.T stands on the right only of a column vector")
        return tensor.outer(a, b.vector)
    return tensor.matmul(a.vector if isinstance(a, Row) else a, b)


def _transposed(a: Tensor | Row) -> Tensor | Row:
    """`a.T`: a vector becomes a row and a row a vector again."""
    if isinstance(a, Row):
        return a.vector
    return Row(a) if len(a.shape) == 1 else tensor.transpose(a)


BINARY: dict[str, Infix] = {op.symbol: Infix(op, op.precedence) for op in OPS.values()
                            if op.arity == 2 and op.symbol}
BINARY["^"] = BINARY["**"]
# `@` binds as * does, as in Python; it picks the product its operands' shapes ask for
BINARY["@"] = Infix(_product, PREC_MUL)
# Comparisons read as in Python, binding looser than + (x + 1 > y is (x + 1) > y); they do not
# chain. They print so (`x > 0`, `(x > 0) == 0`); the calls gt(x, y), ... read too.
BINARY.update({symbol: Infix(op, PREC_COMPARISON) for symbol, op in {
    "<": lt, "<=": le, ">": gt, ">=": ge, "==": eq, "!=": ne}.items()})
PREFIX: dict[str, Callable[[Tensor], Tensor] | None] = {
    op.symbol: op for op in OPS.values()
    if op.arity == 1 and op.symbol and op.precedence == PREC_NEG}
PREFIX["+"] = None  # unary plus changes nothing
POSTFIX: dict[str, Callable[[Tensor | Row], Tensor | Row]] = {".T": _transposed}
_TAKE_ROWS = (_product, _transposed)
CONSTANT_NAMES = {"inf": const(float("inf")), "nan": const(float("nan")), "pi": PI, "e": E}
"""Names that read as constants (what format_number prints); a binding may shadow them."""


class Function(NamedTuple):
    """A name parse reads as a call: what it builds, how many arguments it takes, and the
    keywords it reads (`sum(A, axis=0)`)."""

    name: str
    build: Callable[..., Tensor]
    arities: tuple[int, ...]
    keywords: tuple[str, ...] = ()


_REDUCTION = ("axis", "keepdims")


def _expand_dims(a: Tensor, axis: int | None = None) -> Tensor:
    """`expand_dims(a, axis=k)`: a with a new axis of length 1 at k."""
    if axis is None:
        raise ValueError("expand_dims takes axis=")
    axes = normalize_axis(axis, len(a.shape) + 1)
    return apply(tensor.EXPAND_DIMS.bound(axes), a)


TENSOR_FUNCTIONS = {
    "sum": Function("sum", tensor.sum, (1,), _REDUCTION),
    "mean": Function("mean", tensor.mean, (1,), _REDUCTION),
    "softmax": Function("softmax", tensor.softmax, (1,), ("axis",)),
    "logsumexp": Function("logsumexp", tensor.logsumexp, (1,), ("axis",)),
    "norm": Function("norm", tensor.norm, (1,)),
    "trace": Function("trace", tensor.trace, (1,)),
    "transpose": Function("transpose", tensor.transpose, (1,)),
    "outer": Function("outer", tensor.outer, (2,)),
    "inv": Function("inv", linalg.inv, (1,)),
    "det": Function("det", linalg.det, (1,)),
    "logdet": Function("logdet", linalg.logdet, (1,)),
    "solve": Function("solve", linalg.solve, (2,)),
    "diag": Function("diag", linalg.diag, (1,)),
    "diagonal": Function("diagonal", linalg.diagonal, (1,)),
    "kron": Function("kron", linalg.kron, (2,)),
    "zeros_like": Function("zeros_like", lambda a: tensor.expand(const(0), a), (1,)),
    "ones_like": Function("ones_like", lambda a: tensor.expand(const(1), a), (1,)),
    "identity": Function("identity", lambda a: apply(tensor.eye_like, a), (1,)),
    "expand_dims": Function("expand_dims", _expand_dims, (1,), ("axis",)),
}
"""The functions of vectors and matrices, as `str` writes them."""
KEYWORD_VALUES: dict[str, Any] = {"True": True, "False": False, "None": None}
"""The names a keyword argument may take besides integers."""


def functions() -> dict[str, Function]:
    """Every function name parse reads: the op table's call-style ops by their names and
    aliases (so an op added to the table parses at once), `where(c, a, b)` and the functions
    of vectors and matrices."""
    table = {name: Function(op.name, op, op.call_arities) for name, op in FUNCTIONS.items()}
    table["where"] = Function("where", where, (3,))
    table.update(TENSOR_FUNCTIONS)
    return table


class Call:
    """A call being read: its function, its first token, and the keyword arguments so far."""

    def __init__(self, function: Function, opener: Token):
        self.function = function
        self.opener = opener
        self.keywords: dict[str, Any] = {}

    def build(self, *operands: Tensor) -> Tensor:
        return self.function.build(*operands, **self.keywords)


_SYMBOLS = sorted(
    set(BINARY) | set(PREFIX) | set(POSTFIX) | {"(", ")", ",", "=", ";"}, key=len, reverse=True
)
_TOKEN = re.compile(
    r"(?P<space>[ \t\r]+|\#[^\n]*)"
    r"|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<newline>\n)"
    r"|(?P<symbol>" + "|".join(re.escape(symbol) for symbol in _SYMBOLS) + ")"
    r"|(?P<other>.)",  # anything else: an error, found in the same single pass
    re.DOTALL,
)


class Token(NamedTuple):
    kind: str  # "number", "name", "symbol", "end"
    text: str
    column: int  # 1-based, within its line
    line: int  # 1-based


_new_token = tuple.__new__  # skips NamedTuple's Python-level __new__: a token per character
_WORD = re.compile(r"\w*")
_SIGNS = re.compile(r"[-+ \t\r]*")  # a run of unary signs (and spaces), read in one step

MAX_PENDING = 1_000_000
"""Operators and parentheses waiting for their operands (`((((x` or `x**x**x`) past which
`parse` refuses: memory stays bounded by it whatever the length of the text."""


class Tokens:
    """The tokens of `text`, read as the parser asks for them (statements end with an "end"
    token at a newline or `;`, the text with one whose text is empty), so an error stops the
    reading where it is: the text after it is never tokenized.

    >>> tokens = Tokens("2*--x")
    >>> tokens.next().text, tokens.next().text, tokens.next().text, tokens.minus_signs()
    ('2', '*', '-', 1)
    >>> tokens.next(), tokens.next().kind
    (Token(kind='name', text='x', column=5, line=1), 'end')
    """

    def __init__(self, text: str):
        self.text = text
        self._position = 0
        self._line, self._line_start = 1, 0
        self._ahead: list[Token] = []

    def peek(self, ahead: int = 0) -> Token:
        """The token after the next `ahead` ones, without reading it."""
        while len(self._ahead) <= ahead:
            self._ahead.append(self._read())
        return self._ahead[ahead]

    def next(self) -> Token:
        return self._ahead.pop(0) if self._ahead else self._read()

    def minus_signs(self) -> int:
        """Reads the run of `+` and `-` signs that comes next; how many of them are minus."""
        if self._ahead:
            return 0
        match = _SIGNS.match(self.text, self._position)
        assert match is not None  # the pattern matches an empty run too
        self._position = match.end()
        return match.group().count("-")

    def _name_end(self) -> int:
        """Where the name read up to here ends: past the letters and digits the regex took, and
        the other characters a Python name may go on with (combining marks: `x́`, `कि`)."""
        text, end = self.text, self._position
        while True:
            word = _WORD.match(text, end)
            assert word is not None  # the pattern matches an empty word too
            end = word.end()
            if end == len(text) or text[end].isascii() or not ("x" + text[end]).isidentifier():
                break
            end += 1
        self._position = end
        return end

    def _read(self) -> Token:
        text = self.text
        while True:
            match = _TOKEN.match(text, self._position)
            if match is None:  # the end of the text (every other position matches)
                return _new_token(Token, ("end", "", len(text) - self._line_start + 1, self._line))
            self._position = match.end()
            kind = match.lastgroup
            if kind != "space":
                break
        value = match.group()
        column = match.start() - self._line_start + 1
        if kind == "name" or (kind == "other" and value.isidentifier()):  # (℘ starts names)
            kind = "name"
            value = text[match.start() : self._name_end()]
        if kind == "other":
            raise _error(text, self._line, column, f"unexpected character {value!r}")
        token = _new_token(Token, ("end" if kind == "newline" or value == ";" else kind, value,
                                   column, self._line))
        if kind == "newline":
            self._line, self._line_start = self._line + 1, self._position
        return token


def _line_of(text: str, line: int) -> str:
    lines = text.split("\n")
    return lines[line - 1] if line <= len(lines) else ""


def _error(text: str, line: int, column: int, message: str) -> ParseError:
    if "\n" not in text.rstrip("\n"):
        return ParseError(text.rstrip("\n"), column, message)
    return ParseError(_line_of(text, line), column, message, line=line)


def _number(token: Token) -> Tensor:
    digits = token.text
    if digits.isdecimal() and len(digits) <= 400:  # past 400 digits no float is finite
        return const(int(digits))
    # float reads any length in linear time, overflowing to inf as IEEE does (1e400 -> inf);
    # int would refuse past 4,300 digits
    return const(float(digits))


def _function(text: str, token: Token) -> Function:
    known = functions()
    function = known.get(token.text)
    if function is None:
        message = f"unknown function {token.text!r}"
        close = difflib.get_close_matches(token.text, known, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        else:
            message += f"; the functions are {', '.join(sorted(known))}"
        raise _error(text, token.line, token.column, message)
    return function


def _apply(text: str, token: Token, build: Callable[..., Tensor | Row] | None,
           operands: list[Tensor | Row], count: int) -> None:
    """Replace the last `count` operands by what `build` makes of them; shapes that do not
    fit are an error at `token`, the operator or call that joins them."""
    args = operands[-count:]
    del operands[-count:]
    if build not in _TAKE_ROWS:
        args = [arg.vector if isinstance(arg, Row) else arg for arg in args]
    try:
        operands.append(args[0] if build is None else build(*args))
    except ShapeError as error:
        raise _error(text, token.line, token.column, str(error)) from None


def _reduce(text: str, operators: list[tuple], operands: list[Tensor | Row]) -> None:
    """Apply the operator on top of the stack to its operands."""
    kind, op, _, token, _ = operators.pop()
    _apply(text, token, op, operands, 2 if kind == "binary" else 1)


def _keyword(text: str, name: Token, tokens: Tokens, call: Call) -> None:
    """Reads the rest of `name=value` inside a call: an integer (signed), True, False or
    None, followed by `,` or `)`."""
    if name.text not in call.function.keywords:
        takes = ", ".join(call.function.keywords) or "no keywords"
        raise _error(text, name.line, name.column,
                     f"{call.function.name} takes {takes}, not {name.text!r}")
    if name.text in call.keywords:
        raise _error(text, name.line, name.column, f"{name.text} is given twice")
    tokens.next()  # the '='
    negative = tokens.minus_signs() % 2 == 1
    value = tokens.next()
    if value.kind == "number" and value.text.isdecimal():
        call.keywords[name.text] = -int(value.text) if negative else int(value.text)
    elif value.text in KEYWORD_VALUES and not negative:
        call.keywords[name.text] = KEYWORD_VALUES[value.text]
    else:
        raise _error(text, value.line, value.column,
                     f"{name.text}= takes an integer, True, False or None")
    after = tokens.peek()
    if after.text not in (",", ")"):
        raise _error(text, after.line, after.column, f"expected ',' or ')', got {after.text!r}")


def _pending_comparison(operators: list[tuple]) -> bool:
    """Whether the expression being read already compares at this level (a < b < ...)."""
    for kind, _, precedence, _, _ in reversed(operators):
        if kind not in ("binary", "prefix") or precedence < PREC_COMPARISON:
            return False
        if precedence == PREC_COMPARISON:
            return True
    return False


def parse_expression(text: str, tokens: Tokens, bindings: ChainMap[str, Tensor]) -> Tensor:
    """One expression, read from `tokens` up to its "end" token; names in `bindings` stand for
    their Tensors, and a variable found is entered in its last map."""
    operands: list[Tensor | Row] = []
    # entries: (kind, op, precedence, token, argument count); kinds: binary, prefix, paren, call
    operators: list[tuple] = []
    expect_operand = True
    previous = Token("end", "", 1, 1)
    while True:
        token = tokens.next()
        if len(operators) >= MAX_PENDING:
            raise _error(text, token.line, token.column,
                         f"more than {MAX_PENDING:,} operators and parentheses are open here")
        if expect_operand:
            if token.kind == "number":
                operands.append(_number(token))
                expect_operand = False
            elif token.kind == "name" and tokens.peek().text == "=" and operators \
                    and operators[-1][0] == "call":
                _keyword(text, token, tokens, operators[-1][1])
                expect_operand = False
                operators[-1] = (*operators[-1][:4], operators[-1][4] - 1)  # not an operand
            elif token.kind == "name":
                if tokens.peek().text == "(":
                    operators.append(("call", Call(_function(text, token), token), 0, token, 1))
                    tokens.next()
                    if tokens.peek().text == ")":
                        raise _error(
                            text, token.line, token.column, f"{token.text}() needs an argument"
                        )
                else:
                    operands.append(_leaf(text, token, bindings))
                    expect_operand = False
            elif token.text == "(":
                operators.append(("paren", None, 0, token, 0))
            elif token.text in PREFIX:
                # a run of signs at once: --x is x, +x is x
                if ((token.text == "-") + tokens.minus_signs()) % 2:
                    operators.append(("prefix", PREFIX["-"], PREC_NEG, token, 0))
            elif token.kind == "end":
                raise _error(text, token.line, token.column, "unexpected end of input")
            else:
                raise _error(
                    text,
                    token.line,
                    token.column,
                    f"expected a number, a name or '(', got {token.text!r}",
                )
            previous = token
            continue
        if token.kind == "symbol" and token.text in POSTFIX:  # binds tightest: x**A.T
            _apply(text, token, POSTFIX[token.text], operands, 1)
        elif token.kind == "symbol" and token.text in BINARY:
            build, precedence = BINARY[token.text]
            right = precedence == PREC_POW  # a**b**c is a**(b**c)
            if precedence == PREC_COMPARISON and _pending_comparison(operators):
                raise _error(text, token.line, token.column,
                             "comparisons do not chain: write (a < b)*(b < c)")
            while (
                operators
                and operators[-1][0] in ("binary", "prefix")
                and (
                    operators[-1][2] > precedence
                    or (operators[-1][2] == precedence and not right)
                )
            ):
                _reduce(text, operators, operands)
            operators.append(("binary", build, precedence, token, 0))
            expect_operand = True
        elif token.text in (")", ","):
            while operators and operators[-1][0] in ("binary", "prefix"):
                _reduce(text, operators, operands)
            if not operators:
                what = "unmatched ')'" if token.text == ")" else "',' outside a function call"
                raise _error(text, token.line, token.column, what)
            kind, call, _, opener, count = operators[-1]
            if token.text == ",":
                if kind != "call":
                    raise _error(text, token.line, token.column, "',' outside a function call")
                operators[-1] = (kind, call, 0, opener, count + 1)
                expect_operand = True
                continue
            operators.pop()
            if kind == "call":
                function = call.function
                if count not in function.arities:
                    takes = " or ".join(str(arity) for arity in function.arities)
                    raise _error(
                        text,
                        opener.line,
                        opener.column,
                        f"{function.name} takes {takes} argument(s), got {count}",
                    )
                _apply(text, opener, call.build, operands, count)
        elif token.kind == "end":
            break
        elif token.text == "=":
            raise _error(
                text,
                token.line,
                token.column,
                "'=' only names a subexpression at the start of a line: name = ...",
            )
        else:
            hint = " (write * to multiply)" if token.kind in ("name", "number") else ""
            if hint and previous.kind == "name" and previous.text in functions():
                hint = f" (write * to multiply, or {previous.text}(...) to call {previous.text})"
            raise _error(
                text, token.line, token.column, f"expected an operator, got {token.text!r}{hint}"
            )
        previous = token
    while operators:
        kind, _, _, opener, _ = operators[-1]
        if kind in ("paren", "call"):
            opening = f"{opener.text}(" if kind == "call" else "("  # a call's token is its name
            raise _error(text, opener.line, opener.column, f"'{opening}' is never closed")
        _reduce(text, operators, operands)
    result = operands[0]
    return result.vector if isinstance(result, Row) else result


def _leaf(text: str, token: Token, bindings: ChainMap[str, Tensor]) -> Tensor:
    if token.text in bindings:
        return bindings[token.text]
    if token.text in CONSTANT_NAMES:
        return CONSTANT_NAMES[token.text]
    # a function's name not followed by `(` is a variable of that name (it prints so: 2*sin)
    if not token.text.isidentifier():  # letters with digits or numbers Python's names refuse
        raise _error(text, token.line, token.column, _not_a_name(token.text))
    # looked up once per parse: finding a declared vector or matrix may run the collector
    variable = bindings.maps[-1][token.text] = var(token.text)
    return variable


_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"


def _not_a_name(word: str) -> str:
    message = f"{word!r} is not a name (names are Python identifiers)"
    if any(char in _SUPERSCRIPTS for char in word):
        return message + ": write powers with **, as in x**2"
    if any(char.isnumeric() and not char.isdecimal() for char in word):
        return message + ": write numbers with digits, as in 1/2"
    return message


def parse(text: str, shapes: Mapping[str, Any] | None = None) -> Tensor:
    """The graph a formula describes; `parse(str(t))` is equivalent to `t`.

    A name is the variable declared under it: with the shape `shapes` gives it (name ->
    shape, as `(3,)` or `("m", "n")`), else the vector or matrix already declared by that
    name (`vector`, `matrix`), else a scalar.

    Numbers (`2`, `0.5`, `1e-3`, `1/2` exactly), the constants `pi` and `e`, names,
    `+ - * / **` (or `^`), unary minus, comparisons (`x > 0`, not chained), parentheses, the op
    table's functions by their names and aliases (`sin(x)`, `ln(x)`, `atan2(y, x)`,
    `log(x, 2)`, ...) and `where(c, a, b)`. Vectors and matrices as `str` writes them: `@`
    (binding as `*` does), `.T` (`y@x.T` of vectors is their outer product), `sum`, `mean`
    (with `axis=` and `keepdims=`), `softmax`, `logsumexp`, `norm`, `trace`, `outer`, `inv`,
    `det`, `logdet`, `solve`, `diag`, `diagonal`, `kron`, `zeros_like`, `ones_like`,
    `identity` (the identity matrix of a square matrix's shape), `expand_dims` (with `axis=`).
    Several lines read the shared form: `name = expression` lines, then the result. Bad
    text raises `ParseError`; shapes that do not fit are one, at the operator.

    >>> str(parse("x*y + sin(x)^2"))
    'x*y + sin(x)**2'
    >>> str(parse("-x**2"))
    '-x**2'
    >>> str(parse("t1 = x*y\\nsin(t1) + t1"))
    'x*y + sin(x*y)'
    >>> parse("2*q", shapes={"q": (3,)}).shape
    (3,)
    >>> str(parse("sum((W@x - y)**2)", shapes={"W": (2, 3), "x": (3,), "y": (2,)}))
    'sum((W@x - y)**2)'
    """
    if not isinstance(text, str):
        raise TypeError(f"parse takes a string, got {type(text).__name__}")
    declared = {name: var(name, shape=as_shape(shape)) for name, shape in (shapes or {}).items()}
    # Big formulas allocate many nodes and free none: the collector would only rescan them.
    with gc_paused():
        try:
            return _parse(text, declared)
        except (ParseError, NameClashError):  # a name's declarations, not the text, are wrong
            raise
        except (ArithmeticError, ValueError, TypeError) as error:  # a net under the checks
            raise _error(text, 1, 1, f"cannot build this formula: {error}") from None


def _parse(text: str, declared: dict[str, Tensor]) -> Tensor:
    tokens = Tokens(text)
    bindings: dict[str, Tensor] = {}
    scope = ChainMap(bindings, declared)  # a `name = ...` line shadows a declared variable
    binding = None  # the first token of the last binding read
    while True:
        first = _next_statement(tokens)
        if first is None:
            if binding is None:
                raise _error(text, 1, 1, "empty formula")
            raise _error(text, binding.line, binding.column,
                         "the last line must be the result, not a binding")
        if first.kind == "name" and tokens.peek(1).text == "=":
            if first.text in bindings:
                raise _error(text, first.line, first.column, f"{first.text} is bound twice")
            binding = tokens.next()
            tokens.next()
            bindings[first.text] = parse_expression(text, tokens, scope)
            continue
        result = parse_expression(text, tokens, scope)
        if _next_statement(tokens) is not None:
            raise _error(text, first.line, first.column,
                         "only the last line is an expression; the others are name = ...")
        return result


def _next_statement(tokens: Tokens) -> Token | None:
    """The first token of the next statement that is not empty, not read yet; None at the
    end of the text."""
    while True:
        token = tokens.peek()
        if token.kind != "end":
            return token
        if not token.text:
            return None
        tokens.next()
