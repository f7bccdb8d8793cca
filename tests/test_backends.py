"""Tests for lambdify's backends: the numba tape interpreter (`symgrad.backends.tape`, `kernels`,
`numba_backend`) agrees with the numpy backend and with `evaluate` to rounding, on scalars,
on arrays across block boundaries and on deep graphs; the numpy backend's blocks keep memory
bounded. numba's compile is paid once per test run (the `interpreter` fixture)."""

import pickle
import tracemalloc

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import VARIABLES, X, Y, Z, close, expressions, points

import symgrad as sg
from symgrad.backends import blocks, kernels, numba_backend
from symgrad.backends.blocks import tape_block_size
from symgrad.backends.lowering import allocate_slots, lower
from symgrad.backends.tape import build_tape
from symgrad.ir.op import OPS, Op, registered


@pytest.fixture(scope="session")
def interpreter():
    """The compiled interpreter, loaded (or compiled, on a fresh machine) once."""
    pytest.importorskip("numba")
    return kernels.interpreter()


@pytest.fixture(scope="session", params=["numpy", "numba"])
def backend(request):
    """Each backend in turn (numba only where it is installed)."""
    if request.param == "numba":
        request.getfixturevalue("interpreter")
    return request.param


def lambdify_or_none(args, outputs, backend):
    """The compiled function, or None where the numba backend has no instruction for an op."""
    try:
        return sg.lambdify(args, outputs, backend=backend)
    except numba_backend.BackendUnavailableError as error:
        assert backend == "numba" and "no instruction for" in str(error)
        return None


# --- agreement ---------------------------------------------------------------------------


@given(expressions(smooth=False), points())
def test_agrees_with_evaluate_at_a_point(backend, expression, point):
    gradient = sg.gradient(expression, list(VARIABLES))
    f = lambdify_or_none(VARIABLES, [expression, *gradient], backend)
    assume(f is not None)
    with np.errstate(all="ignore"):
        actual = f(**point)
        expected = sg.evaluate([expression, *gradient], point)
    assert close(actual, expected, rtol=1e-12, atol=1e-12)


@given(expressions(), st.integers(min_value=0, max_value=2**32 - 1))
def test_agrees_with_evaluate_on_broadcast_arrays(backend, expression, seed):
    rng = np.random.default_rng(seed)
    env = {"x": rng.uniform(-2, 2, 50), "y": rng.uniform(-2, 2, (3, 1)), "z": 0.5}
    gradient = sg.gradient(expression, list(VARIABLES))
    f = lambdify_or_none(VARIABLES, [expression, *gradient], backend)
    assume(f is not None)
    with np.errstate(all="ignore"):
        actual = f(env["x"], env["y"], env["z"])
        expected = sg.evaluate([expression, *gradient], env)
    for a, e in zip(actual, expected, strict=True):
        assert np.broadcast_shapes(np.shape(a), (3, 50)) == (3, 50)
        assert close(a, e, rtol=1e-12, atol=1e-12)


SCALAR_OPS = [name for name, op in OPS.items() if kernels.scalar_source(op) is not None]


@pytest.mark.usefixtures("interpreter")
@pytest.mark.parametrize("name", SCALAR_OPS)
def test_each_op_matches_numpy_everywhere(name):
    # Every op with an instruction, on ordinary, edge and out-of-domain values, points and
    # blocks alike: the same floats as numpy, NaN where numpy gives NaN, infinities alike.
    op = OPS[name]
    values = np.array([-3.5, -1.0, -0.5, -0.0, 0.0, 0.25, 1.0, 2.0, 7.5, np.inf, -np.inf, np.nan])
    a, b = (np.repeat(values, len(values)), np.tile(values, len(values)))
    expression = op(X) if op.arity == 1 else op(X, Y)
    f = sg.lambdify([X, Y], expression, backend="numba")
    with np.errstate(all="ignore"):
        expected = op.numpy(a) if op.arity == 1 else op.numpy(a, b)
        on_arrays = f(a, b)
        at_points = np.array([f(float(p), float(q)) for p, q in zip(a, b)])
    np.testing.assert_allclose(on_arrays, expected, rtol=1e-14, atol=0, equal_nan=True)
    np.testing.assert_allclose(at_points, expected, rtol=1e-14, atol=0, equal_nan=True)


@pytest.mark.usefixtures("interpreter")
@pytest.mark.parametrize("blocks_and_points", [(0, 0), (0, 1), (1, -1), (1, 0), (1, 1), (3, 5)])
def test_every_point_is_computed_once_across_block_boundaries(blocks_and_points):
    f = sg.lambdify([X, Y], [X * Y + sg.sin(X), X - 2 * Y], backend="numba")
    whole, points = blocks_and_points
    size = whole * tape_block_size(f.tape.slots, 10**6) + points
    x = np.linspace(-1, 1, size)
    product, difference = f(x, 3.0)
    assert product.shape == difference.shape == (size,)
    np.testing.assert_allclose(product, x * 3 + np.sin(x), rtol=1e-15)
    np.testing.assert_array_equal(difference, x - 6)


@pytest.mark.usefixtures("interpreter")
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_share_out_big_inputs_exactly(threads, monkeypatch):
    monkeypatch.setattr(numba_backend, "THREADS", threads)
    monkeypatch.setattr(numba_backend, "PARALLEL_POINTS", 1000)
    f = sg.lambdify([X, Y], [sg.exp(X) * Y, X / Y], backend="numba")
    x, y = np.linspace(-1, 1, 10_007), np.linspace(1, 2, 10_007)
    exponential, ratio = f(x, y)
    np.testing.assert_allclose(exponential, np.exp(x) * y, rtol=1e-15)
    np.testing.assert_array_equal(ratio, x / y)


def test_thread_count_is_one_where_the_system_cannot_count_cores(monkeypatch):
    # Found by mypy: os.cpu_count() may be None (the count unknown), and min(None, n) fails.
    monkeypatch.delattr(numba_backend.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(numba_backend.os, "cpu_count", lambda: None)
    assert numba_backend.usable_cores() == 1
    monkeypatch.setattr(numba_backend.os, "cpu_count", lambda: 6)
    assert numba_backend.usable_cores() == 6


@pytest.mark.usefixtures("interpreter")
def test_numba_broadcasts_and_returns_what_numpy_returns():
    f = sg.lambdify([X, Y, Z], [X * Y + Z, Y, sg.const(2.0)], backend="numba")
    g = sg.lambdify([X, Y, Z], [X * Y + Z, Y, sg.const(2.0)], backend="numpy")
    x, y = np.arange(4.0), np.arange(3.0).reshape(3, 1)
    for ours, theirs in zip(f(x, y, 1), g(x, y, 1), strict=True):
        np.testing.assert_array_equal(np.broadcast_to(theirs, (3, 4)), ours)
    assert f(2, 3, 1) == (7.0, 3.0, 2.0)
    assert sg.lambdify([X, Y], X * Y, backend="numba")(x=2, y=5) == 10.0
    assert sg.lambdify([X, Y], X * Y, backend="numba")(2, y=[1, 2]).tolist() == [2.0, 4.0]
    assert sg.lambdify([X], X * 1.5 + 1, backend="numba")([[1.0], [2.0]]).shape == (2, 1)


@pytest.mark.usefixtures("interpreter")
def test_bad_calls_say_what_is_wrong():
    f = sg.lambdify([X, Y], X * Y, backend="numba")
    with pytest.raises(TypeError, match="missing arguments: y"):
        f(1.0)
    with pytest.raises(TypeError, match="unexpected argument 'w'"):
        f(1.0, 2.0, w=3)
    with pytest.raises(TypeError, match="two values for argument 'x'"):
        f(1.0, x=2.0)
    with pytest.raises(TypeError, match="takes 2 arguments"):
        f(1.0, 2.0, 3.0)
    with pytest.raises(TypeError, match="the value of 'y' must be a real number"):
        f(1.0, "two")
    with pytest.raises(TypeError, match="the value of 'x' must be a real number"):
        f(None, np.ones(3))
    with pytest.raises(ValueError, match="shape mismatch|broadcast"):
        f(np.ones(3), np.ones(4))


# --- the tape ------------------------------------------------------------------------------


@pytest.mark.usefixtures("interpreter")
def test_a_deep_chain_needs_few_slots(sin_chain):
    x, chain = sin_chain
    f = sg.lambdify([x], chain, backend="numba")
    assert len(f.tape.code) == 100_000
    assert f.tape.slots <= 4  # argument, and the chain's values reusing two slots
    expected = sg.evaluate(chain, {x: np.array([0.5, 1.0])})
    np.testing.assert_allclose(f(np.array([0.5, 1.0])), expected, rtol=1e-14)
    assert f(0.5) == pytest.approx(expected[0], rel=1e-14)


def test_results_never_share_a_slot_with_their_operands():
    terms = [sg.sin(X * k) * sg.cos(Y + k) for k in range(20)]
    total = sum(terms[1:], terms[0])
    tape = build_tape(
        [X, Y], sg.gradient(total, [X, Y]), {op: k for k, op in enumerate(OPS.values())}
    )
    code = tape.code
    assert not np.any(code[:, 1] == code[:, 2]) and not np.any(code[:, 1] == code[:, 3])
    assert tape.slots < len(code)  # slots are reused


@given(expressions(), points())
def test_the_lowering_run_slot_by_slot_gives_evaluate(expression, point):
    """Instructions run in order over the slots, each reading its operands' slots, give what
    `evaluate` gives: no slot is overwritten while a later instruction still reads it."""
    outputs = [expression, *sg.gradient(expression, [X, Y])]
    lowered = lower(VARIABLES, outputs)
    slots = [None] * lowered.slots
    slots[: len(VARIABLES)] = [point[variable.name] for variable in VARIABLES]
    for index, constant in enumerate(lowered.constants, lowered.arguments):
        slots[index] = constant.value
    with np.errstate(all="ignore"):
        for destination, op, a, b in lowered.instructions():
            assert destination not in (a, b)
            slots[destination] = op.numpy(slots[a]) if b is None else op.numpy(slots[a], slots[b])
        expected = sg.evaluate(outputs, point)
    actual = [slots[slot] for slot in lowered.outputs]
    np.testing.assert_array_equal(np.array(actual, dtype=float), np.array(expected, dtype=float))


def test_the_lowering_names_a_variable_missing_from_its_inputs():
    with pytest.raises(ValueError, match="'y', not among inputs"):
        lower([X], [X * Y])


@given(st.lists(st.lists(st.integers(0, 50), max_size=3), min_size=1, max_size=40),
       st.booleans(), st.booleans())
def test_allocated_slots_hold_every_value_until_its_last_read(raw_reads, share, latest):
    reads = [[value % step for value in operands] if step else [] for step, operands in
             enumerate(raw_reads)]
    kept = [len(reads) - 1]
    slots, end = allocate_slots(reads, kept, share_operands=share, latest_first=latest)
    holder: dict[int, int] = {}  # slot -> the value it holds
    for step, operands in enumerate(reads):
        assert all(holder[slots[value]] == value for value in operands)
        if not share:
            assert slots[step] not in {slots[value] for value in operands}
        holder[slots[step]] = step
    assert holder[slots[kept[0]]] == kept[0]
    assert end == len(set(slots)) and max(slots) == end - 1


@pytest.mark.usefixtures("interpreter")
def test_a_numba_function_pickles():
    f = sg.lambdify([X, Y], [X * sg.exp(Y), X - Y], backend="numba")
    g = pickle.loads(pickle.dumps(f))
    assert g(2.0, 0.5) == f(2.0, 0.5) == (2.0 * np.exp(0.5), 1.5)
    assert g.source == f.source and g.listing() == f.listing()


def test_the_listing_reads_like_the_graph(interpreter):
    f = sg.lambdify([X, Y], (X + 1) * sg.sin(Y), backend="numba")
    assert f.listing() == (
        "s0 = argument 0\ns1 = argument 1\ns2 = 1.0\n"
        "s3 = add(s0, s2)\ns4 = sin(s1)\ns5 = mul(s3, s4)\nreturn s5"
    )
    assert "def f(x, y):" in f.source  # the numpy backend's source, written on demand


# --- choosing a backend -----------------------------------------------------------------------


def test_auto_takes_numba_for_big_graphs_only(interpreter, monkeypatch):
    big = sum((sg.sin(X * k) for k in range(1, 200)), sg.const(0))
    assert isinstance(sg.lambdify([X], big), numba_backend.NumbaFunction)
    assert not isinstance(
        sg.lambdify([X, Y], X * Y + 1, backend="auto"), numba_backend.NumbaFunction
    )
    # options only numpy has, and ops without an instruction, fall back to numpy
    assert sg.lambdify([X], big, dtype=np.float32)(np.float32(1)).dtype == np.float32
    assert not isinstance(sg.lambdify([X], big, out=True), numba_backend.NumbaFunction)

    def broken():
        raise RuntimeError("no LLVM today")

    monkeypatch.setattr(numba_backend, "interpreter", broken)
    with pytest.warns(UserWarning, match="numpy: numba could not compile .* no LLVM today"):
        assert not isinstance(sg.lambdify([X], big), numba_backend.NumbaFunction)
    monkeypatch.setattr(numba_backend, "numba_available", lambda: False)
    assert not isinstance(sg.lambdify([X], big), numba_backend.NumbaFunction)
    with pytest.raises(numba_backend.BackendUnavailableError, match="numba is not installed"):
        sg.lambdify([X], big, backend="numba")


@pytest.mark.usefixtures("interpreter")
def test_asking_numba_for_what_it_cannot_do_says_why():
    with pytest.raises(numba_backend.BackendUnavailableError, match="float64, not float32"):
        sg.lambdify([X], X + 1, backend="numba", dtype=np.float32)
    with pytest.raises(numba_backend.BackendUnavailableError, match="out="):
        sg.lambdify([X], X + 1, backend="numba", out=True)
    with pytest.raises(ValueError, match="backend must be one of auto, numpy, numba"):
        sg.lambdify([X], X + 1, backend="jax")
    with pytest.raises(ValueError, match="not in args: y"):
        sg.lambdify([X], X + Y, backend="numba")
    array_constant = X * sg.const(np.array([1.0, 2.0]))
    with pytest.raises(numba_backend.BackendUnavailableError, match="array constant"):
        sg.lambdify([X], array_constant, backend="numba")
    assert sg.lambdify([X], array_constant)(3.0).tolist() == [3.0, 6.0]  # auto: numpy
    weights = sg.matrix("W", (2, 2))
    with pytest.raises(numba_backend.BackendUnavailableError, match="not vectors or matrices"):
        sg.lambdify([weights], weights * 2, backend="numba")


def test_a_new_op_becomes_an_instruction_with_no_edit_here():
    hypot = Op(
        "hypot2",
        2,
        "np.hypot(a, b)",
        lambda a, b: sp.sqrt(a**2 + b**2),
        lambda a, b, out: (a / out, b / out),
    )
    with registered(hypot):
        assert kernels.scalar_source(hypot) == "np.hypot(a, b)"
        ops = [op for op in OPS.values() if kernels.scalar_source(op) is not None]
        source = kernels.interpreter_source(ops)
        code = ops.index(hypot)
        assert f"def op_{code}(a, b):  # hypot2\n    return np.hypot(a, b)" in source
        assert f"registers[d, j] = op_{code}(registers[a, j], registers[b, j])" in source
    cube_root = Op("cube_root", 1, "np.cbrt(a) + special.erf(a)", sp.cbrt, lambda a, b, out: (0,))
    assert kernels.scalar_source(cube_root) is None  # scipy has no numba form
    step = Op("step2", 1, "np.heaviside(a, 0.0)", sp.Heaviside, lambda a, b, out: (0,))
    assert kernels.scalar_source(step) is None  # numba has no scalar heaviside
    chosen = Op(
        "chosen",
        2,
        "np.where(a != 0, b, 0.0)",
        sp.Piecewise,
        lambda a, b, out: (0, 0),
        scalar="b if a != 0 else 0.0",
    )
    assert kernels.scalar_source(chosen) == "b if a != 0 else 0.0"


def test_the_cache_directory_falls_back_when_unwritable(monkeypatch, tmp_path):
    monkeypatch.setenv(kernels.CACHE_ENVIRONMENT, str(tmp_path / "cache"))
    assert kernels.cache_directory() == tmp_path / "cache"
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv(kernels.CACHE_ENVIRONMENT, str(blocked / "cache"))
    fallback = kernels.cache_directory()
    assert fallback.is_dir() and fallback.name.startswith("symgrad-cache-")


# --- bounded memory with numpy -------------------------------------------------------------


def logistic_derivative(steps: int):
    x = sg.var("x")
    value = x
    for _ in range(steps - 1):
        value = 4 * value * (1 - value)
    return x, sg.gradient(value, [x])[0]


def test_numpy_blocks_give_the_unblocked_results():
    f = sg.lambdify([X, Y], [X * Y + sg.sin(X), sg.const(3.0), Y], backend="numpy")
    inner = f.function.__wrapped__  # the generated function itself
    blocked = blocks.in_blocks(inner, block=7)
    x, y = np.linspace(-1, 1, 50).reshape(5, 10), np.arange(10.0)
    for ours, theirs in zip(blocked(x, y), inner(x, y), strict=True):
        np.testing.assert_array_equal(ours, np.broadcast_to(theirs, np.shape(ours)))
    # an output no argument reaches still takes the inputs' shape, ready to plot
    np.testing.assert_array_equal(blocked(x, y)[1], np.full((5, 10), 3.0))
    np.testing.assert_array_equal(blocked(y=y, x=x)[0], inner(x, y)[0])
    np.testing.assert_array_equal(blocked(x, np.float64(2.0))[0], inner(x, 2.0)[0])


def test_numpy_memory_stays_bounded_on_a_long_gradient(monkeypatch):
    # The reverse sweep keeps about 300 values alive: unblocked, 300 arrays of 40,000 floats
    # (96 MB); in blocks of 4096 points, about 10 MB.
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 1 << 20)
    x, derivative = logistic_derivative(150)
    f = sg.lambdify([x], derivative, backend="numpy")
    points = np.random.default_rng(0).uniform(0, 1, 40_000)
    tracemalloc.start()
    try:
        with np.errstate(all="ignore"):
            result = f(points)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30e6
    with np.errstate(all="ignore"):
        expected = f.function.__wrapped__(points[:1000])
    np.testing.assert_array_equal(result[:1000], expected)
