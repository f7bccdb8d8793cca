"""Compiled gradients on dask arrays, chunk by chunk, on a cluster of two worker processes:
the same values as numpy on the whole arrays, for both backends."""

import numpy as np
import pytest

import symgrad as sg

da = pytest.importorskip("dask.array")  # the dask extra; `make test` installs it
distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.fixture(scope="module")
def logistic():
    x1, x2, y, w1, w2, b = sg.variables("x1 x2 y w1 w2 b")
    loss = sg.softplus(-y * (w1 * x1 + w2 * x2 + b))
    return (x1, x2, y, w1, w2, b), loss, sg.gradient(loss, [w1, w2, b])


def data(rows: int, chunks: int):
    rng = da.random.default_rng(3)
    x1 = rng.normal(size=rows, chunks=chunks)
    x2 = rng.uniform(-2, 2, size=rows, chunks=chunks)
    y = da.where(x1 - 0.5 * x2 + rng.normal(size=rows, chunks=chunks) > 0, 1.0, -1.0)
    return x1, x2, y


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_gradient_on_dask_chunks_equals_numpy_on_the_whole_arrays(client, logistic, backend):
    variables, loss, gradient = logistic
    f = sg.lambdify(variables, [loss, *gradient], backend=backend)
    x1, x2, y = data(200_000, 30_000)  # chunks of unequal sizes: the last is shorter
    lazy = f(x1, x2, y, 0.3, -0.2, 0.1)
    assert len(lazy) == 4 and all(isinstance(v, da.Array) for v in lazy)
    assert all(v.shape == (200_000,) for v in lazy)
    means = client.compute([v.mean() for v in lazy], sync=True)
    whole = f(*(np.asarray(v) for v in client.compute([x1, x2, y], sync=True)), 0.3, -0.2, 0.1)
    np.testing.assert_allclose(means, [np.mean(v) for v in whole], rtol=1e-12)
    assert means[1] < 0 < means[0]  # the loss is positive; w1 pulls towards x1's sign


def test_one_output_and_keywords_and_numbers_broadcast(client):
    x, w = sg.variables("x w")
    f = sg.lambdify([x, w], w * sg.exp(-x**2))
    values = da.linspace(-3, 3, 10_001, chunks=1_000)
    lazy = f(w=2.0, x=values)
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), 2.0 * np.exp(-np.linspace(-3, 3, 10_001) ** 2))
    constant = sg.lambdify([x, w], [w, x])  # an output that does not depend on the arrays
    first, second = constant(values, 5.0)
    assert first.shape == values.shape and float(first.sum().compute()) == 5.0 * 10_001


def test_two_dimensional_arrays_of_different_chunkings(client):
    x, y = sg.variables("x y")
    f = sg.lambdify([x, y], sg.sin(x) * y)
    a = da.random.default_rng(0).normal(size=(600, 40), chunks=(100, 40))
    b = da.random.default_rng(1).normal(size=(40,), chunks=(20,))  # broadcasts along rows
    expected = np.sin(a.compute()) * b.compute()
    np.testing.assert_allclose(f(a, b).compute(), expected)


def test_clear_errors_on_dask_arrays():
    x, y = sg.variables("x y")
    f = sg.lambdify([x, y], x * y)
    with pytest.raises(TypeError, match="is missing 'y'"):
        f(da.ones(3, chunks=2))
    v = sg.vector("v_chunked", 3)
    g = sg.lambdify([v], sg.sum(v**2), backend="numpy")
    with pytest.raises(TypeError, match="vectors and matrices are not chunked"):
        g(da.ones(3, chunks=2))
