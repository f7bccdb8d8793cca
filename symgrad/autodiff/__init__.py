"""Differentiation: forward and reverse sweeps over the graph, for scalars and tensors."""
