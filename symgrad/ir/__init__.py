"""The graph itself: `Tensor` nodes and their interning, shapes, folding as nodes are built, and
the one reading of `wrt`."""
