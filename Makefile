# Two commands set everything up on a fresh machine with Python 3.11+:
#   make demo   install into .venv and run the embedded demo week into outputs/demo/
#   make test   install the dev extra (and Prometheus/VictoriaMetrics when possible) and run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test lab bench system-deps install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/stabmon demo --output outputs/demo

system-deps:
	bash scripts/install-system-deps.sh

test: $(VENV)/.installed-dev system-deps
	$(BIN)/python -m pytest --nbmake tests stabmon/notebooks

lab: $(VENV)/.installed
	$(BIN)/jupyter lab stabmon/notebooks/

bench: $(VENV)/.installed-dev system-deps
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf outputs/demo outputs/stability .pytest_cache
