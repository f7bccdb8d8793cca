"""Computing values: evaluate, the generated numpy code, the numba tape, blocks, and exact
intervals."""
