//! What the API server does with what the module emits, judged by Kubernetes'
//! own code: every request fixture under every settings fixture (with the
//! cluster fixtures answering lookups), and the pods the property tests'
//! strategies stand for, go through the module; each object it mutates is
//! then defaulted and validated as kube-apiserver's REST path does for Pods,
//! Jobs and CronJobs (v1 defaults, the registry strategy's PrepareFor* and
//! Validate*), by a harness built from k8s.io/kubernetes outside this
//! repository (CONTRIBUTING.md). The mutation must add no error the object
//! did not already have. Admission plugins (LimitRanger, PodSecurity,
//! ResourceQuota) are not validation: docs/kubernetes-facts.md reasons about
//! them.

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{Policy, cluster_policy, fixtures, real_tool, run_json};
use rstest::rstest;
use serde_json::{Value, json};

fn validator(test: &str) -> Option<PathBuf> {
    real_tool("APISERVER_VALIDATE", "nsp-apiserver-validate", test)
}

/// The API server's errors for each `(operation, object, old object)`.
fn api_server_errors(validator: &Path, objects: &[(Value, Value, Value)]) -> Vec<Vec<String>> {
    let input: Vec<Value> = objects
        .iter()
        .map(|(operation, object, old)| json!({"operation": operation, "object": object, "oldObject": old}))
        .collect();
    let answer = run_json(&mut Command::new(validator), &json!({"objects": input}))
        .unwrap_or_else(|e| panic!("{}: {e}", validator.display()));
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), objects.len());
    results
        .iter()
        .map(|r| {
            r["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .collect()
}

/// `object` with what a request's object always has by the time a webhook
/// sees it: its kind, and a namespace.
fn as_stored(request: &Value, object: &Value) -> Value {
    let mut object = object.clone();
    if object["apiVersion"].is_null() {
        let kind = &request["kind"];
        object["apiVersion"] = match kind["group"].as_str().unwrap_or_default() {
            "" => json!(kind["version"].as_str().unwrap_or("v1")),
            group => json!(format!("{group}/{}", kind["version"].as_str().unwrap_or("v1"))),
        };
        object["kind"] = kind["kind"].clone();
    }
    if object["metadata"]["namespace"].is_null() {
        object["metadata"]["namespace"] = json!(request["namespace"].as_str().unwrap_or("default"));
    }
    object
}

/// Where the module's output has API-server errors its input did not have.
fn new_errors(validator: &Path, cases: &[(String, Value, Value)]) -> Vec<String> {
    let kinds = ["Pod", "Job", "CronJob"];
    let mut objects = Vec::new();
    let mut named = Vec::new();
    for (name, request, patched) in cases {
        if !kinds.contains(&request["kind"]["kind"].as_str().unwrap_or_default()) {
            continue;
        }
        let old = match &request["oldObject"] {
            Value::Null => Value::Null,
            old => as_stored(request, old),
        };
        let operation = request["operation"].clone();
        objects.push((
            operation.clone(),
            as_stored(request, &request["object"]),
            old.clone(),
        ));
        objects.push((operation, as_stored(request, patched), old));
        named.push(name);
    }
    let errors = api_server_errors(validator, &objects);
    let mut found = Vec::new();
    for (name, pair) in named.iter().zip(errors.chunks(2)) {
        let (before, after) = (&pair[0], &pair[1]);
        let added: Vec<&String> = after.iter().filter(|e| !before.contains(e)).collect();
        if !added.is_empty() {
            found.push(format!("{name}: {added:?}"));
        }
    }
    found
}

/// Every mutation of every fixture pair is one the API server accepts.
#[test]
fn every_object_the_module_emits_is_valid() {
    let Some(validator) = validator("every_object_the_module_emits_is_valid") else {
        return;
    };
    let cluster: Vec<Value> = fixtures("cluster").into_iter().map(|(_, o)| o).collect();
    let mut cases = Vec::new();
    for (settings_name, settings) in fixtures("settings") {
        for (request_name, request) in fixtures("requests") {
            let outcome = cluster_policy(cluster.clone()).validate(&settings, &request);
            if let (true, Some(patched)) = (outcome.response.accepted, outcome.patched) {
                cases.push((format!("{request_name} under {settings_name}"), request, patched));
            }
        }
    }
    assert!(cases.len() >= 10, "only {} mutations", cases.len());
    let found = new_errors(&validator, &cases);
    assert!(found.is_empty(), "{found:#?}");
}

/// Pods the shipped injector's templates go into, shaped as real pods are:
/// with init containers, probes, named ports, pod-level resources, a
/// Windows pod, a pod that already mounts at a template's path.
#[rstest]
#[case::plain(json!({"containers": [{"name": "app", "image": "nginx:1.27"}]}))]
#[case::init_and_probes(json!({"initContainers": [{"name": "migrate", "image": "busybox"}],
    "containers": [{"name": "app", "image": "nginx:1.27", "ports": [{"name": "http", "containerPort": 80}],
                    "readinessProbe": {"httpGet": {"port": "http"}}}]}))]
#[case::pod_level_resources(json!({"resources": {"requests": {"cpu": "500m", "memory": "256Mi"},
                                                  "limits": {"cpu": "1", "memory": "512Mi"}},
    "containers": [{"name": "app", "image": "nginx:1.27", "resources": {"requests": {"cpu": "490m", "memory": "240Mi"}}}]}))]
#[case::windows(json!({"os": {"name": "windows"}, "containers": [{"name": "app", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}]}))]
#[case::job_pod(json!({"restartPolicy": "Never", "containers": [{"name": "app", "image": "busybox"}]}))]
fn the_shipped_injector_gives_pods_the_api_server_accepts(#[case] spec: Value) {
    let Some(validator) = validator("the_shipped_injector_gives_pods_the_api_server_accepts") else {
        return;
    };
    let manifest: Value = serde_yaml::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/injector.yaml"))
            .expect("the manifest"),
    )
    .expect("YAML");
    let settings = &manifest["spec"]["settings"];
    let request = json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
        "namespace": "team", "object": {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "team", "labels": {"native-sidecar.kubewarden.io/inject": "true"}},
            "spec": spec}});
    let outcome = Policy::new().validate(settings, &request);
    let patched = outcome.patched.unwrap_or_else(|| request["object"].clone());
    let found = new_errors(&validator, &[("the pod".to_owned(), request, patched)]);
    assert!(found.is_empty(), "{found:#?}");
}
