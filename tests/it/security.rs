//! What a pod can and cannot make the injector do: it picks among the
//! operator's templates, nothing more.

use crate::harness;

use harness::{Policy, fixture};
use serde_json::{Value, json};

fn pod(annotations: Value, containers: Value) -> Value {
    json!({"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "namespace": "team",
           "object": {"metadata": {"name": "p", "annotations": annotations}, "spec": {"containers": containers}}})
}

fn app() -> Value {
    json!([{"name": "app", "image": "registry.example.com/app:1"}])
}

fn init_names(outcome: &harness::Outcome) -> Vec<String> {
    let object = outcome.patched.as_ref().expect("mutated");
    object["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn warnings(outcome: &harness::Outcome) -> String {
    outcome.response.warnings.clone().unwrap_or_default().join("\n")
}

#[test]
fn a_pod_cannot_name_a_template_the_operator_does_not_have() {
    let outcome = Policy::new().validate(
        &fixture("settings/enforced.json"),
        &pod(
            json!({"native-sidecar.kubewarden.io/inject": "crypto-miner"}),
            app(),
        ),
    );
    assert_eq!(init_names(&outcome), ["mesh-proxy"], "only the enforced template");
    assert!(warnings(&outcome).contains("no sidecar template named crypto-miner"));
}

#[test]
fn a_pod_cannot_inject_content_of_its_own() {
    let smuggled = json!({"name": "x", "image": "evil", "securityContext": {"privileged": true}}).to_string();
    let outcome = Policy::new().validate(
        &fixture("settings/enforced.json"),
        &pod(json!({"native-sidecar.kubewarden.io/inject": smuggled}), app()),
    );
    let patched = outcome.patched.as_ref().expect("mutated");
    // The annotation stays as the user wrote it; nothing of it is injected.
    assert_eq!(
        patched["spec"]["initContainers"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(!patched["spec"].to_string().contains("privileged"), "{patched}");
    assert!(warnings(&outcome).contains("no sidecar template named"));
}

#[test]
fn a_forged_status_annotation_does_not_escape_an_always_template() {
    let forged =
        json!({"injected": [{"template": "mesh", "container": "mesh-proxy", "mode": "native"}]}).to_string();
    let outcome = Policy::new().validate(
        &fixture("settings/enforced.json"),
        &pod(json!({"native-sidecar.kubewarden.io/status": forged}), app()),
    );
    assert_eq!(init_names(&outcome), ["mesh-proxy"]);
}

#[test]
fn a_forged_marker_is_ignored_and_reported() {
    let containers = json!([{"name": "app", "image": "a", "env": [{"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "mesh"}]}]);
    let outcome = Policy::new().validate(&fixture("settings/enforced.json"), &pod(json!({}), containers));
    assert_eq!(init_names(&outcome), ["mesh-proxy"]);
    assert_eq!(
        warnings(&outcome),
        "container \"app\" carries KUBEWARDEN_NATIVE_SIDECAR=\"mesh\" but is not what that sidecar template injects: \
         the marker is ignored"
    );
}

#[test]
fn a_look_alike_container_cannot_replace_an_enforced_sidecar() {
    let containers = json!([{"name": "app", "image": "a"},
        {"name": "mesh-proxy", "image": "busybox", "command": ["sleep", "infinity"],
         "env": [{"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "mesh"}]}]);
    let enforced = Policy::new().validate(
        &fixture("settings/enforced.json"),
        &pod(json!({}), containers.clone()),
    );
    assert!(!enforced.response.accepted);
    assert!(enforced.response.message.unwrap_or_default().starts_with(
        "the pod already has a container named \"mesh-proxy\" that is not the sidecar of template \"mesh\""
    ));

    let mut lenient = fixture("settings/enforced.json");
    lenient["allowOptOut"] = json!(true);
    let warned = Policy::new().validate(&lenient, &pod(json!({}), containers));
    assert!(warned.response.accepted);
    assert!(warnings(&warned).contains("sidecar template \"mesh\" not injected"));
}

#[test]
fn opt_out_can_be_disabled_by_the_operator() {
    let outcome = Policy::new().validate(
        &fixture("settings/enforced.json"),
        &pod(json!({"native-sidecar.kubewarden.io/inject": "false"}), app()),
    );
    assert_eq!(init_names(&outcome), ["mesh-proxy"]);
    assert!(warnings(&outcome).contains("does not allow opting out (allowOptOut: false)"));
}

#[test]
fn our_own_sidecar_after_api_server_defaulting_is_recognised() {
    let policy = Policy::new();
    let settings = fixture("settings/enforced.json");
    let mut request = pod(json!({}), app());
    let mut injected = policy.validate(&settings, &request).patched.expect("mutated");
    // What the API server adds to every container before webhooks run again.
    injected["spec"]["initContainers"][0]["terminationMessagePath"] = json!("/dev/termination-log");
    injected["spec"]["initContainers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    request["object"] = injected;
    let again = policy.validate(&settings, &request);
    assert!(again.response.accepted);
    assert_eq!(again.response.mutated_object, None);
    assert_eq!(again.response.warnings, None);
}

/// An enforced template with what the API server defaults inside its fields.
fn enforced_proxy() -> Value {
    json!({"allowOptOut": false, "sidecars": [{"name": "mesh", "injection": "always",
        "container": {"name": "mesh-proxy", "image": "envoyproxy/envoy:v1.31.0",
            "args": ["-c", "/etc/envoy/envoy.yaml"],
            "ports": [{"containerPort": 15090, "name": "metrics"}],
            "resources": {"limits": {"cpu": "0.5", "memory": "128Mi"}},
            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "startupProbe": {"httpGet": {"port": 15021}},
            "volumeMounts": [{"name": "envoy-config", "mountPath": "/etc/envoy", "readOnly": true}]},
        "volumes": [{"name": "envoy-config", "configMap": {"name": "envoy"}}]}]})
}

/// The injected pod as the API server stores it, after a cloud identity
/// webhook added its env var and token mount to every container: what
/// `kubectl debug --copy-to`, a restore from backup or a second deployment
/// of the policy sends back through admission.
fn stored_after_injection(policy: &Policy, settings: &Value) -> Value {
    let mut stored = policy
        .validate(settings, &pod(json!({}), app()))
        .patched
        .expect("injected");
    let proxy = &mut stored["spec"]["initContainers"][0];
    proxy["imagePullPolicy"] = json!("IfNotPresent");
    proxy["terminationMessagePath"] = json!("/dev/termination-log");
    proxy["terminationMessagePolicy"] = json!("File");
    proxy["ports"][0]["protocol"] = json!("TCP");
    proxy["resources"] = json!({"limits": {"cpu": "500m", "memory": "128Mi"},
                                "requests": {"cpu": "500m", "memory": "128Mi"}});
    proxy["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] = json!("v1");
    proxy["startupProbe"] = json!({"httpGet": {"port": 15021, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3});
    for at in ["/spec/initContainers/0", "/spec/containers/0"] {
        let container = stored.pointer_mut(at).expect("a container");
        for (list, added) in [
            (
                "env",
                json!({"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::1:role/r"}),
            ),
            (
                "volumeMounts",
                json!({"name": "aws-iam-token", "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount",
                       "readOnly": true}),
            ),
            (
                "volumeMounts",
                json!({"name": "kube-api-access-7xk2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                       "readOnly": true}),
            ),
        ] {
            if container[list].is_null() {
                container[list] = json!([]);
            }
            container[list].as_array_mut().expect("a list").push(added);
        }
    }
    stored["spec"]["volumes"][0]["configMap"]["defaultMode"] = json!(420);
    stored
}

#[test]
fn our_sidecar_as_the_api_server_and_other_webhooks_left_it_is_recognised() {
    let policy = Policy::new();
    let settings = enforced_proxy();
    let mut request = pod(json!({}), app());
    request["object"] = stored_after_injection(&policy, &settings);
    let again = policy.validate(&settings, &request);
    assert!(again.response.accepted, "{again:?}");
    assert_eq!(again.response.mutated_object, None);
    assert_eq!(again.response.warnings, None);
}

/// A container of the enforced name that runs something else is not the
/// sidecar, however much of the template it copies.
#[rstest::rstest]
#[case::other_args("/args", json!(["-c", "/etc/envoy/envoy.yaml", "--mode", "validate"]), "its args is not the template's")]
#[case::command(
    "/command",
    json!(["sleep", "infinity"]),
    "its command is not the template's"
)]
#[case::own_config_over_the_template_mount(
    "/volumeMounts/-",
    json!({"name": "mine", "mountPath": "/etc/envoy/envoy.yaml", "subPath": "envoy.yaml"}),
    "its mount of volume \"mine\" at \"/etc/envoy/envoy.yaml\" covers the template's of volume \"envoy-config\" at \"/etc/envoy\""
)]
#[case::tiny_memory(
    "/resources/limits/memory",
    json!("4Mi"),
    "its resources is not the template's"
)]
#[case::other_image("/image", json!("busybox:1.36"), "its image is not the template's")]
#[case::no_probe("/startupProbe", Value::Null, "its startupProbe is not the template's")]
#[case::preload(
    "/env/-",
    json!({"name": "LD_PRELOAD", "value": "/tmp/hook.so"}),
    "its env var \"LD_PRELOAD\" is not the template's"
)]
#[case::env_from("/envFrom", json!([{"configMapRef": {"name": "mine"}}]), "its envFrom is not the template's")]
#[case::own_config_directory(
    "/volumeMounts/-",
    json!({"name": "mine", "mountPath": "/etc/envoy-overrides"}),
    "its mount of volume \"mine\" at \"/etc/envoy-overrides\" is not the template's"
)]
fn a_look_alike_of_an_enforced_sidecar_is_refused(
    #[case] pointer: &str,
    #[case] value: Value,
    #[case] reason: &str,
) {
    let policy = Policy::new();
    let settings = enforced_proxy();
    let mut request = pod(json!({}), app());
    let mut stored = stored_after_injection(&policy, &settings);
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let target = stored
        .pointer_mut(&format!("/spec/initContainers/0{parent}"))
        .expect("in the sidecar");
    match (target, key) {
        (Value::Array(items), "-") => items.push(value),
        (Value::Object(fields), key) => {
            fields.insert(key.to_owned(), value);
        }
        _ => panic!("{pointer}"),
    }
    request["object"] = stored;
    let outcome = policy.validate(&settings, &request);
    assert!(!outcome.response.accepted, "{outcome:?}");
    let message = outcome.response.message.unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "the pod already has a container named \"mesh-proxy\" that is not the sidecar of template \"mesh\" \
             ({reason}), which the cluster operator requires in every pod"
        )),
        "{message}"
    );
}

/// A pod author must not escape a required sidecar unseen by asking for
/// host networking: a warning for them, an audit annotation for the operator.
#[test]
fn host_network_never_skips_a_required_sidecar_silently() {
    let request = json!({"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "namespace": "team",
        "object": {"metadata": {"name": "p"}, "spec": {"hostNetwork": true, "containers": app()}}});
    let outcome = Policy::new().validate(&fixture("settings/enforced.json"), &request);
    assert!(outcome.response.accepted);
    assert_eq!(outcome.response.mutated_object, None);
    assert_eq!(
        outcome.response.warnings,
        Some(vec![
            "no sidecar injected (mesh-proxy): the pod uses hostNetwork, and this policy does not inject into \
             hostNetwork pods (setting injectHostNetworkPods)"
                .to_owned()
        ])
    );
    let audit = outcome.response.audit_annotations.unwrap_or_default();
    assert_eq!(
        audit.get("sidecars-not-injected").map(String::as_str),
        Some(
            "mesh-proxy: the pod uses hostNetwork, and this policy does not inject into hostNetwork pods \
             (setting injectHostNetworkPods)"
        )
    );
}

/// Every reason not to inject an enforced template is a refusal that names
/// the template, the conflict and the fix: a volume of the template's name,
/// a container of the universal copy's name, a Windows pod the template's
/// Linux-only settings cannot run in. Where the template is only injected by
/// default (`allowOptOut: true`), the same pods get a warning and the
/// operator an audit annotation.
#[rstest::rstest]
#[case::own_volume(
    json!({"allowOptOut": false, "sidecars": [{"name": "mesh", "injection": "always",
        "container": {"name": "mesh-proxy", "image": "envoyproxy/envoy:v1.31.0",
                      "volumeMounts": [{"name": "mesh-certs", "mountPath": "/etc/certs"}]},
        "volumes": [{"name": "mesh-certs", "secret": {"secretName": "mesh-certs"}}]}]}),
    json!({"containers": app(), "volumes": [{"name": "mesh-certs", "emptyDir": {}}]}),
    "the pod already has a volume named \"mesh-certs\" that is not the one sidecar template \"mesh\" brings",
    "rename the pod's volume"
)]
#[case::legacy_copy_name(
    json!({"allowOptOut": false, "nativeSupport": {"strategy": "universal"}, "sidecars": [{"name": "mesh",
        "injection": "always", "container": {"name": "mesh-proxy", "image": "envoyproxy/envoy:v1.31.0",
                                             "command": ["envoy"]}}]}),
    json!({"containers": [{"name": "app", "image": "a"},
                          {"name": "mesh-proxy-legacy", "image": "busybox", "command": ["sleep", "infinity"]}]}),
    "the pod already has a container named \"mesh-proxy-legacy\", the name of the regular copy of sidecar template \"mesh\"",
    "rename the pod's container"
)]
#[case::windows(
    json!({"allowOptOut": false, "sidecars": [{"name": "mesh", "injection": "always",
        "container": {"name": "mesh-proxy", "image": "envoyproxy/envoy:v1.31.0",
                      "securityContext": {"runAsUser": 1337, "allowPrivilegeEscalation": false,
                                          "runAsNonRoot": true}}}]}),
    json!({"os": {"name": "windows"}, "containers": app()}),
    "the pod runs Windows (spec.os.name: windows), where the API server refuses the \
     securityContext.allowPrivilegeEscalation, securityContext.runAsUser of sidecar template \"mesh\"",
    "run the pod on the template's operating system"
)]
#[case::linux(
    json!({"allowOptOut": false, "sidecars": [{"name": "mesh", "injection": "always",
        "container": {"name": "mesh-proxy", "image": "envoyproxy/envoy:v1.31.0",
                      "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}}}}]}),
    json!({"os": {"name": "linux"}, "containers": app()}),
    "the pod runs Linux (spec.os.name: linux), where the API server refuses the securityContext.windowsOptions \
     of sidecar template \"mesh\"",
    "run the pod on the template's operating system"
)]
#[case::host_process(
    json!({"allowOptOut": false, "injectHostNetworkPods": true, "sidecars": [{"name": "mesh", "injection": "always",
        "container": {"name": "mesh-proxy", "image": "envoyproxy/envoy:v1.31.0"}}]}),
    json!({"os": {"name": "windows"}, "hostNetwork": true,
           "securityContext": {"windowsOptions": {"hostProcess": true}}, "containers": app()}),
    "the pod runs Windows HostProcess containers, beside which the API server refuses any other, such as \
     sidecar template \"mesh\"",
    "ask the cluster operator to leave HostProcess pods out of this policy"
)]
fn no_reason_dodges_an_enforced_template(
    #[case] settings: Value,
    #[case] spec: Value,
    #[case] why: &str,
    #[case] fix: &str,
) {
    let request = json!({"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "namespace": "team",
                         "object": {"metadata": {"name": "p"}, "spec": spec}});
    let enforced = Policy::new().validate(&settings, &request);
    assert!(!enforced.response.accepted, "{enforced:?}");
    let message = enforced.response.message.unwrap_or_default();
    assert!(message.starts_with(why), "{message}");
    assert!(
        message.contains("which the cluster operator requires in every pod"),
        "{message}"
    );
    assert!(message.contains(fix), "{message}");

    let mut by_default = settings.clone();
    by_default["allowOptOut"] = json!(true);
    let warned = Policy::new().validate(&by_default, &request);
    assert!(warned.response.accepted, "{warned:?}");
    assert!(
        warnings(&warned).contains(&format!("sidecar template \"mesh\" not injected: {why}; {fix}")),
        "{warned:?}"
    );
    let audit = warned.response.audit_annotations.unwrap_or_default();
    assert_eq!(
        audit.get("sidecars-not-injected").map(String::as_str),
        Some(format!("mesh-proxy: {why}").as_str())
    );
}

/// A Windows pod gets a template that sets nothing Windows forbids.
#[test]
fn a_windows_pod_gets_a_template_it_can_run() {
    let settings = json!({"allowOptOut": false, "sidecars": [{"name": "mesh", "injection": "always",
        "container": {"name": "mesh-proxy", "image": "envoyproxy/envoy:v1.31.0",
                      "securityContext": {"runAsNonRoot": true}}}]});
    let request = json!({"uid": "u", "kind": {"kind": "Pod"}, "operation": "CREATE", "namespace": "team",
                         "object": {"metadata": {"name": "p"}, "spec": {"os": {"name": "windows"}, "containers": app()}}});
    let outcome = Policy::new().validate(&settings, &request);
    assert!(outcome.response.accepted, "{outcome:?}");
    assert_eq!(init_names(&outcome), ["mesh-proxy"]);
}
