//! The context-aware questions the policy asks about the cluster. `Host` asks
//! Kubewarden's host capabilities; tests answer from fixtures. A failed answer
//! is a value the decisions turn into a warning, never a panic.

use std::collections::BTreeSet;

use kubewarden_policy_sdk::host_capabilities::kubernetes::{
    GetResourceRequest, ListAllResourcesRequest, get_resource,
};
use serde_json::Value;

pub trait Cluster {
    /// One namespaced resource as JSON; where the host supports field masks
    /// (Kubewarden >= 1.33) only `fields` (dotted paths) are filled in.
    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        fields: &[&str],
    ) -> Result<Value, String>;

    /// Every resource of a kind in the cluster, as JSON (field masks as above).
    fn list_all(&self, api_version: &str, kind: &str, fields: &[&str]) -> Result<Vec<Value>, String>;
}

fn masks(fields: &[&str]) -> Option<BTreeSet<String>> {
    Some(fields.iter().map(|f| (*f).to_owned()).collect())
}

/// Kubewarden's host capabilities (the policy-server answers, from its cache).
pub struct Host;

impl Cluster for Host {
    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        fields: &[&str],
    ) -> Result<Value, String> {
        let request = GetResourceRequest {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: Some(namespace.to_owned()).filter(|ns| !ns.is_empty()),
            disable_cache: false,
            field_masks: masks(fields),
        };
        get_resource::<Value>(&request).map_err(|e| e.to_string())
    }

    fn list_all(&self, api_version: &str, kind: &str, fields: &[&str]) -> Result<Vec<Value>, String> {
        // The SDK's list_all_resources wants a typed k8s-openapi list; the
        // host call itself is the same, read here as JSON.
        let request = ListAllResourcesRequest {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            label_selector: None,
            field_selector: None,
            field_masks: masks(fields),
        };
        let payload = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        let answer = kubewarden_policy_sdk::wapc_guest::host_call(
            "kubewarden",
            "kubernetes",
            "list_resources_all",
            &payload,
        )
        .map_err(|e| e.to_string())?;
        let mut list: Value =
            serde_json::from_slice(&answer).map_err(|e| format!("unreadable {kind} list: {e}"))?;
        match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(format!("the {kind} list has no items")),
        }
    }
}

/// A cluster answered from fixtures, for unit tests.
#[cfg(test)]
pub struct Fixture {
    /// The Node list, or the host's error.
    pub nodes: Result<Vec<Value>, String>,
}

#[cfg(test)]
impl Fixture {
    pub fn unreachable() -> Fixture {
        Fixture {
            nodes: Err("no cluster in unit tests".to_owned()),
        }
    }
}

#[cfg(test)]
impl Cluster for Fixture {
    fn get_resource(&self, _: &str, kind: &str, _: &str, name: &str, _: &[&str]) -> Result<Value, String> {
        Err(format!("{kind} {name} not found"))
    }

    fn list_all(&self, _: &str, kind: &str, _: &[&str]) -> Result<Vec<Value>, String> {
        match kind {
            "Node" => self.nodes.clone(),
            _ => Err(format!("no {kind} fixture")),
        }
    }
}
