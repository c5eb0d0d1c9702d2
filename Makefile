# The two commands: `make run` (the site with demo data, worker and beat) and `make test` (lint + suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test test-clock test-e2e lint install install-dev migrate demo bench clean

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

# Whole flows in headless Chromium with a real Celery worker and single sign-on against a loopback OpenID Provider
# (tests/e2e/, a pytest process of its own: SSO is turned on when the settings are imported). Installs Debian's
# chromium if it is missing and the provider's npm packages; a failing test leaves screenshots under var/e2e/.
E2E_PYTEST_ARGS ?= -q -p no:cacheprovider
E2E_OIDC := tests/e2e/oidc

$(E2E_OIDC)/node_modules/.installed: $(E2E_OIDC)/package-lock.json
	cd $(E2E_OIDC) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

test-e2e: install-dev $(E2E_OIDC)/node_modules/.installed
	@command -v chromium >/dev/null 2>&1 || { echo "Installing Debian's chromium for the end-to-end suite"; \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@$(BIN)/pytest --ds=tests.e2e.settings tests/e2e $(E2E_PYTEST_ARGS) \
	  || { echo "The end-to-end suite failed; screenshots of its pages: $(CURDIR)/var/e2e/" >&2; exit 1; }

# The suite (SQLite, without the worker and browser tests, which keep the real clock) at fixed instants: just after
# midnight UTC, the last hour of a quarter, either side of the hour, and fiscal years starting in February and April.
# Each entry is INSTANT or INSTANT@FISCAL_YEAR_START_MONTH; e.g. `make test-clock CLOCK_INSTANTS=2027-01-01T00:00:30Z`.
CLOCK_INSTANTS ?= 2026-12-02T00:00:30Z 2026-12-31T23:30:00Z 2026-12-31T23:59:30Z 2027-01-01T00:00:30Z \
	2026-12-02T13:59:00Z 2026-12-02T14:01:00Z 2026-12-02T07:30:00Z 2027-01-31T23:30:00Z@2 2027-03-31T23:30:00Z@4
CLOCK_PYTEST_ARGS ?= -q -x -p no:cacheprovider
# How many instants run at once (each is one pytest process with a SQLite file of its own).
CLOCK_JOBS ?= 1

test-clock: install-dev
	@rm -rf var/clock && mkdir -p var/clock; \
	printf '%s\n' $(CLOCK_INSTANTS) | xargs -P $(CLOCK_JOBS) -I SPEC sh -c '\
	  spec=SPEC; instant=$${spec%@*}; month=1; case $$spec in *@*) month=$${spec#*@};; esac; \
	  log=var/clock/$$(echo $$spec | tr ":@" "__").log; \
	  DATABASE_URL=sqlite:///$(CURDIR)/db.sqlite3 ALLOCATOR_TEST_NOW=$$instant FISCAL_YEAR_START_MONTH=$$month \
	    $(BIN)/pytest -m "not celery_worker and not browser and not fuzz" $(CLOCK_PYTEST_ARGS) > $$log 2>&1 \
	    || echo "$$spec" >> var/clock/failed; \
	  echo "== the suite at $$instant (FISCAL_YEAR_START_MONTH=$$month)"; tail -n 3 $$log'; \
	if [ -s var/clock/failed ]; then \
	  for spec in $$(cat var/clock/failed); do echo "!! the suite FAILS at $$spec (log: var/clock/)" >&2; \
	    cat var/clock/$$(echo $$spec | tr ":@" "__").log | tail -n 40 >&2; done; \
	  echo "FAILED at: $$(cat var/clock/failed | tr '\n' ' ')" >&2; exit 1; fi; \
	echo "The suite passes at every instant: $(CLOCK_INSTANTS)"

bench: install
	$(BIN)/python manage.py bench ingest --json

clean:
	rm -rf var db.sqlite3 db.sqlite3-* .pytest_cache
