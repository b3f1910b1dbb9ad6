//! What the fuzz targets share: a cluster that answers like a real one, and
//! the check every answer must pass (the policy's own, which the tests use too).

use native_sidecar_policy::adapter::Verdict;
use native_sidecar_policy::cluster::Cluster;
use serde_json::{Value, json};

/// Answers Node lists, owner and Namespace lookups, so context-aware settings run too.
pub struct SmallCluster;

impl Cluster for SmallCluster {
    fn get_resource(&self, _: &str, kind: &str, _: &str, name: &str, _: &[&str]) -> Result<Value, String> {
        match kind {
            "ReplicaSet" => Ok(
                json!({"spec": {"template": {"spec": {"initContainers": [{"name": name, "restartPolicy": "Always"}]}}}}),
            ),
            "Namespace" => Ok(json!({"metadata": {"name": name, "labels": {"istio-injection": "enabled"}}})),
            _ => Err(format!("{kind} {name} not found")),
        }
    }

    fn list_all(&self, _: &str, _: &str, _: &str, _: &[&str]) -> Result<Vec<u8>, String> {
        Ok(json!({"items": [
            {"metadata": {"name": "old", "labels": {"pool": "old"}}, "status": {"nodeInfo": {"kubeletVersion": "v1.27.3"}}},
            {"metadata": {"name": "new", "labels": {"pool": "new"}}, "status": {"nodeInfo": {"kubeletVersion": "v1.31.0"}}},
        ]})
        .to_string()
        .into_bytes())
    }
}

/// Every answer is a well-formed verdict; a broken one is a crash for the fuzzer.
pub fn assert_verdict(verdict: &Verdict) {
    if let Err(broken) = verdict.well_formed() {
        panic!("an ill-formed answer ({broken}): {verdict:?}");
    }
}
