//! `validate` on structured pods: the fuzzer's bytes, when they are JSON,
//! replace one part of a realistic pod (its spec, a container, the metadata)
//! under settings that turn every rule on. Never a panic, always a verdict,
//! and a mutation that keeps every field of the request object.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use native_sidecar_policy::adapter::evaluate;
use serde_json::{Value, json};

/// Settings that turn every rule on.
pub fn all_rules(variant: u8) -> Value {
    let strategies = ["assume", "nodeVersion", "nodeLabel", "universal", "legacy"];
    let strategy = strategies[usize::from(variant) % strategies.len()];
    let actions = ["reject", "warn", "convert"];
    let action = actions[usize::from(variant) % actions.len()];
    json!({
        "jobSidecars": {"action": action, "meshes": {"istio": "legacy"}, "endlessCommands": "reject"},
        "strippedRestartPolicy": {"action": "reject", "checkOwner": true},
        "nativeSupport": {"strategy": strategy, "whenUnsupported": "universal"},
        "sidecars": [
            {"name": "log", "injection": "always", "position": "after:setup",
             "container": {"name": "log", "image": "fluent/fluent-bit", "command": ["fluent-bit"]},
             "volumes": [{"name": "logs", "emptyDir": {}}],
             "appContainers": {"volumeMounts": [{"name": "logs", "mountPath": "/l"}], "env": [{"name": "L", "value": "1"}]}},
            {"name": "proxy", "position": "first", "container": {"name": "proxy", "image": "envoyproxy/envoy", "command": ["envoy"]}}
        ]
    })
}

const SLOTS: [&str; 6] = [
    "/spec",
    "/spec/containers/0",
    "/spec/initContainers",
    "/metadata",
    "/spec/affinity",
    "/spec/containers",
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(part) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "annotations": {"native-sidecar.kubewarden.io/inject": "true"}},
        "spec": {"restartPolicy": "Never", "initContainers": [{"name": "setup", "image": "busybox"}],
                 "containers": [{"name": "job", "image": "busybox"}, {"name": "istio-proxy", "image": "istio/proxyv2", "args": ["proxy", "sidecar"]}]}});
    if let Some(slot) = pod.pointer_mut(SLOTS[usize::from(choice) % SLOTS.len()]) {
        *slot = part;
    }
    let kind = ["Pod", "Job", "CronJob"][usize::from(choice / 8) % 3];
    let request = json!({"uid": "u", "kind": {"kind": kind}, "operation": "CREATE", "namespace": "n", "object": pod.clone(),
                         "oldObject": if choice & 1 == 1 { pod.clone() } else { Value::Null }});
    let payload = json!({"settings": all_rules(choice), "request": request}).to_string();
    let response = evaluate(payload.as_bytes(), &common::SmallCluster);
    common::assert_verdict(&response);
    if let Some(mutated) = &response.mutated_object {
        // Convert moves containers; everything else only adds: every top-level
        // field and every metadata field of the request survives.
        for (key, value) in pod
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "spec")
        {
            if key == "metadata" {
                for (field, kept) in value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(f, _)| *f != "annotations")
                {
                    assert_eq!(
                        mutated["metadata"].get(field),
                        Some(kept),
                        "metadata.{field} changed"
                    );
                }
            } else {
                assert_eq!(mutated.get(key), Some(value), "{key} changed");
            }
        }
    }
});
