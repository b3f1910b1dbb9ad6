//! The floors of the benchmarks (`make bench`): the least a Kubewarden policy
//! written with the SDK does for a request, the way the SDK's policy template
//! starts: read the payload into the SDK's `ValidationRequest`, then accept.
//! Built with the feature `mutate`, the least a *mutating* policy does: the
//! same, then answer the request's object with one annotation added, so that
//! the host reads the object back and diffs it, as it does for every mutation.
//! Built with the feature `lookup`, the least a policy that reads the nodes
//! does: the same, then list the Nodes with the field masks the policy asks
//! for, and parse the answer into a `serde_json::Value`, then accept.
//! Built to wasm32-wasip1 by `make bench`; never shipped.

use kubewarden_policy_sdk::wapc_guest::{CallResult, register_function};
use kubewarden_policy_sdk::{protocol_version_guest, request::ValidationRequest};

fn validate(payload: &[u8]) -> CallResult {
    let request = ValidationRequest::<serde_json::Value>::new(payload)?;
    answer(request.request.object)
}

#[cfg(not(any(feature = "mutate", feature = "lookup")))]
fn answer(_: serde_json::Value) -> CallResult {
    kubewarden_policy_sdk::accept_request()
}

#[cfg(feature = "lookup")]
fn answer(_: serde_json::Value) -> CallResult {
    use kubewarden_policy_sdk::host_capabilities::kubernetes::ListAllResourcesRequest;
    let request = ListAllResourcesRequest {
        api_version: "v1".to_owned(),
        kind: "Node".to_owned(),
        label_selector: None,
        field_selector: None,
        field_masks: Some(
            ["metadata.labels", "metadata.name", "status.nodeInfo.kubeletVersion"]
                .map(str::to_owned)
                .into(),
        ),
    };
    let payload = serde_json::to_vec(&request)?;
    let answer =
        kubewarden_policy_sdk::wapc_guest::host_call("kubewarden", "kubernetes", "list_resources_all", &payload)?;
    let list: serde_json::Value = serde_json::from_slice(&answer)?;
    std::hint::black_box(&list);
    kubewarden_policy_sdk::accept_request()
}

#[cfg(feature = "mutate")]
fn answer(mut object: serde_json::Value) -> CallResult {
    match object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        Some(metadata) => {
            let annotations = metadata
                .entry("annotations")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(annotations) = annotations.as_object_mut() {
                annotations.insert("sdk-floor".to_owned(), "mutated".into());
            }
            kubewarden_policy_sdk::mutate_request(object)
        }
        None => kubewarden_policy_sdk::accept_request(),
    }
}

fn validate_settings(_: &[u8]) -> CallResult {
    Ok(br#"{"valid":true}"#.to_vec())
}

#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function("protocol_version", protocol_version_guest);
}
