# Exchange Connect. `make run` and `make test` create .venv and install first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DEVSTACK := $(PY) -m config.devstack

.PHONY: install run test stop lint bench bench-%

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Dev stack up (embedded PostgreSQL + Redis unless DATABASE_URL/REDIS_URL are set), migrate,
# seed the demo, print the dev credentials (Flower's, /metrics's token: generated into var/),
# wipe the metrics directory (prometheus_client asks for it between runs), then every Procfile
# process through honcho. Ctrl-C stops all of it.
run: install
	@set -e; \
	$(DEVSTACK) up --holder $$$$; \
	trap '$(DEVSTACK) down --holder $$$$' EXIT; \
	eval "$$($(DEVSTACK) env)"; \
	export DEBUG=$${DEBUG:-1}; \
	$(PY) manage.py migrate --noinput; \
	$(PY) manage.py collectstatic --noinput >/dev/null; \
	$(PY) manage.py seed_demo; \
	echo "Admin:   http://127.0.0.1:8000/admin/"; \
	echo "API:     http://127.0.0.1:8000/api/docs/"; \
	echo "Flower:  http://127.0.0.1:5555/ (user:password $$($(PY) -m config.flower credentials))"; \
	echo "Metrics: curl -H \"Authorization: Bearer $${METRICS_TOKEN:-$$(cat var/metrics_token)}\" http://127.0.0.1:8000/metrics"; \
	rm -rf "$${PROMETHEUS_MULTIPROC_DIR:-var/prometheus}"; \
	$(VENV)/bin/honcho start -f Procfile

# ruff check and format, mypy, the OpenAPI schema gate, pytest in two processes (each its
# own worker, paper exchange, test database and Redis database; both must collect the same
# tests, hence one hash seed); stops whatever dev stack it started.
test: install
	@set -e; \
	$(DEVSTACK) up --holder $$$$; \
	trap '$(DEVSTACK) down --holder $$$$' EXIT; \
	eval "$$($(DEVSTACK) env)"; \
	$(VENV)/bin/ruff check .; \
	$(VENV)/bin/ruff format --check .; \
	$(VENV)/bin/mypy; \
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null; \
	PYTHONHASHSEED=0 $(VENV)/bin/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

stop:
	$(DEVSTACK) down

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

BENCHES := $(basename $(notdir $(filter-out bench/common.py bench/__init__.py,$(wildcard bench/*.py))))

# every benchmark; each prints its figures and rewrites its section of bench/RESULTS.md
bench: $(addprefix bench-,$(BENCHES))

bench-%: install
	@set -e; \
	$(DEVSTACK) up --holder $$$$; \
	trap '$(DEVSTACK) down --holder $$$$' EXIT; \
	eval "$$($(DEVSTACK) env)"; \
	$(PY) bench/$*.py
