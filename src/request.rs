//! Read-only view over an admission request: what every decision looks at.
//!
//! The view is built once per request and checks the shape of every field the
//! decisions read (a list is a list, a name is a string). Past that check the
//! accessors are infallible, so no decision has to handle malformed input and
//! none can panic on it.

use serde_json::{Map, Value};

use crate::path::Path;
use crate::plan::{lookup, under};

/// The operations the policy distinguishes; everything else is accepted untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Other,
}

/// A request whose shape we cannot read: rejected with this text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl Malformed {
    fn at(path: &Path, expected: &str) -> Self {
        Malformed(format!("malformed request: {path} must be {expected}"))
    }
}

const REQUEST: Path<'static> = Path::Root("request");

/// The admission request, as far as the policy reads it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub operation: Operation,
    pub kind: &'a str,
    pub sub_resource: &'a str,
    pub namespace: &'a str,
    pub object: &'a Value,
    /// The stored object, on UPDATE.
    pub old_object: Option<&'a Value>,
}

/// The controller that owns an object (`ownerReferences[controller=true]`).
#[derive(Debug, PartialEq, Eq)]
pub struct Owner<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
}

impl<'a> Request<'a> {
    /// Reads the `request` part of a Kubewarden validation payload.
    pub fn from_admission_request(request: &'a Value) -> Result<Self, Malformed> {
        let fields = request
            .as_object()
            .ok_or_else(|| Malformed::at(&REQUEST, "an object"))?;
        let operation = match optional_str(fields, "operation", &REQUEST)? {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            _ => Operation::Other,
        };
        let kind = match fields.get("kind") {
            None | Some(Value::Null) => "",
            Some(Value::Object(gvk)) => optional_str(gvk, "kind", &Path::Key(&REQUEST, "kind"))?,
            Some(_) => return Err(Malformed::at(&Path::Key(&REQUEST, "kind"), "an object")),
        };
        Ok(Request {
            operation,
            kind,
            sub_resource: optional_str(fields, "subResource", &REQUEST)?,
            namespace: optional_str(fields, "namespace", &REQUEST)?,
            object: fields.get("object").unwrap_or(&Value::Null),
            old_object: fields.get("oldObject").filter(|old| !old.is_null()),
        })
    }

    /// An annotation of the object itself (not of its pod template).
    pub fn object_annotation(&self, key: &str) -> Option<&'a str> {
        self.object
            .get("metadata")?
            .get("annotations")?
            .get(key)?
            .as_str()
    }

    /// The object's controller, when it has one.
    pub fn controller(&self) -> Option<Owner<'a>> {
        let owners = self.object.get("metadata")?.get("ownerReferences")?.as_array()?;
        owners
            .iter()
            .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
            .and_then(|o| {
                Some(Owner {
                    api_version: o.get("apiVersion")?.as_str()?,
                    kind: o.get("kind")?.as_str()?,
                    name: o.get("name")?.as_str()?,
                })
            })
    }

    /// The Job a Pod belongs to: its controller, or the label the Job
    /// controller sets.
    pub fn job_of_pod(&self) -> Option<&'a str> {
        self.controller()
            .filter(|owner| owner.kind == "Job")
            .map(|owner| owner.name)
            .or_else(|| {
                self.object
                    .get("metadata")?
                    .get("labels")?
                    .get("batch.kubernetes.io/job-name")?
                    .as_str()
            })
    }

    /// The pod template inside the object, for the kinds the policy handles.
    /// `Ok(None)` for every other kind and for subresource requests.
    pub fn workload(&self) -> Result<Option<Workload<'a>>, Malformed> {
        if !self.sub_resource.is_empty() {
            return Ok(None);
        }
        let template = match self.kind {
            "Pod" => "",
            "Job" => "/spec/template",
            "CronJob" => "/spec/jobTemplate/spec/template",
            _ => return Ok(None),
        };
        Workload::read(self.kind, self.object, template).map(Some)
    }

    /// Whether this request can change what the rules read of the pod
    /// template: always on CREATE; on UPDATE only when it differs from the
    /// stored one: the spec, and for a Job's or CronJob's template its labels
    /// and annotations too (a mesh's injection label added to a CronJob's
    /// template changes every Job it creates; a Pod's own labels change all
    /// the time, its containers never). Validations skip the rest, so that
    /// they never block a finalizer removal or a label change of an object
    /// that exists already (background audit still reports it).
    pub fn changes_template(&self, workload: &Workload) -> bool {
        match (self.operation, self.old_object) {
            (Operation::Create, _) => true,
            (Operation::Update, Some(old)) => {
                let metadata_key = |object: &'a Value, key: &str| {
                    lookup(object, &workload.metadata_pointer).and_then(|m| m.get(key))
                };
                lookup(old, &workload.spec_pointer) != lookup(self.object, &workload.spec_pointer)
                    || (workload.kind != "Pod"
                        && ["labels", "annotations"]
                            .iter()
                            .any(|key| metadata_key(old, key) != metadata_key(self.object, key)))
            }
            (Operation::Update, None) => true,
            (Operation::Other, _) => false,
        }
    }
}

/// A Pod, or the pod template of a Job or CronJob.
#[derive(Debug)]
pub struct Workload<'a> {
    pub kind: &'a str,
    /// JSON pointer of the pod template's `metadata` inside the object.
    pub metadata_pointer: String,
    /// JSON pointer of the pod spec inside the object.
    pub spec_pointer: String,
    labels: Option<&'a Map<String, Value>>,
    annotations: Option<&'a Map<String, Value>>,
    pub spec: PodSpec<'a>,
}

impl<'a> Workload<'a> {
    fn read(kind: &'a str, object: &'a Value, template: &str) -> Result<Self, Malformed> {
        let object_path = Path::Root("object");
        if !object.is_object() {
            return Err(Malformed::at(&Path::Key(&REQUEST, "object"), "an object"));
        }
        // `/spec/template` -> object.spec.template
        let template_dotted = dotted(template);
        let template_path = if template_dotted.is_empty() {
            object_path
        } else {
            Path::Key(&object_path, &template_dotted)
        };
        let metadata_pointer = under(template, "metadata");
        let metadata_path = Path::Key(&template_path, "metadata");
        let metadata = optional_object(lookup(object, &metadata_pointer), &metadata_path)?;
        let string_map = |key: &str| {
            optional_string_map(metadata.and_then(|m| m.get(key)), &Path::Key(&metadata_path, key))
        };
        let spec_pointer = under(template, "spec");
        let spec_path = Path::Key(&template_path, "spec");
        let spec_fields = optional_object(lookup(object, &spec_pointer), &spec_path)?;
        Ok(Workload {
            kind,
            labels: string_map("labels")?,
            annotations: string_map("annotations")?,
            spec: PodSpec::read(spec_fields, &spec_path)?,
            metadata_pointer,
            spec_pointer,
        })
    }

    pub fn annotation(&self, key: &str) -> Option<&'a str> {
        self.annotations?.get(key)?.as_str()
    }

    /// Whether the annotation `key`, a comma-separated list (`"a, b"`), names `name`.
    pub fn annotation_lists(&self, key: &str, name: &str) -> bool {
        self.annotation(key)
            .is_some_and(|list| list.split(',').any(|listed| listed.trim() == name))
    }

    /// The pod spec's path for people: `spec.template.spec`.
    pub fn spec_path(&self) -> String {
        dotted(&self.spec_pointer)
    }

    /// The pod (template) metadata's path for people: `spec.template.metadata`.
    pub fn metadata_path(&self) -> String {
        dotted(&self.metadata_pointer)
    }

    pub fn label(&self, key: &str) -> Option<&'a str> {
        self.labels?.get(key)?.as_str()
    }
}

/// The parts of a pod spec the decisions read.
#[derive(Debug)]
pub struct PodSpec<'a> {
    fields: Option<&'a Map<String, Value>>,
    pub containers: Vec<Container<'a>>,
    pub init_containers: Vec<Container<'a>>,
    /// `(name, definition)` of every volume.
    pub volumes: Vec<(&'a str, &'a Value)>,
}

impl<'a> PodSpec<'a> {
    fn read(fields: Option<&'a Map<String, Value>>, path: &Path) -> Result<Self, Malformed> {
        let get = |key: &str| fields.and_then(|f| f.get(key));
        let containers = |key: &str| -> Result<Vec<Container<'a>>, Malformed> {
            let list_path = Path::Key(path, key);
            optional_list(get(key), &list_path)?
                .iter()
                .enumerate()
                .map(|(index, c)| Container::read(c, index, &Path::Index(&list_path, index)))
                .collect()
        };
        let volumes_path = Path::Key(path, "volumes");
        let volumes = optional_list(get("volumes"), &volumes_path)?
            .iter()
            .enumerate()
            .map(|(index, volume)| {
                let at = Path::Index(&volumes_path, index);
                let fields = volume
                    .as_object()
                    .ok_or_else(|| Malformed::at(&at, "an object"))?;
                Ok((required_str(fields, "name", &at)?, volume))
            })
            .collect::<Result<_, _>>()?;
        // Node placement, which the mixed-cluster strategies read and extend.
        if let Some(fields) = fields {
            optional_str(fields, "nodeName", path)?;
        }
        optional_string_map(get("nodeSelector"), &Path::Key(path, "nodeSelector"))?;
        let affinity = Path::Key(path, "affinity");
        let node_affinity = Path::Key(&affinity, "nodeAffinity");
        let required = Path::Key(&node_affinity, "requiredDuringSchedulingIgnoredDuringExecution");
        let terms_path = Path::Key(&required, "nodeSelectorTerms");
        let terms = optional_object(get("affinity"), &affinity)
            .and_then(|a| optional_object(a.and_then(|a| a.get("nodeAffinity")), &node_affinity))
            .and_then(|n| {
                optional_object(
                    n.and_then(|n| n.get("requiredDuringSchedulingIgnoredDuringExecution")),
                    &required,
                )
            })
            .and_then(|r| optional_list(r.and_then(|r| r.get("nodeSelectorTerms")), &terms_path))?;
        for (i, term) in terms.iter().enumerate() {
            let at = Path::Index(&terms_path, i);
            let term = term.as_object().ok_or_else(|| Malformed::at(&at, "an object"))?;
            optional_list(term.get("matchExpressions"), &Path::Key(&at, "matchExpressions"))?;
        }
        if get("hostNetwork").is_some_and(|v| !v.is_boolean() && !v.is_null()) {
            return Err(Malformed::at(&Path::Key(path, "hostNetwork"), "a boolean"));
        }
        Ok(PodSpec {
            fields,
            containers: containers("containers")?,
            init_containers: containers("initContainers")?,
            volumes,
        })
    }

    /// The pod's restartPolicy; the API server defaults it to `Always`.
    pub fn restart_policy(&self) -> &'a str {
        self.field("restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Always")
    }

    /// Whether the pod is meant to finish (`Never`/`OnFailure`, as in Jobs):
    /// then a sidecar that never exits keeps it from completing.
    pub fn runs_to_completion(&self) -> bool {
        matches!(self.restart_policy(), "Never" | "OnFailure")
    }

    /// `spec.nodeName`, when the pod is already bound.
    pub fn node_name(&self) -> Option<&'a str> {
        self.field("nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
    }

    pub fn node_selector(&self) -> Option<&'a Map<String, Value>> {
        self.field("nodeSelector").and_then(Value::as_object)
    }

    /// `affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`.
    pub fn node_selector_terms(&self) -> &'a [Value] {
        self.field("affinity")
            .and_then(|a| lookup(a, REQUIRED_TERMS))
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// The pod-level `resources.requests` or `.limits` (Kubernetes 1.34 and
    /// later), when the pod sets them.
    pub fn pod_resources(&self, list: &str) -> Option<&'a Map<String, Value>> {
        self.field("resources")?.get(list)?.as_object()
    }

    /// The operating system the pod declares (`spec.os.name`): the API
    /// server then forbids the other one's security settings on every container.
    pub fn os(&self) -> Option<&'a str> {
        self.field("os")?.get("name")?.as_str()
    }

    /// Whether the pod, or one of its containers, is a Windows HostProcess
    /// one: the API server then requires every container to be one.
    pub fn host_process(&self) -> bool {
        let host_process = |security: Option<&Value>| {
            security
                .and_then(|s| s.pointer("/windowsOptions/hostProcess"))
                .and_then(Value::as_bool)
                == Some(true)
        };
        host_process(self.field("securityContext"))
            || self
                .all_containers()
                .any(|c| host_process(c.value.get("securityContext")))
    }

    pub fn host_network(&self) -> bool {
        self.field("hostNetwork")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    fn field(&self, key: &str) -> Option<&'a Value> {
        self.fields?.get(key)
    }

    pub fn volume(&self, name: &str) -> Option<&'a Value> {
        self.volumes.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// Every container of the pod, regular ones first.
    pub fn all_containers(&self) -> impl Iterator<Item = &Container<'a>> {
        self.containers.iter().chain(&self.init_containers)
    }
}

/// One entry of `containers` or `initContainers`. Its lists (env, mounts, the
/// command line) are checked when it is read and walked in place when asked.
#[derive(Debug)]
pub struct Container<'a> {
    pub index: usize,
    /// The whole entry, as the request has it.
    pub value: &'a Value,
    fields: &'a Map<String, Value>,
    pub name: &'a str,
    pub image: &'a str,
    pub restart_policy: Option<&'a str>,
}

impl<'a> Container<'a> {
    fn read(value: &'a Value, index: usize, path: &Path) -> Result<Self, Malformed> {
        let fields = value
            .as_object()
            .ok_or_else(|| Malformed::at(path, "an object"))?;
        for key in ["env", "volumeMounts"] {
            let list_path = Path::Key(path, key);
            for (i, entry) in optional_list(fields.get(key), &list_path)?.iter().enumerate() {
                let at = Path::Index(&list_path, i);
                let entry = entry.as_object().ok_or_else(|| Malformed::at(&at, "an object"))?;
                required_str(entry, "name", &at)?;
                if key == "volumeMounts" {
                    optional_str(entry, "mountPath", &at)?;
                }
            }
        }
        for key in ["command", "args"] {
            let list_path = Path::Key(path, key);
            for (i, word) in optional_list(fields.get(key), &list_path)?.iter().enumerate() {
                if !word.is_string() {
                    return Err(Malformed::at(&Path::Index(&list_path, i), "a string"));
                }
            }
        }
        Ok(Container {
            index,
            value,
            fields,
            name: required_str(fields, "name", path)?,
            image: optional_str(fields, "image", path)?,
            restart_policy: Some(optional_str(fields, "restartPolicy", path)?).filter(|p| !p.is_empty()),
        })
    }

    fn list(&self, key: &str) -> impl Iterator<Item = &'a Value> {
        self.fields
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    }

    /// `(name, value)` of every `env` entry; the value is absent for `valueFrom`.
    pub fn env(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> {
        self.list("env")
            .map(|e| (string(e, "name"), e.get("value").and_then(Value::as_str)))
    }

    /// `(name, mountPath)` of every `volumeMounts` entry.
    pub fn volume_mounts(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.list("volumeMounts")
            .map(|m| (string(m, "name"), string(m, "mountPath")))
    }

    /// `command` then `args`.
    pub fn command_line(&self) -> impl Iterator<Item = &'a str> {
        self.list("command")
            .chain(self.list("args"))
            .filter_map(Value::as_str)
    }

    /// The `env` entry named `name` (the injection runs this for every
    /// variable and container: only names are read until one matches).
    fn env_entry(&self, name: &str) -> Option<&'a Value> {
        self.list("env").find(|e| string(e, "name") == name)
    }

    pub fn env_value(&self, name: &str) -> Option<&'a str> {
        self.env_entry(name)?.get("value")?.as_str()
    }

    pub fn has_env(&self, name: &str) -> bool {
        self.env_entry(name).is_some()
    }
}

const REQUIRED_TERMS: &str = "/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms";

/// A JSON pointer as people write the path: `/spec/template` -> `spec.template`.
fn dotted(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// A string field already checked by `read` ("" if absent).
fn string<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn optional_object<'a>(
    value: Option<&'a Value>,
    path: &Path,
) -> Result<Option<&'a Map<String, Value>>, Malformed> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(Malformed::at(path, "an object")),
    }
}

/// A map of strings to strings (labels, annotations, a node selector).
fn optional_string_map<'a>(
    value: Option<&'a Value>,
    path: &Path,
) -> Result<Option<&'a Map<String, Value>>, Malformed> {
    let map = optional_object(value, path)?;
    match map.and_then(|m| m.iter().find(|(_, v)| !v.is_string())) {
        Some((key, _)) => Err(Malformed::at(&Path::Key(path, key), "a string")),
        None => Ok(map),
    }
}

fn optional_list<'a>(value: Option<&'a Value>, path: &Path) -> Result<&'a [Value], Malformed> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(Malformed::at(path, "a list")),
    }
}

/// `fields[key]` when a string, "" when absent; `path` is where `fields` is.
fn optional_str<'a>(fields: &'a Map<String, Value>, key: &str, path: &Path) -> Result<&'a str, Malformed> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Malformed::at(&Path::Key(path, key), "a string")),
    }
}

fn required_str<'a>(fields: &'a Map<String, Value>, key: &str, path: &Path) -> Result<&'a str, Malformed> {
    match fields.get(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(Malformed::at(&Path::Key(path, key), "a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn pod_request(spec: Value) -> Value {
        json!({"operation": "CREATE", "kind": {"kind": "Pod"},
               "object": {"metadata": {"name": "p"}, "spec": spec}})
    }

    #[rstest]
    #[case::containers_not_a_list(json!({"containers": {}}), "object.spec.containers must be a list")]
    #[case::container_not_object(json!({"containers": [1]}), "object.spec.containers[0] must be an object")]
    #[case::nameless_container(json!({"containers": [{"image": "x"}]}), "object.spec.containers[0].name must be a string")]
    #[case::env_wrong(json!({"containers": [{"name": "a", "env": [{"name": 3}]}]}), "object.spec.containers[0].env[0].name must be a string")]
    #[case::mount_path_wrong(json!({"initContainers": [{"name": "a", "volumeMounts": [{"name": "v", "mountPath": 1}]}]}), "object.spec.initContainers[0].volumeMounts[0].mountPath must be a string")]
    #[case::volume_nameless(json!({"volumes": [{}]}), "object.spec.volumes[0].name must be a string")]
    #[case::host_network(json!({"hostNetwork": "yes"}), "object.spec.hostNetwork must be a boolean")]
    fn malformed_specs_are_named_by_path(#[case] spec: Value, #[case] expected: &str) {
        let request = pod_request(spec);
        let view = Request::from_admission_request(&request).and_then(|r| r.workload().map(|_| ()));
        assert_eq!(view, Err(Malformed(format!("malformed request: {expected}"))));
    }

    #[test]
    fn cronjob_template_is_found_with_its_pointers() {
        let request = json!({"operation": "UPDATE", "kind": {"kind": "CronJob"}, "object": {
            "spec": {"jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": {"a": "b"}},
                "spec": {"containers": [{"name": "main"}]}}}}}}});
        let view = Request::from_admission_request(&request).expect("well formed");
        assert_eq!(view.operation, Operation::Update);
        let workload = view.workload().expect("well formed").expect("a workload");
        assert_eq!(workload.spec_pointer, "/spec/jobTemplate/spec/template/spec");
        assert_eq!(
            workload.metadata_pointer,
            "/spec/jobTemplate/spec/template/metadata"
        );
        assert_eq!(workload.annotation("a"), Some("b"));
        assert_eq!(workload.spec.containers.first().map(|c| c.name), Some("main"));
    }

    #[rstest]
    #[case::deployment("Deployment", "")]
    #[case::pod_subresource("Pod", "ephemeralcontainers")]
    fn other_kinds_and_subresources_have_no_workload(#[case] kind: &str, #[case] sub: &str) {
        let request =
            json!({"operation": "CREATE", "kind": {"kind": kind}, "subResource": sub, "object": {}});
        let view = Request::from_admission_request(&request).expect("well formed");
        assert!(view.workload().expect("not read").is_none());
    }
}
