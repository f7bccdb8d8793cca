# `make demo` and `make test` each set up everything on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup dot browser demo test docs bench fuzz fuzz-chunks lint clean

# The demo needs symgrad and its core dependencies only (about 330 MB); the tests add the
# development tools (numba, mypy, ruff, mkdocs, jupyter: about 1 GB in all).
$(BIN)/symgrad: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/dev-installed: $(BIN)/symgrad
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# The `dot` program draws the pictures; it comes from the system's graphviz package.
dot:
	@command -v dot >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { \
	    echo "symgrad draws with graphviz's dot program: install graphviz" \
	         "(brew install graphviz, dnf install graphviz, ...), then run make again" >&2; \
	    exit 1; }; \
	  echo "installing the system graphviz package (for the dot program)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq graphviz >/dev/null; }

# The page's browser test drives the system's chromium (playwright's own browser download
# needs a network the tests must not rely on).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { \
	    echo "the browser test of symgrad serve needs chromium: install it, then run make" \
	         "again" >&2; exit 1; }; \
	  echo "installing the system chromium package (for the browser test)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

setup: $(VENV)/dev-installed dot browser

demo: $(BIN)/symgrad dot
	$(BIN)/symgrad demo
	@echo "symgrad is installed in $(VENV): run $(BIN)/symgrad --help, or activate the" \
	      "environment first (. $(BIN)/activate) and type symgrad"

test: setup
	$(BIN)/ruff check .
	$(BIN)/mypy  # the package type-checks clean ([tool.mypy] in pyproject.toml)
	$(BIN)/pytest -q -n 2
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The docs site into build/site: tutorials whose examples run as the site is built, the
# notebooks, the CLI reference from its parser and the API reference from the docstrings;
# --strict fails on a broken internal link or anchor and on an example that raises
# (make test builds it too).
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The soundness properties and the hostile-input fuzzers (parser: only ParseError; constant
# builds: IEEE), FUZZ_EXAMPLES (10^5) random cases each, with the counts printed.
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -n 2 -p no:randomly tests/test_soundness.py \
	  tests/hostile/test_hostile_parse.py tests/hostile/test_hostile_values.py \
	  --hypothesis-show-statistics

# One property (or file) in chunks of CHUNK cases, a line of counts per chunk as it ends (one
# `make fuzz` of 10^5 cases prints nothing for hours); capped at 6 GB, so a blow-up is a
# MemoryError with its example: make fuzz-chunks PROP=tests/test_soundness.py::test_x SEEDS="1 2"
PROP ?= tests/test_soundness.py
SEEDS ?= 1 2 3 4 5 6 7 8 9 10
CHUNK ?= 10000
fuzz-chunks: setup
	@ulimit -v 6000000; for seed in $(SEEDS); do \
	  HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(CHUNK) $(BIN)/pytest -q -p no:randomly \
	    -p no:cacheprovider $(PROP) --hypothesis-seed=$$seed --hypothesis-show-statistics 2>&1 \
	    | grep -E "^tests/.*:$$|[0-9]+ passing, [0-9]+ failing|^E " | sed "s/^/seed $$seed: /"; \
	done

bench: setup
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) symgrad-demo .pytest_cache .ruff_cache .mypy_cache .hypothesis build
