//! Is this cluster ready for native sidecars? The upstream tutorial's
//! troubleshooting steps ("Adopting Sidecar Containers") as one report,
//! computed from what `kubectl` prints or the live cluster answers: the
//! `SidecarContainers` feature gate of the API server and of each node (their
//! `/metrics`), the versions, the kubelet defects some versions carry, the
//! mutating webhooks that see Pods and where they run relative to this
//! policy, the service meshes and the settings that match them, the
//! `nativeSupport` strategy that fits, and what the policies as deployed
//! would do to each workload, by running their own decision code.
//!
//! Pure: texts and JSON values in, a `Report` out. The command line reads
//! the inputs from files or the cluster (`crate::live`), the playground from
//! what was pasted, and both print the report.

mod chain;
mod gates;
pub mod kubelets;
mod meshes;

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::cluster::Snapshot;
use crate::settings::kubelet_minor;

pub use chain::{Chain, Workload, is_this_policy};
use gates::judge;
pub use gates::{GATE, Gate, feature_gates, split_node_metrics};
pub use meshes::{Injector, Mesh, injectors as mesh_injectors};

/// The most nodes for which the report proposes `nodeVersion`: above, its
/// lookup on every pod creation costs more than a few milliseconds (measured
/// by `make bench`, docs/mixed-clusters.md#the-cost-of-nodeversion), and
/// `nodeLabel` is proposed instead.
pub const NODE_VERSION_MOST: usize = 250;

/// The name of the shipped injector's `ClusterAdmissionPolicy`, when none is given.
pub const DEFAULT_POLICY_NAME: &str = "native-sidecar-injector";

/// What the operator pasted or pointed at, or the cluster answered; every
/// part optional.
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
    /// `kubectl get namespaces -o json`: their labels, for the policies'
    /// namespace selectors and the meshes' namespace switches.
    pub namespaces: Option<Value>,
    /// The meshes' control planes: istiod's and Linkerd's proxy injector's
    /// Deployments, Linkerd's `linkerd-config` ConfigMap (a list or objects).
    pub meshes: Option<Value>,
    /// The policies as deployed: `ClusterAdmissionPolicy` and
    /// `AdmissionPolicy` manifests (lists or single objects).
    pub policies: Vec<Value>,
    /// The settings the operator means to deploy, when no policies are given.
    pub settings: Option<Value>,
    /// The `ClusterAdmissionPolicy` the settings are deployed as.
    pub policy_name: String,
    /// The inputs that could not be read, each with why (a live cluster's
    /// refusals): the report judges without them and says so.
    pub problems: Vec<String>,
    /// What was read only in part, by choice or by the cluster's state (a
    /// limit, nodes not Ready, a list that changed while it was paged).
    pub notes: Vec<String>,
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
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub api_server: Component,
    pub nodes: Vec<Component>,
    /// The kubelets' versions against the API server's, when both are known.
    pub skew: Option<String>,
    /// Defects of the nodes' exact kubelet versions with native sidecars.
    pub kubelet_defects: Vec<kubelets::Flagged>,
    /// Windows nodes and pods with pod-level resources: what the injector does there.
    pub platforms: Vec<String>,
    pub webhooks: Vec<Webhook>,
    /// The service meshes found, and the `jobSidecars.meshes` that match them.
    pub meshes: Vec<Mesh>,
    pub mesh_settings: Option<String>,
    /// The `nativeSupport` strategy that fits, and why.
    pub strategy: String,
    pub strategy_why: String,
    /// The settings snippet for it.
    pub snippet: String,
    /// This policy's deployments in the order the API server calls them.
    pub chain: Vec<String>,
    pub workloads: Vec<Workload>,
    /// What keeps the cluster from adopting native sidecars as configured.
    pub blockers: Vec<String>,
    /// What the report could not judge without an input.
    pub unknown: Vec<String>,
    /// The inputs the cluster did not give, and why: the report is
    /// incomplete, and says what it judged instead.
    pub unread: Vec<String>,
}

/// The items of a `List` (or the object itself).
pub(crate) fn items(value: &Value) -> Vec<&Value> {
    match value.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![value],
    }
}

/// Names listed in full up to this many; a large cluster's are counted.
const LISTED: usize = 20;

/// `a, b, c`, or the first `LISTED` names and how many more.
pub(crate) fn listed(names: &[impl AsRef<str>]) -> String {
    let shown: Vec<&str> = names.iter().take(LISTED).map(AsRef::as_ref).collect();
    match names.len().saturating_sub(LISTED) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

fn text<'v>(value: &'v Value, pointer: &str) -> &'v str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// Whether these settings write native sidecars (templates, or converted
/// legacy sidecars), and so care where they run.
fn writes_native(settings: &Value) -> bool {
    settings
        .get("sidecars")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty())
        || settings.pointer("/jobSidecars/action").and_then(Value::as_str) == Some("convert")
}

/// The report for these inputs.
pub fn report(inputs: &Inputs) -> Report {
    let mut unknown = inputs.notes.clone();
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
    let kubelet_defects = kubelets::flag(
        nodes
            .iter()
            .filter_map(|n| Some((n.name.as_str(), n.version.as_deref()?))),
    );
    let (strategy, strategy_why, snippet) = strategy(&api_server, &nodes, inputs.nodes.as_ref());
    let chain = match (&inputs.settings, inputs.policies.is_empty()) {
        (Some(settings), true) => Chain::of_settings(settings.clone(), &inputs.policy_name),
        _ => Chain::of_manifests(&inputs.policies, inputs.webhooks.as_ref()),
    };
    blockers.extend(chain.unloadable.iter().cloned());
    if chain.deployed.is_empty() {
        unknown.push(
            "what the policy would do: give its settings or its ClusterAdmissionPolicy/AdmissionPolicy manifests"
                .to_owned(),
        );
    }
    let unsupported: Vec<&str> = nodes
        .iter()
        .filter(|n| n.native == Some(false))
        .map(|n| n.name.as_str())
        .collect();
    let assumes = chain.deployed.iter().find(|d| {
        writes_native(&d.settings)
            && d.settings
                .pointer("/nativeSupport/strategy")
                .and_then(Value::as_str)
                .unwrap_or("assume")
                == "assume"
    });
    if let (Some(deployed), false) = (assumes, unsupported.is_empty()) {
        blockers.push(format!(
            "the settings of {} assume every node runs native sidecars, and these do not: {}; use \
             nativeSupport.strategy {strategy}",
            deployed.name,
            listed(&unsupported)
        ));
    }

    let injector = chain.injector().map_or_else(
        || format!("clusterwide-{}", inputs.policy_name),
        |d| d.webhook.clone(),
    );
    let webhooks = match &inputs.webhooks {
        Some(list) => webhooks(list, &injector),
        None => {
            unknown.push(
                "the mutating webhooks: give `kubectl get mutatingwebhookconfigurations -o json`".to_owned(),
            );
            Vec::new()
        }
    };
    let meshes = meshes::detect(inputs.webhooks.as_ref(), inputs.meshes.as_ref());
    let mesh_settings = meshes::proposal(&meshes, &chain);
    // What the policies' lookups read: Nodes, Namespaces, and the
    // controllers among the workloads (`checkOwner`).
    let cluster = Snapshot::from_documents(
        [&inputs.nodes, &inputs.namespaces, &inputs.workloads]
            .into_iter()
            .flatten()
            .cloned(),
    );
    let workloads = match &inputs.workloads {
        Some(list) => chain::judge(list, &chain, &cluster),
        None => {
            unknown.push("the workloads: give `kubectl get pods,jobs,cronjobs -A -o json`".to_owned());
            Vec::new()
        }
    };
    for workload in workloads.iter().filter(|w| w.outcome == "refused") {
        blockers.push(format!(
            "{} {}/{} would be refused by {}",
            workload.kind,
            workload.namespace,
            workload.name,
            workload.refused_by.as_deref().unwrap_or_default()
        ));
    }
    let platforms = platforms(inputs.nodes.as_ref(), inputs.workloads.as_ref());
    Report {
        api_server,
        nodes,
        skew,
        kubelet_defects,
        platforms,
        webhooks,
        meshes,
        mesh_settings,
        strategy,
        strategy_why,
        snippet,
        chain: chain
            .deployed
            .iter()
            .map(|d| {
                format!(
                    "{} ({}, {}{}{})",
                    d.name,
                    d.webhook,
                    if d.mutating { "mutating" } else { "validating" },
                    if d.monitor { ", monitor mode" } else { "" },
                    d.unjudged.map(|u| format!("; {u}")).unwrap_or_default()
                )
            })
            .chain(chain.others.iter().map(|o| format!("not judged: {o}")))
            .collect(),
        workloads,
        blockers,
        unknown,
        unread: inputs.problems.clone(),
    }
}

/// What the injector does on Windows nodes and to pods with pod-level
/// resources, where the cluster has them.
fn platforms(nodes: Option<&Value>, workloads: Option<&Value>) -> Vec<String> {
    let mut lines = Vec::new();
    let windows: Vec<&str> = nodes
        .map(items)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| {
            text(n, "/metadata/labels/kubernetes.io~1os") == "windows"
                || text(n, "/status/nodeInfo/operatingSystem") == "windows"
        })
        .map(|n| text(n, "/metadata/name"))
        .collect();
    if !windows.is_empty() {
        lines.push(format!(
            "{} Windows node(s) ({}): the injector skips a template that sets Linux-only settings \
             (securityContext.runAsUser, seccompProfile, capabilities…) in a pod with spec.os.name: windows, \
             which the API server would refuse, and every template beside Windows HostProcess containers; a \
             pod bound for Windows without spec.os.name gets the templates as a Linux pod, so their images \
             must run on Windows",
            windows.len(),
            listed(&windows)
        ));
    }
    let specs = workloads
        .map(items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|w| {
            let spec = match text(w, "/kind") {
                "Pod" => w.pointer("/spec"),
                "Job" => w.pointer("/spec/template/spec"),
                "CronJob" => w.pointer("/spec/jobTemplate/spec/template/spec"),
                _ => None,
            }?;
            spec.get("resources").is_some().then(|| {
                format!(
                    "{} {}/{}",
                    text(w, "/kind"),
                    text(w, "/metadata/namespace"),
                    text(w, "/metadata/name")
                )
            })
        });
    let pod_level: Vec<String> = specs.collect();
    if !pod_level.is_empty() {
        lines.push(format!(
            "{} workload(s) set pod-level resources ({}): the API server refuses a pod whose pod-level \
             resources are below its containers' sum, so the injector raises each one the pod sets by the \
             injected sidecars' and says so, and refuses the pod when a value cannot be raised",
            pod_level.len(),
            listed(&pod_level)
        ));
    }
    lines
}

/// Each node, listed or with metrics, judged by its gate, else its version.
/// Indexed by name: a large cluster has thousands of each.
fn node_components(inputs: &Inputs, unknown: &mut Vec<String>) -> Vec<Component> {
    let listed: Vec<&Value> = inputs.nodes.as_ref().map(items).unwrap_or_default();
    let versions: HashMap<&str, &str> = listed
        .iter()
        .map(|n| {
            (
                text(n, "/metadata/name"),
                text(n, "/status/nodeInfo/kubeletVersion"),
            )
        })
        .collect();
    let metrics: HashMap<&str, &str> = inputs
        .node_metrics
        .iter()
        .map(|(name, metrics)| (name.as_str(), metrics.as_str()))
        .collect();
    let mut names: Vec<&str> = listed.iter().map(|n| text(n, "/metadata/name")).collect();
    names.extend(
        inputs
            .node_metrics
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !versions.contains_key(name)),
    );
    if names.is_empty() {
        unknown.push("the nodes: give `kubectl get nodes -o json` or their metrics".to_owned());
    }
    names
        .into_iter()
        .map(|name| {
            let version = versions
                .get(name)
                .filter(|v| !v.is_empty())
                .map(|v| (*v).to_owned());
            let gate = metrics
                .get(name)
                .and_then(|m| feature_gates(m).into_iter().find(|(g, _)| g == GATE))
                .map(|(_, gate)| gate);
            let (native, why) = judge(gate.as_ref(), version.as_deref());
            Component {
                name: name.to_owned(),
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
fn strategy(
    api_server: &Component,
    nodes: &[Component],
    node_list: Option<&Value>,
) -> (String, String, String) {
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
    // In a large cluster, nodeVersion reads up to every node on each pod
    // creation; a label costs nothing to read.
    let large = nodes.len() > NODE_VERSION_MOST;
    if gate_decides || supported.is_empty() || large {
        let label = "native-sidecar.kubewarden.io/supported";
        let names: Vec<&str> = supported.iter().map(|n| n.name.as_str()).collect();
        let why = if large {
            format!(
                "{} of {} nodes run a kubelet too old for native sidecars; nodeVersion would read up to {} nodes \
                 on every pod creation (more than a few milliseconds each above {NODE_VERSION_MOST} nodes, see \
                 docs/mixed-clusters.md): label the nodes that run native sidecars instead",
                unsupported.len(),
                nodes.len(),
                nodes.len()
            )
        } else {
            "some nodes' gates differ from what their versions imply: label the nodes that run native sidecars"
                .to_owned()
        };
        let command = match names.as_slice() {
            [] => "kubectl label node <node>".to_owned(),
            few if few.len() <= LISTED => format!("kubectl label node {}", few.join(" ")),
            // By pool, not thousands of names: `-l` selects the nodes.
            many => format!(
                "kubectl label node -l <the pool's label>=<pool> for the pools of {}",
                listed(many)
            ),
        };
        return (
            "nodeLabel".to_owned(),
            format!("{why} ({command} {label}=true)"),
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
            listed(&unsupported.iter().map(|n| n.name.as_str()).collect::<Vec<_>>())
        ),
        snippet(&format!(
            "  strategy: nodeVersion\n  minKubeletVersion: \"1.29\"\n  whenUnsupported: universal\n{}",
            node_pools(node_list).unwrap_or_default()
        )),
    )
}

/// The pool labels of the managed clusters and of Karpenter.
const POOL_LABELS: [&str; 4] = [
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "kubernetes.azure.com/agentpool",
    "karpenter.sh/nodepool",
];

/// `nativeSupport.nodePools` for the pools the nodes name by a well-known
/// pool label that every node carries, so that pods pinned to a pool make
/// `nodeVersion` list that pool only.
fn node_pools(node_list: Option<&Value>) -> Option<String> {
    let nodes = node_list.map(items).unwrap_or_default();
    let label = POOL_LABELS.into_iter().find(|label| {
        !nodes.is_empty()
            && nodes.iter().all(|n| {
                n.pointer("/metadata/labels")
                    .and_then(|l| l.get(*label))
                    .is_some()
            })
    })?;
    let mut pools: Vec<&str> = nodes
        .iter()
        .filter_map(|n| {
            n.pointer("/metadata/labels")
                .and_then(|l| l.get(label))
                .and_then(Value::as_str)
        })
        .collect();
    pools.sort_unstable();
    pools.dedup();
    // Quoted: a pool named `123` or `true` is no string in plain YAML.
    let pools = serde_json::to_string(&pools).ok()?;
    Some(format!("  nodePools: {{{label}: {pools}}}\n"))
}

/// The mutating webhooks, in the order the API server calls them, and where
/// this policy's injector (its configuration `ours`) runs among them.
fn webhooks(list: &Value, ours: &str) -> Vec<Webhook> {
    let mut configurations: Vec<&Value> = items(list)
        .into_iter()
        .filter(|c| text(c, "/metadata/name") != ours)
        .collect();
    configurations.sort_by_key(|c| text(c, "/metadata/name"));
    configurations
        .into_iter()
        .flat_map(|configuration| {
            let name = text(configuration, "/metadata/name");
            let before = name < ours;
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
    webhook
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|rule| rule_covers(rule, "", "pods", "CREATE"))
}

/// Whether a webhook rule covers `operation` on the main resource
/// `resource` of `group` (v1), as the API server matches rules: `*` is any
/// group, version, operation or resource, `*/*` any resource and
/// subresource; `pods/*` covers only the subresources.
pub(crate) fn rule_covers(rule: &Value, group: &str, resource: &str, operation: &str) -> bool {
    let has = |key: &str, wanted: &[&str]| {
        rule.get(key).and_then(Value::as_array).is_some_and(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .any(|v| wanted.contains(&v))
        })
    };
    has("apiGroups", &[group, "*"])
        && has("apiVersions", &["v1", "*"])
        && has("resources", &[resource, "*", "*/*"])
        && has("operations", &[operation, "*"])
}

impl Report {
    /// Whether something blocks adoption as configured.
    pub fn blocked(&self) -> bool {
        !self.blockers.is_empty()
    }

    /// Whether some input could not be read from the cluster.
    pub fn incomplete(&self) -> bool {
        !self.unread.is_empty()
    }

    /// The report for people: a summary line, then each section.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let verdict = if self.blocked() {
            format!("BLOCKED ({} blocker(s))", self.blockers.len())
        } else if self.incomplete() {
            format!(
                "INCOMPLETE ({} input(s) not read; nothing found blocks adoption)",
                self.unread.len()
            )
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
        // A large cluster's nodes, one line per kind of node.
        let mut groups: Vec<(&Component, Vec<&str>)> = Vec::new();
        for node in &self.nodes {
            let alike = |(first, _): &&mut (&Component, Vec<&str>)| {
                self.nodes.len() > LISTED && first.version == node.version && first.why == node.why
            };
            match groups.iter_mut().find(alike) {
                Some((_, names)) => names.push(&node.name),
                None => groups.push((node, vec![&node.name])),
            }
        }
        let api_server = (&self.api_server, vec![self.api_server.name.as_str()]);
        for (component, names) in std::iter::once(api_server).chain(groups) {
            let native = match component.native {
                Some(true) => "native sidecars",
                Some(false) => "NO native sidecars",
                None => "unknown",
            };
            let name = match names.as_slice() {
                [one] => (*one).to_owned(),
                many => format!("{} nodes", many.len()),
            };
            let _ = writeln!(
                out,
                "  {name:<24} {:<28} {native}: {}",
                component.version.as_deref().unwrap_or("?"),
                component.why
            );
            if names.len() > 1 {
                let _ = writeln!(out, "    {}", listed(&names));
            }
        }
        if let Some(skew) = &self.skew {
            let _ = writeln!(out, "  versions: {skew}");
        }
        if !self.kubelet_defects.is_empty() {
            let _ = writeln!(
                out,
                "\nKubelet defects with native sidecars, by the nodes' exact versions (upgrade to a fixed patch release):"
            );
            for defect in &self.kubelet_defects {
                let _ = writeln!(
                    out,
                    "  https://github.com/{} (fixed in {}): {}\n    nodes: {}",
                    defect.issue.replacen('#', "/issues/", 1),
                    defect.fixed_in,
                    defect.symptom,
                    listed(&defect.nodes)
                );
            }
        }
        for line in &self.platforms {
            let _ = writeln!(out, "\n{line}");
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
        if !self.meshes.is_empty() {
            let _ = writeln!(out, "Service meshes:");
            for mesh in &self.meshes {
                let _ = writeln!(
                    out,
                    "  {} {} ({}): {}",
                    mesh.name,
                    mesh.version.as_deref().unwrap_or("?"),
                    mesh.webhook,
                    mesh.why
                );
            }
            if let Some(settings) = &self.mesh_settings {
                let _ = writeln!(out, "{settings}");
            }
            out.push('\n');
        }
        if !self.workloads.is_empty() {
            let _ = writeln!(out, "Workloads, as the policies would answer their creation:");
            for line in &self.chain {
                let _ = writeln!(out, "  policy: {line}");
            }
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
        for unread in &self.unread {
            let _ = writeln!(out, "not read: {unread}");
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
    use serde_json::json;

    fn node(name: &str, version: &str) -> Value {
        json!({"metadata": {"name": name}, "status": {"nodeInfo": {"kubeletVersion": version}}})
    }

    fn pooled(name: &str, version: &str, pool: &str) -> Value {
        let mut node = node(name, version);
        node["metadata"]["labels"] = json!({"cloud.google.com/gke-nodepool": pool});
        node
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
    #[case::gke_pools(
        vec![pooled("a", "v1.30.1", "new"), pooled("b", "v1.30.1", "new"), pooled("c", "v1.27.3", "old")],
        vec![],
        "nodeVersion"
    )]
    #[case::large_mixed_cluster(
        (0..=NODE_VERSION_MOST).map(|i| node(&format!("n{i}"), if i == 0 { "v1.27.3" } else { "v1.31.0" })).collect(),
        vec![],
        "nodeLabel"
    )]
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
        let pooled = inputs
            .nodes
            .as_ref()
            .is_some_and(|n| n.to_string().contains("gke-nodepool"));
        let report = report(&inputs);
        assert_eq!(report.strategy, expected, "{}", report.text());
        assert!(report.snippet.contains(&format!("strategy: {expected}")));
        assert_eq!(
            report
                .snippet
                .contains("  nodePools: {cloud.google.com/gke-nodepool: [\"new\",\"old\"]}\n"),
            pooled,
            "{}",
            report.snippet
        );
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

    #[rstest]
    #[case::exact(json!({"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}), true)]
    #[case::everything(json!({"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"], "operations": ["*"]}), true)]
    #[case::every_resource(json!({"apiGroups": [""], "apiVersions": ["v1"], "resources": ["*"], "operations": ["CREATE"]}), true)]
    #[case::subresources_only(json!({"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods/*"], "operations": ["CREATE"]}), false)]
    #[case::other_group(json!({"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["*"], "operations": ["CREATE"]}), false)]
    #[case::update_only(json!({"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["UPDATE"]}), false)]
    fn rules_match_as_the_api_server_matches_them(#[case] rule: Value, #[case] expected: bool) {
        assert_eq!(rule_covers(&rule, "", "pods", "CREATE"), expected);
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
        let found: Vec<(String, bool, bool)> = webhooks(&list, "clusterwide-native-sidecar-injector")
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
}
