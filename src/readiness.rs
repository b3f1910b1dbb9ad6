//! Is this cluster ready for native sidecars? The upstream tutorial's
//! troubleshooting steps ("Adopting Sidecar Containers") as one report,
//! computed from what `kubectl` prints: the `SidecarContainers` feature gate of
//! the API server and of each node (their `/metrics`), the versions, the
//! mutating webhooks that see Pods and where they run relative to this policy,
//! the `nativeSupport` strategy that fits, and what the policy with the given
//! settings would do to each workload, by running its own decision code.
//!
//! Pure: texts and JSON values in, a `Report` out. The command line
//! (`src/bin`) and the playground read the inputs and print the report.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use crate::adapter::evaluate;
use crate::cluster::Snapshot;
use crate::settings::kubelet_minor;

/// The name of the gate in `kubernetes_feature_enabled{name=…}`.
const GATE: &str = "SidecarContainers";

/// The name of the shipped injector's `ClusterAdmissionPolicy`, when none is given.
pub const DEFAULT_POLICY_NAME: &str = "native-sidecar-injector";

/// What the operator pasted or pointed at; every part optional.
#[derive(Debug, Default)]
pub struct Inputs {
    /// The API server's `/metrics` text.
    pub apiserver_metrics: Option<String>,
    /// `(node name, its /metrics text)`.
    pub node_metrics: Vec<(String, String)>,
    /// `kubectl get nodes -o json`.
    pub nodes: Option<Value>,
    /// `kubectl version -o json`.
    pub version: Option<Value>,
    /// `kubectl get mutatingwebhookconfigurations -o json`.
    pub webhooks: Option<Value>,
    /// `kubectl get pods,jobs,cronjobs -A -o json`.
    pub workloads: Option<Value>,
    /// The settings the operator means to deploy.
    pub settings: Option<Value>,
    /// The `ClusterAdmissionPolicy` the injector is deployed as.
    pub policy_name: String,
}

/// A feature gate as a component's metrics report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    pub enabled: bool,
    pub stage: String,
}

impl Gate {
    /// The stage as people say it: an empty stage is GA.
    fn stage_name(&self) -> &str {
        match self.stage.as_str() {
            "" => "GA",
            stage => stage,
        }
    }
}

/// One component: the API server or a node.
#[derive(Debug, Serialize)]
pub struct Component {
    pub name: String,
    pub version: Option<String>,
    /// `None`: its metrics were not given, or do not have the gate (before 1.26).
    pub gate: Option<Gate>,
    /// Whether it runs native sidecars, if that can be told.
    pub native: Option<bool>,
    pub why: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub configuration: String,
    pub webhook: String,
    /// Whether it is called for Pods on CREATE.
    pub mutates_pods: bool,
    pub reinvocation: String,
    /// Called before this policy's injector (configurations run in name order).
    pub before_policy: bool,
}

#[derive(Debug, Serialize)]
pub struct Workload {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `accepted`, `warned`, `refused`, `mutated`.
    pub outcome: &'static str,
    pub detail: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub api_server: Component,
    pub nodes: Vec<Component>,
    /// The kubelets' versions against the API server's, when both are known.
    pub skew: Option<String>,
    pub webhooks: Vec<Webhook>,
    /// The `nativeSupport` strategy that fits, and why.
    pub strategy: String,
    pub strategy_why: String,
    /// The settings snippet for it.
    pub snippet: String,
    pub workloads: Vec<Workload>,
    /// What keeps the cluster from adopting native sidecars as configured.
    pub blockers: Vec<String>,
    /// What the report could not judge without an input.
    pub unknown: Vec<String>,
}

/// Every `kubernetes_feature_enabled` sample of a Prometheus text: `(name,
/// stage, enabled)`. Labels in any order, quotes escaped, comments and lines
/// that are not samples skipped.
pub fn feature_gates(metrics: &str) -> Vec<(String, Gate)> {
    metrics
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line.strip_prefix("kubernetes_feature_enabled{")?;
            let (labels, value) = split_labels(rest)?;
            let value: f64 = value.split_whitespace().next()?.parse().ok()?;
            let label = |key: &str| labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            Some((
                label("name")?,
                Gate {
                    enabled: value == 1.0,
                    stage: label("stage").unwrap_or_default(),
                },
            ))
        })
        .collect()
}

/// `name="x",stage="BETA"} 1` → the labels and what follows the braces.
fn split_labels(text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace() || *c == ',').is_some() {}
        let (start, first) = chars.next()?;
        if first == '}' {
            return Some((labels, text.get(start + 1..)?));
        }
        let mut key = String::from(first);
        for (_, c) in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        if chars.next().map(|(_, c)| c) != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()?.1 {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((key.trim().to_owned(), value));
    }
}

/// Splits a file of several nodes' metrics at `# node: <name>` lines.
pub fn split_node_metrics(text: &str) -> Vec<(String, String)> {
    let mut nodes: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.trim().strip_prefix("# node:") {
            nodes.push((name.trim().to_owned(), String::new()));
        } else if let Some((_, body)) = nodes.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    nodes
}

/// The items of a `List` (or the object itself).
fn items(value: &Value) -> Vec<&Value> {
    match value.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![value],
    }
}

fn text<'v>(value: &'v Value, pointer: &str) -> &'v str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// Whether a component with this gate and version runs native sidecars: the
/// gate when its metrics say, else the version (beta and on by default from
/// 1.29; off by default in 1.28; absent before).
fn judge(gate: Option<&Gate>, version: Option<&str>) -> (Option<bool>, String) {
    match (gate, version.and_then(kubelet_minor)) {
        (Some(gate), _) if gate.enabled => (Some(true), format!("{GATE} is on ({})", gate.stage_name())),
        (Some(gate), _) => (Some(false), format!("{GATE} is off ({})", gate.stage_name())),
        (None, Some(minor)) if minor >= (1, 29) => (
            Some(true),
            format!(
                "version {} (on by default from 1.29)",
                version.unwrap_or_default()
            ),
        ),
        (None, Some(minor)) if minor >= (1, 28) => (
            Some(false),
            format!("version {} (alpha, off by default)", version.unwrap_or_default()),
        ),
        (None, Some(_)) => (
            Some(false),
            format!("version {} (before native sidecars)", version.unwrap_or_default()),
        ),
        (None, None) => (None, "neither its metrics nor its version were given".to_owned()),
    }
}

/// The report for these inputs.
pub fn report(inputs: &Inputs) -> Report {
    let mut unknown = Vec::new();
    let mut blockers = Vec::new();

    let api_gate = inputs
        .apiserver_metrics
        .as_deref()
        .and_then(|m| feature_gates(m).into_iter().find(|(n, _)| n == GATE))
        .map(|(_, gate)| gate);
    let api_version = inputs
        .version
        .as_ref()
        .map(|v| text(v, "/serverVersion/gitVersion").to_owned())
        .filter(|v| !v.is_empty());
    if inputs.apiserver_metrics.is_none() && api_version.is_none() {
        unknown.push("the API server: give its metrics or `kubectl version -o json`".to_owned());
    }
    let (native, why) = judge(api_gate.as_ref(), api_version.as_deref());
    let api_server = Component {
        name: "API server".to_owned(),
        version: api_version,
        gate: api_gate,
        native,
        why,
    };
    if api_server.native == Some(false) {
        blockers.push(format!(
            "the API server does not keep restartPolicy on init containers: {}",
            api_server.why
        ));
    }

    let nodes = node_components(inputs, &mut unknown);
    let skew = version_skew(&api_server, &nodes);
    let (strategy, strategy_why, snippet) = strategy(&api_server, &nodes);
    let settings = inputs.settings.as_ref();
    let configured = settings
        .and_then(|s| s.pointer("/nativeSupport/strategy"))
        .and_then(Value::as_str)
        .unwrap_or("assume");
    // Only settings that write native sidecars care where they run.
    let writes_native = settings.is_some_and(|s| {
        s.get("sidecars")
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty())
            || s.pointer("/jobSidecars/action").and_then(Value::as_str) == Some("convert")
    });
    let unsupported: Vec<&str> = nodes
        .iter()
        .filter(|n| n.native == Some(false))
        .map(|n| n.name.as_str())
        .collect();
    if configured == "assume" && !unsupported.is_empty() && writes_native {
        blockers.push(format!(
            "the settings assume every node runs native sidecars, and these do not: {}; use \
             nativeSupport.strategy {strategy}",
            unsupported.join(", ")
        ));
    }

    let webhooks = match &inputs.webhooks {
        Some(list) => webhooks(list, &inputs.policy_name),
        None => {
            unknown.push(
                "the mutating webhooks: give `kubectl get mutatingwebhookconfigurations -o json`".to_owned(),
            );
            Vec::new()
        }
    };
    let workloads = match (&inputs.workloads, &inputs.settings) {
        (Some(list), settings) => workloads(list, settings.as_ref(), inputs.nodes.as_ref(), &mut blockers),
        (None, _) => {
            unknown.push("the workloads: give `kubectl get pods,jobs,cronjobs -A -o json`".to_owned());
            Vec::new()
        }
    };
    Report {
        api_server,
        nodes,
        skew,
        webhooks,
        strategy,
        strategy_why,
        snippet,
        workloads,
        blockers,
        unknown,
    }
}

fn node_components(inputs: &Inputs, unknown: &mut Vec<String>) -> Vec<Component> {
    let mut names: Vec<String> = Vec::new();
    let listed: Vec<&Value> = inputs.nodes.as_ref().map(items).unwrap_or_default();
    for node in &listed {
        names.push(text(node, "/metadata/name").to_owned());
    }
    for (name, _) in &inputs.node_metrics {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    if names.is_empty() {
        unknown.push("the nodes: give `kubectl get nodes -o json` or their metrics".to_owned());
    }
    names
        .into_iter()
        .map(|name| {
            let version = listed
                .iter()
                .find(|n| text(n, "/metadata/name") == name)
                .map(|n| text(n, "/status/nodeInfo/kubeletVersion").to_owned())
                .filter(|v| !v.is_empty());
            let gate = inputs
                .node_metrics
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, m)| feature_gates(m).into_iter().find(|(g, _)| g == GATE))
                .map(|(_, gate)| gate);
            let (native, why) = judge(gate.as_ref(), version.as_deref());
            Component {
                name,
                version,
                gate,
                native,
                why,
            }
        })
        .collect()
}

/// The kubelets' minor versions against the API server's: Kubernetes supports
/// kubelets up to three minor versions older than the API server, never newer.
fn version_skew(api_server: &Component, nodes: &[Component]) -> Option<String> {
    let (_, api) = api_server.version.as_deref().and_then(kubelet_minor)?;
    let minors: Vec<u32> = nodes
        .iter()
        .filter_map(|n| n.version.as_deref().and_then(kubelet_minor))
        .map(|(_, minor)| minor)
        .collect();
    let (oldest, newest) = (minors.iter().min()?, minors.iter().max()?);
    let outside = *newest > api || api.saturating_sub(*oldest) > 3;
    Some(format!(
        "kubelets 1.{oldest} to 1.{newest} against API server 1.{api}: {}",
        if outside {
            "outside the supported skew (kubelets at most three minor versions older, never newer)"
        } else {
            "within the supported skew"
        }
    ))
}

/// The strategy that fits what is known, why, and its settings snippet.
fn strategy(api_server: &Component, nodes: &[Component]) -> (String, String, String) {
    let snippet = |body: &str| format!("nativeSupport:\n{body}");
    if api_server.native == Some(false) {
        return (
            "legacy".to_owned(),
            "the API server drops restartPolicy from init containers: sidecars can only run as regular \
             containers until it is upgraded (1.29+) or the gate is turned on"
                .to_owned(),
            snippet("  strategy: legacy\n"),
        );
    }
    let supported: Vec<&Component> = nodes.iter().filter(|n| n.native == Some(true)).collect();
    let unsupported: Vec<&Component> = nodes.iter().filter(|n| n.native == Some(false)).collect();
    let unknown = nodes.iter().any(|n| n.native.is_none());
    if nodes.is_empty() || unknown {
        return (
            "universal".to_owned(),
            "whether the nodes run native sidecars is not known: the universal injector's two copies \
             agree at run time"
                .to_owned(),
            snippet("  strategy: universal\n  handshakeTimeoutSeconds: 30\n"),
        );
    }
    if unsupported.is_empty() {
        return (
            "assume".to_owned(),
            format!(
                "every one of the {} nodes and the API server run native sidecars",
                nodes.len()
            ),
            snippet("  strategy: assume\n"),
        );
    }
    // A node whose gate is off although its version would have it on cannot
    // be told apart by version: label the good ones instead.
    let gate_decides = nodes
        .iter()
        .any(|n| n.gate.is_some() && judge(None, n.version.as_deref()).0 != n.native);
    if gate_decides || supported.is_empty() {
        let label = "native-sidecar.kubewarden.io/supported";
        let names: Vec<&str> = supported.iter().map(|n| n.name.as_str()).collect();
        return (
            "nodeLabel".to_owned(),
            format!(
                "some nodes' gates differ from what their versions imply: label the nodes that run native \
                 sidecars (kubectl label node {} {label}=true)",
                if names.is_empty() {
                    "<node>".to_owned()
                } else {
                    names.join(" ")
                }
            ),
            snippet(&format!(
                "  strategy: nodeLabel\n  nodeLabel: {{key: {label}, value: \"true\"}}\n"
            )),
        );
    }
    (
        "nodeVersion".to_owned(),
        format!(
            "{} of {} nodes run a kubelet too old for native sidecars ({})",
            unsupported.len(),
            nodes.len(),
            unsupported
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        snippet("  strategy: nodeVersion\n  minKubeletVersion: \"1.29\"\n  whenUnsupported: universal\n"),
    )
}

/// The mutating webhooks, in the order the API server calls them, and where
/// this policy's injector (`clusterwide-<policy>`) runs among them.
fn webhooks(list: &Value, policy: &str) -> Vec<Webhook> {
    let ours = format!("clusterwide-{policy}");
    let mut configurations: Vec<&Value> = items(list)
        .into_iter()
        .filter(|c| text(c, "/metadata/name") != ours)
        .collect();
    configurations.sort_by_key(|c| text(c, "/metadata/name"));
    configurations
        .into_iter()
        .flat_map(|configuration| {
            let name = text(configuration, "/metadata/name");
            let before = name < ours.as_str();
            configuration
                .get("webhooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(move |webhook| Webhook {
                    configuration: name.to_owned(),
                    webhook: text(webhook, "/name").to_owned(),
                    mutates_pods: mutates_pods(webhook),
                    reinvocation: Some(text(webhook, "/reinvocationPolicy"))
                        .filter(|r| !r.is_empty())
                        .unwrap_or("Never")
                        .to_owned(),
                    before_policy: before,
                })
        })
        .collect()
}

/// Whether a webhook's rules cover Pods on CREATE.
fn mutates_pods(webhook: &Value) -> bool {
    let has = |rule: &Value, key: &str, wanted: &[&str]| {
        rule.get(key).and_then(Value::as_array).is_some_and(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .any(|v| wanted.contains(&v))
        })
    };
    webhook
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|rule| {
            has(rule, "apiGroups", &["", "*"])
                && has(rule, "resources", &["pods", "*", "*/*"])
                && has(rule, "operations", &["CREATE", "*"])
        })
}

/// What the policy with `settings` does to each workload, created anew.
fn workloads(
    list: &Value,
    settings: Option<&Value>,
    nodes: Option<&Value>,
    blockers: &mut Vec<String>,
) -> Vec<Workload> {
    let cluster = Snapshot::from_documents(nodes.cloned());
    let settings = settings.cloned().unwrap_or(Value::Null);
    items(list)
        .into_iter()
        .filter(|o| matches!(text(o, "/kind"), "Pod" | "Job" | "CronJob"))
        .map(|object| {
            let kind = text(object, "/kind");
            let group = if kind == "Pod" { "" } else { "batch" };
            let namespace = text(object, "/metadata/namespace");
            let request = json!({"uid": "readiness", "operation": "CREATE", "namespace": namespace,
                "kind": {"group": group, "version": "v1", "kind": kind}, "object": object});
            let payload = json!({"settings": settings, "request": request}).to_string();
            let verdict = evaluate(payload.as_bytes(), &cluster);
            let warnings = verdict.warnings.clone().unwrap_or_default();
            let (outcome, detail) = if !verdict.accepted {
                ("refused", verdict.message.clone().into_iter().collect::<Vec<_>>())
            } else if verdict.mutated_object.is_some() {
                ("mutated", warnings)
            } else if !warnings.is_empty() {
                ("warned", warnings)
            } else {
                ("accepted", Vec::new())
            };
            let workload = Workload {
                kind: kind.to_owned(),
                namespace: namespace.to_owned(),
                name: text(object, "/metadata/name").to_owned(),
                outcome,
                detail,
            };
            if outcome == "refused" {
                blockers.push(format!(
                    "{} {}/{} would be refused",
                    workload.kind, workload.namespace, workload.name
                ));
            }
            workload
        })
        .collect()
}

impl Report {
    /// Whether something blocks adoption as configured.
    pub fn blocked(&self) -> bool {
        !self.blockers.is_empty()
    }

    /// The report for people: a summary line, then each section.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let verdict = if self.blocked() {
            format!("BLOCKED ({} blocker(s))", self.blockers.len())
        } else {
            "READY".to_owned()
        };
        let _ = writeln!(
            out,
            "readiness: {verdict}; nativeSupport.strategy {} fits",
            self.strategy
        );
        for blocker in &self.blockers {
            let _ = writeln!(out, "  blocker: {blocker}");
        }
        let _ = writeln!(out, "\nFeature gate {GATE}:");
        for component in std::iter::once(&self.api_server).chain(&self.nodes) {
            let native = match component.native {
                Some(true) => "native sidecars",
                Some(false) => "NO native sidecars",
                None => "unknown",
            };
            let _ = writeln!(
                out,
                "  {:<24} {:<28} {native}: {}",
                component.name,
                component.version.as_deref().unwrap_or("?"),
                component.why
            );
        }
        if let Some(skew) = &self.skew {
            let _ = writeln!(out, "  versions: {skew}");
        }
        let _ = writeln!(
            out,
            "\nStrategy: {} ({})\n{}",
            self.strategy, self.strategy_why, self.snippet
        );
        if !self.webhooks.is_empty() {
            let _ = writeln!(
                out,
                "Mutating webhooks that see Pods on CREATE, in the order the API server calls them (the report \
                 sees their placement, not their code: any of them could strip restartPolicy):"
            );
            for webhook in self.webhooks.iter().filter(|w| w.mutates_pods) {
                let _ = writeln!(
                    out,
                    "  {} / {} ({} this policy's injector; reinvocation {})",
                    webhook.configuration,
                    webhook.webhook,
                    if webhook.before_policy { "before" } else { "after" },
                    webhook.reinvocation
                );
            }
            out.push('\n');
        }
        if !self.workloads.is_empty() {
            let _ = writeln!(
                out,
                "Workloads, as the policy with these settings would answer them:"
            );
            for workload in &self.workloads {
                let _ = writeln!(
                    out,
                    "  {:<9} {} {}/{}",
                    workload.outcome, workload.kind, workload.namespace, workload.name
                );
                for line in &workload.detail {
                    let _ = writeln!(out, "            {line}");
                }
            }
            out.push('\n');
        }
        for missing in &self.unknown {
            let _ = writeln!(out, "not judged: {missing}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::beta_on("# HELP kubernetes_feature_enabled x\n# TYPE kubernetes_feature_enabled gauge\nkubernetes_feature_enabled{name=\"SidecarContainers\",stage=\"BETA\"} 1\n", Some((true, "BETA")))]
    #[case::labels_reordered("kubernetes_feature_enabled{stage=\"\",name=\"SidecarContainers\"} 1", Some((true, "")))]
    #[case::off("kubernetes_feature_enabled{name=\"SidecarContainers\",stage=\"ALPHA\"} 0", Some((false, "ALPHA")))]
    #[case::escaped_quotes("kubernetes_feature_enabled{odd=\"a \\\"b\\\" c\",name=\"SidecarContainers\",stage=\"BETA\"} 1", Some((true, "BETA")))]
    #[case::absent(
        "kubernetes_feature_enabled{name=\"Other\",stage=\"BETA\"} 1\napiserver_request_total 5",
        None
    )]
    #[case::garbage(
        "kubernetes_feature_enabled{name=\"SidecarContainers\" 1\n{}{}\nkubernetes_feature_enabled{name=\"SidecarContainers\",stage=\"BETA\"} x",
        None
    )]
    fn gates_are_read_from_prometheus_text(#[case] metrics: &str, #[case] expected: Option<(bool, &str)>) {
        let found = feature_gates(metrics)
            .into_iter()
            .find(|(name, _)| name == GATE)
            .map(|(_, gate)| (gate.enabled, gate.stage));
        assert_eq!(found, expected.map(|(on, stage)| (on, stage.to_owned())));
    }

    fn node(name: &str, version: &str) -> Value {
        json!({"metadata": {"name": name}, "status": {"nodeInfo": {"kubeletVersion": version}}})
    }

    fn metrics(on: bool) -> String {
        format!(
            "kubernetes_feature_enabled{{name=\"SidecarContainers\",stage=\"BETA\"}} {}\n",
            u8::from(on)
        )
    }

    #[rstest]
    #[case::all_new(vec![node("a", "v1.30.1"), node("b", "v1.31.0")], vec![], "assume")]
    #[case::old_pool(vec![node("a", "v1.30.1"), node("b", "v1.27.16-eks-a737599")], vec![], "nodeVersion")]
    #[case::gate_off_on_a_new_node(vec![node("a", "v1.30.1"), node("b", "v1.30.1")], vec![("b", false)], "nodeLabel")]
    #[case::metrics_only(vec![], vec![("a", true), ("b", true)], "assume")]
    #[case::nothing_known(vec![], vec![], "universal")]
    fn the_strategy_fits_the_nodes(
        #[case] nodes: Vec<Value>,
        #[case] node_metrics: Vec<(&str, bool)>,
        #[case] expected: &str,
    ) {
        let inputs = Inputs {
            version: Some(json!({"serverVersion": {"gitVersion": "v1.31.2"}})),
            nodes: (!nodes.is_empty()).then(|| json!({"items": nodes})),
            node_metrics: node_metrics
                .into_iter()
                .map(|(n, on)| (n.to_owned(), metrics(on)))
                .collect(),
            ..Inputs::default()
        };
        let report = report(&inputs);
        assert_eq!(report.strategy, expected, "{}", report.text());
        assert!(report.snippet.contains(&format!("strategy: {expected}")));
    }

    #[rstest]
    #[case::within("v1.31.2", &["v1.30.1", "v1.28.3"], "kubelets 1.28 to 1.30 against API server 1.31: within the supported skew")]
    #[case::too_old("v1.33.4", &["v1.29.0"], "kubelets 1.29 to 1.29 against API server 1.33: outside the supported skew")]
    #[case::newer_kubelet("v1.29.0", &["v1.30.0"], "outside the supported skew")]
    fn version_skew_is_reported(#[case] api: &str, #[case] kubelets: &[&str], #[case] expected: &str) {
        let nodes: Vec<Value> = kubelets
            .iter()
            .enumerate()
            .map(|(i, v)| node(&format!("n{i}"), v))
            .collect();
        let report = report(&Inputs {
            version: Some(json!({"serverVersion": {"gitVersion": api}})),
            nodes: Some(json!({"items": nodes})),
            ..Inputs::default()
        });
        let skew = report.skew.unwrap_or_default();
        assert!(skew.contains(expected), "{skew}");
    }

    #[test]
    fn an_api_server_that_drops_the_field_blocks() {
        let report = report(&Inputs {
            apiserver_metrics: Some(metrics(false)),
            ..Inputs::default()
        });
        assert!(report.blocked());
        assert_eq!(report.strategy, "legacy");
        assert!(
            report.text().starts_with("readiness: BLOCKED (1 blocker(s))"),
            "{}",
            report.text()
        );
    }

    #[test]
    fn webhooks_are_ordered_around_the_policy() {
        let list = json!({"items": [
            {"metadata": {"name": "linkerd-proxy-injector-webhook-config"}, "webhooks": [{"name": "linkerd-proxy-injector.linkerd.io",
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}]}]},
            {"metadata": {"name": "aaa-secrets"}, "webhooks": [{"name": "secrets.example.com", "reinvocationPolicy": "IfNeeded",
                "rules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "operations": ["*"]}]}]},
            {"metadata": {"name": "cert-labeler"}, "webhooks": [{"name": "certs.example.com",
                "rules": [{"apiGroups": ["cert-manager.io"], "apiVersions": ["v1"], "resources": ["certificates"], "operations": ["CREATE"]}]}]},
            {"metadata": {"name": "clusterwide-native-sidecar-injector"}, "webhooks": [{"name": "x"}]}]});
        let found: Vec<(String, bool, bool)> = webhooks(&list, "native-sidecar-injector")
            .into_iter()
            .map(|w| (w.configuration, w.mutates_pods, w.before_policy))
            .collect();
        assert_eq!(
            found,
            [
                ("aaa-secrets".to_owned(), true, true),
                ("cert-labeler".to_owned(), false, true),
                ("linkerd-proxy-injector-webhook-config".to_owned(), true, false),
            ]
        );
    }

    #[test]
    fn node_metrics_split_at_node_lines() {
        let split = split_node_metrics("# node: a\nx 1\n# node: b\ny 2\n");
        assert_eq!(
            split,
            [
                ("a".to_owned(), "x 1\n".to_owned()),
                ("b".to_owned(), "y 2\n".to_owned())
            ]
        );
    }
}
