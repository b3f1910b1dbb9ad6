#!/usr/bin/env bats
# End-to-end: the policy through kwctl, the way users try it locally.
# Every case needs kwctl on PATH; without it they are skipped, and said so.

setup_file() {
  export ROOT="$BATS_TEST_DIRNAME/.."
  export WASM="$ROOT/target/wasm32-wasip1/release/native_sidecar_policy.wasm"
  export OUT="$BATS_TEST_DIRNAME/out"
  export FIXTURES="$ROOT/tests/fixtures"
  mkdir -p "$OUT"
  (cd "$ROOT" && cargo build --quiet --examples)
  export EXAMPLES="$ROOT/target/debug/examples"
  # The settings of every policy shipped in policies/, as JSON files (a
  # manifest without a policy, like the RBAC one, gets none).
  rm -f "$OUT"/*.settings.json
  for manifest in "$ROOT"/policies/*.yaml; do
    "$EXAMPLES/json_tools" yaml2json "$manifest" > "$OUT/manifest.json" || return 1
    jq -c 'select(.kind | test("AdmissionPolicy")) | .spec.settings' "$OUT/manifest.json" > "$OUT/settings.tmp" || return 1
    if [ -s "$OUT/settings.tmp" ]; then
      mv "$OUT/settings.tmp" "$OUT/$(basename "$manifest" .yaml).settings.json"
    fi
  done
  if command -v kwctl >/dev/null; then
    kwctl annotate -m "$ROOT/metadata.yml" -u "$ROOT/README.md" -o "$OUT/annotated-policy.wasm" "$WASM"
  else
    echo "# kwctl is not on PATH: every kwctl case of this suite is SKIPPED" >&3
  fi
}

setup() {
  case "$BATS_TEST_DESCRIPTION" in
    "[no kwctl]"*) ;;
    *) command -v kwctl >/dev/null || skip "kwctl not on PATH" ;;
  esac
}

# kwctl run with settings (a fixture name, or a path) and a request fixture,
# extra kwctl flags after them; the AdmissionResponse lands in $response.
evaluate() {
  local settings="$1" request="$2"
  shift 2
  [ -f "$settings" ] || settings="$FIXTURES/settings/$settings"
  [ -f "$request" ] || request="$FIXTURES/requests/$request"
  run kwctl run --settings-path "$settings" \
    --request-path "$request" "$@" "$OUT/annotated-policy.wasm"
  echo "$output" >&2
  [ "$status" -eq 0 ]
  response="$(echo "$output" | grep '^{' | tail -n 1)"
}

allowed() { echo "$response" | jq -r .allowed; }
message() { echo "$response" | jq -r '.status.message // ""'; }
warnings() { echo "$response" | jq -r '(.warnings // []) | join("\n")'; }
# The response's JSON Patch, decoded.
decoded_patch() { echo "$response" | jq -r '.patch | @base64d'; }

@test "injects native sidecars and keeps fields the bindings do not know" {
  evaluate injector.json pod-create-unknown-fields.json
  [ "$(echo "$response" | jq -r .allowed)" = true ]
  jq '.object' "$FIXTURES/requests/pod-create-unknown-fields.json" > "$OUT/original.json"
  decoded_patch > "$OUT/patch.json"
  patched="$("$EXAMPLES/json_tools" apply-patch "$OUT/original.json" "$OUT/patch.json")"
  echo "$patched" | jq -e '.spec.hostnameOverride == "checkout-1.internal" and .spec.zFutureField.nested[2].deep
    and .metadata.zMetadataFuture == "kept" and .spec.containers[0].restartPolicyRules[0].action == "Restart"
    and .spec.containers[0].zContainerFuture.kept and .spec.initContainers[1].zInitFuture == "kept"'
  echo "$patched" | jq -e '[.spec.initContainers[] | .name] == ["log-shipper", "migrate", "metrics-agent"]'
  echo "$patched" | jq -e '.spec.initContainers[0].restartPolicy == "Always" and .spec.initContainers[2].restartPolicy == "Always"'
}

@test "a pod without init containers gets add operations only" {
  evaluate injector.json pod-create-plain.json
  [ "$(echo "$response" | jq -r .allowed)" = true ]
  decoded_patch | jq -e 'all(.op == "add")'
}

@test "a validate-only deployment returns no patch" {
  # The injector's templates, which do patch this pod when mutate is on.
  evaluate injector.json pod-create-plain.json
  [ "$(echo "$response" | jq -r '.patch // "none"')" != none ]
  jq '.mutate = false' "$FIXTURES/settings/injector.json" > "$OUT/validate-only.json"
  evaluate "$OUT/validate-only.json" pod-create-plain.json
  [ "$(allowed)" = true ]
  [ "$(echo "$response" | jq -r '.patch // "none"')" = none ]
}

@test "bad settings are refused naming the field" {
  run kwctl run --settings-json '{"sidecars": [{"name": "a", "container": {"name": "a"}}]}' \
    --request-path "$FIXTURES/requests/pod-create-plain.json" "$OUT/annotated-policy.wasm"
  [ "$status" -ne 0 ]
  [[ "$output" == *"sidecars[0].container.image"* ]]
}

@test "the metadata declares exactly the host capabilities the module calls" {
  run kwctl annotate -m "$ROOT/metadata.yml" -u "$ROOT/README.md" -o "$OUT/capabilities-check.wasm" "$WASM"
  [ "$status" -eq 0 ]
  [[ "$output" != *"not declared in metadata"* ]]
  [[ "$output" != *"not detected in the policy"* ]]
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
  decoded_patch > "$OUT/patch.json"
  patched="$("$EXAMPLES/json_tools" apply-patch "$OUT/original.json" "$OUT/patch.json")"
  original="$(cat "$OUT/original.json")"
  t='.spec.jobTemplate.spec.template.spec'
  # The sidecar goes after the existing init containers: it used to start after them.
  [ "$(echo "$patched" | jq -cS "$t.initContainers[0]")" = "$(echo "$original" | jq -cS "$t.initContainers[0]")" ]
  # Untouched but for restartPolicy and the marker that makes a later strip conclusive.
  [ "$(echo "$patched" | jq -cS "$t.initContainers[1]")" = "$(echo "$original" | jq -cS "$t.containers[1] + {restartPolicy: \"Always\", env: ((($t.containers[1].env) // []) + [{name: \"KUBEWARDEN_NATIVE_SIDECAR\", value: \"(converted)\"}])}")" ]
  [ "$(echo "$patched" | jq -cS "$t.containers")" = "$(echo "$original" | jq -cS "[$t.containers[0]]")" ]
}

# Applies the patch of $response to the object of a request fixture, and
# writes that request with the patched object to $OUT/$2.
patched_request() {
  local request="$1" into="$2"
  jq '.object' "$FIXTURES/requests/$request" > "$OUT/original.json"
  decoded_patch > "$OUT/patch.json"
  "$EXAMPLES/json_tools" apply-patch "$OUT/original.json" "$OUT/patch.json" > "$OUT/patched.json"
  jq --slurpfile patched "$OUT/patched.json" '.object = $patched[0]' "$FIXTURES/requests/$request" > "$OUT/$into"
}

@test "convert keeps istio-init before the converted istio-proxy, and its output passes the validator" {
  evaluate converter.json pod-job-istio-legacy.json
  [ "$(allowed)" = true ]
  patched_request pod-job-istio-legacy.json converted.json
  jq -e '[.object.spec.initContainers[] | [.name, .restartPolicy]] == [["istio-init", null], ["istio-proxy", "Always"]]' \
    "$OUT/converted.json"
  jq -e '[.object.spec.containers[] | .name] == ["report"]' "$OUT/converted.json"
  evaluate converter.json "$OUT/converted.json"
  [ "$(allowed)" = true ]
  [ "$(echo "$response" | jq -r '.patch // "none"')" = none ]
  # (Without the owner lookup: kwctl cannot answer it here.)
  jq '.strippedRestartPolicy.checkOwner = false' "$FIXTURES/settings/validator.json" > "$OUT/validator-no-owner.json"
  evaluate "$OUT/validator-no-owner.json" "$OUT/converted.json"
  [ "$(allowed)" = true ]
  [ -z "$(warnings)" ]
}

@test "convert refuses where the pod's nodes are too old for native sidecars (replayed Node list)" {
  evaluate converter-node-version.json pod-job-istio-legacy.json --allow-context-aware \
    --replay-host-capabilities-interactions "$BATS_TEST_DIRNAME/sessions/nodes-mixed.yml"
  [ "$(allowed)" = false ]
  [[ "$(message)" == *'but not here: pool-b-1 runs kubelet v1.27.16-eks-a737599, and native sidecars need kubelet >= 1.29'* ]]
  [[ "$(message)" == *'container "istio-proxy" (Istio proxy'* ]]
}

@test "universal: both copies in a long-running pod, none in a pod that runs to completion" {
  evaluate universal.json pod-create-plain.json
  [ "$(allowed)" = true ]
  patched_request pod-create-plain.json universal-pod.json
  jq -e '[.object.spec.initContainers[] | .name] == ["log-shipper"] and .object.spec.initContainers[0].restartPolicy == "Always"' \
    "$OUT/universal-pod.json"
  jq -e '[.object.spec.containers[] | .name] | index("log-shipper-legacy") != null' "$OUT/universal-pod.json"
  jq '.object.spec.restartPolicy = "Never"' "$FIXTURES/requests/pod-create-plain.json" > "$OUT/job-pod.json"
  evaluate universal.json "$OUT/job-pod.json"
  [ "$(allowed)" = true ]
  [ "$(echo "$response" | jq -r '.patch // "none"')" = none ]
  [[ "$(warnings)" == *"this pod runs to completion (restartPolicy Never)"* ]]
}

@test "universal: an init copy without restartPolicy (an API server that drops it) passes the validator" {
  evaluate universal.json pod-create-plain.json
  patched_request pod-create-plain.json universal-pod.json
  jq 'del(.object.spec.initContainers[0].restartPolicy)' "$OUT/universal-pod.json" > "$OUT/universal-dropped.json"
  evaluate validator.json "$OUT/universal-dropped.json"
  [ "$(allowed)" = true ]
  [ -z "$(warnings)" ]
}

@test "meshes, convert: a Job pod in an Istio namespace gets the mesh's switch and nothing else (replayed Namespace)" {
  evaluate converter-meshes.json pod-job-report.json --allow-context-aware \
    --replay-host-capabilities-interactions "$BATS_TEST_DIRNAME/sessions/namespace-istio.yml"
  [ "$(allowed)" = true ]
  decoded_patch | jq -e \
    '. == [{"op": "add", "path": "/metadata/annotations", "value": {"sidecar.istio.io/nativeSidecar": "true"}}]'
  [[ "$(warnings)" == *'so that Istio injects its proxy "istio-proxy" as a native sidecar'* ]]
}

@test "meshes, reject: a Job whose pods Istio will inject the legacy way is refused at apply (replayed Namespace)" {
  evaluate validator-meshes.json job-report.json --allow-context-aware \
    --replay-host-capabilities-interactions "$BATS_TEST_DIRNAME/sessions/namespace-istio.yml"
  [ "$(allowed)" = false ]
  [[ "$(message)" == *'its namespace is labelled istio-injection=enabled'* ]]
  [[ "$(message)" == *'Fix: set the annotation sidecar.istio.io/nativeSidecar: "true" in spec.template.metadata.annotations'* ]]
}

@test "the tutorial's logshipper (tail -F) is warned about as a probable sidecar" {
  evaluate validator.json job-logshipper.json
  [ "$(allowed)" = true ]
  [[ "$(warnings)" == *'container "logshipper" looks like a sidecar (its command tails a file with -f, which never ends)'* ]]
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

# The mode the policy recorded in the pod's status annotation, and why.
recorded_status() {
  decoded_patch | jq -r 'map(select(.path == "/metadata/annotations"))[0].value
    ["native-sidecar.kubewarden.io/status"] | fromjson | .injected[0] | "\(.mode): \(.reason)"'
}

@test "nodeVersion injects the old way when a node is too old (replayed Node list)" {
  evaluate node-version.json pod-create-plain.json --allow-context-aware \
    --replay-host-capabilities-interactions "$BATS_TEST_DIRNAME/sessions/nodes-mixed.yml"
  [ "$(allowed)" = true ]
  decoded_patch | jq -e \
    'map(select(.path == "/spec/containers/2")) | .[0].value.name == "metrics-agent"'
  # Decided from the replayed Node list, not from a failed lookup.
  [ -z "$(warnings)" ]
  [ "$(recorded_status)" = "legacy: pool-b-1 runs kubelet v1.27.16-eks-a737599" ]
}

@test "nodeVersion asks for a pinned pod's pool only (replayed Node list of one pool)" {
  jq '.object.spec.nodeSelector = {"cloud.google.com/gke-nodepool": "old"}' \
    "$FIXTURES/requests/pod-create-plain.json" > "$OUT/pod-pinned-old-pool.json"
  jq '.nativeSupport.nodePools = {"cloud.google.com/gke-nodepool": ["old", "new"]}' \
    "$FIXTURES/settings/node-version.json" > "$OUT/node-version-pools.json"
  evaluate "$OUT/node-version-pools.json" "$OUT/pod-pinned-old-pool.json" --allow-context-aware \
    --replay-host-capabilities-interactions "$BATS_TEST_DIRNAME/sessions/nodes-pool.yml"
  [ "$(allowed)" = true ]
  [ -z "$(warnings)" ]
  [ "$(recorded_status)" = "legacy: pool-b-1 runs kubelet v1.27.16-eks-a737599" ]
}

@test "[no kwctl] every shipped policy carries settings" {
  policies=$(grep -l -E '^kind: (Cluster)?AdmissionPolicy' "$ROOT"/policies/*.yaml | wc -l)
  [ "$policies" -eq 5 ]
  [ "$(ls "$OUT"/*.settings.json | wc -l)" -eq "$policies" ]
  for settings in "$OUT"/*.settings.json; do
    jq -e 'type == "object" and length > 0' "$settings"
  done
}

@test "the shipped injector injects into an opted-in pod" {
  evaluate "$OUT/injector.settings.json" pod-create-plain.json
  [ "$(allowed)" = true ]
  decoded_patch | jq -e 'map(select(.path == "/spec/initContainers")) | .[0].value[0].name == "log-shipper"'
}

@test "the shipped validator rejects a Job with a legacy sidecar" {
  evaluate "$OUT/validator.settings.json" job-istio-proxy.json
  [ "$(allowed)" = false ]
}

@test "the shipped namespaced policy only warns" {
  evaluate "$OUT/admission-policy-namespaced.settings.json" job-istio-proxy.json
  [ "$(allowed)" = true ]
  [[ "$(warnings)" == *"will keep this Job from completing"* ]]
}

@test "the shipped mixed-cluster injector falls back to the universal copies on an old pool" {
  evaluate "$OUT/injector-node-version.settings.json" pod-create-plain.json --allow-context-aware \
    --replay-host-capabilities-interactions "$BATS_TEST_DIRNAME/sessions/nodes-mixed.yml"
  [ "$(allowed)" = true ]
  decoded_patch | jq -e \
    'map(select(.path == "/spec/containers/2")) | .[0].value.name == "log-shipper-legacy"'
  [ -z "$(warnings)" ]
  [ "$(recorded_status)" = "universal: pool-b-1 runs kubelet v1.27.16-eks-a737599" ]
}

@test "[no kwctl] the shipped monitor-mode policy has the validator's settings" {
  [ "$(jq -S . "$OUT/validator-monitor.settings.json")" = "$(jq -S . "$OUT/validator.settings.json")" ]
}

@test "kwctl bench times a typical request" {
  run kwctl bench --settings-path "$FIXTURES/settings/injector.json" \
    --request-path "$FIXTURES/requests/pod-create-unknown-fields.json" \
    --measurement-time 1 --num-resamples 2 --num-samples 10 --warm-up-time 1 "$OUT/annotated-policy.wasm"
  echo "$output" >&3
  [ "$status" -eq 0 ]
  # It measured both functions (its report, not just its exit code).
  [[ "$output" == *"validate_settings"*"iterations in"* ]]
  echo "$output" | grep -E '^.*validate.* \[.*iterations in .* with [0-9.]+ samples\]' | grep -vq validate_settings
}

@test "artifacthub-pkg.yml is what kwctl scaffold artifacthub makes of metadata.yml" {
  kwctl scaffold artifacthub --metadata-path "$ROOT/metadata.yml" --questions-path "$ROOT/questions-ui.yml" \
    --output "$OUT/artifacthub-pkg.yml"
  "$EXAMPLES/json_tools" yaml2json "$OUT/artifacthub-pkg.yml" > "$OUT/scaffolded.json"
  "$EXAMPLES/json_tools" yaml2json "$ROOT/artifacthub-pkg.yml" > "$OUT/shipped.json"
  jq -e 'length > 0' "$OUT/shipped.json"
  diff <(jq -S 'del(.createdAt)' "$OUT/scaffolded.json") <(jq -S 'del(.createdAt)' "$OUT/shipped.json")
}

@test "OCI round trip: push, pull, run from the registry, inspect" {
  command -v docker-registry >/dev/null || skip "docker-registry not installed"
  port=$((20000 + RANDOM % 20000))
  mkdir -p "$OUT/registry"
  cat > "$OUT/registry.yml" <<CONFIG
version: 0.1
storage:
  filesystem:
    rootdirectory: $OUT/registry
http:
  addr: 127.0.0.1:$port
CONFIG
  docker-registry serve "$OUT/registry.yml" > "$OUT/registry.log" 2>&1 &
  registry_pid=$!
  printf 'insecure_sources:\n  - "127.0.0.1:%s"\n' "$port" > "$OUT/sources.yml"
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.2; done
  uri="registry://127.0.0.1:$port/policies/native-sidecar:v0.1.0"
  run kwctl push --sources-path "$OUT/sources.yml" "$OUT/annotated-policy.wasm" "$uri"
  echo "$output" >&2; [ "$status" -eq 0 ] || { kill "$registry_pid"; false; }
  run kwctl pull --sources-path "$OUT/sources.yml" "$uri"
  echo "$output" >&2; [ "$status" -eq 0 ] || { kill "$registry_pid"; false; }
  run kwctl run --sources-path "$OUT/sources.yml" --settings-path "$FIXTURES/settings/validator.json" \
    --request-path "$FIXTURES/requests/job-istio-proxy.json" "$uri"
  echo "$output" >&2
  response="$(echo "$output" | grep '^{' | tail -n 1)"
  [ "$(allowed)" = false ] || { kill "$registry_pid"; false; }
  run kwctl inspect "$uri"
  kill "$registry_pid"
  echo "$output" >&2
  [ "$status" -eq 0 ]
  [[ "$output" == *"native-sidecar"* ]]
}
