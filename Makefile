# The few verbs a newcomer needs. Each installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy newtel storage bot localchat

test: lint
	$(BIN)/pytest -q

demo: $(STAMP)
	$(BIN)/python -m localchat.demo

# The benchmarks run from the checkout: the local fakes (localchat/) are not installed with the product.
bench: export PYTHONPATH := $(CURDIR)
bench: $(STAMP)
	$(BIN)/python bench/client_overhead.py
	$(BIN)/python bench/bot_latency.py
	$(BIN)/python bench/poll_cycle.py
	$(BIN)/python bench/alert_latency.py
	$(BIN)/python bench/alert_window.py
	$(BIN)/python bench/busy_group.py
	$(BIN)/python bench/idle_connections.py
	$(BIN)/python bench/import_bounds.py
	$(BIN)/python bench/forget.py
	$(BIN)/python bench/backup.py
	$(BIN)/python bench/replication.py 30
	$(BIN)/python bench/miniapp.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
