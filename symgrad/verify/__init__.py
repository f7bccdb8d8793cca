"""Checking derivatives: against sympy (check), a claimed derivative (compare), accuracy
(advise)."""
