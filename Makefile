# provisioner: `make demo` runs the product on the local defaults; `make test` runs every test.
# Everything (venv, Go-built tools) is set up on first use; tools are cached by version outside
# the checkout (~/.cache/provisioner/tools), so later runs take seconds.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: all venv tools test unit integration demo bench clean

all: test

$(BIN)/.installed: pyproject.toml
	@echo "[setup] creating $(VENV) with $(PYTHON)"
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

venv: $(BIN)/.installed

tools: venv
	$(BIN)/provisioner tools --ensure

test: tools
	$(BIN)/python -m pytest -q -p no:cacheprovider

unit: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit

demo: tools
	$(BIN)/provisioner demo

bench: tools
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache
