//! The context-aware questions the policy asks about the cluster. The waPC
//! module asks Kubewarden's host capabilities (`wapc::Host`); the playground
//! and the tests answer from a `Snapshot` of objects. A failed answer is a
//! value the decisions turn into a warning, never a panic.

use serde_json::Value;

pub trait Cluster {
    /// One resource as JSON (`namespace` empty for a cluster-wide one).
    /// `fields` (dotted paths) are the field masks the host may prune it to;
    /// policy-evaluator's GET answers the whole object regardless.
    fn get_resource(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        fields: &[&str],
    ) -> Result<Value, String>;

    /// Every resource of a kind that `label_selector` selects (equality
    /// requirements, `key=value,…`; empty selects all), as the JSON text of
    /// its list (field masks as above): the caller reads only what it needs
    /// of it, without a `Value` per object.
    fn list_all(
        &self,
        api_version: &str,
        kind: &str,
        label_selector: &str,
        fields: &[&str],
    ) -> Result<Vec<u8>, String>;
}

// The snapshot answers for the playground and the native tests and tools;
// the policy module itself asks Kubewarden's host and carries none of it.
#[cfg(any(feature = "web", not(target_family = "wasm")))]
mod snapshot;
#[cfg(any(feature = "web", not(target_family = "wasm")))]
pub use snapshot::Snapshot;
