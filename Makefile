# Two commands set everything up on a fresh machine with Python 3.11+:
#   make demo   install into .venv and run the embedded demo week into outputs/demo/
#   make test   install the dev extra (and Prometheus/VictoriaMetrics when possible) and run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test lab bench system-deps install install-dev git-filter clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e '.[dev]'
	touch $@

# The notebooks are the source and are committed without outputs or run
# metadata: .gitattributes names the nbstripout filter for *.ipynb, and this
# configures it in the checkout, so `git add` strips what JupyterLab or
# papermill left in a notebook. Besides nbstripout's defaults (outputs,
# execution counts, widgets, execution times) it drops papermill's metadata
# and the kernel's Python version, and the cell of parameters papermill
# injects when a notebook is executed in place. Outside a git checkout (an
# unpacked sdist) there is nothing to configure.
NBSTRIPOUT_EXTRA_KEYS := metadata.papermill cell.metadata.papermill metadata.language_info.version

git-filter: $(VENV)/.installed-dev
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		$(BIN)/nbstripout --install --attributes .gitattributes && \
		git config filter.nbstripout.extrakeys '$(NBSTRIPOUT_EXTRA_KEYS)' && \
		git config filter.nbstripout.clean '"$(abspath $(BIN)/python)" -m nbstripout --drop-tagged-cells injected-parameters'; \
	else \
		echo "not a git checkout: the nbstripout filter is not configured"; \
	fi

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev git-filter

demo: $(VENV)/.installed
	$(BIN)/stabmon demo --output outputs/demo

system-deps:
	bash scripts/install-system-deps.sh

test: install-dev system-deps
	$(BIN)/lint-imports
	$(BIN)/python -m pytest --nbmake tests stabmon/notebooks

# JupyterLab on 127.0.0.1 only (a token guards it); as root, in a container,
# JupyterLab refuses to start without --allow-root, and there is no browser to
# open: it prints the address to open instead. LAB_PORT picks the port.
LAB_PORT  ?= 8888
LAB_FLAGS := --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
	$(if $(filter 0,$(shell id -u)),--allow-root --no-browser)

lab: install-dev
	@echo "JupyterLab on stabmon/notebooks/: open the http://127.0.0.1:... URL it prints below (Ctrl-C stops it)"
	$(BIN)/jupyter lab $(LAB_FLAGS) stabmon/notebooks/

bench: $(VENV)/.installed-dev system-deps
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf outputs/demo outputs/stability .pytest_cache
