"""Variable names that Python reads differently from how they are spelled (NFKC: `ｔ0` is `t0`,
`𝐱` is `x`) compile to code that computes the right values: generated
names never meet a user's name, and two user names never become one."""

import unicodedata

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg
from symgrad.backends.compile import source_name

# Names the generated code uses itself, and names users write.
BASES = ["t0", "t1", "_t0", "c0", "c1", "np", "f", "out", "x", "x_", "sin", "arg", "lam"]


def _variants(char: str) -> list[str]:
    """`char` and characters NFKC turns into it: fullwidth and mathematical letters/digits."""
    found = [char]
    if "!" <= char <= "~":
        found.append(chr(ord(char) + 0xFEE0))  # fullwidth
    if char.isalpha():
        offset = ord(char) - (ord("a") if char.islower() else ord("A"))
        found.append(chr((0x1D41A if char.islower() else 0x1D400) + offset))  # bold
    if char.isdigit():
        found.append(chr(0x1D7CE + int(char)))  # mathematical bold digit
    return [c for c in found if unicodedata.normalize("NFKC", c) == char]


@st.composite
def look_alike(draw, base: str) -> str:
    return "".join(draw(st.sampled_from(_variants(char))) for char in base)


identifiers = st.one_of(
    st.sampled_from(BASES).flatmap(look_alike).filter(str.isidentifier),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=4).filter(str.isidentifier),
)


def _expression(variables: list[sg.Tensor]) -> sg.Tensor:
    """Uses every variable, shares subexpressions (temporaries) and hoists constants."""
    table = sg.const(np.array([1.0, 2.0, 3.0]))
    total = 1 + 1 / (sg.const(float("inf")) + variables[0])  # inf is hoisted: 1 + 0
    for i, v in enumerate(variables):
        shared = v * (i + 2) + 1
        total = total + shared * shared + sg.sin(shared) * table
    for v in variables:  # read again after the temporaries are assigned
        total = total * v
    return total


def _check(names: list[str]) -> None:
    variables = [sg.var(name) for name in dict.fromkeys(names)]
    expression = _expression(variables)
    point = {v: 0.5 + index for index, v in enumerate(variables)}
    expected = sg.evaluate(expression, point)
    f = sg.lambdify(variables, expression)
    assert np.array_equal(f(*point.values()), expected), f.source
    namespace: dict = {}
    exec(sg.codegen(expression, args=variables), namespace)
    assert np.array_equal(namespace["f"](*point.values()), expected)


@given(st.lists(identifiers, min_size=1, max_size=5))
def test_any_identifiers_compile_to_the_right_values(names):
    _check(names)


def test_the_reported_look_alikes():
    _check(["ｔ0", "x"])  # was overwritten by the temporary t0
    _check(["ｃ0", "x"])  # shadowed a hoisted constant
    _check(["x", "𝐱"])  # was `SyntaxError: duplicate argument`
    _check(["ｎｐ", "ｓｉｎ", "ｆ", "ｏｕｔ", "__debug__"])


def test_every_generated_name_is_in_the_form_python_reads():
    f = sg.lambdify(["ｔ0", "𝐱", "x"], sg.var("ｔ0") * sg.var("𝐱") * sg.var("x"), name="ｇ")
    assert f.source.startswith("def g(t0, x, x_):")
    assert source_name("ｔ0") == "t0"


def test_constants_of_any_number_type_compile():
    from decimal import Decimal
    from fractions import Fraction

    x = sg.var("x")
    for number in (Fraction(1, 3), Decimal("0.25"), np.float32(0.5), np.int64(7), True):
        f = sg.lambdify([x], x * number + number)
        assert f(2.0) == float(number) * 3
