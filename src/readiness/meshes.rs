//! The service meshes a cluster runs, told from their injectors' mutating
//! webhooks and their control planes' Deployments, and the
//! `jobSidecars.meshes` settings that say how each injects its proxy when a
//! pod does not say (docs/readiness.md#service-meshes gives the sources):
//! - Istio: istiod's `ENABLE_NATIVE_SIDECARS` (its `discovery` container's
//!   env): `true` native, `false` legacy, `auto` native where kubelets are
//!   1.33 or later; unset, the version's default: `auto` from 1.27, else off.
//! - Linkerd: `proxy.nativeSidecar` of the `linkerd-config` ConfigMap's
//!   values, else the version's default: on from 2.20.

use serde::Serialize;
use serde_json::Value;

use super::chain::Chain;
use super::{items, text};
use crate::image;

#[derive(Debug, Serialize)]
pub struct Mesh {
    /// `istio` or `linkerd`: the key of `jobSidecars.meshes`.
    pub name: &'static str,
    /// The mutating webhook configuration that injects its proxy.
    pub webhook: String,
    /// Its control plane's version, as its image tag says.
    pub version: Option<String>,
    /// The `jobSidecars.meshes` value that matches it, when that can be told.
    pub mode: Option<&'static str>,
    pub why: String,
}

/// A mesh's proxy injector: its webhook configuration and the service it calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injector {
    /// `istio` or `linkerd`.
    pub mesh: &'static str,
    pub configuration: String,
    pub namespace: String,
    pub service: String,
}

/// The meshes' injectors among the mutating webhook configurations, one per
/// service: Istio's several webhooks (and revision tags) call one istiod.
pub fn injectors(webhooks: Option<&Value>) -> Vec<Injector> {
    let mut found: Vec<Injector> = Vec::new();
    for configuration in webhooks.map(items).unwrap_or_default() {
        let hooks = configuration.get("webhooks").and_then(Value::as_array);
        for webhook in hooks.into_iter().flatten() {
            let name = text(webhook, "/name");
            let mesh = if name.ends_with("sidecar-injector.istio.io") {
                "istio"
            } else if name == "linkerd-proxy-injector.linkerd.io" {
                "linkerd"
            } else {
                continue;
            };
            let injector = Injector {
                mesh,
                configuration: text(configuration, "/metadata/name").to_owned(),
                namespace: text(webhook, "/clientConfig/service/namespace").to_owned(),
                service: text(webhook, "/clientConfig/service/name").to_owned(),
            };
            if !found
                .iter()
                .any(|f| f.mesh == mesh && f.namespace == injector.namespace && f.service == injector.service)
            {
                found.push(injector);
            }
        }
    }
    found
}

/// The meshes whose injectors are among `webhooks`, each judged by its
/// control plane among `objects`.
pub fn detect(webhooks: Option<&Value>, objects: Option<&Value>) -> Vec<Mesh> {
    let objects: Vec<&Value> = objects.map(items).unwrap_or_default();
    injectors(webhooks)
        .into_iter()
        .map(|injector| {
            let deployment = control_plane(&objects, &injector);
            let judged = match injector.mesh {
                "istio" => istio(deployment),
                _ => linkerd(deployment, config_of(&objects, &injector.namespace)),
            };
            Mesh {
                webhook: injector.configuration,
                ..judged
            }
        })
        .collect()
}

/// The Deployment behind an injector's service: the one of the service's
/// name, as istioctl, Helm and Linkerd install them, else the mesh's
/// controller image in that namespace.
fn control_plane<'o>(objects: &[&'o Value], injector: &Injector) -> Option<&'o Value> {
    let image = if injector.mesh == "istio" {
        "/pilot"
    } else {
        "/controller"
    };
    let (namespace, service) = (injector.namespace.as_str(), injector.service.as_str());
    let deployments = || {
        objects
            .iter()
            .copied()
            .filter(move |o| text(o, "/kind") == "Deployment" && text(o, "/metadata/namespace") == namespace)
    };
    deployments()
        .find(|d| text(d, "/metadata/name") == service)
        .or_else(|| {
            deployments()
                .find(|d| containers(d).any(|c| image::repository(text(c, "/image")).ends_with(image)))
        })
}

fn containers(deployment: &Value) -> impl Iterator<Item = &Value> {
    deployment
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn istio(deployment: Option<&Value>) -> Mesh {
    let unknown = |why: String| Mesh {
        name: "istio",
        webhook: String::new(),
        version: None,
        mode: None,
        why,
    };
    let Some(deployment) = deployment else {
        return unknown(
            "istiod's Deployment was not found: give it with --meshes (kubectl get deployment -n istio-system -o json)"
                .to_owned(),
        );
    };
    let discovery = containers(deployment)
        .find(|c| text(c, "/name") == "discovery")
        .or_else(|| containers(deployment).next());
    let version = discovery
        .and_then(|c| image::tag(text(c, "/image")))
        .map(|t| t.trim_end_matches("-distroless").to_owned());
    let env = discovery
        .and_then(|c| c.get("env"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| text(e, "/name") == "ENABLE_NATIVE_SIDECARS");
    let at = version.as_deref().and_then(crate::settings::kubelet_minor);
    let (mode, why) = match (env.map(|e| e.get("value").and_then(Value::as_str)), at) {
        (Some(Some(value)), at) => {
            // From 1.27 the value is one of three words, anything else off;
            // before, a boolean as Go's ParseBool reads it.
            let word = if at.is_some_and(|at| at < (1, 27)) {
                match value {
                    "1" | "t" | "T" | "TRUE" | "true" | "True" => "true",
                    _ => "false",
                }
            } else {
                value
            };
            match word {
                "true" => (Some("native"), "ENABLE_NATIVE_SIDECARS=true: native everywhere".to_owned()),
                "auto" => (
                    Some("auto"),
                    "ENABLE_NATIVE_SIDECARS=auto: native where the pod's node, or every node, runs kubelet 1.33 \
                     or later"
                        .to_owned(),
                ),
                _ => (Some("legacy"), format!("ENABLE_NATIVE_SIDECARS={value:?}: off")),
            }
        }
        (Some(None), _) => (
            None,
            "ENABLE_NATIVE_SIDECARS is set from a reference (valueFrom) the report cannot follow".to_owned(),
        ),
        (None, Some(at)) if at >= (1, 27) => (
            Some("auto"),
            "ENABLE_NATIVE_SIDECARS unset: auto, the default from 1.27 (native where kubelets are 1.33 or later)"
                .to_owned(),
        ),
        (None, Some(_)) => (
            Some("legacy"),
            "ENABLE_NATIVE_SIDECARS unset: off before 1.27 (from 1.24 a pod can still ask with the annotation \
             sidecar.istio.io/nativeSidecar)"
                .to_owned(),
        ),
        (None, None) => (None, "istiod's version cannot be read from its image".to_owned()),
    };
    Mesh {
        version,
        mode,
        why,
        ..unknown(String::new())
    }
}

/// The `linkerd-config` ConfigMap of Linkerd's control-plane namespace.
fn config_of<'o>(objects: &[&'o Value], namespace: &str) -> Option<&'o Value> {
    objects.iter().copied().find(|o| {
        text(o, "/kind") == "ConfigMap"
            && text(o, "/metadata/namespace") == namespace
            && text(o, "/metadata/name") == "linkerd-config"
    })
}

/// Whether a Linkerd version turns native sidecars on by default: from 2.20,
/// which was cut from edge-26.5.2 on (edge-YY.M.N, stable-2.X.Y, 2.X.Y).
fn linkerd_native_by_default(version: &str) -> Option<bool> {
    if let Some(release) = version.strip_prefix("edge-") {
        let numbers: Vec<u32> = release
            .split('.')
            .map(|n| n.parse().ok())
            .collect::<Option<_>>()?;
        return Some(numbers >= vec![26, 5, 2]);
    }
    // stable-2.14.10, enterprise-2.16.0, 2.20.1
    let release = version.rsplit('-').next()?;
    let (major, minor) = crate::settings::kubelet_minor(release)?;
    (major == 2).then_some(minor >= 20)
}

fn linkerd(deployment: Option<&Value>, config: Option<&Value>) -> Mesh {
    let version = deployment
        .and_then(|d| containers(d).find_map(|c| image::tag(text(c, "/image"))))
        .or_else(|| deployment.map(|d| text(d, "/metadata/labels/app.kubernetes.io~1version")))
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    // The values Linkerd was installed with, as YAML in the ConfigMap.
    let native_value = config
        .map(|c| text(c, "/data/values"))
        .and_then(|values| serde_yaml::from_str::<Value>(values).ok())
        .and_then(|values| values.pointer("/proxy/nativeSidecar").and_then(Value::as_bool));
    let (mode, why) = match (
        native_value,
        version.as_deref().and_then(linkerd_native_by_default),
    ) {
        (Some(true), _) => (
            Some("native"),
            "proxy.nativeSidecar: true in linkerd-config".to_owned(),
        ),
        (Some(false), _) => (
            Some("legacy"),
            "proxy.nativeSidecar: false in linkerd-config".to_owned(),
        ),
        (None, Some(true)) => (
            Some("native"),
            "native sidecars on by default from 2.20 (edge-26.5.2); linkerd-config was not read".to_owned(),
        ),
        (None, Some(false)) => (
            Some("legacy"),
            "native sidecars off by default before 2.20; linkerd-config was not read".to_owned(),
        ),
        (None, None) => (
            None,
            "give the proxy injector's Deployment and the linkerd-config ConfigMap with --meshes (kubectl get \
             deployment,configmap -n linkerd -o json)"
                .to_owned(),
        ),
    };
    Mesh {
        name: "linkerd",
        webhook: String::new(),
        version,
        mode,
        why,
    }
}

/// The `jobSidecars.meshes` settings that match the meshes found, and how
/// they differ from what the deployed policies declare.
pub fn proposal(meshes: &[Mesh], chain: &Chain) -> Option<String> {
    let known: Vec<String> = meshes
        .iter()
        .filter_map(|m| Some(format!("{}: {}", m.name, m.mode?)))
        .collect();
    if known.is_empty() {
        return None;
    }
    let mut proposal = format!("jobSidecars:\n  meshes: {{{}}}", known.join(", "));
    for deployed in &chain.deployed {
        let checks = deployed
            .settings
            .pointer("/jobSidecars/action")
            .and_then(Value::as_str)
            != Some("ignore");
        let declared = deployed.settings.pointer("/jobSidecars/meshes");
        let differs = meshes.iter().any(|m| {
            m.mode.is_some_and(|mode| {
                declared.and_then(|d| d.get(m.name)).and_then(Value::as_str) != Some(mode)
            })
        });
        if checks && differs {
            proposal.push_str(&format!(
                "\n  ({} declares {}: a Job whose pods a mesh injects is judged by what the settings declare)",
                deployed.name,
                declared.map_or_else(|| "no meshes".to_owned(), Value::to_string)
            ));
        }
    }
    Some(proposal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn webhooks() -> Value {
        json!({"items": [
            {"metadata": {"name": "istio-sidecar-injector"}, "webhooks": [
                {"name": "rev.namespace.sidecar-injector.istio.io", "clientConfig": {"service": {"namespace": "istio-system", "name": "istiod"}}},
                {"name": "rev.object.sidecar-injector.istio.io", "clientConfig": {"service": {"namespace": "istio-system", "name": "istiod"}}}]},
            {"metadata": {"name": "istio-revision-tag-default"}, "webhooks": [
                {"name": "namespace.sidecar-injector.istio.io", "clientConfig": {"service": {"namespace": "istio-system", "name": "istiod"}}}]},
            {"metadata": {"name": "linkerd-proxy-injector-webhook-config"}, "webhooks": [
                {"name": "linkerd-proxy-injector.linkerd.io", "clientConfig": {"service": {"namespace": "linkerd", "name": "linkerd-proxy-injector"}}}]},
            {"metadata": {"name": "other"}, "webhooks": [{"name": "x.example.com"}]}]})
    }

    fn istiod(image: &str, env: Value) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": "istiod", "namespace": "istio-system"},
            "spec": {"template": {"spec": {"containers": [{"name": "discovery", "image": image, "env": env}]}}}})
    }

    fn linkerd_objects(image: &str, values: Option<&str>) -> Vec<Value> {
        let mut objects = vec![
            json!({"kind": "Deployment", "metadata": {"name": "linkerd-proxy-injector", "namespace": "linkerd"},
            "spec": {"template": {"spec": {"containers": [{"name": "proxy-injector", "image": image}]}}}}),
        ];
        if let Some(values) = values {
            objects.push(
                json!({"kind": "ConfigMap", "metadata": {"name": "linkerd-config", "namespace": "linkerd"},
                "data": {"values": values}}),
            );
        }
        objects
    }

    fn modes(objects: Vec<Value>) -> Vec<(&'static str, Option<String>, Option<&'static str>)> {
        detect(Some(&webhooks()), Some(&json!({"items": objects})))
            .into_iter()
            .map(|m| (m.name, m.version, m.mode))
            .collect()
    }

    #[test]
    fn istio_127_defaults_to_auto_and_its_env_decides() {
        let mut objects = vec![istiod("docker.io/istio/pilot:1.27.1-distroless", json!([]))];
        objects.extend(linkerd_objects(
            "cr.l5d.io/linkerd/controller:stable-2.14.10",
            None,
        ));
        assert_eq!(
            modes(objects),
            [
                ("istio", Some("1.27.1".to_owned()), Some("auto")),
                ("linkerd", Some("stable-2.14.10".to_owned()), Some("legacy")),
            ]
        );
        let env = json!([{"name": "ENABLE_NATIVE_SIDECARS", "value": "true"}]);
        assert_eq!(
            modes(vec![istiod("docker.io/istio/pilot:1.24.3", env)])[0].2,
            Some("native")
        );
        assert_eq!(
            modes(vec![istiod("docker.io/istio/pilot:1.26.0", json!([]))])[0].2,
            Some("legacy")
        );
        // Before 1.27 a boolean (Go's ParseBool); from 1.27 three exact words.
        let capital = json!([{"name": "ENABLE_NATIVE_SIDECARS", "value": "True"}]);
        assert_eq!(
            modes(vec![istiod("docker.io/istio/pilot:1.26.2", capital.clone())])[0].2,
            Some("native")
        );
        assert_eq!(
            modes(vec![istiod("docker.io/istio/pilot:1.27.2", capital)])[0].2,
            Some("legacy")
        );
        let reference = json!([{"name": "ENABLE_NATIVE_SIDECARS", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}}}]);
        assert_eq!(
            modes(vec![istiod("docker.io/istio/pilot:1.27.0", reference)])[0].2,
            None
        );
    }

    #[test]
    fn linkerd_config_overrides_the_version_default() {
        let objects = linkerd_objects(
            "cr.l5d.io/linkerd/controller:stable-2.14.10",
            Some("proxy:\n  nativeSidecar: true\n"),
        );
        assert_eq!(modes(objects)[1].2, Some("native"));
        assert_eq!(
            modes(Vec::new()),
            [("istio", None, None), ("linkerd", None, None)]
        );
    }

    #[test]
    fn linkerd_turns_native_on_by_default_from_2_20() {
        for (version, expected) in [
            ("edge-26.5.1", Some(false)),
            ("edge-26.5.2", Some(true)),
            ("edge-25.10.7", Some(false)),
            ("stable-2.14.10", Some(false)),
            ("enterprise-2.20.0", Some(true)),
            ("2.19.3", Some(false)),
            ("latest", None),
        ] {
            assert_eq!(linkerd_native_by_default(version), expected, "{version}");
        }
    }

    #[test]
    fn the_proposal_names_deployments_that_declare_otherwise() {
        let meshes = detect(
            Some(&webhooks()),
            Some(&json!({"items": [istiod("docker.io/istio/pilot:1.27.1", json!([]))]})),
        );
        let chain = Chain::of_settings(
            json!({"jobSidecars": {"meshes": {"istio": "legacy"}}}),
            "validator",
        );
        let proposal = proposal(&meshes, &chain).expect("a proposal");
        assert_eq!(
            proposal,
            "jobSidecars:\n  meshes: {istio: auto}\n  (validator declares {\"istio\":\"legacy\"}: a Job whose pods a \
             mesh injects is judged by what the settings declare)"
        );
    }
}
