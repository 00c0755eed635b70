# voltline: `make run` starts the whole system, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
PYPROJECTS := pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)

.PHONY: run test setup lint format schemas infra clean

run: .venv/.synced ## the whole system on the embedded default (tansu broker + SQLite), Ctrl-C stops it
	$(UV) run --frozen python -m voltline_devinfra.run

test: .venv/.synced ## lint (ruff, mypy), then every test over real Kafka and PostgreSQL (fetched and started here)
	$(UV) run --frozen python -m voltline_devinfra fetch
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen pytest -n 2 --dist loadfile  # two workers over one Kafka and PostgreSQL (docs/testing.md)

setup: .venv/.synced

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) uv.lock $(PYPROJECTS)
	$(UV) sync --frozen
	touch $@

lint: .venv/.synced ## ruff, then mypy (strict for libs/ and every domain/; config in pyproject.toml, ADR 0010)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

format: .venv/.synced
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

schemas: .venv/.synced ## regenerate schemas/ from the event models
	$(UV) run --frozen python -m voltline_events.schemagen

clean:
	rm -rf .venv $(TOOLS) .pytest_cache .ruff_cache .mypy_cache
