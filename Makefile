# The README's two commands, `make test` and `make demo`, each install what they need first.
# Re-runs with everything present install nothing: each step checks before it acts.

PYTHON ?= python3
CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kubepulse
# .venv links to a virtualenv kept outside git, keyed by the Python version and the declared
# dependencies, so a fresh clone with the same dependencies reuses it and only re-points the
# editable install at itself.
VENV_KEY := $(shell $(PYTHON) -c 'import hashlib, json, sys, tomllib; \
  p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
  deps = json.dumps([p.get("dependencies"), p.get("optional-dependencies")], sort_keys=True); \
  print("py%d.%d-" % sys.version_info[:2] + hashlib.sha256(deps.encode()).hexdigest()[:12])')
VENV := $(CACHE)/venv-$(VENV_KEY)
BIN := .venv/bin
DEBS := prometheus prometheus-node-exporter prometheus-alertmanager prometheus-blackbox-exporter prometheus-pushgateway
PYTEST_ARGS ?=
# Parallel pytest workers (pytest-xdist). Most tests wait on servers and the cluster rather than
# burn CPU, so three workers fit two cores; each worker starts its own test cluster.
PYTEST_WORKERS ?= 3

.PHONY: test demo bench lint typecheck pytest deps debs venv clean helm manifests prometheus-upstream bins thanos

test: deps lint typecheck thanos pytest

demo: deps
	$(BIN)/kubepulse demo $(DEMO_ARGS)

bench: deps
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

deps: venv debs helm prometheus-upstream bins

# The local Kubernetes test cluster's binaries (etcd, control plane, kubectl, kwok, kwokctl,
# metrics-server): found or built once from Go modules into ~/.cache/kubepulse/k8s-v*/bin
# (kubepulse.lab.cluster.binaries, through the one builder kubepulse.lab.builder).
bins: venv
	$(BIN)/kubepulse cluster build --metrics-server --kube-state-metrics >/dev/null

# Prometheus, promtool, Alertmanager, amtool, node_exporter and blackbox_exporter at the releases
# the Helm chart deploys (kubepulse.versions), which tests, the demo and the stack runners use:
# built once from their Go modules into ~/.cache/kubepulse/<name>-v<version>/bin
# (kubepulse.lab.releases).
# Debian's packages in DEBS are what the Ansible host roles install; their test runs them.
prometheus-upstream: venv
	@$(BIN)/python -m kubepulse.lab.releases >/dev/null

# Thanos, built on request only (not by deps, so not for the demo: 6 to 12 min cold), for the
# global-view lab test (tests/stack/test_thanos_e2e.py); here, before pytest, its progress lines
# show (the test's fixture builds it too when pytest runs on its own).
thanos: venv
	@$(BIN)/python -c 'from kubepulse.lab.releases import binary; binary("thanos")'

# Helm from its Go module (helm.sh/helm/v3 at kubepulse.versions.HELM, with helm's release
# ldflags), through the one builder into ~/.cache/kubepulse/helm-v<version>/bin, unless one is
# already on PATH.
export KUBEPULSE_HELM := $(or $(shell command -v helm 2>/dev/null),$(shell $(PYTHON) -c \
  'import sys; sys.path.insert(0, "src"); from kubepulse.lab.releases import ON_REQUEST; \
  print(ON_REQUEST["helm"].bin_dir / "helm")'))

helm: venv
	@command -v helm >/dev/null || $(BIN)/python -c 'from kubepulse.lab.releases import binary; binary("helm")'

# deploy/kubernetes/ is rendered from the chart; a test fails when it is stale.
manifests: helm
	HELM=$(KUBEPULSE_HELM) deploy/kubernetes/render.sh

venv: $(VENV)/.installed
	@test "$$(readlink .venv)" = "$(VENV)" || { rm -rf .venv && ln -s $(VENV) .venv; }
	@$(BIN)/python -c 'import kubepulse, sys; sys.exit(not kubepulse.__file__.startswith("$(CURDIR)/src/"))' 2>/dev/null \
	  || $(BIN)/python -m pip install --quiet --no-deps -e .

$(VENV)/.installed:
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	@touch $@

debs:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: venv
	$(BIN)/ruff check src tests benchmarks

# mypy's cache lives next to the venv it was made with; a fresh clone's files match it by hash.
typecheck: venv
	MYPY_CACHE_DIR=$(VENV).mypy_cache $(BIN)/mypy

# worksteal: an idle worker takes half of a busy one's queue. With the default (load) schedule a
# worker is handed a chunk of hundreds of tests in collection order, so one test file's long
# tests (the Ansible host runs, ~18 min together) ran one after another on one worker.
pytest: venv
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal --durations=30 $(PYTEST_ARGS)

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
