# The README's two commands, `make test` and `make demo`, each install what they need first.
# Re-runs with everything present install nothing: each step checks before it acts.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBS := prometheus prometheus-node-exporter prometheus-alertmanager prometheus-pushgateway
PYTEST_ARGS ?=

.PHONY: test demo bench lint typecheck pytest deps debs venv clean helm manifests prometheus-upstream bins

test: deps lint typecheck pytest

demo: deps
	$(BIN)/kubepulse demo $(DEMO_ARGS)

bench: deps
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

deps: venv debs helm prometheus-upstream bins

# The local Kubernetes test cluster's binaries (etcd, control plane, kubectl, kwok, kwokctl,
# metrics-server): found or built once from Go modules into ~/.cache/kubepulse/k8s-v*/bin
# (kubepulse.testing.binaries).
bins: venv
	$(BIN)/kubepulse cluster build --metrics-server >/dev/null

# Debian's Prometheus is built without Kubernetes SD; the stack tests need the upstream build
# (kubepulse.stack.binaries: built once from its Go module into ~/.cache/kubepulse/prometheus-v*).
prometheus-upstream: venv
	@$(BIN)/python -m kubepulse.stack.binaries >/dev/null

# Helm from its Go module, cached per version outside git, unless one is already on PATH. The
# ldflags are helm's own release flags, so its default Kubernetes version is that of its client-go.
HELM_VERSION := v3.22.0
HELM_MOD := helm.sh/helm/v3
HELM_DIR := $(HOME)/.cache/kubepulse/helm-$(HELM_VERSION)
export KUBEPULSE_HELM := $(or $(shell command -v helm 2>/dev/null),$(HELM_DIR)/bin/helm)

helm: $(KUBEPULSE_HELM)

$(HELM_DIR)/bin/helm:
	GOBIN=$(HELM_DIR)/bin go install -ldflags "-s -w -X $(HELM_MOD)/internal/version.version=$(HELM_VERSION) \
	  -X $(HELM_MOD)/pkg/lint/rules.k8sVersionMajor=1 -X $(HELM_MOD)/pkg/lint/rules.k8sVersionMinor=37 \
	  -X $(HELM_MOD)/pkg/chartutil.k8sVersionMajor=1 -X $(HELM_MOD)/pkg/chartutil.k8sVersionMinor=37" \
	  $(HELM_MOD)/cmd/helm@$(HELM_VERSION)

# deploy/kubernetes/ is rendered from the chart; a test fails when it is stale.
manifests: helm
	HELM=$(KUBEPULSE_HELM) deploy/kubernetes/render.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

debs:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: venv
	$(BIN)/ruff check src tests benchmarks

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
