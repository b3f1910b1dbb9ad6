//! Policy settings: what operators write, checked once and compiled into what
//! the decisions use.
//!
//! Every error names the offending field by its path (`sidecars[1].container.image`),
//! so a typo is refused when the policy loads instead of silently doing nothing.

use std::collections::HashSet;
use std::fmt;

use k8s_openapi::api::core::v1::{Container, EnvVar, Volume, VolumeMount};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::catalog::{SidecarMatcher, repository};
use crate::compat::{self, LEGACY_SUFFIX, Twins, kubelet_minor};
use crate::inject;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// `false`: a validate-only deployment that never returns a patch.
    #[serde(default = "yes")]
    pub mutate: bool,
    #[serde(default)]
    pub sidecars: Vec<SidecarTemplate>,
    #[serde(default)]
    pub inject_host_network_pods: bool,
    /// `false`: `native-sidecar.kubewarden.io/inject: "false"` cannot skip `always` templates.
    #[serde(default = "yes")]
    pub allow_opt_out: bool,
    #[serde(default)]
    pub job_sidecars: JobSidecarsSettings,
    #[serde(default)]
    pub stripped_restart_policy: StrippedSettings,
    #[serde(default)]
    pub native_support: NativeSupportSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mutate: true,
            sidecars: Vec::new(),
            inject_host_network_pods: false,
            allow_opt_out: true,
            job_sidecars: JobSidecarsSettings::default(),
            stripped_restart_policy: StrippedSettings::default(),
            native_support: NativeSupportSettings::default(),
        }
    }
}

/// How to inject where not every node supports native sidecars.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NativeSupportSettings {
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default = "default_min_kubelet")]
    pub min_kubelet_version: String,
    #[serde(default)]
    pub node_label: NodeLabel,
    #[serde(default)]
    pub when_unsupported: WhenUnsupported,
    /// How long the universal injector's regular copy waits for the native one.
    #[serde(default = "default_handshake")]
    pub handshake_timeout_seconds: u32,
}

impl Default for NativeSupportSettings {
    fn default() -> Self {
        NativeSupportSettings {
            strategy: Strategy::default(),
            min_kubelet_version: default_min_kubelet(),
            node_label: NodeLabel::default(),
            when_unsupported: WhenUnsupported::default(),
            handshake_timeout_seconds: default_handshake(),
        }
    }
}

fn default_min_kubelet() -> String {
    "1.29".to_owned()
}

fn default_handshake() -> u32 {
    30
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    /// Native sidecars everywhere.
    #[default]
    Assume,
    /// Judge the nodes' kubelet versions (context-aware).
    NodeVersion,
    /// Native, and require a node label through node affinity.
    NodeLabel,
    /// Both copies, agreeing at run time.
    Universal,
    /// Regular containers, the old way.
    Legacy,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeLabel {
    pub key: String,
    pub value: String,
}

impl Default for NodeLabel {
    fn default() -> Self {
        NodeLabel {
            key: "native-sidecar.kubewarden.io/supported".to_owned(),
            value: "true".to_owned(),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WhenUnsupported {
    #[default]
    Legacy,
    Universal,
    Reject,
}

/// `nativeSupport`, compiled.
#[derive(Debug, Clone)]
pub struct NativeSupport {
    pub strategy: Strategy,
    /// `(major, minor)`.
    pub min_kubelet: (u32, u32),
    pub when_unsupported: WhenUnsupported,
    /// The node-affinity match expression that requires the node label.
    pub label_requirement: Value,
}

impl NativeSupport {
    /// Whether some pod may get the universal injector's two copies.
    pub fn may_use_universal(&self) -> bool {
        self.strategy == Strategy::Universal
            || (self.strategy == Strategy::NodeVersion && self.when_unsupported == WhenUnsupported::Universal)
    }

    /// Whether some pod may get regular-container sidecars.
    fn may_use_legacy(&self) -> bool {
        self.strategy == Strategy::Legacy
            || (self.strategy == Strategy::NodeVersion && self.when_unsupported == WhenUnsupported::Legacy)
    }
}

/// Legacy sidecars (regular containers that never exit) in Job pods.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobSidecarsSettings {
    #[serde(default)]
    pub action: JobSidecarAction,
    /// Extra container names that are sidecars.
    #[serde(default)]
    pub names: Vec<String>,
    /// Extra image prefixes (registry/repo; tags ignored) that are sidecars.
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default = "yes")]
    pub use_builtin_catalog: bool,
}

impl Default for JobSidecarsSettings {
    fn default() -> Self {
        JobSidecarsSettings {
            action: JobSidecarAction::default(),
            names: Vec::new(),
            images: Vec::new(),
            use_builtin_catalog: true,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobSidecarAction {
    #[default]
    Reject,
    Warn,
    /// Move them into `initContainers` as native sidecars (mutating deployments).
    Convert,
    Ignore,
}

/// Init containers that lost `restartPolicy: Always` to an outdated webhook.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StrippedSettings {
    #[serde(default)]
    pub action: StrippedAction,
    /// Compare a Pod with its controller's pod template (context-aware).
    #[serde(default)]
    pub check_owner: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StrippedAction {
    Reject,
    #[default]
    Warn,
    Ignore,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SidecarTemplate {
    pub name: String,
    #[serde(default)]
    pub injection: Injection,
    #[serde(default)]
    pub position: Position,
    /// A core/v1 Container, kept as raw JSON so fields the bindings don't know survive.
    pub container: Map<String, Value>,
    #[serde(default)]
    pub volumes: Vec<Map<String, Value>>,
    #[serde(default)]
    pub app_containers: AppContainers,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppContainers {
    #[serde(default)]
    pub volume_mounts: Vec<Map<String, Value>>,
    #[serde(default)]
    pub env: Vec<Map<String, Value>>,
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

/// A settings error and the path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub path: String,
    pub problem: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() || self.path == "." {
            write!(f, "invalid settings: {}", self.problem)
        } else {
            write!(f, "invalid settings: {}: {}", self.path, self.problem)
        }
    }
}

fn fault(path: impl Into<String>, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        path: path.into(),
        problem: problem.into(),
    }
}

/// Deserialises `value` as `T`, naming the path (under `path`) of the first
/// field that does not fit.
fn typed<'v, T: DeserializeOwned>(value: &'v Value, path: &str) -> Result<T, SettingsError> {
    serde_path_to_error::deserialize::<&'v Value, T>(value).map_err(|e| {
        let inner = e.path().to_string();
        let full = match inner.as_str() {
            "." => path.to_owned(),
            _ if path.is_empty() => inner,
            _ => format!("{path}.{inner}"),
        };
        fault(full, e.into_inner().to_string())
    })
}

/// The type check of one Kubernetes object of a template (at load time only).
fn check_type<T: DeserializeOwned>(object: &Map<String, Value>, path: &str) -> Result<(), SettingsError> {
    typed::<T>(&Value::Object(object.clone()), path).map(drop)
}

/// The settings, checked and turned into what the decisions use.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub mutate: bool,
    pub inject_host_network_pods: bool,
    pub allow_opt_out: bool,
    pub templates: Vec<Template>,
    pub job_sidecars: JobSidecarAction,
    pub stripped: StrippedAction,
    pub check_owner: bool,
    /// What counts as a sidecar, for the Job and stripped-field checks.
    pub sidecar_matcher: SidecarMatcher,
    pub native_support: NativeSupport,
}

/// One sidecar template, ready to insert.
#[derive(Debug, Clone)]
pub struct Template {
    pub id: String,
    pub injection: Injection,
    pub position: Position,
    pub container_name: String,
    /// The init container to insert: the operator's container with
    /// `restartPolicy: Always` and the injection marker.
    pub native_container: Value,
    /// The regular container of the legacy mode, when a strategy may use it.
    pub legacy_container: Option<Value>,
    /// The universal injector's copies, when a strategy may use them.
    pub twins: Option<Twins>,
    /// `(name, definition)` of the volumes the pod needs.
    pub volumes: Vec<(String, Value)>,
    /// Every volume a mount of this template names (the sidecar's and the app containers').
    pub mounted_volumes: Vec<String>,
    /// `(volume name, mountPath, entry)` to add to every regular container.
    pub app_mounts: Vec<(String, String, Value)>,
    /// `(name, entry)` to add to every regular container.
    pub app_env: Vec<(String, Value)>,
}

impl Settings {
    /// Reads settings as Kubewarden hands them over (`null` when none were given).
    pub fn from_value(value: &Value) -> Result<Settings, SettingsError> {
        match value {
            Value::Null => Ok(Settings::default()),
            // serde would read a list as the fields in order: refuse it plainly.
            Value::Object(_) => typed(value, ""),
            _ => Err(fault("", "settings must be a map of keys to values")),
        }
    }

    /// Checks and compiles the settings; consumes them, so that the
    /// templates move into their compiled form instead of being copied.
    pub fn compile(self) -> Result<Compiled, SettingsError> {
        let native_support = self.native_support.compile()?;
        let mut ids = HashSet::new();
        let mut container_names = HashSet::new();
        let handshake_seconds = self.native_support.handshake_timeout_seconds;
        let templates = self
            .sidecars
            .into_iter()
            .enumerate()
            .map(|(i, template)| {
                let path = format!("sidecars[{i}]");
                let compiled = template.compile(&path, &native_support, handshake_seconds)?;
                if !ids.insert(compiled.id.clone()) {
                    return Err(fault(
                        format!("{path}.name"),
                        format!("duplicate template name {:?}", compiled.id),
                    ));
                }
                if !container_names.insert(compiled.container_name.clone()) {
                    return Err(fault(
                        format!("{path}.container.name"),
                        format!(
                            "container {:?} is already injected by another template",
                            compiled.container_name
                        ),
                    ));
                }
                Ok(compiled)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let jobs = &self.job_sidecars;
        if let Some(i) = jobs.names.iter().position(|n| n.trim().is_empty()) {
            return Err(fault(
                format!("jobSidecars.names[{i}]"),
                "a container name is required",
            ));
        }
        let image_prefixes = jobs
            .images
            .iter()
            .enumerate()
            .map(|(i, image)| match repository(image.trim()) {
                "" => Err(fault(
                    format!("jobSidecars.images[{i}]"),
                    "an image prefix is required",
                )),
                repo => Ok(repo.to_owned()),
            })
            .collect::<Result<_, _>>()?;
        Ok(Compiled {
            mutate: self.mutate,
            inject_host_network_pods: self.inject_host_network_pods,
            allow_opt_out: self.allow_opt_out,
            templates,
            job_sidecars: jobs.action,
            stripped: self.stripped_restart_policy.action,
            check_owner: self.stripped_restart_policy.check_owner,
            sidecar_matcher: SidecarMatcher {
                builtin: jobs.use_builtin_catalog,
                names: jobs.names.clone(),
                image_prefixes,
            },
            native_support,
        })
    }
}

impl Settings {
    /// What `validate_settings` checks when the policy loads: the types of
    /// every Kubernetes object in the templates, then all that `compile` checks.
    pub fn check(&self) -> Result<(), String> {
        self.sidecars
            .iter()
            .enumerate()
            .try_for_each(|(i, template)| template.check_types(&format!("sidecars[{i}]")))
            .and_then(|()| self.clone().compile().map(drop))
            .map_err(|e| e.to_string())
    }
}

impl NativeSupportSettings {
    fn compile(&self) -> Result<NativeSupport, SettingsError> {
        let min_kubelet = kubelet_minor(&self.min_kubelet_version).ok_or_else(|| {
            fault(
                "nativeSupport.minKubeletVersion",
                format!("{:?} is not a version like \"1.29\"", self.min_kubelet_version),
            )
        })?;
        label_key(&self.node_label.key).map_err(|p| fault("nativeSupport.nodeLabel.key", p))?;
        label_value(&self.node_label.value).map_err(|p| fault("nativeSupport.nodeLabel.value", p))?;
        if !(1..=600).contains(&self.handshake_timeout_seconds) {
            return Err(fault(
                "nativeSupport.handshakeTimeoutSeconds",
                "must be between 1 and 600",
            ));
        }
        Ok(NativeSupport {
            strategy: self.strategy,
            min_kubelet,
            when_unsupported: self.when_unsupported,
            label_requirement: serde_json::json!({
                "key": self.node_label.key, "operator": "In", "values": [self.node_label.value]}),
        })
    }
}

impl SidecarTemplate {
    /// The full type check of the template's Kubernetes objects, naming the
    /// path of a misfit (`container.ports[0].containerPort: invalid type`). It
    /// runs when the policy loads (`validate_settings`); `compile`, which runs
    /// with every request, reads the fields it needs from the raw JSON.
    fn check_types(&self, path: &str) -> Result<(), SettingsError> {
        check_type::<Container>(&self.container, &format!("{path}.container"))?;
        for (i, volume) in self.volumes.iter().enumerate() {
            check_type::<Volume>(volume, &format!("{path}.volumes[{i}]"))?;
        }
        for (i, mount) in self.app_containers.volume_mounts.iter().enumerate() {
            check_type::<VolumeMount>(mount, &format!("{path}.appContainers.volumeMounts[{i}]"))?;
        }
        for (i, env) in self.app_containers.env.iter().enumerate() {
            check_type::<EnvVar>(env, &format!("{path}.appContainers.env[{i}]"))?;
        }
        Ok(())
    }

    fn compile(
        self,
        path: &str,
        support: &NativeSupport,
        handshake_seconds: u32,
    ) -> Result<Template, SettingsError> {
        let SidecarTemplate {
            name: id,
            injection,
            position,
            container,
            volumes,
            app_containers,
        } = self;
        dns_label(&id).map_err(|p| fault(format!("{path}.name"), p))?;

        let container_path = format!("{path}.container");
        let container_name = text(&container, "name").to_owned();
        dns_label(&container_name).map_err(|p| fault(format!("{container_path}.name"), p))?;
        if text(&container, "image").trim().is_empty() {
            return Err(fault(format!("{container_path}.image"), "an image is required"));
        }
        match text(&container, "restartPolicy") {
            "" | "Always" => {}
            policy => {
                return Err(fault(
                    format!("{container_path}.restartPolicy"),
                    format!("{policy:?}: a native sidecar's restartPolicy is Always (or leave it out)"),
                ));
            }
        }
        if entry_names(&container, "env").any(|name| name == inject::MARKER_ENV) {
            return Err(fault(
                format!("{container_path}.env"),
                format!(
                    "{} is reserved: the policy sets it to mark injected sidecars",
                    inject::MARKER_ENV
                ),
            ));
        }
        if let Position::After(anchor) | Position::Before(anchor) = &position
            && *anchor == container_name
        {
            return Err(fault(
                format!("{path}.position"),
                "a sidecar cannot be placed relative to itself",
            ));
        }

        let mut compiled_volumes: Vec<(String, Value)> = Vec::new();
        for (i, volume) in volumes.into_iter().enumerate() {
            let at = format!("{path}.volumes[{i}]");
            let name = text(&volume, "name").to_owned();
            dns_label(&name).map_err(|p| fault(format!("{at}.name"), p))?;
            if compiled_volumes.iter().any(|(known, _)| *known == name) {
                return Err(fault(format!("{at}.name"), format!("duplicate volume {name:?}")));
            }
            compiled_volumes.push((name, Value::Object(volume)));
        }

        let mut app_mounts: Vec<(String, String, Value)> = Vec::new();
        for (i, mount) in app_containers.volume_mounts.into_iter().enumerate() {
            let at = format!("{path}.appContainers.volumeMounts[{i}]");
            let (name, mount_path) = (
                text(&mount, "name").to_owned(),
                text(&mount, "mountPath").to_owned(),
            );
            if name.is_empty() {
                return Err(fault(format!("{at}.name"), "a volume name is required"));
            }
            if mount_path.is_empty() {
                return Err(fault(format!("{at}.mountPath"), "a mountPath is required"));
            }
            if app_mounts.iter().any(|(_, known, _)| *known == mount_path) {
                return Err(fault(
                    format!("{at}.mountPath"),
                    format!("duplicate mountPath {mount_path:?}"),
                ));
            }
            app_mounts.push((name, mount_path, Value::Object(mount)));
        }

        let mut app_env: Vec<(String, Value)> = Vec::new();
        for (i, env) in app_containers.env.into_iter().enumerate() {
            let at = format!("{path}.appContainers.env[{i}]");
            let name = text(&env, "name").to_owned();
            if name.is_empty() {
                return Err(fault(format!("{at}.name"), "a name is required"));
            }
            if app_env.iter().any(|(known, _)| *known == name) {
                return Err(fault(
                    format!("{at}.name"),
                    format!("duplicate variable {name:?}"),
                ));
            }
            app_env.push((name, Value::Object(env)));
        }

        let mut mounted_volumes: Vec<String> = Vec::new();
        for name in
            entry_names(&container, "volumeMounts").chain(app_mounts.iter().map(|(n, _, _)| n.as_str()))
        {
            if !mounted_volumes.iter().any(|known| known == name) {
                mounted_volumes.push(name.to_owned());
            }
        }

        if support.may_use_universal() {
            universal_ready(&container, &container_path)?;
        }
        let legacy_container = support
            .may_use_legacy()
            .then(|| inject::legacy_container(container.clone(), &id));
        let native_container = inject::native_container(container, &id);
        let twins = match (support.may_use_universal(), native_container.as_object()) {
            (true, Some(native)) => Some(compat::universal_twins(native, &id, handshake_seconds)),
            _ => None,
        };
        Ok(Template {
            id,
            injection,
            position,
            legacy_container,
            twins,
            native_container,
            container_name,
            volumes: compiled_volumes,
            mounted_volumes,
            app_mounts,
            app_env,
        })
    }
}

/// A string field of a raw object; "" when absent (or not a string, which
/// the type check reports when the policy loads).
fn text<'m>(object: &'m Map<String, Value>, key: &str) -> &'m str {
    object.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The `name` of every entry of the list `key` of a raw object.
fn entry_names<'m>(object: &'m Map<String, Value>, key: &str) -> impl Iterator<Item = &'m str> {
    object
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("name")?.as_str())
}

/// The universal injector wraps the sidecar's command in a shell shim, and its
/// init copy must pass the API server's validation as a *plain* init container
/// where the field is dropped.
fn universal_ready(container: &Map<String, Value>, path: &str) -> Result<(), SettingsError> {
    let why = "the universal injector needs it";
    if container
        .get("command")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(fault(
            format!("{path}.command"),
            format!(
                "{why}: it runs the sidecar's command through /bin/sh, and an image's entrypoint cannot be \
                 read at admission; give the command (and an image with /bin/sh)"
            ),
        ));
    }
    let forbidden = ["livenessProbe", "readinessProbe", "startupProbe", "lifecycle"];
    if let Some(field) = forbidden
        .iter()
        .find(|f| container.get(**f).is_some_and(|v| !v.is_null()))
    {
        return Err(fault(
            format!("{path}.{field}"),
            "not possible with the universal injector: where native sidecars are unsupported the API \
             server rejects an init container that has it",
        ));
    }
    if text(container, "name").len() + LEGACY_SUFFIX.len() > 63 {
        return Err(fault(
            format!("{path}.name"),
            format!(
                "at most {} characters with the universal injector (its copy is named <name>{LEGACY_SUFFIX})",
                63 - LEGACY_SUFFIX.len()
            ),
        ));
    }
    Ok(())
}

/// A label key: an optional DNS-subdomain prefix and a name of at most 63.
fn label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    let prefix_ok = prefix.len() <= 253
        && prefix
            .split('.')
            .all(|part| prefix.is_empty() || dns_label(part).is_ok());
    if prefix_ok && label_value(name).is_ok() && !name.is_empty() {
        Ok(())
    } else {
        Err(format!("{key:?} is not a label key"))
    }
}

/// A label value: at most 63 of alphanumerics, '-', '_', '.', alphanumeric at both ends.
fn label_value(value: &str) -> Result<(), String> {
    let ends_ok = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    let well_formed = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && ends_ok(value.chars().next())
        && ends_ok(value.chars().last());
    if well_formed {
        Ok(())
    } else {
        Err(format!("{value:?} is not a label value"))
    }
}

/// Kubernetes' DNS-1123 label: what container, volume and template names must be.
fn dns_label(name: &str) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn template(extra: Value) -> Value {
        let mut base =
            json!({"name": "log", "container": {"name": "shipper", "image": "fluent/fluent-bit:3"}});
        if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
            base.extend(extra);
        }
        base
    }

    fn error_of(settings: Value) -> String {
        match Settings::from_value(&settings)
            .map_err(|e| e.to_string())
            .and_then(|s| s.check())
        {
            Ok(()) => "accepted".to_owned(),
            Err(e) => e,
        }
    }

    #[rstest]
    #[case::typo_at_top(json!({"sidecar": []}), "invalid settings: sidecar: unknown field `sidecar`")]
    #[case::typo_in_template(json!({"sidecars": [template(json!({"postion": "last"}))]}), "sidecars[0].postion: unknown field `postion`")]
    #[case::bad_injection(json!({"sidecars": [template(json!({"injection": "sometimes"}))]}), "sidecars[0].injection: unknown variant `sometimes`")]
    #[case::bad_position(json!({"sidecars": [template(json!({"position": "middle"}))]}), "sidecars[0].position: \"middle\" is not a position")]
    #[case::bad_anchor(json!({"sidecars": [template(json!({"position": "after:Bad_Name"}))]}), "sidecars[0].position: \"after:Bad_Name\": \"Bad_Name\" is not a DNS-1123 label")]
    #[case::self_anchor(json!({"sidecars": [template(json!({"position": "before:shipper"}))]}), "sidecars[0].position: a sidecar cannot be placed relative to itself")]
    #[case::bad_name(json!({"sidecars": [template(json!({"name": "Log"}))]}), "sidecars[0].name: \"Log\" is not a DNS-1123 label")]
    #[case::no_image(json!({"sidecars": [template(json!({"container": {"name": "c"}}))]}), "sidecars[0].container.image: an image is required")]
    #[case::no_container_name(json!({"sidecars": [template(json!({"container": {"image": "i"}}))]}), "sidecars[0].container.name: a name is required")]
    #[case::wrong_type(json!({"sidecars": [template(json!({"container": {"name": "c", "image": "i", "ports": [{"containerPort": "80"}]}}))]}), "sidecars[0].container.ports[0].containerPort: invalid type")]
    #[case::restart_never(json!({"sidecars": [template(json!({"container": {"name": "c", "image": "i", "restartPolicy": "Never"}}))]}), "sidecars[0].container.restartPolicy: \"Never\": a native sidecar's restartPolicy is Always")]
    #[case::marker_reserved(json!({"sidecars": [template(json!({"container": {"name": "c", "image": "i", "env": [{"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "x"}]}}))]}), "sidecars[0].container.env: KUBEWARDEN_NATIVE_SIDECAR is reserved")]
    #[case::duplicate_template(json!({"sidecars": [template(json!({})), template(json!({"container": {"name": "other", "image": "i"}}))]}), "sidecars[1].name: duplicate template name \"log\"")]
    #[case::duplicate_container(json!({"sidecars": [template(json!({})), template(json!({"name": "other"}))]}), "sidecars[1].container.name: container \"shipper\" is already injected by another template")]
    #[case::volume_without_name(json!({"sidecars": [template(json!({"volumes": [{"emptyDir": {}}]}))]}), "sidecars[0].volumes[0].name: a name is required")]
    #[case::duplicate_volume(json!({"sidecars": [template(json!({"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]}))]}), "sidecars[0].volumes[1].name: duplicate volume \"v\"")]
    #[case::app_mount_without_path(json!({"sidecars": [template(json!({"appContainers": {"volumeMounts": [{"name": "v"}]}}))]}), "sidecars[0].appContainers.volumeMounts[0].mountPath: a mountPath is required")]
    #[case::app_env_duplicate(json!({"sidecars": [template(json!({"appContainers": {"env": [{"name": "A"}, {"name": "A"}]}}))]}), "sidecars[0].appContainers.env[1].name: duplicate variable \"A\"")]
    #[case::not_an_object(json!([1]), "invalid settings: settings must be a map")]
    #[case::job_action(json!({"jobSidecars": {"action": "fix"}}), "jobSidecars.action: unknown variant `fix`")]
    #[case::job_typo(json!({"jobSidecars": {"image": ["x"]}}), "jobSidecars.image: unknown field `image`")]
    #[case::job_empty_name(json!({"jobSidecars": {"names": ["a", " "]}}), "jobSidecars.names[1]: a container name is required")]
    #[case::job_empty_image(json!({"jobSidecars": {"images": [""]}}), "jobSidecars.images[0]: an image prefix is required")]
    #[case::stripped_action(json!({"strippedRestartPolicy": {"action": "convert"}}), "strippedRestartPolicy.action: unknown variant `convert`")]
    #[case::strategy(json!({"nativeSupport": {"strategy": "auto"}}), "nativeSupport.strategy: unknown variant `auto`")]
    #[case::min_version(json!({"nativeSupport": {"minKubeletVersion": "latest"}}), "nativeSupport.minKubeletVersion: \"latest\" is not a version")]
    #[case::label_key(json!({"nativeSupport": {"nodeLabel": {"key": "a b", "value": "x"}}}), "nativeSupport.nodeLabel.key: \"a b\" is not a label key")]
    #[case::label_value(json!({"nativeSupport": {"nodeLabel": {"key": "k", "value": "-x"}}}), "nativeSupport.nodeLabel.value: \"-x\" is not a label value")]
    #[case::handshake(json!({"nativeSupport": {"handshakeTimeoutSeconds": 0}}), "nativeSupport.handshakeTimeoutSeconds: must be between 1 and 600")]
    #[case::universal_needs_command(json!({"nativeSupport": {"strategy": "universal"}, "sidecars": [template(json!({}))]}), "sidecars[0].container.command: the universal injector needs it")]
    #[case::universal_fallback_needs_command(json!({"nativeSupport": {"strategy": "nodeVersion", "whenUnsupported": "universal"}, "sidecars": [template(json!({}))]}), "sidecars[0].container.command")]
    #[case::universal_no_probes(json!({"nativeSupport": {"strategy": "universal"}, "sidecars": [template(json!({"container": {"name": "c", "image": "i", "command": ["run"], "startupProbe": {"exec": {"command": ["true"]}}}}))]}), "sidecars[0].container.startupProbe: not possible with the universal injector")]
    fn bad_settings_are_refused_naming_the_field(#[case] settings: Value, #[case] expected: &str) {
        let error = error_of(settings);
        assert!(error.contains(expected), "{error:?} should contain {expected:?}");
    }

    #[rstest]
    #[case::none(Value::Null)]
    #[case::empty(json!({}))]
    #[case::full(json!({"mutate": false, "injectHostNetworkPods": true, "allowOptOut": false,
        "jobSidecars": {"action": "convert", "names": ["proxy"], "images": ["registry.corp/sidecars/"], "useBuiltinCatalog": false},
        "strippedRestartPolicy": {"action": "reject", "checkOwner": true},
        "nativeSupport": {"strategy": "nodeVersion", "minKubeletVersion": "v1.30", "whenUnsupported": "legacy",
                          "nodeLabel": {"key": "example.io/sidecars", "value": "yes"}, "handshakeTimeoutSeconds": 5},
        "sidecars": [
        template(json!({"injection": "always", "position": "after:istio-proxy",
            "volumes": [{"name": "logs", "emptyDir": {}}],
            "appContainers": {"volumeMounts": [{"name": "logs", "mountPath": "/var/log/app"}],
                              "env": [{"name": "LOG_DIR", "value": "/var/log/app"}]}})),
        {"name": "proxy", "position": "last", "container": {"name": "proxy", "image": "envoy", "restartPolicy": "Always",
            "futureField": {"kept": true}}}]}))]
    #[case::universal(json!({"nativeSupport": {"strategy": "universal"}, "sidecars": [
        template(json!({"container": {"name": "shipper", "image": "i", "command": ["fluent-bit"], "args": ["-c", "x"]}}))]}))]
    fn good_settings_compile(#[case] settings: Value) {
        assert_eq!(error_of(settings), "accepted");
    }

    #[test]
    fn compiled_template_is_the_operators_container_made_native_and_marked() {
        let settings = json!({"sidecars": [template(json!({
            "container": {"name": "shipper", "image": "fluent/fluent-bit:3", "futureField": 7,
                          "env": [{"name": "A", "value": "1"}],
                          "volumeMounts": [{"name": "pod-vol", "mountPath": "/p"}]},
            "appContainers": {"volumeMounts": [{"name": "logs", "mountPath": "/l"}]}}))]});
        let compiled = Settings::from_value(&settings)
            .and_then(|s| s.compile())
            .expect("valid");
        let template = compiled.templates.first().expect("one template");
        assert_eq!(
            template.native_container,
            json!({"name": "shipper", "image": "fluent/fluent-bit:3", "futureField": 7, "restartPolicy": "Always",
                   "env": [{"name": "A", "value": "1"}, {"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "log"}],
                   "volumeMounts": [{"name": "pod-vol", "mountPath": "/p"}]})
        );
        assert_eq!(
            template.mounted_volumes,
            vec!["pod-vol".to_owned(), "logs".to_owned()]
        );
        assert!(compiled.mutate && compiled.allow_opt_out && !compiled.inject_host_network_pods);
    }
}
