//! Injection as Gatekeeper mutators: `Assign` appends the native sidecar,
//! its volumes and the app containers' mounts and env as keyed list entries
//! that must not exist yet. Gatekeeper applies mutators sorted by kind and
//! name, so the names carry the settings' order.
//!
//! No status annotation: the only mutator that writes annotations,
//! `AssignMetadata`, has no `applyTo` and so no `operations`: it would also
//! run on every UPDATE of a selected pod and mark a pod as injected that no
//! `Assign` touched. The marker env on each sidecar is the record that stays.

use serde_json::{Value, json};

/// The folder the mutators are written into.
pub(super) const MUTATION_DIR: &str = "mutation";

use super::{EXCLUDED_NAMESPACES, Generated};
use crate::settings::{Compiled, Settings, Strategy};
use crate::template::{INJECT_KEY, Injection, Position, STATUS_KEY, Template};

/// Gatekeeper reads no annotation: only the label opts a pod in or out.
const YES: [&str; 3] = ["true", "True", "TRUE"];
const NO: [&str; 3] = ["false", "False", "FALSE"];

pub(super) fn generate(
    settings: &Settings,
    compiled: &Compiled,
    out: &mut Generated,
    refused: &mut Vec<String>,
) {
    if !settings.mutate || compiled.templates.is_empty() {
        return;
    }
    if compiled.native_support.strategy != Strategy::Assume {
        refused.push(
            "nativeSupport.strategy: only assume: the other strategies need the nodes' versions or labels, \
             a node affinity merged into the pod's, or a choice between two forms, none of which a \
             Gatekeeper mutator can make"
                .to_owned(),
        );
    }
    if !settings.inject_host_network_pods {
        refused.push(
            "injectHostNetworkPods: false: a Gatekeeper mutator cannot match on spec.hostNetwork; set it to \
             true (Gatekeeper then injects into hostNetwork pods too)"
                .to_owned(),
        );
    }
    for (i, template) in compiled.templates.iter().enumerate() {
        if template.position != Position::Last {
            refused.push(format!(
                "sidecars[{i}].position: {}: Gatekeeper appends to a list and cannot insert at an index; \
                 use last",
                template.position
            ));
        }
        if let Some(volume) = template
            .mounted_volumes
            .iter()
            .find(|name| !template.volumes.iter().any(|(v, _)| v == *name))
        {
            refused.push(format!(
                "sidecars[{i}]: it mounts volume {volume:?}, which it does not bring: a Gatekeeper mutator \
                 cannot check that the pod has it; add it to sidecars[{i}].volumes"
            ));
        }
    }
    out.differences.push(format!(
        "sidecars[].injection: a pod opts in or out with the label {INJECT_KEY} only (true or false); the \
         annotation, and a label naming one template, are not read"
    ));
    out.differences.push(
        "sidecars[]: a pod's own volume of the same name is kept and the sidecar still injected (the policy \
         skips the template), a mount at a path a container already uses is still added (the API server then \
         refuses the pod), and the app containers' mounts and env are added even when the pod already has the \
         sidecar"
            .to_owned(),
    );
    out.differences.push(format!(
        "sidecars[]: no {STATUS_KEY} annotation (Gatekeeper's AssignMetadata cannot be limited to CREATE); \
         the marker env on each sidecar records the injection"
    ));
    for (i, template) in compiled.templates.iter().enumerate() {
        let selector = selector(template.injection, settings.allow_opt_out);
        mutators(i, template, selector.as_ref(), out);
    }
}

/// The `labelSelector` of a template's mutators.
fn selector(injection: Injection, allow_opt_out: bool) -> Option<Value> {
    match (injection, allow_opt_out) {
        (Injection::OptIn, _) => Some(json!({"matchExpressions": [
            {"key": INJECT_KEY, "operator": "In", "values": YES}]})),
        (Injection::Always, true) => Some(json!({"matchExpressions": [
            {"key": INJECT_KEY, "operator": "NotIn", "values": NO}]})),
        (Injection::Always, false) => None,
    }
}

/// Gatekeeper refuses a mutator whose name is longer.
const MAX_NAME: usize = 63;

/// A mutator's name: the template's number and the part first, so that
/// Gatekeeper's name order is the settings' order, then the template's id,
/// cut to fit (the number and part alone keep names unique).
fn mutator_name(index: usize, part: &str, id: &str) -> String {
    let mut name = format!("native-sidecar-{index:02}-{part}-{id}");
    name.truncate(MAX_NAME);
    name.trim_end_matches('-').to_owned()
}

/// The `Assign` mutators of template number `index`.
fn mutators(index: usize, template: &Template, selector: Option<&Value>, out: &mut Generated) {
    let mut assign = |part: String, location: String, value: &Value| {
        let name = mutator_name(index, &part, &template.id);
        let parameters = json!({
            "pathTests": [{"subPath": location, "condition": "MustNotExist"}],
            "assign": {"value": value},
        });
        out.files.push((
            format!("{MUTATION_DIR}/{name}.yaml"),
            mutator("Assign", &name, selector, location, parameters),
        ));
    };
    assign(
        "a".to_owned(),
        format!("spec.initContainers[name: {}]", key(&template.container_name)),
        &template.native_container,
    );
    for (k, (name, volume)) in template.volumes.iter().enumerate() {
        assign(
            format!("b{k:02}"),
            format!("spec.volumes[name: {}]", key(name)),
            volume,
        );
    }
    for (k, (name, _, mount)) in template.app_mounts.iter().enumerate() {
        assign(
            format!("c{k:02}"),
            format!("spec.containers[name: *].volumeMounts[name: {}]", key(name)),
            mount,
        );
    }
    for (k, (name, env)) in template.app_env.iter().enumerate() {
        assign(
            format!("d{k:02}"),
            format!("spec.containers[name: *].env[name: {}]", key(name)),
            env,
        );
    }
}

fn mutator(kind: &str, name: &str, selector: Option<&Value>, location: String, parameters: Value) -> Value {
    let mut matched = json!({
        "scope": "Namespaced",
        "kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
        "excludedNamespaces": EXCLUDED_NAMESPACES,
    });
    if let (Some(selector), Some(fields)) = (selector, matched.as_object_mut()) {
        fields.insert("labelSelector".to_owned(), selector.clone());
    }
    json!({
        "apiVersion": "mutations.gatekeeper.sh/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {
            // Pods on CREATE only: their containers cannot change afterwards
            // (`operations`: Gatekeeper 3.23 and later).
            "applyTo": [{"groups": [""], "kinds": ["Pod"], "versions": ["v1"], "operations": ["CREATE"]}],
            "match": matched,
            "location": location,
            "parameters": parameters,
        },
    })
}

/// A key in a Gatekeeper location: quoted unless it is only `[A-Za-z0-9_-]`.
fn key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}
