"""Find the wrong step of a derivative worked out by hand. `compare` checks a claimed
derivative numerically (with the bridge's `compare_at_points`, as `sg.check` does) and, when
it is wrong, tests one-mistake hypotheses against the steps of `explain` at fixed sample
points: a flipped sign, a dropped chain-rule factor, a missing term, a share scaled by a
constant, a local derivative written wrong. Leans on `explain`, `evaluate` and the bridge.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symgrad.autodiff.diff import forward_sweep
from symgrad.backends.evaluate import evaluate
from symgrad.interop.sympy_bridge import plain_number
from symgrad.ir.fold import apply
from symgrad.ir.graph import (
    Tensor,
    as_tensor,
    binary_children,
    children_of,
    const,
    free_variables,
    name_of,
    rebuild,
    toposort,
)
from symgrad.ir.shapes import ShapeError, format_shape
from symgrad.ir.wrt import as_variables
from symgrad.ops import scalar as ops
from symgrad.ops.scalar import add, mul, neg, sub
from symgrad.ops.tensor import transpose
from symgrad.present.explain import (
    ExplainedStep,
    Explanation,
    _as_expression,
    _grouped,
    _text,
    explain,
)
from symgrad.present.printing import format_value
from symgrad.verify.checking import compare_at_points
from symgrad.verify.matrix_check import point_in_domain

SAMPLES = 12
"""Sample points per range for the hints; the mixed-sign range comes first, then a positive
one (so log and sqrt are defined somewhere)."""
SEED = 2024
RTOL, ATOL = 1e-6, 1e-9

KINDS = ("sign", "missing factor", "missing term", "extra factor", "scaled")
"""One-mistake kinds tried on every step's share, the most specific first. A hint may also be
an "extra term" of the claim, or (from matching the claim's terms and factors against the
chains of local derivatives) a "wrong local derivative"."""


@dataclass(frozen=True)
class Hint:
    """The step of the true derivative that the claim most likely got wrong.

    `share` is the part of d f / d wrt that flows through `step` (its contribution times the
    input's own derivative); `kind` says what happened to it (see `KINDS`); `factor` is the
    local derivative dropped or doubled, what was written in place of a local derivative, or
    the constant scale. `also` lists other steps that fit equally well; `step` is None when
    the mistake belongs to no single step (an extra term, the whole derivative negated).
    """

    kind: str
    step: ExplainedStep | None  # None for an extra term, which belongs to no step
    share: Tensor
    factor: Any = None
    also: tuple[int, ...] = ()
    text: str = ""


@dataclass
class Comparison:
    """The verdict on a claimed derivative; truthy when it is right.

    `point` is the first sample point (in a fixed order) where the claim differs, with the
    `expected` and `claimed_value` there; `hint` the most likely wrong step (or None);
    `explanation` the reverse-mode steps the hint refers to.
    """

    f: Tensor
    wrt: Tensor
    claimed: Tensor
    derivative: Tensor
    right: bool
    checked: int
    explanation: Explanation
    point: dict[str, Any] | None = None  # numbers, or arrays for vectors and matrices
    expected: Any = None
    claimed_value: Any = None
    hint: Hint | None = None
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.right

    def __str__(self) -> str:
        out = self.explanation.output
        name = f"∂{out}/∂{self.wrt.name}"
        true_text = self.explanation.formula(self.derivative, labelled=False)
        if self.right:
            lines = [f"right: the claimed {name} = {_text(self.claimed)} agrees with the true "
                     f"{name} = {true_text} at all {self.checked} sample points"]
        else:
            point = ", ".join(f"{k} = {format_value(v)}" for k, v in (self.point or {}).items())
            lines = [
                f"wrong: the claimed {name} = {_text(self.claimed)} is not the true {name} = "
                f"{true_text} ({out} = {_text(self.f)})"]
            if self.point is not None:
                lines.append(f"  first differs at {point}: claimed "
                             f"{format_value(self.claimed_value)}, true "
                             f"{format_value(self.expected)}")
            if self.hint is not None:
                lines.append(f"  likely mistake: {self.hint.text}")
                if self.hint.step is not None:
                    lines.append(f"  at {self._where(self.hint.step)}")
            else:
                lines.append("  no single mistake explains the difference; "
                             f"compare with the steps of sg.explain(f, {self.wrt.name})")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def _where(self, step: ExplainedStep) -> str:
        e = self.explanation
        node, operand = e.name(step.node), e.name(step.operand)
        nodes = ", ".join(e.definition(n) for n in (step.node, step.operand) if n in e.labels)
        return (f"step #{step.number} of sg.explain(f, {self.wrt.name}): {node} → {operand}, "
                f"local ∂{node}/∂{operand} = {e.formula(step.local)}, where {nodes}")

    def __repr__(self) -> str:
        return f"<Comparison {'right' if self.right else 'wrong'}: d/d{self.wrt.name}>"

    def _repr_markdown_(self) -> str:
        return "```\n" + str(self) + "\n```"


def sample_points(names: list[str], count: int = SAMPLES, seed: int = SEED) -> dict[str, Any]:
    """Fixed sample points: `count` with mixed signs, then `count` positive, as arrays by name.

    Values are round (two decimals) and avoid 0 and ±1, where mistakes like a dropped factor
    x would hide.

    >>> points = sample_points(["x"], count=3)
    >>> points["x"].shape, bool(np.all(np.abs(points["x"]) >= 0.2))
    ((6,), True)
    """
    rng = np.random.default_rng(seed)
    columns = {}
    for name in names:
        magnitude = rng.uniform(0.2, 2.0, size=2 * count)
        sign = np.where(rng.random(2 * count) < 0.5, -1.0, 1.0)
        sign[count:] = 1.0
        values = np.round(sign * magnitude, 2)
        values[np.isclose(np.abs(values), 1.0)] += 0.13
        columns[name] = values
    return columns


def _with_points_first(env: dict[str, np.ndarray], at: Mapping[Any, Any]) -> tuple[dict, int]:
    """The sample points with the user's points in front (a missing name takes samples), and
    how many points the user gave."""
    own = {(k.name if isinstance(k, Tensor) else k): np.atleast_1d(np.asarray(v, dtype=float))
           for k, v in at.items()}
    length = max(len(v) for v in own.values())
    return {name: np.concatenate([np.broadcast_to(own.get(name, column[:length]), (length,)),
                                  column]) for name, column in env.items()}, length


def _as_claim(claimed: Any) -> Tensor:
    number = plain_number(claimed)
    if number is not None:
        return const(number)
    if issubclass(type(claimed), int | float | complex):  # its own __float__ would decide
        raise TypeError(f"the claimed derivative is a {type(claimed).__name__}, a number type "
                        "of its own: pass an int, a float, a Tensor or text")
    try:
        return _as_expression(claimed)
    except TypeError:
        raise TypeError(
            f"the claimed derivative must be a Tensor or text, got {type(claimed).__name__}"
        ) from None


def _close(a: np.ndarray, b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.abs(a - b) <= ATOL + RTOL * scale


def _terms(t: Tensor) -> list[tuple[int, Tensor]]:
    """The signed additive terms of t: x - (y + z) gives (+1, x), (-1, y), (-1, z)."""
    terms: list[tuple[int, Tensor]] = []
    stack = [(1, t)]
    while stack:
        sign, node = stack.pop()
        op = node.op
        if op is add or op is sub:
            a, b, _ = binary_children(node)
            stack += [(sign if op is add else -sign, b), (sign, a)]
        elif op is neg:
            stack.append((-sign, children_of(node).a))
        else:
            terms.append((sign, node))
    return terms


def _factors(t: Tensor) -> tuple[int, list[tuple[Tensor, int]]]:
    """t as sign * product of factors**(±1): 2*x*cos(x)/y gives 1, [2, x, cos(x), y**-1]."""
    sign, factors, stack = 1, [], [(t, 1)]
    while stack:
        node, power = stack.pop()
        op = node.op
        if op is mul or op is ops.div:
            a, b, _ = binary_children(node)
            stack += [(b, power if op is mul else -power), (a, power)]
        elif op is neg:
            sign = -sign
            stack.append((children_of(node).a, power))
        else:
            factors.append((node, power))
    return sign, factors


class _Sampler:
    """Values of tensors at the usable sample points, evaluated in batches and remembered."""

    def __init__(self, env: dict[str, np.ndarray], mask: np.ndarray):
        self.env = env
        self.mask = mask
        self.size = len(mask)
        self.known: dict[Tensor, np.ndarray] = {}

    def load(self, tensors: list[Tensor]) -> None:
        missing = [t for t in dict.fromkeys(tensors) if t not in self.known]
        if not missing:
            return
        with np.errstate(all="ignore"):
            values = evaluate(missing, self.env)
        for t, v in zip(missing, values, strict=True):
            self.known[t] = np.broadcast_to(np.asarray(v, dtype=float), (self.size,))[self.mask]

    def __call__(self, t: Tensor) -> np.ndarray:
        self.load([t])
        return self.known[t]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    scale = np.abs(a) + np.abs(b) + 1.0
    return bool(np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and np.all(_close(a, b, scale)))


def compare(
    f: Tensor | str,
    wrt: Tensor | str,
    claimed: Tensor | str | float,
    *,
    at: Mapping[Any, Any] | None = None,
) -> Comparison:
    """Is `claimed` the derivative of f with respect to wrt? Truthy when it is; when not,
    says where it first differs and which step of the chain rule the claim most likely got
    wrong. `claimed` may be text (`"2*x*cos(x**2)"`); `at` adds points of your own to check
    first (names to numbers or arrays).

    >>> from symgrad.ir.graph import variables
    >>> from symgrad.ops.scalar import sin
    >>> x, y = variables("x y")
    >>> verdict = compare(sin(x * y), x, sin(x * y) * y)
    >>> bool(verdict), verdict.hint.kind, verdict.hint.step.number
    (False, 'wrong local derivative', 1)
    >>> str(verdict.hint.factor)
    'sin(x*y)'
    """
    f = _as_expression(f)
    wrt_list = as_variables(wrt, f).variables
    if len(wrt_list) != 1:
        raise ValueError("compare checks one partial derivative: give one variable as wrt")
    w = wrt_list[0]
    claim = _as_claim(claimed)
    explanation = explain(f, [w])
    if any(node.shape for node in (f, w, claim)) or any(
            v.shape for v in free_variables([f, claim])):
        return _compare_tensor(explanation, w, claim)
    derivative = explanation.gradients[w]
    notes = []
    extra = [name_of(v) for v in free_variables(claim) if v not in set(free_variables(f))]
    if extra:
        notes.append(f"the claim uses {', '.join(extra)}, which f does not depend on")
    if w not in set(free_variables(f)):
        notes.append(f"f does not depend on {name_of(w)}, so its derivative is 0")
    names = list(dict.fromkeys([name_of(v) for v in free_variables([f, claim])] + [name_of(w)]))
    env = sample_points(names)
    own = 0
    if at:
        env, own = _with_points_first(env, at)
    size = len(env[names[0]])
    with np.errstate(all="ignore"):
        f_value, true, got = (np.broadcast_to(np.asarray(v, dtype=float), (size,))
                              for v in evaluate([f, derivative, claim], env))
    if not np.any(np.isfinite(true)):
        raise ValueError(
            f"the derivative of f = {f} is not finite at any sample point; pass points "
            f"where it is with at={{...}}"
        )
    result = Comparison(f, w, claim, derivative, True, own, explanation, notes=notes)
    # The user's own points first, then the bridge's kink-aware check at random points
    # (the one `sg.check` uses).
    differs = ~_close(got[:own], true[:own], np.maximum(np.abs(true[:own]), np.abs(got[:own])))
    differs &= ~(np.isnan(got[:own]) & np.isnan(true[:own]))
    if np.any(differs):
        first = int(np.flatnonzero(differs)[0])
        result.point = {name: float(env[name][first]) for name in names}
        result.expected, result.claimed_value = float(true[first]), float(got[first])
    else:
        verdict = compare_at_points(derivative, claim, names, kinks=[f])
        result.checked += verdict.compared
        result.notes += verdict.notes
        if not verdict:
            result.point = verdict.point
            if verdict.values is not None:  # always, for a failed verdict
                result.expected, result.claimed_value = verdict.values
    result.right = result.point is None
    if result.right:
        return result
    mask = np.isfinite(f_value) & np.isfinite(true) & np.isfinite(got)
    if mask.sum() >= 3:
        sampler = _Sampler(env, mask)
        # One step altered beats the whole derivative altered; a step's share scaled by an
        # odd constant is the least specific one-step story, so it comes after.
        result.hint = (_one_mistake(explanation, w, claim, sampler, KINDS[:-1])
                       or _extra_term(claim, sampler, explanation.gradients[w])
                       or _whole_scaled(explanation, w, claim, sampler)
                       or _one_mistake(explanation, w, claim, sampler, KINDS[-1:])
                       or _path_mistake(explanation, w, claim, sampler))
    return result


# --- vectors and matrices ----------------------------------------------------------------------

TENSOR_POINTS = 4
"""Random points (and sizes of named dimensions) a claimed matrix gradient is compared at."""


def _compare_tensor(explanation: Explanation, w: Tensor, claim: Tensor) -> Comparison:
    """`compare` for a gradient of vectors and matrices: the claim against the true gradient
    at random points (random sizes for named dimensions); when wrong, the mistakes a layer's
    gradient is worked out with: a factor transposed, the elementwise factor of a step left
    out (the ⊙ σ'(z) of a hidden layer), the sign, a constant factor."""
    f, derivative = explanation.f, explanation.gradients[w]
    result = Comparison(f, w, claim, derivative, True, 0, explanation)
    rng = np.random.default_rng(SEED)
    points = [point_in_domain(f, None, rng)[1] for _ in range(TENSOR_POINTS)]
    if claim.shape != w.shape:
        result.right = False
        result.notes.append(f"the claim has shape {format_shape(claim.shape)}; the gradient "
                            f"has {name_of(w)}'s shape {format_shape(w.shape)}")
        result.hint = _tensor_hint(explanation, w, claim, points)
        return result
    with np.errstate(all="ignore"):
        for env in points:
            true, got = (np.asarray(evaluate(t, env), dtype=float) for t in (derivative, claim))
            if not np.all(np.isfinite(true)):
                continue
            result.checked += 1
            if not np.allclose(got, true, rtol=1e-6, atol=1e-9):
                result.right = False
                result.point = env
                result.expected, result.claimed_value = true, got
                break
    if not result.right:
        result.hint = _tensor_hint(explanation, w, claim, points)
    return result


def _variants(claim: Tensor, explanation: Explanation, w: Tensor
              ) -> list[tuple[str, str, ExplainedStep | None, Tensor]]:
    """One-mistake repairs of a claimed matrix gradient: (kind, text, step, repaired claim)."""
    repairs: list[tuple[str, str, ExplainedStep | None, Tensor]] = [
        ("sign", "the sign is flipped", None, -claim)]
    nodes = [n for n in toposort(claim) if n.shape and n.children is not None or n.is_var]
    for node in nodes:
        if len(node.shape) == 2:
            repairs.append(("transposed", f"{_text(node)} should be transposed: "
                            f"{_text(transpose(node))}", None, node))
    for step in explanation.steps:
        local = step.local
        op = step.node.op
        if op is None or op.pullback is not None or not local.shape or local.number is not None:
            continue
        for node in nodes:
            if node.shape == local.shape:
                repairs.append(("missing factor", f"the elementwise factor {_text(local)} "
                                f"(the local ∂node/∂input of step #{step.number}) is left "
                                f"out after {_text(node)}", step, node))
    return repairs


def _tensor_hint(explanation: Explanation, w: Tensor, claim: Tensor,
                 points: list[dict]) -> Hint | None:
    """The one-mistake repair of the claim that gives the true gradient at every point."""
    derivative = explanation.gradients[w]
    true = [np.asarray(evaluate(derivative, env), dtype=float) for env in points]
    for kind, text, step, target in _variants(claim, explanation, w):
        if kind == "sign":
            repaired = target
        elif kind == "transposed":
            repaired = _replaced(claim, target, transpose(target))
        else:
            assert step is not None
            repaired = _replaced(claim, target, target * step.local)
        if repaired.shape != derivative.shape:
            continue
        with np.errstate(all="ignore"):
            if points and all(np.allclose(np.asarray(evaluate(repaired, env), dtype=float), t,
                                          rtol=1e-6, atol=1e-9) for env, t in zip(points, true)):
                return Hint(kind, step, derivative, factor=None if step is None else step.local,
                            text=text)
    return None


def _replaced(t: Tensor, old: Tensor, new: Tensor) -> Tensor:
    """`t` with the node `old` replaced by `new` (rebuilt above it; shapes that no longer fit
    give `old` itself back)."""
    def visit(node: Tensor, a: Tensor | None, b: Tensor | None) -> Tensor:
        children = node.children
        if node is old:
            return new
        return node if children is None or a is None else apply(children.op, a, b)

    try:
        return rebuild(t, visit)[t]
    except ShapeError:
        return t


def _shares(explanation: Explanation, w: Tensor) -> list[Tensor]:
    """Per step, the part of d f / d w flowing through it: contribution * d input / d w."""
    input_derivatives = forward_sweep(explanation.f, w)
    return [apply(mul, s.contribution, input_derivatives.get(s.operand, const(0)))
            for s in explanation.steps]


def _one_mistake(explanation: Explanation, w: Tensor, claim: Tensor, values: _Sampler,
                 kinds: tuple[str, ...] = KINDS) -> Hint | None:
    """The step whose share, altered one way (`kinds`), turns the true derivative into the
    claim."""
    steps = explanation.steps
    shares = _shares(explanation, w)
    derivative = explanation.gradients[w]
    values.load([derivative, claim, *shares, *(s.local for s in steps)])
    residual = values(claim) - values(derivative)
    found: dict[str, list[tuple[int, Any]]] = {kind: [] for kind in KINDS}
    for index, step in enumerate(steps):
        share, local = values(shares[index]), values(step.local)
        if not np.all(np.isfinite(share)) or _same(share, 0 * share):
            continue
        trivial = bool(np.all(local == 1.0))
        if _same(residual, -2 * share):
            found["sign"].append((index, None))
        if not trivial and np.all(np.abs(local) > 1e-12) and _same(residual, share / local - share):
            found["missing factor"].append((index, step.local))
        if _same(residual, -share):
            found["missing term"].append((index, None))
        if not trivial and _same(residual, share * local - share):
            found["extra factor"].append((index, step.local))
        if np.all(np.abs(share) > 1e-9):
            ratio = residual / share
            if np.allclose(ratio, ratio[0], rtol=1e-6, atol=1e-9) and not np.isclose(ratio[0], 0):
                found["scaled"].append((index, float(1 + ratio[0])))
    for kind in kinds:
        candidates = found[kind]
        if not candidates:
            continue
        # A step whose local derivative is 1 only passes its share along; prefer the others.
        # and for a sign error, a local derivative that carries a minus sign.
        candidates.sort(key=lambda item: (kind == "sign" and not _signed(steps[item[0]].local),
                                          steps[item[0]].local.number == 1, item[0]))
        index, factor = candidates[0]
        also = tuple(steps[i].number for i, _ in candidates[1:])
        return _hint(explanation, kind, steps[index], shares[index], factor, also)
    return None


def _whole_scaled(explanation: Explanation, w: Tensor, claim: Tensor,
                  values: _Sampler) -> Hint | None:
    """The claim is the whole true derivative times a constant (-1: a sign error), where no
    single step carries all of it (f = a + b with both depending on w)."""
    derivative = explanation.gradients[w]
    true, got = values(derivative), values(claim)
    if not np.all(np.abs(true) > 1e-9):
        return None
    ratio = got / true
    whole = explanation.formula(derivative, labelled=False)
    if not np.allclose(ratio, ratio[0], rtol=1e-6, atol=1e-9):
        _, factors = _factors(claim)
        for factor, power in factors:
            if not factor.is_const and _same(values(factor) ** power, ratio):
                extra = factor if power > 0 else apply(ops.div, 1, factor)
                text = f"an extra factor {extra} on the whole derivative {whole}"
                return Hint("extra factor", None, derivative, extra, (), text)
        return None
    if np.isclose(ratio[0], -1):
        text = f"a sign error: the claim is the whole derivative {whole} with its sign flipped"
        return Hint("sign", None, derivative, -1.0, (), text)
    text = (f"a wrong constant: the claim is {format_value(ratio[0])} times the whole "
            f"derivative {whole}")
    return Hint("scaled", None, derivative, float(ratio[0]), (), text)


def _extra_term(claim: Tensor, values: _Sampler, derivative: Tensor) -> Hint | None:
    """One additive term of the claim is exactly the difference from the true derivative."""
    residual = values(claim) - values(derivative)
    for sign, term in _terms(claim):
        if _same(sign * values(term), residual):
            extra = term if sign > 0 else apply(neg, term)
            return Hint("extra term", None, extra, None, (),
                        f"an extra term: without {extra} the claim would be right")
    return None


def _signed(t: Tensor) -> bool:
    """Whether t is written with a leading minus: -a, -2*a, a negative constant."""
    while t.op is mul:  # constants come first in a product: -2*a
        t = children_of(t).a
    if t.number is not None:
        return t.number < 0
    return t.op is neg


def _paths(explanation: Explanation, w: Tensor, limit: int = 64) -> list[list[ExplainedStep]]:
    """Every chain of steps from f down to w (each a product of local derivatives), or an
    empty list when there are more than `limit` (a graph with much sharing)."""
    leaving: dict[Tensor, list[ExplainedStep]] = {}
    for s in explanation.steps:
        leaving.setdefault(s.node, []).append(s)
    paths: list[list[ExplainedStep]] = []
    stack: list[tuple[Tensor, list[ExplainedStep]]] = [(explanation.f, [])]
    visits = 0
    while stack:
        visits += 1
        node, path = stack.pop()
        if node is w and path:
            paths.append(path)
            if len(paths) > limit:
                return []
            continue
        if visits > 50 * limit:
            return []
        stack += [(s.operand, [*path, s]) for s in reversed(leaving.get(node, []))]
    return paths


def _path_mistake(explanation: Explanation, w: Tensor, claim: Tensor,
                  values: _Sampler) -> Hint | None:
    """Match the claim's terms to the chains f -> ... -> w (each chain's product of local
    derivatives is one term of the true derivative). One unmatched chain against one
    unmatched term: match their factors to find the local derivative written wrong. Only
    extra terms: name them. Only missing chains: name them."""
    paths = _paths(explanation, w)
    if not paths:
        return None
    products = []
    for path in paths:
        value = np.ones(values.size)[values.mask]
        values.load([s.local for s in path])
        for s in path:
            value = value * values(s.local)
        products.append(value)
    terms = _terms(claim)
    values.load([t for _, t in terms])
    term_values = [sign * values(t) for sign, t in terms]
    free_paths = list(range(len(paths)))
    free_terms = []
    for index, value in enumerate(term_values):
        match = next((p for p in free_paths if _same(value, products[p])), None)
        if match is None:
            free_terms.append(index)
        else:
            free_paths.remove(match)
    if len(free_paths) == 1 and len(free_terms) == 1:
        return _wrong_local(explanation, paths[free_paths[0]], terms[free_terms[0]], values)
    if not free_paths and free_terms:
        extra = [terms[i][1] if terms[i][0] > 0 else apply(neg, terms[i][1]) for i in free_terms]
        text = ("extra terms: " + ", ".join(str(t) for t in extra)
                + " match no chain of steps from f to " + explanation.name(w))
        return Hint("extra term", None, extra[0], None, (), text)
    if len(free_paths) == 1 and not free_terms:
        path = paths[free_paths[0]]
        share = path[0].local
        for s in path[1:]:
            share = apply(mul, share, s.local)
        text = ("a missing term: no term of the claim is the chain "
                + " → ".join([explanation.name(path[0].node)]
                             + [explanation.name(s.operand) for s in path])
                + f", the product of local derivatives {explanation.formula(share, False)}")
        return Hint("missing term", path[-1], share, None, (), text)
    return None


def _wrong_local(explanation: Explanation, path: list[ExplainedStep], term: tuple[int, Tensor],
                 values: _Sampler) -> Hint | None:
    """Which local derivative of `path` the claimed `term` has wrong: each local (other than
    ±1) is matched, up to sign, to the product of a few of the term's factors; one local left
    unmatched is the wrong step, and the leftover factors are what was written instead."""
    _, factors = _factors(term[1])
    values.load([t for t, _ in factors])
    factor_values = [values(t) ** power for t, power in factors]
    remaining = list(range(len(factors)))
    unmatched = []
    for s in path:
        local = values(s.local)
        if _same(np.abs(local), np.ones_like(local)):
            continue
        chosen = None
        for size in range(1, min(len(remaining), 4) + 1):
            for subset in itertools.combinations(remaining, size):
                product = np.prod([factor_values[i] for i in subset], axis=0)
                if _same(product, local) or _same(product, -local):
                    chosen = subset
                    break
            if chosen:
                break
        if chosen is None:
            unmatched.append(s)
        else:
            remaining = [i for i in remaining if i not in chosen]
    if len(unmatched) != 1:
        return None
    step = unmatched[0]
    leftover = [factors[i][0] if factors[i][1] > 0 else apply(ops.div, 1, factors[i][0])
                for i in remaining]
    if not leftover:
        return _hint(explanation, "missing factor", step, step.local, step.local, ())
    written = leftover[0]
    for t in leftover[1:]:
        written = apply(mul, written, t)
    return _hint(explanation, "wrong local derivative", step, step.local, written, ())


def _hint(explanation: Explanation, kind: str, step: ExplainedStep, share: Tensor,
          factor: Any, also: tuple[int, ...]) -> Hint:
    part = explanation.formula(share, labelled=False)
    if kind == "sign":
        text = (f"a sign error: the claim has -{_grouped(part)} where the true derivative "
                f"has {part}")
    elif kind == "missing factor":
        text = (f"a missing chain-rule factor {explanation.formula(factor, labelled=False)}: "
                f"the part {part} of the true derivative lost it")
    elif kind == "missing term":
        text = f"a missing term: the claim leaves out {part}"
    elif kind == "extra factor":
        text = (f"an extra factor {explanation.formula(factor, labelled=False)} on the part "
                f"{part}")
    elif kind == "scaled":
        text = (f"a wrong constant: the claim has {format_value(factor)}*{_grouped(part)} "
                f"for {part}")
    else:  # wrong local derivative
        text = (f"a wrong local derivative: the claim has {factor} where "
                f"∂{explanation.name(step.node)}/∂{explanation.name(step.operand)} = {part} "
                f"belongs")
    if also:
        text += (" (the same fits step" + ("s " if len(also) > 1 else " ")
                 + ", ".join(f"#{n}" for n in also) + ")")
    return Hint(kind, step, as_tensor(share), factor, also, text)
