//! The policies as deployed, and what their chain answers for each workload:
//! the API server calls every mutating webhook in the order of its
//! configuration's name, each seeing the object the previous one returned,
//! then every validating webhook on the final object. Kubewarden names a
//! `ClusterAdmissionPolicy`'s configuration `clusterwide-<name>` and an
//! `AdmissionPolicy`'s `namespaced-<namespace>-<name>`, and calls a policy
//! only for the requests its `rules`, its namespace (`namespaceSelector`, or
//! the `AdmissionPolicy`'s own namespace) and its `objectSelector` select.
//!
//! Where the cluster's webhook configurations were read, each policy's
//! configuration (annotated `kubewardenPolicyName`/`kubewardenPolicyNamespace`
//! by kubewarden-controller) gives its real name, rules and selectors; else
//! they are built as kubewarden-controller builds them: a
//! `ClusterAdmissionPolicy`'s namespace selector keeps only its
//! `matchExpressions`, after one that leaves out Kubewarden's own namespace.
//!
//! Only this policy's own deployments are run (their module names
//! `native-sidecar`), and only active ones; the others, policy groups among
//! them, are listed as not judged. Other webhooks (a mesh's injector) are
//! not run either: the report lists where they sit.

use serde_json::{Value, json};

use crate::adapter::evaluate;
use crate::cluster::{Cluster, Snapshot};

/// One deployment of this policy, as Kubewarden runs it.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// What the report calls it: the policy's name (`namespace/name` for an
    /// `AdmissionPolicy`).
    pub name: String,
    /// Its webhook configuration's name: the order the API server calls it in.
    pub webhook: String,
    pub mutating: bool,
    /// `mode: monitor`: Kubewarden admits whatever the policy answers, drops
    /// its patch and keeps its warnings.
    pub monitor: bool,
    rules: Vec<Value>,
    /// An `AdmissionPolicy` sees only its own namespace.
    namespace: Option<String>,
    namespace_selector: Option<Value>,
    object_selector: Option<Value>,
    pub settings: Value,
    /// What the report does not evaluate about it (`matchConditions`).
    pub unjudged: Option<&'static str>,
}

/// The deployments of the policy in some manifests, and a line for each
/// other policy, which the report does not run.
#[derive(Debug, Default)]
pub struct Chain {
    /// Mutating deployments in webhook order, then validating ones.
    pub deployed: Vec<Deployed>,
    pub others: Vec<String>,
    /// Deployments Kubewarden cannot load: their settings are refused.
    pub unloadable: Vec<String>,
}

/// The namespace kubewarden-controller keeps its cluster-wide policies out
/// of (its own, where the policy-servers run), unless told otherwise
/// (`allowInsideAdmissionControllerNamespace`): the Helm charts' default,
/// where no webhook of Kubewarden's says another (Rancher installs it in
/// `cattle-kubewarden-system`).
const KUBEWARDEN_NAMESPACE: &str = "kubewarden";

/// The mutating webhook configuration of kubewarden-controller's own
/// webhook, which its Helm chart installs beside it.
const CONTROLLER_CONFIGURATION: &str = "kubewarden-controller-mutating-webhook-configuration";

/// Kubewarden's namespace as its webhooks call it: the namespace of the
/// service of a configuration the controller made for a policy, or of the
/// controller's own.
fn kubewarden_namespace(webhooks: Option<&Value>) -> &str {
    webhooks
        .into_iter()
        .flat_map(super::items)
        .filter(|c| {
            !super::text(c, "/metadata/annotations/kubewardenPolicyName").is_empty()
                || super::text(c, "/metadata/name") == CONTROLLER_CONFIGURATION
        })
        .map(|c| super::text(c, "/webhooks/0/clientConfig/service/namespace"))
        .find(|namespace| !namespace.is_empty())
        .unwrap_or(KUBEWARDEN_NAMESPACE)
}

/// Whether a Kubewarden policy's module is this one: its OCI repository or
/// file is named `native-sidecar…` (`registry://ghcr.io/…/native-sidecar:v1`,
/// a mirror's copy, `file:///…/native_sidecar_policy.wasm`).
pub fn is_this_policy(module: &str) -> bool {
    let name = module.rsplit('/').next().unwrap_or_default();
    name.starts_with("native-sidecar") || name.starts_with("native_sidecar")
}

impl Chain {
    /// The chain of `ClusterAdmissionPolicy` and `AdmissionPolicy` objects
    /// among `manifests` (lists or single objects; other kinds are skipped),
    /// with their real webhook configurations where `webhooks` has them.
    pub fn of_manifests(manifests: &[Value], webhooks: Option<&Value>) -> Chain {
        let mut chain = Chain::default();
        let kubewarden = kubewarden_namespace(webhooks);
        for policy in manifests.iter().flat_map(|m| super::items(m)) {
            let kind = super::text(policy, "/kind");
            let name = super::text(policy, "/metadata/name");
            let namespace = super::text(policy, "/metadata/namespace");
            let label = match namespace {
                "" => name.to_owned(),
                namespace => format!("{namespace}/{name}"),
            };
            let module = super::text(policy, "/spec/module");
            let status = super::text(policy, "/status/policyStatus");
            match kind {
                "ClusterAdmissionPolicy" | "AdmissionPolicy" => {}
                "ClusterAdmissionPolicyGroup" | "AdmissionPolicyGroup" => {
                    chain.others.push(format!(
                        "{kind} {label}: a group's verdict combines its members' by an expression, which the report \
                         does not evaluate"
                    ));
                    continue;
                }
                _ => continue,
            }
            if !is_this_policy(module) {
                chain
                    .others
                    .push(format!("{kind} {label} runs another policy ({module})"));
                continue;
            }
            if !status.is_empty() && status != "active" {
                chain.others.push(format!(
                    "{kind} {label} is {status}, not active: Kubewarden does not call it yet"
                ));
                continue;
            }
            let spec = policy.get("spec").unwrap_or(&Value::Null);
            let settings = spec.get("settings").cloned().unwrap_or(Value::Null);
            if let Err(refused) = crate::settings::Settings::checked(&settings) {
                chain.unloadable.push(format!(
                    "{kind} {label}: its settings are refused, so Kubewarden does not load it: {refused}"
                ));
                continue;
            }
            let built = if kind == "AdmissionPolicy" {
                Webhook {
                    name: format!("namespaced-{namespace}-{name}"),
                    rules: spec.get("rules").cloned(),
                    namespace_selector: None,
                    object_selector: spec.get("objectSelector").cloned(),
                }
            } else {
                Webhook {
                    name: format!("clusterwide-{name}"),
                    rules: spec.get("rules").cloned(),
                    namespace_selector: Some(cluster_wide_selector(spec, kubewarden)),
                    object_selector: spec.get("objectSelector").cloned(),
                }
            };
            let webhook = webhooks
                .and_then(|list| configuration_of(list, name, namespace))
                .unwrap_or(built);
            chain.deployed.push(Deployed {
                name: label,
                webhook: webhook.name,
                mutating: spec.get("mutating").and_then(Value::as_bool).unwrap_or(false),
                monitor: spec.get("mode").and_then(Value::as_str) == Some("monitor"),
                rules: webhook
                    .rules
                    .and_then(|r| r.as_array().cloned())
                    .unwrap_or_default(),
                namespace: (kind == "AdmissionPolicy").then(|| namespace.to_owned()),
                namespace_selector: webhook.namespace_selector,
                object_selector: webhook.object_selector,
                settings,
                unjudged: spec
                    .get("matchConditions")
                    .and_then(Value::as_array)
                    .is_some_and(|c| !c.is_empty())
                    .then_some("its matchConditions (CEL) are not evaluated: judged as if they match"),
            });
        }
        chain.order();
        chain
    }

    /// One settings document, judged as a mutating `ClusterAdmissionPolicy`
    /// named `name` that sees every Pod, Job and CronJob.
    pub fn of_settings(settings: Value, name: &str) -> Chain {
        let rule = |group: &str, resource: &str| json!({"apiGroups": [group], "apiVersions": ["v1"], "resources": [resource], "operations": ["CREATE"]});
        Chain {
            deployed: vec![Deployed {
                name: name.to_owned(),
                webhook: format!("clusterwide-{name}"),
                mutating: true,
                monitor: false,
                rules: vec![rule("", "pods"), rule("batch", "jobs"), rule("batch", "cronjobs")],
                namespace: None,
                namespace_selector: None,
                object_selector: None,
                settings,
                unjudged: None,
            }],
            ..Chain::default()
        }
    }

    fn order(&mut self) {
        self.deployed
            .sort_by(|a, b| (!a.mutating, &a.webhook).cmp(&(!b.mutating, &b.webhook)));
    }

    /// The webhook configuration of the first mutating deployment: the
    /// injector, around which the other mutating webhooks are placed.
    pub fn injector(&self) -> Option<&Deployed> {
        self.deployed.iter().find(|d| d.mutating)
    }
}

/// A policy's webhook as the API server has it.
struct Webhook {
    name: String,
    rules: Option<Value>,
    namespace_selector: Option<Value>,
    object_selector: Option<Value>,
}

/// The mutating webhook configuration kubewarden-controller made for a
/// policy, found by its annotations (whatever the controller's version names
/// it; a policy group, which carries the same ones, is never mutating).
fn configuration_of(list: &Value, name: &str, namespace: &str) -> Option<Webhook> {
    let configuration = super::items(list).into_iter().find(|c| {
        super::text(c, "/metadata/annotations/kubewardenPolicyName") == name
            && super::text(c, "/metadata/annotations/kubewardenPolicyNamespace") == namespace
    })?;
    let webhook = configuration.pointer("/webhooks/0")?;
    Some(Webhook {
        name: super::text(configuration, "/metadata/name").to_owned(),
        rules: webhook.get("rules").cloned(),
        namespace_selector: webhook.get("namespaceSelector").cloned(),
        object_selector: webhook.get("objectSelector").cloned(),
    })
}

/// A `ClusterAdmissionPolicy`'s namespace selector as kubewarden-controller
/// writes it into the webhook: Kubewarden's namespace left out, then the
/// policy's `matchExpressions` (its `matchLabels` are not carried over).
fn cluster_wide_selector(spec: &Value, kubewarden: &str) -> Value {
    let mut expressions = Vec::new();
    if spec.get("allowInsideAdmissionControllerNamespace") != Some(&Value::Bool(true)) {
        expressions.push(json!({"key": "kubernetes.io/metadata.name", "operator": "NotIn",
            "values": [kubewarden]}));
    } else if let Some(own) = spec.get("namespaceSelector") {
        return own.clone();
    }
    if let Some(own) = spec
        .pointer("/namespaceSelector/matchExpressions")
        .and_then(Value::as_array)
    {
        expressions.extend(own.iter().cloned());
    }
    json!({"matchExpressions": expressions})
}

/// What the chain answers for one workload, created anew.
#[derive(Debug, serde::Serialize)]
pub struct Workload {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `accepted`, `warned`, `refused`, `mutated`.
    pub outcome: &'static str,
    /// The deployment that refused it.
    #[serde(skip_serializing_if = "Option::is_none", rename = "refusedBy")]
    pub refused_by: Option<String>,
    pub detail: Vec<String>,
}

/// A workload on its way through the chain.
struct Passage<'l> {
    original: &'l Value,
    kind: &'l str,
    namespace: &'l str,
    object: Value,
    refused_by: Option<String>,
    mutated: bool,
    warned: bool,
    detail: Vec<String>,
}

/// The Pods, Jobs and CronJobs of `list`, each answered by the chain; the
/// context-aware questions are answered from `cluster` (Nodes, Namespaces,
/// controllers). Deployment-major: each deployment answers every workload
/// in scope before the next, so its settings are compiled once.
pub fn judge(list: &Value, chain: &Chain, cluster: &Snapshot) -> Vec<Workload> {
    let mut passages: Vec<Passage> = super::items(list)
        .into_iter()
        .filter(|o| matches!(super::text(o, "/kind"), "Pod" | "Job" | "CronJob"))
        .map(|object| Passage {
            original: object,
            kind: super::text(object, "/kind"),
            namespace: super::text(object, "/metadata/namespace"),
            object: object.clone(),
            refused_by: None,
            mutated: false,
            warned: false,
            detail: Vec::new(),
        })
        .collect();
    // Messages name their deployment only when there is more than one.
    let named = chain.deployed.len() > 1;
    for deployed in &chain.deployed {
        let settings = deployed.settings.to_string();
        for passage in passages.iter_mut().filter(|p| p.refused_by.is_none()) {
            if applies(deployed, passage, cluster) {
                answer(deployed, &settings, passage, cluster, named);
            }
        }
    }
    passages
        .into_iter()
        .map(|passage| Workload {
            kind: passage.kind.to_owned(),
            namespace: passage.namespace.to_owned(),
            name: super::text(passage.original, "/metadata/name").to_owned(),
            outcome: match (&passage.refused_by, passage.mutated, passage.warned) {
                (Some(_), _, _) => "refused",
                (None, true, _) => "mutated",
                (None, false, true) => "warned",
                (None, false, false) => "accepted",
            },
            refused_by: passage.refused_by,
            detail: passage.detail,
        })
        .collect()
}

/// One deployment's answer, applied as Kubewarden applies it.
fn answer(deployed: &Deployed, settings: &str, passage: &mut Passage, cluster: &Snapshot, named: bool) {
    let group = if passage.kind == "Pod" { "" } else { "batch" };
    let request = json!({"uid": "readiness", "operation": "CREATE", "namespace": passage.namespace,
        "kind": {"group": group, "version": "v1", "kind": passage.kind}, "object": passage.object});
    let payload = format!(r#"{{"settings":{settings},"request":{request}}}"#);
    let verdict = evaluate(payload.as_bytes(), cluster);
    let prefix = if named {
        format!("{}: ", deployed.name)
    } else {
        String::new()
    };
    let monitor = if deployed.monitor {
        " (monitor mode: Kubewarden admits it and only logs this)"
    } else {
        ""
    };
    for warning in verdict.warnings.unwrap_or_default() {
        passage.warned = true;
        passage.detail.push(format!("{prefix}{warning}"));
    }
    let refusal = if !verdict.accepted {
        Some(verdict.message.unwrap_or_default())
    } else if verdict.mutated_object.is_some() && !deployed.mutating {
        Some(
            "Kubewarden refuses the request: the policy attempted to mutate it, but is deployed with \
             mutating: false (give it `mutate: false` in its settings)"
                .to_owned(),
        )
    } else {
        None
    };
    match (refusal, verdict.mutated_object) {
        (Some(message), _) if deployed.monitor => {
            passage.warned = true;
            passage
                .detail
                .push(format!("{prefix}would refuse{monitor}: {message}"));
        }
        (Some(message), _) => {
            passage.detail.push(format!("{prefix}{message}"));
            passage.refused_by = Some(deployed.name.clone());
        }
        (None, Some(_)) if deployed.monitor => {
            passage.warned = true;
            passage.detail.push(format!(
                "{prefix}would change it{monitor}, and its change is dropped"
            ));
        }
        (None, Some(mutated)) => {
            passage.mutated = true;
            passage.object = mutated;
        }
        (None, None) => {}
    }
}

/// Whether Kubewarden calls `deployed` for this workload's CREATE.
fn applies(deployed: &Deployed, passage: &Passage, cluster: &Snapshot) -> bool {
    let (group, resource) = match passage.kind {
        "Pod" => ("", "pods"),
        "Job" => ("batch", "jobs"),
        _ => ("batch", "cronjobs"),
    };
    let ruled = deployed
        .rules
        .iter()
        .any(|rule| super::rule_covers(rule, group, resource, "CREATE"));
    let in_namespace = match &deployed.namespace {
        Some(own) => own == passage.namespace,
        None => selects(
            deployed.namespace_selector.as_ref(),
            &namespace_labels(passage.namespace, cluster),
        ),
    };
    ruled
        && in_namespace
        // On the object as the webhooks before this one left it, as the API
        // server tests it.
        && selects(
            deployed.object_selector.as_ref(),
            passage
                .object
                .pointer("/metadata/labels")
                .unwrap_or(&Value::Null),
        )
}

/// A namespace's labels, from the cluster when it was read; else the one
/// label the API server gives every namespace.
fn namespace_labels(namespace: &str, cluster: &Snapshot) -> Value {
    cluster
        .get_resource("v1", "Namespace", "", namespace, &[])
        .ok()
        .and_then(|n| n.pointer("/metadata/labels").cloned())
        .unwrap_or_else(|| json!({"kubernetes.io/metadata.name": namespace}))
}

/// Whether a label selector (`matchLabels`, `matchExpressions`) selects
/// these labels; no selector selects everything.
fn selects(selector: Option<&Value>, labels: &Value) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let label = |key: &str| labels.get(key).and_then(Value::as_str);
    let match_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(key, value)| label(key).is_some() && label(key) == value.as_str());
    let match_expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|expression| {
            let key = super::text(expression, "/key");
            let values: Vec<&str> = expression
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let value = label(key);
            match super::text(expression, "/operator") {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                // The API server refuses any other operator.
                _ => false,
            }
        });
    match_labels && match_expressions
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::none(None, json!({}), true)]
    #[case::empty(Some(json!({})), json!({}), true)]
    #[case::labels(Some(json!({"matchLabels": {"a": "1"}})), json!({"a": "1", "b": "2"}), true)]
    #[case::labels_differ(Some(json!({"matchLabels": {"a": "1"}})), json!({"a": "2"}), false)]
    #[case::not_in_absent(Some(json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]})), json!({}), true)]
    #[case::not_in(Some(json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]})), json!({"a": "x"}), false)]
    #[case::in_absent(Some(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]})), json!({}), false)]
    #[case::exists(Some(json!({"matchExpressions": [{"key": "a", "operator": "Exists"}]})), json!({"a": ""}), true)]
    #[case::does_not_exist(Some(json!({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]})), json!({"a": ""}), false)]
    #[case::unknown_operator(Some(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})), json!({"a": "2"}), false)]
    fn label_selectors_select_as_the_api_server_does(
        #[case] selector: Option<Value>,
        #[case] labels: Value,
        #[case] expected: bool,
    ) {
        assert_eq!(selects(selector.as_ref(), &labels), expected);
    }

    /// The controller's configuration, where it was read, is what the API
    /// server runs: its name, and its selectors (here the Kubewarden
    /// namespace left out, which the manifest does not say); else the same
    /// is built from the manifest, `matchLabels` dropped as the controller
    /// drops them.
    #[test]
    fn the_real_webhook_configuration_is_used_where_it_was_read() {
        let manifest = json!({"kind": "ClusterAdmissionPolicy", "metadata": {"name": "inject"},
            "spec": {"module": "registry://x/native-sidecar:v1", "mutating": true,
                "namespaceSelector": {"matchLabels": {"team": "a"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]}}});
        let configuration = |name: &str, namespace_selector: Value| {
            json!({"metadata": {"name": name,
                "annotations": {"kubewardenPolicyName": "inject", "kubewardenPolicyNamespace": ""}},
                "webhooks": [{"name": "x", "namespaceSelector": namespace_selector,
                    "clientConfig": {"service": {"namespace": "kw-system", "name": "policy-server-default"}}}]})
        };
        let webhooks = json!({"items": [
            configuration("kw-renamed-inject", json!({"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kw-system"]}]})),
        ]});
        let validator = json!({"kind": "ClusterAdmissionPolicy", "metadata": {"name": "validate"},
            "spec": {"module": "registry://x/native-sidecar:v1", "mutating": false}});
        let read = Chain::of_manifests(&[manifest.clone(), validator], Some(&webhooks));
        assert_eq!(read.deployed[0].webhook, "kw-renamed-inject");
        let left_out = |deployed: &Deployed| {
            deployed
                .namespace_selector
                .as_ref()
                .map(|s| s["matchExpressions"][0]["values"][0].clone())
        };
        assert_eq!(left_out(&read.deployed[0]), Some(json!("kw-system")));
        // The validator's configuration is not among the mutating ones:
        // built, and Kubewarden's namespace is the one its webhooks call.
        assert_eq!(read.deployed[1].webhook, "clusterwide-validate");
        assert_eq!(left_out(&read.deployed[1]), Some(json!("kw-system")));
        let built = Chain::of_manifests(&[manifest], None);
        assert_eq!(built.deployed[0].webhook, "clusterwide-inject");
        assert_eq!(
            built.deployed[0].namespace_selector,
            Some(json!({"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kubewarden"]},
                {"key": "b", "operator": "Exists"}]}))
        );
    }

    /// Where no policy mutates, the controller's own webhook (which its
    /// chart installs) says Kubewarden's namespace.
    #[test]
    fn kubewardens_namespace_is_read_from_the_controllers_own_webhook() {
        let validator = json!({"kind": "ClusterAdmissionPolicy", "metadata": {"name": "validate"},
            "spec": {"module": "registry://x/native-sidecar:v1", "mutating": false}});
        let webhooks = json!({"items": [
            {"metadata": {"name": "istio-sidecar-injector"},
             "webhooks": [{"clientConfig": {"service": {"namespace": "istio-system", "name": "istiod"}}}]},
            {"metadata": {"name": CONTROLLER_CONFIGURATION},
             "webhooks": [{"clientConfig": {"service": {"namespace": "cattle-kubewarden-system",
                "name": "rancher-kubewarden-controller-webhook-service"}}}]},
        ]});
        let left_out = |webhooks: Option<&Value>| {
            Chain::of_manifests(std::slice::from_ref(&validator), webhooks).deployed[0]
                .namespace_selector
                .clone()
                .map(|s| s["matchExpressions"][0]["values"][0].clone())
        };
        assert_eq!(left_out(Some(&webhooks)), Some(json!("cattle-kubewarden-system")));
        assert_eq!(left_out(None), Some(json!("kubewarden")));
    }

    #[test]
    fn deployments_are_ordered_mutating_first_by_webhook_name_and_others_are_named() {
        let policy = |kind: &str, name: &str, namespace: &str, mutating: bool, module: &str| {
            json!({"kind": kind, "metadata": {"name": name, "namespace": namespace},
                "spec": {"module": module, "mutating": mutating}})
        };
        let ours = "registry://ghcr.io/native-sidecar-policy/policies/native-sidecar:v0.1.0";
        let chain = Chain::of_manifests(
            &[
                json!({"kind": "List", "items": [
                    policy("ClusterAdmissionPolicy", "validator", "", false, ours),
                    policy("ClusterAdmissionPolicy", "zz-injector", "", true, ours),
                    policy("AdmissionPolicy", "injector", "batch", true, "file:///tmp/native_sidecar_policy.wasm"),
                ]}),
                policy(
                    "ClusterAdmissionPolicy",
                    "psa",
                    "",
                    false,
                    "registry://ghcr.io/kubewarden/policies/pod-privileged:v1",
                ),
                json!({"kind": "ConfigMap", "metadata": {"name": "x"}}),
                json!({"kind": "ClusterAdmissionPolicyGroup", "metadata": {"name": "grouped"}, "spec": {}}),
                json!({"kind": "ClusterAdmissionPolicy", "metadata": {"name": "new"},
                "spec": {"module": ours}, "status": {"policyStatus": "pending"}}),
                json!({"kind": "ClusterAdmissionPolicy", "metadata": {"name": "broken"},
                "spec": {"module": ours, "settings": {"jobSidecars": {"action": "explode"}}}}),
            ],
            None,
        );
        let order: Vec<(&str, &str)> = chain
            .deployed
            .iter()
            .map(|d| (d.name.as_str(), d.webhook.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("zz-injector", "clusterwide-zz-injector"),
                ("batch/injector", "namespaced-batch-injector"),
                ("validator", "clusterwide-validator"),
            ]
        );
        assert_eq!(
            chain.others,
            [
                "ClusterAdmissionPolicy psa runs another policy (registry://ghcr.io/kubewarden/policies/pod-privileged:v1)",
                "ClusterAdmissionPolicyGroup grouped: a group's verdict combines its members' by an expression, which \
                 the report does not evaluate",
                "ClusterAdmissionPolicy new is pending, not active: Kubewarden does not call it yet",
            ]
        );
        assert_eq!(chain.unloadable.len(), 1, "{:?}", chain.unloadable);
        assert!(chain.unloadable[0].starts_with("ClusterAdmissionPolicy broken: its settings are refused"));
    }
}
