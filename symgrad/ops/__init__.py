"""The op rows: scalar ops (`scalar`) and tensor ops (`tensor`), each declared once with what the
rest asks of it, and the mpmath interval forms the rows name (`intervals`)."""
