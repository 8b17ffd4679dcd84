# The two commands of the README: `make demo` runs the product, `make test` runs the tests.
# Both create the virtual environment and install everything on a fresh machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install manifests test-tools clean servers kube-up bench-insights \
        cluster-deps image cluster-up cluster-test

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
	$(BIN)/ruff format --check .

# Debian packages the tests use: Chromium for the dashboard's browser tests (Playwright drives
# it; no browser download), libfaketime for the suite's run on other days
# (tests/unit/test_any_day.py) and iproute2 (`ip netns`) for the two-node Ray cluster in a
# network namespace (tests/unit/test_ray_multinode.py). Installed when running as root, as CI
# does; otherwise the tests that need them say "missing tool" and skip (they FAIL under CI=true).
TEST_DEBS := chromium faketime iproute2
test-tools:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing (Debian)"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not installed (needs root):$$missing: the tests that need them will be skipped"; fi; fi

# Debian packages for the product image and the single-node cluster: mmdebstrap and umoci
# build the image; containerd, runc, the CNI plugins, iptables and conntrack run the node; gcc
# and libc6-dev build the pod sandbox's pause binary. Installed when running as root, as CI does.
CLUSTER_DEBS := mmdebstrap umoci containerd runc containernetworking-plugins iptables conntrack \
                gcc libc6-dev curl
cluster-deps:
	@missing=$$(for p in $(CLUSTER_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends $$missing >/dev/null; \
	  else echo "missing Debian packages (install them as root): $$missing"; fi; fi

# The product's OCI image from Debian packages and PyPI (tools/image/build.py; cached by a hash
# of its inputs in ~/.cache/dwt/image: unchanged inputs take a second). Prints REF PATH.
image: $(STAMP) cluster-deps
	$(BIN)/python tools/image/build.py

# A real single-node Kubernetes cluster (tests/cluster) in a network namespace of its own, for a
# person: node Ready, the images imported; prints the kubeconfig; Ctrl-C stops and cleans up.
cluster-up: $(STAMP) cluster-deps image
	tools/servers/build.sh etcd kube-apiserver kube-node coredns ferretdb
	$(BIN)/python -m tests.cluster up

# The same cluster, `helm install` of the chart, the end-to-end CommunityJob and the failure
# tests; the last line is one JSON object of results and phase times (tests/cluster/conftest.py).
cluster-test: $(STAMP) cluster-deps
	$(BIN)/python -m tests.cluster test

# The real servers the unit tests start (FerretDB, etcd, kube-apiserver), built from the Go
# modules in tools/servers/ into ~/.cache/dwt/servers (DWT_SERVERS_DIR); each is built once per
# version and flags. Needs Go >= 1.26; the first build takes ~15 CPU-minutes (see
# tests/README.md). The cluster test builds the node's binaries and CoreDNS itself (its "build").
servers:
	tools/servers/build.sh ferretdb etcd kube-apiserver

# The unit tests, then the product on a real single-node cluster (needs root: namespaces,
# mounts, cgroups; CI runs as root). Each phase prints its time (tools/phase.sh) and the
# phases are summed up before the cluster test, whose last line is its JSON summary (its own
# phases inside). Without root the cluster test is not run: said, and an error under CI=true.
test:
	@tools/phase.sh install $(MAKE) --no-print-directory install
	@tools/phase.sh lint $(MAKE) --no-print-directory lint
	@tools/phase.sh test-tools $(MAKE) --no-print-directory test-tools
	@tools/phase.sh servers $(MAKE) --no-print-directory servers
	@tools/phase.sh cluster-deps $(MAKE) --no-print-directory cluster-deps
	@tools/phase.sh pytest $(BIN)/python -m pytest || { tools/phase.sh --summary; exit 1; }
	@tools/phase.sh --summary
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory cluster-test; \
	else echo "missing tool: root for the cluster tests (sudo make cluster-test)"; \
	  case "$${CI:-}" in 1|true|yes) exit 1;; esac; fi

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
