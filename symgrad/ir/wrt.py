"""One reading of `wrt` for every public function that differentiates (`gradient`,
`jacobian`, `hessian`, `grad`, `check`, `explain`, `compare`, `to_dot_pair`, the CLI): a
variable, a name, a list of either, or one string of names separated by spaces or commas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from symgrad.ir.graph import Tensor, free_variables, unwrap, var


class Wrt(NamedTuple):
    """The variables to differentiate by, in order; `single` when one variable was given on
    its own (not in a list, not as `"x y"`), so the caller gives one result, not a list."""

    variables: list[Tensor]
    single: bool


def as_variables(wrt: Any, f: Tensor | None = None) -> Wrt:
    """`wrt` read the one way every function reads it. A name is the variable of `f` with that
    name when `f` has one (a vector or matrix included), else the scalar variable.

    >>> x, y = var("x"), var("y")
    >>> as_variables("x y", x * y) == as_variables("x, y") == as_variables([x, "y"])
    True
    >>> as_variables(x), as_variables("x")
    (Wrt(variables=[Tensor(x)], single=True), Wrt(variables=[Tensor(x)], single=True))
    >>> as_variables(["x"]).single
    False
    """
    wrt = unwrap(wrt)
    if isinstance(wrt, Tensor):
        return Wrt([_variable(wrt)], single=True)
    if isinstance(wrt, str):
        names = wrt.replace(",", " ").split()
        items: list[Any] = names
        single = len(names) == 1 and names[0] == wrt.strip()
    elif isinstance(wrt, Sequence):
        items = [unwrap(item) for item in wrt]
        single = False
    else:
        raise TypeError(f"differentiate by a variable, a name, a list of them or a string of "
                        f"names like 'x y', got {type(wrt).__name__} {wrt!r:.60}")
    if not items:
        raise ValueError("wrt names no variable: give one, like 'x' or [x, y]")
    by_name: dict[str | None, Tensor] | None = None  # f's variables, found once a name asks
    variables: list[Tensor] = []
    for item in items:
        if not isinstance(item, str):
            variables.append(_variable(item))
            continue
        if by_name is None:
            by_name = {} if f is None else {v.name: v for v in reversed(free_variables(f))}
        variables.extend(by_name.get(name) or _named(name) for name in
                         item.replace(",", " ").split())
    return Wrt(variables, single)


def _named(name: str) -> Tensor:
    if not name.isidentifier():
        raise ValueError(f"wrt {name!r}: a variable name is a letter or _, then letters, digits "
                         f"or _")
    return var(name)


def _variable(item: Any) -> Tensor:
    """A variable, or an inner node (differentiated by as if it were independent)."""
    if not isinstance(item, Tensor) or item.is_const:
        what = f"the constant {item}" if isinstance(item, Tensor) else repr(item)
        raise TypeError(f"differentiate with respect to variables, got {what}")
    return item
