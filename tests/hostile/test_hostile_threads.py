"""Graphs built from many threads at once: interning is one node per
structure under races, so parse + gradient give the right numbers, and a variable or a
labelled micrograd Value is one object per name."""

import math
import sys
import threading

import pytest

import symgrad as sg
from symgrad.micrograd import Value

THREADS = 8


@pytest.fixture
def switch_often():
    """Threads switch every microsecond, so check-then-create races would show."""
    interval = sys.getswitchinterval()
    unraisable = []
    hook = sys.unraisablehook
    sys.setswitchinterval(1e-6)
    sys.unraisablehook = unraisable.append  # e.g. a KeyError in a weakref callback
    yield
    sys.setswitchinterval(interval)
    sys.unraisablehook = hook
    assert not unraisable, [str(u.exc_value) for u in unraisable]


def _run_together(work, rounds: int) -> list:
    """work(round) in THREADS threads, all starting each round together; every result."""
    barrier = threading.Barrier(THREADS)
    results = [[] for _ in range(THREADS)]
    errors = []

    def run(index: int) -> None:
        try:
            for number in range(rounds):
                barrier.wait()
                results[index].append(work(number))
        except BaseException as error:  # reported in the main thread
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def test_parse_and_gradient_from_eight_threads(switch_often):
    def work(number: int) -> tuple:
        # new names every round, so every thread races to create the same new nodes
        x, y = f"x{number}", f"y{number}"
        f = sg.parse(f"{x}*{y} + {x}**2*{y} + sin({x}*{y})")
        dx, dy = sg.gradient(f, [sg.var(x), sg.var(y)])
        values = sg.evaluate([dx, dy], {x: 2.0, y: 3.0})
        return f, values

    results = _run_together(work, rounds=300)  # 2,400 parse + gradient calls
    expected = [3 + 12 + 3 * math.cos(6.0), 2 + 4 + 2 * math.cos(6.0)]
    wrong = [values for thread in results for _, values in thread if values != expected]
    assert not wrong, f"{len(wrong)} wrong gradients, e.g. {wrong[0]}"
    for number in range(300):  # every thread built the very same graph
        assert len({id(thread[number][0]) for thread in results}) == 1


def test_nodes_are_one_object_per_structure_across_threads(switch_often):
    def work(number: int) -> list:
        a, b = sg.var(f"a{number}"), sg.var(f"b{number}")
        return [sg.exp(a * b + i) for i in range(50)]

    results = _run_together(work, rounds=100)  # 40,000 expressions
    for number in range(100):
        for i in range(50):
            assert len({id(thread[number][i]) for thread in results}) == 1


@pytest.mark.filterwarnings("ignore::symgrad.micrograd.LabelClashWarning")  # 400 live "u"s
def test_labelled_values_get_distinct_names_across_threads(switch_often):
    results = _run_together(lambda number: Value(float(number), label="u"), rounds=50)
    values = [value for thread in results for value in thread]
    assert len({value.tensor.name for value in values}) == len(values)
    assert all(value.tensor.value == value.data for value in values)
