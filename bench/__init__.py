"""Benchmarks: symgrad beside sympy and hand-written numpy. Run `python -m bench [--quick]`."""
