SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PROTOS := $(shell find protos -name '*.proto')
CATALOGS := $(patsubst %.po,%.mo,$(wildcard common/texts/locales/*/LC_MESSAGES/*.po))

.PHONY: help install up test screenshots proto proto-check lint bench migrate clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP) $(CATALOGS) ## create .venv with every pinned dependency, compile the texts

%.mo: %.po $(STAMP)
	$(PY) -m common.texts

up: $(STAMP) $(CATALOGS) ## run the whole system locally (embedded Postgres, Redis and S3 unless configured)
	$(PY) -m devstack up

test: $(STAMP) $(CATALOGS) ## run the test suite against real Postgres, Redis and S3
	$(PY) -m pytest -q

screenshots: $(STAMP) $(CATALOGS) ## renew docs/screenshots/ from the browser tests (Debian's chromium, fonts-noto-color-emoji)
	SCREENSHOTS_DIR=docs/screenshots $(PY) -m pytest -q tests/web/test_browser.py

proto: $(STAMP) ## regenerate gen/ from protos/
	rm -rf gen/mediabot
	$(PY) -m grpc_tools.protoc -I protos --python_out=gen --pyi_out=gen --grpc_python_out=gen $(PROTOS)
	find gen/mediabot -type d -exec touch {}/__init__.py \;

proto-check: $(STAMP) ## fail when gen/ is not what `make proto` makes
	$(MAKE) --no-print-directory proto
	git diff --exit-code --stat -- gen || { echo "gen/ is stale: run make proto and commit it" >&2; exit 1; }
	test -z "$$(git status --porcelain -- gen)" || { echo "gen/ has untracked files: run make proto and commit it" >&2; exit 1; }

lint: proto-check ## buf lint, ruff, mypy, import rules, and a fresh gen/
	$(VENV)/bin/buf lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP) $(CATALOGS) ## run the benchmarks and print their tables
	$(PY) -m benchmarks

migrate: $(STAMP) ## apply every service's migrations to DATABASE_URL
	$(PY) -m devstack migrate

clean: ## remove the embedded data and the virtualenv
	rm -rf .data $(VENV)
