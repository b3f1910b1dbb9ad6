//! Legacy sidecars in Job pods: regular containers that never exit keep the pod
//! Running after the job's own containers are done, so the Job never completes
//! (../shared/sidecar-facts.md, "Ordering and lifecycle"). Native sidecars do
//! not count towards completion, so the fix is to move them into
//! `initContainers` with `restartPolicy: Always`.

use crate::catalog::{Why, is_universal_copy};
use crate::plan::{At, Edit, Plan};
use crate::request::{Container, Operation, Request, Workload};
use crate::settings::{Compiled, JobSidecarAction};

/// Adds to `plan` what the `jobSidecars` action says about legacy sidecars.
pub fn plan_job_sidecars(compiled: &Compiled, request: &Request, workload: &Workload, plan: &mut Plan) {
    let action = compiled.job_sidecars;
    if action == JobSidecarAction::Ignore || !in_scope(request, workload) {
        return;
    }
    let spec = &workload.spec;
    let legacy: Vec<(&Container, Why)> = spec
        .containers
        .iter()
        .filter_map(|c| compiled.sidecar_matcher.identify(c, workload).map(|why| (c, why)))
        .collect();
    if legacy.is_empty() {
        return;
    }
    let spec_path = workload.spec_path();
    let main_containers = spec.containers.iter().filter(|c| !is_universal_copy(c)).count();
    if legacy.len() == main_containers {
        // Moving them all would leave the pod without a main container: they are the job.
        plan.warn(format!(
            "{} look like sidecars but are all the regular containers of {spec_path}: left as they are",
            listing(&legacy)
        ));
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
        JobSidecarAction::Convert if compiled.mutate => convert(&legacy, workload, plan),
        _ => plan.reject(rejection(&legacy, workload)),
    }
}

/// Pods are checked when created (an existing pod's containers cannot change,
/// and refusing its updates would block its finalizers); Job and CronJob
/// templates whenever a request changes them.
fn in_scope(request: &Request, workload: &Workload) -> bool {
    match workload.kind {
        "Pod" => request.operation == Operation::Create && workload.spec.runs_to_completion(),
        _ => request.changes_spec(workload),
    }
}

/// Moves each legacy sidecar, untouched but for `restartPolicy: Always`, in
/// front of the existing init containers, keeping their relative order.
fn convert(legacy: &[(&Container, Why)], workload: &Workload, plan: &mut Plan) {
    let containers = format!("{}/containers", workload.spec_pointer);
    let init_containers = format!("{}/initContainers", workload.spec_pointer);
    let (movable, kept): (Vec<_>, Vec<_>) = legacy.iter().partition(|(c, _)| c.restart_policy.is_none());
    // Highest index first, each to the front: removals do not shift the
    // entries still to move, and the moved ones end up in their original order.
    for (container, _) in movable.iter().rev() {
        plan.edits.push(Edit::MakeNativeSidecar {
            containers: containers.clone(),
            index: container.index,
            init_containers: init_containers.clone(),
            at: At::Index(0),
        });
    }
    for (container, why) in &movable {
        plan.warn(format!(
            "container {:?} ({why}) converted to a native sidecar: moved to {}.initContainers with \
             restartPolicy: Always so that {} can complete",
            container.name,
            workload.spec_path(),
            subject(workload)
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

fn rejection(legacy: &[(&Container, Why)], workload: &Workload) -> String {
    let spec_path = workload.spec_path();
    let (them, are) = if legacy.len() == 1 {
        ("it", "is a sidecar")
    } else {
        ("them", "are sidecars")
    };
    let mut message = format!(
        "{} would never complete: {} {are} running as regular containers in {spec_path}.containers, and a \
         sidecar keeps running after the main containers exit, so the pod stays Running. Fix: move {them} to \
         {spec_path}.initContainers with restartPolicy: Always (native sidecars, Kubernetes >= 1.29): they \
         start before the main containers and are stopped when those finish.",
        capitalised_subject(workload),
        listing(legacy)
    );
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

fn subject(workload: &Workload) -> &'static str {
    match workload.kind {
        "Job" => "this Job",
        "CronJob" => "the Jobs of this CronJob",
        _ => "this pod",
    }
}

fn capitalised_subject(workload: &Workload) -> String {
    let subject = subject(workload);
    let mut chars = subject.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use rstest::rstest;
    use serde_json::{Value, json};

    /// `(rejections, warnings, init container names after the edits, container names after)`.
    fn check(
        action: &str,
        operation: &str,
        restart_policy: &str,
        containers: Value,
    ) -> (usize, usize, Vec<String>, Vec<String>) {
        let compiled = Settings::from_value(
            &json!({"jobSidecars": {"action": action}, "strippedRestartPolicy": {"action": "ignore"}}),
        )
        .and_then(|s| s.compile())
        .expect("valid");
        let request = json!({"operation": operation, "kind": {"kind": "Pod"}, "object": {"spec": {
            "restartPolicy": restart_policy, "initContainers": [{"name": "setup"}], "containers": containers}}});
        let view = Request::from_admission_request(&request).expect("well formed");
        let workload = view.workload().expect("well formed").expect("a pod");
        let mut plan = Plan::default();
        plan_job_sidecars(&compiled, &view, &workload, &mut plan);
        let mut object = view.object.clone();
        crate::plan::apply(plan.edits.clone(), &mut object).expect("applies");
        let names = |list: &str| {
            object["spec"][list]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str())
                .map(str::to_owned)
                .collect()
        };
        (
            plan.rejections.len(),
            plan.warnings.len(),
            names("initContainers"),
            names("containers"),
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
    fn verdicts(
        #[case] action: &str,
        #[case] operation: &str,
        #[case] restart_policy: &str,
        #[case] containers: Value,
        #[case] expected: (usize, usize),
    ) {
        let (rejections, warnings, _, _) = check(action, operation, restart_policy, containers);
        assert_eq!((rejections, warnings), expected);
    }

    #[test]
    fn convert_moves_sidecars_in_order_in_front_and_leaves_the_unmovable() {
        let pod = json!([{"name": "daprd", "image": "x"}, {"name": "job", "image": "x"},
                         {"name": "otc-container", "image": "x"},
                         {"name": "kuma-sidecar", "image": "x", "restartPolicy": "Never"}]);
        let (rejections, warnings, init, regular) = check("convert", "CREATE", "Never", pod);
        assert_eq!(rejections, 0);
        assert_eq!(warnings, 3, "two converted, one left alone");
        assert_eq!(init, ["daprd", "otc-container", "setup"]);
        assert_eq!(regular, ["job", "kuma-sidecar"]);
    }
}
