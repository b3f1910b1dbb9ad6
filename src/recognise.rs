//! Whether a container of a pod *is* the sidecar a template injects: the one
//! definition the injector's idempotence, its enforcement (`allowOptOut:
//! false`) and its marker check share.
//!
//! A container is a template's sidecar when it is one of the template's
//! compiled forms (native, legacy, or a universal copy), give or take
//!
//! - what the API server fills in when it stores a pod (docs/kubernetes-facts.md,
//!   "What the API server fills in"; Kubernetes `pkg/apis/core/v1/defaults.go`): `imagePullPolicy` (`Always` for a
//!   `:latest` or untagged image, else `IfNotPresent`; `Always` also where the
//!   `AlwaysPullImages` admission plugin forces it), `terminationMessagePath`,
//!   `terminationMessagePolicy`, probe timings, `httpGet.path` and `.scheme`,
//!   `grpc.service`, `ports[].protocol`, `env[].valueFrom.fieldRef.apiVersion`,
//!   resource requests copied from limits, quantities in canonical form;
//! - what other admission steps add to every container of a pod, and only
//!   that (docs/kubernetes-facts.md, "What the API server fills in"): the
//!   service-account token mount of the API server's ServiceAccount plugin,
//!   and the env vars and read-only mounts of the cloud identity webhooks and
//!   the Datadog admission controller listed below, with the values they
//!   write; and fields the template does not set that do not change what
//!   runs (ports, say). Any other env var, `envFrom`, device or mount is not
//!   the sidecar: an `LD_PRELOAD`, or a ConfigMap over a directory the image
//!   reads, changes what the image runs.
//!
//! What runs is decided by the image, command, args, working directory,
//! security context, resources, probes, lifecycle hooks and restart policy, the
//! values of the template's env vars and what is mounted at its mount paths:
//! a container that differs in any of them is not the sidecar, whatever its
//! name and markers say.

use serde_json::{Map, Value};

use crate::image;
use crate::quantity::Quantity;

/// The fields that decide what runs: equal to the template's, or absent from
/// both, give or take the API server's defaults.
const WHAT_RUNS: [&str; 13] = [
    "image",
    "command",
    "args",
    "workingDir",
    "envFrom",
    "volumeDevices",
    "securityContext",
    "resources",
    "restartPolicy",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
];

/// `None` when `container` is the compiled `form`; otherwise what differs,
/// for a message.
pub fn difference(container: &Value, form: &Value) -> Option<String> {
    let (Some(container), Some(form)) = (container.as_object(), form.as_object()) else {
        return Some("it is not an object".to_owned());
    };
    for key in WHAT_RUNS {
        let (theirs, ours) = (present(container, key), present(form, key));
        let same = match key {
            "resources" => same_resources(theirs, ours),
            _ => match (theirs, ours) {
                (None, None) => true,
                (Some(theirs), Some(ours)) => same(theirs, ours, Within::Container.child(key), true),
                (Some(theirs), None) => is_empty(theirs),
                (None, Some(ours)) => is_empty(ours),
            },
        };
        if !same {
            return Some(format!("its {key} is not the template's"));
        }
    }
    if let Some(policy) = present(container, "imagePullPolicy")
        && !pull_policy_fits(policy, present(form, "imagePullPolicy"), form)
    {
        return Some(format!(
            "its imagePullPolicy {} is not the template's",
            policy.as_str().unwrap_or("?")
        ));
    }
    env_difference(container, form)
        .or_else(|| mounts_difference(container, form))
        .or_else(|| {
            // Whatever else the template sets (name, ports, envFrom, …) the
            // container has, with anything added.
            form.iter()
                .filter(|(key, _)| {
                    !WHAT_RUNS.contains(&key.as_str())
                        && !matches!(key.as_str(), "env" | "volumeMounts" | "imagePullPolicy")
                })
                .find(|(key, ours)| {
                    !ours.is_null()
                        && !present(container, key)
                            .is_some_and(|theirs| same(theirs, ours, Within::Container.child(key), false))
                })
                .map(|(key, _)| format!("its {key} is not the template's"))
        })
}

/// Whether `theirs` says everything `ours` does, and maybe more: a volume of
/// the pod that is the template's volume once the API server has filled in its
/// defaults (a secret volume's `defaultMode`).
pub fn says_at_least(theirs: &Value, ours: &Value) -> bool {
    same(theirs, ours, Within::Other, false)
}

/// What a webhook's env var may hold: anything (a name, a region, an id,
/// which selects but does not redirect), one of fixed values (a token file,
/// an endpoint: a pod must not point the sidecar elsewhere), or a field of the
/// pod (`valueFrom.fieldRef.fieldPath`).
enum Added {
    Any,
    OneOf(&'static [&'static str]),
    Field(&'static str),
}

/// Env vars that admission webhooks add to every container of the pods they
/// serve, with what they write: aws/amazon-eks-pod-identity-webhook (IAM roles
/// for service accounts), EKS Pod Identity (aws/eks-pod-identity-agent),
/// Azure/azure-workload-identity, and the Datadog admission controller
/// (DataDog/datadog-agent `pkg/clusteragent/admission/mutate`: agent address,
/// entity id, unified service tags). They hand the sidecar an identity or an
/// agent to report to; they change nothing its image runs.
const ADDED_ENV: [(&str, Added); 19] = [
    ("AWS_ROLE_ARN", Added::Any),
    ("AWS_REGION", Added::Any),
    ("AWS_DEFAULT_REGION", Added::Any),
    (
        "AWS_STS_REGIONAL_ENDPOINTS",
        Added::OneOf(&["regional", "legacy"]),
    ),
    (
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        Added::OneOf(&["/var/run/secrets/eks.amazonaws.com/serviceaccount/token"]),
    ),
    (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        Added::OneOf(&[
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
        ]),
    ),
    (
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        Added::OneOf(&["/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"]),
    ),
    ("AZURE_CLIENT_ID", Added::Any),
    ("AZURE_TENANT_ID", Added::Any),
    (
        "AZURE_FEDERATED_TOKEN_FILE",
        Added::OneOf(&["/var/run/secrets/azure/tokens/azure-identity-token"]),
    ),
    (
        "AZURE_AUTHORITY_HOST",
        Added::OneOf(&[
            "https://login.microsoftonline.com/",
            "https://login.microsoftonline.us/",
            "https://login.chinacloudapi.cn/",
        ]),
    ),
    ("DD_AGENT_HOST", Added::Field("status.hostIP")),
    ("DD_ENTITY_ID", Added::Field("metadata.uid")),
    (
        "DD_TRACE_AGENT_URL",
        Added::OneOf(&["unix:///var/run/datadog/apm.socket"]),
    ),
    (
        "DD_DOGSTATSD_URL",
        Added::OneOf(&["unix:///var/run/datadog/dsd.socket"]),
    ),
    ("DD_EXTERNAL_ENV", Added::Any),
    ("DD_ENV", Added::Any),
    ("DD_SERVICE", Added::Any),
    ("DD_VERSION", Added::Any),
];

/// Where the API server's ServiceAccount admission plugin mounts the
/// service-account token (kubernetes `plugin/pkg/admission/serviceaccount`),
/// and the webhooks above their tokens or the agent's sockets: read-only,
/// whole (no `subPath`).
const ADDED_MOUNT_PATHS: [&str; 5] = [
    "/var/run/secrets/kubernetes.io/serviceaccount",
    "/var/run/secrets/eks.amazonaws.com/serviceaccount",
    "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount",
    "/var/run/secrets/azure/tokens",
    "/var/run/datadog",
];

/// Whether `entry` is an env var one of those webhooks writes, as it writes it.
fn added_env(entry: &Value) -> bool {
    let name = entry.get("name").and_then(Value::as_str);
    let Some((_, added)) = ADDED_ENV.iter().find(|(n, _)| Some(*n) == name) else {
        return false;
    };
    let value = entry.get("value").and_then(Value::as_str);
    let field = entry
        .pointer("/valueFrom/fieldRef/fieldPath")
        .and_then(Value::as_str);
    match added {
        Added::Any => true,
        Added::OneOf(values) => value.is_some_and(|v| values.contains(&v)),
        Added::Field(path) => value.is_none() && field == Some(path),
    }
}

/// Whether `mount` is one of those webhooks' token or socket mounts.
fn added_mount(mount: &Value) -> bool {
    let at = mount.get("mountPath").and_then(Value::as_str).unwrap_or("");
    ADDED_MOUNT_PATHS.contains(&at.trim_end_matches('/'))
        && mount
            .get("subPath")
            .is_none_or(|p| p.as_str().is_some_and(str::is_empty))
        && mount.get("readOnly").and_then(Value::as_bool) == Some(true)
}

/// Every env var the template sets has the template's value, in every entry
/// of that name (the last of duplicates wins in a kubelet); the only others
/// are the webhooks' (`ADDED_ENV`), as they write them.
fn env_difference(container: &Map<String, Value>, form: &Map<String, Value>) -> Option<String> {
    let theirs = entries(container, "env");
    let differs = entries(form, "env").find_map(|ours| {
        let name = ours.get("name")?;
        let mut same_name = theirs.clone().filter(|t| t.get("name") == Some(name)).peekable();
        let differs = same_name.peek().is_none() || same_name.any(|t| !same(t, ours, Within::EnvVar, true));
        differs.then(|| format!("its env var {name} is not the template's"))
    });
    differs.or_else(|| {
        theirs
            .filter(|t| !entries(form, "env").any(|o| o.get("name") == t.get("name")) && !added_env(t))
            .find_map(|t| t.get("name"))
            .map(|name| format!("its env var {name} is not the template's"))
    })
}

/// Every mount of the template is there as the template has it, and the only
/// others are the webhooks' read-only token and socket mounts (`ADDED_MOUNT_PATHS`).
fn mounts_difference(container: &Map<String, Value>, form: &Map<String, Value>) -> Option<String> {
    let ours: Vec<&Value> = entries(form, "volumeMounts").collect();
    if let Some(missing) = ours
        .iter()
        .find(|o| !entries(container, "volumeMounts").any(|t| same(t, o, Within::Other, true)))
    {
        return Some(format!(
            "it does not mount {} as the template does",
            mount_text(missing)
        ));
    }
    entries(container, "volumeMounts")
        .filter(|t| !ours.iter().any(|o| same(t, o, Within::Other, true)))
        .find_map(|extra| {
            let at = extra.get("mountPath").and_then(Value::as_str).unwrap_or("");
            let shadowed = ours.iter().find(|o| {
                let path = o.get("mountPath").and_then(Value::as_str).unwrap_or("");
                at_or_under(at, path)
            });
            match shadowed {
                Some(shadowed) => Some(format!(
                    "its mount {} covers the template's {}",
                    mount_text(extra),
                    mount_text(shadowed)
                )),
                None if added_mount(extra) => None,
                None => Some(format!("its mount {} is not the template's", mount_text(extra))),
            }
        })
}

fn mount_text(mount: &Value) -> String {
    let field = |key: &str| mount.get(key).and_then(Value::as_str).unwrap_or("?");
    format!("of volume {:?} at {:?}", field("name"), field("mountPath"))
}

/// `path` is `base` or a path below it (`/etc/app` and `/etc/app/conf`).
fn at_or_under(path: &str, base: &str) -> bool {
    let (path, base) = (path.trim_end_matches('/'), base.trim_end_matches('/'));
    path.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || base.is_empty())
}

/// The pull policy the API server gives an image when none is set.
fn pull_policy_fits(theirs: &Value, ours: Option<&Value>, form: &Map<String, Value>) -> bool {
    if let Some(ours) = ours {
        return theirs == ours;
    }
    let image = form.get("image").and_then(Value::as_str).unwrap_or("");
    let defaulted = if image::tag(image) == Some("latest") {
        "Always"
    } else {
        "IfNotPresent"
    };
    theirs.as_str().is_some_and(|p| p == defaulted || p == "Always")
}

/// Where a value sits in a container, for the defaults the API server fills in there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Within {
    Container,
    Probe,
    Lifecycle,
    Handler,
    HttpGet,
    Grpc,
    Port,
    EnvVar,
    ValueFrom,
    FieldRef,
    Other,
}

impl Within {
    fn child(self, key: &str) -> Within {
        match (self, key) {
            (Within::Container, "livenessProbe" | "readinessProbe" | "startupProbe") => Within::Probe,
            (Within::Container, "lifecycle") => Within::Lifecycle,
            (Within::Container, "ports") => Within::Port,
            (Within::Container, "env") => Within::EnvVar,
            (Within::Lifecycle, _) => Within::Handler,
            (Within::Probe | Within::Handler, "httpGet") => Within::HttpGet,
            (Within::Probe, "grpc") => Within::Grpc,
            (Within::EnvVar, "valueFrom") => Within::ValueFrom,
            (Within::ValueFrom, "fieldRef") => Within::FieldRef,
            _ => Within::Other,
        }
    }

    /// The value the API server stores for `key` here when the object leaves it out.
    fn default(self, key: &str) -> Option<Value> {
        Some(match (self, key) {
            (Within::Probe, "timeoutSeconds") => Value::from(1),
            (Within::Probe, "periodSeconds") => Value::from(10),
            (Within::Probe, "successThreshold") => Value::from(1),
            (Within::Probe, "failureThreshold") => Value::from(3),
            (Within::HttpGet, "path") => Value::from("/"),
            (Within::HttpGet, "scheme") => Value::from("HTTP"),
            (Within::Grpc, "service") => Value::from(""),
            (Within::Port, "protocol") => Value::from("TCP"),
            (Within::FieldRef, "apiVersion") => Value::from("v1"),
            _ => return None,
        })
    }
}

/// Whether `theirs` says what `ours` says. `strict`: nothing more either,
/// but the defaults of `within` (lists item by item); otherwise `theirs` may
/// add keys, and list items (each of ours matched by one of theirs).
fn same(theirs: &Value, ours: &Value, within: Within, strict: bool) -> bool {
    match (theirs, ours) {
        (Value::Object(theirs), Value::Object(ours)) => {
            let ours_covered = ours.iter().all(|(key, o)| match present(theirs, key) {
                Some(t) => same(t, o, within.child(key), strict),
                None => o.is_null(),
            });
            ours_covered
                && (!strict
                    || theirs.iter().all(|(key, t)| {
                        present(ours, key).is_some() || t.is_null() || within.default(key).as_ref() == Some(t)
                    }))
        }
        (Value::Array(theirs), Value::Array(ours)) if strict => {
            theirs.len() == ours.len() && theirs.iter().zip(ours).all(|(t, o)| same(t, o, within, true))
        }
        (Value::Array(theirs), Value::Array(ours)) => ours
            .iter()
            .all(|o| theirs.iter().any(|t| same(t, o, within, false))),
        (Value::Number(t), Value::Number(o)) => t.as_f64() == o.as_f64(),
        _ => theirs == ours,
    }
}

/// Requests and limits by value (`500m` is `0.5`); a request the container
/// has and the template does not is the template's limit copied by the API
/// server.
fn same_resources(theirs: Option<&Value>, ours: Option<&Value>) -> bool {
    let list = |resources: Option<&Value>, key: &str| -> Map<String, Value> {
        resources
            .and_then(|r| r.get(key))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let other_keys = |resources: Option<&Value>| {
        resources
            .and_then(Value::as_object)
            .map(|r| {
                r.iter()
                    .filter(|(k, v)| !matches!(k.as_str(), "requests" | "limits") && !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Map<String, Value>>()
            })
            .unwrap_or_default()
    };
    let (our_limits, our_requests) = (list(ours, "limits"), list(ours, "requests"));
    // Requests as stored: the template's, and its limits where it has none.
    let mut their_requests = list(theirs, "requests");
    for (resource, limit) in &our_limits {
        if !our_requests.contains_key(resource)
            && their_requests
                .get(resource)
                .is_some_and(|request| same_quantity(request, limit))
        {
            their_requests.remove(resource);
        }
    }
    same_quantities(&list(theirs, "limits"), &our_limits)
        && same_quantities(&their_requests, &our_requests)
        && same(
            &Value::Object(other_keys(theirs)),
            &Value::Object(other_keys(ours)),
            Within::Other,
            true,
        )
}

fn same_quantities(theirs: &Map<String, Value>, ours: &Map<String, Value>) -> bool {
    theirs.len() == ours.len()
        && ours
            .iter()
            .all(|(resource, o)| theirs.get(resource).is_some_and(|t| same_quantity(t, o)))
}

fn same_quantity(theirs: &Value, ours: &Value) -> bool {
    match (Quantity::read(theirs), Quantity::read(ours)) {
        (Some(t), Some(o)) => t.same_value(o),
        _ => theirs == ours,
    }
}

/// A key's value unless it is absent or null.
fn present<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.get(key).filter(|v| !v.is_null())
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.values().all(is_empty),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn entries<'v>(object: &'v Map<String, Value>, key: &str) -> impl Iterator<Item = &'v Value> + Clone {
    object.get(key).and_then(Value::as_array).into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    /// A native form as the settings compile it.
    fn form() -> Value {
        json!({"name": "proxy", "image": "registry.example.com/proxy:1.4", "restartPolicy": "Always",
               "command": ["/proxy"], "args": ["--config=/etc/proxy/config.yaml"],
               "ports": [{"containerPort": 15090, "name": "metrics"}],
               "resources": {"limits": {"cpu": "0.5", "memory": "64Mi"}},
               "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false},
               "startupProbe": {"httpGet": {"port": 15021}},
               "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                       {"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "proxy"}],
               "volumeMounts": [{"name": "proxy-config", "mountPath": "/etc/proxy", "readOnly": true}]})
    }

    /// The form as the API server stores it, with what the ServiceAccount
    /// plugin, a cloud identity webhook and Datadog's add.
    fn stored() -> Value {
        json!({"name": "proxy", "image": "registry.example.com/proxy:1.4", "restartPolicy": "Always",
               "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
               "terminationMessagePolicy": "File",
               "command": ["/proxy"], "args": ["--config=/etc/proxy/config.yaml"],
               "ports": [{"containerPort": 15090, "name": "metrics", "protocol": "TCP"}],
               "resources": {"limits": {"cpu": "500m", "memory": "64Mi"},
                             "requests": {"cpu": "500m", "memory": "64Mi"}},
               "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false},
               "startupProbe": {"httpGet": {"port": 15021, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
               "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP", "apiVersion": "v1"}}},
                       {"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "proxy"},
                       {"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::1:role/r"},
                       {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"},
                       {"name": "DD_AGENT_HOST", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.hostIP"}}},
                       {"name": "DD_ENTITY_ID", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.uid"}}}],
               "volumeMounts": [{"name": "proxy-config", "mountPath": "/etc/proxy", "readOnly": true},
                                {"name": "aws-iam-token", "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount", "readOnly": true},
                                {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true},
                                {"name": "datadog", "mountPath": "/var/run/datadog", "readOnly": true}]})
    }

    fn with(base: Value, pointer: &str, value: Value) -> Value {
        let mut changed = base;
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        match changed.pointer_mut(parent) {
            Some(Value::Object(map)) => {
                map.insert(key.to_owned(), value);
            }
            Some(Value::Array(items)) => match key.parse::<usize>() {
                Ok(index) => items[index] = value,
                Err(_) => items.push(value),
            },
            _ => panic!("no {parent} in the test container"),
        }
        changed
    }

    #[test]
    fn the_form_itself_and_as_the_api_server_stores_it_are_the_sidecar() {
        assert_eq!(difference(&form(), &form()), None);
        assert_eq!(difference(&stored(), &form()), None);
        let always_pull = with(stored(), "/imagePullPolicy", json!("Always"));
        assert_eq!(difference(&always_pull, &form()), None, "AlwaysPullImages");
        let more_ports = with(stored(), "/ports/-", json!({"containerPort": 9000}));
        assert_eq!(difference(&more_ports, &form()), None);
    }

    #[rstest]
    #[case::command(with(stored(), "/command", json!(["sleep", "infinity"])), "its command")]
    #[case::args(with(stored(), "/args", json!(["--config=/tmp/mine.yaml"])), "its args")]
    #[case::image(with(stored(), "/image", json!("registry.example.com/proxy:evil")), "its image")]
    #[case::working_dir(with(stored(), "/workingDir", json!("/tmp")), "its workingDir")]
    #[case::tiny_memory(with(stored(), "/resources/limits/memory", json!("1Mi")), "its resources")]
    #[case::extra_limit(with(stored(), "/resources/limits/ephemeral-storage", json!("1Mi")), "its resources")]
    #[case::privileged(with(stored(), "/securityContext/privileged", json!(true)), "its securityContext")]
    #[case::probe_added(with(stored(), "/livenessProbe", json!({"exec": {"command": ["false"]}})), "its livenessProbe")]
    #[case::probe_timing(with(stored(), "/startupProbe/failureThreshold", json!(1000)), "its startupProbe")]
    #[case::not_native(with(stored(), "/restartPolicy", Value::Null), "its restartPolicy")]
    #[case::pull_never(with(stored(), "/imagePullPolicy", json!("Never")), "imagePullPolicy Never")]
    #[case::env_value(with(stored(), "/env/1", json!({"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "other"})), "env var \"KUBEWARDEN_NATIVE_SIDECAR\"")]
    #[case::env_duplicate(with(stored(), "/env/-", json!({"name": "POD_IP", "value": "127.0.0.1"})), "env var \"POD_IP\"")]
    #[case::config_shadowed(with(stored(), "/volumeMounts/-", json!({"name": "mine", "mountPath": "/etc/proxy/config.yaml", "subPath": "c"})), "covers the template's of volume \"proxy-config\"")]
    #[case::config_replaced(with(stored(), "/volumeMounts/0", json!({"name": "mine", "mountPath": "/etc/proxy"})), "does not mount of volume \"proxy-config\"")]
    #[case::port_missing(with(stored(), "/ports", json!([])), "its ports")]
    #[case::preload(with(stored(), "/env/-", json!({"name": "LD_PRELOAD", "value": "/tmp/x.so"})), "env var \"LD_PRELOAD\"")]
    #[case::credentials_elsewhere(with(stored(), "/env/-", json!({"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": "https://evil.example/c"})), "env var \"AWS_CONTAINER_CREDENTIALS_FULL_URI\"")]
    #[case::agent_elsewhere(with(stored(), "/env/-", json!({"name": "DD_AGENT_HOST", "value": "evil.example"})), "env var \"DD_AGENT_HOST\"")]
    #[case::token_writable(with(stored(), "/volumeMounts/2/readOnly", json!(false)), "at \"/var/run/secrets/kubernetes.io/serviceaccount\" is not the template's")]
    #[case::token_sub_path(with(stored(), "/volumeMounts/2/subPath", json!("x")), "at \"/var/run/secrets/kubernetes.io/serviceaccount\" is not the template's")]
    #[case::env_from(with(stored(), "/envFrom", json!([{"configMapRef": {"name": "mine"}}])), "its envFrom")]
    #[case::device(with(stored(), "/volumeDevices", json!([{"name": "d", "devicePath": "/dev/x"}])), "its volumeDevices")]
    #[case::config_elsewhere(with(stored(), "/volumeMounts/-", json!({"name": "mine", "mountPath": "/etc/envoy"})), "its mount of volume \"mine\" at \"/etc/envoy\" is not the template's")]
    fn a_container_that_changes_what_runs_is_not_the_sidecar(#[case] container: Value, #[case] reason: &str) {
        let found = difference(&container, &form());
        assert!(found.as_deref().is_some_and(|f| f.contains(reason)), "{found:?}");
    }

    #[rstest]
    #[case(json!("500m"), json!("0.5"), true)]
    #[case(json!("1Gi"), json!("1073741824"), true)]
    #[case(json!("1Gi"), json!("1024Mi"), true)]
    #[case(json!("1e3"), json!("1k"), true)]
    #[case(json!(2), json!("2000m"), true)]
    #[case(json!("100m"), json!("0.1001"), false)]
    #[case(json!("64Mi"), json!("64M"), false)]
    #[case(json!("1x"), json!("1x"), true)]
    #[case(json!("1x"), json!("1"), false)]
    #[case(json!("e1e999"), json!("1"), false)]
    #[case(json!("99999999999999999999999999999999999999999Ei"), json!("1"), false)]
    fn quantities_compare_by_value(#[case] theirs: Value, #[case] ours: Value, #[case] same: bool) {
        assert_eq!(same_quantity(&theirs, &ours), same);
    }
}
