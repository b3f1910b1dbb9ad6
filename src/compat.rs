//! Mixed clusters: how a sidecar is injected when not every node supports
//! native sidecars, after the upstream tutorial "Adopting Sidecar Containers":
//! a node label required through node affinity, the kubelet versions of the
//! nodes (context-aware), or the universal injector's two copies
//! (docs/kubernetes-facts.md, "Mixed clusters").
//!
//! The same answer governs every native sidecar the policy writes: the ones it
//! injects and the legacy sidecars it converts.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeMap;

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::cluster::Cluster;
use crate::plan::{At, Edit, Plan, under};
use crate::request::{PodSpec, Workload};
use crate::settings::{NativeSupport, Strategy, WhenUnsupported, kubelet_minor};

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

/// Why not every node runs a kubelet that new.
pub enum Below {
    /// This node runs an older one.
    Older(String),
    /// The policy cannot tell, and why.
    Unknown(String),
}

/// What one read of the Node list tells: the verdict on the pod's nodes
/// against `minKubeletVersion`, and the oldest kubelet where Istio's `auto`
/// looks (the bound node, else the whole cluster, read so only where `auto`
/// is declared; `Err`: why it is unknown), for its threshold of its own.
struct Judged {
    verdict: NodeVerdict,
    oldest: Result<((u32, u32), String), String>,
}

/// The `nativeSupport` strategy applied to one request. Under `nodeVersion`
/// the Node list is asked for at most once per request, and only when a
/// decision needs it (a pod that already has its sidecars costs no lookup).
pub struct NodeSupport<'x> {
    pub support: &'x NativeSupport,
    cluster: &'x dyn Cluster,
    judged: OnceCell<Judged>,
}

impl<'x> NodeSupport<'x> {
    pub fn new(support: &'x NativeSupport, cluster: &'x dyn Cluster) -> Self {
        NodeSupport {
            support,
            cluster,
            judged: OnceCell::new(),
        }
    }

    /// The nodes' verdict for this pod (its placement fields are the same
    /// before and after the policy's own edits).
    fn verdict(&self, spec: &PodSpec) -> &NodeVerdict {
        &self.judged(spec).verdict
    }

    fn judged(&self, spec: &PodSpec) -> &Judged {
        self.judged
            .get_or_init(|| judge_nodes(self.support, spec, self.cluster))
    }

    /// Whether the pod's node if it is bound, else every node of the
    /// cluster, runs kubelet `minimum` or later (as Istio's `auto` judges),
    /// where the policy reads the nodes (`nodeVersion`, the same one read).
    pub fn every_node_at_least(&self, workload: &Workload, minimum: (u32, u32)) -> Result<(), Below> {
        if self.support.strategy != Strategy::NodeVersion {
            return Err(Below::Unknown(
                "this policy reads the nodes only under nativeSupport.strategy: nodeVersion".to_owned(),
            ));
        }
        match &self.judged(&workload.spec).oldest {
            Ok((version, _)) if *version >= minimum => Ok(()),
            Ok((_, oldest)) => Err(Below::Older(oldest.clone())),
            Err(why) => Err(Below::Unknown(why.clone())),
        }
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

/// What the judging reads of a Node, borrowed from the host's answer: its
/// name and kubelet version, its labels kept as their text and read only
/// where the policy checks a selector itself. No `Value` per node: in a
/// cluster of thousands, building one is most of the cost. A name or a
/// version that is not text, or a `null` where an object belongs, reads as
/// empty, as the `Value` reading did; an item, `metadata` or `status` that
/// is not an object (no API server answers so) makes the list unreadable,
/// and the pod's support unknown.
#[derive(Deserialize)]
struct SeenNode<'a> {
    #[serde(borrow, default, deserialize_with = "or_default")]
    metadata: SeenMetadata<'a>,
    #[serde(borrow, default, deserialize_with = "or_default")]
    status: SeenStatus<'a>,
}

#[derive(Default, Deserialize)]
struct SeenMetadata<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    labels: Option<&'a RawValue>,
}

#[derive(Default, Deserialize)]
struct SeenStatus<'a> {
    #[serde(borrow, default, rename = "nodeInfo", deserialize_with = "or_default")]
    node_info: SeenNodeInfo<'a>,
}

#[derive(Default, Deserialize)]
struct SeenNodeInfo<'a> {
    #[serde(borrow, default, rename = "kubeletVersion", deserialize_with = "text")]
    kubelet_version: Cow<'a, str>,
}

#[derive(Deserialize)]
struct SeenList<'a> {
    #[serde(borrow)]
    items: Vec<SeenNode<'a>>,
}

/// An object, or its default where the answer has `null`.
fn or_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A string, borrowed where it has no escapes; anything else reads as "".
fn text<'de: 'a, 'a, D: Deserializer<'de>>(deserializer: D) -> Result<Cow<'a, str>, D::Error> {
    struct Text;
    impl<'de> Visitor<'de> for Text {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(text))
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(text.to_owned()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(""))
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(""))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(""))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(""))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(""))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Cow::Borrowed(""))
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Cow::Borrowed(""))
        }
    }
    deserializer.deserialize_any(Text)
}

impl SeenNode<'_> {
    /// The node's name as messages give it.
    fn name(&self) -> &str {
        match self.metadata.name.as_ref() {
            "" => "?",
            name => name,
        }
    }

    /// Whether its labels meet every `key=value` (a value that is not text
    /// meets none, as before the API server's validation). Label keys and
    /// values have no characters JSON escapes, so they are read borrowed.
    fn has(&self, requirements: &[(&str, Option<&str>)]) -> bool {
        let text = self.metadata.labels.map_or("{}", RawValue::get);
        let meets =
            |found: Option<&str>, wanted: &Option<&str>| found.is_some_and(|found| Some(found) == *wanted);
        match serde_json::from_str::<BTreeMap<&str, &str>>(text) {
            Ok(labels) => requirements
                .iter()
                .all(|(key, wanted)| meets(labels.get(key).copied(), wanted)),
            // Escapes, or a label that is not text: the slow way.
            Err(_) => {
                let labels: Map<String, Value> = serde_json::from_str(text).unwrap_or_default();
                requirements
                    .iter()
                    .all(|(key, wanted)| meets(labels.get(*key).and_then(Value::as_str), wanted))
            }
        }
    }
}

/// The fields of a Node the judging asks the host for: always the same, so
/// that the policy-server keeps one cache of them (its field masks prune the
/// rest of the object, not its metadata: the labels come back regardless).
const NODE_FIELDS: [&str; 3] = [
    "metadata.labels",
    "metadata.name",
    "status.nodeInfo.kubeletVersion",
];

/// What to ask the host for the nodes a pod can land on, and what of its
/// `nodeSelector` the policy checks itself.
struct Ask<'s> {
    /// The pool the pod names, `key=value`, for the host (and the API server
    /// behind it) to select with; empty: all nodes.
    host_selector: String,
    /// The rest of the selector, checked on the labels the host returns.
    checked_here: Vec<(&'s str, Option<&'s str>)>,
}

impl<'s> Ask<'s> {
    /// The pod's `nodeSelector` split between the host and the policy: a
    /// pool listed in `nativeSupport.nodePools` goes to the host, as a label
    /// selector (the policy-server keeps a watch per distinct selector, so
    /// only the operator's pools are asked for: a pod's own values are
    /// anyone's); the rest is checked here. When every node is read anyway
    /// (Istio's `auto` judges the whole cluster), all of it is checked here.
    fn of(selector: Option<&'s Map<String, Value>>, support: &NativeSupport) -> Ask<'s> {
        let mut ask = Ask {
            host_selector: String::new(),
            checked_here: Vec::new(),
        };
        for (key, value) in selector.into_iter().flatten() {
            let value = value.as_str();
            let listed = |(pool_key, pool_value): &(String, String)| {
                pool_key == key && Some(pool_value.as_str()) == value
            };
            match value {
                // One pool: a second one in the same selector is checked here.
                Some(value)
                    if ask.host_selector.is_empty()
                        && !support.cluster_oldest
                        && support.pools.iter().any(listed) =>
                {
                    ask.host_selector = format!("{key}={value}");
                }
                _ => ask.checked_here.push((key.as_str(), value)),
            }
        }
        ask
    }
}

/// Judges the nodes the pod can land on: its node if bound (asked for by
/// name), else the nodes its `nodeSelector` selects (the pool asked for by a
/// label selector), else every node; in the same pass, the oldest kubelet
/// (see `Judged`).
fn judge_nodes(support: &NativeSupport, spec: &PodSpec, cluster: &dyn Cluster) -> Judged {
    let unknown = |why: String| Judged {
        verdict: NodeVerdict::Unknown(why.clone()),
        oldest: Err(why),
    };
    let bound = spec.node_name();
    let selector = spec.node_selector().filter(|selector| !selector.is_empty());
    let scope = match (bound, selector) {
        (Some(bound), _) => format!("node {bound}"),
        (None, Some(_)) => "the nodes its nodeSelector selects".to_owned(),
        (None, None) => "the cluster's nodes".to_owned(),
    };
    let ask = match bound {
        Some(_) => Ask::of(None, support),
        None => Ask::of(selector, support),
    };
    let answer = match bound {
        // One node: read by name, and judged as a list of one.
        // Where that fails (the GET goes to the API server, the list to the
        // policy-server's cache; a node deleted since), the whole list
        // judges it, as it judges every other pod.
        Some(bound) => cluster
            .get_resource("v1", "Node", "", bound, &NODE_FIELDS)
            .and_then(|node| serde_json::to_vec(&json!({"items": [node]})).map_err(|e| e.to_string()))
            .or_else(|_| cluster.list_all("v1", "Node", "", &NODE_FIELDS))
            .map_err(|error| format!("could not list the nodes: {error}")),
        None => cluster
            .list_all("v1", "Node", &ask.host_selector, &NODE_FIELDS)
            .map_err(|error| format!("could not list the nodes: {error}")),
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(why) => return unknown(why),
    };
    let nodes = match serde_json::from_slice::<SeenList>(&answer) {
        Ok(list) => list.items,
        Err(error) => return unknown(format!("could not read the Node list: {error}")),
    };
    let (min_major, min_minor) = support.min_kubelet;
    let mut judged = 0;
    let mut too_old = Vec::new();
    // The oldest kubelet where Istio's `auto` looks: the pod's node when it
    // is bound, else every node of the cluster (not only those the
    // nodeSelector picks). `(version, node)`, described once.
    let mut oldest: Option<((u32, u32), &SeenNode)> = None;
    let mut unreadable: Option<&SeenNode> = None;
    for node in &nodes {
        let in_scope = bound.is_none_or(|bound| node.metadata.name == bound)
            && (ask.checked_here.is_empty() || node.has(&ask.checked_here));
        let for_istio = support.cluster_oldest && (bound.is_none() || in_scope);
        if !in_scope && !for_istio {
            continue;
        }
        let version = node.status.node_info.kubelet_version.as_ref();
        let found = kubelet_minor(version);
        if in_scope {
            judged += 1;
            match found {
                Some(found) if found >= (min_major, min_minor) => {}
                Some(_) => too_old.push(format!("{} runs kubelet {version}", node.name())),
                None => too_old.push(format!(
                    "{} runs an unreadable kubelet version {version:?}",
                    node.name()
                )),
            }
        }
        match found {
            Some(found) if oldest.is_none_or(|(seen, _)| found < seen) => oldest = Some((found, node)),
            Some(_) => {}
            None => unreadable = unreadable.or(Some(node)),
        }
    }
    if judged == 0 {
        return unknown(format!("no node found among {scope}"));
    }
    let oldest = match (unreadable, oldest) {
        (Some(node), _) => Err(format!(
            "{} runs kubelet {:?}, which cannot be read",
            node.name(),
            node.status.node_info.kubelet_version
        )),
        (None, Some((found, node))) => Ok((
            found,
            format!(
                "{} runs kubelet {}",
                node.name(),
                node.status.node_info.kubelet_version
            ),
        )),
        (None, None) => Err(format!("no node found among {scope}")),
    };
    let verdict = match too_old.as_slice() {
        [] => NodeVerdict::Supported(format!(
            "all {judged} of {scope} run kubelet >= {min_major}.{min_minor}"
        )),
        [only] => NodeVerdict::Unsupported(only.clone()),
        [first, rest @ ..] => NodeVerdict::Unsupported(format!("{first} (and {} more nodes)", rest.len())),
    };
    Judged { verdict, oldest }
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
/// is none; once per plan, however many rules give the pod native sidecars.
/// `matchFields` terms keep their fields; `preferred…` terms are untouched.
fn require_label(support: &NativeSupport, workload: &Workload, plan: &mut Plan) {
    let terms_at = under(
        &workload.spec_pointer,
        "affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
    );
    let terms = workload.spec.node_selector_terms();
    if terms.is_empty() {
        plan.add(Edit::Insert {
            list: terms_at,
            at: At::End,
            value: json!({"matchExpressions": [support.label_requirement]}).into(),
        });
        return;
    }
    for (index, term) in terms.iter().enumerate() {
        let has_it = term
            .get("matchExpressions")
            .and_then(Value::as_array)
            .is_some_and(|expressions| expressions.contains(&support.label_requirement));
        if !has_it {
            plan.add(Edit::Insert {
                list: under(&under(&terms_at, &index.to_string()), "matchExpressions"),
                at: At::End,
                value: support.label_requirement.clone().into(),
            });
        }
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
