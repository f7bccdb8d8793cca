"""The op rows: scalar ops (`scalar`), special functions (`special`) and tensor ops (`tensor`),
each declared once with what the rest asks of it."""

from symgrad.ops import special  # noqa: F401  (registers its rows as the package loads)
