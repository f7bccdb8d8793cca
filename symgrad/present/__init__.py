"""Showing graphs to people: text, LaTeX, order, notebook display, pictures and explain tables."""
