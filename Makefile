# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench docs validate regression clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## run the default scenario: summary on screen, outputs and report.png in results/default
run: $(STAMP)
	$(BIN)/ecopark run --scenario generic --out results/default

## lint, then the whole test suite (pytest's exit code 5, "no tests collected", counts as success)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

## measure the speed and memory targets of benchmarks/ and rewrite the table in README.md (20-40 min)
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --readme README.md

## regenerate docs/metrics.md and docs/scenario.md from the code
docs: $(STAMP)
	$(BIN)/python -m ecopark.reference docs

## rewrite the regression reference (tests/regression_reference.json.gz) after an intended change of the economics
regression: $(STAMP)
	$(BIN)/python -m ecopark.regression refresh

## regenerate docs/validation.md: theory checks, policy directions, presets vs the documents (a few minutes)
validate: $(STAMP)
	$(BIN)/python -m ecopark.validation --out docs/validation.md

clean:
	rm -rf $(VENV) results .pytest_cache
