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
use crate::compat::{NodeSupport, require_supported_nodes};
use crate::jobs;
use crate::plan::{Edit, Plan, under};
use crate::request::{Request, Workload};
use crate::settings::{Compiled, JobSidecarAction, MeshMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mesh {
    Istio,
    Linkerd,
}

/// Whether a pod says how its mesh proxy is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Switch {
    /// `"true"`: a native sidecar.
    On,
    /// `"false"`: the author asked for a regular container.
    Off,
    Unset,
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

    /// The pod annotation that turns on native injection (Istio 1.24+:
    /// it takes precedence over istiod's `ENABLE_NATIVE_SIDECARS`; Linkerd
    /// 2.15+, still read as an alias where 2.19 renamed it).
    fn switch_key(self) -> &'static str {
        match self {
            Mesh::Istio => "sidecar.istio.io/nativeSidecar",
            Mesh::Linkerd => "config.alpha.linkerd.io/proxy-enable-native-sidecar",
        }
    }

    /// Every key the mesh reads the switch from.
    fn switch_keys(self) -> &'static [&'static str] {
        match self {
            Mesh::Istio => &["sidecar.istio.io/nativeSidecar"],
            Mesh::Linkerd => &[
                "config.linkerd.io/proxy-enable-native-sidecar",
                "config.beta.linkerd.io/proxy-enable-native-sidecar",
                "config.alpha.linkerd.io/proxy-enable-native-sidecar",
            ],
        }
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
                if namespace == Some("enabled") {
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

    /// What the pod says about native injection; Linkerd also inherits it
    /// from the namespace's annotations.
    fn switch(self, seen: &Seen) -> Switch {
        let read = |value: &str| match value.trim() {
            "true" => Switch::On,
            "false" => Switch::Off,
            _ => Switch::Unset,
        };
        let from_pod = self
            .switch_keys()
            .iter()
            .find_map(|key| seen.workload.annotation(key));
        let inherited = match self {
            Mesh::Linkerd => self
                .switch_keys()
                .iter()
                .find_map(|key| seen.namespace_annotation(key)),
            Mesh::Istio => None,
        };
        from_pod.or(inherited).map_or(Switch::Unset, read)
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
        let switch = mesh.switch(&seen);
        if converts {
            turn_on(mesh, switch, &why, workload, nodes, plan);
        } else {
            predict(compiled.job_sidecars, mesh, mode, switch, &why, workload, plan);
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
    let key = mesh.switch_key();
    let subject = jobs::subject(workload);
    let legacy = format!(
        "{} would never complete: {} will inject its proxy {:?} into it ({why}) as a regular container, which \
         keeps running after the main containers exit",
        jobs::capitalised(subject),
        mesh.name(),
        mesh.proxy()
    );
    match switch {
        Switch::On => {}
        Switch::Off => plan.reject(format!(
            "{legacy}: the annotation {key}: \"false\" asks for that. Fix: set it to \"true\" (or remove it, and \
             this policy sets it) so that {} injects a native sidecar, stopped when the main containers are done.",
            mesh.name()
        )),
        Switch::Unset => match nodes.may_convert(workload) {
            Ok(()) => {
                plan.edits.push(Edit::Set {
                    map: under(&workload.metadata_pointer, "annotations"),
                    key: key.to_owned(),
                    value: Value::from("true").into(),
                });
                plan.warn(format!(
                    "annotation {key}: \"true\" added so that {} injects its proxy {:?} as a native sidecar and \
                     {subject} can complete ({why})",
                    mesh.name(),
                    mesh.proxy()
                ));
                require_supported_nodes(nodes.support, workload, plan);
            }
            Err(why_not) => plan.reject(format!(
                "{legacy}. This policy turns on the mesh's native sidecars ({key}: \"true\"), but not here: \
                 {why_not}. Fix: keep the mesh out of these pods, or run them on nodes that support native \
                 sidecars (Kubernetes >= 1.29)."
            )),
        },
    }
}

/// `reject`/`warn` at a Job or CronJob: the mesh's declared default, and the
/// template's switch, say the proxy will be a regular container.
fn predict(
    action: JobSidecarAction,
    mesh: Mesh,
    mode: MeshMode,
    switch: Switch,
    why: &str,
    workload: &Workload,
    plan: &mut Plan,
) {
    let cause = match (mode, switch) {
        (MeshMode::Legacy, Switch::Unset) => format!(
            "which this cluster's {} injects as a regular container unless told otherwise",
            mesh.name()
        ),
        (_, Switch::Off) => format!("as the annotation {}: \"false\" asks", mesh.switch_key()),
        _ => return,
    };
    let message = format!(
        "{} would never complete: {} will inject its proxy {:?} into its pods ({why}), {cause}; a regular container \
         keeps running after the Job's containers exit. Fix: set the annotation {}: \"true\" in {}.annotations (or \
         {}).",
        jobs::capitalised(jobs::subject(workload)),
        mesh.name(),
        mesh.proxy(),
        mesh.switch_key(),
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
            .map(|mesh| (mesh, mesh.injects(&seen).is_some(), mesh.switch(&seen)))
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
    #[case::istio_switch_off(json!({"annotations": {"sidecar.istio.io/nativeSidecar": "false"}}), json!({"labels": {"istio-injection": "enabled"}}), (true, Switch::Off), (false, UNSET))]
    #[case::linkerd_namespace(json!({}), json!({"annotations": {"linkerd.io/inject": "enabled"}}), (false, UNSET), (true, UNSET))]
    #[case::linkerd_pod(json!({"annotations": {"linkerd.io/inject": "ingress"}}), json!({}), (false, UNSET), (true, UNSET))]
    #[case::linkerd_pod_opts_out(json!({"annotations": {"linkerd.io/inject": "disabled"}}), json!({"annotations": {"linkerd.io/inject": "enabled"}}), (false, UNSET), (false, UNSET))]
    #[case::linkerd_webhook_off(json!({"annotations": {"linkerd.io/inject": "enabled"}}), json!({"labels": {"config.linkerd.io/admission-webhooks": "disabled"}}), (false, UNSET), (false, UNSET))]
    #[case::linkerd_switch_inherited(json!({}), json!({"annotations": {"linkerd.io/inject": "enabled", "config.alpha.linkerd.io/proxy-enable-native-sidecar": "true"}}), (false, UNSET), (true, Switch::On))]
    #[case::linkerd_beta_switch(json!({"annotations": {"config.beta.linkerd.io/proxy-enable-native-sidecar": "false"}}), json!({"annotations": {"linkerd.io/inject": "enabled"}}), (false, UNSET), (true, Switch::Off))]
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
