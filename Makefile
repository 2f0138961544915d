# hostgate: the two commands are `make run` and `make test`; `make check` is everything CI checks.
.PHONY: run test lint check bench fmt

run:
	@scripts/bootstrap
	.venv/bin/hostgate serve --config config

test:
	@scripts/bootstrap --need-broker --need-browser
	.venv/bin/pytest

lint:
	@scripts/bootstrap
	.venv/bin/ruff format --check --no-cache .
	.venv/bin/ruff check --no-cache .
	.venv/bin/mypy
	.venv/bin/hadolint Dockerfile

check: lint test

bench:
	@scripts/bootstrap --need-broker
	.venv/bin/python -m bench

fmt:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .
