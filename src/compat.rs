//! Mixed clusters: how a sidecar is injected when not every node supports
//! native sidecars, after the upstream tutorial "Adopting Sidecar Containers":
//! a node label required through node affinity, the kubelet versions of the
//! nodes (context-aware), or the universal injector's two copies.
//!
//! The same answer governs every native sidecar the policy writes: the ones it
//! injects and the legacy sidecars it converts.

use std::cell::OnceCell;

use serde_json::{Map, Value, json};

use crate::cluster::Cluster;
use crate::plan::{At, Edit, Plan};
use crate::request::{PodSpec, Workload};
use crate::settings::{NativeSupport, Strategy, WhenUnsupported};

/// How one pod gets its sidecars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An init container with `restartPolicy: Always`.
    Native,
    /// A regular container, the old way.
    Legacy,
    /// Both, agreeing at run time which one runs the sidecar.
    Universal,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Native => "native",
            Mode::Legacy => "legacy",
            Mode::Universal => "universal",
        }
    }
}

/// What the nodes a pod can land on say about native sidecars.
#[derive(Debug, Clone)]
enum NodeVerdict {
    Supported(String),
    Unsupported(String),
    /// No node to judge, or the lookup failed.
    Unknown(String),
}

/// The `nativeSupport` strategy applied to one request. Under `nodeVersion`
/// the Node list is asked for at most once per request, and only when a
/// decision needs it (a pod that already has its sidecars costs no lookup).
pub struct NodeSupport<'x> {
    pub support: &'x NativeSupport,
    cluster: &'x dyn Cluster,
    verdict: OnceCell<NodeVerdict>,
}

impl<'x> NodeSupport<'x> {
    pub fn new(support: &'x NativeSupport, cluster: &'x dyn Cluster) -> Self {
        NodeSupport {
            support,
            cluster,
            verdict: OnceCell::new(),
        }
    }

    /// The nodes' verdict for this pod (its placement fields are the same
    /// before and after the policy's own edits).
    fn verdict(&self, spec: &PodSpec) -> &NodeVerdict {
        self.verdict
            .get_or_init(|| judge_nodes(self.support, spec, self.cluster))
    }

    /// The mode for this pod and why, or `None` when the pod is rejected (the
    /// rejection is in `plan`).
    pub fn mode_for(&self, workload: &Workload, plan: &mut Plan) -> Option<(Mode, Option<String>)> {
        let support = self.support;
        match support.strategy {
            Strategy::Assume | Strategy::NodeLabel => Some((Mode::Native, None)),
            Strategy::Legacy => Some((Mode::Legacy, None)),
            Strategy::Universal => Some((Mode::Universal, None)),
            Strategy::NodeVersion => {
                let verdict = self.verdict(&workload.spec);
                if let NodeVerdict::Unknown(why) = verdict {
                    plan.warn(format!(
                        "native sidecar support unknown ({why}): injected as {}",
                        fallback_name(support)
                    ));
                }
                match (verdict, support.when_unsupported) {
                    (NodeVerdict::Supported(why), _) => Some((Mode::Native, Some(why.clone()))),
                    (NodeVerdict::Unsupported(why) | NodeVerdict::Unknown(why), WhenUnsupported::Reject) => {
                        plan.reject(format!(
                            "sidecars cannot be injected: {why}, and native sidecars need kubelet >= {}.{}; \
                             schedule the pod on newer nodes (nodeSelector) or upgrade the nodes",
                            support.min_kubelet.0, support.min_kubelet.1
                        ));
                        None
                    }
                    (NodeVerdict::Unsupported(why) | NodeVerdict::Unknown(why), WhenUnsupported::Legacy) => {
                        Some((Mode::Legacy, Some(why.clone())))
                    }
                    (
                        NodeVerdict::Unsupported(why) | NodeVerdict::Unknown(why),
                        WhenUnsupported::Universal,
                    ) => Some((Mode::Universal, Some(why.clone()))),
                }
            }
        }
    }

    /// Whether a legacy sidecar of this pod may become a native one: only
    /// where the strategy says the pod's nodes run native sidecars. Elsewhere
    /// a converted sidecar would run as a plain init container that never
    /// exits, and the Job would never start instead of never completing.
    /// `Err` says why not, for the person whose Job is refused.
    pub fn may_convert(&self, workload: &Workload) -> Result<(), String> {
        let strategy = |name: &str, meaning: &str| {
            format!("this cluster's policy has nativeSupport.strategy {name}: {meaning}")
        };
        match self.support.strategy {
            Strategy::Assume | Strategy::NodeLabel => Ok(()),
            Strategy::Legacy => Err(strategy("legacy", "its nodes do not run native sidecars")),
            Strategy::Universal => Err(strategy(
                "universal",
                "it cannot tell whether the node that runs this pod supports native sidecars",
            )),
            Strategy::NodeVersion => match self.verdict(&workload.spec) {
                NodeVerdict::Supported(_) => Ok(()),
                NodeVerdict::Unsupported(why) => Err(format!(
                    "{why}, and native sidecars need kubelet >= {}.{}",
                    self.support.min_kubelet.0, self.support.min_kubelet.1
                )),
                NodeVerdict::Unknown(why) => Err(format!("native sidecar support is unknown ({why})")),
            },
        }
    }
}

fn fallback_name(support: &NativeSupport) -> &'static str {
    match support.when_unsupported {
        WhenUnsupported::Legacy => "legacy sidecars",
        WhenUnsupported::Universal => "universal sidecars",
        WhenUnsupported::Reject => "nothing: the pod is rejected",
    }
}

/// Judges the nodes the pod can land on: its node if bound, else the nodes its
/// `nodeSelector` selects, else every node.
fn judge_nodes(support: &NativeSupport, spec: &PodSpec, cluster: &dyn Cluster) -> NodeVerdict {
    let fields = [
        "metadata.name",
        "metadata.labels",
        "status.nodeInfo.kubeletVersion",
    ];
    let nodes = match cluster.list_all("v1", "Node", &fields) {
        Ok(nodes) => nodes,
        Err(error) => return NodeVerdict::Unknown(format!("could not list the nodes: {error}")),
    };
    let name_of = |node: &Value| {
        node.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    let (judged, scope): (Vec<&Value>, String) = match spec.node_name() {
        Some(bound) => (
            nodes.iter().filter(|n| name_of(n) == bound).collect(),
            format!("node {bound}"),
        ),
        None => match spec.node_selector() {
            Some(selector) if !selector.is_empty() => (
                nodes.iter().filter(|n| selects(selector, n)).collect(),
                "the nodes its nodeSelector selects".to_owned(),
            ),
            _ => (nodes.iter().collect(), "the cluster's nodes".to_owned()),
        },
    };
    if judged.is_empty() {
        return NodeVerdict::Unknown(format!("no node found among {scope}"));
    }
    let (min_major, min_minor) = support.min_kubelet;
    let too_old: Vec<String> = judged
        .iter()
        .filter_map(|node| {
            let version = node
                .pointer("/status/nodeInfo/kubeletVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            match kubelet_minor(version) {
                Some(found) if found >= (min_major, min_minor) => None,
                Some(_) => Some(format!("{} runs kubelet {version}", name_of(node))),
                None => Some(format!(
                    "{} runs an unreadable kubelet version {version:?}",
                    name_of(node)
                )),
            }
        })
        .collect();
    match too_old.as_slice() {
        [] => NodeVerdict::Supported(format!(
            "all {} of {scope} run kubelet >= {min_major}.{min_minor}",
            judged.len()
        )),
        [only] => NodeVerdict::Unsupported(only.clone()),
        [first, rest @ ..] => NodeVerdict::Unsupported(format!("{first} (and {} more nodes)", rest.len())),
    }
}

fn selects(selector: &Map<String, Value>, node: &Value) -> bool {
    let labels = node.pointer("/metadata/labels");
    selector
        .iter()
        .all(|(key, value)| labels.and_then(|l| l.get(key)) == Some(value))
}

/// `(major, minor)` of a kubelet version: `v1.30.2+k3s1`, `v1.29.6-gke.1038000`,
/// `v1.31.0-eks-a737599`, or a setting like `1.29`.
pub fn kubelet_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts.next()?.chars().take_while(char::is_ascii_digit).collect();
    Some((major, minor.parse().ok()?))
}

/// With `nodeLabel`, keeps a pod that got native sidecars (injected or
/// converted) off nodes without the label.
pub fn require_supported_nodes(support: &NativeSupport, workload: &Workload, plan: &mut Plan) {
    if support.strategy != Strategy::NodeLabel {
        return;
    }
    match workload.spec.node_name() {
        Some(node) => plan.warn(format!(
            "the pod is already bound to node {node:?}: it got native sidecars without a check that the \
             node supports them (nativeSupport.strategy nodeLabel)"
        )),
        None => require_label(support, workload, plan),
    }
}

/// Requires the node label in every required node-selector term (terms are
/// ORed: a separate term would widen placement), creating the term when there
/// is none. `matchFields` terms keep their fields; `preferred…` terms are
/// untouched.
fn require_label(support: &NativeSupport, workload: &Workload, plan: &mut Plan) {
    let terms_at = format!(
        "{}/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
        workload.spec_pointer
    );
    let terms = workload.spec.node_selector_terms();
    if terms.is_empty() {
        plan.edits.push(Edit::Insert {
            list: terms_at,
            at: At::End,
            value: json!({"matchExpressions": [support.label_requirement]}),
        });
        return;
    }
    for (index, term) in terms.iter().enumerate() {
        let has_it = term
            .get("matchExpressions")
            .and_then(Value::as_array)
            .is_some_and(|expressions| expressions.contains(&support.label_requirement));
        if !has_it {
            plan.edits.push(Edit::Insert {
                list: format!("{terms_at}/{index}/matchExpressions"),
                at: At::End,
                value: support.label_requirement.clone(),
            });
        }
    }
}

/// The universal injector's shim, run by `sh -c` in both copies.
pub const SHIM: &str = include_str!("shim.sh");
/// The shim's `$0`, which names it in `ps` and in its error messages.
const SHIM_NAME: &str = "native-sidecar-shim";
/// The emptyDir through which the two copies agree.
pub const HANDSHAKE_VOLUME: &str = "native-sidecar-handshake";
const HANDSHAKE_PATH: &str = "/var/run/native-sidecar";

/// The two copies of a universal sidecar, built once from the template. They
/// go into long-running pods only: in a pod that runs to completion, the
/// regular copy runs the sidecar wherever native sidecars do not work, and
/// keeps the pod from completing there.
#[derive(Debug, Clone)]
pub struct Twins {
    /// The emptyDir both copies mount.
    pub volume: Value,
    /// Init container, `restartPolicy: Always`, named as the template's container.
    pub native: Value,
    /// Regular container, named `<name>-legacy`: it runs the sidecar where
    /// the native copy cannot, and idles otherwise.
    pub legacy: Value,
}

/// Suffix of the regular copy's name.
pub const LEGACY_SUFFIX: &str = "-legacy";

/// Builds both copies from a template container with `native` (the native
/// sidecar as `native_container` made it) whose `command` is known: the shim
/// runs `command + args` of the template.
pub fn universal_twins(native: &Map<String, Value>, template_id: &str, wait_seconds: u32) -> Twins {
    let words = |key: &str| {
        native
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let sidecar_command: Vec<Value> = words("command").into_iter().chain(words("args")).collect();
    let state = format!("{HANDSHAKE_PATH}/{template_id}");
    let wrapped = |role: &str| {
        let mut container = native.clone();
        container.insert(
            "command".to_owned(),
            json!([
                "/bin/sh",
                "-c",
                SHIM,
                SHIM_NAME,
                role,
                state,
                wait_seconds.to_string()
            ]),
        );
        container.insert("args".to_owned(), Value::Array(sidecar_command.clone()));
        let mount = json!({"name": HANDSHAKE_VOLUME, "mountPath": HANDSHAKE_PATH});
        match container.get_mut("volumeMounts") {
            Some(Value::Array(mounts)) => mounts.push(mount),
            _ => {
                container.insert("volumeMounts".to_owned(), json!([mount]));
            }
        }
        container
    };
    let mut legacy = wrapped("legacy");
    let name = legacy
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(template_id)
        .to_owned();
    legacy.insert("name".to_owned(), json!(format!("{name}{LEGACY_SUFFIX}")));
    legacy.remove("restartPolicy");
    // The marker says "a native sidecar": the regular copy is not one.
    if let Some(Value::Array(env)) = legacy.get_mut("env") {
        env.retain(|e| e.get("name").and_then(Value::as_str) != Some(crate::inject::MARKER_ENV));
    }
    Twins {
        volume: json!({"name": HANDSHAKE_VOLUME, "emptyDir": {}}),
        native: Value::Object(wrapped("native")),
        legacy: Value::Object(legacy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("v1.30.2+k3s1", Some((1, 30)))]
    #[case("v1.29.6-gke.1038000", Some((1, 29)))]
    #[case("v1.31.0-eks-a737599", Some((1, 31)))]
    #[case("1.29", Some((1, 29)))]
    #[case("v1.100.0", Some((1, 100)))]
    #[case("v2", None)]
    #[case("", None)]
    #[case("vX.29", None)]
    fn kubelet_versions(#[case] version: &str, #[case] expected: Option<(u32, u32)>) {
        assert_eq!(kubelet_minor(version), expected);
    }
}
