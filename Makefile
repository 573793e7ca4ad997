# Two entry points for a fresh machine: `make demo` and `make test` (see README).
# Versions are pinned in constraints.txt so Airflow's large dependency tree resolves the same way every time.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup setup-dev system-deps search-node bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The library and its command line only: enough for the offline demo.
$(VENV)/.core: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

# Everything: search clients, Airflow, web app and test tools.
$(VENV)/.dev: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[search,airflow,distributed,serve,test]'
	touch $@ $(VENV)/.core

setup: $(VENV)/.core
setup-dev: $(VENV)/.dev system-deps search-node

# Debian's Chromium and ChromeDriver for the browser test of the search page (not a test tool's own download), and
# its PostgreSQL and Redis for the distributed test (Airflow on Postgres, Celery over Redis; tests start their own).
PG_BINDIR ?= $(lastword $(sort $(wildcard /usr/lib/postgresql/*/bin)))
system-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  && command -v redis-server >/dev/null && test -x "$(PG_BINDIR)/initdb" || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium chromium-driver postgresql redis-server >/dev/null; }

# OpenSearch jars from Maven Central for the tests' real search node (kept in an ignored folder).
search-node:
	scripts/search-node fetch

demo: setup
	$(BIN)/regwire demo

test: setup-dev
	$(BIN)/python -m pytest -q

# The quality gate CI runs before the tests: ruff with the project's rules, mypy on the library, DAGs and plugin.
lint: $(VENV)/.dev
	$(BIN)/ruff check pipeline dags plugins tests bench
	$(BIN)/mypy

bench: setup-dev
	$(BIN)/python bench/bench_extraction.py

clean:
	rm -rf $(VENV) tests/opensearch/deps tests/opensearch/target .pytest_cache
