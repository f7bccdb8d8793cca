"""`symgrad serve`: a local web page where one types a formula and sees its partials, pictures,
the chain-rule table, sympy's verdict, the accuracy report and a check of one's own derivative.

The page is a Flask app served by waitress (the `serve` extra); each request's work runs in a
child process under a time limit, so one slow formula never holds the server.
"""

from symgrad.serve.analysis import FormInput, Section, analyse
from symgrad.serve.app import Limits, create_app, serve

__all__ = ["FormInput", "Limits", "Section", "analyse", "create_app", "serve"]
