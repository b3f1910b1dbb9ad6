//! Mixed clusters: every nativeSupport strategy, evaluated by the real module
//! under wasmtime, with Node lists answered as Kubewarden's host would.

use crate::harness;

use harness::{Policy, assert_nothing_lost, fixture};
use rstest::rstest;
use serde_json::{Value, json};

const STATUS: &str = "native-sidecar.kubewarden.io/status";

fn pod(spec: Value) -> Value {
    json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
           "namespace": "default",
           "object": {"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "p", "annotations": {"native-sidecar.kubewarden.io/inject": "true"}},
                      "spec": spec}})
}

fn app() -> Value {
    json!([{"name": "app", "image": "registry.example.com/app:1"}])
}

/// The injector's sample settings under another strategy.
fn with_strategy(support: Value) -> Value {
    let mut settings = fixture("settings/injector.json");
    settings["nativeSupport"] = support;
    settings
}

/// A policy whose host answers about `nodes` as Kubewarden's does (label
/// selectors, field masks, a node by name), or fails with the error.
fn cluster(nodes: Result<Value, &'static str>) -> Policy {
    match nodes {
        Ok(mut nodes) => {
            nodes["apiVersion"] = json!("v1");
            nodes["kind"] = json!("NodeList");
            harness::cluster_policy(vec![nodes])
        }
        Err(error) => {
            Policy::with_cluster(
                move |operation, request| match (operation, request["kind"].as_str()) {
                    ("list_resources_all", Some("Node")) => Err(error.to_owned()),
                    _ => Err(format!("unexpected {operation} {request}")),
                },
            )
        }
    }
}

fn names(object: &Value, list: &str) -> Vec<String> {
    object["spec"][list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn status(object: &Value) -> Value {
    object["metadata"]["annotations"][STATUS]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

fn node(name: &str, version: &str, labels: Value) -> Value {
    json!({"metadata": {"name": name, "labels": labels}, "status": {"nodeInfo": {"kubeletVersion": version}}})
}

#[rstest]
#[case::all_new(json!({"items": [node("a", "v1.30.2+k3s1", json!({})), node("b", "v1.29.6-gke.1038000", json!({}))]}), json!({}), "native", "all 2 of the cluster's nodes run kubelet >= 1.29")]
#[case::one_old(json!({"items": [node("a", "v1.30.2", json!({})), node("b", "v1.28.9-eks-036c24b", json!({}))]}), json!({}), "legacy", "b runs kubelet v1.28.9-eks-036c24b")]
#[case::selector_picks_new_pool(fixture("cluster/nodes-mixed.json"), json!({"nodeSelector": {"pool": "a"}}), "native", "all 2 of the nodes its nodeSelector selects run kubelet >= 1.29")]
#[case::selector_picks_old_pool(fixture("cluster/nodes-mixed.json"), json!({"nodeSelector": {"pool": "b"}}), "legacy", "pool-b-1 runs kubelet v1.27.16-eks-a737599")]
#[case::bound_to_new_node(fixture("cluster/nodes-mixed.json"), json!({"nodeName": "pool-a-2"}), "native", "all 1 of node pool-a-2 run kubelet >= 1.29")]
#[case::pool_label_picks_new_pool(pools(), json!({"nodeSelector": {"cloud.google.com/gke-nodepool": "new"}}), "native", "all 2 of the nodes its nodeSelector selects run kubelet >= 1.29")]
#[case::pool_label_picks_old_pool(pools(), json!({"nodeSelector": {"cloud.google.com/gke-nodepool": "old"}}), "legacy", "old-1 runs kubelet v1.28.9")]
#[case::pool_label_and_another(pools(), json!({"nodeSelector": {"cloud.google.com/gke-nodepool": "new", "zone": "b"}}), "native", "all 1 of the nodes its nodeSelector selects run kubelet >= 1.29")]
#[case::pool_not_listed(pools(), json!({"nodeSelector": {"cloud.google.com/gke-nodepool": "spare"}}), "native", "all 1 of the nodes its nodeSelector selects run kubelet >= 1.29")]
#[case::whole_mixed_cluster(fixture("cluster/nodes-mixed.json"), json!({}), "legacy", "pool-b-1 runs kubelet v1.27.16-eks-a737599")]
#[case::unreadable_version(json!({"items": [node("a", "unknown", json!({}))]}), json!({}), "legacy", "a runs an unreadable kubelet version \"unknown\"")]
#[case::null_version(json!({"items": [{"metadata": {"name": "a"}, "status": {"nodeInfo": {"kubeletVersion": null}}}]}), json!({}), "legacy", "a runs an unreadable kubelet version \"\"")]
#[case::null_status(json!({"items": [{"metadata": {"name": "a", "labels": null}, "status": null}, node("b", "v1.31.0", json!({}))]}), json!({}), "legacy", "a runs an unreadable kubelet version \"\"")]
fn node_version_judges_the_nodes_the_pod_can_land_on(
    #[case] nodes: Value,
    #[case] placement: Value,
    #[case] mode: &str,
    #[case] reason: &str,
) {
    let mut spec = json!({"containers": app()});
    let asked = placement.clone();
    if let (Some(spec), Value::Object(placement)) = (spec.as_object_mut(), placement) {
        spec.extend(placement);
    }
    let policy = cluster(Ok(nodes));
    let support =
        json!({"strategy": "nodeVersion", "nodePools": {"cloud.google.com/gke-nodepool": ["new", "old"]}});
    let outcome = policy.validate(&with_strategy(support), &pod(spec));
    let patched = outcome.patched.expect("injected");
    let recorded = status(&patched);
    assert_eq!(recorded["injected"][0]["mode"], json!(mode), "{recorded}");
    assert_eq!(recorded["injected"][0]["reason"], json!(reason), "{recorded}");
    match mode {
        "native" => assert_eq!(
            names(&patched, "initContainers"),
            ["log-shipper", "metrics-agent"]
        ),
        _ => assert_eq!(
            names(&patched, "containers"),
            ["app", "log-shipper", "metrics-agent"]
        ),
    }
    // One question per pod, and no more than the decision needs: the bound
    // node by name; a pool by label selector; labels only where a selector
    // is checked on them.
    let calls = policy.host_calls.lock().expect("not poisoned").clone();
    assert_eq!(calls.len(), 1, "one node lookup per pod");
    let (operation, request) = &calls[0];
    // The pool goes to the host only when the settings list it.
    let pool = asked["nodeSelector"]["cloud.google.com/gke-nodepool"]
        .as_str()
        .filter(|pool| ["new", "old"].contains(pool));
    match asked.get("nodeName") {
        Some(_) => assert_eq!(operation, "get_resource"),
        None => {
            assert_eq!(operation, "list_resources_all");
            assert_eq!(
                request["label_selector"].as_str().unwrap_or_default(),
                pool.map(|pool| format!("cloud.google.com/gke-nodepool={pool}"))
                    .unwrap_or_default()
            );
        }
    }
    // Always the same masks: one cache of the nodes in the policy-server.
    assert_eq!(
        request["field_masks"],
        json!([
            "metadata.labels",
            "metadata.name",
            "status.nodeInfo.kubeletVersion"
        ])
    );
}

/// Three pools named by GKE's pool label, one of them in two zones; the
/// settings list two of them.
fn pools() -> Value {
    let node = |name: &str, pool: &str, zone: &str, version: &str| {
        node(
            name,
            version,
            json!({"cloud.google.com/gke-nodepool": pool, "zone": zone}),
        )
    };
    json!({"items": [node("new-1", "new", "a", "v1.31.1"), node("new-2", "new", "b", "v1.30.4"),
                     node("old-1", "old", "a", "v1.28.9"), node("spare-1", "spare", "a", "v1.32.0")]})
}

#[rstest]
#[case::no_nodes(Ok(json!({"items": []})), "no node found among the cluster's nodes")]
#[case::lookup_error(
    Err("nodes is forbidden"),
    "could not list the nodes: Host error: nodes is forbidden"
)]
fn unknown_support_falls_back_with_a_warning(#[case] nodes: Result<Value, &'static str>, #[case] why: &str) {
    let outcome = cluster(nodes).validate(
        &with_strategy(json!({"strategy": "nodeVersion"})),
        &pod(json!({"containers": app()})),
    );
    assert!(outcome.response.accepted);
    let warnings = outcome.response.warnings.clone().unwrap_or_default();
    assert_eq!(
        warnings,
        [format!(
            "native sidecar support unknown ({why}): injected as legacy sidecars"
        )]
    );
    let patched = outcome.patched.expect("injected the old way");
    assert_eq!(
        names(&patched, "containers"),
        ["app", "log-shipper", "metrics-agent"]
    );
    assert_eq!(names(&patched, "initContainers"), Vec::<String>::new());
}

/// A bound pod's node is one GET to the API server, where the list comes
/// from the policy-server's cache: when the GET fails (the API server busy,
/// the node deleted since), the list judges the pod, as it did before.
#[rstest]
#[case::get_fails("pool-a-2", "native", "all 1 of node pool-a-2 run kubelet >= 1.29")]
#[case::node_gone("pool-c-9", "legacy", "")]
fn a_bound_pod_whose_node_cannot_be_read_is_judged_by_the_list(
    #[case] bound: &str,
    #[case] mode: &str,
    #[case] reason: &str,
) {
    let mut nodes = fixture("cluster/nodes-mixed.json");
    nodes["apiVersion"] = json!("v1");
    nodes["kind"] = json!("NodeList");
    let objects = harness::objects_of(vec![nodes]);
    let policy = Policy::with_cluster(move |operation, request| match operation {
        "get_resource" => Err("the server is currently unable to handle the request".to_owned()),
        _ => harness::answer_from(&objects, operation, request),
    });
    let outcome = policy.validate(
        &with_strategy(json!({"strategy": "nodeVersion"})),
        &pod(json!({"containers": app(), "nodeName": bound})),
    );
    let patched = outcome.patched.expect("injected");
    let recorded = status(&patched);
    assert_eq!(recorded["injected"][0]["mode"], json!(mode), "{recorded}");
    match reason {
        "" => assert_eq!(
            outcome.response.warnings.unwrap_or_default(),
            [format!(
                "native sidecar support unknown (no node found among node {bound}): injected as legacy sidecars"
            )]
        ),
        reason => assert_eq!(recorded["injected"][0]["reason"], json!(reason), "{recorded}"),
    }
    let calls = policy.host_calls.lock().expect("not poisoned").clone();
    let asked: Vec<(&str, &str)> = calls
        .iter()
        .map(|(operation, request)| {
            (
                operation.as_str(),
                request["label_selector"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(asked, [("get_resource", ""), ("list_resources_all", "")]);
}

#[test]
fn when_unsupported_can_reject() {
    let settings = with_strategy(
        json!({"strategy": "nodeVersion", "whenUnsupported": "reject", "minKubeletVersion": "1.33"}),
    );
    let outcome = cluster(Ok(fixture("cluster/nodes-mixed.json")))
        .validate(&settings, &pod(json!({"containers": app()})));
    assert!(!outcome.response.accepted);
    assert_eq!(
        outcome.response.message.as_deref(),
        Some(
            "sidecars cannot be injected: pool-a-1 runs kubelet v1.30.2+k3s1 (and 2 more nodes), and native \
             sidecars need kubelet >= 1.33; schedule the pod on newer nodes (nodeSelector) or upgrade the nodes"
        )
    );
}

#[test]
fn a_pod_that_has_its_sidecars_costs_no_node_lookup() {
    let policy = cluster(Ok(fixture("cluster/nodes-mixed.json")));
    let settings = with_strategy(json!({"strategy": "nodeVersion"}));
    let mut request = pod(json!({"containers": app(), "nodeSelector": {"pool": "a"}}));
    request["object"] = policy.validate(&settings, &request).patched.expect("injected");
    let again = policy.validate(&settings, &request);
    assert_eq!(again.response.mutated_object, None);
    assert_eq!(policy.host_calls.lock().expect("not poisoned").len(), 1);
}

const TERMS: &str =
    "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms";

#[rstest]
#[case::no_affinity(json!(null), json!([{"matchExpressions": [{"key": "native-sidecar.kubewarden.io/supported", "operator": "In", "values": ["true"]}]}]))]
#[case::every_term_gets_it(
    json!({"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-7"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}]}}),
    json!([
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]},
                              {"key": "native-sidecar.kubewarden.io/supported", "operator": "In", "values": ["true"]}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-7"]}],
         "matchExpressions": [{"key": "native-sidecar.kubewarden.io/supported", "operator": "In", "values": ["true"]}]}]))]
#[case::already_required(
    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "native-sidecar.kubewarden.io/supported", "operator": "In", "values": ["true"]}]}]}}}),
    json!([{"matchExpressions": [{"key": "native-sidecar.kubewarden.io/supported", "operator": "In", "values": ["true"]}]}]))]
fn node_label_requires_the_label_in_every_term(#[case] affinity: Value, #[case] expected_terms: Value) {
    let mut spec = json!({"containers": app()});
    if !affinity.is_null() {
        spec["affinity"] = affinity.clone();
    }
    let request = pod(spec);
    let outcome = Policy::new().validate(&with_strategy(json!({"strategy": "nodeLabel"})), &request);
    let patched = outcome.patched.expect("injected");
    assert_nothing_lost(&request["object"], &patched);
    assert_eq!(patched.pointer(TERMS), Some(&expected_terms));
    assert_eq!(
        patched.pointer("/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution"),
        affinity.pointer("/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution"),
        "preferred terms untouched"
    );
    assert_eq!(
        names(&patched, "initContainers"),
        ["log-shipper", "metrics-agent"]
    );
}

#[test]
fn node_label_on_a_bound_pod_injects_with_a_warning() {
    let outcome = Policy::new().validate(
        &with_strategy(json!({"strategy": "nodeLabel"})),
        &pod(json!({"containers": app(), "nodeName": "n1"})),
    );
    let warnings = outcome.response.warnings.clone().unwrap_or_default();
    assert!(
        warnings[0].starts_with("the pod is already bound to node \"n1\""),
        "{warnings:?}"
    );
    let patched = outcome.patched.expect("injected");
    assert_eq!(patched.pointer("/spec/affinity"), None);
}

#[test]
fn legacy_appends_regular_containers() {
    let request = pod(json!({"containers": app()}));
    let outcome = Policy::new().validate(&with_strategy(json!({"strategy": "legacy"})), &request);
    let patched = outcome.patched.expect("injected");
    assert_eq!(
        names(&patched, "containers"),
        ["app", "log-shipper", "metrics-agent"]
    );
    assert_eq!(patched["spec"]["containers"][1].get("restartPolicy"), None);
    assert_eq!(outcome.response.warnings, None);
}

#[rstest]
#[case::long_running("Always")]
#[case::long_running_by_default("")]
fn universal_injects_both_copies_sharing_a_handshake_volume(#[case] restart_policy: &str) {
    let mut request = pod(json!({"containers": app()}));
    if !restart_policy.is_empty() {
        request["object"]["spec"]["restartPolicy"] = json!(restart_policy);
    }
    let policy = Policy::new();
    let settings = fixture("settings/universal.json");
    let outcome = policy.validate(&settings, &request);
    assert!(outcome.response.accepted, "{outcome:?}");
    let patched = outcome.patched.expect("injected");
    assert_nothing_lost(&request["object"], &patched);
    assert_eq!(names(&patched, "initContainers"), ["log-shipper"]);
    assert_eq!(names(&patched, "containers"), ["app", "log-shipper-legacy"]);
    let shim = include_str!("../../src/shim.sh");
    let native = &patched["spec"]["initContainers"][0];
    assert_eq!(native["restartPolicy"], json!("Always"));
    assert_eq!(
        native["command"],
        json!([
            "/bin/sh",
            "-c",
            shim,
            "native-sidecar-shim",
            "native",
            "/var/run/native-sidecar/log-shipper",
            "20"
        ])
    );
    assert_eq!(
        native["args"],
        json!([
            "/fluent-bit/bin/fluent-bit",
            "--config=/fluent-bit/etc/fluent-bit.yaml"
        ])
    );
    assert_eq!(
        native["env"],
        json!([{"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "log-shipper"}])
    );
    let legacy = &patched["spec"]["containers"][1];
    assert_eq!(legacy["command"][4], json!("legacy"));
    assert_eq!(legacy.get("restartPolicy"), None);
    assert_eq!(
        legacy["env"],
        json!([]),
        "the regular copy is not marked as a sidecar"
    );
    for copy in [native, legacy] {
        assert_eq!(
            copy["volumeMounts"],
            json!([{"name": "app-logs", "mountPath": "/var/log/app", "readOnly": true},
                   {"name": "native-sidecar-handshake", "mountPath": "/var/run/native-sidecar"}])
        );
    }
    assert_eq!(
        patched["spec"]["volumes"],
        json!([{"name": "app-logs", "emptyDir": {}}, {"name": "native-sidecar-handshake", "emptyDir": {}}])
    );
    assert_eq!(status(&patched)["injected"][0]["mode"], json!("universal"));
    // The app container gets the app mount, not the copies' handshake.
    assert_eq!(
        patched["spec"]["containers"][0]["volumeMounts"],
        json!([{"name": "app-logs", "mountPath": "/var/log/app"}])
    );

    let mut again = request.clone();
    again["object"] = patched;
    assert_eq!(
        policy.validate(&settings, &again).response.mutated_object,
        None,
        "idempotent"
    );
}

/// A pod that runs to completion never gets a sidecar as a regular
/// container: where native sidecars do not work, the legacy mode's container
/// and the universal injector's regular copy run the sidecar and keep the pod
/// from completing. Whatever `jobSidecars` says (the split deployment's
/// injector ignores Jobs), the pod is left alone with a warning.
#[rstest]
#[case::legacy(json!({"strategy": "legacy"}), "ignore", "it would run as a regular container (legacy mode)")]
#[case::legacy_rejecting(json!({"strategy": "legacy"}), "reject", "it would run as a regular container (legacy mode)")]
#[case::universal(json!({"strategy": "universal"}), "ignore", "the universal injector's regular copy would run it")]
#[case::node_version_fallback(json!({"strategy": "nodeVersion", "whenUnsupported": "universal"}), "convert",
    "supported (pool-b-1 runs kubelet v1.27.16-eks-a737599) the universal injector's regular copy would run it")]
fn no_regular_container_sidecars_in_pods_that_run_to_completion(
    #[case] support: Value,
    #[case] job_action: &str,
    #[case] why: &str,
) {
    let mut settings = fixture("settings/universal.json");
    settings["nativeSupport"] = support;
    settings["jobSidecars"] = json!({"action": job_action});
    for restart_policy in ["Never", "OnFailure"] {
        let request = pod(json!({"containers": app(), "restartPolicy": restart_policy}));
        let outcome = cluster(Ok(fixture("cluster/nodes-mixed.json"))).validate(&settings, &request);
        assert!(outcome.response.accepted, "{outcome:?}");
        assert_eq!(outcome.response.mutated_object, None, "{restart_policy}");
        let warnings = outcome.response.warnings.clone().unwrap_or_default();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(&format!(
                "no sidecar injected (log-shipper): this pod runs to completion (restartPolicy {restart_policy})"
            )),
            "{warnings:?}"
        );
        assert!(warnings[0].contains(why), "{warnings:?}");
    }
}

/// The same pod, when the operator requires the sidecar in every pod
/// (`injection: always`, `allowOptOut: false`): refused, not left alone.
#[test]
fn a_required_sidecar_that_cannot_run_in_a_pod_that_completes_refuses_it() {
    let mut settings = fixture("settings/universal.json");
    settings["allowOptOut"] = json!(false);
    settings["sidecars"][0]["injection"] = json!("always");
    let request = pod(json!({"containers": app(), "restartPolicy": "Never"}));
    let outcome = cluster(Ok(fixture("cluster/nodes-mixed.json"))).validate(&settings, &request);
    assert!(!outcome.response.accepted, "{outcome:?}");
    let message = outcome.response.message.unwrap_or_default();
    assert!(
        message.starts_with(
            "sidecar template \"log-shipper\" cannot be injected, which the cluster operator requires in every pod"
        ),
        "{message}"
    );
    assert!(
        message.contains("run it on nodes that support native sidecars"),
        "{message}"
    );
}

/// The split deployment the README recommends: an injector that ignores Jobs
/// and a validator that rejects legacy sidecars and stripped fields. Whatever
/// the injector writes, under every strategy, the validator accepts.
#[rstest]
fn the_validator_accepts_what_the_injector_writes(
    #[values("assume", "legacy", "universal", "nodeLabel", "nodeVersion")] strategy: &str,
    #[values("Always", "OnFailure", "Never")] restart_policy: &str,
) {
    let mut injector = fixture("settings/universal.json");
    injector["nativeSupport"]["strategy"] = json!(strategy);
    injector["nativeSupport"]["whenUnsupported"] = json!("universal");
    injector["jobSidecars"] = json!({"action": "ignore"});
    injector["strippedRestartPolicy"] = json!({"action": "ignore"});
    let policy = cluster(Ok(fixture("cluster/nodes-mixed.json")));
    let mut request = pod(json!({"containers": app(), "restartPolicy": restart_policy}));
    let injected = policy.validate(&injector, &request);
    assert!(injected.response.accepted, "{injected:?}");
    if let Some(patched) = injected.patched {
        request["object"] = patched;
    }
    let mut validator = fixture("settings/validator.json");
    validator["strippedRestartPolicy"]["checkOwner"] = json!(false);
    let validated = policy.validate(&validator, &request);
    assert!(
        validated.response.accepted,
        "{strategy} {restart_policy}: {validated:?}"
    );
    assert_eq!(validated.response.warnings, None, "{strategy} {restart_policy}");
}

/// Where the universal injector is used, the API server may be one that drops
/// `restartPolicy` (1.27, or 1.28 with the gate off): its init copy arrives
/// without the field by design, and works that way. It is not a stripped sidecar.
#[test]
fn a_universal_init_copy_without_restart_policy_is_not_a_stripped_sidecar() {
    let policy = Policy::new();
    let mut request = pod(json!({"containers": app()}));
    let mut injected = policy
        .validate(&fixture("settings/universal.json"), &request)
        .patched
        .expect("injected");
    let copy = injected["spec"]["initContainers"][0]
        .as_object_mut()
        .expect("the init copy");
    assert!(
        copy.remove("restartPolicy").is_some(),
        "dropped as an old API server does"
    );
    request["object"] = injected;
    let mut validator = fixture("settings/validator.json");
    validator["strippedRestartPolicy"]["checkOwner"] = json!(false);
    let validated = policy.validate(&validator, &request);
    assert!(validated.response.accepted, "{validated:?}");
    assert_eq!(validated.response.warnings, None);

    // A native sidecar the status records as such is still caught.
    let status = request["object"]["metadata"]["annotations"][STATUS]
        .as_str()
        .expect("status")
        .replace("universal", "native");
    request["object"]["metadata"]["annotations"][STATUS] = json!(status);
    let stripped = policy.validate(&validator, &request);
    assert!(!stripped.response.accepted, "{stripped:?}");
}

/// `jobSidecars: convert` writes native sidecars too: under the same strategy
/// as injection, and with one Node lookup for both.
#[rstest]
#[case::new_pool(json!({"pool": "a"}), true)]
#[case::old_pool(json!({"pool": "b"}), false)]
fn convert_follows_node_version(#[case] node_selector: Value, #[case] converted: bool) {
    let policy = cluster(Ok(fixture("cluster/nodes-mixed.json")));
    let mut settings = with_strategy(json!({"strategy": "nodeVersion", "whenUnsupported": "universal"}));
    settings["sidecars"] = fixture("settings/universal.json")["sidecars"].clone();
    settings["jobSidecars"] = json!({"action": "convert"});
    let mut request = pod(json!({"restartPolicy": "Never", "nodeSelector": node_selector,
        "containers": [{"name": "report", "image": "registry.example.com/report:1"},
                       {"name": "daprd", "image": "ghcr.io/dapr/daprd:1.14"}]}));
    let outcome = policy.validate(&settings, &request);
    assert_eq!(
        policy.host_calls.lock().expect("not poisoned").len(),
        1,
        "one node list"
    );
    if converted {
        let patched = outcome.patched.expect("converted and injected");
        assert_eq!(names(&patched, "initContainers"), ["log-shipper", "daprd"]);
        assert_eq!(names(&patched, "containers"), ["report"]);
        request["object"] = patched;
        let again = policy.validate(&settings, &request);
        assert_eq!(again.response.mutated_object, None);
    } else {
        assert!(!outcome.response.accepted);
        let message = outcome.response.message.unwrap_or_default();
        assert!(
            message.contains(
                "not here: pool-b-1 runs kubelet v1.27.16-eks-a737599, and native sidecars need kubelet >= 1.29"
            ),
            "{message}"
        );
    }
}
