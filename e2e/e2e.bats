#!/usr/bin/env bats
# End-to-end: the policy through kwctl, the way users try it locally.
# Every case needs kwctl on PATH; without it they are skipped, and said so.

setup_file() {
  export ROOT="$BATS_TEST_DIRNAME/.."
  export WASM="$ROOT/target/wasm32-wasip1/release/native_sidecar_policy.wasm"
  export OUT="$BATS_TEST_DIRNAME/out"
  export FIXTURES="$ROOT/tests/fixtures"
  mkdir -p "$OUT"
  if command -v kwctl >/dev/null; then
    kwctl annotate -m "$ROOT/metadata.yml" -u "$ROOT/README.md" -o "$OUT/annotated-policy.wasm" "$WASM"
  else
    echo "# kwctl is not on PATH: every kwctl case of this suite is SKIPPED" >&3
  fi
}

setup() {
  command -v kwctl >/dev/null || skip "kwctl not on PATH"
}

# kwctl run with settings and a request fixture; the response JSON lands in $output.
evaluate() {
  local settings="$1" request="$2"
  run kwctl run --settings-path "$FIXTURES/settings/$settings" \
    --request-path "$FIXTURES/requests/$request" "$OUT/annotated-policy.wasm"
  echo "$output" >&2
  [ "$status" -eq 0 ]
  response="$(echo "$output" | grep '^{' | tail -n 1)"
}

@test "injects native sidecars and keeps fields the bindings do not know" {
  evaluate injector.json pod-create-unknown-fields.json
  [ "$(echo "$response" | jq -r .allowed)" = true ]
  patch="$(echo "$response" | jq -r '.patch | @base64d')"
  echo "$patch" | jq -e 'map(select(.op == "remove" and (.path | test("zFutureField|hostnameOverride|restartPolicyRules|zContainerFuture|zInitFuture")))) | length == 0'
  echo "$patch" | jq -e 'map(select(.path == "/spec/initContainers/0")) | .[0].value.restartPolicy == "Always"'
}

@test "a pod without init containers gets add operations only" {
  evaluate injector.json pod-create-plain.json
  [ "$(echo "$response" | jq -r .allowed)" = true ]
  echo "$response" | jq -r '.patch | @base64d' | jq -e 'all(.op == "add")'
}

@test "a validate-only deployment returns no patch" {
  run kwctl run --settings-json '{"mutate": false}' \
    --request-path "$FIXTURES/requests/pod-create-plain.json" "$OUT/annotated-policy.wasm"
  [ "$status" -eq 0 ]
  response="$(echo "$output" | grep '^{' | tail -n 1)"
  [ "$(echo "$response" | jq -r .allowed)" = true ]
  [ "$(echo "$response" | jq -r '.patch // "none"')" = none ]
}

@test "bad settings are refused naming the field" {
  run kwctl run --settings-json '{"sidecars": [{"name": "a", "container": {"name": "a"}}]}' \
    --request-path "$FIXTURES/requests/pod-create-plain.json" "$OUT/annotated-policy.wasm"
  [ "$status" -ne 0 ]
  [[ "$output" == *"sidecars[0].container.image"* ]]
}
