# The two commands of the README, and what they need.
#   make demo   runs the main job on the local default
#   make test   installs everything and runs the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install infra-up infra-down bench clean

demo: $(STAMP)
	$(BIN)/abstream infra install kafka
	$(BIN)/abstream demo

test: $(STAMP)
	$(BIN)/abstream infra install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

infra-up: $(STAMP)
	$(BIN)/abstream infra up

infra-down: $(STAMP)
	$(BIN)/abstream infra down

bench: $(STAMP)
	$(BIN)/python -m bench.infra_start

clean: infra-down
	rm -rf $(VENV) .local
