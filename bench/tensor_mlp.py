"""The MLP of `bench/mlp.py` (2-16-16-1, tanh, mean squared error over 32 samples) written as a
tensor expression, beside the same loss in scalars: op counts of the loss and of the loss with
its gradient, derivation time, and the compiled gradient's time on the 32-sample batch (and
JAX's jit, when JAX is importable).
"""

from __future__ import annotations

import numpy as np

import symgrad as sg
from bench.common import best, machine, once, ratio_text, seconds_text, symgrad_library, table
from bench.mlp import LAYERS, SAMPLES, data, mlp_loss


def tensor_loss() -> tuple[sg.Tensor, list[sg.Tensor], sg.Tensor, sg.Tensor]:
    """The loss as a tensor expression, its parameters, and the batch's variables X, Y."""
    X, Y = sg.matrix("X", (SAMPLES, LAYERS[0])), sg.matrix("Y", (SAMPLES, LAYERS[-1]))
    params, activations = [], X
    for layer, (fan_in, fan_out) in enumerate(zip(LAYERS, LAYERS[1:], strict=False), 1):
        W, b = sg.matrix(f"W{layer}", (fan_in, fan_out)), sg.vector(f"b{layer}", fan_out)
        params += [W, b]
        activations = activations @ W + b
        if layer < len(LAYERS) - 1:
            activations = sg.tanh(activations)
    return sg.mean((activations - Y) ** 2), params, X, Y


def _point(params: list[sg.Tensor]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    inputs, targets = data(SAMPLES)
    values = {p.name: rng.normal(size=p.shape) / 2 for p in params}
    return {"X": inputs, "Y": targets.reshape(-1, 1), **values}


def _jax_seconds(env: dict[str, np.ndarray], params: list[sg.Tensor]) -> float | None:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    def loss(weights: list, X: jnp.ndarray, Y: jnp.ndarray) -> jnp.ndarray:
        activations = X
        for layer in range(0, len(weights), 2):
            activations = activations @ weights[layer] + weights[layer + 1]
            if layer < len(weights) - 2:
                activations = jnp.tanh(activations)
        return jnp.mean((activations - Y) ** 2)

    gradient = jax.jit(jax.value_and_grad(loss))
    weights = [jnp.asarray(env[p.name]) for p in params]
    gradient(weights, env["X"], env["Y"])[0].block_until_ready()
    return best(lambda: gradient(weights, env["X"], env["Y"])[0].block_until_ready(), 200)


def main(quick: bool = False) -> str:
    loss, params, X, Y = tensor_loss()
    gradients, derive = once(lambda: sg.gradient(loss, params))
    simplified = sg.simplify(gradients)
    compiled = sg.lambdify([X, Y, *params], [loss, *simplified])
    env = _point(params)
    args = [env[v.name] for v in [X, Y, *params]]
    tensor_eval = best(lambda: compiled(*args), 50 if quick else 500)
    reference = sg.evaluate([loss, *gradients], env)
    agree = all(np.allclose(a, b) for a, b in zip(compiled(*args), reference, strict=True))

    scalar_loss, scalar_params = mlp_loss(symgrad_library(), SAMPLES)
    scalar_gradients, scalar_derive = once(lambda: sg.gradient(scalar_loss, scalar_params))
    scalar_compiled = sg.lambdify(scalar_params, [scalar_loss, *scalar_gradients])
    flat = [value for p in params for value in np.ravel(env[p.name], order="F" if p.ndim == 2
                                                       else "C")]
    scalar_eval = best(lambda: scalar_compiled(*flat), 3 if quick else 20)
    jax_eval = _jax_seconds(env, params)

    loss_ops, all_ops = sg.count_ops(loss), sg.count_ops([loss, *simplified])
    scalar_loss_ops = sg.count_ops(scalar_loss)
    scalar_all_ops = sg.count_ops([scalar_loss, *scalar_gradients])
    rows = [
        ["tensor (matrices)", loss_ops, all_ops, f"{all_ops / loss_ops:.2f}",
         seconds_text(derive), seconds_text(tensor_eval), "yes" if agree else "NO"],
        ["scalar (337 variables)", scalar_loss_ops, scalar_all_ops,
         f"{scalar_all_ops / scalar_loss_ops:.2f}", seconds_text(scalar_derive),
         seconds_text(scalar_eval), "—"],
    ]
    notes = [
        f"Compiled loss and gradient on one 32-sample batch: tensor {seconds_text(tensor_eval)}, "
        f"scalar {seconds_text(scalar_eval)} ({ratio_text(scalar_eval, tensor_eval)} slower); "
        + (f"JAX jit {seconds_text(jax_eval)} (symgrad/JAX {ratio_text(tensor_eval, jax_eval)})."
           if jax_eval is not None else "JAX is not installed here, so no JAX column."),
        "∇ ops count the loss and every parameter's gradient together, simplified "
        "(shared nodes once).",
        f"Machine: {machine()}.",
    ]
    return table("MLP 2-16-16-1 as matrices vs as scalars",
                 ["form", "f ops", "f + ∇ ops", "ratio", "derive", "eval (batch)", "agree"],
                 rows, notes)


if __name__ == "__main__":
    main()
