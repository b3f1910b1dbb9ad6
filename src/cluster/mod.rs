//! The context-aware questions the policy asks about the cluster. The waPC
//! module asks Kubewarden's host capabilities (`wapc::Host`); the playground
//! and the tests answer from a `Snapshot` of objects. A failed answer is a
//! value the decisions turn into a warning, never a panic.

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

// The snapshot answers for the playground and the native tests and tools;
// the policy module itself asks Kubewarden's host and carries none of it.
#[cfg(any(feature = "web", not(target_family = "wasm")))]
mod snapshot;
#[cfg(any(feature = "web", not(target_family = "wasm")))]
pub use snapshot::Snapshot;
