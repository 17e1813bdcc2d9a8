# xprompt: the two front-door commands are `make demo` and `make test`; both set everything up first.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xprompt-setup

.PHONY: setup demo test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	@touch $(STAMP)

## Few-shot topic classification over the demo set (12 languages) on the tiny local model.
demo: setup
	$(BIN)/xprompt run --config examples/demo.yaml --overwrite

## The whole test suite (real vLLM engine on the tiny model).
test: setup
	$(BIN)/python -m pytest -q

## Unit tests only (no engine).
test-fast: setup
	$(BIN)/python -m pytest -q -m "not engine and not slow"

lint: setup
	$(BIN)/ruff check xprompt serving tests benchmarks evals
	$(BIN)/ruff format --check xprompt serving tests benchmarks evals

bench: setup
	$(BIN)/python benchmarks/overhead.py

clean:
	rm -rf runs .pytest_cache
