# The README's two commands, `make test` and `make demo`, each install what they need first.
# Re-runs with everything present install nothing: each step checks before it acts.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBS := prometheus prometheus-node-exporter prometheus-alertmanager prometheus-pushgateway
PYTEST_ARGS ?=

.PHONY: test demo bench lint typecheck pytest deps debs venv clean

test: deps lint typecheck pytest

demo: deps
	$(BIN)/kubepulse demo $(DEMO_ARGS)

bench: deps
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

deps: venv debs

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

debs:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: venv
	$(BIN)/ruff check src tests benchmarks

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
