"""The backends agree bit for bit where IEEE arithmetic is exact: the numba interpreter gives
numpy's signed zeros, NaNs and infinities for every op of the table (and the same floats to a
few ulps elsewhere, where numba's libm and numpy's loops round differently); compiled
functions check their arguments as `evaluate` does; the interpreter cache runs no code that
another user could have written."""

import math
import os
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import VARIABLES, X, Y, expressions

import symgrad as sg
from symgrad.backends import kernels
from symgrad.ir.op import OPS
from symgrad.ir.shapes import ShapeError

TINY, HUGE = 5e-324, 1.7976931348623157e308
SPECIALS = (
    -0.0, 0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, math.inf, -math.inf, math.nan,
    -math.nan, TINY, -TINY, 2.2250738585072014e-308, -2.2250738585072014e-308, 1e-310, 1e-300,
    -1e-300, 1e300, -1e300, HUGE, -HUGE, 0.1, 709.782712893384, 710.0, -710.0, -745.2, 40.0,
    -40.0, 1e-20, 3.5, 7.5, 1e16, 2.0**53 + 2,
)  # fmt: skip
special_values = st.one_of(st.sampled_from(SPECIALS), st.floats(allow_subnormal=True))

# numpy functions that are exact IEEE operations or selections: an op built from these alone
# passes a NaN through as the hardware does, so numpy defines its NaN's sign (elsewhere the
# sign of a NaN is the math library's choice, and only NaN-ness is compared). Between two
# NaNs IEEE leaves the choice open (and compilers swap a + b), so that is not compared.
EXACT = {
    "add", "subtract", "multiply", "divide", "negative", "absolute", "sqrt", "maximum",
    "minimum", "sign", "heaviside", "where", "less", "less_equal", "greater", "greater_equal",
    "equal", "not_equal",
}  # fmt: skip
ULPS = 4  # numba's libm and numpy's loops differ by this much at most on finite values


@pytest.fixture(scope="module")
def interpreter():
    pytest.importorskip("numba")
    return kernels.interpreter()


def exact_nan_sign(op) -> bool:
    source = op.source if isinstance(op.source, str) else "a function"
    calls = re.findall(r"(\w+)\.(\w+)", source)
    return all(module == "np" and name in EXACT for module, name in calls)


def mismatches(expected, actual, nan_sign: bool = True, ulps: int = ULPS) -> list[int]:
    """Positions where `actual` is not `expected`: NaN-ness, the sign of zeros, infinities
    and (with `nan_sign`) the sign of NaNs bit for bit; other finite values within `ulps`."""
    expected = np.atleast_1d(np.asarray(expected, dtype=np.float64))
    actual = np.atleast_1d(np.asarray(actual, dtype=np.float64))
    nan_e, nan_a = np.isnan(expected), np.isnan(actual)
    same_bits = expected.view(np.int64) == actual.view(np.int64)
    special = (expected == 0) | np.isinf(expected) | (actual == 0) | np.isinf(actual)
    both_nan = nan_e & nan_a
    bad = nan_e != nan_a
    if nan_sign:
        bad |= both_nan & (np.signbit(expected) != np.signbit(actual))
    finite = ~nan_e & ~nan_a
    bad |= finite & special & ~same_bits
    # floats of one sign are ordered as their bits: the difference counts ulps
    distance = np.abs(expected.view(np.int64) - actual.view(np.int64))
    opposite = np.signbit(expected) != np.signbit(actual)
    bad |= finite & ~special & (opposite | (distance > ulps))
    return np.flatnonzero(bad).tolist()


NUMBA_OPS = sorted(name for name, op in OPS.items() if kernels.scalar_source(op) is not None)
_compiled: dict[tuple[str, str], object] = {}


def compiled(name: str, backend: str = "numba"):
    """The op on its operands, compiled once per backend (an op with no numba form: numpy)."""
    if name not in NUMBA_OPS:
        backend = "numpy"
    if (name, backend) not in _compiled:
        op = OPS[name]
        arguments = [X] if op.arity == 1 else [X, Y]
        _compiled[name, backend] = sg.lambdify(arguments, op(*arguments), backend=backend)
    return _compiled[name, backend]


@pytest.mark.usefixtures("interpreter")
@pytest.mark.parametrize("name", sorted(OPS))
def test_each_op_gives_numpys_special_values_on_every_pair(name):
    # Every pair of SPECIALS, at points (run_point) and as arrays (run_blocks), against numpy
    # at points, which is what `evaluate` computes. (Every op has a numba form today; one
    # without is checked through the numpy backend's source instead.)
    op = OPS[name]
    values = np.array(SPECIALS)
    pairs = [np.repeat(values, len(values)), np.tile(values, len(values))]
    columns = [values] if op.arity == 1 else pairs
    points = list(zip(*(column.tolist() for column in columns), strict=True))
    f = compiled(name)
    with np.errstate(all="ignore"):
        expected = [op.numpy(*point) for point in points]
        at_points = [f(*point) for point in points]
        on_arrays = f(*columns)
    one_nan = np.sum(np.isnan(columns), axis=0) <= 1  # at most one NaN operand
    sign = exact_nan_sign(op)
    for actual in (at_points, on_arrays):
        wrong = [i for i in mismatches(expected, actual, sign) if one_nan[i]]
        wrong += [i for i in mismatches(expected, actual, False) if not one_nan[i]]
        assert not wrong, [(points[i], expected[i], np.asarray(actual)[i]) for i in wrong[:5]]


@pytest.mark.usefixtures("interpreter")
@given(st.sampled_from(sorted(OPS)), special_values, special_values)
def test_every_op_agrees_with_numpy_and_evaluate_at_any_float(name, a, b):
    op = OPS[name]
    point = (a,) if op.arity == 1 else (a, b)
    env = dict(zip(("x", "y"), point))
    expression = op(X) if op.arity == 1 else op(X, Y)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = op.numpy(*point)
        actual = [
            compiled(name)(*point),
            compiled(name)(*(np.array([v, v, v]) for v in point))[0],
            compiled(name, "numpy")(*point),
            sg.evaluate(expression, env),
        ]
    sign = exact_nan_sign(op) and sum(math.isnan(v) for v in point) <= 1
    for value in actual:
        assert not mismatches(expected, value, sign), (point, expected, actual)


@pytest.mark.usefixtures("interpreter")
@given(expressions(smooth=False), st.tuples(*[st.sampled_from(SPECIALS)] * 3))
def test_formulas_agree_at_special_points(expression, values):
    # Random formulas, numba against numpy at points; values reach every op at a special
    # point through the guards too (sigmoid(inf) = 1, the edge of a domain). The ops' ulps
    # of difference grow through a formula (6*sigmoid(a) - 3 cancels): finite values that
    # are not zero agree to 2**-20 (2**32 ulps).
    assert_backends_agree(expression, values, 2**32)


def assert_backends_agree(expression: sg.Tensor, values: tuple, ulps: int) -> None:
    """numba at a point and on arrays gives numpy's value, within `ulps` where finite."""
    numba = sg.lambdify(VARIABLES, expression, backend="numba")
    numpy = sg.lambdify(VARIABLES, expression, backend="numpy")
    with np.errstate(all="ignore"):
        expected = numpy(*values)
        at_point = numba(*values)
        on_arrays = numba(*(np.full(3, value) for value in values))
    for actual in (at_point, on_arrays[0]):
        assert not mismatches(expected, actual, False, ulps), (values, numpy.source, expected,
                                                              actual)


EXACT_OPS = [name for name in NUMBA_OPS if exact_nan_sign(OPS[name])]


def exact_formulas() -> st.SearchStrategy[sg.Tensor]:
    """Random formulas of the exact ops (no guards: every value is fine for them), with
    special constants."""
    unary = [OPS[name] for name in EXACT_OPS if OPS[name].arity == 1]
    binary = [OPS[name] for name in EXACT_OPS if OPS[name].arity == 2]
    leaves = st.one_of(st.sampled_from(VARIABLES), st.sampled_from(SPECIALS).map(sg.const))
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.builds(lambda op, a: op(a), st.sampled_from(unary), children),
            st.builds(lambda op, a, b: op(a, b), st.sampled_from(binary), children, children),
        ),
        max_leaves=12,
    )


@pytest.mark.usefixtures("interpreter")
@given(exact_formulas(), st.tuples(*[special_values] * 3))
def test_formulas_of_exact_ops_agree_bit_for_bit(expression, values):
    # Where every op is exactly rounded, nothing may differ by one ulp (a NaN's sign may:
    # nan + (-nan) is either, as IEEE has it).
    assert_backends_agree(expression, values, 0)


# --- the reported cases ----------------------------------------------------------------------


@pytest.mark.usefixtures("interpreter")
def test_atan2_of_relu_at_negative_zero_is_the_same_everywhere():
    z = sg.var("z")
    formula = sg.erfc(sg.atan2(z, sg.relu(z)))  # relu(-0.0) is 0.0: atan2(-0.0, 0.0) = -0.0
    assert sg.lambdify([z], [formula], backend="numba")(-0.0) == (1.0,)
    assert sg.lambdify([z], [formula], backend="numpy")(-0.0) == (1.0,)
    assert sg.evaluate(formula, {"z": -0.0}) == 1.0
    for op in (sg.relu, sg.sign):
        value = sg.lambdify([z], op(z), backend="numba")(-0.0)
        assert value == 0.0 and math.copysign(1.0, value) == 1.0
    for formula in (sg.max(z, 0.0), sg.max(0.0, z), sg.min(z, 0.0), sg.min(0.0, z)):
        value = sg.lambdify([z], formula, backend="numba")(-0.0)  # numpy: a tie gives b
        assert math.copysign(1.0, value) == math.copysign(1.0, sg.evaluate(formula, {"z": -0.0}))


@pytest.mark.usefixtures("interpreter")
def test_power_takes_numpys_rules_for_a_half():
    f = sg.lambdify([X, Y], X**Y, backend="numba")
    with np.errstate(invalid="ignore"):
        assert math.isnan(f(-math.inf, 0.5))  # numpy: sqrt(-inf), not pow's inf
        assert math.copysign(1.0, f(-0.0, 0.5)) == -1.0
        assert math.isnan(f(np.array([-math.inf, 4.0]), 0.5)[0])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_negated_product_keeps_numpys_nan(backend):
    # -(x/x) at 0 is -(default NaN), positive; the numpy backend wrote -x/x, a negative NaN
    if backend == "numba":
        pytest.importorskip("numba")
    for formula, point in [(-(X / X), (0.0, 1.0)), (-(X * Y), (0.0, math.inf))]:
        with np.errstate(invalid="ignore"):
            expected = sg.evaluate(formula, dict(zip("xy", point)))
            value = sg.lambdify([X, Y], formula, backend=backend)(*point)
        assert math.isnan(value) and not np.signbit(value) and not np.signbit(expected)


def test_unused_arguments_keep_negative_zero():
    f = sg.lambdify([X, Y], [-X, sg.const(-0.0)], backend="numpy")
    for value in (f(0.0, 1.0), f(np.zeros(2), np.ones(2))):
        assert np.all(np.signbit(value[0])) and np.all(np.signbit(value[1]))


def test_declared_shapes_are_checked_as_evaluate_checks_them():
    m, n = 3, 2
    yn, wn = sg.vector("yn", m), sg.matrix("Wn", (m, n))
    named = sg.vector("v", "k")
    f = sg.lambdify([yn, wn], yn @ wn)
    for shape in [(1,), (2, 3), ()]:
        with pytest.raises(ShapeError, match="'yn' has shape"):
            sg.evaluate(yn @ wn, {"yn": np.ones(shape), "Wn": np.ones((m, n))})
        with pytest.raises(ShapeError, match="'yn' has shape"):
            f(np.ones(shape), np.ones((m, n)))
    with pytest.raises(ShapeError, match="'Wn' has shape"):
        f(yn=np.ones(m), Wn=np.ones((n, m)))
    assert f(np.ones(m), np.ones((m, n))).tolist() == [3.0, 3.0]
    g = sg.lambdify([named, yn], named * 2 + sg.sum(yn))  # a named dimension binds once
    assert g(np.ones(5), np.ones(m)).shape == (5,)


@pytest.mark.parametrize("name", ["np", "ｎｐ", "sigmoid", "special", "ｉｆ", "__debug__"])
def test_a_function_name_cannot_hide_what_the_code_calls(name):
    with pytest.raises(ValueError, match="name"):
        sg.lambdify([X], sg.sigmoid(X), name=name)
    with pytest.raises(ValueError, match="name"):
        sg.codegen(sg.sigmoid(X), name=name)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_huge_integers_are_infinite_as_in_evaluate(backend):
    if backend == "numba":
        pytest.importorskip("numba")
    f = sg.lambdify([X, Y], [X + 1, X * Y], backend=backend)
    assert sg.evaluate([X + 1, X * Y], {"x": 10**400, "y": -1}) == [math.inf, -math.inf]
    assert f(10**400, -1) == (math.inf, -math.inf)
    assert f(-(10**400), np.ones(2))[1].tolist() == [-math.inf, -math.inf]


DTYPES = sorted({*np.sctypeDict, "U5", "datetime64[s]", "m8", "V4", "c8", "garbage"}, key=str)


@given(st.sampled_from([*DTYPES, object, bool, int, float, complex, str, np.float32, None]))
def test_dtype_takes_real_floating_types_only(dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy's aliases 'a', 'bytes0'
        try:
            floating = np.dtype(dtype).kind == "f"
        except TypeError:
            floating = False
        if not floating and dtype is not None:
            with pytest.raises(TypeError, match="dtype must be a real floating type"):
                sg.lambdify([X], X + 1, dtype=dtype)
            with pytest.raises(TypeError, match="dtype must be a real floating type"):
                sg.codegen(X + 1, dtype=dtype)
            return
        f = sg.lambdify([X], X / 3, dtype=dtype, backend="numpy")
    result = f(np.array([1.0, -0.0]))
    assert result.dtype == np.dtype(dtype or float)
    assert np.signbit(result).tolist() == [False, True]


# --- the interpreter cache ------------------------------------------------------------------


class Planted:
    """Files that create `marker` if anything runs or unpickles them."""

    def __init__(self, marker: Path):
        self.code = f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        self.pickle = pickle.dumps(_Touch(marker))

    def plant(self, directory: Path, module_name: str, cache_files: list[str]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / module_name).write_text(self.code)
        (directory / "__pycache__").mkdir(exist_ok=True)
        for cache_file in cache_files:
            (directory / "__pycache__" / cache_file).write_bytes(self.pickle)


class _Touch:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """The temporary directory is `tmp_path`, and the process's fresh private cache one in it."""
    monkeypatch.setattr(kernels.tempfile, "tempdir", str(tmp_path))
    directory = kernels._fresh_directory.__wrapped__()
    monkeypatch.setattr(kernels, "_fresh_directory", lambda: directory)
    return directory


def test_a_cache_directory_others_can_write_is_refused(monkeypatch, tmp_path, fresh):
    shared, fallback = tmp_path / "shared", tmp_path / f"symgrad-cache-{os.getuid()}"
    marker = tmp_path / "ran"
    for directory in (shared, fallback):
        Planted(marker).plant(directory, "symgrad_interpreter_0.py", ["x.nbi"])
        directory.chmod(0o777)
    monkeypatch.setenv(kernels.CACHE_ENVIRONMENT, str(shared))
    refused = f"refuses a cache directory: {shared} is writable by others"
    with pytest.warns(UserWarning, match=refused) as caught:
        assert kernels.cache_directory() == fresh
    assert str(fallback) in str(caught[0].message) and str(fresh) in str(caught[0].message)
    assert fresh.name.startswith("symgrad-cache-") and fresh.stat().st_mode & 0o777 == 0o700
    assert not marker.exists()


def test_a_refused_directory_is_named_when_the_fallback_serves(monkeypatch, tmp_path, fresh):
    shared, fallback = tmp_path / "shared", tmp_path / f"symgrad-cache-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o775)
    monkeypatch.setenv(kernels.CACHE_ENVIRONMENT, str(shared))
    named = f"{re.escape(str(shared))} is writable by others .* in {re.escape(str(fallback))};"
    with pytest.warns(UserWarning, match=named):
        assert kernels.cache_directory() == fallback
    assert fallback.stat().st_mode & 0o777 == 0o700


def test_a_cache_directory_of_another_user_is_refused(monkeypatch, tmp_path, fresh):
    mine = tmp_path / "cache"
    mine.mkdir(mode=0o700)
    monkeypatch.setenv(kernels.CACHE_ENVIRONMENT, str(mine))
    monkeypatch.setattr(kernels.os, "getuid", lambda: os.stat(mine).st_uid + 1)
    with pytest.warns(UserWarning, match=f"{mine} is owned by uid"):
        assert kernels.cache_directory() == fresh


def test_an_open_pycache_loses_what_others_could_have_written(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    pycache = cache / "__pycache__"
    pycache.mkdir()
    (pycache / "theirs.nbi").write_bytes(b"planted")
    (pycache / "theirs.nbi").chmod(0o666)
    (pycache / "mine.nbi").write_bytes(b"ours")
    (pycache / "mine.nbi").chmod(0o644)
    pycache.chmod(0o777)
    monkeypatch.setenv(kernels.CACHE_ENVIRONMENT, str(cache))
    assert kernels.cache_directory() == cache
    assert sorted(p.name for p in pycache.iterdir()) == ["mine.nbi"]
    assert pycache.stat().st_mode & 0o777 == 0o700


def test_a_planted_interpreter_file_never_runs(monkeypatch, tmp_path):
    # A private cache directory, but a file of the interpreter's name with other content
    # (damaged, or planted while the directory was another's): it is replaced, and the
    # module runs from the generated text, never from the file.
    monkeypatch.setenv(kernels.CACHE_ENVIRONMENT, str(tmp_path / "cache"))
    marker = tmp_path / "ran"
    source = "VALUE = 42\n"
    path = kernels._written(source)
    path.write_text(Planted(marker).code)
    assert kernels._written(source) == path and path.read_text() == source
    path.write_text(Planted(marker).code)  # changed after the check
    assert kernels._imported(path, source).VALUE == 42
    assert not marker.exists()


@pytest.mark.usefixtures("interpreter")
def test_lambdify_runs_nothing_planted_in_a_shared_fallback(monkeypatch, tmp_path):
    # A daemon user with no writable home: the cache falls back to the temporary directory,
    # where another user planted the interpreter's module and numba cache files.
    real = kernels.interpreter().path
    marker = tmp_path / "ran"
    fallback = tmp_path / f"symgrad-cache-{os.getuid()}"
    cache_files = [p.name for p in (real.parent / "__pycache__").iterdir() if real.stem in p.name]
    Planted(marker).plant(fallback, real.name, cache_files)
    fallback.chmod(0o777)
    monkeypatch.setenv(kernels.CACHE_ENVIRONMENT, str(tmp_path / "file" / "not a directory"))
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(kernels.tempfile, "tempdir", str(tmp_path))
    # The refused directory's stand-in: the real cache, so that numba loads, not compiles.
    monkeypatch.setattr(kernels, "_fresh_directory", lambda: real.parent)
    kernels._interpreter.cache_clear()
    try:
        with pytest.warns(UserWarning, match=f"refuses a cache directory: {fallback} is"):
            f = sg.lambdify([X], X * 2 + 1, backend="numba")
        assert f(2.0) == 5.0
        assert kernels.interpreter().path == real
    finally:
        kernels._interpreter.cache_clear()
    assert not marker.exists()
