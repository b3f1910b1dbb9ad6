//! Payload bytes in, verdict out: the one evaluation both front ends run (the
//! waPC module in `wapc`, the browser playground in `web`). The only place the
//! request object itself is changed (through `Plan::apply_to`); `decide` only
//! ever applies edits to a copy, to plan on top of them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::cluster::Cluster;
use crate::decide::decide;
use crate::plan::Plan;
use crate::request::Request;
use crate::settings::Settings;

/// What the policy answers about one request: Kubewarden's
/// `ValidationResponse`, field for field and serialised the same way.
#[derive(Debug, Serialize)]
pub struct Verdict {
    pub accepted: bool,
    pub message: Option<String>,
    pub code: Option<u16>,
    pub mutated_object: Option<Value>,
    pub audit_annotations: Option<BTreeMap<String, String>>,
    pub warnings: Option<Vec<String>>,
}

/// What `validate_settings` decides about a settings payload: the policy
/// loads, or the message that names the offending field.
pub fn check_settings(payload: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<Value>(payload)
        .map_err(|e| format!("invalid settings: not JSON: {e}"))
        .and_then(|value| Settings::from_value(&value).map_err(|e| e.to_string()))
        .and_then(|settings| settings.check())
}

/// The whole evaluation of one `{"settings": …, "request": …}` payload.
pub fn evaluate(payload: &[u8], cluster: &dyn Cluster) -> Verdict {
    let mut payload: Value = match serde_json::from_slice(payload) {
        Ok(payload) => payload,
        Err(e) => return respond_rejected(format!("malformed validation payload: {e}")),
    };
    let plan = match Settings::from_value(payload.get("settings").unwrap_or(&Value::Null))
        .and_then(Settings::compile)
    {
        Err(e) => Plan::rejected(e.to_string()),
        Ok(compiled) => match Request::from_admission_request(payload.get("request").unwrap_or(&Value::Null))
        {
            Ok(request) => decide(&compiled, &request, cluster),
            Err(malformed) => Plan::rejected(malformed.0),
        },
    };
    let object = payload.pointer_mut("/request/object").map(Value::take);
    respond(plan, object)
}

/// Turns a plan into the response: rejected, accepted, or accepted with the
/// request object plus the plan's additions.
fn respond(mut plan: Plan, object: Option<Value>) -> Verdict {
    let warnings = Some(std::mem::take(&mut plan.warnings)).filter(|w| !w.is_empty());
    let audit_annotations = Some(plan.audit_annotations.drain(..).collect::<BTreeMap<_, _>>())
        .filter(|annotations| !annotations.is_empty());
    if !plan.rejections.is_empty() {
        return Verdict {
            accepted: false,
            message: Some(plan.rejections.join("\n")),
            code: Some(400),
            mutated_object: None,
            audit_annotations,
            warnings,
        };
    }
    let mutated_object = match object {
        Some(mut object) if !plan.edits.is_empty() => match plan.apply_to(&mut object) {
            Ok(()) => Some(object),
            Err(defect) => return respond_rejected(defect),
        },
        _ => None,
    };
    Verdict {
        accepted: true,
        message: None,
        code: None,
        mutated_object,
        audit_annotations,
        warnings,
    }
}

fn respond_rejected(message: String) -> Verdict {
    respond(Plan::rejected(message), None)
}
