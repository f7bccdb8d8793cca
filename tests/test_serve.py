"""`symgrad serve`: the page's analysis, its limits, and the page in a real browser (Debian's
chromium driven by playwright): type a formula, submit, see the pictures and the tables; a bad
formula shows the parser's caret in the page, never a server error."""

import os
import shutil
import threading
from pathlib import Path

import pytest
import waitress
from playwright.sync_api import sync_playwright

from symgrad.cli import main
from symgrad.serve import FormInput, Limits, analyse, create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Where the browser test leaves its screenshots for the docs site, when asked.
SCREENSHOTS = os.environ.get("SYMGRAD_SCREENSHOTS")


def sections(form: FormInput) -> dict[str, tuple[str, str]]:
    return {section.title: (section.kind, section.body) for section in analyse(form)}


def test_a_scalar_formula_gets_every_section():
    shown = sections(FormInput("x*y + sin(x)**2", wrt="x", at="x=2, y=3", claimed="y + cos(x)"))
    assert list(shown) == [
        "formula", "partial derivatives", "the formula at the point",
        "the gradient graph beside it", "the chain rule, step by step", "against sympy",
        "accuracy in floating point", "your derivative by x",
    ]
    assert all(kind != "error" for kind, _ in shown.values())
    assert shown["the formula at the point"][1].startswith("<svg")
    assert "<mfrac>" in shown["partial derivatives"][1]
    assert "= y + 2*sin(x)*cos(x) = 2.2432" in shown["the chain rule, step by step"][1]
    assert shown["against sympy"][1].startswith("d/dx: agree")
    assert shown["your derivative by x"][1].startswith("wrong: the claimed")


def test_a_vector_formula_is_summed_and_differentiated_by_the_vector():
    shown = sections(FormInput("(v - y)**2", wrt="v", shapes="v:3 y:3"))
    assert shown["formula"][0] == "math" and "sum" in shown["formula"][1]
    assert "v" in shown["partial derivatives"][1]
    assert "(3,)" in shown["the formula at the point"][1]  # the vector's value, by its shape
    assert shown["the gradient graph beside it"][1].startswith("<svg")
    assert "the chain rule, step by step" not in shown  # explain and check are for scalars


@pytest.mark.parametrize("form, message", [
    (FormInput("x*"), "bad formula: unexpected end of input at column 3\nx*\n  ^"),
    (FormInput("x*y", wrt="z"), "z is not a variable of the formula (its variables: x, y)"),
    (FormInput("x", shapes="W:0"), "shape 'W:0': write a name, a colon and one or two sizes"),
    (FormInput("2 + 3"), "the formula has no variables to differentiate by"),
])
def test_bad_input_is_one_message(form, message):
    (kind, body), = sections(form).values()
    assert kind == "error" and body.startswith(message)


def test_the_page_answers_errors_and_limits_without_a_server_error():
    client = create_app(Limits(seconds=30, formula_chars=50, request_bytes=4096)).test_client()
    page = client.post("/", data={"formula": "sin(x"}).get_data(as_text=True)
    assert "bad formula: &#39;sin(&#39; is never closed at column 1" in page
    page = client.post("/", data={"formula": "x" * 51}).get_data(as_text=True)
    assert "formula: longer than 50 characters" in page
    response = client.post("/", data={"formula": "x" * 5000})
    assert response.status_code == 413 and "larger than 4 KiB" in response.get_data(as_text=True)
    # user text is shown as text, never as markup
    page = client.post("/", data={"formula": "<script>alert(1)</script>"}).get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_an_analysis_over_the_time_limit_is_stopped():
    client = create_app(Limits(seconds=0.001)).test_client()
    page = client.post("/", data={"formula": "x*y"}).get_data(as_text=True)
    assert "took longer than 0.001 s and was stopped" in page


def test_serve_refuses_a_bad_port(capsys):
    assert main(["serve", "--port", "0"]) == 2
    assert "--port is 1 to 65535" in capsys.readouterr().err


@pytest.fixture(scope="module")
def page_url():
    server = waitress.create_server(create_app(), host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}/"
    server.close()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "the browser test needs chromium: make test installs it"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
        ])
        yield chromium
        chromium.close()


def submit(browser, url, name, **fields):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(url)
    for field, text in fields.items():
        page.fill(f"#{field}", text)
    page.click("#go")
    page.wait_for_selector("section", timeout=60_000)
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"serve-{name}.png"), full_page=True)
    return page


def test_the_page_in_a_browser_shows_pictures_and_tables(browser, page_url):
    page = submit(browser, page_url, "scalar", formula="x*y + sin(x)**2", at="x=2, y=3",
                  claimed="y + cos(x)")
    assert page.locator("section.svg svg").count() == 2
    assert "= 2.2432" in page.inner_text("#the-chain-rule-step-by-step")
    assert "agree" in page.inner_text("#against-sympy")
    assert "wrong: the claimed" in page.inner_text("#your-derivative-by-x")
    assert page.input_value("#formula") == "x*y + sin(x)**2"  # the form keeps what was typed
    page.close()


def test_the_page_in_a_browser_with_vectors(browser, page_url):
    page = submit(browser, page_url, "vector", formula="(v - y)**2", wrt="v", shapes="v:3 y:3")
    assert page.locator("section.svg svg").count() == 2
    assert page.locator("section.error").count() == 0
    page.close()


def test_the_page_in_a_browser_shows_a_parse_error_with_its_caret(browser, page_url):
    page = submit(browser, page_url, "error", formula="x*y + sin(x")
    assert page.inner_text("section.error pre") == (
        "bad formula: 'sin(' is never closed at column 7\nx*y + sin(x\n      ^")
    page.close()
