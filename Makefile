# Two commands on a fresh machine: `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fourreal-installed

.PHONY: demo test lint format install bench clean-data

$(STAMP): pyproject.toml scripts/install.sh
	bash scripts/install.sh

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fourreal demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# As modules (python -m bench.x): bench/catalog.py would shadow the catalog package.
# bench/gpu.py needs a CUDA device: run it as `bash bench/gpu.sh` on one (the test suite
# runs its `--cpu-smoke`).
bench: $(STAMP)
	for b in bench/*.py; do [ "$$b" = bench/gpu.py ] && continue; \
		$(PY) -m bench.$$(basename $$b .py) || exit 1; done

clean-data:
	rm -rf data
