//! The shipped manifests: every policy in `policies/` carries settings the
//! module accepts, and has the shape of Kubewarden's policy CRDs.

mod harness;

use std::path::PathBuf;

use harness::Policy;
use serde::Deserialize;
use serde_json::Value;

/// Every YAML document of every file in `policies/`, with its file name.
fn manifests() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("policies/ exists")
        .map(|entry| entry.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            serde_yaml::Deserializer::from_str(&text)
                .map(|doc| {
                    let value = Value::deserialize(doc).unwrap_or_else(|e| panic!("{name}: {e}"));
                    (name.clone(), value)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn is_policy(manifest: &Value) -> bool {
    manifest["apiVersion"] == "policies.kubewarden.io/v1"
        && matches!(
            manifest["kind"].as_str(),
            Some("ClusterAdmissionPolicy" | "AdmissionPolicy")
        )
}

#[test]
fn every_shipped_policy_has_settings_the_module_accepts() {
    let policy = Policy::new();
    let shipped: Vec<_> = manifests().into_iter().filter(|(_, m)| is_policy(m)).collect();
    assert!(
        shipped.len() >= 3,
        "the injector, the validator and a namespaced policy are shipped"
    );
    for (file, manifest) in shipped {
        let verdict = policy.validate_settings(&manifest["spec"]["settings"]);
        assert!(verdict.valid, "{file}: {:?}", verdict.message);
    }
}

/// Each policy parses as the SDK's CRD type (which denies unknown fields), and
/// a validate-only deployment never mutates.
#[test]
fn shipped_policies_have_the_crd_shape() {
    use kubewarden_policy_sdk::crd::policies::{AdmissionPolicy, ClusterAdmissionPolicy};
    for (file, manifest) in manifests().into_iter().filter(|(_, m)| is_policy(m)) {
        let mutating = match manifest["kind"].as_str() {
            Some("ClusterAdmissionPolicy") => {
                serde_json::from_value::<ClusterAdmissionPolicy>(manifest.clone())
                    .map(|p| p.spec.is_some_and(|s| s.mutating))
            }
            _ => serde_json::from_value::<AdmissionPolicy>(manifest.clone())
                .map(|p| p.spec.is_some_and(|s| s.mutating)),
        }
        .unwrap_or_else(|e| panic!("{file}: not a valid {}: {e}", manifest["kind"]));
        assert!(
            manifest["spec"]["module"]
                .as_str()
                .is_some_and(|m| m.starts_with("registry://")),
            "{file}"
        );
        // A policy deployed with mutating: false rejects any request it mutates.
        if !mutating {
            assert_eq!(
                manifest["spec"]["settings"]["mutate"], false,
                "{file}: needs settings.mutate: false"
            );
        }
    }
}
