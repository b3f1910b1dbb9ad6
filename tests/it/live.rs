//! `kubectl native-sidecar readiness` against a live cluster: the recorded
//! answers of tests/fixtures/live replayed by a local API server
//! (`replay`), read by the real client.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::replay::{Answer, Replay};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn recorded(path: &str) -> Value {
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/live/mixed").join(path)).expect("a recording");
    serde_json::from_str(&text).expect("recorded JSON")
}

/// The shipped injector and validator, as the cluster lists them (active).
fn shipped_policies() -> Value {
    let items: Vec<Value> = ["policies/injector.yaml", "policies/validator.yaml"]
        .iter()
        .map(|file| {
            let mut policy: Value =
                serde_yaml::from_str(&std::fs::read_to_string(root().join(file)).expect("a manifest"))
                    .expect("YAML");
            policy["status"] = json!({"policyStatus": "active"});
            policy
        })
        .collect();
    json!({"apiVersion": "policies.kubewarden.io/v1", "kind": "ClusterAdmissionPolicyList", "metadata": {}, "items": items})
}

fn policies_route() -> (String, Answer) {
    (
        "/apis/policies.kubewarden.io/v1/clusteradmissionpolicies".to_owned(),
        Answer::Json(200, shipped_policies()),
    )
}

/// `count` copies of the recorded node, named `node-00000`…, every tenth
/// on kubelet 1.28 when `some_old`: the route of the node list.
fn generated_nodes(count: usize, some_old: bool) -> (String, Answer) {
    let node = recorded("api/v1/nodes.json")["items"][0].clone();
    let nodes: Vec<Value> = (0..count)
        .map(|i| {
            let mut node = node.clone();
            node["metadata"]["name"] = json!(format!("node-{i:05}"));
            if some_old && i % 10 == 0 {
                node["status"]["nodeInfo"]["kubeletVersion"] = json!("v1.28.15");
            }
            node
        })
        .collect();
    (
        "/api/v1/nodes".to_owned(),
        Answer::Json(
            200,
            json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": nodes}),
        ),
    )
}

/// Metrics that come after the tests' timeouts.
fn late_metrics(seconds: u64) -> Answer {
    Answer::Late(
        Duration::from_secs(seconds),
        Box::new(Answer::Text("# late".to_owned())),
    )
}

/// Runs the kubectl plugin's `readiness` with these options: exit code, stdout, stderr.
fn plugin(options: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_kubectl-native_sidecar"))
        .arg("readiness")
        .args(options)
        .env_remove("KUBECONFIG")
        .output()
        .expect("the plugin runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs the plugin's `readiness` against `replay`, with a kubeconfig for it
/// written into `dir`, and these options after it.
fn against(replay: &Replay, dir: &Path, options: &[&str]) -> (i32, String, String) {
    let kubeconfig = replay.kubeconfig(dir);
    let kubeconfig = kubeconfig.to_string_lossy();
    let mut all = vec!["--kubeconfig", kubeconfig.as_ref()];
    all.extend_from_slice(options);
    plugin(&all)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nsp-live-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

fn write(dir: &Path, name: &str, value: &Value) -> String {
    let file = dir.join(name);
    std::fs::write(&file, value.to_string()).expect("written");
    file.to_string_lossy().into_owned()
}

/// The same recording as `kubectl` would have printed it into files.
fn kubectl_files(dir: &Path) -> Vec<String> {
    let mixed = root().join("tests/fixtures/live/mixed");
    let at = |path: &str| mixed.join(path).to_string_lossy().into_owned();
    let nodes = recorded("api/v1/nodes.json");
    let mut node_metrics = String::new();
    for node in nodes["items"].as_array().into_iter().flatten() {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        let metrics = std::fs::read_to_string(mixed.join(format!("api/v1/nodes/{name}/proxy/metrics.txt")))
            .expect("recorded metrics");
        node_metrics.push_str(&format!("# node: {name}\n{metrics}"));
    }
    let node_metrics_file = dir.join("node-metrics.txt");
    std::fs::write(&node_metrics_file, node_metrics).expect("written");
    // `kubectl get pods,jobs,cronjobs -A -o json`: one list, items with their kinds.
    let mut workloads = Vec::new();
    for (file, api_version, kind) in [
        ("api/v1/pods.json", "v1", "Pod"),
        ("apis/batch/v1/jobs.json", "batch/v1", "Job"),
        ("apis/batch/v1/cronjobs.json", "batch/v1", "CronJob"),
        // The controllers the validator's checkOwner compares Pods with.
        ("apis/apps/v1/replicasets.json", "apps/v1", "ReplicaSet"),
        ("apis/apps/v1/statefulsets.json", "apps/v1", "StatefulSet"),
        ("apis/apps/v1/daemonsets.json", "apps/v1", "DaemonSet"),
    ] {
        for mut item in recorded(file)["items"].as_array().cloned().unwrap_or_default() {
            item["apiVersion"] = json!(api_version);
            item["kind"] = json!(kind);
            workloads.push(item);
        }
    }
    // `kubectl get deployment -n istio-system istiod -o json` and the like, in one list.
    let meshes: Vec<Value> = [
        "apis/apps/v1/namespaces/istio-system/deployments/istiod.json",
        "apis/apps/v1/namespaces/linkerd/deployments/linkerd-proxy-injector.json",
        "api/v1/namespaces/linkerd/configmaps/linkerd-config.json",
    ]
    .into_iter()
    .map(recorded)
    .collect();
    [
        ("--metrics", at("metrics.txt")),
        ("--node-metrics", node_metrics_file.to_string_lossy().into_owned()),
        ("--nodes", at("api/v1/nodes.json")),
        (
            "--kubectl-version",
            write(
                dir,
                "version.json",
                &json!({"serverVersion": recorded("version.json")}),
            ),
        ),
        (
            "--webhooks",
            at("apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations.json"),
        ),
        (
            "--workloads",
            write(
                dir,
                "workloads.json",
                &json!({"kind": "List", "items": workloads}),
            ),
        ),
        ("--namespaces", at("api/v1/namespaces.json")),
        (
            "--meshes",
            write(dir, "meshes.json", &json!({"kind": "List", "items": meshes})),
        ),
        ("--policies", write(dir, "policies.json", &shipped_policies())),
    ]
    .into_iter()
    .flat_map(|(option, file)| [option.to_owned(), file])
    .collect()
}

#[test]
fn the_live_report_is_the_report_of_the_same_files() {
    let dir = temp_dir("same");
    let replay = Replay::start("mixed", vec![policies_route()]);
    let (live_code, live, progress) = against(&replay, &dir, &[]);
    let files = kubectl_files(&dir);
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let (file_code, offline, _) = plugin(&files);
    assert_eq!(live, offline, "live:\n{live}\nprogress:\n{progress}");
    assert_eq!((live_code, file_code), (1, 1));
    // The deployed chain: the injector leaves Jobs alone, the validator refuses.
    assert!(
        live.contains("blocker: Job reports/nightly-report would be refused by native-sidecar-validator"),
        "{live}"
    );
    assert!(live.contains("policy: native-sidecar-injector (clusterwide-native-sidecar-injector, mutating)"));
    assert!(
        live.contains("policy: native-sidecar-validator (clusterwide-native-sidecar-validator, validating)")
    );
    // Istio 1.27 without ENABLE_NATIVE_SIDECARS: auto.
    assert!(
        live.contains("istio 1.27.3 (istio-sidecar-injector): ENABLE_NATIVE_SIDECARS unset: auto"),
        "{live}"
    );
    assert!(
        live.contains("issues/126440 (fixed in 1.29.9, 1.30.5, 1.31.1, 1.32.0)"),
        "{live}"
    );
    assert!(live.contains("1 Windows node(s) (win-1)"), "{live}");
    assert!(
        live.contains("1 workload(s) set pod-level resources (Pod ml/trainer)"),
        "{live}"
    );
    assert!(!live.contains("not judged"), "every input was read:\n{live}");
    assert!(progress.contains("read 4 nodes in 1 page(s)"), "{progress}");
    // Everything it asked, the shipped ClusterRole grants.
    let asked = replay.asked.lock().expect("the log").clone();
    assert!(asked.len() >= 15, "{asked:?}");
    let role: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("policies/readiness-rbac.yaml")).expect("the ClusterRole"),
    )
    .expect("YAML");
    for request in &asked {
        assert!(
            granted(&role, request),
            "policies/readiness-rbac.yaml does not grant {request}"
        );
    }
}

/// Whether a ClusterRole grants a GET of this path, as the API server's
/// authorizer reads it: a non-resource URL, or a verb (`get` of a name,
/// `list` of a collection) on a resource (`nodes/proxy` for a subresource).
fn granted(role: &Value, request: &str) -> bool {
    let path = request.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, mut rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => ("", &[][..]),
    };
    if let ["namespaces", _namespace, inner @ ..] = rest
        && !inner.is_empty()
    {
        rest = inner;
    }
    let listed = |rule: &Value, key: &str, wanted: &str| {
        rule[key]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v.as_str() == Some(wanted) || v.as_str() == Some("*"))
    };
    role["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|rule| match rest {
            [] => listed(rule, "nonResourceURLs", path) && listed(rule, "verbs", "get"),
            [resource, name, sub @ ..] => {
                let resource = sub
                    .first()
                    .map_or_else(|| (*resource).to_owned(), |s| format!("{resource}/{s}"));
                listed(rule, "apiGroups", group)
                    && listed(rule, "resources", &resource)
                    && listed(rule, "verbs", "get")
                    && (rule.get("resourceNames").is_none() || listed(rule, "resourceNames", name))
            }
            [resource] => {
                listed(rule, "apiGroups", group)
                    && listed(rule, "resources", resource)
                    && listed(rule, "verbs", "list")
                    && rule.get("resourceNames").is_none()
            }
        })
}

#[test]
fn refusals_are_reported_per_input_and_judged_without() {
    let dir = temp_dir("rbac");
    let replay = Replay::start(
        "mixed",
        vec![
            (
                "/api/v1/nodes/*/proxy/metrics".to_owned(),
                Answer::forbidden("nodes/proxy"),
            ),
            (
                "/apis/batch/v1/cronjobs".to_owned(),
                Answer::forbidden("cronjobs.batch"),
            ),
            (
                "/apis/policies.kubewarden.io/v1/clusteradmissionpolicies".to_owned(),
                Answer::forbidden("clusteradmissionpolicies.policies.kubewarden.io"),
            ),
        ],
    );
    let (code, report, _) = against(&replay, &dir, &["--context", "replay"]);
    assert_eq!(
        code, 3,
        "refusals are not fatal, and the report says it is incomplete:\n{report}"
    );
    assert!(
        report.starts_with("readiness: INCOMPLETE (3 input(s) not read"),
        "{report}"
    );
    for expected in [
        "not read: could not read node metrics: forbidden: nodes/proxy is forbidden: User \"auditor\" cannot get \
         it; judged by version",
        "not read: could not read cronjobs: forbidden",
        "not read: could not read ClusterAdmissionPolicies: forbidden",
        // Judged by version instead of the gate.
        "pool-a-1                 v1.30.2+k3s1                 native sidecars: version v1.30.2+k3s1 (on by default \
         from 1.29)",
    ] {
        assert!(report.contains(expected), "{expected}\nnot in\n{report}");
    }
}

#[test]
fn an_unreachable_cluster_stops_the_command() {
    let dir = temp_dir("unreachable");
    // A port that was free a moment ago, and nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let replay = Replay {
        url: format!("http://127.0.0.1:{port}"),
        asked: Default::default(),
    };
    let (code, _, errors) = against(&replay, &dir, &[]);
    assert_eq!(code, 2, "{errors}");
    assert!(errors.contains("could not reach the API server"), "{errors}");
}

/// 5,000 nodes (the recorded node, renamed; one in ten on 1.28): read in
/// pages with progress, the metrics of as many as the limit allows through
/// the proxy. The time is printed, not asserted.
#[test]
fn a_five_thousand_node_cluster_is_read_in_pages_with_progress() {
    let dir = temp_dir("large");
    let metrics = std::fs::read_to_string(
        root().join("tests/fixtures/live/mixed/api/v1/nodes/pool-a-1/proxy/metrics.txt"),
    )
    .expect("recorded metrics");
    let replay = Replay::start(
        "mixed",
        vec![
            generated_nodes(5000, true),
            ("/api/v1/nodes/*/proxy/metrics".to_owned(), Answer::Text(metrics)),
            policies_route(),
        ],
    );
    let started = Instant::now();
    let (code, report, progress) = against(&replay, &dir, &["--output", "json"]);
    eprintln!(
        "5,000 nodes read and judged in {:.2} s; the command said:\n{progress}",
        started.elapsed().as_secs_f64()
    );
    assert_ne!(code, 2, "{progress}");
    assert!(progress.contains("  nodes: 500 read, 4500 to go…"), "{progress}");
    assert!(progress.contains("read 5000 nodes in 10 page(s)"), "{progress}");
    // 500 nodes' metrics (the default limit), one of each version first.
    assert!(progress.contains("read the metrics of 500 node(s)"), "{progress}");
    let report: Value = serde_json::from_str(&report).expect("a JSON report");
    let nodes = report["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(nodes.len(), 5000);
    let gated: Vec<&str> = nodes
        .iter()
        .filter(|n| n["gate"]["enabled"] == json!(true))
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(gated.len(), 500);
    assert_eq!(&gated[..3], ["node-00000", "node-00001", "node-00002"]);
    assert!(
        report["unknown"].as_array().into_iter().flatten().any(|u| u
            .as_str()
            .unwrap_or_default()
            .starts_with("the metrics of 500 of 5000 Ready nodes were read")),
        "{}",
        report["unknown"]
    );
    let asked = replay.asked.lock().expect("the log").clone();
    assert_eq!(
        asked.iter().filter(|p| p.starts_with("/api/v1/nodes?")).count(),
        10,
        "{:?}",
        &asked[..20.min(asked.len())]
    );
}

/// What must stop the command rather than read as a report: credentials the
/// API server refuses, something that is not an API server, an API server
/// that does not answer in time.
#[test]
fn a_cluster_that_cannot_be_asked_stops_the_command() {
    let dir = temp_dir("stops");
    let unauthorized = Answer::Json(
        401,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "Unauthorized",
            "reason": "Unauthorized", "code": 401}),
    );
    let login_page = Answer::Text("<html><body>Sign in</body></html>".to_owned());
    let cases = [
        (
            "/version",
            unauthorized.clone(),
            "the API server refuses the kubeconfig's credentials",
        ),
        // An expired token on a later request stops it too.
        (
            "/api/v1/nodes",
            unauthorized,
            "the API server refuses the kubeconfig's credentials",
        ),
        (
            "/version",
            login_page,
            "not a Kubernetes API server: /version: not an answer of the Kubernetes API",
        ),
        ("/metrics", late_metrics(5), "could not reach the API server"),
    ];
    for (path, answer, expected) in cases {
        let replay = Replay::start("mixed", vec![(path.to_owned(), answer)]);
        let started = Instant::now();
        let (code, report, errors) = against(&replay, &dir, &["--request-timeout", "1"]);
        assert_eq!(code, 2, "{path}: {errors}\n{report}");
        assert!(errors.contains(expected), "{path}: {expected}\nnot in\n{errors}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{path}: the timeout was not kept"
        );
    }
}

/// A login page where the metrics should be, a node that is not Ready, and
/// a continue token that expired while paging (the API server offers a
/// fresh one): each said in the report, which goes on.
#[test]
fn answers_that_are_not_what_was_asked_are_said() {
    let dir = temp_dir("odd");
    let mut nodes = recorded("api/v1/nodes.json");
    nodes["items"][2]["status"]["conditions"] = json!([{"type": "Ready", "status": "Unknown"}]);
    let replay = Replay::start(
        "mixed",
        vec![
            (
                "/metrics".to_owned(),
                Answer::Text("<html>Sign in</html>".to_owned()),
            ),
            ("/api/v1/nodes".to_owned(), Answer::Json(200, nodes)),
            ("/apis/batch/v1/jobs".to_owned(), Answer::Expiring),
            policies_route(),
        ],
    );
    let (code, report, progress) = against(&replay, &dir, &["--page-size", "1"]);
    assert_eq!(code, 1, "{report}\n{progress}");
    for expected in [
        "not read: could not read the API server's metrics: /metrics answered something else; judged by its version",
        "not judged: 1 node(s) are not Ready (pool-b-1), whose kubelets the API server cannot reach: judged by version",
        "not judged: the jobs changed while they were read (their continue token expired): the rest was read as it is now",
        // Every Job was read all the same.
        "refused   Job reports/nightly-report",
        "accepted  Job reports/nightly-report-native",
    ] {
        assert!(report.contains(expected), "{expected}\nnot in\n{report}");
    }
}

/// What one node, or one moment, does is not the whole cluster's: a kubelet
/// that does not answer through the proxy in time (the API server does not
/// time node proxies out), a `/version` that RBAC refuses, and an API server
/// too busy for a moment (429) are each said, and the report goes on.
#[test]
fn a_slow_kubelet_a_refused_version_and_a_busy_moment_are_not_the_clusters() {
    let dir = temp_dir("partial");
    let throttled = Arc::new(AtomicUsize::new(2));
    let replay = Replay::start(
        "mixed",
        vec![
            ("/api/v1/nodes/pool-b-1/proxy/metrics".to_owned(), late_metrics(3)),
            ("/version".to_owned(), Answer::forbidden("/version")),
            (
                "/api/v1/nodes".to_owned(),
                Answer::Throttled(Arc::clone(&throttled)),
            ),
            policies_route(),
        ],
    );
    let started = Instant::now();
    let (code, report, progress) = against(&replay, &dir, &["--request-timeout", "1"]);
    // Blocked by what it read (an old node, a refused Job), with what it
    // could not read said.
    assert_eq!(code, 1, "{report}\n{progress}");
    for expected in [
        "not read: could not read the versions: forbidden: /version is forbidden",
        "not read: could not read the metrics of 1 node(s): pool-b-1 (",
        // The other nodes' gates were read, and the nodes themselves after two 429s.
        "pool-a-1                 v1.30.2+k3s1                 native sidecars: SidecarContainers is on",
    ] {
        assert!(report.contains(expected), "{expected}\nnot in\n{report}");
    }
    let asked = replay.asked.lock().expect("the log").clone();
    assert_eq!(
        asked.iter().filter(|p| p.starts_with("/api/v1/nodes?")).count(),
        3,
        "asked again after each 429: {asked:?}"
    );
    // Two waits (1 s, then 2 s) before the third ask, then a timeout of
    // 1 s: waited for, and not for ever.
    let elapsed = started.elapsed();
    assert!(
        (Duration::from_secs(3)..Duration::from_secs(20)).contains(&elapsed),
        "{elapsed:?}"
    );
}

/// A proxy that stops answering for every node: the rest of the nodes are
/// not waited for one by one.
#[test]
fn kubelets_that_all_stop_answering_are_not_waited_for_one_by_one() {
    let dir = temp_dir("silent-kubelets");
    let replay = Replay::start(
        "mixed",
        vec![
            generated_nodes(200, false),
            ("/api/v1/nodes/*/proxy/metrics".to_owned(), late_metrics(3)),
            policies_route(),
        ],
    );
    let started = Instant::now();
    let (code, report, progress) = against(&replay, &dir, &["--request-timeout", "1"]);
    assert_ne!(code, 2, "{report}\n{progress}");
    let asked = replay.asked.lock().expect("the log").clone();
    let proxied = asked.iter().filter(|p| p.ends_with("/proxy/metrics")).count();
    // The first 16, and those asked meanwhile (16 at a time).
    assert!((16..=32).contains(&proxied), "{proxied} nodes asked");
    assert!(
        report.contains("could not read the metrics of 16 node(s): node-00000 ("),
        "{report}"
    );
    assert!(
        report.contains(
            "; 184 more were not waited for, after 16 nodes in a row did not answer; judged by version"
        ),
        "{report}"
    );
    eprintln!(
        "200 silent kubelets: the report in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A list whose fresh continue tokens expire too is not followed for ever:
/// after three in a row, that input is not read, and the report goes on.
#[test]
fn continue_tokens_that_always_expire_are_not_followed_for_ever() {
    let dir = temp_dir("expiring");
    let replay = Replay::start(
        "mixed",
        vec![
            ("/apis/batch/v1/jobs".to_owned(), Answer::ExpiringForEver),
            policies_route(),
        ],
    );
    let (code, report, progress) = against(&replay, &dir, &["--page-size", "1"]);
    assert_ne!(code, 2, "{report}\n{progress}");
    assert!(
        report.contains(
            "not read: could not read jobs: Expired (410): The provided continue parameter is too old"
        ),
        "{report}"
    );
    let asked = replay.asked.lock().expect("the log").clone();
    let jobs = asked
        .iter()
        .filter(|p| p.starts_with("/apis/batch/v1/jobs?"))
        .count();
    // The first page, then its token and three fresh ones.
    assert_eq!(jobs, 5, "{asked:?}");
}
