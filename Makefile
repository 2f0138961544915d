# hostgate: the two commands are `make run` and `make test`; `make check` is everything CI checks.
# `make test` runs the suite on each store engine in STORES (default: both); `make test STORES=sqlite`
# for the embedded engine alone.
.PHONY: run test lint check bench fuzz fmt

STORES ?= sqlite postgresql

run:
	@scripts/bootstrap
	.venv/bin/hostgate serve --config config --demo --demo-hosts

test:
	@scripts/bootstrap --need-broker --need-browser --need-go --need-promtool $(if $(findstring postgresql,$(STORES)),--need-postgres)
	@status=0; for store in $(STORES); do \
	  echo "== make test: store engine $$store (HOSTGATE_TEST_STORE=$$store)"; \
	  HOSTGATE_TEST_STORE=$$store .venv/bin/pytest || status=1; \
	done; exit $$status

lint:
	@scripts/bootstrap
	.venv/bin/ruff format --check --no-cache .
	.venv/bin/ruff check --no-cache .
	.venv/bin/mypy
	.venv/bin/hadolint Dockerfile

check: lint test

bench:
	@scripts/bootstrap --need-broker --need-postgres
	.venv/bin/python -m bench

# schemathesis at 1,000 examples per operation (CI runs 200): all checks, stateful links;
# then the raw-HTTP fuzzer at 10,000 cases (CI runs 300).
fuzz:
	@scripts/bootstrap --need-broker
	HOSTGATE_FUZZ_EXAMPLES=1000 .venv/bin/pytest tests/http/test_schemathesis.py -s -p no:cacheprovider -o timeout=3600
	HOSTGATE_FUZZ_RAW_EXAMPLES=10000 .venv/bin/pytest tests/http/test_raw_fuzz.py -s -p no:cacheprovider -o timeout=3600 --hypothesis-show-statistics

fmt:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .
