//! What a pod can and cannot make the injector do: it picks among the
//! operator's templates, nothing more.

mod harness;

use harness::{Policy, fixture};
use serde_json::{Value, json};

fn pod(annotations: Value, containers: Value) -> Value {
    json!({"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "namespace": "team",
           "object": {"metadata": {"name": "p", "annotations": annotations}, "spec": {"containers": containers}}})
}

fn app() -> Value {
    json!([{"name": "app", "image": "registry.example.com/app:1"}])
}

fn init_names(outcome: &harness::Outcome) -> Vec<String> {
    let object = outcome.patched.as_ref().expect("mutated");
    object["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn warnings(outcome: &harness::Outcome) -> String {
    outcome.response.warnings.clone().unwrap_or_default().join("\n")
}

#[test]
fn a_pod_cannot_name_a_template_the_operator_does_not_have() {
    let outcome = Policy::new().validate(
        &fixture("settings/enforced.json"),
        &pod(
            json!({"native-sidecar.kubewarden.io/inject": "crypto-miner"}),
            app(),
        ),
    );
    assert_eq!(init_names(&outcome), ["mesh-proxy"], "only the enforced template");
    assert!(warnings(&outcome).contains("no sidecar template named crypto-miner"));
}

#[test]
fn a_pod_cannot_inject_content_of_its_own() {
    let smuggled = json!({"name": "x", "image": "evil", "securityContext": {"privileged": true}}).to_string();
    let outcome = Policy::new().validate(
        &fixture("settings/enforced.json"),
        &pod(json!({"native-sidecar.kubewarden.io/inject": smuggled}), app()),
    );
    let patched = outcome.patched.as_ref().expect("mutated");
    // The annotation stays as the user wrote it; nothing of it is injected.
    assert_eq!(
        patched["spec"]["initContainers"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(!patched["spec"].to_string().contains("privileged"), "{patched}");
    assert!(warnings(&outcome).contains("no sidecar template named"));
}

#[test]
fn a_forged_status_annotation_does_not_escape_an_always_template() {
    let forged =
        json!({"injected": [{"template": "mesh", "container": "mesh-proxy", "mode": "native"}]}).to_string();
    let outcome = Policy::new().validate(
        &fixture("settings/enforced.json"),
        &pod(json!({"native-sidecar.kubewarden.io/status": forged}), app()),
    );
    assert_eq!(init_names(&outcome), ["mesh-proxy"]);
}

#[test]
fn a_forged_marker_is_ignored_and_reported() {
    let containers = json!([{"name": "app", "image": "a", "env": [{"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "mesh"}]}]);
    let outcome = Policy::new().validate(&fixture("settings/enforced.json"), &pod(json!({}), containers));
    assert_eq!(init_names(&outcome), ["mesh-proxy"]);
    assert_eq!(
        warnings(&outcome),
        "container \"app\" carries KUBEWARDEN_NATIVE_SIDECAR=\"mesh\" but is not what that sidecar template injects: \
         the marker is ignored"
    );
}

#[test]
fn a_look_alike_container_cannot_replace_an_enforced_sidecar() {
    let containers = json!([{"name": "app", "image": "a"},
        {"name": "mesh-proxy", "image": "busybox", "command": ["sleep", "infinity"],
         "env": [{"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "mesh"}]}]);
    let enforced = Policy::new().validate(
        &fixture("settings/enforced.json"),
        &pod(json!({}), containers.clone()),
    );
    assert!(!enforced.response.accepted);
    assert!(enforced.response.message.unwrap_or_default().starts_with(
        "the pod already has a container named \"mesh-proxy\" that is not the sidecar of template \"mesh\""
    ));

    let mut lenient = fixture("settings/enforced.json");
    lenient["allowOptOut"] = json!(true);
    let warned = Policy::new().validate(&lenient, &pod(json!({}), containers));
    assert!(warned.response.accepted);
    assert!(warnings(&warned).contains("sidecar template \"mesh\" not injected"));
}

#[test]
fn opt_out_can_be_disabled_by_the_operator() {
    let outcome = Policy::new().validate(
        &fixture("settings/enforced.json"),
        &pod(json!({"native-sidecar.kubewarden.io/inject": "false"}), app()),
    );
    assert_eq!(init_names(&outcome), ["mesh-proxy"]);
    assert!(warnings(&outcome).contains("does not allow opting out (allowOptOut: false)"));
}

#[test]
fn our_own_sidecar_after_api_server_defaulting_is_recognised() {
    let policy = Policy::new();
    let settings = fixture("settings/enforced.json");
    let mut request = pod(json!({}), app());
    let mut injected = policy.validate(&settings, &request).patched.expect("mutated");
    // What the API server adds to every container before webhooks run again.
    injected["spec"]["initContainers"][0]["terminationMessagePath"] = json!("/dev/termination-log");
    injected["spec"]["initContainers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    request["object"] = injected;
    let again = policy.validate(&settings, &request);
    assert!(again.response.accepted);
    assert_eq!(again.response.mutated_object, None);
    assert_eq!(again.response.warnings, None);
}
