//! Legacy sidecars in Jobs and stripped restartPolicy, evaluated by the real
//! module under wasmtime through waPC.

use crate::harness;

use harness::{Policy, fixture, lost_fields};
use rstest::rstest;
use serde_json::{Value, json};

fn settings(name: &str) -> Value {
    fixture(&format!("settings/{name}.json"))
}

fn request(name: &str) -> Value {
    fixture(&format!("requests/{name}.json"))
}

fn message(outcome: &harness::Outcome) -> &str {
    outcome.response.message.as_deref().unwrap_or_default()
}

#[test]
fn a_job_with_a_legacy_istio_proxy_is_rejected_with_the_fix() {
    let outcome = Policy::new().validate(&settings("validator"), &request("job-istio-proxy"));
    assert!(!outcome.response.accepted, "{outcome:?}");
    assert_eq!(outcome.response.code, Some(400));
    assert_eq!(
        message(&outcome),
        "This Job would never complete: container \"istio-proxy\" (Istio proxy, a well-known sidecar) is a \
         sidecar running as a regular container in spec.template.spec.containers, and a sidecar keeps running \
         after the main containers exit, so the pod stays Running. Fix: move it to \
         spec.template.spec.initContainers with restartPolicy: Always (native sidecars, Kubernetes >= 1.29): \
         they start before the main containers and are stopped when those finish. Or, with Istio (1.24 or \
         later), annotate the pod template sidecar.istio.io/nativeSidecar: \"true\" (or set \
         ENABLE_NATIVE_SIDECARS=true in istiod) so that Istio injects its proxy as a native sidecar."
    );
}

#[rstest]
#[case::native_istio_job("job-native-istio")]
#[case::deployment_with_legacy_sidecar("deployment-legacy-sidecar")]
fn native_sidecars_and_long_running_workloads_are_fine(#[case] name: &str) {
    let outcome = Policy::new().validate(&settings("validator"), &request(name));
    assert!(outcome.response.accepted, "{outcome:?}");
    assert_eq!(outcome.response.warnings, None);
    assert_eq!(outcome.response.mutated_object, None);
}

#[test]
fn warn_mode_accepts_with_one_warning_per_sidecar() {
    let outcome = Policy::new().validate(
        &json!({"jobSidecars": {"action": "warn"}}),
        &request("job-istio-proxy"),
    );
    assert!(outcome.response.accepted);
    assert_eq!(
        outcome.response.warnings,
        Some(vec![
            "container \"istio-proxy\" (Istio proxy, a well-known sidecar) will keep this Job from completing: \
             move it to spec.template.spec.initContainers with restartPolicy: Always"
                .to_owned()
        ])
    );
}

#[test]
fn a_cronjob_with_cloud_sql_proxy_is_rejected_then_converted() {
    let cronjob = request("cronjob-cloud-sql-proxy");
    let rejected = Policy::new().validate(&settings("validator"), &cronjob);
    assert!(!rejected.response.accepted);
    assert!(
        message(&rejected)
            .starts_with("The Jobs of this CronJob would never complete: container \"cloud-sql-proxy\"")
    );
    assert!(
        message(&rejected)
            .contains("spec.jobTemplate.spec.template.spec.initContainers with restartPolicy: Always")
    );

    let converted = Policy::new().validate(&settings("converter"), &cronjob);
    assert!(converted.response.accepted, "{converted:?}");
    let patched = converted.patched.expect("converted");
    // The original with only the sidecar moved, byte-identical but for
    // restartPolicy and the marker that makes a later strip conclusive.
    let template = "/spec/jobTemplate/spec/template/spec";
    let original = &cronjob["object"];
    let mut sidecar = original
        .pointer(&format!("{template}/containers/1"))
        .cloned()
        .expect("sidecar");
    sidecar["restartPolicy"] = json!("Always");
    let marker = json!({"name": "KUBEWARDEN_NATIVE_SIDECAR", "value": "(converted)"});
    match sidecar["env"].as_array_mut() {
        Some(env) => env.push(marker),
        None => sidecar["env"] = json!([marker]),
    }
    let mut expected = original.clone();
    let spec = expected.pointer_mut(template).expect("template");
    spec["containers"] = json!([original.pointer(&format!("{template}/containers/0"))]);
    spec["initContainers"] = json!([original.pointer(&format!("{template}/initContainers/0")), sidecar]);
    assert_eq!(patched, expected);
    assert_eq!(
        converted.response.warnings,
        Some(vec![
            "container \"cloud-sql-proxy\" (Cloud SQL Auth Proxy, a well-known sidecar) converted to a native \
             sidecar: moved to spec.jobTemplate.spec.template.spec.initContainers with restartPolicy: Always so \
             that the Jobs of this CronJob can complete"
                .to_owned()
        ])
    );

    // Converted output is a native sidecar now: nothing more to do.
    let mut again = cronjob.clone();
    again["object"] = patched;
    let second = Policy::new().validate(&settings("converter"), &again);
    assert!(second.response.accepted);
    assert_eq!(second.response.mutated_object, None);
}

#[test]
fn convert_in_a_validate_only_deployment_rejects() {
    let outcome = Policy::new().validate(
        &json!({"mutate": false, "jobSidecars": {"action": "convert"}}),
        &request("cronjob-cloud-sql-proxy"),
    );
    assert!(!outcome.response.accepted);
    assert_eq!(outcome.response.mutated_object, None);
    // The rejection `reject` gives, with the fix, since nothing may be moved here.
    assert!(
        message(&outcome).starts_with(
            "The Jobs of this CronJob would never complete: container \"cloud-sql-proxy\" (Cloud SQL Auth Proxy"
        ),
        "{}",
        message(&outcome)
    );
    assert!(message(&outcome).contains("Fix: move it to spec.jobTemplate.spec.template.spec.initContainers"));
}

#[test]
fn a_job_pod_gets_its_sidecar_converted_and_templates_injected_in_one_pass() {
    let mut pod = request("job-istio-proxy");
    pod["kind"] = json!({"group": "", "version": "v1", "kind": "Pod"});
    let template = pod["object"]["spec"]["template"].clone();
    pod["object"] = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nightly-report-x",
        "annotations": {"native-sidecar.kubewarden.io/inject": "log-shipper"}}, "spec": template["spec"]});
    let mut converter_and_injector = settings("injector");
    converter_and_injector["jobSidecars"] = json!({"action": "convert"});
    let outcome = Policy::new().validate(&converter_and_injector, &pod);
    let patched = outcome.patched.expect("mutated");
    let names = |list: &str| -> Vec<String> {
        patched["spec"][list]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["name"].as_str().unwrap_or("?").to_owned())
            .collect()
    };
    // Conversion happens first; `position: first` then puts the template ahead of
    // every init container the pod has by then, converted ones included.
    assert_eq!(
        names("initContainers"),
        ["log-shipper", "istio-init", "istio-proxy"]
    );
    assert_eq!(names("containers"), ["report"]);
    assert_eq!(
        patched["spec"]["initContainers"][2]["restartPolicy"],
        json!("Always")
    );
    // The app mounts go to the job's container, not to the converted sidecar.
    assert_eq!(patched["spec"]["initContainers"][2].get("volumeMounts"), None);
    assert_eq!(
        patched["spec"]["containers"][0]["env"],
        json!([{"name": "LOG_DIR", "value": "/var/log/app"}])
    );
}

#[test]
fn an_unchanged_job_update_is_not_blocked() {
    let mut update = request("job-istio-proxy");
    update["operation"] = json!("UPDATE");
    update["oldObject"] = update["object"].clone();
    update["object"]["metadata"]["finalizers"] = json!([]);
    let outcome = Policy::new().validate(&settings("validator"), &update);
    assert!(outcome.response.accepted, "{outcome:?}");
}

#[rstest]
#[case::warn(json!({}), true)]
#[case::reject(json!({"strippedRestartPolicy": {"action": "reject"}}), false)]
fn our_marker_without_restart_policy_is_flagged(#[case] settings: Value, #[case] accepted: bool) {
    let outcome = Policy::new().validate(&settings, &request("pod-stripped-marker"));
    assert_eq!(outcome.response.accepted, accepted, "{outcome:?}");
    let said = match accepted {
        true => outcome.response.warnings.clone().unwrap_or_default().join("\n"),
        false => message(&outcome).to_owned(),
    };
    assert!(said.contains("init container \"log-shipper\""), "{said}");
    assert!(
        said.contains("marker KUBEWARDEN_NATIVE_SIDECAR=log-shipper"),
        "{said}"
    );
    assert!(said.contains("Kubernetes client older than 1.28"), "{said}");
    assert!(said.contains("/spec/initContainers/0/restartPolicy"), "{said}");
}

#[test]
fn an_update_that_drops_the_field_is_flagged_with_the_old_object() {
    let outcome = Policy::new().validate(&settings("validator"), &request("cronjob-update-stripped"));
    assert!(!outcome.response.accepted);
    assert!(message(&outcome).contains(
        "init container \"vpn\" has no restartPolicy but was meant to be a native sidecar (restartPolicy: Always): \
         the stored object has restartPolicy: Always for it and this update drops it."
    ));
    assert!(
        message(&outcome).contains("/spec/jobTemplate/spec/template/spec/initContainers/0/restartPolicy")
    );
}

#[test]
fn last_applied_configuration_is_evidence() {
    let mut pod = request("pod-stripped-owner");
    let mut applied = pod["object"].clone();
    applied["spec"]["initContainers"][0]["restartPolicy"] = json!("Always");
    pod["object"]["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": applied.to_string()});
    let outcome = Policy::new().validate(&json!({"strippedRestartPolicy": {"action": "reject"}}), &pod);
    assert!(!outcome.response.accepted);
    assert!(message(&outcome).contains(
        "its kubectl.kubernetes.io/last-applied-configuration annotation has restartPolicy: Always"
    ));
}

#[test]
fn a_catalog_sidecar_in_init_containers_is_only_a_warning_even_in_reject_mode() {
    let mut pod = request("pod-stripped-owner");
    pod["object"]["spec"]["initContainers"] =
        json!([{"name": "istio-proxy", "image": "istio/proxyv2:1.22", "args": ["proxy", "sidecar"]}]);
    let outcome = Policy::new().validate(&json!({"strippedRestartPolicy": {"action": "reject"}}), &pod);
    assert!(outcome.response.accepted);
    let warnings = outcome.response.warnings.unwrap_or_default();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("it is Istio proxy, a well-known sidecar (a heuristic)"),
        "{warnings:?}"
    );
}

#[test]
fn the_controllers_template_is_compared_through_host_capabilities() {
    let replicaset = fixture("cluster/replicaset-web-5c6d7.json");
    let policy =
        Policy::with_cluster(
            move |operation, request| match (operation, request["name"].as_str()) {
                ("get_resource", Some("web-5c6d7")) => Ok(replicaset.clone()),
                _ => Err(format!("not found: {request}")),
            },
        );
    let outcome = policy.validate(&settings("validator"), &request("pod-stripped-owner"));
    assert!(!outcome.response.accepted);
    assert!(
        message(&outcome).contains("its controller ReplicaSet/web-5c6d7 has restartPolicy: Always for it")
    );
    let calls = policy.host_calls.lock().expect("not poisoned").clone();
    assert_eq!(
        calls,
        [(
            "get_resource".to_owned(),
            json!({
            "api_version": "apps/v1", "kind": "ReplicaSet", "name": "web-5c6d7", "namespace": "shop",
            "disable_cache": false,
            "field_masks": ["spec.template.spec.initContainers.name", "spec.template.spec.initContainers.restartPolicy"]})
        )]
    );
}

#[test]
fn a_failed_lookup_is_no_evidence_and_a_warning_never_a_trap() {
    let policy = Policy::with_cluster(|_, _| Err("replicasets.apps is forbidden".to_owned()));
    let outcome = policy.validate(&settings("validator"), &request("pod-stripped-owner"));
    assert!(outcome.response.accepted, "{outcome:?}");
    let warnings = outcome.response.warnings.unwrap_or_default();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with("could not read the pod's controller ReplicaSet/web-5c6d7"),
        "{warnings:?}"
    );
    assert!(
        warnings[0].contains("replicasets.apps is forbidden"),
        "{warnings:?}"
    );
}

/// Every JSON pointer inside `value`.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            pointers(
                v,
                format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                out,
            )
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| pointers(v, format!("{at}/{i}"), out)),
        _ => {}
    }
    out.push(at);
}

/// Garbage in every position of every request fixture, under settings that
/// exercise every rule: each call ends in a clear verdict, never a trap, and a
/// patch, when there is one, applies and loses nothing.
#[test]
fn garbage_in_every_position_never_traps() {
    let garbage = [
        json!(null),
        json!(7),
        json!("x"),
        json!([]),
        json!({}),
        json!(true),
        json!([{"name": 1}]),
    ];
    // Every rule on; the Job check once rejecting (the rest only adds, so
    // nothing may be lost) and once converting (which moves containers).
    let mut rejecting = settings("injector");
    rejecting["strippedRestartPolicy"] = json!({"action": "reject", "checkOwner": true});
    let mut converting = rejecting.clone();
    converting["jobSidecars"] = json!({"action": "convert"});
    let policy = Policy::new();
    let (mut evaluated, mut mutated_losslessly) = (0, 0);
    for name in [
        "pod-create-unknown-fields",
        "job-istio-proxy",
        "cronjob-cloud-sql-proxy",
        "pod-stripped-marker",
        "cronjob-update-stripped",
    ] {
        let original = request(name);
        let mut paths = Vec::new();
        pointers(&original, String::new(), &mut paths);
        for path in paths.iter().filter(|p| !p.is_empty()) {
            for junk in &garbage {
                let mut broken = original.clone();
                if let Some(slot) = broken.pointer_mut(path) {
                    *slot = junk.clone();
                }
                for (settings, adds_only) in [(&rejecting, true), (&converting, false)] {
                    let outcome = policy.validate(settings, &broken);
                    evaluated += 1;
                    if !outcome.response.accepted {
                        assert!(
                            !message(&outcome).is_empty(),
                            "{name} {path}={junk}: rejected without a message"
                        );
                    }
                    if let (Some(patched), Some(object), true) =
                        (&outcome.patched, broken.get("object"), adds_only)
                    {
                        let lost = lost_fields(object, patched, "");
                        assert!(lost.is_empty(), "{name} {path}={junk}: lost {lost:?}");
                        mutated_losslessly += 1;
                    }
                }
            }
        }
    }
    assert!(
        mutated_losslessly > 100,
        "the lossless check ran on {mutated_losslessly} mutations only"
    );
    println!(
        "{evaluated} garbled requests evaluated, none trapped; {mutated_losslessly} mutations lost nothing"
    );
}

/// The pod of a Job whose sidecars were injected the legacy way.
fn job_pod(restart_policy: &str, init_containers: Value, containers: Value) -> Value {
    json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
           "namespace": "reports",
           "object": {"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "nightly-report-x", "labels": {"batch.kubernetes.io/job-name": "nightly-report"}},
                      "spec": {"restartPolicy": restart_policy, "initContainers": init_containers, "containers": containers}}})
}

/// A legacy sidecar started after every init container had completed; as a
/// native sidecar it still does: `istio-proxy` after `istio-init` has set up
/// the iptables rules, the SQL proxy after the init container that writes its
/// credentials.
#[rstest]
#[case::istio_legacy_injection(
    json!([{"name": "istio-init", "image": "docker.io/istio/proxyv2:1.22.3", "args": ["istio-iptables", "-p", "15001"]}]),
    json!([{"name": "report", "image": "registry.example.com/reports/nightly:5"},
           {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.3", "args": ["proxy", "sidecar"]}]),
    &["istio-init", "istio-proxy"])]
#[case::credentials_first(
    json!([{"name": "fetch-credentials", "image": "registry.example.com/vault-fetch:1"},
           {"name": "migrate", "image": "registry.example.com/migrate:1"}]),
    json!([{"name": "cloud-sql-proxy", "image": "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.11"},
           {"name": "report", "image": "registry.example.com/reports/nightly:5"},
           {"name": "otc-container", "image": "otel/opentelemetry-collector:0.110.0"}]),
    &["fetch-credentials", "migrate", "cloud-sql-proxy", "otc-container"])]
fn convert_keeps_the_start_order(
    #[case] init_containers: Value,
    #[case] containers: Value,
    #[case] expected: &[&str],
) {
    let policy = Policy::new();
    let mut pod = job_pod("OnFailure", init_containers, containers);
    let converted = policy.validate(&settings("converter"), &pod);
    assert!(converted.response.accepted, "{converted:?}");
    let patched = converted.patched.expect("converted");
    let init: Vec<&str> = patched["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(init, expected);
    assert_eq!(patched["spec"]["containers"].as_array().map(Vec::len), Some(1));

    // Evaluated again (reinvocation, a second deployment, the validator):
    // accepted, nothing more to do.
    pod["object"] = patched;
    let again = policy.validate(&settings("converter"), &pod);
    assert!(again.response.accepted, "{again:?}");
    assert_eq!(again.response.mutated_object, None);
    let validated = policy.validate(&settings("validator"), &pod);
    assert!(validated.response.accepted, "{validated:?}");
    assert_eq!(validated.response.warnings, None);
}

/// The universal injector's shim name used to exempt a container from the
/// Job check: a pod could write it into any command line.
#[test]
fn the_shim_name_in_a_command_line_exempts_nothing() {
    let pod = job_pod(
        "Never",
        json!([]),
        json!([{"name": "report", "image": "registry.example.com/reports/nightly:5"},
               {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.3",
                "args": ["proxy", "sidecar", "native-sidecar-shim"]}]),
    );
    let outcome = Policy::new().validate(&settings("validator"), &pod);
    assert!(!outcome.response.accepted);
    assert!(
        message(&outcome).contains("container \"istio-proxy\" (Istio proxy"),
        "{}",
        message(&outcome)
    );
}

/// A converted sidecar is marked as an injected one is: when a webhook
/// later strips its restartPolicy, the evidence is conclusive (refused, not a
/// heuristic warning).
#[test]
fn a_converted_sidecar_that_loses_its_restart_policy_is_caught() {
    let cronjob = fixture("requests/cronjob-cloud-sql-proxy.json");
    let converted = Policy::new().validate(&settings("converter"), &cronjob);
    let mut stripped = converted.patched.expect("converted");
    let init = stripped
        .pointer_mut("/spec/jobTemplate/spec/template/spec/initContainers/1")
        .and_then(Value::as_object_mut)
        .expect("the converted sidecar");
    assert_eq!(init["name"], "cloud-sql-proxy");
    init.remove("restartPolicy");
    let mut request = cronjob.clone();
    request["object"] = stripped;
    let caught = Policy::new().validate(
        &json!({"mutate": false, "jobSidecars": {"action": "ignore"},
        "strippedRestartPolicy": {"action": "reject"}}),
        &request,
    );
    assert!(!caught.response.accepted, "{caught:?}");
    assert!(
        message(&caught).contains("it carries the marker KUBEWARDEN_NATIVE_SIDECAR=(converted)"),
        "{}",
        message(&caught)
    );
}

/// A Job's pod template cannot change after creation: an update (Kueue
/// unsuspending the Job, with a node selector) is never patched, only warned
/// about, under convert.
#[test]
fn a_job_update_is_never_converted() {
    let outcome = Policy::new().validate(
        &settings("converter"),
        &fixture("requests/job-update-unsuspend.json"),
    );
    assert!(outcome.response.accepted, "{outcome:?}");
    assert_eq!(outcome.response.mutated_object, None);
    let warnings = outcome.response.warnings.unwrap_or_default().join("\n");
    assert!(
        warnings.contains(
            "container \"cloud-sql-proxy\" (Cloud SQL Auth Proxy, a well-known sidecar) is a sidecar \
                           running as a regular container: not converted in this update"
        ),
        "{warnings}"
    );
}

/// Nor refused for what it cannot change, when convert also refuses endless
/// command lines: the warning names them too.
#[test]
fn a_job_update_is_never_refused_for_its_template_under_convert() {
    let mut request = fixture("requests/job-update-unsuspend.json");
    for object in ["object", "oldObject"] {
        let containers = request[object]["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .expect("containers");
        containers.push(json!({"name": "tailer", "image": "busybox", "command": ["tail", "-f", "/log"]}));
    }
    let settings = json!({"jobSidecars": {"action": "convert", "endlessCommands": "reject"}});
    let outcome = Policy::new().validate(&settings, &request);
    assert!(outcome.response.accepted, "{outcome:?}");
    assert_eq!(outcome.response.mutated_object, None);
    let warnings = outcome.response.warnings.unwrap_or_default().join("\n");
    assert!(
        warnings.contains("container \"tailer\" (its command tails a file"),
        "{warnings}"
    );
    assert!(warnings.contains("not converted in this update"), "{warnings}");
}

/// Pods another controller runs to completion (an Argo Workflow's step, a
/// Tekton TaskRun's) are that controller's business: Argo kills the mesh's
/// proxy when the main container ends. Listed in `jobSidecars.ownerKinds`,
/// they are checked like a Job's.
#[test]
fn a_workflow_engines_pods_are_checked_only_where_the_operator_lists_the_kind() {
    let pod = request("pod-argo-workflow-istio");
    let outcome = Policy::new().validate(&settings("validator"), &pod);
    assert!(outcome.response.accepted, "{outcome:?}");
    assert_eq!(outcome.response.warnings, None);

    let mut listed = settings("validator");
    listed["jobSidecars"]["ownerKinds"] = json!(["Workflow"]);
    let outcome = Policy::new().validate(&listed, &pod);
    assert!(!outcome.response.accepted);
    assert!(
        message(&outcome).starts_with("This pod would never complete: container \"istio-proxy\""),
        "{outcome:?}"
    );

    // A Job's pods and bare pods are checked whatever the list says.
    let mut bare = pod.clone();
    bare["object"]["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("ownerReferences");
    assert!(
        !Policy::new()
            .validate(&settings("validator"), &bare)
            .response
            .accepted
    );
    assert!(
        !Policy::new()
            .validate(&settings("validator"), &request("pod-job-istio-legacy"))
            .response
            .accepted
    );
}

#[rstest]
#[case::empty(json!([""]), "jobSidecars.ownerKinds[0]")]
#[case::api_version(json!(["Workflow", "argoproj.io/v1alpha1"]), "jobSidecars.ownerKinds[1]")]
fn owner_kinds_must_be_kinds(#[case] kinds: Value, #[case] field: &str) {
    let verdict = Policy::new().validate_settings(&json!({"jobSidecars": {"ownerKinds": kinds}}));
    assert!(!verdict.valid);
    let said = verdict.message.unwrap_or_default();
    assert!(said.contains(field), "{said}");
}

/// A CronJob update that only labels its pod template for a mesh changes
/// every Job it creates: checked like a change of the spec.
#[test]
fn a_cronjob_update_of_its_templates_labels_is_checked() {
    let update = request("cronjob-update-template-label");
    let outcome = Policy::new().validate(&settings("validator-meshes"), &update);
    assert!(!outcome.response.accepted, "{outcome:?}");
    assert!(
        message(&outcome).contains("(it is labelled sidecar.istio.io/inject=true)"),
        "{outcome:?}"
    );
    // The same update of the CronJob's own labels only is not.
    let mut own_labels = update.clone();
    own_labels["object"]["spec"] = update["oldObject"]["spec"].clone();
    own_labels["object"]["metadata"]["labels"] = json!({"sidecar.istio.io/inject": "true"});
    assert!(
        Policy::new()
            .validate(&settings("validator-meshes"), &own_labels)
            .response
            .accepted
    );
}

/// `kubectl apply` of a template without the field, recorded as such: the
/// author's edit, not a webhook's. Without the record, or with a record that
/// still has the field, the update is refused as before.
#[test]
fn the_authors_own_edit_is_not_a_stripped_field() {
    let authored = request("cronjob-update-authored");
    let outcome = Policy::new().validate(&settings("validator"), &authored);
    assert!(outcome.response.accepted, "{outcome:?}");
    assert_eq!(outcome.response.warnings, None);

    let mut webhook = authored.clone();
    webhook["object"]["metadata"]["annotations"] = authored["oldObject"]["metadata"]["annotations"].clone();
    let outcome = Policy::new().validate(&settings("validator"), &webhook);
    assert!(!outcome.response.accepted);
    assert!(
        message(&outcome)
            .contains("the stored object has restartPolicy: Always for it and this update drops it")
    );

    // A record that never had the field (applied without it, patched with it
    // since) proves no edit of the author's in this update.
    let mut stale = authored.clone();
    stale["oldObject"]["metadata"]["annotations"] = authored["object"]["metadata"]["annotations"].clone();
    assert!(
        !Policy::new()
            .validate(&settings("validator"), &stale)
            .response
            .accepted
    );
}

/// A StatefulSet recreates a pod below its rollout partition, or an evicted
/// one mid-rollout, from the pod's own revision: its newest template is no
/// proof then, only a warning; at the newest revision it still is.
#[test]
fn a_statefulset_pod_of_an_older_revision_is_warned_about_not_refused() {
    let statefulset = fixture("cluster/statefulset-db.json");
    let policy = || {
        let statefulset = statefulset.clone();
        Policy::with_cluster(
            move |operation, request| match (operation, request["name"].as_str()) {
                ("get_resource", Some("db")) => Ok(statefulset.clone()),
                _ => Err(format!("not found: {request}")),
            },
        )
    };
    let older = request("pod-statefulset-older-revision");
    let checked = policy();
    let outcome = checked.validate(&settings("validator"), &older);
    assert!(outcome.response.accepted, "{outcome:?}");
    let warnings = outcome.response.warnings.clone().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .contains("this pod is of revision db-5d8b6c7f9, not the newest db-7f9c4b2a1, and may differ"),
        "{warnings:?}"
    );
    let calls = checked.host_calls.lock().expect("not poisoned").clone();
    assert_eq!(
        calls[0].1["field_masks"],
        json!([
            "metadata.generation",
            "spec.template.spec.initContainers.name",
            "spec.template.spec.initContainers.restartPolicy",
            "status.observedGeneration",
            "status.updateRevision"
        ])
    );

    let mut newest = older.clone();
    newest["object"]["metadata"]["labels"]["controller-revision-hash"] = json!("db-7f9c4b2a1");
    let outcome = policy().validate(&settings("validator"), &newest);
    assert!(!outcome.response.accepted, "{outcome:?}");
    assert!(message(&outcome).contains("its controller StatefulSet/db has restartPolicy: Always for it"));

    // A status that has not caught up with the newest generation names no
    // revision to trust: a warning, whatever the pod's label says.
    let mut behind = statefulset.clone();
    behind["metadata"]["generation"] = json!(5);
    let outcome =
        Policy::with_cluster(move |_, _| Ok(behind.clone())).validate(&settings("validator"), &newest);
    assert!(outcome.response.accepted, "{outcome:?}");
    let warnings = outcome.response.warnings.unwrap_or_default();
    assert!(
        warnings[0]
            .contains("its status has not caught up with that template yet (generation 5, observed 4)"),
        "{warnings:?}"
    );
}

/// Converting moves a container's preStop hook with it, and a native sidecar
/// is stopped after the main containers: a hook written to hold a regular
/// container up is no longer needed, one that waits for them spends their
/// grace period. Said, naming the hook.
#[test]
fn converting_a_sidecar_with_a_pre_stop_hook_says_when_it_now_runs() {
    let drain =
        json!({"preStop": {"exec": {"command": ["sh", "-c", "while pgrep report; do sleep 1; done"]}}});
    let pod = job_pod(
        "Never",
        json!([]),
        json!([{"name": "report", "image": "registry.example.com/report:1"},
               {"name": "istio-proxy", "image": "istio/proxyv2:1.22", "args": ["proxy", "sidecar"], "lifecycle": drain}]),
    );
    let outcome = Policy::new().validate(&settings("converter"), &pod);
    assert!(outcome.response.accepted, "{outcome:?}");
    let warnings = outcome.response.warnings.clone().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].ends_with(
            "Its preStop exec \"sh -c while pgrep report; do sleep 1; done\" moves with it: as a native sidecar it \
             is stopped after the main containers (on deletion the hook still runs at once, and its SIGTERM waits \
             for them within what is left of the grace period), so a hook that holds it up until they finish is no \
             longer needed and one that waits for them spends their grace period (lifecycle.preStop)"
        ),
        "{warnings:?}"
    );
    let patched = outcome.patched.expect("converted");
    assert_eq!(
        patched["spec"]["initContainers"][0]["lifecycle"], drain,
        "moved untouched"
    );

    // Without a hook, nothing is said of one.
    let plain = job_pod(
        "Never",
        json!([]),
        json!([{"name": "report", "image": "r"},
        {"name": "istio-proxy", "image": "istio/proxyv2:1.22", "args": ["proxy", "sidecar"]}]),
    );
    let warnings = Policy::new()
        .validate(&settings("converter"), &plain)
        .response
        .warnings
        .unwrap_or_default();
    assert!(!warnings[0].contains("preStop"), "{warnings:?}");
}

/// KEP-5307 (beta, on by default from 1.35): plain init containers and
/// regular containers may set `restartPolicy` and `restartPolicyRules`. Only
/// an init container with `Always` is a sidecar: `setup` (Never, with rules)
/// is no stripped sidecar; `istio-proxy` with its own policy is still a
/// legacy sidecar (refused), and is not converted (said why).
#[test]
fn container_restart_rules_make_no_sidecar_and_no_stripped_one() {
    let rules = json!([{"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}]);
    let pod = job_pod(
        "Never",
        json!([{"name": "setup", "image": "busybox", "restartPolicy": "Never", "restartPolicyRules": rules}]),
        json!([{"name": "report", "image": "r", "restartPolicy": "OnFailure"},
               {"name": "istio-proxy", "image": "istio/proxyv2:1.27", "args": ["proxy", "sidecar"],
                "restartPolicy": "Never", "restartPolicyRules": rules}]),
    );
    let outcome = Policy::new().validate(&settings("validator"), &pod);
    assert!(!outcome.response.accepted);
    assert!(
        message(&outcome).starts_with("This pod would never complete: container \"istio-proxy\""),
        "{outcome:?}"
    );
    assert!(!message(&outcome).contains("setup"), "{outcome:?}");

    let outcome = Policy::new().validate(&settings("converter"), &pod);
    assert!(outcome.response.accepted, "{outcome:?}");
    assert_eq!(outcome.patch, None, "nothing moved");

    // Its own restartPolicy Always (a regular container restarted for ever,
    // the Job never completing) is what a native sidecar has: converted.
    let mut always = pod.clone();
    always["object"]["spec"]["containers"][1]["restartPolicy"] = json!("Always");
    let converted = Policy::new().validate(&settings("converter"), &always);
    assert!(converted.response.accepted, "{converted:?}");
    let patched = converted.patched.clone().expect("converted");
    assert_eq!(patched["spec"]["initContainers"][1]["name"], "istio-proxy");
    assert_eq!(patched["spec"]["initContainers"][1]["restartPolicyRules"], rules);
    assert_eq!(
        outcome.response.warnings,
        Some(vec![
            "container \"istio-proxy\" (Istio proxy, a well-known sidecar) not converted: it sets its own \
             restartPolicy \"Never\", and making it Always would change what it does; it may keep this pod \
             from completing"
                .to_owned()
        ])
    );
}
