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

# kwctl run with settings and a request fixture (extra kwctl flags after them);
# the AdmissionResponse lands in $response.
evaluate() {
  local settings="$1" request="$2"
  shift 2
  run kwctl run --settings-path "$FIXTURES/settings/$settings" \
    --request-path "$FIXTURES/requests/$request" "$@" "$OUT/annotated-policy.wasm"
  echo "$output" >&2
  [ "$status" -eq 0 ]
  response="$(echo "$output" | grep '^{' | tail -n 1)"
}

allowed() { echo "$response" | jq -r .allowed; }
message() { echo "$response" | jq -r '.status.message // ""'; }
warnings() { echo "$response" | jq -r '(.warnings // []) | join("\n")'; }

@test "injects native sidecars and keeps fields the bindings do not know" {
  evaluate injector.json pod-create-unknown-fields.json
  [ "$(echo "$response" | jq -r .allowed)" = true ]
  jq '.object' "$FIXTURES/requests/pod-create-unknown-fields.json" > "$OUT/original.json"
  echo "$response" | jq -r '.patch | @base64d' > "$OUT/patch.json"
  patched="$(cd "$ROOT" && cargo run --quiet --example apply_patch -- "$OUT/original.json" "$OUT/patch.json")"
  echo "$patched" | jq -e '.spec.hostnameOverride == "checkout-1.internal" and .spec.zFutureField.nested[2].deep
    and .metadata.zMetadataFuture == "kept" and .spec.containers[0].restartPolicyRules[0].action == "Restart"
    and .spec.containers[0].zContainerFuture.kept and .spec.initContainers[1].zInitFuture == "kept"'
  echo "$patched" | jq -e '[.spec.initContainers[] | .name] == ["log-shipper", "migrate", "metrics-agent"]'
  echo "$patched" | jq -e '.spec.initContainers[0].restartPolicy == "Always" and .spec.initContainers[2].restartPolicy == "Always"'
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

@test "a Job with a legacy istio-proxy is rejected with the fix" {
  evaluate validator.json job-istio-proxy.json
  [ "$(allowed)" = false ]
  [[ "$(message)" == *'container "istio-proxy" (Istio proxy'* ]]
  [[ "$(message)" == *"spec.template.spec.initContainers with restartPolicy: Always"* ]]
}

@test "a Job with istio-init and a native istio-proxy is accepted" {
  evaluate validator.json job-native-istio.json
  [ "$(allowed)" = true ]
}

@test "a Deployment with a legacy sidecar is accepted" {
  evaluate validator.json deployment-legacy-sidecar.json
  [ "$(allowed)" = true ]
}

@test "a CronJob with cloud-sql-proxy is rejected, then converted" {
  evaluate validator.json cronjob-cloud-sql-proxy.json
  [ "$(allowed)" = false ]
  evaluate converter.json cronjob-cloud-sql-proxy.json
  [ "$(allowed)" = true ]
  jq '.object' "$FIXTURES/requests/cronjob-cloud-sql-proxy.json" > "$OUT/original.json"
  echo "$response" | jq -r '.patch | @base64d' > "$OUT/patch.json"
  patched="$(cd "$ROOT" && cargo run --quiet --example apply_patch -- "$OUT/original.json" "$OUT/patch.json")"
  original="$(cat "$OUT/original.json")"
  t='.spec.jobTemplate.spec.template.spec'
  [ "$(echo "$patched" | jq -c "$t.initContainers[0]")" = "$(echo "$original" | jq -c "$t.containers[1] + {restartPolicy: \"Always\"}")" ]
  [ "$(echo "$patched" | jq -c "$t.containers")" = "$(echo "$original" | jq -c "[$t.containers[0]]")" ]
}

@test "a pod whose injected sidecar lost its field is flagged with the marker" {
  evaluate validator.json pod-stripped-marker.json
  [ "$(allowed)" = false ]
  [[ "$(message)" == *"marker KUBEWARDEN_NATIVE_SIDECAR=log-shipper"* ]]
}

@test "an UPDATE that removes the field is flagged" {
  evaluate validator.json cronjob-update-stripped.json
  [ "$(allowed)" = false ]
  [[ "$(message)" == *"this update drops it"* ]]
}

@test "the owner's template is compared through replayed host capabilities" {
  evaluate validator.json pod-stripped-owner.json --allow-context-aware \
    --replay-host-capabilities-interactions "$BATS_TEST_DIRNAME/sessions/replicaset-found.yml"
  [ "$(allowed)" = false ]
  [[ "$(message)" == *"its controller ReplicaSet/web-5c6d7 has restartPolicy: Always"* ]]
}

@test "a host capability error is a warning, not a trap" {
  evaluate validator.json pod-stripped-owner.json --allow-context-aware \
    --replay-host-capabilities-interactions "$BATS_TEST_DIRNAME/sessions/replicaset-forbidden.yml"
  [ "$(allowed)" = true ]
  [[ "$(warnings)" == *"could not read the pod's controller ReplicaSet/web-5c6d7"* ]]
}

@test "nodeVersion injects the old way when a node is too old (replayed Node list)" {
  evaluate node-version.json pod-create-plain.json --allow-context-aware \
    --replay-host-capabilities-interactions "$BATS_TEST_DIRNAME/sessions/nodes-mixed.yml"
  [ "$(allowed)" = true ]
  echo "$response" | jq -r '.patch | @base64d' | jq -e \
    'map(select(.path == "/spec/containers/2")) | .[0].value.name == "metrics-agent"'
}
