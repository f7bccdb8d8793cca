"""Rewriting graphs: the one rewrite engine, with the simplifier's rules and collecting engine,
the matrix rules and stabilize's rows over it."""
