# The CSMS mesh: `make up` runs it, `make test` tests it. `make help` lists the rest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
GEN := gen
PROTOS := $(shell find proto -name '*.proto')
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	echo "$(CURDIR)/$(GEN)" > $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/csms_gen.pth
	touch $@

install: $(STAMP) ## create .venv and install the pinned dependencies

# What the tests run beside the mesh (tests/tools/package.json, locked): an S3-compatible server.
S3RVER := tests/tools/node_modules/.bin/s3rver
$(S3RVER): tests/tools/package.json tests/tools/package-lock.json
	npm ci --prefix tests/tools --no-audit --no-fund --silent
	touch $@

# Debian's Chromium and its driver, for the console's browser tests (tests/e2e/test_console.py);
# nothing is downloaded at test time.
# Debian's Firefox ESR too, driven over WebDriver BiDi (no geckodriver: Debian packages none).
CHROMEDRIVER := /usr/bin/chromedriver
FIREFOX := /usr/bin/firefox-esr
BROWSERS := chromium chromium-driver firefox-esr
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(CHROMEDRIVER) $(FIREFOX):
	$(SUDO) apt-get install -y --no-install-recommends $(BROWSERS) || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $(BROWSERS); }

$(GEN)/.stamp: $(STAMP) $(PROTOS) proto/tools/gen_ocpp_proto.py proto/tools/compile.py proto/tools/gen_openapi.py common/ocpp_examples.py common/rest_json.py
	$(PY) proto/tools/gen_ocpp_proto.py
	$(PY) proto/tools/compile.py $(GEN)
	$(PY) proto/tools/gen_openapi.py $(GEN)
	touch $@

proto: $(GEN)/.stamp ## regenerate the OCPP .proto from the JSON schemas, the Python stubs, Envoy's descriptor set and the OpenAPI document

up: proto ## run the whole mesh (Envoy, gateway, services) on the embedded default; Ctrl-C stops it
	$(PY) -m deploy.mesh up

migrate: proto ## apply the Alembic migrations of every service
	$(PY) -m deploy.mesh migrate

test: proto types $(S3RVER) $(CHROMEDRIVER) $(FIREFOX) ## install what is needed, type-check, and run unit, integration and end-to-end tests
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

test-unit: proto ## unit tests
	$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

test-integration: proto $(S3RVER) ## integration tests (real SQLite and PostgreSQL, real gRPC servers, an S3 server)
	$(PY) -m pytest -q tests/integration $(PYTEST_ARGS)

test-e2e: proto $(CHROMEDRIVER) $(FIREFOX) ## end-to-end tests (real Envoy, gateway, services, WebSocket station)
	$(PY) -m pytest -q tests/e2e $(PYTEST_ARGS)

bench: proto ## measure the mesh against two baselines (BENCH_ARGS="--quick" for a short run)
	$(PY) -m bench.run $(BENCH_ARGS)

chaos: proto ## kill -9 services, gateway and PostgreSQL under load: 0 lost, 0 duplicated (QUICK=1: short form)
	$(PY) -m chaos $(if $(QUICK),--quick)

flood: proto ## 20,000 half-open connections on each public listener for 60 s while stations connect and REST answers (FLOOD_ARGS="--connections 1000 --seconds 5")
	$(PY) -m bench.flood $(FLOOD_ARGS)

style: $(STAMP) ## ruff format check and lint
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

types: $(STAMP) ## mypy --strict on our code
	$(VENV)/bin/mypy

clean: ## remove generated code and local databases
	rm -rf $(GEN) var

.PHONY: help install proto up migrate bench chaos flood test test-unit test-integration test-e2e style types clean
