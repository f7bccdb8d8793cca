"""The compiled backend: an interpreter for tapes (`symgrad.backends.tape`), written from the op
table and compiled by numba once per machine (its disk cache), so a new graph costs only its tape.

Two loops share the op dispatch: `run_point` executes a tape once on scalars (one slot is
one float), and `run_blocks` runs it over blocks of points (one slot is a row of `block`
floats), so arrays of any length take bounded memory and each instruction's inner loop is
plain vectorizable arithmetic over data in cache. Their source is generated from the op table:
every op with a scalar form numba compiles (`scalar_source`) is an instruction, so a new op
needs no edit here; a graph using another op evaluates with numpy instead.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import os
import re
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import numpy as np

from symgrad.ir.op import OPS, Op

CACHE_ENVIRONMENT = "SYMGRAD_CACHE_DIR"
"""Where the generated interpreter and numba's compiled code live: this variable if set,
else `$XDG_CACHE_HOME/symgrad` (`~/.cache/symgrad`), else a directory under the system's
temporary directory when that is not writable; only a directory private to the user
(`cache_directory` says which one is in use)."""


def numba_available() -> bool:
    """Is numba importable (the `numba` extra)?"""
    return importlib.util.find_spec("numba") is not None


def scalar_source(op: Op) -> str | None:
    """The op's scalar expression of `a` (and `b`) if numba compiles it, else None: its
    `scalar` source, or its numpy `source` when that calls only ufuncs numba has for scalars
    (numba then emits the same libm calls or instructions numpy makes). A ufunc whose numba
    form departs from numpy's (`NUMPY_FORMS`) is called by the name of numpy's rule instead.

    >>> from symgrad.ir.op import OPS
    >>> scalar_source(OPS["sigmoid"])
    'np.exp(-np.logaddexp(0.0, -a))'
    >>> scalar_source(OPS["relu"])  # numba's np.maximum keeps -0.0 where numpy gives 0.0
    'numpy_maximum(a, 0.0)'
    >>> scalar_source(OPS["step"])  # np.heaviside has no numba form: the op declares one
    '1.0 if a > 0.0 else (0.0 if a == a else math.nan)'
    """
    text = op.scalar or (op.source if isinstance(op.source, str) else None)
    if text is None:
        return None
    for module, name in re.findall(r"\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)", text):
        if module == "np":
            known = getattr(np, name, None) in _numba_ufuncs()
        elif module == "special":
            known = name in cython_exports()
        else:
            known = module == "math" and hasattr(math, name)  # functions and constants
        if not known:
            return None
    return re.sub(
        r"\bnp\.(\w+)\(",
        lambda call: f"numpy_{call[1]}(" if call[1] in NUMPY_FORMS else call[0],
        text,
    )


# The scipy.special functions of doubles an op's source may call as `special.<name>` and still
# compile, with their operand counts: bound for numba by `symgrad.backends.cython_special` to
# the C functions scipy's cython_special exports. (lambertw is complex-valued there, polygamma
# and sinc are Python: those ops evaluate with numpy.)
CYTHON_SPECIAL: dict[str, int] = {
    "gamma": 1, "gammaln": 1, "psi": 1, "beta": 2, "gammainc": 2, "logit": 1, "xlogy": 2,
    "xlog1py": 2, "entr": 1, "erfinv": 1, "erfcinv": 1, "erfcx": 1, "ndtri": 1, "log_ndtr": 1,
    "i0": 1, "i1": 1, "j0": 1, "j1": 1,
}


@cache
def cython_exports() -> dict[str, str]:
    """The C function scipy exports for each name of `CYTHON_SPECIAL` it has one of double
    operands for: `gamma` is `__pyx_fuse_1gamma` (its fused variant of doubles), `beta` is
    `beta`. Found by signature, as the variants' numbering differs between scipy versions.

    >>> cython_exports()["gamma"]
    '__pyx_fuse_1gamma'
    """
    capsules = importlib.import_module("scipy.special.cython_special").__pyx_capi__
    found = {}
    for exported, capsule in capsules.items():
        name = re.sub(r"^__pyx_fuse_\d+", "", exported)
        arity = CYTHON_SPECIAL.get(name)
        wanted = f'"double ({", ".join(["double"] * (arity or 0))}, int __pyx_skip_dispatch)"'
        if arity is not None and wanted in repr(capsule):
            found[name] = exported
    return found


# numpy's rules for the ufuncs whose numba scalar forms depart from them (found by the
# backends' bit-for-bit test over the op table); the interpreter defines `numpy_<name>`.
NUMPY_FORMS = {
    # numpy answers a tie with b (maximum(-0.0, 0.0) is 0.0) and a NaN with the first NaN;
    # numba answers a tie with a
    "maximum": ("a, b", "a if a > b or a != a else b"),
    "minimum": ("a, b", "a if a < b or a != a else b"),
    # numpy's mod (remainder) is fmod moved to the sign of b, a zero result taking b's sign
    # too (mod(-0.0, -1.0) is -0.0); numba's zero is 0.0
    "mod": (
        "a, b",
        "np.copysign(0.0, b) if np.fmod(a, b) == 0.0 else (np.fmod(a, b) + b "
        "if (b < 0.0) != (np.fmod(a, b) < 0.0) else np.fmod(a, b))",
    ),
    # sign(-0.0) is 0.0 in numpy, -0.0 in numba
    "sign": ("a", "1.0 if a > 0.0 else (-1.0 if a < 0.0 else (0.0 if a == 0.0 else a))"),
    # numpy's loop takes these exponents, when the exponent is one number (a formula's
    # constant, or every operand at one point), by the operations they stand for: so
    # (-0.0)**0.5 is -0.0 and (-inf)**0.5 is NaN, as sqrt has them (pow gives 0.0 and inf)
    "power": (
        "a, b",
        "np.sqrt(a) if b == 0.5 else (a * a if b == 2.0 else (1.0 / a if b == -1.0 "
        "else np.power(a, b)))",
    ),
}


@cache
def _numba_ufuncs() -> frozenset:
    from numba.np.ufunc_db import get_ufuncs

    return frozenset(get_ufuncs())


class Interpreter(NamedTuple):
    """The compiled loops and the ops they know: `ops[code]` is the op of an op code."""

    ops: tuple[Op, ...]
    opcodes: dict[Op, int]
    run_point: Callable[..., None]  # run_point(code, registers): one float per slot
    # run_blocks(code, registers, inputs, input_slots, results, output_slots, first, stop):
    # points first .. stop - 1, a block at a time; registers hold one block
    run_blocks: Callable[..., None]
    path: Path  # the generated module's file, in `cache_directory()`


def interpreter_source(ops: Sequence[Op]) -> str:
    """The Python source of the interpreter module for `ops` (op code = position): one
    small function per op, called from both loops (LLVM inlines them)."""
    functions, point_cases, block_cases = [], [], []
    for name, (parameters, body) in NUMPY_FORMS.items():
        functions.append(
            f'@numba.njit(error_model="numpy")\ndef numpy_{name}({parameters}):\n'
            f"    return {body}\n"
        )
    for code, op in enumerate(ops):
        parameters = "a" if op.arity == 1 else "a, b"
        functions.append(
            f'@numba.njit(error_model="numpy")\ndef op_{code}({parameters}):  # {op.name}\n'
            f"    return {scalar_source(op)}\n"
        )
        keyword = "if" if code == 0 else "elif"
        point = "registers[a]" if op.arity == 1 else "registers[a], registers[b]"
        block = "registers[a, j]" if op.arity == 1 else "registers[a, j], registers[b, j]"
        point_cases.append(f"        {keyword} op == {code}:\n")
        point_cases.append(f"            registers[d] = op_{code}({point})\n")
        block_cases.append(f"            {keyword} op == {code}:\n")
        block_cases.append("                for j in range(m):\n")
        block_cases.append(f"                    registers[d, j] = op_{code}({block})\n")
    return _TEMPLATE.format(
        functions="\n\n".join(functions),
        point_decode=textwrap.indent(_DECODE, " " * 4),
        point="".join(point_cases),
        block_decode=textwrap.indent(_DECODE, " " * 8),
        block="".join(block_cases),
    )


# Both loops read an instruction alike: op code, destination slot, operand slots.
_DECODE = """for i in range(code.shape[0]):
    op = code[i, 0]
    d = code[i, 1]
    a = code[i, 2]
    b = code[i, 3]
"""

# error_model="numpy": division by zero gives inf or nan, as in numpy, instead of raising.
# No fastmath: results agree with the numpy backend to rounding.
_TEMPLATE = '''"""Generated by symgrad.backends.kernels from the op table: do not edit."""

import math

import numba
import numpy as np

from symgrad.backends import cython_special as special


{functions}

@numba.njit(cache=True, error_model="numpy", nogil=True)
def run_point(code, registers):
{point_decode}{point}

@numba.njit(cache=True, error_model="numpy", nogil=True)
def run_blocks(code, registers, inputs, input_slots, results, output_slots, first, stop):
    block = registers.shape[1]
    for start in range(first, stop, block):
        m = min(block, stop - start)
        for k in range(input_slots.shape[0]):
            s = input_slots[k]
            for j in range(m):
                registers[s, j] = inputs[k, start + j]
{block_decode}{block}
        for k in range(output_slots.shape[0]):
            s = output_slots[k]
            for j in range(m):
                results[k, start + j] = registers[s, j]
'''


def cache_directory() -> Path:
    """The directory holding the generated interpreter and numba's compiled code for it.

    The first of `$SYMGRAD_CACHE_DIR` (if set) or `$XDG_CACHE_HOME/symgrad`
    (`~/.cache/symgrad`), then `<temporary directory>/symgrad-cache-<uid>`, that is writable
    and private: owned by this user, writable by no one else (made with mode 0700). numba's
    cache files there are pickles, which run code as they load, so a directory others can
    write is refused with a warning naming it; when no candidate will do, the cache is a
    fresh private directory for this process only (numba compiles again in each process).

    >>> directory = cache_directory()
    >>> directory.is_dir() and not directory.stat().st_mode & 0o022
    True
    """
    configured = os.environ.get(CACHE_ENVIRONMENT)
    if configured:
        candidates = [Path(configured)]
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        candidates = [Path(base) / "symgrad"]
    # A fresh CI machine or a read-only home still gets a cache, under the temporary directory.
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    candidates.append(Path(tempfile.gettempdir()) / f"symgrad-cache-{user}")
    refused = []
    chosen = None
    for directory in candidates:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            continue
        if not os.access(directory, os.W_OK | os.X_OK):
            continue
        try:
            problem = _not_private(directory)
        except OSError as error:  # a file where __pycache__ should be, or the like
            problem = f"{directory}: {error}"
        if problem is None:
            chosen = directory
            break
        refused.append(problem)
    if chosen is None:
        chosen = _fresh_directory()
        where = f"{chosen}, for this process only"
    else:
        where = str(chosen)
    if refused:
        warnings.warn(
            f"symgrad refuses a cache directory: {'; '.join(refused)}, so others could plant "
            f"code there. The numba interpreter is cached in {where}; make a directory of "
            f"yours private (chmod 700), or set {CACHE_ENVIRONMENT} to one.",
            stacklevel=2,
        )
    return chosen


def _not_private(directory: Path) -> str | None:
    """Why code in `directory` could have been written by another user, or None when only
    this user (and root) could have written what numba will load from it: the directory is
    theirs and no one else may write it, nor numba's `__pycache__` in it, which is made 0700
    (entries that others could have written while it was open are deleted: numba compiles
    them again)."""
    if not hasattr(os, "getuid"):  # Windows: no POSIX owners; the user's profile has its ACL
        return None
    uid = os.getuid()
    mode = os.stat(directory).st_mode
    problem = _not_owned(directory, uid)
    if problem is None and mode & 0o022:
        problem = f"{directory} is writable by others (mode {mode & 0o777:o})"
    if problem is not None:
        return problem
    pycache = directory / "__pycache__"
    pycache.mkdir(mode=0o700, exist_ok=True)
    problem = _not_owned(pycache, uid)
    if problem is None and os.stat(pycache).st_mode & 0o077:
        os.chmod(pycache, 0o700)
        for entry in pycache.iterdir():
            status = os.lstat(entry)
            if status.st_uid != uid or status.st_mode & 0o022:
                entry.unlink()
    return problem


def _not_owned(path: Path, uid: int) -> str | None:
    """Why `path` (a symbolic link, or its target) is not the user's, or None."""
    for status in (os.lstat(path), os.stat(path)):
        if status.st_uid != uid:
            return f"{path} is owned by uid {status.st_uid}, not {uid}"
    return None


@cache
def _fresh_directory() -> Path:
    return Path(tempfile.mkdtemp(prefix="symgrad-cache-"))  # mode 0700, a new name


def interpreter() -> Interpreter:
    """The interpreter for every op of the table with a scalar form, compiled (or loaded from
    numba's cache) on first use in a process, and again if the table gains such an op."""
    return _interpreter(tuple(op for op in OPS.values() if scalar_source(op) is not None))


@cache
def _interpreter(ops: tuple[Op, ...]) -> Interpreter:
    source = interpreter_source(ops)
    path = _written(source)
    # One process compiles while any others wait, then load what it cached (the test suite's
    # workers start together on a fresh machine).
    with _exclusive(path.with_suffix(".lock")):
        module = _imported(path, source)
        # numba sets up its compiler target on the first call of a process (about a second,
        # and the disk cache is read then): pay that here, with empty tapes, not in a call.
        empty = np.zeros((0, 4), dtype=np.int64)
        no_slots = np.zeros(0, dtype=np.int64)
        module.run_point(empty, np.zeros(1))
        module.run_blocks(
            empty, np.zeros((1, 1)), np.zeros((0, 1)), no_slots, np.zeros((0, 1)), no_slots, 0, 1
        )
    return Interpreter(
        ops=ops,
        opcodes={op: code for code, op in enumerate(ops)},
        run_point=module.run_point,
        run_blocks=module.run_blocks,
        path=path,
    )


def _written(source: str) -> Path:
    """`source` in a file named by its hash: numba caches compiled functions beside their
    source file, keyed by its path and time stamp, which never change once written. A file
    of that name with other content (damaged, or planted) is replaced."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    path = cache_directory() / f"symgrad_interpreter_{digest}.py"
    try:
        present = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        present = None
    except (OSError, UnicodeDecodeError):
        present = ""
    if present == source:
        return path
    # Written aside, then put in place in one step: a process running concurrently never
    # imports half a file. An absent file is linked only if still absent, so its time
    # stamp never changes under another process; one with other content is replaced.
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(source)
        if present is None:
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass
        else:
            os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def _imported(path: Path, source: str) -> ModuleType:
    """The module of `source`, run from that text (never from the file, which another
    process could change after it was checked), with `path` as its file, for numba's cache."""
    module = ModuleType(path.stem)
    module.__file__ = str(path)
    sys.modules[path.stem] = module
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (where the system has file locks)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock; a concurrent process compiles once more
        yield
        return
    with open(path, "a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)
