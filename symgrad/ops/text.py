"""How formulas are written as text, the rules the printers and the generated code share:
where an operand needs parentheses, from the ops' precedences, and a constant's exact text.
"""

from __future__ import annotations

import math
from collections.abc import Container
from fractions import Fraction
from typing import Any

import numpy as np

from symgrad.ir.graph import NamedConstant, Tensor
from symgrad.ir.op import PREC_ATOM, PREC_MUL, PREC_NEG, PREC_POW, Op

PREC_COMPARISON = 30
"""How tightly a comparison binds, as in Python: looser than `+` (`x + 1 > y`)."""


def format_number(value: Any) -> str:
    """A constant as text that parses back: `2`, `0.5`, `1e-08`, `pi`, `2/3`.

    Floats print as given (their shortest repr: 0.1 stays 0.1); exact fractions as p/q."""
    if isinstance(value, NamedConstant):
        return value.name
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, np.ndarray):
        return np.array2string(value, separator=", ")
    return repr(value)


def precedence_of(node: Tensor) -> int:
    """How tightly `node`'s text binds: its op's precedence; a negative number (-0.0 too)
    binds as a negation, an exact fraction as a quotient."""
    if node.children is not None:
        return node.children.op.precedence
    if node.number is not None and math.copysign(1, node.number) < 0:  # -0.0 too: (-0.0)**x
        return PREC_NEG
    if type(node.number) is Fraction:  # 1/2 reads as a quotient: x**(1/2)
        return PREC_MUL
    return PREC_ATOM


def needs_parens(op: Op, position: int, operand: Tensor, exact: bool = True,
                 other: Tensor | None = None, named: Container[Tensor] = ()) -> bool:
    """Whether `operand`, at `position` (0 left, 1 right) of `op`, needs parentheses. `exact`
    keeps every grouping that can change a float result (`a*(b*c)`), for text read back;
    without it (LaTeX) `a b c` will do. `other` is the operand on the other side, if known;
    `named` the nodes written as names (`t1`), whose text starts with no sign."""
    inner = precedence_of(operand)
    if op.symbol is None:  # function call: its own parentheses
        return False
    if op.arity == 1 and op.precedence > PREC_POW:  # postfix, as A.T: (A@B).T
        return inner < op.precedence
    if op.arity == 1:  # unary minus: -(a + b), -(-a), -(-1/x), but -a*b
        return inner < PREC_MUL or inner == PREC_NEG or _starts_with_minus(operand, named)
    if op.precedence == PREC_COMPARISON:  # (x > 0) == 0: Python would chain the comparisons
        return inner <= PREC_COMPARISON
    if position == 0:
        # a**b**c groups right, so a power (or a sign) on the left of ** needs parentheses;
        # in LaTeX an elementwise product inside a matrix product is grouped, (A \odot B) C,
        # as side by side binds tighter than \odot to a reader
        return inner < op.precedence or (op.precedence == PREC_POW and inner <= PREC_POW) or (
            not exact and _elementwise_in_matrix_product(op, operand))
    if inner == PREC_NEG or (op.symbol == "-" and _starts_with_minus(operand, named)):
        return True  # x*(-y), x**(-2), x - (-1/y)
    # a - (b + c), a/(b*c) and a*(b*c) (exact: regrouped, 1e308*(x*y) can overflow), but
    # a**b**c (** groups right)
    # (a tensor expression is written for reading: 2*(W@x - y)@x.T)
    # A tensor expression is written for reading, 2*(W@x - y)@x.T: a scalar factor commutes
    # with * and @ alike, so its product needs no parentheses; any other keeps them, as * and
    # @ bind alike: v*(B@x) is not (v*B)@x
    scalar_multiple = other is not None and not other.shape and bool(operand.shape)
    loose = op.precedence == PREC_POW or (op.commutative and (not exact or scalar_multiple))
    return inner < op.precedence or (inner == op.precedence and not loose)


def _elementwise_in_matrix_product(op: Op, operand: Tensor) -> bool:
    """Whether `operand` is an elementwise product of two tensors under a matrix product."""
    children = operand.children
    return (op.symbol == "@" and children is not None and children.op.name == "mul"
            and bool(children.a.shape) and children.b is not None and bool(children.b.shape))


def _starts_with_minus(node: Tensor, named: Container[Tensor] = ()) -> bool:
    """Whether the text of `node` begins with a minus sign: a negative number or a negation
    at the start of its left spine (`-1/(x + 1)`, `-400*x`), which a sign before it would
    turn into `--`; a node among `named` is written as its name."""
    children = node.children
    while children is not None:
        if node in named:
            return False
        op = children.op
        if op.symbol is not None and op.arity == 1 and op.precedence > PREC_POW:  # postfix: A.T
            if needs_parens(op, 0, children.a):
                return False
            node = children.a
            children = node.children
            continue
        if op.symbol is None or op.arity == 1:
            return op.symbol is not None  # neg starts with -, a call with its name
        if needs_parens(op, 0, children.a):
            return False
        node = children.a
        children = node.children
    return node.number is not None and (node.number < 0 or str(node.number).startswith("-"))
