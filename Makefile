# native-sidecar-policy: the two commands of the README are `make run` and `make test`.
WASM := target/wasm32-wasip1/release/native_sidecar_policy.wasm
SETTINGS ?= tests/fixtures/settings/injector.json
REQUEST ?= tests/fixtures/requests/pod-create-unknown-fields.json

.PHONY: setup wasm run test e2e-tests lint fmt bump-version fuzz-smoke bench clean

# Everything a fresh machine needs: the wasm target; bats, jq and docker-registry
# (an OCI registry on 127.0.0.1) for e2e; busybox to test the shim under a second sh.
setup:
	rustup target add wasm32-wasip1
	@command -v bats >/dev/null && command -v jq >/dev/null && command -v busybox >/dev/null && command -v docker-registry >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bats jq busybox docker-registry >/dev/null; \
	  else echo "install bats, jq and busybox (apt-get install bats jq busybox docker-registry) for the e2e and shim tests"; fi; }

$(WASM): setup $(shell find src -type f) Cargo.toml Cargo.lock
	cargo build --locked --target wasm32-wasip1 --release
	@ls -l $(WASM) | awk '{printf "module: %s (%d bytes)\n", $$9, $$5}'

wasm: $(WASM)

# Build the module and evaluate the shipped sample request under wasmtime.
run: $(WASM)
	cargo run --locked --quiet --example evaluate -- --settings $(SETTINGS) $(REQUEST)

# Every test: lints, unit tests, the module under wasmtime, then the e2e suite.
# (Many tests mostly wait on the shim's shells: more threads than cores.)
test: $(WASM) lint
	cargo test --locked -- --test-threads=8
	$(MAKE) e2e-tests

e2e-tests: $(WASM)
	bats e2e/

# Release artefacts, as Kubewarden's release workflow builds them.
policy.wasm: $(WASM)
	cp $(WASM) policy.wasm

annotated-policy.wasm: policy.wasm metadata.yml README.md
	kwctl annotate -m metadata.yml -u README.md -o annotated-policy.wasm policy.wasm

artifacthub-pkg.yml: metadata.yml questions-ui.yml
	kwctl scaffold artifacthub --metadata-path metadata.yml --questions-path questions-ui.yml > artifacthub-pkg.yml

# make bump-version VERSION=X.Y.Z
bump-version:
	scripts/bump-version.sh $(VERSION)

# The policy's own code must be panic-free (see the lints in src/lib.rs).
lint:
	cargo fmt --all -- --check
	cargo clippy --locked --lib -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -f policy.wasm annotated-policy.wasm

# About a minute of coverage-guided fuzzing (nightly, cargo-fuzz): each target
# from the seeds in fuzz/seeds, new inputs kept in fuzz/corpus (ignored by git).
FUZZ_SECONDS ?= 20
fuzz-smoke:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for target in validate validate_pod validate_settings; do \
	  mkdir -p corpus/$$target && \
	  cargo +nightly fuzz run $$target corpus/$$target seeds/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 2>&1 | grep -E '^(Done|#[0-9]+.*DONE)|SUMMARY|panicked' ; \
	done

# Admission latency, cold start and memory (criterion); prints one table at the end.
bench: $(WASM)
	cargo bench --locked --bench admission
