//! Init containers that should be native sidecars but have no `restartPolicy`:
//! the trace of a mutating webhook built on a Kubernetes client older than 1.28,
//! which re-serialised the pod and dropped the field it did not know.
//!
//! Such a container runs as a plain init container that never exits, so the pod
//! never starts. When the container has probes or lifecycle hooks the API server
//! rejects the pod itself; the silent case is the one caught here, from evidence
//! that survives the stripping (docs/kubernetes-facts.md, "When `restartPolicy`
//! disappears").

use std::fmt;

use serde_json::Value;

use crate::catalog::Why;
use crate::cluster::Cluster;
use crate::plan::{Plan, lookup};
use crate::request::{Container, Operation, Request, Workload};
use crate::settings::{Compiled, StrippedAction};
use crate::template::{MARKER_ENV, STATUS_KEY};

pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Controllers whose pod template a Pod is stamped from.
const OWNER_KINDS: [&str; 4] = ["ReplicaSet", "Job", "StatefulSet", "DaemonSet"];

/// What the policy reads of a Pod's controller: its pod template's native
/// sidecars; of a StatefulSet also which revision its status names newest,
/// and whether that status has caught up with it.
const TEMPLATE_FIELDS: [&str; 2] = [
    "spec.template.spec.initContainers.name",
    "spec.template.spec.initContainers.restartPolicy",
];
const STATEFULSET_FIELDS: [&str; 5] = [
    TEMPLATE_FIELDS[0],
    TEMPLATE_FIELDS[1],
    "metadata.generation",
    "status.observedGeneration",
    "status.updateRevision",
];

/// The label a StatefulSet sets on each pod: the revision it was made from,
/// as the StatefulSet's `status.updateRevision` names its newest.
const REVISION_LABEL: &str = "controller-revision-hash";

/// Why we think a container lost `restartPolicy: Always`.
#[derive(Debug)]
enum Evidence<'a> {
    /// Our injection marker: this policy injected it as a native sidecar.
    Marker(&'a str),
    /// The stored object had the field and this UPDATE removes it.
    OldObject,
    /// `kubectl apply` was given the field.
    LastApplied,
    /// The controller's pod template has the field.
    Owner(String),
    /// The controller's newest pod template has the field, but the pod may
    /// be of another revision (a StatefulSet mid-rollout, or below its
    /// partition, recreates such pods from their own revision), or its
    /// status does not tell yet: never enough to reject.
    OwnerUncertain { owner: String, why: String },
    /// It looks like a well-known sidecar: a heuristic, never enough to reject.
    Looks(Why<'a>),
}

impl fmt::Display for Evidence<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::Marker(template) => write!(
                f,
                "it carries the marker {MARKER_ENV}={template} that native-sidecar-policy \
                 sets on the native sidecars it injects or converts"
            ),
            Evidence::OldObject => write!(
                f,
                "the stored object has restartPolicy: Always for it and this update drops it"
            ),
            Evidence::LastApplied => write!(
                f,
                "its {LAST_APPLIED} annotation has restartPolicy: Always for it"
            ),
            Evidence::Owner(owner) => write!(f, "its controller {owner} has restartPolicy: Always for it"),
            Evidence::OwnerUncertain { owner, why } => write!(
                f,
                "its controller {owner} has restartPolicy: Always for it in its newest template, but {why} \
                 (not conclusive)"
            ),
            Evidence::Looks(why) => write!(f, "it is {why} (a heuristic)"),
        }
    }
}

/// Adds to `plan` a rejection or warnings for every init container that lost its field.
pub fn plan_stripped(
    compiled: &Compiled,
    request: &Request,
    workload: &Workload,
    cluster: &dyn Cluster,
    plan: &mut Plan,
) {
    if compiled.stripped == StrippedAction::Ignore || !request.changes_template(workload) {
        return;
    }
    let mut suspects: Vec<&Container> = workload
        .spec
        .init_containers
        .iter()
        .filter(|c| c.restart_policy.is_none())
        .collect();
    if suspects.is_empty() {
        return;
    }
    // The universal injector's init copy works without the field: that is
    // what it is for (an API server that drops it, a kubelet that ignores it).
    let universal = universal_copies(workload);
    suspects.retain(|c| !universal.iter().any(|u| u == c.name));
    if suspects.is_empty() {
        return;
    }

    let sources = Sources::read(compiled, request, workload, cluster, plan);
    for container in suspects {
        let evidence = sources.evidence(compiled, workload, container);
        if !evidence.is_empty() {
            report(compiled.stripped, workload, container, &evidence, plan);
        }
    }
}

/// Where the evidence comes from besides the container itself: the stored
/// object, `kubectl apply`'s record, the controller's pod template. Each is
/// read once per request, and only when there is a suspect.
struct Sources<'a> {
    old_spec: Option<&'a Value>,
    applied: Option<Value>,
    /// The stored object's `kubectl apply` record, on UPDATE.
    old_applied: Option<Value>,
    /// `(kind/name, object)` of the Pod's controller.
    owner: Option<(String, Value)>,
}

impl<'a> Sources<'a> {
    fn read(
        compiled: &Compiled,
        request: &Request<'a>,
        workload: &Workload,
        cluster: &dyn Cluster,
        plan: &mut Plan,
    ) -> Self {
        let old_spec = match request.operation {
            Operation::Update => request
                .old_object
                .and_then(|old| lookup(old, &workload.spec_pointer)),
            _ => None,
        };
        let applied_spec = |object: &Value| {
            object
                .pointer("/metadata/annotations")?
                .get(LAST_APPLIED)?
                .as_str()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .and_then(|mut a| a.pointer_mut(&workload.spec_pointer).map(Value::take))
        };
        let applied = applied_spec(request.object);
        let old_applied = match request.operation {
            Operation::Update => request.old_object.and_then(applied_spec),
            _ => None,
        };
        let owner = if compiled.check_owner && workload.kind == "Pod" {
            owner_template(request, cluster, plan)
        } else {
            None
        };
        Sources {
            old_spec,
            applied,
            old_applied,
            owner,
        }
    }

    /// Why `container` should have `restartPolicy: Always`.
    fn evidence<'c>(
        &self,
        compiled: &'c Compiled,
        workload: &Workload<'c>,
        container: &Container<'c>,
    ) -> Vec<Evidence<'c>> {
        let mut evidence = Vec::new();
        match compiled.sidecar_matcher.identify(container, workload) {
            Some(Why::Marker(template)) => evidence.push(Evidence::Marker(template)),
            Some(why) => evidence.push(Evidence::Looks(why)),
            None => {}
        }
        // An update that drops the field which the author's `kubectl apply`
        // dropped in this very update (the stored record had it, the new one
        // lists the container without it) is the author's edit, not a
        // webhook's. A record that never had it proves nothing: the field may
        // have been added by other means since.
        let authored = declares_native(self.old_applied.as_ref(), container.name)
            && omits_native(self.applied.as_ref(), container.name);
        if declares_native(self.old_spec, container.name) && !authored {
            evidence.push(Evidence::OldObject);
        }
        if declares_native(self.applied.as_ref(), container.name) {
            evidence.push(Evidence::LastApplied);
        }
        if let Some((name, template)) = &self.owner
            && declares_native(lookup(template, "/spec/template/spec"), container.name)
        {
            // A StatefulSet's status names its newest revision once the
            // controller has observed its newest generation (it creates pods
            // before it writes status, and the host's answer may be cached).
            let generation = lookup(template, "/metadata/generation");
            let observed = lookup(template, "/status/observedGeneration");
            let newest = lookup(template, "/status/updateRevision").and_then(Value::as_str);
            let uncertain = |why: String| Evidence::OwnerUncertain {
                owner: name.clone(),
                why,
            };
            evidence.push(match (workload.label(REVISION_LABEL), newest) {
                _ if generation != observed => uncertain(format!(
                    "its status has not caught up with that template yet (generation {}, observed {})",
                    generation.map_or_else(|| "?".to_owned(), Value::to_string),
                    observed.map_or_else(|| "?".to_owned(), Value::to_string)
                )),
                (Some(pod), Some(newest)) if pod != newest => uncertain(format!(
                    "this pod is of revision {pod}, not the newest {newest}, and may differ"
                )),
                _ => Evidence::Owner(name.clone()),
            });
        }
        evidence
    }
}

/// A rejection when the action says so and some evidence is conclusive; a
/// warning otherwise.
fn report(
    action: StrippedAction,
    workload: &Workload,
    container: &Container,
    evidence: &[Evidence],
    plan: &mut Plan,
) {
    let field = format!(
        "{}/initContainers/{}/restartPolicy",
        workload.spec_pointer, container.index
    );
    let said: Vec<String> = evidence.iter().map(ToString::to_string).collect();
    let conclusive = evidence
        .iter()
        .any(|e| !matches!(e, Evidence::Looks(_) | Evidence::OwnerUncertain { .. }));
    if action == StrippedAction::Reject && conclusive {
        plan.reject(format!(
            "init container {:?} has no restartPolicy but was meant to be a native sidecar \
             (restartPolicy: Always): {}. Without the field it runs as a plain init container that \
             never exits, and the pod never starts. Probable cause: a mutating webhook built on a \
             Kubernetes client older than 1.28 re-serialised the object and dropped the field. Find it: \
             the API server audit log's patch.webhook.admission.k8s.io/round_N_index_M annotations show \
             which webhook removed {field}; `kubectl get mutatingwebhookconfigurations` lists the \
             candidates. Upgrade that webhook or exclude these pods from it.",
            container.name,
            said.join("; ")
        ));
    } else {
        plan.warn(format!(
            "init container {:?} lost restartPolicy: Always ({}): likely stripped by a mutating webhook \
             built on a Kubernetes client older than 1.28; without it the pod never starts. See \
             `kubectl get mutatingwebhookconfigurations` and the audit annotations for {field}",
            container.name,
            said.join("; ")
        ));
    }
}

/// `(kind/name, object)` of the Pod's controller, read through the host.
fn owner_template(request: &Request, cluster: &dyn Cluster, plan: &mut Plan) -> Option<(String, Value)> {
    let owner = request.controller().filter(|o| OWNER_KINDS.contains(&o.kind))?;
    let fields: &[&str] = if owner.kind == "StatefulSet" {
        &STATEFULSET_FIELDS
    } else {
        &TEMPLATE_FIELDS
    };
    let described = format!("{}/{}", owner.kind, owner.name);
    match cluster.get_resource(
        owner.api_version,
        owner.kind,
        request.namespace,
        owner.name,
        fields,
    ) {
        Ok(object) => Some((described, object)),
        Err(error) => {
            plan.warn(format!(
                "could not read the pod's controller {described} to compare its pod template \
                 (strippedRestartPolicy.checkOwner): {error}; no evidence taken from it"
            ));
            None
        }
    }
}

/// The init containers this policy recorded in the pod's status annotation as
/// the universal injector's copies. The annotation is the policy's own record;
/// a pod that forges it only forgoes this check for its own containers.
fn universal_copies(workload: &Workload) -> Vec<String> {
    let Some(status) = workload
        .annotation(STATUS_KEY)
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
    else {
        return Vec::new();
    };
    status
        .get("injected")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|entry| entry.get("mode").and_then(Value::as_str) == Some("universal"))
        .filter_map(|entry| entry.get("container")?.as_str().map(str::to_owned))
        .collect()
}

/// Whether `spec` has an init container `name` without `restartPolicy: Always`.
fn omits_native(spec: Option<&Value>, name: &str) -> bool {
    init_containers_named(spec, name)
        .any(|c| c.get("restartPolicy").and_then(Value::as_str) != Some("Always"))
}

/// Whether `spec` has an init container `name` with `restartPolicy: Always`.
fn declares_native(spec: Option<&Value>, name: &str) -> bool {
    init_containers_named(spec, name)
        .any(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always"))
}

fn init_containers_named<'s>(spec: Option<&'s Value>, name: &'s str) -> impl Iterator<Item = &'s Value> {
    spec.and_then(|s| s.get("initContainers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |c| c.get("name").and_then(Value::as_str) == Some(name))
}
