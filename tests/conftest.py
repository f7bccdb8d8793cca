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
settings.load_profile("default")


@pytest.fixture(scope="session")
def sin_chain():
    """sin(sin(...sin(x))) 100,000 deep, built once for the tests of deep graphs."""
    x = sg.var("x")
    t = x
    for _ in range(100_000):
        t = sg.sin(t)
    return x, t
