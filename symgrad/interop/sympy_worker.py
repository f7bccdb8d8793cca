"""sympy's work in a child process, under a time limit that holds wherever it is called from.

sympy can run for minutes on a small formula (its automatic evaluation asks for periodicity,
simplification of Piecewise logic), and a SIGALRM timer stops it only in the main thread,
with no other alarm pending, and never inside C code. So `run` hands the call to a worker
process and kills it when it does not answer in time. Workers are plain `python -c`
children (no re-run of the caller's script, safe beside threads), started once (about
0.8 s) and reused: a call then costs a round trip through a pipe, not a process start.
"""

from __future__ import annotations

import atexit
import os
import pickle
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from symgrad.interop.sympy_bridge import with_deep_stack

__all__ = ["SympyTimeoutError", "run"]

START_SECONDS = 120.0
"""How long a new worker may take to import sympy and symgrad before it counts as failed."""

MAX_IDLE = 4
"""Workers kept waiting for the next call (each holds sympy and symgrad: about 100 MB)."""

_READY = b"ready"


class SympyTimeoutError(TimeoutError):
    """sympy did not answer within the time limit; its worker process was killed."""


def _dumps(value: Any) -> bytes:
    """pickle.dumps, on a deep stack when the value is deep: pickling recurses once per level
    of a sympy expression (loading does not)."""
    try:
        return pickle.dumps(value)
    except RecursionError:
        return with_deep_stack(pickle.dumps, value)


# -c puts the working directory first on the path: it goes, so a folder named like a module
# there cannot stand in for symgrad or sympy
_START = "import sys; del sys.path[0]; from symgrad.interop.sympy_worker import _serve; _serve()"


class _Worker:
    """One child process answering calls sent through a pipe, one at a time."""

    def __init__(self) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-c", _START],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.to_child = Connection(os.dup(self.process.stdin.fileno()), readable=False)
        self.from_child = Connection(os.dup(self.process.stdout.fileno()), writable=False)
        self.process.stdin.close()
        self.process.stdout.close()
        self.ready = False

    def call(self, function: Callable[..., Any], args: tuple, seconds: float
             ) -> tuple[bool, Any]:
        """(True, the value) or (False, the exception) of function(*args) in the child."""
        if not self.ready:  # the first call waits for the imports, outside its own limit
            if not self.from_child.poll(START_SECONDS) or self.from_child.recv_bytes() != _READY:
                raise RuntimeError("the sympy worker process did not start")
            self.ready = True
        self.to_child.send_bytes(_dumps((function, args)))
        if not self.from_child.poll(seconds):
            raise SympyTimeoutError(f"sympy did not answer within {seconds:g} s")
        return pickle.loads(self.from_child.recv_bytes())

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self.to_child.close()
        self.from_child.close()


_idle: list[_Worker] = []
_lock = threading.Lock()


def _forget_workers() -> None:
    """In a forked child: the parent's workers are the parent's (their pipes are shared)."""
    global _idle, _lock
    _idle, _lock = [], threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def run(function: Callable[..., Any], *args: Any, seconds: float) -> Any:
    """function(*args) in a worker process; `SympyTimeoutError` when it has not answered
    after `seconds` (the worker is killed, and another starts for the next call).
    `function`, its arguments and its result travel by pickle; an exception it raises is
    raised here.

    >>> import operator
    >>> run(operator.add, 2, 3, seconds=60)
    5
    """
    with _lock:
        worker = _idle.pop() if _idle else None
    if worker is None:
        worker = _Worker()
    try:
        ok, value = worker.call(function, args, seconds)
    except BaseException as error:
        # out of time, interrupted, or the worker died: an answer still to come would reach
        # the next caller, so the worker goes
        worker.kill()
        if isinstance(error, SympyTimeoutError):  # its successor imports while the caller
            _give_back(_Worker())                 # goes on without sympy
        if isinstance(error, EOFError | BrokenPipeError | ConnectionResetError):
            raise RuntimeError("the sympy worker process ended without answering") from error
        raise
    _give_back(worker)
    if not ok:
        raise value
    return value


def _give_back(worker: _Worker) -> None:
    """Keep `worker` for the next call, unless MAX_IDLE already wait."""
    with _lock:
        kept = len(_idle) < MAX_IDLE
        if kept:
            _idle.append(worker)
    if not kept:  # many threads at once needed many workers: not all stay
        worker.kill()


def _answer(request: bytes) -> bytes:
    """The pickled (True, value) or (False, exception) of the pickled call `request`."""
    try:
        function, args = pickle.loads(request)
        return _dumps((True, function(*args)))
    except Exception as error:
        note = getattr(error, "add_note", None)
        if note is not None:  # the worker's traceback, which pickling drops
            note("in the sympy worker process:\n" + traceback.format_exc())
        try:
            answer = _dumps((False, error))
            pickle.loads(answer)  # some exceptions pickle but cannot be rebuilt
        except Exception:
            answer = _dumps((False, RuntimeError(f"{type(error).__name__}: {error}")))
        return answer


def _serve() -> None:
    """The worker's loop: answer each pickled (function, args) from stdin on stdout until
    stdin closes. Its own output goes to stderr, so nothing else reaches the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    requests = Connection(os.dup(0), writable=False)
    answers = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import symgrad  # noqa: F401  # late: the worker process loads symgrad before saying ready

    answers.send_bytes(_READY)
    while True:
        try:
            request = requests.recv_bytes()
        except EOFError:
            return
        answers.send_bytes(_answer(request))


@atexit.register
def _stop_all() -> None:
    with _lock:
        workers = list(_idle)
        _idle.clear()
    for worker in workers:
        worker.kill()

