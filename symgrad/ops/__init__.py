"""The op rows: scalar ops (`scalar`), special functions (`special`), tensor ops (`tensor`) and
linear algebra (`linalg`), each declared once with what the rest asks of it, and the mpmath
interval forms the rows name (`intervals`)."""

from symgrad.ops import special  # noqa: F401  (registers its rows as the package loads)
