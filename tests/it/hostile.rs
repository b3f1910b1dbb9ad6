//! Hostile inputs, through the real module under wasmtime: each ends in a
//! clear acceptance or rejection, never a trap, and never hangs. The time
//! each took is printed (`cargo test --test it hostile -- --nocapture`).

use crate::harness;

use std::time::{Duration, Instant};

use harness::{Policy, fixture};
use native_sidecar_policy::adapter::Verdict;
use serde_json::{Value, json};

/// A generous ceiling that only a hang would break.
const NO_HANG: Duration = Duration::from_secs(30);

/// Calls `validate` with raw bytes, on a fresh instance in its own thread,
/// and waits at most `NO_HANG` for it: a hang fails the test instead of
/// stalling it. The response, parsed.
fn evaluate(case: &str, payload: &[u8]) -> Value {
    let (answer, answered) = std::sync::mpsc::channel();
    let bytes = payload.to_vec();
    std::thread::spawn(move || {
        let started = Instant::now();
        let raw = Policy::new().call("validate", &bytes);
        let _ = answer.send((raw, started.elapsed()));
    });
    let (raw, took) = answered
        .recv_timeout(NO_HANG)
        .unwrap_or_else(|_| panic!("{case}: no answer within {NO_HANG:?}: the module hangs"));
    let raw = raw.unwrap_or_else(|e| panic!("{case}: the module trapped: {e}"));
    println!("{case}: {} bytes in, {:?}", payload.len(), took);
    let response: Value =
        serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{case}: unreadable response: {e}"));
    let verdict: Verdict =
        serde_json::from_value(response.clone()).unwrap_or_else(|e| panic!("{case}: not a verdict: {e}"));
    if let Err(broken) = verdict.well_formed() {
        panic!("{case}: an ill-formed answer ({broken})");
    }
    response
}

fn payload(settings: &Value, request: &Value) -> Vec<u8> {
    json!({"settings": settings, "request": request})
        .to_string()
        .into_bytes()
}

fn pod_with(containers: Vec<Value>) -> Value {
    let mut request = fixture("requests/pod-create-plain.json");
    request["object"]["spec"]["containers"] = Value::Array(containers);
    request
}

#[test]
fn ten_thousand_containers_get_their_sidecars() {
    let containers = (0..10_000)
        .map(|i| json!({"name": format!("c{i}"), "image": "busybox"}))
        .collect();
    let response = evaluate(
        "10,000 containers",
        &payload(&fixture("settings/injector.json"), &pod_with(containers)),
    );
    assert_eq!(response["accepted"], json!(true));
    let mutated = &response["mutated_object"];
    assert_eq!(
        mutated["spec"]["containers"].as_array().map(Vec::len),
        Some(10_000)
    );
    assert_eq!(
        mutated["spec"]["containers"][9_999]["env"],
        json!([{"name": "LOG_DIR", "value": "/var/log/app"}])
    );
}

#[test]
fn a_five_megabyte_request_is_evaluated() {
    let env: Vec<Value> = (0..40_000)
        .map(|i| json!({"name": format!("VARIABLE_{i}"), "value": "x".repeat(100)}))
        .collect();
    let request = pod_with(vec![json!({"name": "app", "image": "busybox", "env": env})]);
    let bytes = payload(&fixture("settings/injector.json"), &request);
    assert!(bytes.len() > 5_000_000, "{} bytes", bytes.len());
    let response = evaluate("5 MB request", &bytes);
    assert_eq!(response["accepted"], json!(true));
    assert_eq!(
        response["mutated_object"]["spec"]["containers"][0]["env"]
            .as_array()
            .map(Vec::len),
        Some(40_001)
    );
}

#[test]
fn a_huge_annotation_value_is_evaluated() {
    let mut request = fixture("requests/pod-create-plain.json");
    request["object"]["metadata"]["annotations"] =
        json!({"native-sidecar.kubewarden.io/inject": "a,".repeat(500_000)});
    let response = evaluate(
        "1 MB annotation",
        &payload(&fixture("settings/injector.json"), &request),
    );
    assert_eq!(response["accepted"], json!(true));
    // One short warning, not a megabyte of it: kubectl truncates past 256 characters.
    assert_eq!(
        response["warnings"],
        json!([
            "native-sidecar.kubewarden.io/inject: no sidecar template named a; known templates: log-shipper, metrics-agent"
        ])
    );
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("{}1{}", "[".repeat(2_000), "]".repeat(2_000));
    let request = fixture("requests/pod-create-plain.json").to_string().replacen(
        "\"dryRun\":true",
        &format!("\"dryRun\":true,\"zDeep\":{deep}"),
        1,
    );
    let bytes = format!(
        "{{\"settings\":{},\"request\":{request}}}",
        fixture("settings/injector.json")
    )
    .into_bytes();
    let response = evaluate("2,000-deep nesting", &bytes);
    assert_eq!(response["accepted"], json!(false));
    assert!(
        response["message"]
            .as_str()
            .unwrap_or_default()
            .contains("recursion limit exceeded"),
        "{response}"
    );
}

#[test]
fn invalid_utf8_is_refused() {
    let mut bytes = payload(
        &fixture("settings/injector.json"),
        &fixture("requests/pod-create-plain.json"),
    );
    let at = bytes.len() / 2;
    bytes.splice(at..at, [0xff, 0xfe, 0xc3]);
    let response = evaluate("invalid UTF-8", &bytes);
    assert_eq!(response["accepted"], json!(false));
    assert!(
        response["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("malformed validation payload")
    );
}

#[test]
fn duplicate_keys_are_read_one_way_and_answered() {
    let request = fixture("requests/pod-create-plain.json").to_string().replacen(
        "\"operation\":\"CREATE\"",
        "\"operation\":\"DELETE\",\"operation\":\"CREATE\"",
        1,
    );
    let bytes = format!(
        "{{\"settings\":{},\"request\":{request}}}",
        fixture("settings/injector.json")
    )
    .into_bytes();
    assert!(
        String::from_utf8_lossy(&bytes).contains("\"operation\":\"DELETE\",\"operation\":\"CREATE\""),
        "the request carries both values"
    );
    let response = evaluate("duplicate keys", &bytes);
    assert_eq!(response["accepted"], json!(true));
    // The last value wins (serde_json, like Go's encoding/json): a CREATE, so
    // the opted-in pod gets its sidecars; a DELETE would have been let through.
    assert!(
        response["mutated_object"]["spec"]["initContainers"].is_array(),
        "read as CREATE: {response}"
    );
}

#[test]
fn a_thousand_templates_load_and_evaluate() {
    let templates: Vec<Value> = (0..1_000)
        .map(|i| json!({"name": format!("t{i}"), "position": "last",
                        "container": {"name": format!("sidecar-{i}"), "image": "busybox", "command": ["sleep", "1"]}}))
        .collect();
    let settings = json!({"sidecars": templates});
    let policy = Policy::new();
    let started = Instant::now();
    let verdict = policy.validate_settings(&settings);
    println!("1,000 templates: validate_settings in {:?}", started.elapsed());
    assert!(verdict.valid, "{:?}", verdict.message);
    let mut request = fixture("requests/pod-create-plain.json");
    request["object"]["metadata"]["labels"] = json!({"native-sidecar.kubewarden.io/inject": "true"});
    let response = evaluate("1,000 templates", &payload(&settings, &request));
    assert_eq!(
        response["mutated_object"]["spec"]["initContainers"]
            .as_array()
            .map(Vec::len),
        Some(1_000)
    );
}
