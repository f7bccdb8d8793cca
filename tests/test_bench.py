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


def test_derivation_floor_replays_exactly_the_nodes_gradient_made():
    import symgrad as sg
    from bench.common import symgrad_library
    from bench.derivation_floor import _made_by_gradient, _replay
    from bench.rosenbrock import rosenbrock
    from symgrad.ir.graph import toposort

    f, variables = rosenbrock(symgrad_library(), 10)
    partials = sg.gradient(f, variables)
    steps = _made_by_gradient(f, partials)
    made = _replay(steps)
    of_f = set(toposort(f))
    assert len(made) == len(steps) == 62
    # interned: replaying through raw_node finds the very nodes gradient made
    assert set(made) == {n for n in toposort(partials) if n not in of_f and n.children}


def test_output_digest_is_deterministic_and_sees_every_expression():
    from bench.output_digest import outputs

    lines: list[str] = []
    first = outputs(40, depth=4, lines=lines)
    again = outputs(40, depth=4)
    assert first == again  # no output may depend on ids or the order nodes were made
    assert len(lines) == first.count == 40
    assert [line.split(" | ")[0] for line in lines] == [str(seed) for seed in range(40)]
    assert outputs(40, depth=5).sha256 != first.sha256
    assert first.gradient_ops > 0 and first.simplified_gradient_ops > 0



def test_recurrence_prints_a_row_per_workload_with_ratios(capsys, monkeypatch):
    import bench.recurrence as recurrence

    monkeypatch.setattr(recurrence, "QUICK_LEVELS", (5, 50))
    recurrence.main(quick=True)
    out = capsys.readouterr().out
    assert "| workload | time 5 | time 50 | ratio (10x levels) |" in out
    for workload in recurrence.WORKLOADS:
        row = next(line for line in out.splitlines() if line.startswith(f"| {workload.name} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1].endswith(("s", "ms", "µs")) and cells[2].endswith(("s", "ms", "µs"))
        assert cells[3].endswith("x") and cells[5].endswith("MB")  # (a ratio to 0 MB is —)
