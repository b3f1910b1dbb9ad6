//! The readiness report through the command line, and its workload audit
//! against the policy module under wasmtime.

use crate::harness;

use std::path::PathBuf;
use std::process::Command;

use harness::{Policy, fixture};
use serde_json::{Value, json};

fn path(relative: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
        .to_string_lossy()
        .into_owned()
}

/// Runs `native-sidecar-policy readiness` with these options: exit code, stdout, stderr.
fn readiness(options: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_native-sidecar-policy"))
        .arg("readiness")
        .args(options)
        .output()
        .expect("the command runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The mixed-cluster example: a 1.33 API server, two node pools of which one
/// runs kubelet 1.27, Istio's and a cloud identity webhook, four workloads.
fn mixed_cluster(settings: &str) -> Vec<String> {
    [
        ("--metrics", "readiness/apiserver-metrics.txt"),
        ("--node-metrics", "readiness/node-metrics.txt"),
        ("--nodes", "cluster/nodes-mixed.json"),
        ("--kubectl-version", "readiness/version.json"),
        ("--webhooks", "readiness/webhooks.json"),
        ("--workloads", "readiness/workloads.json"),
        ("--settings", settings),
    ]
    .into_iter()
    .flat_map(|(option, file)| [option.to_owned(), path(file)])
    .collect()
}

/// `(first, second)` of every entry of the report's list `list`.
fn pairs(report: &Value, list: &str, first: &str, second: &str) -> Vec<(Value, Value)> {
    report[list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| (entry[first].clone(), entry[second].clone()))
        .collect()
}

#[test]
fn a_mixed_cluster_is_blocked_and_told_why() {
    let options = mixed_cluster("settings/injector.json");
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let (code, text, _) = readiness(&options);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.starts_with("readiness: BLOCKED (2 blocker(s)); nativeSupport.strategy nodeVersion fits"),
        "{text}"
    );
    assert!(
        text.contains("these do not: pool-b-1; use nativeSupport.strategy nodeVersion"),
        "{text}"
    );
    assert!(
        text.contains("Job reports/nightly-report would be refused"),
        "{text}"
    );
    assert!(text.contains("minKubeletVersion: \"1.29\""), "{text}");

    let mut json_options = options.clone();
    json_options.extend(["--output", "json"]);
    let (code, out, _) = readiness(&json_options);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["strategy"], "nodeVersion");
    assert_eq!(report["apiServer"]["native"], true);
    assert_eq!(report["apiServer"]["gate"], json!({"enabled": true, "stage": ""}));
    assert_eq!(
        pairs(&report, "nodes", "name", "native"),
        [
            (json!("pool-a-1"), json!(true)),
            (json!("pool-a-2"), json!(true)),
            (json!("pool-b-1"), json!(false))
        ]
    );
    assert_eq!(
        pairs(&report, "webhooks", "configuration", "beforePolicy"),
        [
            (json!("aws-pod-identity-webhook"), json!(true)),
            (json!("istio-sidecar-injector"), json!(false))
        ],
        "in call order, our own configuration left out"
    );
    let outcomes: Vec<&str> = report["workloads"]
        .as_array()
        .expect("workloads")
        .iter()
        .filter_map(|w| w["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["refused", "mutated", "warned", "accepted"]);
}

#[test]
fn a_ready_cluster_exits_zero() {
    std::fs::create_dir_all(env!("CARGO_TARGET_TMPDIR")).expect("tmp");
    let nodes = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ready-nodes.json");
    std::fs::write(
        &nodes,
        json!({"items": [{"metadata": {"name": "a"}, "status": {"nodeInfo": {"kubeletVersion": "v1.31.0"}}}]})
            .to_string(),
    )
    .expect("write");
    let (code, text, _) = readiness(&[
        "--kubectl-version",
        &path("readiness/version.json"),
        "--nodes",
        &nodes.to_string_lossy(),
        "--settings",
        &path("settings/injector.json"),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with("readiness: READY; nativeSupport.strategy assume fits"),
        "{text}"
    );
    assert!(text.contains("not judged: the mutating webhooks"), "{text}");
}

/// The offline audit runs the policy's own decisions: for every Pod, Job and
/// CronJob the request fixtures create, it refuses what the module under
/// wasmtime refuses, under the validator's and the converter's settings.
#[test]
fn the_workload_audit_agrees_with_the_module() {
    let requests: Vec<Value> = harness::fixtures("requests")
        .into_iter()
        .map(|(_, request)| request)
        .filter(|request: &Value| {
            request["operation"] == "CREATE"
                && matches!(request["kind"]["kind"].as_str(), Some("Pod" | "Job" | "CronJob"))
        })
        .collect();
    assert!(requests.len() >= 8, "{} fixtures", requests.len());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).expect("tmp");
    let list = dir.join("audit-workloads.json");
    let objects: Vec<Value> = requests.iter().map(|r| r["object"].clone()).collect();
    std::fs::write(&list, json!({"kind": "List", "items": objects}).to_string()).expect("write");
    let policy = Policy::new();
    let mut refused = 0;
    for settings in ["validator", "converter"] {
        let (_, out, _) = readiness(&[
            "--workloads",
            &list.to_string_lossy(),
            "--settings",
            &path(&format!("settings/{settings}.json")),
            "--output",
            "json",
        ]);
        let report: Value = serde_json::from_str(&out).expect("JSON");
        let audit = report["workloads"].as_array().expect("workloads");
        assert_eq!(audit.len(), requests.len());
        for (request, audited) in requests.iter().zip(audit) {
            let mut request = request.clone();
            request["namespace"] = request["object"]["metadata"]["namespace"].clone();
            let module = policy.validate(&fixture(&format!("settings/{settings}.json")), &request);
            assert_eq!(
                audited["outcome"] == "refused",
                !module.response.accepted,
                "{settings}: {} {}",
                audited["kind"],
                audited["name"]
            );
            refused += usize::from(!module.response.accepted);
        }
    }
    assert!(refused >= 2, "the comparison saw refusals ({refused})");
}
