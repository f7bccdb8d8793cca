"""The scalar loss of a small MLP (2-16-16-1, tanh, MSE over 32 fixed samples) and its
gradient with respect to all 337 parameters, symgrad beside sympy, evaluated on 10^6/337
parameter vectors (10^6 input values).

sympy's `diff` walks the loss as a tree, so it meets every hidden unit once per path through
the network: it cannot finish the 32-sample loss in minutes. A 1-sample loss is measured too,
where it does finish, to give a ratio.
"""

from __future__ import annotations

import numpy as np

from bench.common import (
    DERIVE_HEADERS,
    EVAL_HEADERS,
    POINTS,
    Library,
    gradient_rows,
    machine,
    measure_symgrad,
    measure_sympy,
    table,
)

LAYERS = (2, 16, 16, 1)
SAMPLES = 32


def data(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed inputs in [-1, 1]^2 and targets sin(x0) cos(x1)."""
    inputs = np.random.default_rng(0).uniform(-1, 1, (samples, LAYERS[0]))
    return inputs, np.sin(inputs[:, 0]) * np.cos(inputs[:, 1])


def mlp_loss(library: Library, samples: int = SAMPLES) -> tuple[object, list]:
    """The mean squared error of the network over the samples, and the parameters."""
    parameters = []
    layers = []  # per layer: (weights[out][in], biases[out])
    for layer, (fan_in, fan_out) in enumerate(zip(LAYERS, LAYERS[1:], strict=False), 1):
        weights = [
            library.symbols([f"w{layer}_{j}_{i}" for i in range(fan_in)]) for j in range(fan_out)
        ]
        biases = library.symbols([f"b{layer}_{j}" for j in range(fan_out)])
        parameters += [w for row in weights for w in row] + biases
        layers.append((weights, biases))
    inputs, targets = data(samples)
    errors = []
    for sample in range(samples):
        activations = [float(value) for value in inputs[sample]]
        for depth, (weights, biases) in enumerate(layers):
            sums = [
                library.total([w * a for w, a in zip(row, activations, strict=True)] + [b])
                for row, b in zip(weights, biases, strict=True)
            ]
            last = depth == len(layers) - 1
            activations = sums if last else [library.tanh(s) for s in sums]
        errors.append((activations[0] - float(targets[sample])) ** 2)
    return library.total(errors) / samples, parameters


def main(quick: bool = False) -> str:
    runs = [(SAMPLES, None if quick else 300)]
    if not quick:
        runs.append((1, 300))
    derive_rows, eval_rows = [], []
    for samples, sympy_seconds in runs:
        build = lambda library, samples=samples: mlp_loss(library, samples)  # noqa: E731
        count = sum(i * o + o for i, o in zip(LAYERS, LAYERS[1:], strict=False))
        inputs = np.random.default_rng(1).uniform(-1, 1, (count, POINTS // count))
        ours = measure_symgrad(build, inputs)
        theirs = measure_sympy(build, inputs, sympy_seconds) if sympy_seconds else {}
        label = f"MLP, {samples} sample{'s' if samples > 1 else ''}"
        derive_row, eval_row = gradient_rows(label, ours, theirs, count)
        derive_rows.append(derive_row)
        eval_rows.append(eval_row)
    notes = [
        "sympy is not run in --quick mode; otherwise at most 300 s per row (building the "
        "sympy expression included). Evaluation: 10^6/337 = 2,967 parameter vectors.",
        f"Machine: {machine()}.",
    ]
    text = table("MLP 2-16-16-1 loss: derivation and op counts", DERIVE_HEADERS, derive_rows)
    text += table(
        "MLP: compile, and the gradient on 2,967 parameter vectors", EVAL_HEADERS, eval_rows, notes
    )
    return text


if __name__ == "__main__":
    main()
