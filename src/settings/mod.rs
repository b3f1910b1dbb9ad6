//! Policy settings: what operators write (this file), checked once (`checks`)
//! and compiled into what the decisions use (`compiled`).
//!
//! Every error names the offending field by its path (`sidecars[1].container.image`),
//! so a typo is refused when the policy loads instead of silently doing nothing.

mod checks;
mod compiled;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

pub use checks::{SettingsError, kubelet_minor};
pub use compiled::{Compiled, NativeSupport, SidecarMatcher};

use crate::path::Path;
use crate::template::{Injection, Position, SUPPORTED_NODE_LABEL};

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
    /// The node pools, by the label that names them and its values: under
    /// `nodeVersion`, a pod whose `nodeSelector` names one of them is judged
    /// by that pool's nodes, which the host lists by label selector. Only
    /// listed pools: the policy-server keeps a watch per distinct selector
    /// for as long as it runs, and a pod's own values are anyone's.
    #[serde(default)]
    pub node_pools: BTreeMap<String, Vec<String>>,
}

impl Default for NativeSupportSettings {
    fn default() -> Self {
        NativeSupportSettings {
            strategy: Strategy::default(),
            min_kubelet_version: default_min_kubelet(),
            node_label: NodeLabel::default(),
            when_unsupported: WhenUnsupported::default(),
            handshake_timeout_seconds: default_handshake(),
            node_pools: BTreeMap::new(),
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
            key: SUPPORTED_NODE_LABEL.to_owned(),
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
    /// How each service mesh injects its proxy where a pod does not say: only
    /// the operator knows (it is the mesh's own configuration).
    #[serde(default)]
    pub meshes: MeshDefaults,
    /// Containers whose command line cannot end (a heuristic, see `endless`).
    #[serde(default)]
    pub endless_commands: EndlessAction,
    /// Controller kinds, besides Job, whose pods are checked (`jobs::in_scope`).
    #[serde(default)]
    pub owner_kinds: Vec<String>,
}

impl Default for JobSidecarsSettings {
    fn default() -> Self {
        JobSidecarsSettings {
            action: JobSidecarAction::default(),
            names: Vec::new(),
            images: Vec::new(),
            use_builtin_catalog: true,
            meshes: MeshDefaults::default(),
            endless_commands: EndlessAction::default(),
            owner_kinds: Vec::new(),
        }
    }
}

/// `jobSidecars.meshes`: a mesh left out is not predicted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshDefaults {
    pub istio: Option<MeshMode>,
    pub linkerd: Option<MeshMode>,
}

/// How a mesh injects its proxy when the pod does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MeshMode {
    /// As a regular container (the meshes' default before their native modes).
    Legacy,
    /// As a native sidecar.
    Native,
    /// Istio's `ENABLE_NATIVE_SIDECARS=auto`, its default from 1.27: native
    /// where every node the pod may run on runs kubelet 1.33 or later.
    Auto,
}

/// What to do with a container whose command line cannot end: a heuristic,
/// so it warns unless told otherwise.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndlessAction {
    #[default]
    Warn,
    Reject,
    Ignore,
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

impl Settings {
    /// Reads settings as Kubewarden hands them over (`null` when none were
    /// given), tracking the path of every field to name a misfit: what the
    /// front ends that hold settings as a `Value` read, once each.
    pub fn from_value(value: &Value) -> Result<Settings, SettingsError> {
        match value {
            Value::Null => Ok(Settings::default()),
            // serde would read a list as the fields in order: refuse it plainly.
            Value::Object(_) => checks::typed(value, None),
            _ => Err(checks::fault("", "settings must be a map of keys to values")),
        }
    }

    /// Reads settings from their JSON text, as the policy module gets them
    /// with every request: a map straight into the types, without a `Value`
    /// built to be copied, and without tracking the path of every field
    /// (half the reading); anything else, and a misfit to be named, through
    /// `from_value`.
    pub fn from_json(text: &[u8]) -> Result<Settings, SettingsError> {
        match is_json_map(text).then(|| serde_json::from_slice(text)) {
            Some(Ok(settings)) => Ok(settings),
            _ => serde_json::from_slice::<Value>(text)
                .map_err(|e| checks::fault("", format!("not JSON: {e}")))
                .and_then(|value| Settings::from_value(&value)),
        }
    }

    /// Settings as `validate_settings` takes them: read, then checked; `Err`
    /// is the message that names the field at fault. What every front end
    /// that is handed settings (the module, the playground, the command) runs.
    pub fn checked(value: &Value) -> Result<Settings, String> {
        let settings = Settings::from_value(value).map_err(|e| e.to_string())?;
        settings.check()?;
        Ok(settings)
    }

    /// What `validate_settings` checks when the policy loads: the types of
    /// every Kubernetes object in the templates, then all that `compile` checks.
    pub fn check(&self) -> Result<(), String> {
        self.sidecars
            .iter()
            .enumerate()
            .try_for_each(|(i, template)| {
                checks::template_types(template, &Path::Index(&Path::Root("sidecars"), i))
            })
            .and_then(|()| self.clone().compile().map(drop))
            .map_err(|e| e.to_string())
    }

    /// Checks and compiles the settings; consumes them, so that the
    /// templates move into their compiled form instead of being copied.
    pub fn compile(self) -> Result<Compiled, SettingsError> {
        let meshes = compiled::meshes(self.job_sidecars.meshes)?;
        let mut native_support = compiled::native_support(&self.native_support)?;
        native_support.cluster_oldest = meshes.istio == Some(MeshMode::Auto);
        let handshake_seconds = self.native_support.handshake_timeout_seconds;
        Ok(Compiled {
            mutate: self.mutate,
            inject_host_network_pods: self.inject_host_network_pods,
            allow_opt_out: self.allow_opt_out,
            templates: compiled::templates(self.sidecars, &native_support, handshake_seconds)?,
            job_sidecars: self.job_sidecars.action,
            meshes,
            endless_commands: self.job_sidecars.endless_commands,
            owner_kinds: compiled::owner_kinds(&self.job_sidecars)?,
            stripped: self.stripped_restart_policy.action,
            check_owner: self.stripped_restart_policy.check_owner,
            sidecar_matcher: compiled::sidecar_matcher(&self.job_sidecars)?,
            native_support,
        })
    }
}

/// Whether JSON text is a map (its first character is `{`): serde reads a
/// struct from a list too, field by field, which neither settings nor a
/// validation payload may be.
pub fn is_json_map(text: &[u8]) -> bool {
    text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
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
    #[case::volume_name_type(json!({"sidecars": [template(json!({"volumes": [{"name": 5, "emptyDir": {}}]}))]}), "sidecars[0].volumes[0].name: invalid type: integer `5`, expected a string")]
    #[case::volume_source_type(json!({"sidecars": [template(json!({"volumes": [{"name": "v", "configMap": {"name": "c", "defaultMode": "0644"}}]}))]}), "sidecars[0].volumes[0].configMap.defaultMode: invalid type")]
    #[case::volume_projection_type(json!({"sidecars": [template(json!({"volumes": [{"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": "1h"}}]}}]}))]}), "sidecars[0].volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds: invalid type")]
    #[case::ephemeral_spec_type(json!({"sidecars": [template(json!({"volumes": [{"name": "v", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": "ReadWriteOnce"}}}}]}))]}), "sidecars[0].volumes[0].ephemeral.volumeClaimTemplate.spec.accessModes: invalid type")]
    #[case::ephemeral_without_spec(json!({"sidecars": [template(json!({"volumes": [{"name": "v", "ephemeral": {"volumeClaimTemplate": {}}}]}))]}), "sidecars[0].volumes[0].ephemeral.volumeClaimTemplate: missing field `spec`")]
    #[case::ephemeral_metadata_name(json!({"sidecars": [template(json!({"volumes": [{"name": "v", "ephemeral": {"volumeClaimTemplate": {"metadata": {"name": "x"}, "spec": {}}}}]}))]}), "sidecars[0].volumes[0].ephemeral.volumeClaimTemplate.metadata.name: unknown field `name`, expected `labels` or `annotations`")]
    #[case::ephemeral_label_type(json!({"sidecars": [template(json!({"volumes": [{"name": "v", "ephemeral": {"volumeClaimTemplate": {"metadata": {"labels": {"a": 1}}, "spec": {}}}}]}))]}), "sidecars[0].volumes[0].ephemeral.volumeClaimTemplate.metadata.labels.a: invalid type")]
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
    #[case::pool_key_without_prefix(json!({"nativeSupport": {"nodePools": {"/pool": ["a"]}}}), "nativeSupport.nodePools./pool: \"/pool\" is not a label key")]
    #[case::pool_value(json!({"nativeSupport": {"nodePools": {"pool": ["a", "b,c"]}}}), "nativeSupport.nodePools.pool[1]: \"b,c\" is not a label value")]
    #[case::universal_needs_command(json!({"nativeSupport": {"strategy": "universal"}, "sidecars": [template(json!({}))]}), "sidecars[0].container.command: the universal injector needs it")]
    #[case::universal_fallback_needs_command(json!({"nativeSupport": {"strategy": "nodeVersion", "whenUnsupported": "universal"}, "sidecars": [template(json!({}))]}), "sidecars[0].container.command")]
    #[case::universal_no_probes(json!({"nativeSupport": {"strategy": "universal"}, "sidecars": [template(json!({"container": {"name": "c", "image": "i", "command": ["run"], "startupProbe": {"exec": {"command": ["true"]}}}}))]}), "sidecars[0].container.startupProbe: not possible with the universal injector")]
    fn bad_settings_are_refused_naming_the_field(#[case] settings: Value, #[case] expected: &str) {
        let error = error_of(settings);
        assert!(error.contains(expected), "{error:?} should contain {expected:?}");
    }

    /// What the policy module reads (`from_json`, the payload's text) says
    /// what the front ends that hold a `Value` read (`from_value`).
    #[rstest]
    #[case::null("null", "accepted")]
    #[case::padded_map(" \n{\"mutate\": false}", "accepted")]
    #[case::list("[true]", "invalid settings: settings must be a map of keys to values")]
    #[case::misfit(
        r#"{"sidecars": [{"name": "a", "container": {"name": "a", "image": "i"}, "postion": "x"}]}"#,
        "invalid settings: sidecars[0].postion: unknown field `postion`"
    )]
    #[case::not_json(r#"{"mutate": "#, "invalid settings: not JSON: EOF while parsing")]
    #[case::trailing("{} {}", "invalid settings: not JSON: trailing characters")]
    fn settings_text_reads_as_its_value(#[case] text: &str, #[case] expected: &str) {
        let from_text = match Settings::from_json(text.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|s| s.check())
        {
            Ok(()) => "accepted".to_owned(),
            Err(e) => e,
        };
        assert!(
            from_text.starts_with(expected),
            "{from_text:?} should start with {expected:?}"
        );
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            assert_eq!(from_text, error_of(value));
        }
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
            "volumes": [{"name": "logs", "emptyDir": {}},
                        {"name": "scratch", "emptyDir": null, "futureSource": {"x": 1},
                         "ephemeral": {"volumeClaimTemplate": {"metadata": {"labels": {"app": "x"}, "annotations": {"a": "b"}},
                             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}}],
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
            *template.native_container,
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
