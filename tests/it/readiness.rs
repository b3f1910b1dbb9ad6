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

fn shipped(policy: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join(policy)
        .to_string_lossy()
        .into_owned()
}

/// The outcome and refusing policy of each workload of the mixed cluster,
/// judged by these `--settings`/`--policies` options.
fn judged(policy_options: &[&str]) -> Vec<(String, String, String)> {
    let mut options = vec![
        "--workloads".to_owned(),
        path("readiness/workloads.json"),
        "--namespaces".to_owned(),
        path("cluster/namespaces.json"),
        "--output".to_owned(),
        "json".to_owned(),
    ];
    options.extend(policy_options.iter().map(|o| (*o).to_owned()));
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let (code, out, errors) = readiness(&options);
    assert_ne!(code, 2, "{errors}");
    let report: Value = serde_json::from_str(&out).expect("JSON");
    report["workloads"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            (
                format!(
                    "{} {}/{}",
                    w["kind"].as_str().unwrap_or_default(),
                    w["namespace"].as_str().unwrap_or_default(),
                    w["name"].as_str().unwrap_or_default()
                ),
                w["outcome"].as_str().unwrap_or_default().to_owned(),
                w["refusedBy"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The recommended deployment is an injector and a validator: the injector's
/// settings alone accept the Job whose Istio proxy would keep it running;
/// the chain as deployed refuses it, at the validator.
#[test]
fn the_deployed_chain_refuses_what_one_settings_file_accepts() {
    let injector = shipped("injector.yaml");
    let validator = shipped("validator.yaml");
    let by_settings = judged(&["--settings", &injector]);
    let by_chain = judged(&["--policies", &injector, "--policies", &validator]);
    let job = "Job reports/nightly-report".to_owned();
    assert_eq!(
        by_settings[0],
        (job.clone(), "accepted".to_owned(), String::new())
    );
    assert_eq!(
        by_chain[0],
        (job, "refused".to_owned(), "native-sidecar-validator".to_owned())
    );
    // The injector's change reaches the validator: the injected pod passes.
    assert_eq!(by_chain[1].1, "mutated", "{by_chain:?}");
}

/// Monitor mode admits what it would refuse (Kubewarden only logs it); a
/// namespaced AdmissionPolicy sees its own namespace only.
#[test]
fn monitor_mode_and_namespaced_policies_are_judged_as_kubewarden_runs_them() {
    let by_monitor = judged(&["--policies", &shipped("validator-monitor.yaml")]);
    assert_eq!(by_monitor[0].1, "warned", "{by_monitor:?}");
    let (_, out, _) = readiness(&[
        "--workloads",
        &path("readiness/workloads.json"),
        "--policies",
        &shipped("validator-monitor.yaml"),
    ]);
    assert!(
        out.contains("would refuse (monitor mode: Kubewarden admits it and only logs this): This Job would never complete"),
        "{out}"
    );
    assert!(out.starts_with("readiness: READY"), "{out}");
    // native-sidecar-jobs is an AdmissionPolicy of namespace `batch`: it
    // warns about its own sidecar images there, and sees nothing elsewhere.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).expect("tmp");
    let job = |namespace: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "etl", "namespace": namespace},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "etl", "image": "registry.example.com/data/etl:2"},
                {"name": "proxy", "image": "registry.example.com/platform/sidecars/proxy:1"}]}}}})
    };
    let list = dir.join("batch-and-default.json");
    std::fs::write(
        &list,
        json!({"kind": "List", "items": [job("batch"), job("default")]}).to_string(),
    )
    .expect("write");
    let (_, out, _) = readiness(&[
        "--workloads",
        &list.to_string_lossy(),
        "--policies",
        &shipped("admission-policy-namespaced.yaml"),
        "--output",
        "json",
    ]);
    let report: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        pairs(&report, "workloads", "namespace", "outcome"),
        [
            (json!("batch"), json!("warned")),
            (json!("default"), json!("accepted"))
        ],
        "{out}"
    );
}

/// A policy deployed with `mutating: false` whose settings still inject:
/// Kubewarden refuses the request rather than drop the change.
#[test]
fn a_validating_deployment_that_would_mutate_is_refused_as_kubewarden_refuses_it() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).expect("tmp");
    let mut manifest: Value =
        serde_yaml::from_str(&std::fs::read_to_string(shipped("injector.yaml")).expect("readable"))
            .expect("YAML");
    manifest["spec"]["mutating"] = json!(false);
    let file = dir.join("injector-not-mutating.json");
    std::fs::write(&file, manifest.to_string()).expect("write");
    let by_chain = judged(&["--policies", &file.to_string_lossy()]);
    let web = by_chain
        .iter()
        .find(|(name, _, _)| name == "Pod default/web")
        .expect("the pod");
    assert_eq!(web.1, "refused", "{by_chain:?}");
    let (_, out, _) = readiness(&[
        "--workloads",
        &path("readiness/workloads.json"),
        "--policies",
        &file.to_string_lossy(),
    ]);
    assert!(
        out.contains("Kubewarden refuses the request: the policy attempted to mutate it, but is deployed with mutating: false"),
        "{out}"
    );
}
