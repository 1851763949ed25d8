# The two set-up commands of the README:
#   python3 -m pip install -c constraints.txt . && tnquiz build    (install + build the bundled deck)
#   make test                                                       (install everything + run the tests)
PYTHON ?= python3
PIP = $(PYTHON) -m pip

.PHONY: install install-test browser test lint bench build

install:
	$(PIP) install -c constraints.txt .

build: install
	tnquiz build

install-test:
	$(PIP) install -c constraints.txt -e '.[test]'

# Debian's Chromium for the browser tests (playwright drives it; never `playwright install`).
browser:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: $$(/usr/bin/chromium --version)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: no /usr/bin/chromium; the browser tests will be skipped (install Debian's chromium)"; fi

test: install-test browser
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check generator tests bench
	$(PYTHON) -m mypy

bench:
	$(PYTHON) bench/build.py
