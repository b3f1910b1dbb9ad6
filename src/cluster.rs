//! The context-aware questions the policy asks about the cluster. `Host` asks
//! Kubewarden's host capabilities; tests answer from fixtures. A failed answer
//! is a value the decisions turn into a warning, never a panic.

use std::collections::BTreeSet;

use kubewarden_policy_sdk::host_capabilities::kubernetes::{GetResourceRequest, get_resource};
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
            field_masks: Some(fields.iter().map(|f| (*f).to_owned()).collect::<BTreeSet<_>>()),
        };
        get_resource::<Value>(&request).map_err(|e| e.to_string())
    }
}
