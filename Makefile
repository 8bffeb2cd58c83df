# The two set-up commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/saqshy
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: bootstrap demo serve test lint pytest bench clean

bootstrap:
	@bash scripts/bootstrap.sh

## Install, load the demo (accounts; the bundled sample site crawled and sample items, scored into the queue) and run Saqshy on http://$(HOST):$(PORT)
demo: bootstrap
	$(VENV)/bin/saqshy db upgrade
	$(VENV)/bin/saqshy demo
	$(VENV)/bin/saqshy serve --host $(HOST) --port $(PORT)

serve: demo

## Install and run the whole test suite (lint, types, tests)
test: bootstrap lint pytest

lint:
	$(VENV)/bin/ruff check .
	MYPY_CACHE_DIR=$(CACHE)/mypy $(VENV)/bin/mypy

pytest:
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: bootstrap
	$(VENV)/bin/python -m benchmarks.ingest

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache
