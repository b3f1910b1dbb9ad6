//! Settings compiled into what the decisions use: templates turned into the
//! containers they insert, names and image prefixes normalised, once.

use std::collections::HashSet;
use std::rc::Rc;

use serde_json::{Map, Value};

use super::checks::{entry_names, fault, kubelet_minor, label_key, label_value, text, universal_ready};
use super::{
    AppContainers, EndlessAction, JobSidecarAction, JobSidecarsSettings, MeshDefaults, MeshMode,
    NativeSupportSettings, SettingsError, SidecarTemplate, Strategy, StrippedAction, WhenUnsupported,
};
use crate::image::repository;
use crate::path::Path;
use crate::template::{self, Demand, MARKER_ENV, Position, Template, dns_label};

/// The settings, checked and turned into what the decisions use.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub mutate: bool,
    pub inject_host_network_pods: bool,
    pub allow_opt_out: bool,
    pub templates: Vec<Template>,
    pub job_sidecars: JobSidecarAction,
    pub meshes: MeshDefaults,
    pub endless_commands: EndlessAction,
    /// The controllers whose pods the Job rules check: Job, and the
    /// operator's `jobSidecars.ownerKinds`.
    pub owner_kinds: Vec<String>,
    pub stripped: StrippedAction,
    pub check_owner: bool,
    /// What counts as a sidecar, for the Job and stripped-field checks.
    pub sidecar_matcher: SidecarMatcher,
    pub native_support: NativeSupport,
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
    /// Whether a rule judges the oldest kubelet of the whole cluster (Istio's
    /// `auto`, declared in `jobSidecars.meshes`): only then does the Node
    /// list's reading look at nodes outside the pod's own.
    pub cluster_oldest: bool,
    /// `nodePools`: the `(label, value)` a pod's `nodeSelector` may name
    /// for the host to list by label selector.
    pub pools: Vec<(String, String)>,
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

/// The sidecar signals in force: the builtin catalog (unless turned off) and the
/// operator's extra names and image prefixes, normalised once (what each
/// signal means is the catalog's).
#[derive(Debug, Clone, Default)]
pub struct SidecarMatcher {
    pub builtin: bool,
    pub names: Vec<String>,
    /// Normalised repositories (see `image::repository`).
    pub image_prefixes: Vec<String>,
}

pub(super) fn native_support(settings: &NativeSupportSettings) -> Result<NativeSupport, SettingsError> {
    let min_kubelet = kubelet_minor(&settings.min_kubelet_version).ok_or_else(|| {
        fault(
            "nativeSupport.minKubeletVersion",
            format!(
                "{:?} is not a version like \"1.29\"",
                settings.min_kubelet_version
            ),
        )
    })?;
    label_key(&settings.node_label.key).map_err(|p| fault("nativeSupport.nodeLabel.key", p))?;
    label_value(&settings.node_label.value).map_err(|p| fault("nativeSupport.nodeLabel.value", p))?;
    if !(1..=600).contains(&settings.handshake_timeout_seconds) {
        return Err(fault(
            "nativeSupport.handshakeTimeoutSeconds",
            "must be between 1 and 600",
        ));
    }
    let mut pools = Vec::new();
    for (label, values) in &settings.node_pools {
        let at = format!("nativeSupport.nodePools.{label}");
        label_key(label).map_err(|p| fault(&at, p))?;
        for (index, value) in values.iter().enumerate() {
            label_value(value).map_err(|p| fault(format!("{at}[{index}]"), p))?;
            pools.push((label.clone(), value.clone()));
        }
    }
    Ok(NativeSupport {
        cluster_oldest: false,
        pools,
        strategy: settings.strategy,
        min_kubelet,
        when_unsupported: settings.when_unsupported,
        label_requirement: serde_json::json!({
        "key": settings.node_label.key, "operator": "In", "values": [settings.node_label.value]}),
    })
}

pub(super) fn meshes(meshes: MeshDefaults) -> Result<MeshDefaults, SettingsError> {
    if meshes.linkerd == Some(MeshMode::Auto) {
        return Err(fault(
            "jobSidecars.meshes.linkerd",
            "auto is Istio's ENABLE_NATIVE_SIDECARS mode; Linkerd injects legacy or native",
        ));
    }
    Ok(meshes)
}

pub(super) fn owner_kinds(jobs: &JobSidecarsSettings) -> Result<Vec<String>, SettingsError> {
    let mut kinds = vec!["Job".to_owned()];
    for (i, kind) in jobs.owner_kinds.iter().enumerate() {
        // A kind is a Go type name: what ownerReferences[].kind holds.
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(fault(
                format!("jobSidecars.ownerKinds[{i}]"),
                format!(
                    "{kind:?} is not a kind (a name like \"Workflow\", as ownerReferences[].kind holds it)"
                ),
            ));
        }
        if !kinds.contains(kind) {
            kinds.push(kind.clone());
        }
    }
    Ok(kinds)
}

pub(super) fn sidecar_matcher(jobs: &JobSidecarsSettings) -> Result<SidecarMatcher, SettingsError> {
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
    Ok(SidecarMatcher {
        builtin: jobs.use_builtin_catalog,
        names: jobs.names.clone(),
        image_prefixes,
    })
}

/// Every template, compiled, with template ids and container names unique.
pub(super) fn templates(
    sidecars: Vec<SidecarTemplate>,
    support: &NativeSupport,
    handshake_seconds: u32,
) -> Result<Vec<Template>, SettingsError> {
    let mut ids = HashSet::new();
    let mut container_names = HashSet::new();
    sidecars
        .into_iter()
        .enumerate()
        .map(|(i, sidecar)| {
            let path = Path::Index(&Path::Root("sidecars"), i);
            let compiled = template(sidecar, &path, support, handshake_seconds)?;
            if !ids.insert(compiled.id.clone()) {
                return Err(fault(
                    Path::Key(&path, "name"),
                    format!("duplicate template name {:?}", compiled.id),
                ));
            }
            if !container_names.insert(compiled.container_name.clone()) {
                return Err(fault(
                    Path::Key(&Path::Key(&path, "container"), "name"),
                    format!(
                        "container {:?} is already injected by another template",
                        compiled.container_name
                    ),
                ));
            }
            Ok(compiled)
        })
        .collect()
}

/// One template: its container checked, its volumes and app-container
/// additions indexed, and the forms the strategy may use built.
fn template(
    sidecar: SidecarTemplate,
    path: &Path,
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
    } = sidecar;
    dns_label(&id).map_err(|p| fault(Path::Key(path, "name"), p))?;
    let container_name = sidecar_container(&container, &position, path)?;
    let volumes = template_volumes(volumes, path)?;
    let (app_mounts, app_env) = app_additions(app_containers, path)?;
    let mut mounted_volumes: Vec<String> = Vec::new();
    for name in entry_names(&container, "volumeMounts").chain(app_mounts.iter().map(|(n, _, _)| n.as_str())) {
        if !mounted_volumes.iter().any(|known| known == name) {
            mounted_volumes.push(name.to_owned());
        }
    }
    if support.may_use_universal() {
        universal_ready(&container, &Path::Key(path, "container"))?;
    }
    let linux_only = template::linux_only(&container);
    let windows_only = template::windows_only(&container);
    let demand = Demand::of(&container)
        .map_err(|problem| fault(Path::Key(&Path::Key(path, "container"), "resources"), problem))?;
    let legacy_container = support
        .may_use_legacy()
        .then(|| template::legacy_container(container.clone(), &id).into());
    let native_container = template::native_container(container, &id);
    let twins = match (support.may_use_universal(), native_container.as_object()) {
        (true, Some(native)) => Some(template::universal_twins(native, &id, handshake_seconds)),
        _ => None,
    };
    Ok(Template {
        id,
        injection,
        position,
        legacy_container,
        twins,
        native_container: native_container.into(),
        container_name,
        volumes,
        mounted_volumes,
        app_mounts,
        app_env,
        linux_only,
        windows_only,
        demand,
    })
}

/// The template's container, checked; its name.
fn sidecar_container(
    container: &Map<String, Value>,
    position: &Position,
    path: &Path,
) -> Result<String, SettingsError> {
    let container_path = Path::Key(path, "container");
    let container_name = text(container, "name").to_owned();
    dns_label(&container_name).map_err(|p| fault(Path::Key(&container_path, "name"), p))?;
    if text(container, "image").trim().is_empty() {
        return Err(fault(Path::Key(&container_path, "image"), "an image is required"));
    }
    match text(container, "restartPolicy") {
        "" | "Always" => {}
        policy => {
            return Err(fault(
                Path::Key(&container_path, "restartPolicy"),
                format!("{policy:?}: a native sidecar's restartPolicy is Always (or leave it out)"),
            ));
        }
    }
    if entry_names(container, "env").any(|name| name == MARKER_ENV) {
        return Err(fault(
            Path::Key(&container_path, "env"),
            format!("{MARKER_ENV} is reserved: the policy sets it to mark injected sidecars"),
        ));
    }
    if let Position::After(anchor) | Position::Before(anchor) = position
        && *anchor == container_name
    {
        return Err(fault(
            Path::Key(path, "position"),
            "a sidecar cannot be placed relative to itself",
        ));
    }
    Ok(container_name)
}

/// `(name, definition)` of the template's volumes, names unique.
fn template_volumes(
    volumes: Vec<Map<String, Value>>,
    path: &Path,
) -> Result<Vec<(String, Rc<Value>)>, SettingsError> {
    let mut compiled: Vec<(String, Rc<Value>)> = Vec::new();
    let list = Path::Key(path, "volumes");
    for (i, volume) in volumes.into_iter().enumerate() {
        let at = Path::Key(&Path::Index(&list, i), "name");
        let name = text(&volume, "name").to_owned();
        dns_label(&name).map_err(|p| fault(at, p))?;
        if compiled.iter().any(|(known, _)| *known == name) {
            return Err(fault(at, format!("duplicate volume {name:?}")));
        }
        compiled.push((name, Value::Object(volume).into()));
    }
    Ok(compiled)
}

/// What the template adds to every regular container: `(volume name,
/// mountPath, entry)` of its mounts, `(name, entry)` of its env vars.
type AppAdditions = (Vec<(String, String, Rc<Value>)>, Vec<(String, Rc<Value>)>);

fn app_additions(app_containers: AppContainers, path: &Path) -> Result<AppAdditions, SettingsError> {
    let additions = Path::Key(path, "appContainers");
    let mounts = Path::Key(&additions, "volumeMounts");
    let mut app_mounts: Vec<(String, String, Rc<Value>)> = Vec::new();
    for (i, mount) in app_containers.volume_mounts.into_iter().enumerate() {
        let at = Path::Index(&mounts, i);
        let (name, mount_path) = (
            text(&mount, "name").to_owned(),
            text(&mount, "mountPath").to_owned(),
        );
        if name.is_empty() {
            return Err(fault(Path::Key(&at, "name"), "a volume name is required"));
        }
        if mount_path.is_empty() {
            return Err(fault(Path::Key(&at, "mountPath"), "a mountPath is required"));
        }
        if app_mounts.iter().any(|(_, known, _)| *known == mount_path) {
            return Err(fault(
                Path::Key(&at, "mountPath"),
                format!("duplicate mountPath {mount_path:?}"),
            ));
        }
        app_mounts.push((name, mount_path, Value::Object(mount).into()));
    }
    let variables = Path::Key(&additions, "env");
    let mut app_env: Vec<(String, Rc<Value>)> = Vec::new();
    for (i, env) in app_containers.env.into_iter().enumerate() {
        let at = Path::Index(&variables, i);
        let name = text(&env, "name").to_owned();
        if name.is_empty() {
            return Err(fault(Path::Key(&at, "name"), "a name is required"));
        }
        if app_env.iter().any(|(known, _)| *known == name) {
            return Err(fault(
                Path::Key(&at, "name"),
                format!("duplicate variable {name:?}"),
            ));
        }
        app_env.push((name, Value::Object(env).into()));
    }
    Ok((app_mounts, app_env))
}
