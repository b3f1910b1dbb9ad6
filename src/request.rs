//! Read-only view over an admission request: what every decision looks at.
//!
//! The view is built once per request and checks the shape of every field the
//! decisions read (a list is a list, a name is a string). Past that check the
//! accessors are infallible, so no decision has to handle malformed input and
//! none can panic on it.

use serde_json::{Map, Value};

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
    fn at(path: &str, expected: &str) -> Self {
        Malformed(format!("malformed request: {path} must be {expected}"))
    }
}

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
            .ok_or_else(|| Malformed::at("request", "an object"))?;
        let operation = match optional_str(fields, "operation", "request.operation")? {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            _ => Operation::Other,
        };
        let kind = match fields.get("kind") {
            None | Some(Value::Null) => "",
            Some(Value::Object(gvk)) => optional_str(gvk, "kind", "request.kind.kind")?,
            Some(_) => return Err(Malformed::at("request.kind", "an object")),
        };
        Ok(Request {
            operation,
            kind,
            sub_resource: optional_str(fields, "subResource", "request.subResource")?,
            namespace: optional_str(fields, "namespace", "request.namespace")?,
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

    /// Whether this request can change the pod template: always on CREATE; on
    /// UPDATE only when the spec differs from the stored one. Validations skip
    /// the rest, so that they never block a finalizer removal or a label change
    /// of an object that exists already (background audit still reports it).
    pub fn changes_spec(&self, workload: &Workload) -> bool {
        match (self.operation, self.old_object) {
            (Operation::Create, _) => true,
            (Operation::Update, Some(old)) => {
                old.pointer(&workload.spec_pointer) != self.object.pointer(&workload.spec_pointer)
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
        let dotted = |suffix: &str| format!("{}.{suffix}", dotted_path(template));
        if !object.is_object() {
            return Err(Malformed::at("request.object", "an object"));
        }
        let metadata_pointer = format!("{template}/metadata");
        let metadata = optional_object(object.pointer(&metadata_pointer), &dotted("metadata"))?;
        let string_map = |key: &str| {
            optional_string_map(
                metadata.and_then(|m| m.get(key)),
                &dotted(&format!("metadata.{key}")),
            )
        };
        let spec_pointer = format!("{template}/spec");
        let spec_fields = optional_object(object.pointer(&spec_pointer), &dotted("spec"))?;
        Ok(Workload {
            kind,
            labels: string_map("labels")?,
            annotations: string_map("annotations")?,
            spec: PodSpec::read(spec_fields, &dotted("spec"))?,
            metadata_pointer,
            spec_pointer,
        })
    }

    pub fn annotation(&self, key: &str) -> Option<&'a str> {
        self.annotations?.get(key)?.as_str()
    }

    /// The pod spec's path for people: `spec.template.spec`.
    pub fn spec_path(&self) -> String {
        self.spec_pointer.trim_start_matches('/').replace('/', ".")
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
    fn read(fields: Option<&'a Map<String, Value>>, path: &str) -> Result<Self, Malformed> {
        let list = |key: &str| optional_list(fields.and_then(|f| f.get(key)), &format!("{path}.{key}"));
        let containers = |key: &str| -> Result<Vec<Container<'a>>, Malformed> {
            list(key)?
                .iter()
                .enumerate()
                .map(|(index, c)| Container::read(c, index, &format!("{path}.{key}[{index}]")))
                .collect()
        };
        let volumes = list("volumes")?
            .iter()
            .enumerate()
            .map(|(index, volume)| {
                let at = format!("{path}.volumes[{index}]");
                let fields = volume
                    .as_object()
                    .ok_or_else(|| Malformed::at(&at, "an object"))?;
                Ok((required_str(fields, "name", &format!("{at}.name"))?, volume))
            })
            .collect::<Result<_, _>>()?;
        // Node placement, which the mixed-cluster strategies read and extend.
        optional_str_field(fields, "nodeName", path)?;
        optional_string_map(
            fields.and_then(|f| f.get("nodeSelector")),
            &format!("{path}.nodeSelector"),
        )?;
        let mut node = fields.and_then(|f| f.get("affinity"));
        let mut at = format!("{path}.affinity");
        for key in [
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            "nodeSelectorTerms",
        ] {
            node = optional_object(node, &at)?.and_then(|map| map.get(key));
            at = format!("{at}.{key}");
        }
        for (i, term) in optional_list(node, &at)?.iter().enumerate() {
            let term = term
                .as_object()
                .ok_or_else(|| Malformed::at(&format!("{at}[{i}]"), "an object"))?;
            optional_list(
                term.get("matchExpressions"),
                &format!("{at}[{i}].matchExpressions"),
            )?;
        }
        if let Some(Some(value)) = fields.map(|f| f.get("hostNetwork"))
            && !value.is_boolean()
            && !value.is_null()
        {
            return Err(Malformed::at(&format!("{path}.hostNetwork"), "a boolean"));
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
        self.fields
            .and_then(|f| f.get("affinity"))
            .and_then(|a| a.pointer(REQUIRED_TERMS))
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
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

/// One entry of `containers` or `initContainers`.
#[derive(Debug)]
pub struct Container<'a> {
    pub index: usize,
    /// The whole entry, as the request has it.
    pub value: &'a Value,
    pub name: &'a str,
    pub image: &'a str,
    /// `command` then `args`.
    pub command_line: Vec<&'a str>,
    pub restart_policy: Option<&'a str>,
    /// `(name, value)` of every `env` entry; the value is absent for `valueFrom`.
    pub env: Vec<(&'a str, Option<&'a str>)>,
    /// `(name, mountPath)` of every `volumeMounts` entry.
    pub volume_mounts: Vec<(&'a str, &'a str)>,
}

impl<'a> Container<'a> {
    fn read(value: &'a Value, index: usize, path: &str) -> Result<Self, Malformed> {
        let fields = value
            .as_object()
            .ok_or_else(|| Malformed::at(path, "an object"))?;
        let entries = |key: &str| -> Result<Vec<&'a Map<String, Value>>, Malformed> {
            optional_list(fields.get(key), &format!("{path}.{key}"))?
                .iter()
                .enumerate()
                .map(|(i, entry)| {
                    entry
                        .as_object()
                        .ok_or_else(|| Malformed::at(&format!("{path}.{key}[{i}]"), "an object"))
                })
                .collect()
        };
        let env = entries("env")?
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let at = format!("{path}.env[{i}]");
                Ok((
                    required_str(e, "name", &format!("{at}.name"))?,
                    e.get("value").and_then(Value::as_str),
                ))
            })
            .collect::<Result<_, Malformed>>()?;
        let volume_mounts = entries("volumeMounts")?
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                let at = format!("{path}.volumeMounts[{i}]");
                Ok((
                    required_str(m, "name", &format!("{at}.name"))?,
                    optional_str(m, "mountPath", &format!("{at}.mountPath"))?,
                ))
            })
            .collect::<Result<_, Malformed>>()?;
        let mut command_line = Vec::new();
        for key in ["command", "args"] {
            for (i, word) in optional_list(fields.get(key), &format!("{path}.{key}"))?
                .iter()
                .enumerate()
            {
                command_line.push(
                    word.as_str()
                        .ok_or_else(|| Malformed::at(&format!("{path}.{key}[{i}]"), "a string"))?,
                );
            }
        }
        let restart_policy = optional_str(fields, "restartPolicy", &format!("{path}.restartPolicy"))?;
        Ok(Container {
            index,
            value,
            name: required_str(fields, "name", &format!("{path}.name"))?,
            image: optional_str(fields, "image", &format!("{path}.image"))?,
            command_line,
            restart_policy: Some(restart_policy).filter(|p| !p.is_empty()),
            env,
            volume_mounts,
        })
    }

    pub fn env_value(&self, name: &str) -> Option<&'a str> {
        self.env.iter().find(|(n, _)| *n == name).and_then(|(_, v)| *v)
    }

    pub fn has_env(&self, name: &str) -> bool {
        self.env.iter().any(|(n, _)| *n == name)
    }
}

const REQUIRED_TERMS: &str = "/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms";

fn optional_str_field(fields: Option<&Map<String, Value>>, key: &str, path: &str) -> Result<(), Malformed> {
    match fields {
        Some(fields) => optional_str(fields, key, &format!("{path}.{key}")).map(drop),
        None => Ok(()),
    }
}

/// `/spec/template` -> `spec.template`, for messages.
fn dotted_path(pointer: &str) -> String {
    let dotted = pointer.trim_start_matches('/').replace('/', ".");
    if dotted.is_empty() {
        "object".to_owned()
    } else {
        format!("object.{dotted}")
    }
}

fn optional_object<'a>(
    value: Option<&'a Value>,
    path: &str,
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
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, Malformed> {
    let map = optional_object(value, path)?;
    match map.and_then(|m| m.iter().find(|(_, v)| !v.is_string())) {
        Some((key, _)) => Err(Malformed::at(&format!("{path}.{key}"), "a string")),
        None => Ok(map),
    }
}

fn optional_list<'a>(value: Option<&'a Value>, path: &str) -> Result<&'a [Value], Malformed> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(Malformed::at(path, "a list")),
    }
}

fn optional_str<'a>(fields: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, Malformed> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Malformed::at(path, "a string")),
    }
}

fn required_str<'a>(fields: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, Malformed> {
    match fields.get(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(Malformed::at(path, "a string")),
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
