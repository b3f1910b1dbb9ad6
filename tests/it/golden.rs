//! Golden outputs, as Istio's injector keeps them: for every settings fixture
//! and every request fixture, what the module under wasmtime answers (the
//! verdict, message, warnings, the JSON Patch the host derives and the
//! status annotation it writes), one reviewable file each under
//! `tests/golden/<settings>/<request>.yaml`. A change of behaviour is a diff
//! of those files: `make bless` rebuilds the module and rewrites them with
//! `BLESS=1` (removing the files of pairs that no longer exist), for review
//! with `git diff`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use native_sidecar_policy::template::STATUS_KEY;
use serde_json::{Value, json};

use crate::harness::{Outcome, cluster_policy, fixtures};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn stem(file_name: &str) -> &str {
    file_name.trim_end_matches(".json")
}

/// The golden file's text: the outcome as YAML, keys in reading order.
fn render(settings: &str, request: &str, outcome: &Outcome) -> String {
    let response = &outcome.response;
    let status = outcome
        .patched
        .as_ref()
        .and_then(|object| object.pointer("/metadata/annotations")?.get(STATUS_KEY)?.as_str())
        .map(|text| serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())));
    let document = [
        (
            "verdict",
            json!(if response.accepted { "accepted" } else { "refused" }),
        ),
        ("code", json!(response.code)),
        ("message", json!(response.message)),
        ("warnings", json!(response.warnings)),
        ("patch", json!(outcome.patch)),
        ("status", json!(status)),
        ("auditAnnotations", json!(response.audit_annotations)),
    ];
    let mut text =
        format!("# settings/{settings} on requests/{request} (tests/it/golden.rs; make bless rewrites)\n");
    for (key, value) in document {
        if value.is_null() {
            continue;
        }
        let yaml = serde_yaml::to_string(&json!({ key: value })).expect("YAML");
        text.push_str(&yaml);
    }
    text
}

/// Every settings × request fixture pair against its golden file, in the
/// cluster of `tests/fixtures/cluster` (the requests' namespaces, unlabelled;
/// the mixed node pools; the ReplicaSet the owner checks look up).
#[test]
fn every_settings_and_request_pair_matches_its_golden_file() {
    let bless = std::env::var_os("BLESS").is_some_and(|value| value != "0");
    let policy = cluster_policy(
        fixtures("cluster")
            .into_iter()
            .map(|(_, object)| object)
            .collect(),
    );
    let requests = fixtures("requests");
    let mut expected_files = BTreeSet::new();
    let mut differ = Vec::new();
    for (settings_name, settings) in fixtures("settings") {
        for (request_name, request) in &requests {
            let outcome = policy.validate(&settings, request);
            let file = golden_dir()
                .join(stem(&settings_name))
                .join(format!("{}.yaml", stem(request_name)));
            let text = render(&settings_name, request_name, &outcome);
            expected_files.insert(file.clone());
            if bless {
                std::fs::create_dir_all(file.parent().expect("a directory")).expect("mkdir");
                std::fs::write(&file, &text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            } else if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
                differ.push(format!("{}:\n{text}", file.display()));
            }
        }
    }
    let stale: Vec<PathBuf> = yaml_files(&golden_dir())
        .into_iter()
        .filter(|file| !expected_files.contains(file))
        .collect();
    if bless {
        for file in &stale {
            std::fs::remove_file(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        return;
    }
    assert!(
        stale.is_empty(),
        "golden files of no fixture pair (make bless removes them): {stale:#?}"
    );
    assert!(
        differ.is_empty(),
        "{} golden files differ from what the module answers now; if the change is meant, \
         make bless and review git diff tests/golden. Now:\n{}",
        differ.len(),
        differ.iter().take(3).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(expected_files.len() >= 150, "{} pairs", expected_files.len());
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "yaml") {
            files.push(path);
        }
    }
    files
}
