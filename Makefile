# The two commands: `make run` (the demo on the embedded default) and `make test`.
SHELL := /bin/bash
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Django 6 needs Python 3.12+: take one from PATH, else from pyenv.
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	  c=$$(command -v $$p 2>/dev/null) && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$c; exit; }; done; \
	  r=$$(pyenv root 2>/dev/null) && for c in $$(ls -d $$r/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do echo $$c; exit; done)

.PHONY: run test venv assets sysdeps messages lint format check migrate demo clean

$(STAMP): requirements.txt requirements-dev.txt
	@if [ -z "$(PYTHON)" ]; then echo "No Python 3.12 or newer found. Install one (e.g. 'pyenv install 3.13') or set PYTHON=/path/to/python3.12+." >&2; exit 1; fi
	@echo "Using $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

# Third-party front-end files come from the npm registry, never from the repository.
static/vendor/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css static/vendor/
	touch $@

assets: static/vendor/.stamp

sysdeps:
	@bash scripts/system-deps.sh

# Translations: the *.mo files are built from the committed *.po (gettext's msgfmt), never committed.
messages: sysdeps venv
	$(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules --ignore=static --ignore=var >/dev/null

migrate: venv
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py demo

run: sysdeps venv assets messages migrate
	PORT=$(PORT) PYTHON=$(PY) bash scripts/run-demo.sh

test: sysdeps venv assets messages
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check: venv
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check

clean:
	rm -rf $(VENV) node_modules static/vendor staticfiles
