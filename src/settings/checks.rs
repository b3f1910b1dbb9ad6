//! The checks settings pass when the policy loads, each failure naming the
//! field at fault.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{self as core, Container, EnvVar, VolumeMount};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::SidecarTemplate;
use crate::path::Path;
use crate::template::{LEGACY_SUFFIX, dns_label};

/// A settings error and the path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub path: String,
    pub problem: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "invalid settings: {}", self.problem)
        } else {
            write!(f, "invalid settings: {}: {}", self.path, self.problem)
        }
    }
}

pub(super) fn fault(path: impl fmt::Display, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        path: path.to_string(),
        problem: problem.into(),
    }
}

/// Deserialises `value` as `T`, naming the path (under `path`, or from the
/// settings' root when `None`) of the first field that does not fit.
pub(super) fn typed<'v, T: DeserializeOwned>(
    value: &'v Value,
    path: Option<&Path>,
) -> Result<T, SettingsError> {
    serde_path_to_error::deserialize::<&'v Value, T>(value).map_err(|e| {
        let inner = e.path().to_string();
        let full = match (path, inner.as_str()) {
            (Some(path), ".") => path.to_string(),
            (Some(path), _) => Path::Key(path, &inner).to_string(),
            (None, ".") => String::new(),
            (None, _) => inner,
        };
        fault(full, e.into_inner().to_string())
    })
}

/// The type check of one Kubernetes object of a template (at load time only).
fn check_type<T: DeserializeOwned>(object: &Map<String, Value>, path: &Path) -> Result<(), SettingsError> {
    typed::<T>(&Value::Object(object.clone()), Some(path)).map(drop)
}

/// The type check of a volume, field by field, each source with its
/// Kubernetes type, as k8s-openapi's `Volume` checks them (unknown keys and
/// `null` sources pass) but for one: an ephemeral volume's claim template,
/// whose `metadata` may only hold labels and annotations (the API server
/// refuses the rest). The whole `Volume` would link `ObjectMeta`, its
/// timestamps and a date-time library with it: 146 KB of module (measured),
/// for fields no sidecar template sets.
fn check_volume(volume: &Map<String, Value>, path: &Path) -> Result<(), SettingsError> {
    fn source<T: DeserializeOwned>(value: &Value, path: &Path) -> Result<(), SettingsError> {
        typed::<Option<T>>(value, Some(path)).map(drop)
    }
    for (key, value) in volume {
        let at = Path::Key(path, key);
        match key.as_str() {
            "name" => typed::<String>(value, Some(&at)).map(drop),
            "awsElasticBlockStore" => source::<core::AWSElasticBlockStoreVolumeSource>(value, &at),
            "azureDisk" => source::<core::AzureDiskVolumeSource>(value, &at),
            "azureFile" => source::<core::AzureFileVolumeSource>(value, &at),
            "cephfs" => source::<core::CephFSVolumeSource>(value, &at),
            "cinder" => source::<core::CinderVolumeSource>(value, &at),
            "configMap" => source::<core::ConfigMapVolumeSource>(value, &at),
            "csi" => source::<core::CSIVolumeSource>(value, &at),
            "downwardAPI" => source::<core::DownwardAPIVolumeSource>(value, &at),
            "emptyDir" => source::<core::EmptyDirVolumeSource>(value, &at),
            "ephemeral" => source::<EphemeralVolumeSource>(value, &at),
            "fc" => source::<core::FCVolumeSource>(value, &at),
            "flexVolume" => source::<core::FlexVolumeSource>(value, &at),
            "flocker" => source::<core::FlockerVolumeSource>(value, &at),
            "gcePersistentDisk" => source::<core::GCEPersistentDiskVolumeSource>(value, &at),
            "gitRepo" => source::<core::GitRepoVolumeSource>(value, &at),
            "glusterfs" => source::<core::GlusterfsVolumeSource>(value, &at),
            "hostPath" => source::<core::HostPathVolumeSource>(value, &at),
            "image" => source::<core::ImageVolumeSource>(value, &at),
            "iscsi" => source::<core::ISCSIVolumeSource>(value, &at),
            "nfs" => source::<core::NFSVolumeSource>(value, &at),
            "persistentVolumeClaim" => source::<core::PersistentVolumeClaimVolumeSource>(value, &at),
            "photonPersistentDisk" => source::<core::PhotonPersistentDiskVolumeSource>(value, &at),
            "portworxVolume" => source::<core::PortworxVolumeSource>(value, &at),
            "projected" => source::<core::ProjectedVolumeSource>(value, &at),
            "quobyte" => source::<core::QuobyteVolumeSource>(value, &at),
            "rbd" => source::<core::RBDVolumeSource>(value, &at),
            "scaleIO" => source::<core::ScaleIOVolumeSource>(value, &at),
            "secret" => source::<core::SecretVolumeSource>(value, &at),
            "storageos" => source::<core::StorageOSVolumeSource>(value, &at),
            "vsphereVolume" => source::<core::VsphereVirtualDiskVolumeSource>(value, &at),
            _ => Ok(()),
        }?;
    }
    Ok(())
}

/// `ephemeral`, as k8s-openapi reads it but for the claim template's
/// metadata. Read only to check the types: no field is used.
#[derive(Deserialize)]
struct EphemeralVolumeSource {
    #[serde(rename = "volumeClaimTemplate")]
    _volume_claim_template: Option<ClaimTemplate>,
}

#[derive(Deserialize)]
struct ClaimTemplate {
    #[serde(rename = "metadata")]
    _metadata: Option<ClaimTemplateMetadata>,
    #[serde(rename = "spec")]
    _spec: core::PersistentVolumeClaimSpec,
}

/// The API server refuses any other metadata there (`PersistentVolumeClaimTemplate`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimTemplateMetadata {
    #[serde(rename = "labels")]
    _labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "annotations")]
    _annotations: Option<BTreeMap<String, String>>,
}

/// The full type check of a template's Kubernetes objects, naming the path of
/// a misfit (`container.ports[0].containerPort: invalid type`). It runs when
/// the policy loads (`validate_settings`); compiling, which runs with every
/// request, reads the fields it needs from the raw JSON.
pub(super) fn template_types(template: &SidecarTemplate, path: &Path) -> Result<(), SettingsError> {
    check_type::<Container>(&template.container, &Path::Key(path, "container"))?;
    let volumes = Path::Key(path, "volumes");
    for (i, volume) in template.volumes.iter().enumerate() {
        check_volume(volume, &Path::Index(&volumes, i))?;
    }
    let app_containers = Path::Key(path, "appContainers");
    let mounts = Path::Key(&app_containers, "volumeMounts");
    for (i, mount) in template.app_containers.volume_mounts.iter().enumerate() {
        check_type::<VolumeMount>(mount, &Path::Index(&mounts, i))?;
    }
    let env = Path::Key(&app_containers, "env");
    for (i, entry) in template.app_containers.env.iter().enumerate() {
        check_type::<EnvVar>(entry, &Path::Index(&env, i))?;
    }
    Ok(())
}

/// A string field of a raw object; "" when absent (or not a string, which
/// the type check reports when the policy loads).
pub(super) fn text<'m>(object: &'m Map<String, Value>, key: &str) -> &'m str {
    object.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The `name` of every entry of the list `key` of a raw object.
pub(super) fn entry_names<'m>(object: &'m Map<String, Value>, key: &str) -> impl Iterator<Item = &'m str> {
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
pub(super) fn universal_ready(container: &Map<String, Value>, path: &Path) -> Result<(), SettingsError> {
    let why = "the universal injector needs it";
    if container
        .get("command")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(fault(
            Path::Key(path, "command"),
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
            Path::Key(path, field),
            "not possible with the universal injector: where native sidecars are unsupported the API \
             server rejects an init container that has it",
        ));
    }
    if text(container, "name").len() + LEGACY_SUFFIX.len() > 63 {
        return Err(fault(
            Path::Key(path, "name"),
            format!(
                "at most {} characters with the universal injector (its copy is named <name>{LEGACY_SUFFIX})",
                63 - LEGACY_SUFFIX.len()
            ),
        ));
    }
    Ok(())
}

/// A label key: an optional DNS-subdomain prefix and a name of at most 63.
pub(super) fn label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    // A `/` needs a prefix before it: the API server refuses `/pool`.
    let prefix_ok = prefix.len() <= 253
        && (prefix.is_empty() != key.contains('/'))
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
pub(super) fn label_value(value: &str) -> Result<(), String> {
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

/// `(major, minor)` of a kubelet version: `v1.30.2+k3s1`, `v1.29.6-gke.1038000`,
/// `v1.31.0-eks-a737599`, or a setting like `1.29`.
pub fn kubelet_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts.next()?.chars().take_while(char::is_ascii_digit).collect();
    Some((major, minor.parse().ok()?))
}
