"""Smoke tests for `python -m bench --peers`'s helpers (the peers themselves, CasADi and JAX,
are the bench extra's and are not needed by the suite)."""

import numpy as np

from bench.peers import agree, peak_rss


def test_agreement_is_the_share_of_each_peers_values_equal_to_ours():
    ours = [1.0, 2.0, np.inf, np.nan]
    theirs = {"symgrad": ours, "casadi": [1.0, 2.0, np.inf, np.nan], "jax": [1.0, 2.1, 0, np.nan]}
    assert agree(theirs) == "CasADi 100%, JAX 50%"
    assert agree({"symgrad": [1.0], "jax": [1.0 + 1e-7]}, rtol=1e-6) == "JAX 100%"
    assert agree({"casadi": [1.0]}) == "—"


def test_peak_memory_is_at_least_what_this_process_holds():
    block = np.ones(50_000_000 // 8)  # 50 MB, touched
    assert peak_rss() > block.nbytes
