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

use crate::harness;

use std::path::Path;

use harness::{
    Policy, api_server_validator as validator, cluster_policy, fixtures, new_api_server_errors as new_errors,
};
use rstest::rstest;
use serde_json::{Value, json};

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
