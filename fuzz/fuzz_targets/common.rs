//! What the fuzz targets share: a cluster that answers like a real one, and
//! the check every response must pass.

use kubewarden_policy_sdk::response::ValidationResponse;
use native_sidecar_policy::cluster::Cluster;
use serde_json::{Value, json};

/// Answers Node lists and owner lookups, so context-aware settings run too.
pub struct SmallCluster;

impl Cluster for SmallCluster {
    fn get_resource(&self, _: &str, kind: &str, _: &str, name: &str, _: &[&str]) -> Result<Value, String> {
        match kind {
            "ReplicaSet" => Ok(
                json!({"spec": {"template": {"spec": {"initContainers": [{"name": name, "restartPolicy": "Always"}]}}}}),
            ),
            _ => Err(format!("{kind} {name} not found")),
        }
    }

    fn list_all(&self, _: &str, _: &str, _: &[&str]) -> Result<Vec<Value>, String> {
        Ok(vec![
            json!({"metadata": {"name": "old", "labels": {"pool": "old"}}, "status": {"nodeInfo": {"kubeletVersion": "v1.27.3"}}}),
            json!({"metadata": {"name": "new", "labels": {"pool": "new"}}, "status": {"nodeInfo": {"kubeletVersion": "v1.31.0"}}}),
        ])
    }
}

/// A response is a verdict: accepted, or rejected with a message.
pub fn assert_verdict(response: &ValidationResponse) {
    assert!(response.accepted || response.message.as_deref().is_some_and(|m| !m.is_empty()));
}
