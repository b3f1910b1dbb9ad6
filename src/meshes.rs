//! Service meshes inject their proxy into a pod when it is created, after this
//! policy's mutating pass (their webhook configurations sort after
//! `clusterwide-…`; docs/kubernetes-facts.md, "The order of mutating
//! webhooks"). A proxy injected as a regular container keeps a Job from ever
//! completing, and only the validating pass sees it: it refuses the pods, and
//! the Job controller retries for ever. Both meshes read a per-pod switch when
//! they inject; this rule acts on the cause, before the mesh runs:
//!
//! - under `jobSidecars: convert`, it turns the switch on in pods (and in the
//!   pod templates of Jobs and CronJobs) that a mesh will inject, where the
//!   pods' nodes run native sidecars;
//! - under `reject` and `warn`, it refuses (warns about) a Job or CronJob whose
//!   pods a mesh will inject the legacy way, at `kubectl apply`.
//!
//! The operator declares the meshes the cluster runs, and how each injects by
//! default (the mesh's own configuration, which a policy cannot see), in
//! `jobSidecars.meshes`; an undeclared mesh is neither switched nor predicted,
//! and a cluster that declares none costs no lookup. Whether a mesh injects a
//! pod is read from the pod's labels and annotations and its Namespace's, which
//! come from Kubewarden's context-aware lookup.

use serde_json::{Map, Value};

use crate::cluster::Cluster;
use crate::compat::{Below, NodeSupport, require_supported_nodes};
use crate::jobs;
use crate::plan::{Edit, Plan, under};
use crate::request::{Request, Workload};
use crate::settings::{Compiled, JobSidecarAction, MeshMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mesh {
    Istio,
    Linkerd,
}

/// What the mesh reads of its native-sidecar switch, in every version of it
/// that reads one (the policy does not know which runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Switch {
    /// True wherever it is read: a native sidecar.
    On,
    /// This key reads false (in some version), from the pod or, copied,
    /// from its namespace: a regular container.
    Off { key: &'static str, inherited: bool },
    /// Not said, or not in every version: the mesh's default.
    Unset,
}

/// Linkerd's native-sidecar keys, as it reads them (`config.linkerd.io`
/// before `config.beta.linkerd.io` before `config.alpha.linkerd.io`): the
/// alpha key from edge-23.11.4 (2.15), the beta one from 2.19, the GA one
/// from 2.20 (where native is also the default).
const LINKERD_GA: &str = "config.linkerd.io/proxy-enable-native-sidecar";
const LINKERD_BETA: &str = "config.beta.linkerd.io/proxy-enable-native-sidecar";
const LINKERD_ALPHA: &str = "config.alpha.linkerd.io/proxy-enable-native-sidecar";
const ISTIO_NATIVE: &str = "sidecar.istio.io/nativeSidecar";

/// Go's `strconv.ParseBool`, with which Linkerd reads its boolean config.
fn go_parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The labels and annotations a mesh reads: the pod's (or the pod
/// template's) and its Namespace's.
struct Seen<'a> {
    workload: &'a Workload<'a>,
    namespace_labels: Option<&'a Map<String, Value>>,
    namespace_annotations: Option<&'a Map<String, Value>>,
}

impl Seen<'_> {
    fn namespace_label(&self, key: &str) -> Option<&str> {
        self.namespace_labels?.get(key)?.as_str()
    }

    fn namespace_annotation(&self, key: &str) -> Option<&str> {
        self.namespace_annotations?.get(key)?.as_str()
    }
}

impl Mesh {
    const ALL: [Mesh; 2] = [Mesh::Istio, Mesh::Linkerd];

    fn name(self) -> &'static str {
        match self {
            Mesh::Istio => "Istio",
            Mesh::Linkerd => "Linkerd",
        }
    }

    fn proxy(self) -> &'static str {
        match self {
            Mesh::Istio => "istio-proxy",
            Mesh::Linkerd => "linkerd-proxy",
        }
    }

    /// The pod annotations that turn on native injection, each version's
    /// (Istio 1.24+: it takes precedence over istiod's
    /// `ENABLE_NATIVE_SIDECARS`; Linkerd: every key a version reads, so that
    /// each reads true, whatever its namespace says).
    fn switch_keys(self) -> &'static [&'static str] {
        match self {
            Mesh::Istio => &[ISTIO_NATIVE],
            Mesh::Linkerd => &[LINKERD_GA, LINKERD_BETA, LINKERD_ALPHA],
        }
    }

    /// For each version of the mesh: the keys it reads the switch from, in
    /// the order it reads them (the first it finds decides), and those it
    /// copies from the namespace where the pod lacks them (Linkerd 2.20
    /// copies the GA and alpha keys, no longer the beta one: linkerd2
    /// `pkg/inject`).
    fn readers(self) -> &'static [(&'static [&'static str], &'static [&'static str])] {
        match self {
            Mesh::Istio => &[(&[ISTIO_NATIVE], &[])],
            Mesh::Linkerd => &[
                (
                    &[LINKERD_GA, LINKERD_BETA, LINKERD_ALPHA],
                    &[LINKERD_GA, LINKERD_ALPHA],
                ),
                (&[LINKERD_BETA, LINKERD_ALPHA], &[LINKERD_BETA, LINKERD_ALPHA]),
                (&[LINKERD_ALPHA], &[LINKERD_ALPHA]),
            ],
        }
    }

    /// A switch's value as the mesh parses it; `None` is no value (the
    /// mesh's default): Istio compares with "true"/"false", Linkerd parses
    /// Go booleans (`"False"`, `"0"`, `"f"` are false).
    fn parse(self, value: &str) -> Option<bool> {
        match self {
            Mesh::Istio => match value {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            Mesh::Linkerd => go_parse_bool(value),
        }
    }

    fn switch_text(self) -> String {
        self.switch_keys()
            .iter()
            .map(|key| format!("{key}: \"true\""))
            .collect::<Vec<_>>()
            .join(" and ")
    }

    /// The mesh's own, cluster-wide way to the same result.
    fn global_switch(self) -> &'static str {
        match self {
            Mesh::Istio => "ENABLE_NATIVE_SIDECARS=true in istiod",
            Mesh::Linkerd => "proxy.nativeSidecar=true in Linkerd's Helm values",
        }
    }

    /// Why the mesh will inject this pod, if it will. Istio: namespace label
    /// `istio-injection=enabled` or `istio.io/rev`, or pod label
    /// `sidecar.istio.io/inject=true`, unless the pod says `false` (label or
    /// annotation) or the namespace `istio-injection=disabled`. Linkerd:
    /// annotation `linkerd.io/inject: enabled|ingress` on the pod or its
    /// namespace, unless the pod says `disabled` or the namespace is labelled
    /// `config.linkerd.io/admission-webhooks=disabled`. Neither injects
    /// host-network pods.
    fn injects(self, seen: &Seen) -> Option<String> {
        let workload = seen.workload;
        if workload.spec.host_network() {
            return None;
        }
        match self {
            Mesh::Istio => {
                let pod_says = workload
                    .label("sidecar.istio.io/inject")
                    .or_else(|| workload.annotation("sidecar.istio.io/inject"));
                let namespace = seen.namespace_label("istio-injection");
                if pod_says == Some("false") || namespace == Some("disabled") {
                    return None;
                }
                let why = if namespace == Some("enabled") {
                    Some("its namespace is labelled istio-injection=enabled".to_owned())
                } else if let Some(revision) = seen.namespace_label("istio.io/rev").filter(|r| !r.is_empty())
                {
                    Some(format!("its namespace is labelled istio.io/rev={revision}"))
                } else if workload.label("sidecar.istio.io/inject") == Some("true") {
                    Some("it is labelled sidecar.istio.io/inject=true".to_owned())
                } else {
                    workload
                        .label("istio.io/rev")
                        .map(|revision| format!("it is labelled istio.io/rev={revision}"))
                };
                // Istio before 1.27 lower-cases the value: y, yes, true, on
                // inject and any other opts out; from 1.27 (istio#56737)
                // only "true" and "false" count, and any other value is the
                // namespace's default. Not knowing which runs, the reading
                // that injects is taken, and both are said.
                match pod_says.filter(|value| !value.is_empty()) {
                    Some(value) if value != "true" => why.map(|why| {
                        let before = match value.to_lowercase().as_str() {
                            "y" | "yes" | "on" | "true" => "asks for injection",
                            _ => "opts out",
                        };
                        format!(
                            "{why}; its sidecar.istio.io/inject value {value:?} {before} before Istio 1.27, \
                             which from 1.27 reads only \"true\" and \"false\" and falls back to the default"
                        )
                    }),
                    _ => why,
                }
            }
            Mesh::Linkerd => {
                let enabled = |value: Option<&str>| matches!(value, Some("enabled" | "ingress"));
                if workload.annotation("linkerd.io/inject") == Some("disabled")
                    || seen.namespace_label("config.linkerd.io/admission-webhooks") == Some("disabled")
                {
                    return None;
                }
                if enabled(workload.annotation("linkerd.io/inject")) {
                    Some("it is annotated linkerd.io/inject".to_owned())
                } else if enabled(seen.namespace_annotation("linkerd.io/inject")) {
                    Some("its namespace is annotated linkerd.io/inject".to_owned())
                } else {
                    None
                }
            }
        }
    }

    /// What the pod says about native injection, in every version of the
    /// mesh; with `inherit`, as the mesh reads it: the keys it copies from the
    /// namespace where the pod lacks them count too.
    fn switch(self, seen: &Seen, inherit: bool) -> Switch {
        let mut everywhere = true;
        for (keys, copied) in self.readers() {
            let value = |key: &'static str| match seen.workload.annotation(key) {
                Some(value) => Some((key, value, false)),
                None if inherit && copied.contains(&key) => {
                    seen.namespace_annotation(key).map(|value| (key, value, true))
                }
                None => None,
            };
            match keys.iter().find_map(|key| value(key)) {
                Some((key, value, inherited)) => match self.parse(value) {
                    Some(false) => return Switch::Off { key, inherited },
                    Some(true) => {}
                    None => everywhere = false,
                },
                None => everywhere = false,
            }
        }
        if everywhere { Switch::On } else { Switch::Unset }
    }

    fn default_mode(self, compiled: &Compiled) -> Option<MeshMode> {
        match self {
            Mesh::Istio => compiled.meshes.istio,
            Mesh::Linkerd => compiled.meshes.linkerd,
        }
    }
}

/// Adds to `plan` what `jobSidecars` says about the mesh proxies a pod will get.
pub fn plan_mesh_switches(
    compiled: &Compiled,
    request: &Request,
    workload: &Workload,
    nodes: &NodeSupport,
    cluster: &dyn Cluster,
    plan: &mut Plan,
) {
    let declared: Vec<(Mesh, MeshMode)> = Mesh::ALL
        .into_iter()
        .filter_map(|mesh| mesh.default_mode(compiled).map(|mode| (mesh, mode)))
        .collect();
    let converts = compiled.job_sidecars == JobSidecarAction::Convert && compiled.mutate;
    let predicts = compiled.job_sidecars != JobSidecarAction::Ignore && !converts && workload.kind != "Pod";
    if declared.is_empty()
        || !(converts || predicts)
        || !jobs::in_scope(compiled, request, workload)
        || !workload.spec.runs_to_completion()
        || workload.spec.host_network()
    {
        return;
    }
    let namespace = read_namespace(request, cluster, plan);
    let metadata = namespace.as_ref().and_then(|n| n.get("metadata"));
    let seen = Seen {
        workload,
        namespace_labels: metadata.and_then(|m| m.get("labels")).and_then(Value::as_object),
        namespace_annotations: metadata
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_object),
    };
    for (mesh, mode) in declared {
        let Some(why) = mesh.injects(&seen) else {
            continue;
        };
        if converts {
            // The pod's own word, then what the mesh will read: what this
            // policy writes on the pod overrides its namespace's.
            let switch = match (mesh.switch(&seen, false), mesh.switch(&seen, true)) {
                (off @ Switch::Off { .. }, _) => off,
                (_, Switch::On) => Switch::On,
                _ => Switch::Unset,
            };
            turn_on(mesh, switch, &why, workload, nodes, plan);
        } else {
            let switch = mesh.switch(&seen, true);
            predict(
                compiled.job_sidecars,
                (mesh, mode),
                switch,
                &why,
                workload,
                nodes,
                plan,
            );
        }
    }
}

/// The Namespace's labels and annotations, or a warning saying why not.
fn read_namespace(request: &Request, cluster: &dyn Cluster, plan: &mut Plan) -> Option<Value> {
    if request.namespace.is_empty() {
        return None;
    }
    let fields = ["metadata.annotations", "metadata.labels"];
    match cluster.get_resource("v1", "Namespace", "", request.namespace, &fields) {
        Ok(namespace) => Some(namespace),
        Err(error) => {
            plan.warn(format!(
                "could not read Namespace {:?} to tell whether a service mesh injects these pods \
                 (jobSidecars): {error}; only the pod's own labels and annotations were read",
                request.namespace
            ));
            None
        }
    }
}

/// `convert`: the mesh will inject; make it inject a native sidecar.
fn turn_on(mesh: Mesh, switch: Switch, why: &str, workload: &Workload, nodes: &NodeSupport, plan: &mut Plan) {
    let subject = jobs::subject(workload);
    let switch_text = mesh.switch_text();
    let legacy = format!(
        "{} would never complete: {} will inject its proxy {:?} into it ({why}) as a regular container, which \
         keeps running after the main containers exit",
        jobs::capitalised(subject),
        mesh.name(),
        mesh.proxy()
    );
    match switch {
        Switch::On => {}
        Switch::Off { key, .. } => plan.reject(format!(
            "{legacy}: the annotation {key} says false and asks for that. Fix: set it to \"true\" (or remove it, \
             and this policy sets it) so that {} injects a native sidecar, stopped when the main containers are \
             done.",
            mesh.name()
        )),
        Switch::Unset => match nodes.may_convert(workload) {
            Ok(()) => {
                for key in mesh.switch_keys() {
                    plan.edits.push(Edit::Set {
                        map: under(&workload.metadata_pointer, "annotations"),
                        key: (*key).to_owned(),
                        value: Value::from("true").into(),
                    });
                }
                plan.warn(format!(
                    "annotation {switch_text} added so that {} injects its proxy {:?} as a native sidecar and \
                     {subject} can complete ({why})",
                    mesh.name(),
                    mesh.proxy()
                ));
                require_supported_nodes(nodes.support, workload, plan);
            }
            Err(why_not) => plan.reject(format!(
                "{legacy}. This policy turns on the mesh's native sidecars ({switch_text}), but not here: \
                 {why_not}. Fix: keep the mesh out of these pods, or run them on nodes that support native \
                 sidecars (Kubernetes >= 1.29)."
            )),
        },
    }
}

/// Istio's `ENABLE_NATIVE_SIDECARS=auto` injects native sidecars where every
/// node runs at least this kubelet (istio/istio `pkg/kube/inject`, 1.27).
const ISTIO_AUTO_KUBELET: (u32, u32) = (1, 33);

/// `reject`/`warn` at a Job or CronJob: the mesh's declared default (for
/// `auto`, with the nodes where the policy reads them), and the template's
/// switch, say the proxy will be a regular container.
fn predict(
    action: JobSidecarAction,
    (mesh, mode): (Mesh, MeshMode),
    switch: Switch,
    why: &str,
    workload: &Workload,
    nodes: &NodeSupport,
    plan: &mut Plan,
) {
    let cause = match (mode, switch) {
        (MeshMode::Legacy, Switch::Unset) => format!(
            "which this cluster's {} injects as a regular container unless told otherwise",
            mesh.name()
        ),
        (MeshMode::Auto, Switch::Unset) => {
            let (major, minor) = ISTIO_AUTO_KUBELET;
            match nodes.every_node_at_least(workload, ISTIO_AUTO_KUBELET) {
                Ok(()) => return,
                Err(Below::Older(node)) => format!(
                    "which this cluster's {} (ENABLE_NATIVE_SIDECARS=auto) injects as a regular container here: it \
                     injects native sidecars only where every node runs kubelet {major}.{minor} or later, and {node}",
                    mesh.name()
                ),
                Err(Below::Unknown(why)) => format!(
                    "which this cluster's {} (ENABLE_NATIVE_SIDECARS=auto) injects as a native sidecar only where every \
                     node runs kubelet {major}.{minor} or later, which this policy cannot tell here ({why})",
                    mesh.name()
                ),
            }
        }
        (
            _,
            Switch::Off {
                key,
                inherited: false,
            },
        ) => format!("as the annotation {key}, which says false, asks"),
        (_, Switch::Off { key, inherited: true }) => format!(
            "as its namespace's annotation {key}, which says false and which {} copies into pods without it, asks",
            mesh.name()
        ),
        _ => return,
    };
    let message = format!(
        "{} would never complete: {} will inject its proxy {:?} into its pods ({why}), {cause}; a regular container \
         keeps running after the Job's containers exit. Fix: set the annotation {} in {}.annotations (or \
         {}).",
        jobs::capitalised(jobs::subject(workload)),
        mesh.name(),
        mesh.proxy(),
        mesh.switch_text(),
        workload.metadata_path(),
        mesh.global_switch()
    );
    match action {
        JobSidecarAction::Warn => plan.warn(message),
        _ => plan.reject(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Request;
    use rstest::rstest;
    use serde_json::json;

    /// Which meshes inject a pod with these labels and annotations, in a
    /// namespace with these, and what its switch says.
    fn judge(pod: Value, namespace: Value) -> Vec<(Mesh, bool, Switch)> {
        let request = json!({"kind": {"kind": "Pod"}, "object": {"metadata": pod,
            "spec": {"restartPolicy": "Never", "containers": [{"name": "job", "image": "x"}]}}});
        let view = Request::from_admission_request(&request).expect("well formed");
        let workload = view.workload().expect("well formed").expect("a pod");
        let seen = Seen {
            workload: &workload,
            namespace_labels: namespace.get("labels").and_then(Value::as_object),
            namespace_annotations: namespace.get("annotations").and_then(Value::as_object),
        };
        Mesh::ALL
            .into_iter()
            .map(|mesh| (mesh, mesh.injects(&seen).is_some(), mesh.switch(&seen, true)))
            .collect()
    }

    const UNSET: Switch = Switch::Unset;

    #[rstest]
    #[case::istio_namespace(json!({}), json!({"labels": {"istio-injection": "enabled"}}), (true, UNSET), (false, UNSET))]
    #[case::istio_revision(json!({}), json!({"labels": {"istio.io/rev": "1-24"}}), (true, UNSET), (false, UNSET))]
    #[case::istio_pod_label(json!({"labels": {"sidecar.istio.io/inject": "true"}}), json!({}), (true, UNSET), (false, UNSET))]
    #[case::istio_pod_opts_out(json!({"labels": {"sidecar.istio.io/inject": "false"}}), json!({"labels": {"istio-injection": "enabled"}}), (false, UNSET), (false, UNSET))]
    #[case::istio_pod_opts_out_by_annotation(json!({"annotations": {"sidecar.istio.io/inject": "false"}}), json!({"labels": {"istio.io/rev": "x"}}), (false, UNSET), (false, UNSET))]
    #[case::istio_namespace_disabled(json!({"labels": {"sidecar.istio.io/inject": "true"}}), json!({"labels": {"istio-injection": "disabled"}}), (false, UNSET), (false, UNSET))]
    #[case::istio_switch_on(json!({"annotations": {"sidecar.istio.io/nativeSidecar": "true"}}), json!({"labels": {"istio-injection": "enabled"}}), (true, Switch::On), (false, UNSET))]
    #[case::istio_switch_off(json!({"annotations": {"sidecar.istio.io/nativeSidecar": "false"}}), json!({"labels": {"istio-injection": "enabled"}}), (true, Switch::Off { key: ISTIO_NATIVE, inherited: false }), (false, UNSET))]
    #[case::linkerd_namespace(json!({}), json!({"annotations": {"linkerd.io/inject": "enabled"}}), (false, UNSET), (true, UNSET))]
    #[case::linkerd_pod(json!({"annotations": {"linkerd.io/inject": "ingress"}}), json!({}), (false, UNSET), (true, UNSET))]
    #[case::linkerd_pod_opts_out(json!({"annotations": {"linkerd.io/inject": "disabled"}}), json!({"annotations": {"linkerd.io/inject": "enabled"}}), (false, UNSET), (false, UNSET))]
    #[case::linkerd_webhook_off(json!({"annotations": {"linkerd.io/inject": "enabled"}}), json!({"labels": {"config.linkerd.io/admission-webhooks": "disabled"}}), (false, UNSET), (false, UNSET))]
    #[case::linkerd_switch_inherited(json!({}), json!({"annotations": {"linkerd.io/inject": "enabled", "config.alpha.linkerd.io/proxy-enable-native-sidecar": "true"}}), (false, UNSET), (true, Switch::On))]
    #[case::linkerd_beta_switch(json!({"annotations": {"config.beta.linkerd.io/proxy-enable-native-sidecar": "false"}}), json!({"annotations": {"linkerd.io/inject": "enabled"}}), (false, UNSET), (true, Switch::Off { key: LINKERD_BETA, inherited: false }))]
    // Linkerd copies each key the pod lacks from the namespace, then reads GA before beta before alpha.
    #[case::linkerd_namespace_ga_over_pod_alpha(json!({"annotations": {"config.alpha.linkerd.io/proxy-enable-native-sidecar": "true"}}), json!({"annotations": {"linkerd.io/inject": "enabled", "config.linkerd.io/proxy-enable-native-sidecar": "false"}}), (false, UNSET), (true, Switch::Off { key: LINKERD_GA, inherited: true }))]
    // Go's ParseBool: "False" and "0" are false, "1" and "T" true; anything else is no value.
    #[case::linkerd_parse_bool_false(json!({"annotations": {"linkerd.io/inject": "enabled", "config.alpha.linkerd.io/proxy-enable-native-sidecar": "False"}}), json!({}), (false, UNSET), (true, Switch::Off { key: LINKERD_ALPHA, inherited: false }))]
    #[case::linkerd_parse_bool_zero(json!({"annotations": {"linkerd.io/inject": "enabled", "config.alpha.linkerd.io/proxy-enable-native-sidecar": "0"}}), json!({}), (false, UNSET), (true, Switch::Off { key: LINKERD_ALPHA, inherited: false }))]
    #[case::linkerd_parse_bool_one(json!({"annotations": {"linkerd.io/inject": "enabled", "config.alpha.linkerd.io/proxy-enable-native-sidecar": "1"}}), json!({}), (false, UNSET), (true, Switch::On))]
    #[case::linkerd_parse_bool_garbage(json!({"annotations": {"linkerd.io/inject": "enabled", "config.alpha.linkerd.io/proxy-enable-native-sidecar": "yes"}}), json!({}), (false, UNSET), (true, UNSET))]
    // A key older versions do not read is not on everywhere.
    #[case::linkerd_beta_only_is_not_everywhere(json!({"annotations": {"linkerd.io/inject": "enabled", "config.beta.linkerd.io/proxy-enable-native-sidecar": "true"}}), json!({}), (false, UNSET), (true, UNSET))]
    #[case::no_mesh(json!({"labels": {"app": "report"}}), json!({"labels": {"team": "a"}}), (false, UNSET), (false, UNSET))]
    #[case::linkerd_label_is_not_read(json!({"labels": {"linkerd.io/inject": "enabled"}}), json!({}), (false, UNSET), (false, UNSET))]
    fn which_mesh_injects(
        #[case] pod: Value,
        #[case] namespace: Value,
        #[case] istio: (bool, Switch),
        #[case] linkerd: (bool, Switch),
    ) {
        assert_eq!(
            judge(pod, namespace),
            [
                (Mesh::Istio, istio.0, istio.1),
                (Mesh::Linkerd, linkerd.0, linkerd.1)
            ]
        );
    }

    /// Istio before 1.27 opts a pod out with any value but y/yes/true/on;
    /// from 1.27 only "false" does. The injecting reading is taken, both said.
    #[rstest]
    #[case::capitalised_false("False", Some("opts out before Istio 1.27"))]
    #[case::yes("yes", Some("asks for injection before Istio 1.27"))]
    #[case::exact_true("true", None)]
    fn istio_injection_values_are_read_both_ways(#[case] value: &str, #[case] said: Option<&str>) {
        let request = json!({"kind": {"kind": "Pod"}, "object": {"metadata": {"labels": {"sidecar.istio.io/inject": value}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "job", "image": "x"}]}}});
        let view = Request::from_admission_request(&request).expect("well formed");
        let workload = view.workload().expect("well formed").expect("a pod");
        let labels = json!({"istio-injection": "enabled"});
        let seen = Seen {
            workload: &workload,
            namespace_labels: labels.as_object(),
            namespace_annotations: None,
        };
        let why = Mesh::Istio.injects(&seen).expect("injected in some version");
        assert!(
            why.starts_with("its namespace is labelled istio-injection=enabled"),
            "{why}"
        );
        match said {
            Some(said) => assert!(
                why.contains(said) && why.contains("from 1.27 reads only"),
                "{why}"
            ),
            None => assert!(!why.contains("1.27"), "{why}"),
        }
    }

    #[test]
    fn host_network_pods_are_not_injected() {
        let request = json!({"kind": {"kind": "Pod"}, "object": {"metadata": {"labels": {"sidecar.istio.io/inject": "true"}},
            "spec": {"hostNetwork": true, "containers": [{"name": "job", "image": "x"}]}}});
        let view = Request::from_admission_request(&request).expect("well formed");
        let workload = view.workload().expect("well formed").expect("a pod");
        let seen = Seen {
            workload: &workload,
            namespace_labels: None,
            namespace_annotations: None,
        };
        assert_eq!(Mesh::Istio.injects(&seen), None);
    }
}
