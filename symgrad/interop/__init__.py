"""Text and sympy: the parser, the sympy bridge and sympy's worker process."""
