# The two commands: `make run` (the site with demo data, worker and beat) and `make test` (lint + suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test lint install install-dev migrate demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

# Links in emails and Slack messages follow PORT, unless SITE_URL is set (environment, command line or .env).
# Honcho gives the worker and beat other PORTs, so the web address is passed to them explicitly.
RUN_SITE_URL = $(if $(SITE_URL),,$(if $(shell grep -s '^SITE_URL=.' .env),,SITE_URL=http://127.0.0.1:$(PORT)))

run: demo
	@echo ""
	@echo "  Allocator is starting at http://127.0.0.1:$(PORT)/  (Ctrl-C stops web, worker and beat)"
	@echo "  Demo emails are written to var/mail/, one file each."
	@echo ""
	PATH="$(CURDIR)/$(BIN):$$PATH" PORT=$(PORT) $(RUN_SITE_URL) $(BIN)/honcho start -f deploy/Procfile -d .

lint: install-dev
	$(BIN)/ruff check .

test: lint
	$(BIN)/python manage.py makemigrations --check --dry-run >/dev/null || (echo "Missing migrations: run manage.py makemigrations" && exit 1)
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python manage.py bench ingest --json

clean:
	rm -rf var db.sqlite3 db.sqlite3-* .pytest_cache
