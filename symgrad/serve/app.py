"""The web app: one page with a form; a submitted form is analysed in a child process under a
time limit and shown below it. Binds to localhost unless told otherwise."""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from flask import Flask, render_template, request  # the serve extra

from symgrad.serve.analysis import FormInput, Section, analyse


class Limits(NamedTuple):
    """What one request may cost."""

    seconds: float = 30.0  # wall time of the analysis, then the child is stopped
    formula_chars: int = 2_000  # longer text in any field is refused before it is read
    request_bytes: int = 64 * 1024  # a bigger request body is refused by Flask (413)


DEFAULT_LIMITS = Limits()
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["symgrad.serve.analysis"])


def create_app(limits: Limits = DEFAULT_LIMITS) -> Flask:
    """The Flask app; `serve` runs it, tests call it through Flask's test client.

    >>> client = create_app().test_client()
    >>> client.get("/").status_code
    200
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = limits.request_bytes

    @app.route("/", methods=["GET", "POST"])
    def page() -> str:
        form = FormInput(**{field: request.form.get(field, "") for field in FormInput._fields})
        sections: list[Section] = []
        if request.method == "POST":
            sections = _analyse_within(form, limits)
        return render_template("page.html", form=form, sections=sections)

    @app.errorhandler(413)
    def too_large(error: Any) -> tuple[str, int]:
        message = f"the form is larger than {limits.request_bytes // 1024} KiB"
        return render_template("page.html", form=FormInput(""),
                               sections=[Section("error", "error", message)]), 413

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, limits: Limits = DEFAULT_LIMITS) -> None:
    """Serve the page on `host:port` until interrupted (waitress, a production WSGI server)."""
    import waitress  # the serve extra

    print(f"symgrad serve: open http://{host}:{port}/ (Ctrl-C stops it)")
    waitress.serve(create_app(limits), host=host, port=port, threads=4)


def _analyse_within(form: FormInput, limits: Limits) -> list[Section]:
    too_long = [field for field, text in form._asdict().items() if len(text) > limits.formula_chars]
    if too_long:
        return [Section("error", "error", f"{too_long[0]}: longer than "
                        f"{limits.formula_chars} characters")]
    if not form.formula.strip():
        return [Section("error", "error", "type a formula, like x*y + sin(x)**2")]
    # A child process can be stopped when it runs over; a thread could not be. The fork
    # server has symgrad loaded, so a child starts in milliseconds.
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_child, args=(form, sender), daemon=True)
    try:
        child.start()
    except Exception as error:
        return [Section("error", "error", f"the analysis could not start: {error}")]
    sender.close()
    try:
        if receiver.poll(limits.seconds):
            sections: list[Section] = receiver.recv()
            return sections
        return [Section("error", "error", f"the analysis took longer than {limits.seconds:g} s "
                        f"and was stopped; try a smaller formula")]
    except EOFError:
        return [Section("error", "error", "the analysis stopped without an answer")]
    finally:
        child.kill()
        child.join()
        receiver.close()


def _child(form: FormInput, sender: Connection) -> None:
    sender.send(analyse(form))
    sender.close()
