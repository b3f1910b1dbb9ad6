# native-sidecar-policy: the two commands of the README are `make run` and `make test`.
WASM := target/wasm32-wasip1/release/native_sidecar_policy.wasm
# make check's module: the same code without LTO (Cargo.toml, profile check-module).
CHECK_WASM := target/wasm32-wasip1/check-module/native_sidecar_policy.wasm
# The benchmarks' floors: a policy module of their own (never shipped).
SDK_FLOOR := benches/sdk-floor/Cargo.toml
SETTINGS ?= tests/fixtures/settings/injector.json
REQUEST ?= tests/fixtures/requests/pod-create-unknown-fields.json
# The playground: the crate built for the browser (feature `web`) and
# wasm-bindgen-cli at exactly the version Cargo.lock holds.
WASM_BINDGEN_VERSION := $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/^version = "\(.*\)"/\1/p;}' Cargo.lock)
WASM_BINDGEN := target/tools/bin/wasm-bindgen
WEB_WASM := target/wasm32-unknown-unknown/release/native_sidecar_policy.wasm
PLAYGROUND_PKG := playground/pkg/native_sidecar_policy.js
PLAYGROUND_PORT ?= 8080

# A recipe that fails leaves no half-written target behind (artifacthub-pkg.yml).
.DELETE_ON_ERROR:

.PHONY: setup setup-wasm setup-targets wasm run check check-steps bless test test-steps e2e-tests lint fmt bump-version fuzz-smoke bench clean \
	playground playground-build playground-test gatekeeper

# What `make run` needs: the module's target, nothing else.
setup-wasm:
	rustup target add wasm32-wasip1

# What `make check` needs: both wasm targets (the module, and the
# playground's build that `lint` checks).
setup-targets: setup-wasm
	rustup target add wasm32-unknown-unknown

# What `make test` needs besides: bats, jq and docker-registry (an OCI
# registry on 127.0.0.1) for e2e; busybox to test the shim under a second sh;
# Chromium and playwright-core for the playground's browser test.
setup: setup-targets
	@command -v bats >/dev/null && command -v jq >/dev/null && command -v busybox >/dev/null && command -v docker-registry >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bats jq busybox docker-registry >/dev/null; \
	  else echo "install bats, jq and busybox (apt-get install bats jq busybox docker-registry) for the e2e and shim tests"; fi; }
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	    || echo "chromium is not installable here: the browser test will be skipped"; \
	  else echo "install chromium (apt-get install chromium) for the playground's browser test"; fi; }
	@test -d playground/node_modules/playwright-core || npm ci --prefix playground --no-audit --no-fund --loglevel=error \
	  || echo "playwright-core is not installable here: the browser test will be skipped"

$(WASM): setup-wasm $(shell find src -type f) Cargo.toml Cargo.lock
	cargo build --locked --target wasm32-wasip1 --release --lib
	@ls -l $(WASM) | awk '{printf "module: %s (%d bytes)\n", $$9, $$5}'

wasm: $(WASM)

# Build the module and evaluate the shipped sample request under wasmtime.
run: $(WASM)
	cargo run --locked --quiet --example evaluate -- --settings $(SETTINGS) $(REQUEST)

# The contributor's loop (CONTRIBUTING.md, "Test loops"): the lints, the unit
# tests and the integration tests against a module built without LTO; not
# the playground's build, the benchmarks, the fuzz targets nor e2e, which
# `make test` adds. The shim tests SKIP where busybox is missing.
check:
	@start=$$(date +%s); $(MAKE) --no-print-directory check-steps && \
	  echo "make check: passed in $$(( $$(date +%s) - start )) s"

check-steps: setup-targets lint $(CHECK_WASM)
	@command -v busybox >/dev/null || echo "busybox is not installed: the shim tests SKIP their busybox cases (make setup installs it)"
	POLICY_WASM=$(CHECK_WASM) cargo test --locked -- --test-threads=8 --skip playground::

$(CHECK_WASM): setup-wasm $(shell find src -type f) Cargo.toml Cargo.lock
	cargo build --locked --target wasm32-wasip1 --profile check-module --lib

# Rewrites the golden files (tests/golden) from the current code: the module
# is rebuilt first, so that they never record an older build's answers.
# Review the result with `git diff tests/golden`.
bless: $(CHECK_WASM)
	POLICY_WASM=$(CHECK_WASM) BLESS=1 cargo test --locked --test it golden

# Every test: lints, unit tests, the module under wasmtime (and beside the
# playground's build), the playground in Node and Chromium, then the e2e suite.
# (Many tests mostly wait on the shim's shells: more threads than cores.)
# Then what cargo test does not build, so that no refactor leaves it broken:
# the benchmarks, built in their own profile as `make bench` builds them, and
# their SDK floor module (both variants), and the fuzz targets (checked on
# stable; running them needs nightly: make fuzz-smoke).
test:
	@start=$$(date +%s); $(MAKE) --no-print-directory test-steps && \
	  echo "make test: passed in $$(( $$(date +%s) - start )) s"

test-steps: setup $(WASM) $(PLAYGROUND_PKG) lint
	@if [ -n "$$GATEKEEPER_HARNESS" ] || command -v nsp-gatekeeper-harness >/dev/null; then \
	  echo "Gatekeeper's own engines: $${GATEKEEPER_HARNESS:-$$(command -v nsp-gatekeeper-harness)}"; \
	  else echo "Gatekeeper's own engines are not present: tests/it/gatekeeper.rs SKIPS those tests (CONTRIBUTING.md)"; fi
	@if [ -n "$$APISERVER_VALIDATE" ] || command -v nsp-apiserver-validate >/dev/null; then \
	  echo "The API server's validation: $${APISERVER_VALIDATE:-$$(command -v nsp-apiserver-validate)}"; \
	  else echo "The API server's validation is not present: tests/it/apiserver.rs SKIPS its tests (CONTRIBUTING.md)"; fi
	cargo test --locked -- --test-threads=8
	cargo bench --locked --no-run
	cargo check --locked --manifest-path fuzz/Cargo.toml --bins
	cargo check --locked --target wasm32-wasip1 --manifest-path $(SDK_FLOOR) --target-dir target
	cargo check --locked --target wasm32-wasip1 --manifest-path $(SDK_FLOOR) --target-dir target --features mutate
	cargo check --locked --target wasm32-wasip1 --manifest-path $(SDK_FLOOR) --target-dir target --features lookup
	$(MAKE) playground-test
	$(MAKE) e2e-tests

e2e-tests: $(WASM)
	bats e2e/

# wasm-bindgen-cli from crates.io, once, under target/tools. (Not --locked: the
# CLI's own lock file names crates this registry lacks.)
$(WASM_BINDGEN): Cargo.lock
	@$(WASM_BINDGEN) --version 2>/dev/null | grep -qx "wasm-bindgen $(WASM_BINDGEN_VERSION)" || \
	  cargo install --quiet wasm-bindgen-cli --version =$(WASM_BINDGEN_VERSION) --root target/tools
	@touch $@

# strip=debuginfo: wasm-bindgen reads the target_features section that strip=true drops.
$(PLAYGROUND_PKG): setup $(WASM_BINDGEN) $(shell find src -type f) Cargo.toml Cargo.lock
	CARGO_PROFILE_RELEASE_STRIP=debuginfo cargo build --locked --lib --release \
	  --target wasm32-unknown-unknown --no-default-features --features web
	$(WASM_BINDGEN) --target web --no-typescript --out-dir playground/pkg $(WEB_WASM)

playground-build: $(PLAYGROUND_PKG)

# Builds the playground and serves it on http://127.0.0.1:$(PLAYGROUND_PORT)/
playground: $(PLAYGROUND_PKG)
	node playground/serve.mjs $(PLAYGROUND_PORT)

# The playground's module in Node, then the page in headless Chromium (skipped,
# saying so, where Chromium or playwright-core could not be installed).
playground-test: $(PLAYGROUND_PKG)
	node --test --test-reporter=spec playground/test/

# Release artefacts, as Kubewarden's release workflow builds them.
policy.wasm: $(WASM)
	cp $(WASM) policy.wasm

annotated-policy.wasm: policy.wasm metadata.yml README.md
	kwctl annotate -m metadata.yml -u README.md -o annotated-policy.wasm policy.wasm

artifacthub-pkg.yml: metadata.yml questions-ui.yml
	kwctl scaffold artifacthub --metadata-path metadata.yml --questions-path questions-ui.yml > artifacthub-pkg.yml

# Gatekeeper's objects for the shipped validator's settings (docs/gatekeeper.md);
# tests/it/gatekeeper.rs checks that gatekeeper/ is current.
gatekeeper:
	rm -rf gatekeeper
	cargo run --locked --quiet --bin native-sidecar-policy -- gatekeeper --settings policies/validator.yaml --out gatekeeper

# make bump-version VERSION=X.Y.Z
bump-version:
	scripts/bump-version.sh $(VERSION)

# The policy's own code must be panic-free (see the lints in src/lib.rs), in
# both builds: the waPC module and the playground; and the command. (Not
# --all-targets: checking the tests and benchmarks compiles wasmtime, regorus
# and criterion a second time, 8.5 minutes on a clean clone's 2 cores.)
lint:
	cargo fmt --all -- --check
	cargo clippy --locked --lib --bins -- -D warnings
	cargo clippy --locked --lib --target wasm32-unknown-unknown --no-default-features --features web -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -f policy.wasm annotated-policy.wasm

# Coverage-guided fuzzing of every fuzz target, FUZZ_SECONDS each (nightly,
# cargo-fuzz): fails, saying why, when a target does not build or finds
# something, and prints each target's executions and coverage.
FUZZ_SECONDS ?= 20
fuzz-smoke:
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz-smoke.sh

# Admission latency, cold start, memory and the node lookup by cluster size
# (criterion); prints the tables at the end. Beside the SDK floors
# (benches/sdk-floor: accepting, mutating, listing the Nodes) and, when
# OFFICIAL_POLICIES names a directory of modules built from kubewarden/policies
# (docs/performance.md), official policies.
bench: $(WASM)
	cargo build --locked --release --target wasm32-wasip1 --manifest-path $(SDK_FLOOR) --target-dir target
	cargo build --locked --release --target wasm32-wasip1 --manifest-path $(SDK_FLOOR) --target-dir target/sdk-floor-mutating --features mutate
	cargo build --locked --release --target wasm32-wasip1 --manifest-path $(SDK_FLOOR) --target-dir target/sdk-floor-lookup --features lookup
	cargo bench --locked --bench admission
