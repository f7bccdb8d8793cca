"""The graph itself: `Tensor` nodes and their interning, the `Op` type and the registry of ops,
shapes, folding as nodes are built, and the one reading of `wrt`."""
