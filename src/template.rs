//! A sidecar template as the policy writes it into pods: the containers it
//! compiles to (the native sidecar, the legacy container, the universal
//! injector's two copies), where it goes, and every name the policy writes into
//! a pod (annotations, the marker env var, the copies' names and volume). The
//! settings compile templates with it; every rule reads them from it. It uses
//! no other module of the policy but `quantity`.

use std::fmt;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::quantity::Quantity;

/// Pod annotation (or label) that picks templates: `"true"`, `"false"` or `"a,b"`.
pub const INJECT_KEY: &str = "native-sidecar.kubewarden.io/inject";
/// Pod annotation recording what was injected (JSON).
pub const STATUS_KEY: &str = "native-sidecar.kubewarden.io/status";
/// Audit annotation (in the API server's audit log, under the policy's
/// webhook name) naming `injection: always` templates a pod did not get.
pub const NOT_INJECTED_AUDIT_KEY: &str = "sidecars-not-injected";
/// Pod annotation naming containers that end on their own (`"a,b"`), which
/// the never-ending-command heuristic then leaves alone.
pub const ONE_SHOT_KEY: &str = "native-sidecar.kubewarden.io/one-shot";
/// The node label the `nodeLabel` strategy requires unless the settings name another.
pub const SUPPORTED_NODE_LABEL: &str = "native-sidecar.kubewarden.io/supported";
/// Env var set on every injected sidecar, its value the template name. It lives
/// in a field every Kubernetes client knows, so it survives a webhook that
/// strips `restartPolicy` and lets the stripped-field check find the victim.
pub const MARKER_ENV: &str = "KUBEWARDEN_NATIVE_SIDECAR";

/// The marker's value on a legacy sidecar the policy converted
/// (`jobSidecars.action: convert`): not a template name, which is a DNS label.
pub const CONVERTED: &str = "(converted)";

/// A container made a native sidecar and marked: the operator's container, as
/// a template inserts it (built once, when the settings are compiled), or a
/// pod's legacy sidecar, converted (marked `CONVERTED`). A container that
/// carries a marker keeps it.
pub fn native_container(mut native: Map<String, Value>, marker: &str) -> Value {
    native.insert("restartPolicy".to_owned(), json!("Always"));
    let marker = json!({"name": MARKER_ENV, "value": marker});
    match native.get_mut("env") {
        Some(Value::Array(env))
            if env
                .iter()
                .any(|e| e.get("name").and_then(Value::as_str) == Some(MARKER_ENV)) => {}
        Some(Value::Array(env)) => env.push(marker),
        _ => {
            native.insert("env".to_owned(), json!([marker]));
        }
    }
    Value::Object(native)
}

/// The regular container of the legacy mode: the operator's container as it
/// is (no `restartPolicy`), marked. Built once, when the settings are compiled.
pub fn legacy_container(container: Map<String, Value>, template_id: &str) -> Value {
    let mut legacy = native_container(container, template_id);
    if let Some(fields) = legacy.as_object_mut() {
        fields.remove("restartPolicy");
    }
    legacy
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Injection {
    /// Injected when the pod asks for it.
    #[default]
    OptIn,
    /// Injected into every pod in scope unless it opts out.
    Always,
}

/// Where in `initContainers` a sidecar goes.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Position {
    #[default]
    First,
    Last,
    After(String),
    Before(String),
}

impl TryFrom<String> for Position {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let anchored = |name: &str, make: fn(String) -> Position| {
            dns_label(name)
                .map(|()| make(name.to_owned()))
                .map_err(|problem| format!("{text:?}: {problem}"))
        };
        match text.split_once(':') {
            None if text == "first" => Ok(Position::First),
            None if text == "last" => Ok(Position::Last),
            Some(("after", name)) => anchored(name, Position::After),
            Some(("before", name)) => anchored(name, Position::Before),
            _ => Err(format!(
                "{text:?} is not a position: use first, last, after:<container> or before:<container>"
            )),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::First => f.write_str("first"),
            Position::Last => f.write_str("last"),
            Position::After(name) => write!(f, "after:{name}"),
            Position::Before(name) => write!(f, "before:{name}"),
        }
    }
}

/// One sidecar template, ready to insert.
#[derive(Debug, Clone)]
pub struct Template {
    pub id: String,
    pub injection: Injection,
    pub position: Position,
    pub container_name: String,
    /// The init container to insert: the operator's container with
    /// `restartPolicy: Always` and the injection marker. (The objects a
    /// template inserts are shared with the plan's edits: see `plan::Edit`.)
    pub native_container: Rc<Value>,
    /// The regular container of the legacy mode, when a strategy may use it.
    pub legacy_container: Option<Rc<Value>>,
    /// The universal injector's copies, when a strategy may use them.
    pub twins: Option<Twins>,
    /// `(name, definition)` of the volumes the pod needs.
    pub volumes: Vec<(String, Rc<Value>)>,
    /// Every volume a mount of this template names (the sidecar's and the app containers').
    pub mounted_volumes: Vec<String>,
    /// `(volume name, mountPath, entry)` to add to every regular container.
    pub app_mounts: Vec<(String, String, Rc<Value>)>,
    /// `(name, entry)` to add to every regular container.
    pub app_env: Vec<(String, Rc<Value>)>,
    /// The container's settings a Windows pod may not have (`securityContext.runAsUser`…).
    pub linux_only: Vec<String>,
    /// The container's settings a Linux pod may not have (`securityContext.windowsOptions`).
    pub windows_only: Vec<String>,
    /// What one copy of the sidecar asks of a node.
    pub demand: Demand,
}

/// What a container asks of its node, per resource: `(resource, request,
/// bound)`, the request being its limit where it sets none (as the API server
/// defaults it), the bound its limit, or its request where it sets none (what
/// a pod-level limit must make room for, keeping requests within limits).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Demand(pub Vec<(String, Quantity, Quantity)>);

impl Demand {
    /// The demand of `container`'s `resources`; `Err` names the quantity
    /// (`requests.cpu`) that is not one.
    pub fn of(container: &Map<String, Value>) -> Result<Demand, String> {
        let list = |key: &str| {
            container
                .get("resources")
                .and_then(|r| r.get(key))
                .and_then(Value::as_object)
        };
        let read = |key: &str, resource: &str| -> Result<Option<Quantity>, String> {
            match list(key).and_then(|l| l.get(resource)) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => Quantity::read(value)
                    .map(Some)
                    .ok_or_else(|| format!("{key}.{resource}: {value} is not a quantity")),
            }
        };
        let mut resources: Vec<&String> = list("requests").into_iter().flat_map(Map::keys).collect();
        for resource in list("limits").into_iter().flat_map(Map::keys) {
            if !resources.contains(&resource) {
                resources.push(resource);
            }
        }
        let mut demand = Vec::new();
        for resource in resources {
            let limit = read("limits", resource)?;
            if let Some(request) = read("requests", resource)?.or(limit) {
                demand.push((resource.clone(), request, limit.unwrap_or(request)));
            }
        }
        Ok(Demand(demand))
    }

    /// `self` and `other` together; `None` past what a quantity holds.
    pub fn plus(&self, other: &Demand) -> Option<Demand> {
        let mut total = self.0.clone();
        for (resource, request, bound) in &other.0 {
            match total.iter_mut().find(|(r, ..)| r == resource) {
                Some((_, r, b)) => {
                    *r = r.checked_add(*request)?;
                    *b = b.checked_add(*bound)?;
                }
                None => total.push((resource.clone(), *request, *bound)),
            }
        }
        Some(Demand(total))
    }
}

/// `securityContext` fields the API server refuses in a pod with
/// `spec.os.name: windows` (Kubernetes `pkg/apis/core/validation`,
/// `validateWindows`).
const LINUX_ONLY_SECURITY: [&str; 10] = [
    "seLinuxOptions",
    "seccompProfile",
    "appArmorProfile",
    "capabilities",
    "readOnlyRootFilesystem",
    "privileged",
    "allowPrivilegeEscalation",
    "procMount",
    "runAsUser",
    "runAsGroup",
];

/// The `securityContext` field the API server refuses in a pod with
/// `spec.os.name: linux` (the same function).
const WINDOWS_ONLY_SECURITY: [&str; 1] = ["windowsOptions"];

/// The Linux-only settings `container` has, as `securityContext.<field>`.
pub fn linux_only(container: &Map<String, Value>) -> Vec<String> {
    security_fields(container, &LINUX_ONLY_SECURITY)
}

/// The Windows-only settings `container` has, as `securityContext.<field>`.
pub fn windows_only(container: &Map<String, Value>) -> Vec<String> {
    security_fields(container, &WINDOWS_ONLY_SECURITY)
}

fn security_fields(container: &Map<String, Value>, fields: &[&str]) -> Vec<String> {
    let Some(security) = container.get("securityContext").and_then(Value::as_object) else {
        return Vec::new();
    };
    fields
        .iter()
        .filter(|field| security.get(**field).is_some_and(|v| !v.is_null()))
        .map(|field| format!("securityContext.{field}"))
        .collect()
}

impl Template {
    /// Every container this template may write into a pod.
    pub fn forms(&self) -> impl Iterator<Item = &Value> {
        [
            Some(&*self.native_container),
            self.legacy_container.as_deref(),
            self.twins.as_ref().map(|t| &*t.native),
            self.twins.as_ref().map(|t| &*t.legacy),
        ]
        .into_iter()
        .flatten()
    }
}

/// The universal injector's shim, run by `sh -c` in both copies.
const SHIM: &str = include_str!("shim.sh");
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
    pub volume: Rc<Value>,
    /// Init container, `restartPolicy: Always`, named as the template's container.
    pub native: Rc<Value>,
    /// Regular container, named `<name>-legacy`: it runs the sidecar where
    /// the native copy cannot, and idles otherwise.
    pub legacy: Rc<Value>,
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
        env.retain(|e| e.get("name").and_then(Value::as_str) != Some(MARKER_ENV));
    }
    Twins {
        volume: json!({"name": HANDSHAKE_VOLUME, "emptyDir": {}}).into(),
        native: Value::Object(wrapped("native")).into(),
        legacy: Value::Object(legacy).into(),
    }
}

/// Kubernetes' DNS-1123 label: what container, volume and template names must be.
pub fn dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name is required".to_owned());
    }
    let well_formed = name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a DNS-1123 label (lower-case letters, digits and '-', at most 63)"
        ))
    }
}
