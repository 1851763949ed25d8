# The two set-up commands of the README:
#   python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt . && tnquiz build
#   make test
# Every target runs in a virtual environment (stock Debian/Ubuntu Python refuses `pip install`
# outside one, PEP 668): the active one if there is one, else ./.venv, created on first use.
VENV ?= .venv
ifdef VIRTUAL_ENV
PYTHON ?= $(VIRTUAL_ENV)/bin/python
else
PYTHON ?= $(VENV)/bin/python
endif
PIP = $(PYTHON) -m pip

.PHONY: venv install install-test browser test lint bench build

# Debian/Ubuntu ship venv without pip unless python3-venv is installed: installed here when root.
venv:
ifndef VIRTUAL_ENV
	@if ! "$(PYTHON)" -m pip --version >/dev/null 2>&1; then \
	  echo "creating $(VENV) (python3 -m venv)"; \
	  python3 -m venv --clear $(VENV) >/dev/null 2>&1 || { \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
	      && python3 -m venv --clear $(VENV); \
	    else echo "error: python3 -m venv failed; on Debian/Ubuntu: sudo apt install python3-venv"; exit 1; fi; }; \
	fi
endif

install: venv
	$(PIP) install -c constraints.txt .

build: install
	$(PYTHON) -m generator build

install-test: venv
	$(PIP) install -c constraints.txt -e '.[test]'

# Debian's Chromium for the browser tests (playwright drives it; never `playwright install`).
browser:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: $$(/usr/bin/chromium --version)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: no /usr/bin/chromium; the browser tests will be skipped (install Debian's chromium)"; fi

test: install-test browser
	$(PYTHON) -m pytest

lint: venv
	$(PYTHON) -m ruff check generator tests bench
	$(PYTHON) -m mypy

bench: venv
	$(PYTHON) bench/build.py
