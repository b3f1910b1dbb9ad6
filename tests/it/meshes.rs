//! Jobs and service meshes, and sidecars nobody catalogued, evaluated by the
//! real module under wasmtime, with the Namespace lookups answered as
//! Kubewarden's host would.

use crate::harness;

use harness::{Policy, assert_nothing_lost, fixture};
use rstest::rstest;
use serde_json::{Value, json};

const ISTIO_SWITCH: &str = "sidecar.istio.io/nativeSidecar";
/// Every key a Linkerd version reads its switch from: the policy writes all.
const LINKERD_SWITCHES: [&str; 3] = [
    "config.linkerd.io/proxy-enable-native-sidecar",
    "config.beta.linkerd.io/proxy-enable-native-sidecar",
    "config.alpha.linkerd.io/proxy-enable-native-sidecar",
];

fn settings(name: &str) -> Value {
    fixture(&format!("settings/{name}.json"))
}

fn request(name: &str) -> Value {
    fixture(&format!("requests/{name}.json"))
}

/// A policy whose host answers the Namespace lookup with `namespace` (its
/// metadata), or fails; and lists the mixed node pools.
fn cluster(namespace: Result<Value, &'static str>) -> Policy {
    Policy::with_cluster(
        move |operation, request| match (operation, request["kind"].as_str()) {
            ("get_resource", Some("Namespace")) => {
                assert_eq!(
                    request["field_masks"],
                    json!(["metadata.annotations", "metadata.labels"])
                );
                assert_eq!(request["namespace"], Value::Null, "Namespaces are cluster-scoped");
                namespace
                    .clone()
                    .map(|metadata| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}))
                    .map_err(str::to_owned)
            }
            ("list_resources_all", Some("Node")) => Ok(fixture("cluster/nodes-mixed.json")),
            _ => Err(format!("unexpected {operation} {request}")),
        },
    )
}

fn istio_namespace() -> Result<Value, &'static str> {
    Ok(json!({"name": "reports", "labels": {"istio-injection": "enabled"}}))
}

fn warnings(outcome: &harness::Outcome) -> Vec<String> {
    outcome.response.warnings.clone().unwrap_or_default()
}

fn message(outcome: &harness::Outcome) -> String {
    outcome.response.message.clone().unwrap_or_default()
}

/// Under convert, a Job pod that Istio will inject gets the switch, and nothing else.
#[test]
fn a_job_pod_in_an_istio_namespace_gets_the_switch_and_nothing_else() {
    let policy = cluster(istio_namespace());
    let mut pod = request("pod-job-report");
    let outcome = policy.validate(&settings("converter-meshes"), &pod);
    assert!(outcome.response.accepted, "{outcome:?}");
    let patched = outcome.patched.clone().expect("annotated");
    let mut expected = pod["object"].clone();
    expected["metadata"]["annotations"] = json!({ISTIO_SWITCH: "true"});
    assert_eq!(patched, expected);
    assert_eq!(warnings(&outcome).len(), 1);
    assert!(warnings(&outcome)[0].starts_with(&format!("annotation {ISTIO_SWITCH}: \"true\" added")));

    pod["object"] = patched;
    let again = policy.validate(&settings("converter-meshes"), &pod);
    assert_eq!(again.response.mutated_object, None);
    assert_eq!(again.response.warnings, None);
}

#[test]
fn the_authors_explicit_false_is_refused_with_the_fix() {
    let mut pod = request("pod-job-report");
    pod["object"]["metadata"]["annotations"] = json!({ISTIO_SWITCH: "false"});
    let outcome = cluster(istio_namespace()).validate(&settings("converter-meshes"), &pod);
    assert!(!outcome.response.accepted);
    assert_eq!(outcome.response.mutated_object, None);
    let message = message(&outcome);
    assert!(
        message.contains("Istio will inject its proxy \"istio-proxy\""),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "the annotation {ISTIO_SWITCH} says false and asks for that"
        )),
        "{message}"
    );
    assert!(message.contains("Fix: set it to \"true\""), "{message}");
}

#[rstest]
#[case::linkerd_namespace(
    Ok(json!({"name": "reports", "annotations": {"linkerd.io/inject": "enabled"}})),
    json!({}),
    Some(&LINKERD_SWITCHES[..])
)]
#[case::no_mesh(Ok(json!({"name": "reports", "labels": {"team": "finance"}})), json!({}), None)]
#[case::pod_opts_out_of_istio(istio_namespace(), json!({"sidecar.istio.io/inject": "false"}), None)]
#[case::lookup_failed_pod_label_still_read(
    Err("namespaces \"reports\" is forbidden"),
    json!({"sidecar.istio.io/inject": "true"}),
    Some(&[ISTIO_SWITCH][..])
)]
fn the_switch_follows_the_mesh_that_injects(
    #[case] namespace: Result<Value, &'static str>,
    #[case] labels: Value,
    #[case] switch: Option<&[&str]>,
) {
    let failed_lookup = namespace.is_err();
    let mut pod = request("pod-job-report");
    if let (Some(pod_labels), Value::Object(extra)) =
        (pod["object"]["metadata"]["labels"].as_object_mut(), labels)
    {
        pod_labels.extend(extra);
    }
    let outcome = cluster(namespace).validate(&settings("converter-meshes"), &pod);
    assert!(outcome.response.accepted, "{outcome:?}");
    let annotations = outcome
        .patched
        .as_ref()
        .map(|p| p["metadata"]["annotations"].clone())
        .unwrap_or(Value::Null);
    match switch {
        Some(keys) => assert_eq!(
            annotations,
            Value::Object(
                keys.iter()
                    .map(|key| ((*key).to_owned(), json!("true")))
                    .collect()
            )
        ),
        None => assert_eq!(outcome.response.mutated_object, None),
    }
    let lookup_warning = warnings(&outcome)
        .iter()
        .any(|w| w.starts_with("could not read Namespace \"reports\""));
    assert_eq!(lookup_warning, failed_lookup, "{:?}", warnings(&outcome));
}

/// Where the pod's nodes cannot run native sidecars, the mesh's native mode
/// would give a Job that never starts: refused, saying why.
#[test]
fn the_switch_is_set_only_where_the_nodes_run_native_sidecars() {
    let mut settings = settings("converter-meshes");
    settings["nativeSupport"] = json!({"strategy": "nodeVersion"});
    let outcome = cluster(istio_namespace()).validate(&settings, &request("pod-job-report"));
    assert!(!outcome.response.accepted);
    assert!(
        message(&outcome).contains("but not here: pool-b-1 runs kubelet v1.27.16-eks-a737599"),
        "{}",
        message(&outcome)
    );

    settings["nativeSupport"] = json!({"strategy": "nodeLabel"});
    let labelled = cluster(istio_namespace()).validate(&settings, &request("pod-job-report"));
    let patched = labelled.patched.expect("annotated");
    assert_eq!(patched["metadata"]["annotations"], json!({ISTIO_SWITCH: "true"}));
    assert!(
        patched.pointer("/spec/affinity/nodeAffinity").is_some(),
        "and kept on labelled nodes"
    );
}

/// Jobs and CronJobs get the switch in their pod template under convert, and
/// are refused at `kubectl apply` under reject, where the declared default
/// says the mesh injects the legacy way.
#[test]
fn a_job_gets_the_switch_in_its_pod_template() {
    let job = request("job-report");
    let outcome = cluster(istio_namespace()).validate(&settings("converter-meshes"), &job);
    let patched = outcome.patched.expect("annotated");
    assert_nothing_lost(&job["object"], &patched);
    assert_eq!(
        patched["spec"]["template"]["metadata"]["annotations"],
        json!({ISTIO_SWITCH: "true"})
    );
}

#[rstest]
#[case::declared_legacy(json!({"istio": "legacy"}), json!(null), Some("reject"))]
#[case::switched_on(json!({"istio": "legacy"}), json!("true"), None)]
#[case::declared_native(json!({"istio": "native"}), json!(null), None)]
#[case::native_but_turned_off(json!({"istio": "native"}), json!("false"), Some("reject"))]
#[case::undeclared(json!({"linkerd": "legacy"}), json!(null), None)]
#[case::warned(json!({"istio": "legacy"}), json!(null), Some("warn"))]
fn a_job_is_refused_at_apply_when_the_mesh_will_inject_the_legacy_way(
    #[case] meshes: Value,
    #[case] switch: Value,
    #[case] verdict: Option<&str>,
) {
    let mut settings = settings("validator-meshes");
    settings["jobSidecars"]["meshes"] = meshes;
    if verdict == Some("warn") {
        settings["jobSidecars"]["action"] = json!("warn");
    }
    let mut job = request("job-report");
    if !switch.is_null() {
        job["object"]["spec"]["template"]["metadata"]["annotations"] = json!({ISTIO_SWITCH: switch});
    }
    let outcome = cluster(istio_namespace()).validate(&settings, &job);
    let said = match verdict {
        Some("reject") => {
            assert!(!outcome.response.accepted, "{outcome:?}");
            message(&outcome)
        }
        Some(_) => {
            assert!(outcome.response.accepted);
            warnings(&outcome).join("\n")
        }
        None => {
            assert!(outcome.response.accepted, "{outcome:?}");
            assert_eq!(outcome.response.warnings, None);
            return;
        }
    };
    assert!(
        said.starts_with("This Job would never complete: Istio will inject its proxy \"istio-proxy\""),
        "{said}"
    );
    assert!(
        said.contains("its namespace is labelled istio-injection=enabled"),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "Fix: set the annotation {ISTIO_SWITCH}: \"true\" in spec.template.metadata.annotations"
        )),
        "{said}"
    );
}

#[test]
fn a_cronjob_is_refused_at_apply_too() {
    let mut cronjob = request("cronjob-cloud-sql-proxy");
    cronjob["namespace"] = json!("reports");
    let template = "/object/spec/jobTemplate/spec/template/spec/containers";
    let containers = cronjob
        .pointer_mut(template)
        .and_then(Value::as_array_mut)
        .expect("containers");
    containers.truncate(1);
    let outcome = cluster(istio_namespace()).validate(&settings("validator-meshes"), &cronjob);
    assert!(!outcome.response.accepted, "{outcome:?}");
    assert!(message(&outcome).contains("spec.jobTemplate.spec.template.metadata.annotations"));
}

/// A pod that still reaches the validating pass with a legacy mesh proxy is
/// refused as before, and told that its Job will keep trying.
#[test]
fn a_mesh_injected_job_pod_is_refused_with_the_retry_explained() {
    let mut pod = request("pod-job-report");
    let containers = pod["object"]["spec"]["containers"]
        .as_array_mut()
        .expect("containers");
    containers.push(json!({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0", "args": ["proxy", "sidecar"]}));
    let outcome = Policy::new().validate(&settings("validator"), &pod);
    assert!(!outcome.response.accepted);
    let message = message(&outcome);
    assert!(
        message.contains(
            "This pod is created by Job \"nightly-report\": the Job controller keeps creating pods, and each is \
             refused (FailedCreate events), until the Job's pod template is fixed."
        ),
        "{message}"
    );
    assert!(
        message.contains("sidecar.istio.io/nativeSidecar: \"true\""),
        "{message}"
    );
}

/// No mesh declared: no lookup, whatever the action.
#[test]
fn a_cluster_without_declared_meshes_costs_no_lookup() {
    let policy = cluster(istio_namespace());
    for name in ["converter", "validator"] {
        policy.validate(&settings(name), &request("pod-job-report"));
        policy.validate(&settings(name), &request("job-report"));
    }
    assert_eq!(policy.host_calls.lock().expect("not poisoned").len(), 0);
}

/// The upstream tutorial's legacy sidecar: `tail -F` next to the Job's
/// container, in no catalog.
#[rstest]
#[case::warns_by_default(json!({}), json!(null), Some(true))]
#[case::rejects_when_told(json!({"endlessCommands": "reject"}), json!(null), Some(false))]
#[case::marked_one_shot(json!({}), json!("logshipper"), None)]
#[case::ignored(json!({"endlessCommands": "ignore"}), json!(null), None)]
#[case::never_converted(json!({"action": "convert"}), json!(null), Some(true))]
fn a_container_that_cannot_end_is_a_probable_sidecar(
    #[case] job_sidecars: Value,
    #[case] one_shot: Value,
    #[case] accepted_with_word: Option<bool>,
) {
    let mut settings = json!({"jobSidecars": {"action": "reject"}});
    if let (Some(target), Value::Object(extra)) = (settings["jobSidecars"].as_object_mut(), job_sidecars) {
        target.extend(extra);
    }
    let mut job = request("job-logshipper");
    if !one_shot.is_null() {
        job["object"]["spec"]["template"]["metadata"] =
            json!({"annotations": {"native-sidecar.kubewarden.io/one-shot": one_shot}});
    }
    let outcome = Policy::new().validate(&settings, &job);
    assert_eq!(outcome.response.mutated_object, None, "never moved");
    match accepted_with_word {
        None => {
            assert!(outcome.response.accepted);
            assert_eq!(outcome.response.warnings, None);
        }
        Some(accepted) => {
            assert_eq!(outcome.response.accepted, accepted, "{outcome:?}");
            let said = if accepted {
                warnings(&outcome).join("\n")
            } else {
                message(&outcome)
            };
            assert!(said.contains("container \"logshipper\""), "{said}");
            assert!(
                said.contains("its command tails a file with -f, which never ends"),
                "{said}"
            );
        }
    }
}

/// Linkerd copies each switch key the pod lacks from its namespace, then
/// reads the GA key before beta before alpha, as Go booleans: a namespace's
/// GA "false" wins over a Job template's alpha "true" (Linkerd injects a
/// regular proxy), and a template's "False" is false.
#[rstest]
#[case::namespace_ga_false_over_template_alpha_true(
    json!({"config.linkerd.io/proxy-enable-native-sidecar": "false"}),
    json!({"config.alpha.linkerd.io/proxy-enable-native-sidecar": "true"}),
    Some("its namespace's annotation config.linkerd.io/proxy-enable-native-sidecar, which says false and which Linkerd copies into pods without it, asks")
)]
#[case::template_capital_false(json!({}), json!({"config.alpha.linkerd.io/proxy-enable-native-sidecar": "False"}), Some("the annotation config.alpha.linkerd.io/proxy-enable-native-sidecar, which says false, asks"))]
#[case::every_key_true(json!({}), json!({"config.linkerd.io/proxy-enable-native-sidecar": "true", "config.beta.linkerd.io/proxy-enable-native-sidecar": "T", "config.alpha.linkerd.io/proxy-enable-native-sidecar": "1"}), None)]
fn linkerds_switch_is_read_with_its_precedence(
    #[case] namespace_annotations: Value,
    #[case] template_annotations: Value,
    #[case] said: Option<&str>,
) {
    let mut annotations = json!({"linkerd.io/inject": "enabled"});
    annotations
        .as_object_mut()
        .expect("a map")
        .extend(namespace_annotations.as_object().cloned().unwrap_or_default());
    let namespace = Ok(json!({"name": "reports", "annotations": annotations}));
    let mut job = request("job-report");
    job["object"]["spec"]["template"]["metadata"]["annotations"] = template_annotations;
    let outcome = cluster(namespace).validate(&settings("validator-meshes"), &job);
    match said {
        Some(said) => {
            assert!(!outcome.response.accepted, "{outcome:?}");
            assert!(message(&outcome).contains(&format!("as {said}")), "{outcome:?}");
            // The fix names every key, so that each Linkerd version reads true.
            for key in LINKERD_SWITCHES {
                assert!(
                    message(&outcome).contains(&format!("{key}: \"true\"")),
                    "{outcome:?}"
                );
            }
        }
        None => assert!(outcome.response.accepted, "{outcome:?}"),
    }
}

/// Istio 1.27 reads only "true" and "false"; before, "False" opted out. A
/// Job template labelled "False" in an injecting namespace may be injected:
/// refused, with both readings.
#[test]
fn an_istio_value_two_versions_read_differently_is_taken_as_injected() {
    let mut job = request("job-report");
    job["object"]["spec"]["template"]["metadata"]["labels"] = json!({"sidecar.istio.io/inject": "False"});
    let outcome = cluster(istio_namespace()).validate(&settings("validator-meshes"), &job);
    assert!(!outcome.response.accepted, "{outcome:?}");
    assert!(
        message(&outcome).contains(
            "(its namespace is labelled istio-injection=enabled; its sidecar.istio.io/inject value \"False\" opts out \
             before Istio 1.27, which from 1.27 reads only \"true\" and \"false\" and falls back to the default)"
        ),
        "{outcome:?}"
    );
}

/// Istio 1.27's `ENABLE_NATIVE_SIDECARS=auto`, declared `auto`: native where
/// every node the pods may run on runs kubelet 1.33 or later, told from the
/// Node list the policy reads under `nodeVersion` (the same one read); where
/// it reads none, it cannot tell and says so.
#[rstest]
#[case::every_node_new(&["v1.33.1", "v1.34.0-eks-1"], "nodeVersion", None)]
#[case::one_node_old(&["v1.33.1", "v1.32.4"], "nodeVersion", Some("injects as a regular container here: it injects native sidecars only where every node runs kubelet 1.33 or later, and node-1 runs kubelet v1.32.4"))]
// Istio's auto judges the pod's node if bound, else every node of the
// cluster: a nodeSelector on a new pool does not make it native.
#[case::selector_on_the_new_pool(&["v1.33.1", "v1.31.4"], "nodeVersion+selector", Some("injects as a regular container here: it injects native sidecars only where every node runs kubelet 1.33 or later, and node-1 runs kubelet v1.31.4"))]
#[case::nodes_not_read(&["v1.33.1"], "assume", Some("injects as a native sidecar only where every node runs kubelet 1.33 or later, which this policy cannot tell here (this policy reads the nodes only under nativeSupport.strategy: nodeVersion)"))]
fn istios_auto_mode_is_predicted_from_the_nodes(
    #[case] kubelets: &[&str],
    #[case] strategy: &str,
    #[case] refused: Option<&str>,
) {
    let nodes: Vec<Value> = kubelets
        .iter()
        .enumerate()
        .map(|(i, version)| {
            json!({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": format!("node-{i}"), "labels": {"pool": if i == 0 { "new" } else { "old" }}},
                   "status": {"nodeInfo": {"kubeletVersion": version}}})
        })
        .collect();
    let policy =
        Policy::with_cluster(
            move |operation, request| match (operation, request["kind"].as_str()) {
                ("get_resource", Some("Namespace")) => Ok(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "reports", "labels": {"istio-injection": "enabled"}}})),
                ("list_resources_all", Some("Node")) => {
                    Ok(json!({"apiVersion": "v1", "kind": "NodeList", "items": nodes}))
                }
                _ => Err(format!("unexpected {operation} {request}")),
            },
        );
    let (strategy, on_the_new_pool) = match strategy.split_once('+') {
        Some((strategy, _)) => (strategy, true),
        None => (strategy, false),
    };
    let settings = json!({"mutate": false, "jobSidecars": {"action": "reject", "meshes": {"istio": "auto"}},
                          "nativeSupport": {"strategy": strategy}});
    let mut job = request("job-report");
    if on_the_new_pool {
        job["object"]["spec"]["template"]["spec"]["nodeSelector"] = json!({"pool": "new"});
    }
    let outcome = policy.validate(&settings, &job);
    match refused {
        None => assert!(outcome.response.accepted, "{outcome:?}"),
        Some(said) => {
            assert!(!outcome.response.accepted, "{outcome:?}");
            assert!(
                message(&outcome).contains(&format!(
                    "which this cluster's Istio (ENABLE_NATIVE_SIDECARS=auto) {said}"
                )),
                "{outcome:?}"
            );
        }
    }
}

#[test]
fn auto_is_istios_mode_only() {
    let verdict = Policy::new().validate_settings(&json!({"jobSidecars": {"meshes": {"linkerd": "auto"}}}));
    assert!(!verdict.valid);
    assert!(
        verdict
            .message
            .unwrap_or_default()
            .contains("jobSidecars.meshes.linkerd: auto is Istio's")
    );
}

/// Under convert, a namespace's "false" that Linkerd would copy into the pod
/// is overridden by what the policy writes on the pod (all three keys): the
/// pod is switched, not refused with a fix its author cannot apply. The pod's
/// own "false" is the author's word: refused.
#[test]
fn a_namespaces_false_is_overridden_under_convert_a_pods_own_is_not() {
    let namespace = || {
        Ok(json!({"name": "reports", "annotations": {
            "linkerd.io/inject": "enabled", "config.linkerd.io/proxy-enable-native-sidecar": "false"}}))
    };
    let outcome = cluster(namespace()).validate(&settings("converter-meshes"), &request("pod-job-report"));
    assert!(outcome.response.accepted, "{outcome:?}");
    let annotations = &outcome.patched.as_ref().expect("switched")["metadata"]["annotations"];
    for key in LINKERD_SWITCHES {
        assert_eq!(annotations[key], "true", "{annotations}");
    }

    let mut own = request("pod-job-report");
    own["object"]["metadata"]["annotations"] =
        json!({"config.beta.linkerd.io/proxy-enable-native-sidecar": "0"});
    let outcome = cluster(namespace()).validate(&settings("converter-meshes"), &own);
    assert!(!outcome.response.accepted, "{outcome:?}");
    assert!(
        message(&outcome)
            .contains("the annotation config.beta.linkerd.io/proxy-enable-native-sidecar says false"),
        "{outcome:?}"
    );
}
