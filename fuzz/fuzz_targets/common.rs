//! What the fuzz targets share: a cluster that answers like a real one, and
//! the check every answer must pass (the policy's own, which the tests use too).

use std::sync::LazyLock;

use native_sidecar_policy::adapter::Verdict;
use native_sidecar_policy::cluster::{Cluster, Snapshot};
use serde_json::{Value, json};

/// Answers Node lists and lookups (by label selector, by name), owner and
/// Namespace lookups, so context-aware settings run too.
pub struct SmallCluster;

fn nodes() -> &'static Snapshot {
    // The properties' two nodes (tests/it/properties.rs).
    static NODES: LazyLock<Snapshot> = LazyLock::new(|| {
        let list = include_str!("../../tests/fixtures/nodes/two-nodes.json");
        Snapshot::from_documents(serde_json::from_str::<Value>(list).ok())
    });
    &NODES
}

impl Cluster for SmallCluster {
    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        fields: &[&str],
    ) -> Result<Value, String> {
        match kind {
            "ReplicaSet" => Ok(
                json!({"spec": {"template": {"spec": {"initContainers": [{"name": name, "restartPolicy": "Always"}]}}}}),
            ),
            "Namespace" => Ok(json!({"metadata": {"name": name, "labels": {"istio-injection": "enabled"}}})),
            _ => nodes().get_resource(api_version, kind, namespace, name, fields),
        }
    }

    fn list_all(
        &self,
        api_version: &str,
        kind: &str,
        selector: &str,
        fields: &[&str],
    ) -> Result<Vec<u8>, String> {
        nodes().list_all(api_version, kind, selector, fields)
    }
}

/// Every answer is a well-formed verdict; a broken one is a crash for the fuzzer.
pub fn assert_verdict(verdict: &Verdict) {
    if let Err(broken) = verdict.well_formed() {
        panic!("an ill-formed answer ({broken}): {verdict:?}");
    }
}
