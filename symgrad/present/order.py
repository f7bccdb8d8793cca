"""The one order in which formulas are written: the terms of a sum and the factors of a product
sorted by a structural key, so `str`, `pretty`, `latex`, the CLI and `check` write a formula the
same way however it was built (`a + b` and `b + a`, or `(2*sin(x))*cos(x)` from the chain rule
and `(2*cos(x))*sin(x)` from `simplify`, both print `2*sin(x)*cos(x)`).

The key follows sympy's `sort_key` in spirit: in a product, numbers, then named constants,
variables, function calls and compound factors (`2*x*y*sin(x)*(x + 1)`), a power next to its
base (`x*x**2`), a negated factor first (`-x*y`); in a sum, variables, then products and powers
(`x*y + y**3`), calls and compound terms, numbers last, the subtracted terms after the added
ones (`y + 2*sin(x)*cos(x) - x - 1`); a polynomial in one variable by degree, each term with
its sign (`x - x**3/6 + x**5/120`, `1 - x**2/2 + x**4/24`, `x**2 + 1`).
Ties are broken by names and a structural digest, never by node ids or hash seeds.

Reordering regroups a chain (`a + (b + c)` becomes `a + b + c`), which changes a float result
by rounding alone while the constants are moderate. A chain holding an extreme constant (below
2**-32 or above 2**32 in magnitude, or not finite) keeps its grouping, since regrouping it can
overflow (`1e308*(x*y)` is not `(1e308*x)*y` at x = 10, y = 0.1): only the operands of each
node are swapped there, which is exact.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Iterable
from fractions import Fraction
from typing import Any

from symgrad.ir.graph import (
    Children,
    Tensor,
    bottom_up,
    children_of,
    const,
    gc_paused,
    toposort,
    use_counts,
)
from symgrad.ops.scalar import COMPARISONS, add, div, mul, neg, pow, sub
from symgrad.present import readable

Key = tuple  # (group, rank, label, number, power, names, height, digest): flat, fixed length
Display = Any  # a display node: a `Shown`, or a `Tensor` (a leaf, a named node, one unchanged)


# factor groups: a product reads -x*2*pi*y*sin(x)*(x + 1)
SIGNED, NUMBER, NAMED, VARIABLE, CALL, COMPOUND = range(-1, 5)
# term groups: a sum reads x + x*y + sin(x) + (a/b) + pi + 1
TERM_GROUP = {SIGNED: 4, NAMED: 8, VARIABLE: 1, CALL: 3, COMPOUND: 4}
MONOMIAL, NUMBER_TERM = 2, 9

MODERATE = 2.0**32
"""Constants whose magnitude lies in [1/MODERATE, MODERATE] (or is 0) let a chain be
reordered: partial results then differ by rounding alone, unless the inputs are extreme."""

_MASK = (1 << 64) - 1


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


_OP_DIGESTS: dict[str, int] = {}


def _mix(op_name: str, a: int, b: int) -> int:
    op_digest = _OP_DIGESTS.get(op_name)
    if op_digest is None:
        op_digest = _OP_DIGESTS[op_name] = _digest("op " + op_name)
    mixed = (op_digest ^ (a * 0x100000001B3) ^ (b * 0xC2B2AE3D27D4EB4F + 7)) & _MASK
    return mixed ^ (mixed >> 29)


class Shown:
    """An inner node of a display graph: what the printer reads of a `Tensor` (`children`,
    `op`, `shape`), made for one printing only, so neither interned nor folded."""

    __slots__ = ("children", "op", "shape")
    name = None
    number = None
    is_const = False

    def __init__(self, op: Any, a: Any, b: Any, shape: tuple) -> None:
        self.children = Children(a, b, op)
        self.op = op
        self.shape = shape


def _number_field(value: Any) -> tuple[int, float]:
    """A number as a sortable pair: NaN after everything, big integers as infinities."""
    try:
        number = float(value)
    except OverflowError:
        number = math.copysign(math.inf, value)
    return (1, 0.0) if number != number else (0, number)


def moderate(node: Tensor, known: dict[Tensor, bool] | None = None) -> bool:
    """Whether an operand lets its chain be reordered: it is no constant outside the
    `MODERATE` range (nor one not finite, nor an array), and holds no finite one, which could
    make its value extreme (1e308*x - 1e308*x - 2*x is 0 at x = 0.1, regrouped -0.2; an inf
    or NaN inside it leaves it inf or NaN however the chain is grouped). `known` remembers the
    inner nodes seen, for a caller that asks of many.

    >>> from symgrad.ir.graph import const, var
    >>> moderate(const(2.5)), moderate(const(1e308)), moderate(const(float("nan")))
    (True, False, False)
    >>> moderate(2 * var("x")), moderate((const(1e308) + var("x")) * var("y"))
    (True, False)
    """
    if node.children is None:
        return _moderate_leaf(node)
    return bottom_up(node, {} if known is None else known, _no_finite_extreme,
                     lambda _, a, b: a and (b is None or b))


def _no_finite_extreme(leaf: Tensor) -> bool:
    value = leaf.number
    return _moderate_leaf(leaf) or (isinstance(value, float) and not math.isfinite(value))


def _moderate_leaf(leaf: Tensor) -> bool:
    value = leaf.number
    if value is None:  # a variable, or an array constant (or one of a single value)
        return not leaf.is_const or leaf.scalar_value is not None
    try:
        magnitude = abs(float(value))
    except OverflowError:  # an integer past the float range
        return False
    return magnitude == 0 or 1 / MODERATE <= magnitude <= MODERATE  # False for inf, NaN


class CanonicalOrder:
    """Rewrites a graph for display with its sums and products in canonical order (see the
    module's docstring); `atoms` (nodes a shared form names) are kept whole, as leaves. With
    `readable`, the building blocks are shown as a reader writes them (`readable.py`:
    `x > 0`, `where(c, a, b)`, `norm(x)`); the result then only prints.

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import sin, cos
    >>> x, y = variables("x y")
    >>> from symgrad.present.printing import render, TEXT
    >>> render(cos(x) * 2 * sin(x) + y, TEXT), render(y + (2 * sin(x)) * cos(x), TEXT)
    ('y + 2*sin(x)*cos(x)', 'y + 2*sin(x)*cos(x)')
    """

    def __init__(self, atoms: Collection[Tensor] = (), readable: bool = False) -> None:
        self.atoms = atoms
        self.readable = readable
        self.expanded: dict[Tensor, Any] = {}  # node -> its display form
        self.keys: dict[Any, Key] = {}  # display node -> key
        self.moderate: dict[Tensor, bool] = {}  # node -> whether `moderate`

    def __call__(self, node: Tensor) -> Display:
        """The display form of `node` (expanded even if it is an atom)."""
        if node.children is None:
            return node
        expanded = self.expanded
        found = expanded.get(node)
        if found is not None:
            return found
        with gc_paused():  # many small objects, no cycles: the collector would only rescan
            return self._expand(node)

    def _expand(self, node: Tensor) -> Display:
        expanded = self.expanded
        stack: list[Any] = [node]
        parts_of: dict[Tensor, list[tuple[Tensor, int]] | None] = {}
        while stack:
            current = stack[-1]
            if current in expanded:
                stack.pop()
                continue
            if current in parts_of:
                parts = parts_of[current]
            else:
                parts = parts_of[current] = self._parts(current)
                operands = (current.children[:2] if parts is None
                            else [part for part, _ in parts])
                pending = False
                for operand in operands:
                    if operand is None:
                        continue
                    if operand.children is None:
                        self._leaf_key(operand)
                    elif operand not in expanded:
                        stack.append(operand)
                        pending = True
                if pending:
                    continue
            stack.pop()
            expanded[current] = self._build(current, parts)
        return expanded[node]

    # --- reading chains ----------------------------------------------------------------------
    def _embedded(self, operand: Tensor) -> Display:
        """An operand as it appears inside another node's display: an atom stays itself."""
        if operand.children is None or operand in self.atoms:
            return operand
        return self.expanded[operand]

    def _parts(self, node: Tensor) -> list[tuple[Tensor, int]] | None:
        """The signed terms of a sum or the factors of a product rooted at `node` (sign 1),
        or None where `node` is kept as it is (another op, a shaped node, an extreme
        constant in the chain)."""
        op = node.op
        if node.shape or op not in (add, sub, mul):  # -(x + y) stays: its sign is outside
            return None
        chain_ops = (mul,) if op is mul else (add, sub, neg)
        parts: list[tuple[Tensor, int]] = []
        stack: list[tuple[Any, int]] = [(node, 1)]
        while stack:
            current, sign = stack.pop()
            inner = current is node or (current.op in chain_ops and current not in self.atoms
                                        and not current.shape)
            if not inner:
                if not moderate(current, self.moderate):
                    return None
                parts.append((current, sign))
                continue
            a, b, current_op = current.children
            if current_op is neg:
                stack.append((a, -sign))
            else:
                stack.append((b, -sign if current_op is sub else sign))
                stack.append((a, sign))
        return parts

    # --- writing them in order ---------------------------------------------------------------
    def _build(self, node: Tensor, parts: list[tuple[Tensor, int]] | None) -> Display:
        if parts is None:
            return self._kept(node)
        if node.op is mul:
            # a sum factor written with every term subtracted gives its sign to the product:
            # -exp(-t)*(k*cos(t) + sin(t)), not exp(-t)*(-k*cos(t) - sin(t)) (exact)
            negative = False
            shown = []
            for factor, _ in parts:
                flipped = self._sum_negated(factor)
                negative ^= flipped is not None
                shown.append(self._embedded(factor) if flipped is None else flipped)
            factors = sorted(shown, key=self._key)
            result = factors[0]
            for factor in factors[1:]:
                result = self._node(mul, result, factor)
            return self._node(neg, result, None) if negative else result
        terms = []
        for part, sign in self._paired(parts) if self.readable else parts:
            term = part if isinstance(part, Shown) else self._embedded(part)
            positive = self._negated(term)  # x + -2*y reads x - 2*y: the sign moves out
            terms.append((term, sign) if positive is None else (positive, -sign))
        # ties (x and x/2 sort alike, x and -x too) by the sign, then by the term itself
        ordered = sorted(self._counted(self._numbers_added(terms)), key=lambda item: (
            self._term_key(item[0]), item[1] < 0, self._key(item[0])))
        # A polynomial in one variable reads by degree, each term with its sign
        # (x - x**3/6 + x**5/120); any other sum, the added terms first (b + w*x - y).
        # Either way an added term leads: y - x, not -x + y.
        if not self._in_one_variable(term for term, _ in ordered):
            ordered.sort(key=lambda item: item[1] < 0)  # stable: each part stays in order
        elif ordered[0][1] < 0:  # 1 - x**2/2 + x**4/24: an added number leads a minus
            ordered.sort(key=lambda item: not (item[0].number is not None and item[1] > 0))
        lead = next((i for i, (_, sign) in enumerate(ordered) if sign > 0), None)
        if lead is None:
            result = self._node(neg, ordered.pop(0)[0], None)
        else:
            result = ordered.pop(lead)[0]
        for term, sign in ordered:
            result = self._node(add if sign > 0 else sub, result, term)
        return result

    def _sum_negated(self, node: Tensor) -> Display | None:
        """The display of -node for a sum whose every term would be written subtracted
        (-a - 2*b gives a + 2*b), else None."""
        if node.children is None or node in self.atoms:
            return None
        parts = self._parts(node) if node.op in (add, sub) else None
        if parts is None or any(
                (sign > 0) == (self._negated(self._embedded(part)) is None)
                for part, sign in parts):
            return None
        return self._build(node, [(part, -sign) for part, sign in parts])

    def _in_one_variable(self, terms: Iterable[Display]) -> bool:
        """Whether the terms are numbers and terms c*v**n of one variable v (a polynomial)."""
        found = None
        for term in terms:
            if term.number is not None:
                continue
            node = term
            while node.op is div and node not in self.atoms and node.children.b.number is not None:
                node = node.children.a  # x**3/6
            if node.op is mul and node not in self.atoms:
                factors = self._factors(node)  # 2*x**5
                if len(factors) != 1:
                    return False
                node = factors[0]
            if node.op is pow and node not in self.atoms and node.children.b.number is not None:
                node = node.children.a
            if node.children is not None or node.name is None or found not in (None, node):
                return False
            found = node
        return found is not None

    def _numbers_added(self, terms: list[tuple[Display, int]]) -> list[tuple[Display, int]]:
        """The numbers among a sum's terms written as one: u + 3 - v - 3 reads u - v and
        0.2 + 0.2 reads 0.4 (a regrouping, as the printer's reordering is: the numbers of a
        chain it reorders are moderate)."""
        numbers = [(term.number, sign) for term, sign in terms if term.number is not None]
        if len(numbers) < 2:
            return terms
        total = sum(sign * number for number, sign in numbers)
        rest = [(term, sign) for term, sign in terms if term.number is None]
        if total == 0 and rest:
            return rest
        number = const(abs(total))
        self._leaf_key(number)
        return [*rest, (number, -1 if total < 0 else 1)]

    def _counted(self, terms: list[tuple[Display, int]]) -> list[tuple[Display, int]]:
        """A term that comes k times with one sign, written once as k*term: x + y + y reads
        x + 2*y (exact: y + y is 2*y in floating point too; the grouping with the other terms
        is the printer's, as for any reordering)."""
        counts: dict[tuple[int, int], int] = {}
        for term, sign in terms:
            counts[id(term), sign] = counts.get((id(term), sign), 0) + 1
        if len(counts) == len(terms):
            return terms
        counted = []
        for term, sign in terms:
            k = counts.pop((id(term), sign), 0)
            if k == 1:
                counted.append((term, sign))
            elif k > 1:
                spine = []  # 2*x*y, not 2*(x*y): the number joins a product's chain
                current = term
                while current.op is mul and current not in self.atoms:
                    spine.append(current.children.b)
                    current = current.children.a
                result: Display
                if isinstance(current.number, int | Fraction) and spine:  # 3*x twice: 6*x
                    result = const(k * current.number)
                    self._leaf_key(result)
                else:
                    number = const(k)
                    self._leaf_key(number)
                    result = self._node(mul, number, current, term.shape)
                for factor in reversed(spine):
                    result = self._node(mul, result, factor, term.shape)
                counted.append((result, sign))
        return counted

    def _negated(self, term: Display) -> Display | None:
        """-term without its leading minus sign where its text starts with one (-2*y, -y/x,
        -1.5), else None. Exact: a float's sign commutes with *, / and rounding."""
        spine = []
        current = term
        while current.op in (mul, div) and current not in self.atoms:
            spine.append(current)
            current = current.children.a
        if current.op is neg and current not in self.atoms:
            positive = current.children.a  # already in display form
        elif current.number is not None and current.number < 0:
            positive = const(-current.number)
            self._leaf_key(positive)
        else:
            return None
        for node in reversed(spine):
            positive = self._node(node.op, positive, node.children.b, node.shape)
        return positive

    def _kept(self, node: Display) -> Display:
        """`node` over its operands' display forms; a commutative op's operands in order."""
        if self.readable:
            shown = self._readable(node)
            if shown is not None:
                return shown
        a, b, op = node.children
        shown_a, shown_b = self._embedded(a), None if b is None else self._embedded(b)
        if op.commutative and b is not None and not node.shape and (
                self._key(shown_b) < self._key(shown_a)):
            shown_a, shown_b = shown_b, shown_a
        elif shown_a is a and shown_b is b:  # as it stands: the node itself
            if node not in self.keys:
                self.keys[node] = self._inner_key(node)
            return node
        return self._node(op, shown_a, shown_b, node.shape)

    # --- the forms a reader expects (readable.py) ------------------------------------------
    def _readable(self, node: Any) -> Display | None:
        """`node` as a reader writes it, where that differs from its op: a comparison
        infix, a pair select_zero(c, a) +- select_zero(c == 0, b) as one where, a lone
        select_zero(c, a) as where(c, a, 0), sqrt(sum(x**2)) as norm(x), a broadcast
        as zeros_like(A), ones_like(A) or a*ones_like(A), new leading axes left to
        broadcasting."""
        a, b, op = node.children
        if op in COMPARISONS:
            return self._node(readable.RELATIONS[op], self._embedded(a), self._embedded(b),
                              node.shape)
        if op in (add, sub):
            paired = self._paired([(a, 1), (b, -1 if op is sub else 1)])
            if len(paired) == 1:
                shown, sign = paired[0]
                return shown if sign > 0 else self._node(neg, shown, None, node.shape)
        picked = readable.selected(node)
        if picked is not None:
            condition, value = picked
            return self._where(condition, self._embedded(value), const(0), node.shape)
        repeated = readable.broadcast(node)
        if repeated is not None:
            value, like = repeated
            shown = self._embedded(like)
            number = value.number
            if isinstance(number, Fraction) and number.denominator != 1:  # ones_like(A)/4
                top = self._node(readable.ONES, shown, None, node.shape) \
                    if number.numerator == 1 else \
                    self._node(readable.REPEATED, const(number.numerator), shown, node.shape)
                return self._node(div, top, const(number.denominator), node.shape)
            if number in (0, 1):  # zeros_like(A), ones_like(A)
                return self._node(readable.ONES if number else readable.ZEROS, shown,
                                  None, node.shape)
            return self._node(readable.REPEATED, self._rebuilt(a, value), shown, node.shape)
        operands = readable.elementwise_operands(node)
        if operands is not None:
            return self._node(op, self._rebuilt(a, operands[0]), self._rebuilt(b, operands[1]),
                              node.shape)
        base = readable.normed(node, self.atoms)
        if base is not None:
            return self._node(readable.NORM, self._embedded(base), None)
        return None

    def _rebuilt(self, operand: Tensor, shown: Tensor) -> Display:
        """The display of `shown`, which stands for `operand` (a node built for display, not
        expanded yet, where it is another)."""
        return self._embedded(operand) if shown is operand else self(shown)

    def _paired(self, terms: list[tuple[Any, int]]) -> list[tuple[Any, int]]:
        """The signed terms of a sum, each pair select_zero(c, a), select_zero(c == 0, b)
        (in either order; any such pair is where(c, a, b)) replaced by one where."""
        waiting: dict[tuple[Tensor, bool], int] = {}  # (c, second branch) -> term's index
        result: list[tuple[Any, int]] = []
        for term, sign in terms:
            picked = None if term in self.atoms else readable.selected(term)
            if picked is None:
                result.append((term, sign))
                continue
            condition = picked[0]
            second = condition not in self.atoms and readable.complement(condition)
            if second:  # the branch where c == 0: c is the where's condition
                condition = children_of(condition).a
            index = waiting.pop((condition, not second), None)
            if index is None:
                waiting[condition, second] = len(result)
                result.append((term, sign))
                continue
            other, other_sign = result[index]
            branches = [(other, other_sign), (term, sign)] if second else [
                (term, sign), (other, other_sign)]
            common = sign if sign == other_sign else 1  # -a - b is -(where(c, a, b))
            shown = []
            for branch, branch_sign in branches:
                value = self._embedded(branch.children.b)
                shown.append(value if branch_sign == common
                             else self._node(neg, value, None, value.shape))
            result[index] = (self._where(condition, shown[0], shown[1], term.shape), common)
        return result

    def _where(self, condition: Tensor, a: Display, b: Display, shape: tuple) -> Shown:
        """where(condition, a, b) over display operands; a comparison as the condition is
        written bare (no Iverson bracket) in LaTeX."""
        shown = self._embedded(condition)
        if shown.children is not None and shown.op in readable.CONDITIONS:
            left, right, _ = shown.children
            shown = self._node(readable.CONDITIONS[shown.op], left, right, shown.shape)
        return self._node(readable.WHERE, self._node(readable.CASE, a, shown, shape), b, shape)

    def _node(self, op: Any, a: Any, b: Any, shape: tuple = ()) -> Shown:
        node = Shown(op, a, b, shape)
        self.keys[node] = self._inner_key(node)
        return node

    # --- keys --------------------------------------------------------------------------------
    def key(self, node: Tensor) -> Key:
        """The structural sort key of `node` as written; its height is `key[6]`."""
        return self._key(node if node.children is None else self(node))

    def _key(self, node: Display) -> Key:
        if node.children is None:
            return self._leaf_key(node)
        if node in self.atoms and node not in self.keys:
            return self.keys[self(node)]
        return self.keys[node]

    def _leaf_key(self, node: Tensor) -> Key:
        key = self.keys.get(node)
        if key is None:
            if node.name is not None:
                key = (VARIABLE, 0, node.name, (0, 0.0), (0, 0.0), (node.name,), 0,
                       _digest("var " + node.name))
            elif node.number is not None:
                key = (NUMBER, 0, "", _number_field(node.number), (0, 0.0), (), 0,
                       _digest("number " + repr(node.number)))
            else:  # pi, e, an array
                text = repr(node.value)
                key = (NAMED, 0, text, (0, 0.0), (0, 0.0), (), 0, _digest("constant " + text))
            self.keys[node] = key
        return key

    def _inner_key(self, node: Display) -> Key:
        a, b, op = node.children
        key_a = self._key(a)
        key_b = self._key(b) if b is not None else None
        height = 1 + max(key_a[6], 0 if key_b is None else key_b[6])
        names = (key_a[5] + (() if key_b is None else key_b[5]))[:3]
        # an op bound to an argument sorts by its text: sum(x) before sum(x, axis=0)
        label = op.name if op.arg is None else op.text
        digest = _mix(label, key_a[7], 0 if key_b is None else key_b[7])
        if op is pow:  # next to its base: x*x**2*x**y
            power = (1, _number_field(b.number)[1]) if b.number is not None else (2, 0.0)
            return (*key_a[:4], power, names, height, digest)
        if op is neg:  # a sign goes first, as a coefficient does: -x*y
            return (SIGNED, *key_a[1:5], names, height, digest)
        if op.symbol is None:  # a call: sin(x), by its row's rank (as sympy: sin before cos)
            return (CALL, op.rank, label, (0, 0.0), (0, 0.0), names, height, digest)
        return (COMPOUND, 0, label, (0, 0.0), (0, 0.0), names, height, digest)

    def _term_key(self, node: Display) -> Key:
        """The key of a term in a sum: a product by its factors other than numbers (2*x sorts
        as x), numbers last. A named node sorts as what it names."""
        if node in self.atoms and node.children is not None:
            node = self(node)
        key = self._key(node)
        if key[0] == NUMBER:
            return (NUMBER_TERM, *key[1:])
        while node.op is div and node not in self.atoms and node.children.b.number is not None:
            node = node.children.a  # x**3/45 sorts as x**3: a series reads by degree
            key = self._key(node)
        if node.op is mul and node not in self.atoms:
            factors = self._factors(node)
            if len(factors) >= 2:
                return (MONOMIAL, 0, "", (0, 0.0), (0, 0.0), key[5], key[6], key[7])
            if factors:
                key = (*self._key(factors[0])[:7], key[7])
        if key[0] == VARIABLE and key[4] != (0, 0.0):  # x**2 reads as a product, by degree:
            return (MONOMIAL, 0, "", (0, 0.0), key[4], *key[5:])  # x*y + y**3 + y**5
        return (TERM_GROUP.get(key[0], NUMBER_TERM), *key[1:])

    def _factors(self, product: Display) -> list[Display]:
        """The factors other than numbers of a display product (a left-nested chain)."""
        factors = []
        current = product
        while current.op is mul and current not in self.atoms:
            a, b, _ = current.children
            if b.number is None:
                factors.append(b)
            current = a
        if current.number is None:
            factors.append(current)
        return factors


def in_canonical_order(roots: list[Tensor]) -> list[Tensor]:
    """The graphs rebuilt in the order `str` writes them (raw nodes: no folding), so
    generated code reads as the formula does. A node used more than once stays one node, so
    a product through it keeps that grouping (`y*(cos(x*y)*t)`, which `str` writes flat).
    The values differ from the graphs' by rounding alone (see the module's note).

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import sin, cos
    >>> x, y = variables("x y")
    >>> [str(t.children) for t in in_canonical_order([cos(x) * 2 * sin(x)])]
    ['Children(a=Tensor(2*sin(x)), b=Tensor(cos(x)), op=<op mul>)']
    """
    nodes = toposort(roots)
    uses = use_counts(nodes)
    order = CanonicalOrder({node for node in nodes if node.children is not None
                            and uses.get(node, 0) > 1})
    built: dict[Any, Tensor] = {}  # display node (or original leaf or shared node) -> Tensor
    with gc_paused():
        for node in nodes:  # operands first, so a shared operand is built before its users
            if node.children is not None and (uses.get(node, 0) > 1 or node in roots):
                built[node] = _graph_of(order(node), built)
    return [built.get(root, root) for root in roots]


def _graph_of(display: Display, built: dict[Any, Tensor]) -> Tensor:
    """The Tensor of a display graph; its named (shared) nodes and leaves already in `built`
    or leaves as they are."""
    stack = [display]
    while stack:
        current = stack[-1]
        if current in built or current.children is None:
            stack.pop()
            continue
        a, b, op = current.children
        pending = [o for o in (a, b) if o is not None and o.children is not None
                   and o not in built]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        built[current] = Tensor(children=Children(
            built.get(a, a), None if b is None else built.get(b, b), op))
    result = built.get(display)
    return display if result is None else result
