# The two commands of README.md: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test setup setup-dev migrate lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

migrate: setup
	$(BIN)/python manage.py migrate --noinput -v0

# Set everything up, then run the web server, a worker and beat (Ctrl-C stops all).
run: migrate
	$(BIN)/python manage.py seed_demo
	@echo "Log in as admin/admin (or SWARMWEB_ADMIN_USER / SWARMWEB_ADMIN_PASSWORD)."
	$(BIN)/python manage.py runstack

# Set everything up the same way and run the whole test suite.
test: setup-dev
	$(BIN)/python -m pytest

lint: setup-dev
	$(BIN)/ruff check .

bench: setup-dev
	$(BIN)/python bench/step_overhead.py
	$(BIN)/python bench/dag_parallelism.py
	$(BIN)/python bench/memory_search.py
	$(BIN)/python bench/train_router.py
