# Two commands on a bare machine:  make demo  |  make test
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest browser-deps bench clean catalogue

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "需要 Python 3.11 ($(PY))"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# The demo city on the embedded SQLite, served on http://127.0.0.1:8000
demo: $(STAMP)
	$(BIN)/onecard demo

# Chromium for the browser tests comes from Debian, never from a browser download; a CJK
# font so the screenshots show Chinese rather than boxes.
BROWSER_PKGS := chromium fonts-wqy-microhei
browser-deps:
	@{ command -v chromium >/dev/null 2>&1 && dpkg -s fonts-wqy-microhei >/dev/null 2>&1; } || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PKGS) >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) browser-deps
	$(BIN)/pytest $(PYTEST_ARGS)

# The whole suite: lint, types, tests (SQLite always; PostgreSQL too when
# ONECARD_TEST_DATABASE_URL is set, as .ci/run does).
test: lint typecheck pytest

# The pages' message catalogue (Babel): extract every _("…") / N_("…") phrase into
# messages.pot and merge it into each language's .po (then translate the new empty
# msgstr lines). The .po is compiled in memory at start-up (web/i18n.py): no .mo is kept.
LOCALE := src/onecard/web/locale
catalogue: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg --no-default-keywords -k _ -k N_ --no-location \
	  --sort-output --project OneCard -o $(LOCALE)/messages.pot .
	$(BIN)/pybabel -q update -i $(LOCALE)/messages.pot -d $(LOCALE) -l en \
	  --no-fuzzy-matching --ignore-obsolete --no-wrap

bench: $(STAMP)
	$(BIN)/onecard bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache onecard.db*
