//! The one entry into the decisions: a request in, a plan out. Pure: it reads
//! the compiled settings, the request view and the cluster's answers, and
//! knows nothing of waPC.

use crate::cluster::Cluster;
use crate::compat::NodeSupport;
use crate::plan::{self, Plan};
use crate::request::{Operation, Request};
use crate::settings::{Compiled, JobSidecarAction, StrippedAction};
use crate::{inject, jobs, meshes, stripped};

pub fn decide(compiled: &Compiled, request: &Request, cluster: &dyn Cluster) -> Plan {
    // Injection only on Pod CREATE: initContainers of an existing Pod are
    // immutable, and mutating controllers' templates makes them fight us.
    let injects = compiled.mutate
        && request.operation == Operation::Create
        && request.kind == "Pod"
        && !compiled.templates.is_empty();
    let validates =
        compiled.job_sidecars != JobSidecarAction::Ignore || compiled.stripped != StrippedAction::Ignore;
    let relevant = matches!(request.operation, Operation::Create | Operation::Update);
    if !relevant || !(injects || validates) {
        return Plan::default();
    }
    let workload = match request.workload() {
        Ok(Some(workload)) => workload,
        Ok(None) => return Plan::default(),
        Err(malformed) => return Plan::rejected(malformed.0),
    };

    let mut plan = Plan::default();
    // Conversion and injection write native sidecars under one strategy, and
    // ask the cluster about the pod's nodes at most once between them.
    let nodes = NodeSupport::new(&compiled.native_support, cluster);
    // The stripped-field check reads the object as it arrived, before our edits.
    stripped::plan_stripped(compiled, request, &workload, cluster, &mut plan);
    jobs::plan_job_sidecars(compiled, request, &workload, &nodes, &mut plan);
    if plan.rejections.is_empty() {
        meshes::plan_mesh_switches(compiled, request, &workload, &nodes, cluster, &mut plan);
    }
    if !injects || !plan.rejections.is_empty() {
        return plan;
    }
    if plan.edits.is_empty() {
        inject::plan_injection(compiled, &workload, &nodes, &mut plan);
        return plan;
    }
    // The Job rules edited the pod (converted sidecars, a mesh's switch, the
    // node affinity): inject into the pod as it is after that, so that the
    // edits of both apply one after the other.
    let mut converted = request.object.clone();
    if let Err(defect) = plan::apply(plan.edits.clone(), &mut converted) {
        plan.reject(defect);
        return plan;
    }
    match (Request {
        object: &converted,
        ..*request
    })
    .workload()
    {
        Ok(Some(after)) => inject::plan_injection(compiled, &after, &nodes, &mut plan),
        Ok(None) => {}
        Err(malformed) => plan.reject(malformed.0),
    }
    plan
}
