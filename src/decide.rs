//! The one entry into the decisions: a request in, a plan out. Pure: it reads
//! the compiled settings and the request view, and knows nothing of waPC.

use crate::inject;
use crate::plan::Plan;
use crate::request::{Operation, Request};
use crate::settings::Compiled;

pub fn decide(compiled: &Compiled, request: &Request) -> Plan {
    // Injection only on Pod CREATE: initContainers of an existing Pod are
    // immutable, and mutating controllers' templates makes them fight us.
    let injects = compiled.mutate && request.operation == Operation::Create && request.kind == "Pod";
    if !injects {
        return Plan::default();
    }
    let workload = match request.workload() {
        Ok(Some(workload)) => workload,
        Ok(None) => return Plan::default(),
        Err(malformed) => return Plan::rejected(malformed.0),
    };
    let mut plan = Plan::default();
    inject::plan_injection(compiled, &workload, &mut plan);
    plan
}
