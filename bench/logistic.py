"""Logistic regression fitted by Newton's method on rows that are never all in memory: the
data is generated chunk by chunk on a dask cluster (2 worker processes), and every step
evaluates the per-row loss, gradient and Hessian that symgrad derived and compiled (numba,
chunk by chunk), then averages them. Beside it, the same fit on numpy arrays held in memory.

Run: `python -m bench.logistic [--quick]` (needs the dask extra). Figures: rows per second
of a Newton step (each row's 1 + 4 + 10 formulas), and peak memory of each worker.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import symgrad as sg
from bench.common import machine, table

FEATURES = 3
TRUE_WEIGHTS = (1.5, -2.0, 0.5)
TRUE_BIAS = 0.25


def derived() -> tuple[Callable[..., Any], list[str]]:
    """The compiled per-row formulas, the loss `log(1 + exp(-y*(w.x + b)))` for labels
    y = +-1, its 4 partials and the 10 entries of its Hessian's upper triangle, and their
    parameter names (the data x1..x3, y first)."""
    xs = sg.variables(" ".join(f"x{i}" for i in range(1, FEATURES + 1)))
    ws = sg.variables(" ".join(f"w{i}" for i in range(1, FEATURES + 1)))
    y, b = sg.variables("y b")
    loss = sg.softplus(-y * (sum((w * x for w, x in zip(ws, xs, strict=True)), b)))
    params = [*ws, b]
    gradient = sg.gradient(loss, params)
    hessian = sg.hessian(loss, params)
    upper = [hessian[i][j] for i in range(len(params)) for j in range(i, len(params))]
    outputs = sg.simplify([loss, *gradient, *upper])
    inputs = [*xs, y, *params]
    return sg.lambdify(inputs, outputs, backend="numba"), [v.name for v in inputs]


def labels(rng: Any, features: Sequence[Any], uniform: Any) -> Any:
    """y = +1 with probability sigmoid(w.x + b) under the true weights, else -1."""
    score = TRUE_BIAS + sum(w * x for w, x in zip(TRUE_WEIGHTS, features, strict=True))
    return (uniform < 1 / (1 + np.exp(-score))) * 2.0 - 1.0  # np.exp maps dask arrays too


def chunked_data(rows: int, chunk: int, seed: int = 0) -> list[Any]:
    """x1..x3 and y as dask arrays, each chunk generated where it is computed."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    features = [rng.normal(size=rows, chunks=chunk) for _ in range(FEATURES)]
    return [*features, labels(rng, features, rng.uniform(size=rows, chunks=chunk))]


def memory_data(rows: int, seed: int = 0) -> list[np.ndarray]:
    """x1..x3 and y as numpy arrays in memory."""
    rng = np.random.default_rng(seed)
    features = [rng.normal(size=rows) for _ in range(FEATURES)]
    return [*features, labels(rng, features, rng.uniform(size=rows))]


def newton(f: Callable[..., Any], data: list[Any], steps: int,
           mean: Callable[[Any], list[float]]) -> tuple[np.ndarray, list[float]]:
    """Newton's method from zero weights: each step `mean` averages the per-row loss,
    gradient and Hessian over the rows; returns the weights and the loss before each step."""
    params = np.zeros(FEATURES + 1)
    size = len(params)
    losses = []
    for _ in range(steps):
        means = mean(f(*data, *params))
        losses.append(means[0])
        gradient = np.array(means[1 : 1 + size])
        hessian = np.zeros((size, size))
        hessian[np.triu_indices(size)] = means[1 + size :]
        hessian = hessian + np.triu(hessian, 1).T
        params = params - np.linalg.solve(hessian, gradient)
    return params, losses


def dask_mean(client: Any) -> Callable[[Any], list[float]]:
    """Averages a tuple of dask arrays on the cluster, all in one pass over the chunks."""
    return lambda arrays: [float(v) for v in client.compute([a.mean() for a in arrays],
                                                             sync=True)]


def numpy_mean(arrays: Sequence[np.ndarray]) -> list[float]:
    return [float(np.mean(a)) for a in arrays]


def peak_worker_memory(client: Any) -> list[float]:
    """Each worker's peak resident memory so far, in MiB."""
    peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return [kib / 1024 for kib in peaks.values()]


def run(rows: int, chunk: int, memory_rows: int, steps: int) -> dict[str, Any]:
    """The chunked fit on `rows` rows and the in-memory fit on `memory_rows`: their weights,
    losses, rows per second and memory."""
    from dask.distributed import Client, LocalCluster

    f, _ = derived()
    f(*np.zeros(2 * (FEATURES + 1)))  # compiled before any timing
    figures: dict[str, Any] = {"rows": rows, "chunk": chunk, "memory_rows": memory_rows,
                               "steps": steps}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(lambda: f(*np.zeros(2 * (FEATURES + 1))))  # each worker loads the kernels
        start = time.perf_counter()
        weights, losses = newton(f, chunked_data(rows, chunk), steps, dask_mean(client))
        seconds = time.perf_counter() - start
        figures.update(chunked_weights=weights, chunked_losses=losses,
                       chunked_rows_per_second=rows * steps / seconds,
                       worker_memory=peak_worker_memory(client))
        # the same with the data generated once and kept on the workers: evaluation alone
        kept = client.persist(chunked_data(rows, chunk))
        client.compute([array.sum() for array in kept], sync=True)
        start = time.perf_counter()
        newton(f, kept, steps, dask_mean(client))
        figures["kept_rows_per_second"] = rows * steps / (time.perf_counter() - start)
    data = memory_data(memory_rows)
    start = time.perf_counter()
    weights, losses = newton(f, data, steps, numpy_mean)
    seconds = time.perf_counter() - start
    figures.update(memory_weights=weights, memory_losses=losses,
                   memory_rows_per_second=memory_rows * steps / seconds,
                   memory_bytes=sum(a.nbytes for a in data))
    return figures


def main(quick: bool = False) -> str:
    rows, chunk, memory_rows = (10**7, 10**6, 10**6) if quick else (10**8, 2 * 10**6, 10**7)
    f = run(rows, chunk, memory_rows, steps=6)
    fitted = ", ".join(f"{w:.3f}" for w in f["chunked_weights"])
    rows_table = table(
        "Logistic regression, 6 Newton steps (loss, 4 partials, 10 Hessian entries a row)",
        ["fit", "rows", "rows/s", "memory"],
        [[f"dask, 2 worker processes, chunks of {f['chunk']:,} rows (numba per chunk)",
          f"{f['rows']:,}", f"{f['chunked_rows_per_second']:,.0f}",
          "peak per worker " + ", ".join(f"{m:,.0f} MiB" for m in f["worker_memory"])],
         ["the same, the data generated once and kept on the workers", f"{f['rows']:,}",
          f"{f['kept_rows_per_second']:,.0f}", f"data {f['rows'] * 32 / 2**20:,.0f} MiB"],
         ["numpy arrays in memory, one process (numba)", f"{f['memory_rows']:,}",
          f"{f['memory_rows_per_second']:,.0f}",
          f"data {f['memory_bytes'] / 2**20:,.0f} MiB"]],
        notes=["Each step of the first row generates its chunks again (4 random numbers a row) "
               "on the workers: the data never exists whole. Rows/s count every row of every "
               "step."],
    )
    text = (f"fitted weights on {f['rows']:,} rows: {fitted} (true: "
            f"{', '.join(map(str, TRUE_WEIGHTS))}, {TRUE_BIAS}); {machine()}\n")
    print(text)
    return rows_table + "\n" + text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)
