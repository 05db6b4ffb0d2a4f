.PHONY: run test validate unit lint types
PYTHON_DIRS := orchestrator tests bench monitoring salt/_modules salt/_states salt/_runners
run:   ## set up and run fluxora-orch on its embedded defaults
	scripts/run
test:  ## set up and run the whole test suite (lint, types, unit, integration, infra)
	scripts/test
validate: lint types  ## the pull-request check: lint, types, unit tests, every environment rendered, states and rules linted, promtool, IAM policies, secret scan, plans of staging and prod on moto
	.venv/bin/pytest tests/unit -q
	.venv/bin/pytest -m validate tests/integration -q
unit:  ## the unit tests only (no I/O; seconds)
	scripts/bootstrap test
	.venv/bin/pytest tests/unit -q
lint:  ## ruff (lint and format) and the orchestrator's import layers
	scripts/bootstrap test
	.venv/bin/ruff check $(PYTHON_DIRS)
	.venv/bin/ruff format --check $(PYTHON_DIRS)
	.venv/bin/lint-imports
types: ## mypy --strict on the orchestrator
	scripts/bootstrap test
	.venv/bin/mypy
