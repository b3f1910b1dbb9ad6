//! Injection, evaluated by the real module under wasmtime through waPC.

use crate::harness;

use harness::{Policy, assert_nothing_lost, fixture};
use rstest::rstest;
use serde_json::{Value, json};

fn injector() -> Value {
    fixture("settings/injector.json")
}

#[test]
fn speaks_the_kubewarden_protocol() {
    let policy = Policy::new();
    assert_eq!(policy.protocol_version(), json!("v1"));
    let verdict = policy.validate_settings(&injector());
    assert!(verdict.valid, "{:?}", verdict.message);
}

#[rstest]
#[case::typo(json!({"sidecars": [{"name": "a", "contianer": {}}]}), "sidecars[0].contianer: unknown field `contianer`")]
#[case::no_image(json!({"sidecars": [{"name": "a", "container": {"name": "a"}}]}), "sidecars[0].container.image: an image is required")]
#[case::restart_policy(json!({"sidecars": [{"name": "a", "container": {"name": "a", "image": "i", "restartPolicy": "OnFailure"}}]}), "sidecars[0].container.restartPolicy")]
#[case::position(json!({"sidecars": [{"name": "a", "position": "after", "container": {"name": "a", "image": "i"}}]}), "sidecars[0].position: \"after\" is not a position")]
#[case::duplicate(json!({"sidecars": [{"name": "a", "container": {"name": "a", "image": "i"}}, {"name": "a", "container": {"name": "b", "image": "i"}}]}), "sidecars[1].name: duplicate template name")]
#[case::not_json_object(json!("yes"), "invalid settings: settings must be a map")]
#[case::quantity(json!({"sidecars": [{"name": "a", "container": {"name": "a", "image": "i",
    "resources": {"requests": {"cpu": "lots"}}}}]}), "sidecars[0].container.resources: requests.cpu: \"lots\" is not a quantity")]
fn bad_settings_are_refused_at_load(#[case] settings: Value, #[case] expected: &str) {
    let verdict = Policy::new().validate_settings(&settings);
    assert!(!verdict.valid);
    let message = verdict.message.unwrap_or_default();
    assert!(
        message.contains(expected),
        "{message:?} should contain {expected:?}"
    );
}

/// The pod carries fields k8s-openapi 0.28 does not know, at every level: the
/// patch the host derives must keep them all. What it adds, exactly, is the
/// golden file tests/golden/injector/pod-create-unknown-fields.yaml.
#[test]
fn injection_keeps_every_field() {
    let request = fixture("requests/pod-create-unknown-fields.json");
    let outcome = Policy::new().validate(&injector(), &request);
    assert!(outcome.response.accepted);
    assert_nothing_lost(&request["object"], outcome.patched.as_ref().expect("mutated"));
}

/// Into a pod without init containers, injection only adds: every operation
/// of the host's patch is an `add` (where init containers exist, the host's
/// diff of the shifted list also replaces and removes), and a pod that takes
/// every template gets no warning. The exact patch is
/// tests/golden/injector/pod-create-plain.yaml.
#[test]
fn injection_into_a_pod_without_init_containers_only_adds() {
    let outcome = Policy::new().validate(&injector(), &fixture("requests/pod-create-plain.json"));
    assert_eq!(outcome.response.warnings, None);
    let patch = serde_json::to_value(outcome.patch.expect("a patch")).expect("JSON");
    let ops: Vec<&str> = patch
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|op| op["op"].as_str())
        .collect();
    assert!(!ops.is_empty() && ops.iter().all(|op| *op == "add"), "{ops:?}");
}

#[rstest]
#[case::unknown_fields("requests/pod-create-unknown-fields.json")]
#[case::plain("requests/pod-create-plain.json")]
fn evaluating_our_own_output_again_changes_nothing(#[case] path: &str) {
    let policy = Policy::new();
    let mut request = fixture(path);
    let first = policy.validate(&injector(), &request);
    request["object"] = first.patched.expect("first pass mutates");
    let second = policy.validate(&injector(), &request);
    assert!(second.response.accepted);
    assert_eq!(
        second.response.mutated_object, None,
        "second pass must not mutate"
    );
    assert_eq!(second.response.warnings, None);
}

#[rstest]
#[case::update("UPDATE", "Pod", "")]
#[case::delete("DELETE", "Pod", "")]
#[case::deployment("CREATE", "Deployment", "")]
#[case::ephemeral_containers("CREATE", "Pod", "ephemeralcontainers")]
fn only_pod_create_is_mutated(#[case] operation: &str, #[case] kind: &str, #[case] sub_resource: &str) {
    let mut request = fixture("requests/pod-create-plain.json");
    request["operation"] = json!(operation);
    request["kind"]["kind"] = json!(kind);
    request["subResource"] = json!(sub_resource);
    let outcome = Policy::new().validate(&injector(), &request);
    assert!(outcome.response.accepted);
    assert_eq!(outcome.response.mutated_object, None);
}

#[test]
fn a_validate_only_deployment_never_mutates() {
    let mut settings = injector();
    settings["mutate"] = json!(false);
    let outcome = Policy::new().validate(&settings, &fixture("requests/pod-create-plain.json"));
    assert!(outcome.response.accepted);
    assert_eq!(outcome.response.mutated_object, None);
}

#[test]
fn warnings_reach_the_user_on_accepted_pods() {
    let mut request = fixture("requests/pod-create-plain.json");
    request["object"]["metadata"]["annotations"] =
        json!({"native-sidecar.kubewarden.io/inject": "log-shiper"});
    let outcome = Policy::new().validate(&injector(), &request);
    assert!(outcome.response.accepted);
    assert_eq!(
        outcome.response.mutated_object, None,
        "nothing chosen, nothing injected"
    );
    assert_eq!(
        outcome.response.warnings,
        Some(vec![
            "native-sidecar.kubewarden.io/inject: no sidecar template named log-shiper; \
             known templates: log-shipper, metrics-agent"
                .to_owned()
        ])
    );
}

#[rstest]
#[case::payload_not_json(b"{not json".to_vec(), "malformed validation payload")]
#[case::payload_a_list(br#"[{"sidecars": []}, {}]"#.to_vec(), "malformed validation payload: not a JSON map")]
#[case::settings_a_list(br#"{"settings": [true], "request": {}}"#.to_vec(), "invalid settings: settings must be a map")]
#[case::request_not_object(br#"{"settings": {}, "request": 7}"#.to_vec(), "malformed request: request must be an object")]
#[case::containers_not_list(
    br#"{"settings": {"sidecars": [{"name": "a", "injection": "always", "container": {"name": "a", "image": "i"}}]},
        "request": {"operation": "CREATE", "kind": {"kind": "Pod"}, "object": {"spec": {"containers": 5}}}}"#.to_vec(),
    "malformed request: object.spec.containers must be a list")]
#[case::bad_settings_at_evaluation(br#"{"settings": {"mutat": true}, "request": {}}"#.to_vec(), "invalid settings: mutat: unknown field")]
fn malformed_input_is_rejected_clearly_not_trapped(#[case] payload: Vec<u8>, #[case] expected: &str) {
    let policy = Policy::new();
    let raw = policy
        .call("validate", &payload)
        .expect("no trap, no guest error");
    let response: Value = serde_json::from_slice(&raw).expect("a response");
    assert_eq!(response["accepted"], json!(false));
    assert_eq!(response["code"], json!(400));
    let message = response["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(expected),
        "{message:?} should contain {expected:?}"
    );
}

/// A pod with pod-level resources gets them raised by what it gets injected
/// (the API server refuses pod-level requests below its containers'), and is
/// told; its other resources stay as they are. Both copies count under the
/// universal injector.
#[rstest]
#[case::native(injector(), "log-shipper", &[("requests", "cpu", "510m"), ("requests", "memory", "301989888"),
                                             ("limits", "cpu", "1010m")])]
#[case::universal(json!({"nativeSupport": {"strategy": "universal"}, "sidecars": [{"name": "log", "injection": "optIn",
    "container": {"name": "log", "image": "busybox", "command": ["tail"],
                  "resources": {"requests": {"cpu": "10m"}, "limits": {"cpu": "20m"}}}}]}),
    "log", &[("requests", "cpu", "520m"), ("limits", "cpu", "1040m")])]
// One sidecar with a limit, one without: the pod's limit makes room for the
// second one's request too, so that its requests stay within its limits.
#[case::limit_and_none(json!({"sidecars": [
    {"name": "a", "container": {"name": "a", "image": "busybox", "resources": {"requests": {"cpu": "10m"}, "limits": {"cpu": "20m"}}}},
    {"name": "b", "container": {"name": "b", "image": "busybox", "resources": {"requests": {"cpu": "100m"}}}}]}),
    "a,b", &[("requests", "cpu", "610m"), ("limits", "cpu", "1120m")])]
fn pod_level_resources_make_room_for_the_sidecars(
    #[case] settings: Value,
    #[case] template: &str,
    #[case] raised: &[(&str, &str, &str)],
) {
    let request = json!({"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "namespace": "team",
        "object": {"metadata": {"name": "p", "annotations": {"native-sidecar.kubewarden.io/inject": template}},
                   "spec": {"resources": {"requests": {"cpu": "500m", "memory": "256Mi", "hugepages-2Mi": "0"},
                                          "limits": {"cpu": "1", "ephemeral-storage": "1Gi"}},
                            "containers": [{"name": "app", "image": "nginx"}]}}});
    let outcome = Policy::new().validate(&settings, &request);
    assert!(outcome.response.accepted, "{outcome:?}");
    let patched = outcome.patched.expect("mutated");
    let resources = &patched["spec"]["resources"];
    for (list, resource, value) in raised {
        assert_eq!(resources[list][resource], *value, "{list}.{resource}");
    }
    assert_eq!(resources["requests"]["hugepages-2Mi"], "0");
    assert_eq!(resources["limits"]["ephemeral-storage"], "1Gi");
    let warnings = outcome.response.warnings.unwrap_or_default().join("\n");
    assert!(
        warnings.contains("spec.resources raised for the injected sidecars"),
        "{warnings}"
    );
}
