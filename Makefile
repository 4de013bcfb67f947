# The two commands of the README. Each creates .venv when missing and installs
# what it needs, so either works as the first command on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint bench clean sample docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The tested torch, as the CPU wheel (no CUDA packages); pyproject.toml takes a range. For a
# CUDA build: make TORCH_INDEX=https://download.pytorch.org/whl/cu128 demo. One retry: where that
# index cannot be reached (an offline mirror serves torch) each package costs a second, not ten.
TORCH       ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --retries 1 "$(TORCH)" --extra-index-url $(TORCH_INDEX)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fusets-dl demo

test: $(STAMP)
	$(BIN)/pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check fusets_dl tests benchmarks pipelines evaluation data

bench: $(STAMP)
	$(BIN)/python -m benchmarks --quick

sample: $(STAMP)
	$(BIN)/python data/make_sample.py

# The documentation site (mkdocs.yml, docs/) into build/site; warnings are errors.
DOCS_STAMP = $(VENV)/.docs-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	rm -f $(VENV)/.docs-*
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
