# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench docs validate fits refit coverage regression clean

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

## regenerate docs/metrics.md and docs/scenario.md from the code, and docs/calibration.md's fit tables from the records
docs: $(STAMP)
	$(BIN)/python -m ecopark.reference docs
	$(BIN)/python -m ecopark.experiments.fit_records docs

## re-run every shipped preset as shipped and rewrite its fit record (ecopark/calibrations/*.fit.json; a few minutes)
fits: $(STAMP)
	$(BIN)/python -m ecopark.experiments.fit_records record

## refit one preset: `make refit PRESET=generic` calibrates it (its spec, 2 workers) and records the calibration;
## then copy the calibrated values into ecopark/scenarios/$(PRESET).toml and run `make fits docs`
refit: $(STAMP)
	$(BIN)/ecopark calibrate $(PRESET) --workers 2 --quiet --out results/calibrate-$(PRESET)
	$(BIN)/python -m ecopark.experiments.fit_records record $(PRESET) --calibration results/calibrate-$(PRESET)

## the coverage test of the calibration intervals (docs/validation.md section 6; about 10 minutes on 1 worker)
coverage: $(STAMP)
	$(BIN)/python -m ecopark.experiments.coverage --workers 1 --out results/coverage

## rewrite the regression reference (tests/regression_reference.json.gz) after an intended change of the economics
regression: $(STAMP)
	$(BIN)/python -m ecopark.regression refresh

## regenerate docs/validation.md: theory checks, policy directions, presets vs the documents (a few minutes)
validate: $(STAMP) fits
	$(BIN)/python -m ecopark.validation --out docs/validation.md
	$(BIN)/python -m ecopark.experiments.fit_records docs

clean:
	rm -rf $(VENV) results .pytest_cache
