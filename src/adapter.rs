//! The waPC side: payload bytes in, Kubewarden response bytes out. The only
//! place the request object itself is changed (through `Plan::apply_to`);
//! `decide` only ever applies edits to a copy, to plan on top of them.

use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::{SettingsValidationResponse, Validatable};
use kubewarden_policy_sdk::wapc_guest::CallResult;
use serde_json::Value;

use crate::cluster::{Cluster, Host};
use crate::decide::decide;
use crate::plan::Plan;
use crate::request::Request;
use crate::settings::Settings;

/// waPC `validate`.
pub fn validate(payload: &[u8]) -> CallResult {
    Ok(serde_json::to_vec(&evaluate(payload, &Host))?)
}

/// waPC `validate_settings`.
pub fn validate_settings(payload: &[u8]) -> CallResult {
    let verdict = serde_json::from_slice::<Value>(payload)
        .map_err(|e| format!("invalid settings: not JSON: {e}"))
        .and_then(|value| Settings::from_value(&value).map_err(|e| e.to_string()))
        .and_then(|settings| settings.validate());
    Ok(serde_json::to_vec(&SettingsValidationResponse {
        valid: verdict.is_ok(),
        message: verdict.err(),
    })?)
}

/// The whole evaluation of one `{"settings": …, "request": …}` payload.
pub fn evaluate(payload: &[u8], cluster: &dyn Cluster) -> ValidationResponse {
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
fn respond(mut plan: Plan, object: Option<Value>) -> ValidationResponse {
    let warnings = Some(std::mem::take(&mut plan.warnings)).filter(|w| !w.is_empty());
    if !plan.rejections.is_empty() {
        return ValidationResponse {
            accepted: false,
            message: Some(plan.rejections.join("\n")),
            code: Some(400),
            mutated_object: None,
            audit_annotations: None,
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
    ValidationResponse {
        accepted: true,
        message: None,
        code: None,
        mutated_object,
        audit_annotations: None,
        warnings,
    }
}

fn respond_rejected(message: String) -> ValidationResponse {
    respond(Plan::rejected(message), None)
}
