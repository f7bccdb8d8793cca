"""Smoke tests for the benchmark runner and its helpers (the benchmarks themselves are not run
by the suite: `python -m bench --quick` does that in well under a minute)."""

import time

from bench.__main__ import main
from bench.common import ratio_text, run_limited, seconds_text, table


def test_runner_runs_a_quick_workload_and_skips_missing_ones(capsys):
    assert main(["--quick", "--only", "gradient_scaling", "--only", "no_such_workload"]) == 0
    out = capsys.readouterr().out
    assert "no_such_workload: not present, skipped" in out
    assert "| Rosenbrock N = 10 | 71 |" in out
    assert "| chain, 60 steps |" in out


def test_run_limited_reports_what_it_reached_before_the_limit():
    def work(report):
        report("first", 1)
        time.sleep(30)
        report("second", 2)

    start = time.perf_counter()
    results = run_limited(work, 1.0)
    assert time.perf_counter() - start < 10
    assert results == {"first": 1, "timeout": 1.0}


def test_run_limited_reports_errors():
    def work(report):
        raise ValueError("bad")

    assert run_limited(work, 10) == {"error": "ValueError: bad"}


def test_formatting():
    assert seconds_text(2.5) == "2.50 s"
    assert seconds_text(0.0123) == "12.3 ms"
    assert seconds_text(None) == "—"
    assert ratio_text(3, 2) == "1.50x"
    assert ratio_text(300, 2) == "150x"
    assert ratio_text(1, None) == "—"
    assert table("T", ["a", "b"], [[1, 2]]) == "**T**\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n"
