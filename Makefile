# Two commands do all set-up on a fresh machine: `make run` and `make test`.
# Both create .venv when missing and install only when pyproject.toml changed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: run test test-arithmetic lint browser clean-index

run: $(STAMP)
	$(BIN)/python app.py

test: $(STAMP) browser
	$(BIN)/ruff check qa tests app.py benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -ra

# The model's tests again with another thread count and batch size, which change llama.cpp's
# arithmetic the way another CPU does: they must hold on any machine.
test-arithmetic: $(STAMP) browser
	QA_LLM_THREADS=1 QA_LLM_BATCH=64 $(BIN)/python -m pytest -ra -m llm

lint: $(STAMP)
	$(BIN)/ruff check qa tests app.py benchmarks
	$(BIN)/lint-imports

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch first, pinned: a plain `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -e '.[local-llm,dev]'
	touch $(STAMP)

# The UI tests drive Debian's Chromium (never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: sudo apt-get install chromium" >&2; exit 1; fi; }

clean-index:
	rm -rf indexes/default
