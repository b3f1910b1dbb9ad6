//! Which containers are sidecars: the well-known ones (docs/kubernetes-facts.md,
//! "Well-known sidecars"), the ones the operator names,
//! and the ones a pod declares.
//!
//! Images alone are not enough: several sidecar images also run one-shot init
//! containers (`istio-init` runs `proxyv2`), so a known one-shot twin is never a
//! sidecar, and images shared with one-shot jobs also need the sidecar's args.

use std::fmt;

use crate::image::repository;
use crate::request::{Container, Workload};
use crate::settings::SidecarMatcher;
use crate::template::MARKER_ENV;

/// A well-known long-running sidecar.
#[derive(Debug)]
pub struct Known {
    pub sidecar: &'static str,
    /// Container names that are this sidecar.
    pub names: &'static [&'static str],
    /// Image repositories (`repo` or a trailing `…/repo` path) that are this sidecar…
    pub images: &'static [&'static str],
    /// …when the command line holds every one of these words.
    pub image_args: &'static [&'static str],
    /// Containers of the same project that run once and exit: never sidecars.
    pub twins: &'static [&'static str],
    /// A project-specific way to the fix.
    pub hint: Option<&'static str>,
}

pub const BUILTIN: &[Known] = &[
    Known {
        sidecar: "Istio proxy",
        names: &["istio-proxy"],
        images: &["proxyv2"],
        image_args: &["proxy", "sidecar"],
        twins: &["istio-init", "istio-validation"],
        hint: Some(
            "with Istio (1.24 or later), annotate the pod template sidecar.istio.io/nativeSidecar: \"true\" (or \
             set ENABLE_NATIVE_SIDECARS=true in istiod) so that Istio injects its proxy as a native sidecar",
        ),
    },
    Known {
        sidecar: "Linkerd proxy",
        names: &["linkerd-proxy"],
        images: &["cr.l5d.io/linkerd/proxy"],
        image_args: &[],
        twins: &["linkerd-init", "linkerd-network-validator"],
        hint: Some(
            "with Linkerd, annotate the pod config.linkerd.io/proxy-enable-native-sidecar: \"true\" (2.20; \
             config.beta.linkerd.io/… on 2.19, config.alpha.linkerd.io/… from 2.15) instead",
        ),
    },
    Known {
        sidecar: "Cloud SQL Auth Proxy",
        names: &[],
        images: &[
            "gcr.io/cloud-sql-connectors/cloud-sql-proxy",
            "gcr.io/cloudsql-docker/gce-proxy",
        ],
        image_args: &[],
        twins: &[],
        hint: None,
    },
    Known {
        sidecar: "Vault agent",
        names: &["vault-agent"],
        images: &["hashicorp/vault"],
        image_args: &["agent"],
        twins: &["vault-agent-init"],
        hint: None,
    },
    Known {
        sidecar: "GCS FUSE",
        names: &["gke-gcsfuse-sidecar"],
        images: &[],
        image_args: &[],
        twins: &[],
        hint: None,
    },
    Known {
        sidecar: "Envoy",
        names: &[],
        images: &["envoyproxy/envoy", "aws-appmesh-envoy"],
        image_args: &[],
        twins: &[],
        hint: None,
    },
    Known {
        sidecar: "Consul dataplane",
        names: &["consul-dataplane"],
        images: &["hashicorp/consul-dataplane"],
        image_args: &[],
        twins: &[],
        hint: None,
    },
    Known {
        sidecar: "Kuma",
        names: &["kuma-sidecar"],
        images: &[],
        image_args: &[],
        twins: &[],
        hint: None,
    },
    Known {
        sidecar: "Fluent Bit",
        names: &[],
        images: &["fluent/fluent-bit"],
        image_args: &[],
        twins: &[],
        hint: None,
    },
    Known {
        sidecar: "Dapr",
        names: &["daprd"],
        images: &[],
        image_args: &[],
        twins: &[],
        hint: None,
    },
    Known {
        sidecar: "OpenTelemetry collector",
        names: &["otc-container"],
        images: &[],
        image_args: &[],
        twins: &[],
        hint: None,
    },
];

/// Pod annotation some tools use to declare sidecars: `a,b`.
pub const SIDECARS_ANNOTATION: &str = "pod.kubernetes.io/sidecars";
/// OpenKruise's way of marking a Job sidecar.
pub const KRUISE_ENV: &str = "KRUISE_TERMINATE_SIDECAR_WHEN_JOB_EXIT";

/// Why a container is taken for a sidecar.
#[derive(Debug, Clone, Copy)]
pub enum Why<'a> {
    /// Injected by this policy (the marker env var), from this template.
    Marker(&'a str),
    Catalog(&'static Known),
    ConfiguredName,
    ConfiguredImage(&'a str),
    DeclaredByAnnotation,
    KruiseEnv,
    /// Its command line cannot end (a heuristic: `endless`).
    Endless(&'static str),
}

impl fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Marker(template) => {
                write!(
                    f,
                    "injected by native-sidecar-policy from template {template:?} ({MARKER_ENV})"
                )
            }
            Why::Catalog(known) => write!(f, "{}, a well-known sidecar", known.sidecar),
            Why::ConfiguredName => write!(f, "named in the policy's jobSidecars.names"),
            Why::ConfiguredImage(prefix) => {
                write!(f, "image under {prefix:?}, in the policy's jobSidecars.images")
            }
            Why::DeclaredByAnnotation => write!(f, "listed in the pod annotation {SIDECARS_ANNOTATION}"),
            Why::KruiseEnv => write!(f, "marked with {KRUISE_ENV}=true"),
            Why::Endless(reason) => f.write_str(reason),
        }
    }
}

impl Why<'_> {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Why::Catalog(known) => known.hint,
            _ => None,
        }
    }
}

/// What counts as a sidecar is compiled into the settings; what it means is decided here.
impl SidecarMatcher {
    /// Why `container` of `workload` is a sidecar, if it is one.
    pub fn identify<'a>(&'a self, container: &Container<'a>, workload: &Workload<'a>) -> Option<Why<'a>> {
        if let Some(template) = container.env_value(MARKER_ENV) {
            return Some(Why::Marker(template));
        }
        let repo = repository(container.image);
        if self.builtin
            && let Some(known) = BUILTIN.iter().find(|known| known.matches(container, repo))
        {
            return Some(Why::Catalog(known));
        }
        if self.names.iter().any(|n| n == container.name) {
            return Some(Why::ConfiguredName);
        }
        if let Some(prefix) = self.image_prefixes.iter().find(|p| under(repo, p)) {
            return Some(Why::ConfiguredImage(prefix));
        }
        if workload.annotation_lists(SIDECARS_ANNOTATION, container.name) {
            return Some(Why::DeclaredByAnnotation);
        }
        if container
            .env_value(KRUISE_ENV)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Some(Why::KruiseEnv);
        }
        None
    }
}

impl Known {
    fn matches(&self, container: &Container, repo: &str) -> bool {
        if self.twins.contains(&container.name) {
            return false;
        }
        self.names.contains(&container.name)
            || (self.images.iter().any(|image| ends_with_path(repo, image))
                && self
                    .image_args
                    .iter()
                    .all(|word| container.command_line().any(|w| w.contains(word))))
    }
}

/// `repo` is `path` or ends with `/path`.
pub(crate) fn ends_with_path(repo: &str, path: &str) -> bool {
    repo.strip_suffix(path)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('/'))
}

/// `repo` is `prefix` or lies under it (`prefix/…`).
pub(crate) fn under(repo: &str, prefix: &str) -> bool {
    repo.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Request;
    use rstest::rstest;
    use serde_json::{Value, json};

    fn identify(container: Value, annotations: Value, matcher: &SidecarMatcher) -> Option<String> {
        let request = json!({"kind": {"kind": "Pod"}, "object": {
            "metadata": {"annotations": annotations}, "spec": {"containers": [container]}}});
        let view = Request::from_admission_request(&request).expect("well formed");
        let workload = view.workload().expect("well formed").expect("a pod");
        let container = workload.spec.containers.first().expect("one container");
        matcher.identify(container, &workload).map(|why| why.to_string())
    }

    fn builtin() -> SidecarMatcher {
        SidecarMatcher {
            builtin: true,
            ..SidecarMatcher::default()
        }
    }

    #[rstest]
    #[case::istio_by_name(json!({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22"}), Some("Istio proxy"))]
    #[case::istio_by_image_and_args(json!({"name": "mesh", "image": "gcr.io/istio-release/proxyv2:1.22", "args": ["proxy", "sidecar", "--domain", "x"]}), Some("Istio proxy"))]
    #[case::istio_image_without_sidecar_args(json!({"name": "mesh", "image": "istio/proxyv2:1.22", "args": ["istio-iptables"]}), None)]
    #[case::istio_init_twin(json!({"name": "istio-init", "image": "istio/proxyv2:1.22", "args": ["proxy", "sidecar"]}), None)]
    #[case::istio_validation_twin(json!({"name": "istio-validation", "image": "istio/proxyv2:1.22"}), None)]
    #[case::linkerd(json!({"name": "proxy", "image": "cr.l5d.io/linkerd/proxy:stable-2.14"}), Some("Linkerd proxy"))]
    #[case::linkerd_validator_twin(json!({"name": "linkerd-network-validator", "image": "cr.l5d.io/linkerd/proxy:edge"}), None)]
    #[case::linkerd_init_twin(json!({"name": "linkerd-init", "image": "cr.l5d.io/linkerd/proxy-init:v2"}), None)]
    #[case::cloud_sql(json!({"name": "db", "image": "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.11@sha256:abc"}), Some("Cloud SQL Auth Proxy"))]
    #[case::cloud_sql_v1(json!({"name": "db", "image": "gcr.io/cloudsql-docker/gce-proxy:1.33"}), Some("Cloud SQL Auth Proxy"))]
    #[case::vault_agent(json!({"name": "vault-agent", "image": "hashicorp/vault:1.17"}), Some("Vault agent"))]
    #[case::vault_agent_init_twin(json!({"name": "vault-agent-init", "image": "hashicorp/vault:1.17", "args": ["agent"]}), None)]
    #[case::vault_one_shot_job(json!({"name": "unseal", "image": "hashicorp/vault:1.17", "args": ["operator", "unseal"]}), None)]
    #[case::envoy_on_hub(json!({"name": "e", "image": "docker.io/envoyproxy/envoy:v1.30"}), Some("Envoy"))]
    #[case::app_mesh(json!({"name": "e", "image": "840364872350.dkr.ecr.us-west-2.amazonaws.com/aws-appmesh-envoy:v1.27"}), Some("Envoy"))]
    #[case::fluent_bit(json!({"name": "logs", "image": "cr.fluentbit.io/fluent/fluent-bit:3.1"}), Some("Fluent Bit"))]
    #[case::dapr(json!({"name": "daprd", "image": "ghcr.io/dapr/daprd:1.14"}), Some("Dapr"))]
    #[case::otel(json!({"name": "otc-container", "image": "otel/opentelemetry-collector:0.1"}), Some("OpenTelemetry collector"))]
    #[case::gcs_fuse(json!({"name": "gke-gcsfuse-sidecar", "image": "gke.gcr.io/gcs-fuse-csi-driver-sidecar-mounter"}), Some("GCS FUSE"))]
    #[case::kuma(json!({"name": "kuma-sidecar", "image": "kumahq/kuma-dp:2.8"}), Some("Kuma"))]
    #[case::consul(json!({"name": "dp", "image": "hashicorp/consul-dataplane:1.5"}), Some("Consul dataplane"))]
    #[case::lookalike_image(json!({"name": "x", "image": "example.com/not-envoyproxy/envoy-tools:1"}), None)]
    #[case::plain_job(json!({"name": "job", "image": "busybox"}), None)]
    fn builtin_catalog(#[case] container: Value, #[case] sidecar: Option<&str>) {
        let found = identify(container, json!({}), &builtin());
        match sidecar {
            Some(name) => assert_eq!(found, Some(format!("{name}, a well-known sidecar"))),
            None => assert_eq!(found, None),
        }
    }

    #[rstest]
    #[case::configured_name(json!({"name": "my-proxy", "image": "x"}), json!({}), Some("named in the policy's jobSidecars.names"))]
    #[case::configured_image(json!({"name": "a", "image": "registry.corp/sidecars/auth:2"}), json!({}), Some("image under \"registry.corp/sidecars\""))]
    #[case::configured_image_boundary(json!({"name": "a", "image": "registry.corp/sidecars-old/auth:2"}), json!({}), None)]
    #[case::annotation(json!({"name": "b", "image": "x"}), json!({SIDECARS_ANNOTATION: "a, b"}), Some("listed in the pod annotation"))]
    #[case::kruise(json!({"name": "c", "image": "x", "env": [{"name": KRUISE_ENV, "value": "true"}]}), json!({}), Some("KRUISE_TERMINATE_SIDECAR_WHEN_JOB_EXIT=true"))]
    #[case::marker(json!({"name": "d", "image": "x", "env": [{"name": MARKER_ENV, "value": "log"}]}), json!({}), Some("from template \"log\""))]
    #[case::catalog_off(json!({"name": "istio-proxy", "image": "istio/proxyv2"}), json!({}), None)]
    fn other_signals(#[case] container: Value, #[case] annotations: Value, #[case] expected: Option<&str>) {
        let matcher = SidecarMatcher {
            builtin: false,
            names: vec!["my-proxy".to_owned()],
            image_prefixes: vec!["registry.corp/sidecars".to_owned()],
        };
        let found = identify(container, annotations, &matcher);
        match expected {
            Some(text) => assert!(found.as_deref().is_some_and(|f| f.contains(text)), "{found:?}"),
            None => assert_eq!(found, None),
        }
    }
}
