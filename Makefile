# The two commands of the README: `make demo` runs the product, `make test` runs the tests.
# Both create the virtual environment and install everything on a fresh machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install manifests test-tools clean servers kube-up bench-insights

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dwt demo

lint: $(STAMP)
	$(BIN)/ruff check .

# Debian packages the tests use: Chromium for the dashboard's browser tests (Playwright drives
# it; no browser download) and libfaketime for the suite's run on other days
# (tests/unit/test_any_day.py). Installed when running as root, as CI does; otherwise the
# tests that need them say "missing tool" and skip (they FAIL under CI=true).
TEST_DEBS := chromium faketime
test-tools:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing (Debian)"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not installed (needs root):$$missing: the tests that need them will be skipped"; fi; fi

# The real servers the tests start (FerretDB, etcd, kube-apiserver), built from the Go modules
# in tools/servers/ into ~/.cache/dwt/servers (DWT_SERVERS_DIR); each is built once per version
# and flags. Needs Go >= 1.26; the first build takes ~15 CPU-minutes (see tests/README.md).
servers:
	tools/servers/build.sh

# Each phase prints its time (tools/phase.sh); the last lines sum them up.
test:
	@tools/phase.sh install $(MAKE) --no-print-directory install
	@tools/phase.sh lint $(MAKE) --no-print-directory lint
	@tools/phase.sh test-tools $(MAKE) --no-print-directory test-tools
	@tools/phase.sh servers $(MAKE) --no-print-directory servers
	@tools/phase.sh pytest $(BIN)/python -m pytest || { tools/phase.sh --summary; exit 1; }
	@tools/phase.sh --summary

# A local kube-apiserver + etcd for a person (foreground; Ctrl-C stops it and removes its files).
kube-up: $(STAMP)
	tools/servers/build.sh etcd kube-apiserver
	$(BIN)/python -m tests.servers.kube

# `dwt bench insights` with a FerretDB beside it (the wire-protocol rows of the pipeline case).
bench-insights: $(STAMP) servers
	$(BIN)/python -m tests.servers.ferretdb -- $(BIN)/dwt bench insights --json

# The CRD from the spec model, into manifests/ and the chart (tests fail if either drifts).
manifests: $(STAMP)
	$(BIN)/python -m dwt_operator.crd manifests/crds/communityjobs.yaml \
	    charts/discover-weekly/crds/communityjobs.yaml
	cp manifests/crds/kopf-peering.yaml charts/discover-weekly/crds/kopf-peering.yaml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
