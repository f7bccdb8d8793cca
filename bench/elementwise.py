"""An elementwise formula and its gradient on 10^6 points: symgrad's compiled function beside
the same formula written by hand in numpy, and beside sympy (`diff`, `lambdify(cse=True)`).

f(x, y) = exp(-x^2/2) sin(3x + y) + sqrt(x^2 + y^2) tanh(y) / (1 + x^2)
"""

from __future__ import annotations

import numpy as np

from bench.common import (
    DERIVE_HEADERS,
    EVAL_HEADERS,
    POINTS,
    Library,
    best,
    gradient_rows,
    machine,
    measure_symgrad,
    measure_sympy,
    once,
    ratio_text,
    seconds_text,
    symgrad_library,
    sympy_library,
    table,
)


def formula(library: Library) -> tuple[object, list]:
    x, y = library.symbols(["x", "y"])
    f = library.exp(-(x**2) / 2) * library.sin(3 * x + y) + library.sqrt(
        x**2 + y**2
    ) * library.tanh(y) / (1 + x**2)
    return f, [x, y]


def by_hand(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """f as one would write it in numpy."""
    return np.exp(-(x**2) / 2) * np.sin(3 * x + y) + np.sqrt(x**2 + y**2) * np.tanh(y) / (1 + x**2)


def gradient_by_hand(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(df/dx, df/dy) derived on paper, shared pieces computed once."""
    x2 = x * x
    a = np.exp(-0.5 * x2)
    u = 3 * x + y
    s = np.sin(u)
    c = np.cos(u)
    r = np.sqrt(x2 + y * y)
    th = np.tanh(y)
    q = 1 / (1 + x2)
    dx = a * (3 * c - x * s) + th * q * (x / r - 2 * x * r * q)
    dy = a * c + q * (y * th / r + r * (1 - th * th))
    return dx, dy


def main(quick: bool = False) -> str:
    import sympy as sp

    import symgrad as sg

    repeat = 3 if quick else 7
    rng = np.random.default_rng(0)
    inputs = rng.uniform(-2, 2, (2, POINTS))
    x, y = inputs

    # The formula itself: compiled symgrad vs hand-written numpy vs sympy's lambdify.
    f, variables = formula(symgrad_library())
    compiled, compile_time = once(lambda: sg.lambdify(variables, f))
    f_sympy, sympy_variables = formula(sympy_library())
    lambdified = sp.lambdify(sympy_variables, f_sympy, cse=True)
    assert np.allclose(compiled(x, y), by_hand(x, y))
    assert np.allclose(lambdified(x, y), by_hand(x, y))
    hand_time = best(lambda: by_hand(x, y), repeat)
    ours_time = best(lambda: compiled(x, y), repeat)
    sympy_time = best(lambda: lambdified(x, y), repeat)
    rows = [
        ["f: hand-written numpy", seconds_text(hand_time), "1.00x"],
        ["f: symgrad `lambdify`", seconds_text(ours_time), ratio_text(ours_time, hand_time)],
        [
            "f: sympy `lambdify(cse=True)`",
            seconds_text(sympy_time),
            ratio_text(sympy_time, hand_time),
        ],
    ]

    # The gradient: derived and compiled by each, and by hand.
    ours = measure_symgrad(formula, inputs, repeat)
    theirs = measure_sympy(formula, inputs, 60, repeat)
    hand_gradient_time = best(lambda: gradient_by_hand(x, y), repeat)
    assert np.allclose(ours["check"], [v[0] for v in gradient_by_hand(x, y)])
    rows += [
        ["∇f: hand-written numpy", seconds_text(hand_gradient_time), "1.00x"],
        [
            "∇f: symgrad `gradient` + `lambdify`",
            seconds_text(ours["eval"]),
            ratio_text(ours["eval"], hand_gradient_time),
        ],
        [
            "∇f: sympy `diff` + `lambdify(cse=True)`",
            seconds_text(theirs.get("eval")),
            ratio_text(theirs.get("eval"), hand_gradient_time),
        ],
    ]
    notes = [
        f"Best of {repeat} runs on 10^6 points (float64). symgrad compiled f in "
        f"{seconds_text(compile_time)}.",
        f"Machine: {machine()}.",
    ]
    text = table(
        "Elementwise formula on 10^6 points: time and ratio to hand-written numpy",
        ["function", "time", "ratio to hand-written"],
        rows,
        notes,
    )
    derive_row, eval_row = gradient_rows("elementwise ∇f", ours, theirs, 2)
    text += table("Elementwise: derivation and op counts", DERIVE_HEADERS, [derive_row])
    text += table("Elementwise: compile, and ∇f on 10^6 points", EVAL_HEADERS, [eval_row])
    print("symgrad's generated source:\n\n" + compiled.source)
    return text


if __name__ == "__main__":
    main()
