"""Shared test settings: hypothesis runs a bounded number of examples with no deadline, so the
suite stays fast and never flakes on a slow machine."""

import os

import pytest
from hypothesis import HealthCheck, settings

import symgrad as sg

settings.register_profile(
    "default",
    max_examples=int(os.environ.get("SYMGRAD_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
# `make fuzz`: HYPOTHESIS_PROFILE=fuzz runs FUZZ_EXAMPLES (10^5) random cases per property
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100000")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=False,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def sin_chain():
    """sin(sin(...sin(x))) 100,000 deep, built once for the tests of deep graphs."""
    x = sg.var("x")
    t = x
    for _ in range(100_000):
        t = sg.sin(t)
    return x, t
