"""Rewriting graphs: the simplifier's rules and collecting engine, the matrix rules and
stabilize."""
