//! Legacy sidecars in Job pods: regular containers that never exit keep the pod
//! Running after the job's own containers are done, so the Job never completes
//! (docs/kubernetes-facts.md, "Start and stop order"). Native sidecars do
//! not count towards completion, so the fix is to move them into
//! `initContainers` with `restartPolicy: Always`.

use serde_json::Value;

use crate::catalog::Why;
use crate::compat::{NodeSupport, require_supported_nodes};
use crate::endless::never_ends;
use crate::plan::{At, Edit, Plan, under};
use crate::request::{Container, Operation, Request, Workload};
use crate::settings::{Compiled, EndlessAction, JobSidecarAction};
use crate::template::ONE_SHOT_KEY;

/// Adds to `plan` what the `jobSidecars` action says about legacy sidecars.
pub fn plan_job_sidecars(
    compiled: &Compiled,
    request: &Request,
    workload: &Workload,
    nodes: &NodeSupport,
    plan: &mut Plan,
) {
    let action = compiled.job_sidecars;
    if action == JobSidecarAction::Ignore || !in_scope(compiled, request, workload) {
        return;
    }
    let spec = &workload.spec;
    let mut legacy: Vec<(&Container, Why)> = Vec::new();
    let mut endless: Vec<(&Container, Why)> = Vec::new();
    for container in &spec.containers {
        if let Some(why) = compiled.sidecar_matcher.identify(container, workload) {
            legacy.push((container, why));
        } else if compiled.endless_commands != EndlessAction::Ignore
            && !workload.annotation_lists(ONE_SHOT_KEY, container.name)
            && let Some(reason) = never_ends(container)
        {
            endless.push((container, Why::Endless(reason)));
        }
    }
    if legacy.is_empty() && endless.is_empty() {
        return;
    }
    // A Job's pod template cannot change after it is created (the API server
    // refuses it, and a controller that updates the Job, Kueue unsuspending
    // it, would retry for ever): nothing to move or refuse here; its pods are
    // converted when they are created.
    if action == JobSidecarAction::Convert
        && compiled.mutate
        && workload.kind == "Job"
        && request.operation == Operation::Update
    {
        legacy.extend(endless);
        plan.warn(format!(
            "{} {}: not converted in this update, since a Job's pod template cannot change; the Job's pods \
             are converted when they are created, where this policy also checks Pods",
            listing(&legacy),
            running_as_regular(&legacy)
        ));
        return;
    }
    let spec_path = workload.spec_path();
    if legacy.len() + endless.len() == spec.containers.len() {
        // Moving them all would leave the pod without a main container: they are the job.
        legacy.extend(endless);
        plan.warn(format!(
            "{} look like sidecars but are all the regular containers of {spec_path}: left as they are",
            listing(&legacy)
        ));
        return;
    }
    // The heuristic's finds are never converted: a false positive would be
    // stopped when the main containers finish. Refused with the rest, or
    // warned about one by one.
    let refuse_endless =
        compiled.endless_commands == EndlessAction::Reject && action != JobSidecarAction::Warn;
    if refuse_endless && !endless.is_empty() {
        legacy.extend(endless);
        if action == JobSidecarAction::Convert && compiled.mutate {
            plan.reject(rejection(&legacy, request, workload));
            return;
        }
    } else {
        for (container, why) in &endless {
            plan.warn(format!(
                "container {:?} looks like a sidecar ({why}) and will keep {} from completing: move it to \
                 {spec_path}.initContainers with restartPolicy: Always, or, if it does end, list it in the \
                 annotation {ONE_SHOT_KEY}",
                container.name,
                subject(workload)
            ));
        }
    }
    if legacy.is_empty() {
        return;
    }
    match action {
        JobSidecarAction::Warn => {
            for (container, why) in &legacy {
                plan.warn(format!(
                    "container {:?} ({why}) will keep {} from completing: move it to {spec_path}.initContainers \
                     with restartPolicy: Always",
                    container.name,
                    subject(workload)
                ));
            }
        }
        JobSidecarAction::Convert if compiled.mutate => match nodes.may_convert(workload) {
            Ok(()) => {
                convert(&legacy, workload, plan);
                require_supported_nodes(nodes.support, workload, plan);
            }
            Err(why_not) => plan.reject(not_convertible(&legacy, workload, &why_not)),
        },
        _ => plan.reject(rejection(&legacy, request, workload)),
    }
}

/// Pods are checked when created (an existing pod's containers cannot change,
/// and refusing its updates would block its finalizers); Job and CronJob
/// templates whenever a request changes them.
/// Pods that run to completion are checked when they are created by a Job,
/// by nothing (a bare pod), or by a controller the operator lists
/// (`jobSidecars.ownerKinds`). Other controllers that run pods to completion
/// (Argo Workflows, Tekton) stop the sidecars a mesh injects themselves when
/// the main container ends: refusing their pods would fail every step.
pub(crate) fn in_scope(compiled: &Compiled, request: &Request, workload: &Workload) -> bool {
    match workload.kind {
        "Pod" => {
            request.operation == Operation::Create
                && workload.spec.runs_to_completion()
                && request
                    .controller()
                    .is_none_or(|owner| compiled.owner_kinds.iter().any(|kind| kind == owner.kind))
        }
        _ => request.changes_template(workload),
    }
}

/// Moves each legacy sidecar, untouched but for `restartPolicy: Always`,
/// after the existing init containers, keeping their relative order. As a
/// regular container it started after every init container had completed;
/// behind them it still does: `istio-proxy` after `istio-init` has set up the
/// iptables rules, a proxy after the init container that wrote its
/// credentials. In front of them it would run before what it depends on.
fn convert(legacy: &[(&Container, Why)], workload: &Workload, plan: &mut Plan) {
    let containers = under(&workload.spec_pointer, "containers");
    let init_containers = under(&workload.spec_pointer, "initContainers");
    // A container that sets its own restartPolicy Always (KEP-5307) keeps it
    // as a native sidecar; any other policy would change what it does.
    let (movable, kept): (Vec<_>, Vec<_>) = legacy
        .iter()
        .partition(|(c, _)| c.restart_policy.is_none_or(|policy| policy == "Always"));
    // In list order, each to the end: every container moved before this one
    // came from an earlier index, so its index has shifted down by that many.
    for (moved_before, (container, _)) in movable.iter().enumerate() {
        plan.edits.push(Edit::MakeNativeSidecar {
            containers: containers.clone(),
            index: container.index.saturating_sub(moved_before),
            init_containers: init_containers.clone(),
            at: At::End,
        });
    }
    for (container, why) in &movable {
        plan.warn(format!(
            "container {:?} ({why}) converted to a native sidecar: moved to {}.initContainers with \
             restartPolicy: Always so that {} can complete{}",
            container.name,
            workload.spec_path(),
            subject(workload),
            pre_stop_moves(container)
        ));
    }
    for (container, why) in kept {
        plan.warn(format!(
            "container {:?} ({why}) not converted: it sets its own restartPolicy {:?}, and making it \
             Always would change what it does; it may keep {} from completing",
            container.name,
            container.restart_policy.unwrap_or_default(),
            subject(workload)
        ));
    }
}

/// What conversion does to a container's preStop hook (docs/kubernetes-
/// facts.md, "Start and stop order"): as a native sidecar the container is
/// stopped after the main containers, when they complete (the hook runs
/// then) or, on deletion, once they have exited (the hook runs at once, the
/// SIGTERM waits, within what is left of the grace period). A hook written
/// to hold a regular container up until the others finish is no longer
/// needed, and one that waits for them spends their grace period: said,
/// never left silently.
fn pre_stop_moves(container: &Container) -> String {
    let Some(hook) = container.value.pointer("/lifecycle/preStop") else {
        return String::new();
    };
    let what = if let Some(command) = hook.pointer("/exec/command").and_then(Value::as_array) {
        let words: Vec<&str> = command.iter().filter_map(Value::as_str).collect();
        format!("exec {:?}", words.join(" "))
    } else if let Some(path) = hook.pointer("/httpGet/path").and_then(Value::as_str) {
        format!("httpGet {path:?}")
    } else if let Some(seconds) = hook.pointer("/sleep/seconds") {
        format!("sleep {seconds}s")
    } else {
        "hook".to_owned()
    };
    format!(
        ". Its preStop {what} moves with it: as a native sidecar it is stopped after the main containers \
         (on deletion the hook still runs at once, and its SIGTERM waits for them within what is left of the \
         grace period), so a hook that holds it up until they finish is no longer needed and one that waits \
         for them spends their grace period (lifecycle.preStop)"
    )
}

/// `convert` was asked for, but the pod's nodes may not run native sidecars.
fn not_convertible(legacy: &[(&Container, Why)], workload: &Workload, why_not: &str) -> String {
    format!(
        "{} would never complete: {} {} in {}.containers, and a sidecar \
         keeps running after the main containers exit. This policy converts such sidecars to native \
         sidecars, but not here: {why_not}; as a native sidecar on a node without support it would run \
         as an init container that never exits, and the pod would never start. Fix: make the sidecar \
         exit when the main containers are done, or run the pod on nodes that support native sidecars \
         (Kubernetes >= 1.29) and move it to initContainers with restartPolicy: Always.",
        capitalised(subject(workload)),
        listing(legacy),
        running_as_regular(legacy),
        workload.spec_path()
    )
}

fn running_as_regular(legacy: &[(&Container, Why)]) -> &'static str {
    match legacy {
        [_] => "is a sidecar running as a regular container",
        _ => "are sidecars running as regular containers",
    }
}

fn rejection(legacy: &[(&Container, Why)], request: &Request, workload: &Workload) -> String {
    let spec_path = workload.spec_path();
    let them = if legacy.len() == 1 { "it" } else { "them" };
    let mut message = format!(
        "{} would never complete: {} {} in {spec_path}.containers, and a \
         sidecar keeps running after the main containers exit, so the pod stays Running. Fix: move {them} to \
         {spec_path}.initContainers with restartPolicy: Always (native sidecars, Kubernetes >= 1.29): they \
         start before the main containers and are stopped when those finish.",
        capitalised(subject(workload)),
        listing(legacy),
        running_as_regular(legacy)
    );
    if workload.kind == "Pod"
        && let Some(job) = request.job_of_pod()
    {
        message.push_str(&format!(
            " This pod is created by Job {job:?}: the Job controller keeps creating pods, and each is refused \
             (FailedCreate events), until the Job's pod template is fixed."
        ));
    }
    let mut hints: Vec<&str> = Vec::new();
    for hint in legacy.iter().filter_map(|(_, why)| why.hint()) {
        if !hints.contains(&hint) {
            hints.push(hint);
        }
    }
    for hint in hints {
        message.push_str(&format!(" Or, {hint}."));
    }
    message
}

/// `"istio-proxy" (Istio proxy, a well-known sidecar), "x" (…)`
fn listing(legacy: &[(&Container, Why)]) -> String {
    legacy
        .iter()
        .map(|(c, why)| format!("container {:?} ({why})", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn subject(workload: &Workload) -> &'static str {
    match workload.kind {
        "Job" => "this Job",
        "CronJob" => "the Jobs of this CronJob",
        _ => "this pod",
    }
}

pub(crate) fn capitalised(subject: &str) -> String {
    let mut chars = subject.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Snapshot;
    use crate::settings::Settings;
    use rstest::rstest;
    use serde_json::{Value, json};

    /// What the plan says, and the pod after its edits.
    struct Checked {
        rejections: Vec<String>,
        warnings: Vec<String>,
        object: Value,
    }

    impl Checked {
        fn names(&self, list: &str) -> Vec<&str> {
            self.object["spec"][list]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str())
                .collect()
        }
    }

    fn check_with(settings: Value, nodes: &Snapshot, operation: &str, spec: Value) -> Checked {
        let mut settings = settings;
        settings["strippedRestartPolicy"] = json!({"action": "ignore"});
        let compiled = Settings::from_value(&settings)
            .and_then(|s| s.compile())
            .expect("valid");
        let request = json!({"operation": operation, "kind": {"kind": "Pod"}, "object": {"spec": spec}});
        let view = Request::from_admission_request(&request).expect("well formed");
        let workload = view.workload().expect("well formed").expect("a pod");
        let mut plan = Plan::default();
        let support = NodeSupport::new(&compiled.native_support, nodes);
        plan_job_sidecars(&compiled, &view, &workload, &support, &mut plan);
        let mut object = view.object.clone();
        crate::plan::apply(plan.edits.clone(), &mut object).expect("applies");
        Checked {
            rejections: plan.rejections,
            warnings: plan.warnings,
            object,
        }
    }

    fn check(action: &str, operation: &str, restart_policy: &str, containers: Value) -> Checked {
        check_with(
            json!({"jobSidecars": {"action": action}}),
            &Snapshot::default(),
            operation,
            json!({"restartPolicy": restart_policy, "initContainers": [{"name": "setup"}], "containers": containers}),
        )
    }

    fn containers(names: &[&str]) -> Value {
        Value::Array(names.iter().map(|n| json!({"name": n, "image": "x"})).collect())
    }

    #[rstest]
    #[case::bare_pod_never("reject", "CREATE", "Never", containers(&["job", "daprd"]), (1, 0))]
    #[case::bare_pod_on_failure("warn", "CREATE", "OnFailure", containers(&["job", "daprd", "otc-container"]), (0, 2))]
    #[case::long_running_pod("reject", "CREATE", "Always", containers(&["job", "daprd"]), (0, 0))]
    #[case::pod_update_not_blocked("reject", "UPDATE", "Never", containers(&["job", "daprd"]), (0, 0))]
    #[case::ignored("ignore", "CREATE", "Never", containers(&["job", "daprd"]), (0, 0))]
    #[case::no_sidecar("reject", "CREATE", "Never", containers(&["job", "helper"]), (0, 0))]
    #[case::only_sidecars_are_the_job("reject", "CREATE", "Never", containers(&["daprd"]), (0, 1))]
    #[case::shim_word_dodges_nothing("reject", "CREATE", "Never",
        json!([{"name": "job", "image": "x"}, {"name": "daprd", "image": "x", "args": ["native-sidecar-shim"]}]), (1, 0))]
    fn verdicts(
        #[case] action: &str,
        #[case] operation: &str,
        #[case] restart_policy: &str,
        #[case] containers: Value,
        #[case] expected: (usize, usize),
    ) {
        let checked = check(action, operation, restart_policy, containers);
        assert_eq!(
            (checked.rejections.len(), checked.warnings.len()),
            expected,
            "{:?} {:?}",
            checked.rejections,
            checked.warnings
        );
    }

    #[test]
    fn convert_moves_sidecars_in_order_behind_the_init_containers_and_leaves_the_unmovable() {
        let pod = json!([{"name": "daprd", "image": "x"}, {"name": "job", "image": "x"},
                         {"name": "otc-container", "image": "x"},
                         {"name": "kuma-sidecar", "image": "x", "restartPolicy": "Never"}]);
        let checked = check("convert", "CREATE", "Never", pod);
        assert!(checked.rejections.is_empty());
        assert_eq!(checked.warnings.len(), 3, "two converted, one left alone");
        assert_eq!(
            checked.names("initContainers"),
            ["setup", "daprd", "otc-container"]
        );
        assert_eq!(checked.names("containers"), ["job", "kuma-sidecar"]);
    }

    fn node(name: &str, version: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
               "status": {"nodeInfo": {"kubeletVersion": version}}})
    }

    /// A Job pod with a legacy proxy, converted under each nativeSupport strategy.
    #[rstest]
    #[case::assume(json!({"strategy": "assume"}), vec![node("a", "v1.27.1")], true, "")]
    #[case::legacy(json!({"strategy": "legacy"}), vec![], false, "strategy legacy: its nodes do not run native sidecars")]
    #[case::universal(json!({"strategy": "universal"}), vec![], false, "strategy universal")]
    #[case::new_nodes(json!({"strategy": "nodeVersion"}), vec![node("a", "v1.30.0"), node("b", "v1.29.1")], true, "")]
    #[case::an_old_node(json!({"strategy": "nodeVersion", "whenUnsupported": "universal"}), vec![node("a", "v1.30.0"), node("b", "v1.28.9")], false, "b runs kubelet v1.28.9, and native sidecars need kubelet >= 1.29")]
    #[case::no_nodes(json!({"strategy": "nodeVersion"}), vec![], false, "native sidecar support is unknown (no node found among the cluster's nodes)")]
    #[case::node_label(json!({"strategy": "nodeLabel"}), vec![], true, "")]
    fn convert_follows_the_native_support_strategy(
        #[case] support: Value,
        #[case] nodes: Vec<Value>,
        #[case] converted: bool,
        #[case] refusal: &str,
    ) {
        let checked = check_with(
            json!({"jobSidecars": {"action": "convert"}, "nativeSupport": support}),
            &Snapshot::new(nodes),
            "CREATE",
            json!({"restartPolicy": "Never", "initContainers": [{"name": "istio-init", "image": "istio/proxyv2"}],
                   "containers": [{"name": "job", "image": "x"}, {"name": "istio-proxy", "image": "istio/proxyv2"}]}),
        );
        if converted {
            assert!(checked.rejections.is_empty(), "{:?}", checked.rejections);
            assert_eq!(checked.names("initContainers"), ["istio-init", "istio-proxy"]);
        } else {
            assert_eq!(
                checked.object["spec"]["initContainers"].as_array().map(Vec::len),
                Some(1)
            );
            let [rejection] = checked.rejections.as_slice() else {
                panic!("one rejection: {:?}", checked.rejections);
            };
            assert!(rejection.contains(refusal), "{rejection}");
            assert!(
                rejection.contains("\"istio-proxy\""),
                "names the container: {rejection}"
            );
            assert!(
                rejection.contains("make the sidecar exit"),
                "says the fix: {rejection}"
            );
        }
    }

    /// Refusing never-ending commands must not turn the conversion of a
    /// catalogued sidecar into a refusal when there is none.
    #[rstest]
    #[case::only_catalogued(json!([{"name": "job", "image": "x"}, {"name": "daprd", "image": "x"}]), false)]
    #[case::with_an_endless_one(json!([{"name": "job", "image": "x"}, {"name": "daprd", "image": "x"},
        {"name": "tailer", "image": "x", "command": ["tail", "-f", "/x"]}]), true)]
    fn endless_reject_under_convert(#[case] containers: Value, #[case] refused: bool) {
        let checked = check_with(
            json!({"jobSidecars": {"action": "convert", "endlessCommands": "reject"}}),
            &Snapshot::default(),
            "CREATE",
            json!({"restartPolicy": "Never", "containers": containers}),
        );
        assert_eq!(
            !checked.rejections.is_empty(),
            refused,
            "{:?}",
            checked.rejections
        );
        if !refused {
            assert_eq!(checked.names("initContainers"), ["daprd"]);
        }
    }

    #[test]
    fn convert_under_node_label_requires_the_label() {
        let checked = check_with(
            json!({"jobSidecars": {"action": "convert"}, "nativeSupport": {"strategy": "nodeLabel"}}),
            &Snapshot::default(),
            "CREATE",
            json!({"restartPolicy": "Never", "containers": [{"name": "job", "image": "x"}, {"name": "daprd", "image": "x"}]}),
        );
        assert_eq!(
            checked.object["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
            json!({"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "native-sidecar.kubewarden.io/supported", "operator": "In", "values": ["true"]}]}]})
        );
    }
}
