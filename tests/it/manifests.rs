//! The shipped manifests: every policy in `policies/` carries settings the
//! module accepts, and has the shape of Kubewarden's policy CRDs.

use crate::harness;

use std::path::PathBuf;

use harness::Policy;
use serde::Deserialize;
use serde_json::Value;

/// Every YAML document of every file in `policies/`, with its file name.
fn manifests() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("policies/ exists")
        .map(|entry| entry.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            serde_yaml::Deserializer::from_str(&text)
                .map(|doc| {
                    let value = Value::deserialize(doc).unwrap_or_else(|e| panic!("{name}: {e}"));
                    (name.clone(), value)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn is_policy(manifest: &Value) -> bool {
    manifest["apiVersion"] == "policies.kubewarden.io/v1"
        && matches!(
            manifest["kind"].as_str(),
            Some("ClusterAdmissionPolicy" | "AdmissionPolicy")
        )
}

#[test]
fn every_shipped_policy_has_settings_the_module_accepts() {
    let policy = Policy::new();
    let shipped: Vec<_> = manifests().into_iter().filter(|(_, m)| is_policy(m)).collect();
    assert!(
        shipped.len() >= 3,
        "the injector, the validator and a namespaced policy are shipped"
    );
    for (file, manifest) in shipped {
        let verdict = policy.validate_settings(&manifest["spec"]["settings"]);
        assert!(verdict.valid, "{file}: {:?}", verdict.message);
    }
}

/// Each policy parses as the SDK's CRD type (which denies unknown fields), and
/// a validate-only deployment never mutates.
#[test]
fn shipped_policies_have_the_crd_shape() {
    use kubewarden_policy_sdk::crd::policies::{AdmissionPolicy, ClusterAdmissionPolicy};
    for (file, manifest) in manifests().into_iter().filter(|(_, m)| is_policy(m)) {
        let mutating = match manifest["kind"].as_str() {
            Some("ClusterAdmissionPolicy") => {
                serde_json::from_value::<ClusterAdmissionPolicy>(manifest.clone())
                    .map(|p| p.spec.is_some_and(|s| s.mutating))
            }
            _ => serde_json::from_value::<AdmissionPolicy>(manifest.clone())
                .map(|p| p.spec.is_some_and(|s| s.mutating)),
        }
        .unwrap_or_else(|e| panic!("{file}: not a valid {}: {e}", manifest["kind"]));
        assert!(
            manifest["spec"]["module"]
                .as_str()
                .is_some_and(|m| m.starts_with("registry://")),
            "{file}"
        );
        // A policy deployed with mutating: false rejects any request it mutates.
        if !mutating {
            assert_eq!(
                manifest["spec"]["settings"]["mutate"], false,
                "{file}: needs settings.mutate: false"
            );
        }
    }
}

fn policies() -> Vec<(String, Value)> {
    manifests().into_iter().filter(|(_, m)| is_policy(m)).collect()
}

fn text(file: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("policies")
            .join(file),
    )
    .expect("readable")
}

/// Cluster-wide policies stay out of the control plane's namespace and
/// Kubewarden's own (where the policy server runs); every policy says how it
/// fails and how long it may take, and why, in a comment above.
#[test]
fn every_policy_leaves_out_the_system_namespaces_and_says_how_it_fails() {
    for (file, manifest) in policies() {
        let spec = &manifest["spec"];
        if manifest["kind"] == "ClusterAdmissionPolicy" {
            let excluded: Vec<&str> = spec["namespaceSelector"]["matchExpressions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["key"] == "kubernetes.io/metadata.name" && e["operator"] == "NotIn")
                .flat_map(|e| e["values"].as_array().into_iter().flatten())
                .filter_map(Value::as_str)
                .collect();
            for namespace in ["kube-system", "kubewarden"] {
                assert!(excluded.contains(&namespace), "{file}: {namespace} is in scope");
            }
        }
        assert!(
            matches!(spec["failurePolicy"].as_str(), Some("Fail" | "Ignore")),
            "{file}: failurePolicy"
        );
        assert!(
            spec["timeoutSeconds"]
                .as_u64()
                .is_some_and(|t| (1..=30).contains(&t)),
            "{file}: timeoutSeconds"
        );
        let lines: Vec<String> = text(&file).lines().map(str::to_owned).collect();
        let at = lines
            .iter()
            .position(|l| l.trim_start().starts_with("failurePolicy:"))
            .unwrap_or_else(|| panic!("{file}: failurePolicy line"));
        assert!(
            at > 0 && lines[at - 1].trim_start().starts_with('#'),
            "{file}: a comment gives the reason for failurePolicy and timeoutSeconds"
        );
    }
}

/// `kwctl scaffold manifest` copies metadata.yml's rules: they list only what
/// the policy needs, and no shipped policy asks for more. Pods and Jobs
/// cannot change their containers, so their UPDATEs are not routed to it.
#[test]
fn rules_list_only_what_the_policy_needs() {
    let metadata: Value = serde_yaml::from_str(
        &std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("metadata.yml"))
            .expect("metadata.yml"),
    )
    .expect("YAML");
    let strings = |list: &Value| -> Vec<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let routed = |rules: &Value| -> Vec<(String, String)> {
        rules
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|rule| {
                let operations = strings(&rule["operations"]);
                strings(&rule["resources"])
                    .into_iter()
                    .flat_map(move |r| operations.clone().into_iter().map(move |o| (r.clone(), o)))
            })
            .collect()
    };
    let mut needed = routed(&metadata["rules"]);
    needed.sort();
    let expect = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(r, o)| (r.to_string(), o.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        needed,
        expect(&[
            ("cronjobs", "CREATE"),
            ("cronjobs", "UPDATE"),
            ("jobs", "CREATE"),
            ("pods", "CREATE")
        ])
    );
    for (file, manifest) in policies() {
        for pair in routed(&manifest["spec"]["rules"]) {
            assert!(
                needed.contains(&pair),
                "{file}: {pair:?} is not something the policy needs"
            );
        }
    }
}

/// The namespaced policy replaces the cluster-wide validator where its
/// namespace carries the label the validator leaves out, as its comment says.
#[test]
fn the_namespaced_policy_does_what_its_comment_says() {
    let label = "native-sidecar.kubewarden.io/policy";
    let comment = text("admission-policy-namespaced.yaml");
    assert!(comment.contains(&format!("kubectl label namespace batch {label}=namespaced")));
    for (file, manifest) in policies() {
        if manifest["kind"] == "ClusterAdmissionPolicy" && manifest["spec"]["mutating"] == false {
            let expressions = manifest["spec"]["namespaceSelector"]["matchExpressions"].clone();
            assert!(
                expressions
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["key"] == label
                        && e["operator"] == "NotIn"
                        && e["values"] == serde_json::json!(["namespaced"])),
                "{file}: leaves out the namespaces that have their own policy"
            );
        }
    }
}

/// Every sidecar template of the shipped policies, with where it is (`file: "name"`).
fn sample_templates() -> Vec<(String, Value)> {
    policies()
        .into_iter()
        .flat_map(|(file, manifest)| {
            let templates = manifest["spec"]["settings"]["sidecars"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            templates
                .into_iter()
                .map(move |template| (format!("{file}: {}", template["name"]), template))
        })
        .collect()
}

/// Operators copy the sample templates: each passes the `restricted` Pod
/// Security Standard (Kubernetes docs, "Pod Security Standards"), container
/// by container.
#[test]
fn sample_sidecar_templates_pass_the_restricted_pod_security_standard() {
    let mut checked = 0;
    for (at, template) in sample_templates() {
        let container = &template["container"];
        let context = &container["securityContext"];
        assert_eq!(context["allowPrivilegeEscalation"], false, "{at}");
        assert_eq!(context["runAsNonRoot"], true, "{at}");
        assert_ne!(context["runAsUser"], 0, "{at}");
        assert_ne!(context["privileged"], true, "{at}");
        assert!(
            context["capabilities"]["drop"]
                .as_array()
                .is_some_and(|d| d.contains(&"ALL".into())),
            "{at}: drops ALL capabilities"
        );
        assert!(
            context["capabilities"]["add"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|c| c == "NET_BIND_SERVICE"),
            "{at}"
        );
        assert!(
            matches!(
                context["seccompProfile"]["type"].as_str(),
                Some("RuntimeDefault" | "Localhost")
            ),
            "{at}: seccompProfile"
        );
        assert!(
            container["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|p| p.get("hostPort").is_none()),
            "{at}: no hostPort"
        );
        for volume in template["volumes"].as_array().into_iter().flatten() {
            let allowed = [
                "name",
                "configMap",
                "csi",
                "downwardAPI",
                "emptyDir",
                "ephemeral",
                "persistentVolumeClaim",
                "projected",
                "secret",
            ];
            let kinds = volume.as_object().expect("a volume");
            assert!(
                kinds.keys().all(|k| allowed.contains(&k.as_str())),
                "{at}: volume {volume}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 2, "the shipped injectors' templates were checked");
}

/// What the fluent-bit image holds and serves (fluent-bit's Dockerfile and
/// "Monitoring" docs): one config file of its own, and with `-H` (the
/// monitoring HTTP server) these endpoints; `/api/v1/health` answers only
/// with `Health_Check On`, which no command-line flag sets.
const FLUENT_BIT_FILES: [&str; 2] = ["/fluent-bit/etc/fluent-bit.conf", "/fluent-bit/etc/parsers.conf"];
const FLUENT_BIT_ENDPOINTS: [&str; 4] = [
    "/",
    "/api/v1/uptime",
    "/api/v1/metrics",
    "/api/v1/metrics/prometheus",
];

/// The sample templates start where operators copy them: a fluent-bit reads
/// a config the image ships or the template mounts, a startup probe asks an
/// endpoint its command line serves (a failing probe on a native sidecar
/// keeps every opted-in pod in Init), and each container sets limits (a
/// namespace whose LimitRange has a `max` refuses a container without them).
#[test]
fn sample_sidecar_templates_start_and_fit_a_limit_range() {
    let mut checked = 0;
    for (at, template) in sample_templates() {
        let container = &template["container"];
        for resource in ["cpu", "memory"] {
            assert!(
                container["resources"]["limits"][resource].is_string(),
                "{at}: limits.{resource}"
            );
        }
        if !container["image"]
            .as_str()
            .unwrap_or_default()
            .contains("fluent-bit")
        {
            continue;
        }
        let args: Vec<&str> = container["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mounts: Vec<&str> = container["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["mountPath"].as_str())
            .collect();
        for (i, arg) in args.iter().enumerate() {
            let config = match arg.strip_prefix("--config=") {
                Some(path) => Some(path),
                None if *arg == "-c" || *arg == "--config" => args.get(i + 1).copied(),
                None => None,
            };
            if let Some(config) = config {
                assert!(
                    FLUENT_BIT_FILES.contains(&config) || mounts.iter().any(|m| config.starts_with(m)),
                    "{at}: {config} is neither in the image nor mounted"
                );
            }
        }
        if let Some(path) = container["startupProbe"]["httpGet"]["path"].as_str() {
            assert!(args.contains(&"-H"), "{at}: the probe needs the HTTP server (-H)");
            assert!(
                FLUENT_BIT_ENDPOINTS.contains(&path),
                "{at}: fluent-bit serves no {path} here"
            );
        }
        checked += 1;
    }
    assert!(checked >= 2, "the shipped fluent-bit templates were checked");
}
