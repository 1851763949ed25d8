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

.PHONY: venv install install-test system-deps browser test lint bench build verify-optional

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

# System packages, from Debian/Ubuntu when run as root: bubblewrap (the card sandbox) and Chromium
# (the browser tests; playwright drives it, never `playwright install`). Elsewhere it says what is
# missing and what that skips.
SYSTEM_PACKAGES = bubblewrap chromium
system-deps:
	@missing=""; command -v bwrap >/dev/null || missing="$$missing bubblewrap"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then echo "system packages: bwrap $$(bwrap --version | cut -d' ' -f2), $$(/usr/bin/chromium --version 2>/dev/null)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "note: missing$$missing (Debian packages): without bubblewrap cards run unsandboxed and the sandbox tests are skipped; without chromium the browser tests are skipped"; fi

browser: system-deps

# The whole suite in one pytest process per CPU (pytest-xdist; `logical` counts logical CPUs, where
# `auto` counts physical cores when psutil is installed): most tests wait on a card worker
# that imports torch, so a single pytest process leaves a core idle. PYTEST_ARGS=-n0: one process.
PYTEST_ARGS ?= -n logical
test: install-test system-deps
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: venv
	$(PYTHON) -m ruff check generator tests bench
	$(PYTHON) -m mypy

bench: venv
	$(PYTHON) bench/build.py

# The torchvision cards, run for real: a separate venv where `pip install torchvision==0.29.1` pulls
# the torch build PyPI's torchvision wheels are made for (2.14.1, about 5.5 GB), plus this project.
# Every `requires: torchvision` card must come out ok (none skipped); prints which torch answered.
OPTIONAL_VENV ?= .venv-optional
TORCHVISION ?= torchvision==0.29.1

# (Re)installed when pyproject.toml changes; the project is installed editable, so code edits need nothing.
$(OPTIONAL_VENV)/.installed: pyproject.toml
	@test -x $(OPTIONAL_VENV)/bin/python || python3 -m venv $(OPTIONAL_VENV)
	$(OPTIONAL_VENV)/bin/python -m pip install -q '$(TORCHVISION)' -e .
	touch $@

verify-optional: $(OPTIONAL_VENV)/.installed
	$(OPTIONAL_VENV)/bin/python .ci/verify_optional.py --out build/optional
