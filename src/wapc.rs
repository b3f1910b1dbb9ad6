//! The Kubewarden policy module: waPC functions over `adapter`, and the
//! cluster answered by Kubewarden's host capabilities.

use std::collections::BTreeSet;

use kubewarden_policy_sdk::host_capabilities::kubernetes::{
    GetResourceRequest, ListAllResourcesRequest, get_resource,
};
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest::CallResult;
use serde_json::Value;

use crate::adapter::{check_settings, evaluate};
use crate::cluster::Cluster;

/// waPC `validate`. The verdict is Kubewarden's `ValidationResponse`, field
/// for field (see `adapter::Verdict`), so it is sent as it is.
pub fn validate(payload: &[u8]) -> CallResult {
    Ok(serde_json::to_vec(&evaluate(payload, &Host))?)
}

/// waPC `validate_settings`.
pub fn validate_settings(payload: &[u8]) -> CallResult {
    let verdict = check_settings(payload);
    Ok(serde_json::to_vec(&SettingsValidationResponse {
        valid: verdict.is_ok(),
        message: verdict.err(),
    })?)
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

    fn list_all(
        &self,
        api_version: &str,
        kind: &str,
        label_selector: &str,
        fields: &[&str],
    ) -> Result<Vec<u8>, String> {
        // The SDK's list_all_resources wants a typed k8s-openapi list; the
        // host call itself is the same, and its answer is handed on as it
        // came, for the caller to read only what it needs.
        let request = ListAllResourcesRequest {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            label_selector: Some(label_selector.to_owned()).filter(|s| !s.is_empty()),
            field_selector: None,
            field_masks: masks(fields),
        };
        let payload = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        kubewarden_policy_sdk::wapc_guest::host_call(
            "kubewarden",
            "kubernetes",
            "list_resources_all",
            &payload,
        )
        .map_err(|e| e.to_string())
    }
}
